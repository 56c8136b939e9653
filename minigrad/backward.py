"""The backward pass: one loop over the recorded nodes, last to first.

Read :func:`backprop` first; it is the whole algorithm.  What it does with each VJP's result
(add it to what that input has received so far, in bulk where that is faster) is
:mod:`minigrad.accumulate`'s job.
"""
from __future__ import annotations

import operator

from .accumulate import _DEFERRED, Cotangents
from .autograd import GraphReleasedError, Node, Shape, _State, run_hooks
from .tensor import CHANGES, Tensor

_wrap = Tensor._wrap
_by_seq = operator.attrgetter("seq")


def backprop(roots, root_grads, *, retain_graph: bool, create_graph: bool, inputs=None,
             immediate: bool = False):
    """The reverse pass from ``roots`` (Tensors) seeded with ``root_grads`` (Tensors).

    With ``inputs=None`` the gradients of the leaves (tensors made by the user with
    ``requires_grad=True``) are *added* to their ``.grad``.  With a list of ``inputs`` (leaves or
    intermediate tensors) nothing is accumulated: their gradients are returned in that order
    (``None`` for an input the roots do not depend on).

    ``immediate`` (with ``create_graph``): the recorded gradient depends on the leaves only
    where they appear explicitly in a VJP; every intermediate value a VJP reads (a saved input
    or output) is held constant.  For ``h = tanh(h_prev @ W)`` the gradient wrt ``h_prev`` is
    then ``(g * (1 - h²)) @ Wᵀ`` with ``h`` a constant: differentiable in ``W`` through the
    explicit ``Wᵀ`` only (the "immediate derivative" of the paper's regularizer).
    """
    nodes = _nodes_behind(roots)                  # 1. last recorded first: consumers before producers
    needed = _leading_to(nodes, inputs)           # 2. None, or the nodes on a path to `inputs`
    grads = Cotangents(create_graph)              # 3. dL/d(value), summed as they arrive
    for r, g in zip(roots, root_grads):
        grads.add(_key(r), g)
    wanted = {} if inputs is None else {_key(x): k for k, x in enumerate(inputs)}
    captured = [None] * len(wanted)
    previous, _State.grad_enabled = _State.grad_enabled, create_graph
    try:
        for node in nodes:                        # 4. each node sends its cotangent to its inputs
            g = grads.grads.pop(node, None)
            if g is not None and (needed is None or node in needed):
                if node.hooks:
                    g = run_hooks(node.hooks, g)  # Tensor.register_hook: a hook may replace g
                if node in wanted:
                    captured[wanted[node]] = g
                _visit(node, g, grads, needed, immediate and create_graph)
            if not retain_graph:
                node.release()                    # its saved arrays may go now
        grads.flush_all()
        leaves = [key for key in grads.grads if type(key) is not Node]
        for key in leaves:
            if key._hooks:                        # a leaf's hooks see its whole gradient
                grads.grads[key] = run_hooks(key._hooks, grads.grads[key])
                grads.owned.discard(key)          # a hook may keep what it saw: .grad gets a copy
    finally:
        _State.grad_enabled = previous
    if inputs is not None:                        # 5. return the requested gradients ...
        for key in leaves:
            if key in wanted:
                captured[wanted[key]] = grads.grads[key]
        return tuple(g if g is None else _fitted(x, g) for x, g in zip(inputs, captured))
    leaves = [x for x in leaves if x.requires_grad]   # (not one turned off since: PyTorch's rule)
    for x in leaves:                              #    (all refused before any .grad is changed)
        _check_grad_fits(x)
        g = _fitted(x, grads.grads[x])            # cast (a fresh array), or refused
        if g is not grads.grads[x]:
            grads.grads[x] = g
            grads.owned.add(x)
    for x in leaves:                              #    ... or add the leaves' into their .grad
        _deposit(x, grads.grads[x], create_graph, owned=x in grads.owned)
    return None


def _visit(node, g, grads, needed, immediate):
    """Send the cotangent ``g`` of ``node``'s output to each of its inputs."""
    if node.changes is not None and node.changes != CHANGES[0]:
        node.check_versions()                     # refuse values changed since they were kept
    if node.retained is not None:
        t = node.retained()
        if t is not None:
            _retain(t, g)
    op, shapes, params = node.op, node.shapes, node.params
    out = None
    if op.saves_out:                              # the output, rebuilt around its saved array
        out = _wrap(node.out_data, g.backend)
        if not immediate:
            out._requires_grad, out._node = True, node   # (a fresh float leaf: no checks)
    inputs = node.inputs if op.saves_inputs else [Shape.of(s) for s in shapes]
    if immediate and op.saves_inputs:             # intermediate values as constants
        inputs = [x if x._node is None else x.detach() for x in inputs]
    sent = [] if node.taped else None
    for i, parent in enumerate(node.parents):
        if parent is None or (needed is not None and parent not in needed):
            continue
        if op.vjps is not None:                       # dL/d(input i) = g . d out/d(input i)
            gx = op.vjps[i](g, out, *inputs, **params)
        else:
            gx = op.vjp_argnum(i, g, out, *inputs, **params)
        if sent is not None:                          # a Tape wants the norms: evaluate now
            gx = gx.evaluate() if type(gx) in _DEFERRED else gx
            sent.append((i, gx, shapes[i]))     # its norm is taken once summed to the input's shape
        grads.add(parent, gx, shapes[i])              # summed to the input's shape, then added
    if sent is not None:
        for tape, entry in node.taped:
            tape._note_grads(entry, g, sent)


def _nodes_behind(roots) -> list:
    """Every node the roots depend on, in reverse recording order, found with an explicit
    stack (an unrolled RNN can be tens of thousands of nodes deep: no recursion)."""
    nodes, seen = [], set()
    stack = [r._node for r in roots if r._node is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.parents is None:
            raise GraphReleasedError(
                f"backward through a released graph: node #{node.seq} ({node.op.name}) was freed "
                "by an earlier backward(); pass retain_graph=True to that first call, or "
                ".detach() tensors you carry from one graph to the next")
        nodes.append(node)
        for p in node.parents:
            if type(p) is Node and p not in seen:
                stack.append(p)
    nodes.sort(key=_by_seq, reverse=True)
    return nodes


def _leading_to(nodes, inputs):
    """The nodes from which some requested input can be reached (None: all are needed)."""
    if inputs is None:
        return None
    needed = {_key(x) for x in inputs}
    for node in reversed(nodes):                  # producers first
        if any(p in needed for p in node.parents if p is not None):
            needed.add(node)
    return needed


def _key(x):
    """Where the gradient of tensor ``x`` is collected: its node, or the leaf itself."""
    return x._node if x._node is not None else x


def _check_grad_fits(x):
    """Refuse a ``.grad`` that no longer fits its tensor.  ``x.grad = g`` is checked when made,
    but ``x.data = v`` may since have changed x's shape or dtype: ``+=`` would then broadcast
    into the old shape, or keep the old dtype."""
    g = x._grad
    if g is not None and (g.shape != x.shape or g.dtype != x.dtype):
        raise ValueError(f"backward: the .grad of a leaf of shape {x.shape} is a Tensor of shape {g.shape} "
                         f"(dtype {g.dtype}, the leaf's {x.dtype}): x.data replaced since? backward adds "
                         "into .grad, so it must fit: set x.grad = None first")


def _fitted(x, g):
    """The gradient ``g`` computed for tensor ``x``, in x's dtype: cast if a VJP returned another
    (a user's Primitive may), as PyTorch's engine casts each gradient to its input's dtype.
    Another shape or device is a VJP's mistake, refused (summed into .grad it would broadcast)."""
    if g.shape != x.shape or g.backend is not x.backend:
        raise RuntimeError(f"backward: the gradient computed for a tensor of shape {x.shape} on "
                           f"{x.device!r} has shape {g.shape} on {g.device!r}; a VJP must return its "
                           "input's shape (or one that broadcasts to it) on its device")
    return g if g.dtype == x.dtype else g.astype(x.dtype)


def _retain(t, g):
    """``t.grad += g`` for a tensor that keeps its gradient without being a leaf (``retain_grad()``,
    or an ``inputs=`` of :func:`minigrad.functional.backward`): a new sum each time, and the
    first time its own copy of ``g`` (which may be the caller's seed or another tensor's)."""
    g = _fitted(t, g)
    if t._grad is None:
        t._grad = g if g.requires_grad else g.detach_copy()
    else:
        t._grad = t._grad + g


def _deposit(x, g, create_graph, owned):
    """``x.grad += g`` for a leaf (``.grad`` always owns its buffer).  ``.grad`` is written
    directly, without ``x.grad = ...``'s checks: the callers made g fit (:func:`_fitted`) and
    checked the old .grad (:func:`_check_grad_fits`)."""
    if create_graph or g.requires_grad:
        x._grad = g if x._grad is None else x._grad + g
    elif x._grad is None:
        x._grad = g if owned else g.detach_copy()
    elif x._grad.requires_grad:
        x._grad = x._grad.detach() + g
    else:
        x._grad.data += g._data               # (an in-place change: counted)
