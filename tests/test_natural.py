"""The paper's natural tasks (tasks/music.py, tasks/charlm.py, tasks/natural.py) and the leaky
cell (rnn.cells.LeakyRNNCell): loaders on small data, gradients against central differences,
costs against closed forms, a tiny training, resuming, bad input."""
import argparse
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T
from rnn.cells import LeakyRNNCell
from tasks import charlm, music, natural
from tasks.natural import NaturalConfig, NaturalModel, NaturalTrainer
from tasks.train import RunError

KNOWN = "bach/bwv66.6"        # music21's documentation example: "Christ unser Herr zum Jordan kam"
SEMITONE = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def piano_key(name: str) -> int:
    """Key index on an 88-key piano from a note name ("C#5"): A0 is key 0, C8 key 87.
    Written out independently of tasks.music: MIDI = 12 (octave + 1) + semitone, minus 21."""
    letter, accidental, octave = name[0], name[1:-1], int(name[-1])
    midi = 12 * (octave + 1) + SEMITONE[letter] + {"": 0, "#": 1, "-": -1}[accidental]
    return midi - 21


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


# ----------------------------------------------------------------------------- music: the loader
@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    pytest.importorskip("music21")
    cache = tmp_path_factory.mktemp("cache")
    names = [KNOWN] + music.chorale_names(2)
    return names, cache, music.load_chorales(1.0, names=names, cache=cache, progress=False)


def test_piano_keys_of_a_known_chorale(chorales):
    """bwv66.6 opens (Soprano, Alto, Tenor, Bass) on C#5 E4 A3 A3 (the soprano's C#5 lasts an
    eighth); at the second quarter the voices sound A4 F#4 C#4 F#3."""
    names, _, splits = chorales
    roll = dict(pair for split in splits.values() for pair in split)[KNOWN]
    assert roll.dtype == np.uint8 and roll.shape[1] == 88 and set(np.unique(roll)) <= {0, 1}
    assert set(np.flatnonzero(roll[0])) == {piano_key(n) for n in ("C#5", "E4", "A3")}
    assert set(np.flatnonzero(roll[1])) == {piano_key(n) for n in ("A4", "F#4", "C#4", "F#3")}
    assert len(roll) == 36                    # 36 quarter notes long (9 bars of 4/4)
    assert music.key_index(21) == 0 and music.key_index(60) == 39 and music.key_index(108) == 87
    for bad in (20, 109):
        with pytest.raises(ValueError, match="outside the piano"):
            music.key_index(bad)


def test_chorale_split_is_deterministic_disjoint_and_cached(chorales, monkeypatch):
    names, cache, splits = chorales
    placed = [n for s in music.SPLITS for n, _ in splits[s]]
    assert sorted(placed) == sorted(names)                     # every chorale in exactly one split
    for s in music.SPLITS:
        assert all(music.split_of(n) == s for n, _ in splits[s])
    everything = music.chorale_names()
    assert len(everything) == 371
    counts = {s: sum(music.split_of(n) == s for n in everything) for s in music.SPLITS}
    assert 0.5 < counts["train"] / 371 < 0.7 and 0.1 < counts["test"] / 371 < 0.3
    import music21.corpus

    def no_parsing(*a, **k):
        raise AssertionError("parsed again instead of reading the cache")
    monkeypatch.setattr(music21.corpus, "parse", no_parsing)
    again = music.load_chorales(1.0, names=names, cache=cache, progress=False)
    for s in music.SPLITS:
        assert [n for n, _ in again[s]] == [n for n, _ in splits[s]]
        for (_, a), (_, b) in zip(again[s], splits[s]):
            np.testing.assert_array_equal(a, b)


def test_pad_batch_targets_are_the_next_step():
    a = np.eye(88, dtype=np.uint8)[[3, 4, 5]]                  # 3 steps
    b = np.eye(88, dtype=np.uint8)[[7, 8]]                     # 2 steps
    x, y = music.pad_batch([a, b], multiple=4)
    assert x.shape == y.shape == (4, 2, 88)
    np.testing.assert_array_equal(y[:2, 0], a[1:])
    np.testing.assert_array_equal(x[:2, 0], a[:-1])
    assert (y[2:, 0] == -1).all() and (y[1:, 1] == -1).all() and (x[1:, 1] == 0).all()


# ----------------------------------------------------------------------------- characters: the loader
def test_docstrings_normalized_in_source_order(tmp_path):
    src = '"""Module  Doc.\n\n\tÉté!"""\ndef f():\n    """F\'s doc — 42."""\nclass C:\n    """C doc"""\n'
    assert charlm.docstrings(src) == ["Module  Doc.\n\nÉté!", "F's doc — 42.", "C doc"]
    assert charlm.module_text(src) == "module doc. ete!\nf's doc 42.\nc doc\n"
    assert len(charlm.VOCAB) == 70 and charlm.VOCAB[0] == "\n" and len(set(charlm.VOCAB)) == 70
    codes = charlm.encode("hello, world!\n")
    assert codes.dtype == np.uint8 and charlm.decode(codes) == "hello, world!\n"
    with pytest.raises(ValueError, match="not in the vocabulary"):
        charlm.encode("Hello")                                 # upper case is not in it


def test_corpus_split_by_module_disjoint_and_cached(tmp_path):
    files = []
    for i in range(40):
        f = tmp_path / f"mod{i:02d}.py"
        f.write_text(f'"""text of module {i:02d}."""\n')
        files.append(f)
    (tmp_path / "broken.py").write_text("def (:\n")              # skipped, not fatal
    corpus = charlm.load_corpus(files + [tmp_path / "broken.py"], cache=tmp_path / "cache")
    seen = {}
    for s in charlm.SPLITS:
        for line in charlm.decode(corpus[s]).splitlines():
            seen.setdefault(line, []).append(s)
    assert sorted(seen) == [f"text of module {i:02d}." for i in range(40)]
    assert all(len(v) == 1 for v in seen.values())               # each module in one split only
    assert all(seen[f"text of module {i:02d}."] == [charlm.split_of(f"mod{i:02d}.py")] for i in range(40))
    again = charlm.load_corpus(files[1:], cache=tmp_path / "cache")         # other files: another cache
    assert "text of module 00." not in "".join(charlm.decode(again[s]) for s in charlm.SPLITS)
    for cached in (tmp_path / "cache").glob("*.npz"):
        cached.write_bytes(b"not an npz")                                     # damaged: rebuilt, no error
    rebuilt = charlm.load_corpus(files + [tmp_path / "broken.py"], cache=tmp_path / "cache")
    for s in charlm.SPLITS:
        np.testing.assert_array_equal(rebuilt[s], corpus[s])


def test_char_batches_carry_on_where_the_last_stopped():
    text = charlm.encode("abcdefghij" * 30)
    data = charlm.CharData({"train": text, "valid": text[:50], "test": text[:50]}, segment=7)
    x0, y0, reset0 = data.batch(0, 3, seed=0)
    x1, y1, reset1 = data.batch(1, 3, seed=0)
    assert x0.shape == (7, 3, 70) and y0.shape == (7, 3) and reset0 and not reset1
    np.testing.assert_array_equal(x0.argmax(-1)[1:], y0[:-1])   # the target is the next input
    np.testing.assert_array_equal(x1.argmax(-1)[0], y0[-1])     # segment 1 starts where 0 ended
    per = data.updates_per_epoch(3)
    assert per == (100 - 1) // 7 and data.batch(per, 3, 0)[2]   # a new pass resets the state


# ----------------------------------------------------------------------------- the leaky cell
def test_leaky_cell_against_numpy_and_its_factors(device, rng):
    cell = LeakyRNNCell(3, 10, leaky=0.4, seed=2, device=device, dtype=np.float64)
    a = cell.leak_factors
    assert (a == 1).sum() == 6 and np.all((a[a < 1] >= 0.02) & (a[a < 1] <= 0.2))
    assert not cell.leak.requires_grad and cell.activation == "sigmoid"
    x, h = rng.standard_normal((2, 3)), rng.uniform(0, 1, (2, 10))
    p = {k: v.numpy() for k, v in cell.named_parameters()}
    want = (1 - a) * h + a * sigmoid(h @ p["W_rec"] + x @ p["W_in"] + p["b"])
    np.testing.assert_allclose(cell(T(x, device), T(h, device)).numpy(), want, rtol=1e-12)
    same = LeakyRNNCell(3, 10, leaky=0.4, seed=2)
    np.testing.assert_array_equal(same.leak_factors, a)
    for kwargs, match in (({"leaky": 1.5}, "fraction"), ({"leak_range": (0.0, 0.2)}, "leak_range")):
        with pytest.raises(ValueError, match=match):
            LeakyRNNCell(3, 4, **kwargs)


def test_leaky_cell_gradients(device, rng):
    cell = LeakyRNNCell(3, 4, leaky=0.5, seed=5, device=device, dtype=np.float64)
    names = ["W_in", "W_rec", "b"]

    def f(x, h, *ps):
        for name, v in zip(names, ps):
            setattr(cell, name, v)
        return cell(x, cell(x, h))                             # two steps: the leak in the chain

    inputs = [T(rng.standard_normal((2, 3)), device, True), T(rng.standard_normal((2, 4)), device, True)]
    inputs += [T(getattr(cell, n).numpy(), device, True) for n in names]
    assert mg.gradcheck(f, inputs, order=1)


def test_leaky_one_step_jacobian_closed_form(device):
    """dh_t/dh_{t-1} = diag(1 - a) + diag(a σ'(.)) W_recᵀ (column form), so a row vector δ goes
    back as δ (1 - a) + (δ a σ') W_recᵀ."""
    cell = LeakyRNNCell(2, 5, leaky=0.6, seed=1, device=device, dtype=np.float64)
    rng = np.random.default_rng(0)
    x, h, d = rng.standard_normal((1, 2)), rng.uniform(0, 1, (1, 5)), rng.standard_normal((1, 5))
    hh = T(h, device, True)
    out = cell(T(x, device), hh)
    (g,) = mg.grad(out, [hh], grad_outputs=[T(d, device)])
    a, W = cell.leak_factors, cell.W_rec.numpy()
    s = sigmoid(h @ W + x @ cell.W_in.numpy() + cell.b.numpy())
    np.testing.assert_allclose(g.numpy(), d * (1 - a) + (d * a * s * (1 - s)) @ W.T, rtol=1e-12)


# ----------------------------------------------------------------------------- costs
def test_piano_roll_nll_closed_form_and_padding(device):
    logits = np.array([[[2.0, -1.0], [0.5, 0.0]], [[-3.0, 1.0], [9.0, 9.0]]])    # (T=2, B=2, K=2)
    targets = np.array([[[1, 0], [0, 1]], [[1, 1], [-1, -1]]], float)             # last step of b=1: padding
    nll = natural.piano_roll_nll(T(logits, device), T(targets, device)).item()
    want = (math.log1p(math.exp(-2)) + math.log1p(math.exp(-1))          # step 0, b 0
            + math.log1p(math.exp(0.5)) + math.log(2)                    # step 0, b 1
            + math.log1p(math.exp(3)) + math.log1p(math.exp(-1))) / 3    # step 1, b 0; 3 real steps
    assert nll == pytest.approx(want, rel=1e-12)


def test_uniform_models_cost_log2_vocab_and_88_ln2():
    """A readout of zeros predicts uniformly: log2(70) bits per character, and 88 keys at
    p = 1/2 cost 88 ln 2 nats per step."""
    text = charlm.encode("the quick brown fox jumps over the lazy dog.\n" * 20)
    data = charlm.CharData({"train": text, "valid": text, "test": text}, segment=10)
    model = NaturalModel(70, 6, 70, "chars_summed", 2, bias=False, seed=0, dtype="float64")
    model.head.W_out.data[...] = 0
    assert data.evaluate(model, "valid") == pytest.approx(math.log2(70), rel=1e-12)
    assert data.metric(10 * math.log(70)) == pytest.approx(math.log2(70), rel=1e-12)
    rolls = [np.random.default_rng(i).integers(0, 2, (5 + i, 88)).astype(np.uint8) for i in range(3)]
    mdata = music.MusicData({s: [(str(i), r) for i, r in enumerate(rolls)] for s in music.SPLITS})
    m = NaturalModel(88, 6, 88, "piano_roll", 2, leaky=0.5, seed=0, dtype="float64")
    m.head.W_out.data[...] = 0
    assert mdata.evaluate(m, "test") == pytest.approx(88 * math.log(2), rel=1e-12)


@pytest.mark.parametrize("cost", ["piano_roll", "chars_summed"])
def test_model_cost_gradients(cost, device, rng):
    n = 5
    model = NaturalModel(n, 4, n, cost, 2, leaky=0.5 if cost == "piano_roll" else 0.0, std=0.5, seed=3,
                         dtype="float64", device=device)
    x = T(rng.integers(0, 2, (3, 2, n)), device)
    if cost == "piano_roll":
        y = rng.integers(0, 2, (3, 2, n)).astype(float)
        y[2, 1] = -1                                               # a padded step
        y = T(y, device)
    else:
        y = mg.tensor(rng.integers(0, n, (3, 2)), device=device)
    names = [name for name, p in model.named_parameters() if p.requires_grad]
    owners = {"W_in": model.cell, "W_rec": model.cell, "b": model.cell, "W_out": model.head, "c": model.head}

    def f(*ps):
        for name, v in zip(names, ps):
            setattr(owners[name.split(".")[-1]], name.split(".")[-1], v)
        logits, _ = model.run(x, model.h0 * 0 + 0.3)
        return model.head.loss(logits, y)

    inputs = [T(p.numpy(), device, True) for name, p in model.named_parameters() if p.requires_grad]
    assert mg.gradcheck(f, inputs, order=1)


# ----------------------------------------------------------------------------- training
def tiny_char_data():
    text = charlm.encode("abcabd " * 200)
    return charlm.CharData({"train": text, "valid": text[:300], "test": text[300:600]}, segment=20)


def tiny_config(method, **kw):
    return NaturalConfig(task="charlm", method=method, hidden=12, lr=0.01, clip=45.0, alpha=0.5, bias=False,
                         std=0.3, alpha_schedule="inverse_linear", batch_size=5, segment=20, eval_every=10,
                         max_updates=60, dtype="float64", **kw)


def test_tiny_training_lowers_the_cost(tmp_path):
    data = tiny_char_data()
    run = NaturalTrainer(tiny_config("msgd-cr"), data)
    before = data.evaluate(run.model, "valid")
    state = run.train(tmp_path / "run", progress=False, plots=False)
    assert state.outcome == "budget" and state.update == 60
    after = data.evaluate(run.model, "valid")
    assert before > 2.5 and after < 0.6 * before                 # well below the uniform 6.1 bits
    result = run.result(tmp_path / "run")
    assert result["best"]["valid"] <= after + 1e-12 and (tmp_path / "run" / "result.json").exists()
    rows = [r for r in natural.RunFiles(tmp_path / "run").rows()]
    assert [r["update"] for r in rows] == [10, 20, 30, 40, 50, 60] and rows[-1]["omega"] is not None


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    data = tiny_char_data()
    whole = NaturalTrainer(tiny_config("msgd-c", trace=False), data)
    whole.train(tmp_path / "whole", progress=False, plots=False)
    first = NaturalTrainer(replace_updates(tiny_config("msgd-c"), 30), data)
    first.train(tmp_path / "part", progress=False, plots=False)
    second = NaturalTrainer.from_checkpoint(tmp_path / "part" / "checkpoint.npz", data, tiny_config("msgd-c"))
    second.train(tmp_path / "part", progress=False, plots=False)
    assert second.state.update == 60 and second.state.lr == whole.state.lr
    for (name, a), (_, b) in zip(whole.model.named_parameters(), second.model.named_parameters()):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def replace_updates(config, n):
    from dataclasses import replace
    return replace(config, max_updates=n)


def test_music_training_on_a_few_chorales(chorales, tmp_path):
    _, _, splits = chorales
    rolls = [pair for s in music.SPLITS for pair in splits[s]]
    data = music.MusicData({"train": rolls, "valid": rolls[:1], "test": rolls[1:2]})
    config = NaturalConfig(task="music", method="msgd-c", hidden=10, leaky=0.5, lr=0.05, clip=8.0,
                           batch_size=3, eval_every=10, max_updates=20, dtype="float64")
    run = NaturalTrainer(config, data)
    before = data.evaluate(run.model, "valid")
    run.train(tmp_path / "m", progress=False, plots=False)
    assert data.evaluate(run.model, "valid") < 0.5 * before    # from 88 ln 2 = 61 towards a few nats


# ----------------------------------------------------------------------------- bad input
def parser_for(module, name):
    p = argparse.ArgumentParser(prog="minigrad")
    sub = p.add_subparsers(dest="command", required=True)
    q = sub.add_parser(name)
    module.add_arguments(q)
    q.set_defaults(run=getattr(module, f"cmd_{name}"))
    return p


@pytest.mark.parametrize("argv,match", [
    (["--methods", "adam"], "unknown method 'adam': choose from msgd, msgd-c, msgd-cr"),
    (["--hidden", "0"], "--hidden must be a positive integer, got 0"),
    (["--lr", "-1"], "--lr must be a positive number, got -1"),
    (["--max-chars", "1"], "--max-chars must be at least 2"),
    (["--segment", "0"], "--segment must be a positive integer"),
])
def test_charlm_bad_input_is_one_line(argv, match, tmp_path, monkeypatch):
    monkeypatch.setattr(charlm, "load_corpus", lambda cache=None: {s: tiny_char_data().corpus[s] for s in charlm.SPLITS})
    args = parser_for(charlm, "charlm").parse_args(["charlm", "--out", str(tmp_path / "r"), "--quiet"] + argv)
    with pytest.raises(RunError, match=match.replace("(", r"\(")) as e:
        args.run(args)
    assert "\n" not in str(e.value)


def test_refusals_of_folders_and_music_arguments(tmp_path, monkeypatch):
    monkeypatch.setattr(NaturalTrainer, "plot", lambda *a, **k: None)        # figures: not the point here
    monkeypatch.setattr(charlm, "load_corpus", lambda cache=None: {s: tiny_char_data().corpus[s] for s in charlm.SPLITS})
    p = parser_for(charlm, "charlm")
    base = ["charlm", "--out", str(tmp_path / "r"), "--quiet", "--hidden", "4", "--segment", "20",
            "--batch-size", "5", "--methods", "msgd", "--max-updates", "2", "--eval-every", "1"]
    with pytest.raises(RunError, match="holds no checkpoint.npz"):
        args = p.parse_args(base + ["--resume"])
        args.run(args)
    args = p.parse_args(base)
    assert args.run(args) == 0
    with pytest.raises(RunError, match="already holds a run: pass --resume .* or --force"):
        args.run(args)
    with pytest.raises(RunError, match="from another run: hidden: checkpoint 4, asked 5"):
        args = p.parse_args(base + ["--resume", "--hidden", "5"])
        args.run(args)
    m = parser_for(music, "music")
    for argv, match in ((["--step", "0"], "--step must be a positive number"),
                        (["--chorales", "2"], "--chorales must be at least 3")):
        args = m.parse_args(["music", "--out", str(tmp_path / "m"), "--quiet"] + argv)
        with pytest.raises(RunError, match=match):
            args.run(args)
    pytest.importorskip("music21")
    with pytest.raises(RunError, match="music21 could not read the chorale 'bach/no-such-chorale'"):
        music.load_chorales(names=["bach/no-such-chorale"], cache=tmp_path / "cache", progress=False)
