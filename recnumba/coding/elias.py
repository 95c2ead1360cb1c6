"""Elias universal codes for positive integers, and a fixed-length code.

A universal code writes any integer ``n >= 1`` with a self-delimiting,
prefix-free bit string, so many codewords can be concatenated in one stream
and decoded without separators. In relative entropy coding these code the
sample index (plus one) chosen by the encoder. All lengths are in bits and are
computed exactly with ``int.bit_length`` (no floating point). Write
``N = floor(log2 n) = n.bit_length() - 1``.

Gamma (``gamma``)
    ``N`` zeros, then ``n`` in binary (``N + 1`` bits, leading bit 1).
    Cost ``2*N + 1`` bits, about ``2 log2 n``. Best for small ``n``
    (``n <= 31`` or so, where it ties or beats delta).

Delta (``delta``)
    ``gamma(L)`` with ``L = N + 1`` the binary length of ``n``, then the
    ``N`` low bits of ``n`` (the leading 1 is implicit).
    Cost ``N + 1 + 2*floor(log2(N + 1))`` bits, about
    ``log2 n + 2 log2 log2 n``. A good default for indices of moderate size
    (roughly 2**4 to 2**1000), e.g. relative entropy coding indices whose log
    is close to the KL divergence in bits.

Omega (``omega``)
    Recursive: write ``n`` in binary preceded by the code of ``N``, and so on
    until the length is 1, then a terminating ``0``.
    Cost ``1 + sum`` of the binary lengths of ``n, N, floor(log2 N), ...``
    (stopping before 1), about ``log2 n + log2 log2 n + ...``. Asymptotically
    shortest of the three; for moderate ``n`` it is within a few bits of
    delta either way.

Fixed (``write_fixed``/``read_fixed``)
    ``n`` in exactly ``num_bits`` bits, for ``0 <= n < 2**num_bits``. Use it
    when both sides know a bound on ``n`` in advance (e.g. a capped number of
    samples); it is not self-delimiting without that shared ``num_bits``.

To code an index ``i >= 0`` with the universal codes pass ``i + 1`` and
subtract one after decoding.

Decoding a corrupt or truncated stream raises ``ValueError`` (from
:class:`~recnumba.coding.bits.BitReader`); every decoding step consumes bits,
so decoding never loops forever.
"""

from __future__ import annotations

import numbers
from typing import Callable, Iterable, NamedTuple

from .bits import BitReader, BitWriter

__all__ = [
    "gamma_length",
    "delta_length",
    "omega_length",
    "write_gamma",
    "read_gamma",
    "write_delta",
    "read_delta",
    "write_omega",
    "read_omega",
    "write_fixed",
    "read_fixed",
    "IntegerCode",
    "CODES",
    "get_code",
    "encode_integers",
    "decode_integers",
]


def _check_positive(n, name: str = "n") -> int:
    """Return ``n`` as a Python int >= 1, or raise ValueError naming ``name``."""
    if type(n) is int and n >= 1:  # fast path
        return n
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(
            f"{name} must be an integer >= 1, got {n!r} of type {type(n).__name__}; "
            f"pass a Python int or numpy integer (to code an index i >= 0 pass i + 1)"
        )
    n = int(n)
    if n < 1:
        raise ValueError(
            f"{name} must be an integer >= 1, got {n}; "
            f"to code an index i >= 0 pass i + 1"
        )
    return n


def _check_count(k, name: str) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {k!r}")
    return int(k)


# ---------------------------------------------------------------- lengths


def gamma_length(n) -> int:
    """Length in bits of the Elias gamma code of ``n >= 1``: ``2*floor(log2 n) + 1``."""
    n = _check_positive(n)
    return 2 * n.bit_length() - 1


def delta_length(n) -> int:
    """Length in bits of the Elias delta code of ``n >= 1``.

    ``L + 2*floor(log2 L)`` with ``L = floor(log2 n) + 1`` the binary length of ``n``.
    """
    n = _check_positive(n)
    L = n.bit_length()
    return L + 2 * (L.bit_length() - 1)


def omega_length(n) -> int:
    """Length in bits of the Elias omega code of ``n >= 1``.

    ``1`` (the terminating zero) plus the binary lengths of ``n``,
    ``floor(log2 n)``, ``floor(log2 floor(log2 n))``, ... while the value is > 1.
    """
    n = _check_positive(n)
    total = 1
    while n > 1:
        L = n.bit_length()
        total += L
        n = L - 1
    return total


# ---------------------------------------------------------------- gamma


def write_gamma(writer: BitWriter, n) -> None:
    """Append the Elias gamma code of ``n >= 1`` (``gamma_length(n)`` bits)."""
    n = _check_positive(n)
    N = n.bit_length() - 1
    # N zeros followed by the N + 1 bits of n: one write of 2N + 1 bits.
    writer.write_bits(n, 2 * N + 1)


def read_gamma(reader: BitReader) -> int:
    """Read one Elias gamma codeword and return the integer ``n >= 1``."""
    N = reader.count_zeros_until_one()
    low = reader.read_bits(N)
    return (1 << N) | low


# ---------------------------------------------------------------- delta


def write_delta(writer: BitWriter, n) -> None:
    """Append the Elias delta code of ``n >= 1`` (``delta_length(n)`` bits)."""
    n = _check_positive(n)
    L = n.bit_length()
    write_gamma(writer, L)
    writer.write_bits(n & ((1 << (L - 1)) - 1), L - 1)


def read_delta(reader: BitReader) -> int:
    """Read one Elias delta codeword and return the integer ``n >= 1``."""
    L = read_gamma(reader)
    # Read first: read_bits checks L - 1 against the bits left, so a corrupt
    # huge L fails fast before 1 << (L - 1) could allocate.
    low = reader.read_bits(L - 1)
    return (1 << (L - 1)) | low


# ---------------------------------------------------------------- omega


def write_omega(writer: BitWriter, n) -> None:
    """Append the Elias omega code of ``n >= 1`` (``omega_length(n)`` bits)."""
    n = _check_positive(n)
    groups = []
    while n > 1:
        groups.append(n)
        n = n.bit_length() - 1
    for g in reversed(groups):
        writer.write_bits(g, g.bit_length())
    writer.write_bit(0)


def read_omega(reader: BitReader) -> int:
    """Read one Elias omega codeword and return the integer ``n >= 1``."""
    n = 1
    while reader.read_bit():
        # A group starting with 1 holds n + 1 bits; its leading 1 is already read.
        # Read before shifting so a corrupt huge n fails as truncation first.
        low = reader.read_bits(n)
        n = (1 << n) | low
    return n


# ---------------------------------------------------------------- fixed length


def write_fixed(writer: BitWriter, n, num_bits) -> None:
    """Append ``n`` in exactly ``num_bits`` bits; requires ``0 <= n < 2**num_bits``."""
    num_bits = _check_count(num_bits, "num_bits")
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise ValueError(
            f"n must be an integer with 0 <= n < 2**num_bits, got {n!r} "
            f"of type {type(n).__name__}"
        )
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0 for the fixed-length code, got {n}")
    if n >> num_bits:
        raise ValueError(
            f"n={n} does not fit in num_bits={num_bits} bits; need "
            f"n < 2**{num_bits} (use num_bits >= {n.bit_length()})"
        )
    writer.write_bits(n, num_bits)


def read_fixed(reader: BitReader, num_bits) -> int:
    """Read an integer written by :func:`write_fixed` with the same ``num_bits``."""
    num_bits = _check_count(num_bits, "num_bits")
    return reader.read_bits(num_bits)


# ---------------------------------------------------------------- registry


class IntegerCode(NamedTuple):
    """A universal code: ``length(n)`` in bits, ``write(writer, n)``, ``read(reader)``."""

    name: str
    length: Callable[[int], int]
    write: Callable[[BitWriter, int], None]
    read: Callable[[BitReader], int]


CODES: dict[str, IntegerCode] = {
    "gamma": IntegerCode("gamma", gamma_length, write_gamma, read_gamma),
    "delta": IntegerCode("delta", delta_length, write_delta, read_delta),
    "omega": IntegerCode("omega", omega_length, write_omega, read_omega),
}


def get_code(code) -> IntegerCode:
    """Return the :class:`IntegerCode` named ``code`` (or ``code`` itself if it is one)."""
    if isinstance(code, IntegerCode):
        return code
    try:
        return CODES[code]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown integer code {code!r}; valid names are "
            f"{', '.join(repr(k) for k in CODES)}"
        ) from None


def encode_integers(values: Iterable, code="delta") -> tuple[bytes, int]:
    """Encode integers ``>= 1`` back to back with one universal code.

    Returns ``(data, num_bits)``: the zero-padded bytes and the exact payload
    length in bits (the sum of ``CODES[code].length(v)``).
    """
    c = get_code(code)
    writer = BitWriter()
    write = c.write
    for i, v in enumerate(values):
        try:
            write(writer, v)
        except ValueError as exc:
            raise ValueError(f"values[{i}]: {exc}") from None
    return writer.to_bytes(), writer.num_bits


def decode_integers(data, count, code="delta", num_bits=None) -> list[int]:
    """Decode ``count`` integers written by :func:`encode_integers`.

    ``num_bits`` is the payload length in bits (default: all of ``data``).
    Raises ``ValueError`` if the stream ends before ``count`` integers are read.
    Bits left over after ``count`` integers are ignored.
    """
    c = get_code(code)
    count = _check_count(count, "count")
    reader = BitReader(data, num_bits)
    read = c.read
    out = []
    for i in range(count):
        try:
            out.append(read(reader))
        except ValueError as exc:
            raise ValueError(
                f"{exc} [while decoding integer {i} of {count} with the {c.name!r} code]"
            ) from None
    return out
