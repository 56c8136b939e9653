"""The guided tour (docs/tour/) runs: every chapter, in a fresh kernel, as a reader would.

Each chapter is a Jupytext Markdown notebook.  Jupytext reads it into a notebook, nbclient
executes it in a fresh IPython kernel of this interpreter, and any error fails the test with
the cell that raised.  Every chapter must end with an exercise whose check (the last cell,
tagged ``check``, holding asserts) ran and reported ``check passed: chapter N``, so a chapter
cannot lose its exercise or skip its check.  The pictures the chapters make go to a temporary
folder (``MINIGRAD_TOUR_OUT``, one that does not exist yet, as a reader may name); the
chapters assert that they were written.

No outputs are stored, so the prose's claims about what the code does are kept true by the
asserts in the chapters themselves; the static tests below make sure those cannot pass
vacuously (an example of an error that is not raised) and that every file, function, link and
command the prose names still exists where it says.
"""
from __future__ import annotations

import ast
import importlib
import json
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOUR = ROOT / "docs" / "tour"
CHAPTERS = sorted(TOUR.glob("[0-9][0-9]-*.md"))
KERNEL = "minigrad-tour"


def _number(chapter: Path) -> int:
    return int(chapter.name[:2])


def test_the_tour_has_its_chapters_in_order():
    assert len(CHAPTERS) >= 10, f"docs/tour/ holds {len(CHAPTERS)} chapters"
    assert [_number(c) for c in CHAPTERS] == list(range(1, len(CHAPTERS) + 1)), \
        "chapters are numbered 01, 02, ... without gaps"


def test_the_index_links_every_chapter_in_order():
    index = (TOUR / "README.md").read_text()
    links = re.findall(r"\]\(([0-9][0-9]-[^)]+\.md)\)", index)
    assert links == [c.name for c in CHAPTERS], "docs/tour/README.md must link every chapter, in order"


def test_the_readme_links_the_tour_from_its_first_screen():
    first_screen = "\n".join((ROOT / "README.md").read_text().splitlines()[:25])
    assert "docs/tour" in first_screen, "README.md: link the guided tour (docs/tour/) in its first 25 lines"


def _read(chapter: Path):
    import jupytext
    return jupytext.read(chapter)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_each_chapter_ends_with_an_exercise_and_its_check(chapter):
    nb = _read(chapter)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{chapter.name}: no code"
    assert all(not c.get("outputs") for c in code), f"{chapter.name}: stored with outputs"
    last = nb.cells[-1]
    assert last.cell_type == "code" and "check" in last.metadata.get("tags", []), \
        f"{chapter.name}: the last cell must be the exercise's check (```python tags=[\"check\"])"
    assert "assert " in last.source, f"{chapter.name}: the check cell asserts nothing"
    assert f'print("check passed: chapter {_number(chapter)}")' in last.source
    headings = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert any(re.search(r"^## Exercise", h, re.M) for h in headings), f"{chapter.name}: no '## Exercise' section"
    checks = [c for c in code if "check" in c.metadata.get("tags", [])]
    assert checks == [last], f"{chapter.name}: one check cell, the last one"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A kernelspec for this very interpreter (whatever 'python3' means elsewhere on the
    machine), found through JUPYTER_PATH."""
    share = tmp_path_factory.mktemp("jupyter")
    spec = share / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "minigrad tour", "language": "python"}))
    return share


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_chapter_runs_and_its_exercise_check_passes(chapter, kernel, tmp_path, monkeypatch):
    import nbclient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("JUPYTER_PATH", str(kernel))                 # the kernelspec above
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(kernel / "runtime"))  # connection files
    monkeypatch.setenv("IPYTHONDIR", str(kernel / "ipython"))          # no user profile or startup files
    monkeypatch.setenv("MINIGRAD_TOUR_OUT", str(tmp_path / "pictures" / "new"))   # made by the chapter
    monkeypatch.setenv("MINIGRAD_DEVICE", "cpu")        # the prose's numbers are the CPU's (float64)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = _read(chapter)
    client = nbclient.NotebookClient(nb, timeout=120, kernel_name=KERNEL,
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellExecutionError as e:
        pytest.fail(f"{chapter.name} failed:\n{str(e)[-4000:]}", pytrace=False)
    check = nb.cells[-1]
    assert check.get("execution_count"), f"{chapter.name}: the exercise check did not run"
    printed = "".join(o.get("text", "") for o in check.outputs if o.get("output_type") == "stream")
    assert f"check passed: chapter {_number(chapter)}" in printed, printed
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.get("output_type") == "error"]
    assert not errors


# ----------------------------------------------------------------- claims that cannot pass vacuously
def _code_cells(chapter: Path):
    return [c for c in _read(chapter).cells if c.cell_type == "code"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_an_error_the_prose_shows_must_be_raised(chapter):
    """A ``try: ... except SomeError:`` that shows an error passes silently when the error is no
    longer raised; every one must have an ``else:`` that fails."""
    for cell in _code_cells(chapter):
        for node in ast.walk(ast.parse(cell.source)):
            if isinstance(node, ast.Try) and node.handlers:
                fails = [n for part in node.orelse for n in ast.walk(part) if isinstance(n, (ast.Raise, ast.Assert))]
                assert fails, (f"{chapter.name}: `try:` at line {node.lineno} of a cell needs an `else:` that "
                               "fails when nothing is raised")


@pytest.mark.parametrize("chapter", CHAPTERS, ids=[c.stem for c in CHAPTERS])
def test_every_code_block_is_a_cell_that_runs(chapter):
    """Every fenced block is a ```python code cell: Jupytext leaves a block fenced as ```py or
    ```Python in the Markdown, where the run above never executes it (and makes ```bash a
    ``%%bash`` cell)."""
    fences = re.findall(r"^```(.*)$", chapter.read_text(), re.M)
    assert len(fences) % 2 == 0, f"{chapter.name}: an unclosed ``` fence"
    openings = fences[0::2]
    assert all(re.fullmatch(r"python( tags=\[.*\])?", o) for o in openings), \
        f"{chapter.name}: code blocks must be fenced ```python (found {sorted(set(openings))})"
    assert len(openings) == len(_code_cells(chapter)), f"{chapter.name}: a code block is not a code cell"


# ----------------------------------------------------------------- what the prose names exists
_PACKAGES = ("minigrad", "rnn", "tasks", "viz")
_ALIASES = {"mg": "minigrad", "plots": "viz.plots"}


def _prose():
    """(page, text) of every Markdown cell of the chapters, and the index page."""
    out = [("README.md", (TOUR / "README.md").read_text())]
    for chapter in CHAPTERS:
        out += [(chapter.name, c.source) for c in _read(chapter).cells if c.cell_type == "markdown"]
    return out


def _spans():
    return [(page, m.group(1)) for page, text in _prose() for m in re.finditer(r"`([^`\n]+)`", text)]


def _defines(path: Path, name: str) -> bool:
    """Whether the module at ``path`` defines ``name`` (a function, class or assigned name at its
    top level, or ``Class.member``)."""
    tree = ast.parse(path.read_text())
    head, _, member = name.partition(".")

    def top(n):
        if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
            return [n.name]
        if isinstance(n, ast.Assign):
            return [t.id for t in n.targets if isinstance(t, ast.Name)]
        return []
    for node in tree.body:
        if head in top(node):
            if not member:
                return True
            if isinstance(node, ast.ClassDef):
                return any(member in top(n) for n in node.body)
    return False


def test_the_tour_names_only_files_that_exist():
    missing = []
    for page, span in _spans():
        if re.fullmatch(r"(?:minigrad|rnn|tasks|viz|docs|tests|bench)/[\w./-]+", span):
            if not span.startswith("docs/api/") and not (ROOT / span).exists():
                missing.append(f"{page}: `{span}`")
        elif re.fullmatch(r"\w+\.py", span):              # the index's "read alongside" column
            if not any((ROOT / p / span).exists() for p in _PACKAGES):
                missing.append(f"{page}: `{span}`")
    for page, text in _prose():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if not target.startswith(("http://", "https://", "#")):
                if not (TOUR / target.split("#")[0]).exists():
                    missing.append(f"{page}: link ({target})")
    assert not missing, "the tour names files that do not exist:\n" + "\n".join(missing)


def test_the_tour_names_only_functions_that_exist():
    """``mg.x``, ``rnn.x``, ``viz.x``, ``plots.x`` resolve, and a name said to be in a file
    (`` `Cotangents.add` in `minigrad/accumulate.py` ``, `` `minigrad/backward.py`'s `backprop` ``,
    ``the `Node` class of `minigrad/autograd.py` ``, `` `autograd.py` (`sum_to`) ``) is defined there."""
    wrong = []
    for page, span in _spans():
        m = re.match(r"(mg|rnn|viz|plots)\.([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)", span)
        if m:
            obj = importlib.import_module(_ALIASES.get(m[1], m[1]))
            for attr in m[2].split("."):
                if not hasattr(obj, attr):
                    wrong.append(f"{page}: `{span}` ({attr} not found)")
                    break
                obj = getattr(obj, attr)
    cited = []
    file, name = r"`((?:minigrad|rnn|tasks|viz)/\w+\.py)`", r"`([\w.]+)`"
    for page, text in _prose():
        text = " ".join(text.split())
        cited += [(page, n, f) for n, f in re.findall(name + " in " + file, text)]
        cited += [(page, n, f) for f, n in re.findall(file + "'s " + name, text)]
        cited += [(page, n, f) for n, f in re.findall("the " + name + " class of " + file, text)]
        cited += [(page, n, "minigrad/" + f) for f, n in re.findall(r"`(\w+\.py)` \(" + name + r"\)", text)]
    assert len(cited) >= 4, cited                   # the patterns still find the citations
    wrong += [f"{page}: `{name}` is not defined in {file}" for page, name, file in cited
              if not (ROOT / file).exists() or not _defines(ROOT / file, name)]
    assert not wrong, "\n".join(wrong)


def test_the_tour_names_only_commands_that_exist():
    """Every `minigrad <command> --option` the prose names is a command with that option."""
    import argparse

    from tasks.cli import build_parser
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    commands = [span for _, span in _spans() if span.startswith("minigrad ") and not span.startswith("minigrad/")]
    assert commands, "the tour names no command"
    for command in commands:
        argv = shlex.split(command)[1:]
        assert argv[0] in sub.choices, f"`{command}`: no command {argv[0]!r}"
        options = set(sub.choices[argv[0]]._option_string_actions)
        for word in argv[1:]:
            assert not word.startswith("-") or word in options, f"`{command}`: {argv[0]} has no option {word}"
