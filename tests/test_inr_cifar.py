"""INR example (issue #13): the whole pipeline of examples/inr_cifar.py on one real CIFAR-10 image, tiny.

Fit with per-block KL control, REC of every block with progressive fine-tuning (and one-shot), per-image
records written, decoded, and the image rebuilt from the decoded weights bit for bit; the JSON contract.
"""

import json
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
import inr_cifar  # noqa: E402
from inr import data  # noqa: E402

from inr_helpers import one_torch_thread, or_skip  # noqa: E402,F401 (autouse fixture)


def _data_or_skip():
    for loader in (data.load_cifar10_test20, data.load_cifarlike_train, data.load_natural_patches):
        or_skip(loader)


def test_one_image_tiny_pipeline_end_to_end(tmp_path):
    _data_or_skip()
    partial = []
    out = inr_cifar.run([0], [1e-2, 3e-2], ["partitioned-orc-48"], fit_steps=40, tune_total=4, num_samples=1 << 10,
                        plan_patches=2, plan_steps=20, ablation_beta=None, log=lambda s: None,
                        save_indices=tmp_path, on_row=lambda o: partial.append(sum(map(len, o["methods"].values()))))
    assert partial == [1, 2, 3, 4]                               # after every row
    assert sorted(p.name for p in tmp_path.iterdir())[0] == "indices_partitioned-orc-48-no-ft_beta0.01.npy"
    assert out["images"] == [0] and out["decoded_match"] is True
    assert out["prior_name"] == "cifar-like" and out["plan"]["patches"] == 2 and out["plan"]["steps"] == 20
    rows = out["methods"]["partitioned-orc-48"]
    assert [r["beta"] for r in rows] == [1e-2, 3e-2]
    for r in rows:
        assert r["code"] == "two-part" and r["decoded_match"] and r["tune_steps"] >= 1 and r["bpp"] > 0 and 5 < r["psnr"] < 60
        assert r["bpp"] == r["bpp_per_image"][0] == r["bpp_by_code"]["two-part"]      # from the record's bytes
        assert r["coded_max_block_kl_bits"] <= 48.0 + 1e-9
    assert [r["tune_steps"] for r in out["methods"]["partitioned-orc-48-no-ft"]] == [0, 0]
    assert set(out["bd_rate"]) == {"partitioned-orc-48 vs plain-orc-16",
                                   "partitioned-orc-48-no-ft vs plain-orc-16-no-ft"}
    assert out["classical"]["png"]["psnr"] == float("inf")
    json.dumps(out)                                              # JSON-ready
    merged = inr_cifar.merge([out, dict(out, methods={"plain-orc-16": rows})])
    assert isinstance(merged["bd_rate"]["partitioned-orc-48 vs plain-orc-16"], float)


def test_arguments_checked():
    assert inr_cifar.parse_range("0-3,7") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="--images"):
        inr_cifar.parse_range("3-1")
    with pytest.raises(ValueError, match="images"):
        inr_cifar.run([20], [1e-3])
    with pytest.raises(ValueError, match="betas"):
        inr_cifar.run([0], [-1.0])
    with pytest.raises(ValueError, match="methods"):
        inr_cifar.run([0], [1e-3], ["plain-orc-17"])
    with pytest.raises(ValueError, match="fit_steps"):
        inr_cifar.run([0], [1e-3], fit_steps=0)
    with pytest.raises(ValueError, match="prior_name must be one of"):
        inr_cifar.run([0], [1e-3], prior_name="cifar10-train")
