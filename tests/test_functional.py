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


def test_jacobian_of_empty_output(device):
    J = mg.jacobian(lambda v: v[:0] * 2, T([1.0, 2.0, 3.0], device))
    assert J.shape == (0, 3)


def test_hessian_vector_product(device, rng):
    """f(x) = ½ xᵀAx + sum(tanh x): H v = ½(A + Aᵀ) v - 2 tanh(x)(1 - tanh² x) v, and against
    central differences of the gradient."""
    a, x, v = rng.standard_normal((4, 4)), rng.standard_normal(4), rng.standard_normal(4)
    A = T(a, device)

    def f(z):
        return 0.5 * (z @ (A @ z)) + z.tanh().sum()

    _, hv = mg.hvp(f, T(x, device), T(v, device))
    hv = hv.numpy()
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


# --------------------------------------------------------------------------- materialize_grads
def test_grad_materialize_grads(device):
    x = T([1.0, 2.0], device, True)
    y = T([[5.0, 6.0, 7.0]], device, True, dtype=np.float32)
    out = (x * 3).sum()
    gx, gy = mg.grad(out, [x, y], materialize_grads=True, retain_graph=True)
    np.testing.assert_array_equal(gx.numpy(), [3.0, 3.0])
    assert gy.shape == (1, 3) and gy.dtype == np.float32 and gy.device == y.device
    np.testing.assert_array_equal(gy.numpy(), 0)
    with pytest.raises(ValueError, match="allow_unused"):
        mg.grad(out, [x, y], materialize_grads=True, allow_unused=False)


def test_grad_of_output_without_graph_raises_one_line(device):
    x = T([1.0, 2.0], device, True)
    with mg.no_grad():
        out = (x * 3).sum()
    for options in ({}, {"allow_unused": True}, {"materialize_grads": True}):
        with pytest.raises(RuntimeError, match="output 0 .* does not require grad") as e:
            mg.grad(out, [x], **options)
        assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- hvp
@pytest.mark.parametrize("f", [lambda x: mg.relu(x).sum(), lambda x: (3 * x).sum(),
                               lambda x: (x - 1).abs().sum()], ids=["relu", "scaled", "abs"])
def test_hvp_of_piecewise_linear_function_is_zero(f, device):
    x = T([[-1.0, 0.5, 2.0]], device, dtype=np.float32)
    _, hv = mg.hvp(f, x, T([[1.0, 2.0, 3.0]], device, dtype=np.float32))
    assert hv.shape == (1, 3) and hv.dtype == np.float32 and hv.device == x.device
    np.testing.assert_array_equal(hv.numpy(), 0)


def test_hvp_of_function_independent_of_x_is_zero(device):
    c = T([2.0], device, True)
    _, hv = mg.hvp(lambda x: (c * c).sum(), T([1.0, 2.0], device), T([1.0, 1.0], device))
    np.testing.assert_array_equal(hv.numpy(), [0.0, 0.0])


def test_hvp_of_quadratic_is_A_v(device, rng):
    """f(x) = ½ xᵀAx with A symmetric: H = A; and g(x) = sum(relu(x)²): H = diag(2 [x > 0])."""
    a = rng.standard_normal((4, 4))
    a = a + a.T
    x, v = rng.standard_normal(4), rng.standard_normal(4)
    A = T(a, device)
    _, hv = mg.hvp(lambda z: 0.5 * (z @ (A @ z)), T(x, device), T(v, device))
    np.testing.assert_allclose(hv.numpy(), a @ v, rtol=1e-12)
    _, hv = mg.hvp(lambda z: (mg.relu(z) ** 2).sum(), T(x, device), T(v, device))
    np.testing.assert_allclose(hv.numpy(), 2 * (x > 0) * v, rtol=1e-12)


# --------------------------------------------------------------------------- jacobian, vjp: several inputs and outputs
def _fd_jacobian(f, xs, eps=1e-6):
    """Central differences: J[i][j] = d f(*xs)[i] / d xs[j], from NumPy arrays (f returns a tuple)."""
    xs = [np.array(x, dtype=np.float64) for x in xs]
    n_out = len(f(*xs))
    blocks = [[None] * len(xs) for _ in range(n_out)]
    for j, x in enumerate(xs):
        cols = []
        for k in range(x.size):
            plus, minus = [a.copy() for a in xs], [a.copy() for a in xs]
            plus[j].flat[k] += eps
            minus[j].flat[k] -= eps
            cols.append([(p - m) / (2 * eps) for p, m in zip(f(*plus), f(*minus))])
        for i in range(n_out):
            col = np.stack([c[i] for c in cols], axis=-1)
            blocks[i][j] = col.reshape(col.shape[:-1] + x.shape)
    return blocks


def test_jacobian_of_elementwise_tanh_is_diagonal(device, rng):
    """d tanh(x)[a,b] / d x[c,d] = (1 - tanh² x[a,b]) δ_ac δ_bd."""
    x = rng.standard_normal((2, 3))
    J = mg.jacobian(lambda v: v.tanh(), T(x, device))
    assert J.shape == (2, 3, 2, 3)
    expected = np.diag((1 - np.tanh(x) ** 2).ravel()).reshape(2, 3, 2, 3)
    np.testing.assert_allclose(J.numpy(), expected, rtol=1e-12)


def _matmul_jacobians(x, w):
    """y = x @ w: dy[i,k]/dx[a,b] = δ_ia w[b,k] and dy[i,k]/dw[b,c] = x[i,b] δ_kc, written out."""
    (n, d), m = x.shape, w.shape[1]
    jx, jw = np.zeros((n, m, n, d)), np.zeros((n, m, d, m))
    for i in range(n):
        for k in range(m):
            jx[i, k, i, :] = w[:, k]
            jw[i, k, :, k] = x[i, :]
    return jx, jw


@pytest.mark.parametrize("chunk", [None, 1, 3])
def test_jacobian_of_matmul_wrt_both_inputs(chunk, device, rng):
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    J = mg.jacobian(lambda a, b: a @ b, (T(x, device), T(w, device)), chunk=chunk)
    assert isinstance(J, tuple) and len(J) == 2
    jx, jw = _matmul_jacobians(x, w)
    assert J[0].shape == (2, 4, 2, 3) and J[1].shape == (2, 4, 3, 4)
    np.testing.assert_allclose(J[0].numpy(), jx, rtol=1e-12)
    np.testing.assert_allclose(J[1].numpy(), jw, rtol=1e-12)
    (Jx,) = mg.jacobian(lambda a: a @ T(w, device), (T(x, device),))     # a 1-tuple stays a tuple
    np.testing.assert_allclose(Jx.numpy(), jx, rtol=1e-12)


@pytest.mark.parametrize("chunk", [None, 2])
def test_jacobian_nesting_for_tuple_outputs(chunk, device, rng):
    """Tuple out, tuple in: J[i][j] = d out_i / d x_j; a block is zero where out_i ignores x_j."""
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    X, W = T(x, device), T(w, device)
    (J00, J01), (J10, J11) = mg.jacobian(lambda a, b: (a @ b, a.tanh()), (X, W), chunk=chunk)
    jx, jw = _matmul_jacobians(x, w)
    np.testing.assert_allclose(J00.numpy(), jx, rtol=1e-12)
    np.testing.assert_allclose(J01.numpy(), jw, rtol=1e-12)
    np.testing.assert_allclose(J10.numpy(), np.diag((1 - np.tanh(x) ** 2).ravel()).reshape(2, 3, 2, 3),
                               rtol=1e-12)
    assert J11.shape == (2, 3, 3, 4)
    np.testing.assert_array_equal(J11.numpy(), 0)
    # Tensor in, tuple out: a tuple over the outputs
    J0, J1 = mg.jacobian(lambda a: (a @ W, (a * a).sum()), X, chunk=chunk)
    np.testing.assert_allclose(J0.numpy(), jx, rtol=1e-12)
    assert J1.shape == (2, 3)
    np.testing.assert_allclose(J1.numpy(), 2 * x, rtol=1e-12)


def test_jacobian_against_central_differences(device, rng):
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((3, 2))

    def f_np(a, b):
        return np.tanh(a @ b) * (b * b).sum(), np.exp(a).sum(0)

    def f(a, b):
        return (a @ b).tanh() * (b * b).sum(), a.exp().sum(0)

    J = mg.jacobian(f, (T(a, device), T(b, device)))
    fd = _fd_jacobian(f_np, [a, b])
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(J[i][j].numpy(), fd[i][j], rtol=1e-6, atol=1e-8)


def test_jacobian_unused_inputs_get_zero_blocks(device):
    x, y = T([1.0, 2.0], device), T([[3.0]], device, dtype=np.float32)
    Jx, Jy = mg.jacobian(lambda a, b: a * 2, (x, y))
    np.testing.assert_array_equal(Jx.numpy(), 2 * np.eye(2))
    assert Jy.shape == (2, 1, 1) and Jy.dtype == np.float32
    np.testing.assert_array_equal(Jy.numpy(), 0)
    c = T([5.0, 6.0, 7.0], device)
    J = mg.jacobian(lambda a: c * 2, x)                 # the output depends on no input at all
    assert J.shape == (3, 2)
    np.testing.assert_array_equal(J.numpy(), 0)


def test_jacobian_keeps_dtype(device, rng):
    x = rng.standard_normal(3)
    J = mg.jacobian(lambda v: v.tanh(), T(x, device, dtype=np.float32), chunk=2)
    assert J.dtype == np.float32
    np.testing.assert_allclose(J.numpy(), np.diag(1 - np.tanh(x) ** 2), rtol=1e-5)


def test_vjp_with_several_inputs_and_outputs(device, rng):
    """(y1, y2) = (x @ W, tanh x): x̄ = ȳ1 Wᵀ + ȳ2 (1 - tanh² x), W̄ = xᵀ ȳ1."""
    x, w = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
    u1, u2 = rng.standard_normal((2, 4)), rng.standard_normal((2, 3))
    (y1, y2), pullback = mg.vjp(lambda a, b: (a @ b, a.tanh()), T(x, device), T(w, device))
    np.testing.assert_allclose(y1.numpy(), x @ w, rtol=1e-12)
    assert not y1.requires_grad and not y2.requires_grad
    gx, gw = pullback((T(u1, device), T(u2, device)))
    np.testing.assert_allclose(gx.numpy(), u1 @ w.T + u2 * (1 - np.tanh(x) ** 2), rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), x.T @ u1, rtol=1e-12)
    with pytest.raises(ValueError, match="2 outputs"):
        pullback((T(u1, device),))
    # an unused input gets zeros, and an output without a graph contributes nothing
    c = T([1.0], device)
    (_, _), pullback = mg.vjp(lambda a, b: (a * 2, c * 3), T([1.0, 2.0], device), T([4.0], device))
    ga, gb = pullback((T([1.0, 1.0], device), T([1.0], device)))
    np.testing.assert_array_equal(ga.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(gb.numpy(), [0.0])


# --------------------------------------------------------------------------- f returning a non-Tensor
@pytest.mark.parametrize("result, name", [(1.0, "float"), (np.float64(1.0), "float64"),
                                          ([1.0], "list"), ((None,), "NoneType")],
                         ids=["float", "numpy-float", "list", "tuple-of-None"])
@pytest.mark.parametrize("which", ["jacobian", "vjp", "hvp"])
def test_f_returning_a_non_tensor_is_a_clear_type_error(which, result, name, device):
    x = T([1.0, 2.0], device)
    call = {"jacobian": lambda f: mg.jacobian(f, x), "vjp": lambda f: mg.vjp(f, x),
            "hvp": lambda f: mg.hvp(f, x, x)}[which]
    with pytest.raises(TypeError, match=f"{which}: f returned .*{name}.*a Tensor or a tuple of Tensors") as e:
        call(lambda v: result)
    assert "\n" not in str(e.value)
