"""Seeded random numbers made directly on a device.

``Generator(seed, device)`` wraps the backend's own generator (NumPy's or CuPy's
``default_rng``), so random tensors are born where they are used and a run with the same seed
and device gives the same numbers.  (CPU and GPU generators differ: the same seed gives
different numbers on "cpu" and "cuda".)

The functions that draw as they compute live here too: :func:`dropout` (its mask) and
:func:`rrelu` in training mode (its slopes), from a Generator passed in or the default one of
the input's device, so that ``mg.manual_seed`` makes them repeat.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .backend import TraceError, get_backend
from .elementwise import _number, leaky_relu
from .tensor import DeviceMismatchError, Tensor, _shape


class Generator:
    def __init__(self, seed=0, device=None):
        self.backend = get_backend(device)
        self.device = self.backend.device
        self.seed = seed
        self._rng = self.backend.rng(seed)

    def _draw(self):
        """The backend's generator, refused while this device is being traced: a generator made
        before ``mg.trace`` started (the default one, after any earlier draw) would otherwise
        draw once and freeze the numbers into the trace, or fail as a foreign tensor."""
        if get_backend(self.device).tracing:
            raise TraceError("random numbers inside a traced function (mg.trace) would be drawn once and "
                             "frozen into the trace: draw them outside and pass them in")
        return self._rng

    def _dtype(self, dtype):
        return self.backend.default_float if dtype is None else np.dtype(dtype)

    def _wrap(self, a, dtype):
        return Tensor._wrap(a.astype(self._dtype(dtype), copy=False), self.backend)

    def normal(self, shape, mean: float = 0.0, std: float = 1.0, dtype=None) -> Tensor:
        """Samples of N(mean, std²)."""
        return self._wrap(self._draw().standard_normal(_shape(shape)) * std + mean, dtype)

    def uniform(self, shape, low: float = 0.0, high: float = 1.0, dtype=None) -> Tensor:
        """Samples of U[low, high)."""
        return self._wrap(self._draw().random(_shape(shape)) * (high - low) + low, dtype)

    def integers(self, low: int, high: int, shape) -> Tensor:
        """Integers uniform in [low, high) (int64)."""
        return Tensor._wrap(self._draw().integers(low, high, _shape(shape)).astype(np.int64), self.backend)

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


# --------------------------------------------------------------------------- random masks and slopes
def _generator_for(name: str, x: Tensor, generator: Generator | None) -> Generator:
    """``generator`` (it must live on x's device), or the default one of x's device."""
    if x.backend.tracing:
        raise TraceError(f"{name}: random numbers inside a traced function (mg.trace) would be drawn once "
                         "and frozen into the trace: draw the mask outside (mg.rand_like) and pass it in")
    if generator is None:
        return _default(x.device)
    if not isinstance(generator, Generator):
        raise TypeError(f"{name}: generator must be an mg.Generator, got {type(generator).__name__}")
    if generator.backend is not x.backend:
        raise DeviceMismatchError(f"{name}: the generator is on {generator.device!r}, the input on {x.device!r}; "
                                  f"make it with mg.Generator(seed, device={x.device!r})")
    return generator


def _float_input(name: str, x: Tensor) -> None:
    if not isinstance(x, Tensor) or x.dtype.kind != "f":
        what = f"dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"{name}: the input must be a floating tensor, got {what}")


def dropout(x: Tensor, p=0.5, training: bool = True, generator: Generator | None = None, *,
            inplace: bool = False) -> Tensor:
    """Inverted dropout, as ``torch.nn.functional.dropout``: each element is zeroed with
    probability ``p`` and the kept ones are scaled by 1/(1 - p), so the mean is unchanged.

        out = x · m,   m_i = [u_i ≥ p] / (1 - p),  u_i ~ U[0, 1)        x̄ = ḡ · m

    The mask is drawn on x's device from ``generator`` or the device's default generator
    (seeded by :func:`manual_seed`): the same seed gives the same mask.  It enters as a
    constant, so the gradient is exact (a composition: ``x * const(m)``).  ``training=False``
    returns x itself; ``p = 0`` returns x; ``p = 1`` gives zeros (gradient 0).  ``p`` outside
    [0, 1] is an error; ``inplace=True`` is not provided (minigrad's ops make new tensors)."""
    _float_input("dropout", x)
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"dropout: p must be a probability, 0 <= p <= 1, got {p!r}")
    if inplace:
        raise ValueError("dropout: inplace=True is not supported (minigrad's ops make new tensors); "
                         "write x = mg.dropout(x, p)")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    u = _generator_for("dropout", x, generator)._rng.random(x.shape)
    mask = (u >= p).astype(x.dtype) * (1 / (1 - float(p)))
    return ops.mul(x, ops.const(mask, x))


def rrelu(x: Tensor, lower=1.0 / 8, upper=1.0 / 3, training: bool = False, inplace: bool = False, *,
          generator: Generator | None = None) -> Tensor:
    """``F.rrelu``: x where x > 0, a · x elsewhere.

    * ``training=False`` (the default, as PyTorch's): leaky_relu with the mean slope
      a = (lower + upper) / 2.
    * ``training=True``: one slope a ~ U[lower, upper) per element, drawn on x's device from
      ``generator`` or the device's default generator (seeded by :func:`manual_seed`), as
      :func:`dropout` draws its mask.  A composition, ``where(x > 0, x, a · x)`` with a
      constant: x̄ = ḡ where x > 0, ḡ · a elsewhere (at 0 too, as PyTorch).

    (Here, not among the elementwise functions, because training mode draws random numbers.)"""
    lower, upper = _number("lower", lower), _number("upper", upper)
    if not lower <= upper:
        raise ValueError(f"rrelu: lower must not be greater than upper, got {lower} > {upper}")
    if inplace:
        raise ValueError("rrelu: inplace=True is not supported (minigrad's ops make new tensors)")
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    _float_input("rrelu", x)
    g = _generator_for("rrelu", x, generator)
    slopes = ops.const(g._rng.random(x.shape) * (upper - lower) + lower, x)
    return ops.where(x.data > 0, x, x * slopes)
