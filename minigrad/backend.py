"""Backends: where a Tensor's numbers live.

A backend is a small object around an *array module* ``xp`` (``numpy`` on the CPU, ``cupy`` on
an NVIDIA GPU) plus the few things the array API does not give us:

* ``to_host(a)``       -> a NumPy copy (the one explicit way off the device; never shares memory),
* ``scatter_add(t, index, v)`` -> ``t[index] += v`` with repeated indices summed,
* ``rng(seed)``        -> a seeded random generator that makes arrays on this device,
* ``synchronize()``    -> wait for queued device work (timing needs it; NumPy has none).

Every primitive asks its inputs for their backend and calls ``backend.xp.<function>``; nothing in
the engine calls ``numpy`` on tensor data directly.  That single rule is what lets the same code
run on CuPy.  The decision "which array module?" is taken once, here, never with
``if xp is numpy`` scattered through the code.

Devices are named as the field names them: ``"cpu"`` and ``"cuda"`` (``"cuda:1"`` for a second
GPU).  A third device, ``"strict"``, is NumPy behind a wrapper that refuses every implicit
conversion to the host, as CuPy does; the test suite runs on it to prove, without a GPU, that
nothing in the code would break or silently copy on one (see ``minigrad/strict.py``).

The default device comes from the ``MINIGRAD_DEVICE`` environment variable (``cpu`` if unset).
"""
from __future__ import annotations

import os

import numpy as np


class BackendError(RuntimeError):
    """A device was asked for that cannot be had (no CuPy, no GPU, unknown name)."""


class TraceError(RuntimeError):
    """A traced function did something that a replay could not reproduce (see
    :mod:`minigrad.trace`; defined here, below every module that raises it)."""


class Backend:
    """The interface every backend implements. ``xp`` is its array module."""

    name: str            # "cpu", "cuda", "strict"
    device: str          # the device string tensors report, e.g. "cuda:0"
    xp: object           # numpy-compatible array module
    default_float: np.dtype
    tracing = False      # True on mg.trace's stand-in backend while a function is traced (a class
                         # attribute: a miss would go through __getattr__ to the array module)

    def asarray(self, data, dtype=None):
        """Put ``data`` (Python numbers, lists, NumPy arrays) on this device."""
        return self.xp.asarray(data, dtype=dtype)

    def to_host(self, a) -> np.ndarray:
        """A NumPy copy of an array of this backend (explicit, synchronizing).

        Always a copy, on every device, so that writing into it never changes a tensor."""
        raise NotImplementedError

    def scatter_add(self, target, index, values) -> None:
        """``target[index] += values``, summing over repeated indices, in place."""
        raise NotImplementedError

    def rng(self, seed):
        """A seeded generator with ``standard_normal``, ``random`` and ``integers``."""
        return self.xp.random.default_rng(seed)

    def check_index_range(self, index, n: int, name: str, axis: int) -> None:
        """Refuse (IndexError) an ``index`` array holding a value outside [0, n), for ``name``'s
        dimension ``axis`` of size n.  Reads the smallest and largest value back: one sync on a
        GPU.  (A method of the backend, so that a traced program checks on every replay.)"""
        if index.size == 0:
            return
        low, high = (int(v) for v in self.to_host(self.xp.stack([self.xp.min(index), self.xp.max(index)])))
        if low < 0 or high >= n:
            raise IndexError(f"{name}: index values must be in [0, {n}) for dimension {axis} of size {n}, "
                             f"got values from {low} to {high} (negative indices are not counted from the end)")

    def synchronize(self) -> None:
        """Wait until all queued work on the device is done (no-op on the CPU)."""

    def __getattr__(self, name):
        """Anything else is the array module's: ``backend.tanh`` is ``xp.tanh``.

        So a primitive's forward can take the backend as its ``xp`` and still reach the extras
        above (``xp.scatter_add``). The function found is cached on the instance.
        """
        if name.startswith("__") or name == "xp":
            raise AttributeError(name)
        value = getattr(self.xp, name)
        setattr(self, name, value)
        return value

    def __repr__(self) -> str:
        return f"<minigrad backend {self.device!r} ({self.xp.__name__})>"


class NumpyBackend(Backend):
    name = device = "cpu"
    xp = np
    default_float = np.dtype(np.float64)

    def to_host(self, a):
        return np.array(a, copy=True)

    def scatter_add(self, target, index, values):
        np.add.at(target, index, values)


class CupyBackend(Backend):
    """CuPy on one NVIDIA GPU. CuPy is imported here, only when a "cuda" device is asked for."""

    name = "cuda"
    default_float = np.dtype(np.float32)

    def __init__(self, index: int = 0):
        try:
            import cupy
        except ImportError as e:  # pragma: no cover - depends on the machine
            raise BackendError(
                "device 'cuda' needs CuPy, which is not installed: pip install 'minigrad[gpu]' "
                "(or the cupy-cudaXXx wheel matching your CUDA). Available here: 'cpu', 'strict'."
            ) from e
        try:
            count = cupy.cuda.runtime.getDeviceCount()
        except Exception as e:  # pragma: no cover - depends on the machine
            raise BackendError(f"device 'cuda': CuPy is installed but found no usable GPU ({e})") from e
        if index >= count:  # pragma: no cover - depends on the machine
            raise BackendError(f"device 'cuda:{index}' asked for, but this machine has {count} GPU(s)")
        self.xp = cupy
        self.index = index
        self.device = f"cuda:{index}"
        self._cupy_device = cupy.cuda.Device(index)
        self._cupy_device.use()

    def to_host(self, a):  # pragma: no cover - needs a GPU
        return self.xp.asnumpy(a)

    def scatter_add(self, target, index, values):  # pragma: no cover - needs a GPU
        import cupyx
        cupyx.scatter_add(target, index, values)

    def synchronize(self):  # pragma: no cover - needs a GPU
        self.xp.cuda.Device(self.index).synchronize()


_BACKENDS: dict[str, Backend] = {}          # device string -> its backend, made on first use
_DEVICES: dict = {"cpu": NumpyBackend}      # device name -> how to make its backend


def register_device(name: str, make) -> None:
    """Make ``make()`` the backend of device ``name`` (``strict.py`` registers "strict" so)."""
    _DEVICES[name] = make


def _normalize(device) -> str:
    if isinstance(device, Backend):
        return device.device
    if device is None:
        device = os.environ.get("MINIGRAD_DEVICE", "cpu") or "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be a string such as 'cpu' or 'cuda', got {device!r}")
    device = device.strip().lower()
    if device == "cuda":
        device = "cuda:0"
    return device


def get_backend(device=None) -> Backend:
    """The backend for a device string (``None``: ``$MINIGRAD_DEVICE`` or ``"cpu"``)."""
    if isinstance(device, Backend):
        return device
    key = _normalize(device)
    backend = _BACKENDS.get(key)
    if backend is not None:
        return backend
    if key in _DEVICES:
        backend = _DEVICES[key]()
    elif key.startswith("cuda:") and key[5:].isdigit():
        backend = CupyBackend(int(key[5:]))
    else:
        names = ["'cpu'", "'cuda'", "'cuda:N'"] + [repr(n) for n in _DEVICES if n != "cpu"]
        raise BackendError(f"unknown device {device!r}: use {', '.join(names[:-1])} or {names[-1]}")
    _BACKENDS[key] = backend
    return backend


def cuda_is_available() -> bool:
    """True when CuPy imports and sees at least one GPU. Never raises."""
    try:
        get_backend("cuda")
        return True
    except Exception:
        return False
