"""REC of fitted INR posteriors, block by block, with progressive fine-tuning, into per-image records.

Block plans come from the training-average KL per weight (the prior file): ``plain_plan`` gives
blocks of at most ``block_bits`` (16) bits with one interval per dimension (plain ORC), and
``partitioned_plan`` blocks of up to 48 bits with log2 J <= nominal - margin intervals allocated by
information (``recnumba.BlockPlan.build``). Each block is coded with ORC (2^16 candidates) under the
learned prior, for all images at once, with the stream keys ``recnumba.encode_dataset`` uses
(``item * num_blocks + block``), so that ``recnumba.decode_dataset`` (through ``recnumba.records``)
decodes the whole set at the end. After each block the coded weights are fixed to their samples and the
not-yet-coded posteriors are fine-tuned for ``tune_steps`` steps (progressive fine-tuning, COMBINER's
"fine-tune the rest"); ``tune_steps=0`` is one-shot coding. Each block is held to its KL budget
(``fit.project_to_budget``) just before it is coded, and the fine-tuning continues the fit's per-block
KL control (``control``), so the not-yet-coded blocks do not drift over budget while they are tuned.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
import torch

import recnumba as rn
from recnumba.records import RecordHeader, read_records, write_records

from . import fit, model

NUM_SAMPLES = 1 << 16
FIXED_STD = 1e-12          # std of an already coded weight during fine-tuning (held by the mask anyway)


def plain_plan(kl_mean_bits, block_bits=16.0, seed=0):
    """Blocks of <= block_bits bits of training-average KL, one interval per dimension (plain ORC)."""
    return rn.BlockPlan.build(kl_mean_bits, block_bits, seed=seed, margin_bits=block_bits)


def partitioned_plan(kl_mean_bits, block_bits=48.0, seed=0, margin_bits=16.0):
    """Blocks of <= block_bits bits; log2 J <= nominal - margin_bits, by information (2^16 candidates
    then search the rest: margin_bits = log2 of the ORC budget)."""
    return rn.BlockPlan.build(kl_mean_bits, block_bits, seed=seed, margin_bits=margin_bits)


PARTITION_STRATEGIES = ("information", "random", "collapsed-only")


def ablation_plan(plan, strategy, seed=0):
    """The same blocks as ``plan`` with each block's log2 J re-allocated over its dimensions:

    "information" (``plan`` itself: intervals in proportion to training-average KL), "random"
    (``Partition.random``, Dirichlet proportions, seeded ``seed + block``) or "collapsed-only"
    (``Partition.collapsed_only``: even over the non-collapsed dimensions). Each block keeps its
    total log2 J budget (``plan.nominal_bits - plan.margin_bits``)."""
    if strategy not in PARTITION_STRATEGIES:
        raise ValueError(f"strategy must be one of {PARTITION_STRATEGIES}; got {strategy!r}")
    if strategy == "information":
        return plan
    parts = []
    for blk in plan.blocks:
        info = plan.info_bits[blk.dims]
        bits = max(0.0, float(info.sum()) - plan.margin_bits)
        if strategy == "random":
            parts.append(rn.Partition.random(blk.dims.size, bits, seed + blk.block_id))
        else:
            parts.append(rn.Partition.collapsed_only(info, bits, plan.collapsed_below))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rn.PartitionTooFineWarning)
        return rn.BlockPlan([blk.dims for blk in plan.blocks], parts, plan.info_bits, block_bits=plan.block_bits,
                            margin_bits=plan.margin_bits, seed=plan.seed, collapsed_below=plan.collapsed_below)


def bin_entropy_bits(loc, std, prior_loc, prior_std, intervals) -> np.ndarray:
    """Entropy (bits) of a block's bin index j under factorised Gaussian posteriors, per image.

    loc, std: (N, d) posteriors of the block's d weights; prior_loc, prior_std: (d,); intervals: (d,)
    interval counts J_d (equal prior mass, edges at prior quantiles). With ORC's target bin weights the
    candidates' proposal is Q(j) J p(x) on bin j, so the information left for the in-bin search is
    KL(q || proposal) = KL(q || p) - log2 J + H_q(j): a partition only removes log2 J - H_q(j) bits.
    """
    from scipy.special import ndtr, ndtri

    loc, std = np.atleast_2d(loc), np.atleast_2d(std)
    h = np.zeros(loc.shape[0])
    for i, jd in enumerate(np.asarray(intervals, dtype=np.int64)):
        if jd <= 1:
            continue
        edges = prior_loc[i] + prior_std[i] * ndtri(np.arange(1, jd) / jd)          # (jd - 1,)
        cdf = ndtr((edges[None, :] - loc[:, i:i + 1]) / std[:, i:i + 1])
        mass = np.diff(np.concatenate([np.zeros((loc.shape[0], 1)), cdf, np.ones((loc.shape[0], 1))], 1), axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            h -= np.where(mass > 0, mass * np.log2(mass), 0.0).sum(1)
    return h


def in_bin_bits(loc, std, prior_loc, prior_std, partition) -> np.ndarray:
    """Bits per image left for a block's in-bin search: KL(q || p) - log2 J + H_q(j) (see
    :func:`bin_entropy_bits`). loc, std: (N, d) the block's posteriors; prior_loc, prior_std: (d,)."""
    kl = fit.kl_bits_np(loc, std, prior_loc, prior_std).sum(1)
    return kl - partition.bits + bin_entropy_bits(loc, std, prior_loc, prior_std, partition.intervals)


@dataclass
class RecResult:
    samples: np.ndarray            # (N, P) coded weights (float64)
    indices: np.ndarray            # (N, num_blocks)
    records: list                  # per-image bytes
    header: RecordHeader
    images: np.ndarray             # (N, H, W, 3) uint8 rendered from the coded weights
    bpp: np.ndarray                # (N,) from the record bytes
    psnr: np.ndarray               # (N,)
    kl_bits_coded: np.ndarray      # (N,) sum over blocks of each block's KL at the time it was coded
    max_block_kl_bits: float       # largest KL of any block at the time it was coded (<= its budget)
    in_bin_bits: np.ndarray        # (N,) mean over blocks of KL - log2 J + H_q(j) at coding time (bits left
                                   # for the 2^16 in-bin candidates; see bin_entropy_bits)
    encode_seconds: float
    tune_seconds: float


def render(cfg, weights) -> np.ndarray:
    """uint8 images (N, H, W, 3) from flat float64 weights (N, P); float64, so sender == receiver."""
    with torch.no_grad():
        w = torch.as_tensor(np.asarray(weights, dtype=np.float64))
        return model.to_uint8(model.forward(cfg, w, model.fourier_features(cfg, torch.float64)), cfg)


def encode_images(cfg, prior, plan, fitted: fit.FitResult, images_uint8, beta, seed=1, tune_steps=10,
                  tune_lr=1e-3, tune_seed=100, code="two-part", num_samples=NUM_SAMPLES, log=None,
                  budget_bits=None, control: fit.KlControl | None = None, tune_adjust_every=5, log_every=1):
    """Code every block of every image in plan order; fine-tune the rest after each block.

    budget_bits: KL budget per block (default ``plan.block_bits``; None-like 0 disables the projection);
    each block is projected to it (``fit.project_to_budget``) just before it is coded. control: the
    fit's ``KlControl``, continued (multipliers kept, adjusted every ``tune_adjust_every`` steps) during
    fine-tuning; None tunes without per-block control. tune_steps per block (0: one-shot coding).
    """
    if isinstance(tune_steps, bool) or not isinstance(tune_steps, (int, np.integer)) or tune_steps < 0:
        raise ValueError(f"tune_steps must be an integer >= 0; got {tune_steps!r}")
    budget = plan.block_bits if budget_bits is None else float(budget_bits)
    if control is not None:
        control.adjust_every = int(tune_adjust_every)
    N, P = fitted.loc.shape
    loc, std = fitted.loc.copy(), fitted.std.copy()
    mask = np.zeros((N, P), dtype=bool)
    samples = np.zeros((N, P))
    indices = np.zeros((N, plan.num_blocks), dtype=np.int64)
    kl_coded = np.zeros(N)
    max_block = 0.0
    in_bin = np.zeros(N)
    items = np.arange(N, dtype=np.int64)
    enc_s = tune_s = 0.0
    t_start = time.perf_counter()
    for blk in plan.blocks:
        d = blk.dims
        if budget > 0:
            loc[:, d], std[:, d] = (a[:, d] for a in fit.project_to_budget(
                loc, std, prior.loc, prior.std, [d], budget))
        bkl = fit.kl_bits_np(loc[:, d], std[:, d], prior.loc[d], prior.std[d]).sum(1)
        max_block = max(max_block, float(bkl.max()))
        in_bin += in_bin_bits(loc[:, d], std[:, d], prior.loc[d], prior.std[d], blk.partition)
        target = rn.Gaussian(loc[:, d], std[:, d])
        bprior = rn.Gaussian(np.broadcast_to(prior.loc[d], (N, d.size)).copy(),
                             np.broadcast_to(prior.std[d], (N, d.size)).copy())
        kl_coded += np.asarray(rn.kl_bits(target, bprior), dtype=np.float64).reshape(N)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rn.PartitionTooFineWarning)
            res = rn.encode(target, bprior, seed, partition=blk.partition, method="orc", weights="target",
                            num_samples=num_samples, block_ids=items * plan.num_blocks + blk.block_id)
        enc_s += time.perf_counter() - t0
        indices[:, blk.block_id] = res.index
        samples[:, d] = res.sample
        mask[:, d] = True
        loc[:, d] = res.sample
        std[:, d] = FIXED_STD
        if tune_steps and not mask.all():
            t0 = time.perf_counter()
            r = fit.fit_images(cfg, prior, images_uint8, beta, steps=tune_steps, seed=tune_seed + blk.block_id,
                               lr=tune_lr, init=(loc, std), mask=mask, control=control, resume_control=True,
                               evaluate=False)
            tune_s += time.perf_counter() - t0
            free = ~mask
            loc[free], std[free] = r.loc[free], r.std[free]
        if log and ((blk.block_id + 1) % log_every == 0 or blk.block_id + 1 == plan.num_blocks):
            log(f"    block {blk.block_id + 1}/{plan.num_blocks}: {d.size} weights, "
                f"{blk.nominal_bits:.1f} nominal bits, log2 J {blk.partition.bits:.1f}, "
                f"{time.perf_counter() - t_start:.0f} s")
    header = RecordHeader(plan, rn.Gaussian(prior.loc, prior.std), seed=seed, code=code, method="orc",
                          num_samples=num_samples)
    records = write_records(indices, header)
    images = render(cfg, samples)
    bpp = np.array([8 * len(r) for r in records]) / cfg.num_pixels
    return RecResult(samples, indices, records, header, images, bpp, model.psnr_uint8(images, images_uint8),
                     kl_coded, max_block, in_bin / plan.num_blocks, enc_s, tune_s)


def decode_images(cfg, records, header):
    """Receiver: records + header -> (weights (N, P), uint8 images)."""
    indices = read_records(records, header)
    w = rn.decode_dataset(np.asarray(indices), header.prior, header.plan, header.seed,
                          num_samples=header.num_samples)
    return w, render(cfg, w)
