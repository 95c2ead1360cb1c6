"""Index codes (recnumba.coding.index_codes): bits reported equal bits written, round trips, the
truncated binary code, and the two-part and zeta codes through encode, streams and datasets."""

import math

import numpy as np
import pytest

import recnumba as rn
from recnumba.coding.bits import BitReader, BitWriter
from recnumba.coding.elias import delta_length
from recnumba.coding.index_codes import (
    INDEX_CODES,
    block_codes,
    index_bits,
    read_indices,
    read_truncated_binary,
    truncated_binary_length,
    write_indices,
    write_truncated_binary,
)

PARTITIONS = [[1], [1, 1, 1], [2, 2, 2], [4, 1, 8], [3, 5, 7], [3, 1 << 20], [1 << 20, 1 << 20, 1 << 20]]


@pytest.mark.parametrize("num_values", [1, 2, 3, 5, 7, 8, 9, 255, 256, 257, 1000, (1 << 20) + 1])
def test_truncated_binary_round_trip_and_lengths(num_values):
    values = sorted(set(np.linspace(0, num_values - 1, min(num_values, 300)).astype(int).tolist()))
    writer = BitWriter()
    for j in values:
        write_truncated_binary(writer, j, num_values)
    assert writer.num_bits == sum(truncated_binary_length(j, num_values) for j in values)
    reader = BitReader(writer.to_bytes(), writer.num_bits)
    assert [read_truncated_binary(reader, num_values) for _ in values] == values
    assert reader.bits_left == 0
    if num_values <= 1000:  # a complete prefix code: Kraft sum exactly 1, mean within 0.086 of log2 J
        lengths = [truncated_binary_length(j, num_values) for j in range(num_values)]
        assert sum(2.0 ** -L for L in lengths) == 1.0
        assert np.mean(lengths) - math.log2(num_values) <= 0.0861


def test_truncated_binary_of_a_power_of_two_is_plain_binary():
    for bits in range(0, 12):
        assert all(truncated_binary_length(j, 1 << bits) == bits for j in range(0, 1 << bits, 7))


def _random_indices(rng, part, count, max_local_bits=40):
    j = rng.integers(0, part.num_bins, count, dtype=np.int64) if part.num_bins > 1 else np.zeros(count, np.int64)
    room = (2**63 - 2 - j) // part.num_bins
    k = np.minimum(np.exp2(rng.uniform(0, max_local_bits, count)).astype(np.int64), room)
    return k * part.num_bins + j


@pytest.mark.parametrize("code", ["delta", "gamma", "omega", "two-part", "zeta"])
@pytest.mark.parametrize("intervals", PARTITIONS, ids=str)
def test_write_read_round_trip_and_reported_bits(code, intervals):
    rng = np.random.default_rng(len(intervals) * 7 + INDEX_CODES.index(code))
    part = rn.Partition(intervals)
    indices = _random_indices(rng, part, 40)
    indices[:2] = [0, part.num_bins - 1]
    blocks = block_codes([part] * 40, rng.uniform(0, 60, 40), 0, code)
    data, num_bits = write_indices(indices, code, blocks)
    assert len(data) == (num_bits + 7) // 8
    back, used = read_indices(data, code, blocks, num_bits)
    assert np.array_equal(back, indices) and used == num_bits
    singles = index_bits(indices, code, blocks)
    if code == "zeta":  # one arithmetic stream: its model's length plus one termination (-3 to +2 bits)
        from recnumba.coding.index_codes import _zeta_symbols
        from recnumba.coding.zeta import _model_bits

        model = _model_bits(*_zeta_symbols(indices.tolist(), blocks))
        assert model - 3 <= num_bits <= model + 2
        for n, b, bits in zip(indices[:8], blocks[:8], singles[:8]):
            assert write_indices([n], code, [b])[1] == bits
    else:
        assert num_bits == singles.sum()


def test_fixed_code_round_trip():
    part = rn.Partition([4, 8])
    blocks = block_codes([part] * 5, None, 1000, "fixed")
    indices = np.array([0, 1, 31999, 12345, 7])
    data, bits = write_indices(indices, "fixed", blocks)
    assert bits == 5 * math.ceil(math.log2(32000))
    assert np.array_equal(read_indices(data, "fixed", blocks)[0], indices)
    with pytest.raises(ValueError, match="N x J"):
        write_indices([32000], "fixed", blocks[:1])


@pytest.mark.parametrize("intervals", PARTITIONS[:5], ids=str)
def test_two_part_is_bin_then_delta_of_the_rank(intervals):
    part = rn.Partition(intervals)
    rng = np.random.default_rng(3)
    for n in _random_indices(rng, part, 50).tolist():
        j, k = part.split_index(n)  # k >= 1: the rank inside the bin
        expect = truncated_binary_length(j, part.num_bins) + delta_length(k)
        assert index_bits([n], "two-part", block_codes([part], None))[0] == expect
        if part.num_bins == 1:
            assert expect == delta_length(n + 1)  # J = 1: two-part is delta bit for bit


def test_zeta_needs_shared_information():
    part = rn.Partition([4, 4])
    with pytest.raises(ValueError, match="information_bits"):
        block_codes([part], None, 0, "zeta")
    with pytest.raises(ValueError, match="information_bits must be finite and >= 0"):
        block_codes([part], -1.0, 0, "zeta")
    with pytest.raises(ValueError, match="information_bits"):
        block_codes([part, part], [1.0, 2.0, 3.0], 0, "zeta")


# ------------------------------------------------------------------- encode

@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(5)
    prior = rn.Gaussian(np.zeros(4), np.ones(4))
    target = rn.Gaussian(rng.normal(0, 0.6, (12, 4)), np.full((12, 4), 0.25))
    return target, prior


@pytest.mark.parametrize("code", ["delta", "two-part", "zeta"])
@pytest.mark.parametrize("bits", [0, 4, 8])
def test_encode_reports_the_bits_the_writer_writes(batch, code, bits):
    target, prior = batch
    part = rn.Partition.uniform(4, bits)
    info = 10.0 if code == "zeta" else None
    res = rn.encode(target, prior, 3, partition=part, code=code, information_bits=info)
    blocks = block_codes([part] * 12, info, 0, code)
    for n, b, reported in zip(res.index, blocks, res.bits):
        data, written = write_indices([n], code, [b])
        assert written == reported
        assert read_indices(data, code, [b], written)[0][0] == n
    assert res.code == code


def test_encode_zeta_needs_information_bits(batch):
    target, prior = batch
    with pytest.raises(ValueError, match="information_bits"):
        rn.encode(target, prior, 3, code="zeta")
    with pytest.raises(ValueError, match="code must be one of"):
        rn.encode(target, prior, 3, code="exponent")


def test_two_part_beats_delta_on_partitioned_blocks(batch):
    target, prior = batch
    part = rn.Partition.uniform(4, 8)
    two = rn.encode(target, prior, 3, partition=part, code="two-part")
    delta = rn.encode(target, prior, 3, partition=part, code="delta")
    assert np.array_equal(two.index, delta.index)  # the code never changes the search
    assert np.all(two.bits <= delta.bits) and two.bits.sum() < delta.bits.sum()


# ------------------------------------------------------------------- streams and datasets

@pytest.mark.parametrize("code", ["two-part", "zeta"])
def test_streams_round_trip_and_payload_bits(code):
    plan = rn.BlockPlan.build(np.random.default_rng(0).uniform(0.5, 3.0, 24), 12.0, seed=1)
    rng = np.random.default_rng(1)
    indices = np.stack([_random_indices(rng, blk.partition, 6, 14) for blk in plan.blocks], axis=1)
    stream = rn.write_stream(indices, plan, 9, code=code, item=3)
    got = rn.read_stream(stream, plan)
    assert np.array_equal(got.indices, indices) and got.code == code and got.item == 3
    assert got.payload_bits == rn.container.payload_bits(indices, plan, code)
    blocks = rn.container.plan_block_codes(plan, 6, code)
    assert got.payload_bits == write_indices(indices.ravel(), code, blocks)[1]


@pytest.mark.parametrize("code", ["two-part", "zeta"])
def test_dataset_streams_round_trip(code):
    plan = rn.BlockPlan.build(np.full(16, 2.0), 16.0, seed=3)
    prior = rn.Gaussian(np.zeros(16), np.ones(16))
    rng = np.random.default_rng(2)
    targets = rn.Gaussian(rng.normal(0, 0.7, (5, 16)), np.full((5, 16), 0.22))
    streams, enc = rn.dataset.encode_dataset_to_streams(targets, prior, plan, 4, code=code, num_samples=1 << 12)
    assert rn.dataset.decode_streams(streams, prior, plan).tobytes() == enc.samples.tobytes()
