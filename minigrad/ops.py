"""The primitives: each one's forward and its derivative, side by side.

Read any block below as a unit.  The decorated function is the forward pass on raw arrays
(``xp`` is the array module of the inputs' device).  The ``defvjp`` line right after it gives,
for each input, the vector-Jacobian product: given ``g = dL/d(out)``, return ``dL/d(input)``.
Notation in the docstrings: ``ḡ`` is the cotangent arriving from above; for ``y = f(x)`` the
VJP is ``x̄ = ḡ · ∂y/∂x``.

The VJPs use Tensor operations, never raw arrays, so that backward can itself be recorded
(``create_graph=True``) and differentiated again.  Three VJPs call a helper of
:mod:`minigrad.accumulate` instead (``transposed_product``, ``product_transposed``,
``scattered``): the same Tensor operations when recording, work handed to the backward pass in
bulk when not.  A VJP may return a cotangent in the *broadcast* shape of the output; the
backward pass sums it down to the input's shape with ``autograd.sum_to``, the one place where
broadcasting is undone.

Operands of different kinds are converted first (:func:`result_dtype`: an integer tensor times
0.5 is a float tensor, float32 with float64 is refused).  Functions that take ``axis=`` and
``keepdims=`` also take PyTorch's ``dim=`` and ``keepdim=`` (:func:`accepts_dim`).

``save=`` on each primitive says which values its VJP reads (its inputs, its output, both or
none); the node keeps only those, so memory is freed as early as it can be.

Functions without a ``defvjp`` (``mean``, ``split``, ``transpose``...) are not primitives:
they are compositions, differentiated through the primitives they call.
"""
from __future__ import annotations

import builtins
import functools
from typing import NamedTuple

import numpy as np

from .accumulate import is_basic_index, product_transposed, scattered, transposed_product
from .autograd import Primitive, broadcast_to, is_grad_enabled, record, sum_to  # noqa: F401  (sum_to: ops.sum_to)
from .backend import get_backend
from .tensor import DeviceMismatchError, Tensor, _is_float

_sum, _max = builtins.sum, builtins.max          # this module defines its own sum and max


def primitive(forward=None, *, name=None, save="inputs", view=False):
    """Decorator: turn a forward function into a Primitive.

    ``name`` is the op's name when the Python name differs; ``save`` is what its VJPs read
    ("inputs", "out", "inputs,out" or ""), so that nothing else is kept for backward; ``view``
    says the output may share its input's memory (see ``Primitive``).
    """
    if forward is None:
        return lambda f: Primitive(f, name, save, view)
    return Primitive(forward, name, save, view)


class Binary(Primitive):
    """A primitive of two operands that also accepts Python numbers, NumPy arrays and tensors
    of other dtypes, converted first by the rules of :func:`result_dtype`."""

    def __call__(self, a, b, **params):
        if not (isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype):
            a, b = _operands(self.name, a, b)
        return Primitive.__call__(self, a, b, **params)


def binary(forward=None, *, name=None, save="inputs"):
    if forward is None:
        return lambda f: Binary(f, name, save)
    return Binary(forward, name, save)


_KIND = {"b": 0, "u": 1, "i": 1, "f": 2}          # bool < integer < floating


def _kind(x) -> int:
    """0 for bool, 1 for integers, 2 for floats: of a dtype, or of a Python number."""
    if isinstance(x, (bool, np.bool_)):
        return 0
    if isinstance(x, (int, np.integer)):
        return 1
    if isinstance(x, (float, np.floating)):
        return 2
    kind = _KIND.get(np.dtype(x).kind)
    if kind is None:
        raise TypeError(f"dtype {np.dtype(x)} is not supported: use bool, integer or floating tensors")
    return kind


def result_dtype(name: str, a, b) -> np.dtype:
    """The dtype of ``a op b``, PyTorch's promotion rules without its silent float upcasts.

    * Two tensors of one dtype: that dtype.  Two floating dtypes that differ: an error
      (``float32 + float64`` is refused, not upcast: convert one with ``.astype()``).
    * A floating tensor with an integer or bool one: the floating dtype; two integer or bool
      tensors: NumPy's promotion (``int32 + int64 -> int64``), except that a 0-d integer
      tensor with a tensor of dimensions of another integer dtype counts as a number, as in
      PyTorch (``int32 tensor + tensor(5)`` stays int32).
    * A tensor with a Python number: the tensor's dtype, unless the number is of a higher kind
      (bool < int < float): an integer tensor times ``0.5`` is a tensor of the device's default
      float dtype, a bool tensor plus ``1`` is int64.
    """
    if not isinstance(a, Tensor):
        a, b = b, a                                  # a is a Tensor now
    ta = a._data.dtype
    if isinstance(b, Tensor):
        tb = b._data.dtype
        if (a.ndim == 0) != (b.ndim == 0) and ta != tb and _kind(ta) == _kind(tb) == 1:
            return tb if a.ndim == 0 else ta     # a 0-d integer tensor counts as a number
        return _promote(name, ta, tb)
    kb = _kind(b)
    if kb <= _kind(ta):
        return ta
    return a.backend.default_float if kb == 2 else np.dtype(np.int64)


def _promote(name: str, ta, tb) -> np.dtype:
    """The common dtype of two tensors' dtypes (see :func:`result_dtype`)."""
    if ta == tb:
        return ta
    ka, kb = _kind(ta), _kind(tb)
    if ka == kb == 2:
        raise TypeError(f"{name}: dtype mismatch ({ta} and {tb}); minigrad does not upcast "
                        f"silently: convert one operand with .astype()")
    if ka == 2 or kb == 2:
        return ta if ka == 2 else tb
    return np.promote_types(ta, tb)


def _operands(name, a, b):
    """Both operands as tensors of one dtype (:func:`result_dtype`), on the tensor's device.

    Python numbers become cached 0-d constants; NumPy arrays and lists become constant tensors
    in the dtype of the tensor operand (when that is floating).
    """
    if not isinstance(a, Tensor) and not isinstance(b, Tensor):
        raise TypeError(f"{name}: at least one operand must be a Tensor")
    like = a if isinstance(a, Tensor) else b
    a, b = _constant_array(a, like, name), _constant_array(b, like, name)
    dtype = result_dtype(name, a, b)
    return _as_dtype(a, dtype, like), _as_dtype(b, dtype, like)


def _constant_array(value, like: Tensor, name: str):
    """NumPy arrays and lists as tensors on ``like``'s device; Tensors and numbers as they are."""
    if isinstance(value, (list, tuple)) and any(isinstance(v, Tensor) for v in value):
        raise TypeError(f"{name}: cannot combine a Tensor with a tuple of Tensors ({type(value).__name__}; "
                        "the (values, indices) pair of max(x, dim) or sort? take .values)")
    if isinstance(value, (np.ndarray, list, tuple)):
        return Tensor(value, device=like.device, dtype=like.dtype if _is_float(like.dtype) else None)
    if isinstance(value, Tensor) or isinstance(value, (bool, int, float, np.number)):
        return value
    raise TypeError(f"{name}: cannot combine a Tensor with {type(value).__name__} "
                    "(use Tensors, NumPy arrays or Python numbers)")


def _as_dtype(value, dtype, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value if value._data.dtype == dtype else astype(value, dtype=dtype)
    return _scalar(value, dtype, like.backend)


_CONSTANTS: dict = {}          # (value, dtype, device) -> 0-d array; never written into


def _scalar(value, dtype, backend) -> Tensor:
    """``value`` as a cached 0-d constant of ``dtype`` on ``backend``."""
    key = (value, dtype, backend)
    if value == 0 and isinstance(value, float):
        key = (repr(value), dtype, backend)    # -0.0 == 0.0: keep their arrays apart
    array = _CONSTANTS.get(key)
    if array is None:
        if len(_CONSTANTS) > 4096:
            _CONSTANTS.clear()
        array = _CONSTANTS[key] = backend.asarray(value, dtype=dtype)
    return Tensor._wrap(array, backend)


def _lift(value, like: Tensor) -> Tensor:
    """``value`` (a number, array or list) as a constant tensor of ``like``'s dtype and device."""
    value = _constant_array(value, like, "lift")
    return _as_dtype(value, like._data.dtype, like)


def const(array, like: Tensor) -> Tensor:
    """A constant tensor (no gradient) holding ``array`` in the dtype of ``like``."""
    return Tensor._wrap(array.astype(like._data.dtype, copy=False), like.backend)


_UNSET = object()


def accepts_dim(fn):
    """Decorator: let a function that takes ``axis=`` / ``keepdims=`` (NumPy's names) also take
    PyTorch's ``dim=`` / ``keepdim=``.  Giving both spellings of one argument is an error."""
    @functools.wraps(fn)
    def call(*args, dim=_UNSET, keepdim=_UNSET, **kwargs):
        if dim is _UNSET and keepdim is _UNSET:
            return fn(*args, **kwargs)
        for torch_name, value, numpy_name in (("dim", dim, "axis"), ("keepdim", keepdim, "keepdims")):
            if value is not _UNSET:
                if numpy_name in kwargs:
                    raise TypeError(f"{fn.__name__}: give {numpy_name}= or {torch_name}=, not both")
                kwargs[numpy_name] = value
        return fn(*args, **kwargs)
    return call


def empty_dim_is_all(fn):
    """Decorator (outside :func:`accepts_dim`): PyTorch reads ``dim=()`` / ``dim=[]`` of a
    reduction as *all* dims; NumPy's ``axis=()`` reduces over none.  So an empty ``dim=``
    keyword becomes ``None``, and ``axis=()`` keeps NumPy's meaning."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        if isinstance(kwargs.get("dim"), (tuple, list)) and len(kwargs["dim"]) == 0:
            kwargs["dim"] = None
        return fn(*args, **kwargs)
    return call


def _axes(axis, ndim) -> tuple:
    """Normalize an axis argument (None, int, tuple; negatives allowed) to a sorted tuple."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    else:
        try:
            axes = tuple(axis)
        except TypeError:
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}") from None
        if not all(isinstance(a, (int, np.integer)) for a in axes):
            raise TypeError(f"axis must be an int or a tuple of ints, got {axis!r}")
    if ndim == 0:                            # PyTorch: dim 0 or -1 of a 0-d tensor is no axis
        if any(a not in (0, -1) for a in axes):
            raise ValueError(f"axis {axis} is out of range for a 0-d tensor (0 or -1 allowed)")
        return ()
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


@binary(name="div", save="inputs,out")
def _div(xp, a, b):
    """out = a / b          ā = ḡ / b,  b̄ = -ḡ a / b² = -ḡ out / b"""
    return a / b
_div.defvjp(lambda g, out, a, b: g / b,
            lambda g, out, a, b: -g * out / b)


def div(a, b) -> Tensor:
    """``a / b``, true division: integer or bool operands give the device's default float."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a._data.dtype == b._data.dtype and a._data.dtype.kind == "f":
        return _div(a, b)                       # the common case, checked in one line
    a, b = _operands("div", a, b)
    if a._data.dtype.kind != "f":
        a, b = astype(a, dtype=a.backend.default_float), astype(b, dtype=a.backend.default_float)
    return _div(a, b)


@binary(name="pow", save="inputs,out")
def _pow(xp, a, b):
    """out = a ** b         ā = ḡ b a^(b-1),  b̄ = ḡ out log(a)

    At the points where these formulas give 0 · ∞ the derivative's limit (and PyTorch) is 0:
    ā at a = b = 0 (where a^(b-1) = 1/0), and b̄ at a = 0 for b > 0 (out = 0, log a = -∞).  At
    a = b = 0 the formula for b̄ is 1 · (-∞) (b ↦ 0^b jumps from 1 to 0 there: no derivative);
    0 is taken there too, as PyTorch does.  In these places ``a`` is replaced by 1 inside the
    formula, which makes the term exactly 0 without a NaN that a second derivative could pick up.
    """
    return a ** b


def _pow_vjp_base(g, out, a, b):
    at_zero = a.backend.logical_and(a._data == 0, b._data == 0)     # 0 ** 0
    return g * b * where(at_zero, 1, a) ** (b - 1)


def _pow_vjp_exponent(g, out, a, b):
    at_zero = a.backend.logical_and(a._data == 0, b._data >= 0)     # 0 ** b, b ≥ 0
    return g * out * log(where(at_zero, 1, a))


_pow.defvjp(_pow_vjp_base, _pow_vjp_exponent)


@primitive(name="power")
def _power(xp, x, *, exponent):
    """out = x ** e for a number e      x̄ = ḡ e x^(e-1)   (e = 0: x̄ = 0 everywhere, x = 0 included,
    where the formula would give 0 · ∞)"""
    return x ** exponent
_power.defvjp(lambda g, out, x, *, exponent: (g * exponent * x ** (exponent - 1) if exponent != 0
                                              else g * 0))


def pow(a, b) -> Tensor:
    """``a ** b``.  A Python number as the exponent takes the cheaper one-input primitive."""
    if isinstance(b, np.generic):
        b = b.item()                          # a NumPy scalar would upcast float32 (NEP 50)
    if isinstance(a, Tensor) and isinstance(b, (int, float)) and not isinstance(b, bool):
        dtype = result_dtype("pow", a, b)
        return _power(a if a._data.dtype == dtype else astype(a, dtype=dtype), exponent=b)
    return _pow(a, b)


@primitive(save="", view=True)
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
def _floating(xp, x):
    """Integer and bool arrays as the device's default float, as PyTorch does for functions with
    real values (``exp(tensor([True]))`` is ``tensor([2.7183])``): NumPy would give float16 for
    bool and 8-bit integers, float32 for 16-bit ones.  Floats stay as they are."""
    return x if _is_float(x.dtype) else x.astype(xp.default_float)


@primitive(save="out")
def exp(xp, x):
    """out = eˣ             x̄ = ḡ eˣ = ḡ out      (integer and bool inputs: the default float)"""
    return xp.exp(_floating(xp, x))
exp.defvjp(lambda g, out, x: g * out)


@primitive
def log(xp, x):
    """out = ln x           x̄ = ḡ / x             (integer and bool inputs: the default float)"""
    return xp.log(_floating(xp, x))
log.defvjp(lambda g, out, x: g / x)


@primitive(save="out")
def tanh(xp, x):
    """out = tanh x         x̄ = ḡ (1 - tanh² x) = ḡ (1 - out²)   (integers: the default float)"""
    return xp.tanh(_floating(xp, x))
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
    σ(x) = 1 / (1 + e) for x ≥ 0 and e / (1 + e) for x < 0.  Integer and bool inputs give the
    default float.
    """
    x = _floating(xp, x)
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


def _share(xp, loses, tie):
    """0 where this operand is not selected, 0.5 on ties, else 1 (also where a NaN makes the
    comparison false both ways: PyTorch gives ḡ to both operands there)."""
    return xp.where(loses, 0.0, xp.where(tie, 0.5, 1.0))


@binary
def maximum(xp, a, b):
    """out = max(a, b)      ā = ḡ [not a < b],  b̄ = ḡ [not b < a]   (ties: half each)

    Where either is NaN (out is NaN) neither comparison holds, and both get ḡ, as in PyTorch.
    """
    return xp.maximum(a, b)
maximum.defvjp(lambda g, out, a, b: g * const(_share(a.backend, a.data < b.data, a.data == b.data), g),
               lambda g, out, a, b: g * const(_share(a.backend, b.data < a.data, a.data == b.data), g))


@binary
def minimum(xp, a, b):
    """out = min(a, b)      ā = ḡ [not a > b],  b̄ = ḡ [not b > a]   (ties: half each; NaN:
    both get ḡ)"""
    return xp.minimum(a, b)
minimum.defvjp(lambda g, out, a, b: g * const(_share(a.backend, a.data > b.data, a.data == b.data), g),
               lambda g, out, a, b: g * const(_share(a.backend, b.data > a.data, a.data == b.data), g))


class _Where(Primitive):
    """``where(condition, a, b)``: the condition is a constant, not an input to differentiate."""

    def __call__(self, condition, a, b):
        if not isinstance(a, Tensor) and not isinstance(b, Tensor) and isinstance(condition, Tensor):
            a = _scalar_like(a, condition)                # where(mask, 1.0, 0.0), as PyTorch accepts
        a, b = _operands("where", a, b)
        cond = condition._data if isinstance(condition, Tensor) else a.backend.asarray(condition)
        if (a.requires_grad or b.requires_grad) and is_grad_enabled():
            cond = _kept(cond, a.backend)
        return Primitive.__call__(self, a, b, condition=cond)


def _scalar_like(value, condition: Tensor) -> Tensor:
    """A Python number as a 0-d tensor on ``condition``'s device: its own kind (bool, int64, or
    the default float), so that ``where(mask, 1.0, 0)`` gives a float tensor, as in PyTorch."""
    if not isinstance(value, (bool, int, float, np.number)):
        raise TypeError(f"where: operands must be Tensors or Python numbers, got {type(value).__name__}")
    backend = condition.backend
    kind = _kind(value)
    dtype = np.dtype(np.bool_) if kind == 0 else np.dtype(np.int64) if kind == 1 else backend.default_float
    return _scalar(value, dtype, backend)


def _where(xp, a, b, *, condition):
    """out = a where condition else b      ā = ḡ [condition],  b̄ = ḡ [not condition]"""
    return xp.where(condition, a, b)


where = _Where(_where, name="where", save="")
where.defvjp(lambda g, out, a, b, *, condition: g * const(condition, g),
             lambda g, out, a, b, *, condition: g * const(~condition, g))


@primitive(name="clip")
def _clip(xp, x, *, low, high):
    """out = min(max(x, low), high)        x̄ = ḡ [low < x < high]

    At a bound itself (x = low or x = high) the gradient is 0, the minimum-norm subgradient, as
    relu and hardtanh have at their kinks and as PyTorch 2.14's clamp gives (measured; earlier
    PyTorch versions gave 1 there).  A NaN gets 0 too.
    """
    return xp.clip(x, low, high)
_clip.defvjp(lambda g, out, x, *, low, high: g * const(
    (x.data > (-np.inf if low is None else low)) & (x.data < (np.inf if high is None else high)), g))


def clip(x: Tensor, low=None, high=None, *, min=None, max=None) -> Tensor:
    """Limit values to [low, high] (either bound may be None; PyTorch's ``min=``/``max=`` too).

    Number bounds: gradient ḡ [low < x < high], 0 at the bounds (see ``_clip``).  Tensor
    bounds are taken elementwise, as ``minimum(maximum(x, low), high)``: at a tie x and the
    bound share the gradient, half each.  Where out is NaN (x or a bound is) only x gets ḡ:
    :func:`maximum` would also give it to the bound, so the bounds enter there as constants.
    (At a bound the derivative does not exist, and these are choices: PyTorch 2.13 gives all
    of ḡ to x there, for number and tensor bounds alike, and 0 to everything where out is NaN;
    values agree.)"""
    low, high = (low if min is None else min), (high if max is None else max)
    if low is None and high is None:
        raise ValueError("clip needs at least one of low, high (or min=, max=)")
    if isinstance(low, Tensor) or isinstance(high, Tensor):
        bounds = [b for b in (low, high) if isinstance(b, Tensor)]
        nan = functools.reduce(x.backend.logical_or, [x.backend.isnan(t._data) for t in [x, *bounds]])
        low, high = (where(nan, const(b._data, b), b) if isinstance(b, Tensor) else b for b in (low, high))
        out = x if low is None else maximum(x, low)
        return out if high is None else minimum(out, high)
    low, high = (b.item() if isinstance(b, np.generic) else b for b in (low, high))
    return _clip(x, low=low, high=high)


class _AsType(Primitive):
    """``astype(x, dtype=...)``: a conversion to an integer or bool dtype ends the graph (its
    values have no derivative), so the result never requires grad, as in PyTorch (``x.long()``)."""

    def __call__(self, x, *, dtype):
        if x.requires_grad and np.dtype(dtype).kind != "f":
            return Tensor._wrap(self.forward(x.backend, x._data, dtype=dtype), x.backend)
        return Primitive.__call__(self, x, dtype=dtype)


def _astype(xp, x, *, dtype):
    """out = x converted to dtype            x̄ = ḡ converted back to x's dtype"""
    return x.astype(dtype)


astype = _AsType(_astype, name="astype")
astype.defvjp(lambda g, out, x, *, dtype: g.astype(x.dtype))


@primitive(save="")
def to_device(xp, x, *, device):
    """out = x copied to another device       x̄ = ḡ copied back"""
    raise RuntimeError("to_device is applied through to()")
to_device.defvjp(lambda g, out, x, *, device: to(g, device))


def to(x: Tensor, device) -> Tensor:
    """``x`` on another device ("cpu", "cuda", "strict"); differentiable (the gradient is
    copied back).  The same tensor if it is there already."""
    target = get_backend(device)
    if target is x.backend:
        return x
    out = Tensor._wrap(target.asarray(x.backend.to_host(x._data)), target)
    record(to_device, (x,), {"device": x.device}, out)
    return out


def compare(name: str, a, b) -> Tensor:
    """Elementwise comparison (``less``, ``equal``...): a boolean tensor, no gradient.

    Operands of different dtypes are compared by value (``int_tensor < 0.5`` compares with 0.5,
    not with 0), so even float32 with float64 is allowed here: no result carries the dtype."""
    like = a if isinstance(a, Tensor) else b
    if not isinstance(like, Tensor):
        raise TypeError(f"{name}: at least one operand must be a Tensor")
    a, b = _constant_array(a, like, name), _constant_array(b, like, name)
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.backend is not b.backend:
        raise DeviceMismatchError(f"{name}: operands on {a.device!r} and {b.device!r}; move one with .to()")
    raw = [x._data if isinstance(x, Tensor) else _scalar(x, np.result_type(x), like.backend)._data
           for x in (a, b)]
    return Tensor._wrap(getattr(like.backend, name)(*raw), like.backend)


# =========================================================================== reductions
def _accumulator(x):
    """The dtype a sum, product or running sum of ``x`` accumulates in: int64 for bool and every
    integer dtype (PyTorch's rule; NumPy uses uint64 for unsigned ones), else None (x's own)."""
    return np.int64 if x.dtype.kind in "biu" else None


@primitive(name="sum", save="")
def _sum_(xp, x, *, axis, keepdims):
    """out = Σ_axis x        x̄ = ḡ broadcast back over the summed axes

    Bool and integer inputs are summed in int64, as PyTorch does (NumPy would give uint64 for
    unsigned ones)."""
    return xp.sum(x, axis=axis, keepdims=keepdims, dtype=_accumulator(x))
_sum_.defvjp(lambda g, out, x, *, axis, keepdims:
             broadcast_to(g if keepdims else expand_dims(g, axis), x.shape))


@empty_dim_is_all
@accepts_dim
def sum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Sum over ``axis`` (None: all axes)."""
    return _sum_(x, axis=_axes(axis, x.ndim), keepdims=keepdims)


def _extreme_vjp(g, out, x, *, axis, keepdims):
    """x̄ = ḡ [x = out] / (number of positions equal to out)   (ties share the gradient; a NaN
    is the extreme, and the NaNs share the gradient, as ``torch.max()`` of all elements gives;
    ``torch.amax`` gives NaN to the whole slice there)"""
    if not keepdims:
        g, out = expand_dims(g, axis), expand_dims(out, axis)
    xp, xd, od = x.backend, x._data, out._data
    hit = xp.logical_or(xd == od, xp.logical_and(xp.isnan(xd), xp.isnan(od))).astype(g._data.dtype)
    share = hit / x.backend.sum(hit, axis=axis, keepdims=True)
    return g * const(share, g)


@primitive(name="max", save="inputs,out")
def _max_(xp, x, *, axis, keepdims):
    """out = max_axis x      x̄ = ḡ [x = out] / (number of maxima)   (ties share the gradient)"""
    return xp.max(x, axis=axis, keepdims=keepdims)
_max_.defvjp(_extreme_vjp)


@primitive(name="min", save="inputs,out")
def _min_(xp, x, *, axis, keepdims):
    """out = min_axis x      x̄ = ḡ [x = out] / (number of minima)   (ties share the gradient)"""
    return xp.min(x, axis=axis, keepdims=keepdims)
_min_.defvjp(_extreme_vjp)


# The functional form, so that the field types are the class itself rather than the string
# "Tensor" (this module's annotations are strings), which documentation tools cannot resolve.
ValuesIndices = NamedTuple("ValuesIndices", [("values", Tensor), ("indices", Tensor)])
ValuesIndices.__doc__ = ("What ``max(x, dim)``, ``min(x, dim)``, ``sort``, ``topk``, ``cummax`` and ``cummin`` return, as in "
                         "PyTorch: the values (differentiable) and their int64 indices (no graph); "
                         "``v, i = x.max(1)``.")


def _check_nonempty(name: str, x: Tensor, axes: tuple) -> None:
    """A max or min over no elements has no value (PyTorch and NumPy refuse it too); a tensor
    that is empty along another axis only gives an empty result."""
    if x.size == 0 and (not axes or any(x.shape[a] == 0 for a in axes)):
        raise ValueError(f"{name} of an empty tensor: axis {[a for a in axes if x.shape[a] == 0] or None} "
                         f"of shape {x.shape} has no elements to take the {name} of")


def _extreme(name: str, values_only, arg: str, elementwise, x, dim, keepdim, axis, keepdims):
    """The shared front end of :func:`max` and :func:`min` (see :func:`max`): ``values_only`` is
    the reduction (``_max_``), ``arg`` the array function of the index (``"argmax"``),
    ``elementwise`` the two-tensor form (:func:`maximum`)."""
    if isinstance(dim, Tensor) or (dim is not None and not isinstance(dim, (int, np.integer, tuple, list))):
        if axis is not None or keepdim or keepdims is not None:
            raise TypeError(f"{name}(x, other) compares two tensors elementwise; it takes no axis")
        return elementwise(x, dim)                                       # torch.max(x, y)
    if dim is not None and axis is not None:
        raise TypeError(f"{name}: give dim= (PyTorch: values and indices) or axis= (NumPy: values), not both")
    if keepdims is not None and keepdim:
        raise TypeError(f"{name}: give keepdim= or keepdims=, not both")
    keep = bool(keepdim or keepdims)
    if isinstance(dim, (int, np.integer)):                               # one dim: PyTorch's pair
        axes = _axes(dim, x.ndim)
        _check_nonempty(name, x, axes)
        return _values_indices(x, axes, keep, arg)
    axes = _axes(axis if dim is None else dim, x.ndim)
    _check_nonempty(name, x, axes)
    return values_only(x, axis=axes, keepdims=keep)


def _values_indices(x: Tensor, axes: tuple, keepdims: bool, arg: str) -> ValuesIndices:
    """``(values, indices)`` of the extreme along one axis, PyTorch's ``max(dim)``:

        i = argmax_axis x  (the first extreme on ties; the first NaN if there is one)
        out = x[..., i, ...]          x̄ = ḡ at [..., i, ...], 0 elsewhere

    The gradient goes to the one element whose index is returned, not shared among ties as
    by :func:`amax` (PyTorch routes it the same way).  The values are picked with
    :func:`getitem`, so they have second derivatives too.  A 0-d tensor is its own extreme,
    at index 0."""
    xp = x.backend
    if not axes:
        return ValuesIndices(identity(x), Tensor._wrap(xp.zeros((), dtype=np.int64), xp))
    (axis,) = axes
    index = getattr(xp, arg)(x._data, axis=axis).astype(np.int64, copy=False)
    grid = tuple(index if d == axis else
                 xp.arange(n).reshape(tuple(n if e == d else 1 for e in range(x.ndim) if e != axis))
                 for d, n in enumerate(x.shape))
    values = getitem(x, grid)
    if keepdims:
        values, index = expand_dims(values, axis), xp.expand_dims(index, axis)
    return ValuesIndices(values, Tensor._wrap(index, xp))


def max(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """The largest value: PyTorch's ``max``, and NumPy's with ``axis=``.

    * ``max(x)``: the largest of all elements, a 0-d tensor.
    * ``max(x, dim)`` / ``max(x, dim=d)`` with one int d: ``ValuesIndices(values, indices)``
      as ``torch.max``, so ``v, i = x.max(1)`` works; ``indices`` is int64, the first maximum
      on ties (the first NaN if there is one, whose value is NaN).  The gradient goes to that
      element only: x̄ = ḡ at [..., i, ...] (:func:`_values_indices`).
    * ``max(x, axis=a)`` (NumPy's keyword, an int or a tuple) or ``max(x, (a, b))`` (a tuple of
      dims): the values only, as :func:`amax`; ties share the gradient,
      x̄ = ḡ [x = out] / (number of maxima).
    * ``max(x, other)`` with a Tensor ``other``: the elementwise :func:`maximum`, as in PyTorch.

    ``keepdim`` (or ``keepdims``) keeps the reduced axis with size 1.  A max over no elements
    is an error; a tensor empty along another axis gives an empty result.
    """
    return _extreme("max", _max_, "argmax", maximum, x, dim, keepdim, axis, keepdims)


def min(x: Tensor, dim=None, keepdim: bool = False, *, axis=None, keepdims=None):
    """The smallest value; the same forms as :func:`max` (``min(x, dim)`` gives
    ``ValuesIndices``, the first minimum on ties, gradient to that element; ``axis=`` or a
    tuple gives the values, ties sharing the gradient; ``min(x, other)`` is :func:`minimum`)."""
    return _extreme("min", _min_, "argmin", minimum, x, dim, keepdim, axis, keepdims)


@empty_dim_is_all
@accepts_dim
def amax(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """The largest value over ``axis`` (None: all axes; an int or a tuple), values only, as
    ``torch.amax`` / ``numpy.amax``.  Ties share the gradient:
    x̄ = ḡ [x = out] / (number of maxima) (a NaN is the maximum and takes the gradient)."""
    axes = _axes(axis, x.ndim)
    _check_nonempty("amax", x, axes)
    return _max_(x, axis=axes, keepdims=keepdims)


@empty_dim_is_all
@accepts_dim
def amin(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """The smallest value over ``axis`` (None: all axes; an int or a tuple), values only, as
    ``torch.amin``.  Ties share the gradient: x̄ = ḡ [x = out] / (number of minima)."""
    axes = _axes(axis, x.ndim)
    _check_nonempty("amin", x, axes)
    return _min_(x, axis=axes, keepdims=keepdims)


@empty_dim_is_all
@accepts_dim
def mean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Average over ``axis``: sum / count (the count takes x's dtype: no upcast; integers give
    the default float dtype)."""
    axes = _axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    if x.dtype == np.float16:                # accumulate in float32 (as PyTorch): 6e4 + 6e4 overflows float16
        return astype(sum(astype(x, dtype=np.float32), axes, keepdims) / count, dtype=np.float16)
    return sum(x, axes, keepdims) / count


@primitive(name="logsumexp", save="inputs,out")
def _logsumexp(xp, x, *, axis, keepdims):
    """out = log Σ_axis eˣ     x̄ = ḡ eˣ / Σ eˣ = ḡ exp(x - out)

    Stable: with m = max x (a constant), log Σ eˣ = m + log Σ e^(x-m), and no e^(x-m) exceeds 1.
    Integer and bool inputs: the default float first (x - m in uint8 would wrap around).
    """
    x = _floating(xp, x)
    m = xp.max(x, axis=axis, keepdims=True)
    m = xp.where(xp.isfinite(m), m, 0)
    out = xp.log(xp.sum(xp.exp(x - m), axis=axis, keepdims=True)) + m
    return out if keepdims else xp.squeeze(out, axis=axis)


def _logsumexp_vjp(g, out, x, *, axis, keepdims):
    if not keepdims:
        g, out = expand_dims(g, axis), expand_dims(out, axis)
    return g * exp(x - out)


_logsumexp.defvjp(_logsumexp_vjp)


@empty_dim_is_all
@accepts_dim
def logsumexp(x: Tensor, axis=-1, keepdims: bool = False) -> Tensor:
    axes = _axes(axis, x.ndim)
    if _empty_along(x, axes):                 # log of an empty sum: -inf, as PyTorch gives
        return sum(x * 0, axes, keepdims) - np.inf
    return _logsumexp(x, axis=axes, keepdims=keepdims)


def _empty_along(x: Tensor, axes) -> bool:
    """True when an axis reduced over has size 0 (the stable forms' max has no identity)."""
    return any(x.shape[a] == 0 for a in axes)


@primitive(name="softmax", save="out")
def _softmax(xp, x, *, axis):
    """out = eˣ / Σ_axis eˣ      x̄ = out (ḡ - Σ_axis ḡ out)   (integer and bool x: the default float)"""
    x = _floating(xp, x)
    e = xp.exp(x - xp.max(x, axis=axis, keepdims=True))
    return e / xp.sum(e, axis=axis, keepdims=True)
_softmax.defvjp(lambda g, out, x, *, axis: out * (g - sum(g * out, axis, keepdims=True)))


@accepts_dim
def softmax(x: Tensor, axis=-1) -> Tensor:
    axes = _axes(axis, x.ndim)
    return _float_tensor(x) * 0 if _empty_along(x, axes) else _softmax(x, axis=axes)


def _float_tensor(x: Tensor) -> Tensor:
    """``x``, or for integer and bool tensors ``x`` in the device's default float."""
    return x if _is_float(x.dtype) else astype(x, dtype=x.backend.default_float)


@primitive(name="log_softmax", save="out")
def _log_softmax(xp, x, *, axis):
    """out = x - log Σ_axis eˣ   x̄ = ḡ - softmax(x) Σ_axis ḡ = ḡ - exp(out) Σ_axis ḡ
    (integer and bool x: the default float)"""
    x = _floating(xp, x)
    m = xp.max(x, axis=axis, keepdims=True)
    shifted = x - m
    return shifted - xp.log(xp.sum(xp.exp(shifted), axis=axis, keepdims=True))
_log_softmax.defvjp(lambda g, out, x, *, axis: g - exp(out) * sum(g, axis, keepdims=True))


@accepts_dim
def log_softmax(x: Tensor, axis=-1) -> Tensor:
    axes = _axes(axis, x.ndim)
    return _float_tensor(x) * 0 if _empty_along(x, axes) else _log_softmax(x, axis=axes)


# =========================================================================== linear algebra
@primitive(name="matmul")
def _matmul(xp, a, b):
    """out = a @ b   (matrices, or stacks of them)     ā = ḡ bᵀ,  b̄ = aᵀ ḡ

    Over stacked (batched) operands the products broadcast; sum_to then sums ā (or b̄) over the
    batch axes that a (or b) was broadcast along.
    """
    if a.dtype != b.dtype:
        raise TypeError(f"dtype mismatch ({a.dtype} and {b.dtype}); minigrad does not upcast "
                        "silently: convert one operand with .astype()")
    return xp.matmul(a, b)
_matmul.defvjp(lambda g, out, a, b: product_transposed(g, b),      # ḡ bᵀ
               lambda g, out, a, b: (transposed_product(a, g)      # aᵀ ḡ, deferred (accumulate.Product)
                                     if a.shape[:-2] == b.shape[:-2]
                                     else a.mT @ g))               # b broadcast: sum_to then reduces aᵀ ḡ


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted to a row / column, then
    the added axis is removed again (with reshape, so the gradient flows through it)."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        like = a if isinstance(a, Tensor) else b
        if not isinstance(like, Tensor) or isinstance(a if like is b else b, (bool, int, float, np.number)):
            raise TypeError(f"matmul needs two Tensors (or a Tensor and a NumPy array), got "
                            f"{type(a).__name__} and {type(b).__name__}")
        a, b = (a, _lift(b, a)) if like is a else (_lift(a, b), b)
    sa, sb = a._data.shape, b._data.shape
    if len(sa) >= 2 and len(sb) >= 2 and sa[-1] == sb[-2] and (len(sa) == 2 or len(sb) == 2 or sa[:-2] == sb[:-2]):
        return _matmul(a, b)                                  # the common case, checked in passing
    _check_matmul_shapes(a, b)
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


def _check_matmul_shapes(a: Tensor, b: Tensor) -> None:
    """Refuse, in one line, operands that ``a @ b`` cannot multiply (NumPy's own message speaks
    of gufunc signatures): a 0-d one (PyTorch refuses those too), inner sizes that differ, batch
    axes that do not broadcast."""
    sa, sb = a._data.shape, b._data.shape
    if not sa or not sb:
        raise ValueError(f"matmul: both operands need at least one dimension, got shapes {sa} and {sb} "
                         "(PyTorch refuses 0-d operands too; multiply by a 0-d tensor with *)")
    inner = sb[-2] if len(sb) >= 2 else sb[0]
    if sa[-1] != inner:
        first = "the length of the first" if len(sa) == 1 else "the last dim of the first"
        second = "the length of the second" if len(sb) == 1 else "the second-to-last of the second"
        problem = f"size mismatch, {sa} @ {sb}: {first} ({sa[-1]}) must equal {second} ({inner})"
    elif len(sa) > 2 and len(sb) > 2 and sa[:-2] != sb[:-2]:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
            return
        except ValueError:
            problem = (f"batch dims do not broadcast, {sa} @ {sb}: {sa[:-2]} and {sb[:-2]} "
                       "(each pair of sizes must be equal or one of them 1)")
    else:
        return
    raise ValueError(f"matmul: {problem} (inputs: {sa} {a.dtype}, {sb} {b.dtype})")


# =========================================================================== shapes
@primitive(name="permute", save="", view=True)
def _permute(xp, x, *, axes):
    """out = x with axes reordered: out axis i is x's axis axes[i]
    x̄ = ḡ with the inverse order (axis axes[i] of x̄ is ḡ's axis i)"""
    return xp.transpose(x, axes)
_permute.defvjp(lambda g, out, x, *, axes: _permute(g, axes=_inverse(axes)))


def _inverse(axes) -> tuple:
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a] = i
    return tuple(inverse)


def permute(x: Tensor, *axes) -> Tensor:
    """Reorder the axes: ``permute(x, (2, 0, 1))`` or ``permute(x, 2, 0, 1)``; negative axes
    count from the end (``permute(x, -1, 0, 1)``)."""
    if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)):
        axes = tuple(axes[0])
    if len(axes) != x.ndim:
        raise ValueError(f"permute: {len(axes)} axes given for a tensor with {x.ndim} dimensions")
    normal = tuple(int(a) % _max(x.ndim, 1) if -x.ndim <= a < x.ndim else None for a in axes)
    if None in normal or sorted(normal) != list(range(x.ndim)):
        raise ValueError(f"permute: {tuple(axes)} is not an ordering of the {x.ndim} axes (0..{x.ndim - 1}, "
                         "or negative from the end)")
    return _permute(x, axes=normal)


def transpose(x: Tensor, *axes) -> Tensor:
    """``transpose(x)``: reverse the axes (``x.T``); ``transpose(x, a, b)``: swap axes a and b
    (PyTorch's meaning); ``transpose(x, (2, 0, 1))``: reorder them (NumPy's)."""
    if not axes or axes == (None,):
        return permute(x, tuple(reversed(range(x.ndim))))
    if len(axes) == 2 and all(isinstance(a, (int, np.integer)) for a in axes):
        return swapaxes(x, *axes)
    return permute(x, *axes)


def swapaxes(x: Tensor, a: int, b: int) -> Tensor:
    """Exchange axes ``a`` and ``b`` (PyTorch: ``x.transpose(a, b)``)."""
    order = list(range(x.ndim))
    a, b = _axes(a, x.ndim)[0], _axes(b, x.ndim)[0]
    order[a], order[b] = order[b], order[a]
    return permute(x, tuple(order))


@primitive(name="reshape", save="", view=True)
def _reshape(xp, x, *, shape):
    """out = x with a new shape (same elements, row-major)       x̄ = ḡ reshaped to x's shape"""
    return xp.reshape(x, shape)
_reshape.defvjp(lambda g, out, x, *, shape: reshape(g, x.shape))


def reshape(x: Tensor, shape) -> Tensor:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(s) for s in shape)
    if shape == x.shape:
        return x
    return _reshape(x, shape=shape)


@primitive(name="squeeze", save="", view=True)
def _squeeze(xp, x, *, axis):
    """out = x without the given size-1 axes       x̄ = ḡ reshaped to x's shape"""
    return xp.squeeze(x, axis=axis)
_squeeze.defvjp(lambda g, out, x, *, axis: reshape(g, x.shape))


@accepts_dim
def squeeze(x: Tensor, axis=None) -> Tensor:
    """Remove size-1 axes: all of them, or those among ``axis`` (others are left, as PyTorch
    does)."""
    axis = tuple(a for a in _axes(axis, x.ndim) if x.shape[a] == 1)
    return _squeeze(x, axis=axis) if axis else x


@primitive(name="expand_dims", save="", view=True)
def _expand_dims(xp, x, *, axis):
    """out = x with new size-1 axes at ``axis``      x̄ = ḡ reshaped to x's shape"""
    return xp.expand_dims(x, axis)
_expand_dims.defvjp(lambda g, out, x, *, axis: reshape(g, x.shape))


@accepts_dim
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
            i = i._data
        elif isinstance(i, (list, np.ndarray)):
            i = backend.asarray(i)
        out.append(i)
    return tuple(out)


def _kept(arrays, backend):
    """The index arrays (or a condition) of an op being recorded, as the graph's own copies: its
    VJP reads them at backward, and the caller may change its index tensor or NumPy array in
    place before that, which would move the gradient silently (PyTorch refuses at backward;
    with a copy the change is harmless).  Numbers, slices and None stay as they are; while
    ``mg.trace`` records a program its arrays are the program's own already."""
    if backend.tracing:
        return arrays
    if isinstance(arrays, tuple):
        return tuple(a.copy() if hasattr(a, "ndim") else a for a in arrays)
    return arrays.copy()


@primitive(name="getitem", save="")
def _getitem(xp, x, *, index):
    """out = x[index]        x̄ = zeros like x, with ḡ added at index (repeats add up)"""
    return x[index]
_getitem.defvjp(lambda g, out, x, *, index: scattered(g, index, x.shape, scatter_add))   # see accumulate


_BASIC_TYPES = frozenset((int, slice, type(None), type(Ellipsis)))


def _index_kind(i) -> str:
    """What an entry of a normalized index is, for PyTorch's order: "int" (an int, or a 0-d
    integer array: PyTorch selects with a 0-d integer tensor as with an int), "bool" (True,
    False or a 0-d boolean array: a new axis of size 1 or 0, taking no axis of x), "array" (an
    index array or mask of >= 1 dimension) or "basic" (a slice, None, Ellipsis)."""
    if i is None or i is Ellipsis or isinstance(i, slice):
        return "basic"
    if isinstance(i, (bool, np.bool_)):
        return "bool"
    if isinstance(i, (int, np.integer)):
        return "int"
    ndim = getattr(i, "ndim", None)
    if ndim == 0:
        return "bool" if i.dtype == bool else "int"
    return "array" if ndim else "basic"


def _ints_first(index, ndim: int):
    """PyTorch's order for an index with index arrays: None when NumPy's rules already give it,
    else the indices to apply one after the other: ``(index,)`` or ``(ints, rest)``.

    NumPy counts an int as an advanced index when an array is present, so ``x[1, :, [0, 2]]``
    puts the broadcast axis (2,) first, shape (2, n1); PyTorch takes the int first (basic
    indexing), then the array: shape (n1, 2).  Applying the ints alone first (every other entry
    a full slice; arrays and masks too, a bool scalar nothing: it takes no axis) and then the
    rest (ints dropped) gives PyTorch's shape and values.  An Ellipsis that stands for no axis
    does not separate two index arrays in PyTorch (``x[:, a, ..., b]`` on 3-D x is
    ``x[:, a, b]``): it is dropped.
    """
    if len(index) < 2 or all(type(i) in _BASIC_TYPES for i in index):   # the common cases first: x[t], x[:, t]
        return None
    kinds = [_index_kind(i) for i in index]
    if "array" not in kinds and "bool" not in kinds:  # ints, slices, None, Ellipsis: basic
        return None
    steps = None
    ellipsis = [k for k, i in enumerate(index) if i is Ellipsis]
    if ellipsis:
        taken = builtins.sum((i.ndim if i.dtype == bool else 1) if kind == "array" else
                             1 if kind == "int" or isinstance(i, slice) else 0 for i, kind in zip(index, kinds))
        if taken == ndim:                             # the Ellipsis stands for no axis
            index = index[:ellipsis[0]] + index[ellipsis[0] + 1:]
            kinds = kinds[:ellipsis[0]] + kinds[ellipsis[0] + 1:]
            steps = (index,)
    if "int" not in kinds:
        return steps
    first, rest = [], []
    for i, kind in zip(index, kinds):
        if kind == "int":
            first.append(i)
        elif i is None or kind == "bool":
            rest.append(i)
        elif i is Ellipsis:
            first.append(Ellipsis)
            rest.append(Ellipsis)
        elif kind == "array":
            first.extend([slice(None)] * (i.ndim if i.dtype == bool else 1))
            rest.append(i)
        else:
            first.append(slice(None))
            rest.append(i)
    return tuple(first), tuple(rest)


def getitem(x: Tensor, index) -> Tensor:
    """``x[index]``.  A basic index (ints, slices) gives a view: it shares x's version cell.

    Index arrays follow NumPy's rules, except where PyTorch's differ (see :func:`_ints_first`):
    ints (and 0-d integer tensors) mixed with index arrays are applied first, so that
    ``x[1, :, [0, 2]]`` has PyTorch's shape."""
    index = _normalize_index(index, x.backend)
    if x.requires_grad and is_grad_enabled():
        index = _kept(index, x.backend)
    steps = _ints_first(index, x.ndim)
    if steps is not None:
        for step in steps:
            x = _getitem(x, index=step)
        return x
    out = _getitem(x, index=index)
    if is_basic_index(index):
        out._version = x._version
    return out


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


def split(x: Tensor, sizes, dim=None, *, axis=None) -> list[Tensor]:
    """Cut ``x`` into pieces along one axis: PyTorch's ``split``, and NumPy's with ``axis=``.

    * ``sizes`` a list: pieces of exactly those sizes (they must add up to the axis' size),
      whichever spelling is used.
    * ``sizes`` an int with ``dim`` (positional or ``dim=``) or no axis at all (axis 0): PyTorch's
      meaning, the size of each piece; the last is smaller when it does not divide
      (``split(arange(5), 2)`` gives sizes 2, 2, 1).
    * ``sizes`` an int with ``axis=`` (NumPy's keyword): ``numpy.split``'s meaning, the number
      of equal pieces (``split(z, 4, axis=-1)``: an LSTM's four gates); it must divide.

    Each piece is a slice of ``x`` (a view); its gradient is ḡ placed back at the slice.  Fine
    for a few pieces; to take apart a long sequence, index it step by step instead.
    """
    if dim is not None and axis is not None:
        raise TypeError("split: give dim= (PyTorch: an int is each piece's size) or axis= (NumPy: an "
                        "int is the number of pieces), not both")
    numpy_style = axis is not None
    axis = axis if numpy_style else (0 if dim is None else dim)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"split: the axis to split along is one int, got {axis!r}")
    axis = _axes(axis, x.ndim)
    if not axis:
        raise ValueError("split: a 0-d tensor has no axis to split")
    (axis,) = axis
    n = x.shape[axis]
    if isinstance(sizes, (int, np.integer)):
        if sizes <= 0:
            raise ValueError(f"split: an int must be positive, got {sizes}")
        if numpy_style:
            if n % sizes:
                raise ValueError(f"split: axis {axis} of size {n} does not divide into {sizes} equal parts "
                                 "(axis= is NumPy's spelling: the int is the number of parts)")
            sizes = [n // sizes] * sizes
        else:
            sizes = [int(sizes)] * (n // sizes) + ([n % sizes] if n % sizes else [])
            if not sizes:
                sizes = [0]                          # an empty axis: one empty piece, as PyTorch
    sizes = [int(s) for s in sizes]
    if _sum(sizes) != n or any(s < 0 for s in sizes):
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


@accepts_dim
def concat(xs, axis: int = 0) -> Tensor:
    """Join tensors along ``axis`` (PyTorch's ``cat``); their other sizes must match.

    As in PyTorch (a legacy rule it keeps), a 1-D empty tensor, shape (0,), is skipped whatever
    the others' shapes (it still counts for the dtype): it is reshaped to the others' shape with
    0 along ``axis``, so that its gradient, an empty (0,) tensor, comes back through the reshape.
    """
    xs = _same_dtype("concat", list(xs))
    shapes = [x.shape for x in xs]
    skipped = [s == (0,) for s in shapes]
    if all(skipped):                                        # nothing but (0,): their (0,) join, any dim
        axis, skipped = 0, [False] * len(xs)
    first = skipped.index(False)                            # the tensor the others must fit
    like, n = shapes[first], len(shapes[first])
    for i, s in enumerate(shapes):
        if not s:
            raise ValueError(f"concat: tensor {i} is 0-d: 0-d tensors have no axis to join along; reshape "
                             "them to (1,) first, or use stack")
    if type(axis) is int and -n <= axis < n:
        axis %= n
    else:                                                   # the usual words for a bad axis
        try:
            (axis,) = _axes(axis, n)
        except ValueError as e:
            raise ValueError(f"concat: {e}") from None
    others = like[:axis] + like[axis + 1:]                  # the sizes that must match
    for i, s in enumerate(shapes):
        if s != like and not skipped[i] and (len(s) != n or s[:axis] + s[axis + 1:] != others):
            raise ValueError(f"concat: tensor {i} of shape {s} does not fit tensor {first} of shape {like}: "
                             f"sizes must match except along dim {axis} (1-D empty tensors, shape (0,), are skipped)")
    if True in skipped:                                     # each an empty piece of the join: its gradient,
        empty = like[:axis] + (0,) + like[axis + 1:]        # (0,), comes back through the reshape
        xs = [reshape(x, empty) if skip else x for x, skip in zip(xs, skipped)]
        shapes = [x.shape for x in xs]
    offsets = [0]
    for shape in shapes:
        offsets.append(offsets[-1] + shape[axis])
    return concat_(*xs, axis=axis, offsets=tuple(offsets))


def _stack_forward(xp, *xs, axis):
    """out = [x₀, x₁, ...] stacked on a new axis     x̄ᵢ = ḡ[..., i, ...] (a view, no copy)"""
    return xp.stack(xs, axis=axis)


stack_ = Primitive(_stack_forward, name="stack", save="")
stack_.defvjp_argnum(lambda i, g, out, *xs, axis: g[(slice(None),) * axis + (i,)])


@accepts_dim
def stack(xs, axis: int = 0) -> Tensor:
    xs = _same_dtype("stack", list(xs))
    return stack_(*xs, axis=axis % (xs[0].ndim + 1))


def _same_dtype(name, xs) -> list:
    """The tensors converted to one dtype by :func:`result_dtype` (two float dtypes: an error)."""
    if not xs:
        raise ValueError(f"{name} needs at least one tensor")
    dtype = xs[0]._data.dtype
    for x in xs[1:]:
        dtype = _promote(name, dtype, x._data.dtype)
    return [x if x._data.dtype == dtype else astype(x, dtype=dtype) for x in xs]
