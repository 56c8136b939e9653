"""Rearranging tensors: picking, moving, repeating and padding elements, with their derivatives.

Every op here moves values around without changing them, so every derivative is another
rearrangement of the cotangent ``ḡ``: to "undo" where a value went.  Read the pairs together:

* ``gather`` (``take_along_axis``) copies ``x[..., index, ...]`` out; its adjoint
  ``scatter_add_along`` adds ``ḡ`` back at the same places (a value picked twice gets two
  contributions).  Each is the other's VJP, so second derivatives work;
* ``pad`` surrounds ``x`` with a constant, ``crop`` cuts the edges off: each is the other's VJP;
* ``diagonal`` reads a matrix's diagonal out, ``diag_place`` writes a vector onto one: each is
  the other's VJP (``diag`` is one or the other, as PyTorch's; ``trace`` sums a diagonal);
* ``roll`` by s is undone by ``roll`` by -s, ``flip`` by ``flip``, ``tril`` by ``tril``;
* ``tile`` and ``repeat_interleave`` copy each value several times: their VJPs sum the copies;
* ``sort`` and ``topk`` are a ``gather`` with indices found by sorting (constants: no gradient
  flows into the indices, which are integers); ``argsort`` is ``sort``'s indices alone;
* ``masked_fill`` replaces values: no gradient flows to the replaced ones; ``scatter`` writes
  ``src`` into x: x̄ is ḡ with zeros where written, src̄ the gather of ḡ at the index (0 for an
  entry a later write overwrote);
* ``cummax`` and ``cummin`` are a ``gather`` with indices found by a running comparison.

Indices in gather, scatter, scatter_add, index_select and index_add must lie in [0, n), as in
PyTorch (checked: one read back from the device, and in a traced program on every replay);
``getitem`` and ``take_along_axis`` keep
NumPy's rule (negative indices count from the end) and check nothing.

Indices (``index``, ``mask``) are device arrays kept as parameters of the node, never inputs.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .autograd import DeviceMismatchError, is_grad_enabled
from .ops import ValuesIndices, _axes, accepts_dim, const, primitive
from .tensor import Tensor

__all__ = ["take_along_axis", "gather", "index_select", "masked_fill", "one_hot", "roll", "flip", "pad",
           "tril", "triu", "diag", "diagonal", "trace", "diff", "tile", "repeat_interleave", "sort", "argsort", "topk", "ValuesIndices", "movedim", "moveaxis", "narrow", "unflatten", "hstack", "vstack", "column_stack",
           "dstack", "masked_select", "scatter_add", "index_add", "unfold",
           "tensor_split", "tensordot", "cross", "scatter", "cummax", "cummin", "median", "nanmedian"]


# =========================================================================== helpers
def _axis(axis, ndim) -> int:
    """One axis, negatives allowed, as a non-negative int (range checked)."""
    if not isinstance(axis, (int, np.integer)):
        raise TypeError(f"an axis is an int, got {axis!r}")
    return _axes(int(axis), ndim)[0]


def _device_array(values, like: Tensor, what: str):
    """``values`` (a Tensor, a list or a NumPy array) as an array on ``like``'s device; while a
    graph is recorded, the graph's own copy (``ops._kept``: an index or mask changed in place
    before backward must not move the gradient)."""
    if isinstance(values, Tensor):
        if values.backend is not like.backend:
            raise DeviceMismatchError(f"{what} is on {values.device!r}, the tensor on {like.device!r}")
        data = values.data
    else:
        data = like.backend.asarray(values)
    return ops._kept(data, like.backend) if is_grad_enabled() else data


def _index_array(index, like: Tensor, what: str = "index"):
    data = _device_array(index, like, what)
    if not np.issubdtype(np.dtype(data.dtype), np.integer):
        raise TypeError(f"{what} must hold integers, got dtype {data.dtype}")
    return data


def _check_range(name: str, index, n: int, axis: int, xp) -> None:
    """Refuse an index outside [0, n) along ``axis`` of size n, as PyTorch's gather, scatter,
    scatter_add, index_select and index_add do (NumPy would count a negative one from the end,
    silently).  Reads the smallest and largest index back from the device: one sync on a GPU,
    so only these ops check (``getitem``, which the training loss uses, does not).  Inside
    ``mg.trace`` an index made from the arguments is checked by the program on every replay
    (:meth:`Backend.check_index_range`), a constant one once, while tracing."""
    xp.check_index_range(index, n, name, axis)


# =========================================================================== gather / scatter
def _grid(xp, index, axis):
    """The full index that picks ``x[i₀, ..., index[i₀, ..., iₙ], ..., iₙ]`` for every position
    ``(i₀, ..., iₙ)`` of ``index``: ``index`` itself along ``axis``, a broadcast ``arange`` along
    every other axis."""
    n = index.ndim
    return tuple(index if d == axis else
                 xp.arange(size).reshape(tuple(size if e == d else 1 for e in range(n)))
                 for d, size in enumerate(index.shape))


@primitive(name="gather", save="")
def _gather(xp, x, *, index, axis):
    """out[i, j, k] = x[i, index[i, j, k], k]     (axis = 1 shown; out has index's shape)

    x̄ = zeros like x, with ḡ[i, j, k] added at [i, index[i, j, k], k]: scatter_add_along.
    An element picked twice receives both contributions (repeats add up, never overwrite).
    """
    return x[_grid(xp, index, axis)]
_gather.defvjp(lambda g, out, x, *, index, axis:
               _scatter_add_along(g, index=index, axis=axis, shape=x.shape))


@primitive(name="scatter_add_along", save="")
def _scatter_add_along(xp, g, *, index, axis, shape):
    """out = zeros(shape);  out[i, index[i, j, k], k] += g[i, j, k]     (axis = 1 shown)

    The adjoint of gather, and gather is its adjoint:  ḡ_in = gather(ḡ, index), reading back
    the value of ḡ at the place where each element was added."""
    out = xp.zeros(shape, dtype=g.dtype)
    xp.scatter_add(out, _grid(xp, index, axis), g)     # repeated indices add up
    return out
_scatter_add_along.defvjp(lambda h, out, g, *, index, axis, shape: _gather(h, index=index, axis=axis))


@accepts_dim
def take_along_axis(x: Tensor, indices, axis) -> Tensor:
    """NumPy's ``take_along_axis``: ``out[..., j, ...] = x[..., indices[..., j, ...], ...]``
    along ``axis`` (``dim=`` also accepted; None: along the flattened ``x``).

    ``indices`` has as many dimensions as ``x``; the other axes broadcast against ``x``'s.
    Differentiable in ``x`` (the gradient is a scatter-add, repeats add up), never in
    ``indices``.  Negative indices count from the end; out-of-range ones raise on the CPU
    (CuPy does not check them).
    """
    idx = _index_array(indices, x, "take_along_axis: indices")
    if axis is None:
        x, idx, axis = ops.reshape(x, (-1,)), idx.reshape(-1), 0
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices have {idx.ndim} dimensions, x has {x.ndim}; "
                         "they must match (add size-1 axes to broadcast)")
    axis = _axis(axis, x.ndim)
    try:
        common = np.broadcast_shapes(x.shape[:axis] + (1,) + x.shape[axis + 1:],
                                     idx.shape[:axis] + (1,) + idx.shape[axis + 1:])
    except ValueError:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} do not broadcast against "
                         f"x of shape {x.shape} (apart from axis {axis})") from None
    x = ops.broadcast_to(x, common[:axis] + (x.shape[axis],) + common[axis + 1:])
    idx = x.backend.broadcast_to(idx, common[:axis] + (idx.shape[axis],) + common[axis + 1:])
    return _gather(x, index=idx, axis=axis)


def gather(x: Tensor, dim: int, index) -> Tensor:
    """PyTorch's ``gather`` (same argument order): ``out[i][j][k] = x[i][index[i][j][k]][k]``
    for ``dim = 1``; ``out`` has ``index``'s shape.

    ``index`` has as many dimensions as ``x`` and, on every other axis, no more elements than
    ``x`` (no broadcasting, as in PyTorch); its values lie in [0, n) for the size n of ``dim``
    (a negative or larger one is refused, as in PyTorch: :func:`_check_range`).  Gradient:
    repeated indices add up.
    """
    idx = _index_array(index, x, "gather: index")
    if x.ndim == 0 and idx.ndim == 0:                 # PyTorch takes a 0-d x as one element
        return ops.reshape(gather(ops.reshape(x, (1,)), dim, idx.reshape(1)), ())
    if idx.ndim != x.ndim:
        raise ValueError(f"gather: index has {idx.ndim} dimensions, x has {x.ndim}; they must match")
    axis = _axis(dim, x.ndim)
    for d, (i, n) in enumerate(zip(idx.shape, x.shape)):
        if d != axis and i > n:
            raise ValueError(f"gather: index of shape {idx.shape} is larger than x of shape {x.shape} "
                             f"on dimension {d} (only dimension {axis}, the one gathered along, may be)")
    _check_range("gather", idx, x.shape[axis], axis, x.backend)
    return _gather(x, index=idx, axis=axis)


def index_select(x: Tensor, dim: int, index) -> Tensor:
    """PyTorch's ``index_select``: the slices of ``x`` at positions ``index`` (1-D integers) along
    ``dim``, in that order; the axis keeps its place and gets ``len(index)`` entries.

    A composition: ``x[:, ..., index]`` (:func:`minigrad.getitem`); its gradient puts ḡ back at
    the positions, and a position picked twice gets both (repeats add up).  Positions lie in
    [0, n): a negative or larger one is refused, as in PyTorch (:func:`_check_range`)."""
    if isinstance(index, (list, tuple)) and len(index) == 0:
        index = np.zeros(0, dtype=np.int64)        # (NumPy would make [] a float array)
    idx = _index_array(index, x, "index_select: index")
    if idx.ndim > 1:
        raise ValueError(f"index_select: index must be 1-D (or 0-d), got shape {tuple(idx.shape)}")
    if x.ndim == 0:                                # PyTorch takes a 0-d x as one element
        if idx.size != 1:
            raise ValueError(f"index_select: a 0-d x takes one index, got {idx.size}")
        return ops.reshape(index_select(ops.reshape(x, (1,)), dim, idx), ())
    axis = _axis(dim, x.ndim)
    _check_range("index_select", idx, x.shape[axis], axis, x.backend)
    return ops.getitem(x, (slice(None),) * axis + (idx.reshape(-1),))


# =========================================================================== masking
@primitive(name="masked_fill", save="")
def _masked_fill(xp, x, *, mask, value):
    """out = value where mask else x         x̄ = ḡ [not mask]   (filled places get nothing)"""
    return xp.where(mask, xp.asarray(value, dtype=x.dtype), x)
_masked_fill.defvjp(lambda g, out, x, *, mask, value: ops.mul(g, const(~mask, g)))


def masked_fill(x: Tensor, mask, value) -> Tensor:
    """``x`` with ``value`` wherever the boolean ``mask`` (broadcast to ``x``'s shape) is True.

    ``value`` is a number, or a 0-d Tensor (which then receives the gradient of the filled
    places, as in PyTorch)."""
    m = _device_array(mask, x, "masked_fill: mask")
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be boolean, got dtype {m.dtype}")
    try:
        fits = np.broadcast_shapes(m.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"masked_fill: a mask of shape {m.shape} does not broadcast to x's shape {x.shape}")
    if isinstance(value, Tensor):
        if value.ndim != 0:
            raise ValueError(f"masked_fill: a Tensor value must be 0-d, got shape {value.shape}")
        return ops.where(m, ops.broadcast_to(value, x.shape), x)
    return _masked_fill(x, mask=m, value=value)


def one_hot(indices, num_classes: int = -1) -> Tensor:
    """``out[..., c] = 1 if indices[...] == c else 0``: an int64 tensor of shape
    ``indices.shape + (num_classes,)`` (PyTorch's ``one_hot``; no graph: it is a constant).

    ``num_classes = -1`` uses ``max(indices) + 1``, which reads the indices back from the device
    (one sync; they are checked to be non-negative then).  With ``num_classes`` given nothing is
    read back and nothing checked: an index outside ``[0, num_classes)`` gives a row of zeros."""
    t = indices if isinstance(indices, Tensor) else Tensor(indices)
    idx = _index_array(t, t, "one_hot: indices")
    xp = t.backend
    if not isinstance(num_classes, (int, np.integer)) or num_classes < -1:
        raise ValueError(f"one_hot: num_classes must be a non-negative int or -1, got {num_classes!r}")
    if num_classes == -1:
        if idx.size == 0:
            raise ValueError("one_hot: cannot infer num_classes from empty indices; give num_classes")
        low, high = (int(v) for v in xp.to_host(xp.stack([xp.min(idx), xp.max(idx)])))
        if low < 0:
            raise ValueError(f"one_hot: indices must be non-negative, got {low}")
        num_classes = high + 1
    classes = xp.arange(int(num_classes))
    return Tensor._wrap((idx[..., None] == classes).astype(np.int64), xp)


# =========================================================================== moving elements
@primitive(name="roll", save="")
def _roll(xp, x, *, shifts, axes):
    """out[(i + s) mod n] = x[i] along each axis (axes None: over the flattened x)

    x̄ = ḡ rolled back:  x̄[i] = ḡ[(i + s) mod n],  i.e. roll(ḡ, -s)."""
    return xp.roll(x, shifts, axis=axes)
_roll.defvjp(lambda g, out, x, *, shifts, axes:
             _roll(g, shifts=tuple(-s for s in shifts) if axes is not None else -shifts, axes=axes))


def roll(x: Tensor, shifts, dims=None) -> Tensor:
    """PyTorch's ``roll``: shift elements along ``dims`` by ``shifts`` (int or tuple, paired
    with ``dims``), wrapping around; ``dims=None`` rolls the flattened tensor (one shift)."""
    if dims is None:
        if isinstance(shifts, (tuple, list)):
            if len(shifts) != 1:
                raise ValueError(f"roll: without dims, give one shift, got {tuple(shifts)}")
            shifts = shifts[0]
        return _roll(x, shifts=int(shifts), axes=None)
    shifts = (shifts,) if isinstance(shifts, (int, np.integer)) else tuple(shifts)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise ValueError(f"roll: {len(shifts)} shifts for {len(dims)} dims; give one shift per dim")
    return _roll(x, shifts=tuple(int(s) for s in shifts), axes=tuple(_axis(d, x.ndim) for d in dims))


@primitive(name="flip", save="")
def _flip(xp, x, *, axes):
    """out[i] = x[n - 1 - i] along each axis          x̄ = flip(ḡ)  (a flip is its own inverse)

    A copy, as ``torch.flip``'s: NumPy's flip is a view, and a write into it
    (``x.flip(0).neg_()``) would change x behind its version counter."""
    return xp.flip(x, axis=axes).copy()
_flip.defvjp(lambda g, out, x, *, axes: _flip(g, axes=axes))


def flip(x: Tensor, dims=None) -> Tensor:
    """Reverse the order of elements along ``dims`` (int or tuple; None: every axis)."""
    return _flip(x, axes=_axes(dims, x.ndim))


# =========================================================================== padding
@primitive(name="pad", save="")
def _pad(xp, x, *, width, value):
    """out = x surrounded by ``value``: ``width[d] = (before, after)`` elements on axis d

    x̄ = ḡ with the border cut off: crop(ḡ, width), i.e. ḡ[before : before + n] on each axis."""
    return xp.pad(x, width, mode="constant", constant_values=value)
_pad.defvjp(lambda g, out, x, *, width, value: _crop(g, width=width))


@primitive(name="crop", save="")
def _crop(xp, x, *, width):
    """out = x without its border: ``x[before : n - after]`` on each axis d, with
    ``width[d] = (before, after)``

    x̄ = ḡ padded back with zeros: pad(ḡ, width, 0).  (pad and crop are each other's VJP.)"""
    return x[tuple(slice(b, n - a) for (b, a), n in zip(width, x.shape))]
_crop.defvjp(lambda g, out, x, *, width: _pad(g, width=width, value=0))


def pad(x: Tensor, pad, value=0.0, mode: str = "constant") -> Tensor:
    """Padding with PyTorch's convention: ``pad`` lists (before, after) pairs starting from the
    *last* dimension: ``(left, right)`` pads the last axis, ``(left, right, top, bottom)`` the
    last two, and so on.  Negative amounts cut elements off (as in PyTorch).

    ``mode`` (also accepted third, in PyTorch's order ``pad(x, pad, mode, value)``, when it
    is a string): "constant" (``value``), or "reflect" (mirrored without repeating the edge, pads
    shorter than the dimension), "replicate" (the edge repeated), "circular" (wrapped around,
    pads from 0 to the dimension): these three pick elements of x by index (see
    :func:`_pad_index`), so their gradient adds up where an element is picked more than once.
    """
    if isinstance(value, str):                     # PyTorch's order: F.pad(x, pad, "reflect"), (x, pad, "constant", 9)
        if isinstance(mode, str) and mode != "constant":
            raise ValueError(f"pad: mode given twice ({value!r} and {mode!r})")
        value, mode = (0.0 if isinstance(mode, str) or mode is None else mode), value
    pad = tuple(pad)
    if len(pad) % 2 or len(pad) > 2 * x.ndim or not all(isinstance(p, (int, np.integer)) for p in pad):
        raise ValueError(f"pad: give an even number (at most 2 x {x.ndim} dimensions) of ints, "
                         f"(before, after) pairs from the last dimension back; got {pad}")
    pairs = [(0, 0)] * x.ndim
    for k in range(len(pad) // 2):
        pairs[x.ndim - 1 - k] = (int(pad[2 * k]), int(pad[2 * k + 1]))
    if mode != "constant":
        if mode not in ("reflect", "replicate", "circular"):
            raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
        for d, (b, a) in enumerate(pairs):
            if b or a:
                x = ops.getitem(x, (slice(None),) * d + (x.backend.asarray(_pad_index(mode, x.shape[d], b, a, d)),))
        return x
    cut = tuple((max(-b, 0), max(-a, 0)) for b, a in pairs)
    grow = tuple((max(b, 0), max(a, 0)) for b, a in pairs)
    for d, ((b, a), n) in enumerate(zip(cut, x.shape)):
        if b + a > n:
            raise ValueError(f"pad: negative padding {pairs[d]} removes more than the {n} elements "
                             f"of dimension {d}")
    if any(b or a for b, a in cut):
        x = _crop(x, width=cut)
    return _pad(x, width=grow, value=value) if any(b or a for b, a in grow) else x


def _pad_index(mode: str, n: int, before: int, after: int, d: int) -> np.ndarray:
    """The positions of x along one dimension that the padded dimension holds: i = -before ..
    n + after - 1 mapped into [0, n) by the mode (host integers, a handful per dimension)."""
    if before + after + n < 0:
        raise ValueError(f"pad: padding ({before}, {after}) removes more than the {n} elements of dimension {d}")
    i = np.arange(-before, n + after)
    if mode == "replicate":
        if n == 0:
            raise ValueError(f"pad: replicate padding of the empty dimension {d}")
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        if min(before, after) < 0:
            raise ValueError(f"pad: circular padding takes no negative amounts, got ({before}, {after}) for "
                             f"dimension {d} (cut with a slice first; PyTorch 2.13 gives wrong values there)")
        if max(before, after) > n:
            raise ValueError(f"pad: circular padding ({before}, {after}) wraps around dimension {d} of size {n} "
                             "more than once")
        return i % n
    if max(before, after) >= n:
        raise ValueError(f"pad: reflect padding ({before}, {after}) must be smaller than dimension {d} of size {n}")
    period = 2 * (n - 1)
    j = np.abs(i) % period if period else np.zeros_like(i)
    return np.where(j > n - 1, period - j, j)


# =========================================================================== triangles
@primitive(name="tril", save="")
def _tril(xp, x, *, k):
    """out[..., i, j] = x[..., i, j] if j - i ≤ k else 0      x̄ = tril(ḡ, k)

    (Zeroing the same entries is a projection: its own VJP.)"""
    return xp.tril(x, k=k)
_tril.defvjp(lambda g, out, x, *, k: _tril(g, k=k))


@primitive(name="triu", save="")
def _triu(xp, x, *, k):
    """out[..., i, j] = x[..., i, j] if j - i ≥ k else 0      x̄ = triu(ḡ, k)"""
    return xp.triu(x, k=k)
_triu.defvjp(lambda g, out, x, *, k: _triu(g, k=k))


def _matrices(x: Tensor, name: str):
    if x.ndim < 2:
        raise ValueError(f"{name}: needs a matrix or a stack of matrices, got shape {x.shape}")


def tril(x: Tensor, diagonal: int = 0) -> Tensor:
    """The lower triangle of the last two axes: entries on and below the ``diagonal``-th
    diagonal (0 main, > 0 above it, < 0 below it); the others become 0."""
    _matrices(x, "tril")
    return _tril(x, k=int(diagonal))


def triu(x: Tensor, diagonal: int = 0) -> Tensor:
    """The upper triangle of the last two axes: entries on and above the ``diagonal``-th diagonal."""
    _matrices(x, "triu")
    return _triu(x, k=int(diagonal))


# =========================================================================== diagonals
@primitive(name="diagonal", save="", view=True)
def _diagonal(xp, x, *, k):
    """out[..., i] = x[..., i, i + k] (k ≥ 0) or x[..., i - k, i] (k < 0): the k-th diagonal of
    the matrix (or of each matrix of a stack) in the last two axes
    x̄ = zeros like x with ḡ written back onto that diagonal: diag_place

    A view, as ``torch.diagonal``'s: ``w.diagonal().add_(1)`` changes w.  (NumPy's own
    ``diagonal`` view is read-only; a one-operand ``einsum`` that only takes a diagonal is a
    writeable view in NumPy and CuPy alike.)"""
    rows, cols = x.shape[-2:]
    square = x[..., max(-k, 0):, max(k, 0):]
    n = max(min(rows - max(-k, 0), cols - max(k, 0)), 0)
    return xp.einsum("...ii->...i", square[..., :n, :n])


@primitive(name="diag_place", save="")
def _diag_place(xp, v, *, k, shape):
    """out = zeros(shape) with v on the k-th diagonal of the last two axes
    v̄ = the k-th diagonal of ḡ: diagonal"""
    out = xp.zeros(shape, dtype=v.dtype)
    i = xp.arange(v.shape[-1])
    out[..., i + max(-k, 0), i + max(k, 0)] = v
    return out


@primitive(name="diagonal_copy", save="")
def _diagonal_copy(xp, x, *, k):
    """out = a copy of the k-th diagonal (:func:`_diagonal`), as ``torch.diag`` gives
    x̄ = diag_place(ḡ), as for diagonal"""
    return _diagonal.forward(xp, x, k=k).copy()


_diagonal.defvjp(lambda g, out, x, *, k: _diag_place(g, k=k, shape=x.shape))
_diagonal_copy.defvjp(lambda g, out, x, *, k: _diag_place(g, k=k, shape=x.shape))
_diag_place.defvjp(lambda g, out, v, *, k, shape: _diagonal(g, k=k))


def _offset(name: str, k) -> int:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool):
        raise TypeError(f"{name}: the diagonal's offset is an int, got {k!r}")
    return int(k)


def diagonal(x: Tensor, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset``-th diagonal (0 the main one, > 0 above it, < 0 below it) of the matrices
    in axes ``dim1`` (rows) and ``dim2`` (columns), as ``torch.diagonal``: those two axes go, and
    the diagonal becomes the last axis (a matrix gives a 1-D tensor).  A ``permute`` that puts
    the two axes last, then :func:`_diagonal`."""
    if x.ndim < 2:
        raise ValueError(f"diagonal: takes a tensor of at least 2 dimensions, got shape {x.shape}")
    k, d1, d2 = _offset("diagonal", offset), _axis(dim1, x.ndim), _axis(dim2, x.ndim)
    if d1 == d2:
        raise ValueError(f"diagonal: dim1 and dim2 must be two different axes, got {dim1} and {dim2}")
    if (d1, d2) != (x.ndim - 2, x.ndim - 1):
        x = ops.permute(x, tuple(d for d in range(x.ndim) if d not in (d1, d2)) + (d1, d2))
    return _diagonal(x, k=k)


def diag(x: Tensor, diagonal: int = 0) -> Tensor:
    """PyTorch's ``diag``: a 1-D ``x`` becomes the square matrix with ``x`` on its
    ``diagonal``-th diagonal (size n + |diagonal|); a 2-D ``x`` gives that diagonal, 1-D."""
    k = _offset("diag", diagonal)
    if x.ndim == 1:
        n = x.shape[0] + abs(k)
        return _diag_place(x, k=k, shape=(n, n))
    if x.ndim == 2:
        return _diagonal_copy(x, k=k)
    raise ValueError(f"diag: takes a 1-D tensor (to make a matrix) or a 2-D one (to read its "
                     f"diagonal), got shape {x.shape}")


def trace(x: Tensor) -> Tensor:
    """The sum of a matrix's main diagonal (integers: int64, as in PyTorch); x̄ = ḡ I."""
    if x.ndim != 2:
        raise ValueError(f"trace: takes a 2-D tensor, got shape {x.shape}")
    return ops.sum(_diagonal(x, k=0))


# =========================================================================== differences
def diff(x: Tensor, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """The ``n``-th forward difference along ``dim``: ``out[i] = x[i + 1] - x[i]``, ``n`` times
    (``torch.diff``; ``prepend`` / ``append`` are joined to x along ``dim`` first: tensors with
    x's dimensions, or numbers, which stand for one slice of that value, as in NumPy).  Bool
    tensors give ``x[i + 1] != x[i]``, as in PyTorch.  A composition of slices and a
    subtraction: x̄[i] = ḡ[i - 1] - ḡ[i] for n = 1."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"diff: n must be a non-negative int, got {n!r}")
    if x.ndim == 0:
        raise ValueError("diff: needs a tensor with at least one dimension, got a 0-d one")
    axis = _axis(dim, x.ndim)
    parts = [x]
    if prepend is not None:
        parts.insert(0, _diff_part(prepend, x, axis, "prepend"))
    if append is not None:
        parts.append(_diff_part(append, x, axis, "append"))
    if len(parts) > 1:
        x = ops.concat(parts, axis=axis)
    before, after = ((slice(None),) * axis + (slice(s, e),) for s, e in ((None, -1), (1, None)))
    for _ in range(int(n)):
        if x.dtype == np.bool_:
            x = ops.compare("not_equal", x[after], x[before])
        else:
            x = x[after] - x[before]
    return x


def _diff_part(p, x: Tensor, axis: int, name: str) -> Tensor:
    """``prepend`` / ``append`` of :func:`diff` as a Tensor to join to ``x``: a Tensor with x's
    dimensions (sizes equal except along ``axis``), or a number, which stands for a slice of
    x's shape with one element along ``axis`` (NumPy's ``diff``)."""
    if isinstance(p, numbers.Number):
        shape = x.shape[:axis] + (1,) + x.shape[axis + 1:]
        p = Tensor._wrap(x.backend.full(shape, p, dtype=ops.result_dtype("diff", x, p)), x.backend)
    elif not isinstance(p, Tensor):
        p = ops._lift(p, x)
    if p.ndim != x.ndim or p.shape[:axis] + p.shape[axis + 1:] != x.shape[:axis] + x.shape[axis + 1:]:
        raise ValueError(f"diff: {name} of shape {p.shape} does not fit x of shape {x.shape}: it needs "
                         f"x's {x.ndim} dimension(s), with the same sizes except along dim {axis}")
    return p


# =========================================================================== repeating
@primitive(name="tile", save="")
def _tile(xp, x, *, reps):
    """out = x repeated reps[d] times, whole, along each axis d (len(reps) ≥ x.ndim)

    Along axis d, out[b·n + i] = x[i] for each block b < reps[d].  So x̄ = the sum of the
    blocks of ḡ: reshape ḡ to (reps₀, n₀, reps₁, n₁, ...) and sum over the reps axes."""
    return xp.tile(x, reps)


def _tile_vjp(g, out, x, *, reps):
    shape = (1,) * (len(reps) - x.ndim) + tuple(x.shape)
    blocks = ops.reshape(g, tuple(v for pair in zip(reps, shape) for v in pair))
    return ops.reshape(ops.sum(blocks, tuple(range(0, 2 * len(reps), 2))), x.shape)


_tile.defvjp(_tile_vjp)


def tile(x: Tensor, reps) -> Tensor:
    """NumPy's ``tile`` (PyTorch's ``Tensor.repeat``): ``x`` repeated, whole, ``reps[d]``
    times along each axis.  With fewer reps than axes, the reps apply to the last axes; with
    more, ``x`` gets new leading axes of size 1 first."""
    reps = (reps,) if isinstance(reps, (int, np.integer)) else tuple(reps)
    if not all(isinstance(r, (int, np.integer)) and r >= 0 for r in reps):
        raise ValueError(f"tile: reps must be non-negative ints, got {reps}")
    reps = (1,) * (x.ndim - len(reps)) + tuple(int(r) for r in reps)
    return _tile(x, reps=reps)


@primitive(name="repeat_interleave", save="")
def _repeat_interleave(xp, x, *, repeats, axis):
    """out[r·i + j] = x[i] for j < r along axis (each element r times in a row)

    x̄ = ḡ with each run of r copies summed: reshape the axis to (n, r), sum over r."""
    return xp.repeat(x, repeats, axis=axis)


def _repeat_interleave_vjp(g, out, x, *, repeats, axis):
    runs = ops.reshape(g, x.shape[:axis] + (x.shape[axis], repeats) + x.shape[axis + 1:])
    return ops.sum(runs, axis + 1)


_repeat_interleave.defvjp(_repeat_interleave_vjp)


def repeat_interleave(x: Tensor, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """PyTorch's ``repeat_interleave``: each element of ``x`` repeated in a row along ``dim``
    (None: over the flattened tensor, giving a 1-D result).

    * ``repeats`` an int: every element that many times (the primitive above);
    * ``repeats`` one count per element along ``dim``: a 1-D integer Tensor or list of ints
      (a 0-d tensor or a single count: the same for all).  [1, 2] on rows a, b gives a, b, b:
      x indexed with the positions 0, 1, 1 (:func:`minigrad.getitem`), whose gradient adds
      each element's copies (an element repeated 0 times gets 0).  The counts are read back
      from the device (one sync, as in PyTorch);
    * ``repeat_interleave(counts)`` alone (``x`` a 1-D integer tensor): the positions
      themselves, ``[1, 0, 3]`` gives ``[0, 2, 2, 2]``, in the counts' dtype.

    ``output_size`` (PyTorch's hint of the result's length along ``dim``) is checked."""
    if repeats is None:
        return _repeat_positions(x)
    if dim is None:
        x, axis = ops.reshape(x, (-1,)), 0
    elif x.ndim == 0:
        raise ValueError(f"repeat_interleave: a 0-d tensor has no dim {dim}; use dim=None")
    else:
        axis = _axis(dim, x.ndim)
    n = x.shape[axis]
    counts = _counts(repeats, "repeat_interleave: repeats")
    if counts.ndim == 1 and counts.size != 1 and counts.size != n:
        raise ValueError(f"repeat_interleave: repeats holds {counts.size} counts, x has {n} elements along "
                         f"dim {axis} (give one count per element, or a single count)")
    each = int(counts.reshape(-1)[0]) if counts.size == 1 else None     # one count for all
    total = each * n if each is not None else int(counts.sum())
    if output_size is not None and output_size != total:
        raise ValueError(f"repeat_interleave: output_size={output_size!r}, but the result has {total} "
                         f"elements along dim {axis}")
    if each is not None:
        return _repeat_interleave(x, repeats=each, axis=axis)
    positions = x.backend.asarray(np.repeat(np.arange(n), counts))
    return ops.getitem(x, (slice(None),) * axis + (positions,))


def _counts(repeats, what: str) -> np.ndarray:
    """``repeats`` (an int, an integer Tensor or a list of ints) as a host array of counts ≥ 0, 0-d
    or 1-D."""
    if isinstance(repeats, (bool, np.bool_)):
        raise TypeError(f"{what} must be an int or integers, got {repeats!r}")
    if isinstance(repeats, Tensor):
        counts = repeats.backend.to_host(repeats.data)
    elif isinstance(repeats, (list, tuple)) and len(repeats) == 0:
        counts = np.zeros(0, dtype=np.int64)          # (NumPy would make [] a float array)
    else:
        counts = np.asarray(repeats)
    if not np.issubdtype(counts.dtype, np.integer):
        raise TypeError(f"{what} must be an int or integers, got dtype {counts.dtype}")
    if counts.ndim > 1:
        raise ValueError(f"{what} must be 0-d or 1-D, got shape {counts.shape}")
    if counts.size and counts.min() < 0:
        raise ValueError(f"{what} must be non-negative, got {counts.min()}")
    return counts


def _repeat_positions(counts) -> Tensor:
    """``repeat_interleave(counts)``: position i, ``counts[i]`` times (no gradient)."""
    if not isinstance(counts, Tensor):
        raise TypeError(f"repeat_interleave: give repeats, or a 1-D integer tensor of counts alone, got "
                        f"{type(counts).__name__}")
    if counts.ndim != 1:
        raise ValueError(f"repeat_interleave: the counts alone must be a 1-D tensor, got shape {counts.shape}")
    host = _counts(counts, "repeat_interleave: the counts")
    positions = np.repeat(np.arange(host.size, dtype=host.dtype), host)
    return Tensor._wrap(counts.backend.asarray(positions), counts.backend)


# =========================================================================== sorting
def _argsort(x: Tensor, axis: int, descending: bool):
    """Stable argsort along axis.  Descending and still stable (equal values keep their order):
    sort the reversed x ascending, reverse the result, map the positions back (n - 1 - i)."""
    xp = x.backend
    if not descending:
        return xp.argsort(x.data, axis=axis, kind="stable")
    n = x.shape[axis]
    return (n - 1) - xp.flip(xp.argsort(xp.flip(x.data, axis=axis), axis=axis, kind="stable"), axis=axis)


def _scalar_values_indices(x: Tensor, dim) -> ValuesIndices:
    """A 0-d tensor's sort or top-1: itself (a node of its own), at index 0."""
    _axes(dim, 0)                               # dim must be 0 or -1
    return ValuesIndices(ops.identity(x), Tensor._wrap(x.backend.zeros((), dtype=np.int64), x.backend))


def sort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = True) -> ValuesIndices:
    """Sort along ``dim``: ``(values, indices)`` with ``values = take_along_axis(x, indices, dim)``.

    The gradient of ``values`` is the cotangent put back where each value came from
    (``x̄[indices[j]] = ḡ[j]``); ``indices`` (int64) has no graph.  The sort is always stable
    (``stable=False`` is accepted: a stable order is a valid unstable one).  A 0-d tensor is
    already sorted: itself, at index 0 (``dim`` 0 or -1)."""
    if x.ndim == 0:
        return _scalar_values_indices(x, dim)
    axis = _axis(dim, x.ndim)
    idx = _argsort(x, axis, descending).astype(np.int64, copy=False)
    return ValuesIndices(_gather(x, index=idx, axis=axis), Tensor._wrap(idx, x.backend))


def argsort(x: Tensor, dim: int = -1, descending: bool = False, stable: bool = True) -> Tensor:
    """The int64 indices that sort ``x`` along ``dim`` (``sort(...).indices``; stable: equal
    values keep their order, also when ``descending``).  An index has no gradient."""
    return sort(x, dim, descending, stable).indices


def topk(x: Tensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> ValuesIndices:
    """The ``k`` largest (``largest=False``: smallest) values along ``dim`` with their int64
    indices, in sorted order (``sorted=False`` is accepted; the order is then still sorted).

    ``values`` is differentiable: the gradient goes to the selected elements, 0 elsewhere.
    A 0-d tensor gives itself at index 0 for k = 0 or 1 (as PyTorch does).  Equal values come
    in index order (stable); PyTorch leaves the order of ties unspecified (2.13 on the CPU:
    the top 3 of [3, 1, 3, 2, 3, 1] at indices [2, 4, 0])."""
    if x.ndim == 0:
        if k not in (0, 1) or isinstance(k, bool):
            raise ValueError(f"topk: k must be 0 or 1 for a 0-d tensor, got {k!r}")
        return _scalar_values_indices(x, dim)
    axis = _axis(dim, x.ndim)
    n = x.shape[axis]
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise ValueError(f"topk: k must be an int in [0, {n}] (the size of dimension {axis}), got {k!r}")
    idx = _argsort(x, axis, largest).astype(np.int64, copy=False)
    idx = idx[(slice(None),) * axis + (slice(0, int(k)),)]
    return ValuesIndices(_gather(x, index=idx, axis=axis), Tensor._wrap(idx, x.backend))


@primitive(name="median", save="inputs,out")
def _median_all(xp, x, *, ignore_nan):
    """out = the lower median of all elements (the ⌊(n-1)/2⌋-th smallest; NaN if any is NaN,
    or with ``ignore_nan`` of the others)     x̄ = ḡ / m at each of the m elements equal to out
    (spread evenly over ties, as max() does and PyTorch's median() does)"""
    v = xp.sort(x.reshape(-1))                       # NaN last
    n = v.shape[0]
    if n == 0:
        return xp.asarray(np.nan, dtype=x.dtype)
    nans = xp.isnan(v).sum() if v.dtype.kind == "f" else xp.zeros((), dtype=np.int64)
    k = xp.maximum((n - nans - 1) // 2, 0) if ignore_nan else xp.where(nans > 0, n - nans, (n - 1) // 2)
    return xp.take(v, k)                             # k on the device: no synchronization


def _median_all_vjp(g, out, x, *, ignore_nan):
    xp = x.backend
    same = (x.data == out.data) | (xp.isnan(x.data) & xp.isnan(out.data))
    count = Tensor._wrap(xp.maximum(same.sum(), 1).astype(x.data.dtype), xp)      # 1: none (empty x)
    return ops.where(same, g / count, 0.0)


_median_all.defvjp(_median_all_vjp)


def _median(x: Tensor, dim, keepdim: bool, ignore_nan: bool, who: str):
    if dim is None:
        if x.dtype.kind not in "fiu":
            raise TypeError(f"{who}: takes a number tensor, got dtype {x.dtype}")
        if x.size == 0 and x.dtype.kind != "f":
            raise ValueError(f"{who}: an empty integer tensor has no median")
        return _median_all(x, ignore_nan=ignore_nan)
    if x.ndim == 0:
        return _scalar_values_indices(x, dim)
    axis = _axis(dim, x.ndim)
    n = x.shape[axis]
    if n == 0:
        raise IndexError(f"{who}: dim {dim} has size 0 (a median needs at least one element)")
    xp = x.backend
    idx = _argsort(x, axis, False).astype(np.int64, copy=False)          # stable; NaN last
    nans = (xp.isnan(x.data).sum(axis=axis, keepdims=True) if x.dtype.kind == "f"
            else xp.zeros(x.shape[:axis] + (1,) + x.shape[axis + 1:], dtype=np.int64))
    k = xp.maximum((n - nans - 1) // 2, 0) if ignore_nan else xp.where(nans > 0, n - nans, (n - 1) // 2)
    idx = xp.take_along_axis(idx, k.astype(np.int64), axis=axis)
    values = _gather(x, index=idx, axis=axis)
    if not keepdim:
        values, idx = ops.squeeze(values, axis), xp.squeeze(idx, axis=axis)
    return ValuesIndices(values, Tensor._wrap(idx, x.backend))


def median(x: Tensor, dim=None, keepdim: bool = False):
    """The lower median, as ``torch.median``: of all elements (``dim=None``: a 0-d tensor), or
    along ``dim`` as ``(values, indices)`` (``keepdim`` keeps that axis with size 1).

    For an even count it is the smaller of the two middle values (no average), so it is one of
    the elements; NaN wherever a NaN is among them (the index: the first NaN).  Along ``dim``
    the gradient goes to the element at ``indices`` (ties: the earliest in a stable sort);
    without ``dim`` it is spread evenly over the elements equal to the median, as ``max()``."""
    return _median(x, dim, keepdim, False, "median")


def nanmedian(x: Tensor, dim=None, keepdim: bool = False):
    """:func:`median` of the non-NaN elements (NaN where all are NaN), as ``torch.nanmedian``."""
    return _median(x, dim, keepdim, True, "nanmedian")


# =========================================================================== moving and cutting axes (PyTorch's names)
def movedim(x: Tensor, source, destination) -> Tensor:
    """The axes ``source`` (an int or a sequence) moved to positions ``destination``, the others
    keeping their order (``torch.movedim`` / ``numpy.moveaxis``); a :func:`minigrad.permute`."""
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} must have the same length")
    src = [_axis(a, x.ndim) for a in src]
    dst = [_axis(a, x.ndim) for a in dst]
    if len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"movedim: repeated axis in source {source} or destination {destination}")
    order = [a for a in range(x.ndim) if a not in src]
    for d, a in sorted(zip(dst, src)):
        order.insert(d, a)
    return ops.permute(x, tuple(order))


moveaxis = movedim


def narrow(x: Tensor, dim: int, start: int, length: int) -> Tensor:
    """Elements ``start`` .. ``start + length - 1`` along ``dim`` (``torch.narrow``; a slice)."""
    dim = _axis(dim, x.ndim)
    n = x.shape[dim]
    start = start + n if start < 0 else start
    if not (0 <= start <= n and 0 <= length <= n - start):
        raise IndexError(f"narrow: start {start} and length {length} do not fit dimension {dim} of size {n}")
    return ops.getitem(x, (slice(None),) * dim + (slice(start, start + length),))


def unflatten(x: Tensor, dim: int, sizes) -> Tensor:
    """Dimension ``dim`` split into ``sizes`` (one of them may be -1), as ``torch.unflatten``."""
    dim = _axis(dim, x.ndim)
    return ops.reshape(x, x.shape[:dim] + tuple(sizes) + x.shape[dim + 1:])


def _at_least(xs, ndim: int) -> list:
    """Each tensor with at least ``ndim`` dimensions, as NumPy's atleast_1d / 2d / 3d:
    () -> (1,) / (1, 1) / (1, 1, 1),  (n,) -> (1, n) / (1, n, 1),  (m, n) -> (m, n, 1)."""
    if not xs:
        raise ValueError("hstack / vstack / dstack: give a non-empty sequence of tensors")
    shapes = {1: lambda s: s or (1,), 2: lambda s: s if len(s) >= 2 else (1,) + (s or (1,)),
              3: lambda s: s if len(s) >= 3 else (s + (1,) if len(s) == 2 else (1,) + (s or (1,)) + (1,))}
    return [x if x.ndim >= ndim else ops.reshape(x, shapes[ndim](x.shape)) for x in xs]


def hstack(xs) -> Tensor:
    """Joined along axis 1 (axis 0 for 1-D tensors), as ``torch.hstack``."""
    xs = _at_least(list(xs), 1)
    return ops.concat(xs, 0 if xs[0].ndim == 1 else 1)


def vstack(xs) -> Tensor:
    """1-D tensors as rows, then joined along axis 0 (``torch.vstack``)."""
    return ops.concat(_at_least(list(xs), 2), 0)


def dstack(xs) -> Tensor:
    """Joined along axis 2, 1-D (n,) as (1, n, 1) and 2-D (m, n) as (m, n, 1) (``torch.dstack``)."""
    return ops.concat(_at_least(list(xs), 3), 2)


def column_stack(xs) -> Tensor:
    """1-D tensors (and 0-d) as columns, then joined along axis 1 (``torch.column_stack``)."""
    cols = [ops.reshape(x, (x.size, 1)) if x.ndim <= 1 else x for x in xs]
    return ops.concat(cols, 1)


def masked_select(x: Tensor, mask) -> Tensor:
    """The elements of x where ``mask`` (broadcast together) is True, as a 1-D tensor, in
    row-major order (``torch.masked_select``)        x̄ = ḡ scattered back to those places"""
    mask = mask.data if isinstance(mask, Tensor) else x.backend.asarray(mask)
    if mask.dtype != bool:
        raise TypeError(f"masked_select: mask must be boolean, got dtype {mask.dtype} (an integer mask "
                        "would be read as indices)")
    try:
        shape = np.broadcast_shapes(x.shape, tuple(mask.shape))
    except ValueError:
        raise ValueError(f"masked_select: mask of shape {tuple(mask.shape)} does not broadcast with x of "
                         f"shape {x.shape}") from None
    if shape != x.shape:
        x = ops.broadcast_to(x, shape)
    return ops.getitem(x, x.backend.broadcast_to(mask, shape))


def scatter_add(x: Tensor, dim: int, index, src: Tensor) -> Tensor:
    """PyTorch's ``scatter_add``: ``out = x``, then ``out[i][index[i][j][k]][k] += src[i][j][k]``
    (dim = 1 shown); repeated indices add up.  Only the part of ``src`` of ``index``'s shape is
    used.  x̄ = ḡ,  src̄ = gather(ḡ, dim, index) (zeros outside that part).  Indices lie in
    [0, n) for the size n of ``dim``: others are refused, as in PyTorch (:func:`_check_range`)."""
    idx = _index_array(index, x, "scatter_add: index")
    if _all_0d(x, idx, src):
        return ops.reshape(scatter_add(ops.reshape(x, (1,)), dim, idx.reshape(1), ops.reshape(src, (1,))), ())
    axis, src = _scatter_operands("scatter_add", x, dim, idx, src)
    _check_range("scatter_add", idx, x.shape[axis], axis, x.backend)
    return x + _scatter_add_along(src, index=idx, axis=axis, shape=x.shape)


def _all_0d(x: Tensor, idx, src) -> bool:
    """x, index and src all 0-d: PyTorch takes each as one element along dim 0 (or -1)."""
    return x.ndim == 0 and idx.ndim == 0 and isinstance(src, Tensor) and src.ndim == 0


def _scatter_operands(name: str, x: Tensor, dim, idx, src: Tensor):
    """The axis, and the part of ``src`` of ``index``'s shape, after PyTorch's checks: x, index
    and src have one number of dimensions; index is no larger than src, nor than x outside
    ``dim``."""
    if idx.ndim != x.ndim or not isinstance(src, Tensor) or src.ndim != x.ndim:
        raise ValueError(f"{name}: x, index and src need the same number of dimensions, got "
                         f"{x.ndim}, {idx.ndim} and {getattr(src, 'ndim', type(src).__name__)}")
    axis = _axis(dim, x.ndim)
    if any(i > n for i, n in zip(idx.shape, src.shape)) or \
            any(i > n for d, (i, n) in enumerate(zip(idx.shape, x.shape)) if d != axis):
        raise ValueError(f"{name}: index of shape {tuple(idx.shape)} is larger than src {src.shape} or "
                         f"than x {x.shape} outside dimension {axis}")
    if src.shape != tuple(idx.shape):
        src = ops.getitem(src, tuple(slice(0, n) for n in idx.shape))
    return axis, src


def index_add(x: Tensor, dim: int, index, source: Tensor, *, alpha=1) -> Tensor:
    """PyTorch's ``index_add``: ``out = x``, then the slice ``index[i]`` of ``out`` along ``dim``
    gets ``alpha * source``'s slice i added (repeats add up).  Indices lie in [0, n) for the
    size n of ``dim`` (others are refused, as in PyTorch)."""
    idx = _index_array(index, x, "index_add: index").reshape(-1)
    axis = _axis(dim, x.ndim)
    _check_range("index_add", idx, x.shape[axis], axis, x.backend)
    if source.ndim != x.ndim or source.shape[axis] != idx.shape[0]:
        raise ValueError(f"index_add: source of shape {source.shape} must have x's dimensions and "
                         f"len(index) = {idx.shape[0]} entries along dimension {axis}")
    grid = x.backend.broadcast_to(idx.reshape(tuple(-1 if d == axis else 1 for d in range(x.ndim))), source.shape)
    source = source if alpha == 1 else source * alpha
    return x + _scatter_add_along(source, index=grid, axis=axis, shape=x.shape)      # (checked above)


# =========================================================================== scatter (writing, not adding)
def _last_writes(xp, index, axis):
    """True where an entry of ``index`` is the last along ``axis`` to name its target (the
    write that stays when several name one place, as PyTorch's CPU kernel, which writes in
    index order).  A stable sort along the axis puts equal targets together, in index order;
    the last of each run wins.  Computed so, the result is the same on every device (CuPy's
    assignment with repeated targets is in no defined order)."""
    order = xp.argsort(index, axis=axis, kind="stable")
    ranked = xp.take_along_axis(index, order, axis=axis)
    n = index.shape[axis]
    last = xp.concatenate([ranked[_along(axis, slice(1, n))] != ranked[_along(axis, slice(0, n - 1))],
                           xp.ones(ranked[_along(axis, slice(0, 1))].shape, dtype=bool)], axis=axis)
    return xp.take_along_axis(last, xp.argsort(order, axis=axis, kind="stable"), axis=axis)


def _along(axis: int, s) -> tuple:
    return (slice(None),) * axis + (s,)


def _written(xp, index, axis, winners):
    """The full indices (1-D arrays, one per axis) of the places that the winning entries of
    ``index`` write to."""
    return tuple(xp.broadcast_to(c, index.shape)[winners] for c in _grid(xp, index, axis))


@primitive(name="scatter", save="")
def _scatter(xp, x, src, *, index, axis, winners):
    """out = x, then out[i][index[i][j][k]][k] = src[i][j][k]   (axis = 1 shown; the last
    write along the axis stays where several entries name one place: ``winners``)

    x̄ = ḡ with zeros where out was written;  src̄[i][j][k] = ḡ[i][index[i][j][k]][k] for a winning
    entry, 0 for one overwritten by a later write (it never reaches out: its derivative is 0)

    (PyTorch gathers ḡ for every entry, the overwritten ones too, which is the derivative only
    when the indices are unique, as PyTorch's documentation asks; with repeats, central
    differences of the last-write result give 0 there, and so does this VJP.)"""
    out = x.copy()
    out[_written(xp, index, axis, winners)] = src[winners]
    return out
_scatter.defvjp(lambda g, out, x, src, *, index, axis, winners: ops.mul(g, const(_kept(g, index, axis, winners), g)),
                lambda g, out, x, src, *, index, axis, winners: ops.where(winners, _gather(g, index=index, axis=axis),
                                                                          0.0))


def _kept(g: Tensor, index, axis, winners):
    """1 where scatter left x's value, 0 where it wrote."""
    xp = g.backend
    keep = xp.ones(g.shape, dtype=bool)
    keep[_written(xp, index, axis, winners)] = False
    return keep


def scatter(x: Tensor, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """PyTorch's out-of-place ``scatter``: ``out = x``, then ``out[i][index[i][j][k]][k] =
    src[i][j][k]`` (dim = 1 shown); ``src`` is a tensor (only its part of ``index``'s shape is
    used) or a number (also as ``value=``), written everywhere ``index`` points.

    Several entries of ``index`` naming one place: PyTorch calls the result undefined; here the
    last along ``dim`` wins (what PyTorch's CPU kernel gives), on every device (see
    :func:`_last_writes`).  Indices lie in [0, n) for the size n of ``dim`` (others are refused,
    as in PyTorch).  Gradient: x̄ = ḡ with zeros where written, src̄ = gather(ḡ, dim, index) for
    the entries that stay and 0 for those a later write overwrote (the derivative of the last
    write; PyTorch gives those ḡ gathered too, the same whenever the indices are unique).  ``reduce=`` is not provided
    (PyTorch deprecates it): use :func:`scatter_add`."""
    if reduce is not None:
        raise ValueError(f"scatter: reduce={reduce!r} is not supported; use scatter_add for 'add' "
                         "(PyTorch deprecates scatter's reduce=)")
    if (src is None) == (value is None):
        raise TypeError("scatter: give src (a tensor or a number) or value=, one of them")
    src = value if src is None else src
    idx = _index_array(index, x, "scatter: index")
    if not isinstance(src, Tensor):
        if not isinstance(src, numbers.Number):
            raise TypeError(f"scatter: src is a Tensor or a number, got {type(src).__name__}")
        src = Tensor._wrap(x.backend.full(tuple(idx.shape), src, dtype=x.dtype), x.backend)
    elif src.dtype != x.dtype:
        raise TypeError(f"scatter: src has dtype {src.dtype}, x {x.dtype}; they must be equal (as in PyTorch): "
                        "convert one with .astype()")
    if _all_0d(x, idx, src):
        return ops.reshape(scatter(ops.reshape(x, (1,)), dim, idx.reshape(1), ops.reshape(src, (1,))), ())
    axis, src = _scatter_operands("scatter", x, dim, idx, src)
    _check_range("scatter", idx, x.shape[axis], axis, x.backend)
    if idx.size == 0:
        return ops.identity(x)
    return _scatter(x, src, index=idx, axis=axis, winners=_last_writes(x.backend, idx, axis))


# =========================================================================== running maximum and minimum
def _cum_extreme_index(xp, x, axis: int, largest: bool):
    """The index of the running maximum (``largest``) or minimum along ``axis``, PyTorch's
    rules (2.13, measured): on ties the last index (a later equal value takes over), and from
    the first NaN on, the latest NaN.

    A scan in ⌈log₂ n⌉ steps (Hillis and Steele): after the step of width s, position k holds
    the winner among positions k - 2s + 1 .. k; each step compares a position's winner with the
    one s places before and keeps the later one unless the earlier is strictly better (or it is
    a NaN and the later is not).  The same on NumPy and CuPy, with no loop over n."""
    v = xp.moveaxis(x, axis, -1)
    n = v.shape[-1]
    i = xp.broadcast_to(xp.arange(n, dtype=np.int64), v.shape)
    nan = v.dtype.kind == "f"
    s = 1
    while s < n:
        before, now = v[..., :-s], v[..., s:]
        later = (now >= before) if largest else (now <= before)
        if nan:
            later = later | xp.isnan(now)
        v = xp.concatenate([v[..., :s], xp.where(later, now, before)], axis=-1)
        i = xp.concatenate([i[..., :s], xp.where(later, i[..., s:], i[..., :-s])], axis=-1)
        s *= 2
    return xp.moveaxis(i, -1, axis)


def _cum_extreme(name: str, x: Tensor, dim, largest: bool) -> ValuesIndices:
    if x.ndim == 0:
        _axes(dim, 0)
        return ValuesIndices(ops.identity(x), Tensor._wrap(x.backend.zeros((), dtype=np.int64), x.backend))
    axis = _axis(dim, x.ndim)
    idx = _cum_extreme_index(x.backend, x.data, axis, largest)
    return ValuesIndices(_gather(x, index=idx, axis=axis), Tensor._wrap(idx, x.backend))


def cummax(x: Tensor, dim: int) -> ValuesIndices:
    """The running maximum along ``dim``: ``(values, indices)`` as ``torch.cummax``, with
    ``values[k] = x[indices[k]] = max(x[0..k])`` (int64 indices: the last index on ties, the
    latest NaN once there is one, as PyTorch 2.13 gives).

    ``values`` is a gather of x at ``indices``, so its gradient is ḡ added at the winning
    indices (an index-add along ``dim``): x̄_j = Σ_{k: indices[k] = j} ḡ_k; second derivatives
    too.  A 0-d tensor gives itself at index 0."""
    return _cum_extreme("cummax", x, dim, True)


def cummin(x: Tensor, dim: int) -> ValuesIndices:
    """The running minimum along ``dim``: ``(values, indices)`` as ``torch.cummin`` (ties: the
    last index; NaN as in :func:`cummax`); gradient ḡ added at the winning indices."""
    return _cum_extreme("cummin", x, dim, False)


def unfold(x: Tensor, dimension: int, size: int, step: int) -> Tensor:
    """PyTorch's ``Tensor.unfold``: the windows of ``size`` elements every ``step`` along
    ``dimension``, as a new last axis (a gather: windows that overlap add their gradients).
    A copy, where PyTorch's is a view: writing into the windows does not change x."""
    axis = _axis(dimension, max(x.ndim, 1))
    n = x.shape[axis] if x.ndim else 1
    if size < 0 or size > n or step <= 0:
        raise ValueError(f"unfold: size must be in [0, {n}] and step > 0, got size {size}, step {step}")
    count = (n - size) // step + 1
    windows = np.arange(count)[:, None] * step + np.arange(size)[None, :]          # (count, size)
    if x.ndim == 0:
        return ops.reshape(x, (1,) * size) if size else ops.reshape(x, (1, 0))
    picked = ops.getitem(x, (slice(None),) * axis + (x.backend.asarray(windows),))  # count, size at axis
    return movedim(picked, axis + 1, -1)


def tensor_split(x: Tensor, indices_or_sections, dim: int = 0) -> tuple:
    """PyTorch's ``tensor_split``: ``n`` pieces as equal as possible (the first ``len % n`` one
    longer), or the pieces between the given indices, each index read as a slice bound
    (negative ones count from the end: ``[-1]`` gives ``x[:-1]`` and ``x[-1:]``)."""
    axis = _axis(dim, x.ndim)
    n = x.shape[axis]
    if isinstance(indices_or_sections, Tensor):       # a 0-d one: sections, a 1-D one: indices (read on the host)
        host = indices_or_sections.numpy()
        if not np.issubdtype(host.dtype, np.integer) or host.ndim > 1:
            raise ValueError(f"tensor_split: a tensor of indices_or_sections must be a 0-d or 1-D integer "
                             f"tensor, got dtype {host.dtype} and shape {host.shape}")
        indices_or_sections = int(host) if host.ndim == 0 else host.tolist()
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0:
            raise ValueError(f"tensor_split: the number of sections must be > 0, got {k}")
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        bounds = np.cumsum([0] + sizes)
    else:
        bounds = [0] + [min(max(int(i) + n if int(i) < 0 else int(i), 0), n) for i in indices_or_sections] + [n]
    return tuple(ops.getitem(x, (slice(None),) * axis + (slice(a, max(a, b)),))
                 for a, b in zip(bounds[:-1], bounds[1:]))


def tensordot(a: Tensor, b: Tensor, dims=2) -> Tensor:
    """PyTorch's ``tensordot``: the last ``dims`` axes of a contracted with the first ``dims`` of b,
    or the axes listed in ``dims = (axes_a, axes_b)``; one matrix product."""
    if isinstance(dims, (int, np.integer)):
        if not 0 <= dims <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: dims must be an int in [0, {min(a.ndim, b.ndim)}] (the fewer dimensions "
                             f"of a and b) or a pair of axis lists, got {dims}")
        axes_a, axes_b = list(range(a.ndim - dims, a.ndim)), list(range(dims))
    else:
        axes_a, axes_b = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    axes_a, axes_b = [_axis(d, a.ndim) for d in axes_a], [_axis(d, b.ndim) for d in axes_b]
    if [a.shape[i] for i in axes_a] != [b.shape[i] for i in axes_b]:
        raise ValueError(f"tensordot: contracted dimensions differ: {[a.shape[i] for i in axes_a]} of a "
                         f"and {[b.shape[i] for i in axes_b]} of b")
    free_a = [d for d in range(a.ndim) if d not in axes_a]
    free_b = [d for d in range(b.ndim) if d not in axes_b]
    k = int(np.prod([a.shape[i] for i in axes_a]))
    A = ops.reshape(ops.permute(a, tuple(free_a + axes_a)), (-1, k))
    B = ops.reshape(ops.permute(b, tuple(axes_b + free_b)), (k, -1))
    return ops.reshape(ops.matmul(A, B), tuple(a.shape[d] for d in free_a) + tuple(b.shape[d] for d in free_b))


def cross(a: Tensor, b: Tensor, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (operands broadcast)
    out = (a₁b₂ - a₂b₁, a₂b₀ - a₀b₂, a₀b₁ - a₁b₀)        ā = b × ḡ,  b̄ = ḡ × a

    ``dim=None``: the axis of size 3 when the first one is also the last, where ``torch.cross``
    (the first axis of size 3) and ``torch.linalg.cross`` (``dim=-1``) agree; otherwise (two
    (3, 3) matrices: columns or rows?) it must be given."""
    a, b = ops._operands("cross", a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    a, b = ops.broadcast_to(a, shape), ops.broadcast_to(b, shape)
    if dim is None:
        if 3 not in shape:
            raise ValueError(f"cross: no dimension of size 3 in shape {shape}")
        if shape.index(3) != len(shape) - 1:
            raise ValueError(f"cross: give dim for shape {shape}: torch.cross takes the first dimension of "
                             f"size 3 ({shape.index(3)}), torch.linalg.cross the last (-1)")
        dim = -1
    axis = _axis(dim, len(shape))
    if shape[axis] != 3:
        raise ValueError(f"cross: dimension {axis} must have size 3, got shape {shape}")
    a0, a1, a2 = ops.split(a, [1, 1, 1], axis=axis)
    b0, b1, b2 = ops.split(b, [1, 1, 1], axis=axis)
    return ops.concat([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis)
