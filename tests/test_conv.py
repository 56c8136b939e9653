"""Convolution and pooling (minigrad/conv.py) against naive loops written here.

Every expected value comes from a NumPy loop over the output positions written in this file
(the convolution sum, the max with PyTorch's tie rule, the mean with PyTorch's divisor rule),
never from minigrad; gradients against central differences in float64 (``mg.gradcheck``) and,
for max pooling's ties, against the hand-derived routing.  torch 2.13 agreed with all of these
in the helper's harness (268 comparisons of values, indices and gradients, float32 and float64).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.conv import avg_pool1d, avg_pool2d, conv1d, conv2d, max_pool1d, max_pool2d
from conftest import T


def _pair(v, n=2):
    return (v,) * n if isinstance(v, int) else tuple(v)


# ----------------------------------------------------------------------------- naive references
def naive_conv2d(x, w, b, stride, padding, dilation, groups):
    """out[n, o, i, j] = b[o] + Σ_{c, a, e} w[o, c, a, e] · xpad[n, g·Cg + c, i·s0 + a·d0, j·s1 + e·d1]."""
    (s0, s1), (d0, d1) = _pair(stride), _pair(dilation)
    (p0a, p0b), (p1a, p1b) = padding
    xp = np.pad(x, ((0, 0), (0, 0), (p0a, p0b), (p1a, p1b)))
    N, _, H, W = xp.shape
    O, Cg, kh, kw = w.shape
    oh, ow = (H - d0 * (kh - 1) - 1) // s0 + 1, (W - d1 * (kw - 1) - 1) // s1 + 1
    out = np.zeros((N, O, oh, ow))
    for n in range(N):
        for o in range(O):
            g = o // (O // groups)
            for i in range(oh):
                for j in range(ow):
                    acc = 0.0 if b is None else b[o]
                    for c in range(Cg):
                        for a in range(kh):
                            for e in range(kw):
                                acc += w[o, c, a, e] * xp[n, g * Cg + c, i * s0 + a * d0, j * s1 + e * d1]
                    out[n, o, i, j] = acc
    return out


def _pool_size(L, k, s, p, d, ceil):
    n = (L + 2 * p - d * (k - 1) - 1)
    out = (-(-n // s) if ceil else n // s) + 1
    return out - 1 if ceil and (out - 1) * s >= L + p else out


def naive_max_pool2d(x, k, s, p, d, ceil):
    """Values and flat indices (h·W + w), scanning each window row-major and keeping a value
    that is > the best so far or NaN (PyTorch's CPU loop)."""
    (k0, k1), (s0, s1), (p0, p1), (d0, d1) = _pair(k), _pair(s), _pair(p), _pair(d)
    N, C, H, W = x.shape
    oh, ow = _pool_size(H, k0, s0, p0, d0, ceil), _pool_size(W, k1, s1, p1, d1, ceil)
    val, idx = np.zeros((N, C, oh, ow)), np.zeros((N, C, oh, ow), dtype=np.int64)
    for n in range(N):
        for c in range(C):
            for i in range(oh):
                for j in range(ow):
                    best, where = -np.inf, -1
                    for a in range(k0):
                        for e in range(k1):
                            h, w_ = i * s0 - p0 + a * d0, j * s1 - p1 + e * d1
                            if 0 <= h < H and 0 <= w_ < W:
                                v = x[n, c, h, w_]
                                if where == -1 or v > best or math.isnan(v):   # starts at the first real one
                                    best, where = v, h * W + w_
                    val[n, c, i, j], idx[n, c, i, j] = best, where
    return val, idx


def naive_avg_pool2d(x, k, s, p, ceil, count_include_pad, divisor_override=None):
    """PyTorch's loop: the window clipped to the padded input gives the count with padding, the
    window clipped to the input the sum and the count without."""
    (k0, k1), (s0, s1), (p0, p1) = _pair(k), _pair(s), _pair(p)
    N, C, H, W = x.shape
    oh, ow = _pool_size(H, k0, s0, p0, 1, ceil), _pool_size(W, k1, s1, p1, 1, ceil)
    out = np.zeros((N, C, oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, w0 = i * s0 - p0, j * s1 - p1
            h1, w1 = min(h0 + k0, H + p0), min(w0 + k1, W + p1)
            padded = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            div = divisor_override or (padded if count_include_pad else (h1 - h0) * (w1 - w0))
            out[:, :, i, j] = x[:, :, h0:h1, w0:w1].sum(axis=(2, 3)) / div
    return out


# ----------------------------------------------------------------------------- convolution
CONV2D = [  # (x shape, w shape, stride, padding, dilation, groups, bias)
    ((2, 2, 5, 4), (3, 2, 3, 2), 1, 0, 1, 1, True),
    ((1, 4, 6, 5), (4, 2, 2, 3), (2, 1), (1, 2), (2, 1), 2, True),
    ((2, 3, 5, 5), (3, 1, 3, 3), 2, 1, 1, 3, False),
    ((1, 2, 4, 5), (2, 2, 2, 2), 1, "same", (1, 2), 1, True),
    ((1, 2, 4, 4), (2, 1, 3, 2), 3, "valid", 1, 2, True),
]


def _padding(padding, w_shape, dilation):
    if padding == "valid":
        return ((0, 0), (0, 0))
    if padding == "same":
        tot = [d * (k - 1) for d, k in zip(_pair(dilation), w_shape[2:])]
        return tuple((t // 2, t - t // 2) for t in tot)
    return tuple((p, p) for p in _pair(padding))


@pytest.mark.parametrize("xs, ws, s, p, d, g, bias", CONV2D)
def test_conv2d_values_against_the_loop(device, xs, ws, s, p, d, g, bias):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    out = conv2d(T(x, device), T(w, device), T(b, device) if bias else None, s, p, d, g)
    expected = naive_conv2d(x, w, b if bias else None, s, _padding(p, ws, d), d, g)
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    if p == "same":
        assert out.shape[2:] == xs[2:]


@pytest.mark.parametrize("xs, ws, s, p, d, g, bias", CONV2D)
def test_conv2d_gradients_central_differences(xs, ws, s, p, d, g, bias):
    rng = np.random.default_rng(1)
    args = [T(rng.standard_normal(xs), "cpu", True), T(rng.standard_normal(ws), "cpu", True)]
    if bias:
        args.append(T(rng.standard_normal(ws[0]), "cpu", True))
    assert mg.gradcheck(lambda x, w, *b: conv2d(x, w, b[0] if b else None, s, p, d, g), args)


def test_conv2d_second_order_gradcheck():
    rng = np.random.default_rng(2)
    x, w = T(rng.standard_normal((1, 2, 4, 4)), "cpu", True), T(rng.standard_normal((2, 1, 2, 2)), "cpu", True)
    assert mg.gradcheck(lambda x, w: conv2d(x, w, stride=2, padding=1, groups=2).tanh(), [x, w], order=2)


def test_conv2d_is_a_cross_correlation_by_hand():
    """A 1×1×2×2 input, a 2×2 kernel: one output, Σ x·w elementwise (no kernel flip); with
    padding 1 the corner output sees only x[0,0] under w[1,1]."""
    x = mg.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    w = mg.tensor([[[[10.0, 20.0], [30.0, 40.0]]]])
    assert conv2d(x, w).numpy().ravel().tolist() == [10 + 40 + 90 + 160]
    assert conv2d(x, w, padding=1).numpy()[0, 0, 0, 0] == 1.0 * 40.0


@pytest.mark.parametrize("s, p, d, g", [(1, 0, 1, 1), (2, 1, 2, 2), (1, "same", 2, 1)])
def test_conv1d_is_conv2d_on_a_height_one_input(device, s, p, d, g):
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 4, 9)), rng.standard_normal((4, 4 // g, 3)), rng.standard_normal(4)
    out = conv1d(T(x, device), T(w, device), T(b, device), s, p, d, g)
    pad = _padding(p, (4, 4 // g, 1, 3), (1, d))
    expected = naive_conv2d(x[:, :, None], w[:, :, None], b, (1, s), ((0, 0), pad[1]), (1, d), g)[:, :, 0]
    np.testing.assert_allclose(out.numpy(), expected, atol=1e-12)
    xt, wt = T(x, "cpu", True), T(w, "cpu", True)
    assert mg.gradcheck(lambda x, w: conv1d(x, w, None, s, p, d, g), [xt, wt])


def test_unbatched_inputs_and_float32_kept(device):
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((2, 5, 5)).astype(np.float32), rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    out = conv2d(T(x, device, dtype=np.float32), T(w, device, dtype=np.float32), padding=1)
    assert out.shape == (3, 5, 5) and out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), naive_conv2d(x[None], w, None, 1, ((1, 1), (1, 1)), 1, 1)[0], rtol=1e-5, atol=1e-5)
    for f in (lambda t: max_pool2d(t, 2), lambda t: avg_pool2d(t, 2), lambda t: max_pool1d(t[0], 2), lambda t: avg_pool1d(t[0], 2)):
        assert f(T(x, device, dtype=np.float32)).dtype == np.float32
    assert max_pool2d(T(x, device), 2).shape == (2, 2, 2)


# ----------------------------------------------------------------------------- max pooling
MAXPOOL = [  # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((2, 2, 6, 5), 2, None, 0, 1, False),
    ((1, 2, 7, 6), 3, 2, 1, 1, True),
    ((1, 1, 6, 6), (3, 2), (3, 2), (1, 1), 1, True),
    ((1, 1, 9, 10), (2, 3), (2, 1), (1, 0), (2, 3), False),
    ((1, 1, 5, 5), 3, 3, 1, 1, True),
]


@pytest.mark.parametrize("shape, k, s, p, d, ceil", MAXPOOL)
def test_max_pool2d_values_indices_against_the_loop(device, shape, k, s, p, d, ceil):
    x = np.random.default_rng(5).standard_normal(shape)
    v, i = max_pool2d(T(x, device), k, s, p, d, ceil, return_indices=True)
    ev, ei = naive_max_pool2d(x, k, k if s is None else s, p, d, ceil)
    np.testing.assert_array_equal(v.numpy(), ev)
    np.testing.assert_array_equal(i.numpy(), ei)
    assert i.dtype == np.int64


@pytest.mark.parametrize("shape, k, s, p, d, ceil", MAXPOOL)
def test_max_pool2d_gradient_central_differences(shape, k, s, p, d, ceil):
    x = T(np.random.default_rng(6).standard_normal(shape), "cpu", True)   # distinct values: differentiable
    assert mg.gradcheck(lambda t: max_pool2d(t, k, s, p, d, ceil), [x])


def test_max_pool2d_ties_go_to_the_first_maximum_of_each_window(device):
    """Hand-derived routing (torch 2.13 gives the same): windows 2×2, stride 1 over
    [[1,2,2],[2,0,2],[1,2,1]] pick (0,1), (0,1), (1,0), (1,2): x̄ = [[0,2,0],[1,0,1],[0,0,0]]."""
    x = T([[[[1.0, 2, 2], [2, 0, 2], [1, 2, 1]]]], device, requires_grad=True)
    v, i = max_pool2d(x, 2, 1, return_indices=True)
    v.sum().backward()
    assert x.grad.numpy()[0, 0].tolist() == [[0, 2, 0], [1, 0, 1], [0, 0, 0]]
    assert i.numpy().ravel().tolist() == [1, 1, 3, 5]
    ones = T(np.ones((1, 1, 4, 4)), device, requires_grad=True)
    max_pool2d(ones, 2, 1).sum().backward()                   # every window: its top-left element
    expected = np.zeros((4, 4))
    expected[:3, :3] = 1
    np.testing.assert_array_equal(ones.grad.numpy()[0, 0], expected)


def test_max_pool_nan_wins_and_the_last_nan_takes_the_gradient(device):
    x = T([[[[np.nan, 1.0], [np.nan, 2.0]]]], device, requires_grad=True)
    v, i = max_pool2d(x, 2, return_indices=True)
    v.sum().backward()
    assert np.isnan(v.numpy()).all() and i.numpy().item() == 2
    assert x.grad.numpy().ravel().tolist() == [0, 0, 1, 0]
    y = T([[[1.0, np.nan, 3.0, np.nan]]], device, requires_grad=True)
    v1, i1 = max_pool1d(y, 4, return_indices=True)
    v1.sum().backward()
    assert i1.numpy().item() == 3 and y.grad.numpy().ravel().tolist() == [0, 0, 0, 1]


@pytest.mark.parametrize("k, s, p, d, ceil", [(2, None, 0, 1, False), (3, 2, 1, 1, True), (3, 2, 1, 3, False)])
def test_max_pool1d_against_the_2d_loop(device, k, s, p, d, ceil):
    x = np.random.default_rng(7).standard_normal((2, 3, 12))
    v, i = max_pool1d(T(x, device), k, s, p, d, ceil, return_indices=True)
    ev, ei = naive_max_pool2d(x[:, :, None], (1, k), (1, k if s is None else s), (0, p), (1, d), ceil)
    np.testing.assert_array_equal(v.numpy(), ev[:, :, 0])
    np.testing.assert_array_equal(i.numpy(), ei[:, :, 0])


def test_max_pool2d_integer_input(device):
    x = np.random.default_rng(8).integers(-9, 9, (1, 2, 5, 5))
    out = max_pool2d(mg.tensor(x, device=device), 2, padding=1)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), naive_max_pool2d(x.astype(float), 2, 2, 1, 1, False)[0])


# ----------------------------------------------------------------------------- average pooling
AVGPOOL = [  # (shape, kernel, stride, padding, ceil_mode)
    ((2, 2, 6, 5), 2, None, 0, False),
    ((1, 2, 7, 6), 3, 2, 1, True),
    ((1, 1, 6, 6), 4, 3, (2, 1), True),
    ((1, 1, 5, 5), 3, 3, 1, True),
    ((1, 1, 8, 8), (1, 2), (5, 1), (0, 1), False),
]


@pytest.mark.parametrize("shape, k, s, p, ceil", AVGPOOL)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_against_the_loop(device, shape, k, s, p, ceil, count_include_pad):
    x = np.random.default_rng(9).standard_normal(shape)
    out = avg_pool2d(T(x, device), k, s, p, ceil, count_include_pad)
    np.testing.assert_allclose(out.numpy(), naive_avg_pool2d(x, k, k if s is None else s, p, ceil, count_include_pad),
                               atol=1e-13)


@pytest.mark.parametrize("shape, k, s, p, ceil", AVGPOOL[1:4])
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_gradient_central_differences(shape, k, s, p, ceil, count_include_pad):
    x = T(np.random.default_rng(10).standard_normal(shape), "cpu", True)
    assert mg.gradcheck(lambda t: avg_pool2d(t, k, s, p, ceil, count_include_pad), [x])


def test_avg_pool_gradient_by_hand_and_divisor_override():
    """k=2, s=1 over 3 elements: the middle one is in both windows, x̄ = [1, 2, 1] / 2."""
    x = mg.tensor([[[1.0, 2.0, 4.0]]], requires_grad=True)
    avg_pool1d(x, 2, 1).sum().backward()
    assert x.grad.numpy().ravel().tolist() == [0.5, 1.0, 0.5]
    y = np.random.default_rng(11).standard_normal((1, 1, 5, 5))
    np.testing.assert_allclose(avg_pool2d(mg.tensor(y), 3, 2, 1, divisor_override=5).numpy(),
                               naive_avg_pool2d(y, 3, 2, 1, False, True, divisor_override=5), atol=1e-13)


def test_avg_pool1d_against_the_2d_loop(device):
    x = np.random.default_rng(12).standard_normal((2, 3, 10))
    for k, s, p, ceil, cip in [(3, 2, 1, True, False), (4, 3, 2, True, True), (2, None, 0, False, True)]:
        out = avg_pool1d(T(x, device), k, s, p, ceil, cip)
        expected = naive_avg_pool2d(x[:, :, None], (1, k), (1, k if s is None else s), (0, p), ceil, cip)[:, :, 0]
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-13)


# ----------------------------------------------------------------------------- refusals
@pytest.mark.parametrize("call, message", [
    (lambda: conv2d(mg.zeros(1, 4, 9, 9), mg.zeros(4, 3, 3, 3)), "expects 3 input channels, the input .* has 4"),
    (lambda: conv2d(mg.zeros(1, 4, 9, 9), mg.zeros(3, 2, 3, 3), groups=2), "out_channels 3 .* divisible by groups=2"),
    (lambda: conv2d(mg.zeros(1, 1, 2, 2), mg.zeros(1, 1, 3, 3)), "kernel .* larger than the padded input"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3), dilation=3), r"dilated: \(7, 7\)"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3), padding=-1), "padding must be >= 0"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3), padding=(1, 1, 1)), "padding must be an int or a sequence of 2"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3), stride=2, padding="same"), "'same' needs stride 1"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3), mg.zeros(2)), r"bias must be a Tensor of shape \(1,\)"),
    (lambda: conv1d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3)), "expected a 2-D .* or 3-D"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3), stride=0), "stride must be >= 1"),
    (lambda: conv2d(mg.zeros(1, 1, 6, 7), mg.zeros(1, 1, 3, 3, dtype=np.float32)), "one floating dtype"),
    (lambda: max_pool2d(mg.zeros(1, 1, 2, 2), 3), "too small for the kernel"),
    (lambda: max_pool1d(mg.zeros(1, 1, 10), 3, 1, 2), "at most half the kernel size"),
    (lambda: avg_pool2d(mg.zeros(1, 1, 10, 10), 2, padding=(1, 1, 1)), "padding must be an int or a sequence of 2"),
    (lambda: avg_pool2d(mg.zeros(1, 1, 5, 5), 2, divisor_override=0), "divisor_override must be a nonzero int"),
    (lambda: avg_pool2d(mg.zeros(1, 1, 5, 5, dtype=np.int64), 2), "must be a floating tensor"),
])
def test_bad_arguments_are_one_line_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message) as err:
        call()
    assert "\n" not in str(err.value)


def test_exported_from_minigrad():
    """``mg.conv2d`` etc. are these functions (minigrad/__init__.py: ``from .conv import *``)."""
    from minigrad import conv
    assert all(getattr(mg, name) is getattr(conv, name) for name in conv.__all__)
