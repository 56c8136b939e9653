"""The guided tour (docs/tour/) runs: every chapter, in a fresh kernel, as a reader would.

Each chapter is a Jupytext Markdown notebook.  Jupytext reads it into a notebook, nbclient
executes it in a fresh IPython kernel of this interpreter, and any error fails the test with
the cell that raised.  Every chapter must end with an exercise whose check (the last cell,
tagged ``check``, holding asserts) ran and reported ``check passed: chapter N``, so a chapter
cannot lose its exercise or skip its check.  The pictures the chapters make go to a temporary
folder (``MINIGRAD_TOUR_OUT``); the chapters assert that they were written.
"""
from __future__ import annotations

import json
import re
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
    monkeypatch.setenv("MINIGRAD_TOUR_OUT", str(tmp_path))
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
