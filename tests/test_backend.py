"""Backends: device selection, clear errors, and the strict device standing in for a GPU."""
import os
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad.strict import HostConversionError, StrictBackend
from conftest import T


def test_default_device_from_environment(monkeypatch):
    monkeypatch.setenv("MINIGRAD_DEVICE", "strict")
    assert mg.tensor([1.0]).device == "strict"
    monkeypatch.delenv("MINIGRAD_DEVICE")
    assert mg.tensor([1.0]).device == "cpu"


def test_default_dtypes():
    assert mg.tensor([1.0]).dtype == np.float64
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert mg.zeros(3).dtype == np.float64


def test_cupy_is_not_imported_unless_asked():
    code = "import sys, minigrad as mg; mg.tensor([1.0]) * 2; print('cupy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "MINIGRAD_DEVICE": "cpu"}, check=True)
    assert out.stdout.strip() == "False"


def test_cuda_request_without_gpu_is_a_clear_error():
    if mg.cuda_is_available():
        pytest.skip("a GPU is present: the error cannot be provoked here")
    with pytest.raises(mg.BackendError, match="CuPy|GPU"):
        mg.tensor([1.0], device="cuda")


def test_unknown_device():
    with pytest.raises(mg.BackendError, match="unknown device 'tpu'.*'cpu', 'cuda'"):
        mg.tensor([1.0], device="tpu")


def test_two_devices_in_one_op():
    with pytest.raises(mg.DeviceMismatchError, match="mul.*'cpu'.*'strict'"):
        mg.tensor([1.0]) * mg.tensor([1.0], device="strict")


@pytest.mark.parametrize("op", ["add", "mul", "matmul", "maximum"])
def test_mixed_float_dtypes_refused(op, device):
    a = mg.tensor(np.ones((2, 2), np.float32), device=device)
    b = mg.tensor(np.ones((2, 2), np.float64), device=device)
    with pytest.raises(TypeError, match=f"{op}: dtype mismatch.*float32.*float64.*astype"):
        getattr(mg, op)(a, b)


def test_python_scalars_keep_the_tensor_dtype(device):
    a = mg.tensor(np.ones(2, np.float32), device=device)
    assert (a * 2.5).dtype == np.float32 and (1 - a).dtype == np.float32 and (a ** 2).dtype == np.float32


def test_shape_errors_name_the_op_and_shapes(device):
    with pytest.raises(ValueError, match=r"matmul: .*\(2, 3\) float64, \(2, 3\) float64"):
        T(np.ones((2, 3)), device) @ T(np.ones((2, 3)), device)
    with pytest.raises(ValueError, match=r"add: .*\(2,\).*\(3,\)"):
        T(np.ones(2), device) + T(np.ones(3), device)


def test_requires_grad_only_for_floats():
    with pytest.raises(TypeError, match="floating-point"):
        mg.tensor([1, 2], requires_grad=True)


def test_to_moves_and_is_differentiable():
    x = mg.tensor([1.0, 2.0], requires_grad=True)
    y = x.to("strict")
    assert y.device == "strict" and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    assert x.to("cpu") is x


# ----------------------------------------------------------------------------- the strict device
def test_strict_refuses_implicit_host_conversion():
    b = StrictBackend()
    a = b.asarray(np.ones(3))
    for action in (lambda: np.asarray(a), lambda: float(a[0]), lambda: bool(a[0] > 0),
                   lambda: a.item(), lambda: a.tolist(), lambda: np.tanh(a), lambda: np.sum(a),
                   lambda: list(a)):
        with pytest.raises(HostConversionError):
            action()


def test_strict_refuses_mixing_with_host_arrays():
    b = StrictBackend()
    a = b.asarray(np.ones(3))
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        a + np.ones(3)
    with pytest.raises(TypeError, match="strict"):
        np.ones(3) + a
    with pytest.raises(TypeError, match="host numpy.ndarray"):
        b.xp.maximum(a, np.ones(3))
    with pytest.raises(TypeError, match="Python sequence of numbers"):     # CuPy takes no lists of numbers
        b.xp.maximum(a, [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="Python sequence of numbers"):
        b.xp.stack([a, 1.0])
    # sequences of device arrays, shapes and axes are what CuPy takes
    assert b.xp.stack([a, a]).shape == (2, 3) and b.xp.transpose(b.xp.stack((a, a)), (1, 0)).shape == (3, 2)
    assert b.xp.zeros((2, 3)).shape == (2, 3) and b.xp.clip(a, 0.0, 0.5).shape == (3,)


def test_strict_explicit_paths_work():
    b = StrictBackend()
    a = b.xp.tanh(b.asarray([0.0, 1.0]))
    np.testing.assert_allclose(b.to_host(a), np.tanh([0.0, 1.0]))
    assert mg.tensor([2.0], device="strict").item() == 2.0


def test_tensor_on_gpu_like_device_refuses_numpy_conversion():
    with pytest.raises(TypeError, match=r"\.numpy\(\)"):
        np.asarray(mg.tensor([1.0], device="strict"))
