r"""The copy task of the Neural Turing Machine paper (Graves, Wayne & Danihelka 2014, section
4.1), trained with RMSProp and gradient clipping as the paper did.

The task.  A sequence of L random binary vectors of width 8 (L uniform in 1..20 in training)
is shown one vector per step, then a delimiter; then, with no input, the machine must output
the sequence again:

    step          0 .. L-1            L              L+1 .. 2L
    input         the vectors         delimiter      nothing (zeros)
    channels      8 bits, 0           0..., 1        0...
    target        (not scored)        (not scored)   the vectors, in order

Inputs are (2L + 1, B, 9): 8 data channels and the delimiter channel.  The loss is the binary
cross-entropy of the output phase only (the machine's outputs at steps L+1..2L against the
vectors), summed over the 8 L bits of a sequence.  The paper plots it in bits per sequence
(the sum in nats / ln 2); we report that ("cost"), and the number of wrong bits per sequence
(an output read as 1 where it is > 0.5).

Data.  Every batch is generated on the device from a seeded generator, the batch of update u
from the seed (seed, 0, u), so a resumed run sees exactly the data an uninterrupted one sees.
One length L is drawn per batch (so a batch needs no padding), uniform in
[min_length, max_length].  The evaluation at training lengths takes ``eval_per_length`` fresh
sequences at every length of the training range (seeds (seed, 1, u, L)) and averages their
costs, i.e. the expected cost under the training distribution of lengths; the test at longer
lengths uses the seeds (seed, 2, L).

Optimization, as the paper (section 4): RMSProp in Graves's form (Graves 2013, "Generating
sequences with recurrent neural networks", eqs. 38-41) with momentum 0.9 and decay 0.95, and
every gradient component clipped to [-10, 10].  The paper trains on one sequence per update with
learning rate 1e-4; here the default is batches of 16 sequences (the gradient averaged over
them: much cheaper per sequence in Python) with learning rate 3e-3, which learned lengths 1..20
in 1,000 updates (16,000 sequences, seed 0; the paper's NTM needed some 200,000 sequences of
batch size 1).  ``--lr 1e-4 --batch-size 1`` is the paper's setting.

    minigrad copy --out runs/copy --min-length 1 --max-length 20
    minigrad copy --out runs/copy --resume                   # continue a stopped run
    minigrad copy --checkpoint runs/copy/checkpoint.npz --test-lengths 30 50 80 120 --figure fig.png
"""
from __future__ import annotations

import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import minigrad as mg
from rnn.ntm import CONTROLLERS, NTM

from .natural import require_checkpoint_of
from .runfiles import (STOP_SIGNALS, RunError, RunFiles, check_out_file, count, open_run, part, positive,
                       refuse_another_commands_run, require, require_finite, seed_value)

DELIMITER_CHANNELS = 1


# =========================================================================== the data
@dataclass
class CopyBatch:
    inputs: mg.Tensor          # (2L + 1, B, width + 1)
    targets: mg.Tensor         # (L, B, width): what the output phase must reproduce
    length: int                # L


def seed_of(*key) -> int:
    """One integer seed from a tuple of ints, e.g. (run seed, stream, update)."""
    return int(np.random.SeedSequence([int(k) for k in key]).generate_state(1)[0])


def copy_batch(size: int, length: int, width: int = 8, seed=0, device=None, dtype=None) -> CopyBatch:
    """``size`` copy sequences of ``length`` vectors of ``width`` random bits, generated on
    ``device`` from ``seed`` (an int, or a tuple of ints)."""
    if length < 1 or size < 1 or width < 1:
        raise ValueError(f"copy_batch: size, length and width must be positive, got {size}, {length}, {width}")
    backend = mg.get_backend(device)
    dtype = np.dtype(dtype) if dtype is not None else backend.default_float
    rng = backend.rng(seed_of(*seed) if isinstance(seed, (tuple, list)) else seed)
    bits = rng.integers(0, 2, (length, size, width)).astype(dtype)
    x = backend.zeros((2 * length + 1, size, width + DELIMITER_CHANNELS), dtype=dtype)
    x[:length, :, :width] = bits                 # the sequence, on the data channels
    x[length, :, width] = 1                      # the delimiter, on its own channel
    return CopyBatch(mg.tensor(x, device=backend.device), mg.tensor(bits, device=backend.device), length)


def output_phase(logits, length: int):
    """The machine's outputs at steps L+1..2L (the ones scored), (L, B, width)."""
    return logits[length + 1:]


def copy_loss(logits, targets, length: int):
    """Binary cross-entropy of the output phase, summed over a sequence's bits, averaged over the
    batch (nats per sequence): the training objective."""
    scored = output_phase(logits, length)
    return mg.binary_cross_entropy_with_logits(scored, targets, reduction="sum") / targets.shape[1]


def bits_per_sequence(loss_nats: float) -> float:
    """A cost in nats as the paper plots it: bits (log base 2)."""
    return loss_nats / math.log(2)


EVAL_CHUNK = 256            # sequences run through the machine at once in an evaluation or test


# =========================================================================== the optimizer
class RMSProp:
    r"""RMSProp with momentum in the form Graves (2013, eqs. 38-41) gave and the NTM paper used:

        n ← ρ n + (1 - ρ) g²                 a running mean of the squared gradient
        ḡ ← ρ ḡ + (1 - ρ) g                  and of the gradient
        Δ ← m Δ - lr g / √(n - ḡ² + ε)       a step scaled by the running standard deviation
        θ ← θ + Δ

    ρ = ``decay`` (0.95), m = ``momentum`` (0.9), ε = 1e-4.  Dividing by the gradient's running
    spread makes the step size roughly independent of the gradient's scale, per parameter.
    The state stays on the device (arrays updated in place)."""

    def __init__(self, params, lr: float = 1e-4, momentum: float = 0.9, decay: float = 0.95, eps: float = 1e-4):
        self.params = list(params)
        self.lr, self.momentum, self.decay, self.eps = lr, momentum, decay, eps
        self.n = [p.backend.zeros(p.shape, dtype=p.data.dtype) for p in self.params]
        self.g_mean = [p.backend.zeros(p.shape, dtype=p.data.dtype) for p in self.params]
        self.delta = [p.backend.zeros(p.shape, dtype=p.data.dtype) for p in self.params]

    def step(self) -> None:
        rho, xp = self.decay, self.params[0].backend
        for p, n, g_mean, delta in zip(self.params, self.n, self.g_mean, self.delta):
            if p.grad is None:
                continue
            g = p.grad.data
            n *= rho
            n += (1 - rho) * g * g
            g_mean *= rho
            g_mean += (1 - rho) * g
            delta *= self.momentum
            delta -= self.lr * g / xp.sqrt(n - g_mean * g_mean + self.eps)
            p.data = p.data + delta

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        """The running means and the momentum, as host arrays (for checkpoints)."""
        out = {}
        for i, p in enumerate(self.params):
            for name, arrays in (("n", self.n), ("g_mean", self.g_mean), ("delta", self.delta)):
                out[f"{name}.{i}"] = p.backend.to_host(arrays[i])
        return out

    def load_state_dict(self, state: dict) -> None:
        for i, p in enumerate(self.params):
            for name, arrays in (("n", self.n), ("g_mean", self.g_mean), ("delta", self.delta)):
                arrays[i][...] = p.backend.asarray(state[f"{name}.{i}"], dtype=p.data.dtype)


def clip_gradient_values(params, limit: float) -> None:
    """Clip every gradient component to [-limit, limit] (the NTM paper's "gradient clipping to
    (-10, 10)"; ``mg.clip_grad_norm`` would rescale the whole gradient instead)."""
    for p in params:
        if p.grad is not None:
            p.grad = mg.clip(p.grad, -limit, limit)


# =========================================================================== a run
@dataclass
class CopyConfig:
    min_length: int = 1
    max_length: int = 20
    width: int = 8
    memory_slots: int = 128
    memory_width: int = 20
    hidden: int = 100
    controller: str = "lstm"
    batch_size: int = 16
    lr: float = 3e-3                      # the paper's 1e-4 was for one sequence per update
    momentum: float = 0.9
    decay: float = 0.95
    clip_value: float = 10.0
    max_updates: int = 20_000
    max_minutes: float | None = None      # a wall-clock budget for this invocation (not saved as fixed)
    eval_every: int = 100
    eval_per_length: int = 20
    target_cost: float = 0.1              # bits per sequence at training lengths
    test_lengths: list = field(default_factory=lambda: [30, 50, 80, 120])
    test_size: int = 50
    seed: int = 0
    device: str | None = None
    dtype: str | None = None

    def validate(self) -> "CopyConfig":
        if self.controller not in CONTROLLERS:
            raise RunError(f"unknown controller {self.controller!r}: choose one of {', '.join(CONTROLLERS)}")
        if self.dtype not in (None, "float32", "float64"):
            raise RunError(f"unknown dtype {self.dtype!r}: choose float32 or float64")
        require(self, ("min_length", "width", "memory_slots", "memory_width", "hidden", "batch_size",
                       "max_updates", "eval_every", "eval_per_length", "test_size"), count, "at least 1")
        if self.max_length < self.min_length:
            raise RunError(f"--max-length ({self.max_length}) must be at least --min-length ({self.min_length}): "
                           "training lengths are drawn from min-length..max-length")
        require(self, ("lr", "clip_value"), positive, "positive")
        for name in ("momentum", "decay"):
            if not 0 <= getattr(self, name) < 1:
                raise RunError(f"--{name} must lie in [0, 1), got {getattr(self, name)}")
        if not (self.target_cost >= 0 and math.isfinite(self.target_cost)):      # NaN: a target never met
            raise RunError(f"--target-cost is in bits per sequence, a finite number 0 or more, got {self.target_cost}")
        require(self, ("seed",), seed_value, "an integer from 0 to 2^63 - 1")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise RunError(f"--max-minutes must be positive, got {self.max_minutes}")
        if any(length < 1 for length in self.test_lengths):
            raise RunError(f"--test-lengths must be positive lengths, got {self.test_lengths}")
        mg.get_backend(self.device)                   # raises BackendError on a bad device
        return self


@dataclass
class CopyState:
    update: int = 0
    train_cost_sum: float = 0.0           # this evaluation period's training cost so far (nats)
    last_cost: float | None = None        # bits per sequence at the last evaluation
    history: list = field(default_factory=list)
    outcome: str | None = None            # "success", "budget", "time", "interrupted"


class CopyTrainer:
    """An NTM, its optimizer and the run's state; ``train(out)`` runs, logs and checkpoints."""

    TRAIN, EVAL, TEST, FIGURE = 0, 1, 2, 4             # data streams, seeded (seed, stream, ...)
    FIXED = ("min_length", "max_length", "width", "memory_slots", "memory_width", "hidden", "controller",
             "batch_size", "lr", "momentum", "decay", "clip_value", "eval_every", "eval_per_length", "seed", "dtype")

    def __init__(self, config: CopyConfig):
        self.config = c = config.validate()
        self.model = NTM(c.width + DELIMITER_CHANNELS, c.width, memory_slots=c.memory_slots,
                         memory_width=c.memory_width, hidden=c.hidden, controller=c.controller,
                         seed=c.seed, dtype=c.dtype, device=c.device)
        self.params = self.model.parameters()
        self.opt = RMSProp(self.params, lr=c.lr, momentum=c.momentum, decay=c.decay)
        self.state = CopyState()
        self._stop = False
        self.stop_signal = None         # the signal that asked to stop (SIGINT or SIGTERM)

    def _request_stop(self, signum=None, frame=None):
        """Ctrl-C or SIGTERM: finish the update under way (a KeyboardInterrupt in the middle of
        one could leave half the parameters stepped), checkpoint, stop."""
        self._stop = True
        self.stop_signal = self.stop_signal or signum

    def training_length(self, update: int) -> int:
        """The length of update ``update``'s batch, uniform in min..max, from its seed."""
        c = self.config
        return int(np.random.default_rng(seed_of(c.seed, self.TRAIN, update)).integers(c.min_length, c.max_length + 1))

    def update(self):
        """One RMSProp update on a fresh batch; returns its loss (nats per sequence, on the device)."""
        c, st = self.config, self.state
        batch = copy_batch(c.batch_size, self.training_length(st.update), c.width,
                           seed=(c.seed, self.TRAIN, st.update), device=c.device, dtype=c.dtype)
        logits, _ = self.model(batch.inputs)
        loss = copy_loss(logits, batch.targets, batch.length)
        loss.backward()
        clip_gradient_values(self.params, c.clip_value)
        self.opt.step()
        self.opt.zero_grad()
        return loss.detach()

    def evaluate_length(self, length: int, size: int, seed) -> dict:
        """Cost (bits per sequence) and wrong bits per sequence on ``size`` fresh sequences, run
        through the machine EVAL_CHUNK sequences at a time (its record of every step's addressing
        grows with the sequences run at once; up to EVAL_CHUNK, bit for bit one batch)."""
        c = self.config
        batch = copy_batch(size, length, c.width, seed=seed, device=c.device, dtype=c.dtype)
        nats, wrong = 0, 0
        with mg.no_grad():
            for start in range(0, size, EVAL_CHUNK):
                part = slice(start, min(start + EVAL_CHUNK, size))
                logits, _ = self.model(batch.inputs[:, part])
                scored, targets = output_phase(logits, length), batch.targets[:, part]
                nats = nats + mg.binary_cross_entropy_with_logits(scored, targets, reduction="sum")
                wrong = wrong + ((scored.data > 0) != (targets.data > 0.5)).sum()
            loss = (nats / size).item()                     # copy_loss of the whole set
        return {"cost": bits_per_sequence(loss), "bit_errors": float(batch.inputs.backend.to_host(wrong)) / size}

    def evaluate(self) -> dict:
        """The mean over every training length of its cost (the cost under the training
        distribution of lengths); fresh sequences seeded (seed, 1, update, length)."""
        c = self.config
        rows = [self.evaluate_length(L, c.eval_per_length, (c.seed, self.EVAL, self.state.update, L))
                for L in range(c.min_length, c.max_length + 1)]
        return {k: float(np.mean([r[k] for r in rows])) for k in ("cost", "bit_errors")}

    def test(self, lengths=None, size=None) -> dict:
        """{length: {"cost", "bit_errors"}} at longer lengths than trained on (seeds (seed, 2, L))."""
        c = self.config
        lengths = c.test_lengths if lengths is None else lengths
        return {int(L): self.evaluate_length(int(L), size or c.test_size, (c.seed, self.TEST, int(L))) for L in lengths}

    # ----------------------------------------------------------------- the loop
    def train(self, out=None, progress: bool = True) -> CopyState:
        c, st = self.config, self.state
        files = RunFiles(out) if out is not None else None
        start = time.perf_counter()
        deadline = None if c.max_minutes is None else start + 60 * c.max_minutes
        # The period's training losses, summed on the device.  A run resumed mid-period starts
        # from the saved partial sum, adding in the order an uninterrupted run adds (a fresh sum
        # added to it afterwards would round differently).
        carry = st.train_cost_sum if st.update % c.eval_every else None
        period = None
        if st.outcome == "success":             # resumed after it ended: nothing left to train
            return st
        st.outcome = None
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS}
        try:
            while st.update < c.max_updates:
                if self._stop:
                    st.outcome = "interrupted"
                    break
                loss = self.update()
                st.update += 1
                if period is None:
                    period = loss if carry is None else mg.tensor(carry, dtype=loss.dtype, device=loss.device) + loss
                    carry = None
                else:
                    period = period + loss
                if st.update % c.eval_every == 0:
                    train_cost = bits_per_sequence(period.item() / c.eval_every)
                    period = None
                    row = {"update": st.update, "sequences": st.update * c.batch_size, "train_cost": train_cost,
                           **self.evaluate(), "wall_time": round(time.perf_counter() - start, 2)}
                    st.train_cost_sum, st.last_cost = 0.0, row["cost"]
                    st.history.append([st.update, row["cost"]])
                    if progress:
                        print(f"update {st.update:>6}  train {row['train_cost']:8.3f}  eval {row['cost']:8.3f} "
                              f"bits/seq  {row['bit_errors']:6.2f} wrong bits/seq  {row['wall_time']:7.1f}s",
                              file=sys.stderr, flush=True)
                    if row["cost"] < c.target_cost:
                        st.outcome = "success"
                    if files is not None:
                        files.log(row)
                        self.checkpoint(files)
                    if st.outcome == "success":
                        break
                if deadline is not None and time.perf_counter() > deadline:
                    st.outcome = "time"
                    break
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            if period is not None:
                st.train_cost_sum = period.item()      # a stop between evaluations keeps the sum
            if st.outcome is None:
                st.outcome = "budget"
            if files is not None:
                self.checkpoint(files)
        return st

    # ----------------------------------------------------------------- checkpoints
    def state_arrays(self) -> dict:
        arrays = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"opt.{k}": v for k, v in self.opt.state_dict().items()})
        arrays["meta"] = np.array(json.dumps({"config": asdict(self.config), "state": asdict(self.state),
                                              "format": 1, "kind": "ntm-copy"}))
        return arrays

    def checkpoint(self, files: RunFiles) -> None:
        files.write_checkpoint(self.state_arrays(), asdict(self.config))

    @classmethod
    def from_checkpoint(cls, path, overrides: dict | None = None) -> "CopyTrainer":
        """The run saved in ``path``; ``overrides`` may change only what does not alter the
        run's numbers (budgets, target, test lengths, device)."""
        require_checkpoint_of(path, "ntm-copy", "minigrad copy", wanted="minigrad copy")
        arrays = mg.load(path)
        try:
            meta = json.loads(str(arrays["meta"]))
            if meta.get("kind") != "ntm-copy":
                raise KeyError("kind")
            config = CopyConfig(**meta["config"])
            state = CopyState(**meta["state"])
        except (KeyError, ValueError, TypeError, AttributeError) as e:     # AttributeError: meta not a dict
            raise RunError(f"{path} is not a checkpoint of minigrad copy (unreadable run metadata: {e})") from None
        for key, value in (overrides or {}).items():
            if value is None:
                continue
            if key in cls.FIXED and value != getattr(config, key):
                raise RunError(f"{path} was trained with {key.replace('_', '-')} {getattr(config, key)}, "
                               f"asked {value}: a resumed run keeps its settings (start a new --out instead)")
            setattr(config, key, value)
        trainer = cls(config)
        trainer.model.load_state_dict(part(arrays, "model"))
        trainer.opt.load_state_dict(part(arrays, "opt"))
        trainer.state = state
        return trainer

    # ----------------------------------------------------------------- the figure
    def weightings(self, length: int, seed: int = 0):
        """One fresh sequence of ``length``: (inputs (T, 9), outputs (T, 8), write and read
        weightings (T, N)) as host arrays, T = 2 length + 1."""
        c = self.config
        batch = copy_batch(1, length, c.width, seed=(c.seed, self.FIGURE, seed, length), device=c.device, dtype=c.dtype)
        with mg.no_grad():
            logits, record = self.model(batch.inputs)
            outputs = mg.sigmoid(logits).numpy()[:, 0]
        write_w, read_w = record.weightings()
        return batch.inputs.numpy()[:, 0], outputs, write_w[:, 0], read_w[:, 0]

    def figure(self, path, length: int = 20, seed: int = 0):
        """The NTM paper's Figure 6 for one sequence of ``length``, saved as ``path`` (PNG)."""
        from viz.memory import ntm_weightings
        import matplotlib.pyplot as plt
        inputs, outputs, write_w, read_w = self.weightings(length, seed)
        fig = ntm_weightings(inputs, outputs, write_w, read_w,
                             title=f"NTM copy, length {length} (trained on {self.config.min_length}-"
                                   f"{self.config.max_length}, {self.state.update} updates)")
        try:
            fig.savefig(path, dpi=110)
        finally:
            plt.close(fig)


# =========================================================================== the command line
DESCRIPTION = ("Train a Neural Turing Machine on the copy task of Graves, Wayne & Danihelka (2014): random "
               "8-bit vectors, lengths --min-length..--max-length, a delimiter, then the sequence back; "
               "RMSProp with momentum and gradient values clipped to [-10, 10] as the paper did.  Logs "
               "and checkpoints in --out (--resume continues identically), tests the trained machine on "
               "longer sequences (--test-lengths) and draws the write and read weightings over time "
               "(the paper's Figure 6) as --out/weightings.png.  With --checkpoint: test and draw only.")


def add_arguments(p) -> None:
    """The flags of ``minigrad copy``."""
    d = CopyConfig()
    p.add_argument("--out", help="run folder: log.jsonl, checkpoint.npz, config.json, weightings.png, cost.png")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--force", action="store_true", help="start over in a folder that holds a run")
    p.add_argument("--checkpoint", help="no training: test this checkpoint at --test-lengths and draw --figure")
    p.add_argument("--figure", help="PNG of the inputs, outputs, write and read weightings (default: "
                   "--out/weightings.png after training)")
    p.add_argument("--figure-length", type=int, default=None, help="sequence length of the figure "
                   "(default: --max-length)")
    p.add_argument("--min-length", type=int, default=None, help=f"shortest training sequence (default {d.min_length})")
    p.add_argument("--max-length", type=int, default=None, help=f"longest training sequence (default {d.max_length})")
    p.add_argument("--width", type=int, default=None, help=f"bits per vector (default {d.width})")
    p.add_argument("--memory-slots", type=int, default=None, help=f"N (default {d.memory_slots})")
    p.add_argument("--memory-width", type=int, default=None, help=f"M (default {d.memory_width})")
    p.add_argument("--hidden", type=int, default=None, help=f"controller units (default {d.hidden})")
    p.add_argument("--controller", default=None, help=f"{' or '.join(CONTROLLERS)} (default {d.controller})")
    p.add_argument("--batch-size", type=int, default=None, help=f"sequences per update (default {d.batch_size}; "
                   "the paper: 1)")
    p.add_argument("--lr", type=float, default=None, help=f"RMSProp learning rate (default {d.lr:g})")
    p.add_argument("--momentum", type=float, default=None, help=f"RMSProp momentum (default {d.momentum})")
    p.add_argument("--decay", type=float, default=None, help=f"RMSProp decay of its running means (default {d.decay})")
    p.add_argument("--clip-value", type=float, default=None, help=f"clip every gradient component to "
                   f"[-v, v] (default {d.clip_value:g}, the paper's)")
    p.add_argument("--max-updates", type=int, default=None, help=f"update budget (default {d.max_updates})")
    p.add_argument("--max-minutes", type=float, default=None, help="wall-clock budget of this invocation")
    p.add_argument("--eval-every", type=int, default=None, help=f"updates between evaluations (default {d.eval_every})")
    p.add_argument("--eval-per-length", type=int, default=None, help=f"fresh sequences per training length in "
                   f"an evaluation (default {d.eval_per_length})")
    p.add_argument("--target-cost", type=float, default=None, help=f"stop below this cost, bits per sequence "
                   f"(default {d.target_cost:g})")
    p.add_argument("--test-lengths", type=int, nargs="+", default=None, help="longer lengths tested after "
                   f"training (default {' '.join(map(str, d.test_lengths))})")
    p.add_argument("--test-size", type=int, default=None, help=f"sequences per test length (default {d.test_size})")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the device's)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")


OVERRIDABLE = ("max_updates", "max_minutes", "target_cost", "test_lengths", "test_size", "device")
TESTING = ("test_lengths", "test_size", "device")        # what --checkpoint (test and draw only) reads


def _given(args, names) -> dict:
    return {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}


def _writable_png(path, flag: str) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise RunError(f"{flag} {path}: give a .png file name")
    if path.is_dir():
        raise RunError(f"{flag} {path} is a folder: give a file name such as {path / 'weightings.png'}")
    if not path.parent.exists():
        raise RunError(f"{flag} {path}: the folder {path.parent} does not exist")
    return check_out_file(path, flag, example="weightings.png")     # writable, before any work


def _print_tests(trainer, results) -> None:
    print(f"{'length':>7} {'bits/seq':>9} {'wrong bits/seq':>15}   ({trainer.config.test_size} fresh sequences each)")
    for length, r in results.items():
        print(f"{length:>7} {r['cost']:>9.3f} {r['bit_errors']:>15.2f}")


def _learning_curve(files: RunFiles, path) -> None:
    """cost.png: the cost per sequence against sequences seen (the NTM paper's Figure 3)."""
    rows = [r for r in files.rows() if "cost" in r]
    if not rows:
        return
    import matplotlib.pyplot as plt
    from viz.memory import copy_learning_curve
    plt.close(copy_learning_curve(rows, path))


def cmd_copy(args) -> int:
    """``minigrad copy``: train (or resume), test at longer lengths, draw the weightings."""
    fields = list(CopyConfig.__dataclass_fields__)
    if args.figure_length is not None and args.figure_length < 1:
        raise RunError(f"--figure-length must be at least 1, got {args.figure_length}")
    figure = None if args.figure is None else _writable_png(args.figure, "--figure")
    if args.checkpoint:                                       # test and draw a trained machine
        if args.resume or args.out:
            raise RunError("--checkpoint tests a trained machine: give it without --out or --resume")
        path = Path(args.checkpoint)
        if not path.is_file():
            what = "not a regular file" if path.exists() else "no such file"
            raise RunError(f"--checkpoint {path}: {what} (a copy run folder's checkpoint.npz)")
        trainer = CopyTrainer.from_checkpoint(path, _given(args, TESTING))
        require_finite(trainer.model, path, "train it again (a copy run keeps no earlier weights)")
        ignored = [f"--{k.replace('_', '-')} {v} (the machine's: {getattr(trainer.config, k)})"
                   for k, v in _given(args, fields).items() if k not in TESTING and v != getattr(trainer.config, k)]
        if ignored:                                           # a setting of training, else silently unused
            raise RunError(f"--checkpoint tests the machine as it was trained: {'; '.join(ignored)} would be "
                           f"ignored (it takes {', '.join('--' + k.replace('_', '-') for k in TESTING)}, "
                           f"--figure, --figure-length)")
        _print_tests(trainer, trainer.test())
        if figure is not None:
            trainer.figure(figure, args.figure_length or trainer.config.max_length)
            print(f"figure: {figure}")
        return 0
    if not args.out:
        raise RunError("give --out FOLDER for the run (or --checkpoint FILE to test a trained machine)")
    out = Path(args.out)
    # The settings are checked before open_run: with --force it deletes the folder's run, which a
    # mistyped setting must not cost (a resumed run's settings are checked against its checkpoint).
    config = None if args.resume else CopyConfig(**_given(args, fields)).validate()
    if not args.resume:
        refuse_another_commands_run(out, "ntm-copy", "minigrad copy")
    checkpoint = open_run(out, args.resume, args.force,
                          made=("checkpoint.npz", "log.jsonl", "config.json", "weightings.png", "cost.png"))
    if checkpoint is not None:
        trainer = CopyTrainer.from_checkpoint(checkpoint, _given(args, fields))
        files = RunFiles(out)
        files.trim_log(trainer.state.update)
        rows, lines, _ = files.read_log()              # the machine's test is run, and logged, again
        if any("test" in row for row in rows):
            files.rewrite_log([line for row, line in zip(rows, lines)
                               if "test" not in row or row["update"] < trainer.state.update])
    else:
        trainer = CopyTrainer(config)
    start = time.perf_counter()
    st = trainer.train(out, progress=not args.quiet)
    c = trainer.config
    if st.outcome == "interrupted":
        print(f"stopped after {st.update} updates; minigrad: interrupted (continue with --resume --out {out})",
              file=sys.stderr)
        return 128 + int(trainer.stop_signal or signal.SIGINT)          # 130 Ctrl-C, 143 SIGTERM
    said = {"success": f"reached the target cost {c.target_cost:g}", "budget": "reached --max-updates",
            "time": "reached --max-minutes"}[st.outcome]
    print(f"{said} after {st.update} updates ({st.update * c.batch_size} sequences, "
          f"{time.perf_counter() - start:.0f} s); cost at lengths {c.min_length}-{c.max_length}: "
          f"{st.last_cost if st.last_cost is None else round(st.last_cost, 4)} bits per sequence")
    results = trainer.test()
    _print_tests(trainer, results)
    files = RunFiles(out)
    files.log({"update": st.update, "test": {str(k): v for k, v in results.items()}})
    figure = figure or out / "weightings.png"
    trainer.figure(figure, args.figure_length or c.max_length)
    _learning_curve(files, out / "cost.png")
    print(f"run folder {out}; figures {figure}, {out / 'cost.png'}")
    return 0
