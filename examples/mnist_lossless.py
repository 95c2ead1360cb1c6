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

import pathlib
import sys

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the ``mnist`` helper package beside this script

import constriction  # noqa: E402

from mnist import data as mnist_data  # noqa: E402
from mnist import vae  # noqa: E402
from mnist.lossless import (  # noqa: E402,F401  (re-exported: this script is the template to copy)
    COLLAPSED_BELOW, COLLAPSED_SEED, EXACT_BOUND_BITS, LATENT_CODE, LATENT_CODES, MAX_PARTITION_BITS, NUM_SAMPLES,
    ORC_MARGIN_BITS, ORC_PACKING, PFR_PACKING, PLAN_SEED, REC_SEED, PixelCoder, assemble, collapsed_latents,
    make_plan, method_options, record_header)
from mnist import lossless  # noqa: E402

#: ``partitioned-orc-48`` is left out: with balanced packing its plan is the same as -32's (two blocks of
#: 26.8 bits), so it would give identical indices (run it with ``--methods`` if wanted).
DEFAULT_METHODS = ("plain-orc-16", "partitioned-orc-24", "partitioned-orc-32", "partitioned-orc-64",
                   "partitioned-pfr-8")


# ----------------------------------------------------------------------------- image coding

def _bernoulli():
    return constriction.stream.model.Bernoulli(perfect=False)


def image_probabilities(weights, z):
    """P(pixel = 1 | z) (784,) for one image's latents (D,). One image per call on both sides: a
    receiver decoding one record computes exactly what the sender did (no batch-shape dependent BLAS)."""
    return vae.bernoulli_probabilities(weights, z[None])[0]


class BernoulliPixels(PixelCoder):
    """Binarised pixels given z: one Bernoulli per pixel from the decoder (constriction, perfect=False)."""

    def __init__(self, weights):
        self.weights = weights

    def models(self, z):
        return [(_bernoulli(), (image_probabilities(self.weights, z),))]


def image_segments(weights, z, image):
    """The image's pixels as a range-coder segment after its latents (``recnumba.records`` ``extra``)."""
    return BernoulliPixels(weights).segments(z, image)


def images_dim(weights):
    return vae._params(weights)["dec_b2"].shape[0]


def run_method(method, weights, images, mu, sigma, first_item, progress, backend="cpu", chunk=2000):
    """One method on binarised images (``mnist.lossless.run_method`` with the Bernoulli pixel model)."""
    return lossless.run_method(method, BernoulliPixels(weights), weights.info_bits, images, mu, sigma, first_item,
                               progress, backend=backend, chunk=chunk)


# ----------------------------------------------------------------------------- driver

def parse_args(argv=None):
    def extra(parser):
        parser.add_argument("--plot", type=pathlib.Path, default=None, help="write a PNG of bits vs block budget")

    return lossless.parse_args(argv, __doc__.split("\n\n")[0], DEFAULT_METHODS, extra)


def load_images(args):
    images = mnist_data.load_fixture() if args.fixture else mnist_data.load_mnist("test")
    return lossless.select_images(images, args.start, args.count)


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
    lossless.run_methods(results, args.methods, BernoulliPixels(weights), weights.info_bits, images, mu, sigma,
                         args.start, progress=not args.no_progress, backend=args.backend, chunk=args.chunk)
    lossless.print_table(results)
    lossless.write_json(results, args.json)
    if args.plot:
        plot(results, args.plot)
        print(f"wrote {args.plot}")
    return 0 if results["lossless"] else 1


if __name__ == "__main__":
    sys.exit(main())
