"""``minigrad sweep`` on Dask distributed: cells keyed by their whole configuration, resumed
from their checkpoints after Ctrl-C or a killed worker, crashes and divergences recorded as
outcomes.  Real LocalClusters of 2 worker processes, tiny cells (hidden 6, T 10-12, 100
evaluation sequences, a few thousand updates at most)."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

from tasks import sweep
from tasks.cli import main
from tasks.train import TrainConfig

SMALL = ["--hidden", "6", "--eval-size", "100", "--workers", "2", "--quiet"]
# Cells that learn nothing (lr 0.001, target 0 errors): they run their whole budget.
SLOW = ["--task", "temporal-order", "--lengths", "10", "--methods", "msgd", "--inits", "smart-tanh",
        "--lr", "0.001", "--target-error", "0"]


def _cli():
    script = Path(sys.executable).parent / "minigrad"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tasks.cli"]


def _env():
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


def _cells(out):
    return sorted((out / "cells").iterdir()) if (out / "cells").exists() else []


def _rows(out):
    return list(csv.DictReader(open(out / "sweep.csv")))


def _result(folder):
    return json.loads((folder / "result.json").read_text())


def _group_gone(pgid):
    try:
        os.killpg(pgid, 0)
        return False
    except ProcessLookupError:
        return True


@pytest.fixture(autouse=True)
def no_workers_left_behind():
    """Every test leaves no Dask worker process (spawned children of this process) behind."""
    yield
    me = psutil.Process()

    def workers():
        alive = []
        for p in me.children(recursive=True):
            try:
                if "resource_tracker" not in " ".join(p.cmdline()):
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        return alive
    deadline = time.monotonic() + 10
    while workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not workers(), f"processes left behind: {[p.cmdline() for p in workers()]}"


def test_cell_key_is_the_whole_configuration():
    base = TrainConfig(task="temporal_order", length=10, hidden=6, device="cpu").validate().__dict__
    key = sweep.cell_key(dict(base), "code1")
    assert sweep.cell_key(dict(base), "code1") == key
    assert sweep.cell_key(dict(base), "code2") != key                     # another training code
    for field, value in [("lr", 0.02), ("seed", 1), ("max_updates", 7), ("eval_size", 99), ("dtype", "float64"),
                         ("task", "addition"), ("trace", False), ("clip", 2.0)]:
        assert sweep.cell_key({**base, field: value}, "code1") != key, field
    assert len(sweep.code_version()) == 16


def test_rerun_reuses_exact_cells_and_changed_settings_make_new_ones(tmp_path, capsys):
    out = tmp_path / "sw"
    base = ["sweep", "--lengths", "10", "12", "--seeds", "0", "--methods", "msgd-cr", "--inits", "smart-tanh",
            "--cells", "rnn", "gru", "--eval-every", "10", "--max-updates", "20", "--out", str(out), *SMALL]
    assert main(base + ["--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "4 cells, 0 already done, 4 to run" in text and "estimate: about" in text
    assert "at most" not in text.split("estimate:")[1]                    # a measured estimate, not a bound
    assert not _cells(out)                                                 # a dry run runs nothing
    assert main(base) == 0
    assert not (out / sweep.LOCK_FILE).exists()                            # the sweep's lock is released
    text = capsys.readouterr().out
    assert "T=10" in text and "T=12" in text and "smart-tanh  msgd-cr" in text and "gru         msgd-cr" in text
    first = _rows(out)
    assert len(first) == 4 and {r["cell"] for r in first} == {"rnn", "gru"}
    assert all(r["outcome"] == "budget" and r["updates"] == "20" for r in first)
    assert (out / "figure7.png").stat().st_size > 5000
    for r in first:                                                        # result.json holds the config
        stored = _result(Path(r["folder"]))
        assert stored["key"] == r["key"] and stored["config"]["length"] == int(r["length"])
        assert (Path(r["folder"]) / "checkpoint.npz").exists()
    assert main(base + ["--dry-run"]) == 0
    assert "4 cells, 4 already done, 0 to run" in capsys.readouterr().out

    # The new user's sweep: another task and learning rate into the same folder.
    changed = [a for a in base if a not in ("gru",)] + ["--task", "addition", "--lr", "0.5"]
    assert main(changed) == 0
    second = _rows(out)
    assert len(second) == 2 and {r["task"] for r in second} == {"addition"} and {r["lr"] for r in second} == {"0.5"}
    assert not {r["key"] for r in second} & {r["key"] for r in first}
    assert len(_cells(out)) == 6                                           # the old cells stay on disk
    captured = capsys.readouterr()
    assert "Success rate (addition" in captured.out
    # the rnn cells of the first sweep have the same names: said, not silently passed over
    assert f"2 finished cells in {out} belong to another plan (" in captured.err
    assert "lr 0.01, task temporal_order" in captured.err and "not reused, kept" in captured.err

    assert main(base) == 0                                                 # the first sweep again: reused
    assert _rows(out) == first and len(_cells(out)) == 6


def test_torn_result_file_runs_the_cell_again(tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", "--lengths", "10", "--seeds", "0", "1", "--methods", "msgd-c", "--inits", "smart-tanh",
            "--eval-every", "10", "--max-updates", "20", "--out", str(out), *SMALL]
    assert main(argv) == 0
    before = {r["name"]: r for r in _rows(out)}
    torn = Path(before["smart-tanh-msgd-c-T10-s1"]["folder"]) / "result.json"
    text = torn.read_text()
    torn.write_text(text[: len(text) // 2])
    capsys.readouterr()
    assert main(argv) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(torn) in err[0] and "unreadable" in err[0]
    after = {r["name"]: r for r in _rows(out)}
    assert after["smart-tanh-msgd-c-T10-s0"] == before["smart-tanh-msgd-c-T10-s0"]      # untouched
    redone = _result(torn.parent)                                          # readable again, same outcome
    expected = _result_fields(before["smart-tanh-msgd-c-T10-s1"])
    assert {field: redone[field] for field in expected} == expected
    assert redone["resumed_from"] == 20                                    # from its checkpoint, not from zero


def _result_fields(row):
    return {"key": row["key"], "outcome": row["outcome"], "updates": int(row["updates"]),
            "last_error": float(row["last_error"]), "best_error": float(row["best_error"])}


def test_diverging_cell_is_an_outcome_and_the_others_finish(tmp_path, capsys):
    out = tmp_path / "sw"
    argv = ["sweep", "--task", "addition", "--lengths", "10", "--seeds", "0", "--methods", "msgd", "msgd-c",
            "--inits", "smart-tanh", "--lr", "10000", "--eval-every", "10", "--max-updates", "40",
            "--out", str(out), *SMALL]
    assert main(argv) == 0
    rows = {r["method"]: r for r in _rows(out)}
    assert rows["msgd"]["outcome"].startswith("diverged at update ") and rows["msgd"]["success"] == "False"
    assert rows["msgd-c"]["outcome"] == "budget" and rows["msgd-c"]["updates"] == "40"
    assert "smart-tanh-msgd-T10-s0: diverged at update" in capsys.readouterr().out
    assert _result(Path(rows["msgd"]["folder"]))["outcome"] == rows["msgd"]["outcome"]      # stored: not run again


def test_a_crashing_cell_is_a_one_line_error_outcome(tmp_path):
    config = TrainConfig(task="temporal_order", length=10, hidden=6, device="cpu").validate().__dict__
    config = {**config, "hidden": 0}                                       # Trainer refuses it
    spec = {"key": "k" * 64, "name": "bad", "folder": str(tmp_path / "bad"), "config": config,
            "code": sweep.code_version()}
    result = sweep.run_cell(spec)
    assert result["outcome"].startswith("error: RunError: --hidden must be at least 1")
    assert "\n" not in result["outcome"]
    # an error says nothing of how the model trains: not a result, not stored, run again next time
    assert not result["final"] and not (tmp_path / "bad" / "result.json").exists()


def test_bad_input_is_one_line(capsys, tmp_path):
    assert main(["sweep", "--task", "no-such-task", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown task 'no-such-task'" in err[0]
    assert main(["sweep", "--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "1", "--lengths", "10",
                 "--seeds", "0", "--methods", "msgd", "--inits", "smart-tanh", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "could not connect to a Dask scheduler at tcp://127.0.0.1:9" in err[0]
    assert "dask scheduler" in err[0] and "dask worker" in err[0]


def test_worker_killed_mid_cell_resumes_from_its_checkpoint(tmp_path):
    out = tmp_path / "sw"
    cmd = [*_cli(), "sweep", *SLOW, "--seeds", "0", "--eval-every", "250", "--max-updates", "3000", "--out", str(out),
           *SMALL]
    log = open(tmp_path / "log.txt", "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
    try:
        def checkpointed():
            for folder in _cells(out):
                state = sweep._checkpoint_state(folder)
                if (folder / "running.json").exists() and state and 250 <= state.update < 3000:
                    return folder, state.update
        folder, at = _wait_for(checkpointed, 60, "a checkpoint of the running cell")
        pid = json.loads((folder / "running.json").read_text())["pid"]
        assert pid != proc.pid
        os.kill(pid, signal.SIGKILL)                                       # the worker, mid-cell
        assert proc.wait(timeout=120) == 0, (tmp_path / "log.txt").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    result = _result(folder)
    assert result["resumed_from"] >= at > 0                                # not from zero
    assert result["outcome"] == "budget" and result["updates"] == 3000
    # ... and it ends exactly where an uninterrupted run ends (a cell that packs trains packed,
    # alone too: its uninterrupted run is a pack of one)
    from tasks.packed import PackedTrainer
    once = tmp_path / "once"
    (state,) = PackedTrainer.for_folders([once], [TrainConfig(**result["config"])]).train(outs=[once], progress=False)
    assert (state.outcome, state.update, state.last_error, state.best_error) == \
        (result["outcome"], result["updates"], result["last_error"], result["best_error"])
    a, b = np.load(folder / "checkpoint.npz"), np.load(once / "checkpoint.npz")
    for name in a.files:
        if name.startswith("model."):
            np.testing.assert_array_equal(a[name], b[name])
    assert _wait_for(lambda: _group_gone(proc.pid), 10, "the sweep's processes to exit")


def _interrupt(tmp_path, out, cmd, presses):
    """Start ``cmd`` in its own process group, wait until both cells train, press Ctrl-C
    ``presses`` times (SIGINT to the whole group, as a terminal does); (rc, output, seconds)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(), text=True,
                            start_new_session=True)
    try:
        _wait_for(lambda: len([f for f in _cells(out) if (f / "running.json").exists()]) == 2, 60,
                  "both cells to start")
        time.sleep(0.7)
        start = time.monotonic()
        for i in range(presses):
            if i:
                time.sleep(0.1)
            os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        seconds = time.monotonic() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert _wait_for(lambda: _group_gone(proc.pid), 10, "the sweep's processes to exit")
    return proc.returncode, output, seconds


def test_ctrl_c_checkpoints_running_cells_and_a_rerun_completes_them(tmp_path):
    out = tmp_path / "sw"
    cmd = [*_cli(), "sweep", *SLOW, "--seeds", "0", "1", "--eval-every", "4000", "--max-updates", "4000",
           "--out", str(out), *SMALL]
    rc, output, seconds = _interrupt(tmp_path, out, cmd, presses=1)
    assert rc == 130 and "Traceback" not in output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "stopped by Ctrl-C: 2 running cell(s) checkpointed" in lines[0], output
    assert seconds < 20
    stopped_at = {}
    for folder in _cells(out):
        assert not (folder / "result.json").exists()                       # never recorded as a result
        state = sweep._checkpoint_state(folder)                            # checkpointed when stopped
        assert state.outcome == "interrupted" and 0 < state.update < 4000
        stopped_at[folder] = state.update
    assert _rows(out) == []
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    for folder, update in stopped_at.items():
        result = _result(folder)
        assert result["resumed_from"] == update and result["outcome"] == "budget" and result["updates"] == 4000
    assert len(_rows(out)) == 2


def test_second_ctrl_c_is_still_one_line_without_traceback(tmp_path):
    out = tmp_path / "sw"
    cmd = [*_cli(), "sweep", *SLOW, "--seeds", "2", "3", "--eval-every", "4000", "--max-updates", "4000",
           "--out", str(out), *SMALL]
    rc, output, seconds = _interrupt(tmp_path, out, cmd, presses=2)
    assert rc == 130 and "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert "stopped by Ctrl-C" in output and seconds < 20
    for folder in _cells(out):
        assert not (folder / "result.json").exists()


def test_sweep_cells_use_the_tasks_preset(tmp_path):
    """Addition's cells: 50 units, alpha .5, basic tanh (its preset); a flag given wins."""
    from tasks.cli import build_parser
    argv = ["sweep", "--task", "addition", "--lengths", "10", "--seeds", "0", "--methods", "msgd-cr",
            "--out", str(tmp_path / "s")]
    _, cells = sweep.plan_cells(build_parser().parse_args(argv), code="x")
    assert [(c["config"]["hidden"], c["config"]["alpha"], c["config"]["init"], c["config"]["lr"])
            for c in cells] == [(50, 0.5, "basic_tanh", 0.01)]
    _, cells = sweep.plan_cells(build_parser().parse_args(argv + ["--hidden", "6", "--inits", "sigmoid"]), code="x")
    assert [(c["config"]["hidden"], c["config"]["alpha"], c["config"]["init"]) for c in cells] == [(6, 0.5, "sigmoid")]
    _, cells = sweep.plan_cells(build_parser().parse_args(["sweep", "--lengths", "10", "--seeds", "0", "--methods",
                                                           "msgd", "--out", str(tmp_path / "t")]), code="x")
    assert [c["config"]["init"] for c in cells] == ["sigmoid", "basic_tanh", "smart_tanh"]    # Figure 7's rows
    assert {c["config"]["alpha"] for c in cells} == {4.0}


def test_the_seeds_of_a_grid_point_train_as_one_pack_with_the_results_of_separate_cells(tmp_path):
    """The default packs the 3 seeds of each (method, length); --pack 1 trains each cell alone,
    packed too (a pack of one): in float32, the same outcomes, update counts and errors, and
    the same final weights, log rows and gradient norms bit for bit, cell by cell.  (Alone, a
    cell once trained through Trainer, whose float32 trajectory differs in the last bits.)"""
    common = ["sweep", "--lengths", "10", "--seeds", "0", "1", "2", "--methods", "msgd-c", "msgd-cr",
              "--inits", "smart-tanh", "--dtype", "float32", "--eval-every", "10", "--max-updates", "60", *SMALL]
    assert main(common + ["--out", str(tmp_path / "packed")]) == 0
    assert main(common + ["--out", str(tmp_path / "alone"), "--pack", "1"]) == 0
    packed = {r["name"]: r for r in _rows(tmp_path / "packed")}
    alone = {r["name"]: r for r in _rows(tmp_path / "alone")}
    assert len(packed) == 6 and packed.keys() == alone.keys()
    for name in packed:
        assert _result_fields(packed[name]) == {**_result_fields(alone[name]), "key": packed[name]["key"]}
        a, b = Path(packed[name]["folder"]), Path(alone[name]["folder"])
        assert _result(a)["packed_with"] == 3 and _result(b)["packed_with"] == 1
        with np.load(a / "checkpoint.npz") as wa, np.load(b / "checkpoint.npz") as wb:
            names = [k for k in wa.files if k.startswith("model.")]
            assert names and names == [k for k in wb.files if k.startswith("model.")]
            for k in names:
                assert wa[k].dtype == np.float32
                np.testing.assert_array_equal(wa[k], wb[k], err_msg=f"{name} {k}")
        rows = [[{k: v for k, v in json.loads(line).items() if k != "wall_time"}
                 for line in (f / "log.jsonl").read_text().splitlines()] for f in (a, b)]
        assert len(rows[0]) == 6 and rows[0] == rows[1], name
        assert (a / "grad_norms.f32").read_bytes() == (b / "grad_norms.f32").read_bytes()


@pytest.mark.parametrize("pack", ["0", "-2"])
def test_pack_below_one_is_refused_in_one_line(pack, tmp_path, capsys):
    """--pack -2 once planned no pack at all: the sweep ran no cell and exited 0 ("0/0")."""
    argv = ["sweep", "--lengths", "10", "--seeds", "0", "1", "--methods", "msgd", "--inits", "smart-tanh",
            "--max-updates", "10", "--pack", pack, "--out", str(tmp_path / "s"), *SMALL]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"minigrad: error: --pack must be at least 1 (1: every cell alone), got {pack}"]
    assert not (tmp_path / "s").exists()


def test_the_csv_names_the_dtype_a_cell_trained_in(tmp_path):
    """A cell without --dtype trains in its task preset's float32 (the paper's); a config with no
    dtype at all (a library caller's) in its device's default, float64 on the CPU, which its key
    already resolves: the CSV names it (it was an empty column)."""
    from tasks.cli import build_parser
    argv = ["sweep", "--lengths", "10", "--seeds", "0", "--methods", "msgd", "--inits", "smart-tanh",
            "--out", str(tmp_path)]
    rows, cells = sweep.plan_cells(build_parser().parse_args(argv), code="x")
    _, cells64 = sweep.plan_cells(build_parser().parse_args(argv + ["--dtype", "float64"]), code="x")
    unset = [{**c, "key": "u" * 64, "config": {**c["config"], "dtype": None}} for c in cells]
    results = {c["key"]: {"name": c["name"], "outcome": "budget", "success": False, "updates": 10}
               for c in cells + cells64 + unset}
    sweep.write_csv(tmp_path, cells, results)
    assert [r["dtype"] for r in _rows(tmp_path)] == ["float32"]
    sweep.write_csv(tmp_path, cells64, results)
    assert [r["dtype"] for r in _rows(tmp_path)] == ["float64"]
    sweep.write_csv(tmp_path, unset, results)
    assert [r["dtype"] for r in _rows(tmp_path)] == ["float64"]
