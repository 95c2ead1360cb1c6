"""CPU vs CUDA-backend comparisons, run by ``tests/test_cuda.py`` in a subprocess under the simulator.

``NUMBA_ENABLE_CUDASIM=1`` must be set before numba is first imported, which pytest's process has
already done; hence a separate interpreter. Prints one JSON object. Sizes are tiny: the simulator
runs every GPU thread in Python.
"""

import json
import sys

import numpy as np

import recnumba as rn
from recnumba.backends import cuda as cuda_kernels


def bits_equal(a, b):
    return bool(np.array_equal(np.ascontiguousarray(a).view(np.uint64), np.ascontiguousarray(b).view(np.uint64)))


def compare(target, prior, seed, options):
    cpu = rn.encode(target, prior, seed, backend="cpu", **options)
    gpu = rn.encode(target, prior, seed, backend="cuda", **options)
    decoded = rn.decode(gpu.index, prior, seed, partition=options.get("partition"), backend="cuda")
    return {
        "cpu_index": np.asarray(cpu.index).tolist(),
        "gpu_index": np.asarray(gpu.index).tolist(),
        "cpu_steps": np.asarray(cpu.steps).tolist(),
        "gpu_steps": np.asarray(gpu.steps).tolist(),
        "cpu_exact": np.asarray(cpu.exact).tolist(),
        "gpu_exact": np.asarray(gpu.exact).tolist(),
        "bound_equal": bits_equal(cpu.bound_bits, gpu.bound_bits),
        "sample_equal": bits_equal(cpu.sample, gpu.sample),
        "gpu_decode_equal": bits_equal(decoded, cpu.sample),
    }


def record_launches():
    """Check every launch configuration: numba-cuda's real launcher accepts only Python ints
    (np.int64 grid sizes crash on a GPU), while the simulator accepts anything."""
    kernel_class = type(cuda_kernels._draw_kernel)
    original = kernel_class.__getitem__
    log = {"launches": 0, "not_int": []}

    def checked(self, configuration):
        log["launches"] += 1
        for part in configuration[:2]:
            for value in part if isinstance(part, tuple) else (part,):
                if type(value) is not int:
                    log["not_int"].append(repr(value))
        return original(self, configuration)

    kernel_class.__getitem__ = checked
    return log


def family_cases(rng, blocks, dim=3):
    """(target, prior) per non-Gaussian family pair, B blocks of ``dim`` dimensions."""
    loc = rng.normal(0, 1, (blocks, dim))
    scale = rng.uniform(0.5, 2.0, (blocks, dim))
    laplace_prior = rn.Laplace(loc, scale)
    laplace = rn.Laplace(loc + scale * rng.normal(0, 0.5, (blocks, dim)), scale * rng.uniform(0.3, 0.7, (blocks, dim)))
    low = rng.uniform(0.0, 0.5, (blocks, dim))
    uniform_prior = rn.Uniform(loc, loc + scale)
    start = loc + scale * low
    uniform = rn.Uniform(start, start + scale * rng.uniform(0.4, 0.5, (blocks, dim)))
    gaussian_prior = rn.Gaussian(loc, scale)
    centre = loc + scale * rng.normal(0, 0.3, (blocks, dim))
    half = scale * rng.uniform(0.6, 1.0, (blocks, dim))
    return {
        "laplace": (laplace, laplace_prior),
        "uniform": (uniform, uniform_prior),
        "uniform-gaussian": (rn.Uniform(centre - half, centre + half), gaussian_prior),
    }


def main():
    assert cuda_kernels.SIMULATOR, "run with NUMBA_ENABLE_CUDASIM=1"
    launches = record_launches()
    rng = np.random.default_rng(7)
    blocks, dim = 4, 4
    prior = rn.Gaussian(rng.normal(0, 1, (blocks, dim)), rng.uniform(0.5, 2.0, (blocks, dim)))
    wide = rn.Gaussian(prior.loc + prior.scale * rng.normal(0, 1, (blocks, dim)), prior.scale * 0.5)
    close = rn.Gaussian(prior.loc + prior.scale * rng.normal(0, 0.3, (blocks, dim)), prior.scale * 0.8)
    partition = rn.Partition.uniform(dim, 3)
    results = {
        "orc-plain": compare(wide, prior, 11, dict(method="orc", num_samples=32)),
        "orc-partitioned": compare(wide, prior, 12, dict(method="orc", num_samples=32, partition=partition)),
        "orc-partitioned-ratio": compare(
            wide, prior, 13, dict(method="orc", num_samples=32, partition=partition, weights="ratio")
        ),
        "pfr-plain": compare(close, prior, 14, dict(method="pfr")),
        "pfr-partitioned": compare(wide, prior, 15, dict(method="pfr", partition=partition)),
        # Longer than the simulator's largest GPU round (2^8 steps): those blocks finish on the CPU.
        "pfr-beyond-gpu-rounds": compare(wide, prior, 18, dict(method="pfr")),
        # A huge ORC budget with a bounded ratio: the CPU stops after a few steps, and so must the
        # GPU's rounds (no N-sized device arrays).
        "orc-huge-budget": compare(close, prior, 21, dict(method="orc", num_samples=1 << 40)),
        "auto": compare(wide, prior, 16, dict(method="auto", num_samples=32, partition=partition,
                                               exact_bound_bits=5.0)),
    }
    # Every family pair: ORC (target weights), exact PFR (ratio weights, partitioned; plain) and auto.
    for name, (family_target, family_prior) in family_cases(rng, blocks).items():
        family_partition = rn.Partition.uniform(family_prior.dim, 3)
        results[f"{name}-orc"] = compare(family_target, family_prior, 31, dict(method="orc", num_samples=32, partition=family_partition))
        results[f"{name}-pfr"] = compare(family_target, family_prior, 32, dict(method="pfr", partition=family_partition))
        results[f"{name}-pfr-plain"] = compare(family_target, family_prior, 33, dict(method="pfr"))
        results[f"{name}-auto"] = compare(family_target, family_prior, 34, dict(method="auto", num_samples=32, partition=family_partition,
                                                                   exact_bound_bits=4.0))
    indices = rng.integers(0, 1 << 40, blocks, dtype=np.int64)
    cpu = rn.decode(indices, prior, 17, partition=rn.Partition.uniform(dim, 24), backend="cpu")
    gpu = rn.decode(indices, prior, 17, partition=rn.Partition.uniform(dim, 24), backend="cuda")
    results["decode-random-indices"] = {"sample_equal": bits_equal(cpu, gpu)}
    # More blocks than threads in the grid: the grid-stride loops must cover them all.
    cuda_kernels.MAX_GRID = 1
    many = 3 * cuda_kernels.THREADS + 5
    many_prior = rn.Gaussian(rng.normal(0, 1, (many, 2)), rng.uniform(0.5, 2.0, (many, 2)))
    many_indices = rng.integers(0, 1 << 20, many, dtype=np.int64)
    cpu = rn.decode(many_indices, many_prior, 19, partition=rn.Partition.uniform(2, 8), backend="cpu")
    gpu = rn.decode(many_indices, many_prior, 19, partition=rn.Partition.uniform(2, 8), backend="cuda")
    many_target = rn.Gaussian(many_prior.loc, many_prior.scale * 0.7)
    orc = compare(many_target, many_prior, 20, dict(method="orc", num_samples=4, partition=rn.Partition.uniform(2, 2)))
    cuda_kernels.MAX_GRID = 1 << 16
    results["grid-stride"] = {"decode_equal": bits_equal(cpu, gpu), "orc": orc}
    # The per-block bitonic sort behind local indices, across the shared-memory/global boundary
    # (the simulator's chunk is 64 keys).
    sorted_ok = []
    for length in (2, 64, 256):
        keys = rng.integers(0, 50, (3, length)).astype(np.int64)  # many equal keys
        device_keys = cuda_kernels.cuda.to_device(keys)
        cuda_kernels._sort_rows(device_keys, 3, length)
        sorted_ok.append(bool(np.array_equal(device_keys.copy_to_host(), np.sort(keys, axis=1))))
    results["sort"] = {"rows_sorted": sorted_ok}
    # Arrival times: running sums that never decrease, including across chunk seams.
    increments = rng.exponential(1.0, (2, 3 * cuda_kernels.THREADS + 7))
    increments[:, ::5] = 1e-300  # steps far below an ulp of the running sum
    device = cuda_kernels.cuda.to_device(increments)
    cuda_kernels._arrival_kernel[1, cuda_kernels.THREADS](device, np.int64(increments.shape[1]))
    arrivals = device.copy_to_host()
    results["arrivals"] = {
        "non_decreasing": bool(np.all(np.diff(arrivals, axis=1) >= 0)),
        "max_relative_error": float(np.max(np.abs(arrivals / np.cumsum(increments, axis=1) - 1))),
    }
    results["launches"] = launches
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
