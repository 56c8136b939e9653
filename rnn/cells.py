"""Recurrent cells written out from minigrad's primitives, so a recorded tape shows the real
operations.  Row-vector convention, as in the paper: a batch of states is a (B, N) matrix and
``h W`` multiplies on the right.

Every cell is called as ``new_state = cell(x_t, state)``; ``cell.initial_state(batch)`` gives the
zero state, which is also what ``cell(x_t)`` starts from (as PyTorch's ``hx=None``).  The LSTM's
state is the pair ``(h, c)``; the others' is ``h``.  ``x_t`` is (B, n_in) and a state (B, N), or
without a batch axis (n_in,) and (N,).  A state is never broadcast: one of another shape than the
step's result (a (1, N) or (N,) state for B > 1 rows, an LSTM state that is not a pair) is refused
with a one-line error, as PyTorch refuses it.  An input may have fewer leading axes than the
state (one input row for every sequence).

Compared with ``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``, which compute the same functions
(the GRU: with ``reset_after=True``): weights are stored transposed under the paper's names
(``W_in`` is PyTorch's ``weight_ih.T``, ``W_rec`` its ``weight_hh.T``), each cell has one bias
where PyTorch has two (``b = bias_ih + bias_hh``), the LSTM's gate blocks are ordered
(i, f, o, g) where PyTorch's are (i, f, g, o), the GRU's default is the reset-before variant of
Cho et al. (PyTorch's is reset-after), ``activation`` (tanh, sigmoid, relu, linear) stands for
PyTorch's ``nonlinearity`` (tanh, relu), only RNNCell has ``bias=False``, and there is no
``reset_parameters``.  ``cell.load_torch(state_dict)`` loads a PyTorch cell's weights through
exactly this mapping.

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


def _check_sizes(who: str, n_in, hidden) -> None:
    for name, value, low in (("n_in", n_in, 0), ("hidden", hidden, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{who}: {name} must be an integer >= {low}, got {value!r}")


def _zeros_state(W, batch, hidden):
    """Zeros of shape (*model axes of the recurrent weight W, batch, hidden)."""
    return mg.zeros(W.shape[:-2] + (batch, hidden), dtype=W.dtype, device=W.device)


def _start(cell, x, W, state):
    """Check the input's feature size; ``state``, or zeros shaped like the step's result."""
    if not isinstance(x, mg.Tensor) or x.ndim < 1 or x.shape[-1] != cell.n_in:
        shape = x.shape if isinstance(x, mg.Tensor) else type(x).__name__
        raise ValueError(f"{type(cell).__name__}: the input must be a Tensor (B, {cell.n_in}) or ({cell.n_in},) "
                         f"(n_in = {cell.n_in} features in the last axis), got {shape}")
    if state is None:
        try:
            rows = np.broadcast_shapes(x.shape[:-2], W.shape[:-2]) + x.shape[-2:-1] if x.ndim > 1 else W.shape[:-2]
        except ValueError:
            raise ValueError(f"{type(cell).__name__}: an input of shape {x.shape} does not fit the model axes "
                             f"{W.shape[:-2]} of these packed weights: give (S, B, {cell.n_in}) or "
                             f"(B, {cell.n_in}) inputs") from None
        zeros = [mg.zeros(rows + (cell.hidden,), dtype=W.dtype, device=W.device)
                 for _ in range(2 if isinstance(cell, LSTMCell) else 1)]          # an LSTM's h and c: two tensors
        return tuple(zeros) if isinstance(cell, LSTMCell) else zeros[0]
    parts = state if isinstance(cell, LSTMCell) else (state,)
    if isinstance(cell, LSTMCell) and not (isinstance(state, (tuple, list)) and len(state) == 2):
        raise TypeError(f"LSTMCell: the state must be a pair (h, c) of (B, {cell.hidden}) tensors, "
                        f"got {type(state).__name__}")
    for part in parts:
        if not isinstance(part, mg.Tensor) or part.ndim < 1 or part.shape[-1] != cell.hidden:
            shape = part.shape if isinstance(part, mg.Tensor) else type(part).__name__
            raise ValueError(f"{type(cell).__name__}: a state must be a Tensor (B, {cell.hidden}) or "
                             f"({cell.hidden},) (hidden = {cell.hidden} units in the last axis), got {shape}")
    return state


def _same_shape(cell, state, new):
    """Refuse a state that the step broadcast to another shape (PyTorch refuses it too)."""
    for old, out in zip(state if isinstance(state, (tuple, list)) else (state,),
                        new if isinstance(new, tuple) else (new,)):
        if old.shape != out.shape:
            raise ValueError(f"{type(cell).__name__}: the state has shape {old.shape} but the step makes "
                             f"{out.shape} from the input: give one state row per input row (states are "
                             "not broadcast)")
    return new


def _host(value) -> np.ndarray:
    """A float64 host array from an array, a minigrad tensor or a torch tensor (detached first)."""
    if isinstance(value, mg.Tensor):
        return value.numpy().astype(np.float64)
    if hasattr(value, "detach"):                                  # torch: a Parameter requires grad
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


def _torch_arrays(cell, state: dict, gates: int) -> dict:
    """PyTorch's cell weights as NumPy arrays, checked: weight_ih (gates*N, n_in), weight_hh
    (gates*N, N), bias_ih and bias_hh (gates*N,) (zeros where absent: ``bias=False``)."""
    N = cell.hidden
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    extra = sorted(set(state) - set(names))
    if extra or "weight_ih" not in state or "weight_hh" not in state:
        raise ValueError(f"{type(cell).__name__}.load_torch: expected the keys of a PyTorch cell's state_dict "
                         f"{', '.join(names)} (for a layer of nn.RNN/LSTM/GRU drop the '_l0' suffix), "
                         f"got {sorted(state)}")
    a = {k: _host(state[k]) if k in state else np.zeros(gates * N) for k in names}
    want = {"weight_ih": (gates * N, cell.n_in), "weight_hh": (gates * N, N),
            "bias_ih": (gates * N,), "bias_hh": (gates * N,)}
    wrong = [f"{k} {a[k].shape} (want {want[k]})" for k in names if a[k].shape != want[k]]
    if wrong:
        raise ValueError(f"{type(cell).__name__}.load_torch: wrong shapes: {'; '.join(wrong)}")
    return a


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
        _check_sizes(type(self).__name__, n_in, hidden)
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
        if bias and "b" in weights and np.shape(weights["b"]) != (hidden,):
            raise ValueError(f"init array b must have shape {(hidden,)}, got {np.shape(weights['b'])}")
        self.n_in, self.hidden, self.activation = n_in, hidden, activation
        self.phi = ACTIVATIONS[activation]
        self.W_in = _param(weights["W_in"], "W_in", dtype, device)
        self.W_rec = _param(weights["W_rec"], "W_rec", dtype, device)
        self.b = _param(weights.get("b", np.zeros(hidden)), "b", dtype, device) if bias else None
        self.leak = None
        if leak is not None:
            if np.ndim(leak) > 1 or np.size(leak) not in (1, hidden):
                raise ValueError(f"leak must be one factor or {hidden} (one per unit), got shape {np.shape(leak)}")
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

    def forward(self, x, h=None):
        h = _start(self, x, self.W_rec, h)
        new = self.phi(self.preactivation(x, h))
        if self.leak is not None:
            new = h + self.leak * (new - h)          # (1 - a) h + a new
        return _same_shape(self, h, new)

    def initial_state(self, batch: int):
        return _zeros_state(self.W_rec, batch, self.hidden)

    def load_torch(self, state: dict) -> "RNNCell":
        """Load a ``torch.nn.RNNCell``'s state dict (arrays or tensors; a layer of
        ``nn.RNN`` with its '_l0' suffix dropped): ``W_in = weight_ih.T``, ``W_rec = weight_hh.T``,
        ``b = bias_ih + bias_hh``.  PyTorch's nonlinearity ("tanh" or "relu") is not part of its
        state dict: make this cell with the same ``activation``."""
        a = _torch_arrays(self, state, 1)
        if self.b is None and (a["bias_ih"].any() or a["bias_hh"].any()):
            raise ValueError("RNNCell.load_torch: this cell has no bias (bias=False) but the state dict has one")
        ours = {"W_in": a["weight_ih"].T, "W_rec": a["weight_hh"].T}
        if self.b is not None:
            ours["b"] = a["bias_ih"] + a["bias_hh"]
        self.load_state_dict(ours, strict=False)
        return self


class LSTMCell(Module):
    r"""Long short-term memory (Hochreiter & Schmidhuber 1997, with a forget gate):

        [i, f, o, g] = x_t W_x + h_{t-1} W_h + b          (4 blocks of N columns)
        i, f, o = σ(i), σ(f), σ(o)                        input, forget, output gates
        g = tanh(g)                                       candidate
        c_t = f ⊙ c_{t-1} + i ⊙ g
        h_t = o ⊙ tanh(c_t)

    The state is ``(h, c)``, and the step returns the new ``(h, c)`` (as ``torch.nn.LSTMCell``).
    ``forget_bias`` initializes the forget gate's bias (1 is the usual choice: remember by
    default; PyTorch starts it at a random value like the other biases).  The gate blocks are
    ordered (i, f, o, g), PyTorch's (i, f, g, o): :meth:`load_torch` reorders them.  c_t is read
    inside its own step (by h_t) as well as by the next step, which is why :func:`rnn.unroll`
    hands the state on through a node of its own.
    """

    state_names = ("h", "c")

    def __init__(self, n_in: int, hidden: int, forget_bias: float = 1.0, seed=0, dtype=None, device=None):
        _check_sizes("LSTMCell", n_in, hidden)
        rng = np.random.default_rng(seed)
        self.n_in, self.hidden = n_in, hidden
        b = np.zeros(4 * hidden)
        b[hidden:2 * hidden] = forget_bias
        self.W_x = _param(initializers.uniform_default((n_in, 4 * hidden), hidden, rng), "W_x", dtype, device)
        self.W_h = _param(initializers.uniform_default((hidden, 4 * hidden), hidden, rng), "W_h", dtype, device)
        self.b = _param(b, "b", dtype, device)

    def forward(self, x, state=None):
        state = _start(self, x, self.W_h, state)
        h, c = state
        z = x @ self.W_x + h @ self.W_h + self.b
        i, f, o, g = mg.split(z, 4, axis=-1)
        c = f.sigmoid() * c + i.sigmoid() * g.tanh()
        h = o.sigmoid() * c.tanh()
        return _same_shape(self, state, (h, c))

    def initial_state(self, batch: int):
        """Zeros ``(h, c)``: two tensors, so that writing into one in place leaves the other."""
        return _zeros_state(self.W_h, batch, self.hidden), _zeros_state(self.W_h, batch, self.hidden)

    def load_torch(self, state: dict) -> "LSTMCell":
        """Load a ``torch.nn.LSTMCell``'s state dict (arrays or tensors; a layer of
        ``nn.LSTM`` with its '_l0' suffix dropped).  PyTorch's rows are the gate blocks
        (i, f, g, o), ours the columns (i, f, o, g):

            W_x = weight_ih[P].T,   W_h = weight_hh[P].T,   b = (bias_ih + bias_hh)[P]

        with P the rows of blocks i, f, o, g in that order."""
        a = _torch_arrays(self, state, 4)
        N = self.hidden
        P = np.r_[0:2 * N, 3 * N:4 * N, 2 * N:3 * N]          # i, f, o, g out of PyTorch's i, f, g, o
        self.load_state_dict({"W_x": a["weight_ih"][P].T, "W_h": a["weight_hh"][P].T,
                              "b": (a["bias_ih"] + a["bias_hh"])[P]})
        return self


class GRUCell(Module):
    r"""Gated recurrent unit (Cho et al. 2014):

        z = σ(x_t W_z + h_{t-1} U_z + b_z)                update gate
        r = σ(x_t W_r + h_{t-1} U_r + b_r)                reset gate
        n = tanh(x_t W_n + (r ⊙ h_{t-1}) U_n + b_n)       candidate
        h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}

    This is Cho et al.'s variant: the reset gate acts on h_{t-1} before the product with U_n.
    ``torch.nn.GRUCell`` (and cuDNN, Keras' ``reset_after=True``) apply it after the product,
    with a bias of its own inside: ``reset_after=True`` makes this cell that variant,

        n = tanh(x_t W_n + b_n + r ⊙ (h_{t-1} U_n + b_hn))

    with the extra Parameter ``b_hn`` (PyTorch's ``bias_hh`` of the n block).  The two variants
    are different functions (no choice of weights turns one into the other); only the
    ``reset_after`` cell can load a PyTorch GRU (:meth:`load_torch`).
    """

    def __init__(self, n_in: int, hidden: int, seed=0, dtype=None, device=None, reset_after: bool = False):
        _check_sizes("GRUCell", n_in, hidden)
        rng = np.random.default_rng(seed)
        self.n_in, self.hidden, self.reset_after = n_in, hidden, bool(reset_after)
        u = initializers.uniform_default
        for gate in "zrn":
            setattr(self, f"W_{gate}", _param(u((n_in, hidden), hidden, rng), f"W_{gate}", dtype, device))
            setattr(self, f"U_{gate}", _param(u((hidden, hidden), hidden, rng), f"U_{gate}", dtype, device))
            setattr(self, f"b_{gate}", _param(np.zeros(hidden), f"b_{gate}", dtype, device))
        self.b_hn = _param(np.zeros(hidden), "b_hn", dtype, device) if self.reset_after else None

    def gates(self, x, h):
        """The update gate z, the reset gate r and the candidate n of one step, in this cell's
        variant (for inspection: the step is ``h_t = n + z ⊙ (h_{t-1} - n)``)."""
        z = (x @ self.W_z + h @ self.U_z + self.b_z).sigmoid()
        r = (x @ self.W_r + h @ self.U_r + self.b_r).sigmoid()
        if self.reset_after:
            n = (x @ self.W_n + self.b_n + r * (h @ self.U_n + self.b_hn)).tanh()
        else:
            n = (x @ self.W_n + (r * h) @ self.U_n + self.b_n).tanh()
        return z, r, n

    def forward(self, x, h=None):
        h = _start(self, x, self.U_z, h)
        z, _, n = self.gates(x, h)
        return _same_shape(self, h, n + z * (h - n))     # = (1 - z) n + z h

    def initial_state(self, batch: int):
        return _zeros_state(self.U_z, batch, self.hidden)

    def load_torch(self, state: dict) -> "GRUCell":
        """Load a ``torch.nn.GRUCell``'s state dict (arrays or tensors; a layer of ``nn.GRU``
        with its '_l0' suffix dropped) into a ``reset_after=True`` cell.  PyTorch's row blocks
        are (r, z, n):  ``W_g = weight_ih[g].T``, ``U_g = weight_hh[g].T``,
        ``b_r = bias_ih[r] + bias_hh[r]``, ``b_z`` likewise, ``b_n = bias_ih[n]``, ``b_hn = bias_hh[n]``."""
        if not self.reset_after:
            raise ValueError("GRUCell.load_torch: PyTorch's GRU applies the reset gate after U_n (reset_after=True); "
                             "this cell is the reset-before variant: make it with GRUCell(..., reset_after=True)")
        a = _torch_arrays(self, state, 3)
        N = self.hidden
        block = {"r": slice(0, N), "z": slice(N, 2 * N), "n": slice(2 * N, 3 * N)}
        ours = {}
        for g, rows in block.items():
            ours[f"W_{g}"], ours[f"U_{g}"] = a["weight_ih"][rows].T, a["weight_hh"][rows].T
            ours[f"b_{g}"] = a["bias_ih"][rows] + (a["bias_hh"][rows] if g != "n" else 0)
        ours["b_hn"] = a["bias_hh"][block["n"]]
        self.load_state_dict(ours)
        return self


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
        _check_sizes("LeakyRNNCell", n_in, hidden)
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

    @property
    def leak_factors(self) -> np.ndarray:
        """The factors a (host float64 copy of the Parameter ``leak``): those of a loaded state dict
        after ``load_state_dict``, in the cell's dtype after ``to()``."""
        return self.leak.numpy().astype(np.float64)
