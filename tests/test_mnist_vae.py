"""Fast tests of the MNIST example's data fixture, shipped VAE weights and training gradients (no download)."""

import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))

from mnist import data, train_vae, vae  # noqa: E402

WEIGHTS = EXAMPLES / "mnist" / "vae_weights.npz"


@pytest.fixture(scope="module")
def fixture_images():
    return data.load_fixture()


@pytest.fixture(scope="module")
def weights():
    if not WEIGHTS.is_file():
        pytest.skip("examples/mnist/vae_weights.npz not trained yet")
    return vae.load_weights()


def test_fixture_shape_and_binary(fixture_images):
    x, labels = data.load_fixture(return_labels=True)
    assert x.shape == (200, 784) and x.dtype == np.uint8
    assert set(np.unique(x)) == {0, 1}
    assert labels.shape == (200,) and labels.max() <= 9
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the standard MNIST test set starts 7 2 1 0 4
    assert 0.08 < x.mean() < 0.2
    assert np.array_equal(x, fixture_images)


def test_binarize_threshold_and_bad_split(tmp_path):
    assert data.binarize(np.array([0, 127, 128, 255], np.uint8)).tolist() == [0, 0, 1, 1]
    with pytest.raises(ValueError, match="split"):
        data.load_mnist("validation", cache_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # nothing downloaded


def test_weights_load(weights):
    shapes = vae.param_shapes()
    for name, shape in shapes.items():
        assert weights.params[name].shape == shape
        assert weights.params[name].dtype == np.float64
        # stored as float32: the float64 copy is exactly representable in float32
        assert np.array_equal(weights.params[name].astype(np.float32).astype(np.float64),
                              weights.params[name])
    assert weights.info_bits.shape == (50,) and np.all(weights.info_bits >= 0)
    assert weights.meta["seed"] == 0 and weights.meta["epochs"] > 0


def test_negative_elbo_on_fixture(weights, fixture_images):
    nelbo = vae.negative_elbo_bits(weights, fixture_images, num_samples=2, rng=0)
    assert nelbo.shape == (200,) and np.all(np.isfinite(nelbo))
    assert 90 < nelbo.mean() < 160, nelbo.mean()
    # reproducible with the same rng seed
    assert np.array_equal(nelbo, vae.negative_elbo_bits(weights, fixture_images, num_samples=2, rng=0))
    # the importance-weighted bound is tighter than the ELBO (on average)
    iw = vae.importance_weighted_bits(weights, fixture_images[:50], num_samples=10, rng=1)
    assert np.all(np.isfinite(iw)) and iw.mean() < nelbo[:50].mean()
    # the KL term agrees with the stored info_bits to within the train/test gap
    mu, sigma = vae.encode(weights, fixture_images)
    kl_bits = vae.kl_to_standard_normal(mu, sigma).sum(1).mean() / vae.LN2
    assert abs(kl_bits - weights.info_bits.sum()) < 0.2 * weights.info_bits.sum()


def test_decode_deterministic(weights, fixture_images):
    mu, sigma = vae.encode(weights, fixture_images[:20])
    z = mu + sigma * np.random.default_rng(3).standard_normal(mu.shape)
    a = vae.decode_logits(weights, z)
    b = vae.decode_logits(weights, z.copy())
    assert a.dtype == np.float64 and a.shape == (20, 784)
    assert a.tobytes() == b.tobytes()
    p1 = vae.bernoulli_probabilities(weights, z)
    p2 = vae.bernoulli_probabilities(weights, z)
    assert p1.tobytes() == p2.tobytes()
    assert np.all((p1 > 0) & (p1 < 1))


def _numeric_grad(p, x, eps, h=1e-6):
    out = {}
    for k, v in p.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            old = v[i]
            v[i] = old + h
            lp, _ = train_vae.loss_and_grads(p, x, eps)
            v[i] = old - h
            lm, _ = train_vae.loss_and_grads(p, x, eps)
            v[i] = old
            g[i] = (lp - lm) / (2 * h)
        out[k] = g
    return out


def test_gradient_check_tiny_network():
    rng = np.random.default_rng(11)
    p = train_vae.init_params(rng, D=7, H=6, K=3, mean_pixel=np.full(7, 0.3), dtype=np.float64)
    for k in p:
        p[k] = p[k] + 0.1 * rng.standard_normal(p[k].shape)
    x = (rng.random((5, 7)) < 0.4).astype(np.float64)
    eps = rng.standard_normal((5, 3))
    loss, g = train_vae.loss_and_grads(p, x, eps)
    # the loss agrees with the float64 evaluation code in vae.py for the same noise
    mu, sigma = vae.encode(p, x)
    ref = (vae.kl_to_standard_normal(mu, sigma).sum(1)
           - vae.bernoulli_log_likelihood(vae.decode_logits(p, mu + sigma * eps), x)).mean()
    assert loss == pytest.approx(ref, rel=1e-12)
    num = _numeric_grad(p, x, eps)
    for k in p:
        scale = max(np.abs(num[k]).max(), 1e-3)
        assert np.abs(num[k] - g[k]).max() / scale < 1e-6, k


def test_training_smoke_decreases_loss(fixture_images):
    logs = []
    p, hist = train_vae.train(fixture_images, epochs=4, seed=0, batch=50, lr=3e-3, H=32, K=4,
                              progress=False, log=logs.append)
    assert len(hist) == 4 and len(logs) == 4
    assert hist[-1] < hist[0]
    assert p["enc_W1"].dtype == np.float32
