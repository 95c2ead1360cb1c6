"""Accuracy tests for recnumba.numerics.gaussian_math.

References: scipy.special where it is itself accurate, mpmath (high
precision) everywhere else, numerical integration / dense grids for the
density-ratio functions.
"""

import math

import numba
import numpy as np
import pytest
import scipy.special as sc
from scipy import integrate, stats

from recnumba.numerics.gaussian_math import (
    kl_divergence,
    log1mexp,
    log_interval_mass,
    log_ndtr,
    log_ndtr_upper,
    log_ratio,
    log_std_interval_mass,
    log_sup_ratio,
    log_sup_ratio_interval,
    ndtri,
    ndtri_upper,
)

import mpmath as mp  # noqa: E402  (test dependency, see setup.cfg extras "test")

INF = math.inf
NAN = math.nan


@numba.njit
def _map1(f, xs):
    out = np.empty(xs.size)
    for i in range(xs.size):
        out[i] = f(xs[i])
    return out


def _mp_ndtri(p, x0):
    """High-precision inverse CDF: one mpmath Newton step on log Phi from x0.

    x0 is accurate to ~1e-15, so a single step is accurate to ~1e-30.
    """
    with mp.workdps(50):
        p = mp.mpf(p)
        x = mp.mpf(x0)
        cdf = mp.ncdf(x)
        x = x - (mp.log(cdf) - mp.log(p)) * cdf / mp.npdf(x)
        cdf = mp.ncdf(x)
        x = x - (mp.log(cdf) - mp.log(p)) * cdf / mp.npdf(x)
        return x


def _mp_log_ndtr(x):
    with mp.workdps(50):
        x = mp.mpf(x)
        if x < 0:
            return mp.log(mp.ncdf(x))
        return mp.log1p(-mp.ncdf(-x))


def _mp_log_mass(a, b):
    with mp.workdps(80):
        a = mp.mpf(a)
        b = mp.mpf(b)
        if a >= 0:
            a, b = -b, -a
        return mp.log(mp.ncdf(b) - mp.ncdf(a))


# --------------------------------------------------------------------------
# ndtri
# --------------------------------------------------------------------------


def _ndtri_grid():
    rng = np.random.default_rng(12345)
    lower = np.logspace(-300, np.log10(0.5), 20001)
    upper = 1.0 - lower[lower >= 1e-16]
    unif = rng.uniform(0.0, 1.0, 20000)
    return np.concatenate([lower, upper, unif])


def test_ndtri_vs_scipy():
    # Criterion: pure relative error |x - x_scipy| <= 1e-15 |x_scipy| (both
    # are exactly 0 at p = 0.5 and x ~ p - 0.5 near it, so relative error is
    # meaningful everywhere).  Note scipy's ndtri is itself off by up to ~4
    # ulp (~9e-16) in 0.1 < p < 0.9; ours is ~1 ulp (see the mpmath test), so
    # for rare p the difference can approach 1e-15; the seeded grid is fixed.
    p = _ndtri_grid()
    x = _map1(ndtri, p)
    s = sc.ndtri(p)
    assert np.all(np.isfinite(x))
    err = np.abs(x - s)
    assert np.all(err <= 1e-15 * np.abs(s)), (err / np.abs(s)).max()


def test_ndtri_vs_mpmath_including_denormals():
    # Criterion: relative error <= 4e-16 (about 2 ulp) against a 50-digit
    # reference, p from the smallest denormal up to 1.
    rng = np.random.default_rng(7)
    p = np.concatenate([
        np.logspace(np.log10(5e-324), np.log10(0.5), 500),
        10.0 ** rng.uniform(-323, -1, 300),
        rng.uniform(0.0, 1.0, 400),
        1.0 - 10.0 ** rng.uniform(-16, -1, 100),
    ])
    p = p[(p > 0) & (p < 1) & (p != 0.5)]
    worst = 0.0
    for pi in p:
        x = ndtri(float(pi))
        r = _mp_ndtri(float(pi), x)
        worst = max(worst, float(abs((x - r) / r)))
    assert worst <= 4e-16, worst


def test_ndtri_exact_antisymmetry():
    p = _ndtri_grid()
    p = p[p < 0.5]
    q = 1.0 - p
    exact = (1.0 - q) == p  # 1 - p exactly representable
    p, q = p[exact], q[exact]
    assert p.size > 10000
    assert np.array_equal(_map1(ndtri, q), -_map1(ndtri, p))
    assert ndtri(0.5) == 0.0


def test_ndtri_special_values_and_upper():
    assert ndtri(0.0) == -INF
    assert ndtri(1.0) == INF
    for bad in (-1e-300, -0.5, 1.0 + 2.0**-52, 2.0, NAN, INF, -INF):
        assert math.isnan(ndtri(bad))
        assert math.isnan(ndtri_upper(bad))
    assert ndtri_upper(0.0) == INF
    assert ndtri_upper(1.0) == -INF
    for q in (5e-324, 1e-300, 1e-20, 0.01, 0.3, 0.5, 0.7, 0.999):
        assert ndtri_upper(q) == -ndtri(q)
    # P(X > x) = q in the far tail
    for q in (1e-300, 1e-100, 1e-20):
        x = ndtri_upper(q)
        assert abs(log_ndtr_upper(x) - math.log(q)) <= 1e-13 * abs(math.log(q))


# --------------------------------------------------------------------------
# log_ndtr
# --------------------------------------------------------------------------


def test_log_ndtr_vs_scipy():
    # scipy's log_ndtr computes log1p(-ndtr(-x)) with an unsplit erfc
    # argument, so its own relative error grows like x^2 eps for x > 0
    # (~2e-13 at x = 25); compare on [-1e5, 20], relative 1e-13.
    x = np.concatenate([
        -np.logspace(-6, 5, 3000),
        np.linspace(-40.0, 20.0, 6001),
        np.logspace(-6, np.log10(20.0), 1000),
    ])
    v = _map1(log_ndtr, x)
    s = sc.log_ndtr(x)
    assert np.all(np.abs(v - s) <= 1e-13 * np.abs(s))


def test_log_ndtr_vs_mpmath():
    # Full range, relative 1e-15 (measured max ~4.5e-16).  Stops at x = 37.5,
    # beyond which log Phi(x) ~ -Phi(-x) is a denormal.
    x = np.concatenate([
        -np.logspace(-3, 150, 250),
        np.linspace(-45.0, 37.5, 331),
        np.logspace(-3, np.log10(37.5), 120),
    ])
    worst = 0.0
    for xi in x:
        v = log_ndtr(float(xi))
        r = _mp_log_ndtr(float(xi))
        worst = max(worst, float(abs((v - r) / r)))
    assert worst <= 1e-15, worst


def test_log_ndtr_special_values():
    assert log_ndtr(-INF) == -INF
    assert log_ndtr(INF) == 0.0
    assert math.isnan(log_ndtr(NAN))
    assert log_ndtr(-1e160) == -INF  # true value < -1.8e308
    assert log_ndtr(0.0) == -math.log(2.0)
    for x in (-1e100, -50.0, -3.0, 0.0, 2.0, 10.0, 1e10):
        assert log_ndtr_upper(x) == log_ndtr(-x)


def test_log1mexp():
    for d in (-1e-300, -1e-10, -0.1, -0.6931, -0.6932, -1.0, -50.0, -800.0):
        with mp.workdps(40):
            r = mp.log(-mp.expm1(d))
        assert abs(log1mexp(d) - r) <= 1e-15 * abs(r)
    assert log1mexp(0.0) == -INF
    assert log1mexp(-INF) == 0.0
    assert math.isnan(log1mexp(1e-300))


# --------------------------------------------------------------------------
# Interval masses
# --------------------------------------------------------------------------

FAR_TAIL = [
    (40.0, 41.0),
    (-1e4, -1e4 + 1e-3),
    (5e3, INF),
    (-INF, -300.0),
    (-1e150, -1e150 * (1 - 1e-15)),
    (37.0, 37.0 + 1e-12),
    (-2e3, -1e3),
    (300.0, 301.0),
]

NORMAL = [
    (-INF, INF),
    (-INF, 0.0),
    (0.0, INF),
    (-1.0, 1.0),
    (-5.0, 5.0),
    (-1e-10, 1e-10),
    (-0.3, 0.5),
    (-0.6, 0.6),
    (-1.1, 0.0),
    (0.5, 1.5),
    (3.0, 3.0 + 1e-14),
    (-2.0, 2.0 + 1e-9),
    (-10.0, 38.0),
]


def _interval_cases():
    rng = np.random.default_rng(99)
    cases = FAR_TAIL + NORMAL
    for _ in range(300):
        c = rng.choice([-1.0, 1.0]) * 10.0 ** rng.uniform(-3, 3.5)
        w = 10.0 ** rng.uniform(-12, 1.5)
        u = rng.uniform()
        a, b = c - w * u, c + w * (1 - u)
        if a < b:
            cases.append((float(a), float(b)))
    return cases


def test_log_std_interval_mass_vs_mpmath():
    # Relative error of the log mass <= 1e-14 (measured max ~5e-16).
    for a, b in _interval_cases():
        v = log_std_interval_mass(a, b)
        r = _mp_log_mass(a, b)
        assert math.isfinite(v) or r == 0, (a, b, v)
        if r == 0:
            assert v == 0.0
        else:
            assert abs(v - r) <= 1e-14 * abs(r), (a, b, v, float(r))


def test_log_std_interval_mass_far_tail_finite_and_symmetric():
    for a, b in _interval_cases():
        v = log_std_interval_mass(a, b)
        assert v == log_std_interval_mass(-b, -a), (a, b)
    for a, b in FAR_TAIL:
        v = log_std_interval_mass(a, b)
        assert math.isfinite(v) and v < 0.0
    # additivity: mass(a, m) + mass(m, b) = mass(a, b)
    for a, m, b in [(-3.0, -1.0, 2.0), (40.0, 40.5, 41.0), (-1e4, -9999.9995, -9999.999),
                    (-INF, -30.0, -20.0), (10.0, 11.0, INF)]:
        lhs = np.logaddexp(log_std_interval_mass(a, m), log_std_interval_mass(m, b))
        rhs = log_std_interval_mass(a, b)
        assert abs(lhs - rhs) <= 1e-14 * max(1.0, abs(rhs))


def test_log_std_interval_mass_special():
    assert log_std_interval_mass(1.0, 1.0) == -INF
    assert log_std_interval_mass(-INF, -INF) == -INF
    assert log_std_interval_mass(INF, INF) == -INF
    assert log_std_interval_mass(-INF, INF) == 0.0
    assert math.isnan(log_std_interval_mass(1.0, 0.0))
    assert math.isnan(log_std_interval_mass(INF, -INF))
    assert math.isnan(log_std_interval_mass(NAN, 1.0))
    assert math.isnan(log_std_interval_mass(0.0, NAN))


def test_log_interval_mass_loc_scale():
    rng = np.random.default_rng(3)
    for _ in range(200):
        loc = rng.normal(0, 5)
        scale = 10.0 ** rng.uniform(-2, 2)
        a, b = np.sort(loc + scale * rng.normal(0, 2, 2))
        v = log_interval_mass(a, b, loc, scale)
        assert v == log_std_interval_mass((a - loc) / scale, (b - loc) / scale)
        d = stats.norm.cdf(b, loc, scale) - stats.norm.cdf(a, loc, scale)
        if d > 1e-3:
            assert abs(v - math.log(d)) <= 1e-12
    assert math.isnan(log_interval_mass(0.0, 1.0, 0.0, 0.0))
    assert math.isnan(log_interval_mass(0.0, 1.0, 0.0, -1.0))
    assert math.isnan(log_interval_mass(0.0, 1.0, 0.0, NAN))
    assert math.isnan(log_interval_mass(2.0, 1.0, 0.0, 1.0))
    assert log_interval_mass(-INF, INF, 3.0, 2.0) == 0.0


# --------------------------------------------------------------------------
# Density ratios
# --------------------------------------------------------------------------


def _params(rng, n):
    out = []
    for _ in range(n):
        out.append((rng.normal(0, 3), 10.0 ** rng.uniform(-1, 1),
                    rng.normal(0, 3), 10.0 ** rng.uniform(-1, 1)))
    return out


def test_log_ratio_vs_scipy():
    rng = np.random.default_rng(11)
    for mq, sq, mp_, sp in _params(rng, 200):
        z = rng.normal(mq, 3 * sq)
        v = log_ratio(z, mq, sq, mp_, sp)
        r = stats.norm.logpdf(z, mq, sq) - stats.norm.logpdf(z, mp_, sp)
        assert abs(v - r) <= 1e-12 * max(1.0, abs(r))
    # equal scales, infinite z: analytic limits, never NaN
    assert log_ratio(INF, 0.0, 1.0, 0.0, 2.0) == -INF
    assert log_ratio(-INF, 0.0, 2.0, 0.0, 1.0) == INF
    assert log_ratio(INF, 1.0, 1.0, 0.0, 1.0) == INF
    assert log_ratio(-INF, 1.0, 1.0, 0.0, 1.0) == -INF
    assert log_ratio(INF, 1.0, 1.0, 1.0, 1.0) == 0.0
    assert math.isnan(log_ratio(0.0, 0.0, 0.0, 0.0, 1.0))
    assert math.isnan(log_ratio(0.0, 0.0, 1.0, 0.0, -1.0))
    assert math.isnan(log_ratio(NAN, 0.0, 1.0, 0.0, 1.0))


def test_kl_vs_quad():
    rng = np.random.default_rng(12)
    for mq, sq, mp_, sp in _params(rng, 40):
        def integrand(z):
            return math.exp(stats.norm.logpdf(z, mq, sq)) * log_ratio(z, mq, sq, mp_, sp)

        ref, _ = integrate.quad(integrand, mq - 40 * sq, mq + 40 * sq,
                                points=[mq], limit=200, epsabs=1e-13, epsrel=1e-11)
        v = kl_divergence(mq, sq, mp_, sp)
        assert v >= 0.0
        assert abs(v - ref) <= 1e-8 * max(1.0, abs(ref)), (v, ref)


def test_kl_relative_accuracy_near_equal():
    for mq, sq, mp_, sp in [(0.0, 1.0 + 1e-9, 0.0, 1.0), (1e-8, 1.0, 0.0, 1.0),
                            (0.0, 1.0, 0.0, 1.0 + 3e-6), (2.0, 0.5, 2.0 + 1e-7, 0.5 - 1e-7),
                            (0.0, 1e-3, 5.0, 40.0), (1.0, 3.0, -1.0, 2.0)]:
        with mp.workdps(50):
            ref = (mp.log(mp.mpf(sp) / sq)
                   + (mp.mpf(sq) ** 2 + (mp.mpf(mq) - mp_) ** 2) / (2 * mp.mpf(sp) ** 2)
                   - mp.mpf(1) / 2)
        v = kl_divergence(mq, sq, mp_, sp)
        assert abs(v - ref) <= 1e-14 * abs(ref), (v, float(ref))
    assert kl_divergence(1.0, 2.0, 1.0, 2.0) == 0.0
    assert math.isnan(kl_divergence(0.0, 0.0, 0.0, 1.0))
    assert math.isnan(kl_divergence(0.0, 1.0, NAN, 1.0))


def _ratio_np(z, mq, sq, mp_, sp):
    return (np.log(sp / sq) - 0.5 * ((z - mq) / sq) ** 2 + 0.5 * ((z - mp_) / sp) ** 2)


def test_log_sup_ratio_vs_grid():
    rng = np.random.default_rng(13)
    for mq, sq, mp_, sp in _params(rng, 100):
        v = log_sup_ratio(mq, sq, mp_, sp)
        if sq > sp:
            assert v == INF
            continue
        zs = (mq * sp**2 - mp_ * sq**2) / (sp**2 - sq**2)
        z = np.linspace(zs - 5 * sq, zs + 5 * sq, 200001)
        g = _ratio_np(z, mq, sq, mp_, sp).max()
        assert g <= v + 1e-12 * max(1.0, abs(v))
        assert v - g <= 1e-8 * max(1.0, abs(v))
    assert log_sup_ratio(1.0, 2.0, 1.0, 2.0) == 0.0
    assert log_sup_ratio(1.0, 2.0, 1.5, 2.0) == INF
    assert log_sup_ratio(0.0, 2.0, 0.0, 1.0) == INF
    # q = N(0, 1), p = N(0, 4): ln 2
    assert log_sup_ratio(0.0, 1.0, 0.0, 2.0) == math.log(2.0)
    assert math.isnan(log_sup_ratio(0.0, -1.0, 0.0, 1.0))


def test_log_sup_ratio_interval_vs_grid():
    rng = np.random.default_rng(14)
    params = _params(rng, 150)
    # equal-scale cases (linear ratio), including equal locations
    params += [(mq, sq, mp_, sq) for mq, sq, mp_, _ in _params(rng, 30)]
    params += [(1.0, 0.7, 1.0, 0.7)]
    for mq, sq, mp_, sp in params:
        for _ in range(3):
            a, b = np.sort(rng.normal(mq, 4 * max(sq, sp), 2))
            if rng.uniform() < 0.2:
                b = a  # degenerate interval
            v = log_sup_ratio_interval(a, b, mq, sq, mp_, sp)
            z = np.linspace(a, b, 20001)
            g = _ratio_np(z, mq, sq, mp_, sp).max()
            tol = 1e-9 * max(1.0, abs(g))
            assert g <= v + tol, (a, b, mq, sq, mp_, sp, v, g)
            # grid spacing error of an interior maximum is O(h^2 * curvature)
            h = (b - a) / 20000
            curv = abs(1 / sp**2 - 1 / sq**2)
            assert v - g <= tol + h * h * curv, (a, b, mq, sq, mp_, sp, v, g)


def test_log_sup_ratio_interval_infinite_cases():
    lsri = log_sup_ratio_interval
    # concave (q narrower): finite, equals global sup when maximiser inside
    assert lsri(-INF, INF, 1.0, 1.0, 0.0, 2.0) == log_sup_ratio(1.0, 1.0, 0.0, 2.0)
    zs = (1.0 * 4.0 - 0.0) / 3.0
    assert lsri(zs + 1, INF, 1.0, 1.0, 0.0, 2.0) == log_ratio(zs + 1, 1.0, 1.0, 0.0, 2.0)
    assert lsri(-INF, zs - 1, 1.0, 1.0, 0.0, 2.0) == log_ratio(zs - 1, 1.0, 1.0, 0.0, 2.0)
    assert lsri(INF, INF, 1.0, 1.0, 0.0, 2.0) == -INF
    # convex (q wider): +inf on unbounded intervals
    assert lsri(-INF, 0.0, 0.0, 2.0, 0.0, 1.0) == INF
    assert lsri(0.0, INF, 0.0, 2.0, 0.0, 1.0) == INF
    assert math.isfinite(lsri(-1.0, 3.0, 0.0, 2.0, 0.0, 1.0))
    # equal scales: linear with slope (mu_q - mu_p)/s^2
    assert lsri(0.0, INF, 1.0, 1.0, 0.0, 1.0) == INF
    assert lsri(-INF, 0.0, 1.0, 1.0, 0.0, 1.0) == log_ratio(0.0, 1.0, 1.0, 0.0, 1.0)
    assert lsri(-INF, 0.0, -1.0, 1.0, 0.0, 1.0) == INF
    assert lsri(0.0, INF, -1.0, 1.0, 0.0, 1.0) == log_ratio(0.0, -1.0, 1.0, 0.0, 1.0)
    assert lsri(-INF, INF, 2.0, 1.5, 2.0, 1.5) == 0.0
    # never NaN for valid inputs, including infinite endpoints
    rng = np.random.default_rng(15)
    ends = [-INF, -10.0, -1.0, 0.0, 2.0, 50.0, INF]
    for mq, sq, mp_, sp in _params(rng, 30) + [(0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 3.0, 1.0)]:
        for a in ends:
            for b in ends:
                if a <= b:
                    assert not math.isnan(log_sup_ratio_interval(a, b, mq, sq, mp_, sp))


def test_log_sup_ratio_interval_invalid():
    assert math.isnan(log_sup_ratio_interval(1.0, 0.0, 0.0, 1.0, 0.0, 2.0))
    assert math.isnan(log_sup_ratio_interval(NAN, 0.0, 0.0, 1.0, 0.0, 2.0))
    assert math.isnan(log_sup_ratio_interval(0.0, 1.0, 0.0, 0.0, 0.0, 2.0))
    assert math.isnan(log_sup_ratio_interval(0.0, 1.0, 0.0, 1.0, 0.0, -2.0))


# --------------------------------------------------------------------------
# Callable from other njit code
# --------------------------------------------------------------------------


@numba.njit
def _use_all(p, a, b):
    return (ndtri(p), ndtri_upper(p), log_ndtr(a), log_ndtr_upper(a),
            log_std_interval_mass(a, b), log_interval_mass(a, b, 0.5, 2.0),
            log_ratio(a, 0.0, 1.0, 1.0, 2.0), kl_divergence(0.0, 1.0, 1.0, 2.0),
            log_sup_ratio(0.0, 1.0, 1.0, 2.0),
            log_sup_ratio_interval(a, b, 0.0, 1.0, 1.0, 2.0))


def test_callable_from_njit():
    v = _use_all(0.3, -1.0, 2.0)
    r = (ndtri(0.3), ndtri_upper(0.3), log_ndtr(-1.0), log_ndtr_upper(-1.0),
         log_std_interval_mass(-1.0, 2.0), log_interval_mass(-1.0, 2.0, 0.5, 2.0),
         log_ratio(-1.0, 0.0, 1.0, 1.0, 2.0), kl_divergence(0.0, 1.0, 1.0, 2.0),
         log_sup_ratio(0.0, 1.0, 1.0, 2.0),
         log_sup_ratio_interval(-1.0, 2.0, 0.0, 1.0, 1.0, 2.0))
    assert v == r
    bad = _use_all(1.5, 2.0, 1.0)
    assert math.isnan(bad[0]) and math.isnan(bad[4]) and math.isnan(bad[9])


def test_ndtri_fast_is_close_to_ndtri_and_antisymmetric():
    from recnumba.numerics.gaussian_math import ndtri_fast

    rng = np.random.default_rng(5)
    p = np.concatenate([rng.uniform(size=20000), np.logspace(-300, np.log10(0.5), 3000)])
    fast = np.array([ndtri_fast(v) for v in p])
    accurate = np.array([ndtri(v) for v in p])
    assert np.max(np.abs(fast - accurate) / np.maximum(np.abs(accurate), 1e-300)) < 2e-15
    exact_complement = p >= 0.5
    mirrored = np.array([ndtri_fast(1.0 - v) for v in p[exact_complement]])
    np.testing.assert_array_equal(mirrored, -fast[exact_complement])
    assert ndtri_fast(0.0) == -np.inf and ndtri_fast(1.0) == np.inf and np.isnan(ndtri_fast(1.5))
