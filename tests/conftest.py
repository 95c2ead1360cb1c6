"""Shared test set-up: deterministic hypothesis profile and small helpers."""

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import recnumba as rn

settings.register_profile(
    "recnumba", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("recnumba")


def repeated(target, num_encodes):
    """A (num_encodes, D) batch of one target: each row is an independent encode (own block id)."""
    return rn.Gaussian(np.tile(target.loc, (num_encodes, 1)), np.tile(target.scale, (num_encodes, 1)))


@pytest.fixture
def prior5():
    return rn.Gaussian(np.zeros(5), np.ones(5))
