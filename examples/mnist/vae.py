"""A small numpy VAE for binarized MNIST (the model behind the REC lossless-compression example).

Architecture (all hidden units ReLU)::

    encoder  x (784) -> 500 -> mu (50), sigma = softplus(s) (50)      q(z|x) = N(mu, diag sigma^2)
    decoder  z (50)  -> 500 -> 784 Bernoulli logits                   p(x|z) = prod Bernoulli(sigmoid(l))
    prior    p(z) = N(0, I)

Weights are stored as float32 in ``vae_weights.npz`` (beside this file) and converted exactly to float64
on load; every function here computes in float64 with plain ``numpy`` matmuls, ReLU and (for the
probabilities) ``scipy.special.expit``. Sender and receiver must evaluate the decoder identically: this
holds when both run the same numpy/BLAS build and thread count on the same kind of CPU (the result of a
BLAS matmul can differ in the last bits between builds, CPUs, thread counts and batch shapes). A codec
that must be robust to that should quantize the probabilities coarsely before entropy coding.

The npz also holds ``info_bits`` (50,): the average over the 50 000 training images of
KL[q(z_d|x) || N(0, 1)] in bits per latent dimension, and ``meta_json`` (training settings and scores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import expit

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "vae_weights.npz"
LN2 = float(np.log(2.0))

#: parameter names and shapes for input size D, hidden size H, latent size K
PARAM_NAMES = ("enc_W1", "enc_b1", "enc_Wmu", "enc_bmu", "enc_Ws", "enc_bs",
               "dec_W1", "dec_b1", "dec_W2", "dec_b2")


def param_shapes(D: int = 784, H: int = 500, K: int = 50) -> dict[str, tuple]:
    return {"enc_W1": (D, H), "enc_b1": (H,), "enc_Wmu": (H, K), "enc_bmu": (K,),
            "enc_Ws": (H, K), "enc_bs": (K,), "dec_W1": (K, H), "dec_b1": (H,),
            "dec_W2": (H, D), "dec_b2": (D,)}


@dataclass
class VAEWeights:
    """float64 parameters (exact copies of the stored float32), ``info_bits`` (K,) and metadata."""

    params: dict
    info_bits: np.ndarray | None = None
    meta: dict = field(default_factory=dict)

    @property
    def latent_dim(self) -> int:
        return self.params["enc_bmu"].shape[0]


def _params(weights) -> dict:
    return weights.params if isinstance(weights, VAEWeights) else weights


def load_weights(path=None) -> VAEWeights:
    """Load ``vae_weights.npz`` (default: beside this file)."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; train it with `python examples/mnist/train_vae.py`")
    with np.load(path) as f:
        params = {k: f[k].astype(np.float64) for k in PARAM_NAMES}
        info = f["info_bits"].astype(np.float64) if "info_bits" in f else None
        meta = json.loads(str(f["meta_json"])) if "meta_json" in f else {}
    return VAEWeights(params, info, meta)


def softplus(s):
    return np.logaddexp(0.0, s)


def _as64(a):
    return np.asarray(a, dtype=np.float64)


def encode(weights, x):
    """Posterior parameters (mu, sigma), each (N, K) float64, for images x (N, 784) in {0, 1}."""
    p = _params(weights)
    h = np.maximum(_as64(x) @ p["enc_W1"] + p["enc_b1"], 0.0)
    mu = h @ p["enc_Wmu"] + p["enc_bmu"]
    sigma = softplus(h @ p["enc_Ws"] + p["enc_bs"])
    return mu, sigma


def decode_logits(weights, z):
    """Bernoulli logits (N, 784) float64 for latents z (N, K)."""
    p = _params(weights)
    h = np.maximum(_as64(z) @ p["dec_W1"] + p["dec_b1"], 0.0)
    return h @ p["dec_W2"] + p["dec_b2"]


def bernoulli_probabilities(weights, z):
    """P(pixel = 1 | z), (N, 784) float64 in (0, 1)."""
    return expit(decode_logits(weights, z))


def bernoulli_log_likelihood(logits, x):
    """log p(x | logits) in nats, summed over pixels: sum x*l - softplus(l)."""
    return np.sum(_as64(x) * logits - softplus(logits), axis=-1)


def kl_to_standard_normal(mu, sigma):
    """KL[N(mu, sigma^2) || N(0, 1)] per dimension, in nats."""
    return 0.5 * (mu * mu + sigma * sigma - 1.0) - np.log(sigma)


def negative_elbo_bits(weights, x, num_samples: int = 1, rng=None):
    """-ELBO per image in bits: analytic KL plus Monte Carlo reconstruction over num_samples draws.

    rng: numpy Generator or seed (default seed 0). Returns (N,) float64.
    """
    rng = np.random.default_rng(0 if rng is None else rng)
    x = _as64(x)
    mu, sigma = encode(weights, x)
    kl = kl_to_standard_normal(mu, sigma).sum(axis=1)
    rec = np.zeros(x.shape[0])
    for _ in range(num_samples):
        z = mu + sigma * rng.standard_normal(mu.shape)
        rec += bernoulli_log_likelihood(decode_logits(weights, z), x)
    return (kl - rec / num_samples) / LN2


def importance_weighted_bits(weights, x, num_samples: int = 100, rng=None):
    """-log2 of the importance-weighted (IWAE) estimate of p(x) with num_samples draws from q; (N,)."""
    from scipy.special import logsumexp

    rng = np.random.default_rng(0 if rng is None else rng)
    x = _as64(x)
    mu, sigma = encode(weights, x)
    logw = np.empty((num_samples, x.shape[0]))
    for k in range(num_samples):
        eps = rng.standard_normal(mu.shape)
        z = mu + sigma * eps
        log_q = np.sum(-0.5 * eps * eps - np.log(sigma), axis=1)
        log_p = np.sum(-0.5 * z * z, axis=1)
        logw[k] = bernoulli_log_likelihood(decode_logits(weights, z), x) + log_p - log_q
    return -(logsumexp(logw, axis=0) - np.log(num_samples)) / LN2


def kl_bits_per_dim(weights, x, batch: int = 2000, encoder=None):
    """Average over images of KL[q(z_d|x) || N(0,1)] in bits, per latent dimension: (K,).

    ``encoder(weights, x_batch) -> (mu, sigma)``: this module's :func:`encode` unless given (the
    8-bit VAE passes its own)."""
    encoder = encode if encoder is None else encoder
    total = 0.0
    for i in range(0, len(x), batch):
        mu, sigma = encoder(weights, x[i:i + batch])
        total = total + kl_to_standard_normal(mu, sigma).sum(axis=0)
    return total / len(x) / LN2
