"""Public API: round trips, determinism, code lengths, step counts and input validation."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recnumba as rn
from conftest import repeated
from recnumba.backends import threads as threads_module
from recnumba.coding.elias import decode_integers, delta_length, encode_integers


def _target(dim, seed, spread=0.6, scales=(0.3, 0.5)):
    rng = np.random.default_rng(seed)
    return rn.Gaussian(rng.normal(0, spread, dim), rng.uniform(*scales, dim))


PRIOR5 = rn.Gaussian(np.zeros(5), np.ones(5))


@pytest.mark.parametrize(
    "options",
    [
        dict(),
        dict(partition=[3, 3, 2, 2, 1]),
        dict(partition=[3, 3, 2, 2, 1], weights="target"),
        dict(method="orc", num_samples=1 << 12),
        dict(method="orc", num_samples=1 << 12, partition=[4, 4, 4, 4, 4], weights="target"),
        dict(method="orc", num_samples=1 << 12, partition=[4, 4, 4, 4, 4], weights="ratio"),
    ],
)
def test_decode_of_encode_is_bit_identical(options):
    targets = rn.Gaussian(*(np.stack([getattr(_target(5, s), a) for s in range(16)]) for a in ("loc", "scale")))
    result = rn.encode(targets, PRIOR5, seed=99, **options)
    decoded = rn.decode(result.index, PRIOR5, seed=99, partition=options.get("partition"))
    assert decoded.shape == (16, 5) and decoded.dtype == np.float64
    assert decoded.tobytes() == result.sample.tobytes()
    # one block decodes alone, given its block id
    alone = rn.decode(result.index[5:6], PRIOR5, seed=99, partition=options.get("partition"), block_ids=[5])
    assert alone.tobytes() == result.sample[5:6].tobytes()


def test_single_target_returns_scalars_and_batch_returns_arrays():
    single = rn.encode(_target(5, 1), PRIOR5, seed=3)
    assert isinstance(single.index, int) and isinstance(single.steps, int) and isinstance(single.bits, int)
    assert single.sample.shape == (5,)
    assert rn.decode(single.index, PRIOR5, seed=3).tobytes() == single.sample.tobytes()
    batch = rn.encode(repeated(_target(5, 1), 3), PRIOR5, seed=3)
    assert batch.index.shape == (3,) and batch.sample.shape == (3, 5)
    assert batch.index[0] == single.index  # block 0 of a batch uses the same streams (serial vs parallel kernel)
    assert batch.sample[0].tobytes() == single.sample.tobytes()


def test_block_ids_select_streams():
    target = repeated(_target(5, 2), 2)
    default = rn.encode(target, PRIOR5, seed=3)
    moved = rn.encode(target, PRIOR5, seed=3, block_ids=[1, 0])
    assert moved.index.tolist() == default.index[::-1].tolist()
    assert rn.decode(moved.index, PRIOR5, seed=3, block_ids=[1, 0]).tobytes() == moved.sample.tobytes()


@pytest.mark.parametrize("method", ["pfr", "orc"])
def test_results_do_not_depend_on_thread_count(method, monkeypatch):
    targets = rn.Gaussian(*(np.stack([getattr(_target(5, s), a) for s in range(24)]) for a in ("loc", "scale")))
    options = dict(partition=rn.Partition.uniform(5, 6))
    if method == "orc":
        options.update(method="orc", num_samples=2048)
    # Split every call into ranges at once (a short call would otherwise run in the calling
    # thread alone); recnumba's pool is not limited by the cores, so 3 threads split the 24
    # blocks differently from 2 on any machine.
    monkeypatch.setattr(threads_module, "PARALLEL_AFTER_S", 0.0)
    previous = rn.get_num_threads()
    try:
        runs = []
        for threads in (1, 2, 3):
            rn.set_num_threads(threads)
            assert rn.get_num_threads() == threads
            runs.append(rn.encode(targets, PRIOR5, seed=5, **options))
    finally:
        rn.set_num_threads(previous)
    for run in runs[1:]:
        np.testing.assert_array_equal(runs[0].index, run.index)
        np.testing.assert_array_equal(runs[0].steps, run.steps)
        assert runs[0].sample.tobytes() == run.sample.tobytes()


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True, None, 10**6])
def test_set_num_threads_rejects_bad_values(bad):
    previous = rn.get_num_threads()
    with pytest.raises(ValueError, match="n \\(the number of threads\\)"):
        rn.set_num_threads(bad)
    assert rn.get_num_threads() == previous


def test_bits_reported_equal_bits_written():
    result = rn.encode(repeated(_target(5, 4), 300), PRIOR5, seed=8, partition=[3, 3, 3, 2, 2])
    data, num_bits = encode_integers([int(n) + 1 for n in result.index], code="delta")
    assert num_bits == int(result.bits.sum())
    assert len(data) == math.ceil(num_bits / 8)
    assert decode_integers(data, 300, code="delta") == [int(n) + 1 for n in result.index]
    for code in ("gamma", "omega"):
        other = rn.encode(repeated(_target(5, 4), 50), PRIOR5, seed=8, code=code)
        assert encode_integers([int(n) + 1 for n in other.index], code=code)[1] == int(other.bits.sum())
    fixed = rn.encode(_target(5, 4), PRIOR5, seed=8, method="orc", num_samples=1000, partition=[2, 2, 2, 1, 1],
                      code="fixed")
    assert fixed.bits == math.ceil(math.log2(1000 * 8)) and fixed.index < 1000 * 8


def _epsilon_bits(target, prior, log2_bins, num_samples=200_000, seed=0):
    """eps = E_Q[max(0, log2 J - log2 r(Z))] by Monte Carlo (notes section 3)."""
    z = target.loc + target.scale * np.random.default_rng(seed).standard_normal((num_samples, target.dim))
    log_r = (np.log(prior.scale / target.scale) - 0.5 * ((z - target.loc) / target.scale) ** 2
             + 0.5 * ((z - prior.loc) / prior.scale) ** 2).sum(axis=1) / math.log(2)
    return float(np.maximum(0.0, log2_bins - log_r).mean())


@pytest.mark.parametrize("partition_bits", [None, 4.0, 6.0])
def test_codelength_within_bounds(partition_bits):
    target = _target(5, 6)
    kl = float(rn.kl_bits(target, PRIOR5))
    partition = None if partition_bits is None else rn.Partition.uniform(5, partition_bits)
    result = rn.encode(repeated(target, 3000), PRIOR5, seed=12, partition=partition)
    log_index = np.log2(result.index + 1.0)
    epsilon = _epsilon_bits(target, PRIOR5, 0.0 if partition is None else partition.bits)
    assert log_index.mean() <= kl + epsilon + 1, (log_index.mean(), kl, epsilon)
    # Elias delta: per-index bound, and the bound in terms of the mean (Jensen).
    assert np.all(result.bits == [delta_length(int(n) + 1) for n in result.index])
    assert np.all(result.bits <= log_index + 2 * np.log2(log_index + 1) + 1 + 1e-9)
    mean_log = log_index.mean()
    assert result.bits.mean() <= mean_log + 2 * math.log2(mean_log + 1) + 1


def test_partitioning_cuts_exact_pfr_steps_twentyfold():
    target = rn.Gaussian([0.9, -0.6, 0.3, 1.2, -0.2], [0.1, 0.12, 0.15, 0.1, 0.14])
    dinf = float(rn.dinf_bits(target, PRIOR5))
    assert dinf >= 14
    partition = rn.Partition.uniform(5, float(rn.kl_bits(target, PRIOR5)) - 1)
    plain = rn.encode(repeated(target, 6), PRIOR5, seed=1)
    split = rn.encode(repeated(target, 6), PRIOR5, seed=1, partition=partition)
    assert plain.steps.mean() >= 20 * split.steps.mean(), (plain.steps.mean(), split.steps.mean())
    assert np.all(plain.bound_bits == pytest.approx(dinf))


# ----------------------------------------------------------------------------- bad input

def test_bad_distributions_raise():
    with pytest.raises(ValueError, match="NaN or infinite"):
        rn.Gaussian([0.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        rn.Gaussian([0.0, 1.0], [1.0, np.inf])
    with pytest.raises(ValueError, match="scale must be > 0"):
        rn.Gaussian([0.0, 1.0], [1.0, 0.0])
    with pytest.raises(ValueError, match="scale must be > 0"):
        rn.Gaussian([0.0], [-1.0])
    with pytest.raises(ValueError, match="do not broadcast"):
        rn.Gaussian([0.0, 1.0], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        rn.Gaussian(np.zeros((2, 2, 2)), 1.0)
    with pytest.raises(ValueError, match="real numbers"):
        rn.Gaussian(["a"], [1.0])


@given(
    st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(np.nan)), min_size=1, max_size=6),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=6),
)
def test_gaussian_accepts_only_finite_positive(loc, scale):
    loc, scale = np.array(loc), np.array(scale)
    valid = (loc.size == scale.size or loc.size == 1 or scale.size == 1) and np.all(np.isfinite(loc)) \
        and np.all(np.isfinite(scale)) and np.all(scale > 0)
    if valid:
        rn.Gaussian(loc, scale)
    else:
        with pytest.raises(ValueError):
            rn.Gaussian(loc, scale)


def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match="dimensions but prior"):
        rn.encode(rn.Gaussian(np.zeros(4), 0.5), PRIOR5, seed=1)
    with pytest.raises(ValueError, match="blocks"):
        rn.encode(rn.Gaussian(np.zeros((3, 5)), 0.5), rn.Gaussian(np.zeros((2, 5)), 1.0), seed=1)
    with pytest.raises(ValueError, match="partition has 4 dimensions"):
        rn.encode(rn.Gaussian(np.zeros(5), 0.5), PRIOR5, seed=1, partition=[2, 2, 2, 2])
    with pytest.raises(ValueError, match="partition has 4 dimensions"):
        rn.decode(0, PRIOR5, seed=1, partition=[2, 2, 2, 2])
    with pytest.raises(TypeError, match="must be a recnumba distribution"):  # a wrong kind of object
        rn.encode((np.zeros(5), np.ones(5)), PRIOR5, seed=1)


def test_unbounded_ratio_needs_orc():
    wide = rn.Gaussian(np.zeros(5), [0.5, 0.5, 1.5, 0.5, 0.5])
    with pytest.raises(ValueError, match='method="orc"'):
        rn.encode(wide, PRIOR5, seed=1)
    with pytest.raises(ValueError, match='method="orc"'):
        rn.encode(rn.Gaussian([0.1, 0, 0, 0, 0], 1.0), PRIOR5, seed=1)  # equal std, other mean
    with pytest.raises(ValueError, match="bounded density ratio"):
        rn.encode(wide, PRIOR5, seed=1, method="orc", weights="ratio")
    assert rn.encode(wide, PRIOR5, seed=1, method="orc", num_samples=64).steps == 64
    assert rn.encode(rn.Gaussian(np.zeros(5), 1.0), PRIOR5, seed=1).steps >= 1  # Q == P is fine


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=2**62, max_value=2**70),
                 st.floats(), st.just(True), st.text(max_size=3)))
def test_bad_seeds_raise(seed):
    with pytest.raises(ValueError, match="seed"):
        rn.encode(rn.Gaussian(np.zeros(5), 0.5), PRIOR5, seed=seed)
    with pytest.raises(ValueError, match="seed"):
        rn.decode(0, PRIOR5, seed=seed)


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=2**63, max_value=2**80),
                 st.floats(allow_nan=True), st.just(True), st.just("3")))
def test_bad_indices_raise(index):
    with pytest.raises(ValueError, match="index"):
        rn.decode(index, PRIOR5, seed=1)


def test_index_that_orc_cannot_produce_raises():
    partition = rn.Partition([2, 2, 1, 1, 1])
    assert rn.decode(4 * 100 - 1, PRIOR5, seed=1, partition=partition, num_samples=100).shape == (5,)
    with pytest.raises(ValueError, match="cannot come from ORC"):
        rn.decode(4 * 100, PRIOR5, seed=1, partition=partition, num_samples=100)
    with pytest.raises(ValueError, match="one index per block"):
        rn.decode(0, rn.Gaussian(np.zeros((3, 5)), 1.0), seed=1)
    with pytest.raises(ValueError, match="shape"):
        rn.decode([0, 1], rn.Gaussian(np.zeros((3, 5)), 1.0), seed=1)


def test_max_steps_raises_with_step_count():
    target = rn.Gaussian([0.9, -0.6, 0.3, 1.2, -0.2], [0.1, 0.12, 0.15, 0.1, 0.14])  # D_inf 17.3 bits
    with pytest.raises(rn.MaxStepsExceeded, match=r"examined 1000 candidates.*max_steps=1000"):
        rn.encode(target, PRIOR5, seed=1, max_steps=1000)
    assert issubclass(rn.MaxStepsExceeded, ValueError)


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(method="mcmc"), "method"),
        (dict(weights="uniform"), "weights"),
        (dict(num_samples=10), "num_samples is the ORC budget"),
        (dict(method="orc", num_samples=0), "num_samples"),
        (dict(method="orc", num_samples=2.5), "num_samples"),
        (dict(max_steps=0), "max_steps"),
        (dict(code="huffman"), "code must be one of"),
        (dict(code="fixed"), "fixed"),
        (dict(block_ids=[-1]), "block_ids"),
        (dict(block_ids=[1, 2]), "block_ids"),
        (dict(max_steps=1 << 63), "max_steps"),
        (dict(method="orc", max_steps=None), "max_steps"),
        (dict(method="orc", num_samples=1 << 63), "num_samples"),
        (dict(method="orc", num_samples=1 << 16, partition=[1 << 20, 1 << 20, 1 << 8, 4, 1]), "int64 index range"),
    ],
)
def test_bad_options_raise(options, message):
    with pytest.raises(ValueError, match=message):
        rn.encode(rn.Gaussian(np.zeros(5), 0.5), PRIOR5, seed=1, **options)


def test_auto_runs_exact_pfr_where_cheap_and_orc_elsewhere():
    partition = rn.Partition([3, 3, 2, 2, 1])
    easy = [_target(5, s) for s in range(6)]
    wide = rn.Gaussian(np.zeros(5), [0.5, 0.5, 1.2, 0.5, 0.5])  # unbounded ratio: ORC only
    blocks = easy + [wide]
    targets = rn.Gaussian(np.stack([t.loc for t in blocks]), np.stack([t.scale for t in blocks]))
    auto = rn.encode(targets, PRIOR5, seed=4, partition=partition, method="auto", num_samples=4096,
                     exact_bound_bits=30)
    assert auto.exact.tolist() == [True] * 6 + [False]
    exact = rn.encode(targets[:6], PRIOR5, seed=4, partition=partition)
    assert auto.index[:6].tolist() == exact.index.tolist()
    orc = rn.encode(targets, PRIOR5, seed=4, partition=partition, method="orc", num_samples=4096)
    assert auto.index[6] == orc.index[6] and not orc.exact.any()
    never = rn.encode(targets, PRIOR5, seed=4, partition=partition, method="auto", num_samples=4096,
                      exact_bound_bits=0)
    assert not never.exact.any() and never.index.tolist() == orc.index.tolist()
    decoded = rn.decode(auto.index, PRIOR5, seed=4, partition=partition)
    assert decoded.tobytes() == auto.sample.tobytes()
    for bad in (-1, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="exact_bound_bits"):
            rn.encode(targets, PRIOR5, seed=4, method="auto", exact_bound_bits=bad)


def test_hopeless_exact_search_is_refused_at_once():
    target = rn.Gaussian([3.0, -3.0, 2.5, 3.0, -2.0], [0.01] * 5)  # D_inf ~ 60 bits
    with pytest.raises(rn.MaxStepsExceeded, match="not started"):
        rn.encode(target, PRIOR5, seed=1, max_steps=10**6)


def test_degenerate_targets_raise_instead_of_returning_garbage():
    with pytest.raises(ValueError, match="too far apart"):
        rn.encode(rn.Gaussian(np.zeros(5), 1e-160), PRIOR5, seed=1, method="orc", num_samples=16, code="fixed")
    with pytest.raises(ValueError, match="too far apart"):
        rn.encode(rn.Gaussian(np.ones(5), 1.0), rn.Gaussian(np.zeros(5), 1e-310), seed=1, method="orc")


def test_partition_arrays_are_read_only():
    part = rn.Partition([2, 3])
    with pytest.raises(ValueError):
        part.intervals[0] = 5
