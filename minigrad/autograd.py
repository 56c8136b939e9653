"""Reverse-mode automatic differentiation: primitives, nodes, tapes, and the backward pass.

How it works, in four sentences.  Every *primitive* (``tanh``, ``matmul``, ...) computes its
output from raw arrays and, if any input requires a gradient, gives the output a ``Node``: which
primitive made it, from which input Tensors, with which parameters, and a sequence number.  The
nodes, read in order of their sequence numbers, are the Wengert list of the computation: every
node comes after the nodes of its inputs, so reading it backwards is a valid order to propagate
gradients (no topological sort, no recursion).  Backward starts from the output with cotangent
``g = dL/dout`` and, for each node from last to first, asks the primitive for the
vector-Jacobian product ``dL/dinput_i = g . d out / d input_i`` and sums it into that input's
cotangent.  The VJPs are written with Tensor operations, so running them while recording
(``create_graph=True``) builds a graph of the gradient itself: second derivatives for free.

A :class:`Tape` is that same list made visible: ``with mg.Tape() as tape:`` collects every node
recorded inside the block, in order, to print, iterate or draw.

Two refinements keep backward close to hand-written speed and memory, without changing a number:
a node keeps only the values its VJP reads (``Primitive(save=...)``), and the cotangents of
a weight used at many steps (``Product``) or of the pieces of an indexed tensor
(``Scattered``) are summed in bulk instead of one small array at a time.
"""
from __future__ import annotations

import itertools
import operator
import weakref
from contextlib import contextmanager


class _State:
    """Global recording state (one Python thread drives one computation at a time)."""

    grad_enabled = True       # record nodes? (off inside no_grad and non-create_graph backward)
    tapes: list = []          # Tape objects currently recording
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


def no_grad():
    """Run a block without recording: results have no graph and need no memory for one."""
    return _grad_mode(False)


def enable_grad():
    """Record again inside a ``no_grad`` block."""
    return _grad_mode(True)


def is_grad_enabled() -> bool:
    return _State.grad_enabled


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
    * ``out_data``: the output array, only if the VJP reads it (``op.saves_out``: tanh, exp).

    So ``tanh(a + b)`` keeps neither ``a + b`` nor ``a`` nor ``b`` alive: add's VJP needs no
    values and tanh's needs only its output.
    """

    __slots__ = ("op", "params", "parents", "shapes", "inputs", "out_data", "out_shape", "seq",
                 "marks", "taped", "retained", "__weakref__")

    def __init__(self, op, inputs, params, out_data):
        self.op = op
        self.params = params
        self.parents = [x._node if x._node is not None else (x if x.requires_grad else None)
                        for x in inputs]
        self.shapes = [x.data.shape for x in inputs]
        self.inputs = inputs if op.saves_inputs else None
        self.out_data = out_data if op.saves_out else None
        self.out_shape = out_data.shape
        self.seq = next(_seq)
        self.marks = _State.marks
        self.taped = None             # [(tape, entry)] when a Tape recorded this node
        self.retained = None          # weakref to the output, if it asked to retain_grad()

    @property
    def released(self) -> bool:
        return self.parents is None

    def release(self) -> None:
        """Drop everything backward would need: the saved arrays can be freed."""
        self.parents = self.inputs = self.out_data = None

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
    """

    def __init__(self, forward, name: str | None = None, save: str = "inputs"):
        self.forward = forward
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
            requires_grad = requires_grad or x.requires_grad
        try:
            data = self.forward(backend, *[x.data for x in inputs], **params)
        except (ValueError, TypeError, IndexError) as e:
            shapes = ", ".join(f"{x.shape} {x.dtype}" for x in inputs)
            raise type(e)(f"{self.name}: {e} (inputs: {shapes})") from e
        out = _wrap(data, backend)
        if requires_grad and _State.grad_enabled:
            _attach(out, Node(self, inputs, params, data), inputs)
        return out

    def __repr__(self):
        return f"<primitive {self.name}>"


def record(op, inputs, params, out) -> None:
    """Give ``out`` a node if we are recording and any input requires a gradient."""
    if _State.grad_enabled and any(x.requires_grad for x in inputs):
        _attach(out, Node(op, inputs, params, out.data), inputs)


def _attach(out, node, inputs) -> None:
    out.requires_grad, out._node = True, node
    for tape in _State.tapes:
        tape._record(node, inputs, out)


class DeviceMismatchError(RuntimeError):
    """One operation received tensors that live on different devices."""


class GraphReleasedError(RuntimeError):
    """Backward reached a node whose graph an earlier backward() already freed."""


# --------------------------------------------------------------------------- the tape
class TapeEntry:
    """One recorded node as a Tape shows it: plain data that outlives the graph's release.

    ``inputs[i]`` is an ``int`` (the index of the tape entry that produced it) or the input
    Tensor itself (a leaf such as a parameter, or a constant).  ``output`` is the produced
    Tensor while it is alive.  After a backward pass that crossed this node, ``grad_norm`` is the
    norm of dL/d(output) and ``input_grad_norms[i]`` that of the gradient sent to input ``i``.
    """

    __slots__ = ("index", "op", "params", "marks", "inputs", "shape", "dtype", "_output",
                 "grad_norm", "input_grad_norms", "__weakref__")

    @property
    def output(self):
        return self._output()

    @property
    def step(self):
        return None if self.marks is None else self.marks.get("step")

    def __repr__(self):
        args = ", ".join(f"%{i}" if isinstance(i, int) else _leaf_label(i) for i in self.inputs)
        extra = "" if self.marks is None else "  " + " ".join(f"{k}={v}" for k, v in self.marks.items())
        grad = "" if self.grad_norm is None else f"  |grad|={self.grad_norm:.3g}"
        return f"%{self.index} = {self.op}({args}) -> {self.shape}{extra}{grad}"


def _leaf_label(t):
    if isinstance(t, Shape):
        return f"const{t.shape}"
    return t.name if t.name else f"{'param' if t.requires_grad else 'const'}{t.shape}"


class Tape:
    """Records every node created inside ``with Tape() as tape:``, in execution order.

    ``len(tape)``, ``tape[i]``, iteration and ``print(tape)`` show the Wengert list; renderers
    take the tape as it is.  The tape keeps only descriptions (op, shapes, where each input came
    from) and weak references to outputs, so it does not keep the graph's memory alive: after
    ``backward()`` without ``retain_graph`` the arrays are freed but the tape still describes
    them, now with the gradient norm that flowed through each node (``record_grad_norms``).
    """

    def __init__(self, record_grad_norms: bool = True):
        self.entries: list[TapeEntry] = []
        self.record_grad_norms = record_grad_norms
        self._index_of_node = weakref.WeakKeyDictionary()   # Node -> entry index (not owning)

    def __enter__(self):
        _State.tapes.append(self)
        return self

    def __exit__(self, *exc):
        _State.tapes.remove(self)

    def _record(self, node, inputs, out):
        e = TapeEntry()
        e.index, e.op, e.params, e.marks = len(self.entries), node.op.name, node.params, node.marks
        e.inputs = tuple(self._index_of_node.get(x._node, x) if x._node is not None else x
                         for x in inputs)
        e.shape, e.dtype, e._output = out.shape, out.dtype, weakref.ref(out)
        e.grad_norm = e.input_grad_norms = None
        self._index_of_node[node] = e.index
        self.entries.append(e)
        node.taped = (node.taped or []) + [(self, e)]

    @classmethod
    def from_nodes(cls, nodes, record_grad_norms: bool = True) -> "Tape":
        """A tape describing already recorded ``nodes`` (in recording order), e.g. the graph
        behind a tensor; a later backward through them fills in the gradient norms."""
        tape = cls(record_grad_norms)
        for node in nodes:
            inputs = node.inputs or [None] * len(node.parents)
            e = TapeEntry()
            e.index, e.op, e.params, e.marks = len(tape.entries), node.op.name, node.params, node.marks
            e.inputs = tuple(tape._index_of_node[p] if type(p) is Node and p in tape._index_of_node
                             else p if p is not None else (x if x is not None else Shape.of(s))
                             for p, x, s in zip(node.parents, inputs, node.shapes))
            e.shape, e.dtype, e._output = node.out_shape, None, lambda: None
            e.grad_norm = e.input_grad_norms = None
            tape._index_of_node[node] = e.index
            tape.entries.append(e)
            node.taped = (node.taped or []) + [(tape, e)]
        return tape

    def __len__(self):
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)

    def __getitem__(self, i):
        return self.entries[i]

    def ops(self) -> list[str]:
        """The op names in recording order."""
        return [e.op for e in self.entries]

    def __repr__(self):
        head = f"Tape({len(self.entries)} nodes)"
        return "\n".join([head] + ["  " + repr(e) for e in self.entries])


def _norm(t) -> float:
    a = t.data
    return float(t.backend.to_host(t.backend.xp.sqrt(t.backend.xp.sum(a * a))))


# --------------------------------------------------------------------------- backward
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
    # 1. The nodes behind the roots, found with an explicit stack (an unrolled RNN can be tens
    #    of thousands of nodes deep: no recursion).
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
    # 2. Recording order, last first: every consumer of a value comes before its producer.
    nodes.sort(key=_by_seq, reverse=True)

    # 3. Only what leads to the requested inputs, when there are some.
    wanted = needed = None
    if inputs is not None:
        wanted = {x._node if x._node is not None else x: k for k, x in enumerate(inputs)}
        needed = set(wanted)
        for node in reversed(nodes):
            if any(p in needed for p in node.parents if p is not None):
                needed.add(node)

    # 4. Walk the nodes, sending each output's cotangent to the node's inputs.
    pass_ = _Backward(create_graph, immediate and create_graph)
    for r, g in zip(roots, root_grads):
        pass_.accumulate(r._node if r._node is not None else r, g)
    captured = [None] * (0 if inputs is None else len(inputs))
    previous, _State.grad_enabled = _State.grad_enabled, create_graph
    try:
        for node in nodes:
            g = pass_.grads.pop(node, None)
            if g is not None and (needed is None or node in needed):
                if wanted is not None and node in wanted:
                    captured[wanted[node]] = g
                pass_.visit(node, g, needed)
            if not retain_graph:
                node.release()                # its saved arrays may go now
        pass_.flush_all()
    finally:
        _State.grad_enabled = previous

    # 5. Deliver: return the requested gradients, or add the leaves' into their .grad.
    leaves = [key for key in pass_.grads if type(key) is not Node]
    if inputs is not None:
        for key in leaves:
            if key in wanted:
                captured[wanted[key]] = pass_.grads[key]
        return tuple(captured)
    for x in leaves:
        g = pass_.grads[x]
        if create_graph or g.requires_grad:
            x.grad = g if x.grad is None else x.grad + g
        elif x.grad is None:
            x.grad = g if x in pass_.owned else g.detach_copy()   # .grad owns its buffer
        elif x.grad.requires_grad:
            x.grad = x.grad.detach() + g
        else:
            x.grad.data += g.data
    return None


_by_seq = operator.attrgetter("seq")


class Product:
    """The cotangent ``aᵀ g`` (2-D ``a`` and ``g``), not yet multiplied out.

    A weight used at every step of an unrolled network receives one such term per step.  Their
    sum is one product of stacked factors, ``Σ_k a_kᵀ g_k = [a_1; ...; a_n]ᵀ [g_1; ...; g_n]``:
    the same numbers from a few large matrix products instead of n small ones.  So backward
    keeps the factors of the terms headed for a leaf and multiplies them in batches.  (Only
    when the gradient is not itself recorded: with ``create_graph`` every VJP is evaluated.)
    """

    __slots__ = ("a", "g", "shape")

    def __init__(self, a, g):
        self.a, self.g, self.shape = a, g, (a.shape[1], g.shape[1])

    def evaluate(self):
        return self.a.mT @ self.g


def transposed_product(a, g):
    """``aᵀ g`` as a VJP returns it: deferred (a :class:`Product`) where backward can batch it."""
    if _State.grad_enabled or a.ndim != 2 or g.ndim != 2:
        return a.mT @ g
    return Product(a, g)


class Scattered:
    """The cotangent of ``x[index]`` with respect to ``x``: zeros of x's shape with ``g`` added
    at ``index``, not yet materialized.

    Backward adds ``g`` straight into the gradient being accumulated for ``x``, so taking a
    tensor apart (the four gates of an LSTM, a sequence step by step) allocates one buffer
    instead of a full-size array of zeros per piece.
    """

    __slots__ = ("g", "index", "shape")

    def __init__(self, g, index, shape):
        self.g, self.index, self.shape = g, index, shape

    def evaluate(self):
        return ops.scatter_add(self.g, index=self.index, shape=self.shape)


def scattered(g, index, shape):
    """getitem's VJP: deferred (a :class:`Scattered`) when the gradient is not recorded."""
    if _State.grad_enabled:
        return ops.scatter_add(g, index=index, shape=shape)
    return Scattered(g, index, shape)


_DEFERRED = (Product, Scattered)


def product_transposed(g, b):
    """``g bᵀ`` as a VJP returns it: one array call when the gradient is not being recorded."""
    if _State.grad_enabled:
        return g @ b.mT
    xp, b = g.backend, b.data
    return _wrap(xp.matmul(g.data, b.T if b.ndim == 2 else xp.swapaxes(b, -1, -2)), xp)


class _Backward:
    """The state of one backward pass: cotangents summed so far, keyed by where they go."""

    BATCH = 16                                # Products multiplied together (bounds the memory)

    def __init__(self, create_graph: bool, immediate: bool = False):
        self.create_graph = create_graph
        self.immediate = immediate
        self.grads = {}                       # Node or leaf Tensor -> Tensor
        self.owned = set()                    # keys whose buffer this pass allocated
        self.pending = {}                     # leaf Tensor -> [Product | Tensor to sum]

    def accumulate(self, key, g):
        """grads[key] += g, without ever writing into a buffer this pass does not own."""
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
            old.data += g.data                # ours: made by the line below, safe to update
        else:
            self.grads[key] = old + g         # g may alias another tensor's buffer: fresh sum
            self.owned.add(key)

    def _scatter(self, key, s):
        """grads[key][s.index] += s.g, into a buffer this pass owns."""
        xp = s.g.backend
        old = self.grads.get(key)
        if old is None:
            buf = _wrap(xp.zeros(s.shape, dtype=s.g.data.dtype), xp)
        elif key in self.owned:
            buf = old
        else:
            buf = _wrap(old.data.copy(), xp)
        self.grads[key] = buf
        self.owned.add(key)
        if ops.is_basic_index(s.index):
            buf.data[s.index] += s.g.data      # a slice picks each element once
        else:
            xp.scatter_add(buf.data, s.index, s.g.data)

    def _defer(self, key, item):
        items = self.pending.setdefault(key, [])
        items.append(item)
        if len(items) >= self.BATCH:
            self.flush(key)

    SMALL = 32 * 1024         # bytes: terms this small are stacked (one call beats many)
    WIDE = 32                 # a product aᵀg with a this wide gains more from one large GEMM
                              # than stacking its factors costs

    def flush(self, key):
        """Add the deferred terms of one leaf into its gradient with as few array calls as
        make sense: small terms are stacked and summed with one matrix product (or one
        reduction); large ones are added one raw array call each (stacking would copy them)."""
        items = self.pending.pop(key)
        products = [p for p in items if type(p) is Product]
        sums = [t for t in items if type(t) is not Product]
        backend = items[0].g.backend if products else items[0].backend
        total = None
        if products:
            first = products[0]
            if len(products) > 1 and (first.g.data.nbytes < self.SMALL or first.a.shape[1] >= self.WIDE):
                a = backend.concatenate([p.a.data for p in products])
                g = backend.concatenate([p.g.data for p in products])
                total = a.T @ g
            else:
                total = products[0].a.data.T @ products[0].g.data
                for p in products[1:]:
                    total += p.a.data.T @ p.g.data
        if sums:
            shape = key.data.shape
            if len(sums) > 1 and sums[0].data.nbytes < self.SMALL:
                stacked = backend.concatenate([t.data if t.data.ndim == len(shape) + 1 else  # (B, *shape)
                                               t.data.reshape((-1,) + shape) for t in sums])
                part = backend.sum(stacked, axis=0)
            else:
                part = backend.sum(sums[0].data.reshape((-1,) + shape), axis=0)
                for t in sums[1:]:
                    part += backend.sum(t.data.reshape((-1,) + shape), axis=0)
            total = part if total is None else total + part
        self._accumulate_fresh(key, _wrap(total, backend))

    def _accumulate_fresh(self, key, total):
        if key not in self.grads:
            self.owned.add(key)               # a new buffer: later terms may add into it
        self.accumulate(key, total)

    def flush_all(self):
        for key in list(self.pending):
            self.flush(key)

    def visit(self, node, g, needed):
        """Send the cotangent ``g`` of ``node``'s output to each of its inputs."""
        if node.retained is not None:
            t = node.retained()
            if t is not None:
                t.grad = g if t.grad is None else t.grad + g
        op, shapes, params = node.op, node.shapes, node.params
        out = None
        if op.saves_out:                      # the output, rebuilt around its saved array
            out = _wrap(node.out_data, g.backend)
            if not self.immediate:
                out.requires_grad, out._node = True, node
        inputs = node.inputs if op.saves_inputs else [Shape.of(s) for s in shapes]
        if self.immediate and op.saves_inputs:  # intermediate values as constants
            inputs = [x if x._node is None else x.detach() for x in inputs]
        sent = [] if node.taped else None
        for i, parent in enumerate(node.parents):
            if parent is None or (needed is not None and parent not in needed):
                continue
            if op.vjps is not None:             # the VJP of input i: g -> dL/d(input i)
                gx = op.vjps[i](g, out, *inputs, **params)
            else:
                gx = op.vjp_argnum(i, g, out, *inputs, **params)
            if sent is not None:
                if type(gx) in _DEFERRED:
                    gx = gx.evaluate()
                sent.append((i, gx))
            if gx.shape != shapes[i]:
                # Undo broadcasting: the one place it is done.  Into a leaf, over new leading
                # axes only, the sum is deferred and done for many terms at once.
                if (type(parent) is not Node and not self.create_graph and type(gx) not in _DEFERRED
                        and gx.shape[gx.ndim - len(shapes[i]):] == shapes[i]):
                    self._defer(parent, gx)
                    continue
                gx = ops.sum_to(gx, shapes[i])
            self.accumulate(parent, gx)
        if sent is not None:
            _record_norms(node, g, sent)


def _record_norms(node, g, sent):
    for tape, entry in node.taped:
        if tape.record_grad_norms:
            entry.grad_norm = _norm(g)
            norms = [None] * len(entry.inputs)
            for i, gx in sent:
                norms[i] = _norm(gx)
            entry.input_grad_norms = norms


from . import ops                      # noqa: E402  (ops builds on Primitive, defined above)
from .tensor import Tensor             # noqa: E402

_wrap = Tensor._wrap
