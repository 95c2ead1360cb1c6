"""Parameter structs and named constants shared by the search core, the policy and every backend.

The structs are ``typing.NamedTuple`` classes: numba passes them to compiled functions as plain
tuples (no allocation), so a kernel takes a handful of named groups instead of a long list of
positional arrays and flags.
"""

from typing import NamedTuple

import numpy as np

#: What the caller asked for (``encode(method=...)``).
METHOD_PFR = 0   # exact Poisson functional representation, optimal stopping rule
METHOD_ORC = 1   # ordered random coding with exactly num_samples candidates
METHOD_AUTO = 2  # per block: exact PFR when its search bound is small enough, else ORC
METHOD_NAMES = {"pfr": METHOD_PFR, "orc": METHOD_ORC, "auto": METHOD_AUTO}

#: Bin weights pi of the search heuristic P' = sum_j pi_j P|B_j.
WEIGHTS_RATIO = 0   # pi_j ∝ P(B_j) sup_{B_j} q/p: the fastest exact search
WEIGHTS_TARGET = 1  # pi_j = Q(B_j): matches Q at bin level, suits ORC
WEIGHT_NAMES = {"ratio": WEIGHTS_RATIO, "target": WEIGHTS_TARGET}

#: Per-block outcome of a search.
STATUS_OK = 0
STATUS_MAX_STEPS = 1       # exact PFR reached max_steps (or would take far longer: not started)
STATUS_INDEX_OVERFLOW = 2  # the index k * J + j outgrew int64
STATUS_UNBOUNDED = 3       # exact PFR with an unbounded density ratio
STATUS_NO_CANDIDATE = 4    # no candidate had a finite score (degenerate target)
STATUS_INTERRUPTED = 5     # the caller raised the cancel flag (Ctrl-C): no result


class BinGrid(NamedTuple):
    """A partition as the kernels see it (see ``recnumba.Partition``).

    intervals : int64 (D,)   J_d, equal-prior-mass intervals per dimension
    offsets : int64 (D + 1,) start of dimension d's entries in the flat per-interval tables
    strides : int64 (D,)     mixed-radix strides: bin j has interval (j // strides[d]) % J_d
    num_bins : int64         J = prod J_d
    """

    intervals: np.ndarray
    offsets: np.ndarray
    strides: np.ndarray
    num_bins: np.int64


class SearchSpec(NamedTuple):
    """What to search for, identical for every block of a call.

    method : METHOD_*          pfr / orc / auto
    weights : WEIGHTS_*        bin weights of PFR, and of ORC (including the ORC blocks of auto)
    num_samples : int64        ORC's candidate budget N (unused by pure PFR)
    max_steps : int64          PFR's step limit per block
    exact_log_bound_limit : float64   auto: largest ln sup dQ/dP' (nats) for which PFR runs
    seed : uint64              the shared seed (private streams are derived from it)
    """

    method: np.int64
    weights: np.int64
    num_samples: np.int64
    max_steps: np.int64
    exact_log_bound_limit: np.float64
    seed: np.uint64


class SearchOutput(NamedTuple):
    """Per-block results, arrays of shape (B,), filled by a backend's ``select``.

    index : int64      the code n = k * J + j
    steps : int64      candidates examined
    status : int64     STATUS_*
    log_bound : float64  ln sup dQ/dP' of the heuristic used (nats)
    exact : bool       whether the block's sample came from exact PFR
    """

    index: np.ndarray
    steps: np.ndarray
    status: np.ndarray
    log_bound: np.ndarray
    exact: np.ndarray

    @classmethod
    def empty(cls, num_blocks):
        return cls(np.empty(num_blocks, np.int64), np.empty(num_blocks, np.int64),
                   np.empty(num_blocks, np.int64), np.empty(num_blocks, np.float64),
                   np.empty(num_blocks, np.bool_))


class BinTables(NamedTuple):
    """One block's flat per-interval tables (length offsets[D]), filled by ``core.fill_bin_tables``.

    log_pi : ln pi of each interval (as realised by ``cdf``)
    cdf : cumulative weights per dimension, last entry 1.0 (what the bin draw searches)
    log_sup : ln sup q/p on each interval (per-candidate pruning)
    """

    log_pi: np.ndarray
    cdf: np.ndarray
    log_sup: np.ndarray


class Scoring(NamedTuple):
    """What ``core.visit_candidate`` needs to score a candidate: ``ln T - ln q/p + ln J + ln pi_j``."""

    pair: tuple            # the pair's numba tag
    log_arrival: float
    log_num_bins: float
    log_weight: float      # ln pi_j of the candidate's bin
    best_score: float      # prune against this (with log_sup); +inf never prunes


class Placement(NamedTuple):
    """Where ``core.visit_candidate`` writes a decoded sample: ``out[d] = loc[d] + scale[d] * x_d``."""

    loc: np.ndarray
    scale: np.ndarray
    out: np.ndarray
