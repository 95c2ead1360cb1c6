"""Lossy compression of real CIFAR-10 test images with an INR (COMBINER/RECOMBINER-style) and REC.

Stage 1 of issue #13 (work in progress): for each beta, fit the 20 test images' posteriors under the
shipped prior (``examples/inr/prior_default.npz``, learned on natural-image patches, a stand-in for
CIFAR-10 training data) with per-block KL control, code every block with ORC (2^16 candidates), plain
16-bit blocks or partitioned 48-bit blocks, with progressive fine-tuning, write per-image records,
decode them and rebuild the images bit for bit.

    python examples/inr_cifar.py --images 0-19 --betas 1e-3 --json out.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inr import data, fit, prior, rec  # noqa: E402

METHODS = {
    "plain-orc-16": dict(plan=lambda kl, s: rec.plain_plan(kl, 16.0, seed=s), budget=16.0),
    "partitioned-orc-48": dict(plan=lambda kl, s: rec.partitioned_plan(kl, 48.0, seed=s), budget=48.0),
}


def parse_range(text):
    out = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def run(images_idx, betas, methods, fit_steps, tune_steps, seed=0, control=True, init="prior", log=print):
    cfg, pr, kl_mean, meta = prior.load_prior()
    x_all, labels = data.load_cifar10_test20()
    x = x_all[images_idx]
    out = dict(images=list(map(int, images_idx)), prior=dict(meta, history=None), fit_steps=fit_steps,
               tune_steps=tune_steps, init=init, methods={}, decoded_match=True,
               note="prior learned on natural-image patches (stand-in for CIFAR-10 train); 2-core shared CPU")
    for name in methods:
        spec = METHODS[name]
        plan = spec["plan"](kl_mean, seed)
        rows = []
        for beta in betas:
            ctl = fit.KlControl([b.dims for b in plan.blocks], np.full(plan.num_blocks, spec["budget"]),
                                adjust_every=20) if control else None
            f = fit.fit_images(cfg, pr, x, beta, steps=fit_steps, seed=seed, control=ctl, init=init)
            t0 = time.perf_counter()
            r = rec.encode_images(cfg, pr, plan, f, x, beta, seed=seed + 1, tune_steps=tune_steps)
            enc_total = time.perf_counter() - t0
            t0 = time.perf_counter()
            w, img = rec.decode_images(cfg, r.records, r.header)
            dec = time.perf_counter() - t0
            match = bool(np.array_equal(img, r.images) and w.tobytes() == r.samples.tobytes())
            out["decoded_match"] &= match
            block_kl = np.stack([f.kl_bits[:, b.dims].sum(1) for b in plan.blocks], 1)
            row = dict(beta=beta, bpp=float(r.bpp.mean()), psnr=float(model_psnr(img, x).mean()),
                       fit_sample_psnr=float(f.sample_psnr.mean()), fit_mean_psnr=float(f.mean_psnr.mean()),
                       fit_kl_bpp=float(f.kl_bits.sum(1).mean() / cfg.num_pixels),
                       coded_kl_bpp=float(r.kl_bits_coded.mean() / cfg.num_pixels),
                       max_block_kl_bits=float(block_kl.max()), num_blocks=plan.num_blocks,
                       fit_seconds=f.seconds, rec_seconds=r.encode_seconds, tune_seconds=r.tune_seconds,
                       encode_seconds=enc_total, decode_seconds=dec, decoded_match=match)
            rows.append(row)
            log(f"{name} beta {beta:g}: {row['bpp']:.3f} bpp, {row['psnr']:.2f} dB (fit: sample "
                f"{row['fit_sample_psnr']:.2f} dB, mean {row['fit_mean_psnr']:.2f} dB, KL {row['fit_kl_bpp']:.3f} bpp,"
                f" max block {row['max_block_kl_bits']:.1f} bits), {plan.num_blocks} blocks, fit {f.seconds:.0f} s,"
                f" encode {enc_total:.0f} s (REC {r.encode_seconds:.0f} s), decode {dec:.1f} s, match {match}")
        out["methods"][name] = rows
    return out


def model_psnr(a, b):
    from inr.model import psnr_uint8
    return psnr_uint8(a, b)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", default="0-19")
    ap.add_argument("--betas", default="1e-3")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--fit-steps", type=int, default=2000)
    ap.add_argument("--tune-steps", type=int, default=10)
    ap.add_argument("--no-control", action="store_true")
    ap.add_argument("--init", choices=("prior", "siren"), default="prior")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    res = run(parse_range(a.images), [float(b) for b in a.betas.split(",")], a.methods.split(","),
              a.fit_steps, a.tune_steps, a.seed, control=not a.no_control,
              init=None if a.init == "siren" else "prior")
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k in ("images", "decoded_match")}))


if __name__ == "__main__":
    main()
