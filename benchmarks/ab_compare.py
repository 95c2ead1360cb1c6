"""Same-run A/B timing of this checkout against an older revision, on the timed rows of ``benchmarks/results.py``.

    python benchmarks/ab_compare.py [--old REV] [--rounds 11] [--json PATH]

The old revision's ``recnumba`` package is extracted with ``git archive`` into a temporary folder
and renamed ``recnumba_old`` (imports rewritten), so both versions run in *one* process, on one
numba thread, alternating call by call (old, new / new, old); each side keeps its best CPU time
(``time.process_time``) over the rounds. On a shared, noisy machine this is far steadier than
comparing separate processes. Every workload also checks that both versions return the same
indices (or samples). Pin the process for steadier numbers: ``taskset -c 1 python ...``.

Workloads (public API only; each short, so that the best of many rounds finds quiet moments):
exact PFR (5-D, D_inf 12 and 16 bits, plain / partitioned); ORC with
2^16 candidates on 16-D targets (every candidate scored, plain and 2^16 bins; bounded ratio with
early stops); decode of 20,000 16-D blocks (plain and 2^32 bins).
"""

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from common import extract_old  # noqa: E402


def workloads(rn):
    from recnumba.demo import solve_target

    prior5 = rn.Gaussian(np.zeros(5), np.ones(5))
    t16 = solve_target(16.0, "dinf", 5)
    t12 = solve_target(12.0, "dinf", 5)
    t16 = rn.Gaussian(np.tile(t16.loc, (4, 1)), np.tile(t16.scale, (4, 1)))
    t12 = rn.Gaussian(np.tile(t12.loc, (40, 1)), np.tile(t12.scale, (40, 1)))
    part12 = rn.Partition.uniform(5, 6)
    rng = np.random.default_rng(1)
    prior16 = rn.Gaussian(np.zeros(16), np.ones(16))
    unbounded = rn.Gaussian(rng.normal(0.0, 0.3, size=(16,)), np.full((16,), 1.5))
    bounded = rn.Gaussian(rng.normal(0.0, 0.5, size=(16,)), np.full((16,), 0.6))
    bins16, bins32 = rn.Partition.uniform(16, 16), rn.Partition.uniform(16, 32)
    indices = rng.integers(0, 1 << 40, size=20000, dtype=np.int64)
    orc = dict(method="orc", num_samples=1 << 16)
    return {
        "pfr D_inf=16 plain (4 blocks)": lambda: rn.encode(t16, prior5, seed=2024).index,
        "pfr D_inf=12 plain (40 blocks)": lambda: rn.encode(t12, prior5, seed=2024).index,
        "pfr D_inf=12 partitioned (40 blocks)": lambda: rn.encode(t12, prior5, seed=2024, partition=part12).index,
        "orc all scored plain": lambda: rn.encode(unbounded, prior16, seed=2024, **orc).index,
        "orc all scored 2^16 bins": lambda: rn.encode(unbounded, prior16, seed=2024, partition=bins16, **orc).index,
        "orc bounded ratio 2^16 bins": lambda: rn.encode(bounded, prior16, seed=2024, partition=bins16, **orc).index,
        "decode 20k blocks plain": lambda: rn.decode(indices, prior16, seed=2024),
        "decode 20k blocks 2^32 bins": lambda: rn.decode(indices, prior16, seed=2024, partition=bins32),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default="a7fbbb0", help="git revision to compare against (default: the "
                        "last commit before the family refactor)")
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        extract_old(args.old, folder)
        sys.path.insert(0, folder)
        sys.path.insert(0, ROOT)
        import recnumba as new
        import recnumba_old as old

        sides = {"old": workloads(old), "new": workloads(new)}
        best = {name: {"old": np.inf, "new": np.inf} for name in sides["old"]}
        for name in best:  # compile, and check both give the same answer
            answers = [np.asarray(sides[side][name]()) for side in ("old", "new")]
            if not np.array_equal(answers[0].view(np.uint64), answers[1].view(np.uint64)):
                raise SystemExit(f"{name}: the two versions disagree")
        for round_number in range(args.rounds):  # (single-threaded encodes: the batch kernels' threads
            # are pinned to one by NUMBA_NUM_THREADS=1)
            order = ("old", "new") if round_number % 2 == 0 else ("new", "old")
            for name in best:
                for side in order:
                    start = time.process_time()
                    sides[side][name]()
                    best[name][side] = min(best[name][side], time.process_time() - start)
    print(f"| workload (one thread, one process, best of {args.rounds}) | {args.old} (s) | this tree (s) | ratio |")
    print("|---|---|---|---|")
    for name, times in best.items():
        print(f"| {name} | {times['old']:.4f} | {times['new']:.4f} | {times['new'] / times['old']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"old": args.old, "rounds": args.rounds, "best_seconds": best}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
