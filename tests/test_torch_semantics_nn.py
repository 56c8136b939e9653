"""minigrad.nn and minigrad.optim behave as PyTorch's where a user relies on it: names, keys,
return values, identities and options.  Expectations are written by hand from PyTorch 2.13's
documented behaviour (checked side by side in a script outside the suite); no torch here."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import CheckpointError, IncompatibleKeys, Linear, Module, Parameter, Sequential, Tanh
from conftest import T


class Mixed(Module):
    def __init__(self, device="cpu"):
        self.lin = Linear(2, 3, device=device, dtype=np.float64)
        self.w = Parameter(np.arange(4.0), device=device)


def tied(device="cpu"):
    enc, dec = Linear(3, 3, device=device, dtype=np.float64), Linear(3, 3, device=device, dtype=np.float64)
    dec.weight = enc.weight
    return Sequential(enc, dec)


# ----------------------------------------------------------------- names and keys
def test_named_parameters_prefix_gets_a_dot_and_recurse_false_gives_own_parameters():
    m = Mixed()
    assert [n for n, _ in m.named_parameters(prefix="model")] == ["model.lin.weight", "model.lin.bias", "model.w"]
    assert [n for n, _ in m.named_parameters()] == ["lin.weight", "lin.bias", "w"]
    assert [n for n, _ in m.named_parameters(recurse=False)] == ["w"]
    assert m.parameters(recurse=False) == [m.w]


def test_tied_weights_appear_under_each_name_in_the_state_dict_and_load_back():
    m = tied()
    assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias", "1.bias"]      # each parameter once
    assert [n for n, _ in m.named_parameters(remove_duplicate=False)] == ["0.weight", "0.bias", "1.weight", "1.bias"]
    state = m.state_dict()
    assert list(state) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    np.testing.assert_array_equal(state["1.weight"], state["0.weight"])
    fresh = tied()
    assert fresh.load_state_dict(state) == IncompatibleKeys([], [])
    np.testing.assert_array_equal(fresh[1].weight.numpy(), state["0.weight"])
    assert fresh[0].weight is fresh[1].weight                                           # still tied
    del state["1.weight"]
    with pytest.raises(CheckpointError, match=r"missing \['1.weight'\]"):
        fresh.load_state_dict(state)


def test_a_shared_module_is_one_child():
    lin = Linear(2, 2, dtype=np.float64)
    s = Sequential(lin, lin)
    assert len(s) == 2 and list(s.children()) == [lin] and [n for n, _ in s.named_children()] == ["0"]


def test_load_state_dict_returns_the_missing_and_unexpected_keys():
    m = Linear(2, 2, dtype=np.float64)
    result = m.load_state_dict({"weight": np.ones((2, 2)), "extra": np.zeros(1)}, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    missing, unexpected = result
    assert (missing, unexpected) == (["bias"], ["extra"])
    full = m.load_state_dict(m.state_dict())
    assert full == ([], []) and repr(full) == "<All keys matched successfully>"


def test_load_state_dict_copies_into_the_parameters_in_place(device):
    m = Linear(2, 2, device=device, dtype=np.float64)
    w, alias, version = m.weight, m.weight.detach(), m.weight.version
    new = np.array([[1.0, 2.0], [3.0, 4.0]])
    m.load_state_dict({"weight": mg.tensor(new, device=device), "bias": np.array([5.0, 6.0])})
    assert m.weight is w and m.weight.version == version + 1
    np.testing.assert_array_equal(alias.numpy(), new)                 # as PyTorch's copy_: aliases see it
    np.testing.assert_array_equal(m.bias.numpy(), [5.0, 6.0])


# ----------------------------------------------------------------- attributes
def test_a_parameter_attribute_takes_only_a_parameter_or_none():
    m = Linear(2, 2, dtype=np.float64)
    with pytest.raises(TypeError, match=r"Linear.weight is a Parameter: assign a Parameter or None, got Tensor"):
        m.weight = m.weight * 2
    with pytest.raises(TypeError, match="got ndarray"):
        m.weight = np.zeros((2, 2))
    with pytest.raises(TypeError, match="got Tanh"):
        m.weight = Tanh()
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]     # nothing was dropped
    m.weight = Parameter(np.zeros((2, 2)))
    m.bias = None
    assert [n for n, _ in m.named_parameters()] == ["weight"]


def test_a_module_attribute_takes_a_module_a_parameter_or_none():
    m = Mixed()
    with pytest.raises(TypeError, match=r"Mixed.lin is a Module: assign a Parameter or Module or None, got int"):
        m.lin = 3
    m.lin = Parameter(np.ones(1))
    assert [n for n, _ in m.named_parameters()] == ["lin", "w"]
    m.lin = None
    m.other = 3                                                # a new plain attribute is no concern
    assert [n for n, _ in m.named_parameters()] == ["w"]


def test_apply_visits_children_before_their_parent_and_returns_the_module():
    seen = []
    s = Sequential(Linear(2, 2), Sequential(Tanh()))
    assert s.apply(lambda m: seen.append(type(m).__name__)) is s
    assert seen == ["Linear", "Tanh", "Sequential", "Sequential"]


def test_module_requires_grad_freezes_every_parameter():
    m = Mixed()
    assert m.requires_grad_(False) is m
    assert [p.requires_grad for p in m.parameters()] == [False, False, False]
    assert all(p.requires_grad for p in m.requires_grad_().parameters())


def test_cpu_and_half_convert_in_place():
    m = Mixed()
    w = m.w
    assert m.cpu() is m and m.half() is m and m.w is w and m.w.dtype == np.float16


# ----------------------------------------------------------------- zero_grad
def test_zero_grad_set_to_none_false_writes_zeros_into_the_same_gradient(device):
    m = Mixed(device)
    m.w.grad = T([1.0, 2.0, 3.0, 4.0], device)
    g = m.w.grad
    m.zero_grad(set_to_none=False)
    assert m.w.grad is g and g.numpy().tolist() == [0.0, 0.0, 0.0, 0.0]
    assert m.lin.weight.grad is None                                 # no gradient: stays None
    opt = mg.optim.SGD(m.parameters(), lr=0.1)
    g.data = g.data + 1
    opt.zero_grad(set_to_none=False)
    assert m.w.grad is g and g.numpy().tolist() == [0.0, 0.0, 0.0, 0.0]
    opt.zero_grad()
    assert m.w.grad is None


def test_zero_grad_set_to_none_false_detaches_a_gradient_with_a_graph():
    a = mg.tensor([2.0], requires_grad=True)
    (a ** 3).sum().backward(create_graph=True)           # a.grad = 3 a² = 12, part of a graph
    p = Parameter([1.0])
    p.grad = a.grad
    mg.optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad.is_leaf and not p.grad.requires_grad and p.grad.numpy().tolist() == [0.0]


# ----------------------------------------------------------------- optimizers
def test_step_with_a_closure_returns_its_loss_and_updates():
    adam = [1 - 0.1 * 2 / (2 + 1e-8), -2 + 0.1 * 4 / (4 + 1e-8)]      # first step: p - lr·g / (|g| + ε)
    for cls, expected in ((mg.optim.SGD, [0.8, -1.6]), (mg.optim.Adam, adam)):
        p = mg.tensor([1.0, -2.0], requires_grad=True)
        opt = cls([p], lr=0.1)

        def closure():
            opt.zero_grad()
            loss = (p * p).sum()                           # gradient 2p
            loss.backward()
            return loss

        with mg.no_grad():                                 # the closure runs with grad mode on
            loss = opt.step(closure)
        assert float(loss) == 5.0
        np.testing.assert_allclose(p.numpy(), expected, rtol=1e-12)   # SGD: p - 0.1·2p
    with pytest.raises(TypeError, match="closure must be a function"):
        mg.optim.SGD([p], lr=0.1).step(3)


def test_sgd_lr_defaults_to_pytorchs():
    p = mg.tensor([1.0], requires_grad=True)
    p.grad = mg.tensor([10.0])
    opt = mg.optim.SGD([p])
    opt.step()
    assert opt.lr == 1e-3 and p.numpy().tolist() == [1.0 - 1e-3 * 10.0]


def test_param_groups_is_one_group_whose_lr_can_be_set():
    p = mg.tensor([1.0], requires_grad=True)
    opt = mg.optim.Adam([p], lr=0.1, betas=(0.8, 0.9))
    (group,) = opt.param_groups
    assert group["lr"] == 0.1 and group["betas"] == (0.8, 0.9) and group["params"] == [p]
    group["lr"] = 0.5
    assert opt.lr == 0.5 and opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match="lr must be non-negative"):
        group["lr"] = -1.0
    with pytest.raises(TypeError, match=r"\['betas'\] can't be set here; only 'lr'"):
        group["betas"] = (0.5, 0.5)
    with pytest.raises(TypeError, match=r"parameter groups \(dicts\) are not supported"):
        mg.optim.SGD([{"params": [p], "lr": 1.0}], lr=0.1)
    with pytest.raises(TypeError, match="parameter groups are not supported"):
        opt.add_param_group({"params": [p]})


def test_optimizers_take_named_parameters_and_foreach():
    m = Mixed()
    for cls in (mg.optim.SGD, mg.optim.Adam, mg.optim.AdamW, mg.optim.RMSprop, mg.optim.Adagrad):
        opt = cls(m.named_parameters(), lr=0.1, foreach=False)
        assert opt.params == [m.lin.weight, m.lin.bias, m.w]
    m.w.grad = T([3.0, 4.0, 0.0, 0.0], "cpu")
    assert float(mg.optim.clip_grad_norm_([m.w], 1.0, foreach=None)) == 5.0
    mg.optim.clip_grad_value_([m.w], 0.5, foreach=None)
    np.testing.assert_allclose(m.w.grad.numpy(), [0.5, 0.5, 0.0, 0.0])


def test_state_is_indexed_by_the_parameter_too():
    a, b = mg.tensor([1.0, 2.0], requires_grad=True), mg.tensor([3.0], requires_grad=True)
    opt = mg.optim.Adam([a, b], lr=0.1)
    a.grad = mg.tensor([2.0, -4.0])
    opt.step()
    s = opt.state[a]
    assert s is opt.state[0] and s["step"] == 1
    np.testing.assert_allclose(s["exp_avg"], [0.2, -0.4])            # (1 - β₁) g
    np.testing.assert_allclose(s["exp_avg_sq"], [0.004, 0.016])      # (1 - β₂) g²
    assert opt.state[1] is None                                      # no update yet
    assert opt.state[b] == {} and opt.state[1] == {}                 # a look keeps {} (torch's defaultdict)
    with pytest.raises(KeyError, match="not one of the optimizer's parameters"):
        opt.state[mg.tensor([1.0])]
    sgd = mg.optim.SGD([a, b], lr=0.1, momentum=0.9)
    sgd.step()
    sgd.step()
    np.testing.assert_allclose(sgd.state[a]["momentum_buffer"], [2.0 * 1.9, -4.0 * 1.9])   # g, then 0.9 g + g
    assert sgd.state[a]["momentum_buffer"] is sgd.velocity[0] and sgd.state[b] == {}
    resumed = mg.optim.SGD([a, b], lr=0.1, momentum=0.9)
    resumed.load_state_dict(sgd.state_dict())
    np.testing.assert_allclose(resumed.state[a]["momentum_buffer"], [3.8, -7.6])


# ----------------------------------------------------------------- buffers
def test_register_buffer_is_moved_saved_and_loaded_but_not_trained(device):
    m = Linear(2, 2, device=device, dtype=np.float64)
    m.register_buffer("running", T([0.0, 1.0], device))
    m.register_buffer("mask", T([1.0, 1.0], device), persistent=False)
    m.register_buffer("unset", None)
    assert [n for n, _ in m.named_buffers()] == ["running", "mask"] and len(m.parameters()) == 2
    assert list(m.state_dict()) == ["weight", "bias", "running"]            # persistent ones only
    m.float()
    assert m.running.dtype == np.float32 and m.mask.dtype == np.float32 and m.running.device == device
    state = m.state_dict()
    state["running"] = np.array([7.0, 8.0])
    running = m.running
    assert m.load_state_dict(state) == ([], [])
    assert m.running is running and m.running.numpy().tolist() == [7.0, 8.0]
    del state["running"]
    assert m.load_state_dict(state, strict=False).missing_keys == ["running"]
    outer = Sequential(m)
    assert [n for n, _ in outer.named_buffers()] == ["0.running", "0.mask"] and "0.running" in outer.state_dict()


def test_register_buffer_refuses_what_pytorch_refuses():
    m = Linear(2, 2, dtype=np.float64)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.register_buffer("weight", mg.ones(1))
    with pytest.raises(TypeError, match="must be a Tensor \\(not a Parameter\\) or None, got Parameter"):
        m.register_buffer("p", Parameter([1.0]))
    m.register_buffer("running", mg.ones(2))
    with pytest.raises(TypeError, match="Linear.running is a buffer: assign a Tensor or None, got int"):
        m.running = 3
    m.running = mg.zeros(2)
    assert m.state_dict()["running"].tolist() == [0.0, 0.0]
    m.running = Parameter([1.0, 2.0])                          # a Parameter takes the name over
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias", "running"] and m.buffers() == []


# ----------------------------------------------------------------- one-line refusals
def test_a_state_that_is_not_a_dict_is_refused_in_one_line():
    m = Linear(2, 2, dtype=np.float64)
    opt, sgd = mg.optim.Adam(m.parameters()), mg.optim.SGD(m.parameters())
    sched = mg.optim.lr_scheduler.StepLR(opt, 2)
    with pytest.raises(TypeError, match="Linear.load_state_dict: state must be a dict .* got str; to read a file"):
        m.load_state_dict("checkpoint.npz")            # was: "unexpected ['c', 'h', 'e', ...]"
    for what, call in (("Adam", opt.load_state_dict), ("SGD", sgd.load_state_dict), ("StepLR", sched.load_state_dict)):
        with pytest.raises(TypeError, match=f"{what}.load_state_dict: state must be a dict .* got NoneType"):
            call(None)
    with pytest.raises(TypeError, match="apply: fn must be a function of a module, got int"):
        m.apply(3)


def test_functional_call_runs_a_module_on_other_weights_and_restores_its_parameters(device):
    """A plain Tensor cannot be assigned to a Parameter's attribute (PyTorch's rule), so
    ``mg.nn.functional_call`` / ``reparametrized`` (torch.func.functional_call) is the way to run
    a module on other weights, e.g. for a gradient check: the gradient goes to the tensors given,
    y = x Wᵀ + b gives dΣy/dW = 1 xᵀ summed over the batch, and the Parameters come back after,
    also when the call raises."""
    layer = mg.nn.Linear(2, 3, device=device)
    weight, bias = layer.weight, layer.bias
    W = mg.tensor(np.arange(6.0).reshape(3, 2), device=device, requires_grad=True)
    x = mg.tensor(np.array([[1.0, 2.0], [3.0, -1.0]]), device=device)
    y = mg.nn.functional_call(layer, {"weight": W}, x)
    np.testing.assert_allclose(y.numpy(), x.numpy() @ W.numpy().T + bias.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(W.grad.numpy(), np.tile([4.0, 1.0], (3, 1)))
    assert layer.weight is weight and weight.grad is None
    with pytest.raises(ZeroDivisionError):
        with mg.nn.reparametrized(layer, {"weight": W, "bias": W[0, :0]}):
            assert layer.weight is W
            1 / 0
    assert layer.weight is weight and layer.bias is bias
    with pytest.raises(KeyError, match="Linear has no parameter 'weights'"):
        mg.nn.functional_call(layer, {"weights": W}, x)
    with pytest.raises(TypeError, match="Linear.weight is a Parameter: assign a Parameter or None"):
        layer.weight = W
