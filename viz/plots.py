"""Plots of exploding and vanishing gradients (matplotlib, headless).

Every function returns the ``Figure`` (so it can be inspected or shown) and saves it when given
``path``.  They take plain numbers (NumPy arrays, lists, a run folder, a CSV), so they can draw
what a training run, a :class:`rnn.JacobianChain` or a sweep produced.
"""
from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402


def _finish(fig, path):
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def gradient_norms(norms, clip: float | None = None, path=None, title="Gradient norm per update"):
    """The norm of the (unclipped) gradient at every update, log scale, with the clipping
    threshold mu drawn: spikes above it are the steps that clipping rescales (the paper's
    supplement, Figure 1).  A log axis cannot show NaN, inf or 0: such updates are marked
    (x at the top of the axis for NaN and inf, v at the bottom for 0) and counted in the
    legend instead of silently leaving a gap; a NaN or inf gradient is not "clipped" (training
    falls back instead), so it is not counted among the clipped ones."""
    norms = np.asarray(norms, dtype=float)
    updates = np.arange(1, len(norms) + 1)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    ax.semilogy(updates, norms, lw=0.8, color="#2171b5", label="||g|| before clipping")
    finite = np.isfinite(norms)
    shown = norms[finite & (norms > 0)]
    top = shown.max() * 3 if shown.size else (clip or 1.0) * 3
    bottom = shown.min() / 3 if shown.size else (clip or 1.0) / 3
    if clip is not None:
        top, bottom = max(top, clip * 3), min(bottom, clip / 3)
    for mask, y, marker, text in ((~finite, top, "x", "NaN or inf"), (norms == 0, bottom, "v", "0")):
        if mask.any():
            ax.plot(updates[mask], np.full(mask.sum(), y), ls="none", marker=marker, ms=4, color="k",
                    label=f"{text} ({mask.sum()}, at update {', '.join(_runs(updates[mask])[:3])}"
                          f"{', ...' if len(_runs(updates[mask])) > 3 else ''})")
    if clip is not None:
        ax.axhline(clip, color="#de2d26", ls="--", lw=1.2, label=f"clipping threshold mu = {clip:g}")
        above = finite & (norms > clip)
        ax.plot(np.flatnonzero(above) + 1, norms[above], "o", ms=2.5, color="#de2d26", label=f"clipped ({above.sum()})")
    ax.set_xlabel("update")
    ax.set_ylabel("gradient norm")
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    return _finish(fig, path)


def _integer_steps(*axes):
    """Whole-number tick labels on step axes (no 2.5, 7.5)."""
    from matplotlib.ticker import MaxNLocator
    for axis in axes:
        axis.set_major_locator(MaxNLocator(integer=True))


def error_norms_over_time(snapshots: dict, path=None, title="How much error signal reaches step k", state="h",
                          floor: float | None = None, legend_title: str | None = None):
    """||dE/dh_k|| against k, log scale, one line per moment of training (``{label: norms}``,
    norms of length T, e.g. ``chain.grad_norms.mean(1)``).  ``state="s"`` labels the axis
    ||dE/ds_k|| (an LSTM's state s_k = (h_k, c_k)).  With ``floor`` (e.g. 1e-300, where float64
    underflows), norms below it are not drawn as numbers: the curve stops, a dotted line marks
    the floor, and the legend says from which k on the norms are below it; without ``floor``
    exact zeros (which a log axis cannot show) are said so in the legend the same way."""
    fig, ax = plt.subplots(figsize=(7, 4))
    cmap = plt.get_cmap("viridis")
    lowest = floor if floor is not None else 0.0
    marked = False
    for i, (label, norms) in enumerate(snapshots.items()):
        norms = np.asarray(norms, dtype=float)
        k = np.arange(1, len(norms) + 1)
        low = ~(norms > lowest)                 # below the floor, zero, or NaN
        text = str(label)
        if low.any():
            where = ", ".join(_runs(k[low]))
            text += f" (below {floor:g}: k = {where})" if floor is not None else f" (0 or NaN: k = {where})"
        colour = cmap(i / max(1, len(snapshots) - 1))
        ax.semilogy(k, np.where(low, np.nan, norms), color=colour, label=text)
        if low.any() and floor is not None:
            ax.plot(k[low], np.full(low.sum(), floor), ls="none", marker="v", ms=3, color=colour)
            marked = True
    if marked:
        ax.axhline(floor, color="k", lw=0.8, ls=":", label=f"{floor:g}: float64 underflows below (v: there)")
    ax.set_xlabel("step k")
    ax.set_ylabel(f"||dE/d{state}_k||")
    _integer_steps(ax.xaxis)
    ax.set_title(title)
    ax.legend(fontsize=8, title=legend_title)
    return _finish(fig, path)


def _runs(ks) -> list:
    """Whole numbers as runs: [1, 2, 3, 7] -> ["1..3", "7"]."""
    ks = list(int(k) for k in ks)
    out, start = [], 0
    for i in range(1, len(ks) + 1):
        if i == len(ks) or ks[i] != ks[i - 1] + 1:
            out.append(str(ks[start]) if start == i - 1 else f"{ks[start]}..{ks[i - 1]}")
            start = i
    return out


def jacobian_heatmap(log10_norms, path=None, title="log10 ||dh_t / dh_k||"):
    """Heat map of log10 ||dh_t/dh_k|| over t (rows) and k (columns), from
    ``JacobianChain.norms(log10=True)``; the empty upper triangle is k > t.  Given a dict
    ``{label: log10_norms}`` (e.g. one model per method), one panel per entry side by side, on
    one colour scale, so that vanishing (blue) in one and not in another can be compared."""
    panels = dict(log10_norms) if isinstance(log10_norms, dict) else {None: log10_norms}
    if not panels:
        raise ValueError("jacobian_heatmap: no norms to draw (an empty dict)")
    panels = {label: np.asarray(data, dtype=float) for label, data in panels.items()}
    finite = np.concatenate([data[np.isfinite(data)] for data in panels.values()])
    bound = max(1.0, np.abs(finite).max()) if finite.size else 1.0
    label = "log10 norm (blue: vanishing, red: exploding)"
    if any(np.isinf(data).any() for data in panels.values()):   # a norm of exactly 0 (log10 = -inf) or inf:
        label += "\n0 and inf drawn at the ends of the scale"   # not blank like k > t
    fig, axes = plt.subplots(1, len(panels), figsize=(1.0 + 5.0 * len(panels), 5), squeeze=False)
    for ax, (name, data) in zip(axes[0], panels.items()):
        image = ax.imshow(np.ma.masked_invalid(np.clip(data, -bound, bound)), origin="lower", cmap="RdBu_r",
                          vmin=-bound, vmax=bound, aspect="auto", interpolation="nearest")
        ax.set_xlabel("k (earlier step)")
        _integer_steps(ax.xaxis, ax.yaxis)
        if name is not None:
            ax.set_title(str(name), fontsize=10)
    axes[0][0].set_ylabel("t (later step)")
    fig.colorbar(image, ax=axes[0][0] if len(panels) == 1 else list(axes[0]), label=label)
    if len(panels) == 1 and None in panels:
        axes[0][0].set_title(title)
        return _finish(fig, path)
    fig.suptitle(title)
    if path is not None:
        fig.savefig(path, dpi=110, bbox_inches="tight")
    return fig


def singular_value_spectra(values: dict, path=None, title="Singular values of the one-step Jacobians"):
    """Sorted singular values of one-step Jacobians, one line per step (``{step: values}``,
    each averaged over the batch or for one sequence); the line at 1 separates contraction
    from expansion."""
    fig, ax = plt.subplots(figsize=(7, 4))
    cmap = plt.get_cmap("plasma")
    for i, (step, sv) in enumerate(values.items()):
        sv = np.sort(np.asarray(sv, dtype=float))[::-1]
        ax.semilogy(np.arange(1, len(sv) + 1), sv, color=cmap(i / max(1, len(values) - 1)), label=f"step {step}")
    ax.axhline(1.0, color="k", lw=0.8, ls=":")
    ax.set_xlabel("index (largest first)")
    ax.set_ylabel("singular value")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def one_unit_rnn_loss(w, x0=0.5, b=-2.5, steps=50, target=1.0):
    """The paper's Figure 6 model: one unit, x_t = w σ(x_{t-1}) + b, loss (x_T - target)²
    (NumPy, vectorized over an array of w)."""
    x = np.full_like(np.asarray(w, dtype=float), x0)
    for _ in range(steps):
        x = w * (1 / (1 + np.exp(-x))) + b
    return (x - target) ** 2


def one_unit_rnn_gradient(w, x0=0.5, b=-2.5, steps=50, target=1.0) -> float:
    """dLoss/dw of the same model by backpropagation through time (minigrad)."""
    W = mg.tensor([float(w)], requires_grad=True)
    x = mg.tensor([x0])
    for _ in range(steps):
        x = W * x.sigmoid() + b
    (g,) = mg.grad(((x - target) ** 2).sum(), [W])
    return g.item()


def error_cliff(path=None, lr=0.05, clip=1.0, w0=5.1, updates=15, b=-2.5, steps=50,
                title="The error surface's cliff (one-unit RNN, the paper's Figure 6)"):
    """Loss against the recurrent weight w of a one-unit RNN: near w = 4.82 the dynamics
    bifurcate and the loss falls off a wall.  SGD steps are drawn from ``w0``: without clipping
    the huge gradient on the wall throws w far away; clipped at ``clip`` the steps stay short
    and w stays by the minimum.  ``fig.paths`` holds both trajectories."""
    ws = np.linspace(4.3, 5.6, 3000)
    loss = one_unit_rnn_loss(ws, b=b, steps=steps)
    paths = {}
    for name, mu in (("without clipping", None), (f"clipped at {clip:g}", clip)):
        w, trace = w0, [w0]
        for _ in range(updates):
            g = one_unit_rnn_gradient(w, b=b, steps=steps)
            if mu is not None and abs(g) > mu:
                g = g * mu / abs(g)
            w = w - lr * g
            trace.append(w)
        paths[name] = np.array(trace)
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(ws, loss + 1e-6, color="#444444", lw=1, label="loss")
    for (name, trace), colour in zip(paths.items(), ("#de2d26", "#2171b5")):
        inside = (trace >= ws[0]) & (trace <= ws[-1])
        ax.plot(trace[inside], one_unit_rnn_loss(trace[inside], b=b, steps=steps) + 1e-6, "o-", color=colour,
                ms=4, lw=1, label=name)
        if not inside.all():
            first_out = trace[~inside][0]
            ax.annotate(f"thrown to w = {first_out:.1f}", xy=(ws[-1], 1.0), xytext=(ws[-1] - 0.45, 3.0),
                        color=colour, fontsize=8, arrowprops={"arrowstyle": "->", "color": colour})
    ax.set_xlabel("recurrent weight w")
    ax.set_ylabel("loss")
    ax.set_xlim(ws[0], ws[-1])
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    fig.paths = paths
    return _finish(fig, path)


def echo_state(distances: dict, path=None, title="Echo-state property: two initial states, one input"):
    """Distance between two reservoir trajectories from different initial states, driven by
    the same input (``{"rho = 0.8": d, "rho = 1.5": d}``)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    for (label, d), colour in zip(distances.items(), ("#2171b5", "#de2d26", "#31a354", "#756bb1")):
        ax.semilogy(np.arange(1, len(d) + 1), np.maximum(np.asarray(d, float), 1e-18), color=colour, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel("||x_t - x'_t||")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def logistic_map(r: float = 3.5, x0s=(0.2, 0.21), steps: int = 40, path=None):
    """The iterated map f(x) = r x (1 - x): a cobweb from one start and the trajectories of two
    close starts (r = 3.5: both settle on the same cycle of period 4)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.linspace(0, 1, 400)
    left.plot(x, r * x * (1 - x), color="#444444", lw=1, label=f"f(x) = {r:g} x (1 - x)")
    left.plot(x, x, color="#999999", lw=0.8, ls=":")
    xs = [x0s[0]]
    for _ in range(steps):
        xs.append(r * xs[-1] * (1 - xs[-1]))
    cx, cy = [xs[0]], [0.0]
    for a, b in zip(xs[:-1], xs[1:]):
        cx += [a, b]
        cy += [b, b]
    left.plot(cx, cy, color="#2171b5", lw=0.7, label="cobweb")
    left.set_xlabel("x")
    left.set_ylabel("f(x)")
    left.legend(fontsize=8)
    for x0, colour in zip(x0s, ("#2171b5", "#de2d26")):
        traj = [x0]
        for _ in range(steps):
            traj.append(r * traj[-1] * (1 - traj[-1]))
        right.plot(traj, "o-", ms=2.5, lw=0.8, color=colour, label=f"x0 = {x0:g}")
    right.set_xlabel("iteration")
    right.set_ylabel("x")
    right.legend(fontsize=8)
    fig.suptitle(f"Iterated map f(x) = {r:g} x (1 - x)")
    return _finish(fig, path)


def success_rate(csv_path, path=None, title=None):
    """Success rate against sequence length, one panel per initialization and one line per
    method, from ``minigrad sweep``'s CSV (the layout of the paper's Figure 7)."""
    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    rows = [r for r in rows if r.get("counted", "True") != "False"]      # minigrad sweep: a row that is not a result
    if not rows:
        raise ValueError(f"{csv_path} holds no runs")
    inits = sorted({r["init"] for r in rows})
    styles = {"msgd": ("#999999", "o"), "msgd-c": ("#2171b5", "s"), "msgd-cr": ("#de2d26", "^"),
              "msgd-r": ("#31a354", "v")}
    methods = [m for m in styles if any(r["method"] == m for r in rows)]
    fig, axes = plt.subplots(1, len(inits), figsize=(max(7.0, 4.5 * len(inits)), 3.8), squeeze=False, sharey=True)
    for ax, init in zip(axes[0], inits):
        for method in methods:
            colour, marker = styles[method]
            runs = [r for r in rows if r["init"] == init and r["method"] == method]
            lengths = sorted({int(r["length"]) for r in runs})
            rates = [np.mean([r["success"] in ("True", "true", "1") for r in runs if int(r["length"]) == t])
                     for t in lengths]
            ax.plot(lengths, rates, marker=marker, ls="-", color=colour, alpha=0.85, label=method.upper())
        ax.set_title(init.replace("_", " "))
        ax.set_xlabel("sequence length")
        ax.set_ylim(-0.05, 1.05)
    axes[0][0].set_ylabel("success rate")
    axes[0][-1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return _finish(fig, path)


CLIPPING_METHODS = ("msgd-c", "msgd-cr")     # msgd and msgd-r never clip (tasks.train.CLIPPED)


def from_run(folder, path=None):
    """The gradient-norm plot of a training run folder (``grad_norms.f32`` and its config)."""
    import json
    folder = Path(folder)
    norms = np.fromfile(folder / "grad_norms.f32", dtype=np.float32)
    config = json.loads((folder / "config.json").read_text())
    clip = config["clip"] if config["method"] in CLIPPING_METHODS else None
    return gradient_norms(norms, clip=clip, path=path,
                          title=f"{config['task']} T={config['length']} {config['method']}: gradient norm per update")
