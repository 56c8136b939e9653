"""An outside check of viz.graph: does the drawing say what the computation did?

* the structure: every recorded op drawn once, in the cluster of its step, the steps in order,
  every edge from the value to the op that read it, for T = 1, 2, 5 and the RNN, LSTM and GRU
  cells, the op counts written down from the cells' equations;
* the numbers: the gradient norm written on each state's box and on each edge crossing steps
  against ||dE/ds_k|| from NumPy re-implementations of the cells' equations (BPTT by hand for
  the tanh RNN, central differences for the LSTM and GRU), the colours against the legend's bins;
* the text: names and marks with quotes, backslashes, <, >, &, |, braces drawn as they are;
* the command: bad input and a missing ``dot`` give one line (the DOT source kept), the files
  rendered open (SVG parses as XML, PNG decodes).
"""
import os
import re
import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import minigrad as mg
import rnn
import viz
from tasks.cli import main
from viz.graph import edge_colour, edge_style, legend_bins

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")


# ----------------------------------------------------------------- reading the DOT source back
def op_nodes(dot) -> dict:
    """{op index: [label, ...]}: every declaration of an op node (a list: declared twice = drawn twice)."""
    nodes = {}
    for index, label in re.findall(r'^\s*op(\d+) \[label="((?:[^"\\]|\\.)*)"', dot, re.M | re.S):
        nodes.setdefault(int(index), []).append(label)
    return nodes


def op_edges(dot) -> list:
    """[(src op, dst op, number on the edge or None)] in the order of the DOT source."""
    found = []
    for src, dst, attrs in re.findall(r"^\s*op(\d+) -> op(\d+) \[(.*)\]$", dot, re.M):
        m = re.search(r'label="?([-+.e\dinfa]*)', attrs)
        found.append((int(src), int(dst), float(m.group(1)) if m and m.group(1) else None))
    return found


def node_attr(dot, name, attr):
    m = re.search(rf'^\s*{name} \[(?:[^\]"]|"(?:[^"\\]|\\.)*")*\b{attr}="?([^"\s\]]+)', dot, re.M)
    return m and m.group(1)


def step_blocks(dot) -> list:
    """[(t, the source of cluster_step t)] in the order of the DOT source."""
    parts = re.split(r"\n\tsubgraph cluster_step(\d+) \{", dot)
    return [(int(t), body[:body.index("\n\t}")]) for t, body in zip(parts[1::2], parts[2::2])]


def grad_in_label(label):
    m = re.search(r"grad norm ([-+.e\dinfa]+)", label)
    return m and float(m.group(1))


# ----------------------------------------------------------------- NumPy references from the equations
def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def np_rnn_step(p, x, h):
    return np.tanh(h @ p["W_rec"] + x @ p["W_in"] + p["b"])


def np_lstm_step(p, x, state):
    h, c = state                                    # [i, f, o, g] = x W_x + h W_h + b
    i, f, o, g = np.split(x @ p["W_x"] + h @ p["W_h"] + p["b"], 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def np_gru_step(p, x, h):
    z = sigmoid(x @ p["W_z"] + h @ p["U_z"] + p["b_z"])
    r = sigmoid(x @ p["W_r"] + h @ p["U_r"] + p["b_r"])
    n = np.tanh(x @ p["W_n"] + (r * h) @ p["U_n"] + p["b_n"])
    return (1 - z) * n + z * h


STEP = {"rnn": np_rnn_step, "lstm": np_lstm_step, "gru": np_gru_step}


def central_grad(f, a, eps=1e-6):
    g = np.zeros_like(a)
    for j in np.ndindex(a.shape):
        up, down = a.copy(), a.copy()
        up[j] += eps
        down[j] -= eps
        g[j] = (f(up) - f(down)) / (2 * eps)
    return g


def state_grad_norms(kind, p, xs):
    """||dE/ds_k|| for k = 1..T, E = |h_T|², by central differences of the loss continued from
    s_k (for the LSTM, s_k = (h_k, c_k): the norm of the pair)."""
    step = STEP[kind]
    n = p["W_h"].shape[0] if kind == "lstm" else p["U_z"].shape[0] if kind == "gru" else p["W_rec"].shape[0]
    s = (np.zeros((1, n)), np.zeros((1, n))) if kind == "lstm" else np.zeros((1, n))
    states = []
    for x in xs:
        s = step(p, x, s)
        states.append(s)

    def loss_from(k, s):
        for x in xs[k:]:
            s = step(p, x, s)
        h = s[0] if kind == "lstm" else s
        return float(np.sum(h ** 2))
    norms = []
    for k, s in enumerate(states, start=1):
        if kind == "lstm":
            gh = central_grad(lambda h: loss_from(k, (h, s[1])), s[0])
            gc = central_grad(lambda c: loss_from(k, (s[0], c)), s[1])
            norms.append((np.linalg.norm(gh), np.linalg.norm(gc)))
        else:
            norms.append(np.linalg.norm(central_grad(lambda h: loss_from(k, h), s)))
    return norms


def unrolled(kind, steps, seed=3, scale=1.0, backward=True):
    cls = {"rnn": lambda: rnn.RNNCell(2, 3, init="orthogonal", seed=seed),
           "lstm": lambda: rnn.LSTMCell(2, 3, seed=seed), "gru": lambda: rnn.GRUCell(2, 3, seed=seed)}
    cell = cls[kind]()
    if scale != 1.0:
        for p in cell.parameters():
            p.data = p.data * scale
    xs = np.random.default_rng(seed).standard_normal((steps, 1, 2))
    with mg.Tape() as tape:
        run = rnn.unroll(cell, mg.tensor(xs))
        loss = (rnn.hidden_of(run.final) ** 2).sum()
    if backward:
        loss.backward()
    return cell, xs, tape


# op counts per step, written down from the equations in rnn/cells.py's docstrings:
#   RNN  a = h W_rec + x W_in + b; tanh:          2 matmul, 2 add, tanh
#   GRU  z, r: 2 matmul, 2 add, sigmoid each; n: 2 matmul, r ⊙ h, 2 add, tanh; h - n, z ⊙ ., n + .
#   LSTM z = x W_x + h W_h + b (2 matmul, 2 add), split into 4, 3 sigmoid, 2 tanh, 3 mul, 1 add;
#        then h and c handed on (identity, "handoff")
PER_STEP = {"rnn": {"matmul": 2, "add": 2, "tanh": 1},
            "gru": {"matmul": 6, "add": 7, "sigmoid": 2, "tanh": 1, "mul": 2, "sub": 1},
            "lstm": {"matmul": 2, "add": 3, "sigmoid": 3, "tanh": 2, "mul": 3, "identity": 2}}


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("steps", [1, 2, 5])
def test_every_recorded_op_drawn_once_in_its_step_in_order(kind, steps):
    _, _, tape = unrolled(kind, steps)
    dot = viz.draw(tape).source
    nodes = op_nodes(dot)
    assert sorted(nodes) == list(range(len(tape)))                   # every op, nothing more
    assert all(len(labels) == 1 for labels in nodes.values())         # none drawn twice
    blocks = step_blocks(dot)
    assert [t for t, _ in blocks] == list(range(steps))               # one cluster per step, in order
    for t, body in blocks:
        inside = {int(i) for i in re.findall(r"^\s*op(\d+) \[", body, re.M)}
        assert inside == {e.index for e in tape if e.step == t}
        ops = [e.op for e in tape if e.index in inside]
        expected = dict(PER_STEP[kind])
        counted = {op: ops.count(op) for op in expected}
        assert counted == expected, (t, ops)
    # edges: one per input read, from the producer to the reader, never backwards in time
    edges = [(a, b) for a, b, _ in op_edges(dot)]
    expected = [(x, e.index) for e in tape for x in e.inputs if isinstance(x, int)]
    assert sorted(edges) == sorted(expected)
    assert all(a < b and (tape[a].step is None or tape[b].step is None or tape[a].step <= tape[b].step)
               for a, b in edges)
    # the loss (|h_T|²: pow, sum) outside the steps
    assert [e.op for e in tape if e.step is None] == ["power", "sum"]


def state_entries(kind, tape, steps):
    """The tape entries holding the state each step hands on: the RNN's tanh, the GRU's last
    op of the step, the LSTM's hand-off nodes (h, c)."""
    if kind == "lstm":
        return [tuple(next(e for e in tape if e.step == t and e.marks.get("handoff") == name) for name in ("h", "c"))
                for t in range(steps)]
    return [[e for e in tape if e.step == t][-1] for t in range(steps)]


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_state_gradient_norms_written_on_the_nodes_are_dE_ds_k(kind):
    """The box of the state step k hands on says ||dE/ds_k||, computed here by central
    differences of NumPy cells written from the equations, and its border has the colour of the
    legend bin that value falls in."""
    steps = 5
    cell, xs, tape = unrolled(kind, steps, scale=2.0)
    p = {name: t.numpy() for name, t in cell.named_parameters()}
    reference = state_grad_norms(kind, p, xs)
    dot = viz.draw(tape).source
    nodes = op_nodes(dot)
    bins = legend_bins()
    for entries, ref in zip(state_entries(kind, tape, steps), reference):
        pairs = zip(entries, ref) if kind == "lstm" else [(entries, ref)]
        for e, value in pairs:
            if value == 0 and e.grad_norm is None:          # c_T: the loss reads h_T only, nothing reaches it
                assert grad_in_label(nodes[e.index][0]) is None
                continue
            assert e.grad_norm == pytest.approx(value, rel=1e-6)
            assert grad_in_label(nodes[e.index][0]) == float(f"{value:.3g}")
            colour = node_attr(dot, f"op{e.index}", "color")
            assert colour == next(c for lo, hi, c, _ in bins if lo <= value < hi)
    if kind == "rnn":          # h_k is read by one op of step k + 1: that edge carries all of dE/dh_k
        for e, value in zip(state_entries(kind, tape, steps)[:-1], reference[:-1]):
            crossing = [n for a, b, n in op_edges(dot) if a == e.index]
            assert crossing == [float(f"{value:.2g}")]


def test_rnn_state_gradients_against_bptt_by_hand():
    """Closed form: dE/dh_T = 2 h_T, dE/dh_k = (dE/dh_{k+1} ⊙ (1 - h_{k+1}²)) W_recᵀ."""
    steps = 6
    cell, xs, tape = unrolled("rnn", steps, scale=0.5)
    p = {name: t.numpy() for name, t in cell.named_parameters()}
    hs, h = [], np.zeros((1, 3))
    for x in xs:
        h = np_rnn_step(p, x, h)
        hs.append(h)
    delta = [None] * steps
    delta[-1] = 2 * hs[-1]
    for k in range(steps - 2, -1, -1):
        delta[k] = (delta[k + 1] * (1 - hs[k + 1] ** 2)) @ p["W_rec"].T
    got = [e.grad_norm for e in state_entries("rnn", tape, steps)]
    np.testing.assert_allclose(got, [np.linalg.norm(d) for d in delta], rtol=1e-12)


def test_colour_of_a_norm_is_the_legend_bin_it_falls_in():
    """Each bin [lo, hi) of the legend: lo and the float just below hi get the bin's colour and
    style (log10 of the float below 1e-4 rounds to -4.0: it was coloured as [1e-4, 1e-2))."""
    bins = legend_bins()
    assert bins[0][0] == 0 and bins[-1][1] == np.inf
    assert all(a[1] == b[0] for a, b in zip(bins, bins[1:]))               # no gap, no overlap
    for lo, hi, colour, style in bins:
        below = float(np.nextafter(hi, 0)) if np.isfinite(hi) else 1e300
        for value in (lo, below):
            assert edge_colour(value) == colour, value
            assert edge_style(value) == style, value
    assert edge_colour(float("nan")) == edge_colour(float("inf")) == "#000000"
    assert edge_style(0.0) == "dashed" and edge_style(1e-300) == "dashed" and edge_style(1e-8) == "solid"


def test_vanishing_exploding_and_not_finite_gradients_on_one_graph():
    """Five readers of one value send back gradients of norm 0, √2·1e-12 (vanished: dashed),
    √2·1e6, inf (1e308 · 10 overflows) and NaN: the numbers on the edges say so and each edge
    has the colour and style the legend gives its number; the value's own box (its gradient is
    NaN) is black, as the legend's "NaN or inf"."""
    x = mg.tensor(np.array([1.0, 2.0]), requires_grad=True)
    with mg.Tape() as tape:
        with mg.scope(step=0):
            a = x * 1.0
        with mg.scope(step=1):
            with np.errstate(over="ignore"):
                parts = [a * 0.0, a * 1e-12, a * 1e6, (a * 1e308) * 10.0, a * float("nan")]
        loss = mg.stack([q.sum() for q in parts]).sum()
    with np.errstate(all="ignore"):
        loss.backward()
    dot = viz.draw(tape).source
    readers = [e.index for e in tape if any(isinstance(i, int) and i == 0 for i in e.inputs)]
    assert len(readers) == 5
    edges = {d: n for s, d, n in op_edges(dot) if s == 0}
    got = [edges[d] for d in readers]
    expected = [0.0, float(f"{np.sqrt(2) * 1e-12:.2g}"), float(f"{np.sqrt(2) * 1e6:.2g}"), np.inf]
    assert got[:4] == expected and np.isnan(got[4])
    for d, n in zip(readers, got):
        line = re.search(rf"^\s*op0 -> op{d} \[(.*)\]$", dot, re.M).group(1)
        assert f'color="{edge_colour(n)}"' in line and f'style={edge_style(n)}' in line
    assert [edge_style(n) for n in got] == ["dashed", "dashed", "solid", "solid", "solid"]
    assert edge_colour(got[3]) == edge_colour(got[4]) == "#000000"
    assert node_attr(dot, "op0", "color") == "#000000"
    assert "grad norm nan" in op_nodes(dot)[0][0]


# ----------------------------------------------------------------- text that needs escaping
NASTY = ['a"b\\', "<W>", "x|y {z}", "R&lt;D & co", "back\\slash"]


def nasty_graph():
    params = []
    for i, name in enumerate(NASTY):
        p = mg.tensor(np.full(2, 0.1 * (i + 1)), requires_grad=True)
        p.name = name
        params.append(p)
    x = mg.tensor(np.ones(2))
    with mg.Tape() as tape:
        for t in range(2):
            with mg.scope(step=t, part='<enc> & "x"'):
                for p in params:
                    x = (x * p).tanh()
        loss = x.sum()
    loss.backward()
    return tape


@needs_dot
@pytest.mark.parametrize("collapse", [False, True])
def test_names_with_quotes_backslashes_and_markup_are_drawn_as_they_are(collapse, tmp_path):
    tape = nasty_graph()
    path = viz.render(viz.draw(tape, collapse=collapse, title='T = 2 <b>"all"</b> & \\'), tmp_path / "g.svg")
    root = ET.parse(path).getroot()                          # valid XML: the SVG opens
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    for name in NASTY:                                       # in the parameters cluster, one field each
        assert name in texts, (name, texts)
    assert '<enc> & "x", t = 1' in texts or any('<enc> & "x", t = 1' in t for t in texts)
    assert 'T = 2 <b>"all"</b> & \\' in texts


# ----------------------------------------------------------------- what counts as a parameter
def test_value_computed_before_the_tape_is_not_a_parameter():
    W = mg.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    W.name = "W"
    u = W * 2.0                                              # recorded, but before the tape began
    with mg.Tape() as tape:
        with mg.scope(step=0):
            y = (u * 3.0).tanh()
        loss = y.sum()
    loss.backward()
    for collapse in (False, True):
        dot = viz.draw(tape, collapse=collapse).source
        assert "cluster_parameters" not in dot and "#fde9b6" not in dot     # no parameter read in the tape
        assert "grad →" not in dot
    assert "computed before the tape" in viz.draw(tape).source


def test_two_tensors_of_one_name_are_told_apart():
    """Two stacked RNN layers both call their recurrent weights W_rec: one step, so each
    "grad → W_rec #i" of the collapsed step is that tensor's whole gradient."""
    a, b = rnn.RNNCell(2, 3, seed=0), rnn.RNNCell(3, 3, seed=1)
    x = mg.tensor(np.random.default_rng(0).standard_normal((1, 1, 2)))
    with mg.Tape() as tape:
        h1 = rnn.unroll(a, x).hiddens[1:]
        h2 = rnn.unroll(b, mg.stack(h1)).final
        loss = (h2 ** 2).sum()
    loss.backward()
    dot = viz.draw(tape, collapse=True).source
    lines = dict(re.findall(r"grad → (W_rec[^:]*): ([-+.e\d]+)", dot))
    assert lines == {"W_rec #1": f"{np.linalg.norm(a.W_rec.grad.numpy()):.2g}",
                     "W_rec #2": f"{np.linalg.norm(b.W_rec.grad.numpy()):.2g}"}
    full = viz.draw(tape).source
    assert "W_rec #1" in full and "W_rec #2" in full


def test_float32_parameter_gradient_norm_does_not_overflow():
    """A float32 gradient with entries 1e20: its squares overflow float32, its norm (2e20) does not."""
    p = mg.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    p.name = "p"
    with mg.Tape() as tape:
        loss = (p * 1e20).sum()
    with np.errstate(over="ignore"):             # the tape's own norms overflow (reported to the lead)
        loss.backward()
    label = re.search(r'label="\{p \|[^"]*"', viz.draw(tape, legend=False).source).group(0)
    assert "grad norm 2e+20" in label


# ----------------------------------------------------------------- the command
def one_line_error(capsys, argv, *words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("minigrad: error:") and err.count("\n") == 1 and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


def test_graph_command_bad_input_is_one_line(tmp_path, capsys):
    out = str(tmp_path / "g.dot")
    one_line_error(capsys, ["graph", "--cell", "transformer", "--out", out], "unknown cell", "rnn, lstm")
    one_line_error(capsys, ["graph", "--steps", "0", "--out", out], "--steps", "at least 1")
    one_line_error(capsys, ["graph", "--steps", "-3", "--out", out], "--steps", "at least 1")
    one_line_error(capsys, ["graph", "--steps", "1000000000", "--out", out], "more than 100 steps")
    one_line_error(capsys, ["graph", "--hidden", "0", "--out", out], "--hidden")
    one_line_error(capsys, ["graph", "--out", str(tmp_path / "g.jpg")], ".svg")
    (tmp_path / "d.svg").mkdir()
    one_line_error(capsys, ["graph", "--out", str(tmp_path / "d.svg")], "is a folder")
    (tmp_path / "file").write_text("")
    one_line_error(capsys, ["graph", "--out", str(tmp_path / "file" / "g.dot")], "not a folder")
    assert not list(tmp_path.glob("g.*"))


def test_graph_command_makes_a_missing_folder(tmp_path, capsys):
    out = tmp_path / "new" / "deeper" / "g.dot"
    assert main(["graph", "--steps", "2", "--out", str(out)]) == 0
    assert out.read_text().startswith("digraph")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_graph_command_folder_without_permission(tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        one_line_error(capsys, ["graph", "--out", str(locked / "g.svg")], "no permission")
    finally:
        locked.chmod(0o700)


def test_graph_command_folder_that_cannot_be_written_even_by_root(capsys):
    """/proc takes no new files, whoever asks (the permission test above skips as root)."""
    one_line_error(capsys, ["graph", "--steps", "2", "--out", "/proc/minigrad-graph/g.svg"], "/proc/minigrad-graph")


def test_missing_dot_says_install_graphviz_and_keeps_the_dot_source(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    err = one_line_error(capsys, ["graph", "--steps", "2", "--out", str(tmp_path / "g.svg")],
                         "install graphviz", str(tmp_path / "g.dot"))
    assert "dot -Tsvg" in err
    assert not (tmp_path / "g.svg").exists()
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


@needs_dot
def test_rendered_png_and_svg_open_and_steps_run_left_to_right(tmp_path, capsys):
    import matplotlib.image
    assert main(["graph", "--cell", "lstm", "--steps", "3", "--out", str(tmp_path / "g.png")]) == 0
    image = matplotlib.image.imread(tmp_path / "g.png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0
    assert main(["graph", "--cell", "gru", "--steps", "5", "--out", str(tmp_path / "g.svg")]) == 0
    root = ET.parse(tmp_path / "g.svg").getroot()
    ns = "{http://www.w3.org/2000/svg}"
    x_of = {}
    for g in root.iter(f"{ns}g"):
        title = g.find(f"{ns}title")
        if g.get("class") == "cluster" and title is not None and re.fullmatch(r"cluster_step\d", title.text):
            x_of[int(title.text[-1])] = min(float(v) for v in
                                             re.findall(r"-?[\d.]+", g.find(f"{ns}path").get("d"))[::2])
    assert sorted(x_of) == list(range(5))
    assert [x_of[t] for t in range(5)] == sorted(x_of[t] for t in range(5))       # t = 0 leftmost


def test_parameter_read_twice_in_a_step_is_not_given_a_false_norm():
    """E = Σ x ⊙ W - Σ (x/2) ⊙ W reads W twice in step 0: the pieces x and -x/2 add up to x/2,
    of norm |x|/2; neither piece's norm nor sqrt(|x|² + |x|²/4) is that, so the collapsed
    step states the bound |x| + |x|/2 and says two reads made it."""
    xv = np.array([0.3, -0.7, 1.1])
    W = mg.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    W.name = "W"
    with mg.Tape() as tape:
        with mg.scope(step=0):
            y = (mg.tensor(xv) * W).sum() + (mg.tensor(-0.5 * xv) * W).sum()
        loss = y * 1.0
    loss.backward()
    assert np.linalg.norm(W.grad.numpy()) == pytest.approx(0.5 * np.linalg.norm(xv))
    dot = viz.draw(tape, collapse=True).source
    m = re.search(r"grad → W: ≤ ([-+.e\d]+) \(2 reads\)", dot)
    assert m and float(m.group(1)) == float(f"{1.5 * np.linalg.norm(xv):.2g}")


def test_last_hand_off_goes_to_the_head_not_to_a_step_that_does_not_exist():
    _, _, tape = unrolled("lstm", 2)
    labels = [label for index, (label,) in op_nodes(viz.draw(tape).source).items()
              if tape[index].marks and tape[index].marks.get("handoff")]
    assert sorted(label.split("\n")[0] for label in labels) == ["c → t = 1", "c → t = 2 (final state: no step 2)",
                                                                "h → t = 1", "h → t = 2 (final state: no step 2)"]


# ----------------------------------------------------------------- viz.plots
def test_gradient_norms_marks_nan_inf_and_zero_instead_of_leaving_gaps():
    from viz import plots
    norms = np.array([1.0, 5.0, np.nan, 0.2, np.inf, 0.0, 3.0])
    fig = plots.gradient_norms(norms, clip=2.0)
    ax = fig.axes[0]
    labels = ax.get_legend_handles_labels()[1]
    assert "NaN or inf (2, at update 3, 5)" in labels and "0 (1, at update 6)" in labels
    assert "clipped (2)" in labels                           # 5 and 3; NaN and inf fall back, not clip
    marks = {l.get_label(): l for l in ax.get_lines()}
    top = marks["NaN or inf (2, at update 3, 5)"]
    assert list(top.get_xdata()) == [3, 5] and np.all(np.isfinite(top.get_ydata()))
    assert np.all(top.get_ydata() >= 5.0) and ax.get_ylim()[1] >= top.get_ydata()[0]
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_run_without_clipping_draws_no_threshold(tmp_path):
    """msgd-r (Omega without clipping) never clips: no mu line, nothing marked clipped."""
    import json

    import matplotlib.pyplot as plt
    from viz import plots
    run = tmp_path / "run"
    run.mkdir()
    np.array([0.5, 3.0, 0.7], dtype=np.float32).tofile(run / "grad_norms.f32")
    for method, clipped in (("msgd-r", False), ("msgd", False), ("msgd-cr", True), ("msgd-c", True)):
        (run / "config.json").write_text(json.dumps({"method": method, "clip": 1.0, "task": "addition",
                                                     "length": 50}))
        fig = plots.from_run(run)
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert any("clipping threshold" in t for t in labels) == clipped, (method, labels)
        assert ("clipped (1)" in labels) == clipped
        plt.close(fig)


def test_jacobian_heatmap_draws_an_underflowed_norm_as_the_most_vanished():
    """log10 of a norm that is exactly 0 is -inf: drawn at the blue end, not blank like k > t."""
    import matplotlib.pyplot as plt
    from viz import plots
    logs = np.full((3, 3), np.nan)
    logs[[0, 1, 2], [0, 1, 2]] = 0.0
    logs[1, 0], logs[2, 1], logs[2, 0] = -3.0, -2.0, -np.inf
    fig = plots.jacobian_heatmap(logs)
    image = fig.axes[0].get_images()[0]
    data = image.get_array()
    assert not data.mask[2, 0] and data[2, 0] == image.norm.vmin == -3.0
    assert data.mask[0, 2]                                   # k > t stays blank
    plt.close(fig)


def test_gradient_paths_figure_with_an_overflowed_gradient():
    """A model whose ||dE/ds_k|| overflowed to inf (and one with only NaN and 0): the figure is
    drawn, the axis fits the finite curves, and the axis label says what is not drawn."""
    import matplotlib.pyplot as plt
    from viz.gradient_paths import gradient_paths
    k = list(range(1, 11))
    model = {"label": "tanh RNN", "accuracy_after": 0.5, "before": {"grad": [1.0] * 10, "jacobian": [1.0] * 10},
             "after": {"grad": [np.inf] + [0.1] * 9, "jacobian": [1.0] * 10}}
    fig = gradient_paths({"k": k, "models": {"rnn": model}, "config": {"updates": 5}})
    assert fig.axes[0].get_ylim() == pytest.approx((0.1 / 3, 3.0))
    assert "inf" in fig.axes[0].get_ylabel()
    plt.close(fig)
    model["after"] = {"grad": [np.nan] * 10, "jacobian": [0.0] * 10}
    model["before"]["grad"] = [0.0] * 10
    plt.close(gradient_paths({"k": k, "models": {"rnn": model}, "config": {"updates": 5}}))
