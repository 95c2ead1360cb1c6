"""Diagonal Gaussian distributions: the user-facing container for targets and priors."""

import numpy as np

from recnumba.distributions import gaussian_math

_LN2 = np.log(2.0)


def _as_float_array(value, name):
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of real numbers; got {value!r}") from error
    if array.ndim > 2:
        raise ValueError(
            f"{name} must have shape (D,) or (B, D) (dimensions, or blocks x dimensions); "
            f"got shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} contains NaN or infinite values; pass finite numbers")
    return array


class Gaussian:
    """A diagonal Gaussian N(loc, diag(scale^2)), one per block when batched.

    Parameters
    ----------
    loc, scale : array_like, shape (D,) or (B, D)
        Means and standard deviations (same units as the latent). ``scale`` must be > 0.
        They broadcast against each other; a 2-D shape describes B independent blocks.
    """

    def __init__(self, loc, scale):
        loc = _as_float_array(loc, "loc")
        scale = _as_float_array(scale, "scale")
        try:
            loc, scale = np.broadcast_arrays(loc, scale)
        except ValueError as error:
            raise ValueError(
                f"loc shape {loc.shape} and scale shape {scale.shape} do not broadcast; "
                "give both shape (D,) or (B, D)"
            ) from error
        if loc.ndim == 0:
            raise ValueError("loc and scale are both scalars: give at least one of them shape (D,) or (B, D)")
        if loc.shape[-1] == 0:
            raise ValueError("loc and scale have no dimensions; pass at least one dimension")
        if np.any(scale <= 0):
            raise ValueError("scale must be > 0 everywhere (standard deviations, not variances)")
        self.loc = np.ascontiguousarray(loc)
        self.scale = np.ascontiguousarray(scale)

    @property
    def dim(self):
        """Number of dimensions D per block."""
        return self.loc.shape[-1]

    @property
    def batch_shape(self):
        """``()`` for a single distribution, ``(B,)`` for a batch of blocks."""
        return self.loc.shape[:-1]

    @property
    def shape(self):
        return self.loc.shape

    def __repr__(self):
        return f"Gaussian(shape={self.shape})"

    def __getitem__(self, item):
        """Select blocks of a batched Gaussian (``g[3]``, ``g[2:5]``)."""
        if not self.batch_shape:
            raise ValueError("indexing selects blocks: only a batched (B, D) Gaussian can be indexed")
        return Gaussian(self.loc[item], self.scale[item])


def _per_dimension(function, target, prior):
    q_loc, q_scale, p_loc, p_scale = np.broadcast_arrays(target.loc, target.scale, prior.loc, prior.scale)
    out = np.empty(q_loc.shape)
    flat = out.reshape(-1)
    for position, args in enumerate(zip(q_loc.ravel(), q_scale.ravel(), p_loc.ravel(), p_scale.ravel())):
        flat[position] = function(*args)
    return out


def kl_bits(target, prior, per_dimension=False):
    """D_KL[target || prior] in bits, summed over dimensions (shape: batch shape) or per dimension."""
    values = _per_dimension(gaussian_math.kl_divergence, target, prior) / _LN2
    return values if per_dimension else values.sum(axis=-1)


def dinf_bits(target, prior, per_dimension=False):
    """D_inf[target || prior] = log2 sup q/p in bits (+inf when unbounded), like ``kl_bits``."""
    values = _per_dimension(gaussian_math.log_sup_ratio, target, prior) / _LN2
    return values if per_dimension else values.sum(axis=-1)
