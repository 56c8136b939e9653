"""Review of convolution, pooling and the nn modules against what PyTorch 2.13 does.

Each test pins a difference that the review found (it failed before the fix): the expected
values are written out by hand from PyTorch's rules (its CPU max-pool loop, its container
methods), and torch 2.13 printed exactly these for the same calls in the reviewer's harness.
"""
import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from conftest import T
from test_conv import naive_max_pool2d

NINF = -np.inf


# ----------------------------------------------------------------------------- max pool: -inf ties
def test_max_pool1d_window_of_minus_inf_picks_its_first_input_element_not_the_padding(device):
    """PyTorch's loop starts each window at its first real element with the value -inf, so a
    window of padding and -inf values picks that element (index 0 here), never the padding:
    windows (pad, x0), (x1, x2), (x3, x4) of [-inf, -inf, -inf, 1, -inf]."""
    x = T([[[NINF, NINF, NINF, 1.0, NINF]]], device, requires_grad=True)
    values, indices = mg.max_pool1d(x, 2, 2, 1, return_indices=True)
    np.testing.assert_array_equal(values.numpy(), [[[NINF, NINF, 1.0]]])
    np.testing.assert_array_equal(indices.numpy(), [[[0, 1, 3]]])
    (values * T([[[2.0, 3.0, 5.0]]], device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[2.0, 3.0, 0.0, 5.0, 0.0]]])


def test_max_pool2d_all_minus_inf_with_padding(device):
    """4x4 of -inf, kernel 3, stride 2, padding 1: windows start at rows/cols -1 and 1; the
    first real element of each is (0, 0), (0, 1), (1, 0), (1, 1): flat indices 0, 1, 4, 5."""
    x = T(np.full((1, 1, 4, 4), NINF), device, requires_grad=True)
    values, indices = mg.max_pool2d(x, 3, 2, 1, return_indices=True)
    np.testing.assert_array_equal(indices.numpy(), [[[[0, 1], [4, 5]]]])
    values.sum().backward()
    expected = np.zeros((4, 4))
    expected[0, 0] = expected[0, 1] = expected[1, 0] = expected[1, 1] = 1.0
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], expected)


def test_max_pool_integer_minimum_ties_with_the_padding(device):
    low = np.iinfo(np.int64).min
    x = mg.tensor(np.array([[[low, low, low, 5, low]]]), device=device)
    values, indices = mg.max_pool1d(x, 2, 2, 1, return_indices=True)
    np.testing.assert_array_equal(values.numpy(), [[[low, low, 5]]])
    np.testing.assert_array_equal(indices.numpy(), [[[0, 1, 3]]])


@pytest.mark.parametrize("k, s, p, d, ceil", [(3, 2, 1, 1, True), (2, 2, 1, 1, False), (2, 1, 1, 2, True)])
def test_max_pool2d_mostly_minus_inf_against_the_loop(k, s, p, d, ceil):
    x = np.random.default_rng(3).standard_normal((2, 2, 6, 7))
    x[x < 0.8] = NINF                                   # most windows hold only -inf
    values, indices = mg.max_pool2d(mg.tensor(x), k, s, p, d, ceil, return_indices=True)
    want_values, want_indices = naive_max_pool2d(x, k, s, p, d, ceil)
    np.testing.assert_array_equal(values.numpy(), want_values)
    np.testing.assert_array_equal(indices.numpy(), want_indices)


def test_max_pool_window_without_any_input_element():
    """Length 2, kernel 2, dilation 3, padding 1: the one window's taps are at -1 and 2, both
    padding: -inf (as PyTorch), index -1 and no gradient (PyTorch: index 2, outside the window,
    where its gradient would go too; a 2-D plane can hold that index: a wrong element)."""
    x = mg.tensor(np.array([[[1.0, 2.0]]]), requires_grad=True)
    values, indices = mg.max_pool1d(x, 2, 3, 1, 3, return_indices=True)
    np.testing.assert_array_equal(values.numpy(), [[[NINF]]])
    np.testing.assert_array_equal(indices.numpy(), [[[-1]]])
    values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[0.0, 0.0]]])


# ----------------------------------------------------------------------------- walking the tree
def _model():
    return nn.Sequential(nn.Linear(2, 2), nn.ReLU(),
                         nn.Sequential(nn.Linear(2, 2), nn.ModuleDict({"a": nn.Linear(2, 1)})),
                         nn.ModuleList([nn.Tanh()]))


def test_named_modules_children_and_named_children_are_pytorchs():
    m = _model()
    assert [n for n, _ in m.named_modules()] == ["", "0", "1", "2", "2.0", "2.1", "2.1.a", "3", "3.0"]
    assert [n for n, _ in m.named_modules(prefix="net")][:3] == ["net", "net.0", "net.1"]
    assert [n for n, _ in m[0].named_children()] == []                 # a Linear's parameters are no children
    assert [type(c).__name__ for c in m.children()] == ["Linear", "ReLU", "Sequential", "ModuleList"]
    assert [type(c).__name__ for c in m.modules()] == ["Sequential", "Linear", "ReLU", "Sequential", "Linear",
                                                       "ModuleDict", "Linear", "ModuleList", "Tanh"]


# ----------------------------------------------------------------------------- editing containers
def _names(seq):
    return [(k, type(m).__name__) for k, m in seq._items()]


def test_sequential_insert_pop_del_setitem_extend_renumber_as_pytorch():
    s = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid())
    s.insert(1, nn.Identity())
    s.insert(-1, nn.GELU())                              # before the last, as list.insert
    assert _names(s) == [("0", "ReLU"), ("1", "Identity"), ("2", "Tanh"), ("3", "GELU"), ("4", "Sigmoid")]
    assert type(s.pop(0)).__name__ == "ReLU"
    del s[1:3]
    assert _names(s) == [("0", "Identity"), ("1", "Sigmoid")]
    s[-1] = nn.Tanh()
    s.extend([nn.ReLU()])
    s.insert(len(s), nn.Sigmoid())
    assert _names(s) == [("0", "Identity"), ("1", "Tanh"), ("2", "ReLU"), ("3", "Sigmoid")]
    x = T([-1.0, 2.0], "cpu")
    np.testing.assert_allclose(s(x).numpy(), 1 / (1 + np.exp(-np.maximum(np.tanh([-1.0, 2.0]), 0))))
    with pytest.raises(IndexError, match=r"insert: index 10 out of range for 4 modules"):
        s.insert(10, nn.ReLU())


def test_modulelist_slice_is_renumbered_and_del_renumbers():
    m = nn.ModuleList([nn.ReLU(), nn.Linear(1, 1), nn.Linear(1, 2)])
    assert list(m[1:].state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    del m[0]
    assert list(m.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_moduledict_pop_update_del():
    d = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    d.update({"c": nn.Linear(1, 2), "a": nn.Tanh()})
    assert d.keys() == ["a", "b", "c"] and type(d["a"]).__name__ == "Tanh"
    assert type(d.pop("b")).__name__ == "ReLU"
    del d["a"]
    assert list(d.state_dict()) == ["c.weight", "c.bias"]
    with pytest.raises(KeyError, match="no module 'a'"):
        del d["a"]


# ----------------------------------------------------------------------------- to() and loss weights
def test_to_converts_a_loss_modules_class_weight():
    """-Σᵢ w_tᵢ log softmax(zᵢ)_tᵢ / Σᵢ w_tᵢ in float32, after the model went to float32."""
    w = np.array([1.0, 2.0, 0.5])
    loss = nn.CrossEntropyLoss(weight=mg.tensor(w))
    bce = nn.BCEWithLogitsLoss(pos_weight=mg.tensor(np.array([3.0])))
    nn.Sequential(nn.Linear(3, 3), nn.ModuleDict({"ce": loss, "bce": bce})).to(np.float32)
    assert loss.weight.dtype == np.float32 and bce.pos_weight.dtype == np.float32
    z, t = np.array([[0.5, -1.0, 2.0], [1.0, 0.0, -0.5]], np.float32), np.array([2, 1])
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    want = -(w[t] * logp[[0, 1], t]).sum() / w[t].sum()
    got = loss(mg.tensor(z), mg.tensor(t))
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


# ----------------------------------------------------------------------------- one-line refusals
@pytest.mark.parametrize("make, error, message", [
    (lambda: nn.Embedding(5, 3, max_norm=1.0), ValueError, r"max_norm=1.0 is not supported"),
    (lambda: nn.Embedding(5, 3, scale_grad_by_freq=True), ValueError, r"scale_grad_by_freq=True is not supp"),
    (lambda: nn.Embedding(5, 3, padding_idx=1.5), TypeError, r"padding_idx must be an int or None, got 1.5"),
    (lambda: nn.Embedding(5, 3, padding_idx=True), TypeError, r"padding_idx must be an int or None, got True"),
    (lambda: nn.Linear(3, 2)(mg.tensor(np.zeros((4, 5)))), ValueError,
     r"Linear\(3, 2\): the input's last axis must have 3 features, got shape \(4, 5\)"),
])
def test_module_refusals_are_one_line(make, error, message):
    with pytest.raises(error, match=message) as info:
        make()
    assert "\n" not in str(info.value)


# ----------------------------------------------------------------------------- found by mutants
def test_embedding_negative_padding_idx_is_the_last_row_and_gets_no_gradient(device):
    """PyTorch stores padding_idx=-1 as num_embeddings - 1 = 4: that row is zero and frozen."""
    emb = nn.Embedding(5, 2, padding_idx=-1, device=device)
    assert emb.padding_idx == 4 and repr(emb) == "Embedding(5, 2, padding_idx=4)"
    np.testing.assert_array_equal(emb.weight.numpy()[4], [0.0, 0.0])
    out = emb(mg.tensor(np.array([4, 0, 4]), device=device))
    (out * T([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device)).sum().backward()
    want = np.zeros((5, 2))
    want[0] = [3.0, 4.0]
    np.testing.assert_array_equal(emb.weight.grad.numpy(), want)


def test_layernorm_parameters_follow_elementwise_affine_and_bias():
    """PyTorch's state-dict keys: ['weight', 'bias'], ['weight'] with bias=False, [] without affine."""
    assert list(nn.LayerNorm(4).state_dict()) == ["weight", "bias"]
    no_bias = nn.LayerNorm((2, 3), bias=False)
    assert list(no_bias.state_dict()) == ["weight"] and no_bias.bias is None
    assert list(nn.LayerNorm(4, elementwise_affine=False).state_dict()) == []
