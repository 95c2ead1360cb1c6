"""The device-resident path (``recnumba.device``): CUDA arrays into ``rn.Codec(backend="cuda")`` stay on
the device, give the host path's records, indices, steps and samples bit for bit, and bad input the
host path's errors. Run under the CUDA simulator in a subprocess (``tests/cuda_sim_device_case.py``);
the kernels' PTX is compiled in ``tests/test_cuda.py``. Also: the device predicates of the family
protocol against the host checks they stand for (no simulator needed)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import recnumba as rn
from recnumba import api
from recnumba.families import supported_pairs
from recnumba.families.base import kl_bits
from recnumba.search import inputs

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def simulated():
    # Two halves in two processes at once (the simulator is slow: it runs every GPU thread in Python).
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    runs = [subprocess.Popen([sys.executable, os.path.join(HERE, "cuda_sim_device_case.py"), part],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for part in ("families", "rest")]
    results = {}
    for run in runs:
        stdout, stderr = run.communicate(timeout=1200)
        assert run.returncode == 0, stderr[-3000:]
        results.update(json.loads(stdout))
    return results


OK_FIELDS = ("records", "indices", "steps", "exact", "samples", "decoded", "samples_on_device", "decoded_on_device",
             "warnings_equal")


def _family_cases(simulated):
    return {k: v for k, v in simulated.items() if k.split("-")[0] in ("gaussian", "laplace", "uniform")
            and isinstance(v, dict) and "host_kind" in v}


def test_device_inputs_give_the_host_paths_records_and_samples_for_every_family(simulated):
    cases = _family_cases(simulated)
    assert len(cases) >= 13
    covered = set()
    for name, row in cases.items():
        if name == "uniform-no-candidate":
            continue
        assert row["host_kind"] == row["device_kind"] == "ok", (name, row)
        for field in OK_FIELDS:
            assert row[field], (name, field)
        assert row["kl"] < 1e-12, name  # KL on the device: the host's to rounding
        assert row["distinct"] > 1, name  # not a trivial comparison
        family, plan, method, weights = name.rsplit("-", 3)
        covered |= {("family", family), ("plan", plan), ("method", method), ("weights", weights),
                    ("family-plan", family, plan)}
    for family in ("gaussian", "laplace", "uniform", "uniform-gaussian"):
        assert {("family-plan", family, "plain"), ("family-plan", family, "partitioned")} <= covered
    assert {("method", m) for m in ("pfr", "orc", "auto")} <= covered
    assert {("weights", w) for w in ("None", "ratio", "target", "auto")} <= covered
    assert simulated["plans"]["plain"] == [6, 6] and min(simulated["plans"]["partitioned"]) > 1


def test_auto_runs_both_branches_on_the_device(simulated):
    branches = {tuple(row["all_exact"]) for name, row in _family_cases(simulated).items() if "-auto-" in name}
    assert (False, True) in branches


def test_a_block_that_reports_a_status_raises_the_host_error(simulated):
    row = simulated["uniform-no-candidate"]
    assert row["host_kind"] == row["device_kind"] == "ValueError"
    assert row["host_message"] == row["device_message"] and "no candidate had a finite score" in row["host_message"]


def test_blocks_handed_to_the_cpu_kernel_match_and_only_their_rows_cross(simulated):
    row = simulated["cpu-fallback"]
    for field in OK_FIELDS:
        assert row[field], field
    assert row["max_steps"] > 256  # beyond the simulator's largest GPU round: the CPU finished it
    vectors = [shape for shape in row["copies"] if len(shape) == 1]
    rows = [shape for shape in row["copies"] if len(shape) != 1]
    assert all(shape[0] <= 4 for shape in vectors)  # per-block scalars (4 items, one block)
    assert rows and all(len(shape) == 3 and shape[0] < 4 and shape[2] == 2 for shape in rows)  # fallback rows


def test_no_host_round_trip_of_the_parameter_arrays(simulated):
    # Under refusing host readers (arrays._cuda_interface_to_numpy, arrays._to_numpy), compress,
    # decompress(like=...) and rate_bits worked, and every copy to the host was a vector of at most
    # N per-block scalars: never (N, D) parameters or samples.
    row = simulated["no-round-trip"]
    assert row["records"] and row["samples"] and row["decoded"] and row["rate"] < 1e-12
    assert row["copies"] and all(len(shape) == 1 and shape[0] <= row["n"] for shape in row["copies"])


def test_dtypes_layouts_and_broadcasting_on_the_device(simulated):
    assert simulated["layouts"] and all(simulated["layouts"].values()), simulated["layouts"]


BAD = ["nan-loc", "inf-scale", "zero-scale", "negative-scale", "wrong-dim", "mismatched-shapes", "three-d", "bool",
       "complex", "too-far", "tiny-scale", "uniform-low-not-below-high", "uniform-outside-prior", "pfr-unbounded",
       "pfr-max-steps", "pfr-reported"]


@pytest.mark.parametrize("case", BAD)
def test_bad_device_input_raises_the_host_error(simulated, case):
    row = simulated["bad"][case]
    assert row["host_kind"] != "ok"
    assert row["device_kind"] == row["host_kind"]
    assert row["device_message"] == row["host_message"]


def test_bad_device_input_errors_are_the_expected_ones(simulated):
    bad = simulated["bad"]
    assert "loc contains NaN" in bad["nan-loc"]["host_message"]
    assert "scale must be > 0" in bad["negative-scale"]["host_message"]
    assert bad["bool"]["host_kind"] == bad["complex"]["host_kind"] == "ParameterTypeError"
    assert "low must be < high" in bad["uniform-low-not-below-high"]["host_message"]
    assert "not finite" in bad["too-far"]["host_message"]
    assert "was not started" in bad["pfr-reported"]["host_message"]  # the policy's report, no search


def test_partition_too_fine_warning_on_the_device(simulated):
    row = simulated["bad"]["too-fine"]
    assert row["host_kind"] == row["device_kind"] == "ok" and row["warned"] and row["warnings_equal"]
    assert row["records"] and row["samples"]


# --------------------------------------------------------------------------- device predicates (no simulator)


def _random_parameters(pair, rng, n, dim):
    if pair.prior is rn.Uniform:  # mostly inside the prior's support [0, 1] x [1, 2] x [-0.5, 0.5]
        low = np.array([0.0, 1.0, -0.5]) + rng.uniform(-0.05, 0.8, (n, dim))
        return low, low + rng.choice([0.0, 1e-300, 0.05, 0.15, 0.5], (n, dim))
    if pair.target is rn.Uniform:
        low = rng.normal(0, 2, (n, dim))
        return low, low + rng.choice([0.0, 1e-300, 0.5, 3.0, 1e308], (n, dim))
    return rng.normal(0, 2, (n, dim)), rng.choice([-1.0, 0.0, 1e-170, 0.3, 1.0, 2.5], (n, dim))


def _host_error(function):
    try:
        function()
    except ValueError as error:
        return str(error)
    return None


@pytest.mark.parametrize("pair", supported_pairs(), ids=lambda p: p.name)
def test_device_predicates_make_the_host_checks_decisions(pair):
    # For random rows with every kind of failure, the smallest device code maps to exactly the
    # message the host raises for that row (or to none where the host accepts it).
    rng = np.random.default_rng(5)
    prior = pair.prior(np.array([0.0, 1.0, -0.5]), np.array([1.0, 2.0, 0.5]))  # (Uniform: [0, 1] x ...)
    loc, scale = (np.ascontiguousarray(np.broadcast_to(p, (3,)), dtype=np.float64) for p in prior.location_scale())
    first, second = _random_parameters(pair, rng, 400, 3)
    dims = np.arange(3, dtype=np.int64)
    family = pair.target
    target = np.empty((3, 2))
    seen = set()
    for i in range(first.shape[0]):
        code = inputs.parameter_row_code(family.prior_tag, first, second, i, 3)
        host = _host_error(lambda: family(first[i], second[i]))
        device = None if code == 0 else (family.check_messages()[code - 3] if code > 2 else "not finite")
        assert device == host, (i, first[i], second[i])
        if host is not None:
            seen.add(host)
            continue
        code, bounded = inputs.standardise_row(family.prior_tag, pair.tag, first, second, i, dims, loc, scale,
                                               target)
        with np.errstate(over="ignore"):
            a, b = family(first[i], second[i]).standardised_by(loc, scale)
        assert np.array_equal(target[:, 0], a) and np.array_equal(target[:, 1], b)  # bit for bit
        host = _host_error(lambda: api.standardise(pair, family(first[i], second[i]), loc[None], scale[None]))
        device = None if code == 0 else (api.STANDARDISED_NOT_FINITE_MESSAGE if code == 1
                                         else pair.check_messages[code - 2])
        assert device == host, (i, first[i], second[i])
        seen.add(host)
        if host is None:
            assert bounded == bool(np.all(pair.bounded(a, b)))
            kl = inputs.kl_row_bits(pair.tag, first, second, i, dims, *(np.asarray(p, float) for p in prior.params))
            expected = float(kl_bits(family(first[i], second[i]), prior))
            assert kl == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert None in seen and len(seen) >= 3  # accepted rows and several kinds of refusal


def test_host_paths_are_unchanged_without_cuda_arrays():
    from recnumba import device

    prior = rn.Gaussian(np.zeros(3), np.ones(3))
    plan = rn.BlockPlan.build(np.full(3, 2.0), 8.0)
    codec = rn.Codec(prior, plan, 1, num_samples=16)
    assert not device.uses_device(codec, np.zeros((2, 3)), np.ones((2, 3)))
    assert not device.uses_device(codec.with_backend("cuda"), np.zeros((2, 3)), np.ones((2, 3)))


def test_torch_cuda_tensors_stay_on_their_device():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device here (the torch path of recnumba.device needs a real GPU)")
    from recnumba.backends import BACKENDS  # noqa: F401 - a GPU machine runs this test for real

    prior = rn.Gaussian(np.zeros(4), np.ones(4))
    plan = rn.BlockPlan.build(np.full(4, 2.0), 8.0)
    cpu = rn.Codec(prior, plan, 5, num_samples=64)
    loc = torch.randn(3, 4, device="cuda", dtype=torch.float32)
    scale = torch.rand(3, 4, device="cuda", dtype=torch.float64) * 0.3 + 0.3
    records, samples = cpu.with_backend("cuda").compress(loc, scale, return_samples=True)
    host_records, host_samples = cpu.compress(loc.cpu(), scale.cpu(), return_samples=True)
    assert records == host_records
    assert samples.device == loc.device and torch.equal(samples.cpu(), host_samples)
    decoded = cpu.with_backend("cuda").decompress(records, like=loc)
    assert decoded.device == loc.device and torch.equal(decoded.cpu(), host_samples)
