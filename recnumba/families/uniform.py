"""Factorised uniform family: U(low, high) per dimension; the Uniform/Uniform and Uniform/Gaussian pairs.

As a prior, U(L, H) standardises a point z to ``x = (z - L) / (H - L)``: the prior becomes U(0, 1),
whose quantile is the identity, and a uniform target U(l, h) becomes U(a, b) with
``a = (l - L) / (H - L)``, ``b = (h - L) / (H - L)``. Then (nats)

    ln q/p (x) = -ln(b - a)                 on [a, b], -inf elsewhere
    KL = D_inf = -ln(b - a)                 (finite only if [a, b] lies inside [0, 1])

Under a Gaussian prior N(m, s^2) a uniform target U(l, h) becomes U(a, b) with
``a = (l - m) / s``, ``b = (h - m) / s`` and (nats)

    ln q/p (x) = -ln(b - a) + x^2 / 2 + ln(2 pi) / 2          on [a, b], -inf elsewhere
    KL         = -ln(b - a) + ln(2 pi) / 2 + (a^2 + a b + b^2) / 6
    D_inf      = -ln(b - a) + ln(2 pi) / 2 + max(a^2, b^2) / 2   (always bounded)

The target density is taken on the closed interval [a, b].
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from recnumba.families import gaussian, protocol
from recnumba.families.base import Family, Pair, register_pair
from recnumba.families.gaussian import GaussianPrior

__all__ = ["Uniform", "UniformPrior", "UniformPair", "UniformGaussianPair", "UNIFORM_PAIR",
           "UNIFORM_GAUSSIAN_PAIR"]

_INF = math.inf
_NAN = math.nan
_LOG_SQRT_2PI = 0.91893853320467274178  # 0.5 * ln(2 pi)


class UniformPrior(NamedTuple):
    """Numba tag of the uniform family as a prior."""

    family: int = 0


class UniformPair(NamedTuple):
    """Numba tag of a uniform target under a uniform prior."""

    family: int = 0


class UniformGaussianPair(NamedTuple):
    """Numba tag of a uniform target under a Gaussian prior."""

    family: int = 0


protocol.declare_pair(UniformPair, UniformPrior)
protocol.declare_pair(UniformGaussianPair, GaussianPrior)


# ---------------------------------------------------------------------------------------------
# Device functions (standardised coordinates)
# ---------------------------------------------------------------------------------------------


@protocol.implements(protocol.std_quantile, UniformPrior)
@njit(cache=True, error_model="numpy")  # (vectorisable in the chunked search)
def std_quantile(interval, num_intervals, u):
    """U(0, 1) quantile of ``(interval + u) / num_intervals``: the point itself (decode path, exact ops)."""
    return (float(interval) + u) / float(num_intervals)


@protocol.implements(protocol.std_edge, UniformPrior)
@njit(cache=True)
def std_edge(edge, num_intervals):
    """Edge ``edge`` (0..J) of J equal-mass intervals of U(0, 1): ``edge / J``."""
    return float(edge) / float(num_intervals)


@njit(cache=True)
def _neg_log_width(a, b):
    """-ln(b - a) for a < b; for a target inside [0, 1] wider than 1/2 computed as
    ``-log1p(-(a + (1 - b)))`` (1 - b is exact there), accurate as the target approaches U(0, 1)."""
    if a >= 0.0 and b <= 1.0 and b - a > 0.5:
        return -math.log1p(-(a + (1.0 - b)))
    return -math.log(b - a)


@njit(cache=True)
def _overlap(lower, upper, a, b):
    """The ends (lo, hi) of [lower, upper] n [a, b]; an overlap of positive length iff lo < hi."""
    return (lower if lower > a else a), (upper if upper < b else b)


@njit(cache=True)
def _log_overlap_fraction(lower, upper, a, b):
    """ln(|[lower, upper] n [a, b]| / (b - a)); -inf without an overlap of positive length."""
    if lower != lower or upper != upper or a != a or b != b:
        return _NAN
    lo, hi = _overlap(lower, upper, a, b)
    if not (lo < hi):
        return -_INF
    width = b - a
    overlap = hi - lo
    if overlap > 0.5 * width:
        # 1 - fraction = the cut-off parts (each >= 0): no cancellation near a full overlap
        cut = 0.0
        if lower > a:
            cut += lower - a
        if upper < b:
            cut += b - upper
        return math.log1p(-cut / width)
    return math.log(overlap / width)


@protocol.implements(protocol.log_ratio, UniformPair)
@njit(cache=True, error_model="numpy")  # (vectorisable in the chunked search)
def log_ratio(x, a, b):
    """ln q(x)/p(x) with q = U(a, b) and p = U(0, 1): -ln(b - a) on [a, b], -inf elsewhere."""
    if x != x:
        return _NAN
    if a <= x and x <= b:
        return _neg_log_width(a, b)
    return -_INF


@protocol.implements(protocol.log_sup_ratio, UniformPair)
@njit(cache=True)
def log_sup_ratio(lower, upper, a, b):
    """sup of ln q/p over [lower, upper]: -ln(b - a) if it overlaps [a, b] in an interval, else -inf."""
    if not (lower <= upper) or a != a or b != b:
        return _NAN
    lo, hi = _overlap(lower, upper, a, b)
    if lo < hi:
        return _neg_log_width(a, b)
    return -_INF


@protocol.implements(protocol.log_target_mass, UniformPair)
@njit(cache=True)
def log_target_mass(lower, upper, a, b):
    """ln Q([lower, upper]) for Q = U(a, b): the log of the overlap's share of [a, b]."""
    return _log_overlap_fraction(lower, upper, a, b)


@protocol.implements(protocol.log_ratio, UniformGaussianPair)
@njit(cache=True, error_model="numpy")  # (vectorisable in the chunked search)
def gaussian_log_ratio(x, a, b):
    """ln q(x)/p(x) with q = U(a, b) and p = N(0, 1): -ln(b - a) + x^2/2 + ln(2 pi)/2 on [a, b]."""
    if x != x:
        return _NAN
    if a <= x and x <= b:
        return -math.log(b - a) + (0.5 * x * x + _LOG_SQRT_2PI)
    return -_INF


@protocol.implements(protocol.log_sup_ratio, UniformGaussianPair)
@njit(cache=True)
def gaussian_log_sup_ratio(lower, upper, a, b):
    """sup of ln q/p over [lower, upper]: at the point of the overlap with [a, b] farthest from 0."""
    if not (lower <= upper) or a != a or b != b:
        return _NAN
    lo, hi = _overlap(lower, upper, a, b)
    if not (lo < hi):
        return -_INF
    far = lo * lo if lo * lo > hi * hi else hi * hi
    return -math.log(b - a) + (0.5 * far + _LOG_SQRT_2PI)


@protocol.implements(protocol.log_target_mass, UniformGaussianPair)
@njit(cache=True)
def gaussian_log_target_mass(lower, upper, a, b):
    """ln Q([lower, upper]) for Q = U(a, b) (the prior does not enter)."""
    return _log_overlap_fraction(lower, upper, a, b)


# Checks and standardisation (the device path; twins of the NumPy side's checks below)


@protocol.implements(protocol.standardise, UniformPrior)
@njit(cache=True)
def standardise(low, high, prior_loc, prior_scale):
    """``Uniform.standardised_by``: ((low - m) / s, (high - m) / s)."""
    return (low - prior_loc) / prior_scale, (high - prior_loc) / prior_scale


@protocol.implements(protocol.parameter_code, UniformPrior)
@njit(cache=True)
def parameter_code(low, high):
    """``Uniform._check`` of one dimension: 1 unless low < high, 2 if high - low overflows, else 0."""
    if not (low < high):
        return 1
    width = high - low
    if not (width - width == 0.0):  # inf (or NaN): not finite
        return 2
    return 0


@protocol.implements(protocol.standardised_code, UniformPair)
@njit(cache=True)
def standardised_code(a, b):
    """``_uniform_check`` of one dimension: 1 outside [0, 1], 2 for a zero standardised width, else 0."""
    if not (a >= 0.0 and b <= 1.0):
        return 1
    if not (b > a):
        return 2
    return 0


@protocol.implements(protocol.standardised_code, UniformGaussianPair)
@njit(cache=True)
def gaussian_standardised_code(a, b):
    """``_gaussian_check`` of one dimension: 1 for a zero standardised width, else 0."""
    return 0 if b > a else 1


@protocol.implements(protocol.ratio_bounded, UniformPair)
@njit(cache=True)
def ratio_bounded(a, b):
    """``_uniform_bounded`` of one dimension: the target inside [0, 1]."""
    return a >= 0.0 and b <= 1.0


@protocol.implements(protocol.ratio_bounded, UniformGaussianPair)
@njit(cache=True)
def gaussian_ratio_bounded(a, b):
    """A uniform target's ratio under a Gaussian prior is always bounded."""
    return True


@protocol.implements(protocol.kl_divergence, UniformPair)
@njit(cache=True)
def kl_divergence(low, high, prior_low, prior_high):
    """``_uniform_kl_nats`` of one dimension."""
    if not (low >= prior_low and high <= prior_high):
        return _INF
    prior_width = prior_high - prior_low
    fraction = (high - low) / prior_width
    if fraction > 0.5:
        return -math.log1p(-(((low - prior_low) + (prior_high - high)) / prior_width))
    return -math.log(fraction)


@protocol.implements(protocol.kl_divergence, UniformGaussianPair)
@njit(cache=True)
def gaussian_kl_divergence(low, high, prior_loc, prior_scale):
    """``_gaussian_kl_nats`` of one dimension."""
    a = (low - prior_loc) / prior_scale
    b = (high - prior_loc) / prior_scale
    second_moment = (0.75 * (a + b) ** 2 + 0.25 * (b - a) ** 2) / 3.0
    return -math.log((high - low) / prior_scale) + _LOG_SQRT_2PI + 0.5 * second_moment


# ---------------------------------------------------------------------------------------------
# NumPy side
# ---------------------------------------------------------------------------------------------


class Uniform(Family):
    """A factorised uniform distribution U(low, high) per dimension, one per block when batched.

    Parameters
    ----------
    low, high : array_like, shape (D,) or (B, D)
        Lower and upper ends of the support; ``low < high`` everywhere. They broadcast against each
        other; a 2-D shape describes B independent blocks.
    """

    parameter_names = ("low", "high")
    prior_tag = UniformPrior()

    def __init__(self, low, high):  # the parameters by name: Uniform(low=..., high=...)
        super().__init__(low, high)

    @classmethod
    def check_messages(cls):
        return ("low must be < high everywhere (a uniform distribution needs a support of positive width)",
                "high - low overflows float64 somewhere; rescale the latent")

    def _check(self, low, high):
        if not np.all(low < high):
            raise ValueError(self.check_messages()[0])
        with np.errstate(over="ignore"):
            if not np.all(np.isfinite(high - low)):
                raise ValueError(self.check_messages()[1])

    @property
    def low(self):
        return self._params[0]

    @property
    def high(self):
        return self._params[1]

    def location_scale(self):
        return self.low, self.high - self.low

    def standardised_by(self, loc, scale):
        return (self.low - loc) / scale, (self.high - loc) / scale


def _standardised(target, prior):
    loc, scale = prior.location_scale()
    with np.errstate(over="ignore", under="ignore"):
        return target.standardised_by(loc, scale)


def _uniform_kl_nats(target, prior):
    """Per-dimension KL = D_inf = -ln(b - a) (nats); +inf where the target leaves the prior's support.

    From the latent parameters, not the standardised ones: ``b - a`` cancels for a narrow target,
    while ``(high - low) / (H - L)`` and the cut-off parts ``((low - L) + (H - high)) / (H - L)``
    (for a target wider than half the prior) keep full relative accuracy.
    """
    low, high = (np.asarray(p, dtype=np.float64) for p in target.params)
    prior_low, prior_high = (np.asarray(p, dtype=np.float64) for p in prior.params)
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        prior_width = prior_high - prior_low
        fraction = (high - low) / prior_width
        cut = ((low - prior_low) + (prior_high - high)) / prior_width
        value = np.where(fraction > 0.5, -np.log1p(-cut), -np.log(fraction))
    inside = (low >= prior_low) & (high <= prior_high)
    return np.where(inside, value, np.inf)


def _uniform_bounded(a, b):
    a, b = np.broadcast_arrays(np.asarray(a), np.asarray(b))
    return (a >= 0) & (b <= 1)


_UNIFORM_CHECK_MESSAGES = (
    "a Uniform target must lie inside the Uniform prior's support [low, high]: the KL divergence is infinite "
    "otherwise",
    "a Uniform target is too narrow relative to the prior for float64 (its standardised width is 0); rescale the "
    "latent",
)
_GAUSSIAN_CHECK_MESSAGES = (
    "a Uniform target is too narrow relative to the Gaussian prior for float64 (its standardised width is 0); "
    "rescale the latent",
)


def _uniform_check(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if not (np.all(a >= 0) and np.all(b <= 1)):
        raise ValueError(_UNIFORM_CHECK_MESSAGES[0])
    if not np.all(b > a):
        raise ValueError(_UNIFORM_CHECK_MESSAGES[1])


def _gaussian_neg_log_width(target, prior):
    """-ln(b - a) from the latent parameters: -ln((high - low) / s), no cancellation."""
    low, high = (np.asarray(p, dtype=np.float64) for p in target.params)
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        return -np.log((high - low) / np.asarray(prior.scale, dtype=np.float64))


def _gaussian_kl_nats(target, prior):
    """Per-dimension KL[U(a, b) || N(0, 1)] = -ln(b - a) + ln(2 pi)/2 + (a^2 + ab + b^2)/6 (nats)."""
    a, b = _standardised(target, prior)
    with np.errstate(over="ignore"):
        # a^2 + ab + b^2 = 3/4 (a + b)^2 + 1/4 (b - a)^2: a sum of non-negative terms
        second_moment = (0.75 * (a + b) ** 2 + 0.25 * (b - a) ** 2) / 3.0
        return _gaussian_neg_log_width(target, prior) + _LOG_SQRT_2PI + 0.5 * second_moment


def _gaussian_dinf_nats(target, prior):
    """Per-dimension D_inf = -ln(b - a) + ln(2 pi)/2 + max(a^2, b^2)/2 (nats)."""
    a, b = _standardised(target, prior)
    with np.errstate(over="ignore"):
        return _gaussian_neg_log_width(target, prior) + _LOG_SQRT_2PI + 0.5 * np.maximum(a * a, b * b)


def _gaussian_bounded(a, b):
    return np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)


def _gaussian_check(a, b):
    if not np.all(np.asarray(b) > np.asarray(a)):
        raise ValueError(_GAUSSIAN_CHECK_MESSAGES[0])


def _reference_log_overlap_fraction(lower, upper, a, b):
    lower, upper, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lower, upper, a, b)))
    overlap = np.minimum(upper, b) - np.maximum(lower, a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(overlap > 0, np.log(np.maximum(overlap, 0.0) / (b - a)), -np.inf)


class reference:
    """NumPy versions of the Uniform/Uniform device functions (the test oracle), vectorised."""

    @staticmethod
    def std_quantile(interval, num_intervals, u):
        return (np.asarray(interval, dtype=np.float64) + u) / num_intervals

    @staticmethod
    def std_edges(num_intervals):
        return np.arange(num_intervals + 1) / num_intervals

    @staticmethod
    def log_ratio(x, a, b):
        x, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, a, b)))
        return np.where((a <= x) & (x <= b), -np.log(b - a), -np.inf)

    @staticmethod
    def log_sup_ratio(lower, upper, a, b):
        lower, upper, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lower, upper, a, b)))
        overlap = np.minimum(upper, b) - np.maximum(lower, a)
        return np.where(overlap > 0, -np.log(b - a), -np.inf)

    log_target_mass = staticmethod(_reference_log_overlap_fraction)


class gaussian_reference(gaussian.reference):
    """NumPy versions of the Uniform/Gaussian device functions (prior parts: the Gaussian ones)."""

    @staticmethod
    def log_ratio(x, a, b):
        x, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (x, a, b)))
        return np.where((a <= x) & (x <= b), -np.log(b - a) + 0.5 * x**2 + _LOG_SQRT_2PI, -np.inf)

    @staticmethod
    def log_sup_ratio(lower, upper, a, b):
        lower, upper, a, b = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in (lower, upper, a, b)))
        lo, hi = np.maximum(lower, a), np.minimum(upper, b)
        far = np.maximum(lo**2, hi**2)
        return np.where(hi > lo, -np.log(b - a) + 0.5 * far + _LOG_SQRT_2PI, -np.inf)

    log_target_mass = staticmethod(_reference_log_overlap_fraction)


UNIFORM_PAIR = register_pair(Pair(
    target=Uniform, prior=Uniform, tag=UniformPair(), kl_nats=_uniform_kl_nats, dinf_nats=_uniform_kl_nats,
    bounded=_uniform_bounded, reference=reference, check=_uniform_check, check_messages=_UNIFORM_CHECK_MESSAGES,
    exact_condition="the target's support inside the prior's",
))

UNIFORM_GAUSSIAN_PAIR = register_pair(Pair(
    target=Uniform, prior=gaussian.Gaussian, tag=UniformGaussianPair(), kl_nats=_gaussian_kl_nats,
    dinf_nats=_gaussian_dinf_nats, bounded=_gaussian_bounded, reference=gaussian_reference,
    check=_gaussian_check, check_messages=_GAUSSIAN_CHECK_MESSAGES,
    exact_condition="always (a uniform target has bounded support)",
))
