"""The CPU's search: candidates in chunks, every stage of a candidate a flat loop over the chunk.

Same contract and same results, bit for bit, as ``core.search`` (which the GPU runs and which
stays the readable definition): same index, same step count, same status, for every input. What
changes is only the order of work. ``core.search`` takes one candidate through every stage before
the next; here a chunk of ``CHUNK`` consecutive search steps goes through each stage in turn:

1. arrival times (sequential sums, libm ``log``: exactly ``core.arrival_increment``);
2. bin draws, one dimension at a time over the chunk (partitioned search only);
3. per-bin local indices (sequential; a dense counter table for J <= ``DENSE_BINS_LIMIT``);
4. scoring, one dimension pair at a time: Philox for every live candidate, the prior quantiles,
   the log ratios (``random.philox.shared_uniform_lanes``, ``protocol.std_quantiles``,
   ``protocol.add_log_ratios``: loops that LLVM vectorises);
5. a sequential pass applying the stopping rule and the strict-minimum update of ``core.search``.

Pruning (skipping the remaining dimensions of a candidate that can no longer win) uses the best
score at the chunk's start instead of the running best, with ``core.visit_candidate``'s bound and
margin: it never drops a candidate that ``core.search`` would keep, and it never changes a
result, only the cost (a chunk packs the survivors away only when at least 1 in 8 is dropped). Scores are summed in dimension order exactly as ``visit_candidate`` sums
them; scoring a few candidates past the stopping step (at most one chunk) changes nothing either.
"""

import math

import numpy as np
from numba import njit

from recnumba.families.protocol import add_log_ratios, prior_of, std_quantiles
from recnumba.random.philox import private_uniform_lanes, shared_uniform_lanes
from recnumba.search.params import (
    STATUS_INDEX_OVERFLOW,
    STATUS_INTERRUPTED,
    STATUS_MAX_STEPS,
    STATUS_NO_CANDIDATE,
    STATUS_OK,
)

#: Search steps per chunk: long enough for the vector loops, short enough to stay in L1. The first
#: chunk has ``FIRST_CHUNK`` steps and each next one twice as many up to ``CHUNK``, so a search that
#: stops after a few steps does not pay for a full chunk.
CHUNK = 256
FIRST_CHUNK = 16
#: Up to this many bins, local indices are counted in a dense table (one int32 per bin).
DENSE_BINS_LIMIT = 1 << 18
#: Dimensions with at most this many intervals draw them by counting cdf entries, not by bisection.
_COUNTED_INTERVALS = 8
_INT32_COUNT_LIMIT = np.int64(2**31 - 1)
_INDEX_LIMIT = np.int64(9223372036854775807)  # 2**63 - 1: indices are int64
_EMPTY = np.int64(-1)
#: Counter tables above this many int64 words (L2-sized) get their slots touched ahead (``_touch``).
_TOUCH_SLOTS = 1 << 15
#: ORC's counter table starts with room for min(N, J) bins, up to this many slots (32 MiB).
_PRESIZED_SLOTS_LIMIT = 1 << 21
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _home(table, key):
    """Home slot of ``key`` in the counter table (``table.shape[0] // 2`` slots, a power of two)."""
    mask = np.uint64(table.shape[0] // 2 - 1)
    return np.int64(((np.uint64(key) * _FIBONACCI) >> np.uint64(32)) & mask)


@njit(cache=True)
def _slot(table, key):
    """Slot of ``key`` in the open-addressing counter table (linear probing), or its empty slot.

    ``table`` holds (key, count) pairs side by side (one cache line per probe).
    """
    mask = np.int64(table.shape[0] // 2 - 1)
    slot = _home(table, key)
    while table[2 * slot] != _EMPTY and table[2 * slot] != key:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True)
def _new_table(num_slots):
    table = np.zeros(2 * num_slots, dtype=np.int64)
    for slot in range(num_slots):
        table[2 * slot] = _EMPTY
    return table


@njit(cache=True)
def _grown(table):
    """The counter table rehashed into twice as many slots."""
    new = _new_table(table.shape[0])
    for old in range(table.shape[0] // 2):
        if table[2 * old] != _EMPTY:
            slot = _slot(new, table[2 * old])
            new[2 * slot] = table[2 * old]
            new[2 * slot + 1] = table[2 * old + 1]
    return new


@njit(cache=True)
def _touch(table, bin_index, count):
    """Load every candidate's home slot once, independently of the others, before the sequential
    counting pass: the cache misses of a large table then overlap instead of queueing."""
    total = np.int64(0)
    for c in range(count):
        total += table[2 * _home(table, bin_index[c])]
    return total


@njit(cache=True, error_model="numpy")
def _interval_of(cdf, start, count, u):
    """``core.search_cdf`` without data-dependent branches: first i with ``u < cdf[start + i]``."""
    lo = 0
    length = count
    while length > 1:
        half = length >> 1
        if u >= cdf[start + lo + half - 1]:
            lo += half
        length -= half
    return lo


@njit(cache=True, error_model="numpy")
def _draw_bins(seed, block, first_step, count, grid, log_pi, cdf, u_dim0, u_even, u_odd,
               digits, bin_index, log_weight):
    """``core.draw_bin`` for steps ``first_step + c``, c < count (dimension by dimension).

    ``u_dim0`` holds the uniforms of private slot 1 (drawn with the arrival times).
    """
    num_dims = grid.intervals.shape[0]
    for c in range(count):
        bin_index[c] = 0
        log_weight[c] = 0.0
    for d in range(num_dims):
        slot = d + 1
        if slot % 2 == 0:  # a new private pair: slots 2p (dim 2p - 1) and 2p + 1 (dim 2p)
            needed = grid.intervals[d] > 1 or (d + 1 < num_dims and grid.intervals[d + 1] > 1)
            if needed:
                private_uniform_lanes(seed, block, first_step, slot // 2, count, u_even, u_odd)
        start = grid.offsets[d]
        num_intervals = grid.intervals[d]
        if num_intervals == 1:
            weight = log_pi[start]
            for c in range(count):
                digits[d, c] = 0
                log_weight[c] += weight
            continue
        u = u_dim0 if d == 0 else (u_even if slot % 2 == 0 else u_odd)
        stride = grid.strides[d]
        if num_intervals <= _COUNTED_INTERVALS:
            # Few intervals: the first i with u < cdf[i] is the number of cdf entries <= u (the
            # table is non-decreasing), counted in loops that vectorise.
            for c in range(count):
                digits[d, c] = 0
            for i in range(num_intervals - 1):
                edge = cdf[start + i]
                for c in range(count):
                    digits[d, c] += 1 if u[c] >= edge else 0
        else:
            for c in range(count):
                digits[d, c] = _interval_of(cdf, start, num_intervals, u[c])
        for c in range(count):
            bin_index[c] += digits[d, c] * stride
            log_weight[c] += log_pi[start + digits[d, c]]


@njit(cache=True, error_model="numpy")
def _score_chunk(pair, grid, seed, block, target, log_sup, count, index, digits, log_arrival,
                 log_weight, log_num_bins, best_score, lanes, score):
    """Scores of the chunk's ``count`` candidates into ``score`` (+inf where pruned); returns how
    many were pruned. ``best_score`` +inf: no pruning.

    ``lanes`` is a tuple of scratch arrays (see ``search``); live candidates are kept packed at the
    front of them, so every loop runs over contiguous memory.
    """
    slot, live_index, total, remaining, base, margin, interval, x, u_even, u_odd = lanes
    prior = prior_of(pair)
    num_dims = grid.intervals.shape[0]
    partitioned = grid.num_bins > 1
    prune = best_score < math.inf
    for c in range(count):
        slot[c] = c
        live_index[c] = index[c]
        total[c] = 0.0
        score[c] = math.inf
    if prune:
        for c in range(count):
            magnitude = abs(log_arrival[c]) + abs(log_num_bins) + abs(log_weight[c])
            sup_sum = 0.0
            for d in range(num_dims):
                sup = log_sup[grid.offsets[d] + digits[d, c]]
                sup_sum += sup
                magnitude += abs(sup)
            remaining[c] = sup_sum
            margin[c] = 1e-9 * (1.0 + magnitude)  # inf with an unbounded dimension: never prunes
            base[c] = log_arrival[c] + log_num_bins + log_weight[c]
    live = count
    for pair_index in range((num_dims + 1) // 2):
        kept = live
        if prune:  # drop (and pack away) candidates that can no longer beat the best score
            kept = 0
            for i in range(live):
                kept += 0 if base[i] - total[i] - remaining[i] > best_score + margin[i] else 1
            if 8 * (live - kept) < live:
                kept = live  # too few to drop: packing would cost more than scoring them
        if prune and kept < live:
            kept = 0
            for i in range(live):
                keep = not (base[i] - total[i] - remaining[i] > best_score + margin[i])
                slot[kept] = slot[i]
                live_index[kept] = live_index[i]
                total[kept] = total[i]
                remaining[kept] = remaining[i]
                base[kept] = base[i]
                margin[kept] = margin[i]
                kept += 1 if keep else 0
            live = kept
            if live == 0:
                return count
        shared_uniform_lanes(seed, block, live_index, pair_index, live, u_even, u_odd)
        for d in range(2 * pair_index, min(2 * pair_index + 2, num_dims)):
            if partitioned:
                for i in range(live):
                    interval[i] = digits[d, slot[i]]
            std_quantiles(prior, interval, grid.intervals[d], u_even if d % 2 == 0 else u_odd, live, x)
            add_log_ratios(pair, x, target[d, 0], target[d, 1], live, total)
            if prune:
                start = grid.offsets[d]
                for i in range(live):
                    remaining[i] -= log_sup[start + interval[i]]
    for i in range(live):
        c = slot[i]
        score[c] = log_arrival[c] - total[i] + log_num_bins + log_weight[c]
    return count - live


@njit(cache=True, error_model="numpy")
def search(pair, target, grid, tables, log_bound, seed, block, num_samples, limit, cancel):
    """``core.search``, chunked: the same (index, steps, status) for the same arguments.

    ``cancel`` is checked once per chunk (``STATUS_INTERRUPTED`` once ``cancel[0]`` is nonzero).
    """
    num_dims = grid.intervals.shape[0]
    num_bins = grid.num_bins
    log_num_bins = math.log(float(num_bins))
    log_pi, cdf, log_sup = tables.log_pi, tables.cdf, tables.log_sup
    size = CHUNK
    log_arrival = np.empty(size + 1)
    log_weight = np.zeros(size)
    index = np.empty(size, dtype=np.int64)
    bin_index = np.zeros(size, dtype=np.int64)
    score = np.empty(size)
    u_time = np.empty(size)
    u_dim0 = np.empty(size)
    digits = np.zeros((num_dims, size), dtype=np.int64)
    lanes = (np.empty(size, dtype=np.int64), np.empty(size, dtype=np.int64), np.empty(size),
             np.empty(size), np.empty(size), np.empty(size), np.zeros(size, dtype=np.int64),
             np.empty(size), np.empty(size), np.empty(size))
    u_even, u_odd = lanes[8], lanes[9]
    plain_weight = 0.0  # ln pi_j of the only bin: the sum of ln pi of each dimension's one interval
    for d in range(num_dims):
        plain_weight += log_pi[grid.offsets[d]]
    # Per-bin counters of used local indices (partitioned only): an open-addressing table at
    # first; a dense table once the search has taken J / 16 steps (so that zeroing it is paid for)
    # where J <= DENSE_BINS_LIMIT.
    densifies = num_bins > 1 and num_bins <= DENSE_BINS_LIMIT and limit <= _INT32_COUNT_LIMIT
    dense = False
    dense_counts = np.zeros(1, dtype=np.int32)
    # ORC knows how many bins it can use at most: sized for them up front, the table is never
    # rehashed (each rehash of a large table is a pass of cache misses).
    slots = 1024
    while num_samples > 0 and slots < _PRESIZED_SLOTS_LIMIT and slots < 2 * min(num_samples, num_bins):
        slots *= 2
    bin_table = _new_table(slots)
    bins_used = 0
    touched = np.zeros(1, dtype=np.int64)  # (kept in memory, so the touching loads are not dropped)

    arrival = 0.0
    best_score = math.inf
    best_index = np.int64(-1)
    steps = np.int64(0)
    chunk = np.int64(FIRST_CHUNK)
    prune_pause = 0
    prune_backoff = 1
    while True:
        if steps >= limit:
            if num_samples > 0:
                break
            return best_index, steps, STATUS_MAX_STEPS
        if cancel[0] != 0:
            return best_index, steps, STATUS_INTERRUPTED
        count = min(chunk, limit - steps)
        chunk = min(2 * chunk, np.int64(size))
        # 1. Arrival times; the chunk ends early where the stopping rule fires for sure (the best
        #    score only decreases).
        private_uniform_lanes(seed, block, steps, 0, count, u_time, u_dim0)
        live = count
        stops = False
        for c in range(count):
            increment = -math.log(u_time[c])
            if num_samples > 0:
                increment *= float(num_samples) / float(num_samples - (steps + c))
            arrival += increment
            log_arrival[c] = math.log(arrival)
            if log_arrival[c] - log_bound >= best_score:
                live = c
                stops = True
                break
        # 2-3. Bins and candidate indices.
        overflow = False
        if num_bins == 1:
            for c in range(live):
                index[c] = steps + c
                log_weight[c] = plain_weight
        else:
            _draw_bins(seed, block, steps, live, grid, log_pi, cdf, u_dim0, u_even, u_odd,
                       digits, bin_index, log_weight)
            if densifies and not dense and 16 * steps >= num_bins:
                dense_counts = np.zeros(num_bins, dtype=np.int32)
                for slot in range(bin_table.shape[0] // 2):
                    if bin_table[2 * slot] != _EMPTY:
                        dense_counts[bin_table[2 * slot]] = bin_table[2 * slot + 1]
                dense = True
            if not dense and bin_table.shape[0] > _TOUCH_SLOTS:
                touched[0] += _touch(bin_table, bin_index, live)
            for c in range(live):
                j = bin_index[c]
                if dense:
                    local = np.int64(dense_counts[j])
                    dense_counts[j] += 1
                else:
                    slot = _slot(bin_table, j)
                    if bin_table[2 * slot] == _EMPTY:
                        bin_table[2 * slot] = j
                        bins_used += 1
                    local = bin_table[2 * slot + 1]
                    bin_table[2 * slot + 1] = local + 1
                    if 4 * bins_used > bin_table.shape[0]:  # at most half of the slots in use
                        bin_table = _grown(bin_table)
                if local > (_INDEX_LIMIT - j) // num_bins:
                    live = c  # core.search reports the overflow at this step, unless it stops first
                    overflow = True
                    stops = False
                    break
                index[c] = local * num_bins + j
        # 4. Scores. Pruning costs a few cycles per candidate-dimension even where it drops
        #    nothing (ORC on a broad target): after a chunk where it did not pay, it pauses for
        #    1, 2, 4, ..., 16 chunks.
        pruning = prune_pause == 0
        dropped = _score_chunk(pair, grid, seed, block, target, log_sup, live, index, digits, log_arrival,
                               log_weight, log_num_bins, best_score if pruning else math.inf, lanes, score)
        if not pruning:
            prune_pause -= 1
        elif best_score < math.inf and 8 * dropped < live:
            prune_pause = prune_backoff
            prune_backoff = min(2 * prune_backoff, 16)
        else:
            prune_backoff = 1
        # 5. The stopping rule and the running minimum, step by step as in core.search.
        for c in range(live):
            if log_arrival[c] - log_bound >= best_score:
                steps += c
                stops = True
                overflow = False
                live = -1
                break
            if score[c] < best_score:
                best_score = score[c]
                best_index = index[c]
        if live >= 0:
            steps += live
        if overflow:
            if log_arrival[live] - log_bound >= best_score:
                break
            return best_index, steps, STATUS_INDEX_OVERFLOW
        if stops:
            break
    if best_index < 0:
        return best_index, steps, STATUS_NO_CANDIDATE
    return best_index, steps, STATUS_OK


# ---------------------------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------------------------


@njit(cache=True, error_model="numpy")
def decode(prior, grid, seed, block_ids, indices, loc, scale, out, start, stop):
    """``core.decode_block`` for blocks start..stop-1, bit for bit, ``CHUNK`` blocks at a time.

    ``indices``/``block_ids`` (B,), ``loc``/``scale``/``out`` (B, D): ``out[b] = loc[b] + scale[b] * x``
    with x candidate ``indices[b]``'s standardised coordinates. Lanes are blocks here.
    """
    num_dims = grid.intervals.shape[0]
    num_bins = grid.num_bins
    size = CHUNK
    u_even = np.empty(size)
    u_odd = np.empty(size)
    x = np.empty(size)
    interval = np.zeros(size, dtype=np.int64)
    for first in range(start, stop, size):
        count = min(size, stop - first)
        blocks = block_ids[first:first + count]
        index = indices[first:first + count]
        for pair_index in range((num_dims + 1) // 2):
            shared_uniform_lanes(seed, blocks, index, pair_index, count, u_even, u_odd)
            for d in range(2 * pair_index, min(2 * pair_index + 2, num_dims)):
                if num_bins > 1:  # core.bin_digit of the candidate's bin index % J
                    for c in range(count):
                        interval[c] = ((index[c] % num_bins) // grid.strides[d]) % grid.intervals[d]
                std_quantiles(prior, interval, grid.intervals[d], u_even if d % 2 == 0 else u_odd, count, x)
                for c in range(count):
                    out[first + c, d] = loc[first + c, d] + scale[first + c, d] * x[c]
