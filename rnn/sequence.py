"""Unrolling cells over sequences, output heads, and the paper's sequence model.

Inputs are time-major: a (T, B, n_in) tensor, step ``t`` is ``inputs[t]``.  Every node recorded
while computing step ``t`` carries the mark ``step=t`` (``mg.scope``), so a Tape of the unrolled
network can be grouped by time step.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import minigrad as mg
from minigrad.nn import Module, Parameter

from . import init as initializers
from .cells import CELLS, RNNCell


def hidden_of(state):
    """The hidden vector of a state: ``h`` itself, or ``h`` of an LSTM's ``(h, c)``."""
    return state[0] if isinstance(state, (tuple, list)) else state


@dataclass
class Unrolled:
    """The result of :func:`unroll`: every state, kept for inspection.

    ``states[0]`` is the initial state, ``states[t + 1]`` the state after step ``t``; so
    ``hiddens[k]`` below is h_k in the paper's notation, h_0 the start.  ``states[k]`` (k >= 1)
    is the state s_k exactly as handed to step k + 1 (and read by the output head): the
    gradient of the loss with respect to these tensors is dE/ds_k (see :func:`unroll`).

    ``cell`` is the cell that computed the run and ``weights`` its tensors (parameters, then
    buffers) with their in-place change counts (``Tensor.version``) at that moment, so that
    :class:`rnn.JacobianChain` can refuse another cell, or this one after an optimizer step.
    A run made by hand (``Unrolled(states)``, as rnn.dynamics does) records neither.
    """

    states: list
    cell: object = field(default=None, repr=False, compare=False)
    weights: tuple = field(default=None, repr=False, compare=False)

    @property
    def hiddens(self) -> list:
        return [hidden_of(s) for s in self.states]

    @property
    def final(self):
        return self.states[-1]

    def __len__(self):
        return len(self.states) - 1


def weight_versions(cell) -> tuple:
    """``((tensor, version), ...)`` for every parameter and buffer of ``cell`` (none for a cell
    that is not a Module): what :func:`unroll` records to tell later whether they changed."""
    tensors = list(cell.parameters()) + list(cell.buffers()) if isinstance(cell, Module) else []
    return tuple((t, t.version) for t in tensors)


def _check_inputs(inputs, n_in, steps: int = 0):
    if not isinstance(inputs, mg.Tensor):
        raise TypeError(f"inputs must be a Tensor of shape (T, B, {n_in}), got {type(inputs).__name__}")
    if inputs.ndim not in (3, 4) or inputs.shape[-1] != n_in:
        raise ValueError(f"inputs must have shape (T, B, {n_in}) (time first), or (T, S, B, {n_in}) for S "
                         f"packed models, got {inputs.shape}")
    if inputs.shape[0] < steps:
        raise ValueError(f"inputs must have at least {steps} time step (T >= {steps}), got shape {inputs.shape}")


def unroll(cell, inputs, state=None, first_step: int = 0) -> Unrolled:
    r"""Run ``cell`` over ``inputs`` (T, B, n_in) from ``state`` (zeros by default).

    Time-major, as PyTorch's default ``batch_first=False``; there is no batch-first or unbatched
    (T, n_in) form.  T = 0 gives a run of no steps whose final state is the initial one
    (``torch.nn.RNN`` refuses an empty sequence).  A state carried into the next chunk of a
    truncated BPTT keeps the graph of the chunk that made it: ``.detach()`` it (both of an
    LSTM's ``(h, c)``), as in PyTorch, or the second chunk's backward raises a one-line error
    about a released graph.

    The states ``run.states[1:]`` are the hand-off points of the recurrence: s_k is what step
    k + 1 reads, and, for h_k, what the output head reads.  The gradient of a loss at them is
    therefore the total BPTT derivative with respect to the state,

        dE/ds_k = dE/ds_{k+1} ∂s_{k+1}/∂s_k + ∂E/∂s_k        (∂E/∂s_k: the head's direct read of h_k)

    the quantity the Jacobian chain and Omega are defined with.  For a state that is a tuple
    (the LSTM's ``(h, c)``), each component is handed on through ``mg.identity``, a node of its
    own that nothing inside step k reads.  Without it the gradient at the tensor c_k, which
    step k itself also reads (``h_k = o ⊙ tanh(c_k)``), would be dE/dc_k + dE/dh_k ∂h_k/∂c_k:
    the derivative with h_k a function of c_k rather than a component of the state in its own
    right, i.e. with the path c_k -> h_k inside step k added to dE/dc_k.  A
    single-tensor state (RNN, GRU) is the last value of its step, read only by step k + 1 and
    the head, so its gradient is already dE/ds_k and it is handed on as it is.

    The hand-off nodes carry the marks ``step`` (of the step that made them) and ``handoff``
    (the component's name, from ``cell.state_names`` when the cell has them); ``identity``
    does no array work.  The run records ``cell`` and the versions of its weights (see
    :class:`Unrolled`).
    """
    _check_inputs(inputs, cell.n_in)
    weights = weight_versions(cell)
    if state is None:
        state = cell.initial_state(inputs.shape[-2])
    elif isinstance(state, list):              # an LSTM's [h, c]: kept as the pair the steps make
        state = tuple(state)
    states = [state]
    for t in range(inputs.shape[0]):
        with mg.scope(step=first_step + t):
            state = cell(inputs[t], state)
        if isinstance(state, tuple):
            state = _hand_off(state, getattr(cell, "state_names", None), first_step + t)
        states.append(state)
    return Unrolled(states, cell=cell, weights=weights)


def _hand_off(state: tuple, names, step: int) -> tuple:
    """Each component of a tuple state as a node of its own (see :func:`unroll`)."""
    if names is None or len(names) != len(state):
        names = [f"s{i}" for i in range(len(state))]
    handed = []
    for name, component in zip(names, state):
        with mg.scope(step=step, handoff=name):
            handed.append(mg.identity(component))
    return tuple(handed)


HEADS = ("last_softmax", "every_softmax", "last_linear")


class Head(Module):
    """Output layer ``y = h W_out + c`` and the paper's losses (PAPER.md, "heads"):

    * ``last_softmax``:  cross-entropy of the output at the last step, mean over the batch;
    * ``every_softmax``: cross-entropy at every step, mean over steps x batch;
    * ``last_linear``:   squared error at the last step, mean over the batch.
    """

    def __init__(self, kind: str, hidden: int, n_out: int, W_out=None, c=None, dtype=None, device=None, seed=0):
        if kind not in HEADS:
            raise ValueError(f"unknown head {kind!r}: choose one of {', '.join(HEADS)}")
        self.kind = kind
        dtype = dtype or mg.get_backend(device).default_float
        W_out = initializers.uniform_default((hidden, n_out), hidden, seed) if W_out is None else W_out
        c = np.zeros(n_out) if c is None else c
        self.W_out = Parameter(np.asarray(W_out), dtype=dtype, device=device, name="W_out")
        self.c = Parameter(np.asarray(c), dtype=dtype, device=device, name="c")

    def forward(self, hiddens):
        """Outputs from the hidden states h_1..h_T (the last one only, for last-step heads)."""
        if self.kind == "every_softmax":
            return mg.stack([h @ self.W_out + self.c for h in hiddens])      # (T, B, n_out)
        return hiddens[-1] @ self.W_out + self.c                               # (B, n_out)

    def loss(self, outputs, targets):
        if self.kind == "last_linear":
            return mg.mse(outputs, targets)
        return mg.cross_entropy(outputs, targets)


class SequenceModel(Module):
    """The paper's network, optionally deep: cells stacked in ``layers``, then a head.

    ``SequenceModel(n_in, hidden, n_out, cell="rnn", init="smart_tanh", head="last_softmax")``;
    ``model(inputs)`` returns the outputs, ``model.run(inputs)`` also the unrolled states of
    every layer, ``model.loss(inputs, targets)`` the head's loss.  Inputs are (T, B, n_in) with
    T >= 1.  Unlike ``torch.nn.RNN``/``LSTM``/``GRU``, layers are stacked without dropout
    between them and run in one direction (a bidirectional encoder is :class:`rnn.Encoder`), and
    the head is part of the model.
    """

    def __init__(self, n_in: int, hidden: int, n_out: int, cell: str = "rnn", layers: int = 1,
                 head: str = "last_softmax", init: str = "smart_tanh", activation: str | None = None,
                 seed=0, dtype=None, device=None):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}: choose one of {', '.join(CELLS)}")
        if isinstance(layers, bool) or not isinstance(layers, (int, np.integer)) or layers < 1:
            raise ValueError(f"layers must be at least 1 (an integer), got {layers!r}")
        rng = np.random.default_rng(seed)
        self.layers = []
        for layer in range(layers):
            size_in = n_in if layer == 0 else hidden
            if cell == "rnn":
                c = RNNCell(size_in, hidden, activation, init=init, seed=rng, dtype=dtype, device=device)
            else:
                c = CELLS[cell](size_in, hidden, seed=rng, dtype=dtype, device=device)
            self.layers.append(c)
        W_out = None
        if cell == "rnn" and init in initializers.PAPER_INITS:
            std = {"sigmoid": 0.01, "basic_tanh": 0.1, "smart_tanh": 0.01}[init]
            W_out = initializers.normal((hidden, n_out), std, rng)
        self.head = Head(head, hidden, n_out, W_out=W_out, dtype=dtype, device=device, seed=rng)
        self.n_in = n_in

    @property
    def cell(self):
        """The first (for a one-layer model, the only) cell."""
        return self.layers[0]

    def run(self, inputs, states=None):
        """Unroll every layer from ``states`` (one start state per layer; zeros by default);
        returns ``(outputs, [Unrolled per layer])``."""
        _check_inputs(inputs, self.n_in, steps=1)
        if states is not None and len(states) != len(self.layers):
            raise ValueError(f"states must hold one start state per layer ({len(self.layers)}), got {len(states)}")
        runs, x = [], inputs
        for i, cell in enumerate(self.layers):
            run = unroll(cell, x, None if states is None else states[i])
            runs.append(run)
            if i + 1 < len(self.layers):
                x = mg.stack(run.hiddens[1:])
        return self.head(runs[-1].hiddens[1:]), runs

    def forward(self, inputs):
        return self.run(inputs)[0]

    def loss(self, inputs, targets):
        return self.head.loss(self(inputs), targets)
