"""Argument checks shared by ``api``, ``dataset`` and ``container``: one limit, one message, one
exception type per rule.

Wrong *kind* of object (a tuple where a distribution or plan belongs): ``TypeError``. A wrong kind
of value where a number belongs (a string, None, a list, a boolean, complex, or a float where an
integer belongs): :class:`ParameterTypeError`, a ``TypeError`` that is also a ``ValueError`` (these
inputs raised ``ValueError`` before, so code that catches ``ValueError`` keeps working). Right kind,
bad value (negative seed, index out of range, NaN): ``ValueError`` naming the argument and the fix.
"""

import math

import numpy as np

from recnumba.random.philox import SEED_LIMIT

INDEX_LIMIT = 1 << 63   # indices (and every integer option) are int64: n < 2^63
BLOCK_LIMIT = 1 << 32   # stream keys (block ids) are 32-bit counter words

__all__ = [
    "check_choice","INDEX_LIMIT", "BLOCK_LIMIT", "ParameterTypeError", "check_seed", "check_int", "check_block_ids",
           "check_indices", "check_plan", "check_bits"]


class ParameterTypeError(TypeError, ValueError):
    """An argument of the wrong kind where a number belongs: a string, None, a list, a boolean, complex
    numbers, an object that is not a number, or a float where an integer belongs.

    A TypeError (wrong kind of value); also a ValueError, which these inputs raised before, so code
    that catches ValueError around a call keeps working. Right kind, bad value (a negative count,
    NaN, out of range) raises a plain ValueError.
    """


def _is_integer(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value):
    """A real number that is not a boolean (Python or numpy scalar)."""
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


def _kind(value):
    """``value`` for a message: its type and (shortened) repr."""
    return f"{type(value).__name__} {value!r:.80}"


def check_choice(value, choices, message):
    """``value`` if it is one of the strings ``choices``; otherwise ``message`` as a ParameterTypeError
    (not a string: a wrong kind) or a ValueError (a string that is not one of them)."""
    if not isinstance(value, str):
        raise ParameterTypeError(message)
    if value not in choices:
        raise ValueError(message)
    return value


def check_seed(seed):
    """The shared seed as a Python int in [0, 2^62): ParameterTypeError if it is not an integer,
    ValueError if it is out of range."""
    if not _is_integer(seed):
        raise ParameterTypeError(f"seed must be an integer in [0, 2^62); got {_kind(seed)}")
    if not 0 <= int(seed) < SEED_LIMIT:
        raise ValueError(f"seed must be in [0, 2^62); got {seed}. Use a non-negative seed below 2^62.")
    return int(seed)


def check_int(value, name, minimum=0):
    """``value`` as a Python int in [minimum, 2^63): ParameterTypeError naming ``name`` if it is not an
    integer (a float, a string, a boolean), ValueError if it is out of range."""
    if not _is_integer(value):
        raise ParameterTypeError(f"{name} must be an integer >= {minimum} below 2^63; got {_kind(value)}")
    if not minimum <= int(value) < INDEX_LIMIT:
        raise ValueError(f"{name} must be an integer >= {minimum} below 2^63; got {value!r}")
    return int(value)


def check_bits(value, name, minimum=0.0):
    """A finite number of bits >= ``minimum`` as float: ParameterTypeError if not a real number, ValueError
    for NaN, inf or a value below ``minimum``."""
    if not _is_real(value):
        raise ParameterTypeError(f"{name} must be a finite number of bits >= {minimum}; got {_kind(value)}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range
        number = math.inf
    if not minimum <= number < math.inf:
        raise ValueError(f"{name} must be a finite number of bits >= {minimum}; got {value!r}")
    return number


def check_block_ids(block_ids, num_blocks):
    """Stream keys (B,) int64 in [0, 2^32); default 0..B-1."""
    if block_ids is None:
        return np.arange(num_blocks, dtype=np.int64)
    try:
        ids = np.asarray(block_ids)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"block_ids must be {num_blocks} integers (one per block); got a ragged or unreadable "
                         f"sequence ({block_ids!r:.80})") from None
    if ids.size and not np.issubdtype(ids.dtype, np.integer):  # floats, strings, booleans, objects
        raise ParameterTypeError(f"block_ids must be {num_blocks} integers (one per block); got dtype {ids.dtype} "
                                 f"({block_ids!r:.80})")
    if ids.shape != (num_blocks,):
        raise ValueError(f"block_ids must be {num_blocks} integers (one per block); got shape {ids.shape} "
                         f"({block_ids!r:.80})")
    if np.any(ids < 0) or np.any(ids >= BLOCK_LIMIT):
        raise ValueError("block_ids must be in [0, 2^32)")
    return ids.astype(np.int64)


def check_indices(index, name="index"):
    """Integer codes in [0, 2^63 - 1] as an int64 array of the input's shape, or ValueError naming ``name``.

    A Python sequence that numpy would read as floats (``[2**63, 1]`` becomes float64) is checked
    value by value, so the message names the offending value rather than a dtype.
    """
    rule = f"{name} must be integers in [0, 2^63 - 1] (an int or an int array)"
    try:
        values = np.asarray(index)
        if values.dtype.kind == "f" and not isinstance(index, np.ndarray):
            values = np.asarray(index, dtype=object)
    except (ValueError, TypeError):
        raise ValueError(f"{rule}; got a ragged or unreadable sequence ({index!r:.80})") from None
    if values.dtype == object:
        wrong = [v for v in values.ravel() if not _is_integer(v)]
        if wrong:
            raise ParameterTypeError(f"{rule}; got {wrong[0]!r:.40} ({type(wrong[0]).__name__})")
        wrong = [v for v in values.ravel() if not 0 <= int(v) < INDEX_LIMIT]
        if wrong:
            bad = wrong[0]
            raise ValueError(f"{rule}; got {int(bad)}: no encode produces a negative index or one of 2^63 or more")
        return values.astype(np.int64)
    if values.dtype == bool or not np.issubdtype(values.dtype, np.integer):
        raise ParameterTypeError(f"{rule}; got dtype {values.dtype}")
    if bool(np.any(values < 0)) or (values.dtype == np.uint64 and bool(np.any(values >= np.uint64(INDEX_LIMIT)))):
        bad = values.ravel()[np.flatnonzero((values.ravel() < 0) | (values.ravel() >= INDEX_LIMIT))[0]]
        raise ValueError(f"{rule}; got {int(bad)}: no encode produces a negative index or one of 2^63 or more")
    return values.astype(np.int64)


def check_plan(plan):
    """``plan`` if it is a ``recnumba.BlockPlan``, else TypeError."""
    from recnumba.blocks import BlockPlan  # blocks imports this module

    if not isinstance(plan, BlockPlan):
        raise TypeError(f"plan must be a recnumba.BlockPlan (BlockPlan.build or BlockPlan.load); "
                        f"got {type(plan).__name__}")
    return plan
