"""recnumba: relative entropy coding with space partitioning, on Numba kernels.

Send one exact sample of a target distribution Q to a receiver that shares a prior P and a seed, in
about D_KL[Q||P] bits (He, Flamich & Hernández-Lobato, NeurIPS 2024)::

    import recnumba as rn
    prior = rn.Gaussian([0.0] * 5, [1.0] * 5)
    target = rn.Gaussian([0.5, -1.0, 0.2, 0.0, 1.5], [0.1] * 5)
    res = rn.encode(target, prior, seed=7, partition=rn.Partition.uniform(5, 8))
    z = rn.decode(res.index, prior, seed=7, partition=rn.Partition.uniform(5, 8))

Layout: ``random`` (Philox streams), ``numerics`` (scalar numerics, portable float64 arithmetic),
``families`` (the family protocol; Gaussian, Laplace, Uniform), ``partition`` (equal-mass bins),
``search`` (parameter structs, the search core, the exact/ORC/auto policy), ``backends`` (CPU and
CUDA, behind a registry), ``reference`` (numpy oracle), ``coding`` (bit I/O and Elias codes),
``validation`` (shared argument checks), ``api`` (encode/decode), ``blocks`` (block plans for
high-dimensional latents), ``container`` (versioned, checksummed bitstreams), ``dataset`` (many
posteriors in one call).
"""

from recnumba._kernel_cache import clear_stale_kernels

clear_stale_kernels()  # before any kernel module is imported (see recnumba._kernel_cache)

from recnumba.api import (  # noqa: E402
    BACKENDS,
    DEFAULT_MAX_STEPS,
    BackendUnavailable,
    EncodeResult,
    MaxStepsExceeded,
    decode,
    encode,
)
from recnumba.backends.threads import get_num_threads, set_num_threads
from recnumba.families import Gaussian, Laplace, Uniform, dinf_bits, kl_bits
from recnumba.blocks import BlockPlan
from recnumba.container import StreamError, read_stream, write_stream
from recnumba.dataset import decode_dataset, encode_dataset
from recnumba.partition import Partition, PartitionTooFineWarning
from recnumba.validation import ParameterTypeError
from recnumba.codec import Codec, CodecFileError  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "BackendUnavailable",
    "BlockPlan",
    "Codec",
    "CodecFileError",
    "DEFAULT_MAX_STEPS",
    "EncodeResult",
    "Gaussian",
    "Laplace",
    "MaxStepsExceeded",
    "ParameterTypeError",
    "Partition",
    "PartitionTooFineWarning",
    "StreamError",
    "Uniform",
    "decode",
    "decode_dataset",
    "dinf_bits",
    "encode",
    "encode_dataset",
    "get_num_threads",
    "kl_bits",
    "read_stream",
    "set_num_threads",
    "write_stream",
]
