"""The primitives: each one's forward and its derivative, side by side.

Read any block below as a unit.  The decorated function is the forward pass on raw arrays
(``xp`` is the array module of the inputs' device).  The ``defvjp`` line right after it gives,
for each input, the vector-Jacobian product: given ``g = dL/d(out)``, return ``dL/d(input)``.
Notation in the docstrings: ``ḡ`` is the cotangent arriving from above; for ``y = f(x)`` the
VJP is ``x̄ = ḡ · ∂y/∂x``.

The VJPs use Tensor operations, never raw arrays, so that backward can itself be recorded
(``create_graph=True``) and differentiated again.  Three VJPs call a helper of the backward
pass instead (``transposed_product``, ``product_transposed``, ``scattered``): the same
Tensor operations when recording, work handed to the pass in bulk when not.  A VJP may return
a cotangent in the *broadcast* shape of the output; the backward pass sums it down to the
input's shape with :func:`sum_to`, the one place where broadcasting is undone.

``save=`` on each primitive says which values its VJP reads (its inputs, its output, both or
none); the node keeps only those, so memory is freed as early as it can be.

Functions at the end of the file (``mean``, ``split``, ``cross_entropy``, ``mse``...) are not
primitives: they are compositions, differentiated through the primitives they call.
"""
from __future__ import annotations

import builtins

import numpy as np

from .autograd import Primitive, product_transposed, scattered, transposed_product
from .tensor import Tensor, _is_float

_sum, _max = builtins.sum, builtins.max          # this module defines its own sum and max


def primitive(forward=None, *, name=None, save="inputs"):
    """Decorator: turn a forward function into a Primitive.

    ``name`` is the op's name when the Python name differs; ``save`` is what its VJPs read
    ("inputs", "out", "inputs,out" or ""), so that nothing else is kept for backward.
    """
    if forward is None:
        return lambda f: Primitive(f, name, save)
    return Primitive(forward, name, save)


class Binary(Primitive):
    """A primitive of two operands that also accepts Python numbers and refuses mixed dtypes."""

    def __call__(self, a, b, **params):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a.data.dtype == b.data.dtype):
            a, b = _operands(self.name, a, b)
        return Primitive.__call__(self, a, b, **params)


def binary(forward=None, *, save="inputs"):
    if forward is None:
        return lambda f: Binary(f, None, save)
    return Binary(forward, None, save)


def _operands(name, a, b):
    """Lift Python numbers to 0-d tensors of the other operand's dtype; refuse mixed dtypes.

    minigrad never upcasts silently: ``float32 + float64`` is an error, not a float64 result.
    """
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            raise TypeError(f"{name}: at least one operand must be a Tensor")
        a = _lift(a, b)
    elif not isinstance(b, Tensor):
        b = _lift(b, a)
    if a.data.dtype != b.data.dtype:
        raise TypeError(
            f"{name}: dtype mismatch ({a.dtype} and {b.dtype}); minigrad does not upcast "
            f"silently: convert one operand with .astype()")
    return a, b


_CONSTANTS: dict = {}          # (value, dtype, device) -> 0-d array; never written into


def _lift(value, like: Tensor) -> Tensor:
    if isinstance(value, (bool, int, float, np.number)):
        key = (value, like.data.dtype, like.backend)
        array = _CONSTANTS.get(key)
        if array is None:
            if len(_CONSTANTS) > 4096:
                _CONSTANTS.clear()
            array = _CONSTANTS[key] = like.backend.asarray(value, dtype=like.data.dtype)
        return Tensor._wrap(array, like.backend)
    if isinstance(value, (np.ndarray, list, tuple)):
        return Tensor(value, device=like.device, dtype=like.dtype if _is_float(like.dtype) else None)
    raise TypeError(f"cannot combine a Tensor with {type(value).__name__}")


def const(array, like: Tensor) -> Tensor:
    """A constant tensor (no gradient) holding ``array`` in the dtype of ``like``."""
    return Tensor._wrap(array.astype(like.data.dtype, copy=False), like.backend)


def accepts_dim(fn):
    """Decorator: let a function that takes ``axis=`` / ``keepdims=`` (NumPy's names) also take
    PyTorch's ``dim=`` / ``keepdim=``.  Giving both spellings of one argument is an error."""
    import functools

    @functools.wraps(fn)
    def call(*args, dim=_UNSET, keepdim=_UNSET, **kwargs):
        for torch_name, value, numpy_name in (("dim", dim, "axis"), ("keepdim", keepdim, "keepdims")):
            if value is not _UNSET:
                if numpy_name in kwargs:
                    raise TypeError(f"{fn.__name__}: give {numpy_name}= or {torch_name}=, not both")
                kwargs[numpy_name] = value
        return fn(*args, **kwargs)
    return call


_UNSET = object()


def _axes(axis, ndim) -> tuple:
    """Normalize an axis argument (None, int, tuple; negatives allowed) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -ndim <= a < _max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
        out.append(int(a) % _max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


# =========================================================================== arithmetic
@binary(save="")
def add(xp, a, b):
    """out = a + b          ā = ḡ,  b̄ = ḡ"""
    return a + b
add.defvjp(lambda g, out, a, b: g,
           lambda g, out, a, b: g)


@binary(save="")
def sub(xp, a, b):
    """out = a - b          ā = ḡ,  b̄ = -ḡ"""
    return a - b
sub.defvjp(lambda g, out, a, b: g,
           lambda g, out, a, b: -g)


@binary
def mul(xp, a, b):
    """out = a * b          ā = ḡ b,  b̄ = ḡ a"""
    return a * b
mul.defvjp(lambda g, out, a, b: g * b,
           lambda g, out, a, b: g * a)


@binary(save="inputs,out")
def div(xp, a, b):
    """out = a / b          ā = ḡ / b,  b̄ = -ḡ a / b² = -ḡ out / b"""
    return a / b
div.defvjp(lambda g, out, a, b: g / b,
           lambda g, out, a, b: -g * out / b)


@binary(save="inputs,out")
def pow(xp, a, b):
    """out = a ** b         ā = ḡ b a^(b-1),  b̄ = ḡ out log(a)"""
    return a ** b
pow.defvjp(lambda g, out, a, b: g * b * a ** (b - 1),
           lambda g, out, a, b: g * out * log(a))


@primitive(save="")
def identity(xp, x):
    """out = x (the same array, a node of its own)      x̄ = ḡ

    Gives a value a node of its own in the graph, so that its gradient can be asked for apart
    from the gradient of the tensor it copies (the state an unrolled network hands to its next
    step, apart from the same values used inside the step that made them)."""
    return x
identity.defvjp(lambda g, out, x: g)


@primitive(save="")
def neg(xp, x):
    """out = -x             x̄ = -ḡ"""
    return -x
neg.defvjp(lambda g, out, x: -g)


# =========================================================================== elementwise
@primitive(save="out")
def exp(xp, x):
    """out = eˣ             x̄ = ḡ eˣ = ḡ out"""
    return xp.exp(x)
exp.defvjp(lambda g, out, x: g * out)


@primitive
def log(xp, x):
    """out = ln x           x̄ = ḡ / x"""
    return xp.log(x)
log.defvjp(lambda g, out, x: g / x)


@primitive(save="out")
def tanh(xp, x):
    """out = tanh x         x̄ = ḡ (1 - tanh² x) = ḡ (1 - out²)"""
    return xp.tanh(x)
tanh.defvjp(lambda g, out, x: tanh_vjp(g, out))


@primitive
def tanh_vjp(xp, g, y):
    """out = ḡ (1 - y²): tanh's VJP given its output y, as one primitive (fewer calls).

    Its own derivatives, needed only for second order:  ∂/∂ḡ = 1 - y²,  ∂/∂y = -2 ḡ y.
    """
    return g * (1 - y * y)
tanh_vjp.defvjp(lambda h, out, g, y: h * (1 - y * y),
                lambda h, out, g, y: -2 * h * g * y)


@primitive(save="out")
def sigmoid(xp, x):
    """out = σ(x) = 1 / (1 + e⁻ˣ)        x̄ = ḡ σ(x)(1 - σ(x)) = ḡ out (1 - out)

    Computed without overflow: with e = e^-|x| (never above 1),
    σ(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0.
    """
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1, e) / (1 + e)
sigmoid.defvjp(lambda g, out, x: sigmoid_vjp(g, out))


@primitive
def sigmoid_vjp(xp, g, y):
    """out = ḡ y (1 - y): sigmoid's VJP given its output y, as one primitive.

    Its own derivatives (second order):  ∂/∂ḡ = y (1 - y),  ∂/∂y = ḡ (1 - 2y).
    """
    return g * y * (1 - y)
sigmoid_vjp.defvjp(lambda h, out, g, y: h * y * (1 - y),
                   lambda h, out, g, y: h * g * (1 - 2 * y))


@primitive
def relu(xp, x):
    """out = max(x, 0)      x̄ = ḡ [x > 0]"""
    return xp.maximum(x, 0)
relu.defvjp(lambda g, out, x: g * const(x.data > 0, g))


@primitive
def abs(xp, x):
    """out = |x|            x̄ = ḡ sign(x)   (0 at x = 0)"""
    return xp.abs(x)
abs.defvjp(lambda g, out, x: g * const(x.backend.sign(x.data), g))


def _share(xp, first_wins, tie):
    """1 where the first operand is selected, 0.5 on ties, else 0."""
    return xp.where(first_wins, 1.0, xp.where(tie, 0.5, 0.0))


@binary
def maximum(xp, a, b):
    """out = max(a, b)      ā = ḡ [a > b],  b̄ = ḡ [b > a]   (ties: half each)"""
    return xp.maximum(a, b)
maximum.defvjp(lambda g, out, a, b: g * const(_share(a.backend, a.data > b.data, a.data == b.data), g),
               lambda g, out, a, b: g * const(_share(a.backend, b.data > a.data, a.data == b.data), g))


@binary
def minimum(xp, a, b):
    """out = min(a, b)      ā = ḡ [a < b],  b̄ = ḡ [b < a]   (ties: half each)"""
    return xp.minimum(a, b)
minimum.defvjp(lambda g, out, a, b: g * const(_share(a.backend, a.data < b.data, a.data == b.data), g),
               lambda g, out, a, b: g * const(_share(a.backend, b.data < a.data, a.data == b.data), g))


class _Where(Primitive):
    """``where(condition, a, b)``: the condition is a constant, not an input to differentiate."""

    def __call__(self, condition, a, b):
        a, b = _operands("where", a, b)
        cond = condition.data if isinstance(condition, Tensor) else a.backend.asarray(condition)
        return Primitive.__call__(self, a, b, condition=cond)


def _where(xp, a, b, *, condition):
    """out = a where condition else b      ā = ḡ [condition],  b̄ = ḡ [not condition]"""
    return xp.where(condition, a, b)


where = _Where(_where, name="where", save="")
where.defvjp(lambda g, out, a, b, *, condition: g * const(condition, g),
             lambda g, out, a, b, *, condition: g * const(~condition, g))


@primitive(name="clip")
def _clip(xp, x, *, low, high):
    """out = min(max(x, low), high)        x̄ = ḡ [low ≤ x ≤ high]"""
    return xp.clip(x, low, high)
_clip.defvjp(lambda g, out, x, *, low, high: g * const(
    (x.data >= (-np.inf if low is None else low)) & (x.data <= (np.inf if high is None else high)), g))


def clip(x: Tensor, low=None, high=None) -> Tensor:
    """Limit values to [low, high] (either bound may be None)."""
    if low is None and high is None:
        raise ValueError("clip needs at least one of low, high")
    return _clip(x, low=low, high=high)


@primitive
def astype(xp, x, *, dtype):
    """out = x converted to dtype            x̄ = ḡ converted back to x's dtype"""
    return x.astype(dtype)
astype.defvjp(lambda g, out, x, *, dtype: g.astype(x.dtype))


@primitive(save="")
def to_device(xp, x, *, device):
    """out = x copied to another device       x̄ = ḡ copied back (see Tensor.to)"""
    raise RuntimeError("to_device is applied through Tensor.to")
to_device.defvjp(lambda g, out, x, *, device: g.to(device))


def compare(name: str, a, b) -> Tensor:
    """Elementwise comparison (``less``, ``equal``...): a boolean tensor, no gradient."""
    a, b = (a, _lift(b, a)) if isinstance(a, Tensor) else (_lift(a, b), b)
    return Tensor._wrap(getattr(a.backend, name)(a.data, b.data), a.backend)


# =========================================================================== reductions
@primitive(name="sum", save="")
def _sum_(xp, x, *, axis, keepdims):
    """out = Σ_axis x        x̄ = ḡ broadcast back over the summed axes"""
    return xp.sum(x, axis=axis, keepdims=keepdims)
_sum_.defvjp(lambda g, out, x, *, axis, keepdims:
             broadcast_to(g if keepdims else expand_dims(g, axis), x.shape))


def sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (None: all axes)."""
    return _sum_(x, axis=_axes(axis, x.ndim), keepdims=keepdims)


@primitive(name="max", save="inputs,out")
def _max_(xp, x, *, axis, keepdims):
    """out = max_axis x      x̄ = ḡ [x = out] / (number of maxima)   (ties share the gradient)"""
    return xp.max(x, axis=axis, keepdims=keepdims)


def _max_vjp(g, out, x, *, axis, keepdims):
    if not keepdims:
        g, out = expand_dims(g, axis), expand_dims(out, axis)
    hit = (x.data == out.data).astype(x.data.dtype)
    share = hit / x.backend.sum(hit, axis=axis, keepdims=True)
    return g * const(share, g)


_max_.defvjp(_max_vjp)


def max(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Largest value over ``axis`` (None: all axes)."""
    if x.size == 0:
        raise ValueError("max of an empty tensor")
    return _max_(x, axis=_axes(axis, x.ndim), keepdims=keepdims)


def min(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Smallest value over ``axis``: -max(-x)."""
    return -max(-x, axis, keepdims)


def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Average over ``axis``: sum / count (the count is cast to x's dtype: no upcast)."""
    axes = _axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    return sum(x, axes, keepdims) / count


@primitive(name="logsumexp", save="inputs,out")
def _logsumexp(xp, x, *, axis, keepdims):
    """out = log Σ_axis eˣ     x̄ = ḡ eˣ / Σ eˣ = ḡ exp(x - out)

    Stable: with m = max x (a constant), log Σ eˣ = m + log Σ e^(x-m), and no e^(x-m) exceeds 1.
    """
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def _logsumexp_vjp(g, out, x, *, axis, keepdims):
    if not keepdims:
        g, out = expand_dims(g, axis), expand_dims(out, axis)
    return g * exp(x - out)


_logsumexp.defvjp(_logsumexp_vjp)


def logsumexp(x: Tensor, axis=-1, keepdims: bool = False) -> Tensor:
    return _logsumexp(x, axis=_axes(axis, x.ndim), keepdims=keepdims)


@primitive(name="softmax", save="out")
def _softmax(xp, x, *, axis):
    """out = eˣ / Σ_axis eˣ      x̄ = out (ḡ - Σ_axis ḡ out)"""
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)
_softmax.defvjp(lambda g, out, x, *, axis: out * (g - sum(g * out, axis, keepdims=True)))


def softmax(x: Tensor, axis=-1) -> Tensor:
    return _softmax(x, axis=_axes(axis, x.ndim))


@primitive(name="log_softmax", save="out")
def _log_softmax(xp, x, *, axis):
    """out = x - log Σ_axis eˣ   x̄ = ḡ - softmax(x) Σ_axis ḡ = ḡ - exp(out) Σ_axis ḡ"""
    m = xp.max(x, axis=axis, keepdims=True)
    shifted = x - m
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
_log_softmax.defvjp(lambda g, out, x, *, axis: g - exp(out) * sum(g, axis, keepdims=True))


def log_softmax(x: Tensor, axis=-1) -> Tensor:
    return _log_softmax(x, axis=_axes(axis, x.ndim))


# =========================================================================== linear algebra
@primitive(name="matmul")
def _matmul(xp, a, b):
    """out = a @ b   (matrices, or stacks of them)     ā = ḡ bᵀ,  b̄ = aᵀ ḡ

    Over stacked (batched) operands the products broadcast; sum_to then sums b̄ over the batch
    axes that b was broadcast along.
    """
    if a.dtype != b.dtype:
        raise TypeError(f"dtype mismatch ({a.dtype} and {b.dtype}); minigrad does not upcast "
                        "silently: convert one operand with .astype()")
    return xp.matmul(a, b)
_matmul.defvjp(lambda g, out, a, b: product_transposed(g, b),      # ḡ bᵀ
               lambda g, out, a, b: transposed_product(a, g))     # aᵀ ḡ, see autograd.Product


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row / column, then
    the added axis is removed again (with reshape, so the gradient flows through it)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("matmul needs two Tensors")
    if a.data.ndim >= 2 and b.data.ndim >= 2:
        return _matmul(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
    if a.ndim >= 2 and b.ndim >= 2:
        return _matmul(a, b)
    a2 = a.reshape(1, -1) if a.ndim == 1 else a
    b2 = b.reshape(-1, 1) if b.ndim == 1 else b
    out = _matmul(a2, b2)
    if a.ndim == 1 and b.ndim == 1:
        return out.reshape(())
    if a.ndim == 1:
        return squeeze(out, -2)
    return squeeze(out, -1)


# =========================================================================== shapes
@primitive(save="")
def permute(xp, x, *, axes):
    """out = x with axes reordered        x̄ = ḡ with the inverse order"""
    return xp.transpose(x, axes)
permute.defvjp(lambda g, out, x, *, axes: permute(g, axes=tuple(np.argsort(axes))))


def transpose(x: Tensor, axes=None) -> Tensor:
    """Reverse the axes (``x.T``), or reorder them as ``axes`` says."""
    axes = tuple(reversed(range(x.ndim))) if axes is None else tuple(a % x.ndim for a in axes)
    return permute(x, axes=axes)


def swapaxes(x: Tensor, a: int, b: int) -> Tensor:
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return permute(x, axes=tuple(axes))


@primitive(name="reshape", save="")
def _reshape(xp, x, *, shape):
    """out = x with a new shape (same elements, row-major)       x̄ = ḡ reshaped to x's shape"""
    return xp.reshape(x, shape)
_reshape.defvjp(lambda g, out, x, *, shape: reshape(g, x.shape))


def reshape(x: Tensor, shape) -> Tensor:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if shape == x.shape:
        return x
    return _reshape(x, shape=shape)


@primitive(name="broadcast_to", save="")
def _broadcast_to(xp, x, *, shape):
    """out = x repeated along new or size-1 axes      x̄ = ḡ summed over those axes"""
    return xp.broadcast_to(x, shape)
_broadcast_to.defvjp(lambda g, out, x, *, shape: sum_to(g, x.shape))


def broadcast_to(x: Tensor, shape) -> Tensor:
    shape = tuple(shape)
    if shape == x.shape:
        return x
    return _broadcast_to(x, shape=shape)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """Undo broadcasting: sum ``g`` over the axes along which an array of ``shape`` was
    broadcast to ``g.shape`` (new leading axes, and axes where ``shape`` has size 1).

    This is the one place in minigrad where broadcasting is undone; the backward pass calls it
    whenever a VJP returns a cotangent whose shape is not its input's.
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0:
        raise ValueError(f"cannot sum a cotangent of shape {g.shape} down to {shape}")
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if not ones:                              # only new leading axes: one reduction does it
        return _sum_(g, axis=tuple(range(lead)), keepdims=False)
    return reshape(_sum_(g, axis=tuple(range(lead)) + ones, keepdims=True), shape)


@primitive(name="squeeze", save="")
def _squeeze(xp, x, *, axis):
    """out = x without the given size-1 axes       x̄ = ḡ reshaped to x's shape"""
    return xp.squeeze(x, axis=axis)
_squeeze.defvjp(lambda g, out, x, *, axis: reshape(g, x.shape))


def squeeze(x: Tensor, axis=None) -> Tensor:
    if axis is None:
        axis = tuple(i for i, n in enumerate(x.shape) if n == 1)
    axis = _axes(axis, x.ndim)
    for a in axis:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: axis {a} has size {x.shape[a]}, not 1 (shape {x.shape})")
    return _squeeze(x, axis=axis) if axis else x


@primitive(name="expand_dims", save="")
def _expand_dims(xp, x, *, axis):
    """out = x with new size-1 axes at ``axis``      x̄ = ḡ reshaped to x's shape"""
    return xp.expand_dims(x, axis)
_expand_dims.defvjp(lambda g, out, x, *, axis: reshape(g, x.shape))


def expand_dims(x: Tensor, axis) -> Tensor:
    return _expand_dims(x, axis=_axes(axis, x.ndim + (1 if isinstance(axis, (int, np.integer)) else len(axis))))


# =========================================================================== indexing
def _normalize_index(index, backend):
    """A tuple index whose arrays (Tensors, lists, NumPy arrays) live on ``backend``."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, Tensor):
            if i.backend is not backend:
                raise ValueError(f"index tensor is on {i.device!r}, the indexed tensor on {backend.device!r}")
            i = i.data
        elif isinstance(i, (list, np.ndarray)):
            i = backend.asarray(i)
        out.append(i)
    return tuple(out)


def is_basic_index(index) -> bool:
    """Only ints, slices, None and Ellipsis: every element is picked at most once."""
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis))) for i in index)


@primitive(name="getitem", save="")
def _getitem(xp, x, *, index):
    """out = x[index]        x̄ = zeros like x, with ḡ added at index (repeats add up)"""
    return x[index]
_getitem.defvjp(lambda g, out, x, *, index: scattered(g, index, x.shape))   # see autograd.Scattered


def getitem(x: Tensor, index) -> Tensor:
    return _getitem(x, index=_normalize_index(index, x.backend))


@primitive(save="")
def scatter_add(xp, g, *, index, shape):
    """out = zeros(shape) with out[index] += g      ḡ_in = ḡ[index]   (the adjoint of getitem)"""
    out = xp.zeros(shape, dtype=g.dtype)
    if is_basic_index(index):
        out[index] = g                      # a slice picks each element once: plain assignment
    else:
        xp.scatter_add(out, index, g)       # integer arrays may repeat: add, don't overwrite
    return out
scatter_add.defvjp(lambda g, out, x, *, index, shape: getitem(g, index))


def split(x: Tensor, sizes, axis: int = 0) -> list[Tensor]:
    """Cut ``x`` along ``axis`` into pieces of the given sizes (or into ``sizes`` equal parts).

    Each piece is a slice of ``x``; fine for a few pieces (LSTM gates).  To take apart a long
    sequence, keep it whole and index it step by step, or use ``stack``'s inverse by slicing.
    """
    axis %= x.ndim
    n = x.shape[axis]
    if isinstance(sizes, int):
        if n % sizes:
            raise ValueError(f"split: axis {axis} of size {n} does not divide into {sizes} equal parts")
        sizes = [n // sizes] * sizes
    if _sum(sizes) != n:
        raise ValueError(f"split: sizes {list(sizes)} do not add up to {n}, the size of axis {axis}")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(x[(slice(None),) * axis + (slice(start, start + s),)])
        start += s
    return pieces


# =========================================================================== joining
def _concat_forward(xp, *xs, axis, offsets):
    """out = [x₀, x₁, ...] joined along axis     x̄ᵢ = ḡ sliced at xᵢ's place (a view, no copy)"""
    return xp.concatenate(xs, axis=axis)


concat_ = Primitive(_concat_forward, name="concat", save="")
concat_.defvjp_argnum(lambda i, g, out, *xs, axis, offsets:
                      g[(slice(None),) * axis + (slice(offsets[i], offsets[i + 1]),)])


def concat(xs, axis: int = 0) -> Tensor:
    xs = list(xs)
    if not xs:
        raise ValueError("concat needs at least one tensor")
    axis %= xs[0].ndim
    offsets = [0]
    for x in xs:
        offsets.append(offsets[-1] + x.shape[axis])
    return concat_(*xs, axis=axis, offsets=tuple(offsets))


def _stack_forward(xp, *xs, axis):
    """out = [x₀, x₁, ...] stacked on a new axis     x̄ᵢ = ḡ[..., i, ...] (a view, no copy)"""
    return xp.stack(xs, axis=axis)


stack_ = Primitive(_stack_forward, name="stack", save="")
stack_.defvjp_argnum(lambda i, g, out, *xs, axis: g[(slice(None),) * axis + (i,)])


def stack(xs, axis: int = 0) -> Tensor:
    xs = list(xs)
    if not xs:
        raise ValueError("stack needs at least one tensor")
    return stack_(*xs, axis=axis % (xs[0].ndim + 1))


# =========================================================================== losses
def cross_entropy(logits: Tensor, targets, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy: -log softmax(logits)[target] over the last axis.

    ``logits`` has shape (..., C); ``targets`` holds integer classes with shape (...).
    ``reduction`` is "mean" (over all positions), "sum" or "none".
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    t = targets if isinstance(targets, Tensor) else Tensor(targets, device=logits.device)
    if np.issubdtype(t.dtype, np.floating) or t.dtype == bool:
        raise TypeError(f"cross_entropy: targets must be integer class indices, got dtype {t.dtype}")
    if t.shape != logits.shape[:-1]:
        raise ValueError(f"cross_entropy: logits of shape {logits.shape} need targets of shape "
                         f"{logits.shape[:-1]}, got {t.shape}")
    n, classes = int(np.prod(t.shape)), logits.shape[-1]
    logp = log_softmax(logits, -1).reshape(n, classes)
    rows = logits.backend.arange(n)
    picked = -logp[rows, t.data.reshape(n)]
    if reduction == "none":
        return picked.reshape(t.shape)
    return picked.sum() if reduction == "sum" else picked.mean()


def mse(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Squared error (prediction - target)², averaged ("mean"), summed ("sum") or not ("none")."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"mse: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    target = target if isinstance(target, Tensor) else _lift(target, prediction)
    if target.shape != prediction.shape:
        raise ValueError(f"mse: prediction of shape {prediction.shape} and target of shape "
                         f"{target.shape} differ (broadcasting here is almost always a bug)")
    d = prediction - target
    sq = d * d
    return sq if reduction == "none" else (sq.sum() if reduction == "sum" else sq.mean())
