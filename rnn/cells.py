"""Recurrent cells written out from minigrad's primitives, so a recorded tape shows the real
operations.  Row-vector convention, as in the paper: a batch of states is a (B, N) matrix and
``h W`` multiplies on the right.

Every cell is called as ``new_state = cell(x_t, state)``; ``cell.initial_state(batch)`` gives the
zero state.  The LSTM's state is the pair ``(h, c)``; the others' is ``h``.

Many models at once: a cell whose parameters carry a leading model axis (``W_rec`` of shape
(S, N, N), a bias (S, 1, N); :func:`rnn.stack_models` makes one) runs S independent models in
one computation, with states (S, B, N) and inputs (S, B, n_in): the same lines, through the
engine's batched matrix product and broadcasting.  ``initial_state`` takes the model axes from
the weights.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.nn import Module, Parameter

from . import init as initializers

ACTIVATIONS = {
    "tanh": mg.tanh,
    "sigmoid": mg.sigmoid,
    "relu": mg.relu,
    "linear": lambda a: a,
}


def _param(array, name, dtype, device):
    backend = mg.get_backend(device)
    return Parameter(np.asarray(array), dtype=dtype or backend.default_float, device=device, name=name)


def _zeros_state(W, batch, hidden):
    """Zeros of shape (*model axes of the recurrent weight W, batch, hidden)."""
    return mg.zeros(W.shape[:-2] + (batch, hidden), dtype=W.dtype, device=W.device)


class RNNCell(Module):
    r"""The vanilla (Elman) cell of the paper:

        h_t = φ(h_{t-1} W_rec + x_t W_in + b)

    with φ one of tanh, sigmoid, relu, linear.  With leaky-integration units (``leak``: one
    factor a in (0, 1] per unit, or one for all):

        h_t = (1 - a) ⊙ h_{t-1} + a ⊙ φ(h_{t-1} W_rec + x_t W_in + b)

    ``init`` names a scheme of :mod:`rnn.init` (the paper's ``sigmoid``, ``basic_tanh``,
    ``smart_tanh``; ``identity``, ``orthogonal``, ``uniform``) or is a dict with ``W_in``,
    ``W_rec`` (and optionally ``b``) arrays.  ``activation`` defaults to the scheme's.  The leak
    factors are a Parameter ``leak`` with ``requires_grad`` off: not trained, but saved in the
    state dict and moved by ``to()`` with the weights.
    """

    def __init__(self, n_in: int, hidden: int, activation: str | None = None, init="uniform",
                 leak=None, bias: bool = True, seed=0, dtype=None, device=None):
        if isinstance(init, str):
            weights = initializers.recurrent_weights(init, n_in, hidden, seed=seed)
            activation = activation or initializers.ACTIVATION_OF[init]
        else:
            weights = dict(init)
            activation = activation or "tanh"
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")
        if np.shape(weights["W_in"]) != (n_in, hidden) or np.shape(weights["W_rec"]) != (hidden, hidden):
            raise ValueError(f"init arrays must have shapes W_in {(n_in, hidden)} and W_rec {(hidden, hidden)}")
        self.n_in, self.hidden, self.activation = n_in, hidden, activation
        self.phi = ACTIVATIONS[activation]
        self.W_in = _param(weights["W_in"], "W_in", dtype, device)
        self.W_rec = _param(weights["W_rec"], "W_rec", dtype, device)
        self.b = _param(weights.get("b", np.zeros(hidden)), "b", dtype, device) if bias else None
        self.leak = None
        if leak is not None:
            a = np.broadcast_to(np.asarray(leak, dtype=float), (hidden,))
            if np.any(a <= 0) or np.any(a > 1):
                raise ValueError("leak factors must lie in (0, 1]")
            # A parameter that is not trained (requires_grad off): saved with the weights, moved
            # and converted by to() like them, and an argument of a traced update.
            self.leak = Parameter(a.copy(), dtype=self.W_rec.dtype, device=device, requires_grad=False, name="leak")

    def preactivation(self, x, h):
        """a_t = h_{t-1} W_rec + x_t W_in + b."""
        a = h @ self.W_rec + x @ self.W_in
        return a if self.b is None else a + self.b

    def forward(self, x, h):
        new = self.phi(self.preactivation(x, h))
        if self.leak is not None:
            new = h + self.leak * (new - h)          # (1 - a) h + a new
        return new

    def initial_state(self, batch: int):
        return _zeros_state(self.W_rec, batch, self.hidden)


class LSTMCell(Module):
    r"""Long short-term memory (Hochreiter & Schmidhuber 1997, with a forget gate):

        [i, f, o, g] = x_t W_x + h_{t-1} W_h + b          (4 blocks of N columns)
        i, f, o = σ(i), σ(f), σ(o)                        input, forget, output gates
        g = tanh(g)                                       candidate
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)

    The state is ``(h, c)``.  ``forget_bias`` initializes the forget gate's bias (1 is the usual
    choice: remember by default).  c_t is read inside its own step (by h_t) as well as by the
    next step, which is why :func:`rnn.unroll` hands the state on through a node of its own.
    """

    state_names = ("h", "c")

    def __init__(self, n_in: int, hidden: int, forget_bias: float = 1.0, seed=0, dtype=None, device=None):
        rng = np.random.default_rng(seed)
        self.n_in, self.hidden = n_in, hidden
        b = np.zeros(4 * hidden)
        b[hidden:2 * hidden] = forget_bias
        self.W_x = _param(initializers.uniform_default((n_in, 4 * hidden), hidden, rng), "W_x", dtype, device)
        self.W_h = _param(initializers.uniform_default((hidden, 4 * hidden), hidden, rng), "W_h", dtype, device)
        self.b = _param(b, "b", dtype, device)

    def forward(self, x, state):
        h, c = state
        z = x @ self.W_x + h @ self.W_h + self.b
        i, f, o, g = mg.split(z, 4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return h, c

    def initial_state(self, batch: int):
        z = _zeros_state(self.W_h, batch, self.hidden)
        return z, z


class GRUCell(Module):
    r"""Gated recurrent unit (Cho et al. 2014):

        z = σ(x_t W_z + h_{t-1} U_z + b_z)                update gate
        r = σ(x_t W_r + h_{t-1} U_r + b_r)                reset gate
        n = tanh(x_t W_n + (r ⊙ h_{t-1}) U_n + b_n)       candidate
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
    """

    def __init__(self, n_in: int, hidden: int, seed=0, dtype=None, device=None):
        rng = np.random.default_rng(seed)
        self.n_in, self.hidden = n_in, hidden
        u = initializers.uniform_default
        for gate in "zrn":
            setattr(self, f"W_{gate}", _param(u((n_in, hidden), hidden, rng), f"W_{gate}", dtype, device))
            setattr(self, f"U_{gate}", _param(u((hidden, hidden), hidden, rng), f"U_{gate}", dtype, device))
            setattr(self, f"b_{gate}", _param(np.zeros(hidden), f"b_{gate}", dtype, device))

    def forward(self, x, h):
        z = (x @ self.W_z + h @ self.U_z + self.b_z).sigmoid()
        r = (x @ self.W_r + h @ self.U_r + self.b_r).sigmoid()
        n = (x @ self.W_n + (r * h) @ self.U_n + self.b_n).tanh()
        return n + z * (h - n)                          # = (1 - z) n + z h

    def initial_state(self, batch: int):
        return _zeros_state(self.U_z, batch, self.hidden)


CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}


class LeakyRNNCell(RNNCell):
    r"""The vanilla cell with some leaky-integration units, as the paper's music models
    (PAPER.md, "Natural tasks": "some leaky-integration units, leak factor U[0.02, 0.2]"):

        h_t = (1 - a) ⊙ h_{t-1} + a ⊙ φ(h_{t-1} W_rec + x_t W_in + b)

    A fraction ``leaky`` of the units (chosen at random) gets a factor ``a`` drawn from
    U[``leak_range``]; the others have a = 1 (plain units).  One-step Jacobian (column form):
    ``∂h_t/∂h_{t-1} = diag(1 - a) + diag(a ⊙ φ'(.)) W_recᵀ``: a leaky unit keeps (1 - a) of its
    own past whatever W_rec does, so its error signal decays like (1 - a)^k at worst.

    The factors are drawn from ``seed`` before the weights (a Generator is shared, so the same
    seed gives the same cell); they are constants, held by ``leak`` (a Parameter that is not trained).
    """

    def __init__(self, n_in: int, hidden: int, leaky: float = 0.5, leak_range=(0.02, 0.2),
                 activation: str | None = "sigmoid", init="sigmoid", bias: bool = True, seed=0,
                 dtype=None, device=None):
        if not 0 <= leaky <= 1:
            raise ValueError(f"leaky is the fraction of leaky units, in [0, 1], got {leaky}")
        lo, hi = leak_range
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"leak_range must satisfy 0 < low <= high <= 1, got {tuple(leak_range)}")
        rng = initializers._rng(seed)
        factors = np.ones(hidden)
        chosen = rng.choice(hidden, int(round(leaky * hidden)), replace=False)
        factors[chosen] = rng.uniform(lo, hi, len(chosen))
        super().__init__(n_in, hidden, activation, init=init, leak=factors, bias=bias, seed=rng,
                         dtype=dtype, device=device)
        self.leak_factors = factors
