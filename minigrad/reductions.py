"""Reductions and scans: variance, standard deviation, product, cumulative sum, norms, argmax.

Read each block as in :mod:`minigrad.ops`: the forward on raw arrays (``xp`` is the inputs'
array module), then its vector-Jacobian product written with Tensor operations, so that the
derivative can be differentiated again (``create_graph=True``).  ``ḡ`` is the cotangent arriving
from above; for ``out = f(x)`` the VJP is ``x̄ = ḡ · ∂out/∂x``.

``var`` and ``std`` are compositions (differentiated through the primitives they call); the
rest are primitives of their own.  Every function taking ``axis`` / ``keepdims`` also takes
PyTorch's ``dim`` / ``keepdim``, and negative axes count from the end.  ``dim=()`` (or ``[]``)
of var, std, vector_norm, nansum, nanmean, count_nonzero, std_mean and var_mean reduces over
all dims, as in PyTorch; ``axis=()`` over none, as in NumPy.

Conventions where a derivative does not exist, PyTorch's throughout:

* ``std`` and ``norm`` at 0 (a constant slice, a zero vector): the gradient is 0, the
  subgradient at the bottom of the cone, not the ∞ or NaN the formula would give; the second
  derivative there is 0 too.
* ``prod`` is never differentiated by dividing by x: its gradient is the product of the
  *other* elements, exact with one zero (only the zero's position gets a gradient) or several
  (all gradients are 0), and with ±∞ elsewhere in the slice: [∞, 2, 3] gives 6 for the ∞,
  where PyTorch's out / x gives NaN (the same holds for ``cumprod``).
* ``cumprod`` is not differentiated by dividing by x either: its gradient is a backward
  recurrence of products, exact with zeros in the input (as PyTorch's).
* ``logcumsumexp`` of a prefix of -∞ only (its output -∞): those inputs get gradient 0, where
  PyTorch's formula gives NaN (exp(-∞ - (-∞))).
* ``argmax`` / ``argmin`` return int64 indices with no gradient (first occurrence on ties).
"""
from __future__ import annotations

import math

import numpy as np

from . import ops
from .ops import _accumulator, _axes, accepts_dim, const, expand_dims, primitive
from .tensor import Tensor, _is_float

__all__ = ["argmax", "argmin", "cumprod", "cumsum", "logcumsumexp", "norm", "prod", "std", "var", "vector_norm", "nansum",
           "nanmean", "count_nonzero", "std_mean", "var_mean"]


_empty_dim_is_all = ops.empty_dim_is_all      # PyTorch's dim=() is all dims (see there)


def _floating(x: Tensor) -> Tensor:
    """``x`` itself if floating, else converted to the device's default float (as PyTorch does
    for var, std and norm of integer tensors)."""
    return x if _is_float(x.dtype) else ops.astype(x, dtype=x.backend.default_float)


def _count(x: Tensor, axes: tuple) -> int:
    """How many elements a reduction over ``axes`` combines (a Python int: from the shape)."""
    return math.prod(x.shape[a] for a in axes)


# =========================================================================== variance, std
@_empty_dim_is_all
@accepts_dim
def var(x: Tensor, axis=None, correction=1, keepdims: bool = False, *, unbiased=None, ddof=None) -> Tensor:
    """Variance over ``axis`` (None: all axes):  Σ (x - μ)² / (N - correction), μ the mean.

    ``correction=1`` (the default, PyTorch's) is the unbiased sample variance, ``0`` the
    population variance.  PyTorch's older ``unbiased=True/False`` and NumPy's ``ddof=`` are
    accepted too (give one of the three), and so is PyTorch's ``var(x, False)``: a bool in the
    place of ``axis`` is ``unbiased`` over all axes, not axis 0 or 1.  With N - correction ≤ 0 the result is inf or NaN,
    as in PyTorch and NumPy.  Integer inputs give the device's default float.

    A composition (mean, subtract, square, sum, divide); its derivative, from those primitives:
    x̄ = ḡ · 2 (x - μ) / (N - correction).  (The mean's own dependence on x contributes
    ḡ · Σ 2(x - μ)/(N - c) · (-1/N) = 0, because the deviations sum to 0.)
    """
    axis, unbiased = _unbiased_positional(axis, unbiased)
    correction = _correction(correction, unbiased, ddof)
    x = _floating(x)
    axes = _axes(axis, x.ndim)
    d = x - ops.mean(x, axes, keepdims=True)
    return ops.sum(d * d, axes, keepdims) / max(_count(x, axes) - correction, 0)


def _unbiased_positional(axis, unbiased):
    """PyTorch's overload ``var(x, unbiased)``: a bool in the place of ``axis`` is ``unbiased``
    (all axes), as ``x.var(False)`` and ``torch.std(x, True)`` mean in PyTorch; read as an axis,
    False would be axis 0 and True axis 1."""
    if isinstance(axis, (bool, np.bool_)):
        if unbiased is not None:
            raise TypeError("var/std: unbiased given twice (a bool in the place of dim is unbiased=)")
        return None, bool(axis)
    return axis, unbiased


def _correction(correction, unbiased, ddof):
    given = [name for name, v in (("unbiased", unbiased), ("ddof", ddof)) if v is not None]
    if len(given) > 1 or (given and correction != 1):
        raise TypeError("var/std: give one of correction=, unbiased=, ddof=")
    if unbiased is not None:
        return 1 if unbiased else 0
    return correction if ddof is None else ddof


@_empty_dim_is_all
@accepts_dim
def std(x: Tensor, axis=None, correction=1, keepdims: bool = False, *, unbiased=None, ddof=None) -> Tensor:
    """Standard deviation: √var (same arguments as :func:`var`).

    x̄ = ḡ · (x - μ) / ((N - correction) · std), and 0 where std = 0 (a constant slice), as in
    PyTorch: there the formula is 0/0, and the square root below takes its derivative as 0.
    """
    return _sqrt(var(x, axis, correction, keepdims, unbiased=unbiased, ddof=ddof))


@primitive(name="sqrt0", save="out")
def _sqrt(xp, x):
    """out = √x       x̄ = ḡ / (2√x) = ḡ / (2 out),  taken as 0 where out = 0

    At 0 the true derivative is +∞ (what ``mg.sqrt`` gives); std uses 0 there, as PyTorch
    does (its ``std_backward`` masks the points where std = 0).  The VJP divides by
    ``out + [out = 0]`` (1 there, never 0) and multiplies by ``1 - [out = 0]``, so no 1/0 is
    ever computed and no NaN reaches a second derivative.
    """
    return xp.sqrt(x)


def _sqrt_vjp(g, out, x):
    zero = const(out.data == 0, g)                    # 1 where √x = 0, else 0 (a constant)
    return g * (1 - zero) / (2 * (out + zero))


_sqrt.defvjp(_sqrt_vjp)


# =========================================================================== product
@primitive(name="prod")
def _prod(xp, x, *, axis, keepdims):
    """out = Π_axis x        x̄_i = ḡ · Π_{j≠i} x_j   (the product of the others)

    The textbook shortcut ḡ · out / x_i fails at zeros (0/0), so the product of the others is
    computed as it is written, by :func:`_others`.  With one zero in a slice only the zero's
    position has a nonzero gradient (the product of the rest); with two or more, every
    gradient is 0.  Both are exact, with no special case.
    """
    return xp.prod(x, axis=axis, keepdims=keepdims, dtype=_accumulator(x))


def _prod_vjp(g, out, x, *, axis, keepdims):
    if not keepdims:
        g = expand_dims(g, axis)
    return g * _product_of_others(x, axis)


_prod.defvjp(_prod_vjp)


@accepts_dim
def prod(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Product over ``axis`` (None: all axes; an int or a tuple of ints).  Integer and bool
    inputs give int64 (as in PyTorch), without gradient."""
    return _prod(x, axis=_axes(axis, x.ndim), keepdims=keepdims)


def _product_of_others(x: Tensor, axes: tuple) -> Tensor:
    """For each element of ``x``, the product of the other elements of its slice over ``axes``.

    The reduced axes are moved to the end and flattened into one, :func:`_others` works along
    that last axis, and the result is put back in x's layout.  All steps are Tensor operations,
    so this is differentiable (prod's second derivative goes through it).
    """
    kept = tuple(a for a in range(x.ndim) if a not in axes)
    order = kept + tuple(axes)
    moved = x if order == tuple(range(x.ndim)) else ops.transpose(x, order)
    flat = ops.reshape(moved, moved.shape[:len(kept)] + (_count(x, axes),))
    others = ops.reshape(_others(flat), moved.shape)
    if moved is x:
        return others
    inverse = tuple(order.index(a) for a in range(x.ndim))
    return ops.transpose(others, inverse)


@primitive(name="prod_others")
def _others(xp, x):
    """out_i = Π_{j≠i} x_j along the last axis    x̄_k = Σ_{i≠k} ḡ_i Π_{j∉{i,k}} x_j

    Forward: the exclusive running products from the left (x_0 ⋯ x_{i-1}) and from the right
    (x_{i+1} ⋯ x_{n-1}), multiplied; n - 1 products each way, no division.

    VJP: ∂out_i/∂x_k (k ≠ i) is the product of the others with x_i left out as well, which is
    this same function applied to the row "x with x_i set to 1".  Stacking those n rows gives
    an n × n block per slice (``rows[..., i, :]``), so the VJP costs O(n²) per slice; it is
    only needed for second derivatives of ``prod``.  Being made of Tensor operations (and of
    this primitive again), it can itself be differentiated.
    """
    if x.shape[-1] == 0:
        return x.copy()
    ones = xp.ones(x.shape[:-1] + (1,), dtype=x.dtype)
    left = xp.cumprod(xp.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    right = xp.flip(xp.cumprod(xp.flip(xp.concatenate([x[..., 1:], ones], axis=-1), -1), axis=-1), -1)
    return left * right


def _others_vjp(g, out, x):
    n = x.shape[-1]
    diagonal = x.backend.eye(n, dtype=bool)                           # [i = k]
    rows = ops.where(diagonal, 1, expand_dims(x, -2))                 # rows[..., i, :] = x, x_i := 1
    pairs = _others(rows)                                             # [..., i, k] = Π_{j∉{i,k}} x_j
    return ops.sum(ops.where(diagonal, 0, expand_dims(g, -1) * pairs), -2)   # Σ_{i≠k} ḡ_i (...)


_others.defvjp(_others_vjp)


# =========================================================================== cumulative sum
@primitive(name="cumsum", save="")
def _cumsum(xp, x, *, axis):
    """out_i = Σ_{j≤i} x_j along axis       x̄_j = Σ_{i≥j} ḡ_i   (ḡ summed from the end)

    Each x_j appears in out_j, out_{j+1}, ..., so its cotangent collects ḡ from there on: the
    cumulative sum taken backwards, :func:`_reverse_cumsum`.
    """
    return xp.cumsum(x, axis=axis, dtype=_accumulator(x))


@primitive(name="reverse_cumsum", save="")
def _reverse_cumsum(xp, x, *, axis):
    """out_i = Σ_{j≥i} x_j along axis       x̄_j = Σ_{i≤j} ḡ_i   (the cumsum: each is the
    other's adjoint, so each one's VJP is the other one)"""
    return xp.flip(xp.cumsum(xp.flip(x, axis), axis=axis), axis)


_cumsum.defvjp(lambda g, out, x, *, axis: _reverse_cumsum(g, axis=axis))
_reverse_cumsum.defvjp(lambda g, out, x, *, axis: _cumsum(g, axis=axis))


@accepts_dim
def cumsum(x: Tensor, axis) -> Tensor:
    """Running sum along ``axis`` (PyTorch's ``cumsum(dim)``; ``axis=None`` sums the flattened
    tensor, as NumPy does).  Bool and integer inputs give int64, as in PyTorch."""
    if axis is None:
        x, axis = ops.reshape(x, (-1,)), 0
    axes = _axes(axis, x.ndim)
    if not axes:                             # a 0-d tensor: its running sum is itself
        return x
    return _cumsum(x, axis=axes[0])


# =========================================================================== log of the running sum of exponentials
def _scan_logaddexp(xp, x, axis: int):
    """out_i = log Σ_{j≤i} e^(x_j), by ⌈log₂ n⌉ steps of logaddexp (Hillis and Steele): after
    the step of width s, position k holds log Σ over positions k - 2s + 1 .. k.  logaddexp is
    max(a, b) + log(1 + e^-|a - b|): nothing overflows (x = 1000 gives 1000, not ∞), nothing
    underflows to a wrong -∞ (0 after 1000 still counts), and -∞ inputs add nothing."""
    v = xp.moveaxis(x, axis, -1)
    s, n = 1, v.shape[-1]
    with np.errstate(invalid="ignore"):               # NaN and ∞ inputs: NaN and ∞, as they should
        while s < n:
            v = xp.concatenate([v[..., :s], xp.logaddexp(v[..., :-s], v[..., s:])], axis=-1)
            s *= 2
    return xp.moveaxis(v, -1, axis)


@primitive(name="logcumsumexp", save="inputs,out")
def _logcumsumexp(xp, x, *, axis, reverse):
    """out_i = log Σ_{j≤i} e^(x_j) along axis (``reverse``: Σ_{j≥i})

    x̄_j = Σ_{i≥j} ḡ_i e^(x_j - out_i)      (∂out_i/∂x_j = e^(x_j - out_i), the softmax weight of
                                             x_j in out_i; reverse: Σ_{i≤j})

    a sum of the kind :func:`_exp_weighted_cumsum` computes (with v = ḡ, a = x, b = out), in
    O(n) along the axis and without overflow.
    """
    x = x if _is_float(x.dtype) else x.astype(xp.default_float)
    if reverse:
        return xp.flip(_scan_logaddexp(xp, xp.flip(x, axis), axis), axis)
    return _scan_logaddexp(xp, x, axis)


def _logcumsumexp_vjp(g, out, x, *, axis, reverse):
    # out = -∞ (nothing but -∞ so far): no weight to give; +∞ in its place makes those terms vanish
    out = ops.where(out.data == -math.inf, math.inf, out)
    return _exp_weighted_cumsum(g, x, out, axis=axis, reverse=not reverse)


_logcumsumexp.defvjp(_logcumsumexp_vjp)


@primitive(name="exp_weighted_cumsum", save="inputs,out")
def _exp_weighted_cumsum(xp, v, a, b, *, axis, reverse):
    """out_k = Σ_{m≤k} v_m e^(a_k - b_m) along axis (``reverse``: Σ_{m≥k}), linear in v

    v̄_m = Σ_{k≥m} ḡ_k e^(a_k - b_m) = Σ_{k≥m} ḡ_k e^((-b_m) - (-a_k)): the same sum taken the
          other way, with a and b swapped and negated      (reverse: Σ_{k≤m})
    ā = ḡ out                  (a_k scales all of out_k by e^(a_k))
    b̄ = -v v̄                   (e^(-b_m) scales every term holding v_m)
    So its VJPs are made of itself: derivatives of every order, in v as well (a cotangent
    that is itself differentiated: ``mg.jvp``, a double backward), each O(n) along the axis.

    Written stably as PyTorch does, with the signs of v apart (v = v⁺ - v⁻, both ≥ 0):
    Σ_{m≤k} v⁺_m e^(a_k - b_m) = exp(a_k + log Σ_{m≤k} e^(log v⁺_m - b_m)), a logcumsumexp.
    In logcumsumexp's VJP, a = x and b = out ≥ x where a term is used: no exponent grows, so
    neither ±1000 nor -∞ entries give ∞ or NaN.
    """
    def log_running_sum(u):                          # log Σ_{m≤k} e^(u_m)  (reverse: m≥k)
        if reverse:
            return xp.flip(_scan_logaddexp(xp, xp.flip(u, axis), axis), axis)
        return _scan_logaddexp(xp, u, axis)
    with np.errstate(divide="ignore"):               # log 0 = -∞: an empty part adds nothing
        positive = log_running_sum(xp.log(xp.maximum(v, 0)) - b)
        negative = log_running_sum(xp.log(xp.maximum(-v, 0)) - b)
    return xp.exp(a + positive) - xp.exp(a + negative)


def _other_way(g, a, b, *, axis, reverse):
    """v̄ of :func:`_exp_weighted_cumsum`: the same sum of ḡ the other way, a and b swapped, negated."""
    return _exp_weighted_cumsum(g, -b, -a, axis=axis, reverse=not reverse)


_exp_weighted_cumsum.defvjp(lambda g, out, v, a, b, **p: _other_way(g, a, b, **p),          # v̄
                            lambda g, out, v, a, b, **p: g * out,                            # ā
                            lambda g, out, v, a, b, **p: -v * _other_way(g, a, b, **p))      # b̄


def logcumsumexp(x: Tensor, dim: int) -> Tensor:
    """``log(cumsum(exp(x), dim))`` without overflow or underflow, as ``torch.logcumsumexp``:
    [0, 1000] gives [0, 1000], -∞ entries add nothing, +∞ gives +∞ from there on, NaN NaN.
    Integer inputs give the default float.  A 0-d tensor is its own logcumsumexp.
    Gradient: x̄_j = Σ_{i≥j} ḡ_i e^(x_j - out_i), see :func:`_logcumsumexp`."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"logcumsumexp: dim is one int, got {dim!r}")
    axes = _axes(dim, x.ndim)
    if not axes:
        return ops.identity(_floating(x))
    return _logcumsumexp(x, axis=axes[0], reverse=False)


# =========================================================================== cumulative product
@primitive(name="cumprod")
def _cumprod(xp, x, *, axis):
    """out_i = Π_{j≤i} x_j along axis      x̄_k = Σ_{i≥k} ḡ_i Π_{j≤i, j≠k} x_j = E_k s_k

    where E_k = Π_{j<k} x_j (the products before k) and s_k = Σ_{i≥k} ḡ_i Π_{k<j≤i} x_j (what
    comes back from k on), which satisfies s_k = ḡ_k + x_{k+1} s_{k+1}: a recurrence run from
    the end, one step per position.  No division by x_k (the shortcut Σ ḡ_i out_i / x_k is
    0/0 at a zero), so the gradient is exact with one zero in x or several, with no special
    case.  Bool and integer inputs give int64, without gradient.
    """
    return xp.cumprod(x, axis=axis, dtype=_accumulator(x))


def _cumprod_vjp(g, out, x, *, axis):
    n = x.shape[axis]
    if n == 0:
        return g
    g, x = ops.swapaxes(g, axis, 0), ops.swapaxes(x, axis, 0)        # the scanned axis first
    s = [g[n - 1]]
    for k in range(n - 2, -1, -1):                                    # s_k = ḡ_k + x_{k+1} s_{k+1}
        s.append(g[k] + x[k + 1] * s[-1])
    one = const(x.backend.ones((1,) + x.shape[1:]), x)
    before = ops.concat([one, _cumprod(x[:-1], axis=0)])             # E_k = Π_{j<k} x_j
    return ops.swapaxes(before * ops.stack(s[::-1]), 0, axis)


_cumprod.defvjp(_cumprod_vjp)


@accepts_dim
def cumprod(x: Tensor, axis) -> Tensor:
    """Running product along ``axis`` (PyTorch's ``cumprod(dim)``; ``axis=None``: the flattened
    tensor, as NumPy).  Bool and integer inputs give int64, as in PyTorch.  Its gradient costs
    one small step per position along the axis (see :func:`_cumprod`)."""
    if axis is None:
        x, axis = ops.reshape(x, (-1,)), 0
    axes = _axes(axis, x.ndim)
    if not axes:
        return _cumprod(ops.reshape(x, (1,)), axis=0).reshape(())
    return _cumprod(x, axis=axes[0])


# =========================================================================== norms
@primitive(name="vector_norm", save="inputs,out")
def _vector_norm(xp, x, *, ord, axis, keepdims):
    """out = ‖x‖_p over axis; its VJP, with s = sign(x) and m = [|x| = out] (the extreme
    elements):

    ====== ====================== ==========================================
    p      out                    x̄
    ====== ====================== ==========================================
    2      √(Σ x²)                ḡ x / out
    1      Σ |x|                  ḡ s
    ∞, -∞  max |x|, min |x|       ḡ s m / Σ m     (ties share the gradient; a NaN is
                                                   the extreme: NaN at the NaNs, 0
                                                   elsewhere, where PyTorch gives 0)
    0      #{x ≠ 0}               0               (a count: piecewise constant)
    p > 0  (Σ |x|^p)^(1/p)        ḡ s (|x| / out)^(p-1)
    ====== ====================== ==========================================

    Where out = 0 (the whole slice is 0) the gradient is 0, PyTorch's subgradient, and so is
    the second derivative.  For 0 < p < 2, p ≠ 1, an element x_i = 0 gets gradient 0 and
    second derivative 0: for p < 1 the formula there is ∞ · 0 (PyTorch takes 0 too); for
    1 < p < 2 the gradient is 0 anyway and the true second derivative is +∞, reported as 0
    rather than NaN.  See :func:`_vector_norm_vjp` for how this is done without any NaN.
    """
    if ord == 2:
        return xp.sqrt(xp.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return xp.sum(xp.abs(x), axis=axis, keepdims=keepdims)
    if ord == math.inf:
        return xp.max(xp.abs(x), axis=axis, keepdims=keepdims)
    if ord == -math.inf:
        return xp.min(xp.abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return xp.sum(x != 0, axis=axis, keepdims=keepdims).astype(x.dtype)
    return xp.sum(xp.abs(x) ** ord, axis=axis, keepdims=keepdims) ** (1.0 / ord)


def _vector_norm_vjp(g, out, x, *, ord, axis, keepdims):
    """The table in :func:`_vector_norm`'s docstring, written with Tensor operations.

    The masks [out = 0], [x = 0] and s are constants.  Where out = 0, the division is by
    out + 1 = 1 instead of 0 and the result is multiplied by 1 - 1 = 0: a finite value with a
    finite derivative, times 0, so first and second derivatives there are 0, never NaN.  Where
    x_i = 0 and p < 2, s_i = 0 already makes the term 0; the base of the power is raised from
    0 to 1 there so that neither the power (p < 1) nor its derivative (p < 2) is ∞, which 0
    would turn into NaN.  For finite p the ratio |x| / out lies in [0, 1]: no overflow however
    large x is.  For p = 2 the VJP uses x itself, not s |x|: both have the same value, but only
    x has the right derivative (1) at x_i = 0.
    """
    if not keepdims:
        g, out = expand_dims(g, axis), expand_dims(out, axis)
    xp = x.backend
    if ord == 0:
        return const(xp.zeros(x.shape, dtype=bool), g)
    s = const(xp.sign(x.data), g)
    if ord == 1:
        return g * s
    if ord in (math.inf, -math.inf):
        m = ((xp.abs(x.data) == out.data) | (xp.isnan(x.data) & xp.isnan(out.data))).astype(g.data.dtype)
        return g * const(s.data * m / xp.sum(m, axis=axis, keepdims=True), g)
    flat = const(out.data == 0, g)                    # 1 where the whole slice is 0
    if ord == 2:                                      # x, not s |x|: its derivative is 1 at x = 0
        return g * x / (out + flat) * (1 - flat)
    ratio = (ops.abs(x) + flat) / (out + flat)        # |x| / out, and 1 where out = 0
    if ord < 2:                                       # base 1, not 0, where x_i = 0 (s = 0 there)
        scale = (ratio + const(x.data == 0, g)) ** (ord - 1)
    else:
        scale = ratio ** (ord - 1)
    return g * s * scale * (1 - flat)


_vector_norm.defvjp(_vector_norm_vjp)


def _check_vector_ord(ord):
    if isinstance(ord, str) or not isinstance(ord, (int, float, np.integer, np.floating)) \
            or isinstance(ord, bool) or math.isnan(ord):
        raise ValueError(f"vector norm: ord must be a number (2, 1, inf, -inf, 0 or p > 0), got {ord!r}")
    if ord < 0 and ord != -math.inf:
        raise ValueError(f"vector norm: ord {ord} is not supported: use 2, 1, inf, -inf, 0 or p > 0")
    return float(ord)


@_empty_dim_is_all
@accepts_dim
def vector_norm(x: Tensor, ord=2, axis=None, keepdims: bool = False) -> Tensor:
    """The vector p-norm over ``axis`` (None: all elements, whatever the shape; a tuple: those
    axes together), as ``torch.linalg.vector_norm``.  ``ord``: 2 (default), 1, ``inf``,
    ``-inf``, 0 (the number of nonzero elements, gradient 0) or any p > 0.  Integer inputs give
    the device's default float.  See :func:`_vector_norm` for the derivatives."""
    ord = _check_vector_ord(ord)
    x = _floating(x)
    axes = _axes(axis, x.ndim)
    if ord in (math.inf, -math.inf) and (x.size == 0 and not axes or any(x.shape[a] == 0 for a in axes)):
        raise ValueError(f"vector_norm: the {ord} norm (a max or min of |x|) over no elements is undefined "
                         f"(shape {x.shape}, axis {axis}); ord 2, 1, 0 and p > 0 give 0 there")
    return _vector_norm(x, ord=ord, axis=axes, keepdims=keepdims)


_MATRIX_ORDS = ("fro", 1, -1, math.inf, -math.inf)


@accepts_dim
def norm(x: Tensor, ord=None, axis=None, keepdims: bool = False) -> Tensor:
    """Vector or matrix norm, with the semantics of ``numpy.linalg.norm`` (which
    ``torch.linalg.norm`` shares):

    * ``axis=None, ord=None``: the 2-norm of all elements, whatever the shape (the Frobenius
      norm of a matrix); this is PyTorch's ``x.norm()``.
    * ``axis=None`` with an ``ord``: x must be 1-D (a vector norm) or 2-D (a matrix norm).
    * ``axis`` an int: vector norms along it, ``ord`` as in :func:`vector_norm` (default 2).
    * ``axis`` a pair ``(rows, cols)``: matrix norms, ``ord`` one of ``None`` / ``'fro'``
      (√Σ x²), 1 / -1 (largest / smallest column sum of |x|), ``inf`` / ``-inf`` (largest /
      smallest row sum).  The spectral and nuclear norms (2, -2, 'nuc') need singular values
      and are not provided.

    Empty input: the vector norms 2, 1, 0, p of no elements are 0; ``inf`` / ``-inf`` over an
    empty axis are refused (a max or min of nothing).  A matrix norm 1 / ``inf`` with no columns
    / rows to choose from is 0, -1 / ``-inf`` is refused (PyTorch's results, 2.13).

    (PyTorch's older ``torch.norm(x, p)`` differs: with no dim it flattens x for every p.  Use
    :func:`vector_norm` for that.)  Integer inputs give the device's default float.  The matrix
    norms 1, -1, inf, -inf are compositions of two vector norms (a sum of |x|, then the largest
    or smallest of those sums); the rest are :func:`_vector_norm`.
    """
    if axis is None:
        if ord is None:
            return vector_norm(x, 2, None, keepdims)
        if x.ndim == 1:
            axis = 0
        elif x.ndim == 2:
            axis = (0, 1)
        else:
            raise ValueError(f"norm: an ord with axis=None needs a 1-D or 2-D tensor, got {x.ndim}-D "
                             "(give axis, or use vector_norm for all elements)")
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    if len(axis) == 1:
        if isinstance(ord, str):
            raise ValueError(f"norm: ord {ord!r} is a matrix norm; a vector norm takes a number")
        return vector_norm(x, 2 if ord is None else ord, axis, keepdims)
    if len(axis) != 2:
        raise ValueError(f"norm: axis must be an int or a pair of ints, got {axis}")
    rows, cols = (_axes(a, x.ndim)[0] for a in axis)       # kept in the order given
    if rows == cols:
        raise ValueError(f"norm: repeated axis in {axis}")
    if ord is None or ord == "fro":
        return vector_norm(x, 2, (rows, cols), keepdims)
    if ord not in _MATRIX_ORDS:
        raise NotImplementedError(f"norm: the matrix norm ord={ord!r} needs singular values and is not "
                                  f"provided; the matrix norms here are {_MATRIX_ORDS}")
    summed, extreme = (rows, cols) if ord in (1, -1) else (cols, rows)
    if x.shape[extreme] == 0:                # no columns (ord ±1) or no rows (ord ±inf) to choose from
        if ord < 0:
            raise ValueError(f"norm: the matrix norm ord={ord} (a smallest sum) of shape {x.shape} has no "
                             f"sums to take the minimum of (axis {extreme} has size 0)")
        return vector_norm(x, 1, (rows, cols), keepdims)       # 0, as PyTorch gives
    sums = vector_norm(x, 1, summed, keepdims=True)                           # Σ |x| along one axis
    out = vector_norm(sums, math.inf if ord > 0 else -math.inf, extreme, keepdims=True)
    return out if keepdims else ops.squeeze(out, (rows, cols))


# =========================================================================== argmax, argmin
@accepts_dim
def argmax(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the largest value along ``axis`` (None: into the flattened tensor), int64, the
    first one on ties (a NaN counts as the largest: the first NaN).  An index has no gradient:
    the result is a constant.  Over an axis of size 0 it is refused; a tensor empty only along
    another axis gives an empty result, and a 0-d tensor index 0 (dim 0 or -1), as in PyTorch."""
    return _arg("argmax", x, axis, keepdims)


@accepts_dim
def argmin(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """Index of the smallest value along ``axis`` (None: into the flattened tensor), int64, the
    first one on ties.  No gradient."""
    return _arg("argmin", x, axis, keepdims)


def _arg(name: str, x: Tensor, axis, keepdims: bool) -> Tensor:
    """An index over no elements has no value, and is refused (as PyTorch does); a tensor that
    is empty only along another axis gives an empty int64 result, as in PyTorch."""
    xp = x.backend
    if axis is None:
        if x.size == 0:
            raise ValueError(f"{name} of an empty tensor (shape {x.shape}): there is no index to return")
        index = getattr(xp, name)(xp.reshape(x.data, (-1,)))
        if keepdims:
            index = xp.reshape(index, (1,) * x.ndim)
    else:
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"{name}: axis must be an int or None, got {axis!r}")
        axes = _axes(axis, x.ndim)
        if not axes:                         # a 0-d tensor (dim 0 or -1): its own extreme, index 0
            return Tensor._wrap(xp.zeros((), dtype=np.int64), xp)
        (axis,) = axes
        if x.shape[axis] == 0:
            raise ValueError(f"{name}: axis {axis} of shape {x.shape} has size 0: there is no index to return")
        if x.size == 0:                      # empty along another axis: an empty result
            shape = tuple(1 if d == axis else n for d, n in enumerate(x.shape) if keepdims or d != axis)
            return Tensor._wrap(xp.zeros(shape, dtype=np.int64), xp)
        index = getattr(xp, name)(x.data, axis=axis, keepdims=keepdims)
    return Tensor._wrap(xp.asarray(index, dtype=np.int64), xp)


# =========================================================================== NaN-skipping sums, counts, pairs
@_empty_dim_is_all
@accepts_dim
def nansum(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """The sum with NaNs counted as 0 (``torch.nansum``)        x̄ = ḡ where x is not NaN, else 0"""
    return ops.sum(ops.where(x.backend.isnan(x.data), 0, x), axis, keepdims)


@_empty_dim_is_all
@accepts_dim
def nanmean(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """The mean of the elements that are not NaN (``torch.nanmean``)."""
    keep = ~x.backend.isnan(x.data)
    count = Tensor._wrap(keep.sum(axis=ops._axes(axis, x.ndim), keepdims=keepdims).astype(_floating(x).data.dtype),
                         x.backend)
    return nansum(_floating(x), axis, keepdims) / count


@_empty_dim_is_all
@accepts_dim
def count_nonzero(x: Tensor, axis=None, keepdims: bool = False) -> Tensor:
    """The number of nonzero elements along ``axis`` (int64, no graph; ``torch.count_nonzero``)."""
    axes = ops._axes(axis, x.ndim) if axis is not None else None
    counts = (x.data != 0).sum(axis=axes, keepdims=keepdims, dtype=np.int64)   # (CuPy's count_nonzero has no keepdims)
    return Tensor._wrap(counts, x.backend)


@_empty_dim_is_all
@accepts_dim
def std_mean(x: Tensor, axis=None, correction=1, keepdims: bool = False, *, unbiased=None) -> tuple:
    """``(std, mean)`` over ``axis`` (``torch.std_mean``; a bool in the place of
    ``axis`` is ``unbiased``, as in PyTorch)."""
    axis, unbiased = _unbiased_positional(axis, unbiased)
    return std(x, axis, correction, keepdims, unbiased=unbiased), ops.mean(_floating(x), axis, keepdims)


@_empty_dim_is_all
@accepts_dim
def var_mean(x: Tensor, axis=None, correction=1, keepdims: bool = False, *, unbiased=None) -> tuple:
    """``(var, mean)`` over ``axis`` (``torch.var_mean``; a bool in the place of
    ``axis`` is ``unbiased``, as in PyTorch)."""
    axis, unbiased = _unbiased_positional(axis, unbiased)
    return var(x, axis, correction, keepdims, unbiased=unbiased), ops.mean(_floating(x), axis, keepdims)
