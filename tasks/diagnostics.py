"""Diagnostics a student asks for during training, computed at every evaluation and written into
the run's log.jsonl (``minigrad diagnostics RUN`` draws them over training).

All of them are taken on one small fixed batch: ``batch_size`` sequences of the task, the same
ones at every evaluation (seeded ``(seed, 5, 0)``, a stream of its own: no training,
evaluation or check stream is read, so a run trains, and resumes, exactly as without them).
With s_k the state handed from step k to step k + 1 (h_k; (h_k, c_k) for an LSTM) and
``δ_k = dE/ds_k`` the total BPTT derivative of the batch's loss (:func:`rnn.state_gradients`):

* ``grad_hist``: the histogram of ``log10 ||δ_k||`` over every (step k = 1..T, sequence)
  pair, as fixed bins ``{"lo", "width", "counts"}``: ``counts[0]`` counts the norms below
  ``10**lo`` (exact zeros included), ``counts[1 + i]`` those with log10 in
  ``[lo + i width, lo + (i + 1) width)``, ``counts[-1]`` those at or above ``10**hi`` or not
  finite.  Vanishing gradients pile up on the left, exploding ones on the right.
* ``tanh_saturation``: the mean of ``1 - |u|`` over the cell's tanh units u and every step,
  sequence and unit: 0 when every unit sits at ±1 (saturated: φ' = 1 - u² = 0, no gradient
  passes), 1 when every unit sits at 0 (the linear regime).  The units are h_k for the vanilla
  tanh cell (``tanh(a_k)`` with leaky units); ``2 h_k - 1`` for the sigmoid cell (σ(a) =
  (1 + tanh(a/2)) / 2, so the same measure on σ's range); tanh(c_k) for the LSTM (the tanh of
  ``h_k = o ⊙ tanh(c_k)``); the candidate ``n_k`` for the GRU; None for relu and linear cells.
* ``gate_saturation`` (gated cells; None otherwise): per sigmoid gate, the mean of
  ``1 - |2g - 1|`` (0: the gate is shut or fully open everywhere; 1: every gate value is 1/2),
  and ``gate_mean``: per gate, the mean value (a forget gate near 1 keeps its memory).  The gates
  are recomputed from the cell's parameters on the recorded states (``[i, f, o, g] = x W_x +
  h W_h + b`` for the LSTM, ``z``, ``r`` for the GRU), all steps at once.
* ``lyapunov``: the largest Lyapunov exponent λ_1 (natural log per step) of the cell driven by
  the batch's first :data:`LYAPUNOV_BATCH` sequences from the zero state
  (:func:`rnn.dynamics.largest_lyapunov_exponent`), the first quarter of the steps left out
  while the tangent direction aligns: ``exp(λ_1)`` is the factor by which the largest
  perturbation -- and a back-propagated error -- grows per step (λ_1 < 0: gradients vanish).

A number that is not finite (NaN weights' saturation; λ_1 = -inf when a one-step Jacobian is
exactly singular, as with W_rec = 0) is logged as None.

Cost: one forward and backward pass on ``batch_size`` sequences, one pass recomputing the gates,
and the Jacobian chain (S x S per step) of :data:`LYAPUNOV_BATCH` sequences, which is most of
it.  Measured on the CPU (2 shared cores, float64, batch 20, against an evaluation of 10,000
sequences in the same process): temporal order T = 20, 50 tanh units, 33 ms (4% of the
evaluation); T = 50, 62 ms (3%; 1% of an evaluation period of 500 updates); T = 200, 100 units,
0.66 s (4%); LSTM T = 50, 0.36 s (5%); GRU 0.18 s (4%); float32, T = 50, 40 ms (7%).
``TrainConfig(diagnostics=False)`` (``--no-diagnostics``) leaves them out.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np

import minigrad as mg
import rnn
from rnn import dynamics

STREAM = 5                  # the data stream of the diagnostic batch: seeded (seed, 5, 0)
HIST_LO, HIST_HI, HIST_WIDTH = -24.0, 4.0, 0.5      # log10 bins of ||dE/ds_k||: 56 bins and two open ends
LYAPUNOV_BATCH = 2          # sequences of the batch the Lyapunov exponent is taken on (its cost: S x theirs)
KEYS = ("grad_hist", "tanh_saturation", "gate_saturation", "gate_mean", "lyapunov")


# ----------------------------------------------------------------------------- the numbers
def histogram(norms, lo: float = HIST_LO, hi: float = HIST_HI, width: float = HIST_WIDTH) -> dict:
    """Fixed-bin counts of ``log10(norms)`` (any shape): ``{"lo", "width", "counts"}`` with
    ``counts[0]`` below ``10**lo`` (zeros included), ``counts[1 + i]`` in
    ``[10**(lo + i width), 10**(lo + (i + 1) width))``, ``counts[-1]`` at or above ``10**hi``,
    infinite or NaN."""
    bins = int(round((hi - lo) / width))
    if bins < 1 or not math.isclose(lo + bins * width, hi):
        raise ValueError(f"hi - lo must be a positive multiple of width, got lo {lo}, hi {hi}, width {width}")
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log10(np.abs(np.asarray(norms, dtype=np.float64)).ravel())
    under = logs < lo                                   # -inf (a zero norm) included; NaN is not
    over = ~under & ~(logs < hi)                        # >= hi, +inf and NaN
    inside = logs[~under & ~over]
    index = np.minimum(np.floor((inside - lo) / width).astype(np.int64), bins - 1)
    counts = np.concatenate([[under.sum()], np.bincount(index, minlength=bins), [over.sum()]])
    return {"lo": float(lo), "width": float(width), "counts": [int(n) for n in counts]}


def state_gradient_norms(model, inputs, targets):
    """``(norms, run)``: ||dE/ds_k|| for k = 1..T and every sequence, a (T, B) host array (an
    LSTM's (dE/dh_k, dE/dc_k) taken together), with E the head's loss of ``model`` on the batch;
    and the first layer's unrolled run.  No parameter's ``.grad`` is touched."""
    outputs, runs = model.run(inputs)
    loss = model.head.loss(outputs, targets)
    _, deltas = rnn.state_gradients(loss, runs[0])
    with mg.no_grad():
        squares = [sum((c * c).sum(-1) for c in (d if isinstance(d, tuple) else (d,))) for d in deltas]
        norms = mg.stack(squares).sqrt().numpy()
    return norms, runs[0]


def _previous(run):
    """The states s_0..s_{T-1} that steps 1..T read, stacked per component, detached."""
    states = run.states[:-1]
    if isinstance(states[0], tuple):
        return tuple(mg.stack([s[i].detach() for s in states]) for i in range(len(states[0])))
    return mg.stack([s.detach() for s in states])


def activations(cell, inputs, run) -> tuple:
    """``(units, gates)`` of ``cell`` over a recorded ``run`` on ``inputs`` (T, B, n_in), all
    steps at once: ``units`` the tanh-like units in [-1, 1] that ``tanh_saturation`` reads (see
    the module docstring; None for relu and linear cells), ``gates`` a dict of the sigmoid
    gates' values, (T, B, N) each (empty for the vanilla cell)."""
    T = len(run)
    x = inputs[:T].detach()
    with mg.no_grad():
        prev = _previous(run)
        if isinstance(cell, rnn.LSTMCell):
            h, _ = prev
            i, f, o, _ = mg.split(x @ cell.W_x + h @ cell.W_h + cell.b, 4, axis=-1)
            c = mg.stack([s[1].detach() for s in run.states[1:]])
            return c.tanh(), {"i": i.sigmoid(), "f": f.sigmoid(), "o": o.sigmoid()}
        if isinstance(cell, rnn.GRUCell):
            z, r, n = cell.gates(x, prev)
            return n, {"z": z, "r": r}
        if isinstance(cell, rnn.RNNCell):
            if cell.activation not in ("tanh", "sigmoid"):
                return None, {}
            out = (mg.stack([h.detach() for h in run.hiddens[1:]]) if cell.leak is None
                   else cell.phi(cell.preactivation(x, prev)))
            return (out if cell.activation == "tanh" else 2 * out - 1), {}
    raise TypeError(f"no diagnostics for a {type(cell).__name__}: the cells are {', '.join(rnn.CELLS)}")


def _finite(value: float):
    """``value``, or None where it is not finite (a JSON log row holds no NaN)."""
    return value if math.isfinite(value) else None


def _margin(u):
    """Mean of 1 - |u| (u in [-1, 1]); None if not finite."""
    return _finite((1 - u.abs()).mean().item())


def compute(model, inputs, targets, lyapunov: bool = True) -> dict:
    """The diagnostics of ``model`` (a one-layer :class:`rnn.SequenceModel`: its first cell is
    looked at) on the batch ``inputs`` (T, B, n_in), ``targets``: a dict with the keys of
    :data:`KEYS` (see the module docstring), JSON-ready (floats, lists, dicts, None)."""
    cell = model.cell
    norms, run = state_gradient_norms(model, inputs, targets)
    units, gates = activations(cell, inputs, run)
    row = {"grad_hist": histogram(norms),
           "tanh_saturation": None if units is None else _margin(units),
           "gate_saturation": {k: _margin(2 * g - 1) for k, g in gates.items()} if gates else None,
           "gate_mean": {k: _finite(g.mean().item()) for k, g in gates.items()} if gates else None,
           "lyapunov": None}
    if lyapunov:
        x = inputs[:, :LYAPUNOV_BATCH].detach()
        row["lyapunov"] = _finite(dynamics.largest_lyapunov_exponent(cell, x, discard=x.shape[0] // 4))
    return row


# ----------------------------------------------------------------------------- the command
DESCRIPTION = """\
Draw the diagnostics that minigrad train logs at every evaluation (log.jsonl), over training:
grad_hist.png, the histogram of log10 ||dE/ds_k|| over the steps k and sequences of a fixed
batch, one column per evaluation (vanishing gradients pile up at the bottom, exploding ones at
the top); saturation.png, the mean of 1 - |u| over the tanh units (0: saturated at +-1) and, for
gated cells, the saturation and the mean of each gate; lyapunov.png, the largest Lyapunov
exponent of the cell driven by the task's inputs (below 0: perturbations and errors shrink per
step)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="RUN_FOLDER", help="a run folder of minigrad train (holding log.jsonl)")
    p.add_argument("--out", default=None, help="folder for the pictures (default RUN_FOLDER/diagnostics)")


def read_rows(folder) -> list:
    """The log rows of run ``folder`` that hold diagnostics; RunError (one line) when there are
    none or the folder is not a run."""
    from .runfiles import RunFiles
    from .train import RunError
    folder = Path(folder)
    if not folder.exists():
        raise RunError(f"{folder}: no such run folder (give a folder written by minigrad train)")
    if not folder.is_dir():
        hint = f", such as {folder.parent}" if (folder.parent / "log.jsonl").exists() else ""
        raise RunError(f"{folder} is a file: give a run folder{hint}")
    if not (folder / "log.jsonl").is_file():
        raise RunError(f"{folder} holds no log.jsonl: not a run folder of minigrad train, or no evaluation yet")
    files = RunFiles(folder)                        # the folder exists: nothing is made or written
    rows = files.rows()
    kept = [r for r in rows if isinstance(r.get("grad_hist"), dict)]
    if not kept:
        raise RunError(f"{files.log_path}: no evaluation row holds diagnostics (the run was trained with "
                       "--no-diagnostics, or by a version before them): nothing to draw")
    return kept


def cmd_diagnostics(args) -> int:
    from .train import RunError
    rows = read_rows(args.folder)
    from .runfiles import check_out_folder
    out = Path(args.out) if args.out else Path(args.folder) / "diagnostics"
    if out.exists() and not out.is_dir():
        raise RunError(f"--out {out} is a file, not a folder")
    check_out_folder(out)                       # a read-only place: one line naming --out
    out.mkdir(parents=True, exist_ok=True)
    from viz import diagnostics as pictures
    config = _config_of(args.folder)
    paths = pictures.from_rows(rows, out, label=config)
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _config_of(folder) -> str:
    """A short label of the run ("temporal_order T=20 msgd-cr"), from its config.json if readable."""
    import json
    try:
        c = json.loads((Path(folder) / "config.json").read_text())
        cell = "" if c.get("cell", "rnn") == "rnn" else f" {c['cell']}"
        return f"{c['task']} T={c['length']} {c['method']}{cell}"
    except (OSError, ValueError, KeyError, TypeError):
        return Path(folder).name
