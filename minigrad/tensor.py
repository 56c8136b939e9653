"""Tensor: an array on a device, plus what autodiff needs to know about it.

A Tensor holds

* ``data``          the backend array (``numpy.ndarray``, ``cupy.ndarray``, ...),
* ``requires_grad`` whether gradients should flow to it,
* ``grad``          its gradient after ``backward()`` (a Tensor; *accumulated*, see below),
* ``_node``         the :class:`~minigrad.autograd.Node` that made it (``None`` for a leaf),
* ``_version``      ``[count, stamp]`` of the in-place changes of its data (see below).

This file says what a Tensor *is*.  What you can do with one (``+ - * / ** @``, ``.tanh()``,
``.sum()``, ``.backward()``) is built in the modules above it and attached to the class in
:mod:`minigrad.methods`, so that every module imports only the ones below it.

Gradients accumulate: each ``backward()`` *adds* into ``.grad`` of the leaves, as in PyTorch, so
that several losses can contribute before one update.  Clear them between updates with
``tensor.zero_grad()``, ``module.zero_grad()`` or ``optimizer.zero_grad()``.

In-place changes are counted.  Every assignment to ``.data`` (``x.data = a``, ``x.data -= lr * g``)
and every in-place method (``x[i] = v``, ``x.add_(y)``, ``x.zero_()``) is a change: it adds one to
the tensor's ``version`` and stamps the data with the number of changes made so far anywhere
(``CHANGES``).  Both live in one small list shared by the tensors that share the array
(``detach()`` shares it).  A node that keeps a tensor for its derivative notes ``CHANGES``; if a
kept value carries a later stamp when backward reaches the node, the gradient would be silently
wrong, and backward refuses.  (When nothing changed anywhere since the node was made, that is
one comparison.)  Writing into the array behind minigrad's back (``x.data[0] = 1``) is not
seen: use ``x[0] = 1``.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from .backend import Backend, get_backend


_NUMPY_SCALARS = frozenset(t for t in np.sctypeDict.values() if issubclass(t, np.generic))
CHANGES = [0]       # in-place changes made so far, to any tensor (see "In-place changes" above)


class BuiltinNames:
    """Tensor's base class, the home of its methods named like builtins (``.int()``, ``.bool()``,
    ``.float()``; attached by :mod:`minigrad.methods`), so that Tensor's own namespace never
    hides the builtins ``int``, ``bool``, ``float`` from tools that read its annotations."""

    __slots__ = ()


class Tensor(BuiltinNames):
    __slots__ = ("_data", "_version", "backend", "_requires_grad", "_grad", "_node", "name", "_hooks", "__weakref__")
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
        if arr is data or (type(arr) is np.ndarray and isinstance(data, np.ndarray)
                           and np.may_share_memory(arr, data)):
            arr = arr.copy()                 # a tensor owns its data, as torch.tensor's does
        if arr.dtype.kind not in "biuf":    # complex (the derivatives here are those of real functions),
            raise TypeError(f"minigrad tensors hold bool, integer or floating-point numbers, got dtype "
                            f"{arr.dtype} from {type(data).__name__}: complex numbers are not supported, "
                            "nor strings, None or integers beyond 64 bits")
        if dtype is None and arr.dtype == np.uint64 and not isinstance(data, (np.ndarray, np.generic)):
            raise OverflowError("tensor: a Python int does not fit in int64 (as in PyTorch, it is not "
                                "stored as uint64); give dtype='uint64' if that is meant")
        if requires_grad and not _is_float(arr.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {arr.dtype}")
        self._data, self._version, self.backend, self._requires_grad = arr, [0, 0], backend, bool(requires_grad)
        self._grad = self._node = self._hooks = None
        self.name = name

    @staticmethod
    def _wrap(data, backend: Backend) -> "Tensor":
        """The fast constructor primitives use: no conversion, no checks (but NumPy's scalars,
        which its 0-d operations return, become 0-d arrays: a Tensor always holds an array)."""
        if data.__class__ in _NUMPY_SCALARS:
            data = np.asarray(data)
        t = Tensor.__new__(Tensor)
        t._data, t._version, t.backend, t._requires_grad = data, [0, 0], backend, False
        t._grad = t._node = t.name = t._hooks = None
        return t

    # ----------------------------------------------------------------- the data, versioned
    def _set_data(self, value):
        """``x.data = value``: ``value`` is an array of the tensor's backend, or a Tensor (whose
        array is then shared, as in PyTorch); the shape may change.  Lists, numbers and the like
        are refused (``x.data = [1, 2]`` would otherwise leave a list where an array belongs)."""
        if isinstance(value, Tensor):
            if value.backend is not self.backend:
                raise DeviceMismatchError(f"x.data = value: the value is on {value.device!r}, the tensor "
                                          f"on {self.device!r}; move it with .to(device) first")
            value = value._data
        elif isinstance(value, np.generic):
            value = np.asarray(value)                # a NumPy scalar: a 0-d array, as _wrap makes
        dtype = getattr(value, "dtype", None)
        if dtype is None or not hasattr(value, "shape") or np.dtype(dtype).kind not in "biuf":
            raise TypeError(f"x.data = value takes an array or a Tensor of bool, integer or floating "
                            f"numbers, got {type(value).__name__}"
                            + (f" of dtype {dtype}" if dtype is not None else ""))
        if self._requires_grad and np.dtype(dtype).kind != "f":
            raise TypeError(f"x.data = value: the tensor requires grad, so the value must be floating-point, "
                            f"got dtype {dtype}")
        self._data = value
        self._bump()

    data = property(lambda self: self._data, _set_data,
                    doc="The backend array. Assigning to it counts as an in-place change.")
    version = property(lambda self: self._version[0],
                       doc="How many in-place changes the data has seen (shared with detach()).")

    def _set_requires_grad(self, flag):
        """``x.requires_grad = flag``, checked as PyTorch checks it: only floating-point tensors
        can require gradients, and only a leaf's flag can be turned off (a computed tensor's
        flag says that its graph reaches a leaf that requires grad; ``detach()`` cuts it)."""
        flag = bool(flag)
        if flag == self._requires_grad:
            return
        if self._node is not None:
            raise RuntimeError("requires_grad = False on a non-leaf tensor (one computed from tensors "
                               "that require grad): use y = x.detach() instead")
        if flag and not _is_float(self.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self._requires_grad = flag

    requires_grad = property(lambda self: self._requires_grad, _set_requires_grad,
                             doc="Whether gradients flow to this tensor (set on leaves only).")

    def _set_grad(self, g):
        """``x.grad = g``, checked as PyTorch checks it: None, or a Tensor of x's shape, dtype and
        device (backward adds into it: a float32 ``.grad`` of a float64 leaf would take float64
        sums, one of another shape would broadcast them).  minigrad's own writes, which fit by
        construction (backward, the optimizers, a traced replay), set ``_grad`` directly."""
        if g is not None:
            if not isinstance(g, Tensor):
                raise TypeError(f"x.grad = g: g must be None or a Tensor, got {type(g).__name__}")
            if g is self:
                raise RuntimeError("x.grad = x: a tensor cannot be its own gradient")
            check_fits(g, self, "x.grad = g: g", "x")
        self._grad = g

    grad = property(lambda self: self._grad, _set_grad,
                    doc="The gradient accumulated by backward(): None or a Tensor of this tensor's "
                        "shape, dtype and device.")

    def _bump(self) -> "Tensor":
        """Note one in-place change of the data: its count, and its stamp (see CHANGES)."""
        CHANGES[0] += 1
        self._version[0] += 1
        self._version[1] = CHANGES[0]
        return self

    # ----------------------------------------------------------------- what it is
    shape = property(lambda self: self._data.shape)
    dtype = property(lambda self: np.dtype(self._data.dtype))
    ndim = property(lambda self: self._data.ndim)
    size = property(lambda self: Size(self._data.size, self._data.shape),
                    doc="The number of elements, an int (NumPy's ``size``) that PyTorch's habit can "
                        "also call: ``x.size()`` is the shape, ``x.size(d)`` its length along d.")
    device = property(lambda self: self.backend.device)
    is_leaf = property(lambda self: self._node is None)
    node = property(lambda self: self._node, doc="The Node that made this tensor (None for a leaf).")

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
        """A NumPy **copy** of the data, on every device (never part of the graph).

        Writing into the result never changes the tensor.  (PyTorch's ``.numpy()`` shares memory
        on the CPU and refuses GPU tensors; minigrad copies everywhere, so code behaves the same
        on every device.  ``numpy.asarray(t)`` on a CPU tensor is the sharing, CPU-only way.)
        """
        return self.backend.to_host(self._data)

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
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        """A 0-d integer tensor as a Python int where Python wants an index (``range(t)``,
        ``items[t]``, ``a[t:]``).  Only 0-d: a one-element 1-D tensor would then index NumPy
        arrays as a number, no longer as an array (PyTorch also takes those, and bools)."""
        if self.ndim != 0 or self.dtype.kind not in "iu":
            raise TypeError(f"only 0-d integer tensors can be used as an index, got one of shape "
                            f"{self.shape} and dtype {self.dtype}")
        return int(self.item())

    def __bool__(self):
        if self.size != 1:
            raise ValueError(f"the truth value of a tensor of shape {self.shape} is ambiguous; use .any() or .all()")
        return bool(self.item())

    __hash__ = object.__hash__      # tensors are dict keys by identity; == is elementwise

    # ----------------------------------------------------------------- graph bookkeeping
    def detach(self) -> "Tensor":
        """The same data (shared, not copied, with its version counter) with no graph."""
        t = Tensor._wrap(self._data, self.backend)
        t._version = self._version
        return t

    def detach_(self) -> "Tensor":
        """Make this tensor a leaf that does not require grad, in place (``torch.Tensor.detach_``);
        it keeps its data, and graphs recorded before still run through the node that made it
        (first derivatives are unchanged: they read only values).  A graph that kept it for a
        gradient refuses to record a gradient through it (``create_graph``): it would now see
        a constant and lose the dependence (see ``Node.check_versions``).  Returns the tensor."""
        self._node, self._requires_grad = None, False
        CHANGES[0] += 1                              # so that the nodes that kept it check
        return self

    def detach_copy(self) -> "Tensor":
        return Tensor._wrap(self._data.copy(), self.backend)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and not _is_float(self.dtype):
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        if not flag and self._node is not None:
            raise RuntimeError("requires_grad_(False) on a non-leaf tensor: use .detach()")
        self.requires_grad = bool(flag)
        return self

    def retain_grad(self) -> "Tensor":
        """Keep ``.grad`` on this intermediate (non-leaf) tensor after backward (on a leaf that
        requires grad: nothing to do, it keeps it anyway).  Refused on a tensor that does not
        require grad, as in PyTorch: it gets no gradient, its ``.grad`` would stay None."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad() on a tensor that does not require grad: no gradient "
                               "reaches it (make the leaves it comes from with requires_grad=True)")
        if self._node is not None:
            self._node.retained = weakref.ref(self)
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient (``.grad = None``)."""
        self._grad = None


# --------------------------------------------------------------------------- helpers
class Size(int):
    """``x.size``: the number of elements, an ``int`` as NumPy's ``size`` (``x.size == 1``,
    ``n = x.size``), that can also be called as PyTorch's method: ``x.size()`` is the shape (a
    tuple), ``x.size(d)`` the length along dim ``d`` (negative counts from the end).  So code of
    either habit reads right; ``x.numel()`` and ``x.shape`` are the unambiguous spellings."""

    def __new__(cls, count: int, shape: tuple):
        self = super().__new__(cls, int(count))
        self._shape = tuple(int(n) for n in shape)
        return self

    def __call__(self, dim=None):
        if dim is None:
            return self._shape
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
            raise TypeError(f"size(dim): dim is one int, got {dim!r}")
        if not self._shape:
            raise IndexError(f"size({dim}): a 0-d tensor has no dims; size() is its shape, ()")
        if not -len(self._shape) <= dim < len(self._shape):
            raise IndexError(f"size({dim}): dim out of range for a tensor of shape {self._shape} "
                             f"(allowed: {-len(self._shape)} to {len(self._shape) - 1})")
        return self._shape[dim]

    def __reduce__(self):
        return int, (int(self),)                     # pickled (and copied) as the plain count


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
    check_fits(grad, like, "backward(): grad", "the output")
    return grad


def check_fits(t: Tensor, like: Tensor, what: str, other: str) -> None:
    """Raise unless ``t`` has exactly ``like``'s device, shape and dtype (no broadcasting, no
    casting): for gradients, which must fit the value they belong to."""
    if t.backend is not like.backend:
        raise DeviceMismatchError(f"{what} is on {t.device!r}, {other} on {like.device!r}")
    if t.shape != like.shape:
        raise ValueError(f"{what} has shape {t.shape}, {other} {like.shape}; they must be equal")
    if t.dtype != like.dtype:
        raise TypeError(f"{what} has dtype {t.dtype}, {other} {like.dtype}; they must be equal")


class DeviceMismatchError(RuntimeError):
    """One operation received tensors that live on different devices."""


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


def _shape(shape) -> tuple:
    """``(2, 3)``, ``[2, 3]`` or ``2``, and PyTorch's ``zeros(2, 3)`` (given as a tuple of ints)."""
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    shape = tuple(shape)
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    if not all(isinstance(n, (int, np.integer)) and n >= 0 for n in shape):
        raise ValueError(f"a shape is a tuple of non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _filled(fill, shape, dtype, device, requires_grad):
    backend = get_backend(device)
    dtype = backend.default_float if dtype is None else np.dtype(dtype)
    if dtype.kind in "biu" and isinstance(fill, (float, np.floating)) and not math.isfinite(fill):
        raise ValueError(f"cannot fill a {dtype} tensor with {fill}: it has no integer value")
    t = Tensor._wrap(backend.full(_shape(shape), fill, dtype=dtype), backend)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros: ``zeros((2, 3))`` or ``zeros(2, 3)``."""
    return _filled(0, shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _filled(1, shape, dtype, device, requires_grad)


def full(shape, value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ``shape`` filled with ``value``.  Without ``dtype`` the dtype follows the
    value, as in PyTorch: bool for a bool, int64 for an int, the device's default float for a
    float (``full((2,), 3)`` is int64, not a float tensor)."""
    if dtype is None and isinstance(value, (bool, np.bool_)):
        dtype = np.bool_
    elif dtype is None and isinstance(value, (int, np.integer)):
        dtype = np.int64
    return _filled(value, shape, dtype, device, requires_grad)


def zeros_like(t: Tensor, requires_grad=False, *, dtype=None, device=None) -> Tensor:
    """Zeros of ``t``'s shape, and of its dtype and device unless given."""
    return full_like(t, 0, dtype=dtype, device=device, requires_grad=requires_grad)


def ones_like(t: Tensor, requires_grad=False, *, dtype=None, device=None) -> Tensor:
    """Ones of ``t``'s shape, and of its dtype and device unless given."""
    return full_like(t, 1, dtype=dtype, device=device, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value, *, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``fill_value`` in ``t``'s shape, and in its dtype and device unless given (PyTorch's rule:
    ``full_like(int_tensor, 2.5)`` is an int tensor of 2s)."""
    return _filled(fill_value, t.shape, t.dtype if dtype is None else dtype,
                   t.device if device is None else device, requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A CPU tensor that **shares memory** with the NumPy ``array`` (``torch.from_numpy``): the
    dtype is kept, and a change made through either is seen by the other.

    Writes made through the array are not counted as in-place changes (see the module
    docstring): change it only when no graph has kept it for a gradient.  The array stays on
    the host; for another device use :func:`tensor` (a copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy takes a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.kind not in "biuf":
        raise TypeError(f"from_numpy: dtype {array.dtype} is not supported: use bool, integer or floating arrays")
    return Tensor._wrap(array, get_backend("cpu"))


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, without a copy where none is needed (``torch.as_tensor``): a Tensor
    already of that dtype and device is returned itself (graph and all, else converted with
    ``astype`` / ``to``, which are differentiable); a NumPy array headed for the CPU in its own dtype
    is shared (:func:`from_numpy`); anything else is copied, as by :func:`tensor`."""
    if isinstance(data, Tensor):
        if dtype is not None and np.dtype(dtype) != data.dtype:
            data = data.astype(dtype)
        return data if device is None else data.to(device)
    if (isinstance(data, np.ndarray) and get_backend(device).device == "cpu"
            and (dtype is None or np.dtype(dtype) == data.dtype)):
        return from_numpy(data)
    return tensor(data, dtype=dtype, device=device)


def arange(*args, dtype=None, device=None) -> Tensor:
    """``arange(stop)``, ``arange(start, stop[, step])``: int64 for integer arguments, else
    the device's default float (PyTorch's rule)."""
    backend = get_backend(device)
    if len(args) == 3 and args[2] == 0:
        raise ValueError("arange: step must be nonzero")
    if 1 <= len(args) <= 3:
        start, end, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
        if (end < start) if step > 0 else (end > start):     # PyTorch refuses; NumPy gives empty
            where, hint = ("below", "; count down with a negative step") if step > 0 else ("above", "")
            raise ValueError(f"arange({', '.join(map(str, args))}): end {end} lies {where} start {start} "
                             f"for the step {step}, inconsistent with its sign{hint} (start == end is empty)")
    integral = all(isinstance(a, (int, np.integer)) or float(a).is_integer() for a in args)
    if dtype is None:
        dtype = np.int64 if all(isinstance(a, (int, np.integer)) for a in args) else backend.default_float
    elif np.dtype(dtype).kind in "biu" and not integral:
        raise ValueError(f"arange: an integer dtype needs integer start, end and step, got {args}; "
                         "use a float dtype (NumPy's arange would step by 0 here, filling with start)")
    return Tensor._wrap(backend.arange(*args, dtype=dtype), backend)


def linspace(start, stop, num: int = None, dtype=None, device=None, *, steps: int = None) -> Tensor:
    """``num`` evenly spaced values from ``start`` to ``stop``, both included (``steps=``: PyTorch's
    name for ``num``)."""
    if (num is None) == (steps is None):
        raise TypeError("linspace: give the number of values once, as num (NumPy) or steps= (PyTorch)")
    num = num if steps is None else steps
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 0:
        raise ValueError(f"linspace: num must be a non-negative int, got {num!r}")
    backend = get_backend(device)
    return Tensor._wrap(backend.linspace(start, stop, int(num), dtype=dtype or backend.default_float), backend)


def eye(n: int, m: int | None = None, dtype=None, device=None) -> Tensor:
    """The n x m identity (``m`` defaults to ``n``)."""
    backend = get_backend(device)
    return Tensor._wrap(backend.eye(n, m, dtype=dtype or backend.default_float), backend)
