"""Per-item records (recnumba.records): header round trip, record round trips for every code, bits
against the payload, and what corruption the check byte and the decode checks catch."""

import itertools

import numpy as np
import pytest

import recnumba as rn
from recnumba.records import (
    RECORD_CODES,
    RecordError,
    RecordHeader,
    crc8,
    decode_records,
    encode_records,
    pack_records,
    read_record,
    read_records,
    unpack_records,
    write_record,
    write_records,
)

DIM = 24


@pytest.fixture(scope="module")
def plan():
    return rn.BlockPlan.build(np.random.default_rng(0).uniform(0.5, 2.5, DIM), 12.0, seed=1)


@pytest.fixture(scope="module")
def prior():
    return rn.Gaussian(np.linspace(-0.5, 0.5, DIM), np.linspace(0.8, 1.2, DIM))


def _header(plan, prior, code="two-part", **kw):
    kw.setdefault("method", "orc")
    kw.setdefault("num_samples", 1 << 12)
    return RecordHeader(plan, prior, 5, code=code, **kw)


def _indices(plan, count, seed):
    """Indices with log2(n + 1) near each block's planned information, as REC produces."""
    rng = np.random.default_rng(seed)
    bits = plan.nominal_bits[None, :] + rng.normal(0, 1.5, (count, plan.num_blocks))
    limits = np.array([(1 << 12) * blk.partition.num_bins for blk in plan.blocks])
    return np.minimum(np.exp2(np.clip(bits, 0, 40)).astype(np.int64), limits - 1)


def test_crc8_check_value():
    assert crc8(b"123456789") == 0xF4  # CRC-8/SMBUS (poly 0x07, init 0) check value


@pytest.mark.parametrize("code", sorted(RECORD_CODES))
def test_header_round_trip(plan, prior, code, tmp_path):
    header = _header(plan, prior, code)
    again = RecordHeader.from_bytes(header.to_bytes())
    assert again == header and again.identifier == header.identifier
    assert again.prior.params[0].tobytes() == prior.params[0].tobytes()
    path = tmp_path / "h.rech"
    header.save(path)
    assert RecordHeader.load(path) == header
    assert _header(plan, prior, code, num_samples=1 << 13) != header


def test_header_corruption_is_detected(plan, prior):
    data = _header(plan, prior).to_bytes()
    for bit in range(0, 8 * len(data), 7):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 0x80 >> (bit % 8)
        with pytest.raises(RecordError):
            RecordHeader.from_bytes(bytes(flipped))
    for cut in range(0, len(data), 5):
        with pytest.raises(RecordError):
            RecordHeader.from_bytes(data[:cut])


@pytest.mark.parametrize("code", sorted(RECORD_CODES))
def test_records_round_trip_and_bits(plan, prior, code):
    header = _header(plan, prior, code)
    indices = _indices(plan, 50, 3)
    records = write_records(indices, header, first_item=10)
    assert np.array_equal(read_records(records, header, first_item=10), indices)
    blocks = header._blocks
    for row, record in zip(indices, records):
        _, bits = rn.coding.index_codes.write_indices(row, code, blocks)
        assert len(record) == (bits + 7) // 8 + 1  # payload plus one check byte, nothing else
    assert unpack_records(pack_records(records)) == records


def test_two_part_and_zeta_records_are_shorter_than_delta(plan, prior):
    indices = _indices(plan, 200, 4)
    sizes = {code: np.mean([len(r) for r in write_records(indices, _header(plan, prior, code))])
             for code in ("delta", "two-part", "zeta")}
    assert sizes["two-part"] < sizes["delta"] and sizes["zeta"] < sizes["delta"]


def test_encode_and_decode_records(plan, prior):
    rng = np.random.default_rng(6)
    scale = np.full((7, DIM), 0.3) * prior.scale
    targets = rn.Gaussian(prior.loc + rng.normal(0, 0.6, (7, DIM)) * prior.scale, scale)
    for code in ("two-part", "zeta"):
        header = _header(plan, prior, code)
        records, enc = encode_records(targets, header, first_item=4)
        back = RecordHeader.from_bytes(header.to_bytes())
        assert decode_records(records, back, first_item=4).tobytes() == enc.samples.tobytes()
        with pytest.raises(RecordError, match="check byte"):
            decode_records(records, back, first_item=5)  # read as the wrong items


def test_a_record_read_with_another_header_fails(plan, prior):
    indices = _indices(plan, 1, 5)[0]
    record = write_record(indices, _header(plan, prior), 0)
    other = RecordHeader(plan, prior, 6)  # another seed
    failures = 0
    for item in range(200):
        try:
            read_record(write_record(indices, _header(plan, prior), item), other, item)
        except RecordError:
            failures += 1
    assert failures >= 190  # 255/256 expected
    assert np.array_equal(read_record(record, _header(plan, prior), 0), indices)


def _accepted(record, header, item):
    try:
        read_record(record, header, item)
    except RecordError:
        return False
    return True


@pytest.mark.parametrize("code", ["delta", "two-part", "zeta"])
def test_every_single_bit_flip_truncation_and_junk_is_detected(plan, prior, code):
    header = _header(plan, prior, code)
    for item, row in enumerate(_indices(plan, 12, 7)):
        record = write_record(row, header, item)
        for bit in range(8 * len(record)):
            flipped = bytearray(record)
            flipped[bit // 8] ^= 0x80 >> (bit % 8)
            assert not _accepted(bytes(flipped), header, item)
        for cut in range(len(record)):
            assert not _accepted(record[:cut], header, item)
        for junk in (b"\x00", b"\xff", record):
            assert not _accepted(record + junk, header, item)


def test_every_two_and_three_bit_error_of_a_short_record_is_detected(plan, prior):
    """CRC-8 (0x07) has Hamming distance 4 up to 119 data bits: every 2- and 3-bit error of a record
    of at most 15 bytes is caught by the check byte alone."""
    header = _header(plan, prior, "two-part")
    record = write_record(_indices(plan, 1, 8)[0], header, 3)
    assert len(record) <= 15
    nbits = 8 * len(record)
    for flips in itertools.chain(itertools.combinations(range(nbits), 2),
                                 itertools.islice(itertools.combinations(range(nbits), 3), 0, None, 7)):
        damaged = bytearray(record)
        for bit in flips:
            damaged[bit // 8] ^= 0x80 >> (bit % 8)
        payload = bytes(damaged[:-1])
        assert crc8(header.identifier.to_bytes(8, "big") + (3).to_bytes(8, "big") + payload) != damaged[-1]


@pytest.mark.parametrize("code", ["two-part", "zeta"])
def test_random_bursts_are_accepted_at_most_at_the_8_bit_rate(plan, prior, code):
    """Random byte bursts: an 8-bit check passes about 1/256 of them; the decode checks (prefix code
    ending in the last byte, canonical zeta stream) reject most of those too."""
    header = _header(plan, prior, code)
    rng = np.random.default_rng(9)
    rows = _indices(plan, 40, 10)
    trials = accepted = 0
    for item, row in enumerate(rows):
        record = write_record(row, header, item)
        for _ in range(100):
            damaged = bytearray(record)
            pos = int(rng.integers(0, len(record)))
            for k in range(min(int(rng.integers(1, 5)), len(record) - pos)):
                damaged[pos + k] ^= int(rng.integers(1, 256))
            trials += 1
            accepted += _accepted(bytes(damaged), header, item)
    # binomial(4000, 1/256) has mean 15.6 and exceeds 30 with probability < 1e-3
    assert accepted <= 30, (accepted, trials)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(code="exponent"), ValueError, "code must be one of"),
    (dict(code="fixed", method="pfr", num_samples=None), ValueError, "fixed"),
    (dict(method="fast"), ValueError, "method"),
    (dict(num_samples=0), ValueError, "num_samples"),
])
def test_header_bad_arguments(plan, prior, kwargs, error, message):
    with pytest.raises(error, match=message):
        _header(plan, prior, **kwargs)


def test_header_needs_a_plan_and_a_matching_prior(plan, prior):
    with pytest.raises(TypeError, match="plan"):
        RecordHeader(None, prior, 1)
    with pytest.raises(TypeError, match="prior"):
        RecordHeader(plan, (0, 1), 1)
    with pytest.raises(ValueError, match="shape"):
        RecordHeader(plan, rn.Gaussian(np.zeros(DIM + 1), np.ones(DIM + 1)), 1)
    with pytest.raises(ValueError, match="seed"):
        RecordHeader(plan, prior, -1)


def test_record_bad_arguments(plan, prior):
    header = _header(plan, prior)
    good = _indices(plan, 1, 1)[0]
    with pytest.raises(ValueError, match="shape"):
        write_record(good[:-1], header, 0)
    with pytest.raises(ValueError, match="item"):
        write_record(good, header, -1)
    with pytest.raises(ValueError, match="item must be below"):
        write_record(good, header, 2**40)
    with pytest.raises(TypeError, match="header"):
        write_record(good, None, 0)
    with pytest.raises(TypeError, match="record must be bytes"):
        read_record("abc", header, 0)
    with pytest.raises(RecordError, match="empty"):
        read_record(b"", header, 0)
    with pytest.raises(TypeError, match="list of bytes"):
        read_records(b"abc", header)
    with pytest.raises(ValueError, match="comes from the header"):
        encode_records(rn.Gaussian(np.zeros((1, DIM)), np.ones((1, DIM))), header, num_samples=4)


@pytest.mark.parametrize("code", ["zeta", "two-part", "fixed"])
def test_records_with_extra_symbols_in_the_same_stream(plan, prior, code):
    """An item's other symbols (an image given its latents) in the record: one padding, one check byte."""
    import constriction

    header = _header(plan, prior, code)
    bernoulli = constriction.stream.model.Bernoulli(perfect=False)
    rng = np.random.default_rng(12)
    saved = []
    for item, row in enumerate(_indices(plan, 20, 13)):
        probabilities = np.clip(rng.uniform(size=50) * (1 + int(row[0]) % 3) / 3, 0.01, 0.99)
        pixels = (rng.uniform(size=50) < probabilities).astype(np.int32)

        def model(indices, row=row, probabilities=probabilities):
            assert np.array_equal(indices, row)  # the receiver knows the latents before the pixels
            return [(bernoulli, (probabilities,))]

        record = write_record(row, header, item, extra=[(bernoulli, (probabilities,), pixels)])
        got, (symbols,) = read_record(record, header, item, extra=model)
        assert np.array_equal(got, row) and np.array_equal(symbols, pixels)
        alone = write_record(row, header, item)
        image_bits = -np.sum(np.log2(np.where(pixels == 1, probabilities, 1 - probabilities)))
        assert 8 * len(record) <= 8 * len(alone) + image_bits + 10  # no second padding or check byte
        saved.append(8 * (len(alone) + 1) + image_bits - 8 * len(record))
        for bit in range(0, 8 * len(record), 3):  # still every single-bit flip detected
            flipped = bytearray(record)
            flipped[bit // 8] ^= 0x80 >> (bit % 8)
            with pytest.raises(RecordError):
                read_record(bytes(flipped), header, item, extra=model)
    assert np.mean(saved) > 3  # against a separate image string: at least a padding saved on average


@pytest.mark.parametrize("code", ["zeta", "delta"])
def test_gprs_records_round_trip(code):
    """Per-dimension GPRS through records: the header carries the method, decode_records uses its decoder."""
    info = np.array([3.0, 5.0, 2.0])
    plan = rn.BlockPlan.per_dimension(info)
    prior = rn.Gaussian(np.zeros(3), np.ones(3))
    header = RecordHeader(plan, prior, 9, code=code, method="gprs")
    assert RecordHeader.from_bytes(header.to_bytes()) == header
    rng = np.random.default_rng(4)
    targets = rn.Gaussian(rng.normal(0, 0.5, (6, 3)), np.tile(np.exp2(-info), (6, 1)))
    records, enc = encode_records(targets, header)
    assert decode_records(records, RecordHeader.from_bytes(header.to_bytes())).tobytes() == enc.samples.tobytes()
