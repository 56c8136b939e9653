"""Session 14: rnn.dynamics and rnn.esn against values computed here in plain Python/NumPy --
the Mackey-Glass series against a fine independent integration of the delay equation, the nine
fixed points of h -> tanh(h diag(2, 2)) and their Jacobian eigenvalues in closed form, the
one-unit model's folds against a grid-and-bisection root count, and the Lyapunov spectrum of a
tanh network against a QR iteration written here."""
import math

import numpy as np
import pytest

import rnn
from rnn import dynamics as dyn
from rnn.esn import mackey_glass


def _mackey_glass_reference(n, dt=0.005, tau=17.0, seed=0):
    """dx/dt = 0.2 x(t-17) / (1 + x(t-17)^10) - 0.1 x(t) from the constant history the generator
    documents (1.2 + 0.1 N(0, 1), ``seed``), RK4 with a step 20 times finer than the generator's,
    samples 1 time unit apart starting 100 time units after the history."""
    x0 = 1.2 + 0.1 * np.random.default_rng(seed).standard_normal()

    def f(x, d):
        return 0.2 * d / (1 + d ** 10) - 0.1 * x

    lag, steps, every = round(tau / dt), round((100 + n) / dt), round(1 / dt)
    xs = [x0] * (lag + 1)
    for i in range(lag, lag + steps):
        d0, d1 = xs[i - lag], xs[i - lag + 1]
        dm, x = 0.5 * (d0 + d1), xs[i]
        k1 = f(x, d0)
        k2 = f(x + dt / 2 * k1, dm)
        k3 = f(x + dt / 2 * k2, dm)
        k4 = f(x + dt * k3, d1)
        xs.append(x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4))
    start = lag + round(100 / dt)
    return np.array(xs[start:start + n * every:every])


def test_mackey_glass_follows_the_delay_equation():
    # The old Euler steps of dt = 0.1 were 0.025 off within 50 samples and 0.05 within 200.
    n = 200
    ref = _mackey_glass_reference(n)
    got = mackey_glass(n)
    assert got.shape == (n,)
    assert np.abs(got - ref).max() < 2e-3, np.abs(got - ref).max()
    assert 0.3 < got.min() and got.max() < 1.4                     # the tau = 17 attractor's range


@pytest.mark.parametrize("kwargs, message", [
    (dict(n=10, tau=0.01), "tau must be at least one step"),
    (dict(n=10, dt=0.0), "dt must be a positive number"),
    (dict(n=10, subsample=0), "subsample a positive integer"),
    (dict(n=0), "n must be a positive integer"),
])
def test_mackey_glass_refuses_bad_arguments(kwargs, message):
    # tau / dt rounding to 0 steps read x[i + 1] before it was written (RK4's d_1)
    with pytest.raises(ValueError, match=message):
        mackey_glass(**kwargs)


def test_nine_fixed_points_of_tanh_2h_and_their_eigenvalues():
    r = 1.0                                                          # the root of x = tanh(2x) in (0, 1]
    lo, hi = 0.5, 1.0
    for _ in range(100):
        r = 0.5 * (lo + hi)
        lo, hi = (r, hi) if math.tanh(2 * r) > r else (lo, r)
    cell = rnn.RNNCell(1, 2, activation="tanh", dtype="float64",
                       init={"W_in": np.zeros((1, 2)), "W_rec": 2 * np.eye(2), "b": np.zeros(2)})
    g = np.linspace(-1.5, 1.5, 7)
    found = dyn.find_fixed_points(cell, np.array([[a, c] for a in g for c in g]), steps=500)
    expected = {(i * r, j * r) for i in (-1, 0, 1) for j in (-1, 0, 1)}
    assert len(found.points) == 9 and found.fixed.all()
    for p, eig, stable in zip(found.points, found.eigenvalues, found.stable):
        k = min(expected, key=lambda q: math.hypot(q[0] - p[0], q[1] - p[1]))
        assert math.hypot(k[0] - p[0], k[1] - p[1]) < 1e-10
        own = sorted((2 * (1 - math.tanh(2 * v) ** 2) for v in k), reverse=True)   # J = diag(2 (1 - h*²))
        np.testing.assert_allclose(eig, own, atol=1e-10)
        assert stable == (max(own) < 1)
    assert found.stable.sum() == 4                                   # the four corners


def _roots(w, b, n=20001):
    """Fixed points of w σ(x) + b by a dense grid of sign changes, each bisected."""
    sig = lambda x: 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
    g = lambda x: w * sig(x) + b - x
    lo, hi = min(b, b + w) - 1, max(b, b + w) + 1
    xs = [lo + (hi - lo) * i / (n - 1) for i in range(n)]
    out = []
    for a, z in zip(xs[:-1], xs[1:]):
        ga = g(a)
        if ga * g(z) < 0:
            for _ in range(100):
                m = 0.5 * (a + z)
                a, ga, z = (m, g(m), z) if (g(m) < 0) == (ga < 0) else (a, ga, m)
            out.append(0.5 * (a + z))
    return out


@pytest.mark.parametrize("b", [-2.5, -3.0, -5.0])
def test_folds_in_w_are_where_the_number_of_fixed_points_changes(b):
    folds = dyn.one_unit_folds_in_w(b)
    assert folds.shape == (2, 2)
    for w, x in folds:
        s = 1 / (1 + math.exp(-x))
        assert abs(w * s * (1 - s) - 1) < 1e-9 and abs(w * s + b - x) < 1e-9   # tangency
    (w1, _), (w2, _) = folds
    assert [len(_roots(w, b)) for w in (w1 - 1e-3, w1 + 1e-3, w2 - 1e-3, w2 + 1e-3)] == [1, 3, 3, 1]


def test_lyapunov_spectrum_of_a_tanh_network_against_a_qr_iteration_written_here():
    rng = np.random.default_rng(1)
    N, T, discard = 5, 1500, 100
    W = rng.standard_normal((N, N)) * 2.5 / np.sqrt(N)
    cell = rnn.RNNCell(1, N, activation="tanh", dtype="float64",
                       init={"W_in": np.zeros((1, N)), "W_rec": W, "b": np.zeros(N)})
    h0 = 0.5 * rng.standard_normal(N)
    got = dyn.lyapunov_spectrum(cell, np.zeros((T, 1, 1)), h0=h0[None], discard=discard)
    Q, total, h = np.linalg.qr(rng.standard_normal((N, N)))[0], np.zeros(N), h0
    for t in range(T):
        h = np.tanh(h @ W)
        Q, R = np.linalg.qr(((1 - h ** 2)[:, None] * W.T) @ Q)      # column Jacobian diag(φ') W_recᵀ
        if t >= discard:
            total += np.log(np.abs(np.diag(R)))
    own = total / (T - discard)                                      # natural log, per step
    # largest first -- up to the finite-time spread of a complex pair, whose two means cross
    assert np.all(np.diff(got) <= 1e-2)
    np.testing.assert_allclose(got.sum(), own.sum(), atol=1e-9)      # the sum does not depend on Q_0
    np.testing.assert_allclose(got, own, atol=5e-3)


def test_nrmse_refuses_a_constant_target_and_mismatched_lengths():
    from rnn.esn import nrmse
    assert nrmse([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 0.0
    assert nrmse([2.0, 2.0], [1.0, 3.0]) == pytest.approx(1.0)        # the mean: NRMSE 1 by definition
    with pytest.raises(ValueError, match="target is constant"):
        nrmse([1.0, 2.0], [5.0, 5.0])
    with pytest.raises(ValueError, match="same number of values"):
        nrmse([1.0, 2.0, 3.0], [1.0, 2.0])
