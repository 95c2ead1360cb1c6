"""INR example (issue #13): variational SIREN model, KL, PSNR, EM prior update (small and fast)."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from inr import model, prior  # noqa: E402

import recnumba as rn  # noqa: E402


from inr_helpers import images as _images, one_torch_thread  # noqa: E402,F401 (autouse fixture)


def test_config_counts_and_layout():
    cfg = model.InrConfig()
    assert cfg.num_params == 2755
    assert cfg.layer_dims() == [(16, 32), (32, 32), (32, 32), (32, 3)]
    assert np.bincount(cfg.layer_of_param()).tolist() == [17 * 32, 33 * 32, 33 * 32, 33 * 3]
    f = model.fourier_features(cfg)
    assert f.shape == (1024, 16) and float(f.abs().max()) <= 1.0


def test_forward_matches_explicit_layers():
    cfg = model.InrConfig()
    w = torch.randn(3, cfg.num_params, dtype=torch.float64) * torch.as_tensor(cfg.siren_std())
    feat = model.fourier_features(cfg, torch.float64)
    out = model.forward(cfg, w, feat)
    assert out.shape == (3, 1024, 3)
    h = feat
    for k, (start, i, o) in enumerate(cfg.layer_slices()):
        m = w[1, start:start + (i + 1) * o].reshape(i + 1, o)
        h = h @ m[:i] + m[i]
        if k < cfg.num_layers - 1:
            h = torch.sin(cfg.w0 * h)
    torch.testing.assert_close(out[1], h + 0.5)


def test_kl_bits_matches_recnumba():
    rng = np.random.default_rng(1)
    q_loc, q_std = rng.normal(size=7), rng.uniform(0.1, 2, 7)
    p_loc, p_std = rng.normal(size=7), rng.uniform(0.1, 2, 7)
    ours = model.kl_bits(*(torch.as_tensor(a) for a in (q_loc, q_std, p_loc, p_std))).numpy()
    theirs = rn.kl_bits(rn.Gaussian(q_loc, q_std), rn.Gaussian(p_loc, p_std), per_dimension=True)
    np.testing.assert_allclose(ours, np.asarray(theirs).ravel(), rtol=1e-10)
    same = model.kl_bits(*(torch.as_tensor(a) for a in (p_loc, p_std, p_loc, p_std)))
    assert float(same.abs().max()) < 1e-12


def test_psnr_and_uint8():
    a = np.zeros((2, 32, 32, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0, 0] = 255
    b[1] = 1
    np.testing.assert_allclose(model.psnr_uint8(a, b), [10 * np.log10(3072), 10 * np.log10(255 ** 2)])
    cfg = model.InrConfig()
    pred = torch.full((1, 1024, 3), 1.7)
    assert (model.to_uint8(pred, cfg) == 255).all()


def test_posterior_std_inverse_softplus_and_sampling():
    cfg = model.InrConfig()
    pr = model.Prior.init(cfg)
    post = model.Posterior.init(cfg, pr, 2, seed=0, std_ratio=0.1, dtype=torch.float64)
    np.testing.assert_allclose(post.std.detach().numpy(), np.tile(pr.std * 0.1, (2, 1)), rtol=1e-9)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(post.sample(g1), post.sample(g2))


def test_fitting_reduces_loss_and_m_step():
    cfg = model.InrConfig()
    x = _images(4)
    feat, tg = model.fourier_features(cfg), model.images_to_targets(x)
    pr = model.Prior.init(cfg)
    post = model.Posterior.init(cfg, pr, 4, seed=0, std_ratio=0.1)
    g = torch.Generator().manual_seed(0)
    _, mse0, _ = prior.fit_steps(cfg, post, pr, feat, tg, 1e-3, 1, g)
    _, mse1, kl1 = prior.fit_steps(cfg, post, pr, feat, tg, 1e-3, 60, g)
    assert float(mse1.mean()) < 0.5 * float(mse0.mean())
    new = prior.m_step(post)
    loc = post.loc.detach().double().numpy()
    std = post.std.detach().double().numpy()
    np.testing.assert_allclose(new.loc, loc.mean(0), rtol=1e-12)
    np.testing.assert_allclose(new.std ** 2, (std ** 2 + (loc - loc.mean(0)) ** 2).mean(0), rtol=1e-10)
    # the M-step never increases the total KL
    with torch.no_grad():
        kl_new = float(post.kl_bits(*new.torch(torch.float64)).sum())
        kl_old = float(post.kl_bits(*pr.torch(torch.float64)).sum())
    assert kl_new <= kl_old


def test_learn_prior_tiny_roundtrip(tmp_path):
    cfg = model.InrConfig()
    pr, kl, hist = prior.learn_prior(_images(6), cfg, epochs=2, steps=5, seed=3, log=lambda s: None)
    pr2, kl2, _ = prior.learn_prior(_images(6), cfg, epochs=2, steps=5, seed=3, log=lambda s: None)
    np.testing.assert_array_equal(pr.loc, pr2.loc)             # seeded
    np.testing.assert_array_equal(kl, kl2)
    assert kl.shape == (cfg.num_params,) and (kl >= 0).all() and len(hist) == 2
    path = tmp_path / "p.npz"
    prior.save_prior(path, cfg, pr, kl, dict(note="x"))
    cfg2, pr3, kl3, meta = prior.load_prior(path)
    assert cfg2 == cfg and meta == {"note": "x"}
    np.testing.assert_array_equal(pr3.std, pr.std)
    np.testing.assert_array_equal(kl3, kl)


@pytest.mark.parametrize("name", sorted(prior.PRIORS))
def test_shipped_priors_load(name):
    cfg, pr, kl, meta = prior.load_prior(name)
    assert cfg.num_params == pr.loc.shape[0] == kl.shape[0] == 2755
    assert (pr.std > 0).all() and (kl >= 0).all()
    assert meta["patches"] >= 64
    assert prior.load_prior(prior.PRIORS[name])[3] == meta
