"""CUDA backend: batched PFR/ORC selection and decoding on one GPU, same codes as the CPU.

This is the only module that imports ``numba.cuda``; ``recnumba.api`` imports it lazily, so
recnumba works without numba-cuda or a GPU. The kernels call the very ``@njit`` functions the CPU
kernels use (Philox streams, bin draws, candidate coordinates, scores): numba-cuda compiles them as
device functions.

Pipeline for B blocks and the first S search steps of each (rounds of doubling S, up to N for ORC
and ``max_steps`` for PFR, stop as soon as every block's stopping rule has fired):

1. ``_draw_kernel``: per (block, step), the private arrival-time increment (ORC: scaled by
   N / (N - t), the order statistics of N exponentials) and the bin draw j_t ~ pi with ln pi_j.
2. ``_arrival_kernel``: one thread block per block turns the increments into arrival times (running
   sums, chunked over threads).
3. Partitioned only: the local index k_t of step t in its bin (the number of earlier steps that drew
   the same bin) by a bitonic sort of ``j_t * S2 + t`` keys per block (``_bitonic_kernel``) and a
   lower-bound search for each key's run start (``_rank_kernel``). Plain REC has k_t = t.
4. ``_score_kernel``: one thread block per (block, tile of steps) scores its candidates
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
reference answer. Bin tables are built on the host (``batch_bin_tables``) one launch group at a
time and uploaded; the bins themselves are drawn on the device.

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

from recnumba.numerics.portable import mul_rn  # noqa: E402
from recnumba.kernels.bin_weights import WEIGHTS_RATIO  # noqa: E402
from recnumba.kernels.selection import (  # noqa: E402
    STATUS_OK,
    _HOPELESS_FACTOR_LOG,
    batch_bin_bounds,
    batch_bin_tables,
    candidate_log_ratio_of_bin,
    decode_block,
    draw_bin,
    select_batch,
    select_serial,
)
from recnumba.random.philox import private_uniform_pair  # noqa: E402

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
    """True when a CUDA GPU (or the CUDA simulator) can run the kernels."""
    try:
        return bool(cuda.is_available())
    except (NumbaError, OSError, RuntimeError):  # driver missing or broken
        return False


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------


@cuda.jit
def _draw_kernel(
    seed, block_ids, num_samples, num_steps, intervals, offsets, strides, log_pi, cdf,
    increments, bins, log_weights,
):
    """Per (block b, step t): arrival increment, bin j_t and ln pi_j (grid-stride over B*S)."""
    intervals = _native(intervals)
    offsets = _native(offsets)
    strides = _native(strides)
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
        u_time, _ = private_uniform_pair(seed, block, t, 0)
        increment = -math.log(u_time)
        if num_samples > 0:
            increment *= float(num_samples) / float(num_samples - t)
        increments[b, t] = increment
        bin_index, log_weight = draw_bin(
            seed, block, t, intervals, offsets, strides, log_pi[b], cdf[b], scratch, False
        )
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


@cuda.jit
def _score_kernel(
    seed, block_ids, num_steps, num_bins, intervals, strides, t_loc, t_scale, arrivals, bins,
    log_weights, local_index, tile_score, tile_step,
):
    """Thread block (b, tile): score the tile's candidates and reduce to the best (score, step)."""
    intervals = _native(intervals)
    strides = _native(strides)
    t_loc = _native(t_loc)
    t_scale = _native(t_scale)
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
        log_ratio = candidate_log_ratio_of_bin(
            seed, block, index, bin_index, intervals, strides, t_loc[b], t_scale[b]
        )
        score = math.log(arrivals[b, t]) - log_ratio + log_num_bins + log_weights[b, t]
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


@cuda.jit
def _decode_kernel(indices, p_loc, p_scale, intervals, strides, num_bins, seed, block_ids, out):
    """One thread per block: the CPU's ``decode_block``, bit for bit."""
    intervals = _native(intervals)
    strides = _native(strides)
    p_loc = _native(p_loc)
    p_scale = _native(p_scale)
    out = _native(out)
    b = np.int64(cuda.grid(1))
    while b < indices.shape[0]:  # grid-stride: any number of blocks
        decode_block(
            indices[b], p_loc[b], p_scale[b], intervals, strides, num_bins, seed, block_ids[b],
            out[b],
        )
        b += np.int64(cuda.gridsize(1))


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


def _bounds(t_loc, t_scale, intervals, offsets, weights_kind):
    log_bound = np.empty(t_loc.shape[0], dtype=np.float64)
    batch_bin_bounds(t_loc, t_scale, intervals, offsets, weights_kind, log_bound)
    return log_bound


def _search_on_device(
    t_loc, t_scale, weights_kind, partition_arrays, seed, block_ids, num_samples, num_steps,
):
    """Run the first ``num_steps`` steps of every block's search. Returns (index, steps, done).

    ``done`` marks blocks whose stopping rule fired within those steps; their (index, steps) are
    the CPU's. The bin tables are built on the host one launch group at a time.
    """
    intervals, offsets, strides, num_bins = partition_arrays
    num_steps, num_samples, seed = int(num_steps), int(num_samples), int(seed)
    num_blocks = t_loc.shape[0]
    partitioned = num_bins > 1
    padded_steps = _next_power_of_two(num_steps)
    index = np.empty(num_blocks, dtype=np.int64)
    steps = np.empty(num_blocks, dtype=np.int64)
    done = np.empty(num_blocks, dtype=np.bool_)
    group = _group_size(num_steps, int(offsets[-1]), partitioned)
    d_intervals = cuda.to_device(intervals)
    d_offsets = cuda.to_device(offsets)
    d_strides = cuda.to_device(strides)
    timer = _PhaseTimer(PHASE_SECONDS)
    for start in range(0, num_blocks, group):
        timer.mark(None)
        rows = slice(start, min(start + group, num_blocks))
        count = rows.stop - rows.start
        group_loc = np.ascontiguousarray(t_loc[rows])
        group_scale = np.ascontiguousarray(t_scale[rows])
        table_size = int(offsets[-1])
        log_pi = np.empty((count, table_size), dtype=np.float64)
        cdf = np.empty((count, table_size), dtype=np.float64)
        log_bound = np.empty(count, dtype=np.float64)
        batch_bin_tables(group_loc, group_scale, intervals, offsets, weights_kind, log_pi, cdf, log_bound)
        timer.mark("bin tables (host)")
        d_ids = cuda.to_device(np.ascontiguousarray(block_ids[rows]))
        d_log_pi = cuda.to_device(log_pi)
        d_cdf = cuda.to_device(cdf)
        d_t_loc = cuda.to_device(group_loc)
        d_t_scale = cuda.to_device(group_scale)
        d_bound = cuda.to_device(log_bound)
        arrivals = cuda.device_array((count, num_steps), dtype=np.float64)
        bins = cuda.device_array((count, num_steps), dtype=np.int64)
        log_weights = cuda.device_array((count, num_steps), dtype=np.float64)
        # Plain REC needs no local indices (k_t = t): a dummy keeps the kernels' signature.
        local_index = cuda.device_array((count, num_steps) if partitioned else (1, 1), dtype=np.int64)
        timer.mark("upload")
        _launch(_draw_kernel, _grid(count * num_steps), THREADS)(
            np.int64(seed), d_ids, np.int64(num_samples), np.int64(num_steps), d_intervals,
            d_offsets, d_strides, d_log_pi, d_cdf, arrivals, bins, log_weights,
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
        _launch(_score_kernel, (num_tiles, count), THREADS)(
            np.int64(seed), d_ids, np.int64(num_steps), np.int64(num_bins), d_intervals,
            d_strides, d_t_loc, d_t_scale, arrivals, bins, log_weights, local_index, tile_score,
            tile_step,
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


def _search_in_rounds(
    rows, first_round, limit, t_loc, t_scale, weights_kind, partition_arrays, seed, block_ids,
    num_samples, outputs, cpu_rows,
):
    """Search blocks ``rows`` on the GPU in rounds of doubling length, up to ``limit`` steps.

    A round redoes steps 0..R-1 (its arrival times and bins do not depend on later steps) and
    settles every block whose stopping rule fired; ORC blocks are settled at R = N in any case.
    Blocks still open after the largest round (or ``limit``) are marked in ``cpu_rows``.
    """
    out_index, out_steps, out_status, out_exact = outputs
    pending = rows
    round_steps = min(first_round, limit, MAX_ROUND)
    while pending.size:
        index, steps, done = _search_on_device(
            t_loc[pending], t_scale[pending], weights_kind, partition_arrays, seed,
            block_ids[pending], num_samples, round_steps,
        )
        settled = done | ((num_samples > 0) & (round_steps == limit) & (index >= 0))
        finished = pending[settled]
        out_index[finished] = index[settled]
        out_steps[finished] = steps[settled]
        out_status[finished] = STATUS_OK
        out_exact[finished] = num_samples == 0
        pending = pending[~settled]
        if round_steps >= min(limit, MAX_ROUND):
            cpu_rows[pending] = True
            break
        round_steps = min(2 * round_steps, limit, MAX_ROUND)


def select_cuda(
    t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block_ids,
    num_samples, max_steps, exact_log_bound_limit, out_index, out_steps, out_status,
    out_log_bound, out_exact,
):
    """``selection.select_batch`` on the GPU: same arguments, same outputs, same answers."""
    num_samples, max_steps, num_bins = int(num_samples), int(max_steps), int(num_bins)
    num_blocks = t_loc.shape[0]
    partition_arrays = (intervals, offsets, strides, num_bins)
    cpu_rows = np.zeros(num_blocks, dtype=np.bool_)
    hopeless = math.log(float(max_steps)) + _HOPELESS_FACTOR_LOG
    try_exact = num_samples > 0 and exact_log_bound_limit > -math.inf
    exact_kind = WEIGHTS_RATIO if try_exact else weights_kind
    # Sort keys j * S2 + t must fit in int64; then every index k * J + j fits too.
    widest = max(num_samples, min(max_steps, MAX_ROUND))
    fits = num_bins * _next_power_of_two(widest) < 1 << 63
    gpu_rows = np.full(num_blocks, fits, dtype=np.bool_)
    cpu_rows |= ~gpu_rows

    log_bound = _bounds(t_loc, t_scale, intervals, offsets, exact_kind)
    out_log_bound[:] = log_bound
    finite = np.isfinite(log_bound) & (log_bound <= hopeless)
    no_rows = np.zeros(num_blocks, dtype=np.bool_)
    if num_samples == 0:
        exact_rows = gpu_rows & finite
        cpu_rows |= gpu_rows & ~finite  # unbounded / hopeless: the CPU reports the status at once
        orc_rows = no_rows
    else:
        exact_rows = gpu_rows & finite & (log_bound <= exact_log_bound_limit) if try_exact else no_rows
        orc_rows = gpu_rows & ~exact_rows
    outputs = (out_index, out_steps, out_status, out_exact)

    # Exact PFR (also the first attempt of "auto"); blocks it cannot settle go to the CPU, which
    # repeats the search up to max_steps and, for "auto", falls back to ORC exactly as on the CPU.
    _search_in_rounds(
        np.flatnonzero(exact_rows), FIRST_ROUND, max_steps, t_loc, t_scale, exact_kind, partition_arrays,
        seed, block_ids, 0, outputs, cpu_rows,
    )
    orc = np.flatnonzero(orc_rows)
    if orc.size:
        if exact_kind != weights_kind:
            out_log_bound[orc] = _bounds(t_loc[orc], t_scale[orc], intervals, offsets, weights_kind)
        bounded = np.isfinite(out_log_bound[orc])
        for rows, first_round in ((orc[bounded], FIRST_ROUND), (orc[~bounded], num_samples)):
            # With an unbounded ratio ORC never stops early: go straight to all N steps.
            _search_in_rounds(
                rows, first_round, num_samples, t_loc, t_scale, weights_kind, partition_arrays, seed,
                block_ids, num_samples, outputs, cpu_rows,
            )

    cpu = np.flatnonzero(cpu_rows)
    if cpu.size:
        results = [np.empty(cpu.size, dtype=o.dtype) for o in (
            out_index, out_steps, out_status, out_log_bound, out_exact)]
        select = select_batch if cpu.size > 1 else select_serial
        select(
            np.ascontiguousarray(t_loc[cpu]), np.ascontiguousarray(t_scale[cpu]), intervals,
            offsets, strides, num_bins, weights_kind, seed, np.ascontiguousarray(block_ids[cpu]),
            num_samples, max_steps, exact_log_bound_limit, *results,
        )
        for target, values in zip(
            (out_index, out_steps, out_status, out_log_bound, out_exact), results
        ):
            target[cpu] = values


def decode_cuda(indices, p_loc, p_scale, intervals, strides, num_bins, seed, block_ids, out):
    """``selection.decode_batch`` on the GPU: the same samples, bit for bit."""
    d_out = cuda.device_array(out.shape, dtype=np.float64)
    _launch(_decode_kernel, _grid(indices.shape[0]), THREADS)(
        cuda.to_device(indices), cuda.to_device(np.ascontiguousarray(p_loc)),
        cuda.to_device(np.ascontiguousarray(p_scale)), cuda.to_device(intervals),
        cuda.to_device(strides), np.int64(num_bins), np.int64(seed), cuda.to_device(block_ids),
        d_out,
    )
    out[:] = d_out.copy_to_host()
