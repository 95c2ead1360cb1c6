"""INR example (issue #13): per-image posterior fitting and the per-block KL budget control."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from inr import fit, model  # noqa: E402


from inr_helpers import images as _images, one_torch_thread  # noqa: E402,F401 (autouse fixture)


def test_beta_trades_rate_for_distortion():
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    x = _images(2)
    lo = fit.fit_images(cfg, pr, x, beta=1e-4, steps=120, seed=1)
    hi = fit.fit_images(cfg, pr, x, beta=1e-2, steps=120, seed=1)
    assert lo.kl_bits.sum() > hi.kl_bits.sum()
    assert lo.mean_psnr.mean() > hi.mean_psnr.mean()
    again = fit.fit_images(cfg, pr, x, beta=1e-4, steps=120, seed=1)
    np.testing.assert_array_equal(again.loc, lo.loc)          # seeded and deterministic


def test_block_control_holds_blocks_to_budget():
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    x = _images(2)
    blocks = np.array_split(np.random.default_rng(0).permutation(cfg.num_params), 100)
    free = fit.fit_images(cfg, pr, x, beta=1e-4, steps=200, seed=2)
    per_block = np.stack([free.kl_bits[:, b].sum(1) for b in blocks], 1)
    budget = np.full(len(blocks), 0.5 * float(np.median(per_block)))
    ctl = fit.KlControl(blocks, budget, adjust_every=5, factor=1.5)
    held = fit.fit_images(cfg, pr, x, beta=1e-4, steps=200, seed=2, control=ctl)
    held_blocks = np.stack([held.kl_bits[:, b].sum(1) for b in blocks], 1)
    assert (per_block > budget).mean() > 0.8
    assert (held_blocks > budget * 1.25).mean() < 0.1
    assert float(ctl.lam.min()) >= 1.0


def test_mask_freezes_coded_weights():
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    x = _images(2)
    first = fit.fit_images(cfg, pr, x, beta=1e-3, steps=30, seed=3)
    mask = np.zeros((2, cfg.num_params), bool)
    mask[:, :500] = True
    init = (first.loc, first.std)
    second = fit.fit_images(cfg, pr, x, beta=1e-3, steps=30, seed=4, init=init, mask=mask)
    np.testing.assert_allclose(second.loc[:, :500], first.loc[:, :500], rtol=0, atol=1e-7)
    assert np.abs(second.loc[:, 500:] - first.loc[:, 500:]).max() > 1e-4


def test_project_to_budget_holds_every_block_and_leaves_the_rest():
    rng = np.random.default_rng(5)
    P, B = 40, 3
    p_loc, p_std = rng.normal(0, 0.1, P), rng.uniform(0.05, 0.2, P)
    loc = p_loc + rng.normal(0, 0.5, (B, P))
    std = p_std * rng.uniform(0.01, 0.5, (B, P))
    blocks = np.array_split(np.arange(P), 4)
    before = fit.block_kl_np(fit.kl_bits_np(loc, std, p_loc, p_std), blocks)
    budget = np.array([1e9, 20.0, 5.0, 1.0])           # block 0 within budget, the others over
    lo2, st2 = fit.project_to_budget(loc, std, p_loc, p_std, blocks, budget)
    after = fit.block_kl_np(fit.kl_bits_np(lo2, st2, p_loc, p_std), blocks)
    assert (before[:, 1:] > budget[1:]).all()
    assert (after <= budget + 1e-9).all() and (after[:, 1:] > budget[1:] - 1e-6).all()   # at, not below
    np.testing.assert_array_equal(lo2[:, blocks[0]], loc[:, blocks[0]])
    with pytest.raises(ValueError, match="budget_bits"):
        fit.project_to_budget(loc, std, p_loc, p_std, blocks, 0.0)
    with pytest.raises(ValueError, match="loc and std"):
        fit.project_to_budget(loc[0], std[0], p_loc, p_std, blocks, 1.0)


def test_kl_control_reaches_its_budget_on_a_tiny_case():
    # the fit's control brings nearly every block near its budget; the projection then holds all of them
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    x = _images(2, seed=3)
    blocks = np.array_split(np.random.default_rng(1).permutation(cfg.num_params), 60)
    free = fit.fit_images(cfg, pr, x, beta=1e-4, steps=150, seed=2)
    budget = 0.5 * float(np.median(fit.block_kl_np(free.kl_bits, blocks)))
    ctl = fit.KlControl(blocks, np.full(len(blocks), budget), adjust_every=5, factor=1.3)
    held = fit.fit_images(cfg, pr, x, beta=1e-4, steps=150, seed=2, control=ctl)
    bk = fit.block_kl_np(held.kl_bits, blocks)
    assert np.median(bk) < 1.1 * budget
    loc, std = fit.project_to_budget(held.loc, held.std, pr.loc, pr.std, blocks, budget)
    assert fit.block_kl_np(fit.kl_bits_np(loc, std, pr.loc, pr.std), blocks).max() <= budget + 1e-9
    # resuming keeps the multipliers, a plain setup resets them
    lam = ctl.lam.clone()
    ctl.setup(2, cfg.num_params, resume=True)
    assert torch.equal(ctl.lam, lam) and float(lam.max()) > 1
    ctl.setup(2, cfg.num_params)
    assert float(ctl.lam.max()) == 1.0
