"""Derivatives as functions: grad, vjp, jvp, jacobian, hessian, hvp (and backward).

All are thin layers over the one backward pass, :func:`minigrad.backward.backprop`;
``backward`` is ``torch.autograd.backward``: several roots at once, or ``inputs=``.

``grad`` works on a graph you recorded; the others take a function ``f`` and record it
themselves.  For those the derivative of something ``f`` does not depend on is zero (PyTorch's
``torch.autograd.functional`` with ``strict=False``): an unused input gets a zero block, a
linear ``f`` a zero Hessian.  ``f`` must return a Tensor or a tuple of Tensors.  They record
``f`` even inside ``mg.no_grad()``, as PyTorch's do.

What they return is what PyTorch's functions of the same names return, so that code moves
over unchanged: ``out, vjp_fn = vjp(f, x)`` (``torch.func.vjp``), ``out, jv = jvp(f, x, v)``
and ``out, hv = hvp(f, x, v)`` (``torch.autograd.functional``; ``torch.func.jvp`` alike),
``jacobian(f, x)`` and ``hessian(f, x)`` (``torch.autograd.functional``).
"""
from __future__ import annotations

import functools

from . import autograd
from .backward import _check_grad_fits, _deposit, _retain, backprop
from .tensor import Tensor, _as_cotangent, check_fits


def _tensors(xs, what: str) -> list:
    if isinstance(xs, Tensor):
        return [xs]
    xs = list(xs)
    for x in xs:
        if not isinstance(x, Tensor):
            raise TypeError(f"{what} must be Tensors, got {type(x).__name__}")
    return xs


def _zeros(x: Tensor) -> Tensor:
    """Zeros of ``x``'s shape, dtype and device."""
    return Tensor._wrap(x.backend.zeros_like(x.data), x.backend)


def _seeds(outputs, grad_outputs, who: str, what: str) -> list:
    """The cotangents backward starts from, one per output: ``grad_outputs[k]`` (a Tensor, or
    data made into one, of exactly the output's shape and dtype), or 1 for a one-element
    output whose entry is None."""
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"{who}: {len(outputs)} outputs but {len(grad_outputs)} {what}")
    seeds = []
    for k, (out, g) in enumerate(zip(outputs, grad_outputs)):
        if not out.requires_grad:
            raise RuntimeError(f"{who}: output {k} (shape {out.shape}) does not require grad: it "
                               "depends on no tensor with requires_grad=True (or was made under no_grad)")
        if g is None:
            if out.size != 1:
                raise RuntimeError(f"{who}: an output of shape {out.shape} needs {what} "
                                   "(only one-element outputs have an implied cotangent of 1)")
            g = Tensor._wrap(out.backend.ones(out.data.shape, dtype=out.data.dtype), out.backend)
        seeds.append(_as_cotangent(g, out))
    return seeds


def backward(tensors, grad_tensors=None, retain_graph: bool | None = None, create_graph: bool = False,
             inputs=None) -> None:
    """``torch.autograd.backward``: one backward pass from several tensors at once.

    Adds ``sum_k grad_tensors[k] . d tensors[k] / d leaf`` into ``.grad`` of every leaf that
    requires grad, as ``tensors[k].backward(grad_tensors[k])`` for each k would, with one pass
    (``grad_tensors`` may be omitted, or hold None, for one-element tensors: 1).  With
    ``inputs`` (Tensors, leaves or intermediate), only their ``.grad`` is accumulated into, and
    nothing else's: PyTorch's ``inputs=``.  An input not reached keeps its ``.grad``.
    """
    tensors = _tensors(tensors, "tensors")
    seeds = _seeds(tensors, grad_tensors, "backward", "grad_tensors")
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        backprop(tensors, seeds, retain_graph=retain_graph, create_graph=create_graph)
        return
    inputs = list({id(x): x for x in _tensors(inputs, "inputs")}.values())
    if not inputs:
        raise ValueError("backward: inputs= is empty; leave it out to accumulate into every leaf")
    for x in inputs:
        if not x.requires_grad:
            raise RuntimeError(f"backward: an input of shape {x.shape} does not require grad, so no "
                               "gradient reaches it (make it with requires_grad=True)")
    found = backprop(tensors, seeds, retain_graph=retain_graph, create_graph=create_graph, inputs=inputs)
    for x, g in zip(inputs, found):
        if g is not None:
            _check_grad_fits(x)                              # all refused before any is changed
    for x, g in zip(inputs, found):
        if g is None:
            continue
        if x.is_leaf:
            _deposit(x, g, create_graph, owned=False)        # as backward() does: in place
        else:
            _retain(x, g)                                    # as retain_grad() does: a new sum


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool | None = None, immediate: bool = False,
         materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not stored in ``.grad``).

    Returns a tuple with one Tensor per input, of that input's shape:
    ``sum_i grad_outputs[i] . d outputs[i] / d input``.  Inputs may be leaves or intermediate
    tensors (``dE/dh_k`` for a hidden state ``h_k``).  ``grad_outputs`` may be omitted for
    one-element outputs.  With ``create_graph=True`` the results are part of a graph and can
    be differentiated again; with ``immediate=True`` as well, that graph holds every
    intermediate value constant and follows only the explicit appearances of the leaves (see
    ``backward.backprop``).

    An input the outputs do not depend on raises, unless ``allow_unused`` (its gradient is then
    None) or ``materialize_grads`` (zeros of its shape, dtype and device; this implies
    ``allow_unused``, as in ``torch.autograd.grad``).  An output that does not require grad
    raises, as in PyTorch, whatever the options: it has no graph to go back through.
    """
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("grad: materialize_grads=True needs allow_unused=True or left out")
    outputs = _tensors(outputs, "outputs")
    inputs = _tensors(inputs, "inputs")
    seeds = _seeds(outputs, grad_outputs, "grad", "grad_outputs")
    if retain_graph is None:
        retain_graph = create_graph
    unique = list({id(x): x for x in inputs}.values())   # an input named twice: its gradient twice
    found = backprop(outputs, seeds, retain_graph=retain_graph,
                     create_graph=create_graph, inputs=unique, immediate=immediate)
    by_id = {id(x): g for x, g in zip(unique, found)}
    result = tuple(by_id[id(x)] for x in inputs)
    for x, g in zip(inputs, result):
        if g is None and not allow_unused:
            if not x.requires_grad:
                raise RuntimeError(f"grad: an input of shape {x.shape} does not require grad, so no "
                                   "gradient was recorded for it: make it with requires_grad=True "
                                   "(or call x.requires_grad_() before the forward pass)")
            raise RuntimeError(f"grad: an input of shape {x.shape} was not used to compute the "
                               "outputs; pass allow_unused=True to get None for it "
                               "(or materialize_grads=True to get zeros)")
    if materialize_grads:
        result = tuple(_zeros(x) if g is None else g for x, g in zip(inputs, result))
    return result


# --------------------------------------------------------------------------- functions of f
def _outputs(out, who: str) -> tuple[list, bool]:
    """What ``f`` returned, as (list of Tensors, whether it was a tuple); a TypeError otherwise."""
    if isinstance(out, Tensor):
        return [out], False
    if isinstance(out, (tuple, list)):       # a list of Tensors as a tuple (mg.split gives one)
        for k, o in enumerate(out):
            if not isinstance(o, Tensor):
                raise TypeError(f"{who}: f returned a {type(out).__name__} whose element {k} is a "
                                f"{type(o).__name__}; f must return a Tensor or a tuple of Tensors")
        return list(out), True
    raise TypeError(f"{who}: f returned a {type(out).__name__}; f must return a Tensor or a "
                    "tuple of Tensors (build the result with minigrad operations)")


def _pullback(outs, xs, gs, create_graph: bool = False) -> tuple:
    """``sum_i gs[i] . d outs[i] / d x`` for each x in ``xs``: a tuple of Tensors shaped like
    the xs, zeros where nothing depends on x (outputs that do not require grad contribute 0)."""
    live = [(o, g) for o, g in zip(outs, gs) if o.requires_grad]
    if not live:
        return tuple(_zeros(x) for x in xs)
    return grad([o for o, _ in live], xs, [g for _, g in live], retain_graph=True,
                create_graph=create_graph, materialize_grads=True)


def _records(fn):
    """Run ``fn`` (one of the functions of ``f`` below) with recording on, as
    ``torch.autograd.functional`` does: inside ``mg.no_grad()`` they still differentiate ``f``
    (else ``f`` would record no graph and every derivative would come out as zeros)."""
    @functools.wraps(fn)
    def recording(*args, **kwargs):
        with autograd.enable_grad():
            return fn(*args, **kwargs)
    return recording


def _leaves(xs) -> list:
    """Fresh leaves with the data of ``xs``: the inputs' own graphs are cut."""
    return [x.detach().requires_grad_() for x in _tensors(xs, "inputs")]


@_records
def vjp(f, *xs):
    """Evaluate ``out = f(*xs)`` and return ``(out, vjp_fn)``, as ``torch.func.vjp`` does.

    ``out`` is what ``f`` returned (a Tensor or a tuple of Tensors), detached.  ``vjp_fn(g)``
    takes a cotangent shaped like ``out`` (a tuple of them for a tuple ``out``; None for a
    one-element output means 1) and returns the tuple ``(g . d out/d x_1, ...)``, one Tensor per
    input, shaped like it; zeros for an input ``f`` does not use.  The ``xs`` are taken as
    constants: their own graphs are cut.
    """
    xs = _leaves(xs)
    outs, is_tuple = _outputs(f(*xs), "vjp")

    def vjp_fn(g, create_graph: bool = False) -> tuple:
        gs = list(g) if is_tuple and isinstance(g, (tuple, list)) else [g]
        if len(gs) != len(outs):
            raise ValueError(f"vjp_fn: f returned {len(outs)} outputs, got {len(gs)} cotangents")
        gs = [g if g is None else _as_cotangent(g, o) for g, o in zip(gs, outs)]
        return _pullback(outs, xs, gs, create_graph)

    detached = tuple(o.detach() for o in outs)
    return (detached if is_tuple else detached[0]), vjp_fn


@_records
def jacobian(f, inputs, chunk: int | None = None):
    """The Jacobian of ``f`` at ``inputs``, by reverse mode (``f(*inputs)`` for a tuple).

    For a Tensor ``x`` and a Tensor output ``y = f(x)``: one Tensor of shape
    ``y.shape + x.shape``, with ``J[i..., j...] = d y[i...] / d x[j...]``.  With a tuple of
    inputs: a tuple of such blocks, one per input; with a tuple of outputs: a tuple over the
    outputs; with both, a tuple over outputs of tuples over inputs (``J[i][j]`` is
    ``d y_i / d x_j``, of shape ``y_i.shape + x_j.shape``), as ``torch.autograd.functional``.
    A block is zero where the output does not depend on the input; it has the input's dtype.

    One backward pass per output element, each seeded with a standard basis vector, all over
    one recorded forward pass.  The result is preallocated; ``chunk`` rows are computed and
    then written into it, so the extra memory is ``chunk`` rows (default: all rows at once).
    """
    if chunk is not None and int(chunk) < 1:
        raise ValueError(f"jacobian: chunk must be a positive number of rows, got {chunk}")
    xs = _leaves(inputs)
    if not xs:
        raise ValueError("jacobian: no inputs to differentiate with respect to")
    outs, outs_tuple = _outputs(f(*xs), "jacobian")
    backend = xs[0].backend
    blocks = []                                   # blocks[i][j] = d outs[i] / d xs[j]
    with autograd.no_grad():
        for out in outs:
            m = out.size
            step = max(m, 1) if chunk is None else int(chunk)
            J = [backend.zeros((m,) + x.shape, dtype=x.data.dtype) for x in xs]
            basis = backend.zeros(m, dtype=out.data.dtype)
            for start in range(0, m, step):
                rows = [[] for _ in xs]           # rows[j]: this chunk's rows of J[j]
                for r in range(start, min(start + step, m)):
                    basis[r] = 1
                    seed = Tensor._wrap(basis.reshape(out.shape).copy(), backend)
                    basis[r] = 0
                    for j, g in enumerate(_pullback([out], xs, [seed])):
                        rows[j].append(g.data)
                for j in range(len(xs)):
                    J[j][start:start + len(rows[j])] = backend.stack(rows[j])
            blocks.append(tuple(Tensor._wrap(Jj.reshape(out.shape + x.shape), backend)
                                for Jj, x in zip(J, xs)))
    if not isinstance(inputs, Tensor):
        return tuple(blocks) if outs_tuple else blocks[0]
    return tuple(b[0] for b in blocks) if outs_tuple else blocks[0][0]


def _directions(v, xs, who: str) -> list:
    """The direction(s) ``v``: one Tensor per input, each of its input's shape and dtype;
    None for one-element inputs means 1 (as PyTorch)."""
    if v is None:
        if any(x.size != 1 for x in xs):
            raise ValueError(f"{who}: v is needed unless every input has one element")
        return [Tensor._wrap(x.backend.ones(x.data.shape, dtype=x.data.dtype), x.backend) for x in xs]
    vs = _tensors(v, f"{who}: v")
    if len(vs) != len(xs):
        raise ValueError(f"{who}: {len(xs)} inputs but {len(vs)} directions in v")
    for u, x in zip(vs, xs):
        check_fits(u, x, f"{who}: v", "its input")
    return [u.detach() for u in vs]


def _scalar_output(f, xs, who: str) -> Tensor:
    ys, is_tuple = _outputs(f(*xs), who)
    if is_tuple or ys[0].size != 1:
        got = f"a tuple of {len(ys)}" if is_tuple else f"shape {ys[0].shape}"
        raise ValueError(f"{who} needs a scalar function, f returned {got}")
    return ys[0]


@_records
def hvp(f, inputs, v=None) -> tuple:
    """Hessian-vector product: ``(f(x), H v)`` for a scalar function ``f`` at ``x``, as
    ``torch.autograd.functional.hvp`` returns them (``out, hv = mg.hvp(f, x, v)``), computed
    without forming H: differentiate ``<grad f(x), v>`` once more (reverse over reverse).

    ``inputs`` is a Tensor (``Hv`` has its shape) or a tuple of them (``f(*inputs)``; ``v`` and
    the result are then tuples too).  Zeros where the Hessian is zero: for ``f`` linear or
    piecewise linear in ``x`` (its gradient is then constant and records no graph).
    """
    xs = _leaves(inputs)
    vs = _directions(v, xs, "hvp")
    y = _scalar_output(f, xs, "hvp")
    gs = _pullback([y], xs, [None], create_graph=True)
    terms = [(g * u).sum() for g, u in zip(gs, vs) if g.requires_grad]
    hv = _pullback([_add(terms)], xs, [None]) if terms else tuple(_zeros(x) for x in xs)
    return y.detach(), (hv[0] if isinstance(inputs, Tensor) else hv)


def _add(terms: list) -> Tensor:
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


@_records
def jvp(f, inputs, v=None) -> tuple:
    """Jacobian-vector product (forward mode's result): ``(f(x), J v)``, as
    ``torch.autograd.functional.jvp`` and ``torch.func.jvp`` return them.

    ``inputs`` a Tensor or a tuple of them (``f(*inputs)``), ``v`` alike (None: ones, for
    one-element inputs); the result has the structure of ``f``'s output.  minigrad has only
    reverse mode, so ``J v`` is found by the double-VJP trick: ``u ↦ Jᵀ u`` is linear in the
    cotangent ``u``, and the derivative of ``<Jᵀ u, v>`` with respect to ``u`` is ``J v``.  Two
    backward passes, each of the cost of a gradient; exact (no finite difference).
    """
    xs = _leaves(inputs)
    vs = _directions(v, xs, "jvp")
    outs, is_tuple = _outputs(f(*xs), "jvp")
    live = [k for k, o in enumerate(outs) if o.requires_grad]     # the others do not depend on x
    us = [_zeros(outs[k]).requires_grad_() for k in live]           # any value: the map is linear
    jv = [_zeros(o) for o in outs]
    if live:
        gs = _pullback([outs[k] for k in live], xs, us, create_graph=True)   # Jᵀ u, a graph in u
        terms = [(g * u).sum() for g, u in zip(gs, vs) if g.requires_grad]
        if terms:
            for k, j in zip(live, _pullback([_add(terms)], us, [None])):
                jv[k] = j
    detached = tuple(o.detach() for o in outs)
    return (detached, tuple(jv)) if is_tuple else (detached[0], jv[0])


def hessian(f, inputs):
    """The Hessian of a scalar function ``f`` at ``inputs``, as
    ``torch.autograd.functional.hessian`` gives it: for a Tensor ``x``, one Tensor of shape
    ``x.shape + x.shape`` with ``H[i..., j...] = ∂²f / ∂x[i...] ∂x[j...]``; for a tuple of
    inputs, a tuple of tuples, ``H[i][j]`` of shape ``x_i.shape + x_j.shape``.

    The Jacobian (:func:`jacobian`, one backward pass per row) of the gradient, which is
    recorded with ``create_graph=True``; zeros where the gradient does not depend on an input.
    """
    def gradient(*xs):
        y = _scalar_output(f, xs, "hessian")
        gs = _pullback([y], list(xs), [None], create_graph=True)
        return gs[0] if isinstance(inputs, Tensor) else gs
    return jacobian(gradient, inputs)
