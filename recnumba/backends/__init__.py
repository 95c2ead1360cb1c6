"""Backends: where the search and the decoding run. One module per backend, found through a registry.

A backend module provides

* ``NAME``: its name (``encode(..., backend=NAME)``);
* ``is_available() -> (bool, reason)``: whether it can run here, and why not;
* ``select(pair_tag, targets, grid, spec, block_ids, out)``: fill ``out`` (a
  ``recnumba.search.params.SearchOutput``) for (B, D, 2) standardised targets, following
  ``recnumba.search.policy``;
* ``decode(prior_tag, indices, loc, scale, grid, seed, block_ids, out)``: fill ``out`` (B, D);
* ``AUTO_MIN_BLOCKS`` (accelerators only): ``backend="auto"`` uses it from this many blocks.

Every backend must return the CPU's indices, step counts and sample bits (the tests check it).
Register a new one with ``register_backend(name, "package.module")``; it is imported on first use.
"""

import importlib

__all__ = ["BACKENDS", "BackendUnavailable", "register_backend", "resolve"]


class BackendUnavailable(ValueError):
    """A backend was asked for by name, but it cannot run here (missing package or device)."""


#: name -> module path; "auto" tries the accelerators in this order, then the CPU.
_MODULES = {"cpu": "recnumba.backends.cpu", "cuda": "recnumba.backends.cuda"}
_loaded = {}
#: ``backend="auto"`` runs on an accelerator from this many blocks per call (fewer do not fill it).
AUTO_MIN_BLOCKS = {"cuda": 256}


def register_backend(name, module_path):
    """Register backend ``name``, implemented by the module at ``module_path`` (imported lazily)."""
    if not isinstance(name, str) or not name or name == "auto":
        raise ValueError(f'backend name must be a non-empty string other than "auto"; got {name!r}')
    _MODULES[name] = module_path
    _loaded.pop(name, None)


def backend_names():
    return tuple(_MODULES) + ("auto",)


BACKENDS = backend_names()


def _load(name):
    """(module or None, reason) for a registered backend; cached."""
    if name not in _loaded:
        try:
            module = importlib.import_module(_MODULES[name])
        except ImportError as error:  # e.g. numba without a CUDA target
            _loaded[name] = (None, f"it could not be imported ({error})")
        else:
            available, reason = module.is_available()
            _loaded[name] = (module if available else None, reason)
    return _loaded[name]


_INSTALL_HINTS = {"cuda": 'numba-cuda (pip install "recnumba[cuda]") and a CUDA GPU'}


def resolve(backend, num_blocks):
    """The backend module for ``backend`` ("cpu", "cuda", ..., or "auto") and a call of ``num_blocks``."""
    if backend != "auto" and backend not in _MODULES:
        raise ValueError(f"backend must be one of {', '.join(repr(b) for b in backend_names())}; got {backend!r}")
    if backend == "auto":
        for name in _MODULES:
            if name == "cpu":
                continue
            # (small "auto" batches never start an accelerator's driver)
            if num_blocks >= AUTO_MIN_BLOCKS.get(name, 1):
                module, _ = _load(name)
                if module is not None:
                    return module
        return _load("cpu")[0]
    module, reason = _load(backend)
    if module is None:
        needs = _INSTALL_HINTS.get(backend, f"the {backend} backend")
        raise BackendUnavailable(
            f'backend="{backend}" needs {needs}, but {reason}; use backend="cpu" or "auto"'
        )
    return module


