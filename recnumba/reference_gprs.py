"""NumPy/SciPy reference of 1-D branch-and-bound GPRS: the test oracle of ``recnumba.search.gprs``.

Written independently of the numba kernels, from the same definitions (see ``recnumba.search.gprs``):

* randomness: the numpy Philox of ``recnumba.reference`` with the same keys (shared uniform of node H:
  counter (GPRS_STREAM, block, H), domain 0; the arrival time's: the same counter, domain 1);
* the stretch function: ``S(u) = integral_u^inf 2 v e^{-v^2} / F^(v) dv`` by ``scipy.integrate.quad``
  (geometric segments towards the singularity at u = 0), with F^ = F / r* from ``scipy.special.log_ndtr``
  differences for v >= 1/2 and, below, as the positive integral
  ``e^{-v^2} integral_{|y| <= kappa v} expm1(v^2 - y^2 / kappa^2) phi(x* + y) dy`` (``quad`` again);
* the interval walk: the same probability-coordinate arithmetic (plain float64, which rounds as the
  kernel's ``mul_rn`` does on the CPU), with ``scipy.special.ndtri`` as the quantile.

So it returns the kernels' heap indices and step counts exactly (a decision could differ only where
the two stretch functions, both accurate to about 1e-13, straddle an arrival time, or where a sample
lies within an ulp of the mode), and samples equal to within a few ulp (scipy's ``ndtri`` is not the
kernels' ``ndtri_fast``; the tests allow 1e-12). Slow (a quad per query): for tests on a few blocks.
"""

import math

import numpy as np

from recnumba.reference import _uniform53, philox4x32_10

GPRS_STREAM = 0x47505253
MAX_DEPTH = 62
_MASK = 0xFFFFFFFF


def node_uniform(seed, domain, block, node):
    """The uniform of heap node ``node``: domain 0 shared (the sample), 1 private (the arrival time)."""
    seed, node = int(seed), int(node)
    k0 = seed & _MASK
    k1 = (seed >> 32) | (domain << 30)
    x = philox4x32_10(GPRS_STREAM, int(block), node & _MASK, node >> 32, k0, k1)
    return float(_uniform53(x[0], x[1]))


class Stretch:
    """S(u) = sigma(r* e^{-u^2}) of one standardised target N(a, b^2), b < 1 (see the module docstring)."""

    def __init__(self, a, b):
        self.a, self.b = float(a), float(b)
        one_minus = (1.0 - b) * (1.0 + b)
        self.x_star = a / one_minus
        self.kappa_q = math.sqrt(2.0 / one_minus)
        self.kappa = b * self.kappa_q
        self.offset = a * b / one_minus
        self.log_r_star = -math.log(b) + a * a / (2.0 * one_minus)
        self._cache = {}

    @staticmethod
    def _log_mass(centre, half):
        """ln P(|Z - centre| <= half), Z ~ N(0, 1): log_ndtr differences in the tail where the interval
        lies, or (narrow intervals, whose endpoints would carry the centre's rounding) quad around it."""
        from scipy import integrate, special

        centre = abs(centre)
        if half < 0.5:
            top = -0.5 * max(centre - half, 0.0) ** 2
            value, _ = integrate.quad(lambda y: math.exp(-0.5 * (centre + y) ** 2 - top), -half, half,
                                      epsabs=0.0, epsrel=2e-14)
            return math.log(value) + top - 0.5 * math.log(2.0 * math.pi)
        upper, lower = special.log_ndtr(-(centre - half)), special.log_ndtr(-(centre + half))
        return upper + math.log(-math.expm1(lower - upper))

    def log_f_hat(self, v):
        from scipy import integrate

        if v >= 0.5:
            first = self._log_mass(self.offset, self.kappa_q * v) - self.log_r_star
            second = self._log_mass(self.x_star, self.kappa * v) - v * v
            return first + math.log(-math.expm1(second - first))
        k, xs = self.kappa, self.x_star
        width = k * v

        # scale: phi(x* + y) = exp(-(x* + y)^2 / 2) / sqrt(2 pi); factor out its largest value on the range
        y_top = min(max(-xs, -width), width)
        top = -0.5 * (xs + y_top) ** 2

        def scaled(y):
            return math.expm1(v * v - (y / k) ** 2) * math.exp(-0.5 * (xs + y) ** 2 - top)

        value, _ = integrate.quad(scaled, -width, width, epsabs=0.0, epsrel=1e-13, limit=200,
                                  points=[y_top] if -width < y_top < width else None)
        return -v * v + math.log(value) + top - 0.5 * math.log(2.0 * math.pi)

    def _f(self, v):
        return 2.0 * v * math.exp(-v * v - self.log_f_hat(v))

    def log_sigma(self, u):
        """ln S(u)."""
        from scipy import integrate

        if u <= 0.0:
            return math.inf
        key = float(u)
        if key in self._cache:
            return self._cache[key]
        top = max(8.0, math.sqrt(self.log_r_star + 60.0))
        if u >= top:
            return -u * u - self.log_f_hat(u)
        edges = [u]
        while edges[-1] < 1.0:
            edges.append(min(2.0 * edges[-1], 1.0))
        while edges[-1] < top:
            edges.append(min(edges[-1] + 1.0, top))
        total = 0.0
        for lo, hi in zip(edges[:-1], edges[1:]):
            value, _ = integrate.quad(self._f, lo, hi, epsabs=0.0, epsrel=1e-13, limit=200)
            total += value
        result = math.log(total)
        self._cache[key] = result
        return result


def _sample_interval(lo, hi, v):
    """The kernels' ``sample_interval`` (probability coordinates), with scipy's ndtri."""
    from scipy import special

    (lo_upper, lo_t), (hi_upper, hi_t) = lo, hi
    if not lo_upper and not hi_upper:
        mass = hi_t - lo_t
        p = lo_t + v * mass
        return lo_t < p < hi_t, mass, (False, p), float(special.ndtri(p))
    if lo_upper and hi_upper:
        mass = lo_t - hi_t
        q = lo_t - v * mass
        return hi_t < q < lo_t, mass, (True, q), -float(special.ndtri(q))
    if lo_upper:
        return False, 0.0, (False, 0.0), math.nan
    left, right = 0.5 - lo_t, 0.5 - hi_t
    mass = left + right
    c = v * mass
    if c <= left:
        p = min(lo_t + c, 0.5)
        return lo_t < p, mass, (False, p), float(special.ndtri(p))
    q = min(hi_t + (mass - c), 0.5)
    return hi_t < q, mass, (True, q), -float(special.ndtri(q))


def encode(a, b, seed, block, log_sigma_shift=0.0):
    """Encode one standardised target N(a, b^2), b < 1: returns (heap index, steps, x)."""
    stretch = Stretch(a, b)
    lo, hi = (False, 0.0), (True, 0.0)
    arrival, heap = 0.0, 1
    for depth in range(MAX_DEPTH + 1):
        v = node_uniform(seed, 0, block, heap)
        w = node_uniform(seed, 1, block, heap)
        ok, mass, point, x = _sample_interval(lo, hi, v)
        if not ok:
            raise ValueError("the interval fell below float64 resolution")
        arrival += -math.log(w) / mass
        u = abs(x - stretch.x_star) / stretch.kappa
        if math.log(arrival) < stretch.log_sigma(u) + log_sigma_shift:
            return heap, depth + 1, x
        if x > stretch.x_star:
            hi, heap = point, 2 * heap
        else:
            lo, heap = point, 2 * heap + 1
    raise ValueError("the path outgrew int64 heap indices")


def decode(heap, seed, block):
    """The standardised sample of heap index ``heap`` (replays the path from its bits)."""
    heap = int(heap)
    depth = heap.bit_length() - 1
    lo, hi, node = (False, 0.0), (True, 0.0), 1
    for level in range(depth):
        ok, _, point, _ = _sample_interval(lo, hi, node_uniform(seed, 0, block, node))
        if (heap >> (depth - 1 - level)) & 1:
            lo, node = point, 2 * node + 1
        else:
            hi, node = point, 2 * node
    return _sample_interval(lo, hi, node_uniform(seed, 0, block, heap))[3]
