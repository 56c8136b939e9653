"""An outside review of issue 14 (attention and the Neural Turing Machine, and their tasks): each
model against a NumPy re-implementation written from its paper's equations (not from the code),
the tasks' metrics against closed forms, and the command lines' refusals of bad input (one line,
and before anything is deleted).

References: Bahdanau, Cho & Bengio 2015 (additive attention, eqs. 5-6 of their appendix A.1.2);
Graves, Wayne & Danihelka 2014 (NTM, eqs. 2-9; copy task, section 4.1).  The gradients of both
models against PyTorch (forward and backward in float64, 1e-15 agreement) are in the review's
report; here, where CI has no PyTorch, central differences (``mg.gradcheck``) stand in."""
import argparse
import math

import numpy as np
import pytest

import minigrad as mg
from rnn import ntm
from rnn.attention import AdditiveAttention, DotProductAttention, Seq2Seq
from tasks import copy_task, translation
from tasks.train import RunError
from conftest import T

F64 = "float64"


def np_softmax(a, axis=-1):
    e = np.exp(a - a.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


# ============================================================================ the NTM, from the paper
def paper_address(M, w_prev, k, beta, g, s, gamma):
    """Eqs. 5-9 for one sequence, with plain loops: M (N, W), w_prev (N,), s over shifts (-1, 0, +1)."""
    N = M.shape[0]
    K = np.array([k @ M[i] / (np.linalg.norm(k) * np.linalg.norm(M[i]) + ntm.COSINE_EPS) for i in range(N)])
    wc = np_softmax(beta * K)                                        # eq. 5
    wg = g * wc + (1 - g) * w_prev                                   # eq. 7
    s_of = {}                                                        # s as a function of the shift mod N
    for shift_amount, p in zip((-1, 0, 1), s):
        s_of[shift_amount % N] = s_of.get(shift_amount % N, 0.0) + p
    ws = np.array([sum(wg[j] * s_of.get((i - j) % N, 0.0) for j in range(N)) for i in range(N)])   # eq. 8
    p = ws ** gamma
    return p / p.sum()                                               # eq. 9


def paper_ntm(P, x, N, W, H):
    """One read and one write head, LSTM controller ([i, f, o, g] blocks), per the module docstring's
    order: controller on [x_t; r_{t-1}], read from M_{t-1}, then erase (eq. 3) and add (eq. 4)."""
    sig = lambda z: 1 / (1 + np.exp(-z))                             # noqa: E731
    softplus = lambda z: np.log1p(np.exp(z))                         # noqa: E731
    T_, B, _ = x.shape
    out = np.zeros((T_, B, P["W_out"].shape[1]))
    for b in range(B):
        M = np.full((N, W), ntm.MEMORY_INIT)
        wr = ww = np.eye(N)[0]
        r = wr @ M                                                   # eq. 2
        h, c = np.zeros(H), np.zeros(H)
        for t in range(T_):
            z = np.concatenate([x[t, b], r]) @ P["controller.W_x"] + h @ P["controller.W_h"] + P["controller.b"]
            i, f, o, gg = np.split(z, 4)
            c = sig(f) * c + sig(i) * np.tanh(gg)
            h = sig(o) * np.tanh(c)
            raw = h @ P["W_heads"] + P["b_heads"]
            heads = []
            for piece in (raw[:W + 6], raw[W + 6:]):
                heads.append(dict(k=piece[:W], beta=softplus(piece[W]), g=sig(piece[W + 1]),
                                  s=np_softmax(piece[W + 2:W + 5]), gamma=1 + softplus(piece[W + 5]),
                                  e=sig(piece[W + 6:2 * W + 6]), a=np.tanh(piece[2 * W + 6:])))
            rh, wh = heads
            wr = paper_address(M, wr, rh["k"], rh["beta"], rh["g"], rh["s"], rh["gamma"])
            r = wr @ M
            ww = paper_address(M, ww, wh["k"], wh["beta"], wh["g"], wh["s"], wh["gamma"])
            M = M * (1 - np.outer(ww, wh["e"])) + np.outer(ww, wh["a"])
            out[t, b] = np.concatenate([h, r]) @ P["W_out"] + P["c"]
    return out


@pytest.mark.parametrize("N,B", [(6, 2), (2, 1), (1, 1)])
def test_ntm_forward_matches_the_papers_equations(N, B, device):
    """The whole machine, sharp heads (weights scaled up), against eqs. 2-9 written as loops;
    N = 2 (shifts -1 and +1 land on the same slot) and N = 1 (every shift stays) included."""
    W, H = 3, 5
    model = ntm.NTM(3, 2, memory_slots=N, memory_width=W, hidden=H, seed=N, dtype=F64, device=device)
    rng = np.random.default_rng(N)
    for p in model.parameters():
        p.data = p.data * 3 + p.backend.asarray(rng.normal(0, 0.3, p.shape))
    x = rng.integers(0, 2, (5, B, 3)).astype(float)
    logits, _ = model(T(x, device))
    ref = paper_ntm({k: v for k, v in model.state_dict().items()}, x, N, W, H)
    np.testing.assert_allclose(logits.numpy(), ref, rtol=1e-9, atol=1e-12)


def test_shift_is_the_circular_convolution_of_eq_8(device, rng):
    """w~_i = Σ_j w_j s_{(i-j) mod N} for a random w and s, by the index formula (N = 5)."""
    w, s = np_softmax(rng.standard_normal((3, 5))), np_softmax(rng.standard_normal((3, 3)))
    ref = np.array([[sum(w[b, j] * dict(zip([4, 0, 1], s[b])).get((i - j) % 5, 0.0) for j in range(5))
                     for i in range(5)] for b in range(3)])
    np.testing.assert_allclose(ntm.shift(T(w, device), T(s, device)).numpy(), ref, rtol=1e-13)


def test_zero_memory_gives_uniform_content_focus_and_finite_gradients(device):
    """All of M_0 = 0 (every cosine is 0/eps = 0): the content weighting is uniform for any beta,
    and the whole machine's gradient is finite (the norm's gradient at 0 is 0, not NaN)."""
    key, beta = T([[1.0, -2.0, 0.5]], device), T([[7.0]], device)
    w = ntm.content_weighting(key, beta, T(np.zeros((1, 4, 3)), device)).numpy()
    np.testing.assert_array_equal(w, np.full((1, 4), 0.25))
    model = ntm.NTM(3, 2, memory_slots=4, memory_width=3, hidden=5, dtype=F64, device=device)
    M0 = T(np.zeros((2, 4, 3)), device, requires_grad=True)
    logits, _ = model(T(np.ones((3, 2, 3)), device), memory=M0)
    logits.sum().backward()
    assert np.isfinite(M0.grad.numpy()).all()
    assert all(np.isfinite(p.grad.numpy()).all() for p in model.parameters())


def test_ntm_refuses_empty_inputs_and_a_memory_of_the_wrong_shape(device):
    """Shape errors say what is wrong and what is wanted (before: 'stack needs at least one tensor',
    or an einsum letter mismatch deep inside the addressing)."""
    model = ntm.NTM(3, 2, memory_slots=4, memory_width=3, hidden=5, dtype=F64, device=device)
    with pytest.raises(ValueError, match=r"at least one step"):
        model(T(np.ones((0, 2, 3)), device))
    with pytest.raises(ValueError, match=r"initial memory must have shape \(B, N, M\) = \(2, 4, 3\)"):
        model(T(np.ones((3, 2, 3)), device), memory=T(np.zeros((2, 5, 3)), device))


# ============================================================================ attention
def test_masked_positions_get_exactly_zero_weight_and_gradient_under_huge_scores(device, rng):
    """Scores of order 1e6 (v scaled): the softmax stays finite, the weights are those of a NumPy
    softmax written from eq. 6 of Bahdanau et al., a padded position has weight exactly 0, and the
    gradient reaching a padded annotation is exactly 0."""
    att = AdditiveAttention(3, 4, 5, seed=2, dtype=F64, device=device)
    att.v.data = att.v.data * 1e6
    H = rng.standard_normal((4, 2, 4))                                    # (S, B, n_h), time-major
    s = rng.standard_normal((2, 3))
    mask = np.array([[1, 1], [1, 1], [1, 0], [1, 0]], bool)
    Ht = T(H, device, requires_grad=True)
    context, weights = att(T(s, device), att.memory(Ht, mg.tensor(mask, device=device)))
    (context * T(rng.standard_normal((2, 4)), device)).sum().backward()
    P = {k: v for k, v in att.state_dict().items()}
    e = np.tanh((s @ P["W_s"])[:, None, :] + H.transpose(1, 0, 2) @ P["W_h"]) @ P["v"]     # (B, S)
    e = np.where(mask.T, e, -np.inf)
    ref = np_softmax(e)
    w = weights.numpy()
    assert np.isfinite(w).all() and np.isfinite(Ht.grad.numpy()).all()
    np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-12)
    assert np.all(w[1, 2:] == 0) and np.all(Ht.grad.numpy()[2:, 1] == 0)


@pytest.mark.parametrize("scaled", [False, True])
def test_dot_product_attention_against_its_formula_with_padding(scaled, device, rng):
    """e_j = (s W_q)·(h_j W_k) [/ √size], softmax, c = Σ a_j h_j (Luong et al. 2015; Vaswani et al.
    2017), in NumPy; padded positions weight exactly 0, and their annotations get gradient 0."""
    att = DotProductAttention(3, 4, 6, scaled=scaled, seed=5, dtype=F64, device=device)
    H, s = rng.standard_normal((4, 2, 4)), rng.standard_normal((2, 3))
    mask = np.array([[1, 1], [1, 1], [1, 0], [1, 0]], bool)
    Ht = T(H, device, requires_grad=True)
    context, weights = att(T(s, device), att.memory(Ht, mg.tensor(mask, device=device)))
    context.sum().backward()
    P = {k: v for k, v in att.state_dict().items()}
    Hb = H.transpose(1, 0, 2)                                             # (B, S, n_h)
    e = np.einsum("bsa,ba->bs", Hb @ P["W_k"], s @ P["W_q"]) / (math.sqrt(6) if scaled else 1.0)
    a = np_softmax(np.where(mask.T, e, -np.inf))
    np.testing.assert_allclose(weights.numpy(), a, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(context.numpy(), np.einsum("bs,bsn->bn", a, Hb), rtol=1e-12, atol=1e-14)
    assert np.all(weights.numpy()[1, 2:] == 0) and np.all(Ht.grad.numpy()[2:, 1] == 0)


@pytest.mark.parametrize("scaled", [False, True])
def test_dot_product_attention_gradients_by_central_differences(scaled, device, rng):
    """Gradients of the context and the weights w.r.t. the query, the annotations, W_q and W_k, in a
    padded batch, against central differences in float64."""
    att = DotProductAttention(3, 4, 5, scaled=scaled, seed=4, dtype=F64, device=device)
    mask = mg.tensor(np.array([[1, 1], [1, 0], [1, 0]], bool), device=device)

    def f(q, H, W_q, W_k):
        with mg.nn.reparametrized(att, {"W_q": W_q, "W_k": W_k}):
            context, weights = att(q, att.memory(H, mask))
            return mg.concat([context, weights], axis=-1)
    assert mg.gradcheck(f, [T(rng.standard_normal((2, 3)), device), T(rng.standard_normal((3, 2, 4)), device),
                            att.W_q.detach(), att.W_k.detach()])


@pytest.mark.parametrize("score", ["dot", "scaled_dot"])
def test_seq2seq_with_dot_scores_ignores_padding(score, device):
    """Seq2Seq(score=...) on a padded batch: each sequence alone gives the logits it gets in the
    batch, and padded positions weigh exactly 0."""
    model = Seq2Seq(6, 5, embed=2, hidden=3, attention=3, bidirectional=True, seed=1, dtype=F64, device=device,
                    score=score)
    ints = lambda a: mg.tensor(np.array(a, dtype=np.int64), device=device)   # noqa: E731
    logits, weights = model(ints([[3, 4], [5, 0], [4, 0]]), ints([[1, 1], [3, 4]]))
    alone, _ = model(ints([[4]]), ints([[1], [4]]))
    np.testing.assert_allclose(alone.numpy()[:, 0], logits.numpy()[:, 1], rtol=1e-12, atol=1e-14)
    assert np.all(weights.numpy()[:, 1, 1:] == 0) and np.all(weights.numpy()[:, 0] > 0)


def test_unknown_score_is_refused():
    with pytest.raises(ValueError, match="unknown attention score 'cosine': choose one of additive, dot, scaled_dot"):
        Seq2Seq(6, 5, score="cosine")


# ============================================================================ the tasks' metrics
def test_copy_cost_is_8L_bits_for_an_undecided_machine(device):
    """Logits 0 (every output 1/2): each scored bit costs ln 2 nats = 1 bit, so the cost is exactly
    width x L bits per sequence, whatever the targets; the steps before the output phase, however
    wrong, are not scored."""
    L, width = 3, 8
    batch = copy_task.copy_batch(4, L, width, seed=1, device=device, dtype=F64)
    logits = np.zeros((2 * L + 1, 4, width))
    logits[:L + 1] = 50.0                                           # the input phase: not scored
    nats = copy_task.copy_loss(T(logits, device), batch.targets, L).item()
    assert copy_task.bits_per_sequence(nats) == pytest.approx(width * L, rel=1e-12)


def test_copy_bit_errors_count_wrong_bits_per_sequence():
    """A machine that copies all but k bits right (confidently) has k/B wrong bits per sequence."""
    trainer = copy_task.CopyTrainer(copy_task.CopyConfig(max_length=2, memory_slots=2, memory_width=2, hidden=2,
                                                         dtype=F64, device="cpu"))
    L, B = 2, 5
    batch = copy_task.copy_batch(B, L, 8, seed=(0, trainer.TEST, L), device="cpu", dtype=F64)
    bits = batch.targets.numpy()
    logits = np.zeros((2 * L + 1, B, 8))
    logits[L + 1:] = np.where(bits > 0.5, 20.0, -20.0)
    logits[L + 1, 0, :3] *= -1                                       # 3 wrong bits in sequence 0
    logits[2 * L, 4, 7] *= -1                                        # 1 in sequence 4
    trainer.model = lambda inputs: (T(logits, "cpu"), None)
    row = trainer.evaluate_length(L, B, (0, trainer.TEST, L))
    assert row["bit_errors"] == pytest.approx(4 / B)
    nats = 4 * 20 + 8 * L * B * math.log1p(math.exp(-20))          # BCE(z, y) = log(1 + e^-z) right, z + that wrong
    assert row["cost"] == pytest.approx(nats / math.log(2) / B, rel=1e-9)


def test_copy_evaluation_in_chunks_counts_every_sequence_once(monkeypatch):
    """Evaluations and tests run EVAL_CHUNK sequences at a time (the machine's record of every
    step grew with --test-size): a machine that copies every bit but flips channel 0 of the
    sequences whose first bit is 1 gives, in chunks of 2 of 7 sequences, the wrong bits and the
    cost counted here by hand, and the same numbers as in one batch."""
    trainer = copy_task.CopyTrainer(copy_task.CopyConfig(max_length=2, memory_slots=2, memory_width=2, hidden=2,
                                                         dtype=F64, device="cpu"))
    L, B, seen = 3, 7, []

    def machine(inputs):                      # copies the input phase into the output phase, +-20
        x = inputs.numpy()
        seen.append(x.shape[1])
        logits = np.zeros((2 * L + 1,) + x.shape[1:2] + (8,))
        logits[L + 1:] = np.where(x[:L, :, :8] > 0.5, 20.0, -20.0)
        flip = x[0, :, 0] > 0.5
        logits[L + 1:, flip, 0] *= -1        # channel 0 wrong at every step of those sequences
        return T(logits, "cpu"), None

    trainer.model = machine
    bits = copy_task.copy_batch(B, L, 8, seed=(0, trainer.TEST, L), device="cpu", dtype=F64).targets.numpy()
    flipped = int((bits[0, :, 0] > 0.5).sum())
    assert 0 < flipped < B
    whole = trainer.evaluate_length(L, B, (0, trainer.TEST, L))
    monkeypatch.setattr(copy_task, "EVAL_CHUNK", 2)
    seen.clear()
    row = trainer.evaluate_length(L, B, (0, trainer.TEST, L))
    assert seen == [2, 2, 2, 1]
    assert row["bit_errors"] == pytest.approx(flipped * L / B, rel=1e-15)
    nats = flipped * L * (20 + math.log1p(math.exp(-20))) + (8 * L * B - flipped * L) * math.log1p(math.exp(-20))
    assert row["cost"] == pytest.approx(nats / math.log(2) / B, rel=1e-12)
    assert row["bit_errors"] == whole["bit_errors"] and row["cost"] == pytest.approx(whole["cost"], rel=1e-14)


def test_translation_batches_against_an_independent_construction(device):
    """reverse and sort, rebuilt from the source tokens alone: targets = answer, EOS, PAD; target_in
    = BOS, then the targets but the last."""
    for task in translation.TASKS:
        b = translation.make_batch(task, 64, 6, seed=(3, 0, 7), device=device)
        src, tin, tgt = b.source.numpy(), b.target_in.numpy(), b.targets.numpy()
        for col in range(64):
            digits = [t for t in src[:, col] if t != translation.PAD]
            assert digits and all(t >= translation.FIRST_DIGIT for t in digits)
            assert np.all(src[len(digits):, col] == translation.PAD)
            answer = digits[::-1] if task == "reverse" else sorted(digits)
            want = answer + [translation.EOS] + [translation.PAD] * (6 - len(digits))
            assert tgt[:, col].tolist() == want
            assert tin[:, col].tolist() == [translation.BOS] + want[:-1]


# ============================================================================ command lines
def _copy(argv):
    parser = argparse.ArgumentParser()
    copy_task.add_arguments(parser)
    return copy_task.cmd_copy(parser.parse_args(argv))


def _translate(argv):
    parser = argparse.ArgumentParser()
    translation.add_arguments(parser)
    return translation.cmd_translate(parser.parse_args(argv))


def test_copy_force_with_a_bad_setting_keeps_the_old_run(tmp_path):
    """``--force`` deletes a folder's run; a mistyped setting must be refused before that
    (before: the run was deleted, then ``--lr must be positive`` refused)."""
    out = tmp_path / "run"
    out.mkdir()
    for name in ("checkpoint.npz", "log.jsonl", "config.json"):
        (out / name).write_text("the old run")
    with pytest.raises(RunError, match="--lr must be positive"):
        _copy(["--out", str(out), "--force", "--lr", "-1"])
    assert all((out / name).read_text() == "the old run" for name in ("checkpoint.npz", "log.jsonl", "config.json"))


@pytest.mark.parametrize("run,argv,message", [
    (_copy, ["--target-cost", "nan"], "--target-cost is in bits per sequence"),
    (_copy, ["--target-cost", "inf"], "--target-cost is in bits per sequence"),
    (_copy, ["--seed", "-1"], r"--seed must be an integer from 0 to 2\^63 - 1, got -1"),
    (_translate, ["--seed", "-1"], r"--seed must be an integer from 0 to 2\^63 - 1, got -1"),
    (_translate, ["--score", "cosine"], "unknown attention score 'cosine': choose one of additive, dot, scaled_dot"),
])
def test_bad_settings_are_one_line_and_name_the_flag(run, argv, message, tmp_path):
    """NaN as a target was accepted (a run that can never succeed); a negative seed failed with
    NumPy's 'expected non-negative integer', which names no flag."""
    tiny = (["--max-length", "1", "--memory-slots", "2", "--memory-width", "2", "--hidden", "2"] if run is _copy
            else ["--max-length", "1", "--embed", "2", "--hidden", "2", "--attention", "2"])
    tiny += ["--batch-size", "1", "--max-updates", "1", "--eval-every", "1", "--quiet"]   # the old code ran
    with pytest.raises(RunError, match=message):
        run(["--out", str(tmp_path / "run")] + tiny + argv)
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_copy_checkpoint_with_non_finite_weights_is_refused(tmp_path, capsys):
    """``--checkpoint`` of a machine whose weights hold NaN (diverged, or an edited file) printed
    NaN costs and drew a blank figure; now one line names the parameter and nothing is drawn."""
    config = copy_task.CopyConfig(max_length=2, memory_slots=2, memory_width=2, hidden=3, dtype=F64, device="cpu")
    copy_task.CopyTrainer(config).checkpoint(copy_task.RunFiles(tmp_path))
    path = str(tmp_path / "checkpoint.npz")
    arrays = mg.load(path)
    key = next(k for k in arrays if k.startswith("model.") and k.endswith(".W_out"))
    w = np.array(arrays[key], copy=True)
    w.flat[0] = np.nan
    arrays[key] = w
    mg.save(arrays, path)
    name = key.removeprefix("model.")
    figure = tmp_path / "w.png"
    with pytest.raises(RunError) as e:
        _copy(["--checkpoint", path, "--test-lengths", "2", "--test-size", "1", "--figure", str(figure)])
    assert str(e.value) == (f"{path}: the model's weights are not finite ({name}: 1 NaN); a run that diverged "
                            "cannot be inspected: train it again (a copy run keeps no earlier weights)")
    assert not figure.exists()


def test_copy_checkpoint_refuses_training_settings_it_would_ignore(tmp_path):
    """``--checkpoint`` only tests and draws: a training setting that differs from the machine's
    was silently dropped (the same value, as the README's commands repeat it, is fine)."""
    config = copy_task.CopyConfig(max_length=2, memory_slots=2, memory_width=2, hidden=3, dtype=F64, device="cpu")
    copy_task.CopyTrainer(config).checkpoint(copy_task.RunFiles(tmp_path))
    path = str(tmp_path / "checkpoint.npz")
    with pytest.raises(RunError, match=r"--hidden 50 \(the machine's: 3\); --lr 0.1 \(the machine's: 0.003\) "
                                       r"would be ignored"):
        _copy(["--checkpoint", path, "--hidden", "50", "--lr", "0.1", "--test-lengths", "2", "--test-size", "1"])
    assert _copy(["--checkpoint", path, "--hidden", "3", "--test-lengths", "2", "--test-size", "1"]) == 0
