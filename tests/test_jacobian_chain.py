"""rnn.JacobianChain: against the vanilla closed form, finite differences, and itself."""
import numpy as np
import pytest

import rnn
from conftest import T


def make(device, cell="rnn", init="basic_tanh", hidden=4, steps=6, batch=3, seed=0, **kw):
    rng = np.random.default_rng(seed)
    if cell == "rnn":
        c = rnn.RNNCell(3, hidden, init=init, seed=seed, device=device, **kw)
        c.W_rec.data = c.W_rec.data * 10
    else:
        c = rnn.CELLS[cell](3, hidden, seed=seed, device=device)
    x = T(rng.standard_normal((steps, batch, 3)), device)
    run = rnn.unroll(c, x)
    return c, x, run


@pytest.mark.parametrize("init,phi_prime", [("basic_tanh", lambda h: 1 - h * h), ("sigmoid", lambda h: h * (1 - h))])
def test_vanilla_closed_form(init, phi_prime, device):
    cell, x, run = make(device, init=init)
    chain = rnn.JacobianChain(cell, x, run)
    assert chain.steps.shape == (6, 3, 4, 4) and chain.steps.device == device
    W = cell.W_rec.numpy()
    for i in range(1, 7):
        h = run.hiddens[i].numpy()
        expected = phi_prime(h)[:, :, None] * W.T[None]          # diag(φ') W_recᵀ per sequence
        np.testing.assert_allclose(chain.jacobian(i).numpy(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_against_finite_differences(cell, device):
    c, x, run = make(device, cell=cell, hidden=3, steps=3, batch=2)
    chain = rnn.JacobianChain(c, x, run)
    S = 6 if cell == "lstm" else 3
    assert chain.steps.shape == (3, 2, S, S)
    eps = 1e-6
    for i in (1, 3):
        prev = run.states[i - 1]
        flat = np.concatenate([p.numpy() for p in prev], axis=1) if cell == "lstm" else prev.numpy()

        def step(s):
            st = (T(s[:, :3], device), T(s[:, 3:], device)) if cell == "lstm" else T(s, device)
            out = c(x[i - 1], st)
            return np.concatenate([o.numpy() for o in out], axis=1) if cell == "lstm" else out.numpy()

        fd = np.zeros((2, S, S))
        for k in range(S):
            e = np.zeros_like(flat)
            e[:, k] = eps
            fd[:, :, k] = (step(flat + e) - step(flat - e)) / (2 * eps)
        np.testing.assert_allclose(chain.jacobian(i).numpy(), fd, rtol=1e-6, atol=1e-9)


def test_products_and_norms(device):
    cell, x, run = make(device, steps=8)
    chain = rnn.JacobianChain(cell, x, run)
    J = chain.steps.numpy()
    P = np.einsum("bij,bjk->bik", J[5], np.einsum("bij,bjk->bik", J[4], J[3]))   # J_6 J_5 J_4
    np.testing.assert_allclose(chain.product(6, 3).numpy(), P, rtol=1e-12)
    np.testing.assert_array_equal(chain.product(2, 2).numpy(), np.broadcast_to(np.eye(4), (3, 4, 4)))
    np.testing.assert_allclose(chain.norm(6, 3), np.linalg.svd(P, compute_uv=False)[:, 0], rtol=1e-12)
    power = chain.norms(batch=1)
    exact = chain.norms(batch=1, method="svd")
    assert power.shape == (9, 9) and np.isnan(power[2, 5]) and power[4, 4] == 1.0
    np.testing.assert_allclose(power[~np.isnan(power)], exact[~np.isnan(exact)], rtol=1e-8)
    np.testing.assert_allclose(exact[6, 3], np.linalg.svd(P[1], compute_uv=False)[0], rtol=1e-12)
    np.testing.assert_allclose(chain.norms(1, log10=True)[6, 3], np.log10(exact[6, 3]), rtol=1e-8)
    with pytest.raises(IndexError, match="k <= t"):
        chain.product(2, 3)


def test_log_norms_survive_underflow(device):
    """A sigmoid network with tiny weights: the products underflow, their log norms do not."""
    cell, x, run = make(device, init="sigmoid", steps=120, batch=1)
    cell.W_rec.data = cell.W_rec.data * 0.001
    run = rnn.unroll(cell, x)
    logs = rnn.JacobianChain(cell, x, run).norms(0, log10=True)
    assert np.isfinite(logs[120, 0]) and logs[120, 0] < -300


def test_spectra(device):
    cell, x, run = make(device)
    chain = rnn.JacobianChain(cell, x, run)
    J = chain.jacobian(2).numpy()
    np.testing.assert_allclose(chain.singular_values(2), np.linalg.svd(J, compute_uv=False), rtol=1e-10)
    ev = chain.eigenvalues(2)
    np.testing.assert_allclose(np.sort(np.abs(ev), axis=1), np.sort(np.abs(np.linalg.eigvals(J)), axis=1), rtol=1e-10)
    W = cell.W_rec.numpy()
    assert np.isclose(chain.spectral_radius_W_rec(), np.max(np.abs(np.linalg.eigvals(W))))


def test_error_norms_follow_the_chain_rule(device):
    """dE/ds_k = dE/ds_{k+1} J_{k+1} when the loss reads only the last state."""
    cell, x, run = make(device, steps=5)
    loss = (run.hiddens[-1] ** 2).sum()
    chain = rnn.JacobianChain(cell, x, run, loss=loss)
    assert chain.grad_norms.shape == (5, 3)
    for k in range(1, 5):
        d_next = chain.deltas[k].numpy()                      # dE/ds_{k+1}
        pushed = np.einsum("bj,bjk->bk", d_next, chain.jacobian(k + 1).numpy())
        np.testing.assert_allclose(chain.deltas[k - 1].numpy(), pushed, rtol=1e-10)
        np.testing.assert_allclose(chain.grad_norms[k - 1], np.linalg.norm(pushed, axis=1), rtol=1e-10)


def test_chunked_construction_is_the_same(device):
    cell, x, run = make(device, steps=7)
    whole = rnn.JacobianChain(cell, x, run).steps.numpy()
    chunked = rnn.JacobianChain(cell, x, run, max_rows=30).steps.numpy()   # 2 steps per chunk
    np.testing.assert_array_equal(whole, chunked)
