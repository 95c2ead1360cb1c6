"""recnumba's own thread pool for the CPU kernels (instead of numba's parallel layer).

The CPU kernels are serial ``@njit(cache=True, nogil=True)`` functions over a contiguous range of
blocks, ``kernel(*args, start, stop, cancel)``. ``run_ranges`` splits a call's blocks into ranges
and runs them on a lazily created ``concurrent.futures.ThreadPoolExecutor``:

* cached kernels: nothing is compiled per process (``parallel=True`` kernels cannot be cached);
* numba's threading layer (OpenMP, TBB, workqueue) is never launched, so a ``fork``-started child
  (``multiprocessing``, PyTorch's DataLoader) does not inherit a dead OpenMP pool, and several
  Python threads may encode at once on any layer. The pool is dropped in a forked child
  (``os.register_at_fork``) and recreated there on first use;
* the kernel is compiled (or loaded from the cache) in the calling thread by a call over an empty
  range before any worker runs it, so workers never compile;
* Ctrl-C: every kernel polls an int64 (1,) ``cancel`` flag (searches every 1024 steps). SIGINT
  sets it, also while the main thread itself is inside a kernel (where Python handlers cannot
  run): a watcher thread reads the signal from ``signal.set_wakeup_fd``'s socket. Where that is
  not possible (Windows, a custom SIGINT handler), the main thread runs no kernel and waits for
  the workers interruptibly, and ``KeyboardInterrupt`` there sets the flag. Either way the call
  waits for its workers to return and raises ``KeyboardInterrupt`` (no partial result). A second
  Ctrl-C while waiting stops waiting (the workers still stop at their next poll).

Each block's result depends only on its own inputs, so results do not depend on the thread count
or on how the blocks are split.
"""

import os
import signal
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError, wait

import numpy as np

from recnumba.validation import ParameterTypeError, _is_integer

__all__ = ["get_num_threads", "run_ranges", "set_num_threads"]

#: ``set_num_threads`` accepts 1..MAX_THREADS.
MAX_THREADS = 1024
#: Ranges per thread: enough to balance blocks of uneven cost (PFR step counts vary a lot).
RANGES_PER_THREAD = 8
#: A calling thread that runs kernels itself wakes the workers once a call has run this long
#: (seconds): waking a worker costs tens of microseconds, more than a small batch takes.
#: (Only when the work is split; never a change in results.)
PARALLEL_AFTER_S = 200e-6
#: Windows cannot interrupt a blocking lock wait; wait in slices there so Ctrl-C is seen.
_WAIT_SLICE = 0.1 if sys.platform == "win32" else None

_lock = threading.Lock()
_pool = None        # the executor, created on first use
_pool_size = 0      # its max_workers
_num_threads = None  # set_num_threads' value; None: numba.config.NUMBA_NUM_THREADS


def _after_fork_in_child():
    # The parent's worker threads do not exist in the child: forget them (a new pool is made on
    # first use) and the lock, which a parent thread may have held at the fork.
    global _lock, _pool, _pool_size
    _lock = threading.Lock()
    _pool = None
    _pool_size = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def get_num_threads():
    """The number of threads the CPU backend uses (default: ``numba.config.NUMBA_NUM_THREADS``,
    which honours the ``NUMBA_NUM_THREADS`` environment variable; usually the CPUs available)."""
    if _num_threads is not None:
        return _num_threads
    from numba import config  # (reading the config does not launch numba's threading layer)

    return max(1, int(config.NUMBA_NUM_THREADS))


def set_num_threads(n):
    """Use ``n`` threads (1..1024) for the CPU backend's batched calls, process-wide.

    Results do not depend on it (bit for bit). Unlike ``numba.set_num_threads`` it is not
    limited by ``NUMBA_NUM_THREADS`` and applies to every thread of the process.
    """
    if not _is_integer(n):
        raise ParameterTypeError(f"n (the number of threads) must be an integer in [1, {MAX_THREADS}]; "
                                 f"got {type(n).__name__} {n!r:.80}")
    if not 1 <= int(n) <= MAX_THREADS:
        raise ValueError(f"n (the number of threads) must be an integer in [1, {MAX_THREADS}]; got {n!r}")
    global _num_threads
    _num_threads = int(n)


def _submit(workers, futures, *call):
    """Submit ``call`` ``workers`` times to the pool, which gets at least ``workers`` threads (a
    smaller pool is replaced; its queued work still runs). Under the lock, so that no other
    caller shuts a pool down between our submits."""
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size < workers:
            old = _pool
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="recnumba")
            _pool_size = workers
            if old is not None:
                old.shutdown(wait=False)
        for _ in range(workers):
            futures.append(_pool.submit(*call))


def split(count, num_ranges):
    """``num_ranges`` contiguous (start, stop) ranges covering 0..count, sizes within one."""
    bounds = [count * i // num_ranges for i in range(num_ranges + 1)]
    return list(zip(bounds[:-1], bounds[1:]))


def _drain(kernel, args, ranges, next_range, cancel):
    """A worker: run ranges until none is left (``next_range`` is shared) or the call is cancelled."""
    try:
        while cancel[0] == 0:
            i = next(next_range, None)
            if i is None:
                return
            start, stop = ranges[i]
            kernel(*args, start, stop, cancel)
    except BaseException:
        cancel[0] = 1  # the others stop too; the error reaches the caller through the future
        raise


def _wait_all(futures):
    """Wait for every future (in order); raise a worker's error. Interruptible by Ctrl-C."""
    for future in futures:
        if _WAIT_SLICE is None:
            future.result()  # a blocking lock wait: POSIX interrupts it for a signal handler
        else:
            while True:
                try:
                    future.result(timeout=_WAIT_SLICE)
                    break
                except TimeoutError:
                    continue


# Ctrl-C while the main thread itself runs a kernel. Python runs signal handlers only between
# bytecodes, so the main thread would see SIGINT only once the kernel returns; but the C-level
# handler also writes the signal number to the wakeup fd (``signal.set_wakeup_fd``) at once. While
# the main thread runs kernels, that fd is a socket read by a watcher thread, which sets the
# calls' cancel flags on SIGINT and forwards every byte to the previous wakeup fd (asyncio's).
# This costs two system calls per call instead of a thread hand-off (about 60 us on a VM).
_USE_WAKEUP_FD = sys.platform != "win32" and hasattr(signal, "set_wakeup_fd")
try:  # signal.getsignal without its enum conversion (1.5 of a tiny encode's microseconds)
    from _signal import getsignal as _getsignal
except ImportError:  # pragma: no cover
    _getsignal = signal.getsignal
_watch = None        # (read socket, write socket, thread) of the watcher, started on first use
_watch_depth = 0     # nested installs (the main thread only)
_watch_previous = -1  # the wakeup fd before ours
_watch_cancels = {}  # id -> cancel flag of the calls the main thread is running


def _watcher(sock):
    while True:
        try:
            data = sock.recv(512)
        except OSError:
            return
        if not data:
            return
        if signal.SIGINT in data:
            for cancel in list(_watch_cancels.values()):
                cancel[0] = 1
        previous = _watch_previous
        if previous >= 0:
            try:
                os.write(previous, data)
            except OSError:
                pass


def _install_watch(cancel):
    """Main thread: have SIGINT set ``cancel`` while it runs kernels. False where that cannot be
    done (a SIGINT handler other than Python's default, no wakeup fd): then use a worker."""
    global _watch, _watch_depth, _watch_previous
    if not _USE_WAKEUP_FD or _getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    if _watch is None:
        read, write = socket.socketpair()
        read.setblocking(True)
        write.setblocking(False)
        thread = threading.Thread(target=_watcher, args=(read,), name="recnumba-sigint", daemon=True)
        thread.start()
        _watch = (read, write, thread)
    if _watch_depth == 0:
        try:
            _watch_previous = signal.set_wakeup_fd(_watch[1].fileno(), warn_on_full_buffer=False)
        except (ValueError, OSError):
            return False
    _watch_depth += 1
    _watch_cancels[id(cancel)] = cancel
    return True


def _remove_watch(cancel):
    global _watch_depth, _watch_previous
    _watch_cancels.pop(id(cancel), None)
    _watch_depth -= 1
    if _watch_depth == 0:
        signal.set_wakeup_fd(_watch_previous)
        _watch_previous = -1


def _after_fork_in_child_watch():
    global _watch, _watch_depth, _watch_previous
    if _watch is not None:
        if _watch_depth > 0:  # forked by another thread while the main thread ran a kernel
            try:
                signal.set_wakeup_fd(_watch_previous)
            except (ValueError, OSError):
                pass
        for sock in _watch[:2]:
            sock.close()
    _watch = None
    _watch_depth = 0
    _watch_previous = -1
    _watch_cancels.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child_watch)


def _checkpoint():
    """A Python-level call: a pending signal handler runs here (raising KeyboardInterrupt)."""


def run_ranges(kernel, args, count, cancel=None, inline=False):
    """Run ``kernel(*args, start, stop, cancel)`` over ranges covering blocks 0..count.

    ``cancel``: the int64 (1,) flag the kernels poll (a fresh one by default). Uses
    ``get_num_threads()`` threads (the calling thread is one of them); returns once every range
    has run, or raises ``KeyboardInterrupt`` (no partial result) after Ctrl-C.
    ``inline``: the caller knows the call is short (bounded work, e.g. a small decode): run it in
    the calling thread alone (Ctrl-C is then seen when it returns).
    """
    if cancel is None:
        cancel = np.zeros(1, dtype=np.int64)
    if count <= 0 or inline:
        kernel(*args, 0, max(count, 0), cancel)
        return
    threads = min(get_num_threads(), count)
    on_main = threading.current_thread() is threading.main_thread()
    watched = False
    futures = []
    try:
        # On the main thread a kernel runs there only while SIGINT reaches the cancel flag;
        # otherwise the main thread waits for workers (interruptibly) and runs none itself.
        watched = on_main and _install_watch(cancel)
        runs_here = watched or not on_main
        if threads == 1 and runs_here:
            kernel(*args, 0, count, cancel)
        else:
            kernel(*args, 0, 0, cancel)  # compile or load from the cache here, never in a worker
            start = 0
            if runs_here:
                # Blocks here first, in chunks growing 4-fold; the workers join once the call has
                # run PARALLEL_AFTER_S (a short call never pays for waking them or for many calls).
                began, size = time.perf_counter(), 1
                while start < count and cancel[0] == 0 and time.perf_counter() - began < PARALLEL_AFTER_S:
                    stop = min(count, start + size)
                    kernel(*args, start, stop, cancel)
                    start, size = stop, 4 * size
            left = count - start
            if left > 0 and cancel[0] == 0:
                threads = min(threads, left)
                ranges = [(start + lo, start + hi)
                          for lo, hi in split(left, min(left, threads * RANGES_PER_THREAD))]
                next_range = iter(range(len(ranges)))  # shared; next() on a range iterator is atomic
                workers = threads - 1 if runs_here else threads
                if workers:
                    _submit(workers, futures, _drain, kernel, args, ranges, next_range, cancel)
                if runs_here:
                    _drain(kernel, args, ranges, next_range, cancel)
            _wait_all(futures)
    except KeyboardInterrupt:
        cancel[0] = 1
        try:
            wait(futures)  # the kernels return within CANCEL_POLL_STEPS steps of a search
        except KeyboardInterrupt:
            pass  # a second Ctrl-C: stop waiting, the workers still stop at their next poll
        raise
    except BaseException:
        cancel[0] = 1
        wait(futures)
        raise
    finally:
        if watched:
            _remove_watch(cancel)
    if cancel[0] != 0:  # SIGINT set the flag: its handler is pending (or ran in a worker's wait)
        _checkpoint()
        raise KeyboardInterrupt
