"""Dataset-level encode/decode: one call for N posteriors, bit-identical decode, streams."""

import numpy as np
import pytest

import recnumba as rn
from recnumba.blocks import BlockPlan
from recnumba.container import StreamError, read_stream
from recnumba.dataset import decode_dataset, decode_streams, encode_dataset, encode_dataset_to_streams

N, D, SEED = 50, 20, 11


def _latent(num_items, dim, seed, max_info=2.0, collapsed=3):
    """Posteriors whose average KL per dimension is info (prior N(0, 1), posterior std 2^-info)."""
    rng = np.random.default_rng(seed)
    info = rng.uniform(0.1, max_info, dim)
    info[:collapsed] = 0.0
    std = np.exp2(-info)
    loc = rng.standard_normal((num_items, dim)) * np.sqrt(1 - std**2)
    return info, rn.Gaussian(loc, np.broadcast_to(std, (num_items, dim))), rn.Gaussian(np.zeros(dim), np.ones(dim))


@pytest.fixture(scope="module")
def orc_case():
    info, targets, prior = _latent(N, D, 0)
    plan = BlockPlan.build(info, 8.0, seed=3, margin_bits=2.0)
    enc = encode_dataset(targets, prior, plan, SEED, method="orc", num_samples=1 << 10, first_item=5)
    return plan, targets, prior, enc


def test_orc_round_trip_is_bit_identical(orc_case):
    plan, targets, prior, enc = orc_case
    assert plan.num_blocks >= 3
    assert enc.indices.shape == (N, plan.num_blocks) and enc.samples.shape == (N, D)
    assert np.all(enc.indices < (1 << 10) * np.array([p.num_bins for p in plan.partitions]))
    z = decode_dataset(enc.indices, prior, plan, SEED, first_item=5, num_samples=1 << 10)
    assert z.tobytes() == enc.samples.tobytes()
    # decoding with the wrong item numbers or seed gives other samples
    assert not np.array_equal(decode_dataset(enc.indices, prior, plan, SEED), enc.samples)
    # sizes: ideal bits track the KL (ORC with log2 J a margin below each block's information)
    assert abs(enc.ideal_bits.mean() - enc.kl_bits.mean()) < 0.25 * enc.kl_bits.mean()
    assert np.all(enc.delta_bits > enc.ideal_bits)


def test_matches_per_block_encode_and_original_order(orc_case):
    plan, targets, prior, enc = orc_case
    i = 7
    for blk in plan:
        res = rn.encode(rn.Gaussian(targets.loc[i, blk.dims], targets.scale[i, blk.dims]),
                        rn.Gaussian(prior.loc[blk.dims], prior.scale[blk.dims]), SEED,
                        partition=blk.partition, method="orc", num_samples=1 << 10,
                        block_ids=[(5 + i) * plan.num_blocks + blk.block_id])
        assert res.index == enc.indices[i, blk.block_id]
        assert res.sample.tobytes() == enc.samples[i, blk.dims].tobytes()


def test_chunks_and_per_item_priors_change_nothing(orc_case):
    plan, targets, prior, enc = orc_case
    full_prior = rn.Gaussian(np.broadcast_to(prior.loc, (N, D)), np.broadcast_to(prior.scale, (N, D)))
    chunked = encode_dataset(targets, full_prior, plan, SEED, num_samples=1 << 10, first_item=5, chunk=16)
    assert np.array_equal(chunked.indices, enc.indices)
    assert chunked.samples.tobytes() == enc.samples.tobytes()
    z = decode_dataset(enc.indices, full_prior, plan, SEED, first_item=5, chunk=7)
    assert z.tobytes() == enc.samples.tobytes()


@pytest.mark.parametrize("code", ["delta", "exponent"])
def test_streams_round_trip(orc_case, code):
    plan, targets, prior, _ = orc_case
    streams, enc = encode_dataset_to_streams(targets[:12], prior, plan, SEED, code=code, num_samples=1 << 10,
                                             first_item=40)
    assert len(streams) == 12
    contents = read_stream(streams[3], plan)
    assert contents.item == 43 and contents.seed == SEED and contents.code == code
    assert np.array_equal(contents.indices, enc.indices[3])
    z = decode_streams(streams, prior, plan)
    assert z.tobytes() == enc.samples.tobytes()
    # streams from two seeds decode together
    other, enc2 = encode_dataset_to_streams(targets[:2], prior, plan, SEED + 1, code=code, num_samples=1 << 10)
    z = decode_streams(streams[:2] + other, prior, plan)
    assert z.tobytes() == np.concatenate([enc.samples[:2], enc2.samples]).tobytes()
    bad = bytearray(streams[0])
    bad[-6] ^= 1
    with pytest.raises(StreamError, match="CRC"):
        decode_streams([streams[1], bytes(bad)], prior, plan)


def test_exact_pfr_on_a_small_latent(capsys):
    info, targets, prior = _latent(30, 6, 1, max_info=1.0, collapsed=1)
    plan = BlockPlan.build(info, 3.0, seed=0, margin_bits=1.0)
    enc = encode_dataset(targets, prior, plan, 4, method="pfr", progress=True)
    assert "REC encode" in capsys.readouterr().err
    z = decode_dataset(enc.indices, prior, plan, 4, progress=True)
    assert z.tobytes() == enc.samples.tobytes()
    assert np.all(enc.steps >= 1)


def test_bad_inputs(orc_case):
    plan, targets, prior, enc = orc_case
    with pytest.raises(ValueError, match="beyond 2\\^32"):
        encode_dataset(targets, prior, plan, SEED, first_item=2**32 // plan.num_blocks)
    with pytest.raises(ValueError, match="beyond 2\\^32"):
        decode_dataset(enc.indices, prior, plan, SEED, first_item=2**31)
    with pytest.raises(ValueError, match="dimensions but the plan"):
        encode_dataset(rn.Gaussian(np.zeros((2, D + 1)), 1.0), prior, plan, SEED)
    with pytest.raises(ValueError, match="rows but there are"):
        decode_dataset(enc.indices, rn.Gaussian(np.zeros((3, D)), 1.0), plan, SEED)
    with pytest.raises(ValueError, match="shape"):
        decode_dataset(enc.indices[:, :-1], prior, plan, SEED)
    with pytest.raises(ValueError, match="num_samples"):
        encode_dataset(targets, prior, plan, SEED, method="pfr", num_samples=8)
    with pytest.raises(TypeError, match="BlockPlan"):  # a wrong kind of object, as in container
        encode_dataset(targets, prior, [1, 2], SEED)
    with pytest.raises(TypeError, match="BlockPlan"):
        decode_dataset(enc.indices, prior, "plan.json", SEED)
    with pytest.raises(TypeError, match="recnumba distribution"):
        encode_dataset((np.zeros(D), np.ones(D)), prior, plan, SEED)
    with pytest.raises(ValueError, match="chunk"):
        encode_dataset(targets, prior, plan, SEED, chunk=0)


def test_auto_weights_pick_ratio_where_bounded_and_target_elsewhere():
    info, targets, prior = _latent(12, 10, 4)
    scale = np.array(targets.scale)
    scale[[2, 7], 4] = 1.3  # two items whose block holding dimension 4 has an unbounded ratio
    targets = rn.Gaussian(targets.loc, scale)
    plan = BlockPlan.build(info, 6.0, seed=1, margin_bits=1.0)
    enc = encode_dataset(targets, prior, plan, SEED, method="orc", num_samples=1 << 9, weights="auto", chunk=5)
    for i in range(12):
        for blk in plan:
            target = rn.Gaussian(targets.loc[i, blk.dims], targets.scale[i, blk.dims])
            kind = "target" if np.any(target.scale >= 1.0) else "ratio"
            res = rn.encode(target, rn.Gaussian(prior.loc[blk.dims], prior.scale[blk.dims]), SEED,
                            partition=blk.partition, method="orc", num_samples=1 << 9, weights=kind,
                            block_ids=[i * plan.num_blocks + blk.block_id])
            assert res.index == enc.indices[i, blk.block_id]
            assert res.sample.tobytes() == enc.samples[i, blk.dims].tobytes()
    assert decode_dataset(enc.indices, prior, plan, SEED).tobytes() == enc.samples.tobytes()
    with pytest.raises(ValueError, match='"ratio", "target" or "auto"'):
        encode_dataset(targets, prior, plan, SEED, weights="prior")


def test_backend_is_passed_through(orc_case):
    plan, targets, prior, enc = orc_case
    # 50 items per call stay below the "auto" GPU threshold, so every backend here is the CPU one
    again = encode_dataset(targets, prior, plan, SEED, method="orc", num_samples=1 << 10, first_item=5,
                           backend="auto")
    assert np.array_equal(again.indices, enc.indices) and again.samples.tobytes() == enc.samples.tobytes()
    z = decode_dataset(enc.indices, prior, plan, SEED, first_item=5, backend="auto")
    assert z.tobytes() == enc.samples.tobytes()
    streams, _ = encode_dataset_to_streams(targets, prior, plan, SEED, method="orc", num_samples=1 << 10,
                                           backend="cpu")
    assert decode_streams(streams, prior, plan, backend="auto").shape == (N, D)
    with pytest.raises(ValueError, match="backend must be"):
        encode_dataset(targets, prior, plan, SEED, backend="tpu")
    with pytest.raises(ValueError, match="backend must be"):
        decode_dataset(enc.indices, prior, plan, SEED, backend="tpu")
