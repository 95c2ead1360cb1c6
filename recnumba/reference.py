"""Plain-numpy reference implementation of the search: the oracle the fast code is tested against.

It follows the same definitions as ``recnumba.search`` (same Philox streams, same candidate
addressing, same bin tables and stopping rule) but is written independently, vectorised over
candidates with numpy, and takes each family's device functions from the family's own numpy/scipy
``reference`` (``Pair.reference``) instead of our numba numerics. It is also the "vectorised
numpy" baseline of the throughput benchmark. One block at a time; target parameters ``a``, ``b``
are standardised by the prior (see ``recnumba.families.protocol``); every function takes the family
pair as ``pair=`` (default: Gaussian target and prior).
"""

import numpy as np

from recnumba.families.gaussian import GAUSSIAN_PAIR

_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)


def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Vectorised Philox4x32-10 on uint64 arrays holding 32-bit words."""
    c = [np.asarray(x, dtype=np.uint64) & _MASK for x in (c0, c1, c2, c3)]
    c = list(np.broadcast_arrays(*c))
    k0, k1 = np.uint64(k0) & _MASK, np.uint64(k1) & _MASK
    with np.errstate(over="ignore"):
        for r in range(10):
            if r:
                k0, k1 = (k0 + _W0) & _MASK, (k1 + _W1) & _MASK
            p0, p1 = _M0 * c[0], _M1 * c[2]
            c = [(p1 >> np.uint64(32)) ^ c[1] ^ k0, p1 & _MASK, (p0 >> np.uint64(32)) ^ c[3] ^ k1, p0 & _MASK]
    return c


def _uniform53(hi, lo):
    m = (hi << np.uint64(21)) | (lo >> np.uint64(11))
    return np.where(m == 0, 2.0**-54, m.astype(np.float64) * 2.0**-53)


def keyed_uniforms(seed, domain, block, indices, num_slots):
    """Uniforms (len(indices), num_slots) keyed by (seed, domain, block, index, slot)."""
    indices = np.asarray(indices, dtype=np.uint64)
    k0 = np.uint64(seed) & _MASK
    k1 = (np.uint64(seed) >> np.uint64(32)) | (np.uint64(domain) << np.uint64(30))
    out = np.empty((indices.size, num_slots))
    for pair in range((num_slots + 1) // 2):
        x = philox4x32_10(pair, block, indices & _MASK, indices >> np.uint64(32), k0, k1)
        out[:, 2 * pair] = _uniform53(x[0], x[1])
        if 2 * pair + 1 < num_slots:
            out[:, 2 * pair + 1] = _uniform53(x[2], x[3])
    return out


def dimension_tables(a, b, num_intervals, weights, pair=GAUSSIAN_PAIR):
    """(cdf, log_pi, log_bound) of one dimension, following ``search.core.dimension_bin_tables``."""
    ref = pair.reference
    position = ref.std_edges(num_intervals)
    lower, upper = position[:-1], position[1:]
    log_sup = ref.log_sup_ratio(lower, upper, a, b)
    with np.errstate(divide="ignore"):
        log_weight = log_sup if weights == "ratio" else ref.log_target_mass(lower, upper, a, b)
    if np.any(np.isposinf(log_weight)):
        return np.ones(num_intervals), np.full(num_intervals, -np.inf), np.inf
    cdf = np.cumsum(np.exp(log_weight - log_weight.max()))
    cdf = cdf / cdf[-1]
    cdf[-1] = 1.0
    probability = np.diff(cdf, prepend=0.0)
    with np.errstate(divide="ignore"):
        log_pi = np.log(probability)
    live = probability > 0
    log_bound = np.max(log_sup[live] - np.log(num_intervals) - log_pi[live])
    return cdf, log_pi, log_bound


def _tables(t_loc, t_scale, intervals, weights, pair):
    tables = [dimension_tables(t_loc[d], t_scale[d], int(intervals[d]), weights, pair) for d in range(len(intervals))]
    return [t[0] for t in tables], [t[1] for t in tables], float(sum(t[2] for t in tables))


def _score_candidates(seed, block, steps, t_loc, t_scale, intervals, cdfs, log_pis, counts, pair):
    """Arrival-free part of the search for candidates ``steps``.

    Returns (indices, score offsets -ln r' of each candidate, arrival-time uniforms).

    ``counts`` (dict bin -> candidates so far) is updated in step order.
    """
    num_dims = len(intervals)
    strides = np.cumprod(np.concatenate([[1], intervals[:-1]])).astype(np.int64)
    num_bins = int(np.prod(intervals))
    private = keyed_uniforms(seed, 1, block, steps, num_dims + 1)
    digits = np.empty((steps.size, num_dims), dtype=np.int64)
    log_pi = np.zeros(steps.size)
    for d in range(num_dims):
        digits[:, d] = np.minimum(np.searchsorted(cdfs[d], private[:, 1 + d], side="right"), intervals[d] - 1)
        log_pi += log_pis[d][digits[:, d]]
    bins = digits @ strides
    local = np.empty(steps.size, dtype=np.int64)
    for position, j in enumerate(bins.tolist()):  # k-th use of bin j, in step order
        local[position] = counts.get(j, 0)
        counts[j] = local[position] + 1
    indices = local * num_bins + bins
    shared = keyed_uniforms(seed, 0, block, indices, num_dims)
    x = pair.reference.std_quantile(digits, intervals, shared)
    with np.errstate(divide="ignore"):
        log_r = pair.reference.log_ratio(x, t_loc, t_scale).sum(axis=1)
    return indices, -log_r + np.log(num_bins) + log_pi, private[:, 0]


def orc_select(t_loc, t_scale, intervals, weights, seed, block, num_samples, pair=GAUSSIAN_PAIR):
    """ORC over exactly ``num_samples`` candidates; returns the selected index."""
    intervals = np.asarray(intervals, dtype=np.int64)
    cdfs, log_pis, _ = _tables(t_loc, t_scale, intervals, weights, pair)
    steps = np.arange(num_samples, dtype=np.int64)
    indices, offsets, u_time = _score_candidates(
        seed, block, steps, t_loc, t_scale, intervals, cdfs, log_pis, {}, pair
    )
    arrival = np.cumsum(-np.log(u_time) * (num_samples / (num_samples - steps)))
    return int(indices[np.argmin(np.log(arrival) + offsets)])


def pfr_select(t_loc, t_scale, intervals, weights, seed, block, chunk=4096, max_steps=10**8, pair=GAUSSIAN_PAIR):
    """Exact PFR with the optimal stopping rule; returns (index, steps)."""
    intervals = np.asarray(intervals, dtype=np.int64)
    cdfs, log_pis, log_bound = _tables(t_loc, t_scale, intervals, weights, pair)
    counts, arrival, best, best_index = {}, 0.0, np.inf, -1
    for start in range(0, max_steps, chunk):
        steps = np.arange(start, start + chunk, dtype=np.int64)
        indices, offsets, u_time = _score_candidates(
            seed, block, steps, t_loc, t_scale, intervals, cdfs, log_pis, counts, pair
        )
        arrivals = arrival + np.cumsum(-np.log(u_time))
        log_arrivals = np.log(arrivals)
        scores = log_arrivals + offsets
        best_before = np.minimum.accumulate(np.concatenate([[best], scores[:-1]]))
        stop = np.flatnonzero(log_arrivals - log_bound >= best_before)
        end = stop[0] if stop.size else chunk
        if end > 0:
            position = int(np.argmin(scores[:end]))
            if scores[position] < best:
                best, best_index = scores[position], int(indices[position])
        if stop.size:
            return best_index, start + int(end)
        arrival = arrivals[-1]
    raise RuntimeError("reference PFR reached max_steps")


def decode(index, p_loc, p_scale, intervals, seed, block, pair=GAUSSIAN_PAIR):
    """The sample (original units) of candidate ``index``."""
    intervals = np.asarray(intervals, dtype=np.int64)
    strides = np.cumprod(np.concatenate([[1], intervals[:-1]])).astype(np.int64)
    num_bins = int(np.prod(intervals))
    digits = (index % num_bins // strides) % intervals
    u = keyed_uniforms(seed, 0, block, [index], len(intervals))[0]
    return p_loc + p_scale * pair.reference.std_quantile(digits, intervals, u)
