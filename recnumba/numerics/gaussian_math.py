"""Scalar float64 Gaussian special functions for njit / CUDA device code.

Every function here is a ``numba.njit(cache=True)`` scalar function built only
from arithmetic and ``math`` functions (``erf``, ``erfc``, ``log``, ``log1p``,
``exp``, ``expm1``, ``sqrt``, ``cosh``, ``floor``), so it can be called from other njit code and
re-jitted as a CUDA device function.  Nothing raises: invalid inputs give NaN.
All logarithms are natural (nats).

Numerics choices
----------------
* ``ndtri`` is Wichura's AS241 (PPND16) followed by one Newton step with an
  accurately computed residual, giving ~1 ulp (<= 4e-16 relative) over
  (0, 1) including denormal p.  Only p <= 0.5 is computed; p > 0.5 returns
  ``-ndtri(1 - p)`` (``1 - p`` is exact there), so ``ndtri(1 - p) == -ndtri(p)``
  holds exactly whenever ``1 - p`` is exact.  Residuals: central region
  ``erf(x/sqrt2)/2 - (p - 1/2)`` (p >= 1/4, where p - 1/2 is exact) or
  ``Phi(x) - p`` via erfc; tails (p < 0.075) step on ``log_ndtr(x) = log p``
  in log space, which also works for denormal p.  ``erf``/``erfc`` arguments
  are split into an exact head ``t0`` plus a tiny tail ``dt`` (Taylor
  corrected) so the rounding of ``x/sqrt2`` does not cost accuracy.
* ``log_ndtr`` uses ``log(erfc(-x/sqrt2)/2)`` for -30 <= x < 0,
  ``log1p(-erfc(x/sqrt2)/2)`` for x >= 0 and, for x < -30 where ``erfc`` would
  eventually underflow, the asymptotic (Mills ratio) series
  ``-x^2/2 - log(-x) - log(sqrt(2 pi)) + log1p(sum_k (-1)^k (2k-1)!! / x^(2k))``
  (16 terms, truncation error < 1e-30 at x = -30).  For x > 0 the split erfc
  argument removes the O(x^2 eps) relative error that rounding ``x/sqrt2``
  would otherwise cause in the tiny values ``log Phi(x) ~ -Phi(-x)`` (scipy
  has this error: ~2e-13 at x = 25).
* ``log_std_interval_mass`` integrates narrow intervals (half-width h <= 0.5
  and h*|centre| <= 1) with 8-point Gauss-Legendre on the density written
  around its centre (``phi(c) * h * sum w_i 2 cosh(c h u_i) exp(-h^2 u_i^2/2)``)
  in log space, which has no cancellation at all.  Wider intervals use
  differences of ``log_ndtr`` (reflected into the lower tail) with an accurate
  ``log1mexp``, or ``log1p(-(Phi(a) + Phi(-b)))`` when the interval straddles 0.
* ``kl_divergence``, for scale ratios within a factor 2, is written as the
  sum of three non-negative terms ``(d - log1p d) + d^2/2 + (dmu/s_p)^2/2``
  with ``d = (s_q - s_p)/s_p`` (exact numerator) and a series for
  ``d - log1p d`` at small |d|, so it keeps full relative accuracy as q -> p.
* Gaussian log-ratio suprema are evaluated in closed form, and infinite
  endpoints are handled analytically (no ``inf - inf``).
"""

import math

import numba

from recnumba.numerics.portable import horner, mul_rn, portable_log, portable_log_of_normal

__all__ = [
    "ndtri",
    "ndtri_fast",
    "ndtri_upper",
    "log_ndtr",
    "log_ndtr_upper",
    "log1mexp",
    "log_std_interval_mass",
    "log_interval_mass",
    "log_ratio",
    "kl_divergence",
    "log_sup_ratio",
    "log_sup_ratio_interval",
]

_NAN = math.nan
_INF = math.inf
_LN2 = 0.6931471805599453094
_LOG_SQRT_2PI = 0.91893853320467274178  # 0.5 * log(2 pi)
# 1/sqrt(2) = _ISQ2_HI + _ISQ2_LO, _ISQ2_HI has 26 significant bits.
_ISQ2 = 0.70710678118654752440
_ISQ2_HI = 0.7071067690849304199219  # 11863283 / 2**24
_ISQ2_LO = 1.210161710447897e-08
_TWO_OVER_SQRTPI = 1.1283791670955125739  # 2/sqrt(pi)

# 8-point Gauss-Legendre on [-1, 1] (positive nodes; the rule is symmetric).
_GL_X1 = 0.18343464249564980494
_GL_X2 = 0.52553240991632898582
_GL_X3 = 0.79666647741362673959
_GL_X4 = 0.96028985649753623168
_GL_W1 = 0.36268378337836198297
_GL_W2 = 0.31370664587788728734
_GL_W3 = 0.22238103445337447054
_GL_W4 = 0.10122853629037625915

# --------------------------------------------------------------------------
# log Phi
# --------------------------------------------------------------------------


@numba.njit(cache=True)
def _log_ndtr_asymptotic(x):
    """log Phi(x) for x <= -30 via the Mills-ratio asymptotic series (nats)."""
    t = 1.0 / (x * x)
    # s = sum_{k=1}^{16} (-1)^k (2k-1)!! t^k, Horner from the inside out.
    s = 0.0
    k = 16
    while k >= 1:
        s = -(2.0 * k - 1.0) * t * (1.0 + s)
        k -= 1
    return -0.5 * x * x - math.log(-x) - _LOG_SQRT_2PI + math.log1p(s)


@numba.njit(cache=True)
def _split_isq2(x):
    """x/sqrt2 = t0 + dt for 0 <= x < 64, with t0 exact and |dt| < 1e-6."""
    # xh has at most 26 significant bits -> xh * _ISQ2_HI (24 bits) is exact.
    xh = math.floor(x * 1048576.0) * (1.0 / 1048576.0)
    xl = x - xh
    return xh * _ISQ2_HI, xh * _ISQ2_LO + xl * _ISQ2


@numba.njit(cache=True)
def _ndtr_upper_pos(x):
    """Phi(-x) = P(X > x) for finite x >= 0, with the erfc argument split.

    erfc(x/sqrt2) is evaluated at an exactly representable point t0 near
    x/sqrt2 and corrected by a 3-term Taylor expansion in the small remainder,
    so the result is accurate to a few ulp even for large x.
    """
    if x > 40.0:
        return 0.5 * math.erfc(x * _ISQ2)  # underflows to (denormal) zero
    t0, dt = _split_isq2(x)
    e0 = math.erfc(t0)
    if e0 == 0.0:
        return 0.0
    # d/dt erfc = -g, g = 2/sqrt(pi) exp(-t^2); g' = -2 t g, g'' = (4t^2-2) g
    g = _TWO_OVER_SQRTPI * math.exp(-t0 * t0)
    corr = g * dt * (1.0 - t0 * dt + (2.0 * t0 * t0 - 1.0) * dt * dt / 3.0)
    return 0.5 * (e0 - corr)


@numba.njit(cache=True)
def log_ndtr(x):
    """log Phi(x), the log standard normal CDF, in nats.

    Accurate to ~1e-15 relative for all x; log_ndtr(-inf) = -inf,
    log_ndtr(inf) = 0, NaN for NaN input.
    """
    if x != x:
        return _NAN
    if x < -30.0:
        if x == -_INF:
            return -_INF
        return _log_ndtr_asymptotic(x)
    if x < 0.0:
        return math.log(0.5 * math.erfc(-x * _ISQ2))
    if x == _INF:
        return 0.0
    return math.log1p(-_ndtr_upper_pos(x))


@numba.njit(cache=True)
def log_ndtr_upper(x):
    """log(1 - Phi(x)) = log P(X > x) for standard normal X, in nats."""
    return log_ndtr(-x)


@numba.njit(cache=True)
def _ndtr(x):
    """Phi(x) for finite x (plain probability, may underflow)."""
    if x >= 0.0:
        return 1.0 - _ndtr_upper_pos(x)
    return _ndtr_upper_pos(-x)


@numba.njit(cache=True)
def log1mexp(d):
    """log(1 - exp(d)) for d <= 0, in nats (-inf at d = 0, NaN for d > 0)."""
    if d > 0.0 or d != d:
        return _NAN
    if d > -_LN2:
        return math.log(-math.expm1(d))
    return math.log1p(-math.exp(d))


# --------------------------------------------------------------------------
# Inverse CDF
# --------------------------------------------------------------------------


@numba.njit(cache=True)
def _half_erf_pos(x):
    """Phi(x) - 1/2 = erf(x/sqrt2)/2 for 0 <= x < 64, argument split."""
    t0, dt = _split_isq2(x)
    g = _TWO_OVER_SQRTPI * math.exp(-t0 * t0)
    corr = g * dt * (1.0 - t0 * dt + (2.0 * t0 * t0 - 1.0) * dt * dt / 3.0)
    return 0.5 * (math.erf(t0) + corr)


# AS241 (PPND16) rational coefficients, highest degree first (for ``horner``).
_CENTRAL_NUM = (
    2.5090809287301226727e3, 3.3430575583588128105e4, 6.7265770927008700853e4,
    4.5921953931549871457e4, 1.3731693765509461125e4, 1.9715909503065514427e3,
    1.3314166789178437745e2, 3.3871328727963666080e0,
)
_CENTRAL_DEN = (
    5.2264952788528545610e3, 2.8729085735721942674e4, 3.9307895800092710610e4,
    2.1213794301586595867e4, 5.3941960214247511077e3, 6.8718700749205790830e2,
    4.2313330701600911252e1, 1.0,
)
_NEAR_NUM = (
    7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
    1.27045825245236838258e0, 3.64784832476320460504e0, 5.76949722146069140550e0,
    4.63033784615654529590e0, 1.42343711074968357734e0,
)
_NEAR_DEN = (
    1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
    1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e0,
    2.05319162663775882187e0, 1.0,
)
_FAR_NUM = (
    2.01033439929228813265e-7, 2.71155556874348757815e-5, 1.24266094738807843860e-3,
    2.65321895265761230930e-2, 2.96560571828504891230e-1, 1.78482653991729133580e0,
    5.46378491116411436990e0, 6.65790464350110377720e0,
)
_FAR_DEN = (
    2.04426310338993978564e-15, 1.42151175831644588870e-7, 1.84631831751005468180e-5,
    7.86869131145613259100e-4, 1.48753612908506148525e-2, 1.36929880922735805310e-1,
    5.99832206555887937690e-1, 1.0,
)


@numba.njit(cache=True)
def _ppnd16_lower(t):
    """Wichura AS241 (PPND16) for 0 < t <= 0.5: about 3 ulp, no refinement.

    Written with ``mul_rn``/``horner``/``portable_log`` so that it gives the same bits on the CPU
    and on a CUDA GPU: candidate coordinates, hence decoded samples, depend on it.
    """
    q = t - 0.5
    if q >= -0.425:
        r = 0.180625 - mul_rn(q, q)
        return mul_rn(q, horner(r, _CENTRAL_NUM)) / horner(r, _CENTRAL_DEN)
    r = math.sqrt(-portable_log(t))
    if r <= 5.0:
        r -= 1.6
        return -horner(r, _NEAR_NUM) / horner(r, _NEAR_DEN)
    r -= 5.0
    return -horner(r, _FAR_NUM) / horner(r, _FAR_DEN)


@numba.njit(cache=True)
def _ndtri_lower(t):
    """ndtri(t) for 0 < t <= 0.5: AS241 (PPND16) + one Newton step with an accurate residual."""
    x = _ppnd16_lower(t)
    if t - 0.5 >= -0.425:
        if x == 0.0:
            return x
        # Newton step x -= (Phi(x) - t) / phi(x) with an accurate residual.
        if t >= 0.25:
            # q = t - 0.5 is exact here; Phi(x) - t = erf(x/sqrt2)/2 - q
            res = -(_half_erf_pos(-x) + (t - 0.5))
        else:
            res = _ndtr_upper_pos(-x) - t
        dens = math.exp(-0.5 * x * x) * (1.0 / 2.5066282746310002416)
        return x - res / dens
    # One Newton step on f(y) = log Phi(y) - log t (log space: works for
    # denormal t); f'(y) = phi(y)/Phi(y) = exp(log phi(y) - log Phi(y)).
    lp = log_ndtr(x)
    dlog = -0.5 * x * x - _LOG_SQRT_2PI - lp
    return x - (lp - math.log(t)) * math.exp(-dlog)


@numba.njit(cache=True)
def _ndtri(p, refine):
    """Shared edge cases and symmetry of ``ndtri`` (refine=True) and ``ndtri_fast`` (refine=False)."""
    if not (p >= 0.0 and p <= 1.0):
        return _NAN
    if p == 0.0:
        return -_INF
    if p == 1.0:
        return _INF
    if p > 0.5:
        # 1 - p is exact for p >= 0.5
        return -(_ndtri_lower(1.0 - p) if refine else _ppnd16_lower(1.0 - p))
    return _ndtri_lower(p) if refine else _ppnd16_lower(p)


# Branch-free pieces of ``ndtri_fast`` for the CPU's vector loops: inlined by numba (LLVM declines
# to inline them, and a call in a loop stops vectorisation).


@numba.njit(cache=True, inline="always", error_model="numpy")
def ppnd16_central(q):
    """``_ppnd16_lower``'s central region, ``q = t - 1/2 >= -0.425``: ``q N(r) / D(r)``, same bits."""
    r = 0.180625 - q * q
    return (q * horner(r, _CENTRAL_NUM)) / horner(r, _CENTRAL_DEN)


@numba.njit(cache=True, inline="always", error_model="numpy")
def ppnd16_tail(t):
    """``_ppnd16_lower``'s tails (``t - 1/2 < -0.425``, ``t >= 2^-1022``), same bits, no branches.

    The near and the far tail share one rational evaluation with per-lane coefficients; the log is
    ``portable_log_of_normal``.
    """
    r = math.sqrt(-portable_log_of_normal(t))
    near = r <= 5.0
    r = r - 1.6 if near else r - 5.0
    numerator = _NEAR_NUM[0] if near else _FAR_NUM[0]
    denominator = _NEAR_DEN[0] if near else _FAR_DEN[0]
    for k in range(1, 8):
        numerator = numerator * r + (_NEAR_NUM[k] if near else _FAR_NUM[k])
        denominator = denominator * r + (_NEAR_DEN[k] if near else _FAR_DEN[k])
    return -numerator / denominator


@numba.njit(cache=True, inline="always", error_model="numpy")
def ndtri_fast_branch_free(p):
    """``ndtri_fast(p)`` bit for bit for 2^-1022 <= p < 1, every branch a select (CPU lanes only).

    Both regions are evaluated and one is kept: cheaper than a mispredicted branch, and a loop
    over it vectorises (``gaussian.std_quantiles`` goes further and evaluates the tail only for
    the lanes that need it).
    """
    flip = p > 0.5
    t = 1.0 - p if flip else p  # exact for p >= 0.5
    q = t - 0.5
    x = ppnd16_central(q) if q >= -0.425 else ppnd16_tail(t)
    return -x if flip else x


@numba.njit(cache=True)
def ndtri_fast(p):
    """Inverse standard normal CDF by AS241 alone (about 3 ulp; ~3x faster than ``ndtri``).

    Used where speed matters more than the last ulp: mapping shared uniforms to candidate
    coordinates (encode and decode call the same function, so codes are unaffected). Same
    conventions as ``ndtri``, including exact antisymmetry.
    """
    return _ndtri(p, False)


@numba.njit(cache=True)
def ndtri(p):
    """Inverse standard normal CDF: x with Phi(x) = p (dimensionless).

    ndtri(0) = -inf, ndtri(1) = +inf, NaN for p outside [0, 1] or NaN.
    Exactly antisymmetric: ndtri(1 - p) == -ndtri(p) when 1 - p is exact.
    """
    return _ndtri(p, True)


@numba.njit(cache=True)
def ndtri_upper(q):
    """Upper-tail quantile: x with P(X > x) = q for X ~ N(0, 1).

    Equals -ndtri(q); accurate for tiny q (down to denormals).
    """
    return -ndtri(q)


# --------------------------------------------------------------------------
# Interval masses
# --------------------------------------------------------------------------


@numba.njit(cache=True)
def _log_mass_gl(a, b):
    """log(Phi(b) - Phi(a)) by 8-point Gauss-Legendre, for narrow [a, b]."""
    c = 0.5 * a + 0.5 * b
    h = 0.5 * b - 0.5 * a
    ch = c * h
    hh = 0.5 * h * h
    s = _GL_W1 * math.cosh(ch * _GL_X1) * math.exp(-hh * _GL_X1 * _GL_X1)
    s += _GL_W2 * math.cosh(ch * _GL_X2) * math.exp(-hh * _GL_X2 * _GL_X2)
    s += _GL_W3 * math.cosh(ch * _GL_X3) * math.exp(-hh * _GL_X3 * _GL_X3)
    s += _GL_W4 * math.cosh(ch * _GL_X4) * math.exp(-hh * _GL_X4 * _GL_X4)
    return -0.5 * c * c - _LOG_SQRT_2PI + math.log(2.0 * h) + math.log(s)


@numba.njit(cache=True)
def log_std_interval_mass(a, b):
    """log P(a <= X <= b) for X ~ N(0, 1), in nats.

    a may be -inf and b may be +inf.  Returns -inf when a == b and NaN when
    a > b or an argument is NaN.  Accurate in the far tails and for very
    narrow intervals.
    """
    if not (a <= b):
        return _NAN
    if a == b:
        return -_INF
    h = 0.5 * b - 0.5 * a
    c = 0.5 * a + 0.5 * b
    if h <= 0.5 and h * abs(c) <= 1.0:
        return _log_mass_gl(a, b)
    if a >= 0.0:
        # reflect into the lower tail: [a, b] -> [-b, -a]
        t = a
        a = -b
        b = -t
    if b <= 0.0:
        lb = log_ndtr(b)
        la = log_ndtr(a)
        return lb + log1mexp(la - lb)
    # a < 0 < b: 1 - Phi(a) - Phi(-b)
    return math.log1p(-(_ndtr(a) + _ndtr(-b)))


@numba.njit(cache=True)
def log_interval_mass(a, b, loc, scale):
    """log P(a <= X <= b) for X ~ N(loc, scale^2), in nats.

    NaN if scale <= 0, a > b, or any input is NaN.
    """
    if not (scale > 0.0) or scale == _INF:
        return _NAN
    return log_std_interval_mass((a - loc) / scale, (b - loc) / scale)


# --------------------------------------------------------------------------
# Gaussian log density ratios
# --------------------------------------------------------------------------


@numba.njit(cache=True)
def _log_scale_ratio(num, den):
    """log(num/den) for positive num, den, accurate when num ~ den."""
    if num <= 2.0 * den and den <= 2.0 * num:
        return math.log1p((num - den) / den)  # num - den exact (Sterbenz)
    return math.log(num / den)


@numba.njit(cache=True)
def _valid_scales(q_loc, q_scale, p_loc, p_scale):
    """True iff both scales are finite and > 0 and both locations finite."""
    return (q_scale > 0.0 and q_scale < _INF and p_scale > 0.0
            and p_scale < _INF and abs(q_loc) < _INF and abs(p_loc) < _INF)


@numba.njit(cache=True)
def log_ratio(z, q_loc, q_scale, p_loc, p_scale):
    """ln q(z)/p(z) in nats for q = N(q_loc, q_scale^2), p = N(p_loc, p_scale^2).

    Infinite z gives the analytic limit; NaN for non-positive/inf scales,
    non-finite locations or NaN z.
    """
    if not _valid_scales(q_loc, q_scale, p_loc, p_scale) or z != z:
        return _NAN
    if abs(z) == _INF:
        if q_scale < p_scale:
            return -_INF
        if q_scale > p_scale:
            return _INF
        # equal scales: linear with slope (q_loc - p_loc)/s^2
        if q_loc == p_loc:
            return 0.0
        if (q_loc > p_loc) == (z > 0.0):
            return _INF
        return -_INF
    u = (z - q_loc) / q_scale
    v = (z - p_loc) / p_scale
    if q_scale == p_scale:
        # (v^2 - u^2)/2 without cancellation
        return 0.5 * (v - u) * (v + u)
    return _log_scale_ratio(p_scale, q_scale) - 0.5 * u * u + 0.5 * v * v


@numba.njit(cache=True)
def _x_minus_log1p(d):
    """d - log1p(d) >= 0 for d > -1, accurate for small |d|."""
    if abs(d) < 0.0625:
        # sum_{k>=2} (-1)^k d^k / k
        s = 0.0
        k = 18
        while k >= 2:
            s = 1.0 / k - d * s
            k -= 1
        return d * d * s
    return d - math.log1p(d)


@numba.njit(cache=True)
def kl_divergence(q_loc, q_scale, p_loc, p_scale):
    """KL[q || p] in nats for q = N(q_loc, q_scale^2), p = N(p_loc, p_scale^2).

    ln(p_scale/q_scale) + (q_scale^2 + (q_loc - p_loc)^2)/(2 p_scale^2) - 1/2,
    evaluated as a sum of non-negative terms (full relative accuracy as q -> p).
    """
    if not _valid_scales(q_loc, q_scale, p_loc, p_scale):
        return _NAN
    m = (q_loc - p_loc) / p_scale
    if q_scale <= 2.0 * p_scale and p_scale <= 2.0 * q_scale:
        d = (q_scale - p_scale) / p_scale  # exact numerator
        return _x_minus_log1p(d) + 0.5 * d * d + 0.5 * m * m
    r = q_scale / p_scale
    return 0.5 * r * r - 0.5 - math.log(r) + 0.5 * m * m


@numba.njit(cache=True)
def log_sup_ratio(q_loc, q_scale, p_loc, p_scale):
    """D_inf[q || p] = sup_z ln q(z)/p(z) in nats (may be +inf).

    With q = N(mu, s^2), p = N(m, sigma^2): if s < sigma it is
    ln(sigma/s) + (mu - m)^2 / (2 (sigma^2 - s^2)); if s == sigma it is 0 when
    mu == m and +inf otherwise; if s > sigma it is +inf.
    """
    if not _valid_scales(q_loc, q_scale, p_loc, p_scale):
        return _NAN
    if q_scale > p_scale:
        return _INF
    dm = q_loc - p_loc
    if q_scale == p_scale:
        if dm == 0.0:
            return 0.0
        return _INF
    # (p - q) and (p + q) are > 0; dividing separately avoids underflow to 0
    return (_log_scale_ratio(p_scale, q_scale)
            + 0.5 * (dm / (p_scale - q_scale)) * (dm / (p_scale + q_scale)))


@numba.njit(cache=True)
def log_sup_ratio_interval(a, b, q_loc, q_scale, p_loc, p_scale):
    """sup over z in [a, b] of ln q(z)/p(z), in nats (may be +inf).

    q = N(q_loc, q_scale^2), p = N(p_loc, p_scale^2); a may be -inf, b may be
    +inf.  Concave case (q_scale < p_scale): value at the maximiser clamped to
    [a, b].  Convex case (q_scale > p_scale): max over the endpoints (+inf if
    one is infinite).  Equal scales: linear, evaluated at the endpoint it
    increases towards.  NaN for a > b or invalid parameters.
    """
    if not _valid_scales(q_loc, q_scale, p_loc, p_scale) or not (a <= b):
        return _NAN
    if q_scale < p_scale:
        dm = q_loc - p_loc
        # z* = (mu sigma^2 - m s^2)/(sigma^2 - s^2) = mu + dm s^2/(sigma^2 - s^2)
        zstar = q_loc + dm * (q_scale / (p_scale - q_scale)) * (q_scale / (p_scale + q_scale))
        if zstar < a:
            return log_ratio(a, q_loc, q_scale, p_loc, p_scale)
        if zstar > b:
            return log_ratio(b, q_loc, q_scale, p_loc, p_scale)
        return log_sup_ratio(q_loc, q_scale, p_loc, p_scale)
    if q_scale > p_scale:
        if a == -_INF or b == _INF:
            return _INF
        ra = log_ratio(a, q_loc, q_scale, p_loc, p_scale)
        rb = log_ratio(b, q_loc, q_scale, p_loc, p_scale)
        return ra if ra > rb else rb
    # equal scales: ln q/p = (mu - m) (z - (mu + m)/2) / s^2, linear in z
    if q_loc == p_loc:
        return 0.0
    if q_loc > p_loc:
        return log_ratio(b, q_loc, q_scale, p_loc, p_scale)
    return log_ratio(a, q_loc, q_scale, p_loc, p_scale)
