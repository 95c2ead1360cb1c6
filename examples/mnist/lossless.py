"""Shared machinery of the lossless MNIST examples (``examples/mnist_lossless.py``, binarised pixels,
and ``examples/mnist8_lossless.py``, 8-bit pixels): block plans and search options of each method name,
per-image records (``recnumba.records``) holding the REC indices of z and, in the same range-coded
stream, the pixels given z, the one-image receiver, the bit accounting, the command line and the
results table. What differs between the examples is only the pixel model, passed in as a
:class:`PixelCoder`.

Method names (``make_plan``, ``method_options``):

* ``plain-orc-16``: blocks of at most 16 bits, ORC with 2^16 candidates, no partition, fixed 16-bit
  indices (the RECOMBINER-style baseline);
* ``partitioned-orc-<B>``: blocks of at most B bits of nearly equal information (balanced packing),
  ORC with 2^16 candidates on a space partition (log2 J = the block's information minus
  ``ORC_MARGIN_BITS``, or less so that every index fits int64), target bin weights, zeta-coded indices;
  ``partitioned-orc-<B>-n<n>``: the same with 2^n candidates per block;
* ``partitioned-pfr-<B>``: small balanced blocks, log2 J one bit below each block's information, exact
  partitioned PFR (``method="auto"``: exact PFR where the search bound is at most 2^20 steps, partitioned
  ORC with 2^16 candidates in the rest; the JSON reports the exact fraction), zeta code;
* ``gprs-per-dim``: one 1-D block per latent dimension (``BlockPlan.per_dimension``), exact branch-and-bound
  GPRS (``method="gprs"``), each path index under ζ(h | α) with α from the dimension's training-set
  information. GPRS needs every target std below the prior's (1), and its search path heads for the
  mode x* = mu / (1 - b^2) of the ratio dq/dp (target N(mu, b^2), prior N(0, 1)), which flies off to
  the far tail as b -> 1 (b = 1 - 1e-6 with mu = 0.012 puts it at 6,100: the path passes int64's 62
  levels). So each posterior std is lowered, where needed, to b with |x* - mu| = |mu| b^2 / (1 - b^2)
  <= ``GPRS_MODE_OFFSET`` (and b <= ``GPRS_MAX_STD``): the sample then comes from that slightly narrower
  Gaussian; losslessness is unaffected and the bits are measured. The JSON reports the fraction of
  (image, dimension) entries lowered (``adjusted_std_fraction``; 2.5% on the 8-bit test set, 0.0002 bits
  of KL per image).

Latent dimensions with less than ``COLLAPSED_BELOW`` bits of training-set information are not coded:
both sides take them from a shared prior stream (seed ``COLLAPSED_SEED``).
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import re
import sys
import time

import numpy as np

import recnumba as rn
from recnumba.coding.index_codes import write_indices
from recnumba.records import RecordHeader, read_record, write_record

NUM_SAMPLES = 1 << 16
REC_SEED = 20241127
PLAN_SEED = 0
COLLAPSED_SEED = REC_SEED + 1
COLLAPSED_BELOW = 0.01
EXACT_BOUND_BITS = 20.0
#: log2 J sits this far below a partitioned ORC block's nominal information. Smaller J wastes fewer
#: index bits on items whose KL is below log2 J (the index always spends about log2 J bits) but
#: makes ORC's sample worse on items whose KL is far above it. Measured on the first 1,000 binarised
#: test images (bits per image, ideal codelengths): 32-bit next-fit blocks, margin 4: 128.4, 8: 127.9,
#: 12: 129.6; balanced 26.8-bit blocks, margin 6: 127.7, 8: 128.3 (see docs/mnist_overhead.md).
ORC_MARGIN_BITS = 6.0
ORC_PACKING = "balanced"
#: Balanced packing for exact PFR too: 8-bit budget -> 7 blocks of 7.6-7.9 bits instead of next fit's 8
#: (first 1,000 binarised test images: 141.2 instead of 143.1 bits per image).
PFR_PACKING = "balanced"
#: Index code of the partitioned methods' and GPRS's per-image latent records (``recnumba.records``);
#: ``LATENT_CODES`` are all measured (``latent_bits_per_image_by_code`` in the JSON).
LATENT_CODE = "zeta"
LATENT_CODES = ("delta", "two-part", "zeta")
MAX_PARTITION_BITS = 63 - int(math.log2(NUM_SAMPLES))  # every index (k-1) J + j < N J fits int64 (N = 2^16)
#: GPRS needs every target std below the prior's, and a ratio mode near the target (module docstring):
#: posterior stds are lowered to at most GPRS_MAX_STD and to |mu| b^2 / (1 - b^2) <= GPRS_MODE_OFFSET.
GPRS_MAX_STD = 1.0 - 1e-6
GPRS_MODE_OFFSET = 6.0
GPRS_METHOD = "gprs-per-dim"


class PixelCoder:
    """The pixel model of an example: how x is range-coded given z (``recnumba.records`` ``extra``).

    Subclasses implement :meth:`models`; both sides call it with one image's latents (D,), so a
    receiver decoding one record computes exactly what the sender did (no batch-shape dependent BLAS).
    """

    def models(self, z):
        """[(constriction model, (parameters...))] for one image's latents z (D,) float64."""
        raise NotImplementedError

    def segments(self, z, image):
        """The image's pixels (784,) as range-coder segments after its latents."""
        return [(model, params, np.asarray(image, dtype=np.int32)) for model, params in self.models(z)]


# ----------------------------------------------------------------------------- methods

_METHOD_RE = re.compile(r"(plain-orc|partitioned-orc|partitioned-pfr)-(\d+(?:\.\d+)?)(?:-n(\d+))?")
_METHOD_FORMS = (f"{GPRS_METHOD}, plain-orc-<bits> (16: the baseline), partitioned-orc-<bits>, partitioned-orc-<bits>-n<log2 candidates> "
                 "or partitioned-pfr-<bits>")


def parse_method(method):
    """(kind, block_bits, num_samples) of a method name: kind "gprs", "plain-orc", "partitioned-orc" or
    "partitioned-pfr"; block_bits the block budget in bits (None for GPRS); num_samples ORC's candidates
    per block (2^16, or 2^n for ``partitioned-orc-<B>-n<n>``, 10 <= n <= 24; None for GPRS)."""
    if method == GPRS_METHOD:
        return "gprs", None, None
    match = _METHOD_RE.fullmatch(method) if isinstance(method, str) else None
    if match is None:
        raise ValueError(f"unknown method {method!r}; expected {_METHOD_FORMS}")
    kind, bits, log2_samples = match.group(1), float(match.group(2)), match.group(3)
    if log2_samples is not None and (kind != "partitioned-orc" or not 10 <= int(log2_samples) <= 24):
        raise ValueError(f"method {method!r}: -n<log2 candidates> is for partitioned-orc only, with 10 <= n <= 24")
    if bits <= 0:
        raise ValueError(f"method {method!r}: the block budget must be positive")
    return kind, bits, NUM_SAMPLES if log2_samples is None else 1 << int(log2_samples)


def make_plan(method, info_bits):
    """The shared block plan of a method name (see the module docstring); info_bits (D,) in bits."""
    kind, block_bits, num_samples = parse_method(method)
    if kind == "gprs":
        return rn.BlockPlan.per_dimension(info_bits)
    if kind == "plain-orc":
        plan = rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED)
        return rn.BlockPlan([b.dims for b in plan.blocks], [np.ones(len(b.dims), dtype=np.int64) for b in plan.blocks],
                            info_bits, block_bits=block_bits, margin_bits=block_bits, seed=PLAN_SEED,
                            collapsed_below=0.01)
    if kind == "partitioned-orc":
        max_partition_bits = 63 - int(math.log2(num_samples))  # every index (k-1) J + j < N J fits int64
        plan = rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED, margin_bits=ORC_MARGIN_BITS,
                                  packing=ORC_PACKING)
        largest = float(np.max(plan.nominal_bits))
        if largest - ORC_MARGIN_BITS > max_partition_bits:  # keep N J within int64 in the fullest block
            plan = rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED, margin_bits=largest - max_partition_bits,
                                      packing=ORC_PACKING)
        return plan
    return rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED, margin_bits=1.0, packing=PFR_PACKING)


def method_options(method):
    """Keyword arguments of ``recnumba.encode_dataset`` for a method name."""
    kind, _, num_samples = parse_method(method)
    if kind == "gprs":
        return dict(method="gprs")
    if kind == "partitioned-pfr":
        return dict(method="auto", num_samples=NUM_SAMPLES, weights="target", exact_bound_bits=EXACT_BOUND_BITS,
                    max_steps=1 << 24)
    # Target weights for ORC: ratio weights (``weights="auto"`` of encode_dataset, ratio where the
    # block's ratio is bounded) stop only 4% of the 2^16-candidate searches earlier at 26.8-bit blocks
    # and worsen the sample (first 1,000 binarised test images: 128.6 instead of 127.7 bits per image at
    # partitioned-orc-32, 137.6 instead of ~132 at -64).
    return dict(method="orc", num_samples=num_samples, weights="target")


def record_header(plan, prior, method, code=None):
    """The one-off header of a method (``recnumba.records``): plan, prior, seed, method and index code.

    Plain ORC: fixed 16-bit indices. Partitioned methods and GPRS: ``code`` (default ``LATENT_CODE``)."""
    options = method_options(method)
    if code is None:
        code = "fixed" if method.startswith("plain-orc") else LATENT_CODE
    num_samples = options.get("num_samples")
    return RecordHeader(plan, prior, REC_SEED, code=code, method=options["method"], num_samples=num_samples)


# ----------------------------------------------------------------------------- one method

def collapsed_latents(count, num_collapsed, first_item):
    """Shared prior draws for the collapsed dimensions: candidate 0 of a plain REC stream per image."""
    prior = rn.Gaussian(np.zeros((count, num_collapsed)), np.ones((count, num_collapsed)))
    return rn.decode(np.zeros(count, dtype=np.int64), prior, COLLAPSED_SEED,
                     block_ids=np.arange(first_item, first_item + count))


def assemble(active, collapsed, coded, first_item):
    z = np.empty((coded.shape[0], active.size + collapsed.size))
    z[:, active] = coded
    if collapsed.size:
        z[:, collapsed] = collapsed_latents(coded.shape[0], collapsed.size, first_item)
    return z


def _layout(info_bits):
    """(active, collapsed) dimension indices of a per-dimension information vector (bits)."""
    return np.flatnonzero(info_bits >= COLLAPSED_BELOW), np.flatnonzero(info_bits < COLLAPSED_BELOW)


def gprs_scale(loc, scale):
    """Posterior stds for GPRS (module docstring): min(scale, GPRS_MAX_STD, sqrt(L / (L + |loc|))) with
    L = GPRS_MODE_OFFSET, elementwise; loc, scale (N, K) in prior units (prior N(0, 1))."""
    cap = np.sqrt(GPRS_MODE_OFFSET / (GPRS_MODE_OFFSET + np.abs(loc)))
    return np.minimum(scale, np.minimum(cap, GPRS_MAX_STD))


def encode_images(method, pixels, info_bits, images, mu, sigma, first_item=0, progress=False, backend="cpu",
                  chunk=2000):
    """The sender: REC for every image's latents (batched), then one record per image.

    pixels: a :class:`PixelCoder`; info_bits (K,): per-dimension training-set information in bits;
    images (N, 784); mu, sigma (N, K): the posteriors q(z|x); first_item: the first image's number
    (stream keys and check bytes). Returns ``(header, records, encoding, z_sent, clipped)``: the
    ``RecordHeader``, N record bytes, the ``DatasetEncoding`` of the coded dimensions, the latents
    (N, K) both sides use, and the fraction of posterior stds lowered by :func:`gprs_scale` (GPRS only).
    """
    active, collapsed = _layout(info_bits)
    plan = make_plan(method, info_bits[active])
    prior = rn.Gaussian(np.zeros(active.size), np.ones(active.size))
    scale = sigma[:, active]
    clipped = 0.0
    if method == GPRS_METHOD:
        lowered = gprs_scale(mu[:, active], scale)
        clipped = float(np.mean(lowered < scale))
        scale = lowered
    posteriors = rn.Gaussian(mu[:, active], scale)
    encoding = rn.encode_dataset(posteriors, prior, plan, REC_SEED, first_item=first_item, chunk=chunk,
                                 progress=progress, backend=backend, **method_options(method))
    header = record_header(plan, prior, method)
    z_sent = assemble(active, collapsed, encoding.samples, first_item)
    records = [write_record(encoding.indices[i], header, first_item + i, extra=pixels.segments(z_sent[i], x))
               for i, x in enumerate(images)]
    return header, records, encoding, z_sent, clipped


def decode_images(header_bytes, records, pixels, info_bits, first_item=0, backend="cpu"):
    """The receiver: the header once, then each record on its own, as a one-image receiver would.

    Returns ``(images, z)``: uint8 (N, 784) and the latents (N, K). A corrupted record, or one read
    against another header or item number, raises ``recnumba.records.RecordError``."""
    active, collapsed = _layout(info_bits)
    received = RecordHeader.from_bytes(header_bytes)
    decode_method = "gprs" if received.method == "gprs" else None
    decoded, z = [], np.empty((len(records), active.size + collapsed.size))
    for i, record in enumerate(records):
        item = first_item + i

        def pixel_model(indices, i=i, item=item):
            coded = rn.decode_dataset(indices[None], received.prior, received.plan, received.seed, first_item=item,
                                      backend=backend, method=decode_method)
            z[i] = assemble(active, collapsed, coded, item)[0]
            return pixels.models(z[i])

        _, (pixels_read,) = read_record(record, received, item, extra=pixel_model)
        decoded.append(pixels_read)
    return np.asarray(decoded, dtype=np.uint8).reshape(len(records), -1), z


def run_method(method, pixels, info_bits, images, mu, sigma, first_item, progress, backend="cpu", chunk=2000):
    """Encode and decode ``images`` (N, 784) with one method (:func:`encode_images`, :func:`decode_images`);
    returns the method's JSON entry (bits from the records' lengths, seconds, lossless)."""
    count = len(images)
    started = time.perf_counter()
    header, records, encoding, z_sent, clipped = encode_images(method, pixels, info_bits, images, mu, sigma,
                                                               first_item, progress, backend, chunk)
    encode_seconds = time.perf_counter() - started
    started = time.perf_counter()
    decoded, z = decode_images(header.to_bytes(), records, pixels, info_bits, first_item, backend)
    decode_seconds = time.perf_counter() - started
    plan, prior = header.plan, header.prior
    is_gprs = method == GPRS_METHOD

    total = 8 * sum(len(r) for r in records)
    by_code = {}
    for code in (LATENT_CODES if not method.startswith("plain-orc") else ("fixed",)):
        blocks = record_header(plan, prior, method, code)._blocks
        by_code[code] = float(np.mean([write_indices(row, code, blocks)[1] for row in encoding.indices]))
    latent_bits = by_code[header.code] * count
    image_bits = total - latent_bits
    lossless = bool(np.array_equal(decoded, images)) and z.tobytes() == z_sent.tobytes()
    result = {
        "bits_per_image": total / count,
        "latent_bits_per_image": latent_bits / count,
        "image_bits_per_image": image_bits / count,
        "record_code": header.code,
        "header_bytes": len(header.to_bytes()),
        "latent_bits_per_image_by_code": by_code,
        "bits_per_dim": total / count / images.shape[1],
        "kl_bits_per_image": float(encoding.kl_bits.mean()),
        "index_log2_bits_per_image": float(encoding.ideal_bits.mean()),
        "num_blocks": plan.num_blocks,
        "mean_partition_bits": float(np.mean(plan.partition_bits)),
        "mean_steps_per_block": float(encoding.steps.mean()),
        "exact_block_fraction": float(encoding.exact.mean()),
        "encode_seconds": encode_seconds,
        "decode_seconds": decode_seconds,
        "lossless": lossless,
    }
    if is_gprs:
        result["adjusted_std_fraction"] = clipped
    return result


# ----------------------------------------------------------------------------- driver

def parse_args(argv, description, default_methods, extra=None, fixture_images=200):
    """The examples' common command line; ``extra(parser)`` may add example-specific options;
    ``fixture_images``: the size of the example's shipped subset (for the help text)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=0, help="first image (default 0)")
    parser.add_argument("--count", type=int, default=None, help="number of images (default: all from --start)")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write the results here")
    parser.add_argument("--methods", nargs="+", default=list(default_methods), help="methods to run")
    parser.add_argument("--fixture", action="store_true", help=f"use the shipped {fixture_images}-image test subset (no download)")
    parser.add_argument("--weights", type=pathlib.Path, default=None, help="VAE weights (.npz)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--backend", choices=("cpu", "cuda", "auto"), default="cpu",
                        help="where REC searches and decodes run (recnumba backend; same indices and samples "
                             "on every backend; 'auto' uses a GPU for calls of >= 256 blocks when there is one)")
    parser.add_argument("--chunk", type=int, default=2000, help="images per REC call (default 2000)")
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    if args.chunk < 1:
        raise ValueError(f"--chunk must be >= 1; got {args.chunk}")
    for method in args.methods:
        make_plan(method, np.ones(2))  # an unknown method name fails before any work
    return args


def select_images(images, start, count):
    """images[start:start + count] as contiguous uint8; ValueError naming --start / --count if out of range."""
    if not 0 <= start < len(images):
        raise ValueError(f"--start must be in [0, {len(images)}); got {start}")
    stop = len(images) if count is None else start + count
    if count is not None and (count < 1 or stop > len(images)):
        raise ValueError(f"--count must be in [1, {len(images) - start}] for --start {start}")
    return np.ascontiguousarray(images[start:stop], dtype=np.uint8)


def run_methods(results, methods, pixels, info_bits, images, mu, sigma, first_item, progress, backend, chunk):
    """Run every method into ``results["methods"]`` (with the overhead decomposition against the ELBO
    terms ``results["neg_elbo_bits"]`` and ``results["elbo_kl_bits"]``) and set ``results["lossless"]``."""
    neg_elbo, kl_all = results["neg_elbo_bits"], results["elbo_kl_bits"]
    for method in methods:
        print(f"{method} ...", file=sys.stderr, flush=True)
        m = run_method(method, pixels, info_bits, images, mu, sigma, first_item, progress=progress,
                       backend=backend, chunk=chunk)
        # where the bits above the negative ELBO go (per image): index code beyond sum log2(n + 1),
        # sum log2(n + 1) against the KL (partition waste, or ORC under-spending), and the image bits
        # against the ELBO's reconstruction term (ORC's inexact sample; about 0 for exact samples)
        m["overhead_bits_per_image"] = {
            "index_code": m["latent_bits_per_image"] - m["index_log2_bits_per_image"],
            "index_vs_kl": m["index_log2_bits_per_image"] - kl_all,
            "image_vs_reconstruction": m["image_bits_per_image"] - (neg_elbo - kl_all),
        }
        m["relative_overhead_vs_neg_elbo"] = m["bits_per_image"] / neg_elbo - 1.0
        results["methods"][method] = m
        print(f"{method}: {m['bits_per_image']:.2f} bits/image, lossless {m['lossless']}, encode "
              f"{m['encode_seconds']:.1f} s, decode {m['decode_seconds']:.1f} s", file=sys.stderr, flush=True)
    results["lossless"] = all(m["lossless"] for m in results["methods"].values())
    return results


def print_table(results):
    neg_elbo = results["neg_elbo_bits"]
    print(f"{results['count']} test images from {results['start']}; negative ELBO {neg_elbo:.2f} bits/image; "
          f"lossless: {results['lossless']}")
    print(f"{'method':<22}{'bits/img':>10}{'latent':>9}{'KL':>8}{'bits/dim':>10}{'vs ELBO':>9}"
          f"{'enc s':>8}{'dec s':>8}{'lossless':>9}")
    for name, m in results["methods"].items():
        print(f"{name:<22}{m['bits_per_image']:>10.2f}{m['latent_bits_per_image']:>9.2f}{m['kl_bits_per_image']:>8.2f}"
              f"{m['bits_per_dim']:>10.4f}{100 * (m['bits_per_image'] / neg_elbo - 1):>8.2f}%"
              f"{m['encode_seconds']:>8.1f}{m['decode_seconds']:>8.1f}{str(m['lossless']):>9}")


def write_json(results, path):
    if path:
        pathlib.Path(path).write_text(json.dumps(results, indent=2))
        print(f"wrote {path}")


def merge_json(paths, out=None):
    """One results dict from runs of different methods on the same images (``--methods`` split over
    processes): the runs must agree on count, start, split and ``neg_elbo_bits``; methods are united,
    ``lossless`` is re-derived from theirs. Writes ``out`` if given; returns the dict."""
    runs = [json.loads(pathlib.Path(p).read_text()) for p in paths]
    if not runs:
        raise ValueError("paths: give at least one results file")
    merged = dict(runs[0], methods={})
    for path, run in zip(paths, runs):
        for key in ("count", "start", "split", "neg_elbo_bits"):
            if run.get(key) != merged.get(key):
                raise ValueError(f"paths: {path} has {key} = {run.get(key)!r}, the first file {merged.get(key)!r}")
        overlap = set(run["methods"]) & set(merged["methods"])
        if overlap:
            raise ValueError(f"paths: {path} repeats methods {sorted(overlap)}")
        merged["methods"].update(run["methods"])
    merged["lossless"] = all(m["lossless"] for m in merged["methods"].values())
    merged["merged_from"] = [pathlib.Path(p).name for p in paths]
    if out is not None:
        write_json(merged, out)
    return merged
