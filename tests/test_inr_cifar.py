"""INR example (issue #13): the pipeline of examples/inr_cifar.py on one real CIFAR-10 image, tiny."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import inr_cifar  # noqa: E402
from inr import data  # noqa: E402


def test_one_image_tiny_pipeline():
    try:
        data.load_cifar10_test20()
    except data.InrDataError as exc:
        pytest.skip(f"CIFAR-10 wheel not obtainable here: {str(exc)[:200]}")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = inr_cifar.run([0], [1e-2], ["partitioned-orc-48"], fit_steps=30, tune_steps=1, log=lambda s: None)
    finally:
        torch.set_num_threads(n)
    assert out["images"] == [0] and out["decoded_match"] is True
    (row,) = out["methods"]["partitioned-orc-48"]
    assert row["beta"] == 1e-2 and row["bpp"] > 0 and 5 < row["psnr"] < 60
    assert inr_cifar.parse_range("0-3,7") == [0, 1, 2, 3, 7]
