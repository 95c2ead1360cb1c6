"""INR example (issue #13): block-by-block REC with progressive fine-tuning, records, bit-exact decode."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from inr import fit, model, rec  # noqa: E402


from inr_helpers import images as _images, one_torch_thread  # noqa: E402,F401 (autouse fixture)


@pytest.mark.parametrize("partitioned", [False, True])
def test_rec_roundtrip_bit_exact(partitioned):
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    x = _images(2)
    beta = 3e-2                                     # a low rate keeps the test short
    fitted = fit.fit_images(cfg, pr, x, beta, steps=60, seed=0)
    kl = fitted.kl_bits.mean(0)
    plan = rec.partitioned_plan(kl, 24.0, margin_bits=10.0) if partitioned else rec.plain_plan(kl, 16.0)
    out = rec.encode_images(cfg, pr, plan, fitted, x, beta, tune_steps=2, num_samples=1 << 10)
    w, img = rec.decode_images(cfg, out.records, out.header)
    assert w.tobytes() == out.samples.tobytes()
    assert np.array_equal(img, out.images)
    assert np.array_equal(img, rec.render(cfg, out.samples))
    assert out.bpp.shape == (2,) and (out.bpp > 0).all()
    np.testing.assert_allclose(out.bpp, [8 * len(r) / 1024 for r in out.records])
