"""The test of a run whose sequence lengths vary meets every length, and reads each sequence
where it ends.

Until this test existed, a run trained on lengths 50-200 was tested on 10,000 sequences in 10
minibatches of one length each, as it trains (and as the authors' code tests): 10 of the 151
lengths.  The 3-bit temporal-order run "succeeded" that way with 0 errors while 7% of its
sequences of length 50 were wrong.  Now each test sequence draws its own length
(:meth:`tasks.synthetic.Sampler.test_batch`), the lengths are zero-padded to the longest, and
each sequence's output is read at its own last step (:func:`tasks.train.outputs_at_ends`).
"""
from dataclasses import replace

import numpy as np
import pytest

import minigrad as mg
import rnn
from tasks.synthetic import Sampler, get_task
from tasks.train import Trainer, TrainConfig, count_wrong, outputs_at_ends

BASE = dict(hidden=8, eval_size=10_000, eval_batch=1000, diagnostics=False, dtype="float64", trace=False)


def lengths_tested(monkeypatch, trainer, **kw):
    """The length of every sequence ``trainer.evaluate(**kw)`` tests, from the batches it draws."""
    seen = []
    original = Sampler.test_batch

    def spy(self, size, length=None, lengths=None):
        b = original(self, size, length, lengths)
        groups = b.groups or ((0, b.inputs.shape[1], b.inputs.shape[0]),)
        seen.extend(L for a, z, L in groups for _ in range(z - a))
        return b
    monkeypatch.setattr(Sampler, "test_batch", spy)
    error = trainer.evaluate(**kw)
    return error, seen


def test_a_test_at_lengths_50_to_200_meets_every_length(monkeypatch):
    t = Trainer(TrainConfig(task="temporal_order_3bit", length=50, max_length=201, **BASE))
    _, seen = lengths_tested(monkeypatch, t)
    assert len(seen) == 10_000
    assert set(seen) == set(range(50, 201))                     # all 151 (about 66 each)
    counts = np.bincount(seen)[50:]
    assert counts.min() > 30 and counts.max() < 110             # uniform: Binomial(10000, 1/151)


def test_the_arithmetic_jitter_is_drawn_per_sequence(monkeypatch):
    """Addition at T = 100 has lengths 100..109 (T + U{0..9}); at 50..200, 50..219."""
    t = Trainer(TrainConfig(task="addition", length=100, **BASE))
    _, seen = lengths_tested(monkeypatch, t, size=2000)
    assert set(seen) == set(range(100, 110))
    t = Trainer(TrainConfig(task="addition", length=50, max_length=201, **BASE))
    _, seen = lengths_tested(monkeypatch, t)
    assert set(seen) <= set(range(50, 220)) and len(set(seen)) >= 165 and {50, 100, 200, 210} <= set(seen)


class _Marked:
    """A stand-in for an addition model, exact except at one length: its "state" after step t is
    half the running sum of value x marker, plus 1 when t = ``bad`` (a state the zero padding
    leaves unchanged); the head reads the state.  So the error of a test is exactly the share
    of its sequences that are ``bad`` steps long."""

    def __init__(self, bad):
        self.bad = bad
        self.head = self
        self.kind = "last_linear"

    def run(self, inputs):
        x = inputs.numpy()
        total = np.cumsum(x[..., 0] * x[..., 1], axis=0) / 2                   # (T, B)
        hiddens = [None] + [mg.tensor(total[t][:, None] + (t + 1 == self.bad)) for t in range(len(total))]
        return None, [type("Unrolled", (), {"hiddens": hiddens})()]

    def __call__(self, arg):
        if isinstance(arg, list):                                             # the head
            return arg[-1]
        return self.run(arg)[1][0].hiddens[-1]                                # the model


@pytest.mark.parametrize("bad", [50, 137, 215])
def test_a_model_wrong_at_one_length_fails_the_test_by_that_lengths_share(monkeypatch, bad):
    t = Trainer(TrainConfig(task="addition", length=50, max_length=201, **BASE))
    t.model = _Marked(bad)
    error, seen = lengths_tested(monkeypatch, t, size=5000)
    assert error == np.sum(np.array(seen) == bad) / 5000 > 0
    t.model = _Marked(bad=10_000)                                             # right everywhere
    assert t.evaluate(size=5000) == 0


CASES = [("temporal_order_3bit", 50, 201, "rnn"), ("addition", 20, 61, "rnn"), ("multiplication", 100, None, "rnn"),
         ("permutation", 10, 40, "gru"), ("memorization", 5, 12, "rnn"), ("temporal_order", 30, 60, "lstm")]


@pytest.mark.parametrize("task,low,high,cell", CASES)
def test_padded_outputs_are_each_lengths_own(task, low, high, cell, device):
    """Each sequence's output read from the padded batch equals the model run on that
    sequence's length alone; the count of wrong sequences too, and it does not depend on what
    the padding holds."""
    tk = get_task(task)
    b = Sampler(tk, low, high, seed=(4, 1), device=device, dtype="float64").test_batch(600)
    assert b.groups is not None and len(b.groups) > 1 and b.groups[-1][1] == 600
    model = rnn.SequenceModel(tk.n_in, 12, tk.n_out, cell=cell, head=tk.head, init="basic_tanh", seed=2,
                              dtype="float64", device=device)
    every = tk.head == "every_softmax"
    with mg.no_grad():
        out = outputs_at_ends(model, b).numpy()
        wrong = count_wrong(tk, model, b).item()
        alone, reference = [], 0
        for a, z, L in b.groups:
            y = b.targets[:L, a:z] if every else b.targets[a:z]
            o = model(b.inputs[:L, a:z])
            alone.append(o.numpy())
            reference += int(tk.wrong(o, y).numpy().sum())
        if not every:
            np.testing.assert_allclose(out, np.concatenate(alone), rtol=1e-12, atol=1e-14)
        assert wrong == reference
        x = b.inputs.numpy().copy()
        for a, z, L in b.groups:                                   # noise in the padding
            x[L:, a:z] = np.random.default_rng(0).normal(size=x[L:, a:z].shape)
        noisy = replace(b, inputs=mg.tensor(x, device=device))
        assert count_wrong(tk, model, noisy).item() == wrong
        if not every:
            assert np.abs(outputs_at_ends(model, noisy).numpy() - out).max() == 0


@pytest.mark.parametrize("task,length", [("temporal_order", 50), ("permutation", 30), ("memorization", 10)])
def test_a_test_of_one_possible_length_draws_what_training_draws(task, length):
    """Without a range or a jitter nothing changes: the batches of the fixed-length runs recorded
    in bench/RESULTS.md (Figure 7) are tested on exactly the sequences they were."""
    a = Sampler(task, length, seed=(7, 1, 500), dtype="float64").test_batch(300)
    b = Sampler(task, length, seed=(7, 1, 500), dtype="float64").batch(300)
    assert a.groups is None
    np.testing.assert_array_equal(a.inputs.numpy(), b.inputs.numpy())
    np.testing.assert_array_equal(a.targets.numpy(), b.targets.numpy())


def test_the_groups_hold_each_length_in_increasing_order_and_cover_the_batch():
    b = Sampler("addition", 50, 201, seed=3).test_batch(1000)
    starts = [a for a, z, L in b.groups]
    stops = [z for a, z, L in b.groups]
    lengths = [L for a, z, L in b.groups]
    assert starts[0] == 0 and stops[-1] == 1000 and starts[1:] == stops[:-1]
    assert lengths == sorted(set(lengths)) and b.inputs.shape[0] == lengths[-1] == b.length
    x = b.inputs.numpy()
    for a, z, L in b.groups:                  # one marker pair per sequence, all of it before its end
        assert (x[:L, a:z, 1].sum(0) == 2).all() and not x[L:, a:z].any()


class _Recaller:
    """A stand-in for a memorization model (K symbols, P positions), exact by construction except
    at one length: after the go symbol it plays the pattern back, before it (and after the
    pattern, in the padding) it says "nothing" (class K), so a padded step read against the padded
    target 0 would count as wrong; at the last step of a sequence ``bad`` steps long it says the
    wrong symbol.  So the error of a test is exactly the share of its sequences ``bad`` steps long."""

    def __init__(self, task, bad):
        self.K, self.P, self.bad = task.K, task.P, bad
        self.head = self
        self.kind = "every_softmax"

    def __call__(self, inputs):
        x = inputs.numpy()
        l, B = x.shape[:2]
        K, P = self.K, self.P
        pattern = x[:P, :, :K].argmax(-1)                                     # (P, B)
        go = np.cumsum(x[..., K + 1], axis=0) > 0                             # go seen by step t
        since = np.cumsum(go, axis=0) - 1                                     # steps since the go symbol
        cls = np.full((l, B), K)
        for t in range(l):
            playing = go[t] & (since[t] < P)
            cls[t, playing] = pattern[since[t, playing], np.nonzero(playing)[0]]
            last = playing & (since[t] == P - 1) & (t + 1 == self.bad)
            cls[t, last] = (cls[t, last] + 1) % K
        return mg.tensor(np.eye(K + 1)[cls] * 10.0)


@pytest.mark.parametrize("bad", [15, 18, 21])
def test_an_every_step_model_wrong_at_one_length_fails_by_that_lengths_share(monkeypatch, bad):
    """Memorization at gaps 5..11 (15..21 steps): the padding is neither read nor counted."""
    t = Trainer(TrainConfig(task="memorization", length=5, max_length=12, **BASE))
    t.model = _Recaller(t.task, bad)
    error, seen = lengths_tested(monkeypatch, t, size=3000)
    assert error == np.sum(np.array(seen) == bad) / 3000 > 0
    t.model = _Recaller(t.task, bad=10_000)                                   # right everywhere
    assert t.evaluate(size=3000) == 0


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_deep_float32_models_read_each_sequences_own_end(cell, device):
    """Two layers in float32: the head reads the last layer's state at each sequence's own end."""
    tk = get_task("addition")
    b = Sampler(tk, 20, 61, seed=(4, 2), device=device, dtype="float32").test_batch(300)
    assert b.inputs.dtype == np.float32 and b.targets.dtype == np.float32
    model = rnn.SequenceModel(tk.n_in, 12, tk.n_out, cell=cell, layers=2, head=tk.head, init="basic_tanh", seed=2,
                              dtype="float32", device=device)
    with mg.no_grad():
        out = outputs_at_ends(model, b).numpy()
        alone = np.concatenate([model(b.inputs[:L, a:z]).numpy() for a, z, L in b.groups])
    np.testing.assert_allclose(out, alone, rtol=1e-5, atol=1e-6)


def test_a_test_at_a_given_length_jitters_from_that_length(monkeypatch):
    """`minigrad evaluate --lengths 300` of an addition run trained at 50-200: lengths 300..329."""
    t = Trainer(TrainConfig(task="addition", length=50, max_length=201, **BASE))
    _, seen = lengths_tested(monkeypatch, t, length=300, size=2000)
    assert set(seen) == set(range(300, 330))
