"""CPU backend safety: fork after a batched encode, encodes from several Python threads on every
numba threading layer, and Ctrl-C during a long search.

Every case runs in a subprocess with a timeout, so a regression fails instead of hanging CI.
"""

import importlib.util
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

TIMEOUT_S = 60
POSIX = os.name == "posix"

# Shared by the children: a batch whose call is split over threads at once (PARALLEL_AFTER_S = 0).
PRELUDE = textwrap.dedent(
    """
    import numpy as np
    import recnumba as rn
    from recnumba.backends import threads as _threads
    _threads.PARALLEL_AFTER_S = 0.0
    rng = np.random.default_rng(1)
    B, D = 12, 4
    PRIOR = rn.Gaussian(np.zeros(D), np.ones(D))
    TARGETS = rn.Gaussian(rng.normal(0, 0.6, (B, D)), rng.uniform(0.3, 0.6, (B, D)))
    OPTIONS = dict(method="orc", num_samples=1 << 10, partition=[2, 2, 1, 1])

    def encode_one(b):
        target = rn.Gaussian(TARGETS.loc[b], TARGETS.scale[b])
        return rn.encode(target, PRIOR, seed=3, block_ids=[b], **OPTIONS).index

    def numba_layer_started():
        from numba.np.ufunc import parallel
        return bool(parallel._is_initialized)
    """
)


def _run(code, env=None, timeout=TIMEOUT_S):
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-c", PRELUDE + textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=timeout, env=full_env)


@pytest.mark.skipif(not POSIX, reason="fork is POSIX-only")
def test_fork_started_pool_encodes_after_a_batched_encode():
    result = _run(
        """
        import multiprocessing
        rn.set_num_threads(2)
        parent = rn.encode(TARGETS, PRIOR, seed=3, **OPTIONS).index
        with multiprocessing.get_context("fork").Pool(2) as pool:
            children = pool.map(encode_one, range(B), chunksize=3)
        assert list(parent) == children, (list(parent), children)
        # and a batched encode in a forked child (the pool is recreated there)
        def batched(_):
            return rn.encode(TARGETS, PRIOR, seed=3, **OPTIONS).index.tolist()
        with multiprocessing.get_context("fork").Pool(1) as pool:
            assert pool.map(batched, [0])[0] == parent.tolist()
        assert not numba_layer_started()
        print("ok")
        """
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def _layer_importable(layer):
    module = {"workqueue": "numba.np.ufunc.workqueue", "omp": "numba.np.ufunc.omppool",
              "tbb": "numba.np.ufunc.tbbpool"}[layer]
    if importlib.util.find_spec(module) is None:
        return False
    probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, timeout=TIMEOUT_S)
    return probe.returncode == 0  # (tbbpool needs libtbb)


@pytest.mark.parametrize("layer", ["workqueue", "omp", "tbb"])
def test_encodes_from_four_python_threads_match_serial(layer):
    if not _layer_importable(layer):
        pytest.skip(f"numba's {layer} threading layer is not importable here")
    result = _run(
        """
        import threading
        rn.set_num_threads(2)
        serial = [rn.encode(TARGETS, PRIOR, seed=s, **OPTIONS).index.tolist() for s in range(4)]
        single = [encode_one(b) for b in range(4)]
        found, errors = {}, []

        def work(s):
            try:
                for _ in range(3):
                    found[s] = rn.encode(TARGETS, PRIOR, seed=s, **OPTIONS).index.tolist()
                    found[10 + s] = encode_one(s)
            except BaseException as error:  # reported by the main thread
                errors.append(repr(error))

        workers = [threading.Thread(target=work, args=(s,)) for s in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not errors, errors
        assert [found[s] for s in range(4)] == serial
        assert [found[10 + s] for s in range(4)] == single
        assert not numba_layer_started()
        print("ok")
        """,
        env={"NUMBA_THREADING_LAYER": layer},
    )
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


# Ctrl-C: the child warms the kernels up (cache load), prints "started", then runs a search that
# would take hours. Exit code 3: it caught KeyboardInterrupt; 0: the encode returned (wrong).
HARD = "rn.Gaussian(np.full(D, 0.5), np.full(D, 1e-3))"  # D_inf about 40 bits: ~2^40 steps
HARD_BATCH = "rn.Gaussian(np.full((4, D), 0.5), np.full((4, D), 1e-3))"
LONG_ENCODES = {
    "orc-single": f"rn.encode({HARD}, PRIOR, seed=1, method='orc', num_samples=2**40)",
    "orc-batched": f"rn.encode({HARD_BATCH}, PRIOR, seed=1, method='orc', num_samples=2**40)",
    "pfr-single": f"rn.encode({HARD}, PRIOR, seed=1, max_steps=2**62)",
}
WARM_UP = {
    "orc-single": f"rn.encode({HARD}, PRIOR, seed=1, method='orc', num_samples=8)",
    "orc-batched": f"rn.encode({HARD_BATCH}, PRIOR, seed=1, method='orc', num_samples=8)",
    "pfr-single": "rn.encode(rn.Gaussian(np.full(D, 0.5), np.full(D, 0.9)), PRIOR, seed=1)",
}


def _start_long(case, handler=""):
    code = PRELUDE + textwrap.dedent(handler) + textwrap.dedent(
        f"""
        import sys
        rn.set_num_threads(2)
        {WARM_UP[case]}
        print("started", flush=True)
        try:
            {LONG_ENCODES[case]}
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        print("finished", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = child.stdout.readline()  # blocks until the warm-up is done (or the child died)
    if line.strip() != "started":
        child.kill()
        pytest.fail(f"child did not start: {line!r} {child.communicate(timeout=TIMEOUT_S)[1]}")
    time.sleep(0.5)  # well inside the long search by now
    return child


def _still_running_after(child, seconds):
    try:
        child.wait(timeout=seconds)
        return False
    except subprocess.TimeoutExpired:
        return True


# A custom SIGINT handler that raises KeyboardInterrupt: recnumba then cannot use the wakeup-fd
# watcher and runs the search on a worker while the main thread waits (the fallback path).
CUSTOM_HANDLER = """
import signal
def _raise(signum, frame):
    raise KeyboardInterrupt
signal.signal(signal.SIGINT, _raise)
"""


@pytest.mark.skipif(not POSIX, reason="sends SIGINT")
@pytest.mark.parametrize("handler", ["", CUSTOM_HANDLER], ids=["default-handler", "custom-handler"])
@pytest.mark.parametrize("case", sorted(LONG_ENCODES))
def test_ctrl_c_stops_a_long_encode(case, handler):
    child = _start_long(case, handler)
    try:
        assert child.poll() is None, "the long encode ended before SIGINT: the test would prove nothing"
        child.send_signal(signal.SIGINT)
        assert not _still_running_after(child, 5.0), "the encode ignored Ctrl-C for 5 s"
        out, err = child.communicate(timeout=TIMEOUT_S)
        assert child.returncode == 3 and out.strip() == "interrupted", (child.returncode, out, err)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate(timeout=TIMEOUT_S)


@pytest.mark.skipif(not POSIX, reason="sends SIGINT")
def test_negative_control_without_sigint_the_encode_keeps_running():
    # The same detection as above flags a child that was not interrupted.
    child = _start_long("orc-batched")
    try:
        assert _still_running_after(child, 2.0)
    finally:
        child.kill()
        child.communicate(timeout=TIMEOUT_S)


def test_interrupted_status_is_never_a_result(monkeypatch):
    import numpy as np

    import recnumba as rn
    from recnumba.backends import cpu
    from recnumba.search.params import STATUS_INTERRUPTED

    def interrupted_select(pair_tag, targets, grid, spec, block_ids, out):
        out.status[:] = STATUS_INTERRUPTED
        out.index[:] = -1
        out.steps[:] = 0
        out.log_bound[:] = 0.0
        out.exact[:] = False

    monkeypatch.setattr(cpu, "select", interrupted_select)
    with pytest.raises(KeyboardInterrupt):
        rn.encode(rn.Gaussian([0.1, 0.2], [0.5, 0.5]), rn.Gaussian(np.zeros(2), np.ones(2)), seed=1)
