"""Round trip first: send one exact sample of a 5-D Gaussian posterior in about KL bits.

Run: python examples/quickstart.py
"""

import numpy as np

import recnumba as rn
from recnumba.coding.elias import decode_integers, encode_integers

seed = 2024  # shared by sender and receiver (e.g. derived from a file header)
prior = rn.Gaussian(loc=np.zeros(5), scale=np.ones(5))
target = rn.Gaussian(loc=[0.9, -0.6, 0.3, 1.2, -0.2], scale=[0.1, 0.12, 0.15, 0.1, 0.14])
kl, dinf = float(rn.kl_bits(target, prior)), float(rn.dinf_bits(target, prior))
print(f"KL = {kl:.1f} bits, D_inf = {dinf:.1f} bits (plain PFR needs ~2^D_inf steps)")

# The partition must be known to the receiver. For brevity it is built from this target's KL here; a
# real codec builds it from shared training statistics (see rn.BlockPlan), never from the instance.
partition = rn.Partition.uniform(dim=5, bits=kl - 1)

for name, part in [("plain", None), ("partitioned", partition)]:
    result = rn.encode(target, prior, seed=seed, partition=part)
    # Sender: write the index as bits (Elias delta of index + 1).
    payload, num_bits = encode_integers([result.index + 1], code="delta")
    assert num_bits == result.bits
    # Receiver: read the index and regenerate the sample from (index, prior, seed, partition).
    (received,) = decode_integers(payload, count=1, code="delta")
    sample = rn.decode(received - 1, prior, seed=seed, partition=part)
    assert sample.tobytes() == result.sample.tobytes()  # bit-identical
    print(f"{name:>12}: index {result.index:>6}, {result.bits:>2} bits, {result.steps:>6} steps, "
          f"sample {np.round(sample, 3)}")
