"""``rn.Codec``: tensors in, one ``bytes`` record per item out, one saved file for the receiver.

A codec ties together what sender and receiver share (prior, block plan, seed, method, ORC budget,
index code) and what only the sender chooses (the posterior family, ORC weights, step limits)::

    codec = rn.Codec(prior, plan, seed=7)
    records = codec.compress(loc, scale)               # list[bytes], one per item (row)
    records, z = codec.compress(loc, scale, return_samples=True)
    codec.save("codec.rnc")                             # ship once, with the decoder
    z_hat = rn.Codec.load("codec.rnc").decompress(records)   # bit-identical to z
    codec.rate_bits(loc, scale)                        # KL per item in bits, vs 8 * len(record)

Records are those of ``recnumba.records`` (the index-code payload of one item's blocks plus one
CRC-8 byte; the header is written once, inside the codec file). Decoding is bit-identical on every
machine and on the CPU and CUDA backends (counter-based randomness and portable float64 arithmetic
on the decode path), so a record compressed on a GPU server decodes to the same float64 values on a
laptop's CPU.

Targets
-------
``compress(loc, scale)`` codes one posterior per row: a ``posterior`` distribution with those two
parameter arrays, of shape (N, D) (N items of the plan's D dimensions) or (D,) (one item). The
posterior family defaults to the prior's; the supported pairs are
``recnumba.families.supported_pairs()``:

========================  =====================================  ==============================
prior                     posterior (default first)              ``compress``'s two arrays
========================  =====================================  ==============================
``rn.Gaussian``           ``"Gaussian"``, ``"Uniform"``           (loc, scale) / (low, high)
``rn.Laplace``            ``"Laplace"``                           (loc, scale)
``rn.Uniform``            ``"Uniform"``                           (low, high)
========================  =====================================  ==============================

A Gaussian posterior under a Laplace or uniform prior is not a supported pair (ValueError at
construction). ``compress`` also takes a recnumba distribution of shape (N, D) or (D,) as its only
argument.

Item numbers and seeds (the stream-key rule)
--------------------------------------------
Item ``i`` (``first_item`` plus its row) is coded with stream keys ``local * B + b`` (B blocks) under
the seed of its *epoch*::

    P = 2^32 // B                 # items per seed (codec.items_per_seed)
    epoch, local = divmod(i, P)
    seed_0 = seed;  seed_e = SHA-256(b"recnumba.Codec epoch seed\\0" + seed (8 B) + e (8 B))[:8] >> 2

so stream keys stay below 2^32 for any number of items, and every caller that numbers items the same
way (a single process, ``recnumba.distributed``, a loop over batches with ``first_item``) writes the
same records. ``codec.stream_position(i)`` returns ``(seed_e, local)``. Items of epoch 0 are exactly
``recnumba.encode_records`` with the codec's header; the records of epoch e use the header with
seed_e (their check byte binds them to it). Item numbers are below 2^63.

Arrays
------
Inputs: numpy arrays, torch tensors (CPU or CUDA; ``requires_grad`` is fine, they are detached),
JAX arrays, anything with ``__dlpack__``, ``__cuda_array_interface__`` or ``__array__``
(``recnumba.arrays``). Seeds and ``first_item``: ints, numpy integers, 0-d integer arrays/tensors.
Outputs: float64 samples (exact REC samples; cast them yourself), as a torch tensor on the input's
device for torch input (``decompress(records, like=tensor)`` for the receiver), numpy otherwise.

CUDA arrays (torch CUDA tensors, CuPy, numba device arrays) with ``backend="cuda"`` (or "auto" with a
GPU) stay on the device (``recnumba.device``): the (N, D) parameters are checked, standardised,
searched and decoded there, and only per-block scalars (and the rows of blocks the GPU hands to the
CPU kernel) come back; records and indices are those of the host path (bit for bit under the
simulator; on a GPU up to the CUDA backend's near-tie caveat, ``recnumba.device``), bad input raises
the host path's errors. ``compress(..., return_samples=True)`` and ``decompress(records,
like=cuda_array)`` give the samples on the device: a torch tensor on the input's device for torch, a
CuPy array for CuPy, a numba device array otherwise; ``compress_with_details`` gives a numba device
array as ``samples`` (the rest numpy); ``rate_bits`` computes the KL on the device (N floats back).
Tested under numba's CUDA simulator and compiled to PTX, never run on a real GPU.

Codec file (``save`` / ``to_bytes``), integers big-endian::

    7 B   magic b"RNCODEC"
    1 B   format version (1)
    var   length (LEB128) of the record header, then ``RecordHeader.to_bytes()`` (plan, prior family
          and parameters, seed, method, ORC budget, index code; its own CRC32)
    var   length of the options, then the options as canonical JSON (UTF-8, sorted keys):
          posterior family, weights, max_steps, exact_bound_bits (sender-side settings, stored so a
          loaded codec compresses exactly as the saved one; the receiver needs none of them)
    32 B  SHA-256 of everything before it

``Codec.load`` refuses (``CodecFileError``, a ``recnumba.StreamError``) a file with another magic or
version, a wrong checksum, trailing bytes or a malformed header. The backend is not stored: it is
where the loading side runs (``Codec.load(path, backend="cuda")``).
"""

from __future__ import annotations

import hashlib
import json
import os

import numpy as np

from recnumba.api import DEFAULT_MAX_STEPS
from recnumba.arrays import as_float_array, as_integer, like, like_device
from recnumba.backends import BACKENDS
from recnumba.blocks import BlockPlan
from recnumba.container import _read_varint, _varint
from recnumba.families import Gaussian, Laplace, Uniform
from recnumba.families.base import Family, kl_bits, pair_of, supported_pairs
from recnumba.records import RecordError, RecordHeader, decode_records, encode_records
from recnumba.search.params import METHOD_NAMES
from recnumba.validation import BLOCK_LIMIT, INDEX_LIMIT, check_bits, check_choice, check_int, check_seed

__all__ = ["Codec", "CodecFileError", "CODEC_FORMAT_VERSION", "DEFAULT_CODE", "epoch_seed"]

CODEC_MAGIC = b"RNCODEC"
CODEC_FORMAT_VERSION = 1
#: The index code a Codec uses unless told otherwise (the shortest records: arithmetic-coded Zeta, one
#: termination per record; "two-part" is the prefix-code alternative).
DEFAULT_CODE = "zeta"
#: ORC's budget when none is given (``recnumba.encode``'s default, pinned in the header).
DEFAULT_NUM_SAMPLES = 1 << 16
_FAMILIES = {cls.__name__: cls for cls in (Gaussian, Laplace, Uniform)}
_EPOCH_DOMAIN = b"recnumba.Codec epoch seed\0"
_OPTION_KEYS = ("exact_bound_bits", "max_steps", "posterior", "weights")


class CodecFileError(RecordError):
    """A codec file (``Codec.save``/``to_bytes``) is corrupted, truncated, foreign or of another version."""


def epoch_seed(seed, epoch):
    """The seed of items ``epoch * P .. (epoch + 1) * P - 1`` (module docstring); ``seed`` for epoch 0."""
    seed = check_seed(seed)
    epoch = check_int(epoch, "epoch")
    if epoch == 0:
        return seed
    digest = hashlib.sha256(_EPOCH_DOMAIN + seed.to_bytes(8, "big") + epoch.to_bytes(8, "big")).digest()
    return int.from_bytes(digest[:8], "big") >> 2


def _posterior_class(posterior, prior):
    if posterior is None:
        posterior = type(prior)
    if isinstance(posterior, str):
        if posterior not in _FAMILIES:
            raise ValueError(f"posterior must be one of {sorted(_FAMILIES)} (a family name or class); got {posterior!r}")
        posterior = _FAMILIES[posterior]
    if not (isinstance(posterior, type) and issubclass(posterior, Family)) or posterior.__name__ not in _FAMILIES:
        raise TypeError(f"posterior must be a family name ('Gaussian', 'Laplace', 'Uniform') or class; "
                        f"got {posterior!r:.80}")
    if not any(p.target is posterior and p.prior is type(prior) for p in supported_pairs()):
        pairs = "; ".join(p.name for p in supported_pairs())
        raise ValueError(f"posterior: a {posterior.__name__} posterior under a {type(prior).__name__} prior is not "
                         f"supported; supported pairs: {pairs}")
    return posterior


class Codec:
    """REC codec for a batch of factorised posteriors: ``compress`` to records, ``decompress`` back.

    Parameters
    ----------
    prior : rn.Gaussian, rn.Laplace or rn.Uniform, shape (D,)
        The shared prior (one for every item), D = ``plan.dim``.
    plan : rn.BlockPlan
        How each item's D dimensions are cut into blocks (``BlockPlan.build`` or :meth:`fit`).
    seed : int in [0, 2^62) (int, numpy integer or 0-d integer tensor)
        The shared seed (of epoch 0; see the module docstring).
    method : "orc" (default), "pfr", "auto" or "gprs"
        As in ``rn.encode``. ORC runs exactly ``num_samples`` candidates per block; "pfr" is exact
        (needs a bounded ratio: Gaussian posterior stds below the prior's); "auto" is PFR where its
        bound is at most 2^``exact_bound_bits`` steps, ORC elsewhere; "gprs" is exact per-dimension
        greedy Poisson rejection sampling (``recnumba.gprs``): Gaussian prior and posteriors, a plan of
        1-D unpartitioned blocks (``BlockPlan.per_dimension`` or ``Codec.fit(..., method="gprs")``),
        the CPU backend.
    num_samples : int >= 1, optional
        ORC's budget per block (default 2^16, stored in the header; not for "pfr").
    code : str
        Index code of the records (``recnumba.records.RECORD_CODES``; default :data:`DEFAULT_CODE`).
    backend : "cpu" (default), "cuda" or "auto"
        Where this side runs the search and the decoding (not stored in the file: same records and
        bit-identical samples on every backend).
    posterior : family name or class, optional
        The posteriors' family (default: the prior's; see the module docstring for the pairs).
    weights : "ratio", "target", "auto" or None
        The ORC/PFR bin weights (``rn.encode_dataset``; default: target for ORC, ratio for PFR).
    max_steps, exact_bound_bits
        As in ``rn.encode``.
    chunk : int, optional
        Encode/decode at most this many items per kernel call (bounds memory).

    Raises
    ------
    TypeError
        A wrong kind of object (a tuple for ``prior``, a dict for ``plan``, a float seed).
    ValueError
        A bad value, naming the argument (a prior of another dimension than the plan, an unsupported
        posterior family, a negative seed, an unknown code or method).
    """

    def __init__(self, prior, plan, seed, method="orc", num_samples=None, code=DEFAULT_CODE, backend="cpu", *,
                 posterior=None, weights=None, max_steps=DEFAULT_MAX_STEPS, exact_bound_bits=20.0, chunk=None):
        if not isinstance(prior, Family):
            raise TypeError(f"prior must be a recnumba distribution (rn.Gaussian, rn.Laplace, rn.Uniform) of shape "
                            f"(D,); got {type(prior).__name__}")
        if not isinstance(plan, BlockPlan):
            raise TypeError(f"plan must be a recnumba.BlockPlan (BlockPlan.build, BlockPlan.load or Codec.fit); "
                            f"got {type(plan).__name__}")
        if prior.shape != (plan.dim,):
            raise ValueError(f"prior must have shape ({plan.dim},) (the plan's dimension; one prior shared by every "
                             f"item); got {prior.shape}")
        seed = check_seed(as_integer(seed, "seed"))
        check_choice(method, (*METHOD_NAMES, "gprs"),
                     f'method must be "orc", "pfr", "auto" or "gprs"; got {method!r:.80}')
        if method == "pfr" and num_samples is not None:
            raise ValueError('num_samples is the ORC budget; pass method="orc" or "auto", or drop num_samples')
        if method in ("orc", "auto"):  # (GPRS's refusal of a budget is in _check_gprs)
            num_samples = DEFAULT_NUM_SAMPLES if num_samples is None else check_int(
                as_integer(num_samples, "num_samples"), "num_samples", minimum=1)
        check_choice(backend, ("auto",) + tuple(BACKENDS),
                     f"backend must be one of {', '.join(repr(b) for b in ('auto',) + tuple(BACKENDS))}; "
                     f"got {backend!r:.80}")
        if weights is not None:
            check_choice(weights, ("ratio", "target", "auto"),
                         f'weights must be "ratio", "target", "auto" or None; got {weights!r:.80}')
        if method == "gprs":
            _check_gprs(prior, plan, num_samples, backend, weights, posterior)
        max_steps = check_int(as_integer(max_steps, "max_steps"), "max_steps", minimum=1)
        exact_bound_bits = check_bits(exact_bound_bits, "exact_bound_bits")
        if chunk is not None:
            chunk = check_int(as_integer(chunk, "chunk"), "chunk", minimum=1)
        self._posterior = _posterior_class(posterior, prior)
        self._header = RecordHeader(plan, prior, seed, code=code, method=method, num_samples=num_samples)
        self._backend = backend
        self._weights = weights
        self._max_steps = max_steps
        self._exact_bound_bits = exact_bound_bits
        self._chunk = chunk
        self._headers = {0: self._header}

    # ------------------------------------------------------------------ what is shared

    header = property(lambda self: self._header, doc="The RecordHeader (plan, prior, seed, method, budget, code).")
    prior = property(lambda self: self._header.prior, doc="The prior, shape (D,).")
    plan = property(lambda self: self._header.plan, doc="The BlockPlan.")
    seed = property(lambda self: self._header.seed, doc="The seed of epoch 0.")
    method = property(lambda self: self._header.method)
    num_samples = property(lambda self: self._header.num_samples, doc="ORC's budget per block (None for PFR).")
    code = property(lambda self: self._header.code, doc="The records' index code.")
    backend = property(lambda self: self._backend)
    posterior = property(lambda self: self._posterior, doc="The posterior family (a Family subclass).")
    weights = property(lambda self: self._weights)
    max_steps = property(lambda self: self._max_steps)
    exact_bound_bits = property(lambda self: self._exact_bound_bits)
    chunk = property(lambda self: self._chunk)
    dim = property(lambda self: self._header.plan.dim, doc="D, dimensions per item.")
    num_blocks = property(lambda self: self._header.plan.num_blocks, doc="B, blocks per item.")
    items_per_seed = property(lambda self: BLOCK_LIMIT // self._header.plan.num_blocks,
                              doc="P = 2^32 // B: items coded under one seed (module docstring).")
    identifier = property(lambda self: self._header.identifier, doc="64-bit identifier of the shared header.")

    def with_backend(self, backend):
        """The same codec (same records) running on another backend."""
        return Codec(self.prior, self.plan, self.seed, self.method, self.num_samples, self.code, backend,
                     **self._options(), chunk=self._chunk)

    def _options(self):
        return dict(posterior=self._posterior.__name__, weights=self._weights, max_steps=self._max_steps,
                    exact_bound_bits=self._exact_bound_bits)

    def stream_position(self, item):
        """``(seed, local_item)`` that item number ``item`` is coded under (module docstring)."""
        item = self._check_item(item, "item")
        epoch, local = divmod(item, self.items_per_seed)
        return epoch_seed(self.seed, epoch), local

    def _epoch_header(self, epoch):
        header = self._headers.get(epoch)
        if header is None:
            h = self._header
            header = RecordHeader(h.plan, h.prior, epoch_seed(h.seed, epoch), code=h.code, method=h.method,
                                  num_samples=h.num_samples)
            self._headers[epoch] = header
        return header

    def _segments(self, first_item, count):
        """[(header, local first item, row slice)]: the items first_item.. split at epoch boundaries."""
        out, row, per_seed = [], 0, self.items_per_seed
        while row < count:
            epoch, local = divmod(first_item + row, per_seed)
            take = min(count - row, per_seed - local)
            out.append((self._epoch_header(epoch), local, slice(row, row + take)))
            row += take
        return out

    @staticmethod
    def _check_item(value, name):
        value = as_integer(value, name)
        if not 0 <= value < INDEX_LIMIT:
            raise ValueError(f"{name} must be an integer in [0, 2^63); got {value}")
        return value

    # ------------------------------------------------------------------ targets

    def targets(self, loc, scale=None):
        """The posteriors as a recnumba distribution of shape (N, D), from the two parameter arrays.

        ``loc``, ``scale``: arrays of shape (N, D) or (D,) (one item), broadcastable to each other, in
        the posterior family's parameters ((loc, scale) for Gaussian/Laplace, (low, high) for
        Uniform); or ``loc`` a recnumba distribution of that family and ``scale`` None.
        """
        if isinstance(loc, Family):
            if scale is not None:
                raise TypeError("pass either a distribution or the two parameter arrays (loc, scale), not both")
            if type(loc) is not self._posterior:
                raise ValueError(f"loc: this codec codes {self._posterior.__name__} posteriors; got a "
                                 f"{type(loc).__name__} (build the codec with posterior={type(loc).__name__!r})")
            target = loc
            if target.dim != self.dim:
                raise ValueError(f"loc: the posterior has {target.dim} dimensions, the codec's plan {self.dim}")
            if len(target.shape) == 1:
                target = type(target)(*(p[None] for p in target.params))
            return target
        names = self._posterior.parameter_names if hasattr(self._posterior, "parameter_names") else ("loc", "scale")
        if scale is None:
            raise TypeError(f"compress takes the posterior's two parameter arrays ({', '.join(names)}); "
                            "got only one")
        first = as_float_array(loc, "loc")
        second = as_float_array(scale, "scale")
        try:
            first, second = np.broadcast_arrays(first, second)
        except ValueError:
            raise ValueError(f"loc and scale must have the same shape (N, D) or (D,); got {first.shape} and "
                             f"{second.shape}") from None
        if first.ndim == 1:
            first, second = first[None], second[None]
        if first.ndim != 2 or first.shape[1] != self.dim:
            raise ValueError(f"loc and scale must have shape (N, {self.dim}) or ({self.dim},) (one row per item, the "
                             f"plan's {self.dim} dimensions); got {first.shape}. Flatten latents with "
                             f".reshape(N, -1)")
        return self._posterior(np.ascontiguousarray(first), np.ascontiguousarray(second))

    # ------------------------------------------------------------------ coding

    def compress(self, loc, scale=None, *, first_item=0, return_samples=False, progress=False):
        """One record (``bytes``) per item: the REC indices of its blocks under the codec's code.

        Parameters
        ----------
        loc, scale : arrays (N, D) or (D,), or a distribution (see :meth:`targets`)
            The posteriors, one row per item.
        first_item : int >= 0
            The number of the first row (rows are items first_item, first_item + 1, ...); the
            receiver passes the same number to :meth:`decompress`. Batches coded separately need
            distinct item numbers (or distinct seeds), else they share candidates.
        return_samples : bool
            Also return the samples the receiver will decode: float64 (N, D), as ``loc``'s array type.
        progress : bool
            A tqdm progress bar.

        Returns
        -------
        list of N bytes, or (records, samples) with ``return_samples=True``.
        """
        result = self.compress_with_details(loc, scale, first_item=first_item, progress=progress)
        if return_samples:
            samples = result["samples"]
            return result["records"], (like(samples, loc) if isinstance(samples, np.ndarray)
                                       else like_device(samples, loc))
        return result["records"]

    def compress_with_details(self, loc, scale=None, *, first_item=0, progress=False):
        """:meth:`compress`, returning a dict of numpy arrays: ``records`` (list of N bytes), ``samples``
        (N, D) float64, ``indices``, ``steps``, ``exact`` (N, B), ``kl_bits`` (N,) and ``bits`` (N,)
        (8 x record length). For CUDA arrays on a CUDA backend (``recnumba.device``) ``samples`` is a
        numba device array (the rest numpy)."""
        from recnumba import device

        if device.uses_device(self, loc, scale):
            on_device = device.targets(self, loc, scale)
            if on_device is not None:
                return device.compress(self, on_device, first_item, progress)
        target = self.targets(loc, scale)
        first_item = self._check_item(first_item, "first_item")
        count = target.shape[0]
        if count and first_item + count > INDEX_LIMIT:
            raise ValueError(f"first_item + N must stay below 2^63; got {first_item} + {count}")
        if not isinstance(progress, (bool, np.bool_)):
            raise TypeError(f"progress must be True or False; got {progress!r}")
        pair_of(target, self.prior)
        records = []
        samples = np.empty((count, self.dim), dtype=np.float64)
        indices = np.empty((count, self.num_blocks), dtype=np.int64)
        steps = np.empty((count, self.num_blocks), dtype=np.int64)
        exact = np.empty((count, self.num_blocks), dtype=bool)
        kl = np.empty(count, dtype=np.float64)
        for header, local, rows in self._segments(first_item, count):
            part, encoding = encode_records(
                target[rows], header, first_item=local, weights=self._weights, max_steps=self._max_steps,
                exact_bound_bits=self._exact_bound_bits, chunk=self._chunk, progress=bool(progress),
                backend=self._backend)
            records.extend(part)
            samples[rows], indices[rows], steps[rows], exact[rows] = (
                encoding.samples, encoding.indices, encoding.steps, encoding.exact)
            kl[rows] = encoding.kl_bits
        return dict(records=records, samples=samples, indices=indices, steps=steps, exact=exact, kl_bits=kl,
                    bits=np.array([8 * len(r) for r in records], dtype=np.int64))

    def decompress(self, records, *, first_item=0, like=None, progress=False):
        """Samples (N, D) float64 from N records, bit-identical to the sender's.

        ``records``: a list (or any iterable) of ``bytes`` as :meth:`compress` returned, in order;
        ``first_item``: the sender's; ``like``: an array whose type (and device) the samples take
        (e.g. a torch tensor; default numpy). Raises ``recnumba.records.RecordError`` (a
        ``StreamError``, a ValueError) for a corrupted record or one read as the wrong item or with
        another codec.
        """
        if isinstance(records, (bytes, bytearray, memoryview, str)) or not hasattr(records, "__iter__"):
            raise TypeError("records must be a list of bytes (one record per item; a single record as [record])")
        records = list(records)
        first_item = self._check_item(first_item, "first_item")
        if not isinstance(progress, (bool, np.bool_)):
            raise TypeError(f"progress must be True or False; got {progress!r}")
        from recnumba import device

        if like is not None and device.uses_device(self, like):  # decoded into device memory
            return like_device(device.decompress(self, records, first_item), like)
        samples = np.empty((len(records), self.dim), dtype=np.float64)
        for header, local, rows in self._segments(first_item, len(records)):
            samples[rows] = decode_records(records[rows], header, first_item=local, chunk=self._chunk,
                                           progress=bool(progress), backend=self._backend)
        return _like(samples, like)

    def rate_bits(self, loc, scale=None):
        """D_KL[Q_i || P] per item in bits, shape (N,) (N = 1 for a (D,) input), as ``loc``'s array type.

        REC's records cost about this plus a few bits per block (index-code overhead) and the check
        byte: compare with ``8 * len(record)``.
        """
        from recnumba import device

        if device.uses_device(self, loc, scale):
            on_device = device.targets(self, loc, scale)
            if on_device is not None:  # N floats come back
                return _like(device.rate_bits(self, on_device), loc)
        target = self.targets(loc, scale)
        values = np.asarray(kl_bits(target, self.prior.broadcast_to(target.shape)), dtype=np.float64)
        return _like(values.reshape(target.shape[0]), loc)

    @staticmethod
    def record_bits(records):
        """(N,) int64: 8 x the length of each record (what it costs, check byte included)."""
        return np.array([8 * len(r) for r in records], dtype=np.int64)

    # ------------------------------------------------------------------ building a plan

    @classmethod
    def fit(cls, loc, scale, prior, seed, *, block_bits=32.0, margin_bits=6.0, packing="balanced", plan_seed=0,
            posterior=None, **options):
        """A codec whose plan fits the posteriors of a training set (like CompressAI's ``update()``).

        ``loc``, ``scale`` (N, D): training posteriors; the plan is
        ``BlockPlan.build(mean KL per dimension, block_bits, plan_seed, margin_bits, packing=packing)``,
        the defaults those of the MNIST example's partitioned ORC (``examples/mnist_lossless.py``);
        with ``method="gprs"`` it is ``BlockPlan.per_dimension(mean KL per dimension)`` (``block_bits``,
        ``margin_bits``, ``packing`` and ``plan_seed`` then play no part).
        ``options`` go to :class:`Codec` (method, num_samples, code, backend, weights, ...).
        """
        if not isinstance(prior, Family) or len(prior.shape) != 1:
            raise TypeError(f"prior must be a recnumba distribution of shape (D,); got {type(prior).__name__}")
        family = _posterior_class(posterior, prior)
        first = as_float_array(loc, "loc")
        second = as_float_array(scale, "scale")
        if first.ndim != 2 or first.shape != second.shape or first.shape[1] != prior.dim or first.shape[0] == 0:
            raise ValueError(f"loc and scale must both have shape (N, {prior.dim}) with N >= 1 training items; got "
                             f"{first.shape} and {second.shape}")
        target = family(first, second)
        info = kl_bits(target, prior.broadcast_to(target.shape), per_dimension=True).mean(axis=0)
        if options.get("method") == "gprs":  # GPRS codes each dimension on its own
            plan = BlockPlan.per_dimension(info)
        else:
            plan = BlockPlan.build(info, block_bits, seed=plan_seed, margin_bits=margin_bits, packing=packing)
        return cls(prior, plan, seed, posterior=family, **options)

    # ------------------------------------------------------------------ files

    def to_bytes(self):
        """The codec file's bytes (layout in the module docstring)."""
        header = self._header.to_bytes()
        options = json.dumps(self._options(), sort_keys=True, separators=(",", ":")).encode("utf-8")
        body = (CODEC_MAGIC + bytes([CODEC_FORMAT_VERSION]) + _varint(len(header)) + header
                + _varint(len(options)) + options)
        return body + hashlib.sha256(body).digest()

    @classmethod
    def from_bytes(cls, data, backend="cpu", *, chunk=None):
        """A codec from :meth:`to_bytes`'s bytes; ``CodecFileError`` for anything else."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data must be bytes; got {type(data).__name__}")
        data = bytes(data)
        if data[:7] != CODEC_MAGIC:
            raise CodecFileError("not a recnumba codec file (bad magic)")
        if len(data) < 8 + 32:
            raise CodecFileError(f"codec file truncated: {len(data)} bytes")
        if data[7] != CODEC_FORMAT_VERSION:
            raise CodecFileError(f"unsupported codec file version {data[7]} (this recnumba reads "
                                 f"{CODEC_FORMAT_VERSION})")
        if hashlib.sha256(data[:-32]).digest() != data[-32:]:
            raise CodecFileError("codec file checksum mismatch: it is corrupted or truncated")
        body = data[:-32]
        length, pos = _read_varint(body, 8, "header length")
        if length is None or pos + length > len(body):
            raise CodecFileError("codec file is malformed: bad header length")
        try:
            header = RecordHeader.from_bytes(body[pos:pos + length])
        except RecordError as error:
            raise CodecFileError(f"codec file is malformed: {error}") from None
        pos += length
        length, pos = _read_varint(body, pos, "options length")
        if length is None or pos + length != len(body):
            raise CodecFileError("codec file is malformed: bad options length")
        try:
            options = json.loads(body[pos:pos + length].decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise CodecFileError("codec file is malformed: its options are not JSON") from None
        if not isinstance(options, dict) or sorted(options) != list(_OPTION_KEYS):
            raise CodecFileError(f"codec file is malformed: options must be exactly {list(_OPTION_KEYS)}")
        try:
            codec = cls(header.prior, header.plan, header.seed, header.method, header.num_samples, header.code,
                        backend, chunk=chunk, **options)
        except (TypeError, ValueError) as error:
            raise CodecFileError(f"codec file is malformed: {error}") from None
        if codec.to_bytes() != data:
            raise CodecFileError("codec file is not in canonical form (it was not written by Codec.to_bytes)")
        return codec

    def save(self, path):
        """Write the codec file (everything a receiver needs) to ``path``."""
        with open(os.fspath(path), "wb") as handle:
            handle.write(self.to_bytes())

    @classmethod
    def load(cls, path, backend="cpu", *, chunk=None):
        """Read a codec written by :meth:`save`; ``backend`` is where this side runs."""
        with open(os.fspath(path), "rb") as handle:
            return cls.from_bytes(handle.read(), backend, chunk=chunk)

    def __reduce__(self):  # pickles as its file (dask and multiprocessing ship codecs this way)
        return (_from_pickle, (self.to_bytes(), self._backend, self._chunk))

    def __eq__(self, other):
        return isinstance(other, Codec) and self.to_bytes() == other.to_bytes()

    def __hash__(self):
        return hash(self.to_bytes())

    def __repr__(self):
        return (f"Codec({type(self.prior).__name__} prior, D={self.dim}, {self.num_blocks} blocks, seed={self.seed}, "
                f"method={self.method!r}, num_samples={self.num_samples}, code={self.code!r}, "
                f"posterior={self._posterior.__name__!r}, backend={self._backend!r})")


def _check_gprs(prior, plan, num_samples, backend, weights, posterior):
    """What ``method="gprs"`` needs beyond the other methods (``recnumba.gprs``), checked up front."""
    if num_samples is not None:
        raise ValueError('num_samples is the ORC budget; method="gprs" is exact: drop num_samples')
    if weights is not None:
        raise ValueError('weights are bin weights of a partitioned search; method="gprs" has none: drop weights')
    if backend == "cuda":
        raise ValueError('method="gprs" runs on the CPU only; use backend="cpu" or "auto"')
    if type(prior) is not Gaussian or _posterior_class(posterior, prior) is not Gaussian:
        raise ValueError(f'method="gprs" codes Gaussian posteriors under a Gaussian prior; got a '
                         f'{type(prior).__name__} prior')
    wide = [blk.block_id for blk in plan.blocks if blk.dims.size != 1 or blk.partition.num_bins != 1]
    if wide:
        raise ValueError(f'method="gprs" codes one dimension per block, unpartitioned; block {wide[0]} of the plan '
                         f'is not (build the plan with BlockPlan.per_dimension(info_bits), or use '
                         f'Codec.fit(..., method="gprs"))')


def _from_pickle(data, backend, chunk):
    return Codec.from_bytes(data, backend, chunk=chunk)


def _like(array, reference):
    return like(array, reference)
