"""Arrays in and out: numpy, anything with ``__array__`` or ``__dlpack__`` (torch, JAX, CuPy), and
CUDA arrays through ``__cuda_array_interface__``; numpy scalars and 0-d tensors as integers.

recnumba computes in float64 numpy arrays on the host. :func:`as_float_array` turns what a caller
passes into one, :func:`as_integer` turns a seed-like scalar into a Python int, and :func:`like`
hands a result back in the caller's array type where that is cheap.

How an input becomes a float64 numpy array (:func:`as_float_array`), in this order:

1. a numpy array, numpy scalar, Python number or (nested) list: ``numpy.asarray``;
2. a torch tensor: ``detach()`` first (a tensor that requires grad is read, never differentiated
   through: REC samples are not differentiable), then a CPU copy when it lives on another device
   (``.cpu()``), bfloat16 widened to float32 (numpy has no bfloat16), then ``.numpy()`` (no copy
   on the CPU);
3. anything else with ``__dlpack__`` (JAX, CuPy, numpy's own): ``numpy.from_dlpack`` (zero copy
   for host memory); a producer on another device is asked for a host copy
   (``numpy.from_dlpack(x, device="cpu", copy=True)``) and, if it cannot, read through
   ``__cuda_array_interface__`` or ``__array__``;
4. anything with ``__cuda_array_interface__`` (CuPy, numba device arrays, PyTorch CUDA tensors):
   copied to the host with ``numba.cuda.as_cuda_array(x).copy_to_host()`` (under the CUDA simulator,
   ``NUMBA_ENABLE_CUDASIM=1``, where "device" pointers are host memory, the buffer is read in place);
5. anything with ``__array__``: ``numpy.asarray``.

That is the host path. ``rn.Codec(..., backend="cuda")`` (or "auto" with a GPU) does not take it for
CUDA arrays (:func:`is_cuda_array`: torch CUDA tensors, anything with ``__cuda_array_interface__``,
the CUDA simulator's device arrays): ``recnumba.device`` reads them in place through
:func:`cuda_interface` and checks, standardises, searches and decodes on the device; only
per-block scalars (check codes, bounds, flags, KL values, indices, steps) and the standardised rows
of the few blocks handed to the CPU kernel come back to the host (records as on the host path:
``recnumba.device`` says how exactly). The samples come back as the
input's array type where that is free (:func:`like_device`: a torch tensor on the input's device,
a CuPy array for CuPy input, else a numba device array). float32, float64 and integer arrays of any
strides are read on the device; float16 arrays still take the host path. This path is tested under
the CUDA simulator and its kernels compiled to PTX; it has never run on a real GPU (nor has the
CUDA backend as a whole). The functions of ``recnumba.api`` and ``recnumba.dataset`` take
distributions (numpy on the host) and always take the host path.

Real numbers of any width (integers, float16/32/64) are converted to float64, which is exact for
every float32 value; booleans, complex numbers, strings and objects raise
``recnumba.ParameterTypeError`` (a ``TypeError``, also a ``ValueError``) naming the argument.
On the host path device arrays are copied to the host (``backend="cpu"``, the functional API, a
distribution passed to ``Codec.compress``, float16).

Outputs (:func:`like`): a torch tensor in gives a torch float64 tensor out, on the input's device
(``torch.from_numpy``: no copy on the CPU, one host-to-device copy otherwise); everything else gives
a float64 numpy array. float64 because REC samples are exact float64 values (the bit-identical decode
is a statement about them); cast with ``.to(dtype)`` / ``.astype`` where a model wants float32. JAX
arrays come back as numpy arrays: JAX's default (``jax_enable_x64`` off) would round them to float32
silently (``jnp.asarray(samples)`` where x64 is on).
"""

from __future__ import annotations

import operator

import numpy as np

from recnumba.validation import ParameterTypeError

__all__ = ["as_float_array", "as_integer", "like", "like_device", "is_torch_tensor", "is_cuda_array", "cuda_interface",
           "array_kind"]

#: numpy dtype kinds accepted as real numbers (unsigned, signed, float).
_REAL_KINDS = "uif"


def is_torch_tensor(value):
    """Whether ``value`` is a ``torch.Tensor`` (checked without importing torch)."""
    module = type(value).__module__ or ""
    return (module == "torch" or module.startswith("torch.")) and hasattr(value, "detach") \
        and hasattr(value, "requires_grad")


def array_kind(value):
    """"torch" for a torch tensor, "numpy" for everything else (what :func:`like` gives back)."""
    return "torch" if is_torch_tensor(value) else "numpy"


def _torch_to_numpy(tensor):
    import torch

    tensor = tensor.detach()
    if tensor.device.type != "cpu":
        tensor = tensor.cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.to(torch.float32)
    if tensor.is_complex():
        raise _KindError(f"complex dtype {tensor.dtype}")
    if tensor.is_conj() or tensor.is_neg():
        tensor = tensor.resolve_conj().resolve_neg()
    return tensor.numpy()


class _KindError(Exception):
    """Internal: an input whose element kind is wrong (reported as TypeError naming the argument)."""


def _cuda_interface_to_numpy(value):
    from numba import config

    interface = value.__cuda_array_interface__
    if config.ENABLE_CUDASIM:
        # The simulator's "device" pointers are host memory: read the buffer in place.
        host = dict(interface)
        host.pop("stream", None)
        if host.get("mask") is not None:
            raise _KindError("masked CUDA arrays")
        host.pop("mask", None)
        host["version"] = 3

        class _Host:
            __array_interface__ = host

        return np.array(_Host(), copy=True)
    from numba import cuda

    return cuda.as_cuda_array(value).copy_to_host()


def _dlpack_to_numpy(value):
    try:
        return np.from_dlpack(value)
    except (BufferError, RuntimeError, TypeError, ValueError):
        pass
    try:  # a producer on another device: ask it for a host copy (DLPack 1.0, numpy >= 2.1)
        return np.from_dlpack(value, device="cpu", copy=True)
    except (BufferError, RuntimeError, TypeError, ValueError, NotImplementedError):
        pass
    if hasattr(value, "__cuda_array_interface__"):
        return _cuda_interface_to_numpy(value)
    return np.asarray(value)


def _to_numpy(value):
    if isinstance(value, (np.ndarray, np.generic, int, float, list, tuple)):
        return np.asarray(value)
    if is_torch_tensor(value):
        return _torch_to_numpy(value)
    if hasattr(value, "__dlpack__") and hasattr(value, "__dlpack_device__"):
        return _dlpack_to_numpy(value)
    if hasattr(value, "__cuda_array_interface__"):
        return _cuda_interface_to_numpy(value)
    if hasattr(value, "__array__"):
        return np.asarray(value)
    raise _KindError(f"a {type(value).__name__}")


def as_float_array(value, name):
    """``value`` as a float64 numpy array (a copy where the input is not already float64 numpy).

    ``name`` is the argument's name in error messages. ParameterTypeError (a TypeError) for a value that is not an array of
    real numbers (None, a string, a dict, booleans, complex numbers, objects).
    """
    if value is None or isinstance(value, (str, bytes, dict, set, bool, np.bool_)):
        raise ParameterTypeError(f"{name} must be an array of real numbers (numpy, torch, JAX, DLPack or CUDA array); "
                        f"got {type(value).__name__}")
    try:
        array = _to_numpy(value)
    except _KindError as error:
        raise ParameterTypeError(f"{name} must be an array of real numbers; got {error}") from None
    except (ValueError, TypeError) as error:
        raise ParameterTypeError(f"{name} must be an array of real numbers; could not read it as one "
                        f"({type(value).__name__}: {error})") from None
    if array.dtype.kind not in _REAL_KINDS:
        raise ParameterTypeError(f"{name} must be an array of real numbers; got dtype {array.dtype}")
    return np.array(array, dtype=np.float64, copy=None if array.dtype == np.float64 else True)


def as_integer(value, name):
    """``value`` as a Python int: ints, numpy integers and integer 0-d arrays or tensors (numpy, torch,
    JAX). TypeError for a non-integer kind (a float, a string, a 1-element 1-d tensor); the range is
    the caller's to check."""
    if isinstance(value, (bool, np.bool_)):
        raise ParameterTypeError(f"{name} must be an integer; got {value!r}")
    if isinstance(value, (int, np.integer)):
        return int(value)
    if is_torch_tensor(value) or any(hasattr(value, a) for a in ("__array__", "__dlpack__",
                                                                  "__cuda_array_interface__")):
        try:
            array = _to_numpy(value)
        except (_KindError, ValueError, TypeError):
            raise ParameterTypeError(f"{name} must be an integer; could not read a {type(value).__name__}") from None
        if array.shape != ():
            raise ParameterTypeError(f"{name} must be an integer or a 0-d integer array/tensor; got shape {array.shape}")
        if array.dtype.kind not in "iu":
            raise ParameterTypeError(f"{name} must be an integer; got a 0-d array of dtype {array.dtype}")
        return int(array[()])
    try:
        return operator.index(value)
    except TypeError:
        raise ParameterTypeError(f"{name} must be an integer (int, numpy integer or 0-d integer tensor); "
                        f"got {type(value).__name__} {value!r:.40}") from None


def _is_simulator_array(value):
    """A device array of numba's CUDA simulator (``cuda.to_device`` with ``NUMBA_ENABLE_CUDASIM=1``): it
    stands for a GPU array but exposes no ``__cuda_array_interface__`` (its memory is host memory)."""
    module = type(value).__module__ or ""
    return module.startswith("numba.cuda.simulator") and hasattr(value, "_ary") and hasattr(value, "copy_to_host")


def is_cuda_array(value):
    """Whether ``value`` lives on a CUDA device: a torch CUDA tensor, anything with
    ``__cuda_array_interface__`` (CuPy, numba device arrays), or a CUDA-simulator device array."""
    if is_torch_tensor(value):
        return value.device.type == "cuda"
    if isinstance(value, (np.ndarray, np.generic)):
        return False
    try:
        if hasattr(value, "__cuda_array_interface__"):
            return True
    except Exception:  # noqa: BLE001 - a property that raises means: not a CUDA array
        return False
    return _is_simulator_array(value)


def cuda_interface(value, name):
    """``(interface, owner)``: the CUDA array interface (v3 dict: shape, typestr, data, strides) of a
    CUDA array and the object that owns its memory (keep it alive while the interface is used).

    A torch tensor is detached first (its interface refuses tensors that require grad), bfloat16 is
    widened to float32 and lazy conjugate/negative views resolved, all on its device, and torch's current
    stream is synchronised (torch's interface carries no stream for numba to wait on). A simulator
    array gives its host buffer's interface. ParameterTypeError naming ``name`` for a masked array.
    """
    owner = value
    if is_torch_tensor(value):
        import torch

        owner = value.detach()
        if owner.dtype == torch.bfloat16:
            owner = owner.to(torch.float32)
        if owner.is_complex():
            raise ParameterTypeError(f"{name} must be an array of real numbers; got complex dtype {owner.dtype}")
        if owner.is_conj() or owner.is_neg():
            owner = owner.resolve_conj().resolve_neg()
        # torch's interface names no stream (numba cannot wait for it): wait for torch's current stream
        # here, so that work queued on the tensor (and the conversions above) has finished.
        if owner.device.type == "cuda":
            torch.cuda.current_stream(owner.device).synchronize()
    if _is_simulator_array(owner) and not hasattr(owner, "__cuda_array_interface__"):
        interface = dict(owner._ary.__array_interface__)
    else:
        interface = dict(owner.__cuda_array_interface__)
    if interface.get("mask") is not None:
        raise ParameterTypeError(f"{name} must be an array of real numbers; got masked CUDA arrays")
    return interface, owner


def like_device(array, reference):
    """A device array (numba, from the CUDA backend) in ``reference``'s array type where cheap.

    torch CUDA tensor in: a torch tensor on its device sharing the memory (``torch.as_tensor``
    reads ``__cuda_array_interface__``, no copy); CuPy in: ``cupy.asarray`` (no copy); anything else
    (numba device arrays, other ``__cuda_array_interface__`` producers): the numba device array.
    """
    if reference is not None and is_torch_tensor(reference):
        import torch

        return torch.as_tensor(array, device=reference.device)
    module = type(reference).__module__ or ""
    if module == "cupy" or module.startswith("cupy."):
        import cupy

        return cupy.asarray(array)
    return array


def like(array, reference):
    """``array`` (a float64 numpy array) in ``reference``'s array type where cheap (module docstring).

    ``reference``: None or a numpy array → numpy; a torch tensor → torch float64 on its device.
    """
    if reference is not None and is_torch_tensor(reference):
        import torch

        out = torch.from_numpy(np.ascontiguousarray(array))
        if reference.device.type != "cpu":
            out = out.to(reference.device)
        return out
    return array
