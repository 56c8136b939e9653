"""Seeded random numbers made directly on a device.

``Generator(seed, device)`` wraps the backend's own generator (NumPy's or CuPy's
``default_rng``), so random tensors are born where they are used and a run with the same seed
and device gives the same numbers.  (CPU and GPU generators differ: the same seed gives
different numbers on "cpu" and "cuda".)
"""
from __future__ import annotations

import numpy as np

from .backend import get_backend
from .tensor import Tensor


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


def _shape(shape):
    return (shape,) if isinstance(shape, int) else tuple(shape)
