import numpy as np
import pytest
import minigrad as mg


@pytest.mark.parametrize("shape", [(5,), (3,), (2, 3), (1, 5), (4, 2, 3, 4)])
def test_sum_to_refuses_a_shape_that_g_was_not_broadcast_from(shape):
    g = mg.tensor(np.ones((2, 3, 4)))
    with pytest.raises(ValueError, match="does not broadcast"):
        mg.sum_to(g, shape)


@pytest.mark.parametrize("shape", [(3, 4), (1, 4), (3, 1), (2, 1, 4), (4,), (1,), (), (2, 3, 4)])
def test_sum_to_keeps_the_total_and_the_shape(shape):
    a = np.arange(24.0).reshape(2, 3, 4)
    s = mg.sum_to(mg.tensor(a), shape).numpy()
    v = np.random.default_rng(0).standard_normal(shape)
    assert s.shape == shape
    assert np.isclose((s * v).sum(), (a * np.broadcast_to(v, a.shape)).sum())   # the adjoint of broadcast_to


def test_grad_says_when_an_input_does_not_require_grad():
    x = mg.tensor([1.0, 2.0])                      # used, but made without requires_grad
    w = mg.tensor([1.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="does not require grad"):
        mg.grad(((x * w) ** 2).sum(), [x])
    unused = mg.tensor(1.0, requires_grad=True)
    with pytest.raises(RuntimeError, match="was not used"):
        mg.grad(((x * w) ** 2).sum(), [unused])


def test_a_deferred_product_has_the_shape_of_its_value():
    from minigrad.accumulate import Product
    a, g = mg.tensor(np.ones((5, 3))), mg.tensor(np.ones((5, 2)))
    assert Product(a, g).shape == Product(a, g).evaluate().shape == (3, 2)          # aᵀ g
    a3, g3 = mg.tensor(np.ones((4, 5, 3))), mg.tensor(np.ones((4, 5, 2)))
    assert Product(a3, g3).shape == Product(a3, g3).evaluate().shape == (4, 3, 2)   # a stack of them
