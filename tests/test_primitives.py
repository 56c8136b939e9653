"""Every primitive: first and second derivatives against central finite differences (float64)
over hypothesis-drawn shapes, broadcasting included, with a non-uniform upstream gradient
(gradcheck draws one), plus independent closed forms where a textbook gives one."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from conftest import T

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
nonscalar = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
seeds = st.integers(0, 2**31 - 1)


def values(seed, shape, kind="any"):
    """Test points away from the places where a derivative does not exist (kinks, ties, poles)."""
    r = np.random.default_rng(seed)
    x = r.uniform(0.3, 1.5, shape) * r.choice([-1.0, 1.0], shape)
    if kind == "positive":
        x = np.abs(x)
    return x


def check(f, arrays, device, orders=(1, 2)):
    xs = [T(a, device, requires_grad=True) for a in arrays]
    for order in orders:
        assert mg.gradcheck(f, xs, order=order)


# ----------------------------------------------------------------------------- unary
UNARY = {
    "neg": (lambda x: -x, "any"),
    "exp": (mg.exp, "any"),
    "log": (mg.log, "positive"),
    "tanh": (mg.tanh, "any"),
    "sigmoid": (mg.sigmoid, "any"),
    "relu": (mg.relu, "any"),
    "abs": (mg.abs, "any"),
    "clip": (lambda x: mg.clip(x, -0.9, 0.8), "any"),
    "pow_scalar": (lambda x: x ** 3, "any"),
    "rpow": (lambda x: 2.0 ** x, "any"),
    "sqrt_via_pow": (lambda x: x ** 0.5, "positive"),
    "astype_roundtrip": (lambda x: x.astype(np.float64) * 2, "any"),
}


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary(name, shape, seed, device):
    f, kind = UNARY[name]
    check(f, [values(seed, shape, kind)], device)


# ----------------------------------------------------------------------------- binary, broadcasting
BINARY = {
    "add": (lambda a, b: a + b, "any"),
    "sub": (lambda a, b: a - b, "any"),
    "mul": (lambda a, b: a * b, "any"),
    "div": (lambda a, b: a / b, "any"),
    "pow": (lambda a, b: a ** b, "positive"),
    "maximum": (mg.maximum, "any"),
    "minimum": (mg.minimum, "any"),
    "where": (lambda a, b: mg.where(a > 0, a, b), "any"),
}


@pytest.mark.parametrize("name", sorted(BINARY))
@given(shapes=pairs, seed=seeds)
def test_binary_broadcasting(name, shapes, seed, device):
    f, kind = BINARY[name]
    sa, sb = shapes.input_shapes
    a, b = values(seed, sa, kind), values(seed + 1, sb, kind)
    if name in ("maximum", "minimum"):   # keep away from ties, where there is no derivative
        b = b + 0.05
    check(f, [a, b], device)


@pytest.mark.parametrize("scalar_first", [False, True])
def test_python_scalars_on_either_side(scalar_first, device, rng):
    a = rng.uniform(0.5, 1.5, (3, 2))
    ops = [lambda x: 2.0 + x, lambda x: 2.0 - x, lambda x: 3.0 * x, lambda x: 1.0 / x, lambda x: 2.0 ** x] \
        if scalar_first else [lambda x: x + 2, lambda x: x - 2, lambda x: x * 3, lambda x: x / 3, lambda x: x ** 2]
    for f in ops:
        check(f, [a], device)


# ----------------------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp", "softmax", "log_softmax"])
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_reductions_over_axes(name, shape, seed, data, device):
    ndim = len(shape)
    axis = data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(tuple)))
    keepdims = data.draw(st.booleans())
    if name in ("softmax", "log_softmax"):
        axis = -1 if axis is None or isinstance(axis, tuple) else axis
        f = lambda x: getattr(mg, name)(x, axis)
    elif name in ("max", "min"):         # axis= (NumPy's keyword): the values only, even for one int
        f = lambda x: getattr(mg, name)(x, axis=axis, keepdims=keepdims)
    else:
        f = lambda x: getattr(mg, name)(x, axis, keepdims)
    x = values(seed, shape)
    if name in ("max", "min"):           # distinct values: the maximum is unique
        x = x + np.arange(x.size).reshape(shape) * 1e-2
    check(f, [x], device)


# ----------------------------------------------------------------------------- linear algebra
@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((3,), (3, 2)), ((2, 3), (3,)), ((2, 3), (3, 4)),
                                   ((2, 2, 3), (3, 4)), ((3, 4), (2, 4, 2)), ((2, 1, 2, 3), (3, 3, 2))])
def test_matmul_shapes(sa, sb, device, rng):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    out = T(a, device) @ T(b, device)
    np.testing.assert_allclose(out.numpy(), np.matmul(a, b), rtol=1e-12)
    check(lambda x, y: x @ y, [a, b], device)


def test_matmul_closed_form(device, rng):
    """For L = sum(G * (A @ B)): dL/dA = G Bᵀ, dL/dB = Aᵀ G."""
    a, b, g = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal((4, 5))
    A, B = T(a, device, True), T(b, device, True)
    (A @ B).backward(T(g, device))
    np.testing.assert_allclose(A.grad.numpy(), g @ b.T, rtol=1e-12)
    np.testing.assert_allclose(B.grad.numpy(), a.T @ g, rtol=1e-12)


# ----------------------------------------------------------------------------- shapes
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_permute_transpose_reshape(shape, seed, data, device):
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    x = values(seed, shape)
    check(lambda t: t.permute(perm) * 1.5, [x], device)
    check(lambda t: t.T, [x], device, orders=(1,))
    check(lambda t: t.reshape(-1) ** 2, [x], device)


@given(shape=shapes, seed=seeds)
def test_broadcast_to_expand_squeeze(shape, seed, device):
    x = values(seed, shape)
    target = (2,) + tuple(shape)
    check(lambda t: mg.broadcast_to(t, target) ** 2, [x], device)
    check(lambda t: mg.squeeze(mg.expand_dims(t, 0), 0) * t, [x], device)


def test_squeeze_leaves_non_unit_axes_as_pytorch_does(device):
    assert mg.squeeze(mg.zeros((2, 1), device=device), 0).shape == (2, 1)
    assert mg.squeeze(mg.zeros((2, 1), device=device), (0, 1)).shape == (2,)


# ----------------------------------------------------------------------------- indexing
@pytest.mark.parametrize("index", [
    (slice(1, 3),), (0,), (slice(None), 1), (Ellipsis, 0), (slice(None, None, -1),),
    ([0, 2, 0],), ([1, 1, 1], slice(None)), (slice(None), [2, 0, 2, 2]),
])
def test_getitem_scatters_repeats(index, device, rng):
    x = rng.standard_normal((3, 4))
    check(lambda t: t[index] ** 2, [x], device)


def test_getitem_repeated_indices_add_up(device):
    x = T(np.arange(4.0), device, True)
    x[[1, 1, 3, 1]].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 3, 0, 1])


# ----------------------------------------------------------------------------- joining
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat_stack_split(axis, device, rng):
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    check(lambda x, y, z: mg.concat([x, y * y, z], axis) ** 2, [a, b, c], device)
    check(lambda x, y, z: mg.stack([x, y, z * x], axis) ** 2, [a, b, c], device)
    check(lambda x: mg.split(x, [1, 2], 1)[1] * mg.split(x, 3, axis=1)[0], [a], device)


def test_stack_vjp_slices_not_scatters(device):
    """The cotangent of each stacked input is a view of the output's cotangent: no zero-filled
    full-size arrays (which would be quadratic over a long sequence)."""
    xs = [mg.tensor([float(i)], device=device, requires_grad=True) for i in range(50)]
    with mg.Tape() as tape:
        y = (mg.stack(xs) * 2).sum()
    y.backward()
    assert "scatter_add" not in tape.ops()
    assert [x.grad.item() for x in xs] == [2.0] * 50


# ----------------------------------------------------------------------------- losses
@given(shape=nonscalar, seed=seeds)
def test_cross_entropy(shape, seed, device):
    r = np.random.default_rng(seed)
    logits = r.standard_normal(shape + (5,))
    targets = mg.tensor(r.integers(0, 5, shape), device=device)
    check(lambda z: mg.cross_entropy(z, targets), [logits], device)
    check(lambda z: mg.cross_entropy(z, targets, reduction="none") * 1.0, [logits], device, orders=(1,))


def test_cross_entropy_closed_form(device, rng):
    """d/dz mean_i(-log softmax(z_i)[t_i]) = (softmax(z) - onehot(t)) / B, computed with NumPy."""
    z, t = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    Z = T(z, device, True)
    loss = mg.cross_entropy(Z, mg.tensor(t, device=device))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    np.testing.assert_allclose(loss.item(), -np.mean(np.log(p[np.arange(6), t])), rtol=1e-12)
    loss.backward()
    onehot = np.eye(4)[t]
    np.testing.assert_allclose(Z.grad.numpy(), (p - onehot) / 6, rtol=1e-10, atol=1e-14)


def test_mse(device, rng):
    p, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    check(lambda a: mg.mse(a, T(y, device)), [p], device)
    P = T(p, device, True)
    mg.mse(P, T(y, device)).backward()
    np.testing.assert_allclose(P.grad.numpy(), 2 * (p - y) / p.size, rtol=1e-12)


# ----------------------------------------------------------------------------- closed forms
def test_tanh_derivatives_closed_form(device, rng):
    x = rng.standard_normal(7)
    X = T(x, device, True)
    (g,) = mg.grad(X.tanh().sum(), [X], create_graph=True)
    np.testing.assert_allclose(g.numpy(), 1 - np.tanh(x) ** 2, rtol=1e-12)
    (h,) = mg.grad(g.sum(), [X])
    np.testing.assert_allclose(h.numpy(), -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-10)


def test_softmax_jacobian_closed_form(device, rng):
    """d softmax(x) / dx = diag(s) - s sᵀ."""
    x = rng.standard_normal(5)
    s = np.exp(x - x.max())
    s /= s.sum()
    J = mg.jacobian(mg.softmax, T(x, device)).numpy()
    np.testing.assert_allclose(J, np.diag(s) - np.outer(s, s), atol=1e-14)


def test_sigmoid_is_stable_far_out(device):
    x = T([-800.0, -40.0, 0.0, 40.0, 800.0], device, True)
    y = mg.sigmoid(x)
    assert np.all(np.isfinite(y.numpy()))
    np.testing.assert_allclose(y.numpy()[1], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-12)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))


def test_logsumexp_is_stable(device):
    x = T([[1000.0, 1000.0], [-1000.0, -1000.0]], device)
    np.testing.assert_allclose(mg.logsumexp(x, 1).numpy(), [1000 + np.log(2), -1000 + np.log(2)])
    np.testing.assert_allclose(mg.log_softmax(x, 1).numpy(), np.full((2, 2), -np.log(2)))


@pytest.mark.parametrize("vjp", ["tanh_vjp", "sigmoid_vjp"])
def test_derivative_primitives_have_derivatives(vjp, device, rng):
    """tanh's and sigmoid's VJPs are primitives of their own; their VJPs give second order."""
    g, y = rng.standard_normal((3, 2)), rng.uniform(-0.9, 0.9, (3, 2))
    check(getattr(mg.ops, vjp), [g, y], device)
