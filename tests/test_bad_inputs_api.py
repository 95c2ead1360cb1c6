"""Bad inputs to ``rn.encode``, ``rn.decode``, ``rn.kl_bits`` and ``rn.dinf_bits`` (issue #14).

Every case names the exception type and the argument its message must name: a wrong kind of
object raises TypeError, a wrong kind of value where a number belongs (a string, None, a boolean, a
float where an integer belongs) ``rn.ParameterTypeError`` (a TypeError that is also a ValueError),
a bad value ValueError. Nothing may hang, crash, return NaN or decode silently wrong.
"""

import contextlib
import time
import warnings

import numpy as np
import pytest

import recnumba as rn
from recnumba.api import ORC_UNBOUNDED_BUDGET_LIMIT

PartitionTooFineWarning = rn.PartitionTooFineWarning

PRIOR = rn.Gaussian(np.zeros(3), np.ones(3))
TARGET = rn.Gaussian([0.3, -0.2, 0.1], [0.5, 0.6, 0.7])        # bounded ratio, about 2 bits
WIDE = rn.Gaussian([0.3, -0.2, 0.1], [1.5, 0.6, 0.7])          # unbounded ratio (a std above 1)
BATCH_PRIOR = rn.Gaussian(np.zeros((4, 3)), np.ones((4, 3)))
NOT_A_DISTRIBUTION = [None, 0, 1.5, "gaussian", (0.0, 1.0), [0.0, 1.0], {"loc": 0}, np.zeros(3),
                      np.zeros((2, 3)), rn.Partition.plain(3)]


def _encode(**options):
    return rn.encode(options.pop("target", TARGET), options.pop("prior", PRIOR), options.pop("seed", 1), **options)


def _decode(**options):
    return rn.decode(options.pop("index", 3), options.pop("prior", PRIOR), options.pop("seed", 1), **options)


def _not_a_number(value, integer=False):
    """Is ``value`` the wrong kind where a number (an integer, if ``integer``) belongs?"""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return True
    return integer and not isinstance(value, (int, np.integer))


def _not_integers(value):
    """Does an index-like argument (an int, or a nested sequence or array of them) hold a non-integer?"""
    if isinstance(value, (list, tuple)):
        return any(_not_integers(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.dtype == bool or not np.issubdtype(value.dtype, np.integer)
    return _not_a_number(value, integer=True)


@contextlib.contextmanager
def _raises(wrong_kind, match):
    """ParameterTypeError (TypeError and ValueError) for a wrong kind, else a ValueError that is no TypeError."""
    with pytest.raises(rn.ParameterTypeError if wrong_kind else ValueError, match=match) as caught:
        yield caught
    if not wrong_kind:
        assert not isinstance(caught.value, TypeError), repr(caught.value)


def _forced(distribution, which, position, value):
    """A copy of ``distribution`` whose read-only parameter ``which`` was made writable and edited."""
    copy = type(distribution)(*distribution.params)
    array = copy.params[which]
    array.flags.writeable = True  # numpy lets the owner of the copy do this
    array.reshape(-1)[position] = value
    return copy


# --- wrong kinds of object: TypeError ---------------------------------------------------------------

@pytest.mark.parametrize("bad", NOT_A_DISTRIBUTION, ids=repr)
def test_encode_target_of_wrong_kind(bad):
    with pytest.raises(TypeError, match="target"):
        _encode(target=bad)


@pytest.mark.parametrize("bad", NOT_A_DISTRIBUTION, ids=repr)
def test_encode_prior_of_wrong_kind(bad):
    with pytest.raises(TypeError, match="prior"):
        _encode(prior=bad)


@pytest.mark.parametrize("bad", NOT_A_DISTRIBUTION, ids=repr)
def test_decode_prior_of_wrong_kind(bad):
    with pytest.raises(TypeError, match="prior"):
        _decode(prior=bad)


@pytest.mark.parametrize("function", [rn.kl_bits, rn.dinf_bits])
@pytest.mark.parametrize("bad", NOT_A_DISTRIBUTION, ids=repr)
def test_divergence_arguments_of_wrong_kind(function, bad):
    with pytest.raises(TypeError, match="target"):
        function(bad, PRIOR)
    with pytest.raises(TypeError, match="prior"):
        function(TARGET, bad)


# --- the distributions: values -----------------------------------------------------------------------

@pytest.mark.parametrize("function", [rn.kl_bits, rn.dinf_bits])
@pytest.mark.parametrize(
    "target, prior, message",
    [
        (TARGET, rn.Laplace(np.zeros(3), np.ones(3)), "not supported"),
        (rn.Laplace(np.zeros(3), np.ones(3)), PRIOR, "not supported"),
        (rn.Gaussian(np.zeros(2), np.ones(2)), PRIOR, "dimensions"),
        (rn.Gaussian(np.zeros((3, 3)), 0.5), BATCH_PRIOR, "broadcast"),
    ],
    ids=["laplace-prior", "laplace-target", "dims", "batch"],
)
def test_divergence_bad_pairs(function, target, prior, message):
    with pytest.raises(ValueError, match=message):
        function(target, prior)


@pytest.mark.parametrize("function", [rn.kl_bits, rn.dinf_bits])
@pytest.mark.parametrize("which, position, value", [(1, 0, -1.0), (1, 1, 0.0), (1, 2, np.nan), (0, 0, np.inf)],
                         ids=str)
def test_divergence_names_the_edited_argument(function, which, position, value):
    """A distribution whose read-only arrays were forced writable and edited: the message says which one."""
    with pytest.raises(ValueError, match=r"^prior: not a valid Gaussian.*(scale must be > 0|NaN or infinite)"):
        function(TARGET, _forced(PRIOR, which, position, value))
    with pytest.raises(ValueError, match=r"^target: not a valid Gaussian.*(scale must be > 0|NaN or infinite)"):
        function(_forced(TARGET, which, position, value), PRIOR)
    with pytest.raises(ValueError, match=r"^prior: not a valid Gaussian"):
        function(TARGET, _forced(PRIOR, which, position, value), per_dimension=True)
    with pytest.raises(ValueError, match=r"^prior: not a valid Gaussian"):
        function(rn.Gaussian(np.zeros((4, 3)), 0.5), _forced(BATCH_PRIOR, which, 5, value))


@pytest.mark.parametrize(
    "target, prior, message",
    [
        (TARGET, rn.Laplace(np.zeros(3), np.ones(3)), "not supported"),
        (rn.Uniform(np.zeros(3), np.ones(3)), rn.Laplace(np.zeros(3), np.ones(3)), "not supported"),
        (rn.Gaussian(np.zeros(2), 0.5), PRIOR, "dimensions"),
        (rn.Gaussian(np.zeros(4), 0.5), PRIOR, "dimensions"),
        (rn.Gaussian(np.zeros((3, 3)), 0.5), BATCH_PRIOR, "blocks"),
        (rn.Gaussian(np.zeros((5, 3)), 0.5), BATCH_PRIOR, "blocks"),
    ],
    ids=["gauss-laplace", "uniform-laplace", "dims2", "dims4", "batch3", "batch5"],
)
def test_encode_bad_pairs(target, prior, message):
    with pytest.raises(ValueError, match=message):
        _encode(target=target, prior=prior)


FORCED = [(1, 0, -1.0), (1, 1, 0.0), (1, 2, np.nan), (1, 0, np.inf), (1, 1, -np.inf), (0, 0, np.nan),
          (0, 2, np.inf), (0, 1, -np.inf)]


@pytest.mark.parametrize("which, position, value", FORCED, ids=str)
def test_decode_refuses_a_prior_edited_after_construction(which, position, value):
    index = _encode().index
    good = _decode(index=index)
    assert np.all(np.isfinite(good))
    with pytest.raises(ValueError, match="prior"):
        _decode(index=index, prior=_forced(PRIOR, which, position, value))
    with pytest.raises(ValueError, match="prior"):
        _decode(index=[index] * 4, prior=_forced(BATCH_PRIOR, which, 5, value))


@pytest.mark.parametrize("which, position, value", FORCED, ids=str)
def test_encode_refuses_distributions_edited_after_construction(which, position, value):
    with pytest.raises(ValueError, match="prior"):
        _encode(prior=_forced(PRIOR, which, position, value))
    with pytest.raises(ValueError, match="target"):
        _encode(target=_forced(TARGET, which, position, value), method="orc", num_samples=64)


def test_distribution_parameters_are_read_only_copies():
    scale = np.ones(3)
    prior = rn.Gaussian(np.zeros(3), scale)
    scale[0] = -1.0  # the caller's array: not the prior's
    assert prior.scale[0] == 1.0
    with pytest.raises(ValueError):
        prior.scale[0] = -1.0
    assert _decode(prior=prior).shape == (3,)


def test_laplace_prior_edited_after_construction():
    prior = rn.Laplace(np.zeros(3), np.ones(3))
    target = rn.Laplace([0.1, 0.2, 0.3], [0.5, 0.5, 0.5])
    index = rn.encode(target, prior, 2).index
    with pytest.raises(ValueError, match="prior"):
        rn.decode(index, _forced(prior, 1, 0, -1.0), 2)


# --- seed ---------------------------------------------------------------------------------------------

BAD_SEEDS = [-1, 2**62, 2**64, 1.0, 1.5, "1", None, True, np.float64(3), float("nan"), float("inf"), [1],
             np.array([1, 2])]


@pytest.mark.parametrize("seed", BAD_SEEDS, ids=repr)
def test_bad_seeds(seed):
    with _raises(_not_a_number(seed, integer=True), "seed"):
        _encode(seed=seed)
    with _raises(_not_a_number(seed, integer=True), "seed"):
        _decode(seed=seed)


def test_string_seed_is_a_type_error_and_a_value_error():
    with pytest.raises(TypeError, match="seed must be an integer.*got str 'x'"):
        _encode(seed="x")
    with pytest.raises(ValueError, match="seed"):  # what it raised before, still caught by except ValueError
        _encode(seed="x")


@pytest.mark.parametrize("seed", [0, 2**62 - 1, np.int64(5), np.uint32(7)], ids=repr)
def test_extreme_valid_seeds_round_trip(seed):
    result = _encode(seed=seed)
    assert _decode(index=result.index, seed=seed).tobytes() == result.sample.tobytes()


# --- string options -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["PFR", "exact", "", " pfr", None, 1, ["pfr"], ("orc",), b"pfr"], ids=repr)
def test_bad_method(method):
    with pytest.raises(ValueError, match="method"):
        _encode(method=method)


@pytest.mark.parametrize("weights", ["Ratio", "auto", "uniform", "", 1, ["ratio"], b"ratio"], ids=repr)
def test_bad_weights(weights):
    with pytest.raises(ValueError, match="weights"):
        _encode(weights=weights)


@pytest.mark.parametrize("code", ["huffman", "DELTA", "", None, 1, ["delta"], b"delta"], ids=repr)
def test_bad_code(code):
    with pytest.raises(ValueError, match="code"):
        _encode(code=code)


@pytest.mark.parametrize("method", ["pfr", "auto"])
def test_fixed_code_needs_pure_orc(method):
    with pytest.raises(ValueError, match="fixed"):
        _encode(method=method, code="fixed")


@pytest.mark.parametrize("backend", ["gpu", "CPU", "", None, 0, ["cpu"], b"cpu", {"cpu": 1}], ids=repr)
def test_bad_backend(backend):
    with pytest.raises(ValueError, match="backend"):
        _encode(backend=backend)
    with pytest.raises(ValueError, match="backend"):
        _decode(backend=backend)


# --- integer options -----------------------------------------------------------------------------------

BAD_COUNTS = [0, -1, 2.5, 16.0, "16", True, float("nan"), float("inf"), 1 << 63, [16], np.float32(16)]


@pytest.mark.parametrize("num_samples", BAD_COUNTS, ids=repr)
def test_bad_num_samples(num_samples):
    with _raises(_not_a_number(num_samples, integer=True), "num_samples"):
        _encode(method="orc", num_samples=num_samples)
    with _raises(_not_a_number(num_samples, integer=True), "num_samples"):
        _decode(num_samples=num_samples)


@pytest.mark.parametrize("max_steps", BAD_COUNTS + [None], ids=repr)
def test_bad_max_steps(max_steps):
    with _raises(_not_a_number(max_steps, integer=True), "max_steps"):
        _encode(max_steps=max_steps)


@pytest.mark.parametrize("num_samples", [1, 64, 2**40])
def test_num_samples_is_an_orc_option(num_samples):
    with pytest.raises(ValueError, match="num_samples"):
        _encode(num_samples=num_samples)


@pytest.mark.parametrize("exact_bound_bits", ["x", "20", None, -1, -0.5, float("nan"), float("inf"), True,
                                              [20], np.array([20.0]), 1j], ids=repr)
@pytest.mark.parametrize("method", ["pfr", "orc", "auto"])
def test_bad_exact_bound_bits_for_every_method(exact_bound_bits, method):
    with _raises(_not_a_number(exact_bound_bits), "exact_bound_bits"):
        _encode(method=method, exact_bound_bits=exact_bound_bits)


# --- ORC budgets that could never finish -------------------------------------------------------------

@pytest.mark.parametrize("method", ["orc", "auto"])
@pytest.mark.parametrize("num_samples", [ORC_UNBOUNDED_BUDGET_LIMIT + 1, 2**36, 2**40, 2**62])
def test_orc_budget_with_unbounded_ratio_is_refused_at_once(method, num_samples):
    started = time.perf_counter()
    with pytest.raises(ValueError, match=r"num_samples.*limit 2\^32"):
        _encode(target=WIDE, method=method, num_samples=num_samples)
    batch = rn.Gaussian(np.stack([TARGET.loc, WIDE.loc]), np.stack([TARGET.scale, WIDE.scale]))
    with pytest.raises(ValueError, match=r"num_samples.*block 1"):
        rn.encode(batch, rn.Gaussian(np.zeros((2, 3)), 1.0), 1, method=method, num_samples=num_samples)
    assert time.perf_counter() - started < 5.0


def test_orc_budget_limit_is_2_to_the_32():
    assert ORC_UNBOUNDED_BUDGET_LIMIT == 2**32


def test_huge_orc_budget_with_bounded_ratio_stops_early():
    result = _encode(method="orc", num_samples=2**40)
    assert result.steps < 2**20
    assert _decode(index=result.index, num_samples=2**40).tobytes() == result.sample.tobytes()


# --- partitions much finer than the information --------------------------------------------------------

def _target14():
    """A 5-D target of about 14 bits."""
    return rn.Gaussian([0.9, -0.6, 0.3, 1.2, -0.2], [0.12, 0.15, 0.2, 0.13, 0.17])


@pytest.mark.parametrize("method, options, bits", [("pfr", {}, 62), ("pfr", {}, 30), ("auto", dict(num_samples=16), 58),
                                                   ("orc", dict(num_samples=16), 58), ("orc", {}, 40)])
def test_warning_when_log2_bins_far_exceed_kl(method, options, bits):
    prior = rn.Gaussian(np.zeros(5), np.ones(5))
    kl = float(rn.kl_bits(_target14(), prior))
    assert 12 < kl < 16
    with pytest.warns(PartitionTooFineWarning, match=rf"^encode, block 0: log2 J = {bits}\.0.*the target's KL = "
                                                     rf"1[2-6]\.\d.*above 8 bits.*coarser partition") as caught:
        result = rn.encode(_target14(), prior, 1, partition=rn.Partition.uniform(5, bits), method=method,
                           **options)
    assert issubclass(PartitionTooFineWarning, UserWarning)
    assert [w.filename for w in caught if w.category is PartitionTooFineWarning] == [__file__]  # the user's line
    assert result.bits > bits


@pytest.mark.parametrize("bits", [0, 4, 11, 12, 20])
def test_no_warning_for_sensible_partitions(bits):
    prior = rn.Gaussian(np.zeros(5), np.ones(5))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PartitionTooFineWarning)
        rn.encode(_target14(), prior, 1, partition=rn.Partition.uniform(5, bits))


# --- targets float64 cannot score ----------------------------------------------------------------------

@pytest.mark.parametrize("distance", [1e160, -1e200, 1e300])
def test_target_too_far_from_prior_says_so(distance):
    target = rn.Gaussian([distance], [1.0])
    with pytest.raises(ValueError, match="too far from the prior"):
        rn.encode(target, rn.Gaussian([0.0], [1.0]), 1, method="orc", num_samples=64)


# --- block ids ---------------------------------------------------------------------------------------

BAD_BLOCK_IDS = [[-1], [2**32], [2**40], [0.5], [1.0], ["a"], "a", [[0]], [0, 1], [], [True], 3,
                 np.array([np.nan])]


@pytest.mark.parametrize("block_ids", BAD_BLOCK_IDS, ids=repr)
def test_bad_block_ids(block_ids):
    wrong_kind = np.size(block_ids) > 0 and _not_integers(block_ids if not isinstance(block_ids, str) else [block_ids])
    with _raises(wrong_kind, "block_ids"):
        _encode(block_ids=block_ids)
    with _raises(wrong_kind, "block_ids"):
        _decode(index=np.array([3]), block_ids=block_ids) if np.ndim(block_ids) != 1 or len(block_ids) != 1 \
            else _decode(index=[3], block_ids=block_ids)


def test_block_ids_at_the_edge_round_trip():
    result = _encode(block_ids=[2**32 - 1])
    assert _decode(index=[result.index], block_ids=[2**32 - 1])[0].tobytes() == result.sample.tobytes()


# --- partitions --------------------------------------------------------------------------------------

@pytest.mark.parametrize("partition", [[2, 2], [2, 2, 2, 2], rn.Partition.uniform(4, 6), rn.Partition.plain(1)],
                         ids=repr)
def test_partition_of_the_wrong_dimension(partition):
    with pytest.raises(ValueError, match="partition"):
        _encode(partition=partition)
    with pytest.raises(ValueError, match="partition"):
        _decode(partition=partition)


# --- decode indices ----------------------------------------------------------------------------------

BAD_INDICES = [-1, 2**63, 2**64, 1.5, 3.0, "3", None, True, float("nan"), float("inf"), [1, -1], [1.0, 2.0],
               np.array([3], dtype=np.float32), np.array([2**63], dtype=np.uint64), [[1]], [[1, 2], [3, 4]],
               [True, False], b"3", 1j]


@pytest.mark.parametrize("index", BAD_INDICES, ids=repr)
def test_bad_decode_indices(index):
    with _raises(_not_integers(index), "index"):
        _decode(index=index)


def test_nested_index_message_names_the_shape():
    with pytest.raises(ValueError, match=r"1-D array .*shape \(1, 1\)"):
        _decode(index=[[1]])


@pytest.mark.parametrize("index", [3, [1, 2], [1, 2, 3, 4, 5], [[1, 2, 3, 4]]], ids=repr)
def test_decode_index_count_must_match_a_batched_prior(index):
    with pytest.raises(ValueError, match="index|one index per block"):
        _decode(index=index, prior=BATCH_PRIOR)


def test_decode_index_that_orc_cannot_produce():
    with pytest.raises(ValueError, match="num_samples"):
        _decode(index=100, num_samples=100)


@pytest.mark.parametrize("index", [0, 2**62, 2**63 - 1, np.uint64(2**63 - 1)], ids=repr)
def test_extreme_valid_indices_decode_to_finite_samples(index):
    sample = _decode(index=index)
    assert sample.shape == (3,) and np.all(np.isfinite(sample))


@pytest.mark.parametrize("argument", ["method", "weights", "backend", "code"])
@pytest.mark.parametrize("bad", [3, None, ["pfr"], b"pfr"])
def test_string_options_of_the_wrong_kind_are_parameter_type_errors(argument, bad):
    """A non-string where a choice of strings belongs is a wrong kind (TypeError, also ValueError);
    an unknown string is a plain ValueError."""
    if argument == "weights" and bad is None:
        return  # None means the default weights
    prior = rn.Gaussian(np.zeros(2), np.ones(2))
    target = rn.Gaussian([0.1, 0.2], [0.5, 0.5])
    with pytest.raises(rn.ParameterTypeError, match=argument):
        rn.encode(target, prior, 1, **{argument: bad})
    with pytest.raises(ValueError, match=argument) as info:
        rn.encode(target, prior, 1, **{argument: "no-such-choice"})
    assert not isinstance(info.value, TypeError)
