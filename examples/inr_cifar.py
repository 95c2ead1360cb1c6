"""Lossy compression of real CIFAR-10 test images with an INR (COMBINER/RECOMBINER-style) and REC.

For each bitrate (beta): build the block plans from the training-average KL at that beta (the prior's
training images fitted under it; ``--prior cifar-like``, the default: ``examples/inr/prior_cifarlike.npz``,
learned on 80 CIFAR-100 / downsampled ImageNet images of the foolbox wheel and their mirror images;
``--prior natural-patches``: ``examples/inr/prior_default.npz``, learned on scikit-image patches; both are
stand-ins for CIFAR-10 training data, which is not obtainable offline), fit the test images' posteriors with
per-block KL control, and code every block with ORC (2^16 candidates):

* ``plain-orc-16``: blocks of <= 16 bits, no partition;
* ``partitioned-orc-48``: blocks of <= 48 bits, log2 J <= nominal - 16 intervals by information;

each with progressive fine-tuning (the not-yet-coded posteriors tuned after each block; the same total
number of tuning steps for both plans, ``--tune-total``) and without it (``*-no-ft``, from the same fit),
and at one beta the partition ablation (``partitioned-orc-48-random``, ``-collapsed-only``). Every method
writes per-image records (bpp from their bytes), decodes them, rebuilds the images from the decoded
weights and checks them bit for bit against the encoder's. JPEG / WebP / PNG (Pillow) on the same images,
the Bjøntegaard delta rate of partitioned vs plain, and an RD figure complete the report.

    python examples/inr_cifar.py --images 0-19 --json out.json --figure out.png
    python examples/inr_cifar.py --merge a.json b.json --json out.json --figure out.png   (combine runs)

torch (CPU build is enough) is an optional dependency of this example only.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inr import data, fit, model, prior, rd, rec  # noqa: E402
from recnumba.records import RecordHeader, write_records  # noqa: E402

METHODS = {
    # code: each method's index code for its records (the JSON's bpp_by_code has all three for every row,
    # and bd_rate_best_code judges every row by its shortest). Plain ORC's indices are < 2^16: 16 fixed bits
    # per block (as examples/mnist_lossless.py does; with the natural-patch prior zeta cost 3-7 % more; with
    # the cifar-like prior zeta is 0.8-1.7 % shorter at 3 of the 4 default betas). Partitioned: the bin j in
    # log2 J raw bits, then Elias delta of the rank k ("two-part", within 1 % of zeta or shorter, whose
    # exponent assumes the planned information is all sent).
    "plain-orc-16": dict(plan=lambda kl, s: rec.plain_plan(kl, 16.0, seed=s), budget=16.0, code="fixed"),
    "partitioned-orc-48": dict(plan=lambda kl, s: rec.partitioned_plan(kl, 48.0, seed=s), budget=48.0,
                               code="two-part"),
    # extra (not in the default set): smaller partitioned blocks leave fewer bits of bin entropy
    "partitioned-orc-32": dict(plan=lambda kl, s: rec.partitioned_plan(kl, 32.0, seed=s), budget=32.0,
                               code="two-part"),
}
DEFAULT_METHODS = ("plain-orc-16", "partitioned-orc-48")
CODES = ("fixed", "zeta", "two-part")
DEFAULT_BETAS = (5e-4, 1e-3, 2e-3, 4e-3)
ABLATION_BETA = 1e-3
BD_PAIRS = (("partitioned-orc-48", "plain-orc-16"), ("partitioned-orc-48-no-ft", "plain-orc-16-no-ft"),
            ("partitioned-orc-32", "plain-orc-16"))


def parse_range(text):
    """'0-3,7' -> [0, 1, 2, 3, 7] (ValueError naming --images otherwise)."""
    out = []
    try:
        for part in str(text).split(","):
            a, _, b = part.partition("-")
            lo, hi = int(a), int(b or a)
            if hi < lo:
                raise ValueError
            out.extend(range(lo, hi + 1))
    except ValueError:
        raise ValueError(f"--images must look like '0-19' or '0-3,7'; got {text!r}") from None
    return out


def _check(images_idx, betas, methods, fit_steps, tune_total):
    if not images_idx or any(not 0 <= i < len(data.CIFAR_LABELS) for i in images_idx):
        raise ValueError(f"images must be indices in [0, {len(data.CIFAR_LABELS)}); got {images_idx!r}")
    if len(set(images_idx)) != len(images_idx):
        raise ValueError(f"images must not repeat; got {images_idx!r}")
    if not betas or any(not (isinstance(b, float) and b > 0) for b in betas):
        raise ValueError(f"betas must be floats > 0; got {betas!r}")
    bad = [m for m in methods if m not in METHODS]
    if bad or not methods:
        raise ValueError(f"methods must be among {list(METHODS)}; got {methods!r}")
    if not (isinstance(fit_steps, int) and fit_steps >= 1):
        raise ValueError(f"fit_steps must be an integer >= 1; got {fit_steps!r}")
    if not (isinstance(tune_total, int) and tune_total >= 0):
        raise ValueError(f"tune_total must be an integer >= 0; got {tune_total!r}")


def run(images_idx, betas=DEFAULT_BETAS, methods=DEFAULT_METHODS, fit_steps=2000, tune_total=1500, seed=0,
        no_ft=True, ablation_beta=ABLATION_BETA, control=True, init="prior", plan_patches="default",
        plan_steps="default", classical=True, prior_name="cifar-like", code=None, num_samples=rec.NUM_SAMPLES, save_indices=None, on_row=None,
        log=print):
    """Run the example; returns the JSON-ready result dict (see the module docstring).

    images_idx: CIFAR-10 test indices (0-19); betas: trade-offs (KL bits per pixel weight in the loss);
    fit_steps: Adam steps of the posterior fit; tune_total: fine-tuning steps per image summed over the
    blocks (per block: round(tune_total / num_blocks), at least 1; 0 = none); no_ft: also code each fit
    one-shot (``*-no-ft``); ablation_beta: the beta of the partition ablation (None: none);
    plan_patches / plan_steps: the training fit that gives each beta's training-average KL ("default": all 80
    cifar-like images for ``fit_steps`` steps, as the test images are fitted; 64 natural patches for 1,000
    steps, issue #13's first runs); prior_name: the shipped prior, "cifar-like" or "natural-patches"
    (``prior.PRIORS``), whose training images also give the plans' information; code: the
    records' index code (``recnumba.records.RECORD_CODES``) for every method, or None: each method's own
    (``METHODS[name]["code"]``: "fixed" for plain ORC, "two-part" for partitioned); num_samples: ORC candidates
    per block (2^16; smaller only for quick tests); save_indices: a folder for every row's (N, num_blocks)
    ORC indices (``indices_{method}_beta{beta}.npy``), or None; on_row: called with the partial result
    after every row (the command line writes ``--json`` then, so a long run leaves its finished rows).
    """
    images_idx = list(map(int, images_idx))
    betas = [float(b) for b in betas]
    methods = list(methods)
    _check(images_idx, betas, methods, fit_steps, tune_total)
    if prior_name not in prior.PRIORS:
        raise ValueError(f"prior_name must be one of {list(prior.PRIORS)}; got {prior_name!r}")
    cifarlike = prior_name == "cifar-like"
    if plan_patches == "default":
        plan_patches = None if cifarlike else 64
    if plan_steps == "default":
        plan_steps = fit_steps if cifarlike else 1000
    cfg, pr, _, meta = prior.load_prior(prior_name)
    x_all, _ = data.load_cifar10_test20()
    x = x_all[images_idx]
    out = dict(images=images_idx, decoded_match=True, methods={},
               prior=dict(meta, history=None), fit_steps=fit_steps, tune_total=tune_total, init=init, code=code, num_samples=num_samples,
               prior_name=prior_name,
               plan=dict(patches=plan_patches, steps=plan_steps,
                         info=f"training-average KL at each beta ({prior_name} training images, stand-in)"),
               control=dict(adjust_every=5, factor=1.1, mode="cap", projection="each block held to its "
                            "budget just before coding (fit.project_to_budget)") if control else None,
               note=f"prior learned on {prior_name} training images (stand-in for CIFAR-10 train); 2-core shared CPU, "
                    f"{torch.get_num_threads()} torch thread(s)")
    for beta in betas:
        info = prior.training_kl(cfg, pr, beta, plan_patches, plan_steps, seed, log=log, source=prior_name)
        for name in methods:
            spec = METHODS[name]
            plan = spec["plan"](info, seed)
            budget = spec["budget"]
            blocks = [b.dims for b in plan.blocks]
            ctl = fit.KlControl(blocks, np.full(plan.num_blocks, budget), adjust_every=5, factor=1.1) \
                if control else None
            log(f"{name} beta {beta:g}: {plan.num_blocks} blocks; fitting {len(x)} images x {fit_steps} steps")
            f = fit.fit_images(cfg, pr, x, beta, steps=fit_steps, seed=seed, control=ctl, init=init)
            bk = fit.block_kl_np(f.kl_bits, blocks)
            fit_row = dict(fit_sample_psnr=float(f.sample_psnr.mean()), fit_mean_psnr=float(f.mean_psnr.mean()),
                           fit_kl_bpp=float(f.kl_bits.sum(1).mean() / cfg.num_pixels),
                           fit_max_block_kl_bits=float(bk.max()),
                           fit_blocks_over_budget=float((bk > budget + 1e-9).mean()),
                           fit_seconds=f.seconds, num_blocks=plan.num_blocks, budget_bits=budget,
                           plan_nominal_bpp=float(plan.nominal_bits.sum() / cfg.num_pixels))
            tune = max(1, round(tune_total / plan.num_blocks)) if tune_total else 0
            variants = [(name, plan, tune)]
            if no_ft:
                variants.append((name + "-no-ft", plan, 0))
            if ablation_beta is not None and np.isclose(beta, ablation_beta) and name.startswith("partitioned"):
                variants += [(f"{name}-{s}", rec.ablation_plan(plan, s, seed), tune)
                             for s in ("random", "collapsed-only")]
            for vname, vplan, ts in variants:
                vctl = copy.deepcopy(ctl)
                t0 = time.perf_counter()
                r = rec.encode_images(cfg, pr, vplan, f, x, beta, seed=seed + 1, tune_steps=ts, budget_bits=budget,
                                      control=vctl, code=code or spec["code"], num_samples=num_samples, log=log, log_every=max(1, plan.num_blocks // 4))
                enc_total = time.perf_counter() - t0
                t0 = time.perf_counter()
                w, img = rec.decode_images(cfg, r.records, r.header)
                dec = time.perf_counter() - t0
                match = bool(np.array_equal(img, r.images) and w.tobytes() == r.samples.tobytes())
                out["decoded_match"] &= match
                psnr = model.psnr_uint8(img, x)
                by_code = {}
                for c in CODES:
                    hdr = RecordHeader(vplan, r.header.prior, seed=r.header.seed, code=c, method="orc",
                                       num_samples=r.header.num_samples)
                    by_code[c] = float(np.mean([8 * len(b) for b in write_records(r.indices, hdr)]) / cfg.num_pixels)
                row = dict(beta=beta, bpp=float(r.bpp.mean()), psnr=float(psnr.mean()), code=r.header.code,
                           tune_steps=ts,
                           bpp_by_code=by_code, **fit_row, coded_kl_bpp=float(r.kl_bits_coded.mean() / cfg.num_pixels),
                           coded_max_block_kl_bits=r.max_block_kl_bits,
                           in_bin_bits_per_block=float(r.in_bin_bits.mean()),
                           rec_seconds=r.encode_seconds, tune_seconds=r.tune_seconds,
                           encode_seconds=enc_total, decode_seconds=dec, decoded_match=match,
                           bpp_per_image=[float(v) for v in r.bpp], psnr_per_image=[float(v) for v in psnr])
                out["methods"].setdefault(vname, []).append(row)
                if save_indices:
                    save_indices.mkdir(parents=True, exist_ok=True)
                    np.save(save_indices / f"indices_{vname}_beta{beta:g}.npy", r.indices)
                if on_row:
                    on_row(out)
                log(f"  {vname} beta {beta:g}: {row['bpp']:.3f} bpp, {row['psnr']:.2f} dB (fit: sample "
                    f"{row['fit_sample_psnr']:.2f} dB, mean {row['fit_mean_psnr']:.2f} dB, KL {row['fit_kl_bpp']:.3f}"
                    f" bpp, max block {row['fit_max_block_kl_bits']:.1f} -> coded {r.max_block_kl_bits:.1f} bits),"
                    f" {plan.num_blocks} blocks x {ts} tune steps, fit {f.seconds:.0f} s, encode {enc_total:.0f} s"
                    f" (REC {r.encode_seconds:.0f} s), decode {dec:.2f} s, match {match}")
    if classical:
        out["classical"] = rd.classical_codecs(x)
    add_bd_rates(out)
    return out


def add_bd_rates(out):
    """out["bd_rate"][test + " vs " + ref]: the Bjøntegaard delta rate (fraction) or the reason it has none,
    with each method's records in its own code (``bpp``); out["bd_rate_best_code"]: the same with every row
    at the shortest of its codes (``min(bpp_by_code)``), so that no method is judged by a worse code."""
    for field, rate in (("bd_rate", lambda r: r["bpp"]), ("bd_rate_best_code", lambda r: min(r["bpp_by_code"].values()))):
        out[field] = {}
        for test, ref in BD_PAIRS:
            a, b = out["methods"].get(ref, []), out["methods"].get(test, [])
            key = f"{test} vs {ref}"
            if test not in DEFAULT_METHODS + tuple(m + "-no-ft" for m in DEFAULT_METHODS) and not b:
                continue                                         # an extra method that was not run
            try:
                out[field][key] = rd.bd_rate([rate(r) for r in a], [r["psnr"] for r in a],
                                             [rate(r) for r in b], [r["psnr"] for r in b])
            except ValueError as exc:
                out[field][key] = f"n/a: {exc}"
    return out


def merge(results):
    """Combine results of runs on the same images (e.g. one process per method): methods concatenated
    (sorted by beta), decoded_match and-ed, classical codecs from the first that has them, BD rates redone."""
    if not results:
        raise ValueError("merge needs at least one result")
    out = copy.deepcopy(results[0])
    for r in results[1:]:
        if r["images"] != out["images"]:
            raise ValueError(f"merge: runs on different images {r['images']} and {out['images']}")
        out["decoded_match"] = bool(out["decoded_match"] and r["decoded_match"])
        for name, rows in r["methods"].items():
            out["methods"].setdefault(name, []).extend(copy.deepcopy(rows))
        if "classical" not in out and "classical" in r:
            out["classical"] = r["classical"]
    for rows in out["methods"].values():
        rows.sort(key=lambda row: row["beta"])
    return add_bd_rates(out)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", default="0-19", help="CIFAR-10 test indices, e.g. 0-19 or 0-3,7")
    ap.add_argument("--betas", default=",".join(f"{b:g}" for b in DEFAULT_BETAS),
                    help="comma-separated rate-distortion trade-offs (one RD point per beta and method)")
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated, among {list(METHODS)}")
    ap.add_argument("--fit-steps", type=int, default=2000)
    ap.add_argument("--tune-total", type=int, default=1500,
                    help="fine-tuning steps summed over the blocks (same for every plan)")
    ap.add_argument("--skip-no-ft", action="store_true", help="do not also code one-shot (no fine-tuning)")
    ap.add_argument("--ablation-beta", default=f"{ABLATION_BETA:g}", help="beta of the partition ablation, or 'none'")
    ap.add_argument("--code", default=None,
                    help="records' index code for every method (default: fixed for plain, two-part for partitioned)")
    ap.add_argument("--no-control", action="store_true")
    ap.add_argument("--init", choices=("prior", "siren"), default="prior")
    ap.add_argument("--prior", choices=tuple(prior.PRIORS), default="cifar-like",
                    help="the shipped prior (and the training images that give the block plans' information)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--figure", type=Path, help="write the RD figure (PNG)")
    ap.add_argument("--num-samples", type=int, default=rec.NUM_SAMPLES,
                    help="ORC candidates per block (default 2^16; the issue's budget)")
    ap.add_argument("--save-indices", type=Path, help="folder for every row's ORC indices (.npy)")
    ap.add_argument("--merge", type=Path, nargs="+", help="combine these result files instead of running")
    a = ap.parse_args(argv)
    if a.num_samples < 1:
        raise ValueError(f"--num-samples must be >= 1; got {a.num_samples}")
    if a.threads < 1:
        raise ValueError(f"--threads must be >= 1; got {a.threads}")
    torch.set_num_threads(a.threads)
    if a.merge:
        res = merge([json.loads(p.read_text()) for p in a.merge])
    else:
        try:
            betas = [float(b) for b in a.betas.split(",")]
        except ValueError:
            raise ValueError(f"--betas must be comma-separated numbers; got {a.betas!r}") from None
        abl = None if a.ablation_beta.lower() == "none" else float(a.ablation_beta)
        res = run(parse_range(a.images), betas, a.methods.split(","), a.fit_steps, a.tune_total, a.seed,
                  no_ft=not a.skip_no_ft, ablation_beta=abl, control=not a.no_control, code=a.code,
                  save_indices=a.save_indices, num_samples=a.num_samples,
                  on_row=(lambda partial: a.json.write_text(json.dumps(partial, indent=1))) if a.json else None,
                  init=None if a.init == "siren" else "prior", prior_name=a.prior)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    if a.figure:
        rd.plot_rd(res, a.figure, title=f"{len(res['images'])} CIFAR-10 test images, INR + REC (ORC, 2^16 candidates)")
    summary = {name: [(round(r["beta"], 6), round(r["bpp"], 3), round(r["psnr"], 2)) for r in rows]
               for name, rows in res["methods"].items()}
    print(json.dumps(dict(images=res["images"], decoded_match=res["decoded_match"], bd_rate=res["bd_rate"],
                          methods=summary)))


if __name__ == "__main__":
    main()
