"""rnn.dynamics, viz.dynamics, tasks.dynamics: the one-unit map against brute force, the RNN
fixed-point finder against closed forms, Lyapunov exponents against eigenvalues, determinants
and a perturbation simulation, and the figures and the command."""
import argparse
import math

import numpy as np
import pytest

import rnn
from conftest import T
from rnn import dynamics as dyn


def _sigma(x):
    return 1.0 / (1.0 + np.exp(-x))


def _brute_roots(w, b, n=400_001):
    """Fixed points of w σ(x) + b by dense sampling of g(x) = w σ(x) + b - x: sign changes,
    each refined by linear interpolation (independent of the code's brackets)."""
    x = np.linspace(min(b, b + w) - 1, max(b, b + w) + 1, n)
    g = w * _sigma(x) + b - x
    exact = x[g == 0]                                  # a sample that is a root itself
    i = np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0)
    return np.sort(np.concatenate([exact, x[i] - g[i] * (x[i + 1] - x[i]) / (g[i + 1] - g[i])]))


# ----------------------------------------------------------------------------- the one-unit map
@pytest.mark.parametrize("w,b", [(5.0, -2.5), (5.0, -3.0), (5.0, -2.0), (5.0, -2.4), (8.0, -4.0), (8.0, -6.5),
                                 (4.5, -2.25), (2.0, 0.3), (-3.0, 1.0), (0.5, -1.0)])
def test_one_unit_fixed_points_against_dense_sampling(w, b):
    found = dyn.one_unit_fixed_points(w, b)
    brute = _brute_roots(w, b)
    assert len(found) == len(brute), (found, brute)
    np.testing.assert_allclose(found, brute, atol=1e-6)
    np.testing.assert_allclose(w * _sigma(found) + b, found, atol=1e-12)      # exact roots, not samples


def test_stability_is_the_multiplier_and_matches_iteration():
    w, b = 5.0, -2.5
    low, mid, high = dyn.one_unit_fixed_points(w, b)
    for x in (low, mid, high):                    # the multiplier is the map's derivative (central differences)
        h = 1e-6
        slope = ((w * _sigma(x + h) + b) - (w * _sigma(x - h) + b)) / (2 * h)
        assert dyn.one_unit_multiplier(x, w) == pytest.approx(slope, rel=1e-8)
    assert list(dyn.one_unit_stable(np.array([low, mid, high]), w)) == [True, False, True]
    # iterating from next to each point: the stable ones pull back, the unstable one pushes away
    for x, stable in ((low, True), (mid, False), (high, True)):
        for d in (1e-4, -1e-4):
            y = x + d
            for _ in range(30):
                y = w * _sigma(y) + b
            assert (abs(y - x) < 1e-6) == stable


def test_saddle_nodes_over_b():
    w = 5.0
    folds = dyn.one_unit_saddle_nodes(w)
    assert folds.shape == (2, 2)
    for fb, fx in folds:
        g = w * _sigma(fx) + fb - fx
        dg = (w * _sigma(fx + 1e-6) - w * _sigma(fx - 1e-6)) / 2e-6 - 1
        assert abs(g) < 1e-12 and abs(dg) < 1e-8                # a double root: g = g' = 0
    (b1, _), (b2, _) = folds
    # the closed form by hand for w = 5: σ(1-σ) = 1/5, σ = (1 ± sqrt(1/5))/2
    s = (1 + math.sqrt(0.2)) / 2
    assert b1 == pytest.approx(math.log(s / (1 - s)) - 5 * s, abs=1e-12)
    assert b1 == pytest.approx(-2.655610, abs=1e-6) and b2 == pytest.approx(-2.344390, abs=1e-6)
    # the number of fixed points (by brute force) changes exactly there
    for b, n in ((b1 - 1e-4, 1), (b1 + 1e-4, 3), (b2 - 1e-4, 3), (b2 + 1e-4, 1)):
        assert len(_brute_roots(w, b)) == n
    assert dyn.one_unit_saddle_nodes(4.0).shape == (0, 2)          # no bifurcation for w <= 4


def test_fold_curve_and_folds_over_w():
    xs = np.array([-2.0, -0.7, 0.4, 1.5])
    b, w = dyn.one_unit_fold_curve(xs)
    np.testing.assert_allclose(w * _sigma(xs) + b, xs, atol=1e-12)              # x is a fixed point
    np.testing.assert_allclose(w * _sigma(xs) * (1 - _sigma(xs)), 1.0, atol=1e-12)  # with multiplier 1
    folds = dyn.one_unit_folds_in_w(-2.5)
    assert folds.shape == (2, 2)
    for (fw, fx), n_before, n_after in zip(folds, (1, 3), (3, 1)):
        assert len(_brute_roots(fw - 1e-4, -2.5)) == n_before and len(_brute_roots(fw + 1e-4, -2.5)) == n_after
    assert dyn.one_unit_folds_in_w(-1.9).shape == (0, 2)                 # above the cusp b = -2


def test_basins_and_the_error_cliff():
    from viz.plots import one_unit_rnn_loss
    w, b = 5.0, -2.5
    _, mid, high = dyn.one_unit_fixed_points(w, b)
    x0 = np.linspace(-4, 4, 161)
    final = dyn.one_unit_attractor(x0, w, b, steps=400)
    np.testing.assert_array_equal(np.abs(final - high) < 1e-9, x0 > mid)    # the boundary is the unstable point
    # the cliff of Figure 6 (x0 = 0.5, 50 steps) is where that boundary passes through x0
    w_cliff = dyn.one_unit_basin_boundary_w(0.5, b)
    assert w_cliff == pytest.approx(4.8196, abs=1e-4)
    ws = np.linspace(4.3, 5.6, 13_001)
    loss = one_unit_rnn_loss(ws, x0=0.5, b=b, steps=50)
    jump = np.argmax(np.abs(np.diff(loss)))
    assert abs(ws[jump] - w_cliff) < 0.01
    fold_w = dyn.one_unit_folds_in_w(b)[0, 0]
    assert fold_w < w_cliff < fold_w + 0.05                  # just after the saddle-node that makes the boundary


# ----------------------------------------------------------------------------- fixed points of an RNN
def test_fixed_point_of_a_linear_rnn(device):
    rng = np.random.default_rng(0)
    N = 5
    W = rng.standard_normal((N, N)) * 0.5 / np.sqrt(N)
    W_in, bias = rng.standard_normal((2, N)), rng.standard_normal(N)
    cell = rnn.RNNCell(2, N, activation="linear", init={"W_in": W_in, "W_rec": W, "b": bias}, device=device)
    x = np.array([0.3, -0.2])
    found = dyn.find_fixed_points(cell, rng.standard_normal((6, N)), x=x, steps=200)
    c = x @ W_in + bias                                    # h = h W + c (rows)  =>  h* = c (I - W)^-1
    expected = np.linalg.solve((np.eye(N) - W).T, c)
    assert found.points.shape == (1, N) and found.counts[0] == 6
    np.testing.assert_allclose(found.points[0], expected, atol=1e-10)
    np.testing.assert_allclose(np.sort(np.abs(found.eigenvalues[0])), np.sort(np.abs(np.linalg.eigvals(W))),
                               atol=1e-10)
    assert found.stable[0] == (np.abs(np.linalg.eigvals(W)).max() < 1) and found.fixed[0]


def test_fixed_points_of_a_tanh_rnn(device):
    rng = np.random.default_rng(3)
    N = 8
    W = rng.standard_normal((N, N)) * 1.6 / np.sqrt(N)
    W_in, bias = rng.standard_normal((1, N)), 0.1 * rng.standard_normal(N)
    cell = rnn.RNNCell(1, N, activation="tanh", init={"W_in": W_in, "W_rec": W, "b": bias}, device=device)
    found = dyn.find_fixed_points(cell, rng.standard_normal((24, N)), steps=400)
    pts = found.points[found.fixed]
    assert len(pts) >= 1
    F = np.tanh(pts @ W + bias)                                   # the map in NumPy, zero input
    np.testing.assert_allclose(F, pts, atol=1e-10)
    for k in np.flatnonzero(found.fixed):
        h = found.points[k]
        J = (1 - np.tanh(h @ W + bias) ** 2)[:, None] * W.T     # closed form diag(φ') W_recᵀ
        np.testing.assert_allclose(found.jacobians[k], J, atol=1e-10)
        assert found.stable[k] == (np.abs(np.linalg.eigvals(J)).max() < 1)


def test_fixed_point_search_refuses_bad_shapes():
    cell = rnn.RNNCell(2, 3, init="basic_tanh")
    with pytest.raises(ValueError, match=r"starts must be an \(n, 3\) array"):
        dyn.find_fixed_points(cell, np.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"constant input must have shape \(2,\)"):
        dyn.find_fixed_points(cell, np.zeros((4, 3)), x=np.zeros(3))


# ----------------------------------------------------------------------------- Lyapunov exponents
def _linear_cell(ev, device, seed=0):
    """A linear RNN whose map h -> J h has the eigenvalues ``ev`` (J = P diag(ev) P⁻¹, not normal)."""
    rng = np.random.default_rng(seed)
    n = len(ev)
    P = rng.standard_normal((n, n)) + 2 * np.eye(n)
    J = P @ np.diag(ev) @ np.linalg.inv(P)
    return rnn.RNNCell(1, n, activation="linear", init={"W_in": np.zeros((1, n)), "W_rec": J.T}, device=device), J


def test_spectrum_of_a_linear_map_is_log_abs_eigenvalues(device):
    ev = np.array([1.2, -0.8, 0.5, 0.2])
    cell, J = _linear_cell(ev, device)
    inputs = T(np.zeros((300, 2, 1)), device)
    h0 = np.random.default_rng(1).standard_normal((2, 4))
    spectrum = dyn.lyapunov_spectrum(cell, inputs, h0=h0, discard=30)
    np.testing.assert_allclose(spectrum, np.log(np.abs(ev)), atol=2e-3)
    # the exponents' sum is the mean log|det J| (exactly, step by step)
    assert spectrum.sum() == pytest.approx(np.log(abs(np.linalg.det(J))), abs=1e-10)
    assert dyn.largest_lyapunov_exponent(cell, inputs, h0=h0, discard=30) == pytest.approx(math.log(1.2), abs=2e-3)
    np.testing.assert_allclose(dyn.lyapunov_spectrum(cell, inputs, h0=h0, k=2, discard=30), spectrum[:2], atol=1e-12)


def _tanh_cell(gain, n=6, seed=0, device=None):
    rng = np.random.default_rng(seed)
    init = {"W_in": rng.standard_normal((2, n)), "W_rec": rng.standard_normal((n, n)) * gain / np.sqrt(n),
            "b": 0.1 * rng.standard_normal(n)}
    return rnn.RNNCell(2, n, activation="tanh", init=init, device=device)


def test_sum_of_exponents_is_mean_log_det_of_a_tanh_rnn(device):
    cell = _tanh_cell(2.0, device=device)
    x = np.random.default_rng(2).standard_normal((120, 3, 2)) * 0.5
    result = dyn.lyapunov_run(cell, T(x, device), discard=10)
    # the Jacobians by hand: J_t = diag(1 - h_t²) W_recᵀ, h_t from NumPy
    W, W_in, b = cell.W_rec.numpy(), cell.W_in.numpy(), cell.b.numpy()
    h = np.zeros((3, 6))
    logdet = []
    for t in range(120):
        h = np.tanh(h @ W + x[t] @ W_in + b)
        logdet.append(np.linalg.slogdet((1 - h * h)[:, :, None] * W.T[None])[1])
    logdet = np.array(logdet)                                          # (T, B)
    np.testing.assert_allclose(result.local.sum(-1), logdet, atol=1e-9)      # every step
    np.testing.assert_allclose(result.per_sequence.sum(-1), logdet[10:].mean(0), atol=1e-10)
    windows = result.finite_time(10)
    assert windows.shape == (11, 3, 6)
    np.testing.assert_allclose(windows.mean(0), result.per_sequence, atol=1e-12)   # 110 = 11 x 10
    assert windows[:, :, 0].std() > 0                                 # finite-time exponents fluctuate
    chunked = dyn.lyapunov_run(cell, T(x, device), discard=10, chunk=7)   # the state carried across chunks
    np.testing.assert_allclose(chunked.local, result.local, atol=1e-12)


@pytest.mark.parametrize("gain", [0.8, 3.0])
def test_largest_exponent_agrees_with_a_perturbation_simulation(gain):
    cell = _tanh_cell(gain, n=10, seed=4)
    x = T(np.random.default_rng(5).standard_normal((400, 2, 2)) * 0.3, "cpu")
    qr = dyn.largest_lyapunov_exponent(cell, x, discard=50)
    sim = dyn.perturbation_exponent(cell, x, discard=50)
    assert (qr > 0) == (gain > 1.5)                          # contracting at 0.8, chaotic at 3
    assert qr == pytest.approx(sim, abs=5e-3)


def test_lstm_exponent_against_perturbation():
    cell = rnn.LSTMCell(2, 3, seed=0)
    x = T(np.random.default_rng(6).standard_normal((300, 2, 2)), "cpu")
    spectrum = dyn.lyapunov_spectrum(cell, x, discard=30)
    assert spectrum.shape == (6,) and np.all(np.diff(spectrum) <= 1e-12)   # (h, c): 2N exponents, largest first
    assert spectrum[0] == pytest.approx(dyn.perturbation_exponent(cell, x, discard=30), abs=5e-3)


def test_lyapunov_refuses_bad_requests():
    cell = rnn.RNNCell(2, 3, init="basic_tanh")
    with pytest.raises(ValueError, match=r"k must be in 1..3"):
        dyn.lyapunov_spectrum(cell, np.zeros((5, 1, 2)), k=4)
    with pytest.raises(ValueError, match=r"discard must be in 0..4"):
        dyn.lyapunov_spectrum(cell, np.zeros((5, 1, 2)), discard=5)
    with pytest.raises(ValueError, match=r"inputs must have shape \(T, B, 2\)"):
        dyn.largest_lyapunov_exponent(cell, np.zeros((5, 2)))


# ----------------------------------------------------------------------------- figures and the command
def _png(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_figures_are_written(tmp_path):
    import matplotlib.pyplot as plt
    from viz import dynamics as vd
    rng = np.random.default_rng(0)
    cell = _tanh_cell(1.6, n=5, seed=1)
    found = dyn.find_fixed_points(cell, rng.standard_normal((8, 5)), steps=100)
    traj = rng.standard_normal((12, 3, 5))
    plt.close(vd.fixed_points(found, traj, path=tmp_path / "f.png", slow=1e-3))
    assert _png(tmp_path / "f.png")
    plt.close(vd.lyapunov({"a": ([0.5, 1, 2], [-0.7, -0.1, 0.3])}, {"a": {"init": (1.0, -0.1), "after": (1.2, 0.0)}},
                          {"a: init": [0.1, -0.5]}, gains={"a": 1.0}, path=tmp_path / "l.png"))
    assert _png(tmp_path / "l.png")


def _command(argv):
    from tasks import dynamics as td
    p = argparse.ArgumentParser()
    td.add_arguments(p)
    return td.cmd_dynamics(p.parse_args(argv))


def test_command_draws_all_three(tmp_path, capsys):
    assert _command(["--what", "bifurcation", "--points", "30", "--out", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert _png(tmp_path / "b.png")
    assert "b = -2.6556, -2.3444" in out and "w = 4.8196 (the error cliff)" in out
    assert _command(["--what", "fixed-points", "--init", "basic-tanh", "--hidden", "6", "--starts", "8",
                     "--steps", "100", "--length", "12", "--batch", "2", "--quiet",
                     "--out", str(tmp_path / "f.png")]) == 0
    assert _png(tmp_path / "f.png")
    assert _command(["--what", "lyapunov", "--init", "smart-tanh", "--hidden", "6", "--train-updates", "2",
                     "--radii", "2", "--length", "25", "--batch", "2", "--discard", "5", "--quiet",
                     "--out", str(tmp_path / "l.png")]) == 0
    out = capsys.readouterr().out
    assert _png(tmp_path / "l.png") and "after 2 upd. MSGD-CR" in out and "differ by at most" in out


@pytest.mark.parametrize("argv,message", [
    (["--what", "bifurcation", "--w", "3"], "saddle-node bifurcations only for w > 4"),
    (["--what", "bifurcation", "--out", "x.svg"], "give a name ending in .png"),
    (["--what", "lyapunov", "--checkpoint", "nowhere/checkpoint.npz"], "no such checkpoint"),
    (["--what", "lyapunov", "--length", "20", "--discard", "20"], "leaves nothing of --length 20"),
    (["--what", "fixed-points", "--starts", "0"], "--starts must be at least 1"),
    (["--what", "fixed-points", "--init", "sigmoid", "smart-tanh"], "takes one --init, got 2"),
    (["--what", "lyapunov", "--min-radius", "2", "--max-radius", "1"], "need 0 < --min-radius < --max-radius"),
])
def test_command_refuses_bad_requests_in_one_line(argv, message, tmp_path, monkeypatch):
    from tasks.train import RunError
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError, match=message) as e:
        _command(argv)
    assert "\n" not in str(e.value)
