"""The lossless 8-bit MNIST example (examples/mnist8_lossless.py) on the shipped 50-image fixture."""

import json
import pathlib
import runpy
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "examples"))

from mnist import lossless  # noqa: E402
from mnist8 import vae  # noqa: E402
from recnumba.records import RecordError, RecordHeader  # noqa: E402

METHODS = ("gprs-per-dim", "plain-orc-16", "partitioned-orc-32", "partitioned-pfr-12")


@pytest.fixture(scope="module")
def example():
    return runpy.run_path(str(ROOT / "examples" / "mnist8_lossless.py"), run_name="mnist8_lossless")


@pytest.fixture(scope="module")
def weights():
    return vae.load_weights()


def _coded(example, weights, method, start, count):
    images = example["load_fixture"]()[start:start + count]
    mu, sigma = vae.encode(weights, images)
    pixels = example["CategoricalPixels"](weights)
    return images, pixels, lossless.encode_images(method, pixels, weights.info_bits, images, mu, sigma, start)


def test_shipped_weights():
    path = vae.DEFAULT_WEIGHTS
    assert path.stat().st_size < 5e6
    w = vae.load_weights()
    assert w.latent_dim == 50 and w.info_bits.shape == (50,) and np.all(w.info_bits >= 0)
    assert w.params["dec_W2"].shape == (500, 2 * 784)
    assert w.meta["seed"] == 0 and w.meta["test_neg_elbo_bits_1sample"] > 0


def test_beta_binomial_pmf(weights):
    z = np.random.default_rng(1).standard_normal((2, 50))
    a, b = vae.beta_binomial_params(weights, z)
    lp = vae.log_pmf(a[:, :5], b[:, :5])
    expected = stats.betabinom.logpmf(np.arange(256), 255, a[:, :5, None], b[:, :5, None])
    np.testing.assert_allclose(lp, expected, rtol=1e-12, atol=1e-10)
    p = vae.pixel_probabilities(weights, z)
    assert p.shape == (2, 784, 256)
    np.testing.assert_allclose(p.sum(axis=-1), 1.0, rtol=1e-12)
    x = np.random.default_rng(2).integers(0, 256, (2, 784))
    np.testing.assert_allclose(vae.log_likelihood(weights, z, x),
                               np.log(np.take_along_axis(p, x[..., None], -1)[..., 0]).sum(axis=1), rtol=1e-9)


def test_example_round_trips_every_method(example, weights, tmp_path):
    out = tmp_path / "results.json"
    status = example["main"](["--fixture", "--start", "3", "--count", "3", "--no-progress", "--json", str(out),
                              "--methods", *METHODS])
    results = json.loads(out.read_text())
    assert status == 0 and results["lossless"] is True and results["count"] == 3
    assert {"count", "lossless", "neg_elbo_bits", "methods"} <= set(results)
    assert set(results["methods"]) == set(METHODS)
    for name, values in results["methods"].items():
        assert values["lossless"] is True
        assert {"bits_per_image", "latent_bits_per_image", "image_bits_per_image", "header_bytes",
                "encode_seconds", "decode_seconds", "relative_overhead_vs_neg_elbo"} <= set(values)
        # a record is its latents, its pixels (about the ELBO's reconstruction term) and a check byte
        assert values["image_bits_per_image"] >= 8 + 0.9 * results["elbo_reconstruction_bits"]
        assert values["latent_bits_per_image"] >= 0.5 * results["elbo_kl_bits"]
    plain = results["methods"]["plain-orc-16"]
    assert plain["latent_bits_per_image"] == 16 * plain["num_blocks"]
    assert results["methods"]["gprs-per-dim"]["num_blocks"] == int(np.sum(weights.info_bits >= 0.01))
    # bits reported are bits written: the same images coded again give records of exactly that length
    for name in ("gprs-per-dim", "partitioned-orc-32"):
        _, _, (header, records, *_rest) = _coded(example, weights, name, 3, 3)
        assert 8 * sum(len(r) for r in records) == pytest.approx(3 * results["methods"][name]["bits_per_image"])
        assert len(header.to_bytes()) == results["methods"][name]["header_bytes"]


def test_corrupted_or_misread_records_fail(example, weights):
    images, pixels, (header, records, _, z_sent, _) = _coded(example, weights, "partitioned-orc-32", 0, 2)
    decoded, z = lossless.decode_images(header.to_bytes(), records, pixels, weights.info_bits, 0)
    assert np.array_equal(decoded, images) and z.tobytes() == z_sent.tobytes()
    flipped = bytearray(records[0])
    flipped[len(flipped) // 2] ^= 0x10  # one bit: CRC-8 detects every odd number of flipped bits
    with pytest.raises(RecordError):
        lossless.decode_images(header.to_bytes(), [bytes(flipped)], pixels, weights.info_bits, 0)
    with pytest.raises(RecordError):  # read as another image
        lossless.decode_images(header.to_bytes(), records[1:], pixels, weights.info_bits, 0)
    wrong_seed = RecordHeader(header.plan, header.prior, header.seed + 1, code=header.code, method=header.method,
                              num_samples=header.num_samples)
    with pytest.raises(RecordError):
        lossless.decode_images(wrong_seed.to_bytes(), records, pixels, weights.info_bits, 0)


def test_bad_arguments(example):
    with pytest.raises(ValueError, match="--count"):
        example["main"](["--fixture", "--count", "0", "--methods", "plain-orc-16"])
    with pytest.raises(ValueError, match="--start"):
        example["main"](["--fixture", "--start", "50", "--methods", "plain-orc-16"])
    with pytest.raises(ValueError, match="unknown method"):
        example["main"](["--fixture", "--count", "1", "--methods", "partitioned-orc"])
    with pytest.raises(ValueError, match="partitioned-orc only"):
        example["main"](["--fixture", "--count", "1", "--methods", "partitioned-pfr-16-n18"])
    with pytest.raises(ValueError, match="--chunk"):
        example["main"](["--fixture", "--count", "1", "--chunk", "0"])
    assert lossless.parse_method("partitioned-orc-48-n18") == ("partitioned-orc", 48.0, 1 << 18)
    assert lossless.parse_method("partitioned-orc-32") == ("partitioned-orc", 32.0, lossless.NUM_SAMPLES)
    assert lossless.method_options("partitioned-orc-48-n18")["num_samples"] == 1 << 18


def test_example_runs_without_torch(tmp_path):
    script = tmp_path / "no_torch.py"
    script.write_text(f"""import runpy, sys


class NoTorch:  # any import of torch fails, as on a machine without it
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")


sys.meta_path.insert(0, NoTorch())
m = runpy.run_path({str(ROOT / 'examples' / 'mnist8_lossless.py')!r}, run_name="x")
status = m["main"](["--fixture", "--count", "1", "--no-progress", "--methods", "gprs-per-dim"])
sys.exit(status if "torch" not in sys.modules else 3)
""")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_gprs_scale_keeps_the_ratio_mode_near_the_target():
    loc = np.array([[0.0, 0.0122, -0.5, 3.0, 0.01]])
    scale = np.array([[1.2, 1.0036, 0.99, 0.3, 0.5]])
    b = lossless.gprs_scale(loc, scale)
    assert np.all(b <= scale) and np.all(b < 1.0)
    mode_offset = np.abs(loc) * b * b / (1.0 - b * b)  # |x* - mu| for x* = mu / (1 - b^2)
    assert np.all(mode_offset <= lossless.GPRS_MODE_OFFSET * (1 + 1e-12))
    assert b[0, 3] == 0.3 and b[0, 4] == 0.5  # narrow posteriors are left alone
