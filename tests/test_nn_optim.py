"""Modules, checkpoints, SGD and gradient clipping."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.nn import Module, Parameter
from conftest import T


class Tiny(Module):
    def __init__(self, device):
        self.W_rec = Parameter(np.eye(2) * 0.5, device=device)
        self.out = mg.nn.Linear(2, 3, device=device)
        self.extra = [Parameter(np.ones(1), device=device)]
        self.not_a_param = T([1.0], device)

    def forward(self, x):
        return self.out((x @ self.W_rec).tanh()) * self.extra[0]


def test_named_parameters_and_zero_grad(device):
    m = Tiny(device)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["W_rec", "out.W", "out.b", "extra.0"]
    m(T(np.ones((4, 2)), device)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_through_npz_without_pickle(device, tmp_path):
    m = Tiny(device)
    m.save(tmp_path / "ck.npz")
    with np.load(tmp_path / "ck.npz", allow_pickle=False) as z:
        assert sorted(z.files) == ["W_rec", "extra.0", "out.W", "out.b"]
    m2 = Tiny(device)
    for p in m2.parameters():
        p.data = p.data * 0
    m2.load(tmp_path / "ck.npz")
    for (n, a), (_, b) in zip(m.named_parameters(), m2.named_parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        assert b.device == device


def test_load_state_dict_errors_change_nothing(device):
    m = Tiny(device)
    before = m.state_dict()
    with pytest.raises(mg.CheckpointError, match="missing.*out.b"):
        m.load_state_dict({k: v for k, v in before.items() if k != "out.b"})
    bad = dict(before, W_rec=np.zeros((3, 3)))
    with pytest.raises(mg.CheckpointError, match=r"W_rec: checkpoint \(3, 3\), model \(2, 2\)"):
        m.load_state_dict(bad)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip file at all")
    with pytest.raises(mg.CheckpointError, match="not a readable minigrad checkpoint"):
        mg.load(p)


def test_sgd_step_closed_form(device):
    p = Parameter([1.0, -2.0], device=device)
    opt = mg.SGD([p], lr=0.1)
    (p * p).sum().backward()            # grad 2p
    opt.step()
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.2, -2.0 + 0.4])
    opt.zero_grad()
    assert p.grad is None


def test_sgd_momentum(device):
    p = Parameter([1.0], device=device)
    opt = mg.SGD([p], lr=0.1, momentum=0.9)
    expected, v = 1.0, 0.0
    for _ in range(3):
        opt.zero_grad()
        (p * p).sum().backward()
        v = 0.9 * v + 2 * expected
        expected -= 0.1 * v
        opt.step()
    np.testing.assert_allclose(p.numpy(), [expected])


def test_sgd_bad_arguments():
    with pytest.raises(ValueError, match="lr must be positive"):
        mg.SGD([Parameter([1.0])], lr=0)
    with pytest.raises(ValueError, match="empty parameter list"):
        mg.SGD([], lr=0.1)


def test_clip_grad_norm_scales_globally(device):
    a, b = Parameter([3.0], device=device), Parameter([4.0], device=device)
    a.grad, b.grad = T([3.0], device), T([4.0], device)
    norm = mg.clip_grad_norm([a, b], 1.0)
    assert norm.item() == pytest.approx(5.0)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [0.6, 0.8])
    norm = mg.clip_grad_norm([a, b], 2.0)            # below the threshold: unchanged
    assert norm.item() == pytest.approx(1.0)
    np.testing.assert_allclose([a.grad.item(), b.grad.item()], [0.6, 0.8])


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_clip_grad_norm_reports_non_finite_without_crashing(bad, device):
    a, b = Parameter([1.0], device=device), Parameter([1.0], device=device)
    a.grad, b.grad = T([bad], device), T([2.0], device)
    norm = mg.clip_grad_norm([a, b], 1.0)
    assert not np.isfinite(norm.item())
    assert b.grad.item() == 2.0                       # untouched: the caller decides


def test_clip_grad_norm_stays_on_device():
    """On the strict device any host round-trip would raise: clipping makes none."""
    a = Parameter([3.0, 4.0], device="strict")
    a.grad = T([30.0, 40.0], "strict")
    norm = mg.clip_grad_norm([a], 1.0)
    assert norm.device == "strict"
    np.testing.assert_allclose(a.grad.numpy(), [0.6, 0.8])


def test_generator_is_seeded_per_device(device):
    a = mg.Generator(3, device=device).normal((2, 3), std=0.1).numpy()
    b = mg.Generator(3, device=device).normal((2, 3), std=0.1).numpy()
    np.testing.assert_array_equal(a, b)
    assert a.std() < 0.5
    i = mg.Generator(0, device=device).integers(0, 5, (100,)).numpy()
    assert i.min() >= 0 and i.max() < 5 and i.dtype == np.int64
