"""CUDA-simulator case for tests/test_codec.py: a CUDA array (only ``__cuda_array_interface__``) into
``rn.Codec(..., backend="cuda")`` gives the CPU's records and bit-identical samples.

Run with ``NUMBA_ENABLE_CUDASIM=1`` (set before numba is imported, hence a subprocess); prints JSON.
"""

import json
import time

import numpy as np
import recnumba as rn
from recnumba.arrays import as_float_array

class FakeDeviceArray:
    """Exposes only __cuda_array_interface__ (the simulator's device pointers are host memory)."""
    def __init__(self, array):
        self._array = np.ascontiguousarray(array)
        self.__cuda_array_interface__ = {"shape": self._array.shape, "typestr": self._array.dtype.str,
                                         "data": (self._array.ctypes.data, False), "version": 3,
                                         "strides": None, "stream": None}

t = time.time()
rng = np.random.default_rng(1)
D = 4
prior = rn.Gaussian(np.zeros(D), np.ones(D))
plan = rn.BlockPlan.build(np.full(D, 2.0), 8.0, seed=0, margin_bits=2.0)
loc = rng.normal(size=(3, D)); scale = rng.uniform(0.3, 0.6, size=(3, D))
cpu = rn.Codec(prior, plan, 5, num_samples=64, code="two-part")
gpu = cpu.with_backend("cuda")
dev_loc, dev_scale = FakeDeviceArray(loc.astype(np.float32)), FakeDeviceArray(scale)
r_cpu, z_cpu = cpu.compress(loc.astype(np.float32), scale, return_samples=True)
r_gpu, z_gpu = gpu.compress(dev_loc, dev_scale, return_samples=True)
z_dec = gpu.decompress(r_gpu)
print(json.dumps({"records_equal": r_cpu == r_gpu, "samples_equal": z_cpu.tobytes() == z_gpu.tobytes(),
                  "decode_equal": z_dec.tobytes() == z_cpu.tobytes(),
                  "read_equal": as_float_array(dev_loc, "x").tobytes() == loc.astype(np.float32).astype(np.float64).tobytes(),
                  "seconds": time.time() - t}))
