"""mg.trace's rule 5: numbers a traced function reads outside its arguments.

Found by a new-user trial (session 9): a Module's float attribute or a closure's float changed
between calls, and the replay kept the old value (4.0 where the function gives 10.0).  Now the
plain attributes of Module arguments (and their sub-modules) and the plain values the function
closes over select the program, so a change traces again; -0.0 and 0.0 are told apart, and a
NaN argument does not trace on every call.  Expected values are written out by hand.
"""
import math

import numpy as np
import pytest

import minigrad as mg


class Scaled(mg.nn.Module):
    def __init__(self):
        self.W = mg.nn.Parameter(np.ones(2))
        self.scale = 2.0

    def forward(self, x):
        return (x * self.W * self.scale).sum()


def test_a_module_float_attribute_changed_between_calls_is_seen():
    m, x = Scaled(), mg.tensor([1.0, 1.0])
    f = mg.trace(lambda m, x: m(x))
    assert f(m, x).item() == 4.0 and f(m, x).item() == 4.0      # traced, then replayed
    m.scale = 5.0
    assert f(m, x).item() == 10.0                                 # 1*1*5 + 1*1*5
    assert f.programs == 2


def test_a_sub_modules_attribute_is_seen_too():
    class Outer(mg.nn.Module):
        def __init__(self):
            self.inner = Scaled()

        def forward(self, x):
            return self.inner(x)
    m, x = Outer(), mg.tensor([1.0, 2.0])
    f = mg.trace(lambda m, x: m(x))
    assert f(m, x).item() == 6.0
    m.inner.scale = -1.0
    assert f(m, x).item() == -3.0


def test_a_closure_float_changed_between_calls_is_seen():
    scale = 2.0

    def g(x):
        return (x * scale).sum()
    f = mg.trace(g)
    x = mg.tensor([1.0, 3.0])
    assert f(x).item() == 8.0
    scale = 0.5                                                   # noqa: F841 (read by g)
    assert f(x).item() == 2.0


def test_eval_mode_selects_another_program():
    class Net(mg.nn.Module):
        def __init__(self):
            self.drop = mg.nn.Dropout(0.5)

        def forward(self, x):
            return self.drop(x).sum()
    net, x = Net().eval(), mg.tensor([1.0, 2.0, 3.0])
    f = mg.trace(lambda n, x: n(x))
    assert f(net, x).item() == 6.0                                # dropout off: the identity
    net.train()
    with pytest.raises(mg.TraceError):                            # a random draw cannot be traced:
        f(net, x)                                                 # refused, not replayed as identity


def test_minus_zero_and_zero_arguments_are_different_programs():
    f = mg.trace(lambda x, c: x / c)
    x = mg.tensor([1.0])
    with np.errstate(divide="ignore"):
        assert f(x, 0.0).numpy()[0] == math.inf
        assert f(x, -0.0).numpy()[0] == -math.inf


def test_a_nan_argument_is_traced_once():
    f = mg.trace(lambda x, c: x + c)
    x = mg.tensor([1.0])
    for _ in range(3):
        assert math.isnan(f(x, float("nan")).numpy()[0])
    assert f.programs == 1


GLOBAL_SCALE = 2.0


def test_globals_are_not_seen_as_documented():
    """Rule 5 says a global read by the function is frozen at the trace: pinned here, so the
    documentation and the behaviour cannot drift apart."""
    global GLOBAL_SCALE
    f = mg.trace(lambda x: (x * GLOBAL_SCALE).sum())
    x = mg.tensor([1.0])
    try:
        assert f(x).item() == 2.0
        GLOBAL_SCALE = 3.0
        assert f(x).item() == 2.0                                 # the trace's constant
    finally:
        GLOBAL_SCALE = 2.0
