"""The autograd API behaves as PyTorch's where minigrad offers the same call: checked against
expectations written by hand from PyTorch's documented behaviour (no torch needed here; the
side-by-side comparison with PyTorch 2.13 is a script outside the suite).

Each test pins a difference an audit found: a call that silently did something else (a flag
set where PyTorch refuses, ``.data`` holding a list), crashed with an internal error (the same
input twice in ``mg.grad``), or was missing (``detach_``, ``inference_mode``).
"""
import numpy as np
import pytest

import minigrad as mg
from conftest import T


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)


# --------------------------------------------------------------------------- retain_grad
def test_retain_grad_refused_on_a_tensor_that_does_not_require_grad(device):
    """PyTorch: "can't retain_grad on Tensor that has requires_grad=False"; minigrad did
    nothing, and .grad stayed None after backward without a word."""
    c = T([1.0, 2.0], device)
    with pytest.raises(RuntimeError, match="retain_grad.*does not require grad") as e:
        c.retain_grad()
    _one_line(e)
    x = T([1.0, 2.0], device, True)
    assert x.retain_grad() is x                       # a leaf that requires grad: allowed, a no-op
    z = (x * 3).retain_grad()
    (z * z).sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), [6.0, 12.0])      # d(z²)/dz = 2z, z = 3x
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 36.0])     # 2z · 3


# --------------------------------------------------------------------------- requires_grad =
def test_requires_grad_attribute_is_checked_as_in_pytorch(device):
    """``x.requires_grad = ...`` follows the rules of ``requires_grad_()``: an integer tensor
    cannot require grad, a computed tensor cannot be switched off (it used to be silently
    cut from the graph: what was computed from it afterwards got no gradient)."""
    n = T([1, 2], device, dtype=np.int64)
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients") as e:
        n.requires_grad = True
    _one_line(e)
    assert n.requires_grad is False
    x = T([1.0, 2.0], device, True)
    z = x * 2
    with pytest.raises(RuntimeError, match="non-leaf.*detach") as e:
        z.requires_grad = False
    _one_line(e)
    assert z.requires_grad is True
    z.requires_grad = True                            # unchanged: allowed
    (z * z).sum().backward()                          # the graph is intact: d(4x²)/dx = 8x
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])
    d = x.detach()
    d.requires_grad = True                            # a leaf's flag changes freely
    assert d.requires_grad and d.is_leaf
    d.requires_grad = False
    assert not d.requires_grad


# --------------------------------------------------------------------------- detach_()
def test_detach_in_place_makes_a_leaf_and_keeps_first_derivatives(device):
    """``torch.Tensor.detach_``: the tensor itself becomes a leaf without grad (same data);
    graphs recorded before still run through the node that made it."""
    x = T([1.0, 2.0], device, True)
    z = x * 2
    w = (z * z).sum()                                 # kept z for its gradient
    assert z.detach_() is z
    assert z.is_leaf and not z.requires_grad and z.grad_fn is None
    np.testing.assert_array_equal(z.numpy(), [2.0, 4.0])
    assert not (z * 3).requires_grad                  # new uses: a constant
    w.backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0])     # d(4x²)/dx, as before the detach


def test_detach_in_place_refuses_a_recorded_gradient_through_a_kept_value(device):
    """With ``create_graph`` the VJP of ``z * z`` would read z as a constant after
    ``z.detach_()``: d²/dx² of Σ(x²)² would lose the dependence of z on x.  PyTorch refuses
    ("a saved tensor detached in-place"); so does minigrad, in one line."""
    x = T([1.0, 2.0], device, True)
    z = x * x
    w = (z * z).sum()
    (g,) = mg.grad(w, [x], create_graph=True, retain_graph=True)     # before the detach: fine
    np.testing.assert_allclose(g.numpy(), [4.0, 32.0])              # 4x³
    (h,) = mg.grad(g.sum(), [x], retain_graph=True)
    np.testing.assert_allclose(h.numpy(), [12.0, 48.0])             # 12x²
    z.detach_()
    with pytest.raises(RuntimeError, match="detached in place") as e:
        mg.grad(w, [x], create_graph=True)
    _one_line(e)


# --------------------------------------------------------------------------- .data =
def test_data_assignment_takes_arrays_and_tensors_only(device):
    """``x.data = t`` (a Tensor) uses t's array, as PyTorch; a list or a number is refused in
    one line (it used to be stored as it was, and the next operation failed deep inside)."""
    x = T([1.0, 2.0], device, True)
    v = x.version
    x.data = T([7.0, 8.0, 9.0], device)               # another shape: allowed, as in PyTorch
    assert x.version == v + 1 and x.shape == (3,) and x.is_leaf and x.requires_grad
    (x * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(x.numpy(), [7.0, 8.0, 9.0])
    x.data = x.detach() - 0.5 * T([2.0, 2.0, 2.0], device)   # a computed Tensor
    np.testing.assert_array_equal(x.numpy(), [6.0, 7.0, 8.0])
    for bad in ([1.0, 2.0], 3.0, "a"):
        with pytest.raises(TypeError, match="x.data = value takes an array or a Tensor") as e:
            x.data = bad
        _one_line(e)
    with pytest.raises(TypeError, match="requires grad.*floating-point") as e:
        x.data = T([1, 2, 3], device, dtype=np.int64)
    _one_line(e)
    np.testing.assert_array_equal(x.numpy(), [6.0, 7.0, 8.0])   # nothing refused was kept
    c = T([1.0], "cpu")
    c.data = np.float64(5.0)                          # a NumPy scalar: a 0-d array
    assert c.shape == () and c.item() == 5.0 and (c + 1).item() == 6.0


def test_data_assignment_refuses_a_tensor_of_another_device():
    x = T([1.0, 2.0], "cpu")
    with pytest.raises(mg.DeviceMismatchError, match="x.data = value: the value is on 'strict'") as e:
        x.data = T([3.0, 4.0], "strict")
    _one_line(e)
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0])


# --------------------------------------------------------------------------- mg.grad
def test_grad_with_an_input_named_twice(device):
    """``torch.autograd.grad(y, [x, x])`` gives x's gradient twice; minigrad raised an
    IndexError from inside the backward pass."""
    x = T([1.0, 2.0], device, True)
    gx1, gx2 = mg.grad((x * x).sum(), [x, x])
    np.testing.assert_allclose(gx1.numpy(), [2.0, 4.0])
    np.testing.assert_allclose(gx2.numpy(), [2.0, 4.0])
    z = x * 2
    gz1, gx, gz2 = mg.grad((z * z).sum(), [z, x, z])
    np.testing.assert_allclose(gz1.numpy(), [4.0, 8.0])             # 2z
    np.testing.assert_allclose(gx.numpy(), [8.0, 16.0])             # 2z · 2
    np.testing.assert_allclose(gz2.numpy(), [4.0, 8.0])
    w = T([1.0], device, True)
    out = mg.grad((x * 3).sum(), [w, x, w], allow_unused=True)
    assert out[0] is None and out[2] is None
    np.testing.assert_allclose(out[1].numpy(), [3.0, 3.0])


# --------------------------------------------------------------------------- inference_mode
def test_inference_mode_is_no_grad_and_false_is_enable_grad(device):
    """``torch.inference_mode()`` stops recording (a context manager, or a decorator with or
    without parentheses); ``inference_mode(False)`` turns recording on, as PyTorch's guard."""
    inference_mode = mg.autograd.inference_mode
    x = T([1.0, 2.0], device, True)
    with inference_mode():
        y = x * 2
        assert not mg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and mg.is_grad_enabled()

    @inference_mode
    def bare():
        return mg.is_grad_enabled(), (x * 2).requires_grad

    @inference_mode()
    def called():
        return mg.is_grad_enabled()
    assert bare() == (False, False) and called() is False and mg.is_grad_enabled()
    with mg.no_grad():
        with inference_mode(False):
            assert mg.is_grad_enabled() and (x * 2).requires_grad
        assert not mg.is_grad_enabled()
    with pytest.raises(TypeError, match="inference_mode takes True or False") as e:
        inference_mode("yes")
    _one_line(e)
    assert mg.is_grad_enabled()


# --------------------------------------------------------------------------- torch.autograd.backward
def test_backward_of_several_roots_and_of_chosen_inputs(device):
    """``mg.functional.backward`` is ``torch.autograd.backward``: one pass from several roots,
    and ``inputs=`` to accumulate into chosen tensors only (leaves or intermediate)."""
    x, w = T([1.0, 2.0], device, True), T([3.0, 4.0], device, True)
    mg.functional.backward([(x * x).sum(), x * 3], [None, T([1.0, 10.0], device)])
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 34.0])         # 2x + 3·[1, 10]
    x.grad = None
    z = x * w
    y = (z * z).sum()                                                # Σ (x w)²
    mg.functional.backward(y, inputs=[x], retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [18.0, 64.0])        # 2 x w²
    assert w.grad is None
    mg.functional.backward(y, inputs=[z, z], retain_graph=True)     # named twice: added once
    first = z.grad
    np.testing.assert_allclose(first.numpy(), [6.0, 16.0])          # 2z
    mg.functional.backward(y, inputs=z, retain_graph=True)
    np.testing.assert_allclose(z.grad.numpy(), [12.0, 32.0])
    np.testing.assert_allclose(first.numpy(), [6.0, 16.0])          # a new sum, as retain_grad's
    for call, error, message in [
            (lambda: mg.functional.backward(y, inputs=[]), ValueError, "inputs= is empty"),
            (lambda: mg.functional.backward(y, inputs=[T([1.0], device)]), RuntimeError,
             "does not require grad"),
            (lambda: mg.functional.backward([y, x * 3]), RuntimeError, "needs grad_tensors")]:
        with pytest.raises(error, match=message) as e:
            call()
        _one_line(e)


# --------------------------------------------------------------------------- backward.py (patch)
def test_backward_leaves_alone_a_leaf_switched_off_after_the_forward_pass(device):
    """PyTorch accumulates only into leaves that still require grad: a parameter frozen after
    the forward pass gets no .grad, so an optimizer does not move it."""
    x, w = T([1.0, 2.0], device, True), T([3.0, 4.0], device, True)
    y = (x * w).sum()
    w.requires_grad_(False)
    y.backward()
    assert w.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])       # d(x·w)/dx = w
    mg.SGD([x, w], lr=0.1).step()
    np.testing.assert_array_equal(w.numpy(), [3.0, 4.0])


def test_retained_grad_does_not_alias_the_seed(device):
    """``y.retain_grad(); y.backward(seed)``: y.grad is its own tensor (PyTorch clones), so
    changing the seed afterwards does not change y.grad."""
    x = T([1.0, 2.0], device, True)
    y = (x * 2).retain_grad()
    seed = T([5.0, 6.0], device)
    y.backward(seed)
    seed.mul_(100)
    np.testing.assert_array_equal(y.grad.numpy(), [5.0, 6.0])
    np.testing.assert_array_equal(x.grad.numpy(), [10.0, 12.0])


def test_backward_refuses_to_add_into_a_grad_of_another_shape(device):
    """A ``.grad`` of another shape: ``+=`` would broadcast it silently (x of shape (1,) got a
    .grad of shape (3,)); PyTorch refuses such a .grad on assignment, and a .grad that stopped
    fitting when ``x.data`` was replaced is refused by backward."""
    x = T([1.0], device, True)
    with pytest.raises(ValueError, match=r"^x\.grad = g: g has shape \(3,\), x \(1,\)") as e:
        x.grad = T([0.0, 0.0, 0.0], device)
    _one_line(e)
    with pytest.raises(TypeError, match=r"^x\.grad = g: g must be None or a Tensor, got list") as e:
        x.grad = [0.0]
    _one_line(e)
    x = T([1.0, 1.0, 1.0], device, True)
    x.grad = T([0.0, 0.0, 0.0], device)
    x.data = T([1.0], device)
    with pytest.raises(ValueError, match=r"the .grad of a leaf of shape \(1,\) is a Tensor of shape \(3,\)") as e:
        (x * 2).sum().backward()
    _one_line(e)
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])


# --------------------------------------------------------------------------- methods.py (patch)
def test_tensor_backward_takes_inputs(device):
    """``y.backward(inputs=[x])``, as PyTorch's: only x.grad is accumulated into."""
    x, w = T([1.0, 2.0], device, True), T([3.0, 4.0], device, True)
    (x * w).sum().backward(inputs=[x])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 4.0])
    assert w.grad is None
    (x * 2).backward(T([1.0, 1.0], device), inputs=x)
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 6.0])
