"""Block plans: cut a D-dimensional latent into blocks of bounded information, each with a partition.

A neural codec's latent carries hundreds of bits; REC codes it block by block, each block a few tens
of bits. Sender and receiver must cut the latent the same way, so a plan is built from shared
information only: the per-dimension information ``info_bits[d]`` (average KL per dimension on
training data, in bits) and a seed.

``BlockPlan.build(info_bits, block_bits, seed)``

1. Dimensions with ``info_bits < collapsed_below`` are *collapsed* (they carry almost nothing).
2. The other ("active") dimensions are shuffled with ``numpy.random.Generator(PCG64(seed))`` and packed
   greedily (next fit) in that order: a block is closed when the next dimension would push its
   summed information over ``block_bits``. A dimension that alone exceeds ``block_bits`` is an error.
   With ``packing="balanced"`` they are instead spread over as few blocks as the budget allows with
   nearly equal information (largest first, each to the emptiest block that has room; ties in the
   shuffled order), which avoids one full block beside a nearly empty one (next fit cuts 53.7 bits
   at a 32-bit budget into 29.9 + 23.8; balanced gives 26.9 + 26.8, and at 48 bits 46.2 + 7.5
   becomes 26.9 + 26.8).
3. Collapsed dimensions (shuffled by the same generator) are then spread over the blocks, each one to
   the block with the fewest dimensions that still has room for it, so that every dimension is coded
   and sampled exactly (a collapsed dimension costs about its own, tiny, information). If none has
   room, a new block is opened. A latent with only collapsed dimensions is one block.
4. Each block gets ``Partition.from_information(info[dims], max(0, nominal - margin_bits))``: log2 J
   a margin below the block's nominal information (keeps the codelength overhead small, notes §3),
   with one interval in its collapsed dimensions. Its stream key is its position ``block_id``.

Guards: no empty block; no block whose nominal information exceeds ``block_bits``; equal inputs give
an equal plan. The plan is what both sides must share: save it (``save``/``to_bytes``) and load it on
the receiver rather than rebuilding it, because numpy does not promise the same permutation stream
across versions. ``plan.identifier`` is a 64-bit digest (SHA-256) of the plan's canonical form;
streams carry it, so a mismatched plan is detected.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from recnumba.partition import Partition

__all__ = ["Block", "BlockPlan", "PLAN_FORMAT_VERSION"]

#: Version of the serialised plan (``to_bytes``/``save``).
PLAN_FORMAT_VERSION = 1
_FORMAT_NAME = "recnumba.BlockPlan"
#: Tolerance on budget comparisons (floating sums of information).
_EPS = 1e-9
#: Partition bits must stay below this (int64 indices, see ``recnumba.partition``).
_MAX_PARTITION_BITS = 63.0


@dataclass(frozen=True, eq=False)
class Block:
    """One block of a plan.

    Attributes
    ----------
    block_id : int
        Position of the block in the plan; the stream key used as ``block_ids`` in ``rn.encode``.
    dims : int64 ndarray (d,)
        The latent dimensions it holds, in coding order.
    nominal_bits : float
        Summed ``info_bits`` of its dimensions: the expected KL (and index length) of the block.
    partition : Partition
        Its space partition (``partition.dim == len(dims)``).
    """

    block_id: int
    dims: np.ndarray
    nominal_bits: float
    partition: Partition

    def __repr__(self):
        return (f"Block(block_id={self.block_id}, dims={len(self.dims)}, nominal_bits={self.nominal_bits:.3f}, "
                f"partition_bits={self.partition.bits:.2f})")


def _check_info(info_bits):
    try:
        info = np.array(info_bits, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"info_bits must be an array of numbers (bits per dimension); got {info_bits!r}") from error
    if info.ndim != 1 or info.size == 0:
        raise ValueError(f"info_bits must be a 1-D array with one value per dimension; got shape {info.shape}")
    bad = np.flatnonzero(~np.isfinite(info) | (info < 0))
    if bad.size:
        d = int(bad[0])
        raise ValueError(
            f"info_bits must be finite and >= 0 (average KL per dimension, in bits); dimension {d} has "
            f"{info[d]!r}"
        )
    return info


def _check_bits(value, name, positive):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a number of bits; got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number of bits {'> 0' if positive else '>= 0'}; got {value!r}")
    return value


def _check_seed(seed):
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 1 << 64:
        raise ValueError(f"seed must be an integer in [0, 2^64); got {seed!r}")
    return int(seed)


_PACKINGS = ("next-fit", "balanced")


def _pack_next_fit(order, info, block_bits):
    groups, sums = [], []
    current, total = [], 0.0
    for d in order.tolist():
        if current and total + info[d] > block_bits + _EPS:
            groups.append(current)
            sums.append(total)
            current, total = [], 0.0
        current.append(d)
        total += float(info[d])
    if current:
        groups.append(current)
        sums.append(total)
    return groups, sums


def _pack_balanced(order, info, block_bits):
    """Fewest blocks (from ceil(total / budget) up) that largest-first packing fits into the budget."""
    if order.size == 0:
        return [], []
    # largest information first; the shuffled order breaks ties (stable sort)
    ranked = order[np.argsort(-info[order], kind="stable")].tolist()
    count = max(1, math.ceil(float(info[order].sum()) / block_bits - _EPS))
    while True:
        groups, sums = [[] for _ in range(count)], [0.0] * count
        for d in ranked:
            room = [b for b in range(count) if sums[b] + info[d] <= block_bits + _EPS]
            if not room:
                break
            b = min(room, key=lambda i: (sums[i], i))
            groups[b].append(d)
            sums[b] += float(info[d])
        else:
            return groups, sums
        count += 1


class BlockPlan:
    """A shared cut of a latent into blocks, each with its partition and stream key.

    Build one with :meth:`BlockPlan.build`; load a saved one with :meth:`load` / :meth:`from_bytes`.

    Attributes
    ----------
    dim : int
        Latent dimension D.
    blocks : list of Block
    num_blocks : int
    info_bits : float64 ndarray (D,)
        The information the plan was built from.
    block_bits, margin_bits, collapsed_below : float
    seed : int
    collapsed : int64 ndarray
        The collapsed dimensions (sorted); they are spread over the blocks like any other dimension.
    nominal_bits : float64 ndarray (num_blocks,)
    block_ids : int64 ndarray (num_blocks,)
    identifier : int
        Stable 64-bit digest of the plan (first 8 bytes of SHA-256 of its canonical serialisation).
    """

    def __init__(self, dims, intervals, info_bits, *, block_bits, margin_bits, seed, collapsed_below):
        info = _check_info(info_bits)
        self.dim = int(info.size)
        self.info_bits = info
        self.block_bits = _check_bits(block_bits, "block_bits", positive=True)
        self.margin_bits = _check_bits(margin_bits, "margin_bits", positive=False)
        self.collapsed_below = _check_bits(collapsed_below, "collapsed_below", positive=False)
        self.seed = _check_seed(seed)
        if len(dims) == 0 or len(dims) != len(intervals):
            raise ValueError("a plan needs at least one block, and one interval list per block")
        seen = np.zeros(self.dim, dtype=np.int64)
        blocks = []
        for b, (block_dims, block_intervals) in enumerate(zip(dims, intervals)):
            block_dims = np.array(block_dims, dtype=np.int64).reshape(-1)
            if block_dims.size == 0:
                raise ValueError(f"block {b} is empty: every block must hold at least one dimension")
            if np.any(block_dims < 0) or np.any(block_dims >= self.dim):
                raise ValueError(f"block {b} names a dimension outside [0, {self.dim})")
            np.add.at(seen, block_dims, 1)
            partition = Partition(block_intervals)
            if partition.dim != block_dims.size:
                raise ValueError(
                    f"block {b}: its partition has {partition.dim} dimensions but it holds {block_dims.size}"
                )
            nominal = float(info[block_dims].sum())
            if nominal > self.block_bits + _EPS:
                raise ValueError(
                    f"block {b} carries {nominal:.3f} bits of information, over its budget block_bits="
                    f"{self.block_bits}"
                )
            blocks.append(Block(b, block_dims, nominal, partition))
        if np.any(seen != 1):
            d = int(np.flatnonzero(seen != 1)[0])
            raise ValueError(f"dimension {d} appears in {int(seen[d])} blocks; every dimension must be in exactly one")
        for block in blocks:
            block.dims.flags.writeable = False
        self.blocks = blocks
        self.collapsed = np.flatnonzero(info < self.collapsed_below).astype(np.int64)
        self.nominal_bits = np.array([blk.nominal_bits for blk in blocks], dtype=np.float64)
        self.block_ids = np.arange(len(blocks), dtype=np.int64)
        for array in (self.info_bits, self.collapsed, self.nominal_bits, self.block_ids):
            array.flags.writeable = False
        self._canonical = self._canonical_json()
        self.identifier = int.from_bytes(hashlib.sha256(self._canonical).digest()[:8], "big")

    # ------------------------------------------------------------------ construction

    @classmethod
    def build(cls, info_bits, block_bits, seed=0, margin_bits=2.0, collapsed_below=0.01, packing="next-fit"):
        """Cut a latent into blocks from per-dimension information (see the module docstring).

        Parameters
        ----------
        info_bits : array_like (D,)
            Average KL per dimension on training data, in bits (finite, >= 0).
        block_bits : float > 0
            Budget of information per block (e.g. 16 for ORC with 2^16 candidates and no partition;
            partitioned blocks can carry more, e.g. 32-48).
        seed : int in [0, 2^64)
            Seed of the shared permutation.
        margin_bits : float >= 0
            Each block's partition gets log2 J <= nominal_bits - margin_bits.
        collapsed_below : float >= 0
            Dimensions with less information than this are collapsed (one interval, spread evenly).
        packing : "next-fit" or "balanced"
            How active dimensions are grouped (module docstring, step 2). The plan stores its blocks,
            so a receiver that loads it does not need to know which packing built it.

        Raises
        ------
        ValueError
            Bad inputs, or a dimension whose information alone exceeds ``block_bits``.
        """
        info = _check_info(info_bits)
        block_bits = _check_bits(block_bits, "block_bits", positive=True)
        margin_bits = _check_bits(margin_bits, "margin_bits", positive=False)
        collapsed_below = _check_bits(collapsed_below, "collapsed_below", positive=False)
        seed = _check_seed(seed)
        if packing not in _PACKINGS:
            raise ValueError(f"packing must be one of {list(_PACKINGS)}; got {packing!r}")
        if block_bits - margin_bits >= _MAX_PARTITION_BITS:
            raise ValueError(
                f"block_bits - margin_bits = {block_bits - margin_bits:g} bits: a block's partition must stay "
                f"below 2^{_MAX_PARTITION_BITS:.0f} bins (int64 indices); use a smaller block_bits"
            )
        too_big = np.flatnonzero(info > block_bits)
        if too_big.size:
            d = int(too_big[np.argmax(info[too_big])])
            raise ValueError(
                f"dimension {d} alone carries {info[d]:.3f} bits, more than block_bits={block_bits:g}; "
                f"use block_bits >= {math.ceil(info.max() * 100) / 100:g} (a larger budget per block)"
            )
        rng = np.random.Generator(np.random.PCG64(seed))
        active = np.flatnonzero(info >= collapsed_below)
        collapsed = np.flatnonzero(info < collapsed_below)
        order = rng.permutation(active)
        collapsed_order = rng.permutation(collapsed)

        if packing == "balanced":
            groups, sums = _pack_balanced(order, info, block_bits)
        else:
            groups, sums = _pack_next_fit(order, info, block_bits)
        for d in collapsed_order.tolist():
            room = [b for b in range(len(groups)) if sums[b] + info[d] <= block_bits + _EPS]
            if room:
                b = min(room, key=lambda i: (len(groups[i]), i))
            else:
                groups.append([])
                sums.append(0.0)
                b = len(groups) - 1
            groups[b].append(d)
            sums[b] += float(info[d])

        intervals = []
        for group in groups:
            block_info = info[np.array(group, dtype=np.int64)]
            bits = max(0.0, float(block_info.sum()) - margin_bits)
            intervals.append(Partition.from_information(block_info, bits, collapsed_below).intervals)
        return cls(groups, intervals, info, block_bits=block_bits, margin_bits=margin_bits, seed=seed,
                   collapsed_below=collapsed_below)

    # ------------------------------------------------------------------ views

    @property
    def num_blocks(self):
        return len(self.blocks)

    @property
    def partitions(self):
        return [blk.partition for blk in self.blocks]

    @property
    def dims(self):
        return [blk.dims for blk in self.blocks]

    @property
    def partition_bits(self):
        """log2 J of every block, float64 (num_blocks,)."""
        return np.array([blk.partition.bits for blk in self.blocks], dtype=np.float64)

    def __len__(self):
        return len(self.blocks)

    def __iter__(self):
        return iter(self.blocks)

    def __getitem__(self, b):
        return self.blocks[b]

    def __eq__(self, other):
        return isinstance(other, BlockPlan) and self._canonical == other._canonical

    def __hash__(self):
        return self.identifier

    def __repr__(self):
        return (f"BlockPlan(dim={self.dim}, num_blocks={self.num_blocks}, block_bits={self.block_bits:g}, "
                f"collapsed={self.collapsed.size}, identifier=0x{self.identifier:016x})")

    # ------------------------------------------------------------------ serialisation

    def _content(self):
        return {
            "format": _FORMAT_NAME,
            "version": PLAN_FORMAT_VERSION,
            "dim": self.dim,
            "info_bits": [float(v) for v in self.info_bits],
            "block_bits": self.block_bits,
            "margin_bits": self.margin_bits,
            "collapsed_below": self.collapsed_below,
            "seed": self.seed,
            "blocks": [
                {"dims": blk.dims.tolist(), "intervals": blk.partition.intervals.tolist()} for blk in self.blocks
            ],
        }

    def _canonical_json(self):
        return json.dumps(self._content(), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    def to_bytes(self):
        """Canonical JSON (UTF-8) holding the plan and its identifier; ``from_bytes`` reads it back."""
        content = self._content()
        content["identifier"] = f"{self.identifier:016x}"
        return json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()

    @classmethod
    def from_bytes(cls, data):
        """Rebuild a plan written by :meth:`to_bytes`; raises ValueError if it is not one or was altered."""
        try:
            content = json.loads(bytes(data).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as error:
            raise ValueError(f"not a recnumba block plan (not JSON): {error}") from None
        if not isinstance(content, dict) or content.get("format") != _FORMAT_NAME:
            raise ValueError("not a recnumba block plan (missing format tag)")
        if content.get("version") != PLAN_FORMAT_VERSION:
            raise ValueError(
                f"unsupported block plan version {content.get('version')!r} (this recnumba reads version "
                f"{PLAN_FORMAT_VERSION})"
            )
        try:
            blocks = content["blocks"]
            plan = cls(
                [blk["dims"] for blk in blocks],
                [blk["intervals"] for blk in blocks],
                content["info_bits"],
                block_bits=content["block_bits"],
                margin_bits=content["margin_bits"],
                seed=content["seed"],
                collapsed_below=content["collapsed_below"],
            )
        except (KeyError, TypeError) as error:
            raise ValueError(f"block plan is incomplete or malformed: {error!r}") from None
        if content.get("dim") != plan.dim:
            raise ValueError("block plan is inconsistent: 'dim' does not match info_bits")
        stored = content.get("identifier")
        if stored is not None and stored != f"{plan.identifier:016x}":
            raise ValueError(
                f"block plan identifier mismatch: stored {stored}, content hashes to {plan.identifier:016x} "
                "(the plan was altered or corrupted)"
            )
        return plan

    def save(self, path):
        """Write the plan to ``path`` (JSON)."""
        with open(os.fspath(path), "wb") as handle:
            handle.write(self.to_bytes())

    @classmethod
    def load(cls, path):
        """Read a plan written by :meth:`save`."""
        with open(os.fspath(path), "rb") as handle:
            return cls.from_bytes(handle.read())

    # ------------------------------------------------------------------ helpers

    def gather(self, values):
        """Split ``values`` (..., D) into per-block arrays (..., d_b), in block order."""
        values = np.asarray(values)
        if values.shape[-1] != self.dim:
            raise ValueError(f"values have {values.shape[-1]} dimensions but the plan has {self.dim}")
        return [values[..., blk.dims] for blk in self.blocks]

    def scatter(self, parts, out=None):
        """Inverse of :meth:`gather`: reassemble per-block arrays (..., d_b) into (..., D)."""
        if len(parts) != self.num_blocks:
            raise ValueError(f"expected {self.num_blocks} per-block arrays, got {len(parts)}")
        lead = np.asarray(parts[0]).shape[:-1]
        if out is None:
            out = np.empty(lead + (self.dim,), dtype=np.result_type(*[np.asarray(p).dtype for p in parts]))
        for blk, part in zip(self.blocks, parts):
            out[..., blk.dims] = part
        return out
