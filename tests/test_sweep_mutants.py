"""What the sweep records as a result, pinned down where a mutation run (docs: the sweep's
"Outcomes" and "Trust" sections, the docstrings of tasks/sweep.py, tasks/runfiles.py and
bench/ledger.py) found the other tests silent.  No Dask cluster: the functions that decide what is
stored, trusted and counted are called directly, on hand-written files whose expected verdicts are
written out here from the documented rules."""
from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tasks import sweep
from tasks.cli import build_parser
from tasks.runfiles import RunFiles, _last_line_end, checkpoint_update
from tasks.train import RunState

REPO = Path(__file__).resolve().parents[1]
TINY = ["--task", "temporal-order", "--lengths", "10", "--methods", "msgd", "--inits", "smart-tanh",
        "--hidden", "6", "--eval-size", "100", "--eval-every", "50", "--max-updates", "400"]


def _plan(out, *extra):
    args = build_parser().parse_args(["sweep", *TINY, "--seeds", "0", "1", "--out", str(out), *extra])
    sweep.resolve_presets(args)
    return args, *sweep.plan_cells(args, code="c0de")


def _result(cell, **fields):
    """A result.json as a finished cell writes it: by default a success at update 300 of 400."""
    return {"key": cell["key"], "name": cell["name"], "outcome": "success", "success": True, "updates": 300,
            "last_error": 0.0, "best_error": 0.0, "code": cell["code"], "config": cell["config"], **fields}


def _write(cell, result):
    folder = Path(cell["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "result.json").write_text(json.dumps(result))
    return folder


@pytest.fixture
def cell(tmp_path):
    return _plan(tmp_path / "out")[2][0]


# ----------------------------------------------------------------------------- trusting a result.json
@pytest.mark.parametrize("fields, trusted", [
    ({}, True),
    ({"outcome": "budget", "success": False, "updates": 400, "last_error": 0.3}, True),   # at the budget
    ({"outcome": "diverged at update 17: loss nan", "success": False, "updates": 17, "last_error": None}, True),
    # the update it names must be its update count (a hand edit; session 12: trusted before)
    ({"outcome": "diverged at update 17: loss nan", "success": False, "updates": 300, "last_error": None}, False),
    ({"outcome": "budget", "success": False, "updates": 399}, False),     # budget is reached at the budget
    ({"updates": 401}, False),                                           # beyond the budget
    ({"updates": 400}, True),                                            # a success at the last update
    ({"updates": -1}, False),
    ({"updates": True}, False),                                          # a flag is not a count
    ({"updates": 300.0}, False),
    ({"success": False}, False),                                         # contradicts the outcome
    ({"outcome": "budget", "success": True, "updates": 400}, False),
    ({"outcome": "interrupted", "success": False}, False),                # a stop is not an outcome
    ({"outcome": "diverged", "success": False}, False),                   # not "diverged at update N"
    ({"outcome": "lost (CancelledError)", "success": False}, False),
    ({"last_error": 0.5}, False),                                        # a success above the target (0.01)
    ({"last_error": None}, False),
    ({"last_error": 0.01}, True),                                        # "at or below the target"
    ({"success": 1}, False),                                             # "success true exactly for success"
    ({"config": {"max_updates": 400}}, False),                           # a config that cannot be hashed
])
def test_a_result_is_trusted_only_when_its_fields_agree(cell, fields, trusted):
    _write(cell, _result(cell, **fields))
    got, problem = sweep.read_result(cell["folder"], cell["key"])
    assert (got is not None) is trusted, problem
    assert (problem is None) is trusted
    if not trusted:
        assert "the cell runs again from its checkpoint" in problem


def test_a_success_at_target_zero_needs_zero_errors(tmp_path):
    _, _, cells = _plan(tmp_path / "out", "--target-error", "0")
    _write(cells[0], _result(cells[0], last_error=0.0))
    assert sweep.read_result(cells[0]["folder"], cells[0]["key"])[0] is not None
    _write(cells[0], _result(cells[0], last_error=0.0001))
    assert sweep.read_result(cells[0]["folder"], cells[0]["key"])[0] is None


@pytest.mark.parametrize("edit", ["config", "code", "key", "outcome-type"])
def test_a_result_of_another_configuration_or_code_is_not_reused(cell, edit):
    r = _result(cell)
    if edit == "config":                         # a hand edit of the budget, the key left alone
        r["config"] = {**cell["config"], "max_updates": 500}
    elif edit == "code":
        r["code"] = "0ther"
    elif edit == "key":                          # another cell's result (another budget) in this folder
        r["key"] = sweep.cell_key({**cell["config"], "max_updates": 500}, cell["code"])
    else:
        r["outcome"] = 1
    _write(cell, r)
    got, problem = sweep.read_result(cell["folder"], cell["key"])
    assert got is None and problem.endswith("the cell runs again from its checkpoint")


def test_an_error_stored_by_an_old_sweep_is_not_a_result(cell):
    _write(cell, _result(cell, outcome="error: OSError: [Errno 28] No space left on device", success=False))
    got, problem = sweep.read_result(cell["folder"], cell["key"])
    assert got is None and "holds an error of an earlier sweep" in problem


def test_no_result_file_is_no_result_and_no_problem(cell):
    assert sweep.read_result(cell["folder"], cell["key"]) == (None, None)


@pytest.mark.parametrize("field, other", [("max_updates", 401), ("batch_size", 21), ("seed", 7),
                                          ("eval_size", 101), ("target_error", 0.02), ("dtype", "float64")])
def test_the_key_changes_with_every_setting_and_the_code(cell, field, other):
    assert sweep.cell_key({**cell["config"], field: other}, cell["code"]) != cell["key"]
    assert sweep.cell_key(cell["config"], "0ther") != cell["key"]
    assert sweep.cell_key(dict(cell["config"]), cell["code"]) == cell["key"]


def test_the_key_names_the_dtype_a_default_resolves_to(cell, monkeypatch):
    config = {**cell["config"], "dtype": None}             # the device's default: part of the identity
    monkeypatch.setattr(sweep, "resolved_dtype", lambda c: "float64")
    k64 = sweep.cell_key(config, "c0de")
    monkeypatch.setattr(sweep, "resolved_dtype", lambda c: "float32")
    assert sweep.cell_key(config, "c0de") != k64


def test_a_cells_folder_is_named_by_its_key(tmp_path):
    _, _, a = _plan(tmp_path / "out")
    _, _, b = _plan(tmp_path / "out", "--max-updates", "500")
    assert a[0]["name"] == b[0]["name"] == "smart-tanh-msgd-T10-s0"
    assert a[0]["folder"] != b[0]["folder"]
    assert Path(a[0]["folder"]).name == f"smart-tanh-msgd-T10-s0-{a[0]['key'][:12]}"


def test_code_version_covers_every_training_source(monkeypatch, tmp_path):
    """A change in tasks/packed.py, or in a module of minigrad/ at any depth, makes another version."""
    import shutil
    root = tmp_path / "repo"
    for source in sweep.CODE_SOURCES:
        src, dst = REPO / source, root / source
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.write_bytes(src.read_bytes())
    monkeypatch.setattr(sweep, "ROOT", root)
    try:
        for rel in ("tasks/packed.py", "minigrad/kernels/fast.py", "minigrad/kernels/fast.py"):
            sweep.code_version.cache_clear()
            before = sweep.code_version()
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            with open(root / rel, "a") as f:          # the second time: an edit of the nested module
                f.write("# edited\n")
            sweep.code_version.cache_clear()
            assert sweep.code_version() != before, rel
    finally:
        sweep.code_version.cache_clear()


# ----------------------------------------------------------------------------- how a run ends
def _state(**kw):
    return SimpleNamespace(**{"outcome": None, "done": False, "update": 0, "last_error": 0.2, "best_error": 0.1, **kw})


@pytest.mark.parametrize("state, expected", [
    (_state(update=400), "budget"),
    (_state(update=399), "interrupted"),
    (_state(update=250, done=True, last_error=0.0), "success"),
    (_state(update=399, outcome="interrupted"), "interrupted"),
    (_state(update=400, outcome="interrupted"), "budget"),       # stopped exactly at its budget: it ended
    (_state(update=17, outcome="diverged at update 17: loss nan"), "diverged at update 17: loss nan"),
])
def test_the_outcome_of_a_run(cell, state, expected):
    from tasks.train import TrainConfig
    assert sweep._outcome(state, TrainConfig(**cell["config"])) == expected


def test_a_diverged_run_ends_at_the_update_its_outcome_names():
    saved = RunState(update=500, outcome="diverged at update 517: loss inf")
    assert sweep._diverged_state(saved).update == 517


def test_finish_stores_training_outcomes_only(cell):
    folder = Path(cell["folder"])
    folder.mkdir(parents=True)
    (folder / "running.json").write_text("{}")
    r = sweep._finish(cell, "interrupted", _state(update=120), 1.0, 0, None)
    assert r["final"] is False and r["outcome"] == "interrupted" and r["updates"] == 120
    assert not (folder / "result.json").exists() and not (folder / "running.json").exists()
    r = sweep._finish(cell, "error: OSError: disk full", _state(update=120), 1.0, 0, None)
    assert r["final"] is False and not (folder / "result.json").exists()
    r = sweep._finish(cell, "budget", _state(update=400), 1.0, 0, None)
    assert r["final"] is True and r["success"] is False
    stored, problem = sweep.read_result(folder, cell["key"])
    assert problem is None and stored["outcome"] == "budget" and stored["updates"] == 400
    r = sweep._finish(cell, "diverged at update 9: loss nan", _state(update=9, last_error=None), 1.0, 0, None)
    assert r["final"] is True and r["success"] is False
    assert sweep.read_result(folder, cell["key"])[0]["outcome"] == "diverged at update 9: loss nan"
    r = sweep._finish(cell, "success", _state(update=250, last_error=0.0), 1.0, 0, None)
    assert r["success"] is True and sweep.read_result(folder, cell["key"])[0]["updates"] == 250


# ----------------------------------------------------------------------------- packs
def test_packs_hold_the_seeds_of_one_grid_point_in_chunks(tmp_path):
    _, _, cells = _plan(tmp_path / "out", "--seeds", "0", "1", "2", "--lengths", "10", "12")
    names = lambda packs: [[c["seed"] for c in p] for p in packs]       # noqa: E731
    assert names(sweep.make_packs(cells)) == [[0, 1, 2], [0, 1, 2]]
    assert names(sweep.make_packs(cells, 2)) == [[0, 1], [2], [0, 1], [2]]
    assert names(sweep.make_packs(cells, 1)) == [[0], [1], [2], [0], [1], [2]]
    other = _plan(tmp_path / "out", "--seeds", "3", "--lengths", "10", "--max-updates", "500")[2]
    assert names(sweep.make_packs(cells[:3] + other)) == [[0, 1, 2], [3]]       # another budget: apart


def test_cells_that_cannot_pack_run_alone(tmp_path):
    _, _, cells = _plan(tmp_path / "out", "--cells", "lstm", "--methods", "msgd-cr", "--seeds", "0", "1")
    assert [len(p) for p in sweep.make_packs(cells)] == [1, 1]


# ----------------------------------------------------------------------------- what is counted
def _results(cells):
    """A success (stored: no "final"), a budget, an error of this sweep, a diverged run, and nothing."""
    ok = {**_result(cells[0]), "final": True}
    ok.pop("final")
    return {cells[0]["key"]: ok,
            cells[1]["key"]: _result(cells[1], outcome="budget", success=False, updates=400, final=True),
            cells[2]["key"]: {"key": cells[2]["key"], "name": cells[2]["name"], "outcome": "error: OSError: full",
                              "success": False, "updates": 20, "final": False},
            cells[3]["key"]: _result(cells[3], outcome="diverged at update 9: nan", success=False, updates=9,
                                     final=True)}


def test_table_csv_figure_and_exit_count_results_only(tmp_path, capsys, monkeypatch):
    args, rows, cells = _plan(tmp_path / "out", "--seeds", "0", "1", "2", "3", "4", "--methods", "msgd", "msgd-c")
    msgd = [c for c in cells if c["method"] == "msgd"]
    results = _results(msgd)
    c_cell = [c for c in cells if c["method"] == "msgd-c"][0]
    results[c_cell["key"]] = {**_result(c_cell), "final": True}
    assert sweep._rates(rows, args.methods, args.lengths, cells, results) == {
        ("smart-tanh", "msgd"): [(10, 1, 3)], ("smart-tanh", "msgd-c"): [(10, 1, 1)]}
    missing = sweep.print_table(args, rows, cells, results)
    out = capsys.readouterr().out
    assert missing == 10 - 4
    assert f"  {msgd[2]['name']}: error: OSError: full (not counted, not stored" in out
    assert f"  {msgd[3]['name']}: diverged at update 9: nan\n" in out
    out_dir = tmp_path / "out"
    out_dir.mkdir(exist_ok=True)
    sweep.write_csv(out_dir, cells, results)
    rows_csv = {r["name"]: r for r in csv.DictReader(open(out_dir / "sweep.csv"))}
    assert len(rows_csv) == 5
    assert [rows_csv[c["name"]]["counted"] for c in msgd[:4]] == ["True", "True", "False", "True"]
    assert [rows_csv[c["name"]]["success"] for c in msgd[:4]] == ["True", "False", "", "False"]
    titles = []
    import matplotlib.axes
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", lambda self, t, *a, **k: titles.append(t))
    sweep.draw_figure(out_dir, args, rows, cells, results)
    assert titles == ["temporal-order: success rate (4/10 cells)"]
    assert sweep._final_status(0) == 0 and sweep._final_status(1) == 1


def test_the_csv_names_the_dtype_a_default_resolves_to(tmp_path):
    _, _, cells = _plan(tmp_path / "out", "--dtype", "float64")
    cfg = {**cells[0]["config"], "dtype": None}               # a device default (the CPU's: float64)
    c = {**cells[0], "config": cfg}
    out = tmp_path / "o"
    out.mkdir()
    sweep.write_csv(out, [c], {c["key"]: {**_result(c), "final": True}})
    assert next(csv.DictReader(open(out / "sweep.csv")))["dtype"] == "float64"


def test_clean_never_makes_an_unstored_outcome_final(cell):
    assert sweep._clean({"outcome": "interrupted"}, cell)["final"] is False
    assert sweep._clean({"outcome": "success", "final": True, "config": {}, "lost": 1}, cell) == {
        "outcome": "success", "final": True, "key": cell["key"], "name": cell["name"], "success": True}


class _Fut:
    def __init__(self, value=None, exc=None):
        self.value, self.exc = value, exc

    def done(self):
        return True

    def result(self):
        if self.exc is not None:
            raise self.exc
        return self.value


def test_a_task_that_returned_nothing_usable_is_an_uncounted_error(tmp_path):
    from distributed.scheduler import KilledWorker
    _, _, cells = _plan(tmp_path / "out")
    for fut in (_Fut(value=["not a dict"]), _Fut(value={"pack": [{"outcome": "success", "final": True}]}),
                _Fut(exc=KilledWorker("k", SimpleNamespace(address="tcp://w:1"), 3))):
        got = sweep._pack_results(fut, cells)
        assert len(got) == 2 and all(r["outcome"].startswith("error") and r["final"] is False for r in got)
        assert not any(sweep._counted(sweep._clean(r, c)) for r, c in zip(got, cells))


def test_stop_keeps_checkpointed_cells_out_of_the_results(tmp_path, capsys):
    _, _, cells = _plan(tmp_path / "out")
    fut = _Fut(value={"pack": [{"key": cells[0]["key"], "outcome": "interrupted", "final": False, "updates": 7},
                               {"key": cells[1]["key"], "outcome": "error: boom", "final": False}]})
    client = SimpleNamespace(run=lambda *a: None)
    results = {}
    status = sweep._stop(client, "id", {fut: cells}, [], results, cells,
                         SimpleNamespace(count=1, signum=signal.SIGINT), sweep._Progress(True, 2, 0))
    assert status == 130
    assert list(results) == [cells[1]["key"]] and results[cells[1]["key"]]["final"] is False
    assert "1 running cell(s) checkpointed, 0/2 done" in capsys.readouterr().err


# ----------------------------------------------------------------------------- other plans
def test_only_other_settings_of_this_plans_grid_points_are_named(tmp_path):
    out = tmp_path / "out"
    _, _, mine = _plan(out)
    _, _, theirs = _plan(out, "--max-updates", "300", "--seeds", "0", "1", "2")   # seed 2: not our point
    for c in mine[:1] + theirs:
        folder = Path(c["folder"])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cell.json").write_text(json.dumps({"key": c["key"], "name": c["name"], "code": c["code"],
                                                      "config": c["config"]}))
    assert sweep.other_plans(out, mine) == (
        f"2 unfinished cells in {out} belong to another plan (max_updates 300; this plan: max_updates 400): "
        "not reused, kept; this plan's cells train from update 0")
    (Path(theirs[0]["folder"]) / "cell.json").write_text(json.dumps(
        {"key": "k", "name": theirs[0]["name"], "code": "0ther", "config": mine[0]["config"]}))
    line = sweep.other_plans(out, mine)
    assert "code version 0ther; this plan: code version c0de (1 cell)" in line


# ----------------------------------------------------------------------------- the dry run
def test_the_dry_run_estimates_the_cells_to_run_from_their_checkpoints(tmp_path, monkeypatch, capsys):
    args, rows, cells = _plan(tmp_path / "out", "--pack", "1")
    seen = []

    def estimate(todo, pack, scratch, signals=None, with_longest=False):
        seen.append([c["name"] for c in todo])
        return 100.0, "timed", 60.0
    monkeypatch.setattr(sweep, "estimate_seconds", estimate)
    monkeypatch.setattr(sweep, "_core_count", lambda: 8)
    assert sweep.dry_run(args, rows, cells, {cells[0]["key"]: {}}, 8, "local worker processes") == 0
    assert seen == [[cells[1]["name"]]]
    out = capsys.readouterr().out
    assert "2 cells, 1 already done, 1 to run" in out
    # one pack on 8 workers: 1 worker starts (6 + 5 s), and the pack's 100 s are not divided
    assert "estimate: about 1m51s on 8 local worker processes" in out
    # two packs of 100 s in all, the longest 60 s, on 8 workers: 2 start (6 + 2 x 5 s); never below the longest
    assert sweep.dry_run(args, rows, cells, {}, 8, "local worker processes") == 0
    assert "estimate: about 1m16s on 8 local worker processes" in capsys.readouterr().out


def test_the_estimate_counts_a_cells_remaining_updates_evaluations_and_set_up(tmp_path, monkeypatch):
    _, _, cells = _plan(tmp_path / "out", "--pack", "1")
    monkeypatch.setattr(sweep, "_update_timing", lambda cfg: (0.01, 1.0, 0.0))
    monkeypatch.setattr(sweep, "_time_pack", lambda pack, updates, every, scratch: 2.0 + updates * 0.01 + 1.0 * (updates // every))
    monkeypatch.setattr(sweep, "_checkpoint_update", lambda c, cached=False: 100 if c["seed"] == 0 else 0)
    total, what, longest = sweep.estimate_seconds(cells, 1, tmp_path, with_longest=True)
    # set-up 2 s; seed 0: 300 updates left (3 s) + 6 evaluations of 1 s; seed 1: 400 (4 s) + 8
    assert total == pytest.approx((2 + 3 + 6) + (2 + 4 + 8))
    assert longest == pytest.approx(2 + 4 + 8)


# ----------------------------------------------------------------------------- run files
def test_an_append_after_a_torn_tail_drops_it(tmp_path):
    rf = RunFiles(tmp_path)
    rf.log_path.write_bytes(b'{"update": 0}\n{"upd')
    rf.log({"update": 50})
    assert rf.log_path.read_bytes() == b'{"update": 0}\n{"update": 50}\n'
    rf.log_path.write_bytes(b'{"upd')                       # no newline at all: nothing kept
    rf.log({"update": 0})
    assert rf.log_path.read_bytes() == b'{"update": 0}\n'


@pytest.mark.parametrize("data, end", [(b"\nxyz", 1), (b"ab\ncd\nef", 6), (b"abc", 0), (b"a\n", 2)])
def test_last_line_end_across_blocks(tmp_path, data, end):
    path = tmp_path / "f"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert _last_line_end(fd, len(data), block=2) == end
    finally:
        os.close(fd)


def test_an_append_cut_short_leaves_the_file_as_it_was(tmp_path, monkeypatch):
    import errno
    rf = RunFiles(tmp_path)
    rf.log({"update": 0})
    real = os.write

    def half(fd, data):
        real(fd, bytes(data[:3]))
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "write", half)
    with pytest.raises(OSError):
        rf.log({"update": 50})
    monkeypatch.undo()
    assert rf.log_path.read_bytes() == b'{"update": 0}\n'


def test_trim_log_keeps_rows_up_to_the_checkpoint_and_drops_a_torn_tail(tmp_path, capsys):
    rf = RunFiles(tmp_path)
    lines = [json.dumps({"update": u}) for u in (0, 50, 100, 150)]
    rf.log_path.write_text("\n".join(lines) + '\n{"upd')
    assert rf.read_log() == ([{"update": u} for u in (0, 50, 100, 150)], lines, '{"upd')
    rf.trim_log(100)
    assert rf.log_path.read_text() == "\n".join(lines[:3]) + "\n"
    rf.log_path.write_text("\n".join(lines[:3]) + '\n{"update": 101, "outcome": "diverged at update 101"}\n')
    rf.trim_log(100)                                              # a row one update after it goes too
    assert rf.log_path.read_text() == "\n".join(lines[:3]) + "\n"
    rf.log_path.write_text("\n".join(lines[:2]) + '\n{"upd')     # nothing after the checkpoint, a torn tail
    rf.trim_log(50)
    assert rf.log_path.read_text() == "\n".join(lines[:2]) + "\n"
    assert "dropped a torn last line" in capsys.readouterr().err
    rf.log_path.write_text("{\n" + "\n".join(lines) + "\n")          # a damaged row in the middle
    with pytest.raises(ValueError, match="line 1 is not a JSON row"):
        rf.read_log()


def test_snapshots_at_one_two_four_eight_periods(tmp_path, monkeypatch):
    rf = RunFiles(tmp_path)
    kept = []
    monkeypatch.setattr(rf, "keep_copy", kept.append)
    for u in range(0, 1300, 100):
        rf.snapshot(SimpleNamespace(state=SimpleNamespace(update=u), config=SimpleNamespace(eval_every=100)))
    assert kept == [f"snapshots/checkpoint_{u:08d}.npz" for u in (100, 200, 400, 800)]


def _ckpt(rf, update, outcome=None):
    meta = {"state": {"update": update, "outcome": outcome}, "config": {"x": 1}}
    rf.write_checkpoint({"w": np.ones(2), "meta": np.array(json.dumps(meta))}, {"x": 1})


def test_checkpoints_norms_and_copies(tmp_path):
    rf = RunFiles(tmp_path)
    with pytest.raises(ValueError, match="non-finite"):
        rf.write_checkpoint({"w": np.array([1.0, np.nan])}, {"x": 1})
    assert not rf.checkpoint_path.exists()
    _ckpt(rf, 100)
    rf.write_checkpoint({"w": np.ones(2), "meta": np.array(json.dumps({"state": {"update": 200}, "config": {"x": 2}}))},
                        {"x": 2})
    assert json.loads((tmp_path / "config.json").read_text()) == {"x": 1}        # written once
    rf.record_outcome("diverged at update 250: nan")
    assert json.loads(str(np.load(rf.checkpoint_path)["meta"]))["state"]["outcome"] == "diverged at update 250: nan"
    assert checkpoint_update(tmp_path / "missing.npz") is None
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    assert checkpoint_update(tmp_path / "bad.npz") is None
    # restore_copy: only a copy that is not of the checkpoint's update, only from a checkpoint of it
    _ckpt(rf, 300)
    best = tmp_path / "best.npz"
    best.write_bytes(rf.checkpoint_path.read_bytes())
    before = best.stat().st_mtime_ns
    assert rf.restore_copy("best.npz", 300) is False and best.stat().st_mtime_ns == before
    assert rf.restore_copy("best.npz", 350) is False                 # the checkpoint is of 300, not 350
    _ckpt(rf, 350)
    assert rf.restore_copy("best.npz", 350) is True and checkpoint_update(best) == 350
    (tmp_path / "grad_norms.f32").write_bytes(np.arange(10, dtype=np.float32).tobytes())
    rf.truncate_norms(7)
    assert (tmp_path / "grad_norms.f32").stat().st_size == 28


# ----------------------------------------------------------------------------- the ledger and keep_runs
def _load(name):
    spec = importlib.util.spec_from_file_location(f"mut_{name}", REPO / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ledger = _load("ledger")


def _s(status, updates=0):
    return {"status": status, "updates": updates}


@pytest.mark.parametrize("states, text", [
    ([_s("success", 100), _s("success", 300), _s("success", 200), _s("budget", 5), _s("diverged", 7)], "300"),
    ([_s("success", 100), _s("success", 200), _s("budget"), _s("budget")], "> budget"),
    ([_s("success", 100), _s("success", 200), _s("success", 301), _s("budget")], "250.5"),
    ([_s("success", 100), _s("running", 50), _s("success", 300)], "-"),
    ([_s("budget"), _s("budget"), _s("success", 10)], "> budget"),
])
def test_ledger_median(states, text):
    assert ledger.median_text(states) == text


def _ledger_cell(root, name, config, key=None, result=None, log=None, code="abc"):
    from tasks.sweep import cell_key
    key = key or cell_key(config, code)
    folder = root / "cells" / f"{name}-{key[:12]}"
    folder.mkdir(parents=True)
    (folder / "cell.json").write_text(json.dumps({"key": key, "name": name, "code": code, "config": config}))
    if result is not None:
        (folder / "result.json").write_text(json.dumps({"key": key, "name": name, "code": code, "config": config,
                                                        **result}))
    if log is not None:
        (folder / "log.jsonl").write_text(log)
    return folder


BASE = {"task": "temporal_order", "length": 20, "max_length": None, "method": "msgd", "init": "basic_tanh",
        "cell": "rnn", "hidden": 50, "lr": 0.01, "clip": 1.0, "alpha": 4.0, "alpha_schedule": "constant",
        "alpha_beta": 2800.0, "batch_size": 20, "eval_every": 500, "eval_size": 10000, "eval_batch": 1000,
        "max_updates": 200000, "target_error": 0.01, "check_every": 50, "check_size": 1000, "halve_lr": False,
        "seed": 0, "device": "cpu", "dtype": "float32", "trace": True}


def test_ledger_reads_each_cells_state(tmp_path):
    ok = {"outcome": "success", "success": True, "updates": 1500, "last_error": 0.0}
    st = ledger.cell_state(_ledger_cell(tmp_path, "a", BASE, result=ok))
    assert (st["status"], st["updates"]) == ("success", 1500)
    st = ledger.cell_state(_ledger_cell(tmp_path, "b", BASE, result={
        "outcome": "diverged at update 70: nan", "success": False, "updates": 70, "last_error": None}))
    assert (st["status"], st["updates"]) == ("diverged", 70)
    # a result.json whose key is not the cell's (cell.json's): damaged, even if it hashes to its own key
    other = {**BASE, "seed": 1}
    from tasks.sweep import cell_key
    folder = _ledger_cell(tmp_path, "c", BASE)
    (folder / "result.json").write_text(json.dumps({"key": cell_key(other, "abc"), "code": "abc", "config": other,
                                                    **ok}))
    assert ledger.cell_state(folder)["status"] == "damaged"
    # running: the last whole row of the log, a torn tail skipped; never a result
    st = ledger.cell_state(_ledger_cell(tmp_path, "d", BASE, log='{"update": 500, "error": 0.4}\n'
                                        '{"update": 1000, "error": 0.3}\n{"update": 15'))
    assert (st["status"], st["updates"], st["error"]) == ("running", 1000, 0.3)
    st = ledger.cell_state(_ledger_cell(tmp_path, "e", BASE, log='{"update": 500, "error": 0.4}\n{"note": 1}\n'))
    assert st["updates"] == 500
    (tmp_path / "cells" / "f").mkdir()
    (tmp_path / "cells" / "f" / "cell.json").write_text(json.dumps({"key": "k", "name": "f"}))
    assert ledger.cell_state(tmp_path / "cells" / "f") is None


def test_ledger_section_counts_ended_cells_of_the_plans_settings_only(tmp_path):
    root = tmp_path / "figure7_t20"
    settings = {"task": "temporal_order", "max_updates": 200000, "dtype": "float32"}
    ok = {"outcome": "success", "success": True, "updates": 1500, "last_error": 0.0}
    _ledger_cell(root, "s0", BASE, result=ok)
    _ledger_cell(root, "s1", {**BASE, "seed": 1}, log='{"update": 500, "error": 0.4}\n')     # running
    _ledger_cell(root, "s2", {**BASE, "seed": 2, "max_updates": 1000}, result={**ok, "updates": 900})   # other plan
    _ledger_cell(root, "s3", {**BASE, "seed": 3}, result={"outcome": "budget", "success": False,
                                                          "updates": 200000, "last_error": 0.3})
    lines = ledger.sweep_section("T", root, ("basic_tanh",), ("msgd",), (20,), settings)
    row = [line for line in lines if line.startswith("| basic tanh | MSGD | 20 |")]
    assert row == ["| basic tanh | MSGD | 20 | 2/5 | 1/2 | 1,500; running: 500 (40.00%); not started; "
                   "budget (30.00%); not started | - |"]
    assert "Not counted (other settings): s2." in lines


def test_ledger_section_keeps_the_first_cell_of_a_grid_point(tmp_path):
    root = tmp_path / "figure7_t20"
    ok = {"outcome": "success", "success": True, "updates": 1500, "last_error": 0.0}
    _ledger_cell(root, "a", BASE, result=ok, code="abc")
    _ledger_cell(root, "b", BASE, result={**ok, "updates": 99}, code="abd")
    lines = ledger.sweep_section("T", root, ("basic_tanh",), ("msgd",), (20,), {"task": "temporal_order"})
    assert any("a second cell of this grid point" in line for line in lines)
    assert sum("1,500" in line for line in lines) + sum("| 99;" in line for line in lines) == 1


@pytest.mark.parametrize("error, update, target, state", [
    (0.009, 3000, 0.01, "success at 3,000 (0.90%)"),
    (0.01, 3000, 0.01, "running: 3,000 (1.00%)"),          # fewer than the target wrong: 1% is not
    (0.0, 3000, 0.0, "success at 3,000 (0.00%)"),
    (0.5, 5000, 0.01, "budget 5,000 (50.00%)"),
    (0.5, 4999, 0.01, "running: 4,999 (50.00%)"),
])
def test_ledger_train_runs_end_at_their_target_or_budget(tmp_path, error, update, target, state):
    run = tmp_path / "gen" / "r"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({**BASE, "target_error": target, "max_updates": 5000}))
    (run / "log.jsonl").write_text(json.dumps({"update": update, "error": error}) + "\n")
    rows = [line for line in ledger.train_section(tmp_path / "gen") if line.startswith("| r |")]
    assert len(rows) == 1 and f"| {state} |" in rows[0]


def test_ledger_check_fails_on_a_stale_ledger(tmp_path, capsys):
    results = tmp_path / "RESULTS.md"
    results.write_text("## The paper's runs at full strength\n\nold\n")
    assert ledger.main(["--runs", str(tmp_path / "runs"), "--results", str(results), "--check"]) == 1
    assert ledger.main(["--runs", str(tmp_path / "runs"), "--results", str(results)]) == 0
    assert ledger.main(["--runs", str(tmp_path / "runs"), "--results", str(results), "--check"]) == 0


def test_keep_runs_save_and_restore(tmp_path):
    keep = _load("keep_runs")
    src = tmp_path / "src" / "cells" / "c"
    (src / "snapshots").mkdir(parents=True)
    for name in ("cell.json", "result.json", "log.jsonl", "running.json", "grad_norms.f32"):
        (src / name).write_text(name)
    (src / "snapshots" / "note.txt").write_text("x")
    dst = tmp_path / "dst"
    (dst / "cells" / "gone").mkdir(parents=True)
    assert keep.main(["save", str(tmp_path / "src"), str(dst)]) == 0
    assert sorted(p.name for p in (dst / "cells" / "c").iterdir()) == ["cell.json", "log.jsonl", "result.json"]
    assert not (dst / "cells" / "gone").exists()
    back = tmp_path / "back" / "cells" / "c"
    back.mkdir(parents=True)
    (back / "log.jsonl").write_text("newer")
    os.utime(back / "log.jsonl", (2e9, 2e9))
    assert keep.main(["restore", str(dst), str(tmp_path / "back")]) == 0
    assert (back / "log.jsonl").read_text() == "newer" and (back / "result.json").read_text() == "result.json"


def test_ledger_a_pack_run_below_its_target_is_pending_not_counted(tmp_path):
    root = tmp_path / "figure7_t20"
    _ledger_cell(root, "s0", BASE, log='{"update": 500, "error": 0.005}\n')
    _ledger_cell(root, "s1", {**BASE, "seed": 1}, log='{"update": 500, "error": 0.01}\n')    # not below 1%
    lines = ledger.sweep_section("T", root, ("basic_tanh",), ("msgd",), (20,), {"task": "temporal_order"})
    row = [line for line in lines if line.startswith("| basic tanh | MSGD | 20 |")]
    assert row == ["| basic tanh | MSGD | 20 | 0/5 | - | met the target at 500 (0.50%; result pending); "
                   "running: 500 (1.00%); not started; not started; not started | - |"]


# ----------------------------------------------------------------------------- in a worker, without Dask
def _real_plan(out, *extra):
    args = build_parser().parse_args(["sweep", *TINY, "--seeds", "0", "1", "--out", str(out), *extra])
    sweep.resolve_presets(args)
    return sweep.plan_cells(args)[1]              # the real code version: what a worker checks


def test_a_finished_cell_is_returned_not_trained_again(tmp_path):
    cells = _real_plan(tmp_path / "out")
    for c in cells:
        _write(c, _result(c, outcome="budget", success=False, updates=400, last_error=0.3))
    alone = _real_plan(tmp_path / "out", "--cells", "lstm", "--methods", "msgd-cr")[:1]   # cannot pack: run_cell
    for c in cells + alone:
        _write(c, _result(c, outcome="budget", success=False, updates=400, last_error=0.3))
    for specs in (cells, cells[:1], alone):       # a pack, a pack of one, a cell alone
        got = sweep.run_pack(specs)["pack"]
        assert [(r["outcome"], r["final"], r["updates"]) for r in got] == [("budget", True, 400)] * len(specs)
    assert all(sorted(p.name for p in Path(c["folder"]).iterdir()) == ["result.json"] for c in cells + alone)


def test_a_worker_running_other_code_trains_nothing(tmp_path):
    c = {**_real_plan(tmp_path / "out")[0], "code": "0ther"}
    r = sweep.run_cell(c)
    assert r["final"] is False and r["outcome"].startswith("error: the worker on ")
    assert not Path(c["folder"]).exists()


def test_a_crash_is_an_error_never_a_stored_result(tmp_path, monkeypatch):
    import tasks.packed
    cells = _real_plan(tmp_path / "out")

    def fail(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(sweep, "prepare_run", fail)
    alone = _real_plan(tmp_path / "out", "--cells", "lstm", "--methods", "msgd-cr")[:1]   # cannot pack: run_cell
    for specs in (alone, cells[:1], cells):       # run_cell, and each cell of a pack failing to open
        for r in sweep.run_pack(specs)["pack"]:
            assert r["final"] is False and r["outcome"] == "error: OSError: [Errno 28] No space left on device"
    monkeypatch.undo()

    class Broken:
        def __init__(self, *a, **k):
            raise MemoryError("out of memory")
    monkeypatch.setattr(tasks.packed, "PackedTrainer", Broken)
    got = sweep.run_pack(cells)["pack"]
    assert [(r["final"], r["outcome"]) for r in got] == [(False, "error: MemoryError: out of memory")] * 2
    assert not any((Path(c["folder"]) / "result.json").exists() for c in cells + alone)


def test_a_sweep_whose_cells_are_all_finished_starts_no_cluster(tmp_path, monkeypatch, capsys):
    from tasks.cli import main
    out = tmp_path / "out"
    cells = _real_plan(out)
    _write(cells[0], _result(cells[0], updates=300, last_error=0.0))
    _write(cells[1], _result(cells[1], outcome="budget", success=False, updates=400, last_error=0.3))

    def no_cluster(*a, **k):
        raise AssertionError("a cluster was started for finished cells")
    monkeypatch.setattr(sweep, "_connect", no_cluster)
    assert main(["sweep", *TINY, "--seeds", "0", "1", "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "smart-tanh  msgd         1/2" in table


def test_a_cell_stopped_without_being_asked_runs_again_and_is_never_counted_until_it_ends(tmp_path, monkeypatch):
    """A task that comes back "interrupted" (its worker lost, ...) is submitted again; one that never
    ends is in the end an error of this sweep: in the CSV, not counted."""
    args, rows, cells = _plan(tmp_path / "out", "--pack", "1")
    ends = {cells[0]["key"]: ["interrupted", "budget"], cells[1]["key"]: ["interrupted"] * 20}
    submitted = []

    class Client:
        status = "running"

        def subscribe_topic(self, *a):
            pass

        def unsubscribe_topic(self, *a):
            pass

        def nthreads(self):
            return {"tcp://w:1": 2}

        def submit(self, fn, specs, pure, key):
            c = specs[0]
            submitted.append(c["name"])
            outcome = ends[c["key"]].pop(0)
            final = outcome != "interrupted"
            r = {"key": c["key"], "name": c["name"], "outcome": outcome, "final": final, "updates": 400 if final else 5}
            return _Fut(value={"pack": [{**r, "success": False, "last_error": 0.3} if final else r]})

        def close(self):
            pass
    monkeypatch.setattr(sweep, "_connect", lambda args, packs=None: (Client(), None))
    monkeypatch.setattr(sweep, "_wait", lambda *a: None)
    monkeypatch.setattr(sweep, "_try_draw", lambda *a: None)
    out = tmp_path / "out"
    out.mkdir()
    results = {}
    assert sweep._run_cells(args, out, rows, cells, list(cells), results, SimpleNamespace(count=0)) == 0
    assert submitted.count(cells[0]["name"]) == 2
    assert results[cells[0]["key"]]["outcome"] == "budget" and sweep._counted(results[cells[0]["key"]])
    bad = results[cells[1]["key"]]
    assert bad["outcome"].startswith("error: stopped") and not sweep._counted(bad)
    assert 2 <= submitted.count(cells[1]["name"]) < 20
