"""rnn.ntm (the Neural Turing Machine), tasks.copy_task and viz.memory: each addressing stage
against hand-computed numbers and central differences in float64, on every device; the copy
task's data, optimizer, run folder and command line; a short training run that learns."""
import argparse
import json
import math

import numpy as np
import pytest

import minigrad as mg
from rnn import ntm
from tasks import copy_task
from tasks.train import RunError
from conftest import T


def softmax(a):
    e = np.exp(a - a.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def distribution(rng, shape):
    return softmax(rng.standard_normal(shape))


# ============================================================================ closed forms
def test_cosine_similarity_by_hand(device):
    key = T([[1.0, 0.0]], device)
    memory = T([[[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]]], device)
    K = ntm.cosine_similarity(key, memory).numpy()
    np.testing.assert_allclose(K, [[1.0, 0.0, -1.0, 1 / math.sqrt(2)]], rtol=1e-7, atol=1e-12)


def test_content_weighting_by_hand(device):
    key = T([[1.0, 0.0]], device)
    memory = T([[[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0]]], device)      # K = (1, 0, -1)
    uniform = ntm.content_weighting(key, T([[0.0]], device), memory).numpy()
    np.testing.assert_allclose(uniform, [[1 / 3, 1 / 3, 1 / 3]], rtol=1e-12)
    w = ntm.content_weighting(key, T([[2.0]], device), memory).numpy()
    e = [math.exp(2), 1.0, math.exp(-2)]
    np.testing.assert_allclose(w, [[x / sum(e) for x in e]], rtol=1e-7)


def test_interpolation_by_hand(device):
    wc, wp = T([[0.5, 0.5, 0.0]], device), T([[0.0, 0.0, 1.0]], device)
    np.testing.assert_allclose(ntm.interpolate(wc, wp, T([[1.0]], device)).numpy(), [[0.5, 0.5, 0.0]])
    np.testing.assert_allclose(ntm.interpolate(wc, wp, T([[0.0]], device)).numpy(), [[0.0, 0.0, 1.0]])
    np.testing.assert_allclose(ntm.interpolate(wc, wp, T([[0.25]], device)).numpy(), [[0.125, 0.125, 0.75]])


def test_shift_by_hand(device):
    w = T([[0.1, 0.2, 0.3, 0.4]], device)
    forward = ntm.shift(w, T([[0.0, 0.0, 1.0]], device)).numpy()         # shift +1: slot i -> i + 1
    np.testing.assert_allclose(forward, [[0.4, 0.1, 0.2, 0.3]], rtol=1e-15)
    backward = ntm.shift(w, T([[1.0, 0.0, 0.0]], device)).numpy()        # shift -1: slot i -> i - 1
    np.testing.assert_allclose(backward, [[0.2, 0.3, 0.4, 0.1]], rtol=1e-15)
    stay = ntm.shift(w, T([[0.0, 1.0, 0.0]], device)).numpy()
    np.testing.assert_allclose(stay, [[0.1, 0.2, 0.3, 0.4]], rtol=1e-15)
    split = ntm.shift(T([[1.0, 0.0, 0.0, 0.0]], device), T([[0.5, 0.0, 0.5]], device)).numpy()
    np.testing.assert_allclose(split, [[0.0, 0.5, 0.0, 0.5]], atol=1e-15)   # slot 0 spreads to 3 and 1


def test_sharpen_by_hand(device):
    w = T([[0.1, 0.2, 0.3, 0.4]], device)
    np.testing.assert_allclose(ntm.sharpen(w, T([[1.0]], device)).numpy(), w.numpy(), atol=1e-14)
    squared = ntm.sharpen(w, T([[2.0]], device)).numpy()
    np.testing.assert_allclose(squared, [[0.01 / 0.3, 0.04 / 0.3, 0.09 / 0.3, 0.16 / 0.3]], rtol=1e-12)
    very_sharp = ntm.sharpen(w, T([[200.0]], device)).numpy()          # no overflow: all on the largest
    np.testing.assert_allclose(very_sharp, [[0, 0, 0, 1]], atol=1e-20)
    zero = ntm.sharpen(T([[0.0, 0.5, 0.5, 0.0]], device), T([[3.0]], device)).numpy()
    np.testing.assert_allclose(zero, [[0, 0.5, 0.5, 0]], atol=1e-30)   # a weight of exactly 0 stays 0


def test_read_by_hand(device):
    memory = T([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]], device)
    np.testing.assert_allclose(ntm.read(memory, T([[0.0, 1.0, 0.0]], device)).numpy(), [[3.0, 4.0]])
    np.testing.assert_allclose(ntm.read(memory, T([[0.5, 0.0, 0.5]], device)).numpy(), [[3.0, 4.0]])


def test_write_by_hand(device):
    memory = np.array([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
    M = T(memory, device)
    one_hot = T([[0.0, 0.0, 1.0]], device)
    cleared = ntm.write(M, one_hot, T([[1.0, 1.0]], device), T([[0.0, 0.0]], device)).numpy()
    np.testing.assert_allclose(cleared, [[[1.0, 2.0], [3.0, 4.0], [0.0, 0.0]]])     # erase 1: slot 2 cleared
    replaced = ntm.write(M, one_hot, T([[1.0, 1.0]], device), T([[7.0, -8.0]], device)).numpy()
    np.testing.assert_allclose(replaced, [[[1.0, 2.0], [3.0, 4.0], [7.0, -8.0]]])
    half = ntm.write(M, T([[0.5, 0.5, 0.0]], device), T([[0.5, 0.0]], device), T([[1.0, 1.0]], device)).numpy()
    # slots 0 and 1: first column keeps 1 - 0.5 * 0.5 = 3/4, second all of it; then + 0.5 a
    np.testing.assert_allclose(half, [[[0.75 + 0.5, 2.5], [2.25 + 0.5, 4.5], [5.0, 6.0]]])


def test_head_parameters_ranges(device, rng):
    width = 3
    raw = T(5 * rng.standard_normal((4, sum(ntm.head_sizes(width, True)))), device)
    head = ntm.head_parameters(raw, width, writes=True)
    assert head.key.shape == (4, 3) and head.erase.shape == (4, 3) and head.add.shape == (4, 3)
    assert (head.beta.numpy() >= 0).all() and ((head.g.numpy() > 0) & (head.g.numpy() < 1)).all()
    assert (head.gamma.numpy() >= 1).all()
    np.testing.assert_allclose(head.shift.numpy().sum(-1), 1, rtol=1e-12)
    assert ((head.erase.numpy() > 0) & (head.erase.numpy() < 1)).all() and (np.abs(head.add.numpy()) < 1).all()
    np.testing.assert_allclose(head.key.numpy(), raw.numpy()[:, :3])               # the key is not squashed
    np.testing.assert_allclose(head.beta.numpy(), np.log1p(np.exp(raw.numpy()[:, 3:4])), rtol=1e-12)


@pytest.mark.parametrize("controller", ntm.CONTROLLERS)
def test_weightings_are_distributions_and_steps_are_marked(controller, device, rng):
    model = ntm.NTM(3, 2, memory_slots=5, memory_width=4, hidden=6, controller=controller, seed=1, device=device)
    x = T(rng.standard_normal((6, 2, 3)), device)
    with mg.Tape() as tape:
        logits, record = model(x)
    assert logits.shape == (6, 2, 2) and len(record.read_weightings) == 6
    write_w, read_w = record.weightings()
    for w in (write_w, read_w):
        assert w.shape == (6, 2, 5) and (w >= 0).all()
        np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-12)
    for stages in record.read_addressing + record.write_addressing:
        for w in (stages.content, stages.gated, stages.shifted):
            np.testing.assert_allclose(w.numpy().sum(-1), 1, rtol=1e-12)
    steps = [e.step for e in tape]
    assert sorted(set(s for s in steps if s is not None)) == list(range(6))
    assert sum(s is None for s in steps) <= 2                 # only the final stack of the outputs


def test_first_step_by_hand(device, rng):
    """Step 0 recomputed in NumPy from the model's weights and the documented initial state
    (memory 1e-6, weightings one-hot on slot 0, r_0 = M_0[0])."""
    model = ntm.NTM(2, 3, memory_slots=4, memory_width=3, hidden=5, controller="feedforward", seed=2, device=device)
    x = rng.standard_normal((1, 2, 2))
    logits, record = model(T(x, device))
    W, b = model.controller.W.numpy(), model.controller.b.numpy()
    Mem = np.full((2, 4, 3), 1e-6)
    r0 = Mem[:, 0]
    h = np.tanh(np.concatenate([x[0], r0], -1) @ W + b)
    raw = h @ model.W_heads.numpy() + model.b_heads.numpy()
    # raw[:, :3] is the key: it does not matter here, every slot of M_0 being the same vector
    beta, g, s, gamma = raw[:, 3:4], raw[:, 4:5], raw[:, 5:8], raw[:, 8:9]
    beta, g, s, gamma = np.log1p(np.exp(beta)), 1 / (1 + np.exp(-g)), softmax(s), 1 + np.log1p(np.exp(gamma))
    wc = softmax(beta * np.ones((2, 4)))              # every slot equal: cosine 1 (up to eps) everywhere
    wg = g * wc + (1 - g) * np.eye(4)[[0, 0]]
    ws = s[:, :1] * np.roll(wg, -1, -1) + s[:, 1:2] * wg + s[:, 2:] * np.roll(wg, 1, -1)
    w = ws ** gamma / (ws ** gamma).sum(-1, keepdims=True)
    np.testing.assert_allclose(record.read_weightings[0].numpy(), w, rtol=1e-6)
    r = np.einsum("bn,bnm->bm", w, Mem)
    expected = np.concatenate([h, r], -1) @ model.W_out.numpy() + model.c.numpy()
    np.testing.assert_allclose(logits.numpy()[0], expected, rtol=1e-9)


# ============================================================================ gradients (float64)
def test_gradients_of_content_addressing(device, rng):
    key, beta = T(rng.standard_normal((2, 3)), device, True), T(rng.random((2, 1)) + 0.5, device, True)
    memory = T(rng.standard_normal((2, 4, 3)), device, True)
    assert mg.gradcheck(ntm.cosine_similarity, [key, memory])
    assert mg.gradcheck(ntm.content_weighting, [key, beta, memory])


def test_gradients_of_interpolation_shift_sharpen(device, rng):
    wc, wp = T(distribution(rng, (2, 4)), device, True), T(distribution(rng, (2, 4)), device, True)
    g = T(rng.random((2, 1)), device, True)
    assert mg.gradcheck(ntm.interpolate, [wc, wp, g])
    s = T(distribution(rng, (2, 3)), device, True)
    assert mg.gradcheck(ntm.shift, [wc, s])
    gamma = T(1 + 2 * rng.random((2, 1)), device, True)
    assert mg.gradcheck(ntm.sharpen, [wc, gamma])


def test_gradients_of_read_and_write(device, rng):
    memory = T(rng.standard_normal((2, 4, 3)), device, True)
    w = T(distribution(rng, (2, 4)), device, True)
    erase, add = T(rng.random((2, 3)), device, True), T(rng.standard_normal((2, 3)), device, True)
    assert mg.gradcheck(ntm.read, [memory, w])
    assert mg.gradcheck(ntm.write, [memory, w, erase, add])


def test_gradients_of_head_parameters_and_addressing(device, rng):
    width = 3
    memory = T(rng.standard_normal((2, 4, width)), device, True)
    previous = T(distribution(rng, (2, 4)), device, True)
    raw = T(rng.standard_normal((2, sum(ntm.head_sizes(width, True)))), device, True)

    def addressed(memory, previous, raw):
        head = ntm.head_parameters(raw, width, writes=True)
        w = ntm.address(memory, previous, head).weighting
        return ntm.write(memory, w, head.erase, head.add)

    assert mg.gradcheck(addressed, [memory, previous, raw])


@pytest.mark.parametrize("controller", ntm.CONTROLLERS)
def test_gradients_of_the_whole_machine(controller, device, rng):
    """The copy loss of a small NTM (N = 4, M = 3, 3 steps, the last 2 scored) with respect to
    the inputs, the initial memory and every parameter."""
    model = ntm.NTM(3, 2, memory_slots=4, memory_width=3, hidden=4, controller=controller, seed=3, device=device)
    x = T(rng.standard_normal((3, 2, 3)), device, True)
    memory = T(0.5 * rng.standard_normal((2, 4, 3)), device, True)
    targets = T(rng.integers(0, 2, (2, 2, 2)), device)

    def loss_of_inputs(x, memory):
        logits, _ = model(x, memory)
        return copy_task.copy_loss(logits, targets, 0)       # scored: steps 1..2

    assert mg.gradcheck(loss_of_inputs, [x, memory])

    names = [name for name, _ in model.named_parameters()]

    def loss_of_parameters(*params):
        logits, _ = mg.nn.functional_call(model, dict(zip(names, params)), (x.detach(), memory.detach()))
        return copy_task.copy_loss(logits, targets, 0)

    assert mg.gradcheck(loss_of_parameters, model.parameters(), directions=4)


# ============================================================================ the copy task
def test_copy_batch_layout_and_seeding(device):
    batch = copy_task.copy_batch(5, 4, width=8, seed=(0, 0, 7), device=device)
    x, y = batch.inputs.numpy(), batch.targets.numpy()
    assert x.shape == (9, 5, 9) and y.shape == (4, 5, 8)
    np.testing.assert_array_equal(x[:4, :, :8], y)                          # the sequence is the target
    assert set(np.unique(y)) <= {0.0, 1.0} and 0.3 < y.mean() < 0.7
    assert not x[:4, :, 8].any() and (x[4, :, 8] == 1).all() and not x[4, :, :8].any()   # the delimiter
    assert not x[5:].any()                                                  # nothing in the output phase
    again = copy_task.copy_batch(5, 4, width=8, seed=(0, 0, 7), device=device)
    other = copy_task.copy_batch(5, 4, width=8, seed=(0, 0, 8), device=device)
    np.testing.assert_array_equal(again.inputs.numpy(), x)
    assert not np.array_equal(other.inputs.numpy(), x)


def test_copy_loss_counts_bits_of_the_output_phase(device):
    """Logits 0 everywhere (p = 1/2 per bit): exactly 1 bit per scored bit, 8 L per sequence,
    whatever the input phase holds."""
    length = 3
    logits = T(np.zeros((2 * length + 1, 4, 8)), device)
    targets = T(np.random.default_rng(0).integers(0, 2, (length, 4, 8)), device)
    cost = copy_task.bits_per_sequence(copy_task.copy_loss(logits, targets, length).item())
    assert cost == pytest.approx(8 * length, rel=1e-12)
    sure = np.zeros((2 * length + 1, 4, 8))
    sure[length + 1:] = np.where(targets.numpy() > 0, 30.0, -30.0)          # confident and right
    sure[:length + 1] = 30.0                                                # the input phase is not scored
    assert copy_task.copy_loss(T(sure, device), targets, length).item() < 1e-10


def test_rmsprop_step_by_hand(device):
    p = mg.nn.Parameter(np.array([1.0, -2.0]), device=device)
    opt = copy_task.RMSProp([p], lr=0.1, momentum=0.9, decay=0.95, eps=1e-4)
    for g in ([0.5, -1.0], [0.3, 2.0]):
        p.grad = T(g, device)
        opt.step()
    n, gm, delta, theta = np.zeros(2), np.zeros(2), np.zeros(2), np.array([1.0, -2.0])
    for g in (np.array([0.5, -1.0]), np.array([0.3, 2.0])):
        n = 0.95 * n + 0.05 * g ** 2
        gm = 0.95 * gm + 0.05 * g
        delta = 0.9 * delta - 0.1 * g / np.sqrt(n - gm ** 2 + 1e-4)
        theta = theta + delta
    np.testing.assert_allclose(p.numpy(), theta, rtol=1e-12)


def test_gradient_values_are_clipped(device):
    p = mg.nn.Parameter(np.zeros(3), device=device)
    p.grad = T([-25.0, 3.0, 11.0], device)
    copy_task.clip_gradient_values([p], 10.0)
    np.testing.assert_allclose(p.grad.numpy(), [-10.0, 3.0, 10.0])


SMALL = dict(min_length=1, max_length=3, width=4, memory_slots=8, memory_width=8, hidden=32, batch_size=32,
             lr=2e-2, eval_every=25, eval_per_length=50)


def test_copy_is_learned_in_seconds():
    """Copy of lengths 1..3 (4-bit vectors, 8 slots): from chance (4 L bits per sequence, 8 on
    average) to under 0.5 bits per sequence within 500 updates (about 8 s on one core; seed 0
    gets there at about update 400)."""
    trainer = copy_task.CopyTrainer(copy_task.CopyConfig(**SMALL, max_updates=500, target_cost=0.5, seed=0))
    state = trainer.train(progress=False)
    assert state.history[0][1] > 4                               # it started near chance
    assert state.outcome == "success" and state.last_cost < 0.5, state.history
    longer = trainer.test([4], size=50)[4]                      # one step longer than trained on
    assert longer["cost"] < 8 * 4 / 2, longer


def test_resumed_run_is_identical(tmp_path):
    config = dict(SMALL, max_length=2, memory_slots=4, memory_width=3, hidden=5, batch_size=4, eval_every=5,
                  eval_per_length=4, test_lengths=[3], test_size=4)
    whole = copy_task.CopyTrainer(copy_task.CopyConfig(**config, max_updates=12))
    whole.train(tmp_path / "whole", progress=False)
    first = copy_task.CopyTrainer(copy_task.CopyConfig(**config, max_updates=7))
    first.train(tmp_path / "parts", progress=False)
    resumed = copy_task.CopyTrainer.from_checkpoint(tmp_path / "parts" / "checkpoint.npz", {"max_updates": 12})
    assert resumed.state.update == 7
    resumed.train(tmp_path / "parts", progress=False)
    for a, b in zip(whole.params, resumed.params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    rows = lambda folder: [{k: v for k, v in json.loads(line).items() if k != "wall_time"}
                           for line in (tmp_path / folder / "log.jsonl").read_text().splitlines()]
    assert rows("whole") == rows("parts")


# ============================================================================ the command line
def _run(argv):
    parser = argparse.ArgumentParser()
    copy_task.add_arguments(parser)
    return copy_task.cmd_copy(parser.parse_args(argv))


TINY = ["--max-length", "2", "--memory-slots", "4", "--memory-width", "3", "--hidden", "4", "--batch-size", "2",
        "--eval-every", "2", "--eval-per-length", "2", "--test-lengths", "3", "--test-size", "2", "--quiet"]


@pytest.mark.parametrize("argv,message", [
    (["--max-length", "3", "--min-length", "5"], r"--max-length \(3\) must be at least --min-length \(5\)"),
    (["--controller", "gru"], "unknown controller 'gru': choose one of lstm, feedforward"),
    (["--lr", "0"], "--lr must be positive"),
    (["--momentum", "1"], r"--momentum must lie in \[0, 1\)"),
    (["--memory-slots", "0"], "--memory-slots must be at least 1"),
    (["--test-lengths", "0"], "--test-lengths must be positive"),
    (["--dtype", "float16"], "unknown dtype 'float16'"),
    (["--figure", "weights.svg"], r"give a \.png file name"),
])
def test_bad_settings_are_refused(tmp_path, argv, message):
    with pytest.raises(RunError, match=message):
        _run(["--out", str(tmp_path / "run")] + argv)


def test_run_folder_rules(tmp_path):
    with pytest.raises(RunError, match="give --out FOLDER"):
        _run([])
    with pytest.raises(RunError, match="holds no checkpoint.npz"):
        _run(["--out", str(tmp_path / "none"), "--resume"])
    with pytest.raises(RunError, match="no such file"):
        _run(["--checkpoint", str(tmp_path / "missing.npz")])
    out = tmp_path / "run"
    assert _run(["--out", str(out), "--max-updates", "4"] + TINY) == 0
    assert (out / "weightings.png").stat().st_size > 1000 and (out / "checkpoint.npz").exists()
    assert (out / "cost.png").stat().st_size > 1000
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [2, 4, 4] and "3" in rows[-1]["test"]
    with pytest.raises(RunError, match="already holds a run"):
        _run(["--out", str(out)] + TINY)
    with pytest.raises(RunError, match="trained with hidden 4, asked 9"):
        _run(["--out", str(out), "--resume", "--hidden", "9"])
    assert _run(["--out", str(out), "--resume", "--max-updates", "6", "--quiet"]) == 0
    figure = tmp_path / "figure.png"
    assert _run(["--checkpoint", str(out / "checkpoint.npz"), "--figure", str(figure), "--figure-length", "3"]) == 0
    assert figure.stat().st_size > 1000
    with pytest.raises(RunError, match="not a checkpoint of minigrad copy"):
        mg.save({"meta": np.array(json.dumps({"config": {}, "state": {}}))}, tmp_path / "other.npz")
        _run(["--checkpoint", str(tmp_path / "other.npz")])


# ============================================================================ the figure
def test_ntm_weightings_figure(tmp_path):
    from viz.memory import ntm_weightings, shown_slots
    steps, slots = 7, 20
    write_w = np.eye(slots)[[0, 1, 2, 3, 3, 3, 3]]
    read_w = np.eye(slots)[[0, 0, 0, 0, 1, 2, 3]]
    assert shown_slots(write_w, read_w).tolist() == [18, 19, 0, 1, 2, 3, 4, 5]     # 0..3, 2 more each side
    backwards = np.eye(slots)[[0, 19, 18, 17, 0, 19, 18]]                          # shifting by -1 wraps round
    assert shown_slots(backwards, backwards, margin=0).tolist() == [17, 18, 19, 0]
    assert shown_slots(np.eye(slots)[[0, 10]], np.eye(slots)[[0, 10]], margin=6).tolist() == list(range(slots))
    fig = ntm_weightings(np.zeros((steps, 9)), np.zeros((steps, 8)), write_w, read_w, path=tmp_path / "w.png")
    assert len(fig.axes) == 4 and [ax.get_title() for ax in fig.axes] == [
        "Inputs", "Outputs", "Write weightings", "Read weightings"]
    assert (tmp_path / "w.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="T = 7 steps"):
        ntm_weightings(np.zeros((steps, 9)), np.zeros((steps + 1, 8)), write_w, read_w)


def test_copy_learning_curve(tmp_path):
    from viz.memory import copy_learning_curve
    rows = [{"update": 10, "sequences": 160, "train_cost": 40.0, "cost": 38.0},
            {"update": 20, "sequences": 320, "train_cost": 10.0, "cost": 5.0},
            {"update": 20, "test": {"30": {"cost": 1.0}}}]                  # a test row: not on the curve
    fig = copy_learning_curve(rows, tmp_path / "cost.png")
    (train, fresh) = fig.axes[0].get_lines()
    np.testing.assert_allclose(fresh.get_xydata(), [[0.16, 38.0], [0.32, 5.0]])
    np.testing.assert_allclose(train.get_ydata(), [40.0, 10.0])
    assert (tmp_path / "cost.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="no evaluation rows"):
        copy_learning_curve(rows[2:])
