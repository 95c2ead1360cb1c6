"""Diagonal Gaussian family: N(loc, scale^2) per dimension; the Gaussian/Gaussian pair.

Standardised by a Gaussian prior N(m, s^2), a point z becomes ``x = (z - m) / s``, the prior is
N(0, 1) and a Gaussian target N(mu, sigma^2) is N(a, b^2) with ``a = (mu - m) / s``,
``b = sigma / s``. Then (nats)

    ln q/p (x) = -ln b - (x - a)^2 / (2 b^2) + x^2 / 2
    KL         = ln(1/b) + (b^2 + a^2) / 2 - 1/2
    D_inf      = -ln b + a^2 / (2 (1 - b^2))   if b < 1  (bounded: exact PFR applies)
               = 0 if b == 1 and a == 0; +inf otherwise.

The scalar numerics (AS241 quantile, log-space interval masses, suprema) live in
``recnumba.numerics.gaussian_math``; this module wires them into the protocol.
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from recnumba.families import location_scale, protocol
from recnumba.families.base import (SCALES_REPRESENTABLE_MESSAGE, LocationScaleFamily, Pair,
                                    check_scales_representable, register_pair)
from recnumba.numerics import gaussian_math
from recnumba.numerics.gaussian_math import ndtri, ndtri_fast, ndtri_fast_branch_free, ppnd16_central, ppnd16_tail

__all__ = ["Gaussian", "GaussianPrior", "GaussianPair", "GAUSSIAN_PAIR"]


class GaussianPrior(NamedTuple):
    """Numba tag of the Gaussian family as a prior."""

    family: int = 0


class GaussianPair(NamedTuple):
    """Numba tag of a Gaussian target under a Gaussian prior."""

    family: int = 0


protocol.declare_pair(GaussianPair, GaussianPrior)


# ---------------------------------------------------------------------------------------------
# Device functions (standardised coordinates)
# ---------------------------------------------------------------------------------------------


@protocol.implements(protocol.std_quantile, GaussianPrior)
@njit(cache=True)
def std_quantile(interval, num_intervals, u):
    """Standard-normal quantile of ``(interval + u) / num_intervals``, accurate in both tails.

    The upper half is computed from its complement ``((J - 1 - i) + (1 - u)) / J``, which is exact
    where ``1 - (i + u) / J`` would round away the tail; so the map is exactly antisymmetric.
    """
    lower = float(interval) + u
    upper = float(num_intervals - 1 - interval) + (1.0 - u)
    # The fast quantile (AS241, ~3 ulp, portable arithmetic) is plenty for a sample coordinate;
    # encode and decode both call this function, so they agree bit for bit.
    if lower <= upper:
        return ndtri_fast(lower / float(num_intervals))
    return -ndtri_fast(upper / float(num_intervals))


@protocol.implements_lanes(protocol.std_quantiles, GaussianPrior)
@njit(cache=True, error_model="numpy")
def std_quantiles(intervals, num_intervals, u, count, out):
    """``std_quantile`` for c < count, bit for bit, in vector loops without branches.

    The scalar version branches on the half and the tail (mispredicted about every other value; a
    loop with branches does not vectorise). Here a first loop evaluates every lane's central
    rational and marks the tail lanes (p < 0.075 or p > 0.925, about 15% of them under the prior);
    a second packs their arguments together and evaluates the tail (log, square root, rational)
    for those only. When most lanes are tail lanes, every lane takes the branch-free formula.
    """
    scale = float(num_intervals)
    reciprocal = 1.0 / scale
    power_of_two = (num_intervals & (num_intervals - 1)) == 0  # then v * (1/J) == v / J exactly
    is_tail = np.empty(count, dtype=np.int64)
    tails = 0
    for c in range(count):
        lower = float(intervals[c]) + u[c]
        upper = float(num_intervals - 1 - intervals[c]) + (1.0 - u[c])
        use_lower = lower <= upper
        v = lower if use_lower else upper
        p = v * reciprocal if power_of_two else v / scale
        flip = p > 0.5
        t = 1.0 - p if flip else p
        q = t - 0.5
        tail = q < -0.425
        negate = use_lower == flip  # the result is -ppnd16(t) exactly when one of the two holds
        x = ppnd16_central(q)
        value = t if tail else x  # tail lanes keep their argument (t > 0) for the second pass
        out[c] = -value if negate else value
        is_tail[c] = 1 if tail else 0
        tails += 1 if tail else 0
    if tails == 0:
        return
    if 2 * tails > count:
        for c in range(count):
            lower = float(intervals[c]) + u[c]
            upper = float(num_intervals - 1 - intervals[c]) + (1.0 - u[c])
            use_lower = lower <= upper
            x = ndtri_fast_branch_free(((lower if use_lower else upper) / scale))
            out[c] = x if use_lower else -x
        return
    position = is_tail  # packed in place: entry c is read before slot k <= c is written
    packed = 0
    for c in range(count):
        flag = is_tail[c]
        position[packed] = c
        packed += flag
    argument = np.empty(packed)
    for k in range(packed):
        argument[k] = abs(out[position[k]])
    for k in range(packed):
        argument[k] = ppnd16_tail(argument[k])
    for k in range(packed):
        c = position[k]
        out[c] = -argument[k] if out[c] < 0.0 else argument[k]


@protocol.implements(protocol.std_edge, GaussianPrior)
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


@protocol.implements(protocol.log_ratio, GaussianPair)
@njit(cache=True, error_model="numpy")  # (b > 0 always; the numpy model lets loops over it vectorise)
def log_ratio(x, a, b):
    """ln q(x)/p(x) with q = N(a, b^2) and p = N(0, 1)."""
    dev = (x - a) / b
    return -math.log(b) - 0.5 * dev * dev + 0.5 * x * x


@protocol.implements(protocol.log_sup_ratio, GaussianPair)
@njit(cache=True)
def log_sup_ratio(lower, upper, a, b):
    """sup of ln q/p over [lower, upper] (closed form; +inf where unbounded)."""
    return gaussian_math.log_sup_ratio_interval(lower, upper, a, b, 0.0, 1.0)


@protocol.implements(protocol.log_target_mass, GaussianPair)
@njit(cache=True)
def log_target_mass(lower, upper, a, b):
    """ln Q([lower, upper]) for Q = N(a, b^2), in log space (finite far in the tails)."""
    return gaussian_math.log_interval_mass(lower, upper, a, b)


# Checks and standardisation (the device path; twins of the NumPy side's checks below): the location-scale
# ones are shared (families/location_scale.py), the boundedness and KL are this family's.
location_scale.register_inputs(GaussianPrior, GaussianPair)  # standardise, parameter_code, standardised_code


@protocol.implements(protocol.ratio_bounded, GaussianPair)
@njit(cache=True)
def ratio_bounded(a, b):
    """``_bounded`` of one dimension: b < 1, or b == 1 with a == 0."""
    return b < 1.0 or (b == 1.0 and a == 0.0)


@protocol.implements(protocol.kl_divergence, GaussianPair)
@njit(cache=True)
def kl_divergence(loc, scale, prior_loc, prior_scale):
    """``_kl_nats`` of one dimension (the same scalar function)."""
    return gaussian_math.kl_divergence(loc, scale, prior_loc, prior_scale)


# ---------------------------------------------------------------------------------------------
# NumPy side
# ---------------------------------------------------------------------------------------------


class Gaussian(LocationScaleFamily):
    """A diagonal Gaussian N(loc, diag(scale^2)), one per block when batched.

    Parameters
    ----------
    loc, scale : array_like, shape (D,) or (B, D)
        Means and standard deviations (same units as the latent). ``scale`` must be > 0.
        They broadcast against each other; a 2-D shape describes B independent blocks.
    """

    prior_tag = GaussianPrior()
    scale_meaning = "standard deviations, not variances"


def _elementwise(function, *arrays):
    arrays = np.broadcast_arrays(*arrays)
    out = np.empty(arrays[0].shape)
    flat = out.reshape(-1)
    for position, args in enumerate(zip(*(a.ravel() for a in arrays))):
        flat[position] = function(*args)
    return out


def _kl_nats(target, prior):
    return _elementwise(gaussian_math.kl_divergence, target.loc, target.scale, prior.loc, prior.scale)


def _dinf_nats(target, prior):
    return _elementwise(gaussian_math.log_sup_ratio, target.loc, target.scale, prior.loc, prior.scale)


def _bounded(a, b):
    return (b < 1.0) | ((b == 1.0) & (a == 0.0))


class reference:
    """NumPy/SciPy versions of the Gaussian device functions (the test oracle), vectorised."""

    @staticmethod
    def std_quantile(interval, num_intervals, u):
        from scipy import special  # (here, not at import: scipy.special costs 0.2 s to import)

        lower = interval + u
        upper = (num_intervals - 1 - interval) + (1.0 - u)
        return np.where(lower <= upper, special.ndtri(lower / num_intervals),
                        -special.ndtri(upper / num_intervals))

    @staticmethod
    def std_edges(num_intervals):
        from scipy import special

        edges = np.arange(num_intervals + 1)
        return np.where(2 * edges <= num_intervals, special.ndtri(edges / num_intervals),
                        -special.ndtri((num_intervals - edges) / num_intervals))

    @staticmethod
    def log_ratio(x, a, b):
        return -np.log(b) - 0.5 * ((x - a) / b) ** 2 + 0.5 * x**2

    @staticmethod
    def log_sup_ratio(lower, upper, a, b):
        if b < 1:  # concave: the value at the peak clamped into the interval
            peak = a / (1.0 - b**2)
            return reference.log_ratio(np.clip(peak, lower, upper), a, b)
        # flat ratio (identical distributions) or unbounded somewhere
        return np.full(np.shape(lower), 0.0 if (b == 1 and a == 0) else np.inf)

    @staticmethod
    def log_target_mass(lower, upper, a, b):
        from scipy import special

        lo, hi = (lower - a) / b, (upper - a) / b
        flip = lo > 0
        lo, hi = np.where(flip, -hi, lo), np.where(flip, -lo, hi)
        log_hi, log_lo = special.log_ndtr(hi), special.log_ndtr(lo)
        with np.errstate(divide="ignore"):
            return log_hi + np.log(-np.expm1(log_lo - log_hi))


GAUSSIAN_PAIR = register_pair(Pair(
    target=Gaussian, prior=Gaussian, tag=GaussianPair(), kl_nats=_kl_nats, dinf_nats=_dinf_nats,
    bounded=_bounded, reference=reference, check=check_scales_representable,
    check_messages=(SCALES_REPRESENTABLE_MESSAGE,),
    exact_condition="every target std below the prior std (or equal to it, with equal means)",
))
