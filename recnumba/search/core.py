"""The search core: candidate coordinates, bin tables, bin draws, arrival times, PFR and ORC searches.

Every function is a plain ``@njit`` function of scalars, arrays, parameter structs
(``recnumba.search.params``) and family tags (``recnumba.families.protocol``); numba compiles it
once per family pair. The CUDA backend calls these functions as device functions; the CPU backend
runs ``recnumba.search.chunked``, the same search reorganised into vector loops, which returns
``search``'s results bit for bit (``tests/test_chunked.py``). This module is the definition.

Coordinates are standardised by the prior (see ``protocol``). Candidate addressing: with a
partition of J = prod(J_d) bins, candidate ``n`` is the k-th sample (k = n // J, from 0) of bin
``j = n % J``; its interval in dimension d is the mixed-radix digit ``i_d = (j // stride_d) % J_d``
(dimension 0 least significant), and its coordinate is the prior quantile of ``(i_d + u) / J_d``
with ``u`` the shared uniform keyed by (seed, block, n, d). Plain REC is J = 1.

One search, two arrival-time rules:

* PFR: T_t = E_0 + ... + E_t, unbounded search.
* ORC with N candidates: T_t = sum_{i<=t} E_i N / (N - i), the order statistics of N exponentials.

Candidate t draws a bin j_t ~ pi (sender-private), takes the next unused local index k of that bin,
and is scored ``ln T_t - ln r'(x)`` with ``r' = r / (J pi_j)``; the minimum wins. Since T_t only grows
and r' <= r'_max, the search stops as soon as ``ln T_t - ln r'_max`` reaches the best score: the
optimal PFR stopping rule, and for ORC the same argmin as scoring all N.
"""

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

from recnumba.families.protocol import (
    log_ratio,
    log_sup_ratio,
    log_target_mass,
    prior_of,
    std_edge,
    std_quantile,
)
from recnumba.numerics.portable import mul_rn
from recnumba.random.philox import private_uniform_pair, shared_uniform_pair
from recnumba.search.params import (
    STATUS_INDEX_OVERFLOW,
    STATUS_INTERRUPTED,
    STATUS_MAX_STEPS,
    STATUS_NO_CANDIDATE,
    STATUS_OK,
    WEIGHTS_RATIO,
    BinTables,
    Placement,
    Scoring,
)

_INDEX_LIMIT = np.int64(9223372036854775807)  # 2**63 - 1: indices are int64


# ---------------------------------------------------------------------------------------------
# Candidates
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def bin_digit(bin_index, stride, num_intervals):
    """Interval of flat bin ``bin_index`` in the dimension with this stride and interval count."""
    return (bin_index // stride) % num_intervals


def digit_of(digits, grid, d):
    """Interval of the candidate's bin in dimension d: ``digits[d]``, or from a flat bin index."""
    raise NotImplementedError("called from numba-compiled code only")


@overload(digit_of, target="generic")
def _digit_of(digits, grid, d):
    if isinstance(digits, types.Array):  # the CPU search keeps the digits of its bin draw
        return lambda digits, grid, d: digits[d]
    if isinstance(digits, types.Integer):  # a flat bin index (decoding, the GPU)
        return lambda digits, grid, d: bin_digit(digits, grid.strides[d], grid.intervals[d])


@njit(cache=True)
def visit_candidate(prior, grid, seed, block, index, digits, scoring, target, log_sup, placement):
    """The one coordinate loop: generate candidate ``index``'s coordinates, then score and/or place them.

    Dimensions are visited in pairs (one Philox call each); coordinate d is the prior quantile of
    ``(i_d + u_d) / J_d``; ``digits`` is the bin's digits array (the CPU search) or its flat index.
    With ``scoring`` (a ``params.Scoring``) and ``target`` (D, 2) the return value is
    ``ln T - ln q/p + ln J + ln pi_j``, summed in dimension order; with ``log_sup`` too, the
    dimensions not yet scored are bounded by their intervals' sup ln q/p before each pair, and once
    even that bound cannot bring the score below ``scoring.best_score`` (with a margin far above
    rounding) the remaining coordinates are skipped and +inf returned: the search's result and
    step count are unchanged, only its cost. With ``placement`` (a ``params.Placement``) the
    coordinates are written in the latent's units (``mul_rn``: no fused multiply-add on a GPU, so
    every device decodes the same bits). Pass None for what is not wanted: numba compiles each
    combination separately and drops the unused branches.
    """
    num_dims = grid.intervals.shape[0]
    remaining = 0.0  # sum of sup ln q/p over the dimensions not scored yet
    margin = 0.0
    base = 0.0
    if scoring is not None:
        if log_sup is not None:
            magnitude = abs(scoring.log_arrival) + abs(scoring.log_num_bins) + abs(scoring.log_weight)
            for d in range(num_dims):
                sup = log_sup[grid.offsets[d] + digits[d]]  # (pruning needs the digits array of the CPU search)
                remaining += sup
                magnitude += abs(sup)
            margin = 1e-9 * (1.0 + magnitude)  # inf with an unbounded dimension: never prunes
            base = scoring.log_arrival + scoring.log_num_bins + scoring.log_weight
    total = 0.0
    for pair_index in range((num_dims + 1) // 2):
        if scoring is not None:
            if log_sup is not None:
                if base - total - remaining > scoring.best_score + margin:
                    return math.inf
        u_even, u_odd = shared_uniform_pair(seed, block, index, pair_index)
        # The even and the odd dimension of the pair, written out: a loop over the two (or over d
        # with a parity test) measured 6-12% slower in the pruned PFR search.
        d = 2 * pair_index
        digit = digit_of(digits, grid, d)
        x = std_quantile(prior, digit, grid.intervals[d], u_even)
        if placement is not None:
            placement.out[d] = placement.loc[d] + mul_rn(placement.scale[d], x)
        if scoring is not None:
            total += log_ratio(scoring.pair, x, target[d, 0], target[d, 1])
            if log_sup is not None:
                remaining -= log_sup[grid.offsets[d] + digit]
        d += 1
        if d < num_dims:
            digit = digit_of(digits, grid, d)
            x = std_quantile(prior, digit, grid.intervals[d], u_odd)
            if placement is not None:
                placement.out[d] = placement.loc[d] + mul_rn(placement.scale[d], x)
            if scoring is not None:
                total += log_ratio(scoring.pair, x, target[d, 0], target[d, 1])
                if log_sup is not None:
                    remaining -= log_sup[grid.offsets[d] + digit]
    if scoring is None:
        return 0.0
    return scoring.log_arrival - total + scoring.log_num_bins + scoring.log_weight


@njit(cache=True)
def score_candidate(pair, grid, seed, block, index, bin_index, target, log_arrival, log_num_bins, log_weight):
    """``visit_candidate``'s score of candidate ``index`` of flat bin ``bin_index``, without pruning.

    The GPU scores whole rounds with it; the sum is the CPU search's, term for term.
    """
    return visit_candidate(
        prior_of(pair), grid, seed, block, index, bin_index,
        Scoring(pair, log_arrival, log_num_bins, log_weight, math.inf), target, None, None,
    )


@njit(cache=True)
def decode_block(prior, grid, seed, block, index, loc, scale, out):
    """Write candidate ``index``'s sample (latent units, ``loc + scale * x``) into ``out`` (D,)."""
    visit_candidate(prior, grid, seed, block, index, index % grid.num_bins, None, None, None,
                    Placement(loc, scale, out))


# ---------------------------------------------------------------------------------------------
# Bin tables
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def dimension_bin_tables(pair, a, b, num_intervals, weights, start, log_pi, cdf):
    """Fill ``log_pi[start:start+J]`` and ``cdf[start:start+J]`` for one dimension; return its bound.

    Weights (``params.WEIGHTS_*``): "ratio" pi_i ∝ sup_{interval i} q/p, "target" pi_i = Q(interval
    i) (log space, so far-tail intervals keep a finite log weight). The weights actually used are
    the differences of the float64 cumulative table that the sampler searches, so scores and bounds
    use exactly the probabilities the sampler realises. The return value is
    ``max_i [ln sup_{interval i} q/p - ln J - ln pi_i]`` in nats, the log of this dimension's factor
    of sup r'; +inf when q/p is unbounded on some interval that can be drawn.
    """
    count = num_intervals
    prior = prior_of(pair)
    # First pass: unnormalised log weights into log_pi, remembering the largest.
    largest = -math.inf
    for i in range(count):
        lower = std_edge(prior, i, count)
        upper = std_edge(prior, i + 1, count)
        if weights == WEIGHTS_RATIO:
            log_weight = log_sup_ratio(pair, lower, upper, a, b)
        else:
            log_weight = log_target_mass(pair, lower, upper, a, b)
        log_pi[start + i] = log_weight
        if log_weight > largest:
            largest = log_weight
    if math.isinf(largest) and largest > 0:
        # Some interval has unbounded ratio weight: no valid normalisation. Flag via the bound.
        for i in range(count):
            cdf[start + i] = 1.0
            log_pi[start + i] = -math.inf
        return math.inf
    total = 0.0
    for i in range(count):
        total += math.exp(log_pi[start + i] - largest)
        cdf[start + i] = total
    previous = 0.0
    log_count = math.log(float(count))
    log_bound = -math.inf
    for i in range(count):
        value = cdf[start + i] / total if i < count - 1 else 1.0
        cdf[start + i] = value
        probability = value - previous
        previous = value
        if probability > 0.0:
            if weights == WEIGHTS_RATIO:
                log_sup = log_pi[start + i]  # the raw ratio weight is this sup already
            else:
                log_sup = log_sup_ratio(pair, std_edge(prior, i, count), std_edge(prior, i + 1, count), a, b)
            log_pi[start + i] = math.log(probability)
            candidate = log_sup - log_count - log_pi[start + i]
            if candidate > log_bound:
                log_bound = candidate
        else:
            log_pi[start + i] = -math.inf
    return log_bound


@njit(cache=True)
def new_bin_tables(grid):
    """Uninitialised ``BinTables`` for one block of this grid."""
    size = grid.offsets[grid.intervals.shape[0]]
    return BinTables(np.empty(size, dtype=np.float64), np.empty(size, dtype=np.float64),
                     np.empty(size, dtype=np.float64))


@njit(cache=True)
def fill_log_sup(pair, target, grid, log_sup):
    """``log_sup[offsets[d] + i]`` = ln sup q/p on interval i of dimension d (nats, may be +inf)."""
    prior = prior_of(pair)
    for d in range(grid.intervals.shape[0]):
        count = grid.intervals[d]
        for i in range(count):
            log_sup[grid.offsets[d] + i] = log_sup_ratio(
                pair, std_edge(prior, i, count), std_edge(prior, i + 1, count), target[d, 0], target[d, 1]
            )


@njit(cache=True)
def fill_bin_tables(pair, target, grid, weights, log_pi, cdf):
    """Bin tables of every dimension of one block; returns ln r'_max (nats), +inf if unbounded."""
    log_bound = 0.0
    for d in range(grid.intervals.shape[0]):
        log_bound += dimension_bin_tables(
            pair, target[d, 0], target[d, 1], grid.intervals[d], weights, grid.offsets[d], log_pi, cdf
        )
    return log_bound


@njit(cache=True)
def search_cdf(cdf, start, count, u):
    """First position i in ``cdf[start:start+count]`` with ``u < cdf[start+i]`` (binary search).

    ``cdf`` is non-decreasing with last entry 1.0 and u < 1, so the answer is in 0..count-1; bins of
    zero probability (equal consecutive entries) are never returned.
    """
    lo = 0
    hi = count - 1
    while lo < hi:
        mid = (lo + hi) // 2
        if u < cdf[start + mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def draw_bin(seed, block, step, grid, log_pi, cdf, digits, store_digits):
    """Draw the bin of search step ``step`` one interval per dimension; returns (j, ln pi_j).

    Private slot 0 is the arrival time; slot 1 + d is dimension d's interval draw. The intervals
    go to ``digits`` when ``store_digits`` (the CPU search reuses them; the GPU recomputes them).
    """
    num_dims = grid.intervals.shape[0]
    bin_index = np.int64(0)
    log_weight = 0.0
    for pair in range((num_dims + 2) // 2):
        needed = False  # skip the generator for dimensions that are not split
        for slot in range(max(2 * pair, 1), min(2 * pair + 2, num_dims + 1)):
            needed = needed or grid.intervals[slot - 1] > 1
        u_even, u_odd = 0.5, 0.5
        if needed:
            u_even, u_odd = private_uniform_pair(seed, block, step, pair)
        for half in range(2):
            slot = 2 * pair + half
            d = slot - 1
            if d < 0 or d >= num_dims:
                continue
            if grid.intervals[d] == 1:
                if store_digits:
                    digits[d] = 0
                log_weight += log_pi[grid.offsets[d]]
                continue
            u = u_even if half == 0 else u_odd
            interval = search_cdf(cdf, grid.offsets[d], grid.intervals[d], u)
            if store_digits:
                digits[d] = interval
            bin_index += np.int64(interval) * grid.strides[d]
            log_weight += log_pi[grid.offsets[d] + interval]
    return bin_index, log_weight


@njit(cache=True)
def arrival_increment(seed, block, step, num_samples):
    """T_step - T_{step-1}: Exp(1) for PFR (``num_samples`` 0); for ORC with N = ``num_samples``
    candidates, times N / (N - step): the order statistics of N exponentials."""
    u_time, _ = private_uniform_pair(seed, block, step, 0)
    increment = -math.log(u_time)
    if num_samples > 0:
        increment *= float(num_samples) / float(num_samples - step)
    return increment


# ---------------------------------------------------------------------------------------------
# Searches
# ---------------------------------------------------------------------------------------------

_EMPTY = np.int64(-1)  # bins are >= 0
#: A search checks its cancel flag once every this many steps (a power of two).
CANCEL_POLL_STEPS = 1024
_CANCEL_POLL_MASK = np.int64(CANCEL_POLL_STEPS - 1)
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
def search(pair, target, grid, tables, log_bound, seed, block, num_samples, limit, cancel):
    """The search loop over filled bin tables, for both rules (see ``pfr_search``, ``orc_search``).

    ``num_samples`` 0: exact PFR, at most ``limit`` steps (``STATUS_MAX_STEPS`` when reached).
    ``num_samples`` N > 0: ORC with N candidates (``limit`` = N). Returns (index, steps, status).
    ``cancel`` (int64 (1,)) is polled every ``CANCEL_POLL_STEPS`` steps: once another thread sets
    ``cancel[0]`` nonzero the search stops with ``STATUS_INTERRUPTED`` (how Ctrl-C reaches a search).
    """
    num_dims = grid.intervals.shape[0]
    num_bins = grid.num_bins
    log_num_bins = math.log(float(num_bins))
    digits = np.zeros(num_dims, dtype=np.int64)
    # Per-bin counters of used local indices (partitioned search only): a flat open-addressing
    # table, at most half full, cheaper than a typed Dict in this loop.
    bin_keys = np.full(1024, _EMPTY, dtype=np.int64)
    bin_counts = np.zeros(1024, dtype=np.int64)
    bins_used = 0
    # (struct fields read once: each read inside the loop would cost reference-count updates)
    log_pi, cdf, log_sup = tables.log_pi, tables.cdf, tables.log_sup
    prior = prior_of(pair)
    arrival = 0.0
    best_score = math.inf
    best_index = np.int64(-1)
    steps = np.int64(0)
    while True:
        if steps >= limit:
            if num_samples > 0:
                break
            return best_index, steps, STATUS_MAX_STEPS
        if (steps & _CANCEL_POLL_MASK) == 0 and cancel[0] != 0:
            return best_index, steps, STATUS_INTERRUPTED
        arrival += arrival_increment(seed, block, steps, num_samples)
        log_arrival = math.log(arrival)
        if log_arrival - log_bound >= best_score:
            break  # no later candidate can beat the best one
        bin_index, log_weight = draw_bin(seed, block, steps, grid, log_pi, cdf, digits, True)
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
        score = visit_candidate(
            prior, grid, seed, block, index, digits,
            Scoring(pair, log_arrival, log_num_bins, log_weight, best_score), target, log_sup, None,
        )
        if score < best_score:
            best_score = score
            best_index = index
        steps += 1
    if best_index < 0:
        return best_index, steps, STATUS_NO_CANDIDATE
    return best_index, steps, STATUS_OK


@njit(cache=True)
def pfr_search(pair, target, grid, tables, log_bound, seed, block, max_steps, cancel):
    """Exact PFR over filled tables, stopping by the optimal rule. Returns (index, steps, status).

    ``STATUS_MAX_STEPS`` after ``max_steps`` candidates without the rule firing.
    """
    return search(pair, target, grid, tables, log_bound, seed, block, np.int64(0), max_steps, cancel)


@njit(cache=True)
def orc_search(pair, target, grid, tables, log_bound, seed, block, num_samples, cancel):
    """ORC over exactly ``num_samples`` candidates (stops early once none can win). (index, steps, status)."""
    return search(pair, target, grid, tables, log_bound, seed, block, num_samples, num_samples, cancel)
