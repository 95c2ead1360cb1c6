"""CUDA backend: batched PFR/ORC selection and decoding on one GPU, same codes as the CPU.

This is the only module that imports ``numba.cuda``; the backend registry (``recnumba.backends``)
imports it on first use, so recnumba works without numba-cuda or a GPU. The kernels call the very
``@njit`` functions of the search core (``recnumba.search.core``: Philox streams, bin draws, the
coordinate loop, scores, decoding): numba-cuda compiles them as device functions. The kernels that
touch a family's device functions (scoring, decoding) are built once per family pair / prior family
(``_score_kernel_for``, ``_decode_kernel_for``), with the family's tag as a compile-time constant;
the decisions (exact / ORC / auto, hopeless bounds) come from ``recnumba.search.policy``.

Pipeline for B blocks and the first S search steps of each (rounds of doubling S, up to N for ORC
and ``max_steps`` for PFR, stop as soon as every block's stopping rule has fired):

1. ``_draw_kernel``: per (block, step), the private arrival-time increment (ORC: scaled by
   N / (N - t), the order statistics of N exponentials) and the bin draw j_t ~ pi with ln pi_j.
2. ``_arrival_kernel``: one thread block per block turns the increments into arrival times (running
   sums, chunked over threads).
3. Partitioned only: the local index k_t of step t in its bin (the number of earlier steps that drew
   the same bin) by a bitonic sort of ``j_t * S2 + t`` keys per block (``_bitonic_kernel``) and a
   lower-bound search for each key's run start (``_rank_kernel``). Plain REC has k_t = t.
4. the score kernel: one thread block per (block, tile of steps) scores its candidates
   ``ln T_t - ln r(x) + ln J + ln pi_j`` and reduces them in shared memory to the tile's minimum.
5. ``_finish_kernel``: one thread per block takes the minimum over tiles (ties: earliest step) and
   binary-searches the step where the CPU's stopping rule fires (arrival times only grow), which
   gives the CPU's step count and tells PFR whether it is done.

Same answers as the CPU: candidates and decoded samples are bit-identical (shared device functions;
``mul_rn``/``portable_log`` on the decode path, see ``recnumba.numerics.portable``). Scores
may differ from the CPU's in the last digits (libdevice ``log``, fused multiply-adds, arrival times
summed in chunks: about 1e-14 relative at 2^16 steps, 1e-13 at 2^22), which can change the
selection only if two candidates score within that of each other; otherwise it is the CPU's. Any
block the GPU cannot finish (a search longer than the largest round, degenerate targets, unbounded
or hopeless PFR, keys that would overflow int64) is handed to the CPU kernel, which gives the
reference answer. For numpy targets the bin tables are built on the host (``cpu.bin_tables``, on
the CPU backend's threads) one launch group at a time and uploaded; for device targets (the
device-resident path of ``recnumba.device``, CUDA arrays into ``rn.Codec``) a kernel builds them
on the device (``_tables_kernel_for``: ``core.fill_bin_tables`` as a device function), after the
parameters were checked, gathered into the per-block layout and standardised there
(``_check_kernel_for``, ``_gather_kernel_for``: ``recnumba.search.inputs``); only per-block bounds
and flags and the rows of blocks handed to the CPU come back. The bins themselves are drawn on the
device in both cases. Device-built tables use libdevice's ``log``/``exp`` and fused multiply-adds
(the prior-quantile edges and interval masses; thousands of ``fma.rn.f64`` in their PTX) like the
scores: they may differ from the host's in the last bit, which (like the scores) can change a selection
only in a near-tie; under the simulator they are the host's, bit for bit. The gather (standardisation)
kernels have no FMA (tested), so the standardised targets are the host's on any device.

Under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1`` before numba is imported) the kernels run
as Python, slowly: keep launches small there.
"""

import math
import time

import numpy as np

if not hasattr(np, "row_stack"):
    # numpy 2.5 removed row_stack; numba-cuda 0.30 still references it when it compiles kernels.
    # This restores the alias for the whole process (it is what numpy < 2.5 had anyway).
    np.row_stack = np.vstack

from numba import config, cuda  # noqa: E402
from numba.core.errors import NumbaError  # noqa: E402
from numba.extending import overload  # noqa: E402

from recnumba.backends import cpu  # noqa: E402
from recnumba.families import protocol  # noqa: E402
from recnumba.numerics.portable import mul_rn  # noqa: E402
from recnumba.search import core, inputs, policy  # noqa: E402
from recnumba.search.params import STATUS_OK, BinGrid, SearchOutput  # noqa: E402

NAME = "cuda"
SIMULATOR = bool(config.ENABLE_CUDASIM)

#: Threads per block of the tiled kernels (the simulator runs each thread in Python: keep it small).
THREADS = 32 if SIMULATOR else 256
#: Keys sorted in shared memory by one thread block (two per thread); longer distances go global.
SORT_CHUNK = 64 if SIMULATOR else 2048
#: Candidates per (block, tile) of the scoring kernel.
TILE = 64 if SIMULATOR else 4096
#: Rounds of the GPU search (steps per block): the first, and the largest; blocks that need more
#: are finished by the CPU kernel.
FIRST_ROUND = 1 << 6 if SIMULATOR else 1 << 12
MAX_ROUND = 1 << 8 if SIMULATOR else 1 << 22
#: Device memory (bytes) per launch group; it sets how many blocks share a launch.
GROUP_BYTES = 1 << 20 if SIMULATOR else 1 << 31
_INT64_MAX = np.int64(np.iinfo(np.int64).max)


@overload(mul_rn, target="cuda")
def _mul_rn_cuda(a, b):
    def impl(a, b):
        return cuda.libdevice.dmul_rn(a, b)  # never contracted into an FMA

    return impl


# Every family's device functions, for the CUDA target too.
protocol.register_for_target("cuda")


if SIMULATOR:

    def _native(array):
        # The simulator wraps kernel arguments; numba's CPU-compiled device functions need ndarrays.
        return array._item._ary if hasattr(array, "_item") else array

else:

    @cuda.jit(device=True, inline="always")
    def _native(array):
        return array


def device_name():
    """Name of the current CUDA device (e.g. "NVIDIA H100 80GB HBM3")."""
    if SIMULATOR:
        return "CUDA simulator"
    name = cuda.get_current_device().name
    return name.decode() if isinstance(name, bytes) else str(name)


class _PhaseTimer:
    """Wall time per pipeline phase, synchronising the device at each mark (only when profiling)."""

    def __init__(self, totals):
        self.totals = totals
        self.last = None

    def mark(self, phase):
        if self.totals is None:
            return
        cuda.synchronize()
        now = time.perf_counter()
        if phase is not None and self.last is not None:
            self.totals[phase] = self.totals.get(phase, 0.0) + now - self.last
        self.last = now


#: Set to a dict to accumulate seconds per phase of ``_search_on_device`` (benchmarks/gpu/check.py).
PHASE_SECONDS = None


def is_available():
    """(True, None) when a CUDA GPU (or the CUDA simulator) can run the kernels, else (False, reason)."""
    try:
        available = bool(cuda.is_available())
    except (NumbaError, OSError, RuntimeError):  # driver missing or broken
        available = False
    return (True, None) if available else (False, "no CUDA driver or GPU was found")


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@cuda.jit
def _draw_kernel(
    seed, block_ids, num_samples, num_steps, intervals, offsets, strides, num_bins, log_pi, cdf,
    increments, bins, log_weights,
):
    """Per (block b, step t): arrival increment (PFR: ``num_samples`` 0), bin j_t and ln pi_j
    (grid-stride over B*S)."""
    grid = BinGrid(_native(intervals), _native(offsets), _native(strides), num_bins)
    log_pi = _native(log_pi)
    cdf = _native(cdf)
    total = np.int64(block_ids.shape[0]) * np.int64(num_steps)
    position = np.int64(cuda.grid(1))
    stride = np.int64(cuda.gridsize(1))
    scratch = cuda.local.array(1, np.int64)  # draw_bin needs a digits array; it is not written
    while position < total:
        b = position // num_steps
        t = position - b * num_steps
        block = block_ids[b]
        increments[b, t] = core.arrival_increment(seed, block, t, num_samples)
        bin_index, log_weight = core.draw_bin(seed, block, t, grid, log_pi[b], cdf[b], scratch, False)
        bins[b, t] = bin_index
        log_weights[b, t] = log_weight
        position += stride


@cuda.jit
def _arrival_kernel(increments, num_steps):
    """In-place running sums per block: thread block b turns row b's increments into arrival times.

    Each thread sums a contiguous chunk in order, thread 0 turns the chunk sums into offsets, and
    each thread writes offset + (running chunk sum). Within a chunk that is non-decreasing, and the
    last value of a chunk equals the next chunk's offset exactly, so arrival times never decrease
    (the finish kernel's binary search relies on it). The grouping differs from the CPU's single
    running sum: arrival times differ from the CPU's by O(sqrt(S)) ulp.
    """
    offsets = cuda.shared.array(THREADS, np.float64)
    thread = cuda.threadIdx.x
    chunk = (num_steps + THREADS - 1) // THREADS
    first = np.int64(thread) * chunk
    last = min(first + chunk, np.int64(num_steps))
    b = np.int64(cuda.blockIdx.x)
    while b < increments.shape[0]:
        running = 0.0
        for t in range(first, last):
            running += increments[b, t]
        offsets[thread] = running
        cuda.syncthreads()
        if thread == 0:
            total = 0.0
            for i in range(THREADS):
                chunk_sum = offsets[i]
                offsets[i] = total
                total += chunk_sum
        cuda.syncthreads()
        offset = offsets[thread]
        running = 0.0
        for t in range(first, last):
            running += increments[b, t]
            # offset + (chunk sum) is exactly the next chunk's offset: no step back at the seam
            increments[b, t] = offset + running
        cuda.syncthreads()  # offsets is reused by the next row
        b += np.int64(cuda.gridDim.x)


@cuda.jit
def _key_kernel(bins, num_steps, padded_steps, keys):
    """Sort keys ``j_t * S2 + t`` (S2 = padded_steps, a power of two); padding sorts last."""
    total = np.int64(keys.shape[0]) * np.int64(padded_steps)
    position = np.int64(cuda.grid(1))
    stride = np.int64(cuda.gridsize(1))
    while position < total:
        b = position // padded_steps
        t = position - b * padded_steps
        if t < num_steps:
            keys[b, t] = bins[b, t] * padded_steps + t
        else:
            keys[b, t] = _INT64_MAX
        position += stride


@cuda.jit
def _bitonic_kernel(keys, padded_steps, stage, distance):
    """One compare-exchange pass of a bitonic sort of every block's row of ``keys``."""
    total = np.int64(keys.shape[0]) * np.int64(padded_steps)
    position = np.int64(cuda.grid(1))
    stride = np.int64(cuda.gridsize(1))
    while position < total:
        b = position // padded_steps
        i = position - b * padded_steps
        partner = i ^ distance
        if partner > i:
            ascending = (i & stage) == 0
            first = keys[b, i]
            second = keys[b, partner]
            if (first > second) == ascending:
                keys[b, i] = second
                keys[b, partner] = first
        position += stride


@cuda.jit
def _bitonic_local_kernel(keys, padded_steps, chunk, first_stage, last_stage):
    """All bitonic passes of stages ``first_stage..last_stage`` whose distance is below ``chunk``.

    Thread block (chunk c, block b) holds keys[b, c*chunk : (c+1)*chunk] in shared memory: one
    launch replaces log2(chunk) global passes per stage.
    """
    local = cuda.shared.array(SORT_CHUNK, np.int64)
    b = cuda.blockIdx.y
    base = np.int64(cuda.blockIdx.x) * chunk
    thread = cuda.threadIdx.x
    half = chunk // 2
    for q in range(thread, chunk, cuda.blockDim.x):
        local[q] = keys[b, base + q]
    cuda.syncthreads()
    stage = first_stage
    while stage <= last_stage:
        distance = min(stage // 2, half)
        while distance > 0:
            for q in range(thread, half, cuda.blockDim.x):
                i = 2 * distance * (q // distance) + q % distance
                partner = i + distance
                ascending = ((base + i) & stage) == 0
                first = local[i]
                second = local[partner]
                if (first > second) == ascending:
                    local[i] = second
                    local[partner] = first
            cuda.syncthreads()
            distance //= 2
        stage *= 2
    for q in range(thread, chunk, cuda.blockDim.x):
        keys[b, base + q] = local[q]


@cuda.jit
def _rank_kernel(keys, num_steps, padded_steps, local_index):
    """k_t = sorted position of key (j_t, t) minus the position of bin j_t's first key."""
    total = np.int64(keys.shape[0]) * np.int64(padded_steps)
    position = np.int64(cuda.grid(1))
    stride = np.int64(cuda.gridsize(1))
    while position < total:
        b = position // padded_steps
        p = position - b * padded_steps
        key = keys[b, p]
        t = key % padded_steps
        if key != _INT64_MAX and t < num_steps:
            head = key - t  # j_t * S2: the smallest key of this bin
            lo = np.int64(0)
            hi = p
            while lo < hi:  # first position with keys[b, pos] >= head
                mid = (lo + hi) // 2
                if keys[b, mid] < head:
                    lo = mid + 1
                else:
                    hi = mid
            local_index[b, t] = p - lo
        position += stride


#: (factory, tag class) -> kernel: one kernel per family, built on first use.
_FAMILY_KERNELS = {}


def _family_kernel(make, tag):
    """``make(tag)``, once per tag class (numba-cuda then specialises the shared device functions)."""
    key = (make, type(tag))
    if key not in _FAMILY_KERNELS:
        _FAMILY_KERNELS[key] = make(tag)
    return _FAMILY_KERNELS[key]


def _score_kernel_for(pair_tag):
    """The scoring kernel of one family pair."""
    return _family_kernel(_make_score_kernel, pair_tag)


def _make_score_kernel(pair_tag):
    pair = pair_tag  # a compile-time constant of the kernel

    @cuda.jit
    def score_kernel(
        seed, block_ids, num_steps, intervals, offsets, strides, num_bins, targets, arrivals, bins,
        log_weights, local_index, tile_score, tile_step,
    ):
        """Thread block (b, tile): score the tile's candidates and reduce to the best (score, step)."""
        grid = BinGrid(_native(intervals), _native(offsets), _native(strides), num_bins)
        targets = _native(targets)
        best_scores = cuda.shared.array(THREADS, np.float64)
        best_steps = cuda.shared.array(THREADS, np.int64)
        b = cuda.blockIdx.y
        tile = cuda.blockIdx.x
        thread = cuda.threadIdx.x
        block = block_ids[b]
        log_num_bins = math.log(float(num_bins))
        best = math.inf
        best_step = np.int64(-1)
        first = np.int64(tile) * TILE
        last = min(first + TILE, np.int64(num_steps))
        t = first + thread
        while t < last:
            bin_index = bins[b, t]
            if num_bins == 1:
                index = t
            else:
                index = local_index[b, t] * num_bins + bin_index
            score = core.score_candidate(
                pair, grid, seed, block, index, bin_index, targets[b], math.log(arrivals[b, t]),
                log_num_bins, log_weights[b, t],
            )
            if score < best:  # strict: the earliest of equal scores wins, as on the CPU
                best = score
                best_step = t
            t += THREADS
        best_scores[thread] = best
        best_steps[thread] = best_step
        cuda.syncthreads()
        width = THREADS // 2
        while width > 0:
            if thread < width:
                other = best_scores[thread + width]
                other_step = best_steps[thread + width]
                mine = best_scores[thread]
                mine_step = best_steps[thread]
                if other_step >= 0 and (
                    mine_step < 0 or other < mine or (other == mine and other_step < mine_step)
                ):
                    best_scores[thread] = other
                    best_steps[thread] = other_step
            cuda.syncthreads()
            width //= 2
        if thread == 0:
            tile_score[b, tile] = best_scores[0]
            tile_step[b, tile] = best_steps[0]

    return score_kernel


@cuda.jit
def _finish_kernel(
    num_steps, num_bins, log_bound, arrivals, bins, local_index, tile_score, tile_step,
    out_index, out_steps, out_done,
):
    """Per block: best over tiles, then the CPU's stopping step by binary search on arrivals."""
    b = np.int64(cuda.grid(1))
    while b < arrivals.shape[0]:
        _finish_block(
            b, num_steps, num_bins, log_bound, arrivals, bins, local_index, tile_score, tile_step,
            out_index, out_steps, out_done,
        )
        b += np.int64(cuda.gridsize(1))


@cuda.jit(device=True)
def _finish_block(
    b, num_steps, num_bins, log_bound, arrivals, bins, local_index, tile_score, tile_step,
    out_index, out_steps, out_done,
):
    best = math.inf
    best_step = np.int64(-1)
    for tile in range(tile_score.shape[1]):
        step = tile_step[b, tile]
        if step >= 0 and (tile_score[b, tile] < best or best_step < 0):
            best = tile_score[b, tile]
            best_step = step
    out_done[b] = False
    out_index[b] = -1
    out_steps[b] = num_steps
    if best_step < 0:
        return  # no finite score: the CPU reports it
    if num_bins == 1:
        out_index[b] = best_step
    else:
        out_index[b] = local_index[b, best_step] * num_bins + bins[b, best_step]
    # The CPU stops at the first step s > best_step with ln T_s - ln r'_max >= best (monotone in s).
    lo = best_step + 1
    hi = np.int64(num_steps)
    while lo < hi:
        mid = (lo + hi) // 2
        if math.log(arrivals[b, mid]) - log_bound[b] >= best:
            hi = mid
        else:
            lo = mid + 1
    out_steps[b] = lo
    out_done[b] = lo < num_steps


def _decode_kernel_for(prior_tag):
    """The decoding kernel of one prior family."""
    return _family_kernel(_make_decode_kernel, prior_tag)


def _make_decode_kernel(prior_tag):
    prior = prior_tag  # a compile-time constant of the kernel

    @cuda.jit
    def decode_kernel(indices, loc, scale, intervals, offsets, strides, num_bins, seed, block_ids, out):
        """One thread per block: the CPU's ``core.decode_block``, bit for bit. ``loc``/``scale``
        (B, D), or (1, D): one prior row shared by every block (the device path uploads no more)."""
        grid = BinGrid(_native(intervals), _native(offsets), _native(strides), num_bins)
        loc = _native(loc)
        scale = _native(scale)
        out = _native(out)
        shared = loc.shape[0] == 1
        b = np.int64(cuda.grid(1))
        while b < indices.shape[0]:  # grid-stride: any number of blocks
            row = 0 if shared else b
            core.decode_block(prior, grid, seed, block_ids[b], indices[b], loc[row], scale[row], out[b])
            b += np.int64(cuda.gridsize(1))

    return decode_kernel


# --------------------------------------------------------------------------------------------
# Kernels of the device-resident path (recnumba.device): parameter arrays that stay on the GPU
# --------------------------------------------------------------------------------------------


def _check_kernel_for(family_tag):
    """The parameter-check kernel of one target family (``inputs.parameter_row_code`` per row)."""
    return _family_kernel(_make_check_kernel, family_tag)


def _make_check_kernel(family_tag):
    family = family_tag  # a compile-time constant of the kernel

    @cuda.jit
    def check_kernel(first, second, num_dims, codes):
        """One thread per row of the (N, D) parameters (axes of length 1 broadcast): its code."""
        first = _native(first)
        second = _native(second)
        i = np.int64(cuda.grid(1))
        while i < codes.shape[0]:
            codes[i] = inputs.parameter_row_code(family, first, second, i, num_dims)
            i += np.int64(cuda.gridsize(1))

    return check_kernel


def _gather_kernel_for(family_tag, pair_tag):
    """The gather-and-standardise kernel of one (target family, pair)."""
    key = (_make_gather_kernel, type(family_tag), type(pair_tag))
    if key not in _FAMILY_KERNELS:
        _FAMILY_KERNELS[key] = _make_gather_kernel(family_tag, pair_tag)
    return _FAMILY_KERNELS[key]


def _make_gather_kernel(family_tag, pair_tag):
    family = family_tag
    pair = pair_tag

    @cuda.jit
    def gather_kernel(first, second, rows, dims, prior_loc, prior_scale, targets, codes, bounded):
        """Thread per block r: row ``rows[r]``'s dimensions ``dims`` standardised into
        ``targets[r]`` (d_b, 2), its check code and whether its ratio is bounded."""
        first = _native(first)
        second = _native(second)
        dims = _native(dims)
        prior_loc = _native(prior_loc)
        prior_scale = _native(prior_scale)
        targets = _native(targets)
        r = np.int64(cuda.grid(1))
        while r < rows.shape[0]:
            code, is_bounded = inputs.standardise_row(family, pair, first, second, rows[r], dims, prior_loc,
                                                      prior_scale, targets[r])
            codes[r] = code
            bounded[r] = is_bounded
            r += np.int64(cuda.gridsize(1))

    return gather_kernel


def _kl_kernel_for(pair_tag):
    """The per-row KL kernel of one pair."""
    return _family_kernel(_make_kl_kernel, pair_tag)


def _make_kl_kernel(pair_tag):
    pair = pair_tag

    @cuda.jit
    def kl_kernel(first, second, rows, dims, prior_first, prior_second, out):
        """Thread per r: D_KL in bits of row ``rows[r]`` over ``dims`` (``inputs.kl_row_bits``)."""
        first = _native(first)
        second = _native(second)
        dims = _native(dims)
        prior_first = _native(prior_first)
        prior_second = _native(prior_second)
        r = np.int64(cuda.grid(1))
        while r < rows.shape[0]:
            out[r] = inputs.kl_row_bits(pair, first, second, rows[r], dims, prior_first, prior_second)
            r += np.int64(cuda.gridsize(1))

    return kl_kernel


def _tables_kernel_for(pair_tag):
    """The bin-table kernel of one pair (``core.fill_bin_tables`` per block)."""
    return _family_kernel(_make_tables_kernel, pair_tag)


def _make_tables_kernel(pair_tag):
    pair = pair_tag

    @cuda.jit
    def tables_kernel(targets, intervals, offsets, strides, num_bins, weights, log_pi, cdf, log_bound):
        """Thread per block b: its bin tables into ``log_pi[b]``/``cdf[b]`` and ln r'_max into
        ``log_bound[b]``: the CPU backend's ``bin_tables_range``, on the device."""
        grid = BinGrid(_native(intervals), _native(offsets), _native(strides), num_bins)
        targets = _native(targets)
        log_pi = _native(log_pi)
        cdf = _native(cdf)
        b = np.int64(cuda.grid(1))
        while b < targets.shape[0]:
            log_bound[b] = core.fill_bin_tables(pair, targets[b], grid, weights, log_pi[b], cdf[b])
            b += np.int64(cuda.gridsize(1))

    return tables_kernel


@cuda.jit
def _take_rows_kernel(source, rows, out):
    """``out[r] = source[rows[r]]`` for (B, D, 2) float64 targets (grid-stride over r, d)."""
    width = np.int64(source.shape[1])
    total = np.int64(rows.shape[0]) * width
    position = np.int64(cuda.grid(1))
    stride = np.int64(cuda.gridsize(1))
    while position < total:
        r = position // width
        d = position - r * width
        out[r, d, 0] = source[rows[r], d, 0]
        out[r, d, 1] = source[rows[r], d, 1]
        position += stride


@cuda.jit
def _scatter_kernel(part, rows, dims, out):
    """``out[rows[r], dims[k]] = part[r, k]``: a block's samples into the (N, D) samples."""
    width = np.int64(dims.shape[0])
    total = np.int64(rows.shape[0]) * width
    position = np.int64(cuda.grid(1))
    stride = np.int64(cuda.gridsize(1))
    while position < total:
        r = position // width
        k = position - r * width
        out[rows[r], dims[k]] = part[r, k]
        position += stride


# --------------------------------------------------------------------------------------------
# Host drivers
# --------------------------------------------------------------------------------------------


#: Most thread blocks per 1-D launch; kernels loop (grid-stride) over anything larger.
MAX_GRID = 1 << 16


def _launch(kernel, grid, threads):
    """``kernel[grid, threads]`` with plain Python ints: numba-cuda's launcher rejects numpy ints."""
    grid = tuple(int(g) for g in grid) if isinstance(grid, tuple) else int(grid)
    return kernel[grid, int(threads)]


def _grid(total, threads=THREADS):
    return max(1, min((int(total) + threads - 1) // threads, MAX_GRID))


def _next_power_of_two(value):
    return 1 << max(0, int(value - 1).bit_length())


def _group_size(num_steps, table_size, partitioned):
    """Blocks per launch group so that the group's device arrays stay within ``GROUP_BYTES``."""
    per_block = 24 * num_steps + 16 * table_size + 64  # arrivals, bins, ln pi_j; tables; scalars
    if partitioned:
        per_block += 8 * num_steps + 8 * _next_power_of_two(num_steps)  # local index, sort keys
    return max(1, min(GROUP_BYTES // per_block, 65535))  # 65535: the grid.y limit


def _on_device(targets):
    """Whether ``targets`` is a device array (the device-resident path) rather than numpy."""
    return not isinstance(targets, np.ndarray)


def _upload_grid(grid):
    return tuple(cuda.to_device(np.ascontiguousarray(a)) for a in (grid.intervals, grid.offsets, grid.strides))


def _device_tables(pair_tag, d_targets, grid, weights, d_grid=None):
    """Bin tables of device targets (B, D, 2), built on the device: (log_pi, cdf, log_bound), device
    arrays (B, table), (B, table), (B,)."""
    count = d_targets.shape[0]
    table_size = max(1, int(grid.offsets[-1]))
    d_intervals, d_offsets, d_strides = d_grid if d_grid is not None else _upload_grid(grid)
    log_pi = cuda.device_array((count, table_size), dtype=np.float64)
    cdf = cuda.device_array((count, table_size), dtype=np.float64)
    log_bound = cuda.device_array(count, dtype=np.float64)
    if count:
        _launch(_tables_kernel_for(pair_tag), _grid(count), THREADS)(
            d_targets, d_intervals, d_offsets, d_strides, np.int64(grid.num_bins), np.int64(weights), log_pi, cdf,
            log_bound,
        )
    return log_pi, cdf, log_bound


def _bounds(pair_tag, targets, grid, weights):
    """(B,) ln r'_max of every block's bin tables, on the host (B floats back for device targets)."""
    if _on_device(targets):
        log_bound = np.empty(targets.shape[0], dtype=np.float64)
        group = _group_size(1, int(grid.offsets[-1]), False)
        d_grid = _upload_grid(grid)
        for start in range(0, targets.shape[0], group):
            stop = min(start + group, targets.shape[0])
            bounds = _device_tables(pair_tag, targets[start:stop], grid, weights, d_grid)[2]
            log_bound[start:stop] = bounds.copy_to_host()
        return log_bound
    log_bound = np.empty(targets.shape[0], dtype=np.float64)
    cpu.bin_bounds(pair_tag, targets, grid, np.int64(weights), log_bound)
    return log_bound


def take_rows(targets, rows):
    """``targets[rows]`` (rows: int64 (M,)) as a new C-contiguous array where ``targets`` lives."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if not _on_device(targets):
        return np.ascontiguousarray(targets[rows])
    out = cuda.device_array((rows.size,) + tuple(targets.shape[1:]), dtype=np.float64)
    if rows.size:
        _launch(_take_rows_kernel, _grid(rows.size * targets.shape[1]), THREADS)(targets, cuda.to_device(rows), out)
    return out


def _host_rows(targets, rows):
    """``targets[rows]`` on the host: for device targets only those rows cross (the CPU fallback)."""
    part = take_rows(targets, rows)
    return part.copy_to_host() if _on_device(part) else part


def _search_on_device(pair_tag, targets, weights, grid, seed, block_ids, orc, num_samples, num_steps):
    """Run the first ``num_steps`` steps of every block's search. Returns (index, steps, done).

    ``done`` marks blocks whose stopping rule fired within those steps; their (index, steps) are
    the CPU's. The bin tables are built one launch group at a time: on the host for numpy
    ``targets``, on the device (``_tables_kernel_for``) for device targets.
    """
    num_steps, num_samples, seed, num_bins = int(num_steps), int(num_samples), int(seed), int(grid.num_bins)
    num_blocks = targets.shape[0]
    partitioned = num_bins > 1
    padded_steps = _next_power_of_two(num_steps)
    index = np.empty(num_blocks, dtype=np.int64)
    steps = np.empty(num_blocks, dtype=np.int64)
    done = np.empty(num_blocks, dtype=np.bool_)
    table_size = int(grid.offsets[-1])
    group = _group_size(num_steps, table_size, partitioned)
    d_intervals = cuda.to_device(np.ascontiguousarray(grid.intervals))
    d_offsets = cuda.to_device(np.ascontiguousarray(grid.offsets))
    d_strides = cuda.to_device(np.ascontiguousarray(grid.strides))
    score_kernel = _score_kernel_for(pair_tag)
    timer = _PhaseTimer(PHASE_SECONDS)
    for start in range(0, num_blocks, group):
        timer.mark(None)
        rows = slice(start, min(start + group, num_blocks))
        count = rows.stop - rows.start
        if _on_device(targets):
            d_targets = targets[rows]
            d_log_pi, d_cdf, d_bound = _device_tables(pair_tag, d_targets, grid, weights,
                                                      (d_intervals, d_offsets, d_strides))
            timer.mark("bin tables (device)")
        else:
            group_targets = np.ascontiguousarray(targets[rows])
            log_pi = np.empty((count, table_size), dtype=np.float64)
            cdf = np.empty((count, table_size), dtype=np.float64)
            log_bound = np.empty(count, dtype=np.float64)
            cpu.bin_tables(pair_tag, group_targets, grid, np.int64(weights), log_pi, cdf, log_bound)
            timer.mark("bin tables (host)")
            d_log_pi = cuda.to_device(log_pi)
            d_cdf = cuda.to_device(cdf)
            d_targets = cuda.to_device(group_targets)
            d_bound = cuda.to_device(log_bound)
        d_ids = cuda.to_device(np.ascontiguousarray(block_ids[rows]))
        arrivals = cuda.device_array((count, num_steps), dtype=np.float64)
        bins = cuda.device_array((count, num_steps), dtype=np.int64)
        log_weights = cuda.device_array((count, num_steps), dtype=np.float64)
        # Plain REC needs no local indices (k_t = t): a dummy keeps the kernels' signature.
        local_index = cuda.device_array((count, num_steps) if partitioned else (1, 1), dtype=np.int64)
        timer.mark("upload")
        _launch(_draw_kernel, _grid(count * num_steps), THREADS)(
            np.uint64(seed), d_ids, np.int64(num_samples if orc else 0), np.int64(num_steps), d_intervals,
            d_offsets, d_strides, np.int64(num_bins), d_log_pi, d_cdf, arrivals, bins, log_weights,
        )
        timer.mark("draw")
        _launch(_arrival_kernel, min(count, MAX_GRID), THREADS)(arrivals, np.int64(num_steps))
        timer.mark("arrivals")
        if partitioned:
            keys = cuda.device_array((count, padded_steps), dtype=np.int64)
            padded_total = count * padded_steps
            _launch(_key_kernel, _grid(padded_total), THREADS)(
                bins, np.int64(num_steps), np.int64(padded_steps), keys
            )
            _sort_rows(keys, count, padded_steps)
            _launch(_rank_kernel, _grid(padded_total), THREADS)(
                keys, np.int64(num_steps), np.int64(padded_steps), local_index
            )
            timer.mark("local index (sort)")
        num_tiles = (num_steps + TILE - 1) // TILE
        tile_score = cuda.device_array((count, num_tiles), dtype=np.float64)
        tile_step = cuda.device_array((count, num_tiles), dtype=np.int64)
        _launch(score_kernel, (num_tiles, count), THREADS)(
            np.uint64(seed), d_ids, np.int64(num_steps), d_intervals, d_offsets, d_strides,
            np.int64(num_bins), d_targets, arrivals, bins, log_weights, local_index, tile_score, tile_step,
        )
        timer.mark("score")
        d_index = cuda.device_array(count, dtype=np.int64)
        d_steps = cuda.device_array(count, dtype=np.int64)
        d_done = cuda.device_array(count, dtype=np.bool_)
        _launch(_finish_kernel, _grid(count), THREADS)(
            np.int64(num_steps), np.int64(num_bins), d_bound, arrivals, bins, local_index,
            tile_score, tile_step, d_index, d_steps, d_done,
        )
        index[rows] = d_index.copy_to_host()
        steps[rows] = d_steps.copy_to_host()
        done[rows] = d_done.copy_to_host()
        timer.mark("finish")
    return index, steps, done


def _sort_rows(keys, count, padded_steps):
    """Bitonic sort of each row of ``keys`` (row length a power of two), ascending."""
    chunk = min(SORT_CHUNK, padded_steps)
    local_grid = (padded_steps // chunk, count)
    local_threads = max(1, min(chunk // 2, 1024))
    # Stages up to the chunk length never leave shared memory.
    _launch(_bitonic_local_kernel, local_grid, local_threads)(
        keys, np.int64(padded_steps), np.int64(chunk), np.int64(2), np.int64(chunk)
    )
    stage = 2 * chunk
    total = count * padded_steps
    while stage <= padded_steps:
        distance = stage // 2
        while distance >= chunk:  # long distances: one global pass each
            _launch(_bitonic_kernel, _grid(total), THREADS)(
                keys, np.int64(padded_steps), np.int64(stage), np.int64(distance)
            )
            distance //= 2
        _launch(_bitonic_local_kernel, local_grid, local_threads)(
            keys, np.int64(padded_steps), np.int64(chunk), np.int64(stage), np.int64(stage)
        )
        stage *= 2


def _search_in_rounds(rows, first_round, limit, orc, weights, pair_tag, targets, grid, spec, block_ids, out,
                      cpu_rows):
    """Search blocks ``rows`` on the GPU in rounds of doubling length, up to ``limit`` steps.

    A round redoes steps 0..R-1 (its arrival times and bins do not depend on later steps) and
    settles every block whose stopping rule fired; ORC blocks are settled at R = N in any case.
    Blocks still open after the largest round (or ``limit``) are marked in ``cpu_rows``.
    """
    pending = rows
    round_steps = min(first_round, limit, MAX_ROUND)
    while pending.size:
        index, steps, done = _search_on_device(
            pair_tag, take_rows(targets, pending), weights, grid, spec.seed, block_ids[pending], orc,
            spec.num_samples, round_steps,
        )
        settled = done | (orc & (round_steps == limit) & (index >= 0))
        finished = pending[settled]
        out.index[finished] = index[settled]
        out.steps[finished] = steps[settled]
        out.status[finished] = STATUS_OK
        out.exact[finished] = not orc
        pending = pending[~settled]
        if round_steps >= min(limit, MAX_ROUND):
            cpu_rows[pending] = True
            break
        round_steps = min(2 * round_steps, limit, MAX_ROUND)


def select(pair_tag, targets, grid, spec, block_ids, out):
    """The CPU backend's ``select`` on the GPU: same arguments, same outputs, same answers.

    ``targets`` (B, D, 2): numpy, or a device array (the device-resident path, ``recnumba.device``:
    bounds and bin tables are then built on the device, and only the rows of blocks handed to
    the CPU come back to the host). Decisions come from ``recnumba.search.policy`` (evaluated on
    the host over the (B,) bounds); blocks the GPU cannot finish are handed to the CPU backend,
    which gives the reference answer.
    """
    num_samples, max_steps, num_bins = int(spec.num_samples), int(spec.max_steps), int(grid.num_bins)
    num_blocks = targets.shape[0]
    cpu_rows = np.zeros(num_blocks, dtype=np.bool_)
    # Sort keys j * S2 + t must fit in int64; then every index k * J + j fits too.
    widest = max(num_samples, min(max_steps, MAX_ROUND))
    fits = num_bins * _next_power_of_two(widest) < 1 << 63
    gpu_rows = np.full(num_blocks, fits, dtype=np.bool_)
    cpu_rows |= ~gpu_rows

    first_weights = int(policy.first_weights(spec))
    out.log_bound[:] = _bounds(pair_tag, targets, grid, first_weights)
    action = np.empty(num_blocks, dtype=np.int64)
    status = np.empty(num_blocks, dtype=np.int64)
    policy.first_actions(spec, out.log_bound, action, status)
    report = np.flatnonzero(gpu_rows & (action == policy.ACTION_REPORT))
    out.index[report], out.steps[report], out.exact[report] = -1, 0, True
    out.status[report] = status[report]
    exact_rows = np.flatnonzero(gpu_rows & (action == policy.ACTION_PFR))
    orc_rows = np.flatnonzero(gpu_rows & (action == policy.ACTION_ORC))

    # Exact PFR (also the first attempt of "auto"); blocks it cannot settle go to the CPU, which
    # repeats the search up to max_steps and, for "auto", falls back to ORC exactly as on the CPU.
    _search_in_rounds(exact_rows, FIRST_ROUND, max_steps, False, first_weights, pair_tag, targets, grid, spec,
                      block_ids, out, cpu_rows)
    if orc_rows.size:
        if first_weights != int(spec.weights):
            out.log_bound[orc_rows] = _bounds(pair_tag, take_rows(targets, orc_rows), grid, spec.weights)
        bounded = np.isfinite(out.log_bound[orc_rows])
        for rows, first_round in ((orc_rows[bounded], FIRST_ROUND), (orc_rows[~bounded], num_samples)):
            # With an unbounded ratio ORC never stops early: go straight to all N steps.
            _search_in_rounds(rows, first_round, num_samples, True, int(spec.weights), pair_tag, targets, grid,
                              spec, block_ids, out, cpu_rows)

    rows = np.flatnonzero(cpu_rows)
    if rows.size:
        part = SearchOutput.empty(rows.size)
        cpu.select(pair_tag, _host_rows(targets, rows), grid, spec, np.ascontiguousarray(block_ids[rows]), part)
        for whole, values in zip(out, part):
            whole[rows] = values


def device_view(interface, owner, shape):
    """A numba device array over a CUDA array interface's memory with 2-D ``shape``, zero copy.

    ``interface``: a v3 ``__cuda_array_interface__`` dict of an array of 0, 1 or 2 dimensions, whose
    shape is ``shape`` without leading axes of length 1 (a (D,) array viewed as (1, D)); ``owner``
    keeps the memory alive. Under the simulator the "device" pointer is host memory and the view
    a simulator array over it (again no copy).
    """
    dtype = np.dtype(interface["typestr"])
    own_shape = tuple(int(n) for n in interface["shape"])
    strides = interface.get("strides")
    if strides is None:  # C-contiguous
        strides, step = [], dtype.itemsize
        for n in reversed(own_shape):
            strides.insert(0, step)
            step *= max(n, 1)
    strides = tuple(int(x) for x in strides)
    pad = len(shape) - len(own_shape)
    strides = (dtype.itemsize,) * pad + strides  # (axes of length 1: any stride reads the same element)
    # A producer's "stream" (CuPy publishes one) stays: numba synchronises it once, when the view is made.
    # torch publishes none; arrays.cuda_interface has synchronised torch's current stream already.
    view = dict(interface, shape=tuple(shape), strides=strides, version=3)
    view.pop("mask", None)
    if SIMULATOR:
        from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

        if 0 in shape:
            return FakeCUDAArray(np.empty(tuple(shape), dtype=dtype))
        pointer = int(interface["data"][0])
        low = sum((n - 1) * st for n, st in zip(shape, strides) if st < 0)  # bytes below the pointer
        high = sum((n - 1) * st for n, st in zip(shape, strides) if st > 0) + dtype.itemsize

        class _Host:  # the bytes the strided view reaches (the simulator's memory is the host's)
            __array_interface__ = {"shape": (high - low,), "typestr": "|u1", "data": (pointer + low, False),
                                   "version": 3}

        buffer = np.asarray(_Host())
        return FakeCUDAArray(np.ndarray(shape=tuple(shape), dtype=dtype, buffer=buffer, offset=-low, strides=strides))
    return cuda.from_cuda_array_interface(view, owner=owner, sync=True)


def decode_to_device(prior_tag, indices, d_loc, d_scale, grid, seed, block_ids):
    """``decode`` into a new device array (B, D): ``d_loc``/``d_scale`` device (1, D) (the prior
    shared by every block) or (B, D); ``indices``, ``block_ids`` host (B,) int64 (uploaded)."""
    count = indices.shape[0]
    d_out = cuda.device_array((count, d_loc.shape[1]), dtype=np.float64)
    if count:
        d_intervals, d_offsets, d_strides = _upload_grid(grid)
        _launch(_decode_kernel_for(prior_tag), _grid(count), THREADS)(
            cuda.to_device(np.ascontiguousarray(indices, dtype=np.int64)), d_loc, d_scale, d_intervals, d_offsets,
            d_strides, np.int64(grid.num_bins), np.uint64(seed),
            cuda.to_device(np.ascontiguousarray(block_ids, dtype=np.int64)), d_out,
        )
    return d_out


def scatter(part, rows, dims, out):
    """``out[rows[:, None], dims[None, :]] = part`` on the device (part (M, d_b), out (N, D))."""
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    dims = np.ascontiguousarray(dims, dtype=np.int64)
    if rows.size and dims.size:
        _launch(_scatter_kernel, _grid(rows.size * dims.size), THREADS)(
            part, cuda.to_device(rows), cuda.to_device(dims), out)


def decode(prior_tag, indices, loc, scale, grid, seed, block_ids, out):
    """The CPU backend's ``decode`` on the GPU: the same samples, bit for bit."""
    d_out = cuda.device_array(out.shape, dtype=np.float64)
    _launch(_decode_kernel_for(prior_tag), _grid(indices.shape[0]), THREADS)(
        cuda.to_device(np.ascontiguousarray(indices)), cuda.to_device(np.ascontiguousarray(loc)),
        cuda.to_device(np.ascontiguousarray(scale)), cuda.to_device(np.ascontiguousarray(grid.intervals)),
        cuda.to_device(np.ascontiguousarray(grid.offsets)), cuda.to_device(np.ascontiguousarray(grid.strides)),
        np.int64(grid.num_bins), np.uint64(seed), cuda.to_device(block_ids), d_out,
    )
    out[:] = d_out.copy_to_host()
