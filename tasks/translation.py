"""A synthetic translation task for the attention model of :mod:`rnn.attention`, and its training
loop (``minigrad translate``).

The task: a digit string of length 1..L goes in, another comes out.

* ``reverse``: the string backwards, ``3 1 4 -> 4 1 3`` (the alignment is the anti-diagonal);
* ``sort``: the digits in increasing order, ``3 1 4 -> 1 3 4`` (each output looks for the
  next-smallest digit wherever it is: the alignment is a permutation).

Vocabulary (source and target alike): PAD = 0, BOS = 1, EOS = 2, digit d = d + 3.  A batch is
time-major and padded to L: ``source`` (L, B); ``targets`` (L + 1, B): the answer, EOS, then
PAD; ``target_in`` (L + 1, B): BOS, then ``targets`` but the last (teacher forcing).  Batches
are generated on the device from a seeded generator of its backend; the batch of update ``u``
comes from the seed ``(seed, 0, u)`` and the evaluation set of update ``u`` from ``(seed, 1, u)``
(as in :mod:`tasks.train`), so a resumed run sees exactly the data of an uninterrupted one.

The model's attention is Bahdanau's additive one by default; ``--score dot`` or ``scaled_dot``
scores by dot products of projections (:class:`rnn.attention.DotProductAttention`).

Training: SGD with momentum, the gradient's global norm clipped at ``clip``; every
``eval_every`` updates, the sequence accuracy of greedy decoding on ``eval_size`` fresh strings
(a string counts as right only if every output token up to and including EOS is right).  The
run stops at ``target_accuracy`` ("success"), at ``max_updates`` ("budget"), on Ctrl-C
("interrupted", resumable with ``--resume``), or when the loss is no longer finite ("diverged").
``--resume`` continues with the run's own settings: of those given with it, only --max-updates,
--target-accuracy and --device may differ.  ``--heatmaps CHECKPOINT`` only draws; a training
setting given with it that differs from the checkpoint's is refused rather than ignored.
The run folder holds ``config.json``, ``log.jsonl`` (one row per evaluation), ``checkpoint.npz``,
``curve.png`` (loss and accuracy) and ``attention.png`` (heat maps of a few examples).
"""
from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np

import minigrad as mg
from rnn.attention import SCORES, Seq2Seq

from .natural import require_checkpoint_of
from .runfiles import (STOP_SIGNALS, RunError, RunFiles, check_out_file, count, open_run, part, positive,
                       read_run_checkpoint, refuse_another_commands_run, require, require_finite, seed_value)

PAD, BOS, EOS, FIRST_DIGIT = 0, 1, 2, 3
EVAL_CHUNK = 4096          # strings decoded at once in an evaluation (--eval-size may be larger)
VOCABULARY = FIRST_DIGIT + 10
TASKS = ("reverse", "sort")
TRAIN, EVAL, EXAMPLES = 0, 1, 2                 # data streams, each seeded (seed, stream, update)


def token_name(token: int) -> str:
    return {PAD: "·", BOS: "<s>", EOS: "</s>"}.get(int(token), str(int(token) - FIRST_DIGIT))


# ----------------------------------------------------------------------------- data
@dataclass
class TranslationBatch:
    source: mg.Tensor        # (L, B) int64, PAD after each string's end
    target_in: mg.Tensor     # (L + 1, B) BOS, then the targets shifted by one
    targets: mg.Tensor       # (L + 1, B) the answer, EOS, PAD...


def seed_of(*key) -> int:
    """One integer seed from a tuple such as (run seed, stream, update)."""
    return int(np.random.SeedSequence(list(key)).generate_state(1)[0])


def make_batch(task: str, size: int, max_length: int, seed, device=None) -> TranslationBatch:
    """``size`` strings of lengths drawn uniformly from 1..``max_length``, generated on the device."""
    if task not in TASKS:
        raise ValueError(f"unknown translation task {task!r}: choose one of {', '.join(TASKS)}")
    backend = mg.get_backend(device)
    xp, rng = backend, backend.rng(seed_of(*seed) if isinstance(seed, tuple) else seed)
    L = max_length
    lengths = rng.integers(1, L + 1, size)                         # (B,)
    digits = rng.integers(0, 10, (L, size))                        # (L, B)
    position = xp.arange(L)[:, None]                               # (L, 1)
    real = position < lengths[None, :]                             # (L, B): inside the string
    if task == "reverse":                                          # output i is input length-1-i
        answer = xp.take_along_axis(digits, xp.clip(lengths[None, :] - 1 - position, 0, L - 1), axis=0)
    else:                                                          # padding (10) sorts after the digits
        answer = xp.sort(xp.where(real, digits, 10), axis=0)
    source = xp.where(real, digits + FIRST_DIGIT, PAD)
    targets = xp.concatenate([xp.where(real, answer + FIRST_DIGIT, PAD), xp.full((1, size), PAD)], axis=0)
    targets[lengths, xp.arange(size)] = EOS                        # EOS right after each answer
    target_in = xp.concatenate([xp.full((1, size), BOS), targets[:-1]], axis=0)
    as_tensor = lambda a: mg.tensor(a.astype(np.int64), device=backend.device)  # noqa: E731
    return TranslationBatch(as_tensor(source), as_tensor(target_in), as_tensor(targets))


def sequence_accuracy(tokens, targets) -> float:
    """The fraction of strings whose decoded tokens equal the targets at every position up to
    and including the EOS (what follows the EOS, where the targets are PAD, is not looked at).
    ``tokens`` and ``targets`` (T, B); one number comes back from the device."""
    xp = targets.backend
    right = xp.logical_or(tokens.data == targets.data, targets.data == PAD).all(axis=0)
    return float(xp.to_host(right.mean()))


# ----------------------------------------------------------------------------- training
@dataclass
class TranslateConfig:
    task: str = "reverse"
    max_length: int = 10
    cell: str = "gru"
    bidirectional: bool = True
    embed: int = 16
    hidden: int = 32
    attention: int = 32
    score: str = "additive"                     # the attention's score: additive, dot or scaled_dot
    batch_size: int = 32
    lr: float = 0.1
    momentum: float = 0.9
    clip: float = 1.0
    max_updates: int = 20_000
    eval_every: int = 200
    eval_size: int = 500
    target_accuracy: float = 0.99
    seed: int = 0
    device: str | None = None
    dtype: str | None = None

    # settings a resumed run may change (the rest define the run)
    CHANGEABLE = ("max_updates", "target_accuracy", "device")

    def validate(self) -> "TranslateConfig":
        if self.task not in TASKS:
            raise RunError(f"unknown translation task {self.task!r}: choose one of {', '.join(TASKS)}")
        if self.cell not in ("gru", "lstm"):
            raise RunError(f"unknown encoder cell {self.cell!r}: choose gru or lstm")
        if self.score not in SCORES:
            raise RunError(f"unknown attention score {self.score!r}: choose one of {', '.join(SCORES)}")
        if self.dtype not in (None, "float32", "float64"):
            raise RunError(f"unknown dtype {self.dtype!r}: choose float32 or float64")
        if not 1 <= self.max_length <= 100:
            raise RunError(f"--max-length must be from 1 to 100 digits, got {self.max_length}")
        require(self, ("embed", "hidden", "attention", "batch_size", "max_updates", "eval_every", "eval_size"),
                count, "at least 1")
        require(self, ("lr", "clip"), positive, "a positive number")
        if not 0 <= self.momentum < 1:
            raise RunError(f"--momentum must be in [0, 1), got {self.momentum}")
        require(self, ("seed",), seed_value, "an integer from 0 to 2^63 - 1")
        if not 0 < self.target_accuracy <= 1:
            raise RunError(f"--target-accuracy is a fraction of strings, in (0, 1] (0.99 is 99%), "
                           f"got {self.target_accuracy}")
        mg.get_backend(self.device)                  # raises BackendError on an unknown device
        return self


@dataclass
class TranslateState:
    update: int = 0
    period_losses: list = field(default_factory=list)   # this evaluation period's losses so far
    accuracy: float | None = None
    wall_time: float = 0.0
    outcome: str | None = None    # "success", "budget", "interrupted", "diverged at update N"


class Translator:
    """A model, its optimizer and the run's state; ``train(out)`` runs until an outcome."""

    def __init__(self, config: TranslateConfig):
        self.config = c = config.validate()
        self.model = Seq2Seq(VOCABULARY, VOCABULARY, c.embed, c.hidden, c.attention, cell=c.cell,
                             bidirectional=c.bidirectional, pad=PAD, bos=BOS, seed=c.seed,
                             dtype=c.dtype, device=c.device, score=c.score)
        self.optimizer = mg.SGD(self.model.parameters(), lr=c.lr, momentum=c.momentum)
        self.state = TranslateState()
        self._stop = False
        self.stop_signal = None         # the signal that asked to stop (SIGINT or SIGTERM)

    def batch(self, stream: int, update: int, size: int) -> TranslationBatch:
        c = self.config
        return make_batch(c.task, size, c.max_length, (c.seed, stream, update), c.device)

    def step(self):
        """One update on the batch of update ``state.update``; returns the loss (on the device)."""
        b = self.batch(TRAIN, self.state.update, self.config.batch_size)
        self.optimizer.zero_grad()
        loss = self.model.loss(b.source, b.target_in, b.targets)
        loss.backward()
        mg.clip_grad_norm(self.model.parameters(), self.config.clip)
        self.optimizer.step()
        self.state.update += 1
        return loss.detach()

    def evaluate(self, update: int | None = None) -> float:
        """Sequence accuracy of greedy decoding on the evaluation set of ``update``, decoded
        EVAL_CHUNK strings at a time (the decoder's memory is then bounded whatever --eval-size;
        one chunk, bit for bit the whole set at once, up to EVAL_CHUNK strings)."""
        b = self.batch(EVAL, self.state.update if update is None else update, self.config.eval_size)
        size, right = b.source.shape[1], 0
        for start in range(0, size, EVAL_CHUNK):
            part = slice(start, min(start + EVAL_CHUNK, size))
            tokens, _ = self.model.greedy(b.source[:, part], b.targets.shape[0])
            right += round(sequence_accuracy(tokens, b.targets[:, part]) * (part.stop - part.start))
        return right / size

    def train(self, out, progress: bool = True) -> TranslateState:
        files, c, st = RunFiles(out), self.config, self.state
        previous = {sig: signal.signal(sig, self._request_stop) for sig in STOP_SIGNALS}   # finish the update, then stop
        started, losses = time.monotonic() - st.wall_time, []
        if st.update >= c.max_updates:                         # resumed with no budget left
            st.outcome = "budget"
        try:
            while st.outcome is None:
                losses.append(self.step())
                at_eval = st.update % c.eval_every == 0
                if not (at_eval or st.update >= c.max_updates or self._stop):
                    continue
                st.period_losses += mg.stack(losses).numpy().tolist()     # one read per period
                losses = []
                st.wall_time = time.monotonic() - started
                if not all(map(math.isfinite, st.period_losses)):
                    st.outcome = f"diverged at update {st.update}"
                    break                                  # the checkpoint keeps the last finite weights
                if at_eval:
                    st.accuracy = self.evaluate()
                    # fsum: the exactly rounded sum, whatever pieces an interrupted period came in
                    row = {"update": st.update, "loss": math.fsum(st.period_losses) / len(st.period_losses),
                           "accuracy": st.accuracy, "wall_time": round(st.wall_time, 2)}
                    files.log(row)
                    st.period_losses = []
                    if progress:
                        print(f"update {st.update:6d}  loss {row['loss']:.4f}  sequence accuracy "
                              f"{100 * st.accuracy:5.1f}%  {st.wall_time:6.0f} s", flush=True)
                    if st.accuracy >= c.target_accuracy:
                        st.outcome = "success"
                if st.outcome is None and st.update >= c.max_updates:
                    st.outcome = "budget"
                if st.outcome is None and self._stop:
                    st.outcome = "interrupted"
                files.write_checkpoint(self.state_arrays(), self._config_dict())
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if st.outcome.startswith("diverged"):
            files.record_outcome(st.outcome)            # into the last (finite) checkpoint, if any
        return st

    def _request_stop(self, signum=None, frame=None):
        self._stop = True
        self.stop_signal = self.stop_signal or signum

    # ----------------------------------------------------------------- checkpoints
    def _config_dict(self) -> dict:
        return {f.name: getattr(self.config, f.name) for f in fields(self.config)}

    def state_arrays(self) -> dict:
        arrays = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        arrays.update({f"optimizer.{k}": v for k, v in self.optimizer.state_dict().items()})
        arrays["meta"] = np.array(json.dumps({"config": self._config_dict(), "state": asdict(self.state),
                                              "kind": "translate"}))
        return arrays

    @staticmethod
    def saved_config(path) -> TranslateConfig:
        """The settings of the run saved in ``path`` (not validated: :meth:`from_checkpoint` does)."""
        require_checkpoint_of(path, "translate", "minigrad translate")
        return read_run_checkpoint(path, "translate", TranslateConfig, TranslateState, "`minigrad translate`")[1]

    @classmethod
    def from_checkpoint(cls, path, config: TranslateConfig | None = None, device=None) -> "Translator":
        """The run saved in ``path``; with ``config``, refuse a checkpoint of another run (only
        ``CHANGEABLE`` settings may differ, and are taken from ``config``); with ``device``
        (and no ``config``), the model on that device instead of the one it was trained on."""
        require_checkpoint_of(path, "translate", "minigrad translate")
        arrays, saved, state = read_run_checkpoint(path, "translate", TranslateConfig, TranslateState,
                                                   "`minigrad translate`", config)
        if device is not None:
            saved = replace(saved, device=device)
        if not (isinstance(state.update, int) and isinstance(state.outcome, (str, type(None)))):
            raise RunError(f"{path} is not a checkpoint of `minigrad translate` (unreadable run state: "
                           f"update {state.update!r}, outcome {state.outcome!r})")
        try:
            run = cls(saved)
        except TypeError as e:                      # a setting of the wrong type (an edited file)
            raise RunError(f"{path} is not a checkpoint of `minigrad translate` (a setting of the wrong type: "
                           f"{e})") from None
        run.model.load_state_dict(part(arrays, "model"))
        run.optimizer.load_state_dict(part(arrays, "optimizer"))
        run.state = state
        return run


# ----------------------------------------------------------------------------- pictures
def examples(run: Translator, count: int = 4, seed: int | None = None) -> list[dict]:
    """``count`` fresh strings decoded greedily: for each, the source and output tokens (as
    names, the output up to its first EOS) and the attention weights (outputs x sources)."""
    c = run.config
    b = make_batch(c.task, count, c.max_length, (c.seed if seed is None else seed, EXAMPLES, 0), c.device)
    tokens, weights = run.model.greedy(b.source, b.targets.shape[0])
    source, tokens, weights = b.source.numpy(), tokens.numpy(), weights.numpy()
    out = []
    for i in range(count):
        src = [t for t in source[:, i] if t != PAD]
        ends = np.flatnonzero(tokens[:, i] == EOS)
        n_out = ends[0] + 1 if len(ends) else tokens.shape[0]
        out.append({"source": [token_name(t) for t in src], "output": [token_name(t) for t in tokens[:n_out, i]],
                    "weights": weights[:n_out, i, :len(src)]})
    return out


def write_heatmaps(run: Translator, path, count: int = 4, seed: int | None = None) -> Path:
    from viz.attention import attention_heatmaps
    Path(path).parent.mkdir(parents=True, exist_ok=True)     # --png in a folder still to be made
    attention_heatmaps(examples(run, count, seed), path=path,
                       title=f"{run.config.task}, update {run.state.update}")
    return Path(path)


# ----------------------------------------------------------------------------- command line
DESCRIPTION = """\
Train the attention seq2seq model of rnn/attention.py on a synthetic translation task generated
on the fly: reverse (or sort) digit strings of 1..--max-length digits.  Evaluates the sequence
accuracy of greedy decoding every --eval-every updates and stops at --target-accuracy or
--max-updates.  The run folder gets log.jsonl, checkpoint.npz, curve.png and attention.png (the
attention weights of a few examples as heat maps).  --heatmaps CHECKPOINT only draws them."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    # The run's settings default to None, "not given" (TranslateConfig's defaults fill them in), so
    # that --heatmaps can tell a setting given with it, which it would ignore, from one left alone.
    d = TranslateConfig()
    p.add_argument("--task", default=None, help=f"{' or '.join(TASKS)} (default {d.task})")
    p.add_argument("--max-length", type=int, default=None,
                   help=f"strings of 1..N digits (default {d.max_length})")
    p.add_argument("--cell", default=None, help="encoder cell: gru or lstm (the decoder is a GRU)")
    p.add_argument("--bidirectional", action=argparse.BooleanOptionalAction, default=None,
                   help="encode in both directions (default on)")
    p.add_argument("--score", default=None, help=f"the attention's score: {', '.join(SCORES)} (default "
                   f"{d.score}: Bahdanau's; dot: q·k_j of projections, scaled_dot: divided by √--attention)")
    for name in ("embed", "hidden", "attention", "batch_size", "max_updates", "eval_every", "eval_size", "seed"):
        p.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                       help=f"(default {getattr(d, name)})")
    for name in ("lr", "momentum", "clip", "target_accuracy"):
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=None,
                       help=f"(default {getattr(d, name)})")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the device's)")
    p.add_argument("--out", help="run folder (default runs/translate-TASK-LN-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint, with its "
                   "settings (of those given, only --max-updates, --target-accuracy and --device may differ)")
    p.add_argument("--force", action="store_true", help="start over in a folder that holds a run")
    p.add_argument("--examples", type=int, default=4, help="heat maps drawn, 1 to 16, into the run folder's "
                   "attention.png or --heatmaps' --png (default 4)")
    p.add_argument("--heatmaps", metavar="CHECKPOINT",
                   help="train nothing: draw the heat maps of a checkpoint into --png")
    p.add_argument("--png", default=None, help="the file --heatmaps writes (default attention.png)")
    p.add_argument("--quiet", action="store_true", help="no line per evaluation")


def _given(args) -> dict:
    """The run's settings given on the command line (the others are None)."""
    names = {f.name for f in fields(TranslateConfig)}
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _config(args) -> TranslateConfig:
    return TranslateConfig(**_given(args))


HEATMAP_SETTINGS = ("device",)              # the run settings --heatmaps reads (besides --png, --examples)


def _flag(name: str, value) -> str:
    """How a setting is written on the command line: ``--max-length 3``, ``--no-bidirectional``."""
    flag = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return flag if value else f"--no-{flag[2:]}"
    return f"{flag} {value}"


def _open_checkpoint(path, args, config: TranslateConfig | None = None) -> Translator:
    """:meth:`Translator.from_checkpoint`, saying so when the device the run was saved on (no
    --device given) is not available here."""
    try:
        return Translator.from_checkpoint(path, config, device=None if config is not None else args.device)
    except mg.BackendError as e:
        if args.device is not None:
            raise
        raise RunError(f"{path} was saved on a device not available here: {e} (choose one with --device)") from None


def _heatmaps(args) -> int:
    """``--heatmaps CHECKPOINT``: draw the heat maps of a trained model, train nothing."""
    path = Path(args.heatmaps)
    if args.out or args.resume or args.force:
        given = [flag for flag, on in (("--out", args.out), ("--resume", args.resume), ("--force", args.force)) if on]
        raise RunError(f"--heatmaps draws a trained model into --png and trains nothing: give it without "
                       f"{', '.join(given)}")
    png = "attention.png" if args.png is None else args.png
    if Path(png).suffix.lower() not in PICTURE_FORMATS:
        raise RunError(f"--png {png}: the picture's format comes from its extension: end the name in "
                       f"{', '.join(PICTURE_FORMATS)}")
    check_out_file(png, "--png", example="attention.png")
    if not path.is_file():
        what = "not a regular file" if path.exists() else "no such checkpoint"
        raise RunError(f"--heatmaps {path}: {what} (a run folder's checkpoint.npz)")
    run = _open_checkpoint(path, args)
    require_finite(run.model, path, "train it again (a translate run keeps no earlier weights)")
    ignored = [f"{_flag(k, v)} (the checkpoint's: {_flag(k, getattr(run.config, k))})"
               for k, v in _given(args).items() if k not in HEATMAP_SETTINGS and v != getattr(run.config, k)]
    if ignored:                                 # a setting of training, else silently unused
        raise RunError(f"--heatmaps draws the model as it was trained: {'; '.join(ignored)} would be ignored "
                       f"(it takes --png, --examples, --device)")
    print(f"wrote {write_heatmaps(run, png, args.examples)}")
    return 0


PICTURE_FORMATS = (".png", ".svg", ".pdf", ".jpg", ".jpeg")      # what --png may end in (matplotlib writes them)


def cmd_translate(args) -> int:
    if not 1 <= args.examples <= 16:
        raise RunError(f"--examples must be from 1 to 16, got {args.examples}")
    if args.heatmaps is not None and not args.heatmaps.strip():      # "" is a name given, not "none"
        raise RunError("--heatmaps got an empty name: give a run folder's checkpoint.npz")
    if args.out is not None and not args.out.strip():
        raise RunError("--out got an empty name: give the run's folder")
    if args.heatmaps is not None:
        return _heatmaps(args)
    if args.png is not None:
        raise RunError(f"--png {args.png} names the file of --heatmaps CHECKPOINT; a training run draws its heat "
                       f"maps into its run folder's attention.png")
    config = _config(args).validate()
    out = Path(args.out or f"runs/translate-{config.task}-L{config.max_length}-s{config.seed}")
    if not args.resume:
        refuse_another_commands_run(out, "translate", "minigrad translate")
    checkpoint = open_run(out, args.resume, args.force,
                          made=("checkpoint.npz", "log.jsonl", "config.json", "curve.png", "attention.png"))
    if checkpoint is not None:
        # the run's own settings, and those given (only CHANGEABLE ones may differ from the run's)
        run = _open_checkpoint(checkpoint, args, replace(Translator.saved_config(checkpoint), **_given(args)))
        if run.state.outcome == "success" or (run.state.outcome or "").startswith("diverged"):
            raise RunError(f"--resume: the run in {out} already ended ({run.state.outcome})")
        run.state.outcome = None
        RunFiles(out).trim_log(run.state.update)
    else:
        run = Translator(config)
    state = run.train(out, progress=not args.quiet)
    from viz.attention import learning_curve
    learning_curve(RunFiles(out).rows(), path=out / "curve.png", target=run.config.target_accuracy)
    if not state.outcome.startswith("diverged"):
        write_heatmaps(run, out / "attention.png", args.examples)
    accuracy = "none yet" if state.accuracy is None else f"{100 * state.accuracy:.1f}%"
    print(f"{state.outcome} after {state.update} updates ({state.wall_time:.0f} s); sequence accuracy "
          f"{accuracy}; run folder {out}")
    if state.outcome == "interrupted":
        print(f"minigrad: interrupted (continue with --resume --out {out})", file=sys.stderr)
        return 128 + int(run.stop_signal or signal.SIGINT)             # 130 Ctrl-C, 143 SIGTERM
    return 1 if state.outcome.startswith("diverged") else 0
