"""CPU selection kernels: exact PFR and fixed-budget ORC, plain or partitioned, batched over blocks.

One search, two arrival-time rules:

* PFR (``num_samples == 0``): arrival times T_t = E_0 + ... + E_t, unbounded search.
* ORC (``num_samples == N``): T_t = sum_{i<=t} E_i N / (N - i), the order statistics of N
  exponentials, so exactly N candidates exist.

Candidate t draws a bin j_t ~ pi (sender-private), takes the next unused local index k of that bin,
and is scored ``ln T_t - ln r'(x)`` with ``r' = r / (J pi_j)``; the minimum wins. Since T_t only grows
and r' <= r'_max, the search stops as soon as ``ln T_t - ln r'_max`` reaches the best score: this is
the optimal PFR stopping rule, and for ORC it returns the same argmin as scoring all N. Within a
candidate the same idea applies per dimension (``_score_or_prune``): once the unscored dimensions'
sup ln q/p cannot make it win, its other coordinates are never generated.

``select_batch`` runs blocks in parallel with ``prange``; each block's result depends only on its own
inputs and keys, so results do not depend on the number of threads.
"""

import math

import numpy as np
from numba import njit, prange

from recnumba.distributions.portable import mul_rn
from recnumba.kernels.bin_weights import WEIGHTS_RATIO, dimension_bin_tables, dimension_log_sup
from recnumba.kernels.candidates import bin_digit, search_cdf, std_bin_quantile, std_log_ratio
from recnumba.random.philox import private_uniform_pair, shared_uniform_pair

STATUS_OK = 0
STATUS_MAX_STEPS = 1
STATUS_INDEX_OVERFLOW = 2
STATUS_UNBOUNDED = 3
STATUS_NO_CANDIDATE = 4  # no candidate had a finite score (degenerate target)

_INDEX_LIMIT = np.int64(9223372036854775807)  # 2**63 - 1: indices are int64
#: Exact PFR refuses to start when its expected step count exp(ln r'_max) exceeds max_steps by 2^10.
_HOPELESS_FACTOR_LOG = 10.0 * math.log(2.0)


@njit(cache=True)
def block_bin_tables(t_loc, t_scale, intervals, offsets, weights_kind, log_pi, cdf):
    """Bin tables for all dimensions of one block; returns ln r'_max (nats), +inf if unbounded."""
    log_bound = 0.0
    for d in range(intervals.shape[0]):
        log_bound += dimension_bin_tables(
            t_loc[d], t_scale[d], intervals[d], weights_kind, offsets[d], log_pi, cdf
        )
    return log_bound


@njit(parallel=True)
def batch_bin_tables(t_loc, t_scale, intervals, offsets, weights_kind, log_pi, cdf, log_bound):
    """``block_bin_tables`` for every row of (B, D) targets into (B, table) tables and (B,) bounds.

    Used by the CUDA backend, which draws bins on the device from tables built here.
    """
    for b in prange(t_loc.shape[0]):
        log_bound[b] = block_bin_tables(
            t_loc[b], t_scale[b], intervals, offsets, weights_kind, log_pi[b], cdf[b]
        )


@njit(parallel=True)
def batch_bin_bounds(t_loc, t_scale, intervals, offsets, weights_kind, log_bound):
    """Only the (B,) bounds ln r'_max of ``batch_bin_tables`` (one scratch table per block)."""
    table_size = offsets[intervals.shape[0]]
    for b in prange(t_loc.shape[0]):
        log_pi = np.empty(table_size, dtype=np.float64)
        cdf = np.empty(table_size, dtype=np.float64)
        log_bound[b] = block_bin_tables(
            t_loc[b], t_scale[b], intervals, offsets, weights_kind, log_pi, cdf
        )


@njit(cache=True)
def draw_bin(seed, block, step, intervals, offsets, strides, log_pi, cdf, digits, store_digits):
    """Draw the bin of search step ``step`` one interval per dimension; returns (j, ln pi_j).

    Private slot 0 is the arrival time; slot 1 + d is dimension d's interval draw. The intervals
    go to ``digits`` when ``store_digits`` (the CPU search reuses them; the GPU recomputes them).
    """
    num_dims = intervals.shape[0]
    bin_index = np.int64(0)
    log_weight = 0.0
    for pair in range((num_dims + 2) // 2):
        needed = False  # skip the generator for dimensions that are not split
        for slot in range(max(2 * pair, 1), min(2 * pair + 2, num_dims + 1)):
            needed = needed or intervals[slot - 1] > 1
        u_even, u_odd = 0.5, 0.5
        if needed:
            u_even, u_odd = private_uniform_pair(seed, block, step, pair)
        for half in range(2):
            slot = 2 * pair + half
            d = slot - 1
            if d < 0 or d >= num_dims:
                continue
            if intervals[d] == 1:
                if store_digits:
                    digits[d] = 0
                log_weight += log_pi[offsets[d]]
                continue
            u = u_even if half == 0 else u_odd
            interval = search_cdf(cdf, offsets[d], intervals[d], u)
            if store_digits:
                digits[d] = interval
            bin_index += np.int64(interval) * strides[d]
            log_weight += log_pi[offsets[d] + interval]
    return bin_index, log_weight


@njit(cache=True)
def _score_or_prune(
    seed, block, index, digits, intervals, offsets, log_sup, t_loc, t_scale, log_arrival,
    log_num_bins, log_weight, best_score,
):
    """The candidate's score ``ln T - ln r(x) + ln J + ln pi_j``, or +inf once it provably loses.

    Dimensions are scored in pairs (one Philox call each); before each pair the dimensions not yet
    scored are bounded by their intervals' sup ln q/p (``log_sup``). If even that bound cannot
    bring the score below ``best_score`` (with a margin far above rounding), the remaining
    dimensions are skipped: the search's result and step count are unchanged, only its cost.
    An unpruned score is summed in the same order as ``candidate_log_ratio_of_bin`` (the GPU's).
    """
    num_dims = intervals.shape[0]
    remaining = 0.0  # sum of sup ln q/p over the dimensions not scored yet
    magnitude = abs(log_arrival) + abs(log_num_bins) + abs(log_weight)
    for d in range(num_dims):
        sup = log_sup[offsets[d] + digits[d]]
        remaining += sup
        magnitude += abs(sup)
    margin = 1e-9 * (1.0 + magnitude)  # inf with an unbounded dimension: never prunes
    base = log_arrival + log_num_bins + log_weight
    total = 0.0
    for pair in range((num_dims + 1) // 2):
        if base - total - remaining > best_score + margin:
            return math.inf
        u_even, u_odd = shared_uniform_pair(seed, block, index, pair)
        d = 2 * pair
        x = std_bin_quantile(digits[d], intervals[d], u_even)
        total += std_log_ratio(x, t_loc[d], t_scale[d])
        remaining -= log_sup[offsets[d] + digits[d]]
        if d + 1 < num_dims:
            x = std_bin_quantile(digits[d + 1], intervals[d + 1], u_odd)
            total += std_log_ratio(x, t_loc[d + 1], t_scale[d + 1])
            remaining -= log_sup[offsets[d + 1] + digits[d + 1]]
    return log_arrival - total + log_num_bins + log_weight


@njit(cache=True)
def candidate_log_ratio_of_bin(seed, block, index, bin_index, intervals, strides, t_loc, t_scale):
    """ln q/p (nats) of candidate ``index`` of flat bin ``bin_index`` (the GPU scores with it).

    Digits come from the flat bin (no scratch array); dimensions are summed in order, as in the
    CPU search's ``_score_or_prune``.
    """
    num_dims = intervals.shape[0]
    total = 0.0
    for pair in range((num_dims + 1) // 2):
        u_even, u_odd = shared_uniform_pair(seed, block, index, pair)
        for half in range(2):
            d = 2 * pair + half
            if d >= num_dims:
                break
            digit = bin_digit(bin_index, strides[d], intervals[d]) if intervals[d] > 1 else 0
            x = std_bin_quantile(digit, intervals[d], u_even if half == 0 else u_odd)
            total += std_log_ratio(x, t_loc[d], t_scale[d])
    return total


_EMPTY = np.int64(-1)  # bins are >= 0
_FIBONACCI = np.uint64(0x9E3779B97F4A7C15)  # 2^64 / golden ratio: spreads consecutive bins


@njit(cache=True)
def _slot(keys, key):
    """Slot of ``key`` in the open-addressing table ``keys`` (linear probing), or its empty slot."""
    mask = np.int64(keys.shape[0] - 1)  # capacity: a power of two, at most 2^32
    slot = np.int64(((np.uint64(key) * _FIBONACCI) >> np.uint64(32)) & np.uint64(mask))
    while keys[slot] != _EMPTY and keys[slot] != key:
        slot = (slot + 1) & mask
    return slot


@njit(cache=True)
def _grown(keys, counts):
    """The table rehashed into twice the capacity."""
    new_keys = np.full(2 * keys.shape[0], _EMPTY, dtype=np.int64)
    new_counts = np.zeros(2 * keys.shape[0], dtype=np.int64)
    for old in range(keys.shape[0]):
        if keys[old] != _EMPTY:
            slot = _slot(new_keys, keys[old])
            new_keys[slot] = keys[old]
            new_counts[slot] = counts[old]
    return new_keys, new_counts


@njit(cache=True)
def _search(
    t_loc, t_scale, intervals, offsets, strides, num_bins, seed, block, num_samples, max_steps,
    log_pi, cdf, log_bound, log_sup,
):
    """The search loop over filled bin tables. Returns (index, steps, status)."""
    num_dims = intervals.shape[0]
    log_num_bins = math.log(float(num_bins))
    digits = np.zeros(num_dims, dtype=np.int64)
    # Per-bin counters of used local indices (partitioned search only): a flat open-addressing
    # table, at most half full, cheaper than a typed Dict in this loop.
    bin_keys = np.full(1024, _EMPTY, dtype=np.int64)
    bin_counts = np.zeros(1024, dtype=np.int64)
    bins_used = 0
    arrival = 0.0
    best_score = math.inf
    best_index = np.int64(-1)
    limit = num_samples if num_samples > 0 else max_steps
    steps = np.int64(0)
    while True:
        if steps >= limit:
            if num_samples > 0:
                break
            return best_index, steps, STATUS_MAX_STEPS
        u_time, _ = private_uniform_pair(seed, block, steps, 0)
        exponential = -math.log(u_time)
        if num_samples > 0:
            exponential *= float(num_samples) / float(num_samples - steps)
        arrival += exponential
        log_arrival = math.log(arrival)
        if log_arrival - log_bound >= best_score:
            break  # no later candidate can beat the best one
        bin_index, log_weight = draw_bin(
            seed, block, steps, intervals, offsets, strides, log_pi, cdf, digits, True
        )
        if num_bins == 1:
            index = steps
        else:
            slot = _slot(bin_keys, bin_index)
            if bin_keys[slot] == _EMPTY:
                bin_keys[slot] = bin_index
                bins_used += 1
            local = bin_counts[slot]
            bin_counts[slot] = local + 1
            if 2 * bins_used > bin_keys.shape[0]:
                bin_keys, bin_counts = _grown(bin_keys, bin_counts)
            if local > (_INDEX_LIMIT - bin_index) // num_bins:
                return best_index, steps, STATUS_INDEX_OVERFLOW
            index = local * num_bins + bin_index
        score = _score_or_prune(
            seed, block, index, digits, intervals, offsets, log_sup, t_loc, t_scale, log_arrival,
            log_num_bins, log_weight, best_score,
        )
        if score < best_score:
            best_score = score
            best_index = index
        steps += 1
    if best_index < 0:
        return best_index, steps, STATUS_NO_CANDIDATE
    return best_index, steps, STATUS_OK


@njit(cache=True)
def select_block(
    t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block,
    num_samples, max_steps, exact_log_bound_limit,
):
    """Run one block's search. Returns (index, steps, status, ln r'_max, exact).

    * ``num_samples == 0``: exact PFR with ``weights_kind`` bins, stopping at the optimal rule (or
      at ``max_steps``, status ``STATUS_MAX_STEPS``).
    * ``num_samples > 0``: ORC with that many candidates and ``weights_kind`` bins, except that a
      block whose ratio-weight search bound ln r'_max is at most ``exact_log_bound_limit`` (nats)
      runs exact PFR first (falling back to ORC if it reaches ``max_steps``). Pass ``-inf`` for
      pure ORC. The decoder does not need to know which search ran.
    """
    num_dims = intervals.shape[0]
    table_size = offsets[num_dims]
    log_pi = np.empty(table_size, dtype=np.float64)
    cdf = np.empty(table_size, dtype=np.float64)
    log_sup = np.empty(table_size, dtype=np.float64)
    for d in range(num_dims):
        dimension_log_sup(t_loc[d], t_scale[d], intervals[d], offsets[d], log_sup)
    try_exact = num_samples > 0 and exact_log_bound_limit > -math.inf
    exact_kind = WEIGHTS_RATIO if try_exact else weights_kind
    log_bound = block_bin_tables(t_loc, t_scale, intervals, offsets, exact_kind, log_pi, cdf)
    hopeless = math.log(float(max_steps)) + _HOPELESS_FACTOR_LOG
    if num_samples == 0:
        if math.isinf(log_bound):
            return np.int64(-1), np.int64(0), STATUS_UNBOUNDED, log_bound, True
        if log_bound > hopeless:
            # PFR takes about exp(log_bound) steps: do not grind through max_steps to fail anyway.
            return np.int64(-1), np.int64(0), STATUS_MAX_STEPS, log_bound, True
        index, steps, status = _search(
            t_loc, t_scale, intervals, offsets, strides, num_bins, seed, block, 0, max_steps,
            log_pi, cdf, log_bound, log_sup,
        )
        return index, steps, status, log_bound, True
    cheap = log_bound <= exact_log_bound_limit and log_bound <= hopeless and not math.isinf(log_bound)
    if try_exact and cheap:
        index, steps, status = _search(
            t_loc, t_scale, intervals, offsets, strides, num_bins, seed, block, 0, max_steps,
            log_pi, cdf, log_bound, log_sup,
        )
        if status == STATUS_OK:
            return index, steps, status, log_bound, True
    if exact_kind != weights_kind:
        log_bound = block_bin_tables(t_loc, t_scale, intervals, offsets, weights_kind, log_pi, cdf)
    index, steps, status = _search(
        t_loc, t_scale, intervals, offsets, strides, num_bins, seed, block, num_samples, max_steps,
        log_pi, cdf, log_bound, log_sup,
    )
    return index, steps, status, log_bound, False


@njit(cache=True)
def _select_into(
    b, t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block_ids,
    num_samples, max_steps, exact_log_bound_limit, out_index, out_steps, out_status, out_log_bound,
    out_exact,
):
    index, steps, status, log_bound, exact = select_block(
        t_loc[b], t_scale[b], intervals, offsets, strides, num_bins, weights_kind, seed,
        block_ids[b], num_samples, max_steps, exact_log_bound_limit,
    )
    out_exact[b] = exact
    out_index[b] = index
    out_steps[b] = steps
    out_status[b] = status
    out_log_bound[b] = log_bound


@njit(parallel=True)
def select_batch(
    t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block_ids,
    num_samples, max_steps, exact_log_bound_limit, out_index, out_steps, out_status, out_log_bound,
    out_exact,
):
    """Parallel over blocks: ``t_loc``/``t_scale`` are (B, D) standardised targets, outputs (B,)."""
    for b in prange(t_loc.shape[0]):
        _select_into(
            b, t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block_ids,
            num_samples, max_steps, exact_log_bound_limit, out_index, out_steps, out_status,
            out_log_bound, out_exact,
        )


@njit(cache=True)
def select_serial(
    t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block_ids,
    num_samples, max_steps, exact_log_bound_limit, out_index, out_steps, out_status, out_log_bound,
    out_exact,
):
    """``select_batch`` on one thread: no thread start-up cost for a single block, and cacheable."""
    for b in range(t_loc.shape[0]):
        _select_into(
            b, t_loc, t_scale, intervals, offsets, strides, num_bins, weights_kind, seed, block_ids,
            num_samples, max_steps, exact_log_bound_limit, out_index, out_steps, out_status,
            out_log_bound, out_exact,
        )


@njit(cache=True)
def decode_block(index, p_loc, p_scale, intervals, strides, num_bins, seed, block, out):
    """Write candidate ``index``'s sample (original units) into ``out`` (D,)."""
    num_dims = intervals.shape[0]
    bin_index = index % num_bins
    for pair in range((num_dims + 1) // 2):
        u_even, u_odd = shared_uniform_pair(seed, block, index, pair)
        for half in range(2):
            d = 2 * pair + half
            if d >= num_dims:
                break
            u = u_even if half == 0 else u_odd
            digit = bin_digit(bin_index, strides[d], intervals[d])
            # mul_rn: no fused multiply-add on a GPU, so CPU and GPU decode agree bit for bit.
            out[d] = p_loc[d] + mul_rn(p_scale[d], std_bin_quantile(digit, intervals[d], u))


@njit(parallel=True)
def decode_batch(indices, p_loc, p_scale, intervals, strides, num_bins, seed, block_ids, out):
    """Parallel decode: ``indices`` (B,), ``p_loc``/``p_scale`` (B, D), ``out`` (B, D)."""
    for b in prange(indices.shape[0]):
        decode_block(
            indices[b], p_loc[b], p_scale[b], intervals, strides, num_bins, seed, block_ids[b],
            out[b],
        )


@njit(cache=True)
def decode_serial(indices, p_loc, p_scale, intervals, strides, num_bins, seed, block_ids, out):
    """``decode_batch`` on one thread (same results, bit for bit)."""
    for b in range(indices.shape[0]):
        decode_block(
            indices[b], p_loc[b], p_scale[b], intervals, strides, num_bins, seed, block_ids[b],
            out[b],
        )
