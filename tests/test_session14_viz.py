"""Session 14: viz.graph's drawing checked against the tape and against NumPy.

Expected values come from the tape's own entries (which op read which input), from BPTT by hand
in NumPy, or from the engine's .grad (norms computed here with NumPy), never from viz.graph.
"""
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import rnn
import viz

HAS_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed (apt-get install graphviz)")
REPO = Path(__file__).resolve().parents[1]


def dot_edges(source) -> Counter:
    """(tail, head) of every edge outside the legend, with multiplicity."""
    found = re.findall(r"^\s*(\"?[\w-]+\"?) -> (\"?[\w-]+\"?) \[", source, re.M)
    return Counter((a.strip('"'), b.strip('"')) for a, b in found if not a.startswith("legend"))


def node_label(source, name) -> str:
    m = re.search(rf'^\s*{re.escape(name)} \[label="((?:[^"\\]|\\.)*)"', source, re.M)
    return m[1] if m else None


def edge_label(source, tail, head):
    m = re.search(rf'^\s*{tail} -> {head} \[label=("[^"]*"|\S+)', source, re.M)
    return None if m is None else m[1].strip('"')


def cluster_of(source) -> dict:
    """{node name: the step cluster it is declared in} (op nodes are declared once)."""
    where, current = {}, None
    for line in source.splitlines():
        m = re.match(r"\s*subgraph cluster_step(-?\d+) \{", line)
        if m:
            current = int(m[1])
            continue
        if re.match(r"\s*subgraph ", line):
            continue                                   # a stage cluster inside a step: same step
        if line.strip() == "}" and line.startswith("\t}"):
            current = None
            continue
        m = re.match(r"\s*(op\d+) \[", line)
        if m:
            where[m[1]] = current
    return where


def expected_edges(tape, key_of_leaf) -> Counter:
    """The edges the tape says exist: one per (input, op), from the op that made the input or
    from the input's leaf node."""
    want = Counter()
    for e in tape:
        for i, x in enumerate(e.inputs):
            want[(f"op{x}" if isinstance(x, int) else key_of_leaf(e, i, x), f"op{e.index}")] += 1
    return want


# ------------------------------------------------------------------ the drawing is the computation
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_every_edge_is_an_input_dependency_and_every_op_sits_in_its_step(kind):
    cell = rnn.CELLS[kind](3, 4, seed=0)
    x = mg.tensor(np.random.default_rng(0).standard_normal((3, 2, 3)))
    with mg.Tape() as tape:
        run = rnn.unroll(cell, x)
        loss = (rnn.hidden_of(run.final) ** 2).sum()
    loss.backward()
    source = viz.draw(tape, legend=False).source
    assert dot_edges(source) == expected_edges(tape, lambda e, i, x: f"leaf{id(x)}_s{e.step}")
    where = cluster_of(source)
    assert where == {f"op{e.index}": e.step for e in tape}
    for e in tape:
        label = node_label(source, f"op{e.index}").split("\n")
        head = e.marks.get("handoff") if e.marks and "handoff" in e.marks else e.op
        assert label[0].startswith(head) and label[1] == str(e.shape)


def test_three_step_rnn_norms_on_boxes_edges_and_parameters_are_bptt_by_hand():
    """h_t = tanh(h_{t-1} W_rec + x_t W_in + b), E = Σ h_2²: dE/dh_2 = 2 h_2, δ_t = dE/dh_t ⊙
    (1 - h_t²), dE/dh_{t-1} = δ_t W_recᵀ; step t sends h_{t-1}ᵀ δ_t to W_rec, x_tᵀ δ_t to W_in."""
    cell = rnn.RNNCell(3, 4, init="basic_tanh", seed=0)
    X = np.random.default_rng(0).standard_normal((3, 2, 3))
    with mg.Tape() as tape:
        run = rnn.unroll(cell, mg.tensor(X))
        loss = (run.hiddens[-1] ** 2).sum()
    loss.backward()
    Wr, Wi, b = cell.W_rec.numpy(), cell.W_in.numpy(), cell.b.numpy()
    hs = [np.zeros((2, 4))]
    for t in range(3):
        hs.append(np.tanh(hs[-1] @ Wr + X[t] @ Wi + b))
    dh, delta = 2 * hs[3], {}
    source = viz.draw(tape, legend=False).source
    for t in (2, 1, 0):
        tanh = [e for e in tape if e.step == t and e.op == "tanh"][0]
        assert f"grad norm {np.linalg.norm(dh):.3g}" in node_label(source, f"op{tanh.index}")
        delta[t] = dh * (1 - hs[t + 1] ** 2)
        dh = delta[t] @ Wr.T
    edges = re.findall(r"^\s*(\S+) -> (op\d+) \[label=\"?([^\" ]*)\"? ", source, re.M)
    label = {(a, b): text for a, b, text in edges}
    for t in range(3):
        w_rec_read = [e for e in tape if e.step == t and e.op == "matmul" and any(i is cell.W_rec for i in e.inputs)][0]
        assert label[(f"leaf{id(cell.W_rec)}_s{t}", f"op{w_rec_read.index}")] == \
            f"{np.linalg.norm(hs[t].T @ delta[t]):.2g}"
        if t:
            assert label[(f"op{w_rec_read.inputs[0]}", f"op{w_rec_read.index}")] == \
                f"{np.linalg.norm(delta[t] @ Wr.T):.2g}"
    block = source[source.index("cluster_parameters"):]
    for p, grad in ((cell.W_rec, sum(hs[t].T @ delta[t] for t in range(3))),
                    (cell.W_in, sum(X[t].T @ delta[t] for t in range(3))),
                    (cell.b, sum(delta[t].sum(0) for t in range(3)))):
        assert re.search(rf"\{{{p.name} \|[^}}]*grad norm {np.linalg.norm(grad):.3g}\}}", block)


# ------------------------------------------------------------------ fixes
def test_distinct_constants_known_only_by_shape_are_not_drawn_as_one_tensor():
    """tape_of: add keeps no input values, so its constant inputs are stand-ins shared per
    shape; the two different constants c1 and c2 were drawn as one node read by both adds."""
    W = mg.tensor(np.ones(3), requires_grad=True)
    c1, c2 = mg.tensor([1.0, 2.0, 3.0]), mg.tensor([10.0, 20.0, 30.0])
    y = ((W + c1) + c2).sum()
    tape = viz.tape_of(y)
    edges = dot_edges(viz.draw(tape, legend=False).source)
    into = {e.index: [a for (a, b), n in edges.items() if b == f"op{e.index}" for _ in range(n)] for e in tape}
    first, second = into[0], into[1]
    assert len(first) == 2 and len(second) == 2                     # W and c1; the sum and c2
    const_first = [a for a in first if a != f"leaf{id(W)}_sNone"]
    const_second = [a for a in second if a != "op0"]
    assert len(const_first) == 1 and len(const_second) == 1
    assert const_first[0] != const_second[0]                        # two tensors, two nodes
    assert sum(edges.values()) == sum(len(e.inputs) for e in tape)


def test_collapsed_edge_says_bound_where_a_head_also_reads_the_state():
    """Step 0 makes a = 2x; step 1 reads a twice (b = a ⊙ a + tanh a) and the loss reads a
    directly too: E = Σ b + Σ a.  What step 1 sends to a is 2a + (1 - tanh² a) (NumPy by
    hand); the tape holds only the pieces' norms ||a||, ||a||, ||1 - tanh² a||, so the edge
    0 -> 1 may state that norm or an upper bound of it ("≤ x"), never another number
    (it was sqrt(Σ piece²), written as if exact)."""
    xv = np.array([0.3, -0.7, 1.1])
    x = mg.tensor(xv, requires_grad=True)
    with mg.Tape() as tape:
        with mg.scope(step=0):
            a = x * 2.0
        with mg.scope(step=1):
            b = a * a + mg.tanh(a)
        loss = b.sum() + a.sum()
    loss.backward()
    av = 2 * xv
    sent = np.linalg.norm(2 * av + 1 - np.tanh(av) ** 2)
    source = viz.draw(tape, collapse=True, legend=False).source
    m = edge_label(source, "step0", "step1")
    assert m is not None, source
    if m.startswith("≤ "):
        bound = float(m[2:])
        assert bound >= float(f"{sent:.2g}")
        assert bound == float(f"{2 * np.linalg.norm(av) + np.linalg.norm(1 - np.tanh(av) ** 2):.2g}")
    else:
        assert m == f"{sent:.2g}"


def test_collapsed_gru_edges_never_understate_what_the_next_step_sends():
    """A GRU whose loss reads every hidden state: dE/dh_s = (what step s+1 sends) + 2 h_s, so
    the gradient sent is h_s.grad - 2 h_s (norm by NumPy); each edge states it or bounds it."""
    cell = rnn.GRUCell(3, 4, seed=2)
    X = mg.tensor(np.random.default_rng(2).standard_normal((4, 2, 3)))
    with mg.Tape() as tape:
        run = rnn.unroll(cell, X)
        hs = run.hiddens[1:]
        for h in hs:
            h.retain_grad()
        loss = sum(((h * h).sum() for h in hs), mg.tensor(0.0))
    loss.backward()
    source = viz.draw(tape, collapse=True, legend=False).source
    for s in range(3):
        sent = np.linalg.norm(hs[s].grad.numpy() - 2 * hs[s].numpy())
        m = edge_label(source, f"step{s}", f"step{s + 1}")
        if m.startswith("≤ "):
            assert float(m[2:]) >= float(f"{sent:.2g}")
        else:
            assert m == f"{sent:.2g}"


@pytest.mark.parametrize("bad", [3, None, np.ones(3), [1.0]])
def test_draw_and_tape_of_refuse_what_is_not_a_tensor_or_tape(bad):
    with pytest.raises(TypeError, match=rf"draw takes an mg.Tape or a minigrad Tensor.*got {type(bad).__name__}$"):
        viz.draw(bad)
    with pytest.raises(TypeError, match=rf"tape_of takes a minigrad Tensor.*got {type(bad).__name__}$"):
        viz.tape_of(bad)


def _small_graph():
    W = mg.tensor(np.ones(3), requires_grad=True)
    return viz.draw((W * 2.0).sum())


def test_render_refuses_a_bad_target_in_one_line_before_running_dot(tmp_path, monkeypatch):
    graph = _small_graph()

    def no_dot(*args, **kwargs):
        raise AssertionError("dot ran for a target that cannot be written")
    monkeypatch.setattr(type(graph), "pipe", no_dot)
    missing = tmp_path / "no such folder" / "g.svg"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        viz.render(graph, missing)
    assert info.value.filename == str(missing) and "\n" not in str(info.value)
    assert not missing.parent.exists()
    (tmp_path / "d.svg").mkdir()
    with pytest.raises(IsADirectoryError, match="folder"):
        viz.render(graph, tmp_path / "d.svg")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.render(graph, tmp_path / "no such folder" / "g.dot")
    with pytest.raises(TypeError, match="render takes the graphviz.Digraph that viz.draw returns, got Tape"):
        viz.render(mg.Tape(), tmp_path / "g.svg")
    with pytest.raises(TypeError, match="path is a str or pathlib.Path, got int"):
        viz.render(graph, 3)


def test_render_into_a_folder_that_takes_no_files_is_one_line_oserror():
    """/proc takes no new files, whoever asks (root included)."""
    with pytest.raises(OSError, match="render: cannot write the drawing") as info:
        viz.render(_small_graph(), "/proc/minigrad-viz.dot")
    assert info.value.filename == "/proc/minigrad-viz.dot" and "\n" not in str(info.value)


def test_missing_dot_program_in_a_fresh_process(tmp_path):
    """PATH without Graphviz: one-line RuntimeError naming the fix; the DOT source is kept."""
    code = ("import numpy as np, minigrad as mg, viz\n"
            "W = mg.tensor(np.ones(3), requires_grad=True)\n"
            "try:\n"
            f"    viz.render(viz.draw((W * 2.0).sum()), {str(tmp_path / 'g.png')!r})\n"
            "except RuntimeError as e:\n"
            "    print('ERR', e)\n")
    env = {**os.environ, "PATH": str(tmp_path)}                     # a folder with no dot in it
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    lines = out.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERR rendering needs Graphviz's 'dot' program"), out
    assert "install graphviz" in lines[0] and f"dot -Tpng {tmp_path / 'g.dot'}" in lines[0]
    assert (tmp_path / "g.dot").read_text().startswith("digraph") and not (tmp_path / "g.png").exists()


@needs_dot
def test_three_step_rnn_renders_as_svg_and_png(tmp_path):
    cell = rnn.RNNCell(3, 4, init="basic_tanh", seed=0)
    with mg.Tape() as tape:
        run = rnn.unroll(cell, mg.tensor(np.random.default_rng(0).standard_normal((3, 2, 3))))
        (run.hiddens[-1] ** 2).sum().backward()
    svg = viz.render(viz.draw(tape), tmp_path / "g.svg")
    png = viz.render(viz.draw(tape), tmp_path / "g.png")
    assert svg.read_text().lstrip().startswith("<?xml") and 5_000 < svg.stat().st_size < 2_000_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and 5_000 < png.stat().st_size < 5_000_000


def test_graph_drawn_after_its_backward_does_not_claim_no_gradient_flowed():
    """tape_of after backward(retain_graph=True): the tape holds no norms (no pass crossed it),
    yet W received c (norm by NumPy, nonzero) along its edge; grey must not be called "no
    gradient" then."""
    c = np.array([1.0, 2.0, 3.0])
    W = mg.tensor(np.ones(3), requires_grad=True)
    y = (mg.tensor(c) * W).sum()
    y.backward(retain_graph=True)
    assert np.linalg.norm(W.grad.numpy()) == pytest.approx(np.linalg.norm(c))         # > 0: it flowed
    source = viz.draw(y).source
    assert 'label="no gradient"' not in source and "not recorded" in source
    tape = viz.tape_of(y)
    y.backward()                                                    # now a pass crosses the tape
    assert 'label="no gradient"' in viz.draw(tape).source


def test_a_leaf_changed_in_place_after_recording_is_said_to_be_so():
    """The drawing shows a leaf's values of now: after an optimizer step (or add_) they are not
    the ones the recorded nodes used, and the label says so; untouched leaves say nothing."""
    import minigrad as mg
    from viz import graph
    W = mg.tensor(np.ones((2, 2)), requires_grad=True, name="W")
    c = mg.tensor(np.zeros(2), name="c")
    b = mg.tensor(np.ones(2), name="b")
    with mg.Tape() as tape:
        y = ((mg.tensor(np.ones((1, 2))) @ W + c + b) ** 2).sum()
    y.backward()
    assert "changed in place" not in graph.draw(tape).source
    with mg.no_grad():
        W.sub_(0.1 * W.grad)
        c.add_(100.0)
    labels = [line for line in graph.draw(tape).source.splitlines() if "label=\"{" in line]
    said = {line.split("label=\"{")[1].split(" |")[0]: "changed in place since recorded" in line for line in labels}
    assert said == {"W": True, "c": True, "b": False, "const": False}   # const: the unnamed input x
    assert [tape[i].changed(j) for i in range(len(tape)) for j in range(len(tape[i].inputs))
            if tape[i].inputs[j] is b] == [False]
