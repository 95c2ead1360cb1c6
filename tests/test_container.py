"""Bitstream container: round trips, exact bit accounting, the exponent code, and fuzzing."""

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recnumba.blocks import BlockPlan
from recnumba.coding.elias import delta_length
from recnumba.container import (
    FORMAT_VERSION,
    _varint,
    StreamError,
    code_report,
    fit_exponent_model,
    payload_bits,
    read_stream,
    write_stream,
)

CODES = ["delta", "exponent"]


@pytest.fixture(scope="module")
def plan():
    info = np.random.default_rng(0).uniform(0.0, 3.0, 24)
    return BlockPlan.build(info, 12.0, seed=1)


@pytest.fixture(scope="module")
def plan48():
    """8 blocks of 48 bits (48 dimensions of 6 bits): what large partitioned ORC blocks look like."""
    return BlockPlan.build(np.full(64, 6.0), 48.0, seed=2)


def _rec_like_indices(plan, num_items, seed, spread=2.5):
    """Indices with log2(n + 1) ~ nominal KL + noise, as REC produces (notes section 3)."""
    rng = np.random.default_rng(seed)
    log2m = plan.nominal_bits + rng.normal(-0.5, spread, (num_items, plan.num_blocks))
    return np.floor(np.exp2(np.clip(log2m, 0, 62))).astype(np.int64) - 1 + rng.integers(0, 2, log2m.shape)


def _header_bytes(stream, num_bits):
    return len(stream) - (num_bits + 7) // 8 - 4


@pytest.mark.parametrize("code", CODES)
def test_round_trip_one_item_and_batches(plan, code):
    rng = np.random.default_rng(1)
    extremes = np.array([0, 1, 2**62, 2**63 - 1] + [7] * (plan.num_blocks - 4), dtype=np.int64)
    for indices, item in [
        (extremes, 0),
        (_rec_like_indices(plan, 1, 3)[0], 123456),
        (_rec_like_indices(plan, 17, 4), 2**32 // plan.num_blocks - 17),  # the last items whose keys fit
        (rng.integers(0, 2**40, (3, plan.num_blocks)), 5),
    ]:
        stream = write_stream(indices, plan, 2**62 - 1, code=code, item=item)
        got = read_stream(stream, plan)
        assert got.seed == 2**62 - 1 and got.item == item and got.code == code
        assert got.indices.dtype == np.int64 and got.indices.shape == np.shape(indices)
        assert np.array_equal(got.indices, indices)
        # reported bits are the bits written; the stream holds exactly header + payload + CRC
        assert got.payload_bits == payload_bits(indices, plan, code)
        assert _header_bytes(stream, got.payload_bits) == 25 + len(_varints(item, indices, plan))
        if code == "delta":
            assert got.payload_bits == sum(delta_length(int(n) + 1) for n in np.ravel(indices))


def _varints(item, indices, plan):
    n_items = 1 if np.ndim(indices) == 1 else len(indices)
    return _varint(item) + _varint(n_items) + _varint(plan.num_blocks) + _varint(payload_bits(indices, plan))


def test_header_layout_is_stable(plan):
    stream = write_stream(np.arange(plan.num_blocks), plan, 7, code="delta", item=3)
    assert stream[:9] == b"RECN" + bytes([FORMAT_VERSION, 1, 0, 0, 0])
    assert int.from_bytes(stream[9:17], "big") == plan.identifier
    assert int.from_bytes(stream[17:25], "big") == 7
    assert int.from_bytes(stream[-4:], "big") == zlib.crc32(stream[:-4])
    exp = write_stream(np.arange(plan.num_blocks), plan, 7, code="exponent", exponent_offset=-1.25,
                       exponent_scale=2.5)
    assert exp[5:9] == bytes([2, 0, 256 - 10, 20])
    assert read_stream(exp, plan).exponent_model == (-1.25, 2.5)


def test_exponent_code_beats_delta_on_large_blocks(plan48):
    indices = _rec_like_indices(plan48, 64, 5)
    report = code_report(indices, plan48)
    assert report.zeta_bits == payload_bits(indices, plan48, "zeta")
    assert report.two_part_bits == payload_bits(indices, plan48, "two-part")
    assert report.zeta_bits < report.two_part_bits < report.delta_bits  # 48-bit partitioned blocks
    per_index = lambda bits: (bits - report.ideal_bits) / report.num_indices  # noqa: E731
    # Elias delta pays ~2 log2 log2 n (~11 bits at 48 bits); the exponent code ~3 bits
    assert 10.0 < per_index(report.delta_bits) < 12.0
    assert per_index(report.exponent_bits) < 4.0
    assert report.delta_bits - report.exponent_bits > 6.0 * report.num_indices
    word_count = _varint(report.exponent_range_bits // 32)
    assert report.exponent_bits == 8 * len(word_count) + report.exponent_range_bits + report.mantissa_bits
    # ... and per item, one stream each, despite the range coder's final words
    one = code_report(indices[0], plan48)
    assert one.exponent_bits < one.delta_bits - 20
    stream_e = write_stream(indices[0], plan48, 1, code="exponent")
    stream_d = write_stream(indices[0], plan48, 1, code="delta")
    assert len(stream_e) < len(stream_d)
    for stream in (stream_e, stream_d):
        assert np.array_equal(read_stream(stream, plan48).indices, indices[0])


def test_fit_exponent_model_recovers_the_spread(plan48):
    indices = _rec_like_indices(plan48, 400, 6, spread=1.5)
    offset, scale = fit_exponent_model(indices, plan48)
    assert -1.5 <= offset <= -0.5 and 1.25 <= scale <= 1.875
    fitted = code_report(indices, plan48, exponent_offset=offset, exponent_scale=scale)
    default = code_report(indices, plan48)
    assert fitted.exponent_bits < default.exponent_bits
    stream = write_stream(indices, plan48, 3, code="exponent", exponent_offset=offset, exponent_scale=scale)
    assert np.array_equal(read_stream(stream, plan48).indices, indices)


def test_outlying_exponents_still_round_trip(plan48):
    indices = np.zeros((2, plan48.num_blocks), dtype=np.int64)  # e = 0, far below a 48-bit nominal
    indices[1] = 2**63 - 1  # e = 63, far above
    stream = write_stream(indices, plan48, 0, code="exponent")
    assert np.array_equal(read_stream(stream, plan48).indices, indices)


def test_clear_errors(plan, plan48):
    stream = write_stream(np.arange(plan.num_blocks), plan, 9)
    with pytest.raises(StreamError, match=r"not a recnumba stream \(bad magic\)"):
        read_stream(b"PNG!" + stream[4:], plan)
    with pytest.raises(StreamError, match="unsupported format version 7 \\(this recnumba reads versions 1, 2\\)"):
        read_stream(stream[:4] + b"\x07" + stream[5:], plan)
    with pytest.raises(StreamError, match=f"written for plan 0x{plan.identifier:016x} but plan "
                                          f"0x{plan48.identifier:016x} was given"):
        read_stream(stream, plan48)
    with pytest.raises(StreamError, match="CRC mismatch: the stream is corrupted"):
        read_stream(stream[:30] + bytes([stream[30] ^ 4]) + stream[31:], plan)
    with pytest.raises(StreamError, match="CRC mismatch"):
        read_stream(stream + stream, plan)  # two streams glued together
    for cut in range(len(stream)):
        with pytest.raises(StreamError, match="truncated"):
            read_stream(stream[:cut], plan)
    with pytest.raises(TypeError, match="bytes"):
        read_stream("RECN", plan)
    assert issubclass(StreamError, ValueError)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(indices=[1, 2]), "shape"),
        (dict(indices=-1), "shape"),
        (dict(code="gamma"), "code must be one of"),
        (dict(seed=2**62), "seed"),
        (dict(seed=-1), "seed"),
        (dict(item=-1), "item"),
        (dict(indices="neg"), "integers"),
        (dict(indices="float"), "integers"),
        (dict(code="exponent", exponent_scale=0.0), "exponent_scale"),
        (dict(code="exponent", exponent_offset=40.0), "exponent_offset"),
        (dict(code="exponent", exponent_offset=[0.0, 1.0]), "one offset and one scale per block"),
        (dict(code="exponent", exponent_scale=[[1.0]]), "one offset and one scale per block"),
        (dict(code="exponent", exponent_scale="wide"), "numbers of bits"),
    ],
)
def test_write_rejects_bad_input(plan, kwargs, message):
    args = dict(indices=np.arange(plan.num_blocks), seed=1)
    args.update(kwargs)
    if isinstance(args["indices"], str):
        args["indices"] = (-np.ones(plan.num_blocks, dtype=np.int64) if args["indices"] == "neg"
                           else np.ones(plan.num_blocks) * 0.5)
        message = "integers|\\[0, 2\\^63\\)"
    indices = args.pop("indices")
    with pytest.raises(ValueError, match=message):
        write_stream(indices, plan, **args)


# ------------------------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def sample_streams(plan):
    rng = np.random.default_rng(8)
    return [
        write_stream(rng.integers(0, 2**20, plan.num_blocks), plan, 5, code="delta", item=4),
        write_stream(_rec_like_indices(plan, 1, 9)[0], plan, 6, code="exponent"),
        write_stream(_rec_like_indices(plan, 3, 10), plan, 7, code="exponent", item=300),
        write_stream(_rec_like_indices(plan, 2, 12), plan, 8, code="exponent",
                     exponent_offset=np.linspace(-2, 1, plan.num_blocks), exponent_scale=2.0),
    ]


def test_every_single_bit_flip_is_detected(plan, sample_streams):
    for stream in sample_streams:
        for bit in range(8 * len(stream)):
            flipped = bytearray(stream)
            flipped[bit // 8] ^= 0x80 >> (bit % 8)
            with pytest.raises(StreamError):
                read_stream(bytes(flipped), plan)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_raise_stream_error(plan, data):
    with pytest.raises(StreamError):
        read_stream(data, plan)


@settings(max_examples=300)
@given(st.binary(min_size=0, max_size=120))
def test_random_bodies_behind_a_valid_header_raise_stream_error(plan, tail):
    data = b"RECN" + bytes([FORMAT_VERSION]) + tail
    with pytest.raises(StreamError):
        read_stream(data, plan)


@settings(max_examples=400)
@given(st.data())
def test_crafted_streams_with_valid_crc_never_crash(plan, sample_streams, data):
    """Mutations that re-seal the CRC: a StreamError or a consistent decode, never another exception."""
    stream = bytearray(data.draw(st.sampled_from(sample_streams)))
    body = stream[:-4]
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(5, len(body) - 1))
        body[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(5, len(body)))]
    crafted = bytes(body) + zlib.crc32(bytes(body)).to_bytes(4, "big")
    try:
        got = read_stream(crafted, plan)
    except StreamError:
        return
    # whatever decodes re-encodes to the same stream when the header was left intact
    if crafted[:25] == bytes(stream[:25]):
        assert got.indices.shape[-1] == plan.num_blocks
        assert np.all(got.indices >= 0)
        if got.code == "delta":
            assert write_stream(got.indices, plan, got.seed, code="delta", item=got.item) == crafted


def test_report_ideal_bits_is_sum_of_log2(plan48):
    indices = _rec_like_indices(plan48, 32, 11)
    r = code_report(indices, plan48)
    assert math.isclose(r.ideal_bits, float(np.log2(indices.astype(np.float64) + 1).sum()), rel_tol=1e-9)
    assert r.ideal_bits < r.exponent_bits < r.delta_bits


# ------------------------------------------------------------------------- format version 2


def _per_block_indices(plan, num_items, seed):
    """Blocks whose exponents sit at different offsets from their nominal KL (-6 .. +2 bits)."""
    rng = np.random.default_rng(seed)
    shift = np.linspace(-6.0, 2.0, plan.num_blocks)
    log2m = plan.nominal_bits + shift + rng.normal(0.0, 1.0, (num_items, plan.num_blocks))
    return np.floor(np.exp2(np.clip(log2m, 0, 62))).astype(np.int64)


def test_per_block_exponent_model_round_trips_and_pays_off(plan48):
    indices = _per_block_indices(plan48, 300, 13)
    offsets, scales = fit_exponent_model(indices, plan48, per_block=True)
    assert offsets.shape == scales.shape == (plan48.num_blocks,)
    assert np.all(np.diff(offsets) > 0) and np.all(scales < 1.5)  # it sees the per-block shift
    assert np.all(offsets * 8 == np.round(offsets * 8)) and np.all(scales * 8 == np.round(scales * 8))
    stream = write_stream(indices, plan48, 3, code="exponent", exponent_offset=offsets, exponent_scale=scales)
    got = read_stream(stream, plan48)
    assert np.array_equal(got.indices, indices)
    assert np.array_equal(got.exponent_model[0], offsets) and np.array_equal(got.exponent_model[1], scales)
    assert stream[4] == FORMAT_VERSION == 2 and stream[6] == 3 and stream[7:9] == b"\0\0"
    assert got.payload_bits == payload_bits(indices, plan48, "exponent", exponent_offset=offsets,
                                            exponent_scale=scales)
    # header: fixed part, varints, then 2 bytes per block
    varints = _varint(0) + _varint(300) + _varint(plan48.num_blocks) + _varint(got.payload_bits)
    assert _header_bytes(stream, got.payload_bits) == 25 + len(varints) + 2 * plan48.num_blocks
    one = fit_exponent_model(indices, plan48)
    single = write_stream(indices, plan48, 3, code="exponent", exponent_offset=one[0], exponent_scale=one[1])
    assert len(stream) < len(single) - 100  # ~3 bits per index saved, table included
    # a scalar broadcasts against a per-block array
    mixed = write_stream(indices, plan48, 3, code="exponent", exponent_offset=offsets, exponent_scale=1.0)
    assert np.array_equal(read_stream(mixed, plan48).exponent_model[1], np.ones(plan48.num_blocks))
    report = code_report(indices, plan48, exponent_offset=offsets, exponent_scale=scales)
    assert report.exponent_bits == got.payload_bits


def test_version_1_streams_are_still_read(plan):
    """A version 1 stream is the version 2 layout without flag bit 1 (the bytes a v1 writer made)."""
    for code in CODES:
        indices = _rec_like_indices(plan, 3, 14)
        v2 = write_stream(indices, plan, 5, code=code)
        body = v2[:4] + b"\x01" + v2[5:-4]
        v1 = body + zlib.crc32(body).to_bytes(4, "big")
        assert np.array_equal(read_stream(v1, plan).indices, indices)
    # ... but a version 1 stream cannot carry a per-block model
    per_block = write_stream(indices, plan, 5, code="exponent", exponent_offset=np.zeros(plan.num_blocks))
    body = per_block[:4] + b"\x01" + per_block[5:-4]
    with pytest.raises(StreamError, match="unknown flags 0x03 for format version 1"):
        read_stream(body + zlib.crc32(body).to_bytes(4, "big"), plan)


def test_malformed_per_block_tables_are_rejected(plan):
    indices = _rec_like_indices(plan, 2, 15)
    stream = bytearray(write_stream(indices, plan, 5, code="exponent", exponent_offset=np.zeros(plan.num_blocks)))
    table = len(stream) - 4 - (payload_bits(indices, plan, "exponent", exponent_offset=np.zeros(plan.num_blocks))
                               + 7) // 8 - 2 * plan.num_blocks

    def sealed(data):
        body = bytes(data[:-4])
        return body + zlib.crc32(body).to_bytes(4, "big")

    zero_scale = bytearray(stream)
    zero_scale[table + 1] = 0
    with pytest.raises(StreamError, match="scale is 0"):
        read_stream(sealed(zero_scale), plan)
    both = bytearray(stream)
    both[8] = 16
    with pytest.raises(StreamError, match="global one beside it"):
        read_stream(sealed(both), plan)
    delta = bytearray(write_stream(indices, plan, 5, code="delta"))
    delta[6] |= 2
    with pytest.raises(StreamError):
        read_stream(sealed(delta), plan)
