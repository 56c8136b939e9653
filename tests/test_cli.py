"""The minigrad command: train, evaluate, demo, and one-line errors for bad input."""
import json

import numpy as np
import pytest

import minigrad as mg
from tasks.cli import build_parser, main


def test_help_teaches(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    for word in ("msgd-cr", "smart-tanh", "--resume", "--max-length", "clip"):
        assert word in text


def test_train_then_evaluate(tmp_path, capsys):
    out = tmp_path / "run"
    common = ["train", "temporal-order", "--length", "10", "--hidden", "8", "--eval-every", "10",
              "--eval-size", "200", "--out", str(out), "--quiet", "--lr", "0.05"]
    args = common + ["--max-updates", "20"]
    assert main(args) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [10, 20]
    assert main(["evaluate", str(out / "checkpoint.npz"), "--lengths", "10", "20", "--size", "100"]) == 0
    table = capsys.readouterr().out
    assert "% wrong" in table and "\n    10 " in table and "\n    20 " in table
    # a second run into the same folder is refused, nothing is lost; --resume continues it
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert main(common + ["--max-updates", "30", "--resume"]) == 0
    assert len((out / "log.jsonl").read_text().splitlines()) == 3


def test_msgd_r_and_success_checks_from_the_command_line(tmp_path, capsys):
    """`--method msgd-r` trains (Omega, no clipping); `--check-every`/`--check-size` reach the
    run's configuration (a pass confirmed by a full evaluation ends the run off the evaluation
    grid); `sweep --methods` takes msgd-r."""
    from tasks import sweep
    from tasks.train import Trainer
    out = tmp_path / "r"
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "20", "--lr", "0.05", "--method",
                 "msgd-r", "--eval-every", "1000", "--eval-size", "500", "--check-every", "25",
                 "--check-size", "200", "--max-updates", "3000", "--out", str(out), "--quiet"]) == 0
    t = Trainer.from_checkpoint(out / "checkpoint.npz")
    c, st = t.config, t.state
    assert (c.method, c.check_every, c.check_size) == ("msgd-r", 25, 200)
    assert st.outcome == "success" and st.update % 25 == 0 and st.update % 1000 and st.clipped == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert rows[-1]["update"] == st.update and rows[-1]["omega"] is not None
    assert "succeeded after" in capsys.readouterr().out
    args = build_parser().parse_args(["sweep", "--methods", "msgd-r", "msgd-cr", "--lengths", "20", "--seeds", "0",
                                      "--inits", "smart-tanh", "--out", str(tmp_path / "s")])
    _, cells = sweep.plan_cells(args, code="x")
    assert [cell["config"]["method"] for cell in cells] == ["msgd-r", "msgd-cr"]
    assert build_parser().parse_args(["train", "addition"]).check_every == 50


def test_no_trace_trains_the_same_numbers(tmp_path):
    """`--no-trace` (eager updates) and the default (replayed traces) write the same run."""
    import numpy as np
    logs, weights = [], []
    for flag in ([], ["--no-trace"]):
        out = tmp_path / ("eager" if flag else "traced")
        assert main(["train", "addition", "--length", "10", "--max-length", "13", "--hidden", "8",
                     "--eval-every", "10", "--eval-size", "100", "--max-updates", "20", "--quiet",
                     "--out", str(out)] + flag) == 0
        rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        logs.append([{k: v for k, v in r.items() if "time" not in k and "second" not in k} for r in rows])
        weights.append(dict(np.load(out / "checkpoint.npz")))
    assert logs[0] == logs[1]
    assert weights[0].keys() == weights[1].keys()
    for k in weights[0]:
        if weights[0][k].dtype.kind == "f":
            np.testing.assert_array_equal(weights[0][k], weights[1][k])


@pytest.mark.parametrize("argv,message", [
    (["train", "xor"], "unknown task 'xor'"),
    (["train", "addition", "--method", "sgd"], "unknown method 'sgd': choose one of msgd, msgd-c, msgd-cr, msgd-r"),
    (["train", "addition", "--check-every", "-5"], "check_every must be 0"),
    (["train", "addition", "--init", "he"], "unknown init 'he'"),
    (["train", "addition", "--cell", "transformer"], "unknown cell 'transformer': choose one of rnn, lstm, gru"),
    (["train", "addition", "--device", "tpu"], "unknown device 'tpu'"),
    (["train", "addition", "--length", "1"], "at least 10"),
    (["train", "addition", "--length", "50", "--max-length", "40"], "must exceed --length"),
])
def test_bad_input_is_one_line(argv, message, capsys, tmp_path):
    assert main(argv + ["--out", str(tmp_path / "x"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("minigrad: error:") and message in err and "\n" not in err
    assert not (tmp_path / "x").exists()


def test_corrupt_checkpoint(tmp_path, capsys):
    bad = tmp_path / "c.npz"
    bad.write_bytes(b"garbage")
    assert main(["evaluate", str(bad)]) == 2
    assert "not a readable minigrad checkpoint" in capsys.readouterr().err


def test_demo_runs_all_three_methods(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--max-updates", "30", "--quiet"]) == 0
    out = capsys.readouterr().out
    for method in ("msgd ", "msgd-c ", "msgd-cr "):
        assert method in out
    checkpoint = tmp_path / "demo" / "msgd-cr" / "checkpoint.npz"
    assert checkpoint.exists()
    # a second demo into the same folder is refused, nothing touched; --force overwrites it
    before = checkpoint.stat().st_mtime_ns
    assert main(["demo", "--out", str(tmp_path / "demo"), "--max-updates", "20", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("minigrad: error:") and "--force" in err and "\n" not in err
    assert checkpoint.stat().st_mtime_ns == before
    assert main(["demo", "--out", str(tmp_path / "demo"), "--max-updates", "20", "--quiet", "--force"]) == 0
    from tasks.train import Trainer
    assert Trainer.from_checkpoint(checkpoint).state.update == 20


def test_console_script_is_declared():
    import tomllib
    import pathlib
    meta = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["minigrad"] == "tasks:console"
    assert build_parser().prog == "minigrad"


@pytest.mark.parametrize("delay", [0.05, 0.2, 0.5])
def test_ctrl_c_while_the_command_is_still_importing_is_one_line(delay, tmp_path):
    """The console script's entry (`tasks:console`, what pip's `minigrad` wrapper calls) imports
    the command inside its Ctrl-C handling: a Ctrl-C while NumPy, matplotlib and the rest are
    still loading ends with status 130 and one line, never a KeyboardInterrupt traceback.  (A
    Ctrl-C during the interpreter's own start, before the wrapper's first line, is Python's.)"""
    import os
    import signal
    import subprocess
    import sys
    import time
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    wrapper = ("import sys\nfrom tasks import console\n"                     # pip's wrapper, and a mark
               "sys.stderr.write('started\\n'); sys.stderr.flush()\nsys.exit(console())\n")
    proc = subprocess.Popen([sys.executable, "-c", wrapper, "train", "temporal-order", "--length", "10", "--hidden",
                             "4", "--max-updates", "1000000", "--out", str(tmp_path / "run"), "--quiet"],
                            cwd=root, env={**os.environ, "PYTHONPATH": root},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr.readline() == "started\n"
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert "Traceback" not in stderr, stderr
    assert proc.returncode == 130, stderr
    if "stopped after" not in stdout:                  # (else it was already training: the test above)
        assert len(stderr.strip().splitlines()) == 1 and stderr.startswith("minigrad"), stderr


def test_jacobian_command_writes_its_plots(tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        out = tmp_path / f"r{seed}"
        assert main(["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "10",
                     "--eval-size", "100", "--max-updates", "10", "--seed", str(seed), "--out", str(out), "--quiet"]) == 0
        runs.append(str(out / "checkpoint.npz"))
    assert main(["jacobian", *runs, "--length", "15", "--batch", "4", "--out", str(tmp_path / "j")]) == 0
    text = capsys.readouterr().out
    assert text.count("spectral radius of W_rec") == 2 and "||dE/dh_1|| / ||dE/dh_T||" in text
    for name in ("jacobian_heatmap.png", "jacobian_spectra.png", "error_norms.png"):
        assert (tmp_path / "j" / name).stat().st_size > 5000
    assert main(["jacobian", runs[0], "--length", "3", "--out", str(tmp_path / "j2")]) == 2


def test_gated_cells_train_resume_evaluate_and_draw(tmp_path, capsys):
    """`--cell lstm`: the run folder is named for it, resume continues it (and refuses another
    cell given anew; a resume that does not name the cell keeps the run's), evaluate and jacobian rebuild the LSTM from the checkpoint."""
    import numpy as np
    from tasks.train import Trainer
    common = ["train", "temporal-order", "--length", "10", "--cell", "lstm", "--hidden", "6",
              "--eval-every", "10", "--eval-size", "100", "--quiet"]
    out = tmp_path / "lstm"
    assert main(common + ["--max-updates", "10", "--out", str(out)]) == 0
    assert main(common + ["--max-updates", "20", "--out", str(out), "--resume"]) == 0
    trainer = Trainer.from_checkpoint(out / "checkpoint.npz")
    assert trainer.config.cell == "lstm" and trainer.state.update == 20
    assert {"W_x", "W_h"} <= {p.name for p in trainer.params}
    once = tmp_path / "once"                       # resumed == uninterrupted, for a gated cell too
    assert main(common + ["--max-updates", "20", "--out", str(once)]) == 0
    a, b = np.load(out / "checkpoint.npz"), np.load(once / "checkpoint.npz")
    np.testing.assert_array_equal(a["model.layers.0.W_h"], b["model.layers.0.W_h"])
    capsys.readouterr()
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "10", "--cell",
                 "rnn", "--max-updates", "30", "--out", str(out), "--resume", "--quiet"]) == 2
    assert "--cell rnn differs from the run's lstm" in capsys.readouterr().err
    assert main(["evaluate", str(out / "checkpoint.npz"), "--lengths", "10", "--size", "50"]) == 0
    assert main(["jacobian", str(out / "checkpoint.npz"), "--length", "10", "--batch", "3",
                 "--out", str(tmp_path / "j")]) == 0
    text = capsys.readouterr().out
    assert "msgd-cr, lstm cell, trained at T=10, 20 updates" in text and "% wrong" in text
    assert "lstm cell; ||dE/ds_1|| / ||dE/ds_T||" in text
    assert (tmp_path / "j" / "jacobian_heatmap.png").stat().st_size > 5000


def test_demo_writes_pictures(tmp_path):
    assert main(["demo", "--out", str(tmp_path / "demo"), "--max-updates", "20", "--quiet"]) == 0
    demo = tmp_path / "demo"
    svg = (demo / "bptt_graph.svg").read_text()
    assert "t = 19" in svg and "grad → W_rec" in svg
    assert (demo / "error_cliff.png").exists() and (demo / "jacobian" / "error_norms.png").exists()
    assert (demo / "msgd-cr" / "grad_norms.png").exists()


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_ctrl_c_or_sigterm_stops_cleanly_with_a_checkpoint(signame, tmp_path):
    """A real SIGINT or SIGTERM to a running `minigrad train`: it finishes the update, writes a
    checkpoint and exits; --resume continues from exactly there, to the log of a run that was
    never stopped (every field but the wall time)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from tasks.train import Trainer, TrainConfig
    sig = getattr(signal, signame)
    out = tmp_path / "run"
    common = ["temporal-order", "--length", "10", "--hidden", "8", "--eval-every", "20", "--eval-size", "100",
              "--out", str(out), "--quiet"]
    args = [sys.executable, "-m", "tasks.cli", "train"] + common + ["--max-updates", "1000000"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(args, cwd=root, env={**os.environ, "PYTHONPATH": root},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "log.jsonl").exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    # 130 (Ctrl-C's), or 128 + the signal (143 for SIGTERM) where cmd_train returns trainer.exit_status
    assert proc.returncode in (130, 128 + sig), stderr
    assert "stopped after" in stdout
    state = Trainer.from_checkpoint(out / "checkpoint.npz").state
    assert state.update >= 20 and str(state.update) in stdout and state.outcome == "interrupted"
    end = (state.update // 20 + 2) * 20
    assert main(["train"] + common + ["--max-updates", str(end), "--resume"]) == 0
    once = Trainer(TrainConfig.for_task("temporal_order", length=10, hidden=8, eval_every=20, eval_size=100,
                                        max_updates=end))        # the preset `minigrad train` uses (float32)
    once.train(out=tmp_path / "once", progress=False)
    strip = lambda path: [json.dumps({k: v for k, v in json.loads(line).items() if k != "wall_time"})  # noqa: E731
                          for line in path.read_text().splitlines()]
    assert strip(out / "log.jsonl") == strip(tmp_path / "once" / "log.jsonl")


# ----------------------------------------------------------------- one-line refusals
@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny trained run's checkpoint (temporal order, T = 10)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "3",
                 "--eval-size", "20", "--max-updates", "3", "--out", str(out), "--quiet"]) == 0
    return out / "checkpoint.npz"


@pytest.fixture
def fixed_memory(monkeypatch):
    """The machine has 64 GiB available, whatever this one has (the refusals are then the same
    everywhere)."""
    import tasks.cli
    monkeypatch.setattr(tasks.cli, "available_memory", lambda device=None: 64 * 2 ** 30, raising=False)


REFUSALS = [
    # missing or wrong checkpoints
    (["evaluate", "{tmp}/nope.npz"], "{tmp}/nope.npz: no such checkpoint"),
    (["evaluate", "{tmp}"], "is a folder: give a checkpoint file"),
    (["jacobian", "{ckpt}", "{tmp}/nope.npz", "--out", "{tmp}/j"], "{tmp}/nope.npz: no such checkpoint"),
    (["train", "addition", "--resume", "--out", "{tmp}/nothing", "--quiet"], "holds no checkpoint.npz to resume from"),
    # --out that is a file or cannot be made
    (["train", "addition", "--out", "{tmp}/afile", "--quiet"], "--out {tmp}/afile is a file, not a folder"),
    (["train", "addition", "--out", "{tmp}/afile/run", "--quiet"], "{tmp}/afile is a file, not a folder"),
    (["demo", "--out", "{tmp}/afile", "--quiet"], "is a file, not a folder"),
    (["jacobian", "{ckpt}", "--out", "{tmp}/afile"], "is a file, not a folder"),
    (["graph", "--out", "{tmp}/afile/g.svg"], "cannot be made: {tmp}/afile is a file"),
    (["graph", "--out", "{tmp}"], "unknown output format"),
    (["graph", "--out", "{tmp}/g.txt"], "unknown output format '.txt'"),
    # sizes that are not positive
    (["evaluate", "{ckpt}", "--size", "0"], "--size must be at least 1, got 0"),
    (["evaluate", "{ckpt}", "--size", "-5"], "--size must be at least 1, got -5"),
    (["evaluate", "{ckpt}", "--lengths", "10", "0"], "--lengths: 0 is below the task's minimum 10"),
    (["evaluate", "{ckpt}", "--lengths", "-3"], "--lengths: -3 is below"),
    (["jacobian", "{ckpt}", "--batch", "0", "--out", "{tmp}/j"], "--batch must be at least 1, got 0"),
    (["jacobian", "{ckpt}", "--length", "-1", "--out", "{tmp}/j"], "--length must be at least 1"),
    (["graph", "--hidden", "0", "--out", "{tmp}/g.svg"], "--hidden must be at least 1, got 0"),
    (["graph", "--hidden", "-3", "--out", "{tmp}/g.svg"], "--hidden must be at least 1, got -3"),
    (["graph", "--steps", "-2", "--out", "{tmp}/g.svg"], "--steps must be at least 1"),
    (["demo", "--max-updates", "0", "--out", "{tmp}/d"], "--max-updates must be at least 1, got 0"),
    (["train", "addition", "--batch-size", "0", "--out", "{tmp}/x", "--quiet"], "--batch-size must be at least 1, got 0"),
    (["train", "addition", "--eval-size", "-1", "--out", "{tmp}/x", "--quiet"], "--eval-size must be at least 1, got -1"),
    (["train", "addition", "--seed", "-1", "--out", "{tmp}/x", "--quiet"], "--seed must be at least 0"),
    (["train", "addition", "--alpha", "-1", "--out", "{tmp}/x", "--quiet"], "--alpha must be 0 or more"),
    (["train", "addition", "--target-error", "5", "--out", "{tmp}/x", "--quiet"], "--target-error is a fraction"),
    # too long to draw, too large for memory
    (["graph", "--steps", "2000", "--out", "{tmp}/g.svg"], "more than 100 steps"),
    (["graph", "--steps", "2001", "--collapse", "--out", "{tmp}/g.svg"], "more than 2000 steps, even collapsed"),
    (["train", "addition", "--hidden", "100000", "--dtype", "float64", "--out", "{tmp}/x", "--quiet"],
     "--hidden 100000 --length 20 needs about 463.4 GiB of memory (weights 447.1 GiB"),
    (["train", "temporal-order", "--length", "10000000", "--out", "{tmp}/x", "--quiet"],
     "but this machine has 64.0 GiB available"),
    (["train", "addition", "--length", "50", "--max-length", "1000000", "--out", "{tmp}/x", "--quiet"],
     "but this machine has 64.0 GiB available: pass --no-trace"),
    (["evaluate", "{ckpt}", "--lengths", "10", "100000000"], "--lengths 100000000 (hidden 6) needs about"),
    (["jacobian", "{ckpt}", "--length", "1000000", "--out", "{tmp}/j"], "Jacobians"),
]


@pytest.mark.parametrize("argv,message", REFUSALS, ids=[" ".join(a[:3]) for a, _ in REFUSALS])
def test_refusals_are_one_line_before_any_work(argv, message, tmp_path, checkpoint, fixed_memory, capsys):
    """Bad paths, sizes and requests that would not fit: exit status 2, one line on stderr saying
    why, no traceback, nothing written."""
    (tmp_path / "afile").write_text("not a folder")
    before = sorted(tmp_path.rglob("*"))
    subst = {"{tmp}": str(tmp_path), "{ckpt}": str(checkpoint)}

    def fill(text):
        for k, v in subst.items():
            text = text.replace(k, v)
        return text
    assert main([fill(a) for a in argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("minigrad: error:") and fill(message) in err and "\n" not in err, err
    assert "Traceback" not in captured.out + captured.err
    assert sorted(tmp_path.rglob("*")) == before


def test_memory_estimate_matches_measurements_and_spares_reasonable_sizes():
    """The estimate against the peak memory measured (NumPy, float64, above the interpreter's;
    see the constants in tasks/cli.py): within a factor 1.5.  The paper's sizes need far less
    than a laptop has."""
    from tasks.cli import memory_estimate, peak_memory
    from tasks.train import TrainConfig
    measured = [  # (config, MiB measured)
        (dict(task="temporal_order", hidden=400, length=800, eval_size=1000), 2520),
        (dict(task="temporal_order", hidden=1000, length=200, eval_size=1000), 1560),
        (dict(task="temporal_order", hidden=200, length=200, cell="lstm", batch_size=1000, eval_size=10), 11300),
    ]
    for kw, mib in measured:
        estimate = peak_memory(memory_estimate(TrainConfig(**kw))) / 2 ** 20
        assert mib / 1.5 < estimate < mib * 1.5, (kw, estimate, mib)
    for kw in (dict(hidden=100, length=200), dict(length=50, max_length=200), dict(cell="lstm", hidden=100, length=200),
               dict(task="permutation", hidden=100, length=200), dict(task="memorization_extended", length=200)):
        assert peak_memory(memory_estimate(TrainConfig(**kw))) < 2 ** 30, kw


def test_available_memory_is_read_off_this_machine():
    from tasks.cli import available_memory
    have = available_memory()
    assert have is None or 2 ** 20 < have < 2 ** 50


def test_a_reasonable_run_is_not_refused_on_a_small_machine(tmp_path, monkeypatch, capsys):
    """1 GiB available: the paper's T = 200 trains, a 2,000-unit model at T = 200 (evaluated in
    batches of 1,000 sequences) is refused, naming both figures."""
    import tasks.cli
    monkeypatch.setattr(tasks.cli, "available_memory", lambda device=None: 2 ** 30)
    common = ["train", "temporal-order", "--length", "200", "--eval-size", "20", "--eval-every", "1",
              "--max-updates", "1", "--quiet"]
    assert main(common + ["--hidden", "100", "--out", str(tmp_path / "ok")]) == 0
    assert main(common + ["--hidden", "2000", "--eval-size", "10000", "--out", str(tmp_path / "big")]) == 2
    err = capsys.readouterr().err
    assert "--hidden 2000 --length 200 needs about" in err and "this machine has 1.0 GiB available" in err


def test_ctrl_c_anywhere_exits_130_in_one_line(monkeypatch, capsys, tmp_path):
    import tasks.cli

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(tasks.cli, "build_graph", interrupted)
    assert main(["graph", "--out", str(tmp_path / "g.svg")]) == 130
    assert capsys.readouterr().err == "minigrad: interrupted\n"


def test_graph_makes_its_folder_and_collapses_long_unrolls(tmp_path):
    assert main(["graph", "--steps", "300", "--collapse", "--out", str(tmp_path / "new" / "g.dot")]) == 0
    assert "t = 299" in (tmp_path / "new" / "g.dot").read_text()


def test_train_uses_the_tasks_preset_unless_a_flag_is_given(tmp_path, capsys):
    """`train addition`: 50 units, basic tanh, lr .01, alpha .5, mu 1 (the paper's), in config.json;
    `--hidden 20` and `--init smart-tanh` win over the preset."""
    from tasks.cli import _config
    out = tmp_path / "add"
    assert main(["train", "addition", "--length", "10", "--max-updates", "1", "--eval-every", "1",
                 "--eval-size", "50", "--quiet", "--out", str(out)]) == 0
    logged = json.loads((out / "config.json").read_text())
    assert {k: logged[k] for k in ("hidden", "init", "lr", "alpha", "clip")} == dict(
        hidden=50, init="basic_tanh", lr=0.01, alpha=0.5, clip=1.0)
    c = _config(build_parser().parse_args(["train", "addition", "--hidden", "20", "--init", "smart-tanh",
                                           "--clip", "3"]))
    assert (c.hidden, c.init, c.clip, c.alpha, c.lr) == (20, "smart_tanh", 3.0, 0.5, 0.01)
    c = _config(build_parser().parse_args(["train", "permutation", "--lr", "0.1"]))
    assert (c.hidden, c.lr, c.alpha, c.clip) == (100, 0.1, 1.0, 6.0)
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = capsys.readouterr().out
    assert "Per-task presets" in text
    assert "permutation            --hidden 100 --lr 0.001 --alpha 1 --clip 6" in text


def test_train_in_float32_as_the_paper_did(tmp_path):
    out = tmp_path / "f32"
    assert main(["train", "temporal-order", "--length", "10", "--dtype", "float32", "--max-updates", "4",
                 "--eval-every", "2", "--eval-size", "50", "--out", str(out), "--quiet"]) == 0
    arrays = mg.load(out / "checkpoint.npz")
    assert {a.dtype for k, a in arrays.items() if k.startswith("model.")} == {np.dtype(np.float32)}
    assert main(["train", "temporal-order", "--dtype", "float16", "--out", str(tmp_path / "f16")]) == 2


def test_train_prints_the_tasks_chance_beside_the_last_error(tmp_path, capsys):
    """75% wrong is chance for temporal order's 4 equally likely classes, 87.5% for the 3-bit
    task's 8; a budget that ends before the first evaluation evaluates the final model."""
    common = ["--length", "10", "--hidden", "4", "--eval-size", "100", "--quiet"]
    assert main(["train", "temporal-order", *common, "--max-updates", "20", "--eval-every", "10",
                 "--out", str(tmp_path / "a")]) == 0
    assert "(chance 75.00%)" in capsys.readouterr().out
    assert main(["train", "temporal-order-3bit", *common, "--max-updates", "20", "--eval-every", "10",
                 "--out", str(tmp_path / "b")]) == 0
    assert "(chance 87.50%)" in capsys.readouterr().out
    assert main(["train", "temporal-order", *common, "--max-updates", "5", "--eval-every", "10",
                 "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    last = json.loads((tmp_path / "c" / "log.jsonl").read_text().splitlines()[-1])
    assert last["update"] == 5 and last["final"] is True      # the budget ends first: the final model is evaluated
    assert f"after 5 updates; last error {last['error'] * 100:.2f}% (chance 75.00%)" in out
