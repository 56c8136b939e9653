"""Session 14: ``.grad`` assignment checked, optimizer state kept on first look, SGD's momentum
buffer updated in place, ``arange`` with bounds against the step refused.

Each test of a fix failed on the code as committed in 127821e (checked by running this file
against that tree); three guard the new code and pass there too: what PyTorch allows stays
allowed, a loaded SGD velocity is not the caller's array, and a traced momentum step is still
refused without touching the buffer.  Expected values come from PyTorch 2.13's
behaviour (checked with torch 2.13.0 CPU, quoted in the docstrings) or from closed forms written
out with NumPy.
"""
import numpy as np
import pytest

import minigrad as mg
from conftest import T
from minigrad.autograd import Primitive


def _one_line(excinfo):
    assert "\n" not in str(excinfo.value)


# --------------------------------------------------------------------------- 1. x.grad = g
def test_a_grad_of_another_dtype_is_refused_when_assigned(device):
    """torch: ``x.grad = <float32>`` on a float64 x raises "attempting to assign a gradient with
    dtype 'float' to a tensor with grad_dtype 'Double'" (before: accepted, and the next
    backward added float64 gradients into the float32 .grad)."""
    x = T([1.0, 2.0], device, True)
    with pytest.raises(TypeError, match=r"x.grad = g: g has dtype float32, x float64") as e:
        x.grad = T([1.0, 2.0], device, dtype=np.float32)
    _one_line(e)
    assert x.grad is None                                       # nothing stored
    (x * 3.0).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_a_grad_of_another_shape_type_or_device_is_refused(device):
    """torch 2.13: another size -> "attempting to assign a gradient of size '[3]' to a tensor of
    size '[2]'" (also (1,) for a 0-d tensor); a list -> TypeError "assigned grad expected to be a
    Tensor or None"; the tensor itself -> "can't assign Variable as its own grad"."""
    x = T([1.0, 2.0], device, True)
    x.grad = T([5.0, 6.0], device)
    cases = [(T([1.0, 2.0, 3.0], device), ValueError, r"g has shape \(3,\), x \(2,\)"),
             (T([[1.0, 2.0]], device), ValueError, r"g has shape \(1, 2\), x \(2,\)"),
             ([1.0, 2.0], TypeError, "g must be None or a Tensor, got list"),
             (np.ones(2), TypeError, "g must be None or a Tensor, got ndarray"),
             (x, RuntimeError, "cannot be its own gradient")]
    other = "cpu" if device != "cpu" else "strict"
    cases.append((T([1.0, 2.0], other), mg.DeviceMismatchError, rf"g is on '{other}'"))
    for g, error, message in cases:
        with pytest.raises(error, match=message) as e:
            x.grad = g
        _one_line(e)
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 6.0])   # the last good one kept
    s = T(1.0, device, True)
    with pytest.raises(ValueError, match=r"g has shape \(1,\), x \(\)"):
        s.grad = T([1.0], device)


def test_what_pytorch_allows_is_allowed(device):
    """torch 2.13 accepts None, a fitting tensor (one that requires grad too), a .grad on a
    tensor that does not require grad, and an int64 .grad on an int64 tensor."""
    x = T([1.0, 2.0], device, True)
    for g in (T([1.0, 2.0], device), None, T([1.0, 2.0], device, True)):
        x.grad = g
        assert x.grad is g
    c = T([1.0, 2.0], device)
    c.grad = T([3.0, 4.0], device)
    n = mg.tensor([1, 2], device=device)
    n.grad = mg.tensor([3, 4], device=device)
    assert n.grad.dtype == np.int64
    p = mg.nn.Parameter(np.zeros(3), device=device)
    p.grad = mg.ones(3, dtype=np.float64, device=device)
    p.zero_grad()
    assert p.grad is None


def _double(vjp):
    """y = 2x as a user's Primitive, with the given VJP."""
    return Primitive(lambda xp, x: x * 2, name="double").defvjp(vjp)


def test_a_gradient_of_another_dtype_is_cast_to_its_tensor_s(device):
    """A Primitive whose VJP returns float32 for a float64 input: PyTorch's engine casts each
    gradient to its input's dtype (torch 2.13, an autograd.Function returning .float(): x.grad,
    autograd.grad and a retained grad are all float64).  Before: x.grad was float32."""
    double = _double(lambda g, out, x: (g * 2).astype(np.float32))
    x = T([1.0, 2.0], device, True)
    double(x).sum().backward()
    double(x).sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 4.0])   # d(Σ 2x)/dx = 2, twice
    (g,) = mg.grad(double(x).sum(), x)
    assert g.dtype == np.float64
    y = double(x).retain_grad()
    double(y).sum().backward()
    assert y.grad.dtype == np.float64
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 2.0])


def test_a_gradient_on_another_device_is_refused(device):
    """A VJP that returns its gradient on another device: torch 2.13's engine refuses it
    ("invalid gradient at index 0 - expected device ... but got ...").  Before: x.grad became
    a tensor of the other device.  (A VJP's shape that does not broadcast back to its input's
    is refused by sum_to already.)"""
    other = "cpu" if device != "cpu" else "strict"
    bad = _double(lambda g, out, x: mg.full((2,), 2.0, dtype=g.dtype, device=other))
    x = T([1.0, 2.0], device, True)
    with pytest.raises(RuntimeError, match=rf"on '{device}' has shape \(2,\) on '{other}'") as e:
        bad(x).sum().backward()
    _one_line(e)
    assert x.grad is None
    with pytest.raises(RuntimeError, match=rf"on '{other}'"):
        mg.grad(bad(x).sum(), x)


def test_backward_refuses_a_grad_that_data_replacement_left_behind(device):
    """``x.data = v`` of another dtype after .grad was set: backward would add into the old
    float64 .grad of a now float32 leaf (before: accepted, .grad stayed float64).  Refused in
    one line, nothing changed; ``x.grad = None`` lets it go on."""
    x = T([1.0, 2.0], device, True)
    (x * 3.0).sum().backward()
    x.data = T([1.0, 2.0], device, dtype=np.float32).data
    message = r"is a Tensor of shape \(2,\) \(dtype float64, the leaf's float32\)"
    with pytest.raises(ValueError, match=message) as e:
        (x * 3.0).sum().backward()
    _one_line(e)
    assert x.grad.dtype == np.float64
    x.grad = None
    (x * 3.0).sum().backward()
    assert x.grad.dtype == np.float32 and x.grad.numpy().tolist() == [3.0, 3.0]


# --------------------------------------------------------------------------- 2. optimizer state
def test_optimizer_state_made_by_looking_is_kept():
    """torch 2.13's ``state`` is a defaultdict(dict): ``opt.state[p]['foo'] = 1`` stays, ``p in
    opt.state`` is then True, and the first step fills that same dict (before: a fresh {} each
    look, the write lost)."""
    p, q = mg.nn.Parameter(np.zeros(2)), mg.nn.Parameter(np.zeros(2))
    opt = mg.optim.SGD([p, q], lr=0.1, momentum=0.9)
    assert p not in opt.state
    s = opt.state[p]
    s["foo"] = 1
    assert opt.state[p] is s and opt.state[p] == {"foo": 1} and p in opt.state and q not in opt.state
    p.grad = mg.tensor([1.0, 2.0])
    opt.step()
    assert opt.state[p] is s and s["foo"] == 1
    np.testing.assert_array_equal(s["momentum_buffer"], [1.0, 2.0])
    adam = mg.optim.Adam([p, q], lr=0.1)
    a = adam.state[p]
    adam.step()                                    # torch: fills the looked-at dict
    assert adam.state[p] is a and a["step"] == 1
    np.testing.assert_allclose(a["exp_avg"], [0.1, 0.2])                   # (1 - β₁) g
    _ = adam.state[q]                                                      # only looked at
    saved = adam.state_dict()
    assert "step.1" not in saved and "exp_avg.1" not in saved
    resumed = mg.optim.Adam([p, q], lr=0.1)
    resumed.load_state_dict(saved)
    assert resumed.state[p]["step"] == 1 and resumed.state[1] is None


# --------------------------------------------------------------------------- 3. SGD momentum
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sgd_momentum_buffer_is_updated_in_place(dtype, device):
    """torch: ``buf.mul_(momentum).add_(g, alpha=1 - dampening)``, so a reference to
    ``opt.state[p]["momentum_buffer"]`` stays live (before: a new array each step, the
    reference stale).  The numbers: v ← μ v + (1 - τ) g, p ← p - lr v, written out in NumPy,
    equal bit for bit over 10 steps."""
    rng = np.random.default_rng(7)
    host = mg.get_backend(device).to_host
    p0 = rng.normal(size=(3, 4)).astype(dtype)
    grads = [rng.normal(size=(3, 4)).astype(dtype) for _ in range(10)]
    p = mg.nn.Parameter(p0.copy(), device=device)
    opt = mg.optim.SGD([p], lr=0.05, momentum=0.9, dampening=0.25)
    want_p, want_v, buf = p0.copy(), None, None
    for g in grads:
        p.grad = mg.tensor(g, device=device)
        opt.step()
        want_v = g.copy() if want_v is None else 0.9 * want_v + (1 - 0.25) * g
        want_p = want_p - 0.05 * want_v
        buf = opt.state[p]["momentum_buffer"] if buf is None else buf
        assert buf is opt.state[p]["momentum_buffer"] is opt.velocity[0]
        assert buf.dtype == dtype and p.dtype == dtype
        np.testing.assert_array_equal(host(buf), want_v)
        np.testing.assert_array_equal(p.numpy(), want_p)


def test_sgd_loaded_velocity_is_its_own():
    """Updated in place, a loaded velocity must not be the caller's array: stepping must leave
    the state_dict that was loaded as it was."""
    p = mg.nn.Parameter(np.zeros(2))
    opt = mg.optim.SGD([p], lr=0.1, momentum=0.5)
    saved = {"velocity.0": np.array([1.0, 2.0])}
    opt.load_state_dict(saved)
    p.grad = mg.tensor([2.0, 2.0])
    opt.step()
    np.testing.assert_array_equal(saved["velocity.0"], [1.0, 2.0])
    np.testing.assert_array_equal(opt.velocity[0], [2.5, 3.0])             # 0.5 v + g


def test_traced_sgd_with_momentum_is_still_refused_and_leaves_the_buffer(rng):
    """Momentum kept by the optimizer is state outside the traced function: refused, as before,
    and the eager buffer is left as it was (an in-place update at trace time would have changed
    it once and never again)."""
    W = mg.tensor(rng.normal(size=(3, 3)), requires_grad=True)
    opt = mg.SGD([W], lr=0.1, momentum=0.9)
    x = mg.tensor(np.ones((2, 3)))

    def step(W, x):
        (x @ W).sum().backward()
        opt.step()
        opt.zero_grad()
    step(W, x)
    before = opt.velocity[0].copy()
    with pytest.raises(mg.TraceError):
        mg.trace(step)(W, x)
    np.testing.assert_array_equal(opt.velocity[0], before)


# --------------------------------------------------------------------------- 4. arange
def test_arange_refuses_bounds_against_the_step(device):
    """torch 2.13: arange(5, 0), arange(0, 5, -1), arange(2.5, 1), arange(-3) raise "upper bound
    and lower bound inconsistent with step sign" (before: empty tensors); an empty range with
    start == end, and counting down with a negative step, are fine."""
    for args in [(5, 0), (0, 5, -1), (2.5, 1), (-3,), (0.0, 0.5, -0.1)]:
        with pytest.raises(ValueError, match="inconsistent with its sign") as e:
            mg.arange(*args, device=device)
        _one_line(e)
    for args in [(0, 0), (0,), (3, 3), (5, 5, -1)]:
        assert mg.arange(*args, device=device).shape == (0,)
    assert mg.arange(5, 0, -1, device=device).numpy().tolist() == [5, 4, 3, 2, 1]
    np.testing.assert_allclose(mg.arange(1.0, 0.0, -0.25, device=device).numpy(), [1.0, 0.75, 0.5, 0.25])


# --------------------------------------------------------------------------- the other optimizers' buffers
def _reference_adam(g_seq, lr=0.1, betas=(0.9, 0.999), eps=1e-8, amsgrad=False):
    """Adam by its formulas (Kingma & Ba, with PyTorch's placement of eps), written out here."""
    p = np.array([1.0, -2.0, 0.5]); m = np.zeros(3); v = np.zeros(3); vmax = np.zeros(3)
    for t, g in enumerate(g_seq, 1):
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - betas[1] ** t) + eps
        p = p - lr / (1 - betas[0] ** t) * m / denom
    return p, m, v


@pytest.mark.parametrize("make, names", [
    (lambda ps: mg.optim.Adam(ps, lr=0.1, amsgrad=True), ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
    (lambda ps: mg.optim.AdamW(ps, lr=0.1), ("exp_avg", "exp_avg_sq")),
    (lambda ps: mg.optim.RMSprop(ps, lr=0.01, momentum=0.9, centered=True), ("square_avg", "grad_avg", "momentum_buffer")),
    (lambda ps: mg.optim.Adagrad(ps, lr=0.1), ("sum",)),
])
def test_optimizer_buffers_are_updated_in_place_as_pytorchs(make, names):
    """A reference taken to ``opt.state[p][name]`` after the first step follows later steps (as
    PyTorch's in-place ``lerp_``/``mul_``/``addcmul_``); before, each step made new arrays, so the
    reference went stale."""
    rng = np.random.default_rng(0)
    p = mg.nn.Parameter(mg.tensor([1.0, -2.0, 0.5]))
    opt = make([p])
    p.grad = mg.tensor(rng.standard_normal(3))
    opt.step()
    held = {n: opt.state[p][n] for n in names}
    for _ in range(3):
        p.grad = mg.tensor(rng.standard_normal(3))
        opt.step()
    for n in names:
        assert held[n] is opt.state[p][n], n


def test_adam_in_place_keeps_the_numbers_of_the_formulas():
    rng = np.random.default_rng(1)
    gs = [rng.standard_normal(3) for _ in range(6)]
    for amsgrad in (False, True):
        p = mg.nn.Parameter(mg.tensor([1.0, -2.0, 0.5]))
        opt = mg.optim.Adam([p], lr=0.1, amsgrad=amsgrad)
        for g in gs:
            p.grad = mg.tensor(g)
            opt.step()
        want_p, want_m, want_v = _reference_adam(gs, amsgrad=amsgrad)
        np.testing.assert_allclose(p.numpy(), want_p, rtol=1e-13)
        np.testing.assert_allclose(opt.state[p]["exp_avg"], want_m, rtol=1e-13)
        np.testing.assert_allclose(opt.state[p]["exp_avg_sq"], want_v, rtol=1e-13)


def test_loading_a_state_dict_does_not_write_into_the_callers_arrays():
    p = mg.nn.Parameter(mg.tensor([1.0, 2.0]))
    opt = mg.optim.Adam([p], lr=0.1)
    p.grad = mg.tensor([0.5, -0.5])
    opt.step()
    saved = opt.state_dict()
    kept = {k: np.array(v, copy=True) for k, v in saved.items()}
    other = mg.optim.Adam([p], lr=0.1)
    other.load_state_dict(saved)
    p.grad = mg.tensor([1.0, 1.0])
    other.step()
    for k in saved:
        np.testing.assert_array_equal(saved[k], kept[k])


def test_sgd_starts_from_a_momentum_buffer_the_caller_put_in_its_state():
    """As PyTorch's: SGD reads ``state[p]["momentum_buffer"]``, so replacing it (e.g. to reset
    the momentum) changes the next step; before, SGD read its own list and ignored the state."""
    p = mg.nn.Parameter(mg.tensor([1.0, 2.0]))
    opt = mg.optim.SGD([p], lr=0.1, momentum=0.5)
    p.grad = mg.tensor([1.0, 1.0])
    opt.step()                                           # v = g = [1, 1]; p = [0.9, 1.9]
    opt.state[p]["momentum_buffer"] = np.array([10.0, 0.0])
    opt.step()                                           # v = 0.5 [10, 0] + [1, 1] = [6, 1]
    np.testing.assert_allclose(p.numpy(), [0.9 - 0.6, 1.9 - 0.1], rtol=1e-15)
    assert opt.velocity[0].tolist() == [6.0, 1.0]
    with pytest.raises(TypeError):
        opt.velocity[0] = None                            # read-only: the state is the one record


@pytest.mark.parametrize("bad, what", [
    (np.zeros(1), r"got ndarray of shape \(1,\), dtype float64"),
    (np.zeros(2, dtype=np.float32), r"got ndarray of shape \(2,\), dtype float32"),
    (np.zeros(2, dtype=np.int64), r"dtype int64"),
    ([0.0, 0.0], r"got a list"),
])
def test_a_buffer_put_in_the_state_must_fit_and_nothing_changes_otherwise(bad, what):
    """SGD (and Adam ...) update state[p]'s buffers in place: one the caller put there of another
    shape, dtype or kind is refused in one line before any parameter moves (before: NumPy's
    broadcast error mid-step, or a float32 momentum kept silently for a float64 parameter)."""
    a, p = mg.nn.Parameter(mg.tensor([1.0])), mg.nn.Parameter(mg.tensor([1.0, 2.0]))
    for opt, name in ((mg.optim.SGD([a, p], lr=0.1, momentum=0.5), "momentum_buffer"),
                      (mg.optim.Adam([a, p], lr=0.1), "exp_avg")):
        a.grad, p.grad = mg.tensor([1.0]), mg.tensor([1.0, 1.0])
        opt.state[p][name] = bad
        with pytest.raises(TypeError, match=rf"state\[parameter 1\]\['{name}'\] must be an array of the "
                                            rf"parameter's shape \(2,\), dtype float64 .*{what}"):
            opt.step()
        assert a.numpy().tolist() == [1.0] and p.numpy().tolist() == [1.0, 2.0]


def test_a_tensor_put_in_the_state_is_taken_as_its_array_and_a_buffer_set_before_the_first_step_stays():
    p = mg.nn.Parameter(mg.tensor([1.0, 2.0]))
    opt = mg.optim.SGD([p], lr=0.1, momentum=0.5)
    opt.state[p]["momentum_buffer"] = mg.tensor([2.0, 0.0])     # what a PyTorch user writes
    p.grad = mg.tensor([1.0, 1.0])
    opt.step()                                                    # v = 0.5 [2, 0] + [1, 1] = [2, 1]
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.2, 2.0 - 0.1], rtol=1e-15)
    q = mg.nn.Parameter(mg.tensor([1.0]))
    adam = mg.optim.Adam([q], lr=0.1)
    adam.state[q]["exp_avg"] = np.array([0.5])
    q.grad = mg.tensor([1.0])
    adam.step()                                                   # m = 0.5 + 0.1 (1 - 0.5) = 0.55
    np.testing.assert_allclose(adam.state[q]["exp_avg"], [0.55], rtol=1e-15)
