"""The exact / ORC / auto policy: which search a block runs, written once for every backend.

* ``method="pfr"``: exact PFR with the caller's weights. A block whose ratio is unbounded is
  reported (``STATUS_UNBOUNDED``), and so is one whose search bound exp(ln r'_max) exceeds
  ``max_steps`` by more than 2^10 (``STATUS_MAX_STEPS`` with 0 steps): it would fail anyway.
* ``method="orc"``: ORC with the caller's weights and budget.
* ``method="auto"``: exact PFR with ratio weights when the block's ratio-weight bound is finite, at
  most ``exact_log_bound_limit`` and not hopeless; if that search fails (reaches ``max_steps``),
  and for every other block, ORC with the caller's weights. The decoder needs no side information.

Backends call these scalar functions per block (the CPU inside its kernels, the CUDA backend on the
host before it launches), so every backend makes the same decisions.
"""

import math

from numba import njit

from recnumba.search.params import (
    METHOD_AUTO,
    METHOD_PFR,
    STATUS_MAX_STEPS,
    STATUS_OK,
    STATUS_UNBOUNDED,
    WEIGHTS_RATIO,
)

ACTION_PFR = 0     # run exact PFR
ACTION_ORC = 1     # run ORC
ACTION_REPORT = 2  # run nothing: report the status

#: Exact PFR refuses to start when its expected step count exp(ln r'_max) exceeds max_steps by 2^10.
HOPELESS_FACTOR_LOG = 10.0 * math.log(2.0)


@njit(cache=True)
def first_weights(spec):
    """Bin weights of a block's first search: ratio weights for auto's exact attempt, else the caller's."""
    return WEIGHTS_RATIO if spec.method == METHOD_AUTO else spec.weights


@njit(cache=True)
def first_action(spec, log_bound):
    """(action, status) for a block whose ``first_weights`` tables have bound ``log_bound`` (nats)."""
    hopeless = math.log(float(spec.max_steps)) + HOPELESS_FACTOR_LOG
    if spec.method == METHOD_PFR:
        if math.isinf(log_bound):
            return ACTION_REPORT, STATUS_UNBOUNDED
        if log_bound > hopeless:
            # PFR takes about exp(log_bound) steps: do not grind through max_steps to fail anyway.
            return ACTION_REPORT, STATUS_MAX_STEPS
        return ACTION_PFR, STATUS_OK
    if spec.method == METHOD_AUTO:
        cheap = log_bound <= spec.exact_log_bound_limit and log_bound <= hopeless and not math.isinf(log_bound)
        if cheap:
            return ACTION_PFR, STATUS_OK
    return ACTION_ORC, STATUS_OK


@njit(cache=True)
def falls_back_to_orc(spec, status):
    """After a block's exact search ended with ``status``: does it go on with ORC?"""
    return spec.method == METHOD_AUTO and status != STATUS_OK


@njit(cache=True)
def first_actions(spec, log_bound, action, status):
    """``first_action`` for every block's bound (B,) into ``action`` and ``status`` (B,) (host-side policy)."""
    for b in range(log_bound.shape[0]):
        action[b], status[b] = first_action(spec, log_bound[b])
