"""``minigrad dynamics``: recurrent networks as dynamical systems (rnn/dynamics.py, viz/dynamics.py).

* ``--what bifurcation``: the one-unit RNN ``x_t = w σ(x_{t-1}) + b`` -- its fixed points over b
  (the paper's Figure 3), basins of attraction, and the error cliff (Figure 6) at the basin
  boundary it crosses;
* ``--what fixed-points``: fixed points of a trained network (a checkpoint, or an init trained
  ``--train-updates`` updates here), found by minimizing ``|F(h) - h|²`` from states the network
  visits on the task, with the eigenvalues of the Jacobian there, in a 2-D PCA projection;
* ``--what lyapunov``: the largest Lyapunov exponent against the spectral radius of W_rec for
  the paper's three inits (W_rec rescaled), and for each init before and after a short training
  with and without Omega (MSGD-C and MSGD-CR, ``--train-updates`` each), with the Lyapunov
  spectra; the QR estimate of λ_1 is checked against a direct perturbation simulation.

Everything runs in float64 (the perturbation check needs it).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np

import minigrad as mg
import rnn
from rnn import dynamics as dyn

from .natural import require_checkpoint_of
from .runfiles import require_finite
from .train import INIT_CHOICES, RunError, TrainConfig, Trainer

WHATS = ("bifurcation", "fixed-points", "lyapunov")
PAPER_INITS = ("sigmoid", "basic-tanh", "smart-tanh")
INPUTS = ("mean", "zero")
MAX_POINTS = 2000
MAX_W, MAX_B = 1e6, 20.0              # |w| and |b|, |x0| of the one-unit pictures
MAX_RADIUS = 1e3                      # the largest spectral radius W_rec is rescaled to

DESCRIPTION = """\
Recurrent networks as dynamical systems.  --what bifurcation: the paper's one-unit RNN
x_t = w sigma(x_{t-1}) + b, its fixed points over b (stable solid, unstable dashed; Figure 3),
basins of attraction, and the error cliff (Figure 6) where the basin boundary crosses the start.
--what fixed-points: fixed points of a trained network (--checkpoint, or --init trained
--train-updates updates here) by minimizing |F(h) - h|^2 with the engine's gradients from
--starts states the network visits, and the eigenvalues of the Jacobian there, drawn in the
plane of the states' first two principal components.  --what lyapunov: the largest Lyapunov
exponent (QR over the Jacobian chain, checked by a perturbation simulation) against the spectral
radius of W_rec for the inits (W_rec rescaled), and before/after --train-updates updates of
MSGD-C and MSGD-CR, with the Lyapunov spectra.  Writes one PNG (--out)."""


# {argument group: {dest: (flag, default)}}, filled by add_arguments: an option of another
# picture's group, given, is named in a note (it is unused).
GROUPS: dict = {}
USES = {"bifurcation": ("bifurcation",), "fixed-points": ("fixed-points and lyapunov", "fixed-points"),
        "lyapunov": ("fixed-points and lyapunov", "lyapunov")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--what", choices=WHATS, default="bifurcation", help="which picture (default bifurcation)")
    p.add_argument("--out", help="the PNG to write (default: bifurcation.png, fixed_points.png or lyapunov.png)")
    g = p.add_argument_group("bifurcation")
    g.add_argument("--w", type=float, default=5.0, help="the recurrent weight of Figure 3 (default 5)")
    g.add_argument("--cliff-b", type=float, default=-2.5, help="the error-cliff run's bias (default -2.5)")
    g.add_argument("--cliff-x0", type=float, default=0.5, help="the error-cliff run's start (default 0.5)")
    g.add_argument("--points", type=int, default=400,
                   help=f"values of b and of w swept, 10..{MAX_POINTS} (default 400)")
    g = p.add_argument_group("fixed-points and lyapunov")
    g.add_argument("--checkpoint", nargs="+", help="trained run(s): checkpoint.npz written by minigrad train "
                   "(fixed-points takes one)")
    g.add_argument("--init", nargs="+", choices=INIT_CHOICES, default=None,
                   help="without --checkpoint: fresh networks of these inits (default: fixed-points smart-tanh, "
                        "lyapunov the paper's three)")
    g.add_argument("--task", default="temporal-order", help="the task that drives the network (default temporal-order)")
    g.add_argument("--hidden", type=int, default=None,
                   help="hidden units of a fresh network (default the task's preset)")
    g.add_argument("--train-updates", type=int, default=None,
                   help="updates of the built-in training (default: fixed-points 0, lyapunov 3000)")
    g.add_argument("--train-length", type=int, default=20, help="sequence length of the built-in training (default 20)")
    g.add_argument("--method", default="msgd-cr", help="fixed-points: the built-in training's method (default msgd-cr)")
    g.add_argument("--length", type=int, default=None,
                   help="steps the network is driven (default: fixed-points 60, lyapunov 200)")
    g.add_argument("--batch", type=int, default=8, help="sequences driving the network (default 8)")
    g.add_argument("--seed", type=int, default=0)
    g = p.add_argument_group("fixed-points")
    g.add_argument("--starts", type=int, default=256, help="starting states of the search (default 256)")
    g.add_argument("--steps", type=int, default=1500, help="Adam steps of the search (default 1500)")
    g.add_argument("--input", choices=INPUTS, default="mean",
                   help="the constant input of the autonomous map: the task's mean input or zero (default mean)")
    g = p.add_argument_group("lyapunov")
    g.add_argument("--radii", type=int, default=12, help="spectral radii per init for the rescaled curves (default 12)")
    g.add_argument("--min-radius", type=float, default=0.05, help="the smallest spectral radius drawn (default 0.05)")
    g.add_argument("--max-radius", type=float, default=5.0, help="the largest spectral radius drawn (default 5)")
    g.add_argument("--discard", type=int, default=20, help="leading steps left out of the exponents (default 20)")
    g.add_argument("--window", type=int, default=10, help="steps per finite-time exponent (default 10)")
    p.add_argument("--device", default=None)
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    for group in p._action_groups:
        if group.title in USES["fixed-points"] + USES["lyapunov"] + USES["bifurcation"]:
            GROUPS[group.title] = {a.dest: (a.option_strings[0], a.default) for a in group._group_actions}


def _unused(args) -> None:
    """Say, in one line on stderr, which options of another picture (``--hidden`` with the
    bifurcation, ``--w`` with lyapunov...) were given a value other than their default: they are
    unused, and were silently so.  A note, not a refusal: one command line may carry every
    picture's settings (the README's tests run all three with one set)."""
    unused = [flag for title, options in GROUPS.items() if title not in USES[args.what]
              for dest, (flag, default) in options.items()
              if getattr(args, dest, default) != default and not any(dest in GROUPS[t] for t in USES[args.what])]
    if unused:
        takes = sorted({flag for t in USES[args.what] for flag, _ in GROUPS.get(t, {}).values()})
        print(f"minigrad: note: {', '.join(unused)} {'is' if len(unused) == 1 else 'are'} not used by --what "
              f"{args.what} (it takes {', '.join(takes)}, --out, --device, --quiet)", file=sys.stderr)


# ----------------------------------------------------------------------------- checks
def _positive(**values):
    for name, value in values.items():
        if value is not None and value < 1:
            raise RunError(f"--{name.replace('_', '-')} must be at least 1, got {value}")


def _check(args):
    from .cli import _check_checkpoint, _check_out_file
    from .synthetic import get_task
    default = {"bifurcation": "bifurcation.png", "fixed-points": "fixed_points.png", "lyapunov": "lyapunov.png"}
    _unused(args)
    out = Path(args.out or default[args.what])
    if out.suffix.lower() != ".png":
        raise RunError(f"--out {out}: the figure is written as PNG: give a name ending in .png")
    _check_out_file(out, example=default[args.what])
    if args.what == "bifurcation":
        for name, limit in (("w", MAX_W), ("cliff_b", MAX_B), ("cliff_x0", MAX_B)):
            value = getattr(args, name)
            if not math.isfinite(value):
                raise RunError(f"--{name.replace('_', '-')} must be a finite number, got {value}")
            if abs(value) > limit:
                raise RunError(f"--{name.replace('_', '-')} must be within ±{limit:g}, got {value:g} ("
                               + {"w": "beyond it the saddle-nodes' closed form loses all precision)",
                                  "cliff_b": "the pictures' range; below about -35 a saddle-node lies at "
                                             "w ≈ e^|b|, past float64's precision)",
                                  "cliff_x0": "the pictures' range; below -745 σ(x0) underflows to 0)"}[name])
        if not 10 <= args.points <= MAX_POINTS:
            raise RunError(f"--points must be in 10..{MAX_POINTS} (the basins take points x points/2 runs; "
                           f"1000 take 12 s), got {args.points}")
        if args.w <= 4:
            raise RunError(f"--w {args.w:g}: the one-unit map has saddle-node bifurcations only for w > 4 "
                           "(Figure 3 uses 5)")
        return out
    _positive(window=args.window, batch=args.batch, starts=args.starts, steps=args.steps, radii=args.radii,
              hidden=args.hidden, length=args.length, train_length=args.train_length)
    if args.train_updates is not None and args.train_updates < 0:
        raise RunError(f"--train-updates must be 0 or more, got {args.train_updates}")
    if args.discard < 0:
        raise RunError(f"--discard must be 0 or more, got {args.discard}")
    if not 0 < args.min_radius < args.max_radius:
        raise RunError(f"need 0 < --min-radius < --max-radius, got {args.min_radius:g} and {args.max_radius:g}")
    if not args.max_radius <= MAX_RADIUS:
        raise RunError(f"--max-radius must be at most {MAX_RADIUS:g} (a finite spectral radius to rescale W_rec to), "
                       f"got {args.max_radius:g}")
    if args.checkpoint and args.init:
        raise RunError("give --checkpoint or --init, not both")
    if args.checkpoint:
        if args.what == "fixed-points" and len(args.checkpoint) != 1:
            raise RunError(f"--what fixed-points takes one --checkpoint, got {len(args.checkpoint)}")
        for c in args.checkpoint:
            _check_checkpoint(c)
            require_checkpoint_of(c, "train", "minigrad dynamics")
    else:
        get_task(args.task)                                  # an unknown task raises ValueError
        if args.what == "fixed-points" and args.init and len(args.init) != 1:
            raise RunError(f"--what fixed-points takes one --init, got {len(args.init)}")
    length = args.length or (60 if args.what == "fixed-points" else 200)
    if args.what == "lyapunov" and args.discard >= length:
        raise RunError(f"--discard {args.discard} leaves nothing of --length {length}: discard fewer steps")
    return out


# ----------------------------------------------------------------------------- models
def _trainer(args, init: str, method: str, updates: int, progress: bool = False) -> Trainer:
    """A fresh network of ``init`` on ``--task``, trained ``updates`` updates of ``method``
    (with a progress bar of its own when ``progress``)."""
    config = TrainConfig.for_task(args.task, init=init.replace("-", "_"), method=method, hidden=args.hidden,
                                  length=args.train_length, seed=args.seed, device=args.device, dtype="float64",
                                  max_updates=max(1, updates), eval_every=max(1, updates), eval_size=1000,
                                  eval_batch=1000, check_every=0)
    trainer = Trainer(config)
    if updates:
        trainer.train(progress=progress)
    return trainer


def load_for_inspection(path, device=None, float64: bool = True) -> Trainer:
    """The trained run of ``path`` for evaluate, jacobian and dynamics: its weights checked
    finite, on ``device`` if given (the model and the sampler's batches; else the device it was
    trained on) and, with ``float64``, converted to float64 (the loaded copy, not the file)."""
    try:
        trainer = Trainer.from_checkpoint(path)
    except mg.BackendError:
        raise
    except ValueError as e:                 # an edited or foreign file: say which one
        if str(path) in str(e):
            raise
        raise RunError(f"{path}: {e}") from None
    require_finite(trainer.model, path, "use its best.npz or an earlier snapshot")
    if device:
        trainer.model.to(device)
        trainer.config.device = device
    if float64:
        trainer.model.to(dtype="float64")
        trainer.config.dtype = "float64"
    return trainer


def _loaded(path, device) -> Trainer:
    require_checkpoint_of(path, "train", "minigrad dynamics")
    trainer = load_for_inspection(path, device)
    if len(trainer.model.layers) != 1:
        raise RunError(f"{path}: minigrad dynamics reads one-layer models")
    return trainer


def _drive(trainer: Trainer, length: int, batch: int, seed: int):
    """Task sequences of ``length`` steps (float64, on the model's device) to drive the cell."""
    from .synthetic import Sampler
    task = trainer.task
    length = max(length, task.min_length)
    b = Sampler(task, length, seed=(seed, 7), device=trainer.config.device, dtype="float64").batch(batch, length)
    return b.inputs


def _flat(state) -> np.ndarray:
    return np.concatenate([s.numpy() for s in state], -1) if isinstance(state, tuple) else state.numpy()


# ----------------------------------------------------------------------------- the three pictures
def run_bifurcation(args, out) -> dict:
    from viz import dynamics as vd
    fig = vd.bifurcation(path=out, w=args.w, cliff_b=args.cliff_b, cliff_x0=args.cliff_x0, points=args.points)
    n = fig.numbers
    import matplotlib.pyplot as plt
    plt.close(fig)
    sn = ", ".join(f"{b:.4f}" for b in n["saddle_nodes_b"])
    print(f"w = {args.w:g}: saddle-node bifurcations at b = {sn} (bistable between them)")
    sw = ", ".join(f"{w:.4f}" for w in n["saddle_nodes_w"])
    where = f"saddle-nodes at w = {sw}" if sw else "no saddle-node over w (b > -2, above the cusp)"
    if math.isfinite(n["cliff_w"]):
        print(f"b = {args.cliff_b:g}: {where}; the basin boundary crosses x0 = {args.cliff_x0:g} "
              f"at w = {n['cliff_w']:.4f} (the error cliff)")
    else:
        jumps = ", ".join(f"{w:.4f}" for w in _fold_jumps(args.cliff_x0, args.cliff_b, n["saddle_nodes_w"]))
        print(f"b = {args.cliff_b:g}: {where}; no basin boundary crosses x0 = {args.cliff_x0:g} at any w "
              "(the fixed point through x0 is stable, or would need w <= 0)"
              + (f": the state's end jumps only at the saddle-node w = {jumps}, where its attractor "
                 "appears or vanishes" if jumps else ": the state's end moves continuously with w, no cliff"))
    print(f"wrote {out}")
    return n


def _fold_jumps(x0: float, b: float, folds) -> list:
    """The saddle-nodes w (of ``folds``) across which the end of the run from x0 jumps: the
    attractor it runs to, by iteration just below and just above each."""
    jumps = []
    for w in folds:
        below, above = dyn.one_unit_attractor(x0, np.array([w * (1 - 1e-6), w * (1 + 1e-6)]), b, steps=20_000)
        if abs(above - below) > 0.1 * (1 + abs(below)):
            jumps.append(float(w))
    return jumps


def run_fixed_points(args, out, progress=True) -> dict:
    from viz import dynamics as vd
    length = args.length or 60
    if args.checkpoint:
        trainer = _loaded(args.checkpoint[0], args.device)
        label = checkpoint_labels(args.checkpoint[:1], [f"update {trainer.state.update}"])[args.checkpoint[0]]
    else:
        init = (args.init or ["smart-tanh"])[0]
        updates = args.train_updates or 0
        trainer = _trainer(args, init, args.method, updates, progress=progress)
        label = f"{init}" + (f", {updates} updates of {args.method.upper()}" if updates else ", untrained")
    cell = trainer.model.cell
    inputs = _drive(trainer, length, max(args.batch, 1), args.seed)
    with mg.no_grad():
        run = rnn.unroll(cell, inputs)
    traj = np.stack([_flat(s) for s in run.states])                   # (T + 1, B, S)
    rng = np.random.default_rng(args.seed)
    visited = traj[1:].reshape(-1, traj.shape[-1])
    starts = visited[rng.choice(len(visited), args.starts, replace=len(visited) < args.starts)]
    starts = starts + 0.05 * rng.standard_normal(starts.shape) * starts.std()
    x = None if args.input == "zero" else inputs.numpy().reshape(-1, inputs.shape[-1]).mean(0)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=args.steps, unit="step", desc="fixed points (Adam)")
    found = dyn.find_fixed_points(cell, starts, x=x, steps=args.steps, progress=bar.update if bar else None)
    host = inputs.numpy()
    events = None
    if trainer.task.name.startswith("temporal_order"):              # the symbols A, B: channels 0 and 1
        events = np.concatenate([np.zeros((1, host.shape[1]), bool), host[..., :2].sum(-1) > 0])
    title = (f"Fixed points of {trainer.config.task} ({label}), input {args.input}: "
             f"{int(found.fixed.sum())} found from {args.starts} starts")
    import matplotlib.pyplot as plt
    if bar is not None:
        bar.close()
    plt.close(vd.fixed_points(found, traj, path=out, title=title, slow=1e-4, markers=events,
                              markers_label="a symbol (A or B) read"))
    print(f"{label}: {int(found.fixed.sum())} fixed points (q < {found.tol:g}), "
          f"{int((~found.fixed & (found.q < 1e-4)).sum())} slow points (q < 1e-4)")
    for i in np.flatnonzero(found.fixed):
        kind = "stable" if found.stable[i] else "unstable"
        print(f"  point {i}: |h| = {np.linalg.norm(found.points[i]):.3f}, q = {found.q[i]:.1e}, "
              f"{found.counts[i]} starts, max |eigenvalue| = {found.spectral_radius[i]:.4f} ({kind}), "
              f"{int((np.abs(found.eigenvalues[i]) > 1).sum())} unstable directions")
    print(f"wrote {out}")
    return {"found": found, "label": label}


def run_names(paths) -> dict:
    """``{checkpoint path: the name of its run}``: the run folder's name (a snapshot's run is the
    folder above ``snapshots/``); where two runs have the same name, the shortest tail of their
    paths that tells them apart (``A/run`` and ``B/run``).  Checkpoints of one run share a name."""
    folders = {}
    for path in paths:
        folder = Path(path).resolve().parent
        folders[path] = folder.parent if folder.name == "snapshots" else folder
    distinct = set(folders.values())

    def name(folder: Path) -> str:
        parts = folder.parts
        for n in range(1, len(parts) + 1):
            if not any(g != folder and g.parts[-n:] == parts[-n:] for g in distinct):
                return "/".join(p for p in parts[-n:] if p != "/") or str(folder)
        return str(folder)

    names = {f: name(f) for f in distinct}
    return {path: names[folders[path]] for path in paths}


def checkpoint_labels(paths, updates) -> dict:
    """``{checkpoint path: a label}`` that tells every checkpoint apart in a legend:
    ``"<run> @ <update>"`` (the run as :func:`run_names` names it, so ``snapshots/*.npz`` are
    named by their run), with the file's name added where two files of one run were saved at
    the same update (``to20b (best.npz) @ 2150``), and a counter where one file is given twice."""
    names = run_names(paths)
    label = {path: f"{names[path]} @ {update}" for path, update in zip(paths, updates)}
    for path in paths:
        same = [p for p in paths if label[p] == label[path]]
        if len({Path(p).resolve() for p in same}) > 1:
            for p in same:
                file = Path(p).name if Path(p).parent.name != "snapshots" else f"snapshots/{Path(p).name}"
                label[p] = f"{names[p]} ({file}) @ {label[p].rsplit(' @ ', 1)[1]}"
    seen, unique = {}, {}
    for path in paths:                  # one file given twice: both curves kept, told apart
        seen[label[path]] = seen.get(label[path], 0) + 1
        unique[path] = label[path] if seen[label[path]] == 1 else f"{label[path]} ({seen[label[path]]})"
    return unique


def _exponent(cell, inputs, discard):
    lam = dyn.largest_lyapunov_exponent(cell, inputs, discard=discard)
    check = dyn.perturbation_exponent(cell, inputs, discard=discard)
    return lam, check


def run_lyapunov(args, out, progress=True) -> dict:
    from viz import dynamics as vd
    length = args.length or 200
    updates = 3000 if args.train_updates is None else args.train_updates
    if args.checkpoint:
        groups = {}
        names = run_names(args.checkpoint)
        for path in args.checkpoint:
            trainer = _loaded(path, args.device)
            if not isinstance(trainer.model.cell, rnn.RNNCell):
                raise RunError(f"{path}: a {trainer.config.cell} cell has no W_rec: --what lyapunov plots "
                               "against the spectral radius of a vanilla RNN's W_rec")
            # one group per run, its checkpoints (snapshots) in update order, each update once
            groups.setdefault(names[path], {})[f"update {trainer.state.update}"] = trainer
        for name, models in groups.items():
            groups[name] = dict(sorted(models.items(), key=lambda kv: kv[1].state.update))
    else:
        inits = args.init or list(PAPER_INITS)
        groups = {init: None for init in inits}
    jobs = sum((1 + (2 if updates else 0)) if groups[g] is None else len(groups[g]) for g in groups)
    jobs += len(groups) * args.radii
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=jobs, unit="model", desc="lyapunov")
    curves, trained, spectra, gains, finite, rows = {}, {}, {}, {}, {}, []
    window = args.window
    for name in groups:
        if groups[name] is None:
            models = {"init": _trainer(args, name, "msgd-c", 0)}
            if bar:
                bar.update(1)
            if updates:
                for method in ("msgd-c", "msgd-cr"):
                    models[f"after {updates} upd. {method.upper()}"] = _trainer(args, name, method, updates)
                    if bar:
                        bar.update(1)
        else:
            models = groups[name]
        first = next(iter(models.values()))
        inputs = _drive(first, length, args.batch, args.seed)
        trained[name] = {}
        for label, trainer in models.items():
            cell = trainer.model.cell
            rho = rnn.spectral_radius(cell.W_rec.numpy())
            lam, check = _exponent(cell, inputs, args.discard)
            trained[name][label] = (rho, lam)
            error = trainer.state.last_error
            rows.append((name, label, rho, lam, check, error))
            if name == list(groups)[-1]:                      # the last init's (or checkpoint's) full spectra
                result = dyn.lyapunov_run(cell, inputs, discard=args.discard)
                spectra[f"{name}: {label}"] = result.exponents
                window = min(args.window, length - args.discard)
                finite[f"{name}: {label}"] = result.finite_time(window)[:, :, 0]
            if bar and groups[name] is not None:
                bar.update(1)
        # the first model's W_rec rescaled to several spectral radii (W_in and b kept)
        cell = first.model.cell
        W = cell.W_rec.numpy()
        rhos = np.geomspace(args.min_radius, args.max_radius, args.radii)
        lams = []
        for r in rhos:
            scaled = rnn.RNNCell(cell.n_in, cell.hidden, cell.activation, init={
                "W_in": cell.W_in.numpy(), "W_rec": rnn.scale_to_spectral_radius(W, r),
                "b": cell.b.numpy() if cell.b is not None else np.zeros(cell.hidden)}, dtype="float64",
                device=first.config.device)
            lams.append(dyn.largest_lyapunov_exponent(scaled, inputs, discard=args.discard))
            if bar:
                bar.update(1)
        curves[name] = (rhos, np.array(lams))
        gains[name] = 0.25 if cell.activation == "sigmoid" else 1.0
    if bar:
        bar.close()
    import matplotlib.pyplot as plt
    title = f"λ_1 against ρ(W_rec), {first.config.task} inputs, {length} steps x {args.batch} sequences"
    plt.close(vd.lyapunov(curves, trained, spectra, gains=gains, path=out, title=title, finite=finite,
                          window=window))
    width = max([14] + [len(r[0]) + 1 for r in rows])
    print(f"{'network':<{width}} {'model':<26} {'rho(W_rec)':>10} {'lambda_1 QR':>12} {'perturbation':>12} {'error':>7}")
    for name, label, rho, lam, check, error in rows:
        e = "-" if error is None else f"{100 * error:.1f}%"
        print(f"{name:<{width}} {label:<26} {rho:>10.3f} {lam:>12.4f} {check:>12.4f} {e:>7}")
    worst = max(abs(r[3] - r[4]) for r in rows)
    print(f"QR and perturbation estimates of lambda_1 differ by at most {worst:.2e}")
    print(f"wrote {out}")
    return {"curves": curves, "trained": trained, "spectra": spectra, "rows": rows}


def cmd_dynamics(args) -> int:
    out = _check(args)
    out.parent.mkdir(parents=True, exist_ok=True)      # checked writable: made now, not after the work
    if args.what == "bifurcation":
        run_bifurcation(args, out)
    elif args.what == "fixed-points":
        run_fixed_points(args, out, progress=not args.quiet)
    else:
        run_lyapunov(args, out, progress=not args.quiet)
    return 0
