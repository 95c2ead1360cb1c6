"""CUDA-simulator cases for tests/test_device.py: the device-resident path of ``rn.Codec(backend="cuda")``.

Run with ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported, hence a subprocess); prints one
JSON object. The host path (numpy in, CPU backend) is the reference: records, indices, steps and
samples must be equal bit for bit, errors equal in type and message. Sizes are tiny: the simulator
runs every GPU thread in Python.
"""

import json
import sys
import time
import warnings

import numpy as np
from numba import cuda

import recnumba as rn
from recnumba import arrays, device
from recnumba.backends import cuda as cuda_backend
from recnumba.partition import PartitionTooFineWarning
from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray


class DeviceArray:
    """Exposes only ``__cuda_array_interface__`` (the simulator's "device" pointers are host memory),
    as CuPy arrays and torch CUDA tensors do; strided views too."""

    def __init__(self, array):
        self._array = array
        self.__cuda_array_interface__ = {
            "shape": array.shape, "typestr": array.dtype.str, "data": (array.ctypes.data, False), "version": 3,
            "strides": None if array.flags.c_contiguous else array.strides, "stream": None}


def bits(a):
    a = a.copy_to_host() if hasattr(a, "copy_to_host") else np.asarray(a)
    return np.ascontiguousarray(a, dtype=np.float64).view(np.uint64).tolist()


def outcome(function):
    """("ok", value) or (error type name, message)."""
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = function()
        return "ok", value, [str(w.message) for w in caught if issubclass(w.category, PartitionTooFineWarning)]
    except (ValueError, TypeError) as error:
        return type(error).__name__, str(error), []


def logging_copies(copies):
    """Patch the simulator's copy_to_host to log the shape of every device-to-host copy into ``copies``;
    returns the function that undoes it."""
    original = FakeCUDAArray.copy_to_host

    def logged(self, *args, **kwargs):
        copies.append(tuple(self.shape))
        return original(self, *args, **kwargs)

    FakeCUDAArray.copy_to_host = logged

    def undo():
        FakeCUDAArray.copy_to_host = original

    return undo


def compare(codec, first, second, wrap=DeviceArray, copies=None):
    """Host (numpy, CPU backend) against device (CUDA arrays, CUDA backend): every output. ``copies``:
    a list that gets the shapes of the device compress's copies to the host."""
    host_codec, device_codec = codec.with_backend("cpu"), codec.with_backend("cuda")
    kind, host, host_warnings = outcome(lambda: host_codec.compress_with_details(first, second))
    undo = logging_copies(copies) if copies is not None else (lambda: None)
    try:
        dkind, dev, dev_warnings = outcome(lambda: device_codec.compress_with_details(wrap(first), wrap(second)))
    finally:
        undo()
    row = {"host_kind": kind, "device_kind": dkind, "warnings_equal": host_warnings == dev_warnings,
           "warned": bool(host_warnings)}
    if kind != "ok" or dkind != "ok":
        row.update(host_message=host if kind != "ok" else None, device_message=dev if dkind != "ok" else None)
        return row
    decoded = device_codec.decompress(dev["records"], like=wrap(first))
    row.update(
        records=host["records"] == dev["records"],
        indices=host["indices"].tolist() == dev["indices"].tolist(),
        steps=host["steps"].tolist() == dev["steps"].tolist(),
        exact=host["exact"].tolist() == dev["exact"].tolist(),
        samples=bits(host["samples"]) == bits(dev["samples"]),
        samples_on_device=isinstance(dev["samples"], FakeCUDAArray),
        decoded=bits(decoded) == bits(host["samples"]),
        decoded_on_device=isinstance(decoded, FakeCUDAArray),
        kl=float(np.max(np.abs(host["kl_bits"] - dev["kl_bits"]) / np.maximum(1.0, np.abs(host["kl_bits"])))),
        distinct=len({tuple(r) for r in host["indices"].tolist()}),
        all_exact=sorted(set(host["exact"].ravel().tolist())),
        max_steps=int(host["steps"].max()),
    )
    return row


def families(rng, n, dim):
    """(prior, posterior arrays (first, second)) per supported pair."""
    prior_loc, prior_scale = rng.normal(0, 1, dim), rng.uniform(0.5, 2.0, dim)
    loc = prior_loc + prior_scale * rng.normal(0, 0.7, (n, dim))
    scale = prior_scale * rng.uniform(0.3, 0.8, (n, dim))
    low = prior_loc + prior_scale * rng.uniform(0.0, 0.4, (n, dim))
    return {
        "gaussian": (rn.Gaussian(prior_loc, prior_scale), None, loc, scale),
        "laplace": (rn.Laplace(prior_loc, prior_scale), None, loc, scale),
        "uniform": (rn.Uniform(prior_loc, prior_loc + prior_scale), None, low,
                    low + prior_scale * rng.uniform(0.2, 0.5, (n, dim))),
        "uniform-gaussian": (rn.Gaussian(prior_loc, prior_scale), "Uniform", loc - scale, loc + scale),
    }


def main(part):
    """``part`` "families" (every family pair) or "rest" (CPU fallback, no round trip, layouts, bad
    input): two halves that tests/test_device.py runs in two processes at once."""
    assert cuda_backend.SIMULATOR, "run with NUMBA_ENABLE_CUDASIM=1"
    start = time.time()
    n, dim = 4, 4
    results = {}
    plans = {"plain": rn.BlockPlan.build(np.full(dim, 1.5), 3.5, seed=1, margin_bits=0.0),
             "partitioned": rn.BlockPlan.build(np.full(dim, 3.0), 8.0, seed=0, margin_bits=2.0)}
    if part == "families":
        results["plans"] = {name: [int(p.num_bins) for p in plan.partitions] for name, plan in plans.items()}
        every_family(results, plans, n, dim)
    else:
        the_rest(results, plans, n, dim)
    results[f"seconds-{part}"] = time.time() - start
    json.dump(results, sys.stdout)


def every_family(results, plans, n, dim):
    rng = np.random.default_rng(3)
    # Every family on both plans, and every method and weights setting on some family (a covering
    # design: the simulator runs every GPU thread in Python, so not the full product).
    cases = {
        "gaussian": [("plain", "pfr", None), ("partitioned", "orc", None), ("partitioned", "auto", "auto")],
        "laplace": [("plain", "orc", "ratio"), ("partitioned", "pfr", None), ("partitioned", "auto", None)],
        "uniform": [("plain", "pfr", "auto"), ("partitioned", "orc", "target"), ("partitioned", "auto", "auto")],
        "uniform-gaussian": [("plain", "auto", None), ("partitioned", "pfr", "ratio"), ("partitioned", "orc", None)],
    }
    for name, (prior, posterior, first, second) in families(rng, n, dim).items():
        for plan_name, method, weights in cases[name]:
            options = dict(posterior=posterior, weights=weights)
            if method != "pfr":
                options["num_samples"] = 32
            codec = rn.Codec(prior, plans[plan_name], 7, method, code="two-part", exact_bound_bits=3.0, **options)
            results[f"{name}-{plan_name}-{method}-{weights}"] = compare(codec, first, second)
        if name == "uniform":  # a block whose search reports a status (no finite score): the same error
            codec = rn.Codec(prior, plans["plain"], 7, "orc", num_samples=4, code="two-part")
            results["uniform-no-candidate"] = compare(codec, first, second)


def the_rest(results, plans, n, dim):
    rng = np.random.default_rng(4)

    # Blocks the GPU hands to the CPU kernel: exact PFR longer than the simulator's largest round
    # (2^8 steps), over a wide 4-D block; only those rows come back, and the answers are the CPU's.
    prior = rn.Gaussian(np.zeros(dim), np.ones(dim))
    wide_loc, wide_scale = rng.normal(0, 1.5, (n, dim)), np.full((n, dim), 0.45)
    one_block = rn.BlockPlan.build(np.full(dim, 2.0), 16.0, seed=0, margin_bits=0.0, collapsed_below=0.0)
    codec = rn.Codec(prior, one_block, 9, "pfr", code="two-part")
    copies = []
    results["cpu-fallback"] = compare(codec, wide_loc, wide_scale, copies=copies)
    results["cpu-fallback"]["copies"] = copies

    # No host round trip: the host readers of CUDA arrays refuse, and every copy to the host is a
    # per-block vector (at most N entries), never the (N, D) parameters or samples.
    copies = []

    def refuse(*args, **kwargs):
        raise AssertionError("a CUDA array was read on the host")

    saved = arrays._cuda_interface_to_numpy, arrays._to_numpy
    arrays._cuda_interface_to_numpy = arrays._to_numpy = refuse
    undo = logging_copies(copies)
    try:
        prior_, _, first, second = families(rng, 6, dim)["gaussian"]
        codec = rn.Codec(prior_, plans["partitioned"], 11, "auto", num_samples=32, code="two-part",
                         exact_bound_bits=3.0)
        dev = codec.with_backend("cuda")
        records, samples = dev.compress(DeviceArray(first), DeviceArray(second), return_samples=True)
        decoded = dev.decompress(records, like=DeviceArray(first))
        rate = dev.rate_bits(DeviceArray(first), DeviceArray(second))
        simulator_input = dev.compress(cuda.to_device(first), cuda.to_device(second))
    finally:
        arrays._cuda_interface_to_numpy, arrays._to_numpy = saved
        undo()
    host_records, host_samples = codec.compress(first, second, return_samples=True)
    results["no-round-trip"] = {
        "copies": copies, "n": 6, "dim": dim, "records": records == host_records == simulator_input,
        "samples": bits(samples) == bits(host_samples), "decoded": bits(decoded) == bits(host_samples),
        "rate": float(np.max(np.abs(rate - codec.rate_bits(first, second)))),
    }

    # Inputs of other shapes, dtypes and layouts: the same records as their numpy twins.
    gaussian_prior, _, loc, scale = families(rng, 4, dim)["gaussian"]
    codec = rn.Codec(gaussian_prior, plans["plain"], 13, num_samples=8, code="two-part")
    dev = codec.with_backend("cuda")
    variants = {  # (device loc, device or host scale)
        "float32-and-int": (loc.astype(np.float32), np.full((4, dim), 2, dtype=np.int64)),
        "one-item": (loc[0], scale[0]),
        "strided-and-broadcast-row": (np.asfortranarray(loc), scale[0]),  # a column-major view; a (D,) row
    }
    layouts = {}
    for name, (first, second) in variants.items():
        layouts[name] = dev.compress(DeviceArray(first), DeviceArray(second)) == codec.compress(first, second)
    # a numba (simulator) device array, next to a host scalar
    layouts["simulator-array-and-host-scalar"] = dev.compress(cuda.to_device(loc), 0.5) == codec.compress(loc, 0.5)
    # chunks of items, and items across an epoch boundary (two seeds: two segments of rows)
    chunked = rn.Codec(gaussian_prior, plans["plain"], 13, num_samples=8, code="two-part", chunk=3)
    across = chunked.items_per_seed - 2
    for name, (c, first_item) in {"chunked": (chunked, 0), "epochs": (codec, across),
                                  "chunked-epochs": (chunked, across)}.items():
        records, samples = c.with_backend("cuda").compress(DeviceArray(loc), DeviceArray(scale), first_item=first_item,
                                                           return_samples=True)
        host_records, host_samples = c.compress(loc, scale, first_item=first_item, return_samples=True)
        decoded = c.with_backend("cuda").decompress(records, first_item=first_item, like=DeviceArray(loc))
        layouts[name] = (records == host_records and bits(samples) == bits(host_samples)
                         and bits(decoded) == bits(host_samples))
    # backend="auto" takes the device path for CUDA arrays when there is a GPU (the simulator is one)
    auto = codec.with_backend("auto")
    layouts["auto-backend"] = (device.uses_device(auto, DeviceArray(loc), None)
                               and auto.compress(DeviceArray(loc), DeviceArray(scale)) == codec.compress(loc, scale))
    results["layouts"] = layouts

    # Bad input: the host path's error type and message.
    uniform_prior = rn.Uniform(np.zeros(dim), np.ones(dim))
    uniform = rn.Codec(uniform_prior, plans["plain"], 3, num_samples=8, code="two-part")
    gaussian = rn.Codec(gaussian_prior, plans["plain"], 3, num_samples=8, code="two-part")
    exact = rn.Codec(gaussian_prior, plans["plain"], 3, "pfr", code="two-part")
    narrow = rn.Codec(rn.Gaussian(np.full(dim, -1.0), np.full(dim, 0.5)), plans["plain"], 3, num_samples=8)
    hopeless = rn.Codec(prior, one_block, 9, "pfr", code="two-part", max_steps=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fine_plan = rn.BlockPlan.build(np.full(dim, 6.0), 24.0, seed=0, margin_bits=0.0)
    fine = rn.Codec(gaussian_prior, fine_plan, 3, num_samples=8, code="two-part")
    results["fine-plan"] = [int(p.num_bins) for p in fine_plan.partitions]
    nan_loc = loc.copy()
    nan_loc[2, 1] = np.nan
    bad = {
        "nan-loc": (gaussian, nan_loc, scale),
        "inf-scale": (gaussian, loc, np.where(scale > 0.7, np.inf, scale)),
        "zero-scale": (gaussian, loc, np.where(scale > 0.7, 0.0, scale)),
        "negative-scale": (gaussian, loc, -scale),
        "wrong-dim": (gaussian, np.zeros((4, dim + 1)), np.ones((4, dim + 1))),
        "mismatched-shapes": (gaussian, np.zeros((4, dim)), np.ones((3, dim))),
        "three-d": (gaussian, np.zeros((2, 2, dim)), np.ones((2, 2, dim))),
        "bool": (gaussian, loc > 0, scale),
        "complex": (gaussian, loc, scale.astype(np.complex128)),
        "too-far": (narrow, np.full((4, dim), 1.7e308), scale),  # (1.7e308 + 1) / 0.5 overflows
        "tiny-scale": (gaussian, loc, np.full((4, dim), 1e-160)),
        "uniform-low-not-below-high": (uniform, np.full((4, dim), 0.5), np.full((4, dim), 0.5)),
        "uniform-outside-prior": (uniform, np.full((4, dim), -0.5), np.full((4, dim), 0.5)),
        "pfr-unbounded": (exact, loc, scale * 3.0),
        "pfr-max-steps": (hopeless, wide_loc, wide_scale),
        "pfr-reported": (hopeless, wide_loc, np.full((n, dim), 0.01)),  # the policy reports it: never searched
        "too-fine": (fine, np.broadcast_to(gaussian_prior.loc, (4, dim)),  # KL 0 on 2^24 bins
                     np.broadcast_to(gaussian_prior.scale, (4, dim))),
    }
    results["bad"] = {name: compare(c, first, second) for name, (c, first, second) in bad.items()}


if __name__ == "__main__":
    main(sys.argv[1])
