"""NumPy side of the family protocol: distribution containers, supported pairs, and their registry.

A *family* is a class derived from :class:`Family`: two parameter arrays of shape (D,) or (B, D)
(B independent blocks of D dimensions), validated once here. As a prior it standardises the latent
by its ``location_scale()``; as a target it describes itself in those coordinates by
``standardised_by(loc, scale)``, two arrays (a, b) that the device functions of
``recnumba.families.protocol`` take.

A *pair* (:class:`Pair`) is a supported (target family, prior family) combination: its numba tag,
KL and D_inf, and when its density ratio is bounded (what exact PFR and ratio weights need).
``pair_of(target, prior)`` finds it or raises a ValueError naming the pair.
"""

import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np

from recnumba.validation import ParameterTypeError  # defined there for every argument check; kept importable here

__all__ = ["Family", "LocationScaleFamily", "Pair", "register_pair", "pair_of", "supported_pairs", "kl_bits",
           "dinf_bits", "check_scales_representable", "check_distribution", "ParameterTypeError",
           "SCALES_REPRESENTABLE_MESSAGE"]

_LN2 = np.log(2.0)


def _real_object_array(array):
    """An object array whose entries are all real numbers (Python ints beyond int64, Fractions) as float64."""
    if all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_)) for v in array.ravel()):
        with np.errstate(over="ignore"):
            try:
                return array.astype(np.float64)
            except (OverflowError, TypeError, ValueError):
                return None
    return None


def as_parameter_array(value, name):
    """``value`` as a float64 array of shape (D,) or (B, D) with finite real entries.

    ParameterTypeError (a TypeError) for the wrong kind of value: a distribution, complex numbers,
    strings, booleans or other objects; ValueError for a ragged sequence, a wrong shape, NaN or inf.
    """
    if isinstance(value, Family):
        raise TypeError(f"{name} must be an array of numbers, not a {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{name} must be an array of shape (D,) or (B, D); got a ragged or unreadable "
                         f"sequence ({error})") from None
    if array.dtype == object:
        converted = _real_object_array(array)
        if converted is None:
            raise ParameterTypeError(f"{name} must be an array of real numbers; got objects ({value!r:.80})")
        array = converted
    if array.dtype.kind == "b":
        raise ParameterTypeError(f"{name} must be an array of real numbers, not booleans")
    if array.dtype.kind not in "iuf":
        kind = "complex numbers" if array.dtype.kind == "c" else f"dtype {array.dtype}"
        raise ParameterTypeError(f"{name} must be an array of real numbers; got {kind} ({value!r:.80})")
    with np.errstate(over="ignore"):
        array = array.astype(np.float64)
    if array.ndim > 2:
        raise ValueError(
            f"{name} must have shape (D,) or (B, D) (dimensions, or blocks x dimensions); got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(not_finite_message(name))
    return array


def not_finite_message(name):
    """``as_parameter_array``'s refusal of NaN or inf in parameter ``name`` (also the device path's)."""
    return f"{name} contains NaN or infinite values (or values beyond float64); pass finite numbers"


class Family:
    """Base class of a factorised distribution family with two parameters per dimension.

    Subclasses set ``parameter_names`` (two names), ``prior_tag`` (the numba tag of the family as a
    prior, or None if it cannot be a prior) and implement ``_check`` (raise ValueError for invalid
    parameters), ``location_scale`` and ``standardised_by``. Parameters are copied and read-only, so
    a distribution cannot change after it was validated (changing the caller's arrays afterwards
    does not reach it). A parameter of the wrong kind (complex, strings, booleans, non-numbers)
    raises :class:`ParameterTypeError` (a TypeError); NaN, inf, a ragged or wrong shape ValueError.
    """

    parameter_names = ("first", "second")
    prior_tag = None

    @classmethod
    def check_messages(cls):
        """The ValueError messages of ``_check``, in the order it checks them: the device path
        (``protocol.parameter_code``) reports check k >= 1 with message k - 1 of this tuple."""
        return ()

    def __init__(self, first, second):
        names = self.parameter_names
        first = as_parameter_array(first, names[0])
        second = as_parameter_array(second, names[1])
        try:
            first, second = np.broadcast_arrays(first, second)
        except ValueError as error:
            raise ValueError(
                f"{names[0]} shape {first.shape} and {names[1]} shape {second.shape} do not broadcast; "
                "give both shape (D,) or (B, D)"
            ) from error
        if first.ndim == 0:
            raise ValueError(f"{names[0]} and {names[1]} are both scalars: give at least one of them shape "
                             "(D,) or (B, D)")
        if first.shape[-1] == 0:
            raise ValueError(f"{names[0]} and {names[1]} have no dimensions; pass at least one dimension")
        self._check(first, second)
        self._params = []
        for array in (first, second):
            array = np.array(array, dtype=np.float64, order="C")  # a private copy
            array.flags.writeable = False
            self._params.append(array)

    def _check(self, first, second):  # pragma: no cover - every family overrides it
        raise NotImplementedError

    @property
    def params(self):
        """The two parameter arrays, each of shape ``self.shape`` (read-only)."""
        return tuple(self._params)

    @property
    def dim(self):
        """Number of dimensions D per block."""
        return self._params[0].shape[-1]

    @property
    def batch_shape(self):
        """``()`` for a single distribution, ``(B,)`` for a batch of blocks."""
        return self._params[0].shape[:-1]

    @property
    def shape(self):
        return self._params[0].shape

    def __repr__(self):
        return f"{type(self).__name__}(shape={self.shape})"

    def __getitem__(self, item):
        """Select blocks of a batched distribution (``d[3]``, ``d[2:5]``, an index array)."""
        if not self.batch_shape:
            raise ValueError("indexing selects blocks: only a batched (B, D) distribution can be indexed")
        return type(self)(self._params[0][item], self._params[1][item])

    def take_dims(self, dims):
        """The distribution restricted to dimensions ``dims`` (last axis): integers in [-D, D) or a bool mask."""
        try:
            first, second = self._params[0][..., dims], self._params[1][..., dims]
        except (IndexError, TypeError, ValueError) as error:
            raise ValueError(f"dims must be dimension numbers in [0, {self.dim}) (ints, an int array or a "
                             f"slice) or a mask of {self.dim} booleans; got {dims!r:.80} ({error})") from None
        return type(self)(first, second)

    def broadcast_to(self, shape):
        """The same distribution with parameters broadcast to ``shape``."""
        try:
            first, second = np.broadcast_to(self._params[0], shape), np.broadcast_to(self._params[1], shape)
        except (TypeError, ValueError) as error:
            raise ValueError(f"shape {shape!r:.60} is not a shape {self.shape} broadcasts to ({error})") from None
        return type(self)(first, second)

    def location_scale(self):
        """(loc, scale) arrays that standardise the latent when this distribution is the prior."""
        raise ValueError(f"{type(self).__name__} cannot be used as a prior")

    def standardised_by(self, loc, scale):
        """This distribution's (a, b) parameters in coordinates ``(z - loc) / scale`` (broadcasting)."""
        raise NotImplementedError


class LocationScaleFamily(Family):
    """A family with parameters ``loc`` and ``scale > 0`` that standardises as ``(z - loc) / scale``.

    Subclasses set ``prior_tag`` and ``scale_meaning`` (what the scale is, for the error message).
    """

    parameter_names = ("loc", "scale")
    scale_meaning = "the scale"

    def __init__(self, loc, scale):  # the parameters by name: Family(loc=..., scale=...)
        super().__init__(loc, scale)

    @classmethod
    def check_messages(cls):
        return (f"scale must be > 0 everywhere ({cls.scale_meaning})",)

    def _check(self, loc, scale):
        if np.any(scale <= 0):
            raise ValueError(self.check_messages()[0])

    @property
    def loc(self):
        return self._params[0]

    @property
    def scale(self):
        return self._params[1]

    def location_scale(self):
        return self.loc, self.scale

    def standardised_by(self, loc, scale):
        return (self.loc - loc) / scale, self.scale / scale


#: The smallest standardised target scale a location-scale pair accepts (``check_scales_representable``).
MIN_SCALE = 1e-150


#: ``check_scales_representable``'s message (also a location-scale pair's ``check_messages``).
SCALES_REPRESENTABLE_MESSAGE = ("target and prior are too far apart for float64 (a target scale is below "
                                f"{MIN_SCALE:g} prior scales); rescale the latent")


def check_scales_representable(a, b):
    """ValueError if a standardised target scale ``b`` is too small to code in float64 (a pair's ``check``)."""
    if not np.all(np.asarray(b) > MIN_SCALE):
        raise ValueError(SCALES_REPRESENTABLE_MESSAGE)


@dataclass(frozen=True)
class Pair:
    """A supported (target family, prior family) pair.

    Attributes
    ----------
    target, prior : Family subclasses
    tag : NamedTuple instance
        The pair's numba tag (``protocol.declare_pair`` links it to the prior family's tag).
    kl_nats, dinf_nats : callable(target, prior) -> float64 array of the broadcast shape
        Per-dimension D_KL[Q||P] and D_inf[Q||P] = ln sup q/p in nats (+inf when unbounded).
    bounded : callable(a, b) -> bool array
        Per dimension, from standardised target parameters: is q/p bounded?
    exact_condition : str
        When q/p is bounded, in words (for error messages and docs).
    check : callable(a, b) -> None, optional
        Raise ValueError for targets this pair cannot code at all (e.g. outside the prior's support).
    reference : object
        NumPy versions of the pair's device functions (``log_ratio``, ``log_sup_ratio``,
        ``log_target_mass``): the test oracle.
    check_messages : tuple of str
        The ValueError messages of ``check``, in the order it checks them (the device path's
        ``protocol.standardised_code`` k >= 1 stands for message k - 1).
    """

    target: type
    prior: type
    tag: tuple
    kl_nats: Callable
    dinf_nats: Callable
    bounded: Callable
    exact_condition: str
    reference: object
    check: Callable = None
    check_messages: tuple = ()

    @property
    def name(self):
        return f"{self.target.__name__} target / {self.prior.__name__} prior"


_PAIRS = {}


def register_pair(pair):
    """Make ``pair`` available to ``encode`` and friends (a family module calls this on import)."""
    if not isinstance(pair, Pair):
        raise TypeError(f"register_pair takes a recnumba.families.Pair; got {type(pair).__name__}")
    _PAIRS[(pair.target, pair.prior)] = pair
    return pair


def supported_pairs():
    """Every registered (target family, prior family) pair."""
    return list(_PAIRS.values())


def check_family(value, name):
    """``value`` if it is a distribution of a registered family, else TypeError."""
    if not isinstance(value, Family):
        families = sorted({p.target.__name__ for p in _PAIRS.values()} | {p.prior.__name__ for p in _PAIRS.values()})
        raise TypeError(f"{name} must be a recnumba distribution ({', '.join(families)}); "
                        f"got {type(value).__name__}")
    return value


def check_distribution(value, name):
    """``value`` if it is a recnumba distribution whose parameters are (still) valid, else TypeError or
    ValueError naming ``name`` ("target" or "prior").

    The containers copy their parameters and make them read-only, but numpy lets the owner of an
    array make it writable again; ``encode``, ``decode``, ``kl_bits`` and ``dinf_bits`` re-check, so
    a prior whose scale was changed to -1 or NaN after construction is refused, with a message that
    says which argument is bad, instead of giving a mirrored or NaN result.
    """
    value = check_family(value, name)
    try:
        type(value)(*value.params)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name}: not a valid {type(value).__name__} any more (its parameters were changed after "
            f"construction): {error}. Build a new distribution instead of editing its arrays"
        ) from error
    return value


def pair_of(target, prior):
    """The :class:`Pair` for these distributions, or ValueError naming the unsupported pair."""
    check_family(target, "target")
    check_family(prior, "prior")
    pair = _PAIRS.get((type(target), type(prior)))
    if pair is None:
        supported = "; ".join(p.name for p in _PAIRS.values())
        raise ValueError(
            f"a {type(target).__name__} target under a {type(prior).__name__} prior is not supported; "
            f"supported pairs: {supported}"
        )
    return pair


def _per_dimension_nats(function, target, prior, per_dimension):
    pair = pair_of(check_distribution(target, "target"), check_distribution(prior, "prior"))
    if not isinstance(per_dimension, (bool, np.bool_)):
        raise TypeError(f"per_dimension must be True or False; got {per_dimension!r}")
    if target.dim != prior.dim:
        raise ValueError(f"target has {target.dim} dimensions but prior has {prior.dim}; they must match")
    try:
        shape = np.broadcast_shapes(target.shape, prior.shape)
    except ValueError as error:
        raise ValueError(f"target shape {target.shape} and prior shape {prior.shape} do not broadcast") from error
    return np.asarray(getattr(pair, function)(target.broadcast_to(shape), prior.broadcast_to(shape)),
                      dtype=np.float64)


def kl_bits(target, prior, per_dimension=False):
    """D_KL[target || prior] in bits, summed over dimensions (shape: batch shape) or per dimension.

    TypeError when ``target`` or ``prior`` is not a recnumba distribution (a tuple of parameters is
    not one: pass ``rn.Gaussian(loc, scale)``); ValueError naming the argument for an unsupported
    pair, mismatched shapes, or a distribution whose parameters were edited after construction.
    """
    values = _per_dimension_nats("kl_nats", target, prior, per_dimension) / _LN2
    return values if per_dimension else values.sum(axis=-1)


def dinf_bits(target, prior, per_dimension=False):
    """D_inf[target || prior] = log2 sup q/p in bits (+inf when unbounded), like ``kl_bits``."""
    values = _per_dimension_nats("dinf_nats", target, prior, per_dimension) / _LN2
    return values if per_dimension else values.sum(axis=-1)
