"""Every supported family pair through the whole pipeline: exactness, round trips, the numpy oracle,
bounds, datasets and clear errors.

Exactness: for each pair x {plain, ratio weights, target weights}, 2,000 exact-PFR encodes of one
2-D target; per-dimension KS tests against the target's CDF and a chi-squared test on a 4 x 4 grid
of equal target mass, all at a family-wise level of 1e-3 (Bonferroni over every test in this
module). The companion test runs the same checks on a biased sampler (ORC with 2 candidates) and
must reject it for every pair.
"""

import numpy as np
import pytest
from scipy import stats

import recnumba as rn
from recnumba import reference
from recnumba.families import pair_of, supported_pairs
from recnumba.search.core import dimension_bin_tables
from recnumba.search.params import WEIGHT_NAMES

NUM_ENCODES = 2000
CONFIGS = ("plain", "ratio", "target")
#: Per-test level: 1e-3 family-wise over 4 pairs x 3 configs x (2 KS + 1 chi-squared) tests.
ALPHA = 1e-3 / (4 * 3 * 3)


def _cases():
    """name -> (target, prior, scipy frozen marginals of the target)"""
    return {
        "gaussian": (
            rn.Gaussian([0.8, -0.5], [0.35, 0.5]), rn.Gaussian([0.3, -0.2], [1.2, 0.9]),
            [stats.norm(0.8, 0.35), stats.norm(-0.5, 0.5)],
        ),
        "laplace": (
            rn.Laplace([0.9, -1.0], [0.3, 0.5]), rn.Laplace([0.1, -0.3], [1.0, 1.5]),
            [stats.laplace(0.9, 0.3), stats.laplace(-1.0, 0.5)],
        ),
        "uniform": (
            rn.Uniform([0.2, 1.0], [0.6, 1.5]), rn.Uniform([-1.0, 0.0], [2.0, 3.0]),
            [stats.uniform(0.2, 0.4), stats.uniform(1.0, 0.5)],
        ),
        "uniform-gaussian": (
            rn.Uniform([0.3, -1.0], [0.9, 0.2]), rn.Gaussian([0.0, 0.5], [1.0, 2.0]),
            [stats.uniform(0.3, 0.6), stats.uniform(-1.0, 1.2)],
        ),
    }


CASES = _cases()


def _batch(dist, count):
    return type(dist)(*(np.tile(p, (count, 1)) for p in dist.params))


def _options(config):
    if config == "plain":
        return {}
    return {"partition": rn.Partition.uniform(2, 4), "weights": config}


def _p_values(samples, marginals):
    """Per-dimension KS p-values and one chi-squared p-value on a 4 x 4 equal-target-mass grid."""
    ks = [stats.kstest(samples[:, d], marginals[d].cdf).pvalue for d in range(2)]
    cells = [np.clip(np.searchsorted(marginals[d].ppf([0.25, 0.5, 0.75]), samples[:, d]), 0, 3) for d in range(2)]
    counts = np.bincount(cells[0] * 4 + cells[1], minlength=16)
    chi2 = stats.chisquare(counts, np.full(16, samples.shape[0] / 16)).pvalue
    return ks + [chi2]


def _encode_many(name, config, **extra):
    target, prior, _ = CASES[name]
    options = dict(_options(config), **extra)
    res = rn.encode(_batch(target, NUM_ENCODES), prior, seed=11, **options)
    return res, options


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_exact_pfr_samples_follow_the_target(name, config):
    res, _ = _encode_many(name, config)
    assert np.all(res.exact)
    p_values = _p_values(res.sample, CASES[name][2])
    assert min(p_values) > ALPHA, p_values


def _shifted(target, fraction):
    """The target moved by ``fraction`` of its scale (width for Uniform): a biased sampler's target."""
    first, second = target.params
    if isinstance(target, rn.Uniform):
        shift = fraction * (second - first)
        return rn.Uniform(first + shift, second + shift)
    return type(target)(first + fraction * second, second)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_check_rejects_a_biased_sampler(name):
    # Exact samples of a target moved by a quarter of its scale: the same check must fail.
    target, prior, marginals = CASES[name]
    res = rn.encode(_batch(_shifted(target, 0.25), NUM_ENCODES), prior, seed=11, **_options("ratio"))
    assert min(_p_values(res.sample, marginals)) < ALPHA
    # ... and so must plain ORC with two candidates (close to the prior), where it finds a sample.
    if not name.startswith("uniform"):
        orc, _ = _encode_many(name, "ratio", method="orc", num_samples=2)
        assert min(_p_values(orc.sample, marginals)) < ALPHA


@pytest.mark.parametrize("method", ["pfr", "orc", "auto"])
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_decode_reproduces_the_sample_bit_for_bit(name, config, method):
    target, prior, _ = CASES[name]
    options = _options(config)
    if method != "pfr":
        options["num_samples"] = 256
    many = rn.encode(_batch(target, 7), prior, seed=5, method=method, **options)
    decoded = rn.decode(many.index, _batch(prior, 7), seed=5, partition=options.get("partition"))
    assert decoded.tobytes() == many.sample.tobytes()
    one = rn.encode(target, prior, seed=5, method=method, **options)
    assert rn.decode(one.index, prior, seed=5, partition=options.get("partition")).tobytes() == one.sample.tobytes()
    if name.startswith("uniform"):  # samples lie in the target's support
        low, high = target.params
        assert np.all((many.sample >= low) & (many.sample <= high))


@pytest.mark.parametrize("name", sorted(CASES))
def test_pfr_code_length_is_near_kl(name):
    res, _ = _encode_many(name, "plain")
    kl = float(rn.kl_bits(*CASES[name][:2]))
    mean_log = float(np.mean(np.log2(res.index + 1.0)))
    # E[log2 n] <= KL + log2(KL + 1) + ~4 (Li & El Gamal); and no code beats KL by much on average.
    assert kl - 1.0 <= mean_log <= kl + np.log2(kl + 1) + 4, (kl, mean_log)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernels_match_the_numpy_reference(name):
    target, prior, _ = CASES[name]
    pair = pair_of(target, prior)
    loc, scale = prior.location_scale()
    a, b = target.standardised_by(loc, scale)
    for weights in ("ratio", "target"):
        for d in range(2):
            count = 8
            log_pi, cdf = np.empty(count), np.empty(count)
            bound = dimension_bin_tables(pair.tag, a[d], b[d], count, WEIGHT_NAMES[weights], 0, log_pi, cdf)
            ref_cdf, ref_log_pi, ref_bound = reference.dimension_tables(a[d], b[d], count, weights, pair)
            np.testing.assert_allclose(cdf, ref_cdf, rtol=1e-10, atol=1e-300)
            np.testing.assert_allclose(bound, ref_bound, rtol=1e-9, atol=1e-12)
        for trial in range(3):
            partition = [3, 2]
            res = rn.encode(target, prior, seed=trial, partition=partition, weights=weights, block_ids=[trial])
            assert (res.index, res.steps) == reference.pfr_select(a, b, partition, weights, trial, trial, pair=pair)
            expected = reference.decode(res.index, loc, scale, partition, trial, trial, pair=pair)
            np.testing.assert_allclose(res.sample, expected, rtol=1e-12, atol=1e-12)
            orc = rn.encode(target, prior, seed=trial, method="orc", num_samples=500, partition=partition,
                            weights=weights)
            assert orc.index == reference.orc_select(a, b, partition, weights, trial, 0, 500, pair=pair)


@pytest.mark.parametrize("name", sorted(CASES))
def test_kl_and_dinf_per_dimension_and_bounds(name):
    target, prior, _ = CASES[name]
    kl = rn.kl_bits(target, prior, per_dimension=True)
    dinf = rn.dinf_bits(target, prior, per_dimension=True)
    assert kl.shape == (2,) and np.all(kl > 0) and np.all(dinf >= kl)
    res = rn.encode(target, prior, seed=3)
    # Plain PFR's heuristic is the prior itself: its bound is D_inf.
    assert res.bound_bits == pytest.approx(float(dinf.sum()), rel=1e-9)
    batched = rn.kl_bits(_batch(target, 3), prior)
    assert batched.shape == (3,) and np.allclose(batched, kl.sum())


@pytest.mark.parametrize("name", sorted(CASES))
def test_datasets_and_block_plans(name):
    target, prior, _ = CASES[name]
    items = 6
    targets = type(target)(*(np.tile(np.concatenate([p, p]), (items, 1)) for p in target.params))
    full_prior = type(prior)(*(np.concatenate([p, p]) for p in prior.params))
    info = np.asarray(rn.kl_bits(targets[0], full_prior, per_dimension=True))
    plan = rn.BlockPlan.build(info, block_bits=float(info.sum()) / 2 + 1.0, seed=4, margin_bits=1.0)
    for method in ("orc", "auto", "pfr"):
        options = {} if method == "pfr" else {"num_samples": 1 << 10}
        enc = rn.encode_dataset(targets, full_prior, plan, seed=9, method=method, **options)
        samples = rn.decode_dataset(enc.indices, full_prior, plan, seed=9)
        assert samples.tobytes() == enc.samples.tobytes()
        assert np.allclose(enc.kl_bits, info.sum())
    enc = rn.encode_dataset(targets, full_prior, plan, seed=9, method="orc", weights="auto", num_samples=1 << 10)
    assert rn.decode_dataset(enc.indices, full_prior, plan, seed=9).tobytes() == enc.samples.tobytes()


def test_every_built_in_pair_is_registered():
    names = {(p.target.__name__, p.prior.__name__) for p in supported_pairs()}
    assert names >= {("Gaussian", "Gaussian"), ("Laplace", "Laplace"), ("Uniform", "Uniform"),
                     ("Uniform", "Gaussian")}


def test_unsupported_pairs_are_named():
    with pytest.raises(ValueError, match="Laplace target under a Gaussian prior is not supported"):
        rn.encode(rn.Laplace([0.0], [1.0]), rn.Gaussian([0.0], [1.0]), seed=1)
    with pytest.raises(ValueError, match="Gaussian target under a Uniform prior"):
        rn.kl_bits(rn.Gaussian([0.0], [1.0]), rn.Uniform([0.0], [1.0]))
    with pytest.raises(TypeError, match="recnumba distribution"):
        rn.decode(0, (0.0, 1.0), seed=1)


def test_exact_pfr_needs_a_bounded_ratio_for_every_family():
    with pytest.raises(ValueError, match="target scale at most the prior scale"):
        rn.encode(rn.Laplace([0.0, 0.0], [0.5, 1.5]), rn.Laplace([0.0, 0.0], [1.0, 1.0]), seed=1)
    with pytest.raises(ValueError, match="bounded density ratio"):
        rn.encode(rn.Gaussian([0.0], [2.0]), rn.Gaussian([0.0], [1.0]), seed=1, method="orc", weights="ratio")
    # ORC with target weights works for an unbounded Laplace ratio.
    res = rn.encode(rn.Laplace([0.3, 0.0], [0.5, 1.5]), rn.Laplace([0.0, 0.0], [1.0, 1.0]), seed=1,
                    method="orc", num_samples=64)
    assert np.isinf(res.bound_bits) and res.steps == 64


def test_uniform_target_outside_the_uniform_prior_is_refused():
    with pytest.raises(ValueError, match="inside the Uniform prior"):
        rn.encode(rn.Uniform([0.5], [1.5]), rn.Uniform([0.0], [1.0]), seed=1, method="orc")


@pytest.mark.parametrize("family, args, name", [
    (rn.Uniform, ([1.0], [1.0]), "low"),
    (rn.Uniform, ([2.0], [1.0]), "low"),
    (rn.Uniform, ([np.nan], [1.0]), "low"),
    (rn.Uniform, ([0.0], [np.inf]), "high"),
    (rn.Laplace, ([0.0], [0.0]), "scale"),
    (rn.Laplace, ([0.0], [-1.0]), "scale"),
    (rn.Laplace, ([np.inf], [1.0]), "loc"),
    (rn.Gaussian, ([0.0], [np.nan]), "scale"),
    (rn.Gaussian, ([0.0], [0.0]), "scale"),
])
def test_bad_parameters_name_the_argument(family, args, name):
    with pytest.raises(ValueError, match=name):
        family(*args)


def test_distributions_are_immutable_copies():
    loc = np.array([0.0, 1.0])
    g = rn.Gaussian(loc, [1.0, 1.0])
    loc[0] = 5.0
    assert g.loc[0] == 0.0
    with pytest.raises(ValueError):
        g.scale[0] = -1.0
