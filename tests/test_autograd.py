"""The backward pass, the tape, grad modes, memory, and the errors they raise."""
import gc
import weakref

import numpy as np
import pytest

import minigrad as mg
from conftest import T


def test_readme_example(device, rng):
    x = mg.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    w = rng.standard_normal((2, 3))
    W = mg.tensor(w, device=device, requires_grad=True)
    loss = (x @ W).tanh().sum()
    loss.backward()
    d = 1 - np.tanh(np.array([[1.0, 2.0]]) @ w) ** 2           # closed form
    np.testing.assert_allclose(x.grad.numpy(), d @ w.T, rtol=1e-12)
    np.testing.assert_allclose(W.grad.numpy(), np.array([[1.0], [2.0]]) @ d, rtol=1e-12)
    assert x.grad.shape == x.shape and x.grad.device == x.device and W.grad.dtype == W.dtype


def test_composite_expression_with_non_uniform_upstream(device, rng):
    a, b, g = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    A, B = T(a, device, True), T(b, device, True)
    out = (A * B).sigmoid() * A + B / (1 + A * A)
    out.backward(T(g, device))
    s = 1 / (1 + np.exp(-a * b))
    da = g * (s * (1 - s) * b * a + s - b * 2 * a / (1 + a * a) ** 2)
    db = (g * (s * (1 - s) * a * a + 1 / (1 + a * a))).sum(0)
    np.testing.assert_allclose(A.grad.numpy(), da, rtol=1e-10)
    np.testing.assert_allclose(B.grad.numpy(), db, rtol=1e-10)


def test_grad_accumulates_and_zero_grad_clears(device):
    x = T([1.0, 2.0], device, True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6.0, 6.0])
    x.zero_grad()
    assert x.grad is None
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_leaf_grads_never_alias(device):
    """add's VJP passes the cotangent through to both inputs; their .grad must still be two
    separate buffers, or clipping one in place would change the other."""
    a, b = T([1.0], device, True), T([2.0], device, True)
    (a + b).backward(T([1.0], device))
    a.grad.data *= 5
    assert b.grad.item() == 1.0


def test_same_tensor_used_twice(device):
    x = T([3.0], device, True)
    (x * x + x).backward(T([1.0], device))
    assert x.grad.item() == 7.0


def test_backward_needs_grad_for_non_scalar(device):
    y = T([1.0, 2.0], device, True) * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*grad="):
        y.backward()


def test_backward_cotangent_must_match(device):
    y = T([1.0, 2.0], device, True) * 2
    with pytest.raises(ValueError, match="grad has shape"):
        y.backward(T([1.0, 2.0, 3.0], device))


def test_backward_on_constant_is_an_error(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        (T([1.0], device) * 2).sum().backward()


def test_released_graph_raises_and_retain_graph_allows_twice(device):
    x = T([1.0, 2.0], device, True)
    y = (x.tanh() * 2).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * (1 - np.tanh([1.0, 2.0]) ** 2))
    with pytest.raises(mg.GraphReleasedError, match="retain_graph=True"):
        y.backward()


def test_memory_is_released_after_backward(device):
    """The node of tanh keeps its output array for backward; backward frees it unless asked."""
    x = T(np.ones(1000), device, True)
    for retain, alive in ((True, True), (False, False)):
        h = x.tanh()
        ref = weakref.ref(h.data._a if device == "strict" else h.data)
        loss = (h * h).sum()
        del h
        gc.collect()
        assert ref() is not None                  # the graph holds it
        loss.backward(retain_graph=retain)
        gc.collect()
        assert (ref() is not None) == alive


def test_intermediates_not_needed_by_backward_are_not_kept(device):
    """add's VJP reads no values: a + b is freed as soon as tanh consumed it."""
    a, b = T(np.ones(100), device, True), T(np.ones(100), device, True)
    s = a + b
    ref = weakref.ref(s.data._a if device == "strict" else s.data)
    y = s.tanh()
    del s
    gc.collect()
    assert ref() is None
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), 1 - np.tanh(2.0) ** 2)


def test_ten_thousand_step_chain_without_recursion(device):
    """x_{k+1} = x_k + 0.001 tanh(x_k):  dx_n/dx_0 = prod_k (1 + 0.001 (1 - tanh² x_k))."""
    x0 = T([0.3], device, True)
    x, values = x0, []
    for _ in range(10_000):
        values.append(x)
        x = x + 0.001 * x.tanh()
    x.backward(T([1.0], device))
    expected = np.prod([1 + 0.001 * (1 - np.tanh(v.item()) ** 2) for v in values])
    np.testing.assert_allclose(x0.grad.item(), expected, rtol=1e-9)


def test_deep_graph_is_freed_without_recursion_error(device):
    x = T([0.1], device, True)
    for _ in range(100_000):
        x = x * 1.0
    del x                     # deallocating a 100k-deep chain must not overflow the C stack
    gc.collect()


def test_create_graph_second_and_third_derivatives(device):
    x = T([0.7], device, True)
    y = x ** 4
    (g1,) = mg.grad(y, [x], create_graph=True)
    (g2,) = mg.grad(g1, [x], create_graph=True)
    (g3,) = mg.grad(g2, [x])
    assert np.isclose(g1.item(), 4 * 0.7 ** 3) and np.isclose(g2.item(), 12 * 0.7 ** 2)
    assert np.isclose(g3.item(), 24 * 0.7)


def test_backward_create_graph_gives_differentiable_grad(device):
    x = T([0.5, -1.0], device, True)
    x.tanh().sum().backward(create_graph=True)
    g = x.grad
    assert g.requires_grad
    (h,) = mg.grad(g.sum(), [x])
    t = np.tanh([0.5, -1.0])
    np.testing.assert_allclose(h.numpy(), -2 * t * (1 - t ** 2), rtol=1e-12)


def test_no_grad_records_nothing(device):
    x = T([1.0], device, True)
    with mg.no_grad():
        y = x * 2
        assert not mg.is_grad_enabled()
        with mg.enable_grad():
            z = x * 2
    assert mg.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and not z.is_leaf


def test_detach_cuts_the_graph(device):
    x = T([2.0], device, True)
    y = (x * x).detach() * x
    y.backward(T([1.0], device))
    assert x.grad.item() == 4.0


def test_retain_grad_on_intermediate(device):
    x = T([1.0, 2.0], device, True)
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), [6.0, 12.0])


def test_float32_stays_float32(device, rng):
    """A float32 graph stays float32 end to end (mean's count must not upcast)."""
    x = mg.tensor(rng.standard_normal((4, 3)).astype(np.float32), device=device, requires_grad=True)
    W = mg.tensor(rng.standard_normal((3, 2)).astype(np.float32), device=device, requires_grad=True)
    loss = mg.cross_entropy((x @ W).tanh(), mg.tensor([0, 1, 1, 0], device=device)) + (x / 3).mean() + (x ** 2).sum()
    assert loss.dtype == np.float32
    loss.backward()
    assert x.grad.dtype == np.float32 and W.grad.dtype == np.float32


# ----------------------------------------------------------------------------- the tape
def test_tape_records_in_order_with_marks(device):
    W = mg.tensor([[0.5, 0.2], [0.1, 0.4]], device=device, requires_grad=True, name="W_rec")
    h = T([[1.0, -1.0]], device)
    with mg.Tape() as tape:
        for t in range(3):
            with mg.scope(step=t):
                h = (h @ W).tanh()
        loss = h.sum()
    assert tape.ops() == ["matmul", "tanh"] * 3 + ["sum"]
    assert [e.step for e in tape] == [0, 0, 1, 1, 2, 2, None]
    assert tape[2].inputs[0] == 1 and tape[2].inputs[1] is W     # %2 = matmul(%1, W_rec)
    assert tape[0].inputs[0] is not None and tape[0].shape == (1, 2)
    text = repr(tape)
    assert "%2 = matmul(%1, W_rec)" in text and "step=2" in text
    loss.backward()
    assert all(e.grad_norm is not None for e in tape)
    assert tape[6].grad_norm == pytest.approx(1.0)
    assert tape[2].input_grad_norms[1] > 0


def test_tape_does_not_record_constants_or_no_grad(device):
    with mg.Tape() as tape:
        a = T([1.0], device) * 2
        with mg.no_grad():
            b = T([1.0], device, True) * 2
    assert len(tape) == 0 and not a.requires_grad and not b.requires_grad


def recorded_tanh(device):
    """A tape of ``sum(2 tanh(x))``; returns it, ``h = tanh(x)``, the loss, and a weak reference
    to ``h``'s array (to see whether anything keeps it alive)."""
    x = T(np.ones(1000), device, True)
    with mg.Tape() as tape:
        h = x.tanh()
        loss = (h * 2).sum()
    return tape, h, loss, weakref.ref(h.data._a if device == "strict" else h.data)


def test_tape_does_not_keep_memory_alive(device):
    tape, h, loss, ref = recorded_tanh(device)
    del h
    loss.backward()
    gc.collect()
    assert ref() is None and len(tape) == 3 and tape[0].output is None


@pytest.mark.parametrize("rows,cols", [(4, 3), (70, 40), (210, 20)])   # stacked; stacked; one by one
def test_bulk_accumulation_into_leaves_matches_closed_form(rows, cols, device, rng):
    """A weight used at 40 steps, also elementwise; a bias broadcast at every step; a tensor
    taken apart by indexing: the deferred paths must give the plain sums."""
    W = T(rng.standard_normal((cols, cols)) * 0.1, device, True)
    b = T(rng.standard_normal(cols), device, True)
    X = T(rng.standard_normal((rows, 2 * cols)), device, True)
    hs, h = [], X[:, :cols]
    for _ in range(40):
        h = h @ W + b + X[:, cols:] * 0.5
        hs.append(h)
    loss = (h * h).sum() + (W * W).sum()
    loss.backward()
    # the same gradients through create_graph=True, where nothing is deferred
    W2, b2, X2 = (T(t.numpy(), device, True) for t in (W, b, X))
    h = X2[:, :cols]
    for _ in range(40):
        h = h @ W2 + b2 + X2[:, cols:] * 0.5
    gW, gb, gX = mg.grad((h * h).sum() + (W2 * W2).sum(), [W2, b2, X2], create_graph=True)
    np.testing.assert_allclose(W.grad.numpy(), gW.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), gb.numpy(), rtol=1e-10)
    np.testing.assert_allclose(X.grad.numpy(), gX.numpy(), rtol=1e-10)


def test_tape_without_backward_does_not_keep_the_graph(device):
    tape, h, y, ref = recorded_tanh(device)
    del h, y
    gc.collect()
    assert ref() is None and len(tape) == 3 and "tanh" in repr(tape)
