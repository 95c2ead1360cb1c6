"""Checks, standardisation and KL of raw parameter rows: the device-resident path's per-row work.

The host validates and standardises numpy arrays (``Family._check``, ``api.standardise``,
``Pair.check``, ``Pair.bounded``, ``Pair.kl_nats``). For parameter arrays that stay on a GPU
(``recnumba.device``) the CUDA backend runs these ``@njit`` functions as device functions, one
thread per item (row), exactly as it runs the search core. They call the family protocol's
scalar twins of the host checks (``protocol.standardise``, ``parameter_code``,
``standardised_code``, ``ratio_bounded``, ``kl_divergence``), so every family plugs in once.

Parameter arrays are 2-D, (N, D) or broadcast along an axis of length 1 ((1, D), (N, 1), (1, 1)),
of any real dtype: ``float(value)`` widens float32 and integers exactly as ``numpy.astype(float64)``.

Codes (small ints, 0 = fine; the host turns the smallest nonzero code into the host's message):

* ``parameter_row_code``: 1 a first parameter not finite, 2 a second parameter not finite,
  2 + k the family's check k (``Family.check_messages()[k - 1]``), the order the host checks in;
* ``standardise_row``: 1 standardised parameters not finite (``api.STANDARDISED_NOT_FINITE_MESSAGE``),
  1 + k the pair's check k (``Pair.check_messages[k - 1]``).

The smallest code over the elements is the host's first failing check: each check runs over the
whole array before the next, so the message the host raises is that of the smallest code present.
"""

import math

import numpy as np
from numba import njit

from recnumba.families.protocol import (
    kl_divergence,
    parameter_code,
    ratio_bounded,
    standardise,
    standardised_code,
)

#: "no failure" while taking minima over codes
_NONE = np.int64(1 << 62)
_LN2 = math.log(2.0)


@njit(cache=True)
def _at(array, i, d):
    """``array[i, d]`` as float64, broadcasting an axis of length 1."""
    row = i if array.shape[0] != 1 else 0
    col = d if array.shape[1] != 1 else 0
    return float(array[row, col])


@njit(cache=True)
def _finite(x):
    return x - x == 0.0  # False for inf and NaN, without a call the GPU would have to link


@njit(cache=True)
def parameter_row_code(family, first, second, i, num_dims):
    """The smallest failure code (module docstring) of row ``i``'s ``num_dims`` parameters, 0 if none."""
    best = _NONE
    for d in range(num_dims):
        x = _at(first, i, d)
        y = _at(second, i, d)
        if not _finite(x):
            code = np.int64(1)
        elif not _finite(y):
            code = np.int64(2)
        else:
            k = parameter_code(family, x, y)
            code = np.int64(2 + k) if k != 0 else _NONE
        if code < best:
            best = code
    return np.int64(0) if best == _NONE else best


@njit(cache=True)
def standardise_row(family, pair, first, second, i, dims, prior_loc, prior_scale, target):
    """Row ``i``'s parameters at dimensions ``dims`` (d_b,), standardised by the prior's (D,) loc and
    scale, into ``target`` (d_b, 2). Returns (code, bounded): the smallest failure code (module
    docstring; 0 if none) and whether every dimension's ratio is bounded."""
    best = _NONE
    bounded = True
    for k in range(dims.shape[0]):
        d = dims[k]
        a, b = standardise(family, _at(first, i, d), _at(second, i, d), prior_loc[d], prior_scale[d])
        target[k, 0] = a
        target[k, 1] = b
        if not (_finite(a) and _finite(b)):
            code = np.int64(1)
        else:
            check = standardised_code(pair, a, b)
            code = np.int64(1 + check) if check != 0 else _NONE
            if not ratio_bounded(pair, a, b):
                bounded = False
        if code < best:
            best = code
    return (np.int64(0) if best == _NONE else best), bounded


@njit(cache=True)
def kl_row_bits(pair, first, second, i, dims, prior_first, prior_second):
    """D_KL of row ``i``'s dimensions ``dims`` against the prior's (D,) parameters, in bits: the sum over
    the dimensions, in their order, of each one's ``Pair.kl_nats`` divided by ln 2. The host sums the
    per-dimension bits of all D dimensions (``kl_bits``) and its warning divides a sum of nats, so the two
    agree to rounding (about 1e-15 relative), not bit for bit."""
    total = 0.0
    for k in range(dims.shape[0]):
        d = dims[k]
        total += kl_divergence(pair, _at(first, i, d), _at(second, i, d), prior_first[d], prior_second[d]) / _LN2
    return total
