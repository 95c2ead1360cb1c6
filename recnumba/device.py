"""Device-resident coding: ``rn.Codec(..., backend="cuda")`` on CUDA arrays without a host round trip.

When ``compress`` (``compress_with_details``, ``rate_bits``) gets parameter arrays that live on a
CUDA device (``recnumba.arrays.is_cuda_array``: torch CUDA tensors, CuPy, numba device arrays,
anything with ``__cuda_array_interface__``) and the codec's backend is "cuda" (or "auto" with a
GPU), the (N, D) arrays stay on the device. What crosses to the host is O(N x B) scalars (B blocks
per item): per-item check codes, per-block bounds, bounded flags and KL values, the search's
indices, steps and statuses, and the standardised rows of the few blocks that the GPU hands to the
CPU kernel (``recnumba.backends.cuda.select``). On the device, per plan block:

1. ``_check_kernel_for``: each item's parameters checked as the host checks them (finite, then the
   family's ``_check``), one code per item; the host raises the host's message for the smallest;
2. ``_gather_kernel_for``: the block's dimensions of each item gathered into the backend's
   (items, d_b, 2) layout and standardised by the prior (``protocol.standardise``: the host's
   ``standardised_by``, operation for operation), with a check code (not finite; the pair's
   ``check``) and a bounded flag per item;
3. the search (``cuda.select`` on device targets): bin tables and bounds on the device
   (``core.fill_bin_tables`` as a device function), the policy on the host over the bounds;
4. ``cuda.decode_to_device`` and ``cuda.scatter``: the samples decoded into a device (N, D) array.

The checks run in the host path's order (``Codec.targets``, ``encode_dataset``, ``encode``: plan
block by plan block, chunk by chunk, weight group by weight group), so a bad input raises the
same ValueError or TypeError with the same message as the same numpy input. The standardised
targets are the host's bit for bit (subtractions and IEEE divisions, on any device), so records,
indices, steps and samples are those of the host path: bit for bit under the simulator (tested).
On a real GPU one more thing is computed on the device than on the host path: the bin tables and
bounds, with libdevice's ``log``/``exp`` and fused multiply-adds (the quantile edges and interval
masses), which may differ from the host's in the last bit. Like
the GPU's scores (``recnumba.backends.cuda``) that can change a selection only in a near-tie (two
candidates scoring within about 1e-14 of each other, a bin draw within an ulp of a table entry, a
bound within an ulp of auto's ``exact_bound_bits``); the samples decoded from an index are
bit-identical on every device.

What comes back (``like_device``): ``samples`` as the input's array type where that is free (a torch
CUDA tensor on the input's device, a CuPy array for CuPy input, else a numba device array);
``records``, ``indices``, ``steps``, ``exact``, ``kl_bits``, ``bits`` as numpy (they are per item or
per block). ``kl_bits`` (and the PartitionTooFineWarning's KL) are computed on the device
(``protocol.kl_divergence``): equal to the host's to rounding (a GPU's ``log`` is libdevice's),
summed per block; N (or items x blocks) floats come back.

``progress=True`` shows no bar on this path (the argument is still checked). Before the samples are
handed back the device is synchronised, so the caller's stream (a torch stream, say) sees them written.
``backend="auto"`` sends CUDA arrays to the GPU whatever their number (the host path's ``auto`` keeps
small batches on the CPU); with ``backend="cuda"`` and no GPU, ``BackendUnavailable`` comes before the
checks of the values.

Arrays on another GPU: a torch tensor on a device other than numba's current one takes the host path
(``.cpu()``, as before), since kernels launched on the current device cannot read it without peer
access. Other producers' arrays (CuPy, numba) are assumed to be on numba's current device.

Not on the device path: distributions (``compress(rn.Gaussian(...))``), float16 arrays (copied
to the host as before: the kernels read float32, float64 and integer arrays), a CUDA array given
with ``backend="cpu"`` (copied to the host, the CPU backend's inputs), and method "gprs" (CPU only).

Tested under numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``) and compiled to PTX
(``tests/test_cuda.py``, ``tests/test_device.py``); it has never run on a real GPU.
"""

from __future__ import annotations

import math

import numpy as np

from recnumba import api, arrays, backends
from recnumba.dataset import _check_call, _check_keys, _chunks, split_by_boundedness
from recnumba.families.base import not_finite_message, supported_pairs
from recnumba.records import read_records, write_records
from recnumba.search.params import SearchOutput
from recnumba.validation import INDEX_LIMIT, ParameterTypeError, check_bits, check_int

__all__ = ["DeviceTarget", "compress", "decompress", "rate_bits", "uses_device"]

_LN2 = math.log(2.0)
#: dtype kinds the kernels read on the device (float16 is read on the host: numpy widens it)
_DEVICE_KINDS = "iuf"


def _cuda_backend(backend):
    """The CUDA backend module for a codec whose backend is "cuda" or "auto" (None: use the host path)."""
    if backend == "cuda":
        return backends.resolve("cuda", 1)  # BackendUnavailable (with the usual message) without a GPU
    if backend == "auto":
        module, _ = backends._load("cuda")
        return module
    return None


def uses_device(codec, *values):
    """Whether the codec codes these arrays on the device (a CUDA array in, a CUDA backend, no torch
    tensor on a GPU other than numba's current one)."""
    if codec.method == "gprs" or not any(arrays.is_cuda_array(v) for v in values if v is not None):
        return False
    cuda = _cuda_backend(codec.backend)
    return cuda is not None and not any(_on_other_gpu(cuda, v) for v in values if v is not None)


def _on_other_gpu(cuda, value):
    """A torch CUDA tensor on a device other than numba's current one (its kernels could not read it)."""
    if not (arrays.is_torch_tensor(value) and value.device.type == "cuda"):
        return False
    import torch

    index = value.device.index if value.device.index is not None else torch.cuda.current_device()
    return index != getattr(cuda.cuda.get_current_device(), "id", 0)  # (the simulator's device has no id)


class DeviceTarget:
    """Validated posteriors on the device: two 2-D device views (N or 1 rows, D or 1 columns: length-1
    axes broadcast in the kernels), the family, N and D; ``owners`` keep the memory alive."""

    def __init__(self, family, first, second, count, dim, owners):
        self.family, self.first, self.second = family, first, second
        self.count, self.dim, self.owners = count, dim, owners


def targets(codec, loc, scale):
    """``Codec.targets`` for CUDA arrays: a :class:`DeviceTarget`, or None where the host path
    applies (a distribution, float16). Same checks and messages as the host path, in its order."""
    from recnumba.families.base import Family

    cuda = _cuda_backend(codec.backend)
    if isinstance(loc, Family) or scale is None:
        return None
    infos = []
    for value, name in ((loc, "loc"), (scale, "scale")):
        if arrays.is_cuda_array(value):
            interface, owner = arrays.cuda_interface(value, name)
            dtype = np.dtype(interface["typestr"])
            if dtype.kind not in _DEVICE_KINDS:  # (as_float_array's message)
                raise ParameterTypeError(f"{name} must be an array of real numbers; got dtype {dtype}")
            if dtype.itemsize < 4 and dtype.kind == "f":
                return None  # float16: the host path reads it
        else:  # a host argument next to a device one (a scalar scale, say): checked here, uploaded
            host = np.ascontiguousarray(arrays.as_float_array(value, name))
            interface, owner = arrays.cuda_interface(cuda.cuda.to_device(host), name)
        infos.append((interface, owner))
    shapes = [tuple(int(n) for n in interface["shape"]) for interface, _ in infos]
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(f"loc and scale must have the same shape (N, D) or (D,); got {shapes[0]} and "
                         f"{shapes[1]}") from None
    if len(shape) == 1:
        shape = (1,) + shape
    if len(shape) != 2 or shape[1] != codec.dim:
        raise ValueError(f"loc and scale must have shape (N, {codec.dim}) or ({codec.dim},) (one row per item, the "
                         f"plan's {codec.dim} dimensions); got {shape}. Flatten latents with "
                         f".reshape(N, -1)")
    views = []
    for (interface, owner), own in zip(infos, shapes):
        views.append(cuda.device_view(interface, owner, (1,) * (2 - len(own)) + own))
    family = codec.posterior
    count = shape[0]
    codes = cuda.cuda.device_array(count, dtype=np.int64)
    if count:
        cuda._launch(cuda._check_kernel_for(family.prior_tag), cuda._grid(count), cuda.THREADS)(
            views[0], views[1], np.int64(codec.dim), codes)
        code = _smallest(codes.copy_to_host())
        if code:
            names = family.parameter_names
            if code <= 2:
                raise ValueError(not_finite_message(names[code - 1]))
            raise ValueError(family.check_messages()[code - 3])
    return DeviceTarget(family, views[0], views[1], count, codec.dim, [o for _, o in infos])


def _smallest(codes):
    """The smallest nonzero code, 0 if none."""
    failed = codes[codes != 0]
    return int(failed.min()) if failed.size else 0


def _pair(codec):
    return next(p for p in supported_pairs() if p.target is codec.posterior and p.prior is type(codec.prior))


def _prior_vectors(prior, cuda):
    """Device (D,) loc and scale (``location_scale``) and parameters of the prior, float64."""
    loc, scale = (np.ascontiguousarray(np.broadcast_to(p, prior.shape), dtype=np.float64)
                  for p in prior.location_scale())
    first, second = (np.ascontiguousarray(p, dtype=np.float64) for p in prior.params)
    return loc, scale, tuple(cuda.cuda.to_device(a) for a in (loc, scale, first, second))


def compress(codec, target, first_item, progress):
    """``Codec.compress_with_details`` for a :class:`DeviceTarget` (module docstring); ``samples`` is a
    device array (N, D) float64, the rest numpy."""
    cuda = _cuda_backend(codec.backend)
    first_item = codec._check_item(first_item, "first_item")
    count = target.count
    if count and first_item + count > INDEX_LIMIT:
        raise ValueError(f"first_item + N must stay below 2^63; got {first_item} + {count}")
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True or False; got {progress!r}")
    pair = _pair(codec)
    plan = codec.plan
    indices = np.empty((count, codec.num_blocks), dtype=np.int64)
    steps = np.empty((count, codec.num_blocks), dtype=np.int64)
    exact = np.empty((count, codec.num_blocks), dtype=bool)
    kl = np.zeros((count, codec.num_blocks), dtype=np.float64)
    samples = cuda.cuda.device_array((count, codec.dim), dtype=np.float64)
    prior_loc, prior_scale, d_prior = _prior_vectors(codec.prior, cuda)
    records = []
    for header, local, rows in codec._segments(first_item, count):
        _encode_segment(codec, cuda, pair, target, header, local, np.arange(rows.start, rows.stop, dtype=np.int64),
                        (prior_loc, prior_scale, d_prior), samples, indices, steps, exact, kl)
        records.extend(write_records(indices[rows], header, local))
    cuda.cuda.synchronize()  # the samples are written before any other stream reads them
    return dict(records=records, samples=samples, indices=indices, steps=steps, exact=exact,
                kl_bits=kl.sum(axis=1), bits=np.array([8 * len(r) for r in records], dtype=np.int64))


def _encode_segment(codec, cuda, pair, target, header, local, rows, prior, samples, indices, steps, exact, kl):
    """``encode_records`` / ``encode_dataset`` / ``encode`` of items ``rows`` (absolute rows of the
    inputs), first local item ``local``: their checks in their order, the search and the decoding."""
    prior_loc, prior_scale, (d_loc, d_scale, d_first, d_second) = prior
    plan, seed, method = header.plan, header.seed, header.method
    num_samples, weights = header.num_samples, codec.weights
    num_items, num_blocks = rows.size, plan.num_blocks
    # encode_dataset's checks (those a numpy target passes anyway are not repeated)
    first_item = _check_keys(local, num_items, plan)
    seed = _check_call(seed, method, "cuda")
    check_int(codec.max_steps, "max_steps", minimum=1)
    check_bits(codec.exact_bound_bits, "exact_bound_bits")
    if num_samples is not None:
        check_int(num_samples, "num_samples", minimum=1)
    items = np.arange(first_item, first_item + num_items, dtype=np.int64)
    gather = cuda._gather_kernel_for(target.family.prior_tag, pair.tag)
    kl_kernel = cuda._kl_kernel_for(pair.tag)
    for blk in plan.blocks if num_items else ():
        dims = np.ascontiguousarray(blk.dims, dtype=np.int64)
        d_dims = cuda.cuda.to_device(dims)
        d_block_loc = cuda.cuda.to_device(np.ascontiguousarray(prior_loc[dims][None]))
        d_block_scale = cuda.cuda.to_device(np.ascontiguousarray(prior_scale[dims][None]))
        for chunk in _chunks(num_items, codec.chunk):
            chunk_rows = rows[chunk]
            m = chunk_rows.size
            d_rows = cuda.cuda.to_device(chunk_rows)
            d_targets = cuda.cuda.device_array((m, dims.size, 2), dtype=np.float64)
            d_codes = cuda.cuda.device_array(m, dtype=np.int64)
            d_bounded = cuda.cuda.device_array(m, dtype=np.bool_)
            cuda._launch(gather, cuda._grid(m), cuda.THREADS)(
                target.first, target.second, d_rows, d_dims, d_loc, d_scale, d_targets, d_codes, d_bounded)
            codes, bounded = d_codes.copy_to_host(), d_bounded.copy_to_host()
            d_kl = cuda.cuda.device_array(m, dtype=np.float64)
            cuda._launch(kl_kernel, cuda._grid(m), cuda.THREADS)(
                target.first, target.second, d_rows, d_dims, d_first, d_second, d_kl)
            block_kl = d_kl.copy_to_host()
            kl[chunk_rows, blk.block_id] = block_kl
            if weights == "auto":  # encode_dataset's _weight_groups: checked over the chunk, then split
                _raise_for_code(pair, _smallest(codes))
                groups = split_by_boundedness(bounded)
            else:
                groups = [(np.arange(m), weights)]
            for part, kind in groups:
                at = chunk_rows[part]
                block_ids = items[chunk][part] * num_blocks + blk.block_id
                # encode's checks, in encode's order
                call = api.encode_call(part.size, seed, blk.partition, method, kind, num_samples, codec.max_steps,
                                       "delta", None, block_ids, codec.exact_bound_bits, "cuda")
                _raise_for_code(pair, _smallest(codes[part]))
                api.check_bounded(pair, call, bounded[part])
                api.warn_if_too_fine(blk.partition, block_kl[part])
                d_part = d_targets if part.size == m else cuda.take_rows(d_targets, part)
                out = SearchOutput.empty(part.size)
                cuda.select(pair.tag, d_part, call.grid, call.spec, call.block_ids, out)
                api._raise_for_status(out.status, out.steps, out.log_bound / _LN2, call.max_steps)
                d_sample = cuda.decode_to_device(codec.prior.prior_tag, out.index, d_block_loc, d_block_scale,
                                                 call.grid, seed, call.block_ids)
                cuda.scatter(d_sample, at, dims, samples)
                indices[at, blk.block_id] = out.index
                steps[at, blk.block_id] = out.steps
                exact[at, blk.block_id] = out.exact


def _raise_for_code(pair, code):
    """``api.standardise``'s ValueError for a gather code (module docstring of ``search.inputs``)."""
    if code == 1:
        raise ValueError(api.STANDARDISED_NOT_FINITE_MESSAGE)
    if code > 1:
        raise ValueError(pair.check_messages[code - 2])


def rate_bits(codec, target):
    """``Codec.rate_bits`` for a :class:`DeviceTarget`: (N,) float64 numpy, D_KL per item in bits."""
    cuda = _cuda_backend(codec.backend)
    pair = _pair(codec)
    _, _, (_, _, d_first, d_second) = _prior_vectors(codec.prior, cuda)
    out = cuda.cuda.device_array(target.count, dtype=np.float64)
    if target.count:
        rows = cuda.cuda.to_device(np.arange(target.count, dtype=np.int64))
        dims = cuda.cuda.to_device(np.arange(codec.dim, dtype=np.int64))
        cuda._launch(cuda._kl_kernel_for(pair.tag), cuda._grid(target.count), cuda.THREADS)(
            target.first, target.second, rows, dims, d_first, d_second, out)
    return out.copy_to_host()


def decompress(codec, records, first_item):
    """``Codec.decompress`` into a device array (N, D) float64 (the checks of ``decode_records``,
    ``decode_dataset`` and ``decode``, in their order)."""
    from recnumba.dataset import _check_prior

    cuda = _cuda_backend(codec.backend)
    plan = codec.plan
    samples = cuda.cuda.device_array((len(records), codec.dim), dtype=np.float64)
    prior_loc, prior_scale, _ = _prior_vectors(codec.prior, cuda)
    for header, local, rows in codec._segments(first_item, len(records)):
        values = read_records(records[rows], header, local)
        num_samples = header.num_samples if header.method == "orc" else None
        values = np.asarray(values, dtype=np.int64).reshape(-1, plan.num_blocks)
        num_items = values.shape[0]
        seed = _check_call(header.seed, "orc", "cuda")
        _check_prior(header.prior, plan, num_items)
        local = _check_keys(local, num_items, plan)
        items = np.arange(local, local + num_items, dtype=np.int64)
        for blk in plan.blocks:
            dims = np.ascontiguousarray(blk.dims, dtype=np.int64)
            d_block_loc = cuda.cuda.to_device(np.ascontiguousarray(prior_loc[dims][None]))
            d_block_scale = cuda.cuda.to_device(np.ascontiguousarray(prior_scale[dims][None]))
            for chunk in _chunks(num_items, codec.chunk):
                block_ids = items[chunk] * plan.num_blocks + blk.block_id
                indices, _, partition, block_ids, _ = api.decode_call(
                    values[chunk, blk.block_id], header.prior.take_dims(dims), seed, blk.partition, block_ids,
                    num_samples, "cuda")
                d_sample = cuda.decode_to_device(header.prior.prior_tag, indices, d_block_loc, d_block_scale,
                                                 api.grid_of(partition), seed, block_ids)
                cuda.scatter(d_sample, np.arange(rows.start, rows.stop, dtype=np.int64)[chunk], dims, samples)
    cuda.cuda.synchronize()  # the samples are written before any other stream reads them
    return samples
