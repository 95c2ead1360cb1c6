"""Counter-based shared randomness: Philox4x32-10 and the uniforms keyed on it.

Every random number recnumba uses is a pure function of a key and a counter, so any candidate of
any block can be regenerated on its own (index-addressable), in any order, on any thread or device.

* ``philox4x32_10`` is the Random123 generator (Salmon et al., SC'11), checked against its
  published known-answer vectors in the tests.
* ``shared_uniform_pair`` gives the uniforms both sides share, keyed by
  (seed, block, candidate index, dimension pair). The candidate index ``n`` already encodes the pair
  (bin, local index), see ``recnumba.search.core``.
* ``private_uniform_pair`` gives the sender's own uniforms (arrival times, bin draws), keyed by
  (seed, block, step, slot pair) under a different key domain, so an encode is reproducible while
  the receiver never needs them.

All functions are ``@njit`` and use only integer and float arithmetic, so the CUDA backend (``recnumba.backends.cuda``)
calls them from device code as they are. The ``*_lanes`` functions fill arrays for many counters at
once, written so that LLVM vectorises them on the CPU; they return the scalar functions' values bit
for bit (tested). Words are carried in ``uint64`` and masked to 32 bits: numba
has no 32x32->64 multiply, and mixing ``uint64`` with signed integers silently yields float64,
hence the explicit ``np.uint64`` everywhere.
"""

import numpy as np
from numba import njit, types
from numba.extending import overload

from recnumba.numerics.bits import float_of_small_uint
from recnumba.numerics.portable import mul_rn

MASK32 = np.uint64(0xFFFFFFFF)
_PHILOX_M0 = np.uint64(0xD2511F53)
_PHILOX_M1 = np.uint64(0xCD9E8D57)
_PHILOX_W0 = np.uint64(0x9E3779B9)
_PHILOX_W1 = np.uint64(0xBB67AE85)
_SHIFT32 = np.uint64(32)

#: Seeds must be below this bound: the top two key bits select the stream domain.
SEED_LIMIT = 1 << 62
DOMAIN_SHARED = 0
DOMAIN_PRIVATE = 1

_TWO_POW_M53 = 2.0**-53
_TWO_POW_M54 = 2.0**-54


@njit(cache=True)
def philox4x32_10(c0, c1, c2, c3, k0, k1):
    """Philox4x32 with 10 rounds on a 128-bit counter (c0..c3) and a 64-bit key (k0, k1).

    Arguments are 32-bit words held in unsigned 64-bit integers; returns four such words.
    """
    return _philox_rounds(c0, c1, c2, c3, k0, k1)


# Inlined by numba into its callers (LLVM declines to inline the ten unrolled rounds, and a loop
# that calls a function cannot be vectorised: the lanes functions below need it inlined).
@njit(cache=True, inline="always")
def _philox_rounds(c0, c1, c2, c3, k0, k1):
    c0 = np.uint64(c0) & MASK32
    c1 = np.uint64(c1) & MASK32
    c2 = np.uint64(c2) & MASK32
    c3 = np.uint64(c3) & MASK32
    k0 = np.uint64(k0) & MASK32
    k1 = np.uint64(k1) & MASK32
    for r in range(10):
        if r > 0:
            k0 = (k0 + _PHILOX_W0) & MASK32
            k1 = (k1 + _PHILOX_W1) & MASK32
        prod0 = _PHILOX_M0 * c0  # < 2**64: exact in uint64
        prod1 = _PHILOX_M1 * c2
        hi0 = prod0 >> _SHIFT32
        lo0 = prod0 & MASK32
        hi1 = prod1 >> _SHIFT32
        lo1 = prod1 & MASK32
        c0 = hi1 ^ c1 ^ k0
        c1 = lo1
        c2 = hi0 ^ c3 ^ k1
        c3 = lo0
    return c0, c1, c2, c3


@njit(cache=True)
def uniform53(hi, lo):
    """A float64 uniform strictly inside (0, 1) from two 32-bit words, with 53 random bits.

    ``m = hi·2^21 + lo>>11`` is 53 bits; ``u = m·2^-53`` is exact in float64. The single value
    ``m = 0`` (probability 2^-53) maps to 2^-54 so that u never reaches 0; since ``1 - u`` is
    exact as well, both tails are resolved to 2^-53.
    """
    m = ((np.uint64(hi) & MASK32) << np.uint64(21)) | ((np.uint64(lo) & MASK32) >> np.uint64(11))
    if m == np.uint64(0):
        return _TWO_POW_M54
    return mul_rn(float(m), _TWO_POW_M53)  # exact; mul_rn keeps every decode-path product unfused


@njit(cache=True)
def _key_words(seed, domain):
    seed = np.uint64(seed)
    k0 = seed & MASK32
    k1 = (seed >> _SHIFT32) | (np.uint64(domain) << np.uint64(30))
    return k0, k1


@njit(cache=True)
def _keyed_uniform_pair(seed, domain, block, index, pair):
    k0, k1 = _key_words(seed, domain)
    index = np.uint64(index)
    x0, x1, x2, x3 = philox4x32_10(
        np.uint64(pair), np.uint64(block), index & MASK32, index >> _SHIFT32, k0, k1
    )
    return uniform53(x0, x1), uniform53(x2, x3)


@njit(cache=True)
def shared_uniform_pair(seed, block, index, pair):
    """Shared uniforms for dimensions ``2*pair`` and ``2*pair + 1`` of candidate ``index``.

    seed < 2^62, block < 2^32, index < 2^64 (the flat candidate code n), pair < 2^32.
    """
    return _keyed_uniform_pair(seed, DOMAIN_SHARED, block, index, pair)


@njit(cache=True)
def shared_uniform(seed, block, index, dim):
    """The shared uniform of dimension ``dim`` of candidate ``index`` (see shared_uniform_pair)."""
    u_even, u_odd = shared_uniform_pair(seed, block, index, np.uint64(dim) >> np.uint64(1))
    if (np.uint64(dim) & np.uint64(1)) == np.uint64(0):
        return u_even
    return u_odd


@njit(cache=True)
def private_uniform_pair(seed, block, step, pair):
    """Sender-private uniforms for slots ``2*pair`` and ``2*pair + 1`` of search step ``step``."""
    return _keyed_uniform_pair(seed, DOMAIN_PRIVATE, block, step, pair)


@njit(cache=True)
def private_uniform(seed, block, step, slot):
    """One sender-private uniform (slot 0: arrival time; slot 1 + d: bin draw of dimension d)."""
    u_even, u_odd = private_uniform_pair(seed, block, step, np.uint64(slot) >> np.uint64(1))
    if (np.uint64(slot) & np.uint64(1)) == np.uint64(0):
        return u_even
    return u_odd


# ---------------------------------------------------------------------------------------------
# Lanes: many counters at once (CPU, vectorised)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def _uniform53_lanes(hi, lo):
    """``uniform53(hi, lo)`` bit for bit, without a uint64 -> float64 conversion (none on AVX2).

    ``m * 2^-53 = hi * 2^-32 + (lo >> 11) * 2^-53``: both terms and their sum are exact.
    """
    tail = lo >> np.uint64(11)
    value = float_of_small_uint(hi) * 2.0**-32 + float_of_small_uint(tail) * _TWO_POW_M53
    return _TWO_POW_M54 if (hi | tail) == np.uint64(0) else value


def _block_of(block, c):
    """Lane c's block: ``block`` itself (one block for every lane) or ``block[c]`` (an array)."""
    raise NotImplementedError("called from numba-compiled code only")


@overload(_block_of, target="cpu")
def _block_of_typed(block, c):
    if isinstance(block, types.Array):
        return lambda block, c: np.uint64(block[c])
    return lambda block, c: np.uint64(block)


@njit(cache=True, error_model="numpy")
def shared_uniform_lanes(seed, block, index, pair, count, u_even, u_odd):
    """``shared_uniform_pair(seed, block, index[c], pair)`` into ``u_even[c], u_odd[c]`` for c < count.

    ``block`` is one block id for every lane, or an array of one per lane (decoding many blocks).
    """
    k0, k1 = _key_words(seed, DOMAIN_SHARED)
    counter0 = np.uint64(pair)
    for c in range(count):
        n = np.uint64(index[c])
        x0, x1, x2, x3 = _philox_rounds(counter0, _block_of(block, c), n & MASK32, n >> _SHIFT32, k0, k1)
        u_even[c] = _uniform53_lanes(x0, x1)
        u_odd[c] = _uniform53_lanes(x2, x3)


@njit(cache=True, error_model="numpy")
def private_uniform_lanes(seed, block, first_step, pair, count, u_even, u_odd):
    """``private_uniform_pair(seed, block, first_step + c, pair)`` into ``u_even[c], u_odd[c]``, c < count."""
    k0, k1 = _key_words(seed, DOMAIN_PRIVATE)
    counter0 = np.uint64(pair)
    counter1 = np.uint64(block)
    first = np.uint64(first_step)
    for c in range(count):
        n = first + np.uint64(c)
        x0, x1, x2, x3 = _philox_rounds(counter0, counter1, n & MASK32, n >> _SHIFT32, k0, k1)
        u_even[c] = _uniform53_lanes(x0, x1)
        u_odd[c] = _uniform53_lanes(x2, x3)
