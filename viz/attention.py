"""Pictures of an attention model (matplotlib, headless): the attention weights of one example as
a heat map (output step x source position), several examples side by side, and a run's
learning curve.  They take plain numbers (NumPy arrays, token names, log rows).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def attention_heatmap(weights, source_tokens, output_tokens, ax=None):
    """The weights a_ij of one example, shape (outputs, sources): row i is how output token i
    spread its attention over the source tokens (each row sums to 1).  Dark is 0, bright is 1;
    a correct reversal shows the anti-diagonal.  Returns the axes."""
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (len(output_tokens), len(source_tokens)):
        raise ValueError(f"attention_heatmap: weights of shape {weights.shape} do not fit "
                         f"{len(output_tokens)} output and {len(source_tokens)} source tokens")
    alone = ax is None
    if alone:
        fig, ax = plt.subplots(figsize=(0.4 * len(source_tokens) + 2.3, 0.4 * len(output_tokens) + 1.2))
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1, aspect="equal")
    if alone:
        fig.colorbar(image, ax=ax, label="attention weight a_ij")
    ax.set_xticks(range(len(source_tokens)), [str(t) for t in source_tokens])
    ax.set_yticks(range(len(output_tokens)), [str(t) for t in output_tokens])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    ax.tick_params(length=0)
    return ax


MAX_MAP_INCHES = 8.0      # one heat map's side at most (0.35 inch per token up to 22 tokens)


def attention_heatmaps(examples, path=None, title=None, columns: int = 4):
    """One heat map per example (dicts with ``weights``, ``source``, ``output``, as
    :func:`tasks.translation.examples` gives), in a grid; saved to ``path`` when given."""
    n = len(examples)
    if n == 0:
        raise ValueError("attention_heatmaps: no examples to draw (give a list of at least one)")
    if columns < 1:
        raise ValueError(f"attention_heatmaps: columns must be at least 1, got {columns}")
    columns = min(columns, n)
    rows = -(-n // columns)
    size = max(max(len(e["source"]), len(e["output"])) for e in examples)
    side = min(0.35 * size, MAX_MAP_INCHES)          # long strings: smaller cells, not a huge picture
    fig, axes = plt.subplots(rows, columns, figsize=(columns * (side + 1.6), rows * (side + 1.4)), squeeze=False)
    for ax, e in zip(axes.flat, examples):
        attention_heatmap(e["weights"], e["source"], e["output"], ax=ax)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    right = 1 - 1.3 / fig.get_figwidth()                       # 1.3 inches for the colour bar
    fig.subplots_adjust(right=right)
    top, bottom = fig.subplotpars.top, fig.subplotpars.bottom
    cax = fig.add_axes([right + 0.15 / fig.get_figwidth(), bottom, 0.15 / fig.get_figwidth(), top - bottom])
    fig.colorbar(axes.flat[0].images[0], cax=cax, label="attention weight a_ij (rows sum to 1)")
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig


def learning_curve(rows, path=None, target: float | None = None):
    """Training loss and sequence accuracy against updates, from a run's log rows
    (``update``, ``loss``, ``accuracy``)."""
    rows = [r for r in rows if "accuracy" in r]
    updates = [r["update"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.semilogy(updates, [r["loss"] for r in rows], color="#2171b5")
    left.set_xlabel("update")
    left.set_ylabel("training loss (cross-entropy per token)")
    right.plot(updates, [100 * r["accuracy"] for r in rows], color="#238b45", marker=".")
    if target is not None:
        right.axhline(100 * target, color="#de2d26", ls="--", lw=1, label=f"target {100 * target:g}%")
        right.legend(loc="lower right")
    right.set_xlabel("update")
    right.set_ylabel("sequence accuracy, greedy (%)")
    right.set_ylim(0, 100)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
