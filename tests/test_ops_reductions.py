"""var, std, prod, cumsum, norm / vector_norm, argmax / argmin.

Values against independent NumPy references (np.var(ddof=), np.prod, np.cumsum, np.linalg.norm,
np.argmax...); first and second derivatives against central differences (mg.gradcheck, float64)
over hypothesis-drawn shapes and axes, negative axes included; closed forms by hand where they
are simple (the product of the others, the Hessian of prod, 2(x - mean)/(N - c)...); and the
conventions PyTorch takes where no derivative exists (norm and std at 0, prod with zeros).
"""
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from conftest import T

nonscalar = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**31 - 1)


def values(seed, shape):
    """Away from 0 and from ties of |x|: the points where norms have no derivative."""
    r = np.random.default_rng(seed)
    x = r.uniform(0.3, 1.5, shape) * r.choice([-1.0, 1.0], shape)
    return x + np.sign(x) * np.arange(x.size).reshape(shape) * 1e-2


def check(f, arrays, device, orders=(1, 2)):
    xs = [T(a, device, requires_grad=True) for a in arrays]
    for order in orders:
        assert mg.gradcheck(f, xs, order=order)


def draw_axis(data, ndim, tuples=True):
    """None, an int (negatives included), or a tuple of distinct axes mixing signs."""
    one = st.integers(-ndim, ndim - 1)
    options = [st.none(), one]
    if tuples:
        options.append(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
                       .flatmap(lambda axes: st.tuples(*[st.sampled_from([a, a - ndim]) for a in axes]))
                       )
    return data.draw(st.one_of(*options))


def np_axis(axis):
    return axis if axis is None or isinstance(axis, int) else tuple(axis)


def count(shape, axis):
    """How many elements a reduction over ``axis`` combines."""
    axes = range(len(shape)) if axis is None else np.atleast_1d(axis)
    return math.prod(shape[a] for a in axes)


def grad_of(f, x, device, seed_grad=None):
    X = T(x, device, True)
    out = f(X)
    out.backward(T(np.ones(out.shape) if seed_grad is None else seed_grad, device))
    return X.grad.numpy()


def second(f, x, device, w):
    """(gradient, Hessian·w) of sum(f(x)) at x; a Hessian-vector product of 0 when the gradient
    is a constant (no graph left to differentiate)."""
    X = T(x, device, True)
    (g,) = mg.grad(f(X).sum(), [X], create_graph=True)
    if not g.requires_grad:
        return g.numpy(), np.zeros_like(x)
    (h,) = mg.grad((g * T(w, device)).sum(), [X], allow_unused=True)
    return g.numpy(), (np.zeros_like(x) if h is None else h.numpy())


# =========================================================================== var, std
@pytest.mark.parametrize("name", ["var", "std"])
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_var_std_values_and_derivatives(name, shape, seed, data, device):
    axis = draw_axis(data, len(shape))
    correction = data.draw(st.sampled_from([0, 1, 2]))
    keepdims = data.draw(st.booleans())
    x = values(seed, shape)
    n = count(shape, axis)
    f = lambda t: getattr(mg, name)(t, axis, correction, keepdims)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)          # N - correction <= 0: inf, nan
        expected = getattr(np, name)(x, axis=np_axis(axis), ddof=correction, keepdims=keepdims)
        out = f(T(x, device))
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-14)     # inf / nan alike
    if n - correction > 0 and (name == "var" or n > 1):
        check(f, [x], device)


def test_var_gradient_closed_form(device, rng):
    """d var / dx = 2 (x - mean) / (N - correction), along axis -2 of a (2, 3, 4) tensor."""
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 4))
    for correction in (0, 1, 2):
        g = grad_of(lambda t: mg.var(t, -2, correction), x, device, w)
        expected = 2 * (x - x.mean(-2, keepdims=True)) / (3 - correction) * w[:, None, :]
        np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-14)
    w = rng.standard_normal((2, 3))
    g = grad_of(lambda t: mg.std(t, -1), x, device, w)
    s = x.std(-1, ddof=1, keepdims=True)
    np.testing.assert_allclose(g, (x - x.mean(-1, keepdims=True)) / (3 * s) * w[..., None], rtol=1e-12)


def test_var_std_spellings(device, rng):
    x = rng.standard_normal((2, 3, 4))
    X = T(x, device)
    np.testing.assert_allclose(mg.var(X, dim=-1, keepdim=True).numpy(), x.var(-1, ddof=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(mg.var(X, -2, unbiased=False).numpy(), x.var(-2), rtol=1e-12)
    np.testing.assert_allclose(mg.var(X, (0, -1), unbiased=True).numpy(), x.var((0, 2), ddof=1), rtol=1e-12)
    np.testing.assert_allclose(mg.std(X, 1, ddof=2).numpy(), x.std(1, ddof=2), rtol=1e-12)
    np.testing.assert_allclose(mg.std(X, -2, correction=0).numpy(), x.std(-2), rtol=1e-12)
    np.testing.assert_allclose(mg.var(X).numpy(), x.var(ddof=1), rtol=1e-12)            # all axes
    with pytest.raises(TypeError, match="one of"):
        mg.var(X, 0, correction=0, unbiased=True)
    with pytest.raises(TypeError, match="not both"):
        mg.std(X, axis=0, dim=1)


def test_std_at_a_constant_slice_has_gradient_zero(device):
    """std = 0 (a constant slice): PyTorch's gradient there is 0, not 0/0 = NaN; the other row
    keeps its ordinary gradient; second derivatives are finite, 0 on the constant row."""
    x = np.array([[2.0, 2.0, 2.0], [1.0, 2.0, 4.0]])
    w = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]])
    g, h = second(lambda t: mg.std(t, -1), x, device, w)
    d = x[1] - x[1].mean()
    np.testing.assert_array_equal(g[0], 0.0)
    np.testing.assert_allclose(g[1], d / (2 * x[1].std(ddof=1)), rtol=1e-12)
    assert np.all(np.isfinite(h))
    np.testing.assert_array_equal(h[0], 0.0)


def test_var_std_dtypes(device):
    f32 = T([[1, 2], [4, 8]], device, dtype=np.float32)
    for f in (mg.var, mg.std):
        assert f(f32, 0).dtype == np.float32
        ints = mg.tensor(np.array([[1, 2], [4, 8]], dtype=np.int32), device=device)
        out = f(ints, -1)
        assert out.dtype == ints.backend.default_float
        np.testing.assert_allclose(out.numpy(), getattr(np, f.__name__)(np.array([[1, 2], [4, 8]]), -1, ddof=1))
    X = T([[1, 2], [4, 8]], device, True, dtype=np.float32)
    mg.std(X, 1).sum().backward()
    assert X.grad.dtype == np.float32


# =========================================================================== prod
def with_zeros(x, count, seed):
    """``x`` with ``count`` elements set to 0 (at random places)."""
    x = x.copy()
    places = np.random.default_rng(seed).choice(x.size, size=min(count, x.size), replace=False)
    x.flat[places] = 0.0
    return x


@given(shape=nonscalar, seed=seeds, data=st.data())
def test_prod_values_and_derivatives(shape, seed, data, device):
    """With 0, 1 or 2 zeros anywhere: prod is a polynomial, so central differences are exact
    even at the zeros, first and second order."""
    axis = draw_axis(data, len(shape))
    keepdims = data.draw(st.booleans())
    x = with_zeros(values(seed, shape), data.draw(st.integers(0, 2)), seed)
    f = lambda t: mg.prod(t, axis, keepdims)
    out = f(T(x, device))
    expected = np.prod(x, axis=np_axis(axis), keepdims=keepdims)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-15)
    check(f, [x], device)


def product_of_others(x, axis):
    """By hand: for each element, np.prod of its slice with that element deleted."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x)
    for index in np.ndindex(x.shape):
        row, i = x[index[:-1]], index[-1]
        out[index] = np.prod(np.delete(row, i))
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("axis", [-1, -2, -3, 1])
def test_prod_gradient_is_the_product_of_the_others(axis, device, rng):
    """d prod / dx_i = Π_{j≠i} x_j, on a (2, 3, 4) tensor with zeros: one zero in some slices,
    two in others, none elsewhere."""
    x = rng.uniform(0.5, 2.0, (2, 3, 4)) * rng.choice([-1.0, 1.0], (2, 3, 4))
    x[0, 0, 0] = x[1, 2, 3] = x[1, 2, 1] = x[0, 1, 1] = x[1, 1, 1] = 0.0
    w = rng.standard_normal(tuple(np.delete(np.array(x.shape), axis)))
    g = grad_of(lambda t: mg.prod(t, axis), x, device, w)
    np.testing.assert_allclose(g, product_of_others(x, axis) * np.expand_dims(w, axis), rtol=1e-12, atol=1e-15)


def test_prod_with_zeros_closed_form(device):
    """PyTorch's behaviour: one zero in a row, only the zero gets a gradient (the product of the
    rest); two zeros, all gradients 0.  The Hessian of Π x is ∂²/∂x_i∂x_k = Π_{j∉{i,k}} x_j."""
    x = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 3.0]])
    w = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    g, h = second(lambda t: mg.prod(t, 1), x, device, w)
    np.testing.assert_array_equal(g, [[0, 6, 0], [0, 0, 0], [6, 3, 2]])
    hessians = [np.array([[0, 3, 0], [3, 0, 2], [0, 2, 0]]),       # row (2, 0, 3)
                np.array([[0, 5, 0], [5, 0, 0], [0, 0, 0]]),       # row (0, 0, 5)
                np.array([[0, 3, 2], [3, 0, 1], [2, 1, 0]])]       # row (1, 2, 3)
    np.testing.assert_array_equal(h, [H @ wi for H, wi in zip(hessians, w)])
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))


def test_prod_negative_axes_and_spellings(device, rng):
    x = rng.standard_normal((2, 3, 4))
    X = T(x, device)
    for axis in (-1, -2, (-1, -3), (0, -2), None):
        np.testing.assert_allclose(mg.prod(X, axis).numpy(), np.prod(x, np_axis(axis)), rtol=1e-12)
    np.testing.assert_allclose(mg.prod(X, dim=-2, keepdim=True).numpy(), x.prod(-2, keepdims=True), rtol=1e-12)
    check(lambda t: mg.prod(t, (-1, -3), keepdims=True), [x], device)
    f32 = T(x, device, dtype=np.float32)
    assert mg.prod(f32, -1).dtype == np.float32
    ints = mg.tensor(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64), device=device)
    np.testing.assert_array_equal(mg.prod(ints, -1).numpy(), [6, 120])


# =========================================================================== cumsum
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_cumsum_values_and_derivatives(shape, seed, data, device):
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = values(seed, shape)
    f = lambda t: mg.cumsum(t, axis)
    np.testing.assert_allclose(f(T(x, device)).numpy(), np.cumsum(x, axis), rtol=1e-12)
    check(lambda t: f(t) ** 2, [x], device)       # squared: the second derivative is not 0


@pytest.mark.parametrize("axis", [-1, -2, 0])
def test_cumsum_gradient_is_the_reversed_cumsum(axis, device, rng):
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))
    g = grad_of(lambda t: mg.cumsum(t, dim=axis), x, device, w)
    np.testing.assert_allclose(g, np.flip(np.cumsum(np.flip(w, axis), axis), axis), rtol=1e-12)


def test_cumsum_flattened_and_dtypes(device):
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(mg.cumsum(T(x, device), None).numpy(), np.cumsum(x))
    assert mg.cumsum(T(x, device, dtype=np.float32), 1).dtype == np.float32
    ints = mg.tensor(np.array([[1, 2], [3, 4]]), device=device)
    np.testing.assert_array_equal(mg.cumsum(ints, 0).numpy(), [[1, 2], [4, 6]])


# =========================================================================== norms
ORDS = [2, 1, np.inf, -np.inf, 0, 0.5, 1.5, 3]


@pytest.mark.parametrize("ord", ORDS)
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_vector_norms(ord, shape, seed, data, device):
    """Along one axis: np.linalg.norm; over several: the formula, written out in NumPy."""
    axis = draw_axis(data, len(shape))
    keepdims = data.draw(st.booleans())
    x = values(seed, shape)
    out = mg.vector_norm(T(x, device), ord, axis, keepdims).numpy()
    if isinstance(axis, int):
        expected = np.linalg.norm(x, ord, axis, keepdims)
        np.testing.assert_allclose(mg.norm(T(x, device), ord, axis, keepdims).numpy(), expected, rtol=1e-12)
    else:
        a, axes = np.abs(x), np_axis(axis)
        expected = {2: lambda: np.sqrt(np.sum(a * a, axes, keepdims=keepdims)),
                    np.inf: lambda: np.max(a, axes, keepdims=keepdims),
                    -np.inf: lambda: np.min(a, axes, keepdims=keepdims),
                    0: lambda: np.sum(a != 0, axes, keepdims=keepdims).astype(float)}.get(
            ord, lambda: np.sum(a ** ord, axes, keepdims=keepdims) ** (1 / ord))()
    assert out.shape == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=1e-12)
    check(lambda t: mg.vector_norm(t, ord, axis, keepdims), [x], device)


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, np.inf, -np.inf])
@pytest.mark.parametrize("axis", [(-2, -1), (-1, -3), (2, 0), (1, -3)])
def test_matrix_norms(ord, axis, device, rng):
    x = values(int(rng.integers(1 << 30)), (2, 3, 4))
    for keepdims in (False, True):
        out = mg.norm(T(x, device), ord, axis, keepdims)
        expected = np.linalg.norm(x, ord, axis, keepdims)
        assert out.shape == expected.shape
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    check(lambda t: mg.norm(t, ord, dim=axis), [x], device)


def test_norm_defaults_follow_numpy(device, rng):
    x = rng.standard_normal((2, 3, 4))
    X = T(x, device)
    np.testing.assert_allclose(mg.norm(X).numpy(), np.sqrt(np.sum(x * x)), rtol=1e-12)   # torch's x.norm()
    np.testing.assert_allclose(mg.norm(X, keepdims=True).numpy(), np.linalg.norm(x, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(mg.norm(X, dim=-2).numpy(), np.linalg.norm(x, axis=-2), rtol=1e-12)
    np.testing.assert_allclose(mg.vector_norm(X, 1).numpy(), np.abs(x).sum(), rtol=1e-12)
    m, v = x[0], x[0, 0]
    for ord in (1, -1, np.inf, "fro"):                                 # 2-D, axis None: matrix norms
        np.testing.assert_allclose(mg.norm(T(m, device), ord).numpy(), np.linalg.norm(m, ord), rtol=1e-12)
    for ord in (1, 3, np.inf, 0):                                      # 1-D: vector norms
        np.testing.assert_allclose(mg.norm(T(v, device), ord).numpy(), np.linalg.norm(v, ord), rtol=1e-12)
    with pytest.raises(ValueError, match="1-D or 2-D"):
        mg.norm(X, 1)
    with pytest.raises(NotImplementedError, match="singular values"):
        mg.norm(T(m, device), "nuc")
    with pytest.raises(NotImplementedError, match="singular values"):
        mg.norm(X, 2, (0, 1))
    with pytest.raises(ValueError, match="repeated axis"):
        mg.norm(X, "fro", (1, -2))
    with pytest.raises(ValueError, match="matrix norm"):
        mg.norm(X, "fro", -1)
    with pytest.raises(ValueError, match="not supported"):
        mg.vector_norm(X, -1)
    ints = mg.tensor(np.array([3, 4]), device=device)
    assert mg.norm(ints).dtype == ints.backend.default_float and mg.norm(ints).item() == 5.0
    assert mg.norm(T(x, device, dtype=np.float32), 3, -1).dtype == np.float32


def test_norm_ties_share_the_gradient(device):
    """inf-norm: the maximal |x_i| share ḡ equally, with their sign (PyTorch's rule)."""
    x = np.array([[3.0, -3.0, 1.0], [0.0, 2.0, -2.0]])
    np.testing.assert_allclose(grad_of(lambda t: mg.norm(t, np.inf, -1), x, device),
                               [[0.5, -0.5, 0.0], [0.0, 0.5, -0.5]])
    np.testing.assert_allclose(grad_of(lambda t: mg.norm(t, -np.inf, -1), x, device),
                               [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])


ZERO_ORDS = [2, 1, np.inf, -np.inf, 0, 0.5, 1.5, 3]


@pytest.mark.parametrize("ord", ZERO_ORDS)
def test_norm_at_zero_has_gradient_zero(ord, device):
    """At x = 0 the gradient (and the second derivative) is 0, PyTorch's subgradient, not NaN;
    a zero row next to an ordinary one does not disturb the ordinary row's gradient."""
    x = np.array([[0.0, 0.0, 0.0], [1.0, -2.0, 0.5]])
    w = np.array([[1.0, 2.0, 3.0], [0.5, 1.0, -1.0]])
    g, h = second(lambda t: mg.norm(t, ord, -1), x, device, w)
    np.testing.assert_array_equal(g[0], 0.0)
    np.testing.assert_array_equal(h[0], 0.0)
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(h))
    r = x[1]
    n = np.linalg.norm(r, ord)
    expected = {2: r / n, 1: np.sign(r), np.inf: [0, -1, 0], -np.inf: [0, 0, 1], 0: [0, 0, 0]}.get(
        ord, np.sign(r) * (np.abs(r) / n) ** (ord - 1))
    np.testing.assert_allclose(g[1], expected, rtol=1e-12)
    for f in (mg.norm, lambda t: mg.norm(t, "fro", (0, 1)), lambda t: mg.norm(t, 1, (0, 1))):
        g, h = second(f, np.zeros((2, 3)), device, w)
        np.testing.assert_array_equal(g, 0.0)
        np.testing.assert_array_equal(h, 0.0)


def test_two_norm_hessian_with_a_zero_element(device):
    """‖x‖₂ has Hessian (I - x xᵀ/‖x‖²)/‖x‖ everywhere but 0, also where one x_i is 0."""
    x, w = np.array([0.0, 1.0, -2.0]), np.array([1.0, 2.0, 3.0])
    g, h = second(lambda t: mg.norm(t), x, device, w)
    n = np.linalg.norm(x)
    np.testing.assert_allclose(g, x / n, rtol=1e-12)
    np.testing.assert_allclose(h, (np.eye(3) - np.outer(x, x) / n**2) @ w / n, rtol=1e-12)


def test_p_norm_hessian_with_a_zero_element(device):
    """p = 3 at x_i = 0: the gradient there is 0 and the Hessian is finite (computed by
    central differences of the analytic gradient, which is smooth there for p > 2)."""
    x = np.array([0.0, 1.0, -2.0])
    check(lambda t: mg.norm(t, 3), [x], device)


@pytest.mark.parametrize("ord", [0.5, 1.5, 1, 3])
def test_p_norm_zero_element_counts_as_absent(ord, device):
    """PyTorch's convention at x_i = 0 for p < 2: gradient 0 there (for p < 1 the formula is
    ∞ · 0), and no NaN in the second derivative (for 1 < p < 2 the formula is ∞ there): the
    derivatives are those of the norm of the other elements, first and second order."""
    w = np.array([1.0, 2.0, -3.0])
    g, h = second(lambda t: mg.norm(t, ord), np.array([0.0, 1.0, -2.0]), device, w)
    g_rest, h_rest = second(lambda t: mg.norm(t, ord), np.array([1.0, -2.0]), device, w[1:])
    np.testing.assert_allclose(g, [0.0, *g_rest], rtol=1e-12)
    np.testing.assert_allclose(h, [0.0, *h_rest], rtol=1e-12)
    check(lambda t: mg.norm(t, ord), [np.array([1.0, -2.0])], device)     # the reference itself


# =========================================================================== argmax, argmin
@pytest.mark.parametrize("name", ["argmax", "argmin"])
@given(shape=nonscalar, seed=seeds, data=st.data())
def test_argmax_argmin(name, shape, seed, data, device):
    """Against NumPy, with many ties (small integers): the first occurrence wins."""
    axis = data.draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    keepdims = data.draw(st.booleans())
    x = np.random.default_rng(seed).integers(0, 3, shape).astype(float)
    X = T(x, device, requires_grad=True)
    out = getattr(mg, name)(X, axis, keepdims)
    expected = getattr(np, name)(x, axis=axis, keepdims=keepdims)
    assert out.dtype == np.int64 and out.shape == np.shape(expected)
    np.testing.assert_array_equal(out.numpy(), expected)
    assert not out.requires_grad and out.node is None


def test_argmax_ties_negative_axes_and_spellings(device):
    x = np.array([[[1.0, 5.0, 5.0, 0.0], [5.0, 1.0, 0.0, 0.0], [0.0, 5.0, 5.0, 5.0]],
                  [[2.0, 2.0, 2.0, 2.0], [0.0, 3.0, 3.0, 1.0], [3.0, 3.0, 0.0, 0.0]]])      # (2, 3, 4)
    X = T(x, device)
    np.testing.assert_array_equal(mg.argmax(X, -1).numpy(), [[1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(mg.argmax(X, -2).numpy(), [[1, 0, 0, 2], [2, 1, 1, 0]])
    np.testing.assert_array_equal(mg.argmin(X, dim=-1, keepdim=True).numpy(), [[[3], [2], [0]], [[0], [0], [2]]])
    assert mg.argmax(X).item() == 1 and mg.argmin(X).item() == 3
    assert mg.argmax(X, keepdims=True).shape == (1, 1, 1)
    with pytest.raises(ValueError, match="empty"):
        mg.argmax(T(np.zeros((0, 2)), device))


# =========================================================================== all: -1 and -2 on (2, 3, 4)
REDUCTIONS = {
    "var": (lambda t, a: mg.var(t, a), lambda x, a: np.var(x, a, ddof=1)),
    "std": (lambda t, a: mg.std(t, a, correction=0), lambda x, a: np.std(x, a)),
    "prod": (mg.prod, np.prod),
    "cumsum": (mg.cumsum, np.cumsum),
    "norm": (lambda t, a: mg.norm(t, 3, a), lambda x, a: np.linalg.norm(x, 3, a)),
    "norm2": (lambda t, a: mg.norm(t, dim=a), lambda x, a: np.linalg.norm(x, axis=a)),
}


@pytest.mark.parametrize("axis", [-1, -2])
@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_negative_axes_forward_and_backward(name, axis, device, rng):
    """A (2, 3, 4) input: a wrong axis in forward or VJP gives a wrong shape or value."""
    f, reference = REDUCTIONS[name]
    x = values(int(rng.integers(1 << 30)), (2, 3, 4))
    out = f(T(x, device), axis)
    assert out.shape == reference(x, axis).shape
    np.testing.assert_allclose(out.numpy(), reference(x, axis), rtol=1e-12)
    check(lambda t: f(t, axis), [x], device)
