"""Bitstream container: a plan's block indices in, self-checking bytes out, and back.

One stream holds the indices of one item (an image: shape (num_blocks,)) or of several consecutive
items (shape (num_items, num_blocks)). Layout (format version 2, integers big-endian)::

    offset  size  field
    0       4     magic b"RECN"
    4       1     format version (2; version 1 streams are still read)
    5       1     index code: 1 = Elias delta, 2 = exponent-mantissa
    6       1     flags: bit 0 set = indices are 2-D (num_items, num_blocks);
                  bit 1 set = per-block exponent model (version 2, exponent code only); other bits 0
    7       1     exponent model offset, int8, 1/8 bit units (0 for delta and per-block models)
    8       1     exponent model scale, uint8, 1/8 bit units (0 for delta and per-block models)
    9       8     plan identifier (``BlockPlan.identifier``)
    17      8     seed (< 2^62)
    25      var   first item (LEB128 varint): stream keys are block_ids = item * num_blocks + block
            var   number of items (varint, >= 1)
            var   number of blocks (varint, must equal the plan's)
            var   payload length in bits (varint)
            2 B   only with flag bit 1: per block, its offset (int8) and scale (uint8, >= 1), 1/8 bits
            ...   payload, zero-padded to a whole byte
    end-4   4     CRC32 (zlib) of every byte before it

Version 2 added flag bit 1 and its table; everything else is as in version 1, whose streams (flag
bit 1 clear) this module still reads.

Index codes (payload), items in order, blocks in plan order within an item:

* ``"delta"``: the Elias delta code of n + 1 for every index n (``recnumba.coding.elias``).
* ``"two-part"`` (id 3) and ``"zeta"`` (id 4): ``recnumba.coding.index_codes``, with each block's
  partition and, for zeta's α, its planned ``nominal_bits``. A zeta payload is one arithmetic stream
  for all of the stream's indices. Readers from before these ids reject such streams by code id.
* ``"exponent"``: write m = n + 1 = 2^e + r with e = floor(log2 m) in [0, 63]. The exponents are
  range-coded with constriction (``constriction.stream.queue.RangeEncoder``) under a quantised
  Gaussian over {0..63} whose mean is the block's nominal information plus ``offset`` and whose std is
  ``scale`` (both in the header, so any stream decodes with the plan alone). Then a varint count of
  32-bit words, the words, and the e raw low bits r of every m. An index whose log2 is near the block's
  KL (what REC produces, notes §3) then costs about log2(n+1) + 3 bits, against Elias delta's
  log2(n+1) + 2 log2 log2(n+1) (about 11 extra bits at 48-bit blocks). The defaults (offset -1,
  scale 3 bits) were measured on ORC encodes of partitioned 16- and 32-bit blocks of a synthetic latent
  whose per-item KL varies by 2.5-4 bits (mean e - nominal -0.6 to -1.1, std 3.0-3.3); fit them to
  your data with :func:`fit_exponent_model`. ``exponent_offset``/``exponent_scale`` may also be one
  value per block (``fit_exponent_model(..., per_block=True)``), written as a 2-byte-per-block table;
  that helps when blocks differ (e.g. a 46-bit block beside a 7.5-bit one: their exponents sit at
  different offsets from the nominal KL).

Measured on the MNIST example (``examples/mnist_lossless.py``, first 1,000 test images): the fitted
quantised Gaussian costs within 0.2-0.6 bits per image of the empirical entropy of the exponents,
and conditioning a block's exponent on the previous blocks' exponents saves under 0.1 bits (their
correlation is 0.27 or less), so the code is close to what any exponent model can do; the ~4 bits
per block it spends are the spread of log2 n itself (per-item KL and the REC noise), not mismatch.

Reading checks, in order: magic, version, CRC (a failed CRC on a stream shorter than its header
declares is reported as truncation), then code, flags, plan identifier, block count, item count and
first item (every stream key ``(item + i) * num_blocks + block`` below 2^32, the limit
:func:`write_stream` enforces too), payload length, and that the payload decodes to exactly its declared length with valid indices. Every failure raises
:class:`StreamError` (a ValueError) naming the problem; CRC32 detects every single-bit flip and every
burst up to 32 bits.
"""

from __future__ import annotations

import math
import zlib
from typing import NamedTuple

import constriction
import numpy as np

from recnumba.coding.bits import BitReader, BitWriter
from recnumba.coding.elias import delta_length, read_delta, write_delta
from recnumba.coding.index_codes import block_codes, read_indices, write_indices
from recnumba.random.philox import SEED_LIMIT
from recnumba.validation import BLOCK_LIMIT, INDEX_LIMIT, check_choice, check_indices, check_plan, check_seed

__all__ = [
    "FORMAT_VERSION",
    "READABLE_VERSIONS",
    "MAGIC",
    "STREAM_CODES",
    "DEFAULT_EXPONENT_OFFSET",
    "DEFAULT_EXPONENT_SCALE",
    "StreamError",
    "StreamContents",
    "CodeReport",
    "write_stream",
    "read_stream",
    "payload_bits",
    "code_report",
    "fit_exponent_model",
]

MAGIC = b"RECN"
FORMAT_VERSION = 2
#: Versions :func:`read_stream` accepts.
READABLE_VERSIONS = (1, 2)
#: Index code names and their header ids.
STREAM_CODES = {"delta": 1, "exponent": 2, "two-part": 3, "zeta": 4}
_CODE_NAMES = {v: k for k, v in STREAM_CODES.items()}
DEFAULT_EXPONENT_OFFSET = -1.0
DEFAULT_EXPONENT_SCALE = 3.0
_FLAG_BATCHED = 1
_FLAG_BLOCK_MODEL = 2
_FIXED_HEADER = 25
_CRC_BYTES = 4
_MAX_EXPONENT = 63
#: Refuse streams declaring more indices than this (a crafted header must not exhaust memory).
_MAX_INDICES = 1 << 26
_STEP = 8  # model parameters are stored in 1/8 bit units


class StreamError(ValueError):
    """The bytes are not a valid recnumba stream for this plan (corrupted, truncated, wrong version/plan)."""


class StreamContents(NamedTuple):
    """What :func:`read_stream` returns."""

    seed: int
    indices: np.ndarray  # int64, (num_blocks,) or (num_items, num_blocks)
    item: int  # first item: block_ids = (item + i) * num_blocks + block
    code: str
    payload_bits: int
    exponent_model: tuple  # (offset, scale) in bits; (0.0, 0.0) for delta; two (num_blocks,) arrays if per block


class CodeReport(NamedTuple):
    """Bits for a set of indices under each code (payload only, see :func:`code_report`)."""

    num_indices: int
    ideal_bits: float  # sum of log2(n + 1)
    delta_bits: int  # Elias delta payload
    exponent_bits: int  # exponent-mantissa payload: varint + range-coded words + mantissas
    exponent_range_bits: int  # of which the range-coded exponents (32 x words)
    mantissa_bits: int  # of which the raw mantissas (sum of e)
    header_bits: int  # container overhead around the payload (header + CRC + padding), delta stream
    two_part_bits: int  # "two-part" payload (bin uniformly, then Elias delta of the rank)
    zeta_bits: int  # "zeta" payload (one arithmetic stream, zeta law with the blocks' nominal_bits)


# ---------------------------------------------------------------------------- helpers


def _varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data, pos, what):
    value = shift = 0
    for i in range(10):
        if pos + i >= len(data):
            return None, pos + i  # ran out
        byte = data[pos + i]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos + i + 1
    raise StreamError(f"stream header is corrupted: the {what} field is not a valid varint")


def _check_code(code):
    check_choice(code, STREAM_CODES, f"code must be one of {sorted(STREAM_CODES)}; got {code!r:.80}")
    return code


def _check_indices(indices, plan):
    try:
        shape = np.shape(indices)
    except ValueError:  # a ragged sequence: let the shared check name it
        return check_indices(indices, "indices")
    if len(shape) not in (1, 2) or shape[-1] != plan.num_blocks or 0 in shape:
        raise ValueError(
            f"indices must have shape ({plan.num_blocks},) or (num_items, {plan.num_blocks}) for this plan; "
            f"got {shape}"
        )
    return check_indices(indices, "indices")


def _max_item(num_items, num_blocks):
    """The largest first item whose stream keys (item + i) * num_blocks + block all stay below 2^32."""
    return BLOCK_LIMIT // num_blocks - num_items


def _check_item(item, num_items, num_blocks):
    """``item`` as an int when every stream key ``(item + i) * num_blocks + block`` is below 2^32, else ValueError."""
    if isinstance(item, (bool, np.bool_)) or not isinstance(item, (int, np.integer)) or item < 0:
        raise ValueError(f"item must be an integer >= 0; got {item!r}")
    limit = _max_item(num_items, num_blocks)
    if int(item) > limit:
        raise ValueError(
            f"item must be at most {limit} for {num_items} item(s) of {num_blocks} blocks: the stream keys "
            f"(item + i) * {num_blocks} + block must stay below 2^32 (a stream with item={item} could not be "
            "decoded); start a new seed with item=0 or use larger blocks"
        )
    return int(item)


def _quantise_one(offset, scale):
    if isinstance(offset, (bool, np.bool_)) or isinstance(scale, (bool, np.bool_)):
        raise ValueError(f"exponent_offset and exponent_scale must be numbers of bits, not booleans; got "
                         f"{offset!r}, {scale!r}")
    try:
        offset, scale = float(offset), float(scale)
    except (TypeError, ValueError):
        raise ValueError(f"exponent_offset and exponent_scale must be numbers of bits; got {offset!r}, {scale!r}") \
            from None
    if not (math.isfinite(offset) and -128 <= round(offset * _STEP) <= 127):
        raise ValueError(f"exponent_offset must be in [-16, 15.875] bits; got {offset!r}")
    if not (math.isfinite(scale) and 1 <= round(scale * _STEP) <= 255):
        raise ValueError(f"exponent_scale must be in [0.125, 31.875] bits; got {scale!r}")
    return round(offset * _STEP), round(scale * _STEP)


def _quantise_model(offset, scale, num_blocks=None):
    """(offset_q, scale_q): ints for one model, or int lists (one per block) when either is an array."""
    if np.ndim(offset) == 0 and np.ndim(scale) == 0:
        return _quantise_one(offset, scale)
    try:
        offsets, scales = np.broadcast_arrays(np.asarray(offset, dtype=object), np.asarray(scale, dtype=object))
    except ValueError:
        offsets = scales = None
    if offsets is None or offsets.ndim != 1 or offsets.shape[0] != num_blocks:
        raise ValueError(
            f"a per-block exponent model needs one offset and one scale per block ({num_blocks}); got shapes "
            f"{np.shape(offset)} and {np.shape(scale)}"
        )
    pairs = [_quantise_one(o, s) for o, s in zip(offsets.tolist(), scales.tolist())]
    return [o for o, _ in pairs], [s for _, s in pairs]


def _model_params(plan, num_items, offset_q, scale_q):
    offsets = np.asarray(offset_q, dtype=np.float64) / _STEP
    scales = np.broadcast_to(np.asarray(scale_q, dtype=np.float64) / _STEP, plan.nominal_bits.shape)
    means = np.tile(plan.nominal_bits + offsets, num_items)
    stds = np.tile(scales, num_items)
    return means, stds


_EXPONENT_FAMILY = constriction.stream.model.QuantizedGaussian(0, _MAX_EXPONENT)


def plan_block_codes(plan, num_items=1, code="two-part"):
    """The ``recnumba.coding.index_codes.BlockCode`` of every (item, block) of a plan, in stream order:
    each block's partition and, as zeta's shared information, its planned ``nominal_bits``."""
    codes = block_codes([blk.partition for blk in plan.blocks], plan.nominal_bits, 0, code)
    return codes * num_items


def _encode_payload(flat, plan, num_items, code, offset_q, scale_q):
    """(payload bytes, payload bits, range-coded bits, mantissa bits)."""
    if code in ("two-part", "zeta"):
        payload, num_bits = write_indices(flat, code, plan_block_codes(plan, num_items, code))
        return payload, num_bits, (num_bits if code == "zeta" else 0), 0
    writer = BitWriter()
    if code == "delta":
        for n in flat.tolist():
            write_delta(writer, n + 1)
        return writer.to_bytes(), writer.num_bits, 0, 0
    m = [n + 1 for n in flat.tolist()]
    exponents = np.array([v.bit_length() - 1 for v in m], dtype=np.int32)
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(exponents, _EXPONENT_FAMILY, *_model_params(plan, num_items, offset_q, scale_q))
    words = encoder.get_compressed().astype(">u4")
    prefix = _varint(int(words.size)) + words.tobytes()
    for v, e in zip(m, exponents.tolist()):
        writer.write_bits(v & ((1 << e) - 1), e)
    mantissa = writer.num_bits
    return prefix + writer.to_bytes(), 8 * len(prefix) + mantissa, 32 * int(words.size), mantissa


# ---------------------------------------------------------------------------- writing


def write_stream(indices, plan, seed, *, code="delta", item=0, exponent_offset=DEFAULT_EXPONENT_OFFSET,
                 exponent_scale=DEFAULT_EXPONENT_SCALE):
    """Pack block indices into a self-checking byte stream.

    Parameters
    ----------
    indices : int array (num_blocks,) or (num_items, num_blocks)
        One index per block of ``plan`` (``EncodeResult.index``), per item.
    plan : BlockPlan
        The plan both sides share; its identifier is written into the stream.
    seed : int in [0, 2^62)
        The REC seed, stored so the receiver needs only the plan and the prior.
    code : "delta", "exponent", "two-part" or "zeta"
    item : int >= 0
        Number of the (first) item; the receiver derives stream keys from it
        (``block_ids = item * num_blocks + block``, as ``recnumba.dataset`` uses). Every key must be
        below 2^32, so ``(item + num_items) * num_blocks <= 2^32``; a larger ``item`` raises ValueError
        (the stream could not be decoded), and :func:`read_stream` rejects such a stream.
    exponent_offset, exponent_scale : float, or array (num_blocks,)
        The exponent model (bits, rounded to 1/8 bit), ``"exponent"`` only. Arrays (either one; the
        other is broadcast) give every block its own model, stored in a 2-byte-per-block table.

    Returns
    -------
    bytes
    """
    plan = check_plan(plan)
    code = _check_code(code)
    values = _check_indices(indices, plan)
    seed = check_seed(seed)
    batched = values.ndim == 2
    num_items = values.shape[0] if batched else 1
    item = _check_item(item, num_items, plan.num_blocks)
    if values.size > _MAX_INDICES:
        raise ValueError(f"too many indices for one stream ({values.size} > 2^26); split the items")
    if code == "exponent":
        offset_q, scale_q = _quantise_model(exponent_offset, exponent_scale, plan.num_blocks)
    else:
        offset_q = scale_q = 0
    per_block = isinstance(offset_q, list)
    payload, num_bits, _, _ = _encode_payload(values.ravel(), plan, num_items, code, offset_q, scale_q)
    flags = (_FLAG_BATCHED if batched else 0) | (_FLAG_BLOCK_MODEL if per_block else 0)
    header = (
        MAGIC
        + bytes([FORMAT_VERSION, STREAM_CODES[code], flags, 0 if per_block else offset_q & 0xFF,
                 0 if per_block else scale_q])
        + plan.identifier.to_bytes(8, "big")
        + int(seed).to_bytes(8, "big")
        + _varint(int(item))
        + _varint(num_items)
        + _varint(plan.num_blocks)
        + _varint(num_bits)
    )
    if per_block:
        header += bytes(b for o, s in zip(offset_q, scale_q) for b in (o & 0xFF, s))
    body = header + payload
    return body + zlib.crc32(body).to_bytes(_CRC_BYTES, "big")


def payload_bits(indices, plan, code="delta", *, exponent_offset=DEFAULT_EXPONENT_OFFSET,
                 exponent_scale=DEFAULT_EXPONENT_SCALE):
    """Exact payload length in bits that :func:`write_stream` writes for these indices."""
    plan = check_plan(plan)
    code = _check_code(code)
    values = _check_indices(indices, plan)
    if code == "delta":
        return int(sum(delta_length(int(n) + 1) for n in values.ravel()))
    offset_q, scale_q = _quantise_model(exponent_offset, exponent_scale, plan.num_blocks)
    num_items = values.shape[0] if values.ndim == 2 else 1
    return _encode_payload(values.ravel(), plan, num_items, code, offset_q, scale_q)[1]


def code_report(indices, plan, *, exponent_offset=DEFAULT_EXPONENT_OFFSET, exponent_scale=DEFAULT_EXPONENT_SCALE):
    """Bits of ``indices`` (one stream) under every stream code, against sum log2(n + 1)."""
    plan = check_plan(plan)
    values = _check_indices(indices, plan)
    offset_q, scale_q = _quantise_model(exponent_offset, exponent_scale, plan.num_blocks)
    num_items = values.shape[0] if values.ndim == 2 else 1
    flat = values.ravel()
    _, exp_bits, range_bits, mantissa = _encode_payload(flat, plan, num_items, "exponent", offset_q, scale_q)
    delta_bits = int(sum(delta_length(int(n) + 1) for n in flat))
    stream = write_stream(values, plan, 0, code="delta")
    return CodeReport(
        num_indices=int(flat.size),
        ideal_bits=float(sum(math.log2(int(n) + 1) for n in flat)),
        delta_bits=delta_bits,
        exponent_bits=exp_bits,
        exponent_range_bits=range_bits,
        mantissa_bits=mantissa,
        header_bits=8 * len(stream) - delta_bits,
        two_part_bits=_encode_payload(flat, plan, num_items, "two-part", 0, 0)[1],
        zeta_bits=_encode_payload(flat, plan, num_items, "zeta", 0, 0)[1],
    )


def _fit(residual):
    offset = float(np.clip(np.round(residual.mean() * _STEP) / _STEP, -16.0, 15.875))
    scale = float(np.clip(np.round(max(residual.std(), 0.25) * _STEP) / _STEP, 0.125, 31.875))
    return offset, scale


def fit_exponent_model(indices, plan, *, per_block=False):
    """(offset, scale) in bits for the exponent code, fitted to training indices of ``plan``.

    offset = mean of floor(log2(n + 1)) - nominal_bits, scale = its standard deviation (at least
    0.25), both rounded to the header's 1/8-bit grid and clipped to its range. With
    ``per_block=True`` each block gets its own: two float64 arrays (num_blocks,), for
    :func:`write_stream` (a 2-byte-per-block table in the header; worth it on batches of items).
    """
    plan = check_plan(plan)
    values = _check_indices(indices, plan)
    if not isinstance(per_block, (bool, np.bool_)):
        raise TypeError(f"per_block must be True or False; got {per_block!r}")
    values = values.reshape(-1, plan.num_blocks)
    exponents = np.array([[int(n + 1).bit_length() - 1 for n in row] for row in values.tolist()], dtype=np.float64)
    residual = exponents - plan.nominal_bits
    if not per_block:
        return _fit(residual.ravel())
    fits = [_fit(residual[:, b]) for b in range(plan.num_blocks)]
    return np.array([o for o, _ in fits]), np.array([s for _, s in fits])


# ---------------------------------------------------------------------------- reading


def _declared_length(data):
    """Total length the header declares, or None if the header itself is cut short."""
    pos = _FIXED_HEADER
    fields = []
    for what in ("item", "item count", "block count", "payload length"):
        value, pos = _read_varint(data, pos, what)
        if value is None:
            return None, None, None
        fields.append(value)
    if data[6] & _FLAG_BLOCK_MODEL:
        if fields[2] > _MAX_INDICES:
            raise StreamError(f"stream header is corrupted: it declares {fields[2]} blocks")
        pos += 2 * fields[2]  # the per-block model table
    return pos + (fields[3] + 7) // 8 + _CRC_BYTES, pos, fields


def read_stream(data, plan):
    """Unpack a stream written by :func:`write_stream` for ``plan``.

    Returns
    -------
    StreamContents
        ``(seed, indices, item, code, payload_bits, exponent_model)``; ``indices`` is int64 with the
        shape that was written.

    Raises
    ------
    StreamError
        Not a recnumba stream, unsupported version, truncated, corrupted (CRC), written for another
        plan, or an inconsistent payload.
    TypeError
        ``data`` is not bytes-like or ``plan`` is not a BlockPlan.
    """
    plan = check_plan(plan)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    data = bytes(data)
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):
            raise StreamError(f"stream truncated: {len(data)} bytes, not even the {len(MAGIC)}-byte magic")
        raise StreamError("not a recnumba stream (bad magic)")
    if data[:4] != MAGIC:
        raise StreamError("not a recnumba stream (bad magic)")
    if len(data) < 5:
        raise StreamError("stream truncated: it ends after the magic")
    version = data[4]
    if version not in READABLE_VERSIONS:
        raise StreamError(
            f"unsupported format version {version} (this recnumba reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))})"
        )
    if len(data) < _FIXED_HEADER + 4 + _CRC_BYTES:
        raise StreamError(
            f"stream truncated: {len(data)} bytes is shorter than the smallest stream "
            f"({_FIXED_HEADER + 4 + _CRC_BYTES} bytes)"
        )
    expected, header_end, fields = _declared_length(data)
    body, crc = data[:-_CRC_BYTES], int.from_bytes(data[-_CRC_BYTES:], "big")
    if zlib.crc32(body) != crc:
        if expected is None or expected > len(data):
            raise StreamError(
                f"stream truncated (or its header corrupted): {len(data)} bytes, but the header declares "
                f"{'more' if expected is None else expected}"
            )
        raise StreamError("CRC mismatch: the stream is corrupted")
    # The CRC holds: from here on a failure means a malformed (crafted or mis-written) stream.
    if expected is None or expected != len(data):
        raise StreamError(
            f"stream is malformed: the header declares {expected} bytes but the stream has {len(data)}"
        )
    code_id, flags, offset_q, scale_q = data[5], data[6], data[7], data[8]
    if code_id not in _CODE_NAMES:
        raise StreamError(f"stream uses unknown index code id {code_id} (known: {sorted(_CODE_NAMES)})")
    code = _CODE_NAMES[code_id]
    known = _FLAG_BATCHED | (_FLAG_BLOCK_MODEL if version >= 2 else 0)
    if flags & ~known:
        raise StreamError(f"stream has unknown flags 0x{flags:02x} for format version {version}")
    per_block = bool(flags & _FLAG_BLOCK_MODEL)
    plan_id = int.from_bytes(data[9:17], "big")
    if plan_id != plan.identifier:
        raise StreamError(
            f"stream was written for plan 0x{plan_id:016x} but plan 0x{plan.identifier:016x} was given"
        )
    seed = int.from_bytes(data[17:25], "big")
    if seed >= SEED_LIMIT:
        raise StreamError(f"stream is malformed: seed {seed} is not below 2^62")
    item, num_items, num_blocks, num_bits = fields
    batched = bool(flags & _FLAG_BATCHED)
    if num_blocks != plan.num_blocks:
        raise StreamError(f"stream holds {num_blocks} blocks per item but the plan has {plan.num_blocks}")
    if num_items < 1 or (not batched and num_items != 1) or num_items * num_blocks > _MAX_INDICES:
        raise StreamError(f"stream is malformed: it declares {num_items} items")
    if item > _max_item(num_items, num_blocks):
        raise StreamError(f"stream is malformed: its first item {item} puts stream keys beyond 2^32 "
                          f"(at most {_max_item(num_items, num_blocks)} for {num_items} item(s))")
    if per_block:
        if code != "exponent":
            raise StreamError("stream is malformed: a delta stream carries a per-block exponent model")
        if offset_q or scale_q:
            raise StreamError("stream is malformed: a per-block exponent model with a global one beside it")
        table = data[header_end - 2 * num_blocks:header_end]
        offset_q = [b - 256 if b > 127 else b for b in table[0::2]]
        scale_q = list(table[1::2])
        if min(scale_q) == 0:
            raise StreamError("stream is malformed: an exponent model scale is 0")
    elif code == "exponent":
        offset_q = offset_q - 256 if offset_q > 127 else offset_q
        if scale_q == 0:
            raise StreamError("stream is malformed: exponent model scale is 0")
    elif offset_q or scale_q:
        raise StreamError(f"stream is malformed: a {code} stream carries exponent model parameters")
    payload = data[header_end:-_CRC_BYTES]
    if num_bits % 8 and payload[-1] & ((1 << (8 - num_bits % 8)) - 1):
        raise StreamError("stream is malformed: the payload's padding bits are not zero")
    try:
        flat = _decode_payload(payload, num_bits, plan, num_items, code, offset_q, scale_q)
    except (StreamError, KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: B036 -- a Rust panic in the decoder is a BaseException
        raise StreamError(f"stream payload is malformed ({code} code): {error}") from None
    indices = flat.reshape(num_items, num_blocks) if batched else flat
    if per_block:
        model = (np.array(offset_q, dtype=np.float64) / _STEP, np.array(scale_q, dtype=np.float64) / _STEP)
    else:
        model = (offset_q / _STEP, scale_q / _STEP) if code == "exponent" else (0.0, 0.0)
    return StreamContents(seed, indices, item, code, num_bits, model)


def _decode_payload(payload, num_bits, plan, num_items, code, offset_q, scale_q):
    count = num_items * plan.num_blocks
    if code in ("two-part", "zeta"):
        try:
            out, used = read_indices(payload, code, plan_block_codes(plan, num_items, code), num_bits)
        except ValueError as error:
            raise StreamError(f"stream payload is malformed ({code} code): {error}") from None
        if used != num_bits:
            raise StreamError(f"stream payload is malformed: {num_bits - used} bits left after the last index")
        return out
    out = np.empty(count, dtype=np.int64)
    if code == "delta":
        reader = BitReader(payload, num_bits)
        for i in range(count):
            m = read_delta(reader)
            if m > INDEX_LIMIT:
                raise StreamError(f"stream payload is malformed: index {i} is not below 2^63")
            out[i] = m - 1
    else:
        num_words, pos = _read_varint(payload, 0, "word count")
        if num_words is None or 8 * pos + 32 * num_words > num_bits:
            raise StreamError("stream payload is malformed: exponent word count exceeds the payload")
        words = np.frombuffer(payload[pos:pos + 4 * num_words], dtype=">u4").astype(np.uint32)
        decoder = constriction.stream.queue.RangeDecoder(words)
        exponents = decoder.decode(_EXPONENT_FAMILY, *_model_params(plan, num_items, offset_q, scale_q))
        reader = BitReader(payload[pos + 4 * num_words:], num_bits - 8 * pos - 32 * num_words)
        for i, e in enumerate(exponents.tolist()):
            if not 0 <= e <= _MAX_EXPONENT:
                raise StreamError(f"stream payload is malformed: exponent {e} out of range")
            m = (1 << e) | reader.read_bits(e)
            if m > INDEX_LIMIT:
                raise StreamError(f"stream payload is malformed: index {i} is not below 2^63")
            out[i] = m - 1
    if reader.bits_left:
        raise StreamError(f"stream payload is malformed: {reader.bits_left} bits left after the last index")
    return out
