"""Tests for recnumba.coding.zeta: the arithmetic-coded Zeta code with uniform digits."""

import hashlib
import json
import math
import os
import subprocess
import sys
import time

import constriction
import mpmath
import numpy as np
import pytest

from recnumba.coding import trim
from recnumba.coding import zeta as zm
from recnumba.coding.zeta import decode_zeta, encode_zeta, zeta_alpha, zeta_ideal_bits, zeta_length

MAX = (1 << 63) - 1
EMPTY = np.zeros(0, np.int64)


# ---------------------------------------------------------------------------- generators


def log_uniform_values(rng, size, top=63.0):
    """Integers with log2 uniform on [0, top), clipped to [1, 2^63 - 1], some exactly 1 or 2^63 - 1."""
    out = [min(MAX, max(1, int(2.0 ** u))) for u in rng.uniform(0.0, top, size)]
    for i in range(size):
        r = rng.random()
        if r < 0.05:
            out[i] = 1
        elif r < 0.10:
            out[i] = MAX
    return np.array(out, dtype=np.int64)


def random_radices(rng, size):
    kind = rng.integers(0, 4, size)
    small = rng.integers(2, 17, size)
    pow2 = np.left_shift(1, rng.integers(1, 21, size))
    medium = rng.integers(17, 4097, size)
    large = rng.integers(4097, (1 << 20) + 1, size)
    return np.choose(kind, [small, pow2, medium, large]).astype(np.int64)


def random_stream(rng, max_blocks=60, max_digits=40):
    b = int(rng.integers(0, max_blocks + 1))
    alphas = np.array([zeta_alpha(int(i)) for i in rng.integers(0, 65, b)], dtype=np.float64)
    values = log_uniform_values(rng, b)
    radices = random_radices(rng, int(rng.integers(0, max_digits + 1)))
    digits = np.floor(rng.random(radices.size) * radices).astype(np.int64)
    return values, alphas, digits, radices


def sample_zeta(rng, alpha, size):
    """Draws from ζ(· | α) truncated to [1, 2^63 - 1]: octave, then cell, then within the cell by the
    continuous inverse CDF of x^-α (exact for cells of one integer)."""
    octaves = zm._octave_masses(alpha)
    e_all = rng.choice(63, size, p=octaves / octaves.sum())
    out = []
    for e in e_all.tolist():
        cells = zm._cell_masses(alpha, e)
        c = int(rng.choice(cells.size, p=cells / cells.sum()))
        t = min(e, zm.TOP_BITS)
        width = 1 << (e - t)
        a = (1 << e) + c * width
        if width == 1:
            out.append(a)
            continue
        lo, hi = float(a) ** (1 - alpha), float(a + width) ** (1 - alpha)
        x = (lo + rng.random() * (hi - lo)) ** (1 / (1 - alpha))
        out.append(min(max(a, int(x)), a + width - 1))
    return np.array(out, dtype=np.int64)


def lcg_streams(count):
    """A fixed set of streams from a Python-integer LCG (independent of numpy's generators)."""
    state = 0x243F6A8885A308D3
    out = []

    def nxt(mod):
        nonlocal state
        state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (state >> 11) % mod

    for _ in range(count):
        b = nxt(40)
        alphas = [zeta_alpha(nxt(65) + nxt(1000) / 1000.0) for _ in range(b)]
        values = [max(1, min(MAX, nxt(1 << 63) >> nxt(63))) for _ in range(b)]
        radices = [[2, 3, 7, 16, 255, 257, 1000, 65536, 999983, 1 << 20][nxt(10)] for _ in range(nxt(12))]
        digits = [nxt(r) for r in radices]
        out.append((values, alphas, digits, radices))
    return out


# ---------------------------------------------------------------------------- round trips


def test_round_trip_random_streams():
    rng = np.random.default_rng(2024)
    fallbacks = trim.FALLBACKS[0]
    for _ in range(2000):
        values, alphas, digits, radices = random_stream(rng)
        data, num_bits = encode_zeta(values, alphas, digits, radices)
        assert isinstance(data, bytes) and len(data) == (num_bits + 7) // 8
        assert zeta_length(values, alphas, digits, radices) == num_bits
        for nb in (None, num_bits):
            v, d = decode_zeta(data, alphas, radices, num_bits=nb)
            assert v.dtype == np.int64 and d.dtype == np.int64
            assert np.array_equal(v, values) and np.array_equal(d, digits)
        v, d = decode_zeta(data + b"\0\0\0", alphas, radices, strict=False)  # reads past as zeros
        assert np.array_equal(v, values) and np.array_equal(d, digits)
    assert trim.FALLBACKS[0] == fallbacks  # the computed termination always decoded


def test_extreme_values_and_alphas():
    values = [1, 2, 3, MAX, MAX - 1, 1 << 62, (1 << 62) - 1] + [1 << k for k in range(63)] + \
             [(1 << k) - 1 for k in range(2, 64)]
    for alpha in [1 + 2.0**-52, 1 + 1e-10, 1 + 1e-3, zeta_alpha(64), 1.5, 2.0, 3.0, 16.0, 50.0, 1e6, 1e300]:
        alphas = np.full(len(values), alpha)
        data, nb = encode_zeta(values, alphas)
        v, _ = decode_zeta(data, alphas, num_bits=nb)
        assert v.tolist() == values
    digits = [0, 1, (1 << 20) - 1, 999982, 0, 256, 4096, 65535]
    radices = [2, 2, 1 << 20, 999983, 257, 257, 4097, 65537]
    data, nb = encode_zeta([], [], digits, radices)
    assert decode_zeta(data, [], radices, num_bits=nb)[1].tolist() == digits


def test_empty_stream():
    assert encode_zeta([], []) == (b"", 0)
    v, d = decode_zeta(b"", [])
    assert v.shape == (0,) and d.shape == (0,)
    with pytest.raises(ValueError, match="^zeta stream:"):
        decode_zeta(b"\0", [])
    assert decode_zeta(b"\0", [], strict=False)[0].shape == (0,)
    # the lowest symbols everywhere leave the coder's lower end at 0: no bits at all
    assert encode_zeta([1, 1, 1], [2.0, 1.5, 1.1], [0, 0], [3, 1000]) == (b"", 0)
    assert decode_zeta(b"", [2.0, 1.5, 1.1], [3, 1000])[0].tolist() == [1, 1, 1]


def test_fallback_termination_still_decodes(monkeypatch):
    """If constriction's state ever meant something else, the bisection fallback still gives a
    decodable (if not shortest) stream."""
    rng = np.random.default_rng(5)

    def broken(encoder):
        data, nb, words = real(encoder)
        return data[:-1], max(nb - 8, 0), words

    real = trim.shortest_termination
    monkeypatch.setattr(trim, "shortest_termination", broken)
    before = trim.FALLBACKS[0]
    for _ in range(20):
        values, alphas, digits, radices = random_stream(rng, 10, 5)
        data, nb = encode_zeta(values, alphas, digits, radices)
        v, d = decode_zeta(data, alphas, radices, num_bits=nb, strict=False)
        assert np.array_equal(v, values) and np.array_equal(d, digits)
    assert trim.FALLBACKS[0] > before


# ---------------------------------------------------------------------------- lengths


def test_termination_is_shortest_and_overhead():
    """num_bits is the shortest zero-padded prefix that decodes; overhead against the model's bits."""
    rng = np.random.default_rng(77)
    over = []
    for trial in range(1500):
        values, alphas, digits, radices = random_stream(rng, 60 if trial % 2 else 1, 30 if trial % 3 == 0 else 0)
        data, nb = encode_zeta(values, alphas, digits, radices)
        model = zm._model_bits(values, alphas, digits, radices)
        num_symbols = sum(s.size for _, _, s in zm._segments(values, alphas, digits, radices))
        if num_symbols == 0:
            continue
        over.append(nb - model)
        assert nb <= model + 1 + 0.0057 * num_symbols
        if nb > 0:  # one bit less (as a prefix of the stream) no longer decodes to the same symbols
            try:
                v, d = decode_zeta(data, alphas, radices, num_bits=nb - 1, strict=False)
                assert not (np.array_equal(v, values) and np.array_equal(d, digits))
            except ValueError:
                pass
            assert data[-1] & (0x80 >> ((nb - 1) & 7))  # the last bit is a 1
    over = np.array(over)
    print(f"termination overhead vs model bits: mean {over.mean():+.3f}, min {over.min():+.2f}, "
          f"max {over.max():+.3f} over {over.size} streams")
    assert -1.5 < over.mean() < -0.5
    assert over.max() < 1.0 + 0.01


def test_single_value_mean_length_and_grc_bound():
    rng = np.random.default_rng(3)
    for info in [0, 1, 2, 4, 8, 16, 32, 48]:
        alpha = zeta_alpha(info)
        ms = sample_zeta(rng, alpha, 400)
        lengths = np.array([encode_zeta([m], [alpha])[1] for m in ms.tolist()])
        ideal = np.array([zeta_ideal_bits(m, alpha) for m in ms.tolist()])
        excess = lengths - ideal
        print(f"I={info}: mean length {lengths.mean():.2f} bits, ideal {ideal.mean():.2f}, "
              f"mean excess {excess.mean():+.3f}")
        assert excess.mean() < 0.1  # stated: mean length within ideal + 0.1 (measured about -1)
        assert excess.max() < 1.2
        # GRC/GPRS (Thm 4.2.7): E[log2 m] <= I gives mean length <= I + log2(I + 2) + 3
        for draw in ("uniform", "point", "geometric"):
            if draw == "uniform":
                logs = rng.uniform(0, 2 * info, 400)
            elif draw == "point":
                logs = np.full(400, float(info))
            else:
                logs = np.minimum(rng.exponential(max(info, 1e-9), 400), 62.9)
            logs = np.minimum(logs, 62.9)
            if logs.mean() > info:  # make the sample's E[log2 m] at most I exactly
                logs *= info / logs.mean()
            m = np.array([max(1, int(2.0 ** x)) for x in logs], dtype=np.int64)
            assert np.log2(m.astype(float)).mean() <= info + 1e-9
            mean_length = np.mean([encode_zeta([int(v)], [alpha])[1] for v in m.tolist()])
            assert mean_length <= info + math.log2(info + 2) + 3, (info, draw, mean_length)


def test_model_excess_over_ideal():
    """The model's own bits (before termination) against -log2 ζ(m | α): mean excess below 0.01 bits."""
    rng = np.random.default_rng(9)
    for info in [0, 2, 8, 32, 64]:
        alpha = zeta_alpha(info)
        octaves = zm._octave_masses(alpha)
        truncation = math.log2(float(mpmath.zeta(alpha)) / octaves.sum())  # bits saved by renormalising
        uniform = np.array([max(1, int(2.0**u)) for u in rng.uniform(0, min(2 * info + 4, 62.9), 3000)])
        for name, ms in (("zeta", sample_zeta(rng, alpha, 3000)), ("log-uniform", uniform)):
            model = np.array([zm._model_bits([m], [alpha]) for m in ms.tolist()])
            ideal = np.array([zeta_ideal_bits(m, alpha) for m in ms.tolist()]) - truncation
            excess = model - ideal
            print(f"I={info} {name}: model excess mean {excess.mean():+.5f}, max {excess.max():+.4f} "
                  f"(renormalisation saves {truncation:.4f} more)")
            if name == "zeta":
                assert abs(excess.mean()) < 0.003, (info, excess.mean())
            else:  # exponents whose probability is floored at 2^-24 cost less than ideal: one-sided
                assert excess.mean() < 0.003, (info, excess.mean())
            assert excess.max() < 0.046 * alpha + 0.005


def test_digit_costs():
    """Uniform digits cost log2 R: exactly for powers of two, within 1e-9 on average otherwise,
    within 1.1e-4 bits for any single digit."""
    no = (EMPTY, np.zeros(0))
    for radix in list(range(2, 300)) + [511, 513, 1023, 4095, 4097]:  # every digit: the exact mean
        digits = np.arange(radix, dtype=np.int64)
        mean = zm._model_bits(*no, digits, np.full(radix, radix)) / radix
        assert abs(mean - math.log2(radix)) < 1e-9, radix
    rng = np.random.default_rng(1)
    for radix in [65535, 65537, 999983, (1 << 20) - 1]:  # a sample of digits (noise about 3e-6)
        digits = rng.integers(0, radix, 3000)
        mean = zm._model_bits(*no, digits, np.full(digits.size, radix)) / digits.size
        assert abs(mean - math.log2(radix)) < 2e-5, radix
    for radix in [3, 5, 255, 257, 4095, 65537, (1 << 19) + 1, 986895, (1 << 20) - 1] + \
            rng.integers(2, (1 << 20) + 1, 30).tolist():
        for d in {0, radix - 1, radix // 2, *rng.integers(0, radix, 10).tolist()}:
            assert abs(zm._model_bits(*no, [d], [radix]) - math.log2(radix)) < 1.1e-4
    for k in range(1, 21):
        assert zm._model_bits(*no, [(1 << k) - 1, 0], [1 << k, 1 << k]) == 2 * k


# ---------------------------------------------------------------------------- the model


@pytest.mark.parametrize("am1", [1e-3, 3e-3, 0.01, 1 / 65, 0.05, 0.1, 1 / 3, 0.5, 0.8, 1.0])
def test_octave_masses_vs_mpmath(am1):
    mpmath.mp.dps = 40
    alpha = 1.0 + am1
    masses = zm._octave_masses(alpha)
    for e in range(63):
        ref = mpmath.zeta(alpha, 2**e) - mpmath.zeta(alpha, 2 ** (e + 1))
        assert abs((mpmath.mpf(float(masses[e])) - ref) / ref) < 1e-12, (alpha, e)


def test_cell_masses_vs_mpmath():
    mpmath.mp.dps = 40
    for alpha in [1.001, zeta_alpha(64), 1.5, 2.0]:
        for e in [1, 3, 4, 5, 6, 7, 9, 20, 40, 62]:
            cells = zm._cell_masses(alpha, e)
            t = min(e, zm.TOP_BITS)
            width = 1 << (e - t)
            for c in range(1 << t):
                a = (1 << e) + c * width
                ref = (mpmath.zeta(alpha, a) - mpmath.zeta(alpha, a + width)) * mpmath.mpf(2) ** (e * alpha) / width
                assert abs((mpmath.mpf(float(cells[c])) - ref) / ref) < 1e-12, (alpha, e, c)


def test_portable_elementary_functions():
    xs = np.concatenate([np.linspace(-745, 709.7, 20001), np.linspace(-1, 1, 20001), [0.0, -0.0, 1e-300, -1e-300]])
    for x in xs.tolist():
        assert math.isclose(zm._exp(x), math.exp(x), rel_tol=4e-16, abs_tol=1e-320), x
        assert math.isclose(zm._expm1(x), math.expm1(x), rel_tol=6e-16, abs_tol=1e-320), x
    for u in np.concatenate([np.linspace(0, 1, 20001), np.geomspace(1e-300, 1, 2000), [3.0, 1e10]]).tolist():
        assert math.isclose(zm._log1p(u), math.log1p(u), rel_tol=1e-15, abs_tol=1e-320), u
    assert zm._exp(710.0) == math.inf and zm._exp(-746.0) == 0.0 and math.isnan(zm._exp(math.nan))
    assert zm._expm1(-50.0) == -1.0


def test_model_weights_are_valid():
    for alpha in [1 + 1e-9, 1.001, zeta_alpha(40), 1.2, 1.5, 2.0, 7.0, 100.0, 1e5, 1e300]:
        exponent, cells = zm._model_weights(alpha)
        assert exponent.sum() == 1 << 24 and exponent.min() >= 1
        assert (cells.sum(axis=1) == 1 << 24).all() and cells.min() >= 1
        for e in range(1, zm.TOP_BITS):
            assert (cells[e, 1 << e:] == 1).all()  # impossible cells of short octaves: weight 1
        assert (np.diff(exponent[:5]) <= 0).all() or alpha < 1.01  # decreasing law at the start


_PURE_SCRIPT = """
import json, sys
from recnumba.coding import trim
from recnumba.coding import zeta as zm
out = {}
for a in json.loads(sys.argv[1]):
    octaves, cells = zm._model_probabilities(a)
    weights = zm._model_weights(a)
    out[repr(a)] = [[float(v).hex() for v in octaves],
                    [[float(v).hex() for v in c] for c in cells],
                    weights[0].tolist(), weights[1].tolist()]
print(json.dumps(out))
"""

_DETERMINISM_ALPHAS = [1 + 1e-3, zeta_alpha(0), zeta_alpha(5.5), zeta_alpha(64), 1.25, 3.0, 20.0, 1000.0]


def _model_dump(alphas):
    out = {}
    for a in alphas:
        octaves, cells = zm._model_probabilities(a)
        weights = zm._model_weights(a)
        out[repr(a)] = [[float(v).hex() for v in octaves], [[float(v).hex() for v in c] for c in cells],
                        weights[0].tolist(), weights[1].tolist()]
    return out


def test_model_is_deterministic_and_matches_plain_python():
    """The float model is the same computed twice, and the same when the kernels run as plain Python
    (NUMBA_DISABLE_JIT=1): no fused multiply-adds, no reassociation, no libm."""
    first = _model_dump(_DETERMINISM_ALPHAS)
    assert first == _model_dump(_DETERMINISM_ALPHAS)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    result = subprocess.run([sys.executable, "-c", _PURE_SCRIPT, json.dumps(_DETERMINISM_ALPHAS)],
                            capture_output=True, text=True, env=env, timeout=300, check=True)
    assert json.loads(result.stdout) == first


# sha256 of the concatenated (num_bits as 4 bytes big-endian, data) of lcg_streams(60): a change that
# alters the bitstream (model, quantisation, symbol order, termination) must update this on purpose.
GOLDEN_SHA256 = "25b99ffcd1e394a060fc6b310acfaca487be491b8083002f8d12aacd342578aa"


def test_golden_bitstream():
    digest = hashlib.sha256()
    total = 0
    for values, alphas, digits, radices in lcg_streams(60):
        data, nb = encode_zeta(values, alphas, digits, radices)
        assert decode_zeta(data, alphas, radices, num_bits=nb)[0].tolist() == values
        digest.update(nb.to_bytes(4, "big") + data)
        total += nb
    assert total > 10_000
    assert digest.hexdigest() == GOLDEN_SHA256


# ---------------------------------------------------------------------------- corruption


def _accepts(data, alphas, radices, num_bits=None):
    """True if strict decoding accepts; then the data must be the canonical encoding of the result."""
    try:
        values, digits = decode_zeta(data, alphas, radices, num_bits=num_bits)
    except ValueError as error:
        assert str(error).startswith("zeta stream:"), error
        return False
    canonical, canonical_bits = encode_zeta(values, alphas, digits, radices)
    assert canonical == data and (num_bits is None or canonical_bits == num_bits)
    return True


def _corruption_streams():
    rng = np.random.default_rng(31)
    out = []
    for _ in range(8):
        b = int(rng.integers(1, 20))
        info = rng.integers(0, 40, b)
        alphas = np.array([zeta_alpha(int(i)) for i in info])
        values = np.maximum(1, np.floor(2.0 ** np.clip(info + rng.normal(0, 2, b), 0, 62))).astype(np.int64)
        radices = rng.choice([2, 3, 4, 5, 16, 1000, 70001], int(rng.integers(0, 10)))
        digits = np.floor(rng.random(radices.size) * radices).astype(np.int64)
        out.append((values, alphas, digits, radices))
    return out


def test_single_bit_flips_truncations_and_appends():
    """Strict decoding accepts a corrupted stream only if it is the canonical encoding of what it
    decodes to; measure how often that happens (the code has almost no redundancy)."""
    flips = accepted_flips = truncs = accepted_truncs = 0
    for values, alphas, digits, radices in _corruption_streams():
        data, nb = encode_zeta(values, alphas, digits, radices)
        for bit in range(8 * len(data)):
            bad = bytearray(data)
            bad[bit >> 3] ^= 0x80 >> (bit & 7)
            bad = bytes(bad)
            flips += 1
            accepted_flips += _accepts(bad, alphas, radices)
            if bit >= nb:  # a padding bit: always rejected when num_bits says where the data ends
                assert not _accepts(bad, alphas, radices, nb)
            else:
                _accepts(bad, alphas, radices, nb)
        for k in range(1, len(data) + 1):
            truncs += 1
            accepted_truncs += _accepts(data[:-k], alphas, radices)
        for k in range(1, min(nb, 16) + 1):  # a shorter num_bits with the same bytes: bits past it
            assert not _accepts(data, alphas, radices, nb - k)
        for byte in range(256):
            bigger = data + bytes([byte])
            accepted = _accepts(bigger, alphas, radices)
            if byte == 0:  # same values, not the shortest encoding
                assert not accepted
            assert not _accepts(bigger, alphas, radices, nb)  # longer than ceil(num_bits / 8)
            assert not _accepts(bigger, alphas, radices, nb + 8)
        assert not _accepts(data + b"\0", alphas, radices, 8 * len(data) + 8)
        if nb % 8:
            assert not _accepts(data, alphas, radices, nb + 1)  # wrong num_bits
    print(f"single-bit flips accepted as other values' canonical streams: {accepted_flips}/{flips} "
          f"({accepted_flips / flips:.0%}); whole-byte truncations: {accepted_truncs}/{truncs}")
    assert accepted_flips < flips


def test_model_inconsistency_is_reported():
    """A cell that a short octave does not have (weight 1/2^24 in the table) decodes to ValueError."""
    alphas = np.array([2.0, 1.5])
    segments = zm._segments(np.array([3, 9], dtype=np.int64), alphas, EMPTY, EMPTY)
    family, params, cells = segments[1]
    assert cells.tolist() == [1, 1]  # m = 3: e = 1, cell 1; m = 9: e = 3, cell 1
    encoder = constriction.stream.queue.RangeEncoder()
    encoder.encode(segments[0][2], segments[0][0], *segments[0][1])
    encoder.encode(np.array([5, 1], dtype=np.int32), family, *params)  # e = 1 has only cells 0, 1
    data = encoder.get_compressed().astype(">u4").tobytes()
    with pytest.raises(ValueError, match="^zeta stream: .*model inconsistency"):
        decode_zeta(data, alphas, strict=False)


def test_garbage_data():
    rng = np.random.default_rng(0)
    accepted = 0
    for _ in range(300):
        data = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()
        b = int(rng.integers(0, 10))
        alphas = np.full(b, zeta_alpha(int(rng.integers(0, 30))))
        radices = random_radices(rng, int(rng.integers(0, 6)))
        accepted += _accepts(data, alphas, radices)
        try:
            values, digits = decode_zeta(data, alphas, radices, strict=False)
        except ValueError as error:
            assert str(error).startswith("zeta stream:")
        else:
            assert ((values >= 1) & (values <= MAX)).all() and ((digits >= 0) & (digits < radices)).all()
    assert accepted < 300


# ---------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize("args, error, match", [
    (([0], [2.0]), ValueError, r"values\[0\] = 0 is outside \[1, 2\^63 - 1\]"),
    (([-5], [2.0]), ValueError, r"values\[0\]"),
    (([2**63], [2.0]), ValueError, r"values\[0\] = 9223372036854775808"),
    (([2**70], [2.0]), ValueError, r"values\[0\]"),
    ((np.array([2**63], dtype=np.uint64), [2.0]), ValueError, r"values\[0\]"),
    (([1.0], [2.0]), TypeError, "values"),
    (([True], [2.0]), TypeError, "values"),
    ((["1"], [2.0]), TypeError, "values"),
    (("12", [2.0]), TypeError, "values"),
    ((None, [2.0]), TypeError, "values"),
    (([[1]], [2.0]), ValueError, "values must be 1-D"),
    ((5, [2.0]), ValueError, "values must be 1-D"),
    (([1, 2], [2.0]), ValueError, "same length"),
    (([1], [1.0]), ValueError, r"alphas\[0\] = 1.0 must be finite and > 1"),
    (([1], [0.5]), ValueError, r"alphas\[0\]"),
    (([1], [math.nan]), ValueError, r"alphas\[0\]"),
    (([1], [math.inf]), ValueError, r"alphas\[0\]"),
    (([1], [True]), TypeError, "alphas"),
    (([1], ["2"]), TypeError, "alphas"),
    (([1], [1 + 2j]), TypeError, "alphas"),
    (([1], None), TypeError, "alphas"),
    (([1], [[2.0]]), ValueError, "alphas must be 1-D"),
    (([], [], [0], [1]), ValueError, r"radices\[0\] = 1 is outside \[2, 2\^20\]"),
    (([], [], [0], [2**20 + 1]), ValueError, r"radices\[0\]"),
    (([], [], [0], [2.0]), TypeError, "radices"),
    (([], [], [3], [3]), ValueError, r"digits\[0\] = 3 is outside \[0, radices\[0\] = 3\)"),
    (([], [], [-1], [3]), ValueError, r"digits\[0\]"),
    (([], [], [0, 1], [3]), ValueError, "digits and radices must have the same length"),
    (([], [], [0.0], [3]), TypeError, "digits"),
])
def test_bad_inputs_encode(args, error, match):
    with pytest.raises(error, match=match):
        encode_zeta(*args)
    with pytest.raises(error, match=match):
        zeta_length(*args)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(data="ab", alphas=[2.0]), TypeError, "data must be bytes"),
    (dict(data=[1, 2], alphas=[2.0]), TypeError, "data must be bytes"),
    (dict(data=b"\x80", alphas=[0.5]), ValueError, r"alphas\[0\]"),
    (dict(data=b"\x80", alphas=[2.0], radices=[1]), ValueError, r"radices\[0\]"),
    (dict(data=b"\x80", alphas=[2.0], num_bits=9), ValueError, "num_bits = 9 is outside"),
    (dict(data=b"\x80", alphas=[2.0], num_bits=-1), ValueError, "num_bits = -1"),
    (dict(data=b"\x80", alphas=[2.0], num_bits=1.0), TypeError, "num_bits"),
    (dict(data=b"\x80", alphas=[2.0], num_bits=True), TypeError, "num_bits"),
    (dict(data=b"\x80", alphas=[2.0], strict=1), TypeError, "strict"),
])
def test_bad_inputs_decode(kwargs, error, match):
    with pytest.raises(error, match=match):
        decode_zeta(**kwargs)


def test_zeta_alpha_and_ideal_bits():
    assert zeta_alpha(0) == 2.0 and zeta_alpha(-3.0) == 2.0 and zeta_alpha(1) == 1.5
    assert zeta_alpha(np.float32(3.0)) == 1.25 and zeta_alpha(np.int64(4)) == 1.2
    assert zeta_alpha(1e300) > 1.0
    assert np.array_equal(zeta_alpha(np.array([0.0, 1.0, 3.0])), [2.0, 1.5, 1.25])
    for bad in [math.nan, math.inf, -math.inf, np.array([1.0, math.nan])]:
        with pytest.raises(ValueError, match="information_bits must be finite"):
            zeta_alpha(bad)
    for bad in [True, "1", None, 1 + 1j]:
        with pytest.raises(TypeError):
            zeta_alpha(bad)
    # -log2 ζ(m | 2) = 2 log2 m + log2(π²/6)
    assert math.isclose(zeta_ideal_bits(1, 2.0), math.log2(math.pi**2 / 6), rel_tol=1e-14)
    assert math.isclose(zeta_ideal_bits(MAX, 2.0), 2 * 63 + math.log2(math.pi**2 / 6), rel_tol=1e-14)
    assert np.allclose(zeta_ideal_bits(np.array([1, 8]), 2.0), [0.71803, 6.71803], atol=1e-5)
    with pytest.raises(ValueError):
        zeta_ideal_bits(0, 2.0)
    with pytest.raises(ValueError):
        zeta_ideal_bits(3, 1.0)
    with pytest.raises(TypeError):
        zeta_ideal_bits(3.0, 2.0)


# ---------------------------------------------------------------------------- speed


def test_speed_per_record():
    rng = np.random.default_rng(8)
    report = []
    for blocks in (10, 60):
        info = rng.uniform(0, 40, blocks)
        alphas = np.array([zeta_alpha(i) for i in info])
        radices = rng.choice([2, 3, 4, 5, 6, 8, 16], 3 * blocks)
        records = []
        for _ in range(200):
            values = np.maximum(1, np.floor(2.0 ** np.clip(info + rng.normal(0, 2, blocks), 0, 62))).astype(np.int64)
            records.append((values, np.floor(rng.random(radices.size) * radices).astype(np.int64)))
        encode_zeta(records[0][0], alphas, records[0][1], radices)  # warm the α cache
        start = time.perf_counter()
        streams = [encode_zeta(v, alphas, d, radices) for v, d in records]
        t_encode = (time.perf_counter() - start) / len(records)
        start = time.perf_counter()
        for (v, d), (data, nb) in zip(records, streams):
            out = decode_zeta(data, alphas, radices, num_bits=nb)
        t_decode = (time.perf_counter() - start) / len(records)
        assert np.array_equal(out[0], records[-1][0])
        report.append(f"{blocks} blocks: encode {1e3 * t_encode:.3f} ms, strict decode {1e3 * t_decode:.3f} ms")
        assert t_encode < 2e-3 and t_decode < 3e-3  # generous: a loaded 2-core VM
    print("; ".join(report))
