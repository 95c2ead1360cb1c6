"""recnumba._kernel_cache: cached kernels are dropped exactly when the package's sources change."""

import os

from recnumba._kernel_cache import clear_stale_kernels, sources_fingerprint


def _package(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub" / "__pycache__").mkdir(parents=True)
    (package / "__pycache__").mkdir()
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 2\n")
    return package


def _cache_files(package):
    for name in ("sub/__pycache__/b.f-1.py311.nbi", "sub/__pycache__/b.f-1.py311.1.nbc", "__pycache__/a.pyc"):
        (package / name).write_bytes(b"cached")


def test_cached_kernels_are_removed_when_a_source_changes_and_kept_otherwise(tmp_path):
    package = _package(tmp_path)
    stamp = package / "__pycache__" / "stamp"
    _cache_files(package)
    assert clear_stale_kernels(str(package), str(stamp)) == 2  # no stamp yet: start clean
    assert (package / "__pycache__" / "a.pyc").exists()  # only numba's files go
    _cache_files(package)
    assert clear_stale_kernels(str(package), str(stamp)) == 0  # unchanged sources: kept
    assert (package / "sub/__pycache__/b.f-1.py311.nbi").exists()
    before = sources_fingerprint(str(package))
    source = package / "sub" / "b.py"
    source.write_text("y = 3\n")
    os.utime(source, ns=(1, 1))  # a changed file, whatever the clock's resolution
    assert sources_fingerprint(str(package)) != before
    assert clear_stale_kernels(str(package), str(stamp)) == 2
    assert not (package / "sub/__pycache__/b.f-1.py311.nbi").exists()


def test_an_unwritable_stamp_never_raises(tmp_path):
    package = _package(tmp_path)
    assert clear_stale_kernels(str(package), str(tmp_path / "missing" / "dir" / "\0bad")) >= 0
