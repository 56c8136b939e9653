"""An outside check of what a sweep reports: a cell whose training raised (a full disk, a lost
file) is not a result -- not stored, not counted, run again next time, and then it ends where it
would have ended uninterrupted; a result.json edited by hand or damaged so that it still parses
is not trusted; the CSV marks the rows that are not results so that a mean over its ``success``
column skips them; the progress line's time left is an estimate, not a bound; a dry run stopped
by SIGTERM says so.

The cells are trained in-process through :func:`tasks.sweep.run_pack` (what a Dask worker runs);
tiny float32 cells (hidden 6, T 10, 100 evaluation sequences)."""
import csv
import errno
import json
import signal
from pathlib import Path

import numpy as np
import pytest

from tasks import sweep
from tasks.cli import build_parser
from tasks.runfiles import RunFiles

GRID = ["sweep", "--lengths", "10", "--seeds", "0", "1", "--methods", "msgd-cr", "--inits", "smart-tanh",
        "--hidden", "6", "--eval-size", "100", "--eval-every", "10", "--max-updates", "40", "--target-error", "0"]


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """The runs' pictures change no number and cost most of a tiny cell's time: not drawn."""
    monkeypatch.setattr(RunFiles, "plot", lambda self, *a, **k: None)


def _plan(out, argv=GRID):
    args = build_parser().parse_args(argv + ["--out", str(out)])
    rows, cells = sweep.plan_cells(args)
    return args, rows, cells


def _final_state(folder):
    """A finished cell's weights, log rows (less wall_time) and gradient norms."""
    with np.load(folder / "checkpoint.npz") as arrays:
        weights = {k: arrays[k].copy() for k in arrays.files if k.startswith("model.")}
    rows = [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
            for line in (folder / "log.jsonl").read_text().splitlines()]
    return weights, rows, (folder / "grad_norms.f32").read_bytes()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The grid's two cells trained once, uninterrupted: (folder, cells, results)."""
    out = tmp_path_factory.mktemp("ref")
    mp = pytest.MonkeyPatch()
    mp.setattr(RunFiles, "plot", lambda self, *a, **k: None)
    try:
        _, _, cells = _plan(out)
        results = sweep.run_pack(cells)["pack"]
    finally:
        mp.undo()
    assert [r["outcome"] for r in results] == ["budget", "budget"] and all(r["final"] for r in results)
    return out, cells, results


def test_a_full_disk_is_not_a_result_and_the_cell_resumes_to_the_same_end(tmp_path, monkeypatch, reference):
    """The disk fills up at the checkpoint of update 30: the cells' training raises.  That is no
    outcome of training: before, "error: OSError: ... No space left on device" was written into
    result.json (when that small file still fitted), counted as a failed run in the success rate,
    and reused by every later sweep -- the cells never trained again.  Now it is not stored nor
    counted, and the next run resumes from the checkpoint of update 20 and ends bit for bit
    where the uninterrupted cells ended."""
    _, ref_cells, ref_results = reference
    args, rows, cells = _plan(tmp_path)
    real = RunFiles.checkpoint

    def full_disk(self, trainer):
        if trainer.state.update >= 30:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.checkpoint_path))
        return real(self, trainer)
    monkeypatch.setattr(RunFiles, "checkpoint", full_disk)
    first = sweep.run_pack(cells)["pack"]
    assert all(r["outcome"].startswith("error: OSError") and "No space left" in r["outcome"] for r in first)
    assert not any(r["final"] for r in first)
    assert not any((Path(c["folder"]) / "result.json").exists() for c in cells)
    assert all(sweep.read_result(c["folder"], c["key"]) == (None, None) for c in cells)     # run again next time

    results = {c["key"]: sweep._clean(r, c) for c, r in zip(cells, first)}
    assert sweep._rates(rows, args.methods, args.lengths, cells, results) == {("smart-tanh", "msgd-cr"): [(10, 0, 0)]}

    monkeypatch.setattr(RunFiles, "checkpoint", real)                   # space again: the next sweep
    second = sweep.run_pack(cells)["pack"]
    for c, r, ref_c, ref_r in zip(cells, second, ref_cells, ref_results):
        assert r["final"] and r["resumed_from"] == 20
        assert {k: r[k] for k in ("outcome", "updates", "last_error", "best_error")} == \
            {k: ref_r[k] for k in ("outcome", "updates", "last_error", "best_error")}
        (wa, la, ga), (wb, lb, gb) = _final_state(Path(c["folder"])), _final_state(Path(ref_c["folder"]))
        assert wa.keys() == wb.keys() and la == lb and ga == gb and len(ga) == 4 * 40
        for k in wa:
            np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


def _edits(result):
    """Hand edits (or damage) that leave result.json valid JSON with the cell's key."""
    budget = result["config"]["max_updates"]
    return {
        "outcome budget -> success": {**result, "outcome": "success", "success": True},
        "success flag flipped": {**result, "success": True},
        "an error outcome (stored by older code)": {**result, "outcome": "error: OSError: [Errno 28] No space left",
                                                    "success": False},
        "updates beyond the budget": {**result, "updates": budget + 1000},
        "budget before the budget": {**result, "updates": budget - 10},
        "updates as text": {**result, "updates": str(budget)},
        "config edited": {**result, "config": {**result["config"], "lr": 0.5}},
        "code version edited": {**result, "code": "0" * 16},
        "no config": {k: v for k, v in result.items() if k != "config"},
    }


def test_a_result_edited_by_hand_is_not_trusted_and_the_cell_rebuilds_it(tmp_path, reference):
    """A result.json that parses and holds the cell's key was trusted whatever else it said: an
    outcome changed by hand to success showed in the table as a success.  Now its config and
    code must hash to its key and its outcome must agree with its success flag, update count and
    errors; otherwise it is damaged, said in one line, and the cell runs again from its
    checkpoint -- which, at its end already, gives back the true result."""
    out, cells, results = reference
    cell = cells[0]
    folder = Path(cell["folder"])
    true = json.loads((folder / "result.json").read_text())
    assert sweep.read_result(folder, cell["key"]) == (true, None)            # the real one is trusted
    try:
        for what, edited in _edits(true).items():
            (folder / "result.json").write_text(json.dumps(edited))
            result, problem = sweep.read_result(folder, cell["key"])
            assert result is None, what
            kind = "holds an error of an earlier sweep" if what.startswith("an error") else "is damaged ("
            assert problem.startswith(f"{folder / 'result.json'} {kind}") and "runs again" in problem, what
            assert "\n" not in problem
        (folder / "result.json").write_text(json.dumps(_edits(true)["outcome budget -> success"]))
        (again,) = sweep.run_pack([cell])["pack"]                           # the next sweep
        assert again["final"] and again["resumed_from"] == 40
        assert (again["outcome"], again["success"], again["updates"]) == ("budget", False, 40)
        assert sweep.read_result(folder, cell["key"])[0]["outcome"] == "budget"
    finally:
        (folder / "result.json").write_text(json.dumps(true, indent=1))


def test_the_csv_marks_what_is_not_a_result_and_a_mean_over_success_skips_it(tmp_path, capsys):
    """A cell whose worker died three times (or whose training raised) was a row of sweep.csv
    with success False: any reader of the CSV (viz.plots.success_rate, a pandas mean) counted it
    as a failed run.  Its ``success`` is now empty and ``counted`` False; the table's count of
    cells without a result includes it."""
    args, rows, cells = _plan(tmp_path)
    ok, dead = cells
    results = {ok["key"]: {"key": ok["key"], "name": ok["name"], "outcome": "success", "success": True,
                           "updates": 30},
               dead["key"]: sweep._clean({"outcome": "error: its worker died every time it ran it (KilledWorker)",
                                          "final": False}, dead)}
    sweep.write_csv(tmp_path, cells, results)
    table = list(csv.DictReader(open(tmp_path / "sweep.csv")))
    assert [(r["name"], r["counted"], r["success"]) for r in table] == \
        [(ok["name"], "True", "True"), (dead["name"], "False", "")]
    rates = [r["success"] == "True" for r in table if r["success"] != ""]          # what a mean skipping blanks sees
    assert rates == [True]
    assert sweep.print_table(args, rows, cells, results) == 1
    out = capsys.readouterr().out
    assert "smart-tanh  msgd-cr      1/1" in out
    assert "(not counted, not stored: it runs again next time)" in out
    assert "1 cell(s) without a result: the table counts finished cells only" in out


def test_progress_time_left_is_an_estimate_not_a_bound(capsys):
    """The time left is the remaining updates over the last minute's rate (packs still to set
    up, other load, ...): it was printed as "at most"."""
    progress = sweep._Progress(quiet=False, total=4, done=1)
    progress.tty = False
    progress.show(1, 2, 1, 120.0, 3725.0, force=True)
    err = capsys.readouterr().err
    assert err == "minigrad sweep: 1/4 cells done, 2 running, 1 queued, 120 updates/s, about 1h02m left\n"


def test_a_dry_run_stopped_by_sigterm_says_sigterm_and_exits_143(tmp_path, capsys):
    args, rows, cells = _plan(tmp_path / "d")
    signals = sweep._Signals()
    signals.count, signals.signum = 1, signal.SIGTERM
    assert sweep.dry_run(args, rows, cells, {}, 1, "local worker processes", signals) == 143
    assert capsys.readouterr().err == "minigrad sweep: stopped by SIGTERM while timing\n"


def test_a_diverged_cell_whose_result_was_lost_is_rebuilt_with_its_update(tmp_path):
    """A cell that diverged keeps its last finite weights in its checkpoint (saved at an
    evaluation before the update that diverged) with the outcome written in.  When its
    result.json was lost, the sweep rebuilt it from that checkpoint with the checkpoint's update
    count: "diverged at update 14" reported ``updates`` 0.  It is the update it diverged at."""
    argv = ["sweep", "--task", "addition", "--lengths", "10", "--seeds", "0", "--methods", "msgd", "--inits",
            "smart-tanh", "--hidden", "6", "--eval-size", "100", "--eval-every", "50", "--max-updates", "100",
            "--lr", "3"]
    _, _, cells = _plan(tmp_path, argv)
    (first,) = sweep.run_pack(cells)["pack"]
    assert first["final"] and first["outcome"].startswith("diverged at update ")
    n = int(first["outcome"].split()[3].rstrip(":"))
    assert 0 < n < 50 and first["updates"] == n                  # before the first checkpoint (update 50)
    folder = Path(cells[0]["folder"])
    (folder / "result.json").unlink()
    (again,) = sweep.run_pack(cells)["pack"]
    assert again["final"] and again["outcome"] == first["outcome"]
    assert (again["updates"], again["last_error"], again["best_error"]) == \
        (first["updates"], first["last_error"], first["best_error"])
    assert sweep.read_result(folder, cells[0]["key"])[0]["updates"] == n


class _ClientWithoutScheduler:
    """What a Dask client is after its scheduler died and it gave up reconnecting (it tries
    for its timeout, then closes): no worker, status "closed"."""
    status = "closed"

    def subscribe_topic(self, *a):
        pass

    def unsubscribe_topic(self, *a):
        pass

    def nthreads(self):
        raise OSError("not connected")

    def close(self):
        pass


def test_a_scheduler_lost_for_good_ends_the_sweep_in_one_line(tmp_path, monkeypatch, capsys):
    """The scheduler of --scheduler killed mid-sweep: the client gave up reconnecting, and the
    sweep waited for a worker forever ("no worker at the scheduler yet", every 30 s).  Now it
    stops in one line that says what was kept, and writes sweep.csv with it."""
    from tasks.cli import main
    monkeypatch.setattr(sweep, "_connect", lambda args, packs=None: (_ClientWithoutScheduler(), None))
    naps = []

    def sleep(seconds):                     # the old loop slept forever: cut it short, visibly
        naps.append(seconds)
        if len(naps) > 50:
            raise RuntimeError("still waiting for a worker after 50 naps")
    monkeypatch.setattr(sweep.time, "sleep", sleep)
    out = tmp_path / "sw"
    assert main(GRID + ["--scheduler", "tcp://127.0.0.1:9", "--connect-timeout", "3", "--out", str(out),
                        "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad: error: lost the Dask scheduler at tcp://127.0.0.1:9 "
                                               "(no reconnection within 3 s, --connect-timeout): 0/2 cells done")
    assert (out / "sweep.csv").exists() and not (out / sweep.LOCK_FILE).exists()


def test_a_lock_that_cannot_be_removed_does_not_hide_the_error_that_ended_the_sweep(tmp_path, monkeypatch):
    """OUT went read-only mid-sweep: writing sweep.csv failed, then releasing the lock failed
    too, and the one line said "sweep.lock: Read-only file system" instead of what failed."""
    from tasks.runfiles import RunError
    real = Path.unlink

    def read_only(self, missing_ok=False):
        if self.name == sweep.LOCK_FILE:
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        return real(self, missing_ok=missing_ok)
    with pytest.raises(RunError, match="the sweep's own error"):
        with sweep.OutLock(tmp_path):
            monkeypatch.setattr(Path, "unlink", read_only)        # OUT goes read-only meanwhile
            raise RunError("the sweep's own error")
    assert (tmp_path / sweep.LOCK_FILE).exists()                   # left: stale once this process ends


def test_a_file_that_cannot_be_written_is_named_not_its_temporary(tmp_path):
    from tasks.runfiles import atomic_write
    target = tmp_path / "gone" / "sweep.csv"
    with pytest.raises(OSError) as e:
        atomic_write(target, b"x")
    assert e.value.filename == str(target)


def test_progress_does_not_count_a_cell_that_failed_to_run_as_done(capsys):
    progress = sweep._Progress(quiet=False, total=4, done=0)
    progress.tty = False
    progress.show(1, 0, 0, None, None, force=True, failed=3)
    assert capsys.readouterr().err == "minigrad sweep: 1/4 cells done, 0 running, 0 queued, 3 failed to run (not counted)\n"


def test_an_out_on_a_read_only_filesystem_is_said_so(tmp_path, monkeypatch):
    """Root may write anywhere but on a read-only mount: "no permission" sent the user after
    the folder's permissions."""
    import os

    from tasks.runfiles import RunError, check_out_folder

    class ReadOnly:
        f_flag = os.ST_RDONLY
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    monkeypatch.setattr(os, "statvfs", lambda path: ReadOnly())
    with pytest.raises(RunError, match=f"^--out {tmp_path / 'sw'} cannot be written: {tmp_path} is on a read-only "
                                       "filesystem$"):
        check_out_folder(tmp_path / "sw")


def test_the_dry_run_never_estimates_less_than_its_longest_pack(tmp_path, monkeypatch, capsys):
    """One pack (the 2 seeds of one grid point) on 2 local workers: one worker trains it while
    the other waits, but the estimate divided its time by the 2 workers (half the time)."""
    def timed(todo, pack_size, scratch, signals=None, with_longest=False):
        return (100.0, "given", 100.0) if with_longest else (100.0, "given")      # one pack of 100 s
    monkeypatch.setattr(sweep, "estimate_seconds", timed)
    monkeypatch.setattr(sweep, "_core_count", lambda: 2)
    args, rows, cells = _plan(tmp_path / "d")
    assert len(sweep.make_packs(cells, args.pack)) == 1
    assert sweep.dry_run(args, rows, cells, {}, 2, "local worker processes", None) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    start = sweep.DASK_START_S + sweep.DASK_WORKER_S * 1                # one worker is started
    assert line.startswith(f"estimate: about {sweep._fmt_seconds(100 + start)} on 2 local worker processes "), line


def test_the_dry_run_of_several_packs_waits_for_the_longest(tmp_path, monkeypatch, capsys):
    """Two packs (--pack 1) on 2 workers, of 100 s and 20 s: the sweep ends when the longest
    ends, after 100 s, not after the (100 + 20) / 2 = 60 s of a perfect share."""
    def timed(todo, pack_size, scratch, signals=None, with_longest=False):
        return (120.0, "given", 100.0) if with_longest else (120.0, "given")
    monkeypatch.setattr(sweep, "estimate_seconds", timed)
    monkeypatch.setattr(sweep, "_core_count", lambda: 2)
    args, rows, cells = _plan(tmp_path / "d", GRID + ["--pack", "1"])
    assert len(sweep.make_packs(cells, args.pack)) == 2
    assert sweep.dry_run(args, rows, cells, {}, 2, "local worker processes", None) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    start = sweep.DASK_START_S + sweep.DASK_WORKER_S * 2                # two workers are started
    assert line.startswith(f"estimate: about {sweep._fmt_seconds(100 + start)} on 2 local worker processes "), line


def test_a_local_cluster_starts_no_more_workers_than_packs(monkeypatch):
    """--workers 1000 for a plan of 3 packs started 1,000 worker processes (about 120 MB each)."""
    import distributed
    started = []

    class Cluster:
        def __init__(self, n_workers, **kw):
            started.append(n_workers)
    monkeypatch.setattr(distributed, "LocalCluster", Cluster)
    monkeypatch.setattr(distributed, "Client", lambda cluster, **kw: "client")
    args = build_parser().parse_args(GRID + ["--workers", "1000"])
    assert sweep._connect(args, packs=3)[0] == "client" and started == [3]
    args = build_parser().parse_args(GRID + ["--workers", "2"])
    sweep._connect(args, packs=3)
    assert started == [3, 2]


@pytest.mark.parametrize("timeout", ["inf", "1e300"])
def test_an_endless_connect_timeout_is_refused_in_one_line(timeout, tmp_path, capsys):
    """--connect-timeout inf ended in an OverflowError traceback (socket timeouts are finite)."""
    from tasks.cli import main
    assert main(GRID + ["--scheduler", "127.0.0.1:1", "--connect-timeout", timeout, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad: error: --connect-timeout must be a positive number of "
                                               "seconds (below 1,000,000), got ")


def test_batch_size_is_a_setting_of_the_sweep(tmp_path):
    """--batch-size reaches every cell's config (and so its key); without it the paper's 20."""
    _, _, default = _plan(tmp_path / "a")
    _, _, seven = _plan(tmp_path / "b", GRID + ["--batch-size", "7"])
    assert {c["config"]["batch_size"] for c in default} == {20}
    assert {c["config"]["batch_size"] for c in seven} == {7}
    assert not {c["key"] for c in default} & {c["key"] for c in seven}
    results = {c["key"]: {"key": c["key"], "name": c["name"], "outcome": "budget", "success": False,
                          "updates": 40} for c in seven}
    sweep.write_csv(tmp_path, seven, results)                   # the CSV says what each row trained with
    assert [r["batch_size"] for r in csv.DictReader(open(tmp_path / "sweep.csv"))] == ["7", "7"]
    from tasks.train import RunError
    with pytest.raises(RunError, match="--batch-size must be at least 1, got 0"):
        _plan(tmp_path / "c", GRID + ["--batch-size", "0"])


def test_a_sweep_with_cells_that_errored_exits_1_in_one_line(capsys):
    """Every cell with a result: 0, silently; some ended in an error: 1, and one line says how
    many and that the same command retries them (a script running sweeps stops there)."""
    assert sweep._final_status(0) == 0 and capsys.readouterr().err == ""
    assert sweep._final_status(2) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad sweep: 2 cell(s) ended in an error") \
        and "run the same command again" in err[0]


def test_a_lost_local_scheduler_does_not_blame_connect_timeout(tmp_path):
    """--connect-timeout is the --scheduler client's; the local cluster's client reconnects for
    Dask's own connect timeout, which the line must name instead."""
    import dask
    local = build_parser().parse_args(GRID + ["--out", str(tmp_path)])
    with dask.config.set({"distributed.comm.timeouts.connect": "42s"}):
        line = sweep._scheduler_lost(local, [], {})
    assert "(no reconnection within 42s, Dask's connect timeout)" in line and "--connect-timeout" not in line
