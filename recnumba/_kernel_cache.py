"""Keep numba's on-disk kernel cache consistent with the package's sources.

numba re-validates a cached kernel against the timestamp of the one source file that defines it.
A kernel also contains every function that numba or LLVM inlined into it from other modules (the
CPU search inlines the families' device functions, Philox and the numerics), so after an edit of
one of those files a cached kernel would silently keep running the old code (measured: a stale
``rn.encode`` after an edit of ``families/gaussian.py``). At import, recnumba fingerprints its own
sources (path, size and modification time of every ``.py`` file: a few hundred microseconds) and,
when the fingerprint differs from the one stored beside the cache, deletes the package's cached
kernels (``*.nbi``/``*.nbc`` in its ``__pycache__`` folders) so that they are rebuilt. An installed
release never changes, so this costs nothing there after the first import.
"""

import hashlib
import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
_STAMP = os.path.join(_PACKAGE, "__pycache__", "recnumba-kernel-sources.stamp")


def sources_fingerprint(package=_PACKAGE):
    """Hex digest over (relative path, size, mtime in ns) of every ``.py`` file of the package."""
    digest = hashlib.sha256()
    for folder, subfolders, files in os.walk(package):
        subfolders[:] = sorted(d for d in subfolders if d != "__pycache__")
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                status = os.stat(path)
                digest.update(f"{os.path.relpath(path, package)}:{status.st_size}:{status.st_mtime_ns};".encode())
    return digest.hexdigest()


def clear_stale_kernels(package=_PACKAGE, stamp=_STAMP):
    """Delete the package's cached numba kernels if its sources changed since they were written.

    Returns the number of cache files removed. Never raises: a read-only install simply keeps
    numba's own behaviour.
    """
    try:
        fingerprint = sources_fingerprint(package)
        try:
            with open(stamp) as handle:
                if handle.read().strip() == fingerprint:
                    return 0
        except OSError:
            pass
        removed = 0
        for folder, _, files in os.walk(package):
            if os.path.basename(folder) != "__pycache__":
                continue
            for name in files:
                if name.endswith((".nbi", ".nbc")):
                    try:
                        os.remove(os.path.join(folder, name))
                        removed += 1
                    except OSError:
                        pass
        os.makedirs(os.path.dirname(stamp), exist_ok=True)
        temporary = f"{stamp}.{os.getpid()}"
        with open(temporary, "w") as handle:
            handle.write(fingerprint + "\n")
        os.replace(temporary, stamp)  # atomic: concurrent imports see an old or a new stamp
        return removed
    except (OSError, ValueError):
        return 0
