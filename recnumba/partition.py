"""Space partitions: per-dimension equal-prior-mass intervals and their product bins.

A partition gives dimension d ``J_d`` intervals of equal prior mass (edges at prior quantiles
``i / J_d``); the bins are their products, J = prod J_d of them, numbered in mixed radix with
dimension 0 least significant. Sender and receiver must agree on every J_d, so partitions are built
from shared information only (an explicit list, a bit budget, per-dimension information measured on
training data), never from the instance being coded.
"""

import math

import numpy as np

#: Upper bound on J_d: the sender builds a probability table of J_d entries per dimension.
MAX_INTERVALS_PER_DIM = 1 << 24
#: The flat candidate index (k - 1) * J + j is an int64, so J itself must stay below 2^63.
MAX_BINS = (1 << 63) - 1


def _allocate(target_bits, total_bits):
    """Integer interval counts with sum log2 J_d <= total_bits, each log2 J_d close to its target.

    Start from floor(2^b_d) and add one interval at a time where the shortfall is largest, while
    the total stays within budget.
    """
    target_bits = np.asarray(target_bits, dtype=np.float64)
    intervals = np.maximum(1, np.floor(np.exp2(target_bits) * (1 + 1e-12))).astype(np.int64)
    intervals = np.minimum(intervals, MAX_INTERVALS_PER_DIM)
    used = float(np.log2(intervals).sum())
    while True:
        shortfall = target_bits - np.log2(intervals)
        cost = np.log2(intervals + 1) - np.log2(intervals)
        fits = (shortfall > 0) & (used + cost <= total_bits + 1e-9) & (intervals < MAX_INTERVALS_PER_DIM)
        if not np.any(fits):
            return intervals
        d = int(np.argmax(np.where(fits, shortfall, -np.inf)))
        intervals[d] += 1
        used += float(cost[d])


def _check_budget(bits, name="bits"):
    if not np.isscalar(bits) or not np.isfinite(bits) or bits < 0:
        raise ValueError(f"{name} must be a finite number of bits >= 0; got {bits!r}")
    if bits >= 63:
        raise ValueError(f"{name}={bits} is too large: log2 J must stay below 63 bits (int64 indices)")
    return float(bits)


class Partition:
    """Equal-prior-mass product partition with ``intervals[d]`` intervals in dimension d.

    Parameters
    ----------
    intervals : sequence of int, shape (D,)
        Number of intervals J_d >= 1 per dimension. ``J = prod(J_d)`` must be below 2^63.

    Attributes
    ----------
    intervals : int64 ndarray (D,)
    strides : int64 ndarray (D,), mixed-radix place values (dimension 0 least significant)
    offsets : int64 ndarray (D + 1,), start of each dimension's table in a flat weight table
    num_bins : int, J
    bits : float, log2 J
    """

    def __init__(self, intervals):
        values = np.asarray(intervals)
        if values.ndim != 1 or values.size == 0:
            raise ValueError(
                f"intervals must be a 1-D sequence with one count per dimension; got shape {values.shape}"
            )
        if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
            if not (np.issubdtype(values.dtype, np.floating) and np.all(values == np.round(values))):
                raise ValueError(f"intervals must be positive integers; got {intervals!r}")
        if np.any(values < 1):
            raise ValueError("intervals must be >= 1 in every dimension (1 = dimension not split)")
        if np.any(values > MAX_INTERVALS_PER_DIM):
            raise ValueError(
                f"intervals must be <= 2^24 per dimension (the sender tabulates every interval); "
                f"got max {int(values.max())}: spread the bits over more dimensions"
            )
        counts = [int(v) for v in values]
        num_bins = math.prod(counts)
        if num_bins > MAX_BINS:
            raise ValueError(
                f"the partition has J = prod(intervals) = 2^{math.log2(num_bins):.1f} bins, which overflows "
                "64-bit indices; use fewer intervals (log2 J must stay below 63 bits)"
            )
        self.intervals = np.array(counts, dtype=np.int64)
        self.num_bins = num_bins
        self.strides = np.array([math.prod(counts[:d]) for d in range(len(counts))], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.intervals)]).astype(np.int64)
        for array in (self.intervals, self.strides, self.offsets):
            array.flags.writeable = False  # derived from each other: keep them consistent

    @property
    def dim(self):
        return int(self.intervals.shape[0])

    @property
    def bits(self):
        """log2 J, the bits the bin part of an index costs."""
        return float(np.log2(self.intervals.astype(np.float64)).sum())

    def __repr__(self):
        return f"Partition(dim={self.dim}, bits={self.bits:.2f}, intervals={self.intervals.tolist()})"

    def __eq__(self, other):
        return isinstance(other, Partition) and np.array_equal(self.intervals, other.intervals)

    def __hash__(self):
        return hash(tuple(self.intervals.tolist()))

    def split_index(self, index):
        """Split a code n into (bin j, local index k >= 1) with n = (k - 1) * J + j."""
        index = int(index)
        if index < 0:
            raise ValueError(f"index must be >= 0; got {index}")
        return index % self.num_bins, index // self.num_bins + 1

    def join_index(self, bin_index, local_index):
        """The code n = (k - 1) * J + j of the k-th (k >= 1) sample of bin j (0 <= j < J)."""
        bin_index, local_index = int(bin_index), int(local_index)
        if not 0 <= bin_index < self.num_bins:
            raise ValueError(f"bin_index must be in [0, {self.num_bins}); got {bin_index}")
        if local_index < 1:
            raise ValueError(f"local_index counts from 1; got {local_index}")
        return (local_index - 1) * self.num_bins + bin_index

    def bin_intervals(self, bin_index):
        """Interval of bin j in every dimension (mixed radix digits), int64 (D,)."""
        return (int(bin_index) // self.strides) % self.intervals

    @classmethod
    def plain(cls, dim):
        """The trivial partition (one bin): plain REC."""
        return cls(np.ones(int(dim), dtype=np.int64))

    @classmethod
    def uniform(cls, dim, bits):
        """About ``bits`` of log2 J spread evenly over ``dim`` dimensions (never more than ``bits``)."""
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer; got {dim!r}")
        bits = _check_budget(bits)
        return cls(_allocate(np.full(int(dim), bits / dim), bits))

    @classmethod
    def from_information(cls, info_bits, bits, collapsed_below=0.01):
        """Allocate ``bits`` of log2 J in proportion to per-dimension information.

        Parameters
        ----------
        info_bits : array_like (D,)
            Shared per-dimension information in bits (e.g. average KL per dimension on training data).
        bits : float
            Total budget for log2 J; keep it a few bits below the block's KL.
        collapsed_below : float
            Dimensions with less information than this (bits) are "collapsed" and get one interval.
        """
        info = _check_information(info_bits)
        bits = _check_budget(bits)
        active = info >= collapsed_below
        if not np.any(active):
            return cls.plain(info.size)
        share = np.where(active, info, 0.0)
        return cls(_allocate(bits * share / share.sum(), bits))

    @classmethod
    def collapsed_only(cls, info_bits, bits, collapsed_below=0.01):
        """Ablation: use information only to skip collapsed dimensions, spread ``bits`` evenly otherwise."""
        info = _check_information(info_bits)
        bits = _check_budget(bits)
        active = info >= collapsed_below
        if not np.any(active):
            return cls.plain(info.size)
        return cls(_allocate(np.where(active, bits / active.sum(), 0.0), bits))

    @classmethod
    def random(cls, dim, bits, seed):
        """Ablation: split ``bits`` over ``dim`` dimensions in random (Dirichlet) proportions."""
        if int(dim) != dim or dim < 1:
            raise ValueError(f"dim must be a positive integer; got {dim!r}")
        bits = _check_budget(bits)
        proportions = np.random.default_rng(seed).dirichlet(np.ones(int(dim)))
        return cls(_allocate(bits * proportions, bits))


def _check_information(info_bits):
    info = np.asarray(info_bits, dtype=np.float64)
    if info.ndim != 1 or info.size == 0:
        raise ValueError(f"info_bits must be a 1-D array with one value per dimension; got shape {info.shape}")
    if not np.all(np.isfinite(info)) or np.any(info < 0):
        raise ValueError("info_bits must be finite and >= 0 (bits of information per dimension)")
    return info
