"""Bit-exact lengths for constriction's range coder: trim its 32-bit words to the shortest prefix.

``constriction.stream.queue.RangeEncoder.get_compressed()`` returns whole 32-bit words, so a short
message (one item's record, one image) pays up to 31 bits of padding plus the coder's termination.
An arithmetic code needs only enough bits to name *some* point of the final interval: for a prefix
length L, the candidates are the written value rounded down and rounded up to a multiple of 2^(T-L)
(T = 32 x words). Rounding down moves the point up towards the written one as L grows, rounding up
moves it down towards it, so "some candidate decodes to the same symbols" holds for every L from some
L* on; :func:`trim_words` bisects for L* (about log2 T decodes) and returns the first L* bits.

The receiver (:func:`words_of`) pads those bits with zeros to whole words and decodes as usual; the
decoder knows how many symbols to read. Measured on 784 Bernoulli symbols: L* is within about one bit
of the ideal code length (the sum of -log2 p), against 20-30 bits of padding in whole words.
"""

from __future__ import annotations

import numpy as np

__all__ = ["trim_words", "words_of"]


def words_of(data, num_bits=None):
    """uint32 words for a ``RangeDecoder`` from ``data``'s first ``num_bits`` bits (default all), zero-padded;
    at least one word (constriction needs one to start)."""
    data = bytes(data)
    num_bits = 8 * len(data) if num_bits is None else int(num_bits)
    num_words = max(1, (num_bits + 31) // 32)
    kept = bytearray(data[: (num_bits + 7) // 8])
    if num_bits % 8 and kept:
        kept[-1] &= (0xFF << (8 - num_bits % 8)) & 0xFF  # bits past num_bits read as zeros
    padded = bytes(kept).ljust(4 * num_words, b"\0")
    return np.frombuffer(padded, dtype=">u4").astype(np.uint32)


def _prefix(value, total_bits, length):
    """The top ``length`` bits of ``value`` (a ``total_bits``-bit int) as zero-padded bytes."""
    top = value >> (total_bits - length)
    return (top << (-length % 8)).to_bytes((length + 7) // 8, "big")


def trim_words(words, decodes):
    """``(data, num_bits)``: the shortest prefix of a range coder's output that still decodes.

    ``words``: ``RangeEncoder.get_compressed()``; ``decodes(words) -> bool``: whether decoding
    those (zero-padded) words gives the encoder's symbols. ``data`` is ``ceil(num_bits / 8)`` bytes,
    the last byte zero-padded; ``words_of(data, num_bits)`` gives the receiver's words.
    """
    words = np.asarray(words, dtype=np.uint32)
    total = 32 * words.size
    if total == 0:
        return b"", 0
    value = int.from_bytes(words.astype(">u4").tobytes(), "big")

    def candidate(length):
        shift = total - length
        down = (value >> shift) << shift
        options = [down] if down == value else [down, down + (1 << shift)]
        for point in options:
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

    lo, hi, best = 0, total, None  # candidate(total) is the written value itself
    while lo < hi:
        mid = (lo + hi) // 2
        found = candidate(mid)
        if found is not None:
            hi, best = mid, found
        else:
            lo = mid + 1
    if best is None or hi != lo:
        best = candidate(lo)
    if best is None:  # pragma: no cover - the full output always decodes
        raise RuntimeError("range coder output does not decode to its own symbols")
    return best, lo
