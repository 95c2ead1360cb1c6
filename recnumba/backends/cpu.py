"""CPU backend: the search core and the policy, batched over blocks with ``prange``.

Each block's result depends only on its own inputs and keys, so results do not depend on the
number of threads. Single-block calls use the serial (cached) twins: no thread start-up, no
compile of the parallel kernel.
"""


import numpy as np
from numba import njit, prange

from recnumba.search import core, policy

NAME = "cpu"
#: Below this many blocks the single-threaded kernels win (no thread start-up, cached compile).
PARALLEL_MIN_BLOCKS = 2


def is_available():
    """The CPU backend always runs: (True, None)."""
    return True, None


@njit(cache=True)
def select_block(pair, target, grid, spec, block, cancel):
    """Run one block's search by the policy. Returns (index, steps, status, ln r'_max, exact).

    ``cancel``: int64 (1,), see ``core.search`` (``STATUS_INTERRUPTED`` once it is set).
    """
    tables = core.new_bin_tables(grid)
    core.fill_log_sup(pair, target, grid, tables.log_sup)
    weights = policy.first_weights(spec)
    log_bound = core.fill_bin_tables(pair, target, grid, weights, tables.log_pi, tables.cdf)
    action, status = policy.first_action(spec, log_bound)
    if action == policy.ACTION_REPORT:
        return np.int64(-1), np.int64(0), status, log_bound, True
    # One call site of core.search for both rules (and auto's fallback): inlined twice into this
    # function (as with the pfr_search/orc_search wrappers) the search loop ran 5-14% slower.
    exact = action == policy.ACTION_PFR
    while True:
        if not exact and weights != spec.weights:  # auto's ORC blocks use the caller's weights
            log_bound = core.fill_bin_tables(pair, target, grid, spec.weights, tables.log_pi, tables.cdf)
            weights = spec.weights
        num_samples = np.int64(0) if exact else spec.num_samples
        limit = spec.max_steps if exact else spec.num_samples
        index, steps, status = core.search(pair, target, grid, tables, log_bound, spec.seed, block,
                                           num_samples, limit, cancel)
        if not (exact and policy.falls_back_to_orc(spec, status)):
            return index, steps, status, log_bound, exact
        exact = False


@njit(cache=True)
def _select_into(b, pair, targets, grid, spec, block_ids, out, cancel):
    index, steps, status, log_bound, exact = select_block(pair, targets[b], grid, spec, block_ids[b], cancel)
    out.exact[b] = exact
    out.index[b] = index
    out.steps[b] = steps
    out.status[b] = status
    out.log_bound[b] = log_bound


@njit(parallel=True)
def select_parallel(pair, targets, grid, spec, block_ids, out, cancel):
    """Parallel over blocks: ``targets`` (B, D, 2) standardised, ``block_ids`` (B,), ``out`` a SearchOutput."""
    for b in prange(targets.shape[0]):
        _select_into(b, pair, targets, grid, spec, block_ids, out, cancel)


@njit(cache=True)
def select_serial(pair, targets, grid, spec, block_ids, out, cancel):
    """``select_parallel`` on one thread (same results, bit for bit)."""
    for b in range(targets.shape[0]):
        _select_into(b, pair, targets, grid, spec, block_ids, out, cancel)


@njit(parallel=True)
def decode_parallel(prior, indices, loc, scale, grid, seed, block_ids, out):
    """Parallel decode: ``indices`` (B,), ``loc``/``scale`` (B, D) of the prior, ``out`` (B, D)."""
    for b in prange(indices.shape[0]):
        core.decode_block(prior, grid, seed, block_ids[b], indices[b], loc[b], scale[b], out[b])


@njit(cache=True)
def decode_serial(prior, indices, loc, scale, grid, seed, block_ids, out):
    """``decode_parallel`` on one thread (same results, bit for bit)."""
    for b in range(indices.shape[0]):
        core.decode_block(prior, grid, seed, block_ids[b], indices[b], loc[b], scale[b], out[b])


@njit(parallel=True)
def bin_tables_parallel(pair, targets, grid, weights, log_pi, cdf, log_bound):
    """``core.fill_bin_tables`` for every block into (B, table) tables and (B,) bounds (the GPU's input)."""
    for b in prange(targets.shape[0]):
        log_bound[b] = core.fill_bin_tables(pair, targets[b], grid, weights, log_pi[b], cdf[b])


@njit(parallel=True)
def bin_bounds(pair, targets, grid, weights, log_bound):
    """Only the (B,) bounds ln r'_max of ``bin_tables_parallel`` (one scratch table per block)."""
    for b in prange(targets.shape[0]):
        tables = core.new_bin_tables(grid)
        log_bound[b] = core.fill_bin_tables(pair, targets[b], grid, weights, tables.log_pi, tables.cdf)


def select(pair_tag, targets, grid, spec, block_ids, out):
    """Fill ``out`` (a ``SearchOutput``) for (B, D, 2) standardised ``targets``."""
    kernel = select_parallel if targets.shape[0] >= PARALLEL_MIN_BLOCKS else select_serial
    kernel(pair_tag, targets, grid, spec, block_ids, out, np.zeros(1, dtype=np.int64))


def decode(prior_tag, indices, loc, scale, grid, seed, block_ids, out):
    """Fill ``out`` (B, D) with the samples of ``indices`` under the prior (``loc``, ``scale``)."""
    kernel = decode_parallel if indices.shape[0] >= PARALLEL_MIN_BLOCKS else decode_serial
    kernel(prior_tag, indices, loc, scale, grid, seed, block_ids, out)


