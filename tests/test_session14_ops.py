"""Session 14: matmul's size errors, cat skipping 1-D empty tensors, repeat_interleave with
per-element counts, and logcumsumexp's differentiated VJP in O(n) memory.

Expected values come from PyTorch 2.13 (behaviour checked outside the suite, quoted in the
tests), closed forms, or central differences in float64.
"""
import math
import tracemalloc

import numpy as np
import pytest

import minigrad as mg
from conftest import T

inf = math.inf


def central_gradient(f, x0, eps=1e-6):
    """d f / d x by central differences in float64 (f: NumPy array -> float)."""
    g = np.zeros_like(x0)
    for k in range(x0.size):
        plus, minus = x0.copy(), x0.copy()
        plus.flat[k] += eps
        minus.flat[k] -= eps
        g.flat[k] = (f(plus) - f(minus)) / (2 * eps)
    return g


# =========================================================================== matmul: one clear line
@pytest.mark.parametrize("sa, sb, says", [
    ((2, 3), (4, 5), r"^matmul: size mismatch, \(2, 3\) @ \(4, 5\): the last dim of the first \(3\) must "
                     r"equal the second-to-last of the second \(4\)"),
    ((3,), (4, 5), r"^matmul: size mismatch, \(3,\) @ \(4, 5\): the length of the first \(3\) must equal "
                   r"the second-to-last of the second \(4\)"),
    ((2, 3), (4,), r"^matmul: size mismatch, \(2, 3\) @ \(4,\): the last dim of the first \(3\) must equal "
                   r"the length of the second \(4\)"),
    ((3,), (4,), r"^matmul: size mismatch, \(3,\) @ \(4,\)"),
    ((2, 3, 4), (5, 4, 6), r"^matmul: batch dims do not broadcast, \(2, 3, 4\) @ \(5, 4, 6\): \(2,\) and \(5,\)"),
    ((), (3,), r"^matmul: both operands need at least one dimension, got shapes \(\) and \(3,\) \(PyTorch refuses"),
    ((3, 3), (), r"^matmul: both operands need at least one dimension"),
])
def test_matmul_size_errors_are_one_clear_line(sa, sb, says, device):
    """Before: "matmul: matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc
    signature (n?,k),(k,m?)->(n?,m?) ..." (the op's name twice, NumPy's gufunc jargon).  PyTorch
    refuses all of these (0-d: "both arguments to matmul need to be at least 1D")."""
    with pytest.raises(ValueError, match=says) as e:
        T(np.ones(sa), device) @ T(np.ones(sb), device)
    message = str(e.value)
    assert "\n" not in message and "gufunc" not in message and "matmul: matmul" not in message


def test_matmul_shapes_that_fit_still_multiply(device):
    for sa, sb in [((2, 3), (3, 5)), ((3,), (3, 5)), ((2, 3), (3,)), ((3,), (3,)), ((1, 3, 4), (5, 4, 6)),
                   ((3, 4), (5, 4, 6)), ((2, 1, 3, 4), (5, 4, 6)), ((4, 2, 3), (3,))]:
        a, b = np.arange(np.prod(sa)).reshape(sa) * 0.5, np.arange(np.prod(sb)).reshape(sb) - 1.0
        np.testing.assert_array_equal((T(a, device) @ T(b, device)).numpy(), a @ b)


# =========================================================================== cat skips (0,)
def test_cat_skips_one_d_empty_tensors_as_pytorch(device):
    """PyTorch 2.13: cat([zeros(0), ones(2, 3)]) is ones(2, 3) (dim 0, 1 or -1), and a (0,) tensor
    anywhere in the list is skipped; all of them (0,): a (0,) result."""
    a, b = np.arange(6.0).reshape(2, 3), np.arange(3.0).reshape(1, 3) + 10
    for dim in (0, 1, -1):
        out = mg.cat([T(np.zeros(0), device), T(a, device)], dim)
        np.testing.assert_array_equal(out.numpy(), a)
    out = mg.cat([T(a, device), T(np.zeros(0), device), T(b, device), T(np.zeros(0), device)])
    np.testing.assert_array_equal(out.numpy(), np.concatenate([a, b]))
    assert mg.cat([T(np.zeros(0), device), T(np.ones((2, 0)), device)], 1).shape == (2, 0)
    assert mg.cat([T(np.zeros(0), device), T(np.zeros(0), device)]).shape == (0,)
    # it still counts for the dtype: an int64 (0,) with float64 gives float64, float32 with float64
    # is refused as everywhere in minigrad (PyTorch would upcast)
    assert mg.cat([mg.tensor(np.zeros(0, np.int64), device=device), T(a, device)]).dtype == np.float64
    with pytest.raises(TypeError, match="concat: dtype mismatch"):
        mg.cat([T(np.zeros(0), device, dtype=np.float32), T(a, device)])


def test_cat_gradient_of_a_skipped_tensor_is_empty_and_the_rest_exact(device):
    """PyTorch: the skipped tensor's .grad is tensor([]) of shape (0,).  The others' gradients
    against central differences in float64."""
    rng = np.random.default_rng(0)
    a0, b0, u = rng.normal(size=(2, 3)), rng.normal(size=(1, 3)), rng.normal(size=(3, 3))
    e = T(np.zeros(0), device, requires_grad=True)
    a, b = T(a0, device, requires_grad=True), T(b0, device, requires_grad=True)
    (mg.cat([a, e, b]) * T(u, device)).sum().backward()
    assert e.grad is not None and e.grad.shape == (0,) and e.grad.dtype == np.float64

    def phi(a_, b_):
        return float(np.sum(np.concatenate([a_, b_]) * u))
    np.testing.assert_allclose(a.grad.numpy(), central_gradient(lambda t: phi(t, b0), a0), atol=1e-8)
    np.testing.assert_allclose(b.grad.numpy(), central_gradient(lambda t: phi(a0, t), b0), atol=1e-8)
    assert mg.gradcheck(lambda x, y, z: mg.cat([x, y, z], 1) ** 2,
                        [T(np.zeros(0), device, True), T(a0, device, True), T(a0[:, :1], device, True)], order=2)


def test_cat_refusals_name_the_misfit(device):
    with pytest.raises(ValueError, match=r"^concat: tensor 2 of shape \(2, 4\) does not fit tensor 1 of "
                                         r"shape \(2, 3\): sizes must match except along dim 0"):
        mg.cat([T(np.zeros(0), device), T(np.ones((2, 3)), device), T(np.ones((2, 4)), device)])
    with pytest.raises(ValueError, match=r"^concat: tensor 1 is 0-d"):        # PyTorch: "(at position 1)"
        mg.cat([T(np.zeros(0), device), T(1.0, device)])
    # PyTorch: IndexError "Dimension out of range (expected to be in range of [-2, 1], but got 2)";
    # minigrad joined along dim 0 (2 % 2) before
    with pytest.raises(ValueError, match=r"^concat: axis 2 is out of range for a tensor with 2 dimensions"):
        mg.cat([T(np.ones((2, 3)), device), T(np.ones((2, 3)), device)], 2)
    with pytest.raises(ValueError, match=r"^concat: axis -3 is out of range"):
        mg.cat([T(np.zeros(0), device), T(np.ones((2, 3)), device)], -3)


# =========================================================================== repeat_interleave
def I(values, device, dtype=np.int64):
    return mg.tensor(np.array(values, dtype=dtype), device=device)


def test_repeat_interleave_per_element_counts_as_pytorch(device):
    """Values from PyTorch 2.13 on x = [[1, 2], [3, 4]]."""
    x = T([[1.0, 2.0], [3.0, 4.0]], device)
    np.testing.assert_array_equal(mg.repeat_interleave(x, I([1, 2], device), dim=0).numpy(),
                                  [[1, 2], [3, 4], [3, 4]])
    np.testing.assert_array_equal(mg.repeat_interleave(x, I([1, 2, 0, 1], device)).numpy(), [1, 2, 2, 4])
    np.testing.assert_array_equal(mg.repeat_interleave(x, I([3], device), dim=1).numpy(),
                                  [[1, 1, 1, 2, 2, 2], [3, 3, 3, 4, 4, 4]])
    np.testing.assert_array_equal(mg.repeat_interleave(x, I(2, device), dim=1).numpy(),
                                  [[1, 1, 2, 2], [3, 3, 4, 4]])
    np.testing.assert_array_equal(mg.repeat_interleave(x, I([2], device)).numpy(), [1, 1, 2, 2, 3, 3, 4, 4])
    np.testing.assert_array_equal(mg.repeat_interleave(x, I([1, 2], device, np.int32), dim=-1).numpy(),
                                  [[1, 2, 2], [3, 4, 4]])
    np.testing.assert_array_equal(mg.repeat_interleave(x, [0, 2], dim=0).numpy(), [[3, 4], [3, 4]])
    np.testing.assert_array_equal(mg.repeat_interleave(T(5.0, device), I([3], device)).numpy(), [5, 5, 5])
    assert mg.repeat_interleave(x, [0, 0], dim=1).shape == (2, 0)
    assert mg.repeat_interleave(T(np.zeros((0, 2)), device), I(np.zeros(0), device), dim=0).shape == (0, 2)
    assert mg.repeat_interleave(x, I([1, 2], device), dim=0, output_size=3).shape == (3, 2)
    # the Tensor method forwards its arguments
    np.testing.assert_array_equal(x.repeat_interleave(I([1, 2], device), dim=1).numpy(), [[1, 2, 2], [3, 4, 4]])


def test_repeat_interleave_counts_alone_give_the_positions(device):
    """PyTorch: repeat_interleave(tensor([1, 0, 3])) is tensor([0, 2, 2, 2]), in the counts' dtype."""
    out = mg.repeat_interleave(I([1, 0, 3], device))
    assert out.dtype == np.int64 and out.numpy().tolist() == [0, 2, 2, 2]
    out = mg.repeat_interleave(I([1, 0, 3], device, np.int32))
    assert out.dtype == np.int32 and out.numpy().tolist() == [0, 2, 2, 2]
    assert mg.repeat_interleave(I(np.zeros(0), device)).shape == (0,)


@pytest.mark.parametrize("call, error, says", [
    # PyTorch: "repeats can not be negative", "Repeats must be non-negative"
    (lambda x, d: mg.repeat_interleave(x, I([1, -1], d), dim=0), ValueError, "repeats must be non-negative"),
    (lambda x, d: mg.repeat_interleave(x, -1, dim=0), ValueError, "repeats must be non-negative"),
    # PyTorch: "repeats must have the same size as input along dim, but got repeats.size(0) = 3 ..."
    (lambda x, d: mg.repeat_interleave(x, I([1, 2, 3], d), dim=0), ValueError,
     r"repeats holds 3 counts, x has 2 elements along dim 0 \(give one count per element, or a single count\)"),
    (lambda x, d: mg.repeat_interleave(x, [1, 2, 3]), ValueError, "repeats holds 3 counts, x has 4 elements"),
    (lambda x, d: mg.repeat_interleave(x, T([1.0, 2.0], d), dim=0), TypeError, "must be an int or integers"),
    (lambda x, d: mg.repeat_interleave(x, I([[1, 2]], d), dim=0), ValueError, "must be 0-d or 1-D"),
    (lambda x, d: mg.repeat_interleave(x, True, dim=0), TypeError, "must be an int or integers"),
    (lambda x, d: mg.repeat_interleave(x, [1, 2], dim=0, output_size=4), ValueError,
     "output_size=4, but the result has 3"),
    (lambda x, d: mg.repeat_interleave(T(5.0, d), 3, dim=0), ValueError, "a 0-d tensor has no dim 0; use dim=None"),
    (lambda x, d: mg.repeat_interleave(I(3, d)), ValueError, "the counts alone must be a 1-D tensor"),
    (lambda x, d: mg.repeat_interleave(I([1, -1], d)), ValueError, "the counts must be non-negative"),
])
def test_repeat_interleave_refusals(call, error, says, device):
    x = T([[1.0, 2.0], [3.0, 4.0]], device)
    with pytest.raises(error, match="^repeat_interleave: .*" + says) as e:
        call(x, device)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("dim, counts", [(0, [2, 0, 3]), (1, [1, 0, 2, 3]), (-1, [0, 0, 0, 1]), (None, None)])
def test_repeat_interleave_gradient_sums_the_copies(dim, counts, device):
    """Each element's gradient is the sum of its copies' (0 for a count of 0): central
    differences in float64, then second order through minigrad.gradcheck."""
    rng = np.random.default_rng(1)
    x0 = rng.normal(size=(3, 4))
    if counts is None:
        counts = list(rng.integers(0, 3, size=12))
    axis = dim
    out0 = np.repeat(x0, counts, axis=axis)
    u = rng.normal(size=out0.shape)
    x = T(x0, device, requires_grad=True)
    (mg.repeat_interleave(x, I(counts, device), dim=dim) * T(u, device)).sum().backward()
    expected = central_gradient(lambda t: float(np.sum(np.repeat(t, counts, axis=axis) * u)), x0)
    np.testing.assert_allclose(x.grad.numpy(), expected, atol=1e-8)
    assert mg.gradcheck(lambda t: mg.repeat_interleave(t, counts, dim=dim) ** 2, [T(x0, device, True)], order=2)


# =========================================================================== logcumsumexp
def lcse_jacobian(x):
    """d out_i / d x_j = e^(x_j - out_i) for j <= i (0 where out_i is -inf), written out."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.logaddexp.accumulate(x)
    n = len(x)
    return np.array([[math.exp(x[j] - out[i]) if j <= i and out[i] != -inf else 0.0 for j in range(n)]
                     for i in range(n)])


@pytest.mark.parametrize("x0", [[0.3, -1.2, 2.0, 0.5], [1000.0, -1000.0, 999.0, 0.0, 1001.0],
                                [-inf, -inf, 0.5, -inf, 1.0], [-1000.0, -1001.0, -999.5]])
def test_logcumsumexp_jvp_and_vjp_against_the_closed_form(x0, device):
    """The Jacobian written out (e^(x_j - out_i)); large magnitudes and -inf entries give no
    inf or NaN: mg.jvp differentiates the VJP in its cotangent (the path that was O(n²))."""
    x0 = np.array(x0)
    rng = np.random.default_rng(2)
    v0, u0 = rng.normal(size=x0.shape), rng.normal(size=x0.shape)
    J = lcse_jacobian(x0)
    _, jv = mg.jvp(lambda x: mg.logcumsumexp(x, 0), T(x0, device), T(v0, device))
    np.testing.assert_allclose(jv.numpy(), J @ v0, rtol=1e-12, atol=1e-13)
    x = T(x0, device, requires_grad=True)
    mg.logcumsumexp(x, 0).backward(T(u0, device))
    np.testing.assert_allclose(x.grad.numpy(), J.T @ u0, rtol=1e-12, atol=1e-13)


def test_logcumsumexp_second_order(device):
    rng = np.random.default_rng(3)
    x = T(rng.normal(size=(3, 5)) * 3, device, True)
    u = T(rng.normal(size=(3, 5)), device, True)
    assert mg.gradcheck(lambda t: mg.logcumsumexp(t, 1), [x], order=2)
    assert mg.gradcheck(lambda t: mg.logcumsumexp(t, 0), [T(rng.normal(size=6) * 1e3, device, True)], order=2)
    assert mg.gradcheck(lambda t: mg.logcumsumexp(t, 0), [T(rng.normal(size=6) + 1000, device, True)], order=2)
    assert mg.gradcheck(lambda x, u: (mg.logcumsumexp(x, 1) * u).sum(), (x, u), order=2)

    def vjp_value(x, u):                               # <J(x)^T u, x²>: the VJP in both x and u
        g, = mg.grad(mg.logcumsumexp(x, 0), x, u, create_graph=True)
        return (g * x * x).sum()
    assert mg.gradcheck(vjp_value, (x, u), order=2)
    # -inf entries (their gradient is 0): exp(logcumsumexp) = cumsum(exp) keeps phi finite
    with_inf = T([-inf, 0.5, -inf, -0.25, 1.0], device, True)
    assert mg.gradcheck(lambda t: mg.logcumsumexp(t, 0).exp(), [with_inf], order=2)


def test_logcumsumexp_differentiated_vjp_is_linear_in_memory():
    """mg.jvp of logcumsumexp over n = 2000 values: the old VJP for a differentiated cotangent
    built the n x n matrix of weights e^(x_j - out_i) (32 MB in float64, more than once); the
    new one stays in O(n) (a few arrays of 16 kB).  Peak allocation, not time."""
    n = 2000
    x0 = np.linspace(-3.0, 3.0, n)
    x, v = T(x0, "cpu"), T(np.cos(x0), "cpu")
    tracemalloc.start()
    try:
        _, jv = mg.jvp(lambda t: mg.logcumsumexp(t, 0), x, v)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * n * n / 4, f"peak {peak / 1e6:.1f} MB"     # a quarter of one n x n float64 matrix
    # and the values: jv_i = Σ_{j≤i} v_j e^(x_j - out_i), summed directly for a few i
    out = np.logaddexp.accumulate(x0)
    for i in (0, 1, 999, n - 1):
        assert jv.numpy()[i] == pytest.approx(np.sum(np.cos(x0[:i + 1]) * np.exp(x0[:i + 1] - out[i])), rel=1e-10)


def test_cat_of_nothing_but_one_d_empty_tensors_is_their_empty_join_along_any_dim():
    """PyTorch 2.13: cat([A(0), A(0)], 1) is (0,) (every input skipped); the review found it refused."""
    for dim in (0, 1, -1, 3):
        out = mg.cat([mg.zeros(0), mg.zeros(0)], dim=dim)
        assert out.shape == (0,)


@pytest.mark.parametrize("sa, sb", [((3,), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 3, 4), (5, 4, 6)),
                                    ((1, 3, 4), (5, 4, 6)), ((0,), (0,)), ((3, 0), (0, 2))])
def test_matmul_of_shapes_numpy_accepts_gives_numpys_shape(sa, sb):
    a, b = np.ones(sa), np.ones(sb)
    assert (mg.tensor(a) @ mg.tensor(b)).shape == (a @ b).shape


@pytest.mark.parametrize("bad", [1.5, (0.5,), "0"])
def test_a_dim_that_is_not_an_int_is_said_so(bad):
    """cat(..., dim=1.5) said "'float' object is not iterable"."""
    with pytest.raises(TypeError, match=r"axis must be an int or a tuple of ints, got"):
        mg.cat([mg.ones((2, 3))] * 2, dim=bad)
    with pytest.raises(TypeError, match=r"axis must be an int or a tuple of ints, got"):
        mg.ones((2, 3)).sum(axis=bad)
