"""Per-item records: one header written once, then one compact record per item (an image, a datum).

A container stream (``recnumba.container``) carries about 35 bytes of header for about 17 bytes of
payload per item, which dominates at one image per file. Here what both sides share (block plan,
prior, seed, method, index code) goes into a :class:`RecordHeader` that the receiver loads once
(``to_bytes``/``from_bytes``, ``save``/``load``), and each item's record is only its payload plus one
check byte::

    record = payload (ceil(bits / 8) bytes, zero-padded) + CRC-8 (1 byte)

The payload is the item's block indices in plan order under the header's index code
(``recnumba.coding.index_codes``: "two-part" by default; "zeta" makes the record one arithmetic
stream). The record does not carry its item number: the receiver knows it (the record's position,
plus the ``first_item`` both sides use), and stream keys are ``item * num_blocks + block`` as in
``recnumba.dataset``. The check byte is CRC-8 (polynomial x^8 + x^2 + x + 1, 0x07) over the header's
identifier, the item number and the payload, so a record read against another header or as another
item fails it with probability 255/256.

What a corrupted record is detected as (tests/test_records.py measures it):

* the CRC-8 detects every error that flips an odd number of bits, every burst of up to 8 bits, and
  every 2- or 3-bit error in a record of up to 15 bytes (Hamming distance 4 up to 119 bits); any
  other corruption passes it with probability about 1/256;
* independently, the payload must decode to exactly its length: a prefix code must end in the last
  byte with zero padding, a zeta record (and any record with ``extra`` symbols) must be the
  canonical encoding of what it decodes to (it is re-encoded and compared), and every index must be
  in range. For prefix codes this rejects most truncations and appended bytes on its own; a zeta
  stream has almost no redundancy (most corrupted zeta streams are the canonical encoding of other
  values: ``recnumba.coding.zeta`` measures 70-76 % of single-bit flips accepted without a
  checksum), so there the check byte does the work.

A record that passes both is accepted: an 8-bit check cannot do better against forgery or
deliberate tampering (use a MAC over the bytes where that matters).

The header (``RecordHeader.to_bytes``) layout, integers big-endian::

    4 B   magic b"RECH"
    1 B   header version (1)
    1 B   index code id (``RECORD_CODES``)
    1 B   method id (0 pfr, 1 orc, 2 auto, 3 gprs)
    var   num_samples (LEB128 varint; 0 = none)
    8 B   seed
    var   prior family name length, then the name (ASCII: "Gaussian", "Laplace", "Uniform")
    var   dimension D, then 2 x D float64 little-endian (the prior's two parameter arrays)
    var   plan length, then the plan (``BlockPlan.to_bytes``, JSON with its own identifier)
    4 B   CRC32 of everything before it

``RecordHeader.identifier`` is the first 8 bytes of the SHA-256 of those bytes.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from dataclasses import dataclass

import numpy as np

from recnumba.blocks import BlockPlan
import constriction

from recnumba.coding.index_codes import check_index_code, read_indices, read_zeta_from, write_indices, zeta_segments_of
from recnumba.coding.trim import encode_segments, words_of
from recnumba.container import StreamError, _read_varint, _varint, plan_block_codes
from recnumba.families import Gaussian, Laplace, Uniform
from recnumba.families.base import Family
from recnumba.search.params import METHOD_NAMES
from recnumba.validation import BLOCK_LIMIT, check_indices, check_int, check_plan, check_seed

__all__ = [
    "RECORD_CODES",
    "RecordHeader",
    "RecordError",
    "write_record",
    "read_record",
    "write_records",
    "read_records",
    "pack_records",
    "unpack_records",
    "crc8",
    "record_bits",
    "encode_records",
    "decode_records",
]

HEADER_MAGIC = b"RECH"
HEADER_VERSION = 1
#: Index codes a record may use, and their header ids (the container's exponent code is not one:
#: its 32-bit words are what records avoid; "zeta" is its per-record successor).
RECORD_CODES = {"delta": 1, "gamma": 2, "omega": 3, "fixed": 4, "two-part": 5, "zeta": 6}
_CODE_NAMES = {v: k for k, v in RECORD_CODES.items()}
#: Method ids in the header: the search's own ids, and 1-D GPRS (``method="gprs"``, per-dimension plans).
RECORD_METHODS = {**METHOD_NAMES, "gprs": 3}
_METHOD_NAMES = {v: k for k, v in RECORD_METHODS.items()}
_FAMILIES = {cls.__name__: cls for cls in (Gaussian, Laplace, Uniform)}
_MAX_DIM = 1 << 24


class RecordError(StreamError):
    """A record or record header is corrupted, truncated or read against the wrong header/item."""


def _crc8_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return bytes(table)


_CRC8 = _crc8_table()


def crc8(data, crc=0):
    """CRC-8 (polynomial 0x07, initial value ``crc``, no reflection, no final xor) of ``data``."""
    table = _CRC8
    for byte in bytes(data):
        crc = table[crc ^ byte]
    return crc


@dataclass(frozen=True, eq=False)
class RecordHeader:
    """Everything a receiver needs besides the records: plan, prior, seed, method and index code.

    Parameters
    ----------
    plan : BlockPlan
    prior : Gaussian, Laplace or Uniform, shape (D,) with D = plan.dim
    seed : int in [0, 2^62)
    code : index code name (``RECORD_CODES``), default "two-part"
    method : "pfr", "orc" or "auto" (what the sender ran; the receiver needs ``num_samples`` only to
        reject indices an ORC budget cannot produce)
    num_samples : int or None, ORC's budget
    """

    plan: BlockPlan
    prior: Family
    seed: int
    code: str = "two-part"
    method: str = "orc"
    num_samples: int | None = None

    def __post_init__(self):
        check_plan(self.plan)
        if not isinstance(self.prior, Family):
            raise TypeError(f"prior must be a Gaussian, Laplace or Uniform distribution; got {type(self.prior).__name__}")
        if type(self.prior).__name__ not in _FAMILIES:
            raise ValueError(f"prior family {type(self.prior).__name__} cannot be stored in a record header "
                             f"(known: {sorted(_FAMILIES)})")
        if self.prior.shape != (self.plan.dim,):
            raise ValueError(f"prior must have shape ({self.plan.dim},) (the plan's dimension, one prior for every "
                             f"item); got {self.prior.shape}")
        object.__setattr__(self, "seed", check_seed(self.seed))
        if not isinstance(self.method, str) or self.method not in RECORD_METHODS:
            raise ValueError(f'method must be "pfr", "orc", "auto" or "gprs"; got {self.method!r:.80}')
        if self.num_samples is not None:
            object.__setattr__(self, "num_samples", check_int(self.num_samples, "num_samples", minimum=1))
        budget = self.num_samples if self.method == "orc" else 0
        check_index_code(self.code, budget or 0)
        if self.code not in RECORD_CODES:  # pragma: no cover - RECORD_CODES lists every index code
            raise ValueError(f"code must be one of {list(RECORD_CODES)}; got {self.code!r}")
        blocks = plan_block_codes(self.plan, 1, self.code)
        if self.code == "fixed":
            blocks = [b._replace(num_samples=int(self.num_samples)) for b in blocks]
        object.__setattr__(self, "_blocks", blocks)
        object.__setattr__(self, "_bytes", self._serialise())
        object.__setattr__(self, "identifier", int.from_bytes(hashlib.sha256(self._bytes).digest()[:8], "big"))

    # ------------------------------------------------------------------ bytes

    def _serialise(self):
        name = type(self.prior).__name__.encode("ascii")
        first, second = self.prior.params
        body = (
            HEADER_MAGIC
            + bytes([HEADER_VERSION, RECORD_CODES[self.code], RECORD_METHODS[self.method]])
            + _varint(self.num_samples or 0)
            + int(self.seed).to_bytes(8, "big")
            + _varint(len(name)) + name
            + _varint(self.plan.dim)
            + np.ascontiguousarray(first, dtype="<f8").tobytes()
            + np.ascontiguousarray(second, dtype="<f8").tobytes()
        )
        plan = self.plan.to_bytes()
        body += _varint(len(plan)) + plan
        return body + zlib.crc32(body).to_bytes(4, "big")

    def to_bytes(self):
        """The header as bytes (layout in the module docstring)."""
        return self._bytes

    @classmethod
    def from_bytes(cls, data):
        """Read a header written by :meth:`to_bytes`; RecordError if it is not one or is corrupted."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes; got {type(data).__name__}")
        data = bytes(data)
        if data[:4] != HEADER_MAGIC:
            raise RecordError("not a recnumba record header (bad magic)")
        if len(data) < 12:
            raise RecordError(f"record header truncated: {len(data)} bytes")
        if data[4] != HEADER_VERSION:
            raise RecordError(f"unsupported record header version {data[4]} (this recnumba reads {HEADER_VERSION})")
        if zlib.crc32(data[:-4]) != int.from_bytes(data[-4:], "big"):
            raise RecordError("record header CRC mismatch: it is corrupted or truncated")
        try:
            code, method = _CODE_NAMES[data[5]], _METHOD_NAMES[data[6]]
        except KeyError:
            raise RecordError(f"record header is malformed: unknown code id {data[5]} or method id {data[6]}") from None
        num_samples, pos = _field(data, 7, "num_samples")
        seed = int.from_bytes(data[pos:pos + 8], "big")
        length, pos = _field(data, pos + 8, "family name length")
        name = data[pos:pos + length].decode("ascii", errors="replace")
        if name not in _FAMILIES:
            raise RecordError(f"record header is malformed: unknown prior family {name!r}")
        dim, pos = _field(data, pos + length, "dimension")
        if not 1 <= dim <= _MAX_DIM or pos + 16 * dim > len(data) - 4:
            raise RecordError(f"record header is malformed: prior dimension {dim}")
        params = np.frombuffer(data[pos:pos + 16 * dim], dtype="<f8").astype(np.float64).reshape(2, dim)
        length, pos = _field(data, pos + 16 * dim, "plan length")
        if pos + length != len(data) - 4:
            raise RecordError("record header is malformed: the plan's length does not match the header's")
        try:
            plan = BlockPlan.from_bytes(data[pos:pos + length])
            header = cls(plan, _FAMILIES[name](params[0], params[1]), seed, code, method, num_samples or None)
        except ValueError as error:
            raise RecordError(f"record header is malformed: {error}") from None
        if header.to_bytes() != data:
            raise RecordError("record header is not in canonical form (it was not written by to_bytes)")
        return header

    def save(self, path):
        """Write the header to ``path``."""
        with open(os.fspath(path), "wb") as handle:
            handle.write(self._bytes)

    @classmethod
    def load(cls, path):
        """Read a header written by :meth:`save`."""
        with open(os.fspath(path), "rb") as handle:
            return cls.from_bytes(handle.read())

    def __eq__(self, other):
        return isinstance(other, RecordHeader) and self._bytes == other._bytes

    def __hash__(self):
        return hash(self._bytes)

    def __repr__(self):
        return (f"RecordHeader(code={self.code!r}, method={self.method!r}, num_samples={self.num_samples}, "
                f"seed={self.seed}, prior={self.prior!r}, plan=0x{self.plan.identifier:016x}, "
                f"{len(self._bytes)} bytes)")


def _field(data, pos, what):
    value, end = _read_varint(data, pos, what)
    if value is None:
        raise RecordError(f"record header truncated in its {what} field")
    return value, end


def _check_header(header):
    if not isinstance(header, RecordHeader):
        raise TypeError(f"header must be a RecordHeader; got {type(header).__name__}")
    return header


def _check_item(item, header):
    item = check_int(item, "item", minimum=0)
    limit = BLOCK_LIMIT // header.plan.num_blocks
    if item >= limit:
        raise ValueError(f"item must be below {limit} (stream keys item x {header.plan.num_blocks} + block stay below "
                         f"2^32); got {item}. Start a new seed for more items")
    return item


def _check_byte(header, item, payload):
    return crc8(header.identifier.to_bytes(8, "big") + int(item).to_bytes(8, "big") + payload)


# ---------------------------------------------------------------------------- one record


def write_record(indices, header, item, extra=()):
    """One item's record (bytes): its (num_blocks,) indices under the header's code, plus a check byte.

    ``item`` is the item's number (>= 0; the stream keys ``item * num_blocks + block`` the encoder
    used, as ``recnumba.encode_dataset``'s ``first_item + i``). ``extra``: more of the item's
    symbols to range-code after the indices (any code), as
    ``[(model, params, symbols), ...]`` with a constriction model, its per-symbol parameter arrays
    and int32 symbols, e.g. an image's pixels under a decoder's probabilities given the latents.
    With ``code="zeta"`` they share the indices' range coder (one termination); with a prefix code
    their trimmed range-coded stream follows the indices' bits. Either way the item costs one byte
    of padding and one check byte in all.
    """
    header = _check_header(header)
    item = _check_item(item, header)
    values = check_indices(indices, "indices")
    if values.shape != (header.plan.num_blocks,):
        raise ValueError(f"indices must have shape ({header.plan.num_blocks},) (one per block of the plan); "
                         f"got {values.shape}")
    payload = _payload(values, header, list(extra))
    return payload + bytes([_check_byte(header, item, payload)])


def _payload(values, header, extra):
    if not extra:
        return write_indices(values, header.code, header._blocks)[0]
    if header.code == "zeta":  # indices and extra symbols in one range coder: one termination
        return encode_segments(zeta_segments_of(values, header._blocks) + extra)[0]
    head, head_bits = write_indices(values, header.code, header._blocks)  # a prefix code, then the stream
    tail, tail_bits = encode_segments(extra)
    return _join_bits(head, head_bits, tail, tail_bits)


def _join_bits(head, head_bits, tail, tail_bits):
    """head's first head_bits bits, then tail's first tail_bits bits, zero-padded to whole bytes."""
    total = head_bits + tail_bits
    value = (int.from_bytes(head, "big") >> (8 * len(head) - head_bits) << tail_bits) | (
        int.from_bytes(tail, "big") >> (8 * len(tail) - tail_bits))
    return (value << (-total % 8)).to_bytes((total + 7) // 8, "big")


def _bits_after(data, start):
    """data's bits from bit ``start`` on, as bytes (zero-padded)."""
    total = 8 * len(data)
    value = int.from_bytes(data, "big") & ((1 << (total - start)) - 1)
    return (value << (start % 8)).to_bytes(len(data) - start // 8, "big") if total > start else b""


def record_bits(record):
    """Bits a record occupies (8 x its length, check byte included)."""
    return 8 * len(record)


def read_record(record, header, item, extra=None):
    """The (num_blocks,) int64 indices of one record; RecordError if it fails its checks.

    ``extra``: for a record written with extra symbols, a function ``extra(indices) -> [(model,
    params), ...]`` giving their models once the indices are known (e.g. decode the latents, run the
    decoder network, return the pixel model); then ``(indices, [symbols, ...])`` is returned.
    """
    header = _check_header(header)
    item = _check_item(item, header)
    if not isinstance(record, (bytes, bytearray, memoryview)):
        raise TypeError(f"record must be bytes; got {type(record).__name__}")
    record = bytes(record)
    if not record:
        raise RecordError(f"record of item {item} is empty (it needs at least its check byte)")
    payload = record[:-1]
    if _check_byte(header, item, payload) != record[-1]:
        raise RecordError(f"record of item {item} fails its check byte: corrupted, or read with another header "
                          "or item number")
    if extra is not None:
        return _read_with_extra(payload, header, item, extra)
    try:
        indices, used = read_indices(payload, header.code, header._blocks)
    except ValueError as error:
        raise RecordError(f"record of item {item} is malformed: {error}") from None
    if (used + 7) // 8 != len(payload):
        raise RecordError(f"record of item {item} is malformed: {8 * len(payload) - used} bits after its last index")
    if used % 8 and payload[-1] & ((1 << (8 - used % 8)) - 1):
        raise RecordError(f"record of item {item} is malformed: its padding bits are not zero")
    if header.num_samples and header.method == "orc":
        limits = np.array([header.num_samples * blk.partition.num_bins for blk in header.plan.blocks], dtype=object)
        if np.any(indices.astype(object) >= limits):
            raise RecordError(f"record of item {item} is malformed: an index is beyond the ORC budget")
    return indices


def _read_with_extra(payload, header, item, extra):
    try:
        if header.code == "zeta":
            decoder = constriction.stream.queue.RangeDecoder(words_of(payload))
            indices = read_zeta_from(decoder, header._blocks)
        else:
            indices, used = read_indices(payload, header.code, header._blocks)
            decoder = constriction.stream.queue.RangeDecoder(words_of(_bits_after(payload, used)))
    except ValueError as error:
        raise RecordError(f"record of item {item} is malformed: {error}") from None
    models = list(extra(indices))
    try:
        symbols = [np.asarray(decoder.decode(model, *params)) for model, params in models]
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as error:  # noqa: B036 -- constriction's InvalidData, or a Rust panic
        raise RecordError(f"record of item {item} is malformed: its extra symbols do not decode ({error})") from None
    canonical = _payload(indices, header, [(model, params, s) for (model, params), s in zip(models, symbols)])
    if canonical != payload:
        raise RecordError(f"record of item {item} is malformed: not the canonical encoding of what it decodes to")
    return indices, symbols


# ---------------------------------------------------------------------------- many records


def write_records(indices, header, first_item=0):
    """``list[bytes]``: one record per row of ``indices`` (N, num_blocks), items first_item, first_item+1..."""
    header = _check_header(header)
    values = check_indices(indices, "indices")
    if values.ndim != 2 or values.shape[1] != header.plan.num_blocks:
        raise ValueError(f"indices must have shape (N, {header.plan.num_blocks}); got {values.shape}")
    first_item = check_int(first_item, "first_item", minimum=0)
    if values.shape[0]:
        _check_item(first_item + values.shape[0] - 1, header)
    return [write_record(row, header, first_item + i) for i, row in enumerate(values)]


def read_records(records, header, first_item=0):
    """(N, num_blocks) int64 indices of ``records`` (a list of bytes), items first_item, first_item+1..."""
    header = _check_header(header)
    if isinstance(records, (bytes, bytearray, memoryview, str)) or not hasattr(records, "__iter__"):
        raise TypeError("records must be a list of bytes (one record per item)")
    first_item = check_int(first_item, "first_item", minimum=0)
    rows = [read_record(r, header, first_item + i) for i, r in enumerate(records)]
    if not rows:
        return np.empty((0, header.plan.num_blocks), dtype=np.int64)
    return np.stack(rows)


def pack_records(records):
    """Concatenate records into one bytes object, each preceded by its length (LEB128 varint)."""
    out = bytearray()
    for i, record in enumerate(records):
        if not isinstance(record, (bytes, bytearray, memoryview)):
            raise TypeError(f"records[{i}] must be bytes; got {type(record).__name__}")
        out += _varint(len(record)) + bytes(record)
    return bytes(out)


def unpack_records(data):
    """Split what :func:`pack_records` wrote back into a list of records."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"data must be bytes; got {type(data).__name__}")
    data, pos, out = bytes(data), 0, []
    while pos < len(data):
        length, pos = _read_varint(data, pos, "record length")
        if length is None or pos + length > len(data):
            raise RecordError(f"packed records truncated in record {len(out)}")
        out.append(data[pos:pos + length])
        pos += length
    return out


# ---------------------------------------------------------------------------- datasets


def encode_records(targets, header, *, first_item=0, **encode_options):
    """Encode N posteriors with the header's plan, prior, seed, method and budget; one record each.

    Returns ``(records, encoding)``: a list of N bytes and the ``recnumba.dataset.DatasetEncoding``.
    ``encode_options`` (``weights``, ``max_steps``, ``exact_bound_bits``, ``chunk``, ``progress``,
    ``backend``) go to ``recnumba.encode_dataset``; method, num_samples and seed come from the header.
    """
    from recnumba.dataset import encode_dataset

    header = _check_header(header)
    for name in ("method", "num_samples", "seed", "plan", "prior"):
        if name in encode_options:
            raise ValueError(f"{name} comes from the header; build a RecordHeader with the {name} you want")
    encoding = encode_dataset(targets, header.prior, header.plan, header.seed, method=header.method,
                              num_samples=header.num_samples, first_item=first_item, **encode_options)
    return write_records(encoding.indices, header, encoding.first_item), encoding


def decode_records(records, header, *, first_item=0, chunk=None, progress=False, backend="cpu"):
    """Samples (N, D) from records written by :func:`encode_records` (bit-identical to the sender's)."""
    from recnumba.dataset import decode_dataset

    indices = read_records(records, header, first_item)
    num_samples = header.num_samples if header.method == "orc" else None
    return decode_dataset(indices, header.prior, header.plan, header.seed, first_item=first_item,
                          num_samples=num_samples, chunk=chunk, progress=progress, backend=backend,
                          method="gprs" if header.method == "gprs" else None)
