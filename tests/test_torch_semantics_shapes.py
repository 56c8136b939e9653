"""Edge-case shape semantics checked against PyTorch's documented behaviour (hand-written
expectations; the side-by-side PyTorch comparison lives outside the suite)."""
import numpy as np
import pytest

import minigrad as mg


def t(a, device):
    return mg.tensor(np.asarray(a, dtype=np.float64), device=device)


def arr(x):
    return np.asarray(x.numpy())


def test_expand_minus_one_keeps_existing_axes(device):
    x = t(np.arange(6.).reshape(3, 2), device)
    assert x.expand(2, -1, 2).shape == (2, 3, 2)
    assert x.expand((4, 3, -1)).shape == (4, 3, 2)
    assert t(np.ones((3, 1)), device).expand(-1, 4).shape == (3, 4)


@pytest.mark.parametrize("sizes", [(-1, 3, 2), (-1, -1, 3, 2)])
def test_expand_minus_one_on_new_leading_axis_is_refused(device, sizes):
    # PyTorch: "-1 isn't allowed in a leading, non-existing dimension"; the old code read
    # self.shape at a negative index and silently gave (2, 3, 2) for expand(-1, 3, 2).
    x = t(np.arange(6.).reshape(3, 2), device)
    with pytest.raises(ValueError, match="-1 is only allowed for existing axes"):
        x.expand(*sizes)


def test_tensor_split_indices_and_uneven_chunk(device):
    x = t(np.arange(7.), device)
    parts = mg.tensor_split(x, [1, 5])
    assert [p.shape for p in parts] == [(1,), (4,), (2,)]
    assert [p.shape for p in mg.tensor_split(x, [5, 1])] == [(5,), (0,), (6,)]
    assert [p.shape for p in mg.tensor_split(x, 3)] == [(3,), (2,), (2,)]
    assert [p.shape for p in x.chunk(3)] == [(3,), (3,), (1,)]
    assert [p.shape for p in t(np.arange(6.), device).chunk(4)] == [(2,), (2,), (2,)]


def test_roll_without_dim_flattens_and_tril_beyond_size(device):
    a = t(np.arange(6.).reshape(2, 3), device)
    np.testing.assert_array_equal(arr(a.roll(1)), [[5, 0, 1], [2, 3, 4]])
    np.testing.assert_array_equal(arr(mg.tril(a, 5)), arr(a))
    np.testing.assert_array_equal(arr(mg.triu(a, -5)), arr(a))
    np.testing.assert_array_equal(arr(mg.tril(a, -5)), np.zeros((2, 3)))


def test_matmul_one_d_operands(device):
    x = t(np.arange(24.).reshape(2, 3, 4), device)
    v = t(np.arange(4.), device)
    w = t(np.arange(3.), device)
    assert (x @ v).shape == (2, 3)
    assert (w @ x).shape == (2, 4)
    np.testing.assert_array_equal(arr(w @ x)[0], [20, 23, 26, 29])
    assert (w @ w).shape == ()
