"""Factorised Laplace family: Laplace(loc, scale) per dimension; the Laplace/Laplace pair.

Standardised by a Laplace prior Laplace(m, s), a point z becomes ``x = (z - m) / s``, the prior is
the standard Laplace(0, 1) (density ``exp(-|x|) / 2``, CDF ``e^x / 2`` for x < 0 and
``1 - e^-x / 2`` for x >= 0) and a Laplace target Laplace(mu, beta) is Laplace(a, b) with
``a = (mu - m) / s``, ``b = beta / s``. Then (nats)

    ln q/p (x) = -ln b - |x - a| / b + |x|
    KL         = -ln b + |a| + b exp(-|a| / b) - 1
    D_inf      = -ln b + |a|   if b <= 1  (bounded: exact PFR applies)
               = +inf          if b > 1.

The log ratio is piecewise linear in x with kinks at 0 and a, so its supremum over an interval is
its largest value at the interval's ends and the kinks inside it (or a limit at an infinite end).
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from recnumba.families import location_scale, protocol
from recnumba.families.base import (SCALES_REPRESENTABLE_MESSAGE, LocationScaleFamily, Pair,
                                    check_scales_representable, register_pair)
from recnumba.numerics.gaussian_math import log1mexp
from recnumba.numerics.portable import portable_log

__all__ = ["Laplace", "LaplacePrior", "LaplacePair", "LAPLACE_PAIR"]

_INF = math.inf
_NAN = math.nan
_LN_HALF = -0.69314718055994530942  # ln(1/2)
# Below this width (in target scales) log(1 - e^-w) is log(w) to far better than float64 precision
# (the next term is -w/2), and w itself may have underflowed: take log(width) - log(b) instead.
_TINY_WIDTH = 1e-200


class LaplacePrior(NamedTuple):
    """Numba tag of the Laplace family as a prior."""

    family: int = 0


class LaplacePair(NamedTuple):
    """Numba tag of a Laplace target under a Laplace prior."""

    family: int = 0


protocol.declare_pair(LaplacePair, LaplacePrior)


# ---------------------------------------------------------------------------------------------
# Device functions (standardised coordinates)
# ---------------------------------------------------------------------------------------------


@protocol.implements(protocol.std_quantile, LaplacePrior)
@njit(cache=True, error_model="numpy")  # (vectorisable in the chunked search)
def std_quantile(interval, num_intervals, u):
    """Standard-Laplace quantile of ``(interval + u) / num_intervals``, accurate in both tails.

    Decode path: only correctly rounded operations and ``portable_log``, so CPU and GPU agree bit
    for bit. The upper half is computed from its complement ``((J - 1 - i) + (1 - u)) / J``, which
    keeps the tail (``1 - (i + u) / J`` would round it away), so the map is exactly antisymmetric.
    """
    lower = float(interval) + u
    upper = float(num_intervals - 1 - interval) + (1.0 - u)
    if lower <= upper:
        p = lower / float(num_intervals)
        return portable_log(2.0 * p)  # 2p is exact
    p = upper / float(num_intervals)
    return -portable_log(2.0 * p)


@protocol.implements(protocol.std_edge, LaplacePrior)
@njit(cache=True)
def std_edge(edge, num_intervals):
    """Standardised position of edge ``edge`` (0..J) of J equal-mass intervals: F^-1(edge / J)."""
    if edge <= 0:
        return -_INF
    if edge >= num_intervals:
        return _INF
    if 2 * edge <= num_intervals:
        return math.log(2.0 * (float(edge) / float(num_intervals)))
    return -math.log(2.0 * (float(num_intervals - edge) / float(num_intervals)))


@protocol.implements(protocol.log_ratio, LaplacePair)
@njit(cache=True, error_model="numpy")  # (vectorisable in the chunked search)
def log_ratio(x, a, b):
    """ln q(x)/p(x) with q = Laplace(a, b) and p = Laplace(0, 1) (limits at infinite x)."""
    if x == _INF or x == -_INF:
        if b < 1.0:
            return -_INF
        if b > 1.0:
            return _INF
        return a if x > 0.0 else -a  # b == 1: |x| - |x - a| -> a sign(x)
    return -math.log(b) - abs(x - a) / b + abs(x)


@protocol.implements(protocol.log_sup_ratio, LaplacePair)
@njit(cache=True)
def log_sup_ratio(lower, upper, a, b):
    """sup of ln q/p over [lower, upper]: the largest value at the ends and at the kinks 0 and a.

    An infinite end contributes the ratio's limit there (-inf if b < 1, +-a if b == 1, +inf if
    b > 1). NaN if lower > upper or an argument is NaN.
    """
    if not (lower <= upper) or a != a or b != b:
        return _NAN
    best = log_ratio(lower, a, b)
    value = log_ratio(upper, a, b)
    if value > best:
        best = value
    if lower <= 0.0 and 0.0 <= upper:
        value = -math.log(b) - abs(a) / b
        if value > best:
            best = value
    if lower <= a and a <= upper:
        value = -math.log(b) + abs(a)
        if value > best:
            best = value
    return best


@njit(cache=True)
def _log_std_mass(lo, hi, width, log_width):
    """ln P(lo <= Y <= hi) for standard Laplace Y, lo < hi; ``width`` = hi - lo computed accurately,
    ``log_width`` its logarithm (only used when ``width`` is tiny)."""
    if width < _TINY_WIDTH:
        log_gap = log_width  # ln(1 - e^-w) = ln w - w/2 + ...
    else:
        log_gap = log1mexp(-width)
    if hi <= 0.0:  # lower half: (e^hi - e^lo) / 2
        if hi == -_INF:
            return -_INF
        return _LN_HALF + hi + log_gap
    if lo >= 0.0:  # upper half: (e^-lo - e^-hi) / 2
        if lo == _INF:
            return -_INF
        return _LN_HALF - lo + log_gap
    # straddling 0: 1 - (e^lo + e^-hi) / 2
    outside = 0.5 * math.exp(lo) + 0.5 * math.exp(-hi)
    if outside < 0.5:
        return math.log1p(-outside)
    # the mass (1 - e^lo)/2 + (1 - e^-hi)/2 is a sum of two positive terms: no cancellation
    return math.log(-0.5 * (math.expm1(lo) + math.expm1(-hi)))


@protocol.implements(protocol.log_target_mass, LaplacePair)
@njit(cache=True)
def log_target_mass(lower, upper, a, b):
    """ln Q([lower, upper]) for Q = Laplace(a, b), in log space (finite far in the tails).

    -inf for an empty interval (lower >= upper); NaN for NaN arguments.
    """
    if lower != lower or upper != upper or a != a or b != b:
        return _NAN
    if not (lower < upper):
        return -_INF
    gap = upper - lower  # > 0, inf if an end is infinite
    width = gap / b
    log_width = 0.0
    if width < _TINY_WIDTH:
        log_width = math.log(gap) - math.log(b)
    return _log_std_mass((lower - a) / b, (upper - a) / b, width, log_width)


# ---------------------------------------------------------------------------------------------
# NumPy side
# ---------------------------------------------------------------------------------------------


#: 2!, ..., 19! as floats (``_exp_remainder_scaled``'s series divides 1.0 by them)
_FACTORIALS = tuple(float(math.factorial(k)) for k in range(2, 20))


# Checks and standardisation (the device path; twins of the NumPy side's checks below): the location-scale
# ones are shared (families/location_scale.py), the boundedness and KL are this family's.
location_scale.register_inputs(LaplacePrior, LaplacePair)  # standardise, parameter_code, standardised_code


@protocol.implements(protocol.ratio_bounded, LaplacePair)
@njit(cache=True)
def ratio_bounded(a, b):
    """``bounded`` of one dimension: b <= 1."""
    return b <= 1.0


@protocol.implements(protocol.kl_divergence, LaplacePair)
@njit(cache=True)
def kl_divergence(mu, beta, m, s):
    """``kl_nats`` of one dimension, term for term (the series below as there)."""
    d = (beta - s) / s
    b = beta / s
    abs_a = abs(mu - m) / s
    t = abs(mu - m) / beta
    if abs(d) < 0.0625:  # _x_minus_log1p
        series = 0.0
        for k in range(18, 1, -1):
            series = 1.0 / k - d * series
        first = d * d * series
    else:
        first = d - math.log(b)
    if t < 0.5:  # _exp_remainder_scaled
        series = 0.0
        for j in range(len(_FACTORIALS) - 1, -1, -1):  # 1/19!, ..., 1/2!
            series = 1.0 / _FACTORIALS[j] - t * series
        second = abs_a * t * series
    else:
        second = abs_a + b * math.expm1(-min(t, 1e300))
    return first + second


class Laplace(LocationScaleFamily):
    """A factorised Laplace distribution Laplace(loc, scale) per dimension, one per block when batched.

    Density ``exp(-|z - loc| / scale) / (2 scale)``.

    Parameters
    ----------
    loc, scale : array_like, shape (D,) or (B, D)
        Locations (medians) and scales (mean absolute deviations, not standard deviations: the
        standard deviation is ``sqrt(2) * scale``). ``scale`` must be > 0. They broadcast against
        each other; a 2-D shape describes B independent blocks.
    """

    prior_tag = LaplacePrior()
    scale_meaning = "the Laplace scale: mean absolute deviation"


def _x_minus_log1p(d, ratio):
    """d - log1p(d) = (r - 1) - ln r >= 0 with d = r - 1, elementwise; the series for small |d|,
    else the ratio r itself (1 + d would lose the precision of a small r)."""
    d = np.asarray(d, dtype=np.float64)
    series = np.zeros_like(d)
    small = np.abs(d) < 0.0625
    dd = np.where(small, d, 0.0)
    for k in range(18, 1, -1):  # sum_{k>=2} (-1)^k d^k / k = d^2 (1/2 - d/3 + d^2/4 - ...)
        series = 1.0 / k - dd * series
    with np.errstate(divide="ignore", over="ignore"):
        return np.where(small, dd * dd * series, d - np.log(ratio))


def _exp_remainder_scaled(t, abs_a, b):
    """b (t + expm1(-t)) >= 0 with t = |a| / b, elementwise, accurate for small t (series)."""
    small = t < 0.5
    tt = np.where(small, t, 0.0)
    series = np.zeros_like(tt)
    factorial = [math.factorial(k) for k in range(2, 20)]
    for j in range(len(factorial) - 1, -1, -1):  # sum_{j>=0} (-t)^j / (j + 2)!
        series = 1.0 / factorial[j] - tt * series
    with np.errstate(invalid="ignore", over="ignore"):
        # the second form avoids b * t (t may overflow for a tiny b); |a| = b t there
        return np.where(small, abs_a * tt * series, abs_a + b * np.expm1(-np.minimum(t, 1e300)))


def _neg_log_scale_ratio(target_scale, prior_scale):
    """-ln(target_scale / prior_scale), accurate when the ratio is near 1."""
    with np.errstate(over="ignore", under="ignore"):
        d = (target_scale - prior_scale) / prior_scale  # exact numerator within a factor 2
        return np.where(np.abs(d) < 0.5, -np.log1p(d), -np.log(target_scale / prior_scale))


def kl_nats(target, prior):
    """Per-dimension KL[target || prior] in nats for Laplace target and prior (broadcast arrays).

    ``-ln b + |a| + b e^(-|a|/b) - 1``, written as the sum of the non-negative terms
    ``(d - log1p d) + b (t + expm1(-t))`` with ``d = b - 1`` and ``t = |a| / b`` (full relative
    accuracy as the target approaches the prior).
    """
    mu, beta = np.asarray(target.loc, float), np.asarray(target.scale, float)
    m, s = np.asarray(prior.loc, float), np.asarray(prior.scale, float)
    with np.errstate(over="ignore", under="ignore"):
        d = (beta - s) / s
        b = beta / s
        abs_a = np.abs(mu - m) / s
        t = np.abs(mu - m) / beta
    return _x_minus_log1p(d, b) + _exp_remainder_scaled(t, abs_a, b)


def dinf_nats(target, prior):
    """Per-dimension D_inf = ln sup q/p in nats: ``-ln b + |a|`` if b <= 1, else +inf."""
    mu, beta = np.asarray(target.loc, float), np.asarray(target.scale, float)
    m, s = np.asarray(prior.loc, float), np.asarray(prior.scale, float)
    with np.errstate(over="ignore", under="ignore"):
        value = _neg_log_scale_ratio(beta, s) + np.abs(mu - m) / s
    return np.where(beta / s <= 1.0, value, np.inf)


def bounded(a, b):
    """Per dimension: is q/p bounded? (b <= 1, whatever a)."""
    return np.broadcast_to(np.asarray(b) <= 1.0, np.broadcast(a, b).shape).copy()


class reference:
    """NumPy versions of the Laplace device functions (the test oracle), vectorised, broadcasting."""

    @staticmethod
    def std_quantile(interval, num_intervals, u):
        lower = interval + u
        upper = (num_intervals - 1 - interval) + (1.0 - u)
        with np.errstate(divide="ignore"):
            return np.where(lower <= upper, np.log(2.0 * (lower / num_intervals)),
                            -np.log(2.0 * (upper / num_intervals)))

    @staticmethod
    def std_edges(num_intervals):
        edges = np.arange(num_intervals + 1)
        with np.errstate(divide="ignore"):
            return np.where(2 * edges <= num_intervals, np.log(2.0 * (edges / num_intervals)),
                            -np.log(2.0 * ((num_intervals - edges) / num_intervals)))

    @staticmethod
    def log_ratio(x, a, b):
        x, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, a, b)))
        with np.errstate(invalid="ignore"):
            finite = -np.log(b) - np.abs(x - a) / b + np.abs(x)
        limit = np.where(b < 1, -np.inf, np.where(b > 1, np.inf, np.sign(x) * a))
        return np.where(np.isinf(x), limit, finite)

    @staticmethod
    def log_sup_ratio(lower, upper, a, b):
        lower, upper, a, b = np.broadcast_arrays(
            *(np.asarray(v, dtype=np.float64) for v in (lower, upper, a, b)))
        # candidates: the ends (limits if infinite) and the kinks 0 and a where inside
        at_lower = reference.log_ratio(lower, a, b)
        at_upper = reference.log_ratio(upper, a, b)
        at_zero = np.where((lower <= 0) & (0 <= upper), -np.log(b) - np.abs(a) / b, -np.inf)
        at_a = np.where((lower <= a) & (a <= upper), -np.log(b) + np.abs(a), -np.inf)
        return np.maximum(np.maximum(at_lower, at_upper), np.maximum(at_zero, at_a))

    @staticmethod
    def log_target_mass(lower, upper, a, b):
        """From scipy.stats.laplace's log CDF / log survival function (reflected into the lower tail)."""
        from scipy import stats

        lower, upper, a, b = np.broadcast_arrays(
            *(np.asarray(v, dtype=np.float64) for v in (lower, upper, a, b)))
        lo, hi = (lower - a) / b, (upper - a) / b
        flip = lo > 0
        lo, hi = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_hi, log_lo = stats.laplace.logcdf(hi), stats.laplace.logcdf(lo)
            one_side = log_hi + np.log(-np.expm1(log_lo - log_hi))
            straddle = np.log1p(-(stats.laplace.cdf(lo) + stats.laplace.sf(hi)))
            out = np.where(hi <= 0, one_side, straddle)
        return np.where(lower < upper, out, -np.inf)


LAPLACE_PAIR = register_pair(Pair(
    target=Laplace, prior=Laplace, tag=LaplacePair(), kl_nats=kl_nats, dinf_nats=dinf_nats,
    bounded=bounded, reference=reference, check=check_scales_representable,
    check_messages=(SCALES_REPRESENTABLE_MESSAGE,),
    exact_condition="every target scale at most the prior scale",
))
