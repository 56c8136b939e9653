"""The project's promises about itself: the README's commands, CI, the main job, layering,
packaging."""
import ast
import glob
import pathlib
import re
import shlex
import subprocess
import sys
import tomllib

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


def readme_python_blocks():
    return re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S)


def run_python_block(block) -> dict:
    code = "\n".join(line for line in block.splitlines() if '"cuda"' not in line)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def test_readme_python_examples_run(readme_workspace, monkeypatch, capsys):
    """Every ```python block of the README runs (lines needing a GPU are left out here), in a
    folder where the README's commands have run (a block may read their runs)."""
    readme_workspace.run_all(monkeypatch)
    blocks = readme_python_blocks()
    assert len(blocks) >= 3
    for block in blocks:
        run_python_block(block)


def test_readme_checkpoint_snippet_loads_a_cli_checkpoint(readme_workspace, monkeypatch, capsys):
    """The README's way of loading a checkpoint in Python works on one that `minigrad train`
    wrote (the README's own command), as a run and as weights alone."""
    import numpy as np
    readme_workspace.run_all(monkeypatch)
    (block,) = [b for b in readme_python_blocks() if "from_checkpoint" in b]
    ns = run_python_block(block)
    path = re.search(r'from_checkpoint\("([^"]+)"\)', block)[1]
    saved = np.load(path)
    assert ns["trainer"].config.task == "temporal_order" and ns["trainer"].state.update == int(TINY["train"][1])
    assert type(ns["model"]).__name__ == "SequenceModel"
    for name, array in ns["same"].state_dict().items():
        np.testing.assert_array_equal(array, saved["model." + name])
        np.testing.assert_array_equal(ns["model"].state_dict()[name], array)


# ----------------------------------------------------------------- the README's commands, run
# Appended to every README command of that name (argparse keeps an option's last value), so the
# README's own lines run end to end in seconds.  A command the README adds needs an entry here.
TINY = {
    "demo": ["--max-updates", "5", "--quiet"],
    "train": ["--max-updates", "5", "--eval-every", "5", "--eval-size", "50", "--quiet"],
    "evaluate": ["--size", "50"],
    "sweep": ["--lengths", "10", "--seeds", "0", "--hidden", "6", "--max-updates", "5", "--eval-every", "5",
              "--eval-size", "50", "--workers", "1", "--quiet"],
    "graph": [],
    "jacobian": ["--batch", "4"],
    "translate": ["--max-updates", "5", "--eval-every", "5", "--eval-size", "20", "--quiet"],
    "copy": ["--max-updates", "4", "--eval-every", "2", "--eval-per-length", "2", "--max-length", "3", "--memory-slots", "8",
             "--hidden", "8", "--test-lengths", "5", "--test-size", "4", "--figure-length", "5", "--quiet"],
    "diagnostics": [],
    "music": ["--chorales", "6", "--methods", "msgd-cr", "--max-updates", "2", "--eval-every", "1", "--hidden", "8",
              "--quiet", "--cache-dir", "natural-cache"],
    "charlm": ["--max-chars", "30000", "--methods", "msgd-cr", "--max-updates", "2", "--eval-every", "1",
               "--eval-limit", "2000", "--hidden", "8", "--quiet", "--cache-dir", "natural-cache"],
    "compare": ["--updates", "1", "--length", "10", "--hidden", "3", "--probe-size", "2", "--eval-size", "8", "--quiet"],
    "dynamics": ["--points", "20", "--starts", "8", "--steps", "50", "--length", "12", "--batch", "2", "--radii", "2",
                 "--train-updates", "2", "--discard", "2", "--hidden", "6", "--quiet"],
}


def readme_cli_lines():
    """argv of every `.venv/bin/minigrad ...` in the README's bash blocks, in order (the set-up
    command's `minigrad demo` first)."""
    lines = []
    for block in re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text(), re.S):
        for line in block.splitlines():
            for m in re.finditer(r"\.venv/bin/minigrad ([^&#\n]*)", line):
                lines.append(shlex.split(m[1]))
    return lines


def readme_task_names():
    """The task names the README lists ("Tasks: `temporal-order`, ...")."""
    text = (ROOT / "README.md").read_text()
    listing = re.search(r"Tasks: ((?:`[^`]+`[,.]?\s*)+)", text)
    assert listing, "README: no 'Tasks: `...`' list"
    return re.findall(r"`([^`]+)`", listing[1])


class Workspace:
    """A folder where the README's commands run in order, each once, however the tests that
    need them are selected."""

    def __init__(self, path):
        self.path, self.done = path, 0

    def run_upto(self, index, monkeypatch):
        from tasks.cli import main
        monkeypatch.chdir(self.path)
        lines = readme_cli_lines()
        while self.done <= index:
            argv = lines[self.done]
            self.done += 1
            assert argv[0] in TINY, f"the README runs `minigrad {argv[0]}`: give it a small budget in TINY"
            expanded = []
            for a in argv:                      # the shell's globbing
                expanded += (sorted(glob.glob(a)) or [a]) if any(c in a for c in "*?[") else [a]
            rc = main(expanded + TINY[argv[0]])
            assert rc == 0, f"the README's `minigrad {' '.join(argv)}` exited with {rc}"

    def run_all(self, monkeypatch):
        self.run_upto(len(readme_cli_lines()) - 1, monkeypatch)


@pytest.fixture(scope="module")
def readme_workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("readme"))


@pytest.mark.parametrize("index", range(len(readme_cli_lines())),
                         ids=[" ".join(a[:2]) for a in readme_cli_lines()])
def test_readme_command_runs(index, readme_workspace, monkeypatch, capsys):
    """Each `minigrad ...` line of the README, with a tiny budget, in a shared folder where the
    lines before it have run."""
    readme_workspace.run_upto(index, monkeypatch)


def test_readme_names_every_command_and_task():
    from tasks.cli import build_parser
    from tasks.synthetic import TASKS
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert set(sub.choices) <= {argv[0] for argv in readme_cli_lines()}
    assert {t.replace("_", "-") for t in TASKS} <= set(readme_task_names())


@pytest.mark.parametrize("task", readme_task_names())
def test_readme_task_trains_and_evaluates(task, tmp_path, capsys):
    """Every task the README names trains (a few updates) and evaluates from the command line."""
    from tasks.cli import main
    out = tmp_path / "run"
    assert main(["train", task, "--length", "10", "--hidden", "6", "--batch-size", "4", "--eval-every", "3",
                 "--eval-size", "20", "--max-updates", "3", "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert main(["evaluate", str(out / "checkpoint.npz"), "--lengths", "10", "12", "--size", "20"]) == 0
    assert "% wrong" in capsys.readouterr().out


# ----------------------------------------------------------------- packaging
def pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_license_is_the_declared_mit():
    assert pyproject()["project"]["license"] == {"text": "MIT"}
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "the minigrad authors" in text
    assert "WITHOUT WARRANTY OF ANY KIND" in text


def test_version_is_the_package_version(capsys):
    import minigrad as mg
    from tasks.cli import main
    version = pyproject()["project"]["version"]
    assert mg.__version__ == version
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0 and capsys.readouterr().out.strip() == f"minigrad {version}"


def test_every_package_is_typed_and_ships_its_marker():
    meta = pyproject()
    patterns = meta["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = [p.parent.name for p in ROOT.glob("*/__init__.py") if any(
        re.fullmatch(pat.replace("*", ".*"), p.parent.name) for pat in patterns)]
    assert sorted(packages) == ["minigrad", "rnn", "tasks", "viz"]
    for package in packages:
        assert (ROOT / package / "py.typed").is_file(), package
    assert "py.typed" in meta["tool"]["setuptools"]["package-data"]["*"]


def test_changelog_keeps_a_changelog():
    text = (ROOT / "CHANGELOG.md").read_text()
    version = pyproject()["project"]["version"]
    assert text.startswith("# Changelog") and "keepachangelog.com" in text
    headings = re.findall(r"^## \[([^\]]+)\]", text, re.M)
    assert headings[:2] == ["Unreleased", version]
    unreleased = text.split("## [Unreleased]")[1].split(f"## [{version}]")[0]
    for words in ("sweep", "Dask", "checkpoint", "--version"):
        assert words in unreleased, words


def test_pytest_sums_up_skips_by_reason(tmp_path):
    """pytest's output names each skip reason once ("N skipped: reason") instead of a line per
    skipped test, and still ends with pytest's own summary line, which CI is judged by."""
    (tmp_path / "conftest.py").write_text((ROOT / "tests" / "conftest.py").read_text())
    (tmp_path / "pytest.ini").write_text(f"[pytest]\naddopts = {pyproject()['tool']['pytest']['ini_options']['addopts']}\n")
    (tmp_path / "test_some.py").write_text(
        "import pytest\n"
        "@pytest.mark.parametrize('i', range(3))\n"
        "def test_gpu(i):\n    pytest.skip('no GPU here')\n"
        "@pytest.mark.skip(reason='slow')\n@pytest.mark.parametrize('i', range(2))\n"
        "def test_slow(i):\n    pass\n"
        "def test_fine():\n    pass\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(tmp_path)], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert run.returncode == 0, run.stdout
    assert "3 skipped: no GPU here" in lines and "2 skipped: slow" in lines
    assert not any(line.startswith("SKIPPED") for line in lines)
    assert re.fullmatch(r"=+ 1 passed, 5 skipped in [\d.]+s =+", lines[-1]), lines[-1]
