"""The numba kernels against the plain-numpy reference implementation (the oracle)."""

import numpy as np
import pytest

import recnumba as rn
from recnumba import reference
from recnumba.families.gaussian import GaussianPair
from recnumba.search.core import dimension_bin_tables
from recnumba.search.params import WEIGHT_NAMES

GAUSSIAN = GaussianPair()
NO_CANCEL = np.zeros(1, dtype=np.int64)


def _random_target(rng, dim, spread=0.8, scale_range=(0.15, 0.6)):
    return rn.Gaussian(rng.normal(0, spread, dim), rng.uniform(*scale_range, dim))


@pytest.mark.parametrize("weights", ["ratio", "target"])
@pytest.mark.parametrize("t_loc, t_scale, count", [(0.7, 0.3, 7), (-2.5, 0.05, 16), (0.0, 0.9, 1), (4.0, 0.01, 33)])
def test_bin_tables_match_reference(weights, t_loc, t_scale, count):
    log_pi = np.empty(count)
    cdf = np.empty(count)
    bound = dimension_bin_tables(GAUSSIAN, t_loc, t_scale, count, WEIGHT_NAMES[weights], 0, log_pi, cdf)
    ref_cdf, ref_log_pi, ref_bound = reference.dimension_tables(t_loc, t_scale, count, weights)
    np.testing.assert_allclose(cdf, ref_cdf, rtol=1e-12, atol=1e-300)
    live = np.isfinite(ref_log_pi)
    np.testing.assert_array_equal(np.isfinite(log_pi), live)
    np.testing.assert_allclose(log_pi[live], ref_log_pi[live], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(bound, ref_bound, rtol=1e-9)
    assert cdf[-1] == 1.0 and np.all(np.diff(cdf) >= 0)


def test_ratio_weights_bound_is_upper_riemann_sum():
    """With ratio weights the bound is sum_i P(B_i) sup_{B_i} r, which shrinks towards 1 as bins refine."""
    bounds = []
    for count in (1, 4, 16, 64, 256):
        log_pi, cdf = np.empty(count), np.empty(count)
        bounds.append(dimension_bin_tables(GAUSSIAN, 1.0, 0.2, count, WEIGHT_NAMES["ratio"], 0, log_pi, cdf))
    assert all(a > b for a, b in zip(bounds, bounds[1:]))
    assert 0 < bounds[-1] < 0.1 * bounds[0]  # ln r'_max -> 0 (r'_max -> 1)


CASES = [
    # (dim, partition intervals, weights)
    (3, [1, 1, 1], "ratio"),
    (4, [2, 3, 1, 2], "ratio"),
    (4, [2, 3, 1, 2], "target"),
    (5, [4, 4, 2, 2, 1], "ratio"),
]


@pytest.mark.parametrize("dim, intervals, weights", CASES)
def test_pfr_matches_reference(dim, intervals, weights):
    rng = np.random.default_rng(dim + len(weights))
    prior = rn.Gaussian(np.zeros(dim), np.ones(dim))
    for trial in range(4):
        target = _random_target(rng, dim)
        seed = 100 + trial
        result = rn.encode(target, prior, seed=seed, partition=intervals, weights=weights, block_ids=[trial])
        index, steps = reference.pfr_select(target.loc, target.scale, intervals, weights, seed, trial)
        assert (result.index, result.steps) == (index, steps)
        expected = reference.decode(result.index, prior.loc, prior.scale, intervals, seed, trial)
        np.testing.assert_allclose(result.sample, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("dim, intervals, weights", CASES + [(4, [2, 3, 1, 2], "target")])
def test_orc_matches_reference(dim, intervals, weights):
    rng = np.random.default_rng(7 * dim)
    prior = rn.Gaussian(rng.normal(0, 1, dim), rng.uniform(0.5, 2, dim))
    for trial in range(3):
        target = rn.Gaussian(prior.loc + rng.normal(0, 0.8, dim) * prior.scale, prior.scale * rng.uniform(0.2, 0.7, dim))
        result = rn.encode(target, prior, seed=trial, method="orc", num_samples=3000, partition=intervals, weights=weights)
        t_loc = (target.loc - prior.loc) / prior.scale
        t_scale = target.scale / prior.scale
        assert result.index == reference.orc_select(t_loc, t_scale, intervals, weights, trial, 0, 3000)


def test_orc_with_unbounded_ratio_scores_every_candidate():
    prior = rn.Gaussian(np.zeros(3), np.ones(3))
    target = rn.Gaussian([0.5, 0.0, -1.0], [1.5, 0.5, 0.3])  # first std above the prior's
    result = rn.encode(target, prior, seed=5, method="orc", num_samples=1000, partition=[2, 2, 1])
    assert result.steps == 1000 and np.isinf(result.bound_bits)
    assert result.index == reference.orc_select(target.loc, target.scale, [2, 2, 1], "target", 5, 0, 1000)


def test_orc_local_indices_with_thousands_of_distinct_bins():
    # Thousands of bins in use: the kernel's per-bin counter table grows several times (from 1,024
    # slots) and must keep every bin's count, as the reference's independent count does.
    prior = rn.Gaussian(np.zeros(3), np.ones(3))
    target = rn.Gaussian([0.2, -0.3, 0.1], [1.5, 1.2, 1.1])  # unbounded ratio: all N scored
    indices = []
    for seed in range(9, 15):
        # 12 bits of bins for a target of under 1 bit: deliberately far too fine, so encode warns
        with pytest.warns(rn.PartitionTooFineWarning, match="log2 J = 12.00"):
            result = rn.encode(target, prior, seed=seed, method="orc", num_samples=6000, partition=[16, 16, 16])
        assert result.steps == 6000
        assert result.index == reference.orc_select(target.loc, target.scale, [16, 16, 16], "target", seed, 0, 6000)
        indices.append(result.index)
    # A lost or wrong count would move every later candidate of that bin to another sample.
    assert len(set(indices)) == len(indices)


def test_named_searches_match_the_reference():
    """``core.pfr_search`` and ``core.orc_search`` (the named single-block entry points)."""
    from recnumba.api import grid_of
    from recnumba.search import core

    rng = np.random.default_rng(3)
    partition = rn.Partition([2, 3, 1, 2])
    grid = grid_of(partition)
    for trial in range(3):
        t_loc, t_scale = rng.normal(0, 0.8, 4), rng.uniform(0.15, 0.6, 4)
        target = np.ascontiguousarray(np.stack([t_loc, t_scale], axis=-1))
        tables = core.new_bin_tables(grid)
        core.fill_log_sup(GAUSSIAN, target, grid, tables.log_sup)
        for weights in ("ratio", "target"):
            bound = core.fill_bin_tables(GAUSSIAN, target, grid, WEIGHT_NAMES[weights], tables.log_pi, tables.cdf)
            index, steps, status = core.pfr_search(GAUSSIAN, target, grid, tables, bound, np.uint64(trial),
                                                   np.int64(trial), np.int64(10**7), NO_CANCEL)
            assert status == 0
            assert (index, steps) == reference.pfr_select(t_loc, t_scale, partition.intervals, weights, trial, trial)
            index, _, status = core.orc_search(GAUSSIAN, target, grid, tables, bound, np.uint64(trial),
                                               np.int64(trial), np.int64(700), NO_CANCEL)
            assert index == reference.orc_select(t_loc, t_scale, partition.intervals, weights, trial, trial, 700)
