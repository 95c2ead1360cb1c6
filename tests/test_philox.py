"""Philox4x32-10 against Random123's known-answer vectors, and the uniform/key conventions."""

import numpy as np
import pytest

from recnumba import reference
from recnumba.random.philox import (
    philox4x32_10,
    private_uniform,
    shared_uniform,
    shared_uniform_pair,
    uniform53,
)

# Random123 kat_vectors: counter (4 words), key (2 words) -> output (4 words).
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_known_answer_vectors(counter, key, expected):
    assert tuple(int(w) for w in philox4x32_10(*counter, *key)) == expected


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_numpy_reference_matches_known_answers(counter, key, expected):
    words = reference.philox4x32_10(*[np.array([c], dtype=np.uint64) for c in counter], *key)
    assert tuple(int(w[0]) for w in words) == expected


def test_uniform53_range_and_resolution():
    assert uniform53(0, 0) == 2.0**-54  # the single zero pattern maps inside (0, 1)
    assert uniform53(0, 1 << 11) == 2.0**-53
    largest = uniform53(0xFFFFFFFF, 0xFFFFFFFF)
    assert largest == 1.0 - 2.0**-53 and largest < 1.0
    assert 1.0 - largest == 2.0**-53  # the complement is exact: upper tail resolved too


def test_streams_are_keyed_and_reproducible():
    base = shared_uniform(7, 3, 11, 4)
    assert base == shared_uniform(7, 3, 11, 4)
    others = [
        shared_uniform(8, 3, 11, 4),
        shared_uniform(7, 4, 11, 4),
        shared_uniform(7, 3, 12, 4),
        shared_uniform(7, 3, 11, 5),
        private_uniform(7, 3, 11, 4),  # same counter, private key domain
        shared_uniform(7, 3, 11 + (1 << 32), 4),  # high word of a 64-bit index
    ]
    assert len({base, *others}) == len(others) + 1
    assert shared_uniform_pair(7, 3, 11, 2) == (shared_uniform(7, 3, 11, 4), shared_uniform(7, 3, 11, 5))


def test_numba_and_numpy_streams_agree():
    indices = np.array([0, 1, 2**31, 2**40 + 5, 2**63 - 1], dtype=np.uint64)
    expected = reference.keyed_uniforms(12345, 0, 9, indices, 5)
    got = np.array([[shared_uniform(12345, 9, int(n), d) for d in range(5)] for n in indices])
    np.testing.assert_array_equal(got, expected)


def test_uniforms_look_uniform():
    from scipy import stats

    values = reference.keyed_uniforms(2024, 0, 0, np.arange(20000), 2).ravel()
    assert values.min() > 0 and values.max() < 1
    assert stats.kstest(values, "uniform").pvalue > 1e-3
