"""The paper's natural tasks (tasks/music.py, tasks/charlm.py, tasks/natural.py) and the leaky
cell (rnn.cells.LeakyRNNCell): loaders on small data, gradients against central differences,
costs against closed forms, a tiny training, resuming, bad input."""
import argparse
import math
from dataclasses import replace
from pathlib import Path

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
        with mg.nn.reparametrized(cell, dict(zip(names, ps))):
            return cell(x, cell(x, h))                         # two steps: the leak in the chain

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

    def f(*ps):
        with mg.nn.reparametrized(model, dict(zip(names, ps))):
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


# ----------------------------------------------------------------------------- review (issue 15, items 5-6)
def parse_counter(monkeypatch):
    """Count music21's corpus.parse calls (to tell a cache hit from a parse)."""
    import music21.corpus
    real, calls = music21.corpus.parse, []

    def counting(name, *a, **k):
        calls.append(name)
        return real(name, *a, **k)
    monkeypatch.setattr(music21.corpus, "parse", counting)
    return calls


def test_repeated_chorales_are_dropped_so_no_piece_sits_in_two_splits(tmp_path):
    """music21 lists 371 chorales but 350 distinct names (bwv267 twice, ...), and bwv274 is the
    same music as bwv62.6 (train by its name's hash) but hashes to test: before the fix the
    duplicate names were counted twice and that piece sat in train and test."""
    pytest.importorskip("music21")
    names = music.chorale_names()
    assert len(names) == 371 and len(set(names)) == 350               # music21's list, as shipped
    assert music.split_of("bach/bwv62.6") != music.split_of("bach/bwv274")
    splits = music.load_chorales(1.0, names=["bach/bwv62.6", "bach/bwv274", "bach/bwv62.6", KNOWN],
                                 cache=tmp_path, progress=False)
    kept = [n for s in music.SPLITS for n, _ in splits[s]]
    assert sorted(kept) == sorted(["bach/bwv62.6", KNOWN])             # the repeats left out
    rolls = [r.tobytes() for s in music.SPLITS for _, r in splits[s]]
    assert len(set(rolls)) == len(rolls)


def test_music_cache_of_other_data_is_parsed_again(tmp_path, monkeypatch):
    """A cache file whose lengths do not add up (it loads, but slices the rolls wrongly), or that
    was written for a step printed the same by %g (0.3 and 0.30000001), is not used."""
    pytest.importorskip("music21")
    first = music.load_chorales(1.0, names=[KNOWN], cache=tmp_path, progress=False)
    roll = [r for s in music.SPLITS for _, r in first[s]][0]
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as z:
        damaged = dict(z)
    damaged["lengths"] = damaged["lengths"] - 5
    np.savez(path, **damaged)
    calls = parse_counter(monkeypatch)
    again = music.load_chorales(1.0, names=[KNOWN], cache=tmp_path, progress=False)
    assert calls == [KNOWN]
    np.testing.assert_array_equal([r for s in music.SPLITS for _, r in again[s]][0], roll)
    music.load_chorales(1.0, names=[KNOWN], cache=tmp_path, progress=False)
    assert calls == [KNOWN]                                           # the rewritten cache is read
    music.load_chorales(0.3, names=[KNOWN], cache=tmp_path, progress=False)
    music.load_chorales(0.30000001, names=[KNOWN], cache=tmp_path, progress=False)
    assert calls == [KNOWN] * 3


def test_music_refuses_steps_and_splits_with_nothing_to_predict(tmp_path):
    """--step inf gave a traceback (IndexError: every roll one step long, the train split
    empty after dropping them)."""
    with pytest.raises(RunError, match="--step must be a positive number of quarter notes, got inf"):
        music.load_chorales(float("inf"), names=[KNOWN], cache=tmp_path, progress=False)
    one = np.zeros((1, 88), np.uint8)
    two = np.zeros((2, 88), np.uint8)
    with pytest.raises(RunError, match="the train split holds no chorale of 2 steps or more"):
        music.MusicData({"train": [("a", one)], "valid": [("b", two)], "test": [("c", two)]})


def test_bad_seed_limits_and_cache_folder_are_one_line(tmp_path):
    for field_, value, match in (("seed", -1, "--seed must be 0 or a positive integer, got -1"),
                                 ("eval_limit", -5, "--eval-limit must be 0 or a positive integer, got -5"),
                                 ("max_minutes", -1.0, "--max-minutes must be 0 .* got -1.0"),
                                 ("max_minutes", float("inf"), "--max-minutes must be 0 .* got inf")):
        with pytest.raises(RunError, match=match):
            NaturalConfig(**{field_: value}).validate()
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(RunError, match="cache folder .*afile is a file: pass --cache-dir a folder"):
        charlm.load_corpus([afile], cache=afile)
    with pytest.raises(RunError, match="cache folder .*afile is a file"):
        music.load_chorales(1.0, names=[KNOWN], cache=afile, progress=False)
    pytest.importorskip("music21")
    with pytest.raises(RunError, match="--chorales 1000: music21 ships 371 chorales"):
        music.load_chorales(1.0, limit=1000, cache=tmp_path, progress=False)


def test_char_cache_with_codes_outside_the_vocabulary_is_rebuilt(tmp_path):
    f = tmp_path / "mod.py"
    f.write_text('"""some text."""\n')
    corpus = charlm.load_corpus([f], cache=tmp_path / "cache")
    (path,) = (tmp_path / "cache").glob("*.npz")
    np.savez(path, **{s: np.full(5, 200, np.int64) for s in charlm.SPLITS})    # loads, but is not codes
    again = charlm.load_corpus([f], cache=tmp_path / "cache")
    for s in charlm.SPLITS:
        np.testing.assert_array_equal(again[s], corpus[s])


def test_splits_do_not_depend_on_the_hash_seed(tmp_path):
    """Two processes with different PYTHONHASHSEED place chorales and modules alike."""
    import os
    import subprocess
    import sys
    for i in range(12):
        (tmp_path / f"m{i}.py").write_text(f'"""module number {i}."""\n')
    code = ("import sys; sys.path.insert(0, '.'); from pathlib import Path; from tasks import charlm, music; "
            f"c = charlm.build_corpus(sorted(Path({str(tmp_path)!r}).glob('*.py'))); "
            "print(repr(c), [music.split_of(f'bach/bwv{i}') for i in range(250, 270)])")
    root = Path(__file__).resolve().parent.parent
    outs = [subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2")]
    assert outs[0] == outs[1] and "module number" in outs[0]


def test_omega_on_the_leaky_cell_against_numpy_bptt():
    """Omega and alpha dOmega/dW_rec of a music update (leaky units, a padded minibatch) against
    a NumPy BPTT of the leaky sigmoid RNN and central differences of Omega(W_rec) with the
    deltas and sigmoid outputs held constant (the immediate derivative)."""
    rng = np.random.default_rng(0)
    rolls = [rng.integers(0, 2, (n, 88)).astype(np.uint8) for n in (7, 4, 6)]
    data = music.MusicData({s: [(str(i), r) for i, r in enumerate(rolls)] for s in music.SPLITS})

    def trainer(method):
        return NaturalTrainer(NaturalConfig(task="music", method=method, hidden=6, leaky=0.5, std=0.5, batch_size=3,
                                            clip=1e9, alpha=1.0, dtype="float64", trace=False), data)
    x, y, _ = data.batch(0, 3, 0)
    X, Y = mg.tensor(x, dtype="float64"), mg.tensor(y, dtype="float64")
    plain, reg = trainer("msgd-c"), trainer("msgd-cr")
    plain.gradients(plain.model, X, Y, None, "msgd-c", 1e9)
    omega = reg.gradients(reg.model, X, Y, mg.tensor(1.0, dtype="float64"), "msgd-cr", 1e9)[4]
    d_omega = reg.cell.W_rec.grad.numpy() - plain.cell.W_rec.grad.numpy()
    cell, head = plain.cell, plain.model.head
    W_in, W, b, a = cell.W_in.numpy(), cell.W_rec.numpy(), cell.b.numpy(), cell.leak_factors
    W_out, c = head.W_out.numpy(), head.c.numpy()
    steps, B, _ = x.shape
    hs, ss = [np.zeros((B, 6))], []
    for t in range(steps):
        ss.append(sigmoid(hs[-1] @ W + x[t] @ W_in + b))
        hs.append((1 - a) * hs[-1] + a * ss[-1])
    mask = y[..., 0] >= 0
    deltas, later = [None] * steps, np.zeros((B, 6))
    for t in reversed(range(steps)):                    # dE/dh_{t+1}: the head's term plus the later steps'
        p = sigmoid(hs[t + 1] @ W_out + c)
        deltas[t] = ((p - np.maximum(y[t], 0)) * mask[t][:, None]) @ W_out.T / mask.sum() + later
        later = deltas[t] * (1 - a) + (deltas[t] * a * ss[t] * (1 - ss[t])) @ W.T

    def Omega(Wr):
        terms = []
        for t in range(steps):
            d = deltas[t]
            pushed = d * (1 - a) + (d * a * ss[t] * (1 - ss[t])) @ Wr.T
            d2 = (d * d).sum(-1)
            terms += [((pushed[i] ** 2).sum() / d2[i] - 1) ** 2 for i in range(B) if d2[i] >= 1e-20]
        return np.mean(terms)
    assert omega.item() == pytest.approx(Omega(W), rel=1e-10)
    numeric = np.zeros_like(W)
    for i, j in np.ndindex(W.shape):
        e = np.zeros_like(W)
        e[i, j] = 1e-6
        numeric[i, j] = (Omega(W + e) - Omega(W - e)) / 2e-6
    np.testing.assert_allclose(d_omega, numeric, rtol=1e-5, atol=1e-9)


def test_char_updates_carry_the_state_and_sum_the_cost_like_numpy():
    """The cost of each traced update against a NumPy forward pass that starts every segment from
    the last one's final state (zeros at a new pass), and h0 after it against that final state."""
    text = charlm.encode("the cat sat on the mat, " * 40)
    data = charlm.CharData({"train": text, "valid": text[:300], "test": text[:300]}, segment=9)
    run = NaturalTrainer(NaturalConfig(task="charlm", method="msgd-c", hidden=6, lr=0.05, bias=False, std=0.3,
                                       batch_size=3, segment=9, clip=45.0, dtype="float64"), data)
    per = data.updates_per_epoch(3)
    h = np.zeros((3, 6))
    for u in [*range(3), *range(per - 1, per + 2)]:
        while run.state.update < u:                     # skip ahead through the pass
            run.update()
            run.state.update += 1
        if u == per - 1:
            h = run.model.h0.numpy().copy()
        W_in, W, W_out = (run.model.cell.W_in.numpy().copy(), run.model.cell.W_rec.numpy().copy(),
                          run.model.head.W_out.numpy().copy())
        x, y, reset = data.batch(u, 3, 0)
        assert reset == (u % per == 0)
        if reset:
            h = np.zeros((3, 6))
        total = 0.0
        for t in range(len(x)):
            h = sigmoid(h @ W + x[t] @ W_in)
            z = h @ W_out
            logp = z - z.max(-1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(-1, keepdims=True))
            total -= logp[np.arange(3), y[t]].sum()
        cost = run.update()[0].item()
        run.state.update += 1
        assert cost == pytest.approx(total / 3, rel=1e-12)           # summed over the segment, mean over streams
        np.testing.assert_allclose(run.model.h0.numpy(), h, rtol=1e-12, atol=1e-15)


def test_piano_roll_of_a_chorale_against_its_parts_note_lists(chorales):
    """Every step of bwv66.6 against a roll built another way: each part with its ties merged
    (music21's stripTies), each note's offset in its part, sounding on [onset, onset + length)."""
    from music21 import corpus
    _, _, splits = chorales
    roll = dict(pair for split in splits.values() for pair in split)[KNOWN]
    score = corpus.parse(KNOWN)
    spans = []
    for part in score.parts:
        merged = part.stripTies()
        for n in merged.recurse().notes:
            onset = float(n.getOffsetInHierarchy(merged))
            spans += [(onset, onset + float(n.duration.quarterLength), p.midi) for p in n.pitches]
    want = np.zeros((int(math.ceil(max(end for _, end, _ in spans))), 88), np.uint8)
    for onset, end, midi in spans:
        for step in range(len(want)):
            if onset <= step < end:
                want[step, midi - 21] = 1
    np.testing.assert_array_equal(roll, want)


def test_evaluations_against_numpy_over_whole_sequences():
    """Bits per character: each of the evaluation's streams read in one go from a zero state (the
    state carried across segments makes segmenting invisible), cross-entropy over every predicted
    character / ln 2.  Music: each chorale from zeros, BCE summed over the 88 keys, mean over
    every step of every chorale (no padding counted)."""
    rng = np.random.default_rng(1)
    text = charlm.encode("".join(rng.choice(list("abc de.\n"), 1500)))
    data = charlm.CharData({"train": text, "valid": text, "test": text}, segment=7)
    m = NaturalModel(70, 5, 70, "chars_summed", 2, bias=False, std=0.5, seed=0, dtype="float64")
    W_in, W, W_out = m.cell.W_in.numpy(), m.cell.W_rec.numpy(), m.head.W_out.numpy()
    for limit in (0, 500):
        codes = text[:limit or len(text)]
        count = min(charlm.EVAL_STREAMS, len(codes) // 8)
        n, nats, chars = len(codes) // count, 0.0, 0
        for s in range(count):
            seq, h = codes[s * n:(s + 1) * n], np.zeros(5)
            for t in range(len(seq) - 1):
                h = sigmoid(h @ W + W_in[seq[t]])
                z = h @ W_out
                nats += np.log(np.exp(z - z.max()).sum()) + z.max() - z[seq[t + 1]]
                chars += 1
        assert data.evaluate(m, "valid", limit) == pytest.approx(nats / chars / math.log(2), rel=1e-12)
    rolls = [rng.integers(0, 2, (n, 88)).astype(np.uint8) for n in (5, 19, 2)]
    mdata = music.MusicData({s: [(str(i), r) for i, r in enumerate(rolls)] for s in music.SPLITS})
    mm = NaturalModel(88, 6, 88, "piano_roll", 2, leaky=0.5, std=0.3, seed=1, dtype="float64")
    W_in, W, b, a = mm.cell.W_in.numpy(), mm.cell.W_rec.numpy(), mm.cell.b.numpy(), mm.cell.leak_factors
    W_out, c = mm.head.W_out.numpy(), mm.head.c.numpy()
    nats, steps = 0.0, 0
    for r in rolls:
        h = np.zeros(6)
        for t in range(len(r) - 1):
            h = (1 - a) * h + a * sigmoid(h @ W + r[t] @ W_in + b)
            p = sigmoid(h @ W_out + c)
            nats -= (r[t + 1] * np.log(p) + (1 - r[t + 1]) * np.log(1 - p)).sum()
            steps += 1
    assert mdata.evaluate(mm, "test") == pytest.approx(nats / steps, rel=1e-10)


def test_lr_halved_when_validation_gets_worse_and_steps_clipped_to_lr_mu(tmp_path, monkeypatch):
    data = tiny_char_data()
    run = NaturalTrainer(replace(tiny_config("msgd-c"), clip=1e-3), data)
    before = np.concatenate([p.numpy().ravel() for p in run.params])
    run.update()                                     # the gradient is far above mu: the step is lr * mu long
    after = np.concatenate([p.numpy().ravel() for p in run.params])
    assert np.linalg.norm(after - before) == pytest.approx(0.01 * 1e-3, rel=1e-9)
    scripted = iter([5.0, 4.0, 4.5, 4.4, 6.0])
    monkeypatch.setattr(data, "evaluate", lambda model, split, limit=0: next(scripted))
    run = NaturalTrainer(replace(tiny_config("msgd-c"), max_updates=50), data)
    run.train(tmp_path / "r", progress=False, plots=False)
    rows = natural.RunFiles(tmp_path / "r").rows()
    assert [r["lr"] for r in rows] == [0.01, 0.01, 0.005, 0.005, 0.0025]
    assert run.state.best_update == 20 and run.state.best_valid == 4.0


def test_only_the_voices_of_a_cantata_chorale_are_read(tmp_path):
    """bwv248.42-4 (Christmas Oratorio) has 12 parts: horns, oboes, strings, organ and the four
    voices, which rest through a 9-beat instrumental coda.  Before the fix its roll held 8 keys
    at once and ended on 2 silent steps.  Its roll must be the four sung parts' notes alone."""
    pytest.importorskip("music21")
    from music21 import corpus
    name = "bach/bwv248.42-4"
    score = corpus.parse(name)
    sung = [p for p in score.parts if p.partName in ("Soprano", "Alto", "Tenor", "Bass")]
    assert len(score.parts) == 12 and len(sung) == 4
    assert [p.partName for p in music.voices(score)] == ["Soprano", "Alto", "Tenor", "Bass"]
    spans = []
    for part in sung:
        merged = part.stripTies()
        for n in merged.recurse().notes:
            onset = float(n.getOffsetInHierarchy(merged))
            spans += [(onset, onset + float(n.duration.quarterLength), p.midi) for p in n.pitches]
    first, last = min(s for s, _, _ in spans), max(e for _, e, _ in spans)
    want = np.zeros((int(math.ceil(last - math.floor(first))), 88), np.uint8)
    for onset, end, midi in spans:
        for step in range(len(want)):
            if onset <= step + math.floor(first) < end:
                want[step, midi - 21] = 1
    roll = music.piano_roll(score)
    assert roll.sum(1).max() <= 4 and roll[0].any() and roll[-1].any()
    np.testing.assert_array_equal(roll, want)
