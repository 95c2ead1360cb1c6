"""INR example (issue #13): the in-bin-bits diagnostic behind the choice of the CIFAR-like prior."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from inr import data, in_bin_diagnostic  # noqa: E402

from inr_helpers import one_torch_thread, or_skip  # noqa: E402,F401 (autouse fixture)




@pytest.mark.parametrize("source", ["cifar10-8-15", "cifar100"])
def test_diagnostic_rows_are_consistent(source):
    or_skip(data.load_cifar10_test20)
    or_skip(data.load_cifarlike_train)
    row = in_bin_diagnostic.diagnose("cifar-like", source, 0.1, images=[0, 1], steps=10)
    assert row["num_blocks"] >= 1 and row["images"] == [0, 1]
    # KL - log2 J + H_q(j) >= KL - log2 J, and the projected KL keeps every 48-bit block within budget
    assert row["projected_kl_bpp"] * 1024 <= 48.0 * row["num_blocks"] + 1e-6
    assert row["in_bin_bits_per_block"] >= row["projected_kl_bpp"] * 1024 / row["num_blocks"] - row["mean_log2_J"] - 1e-9
    assert np.isfinite(row["psnr_posterior_mean"])
