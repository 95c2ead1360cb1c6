"""1-D branch-and-bound GPRS (``method="gprs"``): stretch function, exactness, bounds, decoding, oracle.

* The stretch function S(u) = sigma(r* e^{-u^2}) against mpmath (30 digits) and against scipy's
  ``solve_ivp`` of the defining ODE (sigma^-1)' = w_Q(sigma^-1) - sigma^-1 w_P(sigma^-1).
* Exactness: seeded KS tests of decoded samples against Q, Bonferroni-corrected over the targets; the
  same check rejects a sampler with a wrong stretch function (sigma scaled by 1.5 or 1/1.5).
* Theorems: mean steps <= 2.26 KL + 9.66 on a grid of targets (per-target KL, bits); mean ζ-coded
  bits <= I + log2(I + 1) + 4.5 on Gaussian-channel targets with information I (the authors' setting:
  P = N(0, 1), Q = N(mu, s^2), s = 2^-I, mu ~ N(0, 1 - s^2), so E[KL] = I) and on every fixed target
  of the grid up to 8 bits. (Above about 12 bits a *centred* fixed target, a = 0, exceeds that bound:
  its path is about 1.4 KL nodes long, every node a fair left/right bit, so no code of the heap index
  can reach KL + log2(KL + 1) + 4.5; measured in ``test_centred_targets_pay_more_than_the_channel_bound``.)
* Decoding bit for bit (API, batches, datasets, containers, plain-Python replay of the kernel), the
  numpy oracle (same heap indices and steps, samples within 1e-12), bad inputs.
"""

import math

import numpy as np
import pytest
from scipy import stats

import recnumba as rn
from recnumba import gprs as gprs_api
from recnumba import reference_gprs
from recnumba.coding.elias import delta_length
from recnumba.random.philox import shared_uniform_pair
from recnumba.search import gprs

LN2 = math.log(2.0)
PRIOR = rn.Gaussian([0.0], [1.0])


def _kl_bits(a, b):
    return (-math.log(b) + 0.5 * (b * b + a * a) - 0.5) / LN2


def _encode_kernel(targets, seed=7, first_block=0, shift=0.0):
    """(heap, steps, status, x) for (B, 2) standardised targets, straight from the kernel."""
    targets = np.ascontiguousarray(targets, dtype=np.float64)
    n = targets.shape[0]
    heap, steps, status, out = (np.empty(n, np.int64), np.empty(n, np.int64), np.empty(n, np.int64),
                                np.empty(n))
    gprs.encode_range(targets, np.zeros(n), np.ones(n), np.uint64(seed), np.arange(first_block, first_block + n),
                      np.int64(100), shift, heap, steps, status, out, 0, n, np.zeros(1, np.int64))
    return heap, steps, status, out


def _channel_targets(information, n, seed):
    s = 2.0 ** -information
    mu = np.random.default_rng(seed).normal(0.0, math.sqrt(1.0 - s * s), n)
    return np.stack([mu, np.full(n, s)], axis=1)


def _target_with_kl(kl_bits, mean_share):
    """(a, b) with KL = kl_bits, a share ``mean_share`` of it from the mean offset."""
    from scipy import optimize

    a = math.sqrt(2.0 * mean_share * kl_bits * LN2)
    rest = (1.0 - mean_share) * kl_bits * LN2
    b = optimize.brentq(lambda b: -math.log(b) + 0.5 * b * b - 0.5 - rest, 1e-300, 1.0)
    return a, b


# ----------------------------------------------------------------------------- stretch function


def _mp_log_sigma(a, b, u, dps=30):
    """ln S(u) by mpmath: F^ = w_Q / r* - e^{-u^2} w_P (its cancellation is harmless at 30 digits), S = integral."""
    import mpmath as mp

    with mp.workdps(dps):
        a, b = mp.mpf(a), mp.mpf(b)
        xs, kq = a / (1 - b * b), mp.sqrt(2 / (1 - b * b))
        kap, off = b * kq, a * b / (1 - b * b)
        log_r_star = -mp.log(b) + a * a / (2 * (1 - b * b))

        def mass(c, h):
            c = abs(c)
            return mp.ncdf(h - c) - mp.ncdf(-(c + h))

        def f(v):
            f_hat = mass(off, kq * v) / mp.exp(log_r_star) - mp.exp(-v * v) * mass(xs, kap * v)
            return 2 * v * mp.exp(-v * v) / f_hat

        u = mp.mpf(u)
        points = sorted({u, 2 * u, u + mp.mpf(0.25), u + 1, u + 3} | {mp.mpf(p) for p in (0.25, 1, 2, 4, 8) if p > u})
        return float(mp.log(mp.quad(f, points + [mp.inf])))


SIGMA_TARGETS = [(0.5, 0.1), (2.0, 0.5), (-1.5, 0.01), (3.0, 2.0**-12), (0.3, 0.9), (1.0, 0.97)]


@pytest.mark.parametrize("a,b", SIGMA_TARGETS)
def test_stretch_function_matches_mpmath(a, b):
    tg = gprs.gprs_target(a, b)
    table = gprs.build_sigma_table(tg)
    for u in (1e-3 * tg.u_zero, 0.5 * tg.u_zero, 0.1, 0.3, 0.7, 1.3, 2.5, 4.0):
        got = gprs.log_sigma(u, tg, table)
        assert abs(math.expm1(got - _mp_log_sigma(a, b, u))) < 1e-12, (a, b, u)
    assert table.state[2] == gprs.STATUS_OK


def test_stretch_function_solves_its_ode():
    """sigma^-1 from solve_ivp (the ODE in its own variable h, with w_P, w_Q from scipy) lands where
    the kernel's sigma says: sigma(h(t)) = t."""
    from scipy import integrate, special

    a, b = 0.8, 0.35
    tg = gprs.gprs_target(a, b)
    table = gprs.build_sigma_table(tg)
    r_star = math.exp(tg.log_r_star)

    def rhs(t, y):
        h = min(y[0], r_star * (1 - 1e-15))
        u = math.sqrt(max(tg.log_r_star - math.log(h), 0.0)) if h > 0 else math.inf
        d, dq = tg.kappa * u, tg.kappa_q * u
        w_p = special.ndtr(tg.x_star + d) - special.ndtr(tg.x_star - d)
        w_q = special.ndtr(tg.offset + dq) - special.ndtr(tg.offset - dq)
        return [w_q - h * w_p]

    times = [0.05, 0.3, 1.0, 2.0, 4.0]
    solution = integrate.solve_ivp(rhs, (0.0, times[-1]), [0.0], method="DOP853", rtol=1e-12, atol=1e-14,
                                   t_eval=times)
    assert solution.success
    for t, h in zip(times, solution.y[0]):
        u = math.sqrt(tg.log_r_star - math.log(h))
        assert abs(math.expm1(gprs.log_sigma(u, tg, table) - math.log(t))) < 1e-8, (t, h)


def test_stretch_function_limits():
    tg = gprs.gprs_target(0.5, 0.1)
    table = gprs.build_sigma_table(tg)
    assert gprs.log_sigma(0.0, tg, table) == math.inf  # the mode is always accepted
    values = [gprs.log_sigma(u, tg, table) for u in np.geomspace(1e-300, 50.0, 400)]
    assert np.all(np.isfinite(values)) and np.all(np.diff(values) < 0)  # strictly decreasing
    assert gprs.log_sigma(table.values[1] * 1.01, tg, table) < gprs.LOG_S_NEGLIGIBLE  # past u_max: never


# ----------------------------------------------------------------------------- exactness

# (the last: an almost flat ratio, D_inf = 10^6 nats, mode 10^6 prior stds out: every query near u ~ 1000)
KS_TARGETS = [(0.0, 0.5), (1.2, 0.3), (-0.7, 0.05), (2.0, 0.6), (0.4, 2.0**-8), (-2.5, 0.2), (0.1, 0.95),
              (2.0, 1.0 - 1e-6)]
KS_ENCODES = 5000
KS_LEVEL = 1e-3


def _ks_pvalues(shift):
    pvalues = []
    for k, (a, b) in enumerate(KS_TARGETS):
        heap, _, status, x = _encode_kernel(np.tile([a, b], (KS_ENCODES, 1)), seed=2024, first_block=k * KS_ENCODES,
                                            shift=shift)
        assert np.all(status == 0)
        pvalues.append(stats.kstest((x - a) / b, "norm").pvalue)
    return np.array(pvalues)


def test_samples_follow_the_target():
    """Bonferroni over the targets: every KS p-value above KS_LEVEL / K."""
    pvalues = _ks_pvalues(0.0)
    assert pvalues.min() * len(KS_TARGETS) > KS_LEVEL, pvalues


@pytest.mark.parametrize("factor", [1.5, 1 / 1.5])
def test_the_check_rejects_a_wrong_stretch_function(factor):
    """The same check with sigma scaled by ``factor``: the sampler is no longer exact and is caught."""
    pvalues = _ks_pvalues(math.log(factor))
    assert pvalues.min() * len(KS_TARGETS) < KS_LEVEL, pvalues


def test_api_samples_follow_the_target_in_latent_units():
    """Through rn.encode with a non-standard prior; the decoded samples are the encoded ones."""
    prior = rn.Gaussian([3.0], [2.5])
    target = rn.Gaussian(np.full((4000, 1), 4.1), np.full((4000, 1), 0.3))
    res = rn.encode(target, prior, seed=5, method="gprs")
    batch_prior = rn.Gaussian(np.full((4000, 1), 3.0), np.full((4000, 1), 2.5))
    z = rn.decode(res.index, batch_prior, seed=5, method="gprs")
    assert z.tobytes() == res.sample.tobytes()
    assert stats.kstest((z[:, 0] - 4.1) / 0.3, "norm").pvalue > 1e-3


# ----------------------------------------------------------------------------- theorems


@pytest.mark.parametrize("kl", [0.5, 2.0, 4.0, 8.0, 16.0])
@pytest.mark.parametrize("share", [0.0, 0.5, 0.95])
def test_mean_steps_within_the_bound(kl, share):
    a, b = _target_with_kl(kl, share)
    heap, steps, status, _ = _encode_kernel(np.tile([a, b], (2000, 1)), seed=31)
    assert np.all(status == 0)
    assert steps.mean() <= 2.26 * kl + 9.66
    assert np.array_equal(steps, np.floor(np.log2(heap)).astype(np.int64) + 1)  # steps = depth + 1


@pytest.mark.parametrize("information", [1.0, 3.5, 6.05, 12.0])
def test_mean_bits_within_the_bound_on_channel_targets(information):
    targets = _channel_targets(information, 3000, seed=int(information * 100))
    target = rn.Gaussian(targets[:, :1], targets[:, 1:])
    res = rn.encode(target, PRIOR, seed=12, method="gprs", code="zeta", information_bits=information)
    assert res.bits.mean() <= information + math.log2(information + 1) + 4.5
    assert res.steps.mean() <= 2.26 * information + 9.66


@pytest.mark.parametrize("kl", [0.5, 2.0, 4.0, 8.0])
@pytest.mark.parametrize("share", [0.0, 0.5, 0.95])
def test_mean_bits_within_the_bound_on_fixed_targets(kl, share):
    a, b = _target_with_kl(kl, share)
    target = rn.Gaussian(np.full((2000, 1), a), np.full((2000, 1), b))
    res = rn.encode(target, PRIOR, seed=13, method="gprs", code="zeta", information_bits=kl)
    assert res.bits.mean() <= kl + math.log2(kl + 1) + 4.5
    delta = rn.encode(target, PRIOR, seed=13, method="gprs")
    assert np.array_equal(delta.index, res.index)
    assert np.array_equal(delta.bits, [delta_length(int(n) + 1) for n in delta.index])


def test_centred_targets_pay_more_than_the_channel_bound():
    """Documents the limit of the bits bound for fixed targets: a centred 16-bit target's path is ~21
    nodes deep, and its depth alone exceeds KL + log2(KL + 1)."""
    a, b = _target_with_kl(16.0, 0.0)
    heap, steps, status, _ = _encode_kernel(np.tile([a, b], (2000, 1)), seed=14)
    depth = np.floor(np.log2(heap))
    assert depth.mean() > 1.25 * 16.0 and depth.mean() > 16.0 + math.log2(17.0)


# ----------------------------------------------------------------------------- decoding


def test_decode_bit_for_bit_single_and_batched():
    target = rn.Gaussian([1.1], [0.01])
    prior = rn.Gaussian([0.3], [2.0])
    res = rn.encode(target, prior, seed=7, method="gprs")
    assert isinstance(res.index, int) and res.sample.shape == (1,) and res.exact and res.method == "gprs"
    assert rn.decode(res.index, prior, seed=7, method="gprs").tobytes() == res.sample.tobytes()
    rng = np.random.default_rng(3)
    loc, scale = rng.normal(0, 1, (300, 1)), rng.uniform(1e-4, 0.9, (300, 1))
    ids = rng.choice(1 << 32, 300, replace=False)
    batch = rn.encode(rn.Gaussian(loc, scale), PRIOR, seed=99, method="gprs", block_ids=ids)
    z = rn.decode(batch.index, PRIOR, seed=99, method="gprs", block_ids=ids)
    assert z.shape == (300, 1) and z.tobytes() == batch.sample.tobytes()
    one = rn.decode(int(batch.index[17]), PRIOR, seed=99, method="gprs", block_ids=[ids[17]])
    assert one.tobytes() == batch.sample[17].tobytes()
    other = rn.decode(batch.index, PRIOR, seed=98, method="gprs", block_ids=ids)  # another seed: other samples
    assert not np.array_equal(other, z)


def test_decode_replays_in_plain_python():
    """The decode path (interval walk and quantile) gives the same bits when its arithmetic runs as
    interpreted Python: no fused multiply-add or reassociation in the compiled kernel."""
    targets = _channel_targets(6.0, 40, seed=4)
    heap, _, _, x = _encode_kernel(targets, seed=77)
    sample_interval = gprs.sample_interval.py_func
    for i, h in enumerate(heap.tolist()):
        depth = h.bit_length() - 1
        lo, hi, node = (False, 0.0), (True, 0.0), 1
        for level in range(depth):
            v, _ = shared_uniform_pair(np.uint64(77), np.uint64(i), np.int64(node), gprs.GPRS_STREAM)
            ok, _, upper, t, _ = sample_interval(lo[0], lo[1], hi[0], hi[1], v)
            if (h >> (depth - 1 - level)) & 1:
                lo, node = (upper, t), 2 * node + 1
            else:
                hi, node = (upper, t), 2 * node
        v, _ = shared_uniform_pair(np.uint64(77), np.uint64(i), np.int64(h), gprs.GPRS_STREAM)
        assert sample_interval(lo[0], lo[1], hi[0], hi[1], v)[4] == x[i]


def test_results_do_not_depend_on_threads():
    targets = _channel_targets(8.0, 600, seed=5)
    target = rn.Gaussian(targets[:, :1], targets[:, 1:])
    before = rn.get_num_threads()
    try:
        rn.set_num_threads(1)
        one = rn.encode(target, PRIOR, seed=3, method="gprs")
        rn.set_num_threads(2)
        two = rn.encode(target, PRIOR, seed=3, method="gprs")
    finally:
        rn.set_num_threads(before)
    assert np.array_equal(one.index, two.index) and one.sample.tobytes() == two.sample.tobytes()


def test_dataset_and_container_round_trip():
    info = np.array([3.0, 0.0, 6.05, 12.0, 0.5])
    plan = rn.BlockPlan.per_dimension(info)
    assert plan.num_blocks == 5 and all(blk.partition.num_bins == 1 for blk in plan.blocks)
    assert np.array_equal(plan.nominal_bits, info)
    rng = np.random.default_rng(1)
    s = np.minimum(2.0 ** -info, 0.999)
    mu = rng.normal(0, np.sqrt(1 - s**2), (40, 5))
    targets = rn.Gaussian(mu, np.tile(s, (40, 1)))
    prior = rn.Gaussian(np.zeros(5), np.ones(5))
    enc = rn.encode_dataset(targets, prior, plan, seed=11, method="gprs")
    assert enc.method == "gprs" and np.all(enc.exact)
    assert rn.decode_dataset(enc.indices, prior, plan, seed=11, method="gprs").tobytes() == enc.samples.tobytes()
    for code in ("delta", "zeta"):
        streams, again = rn.dataset.encode_dataset_to_streams(targets, prior, plan, 11, method="gprs", code=code)
        assert np.array_equal(again.indices, enc.indices)
        samples = rn.dataset.decode_streams(streams, prior, plan, method="gprs")
        assert samples.tobytes() == enc.samples.tobytes()
    # each block is one rn.encode call over the items: the same indices as coding block by block
    blk = plan.blocks[3]
    res = rn.encode(targets.take_dims(blk.dims), prior.take_dims(blk.dims), 11, method="gprs",
                    block_ids=np.arange(40) * plan.num_blocks + blk.block_id)
    assert np.array_equal(res.index, enc.indices[:, 3])


# ----------------------------------------------------------------------------- oracle


def test_kernel_matches_the_numpy_reference():
    """Same heap indices and steps; samples within 1e-12 (scipy's ndtri is not the kernel's ndtri_fast);
    the reference's own decode gives back its sample."""
    rng = np.random.default_rng(0)
    cases = []
    for information in (0.5, 2.0, 3.5, 6.0, 10.0):
        cases += [tuple(t) for t in _channel_targets(information, 6, seed=int(10 * information))]
    cases += [(0.3, 0.9), (1.0, 0.97), (-3.0, 0.02), (0.0, 0.999)]
    for block, (a, b) in enumerate(cases):
        seed = int(rng.integers(1 << 40))
        heap, steps, x = reference_gprs.encode(a, b, seed, block)
        k_heap, k_steps, status, k_x = gprs.gprs_search(a, b, np.uint64(seed), np.uint64(block), 100, 0.0)
        assert status == 0 and (k_heap, k_steps) == (heap, steps), (a, b)
        assert abs(k_x - x) <= 1e-12 * max(1.0, abs(x))
        assert reference_gprs.decode(heap, seed, block) == x
        assert gprs.decode_heap(k_heap, np.uint64(seed), np.uint64(block)) == k_x


# ----------------------------------------------------------------------------- limits and bad inputs


def test_too_much_information_is_refused_clearly():
    target = rn.Gaussian(np.full((300, 1), 0.7), np.full((300, 1), 1e-14))  # ~46 bits in one dimension
    with pytest.raises(ValueError, match="depth 62|float64"):
        rn.encode(target, PRIOR, seed=1, method="gprs")


def test_a_ratio_mode_far_in_the_tail_is_refused_clearly():
    """A std within 1e-6 of the prior's with a shifted mean (seen in the 8-bit MNIST VAE: mu 0.012) puts
    the ratio's mode at a / (1 - b^2) ~ 6,100 prior stds: most searches accept at once, but a rare one
    (block 27 of these 100) follows the path toward the mode past int64's 62 levels, and the error says
    where the mode is and what to do."""
    target = rn.Gaussian(np.full((100, 1), 0.0122), np.full((100, 1), 1.0 - 1e-6))
    with pytest.raises(ValueError, match=r"block 27: .*depth 62.*mode a / \(1 - b\^2\) lies 6.1e\+03 prior stds"
                                         r".*lower such a target's std"):
        rn.encode(target, PRIOR, seed=0, method="gprs")


@pytest.mark.parametrize("call, message", [
    (lambda: rn.encode(rn.Gaussian([0.0], [1.0]), PRIOR, 1, method="gprs"), "bounded density ratio"),
    (lambda: rn.encode(rn.Gaussian([0.5], [1.5]), PRIOR, 1, method="gprs"), "bounded density ratio"),
    (lambda: rn.encode(rn.Gaussian([0.0, 0.0], [0.1, 0.1]), rn.Gaussian([0.0, 0.0], [1.0, 1.0]), 1,
                       method="gprs"), "per_dimension"),
    (lambda: rn.encode(rn.Laplace([0.0], [0.1]), rn.Laplace([0.0], [1.0]), 1, method="gprs"), "Gaussian"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", partition=[4]), "partition"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", weights="ratio"), "weights"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", num_samples=16), "num_samples"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", backend="cuda"), "CPU only"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", code="fixed"), "fixed"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", code="zeta"), "information_bits"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, -1, method="gprs"), "seed"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gprs", max_steps=0), "max_steps"),
    (lambda: rn.decode(-1, PRIOR, 1, method="gprs"), "index"),
    (lambda: rn.decode(gprs_api.MAX_INDEX + 1, PRIOR, 1, method="gprs"), "cannot come from GPRS"),
    (lambda: rn.decode(3, rn.Gaussian([0.0, 0.0], [1.0, 1.0]), 1, method="gprs"), "1-D blocks"),
    (lambda: rn.decode(3, PRIOR, 1, method="gprs", num_samples=8), "num_samples"),
    (lambda: rn.decode(3, PRIOR, 1, method="gpr"), "method must be"),
    (lambda: rn.encode(rn.Gaussian([0.0], [0.1]), PRIOR, 1, method="gpr"), "gprs"),
])
def test_bad_inputs(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_max_steps_guard():
    target = rn.Gaussian(np.full((50, 1), 0.2), np.full((50, 1), 1e-4))
    with pytest.raises(rn.MaxStepsExceeded, match="max_steps=3"):
        rn.encode(target, PRIOR, 1, method="gprs", max_steps=3)
