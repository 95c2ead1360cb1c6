"""First-call latency: ``import recnumba`` plus the first batched encodes and decode in a new process.

Each measurement is a fresh Python process that times

* ``import recnumba``;
* the first batched encode: B=64 blocks, 16-D Gaussians, ORC with 2^12 candidates, partitioned
  (2 intervals in each of the first 8 dimensions) and then plain;
* the first decode of the partitioned indices.

"warm": the numba cache on disk is filled (one unmeasured process first), as in every process
after the first on a machine. "cold": ``NUMBA_CACHE_DIR`` points at a new empty folder, so every
kernel is compiled (the first process after installing or after a source change).

    python benchmarks/first_call.py [--warm 5] [--cold 2]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import cpu_model  # noqa: E402

CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import recnumba as rn
t1 = time.perf_counter()
rng = np.random.default_rng(0)
B, D = 64, 16
prior = rn.Gaussian(np.zeros(D), np.ones(D))
target = rn.Gaussian(rng.normal(0, 0.5, (B, D)), rng.uniform(0.3, 0.6, (B, D)))
partition = [2] * 8 + [1] * 8
part = rn.encode(target, prior, seed=1, method="orc", num_samples=1 << 12, partition=partition)
t2 = time.perf_counter()
plain = rn.encode(target, prior, seed=1, method="orc", num_samples=1 << 12)
t3 = time.perf_counter()
decoded = rn.decode(part.index, prior, seed=1, partition=partition)
t4 = time.perf_counter()
assert decoded.tobytes() == part.sample.tobytes()
print(json.dumps({"import": t1 - t0, "encode_partitioned": t2 - t1, "encode_plain": t3 - t2,
                  "decode": t4 - t3, "total": t4 - t0}))
"""


def run_child(env):
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, env=env, timeout=600,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(name, runs):
    keys = runs[0].keys()
    medians = {key: statistics.median(run[key] for run in runs) for key in keys}
    print(f"{name} ({len(runs)} processes, median seconds): "
          + ", ".join(f"{key} {value:.2f}" for key, value in medians.items()))
    return medians


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", type=int, default=5, help="warm-cache processes (default 5)")
    parser.add_argument("--cold", type=int, default=2, help="cold-cache processes (default 2)")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    print(f"python {platform.python_version()}, {cpu_model()}, {os.cpu_count()} CPUs")
    run_child(env)  # fills the cache (not measured)
    warm = summarise("warm", [run_child(env) for _ in range(args.warm)])
    cold_runs = []
    for _ in range(args.cold):
        with tempfile.TemporaryDirectory(prefix="recnumba-cold-cache-") as folder:
            cold_runs.append(run_child(dict(env, NUMBA_CACHE_DIR=folder)))
    cold = summarise("cold", cold_runs) if cold_runs else None
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"cpu": cpu_model(), "cpus": os.cpu_count(), "warm": warm, "cold": cold}, handle, indent=1)


if __name__ == "__main__":
    main()
