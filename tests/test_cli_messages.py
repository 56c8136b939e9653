"""The minigrad command's refusals are one line, "minigrad: error: ...", exit status 2, no usage
block and no traceback, saying what was wrong and what is allowed: argparse's own errors in every
sub-command, the unknown-task list, a checkpoint written by another command, ``--png`` of
``translate --heatmaps``, ``music``/``charlm`` arguments checked before any data is read, and
``--init`` with a gated cell."""
import argparse
import json

import numpy as np
import pytest

import minigrad as mg
from tasks.cli import build_parser, main


def refused(argv, capsys) -> str:
    """Run ``minigrad argv``; it must refuse with exit status 2 and one line on stderr (whether
    argparse exits or the command returns); that line, without the "minigrad: error: " prefix."""
    try:
        status = main(argv)
    except SystemExit as e:
        status = e.code
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert status == 2, (status, captured.err)
    assert len(lines) == 1 and lines[0].startswith("minigrad: error: "), captured.err
    assert "usage:" not in captured.err and "Traceback" not in captured.err
    return lines[0][len("minigrad: error: "):]


# ----------------------------------------------------------------------------- argparse's errors
def _subparsers():
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return action.choices


def _number_option(parser):
    for a in parser._actions:
        if a.option_strings and a.type in (int, float):
            return a.option_strings[-1], a.type
    return None, None


SUBCOMMANDS = sorted(name for name, p in _subparsers().items() if _number_option(p)[0])


def test_every_subcommand_has_a_number_option_to_test():
    assert {"train", "evaluate", "sweep", "music", "charlm", "translate", "copy"} <= set(SUBCOMMANDS)
    assert all(_number_option(p)[0] for name, p in _subparsers().items() if name != "diagnostics")


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_a_bad_number_is_one_line_naming_the_flag_and_what_it_takes(command, capsys):
    option, kind = _number_option(_subparsers()[command])
    text = refused([command, option, "2x"], capsys)
    said = "a whole number" if kind is int else "a number"
    assert text == f"{command}: {option} must be {said}, got '2x' (see minigrad {command} --help)"


@pytest.mark.parametrize("argv, said", [
    (["train", "temporal-order", "--length", "20.5"], "train: --length must be a whole number, got '20.5'"),
    (["train", "temporal-order", "--seed", "abc"], "train: --seed must be a whole number, got 'abc'"),
    (["train", "temporal-order", "--lr", "fast"], "train: --lr must be a number, got 'fast'"),
    (["trian"], "unknown command 'trian': choose one of train, evaluate"),
    (["train", "addition", "--alpha-schedule", "cubic"],
     "train: unknown --alpha-schedule value 'cubic': choose one of constant, inverse_time, inverse_linear"),
    (["train"], "train: the following arguments are required: task"),
    (["diagnostics"], "diagnostics: the following arguments are required: RUN_FOLDER"),
    (["evaluate", "c.npz", "--lengths"], "evaluate: --lengths: expected at least one argument"),
])
def test_argparse_errors_are_one_line(argv, said, capsys):
    assert said in refused(argv, capsys)


def test_help_is_unchanged(capsys):
    with pytest.raises(SystemExit) as e:
        main(["evaluate", "--help"])
    assert e.value.code == 0 and capsys.readouterr().out.startswith("usage: minigrad evaluate")


# ----------------------------------------------------------------------------- unknown task
def test_unknown_task_lists_the_spellings_the_command_line_uses(capsys):
    text = refused(["train", "temporal-ordr"], capsys)
    assert "unknown task 'temporal-ordr': choose one of temporal-order, temporal-order-3bit, addition" in text
    assert "memorization-extended" in text and "temporal_order_3bit" not in text


# ----------------------------------------------------------------------------- another command's checkpoint
def _checkpoint(path, meta):
    mg.save({"model.W": np.zeros((2, 2)), "meta": np.array(json.dumps(meta))}, path)
    return str(path)


@pytest.fixture
def checkpoints(tmp_path):
    return {
        "train": _checkpoint(tmp_path / "train.npz", {"config": {"task": "temporal_order"}, "state": {},
                                                      "format": 1}),
        "translate": _checkpoint(tmp_path / "translate.npz", {"kind": "translate", "config": {"task": "reverse"},
                                                              "state": {}}),
        "copy": _checkpoint(tmp_path / "copy.npz", {"kind": "ntm-copy", "config": {}, "state": {}, "format": 1}),
        "music": _checkpoint(tmp_path / "music.npz", {"kind": "natural", "config": {"task": "music"}, "state": {}}),
    }


@pytest.mark.parametrize("argv, given, said", [
    (["evaluate", "{}"], "translate", "is not a checkpoint of `minigrad train`, sweep or demo (what minigrad "
                                      "evaluate reads): it was written by `minigrad translate`"),
    (["jacobian", "{}", "--out", "{tmp}/j"], "translate", "is not a checkpoint of `minigrad train`, sweep or demo "
                                                         "(what minigrad jacobian reads): it was written by "
                                                         "`minigrad translate`"),
    (["dynamics", "--what", "fixed-points", "--checkpoint", "{}", "--out", "{tmp}/f.png"], "copy",
     "is not a checkpoint of `minigrad train`, sweep or demo (what minigrad dynamics reads): it was written by "
     "`minigrad copy`"),
    (["copy", "--checkpoint", "{}"], "train", "is not a checkpoint of minigrad copy: it was written by "
                                              "`minigrad train`, sweep or demo"),
    (["translate", "--heatmaps", "{}"], "music", "is not a checkpoint of `minigrad translate`: it was written by "
                                                 "`minigrad music`"),
])
def test_a_checkpoint_of_another_command_says_which_made_it(argv, given, said, checkpoints, tmp_path, capsys):
    argv = [a.format(checkpoints[given], tmp=tmp_path) for a in argv]
    assert refused(argv, capsys) == f"{checkpoints[given]} {said}"


# ----------------------------------------------------------------------------- music, charlm: checks before data
@pytest.fixture
def no_data(monkeypatch):
    from tasks import charlm, music

    def loading(*args, **kwargs):
        raise AssertionError("the data was loaded before the arguments were checked")
    monkeypatch.setattr(music, "load_chorales", loading)
    monkeypatch.setattr(charlm, "load_corpus", loading)


@pytest.mark.parametrize("command", ["music", "charlm"])
def test_natural_tasks_check_every_argument_before_reading_data(command, no_data, checkpoints, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert "unknown method 'adam'" in refused([command, "--methods", "adam"], capsys)
    assert "--hidden must be a positive integer, got 0" in refused([command, "--hidden", "0"], capsys)
    assert f"--out {a_file} is a file, not a folder" in refused([command, "--out", str(a_file)], capsys)
    empty = tmp_path / "empty"
    assert "holds no checkpoint.npz to resume from" in refused([command, "--resume", "--out", str(empty)], capsys)
    assert "--resume and --force contradict" in refused([command, "--resume", "--force", "--out", str(empty)], capsys)
    (tmp_path / "other" / "msgd").mkdir(parents=True)
    (tmp_path / "other" / "msgd" / "checkpoint.npz").write_bytes(open(checkpoints["translate"], "rb").read())
    text = refused([command, "--methods", "msgd", "--resume", "--out", str(tmp_path / "other")], capsys)
    assert text.endswith(f"is not a checkpoint of `minigrad {command}` (what minigrad {command} --resume reads): "
                         "it was written by `minigrad translate`")


# ----------------------------------------------------------------------------- translate --png
def test_translate_png_names_the_flag_and_the_formats(checkpoints, capsys):
    text = refused(["translate", "--heatmaps", checkpoints["translate"], "--png", "a.xyz"], capsys)
    assert text.startswith("--png a.xyz:") and ".png, .svg, .pdf" in text


# ----------------------------------------------------------------------------- --init with a gated cell
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_init_with_a_gated_cell_is_refused(cell, tmp_path, capsys):
    text = refused(["train", "temporal-order", "--cell", cell, "--init", "sigmoid", "--out", str(tmp_path / "r")],
                   capsys)
    assert text.startswith(f"--init sigmoid is for --cell rnn: the {cell} cell has its own initialization")
    assert not (tmp_path / "r").exists()
    from tasks.cli import _config
    assert _config(build_parser().parse_args(["train", "temporal-order", "--cell", cell])).cell == cell


# ------------------------------------------------------------------ --resume with --force; evaluate
def test_resume_and_force_together_are_refused_and_nothing_is_deleted(tmp_path, capsys):
    """--force deletes a run and --resume continues it: both at once were accepted (the run was
    resumed and --force ignored). Refused now, before any file is touched."""
    out = tmp_path / "run"
    common = ["train", "temporal-order", "--length", "10", "--hidden", "4", "--eval-every", "10",
              "--eval-size", "50", "--out", str(out), "--quiet"]
    assert main(common + ["--max-updates", "10"]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    text = refused(common + ["--max-updates", "20", "--resume", "--force"], capsys)
    assert "--resume and --force contradict" in text and str(out) in text
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before


def test_evaluate_shows_a_progress_bar_on_stderr_and_the_table_on_stdout(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "4", "--eval-every", "10",
                 "--eval-size", "50", "--out", str(out), "--quiet", "--max-updates", "10"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(out / "checkpoint.npz"), "--lengths", "10", "30", "--size", "40"]) == 0
    captured = capsys.readouterr()
    assert "evaluating" in captured.err and "step/s" in captured.err      # tqdm's bar, with its unit
    rows = [line.split() for line in captured.out.splitlines()[2:]]
    assert [r[0] for r in rows] == ["10", "30"] and all(0 <= float(r[1]) <= 100 for r in rows)
    assert main(["evaluate", str(out / "checkpoint.npz"), "--lengths", "10", "30", "--size", "40", "--quiet"]) == 0
    quiet = capsys.readouterr()
    assert quiet.err == "" and quiet.out == captured.out      # the same numbers, no bar
