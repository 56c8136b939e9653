"""rnn.attention, tasks.translation and viz.attention: against an independent NumPy forward pass,
central differences in float64 on every device, the rules of padding, and a short training."""
import numpy as np
import pytest

import minigrad as mg
from rnn.attention import AdditiveAttention, Decoder, Encoder, Seq2Seq
from tasks import translation
from tasks.train import RunError
from conftest import T

F64 = np.float64


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def ints(array, device):
    return mg.tensor(np.asarray(array, dtype=np.int64), device=device)


def with_parameters(module, f):
    """``(g, values)``: ``g(*tensors)`` puts ``tensors`` in place of the module's parameters
    (in ``named_parameters`` order) and returns ``f()``, so gradcheck can vary them."""
    names = [name for name, _ in module.named_parameters()]
    values = [p for _, p in module.named_parameters()]

    def g(*tensors):
        with mg.nn.reparametrized(module, dict(zip(names, tensors))):
            return f()
    return g, values


def check(module, f, *inputs, full_below=40):
    """gradcheck of f over its float inputs and every parameter of module: every element of an
    input up to ``full_below`` elements, three random directions in larger ones."""
    g, values = with_parameters(module, lambda: f(*current))
    current = list(inputs)

    def h(*tensors):
        current[:] = tensors[:len(inputs)]
        return g(*tensors[len(inputs):])
    assert mg.gradcheck(h, list(inputs) + values, full_below=full_below, directions=3)


# A source batch with padding: lengths 3, 1, 2 (PAD = 0), tokens 3..5.
SOURCE = [[3, 4, 5],
          [5, 0, 3],
          [4, 0, 0]]
MASK = np.array(SOURCE) != 0


# ----------------------------------------------------------------------------- NumPy reference
def np_gru(p, x, h):
    z = sigmoid(x @ p["W_z"] + h @ p["U_z"] + p["b_z"])
    r = sigmoid(x @ p["W_r"] + h @ p["U_r"] + p["b_r"])
    n = np.tanh(x @ p["W_n"] + (r * h) @ p["U_n"] + p["b_n"])
    return (1 - z) * n + z * h


def np_lstm(p, x, state):
    h, c = state
    i, f, o, g = np.split(x @ p["W_x"] + h @ p["W_h"] + p["b"], 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def np_reference(model, source, target_in):
    """The whole teacher-forced forward pass in NumPy, written from the paper's equations, one
    sequence at a time (no padding in the computation: each source is cut to its length)."""
    P = {k: v for k, v in model.state_dict().items()}
    sub = lambda prefix: {k[len(prefix):]: v for k, v in P.items() if k.startswith(prefix)}  # noqa: E731
    enc, cell = model.encoder, model.encoder.cell_kind
    step = np_gru if cell == "gru" else np_lstm
    source = np.asarray(source)
    all_logits, all_weights = [], []
    for b in range(source.shape[1]):
        src = [t for t in source[:, b] if t != 0]
        x = P["encoder.embedding.E"][src]                                   # (S_b, e)
        zero = np.zeros(enc.hidden) if cell == "gru" else (np.zeros(enc.hidden), np.zeros(enc.hidden))
        hid = lambda s: s if cell == "gru" else s[0]                        # noqa: E731
        state, ahead = zero, []
        for j in range(len(src)):
            state = step(sub("encoder.forward_cell."), x[j], state)
            ahead.append(hid(state))
        annotations, summary = np.array(ahead), ahead[-1]
        if enc.bidirectional:
            state, behind = zero, [None] * len(src)
            for j in reversed(range(len(src))):
                state = step(sub("encoder.backward_cell."), x[j], state)
                behind[j] = hid(state)
            annotations = np.concatenate([annotations, np.array(behind)], axis=1)
            summary = np.concatenate([ahead[-1], behind[0]])
        s = np.tanh(summary @ P["decoder.W_init"] + P["decoder.b_init"])
        logits, weights = [], []
        for y in np.asarray(target_in)[:, b]:
            att = sub("decoder.attention.")
            e = np.tanh(s @ att["W_s"] + annotations @ att["W_h"]) @ att["v"]
            a = np.exp(e - e.max()) / np.exp(e - e.max()).sum()
            c = a @ annotations
            s = np_gru(sub("decoder.cell."), np.concatenate([P["decoder.embedding.E"][y], c]), s)
            logits.append(np.concatenate([s, c]) @ P["decoder.W_out"] + P["decoder.b_out"])
            weights.append(np.concatenate([a, np.zeros(source.shape[0] - len(src))]))
        all_logits.append(logits)
        all_weights.append(weights)
    return np.array(all_logits).transpose(1, 0, 2), np.array(all_weights).transpose(1, 0, 2)


def small_model(device, cell="gru", bidirectional=True, seed=3):
    return Seq2Seq(6, 7, embed=3, hidden=4, attention=3, cell=cell, bidirectional=bidirectional,
                   seed=seed, dtype=F64, device=device)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_forward_matches_numpy_reference(cell, bidirectional, device):
    model = small_model(device, cell, bidirectional)
    target_in = [[1, 1, 1], [4, 6, 2], [5, 3, 0]]
    logits, weights = model(ints(SOURCE, device), ints(target_in, device))
    ref_logits, ref_weights = np_reference(model, SOURCE, target_in)
    assert logits.shape == (3, 3, 7) and weights.shape == (3, 3, 3)
    np.testing.assert_allclose(logits.numpy(), ref_logits, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(weights.numpy(), ref_weights, rtol=1e-10, atol=1e-12)


def test_attention_formula(device, rng):
    att = AdditiveAttention(4, 5, 3, seed=1, dtype=F64, device=device)
    s, H = rng.standard_normal((2, 4)), rng.standard_normal((3, 2, 5))          # H time-major
    mask = np.array([[True, True], [True, False], [True, False]])
    context, weights = att(T(s, device), att.memory(T(H, device), mg.tensor(mask, device=device)))
    W_s, W_h, v = att.W_s.numpy(), att.W_h.numpy(), att.v.numpy()
    for b in range(2):
        real = mask[:, b]
        e = np.tanh(s[b] @ W_s + H[real, b] @ W_h) @ v
        a = np.exp(e) / np.exp(e).sum()
        np.testing.assert_allclose(weights.numpy()[b, real], a, rtol=1e-12)
        assert np.all(weights.numpy()[b, ~real] == 0)
        np.testing.assert_allclose(context.numpy()[b], a @ H[real, b], rtol=1e-12)


# ----------------------------------------------------------------------------- gradients
def test_attention_gradients(device, rng):
    att = AdditiveAttention(3, 4, 3, seed=2, dtype=F64, device=device)
    mask = mg.tensor(MASK, device=device)

    def f(s, H):
        context, weights = att(s, att.memory(H, mask))
        return mg.concat([context, weights], axis=-1)
    check(att, f, T(rng.standard_normal((3, 3)), device), T(rng.standard_normal((3, 3, 4)), device))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_encoder_gradients(cell, bidirectional, device):
    enc = Encoder(6, 3, 3, cell=cell, bidirectional=bidirectional, seed=4, dtype=F64, device=device)
    source, mask = ints(SOURCE, device), mg.tensor(MASK, device=device)

    def f():
        out = enc(source, mask)
        return mg.concat([mg.reshape(out.annotations, (-1,)), mg.reshape(out.summary, (-1,))])
    check(enc, f)


def test_decoder_step_gradients(device, rng):
    dec = Decoder(5, 3, 4, 3, 3, seed=5, dtype=F64, device=device)
    mask = mg.tensor(MASK, device=device)
    previous = ints([1, 4, 2], device)

    def f(state, H):
        logits, new, weights = dec.step(previous, state, dec.attention.memory(H, mask))
        return mg.concat([logits, new, weights], axis=-1)
    check(dec, f, T(rng.standard_normal((3, 4)) * 0.5, device), T(rng.standard_normal((3, 3, 3)), device))


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_seq2seq_loss_gradients(cell, device):
    model = small_model(device, cell, bidirectional=True)
    source = ints(SOURCE, device)
    target_in = ints([[1, 1, 1], [4, 6, 2], [5, 2, 0]], device)
    targets = ints([[4, 6, 3], [5, 2, 2], [2, 0, 0]], device)
    check(model, lambda: model.loss(source, target_in, targets), full_below=12)   # the parts: fully, above


# ----------------------------------------------------------------------------- padding
def test_padding_gets_zero_weight_and_changes_nothing(device):
    model = small_model(device)
    target_in = ints([[1, 1, 1], [3, 4, 5]], device)
    logits, weights = model(ints(SOURCE, device), target_in)
    w = weights.numpy()
    assert np.all(w[:, ~MASK.T] == 0) and np.all(w[:, MASK.T] > 0)
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-12)
    # the encoder with garbage tokens under the padding, same mask: identical annotations and summary
    garbage = np.where(MASK, SOURCE, 5)
    mask = mg.tensor(MASK, device=device)
    a, b = model.encoder(ints(SOURCE, device), mask), model.encoder(ints(garbage, device), mask)
    assert np.array_equal(a.annotations.numpy()[MASK], b.annotations.numpy()[MASK])
    assert np.array_equal(a.summary.numpy(), b.summary.numpy())
    # each sequence alone (no padding at all) gives the logits it gets in the padded batch
    for col in range(3):
        alone = [[t] for t in np.array(SOURCE)[:, col] if t != 0]
        l1, w1 = model(ints(alone, device), target_in[:, col:col + 1])
        np.testing.assert_allclose(l1.numpy()[:, 0], logits.numpy()[:, col], rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(w1.numpy()[:, 0], w[:, col, :len(alone)], rtol=1e-12, atol=1e-14)
    # more padding at the end changes nothing either
    longer = ints(np.vstack([SOURCE, [0, 0, 0], [0, 0, 0]]), device)
    l2, w2 = model(longer, target_in)
    np.testing.assert_allclose(l2.numpy(), logits.numpy(), rtol=1e-12, atol=1e-14)
    assert np.all(w2.numpy()[:, :, 3:] == 0)


# ----------------------------------------------------------------------------- decoding
def test_teacher_forcing_equals_step_by_step_decoding(device):
    model = small_model(device, "lstm")
    source, target_in = ints(SOURCE, device), ints([[1, 1, 1], [4, 6, 2], [5, 3, 2], [6, 2, 0]], device)
    logits, weights = model(source, target_in)
    memory, state = model.start(source)
    for i in range(4):
        o, state, a = model.decoder.step(target_in[i], state, memory)
        np.testing.assert_allclose(o.numpy(), logits.numpy()[i], rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(a.numpy(), weights.numpy()[i], rtol=1e-13, atol=1e-15)


def test_greedy_decoding(device):
    model = small_model(device)
    tokens, weights = model.greedy(ints(SOURCE, device), 5)
    assert tokens.shape == (5, 3) and tokens.dtype == np.int64 and weights.shape == (5, 3, 3)
    assert not tokens.requires_grad and not weights.requires_grad
    w, tok = weights.numpy(), tokens.numpy()
    assert np.all(w[:, ~MASK.T] == 0)
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-12)
    assert tok.min() >= 0 and tok.max() < 7
    # greedy = argmax of the logits when its own choices are fed back (teacher-forced on them)
    fed = np.vstack([np.full((1, 3), model.bos), tok[:-1]])
    logits, _ = model(ints(SOURCE, device), ints(fed, device))
    assert np.array_equal(logits.numpy().argmax(-1), tok)


def test_steps_are_marked_for_drawing(device):
    model = small_model(device)
    with mg.Tape() as tape:
        model(ints(SOURCE, device), ints([[1, 1, 1], [3, 4, 5]], device))
    parts = {}
    for e in tape:
        if e.marks and "part" in e.marks:
            parts.setdefault(e.marks["part"], set()).add(e.step)
    assert parts == {"encoder": {0, 1, 2}, "decoder": {3, 4}}
    directions = {e.marks["direction"] for e in tape if e.marks and e.marks.get("part") == "encoder"}
    assert directions == {"forward", "backward"}
    import viz
    source = viz.draw(tape).source
    assert all(f"cluster_step{t}" in source for t in range(5)) and "cluster_step5" not in source


# ----------------------------------------------------------------------------- the task
def test_batches_reverse_and_sort(device):
    for task in translation.TASKS:
        b = translation.make_batch(task, 50, 6, (1, 0, 7), device)
        src, tin, tgt = b.source.numpy(), b.target_in.numpy(), b.targets.numpy()
        assert src.shape == (6, 50) and tgt.shape == tin.shape == (7, 50)
        lengths = (src != 0).sum(0)
        assert lengths.min() >= 1 and lengths.max() <= 6 and len(set(lengths)) > 3
        for i in range(50):
            digits = [t - 3 for t in src[:, i]]
            n = lengths[i]
            assert all(d >= 0 for d in digits[:n]) and all(t == 0 for t in src[n:, i])
            answer = digits[:n][::-1] if task == "reverse" else sorted(digits[:n])
            assert list(tgt[:, i]) == [d + 3 for d in answer] + [2] + [0] * (6 - n)
            assert list(tin[:, i]) == [1] + list(tgt[:-1, i])
    a = translation.make_batch("reverse", 4, 5, (0, 0, 3), device).source.numpy()
    assert np.array_equal(a, translation.make_batch("reverse", 4, 5, (0, 0, 3), device).source.numpy())
    assert not np.array_equal(a, translation.make_batch("reverse", 4, 5, (0, 0, 4), device).source.numpy())


def test_sequence_accuracy_counts_whole_strings(device):
    targets = ints([[4, 5, 3], [2, 4, 2], [0, 2, 0]], device)
    tokens = ints([[4, 5, 3], [2, 4, 3], [7, 3, 2]], device)       # right (after EOS ignored), wrong, wrong
    assert translation.sequence_accuracy(tokens, targets) == pytest.approx(1 / 3)


SHORT = dict(task="reverse", max_length=4, embed=8, hidden=16, attention=16, batch_size=32, eval_every=50,
             eval_size=200, max_updates=800, target_accuracy=0.99, seed=0)


def test_short_training_learns_to_reverse(tmp_path):
    """Reversal of 1..4 digits, 99% of strings right: about 300 updates, a few seconds."""
    run = translation.Translator(translation.TranslateConfig(**SHORT))
    state = run.train(tmp_path, progress=False)
    assert state.outcome == "success" and state.accuracy >= 0.99 and state.update <= 800
    # checked here independently of sequence_accuracy: decode fresh strings and reverse them by hand
    b = translation.make_batch("reverse", 300, 4, 12345)
    tokens = run.model.greedy(b.source, 5)[0].numpy()
    right = 0
    for i, column in enumerate(b.source.numpy().T):
        digits = [t for t in column if t != 0]
        out = list(tokens[:, i])
        right += 2 in out and out[:out.index(2)] == digits[::-1]
    assert right / 300 >= 0.97
    rows = [r for r in translation.RunFiles(tmp_path).rows()]
    assert rows[-1]["update"] == state.update and rows[-1]["accuracy"] == state.accuracy


def test_resumed_run_equals_uninterrupted(tmp_path):
    config = dict(SHORT, max_length=3, embed=4, hidden=6, attention=5, batch_size=8, eval_every=20, eval_size=20,
                  target_accuracy=1.0)
    whole = translation.Translator(translation.TranslateConfig(**dict(config, max_updates=60)))
    whole.train(tmp_path / "a", progress=False)
    first = translation.Translator(translation.TranslateConfig(**dict(config, max_updates=30)))
    assert first.train(tmp_path / "b", progress=False).outcome == "budget"
    resumed = translation.Translator.from_checkpoint(tmp_path / "b" / "checkpoint.npz",
                                                     translation.TranslateConfig(**dict(config, max_updates=60)))
    resumed.state.outcome = None
    resumed.train(tmp_path / "b", progress=False)
    assert resumed.state.update == whole.state.update == 60
    for (name, p), q in zip(whole.model.named_parameters(), resumed.model.parameters()):
        assert np.array_equal(p.numpy(), q.numpy()), name
    assert [r["loss"] for r in translation.RunFiles(tmp_path / "a").rows()] == \
           [r["loss"] for r in translation.RunFiles(tmp_path / "b").rows()]


# ----------------------------------------------------------------------------- command line
def _args(*argv):
    import argparse
    p = argparse.ArgumentParser()
    translation.add_arguments(p)
    return p.parse_args(list(argv))


@pytest.mark.parametrize("argv,message", [
    (["--task", "copy"], "unknown translation task 'copy': choose one of reverse, sort"),
    (["--cell", "rnn"], "unknown encoder cell 'rnn': choose gru or lstm"),
    (["--max-length", "0"], "--max-length must be from 1 to 100"),
    (["--hidden", "0"], "--hidden must be at least 1"),
    (["--lr", "-1"], "--lr must be a positive number"),
    (["--momentum", "1"], r"--momentum must be in \[0, 1\)"),
    (["--target-accuracy", "99"], r"--target-accuracy is a fraction of strings, in \(0, 1\]"),
    (["--dtype", "float16"], "unknown dtype 'float16'"),
    (["--examples", "0"], "--examples must be from 1 to 16"),
])
def test_bad_input_is_a_run_error(argv, message, tmp_path):
    with pytest.raises(RunError, match=message):
        translation.cmd_translate(_args(*argv, "--out", str(tmp_path / "run")))


def test_cli_run_folder_rules_and_heatmaps(tmp_path, capsys):
    out = tmp_path / "run"
    small = ["--max-length", "3", "--embed", "4", "--hidden", "5", "--attention", "4", "--batch-size", "4",
             "--eval-every", "5", "--eval-size", "10", "--max-updates", "10", "--quiet", "--out", str(out)]
    with pytest.raises(RunError, match="holds no checkpoint.npz to resume from"):
        translation.cmd_translate(_args(*small, "--resume"))
    assert translation.cmd_translate(_args(*small)) == 0
    assert "budget after 10 updates" in capsys.readouterr().out
    for name in ("log.jsonl", "checkpoint.npz", "config.json", "curve.png", "attention.png"):
        assert (out / name).stat().st_size > 0, name
    with pytest.raises(RunError, match="already holds a run: pass --resume"):
        translation.cmd_translate(_args(*small))
    with pytest.raises(RunError, match="is from another run: hidden: checkpoint 5, asked 6"):
        translation.cmd_translate(_args(*small, "--hidden", "6", "--resume"))
    assert translation.cmd_translate(_args(*small, "--resume", "--max-updates", "15")) == 0
    assert [r["update"] for r in translation.RunFiles(out).rows()] == [5, 10, 15]
    png = tmp_path / "maps.png"
    assert translation.cmd_translate(_args("--heatmaps", str(out / "checkpoint.npz"), "--png", str(png),
                                           "--examples", "3")) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(RunError, match="no such checkpoint"):
        translation.cmd_translate(_args("--heatmaps", str(tmp_path / "nothing.npz")))
    arrays = mg.load(out / "checkpoint.npz")
    arrays["meta"] = np.array(str(arrays["meta"]).replace('"translate"', '"train"'))   # another command's
    mg.save(arrays, tmp_path / "foreign.npz")
    with pytest.raises(RunError, match="not a checkpoint of `minigrad translate`"):
        translation.cmd_translate(_args("--heatmaps", str(tmp_path / "foreign.npz")))


def test_heatmap_checks_its_shapes():
    from viz.attention import attention_heatmap
    ax = attention_heatmap(np.eye(3)[::-1], ["1", "2", "3"], ["3", "2", "1"])
    assert ax.images[0].get_array().shape == (3, 3)
    with pytest.raises(ValueError, match="do not fit 2 output and 3 source tokens"):
        attention_heatmap(np.ones((3, 3)), ["1", "2", "3"], ["3", "</s>"])
