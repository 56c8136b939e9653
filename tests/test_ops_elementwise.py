"""minigrad/elementwise.py: values against independent NumPy / math references, first and second
derivatives against central differences (gradcheck, float64) over hypothesis-drawn shapes and
against closed forms, PyTorch's conventions at kinks, extreme inputs, dtypes."""
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from conftest import T

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)
seeds = st.integers(0, 2**31 - 1)

SQRT_2PI = math.sqrt(2 * math.pi)


def values(seed, shape, kind="any"):
    """Test points away from kinks, steps and poles: |x| in [0.3, 1.5], either sign."""
    r = np.random.default_rng(seed)
    x = r.uniform(0.3, 1.5, shape) * r.choice([-1.0, 1.0], shape)
    return np.abs(x) if kind == "positive" else x


def check(f, arrays, device, orders=(1, 2)):
    xs = [T(a, device, requires_grad=True) for a in arrays]
    for order in orders:
        assert mg.gradcheck(f, xs, order=order)


def grad_of(f, x, device, dtype=np.float64):
    """d/dx sum(f(x)), elementwise, as a NumPy array."""
    X = T(x, device, True, dtype=dtype)
    f(X).sum().backward()
    return X.grad.numpy()


# ----------------------------------------------------------------------------- independent references
def ref_sigmoid(x):
    return np.array([1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))
                     for v in np.ravel(x)]).reshape(np.shape(x))


def ref_softplus(x, beta=1.0, threshold=20.0):
    return np.array([v if beta * v > threshold else math.log1p(math.exp(beta * v)) / beta
                     for v in np.ravel(x)]).reshape(np.shape(x))


def ref_erf(x):
    return np.vectorize(math.erf, otypes=[float])(x)


def ref_gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


# name: (minigrad function, reference value, reference derivative, kind of test points)
UNARY = {
    "sqrt": (mg.sqrt, np.sqrt, lambda x: 0.5 / np.sqrt(x), "positive"),
    "log1p": (mg.log1p, lambda x: np.log(1 + x), lambda x: 1 / (1 + x), "positive"),
    "expm1": (mg.expm1, lambda x: np.exp(x) - 1, np.exp, "any"),
    "sin": (mg.sin, np.sin, np.cos, "any"),
    "cos": (mg.cos, np.cos, lambda x: -np.sin(x), "any"),
    "softplus": (mg.softplus, ref_softplus, ref_sigmoid, "any"),
    "softplus_beta_threshold": (lambda x: mg.softplus(x, beta=2.0, threshold=1.5),
                                lambda x: ref_softplus(x, 2.0, 1.5),
                                lambda x: np.where(2 * x > 1.5, 1.0, ref_sigmoid(2 * x)), "any"),
    "log_sigmoid": (mg.log_sigmoid, lambda x: np.log(ref_sigmoid(x)), lambda x: 1 - ref_sigmoid(x), "any"),
    "leaky_relu": (mg.leaky_relu, lambda x: np.where(x > 0, x, 0.01 * x),
                   lambda x: np.where(x > 0, 1.0, 0.01), "any"),
    "leaky_relu_slope": (lambda x: mg.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
                         lambda x: np.where(x > 0, 1.0, 0.2), "any"),
    "elu": (mg.elu, lambda x: np.where(x > 0, x, np.exp(x) - 1), lambda x: np.where(x > 0, 1.0, np.exp(x)), "any"),
    "elu_alpha": (lambda x: mg.elu(x, alpha=1.5), lambda x: np.where(x > 0, x, 1.5 * (np.exp(x) - 1)),
                  lambda x: np.where(x > 0, 1.0, 1.5 * np.exp(x)), "any"),
    "gelu": (mg.gelu, lambda x: x * 0.5 * (1 + ref_erf(x / math.sqrt(2))),
             lambda x: 0.5 * (1 + ref_erf(x / math.sqrt(2))) + x * np.exp(-x * x / 2) / SQRT_2PI, "any"),
    "gelu_tanh": (lambda x: mg.gelu(x, approximate="tanh"), ref_gelu_tanh,
                  lambda x: (ref_gelu_tanh(x + 1e-7) - ref_gelu_tanh(x - 1e-7)) / 2e-7, "any"),
    "silu": (mg.silu, lambda x: x * ref_sigmoid(x),
             lambda x: ref_sigmoid(x) + x * ref_sigmoid(x) * (1 - ref_sigmoid(x)), "any"),
    "erf": (mg.erf, ref_erf, lambda x: 2 / math.sqrt(math.pi) * np.exp(-x * x), "any"),
}


def test_log1p_and_expm1_are_exact_where_one_plus_x_rounds_to_one(device):
    """Their reason to exist: for |x| < 1e-8, 1 + x loses x's digits; the Taylor series
    log(1 + x) = x - x²/2 + ... and eˣ - 1 = x + x²/2 + ... are exact to double precision."""
    x = np.array([1e-12, -3e-10, 2.5e-9])
    X = T(x, device, requires_grad=True)
    np.testing.assert_allclose(mg.log1p(X).numpy(), x - x * x / 2, rtol=1e-15)
    np.testing.assert_allclose(mg.expm1(X).numpy(), x + x * x / 2, rtol=1e-15)
    assert abs(np.log(1 + x[0]) - x[0]) > 1e-6 * x[0]                # what the naive form gives
    (mg.log1p(X) + mg.expm1(X)).sum().backward()
    np.testing.assert_allclose(X.grad.numpy(), 1 / (1 + x) + np.exp(x), rtol=1e-15)
    np.testing.assert_allclose(X.log1p().numpy(), mg.log1p(X).numpy())


@pytest.mark.parametrize("name", sorted(UNARY))
@given(shape=shapes, seed=seeds)
def test_unary_gradcheck(name, shape, seed, device):
    f, _, _, kind = UNARY[name]
    check(f, [values(seed, shape, kind)], device)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_and_closed_form_derivative(name, device, rng):
    f, value, derivative, kind = UNARY[name]
    x = values(rng.integers(2**31), (4, 5), kind)
    y = f(T(x, device))
    assert y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y.numpy(), value(x), rtol=1e-13, atol=1e-15)
    rtol = 1e-7 if name == "gelu_tanh" else 1e-12           # its reference is a difference quotient
    np.testing.assert_allclose(grad_of(f, x, device), derivative(x), rtol=rtol, atol=1e-14)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_float32_stays_float32(name, device, rng):
    f, value, derivative, kind = UNARY[name]
    x = values(rng.integers(2**31), (3, 4), kind).astype(np.float32)
    X = T(x, device, True, dtype=np.float32)
    y = f(X)
    assert y.dtype == np.float32
    y.sum().backward()
    assert X.grad.dtype == np.float32
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y.numpy(), value(x64), rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(X.grad.numpy(), derivative(x64), rtol=1e-5, atol=1e-6)


FLOAT_FUNCTIONS = [mg.sqrt, mg.log1p, mg.expm1, mg.sin, mg.cos, mg.softplus, mg.log_sigmoid, mg.leaky_relu, mg.elu,
                   mg.gelu, mg.silu, mg.erf]


@pytest.mark.parametrize("f", FLOAT_FUNCTIONS, ids=lambda f: f.__name__ if hasattr(f, "__name__") else f.name)
@pytest.mark.parametrize("dtype", [np.int64, np.int32, bool])
def test_integer_and_bool_inputs_become_the_default_float(f, dtype, device):
    default = mg.get_backend(device).default_float
    x = np.array([0, 1, 4, 9]).astype(dtype)
    y = f(mg.tensor(x, device=device))
    assert y.dtype == default
    np.testing.assert_array_equal(y.numpy(), f(mg.tensor(x.astype(default), device=device)).numpy())


# ----------------------------------------------------------------------------- erf accuracy
def test_erf_float64_against_math_erf(device):
    """Relative error below 1e-14 from subnormal arguments to |x| = 6, across Cody's range
    boundaries (0.46875 and 4), and the limits."""
    grid = np.concatenate([np.logspace(-310, np.log10(6), 3000), np.linspace(0, 6, 6001),
                           [0.46875, np.nextafter(0.46875, 1), np.nextafter(0.46875, 0),
                            4.0, np.nextafter(4.0, 5), np.nextafter(4.0, 0), 5.9, 6.0]])
    x = np.concatenate([grid, -grid])
    y = mg.erf(T(x, device)).numpy()
    expected = ref_erf(x)
    tiny = np.abs(expected) < 1e-300          # subnormal: absolute error of one ulp of 1e-308
    rel = np.abs(y - expected) / np.where(tiny, 1.0, np.abs(expected))
    assert rel[~tiny].max() < 1e-14
    assert np.abs(y - expected)[tiny].max() < 1e-307
    special = mg.erf(T([0.0, -0.0, 10.0, -30.0, np.inf, -np.inf, np.nan], device)).numpy()
    np.testing.assert_array_equal(special[:-1], [0.0, -0.0, 1.0, -1.0, 1.0, -1.0])
    assert np.signbit(special[1]) and np.isnan(special[-1])


def test_erf_float32(device):
    x = np.concatenate([np.logspace(-30, np.log10(6), 500), np.linspace(0, 6, 1001)]).astype(np.float32)
    x = np.concatenate([x, -x])
    y = mg.erf(T(x, device, dtype=np.float32))
    assert y.dtype == np.float32
    expected = ref_erf(x.astype(np.float64))
    np.testing.assert_allclose(y.numpy(), expected, rtol=8 * np.finfo(np.float32).eps, atol=1e-37)


def test_erf_second_derivative_closed_form(device, rng):
    """erf'(x) = 2/√π e^(-x²), erf''(x) = -2x · 2/√π e^(-x²)."""
    x = rng.uniform(-3, 3, 9)
    X = T(x, device, True)
    (g,) = mg.grad(mg.erf(X).sum(), [X], create_graph=True)
    c = 2 / math.sqrt(math.pi)
    np.testing.assert_allclose(g.numpy(), c * np.exp(-x * x), rtol=1e-13)
    (h,) = mg.grad(g.sum(), [X])
    np.testing.assert_allclose(h.numpy(), -2 * x * c * np.exp(-x * x), rtol=1e-12, atol=1e-300)


def test_softplus_second_derivative_closed_form(device, rng):
    """d²/dx² softplus_β(x) = β σ(βx)(1 - σ(βx)) below the threshold."""
    x = rng.uniform(-3, 3, 9)
    X = T(x, device, True)
    (g,) = mg.grad(mg.softplus(X, beta=2.0).sum(), [X], create_graph=True)
    (h,) = mg.grad(g.sum(), [X])
    s = ref_sigmoid(2 * x)
    np.testing.assert_allclose(h.numpy(), 2 * s * (1 - s), rtol=1e-12)


# ----------------------------------------------------------------------------- kinks and thresholds
def test_leaky_relu_and_elu_at_zero_follow_pytorch(device):
    """PyTorch: leaky_relu'(x) = x > 0 ? 1 : negative_slope,  elu'(x) = x > 0 ? 1 : α eˣ,
    so at exactly 0 the derivatives are the negative side's: 0.2 and α = 1.5."""
    x = [0.0, -0.0, 2.0, -2.0]
    assert list(grad_of(lambda t: mg.leaky_relu(t, 0.2), x, device)) == [0.2, 0.2, 1.0, 0.2]
    assert list(mg.leaky_relu(T(x, device), 0.2).numpy()) == [0.0, 0.0, 2.0, -0.4]
    np.testing.assert_allclose(grad_of(lambda t: mg.elu(t, alpha=1.5), x, device),
                               [1.5, 1.5, 1.0, 1.5 * math.exp(-2.0)], rtol=1e-14)
    np.testing.assert_allclose(mg.elu(T(x, device), alpha=1.5).numpy(), [0.0, 0.0, 2.0, 1.5 * math.expm1(-2.0)],
                               rtol=1e-14)
    assert grad_of(mg.leaky_relu, [0.0], device)[0] == 0.01            # the default slope


def test_softplus_threshold_is_strict(device):
    """βx > threshold returns x (derivative 1); βx = threshold still takes log(1 + e^(βx))/β."""
    x = [10.0, np.nextafter(10.0, 11.0), 9.0]                    # β = 2, threshold = 20
    y = mg.softplus(T(x, device), beta=2.0, threshold=20.0).numpy()
    assert y[0] == pytest.approx(math.log1p(math.exp(20.0)) / 2, rel=1e-15) and y[0] != 10.0
    assert y[1] == x[1]
    g = grad_of(lambda t: mg.softplus(t, beta=2.0, threshold=20.0), x, device)
    np.testing.assert_allclose(g, [1 / (1 + math.exp(-20.0)), 1.0, 1 / (1 + math.exp(-18.0))], rtol=1e-15)


# ----------------------------------------------------------------------------- extreme inputs
EXTREME = {   # name: (f, value at [-1000, 1000], derivative there)
    "softplus": (mg.softplus, [0.0, 1000.0], [0.0, 1.0]),
    "log_sigmoid": (mg.log_sigmoid, [-1000.0, 0.0], [1.0, 0.0]),
    "silu": (mg.silu, [0.0, 1000.0], [0.0, 1.0]),
    "elu": (mg.elu, [-1.0, 1000.0], [0.0, 1.0]),
    "gelu": (mg.gelu, [0.0, 1000.0], [0.0, 1.0]),
    "gelu_tanh": (lambda x: mg.gelu(x, approximate="tanh"), [0.0, 1000.0], [0.0, 1.0]),
    "erf": (mg.erf, [-1.0, 1.0], [0.0, 0.0]),
    "logaddexp_0": (lambda x: mg.logaddexp(x, 0.0), [0.0, 1000.0], [0.0, 1.0]),
}


@pytest.mark.parametrize("name", sorted(EXTREME))
def test_extreme_inputs_are_finite_with_finite_derivatives(name, device):
    f, value, derivative = EXTREME[name]
    X = T([-1000.0, 1000.0], device, True)
    y = f(X)
    np.testing.assert_allclose(y.numpy(), value, rtol=1e-15, atol=1e-300)
    (g,) = mg.grad(y.sum(), [X], create_graph=True)
    np.testing.assert_allclose(g.numpy(), derivative, rtol=1e-15, atol=1e-300)
    (h,) = mg.grad(g.sum(), [X])
    assert np.all(np.isfinite(h.numpy()))


def test_logaddexp_extremes(device):
    a = T([1000.0, -1000.0, 1000.0, -1000.0], device, True)
    b = T([1000.0, -1000.0, -1000.0, 1000.0], device, True)
    y = mg.logaddexp(a, b)
    np.testing.assert_allclose(y.numpy(), [1000 + math.log(2), -1000 + math.log(2), 1000.0, 1000.0], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.5, 0.5, 1.0, 0.0], atol=1e-300)
    np.testing.assert_allclose(b.grad.numpy(), [0.5, 0.5, 0.0, 1.0], atol=1e-300)


# ----------------------------------------------------------------------------- logaddexp: binary
@given(shapes=pairs, seed=seeds)
def test_logaddexp_broadcasting_gradcheck(shapes, seed, device):
    sa, sb = shapes.input_shapes
    check(mg.logaddexp, [values(seed, sa), values(seed + 1, sb)], device)


def test_logaddexp_values_and_closed_form(device, rng):
    a, b = rng.uniform(-30, 30, (3, 4)), rng.uniform(-30, 30, (4,))
    A, B = T(a, device, True), T(b, device, True)
    y = mg.logaddexp(A, B)
    m = np.maximum(a, b)
    expected = m + np.log(np.exp(a - m) + np.exp(b - m))
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-14)
    y.sum().backward()
    np.testing.assert_allclose(A.grad.numpy(), np.exp(a - expected), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(B.grad.numpy(), np.exp(b - expected).sum(0), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("scalar_first", [False, True])
def test_logaddexp_python_numbers_on_either_side(scalar_first, device, rng):
    a = rng.uniform(-2, 2, (3, 2))
    f = (lambda x: mg.logaddexp(0.5, x)) if scalar_first else (lambda x: mg.logaddexp(x, -1))
    c = 0.5 if scalar_first else -1.0
    np.testing.assert_allclose(f(T(a, device)).numpy(), np.logaddexp(a, c), rtol=1e-14)
    check(f, [a], device)


def test_logaddexp_dtypes(device):
    i = mg.tensor(np.array([1, 2]), device=device)
    y = mg.logaddexp(i, 0.5)                 # 0.5 is not rounded to the int dtype
    assert y.dtype == mg.get_backend(device).default_float
    np.testing.assert_allclose(y.numpy(), np.logaddexp([1.0, 2.0], 0.5), rtol=1e-6)
    f32 = T([1.0, 2.0], device, dtype=np.float32)
    assert mg.logaddexp(f32, 3.0).dtype == np.float32
    with pytest.raises(TypeError, match="dtype mismatch"):
        mg.logaddexp(f32, T([1.0, 2.0], device))


# ----------------------------------------------------------------------------- piecewise constant
ROUNDING = {"floor": (mg.floor, np.floor), "ceil": (mg.ceil, np.ceil), "round": (mg.round, np.round),
            "sign": (mg.sign, np.sign)}


@pytest.mark.parametrize("name", sorted(ROUNDING))
@given(shape=shapes, seed=seeds)
def test_rounding_sits_in_a_graph(name, shape, seed, device):
    """d/dx [x · f(3x)] = f(3x): f's own derivative is zero (test points away from its steps)."""
    f, _ = ROUNDING[name]
    check(lambda t: t * f(t * 3), [values(seed, shape)], device)


@pytest.mark.parametrize("name", sorted(ROUNDING))
def test_rounding_values_and_zero_gradient(name, device):
    f, reference = ROUNDING[name]
    x = np.array([-2.5, -1.5, -0.7, -0.5, -0.0, 0.0, 0.3, 0.5, 1.5, 2.5, 3.7, np.inf, -np.inf])
    np.testing.assert_array_equal(f(T(x, device)).numpy(), reference(x))
    X = T(x[:-2], device, True)
    y = f(X)
    assert y.requires_grad and not y.is_leaf              # a node in the graph...
    (y * 2).sum().backward()
    np.testing.assert_array_equal(X.grad.numpy(), np.zeros_like(x[:-2]))    # ...whose gradient is 0


def test_round_half_to_even_and_decimals(device):
    x = T([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994], device)
    np.testing.assert_array_equal(mg.round(x).numpy(), [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0])
    y = T([1.2345, -1.2355, 123.456], device)
    np.testing.assert_allclose(mg.round(y, decimals=2).numpy(), [1.23, -1.24, 123.46], rtol=1e-15)
    np.testing.assert_allclose(mg.round(y, decimals=-1).numpy(), [0.0, -0.0, 120.0])
    with pytest.raises(TypeError, match="decimals"):
        mg.round(y, 1.5)


def test_sign_of_nan_zero_and_integers(device):
    s = mg.sign(T([np.nan, -0.0, 0.0, -3.0, 4.0, -np.inf], device)).numpy()
    assert np.isnan(s[0])
    np.testing.assert_array_equal(s[1:], [0.0, 0.0, -1.0, 1.0, -1.0])
    i = mg.sign(mg.tensor(np.array([-5, 0, 7]), device=device))
    assert i.dtype == np.int64 and i.tolist() == [-1, 0, 1]
    b = mg.sign(mg.tensor(np.array([True, False]), device=device))
    assert b.dtype == bool and b.tolist() == [True, False]


@pytest.mark.parametrize("f", [mg.floor, mg.ceil, mg.round], ids=["floor", "ceil", "round"])
def test_rounding_integers_keeps_them(f, device):
    x = mg.tensor(np.array([-3, 0, 5], dtype=np.int32), device=device)
    y = f(x)
    assert y.dtype == np.int32 and y.tolist() == [-3, 0, 5]


def test_round_integers_to_tens(device):
    x = np.array([15, 24, 25, -15, 7])
    y = mg.round(mg.tensor(x, device=device), decimals=-1)
    assert y.dtype == np.int64 and y.tolist() == [20, 20, 20, -20, 10]     # halves to even


# ----------------------------------------------------------------------------- isnan, isfinite
@pytest.mark.parametrize("requires_grad", [False, True])
def test_isnan_isfinite(requires_grad, device):
    x = T([0.0, -1.5, np.inf, -np.inf, np.nan], device, requires_grad)
    nan, finite = mg.isnan(x), mg.isfinite(x)
    assert nan.dtype == bool and finite.dtype == bool
    assert nan.tolist() == [False, False, False, False, True]
    assert finite.tolist() == [True, True, False, False, False]
    assert not nan.requires_grad and nan.is_leaf and not finite.requires_grad and finite.is_leaf
    ints = mg.tensor(np.array([1, 2]), device=device)
    assert mg.isnan(ints).tolist() == [False, False] and mg.isfinite(ints).tolist() == [True, True]


# ----------------------------------------------------------------------------- arguments
def test_argument_errors(device):
    x = T([1.0], device)
    with pytest.raises(ValueError, match="approximate"):
        mg.gelu(x, approximate="erf")
    with pytest.raises(TypeError, match="beta"):
        mg.softplus(x, beta=T([2.0], device))
    with pytest.raises(TypeError, match="negative_slope"):
        mg.leaky_relu(x, "0.1")


def test_parameters_given_positionally_as_in_pytorch(device, rng):
    x = rng.uniform(-2, 2, 6)
    X = T(x, device)
    np.testing.assert_allclose(mg.leaky_relu(X, 0.3).numpy(), np.where(x > 0, x, 0.3 * x), rtol=1e-15)
    np.testing.assert_allclose(mg.elu(X, 0.5).numpy(), np.where(x > 0, x, 0.5 * np.expm1(x)), rtol=1e-15)
    np.testing.assert_allclose(mg.softplus(X, 3.0, 2.0).numpy(), ref_softplus(x, 3.0, 2.0), rtol=1e-14)
    np.testing.assert_allclose(mg.gelu(X, "tanh").numpy(), ref_gelu_tanh(x), rtol=1e-14)


def test_numpy_float64_parameters_do_not_upcast_float32(device):
    x = T([-1.0, 2.0], device, dtype=np.float32)
    assert mg.leaky_relu(x, np.float64(0.1)).dtype == np.float32
    assert mg.elu(x, np.float64(0.5)).dtype == np.float32
    assert mg.softplus(x, np.float64(2.0), np.float64(10.0)).dtype == np.float32


def test_graph_names(device):
    """Each primitive appears under its public name (what graph renderers and tapes show)."""
    x = T([0.5, 1.5], device, True)
    for f, name in [(mg.softplus, "softplus"), (mg.elu, "elu"), (mg.leaky_relu, "leaky_relu"),
                    (mg.gelu, "gelu"), (lambda t: mg.gelu(t, "tanh"), "gelu_tanh"), (mg.round, "round"),
                    (lambda t: mg.logaddexp(t, 1.0), "logaddexp"), (mg.erf, "erf"), (mg.sqrt, "sqrt")]:
        assert f(x).node.op.name == name
