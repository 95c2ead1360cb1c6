"""Bit-exact range coding with constriction: one stream of symbol segments, shortest termination.

``constriction.stream.queue.RangeEncoder.get_compressed()`` returns whole 32-bit words and seals the
stream at the low end of the coder's final interval, so a short message (one item's record, one
image) would pay up to 31 bits of padding plus several bits of sealing. An arithmetic code needs
only enough bits to name *some* point of that final interval, and the decoder knows how many
symbols it reads. :func:`shortest_termination` reads the interval from ``RangeEncoder.pos()`` and
returns the shortest bit string (zero-padded to bytes) that names a point inside it.

Decoding reads a 64-bit window after the ``pos`` words the coder has emitted (missing words read as
zeros), and a window value decodes back to the encoded symbols iff it lies in the final interval
``[lower, lower + range)``. So, in units of 2^-P with ``P = 32 (pos + 2)``, the zero-padded bit strings
that decode correctly are exactly the points of ``[L, L + range)``, where ``L`` is the sealed stream
``X`` minus its offset from the interval's lower end (constriction seals with the lowest multiple of
2^32 at or above ``lower``: ``X - L = (-lower) mod 2^32``). The shortest one is the multiple of the
largest power of two in that interval. Measured over thousands of random streams
(tests/test_zeta.py, tests/test_trim.py): between 14 bits below and 1 bit above the sum of the
symbols' ``-log2`` probabilities, mean about -1 bit (the length itself travels outside the stream).

:func:`encode_segments` codes a list of ``(model, params, symbols)`` segments this way and checks the
result by decoding it; should constriction's state ever mean something else, it falls back to
:func:`trim_words` (bisection over rounded prefixes of the sealed stream, about log2 T decodes).
The receiver pads with :func:`words_of` and decodes segment by segment from one ``RangeDecoder``.
"""

from __future__ import annotations

import constriction
import numpy as np

__all__ = ["words_of", "shortest_termination", "decodes_to", "encode_segments", "trim_words"]

#: Times :func:`encode_segments` needed its fallback (tests expect none).
FALLBACKS = [0]


def words_of(data, num_bits=None):
    """uint32 words for a ``RangeDecoder`` from ``data``'s first ``num_bits`` bits (default all), zero-padded;
    at least one word (bits past ``num_bits`` read as zeros)."""
    data = bytes(data)
    num_bits = 8 * len(data) if num_bits is None else int(num_bits)
    num_words = max(1, (num_bits + 31) // 32)
    kept = bytearray(data[: (num_bits + 7) // 8])
    if num_bits % 8 and kept:
        kept[-1] &= (0xFF << (8 - num_bits % 8)) & 0xFF  # bits past num_bits read as zeros
    padded = bytes(kept).ljust(4 * num_words, b"\0")
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def shortest_termination(encoder):
    """``(data, num_bits, words)``: the shortest bit string that decodes like ``encoder``'s stream, and
    the sealed words (``encoder.get_compressed()``). ``data`` is ``ceil(num_bits / 8)`` bytes."""
    pos, (lower, size) = encoder.pos()
    words = encoder.get_compressed()
    if words.size == 0:
        return b"", 0, words
    total = 32 * (pos + 2)
    x = int.from_bytes(words.astype(">u4").tobytes(), "big") << (total - 32 * words.size)
    low = x - ((-lower) % (1 << 32))
    high = low + size - 1  # the interval is [low, high]
    if low == 0:
        return b"", 0, words
    shift = (high ^ (low - 1)).bit_length() - 1  # the largest j with a multiple of 2^j in it
    num_bits = total - shift
    num_bytes = (num_bits + 7) >> 3
    prefix = high >> shift  # num_bits bits, ending in a 1
    return (prefix << (8 * num_bytes - num_bits)).to_bytes(num_bytes, "big"), num_bits, words


def decodes_to(words, segments):
    """Whether decoding ``words`` segment by segment gives back every segment's symbols."""
    try:
        decoder = constriction.stream.queue.RangeDecoder(words)
        for model, params, symbols in segments:
            if not np.array_equal(decoder.decode(model, *params), symbols):
                return False
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: B036 -- constriction's InvalidData, or a Rust panic
        return False
    return True


def encode_segments(segments):
    """Range-code ``[(model, params, symbols), ...]`` in order into ``(data, num_bits)``, shortest termination.

    ``model`` is a constriction model family, ``params`` the tuple of its per-symbol parameter arrays
    (may be empty for a fixed model), ``symbols`` int32 arrays. The receiver decodes
    ``RangeDecoder(words_of(data, num_bits))`` with the same models in the same order.
    """
    encoder = constriction.stream.queue.RangeEncoder()
    for model, params, symbols in segments:
        encoder.encode(symbols, model, *params)
    data, num_bits, words = shortest_termination(encoder)
    if words.size == 0 or decodes_to(words_of(data, num_bits), segments):
        return data, num_bits
    FALLBACKS[0] += 1  # not expected: the coder's state did not mean what shortest_termination assumes
    return trim_words(words, lambda w: decodes_to(w, segments))


def _prefix(value, total_bits, length):
    """The top ``length`` bits of ``value`` (a ``total_bits``-bit int) as zero-padded bytes."""
    top = value >> (total_bits - length)
    return (top << (-length % 8)).to_bytes((length + 7) // 8, "big")


def trim_words(words, decodes):
    """``(data, num_bits)``: the shortest rounded prefix of sealed range-coder output that still decodes.

    For a prefix length L the candidates are the sealed value rounded down and rounded up to a
    multiple of 2^(T-L) (T = 32 x words): as L grows, rounding down moves the point up towards the
    sealed one and rounding up moves it down, so "some candidate decodes" holds for every L from
    some L* on, and bisection finds L*. ``decodes(words) -> bool``; exceptions count as False.
    """
    words = np.asarray(words, dtype=np.uint32)
    total = 32 * words.size
    if total == 0:
        return b"", 0
    value = int.from_bytes(words.astype(">u4").tobytes(), "big")

    def candidate(length):
        shift = total - length
        down = (value >> shift) << shift
        for point in ([down] if down == value else [down, down + (1 << shift)]):
            if point >> total:
                continue  # rounding up overflowed the T bits
            data = _prefix(point, total, length)
            try:
                ok = decodes(words_of(data, length))
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # noqa: B036 -- constriction rejects some points (a Rust panic is a BaseException)
                ok = False
            if ok:
                return data
        return None

    lo, hi, best = 0, total, None  # the full sealed value always decodes
    while lo < hi:
        mid = (lo + hi) // 2
        found = candidate(mid)
        if found is not None:
            hi, best = mid, found
        else:
            lo = mid + 1
    if best is None:
        best = candidate(lo)
    if best is None:  # pragma: no cover - the full output always decodes
        raise RuntimeError("range coder output does not decode to its own symbols")
    return best, lo
