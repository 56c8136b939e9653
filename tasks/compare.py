r"""The comparison this project exists for: how far back the error signal reaches in a tanh RNN,
an LSTM, a GRU, an attention seq2seq model and a Neural Turing Machine, on one long-range task
(``minigrad compare``).

The task: the paper's temporal order (PAPER.md), length T (default 40).  Two symbols, each A or
B, sit at random places near 0.1 T and 0.5 T among distractors; the class (AA, BA, AB, BB) is
read at the last step.  Why this one: it is the paper's own long-range task; its answer depends
on inputs 16-35 steps before the end (T = 40: the symbols sit at steps k = 5-8 and 21-24), with
nothing in between worth keeping; every model can read it in its own way with the loss at one
place (the last step), so ``dE/dh_k`` against k is the reach of one error signal back through
time.  The budget is the same for all and short: with the defaults (300 updates) the attention
model and the NTM reach 100% while the tanh RNN, the LSTM and the GRU stay at chance (the LSTM
gets there with 1,500 updates; bench/RESULTS.md).  The models read it as follows:

    rnn, lstm, gru   the one-hot inputs, a softmax layer on the last state h_T
    seq2seq          the symbols as source tokens (a unidirectional GRU encoder: its only
                     paths back are its recurrence and the attention), one output token
    ntm              the one-hot inputs, the logits of the last step (LSTM controller)

What is measured, for each model, on ``probe_size`` fresh sequences, before and after training:

* ``grad``: ||dE/ds_k|| for k = 1..T, where s_k is the recurrent state after input step k (the
  state handed to step k + 1): h_k for the RNN and GRU, (h_k, c_k) for the LSTM, the encoder's
  state h_k for seq2seq (the annotation the attention reads is that same tensor), the
  controller's (h_k, c_k) for the NTM.  Measured exactly as defined: a zero tensor d_k is added
  to s_k in the forward pass, and dE/dd_k = dE/ds_k is the total derivative along every path,
  the recurrence, the attention, the memory.  E is one sequence's cross-entropy; the numbers
  are the mean over the sequences of the norm of each sequence's gradient.
* ``grad_recurrence`` (seq2seq and NTM): the same with the other paths cut (the attention reads
  detached annotations; the NTM's heads read a detached controller state, so the memory
  carries nothing back): what is left of dE/ds_k through the recurrence alone.
* ``memory_grad`` (NTM): ||dE/dM_k||, the gradient at the memory matrix after step k's write
  (Frobenius norm per sequence), the memory path itself.
* ``jacobian``: the spectral norm of the chain ds_T/ds_k = J_T ... J_{k+1} of the recurrence
  (rnn.JacobianChain: each J_i with the step's input held fixed); for seq2seq the encoder's,
  for the NTM the controller's with its read vectors held fixed.  It is the reach of the
  recurrence alone; the attention and the memory add paths it does not see.

Training: the same budget for every model: ``updates`` RMSProp updates (tasks.copy_task.RMSProp,
Graves's form) on batches of ``batch_size`` fresh sequences, the gradient's norm clipped at
``clip``; the batch of update u from the seed (seed, 0, u), shared by all models.  Accuracy
(argmax at the last step) on ``eval_size`` fresh sequences before and after.

    minigrad compare --out runs/compare                   # compare.json, gradient_paths.png
    minigrad compare --length 100 --updates 0 --out runs/untrained
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field

import numpy as np

import minigrad as mg
import rnn
from rnn import ntm as ntm_ops

from .copy_task import RMSProp
from .runfiles import check_out_folder, require, seed_value
from .synthetic import TemporalOrder
from .train import RunError

MODELS = ("rnn", "lstm", "gru", "seq2seq", "ntm")
LABELS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU", "seq2seq": "attention seq2seq", "ntm": "NTM"}
TOKEN_OFFSET = 2                     # seq2seq tokens: PAD 0, BOS 1, then the symbols / classes
TRAIN, EVAL, PROBE = 0, 1, 2          # data streams, seeded (seed, stream, ...)


# =========================================================================== the models
@dataclass
class Probe:
    """One forward pass with a zero perturbation d_k (requires grad) added to each state s_k."""

    loss: mg.Tensor                       # mean cross-entropy over the batch
    deltas: list                          # per k = 1..T: a tensor or a tuple of tensors (s_k's components)
    cell: object = None                   # the recurrence the Jacobian chain is taken of
    cell_inputs: mg.Tensor | None = None  # what that cell read at each step, (T, B, n)
    states: list = field(default_factory=list)   # s_0..s_T, as the cell hands them on
    memory_deltas: list | None = None     # NTM: d_k added to the memory after step k's write


def _probe_like(state, offset=None):
    """Perturbations shaped as a state (a tensor, or a tuple for the LSTM's (h, c)), leaves that
    require grad: zeros, or the host arrays ``offset`` (a test's central differences)."""
    def leaf(t, value):
        if value is None:
            return mg.zeros(t.shape, dtype=t.dtype, device=t.device, requires_grad=True)
        return mg.tensor(np.asarray(value), dtype=t.dtype, device=t.device, requires_grad=True)
    if isinstance(state, tuple):
        return tuple(leaf(s, None if offset is None else o) for s, o in zip(state, offset or [None] * len(state)))
    return leaf(state, offset)


def _perturb(state, delta):
    if isinstance(state, tuple):
        return tuple(s + d for s, d in zip(state, delta))
    return state + delta


class CellModel:
    """A tanh RNN (the paper's smart-tanh init), LSTM or GRU with a softmax on h_T: the paper's
    network (rnn.SequenceModel, one layer)."""

    def __init__(self, kind: str, hidden: int, seed: int, dtype=None, device=None):
        init = "smart_tanh" if kind == "rnn" else "uniform"
        self.model = rnn.SequenceModel(6, hidden, 4, cell=kind, init=init, seed=seed, dtype=dtype, device=device)

    def parameters(self):
        return self.model.parameters()

    def loss(self, x, y):
        return self.model.loss(x, y)

    def logits(self, x, y=None):
        return self.model(x)

    def probe(self, x, y, recurrence_only: bool = False, offsets=None) -> Probe:
        """The unrolled cell with d_k added to s_k (``offsets``: {("state", k): value of d_k})."""
        offsets = offsets or {}
        cell = self.model.cell
        state = cell.initial_state(x.shape[1])
        states, deltas = [state], []
        for t in range(x.shape[0]):
            with mg.scope(step=t):
                state = cell(x[t], state)
            deltas.append(_probe_like(state, offsets.get(("state", t + 1))))
            state = _perturb(state, deltas[-1])
            states.append(state)
        loss = self.model.head.loss(self.model.head([rnn.hidden_of(state)]), y)
        return Probe(loss, deltas, cell, x, states)


class AttentionModel:
    """rnn.Seq2Seq (unidirectional GRU encoder, additive attention) reading the symbols as
    tokens and writing one token, the class."""

    def __init__(self, hidden: int, seed: int, dtype=None, device=None):
        self.model = rnn.Seq2Seq(6 + TOKEN_OFFSET, 4 + TOKEN_OFFSET, embed=8, hidden=hidden, attention=hidden,
                                 cell="gru", bidirectional=False, seed=seed, dtype=dtype, device=device)

    def parameters(self):
        return self.model.parameters()

    @staticmethod
    def tokens(x, y):
        """One-hot inputs (T, B, 6) -> source tokens (T, B); classes (B,) -> BOS (1, B) and targets (1, B)."""
        xp = x.backend
        source = mg.tensor(xp.argmax(x.data, axis=-1).astype(np.int64) + TOKEN_OFFSET, device=x.device)
        bos = mg.tensor(xp.full((1, x.shape[1]), 1, dtype=np.int64), device=x.device)
        return source, bos, None if y is None else mg.reshape(y + TOKEN_OFFSET, (1, -1))

    def loss(self, x, y):
        return self.model.loss(*self.tokens(x, y))

    def logits(self, x, y=None):
        source, bos, _ = self.tokens(x, None)
        return self.model(source, bos)[0][0, :, TOKEN_OFFSET:]

    def probe(self, x, y, recurrence_only: bool = False, offsets=None) -> Probe:
        """The model's own forward pass written out (Seq2Seq.forward with a source that has no
        padding), with d_j added to each encoder state h_j."""
        offsets = offsets or {}
        source, bos, targets = self.tokens(x, y)
        encoder, decoder = self.model.encoder, self.model.decoder
        embedded = encoder.embedding(source)
        state = encoder.forward_cell.initial_state(x.shape[1])
        states, deltas = [state], []
        for j in range(source.shape[0]):
            with mg.scope(step=j, part="encoder"):
                state = encoder.forward_cell(embedded[j], state)
            deltas.append(_probe_like(state, offsets.get(("state", j + 1))))
            state = _perturb(state, deltas[-1])
            states.append(state)
        annotations = mg.stack(states[1:])
        if recurrence_only:
            annotations = annotations.detach()
        memory = decoder.attention.memory(annotations, self.model.source_mask(source))
        with mg.scope(step=source.shape[0], part="decoder"):
            logits, _, _ = decoder.step(bos[0], decoder.initial_state(state), memory)
        loss = mg.cross_entropy(logits, targets[0], ignore_index=self.model.pad)
        return Probe(loss, deltas, encoder.forward_cell, embedded.detach(), states)


class MemoryModel:
    """rnn.NTM (LSTM controller) with the logits of the last step as the class scores."""

    def __init__(self, hidden: int, seed: int, slots: int = 32, width: int = 8, dtype=None, device=None):
        self.model = rnn.NTM(6, 4, memory_slots=slots, memory_width=width, hidden=hidden, controller="lstm",
                             seed=seed, dtype=dtype, device=device)

    def parameters(self):
        return self.model.parameters()

    def logits(self, x, y=None):
        return self.model(x)[0][-1]

    def loss(self, x, y):
        return mg.cross_entropy(self.logits(x), y)

    def probe(self, x, y, recurrence_only: bool = False, perturb: bool = True, offsets=None) -> Probe:
        """NTM.step written out, with d_k added to the controller's state after step k and D_k
        to the memory after step k's write; ``recurrence_only``: the heads read a detached
        controller state.  Every node carries ``step`` and, for the drawing of the graph, the
        ``stage`` of the step it belongs to; ``perturb=False`` adds nothing (the plain NTM)."""
        m, offsets = self.model, offsets or {}
        s = m.initial_state(x.shape[1])
        states, deltas, memory_deltas, cell_inputs = [s.controller], [], [], []
        for t in range(x.shape[0]):
            with mg.scope(step=t, stage="controller"):
                controller_in = mg.concat([x[t], s.read], axis=-1)
                cell_inputs.append(controller_in.detach())
                controller = m.controller(controller_in, s.controller)
                if perturb:
                    deltas.append(_probe_like(controller, offsets.get(("state", t + 1))))
                    controller = _perturb(controller, deltas[-1])
                h = rnn.hidden_of(controller)
                raw = (h.detach() if recurrence_only else h) @ m.W_heads + m.b_heads
                read_raw, write_raw = mg.split(raw, [m.read_size, m.write_size], axis=-1)
            with mg.scope(step=t, stage="read head"):
                read_head = ntm_ops.head_parameters(read_raw, m.width, writes=False)
                reading = ntm_ops.address(s.memory, s.read_weighting, read_head)
                r = ntm_ops.read(s.memory, reading.weighting)
            with mg.scope(step=t, stage="write head, memory"):
                write_head = ntm_ops.head_parameters(write_raw, m.width, writes=True)
                writing = ntm_ops.address(s.memory, s.write_weighting, write_head)
                memory = ntm_ops.write(s.memory, writing.weighting, write_head.erase, write_head.add)
                if perturb:
                    memory_deltas.append(_probe_like(memory, offsets.get(("memory", t + 1))))
                    memory = memory + memory_deltas[-1]
            with mg.scope(step=t, stage="output"):
                logits = mg.concat([h, r], axis=-1) @ m.W_out + m.c
            s = ntm_ops.NTMState(controller, r, reading.weighting, writing.weighting, memory)
            states.append(controller)
        loss = mg.cross_entropy(logits, y) if y is not None else logits
        return Probe(loss, deltas, m.controller, mg.stack(cell_inputs), states, memory_deltas)


def build_model(kind: str, hidden: int, seed: int = 0, dtype=None, device=None):
    if kind in ("rnn", "lstm", "gru"):
        return CellModel(kind, hidden, seed, dtype, device)
    if kind == "seq2seq":
        return AttentionModel(hidden, seed, dtype, device)
    if kind == "ntm":
        return MemoryModel(hidden, seed, dtype=dtype, device=device)
    raise RunError(f"unknown model {kind!r}: choose from {', '.join(MODELS)}")


# =========================================================================== the measurements
def state_gradients(model, x, y, recurrence_only: bool = False):
    """dE/ds_k for k = 1..T as host arrays (B, S) (an LSTM's (h, c) side by side), dE/dM_k for
    the NTM as (B, N M) arrays (else None), and the probe; E the batch's mean cross-entropy."""
    probe = model.probe(x, y, recurrence_only)
    flat = [d for ds in probe.deltas for d in (ds if isinstance(ds, tuple) else (ds,))]
    wrt = flat + list(probe.memory_deltas or [])
    grads = [_zero_if_none(g, d).numpy() for g, d in zip(mg.grad(probe.loss, wrt, allow_unused=True), wrt)]
    B, i, states = x.shape[1], 0, []
    for ds in probe.deltas:
        n = len(ds) if isinstance(ds, tuple) else 1
        states.append(np.concatenate([g.reshape(B, -1) for g in grads[i:i + n]], axis=1))
        i += n
    memory = [g.reshape(B, -1) for g in grads[i:]] if probe.memory_deltas else None
    return states, memory, probe


def state_gradient_norms(model, x, y, recurrence_only: bool = False):
    """||dE_b/ds_k|| for k = 1..T per sequence b, (T, B), and for the NTM ||dE_b/dM_k|| (T, B)
    (else None), and the probe.  E_b is sequence b's cross-entropy: since E is the batch's mean,
    dE_b/ds_k[b] = B dE/ds_k[b] (the sequences of a batch do not interact)."""
    states, memory, probe = state_gradients(model, x, y, recurrence_only)
    B = x.shape[1]
    norms = np.stack([B * np.linalg.norm(g, axis=1) for g in states])
    if memory is not None:
        memory = np.stack([B * np.linalg.norm(g, axis=1) for g in memory])
    return norms, memory, probe


def _zero_if_none(g, like):
    return mg.zeros(like.shape, dtype=like.dtype, device=like.device) if g is None else g


def chain_norms(probe: Probe) -> np.ndarray:
    """Spectral norms ||ds_T/ds_k||₂ for k = 1..T per sequence, (T, B): the products
    P_k = P_{k+1} J_{k+1} (P_T = I) of the one-step Jacobians of the probe's recurrence."""
    run = rnn.Unrolled([tuple(c.detach() for c in s) if isinstance(s, tuple) else s.detach()
                        for s in probe.states])
    chain = rnn.JacobianChain(probe.cell, probe.cell_inputs, run)
    J = chain.steps.numpy()                                  # (T, B, S, S): J[i - 1] = J_i
    T, B, S = chain.T, chain.B, chain.S
    P = np.broadcast_to(np.eye(S), (B, S, S)).copy()
    out = np.empty((T, B))
    out[T - 1] = 1.0
    for k in range(T - 1, 0, -1):                            # ds_T/ds_k = ds_T/ds_{k+1} J_{k+1}
        P = P @ J[k]
        out[k - 1] = np.linalg.svd(P, compute_uv=False)[:, 0]
    return out


def accuracy(model, x, y) -> float:
    with mg.no_grad():
        predicted = model.logits(x).numpy().argmax(-1)
    return float((predicted == y.numpy()).mean())


def measure(model, x, y) -> dict:
    """Every curve of one model (means over the probe's sequences, k = 1..T)."""
    grad, memory, probe = state_gradient_norms(model, x, y)
    out = {"grad": grad.mean(1).tolist(), "jacobian": chain_norms(probe).mean(1).tolist(),
           "loss": float(probe.loss.item())}
    if isinstance(model, (AttentionModel, MemoryModel)):
        out["grad_recurrence"] = state_gradient_norms(model, x, y, recurrence_only=True)[0].mean(1).tolist()
    if memory is not None:
        out["memory_grad"] = memory.mean(1).tolist()
    return out


# =========================================================================== the run
@dataclass
class CompareConfig:
    models: list = field(default_factory=lambda: list(MODELS))
    length: int = 40
    hidden: int = 32
    updates: int = 300
    batch_size: int = 20
    lr: float = 3e-3
    clip: float = 1.0
    probe_size: int = 20
    eval_size: int = 500
    seed: int = 0
    device: str | None = None
    dtype: str | None = None

    def validate(self) -> "CompareConfig":
        unknown = [m for m in self.models if m not in MODELS]
        if unknown or not self.models:
            raise RunError(f"--models {' '.join(unknown) or '(none)'}: choose from {', '.join(MODELS)}")
        if len(set(self.models)) != len(self.models):
            raise RunError(f"--models lists a model twice: {' '.join(self.models)}")
        if self.length < TemporalOrder.min_length:
            raise RunError(f"--length must be at least {TemporalOrder.min_length} (temporal order places its "
                           f"symbols at 0.1 T and 0.5 T), got {self.length}")
        if self.updates < 0:
            raise RunError(f"--updates must be 0 (measure untrained models) or more, got {self.updates}")
        for name in ("hidden", "batch_size", "probe_size", "eval_size"):
            if getattr(self, name) < 1:
                raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "clip"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise RunError(f"--{name} must be a positive number, got {value}")
        require(self, ("seed",), seed_value, "an integer from 0 to 2^63 - 1")
        if self.dtype not in (None, "float32", "float64"):
            raise RunError(f"unknown dtype {self.dtype!r}: choose float32 or float64")
        mg.get_backend(self.device)                  # raises BackendError on an unknown device
        return self


def batch_of(config: CompareConfig, stream: int, index: int, size: int):
    task = TemporalOrder()
    backend = mg.get_backend(config.device)
    rng = backend.rng(int(np.random.SeedSequence([config.seed, stream, index]).generate_state(1)[0]))
    b = task.batch(size, config.length, rng, config.device, config.dtype)
    return b.inputs, b.targets


def train(model, config: CompareConfig, bar=None) -> list:
    """``config.updates`` updates; returns the training loss of each."""
    params = model.parameters()
    opt = RMSProp(params, lr=config.lr)
    losses = []
    for u in range(config.updates):
        x, y = batch_of(config, TRAIN, u, config.batch_size)
        loss = model.loss(x, y)
        loss.backward()
        mg.clip_grad_norm(params, config.clip)
        opt.step()
        opt.zero_grad()
        losses.append(loss.detach())
        if bar is not None:
            bar.update(1)
    return mg.stack(losses).numpy().tolist() if losses else []


def compare(config: CompareConfig, progress: bool = True) -> dict:
    """Train every model with the same budget and measure it before and after: the JSON's dict."""
    c = config.validate()
    probe_x, probe_y = batch_of(c, PROBE, 0, c.probe_size)
    eval_x, eval_y = batch_of(c, EVAL, 0, c.eval_size)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(c.models) * c.updates, unit="upd", desc="compare")
    results = {}
    try:
        for kind in c.models:
            if bar is not None:
                bar.set_description(f"compare {kind}")
            model = build_model(kind, c.hidden, c.seed, c.dtype, c.device)
            start = time.perf_counter()
            entry = {"label": LABELS[kind], "parameters": int(sum(p.numel() for p in model.parameters())),
                     "before": measure(model, probe_x, probe_y), "accuracy_before": accuracy(model, eval_x, eval_y)}
            losses = train(model, c, bar)
            entry.update(after=measure(model, probe_x, probe_y), accuracy_after=accuracy(model, eval_x, eval_y),
                         train_loss=losses, seconds=round(time.perf_counter() - start, 2))
            results[kind] = entry
    finally:
        if bar is not None:
            bar.close()
    return {"task": "temporal_order", "config": asdict(c), "k": list(range(1, c.length + 1)), "models": results}


# =========================================================================== the command line
DESCRIPTION = ("The comparison this project exists for: a tanh RNN, an LSTM, a GRU, an attention seq2seq "
               "model and a Neural Turing Machine trained with the same budget on the paper's temporal order "
               "task (length --length), then, for each, ||dE/ds_k|| against the input step k (s_k: the "
               "recurrent state; the encoder's for seq2seq, the controller's for the NTM, which also gets "
               "||dE/dM_k|| at its memory) and the norm of the Jacobian chain ||ds_T/ds_k|| of the recurrence, "
               "before and after training.  Writes --out/compare.json and --out/gradient_paths.png (one "
               "panel per model, log scale); for seq2seq and the NTM also ||dE/ds_k|| through the recurrence "
               "alone (the attention, or the heads, cut): the gap between the two is what the attention or "
               "the memory carries back.")


def add_arguments(p) -> None:
    d = CompareConfig()
    p.add_argument("--out", default="runs/compare", help="folder for compare.json and gradient_paths.png "
                   "(default runs/compare)")
    p.add_argument("--models", nargs="+", default=None, help=f"which models (default all: {' '.join(MODELS)})")
    p.add_argument("--length", type=int, default=None, help=f"sequence length T (default {d.length})")
    p.add_argument("--updates", type=int, default=None, help=f"training updates per model, the same for all "
                   f"(default {d.updates}; 0: measure untrained models only)")
    p.add_argument("--hidden", type=int, default=None, help=f"state size of every model (default {d.hidden})")
    p.add_argument("--batch-size", type=int, default=None, help=f"sequences per update (default {d.batch_size})")
    p.add_argument("--lr", type=float, default=None, help=f"RMSProp learning rate (default {d.lr:g})")
    p.add_argument("--clip", type=float, default=None, help=f"gradient norm clipped at (default {d.clip:g})")
    p.add_argument("--probe-size", type=int, default=None, help=f"sequences the gradients are measured on "
                   f"(default {d.probe_size})")
    p.add_argument("--eval-size", type=int, default=None, help=f"sequences for the accuracy (default {d.eval_size})")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the device's)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_compare(args) -> int:
    names = set(CompareConfig.__dataclass_fields__)
    config = CompareConfig(**{k: v for k, v in vars(args).items() if k in names and v is not None}).validate()
    out = check_out_folder(args.out)                 # before the run, not after it
    out.mkdir(parents=True, exist_ok=True)
    result = compare(config, progress=not args.quiet)
    (out / "compare.json").write_text(json.dumps(result, indent=1))
    from viz.gradient_paths import gradient_paths
    import matplotlib.pyplot as plt
    plt.close(gradient_paths(result, path=out / "gradient_paths.png"))
    T = config.length
    when = "after training" if config.updates else "untrained (--updates 0)"
    print(f"temporal order, T = {T}, {config.updates} updates each; ||dE/ds_k|| at k = 1 / k = T, {when}:")
    for kind, r in result["models"].items():
        g = r["after"]["grad"]
        extra = f"  memory {r['after']['memory_grad'][0]:.3g}" if "memory_grad" in r["after"] else ""
        print(f"  {r['label']:<18} accuracy {100 * r['accuracy_before']:5.1f}% -> {100 * r['accuracy_after']:5.1f}%  "
              f"grad {g[0]:.3g} / {g[-1]:.3g}  chain {r['after']['jacobian'][0]:.3g}{extra}  ({r['seconds']:.0f} s)")
    print(f"wrote {out / 'compare.json'} and {out / 'gradient_paths.png'}")
    return 0
