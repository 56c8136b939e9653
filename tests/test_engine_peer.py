"""What peer engines' op tests found missing or different, and its fixes.

tinygrad's test/test_ops.py (its helper_test_op cases), micrograd's test/test_engine.py and some
minitorch and DeZero gradient tests were run against minigrad and PyTorch 2.13 outside the
suite (the adapter is not part of it: CI has no torch).  They found one silent difference,
``x[1, :, [0, 2]]`` taking NumPy's axis order instead of PyTorch's, and PyTorch ops that were
missing: mish, hardswish, hardsigmoid, relu6, selu, celu, softsign, hardtanh, softmin,
tanhshrink, hardshrink, softshrink, threshold, glu, logsigmoid, prelu, rrelu; asinh, acosh,
atanh, copysign, hypot, sinc, xlogy, logit, deg2rad, float_power; isinf and its signed forms;
div(rounding_mode=), add/sub(alpha=); nansum, nanmean, count_nonzero, std_mean, var_mean;
movedim, narrow, unflatten, expand_as, hstack/vstack/dstack/column_stack, masked_select,
clamp_min/max, x.where; l1, smooth-L1, Huber and KL losses, mse_loss, cosine_similarity,
normalize, pairwise_distance, cdist, layer_norm, linear, inner.

Values are checked against formulas written here with NumPy and math (independent of the code
under test), derivatives against central differences in float64 (``mg.gradcheck``) and, at the
kinks, against PyTorch's conventions written out by hand.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T

X = np.array([-4.0, -2.2, -1.3, -0.4, 0.35, 1.1, 2.6, 4.5, 7.0])          # no kink among them
SELU_A, SELU_L = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def sig(x):
    return 1 / (1 + np.exp(-x))


ACTIVATIONS = {   # name: (minigrad call, NumPy reference)
    "mish": (mg.mish, lambda x: x * np.tanh(np.log1p(np.exp(x)))),
    "hardswish": (mg.hardswish, lambda x: x * np.clip(x + 3, 0, 6) / 6),
    "hardsigmoid": (mg.hardsigmoid, lambda x: np.clip(x + 3, 0, 6) / 6),
    "relu6": (mg.relu6, lambda x: np.clip(x, 0, 6)),
    "selu": (mg.selu, lambda x: SELU_L * np.where(x > 0, x, SELU_A * (np.exp(x) - 1))),
    "celu2": (lambda x: mg.celu(x, 2.0), lambda x: np.where(x > 0, x, 2 * (np.exp(x / 2) - 1))),
    "softsign": (mg.softsign, lambda x: x / (1 + np.abs(x))),
    "hardtanh": (lambda x: mg.hardtanh(x, -2.0, 3.0), lambda x: np.clip(x, -2, 3)),
    "tanhshrink": (mg.tanhshrink, lambda x: x - np.tanh(x)),
    "hardshrink": (lambda x: mg.hardshrink(x, 1.0), lambda x: np.where(np.abs(x) > 1, x, 0)),
    "softshrink": (lambda x: mg.softshrink(x, 1.0), lambda x: np.sign(x) * np.maximum(np.abs(x) - 1, 0)),
    "threshold": (lambda x: mg.threshold(x, 0.5, -7.0), lambda x: np.where(x > 0.5, x, -7.0)),
    "logsigmoid": (mg.logsigmoid, lambda x: -np.log1p(np.exp(-x))),
    "rrelu": (mg.rrelu, lambda x: np.where(x > 0, x, x * (1 / 8 + 1 / 3) / 2)),
    "asinh": (mg.asinh, np.vectorize(math.asinh)),
    "atanh": (lambda x: mg.atanh(x / 8), lambda x: np.vectorize(math.atanh)(x / 8)),
    "acosh": (lambda x: mg.acosh(x * x + 1.5), lambda x: np.vectorize(math.acosh)(x * x + 1.5)),
    "sinc": (mg.sinc, lambda x: np.sin(np.pi * x) / (np.pi * x)),
    "logit": (lambda x: mg.logit(mg.sigmoid(x)), lambda x: x),                  # logit(σ(x)) = x
    "deg2rad": (mg.deg2rad, lambda x: x * math.pi / 180),
    "rad2deg": (mg.rad2deg, lambda x: x * 180 / math.pi),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_new_elementwise_functions_values_and_gradients(name, device):
    fn, ref = ACTIVATIONS[name]
    np.testing.assert_allclose(fn(T(X, device)).numpy(), ref(X), rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(fn, [T(X, device, True)])


def test_derivatives_at_the_kinks_are_pytorchs(device):
    """PyTorch 2.13's values, written out (the kinks are where compositions go wrong)."""
    def d(fn, pts):
        x = T(pts, device, True)
        fn(x).sum().backward()
        return x.grad.numpy().tolist()
    assert d(mg.hardswish, [-3.0, 3.0, 0.0, -4.0, 4.0]) == [0.0, 1.0, 0.5, 0.0, 1.0]
    assert d(mg.relu6, [0.0, 6.0, 3.0]) == [0.0, 0.0, 1.0]
    assert d(lambda x: mg.hardtanh(x, -1.0, 1.0), [-1.0, 1.0, 0.0]) == [0.0, 0.0, 1.0]
    assert d(mg.hardsigmoid, [-3.0, 3.0, 0.0]) == [0.0, 0.0, 1 / 6]
    assert d(lambda x: mg.celu(x, 2.0), [0.0]) == [1.0]
    assert d(mg.selu, [0.0]) == pytest.approx([SELU_L * SELU_A], rel=1e-15)
    assert d(lambda x: mg.hardshrink(x, 0.5), [0.5, -0.5, 0.6]) == [0.0, 0.0, 1.0]
    assert d(lambda x: mg.softshrink(x, 0.5), [0.5, -0.5, -0.6]) == [0.0, 0.0, 1.0]
    assert d(lambda x: mg.threshold(x, 0.5, 2.0), [0.5, 0.6]) == [0.0, 1.0]
    assert d(mg.sinc, [0.0]) == [0.0] and mg.sinc(T([0.0], device)).numpy().tolist() == [1.0]
    assert d(lambda x: mg.prelu(x, T([0.25], device)), [0.0, -2.0, 1.0]) == [0.25, 0.25, 1.0]


def test_large_inputs_give_finite_values_and_gradients(device):
    """The branch not taken (e^x of a large x) must not turn the gradient into NaN."""
    for fn in (mg.mish, mg.selu, lambda x: mg.celu(x, 0.5), mg.softsign, mg.hardswish):
        x = T([1000.0, -1000.0], device, True)
        out = fn(x)
        out.sum().backward()
        assert np.isfinite(out.numpy()).all() and np.isfinite(x.grad.numpy()).all()
    np.testing.assert_allclose(mg.mish(T([1000.0, -1000.0], device)).numpy(), [1000.0, 0.0])


def test_softmin_glu_prelu(device):
    x = np.array([[0.3, -1.2, 2.0, 0.1], [1.0, 1.0, -0.5, 0.0]])
    e = np.exp(-x)
    np.testing.assert_allclose(mg.softmin(T(x, device), 1).numpy(), e / e.sum(1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(mg.glu(T(x, device)).numpy(), x[:, :2] * sig(x[:, 2:]), rtol=1e-14)
    w = np.array([0.1, 0.2, 0.3, 0.4]).reshape(1, 4)   # prelu: one slope per channel (axis 1)
    y = np.array([[[-1.0, 2.0]] * 4])                   # (1, 4, 2)
    np.testing.assert_allclose(mg.prelu(T(y, device), T(w.ravel(), device)).numpy(),
                               np.where(y > 0, y, w.reshape(1, 4, 1) * y))
    assert mg.gradcheck(lambda a: mg.glu(a, 0), [T(x, device, True)])
    assert mg.gradcheck(lambda a, s: mg.prelu(a, s), [T(y * 1.3 + 0.1, device, True), T(w.ravel(), device, True)])


def test_binary_functions(device):
    a, b = np.array([1.5, -2.0, 0.0, 3.0]), np.array([-0.5, 2.5, -1.0, 4.0])
    A, B = T(a, device), T(b, device)
    np.testing.assert_array_equal(mg.copysign(A, B).numpy(), [-1.5, 2.0, -0.0, 3.0])
    np.testing.assert_allclose(mg.hypot(A, B).numpy(), np.sqrt(a * a + b * b), rtol=1e-15)
    np.testing.assert_allclose(mg.xlogy(A, T(np.abs(b), device)).numpy(), [1.5 * math.log(0.5), -2.0 * math.log(2.5),
                                                                         0.0, 3.0 * math.log(4.0)], rtol=1e-15)
    np.testing.assert_array_equal(mg.xlogy(T([0.0], device), T([0.0], device)).numpy(), [0.0])   # 0 log 0 = 0
    np.testing.assert_allclose(mg.float_power(T([2, 3], device, dtype=np.int32), 0.5).numpy(), [2 ** 0.5, 3 ** 0.5])
    assert mg.float_power(T([2.0], device, dtype=np.float32), 2).dtype == np.float64
    # gradients: copysign's is out / a (0 at a = 0) for a and 0 for b; xlogy's is log y and x / y
    x, y = T(a, device, True), T(b, device, True)
    mg.copysign(x, y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [-1.0, -1.0, 0.0, 1.0])
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0, 0.0, 0.0])
    x, y = T([0.0, 2.0, 0.0], device, True), T([3.0, 4.0, -1.0], device, True)
    with np.errstate(all="ignore"):
        mg.xlogy(x, y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [math.log(3.0), math.log(4.0), 0.0])   # 0 only where y <= 0 too
    np.testing.assert_allclose(y.grad.numpy(), [0.0, 0.5, 0.0])
    assert mg.gradcheck(mg.hypot, [T(a, device, True), T(b, device, True)])
    assert mg.gradcheck(mg.xlogy, [T(a, device, True), T(np.abs(b) + 0.2, device, True)])   # a = 0 included


def test_divide_rounding_modes_and_alpha(device):
    a = T([7, -7, 5, -5, 0], device, dtype=np.int64)
    assert mg.div(a, 2, rounding_mode="trunc").numpy().tolist() == [3, -3, 2, -2, 0]
    assert mg.div(a, 2, rounding_mode="floor").numpy().tolist() == [3, -4, 2, -3, 0]
    assert mg.div(a, 2, rounding_mode="trunc").dtype == np.int64
    assert a.div(-2, rounding_mode="trunc").numpy().tolist() == [-3, 3, -2, 2, 0]
    f = T([7.5, -7.5], device, True)
    out = f.div(2.0, rounding_mode="trunc")
    assert out.numpy().tolist() == [3.0, -3.0]
    out.sum().backward()
    assert f.grad.numpy().tolist() == [0.0, 0.0]                   # PyTorch: zero derivative
    np.testing.assert_allclose(mg.div(T([1.0], device), 4).numpy(), [0.25])
    x, y = T([1.0, 2.0], device, True), T([3.0, 5.0], device, True)
    x.add(y, alpha=2).sub(y, alpha=0.5).sum().backward()
    assert y.grad.numpy().tolist() == [1.5, 1.5] and x.grad.numpy().tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="rounding_mode must be"):
        mg.div(a, 2, rounding_mode="round")


# --------------------------------------------------------------------------- the silent one: indexing
def test_ints_mixed_with_index_arrays_take_pytorchs_axis_order(device):
    """x[1, :, [0, 2]]: PyTorch applies the int first, shape (3, 2); NumPy alone gives (2, 3)."""
    x = np.arange(24.0).reshape(2, 3, 4)
    X = T(x, device, True)
    out = X[1, :, [0, 2]]
    assert out.shape == (3, 2)
    np.testing.assert_array_equal(out.numpy(), [[x[1, i, j] for j in (0, 2)] for i in range(3)])
    g = np.arange(6.0).reshape(3, 2)
    out.backward(T(g, device))
    expected = np.zeros_like(x)
    for i in range(3):
        for k, j in enumerate((0, 2)):
            expected[1, i, j] += g[i, k]
    np.testing.assert_array_equal(X.grad.numpy(), expected)
    y = np.arange(120.0).reshape(2, 3, 4, 5)
    Y = T(y, device)
    assert Y[0, :, [1, 2], 1].shape == (3, 2)                               # ints at both ends
    np.testing.assert_array_equal(Y[0, :, [1, 2], 1].numpy(), y[0][:, [1, 2]][..., 1])
    assert Y[None, 1, :, [0, 3]].shape == (1, 3, 2, 5)                     # PyTorch 2.13's shapes
    assert Y[[0, 1], :, 2, [1, 3]].shape == (2, 3)
    assert Y[..., 1, [0, 3]].shape == (2, 3, 2)                             # adjacent: as before
    np.testing.assert_array_equal(Y[1, [0, 2]].numpy(), y[1][[0, 2]])
    mask = np.array([True, False, True])
    np.testing.assert_array_equal(Y[1, mask, 2].numpy(), y[1][mask][:, 2])
    Z = T(np.zeros((2, 2, 4)), device)                  # assignment takes the same order
    Z[1, :, [0, 2]] = T([[1.0, 2.0], [3.0, 4.0]], device)
    np.testing.assert_array_equal(Z.numpy()[1], [[1.0, 0.0, 2.0, 0.0], [3.0, 0.0, 4.0, 0.0]])


# --------------------------------------------------------------------------- shapes, reductions
def test_shape_functions(device):
    x = np.arange(24.0).reshape(2, 3, 4)
    X = T(x, device)
    assert X.movedim(0, 2).shape == (3, 4, 2) and mg.moveaxis(X, (0, 1), (2, 0)).shape == (3, 4, 2)
    np.testing.assert_array_equal(mg.movedim(X, (0, 1), (2, 0)).numpy(), np.moveaxis(x, (0, 1), (2, 0)))
    np.testing.assert_array_equal(X.narrow(2, 1, 2).numpy(), x[:, :, 1:3])
    np.testing.assert_array_equal(X.narrow(-1, -2, 2).numpy(), x[:, :, 2:4])
    assert X.unflatten(2, (2, -1)).shape == (2, 3, 2, 2)
    assert T([[1.0], [2.0]], device).expand_as(X[0, :2]).shape == (2, 4)
    a, b = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    for mgf, npf in [(mg.hstack, np.hstack), (mg.vstack, np.vstack), (mg.dstack, np.dstack),
                     (mg.column_stack, np.column_stack)]:
        np.testing.assert_array_equal(mgf([T(a, device), T(b, device)]).numpy(), npf([a, b]))
        np.testing.assert_array_equal(mgf([X[0], X[1]]).numpy(), npf([x[0], x[1]]))
    np.testing.assert_array_equal(X.masked_select(X > 20).numpy(), [21.0, 22.0, 23.0])
    m = np.array([True, False, False, True])                                # broadcast over rows
    np.testing.assert_array_equal(mg.masked_select(X, T(m, device, dtype=bool)).numpy(),
                                  x[np.broadcast_to(m, x.shape)])
    assert mg.gradcheck(lambda t: t.movedim(0, -1).narrow(0, 1, 2).masked_select(T([True, False], device, dtype=bool)),
                        [T(x / 10, device, True)])


def test_clamp_min_max_where_isinf(device):
    x = T([-2.0, 0.5, 3.0], device)
    assert x.clamp_min(0.0).numpy().tolist() == [0.0, 0.5, 3.0]
    assert x.clamp_max(1.0).numpy().tolist() == [-2.0, 0.5, 1.0]
    assert x.where(x > 0, -1.0).numpy().tolist() == [-1.0, 0.5, 3.0]
    v = T([-np.inf, 0.0, np.inf, np.nan], device)
    assert v.isinf().numpy().tolist() == [True, False, True, False]
    assert mg.isposinf(v).numpy().tolist() == [False, False, True, False]
    assert mg.isneginf(v).numpy().tolist() == [True, False, False, False]


def test_nan_reductions_counts_and_pairs(device):
    x = np.array([[1.0, np.nan, 2.0], [np.nan, np.nan, 4.0]])
    X = T(x, device, True)
    np.testing.assert_array_equal(X.nansum(dim=1).numpy(), [3.0, 4.0])
    with np.errstate(invalid="ignore"):                                      # 0/0 for the all-NaN column
        np.testing.assert_array_equal(mg.nanmean(X, 0).numpy(), [1.0, np.nan, 3.0])
    X.nansum().backward()
    np.testing.assert_array_equal(X.grad.numpy(), [[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])
    c = T([[0.0, 1.0, -2.0], [0.0, 0.0, 3.0]], device).count_nonzero(dim=1)
    assert c.numpy().tolist() == [2, 1] and c.dtype == np.int64
    y = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 9.0]])
    s, m = mg.std_mean(T(y, device), dim=1)
    np.testing.assert_allclose(s.numpy(), y.std(1, ddof=1), rtol=1e-14)
    np.testing.assert_allclose(m.numpy(), y.mean(1), rtol=1e-14)
    v, m = mg.var_mean(T(y, device), 0, correction=0)
    np.testing.assert_allclose(v.numpy(), y.var(0), rtol=1e-14)


# --------------------------------------------------------------------------- losses, similarity
def test_regression_losses(device):
    p, t = np.array([0.2, -1.5, 3.0, 0.9]), np.array([0.0, 0.5, 1.0, 1.0])
    d = p - t
    refs = {
        "l1": (lambda a, b, r: mg.l1_loss(a, b, r), np.abs(d)),
        "mse": (lambda a, b, r: mg.mse_loss(a, b, r), d * d),
        "smooth_l1": (lambda a, b, r: mg.smooth_l1_loss(a, b, r), np.where(np.abs(d) < 1, 0.5 * d * d, np.abs(d) - 0.5)),
        "smooth_l1_b0.5": (lambda a, b, r: mg.smooth_l1_loss(a, b, r, beta=0.5),
                           np.where(np.abs(d) < 0.5, d * d, np.abs(d) - 0.25)),
        "huber_2": (lambda a, b, r: mg.huber_loss(a, b, r, delta=2.0),
                    np.where(np.abs(d) <= 2, 0.5 * d * d, 2 * (np.abs(d) - 1))),
    }
    for name, (fn, losses) in refs.items():
        np.testing.assert_allclose(fn(T(p, device), T(t, device), "none").numpy(), losses, rtol=1e-14)
        np.testing.assert_allclose(fn(T(p, device), T(t, device), "sum").numpy(), losses.sum(), rtol=1e-14)
        np.testing.assert_allclose(fn(T(p, device), T(t, device), "mean").numpy(), losses.mean(), rtol=1e-14)
        assert mg.gradcheck(lambda a, b: fn(a, b, "mean"), [T(p, device, True), T(t, device, True)]), name


def test_kl_div(device):
    logq = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]]))
    p = np.array([[0.0, 0.5, 0.5], [0.7, 0.2, 0.1]])
    terms = np.where(p > 0, p * (np.log(np.where(p > 0, p, 1)) - logq), 0.0)
    L, P = T(logq, device), T(p, device)
    np.testing.assert_allclose(mg.kl_div(L, P, "none").numpy(), terms, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(mg.kl_div(L, P, "batchmean").numpy(), terms.sum() / 2, rtol=1e-14)
    np.testing.assert_allclose(mg.kl_div(L, P).numpy(), terms.mean(), rtol=1e-14)
    np.testing.assert_allclose(mg.kl_div(L, T(np.log(p + 1e-300), device), "sum", log_target=True).numpy(),
                               terms.sum(), rtol=1e-12)
    assert mg.gradcheck(lambda a: mg.kl_div(a, P, "batchmean"), [T(logq, device, True)])
    with pytest.raises(ValueError, match="batchmean"):
        mg.kl_div(L, P, "avg")


def test_similarity_distance_and_normalization(device):
    a = np.array([[1.0, 2.0, 2.0], [0.5, -1.0, 3.0]])
    b = np.array([[2.0, 0.0, 1.0], [1.0, 1.0, -1.0]])
    A, B = T(a, device), T(b, device)
    na, nb = np.sqrt((a * a).sum(1)), np.sqrt((b * b).sum(1))
    np.testing.assert_allclose(mg.cosine_similarity(A, B).numpy(), (a * b).sum(1) / (na * nb), rtol=1e-14)
    np.testing.assert_allclose(mg.cosine_similarity(A, B[:1]).numpy(), (a * b[:1]).sum(1) / (na * nb[0]), rtol=1e-14)
    np.testing.assert_allclose(mg.normalize(A).numpy(), a / na[:, None], rtol=1e-14)
    np.testing.assert_allclose(mg.normalize(A, p=1, dim=0).numpy(), a / np.abs(a).sum(0), rtol=1e-14)
    np.testing.assert_allclose(mg.pairwise_distance(A, B).numpy(), np.sqrt(((a - b + 1e-6) ** 2).sum(1)), rtol=1e-14)
    np.testing.assert_allclose(mg.cdist(A, B).numpy(),
                               [[np.sqrt(((a[i] - b[j]) ** 2).sum()) for j in range(2)] for i in range(2)], rtol=1e-14)
    mu, var = a.mean(1, keepdims=True), a.var(1, keepdims=True)
    w, bias = np.array([1.0, 2.0, 0.5]), np.array([0.1, 0.0, -0.1])
    np.testing.assert_allclose(mg.layer_norm(A, (3,), T(w, device), T(bias, device)).numpy(),
                               (a - mu) / np.sqrt(var + 1e-5) * w + bias, rtol=1e-12)
    W = np.array([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(mg.linear(A, T(W, device), T([1.0, 2.0], device)).numpy(), a @ W.T + [1.0, 2.0])
    np.testing.assert_allclose(mg.inner(A, B).numpy(), a @ b.T)
    assert mg.inner(T(np.ones((2, 2, 3)), device), B).shape == (2, 2, 2)
    for fn in (lambda x, y: mg.cosine_similarity(x, y), lambda x, y: mg.cdist(x, y),
               lambda x, y: mg.layer_norm(x * y, (3,)), lambda x, y: mg.normalize(x) + y):
        assert mg.gradcheck(fn, [T(a, device, True), T(b, device, True)])


def test_bad_arguments_say_what_is_allowed(device):
    x = T([[1.0, 2.0, 3.0]], device)
    for call, kind, match in [
            (lambda: mg.celu(x, 0.0), ValueError, "alpha must not be 0"),
            (lambda: mg.glu(x), ValueError, "even size"),
            (lambda: mg.hardshrink(x, -1.0), ValueError, "lambd must be >= 0"),
            (lambda: mg.movedim(x, (0, 1), 0), ValueError, "same length"),
            (lambda: x.narrow(1, 2, 5), IndexError, "do not fit"),
            (lambda: mg.huber_loss(x, x, delta=0.0), ValueError, "delta must be > 0"),
            (lambda: mg.smooth_l1_loss(x, x[:, :2]), ValueError, "differ"),
            (lambda: mg.prelu(x, T([1.0, 2.0], device)), ValueError, "weight must have shape"),
            (lambda: mg.rrelu(x, 0.5, 0.1, training=True), ValueError, "lower must not be greater than upper"),
            (lambda: mg.layer_norm(x, (2,)), ValueError, "normalized_shape"),
            (lambda: mg.inner(x, T([1.0, 2.0], device)), ValueError, "last dimensions")]:
        with pytest.raises(kind, match=match) as e:
            call()
        assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- second batch
def test_erfc_is_accurate_where_one_minus_erf_cancels(device):
    xs = [-30.0, -5.0, -1.0, -0.3, 0.0, 0.2, 0.46875, 0.5, 1.0, 3.9, 4.1, 10.0, 26.0, 27.0, 40.0]
    np.testing.assert_allclose(mg.erfc(T(xs, device)).numpy(), [math.erfc(v) for v in xs], rtol=1e-15, atol=1e-321)
    np.testing.assert_allclose(T(xs, device).erf().numpy(), [math.erf(v) for v in xs], rtol=1e-15, atol=2e-16)
    x = T([-1.0, 0.5, 2.0], device, True)
    x.erfc().sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [-2 / math.sqrt(math.pi) * math.exp(-v * v) for v in (-1.0, 0.5, 2.0)])


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes(mode, device):
    x = np.arange(15.0).reshape(3, 5)
    numpy_mode = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    np.testing.assert_array_equal(mg.pad(T(x, device), (3, 2, 1, 2), mode=mode).numpy(),
                                  np.pad(x, ((1, 2), (3, 2)), mode=numpy_mode))
    if mode != "circular":                                  # negative amounts cut (PyTorch's result)
        np.testing.assert_array_equal(mg.pad(T(x, device), (-1, 2), mode=mode).numpy(),
                                      np.pad(x, ((0, 0), (0, 2)), mode=numpy_mode)[:, 1:])
    # gradient: each element gets ḡ once per copy of it in the output
    X = T(x, device, True)
    mg.pad(X, (2, 1), mode=mode).sum().backward()
    copies = np.zeros(5)
    np.add.at(copies, np.pad(np.arange(5), (2, 1), mode=numpy_mode), 1)
    np.testing.assert_array_equal(X.grad.numpy(), np.broadcast_to(copies, (3, 5)))
    too_much = {"reflect": (5, 0), "circular": (6, 0), "replicate": None}[mode]   # replicate: no limit
    if too_much:
        with pytest.raises(ValueError, match="pad: ") as e:
            mg.pad(T(x, device), too_much, mode=mode)
        assert "\n" not in str(e.value)
    else:
        assert mg.pad(T(x, device), (9, 9), mode=mode).numpy()[0].tolist() == [0.0] * 10 + [1, 2, 3] + [4.0] * 10
    with pytest.raises(ValueError, match="mode must be"):
        mg.pad(T(x, device), (1, 1), mode="mirror")


def test_unfold_tensor_split_tensordot_cross(device):
    x = np.arange(24.0).reshape(2, 12)
    X = T(x, device, True)
    w = X.unfold(1, 4, 3)
    assert w.shape == (2, 3, 4)
    np.testing.assert_array_equal(w.numpy()[1, 2], x[1, 6:10])
    w.sum().backward()                                     # windows 0-3, 3-6, 6-9: 3 and 6 twice, 10, 11 never
    np.testing.assert_array_equal(X.grad.numpy()[0], [1, 1, 1, 2, 1, 1, 2, 1, 1, 1, 0, 0])
    assert [p.shape[1] for p in T(x, device).tensor_split(5, 1)] == [3, 3, 2, 2, 2]
    assert [p.shape[1] for p in T(x, device).tensor_split([2, 7, 30], 1)] == [2, 5, 5, 0]
    a, b = np.arange(24.0).reshape(2, 3, 4) / 7, np.arange(36.0).reshape(4, 3, 3) / 5
    np.testing.assert_allclose(mg.tensordot(T(a, device), T(b, device), ([1, 2], [1, 0])).numpy(),
                               np.tensordot(a, b, ([1, 2], [1, 0])), rtol=1e-14)
    np.testing.assert_allclose(mg.tensordot(T(a, device), T(b[:, :, 0].T, device), 2).numpy(),
                               np.tensordot(a, b[:, :, 0].T, 2), rtol=1e-14)
    u, v = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0]]), np.array([[-2.0, 0.0, 1.0]])
    np.testing.assert_allclose(mg.cross(T(u, device), T(v, device)).numpy(), np.cross(u, v))
    assert mg.gradcheck(lambda p, q: mg.cross(p, q, dim=0), [T(u.T, device, True), T(v.T * 2, device, True)])
    assert mg.gradcheck(lambda p, q: mg.tensordot(p, q, ([1, 2], [1, 0])), [T(a, device, True), T(b, device, True)])


def test_scatter_add_and_index_add(device):
    x = np.zeros((3, 4))
    index = np.array([[0, 1, 2, 0], [2, 2, 0, 1]])
    src = np.arange(1.0, 13.0).reshape(3, 4)             # only the (2, 4) part is used, as in PyTorch
    expected = x.copy()
    for i in range(2):
        for j in range(4):
            expected[index[i, j], j] += src[i, j]
    X, S = T(x, device, True), T(src, device, True)
    out = X.scatter_add(0, T(index, device, dtype=np.int64), S)
    np.testing.assert_array_equal(out.numpy(), expected)
    g = np.arange(12.0).reshape(3, 4)
    out.backward(T(g, device))
    np.testing.assert_array_equal(X.grad.numpy(), g)
    np.testing.assert_array_equal(S.grad.numpy(), np.vstack([g[index, np.arange(4)], np.zeros((1, 4))]))
    y = mg.index_add(T(np.ones((4, 2)), device), 0, T([3, 0, 3], device, dtype=np.int64),
                     T([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device), alpha=2)
    np.testing.assert_array_equal(y.numpy(), [[7.0, 9.0], [1.0, 1.0], [1.0, 1.0], [13.0, 17.0]])
    with pytest.raises(ValueError, match="len\\(index\\)"):
        mg.index_add(T(np.ones((4, 2)), device), 0, T([0], device, dtype=np.int64), T(np.ones((2, 2)), device))
