"""Recording: primitives, nodes, and the switches that say whether to record.

How reverse mode works, in four sentences.  Every *primitive* (``tanh``, ``matmul``, ...) computes its
output from raw arrays and, if any input requires a gradient, gives the output a ``Node``: which
primitive made it, from which input Tensors, with which parameters, and a sequence number.  The
nodes, read in order of their sequence numbers, are the Wengert list of the computation: every
node comes after the nodes of its inputs, so reading it backwards is a valid order to propagate
gradients (no topological sort, no recursion).  Backward (:mod:`minigrad.backward`) starts from
the output with cotangent ``g = dL/dout`` and, for each node from last to first, asks the
primitive for the vector-Jacobian product ``dL/dinput_i = g . d out / d input_i`` and sums it
into that input's cotangent.  The VJPs are written with Tensor operations, so running them while
recording (``create_graph=True``) builds a graph of the gradient itself: second derivatives for free.

This module is the recording half: grad mode, :class:`Node`, :class:`Primitive`, and the two
primitives the backward pass itself needs to undo broadcasting (``sum_to`` and its adjoint
``broadcast_to``).
"""
from __future__ import annotations

import functools
import inspect
import itertools
import weakref
from contextlib import contextmanager

import numpy as np

from .tensor import CHANGES, DeviceMismatchError, Tensor

_wrap = Tensor._wrap


class _State:
    """Global recording state (one Python thread drives one computation at a time)."""

    grad_enabled = True       # record nodes? (off inside no_grad and non-create_graph backward)
    tapes: list = []          # Tape objects currently recording (see tape.py)
    marks = None              # dict of labels (e.g. {"step": 3}) attached to new nodes


_seq = itertools.count()      # sequence numbers: the recording order of all nodes


# --------------------------------------------------------------------------- grad mode
@contextmanager
def _grad_mode(enabled: bool):
    previous, _State.grad_enabled = _State.grad_enabled, enabled
    try:
        yield
    finally:
        _State.grad_enabled = previous


def _decorate(fn, enabled: bool):
    """``fn`` run with grad mode ``enabled``, the previous mode back afterwards.  A generator
    function gets the mode during each of its steps (each ``next``, ``send``, ``throw`` and
    the ``close``), and the caller's mode back between them, as PyTorch's decorators do: the
    mode is not left switched while the generator is paused."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def steps(*args, **kwargs):
            with _grad_mode(enabled):
                gen = fn(*args, **kwargs)
            method, value = "send", None
            while True:
                try:
                    with _grad_mode(enabled):
                        response = getattr(gen, method)(value)
                except StopIteration as stop:
                    return stop.value
                try:
                    method, value = "send", (yield response)
                except GeneratorExit:
                    with _grad_mode(enabled):
                        gen.close()
                    raise
                except BaseException as e:          # thrown in by the caller: pass it on
                    method, value = "throw", e
        return steps

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with _grad_mode(enabled):
            return fn(*args, **kwargs)
    return call


class _GradMode:
    """``no_grad()`` / ``enable_grad()``: a context manager (re-entrant), or a decorator, with
    or without the parentheses (``@mg.no_grad`` and ``@mg.no_grad()``, as in PyTorch)."""

    def __init__(self, enabled: bool):
        self.enabled, self.previous = enabled, []

    def __enter__(self):
        self.previous.append(_State.grad_enabled)
        _State.grad_enabled = self.enabled
        return self

    def __exit__(self, *exc):
        _State.grad_enabled = self.previous.pop()

    def __call__(self, fn):
        return _decorate(fn, self.enabled)


def no_grad(fn=None):
    """Run a block without recording: results have no graph and need no memory for one.
    ``with mg.no_grad():``, or ``@mg.no_grad()`` / ``@mg.no_grad`` on a function (a generator
    function: during each of its steps, see :func:`_decorate`)."""
    return _GradMode(False) if fn is None else _decorate(fn, False)


def enable_grad(fn=None):
    """Record again inside a ``no_grad`` block (a context manager or a decorator, as
    :func:`no_grad`)."""
    return _GradMode(True) if fn is None else _decorate(fn, True)


def inference_mode(mode=True):
    """PyTorch's ``torch.inference_mode``, for code written for it: ``inference_mode()`` is
    :func:`no_grad` and ``inference_mode(False)`` is :func:`enable_grad` (as PyTorch's guard
    does); a context manager or a decorator, with or without the parentheses.  PyTorch also
    marks the tensors made inside as "inference tensors" that a later graph may not keep for a
    gradient; minigrad has no such kind: they are ordinary tensors without a graph."""
    if callable(mode):                               # @mg.inference_mode
        return _decorate(mode, False)
    if not isinstance(mode, (bool, np.bool_)):
        raise TypeError(f"inference_mode takes True or False, got {mode!r}")
    return _GradMode(not mode)


def is_grad_enabled() -> bool:
    return _State.grad_enabled


class set_grad_enabled:
    """Turn recording on or off, as ``torch.set_grad_enabled``: as a function it switches at
    once (``mg.set_grad_enabled(False)``); as a context manager (``with
    mg.set_grad_enabled(training):``) the previous mode comes back at the end of the block; as
    a decorator (``@mg.set_grad_enabled(False)``) it switches only while the function runs.
    ``mode`` is a bool (PyTorch refuses anything else too).  Like ``no_grad``, the mode is one
    for the whole process, not one per thread."""

    def __init__(self, mode: bool):
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"set_grad_enabled takes True or False, got {mode!r}")
        self.mode = bool(mode)
        self.previous, _State.grad_enabled = _State.grad_enabled, self.mode

    def __enter__(self):
        _State.grad_enabled = self.mode              # (the mode may have changed since __init__)
        return self

    def __exit__(self, *exc):
        _State.grad_enabled = self.previous

    def __call__(self, fn):
        _State.grad_enabled = self.previous          # decorating switches nothing by itself
        return _decorate(fn, self.mode)


@contextmanager
def scope(**marks):
    """Label every node recorded in the block, e.g. ``with mg.scope(step=t): h = cell(x[t], h)``.

    Labels nest (inner ones add to, or override, outer ones) and are read by renderers to group
    an unrolled network by time step: ``node.marks == {"step": t}``.
    """
    previous = _State.marks
    _State.marks = {**(previous or {}), **marks}
    try:
        yield
    finally:
        _State.marks = previous


# --------------------------------------------------------------------------- nodes
class Node:
    """How one Tensor was made: ``op(*inputs, **params)``, the ``seq``-th node recorded.

    A node keeps only what backward needs, so that memory goes as soon as it can:

    * ``parents[i]``: where the gradient of input ``i`` goes: the input's own Node, the input
      Tensor itself if it is a leaf that requires grad, or None (a constant: no gradient);
    * ``shapes[i]``: the input's shape (to undo broadcasting);
    * ``inputs``: the input Tensors, only if the op's VJP reads them (``op.saves_inputs``);
    * ``out_data``: the output array, only if the VJP reads it (``op.saves_out``: tanh, exp);
    * ``changes``: how many in-place changes had been made (``tensor.CHANGES``) when the values
      were kept, so that backward can refuse a value changed after that (its gradient would be
      silently wrong);
    * ``hooks``: the functions ``Tensor.register_hook`` put on the output's gradient (None).

    So ``tanh(a + b)`` keeps neither ``a + b`` nor ``a`` nor ``b`` alive: add's VJP needs no
    values and tanh's needs only its output.
    """

    __slots__ = ("op", "params", "parents", "shapes", "inputs", "out_data", "out_shape", "seq",
                 "marks", "taped", "retained", "changes", "out_version", "hooks", "__weakref__")

    def __init__(self, op, inputs, params, out):
        self.op = op
        self.params = params
        self.parents = [x._node if x._node is not None else (x if x._requires_grad else None)
                        for x in inputs]
        self.shapes = [x._data.shape for x in inputs]
        self.inputs = self.out_data = self.out_version = self.changes = None
        if op.saves_inputs:
            self.inputs, self.changes = inputs, CHANGES[0]
        if op.saves_out:
            self.out_data, self.out_version, self.changes = out._data, out._version, CHANGES[0]
        self.out_shape = out._data.shape
        self.seq = next(_seq)
        self.marks = _State.marks
        self.taped = None             # [(tape, entry)] when a Tape recorded this node
        self.retained = None          # weakref to the output, if it asked to retain_grad()
        self.hooks = None             # functions of the output's gradient (Tensor.register_hook)

    @property
    def released(self) -> bool:
        return self.parents is None

    def release(self) -> None:
        """Drop everything backward would need: the saved arrays can be freed."""
        self.parents = self.inputs = self.out_data = None

    def check_versions(self) -> None:
        """Raise if a value this node kept for its VJP was changed in place since it was kept
        (its stamp, the count of changes at its last change, is later than ``changes``)."""
        if self.changes is None or self.changes == CHANGES[0]:
            return                                # nothing changed anywhere since
        changed = []
        if self.inputs is not None:
            changed = [i for i, x in enumerate(self.inputs) if x._version[1] > self.changes]
        if self.out_version is not None and self.out_version[1] > self.changes:
            changed.append("out")
        if changed:
            what = ", ".join("its output" if i == "out" else f"input {i} {self.shapes[i]}" for i in changed)
            raise RuntimeError(
                f"backward: {what} of {self.op.name} (node #{self.seq}) was changed in place after "
                "the forward pass kept it for the gradient; the gradient would be wrong. Change "
                "values after backward(), or work on a copy (x.detach_copy())")
        if self.inputs is not None and _State.grad_enabled:     # recording the gradient (create_graph)
            cut = [i for i, (x, p) in enumerate(zip(self.inputs, self.parents))
                   if type(p) is Node and x._node is not p]      # x.detach_() since it was kept
            if cut:
                raise RuntimeError(
                    f"backward: input {cut[0]} {self.shapes[cut[0]]} of {self.op.name} (node #{self.seq}) "
                    "was detached in place (detach_()) after the forward pass kept it; a gradient "
                    "recorded through it (create_graph=True) would take it for a constant. Use "
                    "x.detach() (a new tensor) instead")

    def __repr__(self):
        state = "released" if self.parents is None else f"{len(self.parents)} inputs"
        return f"<Node #{self.seq} {self.op.name} ({state})>"


class Shape:
    """Stands in, during backward, for an input whose values the op did not save."""

    __slots__ = ("shape", "ndim")

    def __init__(self, shape):
        self.shape, self.ndim = tuple(shape), len(shape)

    @staticmethod
    def of(shape, _cache={}):
        """The (shared, immutable) stand-in for ``shape``."""
        s = _cache.get(shape)
        if s is None:
            s = _cache[shape] = Shape(shape)
        return s


class Primitive:
    """An operation with a known derivative: a forward on arrays and one VJP per input.

    ``forward(xp, *arrays, **params)`` computes the output array with the array module ``xp``
    (the inputs' backend, which offers ``numpy``'s or ``cupy``'s functions plus a few extras).
    ``vjps[i](g, out, *inputs, **params)`` maps the output cotangent ``g`` (a Tensor) to the
    cotangent of input ``i``, using Tensor operations only.  Its result may keep the broadcast
    shape of the output: the backward pass sums it back to the input's shape, in one place.
    Variadic primitives (concat, stack) give one function ``vjp_argnum(i, g, out, *inputs)``.

    ``save`` says what the VJPs read: "inputs", "out", both ("inputs,out") or nothing ("");
    what is not saved arrives in the VJP as ``None`` (out) or a :class:`Shape` (inputs).
    ``view=True`` marks an op whose output may share memory with its first input (reshape,
    permute, a slice): the two then share one version cell, so that a change made through
    either is seen by the nodes that kept the other.
    """

    def __init__(self, forward, name: str | None = None, save: str = "inputs", view: bool = False):
        self.forward = forward
        self.view = view
        self.name = name or forward.__name__
        self.__doc__ = forward.__doc__
        self.saves_inputs = "inputs" in save
        self.saves_out = "out" in save
        self.vjps = None
        self.vjp_argnum = None

    def defvjp(self, *vjps):
        self.vjps = vjps
        return self

    def defvjp_argnum(self, vjp_argnum):
        self.vjp_argnum = vjp_argnum
        return self

    def __call__(self, *inputs, **params):
        backend = inputs[0].backend
        requires_grad = False
        for x in inputs:
            if x.backend is not backend:
                raise DeviceMismatchError(
                    f"{self.name}: inputs live on different devices "
                    f"({', '.join(repr(x.device) for x in inputs)}); move them with .to(device)")
            requires_grad = requires_grad or x._requires_grad
        try:
            data = self.forward(backend, *[x._data for x in inputs], **params)
        except (ValueError, TypeError, IndexError) as e:
            shapes = ", ".join(f"{x.shape} {x.dtype}" for x in inputs)
            raise type(e)(f"{self.name}: {e} (inputs: {shapes})") from e
        out = _wrap(data, backend)
        if self.view:
            out._version = inputs[0]._version
        if requires_grad and _State.grad_enabled:
            _attach(out, Node(self, inputs, params, out), inputs)
        return out

    def __repr__(self):
        return f"<primitive {self.name}>"


def record(op, inputs, params, out) -> None:
    """Give ``out`` a node if we are recording and any input requires a gradient (for results
    computed outside ``Primitive.__call__``, such as a copy to another device)."""
    if _State.grad_enabled and any(x.requires_grad for x in inputs):
        _attach(out, Node(op, inputs, params, out), inputs)


def _attach(out, node, inputs) -> None:
    out._requires_grad, out._node = True, node
    for tape in _State.tapes:
        tape._record(node, inputs, out)


# --------------------------------------------------------------------------- hooks
class HookHandle:
    """What ``register_hook`` returns: ``handle.remove()`` unregisters the hook (a second call,
    or one after the tensor is gone, does nothing)."""

    def __init__(self, key, fn):
        self._key, self._fn = weakref.ref(key), fn

    def remove(self) -> None:
        key = self._key()
        hooks = None if key is None else _hooks_of(key)
        for k, fn in enumerate(hooks or ()):
            if fn is self._fn:
                del hooks[k]
                return


def register_hook(t: Tensor, fn) -> HookHandle:
    """Call ``fn(grad)`` when backward has computed the gradient of ``t`` (all of it: the sum
    over every use); if ``fn`` returns a Tensor, that replaces the gradient from then on (what
    flows further back, what ``.grad`` and ``mg.grad`` show), as in PyTorch.  Hooks run in the
    order registered, each on the previous one's result.

    The hooks live on the object that collects ``t``'s gradient: the Node that made ``t`` (as
    PyTorch's live on its ``grad_fn``), or the leaf ``t`` itself.  So they go when it goes, and
    a hook that refers to its own tensor makes a cycle that the garbage collector frees."""
    if not t.requires_grad:
        raise RuntimeError("register_hook on a tensor that does not require grad: it gets no gradient")
    if not callable(fn):
        raise TypeError(f"register_hook takes a function of the gradient, got {type(fn).__name__}")
    if t._node is not None:
        key = t._node
        key.hooks = key.hooks or []
        key.hooks.append(fn)
    else:
        key = t
        key._hooks = key._hooks or []
        key._hooks.append(fn)
    return HookHandle(key, fn)


def _hooks_of(key) -> list | None:
    """The hooks registered on a Node or a leaf Tensor (None: none ever were)."""
    return key.hooks if type(key) is Node else key._hooks


def run_hooks(hooks: list, g: Tensor) -> Tensor:
    """``g`` passed through ``hooks`` in order (see :func:`register_hook`)."""
    for fn in list(hooks):                        # (a hook may remove itself)
        result = fn(g)
        if result is not None:
            if not isinstance(result, Tensor) or result.shape != g.shape or result.dtype != g.dtype:
                got = (f"a Tensor of shape {result.shape} and dtype {result.dtype}"
                       if isinstance(result, Tensor) else f"a {type(result).__name__}")
                raise TypeError(f"a gradient hook must return None or a Tensor of shape {g.shape} "
                                f"and dtype {g.dtype} (the gradient's), got {got}")
            g = result
    return g


class GraphReleasedError(RuntimeError):
    """Backward reached a node whose graph an earlier backward() already freed."""


# --------------------------------------------------------------------------- broadcasting
def _sum_to(xp, g, *, shape):
    """out = g summed down to ``shape``: over new leading axes, and over the axes where
    ``shape`` has size 1 and g does not (undoes broadcasting)      ḡ_in = ḡ broadcast back"""
    lead = g.ndim - len(shape)
    ones = tuple(lead + i for i, n in enumerate(shape) if n == 1 and g.shape[lead + i] != 1)
    if not ones:                              # only new leading axes: one reduction does it
        return xp.sum(g, axis=tuple(range(lead)))
    return xp.sum(g, axis=tuple(range(lead)) + ones, keepdims=True).reshape(shape)


def _broadcast_to(xp, x, *, shape):
    """out = x repeated along new or size-1 axes      x̄ = ḡ summed over those axes"""
    return xp.broadcast_to(x, shape)


sum_to_ = Primitive(_sum_to, name="sum_to", save="")
broadcast_to_ = Primitive(_broadcast_to, name="broadcast_to", save="", view=True)
sum_to_.defvjp(lambda g, out, x, *, shape: broadcast_to(g, x.shape))
broadcast_to_.defvjp(lambda g, out, x, *, shape: sum_to(g, x.shape))


def sum_to(g: Tensor, shape) -> Tensor:
    """Undo broadcasting: sum ``g`` over the axes along which an array of ``shape`` was
    broadcast to ``g.shape`` (new leading axes, and axes where ``shape`` has size 1).

    The backward pass calls it whenever a VJP returns a cotangent whose shape is not its
    input's: the one place where broadcasting is undone.  A ``shape`` that does not broadcast
    to ``g.shape`` (an axis that is neither 1 nor ``g``'s, or more axes than ``g``) is refused
    with a ValueError (in the backward pass such a cotangent is a VJP's bug, which a sum would hide).
    """
    shape = tuple(shape)
    if g.shape == shape:
        return g
    lead = g.ndim - len(shape)
    if lead < 0 or any(n != 1 and n != m for n, m in zip(shape, g.shape[lead:])):
        raise ValueError(f"sum_to: cannot sum shape {g.shape} down to {shape}: {shape} does not broadcast "
                         f"to {g.shape} (each of its axes must be 1 or equal to the matching last axes of g)")
    return sum_to_(g, shape=shape)


def broadcast_to(x: Tensor, shape) -> Tensor:
    """``x`` repeated (without copying) to ``shape``, NumPy's broadcasting rules."""
    shape = tuple(shape)
    if shape == x.shape:
        return x
    return broadcast_to_(x, shape=shape)
