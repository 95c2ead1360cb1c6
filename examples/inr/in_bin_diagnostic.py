"""How well a partition plan fits the CIFAR-10 posteriors: in-bin bits per 48-bit block (issue #13).

The diagnostic behind the choice of the CIFAR-like prior (README, "How the target was reached"). For each
configuration: a prior, the information the block plans are built from, and the posteriors' initial std;
CIFAR-10 test images 0-7 are fitted at one beta with per-block KL control (48-bit blocks, as
``examples/inr_cifar.py`` fits them), every block is held to its budget (``fit.project_to_budget``), and the
mean over images and blocks of KL - log2 J + H_q(j) (``rec.in_bin_bits``: the information left for
the 2^16 in-bin candidates) is reported with the projected KL and the PSNR at the posterior means.
Nothing is coded. The "oracle" row builds the plans from other CIFAR-10 test images (8-15): a check of
how much a matched training set could help, never used for a result.

    python examples/inr/in_bin_diagnostic.py --json docs/inr_in_bin_diagnostic.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from inr import data, fit, model, prior, rec  # noqa: E402

CONFIGS = {
    # name: (prior, information source, posterior initial std / prior std)
    "natural-patches prior, plans from 64 patches x 1000 steps (the first runs)": ("natural-patches", "patches", 0.1),
    "natural-patches prior, plans from CIFAR-10 test 8-15 (oracle)": ("natural-patches", "cifar10-8-15", 0.1),
    "natural-patches prior, plans from the 20 CIFAR-100 images + mirrors": ("natural-patches", "cifar100", 0.1),
    "natural-patches prior, posteriors started at the prior's std": ("natural-patches", "patches", 1.0),
    "cifar-like prior, plans from its 80 training images x 2000 steps (now)": ("cifar-like", "cifar-like", 0.1),
}


def information(cfg, pr, source, beta, std_ratio, steps):
    """Per-weight information (bits, (P,)) from ``source``'s fitted posteriors at ``beta``."""
    if source == "patches":
        return prior.training_kl(cfg, pr, beta, 64, 1000, 0, std_ratio=std_ratio, log=None)
    if source == "cifar-like":
        return prior.training_kl(cfg, pr, beta, None, steps, 0, std_ratio=std_ratio, log=None, source="cifar-like")
    if source == "cifar10-8-15":
        x = data.load_cifar10_test20()[0][8:16]
    else:                                                    # CIFAR-100 rows of the cifar-like set and their mirrors
        x = data.load_cifarlike_train()[np.r_[0:20, 40:60]]
    f = fit.fit_images(cfg, pr, x, beta, steps=steps, init="prior", std_ratio=std_ratio, evaluate=False)
    return f.kl_bits.mean(0)


def diagnose(prior_name, source, std_ratio, beta=1e-3, images=range(8), steps=2000, block_bits=48.0):
    cfg, pr, _, _ = prior.load_prior(prior_name)
    info = information(cfg, pr, source, beta, std_ratio, steps)
    plan = rec.partitioned_plan(info, block_bits)
    x = data.load_cifar10_test20()[0][list(images)]
    blocks = [b.dims for b in plan.blocks]
    ctl = fit.KlControl(blocks, np.full(plan.num_blocks, block_bits), adjust_every=5, factor=1.1)
    f = fit.fit_images(cfg, pr, x, beta, steps=steps, control=ctl, init="prior", std_ratio=std_ratio,
                       evaluate=False)
    loc, std = fit.project_to_budget(f.loc, f.std, pr.loc, pr.std, blocks, block_bits)
    kl = fit.kl_bits_np(loc, std, pr.loc, pr.std)
    in_bin = [rec.in_bin_bits(loc[:, b.dims], std[:, b.dims], pr.loc[b.dims], pr.std[b.dims], b.partition)
              for b in plan.blocks]
    return dict(prior=prior_name, information=source, std_ratio=std_ratio, beta=beta, images=list(images),
                num_blocks=plan.num_blocks, mean_log2_J=float(np.mean([b.partition.bits for b in plan.blocks])),
                in_bin_bits_per_block=float(np.mean(in_bin)), projected_kl_bpp=float(kl.sum(1).mean() / cfg.num_pixels),
                psnr_posterior_mean=float(model.psnr_uint8(rec.render(cfg, loc), x).mean()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--beta", type=float, default=1e-3)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    out = dict(note=__doc__.split("\n\n")[1].replace("\n", " "), rows={})
    for name, (prior_name, source, ratio) in CONFIGS.items():
        t0 = time.perf_counter()
        row = diagnose(prior_name, source, ratio, beta=a.beta)
        row["seconds"] = time.perf_counter() - t0
        out["rows"][name] = row
        print(f"{name}: in-bin {row['in_bin_bits_per_block']:.1f} bits/block (log2 J {row['mean_log2_J']:.1f}, "
              f"{row['num_blocks']} blocks), KL {row['projected_kl_bpp']:.3f} bpp, "
              f"PSNR {row['psnr_posterior_mean']:.2f} dB, {row['seconds']:.0f} s", flush=True)
        if a.json:
            a.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
