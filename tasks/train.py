"""Training on the synthetic tasks: MSGD, MSGD-C (clipping), MSGD-CR (clipping + Omega), MSGD-R
(Omega without clipping: no clipping and no fallback, so a run whose gradients explode ends
"diverged at update N").

One update (PAPER.md, "Training"): a minibatch of 20 fresh sequences; the loss of the task's
head; BPTT; with R, ``alpha * dOmega/dW_rec`` added to W_rec's gradient; with C, the global norm
``||g||`` taken and, if NaN, Inf or above 1e10, the fallback (W_rec's gradient becomes
``0.02 W_rec``, every other gradient 0), else the gradients scaled by ``mu / ||g||`` when
``||g|| > mu``; then plain SGD.  A gated cell (``cell="lstm"``, ``"gru"``) takes Omega in its
generic form, and its fallback sets every gradient to 0 (it has no W_rec).  Everything stays on the device: the host sees numbers only when
a progress line or an evaluation is written.

Reproducible and resumable by construction: the minibatch of update ``u`` is generated from the
seed ``(seed, 0, u)`` and the test set of an evaluation from ``(seed, 1, u)``, so a run that
stops and resumes from its checkpoint sees exactly the data an uninterrupted run sees, and
writes exactly the log it would have written (the period's loss sum is carried over, not
restarted).

Updates to success are resolved to ``check_every`` updates (50 by default; the authors' code
evaluated every 20): between the evaluations every ``eval_every`` updates, a cheap check on
``check_size`` fresh sequences (seeded ``(seed, 3, u)``) runs every ``check_every`` updates;
when it is below twice the target (:meth:`Trainer._check_passes`), the full evaluation of update ``u`` (``eval_size`` sequences from
``(seed, 1, u)``, the set a periodic evaluation there would use) confirms it, and if confirmed
the run logs that evaluation and stops there with "success".  An unconfirmed check leaves no
trace, so a resumed run repeats it exactly.

Every evaluation row also holds the diagnostics of :mod:`tasks.diagnostics` (histogram of
log10 ||dE/ds_k||, tanh and gate saturation, the largest Lyapunov exponent), taken on a fixed
batch of a data stream of their own ``(seed, 5, 0)``, so they change nothing of the run;
``diagnostics=False`` leaves them out.

How a run ends is its state's ``outcome``: "success" (an evaluation below ``target_error``),
"budget" (``max_updates`` reached), "interrupted" (Ctrl-C, SIGTERM or the ``stop`` callable:
the update under way is finished and a checkpoint written; ``--resume`` continues), or
"diverged at update N: W_rec is not finite" (an update left non-finite weights: the run stops,
and checkpoint.npz keeps the last finite weights, with that outcome in its state).
"""
from __future__ import annotations

import dataclasses
import json
import signal
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

import minigrad as mg
import rnn
from rnn import regularizer

from . import diagnostics
from .runfiles import STOP_SIGNALS, RunError, RunFiles, count, natural, open_run, part, positive, require
from .synthetic import Sampler, get_task

METHODS = ("msgd", "msgd-c", "msgd-cr")    # the paper's headline three (the demo's, the sweep's default)
ALL_METHODS = METHODS + ("msgd-r",)        # and the regularizer without clipping (Figure 7's discussion)
CLIPPED = ("msgd-c", "msgd-cr")
REGULARIZED = ("msgd-cr", "msgd-r")
INIT_CHOICES = ("sigmoid", "basic-tanh", "smart-tanh", "identity", "orthogonal", "uniform")   # CLI spelling
SCHEDULES = ("constant", "inverse_time", "inverse_linear")
FALLBACK_NORM = 1e10

# Non-finite weights are looked for after every update, on the device: one bool per parameter,
# stacked (about a dozen tiny array calls, ~1.5% of an update at the paper's sizes on the CPU).
# The host reads those flags every FINITE_CHECK_EVERY updates (and at every evaluation and when
# the loop ends, where it reads values anyway), one transfer for all of them, and finds the first
# update whose weights were not finite from them: the update named is exact whatever the
# cadence.  Reading one bool per update instead would synchronize the host with the GPU after
# every update: the host could no longer queue the next update while the GPU runs this one,
# and each read pays a device-to-host round trip.  Every 10 updates keeps that cost negligible,
# while a diverged run computes at most 9 updates of NaN (milliseconds) before it stops.
FINITE_CHECK_EVERY = 10


# The paper's per-task settings (../shared/PAPER.md, "Headline numbers to reproduce",
# "Per-task settings"; temporal order from the headline T = 20 run), float32 as the paper trained
# (Theano on a GPU).  A setting the paper does not state for a task (e.g. the init of permutation)
# keeps TrainConfig's default.  Keys are task names; memorization_K_P takes "memorization"'s.
# Used by TrainConfig.for_task (the CLI, the sweep); TrainConfig(task=...) itself keeps the
# dataclass defaults (dtype None: the device's, float64 on the CPU).
_PAPER = dict(dtype="float32")
PRESETS = {
    "temporal_order": dict(hidden=50, init="smart_tanh", lr=0.01, alpha=4.0, clip=1.0, **_PAPER),
    "temporal_order_3bit": dict(hidden=100, lr=0.01, alpha=2.0, clip=1.0, **_PAPER),
    "addition": dict(hidden=50, init="basic_tanh", lr=0.01, alpha=0.5, clip=1.0, **_PAPER),
    "multiplication": dict(hidden=50, init="basic_tanh", lr=0.01, alpha=0.5, clip=1.0, **_PAPER),
    "permutation": dict(hidden=100, lr=0.001, alpha=1.0, clip=6.0, **_PAPER),
    "memorization": dict(hidden=100, lr=0.01, alpha=1.0, clip=1.0, **_PAPER),
    "memorization_extended": dict(hidden=100, lr=0.01, alpha=1.0, clip=1.0, **_PAPER),
}


CHECKPOINT_FORMAT = 1          # of a training checkpoint's metadata; another is refused, not misread


def preset(task: str) -> dict:
    """The paper's settings for ``task`` (any spelling get_task accepts); {} for none."""
    name = get_task(task).name
    if name not in PRESETS and name.startswith("memorization"):
        name = "memorization"
    return dict(PRESETS.get(name, {}))


def keep_freed_memory() -> bool:
    """Ask the C allocator (glibc's malloc) to keep freed memory for reuse instead of handing
    it back to the system; True if it could be asked.

    An update allocates and frees the same arrays every time.  By default glibc returns freed
    blocks above 128 KiB to the system, and takes fresh zeroed pages for the next allocation:
    every large temporary (the states of all steps that Omega stacks, the arrays of packed
    models) then costs a page fault per 4 KiB, every update.  Measured on 10 packed models at
    T = 50 (MSGD-CR): 22 ms per update before, 15.6 ms after.  Only the process's peak memory is
    kept; nothing else changes.  Elsewhere than glibc (macOS, musl) this does nothing."""
    global _MEMORY_KEPT
    if _MEMORY_KEPT is None:
        _MEMORY_KEPT = False
        try:
            import ctypes
            libc = ctypes.CDLL("libc.so.6")
            M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
            _MEMORY_KEPT = bool(libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) and libc.mallopt(M_MMAP_THRESHOLD, 1 << 30))
        except (OSError, AttributeError):
            pass
    return _MEMORY_KEPT


_MEMORY_KEPT = None




@dataclass
class TrainConfig:
    task: str = "temporal_order"
    length: int = 20
    max_length: int | None = None
    method: str = "msgd-cr"
    init: str = "smart_tanh"        # for cell "rnn"; gated cells have their own initialization
    cell: str = "rnn"               # "rnn" (the paper's), "lstm", "gru"
    hidden: int = 50
    lr: float = 0.01
    clip: float = 1.0
    alpha: float = 4.0
    alpha_schedule: str = "constant"
    alpha_beta: float = 2800.0
    alpha_every: int = 1            # updates per step t of the schedule (an epoch's updates: per epoch)
    alpha_delay: int = 0            # updates trained with alpha = 0 before the schedule starts at t = 1
    batch_size: int = 20
    eval_every: int = 500
    eval_size: int = 10_000
    eval_batch: int = 1000
    max_updates: int = 100_000
    target_error: float = 0.01
    check_every: int = 50           # a cheap success check every this many updates (0: none)
    check_size: int = 1000          # fresh sequences per check (a full evaluation confirms a pass)
    halve_lr: bool = False          # the paper halves on its natural tasks, not the synthetic ones
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    trace: bool = True              # run updates through mg.trace (same numbers, less Python)
    diagnostics: bool = True        # log tasks.diagnostics at every evaluation (~5% of an evaluation's time)

    @classmethod
    def for_task(cls, task: str = "temporal_order", **overrides) -> "TrainConfig":
        """A config for ``task`` with the paper's settings for it (PRESETS), then ``overrides``;
        an override of None means "not given" (the preset's value, else the default), so the
        CLI passes its arguments as they are.  The task is named as get_task names it; an unknown
        task raises ValueError.  A variable-length run (``max_length`` given) with no
        ``target_error`` stops at 0 errors, as the paper's variable-length training did (fixed
        lengths: below 1%, Figure 7's rule)."""
        given = {k: v for k, v in overrides.items() if v is not None}
        if given.get("max_length") and "target_error" not in given:
            given["target_error"] = 0.0
        return cls(task=get_task(task).name, **{**preset(task), **given})

    def validate(self) -> "TrainConfig":
        task = get_task(self.task)                              # raises on an unknown task
        self.task = task.name
        if self.dtype not in (None, "float32", "float64"):
            raise RunError(f"unknown dtype {self.dtype!r}: choose float32 or float64")
        if self.method not in ALL_METHODS:
            raise RunError(f"unknown method {self.method!r}: choose one of {', '.join(ALL_METHODS)}")
        if self.init not in rnn.init.INITS:
            raise RunError(f"unknown init {self.init!r}: choose one of {', '.join(rnn.init.INITS)}")
        if self.cell not in rnn.CELLS:
            raise RunError(f"unknown cell {self.cell!r}: choose one of {', '.join(rnn.CELLS)}")
        if self.alpha_schedule not in SCHEDULES:
            raise RunError(f"unknown alpha schedule {self.alpha_schedule!r}: choose one of {', '.join(SCHEDULES)}")
        if self.length < task.min_length:
            raise RunError(f"{task.name}: --length must be at least {task.min_length}, got {self.length}")
        if self.max_length is not None and self.max_length <= self.length:
            raise RunError(f"--max-length ({self.max_length}) must exceed --length ({self.length}): lengths are drawn from [length, max-length)")
        require(self, ("alpha_delay",), natural, "0 or more")
        require(self, ("hidden", "batch_size", "eval_every", "eval_size", "eval_batch", "max_updates", "alpha_every"),
                count, "at least 1")
        if self.check_every < 0 or (self.check_every and self.check_size < 1):
            raise RunError(f"check_every must be 0 (no checks) or more, and check_size positive, "
                           f"got {self.check_every} and {self.check_size}")
        require(self, ("lr", "clip"), positive, "a positive number")
        if not (isinstance(self.alpha, (int, float)) and 0 <= self.alpha < float("inf")):
            raise RunError(f"--alpha must be 0 or more, got {self.alpha}")
        if not (isinstance(self.target_error, (int, float)) and 0 <= self.target_error < 1):
            raise RunError(f"--target-error is a fraction of sequences, from 0 to 1 (0.01 is 1%), "
                           f"got {self.target_error}")
        mg.get_backend(self.device)                            # raises BackendError on a bad device
        return self


def outputs_at_ends(model, batch):
    """The outputs of a :class:`rnn.SequenceModel` for ``batch``, each sequence's read where it
    ends: for a batch of one length, ``model(inputs)``; for a padded test batch
    (``batch.groups``) of a last-step head, the head of each sequence's own last state,
    ``(B, n_out)``; of an every-step head, the outputs at every step ``(l, B, n_out)``, padding
    included (:func:`count_wrong` reads each group's own steps)."""
    if batch.groups is None or model.head.kind == "every_softmax":
        return model(batch.inputs)
    _, runs = model.run(batch.inputs)
    hiddens = runs[-1].hiddens[1:]                              # h_1 .. h_l
    return model.head([mg.cat([hiddens[L - 1][a:b] for a, b, L in batch.groups])])


def count_wrong(task, model, batch):
    """The number of sequences of ``batch`` wrong by ``task.wrong``, a float64 device scalar."""
    outputs = outputs_at_ends(model, batch)
    if batch.groups is None or task.head != "every_softmax":
        return task.wrong(outputs, batch.targets).astype(np.float64).sum()
    counts = [task.wrong(outputs[:L, a:b], batch.targets[:L, a:b]).astype(np.float64).sum()
              for a, b, L in batch.groups]
    return sum(counts[1:], counts[0])


def training_lengths(config: TrainConfig) -> range:
    """Every length a training minibatch of ``config`` can have: the nominal lengths (``length``,
    or ``[length, max_length)``), each with the task's jitter (addition and multiplication:
    ``T + U{0..floor(0.1 T)-1}``, so 50..200 gives 50..219).  For memorization a length is the
    gap T (the sequences are T + 2P steps).  Each nominal T gives a range starting at T, and the
    nominal lengths are consecutive, so together they are one range: from the first length to
    the furthest end (the jitter only grows with T), without listing them."""
    task = get_task(config.task)
    last = config.length if config.max_length is None else config.max_length - 1
    return range(config.length, max(task.lengths(config.length).stop, task.lengths(last).stop))


@dataclass
class RunState:
    """Everything besides the weights that a resumed run needs to continue identically."""

    update: int = 0
    lr: float = 0.0
    last_error: float | None = None
    best_error: float | None = None
    done: bool = False
    loss_sum: float = 0.0           # this evaluation period's loss sum so far (carried on in order on resume)
    clipped: int = 0
    fallbacks: int = 0
    history: list = field(default_factory=list)
    outcome: str | None = None      # None while running; "success", "budget", "interrupted", "diverged at update N: ..."


def diverged(outcome) -> bool:
    """Whether a run's ``outcome`` says its weights stopped being finite."""
    return isinstance(outcome, str) and outcome.startswith("diverged")


class Trainer:
    def __init__(self, config: TrainConfig):
        self.config = config.validate()
        c = config
        keep_freed_memory()
        self.task = get_task(c.task)
        self.model = rnn.SequenceModel(self.task.n_in, c.hidden, self.task.n_out, cell=c.cell, head=self.task.head,
                                       init=c.init, seed=c.seed, dtype=c.dtype, device=c.device)
        self.params = self.model.parameters()
        self.cell = self.model.cell
        self.state = RunState(lr=c.lr)
        self.opt = mg.SGD(self.params, lr=c.lr)
        self.alpha = {"constant": regularizer.constant(c.alpha),
                      "inverse_time": regularizer.inverse_time(c.alpha),
                      "inverse_linear": regularizer.inverse_linear(c.alpha, c.alpha_beta)}[c.alpha_schedule]
        self.closed_form = isinstance(self.cell, rnn.RNNCell) and self.cell.leak is None
        self._stop_requested = False
        self.stop_signal = None                 # the signal that stopped the run (SIGINT, SIGTERM), if one did
        self.last = {}
        # One traced program per sequence length met (lengths vary per minibatch on some tasks):
        # room for every length training can meet, the arithmetic tasks' jitter included (a
        # program evicted and traced again costs about ten updates).
        lengths = len(self.training_lengths())
        self._gradients = mg.trace(self.gradients, max_programs=max(64, lengths)) if c.trace else self.gradients

    def training_lengths(self) -> range:
        """:func:`training_lengths` of this run."""
        return training_lengths(self.config)

    # ----------------------------------------------------------------- data
    TRAIN, EVAL, CHECK = 0, 1, 3                # streams of data, each seeded (seed, stream, update)
                                                # (2 is `minigrad evaluate`'s, 5 the diagnostics')

    def _sampler(self, *key):
        c = self.config
        return Sampler(self.task, c.length, c.max_length, device=c.device, seed=(c.seed,) + key, dtype=c.dtype)

    # ----------------------------------------------------------------- one update
    def update(self):
        """One SGD update; returns device tensors (loss, grad norm, clipped, fallback, omega)."""
        c, st = self.config, self.state
        batch = self._sampler(self.TRAIN, st.update).batch(c.batch_size)
        alpha = None
        if c.method in REGULARIZED:              # a tensor: a new value needs no new trace
            alpha = mg.tensor(self.alpha_at(st.update + 1), dtype=self.params[0].dtype, device=c.device)
        result = self._gradients(self.model, batch.inputs, batch.targets, alpha, c.method, c.clip)
        self.opt.lr = st.lr
        self.opt.step()
        self.opt.zero_grad()
        return result

    def alpha_at(self, update: int) -> float:
        """The weight of Omega at update ``update`` (1, 2, ...): 0 during the first
        ``alpha_delay`` updates, then the schedule at t = 1, 2, ..., t advancing every
        ``alpha_every`` updates (1: per update, as the paper's character-level schedule; the
        number of updates in an epoch: per epoch, as its music schedules ``alpha_0 / t``)."""
        c = self.config
        if update <= c.alpha_delay:
            return 0.0
        return float(self.alpha((update - c.alpha_delay - 1) // c.alpha_every + 1))

    def gradients(self, model, inputs, targets, alpha, method, clip):
        """Loss, gradients (into ``.grad``), Omega and clipping of one minibatch: the part of an
        update that ``mg.trace`` replays.  Returns (loss, grad norm, clipped, fallback, omega).
        What it depends on comes in as arguments, so that a change means a new trace."""
        outputs, runs = model.run(inputs)
        loss = model.head.loss(outputs, targets)
        omega = None
        if method in REGULARIZED:
            grads, deltas = regularizer.state_gradients(loss, runs[0], self.params)
            if self.closed_form:
                omega, d_omega = regularizer.omega_closed_form(self.cell.W_rec, runs[0].hiddens[1:], deltas,
                                                               self.cell.activation)
                extra = {id(self.cell.W_rec): d_omega}
            else:
                omega_t = regularizer.omega_generic(self.cell, inputs, runs[0], deltas)
                cell_params = self.cell.parameters()
                got = mg.grad(omega_t, cell_params, allow_unused=True)
                extra = {id(p): g for p, g in zip(cell_params, got) if g is not None}
                omega = omega_t.detach()
            for p, g in zip(self.params, grads):
                p.grad = g + alpha * extra[id(p)] if id(p) in extra else g
        else:
            loss.backward()
        norm = mg.grad_norm(self.params)
        clipped = fallback = None
        if method in CLIPPED:                   # msgd-r: no clipping, no fallback
            clipped, fallback = self._clip(norm, clip)
        return loss.detach(), norm, clipped, fallback, omega

    def _clip(self, norm, clip):
        """The paper's clipping with its fallback, on the device (no value comes to the host)."""
        n = norm.data
        xp = norm.backend
        bad = ~xp.isfinite(n) | (n > FALLBACK_NORM)
        scale, clipped = mg.optim.clip_scale(norm, clip)
        clipped = clipped & ~bad
        W_rec = getattr(self.cell, "W_rec", None)
        for p in self.params:
            if p.grad is None:                  # a parameter the loss does not reach
                continue
            fallback = 0.02 * p.data if p is W_rec else xp.zeros_like(p.data)
            p.grad = mg.Tensor(xp.where(bad, fallback, p.grad.data * scale), device=p.device)
        return mg.Tensor(clipped, device=norm.device), mg.Tensor(bad, device=norm.device)

    # ----------------------------------------------------------------- evaluation
    def evaluate(self, length: int | None = None, size: int | None = None, key=(1, 0), done=None):
        """Fraction of ``size`` fresh sequences that are wrong by the paper's criterion, at
        ``length`` if given, else at the training lengths, in batches of ``eval_batch``.  Where
        lengths vary (``max_length``, the arithmetic tasks' jitter) each sequence has its own
        (:meth:`Sampler.test_batch`), so every length is tested: stricter than the authors' code,
        which tests one length per minibatch as in training (10 of 151 lengths in 10 batches).
        ``done(n)``, if given, is called after each batch with its number of sequences (a progress bar)."""
        c = self.config
        size = size or c.eval_size
        sampler = self._sampler(*key)
        lengths = sampler.test_lengths(size, length) if sampler.varies(length) else None
        wrong = None
        with mg.no_grad():
            for start in range(0, size, c.eval_batch):
                n = min(c.eval_batch, size - start)
                chunk = None if lengths is None else lengths[start:start + n]      # neighbouring lengths
                w = count_wrong(self.task, self.model, sampler.test_batch(n, length, chunk))
                wrong = w if wrong is None else wrong + w
                if done is not None:
                    done(n)
        return wrong.item() / size

    # ----------------------------------------------------------------- the loop
    def request_stop(self, signum=None, frame=None):
        """Stop at the end of the update under way (the SIGINT and SIGTERM handler)."""
        self._stop_requested = True
        if signum is not None and self.stop_signal is None:
            self.stop_signal = signum

    @property
    def exit_status(self) -> int:
        """What a command running this trainer should exit with, by ``state.outcome``: 0 for
        "success" and "budget", 1 for a divergence, 128 + the signal number for a run stopped
        by one (130 Ctrl-C, 143 SIGTERM; 130 for ``stop`` or :meth:`request_stop`)."""
        outcome = self.state.outcome
        if diverged(outcome):
            return 1
        if outcome == "interrupted":
            return 128 + int(self.stop_signal or signal.SIGINT)
        return 0

    def train(self, out: Path | None = None, progress: bool = True, stop=None) -> RunState:
        """Run until success, ``max_updates``, non-finite weights, Ctrl-C or SIGTERM (in the main
        thread), or ``stop()`` returning True (polled after every update); with ``out``, log and
        checkpoint there.  Returns the state, its ``outcome`` set.  A state that diverged is
        returned as it is (its weights are not finite: there is nothing to continue)."""
        c, st = self.config, self.state
        if diverged(st.outcome):
            return st
        if not st.done:
            st.outcome = None                   # an interrupted or budget-limited run continues
        logger = RunFiles(out) if out else None
        start_weights = None                    # what a divergence before any checkpoint keeps
        if logger and not logger.checkpoint_path.exists():
            start_weights = (replace(st, history=list(st.history)), [p.data.copy() for p in self.params])
        bar = None
        if progress:
            from tqdm import tqdm
            bar = tqdm(total=c.max_updates, initial=st.update, unit="upd", desc=f"{c.task} T={c.length} {c.method}")
        previous = {}
        for sig in STOP_SIGNALS:
            try:
                previous[sig] = signal.signal(sig, self.request_stop)
            except ValueError:                  # not the main thread: no handler (``stop`` is the way)
                break
        start = time.perf_counter()
        # The period's loss sum: continued from the checkpoint's partial sum, in the same order
        # as an uninterrupted run adds it (a fresh sum added to it would round differently).
        carry = st.loss_sum if st.update % c.eval_every else None
        loss_sum = clipped = fallbacks = None
        norms, norms_from = [], st.update       # gradient norms of updates norms_from+1..., on the device
        flags, flags_from = [], st.update       # per-update finiteness flags not yet read
        bad = None
        try:
            with np.errstate(over="ignore", invalid="ignore"):     # divergence is reported below
                while not st.done and st.update < c.max_updates and not self._stop_requested:
                    loss, norm, was_clipped, fell_back, omega = self.update()
                    st.update += 1
                    flags.append(self._finite_flags())
                    if loss_sum is None:
                        loss_sum = loss if carry is None else mg.tensor(carry, dtype=loss.dtype, device=loss.device) + loss
                        carry = None
                    else:
                        loss_sum = loss_sum + loss
                    if was_clipped is not None:
                        clipped = was_clipped.astype(np.float64) if clipped is None else clipped + was_clipped.astype(np.float64)
                        fallbacks = fell_back.astype(np.float64) if fallbacks is None else fallbacks + fell_back.astype(np.float64)
                    self.last = {"norm": norm, "omega": omega}
                    norms.append(norm)
                    evaluation = st.update % c.eval_every == 0
                    check = not evaluation and c.check_every > 0 and st.update % c.check_every == 0
                    if evaluation or check or st.update % FINITE_CHECK_EVERY == 0:
                        bad = self._first_non_finite(flags, flags_from)
                        flags, flags_from = [], st.update
                        if bad:
                            break
                    if bar is not None:
                        bar.update(1)
                        if st.update % 50 == 0:
                            bar.set_postfix(loss=f"{loss.item():.4f}", grad_norm=f"{norm.item():.3g}",
                                            error="-" if st.last_error is None else f"{st.last_error:.2%}")
                    confirmed = None            # a check passed and the full evaluation agreed: its error
                    if check and self._check_passes(self.evaluate(size=c.check_size, key=(self.CHECK, st.update))):
                        error = self.evaluate(key=(self.EVAL, st.update))
                        if self._below_target(error):
                            evaluation, confirmed = True, error
                    if evaluation:
                        st.loss_sum = loss_sum.item()
                        st.clipped += 0 if clipped is None else int(clipped.item())
                        st.fallbacks += 0 if fallbacks is None else int(fallbacks.item())
                        loss_sum = clipped = fallbacks = None
                        previous_best = st.best_error
                        row = self._evaluation_row(time.perf_counter() - start, confirmed)
                        if st.done:
                            st.outcome = "success"
                        elif st.update >= c.max_updates:
                            st.outcome = "budget"
                        if bar is not None:
                            bar.set_postfix(loss=f"{row['loss']:.4f}", grad_norm=f"{row['grad_norm']:.3g}",
                                            error=f"{row['error']:.2%}")
                        if logger:
                            logger.append_norms(norms)
                            logger.log(row)
                            logger.checkpoint(self)
                            if previous_best is None or st.last_error < previous_best:
                                logger.keep_copy("best.npz")
                            logger.snapshot(self)
                            logger.plot()
                        norms, norms_from = [], st.update
                    if stop is not None and not self._stop_requested and stop():
                        self._stop_requested = True
                if bad is None:
                    bad = self._first_non_finite(flags, flags_from)      # the updates since the last read
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
            if bar is not None:
                bar.close()
        if bad:
            self._diverged(*bad, logger, norms[: bad[0] - norms_from], time.perf_counter() - start, start_weights)
            return st
        final = None
        if loss_sum is not None:                 # stopped between evaluations: keep the sums
            st.loss_sum = loss_sum.item()
            st.clipped += 0 if clipped is None else int(clipped.item())
            st.fallbacks += 0 if fallbacks is None else int(fallbacks.item())
            if st.outcome is None and not st.done and st.update >= c.max_updates:
                final = self._final_evaluation(time.perf_counter() - start)
                if bar is not None:
                    bar.set_postfix(error=f"{st.last_error:.2%}")
        if st.outcome is None:
            st.outcome = ("success" if st.done else "budget" if st.update >= c.max_updates else "interrupted")
        if logger:
            logger.append_norms(norms)
            if final is not None:
                logger.log(final[0])
            logger.checkpoint(self)
            if final is not None and st.done and (final[1] is None or st.last_error < final[1]):
                logger.keep_copy("best.npz")
            logger.plot(force=True)
        return st

    def _final_evaluation(self, elapsed, error=None):
        """The budget ran out between evaluations: evaluate the final model (the test set of its
        update, as a periodic evaluation there would draw it), so that the error reported and
        logged is the last update's, not the last evaluation's (``error``: that evaluation, done
        already by a pack).  Returns (the log row, the best error before it).

        The period's sums (loss, clipped, fallbacks) and the learning rate are kept as they were.
        Below the target it is a success as at any evaluation; otherwise ("budget") it leaves
        ``best_error`` and best.npz to the periodic evaluations, and its row and history entry
        are marked ``"final": true``: a run resumed with a larger --max-updates forgets it
        (:meth:`_undo_final_evaluation`, its row dropped) and goes on exactly as an
        uninterrupted run, log included."""
        st = self.state
        previous_best = st.best_error
        kept = (st.lr, st.loss_sum, st.clipped, st.fallbacks)
        row = self._evaluation_row(elapsed, error)
        st.lr, st.loss_sum, st.clipped, st.fallbacks = kept
        if not st.done:                         # "budget": undone if the run is resumed with more
            st.best_error = previous_best
            st.history[-1]["final"] = row["final"] = True
        return row, previous_best

    def _undo_final_evaluation(self) -> bool:
        """Resumed with a larger budget past a final evaluation (:meth:`_final_evaluation`) that
        did not succeed: forget it (its history entry, and ``last_error`` back to the last
        periodic evaluation's), so that the run goes on exactly as an uninterrupted one.  True
        if there was one (its log row is to be dropped too)."""
        st = self.state
        if st.done or not st.history or not st.history[-1].get("final") or st.update >= self.config.max_updates:
            return False
        st.history.pop()
        st.last_error = st.history[-1]["error"] if st.history else None
        return True

    def _finite_flags(self):
        """Whether each parameter is finite now: a bool array on the device (nothing is read)."""
        xp = self.params[0].backend.xp
        return xp.stack([xp.isfinite(p.data).all() for p in self.params])

    def _first_non_finite(self, flags, first):
        """Read the flags of updates ``first + 1, first + 2...`` (one transfer); the first update
        that left a parameter non-finite and those parameters' names, or None."""
        if not flags:
            return None
        backend = self.params[0].backend
        table = backend.to_host(backend.xp.stack(flags))
        ok = table.all(axis=1)
        if ok.all():
            return None
        i = int(np.argmin(ok))
        names = [p.name for p in self.params]
        if None in names or len(set(names)) < len(names):
            names = [name for name, _ in self.model.named_parameters()]
        return first + i + 1, [name for name, f in zip(names, table[i]) if not f]

    def _diverged(self, update, names, logger, norms, elapsed, start_weights):
        """Stop for non-finite weights: state, log row and checkpoint say so; the weights on
        disk stay the last finite ones (those at the start if no checkpoint was written yet)."""
        st = self.state
        what = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        st.update = update
        st.outcome = f"diverged at update {update}: {what} {'is' if len(names) == 1 else 'are'} not finite"
        if not logger:
            return

        def start_checkpoint():
            state, weights = start_weights
            arrays = {f"model.{name}": p.backend.to_host(w)
                      for (name, p), w in zip(self.model.named_parameters(), weights)}
            return {**arrays, "meta": self._meta(state)}
        logger.append_norms(norms)
        logger.log({"update": update, "outcome": st.outcome, "wall_time": elapsed})
        logger.record_outcome(st.outcome, start_checkpoint if start_weights else None)
        logger.plot(force=True)

    def _below_target(self, error) -> bool:
        """The paper's success: fewer than ``target_error`` wrong (0 errors when it is 0)."""
        target = self.config.target_error
        return error < target or (target == 0 and error == 0)

    CHECK_MARGIN = 2.0

    def _check_passes(self, error) -> bool:
        """Whether a cheap check (``check_size`` sequences) calls for the full evaluation: an
        error below ``CHECK_MARGIN`` x the target (0 errors when the target is 0).  The full
        evaluation still decides.  With the target itself as the bar, a model 0.9% wrong would
        fail a 1,000-sequence check 41% of the time (9 expected errors, 10 or more seen) and its
        success be noticed 50 updates late or more; below 2%, it fails it 0.04% of the time
        (20 or more of Binomial(1000, 0.009))."""
        return self._below_target(error / self.CHECK_MARGIN)

    def _evaluation_row(self, elapsed, error=None):
        """Evaluate (unless ``error``, a confirmed check's evaluation, is given) and log."""
        c, st = self.config, self.state
        if error is None:
            error = self.evaluate(key=(self.EVAL, st.update))
        if c.halve_lr and st.last_error is not None and error > st.last_error:
            st.lr /= 2
        st.last_error = error
        st.best_error = error if st.best_error is None else min(st.best_error, error)
        if self._below_target(error):
            st.done = True
        period = st.update % c.eval_every or c.eval_every      # shorter when a check ended the run
        row = {"update": st.update, "loss": st.loss_sum / period, "error": error,
               "grad_norm": self.last["norm"].item(), "clipped": st.clipped, "fallbacks": st.fallbacks,
               "omega": None if self.last["omega"] is None else self.last["omega"].item(),
               "spectral_radius": rnn.spectral_radius(self.cell.W_rec.numpy()) if hasattr(self.cell, "W_rec") else None}
        if c.diagnostics:
            row.update(self.diagnostics())
        row.update(lr=st.lr, wall_time=elapsed)
        st.loss_sum, st.clipped, st.fallbacks = 0.0, 0, 0
        st.history.append({k: row[k] for k in ("update", "error")})
        return row

    def diagnostics(self) -> dict:
        """:func:`tasks.diagnostics.compute` of the model now, on the diagnostic batch: the same
        ``batch_size`` sequences at every evaluation, from a stream of their own
        (``(seed, 5, 0)``), so that no training, evaluation or check data is drawn."""
        batch = self._sampler(diagnostics.STREAM, 0).batch(self.config.batch_size)
        return diagnostics.compute(self.model, batch.inputs, batch.targets)

    # ----------------------------------------------------------------- checkpoints
    def state_arrays(self) -> dict:
        arrays = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        arrays["meta"] = self._meta(self.state)
        return arrays

    def _meta(self, state):
        return np.array(json.dumps({"config": asdict(self.config), "state": asdict(state),
                                    "format": CHECKPOINT_FORMAT}))

    @classmethod
    def from_checkpoint(cls, path, config: TrainConfig | None = None) -> "Trainer":
        arrays = mg.load(path)
        if "meta" not in arrays:
            raise mg.CheckpointError(f"{path}: not a minigrad training checkpoint (no run metadata)")
        try:
            meta = json.loads(str(arrays["meta"]))
            version = meta.get("format", CHECKPOINT_FORMAT)
        except (ValueError, AttributeError) as e:
            raise mg.CheckpointError(f"{path}: unreadable run metadata ({e})") from e
        if version != CHECKPOINT_FORMAT:                        # a layout this code would misread
            raise mg.CheckpointError(f"{path}: checkpoint format {version!r}, written by another version of "
                                     f"minigrad; this one reads format {CHECKPOINT_FORMAT}")
        try:
            saved = TrainConfig(**meta["config"])
            state = RunState(**meta["state"])
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise mg.CheckpointError(f"{path}: unreadable run metadata ({e})") from e
        if config is not None:
            fixed = ("task", "cell", "hidden", "init", "method", "seed", "length", "max_length", "batch_size", "eval_every")
            diff = [f"{k}: checkpoint {getattr(saved, k)!r}, asked {getattr(config, k)!r}"
                    for k in fixed if getattr(saved, k) != getattr(config, k)]
            if diff:
                raise RunError(f"{path} is from another run: " + "; ".join(diff))
            saved.max_updates, saved.device, saved.trace = config.max_updates, config.device, config.trace
            saved.diagnostics = config.diagnostics
        trainer = cls(saved)
        trainer.model.load_state_dict(part(arrays, "model"))
        trainer.state = state
        return trainer


# What a resumed run may be given anew: a budget (--max-updates: raised to train on, or lowered
# down to the updates done), where it runs (--device: a checkpoint moves between devices, with
# the numbers of that device), and two switches that change no number (--no-trace replays
# nothing, --no-diagnostics logs less).  Every other setting is the run's own: changed, the run
# would no longer be the one its log and checkpoint describe.
RESUME_MAY_CHANGE = ("max_updates", "device", "trace", "diagnostics")


def check_resume_settings(path, config: TrainConfig, given: dict) -> None:
    """Refuse, in one line, a resume whose explicitly given settings (``given``: {TrainConfig
    field: the flag that gave it}) differ from the checkpoint's run, except
    :data:`RESUME_MAY_CHANGE`; and a --max-updates below the updates already done."""
    arrays = mg.load(path)
    try:
        meta = json.loads(str(arrays["meta"]))
        saved, state = meta["config"], meta["state"]
    except (KeyError, ValueError, TypeError):
        return                                  # from_checkpoint says what is wrong with it
    for name, flag in given.items():
        if name in RESUME_MAY_CHANGE or name not in saved:
            continue
        asked, kept = getattr(config, name), saved[name]
        if asked != kept:
            shown = lambda v: str(v).replace("_", "-") if name == "init" else v      # noqa: E731
            raise RunError(f"--resume: {flag} {shown(asked)} differs from the run's {shown(kept)} in {Path(path).parent}: "
                           f"a resumed run keeps its settings (only --max-updates, --device, --no-trace and "
                           f"--no-diagnostics may change); leave {flag} out, or start a new run (--force or "
                           f"another --out)")
    done = int(state.get("update", 0))
    if "max_updates" in given and config.max_updates < done and not state.get("done"):
        raise RunError(f"--resume: --max-updates {config.max_updates} is below the {done} updates the run in "
                       f"{Path(path).parent} has done: give {done} or more")


def resumed_config(path, config: TrainConfig, given: dict) -> TrainConfig:
    """The config of a run resumed from ``path``: the run's own settings, except those given
    on the command line (``given``, checked by :func:`check_resume_settings` first), so that a
    bare ``--resume`` continues the run as it was (its budget included), not with defaults."""
    try:
        saved = json.loads(str(mg.load(path)["meta"]))["config"]
    except (KeyError, ValueError, TypeError):
        return config                           # from_checkpoint says what is wrong with it
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    keep = fields - set(given) - {"task"}     # the task is typed every time: from_checkpoint compares it
    return dataclasses.replace(config, **{k: v for k, v in saved.items() if k in keep})


def restore_copies(files: RunFiles, trainer: Trainer) -> None:
    """A run killed after writing checkpoint.npz but before copying it to best.npz or to its
    snapshot left that copy stale (or missing): make it before resuming.  best.npz is the
    checkpoint of the first evaluation with the fewest errors (a "final" one that did not
    succeed does not count, as in :meth:`Trainer._final_evaluation`)."""
    st, best, best_update = trainer.state, None, None
    for entry in st.history:
        if not entry.get("final") and (best is None or entry["error"] < best):
            best, best_update = entry["error"], entry["update"]
    if best_update is not None:
        files.restore_copy("best.npz", best_update)
    periods = st.update // trainer.config.eval_every
    if st.history and st.history[-1]["update"] == st.update and periods >= 1 and periods & (periods - 1) == 0:
        files.restore_copy(f"snapshots/checkpoint_{st.update:08d}.npz", st.update)


def prepare_run(out, config: TrainConfig, resume: bool = False, force: bool = False) -> Trainer:
    """A Trainer for ``out``: new (refusing a folder that holds a run, unless ``force``) or
    resumed from its checkpoint (``resume``)."""
    made = ("checkpoint.npz", "best.npz", "log.jsonl", "config.json", "grad_norms.f32", "grad_norms.png")
    checkpoint = open_run(out, resume, force, made)
    if checkpoint is not None:
        trainer = Trainer.from_checkpoint(checkpoint, config)
        st = trainer.state
        if diverged(st.outcome):
            raise RunError(f"--resume: the run in {out} {st.outcome}; its checkpoint (update {st.update}) "
                           "would diverge again, identically: start over with --force and other settings")
        files = RunFiles(out)
        files.trim_log(st.update - 1 if trainer._undo_final_evaluation() else st.update)
        files.truncate_norms(st.update)
        restore_copies(files, trainer)
        return trainer
    for old in (Path(out) / "snapshots").glob("checkpoint_*.npz"):
        old.unlink()
    return Trainer(config)
