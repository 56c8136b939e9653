"""viz.graph: the DOT text of unrolled graphs, and rendering through the real dot program."""
import re
import shutil

import numpy as np
import pytest

import minigrad as mg
import rnn
import viz
from tasks.cli import build_graph, main


def recorded(steps=4, backward=True, device="cpu"):
    cell = rnn.RNNCell(3, 4, init="basic_tanh", seed=0, device=device)
    x = mg.tensor(np.random.default_rng(0).standard_normal((steps, 2, 3)), device=device)
    with mg.Tape() as tape:
        run = rnn.unroll(cell, x)
        loss = (run.hiddens[-1] ** 2).sum()
    if backward:
        loss.backward()
    return tape, loss


def test_one_cluster_per_step_and_every_primitive(device):
    tape, _ = recorded(steps=4, device=device)
    dot = viz.draw(tape).source
    assert len(re.findall(r"subgraph cluster_step\d+", dot)) == 4
    ops = re.findall(r"^\s*op\d+ \[label=\"(\w+)", dot, re.M)
    assert len(ops) == len(tape) == 4 * 5 + 2
    assert ops.count("tanh") == 4 and ops.count("matmul") == 8
    edges = re.findall(r"->", dot)
    # + the legend's 8 bins of the colouring, NaN or inf, and no gradient
    assert len(edges) == sum(len(e.inputs) for e in tape) + 8 + 2
    assert "W_rec" in dot and "grad norm" in dot and "#fde9b6" in dot   # parameters, named, coloured


def test_edges_are_coloured_by_gradient_only_after_backward():
    tape, loss = recorded(backward=False)
    before = viz.draw(tape, legend=False).source
    assert set(re.findall(r'(?<!fill)color="(#[0-9a-f]{6})"', before)) <= {"#bbbbbb", "#9ecae1", "#e0c070"}
    loss.backward()
    after = viz.draw(tape, legend=False).source
    colours = set(re.findall(r'(?<!fill)color="(#[0-9a-f]{6})"', after))
    assert colours & {c for _, c in viz.graph.SCALE}
    assert re.search(r'label="?\d', after)                           # norms written on edges


def test_colour_scale():
    assert viz.edge_colour(1e-6) == "#08306b" and viz.edge_colour(1e-3) == "#2171b5" and viz.edge_colour(1.0) == "#969696"
    assert viz.edge_colour(500.0) == "#de2d26" and viz.edge_colour(None) == "#bbbbbb"
    assert viz.graph.edge_width(1e3) > viz.graph.edge_width(1e-3)


def test_collapsed_view_has_one_node_per_step():
    tape, _ = recorded(steps=30)
    dot = viz.draw(tape, collapse=True, legend=False).source
    steps = re.findall(r"^\s*step(\d+) \[", dot, re.M)
    assert sorted(map(int, steps)) == list(range(30))
    assert len(re.findall(r"step\d+ -> step\d+", dot)) == 29       # the recurrent chain
    assert "grad → W_rec" in dot


def test_graph_behind_a_tensor_without_a_tape():
    _, loss = recorded(steps=3, backward=False)
    tape = viz.tape_of(loss)
    assert len(tape) == 3 * 5 + 2 and sorted({e.step for e in tape} - {None}) == [0, 1, 2]
    loss.backward()
    assert all(e.grad_norm is not None for e in tape)
    with pytest.raises(ValueError, match="released"):
        viz.tape_of(loss)


def test_ten_thousand_node_graph_walks_without_recursion():
    x = mg.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(5000):
        y = (y * 0.99).tanh()
    tape = viz.tape_of(y)
    assert len(tape) == 10_000


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")
@pytest.mark.parametrize("fmt", ["svg", "png", "pdf"])
def test_renders_through_dot(fmt, tmp_path):
    tape, _ = recorded(steps=3)
    path = viz.render(viz.draw(tape, title="three steps"), tmp_path / f"g.{fmt}")
    data = path.read_bytes()
    magic = {"svg": b"<svg", "png": b"\x89PNG", "pdf": b"%PDF"}[fmt]
    assert magic in data[:400] and len(data) > 1000
    if fmt == "svg":
        text = data.decode()
        assert "t = 2" in text and "W_rec" in text and "three steps" in text


def test_missing_dot_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/nonexistent")
    tape, _ = recorded(steps=2)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        viz.render(viz.draw(tape), tmp_path / "g.svg")
    assert viz.render(viz.draw(tape), tmp_path / "g.dot").read_text().startswith("digraph")


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "esn"])
def test_graph_command_for_every_cell(cell, tmp_path, capsys):
    assert main(["graph", "--cell", cell, "--steps", "3", "--out", str(tmp_path / "g.dot")]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert len(re.findall(r"subgraph cluster_step\d+", dot)) == 3
    assert main(["graph", "--cell", cell, "--steps", "3", "--collapse", "--out", str(tmp_path / "c.dot")]) == 0
    assert len(re.findall(r"^\s*step\d \[", (tmp_path / "c.dot").read_text(), re.M)) == 3
    assert main(["graph", "--cell", "transformer", "--out", str(tmp_path / "x.dot")]) == 2
    assert "unknown cell" in capsys.readouterr().err
    assert build_graph(cell, 2).source.startswith("digraph")


# ----------------------------------------------------------------- NTM and attention seq2seq
def cluster_labels(dot):
    """[(cluster name, its label)] in the order of the DOT source."""
    found = re.findall(r'subgraph (cluster_\w+) \{\s*graph \[[^\]]*?label=("[^"]*"|[^\s\]]+)', dot)
    return [(name, label.strip('"')) for name, label in found]


def test_ntm_graph_has_one_cluster_per_step_with_its_stages(tmp_path, capsys):
    """minigrad graph --cell ntm: one cluster per step, each holding four nested stage clusters
    (controller, read head, write head and memory, output); the memory written in step t is read
    in step t + 1 (an edge between the clusters); rendered by the real dot."""
    assert main(["graph", "--cell", "ntm", "--steps", "3", "--out", str(tmp_path / "n.dot")]) == 0
    dot = (tmp_path / "n.dot").read_text()
    assert re.findall(r"subgraph (cluster_step\d+) \{", dot) == ["cluster_step0", "cluster_step1", "cluster_step2"]
    blocks = [b[:b.index("\n\t}\n")] for b in dot.split("\tsubgraph cluster_step")[1:]]   # each step's cluster
    assert len(blocks) == 3
    for t, block in enumerate(blocks):
        stages = [label for name, label in cluster_labels(block) if name.startswith(f"cluster_s{t}_stage")]
        assert stages == ["controller", "read head", "write head, memory", "output"]
    assert "W_heads" in dot and "grad norm" in dot
    step_of = {op: t for t, block in enumerate(blocks) for op in re.findall(r"^\s*(op\d+) \[", block, re.M)}
    stage_of = {op: int(stage) for block in blocks
                for stage, body in re.findall(r"subgraph cluster_s\d+_stage(\d+) \{(.*?)\n\t\t\}", block, re.S)
                for op in re.findall(r"^\s*(op\d+) \[", body, re.M)}
    assert set(stage_of) == set(step_of)                    # every op of a step is in one of its stages
    crossing = {(stage_of[a], stage_of[b]) for a, b in re.findall(r"(op\d+) -> (op\d+)", dot)
                if a in step_of and b in step_of and step_of[b] == step_of[a] + 1}
    assert (2, 1) in crossing and (2, 2) in crossing        # the memory written is read, and written again
    assert (0, 0) in crossing                               # the controller's own recurrence
    if shutil.which("dot"):
        assert main(["graph", "--cell", "ntm", "--steps", "2", "--out", str(tmp_path / "n.svg")]) == 0
        svg = (tmp_path / "n.svg").read_text()
        assert "<svg" in svg[:400] and "read head" in svg and "t = 1" in svg
    assert main(["graph", "--cell", "ntm", "--steps", "11", "--out", str(tmp_path / "x.dot")]) == 2
    err = capsys.readouterr().err
    assert "more than 10 steps" in err and "--collapse" in err and err.count("\n") == 1


def test_seq2seq_graph_has_encoder_and_decoder_steps(tmp_path, capsys):
    """minigrad graph --cell seq2seq (or attention), 3 steps: a source of 3 digits, reversed: 3
    encoder clusters, then 4 decoder clusters (3 digits and the end token); every decoder step
    reads the attention keys made once per sentence, outside the steps."""
    for name in ("seq2seq", "attention"):
        assert main(["graph", "--cell", name, "--steps", "3", "--out", str(tmp_path / f"{name}.dot")]) == 0
    dot = (tmp_path / "seq2seq.dot").read_text()
    assert re.sub(r"leaf\d+", "leaf", dot) == re.sub(r"leaf\d+", "leaf", (tmp_path / "attention.dot").read_text())
    labels = [(name[len("cluster_step"):], label) for name, label in cluster_labels(dot)
              if name.startswith("cluster_step")]
    assert labels == [("0", "encoder, t = 0"), ("1", "encoder, t = 1"), ("2", "encoder, t = 2"),
                      ("3", "decoder output 0, t = 3"), ("4", "decoder output 1, t = 4"),
                      ("5", "decoder output 2, t = 5"), ("6", "decoder output 3, t = 6")]
    assert "once per sentence" in dot and "W_s" in dot and "softmax" in dot
    assert main(["graph", "--cell", "seq2seq", "--steps", "4", "--collapse", "--out", str(tmp_path / "c.dot")]) == 0
    assert sorted(map(int, re.findall(r"^\s*step(\d+) \[", (tmp_path / "c.dot").read_text(), re.M))) == list(range(9))
    if shutil.which("dot"):
        assert main(["graph", "--cell", "seq2seq", "--steps", "2", "--out", str(tmp_path / "s.svg")]) == 0
        svg = (tmp_path / "s.svg").read_text()
        assert "<svg" in svg[:400] and "decoder output 2, t = 4" in svg and "once per sentence" in svg
    assert main(["graph", "--cell", "seq2seq", "--steps", "16", "--out", str(tmp_path / "x.dot")]) == 2
    assert "more than 15 steps" in capsys.readouterr().err


def collapsed_edges(dot):
    """{(src step, dst step): the number on the edge, or None}."""
    edges = {}
    for src, dst, attrs in re.findall(r"^\s*step(\w+) -> step(\w+) \[(.*)\]", dot, re.M):
        label = re.search(r'label="?([-+.e\d]*)', attrs)
        edges[(src, dst)] = float(label.group(1)) if label and label.group(1) else None
    return edges


def test_collapsed_edge_is_the_norm_of_the_gradient_passed_back():
    """Step 0 makes a = 2x and u = 3x; step 1 reads a twice in one product and once more in
    tanh (b = a ⊙ a + tanh a), and reads u into an op the loss ignores; E = Σ b.  The edge
    0 -> 1 carries ||dE/da|| = ||2a + (1 - tanh² a)||, worked out by hand in NumPy: not
    sqrt(||a||² + ||a||² + ||1 - tanh² a||²) (the three pieces are one vector's parts), and not
    blank because u's reader got no gradient."""
    xv = np.array([0.3, -0.7, 1.1])
    x = mg.tensor(xv, requires_grad=True)
    with mg.Tape() as tape:
        with mg.scope(step=0):
            a, u = x * 2.0, x * 3.0
        with mg.scope(step=1):
            b = a * a + mg.tanh(a)
            unused = u * 2.0                                          # noqa: F841  (reached by nothing)
        loss = b.sum()
    before = collapsed_edges(viz.draw(tape, collapse=True, legend=False).source)
    assert before[("0", "1")] is None                                 # no backward yet: no number
    loss.backward()
    av = 2 * xv
    expected = np.linalg.norm(2 * av + 1 - np.tanh(av) ** 2)
    edges = collapsed_edges(viz.draw(tape, collapse=True, legend=False).source)
    assert edges[("0", "1")] == float(f"{expected:.2g}")            # the label has 2 digits
    assert edges[("1", "None")] == float(f"{np.sqrt(3):.2g}")       # b's gradient, ones


def test_collapsed_ntm_graph_labels_every_step_to_step_edge(tmp_path):
    """An NTM's last write reaches no loss: the ops that read the memory in the last step got
    no gradient through it, which must not blank the edge into that step (it carries the
    controller's state, the read vector and the weightings, all of which the loss reads)."""
    assert main(["graph", "--cell", "ntm", "--steps", "4", "--collapse", "--out", str(tmp_path / "n.dot")]) == 0
    edges = collapsed_edges((tmp_path / "n.dot").read_text())
    for t in range(3):
        assert edges[(str(t), str(t + 1))] is not None and edges[(str(t), str(t + 1))] > 0


def test_model_graph_parameters_are_told_apart(tmp_path):
    """The encoder and the decoder of seq2seq both have a GRU (W_z, U_z, ...) and an embedding E:
    the drawing names each parameter once, by the part it belongs to."""
    assert main(["graph", "--cell", "seq2seq", "--steps", "2", "--collapse", "--out", str(tmp_path / "s.dot")]) == 0
    dot = (tmp_path / "s.dot").read_text()
    block = dot[dot.index("subgraph cluster_parameters"):]
    names = re.findall(r'label="\{([^ |]+) \|', block)
    assert len(names) == 27 and len(set(names)) == 27
    assert {"encoder.W_z", "decoder.W_z", "encoder.E", "decoder.E", "attention.W_s", "decoder.W_init"} <= set(names)
    assert "grad → decoder.W_z" in dot and "grad → encoder.W_z" in dot
    assert main(["graph", "--cell", "ntm", "--steps", "2", "--collapse", "--out", str(tmp_path / "n.dot")]) == 0
    assert "controller.W_x" in (tmp_path / "n.dot").read_text()


def test_model_graph_step_limit_message(tmp_path, capsys):
    assert main(["graph", "--cell", "ntm", "--steps", "201", "--collapse", "--out", str(tmp_path / "x.dot")]) == 2
    err = capsys.readouterr().err
    assert "more than 200 steps" in err and "draw fewer steps" in err and ", or draw" not in err
    assert err.count("\n") == 1


def test_dot_that_gives_up_is_one_line(monkeypatch, tmp_path, capsys):
    """dot fails on some large clustered graphs ("trouble in init_rank", then thousands of lines
    of rank data; seen with --cell seq2seq --steps 20): one line saying so, no traceback."""
    import graphviz
    stderr = b"Error: trouble in init_rank\n" + b"\t%0 14\n" * 3000 + b"Error: lost op105 op421 edge\n"

    def fail(self, *args, **kwargs):
        raise graphviz.CalledProcessError(1, ["dot", "-Tsvg"], output=b"", stderr=stderr)
    monkeypatch.setattr(graphviz.Digraph, "pipe", fail)
    with pytest.raises(RuntimeError, match="trouble in init_rank ... Error: lost op105 op421 edge"):
        viz.render(viz.draw(recorded(steps=2)[0]), tmp_path / "g.svg")
    assert main(["graph", "--cell", "ntm", "--steps", "2", "--out", str(tmp_path / "n.svg")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minigrad: error: Graphviz's dot could not lay out") and err.count("\n") == 1
    assert len(err) < 400 and not (tmp_path / "n.svg").exists()
