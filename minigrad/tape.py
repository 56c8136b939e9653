"""The Tape: the recorded nodes, made visible.

``with mg.Tape() as tape:`` collects every node recorded inside the block, in order: the
Wengert list of :mod:`minigrad.autograd`, to print, iterate or draw.
"""
from __future__ import annotations

import math
import weakref

from .autograd import Node, Shape, _State, sum_to


class TapeEntry:
    """One recorded node as a Tape shows it: plain data that outlives the graph's release.

    ``inputs[i]`` is an ``int`` (the index of the tape entry that produced it) or the input
    Tensor itself (a leaf such as a parameter, or a constant).  ``output`` is the produced
    Tensor while it is alive.  After a backward pass that crossed this node, ``grad_norm`` is the
    norm of dL/d(output) and ``input_grad_norms[i]`` that of the gradient sent to input ``i``.
    ``versions[i]`` is the version of a leaf input when the node was recorded (None where not
    known), so that :meth:`changed` can tell a leaf changed in place since.
    """

    __slots__ = ("index", "op", "params", "marks", "inputs", "versions", "shape", "dtype", "_output",
                 "grad_norm", "input_grad_norms", "__weakref__")

    def changed(self, i: int) -> bool:
        """Whether leaf input ``i`` was changed in place since this node was recorded (an
        optimizer step, ``add_``): its values now are not the ones the node used."""
        x, v = self.inputs[i], self.versions[i] if self.versions else None
        return v is not None and not isinstance(x, (int, Shape)) and x.version != v

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
        """Called by the engine for every node recorded while this tape is active."""
        e = TapeEntry()
        e.index, e.op, e.params, e.marks = len(self.entries), node.op.name, node.params, node.marks
        e.inputs = tuple(self._index_of_node.get(x._node, x) if x._node is not None else x
                         for x in inputs)
        e.versions = tuple(x.version if x._node is None else None for x in inputs)
        e.shape, e.dtype, e._output = out.shape, out.dtype, weakref.ref(out)
        e.grad_norm = e.input_grad_norms = None
        self._index_of_node[node] = e.index
        self.entries.append(e)
        node.taped = (node.taped or []) + [(self, e)]

    def _note_grads(self, entry, g, sent):
        """Called by the backward pass at a taped node: ``g`` arrived, ``sent`` = [(i, gx)]."""
        if self.record_grad_norms:
            entry.grad_norm = _norm(g)
            norms = [None] * len(entry.inputs)
            for i, gx, shape in sent:
                norms[i] = _norm(gx, shape)
            entry.input_grad_norms = norms

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
            e.versions = None                          # recorded before this tape: not known
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


def _norm(t, shape=None) -> float:
    """||t||, of ``t`` summed to ``shape`` first when given (a broadcast input receives the sum
    of its cotangent), scaled by the largest entry so that float32 neither overflows (entries
    of 1e20) nor underflows (1e-25) in the squares; NaN and inf as they are."""
    if shape is not None:
        t = sum_to(t, shape)
    xp, a = t.backend, t._data
    if a.size == 0:
        return 0.0
    a = xp.abs(a)
    top = float(xp.to_host(xp.max(a)))
    if top == 0 or not math.isfinite(top):
        return top
    s = a / top
    return top * float(xp.to_host(xp.sqrt(xp.sum(s * s))))
