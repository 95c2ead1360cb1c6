"""Issue #14: bad inputs to the distribution containers, streams and datasets, and stream fuzzing.

Every case names the exception type and the argument its message must name. The fuzzing covers
every stream format of ``recnumba.container`` (delta, exponent, batched, per-block model, version 1)
and the per-item streams of ``recnumba.dataset``: every single-bit flip, every truncation, appended
junk and seeded random byte bursts must raise ``StreamError`` (never a silent wrong decode).
"""

import fractions
import signal
import time
import zlib

import numpy as np
import pytest

import recnumba as rn
from recnumba.blocks import BlockPlan
from recnumba.container import (
    StreamError,
    code_report,
    fit_exponent_model,
    payload_bits,
    read_stream,
    write_stream,
)
from recnumba.dataset import decode_dataset, decode_streams, encode_dataset, encode_dataset_to_streams
from recnumba.families.base import ParameterTypeError
from recnumba.validation import check_indices

FAMILIES = {
    "Gaussian": (rn.Gaussian, ("loc", "scale")),
    "Laplace": (rn.Laplace, ("loc", "scale")),
    "Uniform": (rn.Uniform, ("low", "high")),
}
GOOD = {"Gaussian": ([0.0, 1.0], [1.0, 2.0]), "Laplace": ([0.0, 1.0], [1.0, 2.0]),
        "Uniform": ([0.0, 1.0], [1.0, 2.0])}


@pytest.fixture(scope="module")
def plan():
    return BlockPlan.build(np.random.default_rng(0).uniform(0.0, 3.0, 12), 8.0, seed=1)


@pytest.fixture(scope="module")
def prior(plan):
    return rn.Gaussian(np.zeros(plan.dim), np.ones(plan.dim))


def _good_indices(plan, num_items=None, seed=0):
    rng = np.random.default_rng(seed)
    shape = (plan.num_blocks,) if num_items is None else (num_items, plan.num_blocks)
    return rng.integers(0, 2**12, shape)


# ------------------------------------------------------------------- containers copy and freeze


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_containers_copy_and_freeze_their_parameters(family):
    cls, names = FAMILIES[family]
    first, second = (np.array(v) for v in GOOD[family])
    dist = cls(first, second)
    first[0], second[0] = 5.0, -1.0  # the caller's arrays change after construction...
    kept = [getattr(dist, n) for n in names]
    assert np.array_equal(kept[0], GOOD[family][0]) and np.array_equal(kept[1], GOOD[family][1])  # ...not dist
    assert kept[0] is not first and kept[1] is not second
    for array in (*kept, *dist.params):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 3.0
    with pytest.raises(AttributeError):
        setattr(dist, names[0], np.zeros(2))  # no setter either


def test_a_frozen_prior_cannot_turn_a_decode_into_a_mirrored_sample():
    """The issue's scenario: scale set to -1 after construction. The copy makes it impossible."""
    loc, scale = np.zeros(3), np.ones(3)
    prior = rn.Gaussian(loc, scale)
    target = rn.Gaussian(np.full(3, 0.3), np.full(3, 0.5))
    res = rn.encode(target, prior, 4, method="orc", num_samples=64)
    scale[:] = -1.0
    loc[:] = np.nan
    assert np.array_equal(rn.decode(res.index, prior, 4, num_samples=64), res.sample)


# ------------------------------------------------------------------- constructor bad inputs

_BAD_KIND = [
    ("complex", np.array([1 + 1j, 0.0])),
    ("complex scalar list", [1j, 2.0]),
    ("strings", np.array(["a", "b"])),
    ("string", "1.0"),
    ("bytes", np.array([b"a", b"b"])),
    ("bools", np.array([True, True])),
    ("bool list", [True, False]),
    ("None", None),
    ("objects", [object(), 1.0]),
    ("None inside", [1.0, None]),
    ("dict", {"a": 1.0}),
    ("datetime", np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[D]")),
    ("timedelta", np.array([1, 2], dtype="timedelta64[s]")),
]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("label, bad", _BAD_KIND, ids=[c[0] for c in _BAD_KIND])
def test_constructors_refuse_the_wrong_kind_with_type_error(family, position, label, bad):
    cls, names = FAMILIES[family]
    args = list(GOOD[family])
    args[position] = bad
    with pytest.raises(TypeError, match=names[position]):
        cls(*args)


def test_wrong_kind_is_also_a_value_error_for_old_callers():
    assert issubclass(ParameterTypeError, TypeError) and issubclass(ParameterTypeError, ValueError)
    with pytest.raises(ParameterTypeError, match="complex"):
        rn.Gaussian(np.array([1 + 1j]), [1.0])


def test_a_distribution_is_not_a_parameter():
    g = rn.Gaussian([0.0], [1.0])
    with pytest.raises(TypeError, match="loc"):
        rn.Gaussian(g, [1.0])


_BAD_VALUE = [
    ("nan", [np.nan, 1.0], "NaN or infinite"),
    ("inf", [np.inf, 1.0], "NaN or infinite"),
    ("-inf", [-np.inf, 1.0], "NaN or infinite"),
    ("huge int", [2**2000, 1], "NaN or infinite"),
    ("longdouble overflow", np.array([np.finfo(np.longdouble).max, 1.0], dtype=np.longdouble),
     "NaN or infinite|beyond float64"),
    ("ragged", [[1.0, 2.0], [1.0]], "ragged"),
    ("3-d", np.ones((2, 2, 2)), "shape"),
]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("position", [0, 1])
@pytest.mark.parametrize("label, bad, message", _BAD_VALUE, ids=[c[0] for c in _BAD_VALUE])
def test_constructors_refuse_bad_values_with_value_error(family, position, label, bad, message):
    cls, names = FAMILIES[family]
    args = list(GOOD[family])
    if label == "longdouble overflow" and np.finfo(np.longdouble).max <= np.finfo(np.float64).max:
        pytest.skip("longdouble is float64 here")
    args[position] = bad
    with pytest.raises(ValueError, match=names[position] if label not in ("3-d",) else message):
        cls(*args)


@pytest.mark.parametrize("cls", [rn.Gaussian, rn.Laplace])
@pytest.mark.parametrize("scale", [[0.0, 1.0], [-1.0, 1.0], [-1e-300, 1.0], -1.0, 0.0])
def test_location_scale_families_need_positive_scales(cls, scale):
    with pytest.raises(ValueError, match="scale must be > 0"):
        cls([0.0, 1.0], scale)


@pytest.mark.parametrize("low, high, message", [
    ([0.0, 1.0], [0.0, 2.0], "low must be < high"),
    ([1.0, 1.0], [0.0, 2.0], "low must be < high"),
    ([-1e308, 0.0], [1e308, 1.0], "overflows"),
])
def test_uniform_needs_a_positive_width(low, high, message):
    with pytest.raises(ValueError, match=message):
        rn.Uniform(low, high)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("first, second, message", [
    (0.0, 1.0, "scalars"),
    ([], [], "no dimensions"),
    (np.zeros((2, 0)), np.ones((2, 0)), "no dimensions"),
    ([0.0, 1.0], [1.0, 2.0, 3.0], "do not broadcast"),
])
def test_constructors_refuse_bad_shapes(family, first, second, message):
    cls, _ = FAMILIES[family]
    if family == "Uniform" and message == "do not broadcast":
        second = [3.0, 4.0, 5.0]
    if family == "Uniform" and message == "scalars":
        first, second = 0.0, 1.0
    with pytest.raises(ValueError, match=message):
        cls(first, second)


@pytest.mark.parametrize("value", [np.array([1, 2], dtype=np.int8), np.array([1, 2], dtype=np.uint64),
                                   np.array([1, 2], dtype=np.float16), [fractions.Fraction(1, 3), 2],
                                   np.array([1, 2], dtype=object), [2**70, 1]])
def test_real_number_kinds_are_accepted_as_float64(value):
    g = rn.Gaussian(value, [1.0, 1.0])
    assert g.loc.dtype == np.float64 and np.allclose(g.loc, np.asarray(value, dtype=np.float64))


@pytest.mark.parametrize("dims", [[5], [-4], "a", [0.5], np.array([1.0]), [True, False]])
def test_take_dims_names_dims(dims):
    g = rn.Gaussian(np.zeros((2, 3)), 1.0)
    with pytest.raises(ValueError, match="dims"):
        g.take_dims(dims)


@pytest.mark.parametrize("shape", [(4, 3), (2, 4), "x", (2, -3)])
def test_broadcast_to_names_the_shape(shape):
    with pytest.raises(ValueError, match="shape"):
        rn.Gaussian(np.zeros((2, 3)), 1.0).broadcast_to(shape)


def test_indexing_an_unbatched_distribution():
    with pytest.raises(ValueError, match="only a batched"):
        rn.Laplace([0.0], [1.0])[0]


# ------------------------------------------------------------------- kl_bits / dinf_bits

@pytest.mark.parametrize("function", [rn.kl_bits, rn.dinf_bits])
@pytest.mark.parametrize("which", ["target", "prior"])
@pytest.mark.parametrize("bad", [(0, 1), None, np.zeros(3), [rn.Gaussian([0.0], [1.0])], "Gaussian"])
def test_kl_and_dinf_need_distributions(function, which, bad):
    good = rn.Gaussian([0.0], [1.0])
    args = (bad, good) if which == "target" else (good, bad)
    with pytest.raises(TypeError, match=f"{which} must be a recnumba distribution"):
        function(*args)


@pytest.mark.parametrize("function", [rn.kl_bits, rn.dinf_bits])
def test_kl_bad_pairs_shapes_and_flags(function):
    g1, g2 = rn.Gaussian([0.0], [1.0]), rn.Gaussian([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="dimensions"):
        function(g1, g2)
    with pytest.raises(ValueError, match="not supported"):
        function(rn.Laplace([0.0], [1.0]), g1)
    with pytest.raises(ValueError, match="do not broadcast"):
        function(rn.Gaussian(np.zeros((2, 1)), 1.0), rn.Gaussian(np.zeros((3, 1)), 1.0))
    with pytest.raises(TypeError, match="per_dimension"):
        function(g1, g1, per_dimension="yes")


# ------------------------------------------------------------------- write_stream and friends

_INDEX_CASES = [
    ("2**63 first", lambda b: [2**63] + [0] * (b - 1), r"integers in \[0, 2\^63 - 1\]"),
    ("2**63 with -1", lambda b: [2**63, -1] + [0] * (b - 2), r"integers in \[0, 2\^63 - 1\]"),
    ("2**64", lambda b: [2**64] * b, r"integers in \[0, 2\^63 - 1\]"),
    ("negative", lambda b: [-1] * b, r"integers in \[0, 2\^63 - 1\]"),
    ("uint64 2**63", lambda b: np.full(b, 2**63, dtype=np.uint64), r"integers in \[0, 2\^63 - 1\]"),
    ("float array", lambda b: np.zeros(b), "indices must be integers"),
    ("float list", lambda b: [0.5] * b, "indices must be integers"),
    ("bool", lambda b: [True] * b, "indices must be integers"),
    ("strings", lambda b: ["1"] * b, "indices must be integers"),
    ("None", lambda b: [None] * b, "indices must be integers"),
    ("ragged", lambda b: [[1] * b, [1]], "indices"),
    ("wrong length", lambda b: [1] * (b + 1), "shape"),
    ("scalar", lambda b: 3, "shape"),
    ("3-d", lambda b: np.zeros((1, 1, b), dtype=np.int64), "shape"),
    ("no items", lambda b: np.zeros((0, b), dtype=np.int64), "shape"),
]


@pytest.mark.parametrize("function", ["write_stream", "payload_bits", "code_report", "fit_exponent_model"])
@pytest.mark.parametrize("label, make, message", _INDEX_CASES, ids=[c[0] for c in _INDEX_CASES])
def test_stream_functions_refuse_bad_indices(plan, function, label, make, message):
    indices = make(plan.num_blocks)
    call = {
        "write_stream": lambda: write_stream(indices, plan, 1),
        "payload_bits": lambda: payload_bits(indices, plan),
        "code_report": lambda: code_report(indices, plan),
        "fit_exponent_model": lambda: fit_exponent_model(indices, plan),
    }[function]
    with pytest.raises(ValueError, match=message):
        call()


def test_write_stream_message_for_2_63_names_the_range_not_a_dtype(plan):
    with pytest.raises(ValueError) as info:
        write_stream([2**63] + [0] * (plan.num_blocks - 1), plan, 1)
    assert "float64" not in str(info.value) and "9223372036854775808" in str(info.value)


@pytest.mark.parametrize("num_items", [None, 1, 5])
@pytest.mark.parametrize("offset", [0, 1, 2**20, 2**63, 2**70])
def test_write_stream_refuses_items_the_reader_cannot_decode(plan, num_items, offset):
    count = 1 if num_items is None else num_items
    limit = 2**32 // plan.num_blocks - count  # the largest first item
    indices = _good_indices(plan, num_items)
    last = write_stream(indices, plan, 1, item=limit)  # the limit itself is written and read back
    assert read_stream(last, plan).item == limit
    with pytest.raises(ValueError, match=f"item must be at most {limit}"):
        write_stream(indices, plan, 1, item=limit + offset + 1 if offset else limit + 1)


def test_read_stream_rejects_a_sealed_stream_with_keys_beyond_2_32(plan):
    from recnumba.container import _varint

    good = write_stream(_good_indices(plan), plan, 1, item=3)
    assert good[25] == 3  # the item varint
    for item in (2**32 // plan.num_blocks, 2**40, 2**69):
        body = good[:25] + _varint(item) + good[26:-4]
        with pytest.raises(StreamError, match="beyond 2\\^32"):
            read_stream(body + zlib.crc32(body).to_bytes(4, "big"), plan)


_WRITE_CASES = [
    (dict(item=-1), ValueError, "item"),
    (dict(item=1.0), ValueError, "item"),
    (dict(item=True), ValueError, "item"),
    (dict(item="1"), ValueError, "item"),
    (dict(item=None), ValueError, "item"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=2**62), ValueError, "seed"),
    (dict(seed=1.5), ValueError, "seed"),
    (dict(seed="1"), ValueError, "seed"),
    (dict(seed=None), ValueError, "seed"),
    (dict(code="gamma"), ValueError, "code"),
    (dict(code=["delta"]), ValueError, "code"),
    (dict(code=None), ValueError, "code"),
    (dict(code=1), ValueError, "code"),
    (dict(code="exponent", exponent_offset=np.nan), ValueError, "exponent_offset"),
    (dict(code="exponent", exponent_offset=np.inf), ValueError, "exponent_offset"),
    (dict(code="exponent", exponent_offset=-17.0), ValueError, "exponent_offset"),
    (dict(code="exponent", exponent_offset=True), ValueError, "exponent_offset"),
    (dict(code="exponent", exponent_offset=1j), ValueError, "exponent_offset"),
    (dict(code="exponent", exponent_scale=-1.0), ValueError, "exponent_scale"),
    (dict(code="exponent", exponent_scale=0.0), ValueError, "exponent_scale"),
    (dict(code="exponent", exponent_scale=32.0), ValueError, "exponent_scale"),
    (dict(code="exponent", exponent_scale=np.nan), ValueError, "exponent_scale"),
    (dict(code="exponent", exponent_scale=None), ValueError, "exponent_scale"),
    (dict(code="exponent", exponent_scale=[1.0, np.nan]), ValueError, "exponent_scale"),
    (dict(code="exponent", exponent_offset=np.zeros((2, 2))), ValueError, "per block"),
    (dict(plan=None), TypeError, "plan"),
    (dict(plan="plan"), TypeError, "plan"),
    (dict(plan=rn.Partition([2, 2])), TypeError, "plan"),
]


@pytest.mark.parametrize("kwargs, error, message", _WRITE_CASES)
def test_write_stream_bad_arguments(plan, kwargs, error, message):
    args = dict(plan=plan, seed=1)
    args.update(kwargs)
    if message == "exponent_scale" and np.ndim(args.get("exponent_scale")) == 1:
        args["exponent_scale"] = np.resize(args["exponent_scale"], plan.num_blocks)
    with pytest.raises(error, match=message):
        write_stream(_good_indices(plan), args.pop("plan"), args.pop("seed"), **args)


@pytest.mark.parametrize("data", ["RECN", 12, None, [82, 69, 67, 78], np.zeros(40, dtype=np.uint8)])
def test_read_stream_needs_bytes(plan, data):
    with pytest.raises(TypeError, match="data must be bytes"):
        read_stream(data, plan)


@pytest.mark.parametrize("bad_plan", [None, "plan", 3, {"blocks": []}])
@pytest.mark.parametrize("function", ["read_stream", "payload_bits", "code_report", "fit_exponent_model"])
def test_stream_functions_need_a_plan(plan, bad_plan, function):
    stream = write_stream(_good_indices(plan), plan, 1)
    call = {
        "read_stream": lambda: read_stream(stream, bad_plan),
        "payload_bits": lambda: payload_bits(_good_indices(plan), bad_plan),
        "code_report": lambda: code_report(_good_indices(plan), bad_plan),
        "fit_exponent_model": lambda: fit_exponent_model(_good_indices(plan), bad_plan),
    }[function]
    with pytest.raises(TypeError, match="plan must be a recnumba.BlockPlan"):
        call()


@pytest.mark.parametrize("per_block", ["yes", 1, None])
def test_fit_exponent_model_per_block_flag(plan, per_block):
    with pytest.raises(TypeError, match="per_block"):
        fit_exponent_model(_good_indices(plan), plan, per_block=per_block)


@pytest.mark.parametrize("code", ["gamma", None, ["delta"]])
def test_payload_bits_bad_code(plan, code):
    with pytest.raises(ValueError, match="code must be one of"):
        payload_bits(_good_indices(plan), plan, code)


@pytest.mark.parametrize("value, message", [
    ([[1], [1, 2]], "ragged"), (None, "None"), ([1, None], "None"), ("7", "dtype <U1"),
    (2**63, "9223372036854775808"), (-5, "-5"), ([0.0], "0.0"), (np.array([1.0]), "float64"),
])
def test_check_indices_names_the_argument_and_the_range(value, message):
    with pytest.raises(ValueError, match=r"index must be integers in \[0, 2\^63 - 1\]") as info:
        check_indices(value)
    assert message in str(info.value)


# ------------------------------------------------------------------- datasets

@pytest.fixture(scope="module")
def targets(plan):
    rng = np.random.default_rng(3)
    return rn.Gaussian(rng.normal(0, 0.5, (3, plan.dim)), np.full((3, plan.dim), 0.5))


def test_encode_dataset_with_no_items_returns_empty_arrays(plan, prior):
    empty = rn.Gaussian(np.zeros((0, plan.dim)), np.ones((0, plan.dim)))
    enc = encode_dataset(empty, prior, plan, 1)
    B, D = plan.num_blocks, plan.dim
    assert enc.indices.shape == enc.steps.shape == enc.exact.shape == (0, B)
    assert enc.samples.shape == (0, D)
    assert enc.ideal_bits.shape == enc.delta_bits.shape == enc.kl_bits.shape == (0,)
    streams, _ = encode_dataset_to_streams(empty, prior, plan, 1)
    assert streams == []
    assert decode_streams([], prior, plan).shape == (0, D)
    assert decode_dataset(enc.indices, prior, plan, 1).shape == (0, D)
    # ... but the arguments are still checked
    with pytest.raises(ValueError, match="seed"):
        encode_dataset(empty, prior, plan, -1)
    with pytest.raises(ValueError, match="method"):
        encode_dataset(empty, prior, plan, 1, method="fast")
    with pytest.raises(TypeError, match="prior"):
        decode_streams([], (0, 1), plan)


_ENCODE_CASES = [
    (dict(targets=(0, 1)), TypeError, "targets"),
    (dict(targets=None), TypeError, "targets"),
    (dict(targets=np.zeros((3, 12))), TypeError, "targets"),
    (dict(prior=(0, 1)), TypeError, "prior"),
    (dict(prior=None), TypeError, "prior"),
    (dict(plan=None), TypeError, "plan"),
    (dict(plan="p"), TypeError, "plan"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=2**62), ValueError, "seed"),
    (dict(seed=1.0), ValueError, "seed"),
    (dict(seed="1"), ValueError, "seed"),
    (dict(method="fast"), ValueError, "method"),
    (dict(method=None), ValueError, "method"),
    (dict(method=["orc"]), ValueError, "method"),
    (dict(weights="uniform"), ValueError, "weights"),
    (dict(weights=["auto"]), ValueError, "weights"),
    (dict(first_item=-1), ValueError, "first_item"),
    (dict(first_item=1.5), ValueError, "first_item"),
    (dict(first_item=2**40), ValueError, "stream keys"),
    (dict(first_item=2**70), ValueError, "first_item"),
    (dict(chunk=0), ValueError, "chunk"),
    (dict(chunk=-3), ValueError, "chunk"),
    (dict(chunk=2.5), ValueError, "chunk"),
    (dict(progress="yes"), TypeError, "progress"),
    (dict(backend="gpu"), ValueError, "backend"),
    (dict(backend=None), ValueError, "backend"),
    (dict(method="pfr", num_samples=64), ValueError, "num_samples"),
    (dict(num_samples=0), ValueError, "num_samples"),
    (dict(num_samples=-1), ValueError, "num_samples"),
    (dict(num_samples=2.0**10), ValueError, "num_samples"),
    (dict(num_samples=2**63), ValueError, "num_samples"),
    (dict(max_steps=0), ValueError, "max_steps"),
    (dict(max_steps=None), ValueError, "max_steps"),
    (dict(max_steps=1e9), ValueError, "max_steps"),
    (dict(exact_bound_bits="x"), ValueError, "exact_bound_bits"),
    (dict(exact_bound_bits=np.nan), ValueError, "exact_bound_bits"),
    (dict(exact_bound_bits=-1.0), ValueError, "exact_bound_bits"),
]


@pytest.mark.parametrize("kwargs, error, message", _ENCODE_CASES)
def test_encode_dataset_bad_arguments(plan, prior, targets, kwargs, error, message):
    args = dict(targets=targets, prior=prior, plan=plan, seed=1, num_samples=64)
    args.update(kwargs)
    if args.get("method") == "pfr" and "num_samples" not in kwargs:
        args.pop("num_samples")
    with pytest.raises(error, match=message):
        encode_dataset(args.pop("targets"), args.pop("prior"), args.pop("plan"), args.pop("seed"), **args)


def test_encode_dataset_shape_mismatches(plan, prior, targets):
    with pytest.raises(ValueError, match="targets have"):
        encode_dataset(rn.Gaussian(np.zeros((2, plan.dim + 1)), 1.0), prior, plan, 1)
    with pytest.raises(ValueError, match="prior has"):
        encode_dataset(targets, rn.Gaussian(np.zeros(plan.dim + 1), 1.0), plan, 1)
    with pytest.raises(ValueError, match="prior has 2 rows"):
        encode_dataset(targets, rn.Gaussian(np.zeros((2, plan.dim)), 1.0), plan, 1)


_DECODE_CASES = [
    (dict(indices=np.zeros((2, 2, 2), dtype=np.int64)), ValueError, "indices"),
    (dict(indices="wrong length"), ValueError, "indices must have shape"),
    (dict(indices=5), ValueError, "indices must have shape"),
    (dict(indices="float"), ValueError, "indices must be integers"),
    (dict(indices="negative"), ValueError, "indices must be integers"),
    (dict(indices="2**63"), ValueError, "indices must be integers"),
    (dict(indices="ragged"), ValueError, "indices"),
    (dict(prior=(0, 1)), TypeError, "prior"),
    (dict(prior="rows"), ValueError, "prior has"),
    (dict(plan=None), TypeError, "plan"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed=None), ValueError, "seed"),
    (dict(first_item=-1), ValueError, "first_item"),
    (dict(first_item=2**31), ValueError, "stream keys"),
    (dict(chunk=0), ValueError, "chunk"),
    (dict(progress=None), TypeError, "progress"),
    (dict(backend="tpu"), ValueError, "backend"),
    (dict(num_samples=0), ValueError, "num_samples"),
    (dict(num_samples="many"), ValueError, "num_samples"),
]


@pytest.mark.parametrize("kwargs, error, message", _DECODE_CASES)
def test_decode_dataset_bad_arguments(plan, prior, kwargs, error, message):
    B = plan.num_blocks
    special = {
        "wrong length": np.zeros((2, B + 1), dtype=np.int64), "float": np.zeros((2, B)),
        "negative": -np.ones((2, B), dtype=np.int64), "2**63": [[2**63] * B] * 2, "ragged": [[1] * B, [1]],
    }
    args = dict(indices=np.zeros((2, B), dtype=np.int64), prior=prior, plan=plan, seed=1)
    args.update(kwargs)
    if isinstance(args["indices"], str):
        args["indices"] = special[args["indices"]]
    if isinstance(args["prior"], str):
        args["prior"] = rn.Gaussian(np.zeros((3, plan.dim)), 1.0)
    with pytest.raises(error, match=message):
        decode_dataset(args.pop("indices"), args.pop("prior"), args.pop("plan"), args.pop("seed"), **args)


@pytest.mark.parametrize("streams, error, message", [
    (5, TypeError, "streams must be bytes"),
    (None, TypeError, "streams must be bytes"),
    ("RECN", TypeError, "streams must be bytes"),
    ({"a": b""}, TypeError, "streams must be bytes"),
    ([b"RECN", 5], StreamError, "truncated"),
    (["RECN"], TypeError, "data must be bytes"),
    ([b"junk" * 20], StreamError, "bad magic"),
    ([b""], StreamError, "truncated"),
])
def test_decode_streams_bad_streams(plan, prior, streams, error, message):
    with pytest.raises(error, match=message):
        decode_streams(streams, prior, plan)


def test_decode_streams_bad_prior_plan_and_options(plan, prior, targets):
    streams, enc = encode_dataset_to_streams(targets, prior, plan, 1, num_samples=64)
    with pytest.raises(TypeError, match="prior"):
        decode_streams(streams, (0, 1), plan)
    with pytest.raises(ValueError, match="prior has 2 rows"):
        decode_streams(streams, rn.Gaussian(np.zeros((2, plan.dim)), 1.0), plan)
    with pytest.raises(TypeError, match="plan"):
        decode_streams(streams, prior, None)
    with pytest.raises(TypeError, match="progress"):
        decode_streams(streams, prior, plan, progress="no")
    with pytest.raises(ValueError, match="backend"):
        decode_streams(streams, prior, plan, backend="gpu")
    other = BlockPlan.build(np.full(plan.dim, 1.0), 8.0, seed=9)
    with pytest.raises(StreamError, match="written for plan"):
        decode_streams(streams, prior, other)
    assert np.array_equal(decode_streams(streams, prior, plan), enc.samples)


@pytest.mark.parametrize("kwargs, message", [
    (dict(code="gamma"), "code"),
    (dict(code="exponent", exponent_scale=0.0), "exponent_scale"),
    (dict(code="exponent", exponent_offset=np.nan), "exponent_offset"),
])
def test_encode_dataset_to_streams_bad_stream_options(plan, prior, targets, kwargs, message):
    with pytest.raises(ValueError, match=message):
        encode_dataset_to_streams(targets, prior, plan, 1, num_samples=64, **kwargs)


# ------------------------------------------------------------------- fuzzing every stream format


@pytest.fixture
def no_hang():
    """Fail (instead of hanging) if a fuzz test runs over 60 s (SIGALRM, where the platform has it)."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def timeout(signum, frame):
        raise AssertionError("a fuzz test ran over 60 s: some stream makes read_stream hang")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(60)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _sealed(body):
    return body + zlib.crc32(body).to_bytes(4, "big")


@pytest.fixture(scope="module")
def fuzz_streams(plan, prior):
    """A few real small streams of every format, with what each must decode to."""
    rng = np.random.default_rng(21)
    one = rng.integers(0, 2**10, plan.num_blocks)
    batch = rng.integers(0, 2**16, (3, plan.num_blocks))
    streams = {
        "delta": (write_stream(one, plan, 5, item=7), one),
        "delta batch": (write_stream(batch, plan, 6, item=2), batch),
        "exponent": (write_stream(one, plan, 7, code="exponent"), one),
        "exponent batch": (write_stream(batch, plan, 8, code="exponent", item=40), batch),
        "exponent per block": (write_stream(batch[:2], plan, 9, code="exponent",
                                            exponent_offset=np.linspace(-2, 1, plan.num_blocks),
                                            exponent_scale=2.5), batch[:2]),
        "extremes": (write_stream(np.r_[0, 2**63 - 1, [1] * (plan.num_blocks - 2)], plan, 2**62 - 1,
                                  code="exponent"), np.r_[0, 2**63 - 1, [1] * (plan.num_blocks - 2)]),
    }
    for code in ("two-part", "zeta"):  # the codes issue's stream codes 3 and 4
        streams[code] = (write_stream(one, plan, 3, code=code, item=5), one)
        streams[f"{code} batch"] = (write_stream(batch, plan, 4, code=code), batch)
    v2 = write_stream(batch[:1], plan, 10, code="delta")
    streams["version 1"] = (_sealed(v2[:4] + b"\x01" + v2[5:-4]), batch[:1])
    targets = rn.Gaussian(rng.normal(0, 0.4, (2, plan.dim)), np.full((2, plan.dim), 0.6))
    dataset_streams, enc = encode_dataset_to_streams(targets, prior, plan, 11, num_samples=64, first_item=3)
    ds_exp, enc_exp = encode_dataset_to_streams(targets, prior, plan, 12, num_samples=64, code="exponent")
    for i, s in enumerate(dataset_streams):
        streams[f"dataset item {i}"] = (s, enc.indices[i])
    streams["dataset exponent item 1"] = (ds_exp[1], enc_exp.indices[1])
    for name, (stream, indices) in streams.items():  # every one is valid to begin with
        assert np.array_equal(read_stream(stream, plan).indices, indices), name
    return streams


def _must_fail(data, plan):
    try:
        got = read_stream(data, plan)
    except StreamError:
        return
    raise AssertionError(f"a damaged stream decoded silently to {got.indices!r:.80}")


def test_fuzz_every_bit_flip_truncation_and_junk_of_every_format(plan, fuzz_streams, no_hang):
    start = time.perf_counter()
    for name, (stream, _) in fuzz_streams.items():
        for bit in range(8 * len(stream)):
            flipped = bytearray(stream)
            flipped[bit // 8] ^= 0x80 >> (bit % 8)
            _must_fail(bytes(flipped), plan)
        for cut in range(len(stream)):
            _must_fail(stream[:cut], plan)
        for junk in (b"\x00", b"\xff", b"\x00" * 4, stream[-4:], b"RECN", stream, bytes(range(256))):
            _must_fail(stream + junk, plan)
            _must_fail(junk + stream, plan)
    assert time.perf_counter() - start < 20.0  # never slow, let alone a hang


def test_fuzz_seeded_random_bursts(plan, fuzz_streams, no_hang):
    """Bursts of 1-16 random bytes XORed in anywhere (always a change): StreamError, within a time bound."""
    rng = np.random.default_rng(14)
    start = time.perf_counter()
    for name, (stream, _) in fuzz_streams.items():
        for _ in range(150):
            length = int(rng.integers(1, 17))
            pos = int(rng.integers(0, len(stream)))
            burst = rng.integers(1, 256, length, dtype=np.uint8)  # nonzero: every byte changes
            damaged = bytearray(stream)
            for k, value in enumerate(burst[: len(stream) - pos]):
                damaged[pos + k] ^= int(value)
            _must_fail(bytes(damaged), plan)
        for _ in range(30):  # random bytes of random length, and random bytes after a valid header
            _must_fail(rng.integers(0, 256, int(rng.integers(0, 120)), dtype=np.uint8).tobytes(), plan)
            _must_fail(stream[:25] + rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes(), plan)
    assert time.perf_counter() - start < 20.0


def test_fuzz_resealed_mutations_never_crash(plan, fuzz_streams, no_hang):
    """Mutations whose CRC is recomputed (a forged stream; the CRC cannot catch these): StreamError,
    or a well-formed decode. A delta stream that decodes re-writes to exactly the forged bytes (the
    decode is what those bytes mean); the range coder of the exponent code tolerates some changes in
    its last words, so there only the decoded values are checked (shape, range, round trip)."""
    rng = np.random.default_rng(15)
    for name, (stream, _) in fuzz_streams.items():
        if name == "version 1":
            continue
        for _ in range(60):
            body = bytearray(stream[:-4])
            pos = int(rng.integers(5, len(body)))
            body[pos] ^= int(rng.integers(1, 256))
            forged = _sealed(bytes(body))
            try:
                got = read_stream(forged, plan)
            except StreamError:
                continue
            assert got.indices.dtype == np.int64 and got.indices.shape[-1] == plan.num_blocks
            assert np.all(got.indices >= 0)
            offset, scale = got.exponent_model if got.code == "exponent" else (-1.0, 3.0)
            again = write_stream(got.indices, plan, got.seed, code=got.code, item=got.item,
                                 exponent_offset=offset, exponent_scale=scale)
            assert np.array_equal(read_stream(again, plan).indices, got.indices)
            if got.code in ("delta", "two-part", "zeta"):  # canonical codes: the decode is what the bytes mean
                assert again == forged, (name, pos)


def test_fuzz_dataset_streams_through_decode_streams(plan, prior, fuzz_streams, no_hang):
    """decode_streams raises StreamError for damaged dataset streams (and decodes the intact ones)."""
    streams = [fuzz_streams["dataset item 0"][0], fuzz_streams["dataset item 1"][0]]
    decode_streams(streams, prior, plan)
    rng = np.random.default_rng(16)
    for _ in range(40):
        which = int(rng.integers(0, 2))
        damaged = bytearray(streams[which])
        damaged[int(rng.integers(0, len(damaged)))] ^= 1 << int(rng.integers(0, 8))
        batch = list(streams)
        batch[which] = bytes(damaged)
        with pytest.raises(StreamError):
            decode_streams(batch, prior, plan)
        with pytest.raises(StreamError):
            decode_streams(batch[which][: int(rng.integers(0, len(damaged)))], prior, plan)
