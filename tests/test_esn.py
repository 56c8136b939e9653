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


# ----------------------------------------------------------------------------- saving and .to()
def _fitted(seed, device, lr=0.3, units=40):
    s = mackey_glass(400)
    esn = rnn.ESN(1, units=units, spectral_radius=0.9, lr=lr, seed=seed, device=device)
    esn.fit(s[:-1, None], s[1:, None], washout=50)
    return esn, s[:-1, None]


def test_saved_esn_predicts_the_same_in_an_esn_of_another_seed(device, tmp_path):
    """The reservoir and the leak rate travel with the readout: an ESN made with another seed
    and another leak rate, loaded from the file, predicts exactly what the saved one did."""
    esn, u = _fitted(0, device)
    expected = esn.predict(u).numpy()
    path = tmp_path / "esn.npz"
    esn.save(path)
    assert set(mg.load(path)) == {"W", "W_in", "b", "W_out", "lr"}
    for seed, lr in ((0, 0.3), (7, 1.0)):
        other = rnn.ESN(1, units=40, spectral_radius=0.5, lr=lr, seed=seed, device=device)
        assert not np.array_equal(other.W.numpy(), esn.W.numpy()) or seed == 0
        other.load(path)
        assert other.lr == 0.3
        np.testing.assert_array_equal(other.predict(u).numpy(), expected)


def test_esn_state_is_not_trained_and_refuses_a_wrong_size(device):
    esn, u = _fitted(0, device)
    fixed = {name: p for name, p in esn.named_parameters() if name != "W_out"}
    assert set(fixed) == {"W", "W_in", "b"} and not any(p.requires_grad for p in fixed.values())
    W = esn.W.numpy()
    esn.fit_gradient(u[:100], u[1:101], steps=3)
    np.testing.assert_array_equal(esn.W.numpy(), W)
    smaller = rnn.ESN(1, units=30, seed=0, device=device)
    with pytest.raises(mg.nn.CheckpointError, match="shape mismatch"):
        smaller.load_state_dict(esn.state_dict())
    assert smaller.W_out is None                     # nothing changed
    with pytest.raises(mg.nn.CheckpointError, match="lr"):
        rnn.ESN(1, units=40, device=device).load_state_dict({k: v for k, v in esn.state_dict().items() if k != "lr"})


def test_esn_to_float32_predicts_in_float32(device):
    esn, u = _fitted(0, device)
    expected = esn.predict(u).numpy()
    esn.to(np.float32)
    assert all(p.dtype == np.float32 for p in esn.parameters())
    p = esn.predict(u)
    assert p.dtype == np.float32 and p.device == device
    np.testing.assert_allclose(p.numpy(), expected, atol=1e-3)
    fresh = rnn.ESN(1, units=40, lr=0.3, seed=0, device=device).to(np.float32)
    s = mackey_glass(400)
    assert fresh.fit(s[:-1, None], s[1:, None], washout=50).predict(u).dtype == np.float32
