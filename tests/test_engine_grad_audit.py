"""A systematic audit of derivatives: every public differentiable function of ``mg`` and every
Tensor method with a PyTorch counterpart was compared with PyTorch 2.13 outside the suite
(forward values, dtypes and shapes; VJPs of random cotangents; second derivatives through
``mg.grad(create_graph=True)``, ``mg.hvp`` and ``mg.hessian``; ``mg.jvp``), on 0-d, 1-D, 3-D,
broadcast, size-0, transposed and strided inputs, at ties, zeros and infinities, in float64 and
float32.  What it found wrong in minigrad is pinned here, each against central differences
(``mg.gradcheck``) and a closed form written in the test, never against PyTorch:

* ``sinc``'s derivative was a constant 0 at x = 0, so its second derivative there was 0
  (it is -π²/3); and the quotient (cos πx - sinc x) / x cancels near 0.
* ``logcumsumexp``'s VJP took the log of the cotangent, so its derivative *in the cotangent*
  was lost where the cotangent is 0: ``mg.jvp`` (which seeds the cotangent with 0) gave J v = 0,
  and so did a double backward whose cotangent depends on the parameters.
* PyTorch's ``x.size()`` / ``x.size(d)`` raised (``size`` was NumPy's element count only);
  ``mg.jvp`` refused a function returning a list (``mg.split``'s result).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T


# --------------------------------------------------------------------------- sinc
def sinc_derivatives(x):
    """sinc'(x) and sinc''(x) written out (|πx| well away from 0; the series at 0)."""
    if x == 0:
        return 0.0, -math.pi ** 2 / 3
    p = math.pi * x
    d1 = (math.cos(p) - math.sin(p) / p) / x
    d2 = -math.pi ** 2 * math.sin(p) / p - 2 * math.pi * math.cos(p) / (p * x) + 2 * math.sin(p) / (p * x * x)
    return d1, d2


@pytest.mark.parametrize("x0", [0.0, 0.05, -0.099, 0.1, 0.3, -1.7])
def test_sinc_first_and_second_derivative_closed_form(x0, device):
    x = T([x0], device, requires_grad=True)
    g, = mg.grad(mg.sinc(x).sum(), x, create_graph=True)
    h, = mg.grad(g.sum(), x)
    d1, d2 = sinc_derivatives(x0)
    if abs(x0) < 0.2:                                # the quotient cancels: the series instead
        p2 = (math.pi * x0) ** 2
        d1 = -math.pi ** 2 * x0 / 3 * (1 - p2 / 10 + p2 ** 2 / 280 - p2 ** 3 / 15120)
        d2 = -math.pi ** 2 / 3 * (1 - 3 * p2 / 10 + p2 ** 2 / 56 - p2 ** 3 / 2160)
    np.testing.assert_allclose(g.numpy(), [d1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), [d2], rtol=1e-7, atol=1e-12)


def test_sinc_near_zero_derivative_does_not_cancel(device):
    """At 1e-9 the quotient (cos πx - sinc x) / x gave 0 (both terms round to 1): -π²x/3 it is."""
    x = T([1e-9, -1e-6], device, requires_grad=True)
    g, = mg.grad(mg.sinc(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), [-math.pi ** 2 / 3 * 1e-9, math.pi ** 2 / 3 * 1e-6], rtol=1e-12)
    h, = mg.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [-math.pi ** 2 / 3] * 2, rtol=1e-9)


def test_sinc_gradcheck_second_order_across_the_series_boundary(device):
    x = T([0.0, 0.02, -0.0999, 0.1001, 0.6, -1.3], device, requires_grad=True)
    assert mg.gradcheck(mg.sinc, (x,), order=2)


# --------------------------------------------------------------------------- logcumsumexp
def lcse_jacobian(x):
    """d out_i / d x_j = e^(x_j - out_i) for j <= i, written out for one row."""
    out = np.log(np.cumsum(np.exp(x)))
    n = len(x)
    return np.array([[math.exp(x[j] - out[i]) if j <= i else 0.0 for j in range(n)] for i in range(n)])


def test_logcumsumexp_jvp_is_the_jacobian_times_v(device):
    x0, v0 = np.array([0.3, -1.2, 2.0, 0.5]), np.array([1.0, -2.0, 0.5, 3.0])
    _, jv = mg.jvp(lambda x: mg.logcumsumexp(x, 0), T(x0, device), T(v0, device))
    np.testing.assert_allclose(jv.numpy(), lcse_jacobian(x0) @ v0, rtol=1e-12)
    # along dim 1 of a 3-D tensor, the same rows
    x3 = np.random.default_rng(0).normal(size=(2, 4, 3))
    v3 = np.random.default_rng(1).normal(size=(2, 4, 3))
    _, jv = mg.jvp(lambda x: mg.logcumsumexp(x, 1), T(x3, device), T(v3, device))
    for a in range(2):
        for c in range(3):
            np.testing.assert_allclose(jv.numpy()[a, :, c], lcse_jacobian(x3[a, :, c]) @ v3[a, :, c], rtol=1e-10)


def test_logcumsumexp_gradient_in_a_zero_cotangent(device):
    """A double backward through a cotangent u that is 0: grad(<J^T u, w>, u) = J w."""
    x0, w0 = np.array([1.0, -0.5, 0.25]), np.array([0.5, 2.0, -1.0])
    x = T(x0, device, requires_grad=True)
    u = T([0.0, 0.0, 0.0], device, requires_grad=True)
    out = mg.logcumsumexp(x, 0)
    g, = mg.grad(out, x, u, create_graph=True)
    ju, = mg.grad((g * T(w0, device)).sum(), u)
    np.testing.assert_allclose(ju.numpy(), lcse_jacobian(x0) @ w0, rtol=1e-12)


def test_logcumsumexp_second_order_gradcheck_with_a_cotangent_that_is_a_variable(device):
    rng = np.random.default_rng(2)
    x = T(rng.normal(size=(3, 4)), device, requires_grad=True)
    u = T(rng.normal(size=(3, 4)), device, requires_grad=True)

    def vjp_value(x, u):                                 # <J(x)^T u, x>: depends on u and x
        g, = mg.grad(mg.logcumsumexp(x, 1), x, u, create_graph=True)
        return (g * x).sum()
    assert mg.gradcheck(vjp_value, (x, u))
    # second order of <logcumsumexp(x), u>: its x-gradient J(x)^T u differentiated in u too
    assert mg.gradcheck(lambda x, u: (mg.logcumsumexp(x, 0) * u).sum(), (x, u), order=2)


def test_logcumsumexp_linear_vjp_keeps_minus_infinity_out(device):
    """The VJP of a differentiated cotangent (mg.jvp seeds it with 0) with -∞ inputs: weight 0, no NaN."""
    x0 = np.array([-math.inf, 0.0, -math.inf, 1.0])
    _, jv = mg.jvp(lambda x: mg.logcumsumexp(x, 0), T(x0, device), T([1.0, 1.0, 1.0, 1.0], device))
    with np.errstate(divide="ignore"):
        out = np.log(np.cumsum(np.exp(x0)))
    expected = [0.0] + [sum(math.exp(x0[j] - out[i]) for j in range(i + 1)) for i in range(1, 4)]
    np.testing.assert_allclose(jv.numpy(), expected, rtol=1e-12)


# --------------------------------------------------------------------------- size(), jvp of a list
def test_size_is_the_count_and_callable_as_pytorchs_method(device):
    x = T(np.zeros((2, 3, 4)), device)
    assert x.size == 24 and x.size * 2 == 48 and isinstance(x.size, int)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3
    assert T(1.0, device).size() == () and T(1.0, device).size == 1
    for bad, kind in [(3, IndexError), (-4, IndexError), (1.0, TypeError)]:
        with pytest.raises(kind) as e:
            x.size(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(IndexError, match="0-d"):
        T(1.0, device).size(0)


def test_jvp_and_jacobian_take_a_function_returning_a_list(device):
    x = T(np.arange(6.0), device)
    v = T(np.ones(6), device)
    outs, jv = mg.jvp(lambda t: mg.split(t * t, 3), x, v)
    assert isinstance(jv, tuple) and len(jv) == 2
    np.testing.assert_allclose(np.concatenate([j.numpy() for j in jv]), 2 * np.arange(6.0))
    with pytest.raises(TypeError, match="list whose element 1 is a float"):
        mg.jvp(lambda t: [t, 1.0], x, v)


# --------------------------------------------------------------------------- small-integer inputs
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.bool_])
def test_softmax_family_of_small_integers_is_the_default_float_without_wraparound(dtype, device):
    """uint8 x - max(x) wrapped around (1 - 3 = 254): softmax gave NaN, logsumexp inf; int8 and
    int16 gave float16 / float32.  Now the default float, with the values of the float input."""
    data = np.array([1, 0, 3]).astype(dtype)
    x = T(data, device, dtype=dtype)
    f = data.astype(np.float64)
    e = np.exp(f - f.max())
    expected = {"softmax": e / e.sum(), "log_softmax": f - f.max() - np.log(e.sum()),
                "logsumexp": np.log(np.exp(f).sum()), "softmin": np.exp(-f) / np.exp(-f).sum()}
    got = {"softmax": mg.softmax(x, 0), "log_softmax": mg.log_softmax(x, 0),
           "logsumexp": mg.logsumexp(x, 0), "softmin": mg.softmin(x, 0)}
    for name, value in got.items():
        assert value.dtype == np.float64, name
        np.testing.assert_allclose(value.numpy(), expected[name], rtol=1e-12, err_msg=name)
    assert mg.softmax(x[:0], 0).dtype == np.float64          # empty: still the default float


# --------------------------------------------------------------------------- median
def test_median_is_the_lower_middle_value_with_pytorchs_gradients(device):
    data = np.array([[2.0, 1.0, 2.0, 2.0], [3.0, 0.5, -1.0, 0.0], [5.0, 4.0, 6.0, 7.0]])
    x = T(data, device, requires_grad=True)
    values, indices = mg.median(x, 1)
    # lower median: the ⌊(n-1)/2⌋-th smallest; the index of that element in a stable sort
    np.testing.assert_array_equal(values.numpy(), [2.0, 0.0, 5.0])
    np.testing.assert_array_equal(indices.numpy(), [0, 3, 0])
    values.backward(T([1.0, 2.0, 3.0], device))
    expected = np.zeros_like(data)
    expected[0, 0], expected[1, 3], expected[2, 0] = 1.0, 2.0, 3.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    # all elements: spread evenly over the ties (three 2.0s in the first row)
    y = T(data[0], device, requires_grad=True)
    m = mg.median(y)
    assert m.shape == () and m.item() == 2.0
    m.backward()
    np.testing.assert_allclose(y.grad.numpy(), [1 / 3, 0.0, 1 / 3, 1 / 3])
    kept = mg.median(x, -1, keepdim=True)
    assert kept.values.shape == (3, 1) and kept.indices.shape == (3, 1)


def test_median_gradcheck_away_from_ties(device):
    rng = np.random.default_rng(3)
    x = T(rng.normal(size=(3, 5)), device, requires_grad=True)
    assert mg.gradcheck(lambda t: mg.median(t, 0).values, (x,))
    assert mg.gradcheck(lambda t: mg.median(t) * mg.nanmedian(t, 1).values.sum(), (x,))


def test_median_and_nanmedian_with_nan(device):
    nan = math.nan
    x = T([[3.0, nan, 1.0, 0.0], [nan, nan, 1.0, 2.0], [nan, nan, nan, nan]], device)
    v, i = mg.median(x, 1)
    assert np.isnan(v.numpy()).all()
    np.testing.assert_array_equal(i.numpy(), [1, 0, 0])                 # the first NaN
    v, i = mg.nanmedian(x, 1)
    np.testing.assert_array_equal(v.numpy()[:2], [1.0, 1.0])            # of [3, 1, 0] and [1, 2]
    np.testing.assert_array_equal(i.numpy()[:2], [2, 2])
    assert np.isnan(v.numpy()[2])
    assert np.isnan(mg.median(x).item()) and mg.nanmedian(x).item() == 1.0
    assert mg.median(T([3, 1, 2, 2], device, dtype=np.int64)).item() == 2
    with pytest.raises(IndexError, match="size 0") as e:
        mg.median(T(np.zeros((0, 2)), device), 0)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- PyTorch spellings
def test_pytorch_function_and_method_spellings(device):
    a = T([[1.0, -2.0, 0.0], [3.0, 0.0, 4.0]], device)
    b = T([0.5, 2.0, -1.0], device)
    c = T([[2.0], [4.0]], device)
    np.testing.assert_allclose(mg.addcmul(a, b, c, value=0.5).numpy(), a.numpy() + 0.5 * b.numpy() * c.numpy())
    np.testing.assert_allclose(a.addcdiv(b, c, value=-2).numpy(), a.numpy() - 2 * b.numpy() / c.numpy())
    np.testing.assert_array_equal(mg.nonzero(a).numpy(), [[0, 0], [0, 1], [1, 0], [1, 2]])
    rows, cols = mg.nonzero(a, as_tuple=True)
    np.testing.assert_array_equal(rows.numpy(), [0, 0, 1, 1])
    np.testing.assert_array_equal(cols.numpy(), [0, 1, 0, 2])
    np.testing.assert_array_equal(a.select(1, -1).numpy(), [0.0, 4.0])
    np.testing.assert_array_equal(mg.select(a, 0, 1).numpy(), [3.0, 0.0, 4.0])
    assert a.view_as(T(np.zeros((3, 2)), device)).shape == (3, 2) and mg.ravel(a).shape == (6,)
    assert [p.shape for p in mg.chunk(a, 2, 1)] == [(2, 2), (2, 1)] and mg.unsqueeze(a, 0).shape == (1, 2, 3)
    np.testing.assert_array_equal(mg.mm(a, a.T).numpy(), a.numpy() @ a.numpy().T)
    np.testing.assert_array_equal(mg.eq(a, 0.0).numpy(), a.numpy() == 0)
    np.testing.assert_array_equal(a.absolute().numpy(), np.abs(a.numpy()))
    assert a.nelement() == 6 and a.ndimension() == 2 and a.is_contiguous() and a.grad_fn is None
    assert (T([1.0], device, requires_grad=True) * 2).grad_fn is not None and a.nbytes == 48 and a.itemsize == 8
    y = T(np.zeros(3), device)
    assert y.fill_(2.5) is y
    y.clamp_(0.0, 1.0).exp_()
    np.testing.assert_allclose(y.numpy(), [math.e] * 3)
    y.masked_fill_(T([True, False, True], device, dtype=bool), 0.0)
    np.testing.assert_allclose(y.numpy(), [0.0, math.e, 0.0])
    w = T([1.0], device, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.exp_()


def test_size_survives_pickle_and_copy_as_the_count(device):
    import copy
    import pickle
    x = T(np.zeros((2, 3)), device)
    assert pickle.loads(pickle.dumps(x.size)) == 6 and copy.deepcopy(x.size) == 6


# --------------------------------------------------------------------------- NaN through the shrinks
def test_shrinks_and_threshold_keep_nan_and_their_bands(device):
    """hardshrink, softshrink and threshold turned a NaN into 0 (or ``value``): the band test
    ``|x| > λ`` is False for NaN.  The definitions (F.hardshrink: 0 where -λ ≤ x ≤ λ, x
    elsewhere; F.threshold: value where x ≤ threshold) keep it, and its gradient is 1."""
    nan = math.nan
    data = [nan, 0.2, 0.5, -0.5, 1.0, -1.0]
    x = T(data, device, requires_grad=True)
    cases = {
        "hardshrink": (mg.hardshrink(x, 0.5), [nan, 0.0, 0.0, 0.0, 1.0, -1.0], [1, 0, 0, 0, 1, 1]),
        "softshrink": (mg.softshrink(x, 0.5), [nan, 0.0, 0.0, 0.0, 0.5, -0.5], [1, 0, 0, 0, 1, 1]),
        "threshold": (mg.threshold(x, 0.5, -3.0), [nan, -3.0, -3.0, -3.0, 1.0, -3.0], [1, 0, 0, 0, 1, 0]),
    }
    for name, (out, values, slopes) in cases.items():
        np.testing.assert_array_equal(out.numpy(), values, err_msg=name)
        g, = mg.grad(out.sum(), x)
        np.testing.assert_array_equal(g.numpy(), slopes, err_msg=name)
    away = T([0.9, -0.7, 0.1, 2.0], device, requires_grad=True)
    for f in (lambda t: mg.softshrink(t, 0.3), lambda t: mg.hardshrink(t, 0.3), lambda t: mg.threshold(t, 0.3, 2.0)):
        assert mg.gradcheck(f, (away,))


def test_keyword_spellings_pytorch_code_uses(device):
    """``x.flip(dims=[0])``, ``x.repeat(repeats=...)``, ``dtype=mg.int64`` and the losses'
    ``target=`` raised TypeErrors (a lambda's name, a missing attribute, ``targets=``)."""
    data = np.arange(6.0).reshape(2, 3)
    x = T(data, device)
    np.testing.assert_array_equal(x.flip(dims=[0]).numpy(), data[::-1])
    np.testing.assert_array_equal(x.flip(dims=(0, 1)).numpy(), data[::-1, ::-1])
    assert x.repeat(repeats=(2, 1)).shape == (4, 3)
    with pytest.raises(TypeError, match="as arguments or as dims="):
        x.flip(0, dims=1)
    assert mg.zeros(2, dtype=mg.int64).dtype == np.int64 and mg.long == np.int64 and mg.double == np.float64
    assert T([1.0], device).astype(mg.bool).dtype == np.bool_ and mg.float32 == np.float32
    logits = T([[2.0, 0.5, -1.0]], device)
    expected = -(2.0 - math.log(math.exp(2.0) + math.exp(0.5) + math.exp(-1.0)))
    np.testing.assert_allclose(mg.cross_entropy(logits, target=T([0], device, dtype=np.int64)).item(), expected)
    np.testing.assert_allclose(mg.nll_loss(logits, target=T([1], device, dtype=np.int64)).item(), -0.5)
    p = T([0.25], device)
    np.testing.assert_allclose(mg.binary_cross_entropy(p, target=T([1.0], device)).item(), math.log(4))
