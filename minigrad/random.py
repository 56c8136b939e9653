"""Seeded random numbers made directly on a device.

``Generator(seed, device)`` wraps the backend's own generator (NumPy's or CuPy's
``default_rng``), so random tensors are born where they are used and a run with the same seed
and device gives the same numbers.  (CPU and GPU generators differ: the same seed gives
different numbers on "cpu" and "cuda".)
"""
from __future__ import annotations

import numpy as np

from .backend import get_backend
from .tensor import Tensor, _shape


class Generator:
    def __init__(self, seed=0, device=None):
        self.backend = get_backend(device)
        self.device = self.backend.device
        self.seed = seed
        self._rng = self.backend.rng(seed)

    def _dtype(self, dtype):
        return self.backend.default_float if dtype is None else np.dtype(dtype)

    def _wrap(self, a, dtype):
        return Tensor._wrap(a.astype(self._dtype(dtype), copy=False), self.backend)

    def normal(self, shape, mean: float = 0.0, std: float = 1.0, dtype=None) -> Tensor:
        """Samples of N(mean, std²)."""
        return self._wrap(self._rng.standard_normal(_shape(shape)) * std + mean, dtype)

    def uniform(self, shape, low: float = 0.0, high: float = 1.0, dtype=None) -> Tensor:
        """Samples of U[low, high)."""
        return self._wrap(self._rng.random(_shape(shape)) * (high - low) + low, dtype)

    def integers(self, low: int, high: int, shape) -> Tensor:
        """Integers uniform in [low, high) (int64)."""
        return Tensor._wrap(self._rng.integers(low, high, _shape(shape)).astype(np.int64), self.backend)

    # PyTorch's names: the shape as separate ints or one tuple
    def randn(self, *shape, dtype=None, requires_grad=False) -> Tensor:
        """Standard normal samples: ``g.randn(2, 3)`` or ``g.randn((2, 3))``."""
        return self.normal(_shape(shape), dtype=dtype).requires_grad_(requires_grad)

    def rand(self, *shape, dtype=None, requires_grad=False) -> Tensor:
        """Samples of U[0, 1): ``g.rand(2, 3)``."""
        return self.uniform(_shape(shape), dtype=dtype).requires_grad_(requires_grad)

    def randint(self, low: int, high: int, shape) -> Tensor:
        """Integers uniform in [low, high) (int64), PyTorch's argument order."""
        return self.integers(low, high, shape)


_DEFAULT: dict = {}           # device -> the Generator behind mg.randn / mg.rand


def manual_seed(seed: int) -> None:
    """Seed the default generators of :func:`randn`, :func:`rand` and :func:`randint`."""
    _DEFAULT.clear()
    _DEFAULT["seed"] = seed


def _default(device) -> Generator:
    backend = get_backend(device)
    g = _DEFAULT.get(backend.device)
    if g is None:
        g = _DEFAULT[backend.device] = Generator(_DEFAULT.get("seed", 0), device=backend.device)
    return g


def randn(*shape, generator: Generator | None = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples of ``shape``, from ``generator`` or the device's default one
    (seeded by :func:`manual_seed`, 0 until then)."""
    g = generator or _default(device)
    return g.randn(*shape, dtype=dtype, requires_grad=requires_grad)


def rand(*shape, generator: Generator | None = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Samples of U[0, 1) of ``shape``; see :func:`randn`."""
    g = generator or _default(device)
    return g.rand(*shape, dtype=dtype, requires_grad=requires_grad)


def randint(low: int, high: int, shape, generator: Generator | None = None, device=None) -> Tensor:
    """Integers uniform in [low, high) (int64); see :func:`randn`."""
    return (generator or _default(device)).integers(low, high, shape)


def randn_like(t: Tensor, *, generator: Generator | None = None, dtype=None, device=None,
               requires_grad=False) -> Tensor:
    """Standard normal samples in ``t``'s shape, dtype and device (unless given); see
    :func:`randn` (``generator``: one of this device's, else the device's default)."""
    return randn(t.shape, generator=generator, dtype=_like_dtype("randn_like", t, dtype),
                 device=t.device if device is None else device, requires_grad=requires_grad)


def rand_like(t: Tensor, *, generator: Generator | None = None, dtype=None, device=None,
              requires_grad=False) -> Tensor:
    """Samples of U[0, 1) in ``t``'s shape, dtype and device (unless given); see :func:`rand`."""
    return rand(t.shape, generator=generator, dtype=_like_dtype("rand_like", t, dtype),
                device=t.device if device is None else device, requires_grad=requires_grad)


def _like_dtype(name: str, t: Tensor, dtype) -> np.dtype:
    """The floating dtype of a random tensor like ``t`` (an integer ``t`` needs ``dtype=``, as in PyTorch)."""
    dtype = t.dtype if dtype is None else np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{name}: samples are floating, and the dtype is {dtype}; pass dtype=, e.g. 'float64'")
    return dtype
