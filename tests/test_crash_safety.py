"""Crash safety of a run folder (tasks/runfiles.py): a write cut short by a full disk or a
file-size limit leaves no half row in the log and names the file; a torn last line left by a
crash does not break the log when the next row is appended; a copy of the checkpoint (best.npz,
a snapshot) that a kill left stale is restored before a resume; a torn checkpoint is refused in
one line; and a run stopped between evaluations and resumed ends as an uninterrupted run ends."""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from tasks import cli
from tasks import runfiles
from tasks.runfiles import RunFiles
from tasks.train import TrainConfig, Trainer, prepare_run

ROOT = Path(__file__).resolve().parents[1]


def _child(code: str, limit: int) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python whose files cannot grow past ``limit`` bytes (RLIMIT_FSIZE: a
    full disk as a process meets it; Python ignores SIGXFSZ, so the write fails with EFBIG)."""
    pre = f"import resource; resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))\n"
    return subprocess.run([sys.executable, "-c", pre + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)


def test_log_row_cut_short_by_a_full_disk_is_undone_and_named(tmp_path):
    files = RunFiles(tmp_path)
    files.log({"update": 10, "error": 0.5})
    size = files.log_path.stat().st_size
    r = _child(f"""
        from tasks.runfiles import RunFiles
        try:
            RunFiles({str(tmp_path)!r}).log({{"update": 20, "note": "x" * 500}})
        except OSError as e:
            print("ERROR", e)
        """, size + 40)
    assert "ERROR" in r.stdout and "log.jsonl" in r.stdout, r.stdout + r.stderr
    assert files.log_path.stat().st_size == size                 # no half row left behind
    assert files.rows() == [{"update": 10, "error": 0.5}]
    files.log({"update": 20, "error": 0.25})                       # and the next row reads back
    assert [row["update"] for row in files.rows()] == [10, 20]


def test_norms_cut_short_are_undone(tmp_path):
    files = RunFiles(tmp_path)
    files.append_norms(np.arange(5, dtype=np.float32))
    r = _child(f"""
        import numpy as np
        from tasks.runfiles import RunFiles
        try:
            RunFiles({str(tmp_path)!r}).append_norms(np.ones(100, np.float32))
        except OSError as e:
            print("ERROR", e)
        """, 20 + 6)
    assert "ERROR" in r.stdout and "grad_norms.f32" in r.stdout, r.stdout + r.stderr
    np.testing.assert_array_equal(np.fromfile(tmp_path / "grad_norms.f32", np.float32), np.arange(5))


def test_atomic_write_cut_short_names_the_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")
    r = _child(f"""
        from tasks.runfiles import atomic_write
        try:
            atomic_write({str(target)!r}, b"n" * 10000)
        except OSError as e:
            print("ERROR", e)
        """, 1000)
    assert "ERROR" in r.stdout and str(target) in r.stdout, r.stdout + r.stderr
    assert target.read_bytes() == b"old"
    assert not list(tmp_path.glob(".*.tmp"))                       # no temporary file left


def test_a_row_appended_after_a_torn_line_keeps_the_log_readable(tmp_path):
    files = RunFiles(tmp_path)
    files.log({"update": 10, "error": 0.5})
    with open(files.log_path, "ab") as f:                          # a crash mid-write
        f.write(b'{"update": 20, "err')
    assert files.rows() == [{"update": 10, "error": 0.5}]          # readers skip the torn line
    files.log({"update": 20, "error": 0.25})                       # a writer that did not trim
    assert files.rows() == [{"update": 10, "error": 0.5}, {"update": 20, "error": 0.25}]
    assert files.log_path.read_text().count("\n") == 2


def test_torn_file_with_no_newline_at_all(tmp_path):
    files = RunFiles(tmp_path)
    files.log_path.write_bytes(b'{"upd')
    files.log({"update": 5})
    assert files.rows() == [{"update": 5}]


def _checkpoint(files, update, value):
    meta = json.dumps({"config": {}, "state": {"update": update}})
    files.write_checkpoint({"w": np.full(3, value, np.float32), "meta": np.array(meta)}, {})


def test_restore_copy_replaces_a_stale_or_missing_copy_only(tmp_path):
    checkpoint_update = runfiles.checkpoint_update
    files = RunFiles(tmp_path)
    _checkpoint(files, 20, 1.0)
    files.keep_copy("best.npz")
    _checkpoint(files, 40, 2.0)                                    # killed before best.npz was copied
    assert checkpoint_update(tmp_path / "best.npz") == 20
    assert not files.restore_copy("best.npz", 20)                  # best.npz is right: kept
    assert checkpoint_update(tmp_path / "best.npz") == 20
    assert files.restore_copy("best.npz", 40)
    np.testing.assert_array_equal(mg.load(tmp_path / "best.npz")["w"], np.full(3, 2.0, np.float32))
    assert not files.restore_copy("best.npz", 60)                  # the checkpoint is not of 60: nothing to copy from
    assert files.restore_copy("snapshots/checkpoint_00000040.npz", 40)
    assert checkpoint_update(tmp_path / "snapshots/checkpoint_00000040.npz") == 40
    (tmp_path / "best.npz").write_bytes(b"PK\x03\x04torn")         # unreadable: treated as stale
    assert checkpoint_update(tmp_path / "best.npz") is None
    assert files.restore_copy("best.npz", 40)


ARGS = ["train", "temporal-order", "--length", "10", "--hidden", "4", "--eval-every", "10",
        "--eval-size", "20", "--quiet"]


def test_torn_checkpoint_is_refused_in_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    Trainer(TrainConfig.for_task("temporal_order", length=10, hidden=4, eval_every=10, eval_size=20,
                                 max_updates=10)).train(out, progress=False)
    data = (out / "checkpoint.npz").read_bytes()
    (out / "checkpoint.npz").write_bytes(data[: len(data) // 2])
    capsys.readouterr()
    assert cli.main(ARGS + ["--max-updates", "40", "--out", str(out), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and "checkpoint.npz" in err, err


def _comparable(folder):
    rows = RunFiles(folder).rows()
    for row in rows:
        row.pop("wall_time")
    return rows


def test_stopped_between_evaluations_and_resumed_ends_as_uninterrupted(tmp_path):
    """A run stopped mid-period (after update 13 of 20, with a torn last log line and a stale
    norms tail as a kill leaves them) and resumed ends with the weights, log and gradient norms
    of the run that was never stopped (float32 on the CPU: the same operations in the same
    order)."""
    config = TrainConfig.for_task("temporal_order", length=10, hidden=4, eval_every=10, eval_size=20,
                                  max_updates=20)
    whole = Trainer(config)
    whole.train(tmp_path / "whole", progress=False)

    part = Trainer(config)
    part.train(tmp_path / "part", progress=False, stop=lambda: part.state.update >= 13)
    assert part.state.update == 13 and part.state.outcome == "interrupted"
    with open(tmp_path / "part" / "log.jsonl", "ab") as f:
        f.write(b'{"update": 20, "lo')
    with open(tmp_path / "part" / "grad_norms.f32", "ab") as f:
        f.write(b"\x00" * 10)
    resumed = prepare_run(tmp_path / "part", config, resume=True)
    resumed.train(tmp_path / "part", progress=False)

    assert _comparable(tmp_path / "part") == _comparable(tmp_path / "whole")
    for name in ("checkpoint.npz", "best.npz"):
        a, b = mg.load(tmp_path / "whole" / name), mg.load(tmp_path / "part" / name)
        assert a.keys() == b.keys()
        for k in a:
            if k != "meta":
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{name} {k}")
    np.testing.assert_array_equal(np.fromfile(tmp_path / "part" / "grad_norms.f32", np.float32),
                                  np.fromfile(tmp_path / "whole" / "grad_norms.f32", np.float32))


def test_resume_restores_best_and_snapshot_a_kill_left_stale(tmp_path):
    """A kill after checkpoint.npz was written but before best.npz and the snapshot were copied
    from it: the resume makes both (the snapshot was missing for good, best.npz was older)."""
    from tasks.runfiles import checkpoint_update
    from tasks.train import TrainConfig, Trainer, prepare_run
    config = TrainConfig.for_task("temporal_order", length=10, hidden=4, eval_every=10, eval_size=20, max_updates=20)
    run = Trainer(config)
    run.train(tmp_path, progress=False, stop=lambda: run.state.update >= 20)
    history = run.state.history
    best = min(range(len(history)), key=lambda i: (history[i]["error"], i))
    assert checkpoint_update(tmp_path / "best.npz") == history[best]["update"]
    # the state a kill right after checkpoint.npz (update 20) leaves: no snapshot of 20, best.npz older
    (tmp_path / "snapshots" / "checkpoint_00000020.npz").unlink()
    (tmp_path / "best.npz").write_bytes((tmp_path / "snapshots" / "checkpoint_00000010.npz").read_bytes())
    prepare_run(tmp_path, config, resume=True)
    assert checkpoint_update(tmp_path / "snapshots" / "checkpoint_00000020.npz") == 20
    assert checkpoint_update(tmp_path / "best.npz") == history[best]["update"]


def test_translate_resumes_from_a_checkpoint_written_mid_run(tmp_path, monkeypatch, capsys):
    """The checkpoint `translate` writes at each evaluation has no outcome yet (a kill -9 or a
    SIGTERM leaves exactly that one): --resume continues from it (it raised AttributeError)."""
    from tasks.cli import main
    from tasks.runfiles import RunFiles
    out = tmp_path / "t"
    kept = {}
    write = RunFiles.write_checkpoint

    def keep_first(self, arrays, config):
        write(self, arrays, config)
        kept.setdefault("bytes", (out / "checkpoint.npz").read_bytes())      # the one of update 5
    monkeypatch.setattr(RunFiles, "write_checkpoint", keep_first)
    tiny = ["translate", "--max-length", "3", "--embed", "4", "--hidden", "6", "--attention", "4", "--eval-every", "5",
            "--eval-size", "10", "--quiet", "--out", str(out)]
    assert main(tiny + ["--max-updates", "10"]) == 0
    monkeypatch.setattr(RunFiles, "write_checkpoint", write)
    (out / "checkpoint.npz").write_bytes(kept["bytes"])                  # as a kill after update 5 left it
    capsys.readouterr()
    assert main(tiny + ["--max-updates", "10", "--resume"]) == 0, capsys.readouterr().err
    assert "after 10 updates" in capsys.readouterr().out


COPY_TINY = ["copy", "--max-length", "3", "--memory-slots", "8", "--hidden", "8", "--eval-every", "5", "--eval-per-length", "2",
             "--test-lengths", "3", "--test-size", "4", "--quiet"]
TRANSLATE_TINY = ["translate", "--max-length", "3", "--embed", "4", "--hidden", "6", "--attention", "4",
                  "--eval-every", "5", "--eval-size", "10", "--quiet"]


@pytest.mark.parametrize("command", ["copy", "translate"])
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_copy_and_translate_stop_cleanly_on_ctrl_c_and_sigterm(command, signame, tmp_path):
    """A real signal to a running `minigrad copy` / `translate`: the update under way is finished
    (copy took Ctrl-C as a KeyboardInterrupt, which could land between two parameters' steps;
    translate ignored SIGTERM and lost the work since its last evaluation), a checkpoint written,
    one line, exit 128 + the signal; --resume continues from there."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from tasks.cli import main
    from tasks.runfiles import checkpoint_update
    sig = getattr(signal, signame)
    out = tmp_path / "run"
    argv = (COPY_TINY if command == "copy" else TRANSLATE_TINY) + ["--out", str(out)]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "tasks.cli"] + argv + ["--max-updates", "1000000"], cwd=root,
                            env={**os.environ, "PYTHONPATH": root}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.time() + 120
    while not (out / "log.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr and "minigrad: interrupted (continue with --resume" in stderr, stderr
    stopped = checkpoint_update(out / "checkpoint.npz")
    assert stopped >= 5
    assert main(argv + ["--max-updates", str(stopped + 5), "--resume"]) == 0
    assert checkpoint_update(out / "checkpoint.npz") == stopped + 5
