"""Adam, AdamW, RMSprop, Adagrad, the learning-rate schedules and clip_grad_value.

Each optimizer's first steps are checked against its update rule written out here in NumPy, in
the textbook form of the papers and of PyTorch's documentation (bias-corrected moments, and so
on), not in the form the code evaluates; the schedules against their closed forms.  The problem
is a tiny quadratic, f(p) = Σ c p² / 2 + d p, whose gradient c p + d is known exactly.
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


def _param(device, dtype=np.float64, values=P0):
    return mg.tensor(np.asarray(values, dtype=dtype), device=device, requires_grad=True)


def _backward(p):
    """f(p) = Σ c p² / 2 + d p; its gradient c p + d lands in p.grad."""
    c = mg.tensor(C.astype(p.dtype), device=p.device)
    d = mg.tensor(D.astype(p.dtype), device=p.device)
    (0.5 * c * p * p + d * p).sum().backward()


def _run(opt, p, steps):
    for _ in range(steps):
        opt.zero_grad()
        _backward(p)
        opt.step()


# ------------------------------------------------------------------ the rules, by hand, in NumPy
def adam_ref(steps, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
             maximize=False, decoupled=False):
    """Kingma & Ba's Algorithm 1 with PyTorch's options (AdamW: Loshchilov & Hutter's decay)."""
    p, m, v, vmax = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    b1, b2 = betas
    for t in range(1, steps + 1):
        g = C * p + D
        if maximize:
            g = -g
        if decoupled:
            p = p - lr * weight_decay * p
        else:
            g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        vmax = np.maximum(vmax, v)
        m_hat = m / (1 - b1 ** t)
        v_hat = (vmax if amsgrad else v) / (1 - b2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


def rmsprop_ref(steps, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                centered=False, maximize=False):
    p, v, mean, b = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for _ in range(steps):
        g = C * p + D
        if maximize:
            g = -g
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g ** 2
        if centered:
            mean = alpha * mean + (1 - alpha) * g
            denom = np.sqrt(v - mean ** 2) + eps
        else:
            denom = np.sqrt(v) + eps
        if momentum > 0:
            b = momentum * b + g / denom
            p = p - lr * b
        else:
            p = p - lr * g / denom
    return p


def adagrad_ref(steps, lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                eps=1e-10, maximize=False):
    p, s = P0.copy(), np.full(3, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = C * p + D
        if maximize:
            g = -g
        g = g + weight_decay * p
        s = s + g ** 2
        p = p - lr / (1 + (t - 1) * lr_decay) * g / (np.sqrt(s) + eps)
    return p


CASES = [
    ("Adam", {}), ("Adam", {"lr": 0.1, "weight_decay": 0.3}), ("Adam", {"lr": 0.5, "betas": (0.5, 0.6), "amsgrad": True}),
    ("Adam", {"lr": 0.05, "maximize": True, "eps": 0.1}),
    ("AdamW", {}), ("AdamW", {"lr": 0.5, "weight_decay": 0.5, "amsgrad": True, "betas": (0.5, 0.6)}),
    ("RMSprop", {}), ("RMSprop", {"centered": True, "alpha": 0.9}), ("RMSprop", {"momentum": 0.8, "lr": 0.1}),
    ("RMSprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.2, "maximize": True, "eps": 0.01}),
    ("Adagrad", {}), ("Adagrad", {"lr": 0.5, "lr_decay": 0.3}), ("Adagrad", {"initial_accumulator_value": 0.7, "eps": 0.1}),
    ("Adagrad", {"weight_decay": 0.4, "maximize": True}),
]
REFS = {"Adam": adam_ref, "AdamW": lambda steps, **kw: adam_ref(steps, **{"weight_decay": 1e-2, **kw}, decoupled=True),
        "RMSprop": rmsprop_ref, "Adagrad": adagrad_ref}
IDS = [f"{n}-{'-'.join(kw) or 'defaults'}" for n, kw in CASES]


@pytest.mark.parametrize("name, options", CASES, ids=IDS)
def test_first_three_steps_follow_the_rule(name, options, device):
    p = _param(device)
    opt = getattr(optim, name)([p], **options)
    for step in range(1, 4):
        _run(opt, p, 1)
        np.testing.assert_allclose(p.numpy(), REFS[name](step, **options), rtol=1e-12, atol=1e-15)


def test_each_option_changes_the_update():
    """The references above are not blind to an option: each one moves the result (else a case
    above could pass with the option ignored)."""
    for name, options in CASES:
        for key in options:
            if key == "lr":
                continue
            without = {k: v for k, v in options.items() if k != key}
            assert not np.allclose(REFS[name](3, **options), REFS[name](3, **without), rtol=1e-9, atol=0), (name, key)


def test_amsgrad_keeps_the_largest_second_moment():
    p = _param("cpu")
    opt = optim.Adam([p], lr=0.5, betas=(0.5, 0.6), amsgrad=True)
    _run(opt, p, 3)
    s = opt.state[0]
    assert (s["max_exp_avg_sq"] >= s["exp_avg_sq"]).all() and (s["max_exp_avg_sq"] > s["exp_avg_sq"]).any()


@pytest.mark.parametrize("name, options", [c for c in CASES if len(c[1]) > 1], ids=[i for c, i in zip(CASES, IDS) if len(c[1]) > 1])
def test_float32_stays_float32(name, options, device):
    p = _param(device, np.float32)
    opt = getattr(optim, name)([p], **options)
    _run(opt, p, 3)
    assert p.dtype == np.float32 and p.data.dtype == np.float32
    assert all(b.dtype == np.float32 for b in opt.state_dict().values() if b.ndim)
    np.testing.assert_allclose(p.numpy(), REFS[name](3, **options), rtol=2e-5, atol=1e-6)


FULL = [("Adam", {"lr": 0.1, "weight_decay": 0.1, "amsgrad": True}), ("AdamW", {"lr": 0.1}),
        ("RMSprop", {"centered": True, "momentum": 0.5}), ("Adagrad", {"lr_decay": 0.1, "initial_accumulator_value": 0.1})]


@pytest.mark.parametrize("name, options", FULL, ids=[n for n, _ in FULL])
def test_state_dict_round_trip_continues_bit_for_bit(name, options, device, tmp_path):
    p, q = _param(device), _param(device)
    a = getattr(optim, name)([p], **options)
    _run(a, p, 3)
    a.lr = a.lr / 2                                  # what a schedule does: saved too
    mg.save(a.state_dict(), tmp_path / "opt.npz")      # through a checkpoint file, no pickle
    state = mg.load(tmp_path / "opt.npz")
    q.data = q.backend.asarray(p.numpy())
    b = getattr(optim, name)([q], **options)
    b.load_state_dict(state)
    assert b.lr == a.lr
    _run(a, p, 3)
    _run(b, q, 3)
    assert np.array_equal(p.numpy(), q.numpy())


def test_load_state_dict_refuses_what_does_not_fit():
    p = _param("cpu")
    adam = optim.Adam([p], lr=0.1)
    _run(adam, p, 2)
    state = adam.state_dict()
    q, r = _param("cpu"), _param("cpu")
    cases = [
        (optim.AdamW([q]), state, r"^AdamW.load_state_dict: this is the state_dict of Adam, not of AdamW$"),
        (mg.SGD([q], lr=0.1), state, r"^SGD.load_state_dict: this is the state_dict of Adam, not of SGD$"),
        (optim.Adam([q]), {"velocity.0": np.zeros(3)}, r"^Adam.load_state_dict: this state_dict has no 'optimizer' entry"),
        (optim.Adam([q, r]), state, r"^Adam.load_state_dict: this state_dict is for 1 parameters, this Adam has 2$"),
        (optim.Adam([q], amsgrad=True), state, r"^Adam.load_state_dict: step.0 is there but not max_exp_avg_sq.0$"),
        (optim.Adam([q]), {**state, "exp_avg.0": np.zeros(2)}, r"exp_avg.0 has shape \(2,\) but parameter 0 has \(3,\)"),
        (optim.Adam([q]), {**state, "velocity.0": np.zeros(3)}, r"unexpected entry 'velocity.0'"),
        (mg.SGD([q], lr=0.1, momentum=0.5), {"velocity.1": np.zeros(3)}, r"^SGD.load_state_dict: unexpected entry 'velocity.1'"),
    ]
    for opt, bad, message in cases:
        before = opt.state_dict()
        with pytest.raises(ValueError, match=message):
            opt.load_state_dict(bad)
        after = opt.state_dict()
        assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)


def test_a_parameter_without_gradient_is_skipped(device):
    p, frozen = _param(device), _param(device, values=[4.0, 5.0, 6.0])
    opt = optim.Adam([frozen, p], lr=0.1)
    _run(opt, p, 2)                                   # frozen never gets a gradient
    assert frozen.numpy().tolist() == [4.0, 5.0, 6.0] and opt.state[0] is None
    assert "step.0" not in opt.state_dict() and opt.state_dict()["step.1"] == 2
    np.testing.assert_allclose(p.numpy(), adam_ref(2, lr=0.1), rtol=1e-12)


def test_lr_zero_is_allowed_and_moves_nothing(device):
    for opt_class in (mg.SGD, optim.Adam, optim.RMSprop, optim.Adagrad):
        p = _param(device)
        _run(opt_class([p], lr=0.0), p, 2)
        assert np.array_equal(p.numpy(), P0)


@pytest.mark.parametrize("make, error, message", [
    (lambda p: optim.Adam(p, betas=(0.9, 1.0)), ValueError, r"^Adam: betas\[1\] must be a number in \[0, 1\), got 1.0$"),
    (lambda p: optim.Adam(p, betas=0.9), TypeError, r"^Adam: betas must be a pair of numbers \(beta1, beta2\), got 0.9$"),
    (lambda p: optim.AdamW(p, eps=-1e-8), ValueError, r"^AdamW: eps must be a non-negative finite number, got -1e-08$"),
    (lambda p: optim.Adam(p, lr=-1), ValueError, r"^Adam: lr must be non-negative and finite, got -1$"),
    (lambda p: optim.Adam(p, weight_decay="0.1"), TypeError, r"^Adam: weight_decay must be a number, got str$"),
    (lambda p: optim.RMSprop(p, alpha=1.5), ValueError, r"^RMSprop: alpha must be a number in \[0, 1\], got 1.5$"),
    (lambda p: optim.RMSprop(p, momentum=1), ValueError, r"^RMSprop: momentum must be a number in \[0, 1\), got 1$"),
    (lambda p: optim.Adagrad(p, lr_decay=math.nan), ValueError, r"^Adagrad: lr_decay must be a non-negative finite number, got nan$"),
    (lambda p: optim.Adagrad(p, initial_accumulator_value=-1), ValueError, r"initial_accumulator_value must be a non-negative"),
    (lambda p: optim.Adagrad([]), ValueError, r"^Adagrad got an empty parameter list$"),
    (lambda p: optim.RMSprop([p[0] * 2.0]), ValueError, r"^RMSprop: can't optimize parameter 0: it is not a leaf"),
])
def test_bad_hyperparameters_are_one_line_errors(make, error, message):
    with pytest.raises(error, match=message):
        make([_param("cpu")])


def test_adam_lr_is_checked_when_changed_too():
    opt = optim.Adam([_param("cpu")])
    with pytest.raises(ValueError, match=r"^Adam: lr must be non-negative and finite, got inf$"):
        opt.lr = math.inf
    assert opt.lr == 1e-3


# ------------------------------------------------------------------ schedules: closed forms
def _lrs(make, epochs, lr=0.5):
    opt = mg.SGD([_param("cpu")], lr=lr)
    sched = make(opt)
    out = [sched.get_last_lr()[0]]
    assert opt.lr == out[0] and sched.last_epoch == 0
    for _ in range(epochs):
        opt.step()                                  # no gradient: a no-op, in torch's order
        sched.step()
        out.append(opt.lr)
        assert sched.get_last_lr() == [opt.lr]
    assert sched.last_epoch == epochs
    return np.array(out)


def test_schedules_follow_their_closed_forms():
    e = np.arange(21)
    np.testing.assert_allclose(_lrs(lambda o: lr_scheduler.StepLR(o, 3, gamma=0.5), 20), 0.5 * 0.5 ** (e // 3), rtol=1e-14)
    np.testing.assert_allclose(_lrs(lambda o: lr_scheduler.MultiStepLR(o, [2, 5, 5, 9], gamma=0.1), 20),
                               0.5 * 0.1 ** ((e >= 2) + 2 * (e >= 5) + (e >= 9)), rtol=1e-13)
    np.testing.assert_allclose(_lrs(lambda o: lr_scheduler.ExponentialLR(o, 0.9), 20), 0.5 * 0.9 ** e, rtol=1e-13)
    np.testing.assert_allclose(_lrs(lambda o: lr_scheduler.LambdaLR(o, lambda k: min(1.0, (k + 1) / 4)), 20),
                               0.5 * np.minimum(1.0, (e + 1) / 4), rtol=1e-15)
    e = np.arange(31)
    np.testing.assert_allclose(_lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01), 30),
                               0.01 + 0.49 * (1 + np.cos(np.pi * e / 10)) / 2, rtol=1e-12, atol=1e-15)
    lrs = _lrs(lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=4), 8)   # eta_min 0: lr 0 at T_max
    assert lrs[4] == 0.0 and lrs[8] == pytest.approx(0.5, rel=1e-12)


def test_a_schedule_sets_the_lr_the_next_step_uses(device):
    p = _param(device)
    opt = mg.SGD([p], lr=0.1)
    sched = lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    expected = P0.copy()
    for lr in (0.1, 0.05, 0.025):
        _run(opt, p, 1)
        sched.step()
        expected = expected - lr * (C * expected + D)
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-14)


def test_reduce_lr_on_plateau_by_hand():
    opt = mg.SGD([_param("cpu")], lr=1.0)
    sched = lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1, min_lr=0.2)
    metrics = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0]
    # bad epochs: 0 0 1 2: halve (0.5), cooldown resets it to 0, 1 2: halve (0.25), cooldown (and
    # 3 is better: 0), 1 2: 0.125, but min_lr 0.2, cooldown
    expected = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.2, 0.2]
    got = []
    for m in metrics:
        sched.step(m)
        got.append(opt.lr)
    assert got == expected and sched.get_last_lr() == [0.2]
    sched = lr_scheduler.ReduceLROnPlateau(opt, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    sched.step(1.0)
    sched.step(1.05)                                 # not better by 0.1: reduced at once
    assert opt.lr == pytest.approx(0.02)


def test_schedule_state_dict_round_trip():
    opt_a, opt_b = mg.SGD([_param("cpu")], lr=0.5), mg.SGD([_param("cpu")], lr=0.5)
    a = lr_scheduler.CosineAnnealingLR(opt_a, T_max=7)
    for _ in range(3):
        a.step()
    b = lr_scheduler.CosineAnnealingLR(opt_b, T_max=7)
    b.load_state_dict(a.state_dict())
    opt_b.lr = opt_a.lr                               # the optimizer's own state_dict carries it
    for _ in range(6):
        a.step()
        b.step()
        assert opt_a.lr == opt_b.lr and a.last_epoch == b.last_epoch
    with pytest.raises(ValueError, match=r"^StepLR.load_state_dict: '\w+' is missing; load what a StepLR's state_dict\(\) returned$"):
        lr_scheduler.StepLR(opt_b, 2).load_state_dict({"last_epoch": 3})


def test_schedule_bad_arguments():
    opt = mg.SGD([_param("cpu")], lr=0.5)
    with pytest.raises(ValueError, match=r"^StepLR: step_size must be a positive integer, got 0$"):
        lr_scheduler.StepLR(opt, 0)
    with pytest.raises(ValueError, match=r"^ExponentialLR: gamma must be a number in \(0, 1\]"):
        lr_scheduler.ExponentialLR(opt, 1.5)
    with pytest.raises(TypeError, match=r"^StepLR: optimizer must be a minigrad optimizer"):
        lr_scheduler.StepLR("sgd", 2)
    with pytest.raises(ValueError, match=r"^ReduceLROnPlateau: mode must be 'min' or 'max', got 'down'$"):
        lr_scheduler.ReduceLROnPlateau(opt, mode="down")


# ------------------------------------------------------------------ clipping
def test_clip_grad_value(device):
    a, b, c = _param(device), _param(device), _param(device)
    a.grad = mg.tensor([3.0, -0.5, -7.0], device=device)
    b.grad = mg.tensor([math.nan, 0.9, -1.0], device=device)
    assert optim.clip_grad_value([a, b, c], 1.0) is None
    assert a.grad.numpy().tolist() == [1.0, -0.5, -1.0] and c.grad is None
    assert np.isnan(b.grad.numpy()[0]) and b.grad.numpy()[1:].tolist() == [0.9, -1.0]
    with pytest.raises(ValueError, match=r"^clip_grad_value: clip_value must be positive, got 0$"):
        optim.clip_grad_value([a], 0)


def test_clip_grad_norm_error_if_nonfinite_and_inf_norm(device):
    a, b = _param(device), _param(device)
    a.grad, b.grad = mg.tensor([3.0, -4.0, 0.0], device=device), mg.tensor([0.0, 12.0, 0.0], device=device)
    norm = mg.clip_grad_norm([a, b], 6.0, norm_type=math.inf)
    assert norm.item() == 12.0                        # max |g|, before clipping
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 6.0, 0.0], rtol=1e-15)
    b.grad = mg.tensor([math.inf, 0.0, 0.0], device=device)
    with pytest.raises(RuntimeError, match=r"^clip_grad_norm: the total norm of order 2.0 of the gradients is inf"):
        mg.clip_grad_norm([a, b], 1.0, error_if_nonfinite=True)
    np.testing.assert_allclose(a.grad.numpy(), [1.5, -2.0, 0.0], rtol=1e-15)   # untouched by the refusal
