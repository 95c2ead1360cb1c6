"""rn.Codec with torch tensors (requires_grad, float32, 0-d seeds, torch out), where torch is installed,
and examples/torch_vae_codec.py end to end (about 5 s with cached kernels)."""

import os
import sys

import numpy as np
import pytest

import recnumba as rn
from recnumba.arrays import as_float_array, as_integer

torch = pytest.importorskip("torch")

DIM = 10
BUDGET = 1 << 8
EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


@pytest.fixture(scope="module")
def codec():
    prior = rn.Gaussian(np.zeros(DIM), np.ones(DIM))
    plan = rn.BlockPlan.build(np.full(DIM, 1.2), 6.5, seed=3, margin_bits=2.0)
    return rn.Codec(prior, plan, torch.tensor(5), num_samples=BUDGET, code="two-part")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(2)
    return rng.normal(0, 0.8, size=(9, DIM)), rng.uniform(0.3, 0.7, size=(9, DIM))


def test_tensors_that_require_grad(codec, data):
    loc, scale = data
    expected_records, expected = codec.compress(loc, scale, return_samples=True)
    tloc = torch.tensor(loc, requires_grad=True)
    tscale = torch.tensor(scale, requires_grad=True) * 1.0  # a non-leaf with a grad_fn
    records, z = codec.compress(tloc, tscale, return_samples=True)
    assert records == expected_records
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float64 and z.device == tloc.device
    assert not z.requires_grad
    assert z.numpy().tobytes() == expected.tobytes()
    z_hat = codec.decompress(records, like=tloc)
    assert isinstance(z_hat, torch.Tensor) and torch.equal(z_hat, z)
    assert isinstance(codec.decompress(records), np.ndarray)
    rate = codec.rate_bits(tloc, tscale)
    assert isinstance(rate, torch.Tensor) and np.allclose(rate.numpy(), codec.rate_bits(loc, scale))


def test_float32_and_bfloat16_tensors(codec, data):
    loc, scale = data
    small = torch.tensor(loc, dtype=torch.float32)
    assert codec.compress(small, torch.tensor(scale)) == codec.compress(small.numpy().astype(np.float64), scale)
    half = torch.tensor(loc, dtype=torch.bfloat16)
    assert as_float_array(half, "loc").tobytes() == half.to(torch.float64).numpy().tobytes()
    assert codec.compress(torch.tensor(loc).T.contiguous().T, torch.tensor(scale)) == codec.compress(loc, scale)


def test_dlpack_of_a_tensor(codec, data):
    loc, scale = data
    assert codec.compress(np.from_dlpack(torch.tensor(loc)), scale) == codec.compress(loc, scale)


def test_seeds_and_items_as_tensors(codec, data):
    loc, scale = data
    prior, plan = codec.prior, codec.plan
    assert rn.Codec(prior, plan, torch.tensor(5, dtype=torch.int32), num_samples=BUDGET, code="two-part") == codec
    assert as_integer(torch.tensor(5), "seed") == 5
    for bad in (torch.tensor(5.0), torch.tensor([5]), torch.tensor(True)):
        with pytest.raises(TypeError, match="seed"):
            rn.Codec(prior, plan, bad)
    assert codec.compress(loc, scale, first_item=torch.tensor(3)) == codec.compress(loc, scale, first_item=3)


def test_complex_tensor_is_refused(codec, data):
    loc, scale = data
    with pytest.raises(TypeError, match="loc must be an array of real numbers"):
        codec.compress(torch.tensor(loc, dtype=torch.complex128), scale)


def test_torch_vae_example_runs():
    sys.path.insert(0, EXAMPLES)
    try:
        import torch_vae_codec
    finally:
        sys.path.remove(EXAMPLES)
    result = torch_vae_codec.main(["--steps", "30", "--batch", "12", "--num-samples", "4096"])
    assert result["bit_identical"]
    assert result["images"] == 12 and result["z_type"].startswith("torch.Tensor torch.float64")
    assert result["mean_record_bits"] > 0 and result["mean_rate_bits"] > 0
    assert result["codec_file_bytes"] > 100


def test_readme_pytorch_snippet_runs():
    import pathlib
    import re

    readme = (pathlib.Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### Using recnumba from PyTorch", 1)[1]
    block = re.search(r"```py\n(.*?)```", section, flags=re.S).group(1)
    exec(compile(block, "README.md (Using recnumba from PyTorch)", "exec"), {})
