"""Lossless MNIST compression with a VAE and relative entropy coding (a template to copy).

The codec, per image x (binarized MNIST, 784 pixels):

1. the VAE encoder gives the posterior q(z|x) = N(mu, sigma^2) over 50 latent dimensions;
2. REC sends one sample z ~ q(z|x) under the prior N(0, I), block by block (a ``BlockPlan`` built from
   the per-dimension information measured on the training set), in about KL[q||p] bits;
3. the receiver rebuilds z bit for bit, runs the decoder, and both sides range-code x with the
   decoder's Bernoulli probabilities (constriction's range coder).

Each image becomes one record (``recnumba.records``): its block indices under the header's index
code, then its pixels given z in the same range-coded stream (``write_record(..., extra=...)``),
trimmed to the bits it needs, zero-padded to a byte, plus one CRC-8 check byte. Plan, prior, seed,
method and code go once into a ``RecordHeader`` (about 1.8 kB, reported separately as
``header_bytes``), so the bits per image do not depend on how many images a run codes. The
receiver decodes each record on its own, one image at a time, as a one-image receiver would.

Expected total: KL + E[-log2 p(x|z)] = the negative ELBO, plus REC's overheads, which is what the
methods below compare:

* ``plain-orc-16``: 16-bit blocks, ORC with 2^16 candidates, no partition, fixed 16-bit indices
  (the RECOMBINER-style baseline);
* ``partitioned-orc-<B>``: blocks of at most B bits, as few as the budget allows and of nearly equal
  information (``packing="balanced"``: 24 -> 3 blocks of 17.9 bits, 32 and 48 -> 2 of 26.8, 64 -> 1),
  ORC with 2^16 candidates on a space partition (log2 J = the block's nominal information minus
  ``ORC_MARGIN_BITS``, or minus more where that would exceed 47 bits, so that every index fits int64;
  target bin weights), indices under the zeta code (``LATENT_CODE``: the bin j uniformly, the rank k
  in the bin under ζ(k | α) with α from the block's planned information, arithmetic-coded);
* ``partitioned-pfr-<B>``: small blocks (balanced packing, log2 J one bit below each block's
  information) with exact partitioned PFR (ratio weights), zeta code.
  A few posteriors are far outliers (a block's search bound reached 2^100 steps on the test set, and a
  scale may exceed the prior's), so this runs ``method="auto"``: exact PFR in every block whose
  search bound is at most 2^20 steps, partitioned ORC (2^16) in the others. The decoder needs no side
  information for that; the JSON reports the exact fraction.

Collapsed latent dimensions (less than 0.01 bits of information on the training set; 12 of 50 here)
are not REC-coded: both sides take them from a shared prior stream (seed ``COLLAPSED_SEED``), which
costs no bits and differs from q in those dimensions by under 0.005 bits of KL each. That does not
affect losslessness: any z that both sides agree on decodes x exactly; it only moves the bit counts,
which are measured.

Every bit counted is a bit written: ``bits_per_image`` is 8 x the mean record length;
``latent_bits_per_image`` is the indices' share (their code's exact length, also given for every
code in ``latent_bits_per_image_by_code``), and ``image_bits_per_image`` the rest (pixels, the
stream's termination, padding and check byte).

Usage::

    python examples/mnist_lossless.py --start 0 --count 10000 --json results.json --plot bits.png
    python examples/mnist_lossless.py --fixture --count 50      # shipped 200-image subset, no download
    python examples/mnist_lossless.py --backend auto --chunk 10000 --json gpu.json   # REC on a GPU if any

Timing on the 2-core development machine (CPU backend): about 600 s of encoding per 1,000 images for
the five default methods (each partitioned ORC method scores 2^16 candidates in nearly every block),
so the whole test set takes over an hour there; see ``docs/mnist_overhead.md``.

The JSON holds ``count``, ``lossless`` (every image of every method round-tripped), ``neg_elbo_bits``
and ``methods``: name -> {bits_per_image, latent_bits_per_image, encode_seconds, decode_seconds, ...}.
"""

from __future__ import annotations

import argparse
import json
import math
import pathlib
import sys
import time

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the ``mnist`` helper package beside this script

import constriction  # noqa: E402

import recnumba as rn  # noqa: E402
from recnumba.coding.index_codes import write_indices  # noqa: E402
from recnumba.records import RecordHeader, read_record, write_record  # noqa: E402
from mnist import data as mnist_data  # noqa: E402
from mnist import vae  # noqa: E402

NUM_SAMPLES = 1 << 16
REC_SEED = 20241127
PLAN_SEED = 0
COLLAPSED_SEED = REC_SEED + 1
COLLAPSED_BELOW = 0.01
EXACT_BOUND_BITS = 20.0
#: log2 J sits this far below a partitioned ORC block's nominal information. Smaller J wastes fewer
#: index bits on items whose KL is below log2 J (the index always spends about log2 J bits) but
#: makes ORC's sample worse on items whose KL is far above it. Measured on the first 1,000 test
#: images (bits per image, ideal codelengths): 32-bit next-fit blocks, margin 4: 128.4, 8: 127.9,
#: 12: 129.6; balanced 26.8-bit blocks, margin 6: 127.7, 8: 128.3 (see docs/mnist_overhead.md).
ORC_MARGIN_BITS = 6.0
ORC_PACKING = "balanced"
#: Balanced packing for exact PFR too: 8-bit budget -> 7 blocks of 7.6-7.9 bits instead of next fit's 8
#: (first 1,000 test images: 141.2 instead of 143.1 bits per image). ``partitioned-pfr-12`` (5 blocks of
#: ~10.7 bits) gives 137.2 bits per image in 33 s per 1,000 images.
PFR_PACKING = "balanced"
#: Index code of the partitioned methods' per-image latent records (``recnumba.records``);
#: ``LATENT_CODES`` are all measured (``latent_bits_per_image_by_code`` in the JSON).
LATENT_CODE = "zeta"
LATENT_CODES = ("delta", "two-part", "zeta")
MAX_PARTITION_BITS = 63 - int(math.log2(NUM_SAMPLES))  # every index (k-1) J + j < N J fits int64
#: ``partitioned-orc-48`` is left out: with balanced packing its plan is the same as -32's (two blocks of
#: 26.8 bits), so it would give identical indices (run it with ``--methods`` if wanted).
DEFAULT_METHODS = ("plain-orc-16", "partitioned-orc-24", "partitioned-orc-32", "partitioned-orc-64",
                   "partitioned-pfr-8")


# ----------------------------------------------------------------------------- methods

def make_plan(method, info_bits):
    """The shared block plan of a method name (see the module docstring)."""
    kind, block_bits = method.rsplit("-", 1)
    block_bits = float(block_bits)
    if kind == "plain-orc":
        plan = rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED)
        return rn.BlockPlan([b.dims for b in plan.blocks], [np.ones(len(b.dims), dtype=np.int64) for b in plan.blocks],
                            info_bits, block_bits=block_bits, margin_bits=block_bits, seed=PLAN_SEED,
                            collapsed_below=0.01)
    if kind == "partitioned-orc":
        plan = rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED, margin_bits=ORC_MARGIN_BITS,
                                  packing=ORC_PACKING)
        largest = float(np.max(plan.nominal_bits))
        if largest - ORC_MARGIN_BITS > MAX_PARTITION_BITS:  # keep N J within int64 in the fullest block
            plan = rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED, margin_bits=largest - MAX_PARTITION_BITS,
                                      packing=ORC_PACKING)
        return plan
    if kind == "partitioned-pfr":
        return rn.BlockPlan.build(info_bits, block_bits, seed=PLAN_SEED, margin_bits=1.0, packing=PFR_PACKING)
    raise ValueError(f"unknown method {method!r}; expected plain-orc-16, partitioned-orc-<bits> or "
                     "partitioned-pfr-<bits>")


def method_options(method):
    if method.startswith("partitioned-pfr"):
        return dict(method="auto", num_samples=NUM_SAMPLES, weights="target", exact_bound_bits=EXACT_BOUND_BITS,
                    max_steps=1 << 24)
    # Target weights for ORC: ratio weights (``weights="auto"`` of encode_dataset, ratio where the
    # block's ratio is bounded) stop only 4% of the 2^16-candidate searches earlier at 26.8-bit blocks
    # and worsen the sample (first 1,000 test images: 128.6 instead of 127.7 bits per image at
    # partitioned-orc-32, 137.6 instead of ~132 at -64).
    return dict(method="orc", num_samples=NUM_SAMPLES, weights="target")


def record_header(plan, prior, method, code=None):
    """The one-off header of a method (``recnumba.records``): plan, prior, seed, method and index code.

    Plain ORC: fixed 16-bit indices. Partitioned methods: ``code`` (default ``LATENT_CODE``)."""
    options = method_options(method)
    if code is None:
        code = "fixed" if method.startswith("plain-orc") else LATENT_CODE
    return RecordHeader(plan, prior, REC_SEED, code=code, method=options["method"], num_samples=NUM_SAMPLES)


# ----------------------------------------------------------------------------- image coding

def _bernoulli():
    return constriction.stream.model.Bernoulli(perfect=False)


def image_probabilities(weights, z):
    """P(pixel = 1 | z) (784,) for one image's latents (D,). One image per call on both sides: a
    receiver decoding one record computes exactly what the sender did (no batch-shape dependent BLAS)."""
    return vae.bernoulli_probabilities(weights, z[None])[0]


def image_segments(weights, z, image):
    """The image's pixels as a range-coder segment after its latents (``recnumba.records`` ``extra``)."""
    return [(_bernoulli(), (image_probabilities(weights, z),), image.astype(np.int32))]


def images_dim(weights):
    return vae._params(weights)["dec_b2"].shape[0]


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


def run_method(method, weights, images, mu, sigma, first_item, progress, backend="cpu", chunk=2000):
    active = np.flatnonzero(weights.info_bits >= COLLAPSED_BELOW)
    collapsed = np.flatnonzero(weights.info_bits < COLLAPSED_BELOW)
    plan = make_plan(method, weights.info_bits[active])
    prior = rn.Gaussian(np.zeros(active.size), np.ones(active.size))
    posteriors = rn.Gaussian(mu[:, active], sigma[:, active])
    count = len(images)

    # The sender: REC for every image's latents (batched), then one record per image holding its
    # block indices and, in the same stream, its pixels given the latents.
    started = time.perf_counter()
    encoding = rn.encode_dataset(posteriors, prior, plan, REC_SEED, first_item=first_item, chunk=chunk,
                                 progress=progress, backend=backend, **method_options(method))
    header = record_header(plan, prior, method)
    z_sent = assemble(active, collapsed, encoding.samples, first_item)
    records = [write_record(encoding.indices[i], header, first_item + i, extra=image_segments(weights, z_sent[i], x))
               for i, x in enumerate(images)]
    encode_seconds = time.perf_counter() - started

    # The receiver: the header once, then each record on its own, as a one-image receiver would.
    started = time.perf_counter()
    received = RecordHeader.from_bytes(header.to_bytes())
    decoded, z = np.empty_like(images), np.empty_like(z_sent)
    for i, record in enumerate(records):
        item = first_item + i

        def pixel_model(indices, i=i, item=item):
            coded = rn.decode_dataset(indices[None], received.prior, received.plan, received.seed, first_item=item,
                                      backend=backend)
            z[i] = assemble(active, collapsed, coded, item)[0]
            return [(_bernoulli(), (image_probabilities(weights, z[i]),))]

        _, (pixels,) = read_record(record, received, item, extra=pixel_model)
        decoded[i] = pixels
    decode_seconds = time.perf_counter() - started

    total = 8 * sum(len(r) for r in records)
    by_code = {}
    for code in (LATENT_CODES if not method.startswith("plain-orc") else ("fixed",)):
        blocks = record_header(plan, prior, method, code)._blocks
        by_code[code] = float(np.mean([write_indices(row, code, blocks)[1] for row in encoding.indices]))
    latent_bits = by_code[header.code] * count
    image_bits = total - latent_bits
    lossless = bool(np.array_equal(decoded, images)) and z.tobytes() == z_sent.tobytes()
    return {
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


# ----------------------------------------------------------------------------- driver

def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--start", type=int, default=0, help="first test image (default 0)")
    parser.add_argument("--count", type=int, default=None, help="number of images (default: all from --start)")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write the results here")
    parser.add_argument("--plot", type=pathlib.Path, default=None, help="write a PNG of bits vs block budget")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS), help="methods to run")
    parser.add_argument("--fixture", action="store_true", help="use the shipped 200-image test subset (no download)")
    parser.add_argument("--weights", type=pathlib.Path, default=None, help="VAE weights (.npz)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--backend", choices=("cpu", "cuda", "auto"), default="cpu",
                        help="where REC searches and decodes run (recnumba backend; same indices and samples "
                             "on every backend; 'auto' uses a GPU for calls of >= 256 blocks when there is one)")
    parser.add_argument("--chunk", type=int, default=2000, help="images per REC call (default 2000)")
    return parser.parse_args(argv)


def load_images(args):
    images = mnist_data.load_fixture() if args.fixture else mnist_data.load_mnist("test")
    if not 0 <= args.start < len(images):
        raise ValueError(f"--start must be in [0, {len(images)}); got {args.start}")
    stop = len(images) if args.count is None else args.start + args.count
    if args.count is not None and (args.count < 1 or stop > len(images)):
        raise ValueError(f"--count must be in [1, {len(images) - args.start}] for --start {args.start}")
    return np.ascontiguousarray(images[args.start:stop], dtype=np.uint8)


def plot(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = results["methods"]
    orc = sorted((int(name.rsplit("-", 1)[1]), values) for name, values in methods.items()
                 if name.startswith("partitioned-orc"))
    fig, ax = plt.subplots(figsize=(6, 4))
    if orc:
        ax.plot([b for b, _ in orc], [v["bits_per_image"] for _, v in orc], "o-", label="partitioned ORC, 2^16")
    for name, values in methods.items():
        if not name.startswith("partitioned-orc"):
            block = int(name.rsplit("-", 1)[1])
            ax.plot([block], [values["bits_per_image"]], "s", label=name)
    ax.axhline(results["neg_elbo_bits"], color="k", ls="--", label="negative ELBO (optimum)")
    ax.set_xlabel("block budget (bits of KL per block)")
    ax.set_ylabel("total bits per image")
    ax.set_title(f"Lossless MNIST, {results['count']} test images")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    weights = vae.load_weights(args.weights)
    if weights.info_bits is None:
        raise ValueError("the weights file has no info_bits (per-dimension information); retrain with train_vae.py")
    images = load_images(args)
    mu, sigma = vae.encode(weights, images.astype(np.float64))
    neg_elbo = float(vae.negative_elbo_bits(weights, images.astype(np.float64), num_samples=1,
                                            rng=np.random.default_rng(0)).mean())
    # the ELBO's reconstruction term: the image bits an exact sample of q(z|x) costs on average
    kl_all = float((vae.kl_to_standard_normal(mu, sigma).sum(axis=1) / vae.LN2).mean())
    results = {"count": int(len(images)), "start": args.start, "backend": args.backend, "neg_elbo_bits": neg_elbo,
               "elbo_kl_bits": kl_all, "elbo_reconstruction_bits": neg_elbo - kl_all, "methods": {}}
    for method in args.methods:
        print(f"{method} ...", file=sys.stderr, flush=True)
        m = run_method(method, weights, images, mu, sigma, args.start, progress=not args.no_progress,
                       backend=args.backend, chunk=args.chunk)
        # where the bits above the negative ELBO go (per image): index code beyond sum log2(n + 1),
        # sum log2(n + 1) against the KL (partition waste, or ORC under-spending), and the image bits
        # against the ELBO's reconstruction term (ORC's inexact sample; about 0 for exact samples)
        m["overhead_bits_per_image"] = {
            "index_code": m["latent_bits_per_image"] - m["index_log2_bits_per_image"],
            "index_vs_kl": m["index_log2_bits_per_image"] - kl_all,
            "image_vs_reconstruction": m["image_bits_per_image"] - (neg_elbo - kl_all),
        }
        results["methods"][method] = m
    results["lossless"] = all(m["lossless"] for m in results["methods"].values())

    print(f"{len(images)} test images from {args.start}; negative ELBO {neg_elbo:.2f} bits/image; "
          f"lossless: {results['lossless']}")
    print(f"{'method':<22}{'bits/img':>10}{'latent':>9}{'KL':>8}{'bits/dim':>10}{'vs ELBO':>9}"
          f"{'enc s':>8}{'dec s':>8}{'lossless':>9}")
    for name, m in results["methods"].items():
        print(f"{name:<22}{m['bits_per_image']:>10.2f}{m['latent_bits_per_image']:>9.2f}{m['kl_bits_per_image']:>8.2f}"
              f"{m['bits_per_dim']:>10.4f}{100 * (m['bits_per_image'] / neg_elbo - 1):>8.2f}%"
              f"{m['encode_seconds']:>8.1f}{m['decode_seconds']:>8.1f}{str(m['lossless']):>9}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 0 if results["lossless"] else 1


if __name__ == "__main__":
    sys.exit(main())
