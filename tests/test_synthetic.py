"""Every encoding rule of PAPER.md's synthetic tasks, checked on generated data."""
import numpy as np
import pytest

import minigrad as mg
from tasks import Sampler, get_task


def gen(name, length, size=500, device="cpu", seed=0, **kw):
    b = Sampler(name, length, device=device, seed=seed, **kw).batch(size)
    return b.inputs.numpy(), b.targets.numpy(), b.length


def symbols_of(x):
    assert np.all(x.sum(-1) == 1), "one-hot: exactly one channel per step"
    return x.argmax(-1)                                     # (l, B)


@pytest.mark.parametrize("length", [20, 57, 200])
def test_temporal_order(length, device):
    x, y, l = gen("temporal_order", length, device=device)
    s = symbols_of(x)
    assert x.shape == (length, 500, 6) and y.shape == (500,)
    tenth = int(0.1 * length)
    for b in range(500):
        marks = np.flatnonzero(s[:, b] < 2)
        assert len(marks) == 2
        assert tenth <= marks[0] < 2 * tenth
        assert int(0.5 * length) <= marks[1] < int(0.5 * length) + tenth
        v0, v1 = s[marks, b]
        assert y[b] == v0 + 2 * v1
        assert set(np.delete(s[:, b], marks)) <= {2, 3, 4, 5}
    assert set(y) == {0, 1, 2, 3}


def test_temporal_order_3bit(device):
    x, y, l = gen("temporal_order_3bit", 100, device=device)
    s = symbols_of(x)
    for b in range(500):
        marks = np.flatnonzero(s[:, b] < 2)
        assert len(marks) == 3
        assert 10 <= marks[0] < 20 and 30 <= marks[1] < 40 and 60 <= marks[2] < 70
        v = s[marks, b]
        assert y[b] == v[0] + 2 * v[1] + 4 * v[2]
    assert set(y) == set(range(8))


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_arithmetic(name, device):
    sampler = Sampler(name, 50, device=device, seed=1)
    lengths = set()
    for _ in range(30):
        b = sampler.batch(200)
        x, y, l = b.inputs.numpy(), b.targets.numpy(), b.length
        lengths.add(l)
        assert 50 <= l < 55 and x.shape == (l, 200, 2) and y.shape == (200, 1)
        values, markers = x[..., 0], x[..., 1]
        assert np.all((values >= 0) & (values < 1))
        tenth = int(0.1 * l)
        for bi in range(200):
            p = np.flatnonzero(markers[:, bi])
            assert len(p) == 2 and 0 <= p[0] < tenth and tenth <= p[1] < tenth + int(0.4 * l)
            a, c = values[p, bi]
            expected = (a + c) / 2 if name == "addition" else a * c
            assert np.isclose(y[bi, 0], expected)
    assert len(lengths) > 1                       # the length jitters from minibatch to minibatch


def test_permutation(device):
    x, y, l = gen("permutation", 30, size=200, device=device)
    s = symbols_of(x)
    assert x.shape == (30, 200, 100)
    assert np.all(s[0] == y) and set(y) == {0, 1}
    assert s[1:].min() >= 2 and s[1:].max() <= 99


@pytest.mark.parametrize("name,K,P", [("memorization", 2, 5), ("memorization_extended", 5, 10)])
def test_memorization(name, K, P, device):
    T = 50
    x, y, l = gen(name, T, size=100, device=device)
    s = symbols_of(x)
    assert x.shape == (T + 2 * P, 100, K + 2) and y.shape == (T + 2 * P, 100)
    assert s[:P].max() < K                                  # the pattern
    assert np.all(s[P:T + P] == K) and np.all(s[T + P] == K + 1) and np.all(s[T + P + 1:] == K)
    assert np.all(y[:T + P] == K)                           # "nothing" until step T + P - 1
    np.testing.assert_array_equal(y[T + P:], s[:P])         # then the pattern, in order


def test_variable_length_per_minibatch(device):
    sampler = Sampler("temporal_order", 50, max_length=200, device=device, seed=3)
    lengths = [sampler.batch(4).length for _ in range(200)]
    assert min(lengths) >= 50 and max(lengths) < 200 and len(set(lengths)) > 50


def test_seeded_and_on_the_device(device):
    a = gen("temporal_order", 30, size=20, device=device, seed=5)
    b = gen("temporal_order", 30, size=20, device=device, seed=5)
    c = gen("temporal_order", 30, size=20, device=device, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    batch = Sampler("addition", 20, device=device).batch(3)
    assert batch.inputs.device == batch.targets.device == mg.tensor([0.0], device=device).device


def test_float32_inputs(device):
    b = Sampler("temporal_order", 20, device=device, dtype=np.float32).batch(3)
    assert b.inputs.dtype == np.float32 and b.targets.dtype == np.int64


def test_success_criteria(device):
    order = get_task("temporal_order")
    logits = mg.tensor([[5.0, 0, 0, 0], [0, 5.0, 0, 0]], device=device)
    assert order.wrong(logits, mg.tensor([0, 2], device=device)).numpy().tolist() == [False, True]
    add = get_task("addition")
    pred = mg.tensor([[0.5], [0.5]], device=device)
    assert add.wrong(pred, mg.tensor([[0.69], [0.71]], device=device)).numpy().tolist() == [False, True]
    mem = get_task("memorization")
    out = np.zeros((3, 2, 3))
    out[:, :, 2] = 1                                        # says "nothing" everywhere
    tgt = np.array([[2, 2], [2, 2], [2, 0]])                # sequence 1 wanted a 0 at the end
    assert mem.wrong(mg.tensor(out, device=device), mg.tensor(tgt, device=device)).numpy().tolist() == [False, True]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown task 'xor'.*temporal_order"):
        get_task("xor")
    with pytest.raises(ValueError, match="at least 10"):
        Sampler("temporal_order", 5)
    with pytest.raises(ValueError, match=r"must exceed the min length.*\[min, max\)"):
        Sampler("temporal_order", 50, max_length=50)
    assert get_task("temporal-order").name == "temporal_order"


def test_arithmetic_length_jitter_everywhere_the_authors_code_applies_it():
    """PAPER.md: l = T + U{0..floor(0.1 T)-1} for every minibatch of addition and multiplication,
    in fixed- and variable-length training and in testing alike; other tasks keep their length."""
    fixed = Sampler("addition", 100, seed=0)
    variable = Sampler("multiplication", 50, 60, seed=1)
    test = Sampler("addition", 50, seed=2)
    got_fixed = {fixed.batch(2).inputs.shape[0] for _ in range(60)}
    got_variable = {variable.batch(2).inputs.shape[0] for _ in range(200)}
    got_test = {test.batch(2, 200).inputs.shape[0] for _ in range(80)}
    assert got_fixed <= set(range(100, 110)) and len(got_fixed) > 5
    assert got_variable <= set(range(50, 65)) and max(got_variable) > 59       # 59 + up to 5
    assert got_test <= set(range(200, 220)) and len(got_test) > 10 and min(got_test) == 200
    order = Sampler("temporal_order", 50, seed=3)
    assert {order.batch(2, 120).inputs.shape[0] for _ in range(10)} == {120}
