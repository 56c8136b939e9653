r"""Sequence-to-sequence translation with additive attention (Bahdanau, Cho & Bengio 2015,
"Neural machine translation by jointly learning to align and translate"), built bottom-up from
minigrad's public operations and the cells of :mod:`rnn.cells`.

Why in ``rnn/``: the model is recurrent cells plus three small layers (an embedding table, the
attention, an output layer), written from the same primitives with the same conventions as
the rest of the package (time-major sequences, row vectors, ``mg.scope`` marks on every step).

The pieces, each one a Module::

    Embedding           tokens -> vectors:           E[y]
    Encoder             source -> annotations h_j:   a GRU or LSTM, optionally bidirectional
    AdditiveAttention   (s_{i-1}, h_1..h_S) -> context c_i and weights a_i1..a_iS   (the default)
    DotProductAttention the same, scored by a dot product of projections (``score="dot"``), divided
                        by √size (``score="scaled_dot"``)
    Decoder             one output step:             s_i = GRU([E y_{i-1}; c_i], s_{i-1})
    Seq2Seq             all of it: teacher forcing (``forward``) and greedy decoding (``greedy``)

Shapes.  Token sequences are time-major integer tensors, source ``(S, B)`` and target
``(T, B)``; a padded source comes with a boolean mask ``(S, B)``, True at real tokens.
Attention weights are batch-major ``(B, S)`` per step, and ``(T, B, S)`` for a whole output, so
``weights[:, b, :]`` is the (output step x source position) heat map of example ``b``.

Padding.  A batch holds sources of different lengths, padded at the end.  Padding must not
change anything: the encoder keeps its state unchanged at padded positions (so the backward
direction starts at each sequence's own last token, and the forward direction's final state is
the one after its last token), and the attention gives padded positions a score of -inf, hence
a weight of exactly 0.  A source with no real token at all (a column of the batch that is all
padding) gets attention weights all 0 and a zero context (see :func:`masked_softmax`).

Graph marks.  One timeline for the drawing of a recorded tape (``viz.draw`` groups nodes by
their ``step`` mark): the encoder reads source position j at ``step=j`` (both directions, with
``part="encoder"`` and ``direction``), the decoder makes output i at ``step=S + i`` (with
``part="decoder"`` and ``output=i``), so the clusters read left to right as the computation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import minigrad as mg
from minigrad.nn import Module

from . import init as initializers
from .cells import GRUCell, LSTMCell, _param
from .sequence import hidden_of

ENCODER_CELLS = {"gru": GRUCell, "lstm": LSTMCell}


class Embedding(Module):
    r"""A table of learned vectors, one row per token:  ``embed(y) = E[y]``.

    E has shape (vocabulary, size).  Looking rows up is indexing, so its gradient is the
    adjoint of indexing: the cotangent of each looked-up row is added into row y of dE (a token
    that occurs twice gets both contributions).  Mathematically this is ``onehot(y) E``, without
    building the one-hot matrix.
    """

    def __init__(self, vocabulary: int, size: int, seed=0, dtype=None, device=None):
        self.vocabulary, self.size = vocabulary, size
        self.E = _param(initializers.uniform_default((vocabulary, size), size, seed), "E", dtype, device)

    def forward(self, tokens):
        """``tokens``: an integer tensor of any shape; returns shape ``tokens.shape + (size,)``."""
        return self.E[tokens]


@dataclass
class Encoded:
    """What the encoder hands to the decoder.

    ``annotations`` (S, B, size): h_j for every source position j (for a bidirectional encoder
    the concatenation [h→_j; h←_j], each direction's state after reading x_j);
    ``summary`` (B, size): the forward direction's state after its last real token (and the
    backward direction's after position 0), from which the decoder's first state is made;
    ``mask`` (S, B): True at real tokens."""

    annotations: mg.Tensor
    summary: mg.Tensor
    mask: mg.Tensor


class Encoder(Module):
    r"""A recurrent encoder over embedded source tokens.

    Forward direction, for j = 1..S:   h→_j = cell(E x_j, h→_{j-1}),   h→_0 = 0
    Backward direction (``bidirectional=True``), for j = S..1:
                                       h←_j = cell'(E x_j, h←_{j+1}),  h←_{S+1} = 0
    Annotations: h_j = h→_j, or [h→_j; h←_j] when bidirectional, so that h_j summarizes the
    words on both sides of position j (Bahdanau et al., section 3.2).

    At a padded position the state is carried over unchanged,
    ``h_j = where(mask_j, cell(E x_j, h_{j-1}), h_{j-1})``, so padding never enters a state:
    the backward direction starts from zeros at each sequence's own last token.

    ``cell`` is "gru" or "lstm" (an LSTM's state is (h, c); the annotations are its h).
    """

    def __init__(self, vocabulary: int, embed: int, hidden: int, cell: str = "gru",
                 bidirectional: bool = False, seed=0, dtype=None, device=None):
        if cell not in ENCODER_CELLS:
            raise ValueError(f"unknown encoder cell {cell!r}: choose one of {', '.join(ENCODER_CELLS)}")
        rng = np.random.default_rng(seed)
        Cell = ENCODER_CELLS[cell]
        self.cell_kind, self.bidirectional, self.hidden = cell, bidirectional, hidden
        self.embedding = Embedding(vocabulary, embed, seed=rng, dtype=dtype, device=device)
        self.forward_cell = Cell(embed, hidden, seed=rng, dtype=dtype, device=device)
        self.backward_cell = Cell(embed, hidden, seed=rng, dtype=dtype, device=device) if bidirectional else None
        self.size = 2 * hidden if bidirectional else hidden

    def _run(self, cell, x, mask, positions, direction: str):
        """One direction over the positions in the given order; returns (h_j per position, the
        last state's h)."""
        state = cell.initial_state(x.shape[1])
        hiddens = [None] * x.shape[0]
        for j in positions:
            with mg.scope(step=j, part="encoder", direction=direction):
                new = cell(x[j], state)
                keep = mask[j][:, None]                       # (B, 1): True at a real token
                if isinstance(state, tuple):                   # LSTM: (h, c), each carried over
                    state = tuple(mg.where(keep, n, o) for n, o in zip(new, state))
                else:
                    state = mg.where(keep, new, state)
            hiddens[j] = hidden_of(state)
        return hiddens, hidden_of(state)

    def forward(self, source, mask) -> Encoded:
        """``source`` (S, B) integer tokens, ``mask`` (S, B) boolean (True: a real token)."""
        x = self.embedding(source)                                    # (S, B, embed)
        S = x.shape[0]
        ahead, last = self._run(self.forward_cell, x, mask, range(S), "forward")
        if not self.bidirectional:
            return Encoded(mg.stack(ahead), last, mask)
        behind, first = self._run(self.backward_cell, x, mask, range(S - 1, -1, -1), "backward")
        annotations = mg.stack([mg.concat([f, b], axis=-1) for f, b in zip(ahead, behind)])
        return Encoded(annotations, mg.concat([last, first], axis=-1), mask)


@dataclass
class Memory:
    """The source side of attention, prepared once per source sentence (not once per output
    step): ``values`` (B, S, n_h), the annotations batch-major; ``keys`` (B, S, n_a) = h_j W_h;
    ``padding`` (B, S), True at padded positions; ``empty`` (B, 1), True for a source with no
    real token (made from ``padding`` when not given)."""

    values: mg.Tensor
    keys: mg.Tensor
    padding: mg.Tensor
    empty: mg.Tensor | None = None

    def __post_init__(self):
        if self.empty is None:
            self.empty = self.padding.all(axis=-1, keepdims=True)


def masked_softmax(scores, padding, empty=None):
    r"""The attention weights: the softmax over the source positions of the scores, padded
    positions excluded, and all 0 for a source with no real token.

        a_j = [j real] exp(e_j) / Σ_k [k real] exp(e_k)      when some position k is real,
        a_j = 0                                               when none is (an empty source).

    ``scores`` (B, S), ``padding`` (B, S) True at padded positions, ``empty`` (B, 1) True for a
    row that is all padding (``padding.all(axis=-1, keepdims=True)`` when not given).

    Why zeros, and not an error, for an empty source: the softmax of a row that is all -inf is
    0/0 = NaN (as ``torch.nn.MultiheadAttention`` gives for a fully masked key row), and one NaN
    context spreads through the shared weights' gradients into every other example.  Refusing
    such a batch with an error would need its mask read back to the host at every forward pass
    (a synchronization on a GPU, which the engine avoids on its hot path), so instead the empty
    row gets weights 0, hence a zero context c = Σ_j a_j h_j = 0, the value of an empty sum: what
    ``torch.nn.functional.scaled_dot_product_attention`` gives for a fully masked row (PyTorch's
    "safe softmax").  The encoder, for its part, keeps such a column's states at 0 throughout.
    It is computed with array operations only: a padded position of a non-empty row gets the
    score -inf (so exp gives exactly 0), an empty row gets the finite scores 0 (a harmless
    uniform softmax, no 0/0) whose result is then replaced by zeros.  The gradient is finite
    everywhere: the replaced row passes back exactly 0 to its scores (never NaN·0), and the
    other rows are computed exactly as before, bit for bit.
    """
    if empty is None:
        empty = padding.all(axis=-1, keepdims=True)
    scores = mg.masked_fill(scores, padding & ~empty, -np.inf)   # padding of a real row: e_j = -inf
    scores = mg.masked_fill(scores, empty, 0.0)                  # an empty row: finite, no 0/0
    return mg.masked_fill(mg.softmax(scores, axis=-1), empty, 0.0)   # ... and its weights all 0


class AdditiveAttention(Module):
    r"""Additive ("concat", Bahdanau) attention of a query s over annotations h_1..h_S:

        e_j = vᵀ tanh(W_s s + W_h h_j)          score of source position j      (here: row vectors,
                                                  s W_s + h_j W_h)
        a_j = exp(e_j) / Σ_k exp(e_k)           softmax over the source positions
        c   = Σ_j a_j h_j                        context vector

    The weights a_j are an alignment: how much output step i looks at source position j.  A
    padded position gets e_j = -inf, so exp(e_j) = 0 and a_j is exactly 0 (and so is its
    gradient); the other weights still sum to 1.  A source with no real token gets weights all
    0 and a zero context (:func:`masked_softmax`).

    ``h_j W_h`` does not depend on the query, so :meth:`memory` computes it once for all output
    steps; :meth:`forward` then costs one (B, n_s) x (n_s, n_a) product per step.
    """

    def __init__(self, query_size: int, key_size: int, size: int, seed=0, dtype=None, device=None):
        rng = np.random.default_rng(seed)
        u = initializers.uniform_default
        self.query_size, self.key_size, self.size = query_size, key_size, size
        self.W_s = _param(u((query_size, size), size, rng), "W_s", dtype, device)
        self.W_h = _param(u((key_size, size), size, rng), "W_h", dtype, device)
        self.v = _param(u((size,), size, rng), "v", dtype, device)

    def memory(self, annotations, mask) -> Memory:
        """Annotations (S, B, n_h) and mask (S, B), time-major, made batch-major with their keys."""
        values = mg.swapaxes(annotations, 0, 1)                        # (B, S, n_h)
        padding = mg.swapaxes(mask, 0, 1) == False  # noqa: E712  (elementwise: not a real token)
        return Memory(values, values @ self.W_h, padding)             # and empty, from padding

    def forward(self, query, memory: Memory):
        """``query`` (B, n_s); returns (context (B, n_h), weights (B, S))."""
        hidden = mg.tanh(memory.keys + (query @ self.W_s)[:, None, :])  # (B, S, n_a)
        scores = hidden @ self.v                                         # (B, S): e_j
        weights = masked_softmax(scores, memory.padding, memory.empty)   # a_j over j; padding: 0
        context = (weights[:, None, :] @ memory.values)[:, 0, :]         # Σ_j a_j h_j, (B, n_h)
        return context, weights


class DotProductAttention(Module):
    r"""Dot-product attention of a query s over annotations h_1..h_S: the query and the keys
    projected, then scaled, as in Vaswani et al. 2017, "Attention is all you need" (one head; the
    values are the annotations themselves).  ``q · k_j = s (W_q W_kᵀ) h_jᵀ`` is Luong, Pham &
    Manning's (2015) "general" score ``s W_a h_jᵀ`` with ``W_a = W_q W_kᵀ`` of rank at most ``size``:

        q = s W_q,   k_j = h_j W_k                  query and keys, projected to ``size``
        e_j = q · k_j / √size                        (``scaled=True``; q · k_j when False)
        a_j = exp(e_j) / Σ_k exp(e_k)               softmax over the source positions
        c   = Σ_j a_j h_j                            context vector

    Why the √size: with q and k_j of independent entries of variance 1, q · k_j has variance
    ``size``, so unscaled scores grow with the width, the softmax saturates on one position and
    its gradient (a_j (δ_jk - a_k)) vanishes; divided by √size the scores keep variance 1.
    Padding is masked as in :class:`AdditiveAttention`: e_j = -inf, a_j exactly 0 (and an empty
    source gets weights all 0, a zero context: :func:`masked_softmax`).  The
    projections make the query and the annotations comparable when their sizes differ (a
    bidirectional encoder's 2 n_h against the decoder's n_s).
    """

    def __init__(self, query_size: int, key_size: int, size: int, scaled: bool = True, seed=0, dtype=None,
                 device=None):
        rng = np.random.default_rng(seed)
        u = initializers.uniform_default
        self.query_size, self.key_size, self.size, self.scaled = query_size, key_size, size, scaled
        self.W_q = _param(u((query_size, size), query_size, rng), "W_q", dtype, device)
        self.W_k = _param(u((key_size, size), key_size, rng), "W_k", dtype, device)

    def memory(self, annotations, mask) -> Memory:
        """Annotations (S, B, n_h) and mask (S, B), time-major, made batch-major with their keys h_j W_k."""
        values = mg.swapaxes(annotations, 0, 1)                        # (B, S, n_h)
        padding = mg.swapaxes(mask, 0, 1) == False  # noqa: E712  (elementwise: not a real token)
        return Memory(values, values @ self.W_k, padding)             # and empty, from padding

    def forward(self, query, memory: Memory):
        """``query`` (B, n_s); returns (context (B, n_h), weights (B, S))."""
        q = query @ self.W_q                                             # (B, size)
        scores = mg.einsum("bsa,ba->bs", memory.keys, q)                 # q · k_j, (B, S)
        if self.scaled:
            scores = scores / float(np.sqrt(self.size))
        weights = masked_softmax(scores, memory.padding, memory.empty)   # a_j over j; padding: 0
        context = (weights[:, None, :] @ memory.values)[:, 0, :]         # Σ_j a_j h_j, (B, n_h)
        return context, weights


SCORES = ("additive", "dot", "scaled_dot")


def _check_score(score: str) -> None:
    if score not in SCORES:
        raise ValueError(f"unknown attention score {score!r}: choose one of {', '.join(SCORES)}")


def make_attention(score: str, query_size: int, key_size: int, size: int, seed=0, dtype=None, device=None):
    """The attention of a ``score``: "additive" (Bahdanau), "dot" or "scaled_dot" (dot products)."""
    if score == "additive":
        return AdditiveAttention(query_size, key_size, size, seed=seed, dtype=dtype, device=device)
    if score in ("dot", "scaled_dot"):
        return DotProductAttention(query_size, key_size, size, scaled=score == "scaled_dot", seed=seed,
                                   dtype=dtype, device=device)
    _check_score(score)


class Decoder(Module):
    r"""One output step of the attention decoder (Bahdanau et al., appendix A.2, with a GRU):

        c_i = attention(s_{i-1}, h_1..h_S)                    context from the previous state
        s_i = GRU([E y_{i-1}; c_i], s_{i-1})                  new state
        o_i = [s_i; c_i] W_out + b_out                        logits over the target vocabulary

    ``y_{i-1}`` is the previous target token (the true one under teacher forcing, the model's
    own choice when decoding).  The first state is made from the encoder's summary:
    ``s_0 = tanh(summary W_init + b_init)``.  (The paper's output layer is a maxout over
    [s_i; E y_{i-1}; c_i]; a linear layer over [s_i; c_i] is enough for the tasks here.)
    ``score`` chooses the attention: "additive" (the paper's), "dot" or "scaled_dot"
    (:class:`DotProductAttention`).
    """

    def __init__(self, vocabulary: int, embed: int, hidden: int, annotation_size: int, attention_size: int,
                 seed=0, dtype=None, device=None, score: str = "additive"):
        _check_score(score)                     # before any weight is drawn
        rng = np.random.default_rng(seed)
        u = initializers.uniform_default
        self.vocabulary, self.hidden = vocabulary, hidden
        self.embedding = Embedding(vocabulary, embed, seed=rng, dtype=dtype, device=device)
        self.attention = make_attention(score, hidden, annotation_size, attention_size, seed=rng, dtype=dtype,
                                        device=device)
        self.cell = GRUCell(embed + annotation_size, hidden, seed=rng, dtype=dtype, device=device)
        self.W_init = _param(u((annotation_size, hidden), hidden, rng), "W_init", dtype, device)
        self.b_init = _param(np.zeros(hidden), "b_init", dtype, device)
        self.W_out = _param(u((hidden + annotation_size, vocabulary), hidden, rng), "W_out", dtype, device)
        self.b_out = _param(np.zeros(vocabulary), "b_out", dtype, device)

    def initial_state(self, summary):
        """s_0 = tanh(summary W_init + b_init), (B, hidden)."""
        return mg.tanh(summary @ self.W_init + self.b_init)

    def step(self, previous, state, memory: Memory):
        """``previous`` (B,) tokens y_{i-1}, ``state`` s_{i-1} (B, hidden); returns
        (logits o_i (B, vocabulary), s_i, weights a_i (B, S))."""
        context, weights = self.attention(state, memory)
        state = self.cell(mg.concat([self.embedding(previous), context], axis=-1), state)
        logits = mg.concat([state, context], axis=-1) @ self.W_out + self.b_out
        return logits, state, weights

    forward = step


def _check_tokens(name: str, tokens, batch: int | None = None) -> None:
    """``tokens`` must be a time-major (steps, batch) integer tensor with at least one step (only
    its shape and dtype are looked at: nothing is read back from the device)."""
    shape, dtype = getattr(tokens, "shape", None), getattr(tokens, "dtype", None)
    if shape is None or len(shape) != 2 or not np.issubdtype(dtype, np.integer):
        raise ValueError(f"Seq2Seq: {name} must be a 2-D integer tensor of tokens, time-major (steps, batch); "
                         f"got shape {shape} of {dtype}")
    if shape[0] < 1 or shape[1] < 1:
        padding = " (a source of padding only is allowed)" if name == "source" else ""
        raise ValueError(f"Seq2Seq: {name} of shape {tuple(shape)} has no {'steps' if shape[0] < 1 else 'batch'}: "
                         f"give at least one{padding}")
    if batch is not None and shape[1] != batch:
        raise ValueError(f"Seq2Seq: {name} has a batch of {shape[1]}, the source one of {batch}")


class Seq2Seq(Module):
    r"""Encoder, attention and decoder together.

    Training (teacher forcing): the decoder is fed the true previous token at every step,
    ``y_in = [BOS, y_1, ..., y_{T-1}]``, and the loss is the cross-entropy of o_i against y_i,
    padding ignored.  Decoding (``greedy``): the decoder is fed its own most likely token,
    ``y_i = argmax o_i``, starting from BOS.

    ``Seq2Seq(source_vocabulary, target_vocabulary, embed=16, hidden=32, attention=32,
    cell="gru", bidirectional=True, pad=0, bos=1, score="additive")``; the source's padding
    token is ``pad``; ``score`` is the attention's: "additive", "dot" or "scaled_dot".
    """

    def __init__(self, source_vocabulary: int, target_vocabulary: int, embed: int = 16, hidden: int = 32,
                 attention: int = 32, cell: str = "gru", bidirectional: bool = False, pad: int = 0, bos: int = 1,
                 seed=0, dtype=None, device=None, score: str = "additive"):
        _check_score(score)                     # before any weight is drawn
        rng = np.random.default_rng(seed)
        self.pad, self.bos = pad, bos
        self.encoder = Encoder(source_vocabulary, embed, hidden, cell, bidirectional, seed=rng, dtype=dtype,
                               device=device)
        self.decoder = Decoder(target_vocabulary, embed, hidden, self.encoder.size, attention, seed=rng,
                               dtype=dtype, device=device, score=score)

    def source_mask(self, source):
        """True at real tokens, False at padding: (S, B) boolean, on the device."""
        return source != self.pad

    def start(self, source):
        """Encode the source; returns (memory for the attention, s_0)."""
        encoded = self.encoder(source, self.source_mask(source))
        memory = self.decoder.attention.memory(encoded.annotations, encoded.mask)
        return memory, self.decoder.initial_state(encoded.summary)

    def forward(self, source, target_in):
        """Teacher forcing: ``source`` (S, B), ``target_in`` (T, B) = BOS then the targets but the
        last.  Returns (logits (T, B, V), attention weights (T, B, S))."""
        _check_tokens("source", source)
        _check_tokens("target_in", target_in, source.shape[1])
        memory, state = self.start(source)
        S = source.shape[0]
        logits, weights = [], []
        for i in range(target_in.shape[0]):
            with mg.scope(step=S + i, part="decoder", output=i):
                o, state, a = self.decoder.step(target_in[i], state, memory)
            logits.append(o)
            weights.append(a)
        return mg.stack(logits), mg.stack(weights)

    def loss(self, source, target_in, targets):
        """Mean cross-entropy of the teacher-forced logits over the target tokens that are not
        padding (``targets`` (T, B), padding = ``pad``)."""
        logits, _ = self(source, target_in)
        return mg.cross_entropy(logits, targets, ignore_index=self.pad)

    def greedy(self, source, max_len: int):
        """Greedy decoding for ``max_len`` steps: returns (tokens (max_len, B) int64, weights
        (max_len, B, S)).  Every sequence runs all steps (no value is read back from the device
        to see whether all have ended); what follows a sequence's first EOS is to be ignored."""
        _check_tokens("source", source)
        if isinstance(max_len, bool) or not isinstance(max_len, (int, np.integer)) or max_len < 1:
            raise ValueError(f"Seq2Seq.greedy: max_len must be a whole number of steps, at least 1, got {max_len!r}")
        with mg.no_grad():
            memory, state = self.start(source)
            S, B = source.shape
            token = mg.full((B,), self.bos, dtype=np.int64, device=source.device)
            tokens, weights = [], []
            for i in range(max_len):
                with mg.scope(step=S + i, part="decoder", output=i):
                    o, state, a = self.decoder.step(token, state, memory)
                    token = mg.argmax(o, axis=-1)
                tokens.append(token)
                weights.append(a)
        return mg.stack(tokens), mg.stack(weights)
