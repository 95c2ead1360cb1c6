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
streams carry it, so a mismatched plan is detected. ``to_bytes`` writes it and ``from_bytes`` requires it
(a plan file without one, or whose content does not hash to it, is refused).

Both packings are near-linear in D (100,000 dimensions build in about a second): balanced packing
keeps the emptiest block in a heap and skips counts a packing bound rules out, and collapsed
dimensions find their block through heaps keyed by room, with the same plan as a linear scan.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import math
import numbers
import os
from dataclasses import dataclass

import numpy as np

from recnumba.partition import MAX_DIMS, Partition, check_permutation_seed, information_array, warn_partition_too_fine
from recnumba.validation import ParameterTypeError

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
    info = np.array(information_array(info_bits), dtype=np.float64)  # a private copy
    if info.ndim != 1 or info.size == 0:
        raise ValueError(f"info_bits must be a 1-D array with one value per dimension; got shape {info.shape}")
    if info.size > MAX_DIMS:
        raise ValueError(f"info_bits has {info.size} dimensions; a plan has at most 2^24 (MAX_DIMS)")
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
        raise ParameterTypeError(f"{name} must be a number of bits; got {type(value).__name__} {value!r:.80}")
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range
        value = math.inf
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a finite number of bits {'> 0' if positive else '>= 0'}; got {value!r}")
    return value


_check_seed = check_permutation_seed


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_block_dims(block_dims, b, dim):
    """Block ``b``'s dimension indices as int64 (d,): ParameterTypeError naming ``dims`` for non-integers,
    ValueError for a ragged sequence or an index outside [0, dim)."""
    message = f"block {b}: dims must be integers (dimension indices in [0, {dim}))"
    if block_dims is None or isinstance(block_dims, (str, bytes, dict, set, frozenset)):
        raise ParameterTypeError(f"{message}; got {type(block_dims).__name__}")
    try:  # lists as objects: numpy would turn True into 1 and 2**64 - 1 into a float
        values = block_dims if isinstance(block_dims, np.ndarray) else np.asarray(block_dims, dtype=object)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{message}; got {block_dims!r:.80}") from None
    values = values.reshape(-1)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    if values.dtype == object:
        items = values.tolist()
        if not all(_is_integer(v) for v in items):
            raise ParameterTypeError(f"{message}; got {block_dims!r:.80}")
    elif values.dtype == bool or values.dtype.kind not in "iu":
        raise ParameterTypeError(f"{message}; got {block_dims!r:.80}")
    else:
        items = values.tolist()
    if any(int(v) < 0 or int(v) >= dim for v in items):
        raise ValueError(f"block {b} names a dimension outside [0, {dim})")
    return np.array(items, dtype=np.int64)


_PACKINGS = ("next-fit", "balanced")


def _warn_excess(blocks):
    """One PartitionTooFineWarning naming the worst block whose log2 J exceeds its information by more
    than ``TOO_FINE_EXCESS_BITS`` (and how many blocks do)."""
    warn_partition_too_fine(
        [blk.partition.bits for blk in blocks], [blk.nominal_bits for blk in blocks], "BlockPlan",
        "Give those blocks fewer intervals, or rebuild the plan with BlockPlan.build "
        "(log2 J = information - margin_bits).",
        information="its information (nominal_bits)")


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


def _greedy_lower_bound(values, cap):
    """A count below which largest-first packing of ``values`` (descending) into ``cap`` must fail.

    If m + 1 items each >= y cannot share a block (their running float sum exceeds ``cap``), the k
    items >= y need ceil(k / m) blocks. The test (m + 1) y > cap (1 + 1e-6) is a safe stand-in for
    the running sum (its rounding error is below m 2^-53 relative, far under 1e-6 for m < 2^24),
    so the bound is never above the first count that succeeds: skipping to it changes no result.
    """
    n = len(values)
    m = np.arange(1, n + 1, dtype=np.float64)
    ascending = -np.asarray(values, dtype=np.float64)
    k = np.searchsorted(ascending, -(cap * (1 + 1e-6)) / (m + 1), side="left")  # items > threshold
    return int(np.max(np.ceil(k / m))) if n else 0


def _pack_balanced(order, info, block_bits):
    """Fewest blocks (from ceil(total / budget) up) that largest-first packing fits into the budget.

    Each dimension, largest first, goes to the emptiest block (lowest index among equals) if it
    fits there; if it does not fit the emptiest block it fits none, and the next count is tried.
    A heap of (sum, block) makes each attempt O(D log blocks), and counts that a packing bound
    rules out are skipped, so the plan is the same as trying every count with a linear scan.
    """
    if order.size == 0:
        return [], []
    # largest information first; the shuffled order breaks ties (stable sort)
    ranked = order[np.argsort(-info[order], kind="stable")]
    values = info[ranked].tolist()
    ranked = ranked.tolist()
    cap = block_bits + _EPS
    count = max(1, math.ceil(float(info[order].sum()) / block_bits - _EPS), _greedy_lower_bound(values, cap))
    while True:
        heap = [(0.0, b) for b in range(count)]  # sorted, hence a heap
        groups = [[] for _ in range(count)]
        for d, value in zip(ranked, values):
            total, b = heap[0]
            if not total + value <= cap:
                break
            groups[b].append(d)
            heapq.heapreplace(heap, (total + value, b))
        else:
            sums = [0.0] * count
            for total, b in heap:
                sums[b] = total
            return groups, sums
        count += 1


def _spread_collapsed(groups, sums, collapsed_order, info, block_bits):
    """Each collapsed dimension to the block with the fewest dimensions that has room for it (lowest
    index among equals), else to a new block; ``groups`` and ``sums`` are updated in place.

    Near-linear and exactly the linear scan's choice: with u_0 < u_1 < ... the distinct collapsed
    values, a block whose sum has room for u_g but not u_(g+1) sits in heap g (keyed by (size,
    block)); a dimension of value u_j fits exactly the blocks in heaps g >= j, and a segment tree over
    the heaps' tops gives their minimum in O(log). Blocks with no room for u_0 leave for good.
    """
    if collapsed_order.size == 0:
        return
    cap = block_bits + _EPS
    levels = np.unique(info[collapsed_order]).tolist()
    position = {value: j for j, value in enumerate(levels)}
    count = len(levels)

    def level(total):  # the largest g with total + levels[g] <= cap (-1: room for none)
        lo, hi = 0, count
        while lo < hi:
            mid = (lo + hi) // 2
            if total + levels[mid] <= cap:
                lo = mid + 1
            else:
                hi = mid
        return lo - 1

    none = (math.inf, math.inf)
    width = 1
    while width < count:
        width *= 2
    tree = [none] * (2 * width)
    heaps = [[] for _ in range(count)]

    def refresh(g):
        i = g + width
        tree[i] = heaps[g][0] if heaps[g] else none
        i //= 2
        while i:
            top = min(tree[2 * i], tree[2 * i + 1])
            if tree[i] == top:
                break  # the ancestors are unchanged too
            tree[i] = top
            i //= 2

    def place(b):
        g = level(sums[b])
        if g >= 0:
            heapq.heappush(heaps[g], (len(groups[b]), b))
            refresh(g)

    for b in range(len(groups)):
        place(b)
    for d in collapsed_order.tolist():
        value = float(info[d])
        best, lo, hi = none, position[value] + width, count + width
        while lo < hi:  # minimum over heaps position[value] .. count - 1
            if lo & 1:
                best = min(best, tree[lo])
                lo += 1
            if hi & 1:
                hi -= 1
                best = min(best, tree[hi])
            lo //= 2
            hi //= 2
        if best == none:
            groups.append([])
            sums.append(0.0)
            b = len(groups) - 1
        else:
            b = best[1]
            g = level(sums[b])
            heapq.heappop(heaps[g])  # best is the top of its heap
            refresh(g)
        groups[b].append(d)
        sums[b] += value
        place(b)


class BlockPlan:
    """A shared cut of a latent into blocks, each with its partition and stream key.

    Build one with :meth:`BlockPlan.build`; load a saved one with :meth:`load` / :meth:`from_bytes`.
    The constructor takes explicit blocks: ``dims[b]`` (integer dimension indices) and ``intervals[b]``
    (a list of counts or a ``Partition``) per block. It warns (``PartitionTooFineWarning``, a
    UserWarning) when a block's log2 J exceeds its information by more than ``TOO_FINE_EXCESS_BITS``
    (4) bits.

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
            block_dims = _check_block_dims(block_dims, b, self.dim)
            if block_dims.size == 0:
                raise ValueError(f"block {b} is empty: every block must hold at least one dimension")
            np.add.at(seen, block_dims, 1)
            partition = block_intervals if isinstance(block_intervals, Partition) else Partition(block_intervals)
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
        _warn_excess(blocks)
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
        _spread_collapsed(groups, sums, collapsed_order, info, block_bits)

        intervals = []
        for group in groups:
            block_info = info[np.array(group, dtype=np.int64)]
            bits = max(0.0, float(block_info.sum()) - margin_bits)
            intervals.append(Partition.from_information(block_info, bits, collapsed_below))
        return cls(groups, intervals, info, block_bits=block_bits, margin_bits=margin_bits, seed=seed,
                   collapsed_below=collapsed_below)

    @classmethod
    def per_dimension(cls, info_bits, collapsed_below=0.01):
        """One 1-D block per dimension, in dimension order, none partitioned (J = 1): per-dimension coding,
        e.g. ``encode_dataset(..., method="gprs")``. Block d holds dimension d and has stream key d;
        ``nominal_bits[d] = info_bits[d]`` (zeta codes take their exponent from it). ``block_bits`` is
        recorded as the largest per-dimension information (1 bit if all are 0), ``margin_bits`` as 0 and
        ``seed`` as 0 (no permutation is drawn)."""
        info = _check_info(info_bits)
        block_bits = float(info.max()) if float(info.max()) > 0 else 1.0
        return cls([[d] for d in range(info.size)], [[1]] * info.size, info, block_bits=block_bits,
                   margin_bits=0.0, seed=0, collapsed_below=collapsed_below)

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
        except ParameterTypeError as error:  # a wrong kind of value inside the file: a bad file, so ValueError
            raise ValueError(f"block plan is malformed: {error}") from None
        except (KeyError, TypeError) as error:
            raise ValueError(f"block plan is incomplete or malformed: {error!r}") from None
        if content.get("dim") != plan.dim:
            raise ValueError("block plan is inconsistent: 'dim' does not match info_bits")
        stored = content.get("identifier")
        if stored is None:
            raise ValueError(
                "block plan has no identifier: to_bytes/save always write one, so this file was edited or "
                "not written by recnumba; save the plan again with BlockPlan.save (or to_bytes)"
            )
        if stored != f"{plan.identifier:016x}":
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
        if values.ndim == 0 or values.shape[-1] != self.dim:
            raise ValueError(
                f"values must be an array (..., {self.dim}) (last axis: the plan's dimensions); got shape {values.shape}"
            )
        return [values[..., blk.dims] for blk in self.blocks]

    def scatter(self, parts, out=None):
        """Inverse of :meth:`gather`: reassemble per-block arrays (..., d_b) into (..., D)."""
        if isinstance(parts, (str, bytes)) or not hasattr(parts, "__len__"):
            raise TypeError(f"parts must be a list of {self.num_blocks} per-block arrays; got {type(parts).__name__}")
        if len(parts) != self.num_blocks:
            raise ValueError(f"parts must hold {self.num_blocks} per-block arrays (one per block); got {len(parts)}")
        for blk, part in zip(self.blocks, parts):
            shape = np.shape(part)
            if len(shape) == 0 or shape[-1] != blk.dims.size:
                raise ValueError(f"parts[{blk.block_id}] must have {blk.dims.size} values on its last axis; got shape {shape}")
        lead = np.asarray(parts[0]).shape[:-1]
        if out is None:
            out = np.empty(lead + (self.dim,), dtype=np.result_type(*[np.asarray(p).dtype for p in parts]))
        for blk, part in zip(self.blocks, parts):
            out[..., blk.dims] = part
        return out
