"""The CPU's chunked search and its lane functions against the scalar core, bit for bit.

``recnumba.search.chunked`` must return exactly what ``recnumba.search.core.search`` (the GPU's and
the reference's search) returns; every lane function exactly what its scalar twin returns.
"""

import numpy as np
import pytest
from numba import njit

import recnumba as rn
from recnumba.api import grid_of, prior_coordinates, standardise
from recnumba.families import protocol
from recnumba.families.base import pair_of
from recnumba.families.gaussian import GaussianPair, GaussianPrior
from recnumba.families.laplace import LaplacePrior
from recnumba.families.uniform import UniformPrior
from recnumba.numerics.gaussian_math import ndtri_fast, ndtri_fast_branch_free
from recnumba.numerics.portable import portable_log, portable_log_of_normal
from recnumba.random.philox import (
    private_uniform_lanes,
    private_uniform_pair,
    shared_uniform_lanes,
    shared_uniform_pair,
)
from recnumba.search import chunked, core
from recnumba.search.params import STATUS_INDEX_OVERFLOW, STATUS_INTERRUPTED, STATUS_MAX_STEPS

from cuda_sim_cases import family_cases

PRIORS = [GaussianPrior(), LaplacePrior(), UniformPrior()]


def same_bits(a, b):
    return np.ascontiguousarray(a).view(np.uint64).tobytes() == np.ascontiguousarray(b).view(np.uint64).tobytes()


# ---------------------------------------------------------------------------------------------
# Lane functions
# ---------------------------------------------------------------------------------------------


@njit
def _scalar_uniforms(seed, block, index, pair, private, u_even, u_odd):
    for c in range(index.shape[0]):
        if private:
            u_even[c], u_odd[c] = private_uniform_pair(seed, block, index[0] + c, pair)
        else:
            u_even[c], u_odd[c] = shared_uniform_pair(seed, block, index[c], pair)


def test_uniform_lanes_equal_the_scalar_generator():
    rng = np.random.default_rng(1)
    for _ in range(20):
        seed, block, pair = np.uint64(rng.integers(0, 2**62)), np.int64(rng.integers(0, 2**32)), np.int64(rng.integers(0, 64))
        index = rng.integers(0, 2**63 - 1000, 300).astype(np.int64)
        index[:4] = [0, 1, 2**32 - 1, 2**32]
        lanes = np.empty(300), np.empty(300)
        scalar = np.empty(300), np.empty(300)
        shared_uniform_lanes(seed, block, index, pair, 300, *lanes)
        _scalar_uniforms(seed, block, index, pair, False, *scalar)
        assert same_bits(lanes[0], scalar[0]) and same_bits(lanes[1], scalar[1])
        private_uniform_lanes(seed, block, index[4], pair, 300, *lanes)
        _scalar_uniforms(seed, block, np.arange(index[4], index[4] + 300), pair, True, *scalar)
        assert same_bits(lanes[0], scalar[0]) and same_bits(lanes[1], scalar[1])


@njit
def _logs(x, fast, slow):
    for c in range(x.shape[0]):
        fast[c] = portable_log_of_normal(x[c])
        slow[c] = portable_log(x[c])


@njit
def _ndtris(p, fast, slow):
    for c in range(p.shape[0]):
        fast[c] = ndtri_fast_branch_free(p[c])
        slow[c] = ndtri_fast(p[c])


def test_branch_free_log_and_quantile_equal_their_scalar_versions():
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.random(20000), 2.0 ** rng.uniform(-1020, 1020, 20000),
                        [2.0**-1022, 1.0, np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 0), 0.5, 1e300]])
    fast, slow = np.empty_like(x), np.empty_like(x)
    _logs(x, fast, slow)
    assert same_bits(fast, slow)
    p = np.concatenate([rng.random(20000), 10.0 ** rng.uniform(-300, 0, 20000), 1 - 10.0 ** rng.uniform(-16, 0, 5000),
                        [0.5, 0.075, 0.925, np.nextafter(0.075, 1), np.exp(-25.0), 2.0**-60]])
    p = p[(p > 0) & (p < 1)]
    fast, slow = np.empty_like(p), np.empty_like(p)
    _ndtris(p, fast, slow)
    assert same_bits(fast, slow)


@njit
def _quantiles(prior, intervals, num_intervals, u, lanes, scalar):
    protocol.std_quantiles(prior, intervals, num_intervals, u, u.shape[0], lanes)
    for c in range(u.shape[0]):
        scalar[c] = protocol.std_quantile(prior, intervals[c], num_intervals, u[c])


@pytest.mark.parametrize("prior", PRIORS, ids=lambda tag: type(tag).__name__)
def test_std_quantiles_equal_std_quantile(prior):
    rng = np.random.default_rng(3)
    for num_intervals in [1, 2, 3, 16, 1000, 2**20 + 1, 2**40, 2**62]:
        u = rng.random(4000)
        u[:500] = rng.random(500) * 1e-13
        u[500:1000] = 1.0 - rng.random(500) * 1e-13
        u[1000:1002] = [2.0**-54, 1.0 - 2.0**-53]
        u = np.clip(u, 2.0**-54, 1.0 - 2.0**-53)
        intervals = rng.integers(0, num_intervals, 4000).astype(np.int64)
        intervals[:250], intervals[250:500] = 0, num_intervals - 1
        intervals[500:750], intervals[750:1000] = num_intervals - 1, 0
        lanes, scalar = np.empty(4000), np.empty(4000)
        _quantiles(prior, intervals, np.int64(num_intervals), u, lanes, scalar)
        assert same_bits(lanes, scalar), (prior, num_intervals)


@njit
def _ratios(pair, x, a, b, lanes, scalar):
    protocol.add_log_ratios(pair, x, a, b, x.shape[0], lanes)
    for c in range(x.shape[0]):
        scalar[c] += protocol.log_ratio(pair, x[c], a, b)


def _standardised_cases(blocks=4, dim=3, seed=0):
    """(pair tag, (B, D, 2) standardised targets) for every registered pair."""
    rng = np.random.default_rng(seed)
    cases = dict(family_cases(rng, blocks, dim))
    prior = rn.Gaussian(rng.normal(0, 1, (blocks, dim)), rng.uniform(0.5, 2, (blocks, dim)))
    loc, scale = prior.location_scale()
    cases["gaussian"] = (rn.Gaussian(loc + scale * rng.normal(0, 0.8, (blocks, dim)),
                                     scale * rng.uniform(0.1, 0.9, (blocks, dim))), prior)
    out = {}
    for name, (target, prior) in cases.items():
        pair = pair_of(target, prior)
        loc, scale = prior_coordinates(prior, blocks)
        out[name] = (pair.tag, standardise(pair, target, loc, scale))
    return out


@pytest.mark.parametrize("name", ["gaussian", "laplace", "uniform", "uniform-gaussian"])
def test_add_log_ratios_equal_log_ratio(name):
    tag, targets = _standardised_cases()[name]
    x = np.random.default_rng(4).normal(0, 2, 3000)
    for a, b in targets.reshape(-1, 2)[:5]:
        start = np.random.default_rng(5).normal(0, 1, 3000)
        lanes, scalar = start.copy(), start.copy()
        _ratios(tag, x, a, b, lanes, scalar)
        assert same_bits(lanes, scalar)


@njit
def _intervals(cdf, count, u, lanes, scalar):
    for c in range(u.shape[0]):
        lanes[c] = chunked._interval_of(cdf, 0, count, u[c])
        scalar[c] = core.search_cdf(cdf, 0, count, u[c])


def test_branch_free_bin_search_equals_binary_search():
    rng = np.random.default_rng(6)
    for count in [1, 2, 3, 5, 64, 1000]:
        weights = rng.random(count) * (rng.random(count) < 0.7)  # some zero-probability bins
        weights[-1] += 0.1
        cdf = np.cumsum(weights) / weights.sum()
        cdf[-1] = 1.0
        u = np.concatenate([rng.random(2000), cdf[:-1], np.nextafter(cdf[:-1], 0)])
        lanes, scalar = np.empty(u.size, np.int64), np.empty(u.size, np.int64)
        _intervals(cdf, count, u, lanes, scalar)
        np.testing.assert_array_equal(lanes, scalar)


# ---------------------------------------------------------------------------------------------
# The chunked search against core.search
# ---------------------------------------------------------------------------------------------


@njit
def _both_searches(pair, target, grid, weights, seed, block, num_samples, limit):
    tables = core.new_bin_tables(grid)
    core.fill_log_sup(pair, target, grid, tables.log_sup)
    bound = core.fill_bin_tables(pair, target, grid, weights, tables.log_pi, tables.cdf)
    cancel = np.zeros(1, dtype=np.int64)
    return (core.search(pair, target, grid, tables, bound, seed, block, num_samples, limit, cancel),
            chunked.search(pair, target, grid, tables, bound, seed, block, num_samples, limit, cancel))


def _random_gaussian_case(rng):
    dim = int(rng.integers(1, 9))
    intervals = [1] * dim if rng.random() < 0.3 else [int(rng.choice([1, 1, 2, 3, 4, 8, 16, 1000])) for _ in range(dim)]
    a = rng.normal(0, 1.5, dim)
    b = rng.uniform(0.05, 0.9 if rng.random() < 0.7 else 1.5, dim)  # some unbounded ratios
    return intervals, np.ascontiguousarray(np.stack([a, b], -1))


def _random_budget(rng):
    if rng.random() < 0.5:
        num_samples = int(rng.choice([1, 15, 16, 17, 255, 256, 257, 1000, 5000]))
        return num_samples, num_samples
    return 0, int(rng.choice([1, 50, 10**5, 10**6]))


def test_chunked_search_equals_core_search_on_gaussians():
    rng = np.random.default_rng(7)
    statuses = set()
    for _ in range(250):
        intervals, target = _random_gaussian_case(rng)
        num_samples, limit = _random_budget(rng)
        seed, block = np.uint64(rng.integers(0, 2**40)), np.int64(rng.integers(0, 1000))
        weights = np.int64(rng.integers(0, 2))
        old, new = _both_searches(GaussianPair(), target, grid_of(rn.Partition(intervals)), weights, seed, block,
                                  np.int64(num_samples), np.int64(limit))
        assert old == new, (intervals, target.tolist(), num_samples, limit)
        statuses.add(old[2])
    assert STATUS_MAX_STEPS in statuses  # the cases reach the step limit too


@pytest.mark.parametrize("name", ["laplace", "uniform", "uniform-gaussian"])
def test_chunked_search_equals_core_search_on_every_family(name):
    rng = np.random.default_rng(8)
    tag, targets = _standardised_cases(blocks=6, dim=3, seed=9)[name]
    for b, target in enumerate(targets):
        for intervals in ([1, 1, 1], [4, 2, 8]):
            num_samples, limit = _random_budget(rng)
            old, new = _both_searches(tag, target, grid_of(rn.Partition(intervals)), np.int64(b % 2), np.uint64(b),
                                      np.int64(b), np.int64(num_samples), np.int64(limit))
            assert old == new, (name, b, intervals)


def test_chunked_search_reports_index_overflow_where_core_does():
    # J = 2^61 bins, the target on one side of every split: the same bin comes up again and again,
    # and its 4th sample's index outgrows int64; both searches must report that at the same step.
    target = np.ascontiguousarray(np.stack([np.full(61, 2.5), np.full(61, 0.3)], -1))
    grid = grid_of(rn.Partition([2] * 61))
    found = 0
    for seed in range(6):
        old, new = _both_searches(GaussianPair(), target, grid, np.int64(1), np.uint64(seed), np.int64(0),
                                  np.int64(0), np.int64(10**6))
        assert old == new
        found += old[2] == STATUS_INDEX_OVERFLOW
    assert found > 0


@njit
def _cancelled(pair, target, grid, cancel):
    tables = core.new_bin_tables(grid)
    core.fill_log_sup(pair, target, grid, tables.log_sup)
    bound = core.fill_bin_tables(pair, target, grid, np.int64(1), tables.log_pi, tables.cdf)
    return chunked.search(pair, target, grid, tables, bound, np.uint64(1), np.int64(0), np.int64(2**40),
                          np.int64(2**40), cancel)


def test_a_raised_cancel_flag_stops_the_chunked_search():
    target = np.ascontiguousarray(np.stack([np.zeros(2), np.full(2, 2.0)], -1))  # unbounded: never stops early
    index, steps, status = _cancelled(GaussianPair(), target, grid_of(rn.Partition([1, 1])), np.ones(1, np.int64))
    assert status == STATUS_INTERRUPTED and steps == 0


@njit
def _both_decodes(prior, grid, seed, block_ids, indices, loc, scale, old, new):
    for b in range(indices.shape[0]):
        core.decode_block(prior, grid, seed, block_ids[b], indices[b], loc[b], scale[b], old[b])
    chunked.decode(prior, grid, seed, block_ids, indices, loc, scale, new, 0, indices.shape[0])


@pytest.mark.parametrize("prior", PRIORS, ids=lambda tag: type(tag).__name__)
@pytest.mark.parametrize("intervals", [[1, 1, 1, 1, 1], [2, 3, 1, 1000, 7]])
def test_chunked_decode_equals_core_decode_block(prior, intervals):
    rng = np.random.default_rng(10)
    blocks = 600  # more than two chunks of lanes
    grid = grid_of(rn.Partition(intervals))
    indices = rng.integers(0, 2**62, blocks).astype(np.int64)
    indices[:5] = [0, 1, 2**32, 2**63 - 1, grid.num_bins - 1]
    block_ids = rng.integers(0, 2**32, blocks).astype(np.int64)
    loc, scale = rng.normal(0, 3, (blocks, 5)), rng.uniform(0.1, 4, (blocks, 5))
    old, new = np.empty((blocks, 5)), np.empty((blocks, 5))
    _both_decodes(prior, grid, np.uint64(11), block_ids, indices, loc, scale, old, new)
    assert same_bits(old, new)
