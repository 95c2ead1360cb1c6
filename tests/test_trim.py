"""recnumba.coding.trim: trimmed range-coder output decodes, and costs about the ideal length."""

import constriction
import numpy as np
import pytest

from recnumba.coding.trim import trim_words, words_of


def _bernoulli():
    return constriction.stream.model.Bernoulli(perfect=False)


@pytest.mark.parametrize("count", [0, 1, 2, 5, 17, 100, 784])
def test_trimmed_output_decodes_and_is_near_the_ideal_length(count):
    rng = np.random.default_rng(count)
    excess = []
    for _ in range(25):
        p = rng.uniform(0.02, 0.98, count)
        x = (rng.uniform(size=count) < p).astype(np.int32)
        encoder = constriction.stream.queue.RangeEncoder()
        encoder.encode(x, _bernoulli(), p)
        words = encoder.get_compressed()

        def decodes(w):
            return np.array_equal(constriction.stream.queue.RangeDecoder(w).decode(_bernoulli(), p), x)

        data, bits = trim_words(words, decodes)
        assert len(data) == (bits + 7) // 8
        assert bits <= 32 * words.size
        assert decodes(words_of(data, bits)) and decodes(words_of(data))  # zero padding is harmless
        if bits % 8:
            assert data[-1] & ((1 << (8 - bits % 8)) - 1) == 0
        excess.append(bits + np.sum(np.log2(np.where(x == 1, p, 1 - p))))
    assert max(excess) <= 2.0  # an arithmetic code needs at most about 2 bits over the ideal length


def test_words_of_pads_to_whole_words():
    assert words_of(b"").tolist() == [0]
    assert words_of(b"\x80").tolist() == [0x80000000]
    assert words_of(b"\xff\xff", 9).tolist() == [0xFF800000]
    assert words_of(bytes(range(1, 6))).tolist() == [0x01020304, 0x05000000]
