"""Device twins of ``LocationScaleFamily``'s checks and standardisation, written once for every
location-scale family (Gaussian, Laplace).

``recnumba.device`` checks and standardises CUDA arrays with the protocol's input functions
(``recnumba.families.protocol``). For a location-scale family they are the same three scalar
functions whatever the density, so a family registers these with :func:`register_inputs` instead of
copies of its own; only ``ratio_bounded`` and ``kl_divergence`` are the family's.
"""

from numba import njit

from recnumba.families import protocol
from recnumba.families.base import MIN_SCALE

__all__ = ["register_inputs"]


@njit(cache=True)
def standardise(loc, scale, prior_loc, prior_scale):
    """``LocationScaleFamily.standardised_by``: ((loc - m) / s, scale / s)."""
    return (loc - prior_loc) / prior_scale, scale / prior_scale


@njit(cache=True)
def parameter_code(loc, scale):
    """1 where ``LocationScaleFamily._check`` refuses the scale (not > 0), else 0."""
    return 0 if scale > 0.0 else 1


@njit(cache=True)
def standardised_code(a, b):
    """1 where ``check_scales_representable`` refuses b, else 0."""
    return 0 if b > MIN_SCALE else 1


def register_inputs(prior_class, pair_class):
    """Register the three functions above for a location-scale family's prior and pair tags."""
    protocol.implements(protocol.standardise, prior_class)(standardise)
    protocol.implements(protocol.parameter_code, prior_class)(parameter_code)
    protocol.implements(protocol.standardised_code, pair_class)(standardised_code)
