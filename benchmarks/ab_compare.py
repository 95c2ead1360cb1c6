"""Same-run A/B timing of two recnumba checkouts on the timed rows of ``benchmarks/results.py``.

    python benchmarks/ab_compare.py OLD_CHECKOUT NEW_CHECKOUT [--rounds 5] [--json PATH]

Each round runs one worker process per checkout, alternating the order (A B, B A, ...), pinned to
one CPU and one numba thread (``taskset``, ``NUMBA_NUM_THREADS=1``), so both see the same machine
state; every worker compiles first, then times each workload several times and keeps its best.
The table reports, per workload, the median over rounds of each side's best time and the ratio
new / old (below 1.05 means within 5%). The workloads (public API only, so any version works):

* exact PFR, 5-D targets with D_inf = 12 / 16 / 20 bits, plain and partitioned (results.py (a));
* ORC throughput, 16-D, 2^16 candidates, every candidate scored, plain and 2^16 bins (results.py (c));
* decode, 16-D, plain and 2^32 bins (results.py (d)).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys

WORKER = r'''
import json, math, sys, time
import numpy as np
import recnumba as rn
from recnumba.demo import partition_bits, repeat_rows, solve_target

SEED = 2024
out = {}

def best_of(fn, repeats):
    fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best

prior5 = rn.Gaussian(np.zeros(5), np.ones(5))
for dinf, encodes in ((12, 40), (16, 10), (20, 2)):
    target = solve_target(float(dinf), "dinf", 5)
    part = rn.Partition.uniform(5, partition_bits(float(rn.kl_bits(target, prior5))))
    batch = repeat_rows(target, encodes)
    for name, p in (("plain", None), ("partitioned", part)):
        if name == "plain" and dinf == 20:
            batch_used = repeat_rows(target, 1)
        else:
            batch_used = batch
        out[f"pfr D_inf={dinf} {name}"] = best_of(
            lambda: rn.encode(batch_used, prior5, seed=SEED, partition=p), 3)

rng = np.random.default_rng(SEED)
prior16 = rn.Gaussian(np.zeros(16), np.ones(16))
target = rn.Gaussian(rng.normal(0.0, 0.3, size=(8, 16)), np.full((8, 16), 1.5))
for name, part in (("plain", rn.Partition.plain(16)), ("2^16 bins", rn.Partition.uniform(16, 16))):
    out[f"orc all scored {name}"] = best_of(
        lambda: rn.encode(target, prior16, seed=SEED, partition=part, method="orc", weights="target",
                          num_samples=1 << 16), 3)
bounded = rn.Gaussian(rng.normal(0.0, 0.5, size=(8, 16)), np.full((8, 16), 0.6))
out["orc bounded ratio 2^16 bins"] = best_of(
    lambda: rn.encode(bounded, prior16, seed=SEED, partition=rn.Partition.uniform(16, 16), method="orc",
                      weights="target", num_samples=1 << 16), 3)
indices = rng.integers(0, 1 << 40, size=20000, dtype=np.int64)
for name, part in (("plain", rn.Partition.plain(16)), ("2^32 bins", rn.Partition.uniform(16, 32))):
    out[f"decode 20k blocks {name}"] = best_of(lambda: rn.decode(indices, prior16, seed=SEED, partition=part), 5)
json.dump(out, sys.stdout)
'''


def run_worker(checkout):
    env = dict(os.environ, PYTHONPATH=os.path.abspath(checkout), NUMBA_NUM_THREADS="1",
               NUMBA_CACHE_DIR=os.path.join(os.path.abspath(checkout), ".ab_numba_cache"))
    command = [sys.executable, "-c", WORKER]
    if shutil.which("taskset"):
        command = ["taskset", "-c", "0"] + command
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=True, cwd="/")
    return json.loads(result.stdout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    times = {"old": [], "new": []}
    for round_number in range(args.rounds):
        order = ("old", "new") if round_number % 2 == 0 else ("new", "old")
        for side in order:
            times[side].append(run_worker(getattr(args, side)))
        print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    rows = []
    print("| workload | old (s, median of bests) | new (s) | new / old |")
    print("|---|---|---|---|")
    for name in times["old"][0]:
        old = statistics.median(t[name] for t in times["old"])
        new = statistics.median(t[name] for t in times["new"])
        rows.append({"workload": name, "old_seconds": old, "new_seconds": new, "ratio": new / old})
        print(f"| {name} | {old:.4f} | {new:.4f} | {new / old:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rounds": args.rounds, "rows": rows, "raw": times}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
