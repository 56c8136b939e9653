"""Echo State Network: the echo-state property, and that it learns a chaotic series."""
import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn.esn import mackey_glass, nrmse


def distances(rho, device, seed=1):
    esn = rnn.ESN(1, units=100, spectral_radius=rho, lr=0.4, input_scaling=0.5, seed=seed, device=device)
    rng = np.random.default_rng(0)
    u = mg.tensor(rng.uniform(-1, 1, (300, 1)), device=device)
    a = esn.run(u, mg.tensor(rng.uniform(-1, 1, (1, 100)), device=device)).numpy()
    b = esn.run(u, mg.tensor(rng.uniform(-1, 1, (1, 100)), device=device)).numpy()
    return np.linalg.norm(a - b, axis=-1)[:, 0]


def test_reservoir_is_what_was_asked(device):
    esn = rnn.ESN(2, units=50, spectral_radius=0.8, connectivity=0.2, seed=3, device=device)
    W = esn.W.numpy()
    assert np.isclose(np.max(np.abs(np.linalg.eigvals(W))), 0.8)
    assert 0.1 < (W != 0).mean() < 0.3
    assert esn.W_in.shape == (2, 50) and np.abs(esn.W_in.numpy()).max() <= 1


def test_echo_state_property(device):
    """Same input, two initial states: they converge at spectral radius 0.8 (leak 0.4) and
    stay apart at 1.5."""
    d = distances(0.8, device)
    assert d[0] > 1 and d[-1] < 1e-8
    d = distances(1.5, device)
    assert d[-50:].mean() > 0.1


def test_ridge_readout_predicts_mackey_glass(device):
    s = mackey_glass(2000)
    u, y = s[:-1, None], s[1:, None]
    esn = rnn.ESN(1, units=200, spectral_radius=0.9, lr=0.3, ridge=1e-7, seed=0, device=device)
    esn.fit(u[:1500], y[:1500], washout=100)
    p = esn.predict(u).numpy()[:, 0, 0]
    error = nrmse(p[1500:], y[1500:, 0])
    assert error < 0.02, error              # one-step prediction on unseen data
    assert esn.W_out.device == device


def test_gradient_readout_also_learns(device):
    s = mackey_glass(800)
    u, y = s[:-1, None], s[1:, None]
    esn = rnn.ESN(1, units=50, spectral_radius=0.9, lr=0.3, seed=0, device=device)
    esn.fit_gradient(u[:600], y[:600], washout=50, steps=300, lr=0.1)
    error = nrmse(esn.predict(u).numpy()[600:, 0, 0], y[600:, 0])
    assert error < 0.3, error                # well below predicting the mean (NRMSE 1)


def test_esn_errors(device):
    with pytest.raises(ValueError, match="leak rate"):
        rnn.ESN(1, lr=0)
    esn = rnn.ESN(2, units=10, device=device)
    with pytest.raises(RuntimeError, match="not trained yet"):
        esn.predict(np.zeros((5, 2)))
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        esn.run(np.zeros((5, 3)))
