"""The uniform family (recnumba.families.uniform): the Uniform/Uniform and Uniform/Gaussian pairs'
device functions against scipy.stats (uniform, norm), exact arithmetic and numerical integration;
the numpy references against the device functions; KL and D_inf; the container's validation."""

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import integrate, stats

import recnumba.families as families
from recnumba.families import Gaussian, Uniform, dinf_bits, kl_bits, pair_of
from recnumba.families import gaussian as gauss
from recnumba.families import uniform as uni

INF = math.inf
LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
UU = uni.UNIFORM_PAIR
UG = uni.UNIFORM_GAUSSIAN_PAIR


def vec(function, *args):
    """Apply a scalar (njit) function elementwise."""
    return np.vectorize(function, otypes=[np.float64])(*args)


# standardised targets inside U(0, 1)
UU_TARGETS = [(0.0, 1.0), (0.2, 0.7), (0.0, 1e-9), (0.999, 1.0), (0.25, 0.75), (1e-12, 1.0 - 1e-12),
              (0.3, 0.3 + 2.0**-40), (0.0, 0.5), (0.5, 1.0)]
# standardised targets under N(0, 1)
UG_TARGETS = [(-1.0, 1.0), (0.2, 0.7), (-5.0, -4.0), (3.0, 40.0), (-1e-9, 1e-9), (-30.0, 2.0), (0.0, 6.0),
              (-2.0, -1e-300)]


# ---------------------------------------------------------------------------------------------
# U(0, 1) prior: quantiles and edges
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("num_intervals", [1, 2, 3, 7, 1000, 2**20 + 1, 2**40])
def test_std_quantile_is_the_correctly_rounded_point(num_intervals):
    intervals = sorted(i for i in {0, 1, num_intervals // 2, num_intervals - 2, num_intervals - 1}
                       if 0 <= i < num_intervals)
    for i in intervals:
        for u in [2.0**-54, 1e-17, 0.1, 0.5, 0.9, 1 - 2.0**-53]:
            x = uni.std_quantile(i, num_intervals, u)
            assert x == stats.uniform.ppf((i + u) / num_intervals)
            # two roundings: (i + u) and the division
            exact = (Fraction(i) + Fraction(u)) / num_intervals
            assert abs(Fraction(x) - exact) <= exact * Fraction(2) ** -52
            lo, hi = uni.std_edge(i, num_intervals), uni.std_edge(i + 1, num_intervals)
            assert lo <= x <= hi
            if 0.01 < u < 0.99:
                assert lo < x < hi
    np.testing.assert_array_equal(uni.reference.std_quantile(np.array(intervals), num_intervals, 0.3),
                                  [uni.std_quantile(i, num_intervals, 0.3) for i in intervals])


@pytest.mark.parametrize("num_intervals", [1, 2, 3, 10, 999, 4096])
def test_std_edges(num_intervals):
    edges = np.array([uni.std_edge(e, num_intervals) for e in range(num_intervals + 1)])
    assert edges[0] == 0.0 and edges[-1] == 1.0
    np.testing.assert_array_equal(edges, uni.reference.std_edges(num_intervals))
    np.testing.assert_array_equal(edges, stats.uniform.ppf(np.arange(num_intervals + 1) / num_intervals))
    assert np.all(np.diff(edges) > 0)
    np.testing.assert_allclose(np.diff(edges), 1.0 / num_intervals, rtol=1e-12)


def test_std_quantile_monotone():
    J = 50
    xs = [uni.std_quantile(i, J, u) for i in range(J) for u in np.linspace(0.001, 0.999, 21)]
    assert np.all(np.diff(xs) > 0)


def test_uniform_gaussian_uses_the_gaussian_prior():
    assert uni.UniformGaussianPair()._fields == ("family",)
    from recnumba.families import protocol

    assert any(pair is uni.UniformGaussianPair and prior is gauss.GaussianPrior
               for pair, prior in protocol._PAIR_PRIORS)
    assert UG.reference.std_quantile is gauss.reference.std_quantile
    assert UG.reference.std_edges is gauss.reference.std_edges


# ---------------------------------------------------------------------------------------------
# Uniform / Uniform pair
# ---------------------------------------------------------------------------------------------

X_UNIT = np.concatenate([[-INF, -1.0, -1e-300, 0.0, 1e-300, 1.0 - 2.0**-53, 1.0, 1.0 + 2.0**-52, 2.0, INF],
                         np.linspace(0, 1, 201)])


@pytest.mark.parametrize("a,b", UU_TARGETS)
def test_uu_log_ratio(a, b):
    xs = np.concatenate([X_UNIT, [a, b, np.nextafter(a, -INF), np.nextafter(b, INF), 0.5 * (a + b)]])
    device = vec(uni.log_ratio, xs, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = stats.uniform.logpdf(xs, a, b - a) - stats.uniform.logpdf(xs)
    inside = (a <= xs) & (xs <= b)
    np.testing.assert_allclose(device[inside], expected[inside], rtol=1e-15, atol=1e-16)
    assert np.all(device[~inside] == -INF)
    np.testing.assert_allclose(uni.reference.log_ratio(xs, a, b), device, rtol=1e-15, atol=1e-16)
    assert math.isnan(uni.log_ratio(math.nan, a, b))


def test_uu_log_ratio_accurate_near_the_prior():
    # ln q/p = -ln(1 - eps) ~ eps: relative accuracy even when b - a rounds near 1
    assert uni.log_ratio(0.5, 1e-12, 1.0 - 1e-12) == pytest.approx(2e-12, rel=1e-15)
    assert uni.log_ratio(0.5, 0.0, 1.0) == 0.0
    assert uni.log_ratio(0.5, 0.0, 1.0 - 2.0**-53) == pytest.approx(2.0**-53, rel=1e-15)


UNIT_INTERVALS = [(0.0, 1.0), (-INF, INF), (-INF, 0.0), (1.0, INF), (0.0, 0.5), (0.5, 1.0), (0.1, 0.2), (0.19, 0.21),
                  (0.2, 0.2), (0.7, 0.9), (-1.0, 0.0), (0.999, 1.0), (0.0, 1e-9), (0.3, 0.3 + 2.0**-41),
                  (0.3 + 2.0**-41, 0.31), (1e-300, 2e-300), (0.2, 0.7), (0.3, 0.4)]
UNIT_INTERVALS += list(zip([uni.std_edge(e, 7) for e in range(7)], [uni.std_edge(e, 7) for e in range(1, 8)]))


def exact_log_fraction(lower, upper, a, b):
    """ln(|[lower, upper] n [a, b]| / (b - a)) with the lengths in exact rational arithmetic."""
    lo, hi = max(lower, a), min(upper, b)
    if not lo < hi:
        return -INF
    fraction = (Fraction(hi) - Fraction(lo)) / (Fraction(b) - Fraction(a))
    if fraction > Fraction(1, 2):  # log1p of the exact complement
        return math.log1p(-float(1 - fraction))
    return math.log(fraction.numerator) - math.log(fraction.denominator) if fraction < Fraction(1, 10**300) \
        else math.log(float(fraction))


@pytest.mark.parametrize("a,b", UU_TARGETS)
def test_uu_log_sup_ratio_and_mass(a, b):
    for lower, upper in UNIT_INTERVALS:
        sup = uni.log_sup_ratio(lower, upper, a, b)
        overlap = min(upper, b) - max(lower, a)
        if overlap > 0:
            assert sup == uni.log_ratio(0.5 * (max(lower, a) + min(upper, b)), a, b)
            assert sup == pytest.approx(-math.log(b - a), rel=1e-15, abs=1e-16)
        else:
            assert sup == -INF
        # an upper bound of the ratio on a grid of the interval
        lo, hi = max(lower, -2.0), min(upper, 3.0)
        if lo <= hi:
            grid = np.linspace(lo, hi, 501)
            assert np.all(vec(uni.log_ratio, grid, a, b) <= sup) or overlap <= 0
        assert sup == uni.reference.log_sup_ratio(np.array([lower]), np.array([upper]), a, b)[0] or \
            sup == pytest.approx(uni.reference.log_sup_ratio(np.array([lower]), np.array([upper]), a, b)[0],
                                 rel=1e-15, abs=1e-16)

        mass = uni.log_target_mass(lower, upper, a, b)
        assert mass == pytest.approx(exact_log_fraction(lower, upper, a, b), rel=2e-15, abs=1e-300)
        ref = uni.reference.log_target_mass(np.array([lower]), np.array([upper]), a, b)[0]
        assert mass == pytest.approx(ref, rel=1e-12, abs=1e-15) or (mass == ref == -INF)
        # scipy: Q([lower, upper]) for Q = U(a, b)
        scipy_mass = stats.uniform.cdf(upper, a, b - a) - stats.uniform.cdf(lower, a, b - a)
        if scipy_mass > 1e-6:
            assert math.exp(mass) == pytest.approx(scipy_mass, rel=1e-9)


def test_uu_mass_edge_cases():
    assert uni.log_target_mass(0.2, 0.7, 0.2, 0.7) == 0.0
    assert uni.log_target_mass(-INF, INF, 0.2, 0.7) == 0.0
    assert uni.log_target_mass(0.7, INF, 0.2, 0.7) == -INF  # a point has no mass
    assert uni.log_target_mass(0.5, 0.4, 0.2, 0.7) == -INF  # empty
    # accurate when almost all of the mass is inside: ln(1 - 1e-12)
    assert uni.log_target_mass(0.2 + 5e-13, INF, 0.2, 0.7) == pytest.approx(math.log1p(-1e-12), rel=1e-3)
    assert uni.log_target_mass(0.0 + 2.0**-60, 1.0, 0.0, 1.0) == pytest.approx(-(2.0**-60), rel=1e-15)
    assert math.isnan(uni.log_target_mass(math.nan, 1.0, 0.0, 1.0))
    # equal-mass prior edges give ln(1/J) under the prior itself
    for J in (3, 10, 1000):
        masses = [uni.log_target_mass(uni.std_edge(e, J), uni.std_edge(e + 1, J), 0.0, 1.0) for e in range(J)]
        np.testing.assert_allclose(masses, -math.log(J), rtol=1e-12)


def test_uu_kl_and_dinf():
    low = np.array([2.0, 2.5, 2.0, 4.0, 2.0 + 1e-9, 3.0])
    high = np.array([5.0, 4.0, 2.0 + 3e-6, 5.0, 5.0 - 1e-9, 3.0 + 2.0**-40])
    prior = Uniform(np.full(low.size, 2.0), np.full(low.size, 5.0))
    target = Uniform(low, high)
    kl = UU.kl_nats(target, prior)
    a, b = target.standardised_by(*prior.location_scale())
    assert np.all(a >= 0) and np.all(b <= 1)
    # exact: -ln((h - l) / 3)
    for value, l, h in zip(kl, low, high):
        width = (Fraction(h) - Fraction(l)) / 3
        expected = -math.log1p(-float(1 - width)) if width > 0.5 else -math.log(float(width))
        assert value == pytest.approx(expected, rel=1e-12, abs=1e-300)
    assert kl[0] == 0.0 and kl[1] == pytest.approx(math.log(2.0), rel=1e-15)
    np.testing.assert_array_equal(UU.dinf_nats(target, prior), kl)
    # KL by quadrature in the latent: int q ln(q/p)
    for l, h, value in zip(low, high, kl):
        quad, _ = integrate.quad(lambda z: stats.uniform.pdf(z, l, h - l) * (
            stats.uniform.logpdf(z, l, h - l) - stats.uniform.logpdf(z, 2.0, 3.0)), l, h, epsabs=1e-14)
        assert value == pytest.approx(quad, rel=1e-9, abs=1e-12)
    assert kl_bits(target, prior) == pytest.approx(kl.sum() / math.log(2), rel=1e-14)
    np.testing.assert_allclose(dinf_bits(target, prior, per_dimension=True), kl / math.log(2), rtol=1e-15)
    # outside the support: infinite
    outside = Uniform([1.9, 2.0], [3.0, 5.1])
    np.testing.assert_array_equal(UU.kl_nats(outside, Uniform([2.0, 2.0], [5.0, 5.0])), [INF, INF])


def test_uu_bounded_and_check():
    a = np.array([[0.0, 0.2, -1e-300], [0.5, 0.0, 0.9]])
    b = np.array([[1.0, 0.3, 0.5], [1.0 + 2.0**-52, 1e-9, 1.0]])
    bounded = UU.bounded(a, b)
    assert bounded.dtype == bool and bounded.shape == a.shape
    np.testing.assert_array_equal(bounded, [[True, True, False], [False, True, True]])
    UU.check(np.array([0.0, 0.2]), np.array([1.0, 0.3]))
    message = "a Uniform target must lie inside the Uniform prior's support"
    with pytest.raises(ValueError, match=message):
        UU.check(np.array([-1e-300]), np.array([0.5]))  # no tolerance
    with pytest.raises(ValueError, match=message):
        UU.check(np.array([0.0]), np.array([1.0 + 2.0**-52]))
    with pytest.raises(ValueError, match="too narrow"):
        UU.check(np.array([0.5]), np.array([0.5]))
    assert UU.exact_condition == "the target's support inside the prior's"
    # the target equal to the prior standardises to exactly (0, 1)
    prior = Uniform([0.1, -3.7], [0.3, 1e5])
    a, b = prior.standardised_by(*prior.location_scale())
    np.testing.assert_array_equal(a, [0.0, 0.0])
    np.testing.assert_array_equal(b, [1.0, 1.0])


# ---------------------------------------------------------------------------------------------
# Uniform / Gaussian pair
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("a,b", UG_TARGETS)
def test_ug_log_ratio(a, b):
    xs = np.concatenate([np.linspace(-40, 40, 801), [a, b, 0.5 * (a + b), np.nextafter(a, -INF),
                                                     np.nextafter(b, INF), -INF, INF]])
    device = vec(uni.gaussian_log_ratio, xs, a, b)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = stats.uniform.logpdf(xs, a, b - a) - stats.norm.logpdf(xs)
    inside = (a <= xs) & (xs <= b)
    assert inside.any()
    scale = 1.0 + abs(math.log(b - a)) + 0.5 * xs**2
    assert np.all(np.abs(device[inside] - expected[inside]) <= 4e-16 * scale[inside])
    assert np.all(device[~inside] == -INF)
    ref = uni.gaussian_reference.log_ratio(xs, a, b)
    assert np.all(np.abs(ref[inside] - device[inside]) <= 4e-16 * scale[inside])
    assert np.all(ref[~inside] == -INF)


GAUSS_INTERVALS = [(-INF, INF), (-INF, 0.0), (0.0, INF), (-1.0, 1.0), (0.3, 0.5), (-4.5, -4.2), (10.0, 20.0),
                   (-1e-10, 1e-10), (-0.5, 0.5), (5.0, INF), (-INF, -29.0), (0.2, 0.2), (2.0, 3.0), (-3.0, -2.0)]
GAUSS_INTERVALS += list(zip([gauss.std_edge(e, 5) for e in range(5)], [gauss.std_edge(e, 5) for e in range(1, 6)]))


@pytest.mark.parametrize("a,b", UG_TARGETS)
def test_ug_log_sup_ratio_and_mass(a, b):
    for lower, upper in GAUSS_INTERVALS:
        sup = uni.gaussian_log_sup_ratio(lower, upper, a, b)
        lo, hi = max(lower, a), min(upper, b)
        ref = uni.gaussian_reference.log_sup_ratio(np.array([lower]), np.array([upper]), a, b)[0]
        if hi > lo:
            grid = np.concatenate([np.linspace(lo, hi, 2001), [0.0] if lo < 0 < hi else []])
            values = vec(uni.gaussian_log_ratio, grid, a, b)
            tol = 4e-16 * (1 + abs(math.log(b - a)) + 0.5 * max(lo * lo, hi * hi))
            assert np.all(values <= sup + tol)
            assert sup == pytest.approx(values.max(), abs=tol)  # attained at the end farthest from 0
            assert sup == pytest.approx(ref, abs=tol)
        else:
            assert sup == -INF and ref == -INF
        mass = uni.gaussian_log_target_mass(lower, upper, a, b)
        assert mass == uni.log_target_mass(lower, upper, a, b)
        assert mass == pytest.approx(exact_log_fraction(lower, upper, a, b), rel=2e-15, abs=1e-300)
        ref_mass = uni.gaussian_reference.log_target_mass(np.array([lower]), np.array([upper]), a, b)[0]
        assert mass == pytest.approx(ref_mass, rel=1e-12, abs=1e-15) or (mass == ref_mass == -INF)
    # whole line: D_inf
    target = Uniform([a], [b])
    prior = Gaussian([0.0], [1.0])
    assert uni.gaussian_log_sup_ratio(-INF, INF, a, b) == pytest.approx(UG.dinf_nats(target, prior)[0], rel=1e-14)


def ug_kl_by_quad(a, b):
    def integrand(x):
        return (stats.uniform.logpdf(x, a, b - a) - stats.norm.logpdf(x)) / (b - a)
    return integrate.quad(integrand, a, b, epsabs=0, epsrel=1e-13, limit=200)[0]


def test_ug_kl_and_dinf():
    # targets in latent units under a non-standard prior N(1.5, 2^2)
    low = np.array([-0.5, 1.9, -8.5, 7.5, 1.5 - 2e-9, -58.5, 1.5])
    high = np.array([3.5, 2.9, -6.5, 81.5, 1.5 + 2e-9, 5.5, 13.5])
    prior = Gaussian(np.full(low.size, 1.5), np.full(low.size, 2.0))
    target = Uniform(low, high)
    a, b = target.standardised_by(*prior.location_scale())
    kl, dinf = UG.kl_nats(target, prior), UG.dinf_nats(target, prior)
    for ai, bi, k, d in zip(a, b, kl, dinf):
        assert k == pytest.approx(-math.log(bi - ai) + LOG_SQRT_2PI + (ai**2 + ai * bi + bi**2) / 6, rel=1e-14)
        assert k == pytest.approx(ug_kl_by_quad(ai, bi), rel=1e-10)
        assert d == pytest.approx(-math.log(bi - ai) + LOG_SQRT_2PI + 0.5 * max(ai * ai, bi * bi), rel=1e-14)
        # D_inf is the sup of the ratio over the support (a dense grid attains it at an end)
        grid = np.linspace(ai, bi, 4001)
        sup = vec(uni.gaussian_log_ratio, grid, ai, bi).max()
        assert sup <= d + 1e-13 * (1 + abs(d)) and sup == pytest.approx(d, rel=1e-13)
        assert k <= d
    # Monte Carlo: KL = E_q ln q/p
    rng = np.random.default_rng(3)
    ai, bi = a[0], b[0]
    samples = rng.uniform(ai, bi, size=100_000)
    values = vec(uni.gaussian_log_ratio, samples, ai, bi)
    assert abs(values.mean() - kl[0]) < 5 * values.std() / math.sqrt(samples.size)
    assert kl_bits(target, prior) == pytest.approx(kl.sum() / math.log(2), rel=1e-14)
    np.testing.assert_allclose(dinf_bits(target, prior, per_dimension=True), dinf / math.log(2), rtol=1e-15)


def test_ug_bounded_and_check():
    a, b = np.zeros((2, 3)), np.ones((2, 3))
    bounded = UG.bounded(a, b)
    assert bounded.dtype == bool and bounded.shape == (2, 3) and bounded.all()
    assert UG.bounded(np.zeros(4), 1.0).shape == (4,)
    UG.check(np.array([-1.0, 5.0]), np.array([1.0, 5.0 + 1e-15]))
    with pytest.raises(ValueError, match="too narrow"):
        UG.check(np.array([-1.0, 5.0]), np.array([1.0, 5.0]))
    assert UG.exact_condition == "always (a uniform target has bounded support)"
    # a target one ulp wide can collapse when standardised
    target = Uniform([2.0 - 2.0**-52], [2.0])
    a, b = target.standardised_by(0.0, 3.0)
    with pytest.raises(ValueError, match="too narrow"):
        UG.check(a, b)


# ---------------------------------------------------------------------------------------------
# Container, registration, protocol dispatch
# ---------------------------------------------------------------------------------------------

def test_container():
    d = Uniform([0.0, -2.0], [1.0, 6.0])
    assert d.parameter_names == ("low", "high")
    assert d.prior_tag == uni.UniformPrior()
    loc, scale = d.location_scale()
    np.testing.assert_array_equal(loc, [0.0, -2.0])
    np.testing.assert_array_equal(scale, [1.0, 8.0])
    a, b = Uniform([0.25, 0.0], [0.5, 2.0]).standardised_by(loc, scale)
    np.testing.assert_array_equal(a, [0.25, 0.25])
    np.testing.assert_array_equal(b, [0.5, 0.5])
    np.testing.assert_array_equal(Uniform(high=[2.0], low=[1.0]).params, Uniform([1.0], [2.0]).params)
    batch = Uniform(np.zeros((3, 4)), 1.0)
    assert batch.batch_shape == (3,) and batch[1:].shape == (2, 4) and batch.take_dims([0, 2]).shape == (3, 2)
    assert pair_of(Uniform([0.0], [1.0]), Uniform([0.0], [2.0])) is UU
    assert pair_of(Uniform([0.0], [1.0]), Gaussian([0.0], [2.0])) is UG
    assert "Uniform" in families.__all__ and families.Uniform is Uniform
    assert UU in families.supported_pairs() and UG in families.supported_pairs()


@pytest.mark.parametrize("low,high,name", [
    ([0.0, 1.0], [1.0, 1.0], "low must be < high"), ([2.0], [1.0], "low must be < high"),
    ([math.nan], [1.0], "low"), ([0.0], [math.nan], "high"), ([-math.inf], [1.0], "low"),
    ([0.0], [math.inf], "high"), ([-1e308], [1e308], "high - low"),
])
def test_constructor_rejects_bad_parameters(low, high, name):
    with pytest.raises(ValueError, match=name):
        Uniform(low, high)


def test_device_functions_dispatch_through_the_protocol():
    from numba import njit

    from recnumba.families import protocol

    @njit
    def probe(pair, J, a, b):
        prior = protocol.prior_of(pair)
        lo = protocol.std_edge(prior, 2, J)
        hi = protocol.std_edge(prior, 3, J)
        x = protocol.std_quantile(prior, 2, J, 0.5)
        return (lo, hi, x, protocol.log_ratio(pair, x, a, b), protocol.log_sup_ratio(pair, lo, hi, a, b),
                protocol.log_target_mass(pair, lo, hi, a, b))

    lo, hi, x = uni.std_edge(2, 5), uni.std_edge(3, 5), uni.std_quantile(2, 5, 0.5)
    assert probe(uni.UniformPair(), 5, 0.3, 0.9) == (
        lo, hi, x, uni.log_ratio(x, 0.3, 0.9), uni.log_sup_ratio(lo, hi, 0.3, 0.9),
        uni.log_target_mass(lo, hi, 0.3, 0.9))
    lo, hi, x = gauss.std_edge(2, 5), gauss.std_edge(3, 5), gauss.std_quantile(2, 5, 0.5)
    assert probe(uni.UniformGaussianPair(), 5, -0.1, 2.0) == (
        lo, hi, x, uni.gaussian_log_ratio(x, -0.1, 2.0), uni.gaussian_log_sup_ratio(lo, hi, -0.1, 2.0),
        uni.gaussian_log_target_mass(lo, hi, -0.1, 2.0))
