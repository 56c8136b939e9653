"""The nn modules a PyTorch user reaches for: containers (keys as PyTorch's), activations,
convolution / pooling layers, Embedding, LayerNorm and the loss modules.

Expected values are closed forms computed here with NumPy; key lists are PyTorch's, written
out (torch 2.13 gave exactly these for the same models in the helper's harness)."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from conftest import T


def small_model(device="cpu"):
    return nn.Sequential(nn.Conv2d(1, 2, 3, device=device), nn.ReLU(),
                         nn.Sequential(nn.Conv1d(2, 2, 1, device=device), nn.Tanh(), nn.LayerNorm(2, device=device)),
                         nn.ModuleList([nn.Conv1d(2, 1, 2, device=device)]),
                         nn.ModuleDict({"a": nn.Embedding(3, 2, device=device)}), nn.MaxPool2d(2), nn.Flatten())


TORCH_KEYS = ["0.weight", "0.bias", "2.0.weight", "2.0.bias", "2.2.weight", "2.2.bias", "3.0.weight", "3.0.bias",
              "4.a.weight"]


# ----------------------------------------------------------------------------- containers
def test_nested_containers_have_pytorchs_keys_and_order():
    m = small_model()
    assert list(m.state_dict()) == TORCH_KEYS
    assert [k for k, _ in m.named_parameters()] == TORCH_KEYS
    assert [p.shape for p in m.parameters()] == [(2, 1, 3, 3), (2,), (2, 2, 1), (2,), (2,), (2,), (1, 2, 2), (1,), (3, 2)]


def test_sequential_indexing_len_iteration_slices_append():
    a, b, c = nn.Tanh(), nn.ReLU(), nn.Sigmoid()
    s = nn.Sequential(a, b, c)
    assert len(s) == 3 and s[0] is a and s[-1] is c and list(s) == [a, b, c]
    tail = s[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [b, c]
    s.append(nn.Identity())
    assert len(s) == 4
    with pytest.raises(IndexError, match="out of range for 4 modules"):
        s[4]
    x = np.array([[-1.0, 0.5]])
    np.testing.assert_allclose(s(mg.tensor(x)).numpy(), 1 / (1 + np.exp(-np.maximum(np.tanh(x), 0))))


def test_sequential_of_a_dict_keeps_its_names_and_slices_keep_keys():
    s = nn.Sequential({"conv": nn.Conv1d(1, 1, 1), "act": nn.Tanh(), "out": nn.Conv1d(1, 1, 1)})
    assert list(s.state_dict()) == ["conv.weight", "conv.bias", "out.weight", "out.bias"]
    assert list(s[1:].state_dict()) == ["out.weight", "out.bias"]


def test_modulelist_and_moduledict():
    layers = nn.ModuleList([nn.Conv1d(1, 1, 1) for _ in range(2)]).append(nn.Conv1d(1, 2, 1))
    assert len(layers) == 3 and layers[-1].out_channels == 2
    assert list(layers.state_dict()) == [f"{i}.{n}" for i in range(3) for n in ("weight", "bias")]
    d = nn.ModuleDict({"enc": nn.Conv1d(1, 1, 1)})
    d["dec"] = nn.Conv1d(1, 1, 1)
    assert "dec" in d and d.keys() == ["enc", "dec"] and list(d) == ["enc", "dec"] and len(d) == 2
    assert list(d.state_dict()) == ["enc.weight", "enc.bias", "dec.weight", "dec.bias"]
    for bad in ("forward", "a.b", "training", ""):
        with pytest.raises(KeyError, match="cannot name a module"):
            d[bad] = nn.Tanh()
    with pytest.raises(KeyError, match="no module 'x'"):
        d["x"]


def test_state_dict_round_trip_to_train_eval_recurse(tmp_path):
    m, other = small_model(), small_model()
    for p in other.parameters():
        p.data = p.data + 1.0
    m.load_state_dict(other.state_dict())
    for (k, a), (_, b) in zip(m.named_parameters(), other.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    m.save(tmp_path / "m.npz")
    assert list(mg.load(tmp_path / "m.npz")) == TORCH_KEYS
    m.to(np.float32)
    assert {p.dtype for p in m.parameters()} == {np.dtype(np.float32)}
    deep = nn.Sequential(nn.Sequential(nn.Dropout(0.5)), nn.ModuleList([nn.Dropout(0.5)]))
    deep.eval()
    assert [mod.training for mod in deep.modules()] == [False] * 5
    x = mg.ones(4, 4)
    assert deep[0](x) is x
    deep.train()
    assert all(mod.training for mod in deep.modules())


# ----------------------------------------------------------------------------- layers
def test_conv_init_is_pytorchs_uniform_bound():
    """kaiming_uniform(a=√5) on the weight and U(±1/√fan_in) on the bias: both bounded by
    1/√fan_in, fan_in = in/groups · kH · kW, and spread over the whole interval."""
    mg.manual_seed(0)
    conv = nn.Conv2d(16, 32, (3, 2), groups=2)
    bound = 1 / math.sqrt(16 // 2 * 3 * 2)
    w, b = conv.weight.numpy(), conv.bias.numpy()
    assert w.shape == (32, 8, 3, 2) and b.shape == (32,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.98 * bound and abs(w.mean()) < 0.05 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound           # the std of U(-a, a) is a/√3
    mg.manual_seed(0)
    np.testing.assert_array_equal(nn.Conv2d(16, 32, (3, 2), groups=2).weight.numpy(), w)   # the seed repeats it
    g = mg.Generator(5)
    assert not np.array_equal(nn.Conv2d(16, 32, (3, 2), groups=2, generator=g).weight.numpy(), w)


def _naive_conv1d(x, w, b, pad_mode, p):
    xp = np.pad(x, ((0, 0), (0, 0), (p, p)), mode={"zeros": "constant", "reflect": "reflect",
                                                    "replicate": "edge", "circular": "wrap"}[pad_mode])
    k = w.shape[2]
    out = np.zeros((x.shape[0], w.shape[0], xp.shape[2] - k + 1))
    for i in range(out.shape[2]):
        out[:, :, i] = np.einsum("nck,ock->no", xp[:, :, i:i + k], w) + b
    return out


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_conv1d_layer_padding_modes(device, mode):
    layer = nn.Conv1d(2, 3, 3, padding=2, padding_mode=mode, device=device)
    x = np.random.default_rng(0).standard_normal((2, 2, 6))
    expected = _naive_conv1d(x, layer.weight.numpy(), layer.bias.numpy(), mode, 2)
    np.testing.assert_allclose(layer(T(x, device)).numpy(), expected, atol=1e-12)


def test_conv2d_layer_same_padding_and_gradients(device):
    layer = nn.Conv2d(2, 2, (3, 2), padding="same", bias=False, device=device)
    x = T(np.random.default_rng(1).standard_normal((1, 2, 4, 5)), device, requires_grad=True)
    y = layer(x)
    assert y.shape == (1, 2, 4, 5) and layer.bias is None
    y.sum().backward()
    assert layer.weight.grad.shape == (2, 2, 3, 2) and x.grad.shape == x.shape
    # d(Σ y)/d w[o, c, a, b] = Σ over output positions of the input under tap (a, b): here all of
    # x[c] except the rows/columns the tap never reaches ('same': 1 row above, 1 below, 1 column right)
    xs = x.numpy()[0]
    tap_00 = xs[:, :3, :].sum(axis=(1, 2))            # tap (0, 0) sees rows 0..2 (row offset -1), all columns
    np.testing.assert_allclose(layer.weight.grad.numpy()[0, :, 0, 0], tap_00, atol=1e-12)


def test_pool_layers_call_the_functions_with_pytorchs_argument_order():
    x = mg.tensor(np.arange(16.0).reshape(1, 1, 4, 4))
    v, i = nn.MaxPool2d(2, 2, 0, 1, True, False)(x)                  # return_indices before ceil_mode
    assert v.numpy().ravel().tolist() == [5, 7, 13, 15] and i.numpy().ravel().tolist() == [5, 7, 13, 15]
    assert nn.AvgPool2d(2)(x).numpy().ravel().tolist() == [2.5, 4.5, 10.5, 12.5]
    assert nn.AvgPool2d(3, 1, 1, False, False)(x).numpy()[0, 0, 0, 0] == (0 + 1 + 4 + 5) / 4
    assert nn.MaxPool1d(3, 1)(mg.tensor([[[1.0, 3, 2, 0]]])).numpy().ravel().tolist() == [3, 3]
    assert nn.AvgPool1d(2, ceil_mode=True)(mg.tensor([[[1.0, 3, 2]]])).numpy().ravel().tolist() == [2, 2]


def test_activation_modules_closed_forms(device):
    x = np.linspace(-3, 3, 13).reshape(1, 13)
    t = T(x, device)
    cases = {nn.Tanh(): np.tanh(x), nn.Sigmoid(): 1 / (1 + np.exp(-x)), nn.ReLU(): np.maximum(x, 0),
             nn.LeakyReLU(0.2): np.where(x > 0, x, 0.2 * x), nn.Identity(7): x,
             nn.GELU(): x * 0.5 * (1 + np.vectorize(math.erf)(x / math.sqrt(2))),
             nn.GELU("tanh"): 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3))),
             nn.Softmax(1): np.exp(x) / np.exp(x).sum(1, keepdims=True),
             nn.LogSoftmax(-1): x - np.log(np.exp(x).sum(1, keepdims=True))}
    for module, expected in cases.items():
        np.testing.assert_allclose(module(t).numpy(), expected, atol=1e-12, err_msg=repr(module))
    assert nn.Flatten()(T(np.zeros((2, 3, 4)), device)).shape == (2, 12)
    assert nn.Flatten(0, 1)(T(np.zeros((2, 3, 4)), device)).shape == (6, 4)
    assert repr(nn.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)" and repr(nn.Softmax(dim=0)) == "Softmax(dim=0)"


def test_embedding_rows_gradient_and_padding_idx(device):
    mg.manual_seed(0)
    emb = nn.Embedding(5, 3, padding_idx=1, device=device)
    w = emb.weight.numpy()
    assert (w[1] == 0).all() and w.shape == (5, 3)
    idx = mg.tensor([[0, 1, 4], [4, 4, 1]], device=device)
    out = emb(idx)
    np.testing.assert_array_equal(out.numpy(), w[[[0, 1, 4], [4, 4, 1]]])
    out.sum().backward()
    # each row's gradient: the number of times it was looked up (ones for ḡ); none for padding_idx
    np.testing.assert_array_equal(emb.weight.grad.numpy()[:, 0], [1, 0, 0, 0, 3])
    with pytest.raises((ValueError, IndexError), match="index"):
        emb(mg.tensor([5], device=device))
    with pytest.raises(TypeError, match="indices must be an integer tensor"):
        emb(mg.tensor([0.0], device=device))


def test_embedding_draws_standard_normal():
    mg.manual_seed(0)
    w = nn.Embedding(2000, 10).weight.numpy()
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02


def test_layernorm_closed_form_and_gradcheck(device):
    ln = nn.LayerNorm((2, 3), device=device)
    assert [k for k, _ in ln.named_parameters()] == ["weight", "bias"]
    x = np.random.default_rng(2).standard_normal((4, 2, 3))
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(ln(T(x, device)).numpy(), (x - mean) / np.sqrt(var + 1e-5), atol=1e-12)
    ln.weight.data = ln.weight.data * 2
    assert mg.gradcheck(lambda t, w, b: mg.layer_norm(t, (2, 3), w, b), [T(x, "cpu", True), T(np.full((2, 3), 2.0), "cpu", True),
                                                                         T(np.zeros((2, 3)), "cpu", True)])
    assert nn.LayerNorm(3, elementwise_affine=False).parameters() == []


def test_loss_modules_closed_forms(device):
    rng = np.random.default_rng(3)
    a, y = rng.standard_normal((4, 3)), rng.uniform(size=(4, 3))
    t = np.array([0, 2, 1, 1])
    A, Y, Tt = T(a, device), T(y, device), mg.tensor(t, device=device)
    logp = a - np.log(np.exp(a).sum(1, keepdims=True))
    bce = -(y * np.log(1 / (1 + np.exp(-a))) + (1 - y) * np.log(1 - 1 / (1 + np.exp(-a))))
    for red, f in (("mean", np.mean), ("sum", np.sum), ("none", lambda v: v)):
        np.testing.assert_allclose(nn.MSELoss(reduction=red)(A, Y).numpy(), f((a - y) ** 2), atol=1e-12)
        np.testing.assert_allclose(nn.L1Loss(reduction=red)(A, Y).numpy(), f(np.abs(a - y)), atol=1e-12)
        np.testing.assert_allclose(nn.BCEWithLogitsLoss(reduction=red)(A, Y).numpy(), f(bce), atol=1e-12)
        picked = -logp[np.arange(4), t]
        np.testing.assert_allclose(nn.CrossEntropyLoss(reduction=red)(A, Tt).numpy(), f(picked), atol=1e-12)
        np.testing.assert_allclose(nn.NLLLoss(reduction=red)(T(logp, device), Tt).numpy(), f(picked), atol=1e-12)
    weight = T([1.0, 2.0, 3.0], device)
    w_t = np.array([1.0, 3.0, 2.0, 2.0])
    np.testing.assert_allclose(nn.CrossEntropyLoss(weight=weight)(A, Tt).numpy(),
                               (w_t * -logp[np.arange(4), t]).sum() / w_t.sum(), atol=1e-12)
    np.testing.assert_allclose(nn.CrossEntropyLoss(ignore_index=1)(A, Tt).numpy(), -logp[[0, 1], [0, 2]].mean(), atol=1e-12)
    with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none'"):
        nn.MSELoss(reduction="avg")


def test_a_pytorch_users_first_cnn_trains():
    """Sequential(Conv2d, ReLU, MaxPool2d, Flatten, Conv-as-linear ...) with SGD: the loss of a
    fixed batch goes down."""
    mg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Sequential(nn.Dropout(0.0)))
    head = nn.Conv1d(64, 2, 1)
    rng = np.random.default_rng(4)
    x, t = mg.tensor(rng.standard_normal((8, 1, 8, 8))), mg.tensor(rng.integers(0, 2, 8))
    params = model.parameters() + head.parameters()
    opt = mg.SGD(params, lr=0.1)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for _ in range(10):
        logits = head(model(x).reshape(8, 64, 1)).reshape(8, 2)
        loss = loss_fn(logits, t)
        for p in params:
            p.grad = None
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("make, message", [
    (lambda: nn.Conv2d(3, 4, 3, groups=2), "divisible by groups=2"),
    (lambda: nn.Conv2d(2, 4, 3, padding="full"), "padding must be an int, 2 ints, 'valid' or 'same'"),
    (lambda: nn.Conv2d(2, 4, 3, stride=2, padding="same"), "'same' needs stride 1"),
    (lambda: nn.Conv1d(2, 4, 3, padding_mode="mirror"), "padding_mode must be"),
    (lambda: nn.Conv1d(0, 4, 3), "in_channels must be a positive int"),
    (lambda: nn.Embedding(4, 2, padding_idx=4), r"padding_idx must be within \[-4, 4\)"),
    (lambda: nn.GELU("fast"), "approximate must be 'none' or 'tanh'"),
    (lambda: nn.ReLU(inplace=True), "inplace=True is not supported"),
    (lambda: nn.Sequential(nn.Tanh(), 3), "'1' must be a Module, got int"),
    (lambda: nn.LayerNorm(0), "normalized_shape must be a positive int"),
])
def test_bad_module_arguments_are_one_line_errors(make, message):
    with pytest.raises((ValueError, TypeError, KeyError), match=message) as err:
        make()
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------- Linear, as PyTorch's
def test_linear_has_pytorchs_names_layout_and_keys(device):
    """nn.Linear(in, out): ``weight`` (out, in), ``bias`` (out,), y = x Wᵀ + b; a Sequential of
    Linear layers has PyTorch's state-dict keys (written out here as torch 2.13 prints them)."""
    model = nn.Sequential(nn.Linear(3, 4, device=device), nn.Tanh(), nn.Linear(4, 2, bias=False, device=device))
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight"]
    assert model[0].weight.shape == (4, 3) and model[0].bias.shape == (4,) and model[2].bias is None
    x = np.arange(6.0).reshape(2, 3) / 7
    W, b, V = (p.numpy() for p in model.parameters())
    expected = np.tanh(x @ W.T + b) @ V.T                         # written from the definition
    np.testing.assert_allclose(model(T(x, device)).numpy(), expected, rtol=1e-13)
    layer = nn.Linear(3, 4, device=device)
    assert mg.gradcheck(lambda x, w, b: x @ w.T + b, [T(x, device), layer.weight, layer.bias])


def test_linear_draws_from_the_seeded_default_generator():
    """Two layers differ (each draw moves the generator on), and mg.manual_seed repeats them:
    the old Linear drew every layer from Generator(0), so all layers of a shape were equal."""
    mg.manual_seed(5)
    a, b = nn.Linear(4, 4), nn.Linear(4, 4)
    mg.manual_seed(5)
    c = nn.Linear(4, 4)
    assert not np.array_equal(a.weight.numpy(), b.weight.numpy())
    assert np.array_equal(a.weight.numpy(), c.weight.numpy()) and np.array_equal(a.bias.numpy(), c.bias.numpy())
    g1, g2 = mg.Generator(9), mg.Generator(9)
    assert np.array_equal(nn.Linear(4, 4, generator=g1).weight.numpy(), nn.Linear(4, 4, generator=g2).weight.numpy())
    with pytest.raises(ValueError, match=r"^Linear: in_features must be a non-negative int, got -1$"):
        nn.Linear(-1, 2)
