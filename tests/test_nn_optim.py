"""Modules, checkpoints, SGD and gradient clipping."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import Module, Parameter
from conftest import T


class Tiny(Module):
    def __init__(self, device):
        self.W_rec = Parameter(np.eye(2) * 0.5, device=device)
        self.out = mg.nn.Linear(2, 3, device=device, dtype=np.float64)   # cuda would default to float32
        self.extra = [Parameter(np.ones(1), device=device)]
        self.not_a_param = T([1.0], device)

    def forward(self, x):
        return self.out((x @ self.W_rec).tanh()) * self.extra[0]


def test_named_parameters_and_zero_grad(device):
    m = Tiny(device)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["W_rec", "out.weight", "out.bias", "extra.0"]
    m(T(np.ones((4, 2)), device)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_through_npz_without_pickle(device, tmp_path):
    m = Tiny(device)
    m.save(tmp_path / "ck.npz")
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["W_rec", "extra.0", "out.bias", "out.weight"]
    m2 = Tiny(device)
    for p in m2.parameters():
        p.data = p.data * 0
    m2.load(tmp_path / "ck.npz")
    for (n, a), (_, b) in zip(m.named_parameters(), m2.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert b.device == device


def test_load_state_dict_errors_change_nothing(device):
    m = Tiny(device)
    before = m.state_dict()
    with pytest.raises(mg.CheckpointError, match="missing.*out.bias"):
        m.load_state_dict({k: v for k, v in before.items() if k != "out.bias"})
    bad = dict(before, W_rec=np.zeros((3, 3)))
    with pytest.raises(mg.CheckpointError, match=r"W_rec: checkpoint \(3, 3\), model \(2, 2\)"):
        m.load_state_dict(bad)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip file at all")
    with pytest.raises(mg.CheckpointError, match="not a readable minigrad checkpoint"):
        mg.load(p)


def test_sgd_step_closed_form(device):
    p = Parameter([1.0, -2.0], device=device)
    opt = mg.SGD([p], lr=0.1)
    (p * p).sum().backward()            # grad 2p
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.2, -2.0 + 0.4])
    opt.zero_grad()
    assert p.grad is None


def test_sgd_momentum(device):
    p = Parameter([1.0], device=device)
    opt = mg.SGD([p], lr=0.1, momentum=0.9)
    expected, v = 1.0, 0.0
    for _ in range(3):
        opt.zero_grad()
        (p * p).sum().backward()
        v = 0.9 * v + 2 * expected
        expected -= 0.1 * v
        opt.step()
    np.testing.assert_allclose(p.numpy(), [expected])


def test_sgd_bad_arguments():
    with pytest.raises(ValueError, match="lr must be non-negative and finite"):
        mg.SGD([Parameter([1.0])], lr=-1e-3)            # lr=0 is allowed, as in PyTorch (a schedule's start)
    with pytest.raises(ValueError, match="empty parameter list"):
        mg.SGD([], lr=0.1)


def test_clip_grad_norm_scales_globally(device):
    a, b = Parameter([3.0], np.float64, device), Parameter([4.0], np.float64, device)
    a.grad, b.grad = T([3.0], device), T([4.0], device)
    norm = mg.clip_grad_norm([a, b], 1.0)
    assert norm.item() == pytest.approx(5.0)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [0.6, 0.8])
    norm = mg.clip_grad_norm([a, b], 2.0)            # below the threshold: unchanged
    assert norm.item() == pytest.approx(1.0)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [0.6, 0.8])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_clip_grad_norm_reports_non_finite_without_crashing(bad, device):
    a, b = Parameter([1.0], np.float64, device), Parameter([1.0], np.float64, device)
    a.grad, b.grad = T([bad], device), T([2.0], device)
    norm = mg.clip_grad_norm([a, b], 1.0)
    assert not np.isfinite(norm.item())
    assert b.grad.item() == 2.0                       # untouched: the caller decides


def test_clip_grad_norm_stays_on_device():
    """On the strict device any host round-trip would raise: clipping makes none."""
    a = Parameter([3.0, 4.0], device="strict")
    a.grad = T([30.0, 40.0], "strict")
    norm = mg.clip_grad_norm([a], 1.0)
    assert norm.device == "strict"
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8])


def test_generator_is_seeded_per_device(device):
    a = mg.Generator(3, device=device).normal((2, 3), std=0.1).numpy()
    b = mg.Generator(3, device=device).normal((2, 3), std=0.1).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.std() < 0.5
    i = mg.Generator(0, device=device).integers(0, 5, (100,)).numpy()
    assert i.min() >= 0 and i.max() < 5 and i.dtype == np.int64


# ----------------------------------------------------------------------------- argument checks
def _other_device(device):
    """A second device to mix with ``device`` ("strict" exists everywhere)."""
    return "strict" if device == "cpu" else "cpu"


@pytest.mark.parametrize("kwargs, error, message", [
    ({"lr": math.nan}, ValueError, r"lr must be non-negative and finite, got nan"),
    ({"lr": math.inf}, ValueError, r"lr must be non-negative and finite, got inf"),
    ({"lr": -0.1}, ValueError, r"lr must be non-negative and finite"),
    ({"lr": "0.1"}, TypeError, r"^SGD: lr must be a number, got str$"),
    ({"lr": None}, TypeError, r"lr must be a number, got NoneType"),
    ({"lr": 0.1, "momentum": math.nan}, ValueError, r"momentum must be a number in \[0, 1\), got nan"),
    ({"lr": 0.1, "momentum": math.inf}, ValueError, r"momentum must be a number in \[0, 1\), got inf"),
    ({"lr": 0.1, "momentum": "0.9"}, TypeError, r"momentum must be a number, got str"),
], ids=["lr-nan", "lr-inf", "lr-negative", "lr-str", "lr-None", "momentum-nan", "momentum-inf", "momentum-str"])
def test_sgd_refuses_bad_hyperparameters(kwargs, error, message):
    with pytest.raises(error, match=message):
        mg.SGD([Parameter([1.0])], **kwargs)


def test_sgd_lr_is_checked_when_changed_too():
    opt = mg.SGD([Parameter([1.0])], lr=0.1, momentum=np.float64(0.5))   # NumPy scalars are numbers
    opt.lr = np.float32(0.05)
    with pytest.raises(ValueError, match="lr must be non-negative and finite, got nan"):
        opt.lr = math.nan
    assert opt.lr == np.float32(0.05)


def test_sgd_refuses_what_is_not_a_list_of_leaf_tensors(device):
    p = Parameter([1.0, 2.0], np.float64, device, name="w")
    with pytest.raises(TypeError, match=r"SGD: parameter 1 is not a Tensor \(got ndarray\)"):
        mg.SGD([p, np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="got a single Tensor: put it in a list"):
        mg.SGD(p, lr=0.1)                                   # would iterate over p's elements
    with pytest.raises(TypeError, match=r"iterable of Tensors such as model.parameters\(\), got Tiny"):
        mg.SGD(Tiny(device), lr=0.1)
    with pytest.raises(ValueError, match=r"can't optimize parameter 0: it is not a leaf but the result of mul"):
        mg.SGD([p * 2.0], lr=0.1)
    with pytest.raises(ValueError, match=r"parameter 1 \('w'\) is in the list twice"):
        mg.SGD([p, p], lr=0.1)                              # it would be updated twice
    with pytest.raises(ValueError, match=r"clip_grad_norm: parameter 1 \('w'\) is in the list twice"):
        mg.clip_grad_norm([p, p], 1.0)                      # it would be counted and scaled twice
    frozen = T([1.0, 1.0], device)                          # a leaf without requires_grad: accepted,
    opt = mg.SGD([frozen, p], lr=0.1)                       # as in PyTorch; it gets no gradient
    (frozen * p).sum().backward()
    opt.step()
    assert frozen.numpy().tolist() == [1.0, 1.0] and p.numpy().tolist() == [0.9, 1.9]


def _misfit(device, kind, w):
    """Give ``w`` (``Parameter([1.0, 2.0], name="w")``) a gradient that no longer fits it: ``.grad``
    itself refuses a misfit on assignment (PyTorch's rule), so a fitting one is set and then
    ``w.data`` replaced; returns (error, message) for parameter 1."""
    w.grad = T([1.0, 1.0], device)
    w.data = {"short": T([1.0], device), "broadcast": T(np.ones((2, 2)), device),
              "dtype": T([1.0, 2.0], device, dtype=np.float32)}[kind]
    error, message = {
        "short": (ValueError, r"has shape \(2,\), the parameter \(1,\)"),
        "broadcast": (ValueError, r"has shape \(2,\), the parameter \(2, 2\)"),
        "dtype": (TypeError, r"has dtype float64, the parameter float32"),
    }[kind]
    return error, r"the gradient of parameter 1 \('w'\) " + message


BAD_GRADS = ["short", "broadcast", "dtype"]


@pytest.mark.parametrize("kind", BAD_GRADS)
def test_sgd_step_refuses_a_gradient_that_does_not_fit(device, kind):
    a = Parameter([1.0], np.float64, device)
    w = Parameter([1.0, 2.0], np.float64, device, name="w")
    a.grad = T([1.0], device)
    error, message = _misfit(device, kind, w)
    before = w.numpy().tolist()
    for momentum in (0.0, 0.9):
        with pytest.raises(error, match="^SGD.step: " + message):
            mg.SGD([a, w], lr=0.1, momentum=momentum).step()
    assert a.numpy().tolist() == [1.0] and w.numpy().tolist() == before   # nothing applied


@pytest.mark.parametrize("kind", BAD_GRADS)
def test_clip_grad_norm_refuses_a_gradient_that_does_not_fit(device, kind):
    a = Parameter([3.0], np.float64, device)
    w = Parameter([1.0, 2.0], np.float64, device, name="w")
    a.grad = T([30.0], device)
    error, message = _misfit(device, kind, w)
    with pytest.raises(error, match="^clip_grad_norm: " + message):
        mg.clip_grad_norm([a, w], 1.0)
    with pytest.raises(error, match="^grad_norm: " + message):
        mg.grad_norm([a, w])
    assert a.grad.numpy().tolist() == [30.0]                                   # nothing scaled


@pytest.mark.parametrize("kind", ["short", "broadcast", "dtype", "device", "ndarray"])
def test_a_gradient_that_does_not_fit_is_refused_on_assignment(device, kind):
    other = _other_device(device)
    w = Parameter([1.0, 2.0], np.float64, device, name="w")
    grad, error = {"short": (T([1.0], device), ValueError), "broadcast": (T([[1.0, 1.0]], device), ValueError),
                   "dtype": (T([1.0, 1.0], device, dtype=np.float32), TypeError),
                   "device": (T([1.0, 1.0], other), mg.DeviceMismatchError), "ndarray": (np.ones(2), TypeError)}[kind]
    with pytest.raises(error, match=r"^x\.grad = g: g "):
        w.grad = grad
    assert w.grad is None


def test_grad_norm_refuses_parameters_on_two_devices(device):
    other = _other_device(device)
    a, b = Parameter([3.0], np.float64, device), Parameter([4.0], np.float64, other)
    a.grad, b.grad = T([3.0], device), T([4.0], other)
    devices = rf"'{mg.get_backend(device).device}', '{other}'"
    with pytest.raises(mg.DeviceMismatchError,
                       match=rf"^grad_norm: the gradients are on several devices \({devices}\)"):
        mg.grad_norm([a, b])
    with pytest.raises(mg.DeviceMismatchError, match=r"clip_grad_norm: .*several devices.*\.to\(device\)"):
        mg.clip_grad_norm([a, b], 1.0)
    assert a.grad.numpy().tolist() == [3.0]


def test_sgd_load_state_dict_refuses_a_velocity_of_another_shape(device):
    p = Parameter([1.0, 2.0], np.float64, device, name="w")
    opt = mg.SGD([p], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"velocity.0 has shape \(1,\) but parameter 0 \('w'\) has \(2,\)"):
        opt.load_state_dict({"velocity.0": np.ones(1)})          # would broadcast in step()
    assert opt.velocity == (None,)


def test_clip_grad_norm_refuses_bad_max_norm():
    a = Parameter([1.0])
    a.grad = T([1.0], "cpu")
    with pytest.raises(TypeError, match="max_norm must be a number, got str"):
        mg.clip_grad_norm([a], "1")
    with pytest.raises(ValueError, match="max_norm must be positive, got nan"):
        mg.clip_grad_norm([a], math.nan)


# ----------------------------------------------------------------------------- dtypes of a model
def test_linear_dtype_mismatch_says_how_to_fix(device):
    layer = mg.nn.Linear(3, 2, device=device)
    default = mg.get_backend(device).default_float
    assert layer.weight.dtype == layer.bias.dtype == default                  # dtype=None: the device's default
    other = np.dtype(np.float32 if default == np.float64 else np.float64)
    x = T(np.ones((4, 3)), device, dtype=other)
    with pytest.raises(TypeError, match=rf"^Linear\(3, 2\): the layer is {default}, the input {other}; .*"
                                        rf"convert the layer once with \.to\(np\.{other}\), or the input with "
                                        rf"x\.astype\(np\.{default}\)$"):
        layer(x)
    with pytest.raises(TypeError, match=r"the input int64; .*convert the input with x\.astype"):
        layer(T(np.ones((4, 3)), device, dtype=np.int64))


def test_module_to_dtype_converts_in_place(device):
    m = Tiny(device)
    params = m.parameters()
    assert {p.dtype for p in params} == {np.dtype(np.float64)}
    m(T(np.ones((4, 2)), device)).sum().backward()
    assert m.to(np.float32) is m                                      # positional dtype, as in PyTorch
    assert m.parameters() == params and all(p.grad is None for p in params)
    assert {p.dtype for p in params} == {np.dtype(np.float32)} and {p.device for p in params} == {params[0].device}
    y = m(T(np.ones((4, 2)), device, dtype=np.float32))
    assert y.dtype == np.float32
    y.sum().backward()
    assert all(p.grad.dtype == np.float32 for p in params)
    mg.SGD(params, lr=0.1).step()
    assert m.double() is m and all(p.dtype == np.float64 for p in params)
    assert m.float() is m and all(p.dtype == np.float32 for p in params)
    m.to(device, dtype=np.float64)
    assert all(p.dtype == np.float64 and p.device == mg.get_backend(device).device for p in params)
    with pytest.raises(TypeError, match="dtype must be a floating-point type such as np.float32, got int64"):
        m.to(dtype=np.int64)


def test_module_to_moves_and_converts_together(device):
    m = Tiny("cpu").to(device, np.float32)
    assert all(p.dtype == np.float32 and p.device == mg.get_backend(device).device for p in m.parameters())
