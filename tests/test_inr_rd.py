"""INR example (issue #13): Bjøntegaard delta rate and the classical codecs beside the RD curves."""

import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from inr import rd  # noqa: E402

RATE = np.array([0.8, 1.3, 2.1, 3.4])
PSNR = np.array([21.0, 23.5, 26.0, 28.2])


@pytest.mark.parametrize("factor", [0.9, 0.86, 1.0, 1.25])
def test_curve_scaled_by_a_rate_factor_gives_that_factor(factor):
    # log-rate shifted by log(factor) at every PSNR: the BD rate is exactly factor - 1
    assert rd.bd_rate(RATE, PSNR, RATE * factor, PSNR) == pytest.approx(factor - 1, abs=1e-12)


def test_known_answer_linear_curves_partial_overlap():
    # ref: ln r = 0.1 p - 2; test: ln r = 0.1 p - 2 + 0.01 (p - 20), overlap [22, 26]:
    # mean of 0.01 (p - 20) over [22, 26] = 0.04, so BD = e^0.04 - 1
    p_ref = np.array([20.0, 22.0, 24.0, 26.0])
    p_test = np.array([22.0, 24.0, 26.0, 28.0])
    r_ref = np.exp(0.1 * p_ref - 2)
    r_test = np.exp(0.1 * p_test - 2 + 0.01 * (p_test - 20))
    assert rd.bd_rate(r_ref, p_ref, r_test, p_test) == pytest.approx(np.expm1(0.04), abs=1e-12)
    # and the reverse direction is its reciprocal
    assert rd.bd_rate(r_test, p_test, r_ref, p_ref) == pytest.approx(np.exp(-0.04) - 1, abs=1e-12)


def test_a_better_curve_is_negative_and_order_of_points_does_not_matter():
    better = rd.bd_rate(RATE, PSNR, RATE, PSNR + 1.0)    # same rate, 1 dB more: fewer bits at equal PSNR
    assert better < -0.05
    perm = [2, 0, 3, 1]
    assert rd.bd_rate(RATE[perm], PSNR[perm], RATE, PSNR + 1.0) == pytest.approx(better, abs=1e-12)


def test_bad_curves_raise():
    with pytest.raises(ValueError, match="do not overlap"):
        rd.bd_rate(RATE, PSNR, RATE, PSNR + 20)
    with pytest.raises(ValueError, match="same length"):
        rd.bd_rate(RATE, PSNR, RATE[:3], PSNR)
    with pytest.raises(ValueError, match="> 0"):
        rd.bd_rate(RATE, PSNR, -RATE, PSNR)
    with pytest.raises(ValueError, match="at least 2"):
        rd.bd_rate(RATE[:1], PSNR[:1], RATE, PSNR)
    with pytest.raises(ValueError, match="distinct"):
        rd.bd_rate(RATE, [1.0, 1.0, 2.0, 3.0], RATE, PSNR)
    with pytest.raises(ValueError, match="degree"):
        rd.bd_rate(RATE, PSNR, RATE, PSNR, degree=0)


def test_classical_codecs_on_tiny_images():
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    x = np.repeat(np.repeat(rng.integers(0, 256, (2, 4, 4, 3)), 8, 1), 8, 2).astype(np.uint8)
    out = rd.classical_codecs(x, jpeg_qualities=(10, 90), webp_qualities=(10, 90))
    assert [r["quality"] for r in out["jpeg"]] == [10, 90]
    for key in ("jpeg", "webp"):
        lo, hi = out[key]
        assert 0 < lo["bpp"] < hi["bpp"] and lo["psnr"] < hi["psnr"]
    assert out["png"]["psnr"] == np.inf and out["png"]["bpp"] > 0
    with pytest.raises(ValueError, match="images_uint8"):
        rd.classical_codecs(x.astype(np.float32))
