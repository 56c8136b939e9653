"""The minigrad command: train on the paper's tasks, evaluate checkpoints, draw, run the demo.

    minigrad demo
    minigrad train temporal-order --length 20 --method msgd-cr --init smart-tanh --out runs/to20
    minigrad evaluate runs/to20/checkpoint.npz --lengths 50 100 200 400
    minigrad sweep --lengths 20 50 --seeds 0 1 2 --workers 2

Exit status: 0 done; 2 a request refused or failed (one line on stderr, "minigrad: error: ...");
130 stopped by Ctrl-C (143 by SIGTERM; a training run keeps its checkpoint and continues with
--resume); 1 a training run whose weights stopped being finite, or a sweep with cells that ended
in an error instead of a result.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

import minigrad as mg
from rnn import CELLS

from . import charlm, compare, copy_task, diagnostics, dynamics, music, sweep, translation
from .natural import require_checkpoint_of
from .synthetic import TASKS, Arithmetic, get_task
from .runfiles import check_checkpoint as _check_checkpoint, check_out_file as _check_out_file
from .runfiles import check_out_folder as _check_out_folder, refuse_another_commands_run
from .train import (ALL_METHODS, diverged, INIT_CHOICES, METHODS, PRESETS, SCHEDULES, RunError, Trainer, TrainConfig,
                    check_resume_settings, resumed_config, prepare_run, training_lengths)

TRAIN_HELP = """\
Train a recurrent network on one of the paper's synthetic tasks (Pascanu et al. 2013).

Methods: msgd (plain SGD), msgd-c (SGD with the gradient norm clipped at --clip), msgd-cr
(clipping plus the Omega regularizer, weighted by --alpha, that keeps the error signal's norm
constant through time), msgd-r (the regularizer without clipping or its NaN fallback).  Inits:
the paper's sigmoid, basic-tanh (N(0, 0.1)) and smart-tanh (sparse W_rec, spectral radius 0.95).
--cell lstm or gru trains a gated cell instead of the paper's tanh RNN (Omega in its generic
form; the NaN fallback then skips the update, there being no W_rec to shrink).  Every
--eval-every updates, 10,000 fresh sequences are classified; the run stops when fewer than
--target-error of them are wrong.  In between, every --check-every updates, a check on
--check-size fresh sequences that passes is confirmed by such a full evaluation, which then ends
the run at that update.  The run folder gets log.jsonl (one row per evaluation), checkpoint.npz,
best.npz (the best evaluation so far) and config.json; Ctrl-C stops cleanly with a checkpoint
(exit status 130), and --resume continues with exactly the numbers of an uninterrupted run.  A
resumed run keeps its settings (--resume --out X alone continues it as it was; only
--max-updates, --device, --no-trace and --no-diagnostics may be given anew).  A budget that
ends between evaluations evaluates the final model once more.  A
run whose estimated memory (weights, the update's tape, evaluation batches of 1,000 sequences,
the traced programs) exceeds what the machine has available is refused before it starts, with
both figures.
"""


def presets_help() -> str:
    """The per-task presets, one line per task, for ``train --help``."""
    lines = ["Per-task presets (the paper's settings, PAPER.md): a flag given overrides them; --init,",
             "where not listed, is smart-tanh.", ""]
    for task, values in PRESETS.items():
        said = " ".join(f"--{k} {v:g}" if isinstance(v, float) else f"--{k} {str(v).replace('_', '-')}"
                        for k, v in values.items())
        lines.append(f"  {task.replace('_', '-'):<22} {said}")
    return "\n".join(lines) + "\n"


def _add_train_args(p):
    p.add_argument("task", nargs="?", help=f"one of: {', '.join(t.replace('_', '-') for t in TASKS)} (may be "
                   "left out with --resume --out FOLDER: the run's own)")
    p.add_argument("--length", type=int, default=20, help="sequence length T (the minimum, with --max-length)")
    p.add_argument("--max-length", type=int, default=None, help="train on lengths drawn from [length, max-length) "
                   "(one traced update program per length, about 4 KiB per time step each: 83 MiB for "
                   "50..200; for wide ranges of long lengths, --no-trace saves that memory)")
    p.add_argument("--method", default="msgd-cr", help=f"one of: {', '.join(ALL_METHODS)} (default msgd-cr; "
                   "msgd-r: the regularizer without clipping)")
    p.add_argument("--init", default=None, help=f"one of: {', '.join(INIT_CHOICES)} (default: the task's preset, "
                   "else smart-tanh; for --cell rnn)")
    p.add_argument("--cell", default="rnn", help="rnn (the paper's), lstm or gru (default rnn); gated cells "
                   "take the generic Omega and their own initialization")
    p.add_argument("--hidden", type=int, default=None, help="hidden units (default: the task's preset)")
    p.add_argument("--lr", type=float, default=None, help="learning rate (default: the task's preset)")
    p.add_argument("--clip", type=float, default=None, help="clipping threshold mu (default: the task's preset)")
    p.add_argument("--alpha", type=float, default=None, help="weight of the Omega regularizer (default: the "
                   "task's preset)")
    p.add_argument("--alpha-schedule", default="constant", choices=SCHEDULES,
                   help="constant; inverse_time: alpha / t; inverse_linear: alpha / (1 + t / 2800)")
    p.add_argument("--alpha-every", type=int, default=1, metavar="UPDATES", help="updates per step t of the "
                   "schedule (default 1: per update; an epoch's updates: per epoch)")
    p.add_argument("--alpha-delay", type=int, default=0, metavar="UPDATES", help="train this many updates "
                   "with alpha = 0 before the schedule starts (default 0)")
    p.add_argument("--batch-size", type=int, default=20, help="sequences per update (default 20)")
    p.add_argument("--eval-every", type=int, default=500, help="updates between evaluations and checkpoints "
                   "(default 500)")
    p.add_argument("--eval-size", type=int, default=10_000, help="fresh sequences per evaluation (default 10,000)")
    p.add_argument("--max-updates", type=int, default=100_000, help="update budget (default 100,000; a "
                   "bare --resume keeps the run's own)")
    p.add_argument("--target-error", type=float, default=None, help="stop below this error rate (0: stop at 0 "
                   "errors; default 0.01, and 0 with --max-length, as the paper's variable-length training)")
    p.add_argument("--check-every", type=int, default=50, help="between evaluations, check for success on "
                   "--check-size fresh sequences every this many updates, a pass confirmed by a full "
                   "evaluation (default 50; 0: only the evaluations every --eval-every)")
    p.add_argument("--check-size", type=int, default=1000, help="fresh sequences per check (default 1,000)")
    p.add_argument("--halve-lr", action="store_true", help="halve the learning rate whenever an evaluation's "
                   "error is higher than the previous one (the paper's schedule for natural tasks)")
    p.add_argument("--device", default=None, help="cpu, cuda or strict (default: $MINIGRAD_DEVICE or cpu)")
    p.add_argument("--seed", type=int, default=0, help="seeds the weights and every minibatch (default 0)")
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the task's preset, float32 as "
                   "the paper trained)")
    p.add_argument("--no-trace", action="store_true", help="run every update eagerly instead of replaying "
                   "its trace (same numbers, about 2.5x slower at the paper's sizes; for debugging)")
    p.add_argument("--no-diagnostics", action="store_true", help="log no diagnostics at the evaluations "
                   "(histogram of log10 ||dE/ds_k||, tanh and gate saturation, largest Lyapunov exponent, "
                   "drawn by minigrad diagnostics; about 5%% of an evaluation's time)")
    _note_given(p)                              # train --resume refuses a setting given anew


class _NotedAction:
    """Mixed into each option of ``train``: records the options given on the command line in
    ``args.given`` (their dest), so that --resume can refuse a changed setting without taking
    a default for a choice."""

    def __call__(self, parser, namespace, values, option_string=None):
        given = getattr(namespace, "given", None) or set()
        given.add(self.dest)
        namespace.given = given
        super().__call__(parser, namespace, values, option_string)


def _note_given(p):
    for action in p._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            action.__class__ = type(f"Noted{type(action).__name__}", (_NotedAction, type(action)), {})


def _given_settings(args) -> dict:
    """{TrainConfig field: its flag} for the train options given on the command line."""
    fields = {"no_trace": ("trace", "--no-trace"), "no_diagnostics": ("diagnostics", "--no-diagnostics")}
    given = getattr(args, "given", None) or set()
    return dict(fields.get(dest, (dest, "--" + dest.replace("_", "-"))) for dest in sorted(given))


def _config(args) -> TrainConfig:
    """The run's config: the task's preset (PRESETS), under every flag the user gave."""
    if args.init is not None and args.init not in INIT_CHOICES:
        raise RunError(f"unknown init {args.init!r}: choose one of {', '.join(INIT_CHOICES)}")
    if args.init is not None and args.cell != "rnn" and args.cell in CELLS:
        raise RunError(f"--init {args.init} is for --cell rnn: the {args.cell} cell has its own initialization "
                       "(uniform, as PyTorch's); drop --init, or train --cell rnn")
    _at_least(0, seed=args.seed)
    if args.alpha is not None and not args.alpha >= 0:
        raise RunError(f"--alpha must be 0 or more, got {args.alpha}")
    if args.target_error is not None and not 0 <= args.target_error < 1:
        raise RunError(f"--target-error is a fraction of sequences, from 0 to 1 (0.01 is 1%), got {args.target_error}")
    return TrainConfig.for_task(
        args.task, length=args.length, max_length=args.max_length, method=args.method,
        init=args.init and args.init.replace("-", "_"), cell=args.cell, hidden=args.hidden, lr=args.lr,
        clip=args.clip, alpha=args.alpha, alpha_schedule=args.alpha_schedule, alpha_every=args.alpha_every,
        alpha_delay=args.alpha_delay, batch_size=args.batch_size,
        eval_every=args.eval_every, eval_size=args.eval_size, max_updates=args.max_updates,
        target_error=args.target_error, check_every=args.check_every, check_size=args.check_size,
        halve_lr=args.halve_lr, device=args.device, seed=args.seed, dtype=args.dtype, trace=not args.no_trace,
        diagnostics=not args.no_diagnostics)


def _task_of_run(args) -> str:
    """The task of the run ``train --resume --out FOLDER`` continues when no task is given: its
    checkpoint's."""
    tasks = ", ".join(t.replace("_", "-") for t in TASKS)
    if not args.resume:
        raise RunError(f"train: the following arguments are required: task (one of {tasks}; --resume --out "
                       "FOLDER alone continues a run)")
    if not args.out:
        raise RunError("--resume without a task continues the run in --out: give --out FOLDER (or the task, "
                       "for the default folder)")
    checkpoint = _check_out_folder(args.out) / "checkpoint.npz"
    if not checkpoint.is_file():
        raise RunError(f"--resume: {args.out} holds no checkpoint.npz to resume from")
    require_checkpoint_of(checkpoint, "train", "minigrad train --resume")
    try:
        task = json.loads(str(mg.load(checkpoint)["meta"]))["config"]["task"]
        get_task(task)
    except (KeyError, ValueError, TypeError) as e:
        raise RunError(f"{checkpoint}: its run's task cannot be read ({e}): give the task") from None
    return task


# The settings a method does not use: given on the command line, they are said to be unused.
UNUSED_BY_METHOD = {"msgd": ("clip", "alpha", "alpha_schedule", "alpha_every", "alpha_delay"),
                    "msgd-c": ("alpha", "alpha_schedule", "alpha_every", "alpha_delay"), "msgd-r": ("clip",)}


def cmd_train(args):
    if args.task is None:
        args.task = _task_of_run(args)
    config = _config(args).validate()
    unused = [flag for name, flag in _given_settings(args).items() if name in UNUSED_BY_METHOD.get(config.method, ())]
    if unused:                                  # silently unused before: the run was not what was asked
        print(f"minigrad: note: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used by --method "
              f"{config.method} (msgd: no clipping, no Omega; msgd-c: no Omega; msgd-r: no clipping)",
              file=sys.stderr)
    cell = "" if config.cell == "rnn" else f"-{config.cell}"
    out = Path(args.out or f"runs/{config.task}-T{config.length}{cell}-{config.method}-s{config.seed}")
    _check_out_folder(out)
    checkpoint = out / "checkpoint.npz"
    if not args.resume:
        refuse_another_commands_run(out, "train", "minigrad train")
    try:
        if args.resume and checkpoint.is_file():
            require_checkpoint_of(checkpoint, "train", "minigrad train --resume")
            given = _given_settings(args)
            check_resume_settings(checkpoint, config, given)
            config = resumed_config(checkpoint, config, given).validate()
        check_memory(f"--hidden {config.hidden} --length {config.length}"
                     + (f" --max-length {config.max_length}" if config.max_length else ""),
                     memory_estimate(config), config.device)
        trainer = prepare_run(out, config, resume=args.resume, force=args.force)
        update = trainer.state.update
        if isinstance(update, bool) or not isinstance(update, int) or update < 0:
            raise ValueError(f"its update count {update!r} is not a whole number of 0 or more")
    except ValueError as e:     # an edited or damaged checkpoint: NumPy's or load_state_dict's words, and the file
        if isinstance(e, RunError) or not args.resume or str(checkpoint) in str(e) or _too_big(e):
            raise
        raise RunError(f"{checkpoint}: cannot resume from it: {e}") from None
    state = trainer.train(out=out, progress=not args.quiet)
    if state.done:
        said = f"succeeded after {state.update} updates"
    elif state.outcome == "interrupted":
        said = f"stopped after {state.update} updates"
    elif diverged(state.outcome):
        said = f"{state.outcome}; stopped after {state.update} updates"
    else:
        said = f"reached --max-updates after {state.update} updates"
    chance = f" (chance {_pct(trainer.task.chance)})" if state.last_error is not None else \
        f" (no evaluation yet: the first is at update {config.eval_every}, --eval-every)"
    print(f"{said}; last error {_pct(state.last_error)}{chance}; run folder {out}")
    if state.outcome == "interrupted":
        print(f"minigrad: interrupted (continue with --resume --out {out})", file=sys.stderr)
    return trainer.exit_status                  # 130 Ctrl-C, 143 SIGTERM, 1 diverged, else 0


def cmd_evaluate(args):
    _at_least(1, size=args.size)
    _check_checkpoint(args.checkpoint)
    require_checkpoint_of(args.checkpoint, "train", "minigrad evaluate")
    trainer = dynamics.load_for_inspection(args.checkpoint, args.device, float64=False)
    c = trainer.config
    for length in args.lengths:
        if length < trainer.task.min_length:
            raise RunError(f"--lengths: {length} is below the task's minimum {trainer.task.min_length}")
    check_memory(f"--lengths {max(args.lengths)} (hidden {c.hidden})",
                 memory_estimate(c, eval_length=max(args.lengths), eval_size=args.size, training=False), c.device)
    print(f"{c.task}, {c.method}" + ("" if c.cell == "rnn" else f", {c.cell} cell") + f", trained at T={c.length}"
          + (f"..{c.max_length - 1}" if c.max_length else "") + f", {trainer.state.update} updates")
    print(f"{'T':>6} {'% wrong':>9}   (of {args.size} fresh sequences)")
    bar = None
    if not args.quiet:      # its unit is a time step of one sequence: the time a length takes grows with it
        from tqdm import tqdm
        bar = tqdm(total=args.size * sum(args.lengths), unit="step", unit_scale=True, leave=False,
                   desc="evaluating")
    for length in args.lengths:
        error = trainer.evaluate(length=length, size=args.size, key=(2, length),
                                 done=None if bar is None else (lambda n, T=length: bar.update(n * T)))
        line = f"{length:>6} {100 * error:>9.2f}"
        if bar is None:
            print(line)
        else:
            bar.write(line, file=sys.stdout)
    if bar is not None:
        bar.close()
    return 0


def cmd_demo(args):
    """Temporal order at T = 20: MSGD, MSGD-C and MSGD-CR from the same seed."""
    out = _check_out_folder(args.out)
    _at_least(1, max_updates=args.max_updates)
    _at_least(0, seed=args.seed)
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise RunError(f"{out} already exists and is not empty: pass --force to overwrite the demo's runs "
                       "there, or --out another folder")
    rows = []
    interrupted = False
    for method in METHODS:
        config = TrainConfig(task="temporal_order", length=20, method=method, init="smart_tanh", hidden=50,
                             lr=0.01, clip=1.0, alpha=4.0, eval_every=500, max_updates=args.max_updates,
                             seed=args.seed, device=args.device)
        start = time.perf_counter()
        trainer = prepare_run(out / method, config, force=True)
        state = trainer.train(out=out / method, progress=not args.quiet)
        if state.done:
            said = f"{state.update:,}"
        elif state.outcome == "interrupted":          # not "> max-updates": it was stopped, not out of budget
            said = f"stopped at {state.update:,}"
        elif diverged(state.outcome):
            said = f"diverged at {state.update:,}"
        else:
            said = f"> {args.max_updates:,}"
        rows.append((method, said, state.last_error, time.perf_counter() - start))
        if state.outcome == "interrupted":
            interrupted = True
            break
    print("\nTemporal order, T = 20, smart tanh, 50 units, lr 0.01, mu 1, alpha 4 "
          f"(seed {args.seed}; paper: MSGD 21k, MSGD-C 11k, MSGD-CR 2k updates)")
    print(f"{'method':<9} {'updates to success':>19} {'last error':>11} {'seconds':>8}")
    for method, done, error, seconds in rows:
        print(f"{method:<9} {done:>19} {_pct(error):>11} {seconds:>8.1f}")
    _demo_pictures(out, [m for m, *_ in rows], args.quiet)
    print(f"logs, checkpoints and pictures in {out}/")
    if interrupted:
        method = rows[-1][0]
        print(f"minigrad: interrupted (continue that run with minigrad train --resume --out {out / method}; "
              "the demo itself starts over)", file=sys.stderr)
        return trainer.exit_status
    return 0


def _demo_pictures(out, methods, quiet):
    """Next to the demo's runs: the BPTT graph of the trained MSGD-CR model (20 steps, one node
    per step), the Jacobian plots of every method's final model, and the error cliff."""
    import matplotlib.pyplot as plt

    import viz
    from viz import plots
    jacobian_report([out / m / "checkpoint.npz" for m in methods], 20, out / "jacobian", quiet=quiet)
    trainer = Trainer.from_checkpoint(out / methods[-1] / "checkpoint.npz")
    b = trainer._sampler(4, 0).batch(1)
    with mg.Tape() as tape:
        outputs, (run,) = trainer.model.run(b.inputs)
        loss = trainer.model.head.loss(outputs, b.targets)
    loss.backward()
    graph = viz.draw(tape, collapse=True, title=f"{methods[-1].upper()} model, temporal order T = 20: "
                                                 "gradient norms passed back through time")
    try:
        viz.render(graph, out / "bptt_graph.svg")
    except RuntimeError as e:                   # no dot: keep the DOT source, say so
        viz.render(graph, out / "bptt_graph.dot")
        print(f"note: {e}", file=sys.stderr)
    plt.close(plots.error_cliff(path=out / "error_cliff.png"))


def build_graph(cell_kind: str, steps: int, hidden: int = 3, n_in: int = 2, seed: int = 0, collapse: bool = False,
                device=None):
    """Unroll a small cell for ``steps`` steps inside a Tape, backpropagate a loss at the last
    step, and return the Graphviz graph of the tape (gradient norms on the edges)."""
    import numpy as np

    import rnn
    import viz
    if cell_kind not in GRAPH_CELLS:
        raise RunError(f"unknown cell {cell_kind!r}: choose one of {', '.join(GRAPH_CELLS)}")
    if steps < 1:
        raise RunError(f"--steps must be at least 1, got {steps}")
    if hidden < 1:
        raise RunError(f"--hidden must be at least 1, got {hidden}")
    if cell_kind in MODEL_GRAPH_STEPS:
        return _model_graph("seq2seq" if cell_kind == "attention" else cell_kind, steps, hidden, seed, collapse,
                            device)
    limit = MAX_COLLAPSED_GRAPH_STEPS if collapse else MAX_GRAPH_STEPS
    if steps > limit:
        if collapse:
            raise RunError(f"--steps {steps}: more than {limit} steps, even collapsed, take minutes for dot "
                           "to lay out and cannot be read; draw fewer steps")
        raise RunError(f"--steps {steps}: a full graph of more than {limit} steps (about ten nodes each) cannot "
                       f"be read (100 LSTM steps already make a PNG 32,767 pixels wide, the most cairo draws); "
                       f"pass --collapse (one node per step, up to {MAX_COLLAPSED_GRAPH_STEPS} steps) or draw fewer steps")
    check_memory(f"--hidden {hidden} --steps {steps}", graph_memory(cell_kind, steps, hidden, device), device)
    if cell_kind == "esn":                    # the reservoir's dynamics, drawn as a leaky cell
        esn = rnn.ESN(n_in, units=hidden, spectral_radius=0.9, lr=0.5, connectivity=0.5, seed=seed)
        cell = rnn.RNNCell(n_in, hidden, "tanh", leak=0.5, seed=seed, device=device,
                           init={"W_in": esn.W_in.numpy(), "W_rec": esn.W.numpy(), "b": esn.b.numpy()})
    elif cell_kind == "rnn":
        cell = rnn.RNNCell(n_in, hidden, init="basic_tanh", seed=seed, device=device)
    else:
        cell = rnn.CELLS[cell_kind](n_in, hidden, seed=seed, device=device)
    x = mg.tensor(np.random.default_rng(seed).standard_normal((steps, 1, n_in)), dtype=cell.parameters()[0].dtype,
                  device=device)
    readout = None
    if cell_kind == "esn":                  # the reservoir is fixed; only a readout y = h W_out is trained
        for name, p in cell.named_parameters():
            p.name = f"{name} (fixed reservoir: not trained)"
        readout = mg.tensor(np.random.default_rng(seed + 1).standard_normal((hidden, 1)) / np.sqrt(hidden),
                            dtype=x.dtype, device=device, requires_grad=True)
        readout.name = "W_out (readout: the only weights trained)"
    with mg.Tape() as tape:
        run = rnn.unroll(cell, x)
        h = rnn.hidden_of(run.final)
        loss = ((h @ readout if readout is not None else h) ** 2).sum()
    loss.backward()
    steps_said = f"{steps} step{'s' if steps != 1 else ''}"
    if readout is not None:
        title = (f"ESN (leaky tanh reservoir, fixed) unrolled over {steps_said}: loss = |h_T W_out|², edges "
                 "coloured by the gradient norm BPTT would pass (an ESN trains only W_out)")
    else:
        title = f"{cell_kind.upper()} unrolled over {steps_said}: loss = |h_T|², edges coloured by gradient norm"
    return viz.draw(tape, collapse=collapse, title=title)


def graph_memory(cell_kind: str, steps: int, hidden: int, device=None) -> dict:
    """Bytes ``minigrad graph`` needs, by part (as :func:`memory_estimate`): the cell's weights
    with their gradients and temporaries, and the tape of one sequence of ``steps`` steps.  An
    ESN is a leaky tanh cell; an NTM's controller an LSTM; a seq2seq model two GRUs and the
    attention, counted as two LSTMs."""
    cell = {"rnn": "rnn", "esn": "rnn", "lstm": "lstm", "gru": "gru"}.get(cell_kind, "lstm")
    config = TrainConfig(task="temporal_order", cell=cell, hidden=hidden, length=steps, batch_size=1,
                         trace=False, device=device)
    parts = memory_estimate(config, eval_size=1)
    if cell_kind in ("seq2seq", "attention"):
        parts["weights"] *= 2
    return parts


GRAPH_CELLS = ("rnn", "lstm", "gru", "esn", "ntm", "seq2seq", "attention")
# the most steps of a full and of a collapsed graph: an NTM step is about 120 primitives, a
# seq2seq step (encoder, or decoder with its attention) about 20-40; dot lays out a full NTM of
# 10 steps in 16 s, seq2seq of 15 in 20 s, and gives up on seq2seq at 20 ("trouble in init_rank")
MODEL_GRAPH_STEPS = {"ntm": (10, 200), "seq2seq": (15, 200), "attention": (15, 200)}


GRAPH_NAMES = {"ntm": "NTM", "seq2seq": "seq2seq", "attention": "attention seq2seq"}


def _model_graph(kind: str, steps: int, hidden: int, seed: int, collapse: bool, device):
    """The graph of an NTM (``steps`` steps, each a cluster holding the controller, the read
    head, the write head with the memory, the output) or of an attention seq2seq model (a
    source of ``steps`` digits reversed: ``steps`` encoder steps, then ``steps + 1`` decoder
    steps, each reading the attention over every encoder state), after one backward pass."""
    import viz
    from rnn import Seq2Seq
    from .compare import MemoryModel
    full, collapsed = MODEL_GRAPH_STEPS[kind]
    limit = collapsed if collapse else full
    if steps > limit:
        more = "" if collapse else f" or pass --collapse (one node per step, up to {collapsed} steps)"
        what = f"{'collapsed ' if collapse else ''}{GRAPH_NAMES[kind]}"
        raise RunError(f"--steps {steps}: {'an' if what[0] in 'aeiouAEIN' else 'a'} {what} graph of more than {limit} "
                       f"steps takes dot minutes to lay out and cannot be read: draw fewer steps{more}")
    check_memory(f"--hidden {hidden} --steps {steps}", graph_memory(kind, steps, hidden, device), device)
    rng = np.random.default_rng(seed)
    if kind == "ntm":
        model = MemoryModel(hidden, seed, slots=4, width=3, device=device)
        x = mg.tensor(rng.standard_normal((steps, 1, 6)), dtype=model.model.dtype, device=device)
        with mg.Tape() as tape:
            logits = model.probe(x, None, perturb=False).loss
            loss = (logits ** 2).sum()
        title = (f"NTM (LSTM controller, 4 x 3 memory) unrolled over {steps} step{'s' if steps != 1 else ''}: "
                 "loss = |y_T|², "
                 "edges coloured by gradient norm")
    else:
        V = translation.VOCABULARY
        model = Seq2Seq(V, V, embed=hidden, hidden=hidden, attention=hidden, cell="gru", bidirectional=False,
                        pad=translation.PAD, bos=translation.BOS, seed=seed, device=device)
        digits = rng.integers(0, 10, steps) + translation.FIRST_DIGIT
        source = mg.tensor(digits[:, None].astype(np.int64), device=device)
        answer = np.concatenate([digits[::-1], [translation.EOS]])
        targets = mg.tensor(answer[:, None].astype(np.int64), device=device)
        target_in = mg.tensor(np.concatenate([[translation.BOS], answer[:-1]])[:, None].astype(np.int64),
                              device=device)
        with mg.Tape() as tape:
            with mg.scope(part="once per sentence: encoder's embedding, attention keys, s_0"):
                memory, state = model.start(source)
            logits = []
            for i in range(steps + 1):                 # Seq2Seq.forward's loop
                with mg.scope(step=steps + i, part="decoder", output=i):
                    o, state, _ = model.decoder.step(target_in[i], state, memory)
                logits.append(o)
            loss = mg.cross_entropy(mg.stack(logits), targets)
        digits = "1 digit: 1 encoder step" if steps == 1 else f"{steps} digits: {steps} encoder steps"
        title = (f"Attention seq2seq (GRU encoder, additive attention) reversing {digits} "
                 f"and {steps + 1} decoder steps, loss = cross-entropy, edges coloured by gradient norm")
    loss.backward()
    for name, p in (model.model if kind == "ntm" else model).named_parameters():
        parts = name.split(".")                    # the encoder's W_z and the decoder's apart
        group = "attention" if "attention" in parts else parts[0]
        p.name = f"{group}.{parts[-1]}" if len(parts) > 1 else name     # decoder.W_z, controller.W_x, W_heads
    return viz.draw(tape, collapse=collapse, title=title)


def cmd_graph(args):
    import viz
    out = Path(args.out)
    if out.suffix.lower() not in GRAPH_FORMATS:
        raise RunError(f"--out {out}: unknown output format {out.suffix!r}: use {', '.join(GRAPH_FORMATS)}")
    _check_out_file(out)
    graph = build_graph(args.cell, args.steps, hidden=args.hidden, collapse=args.collapse, device=args.device)
    out.parent.mkdir(parents=True, exist_ok=True)
    path = viz.render(graph, out)
    print(f"wrote {path}")
    return 0


UNDERFLOW = 1e-300          # float64's normal numbers end near 2e-308: below this, a norm is not trusted


def jacobian_report(checkpoints, length: int, out, batch: int = 20, seed: int = 0, device=None, quiet=False):
    """Jacobian-chain plots of trained models at one test length: heat map of log ||ds_t/ds_k||
    (first sequence of the last checkpoint), singular values of its one-step Jacobians, and
    ||dE/ds_k|| over k (one line per checkpoint; s_k = h_k, or (h_k, c_k) for an LSTM).

    Everything is computed in float64 on a float64 copy of each model (the checkpoint is only
    read), so that error signals down to ~1e-300 show; below that even float64 underflows, and
    the printout and the plot say from which k on."""
    out = _check_out_folder(out)
    if batch < 1:
        raise RunError(f"--batch must be at least 1, got {batch}")
    if length < 1:
        raise RunError(f"--length must be at least 1, got {length}")
    for checkpoint in checkpoints:
        _check_checkpoint(checkpoint)
        require_checkpoint_of(checkpoint, "train", "minigrad jacobian")
    import matplotlib.pyplot as plt

    import rnn
    from viz import plots
    trainers = []                               # every checkpoint read and checked before any work
    for checkpoint in checkpoints:
        trainer = dynamics.load_for_inspection(checkpoint, device)
        if len(trainer.model.layers) != 1:
            raise RunError("minigrad jacobian draws one-layer models")
        if length < trainer.task.min_length:
            raise RunError(f"--length {length} is below the task's minimum {trainer.task.min_length}")
        check_memory(f"--length {length} --batch {batch} (hidden {trainer.config.hidden})",
                     memory_estimate(trainer.config, eval_length=length, training=False, jacobian_batch=batch),
                     trainer.config.device)
        trainers.append(trainer)
    labels = dynamics.checkpoint_labels(checkpoints, [t.state.update for t in trainers])
    out.mkdir(parents=True, exist_ok=True)
    snapshots, summary = {}, []
    for checkpoint, trainer in zip(checkpoints, trainers):
        sampler = trainer._sampler(3, length)
        b = sampler.batch(batch, length)
        outputs, (run,) = trainer.model.run(b.inputs)
        loss = trainer.model.head.loss(outputs, b.targets)
        chain = rnn.JacobianChain(trainer.model.cell, b.inputs, run, loss=loss)
        label = labels[checkpoint]
        snapshots[label] = chain.grad_norms.mean(1)
        summary.append((label, chain, trainer))
    label, chain, trainer = summary[-1]
    T = chain.T
    s = "s" if trainer.config.cell == "lstm" else "h"               # the LSTM's state is (h, c)
    # every model side by side on one colour scale: one that vanishes (blue) beside one that does not
    heat = {lab: ch.norms(0, log10=True) for lab, ch, _ in summary}
    plt.close(plots.jacobian_heatmap(heat if len(heat) > 1 else heat[label], path=out / "jacobian_heatmap.png",
                                     title=f"log10 ||d{s}_t/d{s}_k||, {trainer.config.task} T={T}"
                                           + (f", sequence 0 of {batch}" if len(heat) > 1 else
                                              f"\n{label}, sequence 0 of {batch}")))
    steps = sorted({1, max(1, T // 2), T})
    plt.close(plots.singular_value_spectra({i: chain.singular_values(i).mean(0) for i in steps},
                                           path=out / "jacobian_spectra.png",
                                           title=f"Singular values of the one-step Jacobians d{s}_i/d{s}_(i-1)\n"
                                                 f"{label}, mean over {batch} sequences"))
    plt.close(plots.error_norms_over_time(snapshots, path=out / "error_norms.png", state=s, floor=UNDERFLOW,
                                         legend_title="run @ update",
                                         title=f"How much error signal reaches step k ({trainer.config.task}, "
                                               f"T={T}, float64)"))
    if not quiet:
        for label, chain, trainer in summary:
            g = chain.grad_norms.mean(1)
            rho = (f"spectral radius of W_rec {chain.spectral_radius_W_rec():.3f}; "
                   if hasattr(trainer.model.cell, "W_rec") else f"{trainer.config.cell} cell; ")
            s = "s" if trainer.config.cell == "lstm" else "h"
            print(f"{label}: {rho}{error_ratio(g, s)}")
        print(f"wrote {out}/jacobian_heatmap.png, jacobian_spectra.png, error_norms.png")
    return summary


def underflow_from(norms, floor: float = UNDERFLOW) -> int | None:
    """The step k (1-based) from which, going back to k = 1, ``norms`` (indexed k - 1) stay below
    ``floor``; None where the earliest step is above it."""
    low = np.asarray(norms, dtype=float) < floor
    if not low[0]:
        return None
    above = np.flatnonzero(~low)
    return int(above[0]) if above.size else len(low)


def error_ratio(g, s: str = "h") -> str:
    """"||dE/dh_1|| / ||dE/dh_T|| = 3.2e-45", or, where the earliest norms underflow even float64,
    "< 1e-298 (||dE/dh_k|| below 1e-300 from k = 57 back to k = 1: float64 underflows ...)"."""
    k = underflow_from(g)
    what = f"||dE/d{s}_1|| / ||dE/d{s}_T||"
    if k is None:
        return f"{what} = {g[0] / g[-1]:.3e}"
    bound = UNDERFLOW / g[-1] if g[-1] > 0 else float("nan")
    return (f"{what} < {bound:.0e} (||dE/d{s}_k|| below {UNDERFLOW:g} from k = {k} back to k = 1: "
            "float64 underflows there, or units saturated to exactly ±1 pass nothing)")


def cmd_jacobian(args):
    jacobian_report(args.checkpoints, args.length, args.out, batch=args.batch, device=args.device)
    return 0


def _pct(x):
    return "-" if x is None else f"{100 * x:.2f}%"


# ----------------------------------------------------------------- checks before any work
MAX_GRAPH_STEPS = 100             # a full graph: ~10 nodes per step; 200 LSTM steps took dot 18 s
MAX_COLLAPSED_GRAPH_STEPS = 2000  # one node per step: 2,000 steps take dot about 2 s, 10,000 30 s
GRAPH_FORMATS = (".svg", ".png", ".pdf", ".dot", ".gv")


def _at_least(minimum: int, **values):
    for name, value in values.items():
        if value < minimum:
            raise RunError(f"--{name.replace('_', '-')} must be at least {minimum}, got {value}")


# Memory of a run, estimated from the sizes before anything is allocated.  Floats kept per
# sequence, time step and hidden unit, measured as the peak memory of NumPy runs (float64):
# a training update with Omega (tape, state gradients, Omega's terms) and an evaluation (every
# state of a batch of eval_batch sequences is kept); e.g. hidden 400, T 800: 2.6 GB measured,
# 2.6 GB estimated; LSTM hidden 200, T 200, batch 1000: 11.7 GB measured, 12.8 estimated.
TRAIN_FLOATS_PER_UNIT = {"rnn": 8, "gru": 24, "lstm": 40}
EVAL_FLOATS_PER_UNIT = {"rnn": 1, "gru": 2, "lstm": 3}
SQUARE_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4}     # hidden x hidden matrices of a cell
WEIGHT_COPIES = 6         # weights, gradients, Omega's gradient, the update's temporaries
TRACE_BYTES_PER_STEP = 4096   # one traced update program, per time step (train --help)


def _steps(task, length: int) -> int:
    """Time steps of the longest sequence at nominal length ``length`` (memorization adds 2P,
    the arithmetic tasks jitter by up to 10%)."""
    return length + length // 10 * isinstance(task, Arithmetic) + 2 * getattr(task, "P", 0)


def memory_estimate(config: TrainConfig, eval_length: int | None = None, eval_size: int | None = None,
                    training: bool = True, jacobian_batch: int | None = None) -> dict:
    """Bytes a run of ``config`` needs at its peak, by part: {"weights", "training",
    "evaluation", "traced programs", "Jacobians"}; the peak is the weights, the larger of the
    training update and the evaluation, the programs and the Jacobians together."""
    task = get_task(config.task)
    H, cell = config.hidden, config.cell if config.cell in SQUARE_BLOCKS else "lstm"
    itemsize = (np.dtype(config.dtype) if config.dtype else mg.get_backend(config.device).default_float).itemsize
    n_io = task.n_in + task.n_out
    weights = WEIGHT_COPIES * (SQUARE_BLOCKS[cell] * (H * H + H * task.n_in + H) + H * task.n_out + task.n_out)
    parts = {"weights": weights * itemsize, "training": 0, "evaluation": 0, "traced programs": 0, "Jacobians": 0}
    longest = (config.max_length - 1) if config.max_length else config.length
    if training:
        steps = _steps(task, longest)
        parts["training"] = config.batch_size * steps * (H * TRAIN_FLOATS_PER_UNIT[cell] + 3 * n_io) * itemsize
        if config.trace:                       # one program per sequence length met, the jitter
            lengths = training_lengths(config)  # of the arithmetic tasks included (50..200: 50..219)
            steps = len(lengths) * (lengths[0] + lengths[-1]) // 2 + len(lengths) * 2 * getattr(task, "P", 0)
            parts["traced programs"] = steps * TRACE_BYTES_PER_STEP
    steps = _steps(task, eval_length if eval_length is not None else longest)
    batch = min(config.eval_batch, eval_size or config.eval_size)
    parts["evaluation"] = batch * steps * (H * EVAL_FLOATS_PER_UNIT[cell] + n_io) * itemsize
    if jacobian_batch:        # (T, B, N, N) one-step Jacobians and their products; (T, T) norms
        state = 2 * H if cell == "lstm" else H
        parts["Jacobians"] = (3 * jacobian_batch * steps * state * state + 2 * steps * steps) * itemsize
        parts["evaluation"] = jacobian_batch * steps * (H * TRAIN_FLOATS_PER_UNIT[cell] + n_io) * itemsize
    return parts


def peak_memory(parts: dict) -> int:
    return (parts["weights"] + max(parts["training"], parts["evaluation"]) + parts["traced programs"]
            + parts["Jacobians"])


def available_memory(device=None) -> int | None:
    """Bytes the machine can still give: the free memory of a CUDA device, else the host's
    MemAvailable (/proc/meminfo), else its physical memory; None where unknown."""
    try:
        backend = mg.get_backend(device)
        if str(backend.device).startswith("cuda"):            # pragma: no cover - needs a GPU
            return int(backend.xp.cuda.Device(backend.index).mem_info[0])
    except Exception:
        return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024


def check_memory(what: str, parts: dict, device=None):
    """Refuse, in one line, a run whose estimated peak memory exceeds what the machine has."""
    need, have = peak_memory(parts), available_memory(device)
    if have is None or need <= have:
        return
    detail = ", ".join(f"{k} {_size(v)}" for k, v in parts.items() if v)
    largest = max(parts, key=parts.get)
    raise RunError(f"{what} needs about {_size(need)} of memory ({detail}) but this machine has "
                   f"{_size(have)} available: {MEMORY_ADVICE[largest]}")


MEMORY_ADVICE = {"weights": "lower --hidden", "training": "lower --hidden, the length or --batch-size",
                 "evaluation": "lower --hidden or the length", "Jacobians": "lower --batch or --length",
                 "traced programs": "pass --no-trace (one traced program per length met) or narrow the lengths"}


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("minigrad")
    except Exception:                             # not installed: the source tree's
        return mg.__version__


def argparse_message(message: str) -> str:
    """argparse's complaint, said as the rest of the command's errors: "--length must be a whole
    number, got '20.5'" rather than "argument --length: invalid int value: '20.5'"."""
    m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: invalid (int|float) value: (.*)", message, re.S)
    if m:
        kind = "a whole number" if m[2] == "int" else "a number"
        return f"{m[1]} must be {kind}, got {m[3]}"
    m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: invalid choice: (.*) \(choose from (.*)\)", message, re.S)
    if m:
        what = "command" if m[1] == "command" else f"{m[1]} value"
        return f"unknown {what} {m[2]}: choose one of {m[3].replace(chr(39), '')}"
    m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: (must .*)", message, re.S)
    if m:
        return f"{m[1]} {m[2]}"
    m = re.fullmatch(r"argument (\S+?)(?:/\S+)?: (.*)", message, re.S)
    return f"{m[1]}: {m[2]}" if m else message


# A value that starts with "-" is an option to argparse unless it looks like a negative
# number; its own test knows only -5 and -.5, so "--lr -1e-3" or "--alpha -inf" were refused as
# "expected one argument".  This one also takes exponents, inf and nan.
NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)
LARGEST_INT = 2 ** 63 - 1     # NumPy's int64: no size, length, count or seed of the command is beyond it


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit status 2, as the rest of the
    command's: ``minigrad: error: train: --length must be a whole number, got '20.5' (see
    minigrad train --help)``, without the usage block.  Sub-commands' parsers are of this class
    too (``add_subparsers`` makes them of the parser's own class); ``--help`` is unchanged.
    Negative numbers in every spelling (-1e-3, -inf) are values, not options; a whole number
    beyond 2^63 - 1 is refused here, before NumPy meets it (an OverflowError or TypeError
    deep inside a command, or "Maximum allowed dimension exceeded"); so is an empty string (no
    path, task or name); an unknown option is said by its sub-command, with the likely one."""

    says_empty_names = False          # True: the command refuses "" in its own words (translate)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER

    def _get_value(self, action, arg_string):
        if (isinstance(arg_string, str) and not arg_string.strip() and action.type is None
                and not isinstance(action, argparse._SubParsersAction) and not self.says_empty_names):
            # "" is no path, task or name: Path("") is the current folder, an empty --out the default
            raise argparse.ArgumentError(action, f"must not be empty, got {arg_string!r}")
        value = super()._get_value(action, arg_string)
        if action.type is int and abs(value) > LARGEST_INT:
            bound = f"at most 2^63 - 1 ({LARGEST_INT})" if value > 0 else f"at least -(2^63 - 1) (-{LARGEST_INT})"
            raise argparse.ArgumentError(action, f"must be {bound}, got {arg_string}")
        return value

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but an unknown option is said by the sub-command's parser (its --help,
        and the option it most likely meant: "--lenght: did you mean --length?")."""
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            import difflib
            sub = self
            subparsers = [a for a in self._actions if isinstance(a, argparse._SubParsersAction)]
            if subparsers and getattr(args, "command", None) in subparsers[0].choices:
                sub = subparsers[0].choices[args.command]
            known = [o for a in sub._actions for o in a.option_strings]
            hints = [f"{x.split('=')[0]}: did you mean {close[0]}?" for x in extras if x.startswith("--")
                     for close in [difflib.get_close_matches(x.split("=")[0], known, n=1)] if close]
            sub.error(f"unrecognized arguments: {' '.join(extras)}" + (f" ({'; '.join(hints)})" if hints else ""))
        return args

    def error(self, message):
        command = self.prog.split(" ", 1)[1] if " " in self.prog else ""
        text = "; ".join(line.strip() for line in argparse_message(message).splitlines() if line.strip())
        where = f"minigrad {command} --help" if command else "minigrad --help"
        self.exit(2, f"minigrad: error: {command + ': ' if command else ''}{text} (see {where})\n")


def build_parser():
    parser = Parser(prog="minigrad", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"minigrad {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train on a synthetic task", description=TRAIN_HELP + "\n" + presets_help(),
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_train_args(p)
    p.add_argument("--out", help="run folder (default runs/TASK-TLENGTH-METHOD-sSEED)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--force", action="store_true", help="start over in a folder that holds a run")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_train)

    p = sub.add_parser("evaluate", help="error rates of a checkpoint at several lengths",
                       description="Print the paper's generalization table for a trained model: the "
                                   "% of fresh sequences it gets wrong at each test length.")
    p.add_argument("checkpoint")
    p.add_argument("--lengths", type=int, nargs="+", default=[50, 100, 200, 400],
                   help="test lengths (default 50 100 200 400)")
    p.add_argument("--size", type=int, default=10_000, help="fresh sequences per length (default 10,000)")
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=cmd_evaluate)

    p = sub.add_parser("sweep", help="success rate over lengths x seeds x methods x inits or cells (Figure 7)",
                       description=sweep.DESCRIPTION)
    sweep.add_arguments(p)
    p.set_defaults(run=sweep.cmd_sweep)

    p = sub.add_parser("jacobian", help="Jacobian-chain plots of trained models",
                       description="For one or more checkpoints, at one test length: a heat map of "
                                   "log10 ||ds_t/ds_k|| over (t, k) (s = h, or (h, c) for an LSTM), the singular "
                                   "values of the one-step Jacobians, and ||dE/ds_k|| against k (one line per "
                                   "checkpoint).")
    p.add_argument("checkpoints", nargs="+")
    p.add_argument("--length", type=int, default=100)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--out", default="jacobian")
    p.add_argument("--device", default=None)
    p.set_defaults(run=cmd_jacobian)

    p = sub.add_parser("diagnostics", help="a run's diagnostics over training: log10 ||dE/ds_k||, saturation, Lyapunov",
                       description=diagnostics.DESCRIPTION)
    diagnostics.add_arguments(p)
    p.set_defaults(run=diagnostics.cmd_diagnostics)

    p = sub.add_parser("graph", help="draw an unrolled BPTT graph with Graphviz",
                       description="Unroll a small cell, NTM or attention seq2seq model, backpropagate, and draw "
                                   "the recorded tape: one cluster per time step, edges coloured and sized by "
                                   "the gradient norm that flowed along them (blue: vanishing, red: exploding).")
    p.add_argument("--cell", default="rnn", help="rnn, lstm, gru, esn, ntm (one cluster per step: controller, "
                   "read head, write head and memory) or seq2seq / attention (encoder steps, then decoder steps)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--hidden", type=int, default=3)
    p.add_argument("--collapse", action="store_true", help="one node per time step (for long unrolls; "
                   f"needed above {MAX_GRAPH_STEPS} steps, up to {MAX_COLLAPSED_GRAPH_STEPS}; ntm: above "
                   f"{MODEL_GRAPH_STEPS['ntm'][0]}, seq2seq: above {MODEL_GRAPH_STEPS['seq2seq'][0]}, "
                   f"up to {MODEL_GRAPH_STEPS['ntm'][1]})")
    p.add_argument("--out", default="graph.svg", help=".svg, .png, .pdf (rendered by dot) or .dot")
    p.add_argument("--device", default=None)
    p.set_defaults(run=cmd_graph)

    p = sub.add_parser("demo", help="the main job: MSGD vs clipping vs clipping + Omega, temporal order T=20",
                       description="Train temporal order at T = 20 three times from the same seed (MSGD, "
                                   "MSGD-C, MSGD-CR) and print how many updates each needed.")
    p.add_argument("--out", default="runs/demo", help="folder of the three runs (default runs/demo)")
    p.add_argument("--force", action="store_true", help="overwrite the runs of an earlier demo in --out")
    p.add_argument("--max-updates", type=int, default=30_000, help="budget of each run (default 30,000)")
    p.add_argument("--seed", type=int, default=0, help="(default 0)")
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=cmd_demo)

    p = sub.add_parser("translate", help="attention seq2seq on a synthetic translation task (reverse or sort digits)",
                       description=translation.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    translation.add_arguments(p)
    p.says_empty_names = True                   # cmd_translate: "--out got an empty name: give the run's folder"
    p.set_defaults(run=translation.cmd_translate)

    p = sub.add_parser("copy", help="Neural Turing Machine on the NTM paper's copy task (train, test longer, draw)",
                       description=copy_task.DESCRIPTION)
    copy_task.add_arguments(p)
    p.set_defaults(run=copy_task.cmd_copy)

    p = sub.add_parser("music", help="polyphonic music on the Bach chorales: MSGD, MSGD-C, MSGD-CR (Table 1)",
                       description=music.DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    music.add_arguments(p)
    p.set_defaults(run=music.cmd_music)

    p = sub.add_parser("charlm", help="character-level language model on the stdlib's docstrings: MSGD, MSGD-C, "
                       "MSGD-CR (Table 1)", description=charlm.DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    charlm.add_arguments(p)
    p.set_defaults(run=charlm.cmd_charlm)

    p = sub.add_parser("compare", help="tanh RNN, LSTM, GRU, attention, NTM: how far back dE/dh_k reaches",
                       description=compare.DESCRIPTION)
    compare.add_arguments(p)
    p.set_defaults(run=compare.cmd_compare)

    p = sub.add_parser("dynamics", help="one-unit bifurcations, fixed points, Lyapunov exponents",
                       description=dynamics.DESCRIPTION)
    dynamics.add_arguments(p)
    p.set_defaults(run=dynamics.cmd_dynamics)
    return parser


def main(argv=None) -> int:
    """Run one command; its exit status as the module's docstring says (0 done, 1 diverged or
    cells without a result, 2 refused or failed: one line on stderr, no traceback; 130/143
    stopped by Ctrl-C/SIGTERM)."""
    parser = args = None
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return args.run(args)
    except KeyboardInterrupt:
        print("minigrad: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OverflowError, TypeError) as e:
        if _too_big(e) and _huge_sizes(parser, args):
            return _fail(_too_big_said(e, parser, args))
        if isinstance(e, (OverflowError, TypeError)):
            raise                              # a bug, not bad input: its traceback
        return _fail(e)
    except (RunError, mg.CheckpointError, mg.BackendError, RuntimeError) as e:
        return _fail(e)
    except MemoryError as e:
        return _fail(_too_big_said(e, parser, args))
    except OSError as e:                       # a path that vanished or cannot be written meanwhile
        return _fail(f"{e.filename}: {e.strerror}" if e.filename and e.strerror else e)


# What NumPy says when asked for an array larger than any machine's memory (a size far beyond
# what the commands' own checks know to refuse): said as the sizes given, not as NumPy's words.
TOO_BIG = ("Maximum allowed dimension exceeded", "array is too big", "is out of bounds for int64",
           "too large to convert", "has no callable sqrt method")


HUGE = 2 ** 31                 # a whole number of the command line this large is a size no array holds


def _too_big(e) -> bool:
    return isinstance(e, OverflowError) or any(words in str(e) for words in TOO_BIG)


def _given_whole_numbers(parser, args) -> list:
    """[(flag, values)] of the whole-number options given other than their default."""
    given = []
    if parser is not None and args is not None and getattr(args, "command", None):
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        for action in subparsers.choices[args.command]._actions:
            value = getattr(args, action.dest, None)
            if action.type is int and action.option_strings and value is not None and value != action.default:
                given.append((action.option_strings[-1], value if isinstance(value, list) else [value]))
    return given


def _huge_sizes(parser, args) -> bool:
    """Whether a whole number given is so large (2^31 or more) that NumPy's "too big" (or an
    overflow) is its doing; else such an error is a bug, kept as one (its traceback)."""
    return any(abs(v) >= HUGE for _, values in _given_whole_numbers(parser, args) for v in values)


def _too_big_said(e, parser, args) -> str:
    """"the sizes given (--hidden 4611686018427387904) ask for more memory than there is (NumPy:
    array is too big...): lower them": the whole numbers of the command line, with NumPy's words."""
    given = [f"{flag} {' '.join(map(str, values))}" for flag, values in _given_whole_numbers(parser, args)]
    what = f"the sizes given ({', '.join(given)})" if given else "the sizes asked for"
    kind = "out of memory" if isinstance(e, MemoryError) else "NumPy"
    return f"{what} ask for more memory than this machine has ({kind}: {str(e).rstrip('.')}): lower them"


def _fail(e) -> int:
    text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
    print(f"minigrad: error: {text}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
