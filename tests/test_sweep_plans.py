"""``minigrad sweep`` and the plans that share one OUT: one sweep at a time per OUT (a lock with
host, pid and heartbeat), cells of another plan named instead of silently ignored, and a dry-run
estimate that counts what a cell really costs (set-up, evaluations with their writes), not only
its updates.  No Dask cluster is started here: the lock refuses before one would be."""
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks import sweep
from tasks.cli import build_parser, main

TINY = ["--task", "temporal-order", "--lengths", "10", "--methods", "msgd", "--inits", "smart-tanh",
        "--hidden", "6", "--eval-size", "100", "--eval-every", "10", "--workers", "1", "--quiet"]


def _lock(out, **fields):
    out.mkdir(parents=True, exist_ok=True)
    (out / sweep.LOCK_FILE).write_text(json.dumps(fields))


@pytest.fixture
def live_pid():
    """The pid of a process that is alive for the test (not this one: it runs the sweep)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield p.pid
    p.kill()
    p.wait()


def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_a_second_sweep_into_an_out_in_use_is_refused_in_one_line(tmp_path, capsys, live_pid):
    out = tmp_path / "out"
    started = time.time() - 60
    _lock(out, host=socket.gethostname(), pid=live_pid, started=started, heartbeat=time.time(), token="x")
    assert main(["sweep", *TINY, "--seeds", "0", "--max-updates", "20", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"{out} is in use by a sweep running on {socket.gethostname()}, pid {live_pid} since " in err[0]
    assert time.strftime("%Y-%m-%d %H:%M", time.gmtime(started)) in err[0]
    assert "wait for it or use another --out" in err[0]
    assert not (out / "cells").exists()                      # nothing was trained
    assert json.loads((out / sweep.LOCK_FILE).read_text())["pid"] == live_pid      # the holder's lock kept


def test_a_stale_lock_of_this_host_is_taken_over_with_a_note_and_released(tmp_path):
    dead = _dead_pid()
    _lock(tmp_path, host=socket.gethostname(), pid=dead, started=0, heartbeat=time.time(), token="old")
    lock = sweep.OutLock(tmp_path).acquire()
    try:
        assert lock.note and f"pid {dead}" in lock.note and "is gone" in lock.note
        held = json.loads((tmp_path / sweep.LOCK_FILE).read_text())
        assert held["pid"] == os.getpid() and held["host"] == socket.gethostname()
        with pytest.raises(sweep.RunError, match="is in use by a sweep running on"):     # this live one
            sweep.OutLock(tmp_path).acquire()
    finally:
        lock.release()
    assert not (tmp_path / sweep.LOCK_FILE).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []          # the stale lock put aside is gone


def test_a_lock_of_another_host_is_trusted_by_its_heartbeat_age(tmp_path, monkeypatch):
    _lock(tmp_path, host="node-elsewhere", pid=os.getpid() + 10**6, started=0,
          heartbeat=time.time() - sweep.STALE_AFTER_S / 2, token="t")
    with pytest.raises(sweep.RunError, match="running on node-elsewhere"):      # its pid cannot be seen
        sweep.OutLock(tmp_path).acquire()
    _lock(tmp_path, host="node-elsewhere", pid=1, started=0, heartbeat=time.time() - 2 * sweep.STALE_AFTER_S,
          token="t")
    lock = sweep.OutLock(tmp_path).acquire()
    lock.release()
    assert "node-elsewhere" in lock.note and "heartbeat" in lock.note
    # a running sweep's heartbeat moves on
    monkeypatch.setattr(sweep, "HEARTBEAT_S", 0.05)
    with sweep.OutLock(tmp_path):
        first = json.loads((tmp_path / sweep.LOCK_FILE).read_text())["heartbeat"]
        time.sleep(0.5)
        assert json.loads((tmp_path / sweep.LOCK_FILE).read_text())["heartbeat"] > first
    assert not (tmp_path / sweep.LOCK_FILE).exists()


def _plan(out, *extra):
    args = build_parser().parse_args(["sweep", *TINY, "--seeds", "0", "1", "--out", str(out), *extra])
    sweep.resolve_presets(args)
    return sweep.plan_cells(args)[1]


def _finish_cells(cells, unfinished=()):
    for c in cells:
        folder = Path(c["folder"])
        folder.mkdir(parents=True)
        (folder / "cell.json").write_text(json.dumps({"key": c["key"], "name": c["name"], "code": c["code"],
                                                      "config": c["config"]}))
        if c["name"] not in unfinished:
            (folder / "result.json").write_text(json.dumps({"key": c["key"], "outcome": "budget"}))


def test_cells_of_another_plan_in_out_are_named_not_silently_ignored(tmp_path, capsys, live_pid):
    out = tmp_path / "out"
    _finish_cells(_plan(out, "--max-updates", "400"))            # a budget-400 sweep ran here
    new = _plan(out, "--max-updates", "500")
    line = sweep.other_plans(out, new)
    assert line == (f"2 finished cells in {out} belong to another plan (max_updates 400; this plan: max_updates 500): "
                    f"not reused, kept; this plan's cells train from update 0")
    assert sweep.other_plans(out, _plan(out, "--max-updates", "400")) is None          # the same plan
    assert sweep.other_plans(out, _plan(out, "--max-updates", "400", "--lengths", "12")) is None   # other points
    # the real run says it too (on stderr, before anything runs; here then refused by a lock)
    _lock(out, host=socket.gethostname(), pid=live_pid, started=time.time(), heartbeat=time.time(), token="x")
    assert main(["sweep", *TINY, "--seeds", "0", "1", "--max-updates", "500", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 finished cells in" in err and "(max_updates 400; this plan: max_updates 500)" in err


def test_unfinished_cells_and_several_differences_are_counted_apart(tmp_path):
    out = tmp_path / "out"
    old = _plan(out, "--max-updates", "400", "--eval-size", "200")
    _finish_cells(old, unfinished={old[1]["name"]})
    line = sweep.other_plans(out, _plan(out, "--max-updates", "500"))
    assert line.startswith(f"1 finished and 1 unfinished cells in {out} belong to another plan (")
    assert "eval_size 200, max_updates 400; this plan: eval_size 100, max_updates 500" in line


def test_the_dry_run_estimate_counts_set_up_and_evaluations_not_only_updates(tmp_path, monkeypatch):
    """The old estimate was updates, one evaluation and one check, timed in memory: 4-5x too low
    (a cell's set-up and tracing, its evaluations' diagnostics, writes and redraws were left
    out).  Now a real pack, end to end, is timed for k and 2k updates with an evaluation every k.
    Here the timings are given, and the estimate is worked out by hand."""
    monkeypatch.setattr(sweep, "_update_timing", lambda config: (0.01, 0.02, 0.001))   # update, eval, check
    runs = []

    def time_pack(pack, updates, every, scratch):
        runs.append((len(pack), updates, every))
        return {5: 3.0, 10: 3.5}[updates] * len(pack)          # k = 5 updates: 3.0 s; 2k: 3.5 s (per cell)
    monkeypatch.setattr(sweep, "_time_pack", time_pack)
    cells = _plan(tmp_path / "est", "--max-updates", "40")              # 2 seeds of one point: one pack
    total, what = sweep.estimate_seconds(cells, None, tmp_path)
    assert runs == [(2, 5, 5), (2, 5, 5), (2, 10, 5)]
    # per cell: 2k - k = 5 updates x 0.011 + one evaluation with its writes -> evaluation 0.445 s;
    # set-up 3.0 - 5 x 0.011 - 0.445 = 2.5 s, per cell (x 2 for the pack, once);
    # each cell: 40 x 0.011 + 4 evaluations x 0.445 = 2.22 s
    assert total == pytest.approx(2 * 2.5 + 2 * 2.22)
    assert "1 real pack(s) end to end" in what
    old = sweep._seconds_per_update(cells[0]["config"]) * 40 * 2          # what the dry run used to say
    assert old < total / 5
    # a length within 1.5x of a timed one is not timed again: its set-up and evaluation scale with it
    runs.clear()
    cells = _plan(tmp_path / "est", "--max-updates", "40", "--lengths", "10", "12")
    total, what = sweep.estimate_seconds(cells, None, tmp_path)
    assert runs == [(2, 5, 5), (2, 5, 5), (2, 10, 5)]
    # T = 12: set-up 5.0 x 12/10 = 6.0 per pack, evaluation 0.445 x 12/10 = 0.534 per cell
    assert total == pytest.approx(2 * 2.5 + 2 * 2.22 + 6.0 + 2 * (40 * 0.011 + 4 * 0.534))
    assert "1 real pack(s) end to end (1 length(s) scaled from one within 1.5x)" in what
