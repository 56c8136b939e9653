"""bench/ledger.py: the generated table of the paper's long runs.

The committed ledger in bench/RESULTS.md must be what the committed bench/runs hold (so a recorded
state cannot drift from its data), and the reading itself is checked on a small hand-made folder
whose every expected line is written out here by hand."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tasks.sweep import cell_key

REPO = Path(__file__).resolve().parents[1]


def load_ledger():
    spec = importlib.util.spec_from_file_location("bench_ledger", REPO / "bench" / "ledger.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ledger = load_ledger()

BASE = {"task": "temporal_order", "length": 20, "max_length": None, "method": "msgd", "init": "basic_tanh",
        "cell": "rnn", "hidden": 50, "lr": 0.01, "clip": 1.0, "alpha": 4.0, "alpha_schedule": "constant",
        "alpha_beta": 2800.0, "batch_size": 20, "eval_every": 500, "eval_size": 10000, "eval_batch": 1000,
        "max_updates": 200000, "target_error": 0.01, "check_every": 50, "check_size": 1000, "halve_lr": False,
        "seed": 0, "device": "cpu", "dtype": "float32", "trace": True}


def make_cell(root: Path, name: str, result=None, rows=(), **change) -> Path:
    config = {**BASE, **change}
    key = cell_key(config, "abc")
    folder = root / "figure7_t20" / "cells" / f"{name}-{key[:12]}"
    folder.mkdir(parents=True)
    (folder / "cell.json").write_text(json.dumps({"key": key, "name": name, "code": "abc", "config": config}))
    if rows:
        (folder / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if result is not None:
        (folder / "result.json").write_text(json.dumps({"key": key, "name": name, "code": "abc", "config": config,
                                                        **result}))
    return folder


def test_committed_ledger_is_what_bench_runs_hold(capsys):
    assert ledger.main(["--check"]) == 0, capsys.readouterr().err


def test_ledger_reads_results_running_cells_and_refuses_damaged_results(tmp_path):
    make_cell(tmp_path, "basic-tanh-msgd-T20-s0", {"outcome": "success", "success": True, "updates": 1500,
                                                   "last_error": 0.004})
    make_cell(tmp_path, "basic-tanh-msgd-T20-s1", {"outcome": "budget", "success": False, "updates": 200000,
                                                   "last_error": 0.7512}, seed=1)
    # stopped with its session: a log and no result; its torn last line is skipped
    folder = make_cell(tmp_path, "basic-tanh-msgd-T20-s2", None, [{"update": 300, "error": 0.74}], seed=2)
    with open(folder / "log.jsonl", "a") as f:
        f.write('{"update": 350, "err')
    # a hand-edited result: its outcome says success with an error above the target
    make_cell(tmp_path, "basic-tanh-msgd-T20-s3", {"outcome": "success", "success": True, "updates": 900,
                                                   "last_error": 0.5}, seed=3)
    # another budget: not this plan's cell, never counted
    make_cell(tmp_path, "basic-tanh-msgd-T20-s4", {"outcome": "success", "success": True, "updates": 100,
                                                   "last_error": 0.0}, seed=4, max_updates=5000)
    text = ledger.ledger(tmp_path)
    assert ("| basic tanh | MSGD | 20 | 2/5 | 1/2 | 1,500; budget (75.12%); running: 300 (74.00%); not started; "
            "not started | - |") in text
    assert "Not counted (other settings): basic-tanh-msgd-T20-s4." in text
    assert ("Not counted (a result.json the sweep would not trust): basic-tanh-msgd-T20-s3 (outcome success "
            "with a last error of 0.5 (target 0.01)).") in text
    assert "| smart tanh | MSGD-R | 20 | 0/5 | - | not started; not started; not started; not started; not started | - |" \
        in text


@pytest.mark.parametrize("updates, expected", [
    ((100, 200, 300, None, None), "300"),          # two at the budget: slower than every success
    ((100, 200, None, None, None), "> budget"),
    ((700, 100, 400, 300, 200), "300"),
])
def test_median_counts_a_run_at_the_budget_as_slower_than_any_success(updates, expected):
    states = [{"status": "budget", "updates": 200000} if u is None else {"status": "success", "updates": u}
              for u in updates]
    assert ledger.median_text(states) == expected
    assert ledger.median_text(states[:4] + [{"status": "running", "updates": 5}]) == "-"


def test_check_fails_on_a_stale_ledger_and_the_rewrite_fixes_it(tmp_path, capsys):
    runs = tmp_path / "runs"
    make_cell(runs, "basic-tanh-msgd-T20-s0", {"outcome": "success", "success": True, "updates": 1500,
                                               "last_error": 0.004})
    results = tmp_path / "RESULTS.md"
    results.write_text("# R\n\n## The paper's runs at full strength (x)\n\nold text\n\n## Next\n")
    args = ["--runs", str(runs), "--results", str(results)]
    assert ledger.main(args + ["--check"]) == 1
    assert "run `python bench/ledger.py`" in capsys.readouterr().err
    assert ledger.main(args) == 0
    text = results.read_text()
    assert text.index("## The paper's runs") < text.index(ledger.START) < text.index("old text")
    assert ledger.main(args + ["--check"]) == 0
    (runs / "figure7_t20" / "cells").rename(tmp_path / "gone")           # the data change: stale again
    assert ledger.main(args + ["--check"]) == 1


def test_a_run_of_a_pack_that_met_its_target_is_shown_but_not_counted_until_its_result(tmp_path):
    """A pack writes its runs' result.json when the whole pack ends: a run that stopped below its
    target before that is shown as having met it, and counts neither as ended nor as a success."""
    make_cell(tmp_path, "basic-tanh-msgd-c-T20-s0", None, [{"update": 250, "error": 0.3},
                                                          {"update": 300, "error": 0.004}], method="msgd-c")
    make_cell(tmp_path, "basic-tanh-msgd-c-T20-s1", None, [{"update": 300, "error": 0.01}], method="msgd-c", seed=1)
    text = ledger.ledger(tmp_path)
    assert ("| basic tanh | MSGD-C | 20 | 0/5 | - | met the target at 300 (0.40%; result pending); "
            "running: 300 (1.00%); not started; not started; not started | - |") in text


def test_figure7_picture_says_each_cell_as_the_ledger_does(tmp_path):
    """The picture of Figure 7's cells (``--figure``): a cell whose 5 seeds ended is coloured by
    its success rate and says k/5 (the median when most succeeded); an unfinished one is grey and
    says what has happened so far; expectations written here from the made-up folder."""
    won = {"outcome": "success", "success": True, "last_error": 0.004}
    lost = {"outcome": "budget", "success": False, "updates": 200000, "last_error": 0.75}
    for seed, updates in enumerate((900, 700, 1100)):
        make_cell(tmp_path, f"basic-tanh-msgd-T20-s{seed}", {**won, "updates": updates}, seed=seed)
    for seed in (3, 4):
        make_cell(tmp_path, f"basic-tanh-msgd-T20-s{seed}", lost, seed=seed)
    for seed in range(5):
        make_cell(tmp_path, f"sigmoid-msgd-T20-s{seed}", lost, seed=seed, init="sigmoid")
    make_cell(tmp_path, "smart-tanh-msgd-c-T20-s0", {**won, "updates": 400}, init="smart_tanh", method="msgd-c")
    make_cell(tmp_path, "smart-tanh-msgd-c-T20-s1", None, [{"update": 250, "error": 0.004}], seed=1,
              init="smart_tanh", method="msgd-c")
    make_cell(tmp_path, "smart-tanh-msgd-c-T20-s2", None, [{"update": 250, "error": 0.3}], seed=2,
              init="smart_tanh", method="msgd-c")
    picture = tmp_path / "img" / "f7.png"
    cells = ledger.draw_figure7(tmp_path, picture)
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert cells["basic_tanh", "msgd", 20] == {"rate": 0.6, "text": "3/5\nmedian 1,100"}
    assert cells["sigmoid", "msgd", 20] == {"rate": 0.0, "text": "0/5"}
    assert cells["smart_tanh", "msgd-c", 20] == {"rate": None, "text": "running\n1/1 ended won\n1 met the target"}
    assert cells["sigmoid", "msgd-r", 150] == {"rate": None, "text": "not started"}
    assert len(cells) == 3 * 4 * 4                      # every init x method x T = 20, 50, 100, 150


def _git(*args):
    import shutil
    import subprocess
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("no git history here: the commits of the ledger's provenance cannot be checked")
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, check=True).stdout


@pytest.mark.parametrize("code", sorted(ledger.CODE_COMMITS))
def test_each_code_version_is_the_hash_of_the_commit_the_ledger_names(code, tmp_path):
    """The provenance is typed by hand: the commit named must be one whose training code hashes to
    the code version its cells carry (computed by that commit's own tasks.sweep.code_version)."""
    import io
    import subprocess
    import sys
    import tarfile
    commit = ledger.CODE_COMMITS[code][0]
    try:
        archive = _git("archive", commit, "tasks", "rnn", "minigrad")
    except subprocess.CalledProcessError:
        pytest.skip(f"commit {commit} is not in this clone's history")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp_path, filter="data")
    out = subprocess.run([sys.executable, "-c", "from tasks.sweep import code_version; print(code_version())"],
                         cwd=tmp_path, capture_output=True, text=True, env={"PYTHONPATH": str(tmp_path),
                                                                           "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == code


def test_a_section_names_its_commit_check_rule_and_command(tmp_path):
    make_cell(tmp_path, "basic-tanh-msgd-T20-s0", {"outcome": "success", "success": True, "updates": 1500,
                                                   "last_error": 0.004})
    head = ledger.ledger(tmp_path).split("**Figure 7, T = 20 (re-run in session 9)**", 1)[1].split("\n", 1)[0]
    assert "code version abc (commit not recorded)" in head
    assert "command `bash bench/runs/figure7_t20.sh`" in head
    for setting in ("eval_every 500", "eval_batch 1000", "check_size 1000", "alpha_schedule constant"):
        assert setting in head
    # a cell of another evaluation cadence is not this plan's: listed apart, never counted
    make_cell(tmp_path, "basic-tanh-msgd-T20-s1", {"outcome": "success", "success": True, "updates": 900,
                                                   "last_error": 0.0}, seed=1, eval_every=100)
    assert "Not counted (other settings): basic-tanh-msgd-T20-s1." in ledger.ledger(tmp_path)


def test_margin_exposure_lists_successes_with_an_evaluation_between_the_two_check_rules(tmp_path):
    make_cell(tmp_path, "basic-tanh-msgd-T20-s0", {"outcome": "success", "success": True, "updates": 1500,
                                                   "last_error": 0.004},
              [{"update": 500, "error": 0.5}, {"update": 1000, "error": 0.015}, {"update": 1500, "error": 0.004}])
    make_cell(tmp_path, "basic-tanh-msgd-T20-s1", {"outcome": "success", "success": True, "updates": 1000,
                                                   "last_error": 0.0},
              [{"update": 500, "error": 0.3}, {"update": 1000, "error": 0.0}], seed=1)
    make_cell(tmp_path, "basic-tanh-msgd-T20-s2", {"outcome": "budget", "success": False, "updates": 200000,
                                                   "last_error": 0.75}, [{"update": 500, "error": 0.011}], seed=2)
    successes, exposed = ledger.margin_exposure(tmp_path, code="abc")
    assert successes == 2
    assert exposed == [("basic-tanh-msgd-T20-s0", 1500, [(1000, 0.015)])]


def test_projection_counts_every_unended_pack_to_its_budget_at_the_logged_rate(tmp_path):
    # a running cell whose log gives 10 s per 500 updates (0.02 s per update of its pack), to 50,500
    make_cell(tmp_path, "basic-tanh-msgd-T20-s0", None, _rows(101, 10.0))
    rows = {title: rest for title, *rest in ledger.projection(tmp_path)}
    packs, updates, hours = rows["Figure 7, T = 20 (re-run in session 9)"]
    # 12 grid points (3 inits x 4 methods) at T = 20: one from update 50,500, eleven not started
    assert packs == 12 and updates == 149_500 + 11 * 200_000
    assert hours == pytest.approx(updates * 0.02 / 3600)
    assert rows["Figure 7, T = 50, 100, 150"] == [0, 0, None]          # no logged rate: not projected


def test_projection_scales_the_longest_measured_length_in_proportion_to_t(tmp_path):
    folder = make_cell(tmp_path, "basic-tanh-msgd-T50-s0", None, _rows(101, 30.0), length=50)
    (tmp_path / "figure7").mkdir()
    folder.parent.rename(tmp_path / "figure7" / "cells")             # a T = 50 cell of the Figure 7 plan
    few = make_cell(tmp_path, "basic-tanh-msgd-T100-s0", None, _rows(3, 1.0), length=100)
    few.rename(tmp_path / "figure7" / "cells" / few.name)             # a T = 100 pack just started
    assert ledger.seconds_per_update(tmp_path / "figure7") == {50: pytest.approx(0.06)}   # 2 rows: no rate
    packs, updates, hours = {t: rest for t, *rest in ledger.projection(tmp_path)}["Figure 7, T = 50, 100, 150"]
    # 36 grid points: at T = 50 one from update 50,500 and eleven not started, at T = 100 one from
    # 1,500 and eleven not started, at T = 150 twelve not started; 0.06 s per update scaled by T / 50
    assert packs == 36
    assert hours == pytest.approx(((149_500 + 11 * 200_000) * 0.06 + (198_500 + 11 * 200_000) * 0.12
                                   + 12 * 200_000 * 0.18) / 3600)


def _rows(n, seconds_per_500):
    """n log rows every 500 updates, ``seconds_per_500`` of wall time apart."""
    return [{"update": 500 * (k + 1), "error": 0.7, "wall_time": seconds_per_500 * (k + 1)} for k in range(n)]
