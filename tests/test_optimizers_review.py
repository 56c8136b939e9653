"""What an outside review of the optimizers and schedules found, each a check that failed before
its fix, and the checks that kill the plausible wrong versions (mutants) the other tests missed.

Expected values come from closed forms written out here (the schedules' formulas, Adam's rule in
its textbook form) or from a second, uninterrupted run; never from the code under test alone.
The problem is the quadratic of tests/test_optimizers.py: gradient c p + d.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optim
from minigrad.optim import lr_scheduler

C = np.array([1.0, 3.0, 0.5])
D = np.array([0.5, -1.0, 2.0])
P0 = np.array([1.0, -2.0, 0.25])


def _param(device, dtype=np.float64):
    return mg.tensor(P0.astype(dtype), device=device, requires_grad=True)


def _grad(p):
    """Set ``p.grad`` to c p + d (the gradient of Σ c p² / 2 + d p), in p's dtype."""
    x = p.numpy()
    p.grad = mg.tensor((C * x + D).astype(x.dtype), device=p.device)


def _lr_after(make, epochs, lr=1.0):
    opt = optim.SGD([_param("cpu")], lr=lr)
    sched = make(opt)
    out = [opt.lr]
    for _ in range(epochs):
        sched.step()
        out.append(opt.lr)
    return opt, sched, out


# ------------------------------------------------------------------ defects found, with their fixes
def test_sgd_numpy_hyperparameters_keep_float32_state(device):
    """NumPy float64 scalars as lr/momentum/weight_decay promoted a float32 model's velocity to
    float64 (twice the memory, other numbers than torch's float32 run)."""
    runs = []
    for cast in (float, np.float64):
        p = _param(device, np.float32)
        opt = mg.SGD([p], lr=cast(0.1), momentum=cast(0.9), weight_decay=cast(0.01))
        for _ in range(3):
            _grad(p)
            opt.step()
        assert opt.velocity[0].dtype == np.float32 and p.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state_dict().values() if v.ndim)
        runs.append(p.numpy())
    assert np.array_equal(runs[0], runs[1])


def test_resumed_chainable_schedules_do_not_step_ahead():
    """``last_epoch=k`` (resuming) made ExponentialLR and CosineAnnealingLR take one more decay at
    construction; PyTorch 2.13 leaves the lr as it is (its ``_is_initial``)."""
    base, gamma, T, lo = 1.0, 0.5, 6, 0.1
    opt = optim.SGD([_param("cpu")], lr=base)
    lr_scheduler.ExponentialLR(opt, gamma)
    opt.lr = base * gamma ** 3                      # where epoch 3 of that schedule left it
    sched = lr_scheduler.ExponentialLR(opt, gamma, last_epoch=3)
    assert sched.last_epoch == 4 and opt.lr == base * gamma ** 3 and sched.get_last_lr() == [opt.lr]
    sched.step()
    assert opt.lr == base * gamma ** 4

    def cosine(e):
        return lo + (base - lo) * (1 + math.cos(math.pi * e / T)) / 2

    opt = optim.SGD([_param("cpu")], lr=base)
    lr_scheduler.CosineAnnealingLR(opt, T, lo)
    opt.lr = cosine(4)
    sched = lr_scheduler.CosineAnnealingLR(opt, T, lo, last_epoch=4)
    assert sched.last_epoch == 5 and opt.lr == cosine(4)   # torch 2.13; before: cosine(5)

    _, _, lrs = _lr_after(lambda o: lr_scheduler.CosineAnnealingLR(o, T, lo), 3 * T + 2, lr=base)  # on past T_max
    np.testing.assert_allclose(lrs, [cosine(e) for e in range(3 * T + 3)], rtol=1e-12, atol=1e-15)


def test_a_second_schedule_keeps_the_first_ones_base_lr():
    """``initial_lr`` was overwritten by each new schedule; PyTorch keeps the first
    (``setdefault``), so LambdaLR's closed form after another schedule uses the original lr."""
    opt = optim.SGD([_param("cpu")], lr=0.5)
    a = lr_scheduler.LambdaLR(opt, lambda e: 0.5)
    b = lr_scheduler.LambdaLR(opt, lambda e: 0.9 ** e)
    assert a.base_lr == b.base_lr == 0.5 and opt.initial_lr == 0.5
    for e in range(1, 5):
        a.step()
        b.step()
        assert opt.lr == pytest.approx(0.5 * 0.9 ** e, rel=1e-15)


def test_sgd_with_a_schedule_resumes_from_a_checkpoint_bit_for_bit(device, tmp_path):
    """SGD's state_dict had no lr: a run resumed after its schedule had lowered the lr went on
    with the constructor's lr.  It is saved now (and ``initial_lr``, so that a schedule made
    with ``last_epoch=k`` after loading works, as with torch's param_groups)."""
    def make(p):
        opt = mg.SGD([p], lr=0.4, momentum=0.5)
        return opt, lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)

    def run(opt, sched, p, epochs):
        for _ in range(epochs):
            _grad(p)
            opt.step()
            sched.step()

    p, q = _param(device), _param(device)
    opt, sched = make(p)
    run(opt, sched, p, 5)
    assert opt.lr == 0.4 * 0.5 ** 2
    mg.save(opt.state_dict(), tmp_path / "opt.npz")
    q.data = q.backend.asarray(p.numpy())
    opt2, sched2 = make(q)
    opt2.load_state_dict(mg.load(tmp_path / "opt.npz"))
    sched2.load_state_dict(sched.state_dict())
    assert opt2.lr == opt.lr
    run(opt, sched, p, 4)
    run(opt2, sched2, q, 4)
    assert opt2.lr == opt.lr == 0.4 * 0.5 ** 4
    assert np.array_equal(p.numpy(), q.numpy())

    opt3 = mg.SGD([_param(device)], lr=0.4, momentum=0.5)   # torch's way: the epoch, not the schedule's state
    opt3.load_state_dict(opt.state_dict())
    sched3 = lr_scheduler.StepLR(opt3, step_size=2, gamma=0.5, last_epoch=9)
    assert sched3.base_lr == 0.4 and opt3.lr == 0.4 * 0.5 ** 5  # epoch 10 is a milestone
    old = {"velocity.0": opt.state_dict()["velocity.0"]}   # a checkpoint from before: no lr, still loads
    opt3.load_state_dict(old)
    assert opt3.lr == 0.4 * 0.5 ** 5


def test_adam_state_dict_carries_initial_lr():
    p = _param("cpu")
    opt = optim.Adam([p], lr=0.1)
    lr_scheduler.ExponentialLR(opt, 0.5).step()
    state = opt.state_dict()
    assert float(state["initial_lr"]) == 0.1 and float(state["lr"]) == 0.05
    fresh = optim.Adam([_param("cpu")], lr=0.3)
    fresh.load_state_dict(state)
    assert fresh.initial_lr == 0.1 and fresh.lr == 0.05


# ------------------------------------------------------------------ checks the mutants needed
def _adam_by_hand(x, updates, lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8):
    """``updates`` Adam steps on the quadratic from x, with t = 1, 2, ... (textbook form)."""
    m = v = 0.0
    for t in range(1, updates + 1):
        g = C * x + D
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        x = x - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return x


def test_adam_counts_steps_per_parameter():
    """Steps are counted per parameter, only when it has a gradient (as torch): q skips step 2,
    r step 1; each one's bias correction runs over its own t = 1, 2."""
    p, q, r = _param("cpu"), _param("cpu"), _param("cpu")
    opt = optim.Adam([p, q, r], lr=0.1)
    for having in ((p, q), (p, r), (p, q)):
        opt.zero_grad()
        for x in having:
            _grad(x)
        opt.step()
    assert [s["step"] for s in opt.state] == [3, 2, 1]
    for x, updates in ((p, 3), (q, 2), (r, 1)):
        np.testing.assert_allclose(x.numpy(), _adam_by_hand(P0, updates), rtol=1e-14)


def test_sgd_first_momentum_step_is_not_dampened():
    """torch: the buffer starts as the gradient itself; dampening τ applies from the second step."""
    p = _param("cpu")
    opt = mg.SGD([p], lr=0.1, momentum=0.9, dampening=0.5)
    g1 = C * P0 + D
    _grad(p)
    opt.step()
    np.testing.assert_allclose(p.numpy(), P0 - 0.1 * g1, rtol=1e-15)
    x1 = P0 - 0.1 * g1
    _grad(p)
    opt.step()
    np.testing.assert_allclose(p.numpy(), x1 - 0.1 * (0.9 * g1 + 0.5 * (C * x1 + D)), rtol=1e-15)


def test_a_float64_state_loaded_into_a_float32_optimizer_is_float32():
    a, b = _param("cpu"), _param("cpu", np.float32)
    opt = optim.RMSprop([a], centered=True, momentum=0.5)
    _grad(a)
    opt.step()
    opt32 = optim.RMSprop([b], centered=True, momentum=0.5)
    opt32.load_state_dict(opt.state_dict())
    assert all(v.dtype == np.float32 for k, v in opt32.state[0].items() if k != "step")
    _grad(b)
    opt32.step()
    assert b.dtype == np.float32 and all(v.dtype == np.float32 for k, v in opt32.state[0].items() if k != "step")


def test_amsgrad_state_round_trip_and_the_max_of_v():
    """AMSGrad's max of v is saved and restored: a run continued from a checkpoint taken when
    the gradient shrinks (so the max differs from v) matches the uninterrupted one."""
    def grads(k):
        return (C * P0 + D) * (4.0 if k < 3 else 0.25)

    def run(opt, p, ks):
        for k in ks:
            p.grad = mg.tensor(grads(k))
            opt.step()

    p, q = _param("cpu"), _param("cpu")
    a = optim.Adam([p], lr=0.1, amsgrad=True, betas=(0.5, 0.5))
    run(a, p, range(4))
    q.data = p.numpy().copy()
    b = optim.Adam([q], lr=0.1, amsgrad=True, betas=(0.5, 0.5))
    b.load_state_dict(a.state_dict())
    run(a, p, range(4, 6))
    run(b, q, range(4, 6))
    assert np.array_equal(p.numpy(), q.numpy())
    v = m = vmax = 0.0                              # the rule by hand: max of v, then corrected
    x = P0.copy()
    for k in range(6):
        g = grads(k)
        m, v = 0.5 * m + 0.5 * g, 0.5 * v + 0.5 * g * g
        vmax = np.maximum(vmax, v)
        x = x - 0.1 * (m / (1 - 0.5 ** (k + 1))) / (np.sqrt(vmax / (1 - 0.5 ** (k + 1))) + 1e-8)
    np.testing.assert_allclose(p.numpy(), x, rtol=1e-13)


def test_plateau_cooldown_and_abs_max_by_hand():
    """mode='max', threshold_mode='abs' (better: above best + θ), patience 0, cooldown 1."""
    opt = optim.SGD([_param("cpu")], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=0.5, patience=0, threshold=0.1,
                                           threshold_mode="abs", cooldown=1, min_lr=0.2)
    got = []
    for metric in [1.0, 1.05, 1.2, 1.2, 1.0, 1.0, 0.9, 2.0, 1.0]:
        sched.step(metric)
        got.append(opt.lr)
    # 1.05 is not above 1.0 + 0.1: halve; 1.2 better (in cooldown); 1.2 not: halve; 1.0 eaten by
    # the cooldown; 1.0: halve, but not below min_lr 0.2; 0.9 eaten; 2.0 better; 1.0: already 0.2
    assert got == [1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2, 0.2]


def test_params_may_be_a_generator():
    ps = [_param("cpu"), _param("cpu")]
    opt = optim.Adam(p for p in ps)                 # consumed once, kept as a list
    for p in ps:
        _grad(p)
    opt.step()
    assert len(opt.params) == 2 and all(s["step"] == 1 for s in opt.state)
    with pytest.raises(ValueError, match=r"^Adam got an empty parameter list$"):
        optim.Adam(p for p in [])


def test_resuming_a_schedule_without_initial_lr_is_one_line():
    opt = optim.Adam([_param("cpu")])
    with pytest.raises(ValueError, match=r"^StepLR: last_epoch=3 continues a schedule, but the optimizer has no "
                                         r"initial_lr; load the optimizer's state_dict \(it keeps initial_lr\)"):
        lr_scheduler.StepLR(opt, 2, last_epoch=3)
    assert not hasattr(opt, "initial_lr") and opt.lr == 1e-3
