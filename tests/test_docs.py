"""The README's usage example and the examples/ scripts run as written."""

import pathlib
import re
import runpy

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})


def test_quickstart_example_runs(capsys):
    runpy.run_path(str(ROOT / "examples" / "quickstart.py"), run_name="__main__")
    assert "partitioned" in capsys.readouterr().out


def test_demo_command_writes_table_and_figure(tmp_path, capsys):
    pytest.importorskip("matplotlib")  # the figure needs it; "pip install .[test]" does not install it
    pytest.importorskip("scipy")
    pytest.importorskip("tqdm")
    from recnumba.__main__ import main

    assert main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Exact PFR" in out and "ORC bias" in out and "KS p" in out
    figure = tmp_path / "recnumba_demo.png"
    assert figure.stat().st_size > 10_000 and figure.read_bytes()[:4] == b"\x89PNG"
