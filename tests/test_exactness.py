"""Exactness: decoded samples of exact PFR follow the target, checked with seeded KS tests.

Each case encodes one target 2,000 times (a batch with distinct block ids, so every row is an
independent encode with its own streams), decodes the indices, and runs a Kolmogorov-Smirnov test per
dimension plus one on a joint statistic (the standardised radius, chi^2_D under Q). p-values are
Bonferroni-corrected over every KS test in this module. The companion test shows the same check does
flag a biased sampler (ORC with a tiny budget on a large-KL target).
"""

import numpy as np
import pytest
from scipy import stats

import recnumba as rn
from conftest import repeated

NUM_ENCODES = 2000
FAMILY_LEVEL = 1e-3


def _target_case(dim, seed, prior_loc=0.0, prior_scale=1.0):
    rng = np.random.default_rng(seed)
    prior = rn.Gaussian(np.full(dim, prior_loc), np.full(dim, prior_scale))
    target = rn.Gaussian(prior_loc + prior_scale * rng.normal(0, 0.6, dim), prior_scale * rng.uniform(0.3, 0.55, dim))
    return target, prior


TARGETS = {
    "3d": _target_case(3, 1),
    "4d-shifted-prior": _target_case(4, 2, prior_loc=3.0, prior_scale=2.5),
    "5d": _target_case(5, 3),
}
CONFIGS = {
    "plain": dict(partition=None),
    "ratio": dict(partition="kl-1", weights="ratio"),
    "target": dict(partition="kl-1", weights="target"),
    "uneven-ratio": dict(partition="uneven", weights="ratio"),
}
NUM_TESTS = sum((target.dim + 1) for target, _ in TARGETS.values()) * len(CONFIGS)


def _partition(spec, target, prior):
    if spec is None:
        return None
    if spec == "uneven":
        return rn.Partition([5, 1, 3, 2, 1][: target.dim])
    return rn.Partition.uniform(target.dim, rn.kl_bits(target, prior) - 1)


def corrected_p_values(samples, target, num_tests):
    """Bonferroni-corrected KS p-values: one per dimension, then the chi^2 radius statistic."""
    standardised = (samples - target.loc) / target.scale
    p_values = [stats.kstest(standardised[:, d], "norm").pvalue for d in range(target.dim)]
    p_values.append(stats.kstest((standardised**2).sum(axis=1), stats.chi2(target.dim).cdf).pvalue)
    return np.minimum(1.0, np.array(p_values) * num_tests)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("case", TARGETS)
def test_exact_pfr_samples_follow_target(case, config):
    target, prior = TARGETS[case]
    options = dict(CONFIGS[config])
    partition = _partition(options.pop("partition"), target, prior)
    batch = repeated(target, NUM_ENCODES)
    result = rn.encode(batch, prior, seed=20241127, partition=partition, **options)
    samples = rn.decode(result.index, rn.Gaussian(batch.loc * 0 + prior.loc, batch.scale * 0 + prior.scale),
                        seed=20241127, partition=partition)
    np.testing.assert_array_equal(samples, result.sample)
    p_values = corrected_p_values(samples, target, NUM_TESTS)
    assert p_values.min() > FAMILY_LEVEL, f"corrected KS p-values {p_values}"


def test_check_detects_a_biased_sampler():
    """ORC with 8 candidates on a ~12-bit target is far from exact; the same check must reject it."""
    rng = np.random.default_rng(4)
    prior = rn.Gaussian(np.zeros(5), np.ones(5))
    target = rn.Gaussian(rng.normal(0, 0.8, 5), np.full(5, 0.2))
    assert rn.kl_bits(target, prior) > 10
    result = rn.encode(repeated(target, NUM_ENCODES), prior, seed=20241127, method="orc", num_samples=8)
    p_values = corrected_p_values(result.sample, target, NUM_TESTS)
    assert p_values.min() < FAMILY_LEVEL
