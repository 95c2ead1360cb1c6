"""How many bits above the negative ELBO must one-shot REC per image pay on this VAE? (a few seconds)

For an *exact* sample (PFR) on a partition with J bins, the index is about
n = floor(W r(Z) / J) J + j with Z ~ q, W ~ Exp(1) and j uniform on the J bins (design notes §3), so
log2 n = log2 r(Z) + log2 W, clamped below near log2 J. Coding n as an exponent e = floor(log2(n + 1))
with an entropy model plus e raw mantissa bits (``recnumba.container``'s exponent code) costs
E[e] + H(e) bits; no model of e can beat H(e), and an ideal code of n itself saves at most ~0.03
bits per block over that (the mantissa is nearly uniform). This script samples that index model
for the test posteriors (no REC search needed) and prints, per block count, E[sum e] - KL and
sum_b H(e_b): their sum is the latent overhead over the KL, i.e. the total overhead over the
negative ELBO when the sample is exact (image bits then average the ELBO's reconstruction term).

Two analytic facts frame the numbers (bits):
* an ideal code of n costs E[log2 n] + h(log2 n) + log2(ln 2) bits. Even with the item's KL known
  and log2 r(Z) constant, log2 W alone has differential entropy (1 + gamma) / ln 2 + log2(1 / ln 2)
  = 2.80 and mean -gamma / ln 2 = -0.83, so a block costs at least KL - 0.83 + 2.80 - 0.53
  = KL + 1.44;
* on this VAE the per-image KL has a standard deviation of ~11 bits and log2 r(Z) under q another
  ~5.8, so a single block's log2 n has ~12.7 bits of spread: h ~ 5.7 bits, i.e. ~KL + 4.3.

    python examples/mnist/overhead_floor.py [--count 10000] [--split test]
"""

from __future__ import annotations

import argparse
import math
import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2]))

import recnumba as rn  # noqa: E402
from mnist import data as mnist_data  # noqa: E402
from mnist import vae  # noqa: E402

LN2 = math.log(2.0)


def entropy(values):
    _, counts = np.unique(values, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def floor_table(mu, sigma, info, budgets, margin_bits, seed=0):
    rng = np.random.default_rng(seed)
    z = mu + sigma * rng.standard_normal(mu.shape)
    log2_ratio = (np.log(1.0 / sigma) - (z - mu) ** 2 / (2 * sigma**2) + z**2 / 2) / LN2
    kl = (vae.kl_to_standard_normal(mu, sigma) / LN2).sum(axis=1)
    rows = []
    for budget in budgets:
        plan = rn.BlockPlan.build(info, budget, seed=0, margin_bits=margin_bits, packing="balanced")
        exponents = []
        for blk in plan:
            num_bins = 2.0 ** blk.partition.bits
            r = log2_ratio[:, blk.dims].sum(axis=1)
            k = np.floor(rng.exponential(size=r.size) * np.exp2(r) / num_bins)
            j = np.floor(rng.random(r.size) * num_bins)
            exponents.append(np.floor(np.log2(k * num_bins + j + 1.0)))
        e = np.stack(exponents, axis=1)
        gap = float(e.sum(axis=1).mean() - kl.mean())
        code = sum(entropy(e[:, b]) for b in range(plan.num_blocks))
        rows.append((budget, plan.num_blocks, gap, code))
    return rows, float(kl.mean()), float(kl.std())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--split", default="test")
    parser.add_argument("--margin", type=float, default=6.0, help="log2 J = block information - margin")
    parser.add_argument("--fixture", action="store_true", help="use the shipped 200-image subset")
    args = parser.parse_args(argv)
    weights = vae.load_weights()
    images = mnist_data.load_fixture() if args.fixture else mnist_data.load_mnist(args.split)
    images = images[:args.count].astype(np.float64)
    mu, sigma = vae.encode(weights, images)
    active = np.flatnonzero(weights.info_bits >= 0.01)
    rows, kl_mean, kl_std = floor_table(mu[:, active], sigma[:, active], weights.info_bits[active],
                                        (60, 32, 16, 8), args.margin)
    neg_elbo = float(vae.negative_elbo_bits(weights, images).mean())
    print(f"{len(images)} {args.split} images: KL {kl_mean:.2f} +- {kl_std:.2f} bits, negative ELBO {neg_elbo:.2f}; "
          f"3% of it is {0.03 * neg_elbo:.2f} bits")
    print(f"{'budget':>6} {'blocks':>6} {'E[sum e]-KL':>12} {'sum H(e_b)':>11} {'overhead':>9} {'vs ELBO':>8}")
    for budget, blocks, gap, code in rows:
        print(f"{budget:>6} {blocks:>6} {gap:>12.2f} {code:>11.2f} {gap + code:>9.2f} "
              f"{100 * (gap + code) / neg_elbo:>7.1f}%")
    return rows


if __name__ == "__main__":
    main()
