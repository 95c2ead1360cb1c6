"""Device-level pieces shared by every selection kernel and by decoding.

Coordinates are *standardised by the prior*: in dimension d a point z is handled as
``x = (z - p_loc) / p_scale``, so the prior is N(0, 1) and the target is
N(t_loc, t_scale^2) with ``t_loc = (q_loc - p_loc) / p_scale`` and ``t_scale = q_scale / p_scale``.
The density ratio is invariant under this map, and it saves work in the inner loop.

Candidate addressing: with a partition of J = prod(J_d) bins, candidate ``n`` is the k-th sample
(k = n // J, counted from 0) of bin ``j = n % J``; the bin's interval in dimension d is the mixed-radix
digit ``i_d = (j // stride_d) % J_d`` (dimension 0 least significant). Its coordinate in dimension d is
the prior quantile of ``(i_d + u) / J_d`` where ``u`` is the shared uniform keyed by
(seed, block, n, d). Plain REC is the case J = 1, where n is simply the candidate number.

All functions are ``@njit`` without parallelism, so the CUDA backend (``cuda_kernels``) calls them as device functions.
"""

import math

from numba import njit

from recnumba.distributions.gaussian_math import ndtri, ndtri_fast


@njit(cache=True)
def std_bin_quantile(interval, num_intervals, u):
    """Standard-normal quantile of ``(interval + u) / num_intervals``, accurate in both tails.

    The upper half is computed from its complement ``((J - 1 - i) + (1 - u)) / J``, which is exact
    where ``1 - (i + u) / J`` would round away the tail; so the map is exactly antisymmetric.
    """
    lower = float(interval) + u
    upper = float(num_intervals - 1 - interval) + (1.0 - u)
    # The fast quantile (AS241, ~3 ulp) is plenty for a sample coordinate; encode and decode both
    # call this function, so they agree bit for bit.
    if lower <= upper:
        return ndtri_fast(lower / float(num_intervals))
    return -ndtri_fast(upper / float(num_intervals))


@njit(cache=True)
def std_edge(edge, num_intervals):
    """Standardised position of edge ``edge`` (0..J) of J equal-mass intervals: Phi^-1(edge / J)."""
    if edge <= 0:
        return -math.inf
    if edge >= num_intervals:
        return math.inf
    if 2 * edge <= num_intervals:
        return ndtri(float(edge) / float(num_intervals))
    return -ndtri(float(num_intervals - edge) / float(num_intervals))


@njit(cache=True)
def std_log_ratio(x, t_loc, t_scale):
    """ln q(x)/p(x) in nats at standardised x, with q = N(t_loc, t_scale^2) and p = N(0, 1)."""
    dev = (x - t_loc) / t_scale
    return -math.log(t_scale) - 0.5 * dev * dev + 0.5 * x * x


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
def bin_digit(bin_index, stride, num_intervals):
    """Interval of flat bin ``bin_index`` in the dimension with this stride and interval count."""
    return (bin_index // stride) % num_intervals
