"""Tensor: an array on a device, plus what autodiff needs to know about it.

A Tensor holds

* ``data``          the backend array (``numpy.ndarray``, ``cupy.ndarray``, ...),
* ``requires_grad`` whether gradients should flow to it,
* ``grad``          its gradient after ``backward()`` (a Tensor; *accumulated*, see below),
* ``_node``         the :class:`~minigrad.autograd.Node` that made it (``None`` for a leaf).

Operators (``+ - * / ** @``, indexing, comparisons) and methods (``.tanh()``, ``.sum()``...) all
call the primitives in :mod:`minigrad.ops`; this file only wires them up.

Gradients accumulate: each ``backward()`` *adds* into ``.grad`` of the leaves, as in PyTorch, so
that several losses can contribute before one update.  Clear them between updates with
``tensor.zero_grad()``, ``module.zero_grad()`` or ``optimizer.zero_grad()``.
"""
from __future__ import annotations

import weakref

import numpy as np

from .backend import Backend, get_backend


class Tensor:
    __slots__ = ("data", "backend", "requires_grad", "grad", "_node", "name", "__weakref__")
    __array_ufunc__ = None          # `ndarray * tensor` calls Tensor.__rmul__, not NumPy

    def __init__(self, data, dtype=None, device=None, requires_grad: bool = False, name=None):
        """Make a leaf tensor; ``mg.tensor(...)`` is the same call. See :func:`tensor`."""
        if isinstance(data, Tensor):
            backend = data.backend if device is None else get_backend(device)
            data = data.data if data.backend is backend else backend.asarray(data.numpy())
        else:
            backend = get_backend(device)
        if dtype is None and _is_python_float_data(data):
            dtype = backend.default_float
        arr = backend.asarray(data, dtype=dtype)
        if requires_grad and not _is_float(arr.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {arr.dtype}")
        self.data, self.backend, self.requires_grad = arr, backend, bool(requires_grad)
        self.grad = self._node = None
        self.name = name

    @staticmethod
    def _wrap(data, backend: Backend) -> "Tensor":
        """The fast constructor primitives use: no conversion, no checks."""
        t = Tensor.__new__(Tensor)
        t.data, t.backend, t.requires_grad = data, backend, False
        t.grad = t._node = t.name = None
        return t

    # ----------------------------------------------------------------- what it is
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: np.dtype(self.data.dtype))
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: int(self.data.size))
    device = property(lambda self: self.backend.device)
    is_leaf = property(lambda self: self._node is None)
    node = property(lambda self: self._node, doc="The Node that made this tensor (None for a leaf).")
    T = property(lambda self: ops.permute(self, axes=tuple(reversed(range(self.ndim)))))
    mT = property(lambda self: ops.permute(self, axes=_swap_last_two(self.ndim)))

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __repr__(self):
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(", threshold=50)
        extra = [f"dtype={self.dtype}"]
        if self.device != "cpu":
            extra.append(f"device={self.device!r}")
        if self._node is not None:
            extra.append(f"op={self._node.op.name}")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return f"tensor({body}, {', '.join(extra)})"

    # ----------------------------------------------------------------- leaving the device
    def numpy(self) -> np.ndarray:
        """A NumPy copy of the data (copies from the GPU; never part of the graph)."""
        return self.backend.to_host(self.data)

    def item(self):
        """The value of a one-element tensor as a Python number (synchronizes with a GPU)."""
        if self.size != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __array__(self, dtype=None, copy=None):
        if self.device != "cpu":
            raise TypeError(f"a tensor on {self.device!r} is not converted to NumPy implicitly; use .numpy()")
        return self.data if dtype is None else self.data.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    __hash__ = object.__hash__      # tensors are dict keys by identity; == is elementwise

    # ----------------------------------------------------------------- autodiff
    def backward(self, grad=None, retain_graph: bool | None = None, create_graph: bool = False):
        """Add d(self)/d(leaf) . grad into ``.grad`` of every leaf this tensor depends on.

        ``grad`` is the cotangent of ``self`` (same shape); it may be omitted for a
        one-element tensor (then 1).  The graph is released afterwards unless
        ``retain_graph`` (default: ``create_graph``).  With ``create_graph=True`` the
        gradients are themselves differentiable tensors.
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad (it has no graph); "
                               "create the leaves with requires_grad=True")
        if grad is None:
            if self.size != 1:
                raise RuntimeError(
                    f"backward() without grad= works only on a one-element output; this one has "
                    f"shape {self.shape}: pass grad= of that shape (the cotangent dL/d(output))")
            grad = Tensor._wrap(self.backend.ones(self.data.shape, dtype=self.data.dtype), self.backend)
        else:
            grad = _as_cotangent(grad, self)
        if retain_graph is None:
            retain_graph = create_graph
        autograd.backprop([self], [grad], retain_graph=retain_graph, create_graph=create_graph)

    def detach(self) -> "Tensor":
        """The same data (shared, not copied) with no graph and no gradient."""
        return Tensor._wrap(self.data, self.backend)

    def detach_copy(self) -> "Tensor":
        return Tensor._wrap(self.data.copy(), self.backend)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and not _is_float(self.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach()")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this intermediate (non-leaf) tensor after backward."""
        if self._node is not None:
            self._node.retained = weakref.ref(self)
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self.grad = None

    # ----------------------------------------------------------------- devices and dtypes
    def to(self, device) -> "Tensor":
        """This tensor on another device ("cpu", "cuda", "strict"); differentiable."""
        target = get_backend(device)
        if target is self.backend:
            return self
        out = Tensor._wrap(target.asarray(self.backend.to_host(self.data)), target)
        autograd.record(ops.to_device, (self,), {"device": self.device}, out)
        return out

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def astype(self, dtype) -> "Tensor":
        return ops.astype(self, dtype=np.dtype(dtype))

    # ----------------------------------------------------------------- operators
    def __add__(self, o): return ops.add(self, o)
    def __radd__(self, o): return ops.add(o, self)
    def __sub__(self, o): return ops.sub(self, o)
    def __rsub__(self, o): return ops.sub(o, self)
    def __mul__(self, o): return ops.mul(self, o)
    def __rmul__(self, o): return ops.mul(o, self)
    def __truediv__(self, o): return ops.div(self, o)
    def __rtruediv__(self, o): return ops.div(o, self)
    def __pow__(self, o): return ops.pow(self, o)
    def __rpow__(self, o): return ops.pow(o, self)
    def __matmul__(self, o): return ops.matmul(self, o)
    def __rmatmul__(self, o): return ops.matmul(o, self)
    def __neg__(self): return ops.neg(self)
    def __pos__(self): return self
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.getitem(self, index)

    # comparisons: no gradient, boolean result
    def __lt__(self, o): return ops.compare("less", self, o)
    def __le__(self, o): return ops.compare("less_equal", self, o)
    def __gt__(self, o): return ops.compare("greater", self, o)
    def __ge__(self, o): return ops.compare("greater_equal", self, o)
    def __eq__(self, o): return ops.compare("equal", self, o)
    def __ne__(self, o): return ops.compare("not_equal", self, o)

    # ----------------------------------------------------------------- methods
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def abs(self): return ops.abs(self)
    def clip(self, low=None, high=None): return ops.clip(self, low, high)
    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def reshape(self, *shape): return ops.reshape(self, shape[0] if len(shape) == 1 else shape)
    def transpose(self, *axes): return ops.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def permute(self, *axes): return ops.permute(self, axes=tuple(axes[0] if len(axes) == 1 else axes))
    def broadcast_to(self, shape): return ops.broadcast_to(self, shape)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def expand_dims(self, axis): return ops.expand_dims(self, axis)
    unsqueeze = expand_dims
    def softmax(self, axis=-1): return ops.softmax(self, axis)
    def log_softmax(self, axis=-1): return ops.log_softmax(self, axis)
    def logsumexp(self, axis=-1, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def any(self): return Tensor._wrap(self.backend.any(self.data), self.backend)
    def all(self): return Tensor._wrap(self.backend.all(self.data), self.backend)


# --------------------------------------------------------------------------- helpers
_SWAPS: dict = {}


def _swap_last_two(ndim: int) -> tuple:
    axes = _SWAPS.get(ndim)
    if axes is None:
        if ndim < 2:
            raise ValueError(f".mT needs at least 2 dimensions, got {ndim}")
        axes = _SWAPS[ndim] = tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)
    return axes


def _is_float(dtype) -> bool:
    return np.issubdtype(np.dtype(dtype), np.floating)


def _is_python_float_data(data) -> bool:
    """True for Python floats and (nested) lists of them: these get the device's default dtype."""
    while isinstance(data, (list, tuple)) and data:
        data = data[0]
    return isinstance(data, float)


def _as_cotangent(grad, like: Tensor) -> Tensor:
    if not isinstance(grad, Tensor):
        grad = Tensor(grad, dtype=like.dtype, device=like.device)
    if grad.backend is not like.backend:
        raise autograd.DeviceMismatchError(f"backward(): grad is on {grad.device!r}, the output on {like.device!r}")
    if grad.shape != like.shape:
        raise ValueError(f"backward(): grad has shape {grad.shape}, the output has shape {like.shape}; they must match")
    if grad.dtype != like.dtype:
        raise TypeError(f"backward(): grad has dtype {grad.dtype}, the output {like.dtype}; they must match")
    return grad


# --------------------------------------------------------------------------- factories
def tensor(data, dtype=None, device=None, requires_grad: bool = False, name=None) -> Tensor:
    """A leaf tensor from Python numbers, lists, NumPy arrays or another tensor.

    Python floats get the device's default dtype (float64 on "cpu", float32 on "cuda");
    arrays keep theirs; ``dtype`` overrides both.  ``device`` defaults to ``$MINIGRAD_DEVICE``
    or "cpu".
    """
    if isinstance(data, Tensor):
        data = data.numpy()
    return Tensor(data, dtype=dtype, device=device, requires_grad=requires_grad, name=name)


def _filled(fill, shape, dtype, device, requires_grad):
    backend = get_backend(device)
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    dtype = backend.default_float if dtype is None else np.dtype(dtype)
    data = backend.full(shape, fill, dtype=dtype)
    t = Tensor._wrap(data, backend)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(0, shape, dtype, device, requires_grad)


def ones(shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(1, shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(value, shape, dtype, device, requires_grad)


def zeros_like(t: Tensor, requires_grad=False) -> Tensor:
    return zeros(t.shape, t.dtype, t.device, requires_grad)


def ones_like(t: Tensor, requires_grad=False) -> Tensor:
    return ones(t.shape, t.dtype, t.device, requires_grad)


def arange(*args, dtype=None, device=None) -> Tensor:
    backend = get_backend(device)
    return Tensor._wrap(backend.arange(*args, dtype=dtype), backend)


def eye(n: int, dtype=None, device=None) -> Tensor:
    backend = get_backend(device)
    return Tensor._wrap(backend.eye(n, dtype=dtype or backend.default_float), backend)


# Imported last: both build on Tensor, and Tensor's methods only need them at call time.
from . import autograd, ops  # noqa: E402
