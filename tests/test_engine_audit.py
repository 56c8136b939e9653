"""Regressions for a differential audit of the engine against PyTorch's documented behaviour.

Each test pins one finding with values worked out by hand (in the comments), never taken from
minigrad, and needs no PyTorch: ``max(x, dim)`` returning ``(values, indices)``, the dtypes of
exp/log/tanh/sigmoid of bool and small integers, clamp's gradient at its bounds, maximum's
gradient at a NaN, 0-d integer promotion, int64 accumulation of unsigned sums, 0-d sort and
topk, einsum with a list of operands, and SGD's weight decay, dampening, Nesterov and
maximize options (every combination also against the algorithm of PyTorch's documentation).
The last block pins what a review of the audit found: bitwise operators' dtypes, ``%`` and
``//`` of bools, ``square`` of bool, ``rsqrt`` as 1/√x, ``split``'s ``axis=`` on the method,
and a traced replay of the new ops."""
import itertools
import math
import re

import numpy as np
import pytest

import minigrad as mg
from conftest import T

A = [[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]]


# ----------------------------------------------------------------------------- max / min over a dim
def test_max_dim_returns_values_and_indices(device):
    x = T(A, device, requires_grad=True)
    out = x.max(1)
    assert isinstance(out, mg.ValuesIndices)
    v, i = out                                           # the PyTorch habit unpacks the pair
    np.testing.assert_array_equal(v.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(i.numpy(), [1, 0])     # the first maximum on the tie 3, 3
    assert i.dtype == np.int64 and not i.requires_grad
    np.testing.assert_array_equal(x.max(dim=1)[0].numpy(), [3.0, 2.0])   # [0] is the values
    v.sum().backward()
    # the gradient goes to the element whose index is returned, not shared with the tie
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])


def test_min_dim_keepdim_shapes_and_gradient(device):
    x = T(A, device, requires_grad=True)
    v, i = mg.min(x, dim=1, keepdim=True)
    assert v.shape == (2, 1) and i.shape == (2, 1)
    np.testing.assert_array_equal(v.numpy(), [[1.0], [0.0]])
    np.testing.assert_array_equal(i.numpy(), [[0], [1]])
    (v * T([[2.0], [5.0]], device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 0, 0], [0, 5, 0]])


def test_max_dim0_and_negative_dim(device):
    x = T(A, device)
    v, i = x.max(dim=0)
    np.testing.assert_array_equal(v.numpy(), [2.0, 3.0, 3.0])
    np.testing.assert_array_equal(i.numpy(), [1, 0, 0])
    np.testing.assert_array_equal(x.min(-1).indices.numpy(), [0, 1])


def test_numpy_spellings_return_values_and_share_ties(device):
    x = T(A, device, requires_grad=True)
    for y in (x.max(axis=1), mg.amax(x, 1), x.amax(dim=1)):
        assert isinstance(y, mg.Tensor)
        np.testing.assert_array_equal(y.numpy(), [3.0, 2.0])
        (g,) = mg.grad(y.sum(), [x])
        np.testing.assert_array_equal(g.numpy(), [[0, 0.5, 0.5], [0.5, 0, 0.5]])
    assert x.max((0, 1)).shape == () and x.max((0, 1)).item() == 3.0      # a tuple of dims: values
    assert mg.amin(x, dim=(0, 1), keepdim=True).shape == (1, 1)
    (g,) = mg.grad(x.max(), [x])                                           # all elements: ties share
    np.testing.assert_array_equal(g.numpy(), [[0, 0.5, 0.5], [0, 0, 0]])
    (g,) = mg.grad(x.amin(1).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [[1, 0, 0], [0, 1, 0]])


def test_max_dim_second_derivative(device):
    # f = Σ_i max_j x_ij²: the squares are [[1, 9, 4], [0.25, 0.0625, 1]], so the maxima are at
    # (0, 1) and (1, 2); there df/dx = 2x (-6, -2) and d²f/dx² = 2, elsewhere 0
    x = T([[1.0, -3.0, 2.0], [0.5, 0.25, -1.0]], device, requires_grad=True)
    (g,) = mg.grad((x * x).max(1).values.sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [[0, -6, 0], [0, 0, -2]])
    (h,) = mg.grad(g.sum(), [x])
    np.testing.assert_array_equal(h.numpy(), [[0, 2, 0], [0, 0, 2]])
    assert mg.gradcheck(lambda a: a.max(dim=-1).values ** 2, [x], order=2)


def test_max_dim_nan_int_zero_d_and_empty(device):
    v, i = T([1.0, math.nan, 3.0, math.nan], device).max(0)
    assert math.isnan(v.item()) and i.item() == 1                       # the first NaN
    v, i = mg.tensor([[1, 5, 5]], device=device).max(1)
    assert v.dtype == np.int64 and v.numpy().tolist() == [5] and i.numpy().tolist() == [1]
    v, i = T(2.0, device).max(0)
    assert v.shape == () and v.item() == 2.0 and i.item() == 0
    v, i = T(np.zeros((0, 3)), device).max(1)                           # empty along another axis
    assert v.shape == (0,) and i.shape == (0,)
    assert T(np.zeros((0, 3)), device).amax(1).shape == (0,)
    with pytest.raises(ValueError, match="empty"):
        T(np.zeros((0, 3)), device).max(0)


def test_max_with_a_tensor_is_maximum(device):
    x = T([1.0, 5.0], device)
    np.testing.assert_array_equal(x.max(T([2.0, 2.0], device)).numpy(), [2.0, 5.0])
    np.testing.assert_array_equal(mg.min(x, T([2.0, 2.0], device)).numpy(), [1.0, 2.0])


def test_values_indices_pair_is_not_taken_for_data(device):
    """``x.max(1) * 2`` by a NumPy-habit caller must not turn the (values, indices) pair into a
    2-row array silently."""
    x = T(A, device)
    with pytest.raises(TypeError, match="tuple of Tensors"):
        x.max(1) * x.sum()
    with pytest.raises(TypeError, match="give dim= .* or axis="):
        x.max(dim=1, axis=1)


# ----------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sigmoid"])
@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint8, np.int16])
def test_real_functions_of_bool_and_small_ints_give_the_default_float(device, name, dtype):
    # NumPy gives float16 for bool and 8-bit ints and float32 for int16; PyTorch the default float
    x = mg.tensor(np.array([1, 1], dtype=dtype), device=device)
    y = getattr(mg, name)(x)
    assert y.dtype == x.backend.default_float
    expected = {"exp": math.e, "log": 0.0, "tanh": math.tanh(1.0), "sigmoid": 1 / (1 + math.exp(-1))}[name]
    np.testing.assert_allclose(y.numpy(), [expected] * 2, rtol=1e-6)


def test_zero_d_integer_tensor_counts_as_a_number(device):
    a = mg.tensor(np.array([1, 2], dtype=np.int32), device=device)
    five = mg.tensor(5, device=device)                                  # 0-d int64
    assert (a + five).dtype == np.int32 and (a + five).numpy().tolist() == [6, 7]
    assert (five * a).dtype == np.int32
    b = mg.tensor(np.array(3, dtype=np.int32), device=device)           # 0-d int32 with 1-d int64
    assert (b + mg.tensor([1, 2], device=device)).dtype == np.int64


def test_unsigned_and_bool_reductions_accumulate_in_int64(device):
    u = mg.tensor(np.array([200, 100], dtype=np.uint8), device=device)
    assert u.sum().dtype == np.int64 and u.sum().item() == 300
    p = mg.tensor(np.array([16, 16], dtype=np.uint8), device=device).prod()
    assert p.dtype == np.int64 and p.item() == 256
    c = mg.cumsum(mg.tensor([True, True, False], device=device), 0)
    assert c.dtype == np.int64 and c.numpy().tolist() == [1, 2, 2]


# ----------------------------------------------------------------------------- kinks and NaN
def test_clamp_gradient_is_zero_at_number_bounds(device):
    x = T([-1.0, 0.0, 0.5, 1.0, 2.0], device, requires_grad=True)
    for y, expected in [(x.clamp(0, 1), [0, 0, 1, 0, 0]),           # strictly inside only
                        (x.clamp(min=0), [0, 0, 1, 1, 1]),
                        (mg.clip(x, None, 1), [1, 1, 1, 0, 0])]:
        (g,) = mg.grad(y.sum(), [x])
        np.testing.assert_array_equal(g.numpy(), expected)
    lo, hi = T([0.0] * 5, device, requires_grad=True), T([1.0] * 5, device)
    (g, glo) = mg.grad(x.clamp(lo, hi).sum(), [x, lo])                # tensor bounds: ties half
    np.testing.assert_array_equal(g.numpy(), [0, 0.5, 1, 0.5, 0])
    np.testing.assert_array_equal(glo.numpy(), [1, 0.5, 0, 0, 0])


def test_maximum_minimum_gradient_at_nan_and_ties(device):
    a = T([math.nan, 1.0, 2.0, 4.0], device, requires_grad=True)
    b = T([0.0, math.nan, 2.0, 3.0], device, requires_grad=True)
    # NaN makes both comparisons false: both operands get ḡ; a tie: half each
    ga, gb = mg.grad(mg.maximum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [1, 1, 0.5, 1])
    np.testing.assert_array_equal(gb.numpy(), [1, 1, 0.5, 0])
    ga, gb = mg.grad(mg.minimum(a, b).sum(), [a, b])
    np.testing.assert_array_equal(ga.numpy(), [1, 1, 0.5, 0])
    np.testing.assert_array_equal(gb.numpy(), [1, 1, 0.5, 1])


# ----------------------------------------------------------------------------- missing forms
def test_sort_and_topk_of_a_zero_d_tensor(device):
    x = T(1.5, device, requires_grad=True)
    for v, i in (x.sort(), mg.sort(x, 0, descending=True), x.topk(1)):
        assert v.shape == () and v.item() == 1.5 and i.item() == 0 and i.dtype == np.int64
    x.topk(1).values.backward()
    assert x.grad.item() == 1.0


def test_einsum_takes_a_list_of_operands(device):
    a, b = T([[1.0, 2.0], [3.0, 4.0]], device), T([[5.0], [6.0]], device)
    np.testing.assert_array_equal(mg.einsum("ij,jk->ik", [a, b]).numpy(), [[17.0], [39.0]])


# ----------------------------------------------------------------------------- SGD options
def _run(steps=2, **options):
    p = mg.tensor([1.0], requires_grad=True)
    opt = mg.SGD([p], lr=0.1, **options)
    for _ in range(steps):
        p.grad = mg.tensor([1.0])                     # the same gradient, 1, every step
        opt.step()
    return p.item()


@pytest.mark.parametrize("options, expected", [
    # v1 = 1, step g + μ v1 = 1.9: p = 0.81; v2 = 0.9 + 1 = 1.9, step 1 + 0.9·1.9 = 2.71: p = 0.539
    (dict(momentum=0.9, nesterov=True), 0.539),
    # g1 = 1 + 0.1·1 = 1.1: p = 0.89; g2 = 1 + 0.1·0.89 = 1.089: p = 0.7811
    (dict(weight_decay=0.1), 0.7811),
    # v1 = 1: p = 0.9; v2 = 0.9·1 + (1 - 0.5)·1 = 1.4: p = 0.76
    (dict(momentum=0.9, dampening=0.5), 0.76),
    # plain momentum: v = 1, then 1.9: p = 1 - 0.1 - 0.19 = 0.71
    (dict(momentum=0.9), 0.71),
    # ascent: p = 1 + 0.1 + 0.1 = 1.2
    (dict(maximize=True), 1.2),
    # ascent with decay (PyTorch negates g before adding λ p, so the decay still pulls p to 0):
    # g1 = -1 + 0.1·1 = -0.9: p = 1.09; g2 = -1 + 0.109 = -0.891: p = 1.1791
    (dict(maximize=True, weight_decay=0.1), 1.1791),
    # the same with momentum: v1 = -0.9: p = 1.09; v2 = 0.9·(-0.9) - 0.891 = -1.701: p = 1.2601
    (dict(maximize=True, weight_decay=0.1, momentum=0.9), 1.2601),
    # and Nesterov: step g1 + μ v1 = -1.71: p = 1.171; g2 = -1 + 0.1171 = -0.8829,
    # v2 = -0.81 - 0.8829 = -1.6929, step -0.8829 + 0.9·(-1.6929) = -2.40651: p = 1.411651
    (dict(maximize=True, weight_decay=0.1, momentum=0.9, nesterov=True), 1.411651),
])
def test_sgd_options_by_hand(options, expected):
    assert _run(**options) == pytest.approx(expected, rel=1e-12)


def _torch_sgd_reference(p, grads, lr, momentum, dampening, weight_decay, nesterov, maximize):
    """torch.optim.SGD's documented algorithm (the pseudo-code of its docs page), in NumPy."""
    b = None
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * p
        if momentum:
            b = g.copy() if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def test_sgd_every_option_combination_against_the_documented_algorithm():
    rng = np.random.default_rng(7)
    p0, grads = rng.normal(size=3), rng.normal(size=(5, 3))
    for momentum, dampening, weight_decay, nesterov, maximize in itertools.product(
            [0.0, 0.9], [0.0, 0.5], [0.0, 0.1], [False, True], [False, True]):
        if nesterov and (momentum == 0 or dampening):
            continue                                          # refused (next test)
        options = dict(momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                       nesterov=nesterov, maximize=maximize)
        p = mg.tensor(p0.copy(), requires_grad=True)
        opt = mg.SGD([p], lr=0.1, **options)
        for g in grads:
            p.grad = mg.tensor(g)
            opt.step()
        np.testing.assert_allclose(p.numpy(), _torch_sgd_reference(p0, grads, 0.1, **options),
                                   rtol=1e-13, atol=1e-15, err_msg=str(options))


def test_sgd_nesterov_needs_momentum():
    with pytest.raises(ValueError, match="nesterov"):
        mg.SGD([mg.tensor([1.0], requires_grad=True)], lr=0.1, nesterov=True)


# ----------------------------------------------------------------------------- split: both meanings
def test_split_int_is_the_piece_size_pytorch_style(device):
    x = mg.arange(5, device=device).astype("float64").requires_grad_(True)
    pieces = mg.split(x, 2)                              # torch.split(arange(5), 2): 2, 2, 1
    assert [p.numpy().tolist() for p in pieces] == [[0, 1], [2, 3], [4]]
    assert [p.shape for p in x.split(2, 0)] == [(2,), (2,), (1,)]
    pieces[2].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 0, 1])
    y = T(np.zeros((3, 4)), device)
    assert [p.shape for p in mg.split(y, 1, -2)] == [(1, 4)] * 3     # dim positional: size 1 each
    assert [p.shape for p in y.split([1, 3], dim=1)] == [(3, 1), (3, 3)]


def test_split_int_with_numpy_axis_keyword_is_the_number_of_parts(device):
    z = T(np.arange(24.0).reshape(3, 8), device)
    gates = mg.split(z, 4, axis=-1)                      # an LSTM's four gates: 4 parts of 2
    assert [g.shape for g in gates] == [(3, 2)] * 4
    np.testing.assert_array_equal(gates[1].numpy()[0], [2.0, 3.0])
    with pytest.raises(ValueError, match="does not divide"):
        mg.split(z, 3, axis=-1)
    with pytest.raises(TypeError, match="not both"):
        mg.split(z, 2, 1, axis=1)


# ----------------------------------------------------------------------------- small PyTorch habits
def test_remainder_and_floor_divide_by_hand(device):
    a = T([7.5, -7.5, 7.5, -7.5], device, requires_grad=True)
    b = T([2.0, 2.0, -2.0, -2.0], device, requires_grad=True)
    # Python's rules: the remainder takes the sign of the divisor, // rounds towards -inf
    np.testing.assert_array_equal((a % b).numpy(), [1.5, 0.5, -0.5, -1.5])
    np.testing.assert_array_equal((a // b).numpy(), [3.0, -4.0, -4.0, 3.0])
    ga, gb = mg.grad((a % b).sum(), [a, b])              # d/db (a - b⌊a/b⌋) = -⌊a/b⌋
    np.testing.assert_array_equal(ga.numpy(), [1, 1, 1, 1])
    np.testing.assert_array_equal(gb.numpy(), [-3, 4, 4, -3])
    (ga,) = mg.grad((a // b).sum(), [a])
    np.testing.assert_array_equal(ga.numpy(), [0, 0, 0, 0])
    i = mg.tensor([7, -7], device=device)
    assert (i % 3).dtype == np.int64 and (i % 3).numpy().tolist() == [1, 2]
    assert (i // 3).numpy().tolist() == [2, -3] and (10 // i).numpy().tolist() == [1, -2]


def test_bool_operators_dtype_methods_and_any_dim(device):
    m = mg.tensor([True, False], device=device)
    assert (~m).numpy().tolist() == [False, True]
    assert (m & mg.tensor([True, True], device=device)).numpy().tolist() == [True, False]
    assert (False | m).numpy().tolist() == [True, False]
    assert (mg.tensor([6], device=device) ^ 3).numpy().tolist() == [5]
    with pytest.raises(TypeError, match="bool or integer"):
        ~T([1.0], device)
    f = T([1.7, -1.7, 0.0], device)
    assert f.long().dtype == np.int64 and f.long().numpy().tolist() == [1, -1, 0]   # truncation
    assert f.astype("bool").numpy().tolist() == [True, True, False]
    b = mg.tensor([[True, False], [False, False]], device=device)
    assert b.any(dim=1).numpy().tolist() == [True, False]
    assert b.all(dim=-1, keepdim=True).shape == (2, 1)


def test_full_dtype_follows_the_value_and_where_takes_two_numbers(device):
    assert mg.full((2,), 3, device=device).dtype == np.int64
    assert mg.full((2,), True, device=device).dtype == np.bool_
    assert mg.full((2,), 2.5, device=device).dtype == mg.zeros(1, device=device).dtype
    m = mg.tensor([True, False], device=device)
    w = mg.where(m, 1.0, 0)
    assert w.dtype == m.backend.default_float and w.numpy().tolist() == [1.0, 0.0]
    assert mg.where(m, 2, 5).dtype == np.int64 and mg.where(m, 2, 5).numpy().tolist() == [2, 5]


def test_square_reciprocal_rsqrt_argsort_clamp_by_hand(device):
    x = T([4.0, 0.25, 1.0], device, requires_grad=True)
    np.testing.assert_array_equal(x.square().numpy(), [16.0, 0.0625, 1.0])
    np.testing.assert_array_equal(x.reciprocal().numpy(), [0.25, 4.0, 1.0])
    np.testing.assert_array_equal(mg.rsqrt(x).numpy(), [0.5, 2.0, 1.0])
    (g,) = mg.grad(x.square().sum(), [x])                        # 2x
    np.testing.assert_array_equal(g.numpy(), [8.0, 0.5, 2.0])
    (g,) = mg.grad(x.reciprocal().sum(), [x])                    # -1/x²
    np.testing.assert_array_equal(g.numpy(), [-0.0625, -16.0, -1.0])
    (g,) = mg.grad(x.rsqrt().sum(), [x])                         # -1/(2 x^1.5): -1/16, -4, -1/2
    np.testing.assert_allclose(g.numpy(), [-0.0625, -4.0, -0.5], rtol=1e-15)
    i = mg.tensor([2, 4], device=device)
    assert i.square().dtype == np.int64 and i.reciprocal().dtype == i.backend.default_float
    v = T([3.0, 1.0, 3.0, 2.0], device)
    assert mg.argsort(v).numpy().tolist() == [1, 3, 0, 2]
    assert v.argsort(descending=True).numpy().tolist() == [0, 2, 3, 1]      # stable on the tie
    assert mg.clamp(v, max=2.0).numpy().tolist() == [2.0, 1.0, 2.0, 2.0]
    assert v.maximum(T([2.0] * 4, device)).numpy().tolist() == [3.0, 2.0, 3.0, 2.0]


# ----------------------------------------------------------------------------- review of the audit
def test_bitwise_operators_keep_the_tensor_dtype_as_arithmetic_does(device):
    # a Python int or a 0-d tensor counts as a number (PyTorch's rule, as for +): int32 stays
    # int32, also reflected (3 & x); two tensors of dimensions promote (uint8 with int8: int16)
    x = mg.tensor(np.array([5, 3, 0], dtype=np.int32), device=device)
    for y, expected in [(x & 3, [1, 3, 0]), (3 & x, [1, 3, 0]), (x | 8, [13, 11, 8]), (6 ^ x, [3, 5, 6]),
                        (x & mg.tensor(6, device=device), [4, 2, 0])]:
        assert y.dtype == np.int32 and y.numpy().tolist() == expected
    u = mg.tensor(np.array([5, 3], dtype=np.uint8), device=device)
    i8 = mg.tensor(np.array([6, 1], dtype=np.int8), device=device)
    assert (u | i8).dtype == np.int16 and (u | i8).numpy().tolist() == [7, 3]
    assert (mg.tensor([True, False], device=device) & 3).dtype == np.int64        # bool & int: int64


def test_remainder_and_floor_divide_refuse_two_bools(device):
    m = mg.tensor([True, False], device=device)
    for f in (lambda: m % m, lambda: m // m, lambda: mg.remainder(m, True)):
        with pytest.raises(TypeError, match="bools"):
            f()
    assert (m % 2).dtype == np.int64 and (m % 2).numpy().tolist() == [1, 0]    # bool with an int: int64


def test_square_of_bool_is_int64(device):
    y = mg.tensor([True, False], device=device).square()
    assert y.dtype == np.int64 and y.numpy().tolist() == [1, 0]


def test_rsqrt_is_one_over_the_root(device):
    # 1/√x as PyTorch computes it: 1/√(-0.0) = 1/(-0.0) = -∞ (IEEE √-0 = -0), where x ** -0.5
    # gives +∞; and exactly the quotient 1 / math.sqrt(x) of the correctly rounded root
    x = T([0.0, -0.0, 4.0, -1.0, 2.0, 3.0], device, requires_grad=True)
    with np.errstate(divide="ignore", invalid="ignore"):      # 1/0 and √-1 are the point here
        y = mg.rsqrt(x)
        (g,) = mg.grad(y.sum(), [x])        # -1/(2 x^1.5): -∞ at 0, +∞ at -0.0, -1/16 at 4
    np.testing.assert_array_equal(y.numpy(), [math.inf, -math.inf, 0.5, math.nan, 1 / math.sqrt(2.0),
                                              1 / math.sqrt(3.0)])
    np.testing.assert_array_equal(g.numpy()[:3], [-math.inf, math.inf, -0.0625])
    assert mg.rsqrt(mg.tensor([4], device=device)).dtype == x.backend.default_float
    assert mg.gradcheck(mg.rsqrt, [T([0.5, 2.0, 3.0], device, requires_grad=True)], order=2)


def test_split_method_takes_the_numpy_axis_keyword(device):
    z = T(np.arange(8.0).reshape(1, 8), device)
    assert [p.shape for p in z.split(4, axis=-1)] == [(1, 2)] * 4      # 4 parts (NumPy's meaning)
    assert [p.shape for p in z.split(4, -1)] == [(1, 4)] * 2          # parts of 4 (PyTorch's)


def _new_ops(a, b):
    """Every op the audit added or changed, in one function of two (3, 4) tensors."""
    v, i = a.max(1)
    parts = mg.split(a * b, 2, 1)
    return (mg.remainder(a, b) * a + (a // b) * b + mg.rsqrt(a) * b.square() + b.reciprocal()
            + mg.clamp(a, 2.5, 3.5) * mg.maximum(a, b) + mg.minimum(a, b) * v[:, None]
            + mg.amax(b, 0) + a.amin(-1, keepdim=True) + mg.concat(parts[::-1], 1)
            + mg.take_along_axis(b, mg.argsort(a, 1, descending=True), 1) + i[:, None])


def test_traced_new_ops_replay_the_eager_values_and_gradients(device):
    """A traced function gives the eager values and gradients, on its first call (the trace)
    and on its replay."""
    rng = np.random.default_rng(3)
    a0, b0 = rng.uniform(2, 4, (3, 4)), rng.uniform(1, 3, (3, 4))
    a, b = T(a0, device, requires_grad=True), T(b0, device, requires_grad=True)
    y = _new_ops(a, b)
    ga, gb = mg.grad((y * y).sum(), [a, b])

    @mg.trace
    def step(a, b):
        y = _new_ops(a, b)
        (y * y).sum().backward()
        return y

    for _ in range(2):
        a.grad = b.grad = None
        out = step(a, b)
        np.testing.assert_array_equal(out.numpy(), y.numpy())
        np.testing.assert_allclose(a.grad.numpy(), ga.numpy(), rtol=1e-12)
        np.testing.assert_allclose(b.grad.numpy(), gb.numpy(), rtol=1e-12)


def test_clamp_with_tensor_bounds_gives_a_nan_result_gradient_to_x_only(device):
    # out = NaN wherever x or a bound is NaN; PyTorch sends ḡ to x there, none to the bounds
    # (maximum's NaN rule alone would send it to the bound as well)
    x = T([math.nan, 0.5, 0.5, -1.0, 2.0], device, requires_grad=True)
    lo = T([0.0, math.nan, 0.0, 0.0, 0.0], device, requires_grad=True)
    hi = T([1.0, 1.0, math.nan, 1.0, 1.0], device, requires_grad=True)
    y = mg.clamp(x, lo, hi)
    assert np.isnan(y.numpy()[:3]).all() and y.numpy()[3:].tolist() == [0.0, 1.0]
    gx, glo, ghi = mg.grad(y.sum(), [x, lo, hi])
    np.testing.assert_array_equal(gx.numpy(), [1, 1, 1, 0, 0])
    np.testing.assert_array_equal(glo.numpy(), [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(ghi.numpy(), [0, 0, 0, 0, 1])


@pytest.mark.parametrize("norm_type,expected", [(1, 19.0), (2, 13.0), (3, (27 + 64 + 1728) ** (1 / 3)),
                                                (math.inf, 12.0), (0.5, (3 ** 0.5 + 2 + 12 ** 0.5) ** 2)])
def test_grad_norm_and_clipping_take_pytorchs_norm_type(device, norm_type, expected):
    """Gradients (3, -4) and (12,) as one vector: |.|_1 = 19, |.|_2 = 13, |.|_inf = 12; clipping
    to 6.5 multiplies every gradient by 6.5 / norm."""
    a, b = T([0.0, 0.0], device, requires_grad=True), T([0.0], device, requires_grad=True)
    a.grad, b.grad = T([3.0, -4.0], device), T([12.0], device)
    assert mg.grad_norm([a, b], norm_type).item() == pytest.approx(expected, rel=1e-12)
    norm = mg.clip_grad_norm([a, b], 6.5, norm_type=norm_type)
    assert norm.item() == pytest.approx(expected, rel=1e-12)
    scale = 6.5 / expected
    np.testing.assert_allclose(a.grad.numpy(), [3 * scale, -4 * scale], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [12 * scale], rtol=1e-12)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan")])
def test_a_norm_type_that_is_no_norm_is_refused(bad):
    a = mg.tensor([1.0], requires_grad=True)
    a.grad = mg.tensor([1.0])
    with pytest.raises(ValueError, match="norm_type must be positive"):
        mg.clip_grad_norm([a], 1.0, norm_type=bad)


@pytest.mark.parametrize("spec,shapes", [("...ij,jk->...ik", [(2, 3, 4), (4, 5)]),     # a batched product
                                         ("...ij,jk", [(2, 3, 4), (4, 5)]),          # implicit: ... first
                                         ("i...->...", [(3, 2, 5)]),
                                         ("...,...", [(2, 3), (3,)]),                # fewer axes: the last ones
                                         ("b...,b...->b...", [(2, 3, 4), (2, 3, 4)]),
                                         ("...ij,...jk->...ik", [(4, 2), (2, 3)])])   # '...' of no axes
def test_einsum_ellipsis_as_numpy(device, spec, shapes):
    r = np.random.default_rng(3)
    hosts = [r.standard_normal(s) for s in shapes]
    xs = [T(h, device, requires_grad=True) for h in hosts]
    np.testing.assert_allclose(mg.einsum(spec, *xs).numpy(), np.einsum(spec, *hosts), rtol=1e-12, atol=1e-12)
    assert mg.gradcheck(lambda *t: mg.einsum(spec, *t), xs, order=2)


@pytest.mark.parametrize("spec,shapes,message", [
    ("...ij->ij", [(2, 3, 4)], "has no '...' to put them"),
    ("b...,b...->b", [(2, 3, 4), (2, 3, 4)], "has no '...' to put them"),
    ("..ij", [(3, 4)], "'.' may only appear as one '...'"),
    ("......i", [(3, 4)], "'.' may only appear as one '...'"),
    ("...ijk", [(3, 4)], "fewer than the 3 letters"),
    ("...i,...i", [(2, 3), (4, 3)], "has size 2 in one operand and 4"),            # no silent broadcasting
])
def test_einsum_ellipsis_refusals(spec, shapes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        mg.einsum(spec, *[mg.tensor(np.ones(s)) for s in shapes])
