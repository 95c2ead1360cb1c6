"""Bin weights pi for the search heuristic P' = sum_j pi_j P|B_j, one dimension at a time.

For factorised P and Q, both weight rules factorise over dimensions, so a bin is drawn one interval
per dimension and the bound on r' = dQ/dP' is a product of per-dimension bounds (see
``../shared/design/rec-notes.md`` section 3):

* ``WEIGHTS_RATIO`` ("ratio"):  pi_i ∝ sup_{interval i} q/p. Minimises the exact-PFR runtime.
* ``WEIGHTS_TARGET`` ("target"): pi_i = Q(interval i), computed in log space so far-tail intervals
  keep a finite log weight. Matches Q at bin level; suits ORC.

The weights actually used are the differences of the float64 cumulative table that the sampler
searches, so scores and bounds use exactly the probabilities the sampler realises.
"""

import math

from numba import njit

from recnumba.distributions.gaussian_math import log_interval_mass, log_sup_ratio_interval
from recnumba.kernels.candidates import std_edge

WEIGHTS_RATIO = 0
WEIGHTS_TARGET = 1
WEIGHT_NAMES = {"ratio": WEIGHTS_RATIO, "target": WEIGHTS_TARGET}


@njit(cache=True)
def dimension_bin_tables(t_loc, t_scale, num_intervals, weights_kind, start, log_pi, cdf):
    """Fill ``log_pi[start:start+J]`` and ``cdf[start:start+J]`` for one dimension; return its bound.

    Inputs are standardised (prior N(0, 1), target N(t_loc, t_scale^2)). The return value is
    ``max_i [ln sup_{interval i} q/p - ln J - ln pi_i]`` in nats, the log of this dimension's factor
    of sup r'; it is +inf when q/p is unbounded on some interval that can be drawn.
    """
    count = num_intervals
    # First pass: unnormalised log weights into log_pi, remembering the largest.
    largest = -math.inf
    for i in range(count):
        lower = std_edge(i, count)
        upper = std_edge(i + 1, count)
        if weights_kind == WEIGHTS_RATIO:
            log_weight = log_sup_ratio_interval(lower, upper, t_loc, t_scale, 0.0, 1.0)
        else:
            log_weight = log_interval_mass(lower, upper, t_loc, t_scale)
        log_pi[start + i] = log_weight
        if log_weight > largest:
            largest = log_weight
    if math.isinf(largest) and largest > 0:
        # Some interval has unbounded ratio weight: no valid normalisation. Flag via the bound.
        for i in range(count):
            cdf[start + i] = 1.0
            log_pi[start + i] = -math.inf
        return math.inf
    total = 0.0
    for i in range(count):
        total += math.exp(log_pi[start + i] - largest)
        cdf[start + i] = total
    previous = 0.0
    log_count = math.log(float(count))
    log_bound = -math.inf
    for i in range(count):
        value = cdf[start + i] / total if i < count - 1 else 1.0
        cdf[start + i] = value
        probability = value - previous
        previous = value
        if probability > 0.0:
            if weights_kind == WEIGHTS_RATIO:
                log_sup = log_pi[start + i]  # the raw ratio weight is this sup already
            else:
                log_sup = log_sup_ratio_interval(
                    std_edge(i, count), std_edge(i + 1, count), t_loc, t_scale, 0.0, 1.0
                )
            log_pi[start + i] = math.log(probability)
            candidate = log_sup - log_count - log_pi[start + i]
            if candidate > log_bound:
                log_bound = candidate
        else:
            log_pi[start + i] = -math.inf
    return log_bound


@njit(cache=True)
def dimension_log_sup(t_loc, t_scale, num_intervals, start, log_sup):
    """Fill ``log_sup[start:start+J]`` with ln sup q/p over each interval (nats, may be +inf).

    The search uses these to stop scoring a candidate whose remaining dimensions cannot make it win.
    """
    for i in range(num_intervals):
        log_sup[start + i] = log_sup_ratio_interval(
            std_edge(i, num_intervals), std_edge(i + 1, num_intervals), t_loc, t_scale, 0.0, 1.0
        )
