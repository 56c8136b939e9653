"""Session 13 review of the PyTorch-semantics engine changes: defects found and fixed.

Each test failed on the code as committed in 506635e (checked by running this file against
that tree) and states its expected values independently: closed forms written out with NumPy,
central differences, or PyTorch's documented behaviour.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class _Tied(nn.Module):
    """y = B (A x) with B's weight the same Parameter as A's: a tied pair (weight sharing)."""

    def __init__(self, device):
        self.a = nn.Linear(3, 3, bias=False, device=device)
        self.b = nn.Linear(3, 3, bias=False, device=device)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


def test_functional_call_replaces_a_tied_weight_in_every_place(device):
    """torch.func.functional_call (tie_weights=True, its default) replaces a tied parameter
    wherever it is held, and named_parameters() lists it under its first name only, so
    ``{"a.weight": W}`` must give y = x Wᵀ Wᵀ (before: x Wᵀ A₀ᵀ, the old weight kept in b:
    a wrong value and half of the gradient, silently).  d Σy / dW by central differences."""
    model = _Tied(device)
    assert [name for name, _ in model.named_parameters()] == ["a.weight"]
    rng = np.random.default_rng(0)
    W0, x0 = rng.normal(size=(3, 3)), rng.normal(size=(2, 3))
    W = mg.tensor(W0, device=device, requires_grad=True)
    x = mg.tensor(x0, device=device)
    y = nn.functional_call(model, {"a.weight": W}, x)
    np.testing.assert_allclose(y.numpy(), x0 @ W0.T @ W0.T, rtol=1e-12)
    y.sum().backward()

    def total(Wv):
        return (x0 @ Wv.T @ Wv.T).sum()
    numeric = np.zeros_like(W0)
    for i in range(3):
        for j in range(3):
            e = np.zeros_like(W0)
            e[i, j] = 1e-6
            numeric[i, j] = (total(W0 + e) - total(W0 - e)) / 2e-6
    np.testing.assert_allclose(W.grad.numpy(), numeric, rtol=1e-6, atol=1e-8)
    assert model.b.weight is model.a.weight and isinstance(model.a.weight, nn.Parameter)   # restored
    with pytest.raises(ValueError, match="'b.weight' is tied to a parameter given another tensor"):
        nn.functional_call(model, {"a.weight": W, "b.weight": W.detach()}, x)
    y2 = nn.functional_call(model, {"a.weight": W, "b.weight": W}, x)    # the same tensor twice: fine
    np.testing.assert_allclose(y2.numpy(), x0 @ W0.T @ W0.T, rtol=1e-12)


class _Listed(nn.Module):
    """Modules and a Parameter in plain lists, which named_parameters() names "layers.0.weight",
    "scales.0"."""

    def __init__(self, device):
        self.layers = [nn.Linear(2, 2, bias=False, device=device), nn.Linear(2, 2, bias=False, device=device)]
        self.scales = [nn.Parameter(np.array([1.0, 1.0]), device=device)]

    def forward(self, x):
        return self.layers[1](self.layers[0](x)) * self.scales[0]


def test_reparametrized_reaches_the_names_named_parameters_gives_for_lists(device):
    """Every name named_parameters() gives can be replaced (before: KeyError "has no parameter
    'layers.0.weight'" for a module or parameter held in a list), and the list holds the
    Parameters again afterwards, also after an exception inside."""
    model = _Listed(device)
    names = [name for name, _ in model.named_parameters()]
    assert names == ["layers.0.weight", "layers.1.weight", "scales.0"]
    originals = model.parameters()
    A, B, s = np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([2.0, -3.0])
    x0 = np.array([[1.0, -1.0]])
    new = dict(zip(names, [mg.tensor(v, device=device) for v in (A, B, s)]))
    y = nn.functional_call(model, new, mg.tensor(x0, device=device))
    np.testing.assert_array_equal(y.numpy(), (x0 @ A.T @ B.T) * s)
    with pytest.raises(ZeroDivisionError):
        with nn.reparametrized(model, new):
            assert model.scales[0] is new["scales.0"]
            1 / 0
    assert model.parameters() == originals and all(type(p) is nn.Parameter for p in model.parameters())


def test_backward_with_inputs_refuses_a_grad_of_another_shape(device):
    """backward(inputs=[x]) adds into x.grad as backward() does, so a .grad of another shape
    is refused in one line as backward() refuses it (before: (2, 3) += (3,) broadcast
    silently, every row got the gradient 2)."""
    x = mg.tensor(np.ones((2, 3)), device=device, requires_grad=True)
    x.grad = mg.zeros((2, 3), device=device)
    x.data = mg.tensor(np.ones(3), device=device)       # the .grad no longer fits (assigning it is refused)
    with pytest.raises(ValueError, match=r"the .grad of a leaf of shape \(3,\) is a Tensor of shape \(2, 3\)"):
        (x * 2).sum().backward(inputs=[x])
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))            # nothing changed
    x.grad = None
    (x * 2).sum().backward(inputs=[x])
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_a_parameter_is_in_optimizer_state_once_it_has_state():
    """``p in opt.state``, as with PyTorch's dict: False before the first update, True after
    (before: a TypeError from comparing the tensor with None)."""
    p, q = nn.Parameter(np.zeros(2)), nn.Parameter(np.zeros(2))
    opt = mg.optim.SGD([p, q], lr=0.1, momentum=0.9)
    assert p not in opt.state and q not in opt.state
    p.grad = mg.tensor([1.0, 2.0])
    opt.step()
    assert p in opt.state and q not in opt.state
    assert mg.tensor([0.0, 0.0]) not in opt.state                              # not a parameter of it
    np.testing.assert_array_equal(opt.state[p]["momentum_buffer"], [1.0, 2.0])  # v = g at the first step


def test_fill_refuses_complex_and_huge_values_in_one_line():
    """A complex value is refused saying what a tensor takes (before: "must be real number,
    not complex", from math); an int too large for a float is reported as not fitting (before:
    "int too large to convert to float")."""
    x = mg.zeros(2)
    with pytest.raises(TypeError, match=r"fill_: the value 1j is not a real number; a tensor of dtype float64"):
        x.fill_(1j)
    with pytest.raises(OverflowError, match="fill_: the value 1000+ does not fit dtype int64"):
        mg.zeros(2, dtype=np.int64).fill_(10 ** 400)
    with pytest.raises(OverflowError, match="does not fit dtype float32"):
        mg.zeros(2, dtype=np.float32).fill_(10 ** 400)
    y = mg.zeros(2, dtype=np.float64).fill_(2 ** 70)                          # fits a float64: taken
    assert y.numpy()[0] == 2.0 ** 70


def test_trace_reads_a_module_buffer_as_an_input():
    """A buffer (register_buffer) of a Module passed to a traced function is an input of the
    program: it was refused as "a tensor that did not come in through the arguments" although
    its Module did; a replaced, filled or loaded buffer gives its new value on every replay."""
    class M(mg.nn.Module):
        def __init__(self):
            self.W = mg.nn.Parameter(np.ones((2, 2)))
            self.register_buffer("scale", mg.tensor(np.array(2.0)))

        def forward(self, x):
            return (x @ self.W) * self.scale

    m, x = M(), mg.tensor(np.ones((1, 2)))
    f = mg.trace(lambda m, x: m(x))
    np.testing.assert_array_equal(f(m, x).numpy(), [[4.0, 4.0]])
    m.scale = mg.tensor(np.array(3.0))
    np.testing.assert_array_equal(f(m, x).numpy(), [[6.0, 6.0]])
    with mg.no_grad():
        m.scale.fill_(5.0)
    np.testing.assert_array_equal(f(m, x).numpy(), [[10.0, 10.0]])
    m.load_state_dict({"W": np.ones((2, 2)), "scale": np.array(0.5)})
    np.testing.assert_array_equal(f(m, x).numpy(), [[1.0, 1.0]])


def test_parameters_take_next_and_go_through_a_trace():
    """``next(model.parameters())`` (a PyTorch habit) gives the first parameter, and the same
    list is an argument ``mg.trace`` takes (it was one or the other)."""
    layer = mg.nn.Linear(2, 3)
    assert next(layer.parameters()) is layer.weight
    params = layer.parameters()
    assert [p.shape for p in params] == [(3, 2), (3,)] and params[1] is layer.bias
    f = mg.trace(lambda ps, x: (x @ ps[0].T + ps[1]).sum())
    x = mg.tensor(np.array([[1.0, -2.0]]))
    want = float((x.numpy() @ layer.weight.numpy().T + layer.bias.numpy()).sum())
    assert f(layer.parameters(), x).item() == pytest.approx(want, rel=1e-15)
    assert f(layer.parameters(), x).item() == pytest.approx(want, rel=1e-15)   # replayed
