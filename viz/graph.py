"""Unrolled backprop-through-time graphs, drawn with Graphviz.

``draw(tape)`` turns a recorded :class:`minigrad.Tape` into a ``graphviz.Digraph``:

* one box per primitive (op name and output shape), grouped in one cluster per time step when
  the nodes carry ``step`` marks (``rnn.unroll`` sets them), titled with the ``part`` mark when
  a step has one ("encoder, t = 2", "decoder output 0, t = 5": rnn.Seq2Seq sets them), and
  inside a step one dashed cluster per ``stage`` mark (an NTM step: controller, read head,
  write head and memory, output); nodes with a ``part`` but no ``step`` (the attention's keys,
  made once per sentence) get a cluster of their part;
* the hand-off of a state component to the next step (a node marked ``handoff``: the
  ``identity`` through which ``rnn.unroll`` passes an LSTM's h and c) as an arrow-shaped
  node named for the component and the step it goes to;
* leaves as record nodes with a data summary (and gradient norm, once computed); parameters
  in their own colour under their names (one tensor, shared by every step: drawn small in each
  step that reads it, and once, with its gradient, in the "parameters" cluster; distinct
  tensors of one name numbered "W_rec #1", "W_rec #2"), constants in grey; a value computed
  before the tape began is an input of the tape, not a parameter;
* after ``backward()`` every edge is coloured and sized by the norm of the gradient that flowed
  along it, from blue (vanishing) through grey to red (exploding), so the decay through time
  can be seen at a glance; a legend says which colour is which norm; every op's box says the
  norm of the gradient at its output, ||dE/dv|| (at the state a step hands on: ||dE/dh_k||),
  in its border's colour;
* ``collapse=True`` draws each time step as a single node, so T = 100 stays readable; an edge
  whose norm the tape only bounds (a state read by several ops of the next step and by a head)
  says "≤ x".

The DOT source is always available (``graph.source``); ``render(graph, "out.svg")`` runs the
real ``dot`` program (Debian's ``graphviz`` package) for SVG, PNG or PDF, and without it writes
the DOT source next to the target and says how to install Graphviz.  Names and marks are
escaped, so a parameter called ``a|"b"\\`` is drawn as it is called.
"""
from __future__ import annotations

import math
from pathlib import Path

import graphviz
import numpy as np

import minigrad as mg

PARAM_COLOUR = "#fde9b6"
CONST_COLOUR = "#e8e8e8"
OP_COLOUR = "#dbe8f7"
HANDOFF_COLOUR = "#d9f0d3"       # a state component handed to the next step
# colour of an edge by log10 of the gradient norm flowing along it: SCALE's thresholds; below the
# first (and 0) the first colour, drawn dashed below VANISHED (1e-8: the signal is gone); NaN and
# inf black.  The legend (_legend) states exactly these bins.
SCALE = [(-8, "#08306b"), (-4, "#2171b5"), (-2, "#6baed6"), (0, "#969696"), (1, "#fc9272"), (2, "#de2d26"),
         (4, "#67000d")]
VANISHED = -8
NOT_FINITE_COLOUR = "#000000"
NO_GRADIENT_COLOUR = "#bbbbbb"


def edge_colour(norm) -> str:
    """The colour of an edge that carried a gradient of norm ``norm``: SCALE's colour of the
    largest threshold <= log10(norm); the first colour below every threshold and for 0; black
    for NaN and inf; grey where no gradient passed (None)."""
    if norm is None:
        return NO_GRADIENT_COLOUR
    if not math.isfinite(norm):
        return NOT_FINITE_COLOUR
    colour = SCALE[0][1]
    for threshold, c in SCALE:             # the norm against 10^threshold itself: log10 rounds (log10 of
        if norm >= 10.0 ** threshold:      # the float just below 1e-4 is -4.0), the bins must not
            colour = c
    return colour


def edge_style(norm) -> str:
    """"dashed" for a gradient below 1e-8 (0 included): vanished; else "solid"."""
    if norm is not None and math.isfinite(norm) and norm < 10.0 ** VANISHED:
        return "dashed"
    return "solid"


def edge_width(norm) -> float:
    if norm is None or norm == 0 or not math.isfinite(norm):
        return 1.0
    return float(np.clip(1.0 + 0.6 * (math.log10(norm) + 4), 0.5, 6.0))


def legend_bins() -> list:
    """The bins of the edge colouring as (low, high, colour, style), low inclusive, high
    exclusive (``math.inf`` for the last): [0, 1e-8) dashed, [1e-8, 1e-4), ..., [1e4, inf)."""
    bounds = [0.0] + [10.0 ** t for t, _ in SCALE] + [math.inf]
    colours = [SCALE[0][1]] + [c for _, c in SCALE]
    return [(lo, hi, c, edge_style(lo)) for lo, hi, c in zip(bounds[:-1], bounds[1:], colours)]


def _summary(t) -> list:
    """Shape and a few numbers of a tensor: the fields of a record label."""
    try:
        a = t.numpy()
    except Exception:                                   # not reachable from the host
        return [f"{t.shape}"]
    if a.size == 0:
        return [f"{t.shape}"]
    with np.errstate(invalid="ignore", over="ignore"):        # inf and NaN entries: said as such
        return [f"{t.shape}", f"mean {a.mean():.3g}", f"std {a.std():.3g}"]


def norm64(a) -> float:
    """The 2-norm of an array computed in float64 and scaled by its largest entry, so that
    neither a float32 gradient of 1e20 (whose square overflows float32) nor one of 1e-25
    (whose square underflows) is misreported."""
    a = np.abs(np.asarray(a, dtype=np.float64)).ravel()
    if a.size == 0:
        return 0.0
    top = a.max()
    if not np.isfinite(top):
        return float(top) if not np.isnan(a).any() else math.nan
    if top == 0:
        return 0.0
    return float(top * np.sqrt(np.sum((a / top) ** 2)))


def _escape(text) -> str:
    """``text`` as one field of a record label shows it: backslashes first (a name ending in one
    would end the DOT string), then the record syntax (braces, bars, angle brackets) and ``&``
    (Graphviz reads ``&lt;`` as a character entity); the graphviz package escapes quotes."""
    text = str(text).replace("\\", "\\\\").replace("&", "&amp;")
    for c in "{}|<>":
        text = text.replace(c, "\\" + c)
    return text


def _plain(text) -> str:
    """``text`` as a plain (not record) label, a cluster title or a graph title shows it:
    backslashes and ``&`` escaped, and never read as an HTML-like label (``<...>``)."""
    return graphviz.nohtml(str(text).replace("\\", "\\\\").replace("&", "&amp;"))


def _leaf_node(graph, t, key, name=None, changed=False):
    if isinstance(t, mg.autograd.Shape):                  # a constant whose values were not kept
        graph.node(key, label="{const | " + _escape(str(t.shape)) + "}", shape="record", style="filled",
                   fillcolor=CONST_COLOUR, fontsize="10")
        return
    is_param = _is_param(t)
    if name is not None:
        pass
    elif t.name:
        name = t.name
    elif is_param:
        name = "param"
    else:                                   # an intermediate made before the tape began, or a constant
        name = "computed before the tape" if t.requires_grad else "const"
    fields = [name] + _summary(t)
    if changed:                             # the numbers above are of now, not of the recorded values
        fields.append("changed in place since recorded")
    if t.grad is not None:
        fields.append(f"grad norm {norm64(t.grad.numpy()):.3g}")
    label = "{" + " | ".join(_escape(f) for f in fields) + "}"
    graph.node(key, label=label, shape="record", style="filled",
               fillcolor=PARAM_COLOUR if is_param else CONST_COLOUR, fontsize="10")


def tape_of(tensor) -> mg.Tape:
    """A Tape rebuilt from the graph behind ``tensor`` (before backward releases it)."""
    if not isinstance(tensor, mg.Tensor):
        raise TypeError(f"tape_of takes a minigrad Tensor (the output of a recorded computation), "
                        f"got {type(tensor).__name__}")
    root = tensor.node
    if root is None:
        raise ValueError("this tensor has no graph (a leaf, or computed without recording)")
    nodes, seen, stack = [], set(), [root]
    while stack:                                         # iterative: graphs can be very deep
        node = stack.pop()
        if node in seen:
            continue
        if node.released:
            raise ValueError("the graph behind this tensor was released by backward(); draw it "
                             "before, pass retain_graph=True, or record it with mg.Tape()")
        seen.add(node)
        nodes.append(node)
        stack.extend(p for p in node.parents if isinstance(p, mg.Node))
    return mg.Tape.from_nodes(sorted(nodes, key=lambda n: n.seq))


def draw(source, collapse: bool = False, title: str | None = None, legend: bool = True) -> graphviz.Digraph:
    """The Digraph of a Tape (or of the graph behind a tensor)."""
    if not isinstance(source, (mg.Tape, mg.Tensor)):
        raise TypeError(f"draw takes an mg.Tape or a minigrad Tensor with a recorded graph, got "
                        f"{type(source).__name__}")
    tape = source if isinstance(source, mg.Tape) else tape_of(source)
    graph = graphviz.Digraph("bptt", graph_attr={"rankdir": "LR", "fontname": "Helvetica", "fontsize": "11",
                                                 "label": _plain(title or ""), "labelloc": "t"},
                             node_attr={"fontname": "Helvetica"}, edge_attr={"fontname": "Helvetica", "fontsize": "9"})
    if collapse:
        _draw_collapsed(graph, tape)
    else:
        _draw_full(graph, tape)
    if legend:
        _legend(graph, recorded=any(e.grad_norm is not None for e in tape))
    return graph


def _leaf_key(t) -> str:
    return f"leaf{id(t)}"


def _input_key(e, i, x) -> str:
    """The node of input ``i`` (a leaf) of entry ``e`` in its step: one per tensor and step; a
    constant known only by its shape (:func:`tape_of`, an op that kept no values: one shared
    stand-in per shape) gets a node of its own, since which tensor it was is not known."""
    if isinstance(x, mg.autograd.Shape):
        return f"const{e.index}_{i}"
    return f"{_leaf_key(x)}_s{e.step}"


def _is_param(t) -> bool:
    """A leaf that wants a gradient. A tape's input that requires grad but was computed before
    the tape began (it has a node of its own) is not a parameter."""
    return not isinstance(t, mg.autograd.Shape) and t.requires_grad and t.is_leaf


def _param_name(t) -> str:
    return t.name or f"param{t.shape}"


def param_names(tape) -> dict:
    """{leaf key: the name a parameter is drawn under}: its own name, or ``param(shape)``; when
    distinct tensors share a name (the two layers of a stacked model both have a ``W_rec``),
    ``W_rec #1``, ``W_rec #2`` in the order the tape first reads them, so that neither the
    drawing nor a collapsed step's "grad → W_rec" mixes two tensors up."""
    found = {}
    for e in tape:
        for x in e.inputs:
            if not isinstance(x, int) and _is_param(x):
                found.setdefault(_leaf_key(x), _param_name(x))
    count = {}
    for name in found.values():
        count[name] = count.get(name, 0) + 1
    seen, names = {}, {}
    for key, name in found.items():
        if count[name] > 1:
            seen[name] = seen.get(name, 0) + 1
            name = f"{name} #{seen[name]}"
        names[key] = name
    return names


def _steps(tape):
    """Entries grouped by time step, in order (unmarked entries last)."""
    groups = {}
    for e in tape:
        groups.setdefault(e.step, []).append(e)
    return sorted(groups.items(), key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else 0))


def _mark(entry, name):
    return None if entry.marks is None else entry.marks.get(name)


def step_label(step, entries) -> str:
    """A step cluster's title: ``t = step``, preceded by the ``part`` of the model that made the
    step when its nodes say (seq2seq: "encoder, t = 2"; "decoder output 0, t = 5")."""
    parts = {_mark(e, "part") for e in entries} - {None}
    if len(parts) != 1:
        return f"t = {step}"
    part = parts.pop()
    outputs = {_mark(e, "output") for e in entries} - {None}
    if len(outputs) == 1:
        part = f"{part} output {outputs.pop()}"
    return f"{part}, t = {step}"


def _stages(entries, step, by: str = "stage") -> dict:
    """Nested clusters inside one step, one per ``stage`` mark (an NTM step: controller, read
    head, write head and memory, output), in the order the stages first occur; for the nodes
    of no step (``step`` None), one per ``part`` mark."""
    stages = {}
    for e in entries:
        stage = _mark(e, by)
        if stage is not None and stage not in stages:
            stages[stage] = graphviz.Digraph(
                f"cluster_s{step}_stage{len(stages)}",
                graph_attr={"label": _plain(stage), "style": "dashed", "color": "#c6dbef", "fontsize": "9"})
    return stages


def _changed_leaves(tape) -> set:
    """The keys of the leaves some node read that were changed in place since it was recorded."""
    return {_leaf_key(x) for e in tape for i, x in enumerate(e.inputs)
            if not isinstance(x, (int, mg.autograd.Shape)) and e.changed(i)}


def _parameters_cluster(graph, params, names, changed=frozenset()):
    """Each parameter once, with its summary and (after backward) its gradient norm."""
    if not params:
        return
    sub = graphviz.Digraph("cluster_parameters", graph_attr={"label": "parameters (one tensor each, shared by "
                                                                     "every step that reads it)", "style": "rounded",
                                                            "color": "#e0c070", "fontsize": "10"})
    for key, t in params.items():
        _leaf_node(sub, t, key, names[key], changed=key in changed)
    graph.subgraph(sub)


def _edge(graph, src, dst, norm, label=True, bound=False):
    """An edge coloured by ``norm``; ``bound``: the norm is an upper bound, written "≤ x"."""
    text = "" if norm is None or not label else ("≤ " if bound else "") + f"{norm:.2g}"
    graph.edge(src, dst, color=edge_colour(norm), penwidth=f"{edge_width(norm):.2f}", style=edge_style(norm),
               label=text, fontcolor=edge_colour(norm))


def _draw_full(graph, tape):
    """Every primitive; a parameter is drawn again (small) in each step that reads it, so the
    recurrent chain runs straight from left to right."""
    step_of = {e.index: e.step for e in tape}
    steps = set(step_of.values())
    names = param_names(tape)
    params = {}
    for step, entries in _steps(tape):
        outer = graph if step is None else graphviz.Digraph(
            f"cluster_step{step}", graph_attr={"label": _plain(step_label(step, entries)), "style": "rounded",
                                               "color": "#9ecae1"})
        by = "part" if step is None else "stage"
        stages = _stages(entries, step, by)
        for e in entries:
            target = stages.get(_mark(e, by), outer)
            handoff = None if e.marks is None else e.marks.get("handoff")
            grad = {} if e.grad_norm is None else {"color": edge_colour(e.grad_norm), "penwidth": "2"}
            norm = "" if e.grad_norm is None else f"\ngrad norm {e.grad_norm:.3g}"
            if handoff is not None:
                to = ("" if step is None else f" → t = {step + 1}" if step + 1 in steps
                      else f" → t = {step + 1} (final state: no step {step + 1})")   # read by the head only
                target.node(f"op{e.index}", label=_plain(f"{handoff}{to}\n{e.shape}{norm}"), shape="cds",
                            style="filled", fillcolor=HANDOFF_COLOUR, fontsize="10", **grad)
            else:
                target.node(f"op{e.index}", label=_plain(f"{e.op}\n{e.shape}{norm}"), shape="box",
                            style="rounded,filled", fillcolor=OP_COLOUR, fontsize="10", **grad)
            for i, x in enumerate(e.inputs):
                if isinstance(x, int):
                    continue
                key = _input_key(e, i, x)
                if _is_param(x):
                    params[_leaf_key(x)] = x
                    target.node(key, label=_plain(names[_leaf_key(x)]), shape="ellipse", style="filled",
                                fillcolor=PARAM_COLOUR, fontsize="9")
                else:
                    _leaf_node(target, x, key, changed=e.changed(i))
        for sub in stages.values():
            outer.subgraph(sub)
        if step is not None:
            graph.subgraph(outer)
    _parameters_cluster(graph, params, names, _changed_leaves(tape))
    for e in tape:
        for i, x in enumerate(e.inputs):
            norm = None if e.input_grad_norms is None else e.input_grad_norms[i]
            if isinstance(x, int):
                _edge(graph, f"op{x}", f"op{e.index}", norm, label=step_of[x] != e.step)
            else:
                _edge(graph, _input_key(e, i, x), f"op{e.index}", norm, label=_is_param(x))


def _draw_collapsed(graph, tape):
    """One node per time step, labelled with the norm of the gradient each parameter receives
    from it (a parameter read more than once in a step: the sum of the pieces' norms, which
    bounds the norm of their sum from above, written "≤ x (n reads)");
    edges between steps carry the norm of the gradient passed back from one step to the
    previous (the quantity that vanishes or explodes): over the tensors of step s that step t
    reads, sqrt(Σ ||dE/dv||²) of the gradient step t sends to each tensor v, or "≤ x" where
    the tape's norms only bound it (see :func:`_step_flows`).  Pieces that no gradient reached
    (an op that the loss does not depend on) add nothing; an edge that no gradient reached at
    all, or a graph drawn before backward, has no number."""
    step_of = {e.index: e.step for e in tape}
    names = param_names(tape)
    params, into_params = {}, {}
    for e in tape:
        for i, x in enumerate(e.inputs):
            if not isinstance(x, int) and _is_param(x):
                norm = None if e.input_grad_norms is None else e.input_grad_norms[i]
                params[_leaf_key(x)] = x
                into_params.setdefault((e.step, names[_leaf_key(x)]), []).append(norm)
    for step, entries in _steps(tape):
        if step is None:                     # the loss; a seq2seq model's attention keys, made once
            parts = {_mark(e, "part") for e in entries} - {None}
            name = "outside the steps" + "".join(f"\n({p})" for p in sorted(parts))
        else:
            name = step_label(step, entries)
        lines = [name, f"{len(entries)} ops"]
        for (s, pname), norms in into_params.items():
            known = [n for n in norms if n is not None]
            if s != step or not known:
                continue
            if len(known) == 1:    # one read that a gradient reached: its norm, exactly
                lines.append(f"grad → {pname}: {known[0]:.2g}")
            else:                  # pieces of one gradient, whose directions the tape does not keep
                lines.append(f"grad → {pname}: ≤ {sum(known):.2g} ({len(known)} reads)")
        graph.node(f"step{step}", label=_plain("\n".join(lines)), shape="box",
                   style="rounded,filled", fillcolor=OP_COLOUR, fontsize="10")
    _parameters_cluster(graph, params, names, _changed_leaves(tape))
    for (src, dst), (norm, bound) in _step_flows(tape, step_of).items():
        _edge(graph, f"step{src}", f"step{dst}", norm, bound=bound)


def _step_flows(tape, step_of) -> dict:
    """{(step s, step t): (norm, bound)} of the gradient that the ops of step t send back to the
    outputs of step s.  Per output v of step s read in step t: the norm of the one piece when
    one op input of step t reads v; when several do (a GRU's h_{t-1}, read by both gates and
    the interpolation; an NTM's memory), the pieces add up as vectors, so their norms cannot
    simply be combined: if every reader of v is in step t, ||dE/dv|| itself (the tape's
    grad_norm of v) is exactly their sum; otherwise (v is also read by a head outside the
    steps) only the triangle inequality's bound Σ ||piece|| is known, and ``bound`` is True
    (drawn "≤ x").  The outputs are distinct tensors, so their gradients combine as
    sqrt(Σ ||dE/dv||²) (of the bounds: a bound)."""
    pieces, readers = {}, {}
    for e in tape:
        for i, x in enumerate(e.inputs):
            if not isinstance(x, int):
                continue
            readers.setdefault(x, set()).add(e.step)
            if step_of[x] != e.step:
                norm = None if e.input_grad_norms is None else e.input_grad_norms[i]
                pieces.setdefault((x, e.step), []).append(norm)
    flows = {}
    for (x, step), norms in pieces.items():
        key = (step_of[x], step)
        known = [n for n in norms if n is not None]
        total, bound = flows.get(key, (None, False))
        if not known:
            flows[key] = (total, bound)
            continue
        if len(known) == 1:
            norm = known[0]
        elif readers[x] == {step} and tape.entries[x].grad_norm is not None:
            norm = tape.entries[x].grad_norm
        else:
            norm, bound = sum(known), True
        flows[key] = (_combine(total, norm), bound)
    return flows


def _combine(total, norm):
    """Norm of the sum of orthogonal pieces: sqrt(a² + b²); a piece without a norm (no gradient
    reached it) adds nothing, and None stays None only when no piece has a norm."""
    if norm is None:
        return total
    if total is None:
        return norm
    return math.sqrt(total ** 2 + norm ** 2)


def _power(x: float) -> str:
    if x == 0:
        return "0"
    if math.isinf(x):
        return "inf"
    return f"1e{round(math.log10(x))}"


def _legend(graph, recorded: bool = True):
    """One arrow per bin of the colouring, from its lower bound to its upper bound, in the bin's
    colour, labelled with the bin ("[1e-4, 1e-2)"); one black arrow for NaN and inf, one grey
    for an edge no gradient passed along, or, when no backward pass crossed the tape
    (``recorded`` False: drawn before ``backward()``, or :func:`tape_of` called after it), for
    norms not recorded, which is not the same as no gradient."""
    legend = graphviz.Digraph("cluster_legend", graph_attr={"label": "gradient norm along an edge (dashed: "
                                                                     "below 1e-8, vanished)",
                                                           "fontsize": "10", "style": "rounded", "color": "#cccccc"})
    for i, (lo, hi, colour, style) in enumerate(legend_bins()):
        if i == 0:
            legend.node(f"legend{i}", label=_power(lo), shape="plaintext", fontsize="9")
        legend.node(f"legend{i + 1}", label=_power(hi), shape="plaintext", fontsize="9")
        width = edge_width(lo if lo > 0 else 10.0 ** VANISHED)
        legend.edge(f"legend{i}", f"legend{i + 1}", color=colour, style=style, penwidth=f"{width:.2f}",
                    label=f"[{_power(lo)}, {_power(hi)})", fontcolor=colour, fontsize="8")
    legend.node("legend_nan", label="NaN", shape="plaintext", fontsize="9")
    legend.node("legend_inf", label="inf", shape="plaintext", fontsize="9")
    legend.edge("legend_nan", "legend_inf", color=NOT_FINITE_COLOUR, label="NaN or inf",
                fontcolor=NOT_FINITE_COLOUR, fontsize="8")
    legend.node("legend_none_a", label="", shape="plaintext", fontsize="9")
    legend.node("legend_none_b", label="", shape="plaintext", fontsize="9")
    none = "no gradient" if recorded else "not recorded: no backward() through this tape yet"
    legend.edge("legend_none_a", "legend_none_b", color=NO_GRADIENT_COLOUR, label=none,
                fontcolor=NO_GRADIENT_COLOUR, fontsize="8")
    graph.subgraph(legend)


def render(graph: graphviz.Digraph, path) -> Path:
    """Write ``graph`` to ``path``: ``.dot``/``.gv`` as DOT source, ``.svg``/``.png``/``.pdf``
    through the ``dot`` program.  Without ``dot`` on PATH the DOT source is written next to
    ``path`` (``out.svg`` -> ``out.dot``) and a RuntimeError says so and how to install it."""
    if not isinstance(graph, (graphviz.Digraph, graphviz.Graph, graphviz.Source)):
        raise TypeError(f"render takes the graphviz.Digraph that viz.draw returns, got {type(graph).__name__}")
    if not isinstance(path, (str, Path)):
        raise TypeError(f"render: path is a str or pathlib.Path, got {type(path).__name__}")
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in ("dot", "gv", "svg", "png", "pdf"):
        raise ValueError(f"unknown output format {path.suffix!r}: use .svg, .png, .pdf or .dot")
    _check_target(path)                                # before dot spends its time on the layout
    if fmt in ("dot", "gv"):
        _write(path, graph.source)
        return path
    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:       # keep the drawing: its DOT source, next to the target
        source = path.with_suffix(".dot")
        try:
            source.write_text(graph.source)
            kept = f"the DOT source was written to {source} (render it later: dot -T{fmt} {source} -o {path})"
        except OSError as err:
            kept = f"the DOT source could not be written to {source} either ({err.strerror or err})"
        raise RuntimeError("rendering needs Graphviz's 'dot' program, which is not on PATH: install graphviz "
                           f"(apt-get install graphviz, brew install graphviz); {kept}") from e
    except graphviz.CalledProcessError as e:          # dot gave up (large clustered graphs: init_rank)
        raise RuntimeError(f"Graphviz's dot could not lay out this graph ({_dot_error(e)}): draw fewer "
                           "steps or one node per step (collapse), or write the DOT source with a .dot "
                           "path") from e
    _write(path, data)
    return path


def _check_target(path: Path) -> None:
    """One-line OSErrors (with the path as ``filename``) for a target that cannot be written."""
    if path.is_dir():
        raise IsADirectoryError(21, "render: this is a folder; give a file path ending in .svg, .png, "
                                    ".pdf or .dot", str(path))
    if not path.parent.is_dir():
        raise FileNotFoundError(2, f"render: the folder {str(path.parent)!r} does not exist; make it first",
                                str(path))


def _write(path: Path, data) -> None:
    try:
        path.write_text(data) if isinstance(data, str) else path.write_bytes(data)
    except OSError as err:
        raise type(err)(err.errno, f"render: cannot write the drawing ({err.strerror or err}); give a path "
                                   "in a folder you can write to", str(path)) from err


def _dot_error(e) -> str:
    """dot's own complaint, short: its first and last ``Error:`` lines (a failed layout prints
    thousands of lines of rank data between them)."""
    text = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else str(e.stderr or "")
    errors = [line.strip() for line in text.splitlines() if line.strip().lower().startswith("error")]
    if not errors:
        return f"exit status {e.returncode}"
    return errors[0] if len(errors) == 1 else f"{errors[0]} ... {errors[-1]}"
