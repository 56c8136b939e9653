"""Follow-ups to rnn.attention and ``minigrad translate``: a source with no real token (a batch
column that is all padding) gets attention weights 0 and a zero context, finite everywhere, and
changes nothing in the other columns (it gave NaN, which reached every parameter's gradient);
``translate --heatmaps`` refuses training settings it would ignore, as ``copy --checkpoint``
does (it silently drew the checkpoint's model); edited checkpoints and empty inputs are one line."""
import json

import numpy as np
import pytest

import minigrad as mg
from rnn.attention import SCORES, Seq2Seq, make_attention
from tasks import translation
from tasks.cli import main
from conftest import T
from test_attention import ints, with_parameters     # one helper for both files

F64 = np.float64

# time-major (S, B) = (3, 3): column 0 has 3 real positions, column 1 none, column 2 one
MASK = np.array([[True, False, True],
                 [True, False, False],
                 [True, False, False]])
OTHERS = [0, 2]


# ----------------------------------------------------------------------------- the attention alone
def _attend(att, s, H, mask, R1, R2, device):
    """Context and weights of ``att`` and, after backward of <R1, context> + <R2, weights>, the
    gradients of the query, the annotations and the parameters (host arrays)."""
    for p in att.parameters():
        p.grad = None
    st, Ht = T(s, device, requires_grad=True), T(H, device, requires_grad=True)
    context, weights = att(st, att.memory(Ht, mg.tensor(mask, device=device)))
    ((context * T(R1, device)).sum() + (weights * T(R2, device)).sum()).backward()
    return (context.numpy(), weights.numpy(), st.grad.numpy(), Ht.grad.numpy(),
            {n: p.grad.numpy() for n, p in att.named_parameters()})


@pytest.mark.parametrize("score", SCORES)
def test_an_empty_source_gets_zero_weights_and_context_and_changes_nothing_else(score, device, rng):
    att = make_attention(score, 4, 5, 3, seed=1, dtype=F64, device=device)
    s, H = rng.standard_normal((3, 4)), rng.standard_normal((3, 3, 5))
    R1, R2 = rng.standard_normal((3, 5)), rng.standard_normal((3, 3))
    c, w, gs, gH, gp = _attend(att, s, H, MASK, R1, R2, device)
    for array in (c, w, gs, gH, *gp.values()):
        assert np.all(np.isfinite(array))
    # the empty column: weights and context exactly 0, so nothing flows back to its query or annotations
    assert np.all(w[1] == 0) and np.all(c[1] == 0)
    assert np.all(gs[1] == 0) and np.all(gH[:, 1] == 0)
    # the others: weights a softmax over their real positions (rows sum to 1, padding exactly 0)
    np.testing.assert_allclose(w[OTHERS].sum(-1), 1, rtol=1e-13)
    assert np.all(w[OTHERS][~MASK[:, OTHERS].T] == 0) and np.all(w[OTHERS][MASK[:, OTHERS].T] > 0)
    np.testing.assert_allclose(c[2], H[0, 2], rtol=1e-13)          # one real position: c = h_1
    # ... and bit for bit what the batch without the empty column gives
    c2, w2, gs2, gH2, gp2 = _attend(att, s[OTHERS], H[:, OTHERS], MASK[:, OTHERS], R1[OTHERS], R2[OTHERS], device)
    for full, alone in ((c[OTHERS], c2), (w[OTHERS], w2), (gs[OTHERS], gs2), (gH[:, OTHERS], gH2)):
        assert np.array_equal(full, alone)
    for name in gp:                 # sums over the batch, with one term exactly 0 more
        np.testing.assert_allclose(gp[name], gp2[name], rtol=1e-13, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("score", SCORES)
def test_attention_gradients_with_an_empty_source(score, device, rng):
    att = make_attention(score, 3, 4, 3, seed=2, dtype=F64, device=device)
    mask = mg.tensor(MASK, device=device)
    current = []

    def f():
        s, H = current
        context, weights = att(s, att.memory(H, mask))
        return mg.concat([context, weights], axis=-1)
    g, params = with_parameters(att, f)

    def h(s, H, *tensors):
        current[:] = [s, H]
        return g(*tensors)
    inputs = [T(rng.standard_normal((3, 3)), device), T(rng.standard_normal((3, 3, 4)), device)]
    assert mg.gradcheck(h, inputs + params, full_below=40, directions=3)


def test_a_fully_padded_batch_is_all_zeros(device, rng):
    """Every column empty: weights 0, contexts 0, gradients 0 (no NaN anywhere)."""
    att = make_attention("additive", 2, 3, 2, seed=3, dtype=F64, device=device)
    mask = np.zeros((2, 2), bool)
    c, w, gs, gH, gp = _attend(att, rng.standard_normal((2, 2)), rng.standard_normal((2, 2, 3)), mask,
                               rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), device)
    assert all(np.all(a == 0) for a in (c, w, gs, gH, *gp.values()))


# ----------------------------------------------------------------------------- the whole model
SOURCE = [[3, 0, 4],           # (S, B): column 1 is all padding (PAD = 0)
          [5, 0, 0]]
REAL = [[3, 6, 4],             # the same with a real source in column 1
        [5, 3, 0]]
TARGET_IN = [[1, 1, 1], [4, 5, 6]]
TARGETS = [[4, 5, 6], [2, 2, 2]]


def _model(device, cell="gru"):
    return Seq2Seq(7, 7, embed=2, hidden=3, attention=2, cell=cell, bidirectional=True, seed=5, dtype=F64,
                   device=device)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_seq2seq_with_an_empty_source_is_finite_and_leaves_the_others_alone(cell, device):
    model = _model(device, cell)
    logits, weights = model(ints(SOURCE, device), ints(TARGET_IN, device))
    assert np.all(np.isfinite(logits.numpy())) and np.all(weights.numpy()[:, 1] == 0)
    memory, state = model.start(ints(SOURCE, device))
    context, _ = model.decoder.attention(state, memory)
    assert np.all(context.numpy()[1] == 0)                       # a zero context
    # The other columns: bit for bit what they give next to a real source instead of the empty
    # one (same shapes), and what they give without it to the last bits (with B = 2 instead of 3
    # the matrix products may round differently, as they do for a real third column too).
    real = ints(REAL, device)
    real_logits, real_weights = model(real, ints(TARGET_IN, device))
    assert np.array_equal(logits.numpy()[:, OTHERS], real_logits.numpy()[:, OTHERS])
    assert np.array_equal(weights.numpy()[:, OTHERS], real_weights.numpy()[:, OTHERS])
    alone_logits, alone_weights = model(ints(np.array(SOURCE)[:, OTHERS], device),
                                        ints(np.array(TARGET_IN)[:, OTHERS], device))
    np.testing.assert_allclose(logits.numpy()[:, OTHERS], alone_logits.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(weights.numpy()[:, OTHERS], alone_weights.numpy(), rtol=1e-13, atol=1e-15)
    # the loss over the other columns only (column 1's targets are PAD): the same gradients
    ignored = np.array(TARGETS)
    ignored[:, 1] = model.pad
    grads = []
    for source, target_in, targets in ((SOURCE, TARGET_IN, ignored), (REAL, TARGET_IN, ignored),
                                       [np.array(a)[:, OTHERS] for a in (SOURCE, TARGET_IN, TARGETS)]):
        model.zero_grad()
        model.loss(ints(source, device), ints(target_in, device), ints(targets, device)).backward()
        grads.append({n: p.grad.numpy() for n, p in model.named_parameters()})
    for name in grads[0]:
        assert np.all(np.isfinite(grads[0][name])), name
        assert np.array_equal(grads[0][name], grads[1][name]), name
        np.testing.assert_allclose(grads[0][name], grads[2][name], rtol=1e-12, atol=1e-15, err_msg=name)
    # greedy decoding of the empty source: valid tokens, weights 0
    tokens, weights = model.greedy(ints(SOURCE, device), 3)
    assert tokens.numpy().min() >= 0 and tokens.numpy().max() < 7 and np.all(weights.numpy()[:, 1] == 0)


def test_seq2seq_loss_gradients_with_an_empty_source(device):
    """Central differences of the loss with the empty column's targets counted: finite, and the
    backward pass agrees (its decoder still learns from b_init and the previous tokens)."""
    model = _model(device)
    source, target_in, targets = ints(SOURCE, device), ints(TARGET_IN, device), ints(TARGETS, device)
    g, params = with_parameters(model, lambda: model.loss(source, target_in, targets))
    model.zero_grad()
    model.loss(source, target_in, targets).backward()
    assert all(np.all(np.isfinite(p.grad.numpy())) for p in params)
    assert mg.gradcheck(g, params, full_below=12, directions=2)


@pytest.mark.parametrize("call, said", [
    (lambda m, I: m.greedy(I([[3, 4]]), 0), "Seq2Seq.greedy: max_len must be a whole number of steps, at least 1, got 0"),
    (lambda m, I: m.greedy(I([[3, 4]]), 2.5), "max_len must be a whole number of steps, at least 1, got 2.5"),
    (lambda m, I: m(I([[3, 4]]), I(np.zeros((0, 2)))),
     "Seq2Seq: target_in of shape (0, 2) has no steps: give at least one"),
    (lambda m, I: m(I(np.zeros((0, 2))), I([[1, 1]])),
     "Seq2Seq: source of shape (0, 2) has no steps: give at least one (a source of padding only is allowed)"),
    (lambda m, I: m(mg.tensor(np.array([[3.0, 4.0]])), I([[1, 1]])),
     "Seq2Seq: source must be a 2-D integer tensor of tokens, time-major (steps, batch); got shape (1, 2) of float64"),
    (lambda m, I: m(I([3, 4]), I([[1, 1]])), "source must be a 2-D integer tensor of tokens"),
    (lambda m, I: m(I([[3, 4]]), I([[1, 1, 1]])), "Seq2Seq: target_in has a batch of 3, the source one of 2"),
])
def test_seq2seq_says_what_is_wrong_with_its_tokens(call, said):
    """They failed deep inside with "stack needs at least one tensor", a concat shape error or an
    IndexError of the mask."""
    with pytest.raises(ValueError) as e:
        call(_model("cpu"), lambda a: ints(a, "cpu"))
    assert said in str(e.value) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- translate --heatmaps
TINY = ["translate", "--max-length", "2", "--embed", "2", "--hidden", "3", "--attention", "2", "--batch-size", "2",
        "--max-updates", "2", "--eval-every", "2", "--eval-size", "2", "--quiet"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("translate") / "run"
    assert main(TINY + ["--out", str(out)]) == 0
    return out / "checkpoint.npz"


def refused(argv, capsys) -> str:
    """``minigrad argv`` refuses: exit status 2, one line on stderr, no traceback; that line."""
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert status == 2, (status, err)
    assert len(lines) == 1 and lines[0].startswith("minigrad: error: ") and "Traceback" not in err, err
    return lines[0][len("minigrad: error: "):]


def test_heatmaps_refuses_the_training_settings_it_would_ignore(checkpoint, tmp_path, capsys):
    png = str(tmp_path / "maps.png")
    said = refused(["translate", "--heatmaps", str(checkpoint), "--png", png, "--lr", "0.5", "--max-updates", "10",
                    "--task", "sort", "--no-bidirectional"], capsys)
    assert said == ("--heatmaps draws the model as it was trained: --task sort (the checkpoint's: --task reverse); "
                    "--no-bidirectional (the checkpoint's: --bidirectional); --max-updates 10 (the checkpoint's: "
                    "--max-updates 2); --lr 0.5 (the checkpoint's: --lr 0.1) would be ignored (it takes --png, "
                    "--examples, --device)")
    assert not (tmp_path / "maps.png").exists()
    # a setting given equal to the checkpoint's is fine (commands copied from the training run's), and so is --device
    assert main(["translate", "--heatmaps", str(checkpoint), "--png", png, "--max-length", "2", "--hidden", "3",
                 "--device", "strict", "--examples", "1"]) == 0
    assert (tmp_path / "maps.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # --png in a folder not made yet: made (it failed after drawing, "No such file or directory")
    deeper = tmp_path / "new" / "maps.svg"
    assert main(["translate", "--heatmaps", str(checkpoint), "--png", str(deeper), "--examples", "1"]) == 0
    assert deeper.read_text().lstrip().startswith("<?xml")


@pytest.mark.parametrize("extra, said", [
    (["--out", "{tmp}/o"], "--heatmaps draws a trained model into --png and trains nothing: give it without --out"),
    (["--resume", "--force"], "give it without --resume, --force"),
])
def test_heatmaps_refuses_run_folder_flags(checkpoint, tmp_path, capsys, extra, said):
    extra = [a.format(tmp=tmp_path) for a in extra]
    png = ["--png", str(tmp_path / "m.png")]     # not the working folder's attention.png, should it draw
    assert said in refused(["translate", "--heatmaps", str(checkpoint)] + png + extra, capsys)
    assert not (tmp_path / "m.png").exists()


def test_png_without_heatmaps_is_refused(tmp_path, capsys):
    said = refused(TINY + ["--out", str(tmp_path / "run"), "--png", str(tmp_path / "x.png")], capsys)
    assert said == (f"--png {tmp_path / 'x.png'} names the file of --heatmaps CHECKPOINT; a training run draws its "
                    f"heat maps into its run folder's attention.png")
    assert not (tmp_path / "run").exists()


def _edited(checkpoint, path, edit):
    arrays = mg.load(checkpoint)
    meta = json.loads(str(arrays["meta"]))
    edit(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    mg.save(arrays, path)
    return str(path)


@pytest.mark.parametrize("edit, said", [
    (lambda m: m["config"].update(max_length="2"), "(a setting of the wrong type: "),
    (lambda m: m["state"].update(outcome=5), "(unreadable run state: update 2, outcome 5)"),
])
def test_an_edited_checkpoint_is_one_line(checkpoint, tmp_path, capsys, edit, said):
    """A setting or state of the wrong type in the checkpoint's metadata gave a TypeError or an
    AttributeError traceback (with --heatmaps and with --resume)."""
    bad = _edited(checkpoint, tmp_path / "bad.npz", edit)
    assert said in refused(["translate", "--heatmaps", bad, "--png", str(tmp_path / "m.png")], capsys)
    out = tmp_path / "run"
    out.mkdir()
    _edited(checkpoint, out / "checkpoint.npz", edit)
    text = refused(TINY + ["--out", str(out), "--resume"], capsys)
    assert "is not a checkpoint of `minigrad translate`" in text or "is from another run: max_length" in text


def test_heatmaps_of_non_finite_weights_are_refused(checkpoint, tmp_path, capsys):
    """An edited (or diverged) checkpoint with NaN/inf weights drew blank heat maps without a
    word; now one line names the parameters and draws nothing."""
    arrays = mg.load(checkpoint)
    v = np.array(arrays["model.decoder.attention.v"], copy=True)
    v.flat[0], v.flat[-1] = np.nan, np.inf
    arrays["model.decoder.attention.v"] = v
    e = np.array(arrays["model.encoder.embedding.E"], copy=True)
    e.flat[1] = -np.inf
    arrays["model.encoder.embedding.E"] = e
    bad = tmp_path / "nan.npz"
    mg.save(arrays, bad)
    png = tmp_path / "m.png"
    assert refused(["translate", "--heatmaps", str(bad), "--png", str(png)], capsys) == (
        f"{bad}: the model's weights are not finite (encoder.embedding.E: 1 inf; decoder.attention.v: 1 NaN, 1 inf); "
        "a run that diverged cannot be inspected: train it again (a translate run keeps no earlier weights)")
    assert not png.exists()


def test_heatmaps_of_no_examples_is_a_value_error():
    from viz.attention import attention_heatmaps
    with pytest.raises(ValueError, match="no examples to draw"):          # was ZeroDivisionError
        attention_heatmaps([])


@pytest.mark.parametrize("argv, said", [
    (["--heatmaps", ""], "--heatmaps got an empty name: give a run folder's checkpoint.npz"),
    (["--heatmaps", "  "], "--heatmaps got an empty name: give a run folder's checkpoint.npz"),
    (["--out", ""], "--out got an empty name: give the run's folder"),
])
def test_empty_names_are_refused(argv, said, tmp_path, monkeypatch, capsys):
    """``--heatmaps ""`` trained a whole run (an empty name read as "not given"), and ``--out ""``
    wrote into the default runs/ folder."""
    monkeypatch.chdir(tmp_path)
    assert refused(TINY + argv, capsys) == said
    assert not (tmp_path / "runs").exists()


def test_resume_continues_with_the_runs_own_settings(tmp_path, capsys):
    """``--resume --out FOLDER``, as the interrupted run's own message says to continue, took
    every setting not given from the defaults: a run of non-default settings was refused as
    "from another run" (7 settings listed), and a run's --max-updates silently became 20000."""
    out = tmp_path / "run"
    assert main(TINY + ["--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["translate", "--resume", "--out", str(out), "--quiet"]) == 0, capsys.readouterr().err
    assert "budget after 2 updates" in capsys.readouterr().out                # its budget, not 20000
    assert main(["translate", "--resume", "--out", str(out), "--quiet", "--max-updates", "4"]) == 0
    assert "budget after 4 updates" in capsys.readouterr().out
    assert translation.Translator.saved_config(out / "checkpoint.npz") == translation.TranslateConfig(
        max_length=2, embed=2, hidden=3, attention=2, batch_size=2, max_updates=4, eval_every=2, eval_size=2)
    assert refused(["translate", "--resume", "--out", str(out), "--hidden", "4"], capsys) == \
        f"{out / 'checkpoint.npz'} is from another run: hidden: checkpoint 3, asked 4"


def test_a_checkpoint_of_a_device_not_here_says_to_choose_one(checkpoint, tmp_path, capsys):
    """A run saved on a device this machine lacks (a GPU run opened on a laptop): the error now
    says where the device came from and that --device chooses another."""
    moved = _edited(checkpoint, tmp_path / "moved.npz", lambda m: m["config"].update(device="nosuchdevice"))
    png = str(tmp_path / "m.png")
    said = refused(["translate", "--heatmaps", moved, "--png", png], capsys)
    assert said.startswith(f"{moved} was saved on a device not available here: ") and said.endswith(
        "(choose one with --device)")
    assert main(["translate", "--heatmaps", moved, "--png", png, "--device", "cpu", "--examples", "1"]) == 0


def test_a_folder_given_as_the_picture_suggests_a_file_of_its_own_kind(tmp_path, capsys):
    """--png / dynamics --out naming a folder: the one-line error suggests a picture name of that
    command (before: 'graph.svg' for every command, a format --png of a PNG-only figure refuses)."""
    from tasks.cli import main
    folder = tmp_path / "pics.png"
    folder.mkdir()
    assert main(["dynamics", "--what", "lyapunov", "--out", str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith(f"such as {folder / 'lyapunov.png'}"), err


def test_heat_maps_of_long_strings_stay_a_picture_one_can_open():
    """16 examples of 100 tokens: before, 4 x (0.35 * 100 + 1.6) = 146 inches wide (14,600
    pixels at 100 dpi); now each map is at most 8 inches on a side."""
    import matplotlib.pyplot as plt
    from viz.attention import attention_heatmaps
    n = 100
    example = {"weights": np.full((n, n), 1.0 / n), "source": ["1"] * n, "output": ["2"] * n}
    fig = attention_heatmaps([example] * 16)
    width, height = fig.get_size_inches()
    plt.close(fig)
    assert width <= 4 * (8.0 + 1.6) + 1e-9 and height <= 4 * (8.0 + 1.4) + 1e-9, (width, height)


def test_evaluation_in_chunks_counts_every_string_once(tmp_path, monkeypatch):
    """``evaluate`` decodes at most EVAL_CHUNK strings at a time (memory bounded whatever
    --eval-size; it decoded the whole set at once): with chunks of 7 strings (the last one
    short) the accuracy is the count made here by hand from one decoding of the whole set."""
    config = translation.TranslateConfig(max_length=3, embed=4, hidden=8, attention=6, batch_size=16,
                                         max_updates=120, eval_every=120, eval_size=61, target_accuracy=1.0,
                                         dtype="float64")
    run = translation.Translator(config)
    run.train(tmp_path, progress=False)
    b = run.batch(translation.EVAL, run.state.update, config.eval_size)
    tokens = run.model.greedy(b.source, b.targets.shape[0])[0].numpy()
    right = 0
    for i, column in enumerate(b.source.numpy().T):
        digits = [int(t) for t in column if t != translation.PAD]
        out = [int(t) for t in tokens[:, i]]
        right += translation.EOS in out and out[:out.index(translation.EOS)] == digits[::-1]
    assert 0 < right < 61                       # a partly trained model: the count is informative
    monkeypatch.setattr(translation, "EVAL_CHUNK", 7)
    decoded, greedy = [], run.model.greedy
    monkeypatch.setattr(run.model, "greedy", lambda source, n: decoded.append(source.shape[1]) or greedy(source, n))
    assert run.evaluate() == right / 61
    assert decoded == [7] * 8 + [5]
