"""Summing cotangents: what the backward pass does with each VJP's result.

A value used in several places receives one cotangent from each use, and they add up:
``grads[x] += g``.  That is all the backward pass needs, and :meth:`Cotangents.add` does it.
The rest of this module makes it fast without changing a number, for the two patterns an
unrolled recurrent network is made of:

* a weight used at every step receives one term ``aᵀ g`` per step.  Their sum is one product
  of stacked factors, ``Σ_k a_kᵀ g_k = [a_1; ...; a_n]ᵀ [g_1; ...; g_n]``: a few large matrix
  products instead of n small ones.  So matmul's VJP hands back a :class:`Product` (the
  factors, not yet multiplied) and the terms headed for a leaf are multiplied in batches;
* taking a tensor apart (the four gates of an LSTM, a sequence step by step) gives each piece
  a cotangent "zeros of the whole's shape with g at the piece's place".  getitem's VJP hands
  back a :class:`Scattered` and ``g`` is added straight into one buffer for the whole, instead
  of allocating a full-size array of zeros per piece;
* likewise a bias broadcast over a batch at every step: the terms that need summing over
  leading axes are kept and reduced together.

Deferred terms exist only when the gradient is not itself being recorded (no
``create_graph``): then every VJP is evaluated as ordinary Tensor operations.
"""
from __future__ import annotations

import numpy as np

from .autograd import Node, _State, sum_to
from .tensor import Tensor

_wrap = Tensor._wrap


def is_basic_index(index) -> bool:
    """Only ints, slices, None and Ellipsis: every element is picked at most once."""
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis))) for i in index)


# --------------------------------------------------------------------------- deferred terms
class Product:
    """The cotangent ``aᵀ g`` not yet multiplied out: 2-D ``a`` (B, n) and ``g`` (B, m), or
    stacks of them with the same leading axes (packed models: (S, B, n) and (S, B, m), whose
    products ``a[s]ᵀ g[s]`` are one batched product)."""

    __slots__ = ("a", "g", "shape")

    def __init__(self, a, g):
        self.a, self.g, self.shape = a, g, a.shape[:-2] + (a.shape[-1], g.shape[-1])

    def evaluate(self):
        return _wrap(_transposed(self.g.backend, self.a._data) @ self.g._data, self.g.backend)


def _transposed(xp, x):
    """xᵀ of a matrix, or of each matrix of a stack."""
    return x.T if x.ndim == 2 else xp.swapaxes(x, -1, -2)


def _concatenate_rows(xp, xs):
    """Matrices (or stacks of matrices) one below the other: along their rows, axis -2."""
    return xp.concatenate(xs) if xs[0].ndim == 2 else xp.concatenate(xs, axis=-2)


def transposed_product(a, g):
    """``aᵀ g`` as a VJP returns it: deferred (a :class:`Product`) where backward can batch it:
    when the gradient is not recorded and ``a`` and ``g`` are matrices, or stacks of matrices
    with the same leading axes (nothing broadcast)."""
    if _State.grad_enabled or a.ndim < 2 or a.ndim != g.ndim or a.shape[:-2] != g.shape[:-2]:
        return a.mT @ g
    return Product(a, g)


def product_transposed(g, b):
    """``g bᵀ`` as a VJP returns it: one array call when the gradient is not being recorded."""
    if _State.grad_enabled:
        return g @ b.mT
    xp, b = g.backend, b._data
    return _wrap(xp.matmul(g._data, b.T if b.ndim == 2 else xp.swapaxes(b, -1, -2)), xp)


class Scattered:
    """The cotangent of ``x[index]`` with respect to ``x``: zeros of x's shape with ``g`` added
    at ``index``, not yet materialized."""

    __slots__ = ("g", "index", "shape")

    def __init__(self, g, index, shape):
        self.g, self.index, self.shape = g, index, shape

    def evaluate(self):
        xp = self.g.backend
        out = xp.zeros(self.shape, dtype=self.g._data.dtype)
        _add_at(xp, out, self.index, self.g._data)
        return _wrap(out, xp)


def scattered(g, index, shape, scatter_add):
    """getitem's VJP: deferred (a :class:`Scattered`) when the gradient is not recorded,
    else the recorded primitive ``scatter_add(g, index=, shape=)``."""
    if _State.grad_enabled:
        return scatter_add(g, index=index, shape=shape)
    return Scattered(g, index, shape)


def _add_at(xp, target, index, values):
    """``target[index] += values``; repeated integer indices add up."""
    if is_basic_index(index):
        target[index] += values             # a slice picks each element once
    else:
        xp.scatter_add(target, index, values)


_DEFERRED = (Product, Scattered)


# --------------------------------------------------------------------------- the sums
class Cotangents:
    """The cotangents of one backward pass summed so far, keyed by where they go (a Node, or a
    leaf Tensor).  ``add`` is the whole interface; ``flush_all`` finishes the deferred work."""

    BATCH = 16                # Products multiplied together (bounds the memory)
    SMALL = 32 * 1024         # bytes: terms this small are stacked (one call beats many)
    WIDE = 32                 # a product aᵀg with a this wide gains more from one large GEMM
                              # than stacking its factors costs

    def __init__(self, create_graph: bool):
        self.create_graph = create_graph
        self.grads = {}                       # Node or leaf Tensor -> Tensor
        self.owned = set()                    # keys whose buffer this pass allocated
        self.pending = {}                     # leaf Tensor -> [Product | Tensor to sum]

    def add(self, key, g, shape=None) -> None:
        """``grads[key] += g``, with ``g`` summed down to ``shape`` first (undoing broadcasting).

        Never writes into a buffer this pass does not own.  Terms for a leaf that can be summed
        later in bulk are kept in ``pending`` until :meth:`flush`.
        """
        if shape is not None and g.shape != shape and type(g) not in _DEFERRED:
            if type(key) is not Node and not self.create_graph and g.shape[g.ndim - len(shape):] == shape:
                self._defer(key, g)           # a sum over new leading axes: done with the others
                return
            g = sum_to(g, shape)
        if type(g) is Scattered:
            self._scatter(key, g)
            return
        if type(g) is Product:
            if type(key) is Node:             # an intermediate value needs it now
                g = g.evaluate()
            else:
                self._defer(key, g)
                return
        old = self.grads.get(key)
        if old is None:
            self.grads[key] = g
        elif self.create_graph:
            self.grads[key] = old + g
        elif key in self.owned:
            old._data += g._data              # ours: made by the line below, safe to update
        else:
            self.grads[key] = _wrap(old._data + g._data, g.backend)   # g may alias: a fresh sum
            self.owned.add(key)

    def _scatter(self, key, s):
        """grads[key][s.index] += s.g, into a buffer this pass owns."""
        xp = s.g.backend
        old = self.grads.get(key)
        if old is None:
            buf = _wrap(xp.zeros(s.shape, dtype=s.g._data.dtype), xp)
        elif key in self.owned:
            buf = old
        else:
            buf = _wrap(old._data.copy(), xp)
        self.grads[key] = buf
        self.owned.add(key)
        _add_at(xp, buf._data, s.index, s.g._data)

    def _defer(self, key, item):
        items = self.pending.setdefault(key, [])
        items.append(item)
        if len(items) >= self.BATCH:
            self.flush(key)

    def flush(self, key):
        """Add the deferred terms of one leaf into its gradient with as few array calls as
        make sense: small terms are stacked and summed with one matrix product (or one
        reduction); large ones are added one raw array call each (stacking would copy them)."""
        items = self.pending.pop(key)
        products = [p for p in items if type(p) is Product]
        sums = [t for t in items if type(t) is not Product]
        backend = products[0].g.backend if products else sums[0].backend
        total = None
        if products:
            first = products[0]
            if len(products) > 1 and (first.g._data.nbytes < self.SMALL or first.a.shape[-1] >= self.WIDE):
                a = _concatenate_rows(backend, [p.a._data for p in products])     # the batch axes, end to end
                g = _concatenate_rows(backend, [p.g._data for p in products])
                total = _transposed(backend, a) @ g
            else:
                total = _transposed(backend, products[0].a._data) @ products[0].g._data
                for p in products[1:]:
                    total += _transposed(backend, p.a._data) @ p.g._data
        if sums:
            shape = key._data.shape
            if len(sums) > 1 and sums[0]._data.nbytes < self.SMALL:
                stacked = backend.concatenate([t._data if t._data.ndim == len(shape) + 1 else  # (B, *shape)
                                               t._data.reshape((-1,) + shape) for t in sums])
                part = backend.sum(stacked, axis=0)
            else:
                part = backend.sum(sums[0]._data.reshape((-1,) + shape), axis=0)
                for t in sums[1:]:
                    part += backend.sum(t._data.reshape((-1,) + shape), axis=0)
            total = part if total is None else total + part
        if key not in self.grads:
            self.owned.add(key)               # a new buffer: later terms may add into it
        self.add(key, _wrap(backend.asarray(total), backend))   # (NumPy sums to () give scalars)

    def flush_all(self):
        for key in list(self.pending):
            self.flush(key)

