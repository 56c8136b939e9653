"""Edge-case semantics of the elementwise functions and the tensor factories, PyTorch's rules.

Every expectation is written by hand from the definition (or from PyTorch 2.13's documented or
measured behaviour, recorded in /tmp/s13/elementwise_semantics.py of the review that added this
file); gradients are checked against a closed form, or against central differences in float64.
No torch is imported.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T

# the edges computed here on purpose (x / 0, 0 * inf): NumPy's RuntimeWarnings are expected
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

NAN, INF = math.nan, math.inf


def grads(f, device, *values):
    """The gradient of sum(f(x...)) with respect to each x, as host arrays (float64)."""
    xs = [T(v, device, requires_grad=True) for v in values]
    f(*xs).sum().backward()
    return [x.grad.numpy() for x in xs]


def same(actual, expected):
    """Equal values, NaN where NaN, and the same sign of each zero."""
    a, e = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert a.shape == e.shape, (a, e)
    assert np.array_equal(np.isnan(a), np.isnan(e)), (a, e)
    ok = ~np.isnan(e)
    assert np.array_equal(a[ok], e[ok]), (a, e)
    assert np.array_equal(np.signbit(a[ok & (e == 0)]), np.signbit(e[ok & (e == 0)])), (a, e)


# ------------------------------------------------------------------ defects fixed by this review
def test_trunc_division_of_bools_is_refused_like_floor_division(device):
    a, b = mg.tensor([True], device=device), mg.tensor([True], device=device)
    with pytest.raises(TypeError, match="bools"):                     # it was a float64 tensor [1.]
        mg.div(a, b, rounding_mode="trunc")
    with pytest.raises(TypeError, match="bools"):
        mg.div(a, b, rounding_mode="floor")
    out = mg.div(a, mg.tensor([2], device=device), rounding_mode="trunc")   # bool with int: int64
    assert out.dtype == np.int64 and out.numpy().tolist() == [0]


def test_logit_eps_above_one_half_tests_eps_first(device):
    """PyTorch: z = eps if x < eps, else 1 - eps if x > 1 - eps, else x (not a clip to [0.6, 0.4])."""
    x = T([0.1, 0.5, 0.9, NAN], device)
    up, down = math.log(0.6 / 0.4), math.log(0.4 / 0.6)
    np.testing.assert_allclose(mg.logit(x, eps=0.6).numpy(), [up, up, down, NAN], rtol=1e-15)
    same(mg.logit(T([0.1, 0.9], device), eps=0.5).numpy(), [0.0, 0.0])
    same(grads(lambda t: mg.logit(t, eps=0.6), device, [0.1, 0.5, 0.9])[0], [0.0, 0.0, 0.0])


def test_logit_negative_eps_means_no_clamp(device):
    """A negative eps is PyTorch's 'no clamp': NaN outside [0, 1] in the value and the derivative."""
    x = [0.25, -1.0, 0.0, 1.0, 2.0]
    value = mg.logit(T(x, device), eps=-0.1).numpy()
    same(value, [math.log(1 / 3), NAN, -INF, INF, NAN])
    g = grads(lambda t: mg.logit(t, eps=-0.1), device, x)[0]
    same(g, [1 / (0.25 * 0.75), NAN, INF, INF, NAN])                  # it was 0 at -1 and 2
    assert mg.gradcheck(lambda t: mg.logit(t, eps=-0.1), [T([0.2, 0.5, 0.7], device, requires_grad=True)], order=2)


def test_round_takes_numpy_integer_decimals(device):
    out = mg.round(T([1.25, 1.75, -0.25], device), decimals=np.int64(1))     # exact halves: to even
    same(out.numpy(), [1.2, 1.8, -0.2])
    with pytest.raises(TypeError, match="decimals"):
        mg.round(T([1.0], device), decimals=1.0)


def test_fmax_fmin_treat_nan_as_missing(device):
    a, b = [1.0, NAN, NAN, 2.0, -INF], [NAN, 1.0, NAN, 3.0, NAN]
    same(mg.fmax(T(a, device), T(b, device)).numpy(), [1.0, 1.0, NAN, 3.0, -INF])
    same(mg.fmin(T(a, device), T(b, device)).numpy(), [1.0, 1.0, NAN, 2.0, -INF])
    same(mg.maximum(T(a, device), T(b, device)).numpy(), [NAN, NAN, NAN, 3.0, NAN])   # NaN propagates
    ints = mg.fmax(mg.tensor([1, 5], device=device), mg.tensor([3, 2], device=device))
    assert ints.dtype == np.int64 and ints.numpy().tolist() == [3, 5]
    mixed = mg.fmin(mg.tensor([1, 5], device=device), T([3.0, NAN], device))
    assert mixed.dtype == np.float64 and mixed.numpy().tolist() == [1.0, 5.0]


def test_fmax_fmin_gradients_pytorch_masks(device):
    """ā = ḡ [a ≥ b or b NaN] (fmin: a ≤ b), b̄ = the rest: a tie gives all to a, both NaN to a."""
    a, b = [1.0, 2.0, NAN, NAN, 0.0, 5.0], [1.0, NAN, 1.0, NAN, 3.0, 4.0]
    ga, gb = grads(mg.fmax, device, a, b)
    same(ga, [1, 1, 0, 1, 0, 1])
    same(gb, [0, 0, 1, 0, 1, 0])
    ga, gb = grads(mg.fmin, device, a, b)
    same(ga, [1, 1, 0, 1, 1, 0])
    same(gb, [0, 0, 1, 0, 0, 1])
    pts = [T([0.3, -1.0, 2.0], device, requires_grad=True), T([0.1, 0.5, 2.5], device, requires_grad=True)]
    assert mg.gradcheck(mg.fmax, pts, order=2) and mg.gradcheck(mg.fmin, pts, order=2)


def test_signbit_and_sgn(device):
    x = T([-0.0, 0.0, -2.0, 3.0, -INF], device)
    out = mg.signbit(x)
    assert out.dtype == np.bool_ and out.numpy().tolist() == [True, False, True, False, True]
    assert mg.signbit(T([-NAN], device)).numpy().tolist() == [True]     # the bit, not the value
    assert mg.signbit(mg.tensor([-3, 0, 2], device=device)).numpy().tolist() == [True, False, False]
    assert mg.signbit(mg.tensor([True, False], device=device)).numpy().tolist() == [False, False]
    same(mg.sgn(T([-2.0, -0.0, 0.0, 5.0], device)).numpy(), [-1.0, 0.0, 0.0, 1.0])   # +0 for -0.0, as torch


# ------------------------------------------------------------------ edges that already agree (kept so)
def test_integer_division_signs(device):
    a, b = mg.tensor([7, -7, 7, -7], device=device), mg.tensor([2, 2, -2, -2], device=device)
    assert mg.floor_divide(a, b).numpy().tolist() == [3, -4, -4, 3]
    assert mg.remainder(a, b).numpy().tolist() == [1, 1, -1, -1]              # sign of b
    assert mg.fmod(a, b).numpy().tolist() == [1, -1, 1, -1]                   # sign of a
    assert mg.div(a, b, rounding_mode="trunc").numpy().tolist() == [3, -3, -3, 3]
    true = mg.div(a, b)
    assert true.dtype == np.float64 and true.numpy().tolist() == [3.5, -3.5, -3.5, 3.5]
    same(mg.div(T([7.5, -0.5], device), T([-2.0, 2.0], device), rounding_mode="trunc").numpy(), [-3.0, -0.0])
    same(mg.div(T([7.0, -7.0, 0.0], device), T([0.0, 0.0, 0.0], device), rounding_mode="floor").numpy(),
         [INF, -INF, NAN])


def test_integer_powers(device):
    with pytest.raises(ValueError, match="negative integer powers"):
        mg.tensor([2, 3], device=device) ** -1
    sq = mg.tensor([2, -3], device=device) ** 2
    assert sq.dtype == np.int64 and sq.numpy().tolist() == [4, 9]
    recip = mg.reciprocal(mg.tensor([0, 2], device=device))
    assert recip.dtype == np.float64 and recip.numpy().tolist() == [INF, 0.5]
    zero = T([0.0], device, requires_grad=True)
    p = zero ** T([0.0], device)
    p.sum().backward()
    assert p.numpy().tolist() == [1.0] and zero.grad.numpy().tolist() == [0.0]
    same((T([-8.0], device) ** (1 / 3)).numpy(), [NAN])


def test_rounding_and_signs(device):
    same(mg.round(T([0.5, 1.5, 2.5, -0.5, -2.5], device)).numpy(), [0.0, 2.0, 2.0, -0.0, -2.0])
    same(mg.abs(T([-0.0], device)).numpy(), [0.0])
    same(mg.sqrt(T([-0.0], device)).numpy(), [-0.0])
    same(mg.copysign(T([1.0, 2.0], device), T([-0.0, 0.0], device)).numpy(), [-1.0, 2.0])
    same(mg.atan2(T([0.0, 0.0, -0.0, -0.0], device), T([0.0, -0.0, 0.0, -0.0], device)).numpy(),
         [0.0, math.pi, -0.0, -math.pi])


def test_clamp_edges(device):
    x = T([-2.0, 0.0, 5.0, NAN], device)
    same(mg.clamp(x, 3.0, 1.0).numpy(), [1.0, 1.0, 1.0, NAN])                  # min > max: max
    same(mg.clamp(x, NAN, 1.0).numpy(), [NAN] * 4)
    same(grads(lambda t: mg.clamp(t, 3.0, 1.0), device, [0.0, 2.0, 5.0])[0], [0.0, 0.0, 0.0])


def test_special_values(device):
    same(mg.nan_to_num(T([NAN, INF, -INF], device, dtype=np.float32)).numpy(),
         [0.0, np.finfo(np.float32).max, -np.finfo(np.float32).max])
    same(mg.xlogy(T([0.0, 0.0, 0.0], device), T([0.0, NAN, -1.0], device)).numpy(), [0.0, NAN, 0.0])
    same(mg.sinc(T([0.0], device)).numpy(), [1.0])
    same(mg.erfinv(T([1.0, -1.0, 1.5], device)).numpy(), [INF, -INF, NAN])
    same(mg.hypot(T([INF, NAN], device), T([NAN, INF], device)).numpy(), [INF, INF])
    same(mg.exp2(T([-1100.0, 1100.0], device)).numpy(), [0.0, INF])
    same(mg.log1p(T([-1.0, -2.0], device)).numpy(), [-INF, NAN])


def test_gradients_at_kinks(device):
    same(grads(mg.abs, device, [0.0, -0.0])[0], [0.0, 0.0])
    same(grads(mg.sqrt, device, [0.0])[0], [INF])
    same(grads(mg.relu, device, [0.0])[0], [0.0])
    ga, gb = grads(mg.maximum, device, [1.0, 2.0], [1.0, 1.0])
    same(ga, [0.5, 1.0])
    same(gb, [0.5, 0.0])
    # where: the unselected branch's NaN derivative still reaches x (0 · ∞ = NaN), as in PyTorch
    same(grads(lambda t: mg.where(t.data > 0, mg.sqrt(t), mg.zeros_like(t)), device, [0.0, 4.0])[0], [NAN, 0.25])


# ------------------------------------------------------------------ factories
def test_factory_dtypes_and_counts(device):
    assert mg.full((2,), 3, device=device).dtype == np.int64
    assert mg.full((2,), True, device=device).dtype == np.bool_
    assert mg.tensor([True, 2], device=device).dtype == np.int64
    assert mg.tensor([1, 2.5], device=device).dtype == np.float64
    assert len(mg.arange(0, 1, 0.1, device=device)) == 10                    # ceil((1 - 0) / 0.1)
    assert len(mg.arange(0, 0.3, 0.1, device=device)) == 3
    assert mg.linspace(0, 1, 1, device=device).numpy().tolist() == [0.0]
    assert mg.eye(2, 3, device=device).numpy().tolist() == [[1, 0, 0], [0, 1, 0]]
    i32 = mg.tensor([1, 2], dtype="int32", device=device)
    assert mg.zeros_like(i32).dtype == np.int32 and mg.full_like(i32, 2.7).numpy().tolist() == [2, 2]
    assert mg.one_hot(mg.tensor([0, 2], device=device)).numpy().tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match="non-negative"):
        mg.one_hot(mg.tensor([0, -1], device=device))


@pytest.mark.parametrize("data", [None, ["a"], [-2 ** 63 - 1], [2 ** 64]])
def test_tensor_refuses_what_is_not_a_number_in_one_line(data, device):
    with pytest.raises(TypeError, match="bool, integer or floating-point"):   # was an object / <U1 tensor
        mg.tensor(data, device=device)


def test_tensor_refuses_python_ints_beyond_int64(device):
    with pytest.raises(OverflowError, match="int64"):        # was uint64, and then t * 2 == 0 silently
        mg.tensor([2 ** 63], device=device)
    assert mg.tensor([2 ** 63], dtype="uint64", device=device).numpy().tolist() == [2 ** 63]
    assert mg.tensor([2 ** 63 - 1], device=device).dtype == np.int64


@pytest.mark.parametrize("fill", [math.nan, math.inf, -math.inf])
def test_no_nan_or_inf_into_an_integer_tensor(fill, device):
    with pytest.raises(ValueError, match="no integer value"):            # was INT_MIN, silently
        mg.full_like(mg.tensor([1, 2], dtype="int32", device=device), fill)
    with pytest.raises(ValueError, match="no integer value"):
        mg.full((2,), fill, dtype="int64", device=device)
    got = mg.full_like(mg.tensor([1.0], device=device), fill).numpy()[0]     # floats take them
    assert got == fill or (math.isnan(fill) and math.isnan(got))


def test_arange_refuses_zero_step_and_fractional_integer_ranges(device):
    with pytest.raises(ValueError, match="nonzero"):                     # was a bare ZeroDivisionError
        mg.arange(0, 5, 0, device=device)
    with pytest.raises(ValueError, match="integer dtype"):               # was ten zeros
        mg.arange(0, 1, 0.1, dtype="int64", device=device)
    assert mg.arange(0, 3.0, dtype="int64", device=device).numpy().tolist() == [0, 1, 2]


def test_linspace_takes_pytorchs_steps(device):
    assert mg.linspace(0, 1, steps=3, device=device).numpy().tolist() == [0.0, 0.5, 1.0]
    assert mg.linspace(0, 1, 3, device=device).numpy().tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(TypeError, match="once"):
        mg.linspace(0, 1, 3, steps=3, device=device)
    with pytest.raises(ValueError, match="non-negative int"):
        mg.linspace(0, 1, True, device=device)
