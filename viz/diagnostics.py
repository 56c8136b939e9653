"""Training diagnostics over a run (matplotlib, headless): what :mod:`tasks.diagnostics` logs at
every evaluation, drawn against the update.

Every function takes the log rows that hold diagnostics (plain dicts, as read from log.jsonl),
returns the ``Figure`` and saves it when given ``path``.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from .plots import _finish  # noqa: E402

GATE_COLOURS = {"i": "#2171b5", "f": "#de2d26", "o": "#31a354", "z": "#756bb1", "r": "#e6550d"}


def _updates(rows) -> np.ndarray:
    return np.array([r["update"] for r in rows], dtype=float)


def _whole_updates(ax, rows):
    """Updates are whole numbers: no tick at 299.6.  One evaluation gets one tick, at its update
    (else a unit-wide axis of fractional ticks)."""
    from matplotlib.ticker import MaxNLocator
    updates = np.unique(_updates(rows))
    if len(updates) == 1:
        ax.set_xticks(updates)
        ax.set_xticklabels([f"{int(updates[0])}"])
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted ``centres`` (midpoints; a single centre gets a unit-wide cell)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    mid = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - mid[0]], mid, [2 * centres[-1] - mid[-1]]])


def histogram_matrix(rows) -> tuple:
    """``(fractions, log10 edges)``: the rows' ``grad_hist`` counts as fractions of each row's
    total, (bins + 2, evaluations), and the bin edges (the open ends drawn one bin wide)."""
    first = rows[0]["grad_hist"]
    lo, width, n = first["lo"], first["width"], len(first["counts"])
    for r in rows:
        h = r["grad_hist"]
        if (h["lo"], h["width"], len(h["counts"])) != (lo, width, n):
            raise ValueError(f"update {r['update']}: histogram bins differ from the first row's "
                             f"(lo {h['lo']} width {h['width']}, {len(h['counts'])} counts; first: lo {lo} "
                             f"width {width}, {n} counts)")
    counts = np.array([r["grad_hist"]["counts"] for r in rows], dtype=float).T
    totals = counts.sum(axis=0, keepdims=True)
    fractions = counts / np.where(totals > 0, totals, 1)
    edges = lo + width * (np.arange(n + 1) - 1.0)          # [lo - width, lo, ..., hi, hi + width]
    return fractions, edges


def gradient_histogram(rows, path=None, title="Where the error signal is: log10 ||dE/ds_k|| over training"):
    """Heat map: x the update of each evaluation, y log10 ||dE/ds_k|| in the logged bins, the
    colour the fraction of (step k, sequence) pairs in the bin (log scale); the bottom and top
    rows are the open ends (below the lowest edge, zeros included; above the highest, or not
    finite).  Only the range of bins that ever held a count is shown."""
    fractions, edges = histogram_matrix(rows)
    used = np.flatnonzero(fractions.sum(axis=1) > 0)
    lo_i, hi_i = (used[0], used[-1]) if used.size else (0, len(fractions) - 1)
    lo_i, hi_i = max(0, lo_i - 1), min(len(fractions) - 1, hi_i + 1)
    shown = np.ma.masked_equal(fractions[lo_i:hi_i + 1], 0.0)
    x = _edges(_updates(rows))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    positive = fractions[fractions > 0]
    norm = LogNorm(vmin=max(positive.min(), 1e-4), vmax=1.0) if positive.size else None
    mesh = ax.pcolormesh(x, edges[lo_i:hi_i + 2], shown, cmap="viridis", norm=norm, shading="flat")
    fig.colorbar(mesh, ax=ax, label="fraction of (k, sequence) pairs")
    n = len(fractions)
    if lo_i == 0:
        ax.annotate("below (incl. 0)", xy=(0, edges[0] + 0.5 * (edges[1] - edges[0])),
                    xycoords=("axes fraction", "data"), fontsize=7, color="#555555", va="center")
    if hi_i == n - 1:
        ax.annotate("above / not finite", xy=(0, edges[-2] + 0.5 * (edges[-1] - edges[-2])),
                    xycoords=("axes fraction", "data"), fontsize=7, color="#555555", va="center")
    ax.set_xlabel("update")
    _whole_updates(ax, rows)
    ax.set_ylabel("log10 ||dE/ds_k||")
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def _series(rows, key, gate=None) -> list:
    """One logged value per row (``row[key]``, or ``row[key][gate]``), NaN where it is missing."""
    values = [r.get(key) if gate is None else (r.get(key) or {}).get(gate) for r in rows]
    return [np.nan if v is None else v for v in values]


def saturation(rows, path=None, title="Saturation over training"):
    """Left: the mean of 1 - |u| over the tanh units (0: all saturated at ±1, 1: all at 0) and,
    for gated cells, over each sigmoid gate as 1 - |2g - 1|; right (gated cells): each gate's
    mean value."""
    x = _updates(rows)
    gates = sorted({g for r in rows for g in (r.get("gate_saturation") or {})}, key="ifozr".find)
    fig, axes = plt.subplots(1, 2 if gates else 1, figsize=(11 if gates else 7, 4), squeeze=False)
    left = axes[0][0]
    tanh = np.array(_series(rows, "tanh_saturation"))
    if np.isfinite(tanh).any():
        left.plot(x, tanh, "o-", ms=3, color="#444444", label="tanh units: 1 - |u|")
    for g in gates:
        left.plot(x, _series(rows, "gate_saturation", g), "o-", ms=3, color=GATE_COLOURS.get(g), label=f"gate {g}: 1 - |2{g} - 1|")
    left.set_ylim(-0.02, 1.02)
    left.set_xlabel("update")
    _whole_updates(left, rows)
    left.set_ylabel("mean distance from saturation")
    left.set_title("0: saturated (no gradient passes), 1: linear regime", fontsize=9)
    if left.lines:
        left.legend(fontsize=8)
    else:
        left.text(0.5, 0.5, "no tanh units (relu or linear cell)", ha="center", transform=left.transAxes)
    if gates:
        right = axes[0][1]
        for g in gates:
            right.plot(x, _series(rows, "gate_mean", g), "o-", ms=3, color=GATE_COLOURS.get(g), label=f"gate {g}")
        right.set_ylim(-0.02, 1.02)
        right.set_xlabel("update")
        _whole_updates(right, rows)
        right.set_ylabel("mean gate value")
        right.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


def lyapunov(rows, path=None, title="Largest Lyapunov exponent of the cell on the task's inputs"):
    """λ_1 (natural log per step) against the update; below the line at 0 perturbations and
    back-propagated errors shrink by exp(λ_1) per step, above it they grow."""
    x = _updates(rows)
    lam = np.array([np.nan if r.get("lyapunov") is None else r["lyapunov"] for r in rows], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.axhline(0.0, color="k", lw=0.8, ls=":")
    ax.plot(x, lam, "o-", ms=3, color="#de2d26", label="λ_1")
    finite = lam[np.isfinite(lam)]
    if finite.size:
        ax.text(0.02, 0.04, f"last: λ_1 = {finite[-1]:.3g}, exp(λ_1) = {np.exp(finite[-1]):.3g} per step",
                transform=ax.transAxes, fontsize=8)
    ax.set_xlabel("update")
    _whole_updates(ax, rows)
    ax.set_ylabel("λ_1 (per step)")
    ax.set_title(title, fontsize=10)
    return _finish(fig, path)


def from_rows(rows, out, label: str = "") -> list:
    """Draw the three pictures of ``rows`` into folder ``out``; returns their paths."""
    out = Path(out)
    suffix = f" ({label})" if label else ""
    paths = [out / "grad_hist.png", out / "saturation.png", out / "lyapunov.png"]
    for draw, path, title in zip((gradient_histogram, saturation, lyapunov), paths,
                                 (f"log10 ||dE/ds_k|| over training{suffix}", f"Saturation over training{suffix}",
                                  f"Largest Lyapunov exponent{suffix}")):
        plt.close(draw(rows, path=path, title=title))
    return paths
