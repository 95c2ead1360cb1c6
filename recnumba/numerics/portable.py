"""Float64 arithmetic that rounds the same way on the CPU and on a CUDA GPU.

A decoded sample must be bit-identical whichever device decodes it. Two things break that:

* NVVM contracts ``a * b + c`` into one fused multiply-add (a single rounding instead of two) even
  with fastmath off, while the CPU (LLVM without fast-math flags) rounds twice.
* libdevice's ``log`` differs from the CPU's libm ``log`` by up to a few ulp.

So the decode path writes every product that feeds an addition as ``mul_rn(a, b)`` (a plain
``a * b`` on the CPU; ``__dmul_rn``, which NVVM never fuses, on CUDA: the CUDA overload is
registered by ``recnumba.backends.cuda``) and takes logarithms with ``portable_log``,
which uses only ``mul_rn``, ``+``, ``-``, ``/`` and comparisons: IEEE-754 operations that are
correctly rounded on both devices. Division and ``sqrt`` are correctly rounded on both as well
(numba-cuda emits ``div.rn``/``sqrt.rn`` unless fastmath is on).
"""

import math

import numpy as np
from numba import njit
from numba.extending import overload

from recnumba.numerics.bits import bits_of_float, float_from_bits, float_of_small_uint

__all__ = ["mul_rn", "portable_log", "portable_log_of_normal", "horner"]


def mul_rn(a, b):
    """``a * b`` rounded once to nearest, never fused into a following addition (float64)."""
    return a * b


@overload(mul_rn, target="cpu")
def _mul_rn_cpu(a, b):
    def impl(a, b):
        return a * b  # the CPU backend does not contract without fast-math flags

    return impl


@njit(cache=True)
def horner(x, coefficients):
    """Polynomial ``sum c_k x^k`` with coefficients highest degree first, every product rounded.

    ``coefficients`` is a tuple of float64. Same value bit for bit on CPU and GPU.
    """
    acc = coefficients[0]
    for k in range(1, len(coefficients)):
        acc = mul_rn(acc, x) + coefficients[k]
    return acc


# fdlibm e_log.c (Sun Microsystems, 1993): ln(1+f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f/(2+f).
_LN2_HI = 6.93147180369123816490e-01  # ln 2 with the low 32 bits zero: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_LG_EVEN = (1.531383769920937332e-01, 2.222219843214978396e-01, 3.999999999940941908e-01)
_LG_ODD = (
    1.479819860511658591e-01,
    1.818357216161805012e-01,
    2.857142874366239149e-01,
    6.666666666666735130e-01,
)
_SQRT2 = 1.4142135623730951
# Normalising the argument without frexp (not available everywhere): a binary cascade of exact
# power-of-two scalings by 2^512, 2^256, ..., 2^1 reaches [1, 2) from any normal number.
_STEPS = (512, 256, 128, 64, 32, 16, 8, 4, 2, 1)
_BELOW = tuple(2.0 ** (1 - step) for step in _STEPS)  # m < 2^(1-s): scale up by 2^s
_UP = tuple(2.0**step for step in _STEPS)
_DOWN = tuple(2.0 ** (-step) for step in _STEPS)
_SUBNORMAL_LIMIT = 2.0**-1000
_SUBNORMAL_SCALE = 2.0**64


@njit(cache=True)
def portable_log(x):
    """Natural logarithm (nats) within 1 ulp, identical on CPU and GPU.

    Same conventions as ``math.log``: ``-inf`` at 0, NaN below 0 or for NaN, ``inf`` at ``inf``.
    Subnormal arguments are handled.
    """
    if not (x > 0.0):
        if x == 0.0:
            return -math.inf
        return math.nan
    if x == math.inf:
        return math.inf
    # Normalise x = m * 2^k with m in [sqrt(2)/2, sqrt(2)) using exact power-of-two scalings.
    m = x
    k = 0
    if m < _SUBNORMAL_LIMIT:
        m = mul_rn(m, _SUBNORMAL_SCALE)
        k = -64
    for i in range(len(_STEPS)):
        if m < _BELOW[i]:
            m = mul_rn(m, _UP[i])
            k -= _STEPS[i]
        elif m >= _UP[i]:
            m = mul_rn(m, _DOWN[i])
            k += _STEPS[i]
    # m is in [1, 2) now
    if m >= _SQRT2:
        m = mul_rn(m, 0.5)
        k += 1
    f = m - 1.0  # exact (Sterbenz)
    s = f / (2.0 + f)
    z = mul_rn(s, s)
    w = mul_rn(z, z)
    r = mul_rn(w, horner(w, _LG_EVEN)) + mul_rn(z, horner(w, _LG_ODD))
    half_f_squared = mul_rn(mul_rn(0.5, f), f)
    dk = float(k)
    return mul_rn(dk, _LN2_HI) - (
        (half_f_squared - (mul_rn(s, half_f_squared + r) + mul_rn(dk, _LN2_LO))) - f
    )


_MANTISSA = np.uint64(0x000FFFFFFFFFFFFF)
_EXPONENT_OF_ONE = np.uint64(0x3FF0000000000000)


@njit(cache=True, inline="always")  # (LLVM would not inline it: a call stops vectorisation)
def portable_log_of_normal(x):
    """``portable_log(x)`` bit for bit for a positive, normal, finite x, without branches (CPU only).

    The scaling cascade of ``portable_log`` is exact, so it ends at x's own mantissa and exponent;
    here they are read from the bits instead, which LLVM can vectorise. Other x: undefined result.
    """
    bits = bits_of_float(x)
    exponent_bits = bits >> np.uint64(52)
    m = float_from_bits((bits & _MANTISSA) | _EXPONENT_OF_ONE)  # in [1, 2)
    dk = float_of_small_uint(exponent_bits) - 1023.0
    above = m >= _SQRT2
    m = m * 0.5 if above else m
    dk = dk + 1.0 if above else dk
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = w * horner(w, _LG_EVEN) + z * horner(w, _LG_ODD)
    half_f_squared = (0.5 * f) * f
    return dk * _LN2_HI - ((half_f_squared - (s * (half_f_squared + r) + dk * _LN2_LO)) - f)
