"""What a sweep's cell can be trusted for, found by a new user's trial: a cell ends bit for bit
where it would have ended whatever its pack (alone, --pack 1, with its grid point's seeds) and
whether it was interrupted and resumed alone; result.json names the BLAS it trained with; bad
plans (memory, --scheduler, --out) are refused up front in one line.

The sweep's cells are trained in-process through :func:`tasks.sweep.run_pack` (what a Dask
worker runs), with a stop that fires after a fixed number of updates, so the interruption
points are exact; tiny float32 cells (hidden 6, T 10, 100 evaluation sequences)."""
import gc
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tasks import sweep
from tasks.cli import build_parser, main

GRID = ["sweep", "--lengths", "10", "--seeds", "0", "1", "--methods", "msgd-cr", "--inits", "smart-tanh",
        "--hidden", "6", "--eval-size", "100", "--eval-every", "10", "--max-updates", "65", "--target-error", "0"]


def _specs(out, argv=GRID):
    _, cells = sweep.plan_cells(build_parser().parse_args(argv + ["--out", str(out)]))
    return cells


@pytest.fixture(autouse=True)
def no_plots(monkeypatch):
    """The runs' pictures change no number and cost most of a tiny cell's time: not drawn."""
    from tasks.runfiles import RunFiles
    monkeypatch.setattr(RunFiles, "plot", lambda self, *a, **k: None)


def _run(specs, stop_after=None):
    """run_pack(specs) in this process; with ``stop_after``, the pack is stopped (as Ctrl-C stops a
    sweep's cells) after that many of its loop's updates."""
    original = sweep._PackStopper
    if stop_after is not None:
        class StopAfter(original):
            calls = 0

            def __call__(self):
                StopAfter.calls += 1
                return StopAfter.calls >= stop_after
        sweep._PackStopper = StopAfter
    try:
        return sweep.run_pack(specs)["pack"]
    finally:
        sweep._PackStopper = original


def _cell_files(folder):
    """A cell's final weights (checkpoint arrays), its log rows (less wall_time), its gradient
    norms and its result's outcome, updates and errors."""
    folder = Path(folder)
    with np.load(folder / "checkpoint.npz") as z:
        weights = {k: z[k] for k in z.files if k.startswith("model.")}
        state = json.loads(str(z["meta"]))["state"]
    rows = [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
            for line in (folder / "log.jsonl").read_text().splitlines()]
    result = json.loads((folder / "result.json").read_text())
    return weights, rows, (folder / "grad_norms.f32").read_bytes(), state, \
        {k: result[k] for k in ("outcome", "updates", "last_error", "best_error")}


def assert_same_cell(a, b):
    wa, ra, na, sa, oa = _cell_files(a)
    wb, rb, nb, sb, ob = _cell_files(b)
    assert oa == ob
    assert wa.keys() == wb.keys()
    for k in wa:
        assert wa[k].dtype == np.float32
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)          # bit for bit
    assert ra == rb
    assert na == nb
    assert sa == sb


def test_a_cell_ends_bit_for_bit_alike_alone_packed_and_resumed_alone(tmp_path):
    """The trial's scenario: a cell trained alone (--pack 1, or resumed without its partners)
    ended elsewhere than in its pack (Trainer sums the weight gradients in another order, and
    float32 training is chaotic).  Now: a pack of 2 uninterrupted; each cell alone; the pack
    interrupted at update 25, seed 1 resumed alone and interrupted again at 38, then both
    resumed together at different updates -- the same weights, logs, norms and results."""
    packed = _specs(tmp_path / "packed")
    alone = _specs(tmp_path / "alone")
    resumed = _specs(tmp_path / "resumed")
    assert [r["outcome"] for r in _run(packed)] == ["budget", "budget"]
    for spec in alone:
        assert [r["outcome"] for r in _run([spec])] == ["budget"]
    assert [r["outcome"] for r in _run(resumed, 25)] == ["interrupted"] * 2
    assert [r["outcome"] for r in _run(resumed[1:], 13)] == ["interrupted"]
    assert [r["updates"] for r in _run(resumed)] == [65, 65]
    rows = [json.loads(line) for line in (Path(packed[0]["folder"]) / "log.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [10, 20, 30, 40, 50, 60, 65]      # the final model evaluated too
    for s in range(2):
        assert json.loads((Path(resumed[s]["folder"]) / "result.json").read_text())["resumed_from"] == [25, 38][s]
        assert_same_cell(packed[s]["folder"], alone[s]["folder"])
        assert_same_cell(packed[s]["folder"], resumed[s]["folder"])


def test_result_json_names_the_blas_and_its_one_thread(tmp_path):
    """float32 per-seed counts depend on the BLAS library, its kernel and its thread count: each
    cell's result.json records them, and the sweep's training uses one BLAS thread."""
    import threadpoolctl
    argv = GRID[:]
    argv[argv.index("65")] = "10"
    spec = _specs(tmp_path / "s", argv)[0]
    threads = lambda: [lib["num_threads"] for lib in threadpoolctl.threadpool_info()]     # noqa: E731
    with threadpoolctl.threadpool_limits(limits=2):
        before = threads()
        (result,) = _run([spec])
        after = threads()
    stored = json.loads((Path(spec["folder"]) / "result.json").read_text())
    assert stored["blas"] == result["blas"]
    blas = [lib for lib in stored["blas"] if lib["user_api"] == "blas"]
    assert blas, stored["blas"]
    for lib in blas:
        assert lib["num_threads"] == 1
        assert {"internal_api", "version", "architecture"} <= lib.keys()
    assert after == before                                          # the limit is lifted afterwards
    assert sweep.blas_label(stored["blas"]).endswith("x1")


# ----------------------------------------------------------------------------- refused up front
def _one_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad: error: "), err
    return err[0]


SMALL_PLAN = ["sweep", "--lengths", "10", "--seeds", "0", "--methods", "msgd", "--inits", "smart-tanh", "--quiet"]


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_plan_that_needs_terabytes_is_refused_before_anything_is_allocated(dry_run, tmp_path, capsys):
    """`sweep --lengths 100000000 --dry-run` grew to 23 GB and was killed; `train` refused the
    same in one line: the sweep now gives train's estimate and refusal for every cell of the plan
    (a length of 10^12 would need petabytes: nothing is allocated, or the test could not end)."""
    out = tmp_path / "s"
    extra = ["--dry-run"] if dry_run else []
    argv = ["sweep", "--lengths", "10", str(10 ** 12), "--seeds", "0", "--methods", "msgd", "--inits", "smart-tanh",
            "--out", str(out), "--quiet"] + extra
    assert main(argv) == 2
    line = _one_line(capsys)
    assert f"sweep cell smart-tanh-msgd-T{10 ** 12}-s0 (--hidden 50 --length {10 ** 12}) needs about" in line
    assert "PiB of memory" in line and "available: lower --hidden or the length" in line
    assert not out.exists()
    assert main(["sweep", "--hidden", str(10 ** 7), "--out", str(out)] + SMALL_PLAN[1:] + extra) == 2
    assert "(--hidden 10000000 --length 10) needs about" in _one_line(capsys)


def test_a_pack_and_the_packs_at_once_must_fit_too(tmp_path, monkeypatch):
    """A pack trains its cells together (their memory adds up), and the local workers run a pack
    each: refused when either exceeds what the machine has, with advice for each."""
    from tasks import cli
    from tasks.train import RunError, TrainConfig
    cells = _specs(tmp_path / "s", ["sweep", "--lengths", "10", "--seeds", "0", "1", "2", "--methods", "msgd",
                                    "msgd-c", "--inits", "smart-tanh", "--hidden", "300"])
    one = cli.peak_memory(cli.memory_estimate(TrainConfig(**cells[0]["config"])))
    for have, workers, pack, refused in [(3 * one - 1, 1, None, "a pack of 3 cells"), (3 * one, 1, None, None),
                                         (3 * one - 1, 1, 2, None), (6 * one - 1, 2, None, "2 packs running at once"),
                                         (6 * one, 2, None, None), (3 * one, "tcp://h:1", None, None)]:
        monkeypatch.setattr(cli, "available_memory", lambda device=None, have=have: have)
        if refused is None:
            sweep.check_sweep_memory(cells, pack, workers)
        else:
            with pytest.raises(RunError, match=refused):
                sweep.check_sweep_memory(cells, pack, workers)
    monkeypatch.setattr(cli, "available_memory", lambda device=None: one - 1)
    with pytest.raises(RunError, match="needs about"):
        sweep.check_sweep_memory(cells, None, None)                     # a dry run times each cell here


@pytest.mark.parametrize("address", ["notanaddress", "foo://h:8786", "tcp://h:0", "tcp://:8786", "tcp://h:8786/x"])
def test_a_scheduler_address_of_the_wrong_form_is_refused_at_once(address, tmp_path, capsys):
    """`sweep --scheduler notanaddress` printed its error, hung 20 s, then a traceback from
    Client.__del__: the address form is checked first (nothing is contacted)."""
    start = time.monotonic()
    assert main(["sweep", "--scheduler", address, "--out", str(tmp_path / "s")] + SMALL_PLAN[1:]) == 2
    assert f"--scheduler {address!r} is not a Dask scheduler address: give SCHEME://HOST:PORT" in _one_line(capsys)
    assert time.monotonic() - start < 5 and not (tmp_path / "s").exists()


def test_a_scheduler_that_is_not_dask_fails_fast_without_a_traceback(tmp_path, capsys):
    """Something answers at the address but is no Dask scheduler (the trial's sandbox answered
    every connection): one line, no "Exception ignored in Client.__del__" traceback, no 20 s
    wait for a client that never connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]

    def answer():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            try:
                conn.sendall(b"\xff" * 64 + b"HTTP/1.0 200 OK\r\n\r\nnot dask")
                conn.close()
            except OSError:
                pass
    threading.Thread(target=answer, daemon=True).start()
    try:
        start = time.monotonic()
        rc = main(["sweep", "--scheduler", f"tcp://127.0.0.1:{port}", "--connect-timeout", "1",
                   "--out", str(tmp_path / "s")] + SMALL_PLAN[1:])
        gc.collect()                            # where the failed client once waited 20 s, then printed
        seconds = time.monotonic() - start
    finally:
        server.close()
    err = capsys.readouterr().err
    assert rc == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"could not connect to a Dask scheduler at tcp://127.0.0.1:{port}" in lines[0], err
    assert "not as a Dask scheduler" in lines[0] and "Traceback" not in err and "Exception ignored" not in err
    assert seconds < 10


@pytest.mark.parametrize("dry_run", [True, False])
def test_out_that_is_a_file_is_refused_in_one_line(dry_run, tmp_path, capsys):
    """`sweep --out <a file>`: --dry-run exited 0 and a real run printed a warning then "File
    exists"; both are refused up front, as train refuses it."""
    f = tmp_path / "afile"
    f.write_text("mine")
    argv = ["sweep", "--out", str(f)] + SMALL_PLAN[1:] + (["--dry-run"] if dry_run else [])
    assert main(argv) == 2
    assert _one_line(capsys) == f"minigrad: error: --out {f} is a file, not a folder"
    assert main(["sweep", "--out", str(f / "sub")] + SMALL_PLAN[1:] + (["--dry-run"] if dry_run else [])) == 2
    assert _one_line(capsys) == f"minigrad: error: --out {f / 'sub'} cannot be made: {f} is a file, not a folder"
    assert f.read_text() == "mine"


def test_sweep_status_names_the_blas_and_reads_old_results(tmp_path):
    """bench/sweep_status.py sums up the BLAS of the finished cells and still reads result files
    written before the field existed."""
    root = Path(__file__).resolve().parent.parent
    for i, blas in enumerate([None, [{"user_api": "blas", "internal_api": "openblas", "version": "0.3.31",
                                      "architecture": "Haswell", "num_threads": 1}]] * 2):
        folder = tmp_path / "cells" / f"c{i}"
        folder.mkdir(parents=True)
        config = {"init": "smart_tanh", "method": "msgd", "length": 20, "seed": i, "max_updates": 1000}
        (folder / "cell.json").write_text(json.dumps({"name": f"c{i}", "config": config}))
        result = {"outcome": "budget", "updates": 1000, "seconds": 10.0}
        if blas is not None:
            result["blas"] = blas
        (folder / "result.json").write_text(json.dumps(result))
    r = subprocess.run([sys.executable, str(root / "bench" / "sweep_status.py"), str(tmp_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ("BLAS of the finished cells (mixed: float32 outcomes may differ by BLAS): not recorded: 2; "
            "openblas 0.3.31 Haswell, 1 thread(s): 2") in r.stdout


def test_workers_with_a_scheduler_is_refused_in_one_line(capsys):
    """`--workers 4 --scheduler tcp://host:8786` was accepted and --workers silently ignored (a
    new-user trial, session 9): the two contradict, so one line says to give one of them."""
    from tasks.cli import main
    assert main(["sweep", "--lengths", "20", "--seeds", "0", "--workers", "2", "--scheduler",
                 "tcp://127.0.0.1:8786", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad: error: --workers") and "--scheduler" in err[0], err
