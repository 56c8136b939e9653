"""gradcheck itself must be able to fail: a wrong derivative is caught, at order 1 and 2."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.autograd import Primitive
from conftest import T

wrong_first = Primitive(lambda xp, x: xp.sin(x), name="sin_wrong")
wrong_first.defvjp(lambda g, out, x: g * 1.0001 * mg.tensor(np.cos(x.numpy()), device=x.device))

# right first derivative, but written on detached values: its own derivative is lost (zero)
detached = Primitive(lambda xp, x: x ** 3, name="cube_detached")
detached.defvjp(lambda g, out, x: g * 3 * x.detach() ** 2)


def test_catches_wrong_first_derivative(device):
    x = T([0.3, -1.2, 2.0], device, True)
    with pytest.raises(mg.GradcheckError, match="order 1"):
        mg.gradcheck(wrong_first, [x])


def test_catches_wrong_second_derivative_only_at_order_2(device):
    x = T([0.3, -1.2, 2.0], device, True)
    assert mg.gradcheck(detached, [x], order=1)
    with pytest.raises(mg.GradcheckError, match="order 2"):
        mg.gradcheck(detached, [x], order=2)


def test_directional_mode_for_large_inputs(device, rng):
    x = T(rng.standard_normal((20, 20)), device, True)
    assert mg.gradcheck(lambda v: (v @ v).tanh(), [x], order=1, full_below=10)
    with pytest.raises(mg.GradcheckError, match="random direction"):
        mg.gradcheck(wrong_first, [x], full_below=10)


def test_rejects_bad_order(device):
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        mg.gradcheck(lambda v: v, [T([1.0], device, True)], order=3)
