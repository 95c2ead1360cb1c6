"""Variational SIREN-style coordinate MLP over image pixels, batched over images (torch).

An image of H x W RGB pixels is represented by a small MLP f_w : (x, y) -> (r, g, b). The coordinates
are pixel centres in (-1, 1); they are mapped to ``fourier_dim`` Fourier features
``[cos(pi f x), cos(pi f y), ..., sin(pi f x), sin(pi f y)]`` with ``fourier_dim / 4`` frequencies f
spaced geometrically from 1 to ``max_freq`` (COMBINER spaces them from 1 to 1024 for large images;
for 32x32 images the default ``max_freq = 16`` stops at the pixel grid's Nyquist frequency). Then
``num_layers`` affine layers, sine activations ``sin(w0 * h)`` between them (SIREN, w0 = 30), and a
linear output layer predicting the pixel value minus 0.5 (pixels scaled to [0, 1]).

The defaults (Fourier dimension 16, 4 layers, width 32) have 2,755 weights: 17*32 + 33*32 + 33*32 + 33*3.
All weights live in one flat vector per image, layer by layer, each layer as a row-major
``(dim_in + 1, dim_out)`` matrix whose last row is the bias.

Variational posterior: factorised Gaussian over the flat weights, per image (``loc``, ``std``, shape
(B, P)); prior: one factorised Gaussian (``loc``, ``std``, shape (P,)) shared by all images, learned
(see ``prior.py``). One weight sample per image per step, reparameterised (w = loc + std * eps).
KL per weight is in bits; PSNR of images in [0, 1] after rounding to 8 bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

LN2 = math.log(2.0)


@dataclass(frozen=True)
class InrConfig:
    height: int = 32
    width: int = 32
    fourier_dim: int = 16
    hidden: int = 32
    num_layers: int = 4          # affine layers, the last one linear
    w0: float = 30.0
    c: float = 6.0
    max_freq: float = 16.0

    def layer_dims(self):
        dims = [self.fourier_dim] + [self.hidden] * (self.num_layers - 1) + [3]
        return list(zip(dims[:-1], dims[1:]))

    @property
    def num_params(self) -> int:
        return sum((i + 1) * o for i, o in self.layer_dims())

    @property
    def num_pixels(self) -> int:
        return self.height * self.width

    def layer_slices(self):
        out, start = [], 0
        for i, o in self.layer_dims():
            out.append((start, i, o))
            start += (i + 1) * o
        return out

    def siren_std(self) -> np.ndarray:
        """Per-weight scale of the SIREN initialisation: 1/dim_in (first layer), sqrt(c/dim_in)/w0 (others)."""
        s = np.empty(self.num_params)
        for k, (start, i, o) in enumerate(self.layer_slices()):
            s[start:start + (i + 1) * o] = (1.0 / i) if k == 0 else math.sqrt(self.c / i) / self.w0
        return s

    def layer_of_param(self) -> np.ndarray:
        """Layer number (0-based) of every flat weight."""
        lab = np.empty(self.num_params, dtype=np.int64)
        for k, (start, i, o) in enumerate(self.layer_slices()):
            lab[start:start + (i + 1) * o] = k
        return lab


def fourier_features(cfg: InrConfig, dtype=torch.float32) -> torch.Tensor:
    """(H*W, fourier_dim) features of the pixel centres, row-major over (y, x)."""
    if cfg.fourier_dim % 4:
        raise ValueError("fourier_dim must be a multiple of 4 (cos and sin of 2 coordinates)")
    ys = (0.5 + torch.arange(cfg.height, dtype=torch.float64)) / cfg.height * 2 - 1
    xs = (0.5 + torch.arange(cfg.width, dtype=torch.float64)) / cfg.width * 2 - 1
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1).reshape(-1, 2)   # (N, 2)
    freqs = torch.exp(torch.linspace(0.0, math.log(cfg.max_freq), cfg.fourier_dim // 4, dtype=torch.float64))
    arg = math.pi * (grid[:, :, None] * freqs[None, None, :]).reshape(grid.shape[0], -1)
    return torch.cat([torch.cos(arg), torch.sin(arg)], dim=-1).to(dtype)


def forward(cfg: InrConfig, weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Pixel predictions in [0, 1] scale (unclamped), (B, H*W, 3), for flat weights (B, P)."""
    B = weights.shape[0]
    h = features.unsqueeze(0).expand(B, -1, -1)
    layers = cfg.layer_slices()
    for k, (start, i, o) in enumerate(layers):
        m = weights[:, start:start + (i + 1) * o].reshape(B, i + 1, o)
        h = torch.baddbmm(m[:, i:i + 1, :], h, m[:, :i, :])
        if k < len(layers) - 1:
            h = torch.sin(cfg.w0 * h)
    return h + 0.5


def images_to_targets(images_uint8: np.ndarray, dtype=torch.float32) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> (B, H*W, 3) in [0, 1]."""
    x = torch.as_tensor(np.asarray(images_uint8), dtype=torch.float64) / 255.0
    return x.reshape(x.shape[0], -1, 3).to(dtype)


def to_uint8(pred: torch.Tensor, cfg: InrConfig) -> np.ndarray:
    """(B, H*W, 3) predictions -> uint8 images (B, H, W, 3), clamped and rounded."""
    x = torch.clamp(pred.detach().to(torch.float64), 0.0, 1.0) * 255.0
    return torch.round(x).to(torch.uint8).reshape(-1, cfg.height, cfg.width, 3).numpy()


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-image PSNR (dB) between uint8 image batches (B, H, W, 3), peak 255."""
    d = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    mse = (d.reshape(d.shape[0], -1) ** 2).mean(axis=1)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0 ** 2 / mse)


def kl_bits(q_loc, q_std, p_loc, p_std):
    """Per-weight KL(N(q_loc, q_std^2) || N(p_loc, p_std^2)) in bits (broadcasting torch tensors)."""
    r = q_std / p_std
    return (torch.log(1.0 / r) + 0.5 * (r * r + ((q_loc - p_loc) / p_std) ** 2) - 0.5) / LN2


class Prior:
    """Factorised Gaussian prior over the flat weights (float64 numpy arrays, shape (P,))."""

    def __init__(self, loc, std):
        self.loc = np.asarray(loc, dtype=np.float64)
        self.std = np.asarray(std, dtype=np.float64)

    @classmethod
    def init(cls, cfg: InrConfig, scale: float = 0.5):
        return cls(np.zeros(cfg.num_params), cfg.siren_std() * scale)

    def torch(self, dtype=torch.float32):
        return torch.as_tensor(self.loc, dtype=dtype), torch.as_tensor(self.std, dtype=dtype)


class Posterior(torch.nn.Module):
    """Factorised Gaussian posteriors of B images: loc (B, P), std = softplus(rho) (B, P)."""

    def __init__(self, loc: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.loc = torch.nn.Parameter(loc.clone())
        # softplus^{-1}(s) = s + log(-expm1(-s)), stable for small s
        self.rho = torch.nn.Parameter(std + torch.log(-torch.expm1(-std)))

    @classmethod
    def init(cls, cfg: InrConfig, prior: Prior, batch: int, seed: int, std_ratio: float = 0.02,
             dtype=torch.float32):
        """loc: SIREN uniform init (|w| < 11/12 of the SIREN scale) shifted by the prior mean; std: std_ratio * prior std."""
        g = torch.Generator().manual_seed(int(seed))
        s = torch.as_tensor(cfg.siren_std(), dtype=dtype)
        p_loc, p_std = prior.torch(dtype)
        loc = p_loc + (torch.rand(batch, cfg.num_params, generator=g, dtype=dtype) * 2 - 1) * s * 11 / 12
        return cls(loc, (p_std * std_ratio).expand(batch, -1).clone())

    @property
    def std(self) -> torch.Tensor:
        return torch.nn.functional.softplus(self.rho)

    def sample(self, generator: torch.Generator) -> torch.Tensor:
        eps = torch.randn(self.loc.shape, generator=generator, dtype=self.loc.dtype)
        return self.loc + self.std * eps

    def kl_bits(self, prior_loc: torch.Tensor, prior_std: torch.Tensor) -> torch.Tensor:
        """(B, P) per-weight KL in bits."""
        return kl_bits(self.loc, self.std, prior_loc, prior_std)


def elbo_loss(cfg, post: Posterior, prior_t, features, targets, beta, generator, kl_weight=None):
    """Sum over images of  MSE + beta * KL_bits / num_pixels  (beta per image: scalar or (B,)).

    kl_weight: optional (B, P) multiplier of each weight's KL (per-block beta control in fit.py).
    Returns (loss, mse (B,), kl_bits (B, P)).
    """
    w = post.sample(generator)
    pred = forward(cfg, w, features)
    mse = ((pred - targets) ** 2).mean(dim=(1, 2))
    kl = post.kl_bits(*prior_t)
    weighted = kl if kl_weight is None else kl * kl_weight
    beta = torch.as_tensor(beta, dtype=mse.dtype)
    loss = (mse + beta * weighted.sum(dim=1) / cfg.num_pixels).sum()
    return loss, mse.detach(), kl.detach()
