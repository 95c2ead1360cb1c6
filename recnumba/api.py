"""Public API: ``encode`` a target sample into an integer index, ``decode`` it back.

This layer validates and reshapes; the work happens in ``recnumba.kernels.selection``.
"""

import math
from dataclasses import dataclass

import numpy as np

from recnumba.coding.elias import CODES
from recnumba.distributions.gaussian import Gaussian
from recnumba.kernels.bin_weights import WEIGHT_NAMES
from recnumba.kernels.selection import (
    STATUS_INDEX_OVERFLOW,
    STATUS_MAX_STEPS,
    STATUS_NO_CANDIDATE,
    STATUS_OK,
    STATUS_UNBOUNDED,
    decode_batch,
    decode_serial,
    select_batch,
    select_serial,
)
from recnumba.partition import Partition
from recnumba.random.philox import SEED_LIMIT

#: Default cap on exact-PFR search steps per block (about a minute of 5-D search on one core).
DEFAULT_MAX_STEPS = 100_000_000
_BLOCK_LIMIT = 1 << 32
_INT64_LIMIT = 1 << 63
_LN2 = math.log(2.0)


class MaxStepsExceeded(ValueError):
    """Exact PFR reached ``max_steps`` candidates before its stopping rule fired."""


class BackendUnavailable(ValueError):
    """``backend="cuda"`` was asked for, but numba-cuda or a CUDA GPU is missing."""


BACKENDS = ("cpu", "cuda", "auto")
#: ``backend="auto"`` runs on the GPU from this many blocks per call (fewer do not fill it).
CUDA_AUTO_MIN_BLOCKS = 256
_cuda_state = {}


def _cuda_kernels():
    """The CUDA kernel module, or None with the reason in ``_cuda_state["reason"]``; cached."""
    if "module" not in _cuda_state:
        try:
            from recnumba.kernels import cuda_kernels
        except ImportError as error:  # numba without a CUDA target
            _cuda_state.update(module=None, reason=f"numba.cuda could not be imported ({error})")
        else:
            available = cuda_kernels.is_available()
            _cuda_state.update(
                module=cuda_kernels if available else None,
                reason=None if available else "no CUDA driver or GPU was found",
            )
    return _cuda_state["module"]


def _select_backend(backend, num_blocks):
    """Resolve ``backend`` to the CUDA kernel module or None (CPU)."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be "cpu", "cuda" or "auto"; got {backend!r}')
    if backend == "cpu" or (backend == "auto" and num_blocks < CUDA_AUTO_MIN_BLOCKS):
        return None  # (small "auto" batches never start the CUDA driver)
    kernels = _cuda_kernels()
    if backend == "cuda" and kernels is None:
        raise BackendUnavailable(
            f'backend="cuda" needs numba-cuda (pip install "recnumba[cuda]") and a CUDA GPU, but '
            f'{_cuda_state["reason"]}; use backend="cpu" or "auto"'
        )
    return kernels


def _decode_into(kernels, indices, p_loc, p_scale, partition, seed, block_ids, sample):
    num_blocks = indices.shape[0]
    if kernels is not None:
        decode = kernels.decode_cuda
    else:
        decode = decode_batch if num_blocks >= _PARALLEL_MIN_BLOCKS else decode_serial
    decode(
        indices, p_loc, p_scale, partition.intervals, partition.strides,
        np.int64(partition.num_bins), np.uint64(seed), block_ids, sample,
    )


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


def _check_seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an integer in [0, 2^62); got {seed!r}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed must be in [0, 2^62); got {seed}. Use a non-negative seed.")
    return int(seed)


def _check_gaussian(value, name):
    if not isinstance(value, Gaussian):
        raise ValueError(f"{name} must be a recnumba.Gaussian(loc, scale); got {type(value).__name__}")
    return value


def _check_partition(partition, dim):
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


def _check_block_ids(block_ids, num_blocks):
    if block_ids is None:
        return np.arange(num_blocks, dtype=np.int64)
    ids = np.asarray(block_ids)
    if ids.shape != (num_blocks,) or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"block_ids must be {num_blocks} integers (one per block); got {block_ids!r}")
    if np.any(ids < 0) or np.any(ids >= _BLOCK_LIMIT):
        raise ValueError("block_ids must be in [0, 2^32)")
    return ids.astype(np.int64)


def _batched(array, num_blocks):
    """A writable C-contiguous (B, D) copy (read-only broadcast views would compile new kernels)."""
    return np.array(np.broadcast_to(array, (num_blocks, array.shape[-1])), dtype=np.float64, order="C")


#: Below this many blocks the single-threaded kernels win (no thread start-up, cached compile).
_PARALLEL_MIN_BLOCKS = 2


def _batch_size(name, shape, other):
    if len(shape) == 2 and len(other) == 2 and shape[0] != other[0]:
        raise ValueError(f"{name} has {shape[0]} blocks but the other argument has {other[0]}")
    return shape[0] if len(shape) == 2 else (other[0] if len(other) == 2 else None)


def _check_code(code, num_samples):
    if code == "fixed":
        if not num_samples:
            raise ValueError('code="fixed" needs method="orc" (an index bound); use code="delta" for PFR')
    elif code not in CODES:
        raise ValueError(f"code must be one of {sorted(CODES) + ['fixed']}; got {code!r}")
    return code


def _code_lengths(indices, code, num_bins, num_samples):
    if code == "fixed":
        width = max(1, (num_samples * num_bins - 1).bit_length())  # ceil(log2(N J)), exact
        return np.full(indices.shape, width, dtype=np.int64)
    length = CODES[code].length
    return np.array([length(int(n) + 1) for n in indices], dtype=np.int64)


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
    block_ids=None,
    exact_bound_bits=20.0,
    backend="cpu",
):
    """Select a sample of ``target`` that a receiver holding ``prior`` and ``seed`` can rebuild.

    Parameters
    ----------
    target, prior : Gaussian
        Diagonal Gaussians with D dimensions. Shapes (D,) or (B, D) for B independent blocks.
    seed : int in [0, 2^62)
        Shared seed. The sender's private randomness is derived from it under another key.
    partition : Partition or sequence of int, optional
        Space partition (default: none, plain REC).
    method : "pfr", "orc" or "auto"
        "pfr": exact Poisson functional representation with the optimal stopping rule; needs a
        bounded density ratio (every target std below the prior std). "orc": ordered random coding
        with exactly ``num_samples`` candidates (approximate; fine once num_samples >> 2^KL).
        "auto": per block, exact PFR (ratio weights) when its search bound is at most
        2^exact_bound_bits steps, else ORC; decoding is the same either way.
    weights : "ratio" or "target", optional
        Bin weights pi. Default "ratio" for PFR (fastest exact search), "target" for ORC and for
        the ORC blocks of "auto".
    num_samples : int, ORC and "auto" only
        Candidate budget N (default 2^16).
    max_steps : int
        PFR raises ``MaxStepsExceeded`` (a ValueError) after this many candidates in one block, or
        at once when its search bound exceeds ``max_steps`` by more than 2^10.
    code : "delta", "gamma", "omega" or "fixed"
        Integer code used to report ``bits`` (Elias codes of index + 1; "fixed": ceil(log2(N J))).
    block_ids : sequence of int, optional
        Stream key of each block (default 0..B-1). Decode must use the same ids.
    exact_bound_bits : float
        "auto" only: the largest log2 search bound for which a block runs exact PFR.
    backend : "cpu", "cuda" or "auto"
        Where the search runs. "cuda" needs numba-cuda and a GPU (``BackendUnavailable``
        otherwise); "auto" uses the GPU when there is one and the batch has at least
        ``CUDA_AUTO_MIN_BLOCKS`` blocks. All backends return the same indices and samples.

    Returns
    -------
    EncodeResult
    """
    target = _check_gaussian(target, "target")
    prior = _check_gaussian(prior, "prior")
    seed = _check_seed(seed)
    if target.dim != prior.dim:
        raise ValueError(f"target has {target.dim} dimensions but prior has {prior.dim}; they must match")
    num_blocks = _batch_size("target", target.shape, prior.shape)
    single = num_blocks is None
    num_blocks = 1 if single else num_blocks
    partition = _check_partition(partition, target.dim)
    if method not in ("pfr", "orc", "auto"):
        raise ValueError(f'method must be "pfr" (exact), "orc" (fixed budget) or "auto"; got {method!r}')
    if weights is None:
        weights = "ratio" if method == "pfr" else "target"
    if weights not in WEIGHT_NAMES:
        raise ValueError(f'weights must be "ratio" or "target"; got {weights!r}')
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or not 1 <= max_steps < _INT64_LIMIT:
        raise ValueError(f"max_steps must be a positive integer below 2^63; got {max_steps!r}")
    if method == "pfr":
        if num_samples is not None:
            raise ValueError('num_samples is the ORC budget; pass method="orc" or drop num_samples')
        budget = 0
    else:
        num_samples = 1 << 16 if num_samples is None else num_samples
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) \
                or not 1 <= num_samples < _INT64_LIMIT:
            raise ValueError(f"num_samples must be a positive integer below 2^63; got {num_samples!r}")
        budget = int(num_samples)
        if budget * partition.num_bins > _INT64_LIMIT:
            raise ValueError(
                f"num_samples x J = 2^{math.log2(budget * partition.num_bins):.1f} exceeds the int64 index "
                "range 2^63; use fewer bins (log2 J <= 63 - log2 num_samples) or fewer samples"
            )
    if method == "auto":
        if isinstance(exact_bound_bits, bool) or not isinstance(exact_bound_bits, (int, float, np.number)) \
                or not 0 <= exact_bound_bits < math.inf:
            raise ValueError(f"exact_bound_bits must be a finite number of bits >= 0; got {exact_bound_bits!r}")
        exact_limit = float(exact_bound_bits) * _LN2
    else:
        exact_limit = -math.inf
    code = _check_code(code, budget if method == "orc" else 0)
    block_ids = _check_block_ids(block_ids, num_blocks)
    kernels = _select_backend(backend, num_blocks)

    q_loc, q_scale = _batched(target.loc, num_blocks), _batched(target.scale, num_blocks)
    p_loc, p_scale = _batched(prior.loc, num_blocks), _batched(prior.scale, num_blocks)
    if method == "pfr" or weights == "ratio":
        # q/p is bounded iff every target std is below the prior std, or equal to it with equal means.
        unbounded = (q_scale > p_scale) | ((q_scale == p_scale) & (q_loc != p_loc))
        if np.any(unbounded):
            what = "exact PFR" if method == "pfr" else 'weights="ratio"'
            raise ValueError(
                f"{what} needs a bounded density ratio q/p, but some target std exceeds the prior std "
                "(or equals it with a different mean); use method=\"orc\" with weights=\"target\""
            )
    with np.errstate(over="ignore", under="ignore"):
        t_loc = np.ascontiguousarray((q_loc - p_loc) / p_scale)
        t_scale = np.ascontiguousarray(q_scale / p_scale)
    if not (np.all(np.isfinite(t_loc)) and np.all(np.isfinite(t_scale)) and np.all(t_scale > 1e-150)):
        raise ValueError(
            "target and prior are too far apart for float64 (target std / prior std must lie in "
            "(1e-150, inf) and (target mean - prior mean) / prior std must be finite); rescale the latent"
        )

    out_index = np.empty(num_blocks, dtype=np.int64)
    out_steps = np.empty(num_blocks, dtype=np.int64)
    out_status = np.empty(num_blocks, dtype=np.int64)
    out_log_bound = np.empty(num_blocks, dtype=np.float64)
    out_exact = np.empty(num_blocks, dtype=np.bool_)
    if kernels is not None:
        select = kernels.select_cuda
    else:
        select = select_batch if num_blocks >= _PARALLEL_MIN_BLOCKS else select_serial
    select(
        t_loc, t_scale, partition.intervals, partition.offsets, partition.strides,
        np.int64(partition.num_bins), np.int64(WEIGHT_NAMES[weights]), np.uint64(seed), block_ids,
        np.int64(budget), np.int64(max_steps), np.float64(exact_limit), out_index, out_steps,
        out_status, out_log_bound, out_exact,
    )
    bound_bits = out_log_bound / _LN2
    _raise_for_status(out_status, out_steps, bound_bits, max_steps)

    sample = np.empty((num_blocks, target.dim), dtype=np.float64)
    _decode_into(kernels, out_index, p_loc, p_scale, partition, seed, block_ids, sample)
    bits = _code_lengths(out_index, code, partition.num_bins, budget)
    if single:
        return EncodeResult(int(out_index[0]), sample[0], int(out_steps[0]), int(bits[0]), code, method,
                            float(bound_bits[0]), bool(out_exact[0]))
    return EncodeResult(out_index, sample, out_steps, bits, code, method, bound_bits, out_exact)


def _raise_for_status(status, steps, bound_bits, max_steps):
    if np.all(status == STATUS_OK):
        return
    block = int(np.flatnonzero(status != STATUS_OK)[0])
    code = int(status[block])
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
        raise ValueError(f"block {block}: no candidate had a finite score; the target is degenerate for float64")
    if code == STATUS_UNBOUNDED:
        raise ValueError(
            f"block {block}: the density ratio is unbounded, so exact PFR cannot stop; use method=\"orc\""
        )
    raise RuntimeError(f"unknown kernel status {code} in block {block}")  # pragma: no cover


def _check_indices(index, num_blocks):
    values = np.asarray(index)
    if values.dtype == object or values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        if not (values.dtype == object and all(isinstance(v, (int, np.integer)) for v in values.ravel())):
            raise ValueError(f"index must be an integer >= 0 (or an array of them); got {index!r}")
    if values.dtype == object:
        out_of_range = any(int(v) < 0 or int(v) >= (1 << 63) for v in values.ravel())
    else:  # integer arrays: vectorised (uint64 may exceed int64)
        out_of_range = bool(np.any(values < 0)) or (values.dtype == np.uint64 and bool(np.any(values >= 1 << 63)))
    if out_of_range:
        raise ValueError("index must be in [0, 2^63): no encode produces a negative or larger index")
    values = values.astype(np.int64)
    if values.ndim > 1 or (num_blocks is not None and values.ndim == 1 and values.shape[0] != num_blocks):
        raise ValueError(f"index must have shape ({num_blocks},) to match the prior's blocks; got {values.shape}")
    if num_blocks is not None and values.ndim == 0:
        raise ValueError(f"the prior has {num_blocks} blocks: pass one index per block")
    return values


def decode(index, prior, seed, *, partition=None, block_ids=None, num_samples=None, backend="cpu"):
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

    Returns
    -------
    float64 ndarray, shape (D,) for a scalar index on a (D,) prior, else (B, D).
    """
    prior = _check_gaussian(prior, "prior")
    seed = _check_seed(seed)
    partition = _check_partition(partition, prior.dim)
    batched_prior = prior.shape[0] if len(prior.shape) == 2 else None
    indices = _check_indices(index, batched_prior)
    single = indices.ndim == 0
    indices = np.atleast_1d(indices)
    num_blocks = indices.shape[0]
    if num_samples is not None:
        if isinstance(num_samples, bool) or not isinstance(num_samples, (int, np.integer)) or num_samples < 1:
            raise ValueError(f"num_samples must be a positive integer; got {num_samples!r}")
        local = indices // partition.num_bins
        if np.any(local >= num_samples):
            raise ValueError(
                f"index {int(indices[np.argmax(local >= num_samples)])} cannot come from ORC with "
                f"num_samples={num_samples} on this partition (its local index is too large): "
                "check the index, the partition and num_samples"
            )
    block_ids = _check_block_ids(block_ids, num_blocks)
    kernels = _select_backend(backend, num_blocks)
    p_loc, p_scale = _batched(prior.loc, num_blocks), _batched(prior.scale, num_blocks)
    sample = np.empty((num_blocks, prior.dim), dtype=np.float64)
    _decode_into(kernels, indices, p_loc, p_scale, partition, seed, block_ids, sample)
    return sample[0] if single else sample
