"""Index codes: how the REC indices of one item's blocks become bits, given what both sides share.

A block with a partition of J bins (``recnumba.partition``) sends the index ``n = (k - 1) * J + j``:
j is the bin (0 <= j < J, mixed radix over the per-dimension interval counts J_d) and k >= 1 the
sample's rank inside the bin. j carries about log2 J bits that cost nothing extra to send (every bin
is equally likely a priori only in the weighted sense, but a uniform code of j is what the paper's
bound charges); the search overhead sits in k, which carries about I - log2 J bits for a block with
I bits of information. Codes of one index:

``"delta"``, ``"gamma"``, ``"omega"``
    The Elias code of n + 1 (``recnumba.coding.elias``); ignores the partition. Delta costs about
    log2 n + 2 log2 log2 n bits, so a 48-bit block pays about 11 bits of overhead on all of n.
``"fixed"``
    ceil(log2(N J)) bits (ORC's indices are below N J).
``"two-part"``
    j first, as a uniform symbol over J: exactly log2 J raw bits when J is a power of two, otherwise
    the truncated binary code (floor(log2 J) bits for the first 2^ceil(log2 J) - J values of j,
    ceil(log2 J) for the rest; mean within 0.086 bits of log2 J); then the Elias delta code of k
    (k = n // J + 1). The log log overhead applies only to the ~I - log2 J bits of k. With J = 1 it is
    ``"delta"`` bit for bit.
``"zeta"``
    j's mixed-radix digits as uniform symbols, then k under the Zeta law
    ζ(k | α) ∝ k^-α with α = ``zeta_alpha(I - log2 J)`` (I: the block's shared information, e.g. its
    planned ``nominal_bits``), arithmetic-coded with constriction (``recnumba.coding.zeta``). The
    symbols of all blocks of a record share one arithmetic stream, so a record of B blocks is
    shorter than the sum of B single-block streams (one termination instead of B).

Every code here is decodable given the same ``BlockCode`` list; prefix codes (all but zeta) have
integer lengths per index, and a sequence of them is their concatenation. :func:`index_bits` is the
length of each index coded alone (what ``recnumba.encode`` reports as ``res.bits``);
:func:`write_indices` / :func:`read_indices` code a sequence (one record or stream payload) and
return / check exactly the bits written.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from recnumba.coding.bits import BitReader, BitWriter
from recnumba.coding.elias import CODES as ELIAS_CODES
from recnumba.coding.elias import delta_length, read_delta, write_delta
from recnumba.validation import check_choice

__all__ = [
    "INDEX_CODES",
    "NEEDS_INFORMATION",
    "BlockCode",
    "block_codes",
    "check_index_code",
    "truncated_binary_length",
    "write_truncated_binary",
    "read_truncated_binary",
    "index_bits",
    "write_indices",
    "read_indices",
    "zeta_segments_of",
    "read_zeta_from",
]

#: Names accepted wherever an index code is chosen (``encode``'s ``code``, containers, records).
INDEX_CODES = ("delta", "gamma", "omega", "fixed", "two-part", "zeta")
#: Codes whose model needs the block's shared information (bits).
NEEDS_INFORMATION = ("zeta",)


class BlockCode(NamedTuple):
    """What sender and receiver share about one block's index code.

    num_bins : int, J (1 for plain REC)
    intervals : tuple of int, the per-dimension interval counts J_d (product J)
    information_bits : float or None, the block's shared information I (zeta only)
    num_samples : int, ORC's budget N (0 when unbounded; "fixed" only)
    """

    num_bins: int
    intervals: tuple
    information_bits: float | None = None
    num_samples: int = 0


def check_index_code(code, num_samples=0):
    """``code`` if it names an index code usable here, else ValueError naming ``code``."""
    check_choice(code, INDEX_CODES, f"code must be one of {list(INDEX_CODES)} (a string); got {code!r:.80}")
    if code == "fixed" and not num_samples:
        raise ValueError('code="fixed" needs method="orc" (an index bound); use code="delta" or "two-part" for PFR')
    return code


def block_codes(partitions, information_bits=None, num_samples=0, code="delta"):
    """One :class:`BlockCode` per block from its partition, shared information (bits) and ORC budget.

    ``partitions``: a sequence of ``Partition``; ``information_bits``: None, one float, or one per
    block (needed, finite and >= 0, for ``code="zeta"``).
    """
    partitions = list(partitions)
    if information_bits is None:
        if code in NEEDS_INFORMATION:
            raise ValueError(
                f'code="{code}" needs information_bits: the information (bits) of each block that sender and '
                "receiver share, e.g. the plan's nominal_bits (BlockPlan.nominal_bits) or the KL budget the "
                "posterior was trained to"
            )
        info = [None] * len(partitions)
    else:
        try:
            values = np.broadcast_to(np.asarray(information_bits, dtype=np.float64), (len(partitions),))
        except (TypeError, ValueError):
            raise ValueError(
                f"information_bits must be a number of bits or one per block ({len(partitions)}); "
                f"got {information_bits!r:.80}"
            ) from None
        if not np.all(np.isfinite(values)) or np.any(values < 0):
            raise ValueError(f"information_bits must be finite and >= 0 (bits); got {information_bits!r:.80}")
        info = [float(v) for v in values]
    return [BlockCode(int(p.num_bins), tuple(int(v) for v in p.intervals), i, int(num_samples))
            for p, i in zip(partitions, info)]


# ---------------------------------------------------------------- truncated binary


def truncated_binary_length(j, num_values):
    """Bits of the truncated binary code of ``0 <= j < num_values`` (0 bits when num_values == 1)."""
    width = (num_values - 1).bit_length()  # ceil(log2 num_values)
    short = (1 << width) - num_values  # this many values get width - 1 bits
    return width - 1 if j < short else width


def write_truncated_binary(writer, j, num_values):
    """Append j (0 <= j < num_values) in ``truncated_binary_length(j, num_values)`` bits."""
    if not 0 <= j < num_values:
        raise ValueError(f"bin index {j} is outside [0, {num_values})")
    width = (num_values - 1).bit_length()
    short = (1 << width) - num_values
    if j < short:
        writer.write_bits(j, width - 1)
    else:
        writer.write_bits(j + short, width)


def read_truncated_binary(reader, num_values):
    """Read what :func:`write_truncated_binary` wrote."""
    width = (num_values - 1).bit_length()
    if width == 0:
        return 0
    short = (1 << width) - num_values
    value = reader.read_bits(width - 1)
    if value < short:
        return value
    return ((value << 1) | reader.read_bit()) - short


# ---------------------------------------------------------------- per code


def _fixed_width(block):
    return max(1, (block.num_samples * block.num_bins - 1).bit_length())  # ceil(log2(N J)), exact


def _two_part_length(n, block):
    j, k = n % block.num_bins, n // block.num_bins + 1
    return truncated_binary_length(j, block.num_bins) + delta_length(k)


_LN2 = 0.6931471805599453  # ln 2 as a literal: alpha must be the same float on every machine


def _alpha(block):
    """ζ's exponent for the block's k: α = zeta_alpha(max(I - log2 J, 0)), computed bit-reproducibly
    (``portable_log``, not libm: sender and receiver may run different maths libraries)."""
    from recnumba.coding.zeta import zeta_alpha
    from recnumba.numerics.portable import portable_log

    log2_bins = 0.0 if block.num_bins == 1 else float(portable_log(float(block.num_bins))) / _LN2
    return zeta_alpha(max(block.information_bits - log2_bins, 0.0))


def _zeta_symbols(indices, blocks):
    """(values k, alphas, digits, radices) of a zeta stream for these blocks' indices."""
    values, alphas, digits, radices = [], [], [], []
    for n, block in zip(indices, blocks):
        j = n % block.num_bins
        values.append(n // block.num_bins + 1)
        alphas.append(_alpha(block))
        for count in block.intervals:  # dimension 0 least significant, as the partition numbers bins
            if count > 1:
                digits.append(j % count)
                radices.append(count)
            j //= count
    return (np.array(values, dtype=np.int64), np.array(alphas, dtype=np.float64),
            np.array(digits, dtype=np.int64), np.array(radices, dtype=np.int64))


def _zeta_radices(blocks):
    return np.array([c for block in blocks for c in block.intervals if c > 1], dtype=np.int64)


def _check_blocks(indices, blocks, code):
    if len(indices) != len(blocks):
        raise ValueError(f"{len(indices)} indices for {len(blocks)} block codes; they must match")
    for i, (n, block) in enumerate(zip(indices, blocks)):
        if not 0 <= n < (1 << 63) - 1:
            raise ValueError(f"indices[{i}] = {n} is outside [0, 2^63 - 1)")
        if code == "fixed" and n >= block.num_samples * block.num_bins:
            raise ValueError(f"indices[{i}] = {n} is not below N x J = {block.num_samples * block.num_bins} "
                             '(code="fixed" needs an ORC index)')
        if code in NEEDS_INFORMATION and block.information_bits is None:
            raise ValueError(f'code="{code}" needs each block\'s information_bits (block {i} has none)')


def index_bits(indices, code, blocks: Sequence[BlockCode]):
    """Bits of each index coded on its own (int64, same length as ``indices``).

    For prefix codes this is also each index's share of a sequence; for ``"zeta"`` it is the length
    of a one-block zeta stream (a sequence of B blocks costs less: one termination).
    """
    indices = [int(n) for n in np.asarray(indices, dtype=np.int64).reshape(-1).tolist()]
    _check_blocks(indices, blocks, code)
    if code in ELIAS_CODES:
        length = ELIAS_CODES[code].length
        out = [length(n + 1) for n in indices]
    elif code == "fixed":
        out = [_fixed_width(b) for b in blocks]
    elif code == "two-part":
        out = [_two_part_length(n, b) for n, b in zip(indices, blocks)]
    else:
        from recnumba.coding.zeta import zeta_length

        out = []
        for n, b in zip(indices, blocks):
            values, alphas, digits, radices = _zeta_symbols([n], [b])
            out.append(zeta_length(values, alphas, digits, radices))
    return np.array(out, dtype=np.int64)


def write_indices(indices, code, blocks: Sequence[BlockCode]):
    """Code a sequence of indices (one per block, in order); returns ``(data, num_bits)``.

    ``data`` is ``ceil(num_bits / 8)`` bytes, zero-padded; ``num_bits`` is exactly the bits written.
    """
    indices = [int(n) for n in np.asarray(indices, dtype=np.int64).reshape(-1).tolist()]
    _check_blocks(indices, blocks, code)
    if code == "zeta":
        from recnumba.coding.zeta import encode_zeta

        return encode_zeta(*_zeta_symbols(indices, blocks))
    writer = BitWriter()
    if code in ELIAS_CODES:
        write = ELIAS_CODES[code].write
        for n in indices:
            write(writer, n + 1)
    elif code == "fixed":
        for n, b in zip(indices, blocks):
            writer.write_bits(n, _fixed_width(b))
    else:  # two-part
        for n, b in zip(indices, blocks):
            write_truncated_binary(writer, n % b.num_bins, b.num_bins)
            write_delta(writer, n // b.num_bins + 1)
    return writer.to_bytes(), writer.num_bits


def read_indices(data, code, blocks: Sequence[BlockCode], num_bits=None):
    """Decode what :func:`write_indices` wrote: ``(indices int64 (B,), bits read)``.

    ``num_bits`` bounds the reader (default: all of ``data``). Raises ValueError for a stream that
    ends early or decodes to an index outside the int64 range (or, for "fixed", outside N J).
    The caller checks that what follows the bits read is only zero padding.
    """
    if code == "zeta":
        from recnumba.coding.zeta import decode_zeta, zeta_length

        values, digits = decode_zeta(data, np.array([_alpha(b) for b in blocks], dtype=np.float64),
                                     _zeta_radices(blocks), num_bits=num_bits)
        indices = _join_zeta(values, digits, blocks)
        return indices, zeta_length(*_zeta_symbols(indices.tolist(), blocks))
    reader = BitReader(data, num_bits)
    out = []
    if code in ELIAS_CODES:
        read = ELIAS_CODES[code].read
        for _ in blocks:
            out.append(read(reader) - 1)
    elif code == "fixed":
        for b in blocks:
            out.append(reader.read_bits(_fixed_width(b)))
    else:  # two-part
        for b in blocks:
            j = read_truncated_binary(reader, b.num_bins)
            k = read_delta(reader)
            if k - 1 > ((1 << 63) - 2 - j) // b.num_bins:
                raise ValueError(f"a two-part index (j={j}, k={k}) is outside the int64 index range")
            out.append((k - 1) * b.num_bins + j)
    _check_blocks(out, blocks, code)
    return np.array(out, dtype=np.int64), reader.position


def zeta_segments_of(indices, blocks):
    """The zeta stream of these blocks' indices as range-coder segments (``recnumba.coding.trim``), so a
    caller can code more symbols after them in the same stream (``recnumba.records``' ``extra``)."""
    from recnumba.coding.zeta import zeta_segments

    indices = [int(n) for n in np.asarray(indices, dtype=np.int64).reshape(-1).tolist()]
    _check_blocks(indices, blocks, "zeta")
    return zeta_segments(*_zeta_symbols(indices, blocks))


def read_zeta_from(decoder, blocks):
    """Read the indices of :func:`zeta_segments_of` from a constriction ``RangeDecoder`` (int64 (B,))."""
    from recnumba.coding.zeta import decode_zeta_from

    alphas = np.array([_alpha(b) for b in blocks], dtype=np.float64)
    values, digits = decode_zeta_from(decoder, alphas, _zeta_radices(blocks))
    indices = _join_zeta(values, digits, blocks)
    _check_blocks(indices.tolist(), blocks, "zeta")
    return indices


def _join_zeta(values, digits, blocks):
    out, pos = [], 0
    for k, block in zip(values.tolist(), blocks):
        j, place = 0, 1
        for count in block.intervals:
            if count > 1:
                j += int(digits[pos]) * place
                pos += 1
            place *= count
        if k - 1 > ((1 << 63) - 2 - j) // block.num_bins:
            raise ValueError(f"zeta stream: an index (j={j}, k={k}) is outside the int64 index range")
        out.append((k - 1) * block.num_bins + j)
    return np.array(out, dtype=np.int64)
