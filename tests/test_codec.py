"""rn.Codec: round trips (every family pair, several codes), records equal to recnumba.records, the
first_item and epoch-seed rule, codec files (round trip, corruption), rate_bits, array inputs
(numpy DLPack, __array__, CUDA array interface under the simulator), seeds, and clear errors."""

import importlib.util
import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import recnumba as rn
from recnumba.arrays import as_float_array, as_integer
from recnumba.codec import CODEC_FORMAT_VERSION, DEFAULT_CODE, epoch_seed
from recnumba.records import RecordError, RecordHeader, encode_records

HERE = os.path.dirname(__file__)
DIM = 10
BUDGET = 1 << 8
HAVE_ZETA = importlib.util.find_spec("recnumba.coding.zeta") is not None


@pytest.fixture(scope="module")
def plan():
    return rn.BlockPlan.build(np.full(DIM, 1.2), 6.5, seed=2, margin_bits=2.0)


@pytest.fixture(scope="module")
def prior():
    return rn.Gaussian(np.linspace(-0.3, 0.3, DIM), np.linspace(0.9, 1.1, DIM))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    loc = rng.normal(0.0, 0.8, size=(12, DIM))
    scale = rng.uniform(0.3, 0.7, size=(12, DIM))
    return loc, scale


@pytest.fixture(scope="module")
def codec(plan, prior):
    return rn.Codec(prior, plan, 9, num_samples=BUDGET, code="two-part")


def test_round_trip_bit_identical(codec, data):
    loc, scale = data
    records, samples = codec.compress(loc, scale, return_samples=True)
    assert isinstance(records, list) and len(records) == len(loc)
    assert all(isinstance(r, bytes) for r in records)
    out = codec.decompress(records)
    assert out.dtype == np.float64 and out.shape == loc.shape
    assert out.tobytes() == samples.tobytes()
    assert codec.compress(loc, scale) == records  # deterministic, stateless


def test_records_are_those_of_encode_records(codec, data):
    loc, scale = data
    header = RecordHeader(codec.plan, codec.prior, codec.seed, code="two-part", method="orc", num_samples=BUDGET)
    expected, encoding = encode_records(rn.Gaussian(loc, scale), header, first_item=3)
    records, samples = codec.compress(loc, scale, first_item=3, return_samples=True)
    assert records == expected and samples.tobytes() == encoding.samples.tobytes()
    assert codec.header == header


def test_first_item_splits_give_the_same_records(codec, data):
    loc, scale = data
    whole = codec.compress(loc, scale, first_item=100)
    parts = codec.compress(loc[:5], scale[:5], first_item=100) + codec.compress(loc[5:], scale[5:], first_item=105)
    assert parts == whole
    assert codec.decompress(whole[5:], first_item=105).tobytes() == \
        codec.decompress(whole, first_item=100)[5:].tobytes()


def test_a_record_read_as_another_item_fails(codec, data):
    loc, scale = data
    records = codec.compress(loc, scale)
    failures = 0
    for i, record in enumerate(records):
        try:
            codec.decompress([record], first_item=i + 1)
        except RecordError:
            failures += 1
    assert failures >= len(records) - 1  # each passes its check byte with probability 1/256


def test_epoch_rule_past_the_stream_key_range(plan, prior, data):
    loc, scale = data
    codec = rn.Codec(prior, plan, 9, num_samples=BUDGET, code="two-part")
    per_seed = codec.items_per_seed
    assert per_seed == (1 << 32) // plan.num_blocks
    first = per_seed - 2
    records, samples = codec.compress(loc[:5], scale[:5], first_item=first, return_samples=True)
    # items first, first + 1 under the seed itself; the next three under epoch 1's seed, from item 0
    seed1 = epoch_seed(9, 1)
    assert seed1 != 9 and 0 <= seed1 < 1 << 62 and epoch_seed(9, 1) == seed1
    assert codec.stream_position(first) == (9, first) and codec.stream_position(per_seed) == (seed1, 0)
    assert codec.stream_position(5 * per_seed + 7) == (epoch_seed(9, 5), 7)
    head0 = RecordHeader(plan, prior, 9, code="two-part", method="orc", num_samples=BUDGET)
    head1 = RecordHeader(plan, prior, seed1, code="two-part", method="orc", num_samples=BUDGET)
    first_part, enc0 = encode_records(rn.Gaussian(loc[:2], scale[:2]), head0, first_item=first)
    second_part, enc1 = encode_records(rn.Gaussian(loc[2:5], scale[2:5]), head1, first_item=0)
    assert records == first_part + second_part
    assert samples.tobytes() == np.concatenate([enc0.samples, enc1.samples]).tobytes()
    assert codec.decompress(records, first_item=first).tobytes() == samples.tobytes()
    # split anywhere: same records
    assert codec.compress(loc[:3], scale[:3], first_item=first) + \
        codec.compress(loc[3:5], scale[3:5], first_item=first + 3) == records
    # very large item numbers work too (below 2^63)
    far = codec.compress(loc[:1], scale[:1], first_item=(1 << 62) + 5)
    assert codec.decompress(far, first_item=(1 << 62) + 5).shape == (1, DIM)


@pytest.mark.parametrize("code", ["two-part", "delta", "fixed"] + (["zeta"] if HAVE_ZETA else []))
def test_codes(plan, prior, data, code):
    loc, scale = data
    codec = rn.Codec(prior, plan, 4, num_samples=BUDGET, code=code)
    records, samples = codec.compress(loc, scale, return_samples=True)
    assert rn.Codec.from_bytes(codec.to_bytes()).decompress(records).tobytes() == samples.tobytes()


def test_default_code():
    assert DEFAULT_CODE == ("zeta" if HAVE_ZETA else "two-part")


def test_rate_bits_is_the_kl(codec, data):
    loc, scale = data
    rate = codec.rate_bits(loc, scale)
    expected = rn.kl_bits(rn.Gaussian(loc, scale), codec.prior.broadcast_to(loc.shape))
    assert rate.shape == (len(loc),) and np.allclose(rate, expected, rtol=0, atol=1e-12)
    assert codec.rate_bits(loc[0], scale[0]).shape == (1,)
    bits = rn.Codec.record_bits(codec.compress(loc, scale))
    assert bits.dtype == np.int64 and np.all(bits >= 8)


def test_compress_with_details(codec, data):
    loc, scale = data
    details = codec.compress_with_details(loc, scale)
    assert details["records"] == codec.compress(loc, scale)
    assert details["indices"].shape == (len(loc), codec.num_blocks)
    assert np.array_equal(details["bits"], rn.Codec.record_bits(details["records"]))
    assert np.allclose(details["kl_bits"], codec.rate_bits(loc, scale))


def test_one_item_and_empty_batches(codec, data):
    loc, scale = data
    one = codec.compress(loc[0], scale[0])
    assert one == codec.compress(loc[:1], scale[:1])
    assert codec.compress(np.empty((0, DIM)), np.empty((0, DIM))) == []
    assert codec.decompress([]).shape == (0, DIM)


def test_scale_broadcasts(codec, data):
    loc, _ = data
    assert codec.compress(loc, 0.5) == codec.compress(loc, np.full(loc.shape, 0.5))


def test_distribution_input(codec, data):
    loc, scale = data
    assert codec.compress(rn.Gaussian(loc, scale)) == codec.compress(loc, scale)
    with pytest.raises(ValueError, match="Gaussian posteriors"):
        codec.compress(rn.Laplace(loc, scale))
    with pytest.raises(TypeError, match="not both"):
        codec.compress(rn.Gaussian(loc, scale), scale)


# ---------------------------------------------------------------------------- families


def test_laplace_prior(plan, data):
    loc, scale = data
    prior = rn.Laplace(np.zeros(DIM), np.ones(DIM))
    codec = rn.Codec(prior, plan, 3, num_samples=BUDGET)
    assert codec.posterior is rn.Laplace
    records, samples = codec.compress(loc, scale, return_samples=True)
    assert rn.Codec.from_bytes(codec.to_bytes()).decompress(records).tobytes() == samples.tobytes()
    assert np.allclose(codec.rate_bits(loc, scale), rn.kl_bits(rn.Laplace(loc, scale), prior.broadcast_to(loc.shape)))
    with pytest.raises(ValueError, match="Gaussian posterior under a Laplace prior is not supported"):
        rn.Codec(prior, plan, 3, posterior="Gaussian")


def test_uniform_prior_and_uniform_posterior_under_gaussian(plan, prior):
    rng = np.random.default_rng(4)
    low = rng.uniform(0.1, 0.5, size=(4, DIM))
    high = low + rng.uniform(0.1, 0.4, size=(4, DIM))
    box = rn.Uniform(np.zeros(DIM), np.ones(DIM))
    for codec in (rn.Codec(box, plan, 1, method="pfr"),  # exact: a uniform target's ratio is bounded
                  rn.Codec(prior, plan, 1, method="pfr", posterior="Uniform")):
        records, samples = codec.compress(low, high, return_samples=True)
        assert np.all((samples >= low) & (samples <= high))
        again = rn.Codec.from_bytes(codec.to_bytes())
        assert again.posterior is rn.Uniform
        assert again.decompress(records).tobytes() == samples.tobytes()
    with pytest.raises(ValueError, match="Gaussian posterior under a Uniform prior"):
        rn.Codec(box, plan, 1, posterior=rn.Gaussian)


def test_pfr_and_auto(plan, prior, data):
    loc, scale = data
    for method in ("pfr", "auto"):
        codec = rn.Codec(prior, plan, 2, method=method)
        records, samples = codec.compress(loc, scale, return_samples=True)
        assert rn.Codec.from_bytes(codec.to_bytes()).decompress(records).tobytes() == samples.tobytes()
    assert rn.Codec(prior, plan, 2, method="pfr").num_samples is None
    assert rn.Codec(prior, plan, 2).num_samples == 1 << 16


def test_fit_builds_a_plan_from_training_posteriors(prior, data):
    loc, scale = data
    codec = rn.Codec.fit(loc, scale, prior, seed=5, block_bits=8.0, margin_bits=2.0, num_samples=BUDGET)
    info = rn.kl_bits(rn.Gaussian(loc, scale), prior.broadcast_to(loc.shape), per_dimension=True).mean(axis=0)
    assert np.allclose(codec.plan.info_bits, info)
    records, samples = codec.compress(loc, scale, return_samples=True)
    assert codec.decompress(records).tobytes() == samples.tobytes()
    with pytest.raises(ValueError, match="loc and scale must both have shape"):
        rn.Codec.fit(loc[0], scale[0], prior, seed=5)


def test_gprs_per_dimension(prior, data):
    """method="gprs": records are those of encode_records with a GPRS header, decode bit for bit after
    save/load, cost about the KL plus GPRS's per-dimension overhead (the check byte, then at most
    log2(KL + 1) + 4.5 bits per dimension on average: the issue's bound), and a codec with the wrong
    seed decodes other samples."""
    loc, scale = data
    codec = rn.Codec.fit(loc, scale, prior, seed=5, method="gprs")
    assert codec.plan.num_blocks == DIM and codec.num_samples is None and codec.method == "gprs"
    records, samples = codec.compress(loc, scale, return_samples=True)
    header = RecordHeader(codec.plan, prior, 5, code=DEFAULT_CODE, method="gprs")
    assert records == encode_records(rn.Gaussian(loc, scale), header)[0]
    loaded = rn.Codec.from_bytes(codec.to_bytes())
    assert loaded.method == "gprs" and loaded.decompress(records).tobytes() == samples.tobytes()
    kl = rn.kl_bits(rn.Gaussian(loc, scale), prior.broadcast_to(loc.shape), per_dimension=True)
    bound = (kl + np.log2(kl + 1.0) + 4.5).sum(axis=1) + 8
    assert codec.record_bits(records).mean() <= bound.mean()
    other = rn.Codec(prior, codec.plan, 6, method="gprs")
    with pytest.raises(RecordError):
        other.decompress(records)


def test_gprs_needs_what_gprs_can_code(plan, prior, data):
    per_dim = rn.BlockPlan.per_dimension(np.full(DIM, 1.2))
    cases = [
        (dict(plan=plan), "one dimension per block"),
        (dict(num_samples=BUDGET), "num_samples is the ORC budget"),
        (dict(weights="target"), "weights are bin weights"),
        (dict(backend="cuda"), "runs on the CPU only"),
        (dict(prior=rn.Laplace(np.zeros(DIM), np.ones(DIM))), "Gaussian posteriors under a Gaussian prior"),
        (dict(posterior="Uniform"), "Gaussian posteriors under a Gaussian prior"),
    ]
    for change, message in cases:
        arguments = {**dict(prior=prior, plan=per_dim, seed=1, method="gprs"), **change}
        with pytest.raises(ValueError, match=message):
            rn.Codec(**arguments)


# ---------------------------------------------------------------------------- files


def test_save_load(tmp_path, codec, data):
    loc, scale = data
    path = tmp_path / "codec.rnc"
    codec.save(path)
    loaded = rn.Codec.load(path)
    assert loaded == codec and loaded.identifier == codec.identifier
    records = codec.compress(loc, scale)
    assert loaded.compress(loc, scale) == records
    assert loaded.decompress(records).tobytes() == codec.decompress(records).tobytes()
    assert pickle.loads(pickle.dumps(codec)) == codec
    data_bytes = path.read_bytes()
    assert data_bytes[:7] == b"RNCODEC" and data_bytes[7] == CODEC_FORMAT_VERSION
    assert codec.header.to_bytes() in data_bytes
    options = json.loads(data_bytes[data_bytes.rindex(b'{"exact_bound_bits'):-32])
    assert options == {"exact_bound_bits": 20.0, "max_steps": codec.max_steps, "posterior": "Gaussian", "weights": None}


def test_loaded_codec_keeps_sender_options(plan, prior, data):
    loc, scale = data
    codec = rn.Codec(prior, plan, 8, num_samples=BUDGET, weights="ratio", max_steps=1000)
    loaded = rn.Codec.from_bytes(codec.to_bytes(), backend="cpu")
    assert loaded.weights == "ratio" and loaded.max_steps == 1000
    assert loaded.compress(loc, scale) == codec.compress(loc, scale)


def test_corrupted_codec_files_are_refused(codec):
    good = codec.to_bytes()
    rng = np.random.default_rng(0)
    for position in sorted(set(rng.integers(0, len(good), 60).tolist()) | {0, 7, 8, len(good) - 1}):
        bad = bytearray(good)
        bad[position] ^= 1 << int(rng.integers(8))
        with pytest.raises(rn.CodecFileError):
            rn.Codec.from_bytes(bytes(bad))
    for bad in (good[:-1], good + b"\0", good[:20], b"", b"RNCODEC", b"RECH" + good[4:]):
        with pytest.raises(rn.CodecFileError):
            rn.Codec.from_bytes(bad)
    version = bytearray(good)
    version[7] = 2
    with pytest.raises(rn.CodecFileError, match="version 2"):
        rn.Codec.from_bytes(bytes(version))
    assert issubclass(rn.CodecFileError, rn.StreamError) and issubclass(rn.CodecFileError, ValueError)
    with pytest.raises(TypeError, match="data must be bytes"):
        rn.Codec.from_bytes("RNCODEC")


def test_corrupted_records_are_detected(codec, data):
    loc, scale = data
    records = codec.compress(loc, scale)
    for record in records[:6]:
        for bit in range(8 * len(record)):
            bad = bytearray(record)
            bad[bit // 8] ^= 1 << (bit % 8)
            with pytest.raises(RecordError):
                codec.decompress([bytes(bad)], first_item=records.index(record))
    with pytest.raises(RecordError):
        codec.decompress([b""])


# ---------------------------------------------------------------------------- arrays in


class OnlyDLPack:
    def __init__(self, array):
        self._array = array

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._array.__dlpack_device__()


class OnlyArray:
    def __init__(self, array):
        self._array = array

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._array, dtype=dtype)


def test_array_kinds(codec, data):
    loc, scale = data
    expected = codec.compress(loc, scale)
    assert codec.compress(np.from_dlpack(loc), np.from_dlpack(scale)) == expected
    assert codec.compress(OnlyDLPack(loc), OnlyDLPack(scale)) == expected
    assert codec.compress(OnlyArray(loc), OnlyArray(scale)) == expected
    assert codec.compress(loc.tolist(), scale.tolist()) == expected
    assert codec.compress(np.asfortranarray(loc), scale[::1]) == expected
    small = loc.astype(np.float32)
    assert codec.compress(small, scale) == codec.compress(small.astype(np.float64), scale)
    assert as_float_array(OnlyDLPack(small), "x").dtype == np.float64


def test_seed_kinds(plan, prior):
    ref = rn.Codec(prior, plan, 3, num_samples=BUDGET)
    for seed in (np.int64(3), np.uint8(3), np.array(3), np.array(3, dtype=np.int32)):
        assert rn.Codec(prior, plan, seed, num_samples=BUDGET) == ref
    assert as_integer(OnlyDLPack(np.array(7)), "seed") == 7
    for seed in (3.0, np.float64(3), np.array(3.0), np.array([3]), "3", None, True):
        with pytest.raises(TypeError, match="seed"):
            rn.Codec(prior, plan, seed)
    for seed in (-1, 1 << 62):
        with pytest.raises(ValueError, match="seed"):
            rn.Codec(prior, plan, seed)


def test_first_item_kinds(codec, data):
    loc, scale = data
    expected = codec.compress(loc, scale, first_item=4)
    assert codec.compress(loc, scale, first_item=np.int64(4)) == expected
    assert codec.compress(loc, scale, first_item=np.array(4)) == expected
    with pytest.raises(TypeError, match="first_item"):
        codec.compress(loc, scale, first_item=4.0)
    with pytest.raises(ValueError, match="first_item"):
        codec.compress(loc, scale, first_item=-1)


def test_jax_arrays(codec, data):
    """JAX arrays (DLPack, zero copy on the CPU) where JAX is installed; samples come back as numpy."""
    jnp = pytest.importorskip("jax.numpy")
    loc, scale = data
    jloc, jscale = jnp.asarray(loc.astype(np.float32)), jnp.asarray(scale.astype(np.float32))
    assert codec.compress(jloc, jscale) == codec.compress(loc.astype(np.float32), scale.astype(np.float32))
    assert as_integer(jnp.asarray(5), "seed") == 5
    _, samples = codec.compress(jloc, jscale, return_samples=True)
    assert type(samples) is np.ndarray and samples.dtype == np.float64


def test_cuda_array_interface_under_the_simulator():
    """A CUDA array (only __cuda_array_interface__) into backend="cuda": the CPU's records, same samples."""
    pytest.importorskip("numba.cuda")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    result = subprocess.run([sys.executable, os.path.join(HERE, "cuda_sim_codec_case.py")],
                            capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert row["records_equal"] and row["samples_equal"] and row["decode_equal"] and row["read_equal"]


# ---------------------------------------------------------------------------- errors


def test_constructor_errors(plan, prior):
    with pytest.raises(TypeError, match="prior must be a recnumba distribution"):
        rn.Codec((np.zeros(DIM), np.ones(DIM)), plan, 1)
    with pytest.raises(TypeError, match="plan must be a recnumba.BlockPlan"):
        rn.Codec(prior, {"blocks": []}, 1)
    with pytest.raises(ValueError, match=r"prior must have shape \(10,\)"):
        rn.Codec(rn.Gaussian(np.zeros(3), np.ones(3)), plan, 1)
    with pytest.raises(ValueError, match="method"):
        rn.Codec(prior, plan, 1, method="grc")
    with pytest.raises(ValueError, match="code must be one of"):
        rn.Codec(prior, plan, 1, code="huffman")
    with pytest.raises(ValueError, match="backend"):
        rn.Codec(prior, plan, 1, backend="tpu")
    with pytest.raises(ValueError, match="num_samples is the ORC budget"):
        rn.Codec(prior, plan, 1, method="pfr", num_samples=10)
    with pytest.raises(ValueError, match="num_samples"):
        rn.Codec(prior, plan, 1, num_samples=0)
    with pytest.raises(ValueError, match="weights"):
        rn.Codec(prior, plan, 1, weights="uniform")
    with pytest.raises(ValueError, match="posterior must be one of"):
        rn.Codec(prior, plan, 1, posterior="Cauchy")
    with pytest.raises(TypeError, match="posterior"):
        rn.Codec(prior, plan, 1, posterior=3)
    with pytest.raises(ValueError, match="max_steps"):
        rn.Codec(prior, plan, 1, max_steps=0)


def test_compress_errors(codec, data):
    loc, scale = data
    with pytest.raises(ValueError, match=r"loc and scale must have shape \(N, 10\)"):
        codec.compress(loc[:, :4], scale[:, :4])
    with pytest.raises(ValueError, match="loc and scale must have the same shape"):
        codec.compress(loc, scale[:3, :4])
    with pytest.raises(ValueError, match=r"shape \(N, 10\)"):
        codec.compress(loc[None], scale[None])
    with pytest.raises(TypeError, match="only one"):
        codec.compress(loc)
    with pytest.raises(TypeError, match="loc must be an array of real numbers"):
        codec.compress("loc", scale)
    with pytest.raises(TypeError, match="scale must be an array of real numbers"):
        codec.compress(loc, scale.astype(complex))
    with pytest.raises(TypeError, match="loc must be an array of real numbers"):
        codec.compress(loc > 0, scale)
    with pytest.raises(TypeError, match="loc must be an array of real numbers"):
        codec.compress(object(), scale)
    with pytest.raises(ValueError, match="scale"):
        codec.compress(loc, -scale)
    with pytest.raises(ValueError):
        codec.compress(loc * np.nan, scale)
    with pytest.raises(TypeError, match="progress"):
        codec.compress(loc, scale, progress="yes")


def test_decompress_errors(codec, data):
    loc, scale = data
    records = codec.compress(loc, scale)
    with pytest.raises(TypeError, match="records must be a list of bytes"):
        codec.decompress(records[0])
    with pytest.raises(TypeError, match="records must be a list of bytes"):
        codec.decompress(3)
    with pytest.raises(TypeError, match="record must be bytes"):
        codec.decompress(["abc"])
    other = rn.Codec(codec.prior, codec.plan, codec.seed + 1, num_samples=BUDGET, code="two-part")
    failures = 0
    for i, record in enumerate(records):
        try:
            other.decompress([record], first_item=i)
        except RecordError:
            failures += 1
    assert failures >= len(records) - 1


def test_non_string_choices_are_wrong_kinds(plan, prior):
    for options in (dict(method=3), dict(backend=None), dict(weights=1), dict(code=5)):
        with pytest.raises(TypeError):
            rn.Codec(prior, plan, 1, **options)
        with pytest.raises(ValueError):  # ParameterTypeError is both
            rn.Codec(prior, plan, 1, **options)
