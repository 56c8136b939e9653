"""The paper's natural tasks (Table 1): the model, the costs and the training loop shared by
``minigrad music`` (:mod:`tasks.music`, polyphonic music) and ``minigrad charlm``
(:mod:`tasks.charlm`, character-level language modelling).

The model (PAPER.md, "Natural tasks") is the paper's sigmoid RNN with a readout at every step,

    h_t = (1 - a) ⊙ h_{t-1} + a ⊙ σ(h_{t-1} W_rec + x_t W_in + b),      y_t = h_t W_out + c

with leak factors a = 1 except on the leaky units (music: a fraction of them, a ~ U[0.02, 0.2];
:class:`rnn.cells.LeakyRNNCell`), and one of two costs:

* ``piano_roll``: the 88 keys of the next step are independent Bernoulli variables with
  p = σ(y_t); the negative log-likelihood of a step is the binary cross-entropy summed over the
  keys, ``Σ_k [max(y, 0) - y z + log(1 + e^-|y|)]``, averaged over the real (not padded) steps
  of the minibatch: the cost averaged over the sequence, as the paper's music runs;
* ``chars_summed``: softmax over the characters, cross-entropy summed over the 200 steps of a
  segment and averaged over the minibatch (the paper's summed cost with mu = 45).  Bits per
  character = the mean cross-entropy per character / ln 2.

One update is the synthetic tasks' (:mod:`tasks.train`): the cost's BPTT gradient, with R
``alpha * dOmega/dW_rec`` added (Omega in closed form for plain units, in the generic form for
a leaky cell), with C the global norm clipped at mu with the NaN fallback, then plain SGD.
Those steps are :class:`tasks.train.Trainer`'s own ``gradients`` and ``_clip`` (borrowed, not
copied: they read only ``params``, ``cell``, ``closed_form`` and the model's ``run`` /
``head.loss``), traced with ``mg.trace``.

The hidden state carried across segments (character-level) is the model's non-trainable
``h0`` (B, N): a segment starts from it and the traced update writes the segment's last state
back into it (in place, after the backward pass), so the next segment continues where this one
stopped; it is zeroed at the start of every pass over the text, and saved in checkpoints with
the weights.  Music starts every minibatch from zeros.

Schedules (PAPER.md, "Training"): every ``eval_every`` updates the validation set is evaluated
and, with ``halve_lr``, the learning rate halved when that error went up; alpha follows
``constant``, ``inverse_time`` (alpha_0 / t, t counting ``alpha_every`` updates: per epoch) or
``inverse_linear`` (alpha_0 / (1 + t / beta), per update; beta = 2800 for characters).

A run folder holds ``config.json``, ``log.jsonl`` (a row per evaluation: training cost of the
period, validation error, lr, alpha, gradient norm, clippings, fallbacks, Omega), ``checkpoint.npz``
(weights, carried state, run state), ``best.npz`` (the best validation error so far),
``grad_norms.f32`` / ``grad_norms.png`` and, at the end, ``result.json`` (train / valid / test of
the best checkpoint: early stopping on the validation set).  Ctrl-C or SIGTERM finishes the
update under way, writes the checkpoint and stops ("interrupted"); ``--resume`` continues.
"""
from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

import minigrad as mg
import rnn
from minigrad.nn import Module, Parameter
from rnn import regularizer
from rnn.cells import LeakyRNNCell, RNNCell

from .runfiles import (RunFiles, check_out_folder, count, natural, part, positive, read_run_checkpoint,
                       refuse_resume_with_force, require)
from .train import METHODS, REGULARIZED, SCHEDULES, STOP_SIGNALS, RunError, Trainer, keep_freed_memory

LN2 = math.log(2.0)

# The paper's Table 1 (train / test): negative log-likelihood per step for music, bits per
# character for Penn Treebank.
PAPER_TABLE1 = {
    "Piano-midi.de": {"msgd": (6.87, 7.56), "msgd-c": (6.81, 7.53), "msgd-cr": (7.01, 7.46)},
    "Nottingham": {"msgd": (3.67, 3.80), "msgd-c": (3.21, 3.48), "msgd-cr": (2.95, 3.36)},
    "MuseData": {"msgd": (8.25, 7.11), "msgd-c": (6.54, 7.00), "msgd-cr": (6.43, 6.97)},
    "PTB next char": {"msgd": (1.46, 1.50), "msgd-c": (1.34, 1.42), "msgd-cr": (1.36, 1.41)},
    "PTB 5th char ahead": {"msgd": None, "msgd-c": (3.76, 3.89), "msgd-cr": (3.70, 3.74)},   # MSGD: not reported
}


# ----------------------------------------------------------------------------- costs
def piano_roll_nll(logits, targets):
    """Negative log-likelihood per step of binary targets (T, B, K) under p = σ(logits):
    Σ over the K keys of the binary cross-entropy, averaged over the real steps.  A padded step
    has every target -1: it costs nothing and is not counted."""
    mask = (targets[..., :1] >= 0).astype(logits.dtype)                  # (T, B, 1)
    per = mg.binary_cross_entropy_with_logits(logits, mg.maximum(targets, 0), reduction="none")
    return (per * mask).sum() / mask.sum()


def chars_summed_nll(logits, targets):
    """Cross-entropy of integer targets (T, B) under softmax(logits) (T, B, V), summed over
    the T steps and averaged over the B sequences (nats per segment)."""
    return mg.cross_entropy(logits, targets, reduction="sum") / targets.shape[1]


COSTS = {"piano_roll": piano_roll_nll, "chars_summed": chars_summed_nll}


# ----------------------------------------------------------------------------- the model
class Readout(Module):
    """``y_t = h_t W_out + c`` at every step, and the task's cost (``loss``)."""

    def __init__(self, W_out, cost: str, bias: bool = True, dtype=None, device=None):
        if cost not in COSTS:
            raise ValueError(f"unknown cost {cost!r}: choose one of {', '.join(COSTS)}")
        dtype = dtype or mg.get_backend(device).default_float
        self.cost = cost
        self.W_out = Parameter(np.asarray(W_out), dtype=dtype, device=device, name="W_out")
        self.c = Parameter(np.zeros(np.shape(W_out)[1]), dtype=dtype, device=device, name="c") if bias else None

    def forward(self, hiddens):
        y = mg.stack(list(hiddens)) @ self.W_out                           # (T, B, n_out)
        return y if self.c is None else y + self.c

    def loss(self, outputs, targets):
        return COSTS[self.cost](outputs, targets)


class NaturalModel(Module):
    """The sigmoid RNN of the natural tasks: a cell (leaky units if ``leaky`` > 0), a readout at
    every step, and ``h0``, the (batch_size, hidden) state a training segment starts from (not
    trained: ``trainable()`` leaves it out).  All weights ~ N(0, ``std``), biases 0."""

    def __init__(self, n_in: int, hidden: int, n_out: int, cost: str, batch_size: int, leaky: float = 0.0,
                 leak_range=(0.02, 0.2), std: float = 0.1, bias: bool = True, seed=0, dtype=None, device=None):
        rng = np.random.default_rng(seed)
        weights = {"W_in": rnn.init.normal((n_in, hidden), std, rng),
                   "W_rec": rnn.init.normal((hidden, hidden), std, rng), "b": np.zeros(hidden)}
        W_out = rnn.init.normal((hidden, n_out), std, rng)
        if leaky > 0:
            self.cell = LeakyRNNCell(n_in, hidden, leaky, leak_range, activation="sigmoid", init=weights,
                                     bias=bias, seed=rng, dtype=dtype, device=device)
        else:
            self.cell = RNNCell(n_in, hidden, "sigmoid", init=weights, bias=bias, dtype=dtype, device=device)
        self.head = Readout(W_out, cost, bias=bias, dtype=self.cell.W_rec.dtype, device=device)
        self.h0 = Parameter(np.zeros((batch_size, hidden)), dtype=self.cell.W_rec.dtype, device=device,
                            requires_grad=False, name="h0")
        self.n_in, self.hidden, self._final = n_in, hidden, None

    def trainable(self) -> list:
        return [p for p in self.parameters() if p.requires_grad]

    def run(self, inputs, state=None):
        """``(outputs (T, B, n_out), [Unrolled])`` from ``state`` (default: ``h0``)."""
        run = rnn.unroll(self.cell, inputs, self.h0 if state is None else state)
        self._final = run.final
        return self.head(run.hiddens[1:]), [run]

    def forward(self, inputs, state=None):
        return self.run(inputs, state)[0]

    def carry_over(self):
        """Write the last state of the latest ``run`` into ``h0`` (in place: a traced update
        replays it)."""
        self.h0.data[...] = self._final.data
        self._final = None


# ----------------------------------------------------------------------------- the run
@dataclass
class NaturalConfig:
    task: str = "music"             # "music" or "charlm"
    method: str = "msgd-cr"
    hidden: int = 100
    leaky: float = 0.0              # fraction of leaky units
    std: float = 0.1
    bias: bool = True
    lr: float = 0.1
    clip: float = 8.0
    alpha: float = 0.5
    alpha_schedule: str = "constant"
    alpha_beta: float = 2800.0
    alpha_every: int = 1
    alpha_delay: int = 0
    batch_size: int = 20
    segment: int = 200              # charlm: steps per segment
    ahead: int = 1                  # charlm: predict the character this many steps ahead (1: the next)
    eval_every: int = 100           # updates between validation evaluations
    eval_limit: int = 0             # at most this many units (characters) per periodic evaluation (0: all)
    max_updates: int = 1000
    max_minutes: float = 0.0        # stop after this much training time (0: no limit)
    halve_lr: bool = True
    data: str = ""                  # what data set: the loader's description
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    trace: bool = True

    CHANGEABLE = ("max_updates", "max_minutes", "device", "trace")

    def validate(self) -> "NaturalConfig":
        if self.method not in METHODS:
            raise RunError(f"unknown method {self.method!r}: choose one of {', '.join(METHODS)}")
        if self.alpha_schedule not in SCHEDULES:
            raise RunError(f"unknown alpha schedule {self.alpha_schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.dtype not in (None, "float32", "float64"):
            raise RunError(f"unknown dtype {self.dtype!r}: choose float32 or float64")
        require(self, ("hidden", "batch_size", "segment", "ahead", "eval_every", "max_updates", "alpha_every"),
                count, "a positive integer")
        require(self, ("lr", "clip", "std", "alpha_beta"), positive, "a positive number")
        if not (self.alpha >= 0 and math.isfinite(self.alpha)):
            raise RunError(f"--alpha must be 0 or a positive number, got {self.alpha}")
        if not 0 <= self.leaky <= 1:
            raise RunError(f"--leaky is a fraction of the hidden units, in [0, 1], got {self.leaky}")
        require(self, ("seed", "eval_limit", "alpha_delay"), natural, "0 or a positive integer")
        if not (self.max_minutes >= 0 and math.isfinite(self.max_minutes)):
            raise RunError(f"--max-minutes must be 0 (no limit) or a positive number, got {self.max_minutes}")
        mg.get_backend(self.device)                          # raises BackendError on an unknown device
        return self


@dataclass
class NaturalState:
    update: int = 0
    lr: float = 0.0
    last_valid: float | None = None
    best_valid: float | None = None
    best_update: int | None = None
    period_cost: float = 0.0        # the evaluation period's training metric so far (sum) ...
    period_count: int = 0           # ... over this many updates
    clipped: int = 0
    fallbacks: int = 0
    wall_time: float = 0.0
    history: list = field(default_factory=list)
    outcome: str | None = None      # "budget", "time", "interrupted", "diverged at update N"


class NaturalTrainer:
    """A natural task's model, optimizer and run state; ``train(out)`` runs to an outcome.

    ``data`` is the task's data (:class:`tasks.music.MusicData`, :class:`tasks.charlm.CharData`):
    ``n_in``, ``n_out``, ``cost``, ``carry``, ``unit`` (what the metric is per),
    ``updates_per_epoch(batch)``, ``batch(update, batch, seed) -> (inputs, targets, reset)``
    as host arrays, ``metric(cost)`` (the training cost as the reported metric) and
    ``evaluate(model, split, limit)``."""

    gradients = Trainer.gradients      # the synthetic tasks' update: loss, BPTT, Omega, clipping
    _clip = Trainer._clip
    alpha_at = Trainer.alpha_at

    def __init__(self, config: NaturalConfig, data):
        self.config = c = config.validate()
        for name in ("segment", "ahead"):      # what the run records must be what the data reads
            if hasattr(data, name) and getattr(data, name) != getattr(c, name):
                raise RunError(f"the config says {name} {getattr(c, name)} but the data reads {name} "
                               f"{getattr(data, name)}: give both the same")
        self.data = data
        keep_freed_memory()
        self.model = NaturalModel(data.n_in, c.hidden, data.n_out, data.cost, c.batch_size, leaky=c.leaky,
                                  std=c.std, bias=c.bias, seed=c.seed, dtype=c.dtype, device=c.device)
        self.cell = self.model.cell
        self.params = self.model.trainable()
        self.closed_form = self.cell.leak is None               # Omega's closed form: plain units only
        self.opt = mg.SGD(self.params, lr=c.lr)
        self.alpha = {"constant": regularizer.constant(c.alpha),
                      "inverse_time": regularizer.inverse_time(c.alpha),
                      "inverse_linear": regularizer.inverse_linear(c.alpha, c.alpha_beta)}[c.alpha_schedule]
        self.state = NaturalState(lr=c.lr)
        self._stop = False
        self.stop_signal = None
        self._program = mg.trace(self._update_program, max_programs=64) if c.trace else self._update_program

    # ----------------------------------------------------------------- one update
    def _update_program(self, model, inputs, targets, alpha, method, clip):
        result = self.gradients(model, inputs, targets, alpha, method, clip)
        if self.data.carry:
            model.carry_over()
        else:
            model._final = None
        return result

    def update(self):
        """One SGD update on the minibatch of ``state.update``: (cost, norm, clipped, fallback, omega)."""
        c, st = self.config, self.state
        inputs, targets, reset = self.data.batch(st.update, c.batch_size, c.seed)
        h0 = self.model.h0
        if reset or not self.data.carry:
            h0.data[...] = 0
        dtype = h0.dtype
        x = mg.tensor(inputs, dtype=dtype, device=c.device)
        y = mg.tensor(targets, dtype=dtype if targets.dtype.kind == "f" else np.int64, device=c.device)
        alpha = None
        if c.method in REGULARIZED:
            alpha = mg.tensor(self.alpha_at(st.update + 1), dtype=dtype, device=c.device)
        result = self._program(self.model, x, y, alpha, c.method, c.clip)
        self.opt.lr = st.lr
        self.opt.step()
        self.opt.zero_grad()
        return result

    # ----------------------------------------------------------------- the loop
    def request_stop(self, signum=None, frame=None):
        self._stop = True
        if signum is not None and self.stop_signal is None:
            self.stop_signal = signum

    def train(self, out, progress: bool = True, plots: bool = True) -> NaturalState:
        """Train to ``max_updates`` ("budget"), ``max_minutes`` ("time"), Ctrl-C or SIGTERM
        ("interrupted") or non-finite weights ("diverged at update N"), logging and
        checkpointing in ``out`` (with ``plots``, grad_norms.png and curve.png too)."""
        c, st, files = self.config, self.state, RunFiles(out)
        self._plots = plots
        st.outcome = None
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=c.max_updates, initial=st.update, unit="upd", desc=f"{c.task} {c.method}")
        previous = {}
        for sig in STOP_SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self.request_stop)
            except ValueError:                                  # not the main thread
                break
        started = time.monotonic() - st.wall_time
        costs, norms = [], []
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                while st.update < c.max_updates and not self._stop:
                    if c.max_minutes and time.monotonic() - started > 60 * c.max_minutes:
                        st.outcome = "time"
                        break
                    cost, norm, clipped, fallback, omega = self.update()
                    st.update += 1
                    costs.append(cost)
                    norms.append(norm)
                    if clipped is not None:
                        st.clipped += int(clipped.item())
                        st.fallbacks += int(fallback.item())
                    self._last = {"norm": norm, "omega": omega}
                    if bar is not None:
                        bar.update(1)
                    if st.update % c.eval_every == 0 or st.update >= c.max_updates:
                        st.wall_time = time.monotonic() - started
                        if not self._period(files, costs, norms, bar):
                            break
                        costs, norms = [], []
            if st.outcome is None:
                st.outcome = "interrupted" if self._stop else "budget"
            if costs and not (st.outcome or "").startswith("diverged"):
                st.wall_time = time.monotonic() - started
                self._add_costs(costs)
                files.append_norms(norms)
                files.write_checkpoint(self.state_arrays(), self._config_dict())
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            if bar is not None:
                bar.close()
        if st.outcome.startswith("diverged"):
            files.record_outcome(st.outcome)
        elif st.outcome != "interrupted":
            files.write_checkpoint(self.state_arrays(), self._config_dict())
        self.plot(files.folder, force=True)
        return st

    def plot(self, folder, force: bool = False, every_seconds: float = 60.0):
        """Redraw ``grad_norms.png`` (the gradient norm of every update, mu drawn for the
        clipped methods) and ``curve.png`` (training and validation error per evaluation)."""
        now = time.monotonic()
        if not getattr(self, "_plots", True) or not force and now - getattr(self, "_plotted", -1e9) < every_seconds:
            return
        self._plotted = now
        folder, c = Path(folder), self.config
        norms_path = folder / "grad_norms.f32"
        rows = [r for r in RunFiles(folder).rows() if "valid" in r]
        if not norms_path.exists() or not rows:
            return
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from viz import plots
        norms = np.fromfile(norms_path, dtype=np.float32)
        fig = plots.gradient_norms(norms, clip=None if c.method == "msgd" else c.clip,
                                   title=f"{c.task} {c.method}: gradient norm per update")
        fig.savefig(folder / "grad_norms.png", dpi=110)
        plt.close(fig)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        updates = [r["update"] for r in rows]
        ax.plot(updates, [r["train"] for r in rows], label="train (period mean)")
        ax.plot(updates, [r["valid"] for r in rows], label="valid")
        ax.set_xlabel("update")
        ax.set_ylabel(self.data.unit)
        ax.set_title(f"{c.task} {c.method}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(folder / "curve.png", dpi=110)
        plt.close(fig)

    def _add_costs(self, costs):
        st = self.state
        values = mg.stack(costs).numpy().astype(np.float64)
        st.period_cost += float(np.sum([self.data.metric(v) for v in values]))
        st.period_count += len(values)
        return values

    def _period(self, files, costs, norms, bar) -> bool:
        """The end of an evaluation period: log, evaluate, halve, checkpoint; False to stop."""
        c, st = self.config, self.state
        values = self._add_costs(costs)
        if not np.all(np.isfinite(values)) or not all(np.isfinite(p.numpy()).all() for p in self.params):
            st.outcome = f"diverged at update {st.update}"
            files.log({"update": st.update, "outcome": st.outcome, "wall_time": st.wall_time})
            return False
        valid = self.data.evaluate(self.model, "valid", c.eval_limit)
        if c.halve_lr and st.last_valid is not None and valid > st.last_valid:
            st.lr /= 2
        st.last_valid = valid
        improved = st.best_valid is None or valid < st.best_valid
        if improved:
            st.best_valid, st.best_update = valid, st.update
        omega = self._last["omega"]
        row = {"update": st.update, "epoch": st.update / self.data.updates_per_epoch(c.batch_size),
               "train": st.period_cost / max(st.period_count, 1), "valid": valid, "lr": st.lr,
               "alpha": self.alpha_at(st.update) if c.method in REGULARIZED else None,
               "grad_norm": self._last["norm"].item(), "clipped": st.clipped, "fallbacks": st.fallbacks,
               "omega": None if omega is None else omega.item(), "wall_time": round(st.wall_time, 2)}
        st.history.append({k: row[k] for k in ("update", "train", "valid")})
        st.period_cost, st.period_count, st.clipped, st.fallbacks = 0.0, 0, 0, 0
        files.append_norms(norms)
        files.log(row)
        files.write_checkpoint(self.state_arrays(), self._config_dict())
        if improved:
            files.keep_copy("best.npz")
        self.plot(files.folder)
        if bar is not None:
            bar.set_postfix(train=f"{row['train']:.3f}", valid=f"{valid:.3f}", lr=f"{st.lr:.3g}")
        return True

    def result(self, out) -> dict:
        """Train / valid / test of the best checkpoint (early stopping on valid), and of the last
        weights; written to ``out/result.json``."""
        c = self.config
        last = {split: self.data.evaluate(self.model, split, 0) for split in ("valid", "test")}
        best_path = Path(out) / "best.npz"
        best = dict(last)
        if best_path.exists():
            saved = {k: p.numpy().copy() for k, p in self.model.named_parameters()}
            arrays = mg.load(best_path)
            self.model.load_state_dict(part(arrays, "model"))
            best = {split: self.data.evaluate(self.model, split, 0) for split in ("valid", "test")}
            best["train"] = self.data.evaluate(self.model, "train", c.eval_limit)
            self.model.load_state_dict(saved)
        st = self.state
        result = {"task": c.task, "method": c.method, "unit": self.data.unit, "updates": st.update,
                  "best_update": st.best_update, "outcome": st.outcome, "wall_time": round(st.wall_time, 1),
                  "best": best, "last": last, "data": c.data}
        from .runfiles import atomic_write
        atomic_write(Path(out) / "result.json", json.dumps(result, indent=1).encode())
        return result

    @property
    def exit_status(self) -> int:
        outcome = self.state.outcome or ""
        if outcome.startswith("diverged"):
            return 1
        if outcome == "interrupted":
            return 128 + int(self.stop_signal or signal.SIGINT)
        return 0

    # ----------------------------------------------------------------- checkpoints
    def _config_dict(self) -> dict:
        return {f.name: getattr(self.config, f.name) for f in fields(self.config)}

    def state_arrays(self) -> dict:
        arrays = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        arrays["meta"] = np.array(json.dumps({"config": self._config_dict(), "state": asdict(self.state),
                                              "kind": "natural"}))
        return arrays

    @classmethod
    def from_checkpoint(cls, path, data, config: NaturalConfig | None = None) -> "NaturalTrainer":
        if config is not None:
            require_checkpoint_of(path, config.task, f"minigrad {config.task}")
        else:
            require_checkpoint_of(path, ("music", "charlm"), "minigrad music or charlm")
        arrays, saved, state = read_run_checkpoint(path, "natural", NaturalConfig, NaturalState,
                                                   "`minigrad music` or `minigrad charlm`", config)
        run = cls(saved, data)
        run.model.load_state_dict(part(arrays, "model"))
        run.state = state
        return run


# ----------------------------------------------------------------------------- which command wrote a checkpoint
CHECKPOINT_MAKERS = {"train": "`minigrad train`, sweep or demo", "translate": "`minigrad translate`",
                     "ntm-copy": "`minigrad copy`", "music": "`minigrad music`", "charlm": "`minigrad charlm`"}


def checkpoint_maker(path) -> str | None:
    """Which command wrote the run checkpoint ``path``: a key of CHECKPOINT_MAKERS ("train",
    "translate", "ntm-copy", "music", "charlm"), read from its "meta" array (a training run's has
    no "kind"); None when it has no readable run metadata (the command's own reading then says
    what is wrong).  An unreadable file raises mg.CheckpointError as :func:`mg.load` does."""
    arrays = mg.load(path)
    try:
        meta = json.loads(str(arrays["meta"]))
        kind = meta.get("kind", "train")
        if kind == "natural":
            kind = meta["config"]["task"]
    except (KeyError, ValueError, TypeError, AttributeError):
        return None
    return kind if kind in CHECKPOINT_MAKERS else None


def require_checkpoint_of(path, kinds, command: str, wanted: str | None = None) -> None:
    """Refuse, in one line, a checkpoint that another command wrote, saying which checkpoints
    ``command`` (e.g. "minigrad evaluate") reads (``kinds``: keys of CHECKPOINT_MAKERS; ``wanted``:
    how to say them, by default from CHECKPOINT_MAKERS) and which command wrote this one."""
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    made = checkpoint_maker(path)
    if made is not None and made not in kinds:
        wanted = wanted or " or ".join(CHECKPOINT_MAKERS[k] for k in kinds)
        reads = "" if command in wanted else f" (what {command} reads)"
        raise RunError(f"{path} is not a checkpoint of {wanted}{reads}: it was written by {CHECKPOINT_MAKERS[made]}")


# ----------------------------------------------------------------------------- command line helpers
def add_common_arguments(p, defaults: NaturalConfig) -> None:
    """The flags ``minigrad music`` and ``minigrad charlm`` share (defaults: the task's)."""
    d = defaults
    p.add_argument("--methods", nargs="+", default=list(METHODS), metavar="METHOD",
                   help=f"train each of these in turn, in OUT/METHOD (default: {' '.join(METHODS)})")
    said = {"hidden": "hidden units", "batch_size": "sequences per minibatch",
            "eval_every": "updates between validation evaluations", "max_updates": "updates per method",
            "seed": "seed of the weights and of the minibatch order", "lr": "learning rate (SGD, no momentum)",
            "clip": "clipping threshold mu of msgd-c and msgd-cr", "alpha": "weight alpha_0 of Omega (msgd-cr)",
            "std": "weights ~ N(0, std)",
            "max_minutes": "stop a method after this much training time (a resumed run counts the time spent; 0: no limit)"}
    for name in ("hidden", "batch_size", "eval_every", "max_updates", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=getattr(d, name),
                       help=f"{said[name]} (default {getattr(d, name)})")
    for name in ("lr", "clip", "alpha", "std", "max_minutes"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(d, name),
                       help=f"{said[name]} (default {getattr(d, name):g})")
    p.add_argument("--halve-lr", action=argparse_bool(), default=d.halve_lr,
                   help="halve the learning rate when the validation error goes up (default on)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the device's)")
    p.add_argument("--no-trace", dest="trace", action="store_false", help="run updates eagerly (slower)")
    p.add_argument("--out", help="the runs' folder (one subfolder per method)")
    p.add_argument("--resume", action="store_true", help="continue the runs in --out from their checkpoints")
    p.add_argument("--force", action="store_true", help="start over in folders that hold runs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def argparse_bool():
    import argparse
    return argparse.BooleanOptionalAction


def config_from_args(args, defaults: NaturalConfig, **fixed) -> list[NaturalConfig]:
    """One validated config per method asked for."""
    names = {f.name for f in fields(NaturalConfig)}
    given = {k: v for k, v in vars(args).items() if k in names}
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        raise RunError(f"unknown method {unknown[0]!r}: choose from {', '.join(METHODS)}")
    if len(set(args.methods)) < len(args.methods):
        raise RunError("--methods names a method twice")
    return [replace(defaults, **{**given, **fixed, "method": m}).validate() for m in args.methods]


def prepare_folders(configs, out, resume: bool, force: bool) -> list:
    """``[(config, out/METHOD)]``, after refusing what cannot go on: an --out that is a file or
    cannot be written, a folder holding a run without --resume or --force, --resume with no
    checkpoint to resume from or with a checkpoint of another command."""
    out = check_out_folder(out)
    refuse_resume_with_force(out, resume, force)
    prepared = []
    for config in configs:                                  # refuse before anything trains
        folder = out / config.method
        checkpoint = folder / "checkpoint.npz"
        if not resume and (checkpoint.exists() or (folder / "log.jsonl").exists()) and not force:
            raise RunError(f"{folder} already holds a run: pass --resume to continue it or --force to start over")
        if resume and checkpoint.exists():
            require_checkpoint_of(checkpoint, config.task, f"minigrad {config.task} --resume")
        prepared.append((config, folder))
    if resume and not any((folder / "checkpoint.npz").exists() for _, folder in prepared):
        raise RunError(f"--resume: {out} holds no checkpoint.npz to resume from (in {out}/METHOD)")
    return prepared


def check_before_loading(args, defaults: NaturalConfig, task: str, out) -> None:
    """Every check of the command line that needs no data, made before the data is loaded
    (parsing the chorales takes minutes where nothing is cached): the settings of every method
    (validated with a stand-in for the data's description), and --out / --resume / --force."""
    configs = config_from_args(args, defaults, task=task, data="")
    prepare_folders(configs, out, args.resume, args.force)


def run_methods(configs, data, out, resume: bool, force: bool, quiet: bool) -> tuple[int, list]:
    """Train each config in ``out/METHOD``; returns (exit status, results)."""
    out = Path(out)
    prepared = prepare_folders(configs, out, resume, force)
    results = []
    for config, folder in prepared:                         # resuming: a method not started yet starts
        if resume and (folder / "checkpoint.npz").exists():
            run = NaturalTrainer.from_checkpoint(folder / "checkpoint.npz", data, config)
            if (run.state.outcome or "").startswith("diverged"):
                raise RunError(f"--resume: the run in {folder} {run.state.outcome}")
            files = RunFiles(folder)
            rows, lines, _ = files.read_log()
            files.rewrite_log([line for row, line in zip(rows, lines) if row["update"] <= run.state.update])
            files.truncate_norms(run.state.update)
            if run.state.best_update is not None:       # a kill between checkpoint.npz and best.npz
                files.restore_copy("best.npz", run.state.best_update)
        else:
            for name in ("checkpoint.npz", "best.npz", "log.jsonl", "config.json", "grad_norms.f32",
                         "grad_norms.png", "curve.png", "result.json"):
                (folder / name).unlink(missing_ok=True)
            run = NaturalTrainer(config, data)
        state = run.train(folder, progress=not quiet)
        if state.outcome == "interrupted":
            print(f"minigrad: interrupted (continue with --resume --out {out})", file=sys.stderr)
            return run.exit_status, results
        if state.outcome.startswith("diverged"):
            print(f"{config.method}: {state.outcome}", file=sys.stderr)
            results.append({"method": config.method, "outcome": state.outcome})
            continue
        results.append(run.result(folder))
    return (1 if any(r["outcome"].startswith("diverged") for r in results) else 0), results


def results_table(results, paper_rows, unit: str) -> str:
    """Our train / valid / test beside the paper's Table 1 rows (train / test), one line per method."""
    paper_said = f"paper (train / test): {'; '.join(paper_rows)}   " if paper_rows else "(no paper row)   "
    lines = [f"{'method':<8} {'train':>7} {'valid':>7} {'test':>7}   {paper_said}[{unit}]"]
    for r in results:
        if "best" not in r:
            lines.append(f"{r['method']:<8} {r['outcome']}")
            continue
        b = r["best"]
        said = [PAPER_TABLE1[row].get(r["method"]) for row in paper_rows]
        paper = "; ".join("-" if p is None else f"{p[0]:.2f} / {p[1]:.2f}" for p in said)
        lines.append(f"{r['method']:<8} {b['train']:7.3f} {b['valid']:7.3f} {b['test']:7.3f}   {paper}"
                     f"   ({r['updates']} updates, best at {r['best_update']}, {r['wall_time']:.0f} s)")
    return "\n".join(lines)
