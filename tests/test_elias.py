"""Property tests for recnumba.coding.bits and recnumba.coding.elias."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recnumba.coding.bits import BitReader, BitWriter
from recnumba.coding.elias import (
    CODES,
    decode_integers,
    delta_length,
    encode_integers,
    gamma_length,
    get_code,
    omega_length,
    read_delta,
    read_fixed,
    read_gamma,
    read_omega,
    write_delta,
    write_fixed,
    write_gamma,
    write_omega,
)

CODE_NAMES = sorted(CODES)
BIG = 2**130
positive = st.integers(min_value=1, max_value=BIG)
# Mostly small values, sometimes huge: exercises all prefix lengths.
mixed_positive = st.one_of(
    st.integers(min_value=1, max_value=300),
    st.integers(min_value=1, max_value=2**40),
    positive,
)
code_names = st.sampled_from(CODE_NAMES)


# ---------------------------------------------------------------- textbook references
# Straight transcriptions of the definitions, on '0'/'1' strings.


def ref_gamma(n: int) -> str:
    b = bin(n)[2:]
    return "0" * (len(b) - 1) + b


def ref_delta(n: int) -> str:
    b = bin(n)[2:]
    return ref_gamma(len(b)) + b[1:]


def ref_omega(n: int) -> str:
    code = "0"
    while n > 1:
        b = bin(n)[2:]
        code = b + code
        n = len(b) - 1
    return code


REF = {"gamma": ref_gamma, "delta": ref_delta, "omega": ref_omega}


def bits_of(data: bytes, num_bits: int) -> str:
    s = "".join(format(byte, "08b") for byte in data)
    return s[:num_bits]


def write_one(code: str, n) -> BitWriter:
    w = BitWriter()
    CODES[code].write(w, n)
    return w


# ---------------------------------------------------------------- BitWriter / BitReader


@given(
    st.lists(
        st.integers(0, 200).flatmap(
            lambda nb: st.tuples(st.integers(0, 2**nb - 1), st.just(nb))
        ),
        max_size=40,
    )
)
def test_bits_round_trip(chunks):
    w = BitWriter()
    expected = ""
    for value, nb in chunks:
        w.write_bits(value, nb)
        expected += format(value, "b").zfill(nb) if nb else ""
    assert w.num_bits == len(expected)
    data = w.to_bytes()
    assert len(data) == (len(expected) + 7) // 8
    assert bits_of(data, w.num_bits) == expected
    # padding bits are zero
    assert "".join(format(b, "08b") for b in data)[len(expected):] == "0" * (
        8 * len(data) - len(expected)
    )
    r = BitReader(data, w.num_bits)
    for value, nb in chunks:
        assert r.read_bits(nb) == value
    assert r.bits_left == 0
    assert r.position == len(expected)
    with pytest.raises(ValueError, match="bit stream truncated"):
        r.read_bit()


@given(st.lists(st.integers(0, 1), max_size=100))
def test_single_bits(bits):
    w = BitWriter()
    for b in bits:
        w.write_bit(b)
    r = BitReader(w.to_bytes(), w.num_bits)
    assert [r.read_bit() for _ in bits] == bits
    with pytest.raises(ValueError, match="bit stream truncated"):
        r.read_bits(1)


@given(st.binary(max_size=40), st.data())
def test_count_zeros_until_one_matches_reference(blob, data):
    total = 8 * len(blob)
    limit = data.draw(st.integers(0, total), label="limit")
    start = data.draw(st.integers(0, limit), label="start")
    bits = bits_of(blob, limit)
    r = BitReader(blob, limit)
    r.read_bits(start)
    one = bits.find("1", start)
    if one < 0:
        with pytest.raises(ValueError, match="bit stream truncated"):
            r.count_zeros_until_one()
        assert r.position == start
    else:
        assert r.count_zeros_until_one() == one - start
        assert r.position == one + 1


def test_bits_errors():
    w = BitWriter()
    with pytest.raises(ValueError):
        w.write_bit(2)
    with pytest.raises(ValueError):
        w.write_bits(8, 3)
    with pytest.raises(ValueError):
        w.write_bits(-1, 3)
    with pytest.raises(ValueError):
        w.write_bits(1, -1)
    with pytest.raises(ValueError):
        BitReader(b"\x00", 9)
    r = BitReader(b"\xff", 5)
    assert r.read_bits(3) == 7
    with pytest.raises(ValueError, match="bit stream truncated"):
        r.read_bits(3)
    assert r.position == 3  # failed read consumes nothing
    assert r.read_bits(0) == 0
    with pytest.raises(ValueError, match="bit stream truncated"):
        BitReader(b"\x00" * 10).count_zeros_until_one()


# ---------------------------------------------------------------- known lengths / codewords


@pytest.mark.parametrize(
    "n, g, d, o",
    [
        (1, 1, 1, 1),
        (2, 3, 4, 3),
        (3, 3, 4, 3),
        (4, 5, 5, 6),
        (7, 5, 5, 6),
        (8, 7, 8, 7),
        (10, 7, 8, 7),
        (15, 7, 8, 7),
        (16, 9, 9, 11),
        (17, 9, 9, 11),
        (100, 13, 11, 13),
        (1000, 19, 16, 17),
    ],
)
def test_known_lengths(n, g, d, o):
    assert gamma_length(n) == g == len(ref_gamma(n))
    assert delta_length(n) == d == len(ref_delta(n))
    assert omega_length(n) == o == len(ref_omega(n))


@pytest.mark.parametrize(
    "code, n, word",
    [
        ("gamma", 1, "1"),
        ("gamma", 5, "00101"),
        ("delta", 1, "1"),
        ("delta", 2, "0100"),
        ("delta", 10, "00100010"),
        ("delta", 17, "001010001"),
        ("omega", 1, "0"),
        ("omega", 2, "100"),
        ("omega", 4, "101000"),
        ("omega", 16, "10100100000"),
        ("omega", 100, "1011011001000"),
    ],
)
def test_known_codewords(code, n, word):
    w = write_one(code, n)
    assert bits_of(w.to_bytes(), w.num_bits) == word
    assert REF[code](n) == word


@settings(max_examples=300)
@given(code_names, positive)
def test_matches_textbook_definition(code, n):
    w = write_one(code, n)
    assert bits_of(w.to_bytes(), w.num_bits) == REF[code](n)


# ---------------------------------------------------------------- round trips


@settings(max_examples=300)
@given(code_names, mixed_positive)
def test_single_round_trip(code, n):
    c = CODES[code]
    w = BitWriter()
    c.write(w, n)
    assert w.num_bits == c.length(n)
    r = BitReader(w.to_bytes(), w.num_bits)
    out = c.read(r)
    assert out == n and type(out) is int
    assert r.bits_left == 0


@given(code_names, st.lists(mixed_positive, max_size=50))
def test_stream_round_trip(code, values):
    data, nbits = encode_integers(values, code)
    assert nbits == sum(CODES[code].length(v) for v in values)
    assert len(data) == (nbits + 7) // 8
    assert decode_integers(data, len(values), code, nbits) == values
    # num_bits defaults to the whole (padded) buffer: still decodes.
    assert decode_integers(data, len(values), code) == values


@given(st.lists(mixed_positive, max_size=20))
def test_direct_functions_round_trip(values):
    for write, read in [
        (write_gamma, read_gamma),
        (write_delta, read_delta),
        (write_omega, read_omega),
    ]:
        w = BitWriter()
        for v in values:
            write(w, v)
        r = BitReader(w.to_bytes(), w.num_bits)
        assert [read(r) for _ in values] == values
        assert r.bits_left == 0


@given(code_names, st.integers(1, 2**62))
def test_numpy_integers_accepted(code, n):
    for val in (np.int64(n), np.uint64(n)):
        w = write_one(code, val)
        assert w.num_bits == CODES[code].length(val) == CODES[code].length(n)
        assert CODES[code].read(BitReader(w.to_bytes(), w.num_bits)) == n


def test_large_stream_fast():
    rng = np.random.default_rng(0)
    values = [int(v) + 1 for v in rng.geometric(1e-3, size=100_000)]
    for code in CODE_NAMES:
        data, nbits = encode_integers(values, code)
        assert decode_integers(data, len(values), code, nbits) == values


# ---------------------------------------------------------------- length properties


@given(st.integers(1, BIG))
def test_length_bounds(n):
    log_n = math.log2(n)
    eps = 1e-9
    assert gamma_length(n) == 2 * (n.bit_length() - 1) + 1
    assert delta_length(n) <= log_n + 2 * math.log2(log_n + 1) + 1 + eps
    assert delta_length(n) >= log_n + 1 - eps
    assert omega_length(n) >= log_n + 1 - eps
    # Delta and omega never lose to gamma by more than a bit or two.
    assert delta_length(n) <= gamma_length(n) + 1
    assert omega_length(n) <= gamma_length(n) + 2


@given(st.integers(1, BIG), st.integers(0, 2**20))
def test_lengths_monotone(n, k):
    m = n + k
    assert gamma_length(n) <= gamma_length(m)
    assert delta_length(n) <= delta_length(m)
    assert omega_length(n) <= omega_length(m)


def test_lengths_monotone_exhaustive_small():
    for code in CODE_NAMES:
        lengths = [CODES[code].length(n) for n in range(1, 5000)]
        assert all(a <= b for a, b in zip(lengths, lengths[1:]))


def test_kraft_inequality():
    # Prefix codes satisfy Kraft: sum of 2**-len(n) <= 1 (gamma and delta are complete).
    for code in CODE_NAMES:
        s = sum(2.0 ** -CODES[code].length(n) for n in range(1, 2**16))
        assert 0.5 < s <= 1.0


# ---------------------------------------------------------------- bad inputs


BAD = [0, -1, -(2**100), 1.5, 2.0, True, False, "3", None, np.float64(3.0), np.bool_(True)]


@pytest.mark.parametrize("bad", BAD, ids=repr)
@pytest.mark.parametrize("code", CODE_NAMES)
def test_bad_inputs(code, bad):
    c = CODES[code]
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        c.length(bad)
    w = BitWriter()
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        c.write(w, bad)
    assert w.num_bits == 0
    with pytest.raises(ValueError, match=r"values\[1\]"):
        encode_integers([1, bad], code)


def test_index_hint_in_message():
    with pytest.raises(ValueError, match=r"i \+ 1"):
        delta_length(0)


def test_unknown_code():
    with pytest.raises(ValueError, match="'gamma'.*'delta'.*'omega'"):
        encode_integers([1], "rice")
    with pytest.raises(ValueError, match="valid names"):
        decode_integers(b"\x80", 1, "Delta")
    with pytest.raises(ValueError, match="valid names"):
        get_code(None)
    assert get_code(CODES["omega"]) is CODES["omega"]


def test_bad_count():
    with pytest.raises(ValueError, match="count"):
        decode_integers(b"\x80", -1)
    with pytest.raises(ValueError, match="count"):
        decode_integers(b"\x80", 1.0)
    assert decode_integers(b"", 0) == []


# ---------------------------------------------------------------- truncated / corrupt streams


@given(code_names, st.lists(mixed_positive, min_size=1, max_size=20), st.data())
def test_truncated_stream_raises(code, values, data):
    """Decoding len(values) integers from any strict prefix of the stream must fail.

    The reader sees exactly the first ``nbits - k`` bits of the full stream. If
    the decoder succeeded it would have read the same bits as on the full
    stream and hence (being deterministic) produced the same values using all
    ``nbits`` bits, more than are available -- so it must raise.
    """
    payload, nbits = encode_integers(values, code)
    k = data.draw(st.integers(1, nbits), label="k")
    with pytest.raises(ValueError, match="bit stream truncated"):
        decode_integers(payload, len(values), code, nbits - k)
    # Also when the short stream is handed over as short bytes (no num_bits).
    short = BitWriter()
    short.write_bits(int.from_bytes(payload, "big") >> (8 * len(payload) - nbits + k), nbits - k)
    if (nbits - k) % 8 == 0:
        with pytest.raises(ValueError, match="bit stream truncated"):
            decode_integers(short.to_bytes(), len(values), code)


@given(code_names, st.lists(mixed_positive, min_size=1, max_size=20), st.data())
def test_truncated_stream_prefix_decodes(code, values, data):
    """A truncation point after the j-th codeword still yields the first j values."""
    payload, nbits = encode_integers(values, code)
    k = data.draw(st.integers(1, nbits), label="k")
    avail = nbits - k
    ends = np.cumsum([CODES[code].length(v) for v in values])
    j = int(np.searchsorted(ends, avail, side="right"))  # codewords fully inside
    assert decode_integers(payload, j, code, avail) == values[:j]
    if j < len(values):
        with pytest.raises(ValueError, match="bit stream truncated"):
            decode_integers(payload, j + 1, code, avail)


@settings(max_examples=300)
@given(code_names, st.binary(max_size=64), st.integers(0, 200))
def test_random_bytes_never_hang(code, blob, count):
    try:
        out = decode_integers(blob, count, code)
    except ValueError as exc:
        assert "bit stream truncated" in str(exc)
    else:
        assert len(out) == count and all(v >= 1 for v in out)
        # Re-encoding reproduces a prefix of the input bits.
        data, nbits = encode_integers(out, code)
        assert bits_of(data, nbits) == bits_of(blob, nbits)


@pytest.mark.parametrize("code", CODE_NAMES)
def test_long_zero_prefix_is_truncation(code):
    blob = b"\x00" * 2000  # 16000 zero bits: gamma/delta prefix never ends
    if code == "omega":
        # all zeros decode as a run of 1s for omega; a run of 1 bits never terminates
        blob = b"\xff" * 2000
    with pytest.raises(ValueError, match="bit stream truncated"):
        decode_integers(blob, 1, code)


def test_corrupt_huge_delta_length_fails_fast():
    # gamma(L) with L = 2**40 followed by too few bits: must not allocate 2**40 bits.
    w = BitWriter()
    write_gamma(w, 2**40)
    w.write_bits(0, 100)
    with pytest.raises(ValueError, match="bit stream truncated"):
        read_delta(BitReader(w.to_bytes(), w.num_bits))


# ---------------------------------------------------------------- fixed-length code


@given(st.integers(0, 200).flatmap(lambda b: st.tuples(st.integers(0, 2**b - 1), st.just(b))))
def test_fixed_round_trip(pair):
    n, nb = pair
    w = BitWriter()
    write_fixed(w, n, nb)
    write_fixed(w, np.uint8(5), 3)
    assert w.num_bits == nb + 3
    r = BitReader(w.to_bytes(), w.num_bits)
    assert read_fixed(r, nb) == n
    assert read_fixed(r, 3) == 5
    assert r.bits_left == 0


@given(st.integers(0, 100), st.integers(1, 2**20))
def test_fixed_range_errors(nb, excess):
    w = BitWriter()
    with pytest.raises(ValueError, match="does not fit"):
        write_fixed(w, 2**nb - 1 + excess, nb)
    with pytest.raises(ValueError, match=">= 0"):
        write_fixed(w, -excess, nb)
    assert w.num_bits == 0


def test_fixed_bad_arguments():
    w = BitWriter()
    for bad_n in (1.0, True, "1", None):
        with pytest.raises(ValueError):
            write_fixed(w, bad_n, 4)
    for bad_nb in (-1, 2.0, True, None):
        with pytest.raises(ValueError, match="num_bits"):
            write_fixed(w, 0, bad_nb)
        with pytest.raises(ValueError, match="num_bits"):
            read_fixed(BitReader(b"\x00"), bad_nb)
    with pytest.raises(ValueError, match="bit stream truncated"):
        read_fixed(BitReader(b"\x00"), 9)
    write_fixed(w, 0, 0)
    assert w.num_bits == 0
