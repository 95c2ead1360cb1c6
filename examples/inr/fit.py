"""Per-image posterior fitting for one rate-distortion trade-off beta, batched over images, with
optional per-block KL budget control.

Loss per image: MSE (pixels in [0, 1]) + beta * sum_w lambda_{block(w)} KL_w / pixels, KL in bits, one
reparameterised weight sample per image per step, all images fitted together (one batched MLP).

Per-block KL control (as COMBINER/RECOMBINER hold each block to its budget): given the weight blocks of a
plan (index arrays) and a budget in bits per block, every ``adjust_every`` steps each image's multiplier
lambda of every block whose KL exceeds its budget is multiplied by ``factor``, and that of every block
within budget is divided by it, never below 1 (``mode="cap"``: the trade-off stays beta's where a block
is within budget), or without the floor (``mode="fill"``: every block is driven towards its budget, so
the plan, not beta, sets the rate). ``KlControl.max_excess_bits`` reports how far the worst block is over.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from . import model
from .prior import make_optimizer


@dataclass
class KlControl:
    blocks: list                     # list of int arrays: weight indices of each block
    budget_bits: np.ndarray          # (num_blocks,)
    adjust_every: int = 20
    factor: float = 1.3
    mode: str = "cap"                # "cap" or "fill"
    lam_max: float = 1e4
    lam: torch.Tensor = field(default=None, repr=False)
    _onehot: torch.Tensor = field(default=None, repr=False)

    def setup(self, batch: int, num_params: int, dtype=torch.float32):
        if self.mode not in ("cap", "fill"):
            raise ValueError(f"mode must be 'cap' or 'fill', got {self.mode!r}")
        self.budget_bits = np.asarray(self.budget_bits, dtype=np.float64)
        block_of = np.full(num_params, -1, dtype=np.int64)
        for b, dims in enumerate(self.blocks):
            block_of[np.asarray(dims)] = b
        if (block_of < 0).any():
            raise ValueError("every weight must be in one block")
        self._block_of = torch.as_tensor(block_of)
        self.lam = torch.ones(batch, len(self.blocks), dtype=dtype)
        return self

    def block_kl(self, kl: torch.Tensor) -> torch.Tensor:
        """(B, P) per-weight KL -> (B, num_blocks) per-block KL."""
        out = torch.zeros(kl.shape[0], len(self.blocks), dtype=kl.dtype)
        return out.index_add_(1, self._block_of, kl)

    def weight(self) -> torch.Tensor:
        return self.lam[:, self._block_of]

    def update(self, kl: torch.Tensor):
        bk = self.block_kl(kl.detach())
        over = bk > torch.as_tensor(self.budget_bits, dtype=bk.dtype)
        lam = torch.where(over, self.lam * self.factor, self.lam / self.factor)
        lo = 1.0 if self.mode == "cap" else 1.0 / self.lam_max
        self.lam = lam.clamp(lo, self.lam_max)

    def max_excess_bits(self, kl: torch.Tensor) -> float:
        bk = self.block_kl(kl.detach()).to(torch.float64).numpy()
        return float((bk - self.budget_bits[None, :]).max())


@dataclass
class FitResult:
    loc: np.ndarray                  # (B, P) float64
    std: np.ndarray                  # (B, P) float64
    kl_bits: np.ndarray              # (B, P) per-weight KL to the prior
    sample_psnr: np.ndarray          # (B,) PSNR of the last sampled weights (8-bit rounded)
    mean_psnr: np.ndarray            # (B,) PSNR at the posterior means
    seconds: float
    history: list


def fit_images(cfg, prior, images_uint8, beta, steps=2000, seed=0, lr=1e-3, lr_std=1e-2, std_ratio=0.1,
               control: KlControl | None = None, init=None, log_every=0, log=print, mask=None):
    """Fit the posteriors of ``images_uint8`` (B, H, W, 3) under ``prior`` for ``steps`` Adam steps.

    init: optional (loc, std) arrays (B, P) to start from; or "prior": loc = the prior mean, std =
    std_ratio * prior std; default (None): the prior mean plus the SIREN uniform init, the same std. mask: optional (B, P) bool, True where a weight is fixed (already
    coded: its loc is held, its KL is not counted); used by progressive fine-tuning.
    """
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    B = len(images_uint8)
    feat = model.fourier_features(cfg)
    tg = model.images_to_targets(images_uint8)
    if init is None:
        post = model.Posterior.init(cfg, prior, B, seed=seed + 1, std_ratio=std_ratio)
    elif isinstance(init, str):
        if init != "prior":
            raise ValueError(f"init must be None, 'prior' or (loc, std), got {init!r}")
        p_loc, p_std = prior.torch()
        post = model.Posterior(p_loc.expand(B, -1).clone(), (p_std * std_ratio).expand(B, -1).clone())
    else:
        post = model.Posterior(torch.as_tensor(init[0], dtype=torch.float32),
                               torch.as_tensor(init[1], dtype=torch.float32))
    prior_t = prior.torch()
    free = None if mask is None else torch.as_tensor(~np.asarray(mask)).to(torch.float32)
    if control is not None:
        control.setup(B, cfg.num_params)
    opt = make_optimizer(post, lr, lr_std)
    history = []
    t0 = time.perf_counter()
    mse = kl = None
    for step in range(1, steps + 1):
        opt.zero_grad(set_to_none=True)
        kw = None if control is None else control.weight()
        if free is not None:
            kw = free if kw is None else kw * free
        loss, mse, kl = model.elbo_loss(cfg, post, prior_t, feat, tg, beta, g, kl_weight=kw)
        loss.backward()
        if free is not None:
            post.loc.grad.mul_(free)
            post.rho.grad.mul_(free)
        opt.step()
        if control is not None and step % control.adjust_every == 0:
            control.update(kl if free is None else kl * free)
        if log_every and (step % log_every == 0 or step == steps):
            rec = dict(step=step, psnr=float(np.mean(10 * np.log10(1 / mse.numpy()))),
                       bpp=float(kl.sum(1).mean()) / cfg.num_pixels, seconds=time.perf_counter() - t0)
            if control is not None:
                rec["max_excess_bits"] = control.max_excess_bits(kl)
            history.append(rec)
            log(" ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in rec.items()))
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        loc = post.loc.detach().to(torch.float64)
        std = post.std.detach().to(torch.float64)
        kl = model.kl_bits(loc, std, *prior.torch(torch.float64))
        sample = loc + std * torch.randn(loc.shape, generator=g, dtype=torch.float64)
        feat64 = model.fourier_features(cfg, torch.float64)
        psnr_s = model.psnr_uint8(model.to_uint8(model.forward(cfg, sample, feat64), cfg), images_uint8)
        psnr_m = model.psnr_uint8(model.to_uint8(model.forward(cfg, loc, feat64), cfg), images_uint8)
    return FitResult(loc.numpy(), std.numpy(), kl.numpy(), psnr_s, psnr_m, seconds, history)
