"""In-place methods and ``x[index] = value`` behave as PyTorch's do, or refuse in one line.

The expected values are PyTorch 2.13's, measured once by /tmp/s13/inplace_semantics.py (a
side-by-side run of 337 cases) and written here by hand; no torch is needed to run this file.
The first part holds the defects that run found (each failed on the code before its fix), the
second the behaviours that already matched and must stay so.
"""
import numpy as np
import pytest

import minigrad as mg
from conftest import T


def other_device(device):
    return "strict" if device == "cpu" else "cpu"


# ============================================================== numbers that do not fit the dtype
@pytest.mark.parametrize("dtype, value", [("int8", 300), ("int8", -129), ("uint8", 256), ("int64", float("nan")),
                                          ("int64", float("inf")), ("int64", 1e19), ("float32", 1e300),
                                          ("uint8", -0.5)])
def test_fill_refuses_a_number_the_dtype_cannot_hold(device, dtype, value):
    """PyTorch: "value cannot be converted to type int8_t without overflow".  minigrad wrapped
    300 to 44, made NaN the most negative int64 and 1e300 an infinity, silently."""
    x = T([1, 2, 3], device, dtype=dtype)
    with pytest.raises(OverflowError, match=f"fill_: the value .* does not fit dtype {dtype}"):
        x.fill_(value)
    np.testing.assert_array_equal(x.numpy(), np.array([1, 2, 3], dtype=dtype))     # unchanged


@pytest.mark.parametrize("dtype, value, expected", [("int8", -128, -128), ("int8", 127, 127), ("uint8", -1, 255),
                                                    ("int64", 2.7, 2), ("int64", -2.7, -2), ("float32", np.inf, np.inf),
                                                    ("float32", 3.4e38, np.float32(3.4e38)), ("bool", 2, True),
                                                    ("bool", 0.5, True), ("float64", True, 1.0)])
def test_fill_takes_what_pytorch_takes(device, dtype, value, expected):
    """Floats truncate towards 0 into integers; an unsigned dtype wraps a negative int, as in
    PyTorch (uint8.fill_(-1) is 255)."""
    x = T([0, 0], device, dtype=dtype)
    assert x.fill_(value) is x
    np.testing.assert_array_equal(x.numpy(), np.array([expected, expected], dtype=dtype))


def test_fill_with_a_0d_tensor_casts_as_pytorch(device):
    """A 0-d tensor's value is cast, not checked (PyTorch: int8.fill_(tensor(300)) is 44)."""
    x = T([1, 2], device, dtype="int8")
    x.fill_(T(300, device, dtype="int64"))
    np.testing.assert_array_equal(x.numpy(), [44, 44])


def test_setitem_and_masked_fill_refuse_a_float_beyond_float32(device):
    """PyTorch refuses 1e300 into float32; minigrad wrote an infinity (with a NumPy warning)."""
    x = T([1.0, 2.0], device, dtype="float32")
    with pytest.raises(OverflowError, match="does not fit dtype float32"):
        x[0] = 1e300
    with pytest.raises(OverflowError, match="does not fit dtype float32"):
        x.masked_fill_(T([True, False], device, dtype=bool), -1e300)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])
    x[0] = float("inf")                                        # infinities and NaN fit a float
    x.masked_fill_(T([False, True], device, dtype=bool), float("nan"))
    assert np.isposinf(x.numpy()[0]) and np.isnan(x.numpy()[1])


# ============================================================== writes into expanded views
@pytest.mark.parametrize("write", [lambda e: e.add_(1), lambda e: e.fill_(2.0), lambda e: e.zero_(),
                                   lambda e: e.copy_(mg.ones((3, 4), device=e.device)),
                                   lambda e: e.__setitem__((0, 0), 100.0), lambda e: e.clamp_(0, 1)])
def test_write_into_an_expanded_view_is_refused_in_one_line(device, write):
    """Several positions of ``base.expand(3, 4)`` are one element.  NumPy's view is read-only
    ("assignment destination is read-only", which says nothing of why); CuPy's arrays have no
    read-only flag, so the write would go through there.  Now one message on every device."""
    base = T([[0.0, 1.0, 2.0, 3.0]], device)
    e = base.expand(3, 4)
    with pytest.raises(ValueError, match="expanded view"):
        write(e)
    np.testing.assert_array_equal(base.numpy(), [[0.0, 1.0, 2.0, 3.0]])


def test_write_into_a_size_one_broadcast_is_allowed(device):
    """A stride of 0 on an axis of length 1 shares nothing: the write goes through."""
    base = T([[0.0, 1.0]], device)
    e = base.expand(1, 2)
    e.add_(1)
    np.testing.assert_array_equal(e.numpy(), [[1.0, 2.0]])


# ============================================================== values from another device
def test_setitem_copies_a_value_from_another_device(device):
    """PyTorch copies it over (x_cpu[0:1] = v_cuda); minigrad raised "setting an array element
    with a sequence" (a 0-d value) or a host-conversion error."""
    x = T([1.0, 2.0, 3.0], device)
    x[0:2] = T([7.0, 8.0], other_device(device))
    x[2] = T(9.0, other_device(device))
    np.testing.assert_array_equal(x.numpy(), [7.0, 8.0, 9.0])
    assert x.device == mg.tensor([0.0], device=device).device


def test_fill_and_masked_fill_copy_a_0d_value_from_another_device(device):
    x = T([1.0, 2.0], device)
    x.fill_(T(3.0, other_device(device)))
    x.masked_fill_(T([True, False], device, dtype=bool), T(5.0, other_device(device)))
    np.testing.assert_array_equal(x.numpy(), [5.0, 3.0])


# ============================================================== PyTorch's keywords
def test_add_and_sub_take_alpha(device):
    """p.add_(g, alpha=-lr), as in every PyTorch optimizer; it was a TypeError."""
    x = T([-2.0, -0.5, 0.25, 3.0], device)
    assert x.add_(T([1.0, 1.0, 1.0, 1.0], device), alpha=2) is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.5, 2.25, 5.0])
    x.sub_(T([1.0, 2.0, 3.0, 4.0], device), alpha=0.5)
    np.testing.assert_array_equal(x.numpy(), [-0.5, 0.5, 0.75, 3.0])
    n = T([1, 2], device, dtype="int64")
    with pytest.raises(TypeError, match="integer alpha"):
        n.add_(1, alpha=0.5)                       # PyTorch refuses a float alpha for integers


def test_div_takes_rounding_mode(device):
    """PyTorch: int.div_(2, rounding_mode="floor") stays an integer tensor."""
    n = T([-3, -1, 1, 3], device, dtype="int64")
    assert n.div_(2, rounding_mode="floor") is n
    np.testing.assert_array_equal(n.numpy(), [-2, -1, 0, 1])
    assert n.dtype == np.int64
    x = T([-2.0, -0.5, 0.25, 3.0], device)
    x.div_(2.0, rounding_mode="trunc")
    np.testing.assert_array_equal(x.numpy(), [-1.0, -0.0, 0.0, 1.0])
    with pytest.raises(TypeError, match="div_: the result has dtype"):
        T([1, 2], device, dtype="int64").div_(2)   # true division: a float result, refused


def test_copy_takes_non_blocking(device):
    x = T([0.0, 0.0], device)
    assert x.copy_(T([1.0, 2.0], device), non_blocking=True) is x
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


# ============================================================== the in-place methods that were missing
UNARY = {"floor_": np.floor, "ceil_": np.ceil, "trunc_": np.trunc, "round_": np.round, "sign_": np.sign,
         "log_": np.log, "log1p_": np.log1p, "expm1_": np.expm1, "sin_": np.sin, "cos_": np.cos,
         "reciprocal_": np.reciprocal, "rsqrt_": lambda a: 1 / np.sqrt(a)}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_in_place_methods(device, name):
    data = np.array([0.25, 1.5, 2.5, 7.0])
    x = T(data, device)
    version = x.version
    assert getattr(x, name)() is x
    np.testing.assert_allclose(x.numpy(), UNARY[name](data), rtol=1e-15, atol=0)
    assert x.version == version + 1


def test_rounding_in_place_keeps_integers_and_float_results_are_refused(device):
    n = T([2, 3], device, dtype="int64")
    n.floor_().ceil_().trunc_().round_()
    np.testing.assert_array_equal(n.numpy(), [2, 3])
    with pytest.raises(TypeError, match="log_: the result has dtype"):
        n.log_()                                   # PyTorch: result type Float can't be cast to Long


def test_binary_in_place_methods(device):
    x = T([-2.0, -0.5, 0.25, 3.0], device)
    np.testing.assert_array_equal(x.clamp_min_(0.0).numpy(), [0.0, 0.0, 0.25, 3.0])
    np.testing.assert_array_equal(x.clamp_max_(1.0).numpy(), [0.0, 0.0, 0.25, 1.0])
    x.lerp_(T([4.0, 4.0, 4.0, 4.0], device), 0.25)                  # x + 0.25 (end - x)
    np.testing.assert_array_equal(x.numpy(), [1.0, 1.0, 1.1875, 1.75])
    x.addcmul_(T([1.0, 2.0, 3.0, 4.0], device), T([2.0, 2.0, 2.0, 2.0], device), value=0.5)
    np.testing.assert_array_equal(x.numpy(), [2.0, 3.0, 4.1875, 5.75])
    x.addcdiv_(T([1.0, 2.0, 3.0, 4.0], device), T([2.0, 2.0, 2.0, 2.0], device))
    np.testing.assert_array_equal(x.numpy(), [2.5, 4.0, 5.6875, 7.75])


def test_index_add_scatter_add_scatter_in_place(device):
    x = mg.zeros((3, 2), device=device)
    assert x.index_add_(0, T([0, 0, 2], device, dtype="int64"), T([[1, 2], [3, 4], [5, 6]], device)) is x
    np.testing.assert_array_equal(x.numpy(), [[4, 6], [0, 0], [5, 6]])          # repeats add up
    y = mg.zeros(4, device=device)
    y.scatter_add_(0, T([1, 1, 3], device, dtype="int64"), T([1.0, 2.0, 3.0], device))
    np.testing.assert_array_equal(y.numpy(), [0, 3, 0, 3])
    y.scatter_(0, T([0, 2], device, dtype="int64"), T([7.0, 8.0], device))
    np.testing.assert_array_equal(y.numpy(), [7, 3, 8, 3])


def test_index_put_with_and_without_accumulate(device):
    """PyTorch's values: accumulate adds repeats up; a bool mask and a broadcast value too."""
    x = mg.zeros(4, device=device)
    assert x.index_put_((T([0, 0, 2], device, dtype="int64"),), T([1.0, 2.0, 3.0], device), accumulate=True) is x
    np.testing.assert_array_equal(x.numpy(), [3, 0, 3, 0])
    m = mg.zeros((2, 3), device=device)
    m.index_put_((T([[True, False, True], [False, False, True]], device, dtype=bool),), T(1.0, device),
                 accumulate=True)
    m.index_put_((T([1, 1], device, dtype="int64"),), T([1.0, 2.0, 3.0], device), accumulate=True)
    np.testing.assert_array_equal(m.numpy(), [[1, 0, 1], [2, 4, 7]])
    m.index_put_([T([0], device, dtype="int64"), T([1], device, dtype="int64")], T([9.0], device))
    assert m.numpy()[0, 1] == 9
    with pytest.raises(TypeError, match="index_put_: values is a tensor of the target's dtype float64"):
        m.index_put_((T([0], device, dtype="int64"),), T([1], device, dtype="int64"))
    with pytest.raises(TypeError, match="index_put_: indices is a tuple of index tensors"):
        m.index_put_((0,), T([1.0], device))
    w = T([1.0, 2.0], device, requires_grad=True)
    with pytest.raises(RuntimeError, match="index_put_ on a tensor that requires grad"):
        w.index_put_((T([0], device, dtype="int64"),), T([1.0], device), accumulate=True)


# ============================================================== behaviours that already matched PyTorch
def test_setitem_index_kinds_as_pytorch(device):
    x = T(np.arange(24.0).reshape(2, 3, 4), device)
    x[1, :, [0, 2]] = T(-np.arange(1.0, 7.0).reshape(3, 2), device)       # PyTorch's order: (3, 2)
    np.testing.assert_array_equal(x.numpy()[1, :, [0, 2]].T, -np.arange(1.0, 7.0).reshape(3, 2))
    y = T(np.arange(12.0).reshape(3, 4), device)
    y[T(1, device, dtype="int64"), [0, 3]] = -1.0                         # a 0-d index tensor is an int
    y[T([True, False, True], device, dtype=bool)] = 0.5                    # a mask over rows
    y[..., [1]] = T([[7.0], [8.0], [9.0]], device)
    np.testing.assert_array_equal(y.numpy(), [[0.5, 7, 0.5, 0.5], [-1, 8, 6, -1], [0.5, 9, 0.5, 0.5]])
    z = T([0.0, 1.0, 2.0, 3.0], device)
    z[[0, 0, 0]] = T([7.0, 8.0, 9.0], device)                             # repeats: the last write
    z[T([1, 1, 2], device, dtype="int64")] += 1                           # x[i] += 1: once per index
    np.testing.assert_array_equal(z.numpy(), [9.0, 2.0, 3.0, 3.0])


def test_setitem_casts_into_the_target_dtype(device):
    n = T([0, 0, 0, 0], device, dtype="int64")
    n[0] = 2.7
    n[1] = -2.7
    n[2:] = T([1.9, -1.9], device)
    np.testing.assert_array_equal(n.numpy(), [2, -2, 1, -1])              # truncated, as PyTorch
    assert n.dtype == np.int64


@pytest.mark.parametrize("call", [lambda n: n.add_(0.5), lambda n: n.mul_(0.5), lambda n: n.div_(2),
                                  lambda n: n.sqrt_(), lambda n: n.clamp_(0.5, 2.5), lambda n: n.pow_(0.5)])
def test_integer_tensor_refuses_a_float_result(device, call):
    """PyTorch: "result type Float can't be cast to the desired output type Long"."""
    n = T([1, 4, 9], device, dtype="int64")
    with pytest.raises(TypeError, match="the result has dtype float"):
        call(n)
    np.testing.assert_array_equal(n.numpy(), [1, 4, 9])
    assert n.dtype == np.int64


def test_in_place_keeps_the_shape(device):
    x = T([[1.0], [2.0], [3.0]], device)
    with pytest.raises(ValueError, match=r"add_: a value of shape \(3, 4\) does not fit \(3, 1\)"):
        x.add_(T([[1.0, 2.0, 3.0, 4.0]], device))
    with pytest.raises(ValueError, match="does not fit"):
        T([1.0, 2.0], device).copy_(T([[1.0, 2.0]], device))
    y = T(np.zeros((2, 3)), device)
    y.masked_fill_(T([True, False, True], device, dtype=bool), 1.0)         # the mask broadcasts
    np.testing.assert_array_equal(y.numpy(), [[1, 0, 1], [1, 0, 1]])


def test_aliasing_reads_before_writing(device):
    x = T([0.0, 1.0, 2.0, 3.0, 4.0], device)
    x.add_(x)
    np.testing.assert_array_equal(x.numpy(), [0, 2, 4, 6, 8])
    x.copy_(x.flip(0))
    np.testing.assert_array_equal(x.numpy(), [8, 6, 4, 2, 0])
    x[1:] = x[:-1]                                 # NumPy's meaning (PyTorch refuses the overlap)
    np.testing.assert_array_equal(x.numpy(), [8, 8, 6, 4, 2])


def test_leaf_and_versions(device):
    w = T([1.0, 2.0], device, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.mul_(2)
    with mg.no_grad():
        assert w.mul_(2) is w                      # allowed, as torch.no_grad(): w.mul_(2)
    assert w.requires_grad and w.is_leaf
    x = T([0.5, 0.25], device)
    loss = (w * x[0:2]).sum()                      # mul keeps the view x[0:2]
    x.floor_()                                     # changes it through the base
    with pytest.raises(RuntimeError, match="changed in place"):
        loss.backward()


# ============================================================== an index changed in place after the forward pass
def test_index_tensor_changed_after_forward_does_not_move_the_gradient(device):
    """The graph kept the user's index array itself: idx.add_(2) before backward sent the
    gradient of w[idx] to w[2], w[3] (silently; PyTorch refuses at backward).  Now the graph
    keeps its own copy, so the gradient is that of the forward pass."""
    w = T([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    idx = T([0, 1], device, dtype="int64")
    y = w[idx]
    idx.add_(2)
    (y * T([1.0, 10.0], device)).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 10.0, 0.0, 0.0])


def test_mask_and_numpy_index_changed_after_forward(device):
    w = T([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    mask = T([True, True, False, False], device, dtype=bool)
    y = w[mask]
    mask.copy_(T([False, False, True, True], device, dtype=bool))
    (y * T([1.0, 10.0], device)).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 10.0, 0.0, 0.0])
    if device == "cpu":                            # a host array as the index (CPU only)
        v = T([1.0, 2.0, 3.0], device, requires_grad=True)
        rows = np.array([2, 2, 0])
        z = v[rows]
        rows[:] = 1
        z.sum().backward()
        np.testing.assert_array_equal(v.grad.numpy(), [1.0, 0.0, 2.0])


def test_where_condition_changed_after_forward(device):
    w = T([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    cond = T([True, True, False, False], device, dtype=bool)
    y = mg.where(cond, w, T([0.0, 0.0, 0.0, 0.0], device))
    cond.copy_(T([False, False, True, True], device, dtype=bool))
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1.0, 1.0, 0.0, 0.0])


def test_cross_entropy_targets_changed_after_forward(device):
    """cross_entropy picks log p[i, target[i]] with an index: the old graph kept the target
    tensor itself, and targets changed before backward gave the gradient of other classes."""
    logits = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]])
    w = T(logits, device, requires_grad=True)
    target = T([0, 2], device, dtype="int64")
    loss = mg.cross_entropy(w, target)
    with mg.no_grad():
        target.copy_(T([2, 0], device, dtype="int64"))
    loss.backward()
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    expected = (p - np.eye(3)[[0, 2]]) / 2                       # mean over the 2 rows
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12, atol=1e-15)
