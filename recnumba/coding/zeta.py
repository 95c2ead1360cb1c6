"""Arithmetic-coded Zeta (Zipf) code for REC indices, with exact-ish uniform digits.

GRC/GPRS (Flamich's thesis, Thm 4.2.7) code a positive integer ``m`` under the Zeta law
``ζ(m | α) = m^-α / ζ(α)`` with ``α = 1 + 1/(I + 1)`` (:func:`zeta_alpha`): when ``E[log2 m] <= I``
the mean length is at most ``I + log2(I + 2) + 3`` bits. This module codes a *sequence* of blocks
(one item's record) in one range-coded stream: per block a positive integer ``m_b`` in
``[1, 2^63 - 1]`` under ``ζ(· | α_b)``, plus flat "uniform digits" ``d`` of radix ``R``
(``0 <= d < R``, ``2 <= R <= 2^20``; e.g. the mixed-radix digits of a partition's bin index). Both
sides know every ``α_b`` and every radix; only the ``m_b`` and the digits are sent.

Public API::

    zeta_alpha(information_bits) -> float
    zeta_ideal_bits(m, alpha) -> float                      # -log2 ζ(m | α)
    encode_zeta(values, alphas, digits=(), radices=()) -> (data, num_bits)
    decode_zeta(data, alphas, radices=(), num_bits=None, *, strict=True) -> (values, digits)
    zeta_length(values, alphas, digits=(), radices=()) -> int        # == encode_zeta(...)[1]

Stream layout (one ``constriction.stream.queue.RangeEncoder``, 24-bit probabilities, 32-bit words,
symbols in this order; the decoder knows every model when it reaches its symbol):

1. **Digits**, in at most three phases. A digit of radix ``n`` (its remaining range) first sends its
   ``z = ctz(n)`` low bits raw (``Uniform(2^c)`` chunks of at most 16 bits, exact); the odd rest
   ``n' = n >> z`` is sent as one symbol of a categorical over ``n'`` equal weights when
   ``n' <= 255``, else as the bucket (of 256 near-equal buckets of ``floor(n'/256)`` or ``+1``
   values, weighted by size) holding the value, and the value within its bucket follows in the next
   phase. Within a phase: all raw chunks, then the categorical symbols grouped by width (ascending).
   Every categorical has at most 256 symbols, each of probability at least ``1/512``; its integer
   weights (summing to 2^24, each >= 1) are computed with integers only. Cost: power-of-two radices
   exactly ``log2 R``; any radix within ``1e-10`` bits of ``log2 R`` on average over uniform digits
   (measured for every ``R <= 4096`` and 300 larger ones up to 2^20), and a single digit value
   within ``1.1e-4`` bits of it (a bound: at most three symbols, each within one unit in 2^15 of
   its share; the largest seen is 6.3e-5). constriction's ``Uniform(R)`` is not used for other
   radices: it gives the whole rounding remainder to the last symbol (0.05 bits per digit at
   ``R = 2^19 + 1``).
2. **Exponents** ``e_b = floor(log2 m_b)`` in 0..62, one categorical per block with
   ``P(e) ∝ Σ_{k=2^e}^{2^(e+1)-1} k^-α`` (renormalised over 0..62).
3. **Top mantissa bits**: for ``e_b >= 1`` the cell ``c`` of ``m_b`` among ``2^t`` equal cells of
   its octave, ``t = min(e_b, T)`` with ``T = 4`` (:data:`TOP_BITS`), under the conditional ζ law
   (one categorical of 16 columns; for ``e_b < 4`` the unused columns keep weight 1/2^24, and
   decoding one of them is reported as a model inconsistency).
4. **Low bits**: the remaining ``e_b - T`` bits of ``m_b`` raw, in ``Uniform(2^c)`` chunks of at
   most 16 bits (exact), so the stream has a single termination.

Excess over the ideal, per value (the model's bits, i.e. the sum of ``-log2`` of the quantised
probabilities, minus ``-log2 ζ(m | α)``), ``α = zeta_alpha(I)``, ``T = 4``: the mean is at most
``1.1e-4`` bits for ``m`` drawn from ``ζ(· | α)`` and ``5e-4`` bits for ``m`` log-uniform within its
octave (computed exactly cell by cell for I in 0..64; Monte Carlo agrees within its noise,
``|mean| < 1e-3``), plus the saving from renormalising over the 63 octaves below 2^63:
``log2(Z_63 / ζ(α))`` = -0.0002 bits at I = 4 (less below), -0.011 at I = 8, -0.11 at 16, -0.44 at
32 and -1.02 at 64.
A single value costs at most about ``0.045 α`` bits more than its ideal (0.077 seen at α = 2: the
uniform low bits). ``T = 3`` would give a mean excess of up to 0.0019 bits, ``T = 2`` up to 0.0076.

Termination: one range coder per stream, ended by ``recnumba.coding.trim.encode_segments`` with the
shortest bit string that names a point of the coder's final interval (not whole 32-bit words, which
cost up to about 64 bits more). Measured termination overhead (stream bits minus the model's bits):
mean about -1 bit, from -14 to +0.98 over thousands of random streams (the length travels outside
the stream; an all-``m = 1`` record with no digits costs 0 bits). :func:`zeta_segments` and
:func:`decode_zeta_from` let a caller code further symbols (an image given its latents) in the same
stream, with one termination.

Speed (2-core dev VM, warm α cache, 3 digits of radix <= 16 per block): encode 0.07 / 0.09 / 0.11 /
0.14 ms per record of 10 / 30 / 60 / 100 blocks; decode with ``strict=True`` (which re-encodes)
0.12 / 0.14 / 0.20 / 0.23 ms, with ``strict=False`` 0.06 / 0.07 / 0.08 / 0.10 ms. A new α value costs
about 25 µs once (its 63 octave masses; 16 cell masses per octave on first use).

Reproducibility across machines: a 1-ulp difference in a model probability could change the
quantisation and break decoding, so the ζ probabilities are computed by numba kernels that use only
``+ - * /``, comparisons, ``floor`` and :func:`recnumba.numerics.portable.portable_log`-style
polynomials (``_exp``, ``_expm1``, ``_log1p`` here: range reduction and Taylor/atanh series), all
IEEE-754 correctly rounded operations: no libm, no numpy transcendental functions. Octave and cell
sums add the terms directly below ``max(64, 4α)`` and use Euler-Maclaurin (the integral through
``expm1``, exact as ``α -> 1``, and three Bernoulli terms) above; they match mpmath's Hurwitz zeta to
5e-15 relative for ``α - 1`` from 1e-3 to 1 over all 63 octaves and their cells (cells: 2e-12 at
α = 10, 4e-11 at α = 16; accuracy above α = 2 only affects compression). The quantisation to 24-bit
integer weights is ours (cumulative floor, every symbol at least 1/2^24) and is handed to
constriction as tables of ``weight - 1`` whose sums are exact integers, so constriction's float
arithmetic reproduces our weights exactly. The kernels give the same bits when run as plain Python
(``NUMBA_DISABLE_JIT=1``; the tests check it), so no fused multiply-add or reassociation crept in.

Corruption: every symbol keeps a nonzero probability and the code has almost no redundancy, so most
bytes decode to *something*. ``decode_zeta(strict=True)`` (the default) re-encodes what it decoded
and requires the input to be byte for byte that canonical encoding (and ``num_bits``, when given, to
be its length). Guaranteed: a stream is accepted only if it is the canonical encoding of the values
returned (decoding and encoding are inverse bijections on accepted streams); nonzero bits past
``num_bits`` (padding), data longer than ``ceil(num_bits / 8)`` bytes, a wrong ``num_bits``,
appended zero bytes and any non-shortest encoding of the same values are always rejected (without
``num_bits`` the padding bits are data like any other). Other corruptions are usually the canonical
encoding of *other* values and are then accepted: measured on test streams of 1-20 blocks, 70-76 % of
single-bit flips, 99 % of truncations by whole bytes, 50 % of truncations by 1-8 bits (with the
shorter ``num_bits``), 15 % of appended 0x80 bytes. A container needs its own checksum
(``recnumba.container`` has a CRC32).

The kernels are compiled on first use (about 10 s with an empty numba cache; cached afterwards).
"""

from __future__ import annotations

import math
import numbers
import threading

import constriction
import numpy as np
from numba import njit

from recnumba.coding.trim import encode_segments, words_of
from recnumba.numerics.portable import horner, mul_rn, portable_log

__all__ = [
    "TOP_BITS",
    "MAX_RADIX",
    "MAX_VALUE",
    "zeta_alpha",
    "zeta_ideal_bits",
    "encode_zeta",
    "decode_zeta",
    "zeta_length",
    "zeta_segments",
    "decode_zeta_from",
]

TOP_BITS = 4  # T: mantissa bits coded under the conditional ζ law (the rest are uniform)
MAX_RADIX = 1 << 20
MAX_VALUE = (1 << 63) - 1
_NUM_EXPONENTS = 63  # e = floor(log2 m) in 0..62 for m <= 2^63 - 1
_CELLS = 1 << TOP_BITS
_PRECISION = 24
_TOTAL = 1 << _PRECISION  # every quantised table sums to 2^24
_CHUNK = 16  # raw bits per Uniform(2^c) symbol, c <= 16
_SPLIT = 256  # odd digit ranges above 255 are split into 256 buckets

_UNIFORM = constriction.stream.model.Uniform()
_CATEGORICAL = constriction.stream.model.Categorical(perfect=False)


# ============================================================================ portable maths
# Only + - * /, comparisons and floor (all correctly rounded IEEE-754 operations) and horner
# (every product rounded, never fused). Constants are Python floats computed at import by correctly
# rounded operations (1 / k!, 1 / (2k + 1)) so they are the same on every machine.

_INV_LN2 = 1.4426950408889634
_LN2 = 0.6931471805599453
_LN2_HI = 6.93147180369123816490e-01  # low 32 bits zero: k * _LN2_HI is exact for |k| < 2^21
_LN2_LO = 1.90821492927058770002e-10
_EXPM1_COEF = tuple(1.0 / math.factorial(j + 1) for j in range(15, -1, -1))  # r^0..r^15 of expm1(r)/r
_ATANH_COEF = tuple(1.0 / (2 * n + 1) for n in range(17, -1, -1))  # z^0..z^17 of atanh(s)/s, z = s^2
_POW2 = np.array([math.ldexp(1.0, k) for k in range(-1022, 1024)])  # exact powers of two
_HALF_LN2 = 0.34657359027997264
_EXP_MAX = 709.782712893384
_EXP_MIN = -745.2


@njit(cache=True)
def _expm1_small(r):
    """expm1(r) for |r| <= 0.3466 (Taylor series to r^16; relative error a few ulp)."""
    return mul_rn(r, horner(r, _EXPM1_COEF))


@njit(cache=True)
def _scale2(y, k):
    """y * 2^k for an integer k in [-1075, 1024] (exact unless the result is subnormal)."""
    if k > 1023:
        return mul_rn(mul_rn(y, _POW2[1023 + 1022]), _POW2[k - 1023 + 1022])
    if k < -1022:
        return mul_rn(mul_rn(y, _POW2[0]), _POW2[k + 1022 + 1022])
    return mul_rn(y, _POW2[k + 1022])


@njit(cache=True)
def _exp(x):
    """e^x within a few ulp, from basic operations only (same bits on every IEEE-754 machine)."""
    if x != x:
        return x
    if x > _EXP_MAX:
        return math.inf
    if x < _EXP_MIN:
        return 0.0
    k = math.floor(mul_rn(x, _INV_LN2) + 0.5)
    r = (x - mul_rn(k, _LN2_HI)) - mul_rn(k, _LN2_LO)
    return _scale2(1.0 + _expm1_small(r), int(k))


@njit(cache=True)
def _expm1(x):
    """e^x - 1 with small relative error for every x (basic operations only)."""
    if -_HALF_LN2 <= x <= _HALF_LN2:
        return _expm1_small(x)
    if x < -40.0:
        return -1.0
    return _exp(x) - 1.0


@njit(cache=True)
def _log1p(u):
    """ln(1 + u) for u >= 0: 2 atanh(u / (2 + u)) by its series for u <= 1, portable_log above."""
    if u > 1.0:
        return portable_log(1.0 + u)
    s = u / (2.0 + u)
    return mul_rn(2.0 * s, horner(mul_rn(s, s), _ATANH_COEF))


@njit(cache=True)
def _partial_sum(alpha, a, w):
    """G(a, w) = Σ_{i=0}^{w-1} (1 + i/a)^-α, i.e. Σ_{k=a}^{a+w-1} k^-α / a^-α, for integers (held
    exactly in floats) a >= 1 and 1 <= w <= a.

    Below ``a = max(64, 4α)`` the terms are added directly (stopping once a term is below 1e-18 of
    the sum: at most about 240 terms); above, Euler-Maclaurin with the integral written through
    expm1 (exact as α -> 1) and the B2, B4, B6 corrections (relative error below 1e-15 for α <= 2).
    """
    if w <= 1.0:
        return 1.0
    if a < max(64.0, 4.0 * alpha):
        total = 1.0
        i = 1.0
        while i < w:
            term = _exp(-mul_rn(alpha, _log1p(i / a)))
            total += term
            if term < mul_rn(1e-18, total):
                break
            i += 1.0
        return total
    big_l = _log1p(w / a)  # ln(r), r = (a + w) / a
    am1 = alpha - 1.0
    integral = -_expm1(-mul_rn(am1, big_l)) / am1  # (1 - r^(1-α)) / (α - 1)
    p1 = alpha / a
    p3 = mul_rn(mul_rn(p1, (alpha + 1.0) / a), (alpha + 2.0) / a)
    p5 = mul_rn(mul_rn(p3, (alpha + 3.0) / a), (alpha + 4.0) / a)
    t5 = mul_rn(p5 / 30240.0, -_expm1(-mul_rn(alpha + 5.0, big_l)))
    t3 = mul_rn(p3 / 720.0, -_expm1(-mul_rn(alpha + 3.0, big_l)))
    t1 = mul_rn(p1 / 12.0, -_expm1(-mul_rn(alpha + 1.0, big_l)))
    t0 = mul_rn(0.5, -_expm1(-mul_rn(alpha, big_l)))
    return mul_rn(a, integral) + (t0 + (t1 - (t3 - t5)))


@njit(cache=True)
def _octave_masses(alpha):
    """S_e = Σ_{k=2^e}^{2^(e+1)-1} k^-α for e = 0..62 (float64, unnormalised)."""
    out = np.empty(_NUM_EXPONENTS)
    for e in range(_NUM_EXPONENTS):
        a = _POW2[e + 1022]
        g = _partial_sum(alpha, a, a)
        out[e] = mul_rn(_exp(-mul_rn(alpha - 1.0, mul_rn(float(e), _LN2))), g / a)
    return out


@njit(cache=True)
def _cell_masses(alpha, e):
    """Masses of the 2^t cells of octave e, t = min(e, T), relative to (2^e)^-α * 2^(e-t) (unnormalised)."""
    t = min(e, TOP_BITS)
    n = 1 << t
    width = _POW2[e - t + 1022]
    base = _POW2[e + 1022]
    out = np.empty(n)
    for c in range(n):
        a = base + mul_rn(float(c), width)  # exact: at most t + 1 significant bits
        g = _partial_sum(alpha, a, width)
        out[c] = mul_rn(_exp(-mul_rn(alpha, _log1p(float(c) / float(n)))), g / width)
    return out


@njit(cache=True)
def _quantise(p, n_valid, n_total, out):
    """Integer weights (each >= 1, sum 2^24) for the probabilities p[:n_valid] over n_total columns
    (columns past n_valid get weight 1), written to out[:n_total] as float64 ``weight - 1``.

    Cumulative floor: W_i = floor(C_i * (2^24 - n_total) / Σp) + i, every symbol within one unit
    of its share; the last boundary is forced to 2^24 - (n_total - n_valid)."""
    free = _TOTAL - n_total
    total = 0.0
    for i in range(n_valid):
        total += p[i]
    scale = free / total
    cum = 0.0
    prev = 0
    for i in range(n_valid):
        cum += p[i]
        if i == n_valid - 1:
            q = free + n_valid
        else:
            q = min(int(math.floor(mul_rn(cum, scale))), free) + i + 1
        out[i] = float(q - prev - 1)
        prev = q
    for i in range(n_valid, n_total):
        out[i] = 0.0


@njit(cache=True)
def _exponent_row(alpha, out):
    _quantise(_octave_masses(alpha), _NUM_EXPONENTS, _NUM_EXPONENTS, out)


@njit(cache=True)
def _fill_cells(alphas, cells, done, slots, exponents):
    """Compute the cell row (slot, e) for every pair not yet done (e >= 1)."""
    for i in range(slots.size):
        s = slots[i]
        e = exponents[i]
        if e >= 1 and not done[s, e]:
            p = _cell_masses(alphas[s], e)
            _quantise(p, p.size, _CELLS, cells[s, e])
            done[s, e] = True


def _model_probabilities(alpha):
    """Float model of one α (for tests): (octave masses (63,), list of 63 cell-mass arrays)."""
    alpha = float(alpha)
    return _octave_masses(alpha), [_cell_masses(alpha, e) for e in range(_NUM_EXPONENTS)]


def _model_weights(alpha):
    """Integer model of one α (for tests): (exponent weights (63,), cell weights (63, 16)), int64."""
    alpha = float(alpha)
    row = np.empty(_NUM_EXPONENTS)
    _exponent_row(alpha, row)
    cells = np.zeros((_NUM_EXPONENTS, _CELLS))
    done = np.zeros((1, _NUM_EXPONENTS), dtype=np.bool_)
    _fill_cells(np.array([alpha]), cells[None], done, np.zeros(_NUM_EXPONENTS, np.int64),
                np.arange(_NUM_EXPONENTS, dtype=np.int64))
    cells[0] = 0.0
    cells[0, 0] = _TOTAL - _CELLS  # e = 0 has no cell symbol; a placeholder row
    return row.astype(np.int64) + 1, cells.astype(np.int64) + 1


# ============================================================================ α registry
# Models are cached per α value (an item's blocks reuse the plan's α's): exponent rows at
# registration, cell rows on first use of (α, e).


class _Registry:
    MAX_SLOTS = 2048

    def __init__(self):
        self.lock = threading.Lock()
        self._reset(64)

    def _reset(self, capacity):
        self.slot_of = {}
        self.alphas = np.zeros(capacity)
        self.exponent_rows = np.zeros((capacity, _NUM_EXPONENTS))
        self.cell_rows = np.zeros((capacity, _NUM_EXPONENTS, _CELLS))
        self.done = np.zeros((capacity, _NUM_EXPONENTS), dtype=np.bool_)

    def slots(self, alphas):
        """Slot of every α (registering new ones); call with the lock held."""
        unique, inverse = np.unique(alphas, return_inverse=True)
        new = [a for a in unique.tolist() if a not in self.slot_of]
        if new:
            if len(self.slot_of) + len(new) > self.MAX_SLOTS:
                self._reset(64)
                new = unique.tolist()
            need = len(self.slot_of) + len(new)
            if need > self.alphas.size:
                capacity = max(2 * self.alphas.size, need)
                old = (self.alphas, self.exponent_rows, self.cell_rows, self.done)
                n = len(self.slot_of)
                self._grow(capacity, old, n)
            for a in new:
                s = len(self.slot_of)
                self.slot_of[a] = s
                self.alphas[s] = a
                _exponent_row(a, self.exponent_rows[s])
        table = np.array([self.slot_of[a] for a in unique.tolist()], dtype=np.int64)
        return table[inverse.reshape(-1)]

    def _grow(self, capacity, old, n):
        slot_of = self.slot_of
        self._reset(capacity)
        self.slot_of = slot_of
        self.alphas[:n] = old[0][:n]
        self.exponent_rows[:n] = old[1][:n]
        self.cell_rows[:n] = old[2][:n]
        self.done[:n] = old[3][:n]

    def cells(self, slots, exponents):
        """(len, 16) cell tables for these (slot, e >= 1) pairs; lock held."""
        _fill_cells(self.alphas, self.cell_rows, self.done, slots, exponents)
        return self.cell_rows[slots, exponents]


_REGISTRY = _Registry()


# ============================================================================ digits


@njit(cache=True)
def _uniform_table(sizes, width):
    """Rows of integer weights (as weight - 1) for the digit categoricals of one width: a direct row
    (odd n <= 255 equal weights, width n) or a split row (256 buckets of n // 256 or + 1 values)."""
    free = _TOTAL - width
    out = np.empty((sizes.size, width))
    for r in range(sizes.size):
        n = sizes[r]
        if n < _SPLIT:
            k, rem = 1, 0  # n buckets of one value
        else:
            k, rem = n // _SPLIT, n % _SPLIT
        prev = 0
        cum = 0
        for i in range(width):
            cum += k + (1 if i < rem else 0)
            q = (cum * free) // n + i + 1
            out[r, i] = float(q - prev - 1)
            prev = q
    return out


@njit(cache=True)
def _digit_plan(n):
    """Layout of one phase for remaining ranges n (digits with n < 2 are finished).

    Returns (z, raw_owner, raw_bits, raw_shift, cat_owner, cat_width, cat_size): per digit its
    number z of raw low bits; the raw chunks (digit, bits, shift) in stream order; and the
    categorical symbols (digit, width, odd range) sorted by (width, digit)."""
    u = n.size
    z = np.zeros(u, np.int64)
    num_raw = 0
    num_cat = 0
    for i in range(u):
        m = n[i]
        if m < 2:
            continue
        while m % 2 == 0:
            m //= 2
            z[i] += 1
        num_raw += (z[i] + _CHUNK - 1) // _CHUNK
        if m > 1:
            num_cat += 1
    raw_owner = np.empty(num_raw, np.int64)
    raw_bits = np.empty(num_raw, np.int64)
    raw_shift = np.empty(num_raw, np.int64)
    cat_owner = np.empty(num_cat, np.int64)
    cat_width = np.empty(num_cat, np.int64)
    cat_size = np.empty(num_cat, np.int64)
    j = 0
    c = 0
    for i in range(u):
        if n[i] < 2:
            continue
        left = z[i]
        while left > 0:  # high chunk first: the top (left - 1) % 16 + 1 bits, then 16-bit chunks
            bits = (left - 1) % _CHUNK + 1
            left -= bits
            raw_owner[j] = i
            raw_bits[j] = bits
            raw_shift[j] = left
            j += 1
        m = n[i] >> z[i]
        if m > 1:
            cat_owner[c] = i
            cat_size[c] = m
            cat_width[c] = m if m < _SPLIT else _SPLIT
            c += 1
    order = np.argsort(cat_width * u + cat_owner)
    return z, raw_owner, raw_bits, raw_shift, cat_owner[order], cat_width[order], cat_size[order]


@njit(cache=True)
def _bucket(q, m):
    """(index, start, size) of the bucket holding q among the 256 buckets of an odd range m > 255."""
    k, rem = m // _SPLIT, m % _SPLIT
    if q < rem * (k + 1):
        hi = q // (k + 1)
    else:
        hi = rem + (q - rem * (k + 1)) // k
    start = hi * k + min(hi, rem)
    return hi, start, k + (1 if hi < rem else 0)


@njit(cache=True)
def _digit_take(v, z, raw_owner, raw_shift, raw_bits, cat_owner, cat_size):
    """Encoder: the phase's symbols from the remaining values v; v becomes what is left to send."""
    raw = np.empty(raw_owner.size, np.int32)
    for j in range(raw_owner.size):
        raw[j] = (v[raw_owner[j]] >> raw_shift[j]) & ((1 << raw_bits[j]) - 1)
    cat = np.empty(cat_owner.size, np.int32)
    for c in range(cat_owner.size):
        i = cat_owner[c]
        q = v[i] >> z[i]
        m = cat_size[c]
        if m < _SPLIT:
            cat[c] = q
            v[i] = 0
        else:
            hi, start, _ = _bucket(q, m)
            cat[c] = hi
            v[i] = q - start
    return raw, cat


@njit(cache=True)
def _digit_apply(n, acc, mult, z, raw_owner, raw_shift, raw, cat_owner, cat_size, cat):
    """Both sides: account for the phase's symbols (acc += mult * value sent, n = range left)."""
    for j in range(raw_owner.size):
        i = raw_owner[j]
        acc[i] += mult[i] * (np.int64(raw[j]) << raw_shift[j])
    for i in range(n.size):
        if n[i] >= 2:
            mult[i] <<= z[i]
            n[i] >>= z[i]
    for c in range(cat_owner.size):
        i = cat_owner[c]
        m = cat_size[c]
        if m < _SPLIT:
            acc[i] += mult[i] * np.int64(cat[c])
            n[i] = 1
        else:
            k, rem = m // _SPLIT, m % _SPLIT
            hi = np.int64(cat[c])
            acc[i] += mult[i] * (hi * k + min(hi, rem))
            n[i] = k + (1 if hi < rem else 0)


def _digit_segments(digits, radices):
    """Encoder: the digit symbols as [(family, params, symbols)] in stream order."""
    segments = []
    n = radices.copy()
    v = digits.copy()
    acc = np.zeros_like(n)
    mult = np.ones_like(n)
    while True:
        z, raw_owner, raw_bits, raw_shift, cat_owner, cat_width, cat_size = _digit_plan(n)
        if raw_owner.size == 0 and cat_owner.size == 0:
            return segments
        raw, cat = _digit_take(v, z, raw_owner, raw_shift, raw_bits, cat_owner, cat_size)
        _append_phase(segments, raw, raw_bits, cat, cat_width, cat_size)
        _digit_apply(n, acc, mult, z, raw_owner, raw_shift, raw, cat_owner, cat_size, cat)


def _append_phase(segments, raw, raw_bits, cat, cat_width, cat_size):
    if raw.size:
        segments.append((_UNIFORM, (np.left_shift(1, raw_bits).astype(np.int32),), raw))
    for lo, hi, width in _runs(cat_width):
        segments.append((_CATEGORICAL, (_uniform_table(cat_size[lo:hi], width),), cat[lo:hi]))


def _runs(widths):
    """(start, stop, width) of each run of equal widths (they are sorted)."""
    if widths.size == 0:
        return []
    cuts = np.flatnonzero(widths[1:] != widths[:-1]) + 1
    starts = np.concatenate(([0], cuts))
    stops = np.concatenate((cuts, [widths.size]))
    return [(int(a), int(b), int(widths[a])) for a, b in zip(starts, stops)]


def _decode_digits(decoder, radices):
    n = radices.copy()
    acc = np.zeros_like(n)
    mult = np.ones_like(n)
    while True:
        z, raw_owner, raw_bits, raw_shift, cat_owner, cat_width, cat_size = _digit_plan(n)
        if raw_owner.size == 0 and cat_owner.size == 0:
            return acc
        raw = (decoder.decode(_UNIFORM, np.left_shift(1, raw_bits).astype(np.int32)) if raw_owner.size
               else np.empty(0, np.int32))
        parts = [decoder.decode(_CATEGORICAL, _uniform_table(cat_size[lo:hi], width))
                 for lo, hi, width in _runs(cat_width)]
        cat = np.concatenate(parts).astype(np.int32) if parts else np.empty(0, np.int32)
        _digit_apply(n, acc, mult, z, raw_owner, raw_shift, raw, cat_owner, cat_size, cat)


# ============================================================================ blocks


@njit(cache=True)
def _block_split(values):
    """Encoder: per block its exponent e, cell c (blocks with e >= 1), and the low-bit chunks
    (sizes as 2^bits, values), high chunk first."""
    b = values.size
    e = np.empty(b, np.int64)
    num_chunks = 0
    num_cells = 0
    for i in range(b):
        m = values[i]
        k = 0
        while (m >> (k + 1)) > 0:
            k += 1
        e[i] = k
        if k >= 1:
            num_cells += 1
        if k > TOP_BITS:
            num_chunks += (k - TOP_BITS + _CHUNK - 1) // _CHUNK
    cells = np.empty(num_cells, np.int32)
    sizes = np.empty(num_chunks, np.int32)
    chunks = np.empty(num_chunks, np.int32)
    c = 0
    j = 0
    for i in range(b):
        m = values[i]
        k = e[i]
        if k >= 1:
            t = min(k, TOP_BITS)
            cells[c] = (m >> (k - t)) - (1 << t)
            c += 1
        left = k - TOP_BITS
        while left > 0:
            bits = (left - 1) % _CHUNK + 1
            left -= bits
            sizes[j] = 1 << bits
            chunks[j] = (m >> left) & ((1 << bits) - 1)
            j += 1
    return e, cells, sizes, chunks


@njit(cache=True)
def _chunk_sizes(e):
    num_chunks = 0
    for k in e:
        if k > TOP_BITS:
            num_chunks += (k - TOP_BITS + _CHUNK - 1) // _CHUNK
    sizes = np.empty(num_chunks, np.int32)
    j = 0
    for k in e:
        left = k - TOP_BITS
        while left > 0:
            bits = (left - 1) % _CHUNK + 1
            left -= bits
            sizes[j] = 1 << bits
            j += 1
    return sizes


@njit(cache=True)
def _block_join(e, cells, chunks):
    """Decoder: the values from exponents, cells and low chunks; -1 where a cell is impossible."""
    out = np.empty(e.size, np.int64)
    c = 0
    j = 0
    for i in range(e.size):
        k = e[i]
        m = np.int64(1) << k
        if k >= 1:
            t = min(k, TOP_BITS)
            if cells[c] >= (1 << t):
                out[i] = -1
                c += 1
                continue
            m += np.int64(cells[c]) << (k - t)
            c += 1
        left = k - TOP_BITS
        while left > 0:
            bits = (left - 1) % _CHUNK + 1
            left -= bits
            m += np.int64(chunks[j]) << left
            j += 1
        out[i] = m
    return out


# ============================================================================ validation


def _flat_array(x, name, kind):
    """``x`` as a 1-D numpy array (any dtype yet), or TypeError / ValueError naming ``name``;
    ``kind`` says what its elements must be ("integers", "floats")."""
    if isinstance(x, (str, bytes, bytearray, dict, set)) or x is None:
        raise TypeError(f"{name} must be a sequence or array of {kind}, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} must be a flat sequence of {kind} ({error})") from None
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _as_int_array(x, name, limits="the int64 range"):
    """1-D int64 array from integers (TypeError for other kinds, ValueError outside int64)."""
    arr = _flat_array(x, name, "integers")
    if arr.size == 0:
        return np.zeros(0, np.int64)
    if arr.dtype == object:
        items = arr.tolist()
        for i, v in enumerate(items):
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, numbers.Integral):
                raise TypeError(f"{name}[{i}] must be an integer, got {v!r} of type {type(v).__name__}")
        bad = [i for i, v in enumerate(items) if not -(1 << 63) <= int(v) < (1 << 63)]
        if bad:
            raise ValueError(f"{name}[{bad[0]}] = {items[bad[0]]} is outside {limits}")
        return np.array([int(v) for v in items], dtype=np.int64)
    if arr.dtype.kind == "u":
        if arr.dtype.itemsize == 8 and (arr > np.uint64(MAX_VALUE)).any():
            i = int(np.flatnonzero(arr > np.uint64(MAX_VALUE))[0])
            raise ValueError(f"{name}[{i}] = {int(arr[i])} is outside {limits}")
        return arr.astype(np.int64)
    if arr.dtype.kind != "i":
        raise TypeError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=True)


def _refuse_first(bad, message):
    """ValueError ``message(i)`` for the first index i where the boolean array ``bad`` is True."""
    where = np.flatnonzero(bad)
    if where.size:
        raise ValueError(message(int(where[0])))


def _check_values(values):
    v = _as_int_array(values, "values", "[1, 2^63 - 1]")
    _refuse_first(v < 1, lambda i: f"values[{i}] = {int(v[i])} is outside [1, 2^63 - 1]")
    return v


def _check_alphas(alphas):
    arr = _flat_array(alphas, "alphas", "floats")
    if arr.size == 0:
        return np.zeros(0)
    if arr.dtype == object:
        for i, a in enumerate(arr.tolist()):
            if isinstance(a, (bool, np.bool_)) or not isinstance(a, numbers.Real):
                raise TypeError(f"alphas[{i}] must be a real number, got {a!r} of type {type(a).__name__}")
    elif arr.dtype.kind not in "iuf":
        raise TypeError(f"alphas must hold real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    _refuse_first(~(np.isfinite(arr) & (arr > 1.0)),
                  lambda i: f"alphas[{i}] = {float(arr[i])!r} must be finite and > 1")
    return arr


def _check_radices(radices):
    r = _as_int_array(radices, "radices", "[2, 2^20]")
    _refuse_first((r < 2) | (r > MAX_RADIX), lambda i: f"radices[{i}] = {int(r[i])} is outside [2, 2^20]")
    return r


def _check_digits(digits, radices):
    d = _as_int_array(digits, "digits", "the digits' radix range")
    if d.shape != radices.shape:
        raise ValueError(f"digits and radices must have the same length; got {d.size} and {radices.size}")
    _refuse_first((d < 0) | (d >= radices),
                  lambda i: f"digits[{i}] = {int(d[i])} is outside [0, radices[{i}] = {int(radices[i])})")
    return d


# ============================================================================ coding


def _segments(values, alphas, digits, radices):
    """Every symbol of the stream as [(family, params, symbols)] in stream order."""
    segments = _digit_segments(digits, radices)
    if values.size:
        e, cells, sizes, chunks = _block_split(values)
        with _REGISTRY.lock:
            slots = _REGISTRY.slots(alphas)
            exponent_rows = _REGISTRY.exponent_rows[slots]
            has_cell = e >= 1
            cell_rows = _REGISTRY.cells(slots[has_cell], e[has_cell]) if cells.size else None
        segments.append((_CATEGORICAL, (exponent_rows,), e.astype(np.int32)))
        if cells.size:
            segments.append((_CATEGORICAL, (cell_rows,), cells))
        if chunks.size:
            segments.append((_UNIFORM, (sizes,), chunks))
    return segments


def _model_bits(values, alphas, digits=(), radices=()):
    """Exact cost in bits of every symbol under its quantised model (the stream before termination)."""
    radices = np.asarray(radices, dtype=np.int64).reshape(-1)
    segments = _segments(np.asarray(values, dtype=np.int64).reshape(-1),
                         np.asarray(alphas, dtype=np.float64).reshape(-1),
                         np.asarray(digits, dtype=np.int64).reshape(-1), radices)
    bits = 0.0
    for family, params, symbols in segments:
        if family is _UNIFORM:
            bits += float(np.log2(params[0].astype(np.float64)).sum())
        else:
            weights = params[0][np.arange(symbols.size), symbols] + 1.0
            bits += float((_PRECISION - np.log2(weights)).sum())
    return bits


def _encode(values, alphas, digits, radices, extra=()):
    return encode_segments(_segments(values, alphas, digits, radices) + list(extra))


def zeta_segments(values, alphas, digits=(), radices=()):
    """The stream's symbols as ``[(model, params, symbols), ...]`` (``recnumba.coding.trim``), for a
    caller that codes more symbols after them in the same range coder (one termination for both):
    ``trim.encode_segments(zeta_segments(...) + more)``; the receiver reads them back with
    :func:`decode_zeta_from` and then its own segments from the same decoder."""
    values = _check_values(values)
    alphas = _check_alphas(alphas)
    if values.shape != alphas.shape:
        raise ValueError(f"values and alphas must have the same length; got {values.size} and {alphas.size}")
    radices = _check_radices(radices)
    return _segments(values, alphas, _check_digits(digits, radices), radices)


def encode_zeta(values, alphas, digits=(), radices=()):
    """Code the blocks' positive integers under ζ(· | α_b) and the uniform digits in one stream.

    Parameters
    ----------
    values : int array (B,), each in [1, 2^63 - 1]
    alphas : float array (B,), each finite and > 1 (e.g. ``zeta_alpha(I_b)``); shared with the receiver
    digits, radices : int arrays (U,), ``0 <= digits < radices``, ``2 <= radices <= 2^20``; radices shared

    Returns
    -------
    (data, num_bits) : ``data`` is ``ceil(num_bits / 8)`` bytes (last byte zero-padded); ``num_bits``
    is the length of the shortest bit prefix that decodes back to these values and digits.
    """
    values = _check_values(values)
    alphas = _check_alphas(alphas)
    if values.shape != alphas.shape:
        raise ValueError(f"values and alphas must have the same length; got {values.size} and {alphas.size}")
    radices = _check_radices(radices)
    digits = _check_digits(digits, radices)
    return _encode(values, alphas, digits, radices)


def zeta_length(values, alphas, digits=(), radices=()) -> int:
    """Bits of :func:`encode_zeta`'s stream for these values and digits (``encode_zeta(...)[1]``)."""
    return encode_zeta(values, alphas, digits, radices)[1]


def _stream_error(message):
    return ValueError(f"zeta stream: {message}")


def decode_zeta(data, alphas, radices=(), num_bits=None, *, strict=True):
    """Decode what :func:`encode_zeta` wrote: ``(values int64 (B,), digits int64 (U,))``.

    ``num_bits`` bounds the stream (default ``8 * len(data)``); bits after it, and bytes past the
    data, are read as zeros. Raises ``ValueError("zeta stream: ...")`` if the data cannot be decoded
    (invalid range-coder state, a decoded mantissa cell the model does not allow) and, with
    ``strict=True`` (default), if ``data`` is not byte for byte the canonical encoding of what it
    decodes to (so nonzero padding, trailing bytes, truncations and non-shortest encodings fail), or
    ``num_bits`` is not its length.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes, bytearray or memoryview, got {type(data).__name__}")
    data = bytes(data)
    alphas = _check_alphas(alphas)
    radices = _check_radices(radices)
    if not isinstance(strict, (bool, np.bool_)):
        raise TypeError(f"strict must be a bool, got {strict!r}")
    if num_bits is None:
        nb = 8 * len(data)
    else:
        if isinstance(num_bits, (bool, np.bool_)) or not isinstance(num_bits, numbers.Integral):
            raise TypeError(f"num_bits must be an integer or None, got {num_bits!r}")
        nb = int(num_bits)
        if not 0 <= nb <= 8 * len(data):
            raise ValueError(f"num_bits = {nb} is outside [0, 8 * len(data) = {8 * len(data)}]")
    decoder = constriction.stream.queue.RangeDecoder(words_of(data, nb))
    values, digits = decode_zeta_from(decoder, alphas, radices)
    if strict:
        canonical, canonical_bits = _encode(values, alphas, digits, radices)
        if canonical != data or (num_bits is not None and canonical_bits != nb):
            raise _stream_error(
                f"the data ({len(data)} bytes, num_bits={num_bits}) is not the canonical encoding of "
                f"the values it decodes to ({len(canonical)} bytes, {canonical_bits} bits): corrupt, "
                "truncated, padded or extended data"
            )
    return values, digits


def decode_zeta_from(decoder, alphas, radices=()):
    """Read one stream's ``(values, digits)`` from a ``constriction`` ``RangeDecoder`` (which may hold
    more symbols after them, see :func:`zeta_segments`); ValueError("zeta stream: ...") if invalid.
    ``alphas`` and ``radices`` must already be checked arrays (as :func:`decode_zeta` passes them)."""
    try:
        digits = _decode_digits(decoder, radices)
        if alphas.size:
            with _REGISTRY.lock:  # slots stay valid while the lock is held
                slots = _REGISTRY.slots(alphas)
                e = decoder.decode(_CATEGORICAL, _REGISTRY.exponent_rows[slots]).astype(np.int64)
                has_cell = e >= 1
                cell_rows = _REGISTRY.cells(slots[has_cell], e[has_cell]) if has_cell.any() else None
            cells = decoder.decode(_CATEGORICAL, cell_rows) if cell_rows is not None else np.empty(0, np.int32)
            chunks = (decoder.decode(_UNIFORM, _chunk_sizes(e)) if (e > TOP_BITS).any()
                      else np.empty(0, np.int32))
            values = _block_join(e, cells, chunks)
        else:
            values = np.zeros(0, np.int64)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: B036 -- constriction's InvalidData, or a Rust panic
        raise _stream_error(f"the range decoder rejected the data ({error})") from None
    bad = np.flatnonzero((values < 1))
    if bad.size:
        i = int(bad[0])
        raise _stream_error(f"block {i} decodes to a mantissa cell its exponent does not have "
                            "(model inconsistency: corrupt data)")
    if (digits < 0).any() or (digits >= radices).any():  # cannot happen: every digit symbol is in range
        raise _stream_error("a digit decodes outside its radix")
    return values, digits


# ============================================================================ α and ideal lengths


_ALPHA_MIN = 1.0 + 2.0**-52  # the float after 1


def zeta_alpha(information_bits):
    """ζ's exponent for a block of information ``I`` bits: ``1 + 1/(max(I, 0) + 1)``, in (1, 2].

    Only basic IEEE operations, so the same float on every machine. ``I`` must be a finite real
    number (ValueError for NaN or ±inf; TypeError for other kinds). Arrays give arrays. From
    ``I`` about 2^53 on the formula rounds to 1.0, which is no valid exponent: the result is then
    the float after 1, ``1 + 2^-52``.
    """
    if isinstance(information_bits, (bool, np.bool_)):
        raise TypeError("information_bits must be a real number, not a bool")
    if isinstance(information_bits, numbers.Real):
        i = float(information_bits)
        if not math.isfinite(i):
            raise ValueError(f"information_bits must be finite, got {information_bits!r}")
        return max(1.0 + 1.0 / (max(i, 0.0) + 1.0), _ALPHA_MIN)
    if isinstance(information_bits, (str, bytes)) or information_bits is None:
        raise TypeError(f"information_bits must be a real number, got {type(information_bits).__name__}")
    arr = np.asarray(information_bits)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"information_bits must be real numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError("information_bits must be finite")
    out = np.maximum(1.0 + 1.0 / (np.maximum(arr, 0.0) + 1.0), _ALPHA_MIN)
    return float(out) if out.ndim == 0 else out


def zeta_ideal_bits(m, alpha):
    """``-log2 ζ(m | α) = α log2 m + log2 ζ(α)`` in bits (float; arrays broadcast). Uses scipy."""
    from scipy.special import zeta as riemann_zeta

    if np.ndim(m) == 0 and np.ndim(alpha) == 0:
        if isinstance(m, (bool, np.bool_)) or not isinstance(m, numbers.Integral):
            raise TypeError(f"m must be an integer, got {m!r}")
        if int(m) < 1:
            raise ValueError(f"m must be >= 1, got {m}")
        a = float(alpha)
        if not (math.isfinite(a) and a > 1.0):
            raise ValueError(f"alpha must be finite and > 1, got {alpha!r}")
        return a * math.log2(int(m)) + math.log2(float(riemann_zeta(a, 1.0)))
    m_arr = np.asarray(m)
    if m_arr.dtype.kind not in "iu" and m_arr.dtype != object:
        raise TypeError(f"m must hold integers, got dtype {m_arr.dtype}")
    log_m = np.vectorize(lambda v: math.log2(int(v)), otypes=[float])(m_arr)
    a = np.asarray(alpha, dtype=np.float64)
    if not (np.isfinite(a) & (a > 1.0)).all():
        raise ValueError("alpha must be finite and > 1")
    return a * log_m + np.log2(riemann_zeta(a, 1.0))
