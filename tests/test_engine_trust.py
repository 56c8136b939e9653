"""Regressions for the defects an independent op suite found (issue 11), each checked against
numbers worked out independently (NumPy, or by hand), plus the engine's module layering."""
import ast
import pathlib

import numpy as np
import pytest

import minigrad as mg
from conftest import T


# ----------------------------------------------------------------------------- 1. negative axes
def test_permute_negative_axes_gradient_values(device, rng):
    """x.permute(-1, 0, 1) on a 3x3x3 input: the gradient of <W, permute(x)> is W permuted back.
    (The old VJP took the inverse of the raw (-1, 0, 1) and gave silently wrong values.)"""
    x = T(rng.standard_normal((3, 3, 3)), device, requires_grad=True)
    W = rng.standard_normal((3, 3, 3))
    (x.permute(-1, 0, 1) * T(W, device)).sum().backward()
    # out[i, j, k] = x[j, k, i]  =>  d/dx[j, k, i] = W[i, j, k]
    expected = np.einsum("ijk->jki", W)
    np.testing.assert_allclose(x.grad.numpy(), expected, rtol=0, atol=0)


def test_permute_negative_axes_gradient_shape(device, rng):
    x = T(rng.standard_normal((2, 3, 4)), device, requires_grad=True)
    y = x.permute(-1, 0, 1)
    assert y.shape == (4, 2, 3)
    y.sum().backward()
    assert x.grad.shape == (2, 3, 4)
    assert mg.gradcheck(lambda a: a.permute(-1, -3, 1) * 1.5, [x], order=2)
    assert mg.gradcheck(lambda a: mg.permute(a, (2, -3, -2)), [x], order=1)


@pytest.mark.parametrize("axes", [(0, 0, 1), (0, 1), (0, 1, 3), (-4, 0, 1)])
def test_permute_refuses_what_is_not_an_ordering(axes):
    with pytest.raises(ValueError, match="permute"):
        mg.zeros((2, 3, 4)).permute(*axes)


NEGATIVE_AXIS_OPS = {
    "sum": lambda x: x.sum(-1) * 1.3,
    "sum_keep": lambda x: x.sum(axis=(-1, -3), keepdims=True) * 1.3,
    "mean": lambda x: x.mean(-2) ** 2,
    "max": lambda x: x.max(-1).values * 2.0,
    "amax": lambda x: x.amax(-1) * 2.0,
    "min": lambda x: x.min(-2).values * 2.0,
    "min_axis": lambda x: x.min(axis=-2) * 2.0,
    "logsumexp": lambda x: mg.logsumexp(x, -2),
    "softmax": lambda x: mg.softmax(x, -2) ** 2,
    "log_softmax": lambda x: mg.log_softmax(x, -3) * 1.1,
    "concat": lambda x: mg.concat([x, x * 2], axis=-1) ** 2,
    "stack": lambda x: mg.stack([x, x * 2], axis=-1) ** 2,
    "split": lambda x: mg.split(x, [1, 3], axis=-1)[1] ** 2,
    "squeeze": lambda x: x[:, :1].squeeze(-2) ** 2,
    "expand_dims": lambda x: mg.expand_dims(x, -1) ** 2,
    "swapaxes": lambda x: mg.swapaxes(x, -1, 0) ** 2,
    "transpose_pair": lambda x: x.transpose(-1, -3) ** 2,
}


@pytest.mark.parametrize("name", sorted(NEGATIVE_AXIS_OPS))
def test_negative_axes_forward_and_gradients(name, device, rng):
    """On a (2, 3, 4) input every axis has its own size, so a wrong axis changes a shape or a value."""
    x = rng.standard_normal((2, 3, 4))
    x[0, 0, 0] += 3.0                                   # no ties for max/min
    assert mg.gradcheck(NEGATIVE_AXIS_OPS[name], [T(x, device, requires_grad=True)], order=2)


def test_negative_axes_forward_values(device, rng):
    x = rng.standard_normal((2, 3, 4))
    t = T(x, device)
    np.testing.assert_allclose(t.permute(-1, 0, 1).numpy(), np.transpose(x, (2, 0, 1)))
    np.testing.assert_allclose(t.sum(-2).numpy(), x.sum(-2))
    np.testing.assert_allclose(t.min(-1).values.numpy(), x.min(-1))
    np.testing.assert_array_equal(t.min(-1).indices.numpy(), x.argmin(-1))
    np.testing.assert_allclose(mg.softmax(t, -3).numpy(), np.exp(x) / np.exp(x).sum(0, keepdims=True))
    np.testing.assert_allclose(t.transpose(-1, -3).numpy(), np.swapaxes(x, -1, -3))
    np.testing.assert_allclose(mg.stack([t, t], axis=-1).numpy(), np.stack([x, x], axis=-1))


# ----------------------------------------------------------------------------- 2. comparisons
def test_comparing_two_tensors(device):
    a, b = T([1.0, 2.0, 3.0], device), T([3.0, 2.0, 1.0], device)
    assert (a < b).numpy().tolist() == [True, False, False]
    assert (a <= b).numpy().tolist() == [True, True, False]
    assert (a > b).numpy().tolist() == [False, False, True]
    assert (a >= b).numpy().tolist() == [False, True, True]
    assert (a == b).numpy().tolist() == [False, True, False]
    assert (a != b).numpy().tolist() == [True, False, True]
    assert (a < b).dtype == np.bool_


def test_comparisons_compare_values_across_dtypes(device):
    i = mg.tensor([0, 1, 2], device=device)
    assert (i < 0.5).numpy().tolist() == [True, False, False]       # not truncated to i < 0
    assert (0.5 < i).numpy().tolist() == [False, True, True]
    f32 = mg.tensor([1.0, 2.0], dtype=np.float32, device=device)
    f64 = mg.tensor([1.5, 2.0], device=device)
    assert (f32 < f64).numpy().tolist() == [True, False]
    assert (i == mg.tensor([0.0, 1.5, 2.0], device=device)).numpy().tolist() == [True, False, True]


def test_comparison_across_devices_is_refused():
    with pytest.raises(mg.DeviceMismatchError, match="'cpu' and 'strict'"):
        mg.tensor([1.0]) < mg.tensor([2.0], device="strict")


# ----------------------------------------------------------------------------- 3. scalar promotion
def test_int_tensor_with_python_float_is_float(device):
    i = mg.tensor([1, 3], device=device)
    default = mg.get_backend(device).default_float
    for result, expected in [(i * 0.5, [0.5, 1.5]), (i + 0.7, [1.7, 3.7]), (0.7 ** i, [0.7, 0.343]),
                             (i / 2, [0.5, 1.5]), (i - 0.5, [0.5, 2.5]), (2.5 - i, [1.5, -0.5]),
                             (i ** 0.5, [1.0, 3 ** 0.5])]:
        assert result.dtype == default
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-15)


def test_int_and_bool_results_keep_integer_kinds(device):
    i = mg.tensor([1, 3], device=device)
    assert (i * 2).dtype == np.int64 and (i * 2).numpy().tolist() == [2, 6]
    assert (i ** 2).numpy().tolist() == [1, 9] and (i ** 2).dtype == np.int64
    b = mg.tensor([True, False], device=device)
    assert (b + 1).dtype == np.int64 and (b + 1).numpy().tolist() == [2, 1]
    assert (b * 0.5).numpy().tolist() == [0.5, 0.0]
    i32 = mg.tensor(np.array([1, 2], dtype=np.int32), device=device)
    assert (i32 + 1).dtype == np.int32                       # a Python int does not widen
    assert (i32 + i).dtype == np.int64                       # two tensors: NumPy's promotion
    assert i.mean().dtype == mg.get_backend(device).default_float
    assert i.mean().item() == 2.0


def test_float_tensors_keep_their_dtype_and_refuse_mixing(device):
    f32 = mg.tensor([1.0, 2.0], dtype=np.float32, device=device)
    assert (f32 * 0.5).dtype == np.float32 and (f32 + 2).dtype == np.float32
    assert (f32 * mg.tensor([1, 2], device=device)).dtype == np.float32    # int tensor joins float32
    with pytest.raises(TypeError, match="dtype mismatch.*float32.*float64"):
        f32 + mg.tensor([1.0, 2.0], device=device)


def test_gradient_flows_through_a_promoted_integer_operand(device):
    w = T([0.5, -1.0], device, requires_grad=True)
    (w * mg.tensor([2, 3], device=device)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 3.0])


# ----------------------------------------------------------------------------- 4. min
def test_min_on_unsigned_extreme_and_bool(device):
    u = mg.tensor(np.array([7, 255, 3], dtype=np.uint8), device=device)
    assert u.min().item() == 3 and u.min().dtype == np.uint8
    extreme = mg.tensor(np.array([np.iinfo(np.int64).min, 0, 5]), device=device)
    assert extreme.min().item() == np.iinfo(np.int64).min
    assert extreme.max().item() == 5
    b = mg.tensor([True, False, True], device=device)
    assert b.min().item() is False and b.max().item() is True
    np.testing.assert_array_equal(mg.tensor([[3, 1], [0, 9]], device=device).min(dim=1).values.numpy(), [1, 0])


def test_min_gradient_shares_ties(device):
    x = T([2.0, 1.0, 1.0, 4.0], device, requires_grad=True)
    x.min().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.5, 0.5, 0.0])


# ----------------------------------------------------------------------------- 5. pow at zero
def test_pow_zero_exponent_at_zero_has_zero_gradient(device):
    x = T([0.0, 2.0], device, requires_grad=True)
    (x ** 0.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_zero_base_gradient_wrt_exponent_is_zero(device):
    y = T([0.0, 0.5, 2.0], device, requires_grad=True)
    (0.0 ** y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [0.0, 0.0, 0.0])


def test_pow_at_origin_both_gradients_zero_and_second_order_finite(device):
    a = T([0.0], device, requires_grad=True)
    b = T([0.0], device, requires_grad=True)
    ga, gb = mg.grad((a ** b).sum(), [a, b], create_graph=True)
    assert ga.numpy().tolist() == [0.0] and gb.numpy().tolist() == [0.0]
    second = mg.grad((ga + gb).sum(), [a, b], allow_unused=True)
    for s in second:
        assert s is None or np.all(np.isfinite(s.numpy()))


def test_pow_elsewhere_unchanged(device, rng):
    a = T(rng.uniform(0.5, 2.0, (3,)), device, requires_grad=True)
    b = T(rng.uniform(-1.0, 2.0, (3,)), device, requires_grad=True)
    assert mg.gradcheck(lambda a, b: a ** b, [a, b], order=2)
    (a ** b).sum().backward()
    A, B = a.numpy(), b.numpy()
    np.testing.assert_allclose(a.grad.numpy(), B * A ** (B - 1), rtol=1e-13)
    np.testing.assert_allclose(b.grad.numpy(), A ** B * np.log(A), rtol=1e-13)


# ----------------------------------------------------------------------------- 7. in-place changes
def test_changing_a_kept_input_in_place_is_refused(device):
    x = T([1.0, 2.0], device, requires_grad=True)
    w = T([3.0, 4.0], device)
    y = x * w                                     # mul keeps w for x's gradient
    w.data = w.data * 10                          # an assignment to .data
    with pytest.raises(RuntimeError, match=r"input 1 \(2,\) of mul .*changed in place"):
        y.sum().backward()


def test_augmented_assignment_to_data_is_refused(device):
    x = T([1.0, 2.0], device, requires_grad=True)
    y = x * x
    x.data += 1.0
    with pytest.raises(RuntimeError, match="mul .*changed in place"):
        y.sum().backward()


def test_changing_a_kept_output_in_place_is_refused(device):
    x = T([0.1, 0.2], device, requires_grad=True)
    y = x.tanh()                                  # tanh keeps its output
    z = y + 2.0                                   # add keeps nothing
    y.detach().data *= 0.0                        # through a detached alias: the same data
    with pytest.raises(RuntimeError, match="its output of tanh"):
        z.sum().backward()


def test_setitem_counts_as_a_change(device):
    x = T([1.0, 2.0], device, requires_grad=True)
    w = T([3.0, 4.0], device)
    y = x * w
    w[0] = 7.0
    assert w.numpy().tolist() == [7.0, 4.0] and w.version == 1
    with pytest.raises(RuntimeError, match="changed in place"):
        y.sum().backward()
    with pytest.raises(RuntimeError, match="requires grad"):
        x[0] = 1.0


def test_changes_after_backward_and_unkept_values_are_fine(device):
    x = T([1.0, 2.0], device, requires_grad=True)
    y = (x + 1.0).tanh()                          # add keeps nothing, tanh keeps its output
    x.data -= 0.5                                 # x itself is not kept
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 - np.tanh([2.0, 3.0]) ** 2)
    opt = mg.SGD([x], lr=0.1)
    for _ in range(2):                            # the usual loop: update after backward
        opt.zero_grad()
        (x * x).sum().backward()
        opt.step()
    np.testing.assert_allclose(x.numpy(), np.array([0.5, 1.5]) * 0.8 ** 2)


# ----------------------------------------------------------------------------- 8. numpy() copies
def test_numpy_is_a_copy_on_every_device(device):
    t = T([1.0, 2.0], device)
    a = t.numpy()
    a[0] = 99.0
    assert t.numpy().tolist() == [1.0, 2.0]
    assert t.numpy() is not t.numpy()


# ----------------------------------------------------------------------------- PyTorch habits
def test_dim_and_keepdim_are_accepted(device, rng):
    x = rng.standard_normal((2, 3, 4))
    t = T(x, device)
    np.testing.assert_allclose(t.sum(dim=1, keepdim=True).numpy(), x.sum(1, keepdims=True))
    np.testing.assert_allclose(t.mean(dim=-1).numpy(), x.mean(-1))
    np.testing.assert_allclose(t.max(dim=0).values.numpy(), x.max(0))
    np.testing.assert_allclose(mg.softmax(t, dim=1).numpy(), np.exp(x) / np.exp(x).sum(1, keepdims=True))
    np.testing.assert_allclose(mg.cat([t, t], dim=2).numpy(), np.concatenate([x, x], 2))
    np.testing.assert_allclose(mg.stack([t, t], dim=0).numpy(), np.stack([x, x]))
    assert t[:, :1].squeeze(dim=1).shape == (2, 4) and t.unsqueeze(dim=0).shape == (1, 2, 3, 4)
    with pytest.raises(TypeError, match="axis= or dim="):
        t.sum(axis=0, dim=1)


def test_view_float_double(device, rng):
    t = T(rng.standard_normal((2, 6)), device)
    assert t.view(3, 4).shape == (3, 4) and t.view((4, 3)).shape == (4, 3) and t.view(-1).shape == (12,)
    assert t.float().dtype == np.float32 and t.float().double().dtype == np.float64
    np.testing.assert_allclose(t.float().numpy(), t.numpy().astype(np.float32))


def test_tensor_at_ndarray_like_tensor_plus_ndarray(device, rng):
    x = T(rng.standard_normal((2, 3)), device, requires_grad=True)
    W = rng.standard_normal((3, 4))
    if device == "cpu":
        np.testing.assert_allclose((x @ W).numpy(), x.numpy() @ W)
        np.testing.assert_allclose((W.T @ x.T).numpy(), W.T @ x.numpy().T)
        (x @ W).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), np.ones((2, 4)) @ W.T)
    with pytest.raises(TypeError, match="matmul needs two Tensors"):
        x @ 2.0


def test_transpose_two_axes_swaps_like_pytorch(rng):
    x = rng.standard_normal((2, 3, 4))
    assert mg.tensor(x).transpose(0, 2).shape == (4, 3, 2)
    np.testing.assert_allclose(mg.tensor(x[0]).transpose(0, 1).numpy(), x[0].T)
    np.testing.assert_allclose(mg.tensor(x).transpose((1, 2, 0)).numpy(), np.transpose(x, (1, 2, 0)))


def test_factories(device):
    np.testing.assert_allclose(mg.eye(2, 3, device=device).numpy(), np.eye(2, 3))
    np.testing.assert_allclose(mg.linspace(0, 1, 5, device=device).numpy(), np.linspace(0, 1, 5))
    assert mg.arange(4, device=device).dtype == np.int64
    assert mg.arange(0.0, 1.0, 0.25, device=device).numpy().tolist() == [0.0, 0.25, 0.5, 0.75]
    assert mg.zeros(2, 3, device=device).shape == (2, 3) and mg.ones((4,), device=device).shape == (4,)


# ----------------------------------------------------------------------------- layering
ORDER = ["backend", "strict", "tensor", "autograd", "accumulate", "backward", "tape", "ops",
         "elementwise", "reductions", "manipulation", "linalg", "conv", "losses", "functional", "methods",
         "random", "nn", "optim", "gradcheck", "passes", "trace"]


def test_engine_modules_import_only_those_below_them():
    """Read bottom-up: every module of minigrad/ imports (anywhere in its text, functions
    included) only modules listed before it in ORDER; no import circles."""
    root = pathlib.Path(mg.__file__).parent
    modules = sorted(p.stem for p in root.glob("*.py") if p.stem != "__init__")
    assert sorted(ORDER) == modules, "a module was added or removed: place it in ORDER"
    for name in ORDER:
        tree = ast.parse((root / f"{name}.py").read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                imported |= {node.module} if node.module else {a.name for a in node.names}
        later = [m for m in imported if ORDER.index(m) >= ORDER.index(name)]
        assert not later, f"minigrad/{name}.py imports {later}, which come after it"


def test_pytorch_style_methods(device, rng):
    x = rng.uniform(0.5, 2.0, (2, 3))
    t = T(x, device)
    np.testing.assert_allclose(t.norm().numpy(), np.sqrt((x ** 2).sum()))
    np.testing.assert_allclose(t.norm(1, dim=1).numpy(), np.abs(x).sum(1))
    np.testing.assert_allclose(t.norm("fro").numpy(), np.linalg.norm(x))
    np.testing.assert_allclose(t.sqrt().numpy(), np.sqrt(x))
    np.testing.assert_allclose(t.var(dim=0).numpy(), x.var(0, ddof=1))
    np.testing.assert_allclose(t.cumsum(-1).numpy(), np.cumsum(x, -1))
    np.testing.assert_allclose(t.flip(0, 1).numpy(), x[::-1, ::-1])
    np.testing.assert_allclose(t.repeat(2, 1).numpy(), np.tile(x, (2, 1)))
    np.testing.assert_allclose(t.sort(dim=1, descending=True).values.numpy(), -np.sort(-x, 1))
    assert t.argmax(dim=1).numpy().tolist() == np.argmax(x, 1).tolist()
    np.testing.assert_allclose(t.gather(1, mg.tensor([[0], [2]], device=device)).numpy(), x[[0, 1], [0, 2]][:, None])
    g = T(x, device, requires_grad=True)
    (g.norm() * 1.0).backward()
    np.testing.assert_allclose(g.grad.numpy(), x / np.sqrt((x ** 2).sum()))


def test_random_tensors_pytorch_style(device):
    g1, g2 = mg.Generator(7, device=device), mg.Generator(7, device=device)
    a, b = g1.randn(2, 3), g2.randn((2, 3))
    assert a.shape == (2, 3) and a.dtype == mg.get_backend(device).default_float
    np.testing.assert_array_equal(a.numpy(), b.numpy())                   # same seed, same numbers
    u = g1.rand(1000)
    assert 0 <= u.numpy().min() and u.numpy().max() < 1 and abs(u.numpy().mean() - 0.5) < 0.05
    mg.manual_seed(3)
    x = mg.randn(4, device=device, requires_grad=True)
    mg.manual_seed(3)
    np.testing.assert_array_equal(mg.randn(4, device=device).numpy(), x.numpy())
    assert x.requires_grad and not mg.randn(4, device=device).requires_grad
    r = mg.randint(0, 5, (200,), device=device).numpy()
    assert r.dtype == np.int64 and set(r.tolist()) == {0, 1, 2, 3, 4}
    assert mg.rand(2, 2, generator=g2).shape == (2, 2)


def test_in_place_methods_change_data_and_count(device):
    t = T([1.0, 2.0], device)
    assert t.add_(1.0) is t and t.numpy().tolist() == [2.0, 3.0] and t.version == 1
    t.mul_(T([2.0, 0.5], device))
    assert t.numpy().tolist() == [4.0, 1.5] and t.version == 2
    t.sub_(1.0).div_(2.0)
    assert t.numpy().tolist() == [1.5, 0.25] and t.version == 4
    t.copy_(T([7.0, 8.0], device))
    assert t.numpy().tolist() == [7.0, 8.0]
    t.copy_(5.0)
    assert t.numpy().tolist() == [5.0, 5.0]
    t.zero_()
    assert t.numpy().tolist() == [0.0, 0.0] and t.version == 7
    with pytest.raises(ValueError, match="does not fit"):
        t.copy_(T([1.0, 2.0, 3.0], device))
    i = mg.tensor([1, 2], device=device)
    with pytest.raises(TypeError, match="mul_: the result has dtype float"):
        i.mul_(0.5)                                   # would need a float result
    w = T([1.0], device, requires_grad=True)
    with pytest.raises(RuntimeError, match="requires grad"):
        w.add_(1.0)


def test_negative_zero_constant_is_not_confused_with_zero(device):
    x = T([1.0], device)
    assert (x * 0.0).numpy()[0] == 0.0
    assert np.signbit((x * -0.0).numpy()[0])             # cached constants keep the sign of zero
