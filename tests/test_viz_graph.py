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
    assert len(edges) == sum(len(e.inputs) for e in tape) + 6      # + the legend's chain of 7
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
    assert main(["graph", "--cell", "seq2seq", "--steps", "31", "--out", str(tmp_path / "x.dot")]) == 2
    assert "more than 30 steps" in capsys.readouterr().err
