"""The Neural Turing Machine's memory use drawn as in its paper (Graves, Wayne & Danihelka 2014,
Figure 6): what went in, what came out, and where the write and read heads looked at each step.

matplotlib, headless (the Agg backend, as :mod:`viz.plots`).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402


def shown_slots(write_w, read_w, threshold: float = 0.01, margin: int = 2) -> np.ndarray:
    """The memory slots worth drawing, in order: the shortest run of consecutive slots holding
    every slot that either head gave more than ``threshold`` of its weight at some step, widened
    by ``margin`` slots on each side.

    The memory is circular (a shift moves the weight of the last slot to slot 0), so the run may
    wrap round: a head that started at slot 0 and shifted by -1 each step used 0, N-1, N-2...,
    and the run drawn is N-k..N-1, 0.  It is found as the complement of the widest gap between
    used slots, going round the circle."""
    used = np.flatnonzero((np.asarray(write_w) > threshold).any(0) | (np.asarray(read_w) > threshold).any(0))
    n = np.shape(write_w)[1]
    if used.size == 0:
        return np.arange(n)
    gaps = np.diff(np.append(used, used[0] + n))       # from each used slot to the next, round the circle
    widest = int(np.argmax(gaps))
    start, end = used[(widest + 1) % used.size], used[widest]     # the run starts after the widest gap
    count = (end - start) % n + 1 + 2 * margin
    if count >= n:
        return np.arange(n)
    return (start - margin + np.arange(count)) % n


def ntm_weightings(inputs, outputs, write_w, read_w, axes=None, slots=None, title=None, path=None):
    """Four panels over time (one column per step), as the NTM paper's Figure 6:

    * top left, the inputs (channels x time); top right, the outputs (bits x time, the
      machine's probabilities);
    * bottom left, the write weighting; bottom right, the read weighting (memory location x
      time; white is weight 1).  In a machine that learned to copy, both are a diagonal line:
      the write head moves one slot per step while the sequence comes in, the read head
      retraces the same slots while it goes out.

    ``inputs`` (T, n_in), ``outputs`` (T, n_out), ``write_w`` and ``read_w`` (T, N), host
    arrays (one sequence).  ``axes``: four matplotlib axes to draw in (a new figure otherwise).
    ``slots``: the locations shown, in order (indices); by default those the heads used
    (:func:`shown_slots`).  Returns the figure (saved as ``path`` when given).
    """
    inputs, outputs = np.asarray(inputs, dtype=float), np.asarray(outputs, dtype=float)
    write_w, read_w = np.asarray(write_w, dtype=float), np.asarray(read_w, dtype=float)
    steps = inputs.shape[0]
    for name, a in (("outputs", outputs), ("write_w", write_w), ("read_w", read_w)):
        if a.ndim != 2 or a.shape[0] != steps:
            raise ValueError(f"ntm_weightings: {name} must be (T, .) with T = {steps} steps like inputs, got {a.shape}")
    if write_w.shape != read_w.shape:
        raise ValueError(f"ntm_weightings: write_w {write_w.shape} and read_w {read_w.shape} must have one shape")
    slots = shown_slots(write_w, read_w) if slots is None else np.asarray(slots, dtype=int)
    own = axes is None
    if own:
        fig, axes = plt.subplots(2, 2, figsize=(10.8, 6.5), gridspec_kw={"height_ratios": [1, 2.2]})
        axes = axes.ravel()
    else:
        axes = list(np.ravel(axes))
        if len(axes) != 4:
            raise ValueError(f"ntm_weightings: give four axes, got {len(axes)}")
        fig = axes[0].figure
    panels = [(inputs.T, "Inputs", "channel", np.arange(inputs.shape[1])),
              (outputs.T, "Outputs", "bit", np.arange(outputs.shape[1])),
              (write_w[:, slots].T, "Write weightings", "location", slots),
              (read_w[:, slots].T, "Read weightings", "location", slots)]
    for ax, (image, label, ylabel, rows) in zip(axes, panels):
        ax.imshow(image, aspect="auto", cmap="gray", vmin=0, vmax=1, interpolation="nearest",
                  origin="upper", extent=(-0.5, steps - 0.5, len(rows) - 0.5, -0.5))
        ax.set_title(label)
        ax.set_ylabel(ylabel)
        ax.set_xlabel("time")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        # Row r of the image is slot rows[r] (the run of slots may wrap round): label the ticks so.
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(
            lambda y, _, rows=rows: str(rows[int(round(y))]) if 0 <= round(y) < len(rows) else ""))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if own:                          # one scale for the four panels: bits and weightings, 0 to 1
        fig.subplots_adjust(right=0.9)
        cax = axes[1].inset_axes([1.03, 0.0, 0.025, 1.0])       # beside the top right panel
        fig.colorbar(axes[0].images[0], cax=cax, label="0 (black) to 1 (white)")
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def copy_learning_curve(rows, path=None, title="NTM copy: cost per sequence"):
    """The learning curve as the NTM paper's Figure 3 draws it: cost per sequence (bits) against
    the number of training sequences seen, from the rows of a copy run's log.jsonl (those with
    ``sequences``, ``train_cost`` and ``cost``: the training batches' mean and the evaluation on
    fresh sequences at training lengths).  Returns the figure (saved as ``path`` when given)."""
    rows = [r for r in rows if "cost" in r and "sequences" in r]
    if not rows:
        raise ValueError("copy_learning_curve: no evaluation rows (with 'sequences' and 'cost') in the log")
    seen = np.array([r["sequences"] for r in rows], dtype=float) / 1000
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.plot(seen, [r["train_cost"] for r in rows], lw=1, color="#9ecae1", label="training batches")
    ax.plot(seen, [r["cost"] for r in rows], lw=1.6, color="#08519c", label="fresh sequences, training lengths")
    ax.set_xlabel("sequences seen (thousands)")
    ax.set_ylabel("cost per sequence (bits)")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig
