"""CPU/GPU agreement and throughput of the CUDA backend, in one run on a machine with a CUDA GPU.

    python benchmarks/gpu/check.py [--out DIR] [--blocks 1024] [--quick]

On the lent GPU machine (see ../shared/device/README.md; numpy 2.5 there needs the carried
numpy 2.4.6 wheel, and constriction/tqdm are carried too):

    python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl \
      && export PYTHONPATH=/tmp/site:$PWD && python3 benchmarks/gpu/check.py --out $OUT

For every case the same inputs are encoded with ``backend="cpu"`` and ``backend="cuda"``:
indices and step counts must be equal, and samples decoded on the GPU must equal the CPU's bit for
bit (compared as uint64 words). Besides the Gaussian cases, one "auto" case per non-Gaussian family
pair (Laplace/Laplace, Uniform/Uniform, Uniform target under a Gaussian prior) checks agreement
on every family's device functions. Then the table: candidate-dimensions per second (B x N x D over
the encode's wall time, compile excluded) on each backend, their ratio, the GPU's share of the
chip's float64 peak (using an estimated float64 operation count per candidate-dimension), encode
latency for 1,024 partitioned 48-bit blocks, and decode throughput. Exit status 1 if any
agreement check fails. Details go to ``gpu_check.json`` under ``--out``.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))

import recnumba as rn  # noqa: E402
from recnumba.api import grid_of  # noqa: E402
from recnumba.backends import cpu as cpu_backend  # noqa: E402
from recnumba.backends import cuda as cuda_backend  # noqa: E402

#: Estimated float64 operations per candidate-dimension of the ORC score (Philox words are integer
#: work): AS241 central branch ~33 (two degree-7 rational polynomials), log-ratio ~10, the
#: quantile's argument and the sum ~5, plus libdevice log for the 15% tail coordinates. An
#: estimate for the "share of peak" column only.
FLOPS_PER_CANDIDATE_DIM = 50
#: Float64 peak of the ordinary (non-tensor-core) units, FMA counted as 2 operations, by device name
#: fragment (first match wins), in operations per second: scalar float64 code cannot go faster.
PEAK_FLOAT64 = {"H200": 34e12, "H100 NVL": 30e12, "H100 PCIe": 26e12, "H100": 34e12, "A100": 9.7e12}


def peak_float64(name):
    for fragment, peak in PEAK_FLOAT64.items():
        if fragment in name:
            return peak
    return math.nan


def gaussian_batch(rng, num_blocks, dim, loc_scale, scale):
    """Standard-normal priors and targets N(m, scale^2) with m ~ N(0, loc_scale^2) per dimension."""
    prior = rn.Gaussian(np.zeros((num_blocks, dim)), np.ones((num_blocks, dim)))
    target = rn.Gaussian(rng.normal(0.0, loc_scale, (num_blocks, dim)), np.full((num_blocks, dim), scale))
    return target, prior


def family_batches(rng, num_blocks, dim):
    """(target, prior) per non-Gaussian family pair, ``num_blocks`` blocks of ``dim`` dimensions.

    Priors with random location and scale; Laplace targets narrower than the prior (bounded ratio),
    Uniform targets inside the Uniform prior's support, and Uniform targets of 1.2-2 prior stds
    under the Gaussian prior (always bounded).
    """
    shape = (num_blocks, dim)
    loc = rng.normal(0.0, 1.0, shape)
    scale = rng.uniform(0.5, 2.0, shape)
    laplace = rn.Laplace(loc + scale * rng.normal(0.0, 0.5, shape), scale * rng.uniform(0.3, 0.7, shape))
    start = loc + scale * rng.uniform(0.0, 0.5, shape)
    uniform = rn.Uniform(start, start + scale * rng.uniform(0.4, 0.5, shape))
    centre = loc + scale * rng.normal(0.0, 0.3, shape)
    half = scale * rng.uniform(0.6, 1.0, shape)
    return {
        "laplace": (laplace, rn.Laplace(loc, scale)),
        "uniform": (uniform, rn.Uniform(loc, loc + scale)),
        "uniform-gaussian": (rn.Uniform(centre - half, centre + half), rn.Gaussian(loc, scale)),
    }


def timed(function):
    start = time.perf_counter()
    value = function()
    return value, time.perf_counter() - start


def same_bits(a, b):
    return bool(np.array_equal(np.ascontiguousarray(a).view(np.uint64), np.ascontiguousarray(b).view(np.uint64)))


def run_case(name, target, prior, seed, options, num_candidates):
    """Encode on both backends; check agreement; return a result row."""
    cpu, cpu_seconds = timed(lambda: rn.encode(target, prior, seed, backend="cpu", **options))
    gpu, gpu_seconds = timed(lambda: rn.encode(target, prior, seed, backend="cuda", **options))
    partition = options.get("partition")
    decoded = rn.decode(gpu.index, prior, seed, partition=partition, backend="cuda")
    mismatched = np.flatnonzero(cpu.index != gpu.index)
    num_blocks, dim = target.shape
    work = num_blocks * num_candidates * dim if num_candidates else float(np.sum(cpu.steps)) * dim
    row = {
        "case": name,
        "blocks": int(num_blocks),
        "dims": int(dim),
        "candidates": int(num_candidates),
        "mean_kl_bits": float(np.mean(rn.kl_bits(target, prior))),
        "index_equal": int(num_blocks - mismatched.size),
        "index_mismatch_blocks": mismatched[:20].tolist(),
        "steps_equal": bool(np.array_equal(cpu.steps, gpu.steps)),
        "samples_equal": same_bits(cpu.sample, gpu.sample),
        "gpu_decode_equal": same_bits(decoded, cpu.sample),
        "exact_equal": bool(np.array_equal(cpu.exact, gpu.exact)),
        "exact_blocks": int(np.sum(cpu.exact)),
        "cpu_seconds": cpu_seconds,
        "gpu_seconds": gpu_seconds,
        "cpu_candidate_dims_per_s": work / cpu_seconds,
        # what the CPU actually scored (its stopping rule skips the rest when the ratio is bounded)
        "cpu_scored_candidate_dims_per_s": float(np.sum(cpu.steps)) * dim / cpu_seconds,
        "gpu_candidate_dims_per_s": work / gpu_seconds,
        "speedup": cpu_seconds / gpu_seconds,
        "mean_steps": float(np.mean(cpu.steps)),
    }
    # Second GPU run with a device synchronisation between phases: where the time goes.
    cuda_backend.PHASE_SECONDS = {}
    try:
        rn.encode(target, prior, seed, backend="cuda", **options)
        row["gpu_phase_seconds"] = cuda_backend.PHASE_SECONDS
    finally:
        cuda_backend.PHASE_SECONDS = None
    row["agree"] = (
        row["index_equal"] == num_blocks and row["steps_equal"] and row["samples_equal"]
        and row["gpu_decode_equal"] and row["exact_equal"]
    )
    return row


def decode_throughput(rng, num_blocks, dim, seed):
    """Decode kernels alone (no API validation), CPU (all threads) vs GPU (incl. transfers)."""
    p_loc = rng.normal(0, 1, (num_blocks, dim))
    p_scale = rng.uniform(0.5, 2.0, (num_blocks, dim))
    grid = grid_of(rn.Partition.uniform(dim, 24))
    prior_tag = rn.Gaussian.prior_tag
    indices = rng.integers(0, 1 << 40, num_blocks, dtype=np.int64)
    block_ids = np.arange(num_blocks, dtype=np.int64)

    def arguments(count):
        return (prior_tag, indices[:count], p_loc[:count], p_scale[:count], grid, np.uint64(seed),
                block_ids[:count])

    cpu = np.empty((num_blocks, dim))
    gpu = np.empty((num_blocks, dim))
    cpu_backend.decode(*arguments(2), cpu[:2])  # compile both outside the timed calls
    cuda_backend.decode(*arguments(2), gpu[:2])
    _, cpu_seconds = timed(lambda: cpu_backend.decode(*arguments(num_blocks), cpu))
    _, gpu_seconds = timed(lambda: cuda_backend.decode(*arguments(num_blocks), gpu))
    return {
        "case": f"decode-{dim}d",
        "blocks": num_blocks,
        "dims": dim,
        "bit_identical": same_bits(cpu, gpu),
        "cpu_blocks_per_s": num_blocks / cpu_seconds,
        "gpu_blocks_per_s": num_blocks / gpu_seconds,
        "speedup": cpu_seconds / gpu_seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="folder for gpu_check.json")
    parser.add_argument("--blocks", type=int, default=1024, help="blocks per batch (default 1024)")
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke test, minutes in the simulator)")
    args = parser.parse_args(argv)
    available, reason = cuda_backend.is_available()
    if not available:
        sys.exit(f"no CUDA GPU ({reason}): this script needs one (or NUMBA_ENABLE_CUDASIM=1 with --quick)")
    name = cuda_backend.device_name()
    blocks = 4 if args.quick else args.blocks
    samples = 64 if args.quick else 1 << 16
    rng = np.random.default_rng(2024)
    seed = 12345

    # Warm-up: compile every kernel (plain, partitioned, PFR) outside the timed runs.
    warm_target, warm_prior = gaussian_batch(rng, 2, 4, 0.5, 0.5)
    for options in (dict(method="orc", num_samples=64), dict(method="pfr", partition=rn.Partition.uniform(4, 2))):
        rn.encode(warm_target, warm_prior, seed, backend="cuda", **options)
        rn.encode(warm_target, warm_prior, seed, backend="cpu", **options)
    rn.decode(np.zeros(2, dtype=np.int64), warm_prior, seed, backend="cuda")

    rows = []
    # Throughput: target std 1.5 > prior std 1 makes the ratio unbounded, so both backends score
    # every candidate (as in the asv ORC benchmarks).
    for dim in ((4,) if args.quick else (16, 32, 64)):
        target, prior = gaussian_batch(rng, blocks, dim, 0.3, 1.5)
        rows.append(run_case(f"orc-plain-{dim}d", target, prior, seed, dict(method="orc", num_samples=samples), samples))
    # Partitioned ORC on ~48-bit blocks (20 dims x ~2.35 bits); log2 J = 40 bits.
    dim = 4 if args.quick else 20
    target, prior = gaussian_batch(rng, blocks, dim, 1.0, 0.2)
    info = rn.kl_bits(target, prior, per_dimension=True).mean(axis=0)
    partition = rn.Partition.from_information(info, 8 if args.quick else 40)
    rows.append(run_case("orc-partitioned-48bit", target, prior, seed,
                         dict(method="orc", num_samples=samples, partition=partition), samples))
    # Exact PFR in rounds (ratio weights), and "auto" (PFR where cheap, else ORC).
    dim = 4 if args.quick else 8
    target, prior = gaussian_batch(rng, blocks, dim, 0.8, 0.35)
    partition = rn.Partition.uniform(dim, 4 if args.quick else 10)
    rows.append(run_case("pfr-partitioned", target, prior, seed, dict(method="pfr", partition=partition), 0))
    rows.append(run_case("auto-partitioned", target, prior, seed,
                         dict(method="auto", num_samples=samples, partition=partition,
                              exact_bound_bits=4 if args.quick else 12), samples))
    # Every non-Gaussian family pair: "auto" on a partition, its exact_bound_bits the median of the
    # blocks' PFR bounds, so that about half the blocks run exact PFR (ratio weights) and the others
    # ORC (target weights): both searches run on each pair's kernels.
    dim = 3 if args.quick else 8
    partition = rn.Partition.uniform(dim, 3 if args.quick else 10)
    family_samples = 32 if args.quick else samples
    for family, (target, prior) in family_batches(rng, blocks, dim).items():
        bounds = rn.encode(target, prior, seed, partition=partition, method="pfr", backend="cpu").bound_bits
        options = dict(method="auto", num_samples=family_samples, partition=partition,
                       exact_bound_bits=float(np.median(bounds)))
        # Compile this pair's kernels outside the timed runs (the simulator compiles nothing).
        for backend in ("cpu",) if cuda_backend.SIMULATOR else ("cuda", "cpu"):
            rn.encode(target[:2], prior[:2], seed, backend=backend, **options)
        rows.append(run_case(f"auto-{family}", target, prior, seed, options, family_samples))
    decode_row = decode_throughput(rng, 1000 if args.quick else 1 << 20, 16, seed)

    peak = peak_float64(name)
    report = {
        "device": name,
        "date": time.strftime("%Y-%m-%d"),
        "host": platform.node(),
        "cpu_threads": os.cpu_count(),
        "numba_threads": int(__import__("recnumba").get_num_threads()),  # the CPU backend's threads
        "peak_float64": peak,
        "flops_per_candidate_dim_estimate": FLOPS_PER_CANDIDATE_DIM,
        "rows": rows,
        "decode": decode_row,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "gpu_check.json"), "w") as handle:
        json.dump(report, handle, indent=2)

    print(f"device: {name}; CPU: {os.cpu_count()} threads; {report['date']}")
    print("cd/s: candidate-dimensions per second, B x N x D over the encode's wall time (PFR: steps);")
    print("cpu scored: what the CPU actually scored per second (it stops early when the ratio is bounded)")
    print(f"{'case':24s} {'blocks':>6s} {'D':>3s} {'agree':>5s} {'idx=':>6s} {'cpu cd/s':>10s} "
          f"{'cpu scored':>10s} {'gpu cd/s':>10s} {'gpu/cpu':>8s} {'gpu s':>7s} {'%peak':>6s}")
    for row in rows:
        share = row["gpu_candidate_dims_per_s"] * FLOPS_PER_CANDIDATE_DIM / peak
        print(f"{row['case']:24s} {row['blocks']:6d} {row['dims']:3d} {str(row['agree']):>5s} "
              f"{row['index_equal']:6d} {row['cpu_candidate_dims_per_s']:10.3g} "
              f"{row['cpu_scored_candidate_dims_per_s']:10.3g} "
              f"{row['gpu_candidate_dims_per_s']:10.3g} {row['speedup']:8.1f} {row['gpu_seconds']:7.3f} "
              f"{100 * share:6.1f}")
    print(f"decode {decode_row['blocks']} blocks x {decode_row['dims']}: bit-identical "
          f"{decode_row['bit_identical']}; CPU {decode_row['cpu_blocks_per_s']:.3g}/s, "
          f"GPU {decode_row['gpu_blocks_per_s']:.3g}/s ({decode_row['speedup']:.1f}x)")
    for row in rows:
        phases = ", ".join(f"{k} {v:.3f}" for k, v in row["gpu_phase_seconds"].items())
        print(f"  {row['case']}: GPU seconds by phase: {phases}")
    print("float32 scoring mode: not offered (scores stay float64)")
    ok = all(row["agree"] for row in rows) and decode_row["bit_identical"]
    print("ALL AGREE" if ok else "DISAGREEMENT: see gpu_check.json")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
