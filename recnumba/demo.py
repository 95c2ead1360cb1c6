"""``python -m recnumba demo``: plain vs partitioned REC on small diagonal Gaussians.

Two experiments, prior P = N(0, I) throughout:

1. **Exact PFR, 5-D.** A sweep of targets with D_inf[Q||P] from 8 to 20 bits. Each target comes
   from a fixed one-parameter family (``target_family``: mean ``lam * DIRECTION``, scales
   ``exp(-lam * SHRINK / 2)``) with ``lam`` solved so that D_inf hits the requested value, so the
   targets are deterministic. Plain PFR needs about 2^D_inf steps; partitioned PFR (ratio weights,
   ``Partition.uniform(5, partition_bits(KL))`` with log2 J = floor(KL) - 2 bits) needs far fewer,
   at about the same code length.
2. **ORC bias vs budget, 8-D, KL = 12 bits.** Plain ORC and partitioned ORC (target weights,
   log2 J = KL - 4 bits) with N = 2^4, 2^6, .., 2^16 candidates. The bias indicator is the mean of
   log2 r(Z) = log2 q(Z)/p(Z) over independent encodes; for exact samples of Q it averages KL.

Independent encodes are one batched call: every row of a (B, D) target is the same distribution,
and the default block ids 0..B-1 give each row its own random streams. Times are wall-clock per
batch divided by B (blocks run in parallel on all numba threads).
"""

import math
import os
import sys
import time

import numpy as np

import recnumba as rn

#: Fixed mean direction and per-dimension log-scale rates of the 5-D target family.
DIRECTION = np.array([0.8, -0.5, 0.3, -0.2, 0.6])
SHRINK = np.array([1.0, 0.8, 1.2, 0.9, 1.1])
#: Gap between KL and log2 J for partitioned exact PFR, in bits.
PFR_MARGIN_BITS = 2
#: Gap between KL and log2 J for partitioned ORC, in bits.
ORC_MARGIN_BITS = 4
SEED = 2024


def target_family(lam, dim=5):
    """Target N(lam * direction, exp(-lam * shrink / 2)^2) in ``dim`` dimensions (pattern repeats)."""
    direction = np.resize(DIRECTION, dim)
    shrink = np.resize(SHRINK, dim)
    return rn.Gaussian(lam * direction, np.exp(-lam * shrink / 2.0))


def solve_target(value_bits, measure="dinf", dim=5):
    """The family member whose D_inf (``measure="dinf"``) or KL (``"kl"``) equals ``value_bits``."""
    from scipy.optimize import brentq

    prior = standard_prior(dim)
    function = rn.dinf_bits if measure == "dinf" else rn.kl_bits

    def gap(lam):
        return float(function(target_family(lam, dim), prior)) - value_bits

    return target_family(brentq(gap, 1e-6, 50.0, xtol=1e-12), dim)


def standard_prior(dim):
    return rn.Gaussian(np.zeros(dim), np.ones(dim))


def partition_bits(kl, margin=PFR_MARGIN_BITS):
    """The demo's rule for exact PFR: log2 J = max(0, floor(KL) - margin) bits."""
    return max(0, math.floor(kl) - margin)


def repeat_rows(target, rows):
    """A (rows, D) batch whose rows are all ``target``: ``rows`` independent encodes in one call."""
    return rn.Gaussian(np.tile(target.loc, (rows, 1)), np.tile(target.scale, (rows, 1)))


def log2_ratio(samples, target, prior):
    """log2 q(z)/p(z) for each row of ``samples`` (diagonal Gaussians)."""
    zq = (samples - target.loc) / target.scale
    zp = (samples - prior.loc) / prior.scale
    nats = np.sum(np.log(prior.scale / target.scale) - 0.5 * zq**2 + 0.5 * zp**2, axis=-1)
    return nats / math.log(2.0)


def min_ks_pvalue(samples, target):
    """Smallest per-dimension Kolmogorov-Smirnov p-value of ``samples`` against ``target`` (as in the
    README's tables: exact samples give p-values spread over (0, 1); below about 0.001 / D is a fail)."""
    from scipy import stats

    return min(
        stats.kstest(samples[:, d], "norm", args=(target.loc[d], target.scale[d])).pvalue
        for d in range(samples.shape[1])
    )


def _timed_encode(batch, prior, **kwargs):
    start = time.perf_counter()
    result = rn.encode(batch, prior, seed=SEED, **kwargs)
    return result, time.perf_counter() - start


#: Index codes whose mean lengths the sweep reports, per method (``recnumba.coding.index_codes``);
#: zeta's shared information is the target's KL (what a codec trained to a KL budget would plan).
PLAIN_CODES = ("gamma", "delta", "omega", "zeta")
PARTITIONED_CODES = ("delta", "two-part", "zeta")
#: Measured constant C of the two-part bound (see :func:`two_part_bound`): the largest mean excess of
#: partitioned PFR's two-part code over I + E[eps] + log2(I - log2 J + E[eps] + 1) on this sweep was
#: 1.31 bits (1.62 with three standard errors; zeta: -0.25, +0.02), 1,000 encodes per target,
#: ``python benchmarks/code_bound.py`` (2026-12-02, 2-core AMD EPYC VM); tests/test_code_bound.py checks it.
BOUND_CONSTANT_BITS = 1.7


def mean_epsilon_bits(target, prior, log2_bins, num_draws=100_000, seed=0):
    """E_{X~Q}[log2 J - log2 q(X)/p(X)]_+ in bits, by Monte Carlo over ``num_draws`` draws of the target."""
    rng = np.random.default_rng(seed)
    x = target.loc + target.scale * rng.standard_normal((num_draws, target.dim))
    return float(np.mean(np.maximum(log2_bins - log2_ratio(x, target, prior), 0.0)))


def two_part_bound(kl, log2_bins, epsilon, constant=BOUND_CONSTANT_BITS):
    """The paper's bound on the mean two-part code length, I + E[eps] + log2(I - log2 J + E[eps] + 1) + C (bits)."""
    return kl + epsilon + math.log2(max(kl - log2_bins + epsilon, 0.0) + 1.0) + constant


def code_bits(indices, code, partition, kl):
    """Bits of each index on its own under ``code`` (zeta with information = KL), int64 (B,)."""
    from recnumba.coding.index_codes import block_codes, index_bits

    info = kl if code == "zeta" else None
    return index_bits(indices, code, block_codes([partition] * len(indices), info, 0, code))


def pfr_sweep(dinf_values, seeds, progress):
    """Exact PFR rows: one dict per target with plain and partitioned statistics and code lengths."""
    prior = standard_prior(5)
    rows = []
    for dinf in dinf_values:
        target = solve_target(dinf, "dinf")
        kl = float(rn.kl_bits(target, prior))
        partition = rn.Partition.uniform(5, partition_bits(kl))
        batch = repeat_rows(target, seeds)
        epsilon = mean_epsilon_bits(target, prior, partition.bits)
        row = {"dinf": float(rn.dinf_bits(target, prior)), "kl": kl, "log2_bins": partition.bits,
               "epsilon": epsilon, "bound": two_part_bound(kl, partition.bits, epsilon)}
        for name, part, codes in (("plain", None, PLAIN_CODES), ("part", partition, PARTITIONED_CODES)):
            result, seconds = _timed_encode(batch, prior, partition=part, weights="ratio")
            lengths = {code: code_bits(result.index, code, part or rn.Partition.plain(5), kl) for code in codes}
            row[name] = {
                "steps": float(np.mean(result.steps)),
                "bits": float(np.mean(result.bits)),
                "codes": {code: float(np.mean(v)) for code, v in lengths.items()},
                "codes_se": {code: float(np.std(v, ddof=1) / math.sqrt(seeds)) for code, v in lengths.items()},
                "log2_index": float(np.mean(np.log2(result.index.astype(np.float64) + 1.0))),
                "seconds": seconds / seeds,
                "bound_bits": float(np.mean(result.bound_bits)),
            }
            progress.update(1)
        rows.append(row)
    return rows


def orc_bias(kl_bits_target, log2_budgets, encodes, progress, dim=8):
    """ORC rows: mean log2 r(Z), its standard error and the smallest per-dimension KS p-value per budget."""
    prior = standard_prior(dim)
    target = solve_target(kl_bits_target, "kl", dim)
    kl = float(rn.kl_bits(target, prior))
    partition = rn.Partition.uniform(dim, max(0.0, kl - ORC_MARGIN_BITS))
    batch = repeat_rows(target, encodes)
    rows = []
    for log2_n in log2_budgets:
        row = {"log2_n": log2_n}
        for name, part in (("plain", None), ("part", partition)):
            result, seconds = _timed_encode(
                batch, prior, partition=part, method="orc", weights="target", num_samples=1 << log2_n
            )
            log_r = log2_ratio(result.sample, target, prior)
            row[name] = {
                "mean_log2_r": float(np.mean(log_r)),
                "se": float(np.std(log_r, ddof=1) / math.sqrt(encodes)),
                "ks_p": float(min_ks_pvalue(result.sample, target)),
                "seconds": seconds / encodes,
            }
            progress.update(1)
        rows.append(row)
    return {"kl": kl, "dim": dim, "log2_bins": partition.bits, "encodes": encodes, "rows": rows}


def format_pfr_table(rows, seeds):
    header = (
        f"{'KL':>6} {'D_inf':>6} {'log2J':>5} | {'plain steps':>11} {'bits':>5} {'log2n':>5} {'ms/enc':>8} |"
        f" {'part steps':>10} {'bits':>5} {'log2n':>5} {'ms/enc':>7} | {'speedup':>7}"
    )
    lines = [
        f"Exact PFR, 5-D, prior N(0, I), {seeds} encodes per target (means; bits = Elias delta of n+1,"
        " log2n = log2(n+1), n = index)",
        header,
        "-" * len(header),
    ]
    for row in rows:
        plain, part = row["plain"], row["part"]
        lines.append(
            f"{row['kl']:6.2f} {row['dinf']:6.2f} {row['log2_bins']:5.1f} |"
            f" {plain['steps']:11.0f} {plain['bits']:5.1f} {plain['log2_index']:5.1f} {1e3 * plain['seconds']:8.2f} |"
            f" {part['steps']:10.1f} {part['bits']:5.1f} {part['log2_index']:5.1f} {1e3 * part['seconds']:7.2f} |"
            f" {plain['steps'] / part['steps']:6.0f}x"
        )
    return "\n".join(lines)


def format_code_table(rows, seeds):
    columns = [("plain", c) for c in ("delta", "zeta")] + [("part", c) for c in PARTITIONED_CODES]
    names = {"delta": "delta", "two-part": "2-part", "zeta": "zeta"}
    header = (f"{'KL':>6} {'log2J':>5} {'E[eps]':>6} | " + " ".join(f"{'plain ' + names[c]:>11}" for _, c in columns[:2])
              + " | " + " ".join(f"{'part ' + names[c]:>11}" for _, c in columns[2:]) + f" | {'bound':>6}")
    lines = [
        f"Mean index code length (bits), the same exact PFR encodes ({seeds} per target; zeta with information = KL;"
        f" bound = I + E[eps] + log2(I - log2 J + E[eps] + 1) + {BOUND_CONSTANT_BITS:g})",
        header,
        "-" * len(header),
    ]
    for row in rows:
        cells = [f"{row[name]['codes'][code]:11.2f}" for name, code in columns]
        lines.append(f"{row['kl']:6.2f} {row['log2_bins']:5.1f} {row['epsilon']:6.3f} | " + " ".join(cells[:2])
                     + " | " + " ".join(cells[2:]) + f" | {row['bound']:6.2f}")
    return "\n".join(lines)


def format_orc_table(orc):
    header = f"{'log2 N':>6} | {'plain E[log2 r]':>15} {'KS p':>7} | {'part E[log2 r]':>14} {'KS p':>7}"
    lines = [
        f"ORC bias vs budget, {orc['dim']}-D target, KL = {orc['kl']:.2f} bits, partitioned log2 J ="
        f" {orc['log2_bins']:.2f}, {orc['encodes']} encodes each (unbiased: E[log2 r] = KL;"
        f" KS p = smallest per-dimension KS p-value, a fail below {0.001 / orc['dim']:.5f})",
        header,
        "-" * len(header),
    ]
    for row in orc["rows"]:
        plain, part = row["plain"], row["part"]
        lines.append(
            f"{row['log2_n']:6d} | {plain['mean_log2_r']:8.2f} ±{plain['se']:5.2f} {plain['ks_p']:7.1e} |"
            f" {part['mean_log2_r']:7.2f} ±{part['se']:5.2f} {part['ks_p']:7.1e}"
        )
    return "\n".join(lines)


def plot(rows, orc, path):
    """Write the three-panel figure; returns False (with a message) if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: skipping the figure (pip install matplotlib)", file=sys.stderr)
        return False
    dinf = np.array([r["dinf"] for r in rows])
    kl = np.array([r["kl"] for r in rows])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))

    ax = axes[0]
    ax.semilogy(dinf, [r["plain"]["steps"] for r in rows], "o-", label="plain PFR")
    ax.semilogy(dinf, [r["part"]["steps"] for r in rows], "s-", label="partitioned PFR (ratio weights)")
    ax.semilogy(dinf, np.exp2(dinf), "k--", lw=1, label=r"$2^{D_\infty}$")
    ax.set_xlabel(r"$D_\infty[Q\,\|\,P]$ (bits)")
    ax.set_ylabel("mean search steps")
    ax.set_title("Exact PFR runtime, 5-D Gaussians")
    ax.legend()
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[1]
    for name, code, style, label in (("plain", "delta", "o-", r"plain, Elias $\delta$"),
                                     ("plain", "zeta", "o--", r"plain, $\zeta$"),
                                     ("part", "delta", "s-", r"partitioned, Elias $\delta$"),
                                     ("part", "two-part", "^-", r"partitioned, two-part ($j$, then $\delta(k)$)"),
                                     ("part", "zeta", "v-", r"partitioned, $\zeta$")):
        ax.plot(kl, [r[name]["codes"][code] for r in rows], style, label=label)
    ax.plot(kl, [r["bound"] for r in rows], "k:", lw=1.5,
            label=rf"bound $I + E\epsilon + \log_2(I - \log_2 J + E\epsilon + 1) + {BOUND_CONSTANT_BITS:g}$")
    ax.plot(kl, kl, "k--", lw=1, label="y = KL")
    ax.set_xlabel(r"$D_{KL}[Q\,\|\,P]$ (bits)")
    ax.set_ylabel("mean code length (bits)")
    ax.set_title("Code length vs KL, exact PFR")
    ax.legend()
    ax.grid(True, alpha=0.3)

    ax = axes[2]
    log2_n = [r["log2_n"] for r in orc["rows"]]
    for name, marker, label in (("plain", "o-", "plain ORC"), ("part", "s-", "partitioned ORC (target weights)")):
        ax.errorbar(log2_n, [r[name]["mean_log2_r"] for r in orc["rows"]],
                    yerr=[r[name]["se"] for r in orc["rows"]], fmt=marker, capsize=2, label=label)
    ax.axhline(orc["kl"], color="k", ls="--", lw=1, label="KL (unbiased)")
    ax.set_xlabel(r"$\log_2$ budget N")
    ax.set_ylabel(r"mean $\log_2 r(Z)$ of selected samples")
    ax.set_title(f"ORC bias vs budget, {orc['dim']}-D, KL = {orc['kl']:.1f} bits")
    ax.legend()
    ax.grid(True, alpha=0.3)

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def run(out_dir=".", quick=False):
    """Run both experiments, print the tables, write ``recnumba_demo.png``; returns the results."""
    from tqdm import tqdm

    started = time.perf_counter()
    dinf_values = [8, 11, 14, 17, 20] if quick else [8, 10, 12, 14, 16, 18, 20]
    seeds = 24 if quick else 100
    log2_budgets = list(range(4, 17, 4)) if quick else list(range(4, 17, 2))
    encodes = 100
    total = 2 * len(dinf_values) + 2 * len(log2_budgets)
    with tqdm(total=total, desc="recnumba demo", file=sys.stderr, unit="run") as progress:
        # The first call compiles the parallel kernels (a few seconds): keep it out of the timings.
        progress.set_postfix_str("compiling")
        rn.encode(repeat_rows(target_family(1.0), 2), standard_prior(5), seed=0,
                  partition=rn.Partition.uniform(5, 2))
        progress.set_postfix_str("exact PFR")
        rows = pfr_sweep(dinf_values, seeds, progress)
        progress.set_postfix_str("ORC")
        orc = orc_bias(12.0, log2_budgets, encodes, progress)
    print(format_pfr_table(rows, seeds))
    print(f"(partitioned: ratio weights, Partition.uniform(5, floor(KL) - {PFR_MARGIN_BITS});"
          " ms/enc = batch wall time / encodes)")
    print()
    print(format_code_table(rows, seeds))
    print()
    print(format_orc_table(orc))
    print()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.abspath(os.path.join(out_dir, "recnumba_demo.png"))
    if plot(rows, orc, path):
        print(f"figure: {path}")
    print(f"total time {time.perf_counter() - started:.1f} s (including numba compilation)")
    return {"pfr": rows, "orc": orc}


def main(args):
    run(out_dir=args.out, quick=args.quick)
    return 0
