"""CPU backend: the search core and the policy, batched over blocks on recnumba's own threads.

The kernels are serial ``@njit(cache=True, nogil=True)`` functions over a contiguous range of
blocks (``select_range``, ``decode_range``, ``bin_tables_range``, ``bin_bounds_range``: their
arguments, then ``start, stop, cancel``); ``recnumba.backends.threads.run_ranges`` runs the ranges
on a thread pool (``recnumba.set_num_threads``). All of them are cached on disk, so a new process
compiles nothing; numba's parallel layer is not used (fork-safe, several Python threads may encode
at once, Ctrl-C stops a search: see ``threads``).

Each block's result depends only on its own inputs and keys, so results do not depend on the
number of threads or on how the blocks are split into ranges.
"""


import numpy as np
from numba import njit

from recnumba.backends.threads import run_ranges
from recnumba.search import chunked, core, policy
from recnumba.search.params import STATUS_INTERRUPTED

NAME = "cpu"
#: Decodes of at most this many coordinates (blocks x dimensions) run in the calling thread: a
#: decode is a bounded amount of work (microseconds per block), not worth a thread hand-off.
INLINE_DECODE_COORDINATES = 1 << 12


def is_available():
    """The CPU backend always runs: (True, None)."""
    return True, None


@njit(cache=True)
def select_block(pair, target, grid, spec, block, cancel):
    """Run one block's search by the policy. Returns (index, steps, status, ln r'_max, exact).

    The search is ``chunked.search``: ``core.search``'s results, bit for bit, several times faster.
    ``cancel``: int64 (1,), see ``chunked.search`` (``STATUS_INTERRUPTED`` once it is set).
    """
    tables = core.new_bin_tables(grid)
    core.fill_log_sup(pair, target, grid, tables.log_sup)
    weights = policy.first_weights(spec)
    log_bound = core.fill_bin_tables(pair, target, grid, weights, tables.log_pi, tables.cdf)
    action, status = policy.first_action(spec, log_bound)
    if action == policy.ACTION_REPORT:
        return np.int64(-1), np.int64(0), status, log_bound, True
    # One call site of the search for both rules (and auto's fallback): inlined twice into this
    # function the (scalar) search loop ran 5-14% slower.
    exact = action == policy.ACTION_PFR
    while True:
        if not exact and weights != spec.weights:  # auto's ORC blocks use the caller's weights
            log_bound = core.fill_bin_tables(pair, target, grid, spec.weights, tables.log_pi, tables.cdf)
            weights = spec.weights
        num_samples = np.int64(0) if exact else spec.num_samples
        limit = spec.max_steps if exact else spec.num_samples
        index, steps, status = chunked.search(pair, target, grid, tables, log_bound, spec.seed, block,
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


@njit(cache=True, nogil=True)
def select_range(pair, targets, grid, spec, block_ids, out, start, stop, cancel):
    """Blocks start..stop-1: ``targets`` (B, D, 2) standardised, ``block_ids`` (B,), ``out`` a
    SearchOutput. Once ``cancel[0]`` is set the remaining blocks get ``STATUS_INTERRUPTED``."""
    for b in range(start, stop):
        if cancel[0] != 0:
            out.status[b:stop] = STATUS_INTERRUPTED
            out.index[b:stop] = -1
            out.steps[b:stop] = 0
            return
        _select_into(b, pair, targets, grid, spec, block_ids, out, cancel)


@njit(cache=True, nogil=True)
def decode_range(prior, indices, loc, scale, grid, seed, block_ids, out, start, stop, cancel):
    """Decode blocks start..stop-1: ``indices`` (B,), ``loc``/``scale`` (B, D) of the prior, ``out`` (B, D)."""
    # (chunked.decode: core.decode_block's samples bit for bit, CHUNK blocks per vector loop)
    for first in range(start, stop, chunked.CHUNK):
        if cancel[0] != 0:
            return
        chunked.decode(prior, grid, seed, block_ids, indices, loc, scale, out, first, min(first + chunked.CHUNK, stop))


@njit(cache=True, nogil=True)
def bin_tables_range(pair, targets, grid, weights, log_pi, cdf, log_bound, start, stop, cancel):
    """``core.fill_bin_tables`` for blocks start..stop-1 into (B, table) tables and (B,) bounds."""
    for b in range(start, stop):
        if cancel[0] != 0:
            return
        log_bound[b] = core.fill_bin_tables(pair, targets[b], grid, weights, log_pi[b], cdf[b])


@njit(cache=True, nogil=True)
def bin_bounds_range(pair, targets, grid, weights, log_bound, start, stop, cancel):
    """Only the bounds ln r'_max of ``bin_tables_range`` (one scratch table per block)."""
    for b in range(start, stop):
        if cancel[0] != 0:
            return
        tables = core.new_bin_tables(grid)
        log_bound[b] = core.fill_bin_tables(pair, targets[b], grid, weights, tables.log_pi, tables.cdf)


def select(pair_tag, targets, grid, spec, block_ids, out):
    """Fill ``out`` (a ``SearchOutput``) for (B, D, 2) standardised ``targets``."""
    run_ranges(select_range, (pair_tag, targets, grid, spec, block_ids, out), targets.shape[0])


def decode(prior_tag, indices, loc, scale, grid, seed, block_ids, out):
    """Fill ``out`` (B, D) with the samples of ``indices`` under the prior (``loc``, ``scale``)."""
    run_ranges(decode_range, (prior_tag, indices, loc, scale, grid, seed, block_ids, out), indices.shape[0],
               inline=out.size <= INLINE_DECODE_COORDINATES)


def bin_tables(pair_tag, targets, grid, weights, log_pi, cdf, log_bound):
    """Every block's bin tables into (B, table) ``log_pi``/``cdf`` and (B,) ``log_bound`` (the GPU's input)."""
    run_ranges(bin_tables_range, (pair_tag, targets, grid, weights, log_pi, cdf, log_bound), targets.shape[0])


def bin_bounds(pair_tag, targets, grid, weights, log_bound):
    """Only the (B,) bounds ln r'_max of ``bin_tables``."""
    run_ranges(bin_bounds_range, (pair_tag, targets, grid, weights, log_bound), targets.shape[0])
