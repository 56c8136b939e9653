"""The tape's gradient norms (what the drawings write on edges and boxes): the norm of what an
input receives, summed to its shape, computed without float32 overflow or underflow."""
import numpy as np
import pytest

import minigrad as mg


def test_edge_into_a_broadcast_input_is_the_norm_of_the_summed_gradient():
    """b (3,) added to two rows: b receives the column sums of the cotangent, [2, 1, 3.5]."""
    b = mg.tensor(np.zeros(3), requires_grad=True)
    h = mg.tensor(np.array([[1.0, 2.0, 3.0], [-1.0, -2.0, -3.0]]))
    w = np.array([[1.0, 2.0, 3.0], [1.0, -1.0, 0.5]])
    with mg.Tape() as tape:
        loss = ((h + b) * mg.tensor(w)).sum()
    loss.backward()
    add = next(e for e in tape if e.op == "add")
    assert add.input_grad_norms[1] == pytest.approx(np.linalg.norm([2.0, 1.0, 3.5]))
    assert add.input_grad_norms[1] == pytest.approx(np.linalg.norm(b.grad.numpy()))


def test_float32_tape_norms_neither_overflow_nor_underflow():
    p = mg.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    with mg.Tape() as tape:
        a = p * 1.0
        loss = (a * 1e20).sum() + (a * 1e-25).sum()
    loss.backward()
    assert tape[0].grad_norm == pytest.approx(2e20, rel=1e-6)
    assert [e for e in tape if e.op == "mul"][-1].input_grad_norms[0] == pytest.approx(2e-25, rel=1e-6)
