"""The recurrent cells and sequence layers against PyTorch's documented semantics (torch.nn.RNNCell,
LSTMCell, GRUCell, RNN/LSTM/GRU), with NumPy references written from PyTorch's formulas (no torch
here; the side-by-side run against torch 2.13 is an outside script): loading PyTorch-layout
weights, the default state, unbatched inputs, states that must not broadcast, one-line errors,
empty sequences, state dicts, and states carried between truncated-BPTT chunks."""
import numpy as np
import pytest

import minigrad as mg
import rnn
from conftest import T


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


# PyTorch's formulas (its docs), weights in its layout: rows are gate blocks, x W^T + b_ih + h W^T + b_hh.
def torch_rnn(p, x, h, phi):
    return phi(x @ p["weight_ih"].T + p["bias_ih"] + h @ p["weight_hh"].T + p["bias_hh"])


def torch_lstm(p, x, h, c):
    gi, gh = x @ p["weight_ih"].T + p["bias_ih"], h @ p["weight_hh"].T + p["bias_hh"]
    i, f, g, o = np.split(gi + gh, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def torch_gru(p, x, h):
    gi, gh = x @ p["weight_ih"].T + p["bias_ih"], h @ p["weight_hh"].T + p["bias_hh"]
    (ir, iz, in_), (hr, hz, hn) = np.split(gi, 3, axis=-1), np.split(gh, 3, axis=-1)
    r, z = sigmoid(ir + hr), sigmoid(iz + hz)
    n = np.tanh(in_ + r * hn)
    return (1 - z) * n + z * h


def torch_layout(rng, gates, n_in, N, bias=True):
    p = {"weight_ih": rng.uniform(-1, 1, (gates * N, n_in)), "weight_hh": rng.uniform(-1, 1, (gates * N, N))}
    if bias:
        p.update(bias_ih=rng.uniform(-1, 1, gates * N), bias_hh=rng.uniform(-1, 1, gates * N))
    return p


# ----------------------------------------------------------------------------- load_torch
@pytest.mark.parametrize("activation,phi", [("tanh", np.tanh), ("relu", lambda a: np.maximum(a, 0))])
def test_rnn_cell_loads_torch_weights(activation, phi, device, rng):
    p = torch_layout(rng, 1, 3, 4)
    cell = rnn.RNNCell(3, 4, activation, device=device).load_torch(p)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    np.testing.assert_allclose(cell(T(x, device), T(h, device)).numpy(), torch_rnn(p, x, h, phi), rtol=1e-12)


def test_lstm_cell_loads_torch_weights_with_its_gate_order(device, rng):
    p = torch_layout(rng, 4, 3, 5)
    cell = rnn.LSTMCell(3, 5, device=device).load_torch(p)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 5)), rng.standard_normal((2, 5))
    h1, c1 = cell(T(x, device), (T(h, device), T(c, device)))
    want_h, want_c = torch_lstm(p, x, h, c)
    np.testing.assert_allclose(c1.numpy(), want_c, rtol=1e-12)
    np.testing.assert_allclose(h1.numpy(), want_h, rtol=1e-12)
    # without a bias (PyTorch's bias=False): the bias is zero
    q = torch_layout(rng, 4, 3, 5, bias=False)
    h2, _ = rnn.LSTMCell(3, 5, device=device).load_torch(q)(T(x, device), (T(h, device), T(c, device)))
    np.testing.assert_allclose(h2.numpy(), torch_lstm(q | {"bias_ih": 0, "bias_hh": 0}, x, h, c)[0], rtol=1e-12)


def test_two_layers_of_a_torch_lstm_load_into_a_sequence_model(device, rng):
    layers = [torch_layout(rng, 4, 3, 4), torch_layout(rng, 4, 4, 4)]
    model = rnn.SequenceModel(3, 4, 2, cell="lstm", layers=2, device=device)
    torch_state = {f"{k}_l{i}": v for i, p in enumerate(layers) for k, v in p.items()}   # nn.LSTM's names
    for i, cell in enumerate(model.layers):
        cell.load_torch({k[:-3]: v for k, v in torch_state.items() if k.endswith(f"_l{i}")})
    xs = rng.standard_normal((5, 2, 3))
    _, runs = model.run(T(xs, device))
    seq = xs
    for p in layers:                                   # nn.LSTM: layer by layer over time, time-major
        h, c, out = np.zeros((2, 4)), np.zeros((2, 4)), []
        for x in seq:
            h, c = torch_lstm(p, x, h, c)
            out.append(h)
        seq = np.stack(out)
    np.testing.assert_allclose(np.stack([h.numpy() for h in runs[1].hiddens[1:]]), seq, rtol=1e-11)


def test_reset_after_gru_is_pytorchs_and_loads_its_weights(device, rng):
    p = torch_layout(rng, 3, 3, 4)
    cell = rnn.GRUCell(3, 4, reset_after=True, device=device).load_torch(p)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 4))
    np.testing.assert_allclose(cell(T(x, device), T(h, device)).numpy(), torch_gru(p, x, h), rtol=1e-12)
    assert [n for n, _ in cell.named_parameters()][-1] == "b_hn"
    z, r, n = (g.numpy() for g in cell.gates(T(x, device), T(h, device)))
    np.testing.assert_allclose(sigmoid(x @ p["weight_ih"][:4].T + p["bias_ih"][:4] + h @ p["weight_hh"][:4].T
                                       + p["bias_hh"][:4]), r, rtol=1e-12)
    np.testing.assert_allclose((1 - z) * n + z * h, torch_gru(p, x, h), rtol=1e-12)


def test_the_two_gru_variants_differ_and_the_default_is_chos():
    p = torch_layout(np.random.default_rng(0), 3, 3, 4)
    after = rnn.GRUCell(3, 4, reset_after=True).load_torch(p)
    before = rnn.GRUCell(3, 4)
    before.load_state_dict({k: v for k, v in after.state_dict().items() if k != "b_hn"})
    x, h = mg.tensor(np.ones((1, 3))), mg.tensor(np.full((1, 4), 0.5))
    assert np.abs(before(x, h).numpy() - after(x, h).numpy()).max() > 1e-3
    with pytest.raises(ValueError, match="reset_after=True"):
        before.load_torch(p)


def test_reset_after_gru_gradients(rng):
    cell = rnn.GRUCell(2, 3, reset_after=True).load_torch(torch_layout(rng, 3, 2, 3))
    named = list(cell.named_parameters())

    def f(x, h, *ps):
        with mg.nn.reparametrized(cell, {name: v for (name, _), v in zip(named, ps)}):
            return cell(x, h)

    inputs = [T(rng.standard_normal((2, 2)), "cpu", True), T(rng.standard_normal((2, 3)), "cpu", True)]
    assert mg.gradcheck(f, inputs + [T(p.numpy(), "cpu", True) for _, p in named], order=1)


def test_load_torch_refuses_in_one_line(rng):
    cell = rnn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match=r"drop the '_l0' suffix.*weight_ih_l0"):
        cell.load_torch({f"{k}_l0": v for k, v in torch_layout(rng, 4, 3, 4).items()})
    with pytest.raises(ValueError, match=r"weight_hh \(16, 5\) \(want \(16, 4\)\)"):
        cell.load_torch(torch_layout(rng, 4, 3, 4) | {"weight_hh": np.zeros((16, 5))})
    before = cell.W_x.numpy().copy()
    with pytest.raises(ValueError, match="wrong shapes"):
        cell.load_torch(torch_layout(rng, 3, 3, 4))        # a GRU's weights: nothing is loaded
    np.testing.assert_array_equal(cell.W_x.numpy(), before)
    with pytest.raises(ValueError, match="no bias"):
        rnn.RNNCell(3, 4, bias=False).load_torch(torch_layout(rng, 1, 3, 4))


# ----------------------------------------------------------------------------- calling a cell
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_default_state_is_zeros_and_unbatched_inputs_work(kind, device, rng):
    cell = rnn.CELLS[kind](3, 4, seed=1, device=device)
    x = rng.standard_normal((2, 3))
    zeros = np.zeros((2, 4))
    given = cell(T(x, device), (T(zeros, device), T(zeros, device)) if kind == "lstm" else T(zeros, device))
    default = cell(T(x, device))
    for a, b in zip(*(s if kind == "lstm" else (s,) for s in (default, given))):
        assert a.shape == (2, 4) and a.dtype == b.dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    one = cell(T(x[0], device))                              # no batch axis: (n_in,) -> (N,)
    for a, b in zip(*(s if kind == "lstm" else (s,) for s in (one, default))):
        assert a.shape == (4,)
        np.testing.assert_allclose(a.numpy(), b.numpy()[0], rtol=1e-12)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_a_state_is_not_broadcast(kind, device):
    cell = rnn.CELLS[kind](3, 4, device=device)
    x = mg.ones((2, 3), device=device)
    for bad in (mg.zeros((1, 4), device=device), mg.zeros(4, device=device)):
        state = (bad, bad) if kind == "lstm" else bad
        with pytest.raises(ValueError, match=r"the state has shape .* but the step makes \(2, 4\)"):
            cell(x, state)
    # the same input row for several sequences is fine: the state keeps its shape
    state = cell.initial_state(2)
    out = cell(mg.ones(3, device=device), state)
    assert rnn.hidden_of(out).shape == (2, 4)


def test_lstm_state_must_be_a_pair(device):
    cell = rnn.LSTMCell(3, 4, device=device)
    x, h = mg.ones((2, 3), device=device), mg.zeros((2, 4), device=device)
    with pytest.raises(TypeError, match=r"pair \(h, c\)"):
        cell(x, h)                                       # was unpacked along the batch axis
    with pytest.raises(ValueError, match=r"the state has shape \(4,\)"):
        cell(x, (h, mg.zeros(4, device=device)))


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_wrong_sizes_are_refused_in_one_line(kind, device):
    cell = rnn.CELLS[kind](3, 4, device=device)
    with pytest.raises(ValueError, match=r"n_in = 3 features in the last axis\), got \(2, 5\)"):
        cell(mg.ones((2, 5), device=device))
    h = mg.zeros((2, 5), device=device)
    with pytest.raises(ValueError, match=r"hidden = 4 units in the last axis\), got \(2, 5\)"):
        cell(mg.ones((2, 3), device=device), (h, h) if kind == "lstm" else h)


def test_packed_cells_take_their_model_axes_for_the_default_state(device, rng):
    cells = [rnn.GRUCell(3, 4, seed=s, device=device) for s in range(2)]
    packed = rnn.stack_models(cells)
    x = rng.standard_normal((2, 5, 3))
    out = packed(T(x, device))
    assert out.shape == (2, 5, 4)
    for s, cell in enumerate(cells):
        np.testing.assert_allclose(out.numpy()[s], cell(T(x[s], device)).numpy(), rtol=1e-12)
    assert packed(T(x[0], device)).shape == (2, 5, 4)        # one batch for both models
    with pytest.raises(ValueError, match=r"does not fit the model axes \(2,\)"):
        packed(mg.ones((3, 5, 3), device=device))


# ----------------------------------------------------------------------------- sequences and modules
def test_empty_and_one_step_sequences(device):
    cell = rnn.RNNCell(3, 4, device=device)
    run = rnn.unroll(cell, mg.zeros((0, 2, 3), device=device))
    assert len(run) == 0 and run.final.shape == (2, 4) and not run.final.numpy().any()
    model = rnn.SequenceModel(3, 4, 2, layers=2, device=device)
    with pytest.raises(ValueError, match=r"at least 1 time step .* got shape \(0, 2, 3\)"):
        model(mg.zeros((0, 2, 3), device=device))
    assert model(mg.zeros((1, 2, 3), device=device)).shape == (2, 2)
    with pytest.raises(ValueError, match=r"one start state per layer \(2\), got 1"):
        model.run(mg.zeros((1, 2, 3), device=device), [cell.initial_state(2)])


def test_an_lstm_state_given_as_a_list(device):
    cell = rnn.LSTMCell(3, 4, device=device)
    h, c = cell.initial_state(2)
    run = rnn.unroll(cell, mg.ones((2, 2, 3), device=device), [h, c])
    assert run.hiddens[0] is h and all(isinstance(s, tuple) for s in run.states)


def test_leak_factors_follow_a_loaded_state_dict():
    a, b = rnn.LeakyRNNCell(2, 6, seed=0), rnn.LeakyRNNCell(2, 6, seed=5)
    assert not np.array_equal(a.leak_factors, b.leak_factors)
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(b.leak_factors, a.leak_factors)
    x, h = mg.ones((1, 2)), mg.full((1, 6), 0.5)
    np.testing.assert_array_equal(b(x, h).numpy(), a(x, h).numpy())


def test_truncated_bptt_chunks(rng):
    cell = rnn.RNNCell(3, 4, init="basic_tanh", seed=2)
    xs = mg.tensor(rng.standard_normal((6, 2, 3)))
    first = rnn.unroll(cell, xs[:3])
    (first.final ** 2).sum().backward()
    with pytest.raises(mg.autograd.GraphReleasedError, match="detach"):
        (rnn.unroll(cell, xs[3:], first.final).final ** 2).sum().backward()
    cell.zero_grad()
    (rnn.unroll(cell, xs[3:], first.final.detach()).final ** 2).sum().backward()   # the usual way works
    # a carried state that keeps its graph: the gradient is that of the whole sequence
    cell.zero_grad()
    first = rnn.unroll(cell, xs[:3])
    (rnn.unroll(cell, xs[3:], first.final).final ** 2).sum().backward()
    chunked = cell.W_rec.grad.numpy().copy()
    W_in, W, b = cell.W_in.numpy(), cell.W_rec.numpy(), cell.b.numpy()
    hs, h = [np.zeros((2, 4))], np.zeros((2, 4))
    for x in xs.numpy():
        h = np.tanh(h @ W + x @ W_in + b)
        hs.append(h)
    grad, d = np.zeros_like(W), 2 * hs[-1]                 # BPTT by hand
    for t in range(6, 0, -1):
        da = d * (1 - hs[t] ** 2)
        grad += hs[t - 1].T @ da
        d = da @ W.T
    np.testing.assert_allclose(chunked, grad, rtol=1e-11)


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru", "leaky"])
def test_bad_sizes_are_refused_in_one_line(kind):
    make = rnn.LeakyRNNCell if kind == "leaky" else rnn.CELLS[kind]
    for n_in, hidden, match in ((3, 0, "hidden must be an integer >= 1, got 0"), (3, -1, "hidden .* got -1"),
                                (3, 2.5, "hidden .* got 2.5"), ("3", 4, "n_in must be an integer >= 0, got '3'")):
        with pytest.raises(ValueError, match=match):
            make(n_in, hidden)
    with pytest.raises(ValueError, match=r"layers must be at least 1 \(an integer\), got 1.5"):
        rnn.SequenceModel(3, 4, 2, layers=1.5)


def test_init_arrays_and_leak_of_the_wrong_shape():
    weights = {"W_in": np.zeros((3, 4)), "W_rec": np.eye(4)}
    with pytest.raises(ValueError, match=r"b must have shape \(4,\), got \(4, 1\)"):
        rnn.RNNCell(3, 4, init=weights | {"b": np.zeros((4, 1))})        # made (4, 4) states from 4 rows
    with pytest.raises(ValueError, match=r"leak must be one factor or 4 \(one per unit\), got shape \(3,\)"):
        rnn.RNNCell(3, 4, leak=[0.5, 0.5, 0.5])


def test_an_lstm_start_state_is_two_tensors(device):
    cell = rnn.LSTMCell(3, 4, device=device)
    h, c = cell.initial_state(2)
    assert h is not c
    h.fill_(1.0)                                         # a chosen start h: c stays zero
    assert not c.numpy().any()
