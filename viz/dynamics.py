"""Pictures of recurrent networks as dynamical systems (matplotlib, headless): the one-unit
model's bifurcation diagram and basins (the paper's Figure 3) linked to the error cliff
(Figure 6), fixed points of a trained network in a 2-D projection with their Jacobian
eigenvalues, and Lyapunov exponents against the spectral radius of W_rec.

Every function returns the ``Figure`` and saves it when given ``path``; the numbers come from
:mod:`rnn.dynamics` (the figures compute nothing the tests do not check there).
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from rnn import dynamics as dyn  # noqa: E402

from .plots import _finish, one_unit_rnn_loss  # noqa: E402

STABLE, UNSTABLE, CLIFF = "#2171b5", "#de2d26", "#31a354"


def _branches(values, w_of, b_of):
    """Fixed points along a parameter sweep, sorted into stable and unstable point lists
    ``[(parameter, x)]`` (a branch is drawn as the points of one stability, in order)."""
    stable, unstable = [], []
    for v in values:
        w, b = w_of(v), b_of(v)
        for x in dyn.one_unit_fixed_points(w, b):
            (stable if dyn.one_unit_stable(x, w) else unstable).append((v, x))
    return np.array(stable).reshape(-1, 2), np.array(unstable).reshape(-1, 2)


def _draw_branches(ax, stable, unstable, label=True):
    """Stable fixed points solid, unstable dashed; branches split where the x-jump is large."""
    for pts, colour, ls, name in ((stable, STABLE, "-", "stable"), (unstable, UNSTABLE, "--", "unstable")):
        if not len(pts):
            continue
        # the stable set has two branches (low and high); split by the sign of x relative to the
        # unstable branch, else by jumps
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        groups = [pts[pts[:, 1] < np.median(unstable[:, 1])], pts[pts[:, 1] >= np.median(unstable[:, 1])]] \
            if name == "stable" and len(unstable) else [pts]
        for i, g in enumerate(groups):
            if len(g):
                ax.plot(g[:, 0], g[:, 1], ls=ls, color=colour, lw=1.8,
                        label=f"{name} fixed point" if label and i == 0 else None)


def _ranges(w, cliff_b, cliff_x0, b_range, w_range):
    """The b range of panels (a, b) and the w range of panel (c) when not given: those of the
    paper's setting (w = 5, b = -2.5: b in [-3.5, -1.5], w in [4.3, 5.8]) when they hold the
    bifurcations, else moved around them (any w > 4, any cliff b): around the cliff and the
    saddle-node that makes it, or around the saddle-nodes where there is no cliff."""
    if b_range is None:
        lo, hi = dyn.one_unit_saddle_nodes(w)[:, 0] if w > 4 else (-2.5, -2.5)
        centre, half = (lo + hi) / 2, max(1.0, 1.5 * (hi - lo))
        b_range = (centre - half, centre + half)
    if w_range is None:
        w_range = (4.3, 5.8)
        folds = list(dyn.one_unit_folds_in_w(cliff_b)[:, 0])
        w_cliff = dyn.one_unit_basin_boundary_w(cliff_x0, cliff_b)
        marks = folds[:1] + [w_cliff] if np.isfinite(w_cliff) else folds    # the cliff and the fold before it
        if marks and not (w_range[0] < min(marks) and max(marks) < w_range[1]):
            lo, hi = min(marks), max(marks)
            pad = 0.3 * max(hi - lo, 0.5)
            w_range = (max(0.05, lo - pad), hi + 2 * pad)          # room for the loss after the cliff
    return b_range, w_range


def bifurcation(path=None, w: float = 5.0, b_range=None, cliff_b: float = -2.5, cliff_x0: float = 0.5,
                cliff_steps: int = 50, w_range=None, points: int = 400, basin_steps: int = 300):
    """The one-unit RNN ``x_t = w σ(x_{t-1}) + b`` as a dynamical system, four panels.

    (a) the paper's Figure 3: fixed points against b at w = ``w``, stable solid, unstable dashed,
        the two saddle-node bifurcations marked, and the error cliff run's b = ``cliff_b``;
    (b) basins of attraction over (b, x_0): where ``basin_steps`` iterations take each start, with the
        unstable branch (the basin boundary) drawn over it;
    (c) the error cliff (Figure 6) at b = ``cliff_b``: fixed points against w, the start x_0, and
        the loss of ``cliff_steps`` steps (right axis): the cliff sits where the unstable
        fixed point (the basin boundary) crosses x_0, just after the saddle-node that creates it;
    (d) the (b, w) plane: the fold curve (a cusp at b = -2, w = 4) bounding the bistable region,
        Figure 3's line w = ``w`` and the cliff run's line b = ``cliff_b``.

    ``b_range`` and ``w_range`` default to the paper's [-3.5, -1.5] and [4.3, 5.8] where these
    hold the bifurcations, and are widened around them otherwise.  ``fig.numbers`` holds the
    bifurcation values drawn (``cliff_w`` NaN when no basin boundary crosses x_0 at this b).
    """
    b_range, w_range = _ranges(w, cliff_b, cliff_x0, b_range, w_range)
    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5))
    (a, bb), (c, d) = axes
    bs = np.linspace(*b_range, points)
    stable, unstable = _branches(bs, lambda v: w, lambda v: v)
    _draw_branches(a, stable, unstable)
    folds = dyn.one_unit_saddle_nodes(w)
    for fb, fx in folds:
        a.plot([fb], [fx], "o", color="k", ms=5)
        a.annotate(f"saddle-node\nb = {fb:.3f}", (fb, fx), textcoords="offset points", xytext=(6, -22 if fx > 0 else 8),
                   fontsize=7)
    a.axvline(cliff_b, color=CLIFF, lw=1, ls=":", label=f"error-cliff run, b = {cliff_b:g}")
    a.set_xlabel("bias b")
    a.set_ylabel("fixed point x*")
    a.set_title(f"(a) bifurcation diagram, w = {w:g} (the paper's Figure 3)", fontsize=9)
    a.legend(fontsize=7, loc="upper left")

    x0s = np.linspace(min(-4.0, b_range[0]), max(4.0, b_range[1] + w), points // 2)
    B, X0 = np.meshgrid(bs, x0s)
    final = dyn.one_unit_attractor(X0, w, B, steps=basin_steps)
    kind = np.zeros_like(final)                         # 0: the only attractor, 1: low, 2: high
    for j, v in enumerate(bs):
        fps = dyn.one_unit_fixed_points(w, v)
        if len(fps) == 3:
            kind[:, j] = np.where(final[:, j] > fps[1], 2.0, 1.0)
    bb.contourf(B, X0, kind, levels=[-0.5, 0.5, 1.5, 2.5], colors=["#e5e5e5", "#c6dbef", "#fcbba1"])
    if len(unstable):
        bb.plot(unstable[:, 0], unstable[:, 1], "--", color=UNSTABLE, lw=1.8, label="unstable fixed point")
    bb.plot(stable[:, 0], stable[:, 1], ".", color=STABLE, ms=1.5, label="stable fixed points")
    bb.plot([cliff_b], [cliff_x0], "*", color=CLIFF, ms=11,
            label=f"error-cliff start x0 = {cliff_x0:g}, b = {cliff_b:g}")
    bb.set_xlabel("bias b")
    bb.set_ylabel("start x_0")
    bb.set_ylim(x0s[0], x0s[-1])
    bb.set_title(f"(b) basins, w = {w:g}: red ends high, blue low, grey one attractor", fontsize=9)
    bb.legend(fontsize=7, loc="lower right")

    ws = np.linspace(*w_range, points)
    stable_w, unstable_w = _branches(ws, lambda v: v, lambda v: cliff_b)
    _draw_branches(c, stable_w, unstable_w)
    folds_w = dyn.one_unit_folds_in_w(cliff_b)
    w_cliff = dyn.one_unit_basin_boundary_w(cliff_x0, cliff_b)
    c.axhline(cliff_x0, color="#777777", lw=0.8, ls=":", label=f"start x0 = {cliff_x0:g}")
    for fw, fx in folds_w:
        if w_range[0] <= fw <= w_range[1]:
            c.plot([fw], [fx], "o", color="k", ms=5)
            c.annotate(f"saddle-node\nw = {fw:.3f}", (fw, fx), textcoords="offset points", xytext=(-62, 4), fontsize=7)
    if np.isfinite(w_cliff):
        c.axvline(w_cliff, color=CLIFF, lw=1.2, label=f"boundary crosses x0: w = {w_cliff:.3f}")
    c.set_xlabel("recurrent weight w")
    c.set_ylabel("fixed point x*")
    c.set_title(f"(c) the error cliff (Figure 6), b = {cliff_b:g}, {cliff_steps} steps", fontsize=9)
    loss_ax = c.twinx()
    fine = np.linspace(*w_range, 3000)
    loss_ax.semilogy(fine, one_unit_rnn_loss(fine, x0=cliff_x0, b=cliff_b, steps=cliff_steps) + 1e-6,
                     color="#444444", lw=1, alpha=0.7)
    loss_ax.set_ylabel("loss (x_T - 1)² (grey)")
    c.legend(fontsize=7, loc="center right")

    w_top = max(8.0, w + 1.0, (w_cliff + 1.0) if np.isfinite(w_cliff) else 0.0)
    x_top = float(np.arccosh((w_top - 2.0) / 2.0)) + 0.2          # the fold curve up to w_top
    xs = np.linspace(-x_top, x_top, 600)
    fb, fw = dyn.one_unit_fold_curve(xs)
    d.fill(np.concatenate([fb, [fb[-1]]]), np.concatenate([fw, [fw[-1]]]), color="#fee0d2",
           label="three fixed points (bistable)")
    d.plot(fb, fw, color="k", lw=1.2, label="saddle-node curve")
    d.axhline(w, color=STABLE, lw=1, label=f"(a): w = {w:g}")
    d.axvline(cliff_b, color=CLIFF, lw=1, label=f"(c): b = {cliff_b:g}")
    if np.isfinite(w_cliff):
        d.plot([cliff_b], [w_cliff], "*", color=CLIFF, ms=10, label="the cliff")
    d.set_xlim(min(-4.5, b_range[0], cliff_b - 0.5), max(-1.0, cliff_b + 0.5))
    d.set_ylim(3.0, w_top)
    d.set_xlabel("bias b")
    d.set_ylabel("recurrent weight w")
    d.set_title("(d) bistable region; its edge: w = 2 + 2cosh x, b = x - 1 - eˣ", fontsize=9)
    d.legend(fontsize=7, loc="upper right")
    fig.suptitle("One-unit RNN x_t = w σ(x_{t-1}) + b: bifurcations, basins and the error cliff")
    fig.numbers = {"saddle_nodes_b": folds[:, 0].tolist(), "saddle_nodes_w": folds_w[:, 0].tolist(),
                   "cliff_w": w_cliff}
    return _finish(fig, path)


def _pca(states: np.ndarray, k: int = 2):
    """Mean, the first k principal directions (S, k) of the rows of ``states`` and the fraction
    of the variance along each; zero directions (explaining 0) where the states span fewer than
    k dimensions (a one-unit network: its state against 0)."""
    mean = states.mean(axis=0)
    _, sv, vt = np.linalg.svd(states - mean, full_matrices=False)
    explained = sv ** 2 / max((sv ** 2).sum(), 1e-300)
    P, explained = vt[:k].T, explained[:k]
    if P.shape[1] < k:                     # fewer state dimensions (or states) than k: zero directions
        P = np.concatenate([P, np.zeros((P.shape[0], k - P.shape[1]))], axis=1)
        explained = np.concatenate([explained, np.zeros(k - len(explained))])
    return mean, P, explained


def fixed_points(found, trajectories, path=None, title="Fixed points of the trained network",
                 slow: float | None = None, markers=None, markers_label: str = "input event"):
    """Fixed points (from :func:`rnn.dynamics.find_fixed_points`) in the plane of the first two
    principal components of ``trajectories`` (T, B, S), with those trajectories; stable points
    filled, unstable open, slow points (q < ``slow``, not fixed) as small crosses.  Right: the
    eigenvalues of the Jacobian at each point in the complex plane, with the unit circle.
    ``markers`` (optional (T, B) bool) marks the steps where an input event happened (open
    squares, named ``markers_label`` in the legend)."""
    traj = np.asarray(trajectories, dtype=float)
    T, B, S = traj.shape
    mean, P, explained = _pca(traj.reshape(-1, S))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2))
    cmap = plt.get_cmap("tab10")
    same_start = np.allclose(traj[0], traj[0, :1])
    for j in range(B):
        z = (traj[:, j] - mean) @ P
        left.plot(z[:, 0], z[:, 1], "-", color=cmap(j % 10), lw=0.7, alpha=0.6)
        if not same_start:
            left.plot(z[:1, 0], z[:1, 1], "o", color=cmap(j % 10), ms=3,
                      label="start of a trajectory" if j == 0 else None)
        if markers is not None:
            m = np.asarray(markers)[:, j]
            left.plot(z[m, 0], z[m, 1], "s", mfc="none", color=cmap(j % 10), ms=6,
                      label=markers_label if j == 0 and m.any() else None)
    if same_start:                  # every sequence starts from one state (h_0 = 0): one dot
        z0 = (traj[0, :1] - mean) @ P
        left.plot(z0[:, 0], z0[:, 1], "o", color="#444444", ms=5, label="h_0, where every trajectory starts")
    fixed = found.fixed
    stable = found.stable
    z = (found.points - mean) @ P if len(found.points) else np.empty((0, 2))
    for sel, style, name in ((fixed & stable, dict(marker="o", color="k", ms=9, ls=""), "stable fixed point"),
                             (fixed & ~stable, dict(marker="o", mfc="white", color="k", ms=9, mew=1.8, ls=""),
                              "unstable fixed point")):
        if sel.any():
            left.plot(z[sel, 0], z[sel, 1], label=f"{name} ({sel.sum()})", **style)
    if slow is not None:
        sel = ~fixed & (found.q < slow)
        if sel.any():
            left.plot(z[sel, 0], z[sel, 1], "x", color="#756bb1", ms=6, label=f"slow point, q < {slow:g} ({sel.sum()})")
    left.set_xlabel(f"PC 1 ({100 * explained[0]:.0f}% of the variance)")
    left.set_ylabel(f"PC 2 ({100 * explained[1]:.0f}%)" if len(explained) > 1 else "PC 2")
    left.set_title(f"states: one line per sequence ({B}), in the plane of their first two principal "
                   "components", fontsize=9)
    left.legend(fontsize=7, loc="best")

    t = np.linspace(0, 2 * np.pi, 300)
    right.plot(np.cos(t), np.sin(t), color="#999999", lw=0.8, ls=":")
    shown = np.flatnonzero(fixed) if fixed.any() else np.arange(min(len(found.points), 5))
    for i in shown:
        ev = found.eigenvalues[i]
        kind = "stable" if stable[i] else "unstable"
        right.plot(ev.real, ev.imag, "o" if stable[i] else "^", ms=4, alpha=0.8,
                   label=f"point {i} ({kind}, max |λ| = {np.abs(ev).max():.3f})")
    right.set_aspect("equal")
    right.set_xlabel("Re λ")
    right.set_ylabel("Im λ")
    right.set_title("eigenvalues of ∂F/∂h at each fixed point (unit circle dotted)", fontsize=9)
    if len(shown) <= 10:
        right.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.suptitle(title)
    return _finish(fig, path)


def lyapunov(curves: dict, trained: dict, spectra: dict | None = None, gains: dict | None = None, path=None,
             title="Largest Lyapunov exponent against the spectral radius of W_rec", finite: dict | None = None,
             window: int | None = None):
    """λ_1 (natural log per step) against ρ(W_rec), log x axis.

    ``curves``: ``{init: (rhos, lambdas)}``, each init's W_rec rescaled to several spectral
    radii (a line per init); ``trained``: ``{init: {label: (rho, lambda_1)}}``, one marker per
    model (the first, e.g. "init", open; then e.g. "after MSGD-C", "after MSGD-CR"), joined by
    arrows from the first.  ``gains``: ``{init: γ}`` draws the linearization at h = 0,
    λ_1 = log(γ ρ) (γ = φ'(0): 1 for tanh, 1/4 for the sigmoid), dashed.  ``spectra``
    (optional): ``{label: exponents}`` in a second panel (the full spectrum, largest first);
    ``finite`` (optional): ``{label: values}``, finite-time λ_1 over windows of ``window`` steps,
    as histograms in a third.  The line λ = 0 separates contracting from expanding dynamics.
    """
    from matplotlib.lines import Line2D
    panels = 1 + bool(spectra) + bool(finite)
    fig, axes = plt.subplots(1, panels, figsize=(6.2 * panels, 4.8), squeeze=False)
    ax = axes[0, 0]
    colours = {}
    cmap = plt.get_cmap("tab10")
    handles = []
    for i, (name, (rhos, lams)) in enumerate(curves.items()):
        colours[name] = cmap(i)
        ax.plot(rhos, lams, "-", color=cmap(i), lw=1.3)
        handles.append(Line2D([], [], color=cmap(i), lw=1.3, label=f"{name}: W_rec rescaled"))
        if gains and name in gains:
            r = np.geomspace(min(rhos), max(rhos), 50)
            ax.plot(r, np.log(gains[name] * r), "--", color=cmap(i), lw=0.8, alpha=0.7)
    if gains:
        handles.append(Line2D([], [], color="#777777", ls="--", lw=0.8,
                              label="log(γ ρ), γ = φ'(0): linearization at a = 0"))
    shapes = ["o", "s", "D", "^", "v"]
    stages = []
    for name, models in trained.items():
        colour = colours.setdefault(name, cmap(len(colours)))
        items = list(models.items())
        for j, (label, (rho, lam)) in enumerate(items):
            ax.plot([rho], [lam], shapes[j % len(shapes)], color=colour, ms=7, mfc="white" if j == 0 else colour, ls="")
            if j:
                r0, l0 = items[0][1]
                ax.annotate("", xy=(rho, lam), xytext=(r0, l0),
                            arrowprops={"arrowstyle": "->", "color": colour, "lw": 0.8, "alpha": 0.7})
            if label not in [s for s, _ in stages]:
                stages.append((label, j))
    for label, j in stages:
        handles.append(Line2D([], [], marker=shapes[j % len(shapes)], color="k", mfc="white" if j == 0 else "k",
                              ls="", label=label))
    ax.axhline(0.0, color="k", lw=0.8, ls=":")
    ax.axvline(1.0, color="#999999", lw=0.6, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel("spectral radius of W_rec")
    ax.set_ylabel("λ_1 (log growth per step)")
    ax.set_title(title, fontsize=9)
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    if spectra:
        sp = axes[0, 1]
        for j, (label, ex) in enumerate(spectra.items()):
            ex = np.asarray(ex, dtype=float)
            sp.plot(np.arange(1, len(ex) + 1), ex, "-", marker=".", ms=3, lw=1, color=cmap(j), label=label)
        sp.axhline(0.0, color="k", lw=0.8, ls=":")
        sp.set_xlabel("index j (largest first)")
        sp.set_ylabel("λ_j")
        sp.set_title("Lyapunov spectra (QR over the Jacobian chain)", fontsize=9)
        sp.legend(fontsize=7)
    if finite:
        ft = axes[0, panels - 1]
        values = [np.asarray(v, dtype=float).ravel() for v in finite.values()]
        finite_values = np.concatenate([v[np.isfinite(v)] for v in values])
        bins = np.linspace(finite_values.min(), finite_values.max(), 40) if finite_values.size else 10
        for j, (label, v) in enumerate(zip(finite, values)):
            ft.hist(v[np.isfinite(v)], bins=bins, histtype="step", lw=1.3, color=cmap(j),
                    label=f"{label} (mean {np.mean(v):.3f})")
        ft.axvline(0.0, color="k", lw=0.8, ls=":")
        ft.set_xlabel(f"finite-time λ_1 over {window} steps" if window else "finite-time λ_1")
        ft.set_ylabel("windows")
        ft.set_title("finite-time largest exponents (all windows, all sequences)", fontsize=9)
        ft.legend(fontsize=7)
    return _finish(fig, path)
