"""The Omega regularizer: closed form against generic, both against finite differences."""
import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import regularizer as R
from conftest import T


def setup(device, activation="tanh", cell="rnn", hidden=5, steps=6, batch=3, seed=0):
    rng = np.random.default_rng(seed)
    if cell == "rnn":
        c = rnn.RNNCell(4, hidden, activation, init="basic_tanh", seed=seed, device=device)
        c.W_rec.data = c.W_rec.data * 8     # make the Jacobians interesting (far from r = 1)
    else:
        c = rnn.CELLS[cell](4, hidden, seed=seed, device=device)
    x = T(rng.standard_normal((steps, batch, 4)), device)
    run = rnn.unroll(c, x)
    target = T(rng.standard_normal((batch, hidden)), device)
    loss = ((rnn.hidden_of(run.final) - target) ** 2).sum()
    grads, deltas = R.state_gradients(loss, run, c.parameters())
    return c, x, run, deltas


def numpy_omega(W, h, d, phi_prime):
    """Independent NumPy Ω(W_rec) with δ and h frozen."""
    G = d * phi_prime(h)
    A = G @ W.T
    d2 = (d * d).sum(-1)
    valid = d2 >= 1e-20
    r = (A * A).sum(-1)[valid] / d2[valid]
    return np.mean((r - 1) ** 2)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "linear"])
def test_closed_form_matches_numpy_and_finite_differences(activation, device):
    cell, x, run, deltas = setup(device, activation)
    h = np.stack([t.numpy() for t in run.hiddens[1:]])
    d = np.stack([t.numpy() for t in deltas])
    W = cell.W_rec.numpy()
    phi_prime = {"tanh": lambda v: 1 - v * v, "sigmoid": lambda v: v * (1 - v), "linear": np.ones_like}[activation]
    omega, grad = R.omega_closed_form(cell.W_rec, run.hiddens[1:], deltas, activation)
    assert omega.device == device
    np.testing.assert_allclose(omega.item(), numpy_omega(W, h, d, phi_prime), rtol=1e-12)
    eps, fd = 1e-6, np.zeros_like(W)
    for i in range(W.shape[0]):
        for j in range(W.shape[1]):
            E = np.zeros_like(W)
            E[i, j] = eps
            fd[i, j] = (numpy_omega(W + E, h, d, phi_prime) - numpy_omega(W - E, h, d, phi_prime)) / (2 * eps)
    np.testing.assert_allclose(grad.numpy(), fd, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_generic_equals_closed_form_on_vanilla_cells(activation, device):
    cell, x, run, deltas = setup(device, activation)
    omega_c, grad_c = R.omega_closed_form(cell.W_rec, run.hiddens[1:], deltas, activation)
    omega_g = R.omega_generic(cell, x, run, deltas)
    np.testing.assert_allclose(omega_g.item(), omega_c.item(), rtol=1e-12)
    gW, gWin, gb = mg.grad(omega_g, [cell.W_rec, cell.W_in, cell.b], allow_unused=True)
    np.testing.assert_allclose(gW.numpy(), grad_c.numpy(), rtol=1e-10, atol=1e-14)
    assert gWin is None and gb is None      # only the explicit W_rec is differentiated


def test_generic_on_a_linear_cell_matches_finite_differences(device):
    """For a linear cell the one-step Jacobian is W_recᵀ exactly, so the immediate derivative
    is the full derivative of Ω(W_rec) and finite differences of omega_generic check it."""
    cell, x, run, deltas = setup(device, "linear")
    W0 = cell.W_rec.numpy()
    omega = R.omega_generic(cell, x, run, deltas)
    (g,) = mg.grad(omega, [cell.W_rec])

    def value(W):
        cell.W_rec.data = T(W, device).data
        return R.omega_generic(cell, x, run, deltas).item()

    eps, rng = 1e-6, np.random.default_rng(1)
    for _ in range(3):
        V = rng.standard_normal(W0.shape)
        fd = (value(W0 + eps * V) - value(W0 - eps * V)) / (2 * eps)
        np.testing.assert_allclose(np.sum(g.numpy() * V), fd, rtol=1e-6)


def test_generic_lstm_value_from_explicit_jacobians(device):
    """Ω of an LSTM over its full state (h, c): r_k from one-step Jacobians built by mg.jacobian."""
    cell, x, run, deltas = setup(device, cell="lstm", hidden=3, steps=4, batch=2)
    omega = R.omega_generic(cell, x, run, deltas).item()
    N, rs = 3, []
    for k in range(1, 5):
        h_prev, c_prev = (s.numpy() for s in run.states[k - 1])
        d = np.concatenate([deltas[k - 1][0].numpy(), deltas[k - 1][1].numpy()], axis=1)
        for b in range(2):
            def step(s, b=b, k=k):
                h, c = cell(x[k - 1][b:b + 1], (s[:N].reshape(1, N), s[N:].reshape(1, N)))
                return mg.concat([h.reshape(N), c.reshape(N)])
            J = mg.jacobian(step, T(np.concatenate([h_prev[b], c_prev[b]]), device)).numpy()
            if (d[b] ** 2).sum() >= 1e-20:
                rs.append(((d[b] @ J) ** 2).sum() / (d[b] ** 2).sum())
    np.testing.assert_allclose(omega, np.mean((np.array(rs) - 1) ** 2), rtol=1e-10)
    (gW,) = mg.grad(R.omega_generic(cell, x, run, deltas), [cell.W_h])
    assert np.all(np.isfinite(gW.numpy())) and np.abs(gW.numpy()).sum() > 0


def test_tiny_deltas_are_masked(device):
    cell, x, run, deltas = setup(device)
    zero = [d * 0 for d in deltas]
    omega, grad = R.omega_closed_form(cell.W_rec, run.hiddens[1:], zero)
    assert omega.item() == 0 and not grad.numpy().any()


def test_closed_form_stays_on_device():
    """On the strict device a hidden host round-trip would raise."""
    cell, x, run, deltas = setup("strict")
    omega, grad = R.omega_closed_form(cell.W_rec, run.hiddens[1:], deltas)
    assert omega.device == "strict" and grad.device == "strict"


def test_schedules():
    assert R.constant(4.0)(100) == 4.0
    assert R.inverse_time(2.0)(4) == 0.5 and R.inverse_time(0.5)(1) == 0.5
    assert R.inverse_linear(1.0, 2800)(2800) == 0.5
    with pytest.raises(ValueError, match="starts at t = 1"):
        R.inverse_time(1.0)(0)
    with pytest.raises(ValueError, match="beta must be positive"):
        R.inverse_linear(1.0, 0)


def test_closed_form_refuses_unknown_activation(device):
    with pytest.raises(ValueError, match="omega_generic"):
        R.activation_derivative(T([1.0], device), "softplus")
