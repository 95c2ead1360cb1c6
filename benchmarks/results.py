"""Measure recnumba on this machine and print Markdown tables for the README.

    python benchmarks/results.py [--quick] [--json PATH] [--orc-margin BITS] [--encodes M]

(a) exact PFR steps, plain vs partitioned, 5-D targets with D_inf = 12, 16, 20 bits;
(b) ORC capacity with N = 2^16 candidates: 16-D targets (means spread over -1..1, one common std
    s < 1 solved for the block KL) from 8 to 64 bits, M independent encodes in one batched call,
    per-dimension KS tests of the decoded samples against Q at the Bonferroni level 1e-3 / D, plain
    ORC vs partitioned ORC (target weights, ``Partition.uniform(16, min(KL - 4, 47))``);
(c) ORC throughput in candidate-dims/s, the numba kernel vs the vectorised numpy reference
    (``recnumba.reference.orc_select``) on the same inputs, with an index cross-check;
(d) decode throughput in blocks/s;
(e) CPU search speed (issue #9, ``benchmarks/cpu_speed.py``): one thread, pinned to the last CPU of the
    process's affinity, interleaved rounds: the chunked search vs a plain-numpy ORC peer, vs today's
    ``core.search`` (revision ``--cpu-speed-old``), cycles per candidate-dimension beside a micro-kernel
    floor, and scaling with N, D, B and log2 J. ``--no-cpu-speed`` skips it.

Full run on the 2-core dev VM: 13 s for (a)-(d) (2026-12-02, idle), about 3 minutes more for (e);
``--quick``: under a minute plus about 30 s for (e).
"""

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time

import numpy as np

try:
    import recnumba as rn
except ImportError:  # run from a checkout without installing: use the working tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import recnumba as rn

from recnumba.demo import log2_ratio, partition_bits, repeat_rows, solve_target
from recnumba import reference

SEED = 2024
KS_LEVEL = 1e-3
ORC_SAMPLES = 1 << 16
ORC_DIM = 16
#: Means of the 16 target dimensions: -1..1, in a fixed shuffled order. (Spread means matter: with one
#: mean in every dimension, all dimensions sit at the same place relative to the prior-quantile interval
#: edges, and pass/fail swings with that alignment rather than with the block KL.)
ORC_MEANS = np.random.default_rng(0).permutation(np.linspace(-1.0, 1.0, ORC_DIM))
#: Partitioned ORC uses log2 J = min(KL - margin, cap). Margins of 4, 8 and 12 bits were tried at
#: KL 24..60 (80 encodes each): all pass the KS check up to 48 bits, and 4 bits gives the least bias
#: (E[log2 r]/KL 0.96-1.0, vs 0.90-0.95 for 8 and 0.75-0.91 for 12).
ORC_MARGIN_BITS = 4.0
#: The cap keeps every index (k - 1) J + j < N J within int64: log2 J <= 63 - log2 N = 47 bits. Larger
#: J overflowed at KL 56-64 ("the index outgrew int64").
ORC_MAX_LOG2_BINS = 63 - 16


def machine_info():
    import numba

    if os.path.dirname(os.path.abspath(__file__)) not in sys.path:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from common import cpu_model

    model = cpu_model()
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": model,
        "cores": os.cpu_count(),
        "threads": rn.get_num_threads(),
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def _prior(dim):
    return rn.Gaussian(np.zeros(dim), np.ones(dim))


# (a) ------------------------------------------------------------------------------------------------


def measure_pfr(dinf_values, encodes, progress):
    prior = _prior(5)
    rows = []
    for dinf in dinf_values:
        target = solve_target(float(dinf), "dinf", 5)
        kl = float(rn.kl_bits(target, prior))
        partition = rn.Partition.uniform(5, partition_bits(kl))
        row = {"dinf": dinf, "kl": kl, "log2_bins": partition.bits}
        for name, part in (("plain", None), ("partitioned", partition)):
            start = time.perf_counter()
            result = rn.encode(repeat_rows(target, encodes), prior, seed=SEED, partition=part)
            seconds = time.perf_counter() - start
            row[name] = {
                "mean_steps": float(np.mean(result.steps)),
                "median_steps": float(np.median(result.steps)),
                "mean_bits": float(np.mean(result.bits)),
                "seconds_per_encode": seconds / encodes,
            }
            progress(f"PFR D_inf={dinf} {name}")
        row["speedup"] = row["plain"]["mean_steps"] / row["partitioned"]["mean_steps"]
        rows.append(row)
    return rows


def pfr_table(rows, encodes):
    lines = [
        f"**Exact PFR, 5-D Gaussian targets, prior N(0, I)** (mean over {encodes} encodes; partitioned: ratio "
        "weights, `Partition.uniform(5, floor(KL) - 2)`; bits: Elias delta of index + 1; ms: batch wall "
        "time / encodes, blocks in parallel)",
        "",
        "| D_inf (bits) | KL (bits) | log2 J | plain steps | partitioned steps | ratio | plain bits |"
        " partitioned bits | plain ms | partitioned ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        p, q = r["plain"], r["partitioned"]
        lines.append(
            f"| {r['dinf']} | {r['kl']:.1f} | {r['log2_bins']:.1f} | {p['mean_steps']:,.0f} | "
            f"{q['mean_steps']:,.0f} | {r['speedup']:,.0f}x | {p['mean_bits']:.1f} | {q['mean_bits']:.1f} | "
            f"{1e3 * p['seconds_per_encode']:.2f} | {1e3 * q['seconds_per_encode']:.2f} |"
        )
    return "\n".join(lines)


# (b) ------------------------------------------------------------------------------------------------


def orc_target(kl_bits, dim=ORC_DIM):
    """Target N(means, s^2 I) with the means of ``ORC_MEANS`` and s < 1 solved for the block KL."""
    from scipy.optimize import brentq

    means = np.resize(ORC_MEANS, dim)
    nats = kl_bits * math.log(2.0)

    def gap(s):
        return dim * math.log(1.0 / s) + (dim * s * s + float(np.sum(means**2))) / 2.0 - dim / 2.0 - nats

    scale = brentq(gap, 1e-300, 1.0 - 1e-12, xtol=1e-300, rtol=1e-15)
    return rn.Gaussian(means, np.full(dim, scale))


def orc_log2_bins(kl, margin, cap):
    return min(cap, max(0.0, kl - margin))


def ks_check(samples, target):
    from scipy import stats

    tests = [stats.kstest(samples[:, d], "norm", args=(target.loc[d], target.scale[d])) for d in range(samples.shape[1])]
    min_p = min(t.pvalue for t in tests)
    return {
        "min_p": float(min_p),
        "max_ks": float(max(t.statistic for t in tests)),
        "passes": bool(min_p > KS_LEVEL / samples.shape[1]),
    }


def orc_run(target, prior, encodes, partition):
    start = time.perf_counter()
    try:
        result = rn.encode(repeat_rows(target, encodes), prior, seed=SEED, partition=partition, method="orc",
                           weights="target", num_samples=ORC_SAMPLES)
    except ValueError as error:  # e.g. an index outgrowing int64
        return {"error": str(error), "passes": False}
    seconds = time.perf_counter() - start
    decoded = rn.decode(result.index, prior, seed=SEED, partition=partition)
    if not np.array_equal(decoded, result.sample):
        raise RuntimeError("decode does not reproduce the encoder's samples")
    kl = float(rn.kl_bits(target, prior))
    row = ks_check(decoded, target)
    row.update({
        "log2_r_over_kl": float(np.mean(log2_ratio(decoded, target, prior)) / kl),
        "mean_log2_index": float(np.mean(np.log2(result.index.astype(np.float64) + 1.0))),
        "mean_steps": float(np.mean(result.steps)),
        "seconds": seconds,
    })
    return row


def measure_orc(kl_values, encodes, margin, cap, progress):
    prior = _prior(ORC_DIM)
    rows = []
    plain_failures = 0
    for kl in kl_values:
        target = orc_target(kl)
        row = {"kl": kl}
        if plain_failures >= 2:  # plain ORC failed at two smaller block sizes in a row: skip
            row["plain"] = {"skipped": True, "passes": False}
        else:
            row["plain"] = orc_run(target, prior, encodes, None)
            plain_failures = 0 if row["plain"]["passes"] else plain_failures + 1
        progress(f"ORC KL={kl} plain")
        partition = rn.Partition.uniform(ORC_DIM, orc_log2_bins(kl, margin, cap))
        row["log2_bins"] = partition.bits
        row["partitioned"] = orc_run(target, prior, encodes, partition)
        progress(f"ORC KL={kl} partitioned")
        rows.append(row)
    return rows


def largest_passing(rows, name, max_bias=None):
    """Largest block KL whose KS check passes (and, with ``max_bias``, |E[log2 r]/KL - 1| <= max_bias)."""
    passing = [
        r["kl"] for r in rows
        if r[name].get("passes") and (max_bias is None or abs(r[name]["log2_r_over_kl"] - 1.0) <= max_bias)
    ]
    return max(passing) if passing else None


def orc_table(rows, encodes, margin, cap):
    def cell(entry):
        if entry.get("skipped"):
            return "skipped", "", ""
        if "error" in entry:
            return "error", "", ""
        verdict = "pass" if entry["passes"] else "FAIL"
        return f"{verdict} (p={entry['min_p']:.1g})", f"{entry['log2_r_over_kl']:.2f}", f"{entry['mean_log2_index']:.1f}"

    lines = [
        f"**ORC capacity, N = 2^16 candidates, 16-D blocks** ({encodes} encodes per block size; pass: every "
        f"per-dimension KS p-value > {KS_LEVEL:g}/16; E[log2 r]/KL is 1 for exact samples; partitioned: target "
        f"weights, `Partition.uniform(16, min(KL - {margin:g}, {cap:g}))`)",
        "",
        "| block KL (bits) | plain KS | plain E[log2 r]/KL | partitioned log2 J | partitioned KS |"
        " partitioned E[log2 r]/KL | partitioned mean log2(n+1) |",
        "|---:|---|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        plain_ks, plain_bias, _ = cell(r["plain"])
        part_ks, part_bias, part_len = cell(r["partitioned"])
        lines.append(
            f"| {r['kl']:g} | {plain_ks} | {plain_bias} | {r['log2_bins']:.1f} | {part_ks} | {part_bias} | {part_len} |"
        )
    plain_best, part_best = largest_passing(rows, "plain"), largest_passing(rows, "partitioned")
    plain_tight, part_tight = largest_passing(rows, "plain", 0.1), largest_passing(rows, "partitioned", 0.1)
    lines += [
        "",
        f"Largest passing block KL: plain ORC {plain_best} bits, partitioned ORC {part_best} bits. "
        f"Also requiring E[log2 r]/KL within 0.1 of 1: plain {plain_tight} bits, partitioned {part_tight} bits.",
    ]
    return "\n".join(lines)


# (c) and (d) ----------------------------------------------------------------------------------------


def throughput_case(partition, blocks=64, dim=16):
    """Standardised targets with an unbounded ratio (std 1.5 > 1), so ORC scores every candidate."""
    rng = np.random.default_rng(SEED)
    target = rn.Gaussian(rng.normal(0.0, 0.3, size=(blocks, dim)), np.full((blocks, dim), 1.5))
    part = rn.Partition.plain(dim) if partition == "plain" else rn.Partition.uniform(dim, 16)
    return target, _prior(dim), part


def measure_throughput(numpy_blocks, samples, repeats, progress):
    rows = []
    for partition in ("plain", "partitioned"):
        target, prior, part = throughput_case(partition)
        blocks, dim = target.shape

        def run_numba():
            return rn.encode(target, prior, seed=SEED, partition=part, method="orc", weights="target",
                             num_samples=samples)

        result = run_numba()
        if not np.all(result.steps == samples):
            raise RuntimeError("throughput case stopped early: not every candidate was scored")
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            run_numba()
            best = min(best, time.perf_counter() - start)
        numba_rate = blocks * dim * samples / best
        start = time.perf_counter()
        indices = [
            reference.orc_select(target.loc[b], target.scale[b], part.intervals, "target", SEED, b, samples)
            for b in range(numpy_blocks)
        ]
        numpy_seconds = time.perf_counter() - start
        numpy_rate = numpy_blocks * dim * samples / numpy_seconds
        rows.append({
            "partition": partition,
            "log2_bins": part.bits,
            "blocks": blocks,
            "numpy_blocks": numpy_blocks,
            "dim": dim,
            "samples": samples,
            "numba_rate": numba_rate,
            "numpy_rate": numpy_rate,
            "ratio": numba_rate / numpy_rate,
            "same_indices": bool(np.array_equal(indices, result.index[:numpy_blocks])),
            "threads": rn.get_num_threads(),
        })
        progress(f"throughput {partition}")
    return rows


def measure_decode(blocks, repeats, progress):
    rows = []
    prior = _prior(16)
    rng = np.random.default_rng(SEED)
    for name, partition in (("plain", rn.Partition.plain(16)), ("2^32 bins", rn.Partition.uniform(16, 32))):
        indices = rng.integers(0, 1 << 40, size=blocks, dtype=np.int64)
        rn.decode(indices[:2], prior, seed=SEED, partition=partition)
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            rn.decode(indices, prior, seed=SEED, partition=partition)
            best = min(best, time.perf_counter() - start)
        rows.append({"partition": name, "blocks": blocks, "dim": 16, "blocks_per_s": blocks / best})
    progress("decode")
    return rows


def throughput_table(rows, decode_rows):
    lines = [
        f"**ORC throughput** (16-D blocks, 2^{int(math.log2(rows[0]['samples']))} candidates each, all scored; "
        f"numba: {rows[0]['blocks']} blocks in parallel on {rows[0]['threads']} threads; numpy reference: "
        f"{rows[0]['numpy_blocks']} block(s) one at a time, single-threaded)",
        "",
        "| partition | numba (candidate-dims/s) | numpy (candidate-dims/s) | numba / numpy | per thread | same indices |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        name = "plain" if r["partition"] == "plain" else "2^%.0f bins" % r["log2_bins"]
        lines.append(
            f"| {name} | {r['numba_rate']:.3g} |"
            f" {r['numpy_rate']:.3g} | {r['ratio']:.1f}x | {r['ratio'] / r['threads']:.1f}x | {r['same_indices']} |"
        )
    lines += ["", "**Decode** (16-D blocks, one batched call)", "", "| partition | blocks/s |", "|---|---:|"]
    for r in decode_rows:
        lines.append(f"| {r['partition']} | {r['blocks_per_s']:.3g} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer block sizes and encodes (~1-2 min)")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH as JSON")
    parser.add_argument("--orc-margin", type=float, default=ORC_MARGIN_BITS,
                        help=f"partitioned ORC uses log2 J = min(KL - margin, cap) (default margin {ORC_MARGIN_BITS:g})")
    parser.add_argument("--orc-cap", type=float, default=ORC_MAX_LOG2_BINS,
                        help=f"upper limit on log2 J for partitioned ORC (default {ORC_MAX_LOG2_BINS:g})")
    parser.add_argument("--encodes", type=int, help="ORC encodes per block size (default 150, quick 60)")
    parser.add_argument("--no-cpu-speed", action="store_true", help="skip (e), the CPU search speed section")
    parser.add_argument("--cpu-speed-old", default=None,
                        help="revision whose core.search is the 'old' kernel of (e) (default: cpu_speed's)")
    args = parser.parse_args(argv)

    started = time.perf_counter()

    def progress(message):
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    info = machine_info()
    if args.quick:
        pfr_encodes, dinf_values = 8, [12, 16, 20]
        orc_encodes, kl_values = args.encodes or 60, [8, 16, 24, 32, 48]
        numpy_blocks, repeats, decode_blocks = 1, 1, 50_000
    else:
        pfr_encodes, dinf_values = 16, [12, 16, 20]
        orc_encodes, kl_values = args.encodes or 150, [8, 12, 16, 20, 24, 32, 40, 48, 56, 60, 64]
        numpy_blocks, repeats, decode_blocks = 4, 3, 200_000

    # Compile the parallel kernels first (a few seconds), outside every measurement.
    rn.encode(repeat_rows(orc_target(8.0, 5), 2), _prior(5), seed=0, partition=rn.Partition.uniform(5, 2))
    progress("compiled")
    results = {"machine": info, "quick": args.quick}
    results["pfr"] = measure_pfr(dinf_values, pfr_encodes, progress)
    results["throughput"] = measure_throughput(numpy_blocks, 1 << 14, repeats, progress)
    results["decode"] = measure_decode(decode_blocks, repeats, progress)
    results["orc"] = measure_orc(kl_values, orc_encodes, args.orc_margin, args.orc_cap, progress)
    results["orc_margin_bits"] = args.orc_margin
    results["orc_max_log2_bins"] = args.orc_cap
    results["largest_passing_kl"] = {
        "plain": largest_passing(results["orc"], "plain"),
        "partitioned": largest_passing(results["orc"], "partitioned"),
        "plain_bias_within_0.1": largest_passing(results["orc"], "plain", 0.1),
        "partitioned_bias_within_0.1": largest_passing(results["orc"], "partitioned", 0.1),
    }
    if not args.no_cpu_speed:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import cpu_speed

        pin = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        results["cpu_speed"] = cpu_speed.measure(args.quick, None, args.cpu_speed_old or cpu_speed.OLD_REVISION,
                                                 progress, pin)
    results["seconds"] = time.perf_counter() - started

    load = info["load_average"]
    print(f"Measured {info['date']} on {info['cpu']}, {info['cores']} cores, {info['threads']} recnumba "
          f"threads; Python {info['python']}, numba {info['numba']}, numpy {info['numpy']}"
          + (f"; load average at start {load[0]:.1f}" if load else "")
          + (" (quick run)" if args.quick else ""))
    print()
    print(pfr_table(results["pfr"], pfr_encodes))
    print()
    print(orc_table(results["orc"], orc_encodes, args.orc_margin, args.orc_cap))
    print()
    print(throughput_table(results["throughput"], results["decode"]))
    print()
    if "cpu_speed" in results:
        print("**CPU search speed (issue #9)** (`benchmarks/cpu_speed.py`)")
        print()
        print(cpu_speed.tables(results["cpu_speed"]))
        print()
    print(f"(total {results['seconds']:.0f} s)")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
