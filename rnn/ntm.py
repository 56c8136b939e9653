r"""The Neural Turing Machine (Graves, Wayne & Danihelka 2014, "Neural Turing Machines"),
written bottom-up from minigrad's public API.

A controller network (an LSTM, or a feed-forward layer) reads an input and the vectors it read
from memory at the previous step; its output sets the parameters of a read head and a write
head; the heads address a memory of N slots of width M by content and by location, read from
it and change it (erase, then add); the output layer reads the controller's output and the new
read vector.

Shapes, batch first inside a step (time first across steps, as in :mod:`rnn.sequence`):

    memory      (B, N, M)       N slots ("locations") of M numbers, one memory per sequence
    weighting   (B, N)          a distribution over the slots (each row sums to 1)
    key, erase, add  (B, M)     one vector of the memory's width per sequence
    beta, g, gamma   (B, 1)     one number per sequence, broadcast over the slots
    shift       (B, 3)          a distribution over the shifts (-1, 0, +1)

The addressing pipeline of one head (the paper's section 3.3, Figure 2):

    previous weighting w_{t-1}, memory M_{t-1}, head parameters (k, beta, g, s, gamma)
      -> content weighting    w^c = softmax(beta K[k, M_i])          (3.3.1, eq. 5)
      -> interpolation        w^g = g w^c + (1 - g) w_{t-1}           (3.3.2, eq. 7)
      -> convolutional shift  w~_i = Σ_j w^g_j s_{i-j mod N}          (eq. 8)
      -> sharpening           w_i = w~_i^gamma / Σ_j w~_j^gamma       (eq. 9)

Each stage is a function of its own below, so it can be tested (and its gradient checked)
alone.  Every node of step t is recorded inside ``mg.scope(step=t)``, so ``viz.draw`` groups
the unrolled machine by time step.

Choices the paper leaves open, made here (and why):

* The initial memory is a small constant, 1e-6 in every cell (Collier & Beel 2018,
  "Implementing Neural Turing Machines", found a constant initialization learns fastest and
  most reliably; 0 would make every cosine similarity 0/0).
* The initial weightings of both heads are one-hot on slot 0, so the first write has a definite
  place and shifting from it walks through the memory in order.  The initial read vector is
  what the read head reads there, r_0 = M_0[0].
* The key is an unconstrained linear output (cosine similarity ignores its length); the add
  vector goes through tanh (memory contents stay in [-1, 1] however often a slot is written);
  the erase vector through a sigmoid (a fraction in (0, 1)).
* One read head and one write head, the configuration of the paper's copy task.  In each step
  the read head reads the memory as it was before this step's write.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import minigrad as mg
from minigrad.nn import Module, Parameter

from . import init as initializers
from .cells import LSTMCell
from .sequence import hidden_of

COSINE_EPS = 1e-8        # keeps K[k, M_i] finite when a key or a slot is (nearly) 0
SHARPEN_EPS = 1e-16      # keeps log(w~) finite where a weight has underflowed to 0
MEMORY_INIT = 1e-6       # the constant every memory cell starts at
SHIFTS = (-1, 0, 1)      # the allowed shifts; s[:, k] is the probability of SHIFTS[k]
CONTROLLERS = ("lstm", "feedforward")


# =========================================================================== addressing
def cosine_similarity(key, memory, eps: float = COSINE_EPS):
    r"""K[k, M_i] = k · M_i / (|k| |M_i| + eps) for every slot i  (the paper's eq. 6).

    ``key`` (B, M), ``memory`` (B, N, M) -> (B, N), each entry in [-1, 1].  The dot products of
    the key with all N slots at once are the batched product ``einsum("bnm,bm->bn")``.  ``eps``
    only matters when a norm is (nearly) 0; ``mg.norm``'s gradient there is 0, not NaN.
    """
    dots = mg.einsum("bnm,bm->bn", memory, key)                  # k · M_i
    key_norm = mg.norm(key, axis=-1, keepdims=True)               # |k|, (B, 1)
    slot_norms = mg.norm(memory, axis=-1)                         # |M_i|, (B, N)
    return dots / (key_norm * slot_norms + eps)


def content_weighting(key, beta, memory):
    r"""w^c_i = exp(beta K[k, M_i]) / Σ_j exp(beta K[k, M_j])   (eq. 5).

    The key strength beta >= 0 sharpens (beta large: all weight on the most similar slot) or
    flattens (beta = 0: uniform) the focus.  ``beta`` (B, 1)."""
    return mg.softmax(beta * cosine_similarity(key, memory), axis=-1)


def interpolate(w_content, w_previous, g):
    r"""w^g = g w^c + (1 - g) w_{t-1}   (eq. 7), gate g in (0, 1), (B, 1).

    g = 1 takes the content weighting; g = 0 ignores the content and keeps last step's focus
    (the start of pure location-based addressing: iterate from where the head was).  A convex
    combination of two distributions is a distribution."""
    return g * w_content + (1 - g) * w_previous


def shift(w, s):
    r"""The circular convolution w~_i = Σ_j w_j s_{(i - j) mod N}   (eq. 8),
    with s a distribution over the shifts (-1, 0, +1), ``s[:, k]`` for ``SHIFTS[k]``.

    With only three shifts, the sum has three terms: the weighting rolled by each shift,
    weighted by that shift's probability.  ``mg.roll(w, +1)[i] = w[i - 1]``: rolling by +1
    moves the weight of slot i to slot i + 1 (the last slot wraps round to slot 0), so

        w~ = s_{-1} roll(w, -1) + s_0 w + s_{+1} roll(w, +1).

    A mixture of permutations of a distribution is a distribution.  A shift distribution that
    is not sharp (s = (0.1, 0.8, 0.1)) blurs the weighting: sharpening undoes that.
    """
    total = None
    for k, offset in enumerate(SHIFTS):
        term = s[:, k:k + 1] * mg.roll(w, offset, dims=-1)
        total = term if total is None else total + term
    return total


def sharpen(w, gamma, eps: float = SHARPEN_EPS):
    r"""w_i = w~_i^gamma / Σ_j w~_j^gamma   (eq. 9), gamma >= 1, (B, 1).

    Written as softmax(gamma log w~): the same numbers, since exp(gamma log w~_i) = w~_i^gamma,
    but the largest power is divided out before exponentiating, so no power under- or
    overflows for large gamma, and the derivative with respect to gamma (w~^gamma log w~)
    never meets 0 · log 0.  ``eps`` (1e-16) keeps log finite where a weight has underflowed
    to exactly 0.  gamma = 1 gives w~ back (up to eps)."""
    return mg.softmax(gamma * mg.log(w + eps), axis=-1)


@dataclass
class Addressing:
    """The weightings a head made on its way from the previous one (kept for inspection and
    the figures): content, gated (interpolated), shifted, and the final sharpened one."""

    content: mg.Tensor
    gated: mg.Tensor
    shifted: mg.Tensor
    weighting: mg.Tensor


def address(memory, w_previous, head: "HeadParameters") -> Addressing:
    """One head's addressing, the four stages in the paper's order (its Figure 2)."""
    w_c = content_weighting(head.key, head.beta, memory)
    w_g = interpolate(w_c, w_previous, head.g)
    w_s = shift(w_g, head.shift)
    return Addressing(w_c, w_g, w_s, sharpen(w_s, head.gamma))


# =========================================================================== reading and writing
def read(memory, w):
    r"""r = Σ_i w_i M_i   (eq. 2): the weighted mean of the slots, (B, M)."""
    return mg.einsum("bn,bnm->bm", w, memory)


def write(memory, w, erase, add):
    r"""Erase, then add   (eqs. 3 and 4):

        M~_i = M_i ⊙ (1 - w_i e)        the fraction w_i e of slot i is forgotten
        M_i' = M~_i + w_i a             and w_i a added

    i.e. M' = M ⊙ (1 - w e^T) + w a^T, with w e^T the (N, M) outer product per sequence.
    Erase e in (0, 1)^M; where w_i = 1 and e = 1 slot i is cleared before a is written."""
    B, N, M = memory.shape
    w_column = mg.reshape(w, (B, N, 1))                           # w as a column, per sequence
    erase_row = mg.reshape(erase, (B, 1, M))
    add_row = mg.reshape(add, (B, 1, M))
    return memory * (1 - w_column * erase_row) + w_column * add_row


# =========================================================================== head parameters
@dataclass
class HeadParameters:
    """What the controller emits for one head, each squashed into its allowed range:
    key k (any), key strength beta = softplus(.) >= 0, gate g = sigmoid(.) in (0, 1), shift
    s = softmax(.) over (-1, 0, +1), sharpening gamma = 1 + softplus(.) >= 1; for a write head
    also the erase e = sigmoid(.) and the add a = tanh(.)."""

    key: mg.Tensor
    beta: mg.Tensor
    g: mg.Tensor
    shift: mg.Tensor
    gamma: mg.Tensor
    erase: mg.Tensor | None = None
    add: mg.Tensor | None = None


def head_sizes(width: int, writes: bool) -> list[int]:
    """Sizes of the raw pieces of one head: key (M), beta, g, shift (3), gamma, [erase (M), add (M)]."""
    sizes = [width, 1, 1, len(SHIFTS), 1]
    return sizes + [width, width] if writes else sizes


def head_parameters(raw, width: int, writes: bool) -> HeadParameters:
    """Cut the controller's raw output for one head, ``raw`` (B, head_sizes), into its pieces
    and squash each (see :class:`HeadParameters`)."""
    pieces = mg.split(raw, head_sizes(width, writes), axis=-1)
    key, beta, g, s, gamma = pieces[:5]
    head = HeadParameters(key=key, beta=mg.softplus(beta), g=mg.sigmoid(g),
                          shift=mg.softmax(s, axis=-1), gamma=1 + mg.softplus(gamma))
    if writes:
        head.erase, head.add = mg.sigmoid(pieces[5]), mg.tanh(pieces[6])
    return head


# =========================================================================== the controller
class FeedForwardController(Module):
    r"""The feed-forward controller: h_t = tanh(x_t W + b), no recurrence of its own (all the
    machine remembers is then in the memory and the read vector).  Called like a cell,
    ``h = controller(x, state)``, the state ignored, so the NTM treats both controllers alike."""

    def __init__(self, n_in: int, hidden: int, seed=0, dtype=None, device=None):
        dtype = dtype or mg.get_backend(device).default_float
        self.n_in, self.hidden = n_in, hidden
        self.W = Parameter(initializers.uniform_default((n_in, hidden), n_in, seed), dtype=dtype, device=device, name="W")
        self.b = Parameter(np.zeros(hidden), dtype=dtype, device=device, name="b")

    def forward(self, x, state=None):
        return mg.tanh(x @ self.W + self.b)

    def initial_state(self, batch: int):
        return mg.zeros((batch, self.hidden), dtype=self.W.dtype, device=self.W.device)


# =========================================================================== the machine
@dataclass
class NTMState:
    """What one step hands to the next: the controller's state, the read vector r_{t-1}, both
    heads' weightings w_{t-1} and the memory M_{t-1}."""

    controller: object
    read: mg.Tensor
    read_weighting: mg.Tensor
    write_weighting: mg.Tensor
    memory: mg.Tensor


@dataclass
class NTMRecord:
    """Per step t (lists of length T): the read head's and the write head's final weightings
    (B, N) and their addressing stages, and the read vectors (B, M); the last state."""

    read_weightings: list = field(default_factory=list)
    write_weightings: list = field(default_factory=list)
    read_addressing: list = field(default_factory=list)
    write_addressing: list = field(default_factory=list)
    reads: list = field(default_factory=list)
    final: NTMState | None = None

    def weightings(self):
        """``(write, read)`` as host arrays (T, B, N), for the figures."""
        return (mg.stack(self.write_weightings).numpy(), mg.stack(self.read_weightings).numpy())


class NTM(Module):
    r"""A Neural Turing Machine with one read and one write head.

    Per step t, from the state (controller state, r_{t-1}, w^r_{t-1}, w^w_{t-1}, M_{t-1}):

        controller:  h_t = controller([x_t; r_{t-1}], its state)
        heads:       [read head's raw | write head's raw] = h_t W_heads + b_heads
        read:        w^r_t = address(M_{t-1}, w^r_{t-1}, read head);   r_t = read(M_{t-1}, w^r_t)
        write:       w^w_t = address(M_{t-1}, w^w_{t-1}, write head);  M_t = write(M_{t-1}, w^w_t, e_t, a_t)
        output:      y_t = σ([h_t; r_t] W_out + c)        (the logits are returned; σ by the loss)

    ``forward(inputs)`` takes (T, B, n_in) and returns ``(logits (T, B, n_out), NTMRecord)``;
    ``probabilities(inputs)`` gives σ(logits).  ``controller`` is "lstm" (an
    :class:`rnn.LSTMCell`) or "feedforward".
    """

    def __init__(self, n_in: int, n_out: int, memory_slots: int = 128, memory_width: int = 20,
                 hidden: int = 100, controller: str = "lstm", seed=0, dtype=None, device=None):
        if controller not in CONTROLLERS:
            raise ValueError(f"unknown controller {controller!r}: choose one of {', '.join(CONTROLLERS)}")
        for name, value in (("n_in", n_in), ("n_out", n_out), ("memory_slots", memory_slots),
                            ("memory_width", memory_width), ("hidden", hidden)):
            if value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        dtype = dtype or mg.get_backend(device).default_float
        rng = np.random.default_rng(seed)
        self.n_in, self.n_out, self.hidden = n_in, n_out, hidden
        self.slots, self.width, self.controller_kind = memory_slots, memory_width, controller
        kind = LSTMCell if controller == "lstm" else FeedForwardController
        self.controller = kind(n_in + memory_width, hidden, seed=rng, dtype=dtype, device=device)
        self.read_size, self.write_size = sum(head_sizes(memory_width, False)), sum(head_sizes(memory_width, True))
        heads = self.read_size + self.write_size

        def param(array, name):
            return Parameter(np.asarray(array), dtype=dtype, device=device, name=name)

        self.W_heads = param(initializers.uniform_default((hidden, heads), hidden, rng), "W_heads")
        self.b_heads = param(np.zeros(heads), "b_heads")
        self.W_out = param(initializers.uniform_default((hidden + memory_width, n_out), hidden + memory_width, rng), "W_out")
        self.c = param(np.zeros(n_out), "c")

    @property
    def dtype(self):
        return self.W_heads.dtype

    @property
    def device(self):
        return self.W_heads.device

    def initial_memory(self, batch: int):
        """(B, N, M), every cell MEMORY_INIT (a constant, not learned: see the module docstring)."""
        return mg.full((batch, self.slots, self.width), MEMORY_INIT, dtype=self.dtype, device=self.device)

    def initial_state(self, batch: int, memory=None) -> NTMState:
        """Weightings one-hot on slot 0, r_0 = M_0[0], the controller's zero state."""
        memory = self.initial_memory(batch) if memory is None else memory
        one_hot = np.zeros((batch, self.slots))
        one_hot[:, 0] = 1
        w0 = mg.tensor(one_hot, dtype=self.dtype, device=self.device)
        return NTMState(self.controller.initial_state(batch), read(memory, w0), w0, w0, memory)

    def step(self, x, state: NTMState):
        """One time step: ``(logits (B, n_out), new state, read addressing, write addressing)``."""
        controller_state = self.controller(mg.concat([x, state.read], axis=-1), state.controller)
        h = hidden_of(controller_state)
        raw = h @ self.W_heads + self.b_heads
        read_raw, write_raw = mg.split(raw, [self.read_size, self.write_size], axis=-1)
        read_head = head_parameters(read_raw, self.width, writes=False)
        write_head = head_parameters(write_raw, self.width, writes=True)

        reading = address(state.memory, state.read_weighting, read_head)
        r = read(state.memory, reading.weighting)
        writing = address(state.memory, state.write_weighting, write_head)
        memory = write(state.memory, writing.weighting, write_head.erase, write_head.add)

        logits = mg.concat([h, r], axis=-1) @ self.W_out + self.c
        return logits, NTMState(controller_state, r, reading.weighting, writing.weighting, memory), reading, writing

    def forward(self, inputs, memory=None):
        """Run over ``inputs`` (T, B, n_in) from :meth:`initial_state` (``memory``: another
        initial memory (B, N, M), e.g. for a gradient check); returns ``(logits, record)``."""
        if not isinstance(inputs, mg.Tensor) or inputs.ndim != 3 or inputs.shape[-1] != self.n_in:
            shape = inputs.shape if isinstance(inputs, mg.Tensor) else type(inputs).__name__
            raise ValueError(f"NTM inputs must be a Tensor of shape (T, B, {self.n_in}), got {shape}")
        if inputs.shape[0] < 1 or inputs.shape[1] < 1:
            raise ValueError(f"NTM inputs (T, B, {self.n_in}) need at least one step and one sequence, "
                             f"got shape {inputs.shape}")
        wanted = (inputs.shape[1], self.slots, self.width)
        if memory is not None and tuple(getattr(memory, "shape", ())) != wanted:
            raise ValueError(f"NTM initial memory must have shape (B, N, M) = {wanted}, "
                             f"got {getattr(memory, 'shape', type(memory).__name__)}")
        state = self.initial_state(inputs.shape[1], memory)
        record, outputs = NTMRecord(), []
        for t in range(inputs.shape[0]):
            with mg.scope(step=t):
                logits, state, reading, writing = self.step(inputs[t], state)
            outputs.append(logits)
            record.read_weightings.append(reading.weighting)
            record.write_weightings.append(writing.weighting)
            record.read_addressing.append(reading)
            record.write_addressing.append(writing)
            record.reads.append(state.read)
        record.final = state
        return mg.stack(outputs), record

    def probabilities(self, inputs):
        """σ(logits) (T, B, n_out): the machine's outputs as bit probabilities."""
        return mg.sigmoid(self(inputs)[0])
