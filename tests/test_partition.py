"""Partitions: constructors, budgets, information allocation and validation."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import recnumba as rn


def test_explicit_partition_layout():
    part = rn.Partition([2, 1, 3])
    assert part.num_bins == 6 and part.dim == 3
    assert part.strides.tolist() == [1, 2, 2]
    assert part.offsets.tolist() == [0, 2, 3, 6]
    assert math.isclose(part.bits, math.log2(6))


@given(st.integers(1, 40), st.floats(0, 62))
def test_uniform_stays_within_budget_and_close_to_it(dim, bits):
    capped = bits / dim > 20 + 1e-9  # a share over 2^20 intervals is cut there, with a warning
    with pytest.warns(UserWarning, match="MAX_INTERVALS_PER_DIM") if capped else warnings.catch_warnings():
        if not capped:
            warnings.simplefilter("error")
        part = rn.Partition.uniform(dim, bits)
    assert part.dim == dim
    assert part.bits <= bits + 1e-9
    # every dimension could not take one more interval without breaking the budget or the spread
    assert part.bits >= bits - max(1.0, bits / dim) - 1e-9 or bits < 1


def test_uniform_spreads_evenly():
    part = rn.Partition.uniform(4, 8)
    assert part.intervals.tolist() == [4, 4, 4, 4]


def test_from_information_follows_information_and_skips_collapsed():
    info = np.array([8.0, 0.0, 4.0, 0.001, 4.0])
    part = rn.Partition.from_information(info, 12)
    assert part.intervals[1] == 1 and part.intervals[3] == 1
    assert part.intervals[0] > part.intervals[2] >= 2
    assert part.bits <= 12 + 1e-9 and part.bits > 10


def test_ablations():
    info = np.array([8.0, 0.0, 4.0, 4.0])
    collapsed = rn.Partition.collapsed_only(info, 9)
    assert collapsed.intervals[1] == 1 and collapsed.intervals.tolist().count(8) == 3
    random = rn.Partition.random(4, 9, seed=1)
    assert random == rn.Partition.random(4, 9, seed=1) and random.bits <= 9 + 1e-9
    assert rn.Partition.from_information(np.zeros(3), 5) == rn.Partition.plain(3)


@pytest.mark.parametrize(
    "intervals, message",
    [
        ([], "one count per dimension"),
        ([[2, 2]], "one count per dimension"),
        ([2, 0], ">= 1"),
        ([2, -3], ">= 1"),
        ([1.5], "positive integers"),
        (["a"], "positive integers"),
        ([2**20 + 1], "2\\^20"),
        ([2**20, 2**20, 2**20, 2**5], "overflows 64-bit"),
    ],
)
def test_bad_partitions_raise(intervals, message):
    with pytest.raises(ValueError, match=message):
        rn.Partition(intervals)


@pytest.mark.parametrize("bits", [-1, float("nan"), float("inf"), 63, 100])
def test_bad_budgets_raise(bits):
    with pytest.raises(ValueError, match="bits"):
        rn.Partition.uniform(4, bits)


def test_bad_information_raises():
    with pytest.raises(ValueError, match="info_bits"):
        rn.Partition.from_information([1.0, -1.0], 4)
    with pytest.raises(ValueError, match="info_bits"):
        rn.Partition.from_information([[1.0]], 4)


@given(st.lists(st.integers(1, 9), min_size=1, max_size=5), st.integers(0, 10**6))
def test_index_split_and_join_are_inverse(intervals, index):
    part = rn.Partition(intervals)
    bin_index, local = part.split_index(index)
    assert 0 <= bin_index < part.num_bins and local >= 1
    assert part.join_index(bin_index, local) == index
    digits = part.bin_intervals(bin_index)
    assert np.all(digits < part.intervals) and int(digits @ part.strides) == bin_index


def test_index_helpers_reject_bad_values():
    part = rn.Partition([2, 3])
    with pytest.raises(ValueError, match="index"):
        part.split_index(-1)
    with pytest.raises(ValueError, match="bin_index"):
        part.join_index(6, 1)
    with pytest.raises(ValueError, match="counts from 1"):
        part.join_index(0, 0)
