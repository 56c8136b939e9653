"""What the inspection commands (jacobian, graph, evaluate, dynamics) show can be trusted: no
curve dropped, no signal hidden by float32 underflow, no diverged model inspected, the graph's
legend saying exactly how edges are coloured, sizes refused before any work."""
import math
import re
import shutil

import numpy as np
import pytest

import minigrad as mg
from tasks.cli import main
from tasks.dynamics import checkpoint_labels, run_names


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run (temporal order, T = 10, 6 units): its folder."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "3",
                 "--eval-size", "20", "--max-updates", "3", "--out", str(out), "--quiet"]) == 0
    return out


def _copy_run(run, to, scale=None, nan=False):
    """The run's checkpoint and config in folder ``to``, W_rec scaled or poisoned on the way."""
    to.mkdir(parents=True)
    shutil.copy(run / "config.json", to / "config.json")
    state = mg.load(run / "checkpoint.npz")
    if scale is not None or nan:
        W = state["model.layers.0.W_rec"].copy()
        if scale is not None:
            W *= scale
        if nan:
            W[0, 0] = np.nan
        state["model.layers.0.W_rec"] = W
    mg.save(state, to / "checkpoint.npz")
    return to / "checkpoint.npz"


def _record(monkeypatch, name):
    """Calls of viz.plots.<name>, their arguments recorded (the figure still drawn)."""
    from viz import plots
    calls, original = [], getattr(plots, name)

    def wrapper(*args, **kwargs):
        calls.append((args, kwargs))
        return original(*args, **kwargs)
    monkeypatch.setattr(plots, name, wrapper)
    return calls


# ----------------------------------------------------------------------------- 1. labels
def test_labels_tell_runs_of_one_name_and_files_of_one_run_apart():
    paths = ["A/run/checkpoint.npz", "B/run/checkpoint.npz", "x/to20b/checkpoint.npz", "x/to20b/best.npz",
             "x/to20b/snapshots/checkpoint_00000500.npz"]
    labels = checkpoint_labels(paths, [7, 7, 2150, 2150, 500])
    assert labels["A/run/checkpoint.npz"] == "A/run @ 7" and labels["B/run/checkpoint.npz"] == "B/run @ 7"
    assert labels["x/to20b/checkpoint.npz"] == "to20b (checkpoint.npz) @ 2150"
    assert labels["x/to20b/best.npz"] == "to20b (best.npz) @ 2150"
    assert labels["x/to20b/snapshots/checkpoint_00000500.npz"] == "to20b @ 500"      # the run, not "snapshots"
    twice = checkpoint_labels(["r/c.npz", "./r/c.npz"], [1, 1])          # one file given twice
    assert sorted(twice.values()) == ["r @ 1", "r @ 1 (2)"]
    names = run_names(["p/q/run/c.npz", "p/z/run/c.npz", "p/q/run/snapshots/s.npz"])
    assert names == {"p/q/run/c.npz": "q/run", "p/z/run/c.npz": "z/run", "p/q/run/snapshots/s.npz": "q/run"}


# ----------------------------------------------------------------------------- 2. float64
def _reference_error_norms(checkpoint, length, batch):
    """||dE/dh_k|| (k = 1..T, mean over the batch) of the checkpoint's tanh RNN on the batch
    jacobian draws, by hand in float64 NumPy: h_t = tanh(h_{t-1} W_rec + x_t W_in + b), the
    cross-entropy of the last step's softmax, mean over the batch."""
    from tasks.train import Trainer
    trainer = Trainer.from_checkpoint(checkpoint)
    trainer.config.dtype = "float64"
    b = trainer._sampler(3, length).batch(batch, length)
    X, Y = b.inputs.numpy().astype(np.float64), b.targets.numpy()
    a = {k: v.astype(np.float64) for k, v in mg.load(checkpoint).items() if k.startswith("model.")}
    Win, Wr, bias = a["model.layers.0.W_in"], a["model.layers.0.W_rec"], a["model.layers.0.b"]
    Wo, c = a["model.head.W_out"], a["model.head.c"]
    T = X.shape[0]
    h = np.zeros((T + 1, batch, Wr.shape[0]))
    for t in range(1, T + 1):
        h[t] = np.tanh(h[t - 1] @ Wr + X[t - 1] @ Win + bias)
    z = h[T] @ Wo + c
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(batch), Y] -= 1
    d = (p / batch) @ Wo.T
    g = np.zeros((T, batch))
    for k in range(T, 0, -1):
        g[k - 1] = np.linalg.norm(d, axis=1)
        d = (d * (1 - h[k] ** 2)) @ Wr.T
    return g.mean(1)


def _quick_plots(monkeypatch):
    """Figures drawn but not laid out or saved (the numbers are what these tests check)."""
    from viz import plots
    monkeypatch.setattr(plots, "_finish", lambda fig, path: fig)


def test_jacobian_keeps_every_curve_and_signals_far_below_float32s_range(run, tmp_path, monkeypatch, capsys):
    """Two runs named "run" (A/run, B/run): two curves, two lines.  A (W_rec x 10) sends back
    ~1e-94 of the signal over 40 steps, below float32's smallest number: the float64 ratio
    matches a NumPy float64 computation by hand.  B (W_rec x 30) falls below 1e-300 at step 24
    back: the printout says from which k on, and the plot is given the floor."""
    a = _copy_run(run, tmp_path / "A" / "run", scale=10.0)
    b = _copy_run(run, tmp_path / "B" / "run", scale=30.0)
    _quick_plots(monkeypatch)
    calls = _record(monkeypatch, "error_norms_over_time")
    heat, spectra = _record(monkeypatch, "jacobian_heatmap"), _record(monkeypatch, "singular_value_spectra")
    assert main(["jacobian", str(a), str(b), "--length", "40", "--batch", "3", "--out", str(tmp_path / "j")]) == 0
    title = heat[0][1]["title"]                 # which models, which sequence the heat map shows
    assert "log10 ||dh_t/dh_k||" in title and "sequence 0 of 3" in title
    panels = heat[0][0][0]                      # one panel per model, named as the curves are
    assert [k.split(" @ ")[0] for k in panels] == ["A/run", "B/run"]
    assert "B/run @ 3" in spectra[0][1]["title"]
    (snapshots,), kwargs = calls[0]
    assert len(snapshots) == 2 and kwargs["floor"] == 1e-300
    assert [k.split(" @ ")[0] for k in snapshots] == ["A/run", "B/run"]
    out = capsys.readouterr().out
    line_a, line_b = (re.search(rf"^{name} @ .*$", out, re.M)[0] for name in ("A/run", "B/run"))
    g = _reference_error_norms(a, 40, 3)
    assert 1e-300 < g[0] / g[-1] < 1e-46                    # below float32's smallest number, above float64's
    assert float(re.search(r"\|\|dE/dh_T\|\| = (\S+)", line_a)[1]) == pytest.approx(g[0] / g[-1], rel=1e-3)
    assert np.allclose(snapshots[next(iter(snapshots))], g, rtol=1e-6)
    g = _reference_error_norms(b, 40, 3)
    last_low = int(np.flatnonzero(g < 1e-300)[-1]) + 1       # the latest step (1-based) below the floor
    m = re.search(r"below 1e-300 from k = (\d+) back to k = 1", line_b)
    assert m and abs(int(m[1]) - last_low) <= 1, line_b


def test_the_error_norm_plot_marks_what_it_cannot_draw():
    from viz import plots
    norms = np.array([0.0, 1e-310, 1e-305, 1e-200, 1e-5, 1.0])
    fig = plots.error_norms_over_time({"run @ 1": norms}, floor=1e-300)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "run @ 1 (below 1e-300: k = 1..3)" in texts
    y = ax.lines[0].get_ydata()
    assert np.isnan(y[:3]).all() and np.allclose(y[3:], norms[3:])
    fig = plots.error_norms_over_time({"zero": np.array([0.0, 0.5, 1.0])})
    assert "zero (0 or NaN: k = 1)" in [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ticks = fig.axes[0].xaxis.get_major_locator().tick_values(1, 3)
    assert np.allclose(ticks, np.round(ticks))                 # whole steps only


# ----------------------------------------------------------------------------- 3. --device
def test_jacobian_on_another_device_than_the_trained_one(run, device, tmp_path, monkeypatch, capsys):
    _quick_plots(monkeypatch)
    assert main(["jacobian", str(run / "checkpoint.npz"), "--length", "10", "--batch", "2", "--device", device,
                 "--out", str(tmp_path / "j")]) == 0, capsys.readouterr().err


# ----------------------------------------------------------------------------- 4. NaN weights
@pytest.mark.parametrize("argv", [
    ["jacobian", "{ckpt}", "--length", "10", "--out", "{tmp}/j"],
    ["evaluate", "{ckpt}", "--lengths", "10", "--size", "10", "--quiet"],
    ["dynamics", "--what", "fixed-points", "--checkpoint", "{ckpt}", "--out", "{tmp}/fp.png"],
    ["dynamics", "--what", "lyapunov", "--checkpoint", "{ckpt}", "--out", "{tmp}/ly.png"],
], ids=["jacobian", "evaluate", "fixed-points", "lyapunov"])
def test_a_diverged_model_is_refused_in_one_line_before_any_work(run, tmp_path, argv, capsys):
    ckpt = _copy_run(run, tmp_path / "nanrun", nan=True)
    argv = [a.replace("{ckpt}", str(ckpt)).replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.strip() == (f"minigrad: error: {ckpt}: the model's weights are not finite (W_rec: 1 NaN); "
                                    "a run that diverged cannot be inspected: use its best.npz or an earlier "
                                    "snapshot")
    assert captured.out == "" and not (tmp_path / "j").exists() and not list(tmp_path.glob("*.png"))


# ----------------------------------------------------------------------------- 5. graph legend
def _dot_edges(source):
    return re.findall(r"(\S+) -> (\S+) \[([^\]]*)\]", source)


def _attr(attrs, key):
    m = re.search(rf'\b{key}="?([^" ]+)"?', attrs)
    return m[1] if m else None


def test_every_edge_has_the_colour_the_legend_gives_its_number(tmp_path):
    """Parse the .dot: the legend's bins ("[1e-4, 1e-2)", colour, style), then every labelled
    edge: its number lies in the bin of its colour and style; NaN and inf in the black one."""
    import viz
    from tasks.cli import build_graph
    source = build_graph("rnn", 60, collapse=True).source
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    w = mg.tensor([1.0], requires_grad=True)
    with mg.Tape() as tape:
        y = ((x * mg.tensor([np.inf, 0.0])).sum() + (x * 1e-6).sum() + (x * 3e3).sum() + (x * 2e5).sum()
             + (w * 0.0).sum())
    y.backward()
    source += viz.draw(tape).source
    bins, tested = [], []
    for _, _, attrs in _dot_edges(source):
        m = re.search(r'label="\[(\S+), (\S+)\)"', attrs)
        if m:
            bins.append((float(m[1]), float(m[2]), _attr(attrs, "color"), _attr(attrs, "style")))
    bins = sorted(set(bins))                                   # the two graphs' legends: one
    assert len(bins) == 8 and bins[0][0] == 0 and bins[-1][1] == math.inf
    assert all(a[1] == b[0] for a, b in zip(bins, bins[1:]))              # they tile [0, inf)
    assert [lo for lo, *_ in bins] == sorted(lo for lo, *_ in bins)
    not_finite = re.search(r'color="(#\w+)"[^\]]*label="NaN or inf"|label="NaN or inf"[^\]]*color="(#\w+)"', source)
    black = not_finite[1] or not_finite[2]
    for src, _, attrs in _dot_edges(source):
        label = re.search(r'label="?([-+.\w]+)"?', attrs)
        if src.startswith("legend") or not label:
            continue
        try:
            value = float(label[1])
        except ValueError:
            continue
        colour, style = _attr(attrs, "color"), _attr(attrs, "style") or "solid"
        if not math.isfinite(value):
            assert colour == black
        else:
            (bin_,) = [b for b in bins if b[0] <= value < b[1]]
            assert (colour, style) == (bin_[2], bin_[3]), (value, colour, style, bin_)
        tested.append(value)
    assert min(v for v in tested if v > 0) < 1e-8 and 0.0 in tested           # the vanished edges seen
    assert any(math.isnan(v) or math.isinf(v) for v in tested) and max(v for v in tested if math.isfinite(v)) > 1e4


# ----------------------------------------------------------------------------- 7. graph memory
def test_graph_refuses_a_size_beyond_memory_before_building_anything(tmp_path, monkeypatch, capsys):
    import rnn
    import tasks.cli

    def no(*args, **kwargs):
        raise AssertionError("a cell was built before the memory check")
    monkeypatch.setattr(tasks.cli, "available_memory", lambda device=None: 64 * 2 ** 30)
    monkeypatch.setattr(rnn, "RNNCell", no)
    monkeypatch.setattr(rnn, "ESN", no)
    for cell in ("rnn", "esn"):
        assert main(["graph", "--cell", cell, "--hidden", "100000", "--steps", "3", "--out",
                     str(tmp_path / "e.dot")]) == 2
        err = capsys.readouterr().err.strip()
        # 1e10 weights of W_rec alone are 37.3 GiB in float32: the estimate is at least that
        need = float(re.search(r"needs about ([\d.]+) GiB", err)[1])
        assert need >= 1e10 * 4 / 2 ** 30 and "64.0 GiB available: lower --hidden" in err and "\n" not in err
    assert not (tmp_path / "e.dot").exists()


# ----------------------------------------------------------------------------- 8. task message
def test_the_unknown_task_message_says_what_k_and_p_are():
    from tasks.synthetic import get_task
    with pytest.raises(ValueError) as e:
        get_task("nonsense")
    assert "memorization-K-P (a pattern of P positions, each one of K symbols, K >= 2)" in str(e.value)
    task = get_task("memorization-3-4")
    assert (task.K, task.P, task.n_in) == (3, 4, 3 + 2)        # K symbols + blank + go; P positions


# ----------------------------------------------------------------------------- 6. labels
def test_graph_titles_and_messages_read_as_english(tmp_path, capsys):
    from tasks.cli import build_graph
    assert "unrolled over 1 step:" in build_graph("rnn", 1).source
    assert main(["graph", "--cell", "ntm", "--steps", "11", "--out", str(tmp_path / "n.dot")]) == 2
    assert "an NTM graph of more than 10 steps" in capsys.readouterr().err


def test_the_esn_graph_shows_its_reservoir_fixed_and_its_readout():
    from tasks.cli import build_graph
    source = build_graph("esn", 2).source
    for name in ("W_rec", "W_in", "b"):
        assert f"{name} (fixed reservoir: not trained)" in source
    assert "W_out (readout: the only weights trained)" in source and "|h_T W_out|²" in source


def test_an_untrained_comparison_is_not_called_trained():
    from viz.gradient_paths import gradient_paths
    k = np.arange(1, 11)
    curve = {"grad": 0.5 ** (10 - k), "jacobian": 0.6 ** (10 - k)}
    result = {"k": k.tolist(), "config": {"updates": 0},
              "models": {"rnn": {"label": "tanh RNN", "before": curve, "after": curve, "accuracy_after": 0.25}}}
    labels = [t.get_text() for t in gradient_paths(result).legends[0].get_texts()]
    assert "||dE/ds_k||, untrained" in labels and not any("trained" in t and "untrained" not in t for t in labels)
    result["config"]["updates"] = 5
    labels = [t.get_text() for t in gradient_paths(result).legends[0].get_texts()]
    assert "||dE/ds_k||, trained" in labels and "||dE/ds_k||, untrained" in labels


def test_one_evaluation_gets_one_whole_tick():
    from viz import diagnostics
    rows = [{"update": 300, "grad_hist": {"lo": -6, "width": 0.5, "counts": [0, 3, 5, 0]}, "tanh_saturation": 0.9,
             "lyapunov": -0.1}]
    for draw in (diagnostics.gradient_histogram, diagnostics.saturation, diagnostics.lyapunov):
        fig = draw(rows)
        fig.canvas.draw()
        labels = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
        assert labels == ["300"], (draw.__name__, labels)


def test_fixed_point_figure_explains_its_marks():
    from types import SimpleNamespace
    from viz.dynamics import fixed_points
    rng = np.random.default_rng(0)
    traj = np.concatenate([np.zeros((1, 3, 4)), rng.standard_normal((6, 3, 4))])     # all start at h_0 = 0
    found = SimpleNamespace(points=np.zeros((1, 4)), fixed=np.array([True]), stable=np.array([True]),
                            q=np.array([0.0]), eigenvalues=np.array([[0.5, 0.2, 0.1, 0.0]]))
    markers = np.zeros((7, 3), bool)
    markers[2] = True
    fig = fixed_points(found, traj, markers=markers, markers_label="a symbol read")
    left = fig.axes[0]
    labels = [t.get_text() for t in left.get_legend().get_texts()]
    assert "a symbol read" in labels and "h_0, where every trajectory starts" in labels
    assert "their starts" not in left.get_title()
    starts = [line for line in left.lines if line.get_label() == "h_0, where every trajectory starts"]
    assert len(starts) == 1 and len(starts[0].get_xdata()) == 1                     # one dot, not one per sequence


def test_attention_and_ntm_figures_carry_a_colour_scale():
    from viz.attention import attention_heatmaps
    from viz.memory import ntm_weightings
    e = {"weights": np.eye(3)[::-1], "source": ["1", "2", "3"], "output": ["3", "2", "1"]}
    fig = attention_heatmaps([e, e])
    bars = [ax for ax in fig.axes if ax.get_ylabel().startswith("attention weight")]
    assert len(bars) == 1 and bars[0].get_ylim() == (0.0, 1.0)
    w = np.eye(6)[[0, 1, 2]]
    fig = ntm_weightings(np.zeros((3, 4)), np.zeros((3, 2)), w, w)
    children = [c for ax in fig.axes for c in ax.child_axes]
    assert any(c.get_ylabel() == "0 (black) to 1 (white)" for c in children)
