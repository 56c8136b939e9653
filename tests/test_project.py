"""The project's promises about itself: the README's commands, CI, the main job, layering."""
import ast
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands():
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.+?)\n```", text)


def test_readme_opens_with_two_setup_commands():
    cmds = readme_commands()
    assert len(cmds) >= 2
    install, test = cmds[0], cmds[1]
    assert "apt-get install -y graphviz" in install and install.endswith("minigrad demo")
    assert "pytest" in test and "[dev]" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == readme_commands()[1]


def test_engine_imports_nothing_of_the_other_packages():
    for path in (ROOT / "minigrad").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            for n in names:
                assert n.split(".")[0] not in {"rnn", "tasks", "viz"}, f"{path.name} imports {n}"


def test_main_job_learns_a_short_sequence():
    sys.path.insert(0, str(ROOT / "examples"))
    import toy_rnn
    rows = toy_rnn.main(["--lengths", "5", "--updates", "300", "--hidden", "16"])
    (length, accuracy, ratio, seconds), = rows
    assert length == 5 and accuracy > 0.9 and ratio > 0


def test_main_job_rejects_bad_length():
    sys.path.insert(0, str(ROOT / "examples"))
    import toy_rnn
    with pytest.raises(SystemExit):
        toy_rnn.main(["--lengths", "1"])


def test_readme_python_examples_run():
    """Every ```python block of the README runs (lines needing a GPU are left out here)."""
    blocks = re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    for block in blocks:
        code = "\n".join(line for line in block.splitlines() if '"cuda"' not in line)
        exec(compile(code, "README.md", "exec"), {})
