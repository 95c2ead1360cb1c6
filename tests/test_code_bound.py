"""The paper's code-length claims for exact PFR (issue #10), on the demo's 5-D Gaussians.

Measured (``python benchmarks/code_bound.py``, 1,000 encodes per target): partitioned PFR with the zeta
code is 0.5-1.5 bits *shorter* than plain PFR with its best code (zeta) at every D_inf from 8 to 20;
with the two-part code it is within 0.3 bits of plain's best Elias code (gamma, delta, omega) at
every D_inf, but 0.1-0.3 bits above plain zeta only from D_inf = 16 up (below, Elias delta of a small
rank k costs up to 1.3 bits more than zeta), so the paper's overlap holds for the zeta code. Mean lengths of both codes stay below
I + E[eps] + log2(I - log2 J + E[eps] + 1) + C with C = ``recnumba.demo.BOUND_CONSTANT_BITS``."""

import numpy as np
import pytest

from recnumba import demo

ENCODES = 300
#: "Within 0.3 bits": partitioned two-part may not exceed plain PFR's best code by more than this.
TOLERANCE_BITS = 0.3


class _Quiet:
    def update(self, n=1):
        pass


@pytest.fixture(scope="module")
def rows():
    return demo.pfr_sweep([8, 12, 16, 20], ENCODES, _Quiet())


def test_partitioned_zeta_is_within_tolerance_of_plain_best(rows):
    for row in rows:
        plain_best = min(row["plain"]["codes"].values())
        assert row["part"]["codes"]["zeta"] <= plain_best + TOLERANCE_BITS, (row["dinf"], row["part"]["codes"])


def test_partitioned_two_part_is_within_tolerance_of_plain_best_elias(rows):
    for row in rows:
        plain_elias = min(row["plain"]["codes"][c] for c in ("gamma", "delta", "omega"))
        two_part = row["part"]["codes"]["two-part"]
        assert two_part <= plain_elias + TOLERANCE_BITS, (row["dinf"], two_part, row["plain"]["codes"])


def test_merged_delta_is_not_within_tolerance(rows):
    """Companion: the check has teeth. Partitioned PFR with Elias delta of the merged index (what
    recnumba did before two-part) is more than the tolerance above plain's best code at D_inf >= 14."""
    worse = [row["part"]["codes"]["delta"] - min(row["plain"]["codes"].values()) for row in rows if row["dinf"] >= 12]
    assert min(worse) > TOLERANCE_BITS, worse


@pytest.mark.parametrize("code", ["two-part", "zeta"])
def test_mean_lengths_are_below_the_bound(rows, code):
    for row in rows:
        assert row["part"]["codes"][code] <= row["bound"], (row["dinf"], code, row["part"]["codes"][code], row["bound"])


def test_bound_is_not_vacuous(rows):
    """Companion: without its constant the bound is beaten by the measured lengths somewhere, and
    plain Elias delta (log log overhead on the whole index) exceeds the bound at the largest KL."""
    free = [demo.two_part_bound(r["kl"], r["log2_bins"], r["epsilon"], constant=0.0) for r in rows]
    assert any(r["part"]["codes"]["two-part"] > f for r, f in zip(rows, free))
    assert rows[-1]["plain"]["codes"]["delta"] > rows[-1]["bound"]


def test_zeta_is_shortest_at_large_kl(rows):
    last = rows[-1]["part"]["codes"]
    assert last["zeta"] < last["two-part"] < last["delta"]
    assert np.isfinite(rows[0]["epsilon"]) and rows[0]["epsilon"] >= 0
