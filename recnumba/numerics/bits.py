"""Bit-level views of float64 for the CPU's vectorised loops (exact, branch-free).

LLVM vectorises a loop only when every operation in it has a vector form. Two that have none on
AVX2 are needed by recnumba's inner loops: ``uint64 -> float64`` conversion (the 53-bit uniforms)
and ``frexp`` (normalising a logarithm's argument). Both are exact bit manipulations:

* ``float_of_small_uint(m)`` for ``m < 2^52``: the float64 with exponent 2^52 and mantissa ``m`` is
  ``2^52 + m`` exactly; subtracting 2^52 leaves ``float(m)`` exactly.
* ``float_from_bits`` / ``bits_of_float`` reinterpret the 64 bits (LLVM ``bitcast``: free).

CPU only (``recnumba.search.chunked`` and the families' lane functions); the CUDA backend never
calls these.
"""

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

__all__ = ["bits_of_float", "float_from_bits", "float_of_small_uint"]

_EXPONENT_2_52 = np.uint64(0x4330000000000000)  # the bits of 2.0**52
_TWO_POW_52 = 4503599627370496.0


@intrinsic
def float_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bits are the uint64 ``bits``."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.uint64), codegen


@intrinsic
def bits_of_float(typingctx, value):
    """The IEEE-754 bits of the float64 ``value`` as a uint64."""
    if not isinstance(value, types.Float):
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.uint64(types.float64), codegen


@njit(cache=True)
def float_of_small_uint(m):
    """``float(m)`` for a uint64 ``m < 2^52``, exactly, with integer and float ops that vectorise."""
    return float_from_bits(_EXPONENT_2_52 | np.uint64(m)) - _TWO_POW_52
