"""The minigrad command: train, evaluate, demo, and one-line errors for bad input."""
import json

import pytest

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
    (["train", "addition", "--method", "sgd"], "unknown method 'sgd': choose one of msgd, msgd-c, msgd-cr"),
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
    assert (tmp_path / "demo" / "msgd-cr" / "checkpoint.npz").exists()


def test_console_script_is_declared():
    import tomllib
    import pathlib
    meta = tomllib.loads((pathlib.Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["scripts"]["minigrad"] == "tasks.cli:main"
    assert build_parser().prog == "minigrad"


def test_sweep_table_and_csv(tmp_path, capsys):
    import csv
    argv = ["sweep", "--lengths", "10", "12", "--seeds", "0", "1", "--methods", "msgd", "msgd-cr",
            "--inits", "smart-tanh", "--hidden", "6", "--eval-every", "10", "--eval-size", "100",
            "--max-updates", "20", "--workers", "2", "--out", str(tmp_path / "sw"), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "T=10" in out and "T=12" in out and "smart-tanh  msgd-cr" in out
    rows = list(csv.DictReader(open(tmp_path / "sw" / "sweep.csv")))
    assert len(rows) == 8 and {r["method"] for r in rows} == {"msgd", "msgd-cr"}
    assert all(int(r["updates"]) <= 20 for r in rows)
    # a second sweep reuses the finished runs
    assert main(argv) == 0
    assert len(list(csv.DictReader(open(tmp_path / "sw" / "sweep.csv")))) == 8


def test_sweep_compares_cells(tmp_path, capsys):
    import csv
    argv = ["sweep", "--lengths", "10", "--seeds", "0", "--methods", "msgd-cr", "--inits", "smart-tanh",
            "--cells", "rnn", "gru", "--hidden", "6", "--eval-every", "10", "--eval-size", "100",
            "--max-updates", "10", "--workers", "1", "--out", str(tmp_path / "sw"), "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "smart-tanh  msgd-cr" in out and "gru         msgd-cr" in out
    rows = list(csv.DictReader(open(tmp_path / "sw" / "sweep.csv")))
    assert sorted(r["cell"] for r in rows) == ["gru", "rnn"]
    assert (tmp_path / "sw" / "gru-msgd-cr-T10-s0" / "checkpoint.npz").exists()


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
    cell), evaluate and jacobian rebuild the LSTM from the checkpoint."""
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
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "10",
                 "--max-updates", "30", "--out", str(out), "--resume", "--quiet"]) == 2
    assert "cell: checkpoint 'lstm', asked 'rnn'" in capsys.readouterr().err
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


def test_ctrl_c_stops_cleanly_with_a_checkpoint(tmp_path):
    """A real SIGINT to a running `minigrad train`: it finishes the update, writes a checkpoint
    and exits 0; --resume continues from exactly there."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from tasks.train import Trainer
    out = tmp_path / "run"
    args = [sys.executable, "-m", "tasks.cli", "train", "temporal-order", "--length", "10", "--hidden", "8",
            "--eval-every", "20", "--eval-size", "100", "--max-updates", "1000000", "--out", str(out), "--quiet"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.Popen(args, cwd=root, env={**os.environ, "PYTHONPATH": root},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (out / "log.jsonl").exists() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "stopped after" in stdout
    state = Trainer.from_checkpoint(out / "checkpoint.npz").state
    assert state.update >= 20 and str(state.update) in stdout
