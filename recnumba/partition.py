"""Space partitions: per-dimension equal-prior-mass intervals and their product bins.

A partition gives dimension d ``J_d`` intervals of equal prior mass (edges at prior quantiles
``i / J_d``); the bins are their products, J = prod J_d of them, numbered in mixed radix with
dimension 0 least significant. Sender and receiver must agree on every J_d, so partitions are built
from shared information only (an explicit list, a bit budget, per-dimension information measured on
training data), never from the instance being coded.
"""

import itertools
import math
import numbers
import os
import sys
import warnings

import numpy as np

from recnumba.validation import INDEX_LIMIT, ParameterTypeError, check_int

#: Upper bound on J_d. The sender tabulates every interval: three float64 tables (log weight, cdf,
#: log sup ratio) of J_d entries per dimension, per block and per thread, built before the search.
#: At 2^20 that is 24 MiB and a fraction of a second per block; at 2^24 it was 400 MB and 11 s.
#: More bits go into more dimensions (J = prod J_d), never into one huge dimension.
MAX_INTERVALS_PER_DIM = 1 << 20
_MAX_INTERVAL_BITS = 20
#: The flat candidate index (k - 1) * J + j is an int64, so J itself must stay below 2^63.
MAX_BINS = (1 << 63) - 1
#: Most dimensions one partition may have (the ``dim`` of ``plain``/``uniform``/``random``, the
#: length of ``intervals`` or ``info_bits``): each costs a few int64 words per table.
MAX_DIMS = 1 << 24
#: The too-fine-partition threshold: :class:`PartitionTooFineWarning` when log2 J exceeds the
#: *planned* information (``Partition.from_information``'s ``sum(info_bits)``, a ``BlockPlan``
#: block's ``nominal_bits``) by more than this many bits. Every index costs at least about log2 J
#: bits, so bins beyond the information are bits spent for nothing; the recommended partitions sit
#: below it (log2 J about information - 2 bits for exact PFR, information - 4 for ORC).
TOO_FINE_EXCESS_BITS = 4.0
#: Older name of ``TOO_FINE_EXCESS_BITS``.
EXCESS_BITS_WARNING = TOO_FINE_EXCESS_BITS
#: ``encode`` checks each block against its own target's KL, which scatters around the planned
#: information (a block planned at 12 bits meets targets of 8 or 16 bits), so a partition chosen
#: sensibly from the plan must not warn for every target a little below average: the encode-time
#: threshold is ``TOO_FINE_EXCESS_BITS + TARGET_KL_SLACK_BITS`` (8 bits) above the target's KL.
TARGET_KL_SLACK_BITS = 4.0
#: Seeds of the allocation / permutation generators (``Partition.random``, ``BlockPlan.build``):
#: numpy PCG64 seeds, integers in [0, 2^64).
PERMUTATION_SEED_LIMIT = 1 << 64


class PartitionTooFineWarning(UserWarning):
    """The partition has far more bins (log2 J) than the block carries information (planned bits, or
    the target's KL): every index costs about log2 J bits, so the extra bits are wasted. Raised by
    :func:`warn_partition_too_fine` for ``Partition.from_information``, ``BlockPlan`` and ``encode``."""


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_stacklevel():
    """The ``stacklevel`` that points a warning at the first frame outside recnumba (the user's call)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def warn_partition_too_fine(log2_bins, information_bits, where, fix, *, information="planned information",
                            slack_bits=0.0):
    """Warn (:class:`PartitionTooFineWarning`) where log2 J exceeds the information by more than
    ``TOO_FINE_EXCESS_BITS + slack_bits``; the one place that decides and words this warning.

    Parameters
    ----------
    log2_bins, information_bits : float or array_like (B,)
        log2 J and the information it is measured against, one value or one per block (broadcast
        together). With arrays, the message names the block with the largest excess and how many
        blocks are over.
    where : str
        The caller, e.g. ``"Partition.from_information"``, ``"BlockPlan"``, ``"encode"``.
    fix : str
        What to do about it (a sentence naming the caller's own argument).
    information : str
        What ``information_bits`` is, for the message ("planned information", "the target's KL").
    slack_bits : float
        Added to the threshold (``TARGET_KL_SLACK_BITS`` for a check against an individual target).

    Returns True if it warned. The warning points at the user's call (the first frame outside recnumba).
    """
    blocks = np.ndim(log2_bins) > 0 or np.ndim(information_bits) > 0
    bins, info = np.broadcast_arrays(np.atleast_1d(np.asarray(log2_bins, dtype=np.float64)),
                                     np.atleast_1d(np.asarray(information_bits, dtype=np.float64)))
    limit = TOO_FINE_EXCESS_BITS + slack_bits
    with np.errstate(invalid="ignore"):
        excess = bins - info
        over = excess > limit  # NaN never warns
    if not np.any(over):
        return False
    b = int(np.argmax(np.where(over, excess, -np.inf)))
    place = where
    if blocks:
        count = int(np.count_nonzero(over))
        place = f"{where}, block {b}" + (f" (the worst of {count} blocks over the threshold)" if count > 1 else "")
    threshold = (f"{limit:g} bits: TOO_FINE_EXCESS_BITS + TARGET_KL_SLACK_BITS" if slack_bits
                 else f"{limit:g} bits: TOO_FINE_EXCESS_BITS")
    warnings.warn(
        f"{place}: log2 J = {bins[b]:.2f} bits exceeds {information} = {info[b]:.2f} bits by "
        f"{excess[b]:.2f} bits (warned above {threshold}); every index costs at least about log2 J bits, "
        f"so codes are longer than needed. {fix}",
        PartitionTooFineWarning, stacklevel=_caller_stacklevel(),
    )
    return True


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_permutation_seed(seed, name="seed"):
    """A PCG64 seed as a Python int in [0, 2^64): ParameterTypeError naming ``name`` if it is not an
    integer, ValueError if it is out of range."""
    if not _is_integer(seed):
        raise ParameterTypeError(f"{name} must be an integer in [0, 2^64); got {type(seed).__name__} {seed!r:.80}")
    if not 0 <= int(seed) < PERMUTATION_SEED_LIMIT:
        raise ValueError(f"{name} must be in [0, 2^64); got {seed}. Use a non-negative seed below 2^64.")
    return int(seed)


def _check_dim(dim):
    dim = check_int(dim, "dim", minimum=1)
    if dim > MAX_DIMS:
        raise ValueError(f"dim must be at most 2^24 (MAX_DIMS); got {dim}")
    return dim


def _check_threshold(value, name):
    """A finite number of bits >= 0 (``collapsed_below``), or ValueError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ParameterTypeError(f"{name} must be a finite number of bits >= 0; got {type(value).__name__} "
                                 f"{value!r:.80}")
    try:
        value = float(value)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of bits >= 0; got {value!r}")
    return value


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


def _allocate_capped(target_bits, total_bits, caller):
    """``_allocate``, with a UserWarning where a dimension's share is cut at 2^20 intervals."""
    target_bits = np.asarray(target_bits, dtype=np.float64)
    intervals = _allocate(target_bits, total_bits)
    over = np.flatnonzero(target_bits > _MAX_INTERVAL_BITS + 1e-9)
    if over.size:
        d = int(over[np.argmax(target_bits[over])])
        got = float(np.log2(intervals.astype(np.float64)).sum())
        warnings.warn(
            f"Partition.{caller}: bits={total_bits:g} asks for 2^{target_bits[d]:.1f} intervals in dimension {d}, "
            f"over the limit of 2^{_MAX_INTERVAL_BITS} per dimension (MAX_INTERVALS_PER_DIM); capped there, so "
            f"log2 J = {got:.2f} bits instead of about {total_bits:g}. Spread the bits over more dimensions.",
            UserWarning, stacklevel=3,
        )
    return intervals


def _check_budget(bits, name="bits"):
    if isinstance(bits, (bool, np.bool_)) or not isinstance(bits, numbers.Real):
        raise ParameterTypeError(f"{name} must be a finite number of bits >= 0; got {type(bits).__name__} "
                                 f"{bits!r:.80}")
    try:
        value = float(bits)
    except OverflowError:  # an int beyond float range
        value = math.inf
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number of bits >= 0; got {bits!r:.80}")
    if value >= 63:
        raise ValueError(f"{name}={bits} is too large: log2 J must stay below 63 bits (int64 indices)")
    return value


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
        counts = _check_intervals(intervals)
        num_bins = math.prod(counts)
        if num_bins > MAX_BINS:
            raise ValueError(
                f"the partition has J = prod(intervals) = 2^{math.log2(num_bins):.1f} bins, which overflows "
                "64-bit indices; use fewer intervals (log2 J must stay below 63 bits)"
            )
        self.intervals = np.array(counts, dtype=np.int64)
        self.num_bins = num_bins
        # exclusive running products (linear, not a product per prefix)
        self.strides = np.array([1, *itertools.accumulate(counts[:-1], lambda a, b: a * b)], dtype=np.int64)
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
        index = check_int(index, "index")
        return index % self.num_bins, index // self.num_bins + 1

    def join_index(self, bin_index, local_index):
        """The code n = (k - 1) * J + j of the k-th (k >= 1) sample of bin j (0 <= j < J)."""
        bin_index = self._check_bin(bin_index)
        if not _is_integer(local_index):
            raise ParameterTypeError(f"local_index counts from 1 (an integer >= 1); got {type(local_index).__name__} "
                                     f"{local_index!r:.80}")
        if int(local_index) < 1:
            raise ValueError(f"local_index counts from 1 (an integer >= 1); got {local_index!r:.80}")
        index = (int(local_index) - 1) * self.num_bins + bin_index
        if index >= INDEX_LIMIT:
            raise ValueError(
                f"local_index={local_index} gives index 2^{math.log2(index):.1f}, beyond the int64 index range "
                "(indices must stay below 2^63); use a smaller local_index"
            )
        return index

    def bin_intervals(self, bin_index):
        """Interval of bin j in every dimension (mixed radix digits), int64 (D,)."""
        return (self._check_bin(bin_index) // self.strides) % self.intervals

    def _check_bin(self, bin_index):
        if not _is_integer(bin_index):
            raise ParameterTypeError(f"bin_index must be an integer in [0, {self.num_bins}); got "
                                     f"{type(bin_index).__name__} {bin_index!r:.80}")
        if not 0 <= int(bin_index) < self.num_bins:
            raise ValueError(f"bin_index must be an integer in [0, {self.num_bins}); got {bin_index!r:.80}")
        return int(bin_index)

    @classmethod
    def plain(cls, dim):
        """The trivial partition (one bin): plain REC."""
        return cls(np.ones(_check_dim(dim), dtype=np.int64))

    @classmethod
    def uniform(cls, dim, bits):
        """About ``bits`` of log2 J spread evenly over ``dim`` dimensions (never more than ``bits``)."""
        dim = _check_dim(dim)
        bits = _check_budget(bits)
        return cls(_allocate_capped(np.full(dim, bits / dim), bits, "uniform"))

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

        Warns (:class:`PartitionTooFineWarning`, a UserWarning) when the partition's log2 J exceeds
        ``sum(info_bits)`` by more than ``TOO_FINE_EXCESS_BITS`` (4) bits: every index costs at least
        log2 J bits. Warns (UserWarning) when a dimension's share is cut at 2^20 intervals.
        """
        info = _check_information(info_bits)
        bits = _check_budget(bits)
        collapsed_below = _check_threshold(collapsed_below, "collapsed_below")
        active = info >= collapsed_below
        if not np.any(active):
            return cls.plain(info.size)
        share = np.where(active, info, 0.0)
        partition = cls(_allocate_capped(bits * share / share.sum(), bits, "from_information"))
        warn_partition_too_fine(
            partition.bits, float(info.sum()), "Partition.from_information",
            f"Lower bits (now {bits:g}) to a few bits below sum(info_bits), e.g. sum(info_bits) - 2.",
            information="the information sum(info_bits)")
        return partition

    @classmethod
    def collapsed_only(cls, info_bits, bits, collapsed_below=0.01):
        """Ablation: use information only to skip collapsed dimensions, spread ``bits`` evenly otherwise."""
        info = _check_information(info_bits)
        bits = _check_budget(bits)
        collapsed_below = _check_threshold(collapsed_below, "collapsed_below")
        active = info >= collapsed_below
        if not np.any(active):
            return cls.plain(info.size)
        return cls(_allocate_capped(np.where(active, bits / active.sum(), 0.0), bits, "collapsed_only"))

    @classmethod
    def random(cls, dim, bits, seed):
        """Ablation: split ``bits`` over ``dim`` dimensions in random (Dirichlet) proportions."""
        dim = _check_dim(dim)
        bits = _check_budget(bits)
        seed = check_permutation_seed(seed)
        proportions = np.random.default_rng(seed).dirichlet(np.ones(dim))
        return cls(_allocate_capped(bits * proportions, bits, "random"))


def information_array(info_bits):
    """``info_bits`` as a float64 array (any shape; callers check it): ParameterTypeError when it is not
    an array of real numbers (strings, None, booleans, complex, objects), ValueError for a ragged
    sequence; numbers beyond float64 become inf (which the callers refuse as not finite)."""
    kind_error = ParameterTypeError(
        f"info_bits must be an array of numbers (bits per dimension); got {type(info_bits).__name__} "
        f"{info_bits!r:.80}")
    if info_bits is None or isinstance(info_bits, (str, bytes)):
        raise kind_error
    try:
        raw = np.asarray(info_bits)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"info_bits must be a 1-D array with one value per dimension; got a ragged or "
                         f"unreadable sequence ({info_bits!r:.80})") from None
    if raw.dtype == object:
        items = raw.ravel().tolist()
        if any(isinstance(v, (list, tuple, np.ndarray)) for v in items):
            raise ValueError(f"info_bits must be a 1-D array with one value per dimension; got a ragged "
                             f"sequence ({info_bits!r:.80})")
        if not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in items):
            raise kind_error
        values = []
        for v in items:
            try:
                values.append(float(v))
            except OverflowError:  # an int beyond float64
                values.append(math.inf if v > 0 else -math.inf)
        return np.array(values, dtype=np.float64).reshape(raw.shape)
    if raw.dtype == bool or raw.dtype.kind not in "iuf":
        raise kind_error
    return np.asarray(raw, dtype=np.float64)


def _check_information(info_bits):
    info = information_array(info_bits)
    if info.ndim != 1 or info.size == 0:
        raise ValueError(f"info_bits must be a 1-D array with one value per dimension; got shape {info.shape}")
    if info.size > MAX_DIMS:
        raise ValueError(f"info_bits has {info.size} dimensions; a partition has at most 2^24 (MAX_DIMS)")
    if not np.all(np.isfinite(info)) or np.any(info < 0):
        raise ValueError("info_bits must be finite and >= 0 (bits of information per dimension)")
    return info


def _check_intervals(intervals):
    """``intervals`` as a list of Python ints in [1, 2^20], or ValueError naming ``intervals``."""
    if intervals is None or isinstance(intervals, (str, bytes, dict, set, frozenset, numbers.Number)) \
            or (isinstance(intervals, np.ndarray) and intervals.ndim == 0):
        raise ParameterTypeError(
            f"intervals must be a sequence or array of positive integers (one count per dimension); "
            f"got {type(intervals).__name__}"
        )
    try:  # lists as objects: numpy would turn True into 1 and 2**64 into a float
        values = intervals if isinstance(intervals, np.ndarray) else np.asarray(intervals, dtype=object)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            f"intervals must be a 1-D sequence with one count per dimension; got {intervals!r:.80}"
        ) from None
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"intervals must be a 1-D sequence with one count per dimension; got shape {values.shape}"
        )
    if values.size > MAX_DIMS:
        raise ValueError(f"intervals has {values.size} dimensions; a partition has at most 2^24 (MAX_DIMS)")
    if values.dtype.kind in "iu":  # the common case, checked in one pass
        low, high = int(values.min()), int(values.max())
        if 1 <= low and high <= MAX_INTERVALS_PER_DIM:
            return values.tolist()
    if values.dtype == object:
        items = values.tolist()
        if any(isinstance(v, (list, tuple, np.ndarray)) for v in items):
            raise ValueError(
                f"intervals must be a 1-D sequence with one count per dimension; got a ragged one ({intervals!r:.80})"
            )
        if not all(_is_integer(v) or isinstance(v, (float, np.floating)) for v in items):
            raise ParameterTypeError(f"intervals must be positive integers; got {intervals!r:.80}")
        values = items
    elif values.dtype == bool or values.dtype.kind not in "iuf":
        raise ParameterTypeError(f"intervals must be positive integers; got {intervals!r:.80}")
    counts = []
    for d, v in enumerate(values.tolist() if isinstance(values, np.ndarray) else values):
        if isinstance(v, (float, np.floating)):
            if not math.isfinite(v) or v != math.floor(v):
                raise ValueError(f"intervals must be positive integers; dimension {d} has {v!r}")
            v = int(v)
        v = int(v)
        if v < 1:
            raise ValueError(
                f"intervals must be >= 1 in every dimension (1 = dimension not split); dimension {d} has {v}"
            )
        if v > MAX_INTERVALS_PER_DIM:
            raise ValueError(
                f"intervals must be <= 2^{_MAX_INTERVAL_BITS} per dimension (MAX_INTERVALS_PER_DIM: the sender "
                f"tabulates every interval, three float64 tables of J_d entries per block and thread); dimension "
                f"{d} has 2^{math.log2(v):.1f}: spread the bits over more dimensions"
            )
        counts.append(v)
    return counts

