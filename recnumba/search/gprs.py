"""1-D greedy Poisson rejection sampling (GPRS), branch-and-bound "split-on-sample", Gaussian/Gaussian.

Flamich, *Greedy Poisson Rejection Sampling* (NeurIPS 2023; thesis Alg. 3). Coordinates are
standardised by the prior: P = N(0, 1), the target Q = N(a, b^2) with b < 1, r = dQ/dP. Then ln r is
concave with its mode at ``x* = a / (1 - b^2)`` and

    ln r(x) = ln r* - u^2,   u = |x - x*| / kappa,   kappa = b sqrt(2 / (1 - b^2)),

so the super-level set {r >= r* e^{-u^2}} is the interval [x* - kappa u, x* + kappa u] and
w_P, w_Q (the P- and Q-masses of that set) are differences of Phi.

**The stretch function.** GPRS accepts the first point (T, X) of a unit-rate Poisson process with
spatial law P that falls under the graph of sigma(r(X)). sigma solves
(sigma^-1)' = w_Q(sigma^-1) - sigma^-1 w_P(sigma^-1), sigma^-1(0) = 0, i.e.
``sigma(h) = integral_0^h dy / F(y)`` with ``F(h) = w_Q(h) - h w_P(h) = integral_{r >= h} (r - h) dP``.
In the level variable u (h = r* e^{-u^2}) and with ``F^(u) = F / r*`` (r* cancels):

    S(u) := sigma(r* e^{-u^2}) = integral_u^inf f(v) dv,   f(v) = 2 v e^{-v^2} / F^(v),

which falls from +inf at the mode (S ~ c0 / u, ``c0 = 3 / (2 kappa phi(x*))``) to ~ r* e^{-u^2}. The
acceptance test is ``ln T < ln S(u(X))``. The sender tabulates ln S per target (``SigmaTable``):
adaptive 8-point Gauss-Legendre panels (in u up to u = 8, in w = u^2 above, where the integrand
e^{-w} / F^ varies on unit scale however large u is), each accepted once its error estimate (whole
panel against its two halves) is below ``SIGMA_TOLERANCE`` (1e-13; or the integrand's own rounding,
about 8 ulp (ln r* + u^2), where that is larger: the level of a point is a difference of numbers that
large) of S at its lower edge or ``SIGMA_ABS_TOLERANCE`` (1e-20: an error dS moves an acceptance
probability by at most dS), from ``u_max`` (S < e^-40 there:
no arrival is that early, since T >= -ln(1 - v) > e^-36.8 for a 53-bit uniform v, so the cut is
exact) down to ``u_zero``, and below ``u_zero`` the expansion
``S(s) = S(u_zero) + c0 integral_s^u_zero du / (u^2 G(u)/G(0))`` with the smooth ratio G(u)/G(0) (no
cancellation, exact 1/s singularity). The table is built lazily, top down, only as far as the
queries reach (a block whose samples stay far from the mode never pays for the panels near it); a
query integrates from its point to the top of its panel with the same rule. F^ is the closed form
``w_Q / r* - e^{-u^2} w_P`` (log space; the interval masses from centre and half-width, so a narrow
w_P does not inherit the rounding of its endpoints) for u >= ``U_CLOSED`` and wherever its rounding
estimate is below ``CLOSED_FORM_ERROR``; else the cancellation-free integral
``e^{-u^2} kappa u^3 integral_{-1}^{1} expm1(u^2 (1 - z^2)) / u^2 phi(x* + kappa u z) dz`` (16-point
Gauss-Legendre on sub-panels of the window where phi is within e^-40 of its peak). Measured against
mpmath: relative error of S at most 3e-13 (1e-14 for targets with b < 0.9); ``tests/test_gprs.py``
checks it against mpmath and against scipy's ``solve_ivp`` of the ODE. Cost: about 17-25 panels,
50-120 us per block (2-core VM).

**Branch and bound.** Start with B = R, T = 0, heap index H = 1. At node H: X ~ P restricted to B from
the *shared* uniform keyed (seed, block, H) (the receiver regenerates it), T += E / P(B) with E ~
Exp(1) from the sender's private uniform keyed (seed, block, H). Accept X if T < sigma(r(X));
otherwise continue on the side of X that holds the mode: B = B ∩ (-inf, X) and H = 2H if X > x*, else
B = B ∩ (X, inf) and H = 2H + 1. The message is H (``api`` reports n = H - 1), ``steps`` the number
of nodes visited (depth + 1). Restricting to the side of the mode is exact: on the other side r < r(X)
so sigma(r) < sigma(r(X)) <= T, and the process restricted to the new B after T is again Poisson.

**Decoding** (``decode_heap``) replays the path from H's bits with the prior and the shared uniforms
only. Intervals are held in probability coordinates, each endpoint as the prior mass of its own
tail (lower: Phi(e) <= 1/2, upper: 1 - Phi(e) <= 1/2), so both tails keep full resolution; a point
is drawn as ``t + v * P(B)`` (``mul_rn``) and mapped through ``ndtri_fast`` (AS241 in portable
arithmetic), and that very mass becomes the new endpoint. Only +, -, ``mul_rn`` and ``ndtri_fast``
are on this path, so the sender's sample and every decode are the same bits.

Limits: the heap index is int64 (depth <= ``MAX_DEPTH`` = 62, STATUS_INDEX_OVERFLOW beyond: a path
is about 1.4 KL nodes deep for a centred target, so some paths pass it from about 28 bits of
information per dimension: measured, 0.05% of centred 28-bit targets' paths, 0.5% at 32 bits, none of
4,000 at 24; a target whose KL comes half from its mean reaches 40 bits first), and a path that narrows B below float64 resolution of its tail mass
stops with ``STATUS_PRECISION`` (``recnumba.gprs`` raises a ValueError for both).
"""

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from recnumba.numerics.gaussian_math import log_std_interval_mass, log_sup_ratio, ndtri_fast
from recnumba.numerics.portable import mul_rn
from recnumba.random.philox import private_uniform_pair, shared_uniform_pair
from recnumba.search.params import STATUS_INDEX_OVERFLOW, STATUS_INTERRUPTED, STATUS_MAX_STEPS, STATUS_OK

__all__ = [
    "GPRS_STREAM",
    "MAX_DEPTH",
    "STATUS_PRECISION",
    "STATUS_SIGMA",
    "GprsTarget",
    "SigmaTable",
    "gprs_target",
    "build_sigma_table",
    "extend_sigma_table",
    "log_sigma",
    "log_f_hat",
    "sample_interval",
    "gprs_search",
    "decode_heap",
    "encode_range",
    "decode_range",
]

#: Counter word of GPRS's shared and private uniforms (``philox``'s "pair" word): keeps its streams
#: apart from PFR/ORC candidates of the same (seed, block).
GPRS_STREAM = np.uint64(0x47505253)  # "GPRS"
#: Deepest node: heap indices stay below 2^63.
MAX_DEPTH = 62
#: The interval became too narrow for float64 (its sample is not strictly inside it).
STATUS_PRECISION = 16
#: The stretch-function table could not be built (too many panels, or no finite upper end).
STATUS_SIGMA = 17

#: Relative accuracy asked of every panel of the table (error estimate vs S at the panel's lower edge).
SIGMA_TOLERANCE = 1e-13
#: The table ends at u_max where S < e^LOG_S_NEGLIGIBLE: no arrival is that early (T >= the first
#: arrival -ln(1 - v) >= -ln(1 - 2^-53) > e^-36.8 for a 53-bit uniform v), so above u_max every
#: point is rejected, exactly as with the true S.
LOG_S_NEGLIGIBLE = -40.0
#: Absolute error allowed per panel besides the relative SIGMA_TOLERANCE: an error dS in S changes an
#: acceptance probability by at most dS (the density of every arrival time is at most 1).
SIGMA_ABS_TOLERANCE = 1e-20
#: Closed form of F^ from here up (its cancellation costs a few D_inf ulp here, no more above); below,
#: wherever its estimated rounding error is under CLOSED_FORM_ERROR, else the cancellation-free integral.
U_CLOSED = 1.0
CLOSED_FORM_ERROR = 5e-14
MAX_PANELS = 2048
_STACK = 2 * MAX_PANELS + 128
#: S is integrated in u up to U_W and in w = u^2 above (its integrand there, e^{-w} / F^(sqrt w),
#: varies on unit scale in w however large u is: an almost flat ratio puts every query near u ~ 1000,
#: where e^{-u^2} changes by e^-2000 per unit of u). Coarse panels: halvings of u below 1, steps of
#: U_STEP in u up to U_W, steps of W_STEP in w above; the adaptive test refines them.
U_W = 8.0
U_STEP = 0.5
W_STEP = 2.0
_LOG_SQRT_2PI = 0.91893853320467274178
_LN2 = 0.6931471805599453094
_INF = math.inf

# Gauss-Legendre nodes and weights on [-1, 1] (positive half; the rules are symmetric), from a
# 40-digit Newton iteration, rounded to float64 (literals: every machine builds the same table).
_GL8_X = (0.9602898564975363, 0.7966664774136267, 0.525532409916329, 0.1834346424956498)
_GL8_W = (0.10122853629037626, 0.22238103445337448, 0.31370664587788727, 0.362683783378362)
_GL16_X = (0.9894009349916499, 0.9445750230732326, 0.8656312023878318, 0.755404408355003,
           0.6178762444026438, 0.45801677765722737, 0.2816035507792589, 0.09501250983763744)
_GL16_W = (0.027152459411754096, 0.062253523938647894, 0.09515851168249279, 0.12462897125553388,
           0.14959598881657674, 0.16915651939500254, 0.18260341504492358, 0.1894506104550685)


class GprsTarget(NamedTuple):
    """One standardised target Q = N(a, b^2) under P = N(0, 1), b < 1, as the sender's kernels need it."""

    a: float
    b: float
    x_star: float      # mode of r
    kappa: float       # |x - x*| = kappa u on the level set ln r = ln r* - u^2
    kappa_q: float     # kappa / b: the same half-width in units of the target's std
    offset: float      # (x* - a) / b: the level sets' centre in the target's standard coordinates
    log_r_star: float  # ln sup r = D_inf (nats)
    u_zero: float      # below: the singular expansion of S
    log_c0: float      # ln lim_{u->0} u^2 f(u) = ln(3 / (2 kappa phi(x*)))


class SigmaTable(NamedTuple):
    """ln S on panels k = 0..count-1 from the top (u_max) downwards, built lazily.

    Panel k covers [lo[k], hi[k]] in u (for the lookup); it was integrated in the variable ``in_w[k]``
    names (u below 1, w = u^2 above) between ``a[k]`` and ``c[k]`` (its edges in that variable);
    ``log_s_hi[k]``, ``log_s_lo[k]``: ln S at its upper and lower edge. Panels still to be tested wait
    on a stack (``stack_*``); the coarse initial panels are generated from the top down as the stack
    runs dry, so a target whose queries stay far below its mode in u never pays for the panels near it
    (nor for the millions of unit panels of w an almost flat ratio would need in all). ``state``:
    [count, stack depth, status, phase of the initial panels (0: w, 1: u, 2: none left)];
    ``values``: [ln S at the lowest panel so far, u_max, ln S(u_max) (tail estimate), the next initial
    panel's top edge (in its variable)].
    """

    lo: np.ndarray
    hi: np.ndarray
    a: np.ndarray
    c: np.ndarray
    in_w: np.ndarray
    log_s_hi: np.ndarray
    log_s_lo: np.ndarray
    stack_a: np.ndarray
    stack_c: np.ndarray
    stack_value: np.ndarray
    stack_in_w: np.ndarray
    state: np.ndarray
    values: np.ndarray


@njit(cache=True)
def _logaddexp(x, y):
    if x == -_INF:
        return y
    if y == -_INF:
        return x
    if x == _INF or y == _INF:
        return _INF
    if x > y:
        return x + math.log1p(math.exp(y - x))
    return y + math.log1p(math.exp(x - y))


@njit(cache=True)
def gprs_target(a, b):
    """The ``GprsTarget`` of N(a, b^2) (standardised), 0 < b < 1."""
    one_minus = (1.0 - b) * (1.0 + b)  # 1 - b^2 without cancellation for b near 1
    x_star = a / one_minus
    kappa_q = math.sqrt(2.0 / one_minus)
    kappa = b * kappa_q
    offset = (a * b) / one_minus
    log_r_star = log_sup_ratio(a, b, 0.0, 1.0)
    scale = 1.0
    if kappa > 1.0:
        scale = 1.0 / kappa
    skew = kappa * abs(x_star)
    if skew > 1.0 and 1.0 / skew < scale:
        scale = 1.0 / skew
    u_zero = 0.25 * scale
    log_c0 = math.log(1.5 / kappa) + _LOG_SQRT_2PI + 0.5 * x_star * x_star
    return GprsTarget(a, b, x_star, kappa, kappa_q, offset, log_r_star, u_zero, log_c0)


@njit(cache=True)
def _log_inner(u, tg, relative):
    """ln G(u), G(u) = integral_{-1}^{1} expm1(u^2 (1 - z^2)) / u^2 phi(x* + kappa u z) dz, or ln G(u)/G(0)
    with ``relative`` (G(0) = 4/3 phi(x*)).

    16-point Gauss-Legendre on sub-panels of the window of z where the exponent -(x* + kappa u z)^2 / 2
    is within 40 of its largest value (outside, the integrand is below e^-40 of its peak: a relative
    error under 1e-17); the sub-panels are narrow enough that the exponent changes by at most about 6
    across half of one (16 points integrate e^{beta z} on [-1, 1] to 1e-15 up to beta ~ 8).
    """
    xs = tg.x_star
    ku = tg.kappa * u
    zc = -xs / ku if ku > 0.0 else 0.0
    if zc > 1.0:
        zc = 1.0
    if zc < -1.0:
        zc = -1.0
    tc = xs + ku * zc
    shift = 0.5 * xs * xs if relative else 0.0
    top = shift - 0.5 * tc * tc  # the largest exponent over [-1, 1]
    z_lo, z_hi = -1.0, 1.0
    reach = math.sqrt(tc * tc + 80.0)  # |x* + kappa u z| beyond this: exponent below top - 40
    if ku > 0.0:
        z_lo = max(-1.0, (-reach - xs) / ku)
        z_hi = min(1.0, (reach - xs) / ku)
    slope = ku * min(reach, abs(xs) + ku)  # the exponent's largest slope in z over the window
    sub = 1 + int((z_hi - z_lo) * (slope + ku) / 12.0)
    if sub > 64:
        sub = 64
    uu = u * u
    tiny = uu < 1e-200
    width = (z_hi - z_lo) / sub
    half = 0.5 * width
    total = 0.0
    for j in range(sub):
        centre = z_lo + (j + 0.5) * width
        for i in range(8):
            for sign in (-1.0, 1.0):
                z = centre + sign * half * _GL16_X[i]
                one_z = (1.0 - z) * (1.0 + z)
                g = one_z if tiny else math.expm1(uu * one_z) / uu
                e = xs + ku * z
                total += _GL16_W[i] * g * math.exp(shift - 0.5 * e * e - top)
    total *= half
    if relative:
        return math.log(0.75 * total) + top
    return math.log(total) + top - _LOG_SQRT_2PI


@njit(cache=True)
def _log_centred_mass(c, h):
    """ln P(|Z - c| <= h), Z ~ N(0, 1), from the centre and half-width themselves: for a narrow
    interval the endpoints c -+ h would carry c's rounding (relative error ulp(c) / h), so it is
    integrated around c, ``phi(c) h sum_i w_i 2 cosh(c h x_i) exp(-h^2 x_i^2 / 2)`` (8-point
    Gauss-Legendre, as ``gaussian_math.log_std_interval_mass`` does for narrow intervals)."""
    if h <= 0.5 and h * abs(c) <= 1.0:
        ch = c * h
        hh = 0.5 * h * h
        total = 0.0
        for i in range(4):
            x = _GL8_X[i]
            total += _GL8_W[i] * math.cosh(ch * x) * math.exp(-hh * x * x)
        return -0.5 * c * c - _LOG_SQRT_2PI + math.log(2.0 * h) + math.log(total)
    return log_std_interval_mass(c - h, c + h)


@njit(cache=True)
def log_f_hat(u, tg):
    """ln F^(u) = ln(F(r* e^{-u^2}) / r*), F(h) = w_Q(h) - h w_P(h) (nats); -inf at u = 0."""
    if not (u > 0.0):
        return -_INF
    d = tg.kappa * u
    dq = tg.kappa_q * u
    first = _log_centred_mass(tg.offset, dq) - tg.log_r_star  # ln w_Q / r*
    if -u * u - first < -40.0:  # e^{-u^2} w_P <= e^{-u^2} is below 1e-17 of w_Q / r*
        return first
    second = _log_centred_mass(tg.x_star, d) - u * u           # ln e^{-u^2} w_P
    if second < first:
        # The difference loses (|first| + |second| + 1) ulp / (1 - e^{second - first}) (relative); take it
        # where that is below CLOSED_FORM_ERROR, else integrate without cancellation.
        keep = -math.expm1(second - first)
        if u >= U_CLOSED or (abs(first) + abs(second) + 1.0) * 2.3e-16 < CLOSED_FORM_ERROR * keep:
            return first + math.log(keep)
    return -u * u + math.log(tg.kappa) + 3.0 * math.log(u) + _log_inner(u, tg, False)


@njit(cache=True)
def _log_f(x, tg, in_w):
    """ln of S's integrand: in u, f(u) = 2 u e^{-u^2} / F^(u); in w = u^2, e^{-w} / F^(sqrt w)."""
    if in_w:
        return -x - log_f_hat(math.sqrt(x), tg)
    return _LN2 + math.log(x) - x * x - log_f_hat(x, tg)


@njit(cache=True)
def _log_gl8(lo, hi, tg, in_w):
    """ln integral_lo^hi of S's integrand in the variable ``in_w`` names (8-point Gauss-Legendre, log-sum-exp)."""
    half = 0.5 * (hi - lo)
    if not (half > 0.0):
        return -_INF
    centre = 0.5 * (lo + hi)
    top = -_INF
    total = 0.0
    for i in range(4):
        for sign in (-1.0, 1.0):
            value = _log_f(centre + sign * half * _GL8_X[i], tg, in_w)
            if value > top:
                total = total * math.exp(top - value) + _GL8_W[i] if top > -_INF else _GL8_W[i]
                top = value
            elif value > -_INF:
                total += _GL8_W[i] * math.exp(value - top)
    if top == _INF:
        return _INF
    if top == -_INF:
        return -_INF
    return math.log(half) + top + math.log(total)


@njit(cache=True)
def _log_s_singular(s, tg, log_s_zero):
    """ln S(s) for 0 <= s <= u_zero: S(u_zero) + c0 [1/s - 1/u_zero + integral_s^u_zero (G(0)/G(u) - 1) / u^2]."""
    if not (s > 0.0):
        return _INF
    u0 = tg.u_zero
    main = 1.0 / s - 1.0 / u0
    half = 0.5 * (u0 - s)
    centre = 0.5 * (u0 + s)
    extra = 0.0
    for i in range(4):
        for sign in (-1.0, 1.0):
            u = centre + sign * half * _GL8_X[i]
            ratio = math.exp(_log_inner(u, tg, True))
            extra += _GL8_W[i] * (1.0 / ratio - 1.0) / (u * u)
    total = main + half * extra
    if not (total > 0.0):
        return log_s_zero
    return _logaddexp(log_s_zero, tg.log_c0 + math.log(total))


@njit(cache=True)
def build_sigma_table(tg):
    """A ``SigmaTable`` of one target with its upper end found (see the module docstring); ``log_sigma``
    builds its panels as the queries need them."""
    lo = np.empty(MAX_PANELS, dtype=np.float64)
    hi = np.empty(MAX_PANELS, dtype=np.float64)
    a = np.empty(MAX_PANELS, dtype=np.float64)
    c = np.empty(MAX_PANELS, dtype=np.float64)
    in_w = np.empty(MAX_PANELS, dtype=np.bool_)
    log_s_hi = np.empty(MAX_PANELS, dtype=np.float64)
    log_s_lo = np.empty(MAX_PANELS, dtype=np.float64)
    stack_a = np.empty(_STACK, dtype=np.float64)
    stack_c = np.empty(_STACK, dtype=np.float64)
    stack_value = np.empty(_STACK, dtype=np.float64)
    stack_in_w = np.empty(_STACK, dtype=np.bool_)
    state = np.zeros(4, dtype=np.int64)
    values = np.empty(4, dtype=np.float64)
    table = SigmaTable(lo, hi, a, c, in_w, log_s_hi, log_s_lo, stack_a, stack_c, stack_value, stack_in_w, state,
                       values)
    # Upper end: S(u) <= e^{-u^2} / F^(u) (F^ grows with u).
    u_max = 1.0 if tg.u_zero < 0.5 else 2.0 * tg.u_zero
    below = 0.0
    while -u_max * u_max - log_f_hat(u_max, tg) > LOG_S_NEGLIGIBLE:
        below = u_max
        u_max *= 1.25
        if u_max > 1e9:
            state[2] = STATUS_SIGMA
            return table
    # Bisect back towards the cut (an almost flat ratio puts it near u ~ 1000, where a factor 1.25 in u
    # would add ~10^5 units of w, i.e. of panels, above it).
    for _ in range(100):
        if -u_max * u_max - log_f_hat(u_max, tg) > LOG_S_NEGLIGIBLE - 5.0 or u_max - below <= 1e-12 * u_max:
            break
        middle = 0.5 * (below + u_max)
        if -middle * middle - log_f_hat(middle, tg) > LOG_S_NEGLIGIBLE:
            below = middle
        else:
            u_max = middle
    log_top = -u_max * u_max - log_f_hat(u_max, tg)
    values[0] = log_top
    values[1] = u_max
    values[2] = log_top
    if u_max > U_W:
        state[3] = 0
        values[3] = u_max * u_max
    else:
        state[3] = 1
        values[3] = u_max
    return table


@njit(cache=True)
def _push_initial_panel(table, tg):
    """Push the next coarse panel below the ones generated so far (steps of W_STEP in w down to U_W^2,
    of U_STEP in u down to 1, then halvings of u down to u_zero). False when none is left."""
    state, values = table.state, table.values
    depth = state[1]
    top = values[3]
    if state[3] == 0:  # in w
        bottom = top - W_STEP
        if bottom < U_W * U_W + 0.25 * W_STEP:  # no sliver of a panel at the bottom
            bottom = U_W * U_W
            state[3] = 1
            values[3] = U_W
        else:
            values[3] = bottom
        table.stack_in_w[depth] = True
    elif state[3] == 1:  # in u
        if top > 1.0:
            bottom = top - U_STEP
            if bottom < 1.0 + 0.25 * U_STEP:
                bottom = 1.0
        else:
            bottom = 0.5 * top
        if bottom <= tg.u_zero:
            bottom = tg.u_zero
            state[3] = 2
        values[3] = bottom
        table.stack_in_w[depth] = False
    else:
        return False
    table.stack_a[depth] = bottom
    table.stack_c[depth] = top
    table.stack_value[depth] = math.nan  # integrated when popped
    state[1] = depth + 1
    return True


@njit(cache=True)
def extend_sigma_table(tg, table, s):
    """Test and accept panels until the lowest accepted one reaches down to ``s`` (in u), or none is
    left. Returns the table's status."""
    state = table.state
    if state[2] != STATUS_OK:
        return state[2]
    lo = table.lo
    stack_a, stack_c, stack_value, stack_in_w = table.stack_a, table.stack_c, table.stack_value, table.stack_in_w
    log_s = table.values[0]
    while state[0] == 0 or lo[state[0] - 1] > s:
        if state[1] == 0 and not _push_initial_panel(table, tg):
            break
        count = state[0]
        depth = state[1] - 1
        a = stack_a[depth]
        c = stack_c[depth]
        in_w = stack_in_w[depth]
        whole = stack_value[depth]
        if whole != whole:  # an initial panel
            whole = _log_gl8(a, c, tg, in_w)
        mid = 0.5 * (a + c)
        lower = _log_gl8(a, mid, tg, in_w)
        upper = _log_gl8(mid, c, tg, in_w)
        both = _logaddexp(lower, upper)
        # The integrand itself carries rounding of relative size ~ eps (ln r* + u^2) (the level
        # ln r* - ln r of a point is a difference of numbers that large): no panel is asked for more.
        level = c if in_w else c * c
        tolerance = max(SIGMA_TOLERANCE, 8.0 * 2.220446049250313e-16 * (1.0 + abs(tg.log_r_star) + level))
        allowed = max(tolerance * math.exp(_logaddexp(log_s, both)), SIGMA_ABS_TOLERANCE)
        converged = both == -_INF or abs(math.expm1(whole - both)) * math.exp(both) <= allowed
        if converged or (c - a) <= 1e-12 * c or depth + 2 >= _STACK:
            if count >= MAX_PANELS or not (both < _INF):
                state[2] = STATUS_SIGMA
                break
            lo[count] = math.sqrt(a) if in_w else a
            table.hi[count] = math.sqrt(c) if in_w else c
            table.a[count] = a
            table.c[count] = c
            table.in_w[count] = in_w
            table.log_s_hi[count] = log_s
            log_s = _logaddexp(log_s, both)
            table.log_s_lo[count] = log_s
            state[0] = count + 1
            state[1] = depth
        else:
            stack_a[depth] = a
            stack_c[depth] = mid
            stack_value[depth] = lower
            stack_in_w[depth] = in_w
            stack_a[depth + 1] = mid
            stack_c[depth + 1] = c
            stack_value[depth + 1] = upper
            stack_in_w[depth + 1] = in_w
            state[1] = depth + 2
    table.values[0] = log_s
    return state[2]


@njit(cache=True)
def log_sigma(u, tg, table):
    """ln S(u) = ln sigma(r(x)) for a point at level u = |x - x*| / kappa (+inf at the mode; NaN if
    the table failed)."""
    if u >= table.values[1]:
        return -u * u - log_f_hat(u, tg)  # an upper bound, below e^-40: never accepted
    if extend_sigma_table(tg, table, u) != STATUS_OK:
        return math.nan
    count = table.state[0]
    if u <= tg.u_zero:  # the whole table is built now
        return _log_s_singular(u, tg, table.log_s_lo[count - 1])
    # Panels run downwards: the first k with lo[k] <= u.
    first = 0
    last = count - 1
    while first < last:
        middle = (first + last) // 2
        if table.lo[middle] <= u:
            last = middle
        else:
            first = middle + 1
    start = u * u if table.in_w[first] else u
    return _logaddexp(table.log_s_hi[first], _log_gl8(start, table.c[first], tg, table.in_w[first]))


# ---------------------------------------------------------------------------------------------
# The search path (portable: shared by the sender and the receiver)
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def sample_interval(lo_upper, lo_t, hi_upper, hi_t, v):
    """A point of P = N(0, 1) restricted to the interval (lo, hi), from the uniform ``v``.

    Each endpoint is (upper, t): t = Phi(e) <= 1/2 for a lower-tail endpoint, t = 1 - Phi(e) <= 1/2
    for an upper one; (-inf, inf) is ((False, 0), (True, 0)). Returns (ok, mass, upper, t, x): the
    interval's prior mass, the new point as an endpoint, and x = Phi^-1 of it (``ndtri_fast``).
    ``ok`` is False when float64 cannot place a point strictly inside the interval.
    """
    if not lo_upper and not hi_upper:
        mass = hi_t - lo_t
        p = lo_t + mul_rn(v, mass)
        return (lo_t < p) and (p < hi_t), mass, False, p, ndtri_fast(p)
    if lo_upper and hi_upper:
        mass = lo_t - hi_t
        q = lo_t - mul_rn(v, mass)
        return (hi_t < q) and (q < lo_t), mass, True, q, -ndtri_fast(q)
    if lo_upper:  # (lo > 0 > hi): empty
        return False, 0.0, False, 0.0, math.nan
    left = 0.5 - lo_t
    right = 0.5 - hi_t
    mass = left + right
    c = mul_rn(v, mass)
    if c <= left:
        p = lo_t + c
        if p > 0.5:
            p = 0.5
        return lo_t < p, mass, False, p, ndtri_fast(p)
    q = hi_t + (mass - c)
    if q > 0.5:
        q = 0.5
    return hi_t < q, mass, True, q, -ndtri_fast(q)


@njit(cache=True)
def gprs_search(a, b, seed, block, max_steps, log_sigma_shift):
    """Encode one standardised target N(a, b^2), b < 1. Returns (heap index, steps, status, x).

    ``log_sigma_shift`` is added to ln sigma (0: GPRS; anything else is a deliberately wrong stretch
    function, for tests of the exactness checks).
    """
    tg = gprs_target(a, b)
    table = build_sigma_table(tg)
    lo_upper, lo_t, hi_upper, hi_t = False, 0.0, True, 0.0
    arrival = 0.0
    heap = np.int64(1)
    for depth in range(MAX_DEPTH + 1):
        if depth >= max_steps:
            return heap, np.int64(depth), np.int64(STATUS_MAX_STEPS), math.nan
        v, _ = shared_uniform_pair(seed, block, heap, GPRS_STREAM)
        w, _ = private_uniform_pair(seed, block, heap, GPRS_STREAM)
        ok, mass, upper, t, x = sample_interval(lo_upper, lo_t, hi_upper, hi_t, v)
        if not ok:
            return heap, np.int64(depth + 1), np.int64(STATUS_PRECISION), x
        arrival += -math.log(w) / mass
        u = abs(x - tg.x_star) / tg.kappa
        log_s = log_sigma(u, tg, table)
        if log_s != log_s:
            return np.int64(-1), np.int64(depth + 1), np.int64(STATUS_SIGMA), math.nan
        if math.log(arrival) < log_s + log_sigma_shift:
            return heap, np.int64(depth + 1), np.int64(STATUS_OK), x
        if depth == MAX_DEPTH:
            break
        if x > tg.x_star:  # the mode is on the left: B = (lo, x)
            hi_upper, hi_t = upper, t
            heap = 2 * heap
        else:
            lo_upper, lo_t = upper, t
            heap = 2 * heap + 1
    return heap, np.int64(MAX_DEPTH + 1), np.int64(STATUS_INDEX_OVERFLOW), math.nan


@njit(cache=True)
def decode_heap(heap, seed, block):
    """The standardised sample of heap index ``heap`` >= 1 (NaN if no GPRS path reaches it)."""
    heap = np.int64(heap)
    if heap < 1:
        return math.nan
    depth = 0
    while (heap >> np.int64(depth + 1)) > 0:
        depth += 1
    lo_upper, lo_t, hi_upper, hi_t = False, 0.0, True, 0.0
    node = np.int64(1)
    for level in range(depth):
        v, _ = shared_uniform_pair(seed, block, node, GPRS_STREAM)
        ok, mass, upper, t, x = sample_interval(lo_upper, lo_t, hi_upper, hi_t, v)
        if not ok:
            return math.nan
        if (heap >> np.int64(depth - 1 - level)) & np.int64(1) == 0:
            hi_upper, hi_t = upper, t
            node = 2 * node
        else:
            lo_upper, lo_t = upper, t
            node = 2 * node + 1
    v, _ = shared_uniform_pair(seed, block, heap, GPRS_STREAM)
    ok, mass, upper, t, x = sample_interval(lo_upper, lo_t, hi_upper, hi_t, v)
    return x if ok else math.nan


# ---------------------------------------------------------------------------------------------
# Batched kernels (``recnumba.backends.threads.run_ranges``)
# ---------------------------------------------------------------------------------------------


@njit(cache=True, nogil=True)
def encode_range(targets, loc, scale, seed, block_ids, max_steps, log_sigma_shift, heap, steps, status, out,
                 start, stop, cancel):
    """Blocks start..stop-1: ``targets`` (B, 2) standardised (a, b); the prior's ``loc``/``scale`` (B,);
    results into ``heap``, ``steps``, ``status`` (int64 (B,)) and the sample ``out`` (float64 (B,),
    latent units: loc + scale x)."""
    for i in range(start, stop):
        if cancel[0] != 0:
            for j in range(i, stop):
                status[j] = STATUS_INTERRUPTED
                heap[j] = -1
                steps[j] = 0
            return
        h, n, s, x = gprs_search(targets[i, 0], targets[i, 1], seed, np.uint64(block_ids[i]), max_steps,
                                 log_sigma_shift)
        heap[i] = h
        steps[i] = n
        status[i] = s
        out[i] = loc[i] + mul_rn(scale[i], x)


@njit(cache=True, nogil=True)
def decode_range(heaps, loc, scale, seed, block_ids, out, start, stop, cancel):
    """Decode blocks start..stop-1: heap indices (B,) into samples ``out`` (B,), latent units."""
    for i in range(start, stop):
        if cancel[0] != 0:
            return
        x = decode_heap(heaps[i], seed, np.uint64(block_ids[i]))
        out[i] = loc[i] + mul_rn(scale[i], x)
