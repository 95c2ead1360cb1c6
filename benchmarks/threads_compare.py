"""Batched encode on 1 and 2 threads: recnumba's thread pool (chunked search) vs the old prange backend.

    python benchmarks/threads_compare.py [--old-path DIR] [--repeats 2]

Each measurement runs in a fresh process (the two backends' thread layers never share a process):
B = 256 blocks of a 16-D Gaussian, ORC with 2^12 candidates, ``Partition.uniform(16, 12)``, the
median of 7 calls after one warm-up call. The old package is the ``recnumba_old`` extracted by
``benchmarks/cpu_speed.py`` (default ``~/.cache/recnumba/bench_old/3e5240e67d2b``). Prints one line
per process: backend, threads, median ms, and a checksum of the indices (equal for both).
"""

import argparse
import os
import subprocess
import sys

CHILD = r"""
import sys, time
import numpy as np
which, threads, old_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if which == "old":
    sys.path.insert(0, old_path)
    import numba
    import recnumba_old as rn
    numba.set_num_threads(threads)
else:
    import recnumba as rn
    rn.set_num_threads(threads)
B, D = 256, 16
rng = np.random.default_rng(0)
prior = rn.Gaussian(np.zeros((B, D)), np.ones((B, D)))
target = rn.Gaussian(rng.normal(0, 0.5, (B, D)), np.full((B, D), 0.9))
options = dict(method="orc", num_samples=2**12, partition=rn.Partition.uniform(D, 12))
rn.encode(target, prior, seed=1, **options)
times = []
for _ in range(7):
    start = time.perf_counter()
    result = rn.encode(target, prior, seed=1, **options)
    times.append(time.perf_counter() - start)
print(f"{which:4s} threads={threads} median {np.median(times) * 1e3:7.1f} ms  checksum {int(result.index.sum() % 100003)}")
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-path", default=os.path.expanduser("~/.cache/recnumba/bench_old/3e5240e67d2b"))
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not os.path.isdir(os.path.join(args.old_path, "recnumba_old")):
        sys.exit(f"no recnumba_old in {args.old_path}: run benchmarks/cpu_speed.py --quick first")
    for _ in range(args.repeats):
        for threads in (1, 2):
            for which in ("new", "old"):
                subprocess.run([sys.executable, "-c", CHILD, which, str(threads), args.old_path], check=True)


if __name__ == "__main__":
    main()
