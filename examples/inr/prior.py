"""Learning the INR weight prior on training patches by EM (as COMBINER does), and its shipped file.

E-step: fit the factorised Gaussian posteriors of all training images together for ``steps`` Adam steps
(loss per image MSE + beta * KL_bits / pixels, one reparameterised weight sample per step), warm-started
from the previous epoch. M-step: the prior that maximises the ELBO given those posteriors, per weight

    loc_p = mean_i loc_i,    std_p^2 = mean_i (std_i^2 + (loc_i - loc_p)^2).

After the last M-step the per-weight KL of every training posterior to the final prior is averaged
over the training images: the *training-average KL* (bits) that block plans are built from
(``recnumba.BlockPlan.build(info_bits, ...)``), known to sender and receiver alike.

Training data (``--train``; CIFAR-10's training set is not obtainable offline):

* ``cifar-like`` (the default prior, ``prior_cifarlike.npz``): the 80 CIFAR-100 / downsampled ImageNet
  images of the foolbox wheel and their mirror images (``data.load_cifarlike_train``);
* ``natural-patches`` (``prior_default.npz``, the first prior of issue #13): 128 of the 32x32 patches
  tiled from six scikit-image photographs (``data.training_patches``).

    python examples/inr/prior.py --train cifar-like --epochs 16 --steps 200 --out examples/inr/prior_cifarlike.npz
    python examples/inr/prior.py --train natural-patches --patches 128 --epochs 8 --steps 150 --out examples/inr/prior_default.npz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inr import data, model  # noqa: E402

PRIORS = {"cifar-like": Path(__file__).resolve().parent / "prior_cifarlike.npz",
          "natural-patches": Path(__file__).resolve().parent / "prior_default.npz"}
DEFAULT_PRIOR = PRIORS["cifar-like"]


def m_step(post: model.Posterior) -> model.Prior:
    loc = post.loc.detach().to(torch.float64)
    std = post.std.detach().to(torch.float64)
    p_loc = loc.mean(dim=0)
    p_var = (std ** 2 + (loc - p_loc) ** 2).mean(dim=0)
    return model.Prior(p_loc.numpy(), np.sqrt(p_var.numpy()))


def make_optimizer(post, lr=1e-3, lr_std=1e-2):
    """Adam; the std parameters (rho ~ log std for small std) get their own, larger step size."""
    return torch.optim.Adam([dict(params=[post.loc], lr=lr), dict(params=[post.rho], lr=lr_std)])


def fit_steps(cfg, post, prior, features, targets, beta, steps, generator, lr=1e-3, lr_std=1e-2, opt=None):
    """``steps`` Adam steps on the posteriors ``post`` under a fixed prior; returns (opt, mse (B,), kl (B, P))."""
    prior_t = prior.torch(post.loc.dtype)
    if opt is None:
        opt = make_optimizer(post, lr, lr_std)
    mse = kl = None
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        loss, mse, kl = model.elbo_loss(cfg, post, prior_t, features, targets, beta, generator)
        loss.backward()
        opt.step()
    return opt, mse, kl


def learn_prior(patches_uint8, cfg=model.InrConfig(), epochs=8, steps=150, beta=1e-3, seed=0, lr=1e-3,
                lr_std=1e-2, std_ratio=0.1, log=print):
    """EM on the training patches. Returns (prior, kl_mean_bits (P,), history list of dicts)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    features = model.fourier_features(cfg)
    targets = model.images_to_targets(patches_uint8)
    prior = model.Prior.init(cfg)
    post = model.Posterior.init(cfg, prior, len(patches_uint8), seed=seed + 1, std_ratio=std_ratio)
    history = []
    t0 = time.perf_counter()
    for epoch in range(epochs):
        # a fresh optimiser each epoch: the objective changed with the prior
        _, mse, kl = fit_steps(cfg, post, prior, features, targets, beta, steps, g, lr, lr_std)
        before = kl.sum(dim=1).mean().item()
        prior = m_step(post)
        with torch.no_grad():
            kl = post.kl_bits(*prior.torch(post.loc.dtype))
        psnr = float(np.mean(10 * np.log10(1.0 / mse.numpy())))
        rec = dict(epoch=epoch + 1, kl_bits_before_m=before, kl_bits_after_m=kl.sum(dim=1).mean().item(),
                   sample_psnr=psnr, seconds=time.perf_counter() - t0)
        history.append(rec)
        log(f"epoch {epoch + 1}/{epochs}: KL {rec['kl_bits_before_m']:.0f} -> {rec['kl_bits_after_m']:.0f} "
            f"bits/image ({rec['kl_bits_after_m'] / cfg.num_pixels:.2f} bpp), sampled-weight PSNR "
            f"{psnr:.2f} dB, {rec['seconds']:.0f} s")
    kl_mean = kl.to(torch.float64).mean(dim=0).numpy()
    return prior, kl_mean, history


def save_prior(path, cfg, prior, kl_mean, meta):
    np.savez(path, loc=prior.loc, std=prior.std, kl_mean_bits=kl_mean,
             config=np.array(json.dumps(cfg.__dict__)), meta=np.array(json.dumps(meta)))


def load_prior(path=DEFAULT_PRIOR):
    """(cfg, prior, kl_mean_bits (P,), meta dict) from a file written by :func:`save_prior`, or the shipped
    prior of a training set by name (a key of :data:`PRIORS`)."""
    path = PRIORS.get(path, path) if isinstance(path, str) else path
    with np.load(path) as f:
        cfg = model.InrConfig(**json.loads(str(f["config"])))
        prior = model.Prior(f["loc"], f["std"])
        kl = f["kl_mean_bits"]
        meta = json.loads(str(f["meta"]))
    return cfg, prior, kl, meta


def training_kl(cfg, prior, beta, patches=64, steps=1000, seed=0, lr=1e-3, lr_std=1e-2, std_ratio=0.1,
                cache=True, log=print, source="natural-patches"):
    """Training-average KL per weight (bits, float64 (P,)) at trade-off ``beta`` under a fixed ``prior``.

    Block plans for a bitrate are built from it (RECOMBINER builds each bitrate's groups from the
    training KL at that beta): ``patches`` training images of ``source`` (``data.training_images``:
    "natural-patches", a seeded subset; "cifar-like", all 80 when ``patches`` is None) are fitted for
    ``steps`` Adam steps from the prior (init "prior", no block control, as the test images are fitted) and
    the per-weight KL averaged over them. Known to sender and receiver (training
    data only). Cached as ``.npy`` under the data cache (``data.default_cache_dir()``), keyed by the prior's
    arrays and every argument; ``cache=False`` recomputes.
    """
    if not (isinstance(beta, (int, float)) and beta > 0):
        raise ValueError(f"beta must be a number > 0; got {beta!r}")
    if not (patches is None or (isinstance(patches, int) and patches >= 1)):
        raise ValueError(f"patches must be an integer >= 1 or None (all); got {patches!r}")
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}")
    import hashlib
    # the natural-patch key is the one of earlier runs (their cached files stay valid)
    extra = [] if source == "natural-patches" else [source]
    key = hashlib.sha256(prior.loc.tobytes() + prior.std.tobytes() + json.dumps(
        [cfg.__dict__, float(beta), patches, steps, seed, lr, lr_std, std_ratio] + extra).encode()).hexdigest()[:16]
    path = data.default_cache_dir() / f"training_kl_{key}.npy"
    if cache and path.is_file():
        return np.load(path)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x = data.training_images(source, patches, seed=seed)
    features = model.fourier_features(cfg)
    targets = model.images_to_targets(x)
    p_loc, p_std = prior.torch()
    post = model.Posterior(p_loc.expand(len(x), -1).clone(), (p_std * std_ratio).expand(len(x), -1).clone())
    t0 = time.perf_counter()
    fit_steps(cfg, post, prior, features, targets, beta, steps, g, lr, lr_std)
    with torch.no_grad():
        kl = model.kl_bits(post.loc.detach().double(), post.std.detach().double(), *prior.torch(torch.float64))
    kl_mean = kl.mean(dim=0).numpy()
    if log:
        log(f"training-average KL at beta {beta:g}: {kl_mean.sum():.0f} bits/image "
            f"({kl_mean.sum() / cfg.num_pixels:.3f} bpp; {len(x)} {source} images x {steps} steps, "
            f"{time.perf_counter() - t0:.0f} s)")
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, kl_mean)
        os.replace(tmp, path)
    return kl_mean


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", choices=data.TRAINING_SETS, default="cifar-like", help="training images")
    ap.add_argument("--patches", type=int, default=None,
                    help="number of training images (default: 128 natural patches, all 80 cifar-like images)")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--beta", type=float, default=1e-3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-std", type=float, default=1e-2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, help="default: the shipped prior of --train (examples/inr/prior_*.npz)")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = model.InrConfig()
    patches = data.training_images(a.train, a.patches, seed=a.seed)
    a.out = a.out or PRIORS[a.train]
    t0 = time.perf_counter()
    prior, kl, hist = learn_prior(patches, cfg, a.epochs, a.steps, a.beta, a.seed, a.lr, a.lr_std)
    meta = dict(train=a.train, patches=len(patches), epochs=a.epochs, steps=a.steps, beta=a.beta, lr=a.lr, lr_std=a.lr_std, seed=a.seed,
                threads=a.threads, seconds=time.perf_counter() - t0, history=hist,
                training_data={"natural-patches": "natural-image patches from scikit-image 0.26.0 (stand-in for "
                               "CIFAR-10 train)", "cifar-like": "20 CIFAR-100 test + 20 ImageNet (downsampled) images "
                               "of foolbox 3.3.4 and their mirror images (stand-in for CIFAR-10 train)"}[a.train])
    save_prior(a.out, cfg, prior, kl, meta)
    print(f"wrote {a.out}: {cfg.num_params} weights, training-average KL {kl.sum():.0f} bits/image "
          f"({kl.sum() / cfg.num_pixels:.2f} bpp), {meta['seconds']:.0f} s")


if __name__ == "__main__":
    main()
