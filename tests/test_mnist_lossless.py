"""The MNIST lossless example on the shipped 200-image fixture (no download): it must round-trip."""

import json
import pathlib
import runpy
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_mnist_lossless_example_round_trips(tmp_path):
    sys.path.insert(0, str(ROOT / "examples"))
    module = runpy.run_path(str(ROOT / "examples" / "mnist_lossless.py"), run_name="mnist_lossless")
    out = tmp_path / "results.json"
    status = module["main"](["--fixture", "--start", "10", "--count", "12", "--no-progress", "--json", str(out),
                             "--methods", "plain-orc-16", "partitioned-orc-32", "partitioned-pfr-8",
                             "--backend", "auto", "--chunk", "5"])
    results = json.loads(out.read_text())
    assert status == 0 and results["lossless"] is True and results["count"] == 12
    assert results["backend"] == "auto"
    assert set(results["methods"]) == {"plain-orc-16", "partitioned-orc-32", "partitioned-pfr-8"}
    for values in results["methods"].values():
        assert values["lossless"]
        assert {"bits_per_image", "latent_bits_per_image", "encode_seconds", "decode_seconds"} <= set(values)
        assert values["bits_per_image"] > results["neg_elbo_bits"] * 0.8
    # fixed 16-bit indices: the baseline's latent bits are exactly 16 per block
    plain = results["methods"]["plain-orc-16"]
    assert plain["latent_bits_per_image"] == 16 * plain["num_blocks"]
    # per-image records: beyond its latents a record holds its pixels (about the ELBO's reconstruction
    # term) and its check byte; the one-off header is reported apart; zeta beats delta
    for name, values in results["methods"].items():
        assert values["image_bits_per_image"] >= 8 + 0.8 * results["elbo_reconstruction_bits"]
        assert values["header_bytes"] > 0
        if name != "plain-orc-16":
            by_code = values["latent_bits_per_image_by_code"]
            assert values["record_code"] == "zeta" and by_code["zeta"] < by_code["delta"]
    # the overhead decomposition adds up to the distance from the negative ELBO
    for values in results["methods"].values():
        parts = values["overhead_bits_per_image"]
        assert abs(sum(parts.values()) - (values["bits_per_image"] - results["neg_elbo_bits"])) < 1e-9
