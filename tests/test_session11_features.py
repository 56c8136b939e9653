"""An outside check of session 11's user-facing additions: ``minigrad charlm --ahead K`` (the
target is the K-th character ahead, the hidden state carried over segments) and ``minigrad
sweep --batch-size`` with the sweep CSV's ``counted`` and ``batch_size`` columns.

The references here are written from the definitions, not from the code under test: the
character targets are checked as a property of the text (the target sequence of a stream is its
input sequence shifted by K, read across every segment boundary), and bits per character against
a plain NumPy forward pass of the sigmoid RNN over each whole stream, without segments.
"""
import math

import numpy as np
import pytest

from tasks.charlm import VOCAB, CharData, PAPER_ROWS
from tasks.natural import NaturalConfig, NaturalTrainer, results_table

V = len(VOCAB)


def corpus(seed=0, sizes=(1003, 611, 577)):
    rng = np.random.default_rng(seed)
    return {s: rng.integers(0, V, n).astype(np.uint8) for s, n in zip(("train", "valid", "test"), sizes)}


# ----------------------------------------------------------------------------- --ahead: training targets
@pytest.mark.parametrize("ahead", [1, 3, 5])
def test_training_targets_are_the_kth_character_ahead_across_segment_boundaries(ahead):
    """Over two passes: each pass's inputs, segment after segment, read one contiguous piece of
    the text per stream (so a carried state sees what it should); each target is the input K
    steps later in the same stream, at a segment's end too (where it lies in the next segment);
    the targets of the last segment are the K characters that follow in that stream, never the
    next stream's; ``reset`` exactly at the first segment of a pass."""
    c = corpus(1)
    text, B, S = c["train"], 4, 9
    data = CharData(c, segment=S, ahead=ahead)
    per = data.updates_per_epoch(B)
    n = len(text) // B                                        # characters per stream
    assert per == (n - ahead) // S                            # every whole segment whose targets exist
    for pass_ in range(2):
        xs, ys = [], []
        for i in range(per):
            x, y, reset = data.batch(pass_ * per + i, B, seed=0)
            assert reset == (i == 0)
            assert x.shape == (S, B, V) and y.shape == (S, B)
            assert np.all(x.sum(-1) == 1)
            xs.append(x.argmax(-1))
            ys.append(y)
        xs, ys = np.concatenate(xs), np.concatenate(ys)          # (per * S, B)
        for b in range(B):
            start = b * n                                     # stream b is the b-th contiguous piece
            np.testing.assert_array_equal(xs[:, b], text[start:start + per * S])
            np.testing.assert_array_equal(ys[:-ahead, b], xs[ahead:, b])       # shifted by K
            np.testing.assert_array_equal(ys[-ahead:, b], text[start + per * S:start + per * S + ahead])
            assert start + per * S + ahead <= (b + 1) * n     # never read from the next stream


# ----------------------------------------------------------------------------- --ahead: evaluation
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def reference_bits(model, codes, ahead, streams_):
    """Bits per character of predicting character t + K from characters 0..t of each of
    ``streams_`` contiguous streams, the state run over the whole stream from zero."""
    W_in, W_rec = model.cell.W_in.numpy(), model.cell.W_rec.numpy()
    b = 0.0 if model.cell.b is None else model.cell.b.numpy()
    W_out = model.head.W_out.numpy()
    c = 0.0 if model.head.c is None else model.head.c.numpy()
    n = len(codes) // streams_
    total, count = 0.0, 0
    for s in range(streams_):
        text = codes[s * n:(s + 1) * n]
        h = np.zeros(W_rec.shape[0])
        for t in range(n - ahead):
            h = sigmoid(h @ W_rec + W_in[text[t]] + b)
            z = h @ W_out + c
            logp = z - z.max() - math.log(np.exp(z - z.max()).sum())
            total -= logp[text[t + ahead]]
            count += 1
    return total / count / math.log(2), count


@pytest.mark.parametrize("ahead,segment", [(1, 7), (5, 7), (5, 2), (3, 10)])
def test_bits_per_character_every_predictable_position_once(ahead, segment):
    """evaluate() = the NumPy reference over whole streams: every character whose K-th-ahead
    character exists is an input once and every character from the K-th on a target once,
    the state carried over the segments (segment lengths that do not divide the stream)."""
    c = corpus(2, sizes=(1000, 2400, 1500))                   # 64 streams of 37 and 23 characters
    config = NaturalConfig(task="charlm", hidden=5, batch_size=2, segment=segment, ahead=ahead, bias=False,
                           std=0.5, dtype="float64", trace=False, method="msgd")
    model = NaturalTrainer(config, CharData(c, segment=segment, ahead=ahead)).model
    data = CharData(c, segment=segment, ahead=ahead)
    for split in ("valid", "test"):
        codes = c[split]
        streams_ = max(1, min(64, len(codes) // (segment + ahead)))
        want, count = reference_bits(model, codes, ahead, streams_)
        assert streams_ == 64 and count == streams_ * (len(codes) // streams_ - ahead)
        assert data.evaluate(model, split) == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("trace", [False, True])
def test_training_cost_carries_the_state_over_segments_with_ahead(trace):
    """The cost of each update (nats summed over the segment, averaged over the streams) equals
    the NumPy reference: the state at a segment's start is the previous segment's last state
    under the weights of that time, zero at a pass's start; targets K ahead."""
    ahead, S, B = 5, 6, 3
    c = corpus(3, sizes=(3 * 30, 60, 60))                     # 30 characters a stream: 4 segments a pass
    data = CharData(c, segment=S, ahead=ahead)
    config = NaturalConfig(task="charlm", hidden=4, batch_size=B, segment=S, ahead=ahead, bias=False, std=0.5,
                           lr=0.5, dtype="float64", trace=trace, method="msgd", clip=1e9)
    run = NaturalTrainer(config, data)
    per = data.updates_per_epoch(B)
    assert per == (30 - ahead) // S == 4
    text = c["train"][:B * 30].reshape(B, 30)
    h = np.zeros((B, 4))
    for u in range(per + 2):                                  # over a pass boundary
        W_in, W_rec, W_out = (p.numpy().copy() for p in (run.cell.W_in, run.cell.W_rec, run.model.head.W_out))
        i = u % per
        if i == 0:
            h = np.zeros((B, 4))
        want = 0.0
        for t in range(i * S, (i + 1) * S):
            h = sigmoid(h @ W_rec + W_in[text[:, t]])
            z = h @ W_out
            z = z - z.max(1, keepdims=True)
            logp = z - np.log(np.exp(z).sum(1, keepdims=True))
            want -= logp[np.arange(B), text[:, t + ahead]].sum()
        run.state.update = u
        got = float(run.update()[0].item())
        assert got == pytest.approx(want / B, rel=1e-12)


def test_chardata_refuses_what_it_cannot_do():
    from tasks.train import RunError
    for bad in (0, -1, True, 2.0):
        with pytest.raises(RunError, match="--ahead must be a positive integer"):
            CharData(corpus(), ahead=bad)
    with pytest.raises(RunError, match="too short to predict 700 characters ahead"):
        CharData(corpus(), ahead=700)
    with pytest.raises(RunError, match="too short"):
        CharData(corpus(), segment=200, ahead=100).batch(0, 20, 0)


# ----------------------------------------------------------------------------- --ahead: the printed row
def test_paper_rows_quote_table_1():
    """PAPER.md, Table 1 (train / test, bits per character): PTB next char 1.46 / 1.50,
    1.34 / 1.42, 1.36 / 1.41; PTB 5th char ahead -, 3.76 / 3.89, 3.70 / 3.74."""
    assert PAPER_ROWS[1] == "PTB next char" and PAPER_ROWS[5] == "PTB 5th char ahead"
    results = [{"method": m, "best": {"train": 1.0, "valid": 2.0, "test": 3.0}, "updates": 1, "best_update": 1,
                "wall_time": 0.0} for m in ("msgd", "msgd-c", "msgd-cr")]
    lines = results_table(results, [PAPER_ROWS[5]], "bits per character").splitlines()
    assert "PTB 5th char ahead" in lines[0]
    assert lines[1].split()[4] == "-"
    assert "3.76 / 3.89" in lines[2] and "3.70 / 3.74" in lines[3]
    lines = results_table(results, [PAPER_ROWS[1]], "bits per character").splitlines()
    assert "1.46 / 1.50" in lines[1] and "1.34 / 1.42" in lines[2] and "1.36 / 1.41" in lines[3]


# ----------------------------------------------------------------------------- sweep --batch-size
SWEEP = ["sweep", "--lengths", "10", "--seeds", "0", "1", "--methods", "msgd-c", "--hidden", "6",
         "--eval-size", "10", "--eval-every", "2", "--max-updates", "2", "--target-error", "0"]


@pytest.fixture
def no_plots(monkeypatch):
    from tasks.runfiles import RunFiles
    monkeypatch.setattr(RunFiles, "plot", lambda self, *a, **k: None)


def _plan(out, argv):
    from tasks import sweep
    from tasks.cli import build_parser
    args = build_parser().parse_args(argv + ["--out", str(out)])
    return args, *sweep.plan_cells(args)


def _spy_batches(monkeypatch):
    """The sizes of the training batches drawn, by path: a packed run's and a run alone's."""
    from tasks import packed, train
    drawn = []
    packed_batch, sampler_batch = packed.PackedTrainer._batch, train.Sampler.batch

    def packed_spy(self, rngs, size):
        batch = packed_batch(self, rngs, size)
        drawn.append(("packed", size, batch.inputs.shape[2]))
        return batch

    def alone_spy(self, size, *a, **k):
        batch = sampler_batch(self, size, *a, **k)
        drawn.append(("alone", size, batch.inputs.shape[1]))
        return batch

    monkeypatch.setattr(packed.PackedTrainer, "_batch", packed_spy)
    monkeypatch.setattr(train.Sampler, "batch", alone_spy)
    return drawn


@pytest.mark.parametrize("task,path", [("temporal-order", "packed"), ("addition", "alone")])
def test_sweep_batch_size_reaches_training(tmp_path, monkeypatch, no_plots, task, path):
    """--batch-size 7: each of the 2 updates draws 7 sequences per cell, packed (temporal order:
    both seeds in one computation) and alone (addition's jitter does not pack); the evaluations
    draw --eval-size (10) sequences; nothing else is drawn."""
    from tasks import sweep
    drawn = _spy_batches(monkeypatch)
    _, _, cells = _plan(tmp_path, SWEEP + ["--task", task, "--batch-size", "7", "--inits", "smart-tanh"])
    packs = sweep.make_packs(cells)
    assert [len(p) for p in packs] == ([2] if path == "packed" else [1, 1])
    for pack in packs:
        assert [r["outcome"] for r in sweep.run_pack(pack)["pack"]] == ["budget"] * len(pack)
    sizes = {size for kind, size, shape in drawn if kind == path and size == shape}
    assert {size for kind, size, _ in drawn} == sizes == {7, 10}
    trained = [d for d in drawn if d[1] == 7]
    assert len(trained) >= 2 * (1 if path == "packed" else 2)


def test_a_result_of_another_batch_size_is_never_reused(tmp_path, no_plots):
    """Cells trained with --batch-size 7 in OUT: a sweep with the default 20 into the same OUT
    finds no result for any of its cells (other keys, other folders); the 7's are still found."""
    from tasks import sweep
    _, _, seven = _plan(tmp_path, SWEEP + ["--batch-size", "7", "--inits", "smart-tanh"])
    for pack in sweep.make_packs(seven):
        sweep.run_pack(pack)
    args, rows, twenty = _plan(tmp_path, SWEEP + ["--inits", "smart-tanh"])
    assert [sweep.read_result(c["folder"], c["key"])[0] for c in twenty] == [None, None]
    assert all(sweep.read_result(c["folder"], c["key"])[0]["outcome"] == "budget" for c in seven)
    assert not {c["folder"] for c in seven} & {c["folder"] for c in twenty}
    # given the 7's results, the table of the 20's cells counts none of them (2 without a result)
    results = {c["key"]: sweep.read_result(c["folder"], c["key"])[0] for c in seven}
    assert sweep.print_table(args, rows, twenty, results) == 2


def test_counted_is_false_exactly_for_rows_that_are_not_results(tmp_path, no_plots):
    """sweep.csv: a result read from result.json, a finished run and a diverged run are counted
    (success True/False); a cell that ran other code and a cell whose training raised are not
    (success empty); cells without anything are not rows."""
    import csv
    from tasks import sweep
    _, _, cells = _plan(tmp_path, SWEEP + ["--seeds", "0", "1", "2", "3", "4", "5", "--inits", "smart-tanh"])
    stored, fresh, div, other, raised, none = cells
    results = {}
    sweep.run_pack([stored])
    results[stored["key"]] = sweep.read_result(stored["folder"], stored["key"])[0]      # as a sweep finds it
    results[fresh["key"]] = sweep._clean(sweep.run_pack([fresh])["pack"][0], fresh)
    results[div["key"]] = sweep._clean({"key": div["key"], "outcome": "diverged at update 1", "success": False,
                                        "updates": 1, "final": True}, div)
    results[other["key"]] = sweep._clean(sweep.run_cell({**other, "code": "another version"}), other)
    spec = {**raised, "config": {**raised["config"], "hidden": 0}}               # its training raises
    results[raised["key"]] = sweep._clean(sweep.run_pack([spec])["pack"][0], raised)
    assert results[other["key"]]["outcome"].startswith("error: the worker")
    assert results[raised["key"]]["outcome"].startswith("error")
    sweep.write_csv(tmp_path, cells, results)
    table = {r["name"]: (r["outcome"].split(":")[0], r["counted"], r["success"])
             for r in csv.DictReader(open(tmp_path / "sweep.csv"))}
    assert table == {stored["name"]: ("budget", "True", "False"), fresh["name"]: ("budget", "True", "False"),
                     div["name"]: ("diverged at update 1", "True", "False"),
                     other["name"]: ("error", "False", ""), raised["name"]: ("error", "False", "")}
    assert none["name"] not in table


def test_a_trainer_refuses_data_that_reads_another_ahead_or_segment_than_its_config():
    """The config is what the run folder, checkpoint and result record; the data is what trains.
    A config of --ahead 5 with data reading the next character trained K = 1 under a K = 5 label
    (and a resumed run compares configs only): refused in one line, as is another segment."""
    from tasks.train import RunError
    c = corpus(4)
    base = dict(task="charlm", hidden=4, batch_size=2, bias=False, dtype="float64", trace=False, method="msgd")
    with pytest.raises(RunError, match="ahead 5.*ahead 1"):
        NaturalTrainer(NaturalConfig(**base, segment=9, ahead=5), CharData(c, segment=9, ahead=1))
    with pytest.raises(RunError, match="segment 9.*segment 7"):
        NaturalTrainer(NaturalConfig(**base, segment=9, ahead=5), CharData(c, segment=7, ahead=5))
    NaturalTrainer(NaturalConfig(**base, segment=9, ahead=5), CharData(c, segment=9, ahead=5))      # agreed: fine


def test_charlm_refuses_an_eval_limit_that_holds_no_target_before_training(tmp_path, monkeypatch):
    """--eval-limit 5 with --ahead 5: no character of the first 5 has its 5th-ahead one among
    them, so the first evaluation (after --eval-every updates) failed; refused before the corpus
    is read.  --eval-limit 6 (one prediction) is allowed."""
    import argparse
    from tasks import charlm
    from tasks.train import RunError
    p = argparse.ArgumentParser()
    charlm.add_arguments(p)

    def not_read(cache=None):
        raise AssertionError("the corpus was read")
    monkeypatch.setattr(charlm, "load_corpus", not_read)
    for ahead, limit in ((5, 5), (1, 1), (5, 2)):
        args = p.parse_args(["--ahead", str(ahead), "--eval-limit", str(limit), "--out", str(tmp_path / "r")])
        with pytest.raises(RunError, match=f"--eval-limit must be 0 .* more than --ahead \\({ahead}\\).*got {limit}"):
            charlm.cmd_charlm(args)
    args = p.parse_args(["--ahead", "5", "--eval-limit", "6", "--out", str(tmp_path / "r")])
    with pytest.raises(AssertionError, match="the corpus was read"):
        charlm.cmd_charlm(args)
