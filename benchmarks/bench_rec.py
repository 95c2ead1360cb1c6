"""asv benchmarks: exact PFR plain vs partitioned, ORC throughput (numba vs numpy), decoding.

Run in the current environment with ``asv run --python=same --quick --show-stderr``.

Every numba kernel is compiled (or loaded from numba's disk cache) in ``setup``/``setup_cache``,
outside the timed regions; the ``track_`` values that need many encodes are computed once per class
in ``setup_cache`` and only read back by the ``track_`` functions.
"""

import os
import sys
import time

import numpy as np

try:
    import recnumba as rn
except ImportError:  # running from a checkout with `asv run --python=same`: use the working tree
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import recnumba as rn

from recnumba import reference

SEED = 2024
PFR_DIM = 5
PFR_DINF_BITS = [12, 16, 20]
PFR_MARGIN_BITS = 2  # partitioned PFR: log2 J = floor(KL) - 2 (same rule as ``python -m recnumba demo``)
PFR_STEP_BLOCKS = 8  # independent encodes averaged by the step-count tracks

ORC_BLOCKS = 64
ORC_NUMPY_BLOCKS = 2  # the numpy reference is slow: fewer blocks, same per-block work
ORC_DIM = 16
ORC_SAMPLES = 1 << 14
ORC_PARTITION_BITS = 16

GPRS_INFORMATION_BITS = [3.5, 6.05, 12.0]  # the published runs' levels (benchmarks/gprs_table.py)
GPRS_BLOCKS = 2000

DECODE_BLOCKS = 100_000
DECODE_DIM = 16
DECODE_PARTITION_BITS = 32


def _prior(dim):
    return rn.Gaussian(np.zeros(dim), np.ones(dim))


def _repeat(target, rows):
    return rn.Gaussian(np.tile(target.loc, (rows, 1)), np.tile(target.scale, (rows, 1)))


def _pfr_case(dinf_bits, partition):
    """(target, prior, partition) for the 5-D exact-PFR benchmarks (targets as in the demo)."""
    from recnumba.demo import partition_bits, solve_target

    target = solve_target(float(dinf_bits), "dinf", PFR_DIM)
    prior = _prior(PFR_DIM)
    if partition == "plain":
        return target, prior, None
    kl = float(rn.kl_bits(target, prior))
    return target, prior, rn.Partition.uniform(PFR_DIM, partition_bits(kl, PFR_MARGIN_BITS))


def _orc_case(partition):
    """Standardised 16-D ORC inputs whose ratio q/p is unbounded (target std 1.5 > prior std 1).

    With an unbounded ratio the stopping rule never fires, so every one of the N candidates is
    scored (the benchmarks check ``steps == N``): a pure throughput measurement.
    """
    rng = np.random.default_rng(SEED)
    loc = rng.normal(0.0, 0.3, size=(ORC_BLOCKS, ORC_DIM))
    scale = np.full((ORC_BLOCKS, ORC_DIM), 1.5)
    part = rn.Partition.plain(ORC_DIM) if partition == "plain" else rn.Partition.uniform(ORC_DIM, ORC_PARTITION_BITS)
    return rn.Gaussian(loc, scale), _prior(ORC_DIM), part


def _orc_numba(target, prior, part):
    return rn.encode(target, prior, seed=SEED, partition=part, method="orc", weights="target",
                     num_samples=ORC_SAMPLES)


def _orc_numpy(target, part, blocks=ORC_NUMPY_BLOCKS):
    # prior is N(0, I), so the standardised target is the target itself
    return np.array([
        reference.orc_select(target.loc[b], target.scale[b], part.intervals, "target", SEED, b, ORC_SAMPLES)
        for b in range(blocks)
    ])


def _check_all_scored(result):
    if not np.all(result.steps == ORC_SAMPLES):
        raise RuntimeError(f"ORC stopped early (steps {np.unique(result.steps)}): not a throughput test")


def _best_seconds(function, repeats=3):
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


class ExactPFR:
    """Wall time of one exact-PFR encode (fixed seed, block 0): plain needs ~2^D_inf steps (~1 s at 20 bits)."""

    params = (PFR_DINF_BITS, ["plain", "partitioned"])
    param_names = ["dinf_bits", "partition"]
    timeout = 300

    def setup(self, dinf_bits, partition):
        self.target, self.prior, self.partition = _pfr_case(dinf_bits, partition)
        # compile with a cheap target of the same shapes (a single (D,) target, like the timed call)
        cheap, _, _ = _pfr_case(8, partition)
        rn.encode(cheap, self.prior, seed=SEED, partition=self.partition)

    def time_encode(self, dinf_bits, partition):
        rn.encode(self.target, self.prior, seed=SEED, partition=self.partition)


class ExactPFRSteps:
    """Mean exact-PFR steps over 8 independent encodes (deterministic); plain / partitioned is the speed-up."""

    params = (PFR_DINF_BITS, ["plain", "partitioned"])
    param_names = ["dinf_bits", "partition"]
    timeout = 600

    def setup_cache(self):
        steps = {}
        for dinf_bits in PFR_DINF_BITS:
            for partition in ("plain", "partitioned"):
                target, prior, part = _pfr_case(dinf_bits, partition)
                result = rn.encode(_repeat(target, PFR_STEP_BLOCKS), prior, seed=SEED, partition=part)
                steps[dinf_bits, partition] = float(np.mean(result.steps))
        return steps

    def track_mean_steps(self, steps, dinf_bits, partition):
        return steps[dinf_bits, partition]

    track_mean_steps.unit = "steps"


class OrcThroughput:
    """ORC scoring all 2^14 candidates of 16-D blocks: numba kernel (64 blocks) vs numpy reference (2)."""

    params = (["numba", "numpy"], ["plain", "partitioned"])
    param_names = ["implementation", "partition"]
    timeout = 300

    def setup(self, implementation, partition):
        self.target, self.prior, self.partition = _orc_case(partition)
        if implementation == "numba":  # compile, and check on two blocks that no candidate is skipped
            _check_all_scored(_orc_numba(self.target[:2], self.prior, self.partition))

    def time_orc(self, implementation, partition):
        if implementation == "numba":
            _orc_numba(self.target, self.prior, self.partition)
        else:
            _orc_numpy(self.target, self.partition)


class OrcRates:
    """Candidate-dims/s of ORC, numba (best of 2, all threads) vs numpy (one block at a time), same inputs."""

    params = (["numba", "numpy"], ["plain", "partitioned"])
    param_names = ["implementation", "partition"]
    timeout = 600

    def setup_cache(self):
        rates = {}
        for partition in ("plain", "partitioned"):
            target, prior, part = _orc_case(partition)
            result = _orc_numba(target, prior, part)
            _check_all_scored(result)
            seconds = _best_seconds(lambda: _orc_numba(target, prior, part), repeats=2)
            rates["numba", partition] = ORC_BLOCKS * ORC_DIM * ORC_SAMPLES / seconds
            start = time.perf_counter()
            indices = _orc_numpy(target, part)
            seconds = time.perf_counter() - start
            rates["numpy", partition] = ORC_NUMPY_BLOCKS * ORC_DIM * ORC_SAMPLES / seconds
            if not np.array_equal(indices, result.index[:ORC_NUMPY_BLOCKS]):
                raise RuntimeError(f"numba and numpy ORC selected different indices ({partition})")
        return rates

    def track_candidate_dims_per_s(self, rates, implementation, partition):
        return rates[implementation, partition]

    track_candidate_dims_per_s.unit = "candidate-dims/s"



def _chunked_runner():
    """A compiled loop over blocks calling the chunked CPU search directly (bin tables per block)."""
    from numba import njit

    from recnumba.search import chunked, core

    @njit
    def run(pair, targets, grid, weights, seed, num_samples, limit, steps):
        cancel = np.zeros(1, dtype=np.int64)
        for b in range(steps.shape[0]):
            target = targets[b % targets.shape[0]]
            tables = core.new_bin_tables(grid)
            core.fill_log_sup(pair, target, grid, tables.log_sup)
            bound = core.fill_bin_tables(pair, target, grid, weights, tables.log_pi, tables.cdf)
            _, steps[b], _ = chunked.search(pair, target, grid, tables, bound, seed, np.int64(b), num_samples,
                                            limit, cancel)

    return run


class ChunkedSearch:
    """The chunked CPU search (``recnumba.search.chunked``) called directly, one thread (issue #9).

    ``orc plain`` / ``orc 2^16 bins``: one 16-D block of ORC with 2^16 candidates, every one scored
    (target std 0.999, means over -1..1: the ratio's bound is far above reach); ``pfr 16-D``: exact
    PFR, 4 blocks of a 16-D target with D_inf = 12 bits. ``benchmarks/cpu_speed.py`` is the fuller
    comparison (numpy peer, old kernel, micro-kernel floor, scaling).
    """

    params = (["orc plain", "orc 2^16 bins", "pfr 16-D D_inf=12"],)
    param_names = ["workload"]
    timeout = 120

    def setup(self, workload):
        from recnumba.api import grid_of
        from recnumba.families.gaussian import GaussianPair
        from recnumba.search.params import WEIGHTS_RATIO, WEIGHTS_TARGET

        dim = ORC_DIM
        if workload.startswith("orc"):
            loc = np.random.default_rng(0).permutation(np.linspace(-1.0, 1.0, dim))
            scale = np.full(dim, 0.999)
            part = rn.Partition.plain(dim) if workload == "orc plain" else rn.Partition.uniform(dim, 16)
            self.num_samples = self.limit = 1 << 16
            self.weights, blocks = WEIGHTS_TARGET, 1
        else:
            from recnumba.demo import solve_target

            target = solve_target(12.0, "dinf", dim)
            loc, scale, part = target.loc, target.scale, rn.Partition.plain(dim)
            self.num_samples, self.limit, self.weights, blocks = 0, 1 << 40, WEIGHTS_RATIO, 4
        self.args = (GaussianPair(), np.ascontiguousarray(np.stack([loc, scale], -1)[None]), grid_of(part),
                     np.int64(self.weights), np.uint64(SEED), np.int64(self.num_samples), np.int64(self.limit))
        self.steps = np.zeros(blocks, dtype=np.int64)
        self.run = _chunked_runner()
        self.run(*self.args, self.steps)  # compiles
        if self.num_samples and not np.all(self.steps == self.num_samples):
            raise RuntimeError(f"ORC stopped early (steps {self.steps}): not a throughput test")

    def time_search(self, workload):
        self.run(*self.args, self.steps)

    def track_rate(self, workload):
        """Candidate-dims/s for ORC, steps/s for PFR (best of 3)."""
        seconds = _best_seconds(lambda: self.run(*self.args, self.steps))
        work = np.sum(self.steps) * (ORC_DIM if self.num_samples else 1)
        return float(work / seconds)

    track_rate.unit = "candidate-dims/s (orc), steps/s (pfr)"


class CudaOrcRates:
    """Candidate-dims/s of ORC on the CUDA backend vs the CPU backend, same inputs (GPU machines only).

    1,024 16-D blocks x 2^14 candidates with an unbounded ratio (every candidate scored). Skipped
    (NotImplementedError) where there is no GPU; ``benchmarks/gpu/check.py`` is the fuller check.
    """

    params = (["cpu", "cuda"], ["plain", "partitioned"])
    param_names = ["backend", "partition"]
    timeout = 600
    blocks = 1024

    def setup_cache(self):
        from recnumba import backends

        try:
            backends.resolve("cuda", self.blocks)
        except backends.BackendUnavailable:
            return None
        rates = {}
        rng = np.random.default_rng(SEED)
        target = rn.Gaussian(rng.normal(0.0, 0.3, (self.blocks, ORC_DIM)), np.full((self.blocks, ORC_DIM), 1.5))
        for partition in ("plain", "partitioned"):
            part = None if partition == "plain" else rn.Partition.uniform(ORC_DIM, ORC_PARTITION_BITS)
            results = {}
            for backend in ("cpu", "cuda"):
                def run():
                    return rn.encode(target, _prior(ORC_DIM), seed=SEED, partition=part, method="orc",
                                     weights="target", num_samples=ORC_SAMPLES, backend=backend)
                results[backend] = run()  # compiles
                seconds = _best_seconds(run, repeats=2)
                rates[backend, partition] = self.blocks * ORC_DIM * ORC_SAMPLES / seconds
            if not np.array_equal(results["cpu"].index, results["cuda"].index):
                raise RuntimeError(f"CPU and CUDA ORC selected different indices ({partition})")
        return rates

    def setup(self, rates, backend, partition):
        if rates is None:
            raise NotImplementedError("no CUDA GPU here")

    def track_candidate_dims_per_s(self, rates, backend, partition):
        return rates[backend, partition]

    track_candidate_dims_per_s.unit = "candidate-dims/s"


class GPRS:
    """1-D branch-and-bound GPRS on 2,000 Gaussian-channel targets of I bits (as ``gprs_table.py``):
    P = N(0, 1), Q = N(mu, 2^-2I) with mu ~ N(0, 1 - 2^-2I), so E[KL] = I; E[steps] <= 2.26 I + 9.66."""

    params = (GPRS_INFORMATION_BITS,)
    param_names = ["information_bits"]
    timeout = 300

    def setup(self, information_bits):
        rng = np.random.default_rng(SEED)
        s = 2.0 ** -information_bits
        loc = rng.normal(0.0, np.sqrt(1.0 - s * s), (GPRS_BLOCKS, 1))
        self.target = rn.Gaussian(loc, np.full((GPRS_BLOCKS, 1), s))
        self.prior = _prior(1)
        rn.encode(self.target[:2], self.prior, seed=SEED, method="gprs")  # compiles

    def _encode(self):
        return rn.encode(self.target, self.prior, seed=SEED, method="gprs")

    def time_encode(self, information_bits):
        self._encode()

    def track_mean_steps(self, information_bits):
        return float(np.mean(self._encode().steps))

    track_mean_steps.unit = "steps"


class Decode:
    """Decoding 100,000 16-D blocks on a 2^32-bin partition (independent of the encoder's method)."""

    timeout = 300

    def setup(self):
        self.prior = _prior(DECODE_DIM)
        self.partition = rn.Partition.uniform(DECODE_DIM, DECODE_PARTITION_BITS)
        rng = np.random.default_rng(SEED)
        self.indices = rng.integers(0, 1 << 40, size=DECODE_BLOCKS, dtype=np.int64)
        rn.decode(self.indices[:2], self.prior, seed=SEED, partition=self.partition)  # compiles

    def _decode(self):
        # one (D,) prior shared by all blocks; block ids default to 0..B-1
        return rn.decode(self.indices, self.prior, seed=SEED, partition=self.partition)

    def time_decode(self):
        self._decode()

    def track_blocks_per_s(self):
        return DECODE_BLOCKS / _best_seconds(self._decode)

    track_blocks_per_s.unit = "blocks/s"


def track_threads():
    """Threads of recnumba's CPU pool (``rn.get_num_threads``; the ORC rates scale with it)."""
    return rn.get_num_threads()


track_threads.unit = "threads"
