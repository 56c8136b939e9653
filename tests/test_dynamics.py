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


# ----------------------------------------------------------------------------- review: defects found and fixed
def test_largest_exponent_of_a_map_that_keeps_coordinate_axes(device):
    """A diagonal Jacobian never turns e_1 towards the fastest axis: with Q_0 = I the "largest"
    exponent was e_1's own rate (log 0.9 here, not log 1.5) and the spectrum came out unsorted."""
    d = np.array([0.9, 1.5, 0.3])
    cell = rnn.RNNCell(1, 3, activation="linear", init={"W_in": np.zeros((1, 3)), "W_rec": np.diag(d)},
                       device=device)
    x, h0 = np.zeros((200, 2, 1)), np.ones((2, 3))
    assert dyn.largest_lyapunov_exponent(cell, x, h0=h0, discard=100) == pytest.approx(math.log(1.5), abs=1e-6)
    np.testing.assert_allclose(dyn.lyapunov_spectrum(cell, x, h0=h0, discard=100), np.log([1.5, 0.9, 0.3]),
                               atol=1e-6)
    # the identity-initialized ReLU network (IRNN): W_rec = I, a unit shut off makes J = diag(0, 1, 1);
    # λ_1 = 0 (the open units carry perturbations unchanged), not log 0 = -inf from the shut unit
    irnn = rnn.RNNCell(1, 3, activation="relu", init={"W_in": np.array([[-1.0, 0.5, 0.25]]), "W_rec": np.eye(3)},
                       device=device)
    ones = np.ones((30, 1, 1))
    assert dyn.largest_lyapunov_exponent(irnn, ones, discard=5) == pytest.approx(0.0, abs=1e-12)
    assert dyn.perturbation_exponent(irnn, ones, discard=5) == pytest.approx(0.0, abs=1e-7)


def test_rotation_scaling_and_the_one_unit_tanh_map(device):
    """Closed forms: a rotation by θ scaled by r has both exponents log r; the map x -> tanh(a x)
    (a < 1) has its only fixed point at 0, with exponent log a."""
    r, th = 0.7, 0.9
    W = r * np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    cell = rnn.RNNCell(1, 2, activation="linear", init={"W_in": np.zeros((1, 2)), "W_rec": W.T}, device=device)
    np.testing.assert_allclose(dyn.lyapunov_spectrum(cell, np.zeros((50, 1, 1)), h0=np.ones((1, 2))),
                               [math.log(r)] * 2, atol=1e-12)
    for a in (0.5, 0.9):
        cell = rnn.RNNCell(1, 1, activation="tanh", init={"W_in": np.zeros((1, 1)), "W_rec": np.array([[a]])},
                           device=device)
        x, h0 = np.zeros((400, 1, 1)), np.array([[0.3]])
        assert dyn.largest_lyapunov_exponent(cell, x, h0=h0, discard=200) == pytest.approx(math.log(a), abs=1e-9)


def test_perturbation_check_in_float32():
    """eps = 1e-7 was below a float32 state's rounding: the two trajectories coincided and the
    check returned -inf.  Its default now follows the dtype."""
    rng = np.random.default_rng(0)
    n = 10
    init = {"W_in": rng.standard_normal((2, n)), "W_rec": rng.standard_normal((n, n)) * 0.8 / np.sqrt(n)}
    cell = rnn.RNNCell(2, n, init=init, dtype="float32")
    x = rng.standard_normal((300, 2, 2)) * 0.3
    qr = dyn.largest_lyapunov_exponent(cell, x, discard=50)
    sim = dyn.perturbation_exponent(cell, x, discard=50)
    assert math.isfinite(sim) and sim == pytest.approx(qr, abs=5e-3)
    with pytest.raises(ValueError, match="eps must be a positive distance"):
        dyn.perturbation_exponent(cell, x, eps=0.0)


def test_inputs_and_start_states_are_taken_as_the_cell_takes_them(device):
    import minigrad as mg
    cell = _tanh_cell(1.2, n=4, seed=2, device=device)
    x = np.random.default_rng(1).standard_normal((40, 3, 2))
    expected = dyn.largest_lyapunov_exponent(cell, x, discard=5)
    # a float32 tensor for a float64 cell was an engine dtype error; arrays were converted
    assert dyn.largest_lyapunov_exponent(cell, T(x, device, dtype=np.float32), discard=5) == pytest.approx(
        expected, abs=1e-5)
    for bad in (np.zeros((2, 4)), np.zeros(4), np.zeros((3, 5))):
        with pytest.raises(ValueError, match=r"h0 must be a \(3, 4\) array of states"):
            dyn.largest_lyapunov_exponent(cell, x, h0=bad)
    # an LSTM's start state as a flat (B, 2N) array or as the (h, c) pair: the same run
    lstm = rnn.LSTMCell(2, 3, seed=0, dtype="float64", device=device)
    h0 = np.random.default_rng(2).standard_normal((3, 6)) * 0.5
    flat = dyn.lyapunov_run(lstm, x, h0=h0).local
    pair = dyn.lyapunov_run(lstm, x, h0=(mg.tensor(h0[:, :3], device=device), h0[:, 3:])).local
    np.testing.assert_array_equal(flat, pair)
    with pytest.raises(ValueError, match=r"h0 must be a \(3, 6\) array of states .*h and c side by side"):
        dyn.lyapunov_run(lstm, x, h0=np.zeros((3, 3)))


@pytest.mark.parametrize("w", [4.5, 5.0, 6.0, 8.0, 20.0])
def test_one_unit_map_at_its_saddle_nodes_has_two_fixed_points(w):
    """At the saddle-node b the tangent double root is one point: rounding had split it into two
    points 1e-8 apart (three in all) or lost it (one in all)."""
    for fb, fx in dyn.one_unit_saddle_nodes(w):
        for b in (fb, np.nextafter(fb, 0.0), np.nextafter(fb, -np.inf)):
            found = dyn.one_unit_fixed_points(w, b)
            assert len(found) == 2, (w, b, found)
            assert np.min(np.abs(found - fx)) < 1e-9                    # the tangency at x_c
            np.testing.assert_allclose(w * _sigma(found) + b, found, atol=1e-12)
    # a hair inside the bistable range: three distinct points, found as such
    (b1, _), (b2, _) = dyn.one_unit_saddle_nodes(w)
    assert len(dyn.one_unit_fixed_points(w, b1 + 1e-6 * (b2 - b1))) == 3


def test_basin_boundary_exists_only_where_the_point_through_x0_is_unstable():
    b = -2.5
    w = dyn.one_unit_basin_boundary_w(0.5, b)
    assert w == pytest.approx(4.8196, abs=1e-4)
    # x0 = 3: the fixed point through it (w = 5.77, past the second fold) is stable; x0 = -3 < b
    # would need w < 0: no boundary crosses x0 (was 5.7738 and -10.5428, "the error cliff").  By
    # brute force the end state from x0 jumps once, at a saddle-node: x0 = 3 where the high
    # attractor is born (w = 4.782), x0 = -3 where the low one dies (w = 5.616)
    ws = np.linspace(3.0, 8.0, 5001)
    for x0, fold in ((3.0, 0), (-3.0, 1)):
        assert math.isnan(dyn.one_unit_basin_boundary_w(x0, b))
        steps = np.abs(np.diff(dyn.one_unit_attractor(x0, ws, b, steps=3000)))
        jump = np.argmax(steps)
        assert steps[jump] > 2 and np.sort(steps)[-2] < 0.1                       # one jump
        assert ws[jump] - 1e-3 <= dyn.one_unit_folds_in_w(b)[fold, 0] <= ws[jump + 1] + 1e-3
    ends = dyn.one_unit_attractor(0.5, ws, b, steps=3000)          # x0 = 0.5: at the boundary crossing
    jump = np.argmax(np.abs(np.diff(ends)))
    assert ws[jump] - 1e-3 <= w <= ws[jump + 1] + 1e-3


@pytest.mark.parametrize("argv,message", [
    (["--w", "nan"], "--w must be a finite number, got nan"),
    (["--w", "inf"], "--w must be a finite number, got inf"),
    (["--cliff-b", "nan"], "--cliff-b must be a finite number"),
    (["--cliff-x0=-inf"], "--cliff-x0 must be a finite number"),
    (["--points", "100000"], r"--points must be in 10..2000"),
])
def test_bifurcation_refuses_non_finite_numbers(argv, message, tmp_path, monkeypatch):
    from tasks.train import RunError
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError, match=message) as e:
        _command(["--what", "bifurcation"] + argv)
    assert "\n" not in str(e.value) and not (tmp_path / "bifurcation.png").exists()


def test_bifurcation_without_a_cliff_and_away_from_the_paper_s_ranges(tmp_path, capsys):
    import matplotlib.pyplot as plt
    from viz import dynamics as vd
    assert _command(["--what", "bifurcation", "--points", "20", "--cliff-x0", "3",
                     "--out", str(tmp_path / "b.png")]) == 0
    out = capsys.readouterr().out
    assert "no basin boundary crosses x0 = 3" in out and "(the error cliff)" not in out
    assert "jumps only at the saddle-node w = 4.7818" in out
    # w = 8, cliff b = -6: the saddle-nodes (b = -5.066, -2.934; w = 9.081) lay outside the fixed ranges
    fig = vd.bifurcation(w=8.0, cliff_b=-6.0, points=20)
    (b1, _), (b2, _) = dyn.one_unit_saddle_nodes(8.0)
    lo, hi = fig.axes[0].get_xlim()
    assert lo < b1 < b2 < hi
    lo, hi = fig.axes[2].get_xlim()
    assert lo < dyn.one_unit_folds_in_w(-6.0)[0, 0] < fig.numbers["cliff_w"] < hi
    plt.close(fig)


def test_newton_polish_survives_a_line_of_fixed_points():
    """J - I singular for every start (an eigenvalue 1: a line of fixed points h = (t, 0)): the
    Newton steps stopped for all; least squares lands each start on the line."""
    cell = rnn.RNNCell(1, 2, activation="linear", init={"W_in": np.zeros((1, 2)), "W_rec": np.diag([1.0, 0.5])})
    starts = np.random.default_rng(0).standard_normal((4, 2))
    found = dyn.find_fixed_points(cell, starts, steps=20, merge=1e-9)
    assert np.all(found.final_q < 1e-20)
    np.testing.assert_allclose(found.finals[:, 1], 0.0, atol=1e-10)


def test_checkpoints_of_another_device_and_a_gated_cell(tmp_path, monkeypatch, capsys):
    """A checkpoint trained on the strict device, read without --device: the network stayed
    there but the driving inputs were made on the CPU ("inputs live on different devices")."""
    from tasks.runfiles import RunFiles
    from tasks.train import RunError, TrainConfig, Trainer
    monkeypatch.setattr(RunFiles, "plot", lambda self, force=False: None)
    paths = {}
    for cell in ("rnn", "lstm"):
        c = TrainConfig.for_task("addition", cell=cell, hidden=3, length=10, max_updates=4, eval_every=2,
                                 eval_size=20, eval_batch=20, check_every=0, device="strict", dtype="float32",
                                 diagnostics=False, trace=False)
        Trainer(c).train(out=tmp_path / cell, progress=False)
        paths[cell] = str(tmp_path / cell / "checkpoint.npz")
    for cell in ("rnn", "lstm"):
        assert _command(["--what", "fixed-points", "--checkpoint", paths[cell], "--starts", "4", "--steps", "20",
                         "--length", "12", "--batch", "2", "--quiet", "--out", str(tmp_path / f"f{cell}.png")]) == 0
        assert _png(tmp_path / f"f{cell}.png")
    assert "1 fixed points" in capsys.readouterr().out
    # a run's snapshots are one network over training (they all sat in "snapshots": one row was kept)
    snapshots = sorted(str(p) for p in (tmp_path / "rnn" / "snapshots").glob("*.npz"))
    assert len(snapshots) == 2
    assert _command(["--what", "lyapunov", "--checkpoint", *snapshots, paths["rnn"], "--radii", "2", "--length", "12",
                     "--batch", "2", "--discard", "2", "--quiet", "--out", str(tmp_path / "l.png")]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines() if line.startswith("rnn ")]
    assert [r[:3] for r in rows] == [["rnn", "update", "2"], ["rnn", "update", "4"]]
    with pytest.raises(RunError, match="a lstm cell has no W_rec") as e:
        _command(["--what", "lyapunov", "--checkpoint", paths["lstm"], "--quiet", "--out", str(tmp_path / "m.png")])
    assert "\n" not in str(e.value)


def test_the_one_unit_model_as_an_rnn_cell_and_its_picture(tmp_path, device):
    """h_t = σ(x_t) turns x_t = w σ(x_{t-1}) + b into the one-unit sigmoid cell
    h_t = σ(w h_{t-1} + b): the fixed-point search finds h* = σ(x*) for each root of the
    one-unit map, with the Jacobian eigenvalue w σ'(x*) (its multiplier).  The picture of a
    one-dimensional state space used to fail (a second principal component was indexed)."""
    import matplotlib.pyplot as plt
    from viz import dynamics as vd
    w, b = 5.0, -2.5
    cell = rnn.RNNCell(1, 1, activation="sigmoid", init={"W_in": np.zeros((1, 1)), "W_rec": np.array([[w]]),
                                                         "b": np.array([b])}, device=device)
    found = dyn.find_fixed_points(cell, np.linspace(0.01, 0.99, 12)[:, None], steps=200)
    xs = dyn.one_unit_fixed_points(w, b)
    order = np.argsort(found.points[:, 0])
    np.testing.assert_allclose(found.points[order, 0], _sigma(xs), atol=1e-12)
    np.testing.assert_allclose(found.eigenvalues[order, 0].real, w * _sigma(xs) * (1 - _sigma(xs)), atol=1e-12)
    assert list(found.stable[order]) == [True, False, True] and found.fixed.all()
    traj = np.random.default_rng(0).uniform(0, 1, (10, 3, 1))
    plt.close(vd.fixed_points(found, traj, path=tmp_path / "f.png"))
    assert _png(tmp_path / "f.png")


def test_polish_converges_from_far_starts(device):
    """F(h) = tanh(a h + c), a = 0.9636 < 1: a contraction, one fixed point (found here by
    iterating F).  Undamped Newton steps stalled for the 4 negative starts (q stuck near 5e-4,
    with 20 or 200 steps); the damped steps take every start there."""
    a, c = 0.96363616, 0.02944175
    cell = rnn.RNNCell(1, 1, activation="tanh", init={"W_in": np.zeros((1, 1)), "W_rec": np.array([[a]]),
                                                      "b": np.array([c])}, device=device)
    h = 0.0
    for _ in range(5000):
        h = math.tanh(a * h + c)
    starts = np.array([[-3.1], [-2.2], [-1.7], [-0.4], [0.9], [1.6], [2.4], [3.3]])
    found = dyn.find_fixed_points(cell, starts, steps=0)
    assert np.all(found.final_q < 1e-20)
    np.testing.assert_allclose(found.finals[:, 0], h, atol=1e-12)
    assert len(found.points) == 1 and found.counts[0] == 8 and found.stable[0]
    assert found.eigenvalues[0, 0].real == pytest.approx(a * (1 - h * h), abs=1e-12)
