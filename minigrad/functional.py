"""Derivatives as functions: grad, vjp, jacobian, hvp.

All four are thin layers over the one backward pass, :func:`minigrad.backward.backprop`.
"""
from __future__ import annotations

from . import autograd
from .backward import backprop
from .tensor import Tensor, _as_cotangent


def _tensors(xs, what: str) -> list:
    if isinstance(xs, Tensor):
        return [xs]
    xs = list(xs)
    for x in xs:
        if not isinstance(x, Tensor):
            raise TypeError(f"{what} must be Tensors, got {type(x).__name__}")
    return xs


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False, immediate: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not stored in ``.grad``).

    ``sum_i grad_outputs[i] . d outputs[i] / d inputs`` for each input, in order.  Inputs may be
    leaves or intermediate tensors (``dE/dh_k`` for a hidden state ``h_k``).  ``grad_outputs``
    may be omitted for one-element outputs.  With ``create_graph=True`` the results are part
    of a graph and can be differentiated again; with ``immediate=True`` as well, that graph
    holds every intermediate value constant and follows only the explicit appearances of the
    leaves (see ``backward.backprop``).  An input the outputs do not depend on raises, unless
    ``allow_unused`` (then its gradient is None).
    """
    outputs = _tensors(outputs, "outputs")
    inputs = _tensors(inputs, "inputs")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    seeds = []
    for out, g in zip(outputs, grad_outputs):
        if not out.requires_grad:
            raise RuntimeError("grad: an output does not require grad (it does not depend on any "
                               "tensor with requires_grad=True)")
        if g is None:
            if out.size != 1:
                raise RuntimeError(f"grad: an output of shape {out.shape} needs grad_outputs "
                                   "(only one-element outputs have an implied cotangent of 1)")
            g = Tensor._wrap(out.backend.ones(out.data.shape, dtype=out.data.dtype), out.backend)
        seeds.append(_as_cotangent(g, out))
    if retain_graph is None:
        retain_graph = create_graph
    result = backprop(outputs, seeds, retain_graph=retain_graph,
                               create_graph=create_graph, inputs=inputs, immediate=immediate)
    for x, g in zip(inputs, result):
        if g is None and not allow_unused:
            raise RuntimeError(f"grad: an input of shape {x.shape} was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it")
    return result


def vjp(f, *xs):
    """Evaluate ``out = f(*xs)`` and return ``(out, vjp_fn)``; ``vjp_fn(g)`` gives the tuple
    ``(g . d out/d x_1, ...)``.  The ``xs`` are taken as constants: their own graphs are cut."""
    xs = [x.detach().requires_grad_() for x in xs]
    out = f(*xs)

    def vjp_fn(g, create_graph: bool = False):
        result = grad([out], xs, [g], retain_graph=True, create_graph=create_graph, allow_unused=True)
        return tuple(r if r is not None else Tensor._wrap(x.backend.zeros_like(x.data), x.backend)
                     for r, x in zip(result, xs))

    return out.detach(), vjp_fn


def jacobian(f, x: Tensor, chunk: int | None = None) -> Tensor:
    """The Jacobian of ``f`` at ``x``, of shape ``f(x).shape + x.shape``, by reverse mode.

    One backward pass per output element, each seeded with a standard basis vector, all over
    one recorded forward pass.  The result is preallocated; ``chunk`` rows are computed and
    then written into it, so the extra memory is ``chunk`` rows (default: all rows at once).
    """
    out, pullback = vjp(f, x)
    backend = x.backend
    m = out.size
    xp = backend
    result = xp.zeros((m,) + x.shape, dtype=x.data.dtype)
    chunk = m if chunk is None else int(chunk)
    if chunk < 1:
        raise ValueError(f"jacobian: chunk must be a positive number of rows, got {chunk}")
    basis = xp.zeros(m, dtype=out.data.dtype)
    with autograd.no_grad():
        for start in range(0, m, chunk):
            rows = []
            for i in range(start, min(start + chunk, m)):
                basis[i] = 1
                seed = Tensor._wrap(basis.reshape(out.shape).copy(), backend)
                basis[i] = 0
                rows.append(pullback(seed)[0].data)
            result[start:start + len(rows)] = xp.stack(rows)
    return Tensor._wrap(result.reshape(out.shape + x.shape), backend)


def hvp(f, x: Tensor, v: Tensor) -> Tensor:
    """Hessian-vector product ``H v`` of a scalar function ``f`` at ``x``, without forming H:
    differentiate ``<grad f(x), v>`` once more (reverse over reverse)."""
    x = x.detach().requires_grad_()
    y = f(x)
    if y.size != 1:
        raise ValueError(f"hvp needs a scalar function, f(x) has shape {y.shape}")
    (g,) = grad(y, [x], create_graph=True)
    (hv,) = grad((g * v).sum(), [x], allow_unused=True)
    if hv is None:          # f is linear in x: its Hessian is zero
        hv = Tensor._wrap(x.backend.zeros_like(x.data), x.backend)
    return hv
