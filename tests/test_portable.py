"""Portable float64 arithmetic: ``portable_log`` against libm and mpmath, ``horner``/``mul_rn``."""

import math

import mpmath
import numpy as np
import pytest

from recnumba.numerics.portable import horner, mul_rn, portable_log


def ulps(value, reference):
    return abs(value - reference) / math.ulp(reference)


def test_portable_log_is_within_one_ulp_everywhere():
    rng = np.random.default_rng(3)
    xs = np.concatenate([
        np.exp(rng.uniform(-744.0, 709.0, 20_000)),  # the whole exponent range, subnormals included
        rng.uniform(0.0, 1.0, 20_000),  # shared uniforms: where the decode path uses it
        1.0 + rng.uniform(-1e-3, 1e-3, 2_000),  # near 1, where log is tiny
        [5e-324, 2.2250738585072014e-308, 0.5, 2.0, math.sqrt(0.5), math.sqrt(2.0), 1.7976931348623157e308],
    ])
    mpmath.mp.prec = 113
    worst = 0.0
    for x in xs[::7]:
        exact = float(mpmath.log(mpmath.mpf(float(x))))
        if exact != 0.0:
            worst = max(worst, ulps(portable_log(x), exact))
    assert worst <= 1.0
    assert portable_log(1.0) == 0.0
    # and it agrees with libm to within an ulp on every sample
    assert max(ulps(portable_log(x), math.log(x)) for x in xs if x != 1.0) <= 1.0


def test_portable_log_special_values():
    assert portable_log(0.0) == -math.inf
    assert portable_log(math.inf) == math.inf
    assert math.isnan(portable_log(-1.0)) and math.isnan(portable_log(math.nan))
    assert math.isnan(portable_log(-math.inf))


def test_portable_log_detects_a_wrong_constant():
    # Companion: the one-ulp check above is sharp enough to catch a perturbed algorithm.
    x = 0.3
    assert ulps(portable_log(x) * (1 + 4e-16), math.log(x)) > 1.0


@pytest.mark.parametrize("x", [0.0, -1.5, 0.25, 3.0])
def test_horner_evaluates_highest_degree_first(x):
    coefficients = (2.0, -3.0, 0.5, 7.0)  # 2x^3 - 3x^2 + x/2 + 7
    assert horner(x, coefficients) == ((2.0 * x - 3.0) * x + 0.5) * x + 7.0
    assert mul_rn(x, 3.0) == x * 3.0
