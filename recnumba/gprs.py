"""``method="gprs"``: exact 1-D greedy Poisson rejection sampling (branch and bound) behind the public API.

``recnumba.encode(target, prior, seed, method="gprs")`` and ``recnumba.decode(index, prior, seed,
method="gprs")`` land here (``recnumba.api`` dispatches on the method name); the kernels are in
``recnumba.search.gprs`` (algorithm, stretch function and portability notes there).

* Gaussian targets under a Gaussian prior, 1-D blocks: shape (1,) or (B, 1). A D-dimensional latent is
  coded one dimension per block through ``BlockPlan.per_dimension(info_bits)`` and
  ``encode_dataset(..., method="gprs")`` / ``decode_dataset(..., method="gprs")``.
* Every target std must be below the prior's: GPRS needs a bounded ratio dq/dp (and the
  branch-and-bound variant a unimodal one); anything else is refused with a ValueError saying so.
* The message is the heap index h >= 1 of the accepted node of the search path; ``index`` is
  n = h - 1 (like every other method's, n >= 0), so the index codes (``code="delta"``: Elias delta of
  n + 1 = h; ``code="zeta"``: h under ζ(h | α), α from ``information_bits``) code h itself.
* ``steps`` is the number of nodes visited (the depth of h plus one); ``bound_bits`` is D∞ in bits
  (GPRS's steps do not grow with it: E[steps] <= 2.26 D_KL + 9.66); ``exact`` is always True.
* Search paths deeper than 62 levels (the heap index would leave int64) raise a ValueError: very rare
  below about 28 bits per dimension, except where the ratio's mode a / (1 - b^2) (standardised) lies
  far in the prior's tail, as for a std within ~1e-6 of the prior's with a shifted mean (mode at
  thousands of prior stds); lower such a std before coding (``examples/mnist/lossless.py``'s
  ``gprs_scale`` keeps the mode within 6 stds of the mean).
* CPU only (``backend="cpu"`` or ``"auto"``), on recnumba's thread pool; samples decode bit for bit.
"""

import math

import numpy as np

from recnumba.api import (
    EncodeResult,
    MaxStepsExceeded,
    _batch_size,
    _check_decode_indices,
    check_distribution,
    check_partition,
    first_failed_block,
    prior_coordinates,
    standardise,
)
from recnumba.backends.threads import run_ranges
from recnumba.coding.index_codes import block_codes, check_index_code, index_bits
from recnumba.families.base import pair_of
from recnumba.families.gaussian import Gaussian
from recnumba.partition import Partition
from recnumba.search import gprs as kernels
from recnumba.search.params import STATUS_INDEX_OVERFLOW, STATUS_MAX_STEPS
from recnumba.validation import check_bits, check_block_ids, check_int, check_seed

__all__ = ["METHOD", "MAX_INDEX", "encode", "decode"]

#: The method name in ``recnumba.encode`` / ``decode`` / ``encode_dataset`` / ``decode_dataset``.
METHOD = "gprs"
#: The largest index n = h - 1 a GPRS path can have (heap indices stay below 2^63: depth <= 62).
MAX_INDEX = (1 << 63) - 2
_LN2 = math.log(2.0)


def _check_backend(backend):
    if not isinstance(backend, str) or backend not in ("cpu", "auto", "cuda"):
        raise ValueError(f'backend must be "cpu", "cuda" or "auto" (a string); got {backend!r:.80}')
    if backend == "cuda":
        raise ValueError('method="gprs" runs on the CPU only (its search is a short sequential path per '
                         'block); use backend="cpu" or "auto"')


def _check_gaussian_1d(distribution, name):
    if not isinstance(distribution, Gaussian):
        raise ValueError(f'method="gprs" needs a Gaussian {name} (1-D GPRS with Gaussian target and prior); '
                         f"got a {type(distribution).__name__}")
    if distribution.dim != 1:
        raise ValueError(
            f'method="gprs" codes 1-D blocks, but the {name} has {distribution.dim} dimensions (shape '
            f"{distribution.shape}); code a D-dimensional latent one dimension per block: "
            'encode_dataset(targets, prior, BlockPlan.per_dimension(info_bits), seed, method="gprs")'
        )


def _check_plain(partition):
    if partition.num_bins != 1:
        raise ValueError(f'method="gprs" does not use a space partition (its search splits the line itself); '
                         f"got {partition.num_bins} bins: pass partition=None")


def encode(target, prior, seed, *, partition=None, weights=None, num_samples=None, max_steps=None,
           code="delta", information_bits=None, block_ids=None, exact_bound_bits=20.0, backend="cpu",
           log_sigma_shift=0.0):
    """``recnumba.encode(..., method="gprs")`` (see the module docstring); returns an ``EncodeResult``.

    ``max_steps``: stop with ``MaxStepsExceeded`` after this many nodes (default: none besides the
    depth limit of 62, beyond which the heap index would leave int64: a ValueError).
    ``log_sigma_shift`` (tests only): added to ln sigma, which makes the sampler inexact when nonzero.
    """
    target = check_distribution(target, "target")
    prior = check_distribution(prior, "prior")
    _check_gaussian_1d(target, "target")
    _check_gaussian_1d(prior, "prior")
    pair = pair_of(target, prior)
    seed = check_seed(seed)
    num_blocks = _batch_size("target", target.shape, prior.shape)
    single = num_blocks is None
    num_blocks = 1 if single else num_blocks
    _check_plain(check_partition(partition, 1))
    if weights is not None:
        raise ValueError('weights are bin weights of a partitioned search; method="gprs" has none: drop weights')
    if num_samples is not None:
        raise ValueError('num_samples is the ORC budget; method="gprs" is exact: drop num_samples')
    limit = kernels.MAX_DEPTH + 1 if max_steps is None else check_int(max_steps, "max_steps", minimum=1)
    check_bits(exact_bound_bits, "exact_bound_bits")
    code = check_index_code(code, 0)
    codes = block_codes([Partition.plain(1)] * num_blocks, information_bits, 0, code)
    block_ids = check_block_ids(block_ids, num_blocks)
    _check_backend(backend)
    shift = float(log_sigma_shift)

    loc, scale = prior_coordinates(prior, num_blocks)
    targets = standardise(pair, target, loc, scale)[:, 0, :]  # (B, 2): a, b
    wide = np.flatnonzero(~(targets[:, 1] < 1.0))
    if wide.size:
        i = int(wide[0])
        raise ValueError(
            f'method="gprs" needs a bounded density ratio q/p: every target std below the prior std; block {i} '
            f"has target std {float(np.broadcast_to(target.scale, (num_blocks, 1))[i, 0])!r} >= prior std "
            f"{float(scale[i, 0])!r}. Use method=\"orc\" (with weights=\"target\") for such targets"
        )
    targets = np.ascontiguousarray(targets)
    heap = np.empty(num_blocks, dtype=np.int64)
    steps = np.empty(num_blocks, dtype=np.int64)
    status = np.empty(num_blocks, dtype=np.int64)
    sample = np.empty(num_blocks, dtype=np.float64)
    run_ranges(kernels.encode_range, (targets, np.ascontiguousarray(loc[:, 0]), np.ascontiguousarray(scale[:, 0]),
                                      np.uint64(seed), block_ids, np.int64(limit), shift, heap, steps, status,
                                      sample), num_blocks)
    _raise_for_status(status, steps, limit, targets)
    index = heap - 1
    bits = index_bits(index, code, codes)
    a, b = targets[:, 0], targets[:, 1]
    with np.errstate(over="ignore"):
        bound_bits = (-np.log(b) + a * a / (2.0 * (1.0 - b) * (1.0 + b))) / _LN2  # D_inf
    if single:
        return EncodeResult(int(index[0]), sample[:1], int(steps[0]), int(bits[0]), code, METHOD,
                            float(bound_bits[0]), True)
    return EncodeResult(index, sample[:, None], steps, bits, code, METHOD, bound_bits, np.ones(num_blocks, bool))


def _raise_for_status(status, steps, limit, targets):
    failed = first_failed_block(status)
    if failed is None:
        return
    block, code = failed
    kl = _kl_bits(*targets[block])
    if code == STATUS_MAX_STEPS:
        raise MaxStepsExceeded(f"block {block}: GPRS visited max_steps={limit} nodes without accepting (its "
                               f"expected number is at most 2.26 KL + 9.66 = {2.26 * kl + 9.66:.1f}); raise max_steps")
    if code == STATUS_INDEX_OVERFLOW:
        a, b = (float(v) for v in targets[block])
        mode = a / ((1.0 - b) * (1.0 + b))  # the ratio's mode, where the branch-and-bound path heads
        raise ValueError(f"block {block}: the GPRS search path passed depth {kernels.MAX_DEPTH}, beyond which its "
                         f"heap index would leave int64 (KL = {kl:.1f} bits; the ratio's mode a / (1 - b^2) lies "
                         f"{mode:.3g} prior stds from the prior's mean). Paths that deep are very rare below about 28 "
                         "bits per dimension unless the mode is far out, as for a target whose std is close to the "
                         "prior's with a shifted mean: lower such a target's std, split the latent into less "
                         "informative dimensions, or use a partitioned method")
    if code == kernels.STATUS_PRECISION:
        raise ValueError(f"block {block}: the GPRS interval became narrower than float64 can split (after "
                         f"{int(steps[block])} nodes; KL = {kl:.1f} bits): the target is too narrow for 1-D GPRS "
                         "in float64")
    raise RuntimeError(f"block {block}: the GPRS stretch-function table could not be built (a = "
                       f"{targets[block, 0]!r}, b = {targets[block, 1]!r}, standardised)")


def _kl_bits(a, b):
    return float((-math.log(b) + 0.5 * (b * b + a * a) - 0.5) / _LN2)


def decode(index, prior, seed, *, partition=None, block_ids=None, num_samples=None, backend="cpu"):
    """``recnumba.decode(..., method="gprs")``: the samples of GPRS indices n = h - 1, bit-identical to
    the sender's; shape (1,) for a scalar index on a (1,) prior, else (B, 1)."""
    prior = check_distribution(prior, "prior")
    _check_gaussian_1d(prior, "prior")
    seed = check_seed(seed)
    _check_plain(check_partition(partition, 1))
    if num_samples is not None:
        raise ValueError('num_samples is the ORC budget; GPRS indices have none: drop num_samples')
    batched_prior = prior.shape[0] if len(prior.shape) == 2 else None
    indices = _check_decode_indices(index, batched_prior)
    single = indices.ndim == 0
    indices = np.atleast_1d(indices)
    if np.any(indices > MAX_INDEX):
        raise ValueError(f"index {int(indices.max())} cannot come from GPRS (its heap index n + 1 would pass "
                         "2^63 - 1, deeper than the search goes)")
    num_blocks = indices.shape[0]
    block_ids = check_block_ids(block_ids, num_blocks)
    _check_backend(backend)
    loc, scale = prior_coordinates(prior, num_blocks)
    sample = np.empty(num_blocks, dtype=np.float64)
    run_ranges(kernels.decode_range, (indices + 1, np.ascontiguousarray(loc[:, 0]),
                                      np.ascontiguousarray(scale[:, 0]), np.uint64(seed), block_ids, sample),
               num_blocks, inline=num_blocks <= 4096)
    if np.any(np.isnan(sample)):
        bad = int(np.flatnonzero(np.isnan(sample))[0])
        raise ValueError(f"index {int(indices[bad])} (block {bad}) cannot come from GPRS: its path narrows the "
                         "interval below float64 resolution; check the index, the seed and the block ids")
    return sample[:1] if single else sample[:, None]
