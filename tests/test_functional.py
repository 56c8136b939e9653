"""grad, vjp, jacobian and Hessian-vector products, against closed forms and differences."""
import numpy as np
import pytest

import minigrad as mg
from conftest import T


def test_grad_returns_without_accumulating(device):
    x = T([1.0, 2.0], device, True)
    (g,) = mg.grad((x * x).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert x.grad is None


def test_grad_with_respect_to_intermediate_states(device, rng):
    """dE/dh_k for the hidden states of a small linear recurrence, against the closed form
    dE/dh_k = (W^T)^(n-k) dE/dh_n."""
    w = rng.standard_normal((3, 3)) * 0.5
    W = T(w, device, True)
    h = T(rng.standard_normal((1, 3)), device)
    hs = []
    for _ in range(4):
        h = h @ W
        hs.append(h)
    c = rng.standard_normal((1, 3))
    E = (h * T(c, device)).sum()
    grads = mg.grad(E, hs)
    for k, g in enumerate(grads):
        expected = c @ np.linalg.matrix_power(w.T, 3 - k)
        np.testing.assert_allclose(g.numpy(), expected, rtol=1e-10)


def test_grad_outputs_and_unused(device):
    x, y = T([1.0, 2.0], device, True), T([5.0], device, True)
    out = x * 3
    (g,) = mg.grad(out, [x], grad_outputs=[T([1.0, -1.0], device)], retain_graph=True)
    np.testing.assert_array_equal(g.numpy(), [3.0, -3.0])
    with pytest.raises(RuntimeError, match="not used"):
        mg.grad(out.sum(), [x, y], retain_graph=True)
    gx, gy = mg.grad(out.sum(), [x, y], allow_unused=True)
    assert gy is None and gx is not None


def test_vjp(device, rng):
    a = rng.standard_normal((2, 3))
    out, pullback = mg.vjp(lambda x: x.tanh() * 2, T(a, device))
    u = rng.standard_normal((2, 3))
    (g,) = pullback(T(u, device))
    np.testing.assert_allclose(out.numpy(), 2 * np.tanh(a))
    np.testing.assert_allclose(g.numpy(), u * 2 * (1 - np.tanh(a) ** 2), rtol=1e-12)


@pytest.mark.parametrize("chunk", [None, 1, 2, 5])
def test_jacobian_closed_form(chunk, device, rng):
    """J of tanh(W x) is diag(1 - y²) W."""
    w, x = rng.standard_normal((4, 3)), rng.standard_normal(3)
    W = T(w, device)
    J = mg.jacobian(lambda v: (W @ v).tanh(), T(x, device), chunk=chunk)
    y = np.tanh(w @ x)
    assert J.shape == (4, 3)
    np.testing.assert_allclose(J.numpy(), (1 - y ** 2)[:, None] * w, rtol=1e-12)


def test_jacobian_shape_for_tensors(device, rng):
    x = rng.standard_normal((2, 3))
    J = mg.jacobian(lambda v: v.sum(0) * 2, T(x, device))
    assert J.shape == (3, 2, 3)
    expected = np.zeros((3, 2, 3))
    for j in range(3):
        expected[j, :, j] = 2
    np.testing.assert_array_equal(J.numpy(), expected)


def test_jacobian_rejects_bad_chunk(device):
    with pytest.raises(ValueError, match="chunk"):
        mg.jacobian(lambda v: v * 2, T([1.0], device), chunk=0)


def test_hessian_vector_product(device, rng):
    """f(x) = ½ xᵀAx + sum(tanh x): H v = ½(A + Aᵀ) v - 2 tanh(x)(1 - tanh² x) v, and against
    central differences of the gradient."""
    a, x, v = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    A = T(a, device)

    def f(z):
        return 0.5 * (z @ (A @ z)) + z.tanh().sum()

    hv = mg.hvp(f, T(x, device), T(v, device)).numpy()
    t = np.tanh(x)
    np.testing.assert_allclose(hv, 0.5 * (a + a.T) @ v - 2 * t * (1 - t * t) * v, rtol=1e-10)

    def gradient(z):
        zz = T(z, device, True)
        (g,) = mg.grad(f(zz), [zz])
        return g.numpy()

    eps = 1e-6
    fd = (gradient(x + eps * v) - gradient(x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-8)


def test_immediate_gradient_holds_intermediates_constant(device, rng):
    """h = tanh(p @ W): the immediate VJP wrt p is (g (1 - h²)) Wᵀ with h constant, so its
    derivative wrt W is the explicit term only: d/dW sum(u * ((g (1-h²)) Wᵀ)) = uᵀ (g (1-h²))."""
    p, w, g, u = (rng.standard_normal(s) for s in ((2, 3), (3, 3), (2, 3), (2, 3)))
    P, W = T(p, device, True), T(w, device, True)
    h = (P @ W).tanh()
    (a,) = mg.grad(h, [P], grad_outputs=[T(g, device)], create_graph=True, immediate=True)
    G = g * (1 - np.tanh(p @ w) ** 2)
    np.testing.assert_allclose(a.numpy(), G @ w.T, rtol=1e-12)
    (dW,) = mg.grad((a * T(u, device)).sum(), [W])
    np.testing.assert_allclose(dW.numpy(), u.T @ G, rtol=1e-12)
    # the full (not immediate) second derivative differs: it also follows h's dependence on W
    h = (P @ W).tanh()
    (a,) = mg.grad(h, [P], grad_outputs=[T(g, device)], create_graph=True)
    (dW_full,) = mg.grad((a * T(u, device)).sum(), [W])
    assert not np.allclose(dW_full.numpy(), u.T @ G)
