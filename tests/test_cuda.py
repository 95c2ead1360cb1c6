"""The CUDA backend: same indices, steps and bit-identical samples as the CPU (run under the CUDA
simulator in a subprocess), clear errors without a GPU, and no fused multiply-add on the decode
path of the compiled PTX (where a CUDA compiler is installed)."""

import json
import os
import re
import subprocess
import sys
import types

import numpy as np
import pytest

import recnumba as rn
from recnumba import backends

HERE = os.path.dirname(__file__)


@pytest.fixture(scope="module")
def simulated():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1", PYTHONWARNINGS="ignore")
    result = subprocess.run(
        [sys.executable, os.path.join(HERE, "cuda_sim_cases.py")],
        capture_output=True, text=True, env=env, timeout=1200,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)


ENCODE_CASES = [
    "orc-plain", "orc-partitioned", "orc-partitioned-ratio", "pfr-plain", "pfr-partitioned",
    "pfr-beyond-gpu-rounds", "orc-huge-budget", "auto",
]


@pytest.mark.parametrize("case", ENCODE_CASES)
def test_simulated_gpu_encode_matches_cpu(simulated, case):
    row = simulated[case]
    assert row["gpu_index"] == row["cpu_index"]
    assert row["gpu_steps"] == row["cpu_steps"]
    assert row["gpu_exact"] == row["cpu_exact"]
    assert row["bound_equal"] and row["sample_equal"] and row["gpu_decode_equal"]


FAMILY_CASES = [f"{family}-{case}" for family in ("laplace", "uniform", "uniform-gaussian")
                for case in ("orc", "pfr", "pfr-plain", "auto")]


@pytest.mark.parametrize("case", FAMILY_CASES)
def test_simulated_gpu_encode_matches_cpu_for_every_family(simulated, case):
    row = simulated[case]
    assert row["gpu_index"] == row["cpu_index"]
    assert row["gpu_steps"] == row["cpu_steps"]
    assert row["gpu_exact"] == row["cpu_exact"]
    assert row["bound_equal"] and row["sample_equal"] and row["gpu_decode_equal"]
    assert len(set(row["cpu_index"])) > 1, case  # not a trivial comparison


def test_simulated_cases_are_not_trivial(simulated):
    # Guards against a comparison that passes because nothing varies.
    for case in ENCODE_CASES:
        assert len(set(simulated[case]["cpu_index"])) > 1, case
    assert max(simulated["pfr-beyond-gpu-rounds"]["cpu_steps"]) > 256  # the CPU hand-off ran
    assert max(simulated["pfr-partitioned"]["cpu_steps"]) > 64  # more than one GPU round
    assert set(simulated["auto"]["cpu_exact"]) == {True, False}  # both branches of "auto"


def test_simulated_grid_stride_loops_cover_every_block(simulated):
    row = simulated["grid-stride"]
    assert row["decode_equal"]
    orc = row["orc"]
    assert orc["gpu_index"] == orc["cpu_index"] and orc["gpu_steps"] == orc["cpu_steps"]
    assert orc["sample_equal"] and orc["gpu_decode_equal"]


def test_simulated_arrival_times_are_running_sums_that_never_decrease(simulated):
    assert simulated["arrivals"]["non_decreasing"]
    assert simulated["arrivals"]["max_relative_error"] < 1e-14


def test_simulated_launch_configurations_are_python_ints(simulated):
    assert simulated["launches"]["launches"] > 50
    assert simulated["launches"]["not_int"] == []


def test_simulated_bitonic_sort_sorts_rows(simulated):
    assert simulated["sort"]["rows_sorted"] == [True, True, True]


def test_simulated_gpu_decode_of_arbitrary_indices_is_bit_identical(simulated):
    assert simulated["decode-random-indices"]["sample_equal"]


def test_backend_must_be_known():
    prior = rn.Gaussian([0.0, 0.0], [1.0, 1.0])
    target = rn.Gaussian([0.3, -0.2], [0.5, 0.5])
    with pytest.raises(ValueError, match="backend must be"):
        rn.encode(target, prior, 1, backend="gpu")
    with pytest.raises(ValueError, match="backend must be"):
        rn.decode(0, prior, 1, backend="GPU")


def test_cuda_backend_without_gpu_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(backends._loaded, "cuda", (None, "no CUDA driver or GPU was found"))
    prior = rn.Gaussian([0.0, 0.0], [1.0, 1.0])
    target = rn.Gaussian([0.3, -0.2], [0.5, 0.5])
    with pytest.raises(rn.BackendUnavailable, match='backend="cpu"'):
        rn.encode(target, prior, 1, backend="cuda")
    with pytest.raises(rn.BackendUnavailable, match="numba-cuda"):
        rn.decode(3, prior, 1, backend="cuda")
    # "auto" quietly uses the CPU, with the CPU's answer, even for a batch large enough for a GPU.
    many_prior = rn.Gaussian(np.zeros((300, 2)), np.ones((300, 2)))
    many_target = rn.Gaussian(np.full((300, 2), 0.3), np.full((300, 2), 0.5))
    auto = rn.encode(many_target, many_prior, 1, backend="auto")
    cpu = rn.encode(many_target, many_prior, 1)
    assert np.array_equal(auto.index, cpu.index) and np.array_equal(auto.sample, cpu.sample)


def test_real_availability_probe_does_not_crash():
    # On CI there is no GPU: the probe must say so (False) rather than raise, and backend="cuda"
    # must then refuse with the probe's reason; with a GPU it must hand out the CUDA module.
    saved = backends._loaded.pop("cuda", None)
    try:
        module, reason = backends._load("cuda")
        if module is None:
            assert reason
            with pytest.raises(rn.BackendUnavailable, match=re.escape(reason)):
                backends.resolve("cuda", 1)
        else:
            assert module.is_available()[0] and backends.resolve("cuda", 1) is module
            assert module.select is not None and module.decode is not None
    finally:
        backends._loaded.pop("cuda", None)
        if saved is not None:
            backends._loaded["cuda"] = saved


def test_backend_registry_resolves_cpu_and_names_every_backend():
    from recnumba.backends import cpu

    assert backends.resolve("cpu", 1) is cpu
    assert set(rn.BACKENDS) >= {"cpu", "cuda", "auto"}
    assert backends.resolve("auto", 1) is cpu  # small batches never start an accelerator
    with pytest.raises(ValueError, match="backend name"):
        backends.register_backend("auto", "x")


def _compile_ptx_or_skip(kernel, signature):
    from numba import cuda
    import numba.cuda.dispatcher as dispatcher

    # compile_ptx needs no GPU, but device functions ask the current device for its compute
    # capability; pretend to be an H100 (sm_90) for this compile.
    original = dispatcher.get_current_device
    dispatcher.get_current_device = lambda: types.SimpleNamespace(compute_capability=(9, 0))
    from numba.core.errors import NumbaError

    try:
        ptx, _ = cuda.compile_ptx(kernel.py_func, signature, cc=(9, 0))
    except NumbaError:
        raise  # typing or lowering errors in our kernels: a real failure
    except Exception as error:  # no NVVM/NVRTC (CUDA toolkit libraries) here: nothing to inspect
        pytest.skip(f"no CUDA compiler libraries: {type(error).__name__}: {str(error)[:200]}")
    finally:
        dispatcher.get_current_device = original
    return ptx


def _kernel_signatures():
    from numba import boolean, float64, int64, uint64

    a1i, a1f, a1b = int64[::1], float64[::1], boolean[::1]
    a2i, a2f, a3f = int64[:, ::1], float64[:, ::1], float64[:, :, ::1]
    return {
        "_draw_kernel": (uint64, a1i, int64, int64, a1i, a1i, a1i, int64, a2f, a2f, a2f, a2i, a2f),
        "_arrival_kernel": (a2f, int64),
        "_key_kernel": (a2i, int64, int64, a2i),
        "_bitonic_kernel": (a2i, int64, int64, int64),
        "_bitonic_local_kernel": (a2i, int64, int64, int64, int64),
        "_rank_kernel": (a2i, int64, int64, a2i),
        "_finish_kernel": (int64, int64, a1f, a2f, a2i, a2i, a2f, a2i, a1i, a1i, a1b),
        # the device-resident path (recnumba.device)
        "_take_rows_kernel": (a3f, a1i, a3f),
        "_scatter_kernel": (a2f, a1i, a1i, a2f),
    }, {
        "score": (uint64, a1i, int64, a1i, a1i, a1i, int64, a3f, a2f, a2i, a2f, a2i, a2f, a2i),
        "decode": (a1i, a2f, a2f, a1i, a1i, a1i, int64, uint64, a1i, a2f),
    }


@pytest.fixture(scope="module")
def ptx():
    """PTX of every kernel (score and decode kernels of every family) for sm_90, compiled without a
    GPU (needs numba-cuda and NVVM)."""
    pytest.importorskip("numba_cuda", reason="PTX checks use numba-cuda, the CUDA target recnumba supports")
    from recnumba.backends import cuda as cuda_backend
    from recnumba.families import supported_pairs

    if cuda_backend.SIMULATOR:
        pytest.skip("simulator: no PTX")
    shared, per_family = _kernel_signatures()
    out = {name: _compile_ptx_or_skip(getattr(cuda_backend, name), signature) for name, signature in shared.items()}
    for pair in supported_pairs():
        out[f"score {pair.name}"] = _compile_ptx_or_skip(
            cuda_backend._score_kernel_for(pair.tag), per_family["score"])
        out[f"decode {pair.prior.__name__}"] = _compile_ptx_or_skip(
            cuda_backend._decode_kernel_for(pair.prior.prior_tag), per_family["decode"])
    out.update(_device_path_ptx(cuda_backend, supported_pairs()))
    return out


def _device_path_ptx(cuda_backend, pairs):
    """PTX of the device-resident path's per-family kernels: parameter checks, gather-and-standardise
    and KL for float64, float32 and int64 parameters of any layout (strided views), bin tables."""
    from numba import boolean, float32, float64, int64

    a1i, a1f, a1b, a2f, a3f = int64[::1], float64[::1], boolean[::1], float64[:, ::1], float64[:, :, ::1]
    out = {}
    for pair in pairs:
        family = pair.target.prior_tag
        for name, element in (("float64", float64), ("float32", float32), ("int64", int64)):
            raw = element[:, :]  # any strides: broadcast and strided inputs
            out[f"check {pair.target.__name__} {name}"] = _compile_ptx_or_skip(
                cuda_backend._check_kernel_for(family), (raw, raw, int64, a1i))
            out[f"gather {pair.name} {name}"] = _compile_ptx_or_skip(
                cuda_backend._gather_kernel_for(family, pair.tag), (raw, raw, a1i, a1i, a1f, a1f, a3f, a1i, a1b))
            out[f"kl {pair.name} {name}"] = _compile_ptx_or_skip(
                cuda_backend._kl_kernel_for(pair.tag), (raw, raw, a1i, a1i, a1f, a1f, a1f))
        out[f"tables {pair.name}"] = _compile_ptx_or_skip(
            cuda_backend._tables_kernel_for(pair.tag), (a3f, a1i, a1i, a1i, int64, int64, a2f, a2f, a1f))
    return out


def test_every_kernel_compiles_for_a_real_gpu(ptx):
    # The simulator runs kernels as Python and cannot catch typing errors of the CUDA target.
    assert all(".entry" in text for text in ptx.values())


def test_device_path_kernels_compile_for_every_family_and_dtype(ptx):
    from recnumba.families import supported_pairs

    for pair in supported_pairs():
        for name in ("float64", "float32", "int64"):
            assert f"gather {pair.name} {name}" in ptx and f"kl {pair.name} {name}" in ptx
        assert f"tables {pair.name}" in ptx


def test_standardisation_ptx_has_no_fused_multiply_add(ptx):
    # (z - loc) / scale must round as on the host: a subtraction and an IEEE division, never fused.
    for name, text in ptx.items():
        if name.startswith("gather "):
            assert re.findall(r"\bdiv\.rn\.f64", text), name
            assert not re.findall(r"\b(div|sqrt)\.(approx|full)\.f64", text), name
            assert not re.findall(r"\bfma\.", text), name


def test_decode_kernel_ptx_has_no_fused_multiply_add(ptx):
    decoders = {name: text for name, text in ptx.items() if name.startswith("decode ")}
    assert "decode Gaussian" in decoders
    for name, decode in decoders.items():
        assert re.findall(r"\bmul\.rn\.f64", decode), name  # the placement loc + scale * x is there ...
        assert not re.findall(r"\bfma\.[a-z]+\.f64", decode), name  # ... and never fused
        assert not re.findall(r"\bmul\.f64", decode), name  # (an unrounded mul could be fused by ptxas)
        assert not re.findall(r"\b(div|sqrt)\.(approx|full)", decode), name  # correctly rounded only
    assert len(re.findall(r"\bmul\.rn\.f64", decoders["decode Gaussian"])) > 100  # AS241 in portable maths
    # The search's scores may use FMAs (a few-ulp change can only flip an exact tie).
    assert re.findall(r"\bfma\.rn\.f64", ptx["score Gaussian target / Gaussian prior"])
