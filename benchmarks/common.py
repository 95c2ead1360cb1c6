"""Small helpers the benchmark scripts share (standard library only, no side effects on import:
``ab_compare.py`` sets NUMBA_NUM_THREADS when imported, so shared code lives here instead).

Scripts import it as ``common`` (``python benchmarks/<script>.py`` puts this folder first on
``sys.path``); asv imports it as ``benchmarks.common``.
"""

import io
import os
import platform
import re
import subprocess
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cpu_model():
    """The CPU's model name (``/proc/cpuinfo``; ``platform`` elsewhere)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def extract_old(revision, folder):
    """``recnumba`` of git ``revision`` as package ``recnumba_old`` under ``folder`` (imports rewritten),
    so that an old and the current version run side by side in one process."""
    archive = subprocess.run(["git", "-C", ROOT, "archive", "--format=tar", revision, "recnumba"],
                             check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    os.rename(os.path.join(folder, "recnumba"), os.path.join(folder, "recnumba_old"))
    for base, _, files in os.walk(os.path.join(folder, "recnumba_old")):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(base, name)
                with open(path) as f:
                    text = f.read()
                text = re.sub(r"\brecnumba\.", "recnumba_old.", text)
                text = re.sub(r"from recnumba import", "from recnumba_old import", text)
                with open(path, "w") as f:
                    f.write(text)
