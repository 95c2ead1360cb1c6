"""Bit-level writer and reader used by the integer codes in :mod:`recnumba.coding.elias`.

Bits are packed most significant bit first: the first bit written becomes the
high bit (value 128) of the first byte. All sizes and positions are in **bits**
unless a name says ``bytes``.

Both classes are pure Python. The writer keeps fewer than 8 pending bits in a
small Python int and flushes whole bytes into a ``bytearray``, and the reader
slices only the bytes a read needs, so writing or reading ~1e5 integers costs
time linear in the stream length.
"""

from __future__ import annotations

import numbers

__all__ = ["BitWriter", "BitReader"]


def _as_count(value, name: str) -> int:
    """Return ``value`` as a Python int >= 0 or raise ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer >= 0 (a number of bits), got {value!r}"
        )
    value = int(value)
    if value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (a number of bits), got {value}")
    return value


class BitWriter:
    """Append-only bit stream, MSB first.

    Example::

        w = BitWriter()
        w.write_bits(0b101, 3)
        w.write_bit(1)
        w.num_bits     # 4 (bits)
        w.to_bytes()   # b'\\xb0' (1011 padded with zeros to one byte)
    """

    __slots__ = ("_buffer", "_pending", "_num_pending")

    def __init__(self) -> None:
        self._buffer = bytearray()  # complete bytes
        self._pending = 0  # the last _num_pending (< 8) bits, as an int
        self._num_pending = 0

    @property
    def num_bits(self) -> int:
        """Number of bits written so far (bits, not bytes)."""
        return 8 * len(self._buffer) + self._num_pending

    def write_bit(self, bit) -> None:
        """Append one bit; ``bit`` must be 0 or 1 (``True``/``False`` are accepted)."""
        if bit != 0 and bit != 1:
            raise ValueError(f"bit must be 0 or 1, got {bit!r}")
        pending = (self._pending << 1) | int(bit)
        if self._num_pending == 7:
            self._buffer.append(pending)
            self._pending = 0
            self._num_pending = 0
        else:
            self._pending = pending
            self._num_pending += 1

    def write_bits(self, value, num_bits) -> None:
        """Append the ``num_bits`` low bits of ``value``, most significant first.

        ``value`` is a non-negative integer (any size) with
        ``0 <= value < 2**num_bits``; ``num_bits`` is a count of bits >= 0.
        ``num_bits == 0`` writes nothing (and requires ``value == 0``).
        """
        if type(num_bits) is not int or num_bits < 0:  # fast path for plain ints
            num_bits = _as_count(num_bits, "num_bits")
        if type(value) is not int:
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise ValueError(f"value must be an integer, got {value!r}")
            value = int(value)
        if value < 0 or value >> num_bits:
            raise ValueError(
                f"value {value} does not fit in num_bits={num_bits} bits; "
                f"need 0 <= value < 2**{num_bits}"
            )
        if num_bits == 0:
            return
        acc = (self._pending << num_bits) | value
        total = self._num_pending + num_bits
        rest = total & 7
        whole = total >> 3
        if whole:
            self._buffer += (acc >> rest).to_bytes(whole, "big")
            acc &= (1 << rest) - 1
        self._pending = acc
        self._num_pending = rest

    def to_bytes(self) -> bytes:
        """Return the stream as bytes; the last byte is padded with zero bits.

        The result has ``ceil(num_bits / 8)`` bytes. Keep :attr:`num_bits` to
        know where the payload ends (pass it to :class:`BitReader`).
        """
        if self._num_pending:
            last = self._pending << (8 - self._num_pending)
            return bytes(self._buffer) + bytes((last,))
        return bytes(self._buffer)

    def __repr__(self) -> str:
        return f"BitWriter(num_bits={self.num_bits})"


class BitReader:
    """Sequential reader of a bit stream written by :class:`BitWriter` (MSB first).

    Parameters
    ----------
    data:
        The bytes of the stream (``bytes``, ``bytearray`` or ``memoryview``).
    num_bits:
        Length of the payload in bits; bits after it (e.g. the zero padding of
        the last byte) are treated as absent. Default: ``8 * len(data)``.

    Reading past the end raises ``ValueError("bit stream truncated: ...")``.
    """

    __slots__ = ("_data", "_num_bits", "_pos")

    def __init__(self, data, num_bits: int | None = None) -> None:
        self._data = bytes(data)
        capacity = 8 * len(self._data)
        if num_bits is None:
            num_bits = capacity
        else:
            num_bits = _as_count(num_bits, "num_bits")
            if num_bits > capacity:
                raise ValueError(
                    f"num_bits={num_bits} exceeds the {capacity} bits held by "
                    f"{len(self._data)} bytes of data"
                )
        self._num_bits = num_bits
        self._pos = 0

    @property
    def position(self) -> int:
        """Number of bits consumed so far (bits from the start of the stream)."""
        return self._pos

    @property
    def num_bits(self) -> int:
        """Total payload length in bits."""
        return self._num_bits

    @property
    def bits_left(self) -> int:
        """Number of bits that can still be read."""
        return self._num_bits - self._pos

    def _truncated(self, wanted: int) -> ValueError:
        return ValueError(
            f"bit stream truncated: wanted {wanted} more bit(s) at bit position "
            f"{self._pos}, but only {self._num_bits - self._pos} of "
            f"{self._num_bits} bits remain (corrupt data, wrong num_bits, or "
            f"too large a count of values to decode?)"
        )

    def read_bit(self) -> int:
        """Read one bit and return it as 0 or 1."""
        pos = self._pos
        if pos >= self._num_bits:
            raise self._truncated(1)
        self._pos = pos + 1
        return (self._data[pos >> 3] >> (7 - (pos & 7))) & 1

    def read_bits(self, num_bits) -> int:
        """Read ``num_bits`` bits (MSB first) and return them as a non-negative int.

        ``num_bits == 0`` returns 0. The length is checked against
        :attr:`bits_left` before any data is touched, so an absurd length from a
        corrupt stream fails fast with ``ValueError``.
        """
        if type(num_bits) is not int or num_bits < 0:  # fast path for plain ints
            num_bits = _as_count(num_bits, "num_bits")
        pos = self._pos
        end = pos + num_bits
        if end > self._num_bits:
            raise self._truncated(num_bits)
        if num_bits == 0:
            return 0
        first = pos >> 3
        last = (end + 7) >> 3
        chunk = int.from_bytes(self._data[first:last], "big")
        self._pos = end
        return (chunk >> (8 * last - end)) & ((1 << num_bits) - 1)

    def count_zeros_until_one(self) -> int:
        """Consume a run of 0 bits and the 1 that ends it; return the run length (bits).

        Used for unary prefixes. Raises ``ValueError`` (truncated) if the stream
        ends before a 1 bit, so a corrupt all-zero stream can never loop forever.
        """
        data = self._data
        limit = self._num_bits
        start = pos = self._pos
        # Scan up to 64 bits at a time: take the bytes covering [pos, pos + 64),
        # drop bits before pos and after the payload end, and locate the first 1
        # with int.bit_length.
        while pos < limit:
            first = pos >> 3
            stop = min(first + 8, (limit + 7) >> 3)
            window_end = min(8 * stop, limit)  # bit index just past the window
            window = int.from_bytes(data[first:stop], "big") >> (8 * stop - window_end)
            width = window_end - pos
            window &= (1 << width) - 1
            if window:
                pos += width - window.bit_length()  # index of the first 1 bit
                self._pos = pos + 1
                return pos - start
            pos = window_end
        raise ValueError(
            f"bit stream truncated: unary prefix starting at bit position {start} "
            f"has {limit - start} zero bit(s) and no terminating 1 before the end "
            f"of the {limit}-bit stream (wanted at least {limit - start + 1} bits)"
        )

    def __repr__(self) -> str:
        return f"BitReader(position={self._pos}, num_bits={self._num_bits})"
