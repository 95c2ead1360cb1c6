"""The family protocol: five device functions that the search core calls, one implementation per family.

All five work in coordinates *standardised by the prior*: the prior family's location and scale
map a latent value z to ``x = (z - loc) / scale``, so the prior is the family's standard member
(N(0, 1), Laplace(0, 1), U(0, 1)) and the target is described by two standardised parameters per
dimension, ``a`` and ``b`` (for example (mean, std) of a Gaussian target, (low, high) of a uniform
one). The density ratio q/p is unchanged by this map. Logarithms are natural (nats).

Prior family (keyed by the prior's tag; decoding needs nothing else):

* ``std_quantile(prior, interval, num_intervals, u)``: the standard prior's quantile of
  ``(interval + u) / num_intervals``. This is the decode path: it must round identically on a CPU
  and a GPU (use ``recnumba.numerics.portable`` for products and logarithms).
* ``std_edge(prior, edge, num_intervals)``: the quantile of ``edge / num_intervals`` (edge 0..J),
  the boundary of the equal-prior-mass intervals (-inf and +inf allowed at the ends).

Target/prior pair (keyed by the pair's tag; ``prior_of(pair)`` gives the prior's tag, declared
with ``declare_pair``):

* ``log_ratio(pair, x, a, b)``: ln q(x)/p(x) at standardised x (-inf outside the target's support).
* ``log_sup_ratio(pair, lower, upper, a, b)``: sup of ln q/p over [lower, upper] (+inf if unbounded,
  -inf if the target has no mass there).
* ``log_target_mass(pair, lower, upper, a, b)``: ln Q([lower, upper]), accurate in the far tails.

A tag is an instance of a small flat ``typing.NamedTuple`` class of the family's own (one int field:
numba's parallel loops reject nested tuples); numba types it by its class, so every kernel that
takes a tag is compiled once per family (and cached per family).
A family module implements the protocol with::

    @implements(log_ratio, LaplacePair)
    @njit(cache=True)
    def _log_ratio(x, a, b): ...

The stubs below are never executed in Python: they exist to be overloaded.

Lanes (the CPU's chunked search, ``recnumba.search.chunked``): two array versions of the hot
functions, for ``count`` candidates at once,

* ``std_quantiles(prior, intervals, num_intervals, u, count, out)``:
  ``out[c] = std_quantile(prior, intervals[c], num_intervals, u[c])``;
* ``add_log_ratios(pair, x, a, b, count, total)``: ``total[c] += log_ratio(pair, x[c], a, b)``.

Every family gets them for free as loops over its scalar functions (compiled with numba's
``error_model="numpy"``, so a division does not stop LLVM from vectorising the loop). A family whose
scalar function has branches that defeat vectorisation may register a branch-free version with
``@implements_lanes(std_quantiles, GaussianPrior)``; it must return the scalar function's values
bit for bit (the tests check every registered one against its scalar twin).

Checks and standardisation (the CUDA backend's device-resident path, ``recnumba.device``): the
host validates and standardises numpy arrays (``Family._check``, ``Family.standardised_by``,
``Pair.check``, ``Pair.bounded``); for arrays that stay on a GPU the same decisions are made on the
device by five more protocol functions, each the scalar twin of one host check, so a device array
is refused with the host's message. A *family* is keyed by its tag as a prior (``Family.prior_tag``:
a uniform target under a Gaussian prior is standardised and checked as a Uniform).

* ``standardise(family, first, second, loc, scale)``: (a, b), the target's parameters in
  coordinates ``(z - loc) / scale``: the arithmetic of ``Family.standardised_by``, operation for
  operation (subtractions and divisions only: nothing a compiler can contract into an FMA).
* ``parameter_code(family, first, second)``: 0 when ``Family._check`` accepts the finite parameters
  of one dimension; k >= 1 when it would raise ``Family.check_messages()[k - 1]`` (a smaller k is the
  check the host makes first).
* ``standardised_code(pair, a, b)``: 0 when ``Pair.check`` accepts the finite (a, b); k >= 1 for
  ``Pair.check_messages[k - 1]``.
* ``ratio_bounded(pair, a, b)``: ``Pair.bounded`` of one dimension (is q/p bounded?).
* ``kl_divergence(pair, first, second, prior_first, prior_second)``: ``Pair.kl_nats`` of one
  dimension from the latent parameters of target and prior (nats; to rounding: a GPU's ``log`` is
  libdevice's, not the host's).

``recnumba.search.inputs`` runs them over rows of raw parameters.
"""

from numba import types
from numba.extending import overload

__all__ = ["PROTOCOL", "add_log_ratios", "declare_pair", "implements", "implements_lanes", "log_ratio",
           "kl_divergence", "log_sup_ratio", "log_target_mass", "parameter_code", "prior_of", "ratio_bounded",
           "register_for_target",
           "standardise", "standardised_code", "std_edge", "std_quantile", "std_quantiles"]


def std_quantile(prior, interval, num_intervals, u):
    """Standard prior quantile of ``(interval + u) / num_intervals`` (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def std_edge(prior, edge, num_intervals):
    """Standard prior quantile of ``edge / num_intervals`` (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def log_ratio(pair, x, a, b):
    """ln q(x)/p(x) in standardised coordinates (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def log_sup_ratio(pair, lower, upper, a, b):
    """sup of ln q/p on [lower, upper] (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def log_target_mass(pair, lower, upper, a, b):
    """ln Q([lower, upper]) (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def standardise(family, first, second, loc, scale):
    """(a, b): parameters (first, second) in coordinates (z - loc) / scale (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def parameter_code(family, first, second):
    """0, or k >= 1 for the family's k-th parameter check message (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def standardised_code(pair, a, b):
    """0, or k >= 1 for the pair's k-th standardised check message (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def ratio_bounded(pair, a, b):
    """Whether q/p is bounded in this dimension (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def kl_divergence(pair, first, second, prior_first, prior_second):
    """D_KL of one dimension in nats from latent parameters (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def prior_of(pair):
    """The prior family's tag of a pair tag (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def declare_pair(pair_class, prior_class):
    """Declare that tags of ``pair_class`` have priors of ``prior_class`` (for ``prior_of``)."""
    _PAIR_PRIORS.append((pair_class, prior_class))
    for target in ["cpu"] + _EXTRA_TARGETS:
        _overload_prior_of(pair_class, prior_class, target)


def _overload_prior_of(pair_class, prior_class, target):
    def typer(pair):
        if _is_tag(pair, pair_class):
            return lambda pair: prior_class(0)
    overload(prior_of, target=target, strict=False)(typer)


_PAIR_PRIORS = []

#: stub -> its argument names after the tag (overloads must repeat the stub's signature exactly)
PROTOCOL = {
    std_quantile: ("interval", "num_intervals", "u"),
    std_edge: ("edge", "num_intervals"),
    log_ratio: ("x", "a", "b"),
    log_sup_ratio: ("lower", "upper", "a", "b"),
    log_target_mass: ("lower", "upper", "a", "b"),
    standardise: ("first", "second", "loc", "scale"),
    parameter_code: ("first", "second"),
    standardised_code: ("a", "b"),
    ratio_bounded: ("a", "b"),
    kl_divergence: ("first", "second", "prior_first", "prior_second"),
}

#: (stub, tag class, njit function) for every implementation, so other targets can register them.
_IMPLEMENTATIONS = []


def _is_tag(value_type, tag_class):
    return isinstance(value_type, types.BaseNamedTuple) and value_type.instance_class is tag_class


def _overload_for(stub, tag_class, function, target):
    arity = len(PROTOCOL[stub])
    # numba requires an overload's signature to match the stub's: build it for this arity.
    if arity == 2:
        def typer(tag, p, q):
            if _is_tag(tag, tag_class):
                return lambda tag, p, q: function(p, q)
    elif arity == 3:
        def typer(tag, p, q, r):
            if _is_tag(tag, tag_class):
                return lambda tag, p, q, r: function(p, q, r)
    else:
        def typer(tag, p, q, r, s):
            if _is_tag(tag, tag_class):
                return lambda tag, p, q, r, s: function(p, q, r, s)
    overload(stub, target=target, prefer_literal=False, strict=False)(typer)


def implements(stub, tag_class):
    """Decorator: register an ``@njit`` function as ``stub``'s implementation for ``tag_class``.

    The decorated function takes the stub's arguments without the tag and is returned unchanged.
    """
    if stub not in PROTOCOL:
        raise ValueError(f"{getattr(stub, '__name__', stub)!r} is not a protocol function; use one of "
                         f"{[s.__name__ for s in PROTOCOL]}")

    def register(function):
        _overload_for(stub, tag_class, function, "cpu")
        _IMPLEMENTATIONS.append((stub, tag_class, function))
        for target in _EXTRA_TARGETS:
            _overload_for(stub, tag_class, function, target)
        return function

    return register


_EXTRA_TARGETS = []


def register_for_target(target):
    """Make every implementation (present and future) available to numba target ``target``.

    The CUDA backend calls this with ``"cuda"`` when it is imported.
    """
    if target in _EXTRA_TARGETS:
        return
    _EXTRA_TARGETS.append(target)
    for stub, tag_class, function in _IMPLEMENTATIONS:
        _overload_for(stub, tag_class, function, target)
    for pair_class, prior_class in _PAIR_PRIORS:
        _overload_prior_of(pair_class, prior_class, target)


# ---------------------------------------------------------------------------------------------
# Lanes (CPU only)
# ---------------------------------------------------------------------------------------------


def std_quantiles(prior, intervals, num_intervals, u, count, out):
    """``out[c] = std_quantile(prior, intervals[c], num_intervals, u[c])`` for c < count (stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


def add_log_ratios(pair, x, a, b, count, total):
    """``total[c] += log_ratio(pair, x[c], a, b)`` for c < count (protocol stub)."""
    raise NotImplementedError("protocol stub: called from numba-compiled code only")


#: (lanes stub, tag class) -> the family's own njit implementation (without the tag argument)
_LANES = {}
_LANES_SCALAR = {std_quantiles: std_quantile, add_log_ratios: log_ratio}


def implements_lanes(stub, tag_class):
    """Decorator: register a family's own (faster, bit-identical) version of a lanes stub."""
    if stub not in _LANES_SCALAR:
        raise ValueError(f"{getattr(stub, '__name__', stub)!r} is not a lanes function; use std_quantiles "
                         "or add_log_ratios")

    def register(function):
        _LANES[(stub, tag_class)] = function
        return function

    return register


def _tag_class(value_type):
    return value_type.instance_class if isinstance(value_type, types.BaseNamedTuple) else None


@overload(std_quantiles, target="cpu", jit_options={"error_model": "numpy"})
def _std_quantiles(prior, intervals, num_intervals, u, count, out):
    own = _LANES.get((std_quantiles, _tag_class(prior)))
    if own is not None:
        return lambda prior, intervals, num_intervals, u, count, out: own(intervals, num_intervals, u, count, out)

    def loop(prior, intervals, num_intervals, u, count, out):
        for c in range(count):
            out[c] = std_quantile(prior, intervals[c], num_intervals, u[c])

    return loop


@overload(add_log_ratios, target="cpu", jit_options={"error_model": "numpy"})
def _add_log_ratios(pair, x, a, b, count, total):
    own = _LANES.get((add_log_ratios, _tag_class(pair)))
    if own is not None:
        return lambda pair, x, a, b, count, total: own(x, a, b, count, total)

    def loop(pair, x, a, b, count, total):
        for c in range(count):
            total[c] += log_ratio(pair, x[c], a, b)

    return loop
