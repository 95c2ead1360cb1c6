"""100,000 posteriors through ``rn.Codec`` on a 2-worker dask LocalCluster, beside one process.

Generates N Gaussian posteriors (default 100,000 items of a 12-D latent, about 16 bits of KL each,
seeded), fits a codec to the first 2,000 (one block, ORC with 2^12 candidates, partitioned), then
times:

* one process: ``codec.compress`` / ``codec.decompress`` (recnumba's own thread pool, one thread per
  core);
* ``recnumba.distributed.compress`` / ``decompress`` on a LocalCluster of ``--workers`` single-threaded
  worker processes (recnumba threads set to 1 on each), chunks of ``--chunk`` items: start-up of the
  cluster, a warm-up (kernels loaded from the disk cache on each worker), and the coding itself;

and checks that the records are byte-identical and the samples bit-identical, and that no worker
compiled a kernel (``distributed.kernel_stats``). On one machine the cluster can at best match the
single process (both use every core; dask adds serialisation and scheduling): the point is that
the same call scales out to a real cluster (dask-jobqueue, dask-cuda, ``Client("tcp://...")``) with
identical records.

Run (needs ``pip install "recnumba[distributed]"``)::

    python examples/distributed_encode.py                      # about 1-2 min on a 2-core VM
    python examples/distributed_encode.py --items 20000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import time

import numpy as np

import recnumba as rn
from recnumba import distributed


def posteriors(items, dim, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 0.8, size=(items, dim)), rng.uniform(0.2, 0.5, size=(items, dim))


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    out = function(*args, **kwargs)
    return out, time.perf_counter() - started


def cpu_seconds():
    """CPU time (user + system) of this process, all its threads."""
    times = os.times()
    return times.user + times.system


def cluster_cpu_seconds(client):
    """CPU seconds of every worker process plus this one (the client and its scheduler threads)."""
    workers = client.run(os.times)  # a builtin: runs on workers that cannot import this script
    return sum(t.user + t.system for t in workers.values()) + cpu_seconds()


def cpu_name():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=12)
    parser.add_argument("--num-samples", type=int, default=1 << 12, help="ORC candidates per block")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=5_000, help="items per dask task")
    parser.add_argument("--code", default=rn.codec.DEFAULT_CODE, help="index code of the records")
    parser.add_argument("--json", type=pathlib.Path)
    args = parser.parse_args(argv)

    load_at_start = round(os.getloadavg()[0], 2)
    loc, scale = posteriors(args.items, args.dim)
    prior = rn.Gaussian(np.zeros(args.dim), np.ones(args.dim))
    codec = rn.Codec.fit(loc[:2000], scale[:2000], prior, seed=11, block_bits=24.0, margin_bits=6.0,
                         num_samples=args.num_samples, code=args.code)
    codec.decompress(codec.compress(loc[:100], scale[:100]))  # compile (or load) the kernels here first

    cpu = cpu_seconds()
    records, single_encode = timed(codec.compress, loc, scale)
    single_encode_cpu, cpu = cpu_seconds() - cpu, cpu_seconds()
    samples, single_decode = timed(codec.decompress, records)
    single_decode_cpu = cpu_seconds() - cpu

    started = time.perf_counter()
    with distributed.local_client(n_workers=args.workers) as client:
        startup = time.perf_counter() - started
        _, warm = timed(distributed.warm_up, codec, client)
        cpu = cluster_cpu_seconds(client)
        got, dist_encode = timed(distributed.compress, codec, loc, scale, client, chunk_items=args.chunk)
        dist_encode_cpu, cpu = cluster_cpu_seconds(client) - cpu, cluster_cpu_seconds(client)
        got_samples, dist_decode = timed(distributed.decompress, codec, got, client, chunk_items=args.chunk)
        dist_decode_cpu = cluster_cpu_seconds(client) - cpu
        stats = distributed.kernel_stats(client)

    bits = rn.Codec.record_bits(records)
    result = {
        "machine": f"{os.cpu_count()}-core {cpu_name()}",
        "items": args.items, "dim": args.dim, "code": codec.code, "blocks": codec.num_blocks, "num_samples": args.num_samples,
        "workers": args.workers, "chunk_items": args.chunk, "recnumba_threads_single": rn.get_num_threads(),
        "load_average_1min_at_start": load_at_start, "load_average_1min_at_end": round(os.getloadavg()[0], 2),
        "single_encode_s": round(single_encode, 2), "single_decode_s": round(single_decode, 2),
        "single_encode_cpu_s": round(single_encode_cpu, 2), "single_decode_cpu_s": round(single_decode_cpu, 2),
        "distributed_encode_cpu_s": round(dist_encode_cpu, 2), "distributed_decode_cpu_s": round(dist_decode_cpu, 2),
        "cluster_startup_s": round(startup, 2), "cluster_warm_up_s": round(warm, 2),
        "distributed_encode_s": round(dist_encode, 2), "distributed_decode_s": round(dist_decode, 2),
        "records_identical": got == records, "samples_identical": got_samples.tobytes() == samples.tobytes(),
        "worker_compilations": {addr: s["compiled"] for addr, s in stats.items()},
        "mean_record_bits": float(bits.mean()), "mean_rate_bits": float(codec.rate_bits(loc, scale).mean()),
    }
    print(f"{args.items} items, {args.dim}-D, {codec.num_blocks} block(s), ORC 2^{np.log2(args.num_samples):.0f}, "
          f"code {codec.code!r}, on a {result['machine']}")
    print(f"  one process ({rn.get_num_threads()} recnumba threads): encode {single_encode:.1f} s "
          f"({args.items / single_encode:,.0f} items/s, {single_encode_cpu:.1f} CPU s), decode {single_decode:.2f} s "
          f"({single_decode_cpu:.1f} CPU s)")
    print(f"  LocalCluster ({args.workers} workers x 1 thread, chunks of {args.chunk}): start {startup:.1f} s, "
          f"warm-up {warm:.2f} s, encode {dist_encode:.1f} s ({args.items / dist_encode:,.0f} items/s, "
          f"{dist_encode_cpu:.1f} CPU s), decode {dist_decode:.2f} s ({dist_decode_cpu:.1f} CPU s)")
    print(f"  load average (1 min) {load_at_start} at the start, {result['load_average_1min_at_end']} at the end")
    print(f"  records identical: {result['records_identical']}, samples identical: {result['samples_identical']}, "
          f"compilations per worker: {list(result['worker_compilations'].values())}")
    print(f"  {bits.mean():.1f} bits per record vs {result['mean_rate_bits']:.1f} bits of KL per item")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if not (result["records_identical"] and result["samples_identical"]):
        raise SystemExit("distributed records differ from the single process")
    return result


if __name__ == "__main__":
    main()
