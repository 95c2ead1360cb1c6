"""Compress and decompress datasets with dask: chunks of items on many workers, the same records as one process.

::

    import dask.array as da
    import recnumba as rn
    from recnumba import distributed

    loc = da.from_zarr(...)                       # (N, D), chunked along items
    records = distributed.compress(codec, loc, scale, client=client)
    samples = distributed.decompress(codec, records, client=client)   # numpy (N, D)

Needs the ``distributed`` extra (``pip install "recnumba[distributed]"``: dask and dask.distributed).

How it splits the work
----------------------
``loc`` and ``scale`` are dask arrays of shape (N, D) chunked along items (rows); a chunked second axis
is merged (``rechunk({1: -1})``) and ``scale`` takes ``loc``'s row chunks. numpy arrays (or anything
``recnumba.arrays`` reads) are cut into chunks of ``chunk_items`` rows. Chunk c, starting at row
``offset_c``, runs ``codec.compress(loc_c, scale_c, first_item=first_item + offset_c)`` on a worker,
so item numbers, and therefore stream keys and the seed of each item (the codec's rule:
``P = 2^32 // num_blocks`` items per seed, then derived seeds, see ``recnumba.codec``), are those of
a single ``codec.compress(loc, scale, first_item=first_item)``: the records are identical, byte for
byte, whatever the chunking, the number of workers or the scheduler (``tests/test_distributed.py``).
``decompress`` cuts the records the same way and concatenates the samples in order.

Schedulers
----------
``client=None`` starts a ``LocalCluster`` (one single-threaded worker process per CPU, recnumba's
threads set to 1 on each) for the call and closes it afterwards (a few seconds of start-up; keep a
:func:`local_client` open for repeated calls). ``client`` may be any ``dask.distributed.Client``
(a LocalCluster, dask-jobqueue, dask-cuda, a remote scheduler) or the name of a local dask scheduler
(``"threads"``, ``"processes"``, ``"synchronous"``). On a client of your own, mind threads: each
task runs recnumba's own thread pool (``rn.set_num_threads``, default one thread per CPU) inside a
dask worker thread; ``client.run(rn.set_num_threads, 1)`` with one worker process per core, or one
worker per machine with ``threads_per_worker=1`` and recnumba's threads, avoids oversubscription.

Compiling once per worker
-------------------------
recnumba's kernels are numba functions with ``cache=True``: a worker process compiles a kernel at
most once (numba keeps it in memory for the process's lifetime) and not at all when the on-disk
cache next to the installed package already holds it, e.g. after any earlier run on that machine
(``python -m recnumba demo``, a first ``codec.compress``); then a worker's first task only loads the
kernels (about a second). :func:`kernel_stats` returns, per worker, the number of numba compilations
in that worker process since recnumba.distributed first ran there (counted with numba's
``"numba:compile"`` event, which fires only for a real compilation, never for a cache load; any numba
function counts, so tasks of your own that compile show up too) and its pid; tests/test_distributed.py checks it is 0 with
a warm cache and stays 0 on a second call. A cluster on machines that share no file system with a
warm cache compiles once per worker on its first task; to pay that before the data arrives, call
:func:`warm_up`.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager

import numpy as np

from recnumba.arrays import as_float_array, as_integer
from recnumba.codec import Codec
from recnumba.validation import INDEX_LIMIT

__all__ = ["compress", "decompress", "local_client", "kernel_stats", "warm_up", "SCHEDULERS"]

#: Local dask schedulers accepted by name as ``client``.
SCHEDULERS = ("threads", "processes", "synchronous", "sync", "single-threaded")
#: Largest default chunk (rows per task) for numpy inputs and for decompress.
MAX_CHUNK_ITEMS = 50_000

_COUNTER = None


def _require_dask():
    try:
        import dask  # noqa: F401
        import dask.array  # noqa: F401
    except ImportError as error:  # pragma: no cover - the test environment has dask
        raise ImportError('recnumba.distributed needs dask: pip install "recnumba[distributed]"') from error


# ---------------------------------------------------------------------------- compile counting (workers)

def _install_counter():
    """Count numba compilations in this process from now on (idempotent)."""
    global _COUNTER
    if _COUNTER is None:
        from numba.core import event

        class _Counter(event.Listener):
            def __init__(self):
                self.compiled = 0
                self.names = []

            def on_start(self, data):
                pass

            def on_end(self, data):
                self.compiled += 1
                dispatcher = data.data.get("dispatcher") if isinstance(data.data, dict) else None
                name = getattr(getattr(dispatcher, "py_func", None), "__qualname__", "?")
                if len(self.names) < 200:
                    self.names.append(name)

        _COUNTER = _Counter()
        event.register("numba:compile", _COUNTER)
    return _COUNTER


def _worker_stats():
    counter = _install_counter()
    return {"pid": os.getpid(), "compiled": counter.compiled, "compiled_names": list(counter.names)}


def kernel_stats(client):
    """``{worker address: {"pid", "compiled", "compiled_names"}}``: numba compilations per worker process
    since recnumba.distributed first ran there (0 when the disk cache was warm; the first 200 compiled
    functions' names)."""
    _check_client_object(client)
    return client.run(_worker_stats)


def warm_up(codec, client, loc=None, scale=None):
    """Code one item through ``codec`` on every worker (compiling or loading kernels there) before
    real work; returns :func:`kernel_stats`.

    ``loc``, ``scale``: one item (a (D,) row or the first row of (N, D) arrays) to code; by default a
    posterior built from the prior (half its scale, or the middle half of a uniform box). Warnings
    about the warm-up item (e.g. a partition too fine for it) are silenced.
    """
    _check_codec(codec)
    _check_client_object(client)
    if (loc is None) != (scale is None):
        raise TypeError("pass both loc and scale (one item) or neither")
    if loc is not None:
        loc, scale = as_float_array(loc, "loc"), as_float_array(scale, "scale")
        loc, scale = (loc if loc.ndim == 1 else loc[0]), (scale if scale.ndim == 1 else scale[0])
        codec.targets(loc, scale)  # checked here, not on the workers
    client.run(_warm_up_here, codec, loc, scale)
    return kernel_stats(client)


def _warm_up_item(codec):
    first, second = (np.asarray(p, dtype=np.float64) for p in codec.prior.params)
    if codec.posterior.__name__ != "Uniform":
        return first, second / 2
    if type(codec.prior).__name__ == "Uniform":  # (low, high): the middle half of the box
        width = second - first
        return first + width / 4, second - width / 4
    return first - second / 2, first + second / 2  # a uniform posterior of one prior std around loc


def _warm_up_here(codec, loc=None, scale=None):
    import warnings

    _install_counter()
    if loc is None:
        loc, scale = _warm_up_item(codec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        codec.decompress(codec.compress(loc, scale))
    return os.getpid()


# ---------------------------------------------------------------------------- tasks

def _compress_chunk(codec, loc, scale, first_item, return_samples):
    _install_counter()
    result = codec.compress_with_details(np.asarray(loc), np.asarray(scale), first_item=first_item)
    return result["records"], (result["samples"] if return_samples else None)


def _decompress_chunk(codec, records, first_item):
    _install_counter()
    return codec.decompress(records, first_item=first_item)


def _set_threads(count):
    from recnumba.backends.threads import set_num_threads

    set_num_threads(count)


# ---------------------------------------------------------------------------- clients

def _check_codec(codec):
    if not isinstance(codec, Codec):
        raise TypeError(f"codec must be a recnumba.Codec; got {type(codec).__name__}")
    return codec


def _check_client_object(client):
    if not (hasattr(client, "compute") and hasattr(client, "gather") and hasattr(client, "run")):
        raise TypeError(f"client must be a dask.distributed.Client; got {type(client).__name__}")


def _check_client(client):
    if client is None:
        return client
    if isinstance(client, str):
        if client not in SCHEDULERS:
            raise ValueError(f"client must be a dask.distributed.Client, None (a LocalCluster for the call) or one "
                             f"of {list(SCHEDULERS)}; got {client!r}")
        return client
    _check_client_object(client)
    return client


@contextmanager
def local_client(n_workers=None, threads_per_worker=1, recnumba_threads=1, **cluster_options):
    """A ``dask.distributed.Client`` on a new ``LocalCluster`` (closed on exit).

    ``n_workers`` worker processes (default: one per CPU) with ``threads_per_worker`` dask threads
    each, recnumba's thread count set to ``recnumba_threads`` on every worker (None: leave it);
    ``cluster_options`` go to ``LocalCluster`` (its HTTP/dashboard server on a free port unless
    ``dashboard_address`` is given).
    """
    _require_dask()
    from distributed import Client, LocalCluster

    n_workers = (os.cpu_count() or 1) if n_workers is None else as_integer(n_workers, "n_workers")
    if n_workers < 1:
        raise ValueError(f"n_workers must be >= 1; got {n_workers}")
    cluster_options.setdefault("dashboard_address", ":0")  # any free port: no clash with 8787
    cluster_options.setdefault("processes", True)
    cluster_options.setdefault("silence_logs", logging.ERROR)
    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=threads_per_worker, **cluster_options)
    client = Client(cluster)
    try:
        if recnumba_threads is not None:
            client.run(_set_threads, as_integer(recnumba_threads, "recnumba_threads"))
        client.run(_install_counter)
        yield client
    finally:
        client.close()
        cluster.close()


@contextmanager
def _client_for(client):
    if client is None:
        with local_client() as made:
            yield made
    else:
        yield client


def _num_workers(client):
    if client is None:
        return os.cpu_count() or 1
    if isinstance(client, str):
        return 1 if client in ("synchronous", "sync", "single-threaded") else (os.cpu_count() or 1)
    try:
        return max(1, len(client.scheduler_info().get("workers", {})))
    except Exception:  # pragma: no cover - a client without scheduler info
        return 1


def _default_chunk(count, client):
    return max(1, min(MAX_CHUNK_ITEMS, math.ceil(count / (2 * _num_workers(client)))))


# ---------------------------------------------------------------------------- inputs

def _as_dask_rows(value, name, chunk_items):
    import dask.array as da

    if isinstance(value, da.Array):
        if not np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.complexfloating) \
                or value.dtype == bool:
            raise TypeError(f"{name} must be a dask array of real numbers; got dtype {value.dtype}")
        array = value
    else:
        array = as_float_array(value, name)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D) (one row per item); got {tuple(array.shape)}")
    if isinstance(array, da.Array):
        if any(math.isnan(c) for c in array.chunks[0]):
            raise ValueError(f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() first")
        return array.rechunk({1: -1}) if len(array.chunks[1]) > 1 else array
    return da.from_array(array, chunks=(chunk_items, -1))


def _offsets(chunks):
    return np.concatenate([[0], np.cumsum(chunks)[:-1]]).astype(np.int64).tolist()


def _check_first_item(first_item, count):
    first_item = as_integer(first_item, "first_item")
    if not 0 <= first_item < INDEX_LIMIT or first_item + count > INDEX_LIMIT:
        raise ValueError(f"first_item must be an integer >= 0 with first_item + N below 2^63; got {first_item}")
    return first_item


def _check_chunk(chunk_items):
    if chunk_items is None:
        return None
    chunk_items = as_integer(chunk_items, "chunk_items")
    if chunk_items < 1:
        raise ValueError(f"chunk_items must be >= 1; got {chunk_items}")
    return chunk_items


# ---------------------------------------------------------------------------- API

def compress(codec, loc, scale, client=None, *, first_item=0, return_samples=False, chunk_items=None):
    """``codec.compress(loc, scale, first_item=first_item)`` on dask workers; the same list of records.

    Parameters
    ----------
    codec : recnumba.Codec
    loc, scale : dask arrays (N, D) chunked along items, or arrays (numpy, torch, ...) of that shape
        The posteriors' two parameter arrays (see ``Codec.compress``). Non-dask arrays are cut into
        chunks of ``chunk_items`` rows and scattered to the workers (not embedded in the graph).
    client : dask.distributed.Client, scheduler name, or None
        Where to run (module docstring); None starts a LocalCluster for the call.
    first_item : int >= 0
        Item number of row 0; chunk c gets ``first_item + its row offset``.
    return_samples : bool
        Also return the samples (float64 numpy (N, D)) the receiver will decode.
    chunk_items : int, optional
        Rows per task for non-dask inputs (default: N / (2 x workers), at most 50,000).

    Returns
    -------
    list of N bytes, or (records, samples).
    """
    _require_dask()
    import dask.array as da

    codec = _check_codec(codec)
    client = _check_client(client)
    chunk_items = _check_chunk(chunk_items)
    if not isinstance(return_samples, (bool, np.bool_)):
        raise TypeError(f"return_samples must be True or False; got {return_samples!r}")
    lazy = isinstance(loc, da.Array) or isinstance(scale, da.Array)
    if lazy:
        probe = loc if hasattr(loc, "shape") else np.asarray(loc)
        count = int(probe.shape[0]) if len(probe.shape) == 2 else 1
        chunk = chunk_items or _default_chunk(count, client)
        rows, other = _as_dask_rows(loc, "loc", chunk), _as_dask_rows(scale, "scale", chunk)
    else:
        rows, other = _as_rows(loc, "loc"), _as_rows(scale, "scale")
    if tuple(other.shape) != tuple(rows.shape):
        raise ValueError(f"loc and scale must have the same shape (N, D); got {tuple(rows.shape)} and "
                         f"{tuple(other.shape)}")
    if rows.shape[1] != codec.dim:
        raise ValueError(f"loc and scale must have shape (N, {codec.dim}) (the codec's dimension); got "
                         f"{tuple(rows.shape)}")
    first_item = _check_first_item(first_item, int(rows.shape[0]))
    if lazy:
        other = other.rechunk(rows.chunks)
        calls = [(a, b, first_item + offset, bool(return_samples)) for a, b, offset in
                 zip(rows.to_delayed()[:, 0], other.to_delayed()[:, 0], _offsets(rows.chunks[0]))]
    else:
        chunk = chunk_items or _default_chunk(rows.shape[0], client)
        calls = [(rows[start:start + chunk], other[start:start + chunk], first_item + start, bool(return_samples))
                 for start in range(0, rows.shape[0], chunk)]
    with _client_for(client) as run_on:
        results = _execute(_compress_chunk, codec, calls, run_on, lazy, scatter=2)
    records = [record for part, _ in results for record in part]
    if not return_samples:
        return records
    samples = np.concatenate([s for _, s in results]) if results else np.empty((0, codec.dim))
    return records, samples


def decompress(codec, records, client=None, *, first_item=0, chunk_items=None):
    """``codec.decompress(records, first_item=first_item)`` on dask workers: float64 numpy (N, D),
    bit-identical to a single process (``records``: a list of bytes; chunks of ``chunk_items``,
    scattered to the workers)."""
    _require_dask()

    codec = _check_codec(codec)
    client = _check_client(client)
    chunk_items = _check_chunk(chunk_items)
    if isinstance(records, (bytes, bytearray, memoryview, str)) or not hasattr(records, "__iter__"):
        raise TypeError("records must be a list of bytes (one record per item)")
    records = list(records)
    for i, record in enumerate(records):
        if not isinstance(record, (bytes, bytearray, memoryview)):
            raise TypeError(f"records[{i}] must be bytes; got {type(record).__name__}")
    first_item = _check_first_item(first_item, len(records))
    chunk = chunk_items or _default_chunk(len(records), client)
    calls = [([bytes(r) for r in records[start:start + chunk]], first_item + start)
             for start in range(0, len(records), chunk)]
    with _client_for(client) as run_on:
        parts = _execute(_decompress_chunk, codec, calls, run_on, False, scatter=1)
    if not parts:
        return np.empty((0, codec.dim), dtype=np.float64)
    return np.concatenate(parts)


def _as_rows(value, name):
    array = as_float_array(value, name)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (N, D) (one row per item); got {array.shape}")
    return array


def _execute(function, codec, calls, client, lazy, scatter):
    """``[function(codec, *call) for call in calls]`` on ``client``, in order.

    A scheduler name runs dask.delayed tasks locally. On a distributed client, dask-array chunks
    (``lazy``) stay in the graph; otherwise the first ``scatter`` arguments of each call (the data)
    are scattered to the workers first, and the codec is broadcast once.
    """
    import dask

    if not calls:
        return []
    if isinstance(client, str) or lazy:
        shared = dask.delayed(codec, pure=True)
        task = dask.delayed(function, pure=True)
        tasks = [task(shared, *call) for call in calls]
        if isinstance(client, str):
            return list(dask.compute(*tasks, scheduler=client))
        return client.gather(client.compute(tasks))
    shared = client.scatter(codec, broadcast=True, hash=False)
    data = client.scatter([part for call in calls for part in call[:scatter]], hash=False)
    futures = [client.submit(function, shared, *data[i * scatter:(i + 1) * scatter], *call[scatter:], pure=False)
               for i, call in enumerate(calls)]
    return client.gather(futures)
