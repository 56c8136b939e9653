r"""How far back the error signal reaches, model by model: the figure of ``minigrad compare``.

One panel per model (tanh RNN, LSTM, GRU, attention seq2seq, NTM), side by side with a shared
log-scale y axis, against the input step k:

* ||dE/ds_k||, the total gradient at the recurrent state after step k (every path), before
  (dashed) and after (solid) training;
* ||dE/ds_k|| through the recurrence alone (seq2seq: the attention cut; NTM: the heads cut, so
  the memory carries nothing back), dotted, before (faint) and after training;
* ||dE/dM_k|| at the NTM's memory after step k's write, after training;
* the spectral norm of the Jacobian chain ||ds_T/ds_k||, after training, grey.

For the tanh RNN, the LSTM and the GRU the gradient has no other path than the recurrence and
falls with the chain.  In the seq2seq and NTM panels the distance between the total gradient
(red) and the recurrence's share (dotted) is what the attention and the memory carry back
past the recurrence; where the chain itself stays near 1 (an NTM's controller, whose inputs
include the reads), the recurrence loses little and the two curves stay close.
The shaded bands mark the steps where temporal order places its two symbols (from 0.1 T and
from 0.5 T, 0.1 T steps each).

The panels share one log-scale y axis, cut at 1e-16 (a tanh RNN that saturates in training
reaches 1e-40 and would flatten every other curve).

Takes the dict that :func:`tasks.compare.compare` returns (or its JSON file).
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

FLOOR = 1e-16        # the shared y axis starts here at the lowest: below, a curve has vanished for good
COLOURS = {"grad": "#de2d26", "grad_recurrence": "#2171b5", "memory_grad": "#31a354", "jacobian": "#737373"}


def _positive(values):
    """Zeros (a gradient that underflowed, or a path that does not exist), inf (one that
    overflowed) and NaN cannot be drawn on a log scale: NaN leaves a gap instead."""
    a = np.asarray(values, dtype=float)
    return np.where((a > 0) & np.isfinite(a), a, np.nan)


def gradient_paths(result, path=None, title: str | None = None):
    """The figure (returned; saved to ``path`` when given) of a comparison: ``result`` is the
    dict of :func:`tasks.compare.compare` or the path of its JSON."""
    if isinstance(result, (str, Path)):
        result = json.loads(Path(result).read_text())
    models = result.get("models") or {}
    if not models:
        raise ValueError("gradient_paths: the comparison holds no models")
    k = np.asarray(result["k"])
    T = int(k[-1])
    trained = (result.get("config") or {}).get("updates", 1) != 0     # --updates 0: before is after
    now = "trained" if trained else "untrained"
    fig, axes = plt.subplots(1, len(models), figsize=(3.3 * len(models) + 0.6, 4.3), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (kind, r) in zip(axes, models.items()):
        for start in (int(0.1 * T), int(0.5 * T)):       # 0-based positions start..start+span-1 = steps k
            ax.axvspan(start + 0.5, start + int(0.1 * T) + 0.5, color="#fff3bf", lw=0)
        before, after = r["before"], r["after"]
        if trained:
            ax.semilogy(k, _positive(before["grad"]), ls="--", lw=1.0, color=COLOURS["grad"], alpha=0.6,
                        label="||dE/ds_k||, untrained")
        ax.semilogy(k, _positive(after["grad"]), lw=1.8, color=COLOURS["grad"], label=f"||dE/ds_k||, {now}")
        if "grad_recurrence" in before and trained:
            ax.semilogy(k, _positive(before["grad_recurrence"]), ls=":", lw=1.0, color=COLOURS["grad_recurrence"],
                        alpha=0.6, label="  through the recurrence only, untrained")
        if "grad_recurrence" in after:
            ax.semilogy(k, _positive(after["grad_recurrence"]), ls=":", lw=1.8, color=COLOURS["grad_recurrence"],
                        label=f"  through the recurrence only, {now}")
        if "memory_grad" in after:
            ax.semilogy(k, _positive(after["memory_grad"]), lw=1.4, color=COLOURS["memory_grad"],
                        label="||dE/dM_k|| (memory)")
        ax.semilogy(k, _positive(after["jacobian"]), lw=1.2, color=COLOURS["jacobian"],
                    label="||ds_T/ds_k|| (Jacobian chain)")
        acc = f"accuracy {100 * r.get('accuracy_after', float('nan')):.0f}%"
        ax.set_title(f"{r.get('label', kind)}\n{acc}", fontsize=10)
        ax.set_xlabel("input step k")
        ax.set_xlim(1, T)
        ax.grid(True, which="major", alpha=0.3)
    drawn = {"before": ("grad", "grad_recurrence") if trained else (), "after": tuple(COLOURS)}  # the curves drawn
    values = np.concatenate([_positive(r[when][key]) for r in models.values() for when in drawn
                             for key in drawn[when] if key in r[when]])
    finite = values[np.isfinite(values)]
    raw = np.concatenate([np.asarray(r[when][key], dtype=float) for r in models.values() for when in drawn
                          for key in drawn[when] if key in r[when]])
    gaps = "; NaN, inf and 0: gaps" if not np.all(np.isfinite(raw) & (raw > 0)) else ""
    if finite.size:
        axes[0].set_ylim(max(FLOOR, finite.min() / 3), finite.max() * 3)
    cut = f"; cut at {FLOOR:g}" if finite.size and finite.min() < FLOOR else ""
    axes[0].set_ylabel(f"norm (log scale{cut}{gaps})")
    handles = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=min(len(handles), 4), fontsize=8,
               frameon=False)
    config = result.get("config", {})
    fig.suptitle(title or f"Temporal order, T = {T}: how far back dE/ds_k reaches "
                          f"({config.get('updates', '?') if trained else 'untrained: 0'} updates each; shaded: "
                          "where the two symbols are)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
