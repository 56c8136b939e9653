"""Review of the peer-engine commit (9103010): the defects found against PyTorch 2.13, each with
its fix's test.  Expected values come from NumPy *basic* indexing written out by hand (the order
PyTorch gives), closed forms, or hand computation, never from minigrad itself.

Indexing: PyTorch selects with a 0-d integer tensor as with an int; True/False take no axis of x
(an int after them indexes the next axis); an Ellipsis standing for no axis does not separate two
index arrays.  Before the fix each of these silently took NumPy's order (other shapes, other
values, gradients and writes at other places).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import ops
from tests.conftest import T

X = np.arange(60.0).reshape(3, 4, 5)


def _index(value, device):
    return mg.tensor(np.asarray(value), device=device)


# --------------------------------------------------------------------------- indexing
def test_zero_d_integer_tensor_index_acts_as_an_int(device):
    x = T(X, device, True)
    out = x[_index(1, device), :, _index([2, 0], device)]
    assert out.shape == (4, 2)                                        # NumPy's order: (2, 4)
    np.testing.assert_array_equal(out.numpy(), X[1][:, [2, 0]])
    (out * T([[1.0, 10.0]] * 4, device)).sum().backward()
    expected = np.zeros_like(X)
    expected[1, :, 2], expected[1, :, 0] = 1.0, 10.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_setitem_with_a_zero_d_integer_tensor_writes_through(device):
    y = T(np.zeros((3, 4, 5)), device)
    y[_index(1, device), :, _index([2, 0], device)] = T([7.0, 8.0], device)   # (2,) broadcast on (4, 2)
    expected = np.zeros((3, 4, 5))
    expected[1, :, 2], expected[1, :, 0] = 7.0, 8.0
    np.testing.assert_array_equal(y.numpy(), expected)                # the 0-d index gives a copy: written back


def test_bool_scalar_takes_no_axis():
    x = mg.tensor(X, requires_grad=True)
    out = x[[2, 0], True, 1]                      # the int indexes axis 1 (True takes none): X[[2, 0], 1, :]
    assert out.shape == (2, 5)
    np.testing.assert_array_equal(out.numpy(), X[[2, 0], 1, :])
    out.sum().backward()
    expected = np.zeros_like(X)
    expected[[2, 0], 1, :] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert mg.tensor(X)[1, :, True].shape == (4, 1, 5)                 # X[1][:, None]; NumPy's order: (1, 4, 5)
    y = mg.tensor(np.zeros((3, 4, 5)))
    y[1, True, [0, 3]] = 5.0                                          # rows 0 and 3 of X[1]
    expected = np.zeros((3, 4, 5))
    expected[1, [0, 3], :] = 5.0
    np.testing.assert_array_equal(y.numpy(), expected)
    z = mg.tensor(np.zeros((3, 4)))
    z[1, -2, True] = 5.0                                              # every axis an int: still written through
    assert z.numpy()[1, 2] == 5.0 and z.numpy().sum() == 5.0


def test_ellipsis_for_no_axis_does_not_separate_index_arrays(device):
    x = T(X, device, True)
    out = x[:, [0, 2], ..., [1, 3]]                                   # = x[:, [0, 2], [1, 3]]
    assert out.shape == (3, 2)                                        # NumPy's order: (2, 3)
    np.testing.assert_array_equal(out.numpy(), np.stack([[X[i, 0, 1], X[i, 2, 3]] for i in range(3)]))
    out.sum().backward()
    expected = np.zeros_like(X)
    expected[:, 0, 1] = expected[:, 2, 3] = 1.0
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    y = T(np.zeros((3, 4, 5)), device)
    y[:, [0, 2], ..., [1, 3]] = T([[1.0, 2.0]] * 3, device)
    np.testing.assert_array_equal(y.numpy()[:, 0, 1], [1.0] * 3)
    np.testing.assert_array_equal(y.numpy()[:, 2, 3], [2.0] * 3)
    assert y.numpy().sum() == 9.0


def test_ints_and_slices_stay_on_the_fast_path():
    assert ops._ints_first((3,), 3) is None
    assert ops._ints_first((slice(None), 3), 3) is None
    assert ops._ints_first((Ellipsis, 3, None), 3) is None


# --------------------------------------------------------------------------- tensor_split, cross, ...
def test_tensor_split_negative_indices_count_from_the_end(device):
    x = T(np.arange(10.0), device)
    assert [p.shape[0] for p in mg.tensor_split(x, [-1])] == [9, 1]          # x[:-1], x[-1:]
    pieces = mg.tensor_split(x, [-3, 8])                                       # x[:7], x[7:8], x[8:]
    assert [p.shape[0] for p in pieces] == [7, 1, 2]
    np.testing.assert_array_equal(pieces[1].numpy(), [7.0])


def test_cross_needs_dim_where_torch_and_linalg_disagree(device):
    a = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    b = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [3.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="give dim"):
        mg.cross(T(a, device), T(b, device))
    rows = mg.cross(T(a, device), T(b, device), dim=-1).numpy()       # e1 x e2 = e3, e2 x e3 = e1, 2e3 x 3e1 = 6e2
    np.testing.assert_array_equal(rows, [[0, 0, 1], [1, 0, 0], [0, 6, 0]])
    cols = mg.cross(T(a, device), T(b, device), dim=0).numpy()        # columns (1,0,0)x(0,0,3), (0,1,0)x(1,0,0), (0,0,2)x(0,1,0)
    np.testing.assert_array_equal(cols, [[0, 0, -2], [-3, 0, 0], [0, -1, 0]])


def test_masked_select_refuses_an_integer_mask(device):
    with pytest.raises(TypeError, match="mask must be boolean"):
        mg.masked_select(T(np.ones((2, 3)), device), np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="masked_select: mask of shape"):
        mg.masked_select(T(np.ones((2, 3)), device), np.array([True, False]))


def test_tensordot_refuses_dims_out_of_range(device):
    a, b = T(np.ones((2, 3)), device), T(np.ones((3, 4)), device)
    for dims in (-1, 3):
        with pytest.raises(ValueError, match="tensordot: dims must be"):
            mg.tensordot(a, b, dims)


def test_layer_norm_refuses_an_empty_normalized_shape():
    with pytest.raises(ValueError, match="layer_norm"):
        mg.layer_norm(mg.tensor(np.ones((2, 3))), ())


def test_hstack_of_nothing_is_a_one_line_error():
    for stack in (mg.hstack, mg.vstack, mg.dstack):
        with pytest.raises(ValueError, match="non-empty"):
            stack([])


# --------------------------------------------------------------------------- elementwise
def test_logit_gradient_is_nan_outside_the_unit_interval(device):
    x = T([-0.5, 0.25, 1.5], device, True)
    mg.logit(x).sum().backward()
    g = x.grad.numpy()
    assert math.isnan(g[0]) and math.isnan(g[2])                       # PyTorch: NaN (the value is NaN too)
    assert g[1] == pytest.approx(1 / (0.25 * 0.75), rel=1e-15)


def test_trunc_division_of_integers(device):
    a = mg.tensor(np.array([-7, 7, -7, 7, 5]), device=device)
    b = mg.tensor(np.array([2, -2, -2, 2, 0]), device=device)
    out = mg.divide(a, b, rounding_mode="trunc")
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), [-3, -3, 3, 3, 0])       # by 0: 0 (NumPy's rule), not 5


def test_add_and_sub_with_alpha_take_a_number(device):
    x = T([1.0, 2.0], device, True)
    np.testing.assert_array_equal(x.add(3, alpha=2).numpy(), [7.0, 8.0])             # 1 + 6, 2 + 6
    np.testing.assert_array_equal(x.sub([1.0, 0.5], alpha=2).numpy(), [-1.0, 1.0])    # 1 - 2, 2 - 1
    y = T([0.5, 4.0], device, True)
    x.add(y, alpha=-3).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [-3.0, -3.0])


# --------------------------------------------------------------------------- closed forms of the docstrings
def test_layer_norm_gradient_is_the_closed_form(device):
    rng = np.random.default_rng(7)
    x, w, g = rng.standard_normal((3, 5)), rng.standard_normal(5), rng.standard_normal((3, 5))
    X, W = T(x, device, True), T(w, device, True)
    (mg.layer_norm(X, 5, W, None, eps=1e-5) * T(g, device)).sum().backward()
    sigma = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    xhat = (x - x.mean(axis=1, keepdims=True)) / sigma
    gh = g * w
    expected = (gh - gh.mean(axis=1, keepdims=True) - xhat * (gh * xhat).mean(axis=1, keepdims=True)) / sigma
    np.testing.assert_allclose(X.grad.numpy(), expected, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(W.grad.numpy(), (g * xhat).sum(axis=0), rtol=1e-12)


def test_normalize_gradient_of_a_zero_vector_is_g_over_eps(device):
    x = T([[0.0, 0.0], [3.0, 4.0]], device, True)
    (mg.normalize(x, dim=1, eps=1e-3) * T([[1.0, 2.0], [1.0, 2.0]], device)).sum().backward()
    u = np.array([0.6, 0.8])
    g = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), [[1e3, 2e3], (g - u * (u @ g)) / 5.0], rtol=1e-12)


def test_tensor_split_takes_a_tensor(device):
    x = T(np.arange(5.0), device)
    assert [p.shape[0] for p in mg.tensor_split(x, mg.tensor(np.array(2), device=device))] == [3, 2]
    assert [p.shape[0] for p in mg.tensor_split(x, mg.tensor(np.array([1, 3]), device=device))] == [1, 2, 2]


def test_pad_mode_in_pytorchs_position(device):
    x = T([[0.0, 1.0, 2.0, 3.0]], device)
    np.testing.assert_array_equal(mg.pad(x, (1, 1), "reflect").numpy(), [[1.0, 0.0, 1.0, 2.0, 3.0, 2.0]])
    np.testing.assert_array_equal(mg.pad(x, (1, 0), "constant", 9.0).numpy(), [[9.0, 0.0, 1.0, 2.0, 3.0]])


def test_hardtanh_refuses_reversed_bounds():
    with pytest.raises(ValueError, match="min_val must not be greater than max_val"):
        mg.hardtanh(mg.tensor(np.zeros(3)), 1.0, -1.0)
    np.testing.assert_array_equal(mg.hardtanh(mg.tensor([-2.0, 0.5, 2.0]), -1.0, 1.0).numpy(), [-1.0, 0.5, 1.0])
