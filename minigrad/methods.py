"""Tensor's operators and methods: ``x + y``, ``x @ W``, ``x.tanh()``, ``x.sum(dim=1)``, ``x.backward()``.

:mod:`minigrad.tensor` defines what a Tensor *is*; everything one can do with it is built in the
modules above that one.  This module, imported last by the package, attaches those operations
to the class, so that every module imports only the ones below it.  Each line says which
function a method is: reading ``x.softmax(-1)`` means reading ``ops.softmax``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import autograd, elementwise, functional, linalg, manipulation, ops, reductions
from .backward import backprop
from .tensor import BuiltinNames, Tensor, _as_cotangent, _shape, full, tensor


def backward(self, grad=None, retain_graph: bool | None = None, create_graph: bool = False, inputs=None):
    """Add ``grad · d(self)/d(leaf)`` (the vector-Jacobian product) into ``.grad`` of every leaf
    with ``requires_grad`` that this tensor depends on.

    ``grad`` is the cotangent of ``self`` (same shape); it may be omitted for a
    one-element tensor (then 1).  The graph is released afterwards unless
    ``retain_graph`` (default: ``create_graph``).  With ``create_graph=True`` the
    gradients are themselves differentiable tensors.  With ``inputs`` (Tensors, leaves or
    intermediate), only their ``.grad`` is accumulated into (:func:`functional.backward`).
    """
    if inputs is not None:
        functional.backward([self], [grad], retain_graph=retain_graph, create_graph=create_graph,
                            inputs=inputs)
        return
    if not self.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad (it has no graph); "
                           "create the leaves with requires_grad=True")
    if grad is None:
        if self.size != 1:
            raise RuntimeError(
                f"backward() without grad= works only on a one-element output; this one has "
                f"shape {self.shape}: pass grad= of that shape (the cotangent dL/d(output))")
        grad = Tensor._wrap(self.backend.ones(self._data.shape, dtype=self._data.dtype), self.backend)
    else:
        grad = _as_cotangent(grad, self)
    if retain_graph is None:
        retain_graph = create_graph
    backprop([self], [grad], retain_graph=retain_graph, create_graph=create_graph)


# --------------------------------------------------------------------------- operators
def _binary(op):
    """``self op other``.  (A lambda, not ``op`` itself: a Primitive is an object, not a function,
    and would not receive ``self``.)"""
    return lambda self, other: op(self, other)


def _swap(op):
    """``other op self`` for the reflected operators (``2 * x`` calls ``x.__rmul__(2)``)."""
    return lambda self, other: op(other, self)


def _unary(op):
    return lambda self: op(self)


def _compare(name):
    return lambda self, other: ops.compare(name, self, other)


OPERATORS = {
    "__add__": _binary(ops.add), "__radd__": _swap(ops.add),
    "__sub__": _binary(ops.sub), "__rsub__": _swap(ops.sub),
    "__mul__": _binary(ops.mul), "__rmul__": _swap(ops.mul),
    "__truediv__": ops.div, "__rtruediv__": _swap(ops.div),
    "__pow__": ops.pow, "__rpow__": _swap(ops.pow),
    "__matmul__": ops.matmul, "__rmatmul__": _swap(ops.matmul),
    "__floordiv__": _binary(elementwise.floor_divide), "__rfloordiv__": _swap(elementwise.floor_divide),
    "__mod__": _binary(elementwise.remainder), "__rmod__": _swap(elementwise.remainder),
    "__neg__": _unary(ops.neg), "__abs__": _unary(ops.abs), "__getitem__": ops.getitem,
    # comparisons: no gradient, a boolean result
    "__lt__": _compare("less"), "__le__": _compare("less_equal"),
    "__gt__": _compare("greater"), "__ge__": _compare("greater_equal"),
    "__eq__": _compare("equal"), "__ne__": _compare("not_equal"),
}


def _setitem(self, index, value):
    """``x[index] = value``: an in-place change (counted, see tensor.py).  Refused on a tensor
    that is part of a graph or a leaf that requires grad (the graph would be wrong)."""
    _check_in_place("x[index] = value", self, value)
    _check_writable(self, "x[index] = value")
    if isinstance(value, Tensor):
        value = _on_device(value, self)._data
    elif isinstance(value, (numbers.Number, np.generic)):
        _check_number(value, self._data.dtype, "x[index] = value")
    index = ops._normalize_index(index, self.backend)
    steps = ops._ints_first(index, self.ndim)      # PyTorch's order for ints mixed with arrays
    if steps is None or len(steps) == 1:
        self._data[index if steps is None else steps[0]] = value
    else:
        first, rest = steps
        if not any(i is Ellipsis for i in first):
            first += (Ellipsis,)                   # an int for every axis: a 0-d view, not a scalar
        part = self._data[first]                   # the ints alone give a view: written through,
        part[rest] = value
        if any(ops._index_kind(i) == "int" and not isinstance(i, (int, np.integer)) for i in first):
            self._data[first] = part               # except a 0-d index array's copy: written back
    self._bump()


def _check_in_place(what, target, *values):
    """In-place changes are not recorded in the graph: while recording, refuse them where a
    gradient would be lost (the target requires grad, or a value written does).  Under
    ``mg.no_grad()`` nothing is recorded, so nothing is lost (PyTorch's ``with torch.no_grad():
    w.clamp_(-1, 1)``); a graph that kept the old value still raises at backward (the version)."""
    if not autograd.is_grad_enabled():
        return
    if target.requires_grad:
        raise RuntimeError(f"{what} on a tensor that requires grad (a leaf being trained or a value "
                           "in a graph); use the out-of-place op (mg.where, masked_fill, +), or "
                           "change it under mg.no_grad()")
    if any(isinstance(v, Tensor) and v.requires_grad for v in values):
        raise RuntimeError(f"{what} with a value that requires grad: the write is not recorded, so "
                           "its gradient would be lost; build the result out of place (mg.cat, "
                           "mg.where, masked_fill), or write value.detach()")


def _check_writable(target, what):
    """Refuse to write into a tensor whose positions share memory, a view made by ``expand`` or
    ``broadcast_to`` (a stride of 0): PyTorch refuses most such writes, NumPy's views are
    read-only, and CuPy's arrays, which have no read-only flag, would take the write."""
    if any(stride == 0 and n > 1 for stride, n in zip(target._data.strides, target.shape)):
        raise ValueError(f"{what}: the tensor of shape {target.shape} is an expanded view (expand, "
                         "broadcast_to): several of its positions are one element; write into the "
                         "tensor it was expanded from, or into a copy (x.clone())")


def _check_number(value, dtype, what):
    """Refuse a Python number that ``dtype`` cannot hold, as PyTorch does ("value cannot be
    converted to type int8_t without overflow"): NaN, infinities or values out of range for an
    integer dtype (a float in range is truncated; an unsigned dtype also takes the negative
    ints down to -max, wrapped), finite values beyond a floating dtype's largest.  Bool takes
    anything."""
    value = value.item() if isinstance(value, np.generic) else value
    if isinstance(value, bool) or dtype.kind == "b":
        return
    if not isinstance(value, numbers.Real):
        raise TypeError(f"{what}: the value {value!r} is not a real number; a tensor of dtype {dtype} "
                        "takes int, float or bool values")
    finite = isinstance(value, int) or math.isfinite(value)     # (an int too large for a float is finite)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        low = -int(info.max) if dtype.kind == "u" and isinstance(value, int) else int(info.min)
        fits = finite and low <= value <= int(info.max)
    else:
        fits = not finite or abs(value) <= float(np.finfo(dtype).max)
    if not fits:
        allowed = (f"finite numbers from {low} to {info.max}" if dtype.kind in "iu" else
                   f"numbers up to {float(np.finfo(dtype).max):.6g} in size, inf and nan")
        raise OverflowError(f"{what}: the value {value!r} does not fit dtype {dtype}, which takes {allowed}")


def _on_device(value, target):
    """A value to write into ``target``: on another device it is copied over, as ``copy_`` and
    PyTorch do (its graph is not needed: a value that requires grad was refused already)."""
    return value if value.backend is target.backend else ops.to(value.detach(), target.device)


# --------------------------------------------------------------------------- methods
def _expand(self, shape):
    """x.expand(*sizes): broadcast_to where -1 keeps the size of the matching existing axis
    (counted from the right); -1 on a new leading axis is refused, as in PyTorch."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    new = len(shape) - self.ndim
    if new < 0:
        raise ValueError(f"expand: {len(shape)} sizes given for a tensor of shape {self.shape}; "
                         f"give at least {self.ndim}")
    if any(n == -1 for n in shape[:new]):
        raise ValueError(f"expand: -1 is only allowed for existing axes, got sizes {tuple(shape)} "
                         f"for shape {self.shape} (the first {new} are new leading axes)")
    return ops.broadcast_to(self, tuple(self.shape[i - new] if n == -1 else n
                                        for i, n in enumerate(shape)))


def _shape_args(method):
    """``x.reshape(2, 3)`` and ``x.reshape((2, 3))`` alike."""
    return lambda self, *shape: method(self, shape[0] if len(shape) == 1 else shape)


def _write(self, values, what):
    """Write ``values`` into the tensor's own array (so that views and detach() aliases see it)."""
    _check_writable(self, what)
    if len(values.shape) > self.ndim or any(a not in (1, b) for a, b in zip(reversed(values.shape),
                                                                           reversed(self.shape))):
        raise ValueError(f"{what}: a value of shape {tuple(values.shape)} does not fit {self.shape} (broadcasting)")
    self._data[...] = values
    self._bump()
    return self


def _zero_(self):
    _check_in_place("zero_", self)
    return _write(self, self.backend.zeros((), dtype=self._data.dtype), "zero_")


def _copy_(self, src, non_blocking: bool = False):
    """``src``'s values (from any device and dtype; broadcast to this shape) written into this
    tensor (counted).  ``non_blocking`` is accepted for PyTorch's habit and changes nothing."""
    _check_in_place("copy_", self, src)
    src = ops._lift(src, self) if not isinstance(src, Tensor) else _on_device(src, self)
    return _write(self, src._data.astype(self._data.dtype, copy=False), "copy_")


@ops.accepts_dim
def _any(self, axis=None, keepdims=False):
    """True where any element along ``axis`` is nonzero (``dim=`` / ``keepdim=`` too); no graph."""
    axes = ops._axes(axis, self.ndim) if axis is not None else None
    return Tensor._wrap(self.backend.any(self._data, axis=axes, keepdims=keepdims), self.backend)


@ops.accepts_dim
def _all(self, axis=None, keepdims=False):
    """True where every element along ``axis`` is nonzero (``dim=`` / ``keepdim=`` too); no graph."""
    axes = ops._axes(axis, self.ndim) if axis is not None else None
    return Tensor._wrap(self.backend.all(self._data, axis=axes, keepdims=keepdims), self.backend)


def _bitwise(name):
    """``~x``, ``x & y``, ``x | y``, ``x ^ y`` on bool tensors (logical) and integer tensors
    (bitwise), as in PyTorch; no graph.  The result has the dtype of ``x + y``
    (:func:`ops.result_dtype`: a Python int or a 0-d tensor keeps an int32 tensor int32).
    Floating operands are refused, as PyTorch does.  ``&``, ``|`` and ``^`` commute, so the
    reflected operators (``1 & x``) are the same methods."""
    def method(self, other=None):
        if other is not None and not isinstance(other, (Tensor, bool, int, np.bool_, np.integer)):
            raise TypeError(f"{name} takes bool or integer tensors and Python bools or ints, got "
                            f"{type(other).__name__}")
        if isinstance(other, Tensor) and other.backend is not self.backend:
            raise ops.DeviceMismatchError(f"{name}: operands on {self.device!r} and {other.device!r}")
        operands = (self,) if other is None else ops._operands(name, self, other)
        if operands[0].dtype.kind not in "biu":
            raise TypeError(f"{name} takes bool or integer tensors, got dtype "
                            f"{self.dtype if self.dtype.kind not in 'biu' else other.dtype}")
        return Tensor._wrap(getattr(self.backend, name)(*(x._data for x in operands)), self.backend)
    return method


def _to_dtype(dtype, name, torch_name):
    def method(self):
        return _to(self, dtype=np.dtype(dtype))
    method.__doc__ = (f"``self.to({name!r})`` (PyTorch's ``.{torch_name}()`` habit): the tensor itself "
                      f"if already {name}, as in PyTorch.")
    method.__name__ = method.__qualname__ = torch_name
    return method


def _cpu(self):
    """``self.to("cpu")``."""
    return ops.to(self, "cpu")


def _to(self, *args, device=None, dtype=None):
    """PyTorch's ``x.to(...)``: a device ("cpu", "cuda", "strict"), a dtype (``mg.float32``,
    ``np.float32``), both, or another tensor's; differentiable.  ``x`` itself where nothing changes."""
    for a in args:
        if isinstance(a, Tensor):
            device, dtype = a.device, a.dtype
        elif isinstance(a, np.dtype) or (isinstance(a, type) and issubclass(a, np.generic)):
            dtype = a
        else:
            device = a
    out = self if device is None else ops.to(self, device)
    return out if dtype is None or np.dtype(dtype) == out.dtype else ops.astype(out, dtype=np.dtype(dtype))


def _element_size(self):
    """The bytes of one element (``itemsize``), as PyTorch's ``element_size()``."""
    return int(self._data.itemsize)


def _astype(self, dtype):
    """The values as ``dtype`` (any NumPy dtype or its name)."""
    return ops.astype(self, dtype=np.dtype(dtype))


_float = _to_dtype(np.float32, "float32", "float")
_double = _to_dtype(np.float64, "float64", "double")


def _take_along_dim(self, indices, dim=None):
    """PyTorch's name for :func:`minigrad.take_along_axis`."""
    return M.take_along_axis(self, indices, dim)


# Named functions, not lambdas written inside the dict: documentation tools read a method's
# source, and a lambda's source line here is not valid Python on its own.
METHODS = {
    "backward": backward,
    "to": _to, "element_size": _element_size, "cpu": _cpu, "astype": _astype, "double": _double,
    "exp": _unary(ops.exp), "log": _unary(ops.log), "tanh": _unary(ops.tanh),
    "sigmoid": _unary(ops.sigmoid), "relu": _unary(ops.relu), "abs": _unary(ops.abs),
    "clip": ops.clip, "clamp": ops.clip,
    "sum": ops.sum, "mean": ops.mean, "max": ops.max, "min": ops.min,
    "logsumexp": ops.logsumexp, "softmax": ops.softmax, "log_softmax": ops.log_softmax,
    "reshape": _shape_args(ops.reshape), "view": _shape_args(ops.reshape),
    "permute": ops.permute, "transpose": ops.transpose, "swapaxes": ops.swapaxes,
    "broadcast_to": ops.broadcast_to, "expand": _shape_args(_expand),
    "squeeze": ops.squeeze, "expand_dims": ops.expand_dims, "unsqueeze": ops.expand_dims,
    "any": _any, "all": _all,
    "__invert__": _bitwise("invert"), "__and__": _bitwise("bitwise_and"), "__or__": _bitwise("bitwise_or"),
    "__xor__": _bitwise("bitwise_xor"), "__rand__": _bitwise("bitwise_and"),
    "__ror__": _bitwise("bitwise_or"), "__rxor__": _bitwise("bitwise_xor"),
    "long": _to_dtype(np.int64, "int64", "long"), "half": _to_dtype(np.float16, "float16", "half"),
    "zero_": _zero_, "copy_": _copy_,
}

E, R, M = elementwise, reductions, manipulation


def _norm(self, p=2, dim=None, keepdim=False):
    """PyTorch's ``x.norm(p, dim, keepdim)``: the vector p-norm over ``dim`` (all elements when
    None), ``p="fro"`` the 2-norm.  (``mg.norm`` follows NumPy: matrix norms for 2-D.)"""
    dim = None if isinstance(dim, (tuple, list)) and len(dim) == 0 else dim     # PyTorch: () is all dims
    return R.vector_norm(self, 2 if p == "fro" else p, axis=dim, keepdims=keepdim)


def _varargs(method, keyword="dims"):
    """``x.flip(0, 1)``, ``x.flip((0, 1))`` and ``x.flip(dims=(0, 1))`` alike (``keyword``: the
    name PyTorch gives the tuple)."""
    def call(self, *dims, **named):
        if set(named) - {keyword} or (dims and named):
            raise TypeError(f"{method.__name__}: give the {keyword} as arguments or as {keyword}=, "
                            f"got {dims!r} and {named!r}")
        if named:
            return method(self, named[keyword])
        return method(self, dims[0] if len(dims) == 1 else dims)
    return call


METHODS.update({
    "sqrt": _unary(E.sqrt), "log1p": _unary(E.log1p), "expm1": _unary(E.expm1), "sin": _unary(E.sin), "cos": _unary(E.cos), "erf": _unary(E.erf),
    "floor": _unary(E.floor), "ceil": _unary(E.ceil), "round": E.round, "sign": _unary(E.sign),
    "isnan": E.isnan, "isfinite": E.isfinite, "logaddexp": _binary(E.logaddexp),
    "remainder": _binary(E.remainder), "floor_divide": _binary(E.floor_divide),
    "var": R.var, "std": R.std, "prod": R.prod, "cumsum": R.cumsum, "norm": _norm,
    "argmax": R.argmax, "argmin": R.argmin,
    "gather": M.gather, "take_along_dim": _take_along_dim,
    "masked_fill": M.masked_fill, "roll": M.roll, "flip": _varargs(M.flip),
    "tril": M.tril, "triu": M.triu, "repeat": _varargs(M.tile, "repeats"), "tile": M.tile,
    "repeat_interleave": M.repeat_interleave, "sort": M.sort, "argsort": M.argsort, "topk": M.topk,
    "square": _unary(E.square), "reciprocal": _unary(E.reciprocal), "rsqrt": _unary(E.rsqrt),
    "maximum": _binary(ops.maximum), "minimum": _binary(ops.minimum),
    "outer": linalg.outer,
})

def _split(self, split_size_or_sections, dim=None, *, axis=None):
    """PyTorch's ``x.split(size, dim)``: pieces of ``size`` along ``dim`` (default 0; the last
    smaller), or of the sizes in a list; ``axis=`` is NumPy's spelling (see :func:`minigrad.split`)."""
    return ops.split(self, split_size_or_sections, dim, axis=axis)


def _chunk(self, chunks: int, dim: int = 0):
    """PyTorch's chunk: ``chunks`` pieces of ceil(n / chunks) along ``dim`` (the last smaller;
    fewer pieces where they run out; an empty axis: ``chunks`` empty pieces)."""
    if isinstance(chunks, bool) or not isinstance(chunks, (int, np.integer)) or chunks < 1:
        raise ValueError(f"chunk: chunks must be a positive int, got {chunks!r}")
    n = self.shape[ops._axes(dim, self.ndim)[0]]
    if n == 0:
        return tuple(ops.split(self, [0] * int(chunks), axis=dim))
    size = -(-n // chunks)
    sizes = [size] * (n // size) + ([n % size] if n % size else [])
    return tuple(ops.split(self, sizes, axis=dim))


def _unbind(self, dim: int = 0):
    return tuple(ops.squeeze(p, dim) for p in ops.split(self, self.shape[dim], axis=dim))


def _flatten(self, start_dim: int = 0, end_dim: int = -1):
    """PyTorch's ``flatten``: the dims ``start_dim`` to ``end_dim`` (both included) merged into
    one; dims out of range, or a start after the end, are refused (not wrapped around)."""
    start, end = ops._axes(start_dim, self.ndim), ops._axes(end_dim, self.ndim)
    if self.ndim == 0:
        return ops.reshape(self, (1,))
    start, end = start[0], end[0]
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} "
                         f"(shape {self.shape})")
    shape = self.shape[:start] + (-1,) + self.shape[end + 1:]
    return ops.reshape(self, shape)


def _matrix(name, ndim):
    """PyTorch's ``mm`` (2-D @ 2-D), ``bmm`` (3-D @ 3-D, equal batch sizes: no broadcasting) and
    ``dot`` (1-D · 1-D of one length): matmul after the checks PyTorch makes."""
    def method(self, other):
        a, b = self.shape, getattr(other, "shape", None)
        if self.ndim != ndim or b is None or len(b) != ndim:
            raise ValueError(f"{name} needs two {ndim}-D tensors, got shapes {a} and {b}")
        if ndim == 3 and a[0] != b[0]:
            raise ValueError(f"bmm: batch sizes {a[0]} and {b[0]} differ (shapes {a} and {b}); bmm "
                             "does not broadcast, matmul does")
        if a[-1] != b[0 if ndim == 1 else -2]:
            raise ValueError(f"{name}: shapes {a} and {b} cannot be multiplied (inner sizes "
                             f"{a[-1]} and {b[0 if ndim == 1 else -2]} differ)")
        return ops.matmul(self, other)
    return method


def _t(self):
    """PyTorch's ``t``: a matrix transposed (0-d and 1-D tensors as they are); more dims are
    refused, as PyTorch does (``x.mT``, ``x.transpose(0, 1)`` say which axes)."""
    if self.ndim > 2:
        raise ValueError(f"t: takes a tensor of at most 2 dims, got shape {self.shape}; use "
                         "x.mT (the last two axes) or x.transpose(d0, d1)")
    return ops.transpose(self)


def _clone(self):
    """A new array with the same values; differentiable."""
    return ops.mul(self, 1)


def _numel(self):
    """The number of elements (``size``), a plain int."""
    return int(self._data.size)


def _dim(self):
    """The number of dimensions (``ndim``)."""
    return self.ndim


METHODS.update({
    "add": _binary(ops.add), "sub": _binary(ops.sub), "mul": _binary(ops.mul), "div": ops.div,
    "pow": ops.pow, "matmul": ops.matmul, "neg": _unary(ops.neg),
    "eq": _compare("equal"), "ne": _compare("not_equal"), "lt": _compare("less"),
    "le": _compare("less_equal"), "gt": _compare("greater"), "ge": _compare("greater_equal"),
    "amax": ops.amax, "amin": ops.amin, "flatten": _flatten, "split": _split, "chunk": _chunk, "unbind": _unbind,
    "t": _t,
    "dot": _matrix("dot", 1), "mm": _matrix("mm", 2), "bmm": _matrix("bmm", 3),
    "clone": _clone, "numel": _numel, "dim": _dim,
})

# --------------------------------------------------------------------------- PyTorch's habits
def _type_as(self, other):
    """This tensor in ``other``'s dtype and on its device (PyTorch's type covers both)."""
    return ops.to(ops.astype(self, dtype=other.dtype) if self.dtype != other.dtype else self, other.device)


def _new_zeros(self, *size, dtype=None, device=None, requires_grad=False):
    """Zeros of ``size``, in this tensor's dtype and on its device unless given."""
    return _new_full(self, _shape(size), 0, dtype=dtype, device=device, requires_grad=requires_grad)


def _new_ones(self, *size, dtype=None, device=None, requires_grad=False):
    """Ones of ``size``, in this tensor's dtype and on its device unless given."""
    return _new_full(self, _shape(size), 1, dtype=dtype, device=device, requires_grad=requires_grad)


def _new_full(self, size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``fill_value`` in ``size``, in this tensor's dtype and on its device unless given."""
    return full(size, fill_value, dtype=self.dtype if dtype is None else dtype,
                device=self.device if device is None else device, requires_grad=requires_grad)


def _new_tensor(self, data, *, dtype=None, device=None, requires_grad=False):
    """A new leaf from ``data`` (copied), in this tensor's dtype and on its device unless given."""
    return tensor(data, dtype=self.dtype if dtype is None else dtype,
                  device=self.device if device is None else device, requires_grad=requires_grad)


def _contiguous(self):
    """The tensor itself: minigrad's arrays need no particular memory layout."""
    return self


def _cuda(self, device=None):
    """``self.to("cuda")`` (``device``: a GPU's number or name, e.g. 1 or "cuda:1")."""
    return ops.to(self, "cuda" if device is None else f"cuda:{device}" if isinstance(device, int) else device)


def _index_select(self, dim, index):
    return M.index_select(self, dim, index)


def _lerp(self, end, weight):
    return E.lerp(self, end, weight)


def _addmm(self, mat1, mat2, *, beta=1, alpha=1):
    return linalg.addmm(self, mat1, mat2, beta=beta, alpha=alpha)


def _isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return E.isclose(self, other, rtol, atol, equal_nan)


def _allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    return E.allclose(self, other, rtol, atol, equal_nan)


METHODS.update({
    "type_as": _type_as, "new_zeros": _new_zeros, "new_ones": _new_ones, "new_full": _new_full,
    "new_tensor": _new_tensor, "contiguous": _contiguous, "cuda": _cuda,
    "tan": _unary(E.tan), "sinh": _unary(E.sinh), "cosh": _unary(E.cosh), "asin": _unary(E.asin),
    "acos": _unary(E.acos), "atan": _unary(E.atan), "atan2": _binary(E.atan2),
    "log2": _unary(E.log2), "log10": _unary(E.log10), "exp2": _unary(E.exp2),
    "trunc": _unary(E.trunc), "frac": _unary(E.frac), "fmod": _binary(E.fmod),
    "nan_to_num": E.nan_to_num, "lerp": _lerp, "softplus": E.softplus,
    "logical_and": _binary(E.logical_and), "logical_or": _binary(E.logical_or),
    "logical_xor": _binary(E.logical_xor), "logical_not": _unary(E.logical_not),
    "isclose": _isclose, "allclose": _allclose, "equal": _binary(E.equal),
    "cumprod": R.cumprod, "diag": M.diag, "diagonal": M.diagonal, "trace": _unary(M.trace), "diff": M.diff,
    "index_select": _index_select, "mv": linalg.mv, "addmm": _addmm,
    "register_hook": autograd.register_hook,
})

def _expand_as(self, other):
    """``self.broadcast_to(other.shape)``."""
    return ops.broadcast_to(self, other.shape)


def _clamp_min(self, min):
    """``self.clip(min, None)``."""
    return ops.clip(self, min, None)


def _clamp_max(self, max):
    """``self.clip(None, max)``."""
    return ops.clip(self, None, max)


def _where(self, condition, other):
    """PyTorch's ``x.where(condition, y)``: ``mg.where(condition, x, y)``."""
    return ops.where(condition, self, other)


METHODS.update({
    "asinh": _unary(E.asinh), "acosh": _unary(E.acosh), "atanh": _unary(E.atanh),
    "arcsinh": _unary(E.asinh), "arccosh": _unary(E.acosh), "arctanh": _unary(E.atanh),
    "isinf": _unary(E.isinf), "isposinf": _unary(E.isposinf), "isneginf": _unary(E.isneginf),
    "expand_as": _expand_as, "clamp_min": _clamp_min, "clamp_max": _clamp_max, "where": _where,
    "movedim": M.movedim, "moveaxis": M.movedim, "narrow": M.narrow, "unflatten": M.unflatten,
})

def _div(self, other, *, rounding_mode=None):
    """``self / other``, or rounded (``rounding_mode="trunc"`` / ``"floor"``, see :func:`minigrad.divide`)."""
    return ops.div(self, other) if rounding_mode is None else E.divide(self, other, rounding_mode=rounding_mode)


def _times_alpha(other, alpha, first=None):
    """``alpha * other`` for a Tensor, a NumPy array, a list or a number (``other`` itself for 1).
    Integer tensors take an integer alpha only, as PyTorch (a float one would silently make the
    result floating)."""
    if isinstance(alpha, (float, np.floating)) and all(_integral(v) for v in (first, other) if v is not None):
        raise TypeError(f"add/sub: integer tensors take an integer alpha, got alpha={alpha!r} "
                        "(as in PyTorch); convert a tensor with .astype('float64') first")
    if alpha == 1:
        return other
    return (np.asarray(other) if isinstance(other, (list, tuple)) else other) * alpha


def _integral(v) -> bool:
    """v (a Tensor, an array, a list or a number) holds integers or booleans."""
    kind = v.dtype.kind if isinstance(v, (Tensor, np.ndarray, np.generic)) else np.asarray(v).dtype.kind
    return kind in "biu"


def _add(self, other, *, alpha=1):
    """``self + alpha * other`` (PyTorch's ``add(other, alpha=)``)."""
    return ops.add(self, _times_alpha(other, alpha, self))


def _sub(self, other, *, alpha=1):
    """``self - alpha * other``."""
    return ops.sub(self, _times_alpha(other, alpha, self))


METHODS.update({
    "div": _div, "divide": _div, "true_divide": ops.div, "add": _add, "sub": _sub,
    "copysign": _binary(E.copysign), "hypot": _binary(E.hypot), "xlogy": _binary(E.xlogy),
    "logit": E.logit, "sinc": _unary(E.sinc), "deg2rad": _unary(E.deg2rad), "rad2deg": _unary(E.rad2deg),
    "float_power": _binary(E.float_power), "nansum": R.nansum, "nanmean": R.nanmean,
    "count_nonzero": R.count_nonzero, "masked_select": M.masked_select, "inner": linalg.inner,
    "erfc": _unary(E.erfc), "scatter_add": M.scatter_add, "index_add": M.index_add, "unfold": M.unfold, "tensor_split": M.tensor_split,
})

METHODS.update({
    "cummax": M.cummax, "cummin": M.cummin, "logcumsumexp": R.logcumsumexp, "erfinv": _unary(E.erfinv),
    "scatter": M.scatter,
})

# --------------------------------------------------------------------------- more PyTorch habits
def ravel(x):
    """The elements as one axis, ``x.reshape(-1)`` (``torch.ravel``)."""
    return ops.reshape(x, (-1,))


def _is_contiguous(self):
    """True: minigrad's arrays need no particular memory layout (see ``contiguous``)."""
    return True


def _view_as(self, other):
    """``self.reshape(other.shape)`` (``reshape_as`` too)."""
    return ops.reshape(self, other.shape)


def _select(self, dim: int, index: int):
    """PyTorch's ``x.select(dim, i)``: the slice at ``index`` along ``dim``, that dim removed."""
    if self.ndim == 0:
        raise IndexError("select: a 0-d tensor has no dim to select from")
    axis = ops._axes(dim, self.ndim)[0]
    return ops.getitem(self, (slice(None),) * axis + (index,))


def _addc_value(name, value, *tensors):
    """PyTorch truncates a fractional ``value`` for integer tensors (``value=0.5`` adds nothing);
    a float result instead would differ from it as silently: refused."""
    if isinstance(value, float) and not value.is_integer() and all(
            isinstance(t, Tensor) and t.dtype.kind in "iub" for t in tensors):
        raise TypeError(f"{name}: value {value} is fractional and the tensors are integer tensors "
                        "(PyTorch truncates it); give an int, or float tensors (.double())")


def addcmul(input, tensor1, tensor2, *, value=1):
    """``input + value · tensor1 · tensor2``, as ``torch.addcmul``."""
    _addc_value("addcmul", value, input, tensor1, tensor2)
    return ops.add(input, ops.mul(ops.mul(tensor1, tensor2), value) if value != 1 else ops.mul(tensor1, tensor2))


def addcdiv(input, tensor1, tensor2, *, value=1):
    """``input + value · tensor1 / tensor2``, as ``torch.addcdiv``."""
    return ops.add(input, ops.mul(ops.div(tensor1, tensor2), value) if value != 1 else ops.div(tensor1, tensor2))


def nonzero(x, *, as_tuple: bool = False):
    """The indices of the nonzero elements, as ``torch.nonzero``: an int64 tensor of shape
    (count, ndim), or with ``as_tuple`` one int64 index tensor per dimension; no graph."""
    where = x.backend.nonzero(x.data) if x.ndim else x.backend.nonzero(x.data.reshape(1))
    if as_tuple:
        return tuple(Tensor._wrap(i.astype(np.int64), x.backend) for i in where)
    stacked = x.backend.stack(where, axis=-1) if x.ndim else x.backend.zeros((len(where[0]), 0), np.int64)
    return Tensor._wrap(stacked.astype(np.int64), x.backend)


def _fill_(self, value):
    """Every element set to ``value`` (a number or a 0-d tensor) in place (counted; refused where
    a gradient would be lost)."""
    if isinstance(value, Tensor):
        if value.ndim:
            raise ValueError(f"fill_: the value is a number or a 0-d tensor, got a tensor of shape "
                             f"{value.shape}")
    elif isinstance(value, (str, bytes)) or not isinstance(value, (numbers.Number, np.generic)):
        raise TypeError(f"fill_: the value is a number or a 0-d tensor, got {type(value).__name__}")
    _check_in_place("fill_", self, value)
    if isinstance(value, Tensor):           # a tensor's value is cast (wrapped), as in PyTorch
        return _write(self, _on_device(value, self)._data.astype(self._data.dtype), "fill_")
    _check_number(value, self._data.dtype, "fill_")
    return _write(self, self.backend.asarray(np.asarray(value).astype(self._data.dtype)), "fill_")


def _in_place_of(name, op):
    """``x.<name>_(...)``: ``op`` written into x (counted; refused where a gradient would be lost)."""
    def method(self, *args, **kwargs):
        _check_in_place(f"{name}_", self, *args, *kwargs.values())
        result = op(self, *args, **kwargs)
        if result._data.dtype != self._data.dtype:
            raise TypeError(f"{name}_: the result has dtype {result.dtype}, the tensor {self.dtype}")
        return _write(self, result._data, f"{name}_")
    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = (f"``{name}`` in place (counted; while recording, refused on a tensor that "
                      "requires grad; allowed under mg.no_grad(), as PyTorch).")
    return method


def _masked_fill_(self, mask, value):
    """``masked_fill`` in place; a number must fit the tensor's dtype (see ``fill_``), a 0-d
    tensor on another device is copied over (as in PyTorch)."""
    _check_in_place("masked_fill_", self, value)
    if isinstance(value, Tensor):
        value = _on_device(value, self)
    elif isinstance(value, (numbers.Number, np.generic)):
        _check_number(value, self._data.dtype, "masked_fill_")
    return _masked_fill_into(self, mask, value)


_masked_fill_into = _in_place_of("masked_fill", M.masked_fill)


def _index_put_(self, indices, values, accumulate: bool = False):
    """PyTorch's ``index_put_``: ``x[indices] = values`` for a tuple (or list) of index tensors,
    integer or bool; with ``accumulate``, ``x[indices] += values`` where repeated indices add up
    (``x[i] += v`` itself adds once per distinct index).  ``values`` has x's dtype, as in PyTorch."""
    if not isinstance(indices, (tuple, list)) or not all(isinstance(i, Tensor) for i in indices):
        raise TypeError(f"index_put_: indices is a tuple of index tensors (integer or bool), got "
                        f"{type(indices).__name__}; for ints and slices write x[index] = values")
    if not isinstance(values, Tensor) or values.dtype != self.dtype:
        raise TypeError(f"index_put_: values is a tensor of the target's dtype {self.dtype}, got "
                        f"{getattr(values, 'dtype', type(values).__name__)}")
    if not accumulate:
        _setitem(self, tuple(indices), values)
        return self
    _check_in_place("index_put_", self, values)
    _check_writable(self, "index_put_")
    index = ops._normalize_index(tuple(indices), self.backend)
    self.backend.scatter_add(self._data, index, _on_device(values, self)._data)
    self._bump()
    return self


METHODS.update({
    "view_as": _view_as, "reshape_as": _view_as, "nelement": _numel, "ndimension": _dim,
    "swapdims": ops.swapaxes, "select": _select, "absolute": _unary(ops.abs), "negative": _unary(ops.neg),
    "multiply": _binary(ops.mul), "subtract": _sub, "sgn": _unary(E.sign), "positive": _contiguous,
    "arcsin": _unary(E.asin), "arccos": _unary(E.acos), "arctan": _unary(E.atan), "arctan2": _binary(E.atan2),
    "hardshrink": E.hardshrink, "cross": M.cross, "median": M.median, "nanmedian": M.nanmedian,
    "addcmul": addcmul, "addcdiv": addcdiv, "nonzero": nonzero, "fill_": _fill_, "ravel": ravel,
    "fmax": _binary(E.fmax), "fmin": _binary(E.fmin), "signbit": _unary(E.signbit),
    "masked_fill_": _masked_fill_, "index_put_": _index_put_, "clamp_": _in_place_of("clamp", ops.clip),
    "clip_": _in_place_of("clip", ops.clip), "abs_": _in_place_of("abs", ops.abs),
    "neg_": _in_place_of("neg", ops.neg), "exp_": _in_place_of("exp", ops.exp),
    "sqrt_": _in_place_of("sqrt", E.sqrt), "square_": _in_place_of("square", E.square),
    "tanh_": _in_place_of("tanh", ops.tanh), "sigmoid_": _in_place_of("sigmoid", ops.sigmoid),
    "relu_": _in_place_of("relu", ops.relu), "pow_": _in_place_of("pow", ops.pow),
    "is_contiguous": _is_contiguous,
    # PyTorch's keywords too: p.add_(g, alpha=-lr), x.div_(2, rounding_mode="floor")
    "add_": _in_place_of("add", _add), "sub_": _in_place_of("sub", _sub),
    "mul_": _in_place_of("mul", ops.mul), "div_": _in_place_of("div", _div),
})

# --------------------------------------------------------------------------- more in-place methods
METHODS.update({f"{name}_": _in_place_of(name, op) for name, op in {
    "log": ops.log, "log1p": E.log1p, "expm1": E.expm1, "sin": E.sin, "cos": E.cos,
    "floor": E.floor, "ceil": E.ceil, "trunc": E.trunc, "round": E.round, "sign": E.sign,
    "reciprocal": E.reciprocal, "rsqrt": E.rsqrt, "clamp_min": _clamp_min, "clamp_max": _clamp_max,
    "lerp": _lerp, "addcmul": addcmul, "addcdiv": addcdiv, "index_add": M.index_add,
    "scatter": M.scatter, "scatter_add": M.scatter_add,
}.items()})

PROPERTIES = {
    "T": lambda self: ops.permute(self, tuple(reversed(range(self.ndim)))),
    "mT": lambda self: ops.swapaxes(self, -1, -2),
    "grad_fn": lambda self: self._node,
    "nbytes": lambda self: int(self._data.nbytes),
    "itemsize": lambda self: int(self._data.itemsize),
}

for _name, _fn in {**OPERATORS, **METHODS, "__setitem__": _setitem}.items():
    setattr(Tensor, _name, _fn)
# Methods named like builtins go on Tensor's base class: in Tensor's own namespace they would
# shadow the builtins in every method's annotations as documentation tools read them (pdoc
# resolves ``keepdims: bool`` in the class's __dict__).
for _name, _fn in {"int": _to_dtype(np.int32, "int32", "int"), "bool": _to_dtype(np.bool_, "bool", "bool"),
                   "float": _float}.items():
    setattr(BuiltinNames, _name, _fn)
for _name, _fn in PROPERTIES.items():
    setattr(Tensor, _name, property(_fn))
Tensor.__pos__ = lambda self: self
