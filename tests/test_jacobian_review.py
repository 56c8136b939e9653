"""Review of rnn.JacobianChain against closed forms: a linear RNN (dh_t/dh_k = (W_recᵀ)^(t-k) in the
row-vector convention h_t = h_{t-1} W_rec), the tanh/sigmoid products diag(φ') W_recᵀ over long
spans, the bound ||dh_t/dh_k|| <= (γ σ_max)^(t-k), power iteration on close singular values,
float32 runs whose products underflow, dE/ds_k, and one-line errors for bad input."""
import numpy as np
import pytest

import minigrad as mg
import rnn
from conftest import T


def linear_cell(W, device, n_in=2):
    N = W.shape[0]
    rng = np.random.default_rng(1)
    return rnn.RNNCell(n_in, N, activation="linear", init={"W_in": rng.standard_normal((n_in, N)), "W_rec": W},
                       bias=False, device=device)


def close_top_singular_values(N=6, gap=1e-3, seed=0):
    """A matrix with singular values 1, 1 - gap, 0.9, ...: power iteration converges slowly on it."""
    rng = np.random.default_rng(seed)
    Q1, _ = np.linalg.qr(rng.standard_normal((N, N)))
    Q2, _ = np.linalg.qr(rng.standard_normal((N, N)))
    s = np.concatenate([[1.0, 1.0 - gap], np.linspace(0.9, 0.1, N - 2)])
    return (Q1 * s) @ Q2.T


def test_linear_rnn_products_are_powers_of_W_transposed(device):
    """Rows are outputs: J_i = ∂h_i/∂h_{i-1} = W_recᵀ, so ∂h_t/∂h_k = (W_recᵀ)^(t-k)."""
    W = close_top_singular_values()
    cell = linear_cell(W, device)
    x = T(np.random.default_rng(2).standard_normal((60, 2, 2)), device)
    chain = rnn.JacobianChain(cell, x, rnn.unroll(cell, x))
    np.testing.assert_allclose(chain.jacobian(7).numpy(), np.broadcast_to(W.T, (2, 6, 6)), rtol=0, atol=1e-15)
    np.testing.assert_allclose(chain.product(50, 10).numpy()[1], np.linalg.matrix_power(W.T, 40), rtol=1e-10, atol=1e-14)
    closed = np.full((61, 61), np.nan)
    for t in range(61):
        for k in range(t + 1):
            closed[t, k] = np.linalg.norm(np.linalg.matrix_power(W.T, t - k), 2)
    exact = ~np.isnan(closed)
    for method in ("power", "svd"):
        got = chain.norms(batch=1, method=method)
        assert np.array_equal(np.isnan(got), ~exact)
        # the old power iteration stopped when its estimate changed little, 2e-9 off here
        np.testing.assert_allclose(got[exact], closed[exact], rtol=1e-12)
    np.testing.assert_allclose(chain.norm(60, 0), closed[60, 0], rtol=1e-12)


@pytest.mark.parametrize("gap", [1e-3, 1e-6])
def test_power_iteration_is_exact_on_close_singular_values(gap, device):
    W = close_top_singular_values(gap=gap, seed=3)
    cell = linear_cell(W, device)
    x = T(np.zeros((1, 1, 2)), device)
    chain = rnn.JacobianChain(cell, x, rnn.unroll(cell, x))
    assert abs(chain.norms(0)[1, 0] - 1.0) < 1e-12          # was 1 - 2e-7 (gap 1e-3), 1 - 2e-6 (gap 1e-6)
    assert abs(chain.norms(0, max_iter=1)[1, 0] - 1.0) < 1e-12


@pytest.mark.parametrize("init,gamma", [("basic_tanh", 1.0), ("sigmoid", 0.25)])
def test_long_products_closed_form_and_bound(init, gamma, device):
    """∂h_t/∂h_k = Π diag(φ'(a_i)) W_recᵀ over 150 steps, and ||∂h_t/∂h_k|| <= (γ σ_max(W_rec))^(t-k)."""
    cell = rnn.RNNCell(3, 5, init=init, seed=4, device=device)
    cell.W_rec.data = cell.W_rec.data * 4
    x = T(np.random.default_rng(5).standard_normal((150, 2, 3)), device)
    run = rnn.unroll(cell, x)
    chain = rnn.JacobianChain(cell, x, run)
    W = cell.W_rec.numpy()
    h = [s.numpy()[0] for s in run.hiddens]
    P, log_scale = np.eye(5), 0.0
    for i in range(101, 151):                 # ∂h_150/∂h_100, rescaled so that nothing underflows
        d = 1 - h[i] ** 2 if init == "basic_tanh" else h[i] * (1 - h[i])
        P = (d[:, None] * W.T) @ P
        log_scale += np.log10(np.abs(P).max())
        P /= np.abs(P).max()
    expected = log_scale + np.log10(np.linalg.norm(P, 2))
    assert abs(chain.norm(150, 100, log10=True)[0] - expected) < 1e-9
    assert abs(chain.norms(0, log10=True)[150, 100] - expected) < 1e-9
    logs = chain.norms(0, log10=True)
    t, k = np.tril_indices(151, -1)
    bound = (t - k) * np.log10(gamma * np.linalg.norm(W, 2))
    assert np.all(logs[t, k] <= bound + 1e-9)


def test_float32_norms_do_not_underflow_to_zero(device):
    """A float32 sigmoid run: ||∂h_80/∂h_0|| ~ 1e-60 is below float32's range but not float64's."""
    rng = np.random.default_rng(6)
    W_in, W_rec = rng.uniform(-0.1, 0.1, (3, 4)), rng.uniform(-0.5, 0.5, (4, 4))
    xs = rng.standard_normal((80, 2, 3))
    got = {}
    for dtype in ("float32", "float64"):
        cell = rnn.RNNCell(3, 4, activation="sigmoid", init={"W_in": W_in, "W_rec": W_rec}, dtype=dtype, device=device)
        x = mg.tensor(xs, dtype=dtype, device=device)
        got[dtype] = rnn.JacobianChain(cell, x, rnn.unroll(cell, x))
    n64 = got["float64"].norm(80, 0)
    assert np.all(n64 < 1e-50) and np.all(n64 > 1e-300)
    np.testing.assert_allclose(got["float32"].norm(80, 0), n64, rtol=1e-4)        # was exactly 0
    np.testing.assert_allclose(got["float32"].norms(1)[80, 0], n64[1], rtol=1e-4)
    assert got["float32"].norms(1).dtype == np.float64


def test_state_gradients_of_a_linear_rnn(device):
    """E = Σ_t h_t · c_t: dE/dh_k = Σ_{t>=k} c_t (W_recᵀ)^(t-k), i.e. g_k = g_{k+1} W_recᵀ + c_k."""
    rng = np.random.default_rng(7)
    W = 0.4 * rng.standard_normal((4, 4))
    cell = linear_cell(W, device)
    x = T(rng.standard_normal((9, 3, 2)), device)
    run = rnn.unroll(cell, x)
    c = rng.standard_normal((9, 3, 4))
    loss = sum((h * T(c[t], device)).sum() for t, h in enumerate(run.hiddens[1:]))
    chain = rnn.JacobianChain(cell, x, run, loss=loss)
    for k in range(1, 10):
        expected = sum(c[t - 1] @ np.linalg.matrix_power(W.T, t - k) for t in range(k, 10))
        np.testing.assert_allclose(chain.deltas[k - 1].numpy(), expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(chain.grad_norms[k - 1], np.linalg.norm(expected, axis=1), rtol=1e-10)


def test_norms_per_sequence(device):
    cell = rnn.RNNCell(3, 4, init="basic_tanh", seed=8, device=device)
    x = T(np.random.default_rng(9).standard_normal((12, 3, 3)), device)
    chain = rnn.JacobianChain(cell, x, rnn.unroll(cell, x))
    P = chain.product(12, 2).numpy()
    for b in range(3):
        np.testing.assert_allclose(chain.norms(b)[12, 2], np.linalg.norm(P[b], 2), rtol=1e-10)
    np.testing.assert_array_equal(chain.norms(-1), chain.norms(2))


def test_bad_input_gets_one_line_errors(device):
    cell = rnn.RNNCell(3, 4, seed=0, device=device)
    x = T(np.random.default_rng(0).standard_normal((6, 3, 3)), device)
    run = rnn.unroll(cell, x)
    chain = rnn.JacobianChain(cell, x, run)
    cases = [
        (lambda: chain.norms(batch=3), IndexError, r"batch must be a sequence index in 0\.\.2"),
        (lambda: chain.norms(batch=1.5), IndexError, "batch must be"),
        (lambda: chain.norms(max_iter=0), ValueError, "max_iter must be"),
        (lambda: chain.norms(tol=-1.0), ValueError, "tol must be"),
        (lambda: chain.jacobian(1.0), IndexError, r"numbered 1\.\.6"),
        (lambda: chain.norm(2, 3), IndexError, "k <= t"),
        (lambda: rnn.JacobianChain(cell, x[:3], run), ValueError, "do not match the run"),
        (lambda: rnn.JacobianChain(cell, mg.concat([x, x]), run), ValueError, "do not match the run"),
        (lambda: rnn.JacobianChain(cell, x[:, :2], run), ValueError, "do not match the run"),
        (lambda: rnn.JacobianChain(cell, x.numpy(), run), TypeError, "inputs must be"),
        (lambda: rnn.JacobianChain(cell, x, run.states), TypeError, "run must be"),
        (lambda: rnn.JacobianChain(cell, x[:0], rnn.unroll(cell, x[:0])), ValueError, "no steps"),
        (lambda: rnn.JacobianChain(cell, x, run, max_rows=0), ValueError, "max_rows"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message) as info:
            call()
        assert "\n" not in str(info.value)
