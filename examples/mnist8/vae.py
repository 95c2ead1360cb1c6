"""A small beta-binomial VAE for 8-bit MNIST (the model behind ``examples/mnist8_lossless.py``).

Architecture (hidden units ReLU; the same layer names and layout as ``examples/mnist/vae.py``, whose
numpy layers this module reuses)::

    encoder  x / 255 (784) -> H -> mu (K), sigma = softplus(s) (K)        q(z|x) = N(mu, diag sigma^2)
    decoder  z (K) -> H -> 2 x 784 -> alpha = softplus(a) + 1e-4, beta = softplus(b) + 1e-4
             p(x|z) = prod_i BetaBinomial(x_i | n = 255, alpha_i, beta_i),  x_i in 0..255
    prior    p(z) = N(0, I)

Weights are float32 in ``vae_weights.npz`` (beside this file) and converted exactly to float64 on load;
everything here computes in float64 numpy/scipy (no torch needed). ``dec_W2`` is (H, 1568): columns
0..783 give the alpha pre-activations, 784..1567 the beta ones.

The npz also holds ``info_bits`` (K,): the training-set average of KL[q(z_d|x) || N(0, 1)] in bits per
latent dimension (used for block plans), and ``meta_json`` (training settings and scores).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from scipy.special import gammaln

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # ``examples/``: the binarised helpers
from mnist import vae as _bin  # noqa: E402

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "vae_weights.npz"
LN2 = _bin.LN2
NUM_LEVELS = 256  # pixel values 0..255
N_TRIALS = NUM_LEVELS - 1
#: alpha and beta are at least this: unfloored, training drives alpha (beta) of always-black (white)
#: pixels to 0, where softplus underflows in float32 and lgamma(0) = inf (a NaN loss after 37 epochs).
#: Costs at most about 1e-4 * ln(255) nats per such pixel.
PARAM_FLOOR = 1e-4
PIXELS = 784
VAEWeights = _bin.VAEWeights
kl_to_standard_normal = _bin.kl_to_standard_normal
softplus = _bin.softplus


def load_weights(path=None) -> VAEWeights:
    """Load the beta-binomial VAE (default ``examples/mnist8/vae_weights.npz``)."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; train it with `python examples/mnist8/train_vae.py`")
    return _bin.load_weights(path)


def _scaled(x):
    """uint8 pixel values (N, 784) -> float64 in [0, 1]."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != PIXELS:
        raise ValueError(f"x must have shape (N, {PIXELS}); got {x.shape}")
    return x.astype(np.float64) / N_TRIALS


def encode(weights, x):
    """Posterior parameters (mu, sigma), each (N, K) float64, for 8-bit images x (N, 784) in 0..255."""
    return _bin.encode(weights, _scaled(x))


def beta_binomial_params(weights, z):
    """(alpha, beta), each (N, 784) float64 > 0, of p(x|z) for latents z (N, K)."""
    out = softplus(_bin.decode_logits(weights, z)) + PARAM_FLOOR
    return out[:, :PIXELS], out[:, PIXELS:]


_J = np.arange(N_TRIALS, dtype=np.float64)
_LOG_BINOM_STEP = np.log(N_TRIALS - _J) - np.log(_J + 1.0)  # log C(n, j+1) - log C(n, j), j = 0..254


def log_pmf(alpha, beta):
    """log BetaBinomial(k | 255, alpha, beta) in nats for k = 0..255: shape alpha.shape + (256,).

    By the ratio recurrence pmf(j+1) / pmf(j) = (n-j)(j+alpha) / ((j+1)(n-j-1+beta)) from
    log pmf(0) = ln B(alpha, n+beta) - ln B(alpha, beta) (two logs per entry instead of two log-gammas;
    within 1e-11 of the closed form, ``tests/test_mnist8.py``)."""
    a, b = np.asarray(alpha, dtype=np.float64)[..., None], np.asarray(beta, dtype=np.float64)[..., None]
    lp = np.empty(a.shape[:-1] + (NUM_LEVELS,))
    lp[..., :1] = gammaln(N_TRIALS + b) - gammaln(N_TRIALS + a + b) + gammaln(a + b) - gammaln(b)
    np.cumsum(np.log((_J + a) / (N_TRIALS - 1.0 - _J + b)) + _LOG_BINOM_STEP, axis=-1, out=lp[..., 1:])
    lp[..., 1:] += lp[..., :1]
    return lp


def pixel_probabilities(weights, z):
    """p(x_i = k | z) for k = 0..255: (N, 784, 256) float64, each row normalised to sum 1."""
    lp = log_pmf(*beta_binomial_params(weights, z))
    p = np.exp(lp - lp.max(axis=-1, keepdims=True))  # the analytic pmf sums to 1 up to rounding
    p /= p.sum(axis=-1, keepdims=True)
    return p


def log_likelihood(weights, z, x):
    """log p(x | z) in nats, summed over pixels: (N,) for latents z (N, K) and images x (N, 784)."""
    a, b = beta_binomial_params(weights, z)
    k = np.asarray(x, dtype=np.float64)
    lp = (gammaln(N_TRIALS + 1.0) - gammaln(k + 1.0) - gammaln(N_TRIALS - k + 1.0) + gammaln(k + a)
          + gammaln(N_TRIALS - k + b) - gammaln(N_TRIALS + a + b) + gammaln(a + b) - gammaln(a) - gammaln(b))
    return lp.sum(axis=1)


def negative_elbo_bits(weights, x, num_samples: int = 1, rng=None, batch: int = 1000):
    """-ELBO per image in bits: analytic KL plus a Monte Carlo reconstruction term over num_samples
    draws z = mu + sigma * eps (rng: numpy Generator or seed, default 0). Returns (N,) float64."""
    rng = np.random.default_rng(0 if rng is None else rng)
    out = np.empty(len(x))
    for i in range(0, len(x), batch):
        xs = x[i:i + batch]
        mu, sigma = encode(weights, xs)
        kl = kl_to_standard_normal(mu, sigma).sum(axis=1)
        rec = np.zeros(len(xs))
        for _ in range(num_samples):
            rec += log_likelihood(weights, mu + sigma * rng.standard_normal(mu.shape), xs)
        out[i:i + batch] = (kl - rec / num_samples) / LN2
    return out


def kl_bits_per_dim(weights, x, batch: int = 2000):
    """Average over images x (N, 784) uint8 of KL[q(z_d|x) || N(0,1)] in bits, per latent dimension: (K,)."""
    return _bin.kl_bits_per_dim(weights, x, batch, encoder=encode)
