"""rnn.init, rnn.cells and rnn.sequence: against independent NumPy formulas and differences."""
import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import init
from conftest import T


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


# ----------------------------------------------------------------------------- initializations
@pytest.mark.parametrize("name,std", [("sigmoid", 0.01), ("basic_tanh", 0.1)])
def test_paper_gaussian_inits(name, std):
    w = init.recurrent_weights(name, 60, 80, 40, seed=1)
    for key in ("W_in", "W_rec", "W_out"):
        assert abs(w[key].std() / std - 1) < 0.05 and abs(w[key].mean()) < std * 0.05
    assert not w["b"].any() and not w["c"].any()


def test_smart_tanh_is_sparse_with_spectral_radius_095():
    w = init.recurrent_weights("smart_tanh", 6, 50, 4, seed=3)
    W = w["W_rec"]
    assert np.all((W != 0).sum(axis=1) == 15)
    assert np.isclose(np.max(np.abs(np.linalg.eigvals(W))), 0.95, rtol=1e-10)
    assert abs(w["W_in"].std() / 0.01 - 1) < 0.1


def test_inits_are_seeded():
    a, b = init.recurrent_weights("smart_tanh", 6, 20, 4, seed=7), init.recurrent_weights("smart_tanh", 6, 20, 4, seed=7)
    c = init.recurrent_weights("smart_tanh", 6, 20, 4, seed=8)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["W_rec"], c["W_rec"])


def test_other_inits():
    assert np.array_equal(init.recurrent_weights("identity", 3, 5)["W_rec"], np.eye(5))
    Q = init.orthogonal(6, seed=2)
    np.testing.assert_allclose(Q.T @ Q, np.eye(6), atol=1e-12)
    U = init.recurrent_weights("uniform", 3, 25)["W_rec"]
    assert np.abs(U).max() <= 1 / 5 and np.abs(U).max() > 0.15
    W = init.scale_to_spectral_radius(np.random.default_rng(0).standard_normal((8, 8)), 1.5)
    assert np.isclose(init.spectral_radius(W), 1.5)


def test_init_errors():
    with pytest.raises(ValueError, match="unknown initialization 'xavier'.*smart_tanh"):
        init.recurrent_weights("xavier", 2, 3)
    with pytest.raises(ValueError, match="spectral radius is 0"):
        init.scale_to_spectral_radius(np.zeros((3, 3)), 1.0)
    with pytest.raises(ValueError, match="nonzeros per row"):
        init.sparse_rows(np.ones((3, 3)), 4)


# ----------------------------------------------------------------------------- cells
@pytest.mark.parametrize("activation,phi", [("tanh", np.tanh), ("sigmoid", sigmoid),
                                            ("relu", lambda a: np.maximum(a, 0)), ("linear", lambda a: a)])
def test_rnn_cell_formula(activation, phi, device, rng):
    cell = rnn.RNNCell(3, 4, activation, init="basic_tanh", seed=1, device=device)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    out = cell(T(x, device), T(h, device)).numpy()
    W_in, W_rec, b = cell.W_in.numpy(), cell.W_rec.numpy(), cell.b.numpy()
    np.testing.assert_allclose(out, phi(h @ W_rec + x @ W_in + b), rtol=1e-12)


def test_leaky_rnn_cell(device, rng):
    leak = np.array([0.02, 0.1, 0.2, 1.0])
    cell = rnn.RNNCell(3, 4, "tanh", leak=leak, seed=2, device=device)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    out = cell(T(x, device), T(h, device)).numpy()
    full = np.tanh(h @ cell.W_rec.numpy() + x @ cell.W_in.numpy() + cell.b.numpy())
    np.testing.assert_allclose(out, (1 - leak) * h + leak * full, rtol=1e-12)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        rnn.RNNCell(3, 4, leak=0.0)


def test_lstm_cell_formula(device, rng):
    cell = rnn.LSTMCell(3, 4, forget_bias=1.0, seed=3, device=device)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 4)), rng.standard_normal((2, 4))
    h1, c1 = cell(T(x, device), (T(h, device), T(c, device)))
    Wx, Wh, b = cell.W_x.numpy(), cell.W_h.numpy(), cell.b.numpy()
    assert np.all(b[4:8] == 1.0) and not b[:4].any()
    z = x @ Wx + h @ Wh + b
    i, f, o, g = sigmoid(z[:, :4]), sigmoid(z[:, 4:8]), sigmoid(z[:, 8:12]), np.tanh(z[:, 12:])
    c_ref = f * c + i * g
    np.testing.assert_allclose(c1.numpy(), c_ref, rtol=1e-12)
    np.testing.assert_allclose(h1.numpy(), o * np.tanh(c_ref), rtol=1e-12)


def test_gru_cell_formula(device, rng):
    cell = rnn.GRUCell(3, 4, seed=4, device=device)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    out = cell(T(x, device), T(h, device)).numpy()
    p = {k: v.numpy() for k, v in cell.named_parameters()}
    z = sigmoid(x @ p["W_z"] + h @ p["U_z"] + p["b_z"])
    r = sigmoid(x @ p["W_r"] + h @ p["U_r"] + p["b_r"])
    n = np.tanh(x @ p["W_n"] + (r * h) @ p["U_n"] + p["b_n"])
    np.testing.assert_allclose(out, (1 - z) * n + z * h, rtol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_cell_gradients(kind, device, rng):
    cell = rnn.CELLS[kind](3, 4, seed=5, device=device)
    named = list(cell.named_parameters())

    def f(x, h, *ps):                         # differentiate with respect to the weights too
        with mg.nn.reparametrized(cell, {name: v for (name, _), v in zip(named, ps)}):
            state = (h, h * 0.5) if kind == "lstm" else h
            out = cell(x, state)
            return out[0] * out[1] if kind == "lstm" else out

    inputs = [T(rng.standard_normal((2, 3)), device, True), T(rng.standard_normal((2, 4)), device, True)]
    inputs += [T(p.numpy(), device, True) for _, p in named]
    assert mg.gradcheck(f, inputs, order=1)
    if kind == "rnn":
        assert mg.gradcheck(f, inputs, order=2)


def test_one_step_tape_shows_the_real_primitives(device):
    cell = rnn.RNNCell(3, 4, seed=0, device=device)
    with mg.Tape() as tape:
        cell(T(np.ones((2, 3)), device), T(np.ones((2, 4)), device))
    assert tape.ops() == ["matmul", "matmul", "add", "add", "tanh"]


def test_bad_activation():
    with pytest.raises(ValueError, match="unknown activation 'softplus'.*tanh"):
        rnn.RNNCell(2, 3, "softplus")


# ----------------------------------------------------------------------------- sequences
def test_unroll_keeps_states_and_marks_steps(device, rng):
    cell = rnn.RNNCell(3, 4, seed=0, device=device)
    x = T(rng.standard_normal((5, 2, 3)), device)
    with mg.Tape() as tape:
        run = rnn.unroll(cell, x)
    assert len(run) == 5 and len(run.states) == 6 and not run.states[0].numpy().any()
    assert sorted({e.step for e in tape}) == [0, 1, 2, 3, 4]
    h = np.zeros((2, 4))
    for t in range(5):
        h = np.tanh(h @ cell.W_rec.numpy() + x.numpy()[t] @ cell.W_in.numpy() + cell.b.numpy())
        np.testing.assert_allclose(run.hiddens[t + 1].numpy(), h, rtol=1e-12)


def test_unroll_rejects_batch_first_inputs(device):
    cell = rnn.RNNCell(3, 4, device=device)
    with pytest.raises(ValueError, match=r"\(T, B, 3\) \(time first\)"):
        rnn.unroll(cell, T(np.ones((2, 5, 4)), device))


@pytest.mark.parametrize("head", rnn.HEADS)
def test_heads_match_their_definitions(head, device, rng):
    model = rnn.SequenceModel(3, 5, 4 if head != "last_linear" else 1, head=head, init="basic_tanh",
                              seed=2, device=device)
    x = T(rng.standard_normal((6, 2, 3)), device)
    outputs, (run,) = model.run(x)
    hs = np.stack([h.numpy() for h in run.hiddens[1:]])
    W, c = model.head.W_out.numpy(), model.head.c.numpy()
    if head == "every_softmax":
        targets = rng.integers(0, 4, (6, 2))
        logits = hs @ W + c
        assert outputs.shape == (6, 2, 4)
    elif head == "last_softmax":
        targets = rng.integers(0, 4, 2)
        logits = hs[-1] @ W + c
    else:
        targets = rng.standard_normal((2, 1))
        np.testing.assert_allclose(model.loss(x, T(targets, device)).item(),
                                   np.mean((hs[-1] @ W + c - targets) ** 2), rtol=1e-12)
        return
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(np.take_along_axis(logp, targets[..., None], -1))
    np.testing.assert_allclose(model.loss(x, mg.tensor(targets, device=device)).item(), expected, rtol=1e-12)


def test_paper_model_uses_the_paper_init_for_the_output(device):
    m = rnn.SequenceModel(6, 50, 4, init="smart_tanh", seed=0, device=device)
    assert abs(m.head.W_out.numpy().std() / 0.01 - 1) < 0.3     # uniform default: std 0.08
    assert m.cell.activation == "tanh" and rnn.SequenceModel(6, 5, 4, init="sigmoid").cell.activation == "sigmoid"


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_stacked_layers_feed_each_other(cell, device, rng):
    model = rnn.SequenceModel(3, 4, 2, cell=cell, layers=2, head="last_softmax", init="uniform", device=device)
    x = T(rng.standard_normal((4, 2, 3)), device)
    out, runs = model.run(x)
    assert len(runs) == 2
    second = rnn.unroll(model.layers[1], mg.stack(runs[0].hiddens[1:]))
    np.testing.assert_allclose(rnn.hidden_of(second.final).numpy(), runs[1].hiddens[-1].numpy())
    loss = model.loss(x, mg.tensor([0, 1], device=device))
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_model_errors():
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        rnn.SequenceModel(3, 4, 2, cell="transformer")
    with pytest.raises(ValueError, match="unknown head 'first'"):
        rnn.SequenceModel(3, 4, 2, head="first")
    with pytest.raises(ValueError, match="layers must be at least 1"):
        rnn.SequenceModel(3, 4, 2, layers=0)
