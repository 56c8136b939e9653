"""The documentation is built and kept current.

* The API reference: pdoc renders every module of the four packages from their docstrings,
  exactly as the command in docs/tour/README.md does, and any warning (an annotation it
  cannot resolve, source it cannot parse) fails the test.
* docs/architecture.md, the design document, names every module of the four packages, so a
  module added without a word in the design document is noticed.
"""
from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("minigrad", "rnn", "tasks", "viz")


def _pdoc_command() -> list[str]:
    """The pdoc command line the tour's README gives (the one place it is written down)."""
    text = (ROOT / "docs" / "tour" / "README.md").read_text()
    lines = [line for line in text.splitlines() if line.startswith(".venv/bin/pdoc ")]
    assert len(lines) == 1, "docs/tour/README.md: one `.venv/bin/pdoc ...` command builds the API reference"
    return shlex.split(lines[0])[1:]


def test_api_reference_builds_without_warnings(tmp_path):
    import pdoc
    import pdoc.__main__
    import pdoc.render

    args = pdoc.__main__.parser.parse_args(_pdoc_command())
    assert sorted(args.modules) == sorted(PACKAGES), "the API reference covers the four packages"
    pdoc.render.configure(docformat=args.docformat, show_source=args.show_source, search=args.search)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            pdoc.pdoc(*args.modules, output_directory=tmp_path)
    finally:
        pdoc.render.configure()                       # pdoc's defaults again
    messages = sorted({f"{w.category.__name__}: {str(w.message).strip()}" for w in caught})
    assert not messages, "pdoc warned:\n" + "\n\n".join(messages)
    for package in PACKAGES:                          # every module has its page
        for module in sorted((ROOT / package).glob("*.py")):
            if module.stem != "__init__" and not module.stem.startswith("_"):
                assert (tmp_path / package / f"{module.stem}.html").exists(), f"no page for {package}.{module.stem}"
    page = (tmp_path / "minigrad" / "functional.html").read_text()
    assert "Gradients of <code>outputs</code> with respect to <code>inputs</code>" in page   # docstrings rendered


def test_architecture_names_every_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    missing = []
    for package in PACKAGES:
        for module in sorted((ROOT / package).glob("*.py")):
            if module.stem == "__init__":
                continue
            if not re.search(rf"`(?:{package}/|{package}\.)?{module.stem}(?:\.py)?`", text):
                missing.append(f"{package}/{module.name}")
    assert not missing, f"docs/architecture.md does not mention: {', '.join(missing)}"
