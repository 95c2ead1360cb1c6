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


def test_ablation_plans_keep_blocks_and_budgets():
    rng = np.random.default_rng(0)
    kl = np.concatenate([rng.uniform(0.5, 4.0, 200), np.zeros(50)])
    plan = rec.partitioned_plan(kl, 48.0)
    assert rec.ablation_plan(plan, "information") is plan
    for s in ("random", "collapsed-only"):
        ab = rec.ablation_plan(plan, s, seed=3)
        assert ab.num_blocks == plan.num_blocks
        for a, b in zip(ab.blocks, plan.blocks):
            np.testing.assert_array_equal(a.dims, b.dims)
            assert a.partition.bits <= max(0.0, b.nominal_bits - plan.margin_bits) + 1e-9
            assert a.partition.bits > b.partition.bits - 2.0      # about the same log2 J, spread differently
        assert any(a.partition != b.partition for a, b in zip(ab.blocks, plan.blocks))
    coll = rec.ablation_plan(plan, "collapsed-only")
    for blk in coll.blocks:                                      # collapsed dimensions get one interval
        assert (np.asarray(blk.partition.intervals)[kl[blk.dims] < plan.collapsed_below] == 1).all()
    with pytest.raises(ValueError, match="strategy"):
        rec.ablation_plan(plan, "uniform")


def test_coded_blocks_are_held_to_budget_and_tune_steps_checked():
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    x = _images(1, seed=1)
    fitted = fit.fit_images(cfg, pr, x, 3e-3, steps=40, seed=0)
    kl = fitted.kl_bits.mean(0)
    plan = rec.plain_plan(kl * 0.5, 16.0)                        # the fit is ~2x over this plan's blocks
    over = fit.block_kl_np(fitted.kl_bits, [b.dims for b in plan.blocks]).max()
    assert over > 16.0
    out = rec.encode_images(cfg, pr, plan, fitted, x, 3e-3, tune_steps=0, num_samples=1 << 10)
    assert out.max_block_kl_bits <= 16.0 + 1e-9
    with pytest.raises(ValueError, match="tune_steps"):
        rec.encode_images(cfg, pr, plan, fitted, x, 3e-3, tune_steps=-1)


def test_bin_entropy_of_the_prior_is_log2_j_and_of_a_narrow_posterior_zero():
    p_loc, p_std = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 2.0])
    intervals = np.array([4, 1, 8])
    h = rec.bin_entropy_bits(np.tile(p_loc, (2, 1)), np.tile(p_std, (2, 1)), p_loc, p_std, intervals)
    np.testing.assert_allclose(h, [5.0, 5.0], atol=1e-9)          # equal prior mass: log2 4 + log2 8
    from scipy.special import ndtri
    centre = p_loc + p_std * ndtri(np.array([0.375, 0.5, 0.0625]))  # inside one bin of each dimension
    narrow = rec.bin_entropy_bits(centre[None], 1e-4 * p_std[None], p_loc, p_std, intervals)
    assert narrow[0] < 1e-6
