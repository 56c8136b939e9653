"""PyTorch users' habits that minigrad now has: the ops, conversions, functions and hooks they
reach for (``x.int()``, ``mg.atan2``, ``x.cumprod(0)``, ``mg.hessian``, ``out, hv = mg.hvp(...)``,
``x.register_hook``...).

Values are checked against independent references (``math``, NumPy, formulas written here);
first derivatives against central differences in float64 (``mg.gradcheck``) and against closed
forms written in the test; second derivatives with ``gradcheck(order=2)`` for the smooth ones.
PyTorch 2.13's own numbers were compared outside the suite (values, dtypes, shapes, first and
second derivatives); the conventions it fixed (fmod's sign, nan_to_num's gradient, cumprod with
zeros, atan2 at the origin, asin at ±1) are asserted here from their definitions.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T


def away_from_zero(seed, shape, low=0.3, high=1.2):
    r = np.random.default_rng(seed)
    return r.uniform(low, high, shape) * r.choice([-1.0, 1.0], shape)


def grad_of(f, x, device, g=None):
    """d/dx <g, f(x)> (g: ones) as a NumPy array."""
    X = T(x, device, True)
    out = f(X)
    out.backward(T(np.ones(out.shape) if g is None else g, device))
    return X.grad.numpy()


def one_line_error(kind, call, match):
    with pytest.raises(kind, match=match) as e:
        call()
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- smooth elementwise
LN2, LN10 = math.log(2), math.log(10)
SMOOTH = {   # name: (math reference, closed-form derivative, domain of the test points)
    "tan": (math.tan, lambda x: 1 / np.cos(x) ** 2, "any"),
    "sinh": (math.sinh, np.cosh, "any"),
    "cosh": (math.cosh, np.sinh, "any"),
    "asin": (math.asin, lambda x: 1 / np.sqrt(1 - x * x), "unit"),
    "acos": (math.acos, lambda x: -1 / np.sqrt(1 - x * x), "unit"),
    "atan": (math.atan, lambda x: 1 / (1 + x * x), "any"),
    "log2": (math.log2, lambda x: 1 / (x * LN2), "positive"),
    "log10": (math.log10, lambda x: 1 / (x * LN10), "positive"),
    "exp2": (lambda v: 2.0 ** v, lambda x: 2.0 ** x * LN2, "any"),
}


def points(kind, shape=(2, 3), seed=0):
    x = away_from_zero(seed, shape)
    return {"any": x, "unit": x * 0.7, "positive": np.abs(x)}[kind]


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_functions_values_and_derivatives(name, device):
    ref, derivative, kind = SMOOTH[name]
    x = points(kind)
    fn, method = getattr(mg, name), (lambda t: getattr(t, name)())
    expected = np.vectorize(ref)(x)
    np.testing.assert_allclose(fn(T(x, device)).numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(method(T(x, device)).numpy(), expected, rtol=1e-14)
    np.testing.assert_allclose(grad_of(fn, x, device), derivative(x), rtol=1e-13)
    for order in (1, 2):
        assert mg.gradcheck(fn, [T(x, device, True)], order=order)
    x32 = fn(T(x, device, dtype=np.float32))
    assert x32.dtype == np.float32 and x32.shape == (2, 3)
    assert fn(T([1], device, dtype=np.int64)).dtype == np.float64         # integers: the default float
    assert fn(T(x[0, 0], device)).shape == ()


def test_asin_acos_at_the_edges_of_their_domain(device):
    """±1: the derivative ±1/√0 is infinite (+∞ for asin, -∞ for acos); beyond: NaN."""
    x = np.array([1.0, -1.0, 2.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        ga, gc = grad_of(mg.asin, x, device), grad_of(mg.acos, x, device)
        va = mg.asin(T(x, device)).numpy()
    np.testing.assert_array_equal(ga[:2], [np.inf, np.inf])
    np.testing.assert_array_equal(gc[:2], [-np.inf, -np.inf])
    assert np.isnan(ga[2]) and np.isnan(gc[2]) and np.isnan(va[2])
    np.testing.assert_allclose(va[:2], [math.pi / 2, -math.pi / 2], rtol=1e-15)
    assert mg.log2(T([8.0, 1024.0], device)).numpy().tolist() == [3.0, 10.0]     # exact, as xp.log2


def test_atan2_quadrants_broadcasting_and_gradients(device):
    a = np.array([[1.0, -1.0, 1.0, -1.0], [0.5, 2.0, -3.0, 0.25]])
    b = np.array([2.0, 2.0, -2.0, -2.0])
    expected = np.vectorize(math.atan2)(a, np.broadcast_to(b, a.shape))
    np.testing.assert_allclose(mg.atan2(T(a, device), T(b, device)).numpy(), expected, rtol=1e-15)
    A, B = T(a, device, True), T(b, device, True)
    mg.atan2(A, B).sum().backward()
    r = a * a + b * b
    np.testing.assert_allclose(A.grad.numpy(), b / r, rtol=1e-14)                # ∂/∂a = b / (a² + b²)
    np.testing.assert_allclose(B.grad.numpy(), (-a / r).sum(0), rtol=1e-14)      # ∂/∂b = -a / (a² + b²)
    for order in (1, 2):
        assert mg.gradcheck(mg.atan2, [T(a, device, True), T(b, device, True)], order=order)
    A, B = T([0.0, 0.0], device, True), T([0.0, -0.0], device, True)          # the origin: 0, as PyTorch
    mg.atan2(A, B).sum().backward()
    np.testing.assert_array_equal(np.concatenate([A.grad.numpy(), B.grad.numpy()]), 0)
    assert A.grad.numpy().tolist() == [0.0, 0.0]
    np.testing.assert_allclose(T([1.0], device).atan2(T([-1.0], device)).numpy(), [3 * math.pi / 4])
    assert mg.atan2(T([1], device, dtype=np.int64), T([1], device, dtype=np.int64)).dtype == np.float64


# --------------------------------------------------------------------------- steps: trunc, frac, fmod
def test_trunc_frac_fmod_values_signs_and_gradients(device):
    x = np.array([2.7, -2.7, 0.5, -0.5, 3.0])
    np.testing.assert_array_equal(mg.trunc(T(x, device)).numpy(), [2.0, -2.0, 0.0, -0.0, 3.0])
    np.testing.assert_allclose(T(x, device).frac().numpy(), [0.7, -0.7, 0.5, -0.5, 0.0], atol=1e-15)
    assert np.signbit(mg.trunc(T([-0.5], device)).numpy()[0])
    np.testing.assert_array_equal(grad_of(mg.trunc, x, device), 0)
    np.testing.assert_array_equal(grad_of(mg.frac, x, device), 1)
    a = np.array([5.5, -5.5, 5.5, -5.5, 7.0])
    b = np.array([2.0, 2.0, -2.0, -2.0, 2.5])
    out = mg.fmod(T(a, device), T(b, device)).numpy()
    np.testing.assert_array_equal(out, [math.fmod(p, q) for p, q in zip(a, b)])     # the dividend's sign
    np.testing.assert_array_equal(out[:4], [1.5, -1.5, 1.5, -1.5])
    A, B = T(a, device, True), T(b, device, True)
    mg.fmod(A, B).sum().backward()
    np.testing.assert_array_equal(A.grad.numpy(), 1)
    np.testing.assert_array_equal(B.grad.numpy(), [-2.0, 2.0, 2.0, -2.0, -2.0])       # -trunc(a / b)
    assert mg.gradcheck(mg.fmod, [T(a, device, True), T(b, device, True)])
    i = mg.fmod(T([7, -7], device, dtype=np.int32), 3)
    assert i.dtype == np.int32 and i.numpy().tolist() == [1, -1]
    assert T([5.0, -5.0], device).fmod(T([3.0, 3.0], device)).numpy().tolist() == [2.0, -2.0]
    assert mg.trunc(T([3, -4], device, dtype=np.int64)).dtype == np.int64


# --------------------------------------------------------------------------- cumprod
def cumprod_grad_reference(x, g):
    """x̄_k = Σ_{i≥k} g_i Π_{j≤i, j≠k} x_j, term by term (no division)."""
    n = len(x)
    return np.array([sum(g[i] * math.prod(x[j] for j in range(i + 1) if j != k) for i in range(k, n))
                     for k in range(n)])


@pytest.mark.parametrize("x", [[2.0, 0.0, 3.0, 4.0], [2.0, 0.0, 3.0, 0.0, 5.0], [0.0, 0.0, 1.0],
                               [1.5, -2.0, 0.5, 3.0]], ids=["one-zero", "two-zeros", "leading-zeros", "no-zero"])
def test_cumprod_gradient_with_zeros_is_exact(x, device):
    x = np.array(x)
    g = np.arange(1.0, len(x) + 1)
    np.testing.assert_array_equal(mg.cumprod(T(x, device), 0).numpy(), np.cumprod(x))
    np.testing.assert_allclose(grad_of(lambda t: mg.cumprod(t, 0), x, device, g), cumprod_grad_reference(x, g),
                               rtol=1e-15, atol=0)
    if x.tolist() == [2.0, 0.0, 3.0, 4.0]:
        np.testing.assert_array_equal(grad_of(lambda t: t.cumprod(0), x, device, g), [1.0, 118.0, 0.0, 0.0])
    for order in (1, 2):
        assert mg.gradcheck(lambda t: mg.cumprod(t, 0), [T(x, device, True)], order=order)


def test_cumprod_along_any_axis_and_dtypes(device):
    x = away_from_zero(3, (2, 3, 4))
    for dim in (0, 1, -1, -2):
        np.testing.assert_allclose(mg.cumprod(T(x, device), dim=dim).numpy(), np.cumprod(x, axis=dim), rtol=1e-15)
    assert mg.gradcheck(lambda t: t.cumprod(-2), [T(x, device, True)])
    assert mg.gradcheck(lambda t: mg.cumprod(t, 1), [T(x[0], device, True)], order=2)
    assert mg.cumprod(T(2.5, device), 0).numpy() == 2.5
    ints = mg.cumprod(T([1, 2, 3], device, dtype=np.int32), 0)
    assert ints.dtype == np.int64 and ints.numpy().tolist() == [1, 2, 6]
    assert mg.cumprod(T(x, device, dtype=np.float32), 0).dtype == np.float32
    np.testing.assert_array_equal(mg.cumprod(T([[1.0, 2.0], [3.0, 4.0]], device), None).numpy(), [1, 2, 6, 24])


# --------------------------------------------------------------------------- diag, trace, diff
@pytest.mark.parametrize("shape, k", [((4,), 0), ((4,), 2), ((4,), -1), ((3, 5), 0), ((3, 5), 2),
                                      ((5, 3), -2), ((3, 5), 7)])
def test_diag_both_ways_with_offsets(shape, k, device):
    x = away_from_zero(1, shape)
    out = mg.diag(T(x, device), k)
    np.testing.assert_array_equal(out.numpy(), np.diag(x, k))
    w = np.random.default_rng(2).standard_normal(out.shape)
    gx = grad_of(lambda t: t.diag(k), x, device, w)
    np.testing.assert_array_equal(gx, np.diag(w, k) if x.ndim == 1 else            # placed back, or read off
                                  (np.diag(w, k) if x.shape[0] == x.shape[1] else _placed(w, k, x.shape)))
    if out.size:
        for order in (1, 2):
            assert mg.gradcheck(lambda t: mg.diag(t, k) ** 2, [T(x, device, True)], order=order)


def _placed(w, k, shape):
    out = np.zeros(shape)
    for i, v in enumerate(w):
        out[i + max(-k, 0), i + max(k, 0)] = v
    return out


def test_trace_and_its_gradient_the_identity(device):
    x = away_from_zero(4, (3, 4))
    assert mg.trace(T(x, device)).numpy() == pytest.approx(np.trace(x), rel=1e-15)
    np.testing.assert_array_equal(grad_of(lambda t: t.trace(), x, device), np.eye(3, 4))
    assert mg.gradcheck(lambda t: mg.trace(t @ t.T) ** 2, [T(x, device, True)], order=2)
    i = mg.trace(T([[1, 2], [3, 4]], device, dtype=np.int32))
    assert i.dtype == np.int64 and i.numpy() == 5
    f = mg.trace(lambda t: t * 2)                 # a function is still traced (mg.trace the tracer)
    assert isinstance(f, mg.trace)


@pytest.mark.parametrize("shape, n, dim", [((6,), 1, -1), ((6,), 3, 0), ((3, 5), 2, -1), ((3, 5), 1, 0),
                                           ((3, 5), 1, -2), ((4,), 0, 0), ((3,), 5, 0)])
def test_diff_against_numpy(shape, n, dim, device):
    x = away_from_zero(5, shape)
    out = mg.diff(T(x, device), n, dim)
    np.testing.assert_allclose(out.numpy(), np.diff(x, n, axis=dim), rtol=1e-14, atol=1e-15)
    if out.size:
        assert mg.gradcheck(lambda t: t.diff(n, dim), [T(x, device, True)])
    if n == 1 and x.ndim == 1:                    # x̄[i] = ḡ[i - 1] - ḡ[i]
        g = np.arange(1.0, len(x))
        np.testing.assert_array_equal(grad_of(lambda t: mg.diff(t), x, device, g),
                                      np.concatenate([[0.0], g]) - np.concatenate([g, [0.0]]))


def test_diff_prepend_append_and_bools(device):
    x, p, a = np.array([[1.0, 4.0, 9.0]]), np.array([[0.0]]), np.array([[16.0, 25.0]])
    out = mg.diff(T(x, device), 2, -1, prepend=T(p, device), append=T(a, device))
    np.testing.assert_array_equal(out.numpy(), np.diff(x, 2, axis=-1, prepend=p, append=a))
    assert mg.gradcheck(lambda t, u, v: mg.diff(t, 1, 1, prepend=u, append=v),
                        [T(x, device, True), T(p, device, True), T(a, device, True)])
    b = mg.diff(T([True, False, False, True], device, dtype=np.bool_))
    assert b.dtype == np.bool_ and b.numpy().tolist() == [True, False, True]


# --------------------------------------------------------------------------- mv, addmm, index_select
def test_mv_and_addmm(device):
    r = np.random.default_rng(6)
    A, v = r.standard_normal((3, 4)), r.standard_normal(4)
    np.testing.assert_allclose(mg.mv(T(A, device), T(v, device)).numpy(), A @ v, rtol=1e-14)
    assert mg.gradcheck(lambda a, b: a.mv(b), [T(A, device, True), T(v, device, True)])
    inp, m1, m2 = r.standard_normal(2), r.standard_normal((3, 4)), r.standard_normal((4, 2))
    for beta, alpha in ((1, 1), (0.5, 2.0), (-1.0, 0.25)):
        np.testing.assert_allclose(mg.addmm(T(inp, device), T(m1, device), T(m2, device), beta=beta, alpha=alpha).numpy(),
                                   beta * inp + alpha * (m1 @ m2), rtol=1e-14)
        assert mg.gradcheck(lambda i, a, b: mg.addmm(i, a, b, beta=beta, alpha=alpha),
                            [T(inp, device, True), T(m1, device, True), T(m2, device, True)])
    I, M1 = T(inp, device, True), T(m1, device, True)
    I.addmm(M1, T(m2, device), beta=0.5, alpha=2.0).backward(T(np.ones((3, 2)), device))
    np.testing.assert_allclose(I.grad.numpy(), [1.5, 1.5])                          # β Σ_rows ḡ
    np.testing.assert_allclose(M1.grad.numpy(), 2.0 * np.ones((3, 2)) @ m2.T, rtol=1e-14)   # α ḡ m2ᵀ
    nan = mg.addmm(T([np.nan, np.nan], device), T(m1, device), T(m2, device), beta=0)      # not read at all
    np.testing.assert_allclose(nan.numpy(), m1 @ m2, rtol=1e-14)


def test_index_select_keeps_the_axis_and_adds_repeats(device):
    x = away_from_zero(7, (3, 4))
    idx = [3, 0, 3]
    out = T(x, device).index_select(1, T(idx, device, dtype=np.int64))
    np.testing.assert_array_equal(out.numpy(), np.take(x, idx, axis=1))
    expected = np.zeros_like(x)
    np.add.at(expected, (slice(None), idx), 1.0)
    np.testing.assert_array_equal(grad_of(lambda t: mg.index_select(t, -1, T(idx, device, dtype=np.int64)), x, device),
                                  expected)                                         # picked twice: 2
    assert mg.index_select(T(x, device), 0, T(1, device, dtype=np.int64)).shape == (1, 4)   # 0-d index
    assert mg.gradcheck(lambda t: mg.index_select(t, 0, [2, 2, 0]) ** 2, [T(x, device, True)])


# --------------------------------------------------------------------------- lerp, nan_to_num
def test_lerp_values_and_gradients_to_all_three(device):
    r = np.random.default_rng(8)
    s, e, w = r.standard_normal((2, 3)), r.standard_normal(3), r.uniform(-0.5, 1.5, (2, 1))
    np.testing.assert_allclose(mg.lerp(T(s, device), T(e, device), T(w, device)).numpy(), s + w * (e - s), rtol=1e-13)
    S, E, W = T(s, device, True), T(e, device, True), T(w, device, True)
    mg.lerp(S, E, W).sum().backward()
    np.testing.assert_allclose(S.grad.numpy(), np.broadcast_to(1 - w, (2, 3)), rtol=1e-14)        # 1 - w
    np.testing.assert_allclose(E.grad.numpy(), np.broadcast_to(w, (2, 3)).sum(0), rtol=1e-14)     # w
    np.testing.assert_allclose(W.grad.numpy(), (e - s).sum(1, keepdims=True), rtol=1e-14)       # e - s
    for order in (1, 2):
        assert mg.gradcheck(mg.lerp, [T(s, device, True), T(e, device, True), T(w, device, True)], order=order)
        assert mg.gradcheck(lambda a, b: a.lerp(b, 0.7), [T(s, device, True), T(e, device, True)], order=order)
    # weight 1 gives end exactly (3.3 + (0.7 - 3.3) would round to 0.7000000000000002)
    assert mg.lerp(T([3.3], device), T([0.7], device), 1.0).numpy().tolist() == [0.7]
    assert mg.lerp(T([3.3], device), T([0.7], device), T([1.0], device)).numpy().tolist() == [0.7]
    np.testing.assert_allclose(mg.lerp(T([1.0], device), T([3.0], device), 0.25).numpy(), [1.5])


def test_nan_to_num_values_and_gradient(device):
    x = np.array([np.nan, np.inf, -np.inf, 1.5])
    big = np.finfo(np.float64).max
    np.testing.assert_array_equal(mg.nan_to_num(T(x, device)).numpy(), [0.0, big, -big, 1.5])
    np.testing.assert_array_equal(T(x, device).nan_to_num(nan=1.0, posinf=2.0, neginf=-3.0).numpy(), [1.0, 2.0, -3.0, 1.5])
    f32 = mg.nan_to_num(T(x, device, dtype=np.float32))
    assert f32.dtype == np.float32 and f32.numpy()[1] == np.finfo(np.float32).max
    np.testing.assert_array_equal(grad_of(mg.nan_to_num, x, device), [0.0, 0.0, 0.0, 1.0])   # 0 where replaced
    assert mg.nan_to_num(T([1, 2], device, dtype=np.int64)).numpy().tolist() == [1, 2]


# --------------------------------------------------------------------------- logic and closeness
def test_logical_ops_and_closeness_have_no_graph(device):
    a, b = np.array([[0.0, 1.0, 2.0], [-1.0, 0.0, 3.0]]), np.array([1.0, 0.0, 2.0])
    A, B = T(a, device, True), T(b, device)
    for name in ("logical_and", "logical_or", "logical_xor"):
        out = getattr(mg, name)(A, B)
        assert out.dtype == np.bool_ and not out.requires_grad
        np.testing.assert_array_equal(out.numpy(), getattr(np, name)(a, b))
        np.testing.assert_array_equal(getattr(A, name)(B).numpy(), getattr(np, name)(a, b))
    np.testing.assert_array_equal(A.logical_not().numpy(), a == 0)
    x, y = np.array([1.0, 1.0 + 1e-9, np.nan, np.inf, 1.0]), np.array([1.0, 1.0, np.nan, np.inf, 1.1])
    np.testing.assert_array_equal(mg.isclose(T(x, device), T(y, device)).numpy(), [True, True, False, True, False])
    np.testing.assert_array_equal(T(x, device).isclose(T(y, device), equal_nan=True, rtol=0.2).numpy(), True)
    assert mg.allclose(T(x[:2], device), T(y[:2], device)) is True
    assert T(x, device).allclose(T(y, device)) is False
    assert mg.equal(T([1, 2], device, dtype=np.int64), T([1.0, 2.0], device)) is True       # by value
    assert mg.equal(T([1.0, 2.0], device), T([1.0, 2.0, 3.0], device)) is False             # shapes differ
    assert T([np.nan], device).equal(T([np.nan], device)) is False


# --------------------------------------------------------------------------- conversions, protocol
def test_dtype_methods_and_new_tensors(device):
    t = T([1.7, -2.5, 0.0], device)
    assert t.int().dtype == np.int32 and t.int().numpy().tolist() == [1, -2, 0]            # towards 0
    assert t.bool().numpy().tolist() == [True, True, False] and t.half().dtype == np.float16
    assert t.float().dtype == np.float32 and t.long().dtype == np.int64
    assert t.type_as(T([1], device, dtype=np.int32)).dtype == np.int32
    f32 = T([1.0], device, dtype=np.float32)
    for new in (f32.new_zeros(2, 3), f32.new_ones((2, 3)), f32.new_full((2, 3), 7), f32.new_tensor(np.ones((2, 3)))):
        assert new.shape == (2, 3) and new.dtype == np.float32 and new.device == f32.device
    assert f32.new_full((2,), 7).numpy().tolist() == [7.0, 7.0]
    assert f32.new_zeros(2, dtype=np.int64).dtype == np.int64 and f32.new_tensor([1, 2], requires_grad=True).requires_grad
    assert t.contiguous() is t
    full = mg.full_like(T([1, 2], device, dtype=np.int32), 2.5)
    assert full.dtype == np.int32 and full.numpy().tolist() == [2, 2] and full.device == t.device
    assert mg.zeros_like(t, dtype=np.float32).dtype == np.float32 and mg.ones_like(t).numpy().tolist() == [1.0] * 3
    x = T([1.5, 2.0], device, True)
    for y in (x.int(), x.bool(), x.long(), x.astype("int16")):   # integers and bools end the graph
        assert not y.requires_grad and y.node is None
    assert x.half().requires_grad and x.double().requires_grad


def test_index_protocol_takes_0d_integer_tensors_only():
    items = [10, 20, 30, 40]
    assert list(range(mg.tensor(3))) == [0, 1, 2] and items[mg.tensor(1)] == 20
    assert items[mg.tensor(-1, dtype=np.int32)] == 40 and items[mg.tensor(2):] == [30, 40]
    for bad in (mg.tensor(1.0), mg.tensor([1]), mg.tensor(True)):
        one_line_error(TypeError, lambda b=bad: items[b], "only 0-d integer tensors can be used as an index")
    assert np.arange(5)[mg.tensor([2])].shape == (1,)      # a 1-element 1-D tensor still indexes as an array


def test_from_numpy_shares_memory_and_as_tensor_avoids_copies():
    a = np.array([1, 2, 3], dtype=np.int16)
    t = mg.from_numpy(a)
    assert t.dtype == np.int16 and t.device == "cpu"
    a[0] = 7
    assert t.numpy()[0] == 7                       # shared, as torch.from_numpy
    f = np.array([1.0, 2.0], dtype=np.float32)
    assert mg.as_tensor(f).dtype == np.float32 and np.shares_memory(np.asarray(mg.as_tensor(f)), f)
    c = mg.as_tensor(f, dtype=np.float64)
    assert c.dtype == np.float64 and not np.shares_memory(np.asarray(c), f)
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    assert mg.as_tensor(x) is x and mg.as_tensor([1, 2]).dtype == np.int64
    assert mg.as_tensor(x, dtype=np.float32).requires_grad                # converted, still in the graph
    one_line_error(TypeError, lambda: mg.from_numpy([1, 2]), "from_numpy takes a numpy.ndarray, got list")


def test_random_like_follows_the_input(device):
    t = T(np.zeros((2, 3)), device, dtype=np.float32)
    for fn in (mg.rand_like, mg.randn_like):
        out = fn(t)
        assert out.shape == (2, 3) and out.dtype == np.float32 and out.device == t.device
        a = fn(t, generator=mg.Generator(5, device=device)).numpy()
        b = fn(t, generator=mg.Generator(5, device=device)).numpy()
        np.testing.assert_array_equal(a, b)
        assert fn(t, dtype=np.float64, requires_grad=True).requires_grad
    u = mg.rand_like(T(np.zeros(1000), device)).numpy()
    assert 0 <= u.min() and u.max() < 1
    one_line_error(TypeError, lambda: mg.randn_like(T([1, 2], device, dtype=np.int64)), "randn_like: samples are floating")


def test_set_grad_enabled_as_function_and_context_manager():
    x = mg.tensor([1.0], requires_grad=True)
    with mg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert (x * 2).requires_grad
    try:
        mg.set_grad_enabled(False)
        assert not mg.is_grad_enabled() and not (x * 2).requires_grad
    finally:
        mg.set_grad_enabled(True)
    with mg.no_grad(), mg.set_grad_enabled(True):
        assert (x * 2).requires_grad
    assert mg.is_grad_enabled()

    @mg.set_grad_enabled(False)                    # a decorator switches only inside the call
    def doubled(t):
        return t * 2
    assert mg.is_grad_enabled() and not doubled(x).requires_grad and mg.is_grad_enabled()


@pytest.mark.skipif(mg.cuda_is_available(), reason="a GPU is here: .cuda() works")
def test_cuda_without_a_gpu_is_a_one_line_error():
    one_line_error(mg.BackendError, lambda: mg.tensor([1.0]).cuda(), "cuda")


# --------------------------------------------------------------------------- functional: PyTorch's return conventions
def test_hvp_jvp_hessian_return_what_torch_returns(device):
    r = np.random.default_rng(9)
    a = r.standard_normal((3, 3))
    x, v = r.standard_normal(3), r.standard_normal(3)
    A = T(a, device)

    def f(z):                                      # H = (A + Aᵀ)/2 + diag(6 z)
        return 0.5 * (z @ (A @ z)) + (z ** 3).sum()

    H = 0.5 * (a + a.T) + np.diag(6 * x)
    out, hv = mg.hvp(f, T(x, device), T(v, device))
    assert out.shape == () and out.numpy() == pytest.approx(0.5 * x @ a @ x + (x ** 3).sum(), rel=1e-14)
    np.testing.assert_allclose(hv.numpy(), H @ v, rtol=1e-12)
    np.testing.assert_allclose(mg.hessian(f, T(x, device)).numpy(), H, rtol=1e-12)
    X = r.standard_normal((2, 2))
    assert mg.hessian(lambda z: (z ** 3).sum(), T(X, device)).shape == (2, 2, 2, 2)
    (out2, (hx, hw)) = mg.hvp(lambda p, q: (p * q * q).sum(), (T(x, device), T(v, device)),
                              (T(np.ones(3), device), T(np.ones(3), device)))
    np.testing.assert_allclose(hx.numpy(), 2 * v, rtol=1e-14)                      # ∂²/∂p∂q = 2q
    np.testing.assert_allclose(hw.numpy(), 2 * v + 2 * x, rtol=1e-14)             # 2q + 2p
    Hs = mg.hessian(lambda p, q: (p * q * q).sum(), (T(x, device), T(v, device)))
    np.testing.assert_allclose(Hs[0][0].numpy(), 0)
    np.testing.assert_allclose(Hs[0][1].numpy(), np.diag(2 * v), rtol=1e-14)
    np.testing.assert_allclose(Hs[1][1].numpy(), np.diag(2 * x), rtol=1e-14)
    y, jv = mg.jvp(lambda z: z.tanh() * z.sum(), T(x, device), T(v, device))     # J v = (1 - t²) s v + t Σv
    t, s = np.tanh(x), x.sum()
    np.testing.assert_allclose(y.numpy(), t * s, rtol=1e-14)
    np.testing.assert_allclose(jv.numpy(), (1 - t * t) * s * v + t * v.sum(), rtol=1e-13)
    (y1, y2), (j1, j2) = mg.jvp(lambda p, q: (p * q, p.sum()), (T(x, device), T(v, device)),
                                (T(v, device), T(x, device)))
    np.testing.assert_allclose(j1.numpy(), v * v + x * x, rtol=1e-14)
    assert j2.numpy() == pytest.approx(v.sum(), rel=1e-14)
    assert mg.jvp(lambda z: z * 3, T(2.0, device))[1].numpy() == 3.0               # v=None: one element
    _, jz = mg.jvp(lambda z: z.detach() * 2, T(x, device), T(v, device))          # f independent of x
    np.testing.assert_array_equal(jz.numpy(), 0)
    out3, vjp_fn = mg.vjp(lambda z: z * z, T(x, device))                         # torch.func.vjp's pair
    np.testing.assert_allclose(vjp_fn(T(v, device))[0].numpy(), 2 * x * v, rtol=1e-14)


def test_functional_bad_input_is_a_one_line_error(device):
    x = T([1.0, 2.0], device)
    one_line_error(ValueError, lambda: mg.hvp(lambda z: z * 2, x, x), "hvp needs a scalar function")
    one_line_error(ValueError, lambda: mg.hessian(lambda z: z * 2, x), "hessian needs a scalar function")
    one_line_error(ValueError, lambda: mg.jvp(lambda z: z * 2, x), "jvp: v is needed unless")
    one_line_error(ValueError, lambda: mg.jvp(lambda z: z * 2, x, T([1.0], device)), "shape")


# --------------------------------------------------------------------------- hooks
def test_register_hook_sees_and_replaces_gradients():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy()))
    y.register_hook(lambda g: g * 10)              # replaces what flows back from y
    y.retain_grad()
    (y * y + y).sum().backward()                   # dL/dy = 2y + 1 = [7, 13], once (the sum of both uses)
    np.testing.assert_array_equal(seen, [[7.0, 13.0]])
    np.testing.assert_array_equal(y.grad.numpy(), [70.0, 130.0])
    np.testing.assert_array_equal(x.grad.numpy(), [210.0, 390.0])
    leaf = mg.tensor([1.0, 2.0], requires_grad=True)
    handle = leaf.register_hook(lambda g: g * 0.5)
    leaf.register_hook(lambda g: seen.append(g.numpy()))       # the second sees the first's result
    (leaf * leaf).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(seen[-1], [1.0, 2.0])
    (g,) = mg.grad((leaf * leaf).sum(), [leaf])
    np.testing.assert_array_equal(g.numpy(), [1.0, 2.0])       # mg.grad returns the hooked gradient
    handle.remove()
    (g,) = mg.grad((leaf * leaf).sum(), [leaf])
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    z = mg.tensor([1.0], requires_grad=True) * 2
    z.register_hook(lambda g: g * 3)
    (gz,) = mg.grad((z * z).sum(), [z])
    np.testing.assert_array_equal(gz.numpy(), [12.0])           # captured after the hook, as PyTorch
    one_line_error(RuntimeError, lambda: mg.tensor([1.0]).register_hook(print), "does not require grad")
    w = mg.tensor([1.0], requires_grad=True)
    w.register_hook(lambda g: "no")
    one_line_error(TypeError, lambda: (w * 2).sum().backward(), "a gradient hook must return None or a Tensor")


# --------------------------------------------------------------------------- bad input: one line, saying what is allowed
def test_bad_input_is_a_one_line_error(device):
    m, v = T(np.ones((2, 2)), device), T(np.ones(2), device)
    cases = [
        (ValueError, lambda: mg.diag(T(np.ones((2, 2, 2)), device)), "diag: takes a 1-D tensor"),
        (TypeError, lambda: mg.diag(v, 0.5), "offset is an int"),
        (ValueError, lambda: mg.trace(v), "trace: takes a 2-D tensor"),
        (ValueError, lambda: mg.diff(v, -1), "diff: n must be a non-negative int"),
        (ValueError, lambda: mg.diff(T(1.0, device)), "at least one dimension"),
        (TypeError, lambda: mg.index_select(m, 0, T([0.0], device)), "index_select: index must hold integers"),
        (ValueError, lambda: mg.index_select(m, 0, T([[0]], device, dtype=np.int64)), "index must be 1-D"),
        (ValueError, lambda: mg.mv(m, m), "mv: needs a 2-D and a 1-D tensor"),
        (ValueError, lambda: mg.addmm(v, v, m), "addmm: mat1 and mat2 must be 2-D"),
        (TypeError, lambda: mg.isclose(v, v.astype("float32")), "isclose: dtypes float64 and float32 differ"),
        (TypeError, lambda: mg.frac(T([1], device, dtype=np.int64)), "frac takes floating tensors"),
        (TypeError, lambda: mg.fmod(T([True], device, dtype=np.bool_), T([True], device, dtype=np.bool_)),
         "fmod of two bools"),
        (TypeError, lambda: mg.logical_and(v, 1), "logical_and takes two Tensors"),
        (TypeError, lambda: mg.lerp(v, v, "half"), "weight must be a Python number"),
        (TypeError, lambda: mg.nan_to_num(v, nan="zero"), "nan must be a Python number"),
    ]
    for kind, call, match in cases:
        one_line_error(kind, call, match)


def test_new_ops_make_only_calls_cupy_has(device):
    """The strict device notes every array call; each new op's must exist in CuPy, with the
    keywords given (tests/test_cupy_api.py's check, run here on just these calls)."""
    if device != "strict":
        pytest.skip("the call log is the strict device's")
    from minigrad import strict
    from test_cupy_api import not_in_cupy
    before = set(strict.CALLS)
    x, y = T(away_from_zero(0, (2, 3)) * 0.5, device, True), T(away_from_zero(1, (2, 3)) + 2, device, True)
    loss = sum(f(x).sum() for f in (mg.tan, mg.sinh, mg.cosh, mg.asin, mg.acos, mg.atan, mg.exp2, mg.trunc, mg.frac,
                                    lambda t: mg.log2(y), lambda t: mg.log10(y), lambda t: mg.cumprod(t, 1),
                                    lambda t: mg.diag(t, 1), lambda t: mg.diag(mg.diag(t)), lambda t: mg.trace(t),
                                    lambda t: mg.diff(t, 1, 0), lambda t: mg.index_select(t, 1, [2, 0, 2]),
                                    lambda t: mg.nan_to_num(t), lambda t: mg.lerp(t, y, 0.3), lambda t: mg.lerp(t, y, y),
                                    lambda t: mg.atan2(t, y), lambda t: mg.fmod(t, y),
                                    lambda t: mg.addmm(y[0, :2], t, y.T, beta=0.5, alpha=2.0), lambda t: mg.mv(t, y[0])))
    mg.grad(loss, [x, y], create_graph=True)
    mg.logical_xor(x, y), mg.logical_not(x), mg.isclose(x, y), mg.allclose(x, y), mg.equal(x, y)
    mg.hessian(lambda t: (t.tan() * t.cumprod(0)).sum(), T([0.1, 0.2], device))
    mg.jvp(lambda t: t.atan(), x, y)
    mg.rand_like(x), mg.randn_like(x), mg.full_like(x, 2.0)
    assert not_in_cupy(strict.CALLS - before) == []
