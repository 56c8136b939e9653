"""Convolution and pooling, as compositions of existing primitives.

Every function here first cuts the (padded) input into its windows with one gather, then
reduces each window.  For a spatial axis of length L, padded by p before and after, a kernel
of k taps spaced by the dilation d and moved by the stride s, window i covers the positions

    i·s + j·d,   j = 0 .. k-1,        i = 0 .. out-1,   out = ⌊(L + 2p - d·(k-1) - 1) / s⌋ + 1

(``ceil_mode`` in the pools rounds up instead, dropping a last window that would start in the
right padding, as PyTorch).  The windows are picked by index arrays (a :func:`getitem` whose
gradient scatter-adds ḡ back, so overlapping windows add their contributions), giving the
input as ``(N, C, out_1, .., out_n, k_1, .., k_n)``.  Then:

* ``conv1d`` / ``conv2d``: a matrix product of the flattened windows with the flattened
  weight (per group), plus the bias;
* ``max_pool1d`` / ``max_pool2d``: each flattened window's maximum picked by index
  (:func:`take_along_axis`; padding is -inf): the gradient goes to that one element, the first
  maximum among the window's input elements in row-major order (never the padding, even where
  the window holds only -inf; its last NaN if it holds one), as PyTorch;
* ``avg_pool1d`` / ``avg_pool2d``: the window sum divided by a constant count (the padding is
  zero and counts, or not, per ``count_include_pad``).

Each derivative is therefore exact by construction (gather, matmul, max, sum, mul).  Shapes
follow PyTorch: input ``(N, C, L)`` / ``(N, C, H, W)`` or unbatched ``(C, L)`` / ``(C, H, W)``.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from . import ops
from .manipulation import pad, take_along_axis
from .tensor import Tensor

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]


# =========================================================================== arguments
def _ints(name: str, what: str, value, n: int, low: int) -> tuple:
    """``value`` as n ints >= low: one int for every axis, or a sequence of n ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        value = tuple(int(v) for v in value)
    else:
        raise ValueError(f"{name}: {what} must be an int or a sequence of {n} ints, got {value!r}")
    if min(value) < low:
        raise ValueError(f"{name}: {what} must be >= {low}, got {value}")
    return value


def _batched(name: str, x, nd: int):
    """``x`` with a batch axis (added for an unbatched input) and whether it was added."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: the input must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input "
                         f"(N, C, {'L' if nd == 1 else 'H, W'}), got shape {x.shape}")
    return (ops.expand_dims(x, 0), True) if x.ndim == nd + 1 else (x, False)


def _out_size(length: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """out = ⌊(L + 2p - d(k-1) - 1) / s⌋ + 1 (⌈ ⌉ with ceil_mode, less a last window that
    would start in the right padding)."""
    span = length + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= length + p:
        out -= 1
    return out


def _positions(k: tuple, s: tuple, d: tuple, out: tuple) -> tuple:
    """One host index array per spatial axis, broadcasting together to ``(*out, *k)``: on axis
    a, window i's tap j is at position i·s_a + j·d_a (of the padded input)."""
    nd = len(k)
    index = []
    for a in range(nd):
        pos = np.arange(out[a])[:, None] * s[a] + np.arange(k[a])[None, :] * d[a]     # (out_a, k_a)
        shape = [1] * (2 * nd)
        shape[a], shape[nd + a] = out[a], k[a]
        index.append(pos.reshape(shape))
    return tuple(index)


def _windows(x: Tensor, k: tuple, s: tuple, d: tuple, out: tuple) -> Tensor:
    """``(N, C, *spatial)`` -> ``(N, C, *out, *k)``: window[..., i, j] = x[..., i·s + j·d] on
    each spatial axis (one gather with broadcast index arrays)."""
    index = tuple(x.backend.asarray(i) for i in _positions(k, s, d, out))
    return ops.getitem(x, (slice(None), slice(None)) + index)


def _pad_spatial(x: Tensor, pads: list, value=0.0, mode: str = "constant") -> Tensor:
    """Pad the spatial axes by ``pads[a] = (before, after)`` (a negative ``after`` cuts) with
    ``value``, or as ``mode`` says ("reflect", "replicate", "circular": see :func:`pad`)."""
    flat = []
    for before, after in reversed(pads):
        flat += [before, after]
    return pad(x, tuple(flat), value=value, mode=mode) if any(flat) else x


def _conv_pads(name: str, padding, k: tuple, s: tuple, d: tuple) -> list:
    """(before, after) per spatial axis: ``p`` on both sides for an int or ints, none for
    "valid"; for "same" (stride 1 only) d(k-1) in all, the extra one on the right, as PyTorch."""
    nd = len(k)
    if not isinstance(padding, str):
        return [(p, p) for p in _ints(name, "padding", padding, nd, 0)]
    if padding == "valid":
        return [(0, 0)] * nd
    if padding != "same":
        raise ValueError(f"{name}: padding must be an int, {nd} ints, 'valid' or 'same', got {padding!r}")
    if s != (1,) * nd:
        raise ValueError(f"{name}: padding='same' needs stride 1 (as PyTorch), got stride {s}")
    return [(t // 2, t - t // 2) for t in (d[a] * (k[a] - 1) for a in range(nd))]


# =========================================================================== convolution
def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """``F.conv1d``: input (N, C, L) or (C, L), weight (O, C/groups, k), bias (O,) or None.

        out[n, o, i] = bias[o] + Σ_{c in o's group} Σ_j weight[o, c, j] · x_pad[n, c, i·s + j·d]

    (a cross-correlation, as in every deep-learning library: the kernel is not flipped).
    ``padding``: an int, a 1-tuple, ``"valid"`` (0) or ``"same"`` (stride 1 only: d(k-1) zeros
    in all, the extra one on the right, as PyTorch).  Output length: see the module docstring."""
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Tensor:
    """``F.conv2d``: input (N, C, H, W) or (C, H, W), weight (O, C/groups, kH, kW), bias (O,).

        out[n, o, y, x] = bias[o] + Σ_{c in o's group} Σ_{a, b} weight[o, c, a, b]
                                    · x_pad[n, c, y·s_h + a·d_h, x·s_w + b·d_w]

    Computed as a matrix product per group: the windows flattened to (N, G, H_out·W_out,
    C/G·kH·kW) times the weight flattened to (G, C/G·kH·kW, O/G).  ``stride``, ``padding``,
    ``dilation``: an int or a pair; ``padding`` also ``"valid"`` or ``"same"`` (stride 1).
    H_out = ⌊(H + 2p_h - d_h(kH - 1) - 1) / s_h⌋ + 1, and so W_out."""
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups)


def _conv(name, nd, x, w, b, stride, padding, dilation, groups):
    x, unbatched = _batched(name, x, nd)
    if not isinstance(w, Tensor) or w.ndim != nd + 2:
        raise ValueError(f"{name}: weight must be a {nd + 2}-D Tensor (out_channels, in_channels/groups, "
                         f"{'k' if nd == 1 else 'kH, kW'}), got {getattr(w, 'shape', type(w).__name__)}")
    if x.dtype.kind != "f" or w.dtype != x.dtype or (b is not None and b.dtype != x.dtype):
        raise TypeError(f"{name}: input, weight and bias must have one floating dtype, got {x.dtype}, {w.dtype}"
                        f"{'' if b is None else ', ' + str(b.dtype)}; minigrad does not cast silently")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{name}: groups must be a positive int, got {groups!r}")
    n, c = x.shape[:2]
    o, cg = w.shape[:2]
    k = w.shape[2:]
    if o % groups:
        raise ValueError(f"{name}: out_channels {o} (weight dimension 0) must be divisible by groups={groups}")
    if c != cg * groups:
        raise ValueError(f"{name}: weight {w.shape} with groups={groups} expects {cg * groups} input channels, "
                         f"the input {x.shape} has {c}")
    if b is not None and (not isinstance(b, Tensor) or b.shape != (o,)):
        raise ValueError(f"{name}: bias must be a Tensor of shape ({o},), got {getattr(b, 'shape', type(b).__name__)}")
    s = _ints(name, "stride", stride, nd, 1)
    d = _ints(name, "dilation", dilation, nd, 1)
    pads = _conv_pads(name, padding, k, s, d)
    size = tuple(x.shape[2 + a] + sum(pads[a]) for a in range(nd))
    span = tuple(d[a] * (k[a] - 1) + 1 for a in range(nd))
    if any(span[a] > size[a] for a in range(nd)):
        raise ValueError(f"{name}: the kernel {tuple(k)} (dilated: {span}) is larger than the padded input {size}")
    out = tuple((size[a] - span[a]) // s[a] + 1 for a in range(nd))
    cols = _windows(_pad_spatial(x, pads), k, s, d, out)              # (N, C, *out, *k)
    positions, taps = math.prod(out), math.prod(k)
    cols = ops.reshape(cols, (n, groups, cg, positions, taps))
    cols = ops.reshape(ops.permute(cols, (0, 1, 3, 2, 4)), (n, groups, positions, cg * taps))
    kernel = ops.swapaxes(ops.reshape(w, (groups, o // groups, cg * taps)), 1, 2)   # (G, C/G·K, O/G)
    y = ops.matmul(cols, kernel)                                        # (N, G, P, O/G)
    y = ops.reshape(ops.swapaxes(y, 2, 3), (n, o) + out)
    if b is not None:
        y = y + ops.reshape(b, (o,) + (1,) * nd)
    return ops.squeeze(y, 0) if unbatched else y


# =========================================================================== pooling
def _pool_args(name, nd, x, kernel_size, stride, padding, dilation, ceil_mode):
    """(k, s, p, d, out) for a pool, checked as PyTorch checks them."""
    k = _ints(name, "kernel_size", kernel_size, nd, 1)
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and not stride)       # PyTorch: the kernel
    s = k if no_stride else _ints(name, "stride", stride, nd, 1)
    p = _ints(name, "padding", padding, nd, 0)
    d = _ints(name, "dilation", dilation, nd, 1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise TypeError(f"{name}: ceil_mode is True or False, got {ceil_mode!r}")
    if any(2 * p[a] > k[a] for a in range(nd)):
        raise ValueError(f"{name}: padding {p} must be at most half the kernel size {k}")
    length = x.shape[2:]
    out = tuple(_out_size(length[a], k[a], s[a], p[a], d[a], bool(ceil_mode)) for a in range(nd))
    if min(out) < 1:
        raise ValueError(f"{name}: the input {tuple(length)} (padding {p}) is too small for the kernel {k} "
                         f"with dilation {d}: output size {out}")
    return k, s, p, d, out


def _pool_pads(length, k, s, p, d, out) -> list:
    """(before, after) per axis: p before, and after what the last window reaches (p, more in
    ceil_mode, fewer where the stride skips the end)."""
    return [(p[a], (out[a] - 1) * s[a] + d[a] * (k[a] - 1) + 1 - length[a] - p[a]) for a in range(len(k))]


def _argmax_torch(xp, windows, real):
    """Index of each window's maximum (last axis) as PyTorch's loop finds it: it scans only the
    window's ``real`` elements (not the padding) in row-major order, from the first of them
    with the value -inf, and keeps a value that is ``> max`` or NaN.  Hence the first maximum
    among the real elements (a window of -inf values: its first real element, never padding
    that ties with it), or the last NaN where the window holds one."""
    first = xp.argmax((windows == windows.max(axis=-1, keepdims=True)) & real, axis=-1)
    if windows.dtype.kind != "f":
        return first
    nan = xp.isnan(windows)
    last_nan = windows.shape[-1] - 1 - xp.argmax(nan[..., ::-1], axis=-1)
    return xp.where(nan.any(axis=-1), last_nan, first)


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """``F.max_pool1d``: the largest of each window (see :func:`max_pool2d`)."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode: bool = False,
               return_indices: bool = False):
    """``F.max_pool2d``: input (N, C, H, W) or (C, H, W).

        out[n, c, y, x] = max_{a, b} x_pad[n, c, y·s_h + a·d_h, x·s_w + b·d_w]     (padding: -inf)

    ``stride`` defaults to ``kernel_size``; ``padding`` is at most half the kernel;
    ``ceil_mode`` rounds the output size up (module docstring).  The gradient goes to one element
    per window, the first maximum among its input elements in row-major order (the padding never
    wins, not even a tie at -inf), or its last NaN if it holds one (PyTorch's rule, measured on
    torch 2.13's CPU); overlapping windows add up at an element that wins several.
    ``return_indices=True`` also returns, as PyTorch, the flat index ``h·W + w`` of each maximum
    in the unpadded input plane (int64).  A window with no input element at all (possible only
    with dilation) gives -inf, the index -1 and no gradient (PyTorch: -inf, and the index, and the
    gradient, of its first tap past the left padding: an element outside the window)."""
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)


def _max_pool(name, nd, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    x, unbatched = _batched(name, x, nd)
    k, s, p, d, out = _pool_args(name, nd, x, kernel_size, stride, padding, dilation, ceil_mode)
    length = x.shape[2:]
    pads = _pool_pads(length, k, s, p, d, out)
    low = -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min if x.dtype.kind in "iu" else None
    if low is None:
        raise TypeError(f"{name}: the input must be a floating or integer tensor, got {x.dtype}")
    cols = _windows(_pad_spatial(x, pads, low), k, s, d, out)             # (N, C, *out, *k)
    cols = ops.reshape(cols, x.shape[:2] + out + (math.prod(k),))
    # where each window element comes from: h·W + w in the unpadded input plane, -1 in the padding
    plane = np.arange(math.prod(length)).reshape(length)
    plane = np.pad(plane, [(before, max(after, 0)) for before, after in pads], constant_values=-1)
    xp = x.backend
    source = xp.asarray(plane[_positions(k, s, d, out)].reshape(out + (-1,)))    # (*out, K)
    arg = _argmax_torch(xp, cols._data, source >= 0)[..., None]
    values = ops.squeeze(take_along_axis(cols, arg, -1), -1)
    if not return_indices:
        return ops.squeeze(values, 0) if unbatched else values
    indices = xp.take_along_axis(xp.broadcast_to(source, cols.shape), arg, -1)[..., 0].astype(np.int64)
    if unbatched:
        return ops.squeeze(values, 0), Tensor._wrap(indices[0], xp)
    return values, Tensor._wrap(indices, xp)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """``F.avg_pool1d``: the mean of each window (see :func:`avg_pool2d`)."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override=None) -> Tensor:
    """``F.avg_pool2d``: input (N, C, H, W) or (C, H, W).

        out[n, c, y, x] = Σ_{a, b} x_pad[n, c, y·s_h + a, x·s_w + b] / count[y, x]    (padding: 0)

    ``count`` is, as PyTorch: with ``count_include_pad`` (the default) the window's positions
    inside the zero-padded input (the extra ones of ``ceil_mode`` do not count), else those inside
    the input itself; ``divisor_override`` replaces it by one number.  x̄ = ḡ / count spread over
    each window (overlaps add up)."""
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _avg_pool(name, nd, x, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x, unbatched = _batched(name, x, nd)
    if x.dtype.kind != "f":
        raise TypeError(f"{name}: the input must be a floating tensor, got {x.dtype}")
    k, s, p, d, out = _pool_args(name, nd, x, kernel_size, stride, padding, 1, ceil_mode)
    if divisor_override is not None and (isinstance(divisor_override, bool) or not isinstance(
            divisor_override, numbers.Integral) or divisor_override == 0):
        raise ValueError(f"{name}: divisor_override must be a nonzero int or None, got {divisor_override!r}")
    length = x.shape[2:]
    pads = _pool_pads(length, k, s, p, d, out)
    cols = _windows(_pad_spatial(x, pads), k, s, d, out)
    total = ops.sum(cols, tuple(range(2 + nd, 2 + 2 * nd)))              # (N, C, *out)
    if divisor_override is not None:
        count = np.full(out, float(divisor_override))
    else:
        count = np.ones(())
        for a in range(nd):                                              # separable: a product of 1-D counts
            inside = np.arange(-p[a], length[a] + pads[a][1])
            inside = (inside < length[a] + p[a]) if count_include_pad else (inside >= 0) & (inside < length[a])
            pos = np.arange(out[a])[:, None] * s[a] + np.arange(k[a])[None, :]
            count = np.multiply.outer(count, inside[pos].sum(1))
    y = total / ops.const(x.backend.asarray(count), x)
    return ops.squeeze(y, 0) if unbatched else y
