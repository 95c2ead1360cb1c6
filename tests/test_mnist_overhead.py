"""The exact-sampling overhead model of examples/mnist/overhead_floor.py on the shipped fixture."""

import pathlib
import runpy
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_overhead_floor_grows_with_the_number_of_blocks(capsys):
    sys.path.insert(0, str(ROOT / "examples"))
    module = runpy.run_path(str(ROOT / "examples" / "mnist" / "overhead_floor.py"), run_name="overhead_floor")
    rows = module["main"](["--fixture", "--count", "200"])
    assert [blocks for _, blocks, _, _ in rows] == sorted(blocks for _, blocks, _, _ in rows)
    overheads = [gap + code for _, _, gap, code in rows]
    assert overheads == sorted(overheads)  # every extra block pays for its own exponent
    # no block costs less than the analytic floor KL + 1.44 bits; one block is well above 3% of the ELBO
    assert all(o > 1.44 * blocks for (_, blocks, _, _), o in zip(rows, overheads))
    assert overheads[0] > 0.03 * 118
    assert "negative ELBO" in capsys.readouterr().out
