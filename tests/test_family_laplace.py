"""The Laplace family (recnumba.families.laplace): device functions against scipy.stats.laplace,
mpmath (high precision) and numerical integration; the numpy reference against the device
functions; KL and D_inf; the container's validation."""

import math

import mpmath as mp
import numpy as np
import pytest
from scipy import integrate, stats

import recnumba.families as families
from recnumba.families import Laplace, dinf_bits, kl_bits, pair_of
from recnumba.families import laplace as lap

INF = math.inf
REF = lap.reference
PAIR = lap.LAPLACE_PAIR

# (a, b) standardised targets: concentrated (b < 1), equal scales (b == 1), wider (b > 1)
TARGETS = [(0.0, 1.0), (0.3, 0.7), (-2.5, 0.05), (4.0, 0.999), (-0.7, 1.0), (1.2, 1.0),
           (0.5, 1.5), (-3.0, 4.0), (1e-9, 1e-4), (30.0, 0.3)]


def vec(function, *args):
    """Apply a scalar (njit) function elementwise."""
    return np.vectorize(function, otypes=[np.float64])(*args)


def mp_quantile(numerator, denominator):
    """Standard Laplace quantile of numerator / denominator at 50 digits (float arguments exact)."""
    with mp.workdps(50):
        p = mp.mpf(numerator) / mp.mpf(denominator)
        return mp.log(2 * p) if p <= 0.5 else -mp.log(2 * (1 - p))


def mp_log_mass(lower, upper, a, b):
    """ln Q([lower, upper]) for Q = Laplace(a, b) at 60 digits (float arguments taken exactly)."""
    with mp.workdps(60):
        def standardised(x):
            return mp.mpf(x) if abs(x) == INF else (mp.mpf(x) - mp.mpf(a)) / mp.mpf(b)

        lo, hi = standardised(lower), standardised(upper)
        if hi <= 0:  # (e^hi - e^lo) / 2, no cancellation
            mass = -mp.exp(hi) * mp.expm1(lo - hi) / 2 if lo > -mp.inf else mp.exp(hi) / 2
        elif lo >= 0:  # (e^-lo - e^-hi) / 2
            mass = -mp.exp(-lo) * mp.expm1(lo - hi) / 2 if hi < mp.inf else mp.exp(-lo) / 2
        else:  # (1 - e^lo) / 2 + (1 - e^-hi) / 2
            mass = -(mp.expm1(lo) + mp.expm1(-hi)) / 2
        return float(mp.log(mass))


def mp_kl(a, b):
    with mp.workdps(60):
        a, b = abs(mp.mpf(a)), mp.mpf(b)
        return float(-mp.log(b) + a + b * mp.exp(-a / b) - 1)


# ---------------------------------------------------------------------------------------------
# Prior: quantiles and edges
# ---------------------------------------------------------------------------------------------

J_VALUES = [1, 2, 3, 7, 10, 1000, 2**20 + 1, 2**40]
# shared uniforms are multiples of 2^-53 in (0, 1) (2^-54 for the smallest)
U_VALUES = [2.0**-54, 2.0**-53, 1e-17, 0.001, 0.25, 0.5, 0.7, 0.999, 1.0 - 2.0**-53]


def interval_sample(num_intervals):
    candidates = {0, 1, 2, num_intervals // 3, num_intervals // 2 - 1, num_intervals // 2,
                  num_intervals - 3, num_intervals - 2, num_intervals - 1}
    return sorted(i for i in candidates if 0 <= i < num_intervals)


@pytest.mark.parametrize("num_intervals", J_VALUES)
def test_std_quantile_matches_mpmath_and_scipy(num_intervals):
    for i in interval_sample(num_intervals):
        for u in U_VALUES:
            x = lap.std_quantile(i, num_intervals, u)
            with mp.workdps(50):
                exact = mp_quantile(mp.mpf(i) + mp.mpf(u), num_intervals)
            # two roundings (i + u, / J) before the log, plus the log's own ulp
            assert abs(x - float(exact)) <= 4e-16 * (1 + abs(float(exact))), (i, u, x, exact)
            p = (i + u) / num_intervals
            if 1e-12 < p < 0.999:  # where scipy's ppf (via 1 - p) is itself accurate
                assert x == pytest.approx(stats.laplace.ppf(p), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("num_intervals", J_VALUES)
def test_std_quantile_antisymmetric(num_intervals):
    for i in interval_sample(num_intervals):
        for u in [0.5, 0.625, 0.75, 0.999, 1 - 2.0**-53, 0.25, 2.0**-40]:  # 1 - u exact
            assert lap.std_quantile(i, num_intervals, u) == -lap.std_quantile(num_intervals - 1 - i, num_intervals,
                                                                             1.0 - u)


def test_std_quantile_extremes_are_finite():
    # the far tails of J = 2^62 intervals: finite, large, and symmetric
    J = 2**62
    low, high = lap.std_quantile(0, J, 2.0**-54), lap.std_quantile(J - 1, J, 1.0 - 2.0**-53)
    assert low == pytest.approx(math.log(2.0**-115), rel=1e-15)
    assert high == pytest.approx(-math.log(2.0**-114), rel=1e-15)
    # even a subnormal quantile argument stays finite (with less relative precision)
    tiny = lap.std_quantile(0, J, 1e-300)
    assert tiny == pytest.approx(math.log(2e-300 / J), rel=1e-12)
    assert lap.std_quantile(0, J, 0.5) == -lap.std_quantile(J - 1, J, 0.5)


@pytest.mark.parametrize("num_intervals", [1, 2, 5, 16, 1001, 2**30])
def test_std_quantile_monotone_and_inside_its_interval(num_intervals):
    us = np.array([1e-12, 0.01, 0.2, 0.5, 0.8, 0.99, 1 - 1e-12])
    previous = -INF
    for i in interval_sample(num_intervals):
        lo, hi = lap.std_edge(i, num_intervals), lap.std_edge(i + 1, num_intervals)
        assert lo < hi
        for u in us:
            x = lap.std_quantile(i, num_intervals, u)
            assert x >= previous
            previous = x
            if 0.01 <= u <= 0.99:
                assert lo <= x <= hi, (i, u)
            else:  # u at the interval's end: the edge up to rounding
                tol = 4e-16 * max(1.0, abs(x))
                assert lo - tol <= x <= hi + tol, (i, u)


def test_std_quantile_dense_monotone():
    J = 64
    xs = [lap.std_quantile(i, J, u) for i in range(J) for u in np.linspace(0.001, 0.999, 25)]
    assert np.all(np.diff(xs) > 0)


@pytest.mark.parametrize("num_intervals", [1, 2, 3, 10, 999, 2**20])
def test_std_edge_matches_scipy_mpmath_and_reference(num_intervals):
    edges = np.array([lap.std_edge(e, num_intervals) for e in range(num_intervals + 1)]) if num_intervals < 5000 \
        else None
    sample = sorted({0, 1, 2, num_intervals // 2, num_intervals // 2 + 1, num_intervals - 1, num_intervals})
    assert lap.std_edge(0, num_intervals) == -INF and lap.std_edge(num_intervals, num_intervals) == INF
    for e in sample:
        if 0 < e < num_intervals:
            x = lap.std_edge(e, num_intervals)
            exact = float(mp_quantile(e, num_intervals))
            assert x == pytest.approx(exact, rel=3e-16, abs=3e-16)
            assert x == pytest.approx(stats.laplace.ppf(e / num_intervals), rel=1e-12, abs=1e-12)
    if edges is not None:
        # numpy's log and libm's may differ in the last bit
        np.testing.assert_allclose(edges, REF.std_edges(num_intervals), rtol=2.3e-16, atol=2.3e-16)
        assert np.all(np.diff(edges) > 0)
        # equal prior masses
        np.testing.assert_allclose(np.diff(stats.laplace.cdf(edges)), 1.0 / num_intervals, rtol=1e-12)
        # antisymmetric
        np.testing.assert_array_equal(edges, -edges[::-1])


def test_reference_std_quantile_matches_device():
    rng = np.random.default_rng(0)
    for J in [1, 3, 100, 2**33]:
        intervals = rng.integers(0, J, size=200)
        us = rng.random(200)
        device = vec(lap.std_quantile, intervals, J, us)
        np.testing.assert_allclose(device, REF.std_quantile(intervals, J, us), rtol=4e-16, atol=4e-16)


# ---------------------------------------------------------------------------------------------
# Pair: log ratio, its supremum, target masses
# ---------------------------------------------------------------------------------------------

X_GRID = np.concatenate([-np.logspace(3, -6, 40), [0.0], np.linspace(-5, 5, 101), np.logspace(-6, 3, 40)])


@pytest.mark.parametrize("a,b", TARGETS)
def test_log_ratio_matches_scipy(a, b):
    xs = np.concatenate([X_GRID, a + b * np.linspace(-600, 600, 241), [a, a + 1e-9, a - 1e-9]])
    device = vec(lap.log_ratio, xs, a, b)
    with np.errstate(invalid="ignore"):
        log_q, log_p = stats.laplace.logpdf(xs, a, b), stats.laplace.logpdf(xs)
        expected = log_q - log_p
    known = (log_q > -650) & (log_p > -650)  # scipy's logpdf loses precision as the pdf underflows
    assert known.sum() > 100
    scale = 1.0 + abs(math.log(b)) + np.abs(xs - a) / b + np.abs(xs)  # size of the terms
    assert np.all(np.abs(device - expected)[known] <= 4e-16 * scale[known])
    np.testing.assert_array_equal(REF.log_ratio(xs, a, b), device)


@pytest.mark.parametrize("a,b", TARGETS)
def test_log_ratio_limits_at_infinity(a, b):
    for x in (-INF, INF):
        value = lap.log_ratio(x, a, b)
        if b < 1:
            assert value == -INF
        elif b > 1:
            assert value == INF
        else:
            assert value == (a if x > 0 else -a)
            far = lap.log_ratio(math.copysign(1e12, x), a, b)
            assert far == pytest.approx(value, abs=1e-3)
        assert REF.log_ratio(np.array(x), a, b) == value


def edge_intervals(num_intervals):
    edges = [lap.std_edge(e, num_intervals) for e in range(num_intervals + 1)]
    return list(zip(edges[:-1], edges[1:]))


INTERVALS = (edge_intervals(1) + edge_intervals(2) + edge_intervals(7)
             + [(-3.0, -1.0), (-0.2, 0.4), (0.29, 0.31), (2.0, 9.0), (-1e-9, 1e-9), (5.0, 5.0), (-INF, -40.0),
                (40.0, INF), (-50.0, 50.0)])


@pytest.mark.parametrize("a,b", TARGETS)
def test_log_sup_ratio_is_the_grid_maximum(a, b):
    for lower, upper in INTERVALS:
        sup = lap.log_sup_ratio(lower, upper, a, b)
        assert sup == REF.log_sup_ratio(np.array([lower]), np.array([upper]), a, b)[0]
        if (lower == -INF or upper == INF) and b > 1:
            assert sup == INF
            continue
        lo = max(lower, min(a, 0.0) - 50.0)
        hi = min(upper, max(a, 0.0) + 50.0)
        grid = np.linspace(lo, hi, 2001)
        points = np.concatenate([grid, [p for p in (0.0, a) if lower <= p <= upper]])
        values = vec(lap.log_ratio, points, a, b)
        scale = 1.0 + abs(math.log(b)) + np.max(np.abs(points - a) / b + np.abs(points))
        tol = 1e-15 * 8 * scale
        # an upper bound at every point of the interval ...
        assert np.all(values <= sup + tol), (lower, upper)
        # ... and attained (piecewise linear: the max is at an end, a kink, or a limit)
        if math.isfinite(lower) and math.isfinite(upper):
            assert sup == pytest.approx(values.max(), abs=tol)
        elif b == 1.0:
            limit = a if upper == INF else -a
            assert sup == pytest.approx(max(values.max(), limit), abs=tol)
        else:
            assert sup == pytest.approx(values.max(), abs=tol)


def test_log_sup_ratio_whole_line_is_dinf():
    for a, b in TARGETS:
        sup = lap.log_sup_ratio(-INF, INF, a, b)
        expected = -math.log(b) + abs(a) if b <= 1 else INF
        assert sup == pytest.approx(expected, rel=1e-15, abs=1e-300)
        assert math.isnan(lap.log_sup_ratio(1.0, 0.0, a, b))


def interval_cases():
    cases = []
    for a, b in TARGETS:
        for lower, upper in INTERVALS:
            if lower < upper:
                cases.append((lower, upper, a, b))
        for lower, upper in [(a - 1e-12 * b, a + 1e-12 * b), (a + 200 * b, a + 201 * b), (a - 700 * b, a - 699.5 * b),
                             (a + 3 * b, INF), (-INF, a - 600 * b), (a - 1e-3 * b, a + 2e-3 * b),
                             (a + 1e-300, a + 3e-300), (a - 0.5 * b, a + 0.25 * b), (-INF, INF)]:
            if lower < upper:
                cases.append((lower, upper, a, b))
    return cases


def test_log_target_mass_matches_mpmath():
    for lower, upper, a, b in interval_cases():
        got = lap.log_target_mass(lower, upper, a, b)
        exact = mp_log_mass(lower, upper, a, b)
        y_size = max(abs(v) for v in ((lower - a) / b, (upper - a) / b) if math.isfinite(v)) \
            if (math.isfinite(lower) or math.isfinite(upper)) else 0.0
        # relative accuracy of the mass ~ a few eps (times |y| from rounding the standardised ends)
        assert got == pytest.approx(exact, rel=1e-14, abs=4e-16 * (2 + y_size)), (lower, upper, a, b)


def test_log_target_mass_matches_scipy_and_quad():
    for lower, upper, a, b in interval_cases():
        got = lap.log_target_mass(lower, upper, a, b)
        mass = stats.laplace.cdf(upper, a, b) - stats.laplace.cdf(lower, a, b)
        if mass > 1e-8:
            assert got == pytest.approx(math.log(mass), rel=1e-9, abs=1e-12)
        if mass > 1e-6 and math.isfinite(lower) and math.isfinite(upper):
            # break points around the peak, so that quad cannot miss a narrow one
            points = [p for p in a + b * np.array([-30.0, -1.0, 0.0, 1.0, 30.0]) if lower < p < upper]
            quad, _ = integrate.quad(lambda x: stats.laplace.pdf(x, a, b), lower, upper, points=points or None,
                                     epsabs=0, epsrel=1e-12, limit=200)
            assert math.exp(got) == pytest.approx(quad, rel=1e-10)


def test_log_target_mass_reference_matches_device():
    cases = interval_cases()
    lower, upper, a, b = (np.array(c) for c in zip(*cases))
    device = vec(lap.log_target_mass, lower, upper, a, b)
    ref = REF.log_target_mass(lower, upper, a, b)
    good = np.isfinite(ref) & (ref > -700)  # scipy's laplace.logcdf underflows beyond
    # the reference differences scipy's log CDFs: accurate except for very narrow intervals
    width = (upper - lower) / b
    wide = good & (width > 1e-6)
    np.testing.assert_allclose(device[wide], ref[wide], rtol=1e-10, atol=1e-12)
    assert np.all(np.isfinite(device))


def test_log_target_mass_edge_cases():
    assert lap.log_target_mass(1.0, 1.0, 0.0, 1.0) == -INF
    assert lap.log_target_mass(2.0, 1.0, 0.0, 1.0) == -INF
    assert lap.log_target_mass(-INF, -INF, 0.0, 1.0) == -INF
    assert lap.log_target_mass(INF, INF, 0.0, 1.0) == -INF
    assert lap.log_target_mass(-INF, INF, 0.3, 0.2) == 0.0
    assert lap.log_target_mass(-INF, 0.3, 0.3, 0.2) == pytest.approx(math.log(0.5), rel=1e-16)
    assert lap.log_target_mass(0.3, INF, 0.3, 0.2) == pytest.approx(math.log(0.5), rel=1e-16)
    assert math.isnan(lap.log_target_mass(math.nan, 1.0, 0.0, 1.0))
    # far tails stay finite: ln Q([a + 1000 b, inf)) = ln(1/2) - 1000
    assert lap.log_target_mass(1000.0, INF, 0.0, 1.0) == pytest.approx(math.log(0.5) - 1000.0, rel=1e-15)
    assert lap.log_target_mass(-INF, -1e5, 0.0, 1.0) == pytest.approx(math.log(0.5) - 1e5, rel=1e-15)
    # tiny intervals: mass = width * density
    assert lap.log_target_mass(0.0, 1e-300, 0.0, 1.0) == pytest.approx(math.log(0.5e-300), rel=1e-15)
    # equal-mass edges of the prior give exactly ln(1/J) under the prior itself
    for J in (2, 7, 1000):
        edges = [lap.std_edge(e, J) for e in range(J + 1)]
        masses = [lap.log_target_mass(lo, hi, 0.0, 1.0) for lo, hi in zip(edges[:-1], edges[1:])]
        np.testing.assert_allclose(masses, -math.log(J), rtol=1e-13)


# ---------------------------------------------------------------------------------------------
# KL, D_inf, boundedness
# ---------------------------------------------------------------------------------------------

def kl_by_quad(a, b):
    def integrand(x):
        return stats.laplace.pdf(x, a, b) * lap.log_ratio(x, a, b)
    kinks = sorted({0.0, a})
    pieces = [-INF] + kinks + [INF]
    return sum(integrate.quad(integrand, lo, hi, epsabs=1e-15, epsrel=1e-12, limit=200)[0]
               for lo, hi in zip(pieces[:-1], pieces[1:]))


@pytest.mark.parametrize("a,b", [t for t in TARGETS if t[1] > 1e-3])
def test_kl_matches_quadrature_and_mpmath(a, b):
    kl = lap.kl_nats(Laplace([a], [b]), Laplace([0.0], [1.0]))[0]
    assert kl == pytest.approx(mp_kl(a, b), rel=1e-14, abs=1e-300)
    assert kl == pytest.approx(kl_by_quad(a, b), rel=1e-9, abs=1e-12)


def test_kl_is_accurate_near_the_prior_and_for_general_priors():
    mus = np.array([0.0, 1e-12, -1e-6, 1e-3, 0.3, 2.0, -40.0, 0.0, 0.0, 5e-8, 7.0])
    betas = np.array([1.0, 1.0, 1.0 + 1e-9, 1.0 - 1e-5, 0.9, 1.7, 0.3, 1e-6, 1e3, 1 - 2e-16, 1e-200])
    prior_loc, prior_scale = 0.75, 2.5
    target = Laplace(prior_loc + mus * prior_scale, betas * prior_scale)
    prior = Laplace(np.full(mus.size, prior_loc), np.full(mus.size, prior_scale))
    kl = lap.kl_nats(target, prior)
    a, b = target.standardised_by(*prior.location_scale())
    for value, ai, bi in zip(kl, a, b):
        assert value == pytest.approx(mp_kl(ai, bi), rel=1e-13, abs=1e-300)
    assert kl[0] == 0.0
    assert np.all(kl >= 0)
    # through the registry (bits, summed)
    assert kl_bits(target, prior) == pytest.approx(kl.sum() / math.log(2), rel=1e-15)
    np.testing.assert_allclose(kl_bits(target, prior, per_dimension=True), kl / math.log(2), rtol=1e-15)


def test_kl_monte_carlo():
    rng = np.random.default_rng(1)
    a, b = 0.8, 0.6
    samples = stats.laplace.rvs(a, b, size=200_000, random_state=rng)
    values = vec(lap.log_ratio, samples, a, b)
    kl = lap.kl_nats(Laplace([a], [b]), Laplace([0.0], [1.0]))[0]
    assert abs(values.mean() - kl) < 5 * values.std() / math.sqrt(samples.size)


def test_dinf_is_the_sup_of_the_ratio():
    mus = np.array([0.0, 0.3, -2.5, 4.0, -0.7, 0.5, 1e-9, 0.0])
    betas = np.array([1.0, 0.7, 0.05, 0.999, 1.0, 1.5, 1.0 - 1e-12, 1.0 + 1e-12])
    target, prior = Laplace(mus, betas), Laplace(np.zeros(mus.size), np.ones(mus.size))
    dinf = lap.dinf_nats(target, prior)
    kl = lap.kl_nats(target, prior)
    for mu, beta, value, k in zip(mus, betas, dinf, kl):
        grid = np.concatenate([np.linspace(-60, 60, 24001), [mu]])
        sup = vec(lap.log_ratio, grid, mu, beta).max()
        if beta <= 1:
            assert value == pytest.approx(-math.log(beta) + abs(mu), rel=1e-15, abs=1e-16)
            assert sup <= value + 4e-16 * (1 + abs(mu) + 2 * 60)  # rounding of |x| - |x - a| on the grid
            assert sup == pytest.approx(value, rel=1e-12, abs=1e-15)  # attained at x = a
            assert k <= value + 1e-15
        else:
            assert value == INF
            assert sup > -math.log(beta) + 60 * (1 - 1 / beta) - 1  # grows without bound
    np.testing.assert_allclose(dinf_bits(target, prior, per_dimension=True), dinf / math.log(2))
    np.testing.assert_array_equal(PAIR.bounded(*target.standardised_by(0.0, 1.0)), betas <= 1)


def test_bounded_is_elementwise():
    a = np.array([[0.0, 1.0, -3.0], [2.0, 0.5, 0.0]])
    b = np.array([[1.0, 1.0 + 1e-16, 0.2], [1.5, 1.0 - 1e-16, 1e-3]])
    out = PAIR.bounded(a, b)
    assert out.dtype == bool and out.shape == a.shape
    np.testing.assert_array_equal(out, b <= 1)
    assert PAIR.bounded(np.zeros(3), 0.5).shape == (3,)


# ---------------------------------------------------------------------------------------------
# Container and registration
# ---------------------------------------------------------------------------------------------

def test_container_and_standardisation():
    d = Laplace([1.0, -2.0], [0.5, 3.0])
    assert d.parameter_names == ("loc", "scale")
    assert d.prior_tag == lap.LaplacePrior()
    loc, scale = d.location_scale()
    np.testing.assert_array_equal(loc, [1.0, -2.0])
    np.testing.assert_array_equal(scale, [0.5, 3.0])
    a, b = Laplace([2.0, 1.0], [0.25, 6.0]).standardised_by(loc, scale)
    np.testing.assert_array_equal(a, [2.0, 1.0])
    np.testing.assert_array_equal(b, [0.5, 2.0])
    np.testing.assert_array_equal(Laplace(scale=[2.0], loc=[1.0]).params, Laplace([1.0], [2.0]).params)
    batch = Laplace(np.zeros((3, 4)), 1.0)
    assert batch.batch_shape == (3,) and batch[1:].shape == (2, 4)
    assert pair_of(Laplace([0.0], [1.0]), Laplace([0.0], [2.0])) is PAIR
    assert PAIR.exact_condition == "every target scale at most the prior scale"
    assert "Laplace" in families.__all__ and families.Laplace is Laplace
    assert PAIR in families.supported_pairs()


@pytest.mark.parametrize("loc,scale,name", [
    ([0.0, 1.0], [1.0, 0.0], "scale"), ([0.0], [-1.0], "scale"), ([math.nan], [1.0], "loc"),
    ([0.0], [math.nan], "scale"), ([math.inf], [1.0], "loc"), ([0.0], [math.inf], "scale"),
])
def test_constructor_rejects_bad_parameters(loc, scale, name):
    with pytest.raises(ValueError, match=name):
        Laplace(loc, scale)


def test_check_rejects_vanishing_scales():
    PAIR.check(np.array([0.0, 3.0]), np.array([1.0, 1e-140]))
    with pytest.raises(ValueError, match="too far apart for float64"):
        PAIR.check(np.array([0.0, 3.0]), np.array([1.0, 1e-160]))


def test_device_functions_dispatch_through_the_protocol():
    from numba import njit

    from recnumba.families import protocol

    @njit
    def probe(pair, J):
        prior = protocol.prior_of(pair)
        lo = protocol.std_edge(prior, 2, J)
        hi = protocol.std_edge(prior, 3, J)
        x = protocol.std_quantile(prior, 2, J, 0.5)
        return (lo, hi, x, protocol.log_ratio(pair, x, 0.2, 0.5), protocol.log_sup_ratio(pair, lo, hi, 0.2, 0.5),
                protocol.log_target_mass(pair, lo, hi, 0.2, 0.5))

    got = probe(lap.LaplacePair(), 5)
    lo, hi = lap.std_edge(2, 5), lap.std_edge(3, 5)
    x = lap.std_quantile(2, 5, 0.5)
    assert got == (lo, hi, x, lap.log_ratio(x, 0.2, 0.5), lap.log_sup_ratio(lo, hi, 0.2, 0.5),
                   lap.log_target_mass(lo, hi, 0.2, 0.5))
