"""bench/sweep_status.py: where a long sweep stands and how long it still needs, from its folder."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _cell(out, name, length, seed, result=None, log=(), **settings):
    folder = out / "cells" / f"{name}-{seed}"
    folder.mkdir(parents=True)
    config = {"init": "smart_tanh", "method": "msgd", "length": length, "seed": seed, "max_updates": 10_000,
              **settings}
    (folder / "cell.json").write_text(json.dumps({"name": name, "config": config}))
    if result is not None:
        (folder / "result.json").write_text(json.dumps(result))
    if log:
        (folder / "log.jsonl").write_text("".join(json.dumps({"update": u, "wall_time": w}) + "\n" for u, w in log)
                                          + '{"update": 99')           # a torn last line: skipped


def _status(out, *extra):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "sweep_status.py"), str(out), *extra],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_rates_from_finished_and_running_cells_and_the_time_left(tmp_path):
    # a finished pack at T = 20: two cells of one task, 1,000 updates each in 100 s -> 20 model-updates/s
    for seed in (0, 1):
        _cell(tmp_path, "p20", 20, seed, result={"outcome": "success", "updates": 1000, "seconds": 100.0})
    # a pack running at T = 50, resumed once (wall_time starts again): since then 1,000 updates in
    # 100 s per cell, two cells -> 20 model-updates/s; the rows before the resume do not count
    for seed in (0, 1):
        _cell(tmp_path, "p50", 50, seed, log=[(500, 9000.0), (1000, 9100.0), (1500, 10.0), (2000, 60.0), (2500, 110.0)])
    out = _status(tmp_path, "--plan", "smart_tanh", "msgd", "20,50,100", "0,1", "--max-updates", "10000")
    assert "T = 20: 20 (measured)" in out
    assert "T = 50: 20 (measured on running cells" in out
    assert "T = 100: 10 (from T = 50)" in out                    # 20 * 50 / 100
    # left: the T = 50 cells 2 x 7,500 updates at 20/s = 750 s; the two T = 100 cells of the plan
    # not started, 2 x 10,000 at 10/s = 2,000 s; 2,750 s = 45.8 min
    assert "at most 46 min left on 1 worker(s)" in out             # 45.8 min: not "0.8 h"
    assert "2 of 6 cells finished" in out


def test_cells_of_another_plan_are_never_counted_with_a_grid_points_cells(tmp_path):
    # the trial's folder: seeds 0-2 with a budget of 400, then seed 0 again with a budget of 200
    for seed in (0, 1, 2):
        _cell(tmp_path, "b400", 20, seed, result={"outcome": "budget", "updates": 400, "seconds": 4.0},
              max_updates=400)
    _cell(tmp_path, "b200", 20, 0, result={"outcome": "budget", "updates": 200, "seconds": 2.0}, max_updates=200)
    out = _status(tmp_path)
    assert "4/4" not in out                                       # what it said: seed 0 counted twice
    rows = [line.split() for line in out.splitlines() if line.startswith("smart_tanh")]
    assert sorted(r[4] for r in rows) == ["1/1", "3/3"] and sorted(r[3] for r in rows) == ["A", "B"]
    assert "A: max_updates 200" in out and "B: max_updates 400" in out
    assert "smart_tanh msgd T = 20 (A, B)" in out                 # the point that mixes settings is named
    # --plan counts only its budget's cells, and says how many it left out
    out = _status(tmp_path, "--plan", "smart_tanh", "msgd", "20", "0,1,2", "--max-updates", "400")
    assert [line.split()[3] for line in out.splitlines() if line.startswith("smart_tanh")] == ["3/3"]
    assert "1 cell in" in out and "not counted (max_updates 200: 1)" in out
    assert "3 of 3 cells finished" in out
    out = _status(tmp_path, "--plan", "smart_tanh", "msgd", "20", "0,1,2", "--max-updates", "200")
    assert [line.split()[3] for line in out.splitlines() if line.startswith("smart_tanh")] == ["1/1"]
    assert "2 cells of the plan not started yet" in out and "1 of 3 cells finished" in out


def test_other_settings_than_the_budget_split_the_count_too_and_flags_choose_them(tmp_path):
    for seed in (0, 1):
        _cell(tmp_path, "e500", 20, seed, result={"outcome": "success", "updates": 100, "seconds": 1.0},
              eval_size=500, dtype="float32")
    _cell(tmp_path, "e1k", 20, 0, result={"outcome": "budget", "updates": 10_000, "seconds": 100.0},
          eval_size=1000, dtype="float32")
    _cell(tmp_path, "f64", 20, 1, result={"outcome": "budget", "updates": 10_000, "seconds": 100.0},
          eval_size=500, dtype="float64")
    out = _status(tmp_path)
    done = sorted(line.split()[4] for line in out.splitlines() if line.startswith("smart_tanh"))
    assert done == ["1/1", "1/1", "2/2"]
    assert "eval_size 1000" in out and "dtype float64" in out
    out = _status(tmp_path, "--plan", "smart_tanh", "msgd", "20", "0,1", "--max-updates", "10000",
                  "--eval-size", "500", "--dtype", "float32")
    assert [line.split()[3:5] for line in out.splitlines() if line.startswith("smart_tanh")] == [["2/2", "2/2"]]
    assert "2 cells in" in out


def test_time_left_under_an_hour_is_in_minutes_or_seconds(tmp_path):
    # 1,000 updates in 100 s -> 10/s; a running cell with 9,000 of 10,000 updates left -> 900 s = 15 min
    _cell(tmp_path, "p20", 20, 0, result={"outcome": "success", "updates": 1000, "seconds": 100.0})
    _cell(tmp_path, "p20", 20, 1, log=[(500, 1.0), (1000, 2.0)])
    out = _status(tmp_path)
    assert "0.0 h" not in out and "0.3 h" not in out
    assert "at most 15 min left on 1 worker(s)" in out
    _cell(tmp_path, "q20", 20, 2, log=[(9950, 1.0), (9960, 2.0)])       # and 40 updates more: 4 s
    out = _status(tmp_path, "--workers", "100")
    assert "at most 9 s left on 100 worker(s)" in out                   # (900 + 4) / 100


def test_nothing_measured_is_unknown_not_zero(tmp_path):
    for seed in (0, 1):
        _cell(tmp_path, "p50", 50, seed, log=[(0, 0.0)])          # started, no progress logged yet
    out = _status(tmp_path)
    assert "time left unknown" in out and "0.0 h" not in out


def test_program_profile_sorts_program_lines_by_kind_and_times_them():
    saved = list(sys.path)          # the bench scripts add the repository to sys.path as "bench/..":
    sys.path.insert(0, str(ROOT / "bench"))     # left there, pdoc (test_docs) would warn that rnn,
    try:                                        # tasks and viz may be two modules each
        import program_profile as pp
    finally:
        sys.path[:] = saved
    kinds = {"r8 = xp.matmul(c2, r1)": "products", "r292 = r291 @ r290": "products",
             "r12 = xp.tanh(r11)": "tanh", "r297 = xp.sum(r296, axis=(1,), keepdims=True)": "sums",
             "r295 = 1 - r294": "elementwise", "r170 += r298": "elementwise",
             "r289 = xp.concatenate([r125, r119], axis=(-2))": "concatenate", "r7 = r5[0]": "other",
             "r285 = xp.swapaxes(r36, (-1), (-2))": "other"}
    assert {line: pp.kind(line) for line in kinds} == kinds
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "program_profile.py"), "--length", "10", "--size", "2",
                        "--updates", "1", "--repeats", "1"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line.split()[1:] for line in r.stdout.splitlines()[2:8]}
    assert list(rows) == list(pp.KINDS)
    assert float(rows["products"][0]) > 0 and float(rows["tanh"][0]) > 0     # timed, not left at 0
    assert "packing gain of this program" in r.stdout


def test_program_profile_refuses_a_length_the_task_cannot_make_in_one_line():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "program_profile.py"), "--length", "4"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "--length must be at least 10, got 4" in r.stderr.strip().splitlines()[-1]


# ----------------------------------------------------------------------------- bench/keep_runs.py
def _keep(*args):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "keep_runs.py"), *map(str, args)],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def test_keep_runs_carries_what_a_resume_needs_and_leaves_the_rest(tmp_path):
    import os
    runs = tmp_path / "runs"
    keep = ["figure7.sh", "figure7.log", "figure7/cells/a/cell.json",
            "figure7/cells/a/checkpoint.npz", "figure7/cells/a/log.jsonl", "figure7/cells/a/result.json",
            "gen/to3/config.json", "gen/to3/best.npz", "gen/to3_evaluate.txt"]
    leave = ["figure7/cells/a/grad_norms.f32", "figure7/cells/a/grad_norms.png", "figure7/cells/a/running.json",
             "gen/to3/snapshots/checkpoint.npz", "gen/to3/notes.sh",
             "figure7/sweep.csv"]                          # the sweep writes it again from its cells
    for name in keep + leave:
        (runs / name).parent.mkdir(parents=True, exist_ok=True)
        (runs / name).write_text(name)
    saved = tmp_path / "saved"
    assert _keep("save", runs, saved) == (0, f"keep_runs: save: {len(keep)} files from {runs} to {saved}\n")
    assert sorted(str(p.relative_to(saved)) for p in saved.rglob("*") if p.is_file()) == sorted(keep)
    # restore onto a machine where one file is newer than the saved one: it is kept
    fresh = tmp_path / "fresh"
    (fresh / "gen" / "to3").mkdir(parents=True)
    (fresh / "gen/to3/config.json").write_text("newer")
    os.utime(saved / "gen/to3/config.json", (1, 1))
    code, out = _keep("restore", saved, fresh)
    assert code == 0 and out.startswith(f"keep_runs: restore: {len(keep) - 1} files")
    assert (fresh / "gen/to3/config.json").read_text() == "newer"
    assert (fresh / "gen/to3_evaluate.txt").read_text() == "gen/to3_evaluate.txt"
    assert _keep("restore", tmp_path / "missing", fresh)[0] == 2
