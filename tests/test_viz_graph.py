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
