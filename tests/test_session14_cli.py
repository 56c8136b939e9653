"""Session 14's audit of the minigrad command as a new user and as an adversary: each test here
failed before its fix (a traceback, a misleading message, work lost to a check made too late,
a setting silently unused).  Refusals are one line, "minigrad: error: ...", exit status 2."""
import json
import os

import numpy as np
import pytest

import minigrad as mg
from tasks.cli import main
from test_cli_messages import refused     # one helper for both files

TINY = ["--length", "10", "--hidden", "4", "--eval-every", "5", "--eval-size", "20", "--check-size", "20", "--quiet"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run folder (temporal order, T = 10, 5 updates)."""
    out = tmp_path_factory.mktemp("s14") / "run"
    assert main(["train", "temporal-order", *TINY, "--max-updates", "5", "--out", str(out)]) == 0
    return out


def _edited(run, path, edit=None, drop=None):
    """A copy of the run's checkpoint with its meta edited (``edit(meta)``) or an array dropped."""
    arrays = dict(np.load(run / "checkpoint.npz"))
    if drop:
        del arrays[drop]
    if edit:
        meta = json.loads(str(arrays["meta"]))
        edit(meta)
        arrays["meta"] = np.array(json.dumps(meta))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


# ----------------------------------------------------------------- numbers on the command line
@pytest.mark.parametrize("flag, value, said", [
    ("--lr", "-1e-3", "--lr must be a positive number, got -0.001"),
    ("--alpha", "-inf", "--alpha must be 0 or more, got -inf"),
    ("--clip", "-2.5E+1", "--clip must be a positive number, got -25.0"),
])
def test_a_negative_number_in_any_spelling_is_a_value_not_an_option(flag, value, said, tmp_path, capsys):
    """argparse took "-1e-3" and "-inf" for options: "--lr: expected one argument"."""
    assert refused(["train", "temporal-order", flag, value, "--out", str(tmp_path / "r")], capsys) == said
    assert not (tmp_path / "r").exists()


BIG = "99999999999999999999999"


@pytest.mark.parametrize("argv", [
    ["train", "temporal-order", "--length", "10", "--max-length", BIG],        # was an OverflowError traceback
    ["translate", "--hidden", BIG],                                             # was a TypeError traceback (sqrt)
    ["copy", "--width", BIG],                                                   # was "Maximum allowed dimension exceeded"
    ["train", "temporal-order", "--seed", BIG],                                 # was accepted (copy refuses it)
    ["sweep", "--seeds", "-" + BIG],
])
def test_a_whole_number_beyond_int64_is_refused_naming_the_flag(argv, tmp_path, capsys):
    flag = next(a for a in argv if a.startswith("--") and argv[argv.index(a) + 1].lstrip("-") == BIG)
    text = refused(argv + ["--out", str(tmp_path / "r")], capsys)
    assert f"{flag} must be at" in text and "2^63 - 1" in text and BIG in text, text
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("argv, flag", [
    (["copy", "--max-length", "3", "--width", str(2 ** 62)], "--width"),
    (["compare", "--models", "rnn", "--hidden", str(2 ** 62)], "--hidden"),
])
def test_sizes_no_machine_can_allocate_name_the_flags_given(argv, flag, tmp_path, capsys):
    """Below 2^63 but far beyond any memory: NumPy's "array is too big" / "Maximum allowed
    dimension exceeded" alone did not say which setting was at fault."""
    text = refused(argv + ["--out", str(tmp_path / "r"), "--quiet"], capsys)
    assert text.startswith("the sizes given (") and f"{flag} {2 ** 62}" in text and "lower them" in text, text


# ----------------------------------------------------------------- dynamics
def test_dynamics_makes_the_folder_of_out_before_the_work(tmp_path, capsys):
    """--out new/b.png passed the checks, then failed after the work: "No such file or directory"."""
    out = tmp_path / "new" / "b.png"
    assert main(["dynamics", "--points", "10", "--out", str(out), "--quiet"]) == 0
    assert out.stat().st_size > 1000


@pytest.mark.parametrize("argv, unused", [
    (["--what", "bifurcation", "--points", "10", "--hidden", "5"], "--hidden"),
    (["--what", "lyapunov", "--w", "3", "--starts", "4", "--radii", "0"], "--w, --starts"),
])
def test_dynamics_says_which_options_of_another_picture_are_unused(argv, unused, tmp_path, capsys):
    """They were silently unused (the bifurcation drawn with --hidden 5 --checkpoint X ignored
    both).  A note, not a refusal: the README's tests give every picture one set of options."""
    status = main(["dynamics", *argv, "--out", str(tmp_path / "x.png"), "--quiet"])
    err = capsys.readouterr().err
    note = f"minigrad: note: {unused} {'are' if ',' in unused else 'is'} not used by --what {argv[1]} (it takes"
    assert note in err, err
    if argv[1] == "bifurcation":
        assert status == 0 and (tmp_path / "x.png").exists()
    else:                               # --radii 0 is refused after the note: nothing is computed
        assert status == 2 and "--radii must be at least 1" in err


# ----------------------------------------------------------------- checkpoints that are not
def test_a_fifo_is_not_a_checkpoint(tmp_path, capsys):
    """A FIFO passed the checks and was read forever."""
    from tasks.runfiles import RunError, check_checkpoint
    fifo = tmp_path / "c.npz"
    os.mkfifo(fifo)
    with pytest.raises(RunError, match="is not a regular file"):
        check_checkpoint(fifo)
    assert "not a regular file" in refused(["copy", "--checkpoint", str(fifo)], capsys)
    assert "not a regular file" in refused(["translate", "--heatmaps", str(fifo)], capsys)


def test_an_edited_checkpoint_is_named_in_the_error(run, tmp_path, capsys):
    """"shape mismatch: ..." and "--hidden must be at least 1, got 4" (a string "4") did not say
    which file was wrong."""
    bad = _edited(run, tmp_path / "shape.npz", edit=lambda m: m["config"].update(hidden=40))
    text = refused(["evaluate", str(bad), "--lengths", "10", "--size", "10", "--quiet"], capsys)
    assert text.startswith(f"{bad}: shape mismatch"), text
    bad = _edited(run, tmp_path / "str.npz", edit=lambda m: m["config"].update(hidden="4"))
    text = refused(["jacobian", str(bad), "--length", "10", "--out", str(tmp_path / "j")], capsys)
    assert text == f"{bad}: --hidden must be at least 1, got '4'", text


def test_copy_checkpoint_whose_metadata_is_not_a_dict_is_one_line(run, tmp_path, capsys):
    """Was an AttributeError traceback ('list' object has no attribute 'get')."""
    arrays = dict(np.load(run / "checkpoint.npz"))
    arrays["meta"] = np.array(json.dumps([1, 2]))
    np.savez(tmp_path / "m.npz", **arrays)
    assert "is not a checkpoint of minigrad copy" in refused(["copy", "--checkpoint", str(tmp_path / "m.npz")], capsys)


@pytest.mark.parametrize("edit, drop, said", [
    (lambda m: m["state"].update(update=-5), None, "its update count -5 is not a whole number of 0 or more"),
    (None, "model.layers.0.W_rec", "state dict does not match"),
])
def test_resume_from_a_damaged_checkpoint_names_it_before_training(edit, drop, said, run, tmp_path, capsys):
    """Was "expected non-negative integer" (NumPy's, from the first update's seed) or "state dict
    does not match ..." with no file named."""
    out = tmp_path / "r"
    _edited(run, out / "checkpoint.npz", edit=edit, drop=drop)
    before = (out / "checkpoint.npz").read_bytes()
    text = refused(["train", "temporal-order", "--resume", "--out", str(out), "--quiet"], capsys)
    assert text.startswith(f"{out / 'checkpoint.npz'}: cannot resume from it: ") and said in text, text
    assert (out / "checkpoint.npz").read_bytes() == before


# ----------------------------------------------------------------- writability checked before the work
@pytest.fixture
def read_only(monkeypatch, tmp_path):
    """``tmp_path/ro`` reads as not writable (root writes through permission bits)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.fspath(p) == str(ro) else real(p, mode, **kw))
    return ro


def test_copy_figure_in_a_read_only_folder_is_refused_before_testing(run, read_only, tmp_path, capsys):
    """The machine was tested, then the figure failed: "<path>: Read-only file system"."""
    out = tmp_path / "cp"
    _tiny_copy_run(out)
    capsys.readouterr()
    text = refused(["copy", "--checkpoint", str(out / "checkpoint.npz"), "--figure", str(read_only / "w.png")], capsys)
    assert text == f"--figure {read_only / 'w.png'} cannot be written: no permission to write in {read_only}"


def test_diagnostics_out_in_a_read_only_folder_names_the_flag(run, read_only, capsys):
    text = refused(["diagnostics", str(run), "--out", str(read_only / "d")], capsys)
    assert text == f"--out {read_only / 'd'} cannot be written: no permission to write in {read_only}"
    assert not (read_only / "d").exists()


# ----------------------------------------------------------------- resume with --out alone
def test_resume_with_out_alone_continues_the_run_as_it_was(tmp_path, capsys):
    """train --help says "--resume --out X alone continues it as it was", but the task was
    required; without --resume the task is still required."""
    out = tmp_path / "r"
    assert main(["train", "temporal-order", *TINY, "--max-updates", "5", "--out", str(out)]) == 0
    assert main(["train", "--resume", "--out", str(out), "--max-updates", "10", "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [5, 10]
    saved = json.loads(str(mg.load(out / "checkpoint.npz")["meta"]))
    assert saved["state"]["update"] == 10 and saved["config"]["hidden"] == 4 and saved["config"]["eval_size"] == 20
    capsys.readouterr()
    assert "the following arguments are required: task" in refused(["train"], capsys)
    assert "give --out FOLDER" in refused(["train", "--resume"], capsys)
    assert "holds no checkpoint.npz" in refused(["train", "--resume", "--out", str(tmp_path / "none")], capsys)


# ----------------------------------------------------------------- empty values, dangling links, unused settings
def test_an_empty_value_is_refused(tmp_path, monkeypatch, capsys):
    """`--out ""` trained into the default folder (runs/...), `evaluate ""` said "is a folder"."""
    monkeypatch.chdir(tmp_path)
    text = refused(["train", "temporal-order", *TINY, "--max-updates", "1", "--out", ""], capsys)
    assert text.startswith("train: --out must not be empty"), text
    assert not (tmp_path / "runs").exists()
    assert refused(["evaluate", ""], capsys).startswith("evaluate: checkpoint must not be empty")


def test_out_that_is_a_dangling_symbolic_link_says_so(tmp_path, capsys):
    """Was "<path>: File exists" (mkdir of the link)."""
    link = tmp_path / "run"
    link.symlink_to(tmp_path / "gone")
    text = refused(["train", "temporal-order", *TINY, "--out", str(link)], capsys)
    assert text == f"--out {link} cannot be made: {link} is a symbolic link to {tmp_path / 'gone'}, which does not exist"


def test_settings_the_method_does_not_use_are_said(tmp_path, capsys):
    """`--method msgd --alpha 3 --clip 2` trained plain SGD and said nothing of --alpha and --clip."""
    assert main(["train", "temporal-order", *TINY, "--max-updates", "1", "--method", "msgd", "--alpha", "3",
                 "--clip", "2", "--out", str(tmp_path / "r")]) == 0
    assert "minigrad: note: --alpha, --clip are not used by --method msgd" in capsys.readouterr().err
    assert main(["train", "temporal-order", *TINY, "--max-updates", "1", "--method", "msgd-cr", "--alpha", "3",
                 "--clip", "2", "--out", str(tmp_path / "cr")]) == 0
    assert "note" not in capsys.readouterr().err


def test_an_interrupted_demo_says_where_it_stopped_and_how_to_continue(tmp_path, monkeypatch, capsys):
    """A Ctrl-C during MSGD-C's run was printed as "> 30,000" (the budget), and "minigrad:
    interrupted" said nothing of the checkpoint kept."""
    import signal
    import tasks.cli
    real = tasks.cli.prepare_run

    def stopping(out, config, **kwargs):              # Ctrl-C after MSGD-C's third update
        trainer = real(out, config, **kwargs)
        if config.method == "msgd-c":
            update = trainer.update

            def counted():
                result = update()
                if trainer.state.update >= 2:
                    trainer.request_stop(signal.SIGINT)
                return result
            trainer.update = counted
        return trainer
    monkeypatch.setattr(tasks.cli, "prepare_run", stopping)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--max-updates", "6", "--quiet"]) == 130
    captured = capsys.readouterr()
    rows = {line.split()[0]: line for line in captured.out.splitlines() if line.startswith("msgd")}
    assert set(rows) == {"msgd", "msgd-c"} and "> 6" in rows["msgd"] and "stopped at 3" in rows["msgd-c"], rows
    assert f"minigrad train --resume --out {out / 'msgd-c'}" in captured.err
    monkeypatch.setattr(tasks.cli, "prepare_run", real)
    assert main(["train", "--resume", "--out", str(out / "msgd-c"), "--quiet"]) == 0      # the demo's budget, kept
    assert json.loads(str(mg.load(out / "msgd-c" / "checkpoint.npz")["meta"]))["state"]["update"] == 6


def test_a_mistyped_option_is_said_by_its_command_with_the_likely_one(capsys):
    """Was "unrecognized arguments: --lenght 10 (see minigrad --help)": the top-level help, no hint."""
    assert refused(["train", "temporal-order", "--lenght", "10"], capsys) == (
        "train: unrecognized arguments: --lenght 10 (--lenght: did you mean --length?) (see minigrad train --help)")
    assert refused(["evaluate", "c.npz", "extra"], capsys) == (
        "evaluate: unrecognized arguments: extra (see minigrad evaluate --help)")


def test_force_does_not_delete_another_commands_run(run, tmp_path, capsys):
    """`train --force --out X` deleted the checkpoint, log and config of a `minigrad copy` run in X
    (leaving its pictures beside the new run's); without --force it said "pass --resume to
    continue it", which cannot."""
    out = tmp_path / "cp"
    _tiny_copy_run(out)
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    for force in ([], ["--force"]):
        text = refused(["train", "temporal-order", *TINY, "--out", str(out), *force], capsys)
        assert text == (f"{out} holds a run of `minigrad copy`: minigrad train cannot continue it, and --force "
                        "would delete it; give another --out")
    text = refused(["translate", "--out", str(run), "--force"], capsys)
    assert text.startswith(f"{run} holds a run of `minigrad train`, sweep or demo: minigrad translate cannot")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


_FAKE_C_IMPORT = """
import os, signal, sys, time
class Finder:                       # tasks.cli's import as NumPy's C code does it when Ctrl-C lands
    def find_spec(self, name, path, target=None):
        if name == "tasks.cli":
            try:
                if {interrupt}:
                    os.kill(os.getpid(), signal.SIGINT)
                    time.sleep(5)
            except KeyboardInterrupt:
                pass                # PyCapsule_Import drops the KeyboardInterrupt ...
            raise ImportError('PyCapsule_Import could not import module "datetime"')   # ... and says this
        return None
sys.meta_path.insert(0, Finder())
from tasks import console
sys.exit(console())
"""


@pytest.mark.parametrize("interrupt", [True, False])
def test_ctrl_c_inside_a_c_extensions_import_is_one_line_and_a_real_import_error_is_not_hidden(interrupt):
    """CI caught it: a Ctrl-C while NumPy's C code imports datetime comes out as an ImportError
    (the KeyboardInterrupt is lost on the way), which gave a traceback. Said as the interruption
    it was (status 130, one line); an ImportError without a Ctrl-C is still raised as it is."""
    import os
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _FAKE_C_IMPORT.format(interrupt=interrupt)], cwd=root,
                          env={**os.environ, "PYTHONPATH": root}, capture_output=True, text=True, timeout=60)
    if interrupt:
        assert proc.returncode == 130 and proc.stderr == "minigrad: interrupted\n", proc.stderr
    else:
        assert proc.returncode == 1 and "ImportError: PyCapsule_Import could not import" in proc.stderr


def test_an_overflow_without_a_huge_size_given_is_a_bug_kept_as_such(monkeypatch, capsys):
    """The "sizes ask for more memory" message is for huge whole numbers on the command line; an
    OverflowError (or NumPy's "too big") with ordinary sizes is not blamed on them (review)."""
    import tasks.cli as cli

    def overflow(args):
        raise OverflowError("math range error")
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    parser._subparsers._group_actions[0].choices["train"].set_defaults(run=overflow)
    with pytest.raises(OverflowError, match="math range error"):
        main(["train", "temporal-order", "--hidden", "8"])
    def too_big(args):
        raise ValueError("array is too big; `arr.size * arr.dtype.itemsize` is larger than the maximum possible size.")
    parser._subparsers._group_actions[0].choices["train"].set_defaults(run=too_big)
    assert main(["train", "temporal-order", "--hidden", "8"]) == 2
    err = capsys.readouterr().err
    assert "ask for more memory" not in err and err.startswith("minigrad: error: array is too big")
    assert main(["train", "temporal-order", "--hidden", str(2 ** 40)]) == 2
    assert "the sizes given (--hidden 1099511627776) ask for more memory" in capsys.readouterr().err


def test_a_blank_name_is_quoted_as_given(capsys):
    assert "--out must not be empty, got ' '" in refused(["train", "temporal-order", "--out", " "], capsys)


def _tiny_copy_run(out):
    """A copy run of one update, as small as the command allows, in ``out``."""
    assert main(["copy", "--max-length", "2", "--width", "2", "--memory-slots", "3", "--memory-width", "2",
                 "--hidden", "3", "--batch-size", "2", "--max-updates", "1", "--eval-every", "1",
                 "--eval-per-length", "1", "--test-lengths", "3", "--test-size", "1", "--out", str(out),
                 "--quiet"]) == 0


def test_a_checkpoint_of_another_format_is_refused_not_misread(run, tmp_path, capsys):
    """Checkpoints say "format": 1; one of another format (a later minigrad's) was read as if it
    were this one's. Refused in one line, for evaluate and for train --resume alike."""
    path = _edited(run, tmp_path / "f9" / "checkpoint.npz", edit=lambda meta: meta.update(format=9))
    text = refused(["evaluate", str(path), "--lengths", "10", "--size", "20"], capsys)
    assert "checkpoint format 9, written by another version of minigrad; this one reads format 1" in text
    text = refused(["train", "--resume", "--out", str(path.parent), "--quiet"], capsys)
    assert "checkpoint format 9" in text
    assert (tmp_path / "f9" / "checkpoint.npz").exists()             # nothing lost
