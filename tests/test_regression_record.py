"""Gaussian results stay bit for bit what they were: indices, steps, exact flags, bounds, samples.

``tests/data/gaussian_regression.json`` was written by ``benchmarks/regression_record.py --write``
before the search core was made generic over families; any refactor of the kernels must reproduce
every case (run the whole record with ``python benchmarks/regression_record.py --check ...``).
"""

import importlib.util
import json
import os

import pytest

HERE = os.path.dirname(__file__)
RECORD = os.path.join(HERE, "data", "gaussian_regression.json")
SCRIPT = os.path.join(HERE, "..", "benchmarks", "regression_record.py")


def _module():
    spec = importlib.util.spec_from_file_location("regression_record", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


with open(RECORD) as _f:
    _CASES = json.load(_f)


@pytest.mark.parametrize("name", sorted(_CASES)[::3])
def test_gaussian_case_is_bit_for_bit_unchanged(name):
    assert _module().run_case(_CASES[name]["input"]) == _CASES[name]["output"]


def test_record_covers_every_method_and_a_failure():
    inputs = [case["input"] for case in _CASES.values()]
    assert {i["method"] for i in inputs} == {"pfr", "orc", "auto"}
    assert {i["weights"] for i in inputs} == {"ratio", "target"}
    assert any(i["partition"] for i in inputs) and any(not i["partition"] for i in inputs)
    assert any("error" in case["output"] for case in _CASES.values())
    assert any(len(case["output"].get("index", [])) > 1 for case in _CASES.values())
