"""CPU search speed (issue #9): the chunked search against a numpy peer, today's kernel and a floor.

    taskset -c 1 python benchmarks/cpu_speed.py [--quick] [--json PATH] [--old REV] [--rounds R]

One thread, one process, every comparison timed in interleaved rounds (A, B / B, A, ...) and
reported as the median per-call CPU time (``time.process_time``) over the rounds. On a shared,
noisy machine pin the process (``taskset -c 1``). Everything is compiled, and old and new are
checked to return the same indices and steps, before any timing.

1. **Plain ORC, every candidate scored, vs a numpy peer.** 16-D Gaussian target (std 0.999, means
   spread over -1..1, prior N(0, I)): its density ratio is bounded but its bound (~1,500 nats) is
   far above anything N = 2^16 arrivals reach, so neither the stopping rule nor pruning fires
   (checked: steps == N). The peer is ORC as a user writes it in numpy: per block a fresh N x D
   table ``rng.standard_normal((N, D))``, the log ratio by broadcasting, ordered exponential
   arrivals (cumsum of Exp(1) N / (N - i)), argmin. Also partitioned ORC with 2^16 bins
   (``Partition.uniform(16, 16)``, target weights) against the same peer.
2. **New vs today's kernel.** The chunked search (``recnumba.search.chunked.search``) against
   ``core.search`` of an older revision (default 3e5240e, the CPU backend's kernel before the
   chunked search), extracted with ``git archive`` as package ``recnumba_old`` (as
   ``benchmarks/ab_compare.py`` does) so both run in this process: exact PFR steps/s (5-D and 16-D
   targets, D_inf 12 and 16 bits), plain ORC and partitioned ORC candidate-dims/s.
3. **Cycles per candidate-dimension and a micro-kernel floor.** Each lane kernel timed alone over
   256 lanes, repeated inside a compiled loop: ``philox.shared_uniform_lanes`` (one call: two
   dimensions), ``protocol.std_quantiles`` (Gaussian prior), ``protocol.add_log_ratios`` (Gaussian
   pair), and the arrival time (private uniform + two libm logs per candidate, amortised over D).
   Floor = their sum per candidate-dimension; cycles = seconds x the nominal clock ("cpu MHz" of
   /proc/cpuinfo, else lscpu's max MHz).
4. **Scaling** of the cost per candidate-dimension with N (2^10..2^20), D (2..64), B (blocks per
   ``rn.encode`` call, 1 thread: whatever search the CPU backend runs) and log2 J (partitioned ORC,
   J = 2^12..2^32 at N = 2^12..2^20), new and old.

The searches are called directly from a compiled loop over blocks (bin tables filled per block, as
the CPU backend does), so the times are the kernels', not Python's. ``rn.encode`` rows (B scaling,
and the end-to-end rows) measure whatever ``recnumba.backends.cpu`` calls; the output says which.

``--quick``: well under a minute (fewer rounds, smaller sweeps); full: a few minutes.
"""

import argparse
import datetime
import inspect
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

if __name__ == "__main__":  # (not when imported, e.g. by asv's discovery or results.py)
    for _variable in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_variable, "1")

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
for _path in (ROOT, HERE):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import recnumba as rn  # noqa: E402
from common import cpu_model, extract_old  # noqa: E402

SEED = 2024
OLD_REVISION = "3e5240e"
DIM = 16
NUM_SAMPLES = 1 << 16
TARGET_STD = 0.999
LANES = 256

#: Issue #9's targets.
GOAL_PEER_PLAIN = 1.25
GOAL_PEER_PARTITIONED = 0.7
GOAL_PFR_SPEEDUP = 4.0
GOAL_FLOOR_RATIO = 2.0


# ---------------------------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------------------------


def nominal_clock():
    """(Hz, where it came from): "cpu MHz" of /proc/cpuinfo, else lscpu's "CPU max MHz"."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.lower().startswith("cpu mhz"):
                    return float(line.split(":", 1)[1]) * 1e6, "/proc/cpuinfo 'cpu MHz'"
    except (OSError, ValueError):
        pass
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            if line.startswith("CPU max MHz"):
                return float(line.split(":", 1)[1]) * 1e6, "lscpu 'CPU max MHz'"
    except (OSError, ValueError, subprocess.CalledProcessError):
        pass
    return float("nan"), "unknown"


def machine_info():
    import numba

    model = cpu_model()
    clock, source = nominal_clock()
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "cpu": model,
        "cores": os.cpu_count(),
        "affinity": affinity,
        "clock_hz": clock,
        "clock_source": source,
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "recnumba_threads": rn.get_num_threads(),
        "search_threads": 1,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "backend_search": backend_search(),
    }


def backend_search():
    """Which search ``recnumba.backends.cpu`` calls: "chunked.search" or "core.search"."""
    from recnumba.backends import cpu

    source = inspect.getsource(cpu)
    if "chunked.search(" in source or "chunked import search" in source:
        return "chunked.search"
    return "core.search"


# ---------------------------------------------------------------------------------------------
# The two packages
# ---------------------------------------------------------------------------------------------


def old_package(revision):
    """``recnumba`` of ``revision`` imported as ``recnumba_old`` (extracted once into a cache folder,
    so that numba's on-disk cache works across runs)."""
    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short=12", revision], check=True,
                            capture_output=True, text=True).stdout.strip()
    cache = os.path.join(os.path.expanduser("~"), ".cache", "recnumba", "bench_old", commit)
    if not os.path.isdir(os.path.join(cache, "recnumba_old")):
        partial = cache + f".partial{os.getpid()}"
        os.makedirs(partial, exist_ok=True)
        extract_old(revision, partial)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        try:
            os.rename(partial, cache)
        except OSError:  # another run got there first
            pass
    if cache not in sys.path:
        sys.path.insert(0, cache)
    import recnumba_old

    return recnumba_old, commit


def make_runner(search, core):
    """Compiled loop: for each block fill its bin tables (as the CPU backend does) and run ``search``."""
    new_bin_tables, fill_log_sup, fill_bin_tables = core.new_bin_tables, core.fill_log_sup, core.fill_bin_tables

    @njit
    def run(pair, targets, grid, weights, seed, first_block, num_samples, limit, indices, steps, statuses):
        cancel = np.zeros(1, dtype=np.int64)
        for b in range(indices.shape[0]):
            target = targets[b % targets.shape[0]]
            tables = new_bin_tables(grid)
            fill_log_sup(pair, target, grid, tables.log_sup)
            bound = fill_bin_tables(pair, target, grid, weights, tables.log_pi, tables.cdf)
            index, n, status = search(pair, target, grid, tables, bound, seed, first_block + b, num_samples,
                                      limit, cancel)
            indices[b] = index
            steps[b] = n
            statuses[b] = status

    return run


class Side:
    """One package's search, called directly."""

    def __init__(self, package, name, chunked):
        from importlib import import_module

        self.name = name
        self.package = package
        core = import_module(package.__name__ + ".search.core")
        api = import_module(package.__name__ + ".api")
        gaussian = import_module(package.__name__ + ".families.gaussian")
        self.grid_of = api.grid_of
        self.pair = gaussian.GaussianPair()
        self.weights = import_module(package.__name__ + ".search.params").WEIGHT_NAMES
        search = import_module(package.__name__ + ".search.chunked").search if chunked else core.search
        self.run = make_runner(search, core)

    def call(self, work):
        """Run ``work``'s blocks; returns (indices, steps)."""
        blocks = work["blocks"]
        indices = np.empty(blocks, dtype=np.int64)
        steps = np.empty(blocks, dtype=np.int64)
        statuses = np.empty(blocks, dtype=np.int64)
        grid = work.setdefault("grids", {}).get(self.name)
        if grid is None:
            grid = work["grids"][self.name] = self.grid_of(self.package.Partition(work["intervals"]))
        self.run(self.pair, work["targets"], grid, np.int64(self.weights[work["weights"]]), np.uint64(SEED),
                 np.int64(0), np.int64(work["num_samples"]), np.int64(work["limit"]), indices, steps, statuses)
        if np.any(statuses != 0):
            raise RuntimeError(f"{self.name}: {work['name']}: status {np.unique(statuses)}")
        return indices, steps


def orc_means(dim):
    return np.random.default_rng(0).permutation(np.linspace(-1.0, 1.0, dim))


def standardised(means, stds):
    """(K, D, 2) standardised targets under the prior N(0, I): (mean, std) per dimension."""
    means, stds = np.atleast_2d(means), np.atleast_2d(stds)
    return np.ascontiguousarray(np.stack([means, np.broadcast_to(stds, means.shape)], -1).astype(np.float64))


def orc_work(name, dim=DIM, num_samples=NUM_SAMPLES, log2_bins=0, blocks=1):
    intervals = rn.Partition.plain(dim).intervals if log2_bins == 0 else rn.Partition.uniform(dim, log2_bins).intervals
    return {"name": name, "kind": "orc", "dim": dim, "num_samples": num_samples, "limit": num_samples,
            "intervals": [int(i) for i in intervals], "weights": "target", "blocks": blocks,
            "targets": standardised(orc_means(dim), np.full(dim, TARGET_STD)), "log2_bins": log2_bins}


def pfr_work(name, dim, dinf, blocks):
    from recnumba.demo import solve_target

    target = solve_target(float(dinf), "dinf", dim)
    return {"name": name, "kind": "pfr", "dim": dim, "num_samples": 0, "limit": 1 << 40,
            "intervals": [1] * dim, "weights": "ratio", "blocks": blocks, "dinf": dinf,
            "targets": standardised(target.loc, target.scale)}


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def interleaved(functions, rounds):
    """Median CPU seconds per call of each of ``functions`` (name -> callable), called in interleaved
    rounds (order reversed every other round) after one untimed warm-up call each.

    CPU time (``time.process_time``, every thread of the process; the searches and the numpy peer run
    on one) rather than wall time: on a shared core the time other processes hold it is not counted.
    """
    names = list(functions)
    for name in names:
        functions[name]()
    times = {name: [] for name in names}
    for r in range(rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            start = time.process_time()
            functions[name]()
            times[name].append(time.process_time() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def numpy_peer(work, rng):
    """ORC in plain numpy, every candidate scored, for each block of ``work``: returns the indices."""
    n, dim = work["num_samples"], work["dim"]
    mean, std = work["targets"][0, :, 0], work["targets"][0, :, 1]
    log_std = float(np.sum(np.log(std)))
    scale = n / (n - np.arange(n, dtype=np.float64))
    out = np.empty(work["blocks"], dtype=np.int64)
    for b in range(work["blocks"]):
        x = rng.standard_normal((n, dim))  # prior samples
        z = (x - mean) / std
        log_ratio = 0.5 * np.sum(x * x - z * z, axis=1) - log_std  # ln q(x) / p(x)
        arrivals = np.cumsum(rng.standard_exponential(n) * scale)
        out[b] = np.argmin(np.log(arrivals) - log_ratio)
    return out


# ---------------------------------------------------------------------------------------------
# 1-2. Throughput: new, old, peer
# ---------------------------------------------------------------------------------------------


def check_same(new, old, work):
    (ni, ns), (oi, os_) = new.call(work), old.call(work)
    if not (np.array_equal(ni, oi) and np.array_equal(ns, os_)):
        raise RuntimeError(f"{work['name']}: the chunked search and {old.name} disagree")
    return ni, ns


def measure_throughput(new, old, rounds, quick):
    rows = []
    plain = orc_work("plain ORC, all scored", blocks=2 if quick else 4)
    parted = orc_work("partitioned ORC, 2^16 bins (target weights)", log2_bins=16, blocks=2 if quick else 4)
    peer_work = dict(plain, blocks=1)
    for work in (plain, parted):
        _, steps = check_same(new, old, work)
        if not np.all(steps == work["num_samples"]):
            raise RuntimeError(f"{work['name']}: stopped early (steps {np.unique(steps)}): not all scored")
    rng = np.random.default_rng(SEED)
    seconds = interleaved({
        "new plain": lambda: new.call(plain), "old plain": lambda: old.call(plain),
        "new parted": lambda: new.call(parted), "old parted": lambda: old.call(parted),
        "peer": lambda: numpy_peer(peer_work, rng),
    }, rounds)
    dims = DIM * NUM_SAMPLES
    peer_rate = dims * peer_work["blocks"] / seconds["peer"]
    for key, work in (("plain", plain), ("parted", parted)):
        rate_new = dims * work["blocks"] / seconds["new " + key]
        rate_old = dims * work["blocks"] / seconds["old " + key]
        rows.append({"workload": work["name"], "kind": "orc", "blocks": work["blocks"], "rate_new": rate_new,
                     "rate_old": rate_old, "rate_peer": peer_rate, "new_vs_peer": rate_new / peer_rate,
                     "old_vs_peer": rate_old / peer_rate, "new_vs_old": rate_new / rate_old,
                     "ns_per_cd_new": 1e9 / rate_new, "ns_per_cd_old": 1e9 / rate_old,
                     "goal_vs_peer": GOAL_PEER_PLAIN if key == "plain" else GOAL_PEER_PARTITIONED})
    return rows, {"rate": peer_rate, "ns_per_cd": 1e9 / peer_rate}


def measure_pfr(new, old, rounds, quick):
    cases = [(5, 12, 16), (5, 16, 4), (16, 12, 16), (16, 16, 4)]
    if quick:
        cases = [(5, 12, 8), (16, 12, 8), (16, 16, 2)]
    rows = []
    for dim, dinf, blocks in cases:
        work = pfr_work(f"exact PFR, {dim}-D, D_inf = {dinf} bits", dim, dinf, blocks)
        _, steps = check_same(new, old, work)
        seconds = interleaved({"new": lambda: new.call(work), "old": lambda: old.call(work)}, rounds)
        total = int(np.sum(steps))
        rows.append({"workload": work["name"], "kind": "pfr", "dim": dim, "dinf": dinf, "blocks": blocks,
                     "mean_steps": total / blocks, "steps_per_s_new": total / seconds["new"],
                     "steps_per_s_old": total / seconds["old"], "new_vs_old": seconds["old"] / seconds["new"],
                     "ns_per_cd_new": 1e9 * seconds["new"] / (total * dim),
                     "ns_per_cd_old": 1e9 * seconds["old"] / (total * dim)})
    return rows


# ---------------------------------------------------------------------------------------------
# 3. Micro-kernel floor
# ---------------------------------------------------------------------------------------------


def make_micro_kernels():
    from recnumba.families import protocol
    from recnumba.families.gaussian import GaussianPair, GaussianPrior
    from recnumba.random.philox import private_uniform_lanes, shared_uniform_lanes

    std_quantiles, add_log_ratios = protocol.std_quantiles, protocol.add_log_ratios

    @njit
    def philox(reps, seed, block, index, u_even, u_odd):
        acc = 0.0
        n = index.shape[0]
        for r in range(reps):
            shared_uniform_lanes(seed, block, index, np.int64(r & 7), n, u_even, u_odd)
            acc += u_even[r % n] + u_odd[(7 * r) % n]
        return acc

    @njit
    def quantiles(reps, prior, intervals, u, out):
        acc = 0.0
        rows, n = u.shape
        for r in range(reps):
            std_quantiles(prior, intervals, np.int64(1), u[r % rows], n, out)
            acc += out[r % n]
        return acc

    @njit
    def ratios(reps, pair, x, means, std, total):
        rows, n = x.shape
        for r in range(reps):
            add_log_ratios(pair, x[r % rows], means[r % means.shape[0]], std, n, total)
        return total[0] + total[n - 1]

    @njit
    def arrivals(reps, seed, block, num_samples, u_time, u_dim0, log_arrival):
        n = u_time.shape[0]
        arrival = 0.0
        acc = 0.0
        steps = np.int64(0)
        for r in range(reps):
            private_uniform_lanes(seed, block, steps, 0, n, u_time, u_dim0)
            for c in range(n):
                increment = -math.log(u_time[c])
                increment *= float(num_samples) / float(num_samples - ((steps + c) % (num_samples - 1)))
                arrival += increment
                log_arrival[c] = math.log(arrival)
            acc += log_arrival[r % n]
            steps += n
        return acc

    rng = np.random.default_rng(5)
    index = np.arange(LANES, dtype=np.int64) * 7919
    u = rng.random((8, LANES))
    x = rng.standard_normal((8, LANES))
    means = orc_means(DIM)
    prior, pair = GaussianPrior(), GaussianPair()
    scratch = [np.empty(LANES) for _ in range(3)]
    intervals = np.zeros(LANES, dtype=np.int64)
    seed, block = np.uint64(SEED), np.int64(3)
    return {
        "philox": lambda reps: philox(reps, seed, block, index, scratch[0], scratch[1]),
        "quantile": lambda reps: quantiles(reps, prior, intervals, u, scratch[0]),
        "ratio": lambda reps: ratios(reps, pair, x, means, TARGET_STD, np.zeros(LANES)),
        "arrival": lambda reps: arrivals(reps, seed, block, np.int64(NUM_SAMPLES), scratch[0], scratch[1],
                                         scratch[2]),
    }


def measure_floor(new, rounds, quick, clock):
    kernels = make_micro_kernels()
    reps = 4000 if quick else 20000
    work = orc_work("plain ORC, all scored", blocks=2 if quick else 4)
    functions = {name: (lambda f=f: f(reps)) for name, f in kernels.items()}
    functions["search"] = lambda: new.call(work)  # in the same rounds as the micro-kernels
    seconds = interleaved(functions, rounds)
    search = seconds.pop("search") / (work["blocks"] * DIM * NUM_SAMPLES)
    per_lane = {name: s / (reps * LANES) for name, s in seconds.items()}
    per_cd = {"philox": per_lane["philox"] / 2.0, "quantile": per_lane["quantile"], "ratio": per_lane["ratio"],
              "arrival": per_lane["arrival"] / DIM}
    floor = sum(per_cd.values())
    return {"per_lane_s": per_lane, "per_cd_s": per_cd, "floor_s": floor, "search_s": search,
            "ratio": search / floor, "cycles": {k: v * clock for k, v in per_cd.items()},
            "floor_cycles": floor * clock, "search_cycles": search * clock, "reps": reps, "lanes": LANES}


# ---------------------------------------------------------------------------------------------
# 4. Scaling
# ---------------------------------------------------------------------------------------------


def sweep(sides, works, rounds, total_dims):
    """Cost per candidate-dimension (ns) of each side on each work, blocks per call sized to about
    ``total_dims`` candidate-dimensions (one block at least). Every (work, side) pair is timed in the
    same interleaved rounds, so that the machine's drift moves all points of the sweep alike."""
    functions = {}
    for w, work in enumerate(works):
        per_block = work["dim"] * work["num_samples"]
        work["blocks"] = max(1, int(round(total_dims / per_block)))
        reference = None
        for side in sides:
            indices, steps = side.call(work)
            if not np.all(steps == work["num_samples"]):
                raise RuntimeError(f"{work['name']}: stopped early (steps {np.unique(steps)})")
            if reference is not None and not np.array_equal(indices, reference):
                raise RuntimeError(f"{work['name']}: the searches disagree")
            reference = indices
            functions[w, side.name] = lambda s=side, work=work: s.call(work)
    seconds = interleaved(functions, rounds)
    return [{side.name: 1e9 * seconds[w, side.name] / (work["blocks"] * work["dim"] * work["num_samples"])
             for side in sides} for w, work in enumerate(works)]


def measure_scaling(new, old, rounds, quick):
    sides = [new, old]
    total = (1 << 21) if quick else (1 << 22)  # candidate-dims per call (N = 2^20: one block, 2^24)
    result = {}  # (every sweep's points in the same interleaved rounds)
    ns = [10, 12, 14, 16, 18, 20] if not quick else [10, 14, 18]
    works = [orc_work(f"N=2^{k}", num_samples=1 << k) for k in ns]
    result["N"] = [dict(log2_n=k, **row) for k, row in zip(ns, sweep(sides, works, rounds, total))]
    dims = [2, 4, 8, 16, 32, 64] if not quick else [2, 16, 64]
    works = [orc_work(f"D={d}", dim=d) for d in dims]
    result["D"] = [dict(dim=d, **row) for d, row in zip(dims, sweep(sides, works, rounds, total))]
    bins = [0, 12, 16, 20, 24, 32] if not quick else [0, 16, 32]
    sizes = [12, 16, 20] if not quick else [12, 16]
    points = [(k, j) for k in sizes for j in bins]
    works = [orc_work(f"J=2^{j} N=2^{k}", num_samples=1 << k, log2_bins=j) for k, j in points]
    cells = sweep(sides, works, rounds, total)
    result["J"] = [dict(log2_n=k, log2_bins=j, **row) for (k, j), row in zip(points, cells)]
    return result


def measure_batches(rounds, quick):
    """Cost per candidate-dimension of ``rn.encode`` (plain ORC, all scored, 1 thread) by batch size."""
    import numba

    num_samples = 1 << 14
    sizes = [1, 4, 16, 64, 256] if not quick else [1, 16, 64]
    prior = rn.Gaussian(np.zeros(DIM), np.ones(DIM))
    restore = None
    if hasattr(rn, "set_num_threads"):
        restore = ("rn", rn.get_num_threads())
        rn.set_num_threads(1)
    else:
        restore = ("numba", numba.get_num_threads())
        numba.set_num_threads(1)
    try:
        functions = {}
        for b in sizes:
            target = rn.Gaussian(np.tile(orc_means(DIM), (b, 1)), np.full((b, DIM), TARGET_STD))

            def call(target=target):
                return rn.encode(target, prior, seed=SEED, method="orc", weights="target", num_samples=num_samples)

            steps = np.atleast_1d(call().steps)
            if not np.all(steps == num_samples):
                raise RuntimeError("rn.encode ORC stopped early")
            functions[b] = call
        seconds = interleaved(functions, rounds)
    finally:
        (rn.set_num_threads if restore[0] == "rn" else numba.set_num_threads)(restore[1])
    return [{"blocks": b, "ns_per_cd": 1e9 * seconds[b] / (b * DIM * num_samples),
             "us_per_call": 1e6 * seconds[b]} for b in sizes]


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _met(value, goal):
    return "met" if value >= goal else "NOT met"


def _growth_flag(values):
    """'superlinear?' when the cost per unit at the largest size exceeds the smallest by > 20%."""
    growth = values[-1] / values[0] - 1.0
    return f"{100 * growth:+.0f}%" + (" (superlinear?)" if growth > 0.20 else "")


def tables(res):
    m = res["machine"]
    old = res["old_revision"]
    clock = m["clock_hz"]
    lines = [
        f"Measured {m['date']} on {m['cpu']}, {m['cores']} cores, affinity {m['affinity']}, one search "
        f"thread; nominal clock {clock / 1e6:.0f} MHz ({m['clock_source']}); Python {m['python']}, numba "
        f"{m['numba']}, numpy {m['numpy']}; load average at start {m['load_average'][0]:.2f}; "
        f"`rn.encode`'s CPU backend runs `{m['backend_search']}`; old = `core.search` of {old}; "
        f"{res['rounds']} interleaved rounds, medians.",
        "",
        f"**ORC, every candidate scored** (16-D target, std {TARGET_STD}, means over -1..1; N = 2^16; "
        "candidate-dims/s; peer: plain-numpy ORC, one block at a time)",
        "",
        "| workload | new (cd/s) | old (cd/s) | numpy peer (cd/s) | new / peer | goal | old / peer | new / old |"
        " new ns/cd | new cycles/cd |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for r in res["orc"]:
        lines.append(
            f"| {r['workload']} | {r['rate_new']:.3g} | {r['rate_old']:.3g} | {r['rate_peer']:.3g} | "
            f"{r['new_vs_peer']:.2f}x | >= {r['goal_vs_peer']}x: {_met(r['new_vs_peer'], r['goal_vs_peer'])} | "
            f"{r['old_vs_peer']:.2f}x | {r['new_vs_old']:.2f}x | {r['ns_per_cd_new']:.2f} | "
            f"{r['ns_per_cd_new'] * clock / 1e9:.1f} |")
    lines += [
        "",
        "**Exact PFR, plain** (prior N(0, I), demo target family; steps/s; same steps and indices old and new)",
        "",
        "| workload | blocks | mean steps | new steps/s | old steps/s | new / old | goal | new ns/cd | old ns/cd |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in res["pfr"]:
        lines.append(
            f"| {r['workload']} | {r['blocks']} | {r['mean_steps']:,.0f} | {r['steps_per_s_new']:.3g} | "
            f"{r['steps_per_s_old']:.3g} | {r['new_vs_old']:.2f}x | >= {GOAL_PFR_SPEEDUP}x: "
            f"{_met(r['new_vs_old'], GOAL_PFR_SPEEDUP)} | {r['ns_per_cd_new']:.2f} | {r['ns_per_cd_old']:.2f} |")
    f = res["floor"]
    lines += [
        "",
        f"**Cycles per candidate-dimension, plain ORC 16-D vs the micro-kernel floor** (each kernel alone over "
        f"{f['lanes']} lanes, {f['reps']} repeats in a compiled loop; cycles = s x {clock / 1e6:.0f} MHz)",
        "",
        "| kernel | per call-lane (ns) | per candidate-dim (ns) | cycles / cd |",
        "|---|---:|---:|---:|",
    ]
    names = {"philox": "shared_uniform_lanes (2 dims per lane)", "quantile": "std_quantiles (Gaussian)",
             "ratio": "add_log_ratios (Gaussian pair)", "arrival": "arrival time (private uniform + 2 logs) / D"}
    for key, label in names.items():
        lines.append(f"| {label} | {1e9 * f['per_lane_s'][key]:.2f} | {1e9 * f['per_cd_s'][key]:.2f} | "
                     f"{f['cycles'][key]:.1f} |")
    lines += [
        f"| **floor (sum)** | | {1e9 * f['floor_s']:.2f} | {f['floor_cycles']:.1f} |",
        f"| **chunked search** | | {1e9 * f['search_s']:.2f} | {f['search_cycles']:.1f} |",
        f"| search / floor (goal <= {GOAL_FLOOR_RATIO}) | | {f['ratio']:.2f}x: "
        f"{'met' if f['ratio'] <= GOAL_FLOOR_RATIO else 'NOT met'} | |",
    ]
    s = res["scaling"]
    lines += ["", "**Scaling, plain ORC all scored, 16-D: ns per candidate-dimension by N**", "",
              "| N | new | old |", "|---|---:|---:|"]
    lines += [f"| 2^{r['log2_n']} | {r['new']:.2f} | {r[old]:.2f} |" for r in s["N"]]
    lines.append(f"| growth | {_growth_flag([r['new'] for r in s['N']])} | {_growth_flag([r[old] for r in s['N']])} |")
    lines += ["", "**Scaling by D (N = 2^16): ns per candidate-dimension**", "", "| D | new | old |", "|---|---:|---:|"]
    lines += [f"| {r['dim']} | {r['new']:.2f} | {r[old]:.2f} |" for r in s["D"]]
    lines.append(f"| growth (D={s['D'][-1]['dim']} vs D=16) | "
                 f"{_growth_flag([r['new'] for r in s['D'] if r['dim'] >= 16])} | "
                 f"{_growth_flag([r[old] for r in s['D'] if r['dim'] >= 16])} |")
    b = res["batches"]
    lines += ["", f"**Scaling by B: `rn.encode` (backend cpu: `{m['backend_search']}`), plain ORC, N = 2^14, 16-D, "
              "1 thread**", "", "| blocks per call | us per call | ns per candidate-dim |", "|---:|---:|---:|"]
    lines += [f"| {r['blocks']} | {r['us_per_call']:,.0f} | {r['ns_per_cd']:.2f} |" for r in b]
    lines.append(f"| growth (cost per cd, largest vs smallest B) | | {_growth_flag([r['ns_per_cd'] for r in b])} |")
    slope, intercept = np.polyfit([r["blocks"] for r in b], [r["us_per_call"] for r in b], 1)
    lines += ["", f"(least-squares fit: {intercept:,.0f} us per call + {slope:,.0f} us per block, i.e. "
              f"{1e3 * slope / (DIM * (1 << 14)):.2f} ns per candidate-dim)"]
    sizes = sorted({r["log2_n"] for r in s["J"]})
    bins = sorted({r["log2_bins"] for r in s["J"]})
    lines += ["", "**Scaling by log2 J (partitioned ORC, `Partition.uniform(16, log2 J)`, target weights; 0 = plain): "
              "ns per candidate-dimension, new / old**", "",
              "| log2 J | " + " | ".join(f"N = 2^{k}" for k in sizes) + " | growth N 2^%d->2^%d (new / old) |"
              % (sizes[0], sizes[-1]), "|---|" + "---:|" * (len(sizes) + 1)]
    for j in bins:
        cells = [next(r for r in s["J"] if r["log2_bins"] == j and r["log2_n"] == k) for k in sizes]
        lines.append(f"| {j} | " + " | ".join(f"{c['new']:.2f} / {c[old]:.2f}" for c in cells) + " | "
                     f"{_growth_flag([c['new'] for c in cells])} / {_growth_flag([c[old] for c in cells])} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def measure(quick=False, rounds=None, old_revision=OLD_REVISION, progress=None, pin=None):
    """Every measurement; returns a JSON-ready dict (``tables(result)`` prints it).

    ``pin``: a CPU number to pin the calling thread to while measuring (``None``: leave the affinity
    as it is, e.g. as ``taskset -c 1`` set it).
    """
    progress = progress or (lambda message: None)
    rounds = rounds or (5 if quick else 15)
    if pin is None:
        return _measure(quick, rounds, old_revision, progress)
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {pin})
    try:
        return _measure(quick, rounds, old_revision, progress)
    finally:
        os.sched_setaffinity(0, previous)


def _measure(quick, rounds, old_revision, progress):
    started = time.perf_counter()
    info = machine_info()
    old_package_, commit = old_package(old_revision)
    new = Side(rn, "new", chunked=True)
    old = Side(old_package_, commit, chunked=False)
    res = {"machine": info, "quick": quick, "rounds": rounds, "old_revision": commit}
    res["orc"], res["peer"] = measure_throughput(new, old, rounds, quick)
    progress("ORC vs peer")
    res["pfr"] = measure_pfr(new, old, rounds, quick)
    progress("PFR")
    res["floor"] = measure_floor(new, rounds, quick, info["clock_hz"])
    progress("floor")
    res["scaling"] = measure_scaling(new, old, max(3, rounds // 3), quick)
    progress("scaling N, D, J")
    res["batches"] = measure_batches(max(3, rounds // 2), quick)
    progress("scaling B")
    res["seconds"] = time.perf_counter() - started
    return json.loads(json.dumps(res, default=float))  # plain Python numbers only


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and smaller sweeps (< 1 minute)")
    parser.add_argument("--json", help="also write the measurements to this JSON file")
    parser.add_argument("--old", default=OLD_REVISION, help=f"revision whose core.search is 'old' (default {OLD_REVISION})")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 15, --quick 5)")
    parser.add_argument("--pin", type=int, help="pin to this CPU while measuring (or use taskset -c)")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    def progress(message):
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    res = measure(args.quick, args.rounds, args.old, progress, args.pin)
    print(tables(res))
    print(f"\n({res['seconds']:.0f} s in all)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
