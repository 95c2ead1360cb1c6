"""Public API: ``encode`` a target sample into an integer index, ``decode`` it back.

This layer validates and reshapes; the family pair (``recnumba.families``) standardises the
distributions, and a backend (``recnumba.backends``) runs the search core
(``recnumba.search``) under the shared policy.
"""

import math
from dataclasses import dataclass

import numpy as np

from recnumba import backends
from recnumba.backends import BACKENDS, BackendUnavailable
from recnumba.coding.index_codes import block_codes, check_index_code, index_bits
from recnumba.families.base import check_distribution, pair_of
from recnumba.partition import (
    TARGET_KL_SLACK_BITS,
    TOO_FINE_EXCESS_BITS,
    Partition,
    PartitionTooFineWarning,
    warn_partition_too_fine,
)
from recnumba.search.params import (
    METHOD_NAMES,
    STATUS_INDEX_OVERFLOW,
    STATUS_INTERRUPTED,
    STATUS_MAX_STEPS,
    STATUS_NO_CANDIDATE,
    STATUS_OK,
    STATUS_UNBOUNDED,
    WEIGHT_NAMES,
    BinGrid,
    SearchOutput,
    SearchSpec,
)
from recnumba.validation import (INDEX_LIMIT, ParameterTypeError, check_bits, check_block_ids, check_choice, check_indices,
                                 check_int, check_seed)

__all__ = ["BACKENDS", "BackendUnavailable", "DEFAULT_MAX_STEPS", "EncodeResult", "MaxStepsExceeded",
           "ORC_UNBOUNDED_BUDGET_LIMIT", "PartitionTooFineWarning", "decode", "encode"]

#: Default cap on exact-PFR search steps per block (about a minute of 5-D search on one core).
DEFAULT_MAX_STEPS = 100_000_000
#: The largest ORC budget ``num_samples`` accepted when some block's density ratio is unbounded. Such a
#: block cannot stop early and scores every one of its N candidates: measured 3.7e7 candidates/s per
#: thread at 1-D, 2.4e7 at 3-D, 7.4e6 at 16-D (2-core dev VM, 2026-12-02), so 2^32 candidates take 2 to
#: 10 minutes per block and thread, and 2^40 would take days. With a bounded ratio the search stops once
#: no later candidate can win (after about 2^bound_bits candidates), and larger budgets are accepted.
ORC_UNBOUNDED_BUDGET_LIMIT = 1 << 32
#: ``encode`` warns (``PartitionTooFineWarning``, defined in ``recnumba.partition``) when log2 J exceeds a
#: block's KL by more than this: the planned-information threshold plus the slack for per-target scatter.
EXCESS_PARTITION_BITS = TOO_FINE_EXCESS_BITS + TARGET_KL_SLACK_BITS
_LN2 = math.log(2.0)


class MaxStepsExceeded(ValueError):
    """Exact PFR reached ``max_steps`` candidates before its stopping rule fired."""


def grid_of(partition):
    """The kernels' view (``BinGrid``) of a ``Partition``."""
    return BinGrid(partition.intervals, partition.offsets, partition.strides, np.int64(partition.num_bins))


@dataclass
class EncodeResult:
    """What ``encode`` returns. Scalars for a single target, arrays of shape (B,) for a batch.

    Attributes
    ----------
    index : int or int64 ndarray (B,)
        The code n >= 0 to transmit; ``decode(index, ...)`` rebuilds ``sample``.
    sample : float64 ndarray (D,) or (B, D)
        The selected sample, in the latent's units.
    steps : int or int64 ndarray (B,)
        Candidates examined by the search.
    bits : int or int64 ndarray (B,)
        Length in bits of the index under ``code`` (Elias codes are applied to ``index + 1``).
    code : str
        The integer code the bits refer to.
    method : str
        "pfr", "orc" or "auto", as passed to ``encode``.
    bound_bits : float or float64 ndarray (B,)
        log2 sup dQ/dP' of the search heuristic; exact PFR takes about 2^bound_bits steps.
    exact : bool or bool ndarray (B,)
        Whether the block's sample came from exact PFR (always for "pfr", never for "orc", per
        block for "auto").
    """

    index: object
    sample: np.ndarray
    steps: object
    bits: object
    code: str
    method: str
    bound_bits: object
    exact: object


def _batched(array, num_blocks):
    """A writable C-contiguous (B, D) copy (read-only broadcast views would compile new kernels)."""
    return np.array(np.broadcast_to(array, (num_blocks, array.shape[-1])), dtype=np.float64, order="C")


def _batch_size(name, shape, other):
    if len(shape) == 2 and len(other) == 2 and shape[0] != other[0]:
        raise ValueError(f"{name} has {shape[0]} blocks but the other argument has {other[0]}")
    return shape[0] if len(shape) == 2 else (other[0] if len(other) == 2 else None)


def check_partition(partition, dim):
    """A ``Partition`` for ``dim`` dimensions (default: plain REC), or ValueError."""
    if partition is None:
        return Partition.plain(dim)
    if not isinstance(partition, Partition):
        partition = Partition(partition)
    if partition.dim != dim:
        raise ValueError(
            f"partition has {partition.dim} dimensions but the distributions have {dim}; "
            "build the partition for the same number of dimensions"
        )
    return partition


def prior_coordinates(prior, num_blocks):
    """(loc, scale) of the prior, each (B, D) writable float64: z = loc + scale * x."""
    loc, scale = prior.location_scale()
    return _batched(loc, num_blocks), _batched(scale, num_blocks)


#: ``standardise``'s refusal of standardised parameters that are not finite (also the device path's).
STANDARDISED_NOT_FINITE_MESSAGE = (
    "target and prior are too far apart for float64 (the target's parameters in units of the "
    "prior's scale are not finite); rescale the latent"
)


def standardise(pair, target, loc, scale):
    """(B, D, 2) standardised target parameters for the prior's (B, D) ``loc`` and ``scale``, or
    ValueError if float64 cannot represent them."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        a, b = (np.broadcast_to(p, loc.shape) for p in target.standardised_by(loc, scale))
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(STANDARDISED_NOT_FINITE_MESSAGE)
    if pair.check is not None:
        pair.check(a, b)
    return np.ascontiguousarray(np.stack([a, b], axis=-1))


def _check_backend(backend):
    """``backend`` if it is a string (``backends.resolve`` checks the name), else ValueError."""
    if not isinstance(backend, str):
        raise ParameterTypeError(f'backend must be "cpu", "cuda" or "auto" (a string); got {backend!r:.80}')
    return backend


def encode(
    target,
    prior,
    seed,
    *,
    partition=None,
    method="pfr",
    weights=None,
    num_samples=None,
    max_steps=DEFAULT_MAX_STEPS,
    code="delta",
    information_bits=None,
    block_ids=None,
    exact_bound_bits=20.0,
    backend="cpu",
):
    """Select a sample of ``target`` that a receiver holding ``prior`` and ``seed`` can rebuild.

    Parameters
    ----------
    target, prior : Gaussian, Laplace or Uniform
        Factorised distributions with D dimensions, a supported pair (``recnumba.families``:
        Gaussian/Gaussian, Laplace/Laplace, Uniform/Uniform, Uniform target under a Gaussian prior).
        Shapes (D,) or (B, D) for B independent blocks.
    seed : int in [0, 2^62)
        Shared seed. The sender's private randomness is derived from it under another key.
    partition : Partition or sequence of int, optional
        Space partition (default: none, plain REC).
    method : "pfr", "orc" or "auto"
        "pfr": exact Poisson functional representation with the optimal stopping rule; needs a
        bounded density ratio (Gaussian: every target std below the prior std; Laplace: every target
        scale at most the prior's; uniform targets: always). "orc": ordered random coding
        with exactly ``num_samples`` candidates (approximate; fine once num_samples >> 2^KL).
        "auto": per block, exact PFR (ratio weights) when its search bound is at most
        2^exact_bound_bits steps, else ORC; decoding is the same either way.
        "gprs": exact greedy Poisson rejection sampling (1-D branch and bound, ``recnumba.gprs``) for
        1-D Gaussian blocks with every target std below the prior std; decode with method="gprs".
    weights : "ratio" or "target", optional
        Bin weights pi. Default "ratio" for PFR (fastest exact search), "target" for ORC and for
        the ORC blocks of "auto".
    num_samples : int, ORC and "auto" only
        Candidate budget N (default 2^16). Above 2^32 (``ORC_UNBOUNDED_BUDGET_LIMIT``) it is refused
        when some block's density ratio is unbounded: such a block scores all N candidates (2 to 10
        minutes per block and thread at 2^32) and would not finish in a sane time. With bounded
        ratios ORC stops after about 2^bound_bits candidates at most, and any N is accepted.
    max_steps : int
        PFR raises ``MaxStepsExceeded`` (a ValueError) after this many candidates in one block, or
        at once when its search bound exceeds ``max_steps`` by more than 2^10.
    code : "delta", "gamma", "omega", "fixed", "two-part" or "zeta"
        Index code used to report ``bits`` (``recnumba.coding.index_codes``): Elias codes of index + 1;
        "fixed": ceil(log2(N J)) bits (ORC); "two-part": the bin j uniformly (log2 J bits), then Elias
        delta of the rank k in the bin; "zeta": j uniformly, then k under ζ(k | α) with α from
        ``information_bits``, arithmetic-coded (bits of a one-block stream). For partitioned blocks
        "two-part" and "zeta" are shorter than "delta" (the log log overhead falls on k only).
    information_bits : float or (B,) floats, "zeta" only
        The block's information in bits as the receiver knows it (a plan's ``nominal_bits``, or the
        KL budget the posterior was trained to); it sets ζ's exponent, so both sides must use the
        same value. Not the target's own KL, which the receiver does not have.
    block_ids : sequence of int, optional
        Stream key of each block (default 0..B-1). Decode must use the same ids.
    exact_bound_bits : float
        "auto" only: the largest log2 search bound for which a block runs exact PFR (checked for
        every method: a finite number >= 0).
    backend : "cpu", "cuda" or "auto"
        Where the search runs. "cuda" needs numba-cuda and a GPU (``BackendUnavailable``
        otherwise); "auto" uses the GPU when there is one and the batch has at least
        ``recnumba.backends.AUTO_MIN_BLOCKS["cuda"]`` (256) blocks. All backends return the same
        indices and samples.

    Returns
    -------
    EncodeResult

    Warns
    -----
    PartitionTooFineWarning
        When log2 J exceeds some block's KL by more than ``EXCESS_PARTITION_BITS`` (8) bits
        (``recnumba.partition.TOO_FINE_EXCESS_BITS + TARGET_KL_SLACK_BITS``): every index then costs
        about log2 J bits instead of about KL.
    """
    pair = pair_of(check_distribution(target, "target"), check_distribution(prior, "prior"))
    seed = check_seed(seed)
    if target.dim != prior.dim:
        raise ValueError(f"target has {target.dim} dimensions but prior has {prior.dim}; they must match")
    num_blocks = _batch_size("target", target.shape, prior.shape)
    single = num_blocks is None
    num_blocks = 1 if single else num_blocks
    partition = check_partition(partition, target.dim)
    if isinstance(method, str) and method == "gprs":  # exact 1-D GPRS: its own search (recnumba.gprs)
        from recnumba import gprs

        return gprs.encode(target, prior, seed, partition=partition, weights=weights, num_samples=num_samples,
                           max_steps=max_steps, code=code, information_bits=information_bits, block_ids=block_ids,
                           exact_bound_bits=exact_bound_bits, backend=backend)
    call = encode_call(num_blocks, seed, partition, method, weights, num_samples, max_steps, code, information_bits,
                       block_ids, exact_bound_bits, backend)

    loc, scale = prior_coordinates(prior, num_blocks)
    targets = standardise(pair, target, loc, scale)
    bounded = np.all(np.broadcast_to(pair.bounded(targets[..., 0], targets[..., 1]), targets.shape[:-1]),
                     axis=-1)  # per block (B,)
    check_bounded(pair, call, bounded)
    _warn_if_partition_too_fine(pair, target, prior, partition, num_blocks)
    out = SearchOutput.empty(num_blocks)
    call.backend.select(pair.tag, targets, call.grid, call.spec, call.block_ids, out)
    bound_bits = out.log_bound / _LN2
    _raise_for_status(out.status, out.steps, bound_bits, call.max_steps)

    sample = np.empty((num_blocks, target.dim), dtype=np.float64)
    call.backend.decode(prior.prior_tag, out.index, loc, scale, call.grid, np.uint64(seed), call.block_ids, sample)
    bits = index_bits(out.index, call.code, call.codes)
    if single:
        return EncodeResult(int(out.index[0]), sample[0], int(out.steps[0]), int(bits[0]), call.code, method,
                            float(bound_bits[0]), bool(out.exact[0]))
    return EncodeResult(out.index, sample, out.steps, bits, call.code, method, bound_bits, out.exact)


@dataclass
class EncodeCall:
    """``encode``'s checked arguments for a call of ``num_blocks`` blocks (everything but the arrays)."""

    method: str
    weights: str
    budget: int
    max_steps: int
    code: str
    codes: object
    block_ids: np.ndarray
    backend: object
    spec: SearchSpec
    grid: BinGrid
    partition: Partition


def encode_call(num_blocks, seed, partition, method, weights, num_samples, max_steps, code, information_bits,
                block_ids, exact_bound_bits, backend):
    """Check ``encode``'s arguments other than the distributions (same order, same messages) for
    ``num_blocks`` blocks and a checked ``partition``; an :class:`EncodeCall`. The CUDA device path
    (``recnumba.device``) makes the same checks through it."""
    check_choice(method, METHOD_NAMES, f'method must be "pfr" (exact), "orc" (fixed budget), "auto" or "gprs" '
                 f'(exact 1-D GPRS); got {method!r:.80}')
    if weights is None:
        weights = "ratio" if method == "pfr" else "target"
    check_choice(weights, WEIGHT_NAMES, f'weights must be "ratio" or "target" (or None for the default); '
                 f'got {weights!r:.80}')
    max_steps = check_int(max_steps, "max_steps", minimum=1)
    if method == "pfr":
        if num_samples is not None:
            raise ValueError('num_samples is the ORC budget; pass method="orc" or drop num_samples')
        budget = 0
    else:
        budget = check_int(1 << 16 if num_samples is None else num_samples, "num_samples", minimum=1)
        if budget * partition.num_bins > INDEX_LIMIT:
            raise ValueError(
                f"num_samples x J = 2^{math.log2(budget * partition.num_bins):.1f} exceeds the int64 index "
                "range 2^63; use fewer bins (log2 J <= 63 - log2 num_samples) or fewer samples"
            )
    exact_limit = check_bits(exact_bound_bits, "exact_bound_bits") * _LN2  # checked for every method
    if method != "auto":
        exact_limit = -math.inf
    code = check_index_code(code, budget if method == "orc" else 0)
    codes = block_codes([partition] * num_blocks, information_bits, budget if method == "orc" else 0, code)
    block_ids = check_block_ids(block_ids, num_blocks)
    backend = backends.resolve(_check_backend(backend), num_blocks)
    spec = SearchSpec(np.int64(METHOD_NAMES[method]), np.int64(WEIGHT_NAMES[weights]), np.int64(budget),
                      np.int64(max_steps), np.float64(exact_limit), np.uint64(seed))
    return EncodeCall(method, weights, budget, max_steps, code, codes, block_ids, backend, spec, grid_of(partition),
                      partition)


def check_bounded(pair, call, bounded):
    """ValueError where the method or weights need a bounded ratio that some block lacks
    (``bounded``: (B,) bool, every dimension's ``pair.bounded``), or the ORC budget is too large."""
    method, weights, budget = call.method, call.weights, call.budget
    if method == "pfr" or weights == "ratio":
        if not np.all(bounded):
            what = "exact PFR" if method == "pfr" else 'weights="ratio"'
            raise ValueError(
                f"{what} needs a bounded density ratio q/p ({pair.name}: {pair.exact_condition}), but some "
                'dimension is unbounded; use method="orc" with weights="target"'
            )
    if budget > ORC_UNBOUNDED_BUDGET_LIMIT and not np.all(bounded):
        raise ValueError(
            f"num_samples={budget} (2^{math.log2(budget):.1f}) is over the limit "
            f"2^{ORC_UNBOUNDED_BUDGET_LIMIT.bit_length() - 1} (ORC_UNBOUNDED_BUDGET_LIMIT) for a block whose "
            f"density ratio is unbounded (block {int(np.flatnonzero(~bounded)[0])}): such a block scores every "
            "one of its candidates and would run for hours or days. Use num_samples <= "
            f"2^{ORC_UNBOUNDED_BUDGET_LIMIT.bit_length() - 1} (2^4 to 2^8 times 2^KL is plenty) and a partition "
            "with target weights (log2 J about KL - 4 bits) to need fewer"
        )


def _warn_if_partition_too_fine(pair, target, prior, partition, num_blocks):
    """PartitionTooFineWarning when log2 J exceeds a block's KL by more than EXCESS_PARTITION_BITS."""
    if partition.num_bins == 1:
        return
    shape = (num_blocks, target.dim)
    with np.errstate(all="ignore"):
        kl = np.sum(np.asarray(pair.kl_nats(target.broadcast_to(shape), prior.broadcast_to(shape)),
                               dtype=np.float64), axis=-1) / _LN2
    warn_if_too_fine(partition, kl)


def warn_if_too_fine(partition, kl):
    """``encode``'s PartitionTooFineWarning for blocks of KL ``kl`` bits (B,) on ``partition``."""
    if partition.num_bins == 1:
        return
    warn_partition_too_fine(
        math.log2(partition.num_bins), kl, "encode",
        "Use a coarser partition (log2 J about KL - 2 bits for exact PFR, KL - 4 for ORC, e.g. "
        "Partition.uniform(dim, bits) or Partition.from_information).",
        information="the target's KL", slack_bits=TARGET_KL_SLACK_BITS)


def first_failed_block(status):
    """None if every block's search status is OK, else (block, status) of the first that is not.

    KeyboardInterrupt if any search was cancelled (Ctrl-C): a backend's cancelled search is never a
    result. Every method's status check (``_raise_for_status`` here and in ``recnumba.gprs``) starts here.
    """
    if np.all(status == STATUS_OK):
        return None
    if np.any(status == STATUS_INTERRUPTED):
        raise KeyboardInterrupt("the search was interrupted")
    block = int(np.flatnonzero(status != STATUS_OK)[0])
    return block, int(status[block])


def _raise_for_status(status, steps, bound_bits, max_steps):
    failed = first_failed_block(status)
    if failed is None:
        return
    block, code = failed
    if code == STATUS_MAX_STEPS and steps[block] == 0:
        raise MaxStepsExceeded(
            f"block {block}: exact PFR would take about 2^{bound_bits[block]:.1f} steps, over 2^10 times "
            f"max_steps={max_steps}, so it was not started. Pass a finer partition, raise max_steps, or "
            "use method=\"orc\" or \"auto\"."
        )
    if code == STATUS_MAX_STEPS:
        raise MaxStepsExceeded(
            f"exact PFR examined {int(steps[block])} candidates in block {block} without meeting its "
            f"stopping rule (max_steps={max_steps}; the search bound is 2^{bound_bits[block]:.1f} steps). "
            "Raise max_steps, pass a finer partition, or use method=\"orc\"."
        )
    if code == STATUS_INDEX_OVERFLOW:
        raise ValueError(
            f"block {block}: the index outgrew int64 after {int(steps[block])} steps; "
            "use a partition with fewer bins"
        )
    if code == STATUS_NO_CANDIDATE:
        raise ValueError(
            f"block {block}: no candidate had a finite score: every candidate fell where the target's density "
            "is zero in float64. Either the target is too far from the prior (many prior scales away, so "
            "its density underflows at every prior sample: float64 scores cannot rank them; rescale or "
            "re-centre the latent so the prior covers the target), or its support is narrow (raise "
            "num_samples, or use a partition with target weights so candidates come from the target's bins)"
        )
    if code == STATUS_UNBOUNDED:
        raise ValueError(
            f"block {block}: the density ratio is unbounded, so exact PFR cannot stop; use method=\"orc\""
        )
    raise RuntimeError(f"unknown kernel status {code} in block {block}")  # pragma: no cover


def _check_decode_indices(index, num_blocks):
    values = check_indices(index)
    if num_blocks is None and values.ndim > 1:
        raise ValueError(f"index must be an int or a 1-D array of ints (one per block); got shape {values.shape}")
    if values.ndim > 1 or (num_blocks is not None and values.ndim == 1 and values.shape[0] != num_blocks):
        raise ValueError(f"index must have shape ({num_blocks},) to match the prior's blocks; got {values.shape}")
    if num_blocks is not None and values.ndim == 0:
        raise ValueError(f"the prior has {num_blocks} blocks: pass one index per block")
    return values


def decode(index, prior, seed, *, partition=None, block_ids=None, num_samples=None, backend="cpu", method=None):
    """Rebuild the sample that ``encode`` selected, from its index alone.

    Parameters
    ----------
    index : int or int array (B,)
        ``EncodeResult.index``.
    prior, seed, partition, block_ids
        Exactly as given to ``encode``. No method or weights are needed.
    num_samples : int, optional
        Only for indices from pure ``method="orc"``: indices that an N-candidate ORC cannot produce are
        rejected. Do not pass it for "pfr" or "auto" (their exact blocks have no such bound).
    backend : "cpu", "cuda" or "auto"
        As for ``encode``; the decoded samples are bit-identical on every backend.
    method : None, "pfr", "orc", "auto" or "gprs"
        Only "gprs" indices decode differently (``recnumba.gprs``); the others need no method.

    Returns
    -------
    float64 ndarray, shape (D,) for a scalar index on a (D,) prior, else (B, D).
    """
    if isinstance(method, str) and method == "gprs":
        from recnumba import gprs

        return gprs.decode(index, prior, seed, partition=partition, block_ids=block_ids, num_samples=num_samples,
                           backend=backend)
    if method is not None:
        check_choice(method, METHOD_NAMES, f'method must be None, "pfr", "orc", "auto" or "gprs"; got {method!r:.80}')
    indices, single, partition, block_ids, backend = decode_call(index, prior, seed, partition, block_ids,
                                                                 num_samples, backend)
    num_blocks = indices.shape[0]
    loc, scale = prior_coordinates(prior, num_blocks)
    sample = np.empty((num_blocks, prior.dim), dtype=np.float64)
    backend.decode(prior.prior_tag, indices, loc, scale, grid_of(partition), np.uint64(seed), block_ids, sample)
    return sample[0] if single else sample


def decode_call(index, prior, seed, partition, block_ids, num_samples, backend):
    """``decode``'s checks (same order, same messages): (indices (B,), single, partition, block_ids,
    backend module). The CUDA device path (``recnumba.device``) checks through it too."""
    prior = check_distribution(prior, "prior")
    if prior.prior_tag is None:
        raise ValueError(f"a {type(prior).__name__} cannot be used as a prior; pass the prior given to encode")
    seed = check_seed(seed)
    partition = check_partition(partition, prior.dim)
    batched_prior = prior.shape[0] if len(prior.shape) == 2 else None
    indices = _check_decode_indices(index, batched_prior)
    single = indices.ndim == 0
    indices = np.atleast_1d(indices)
    num_blocks = indices.shape[0]
    if num_samples is not None:
        num_samples = check_int(num_samples, "num_samples", minimum=1)
        local = indices // partition.num_bins
        if np.any(local >= num_samples):
            raise ValueError(
                f"index {int(indices[np.argmax(local >= num_samples)])} cannot come from ORC with "
                f"num_samples={num_samples} on this partition (its local index is too large): "
                "check the index, the partition and num_samples"
            )
    block_ids = check_block_ids(block_ids, num_blocks)
    backend = backends.resolve(_check_backend(backend), num_blocks)
    return indices, single, partition, block_ids, backend
