"""Edge-case semantics of reductions, scans and sorting, checked against PyTorch 2.13's results
written out by hand (measured with /tmp/s13/reductions_semantics.py; no torch is needed here):
empty tensors and axes of size 0, NaN and ±inf, ties, dtypes, var/std corrections, and the
gradients at ties (closed forms) and of the norms on empty input."""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T

nan, inf = math.nan, math.inf


def host(t):
    return np.asarray(t.numpy())


# ------------------------------------------------------------------ argmax / argmin on empty tensors
@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_of_tensor_empty_along_another_axis_is_empty(device, name):
    f = getattr(mg, name)
    i = f(T(np.zeros((0, 3)), device), 1)                     # torch: tensor([], dtype=int64)
    assert i.shape == (0,) and i.dtype == np.int64
    assert f(T(np.zeros((0, 3)), device), 1, keepdims=True).shape == (0, 1)
    assert f(T(np.zeros((2, 0, 3)), device), dim=2, keepdim=True).shape == (2, 0, 1)
    assert f(T(np.zeros((2, 0)), device), 0).shape == (0,)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_over_no_elements_is_a_one_line_error(device, name):
    f = getattr(mg, name)
    for call in (lambda: f(T(np.zeros((0, 3)), device), 0), lambda: f(T(np.zeros((0,)), device)),
                 lambda: f(T(np.zeros((2, 0)), device), -1)):
        with pytest.raises(ValueError, match=name) as e:
            call()
        assert "\n" not in str(e.value) and ("size 0" in str(e.value) or "empty" in str(e.value))


def test_arg_ties_first_and_nan_first(device):
    z = T([3.0, 1.0, 3.0, 2.0, 3.0, 1.0], device)
    assert int(host(mg.argmax(z))) == 0 and int(host(mg.argmin(z))) == 1
    x = T([1.0, nan, 3.0, nan, 3.0], device)
    assert int(host(mg.argmax(x))) == 1 and int(host(mg.argmin(x))) == 1   # torch: NaN wins both


# ------------------------------------------------------------------ norms of empty input
@pytest.mark.parametrize("ord", [inf, -inf])
def test_vector_norm_inf_of_nothing_is_a_one_line_error(device, ord):
    for shape, axis in (((0,), None), ((2, 0), 1), ((2, 0), None)):
        with pytest.raises(ValueError, match="over no elements") as e:
            mg.vector_norm(T(np.zeros(shape), device), ord, axis)
        assert "zero-size array" not in str(e.value)
    assert mg.vector_norm(T(np.zeros((2, 0)), device), ord, 0).shape == (0,)   # empty elsewhere: fine


@pytest.mark.parametrize("ord", [2, 1, 0, 3, 0.5])
def test_vector_norm_of_nothing_is_zero(device, ord):
    assert float(host(mg.vector_norm(T(np.zeros((0,)), device), ord))) == 0.0


@pytest.mark.parametrize("shape,ord", [((2, 0), 1), ((2, 0), inf), ((2, 0), -inf), ((0, 2), 1),
                                       ((0, 2), -1), ((0, 2), inf), ((2, 0), "fro")])
def test_matrix_norm_of_empty_is_zero(device, shape, ord):
    x = T(np.zeros(shape), device, requires_grad=True)
    out = mg.norm(x, ord)
    assert out.shape == () and float(host(out)) == 0.0       # torch.linalg.norm: tensor(0.)
    if out.requires_grad:
        out.backward()
        assert x.grad.shape == shape


@pytest.mark.parametrize("shape,ord", [((2, 0), -1), ((0, 2), -inf)])
def test_matrix_norm_smallest_sum_of_nothing_is_refused(device, shape, ord):
    with pytest.raises(ValueError, match="no sums") as e:
        mg.norm(T(np.zeros(shape), device), ord)
    assert "zero-size array" not in str(e.value)


def test_matrix_norm_keepdims_on_empty(device):
    assert mg.norm(T(np.zeros((3, 2, 0)), device), 1, (1, 2), keepdims=True).shape == (3, 1, 1)


# ------------------------------------------------------------------ empty reductions (values)
def test_empty_reductions_values(device):
    e = T(np.zeros((0,)), device)
    assert float(host(mg.sum(e))) == 0.0 and float(host(mg.prod(e))) == 1.0
    assert float(host(mg.logsumexp(e, 0))) == -inf
    with np.errstate(invalid="ignore", divide="ignore"):
        assert math.isnan(float(host(mg.mean(e)))) and math.isnan(float(host(mg.var(e))))
    assert math.isnan(float(host(mg.median(e))))
    assert host(mg.sum(T(np.zeros((2, 0)), device), 1)).tolist() == [0.0, 0.0]
    assert host(mg.prod(T(np.zeros((2, 0)), device), 1)).tolist() == [1.0, 1.0]


# ------------------------------------------------------------------ dtypes
def test_integer_sums_accumulate_in_int64(device):
    x = mg.tensor(np.array([100, 100], dtype=np.int8), device=device)
    assert mg.sum(x).dtype == np.int64 and int(host(mg.sum(x))) == 200
    b = mg.tensor(np.array([True, False, True]), device=device)
    assert mg.cumsum(b, 0).dtype == np.int64 and host(mg.cumsum(b, 0)).tolist() == [1, 1, 2]
    assert mg.prod(b).dtype == np.int64 and int(host(mg.prod(b))) == 0


# ------------------------------------------------------------------ var / std
def test_var_corrections_and_one_element(device):
    x = T([1.0, 2.0, 4.0], device)                         # mean 7/3, Σ d² = 14/3
    assert float(host(mg.var(x))) == pytest.approx(7 / 3)
    assert float(host(mg.var(x, correction=0))) == pytest.approx(14 / 9)
    assert float(host(mg.var(x, 0, False))) == pytest.approx(14 / 9)   # torch: var(x, 0, False)
    assert float(host(mg.var(x, correction=2))) == pytest.approx(14 / 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        assert float(host(mg.var(x, correction=5))) == inf
        assert math.isnan(float(host(mg.std(T([1.0], device)))))


# ------------------------------------------------------------------ sorting, NaN and ties
def test_sort_nan_placement_stable(device):
    y = T([2.0, -inf, nan, inf, 2.0, -0.0, 0.0, nan, -inf], device)
    assert host(mg.sort(y).indices).tolist() == [1, 8, 5, 6, 0, 4, 3, 2, 7]
    assert host(mg.sort(y, descending=True).indices).tolist() == [2, 7, 3, 0, 4, 5, 6, 1, 8]


def test_median_lower_middle_and_nan(device):
    assert float(host(mg.median(T([1.0, 2.0, 3.0, 4.0], device)))) == 2.0
    v, i = mg.median(T([3.0, 1.0, 3.0, 2.0, 3.0, 1.0], device), 0)
    assert (float(host(v)), int(host(i))) == (2.0, 3)
    v, i = mg.median(T([1.0, nan, 3.0, nan, 3.0], device), 0)
    assert math.isnan(float(host(v))) and int(host(i)) == 1
    v, i = mg.nanmedian(T([nan, nan, nan], device), 0)
    assert math.isnan(float(host(v))) and int(host(i)) == 0


# ------------------------------------------------------------------ gradients at ties (closed forms)
def test_max_dim_routes_gradient_amax_shares_it(device):
    g = [1.0, 3.0, 3.0, 2.0]
    x = T(g, device, requires_grad=True)
    mg.max(x, 0).values.backward()
    assert host(x.grad).tolist() == [0.0, 1.0, 0.0, 0.0]
    x = T(g, device, requires_grad=True)
    mg.amax(x, 0).backward()
    assert host(x.grad).tolist() == [0.0, 0.5, 0.5, 0.0]
    x = T([1.0, 2.0, 2.0, 3.0], device, requires_grad=True)
    mg.median(x).backward()
    assert host(x.grad).tolist() == [0.0, 0.5, 0.5, 0.0]


def test_logsumexp_all_minus_inf(device):
    with np.errstate(divide="ignore"):
        assert float(host(mg.logsumexp(T([-inf, -inf], device), 0))) == -inf


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_of_0d_along_dim_is_index_0(device, name):
    f = getattr(mg, name)
    for dim in (0, -1):                                    # torch.argmax(torch.tensor(3.), 0) -> 0
        i = f(T(3.0, device), dim)
        assert i.shape == () and i.dtype == np.int64 and int(host(i)) == 0
    assert f(T(3.0, device), 0, keepdims=True).shape == ()
    with pytest.raises(ValueError, match="out of range"):
        f(T(3.0, device), 1)


def test_bool_in_place_of_dim_is_unbiased(device):
    """torch.var(x, False) / x.std(True): the overload var(input, unbiased), over all elements.
    Read as an axis, False was axis 0 and True axis 1: a silently different number."""
    a = np.array([[0.0, 1.0, 4.0], [9.0, 16.0, 25.0]])
    d2 = float(((a - a.mean()) ** 2).sum())                   # Σ (x - μ)² over all 6 elements
    x = T(a, device)
    assert float(host(mg.var(x, False))) == pytest.approx(d2 / 6)
    assert float(host(mg.var(x, True))) == pytest.approx(d2 / 5)
    assert float(host(x.var(False))) == pytest.approx(d2 / 6)
    assert float(host(x.std(True))) == pytest.approx(math.sqrt(d2 / 5))
    s, m = mg.std_mean(x, False)
    assert float(host(s)) == pytest.approx(math.sqrt(d2 / 6)) and float(host(m)) == pytest.approx(a.mean())
    v, m = mg.var_mean(x, True)
    assert float(host(v)) == pytest.approx(d2 / 5) and m.shape == ()
    assert float(host(mg.var(x, 0, False)[1])) == pytest.approx(56.25)   # dim 0, then unbiased: (16-1)²/4
    with pytest.raises(TypeError, match="unbiased"):
        mg.var(x, False, unbiased=True)


def test_inf_norm_gradient_with_nan_is_nan_there_only(device):
    """A NaN is the extreme of |x| (the norm is NaN): its position gets NaN, the others 0, with
    no 0/0 (which gave NaN everywhere, with a RuntimeWarning).  PyTorch gives 0 everywhere."""
    import warnings
    for ord in (inf, -inf):
        x = T([[nan, 2.0, -1.0], [1.0, -3.0, 3.0]], device, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            mg.sum(mg.vector_norm(x, ord, 1)).backward()
        g = host(x.grad)
        assert math.isnan(g[0, 0]) and g[0, 1:].tolist() == [0.0, 0.0]
        assert g[1].tolist() == ([0.0, -0.5, 0.5] if ord == inf else [1.0, 0.0, 0.0])   # ties share


def test_prod_and_cumprod_gradient_with_inf_is_product_of_others(device):
    x = T([inf, 2.0, 3.0], device, requires_grad=True)
    mg.prod(x).backward()
    assert host(x.grad).tolist() == [6.0, inf, inf]            # ∂/∂x0 = 2·3; PyTorch: NaN
    x = T([inf, 2.0, 0.0], device, requires_grad=True)
    with np.errstate(invalid="ignore"):                        # the forward's ∞ · 0 = NaN
        mg.sum(mg.cumprod(x, 0)).backward()
    assert host(x.grad).tolist()[0] == 3.0                     # 1 + 2 + 2·0


def test_empty_dim_tuple_reduces_all_as_in_pytorch(device):
    """torch: x.var(dim=()) is the variance of all elements (was: per element, 0/0 = NaN);
    NumPy's axis=() reduces over none, and keeps that meaning."""
    a = np.arange(6.0).reshape(2, 3)                          # mean 2.5, Σ d² = 17.5
    x = T(a, device)
    assert float(host(mg.var(x, dim=()))) == pytest.approx(3.5)
    assert host(mg.std(x, dim=[], keepdim=True)).shape == (1, 1)
    assert float(host(mg.std(x, dim=[], keepdim=True))[0, 0]) == pytest.approx(math.sqrt(3.5))
    v, m = mg.var_mean(x, dim=())
    assert (float(host(v)), float(host(m))) == (pytest.approx(3.5), 2.5)
    assert float(host(mg.vector_norm(x, 1, dim=[]))) == 15.0
    assert int(host(mg.count_nonzero(x, dim=()))) == 5
    assert float(host(mg.nansum(x, dim=()))) == 15.0 and float(host(mg.nanmean(x, dim=()))) == 2.5
    assert host(mg.vector_norm(x, 1, axis=())).tolist() == a.tolist()   # NumPy: |x|, no reduction
