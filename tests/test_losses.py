"""The losses: values against PyTorch's documented formulas written out in NumPy (loops, not the
engine's vectorized form), gradients to second order against central differences, the edges
(clamps, ±1000, everything ignored), the errors, and the cost of the training loop's path.

Layout throughout: classes on the LAST axis, logits (..., C) with integer targets (...).
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T


# ----------------------------------------------------------------------------- NumPy references
def log_softmax_np(z):
    s = z - z.max(-1, keepdims=True)
    return s - np.log(np.exp(s).sum(-1, keepdims=True))


def ce_ref(z, t, reduction="mean", eps=0.0, ignore=None, w=None):
    """torch.nn.CrossEntropyLoss with class-index targets (its docs' formula, label smoothing as
    in its source: (1-ε)·nll + ε/C·Σ_c w_c(-log p_c); "mean" divides by Σ w[t] of kept rows)."""
    C = z.shape[-1]
    lp, t = log_softmax_np(z).reshape(-1, C), np.asarray(t).reshape(-1)
    w = np.ones(C) if w is None else w
    losses, denominator = [], 0.0
    for i in range(len(t)):
        if ignore is not None and t[i] == ignore:
            losses.append(0.0)
            continue
        nll = -w[t[i]] * lp[i, t[i]]
        smooth = -sum(w[c] * lp[i, c] for c in range(C))
        losses.append((1 - eps) * nll + eps / C * smooth)
        denominator += w[t[i]]
    losses = np.array(losses)
    if reduction == "none":
        return losses.reshape(np.shape(z)[:-1])
    return losses.sum() if reduction == "sum" else losses.sum() / denominator


def ce_prob_ref(z, y, reduction="mean", eps=0.0, w=None):
    """torch.nn.CrossEntropyLoss with probability targets: q = (1-ε)y + ε/C, ℓ = -Σ_c w_c q_c log p_c,
    "mean" divides by the number of positions (not by weights)."""
    C = z.shape[-1]
    w = np.ones(C) if w is None else w
    losses = -(w * ((1 - eps) * y + eps / C) * log_softmax_np(z)).sum(-1)
    if reduction == "none":
        return losses
    return losses.sum() if reduction == "sum" else losses.sum() / losses.size


def bce_ref(p, y, w=1.0):
    with np.errstate(divide="ignore"):
        return -w * (y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log(1 - p), -100))


def bce_logits_ref(x, y, r=1.0, w=1.0):
    """The definition, computed naively (fine for moderate x): -w (r y log σ + (1-y) log(1-σ))."""
    s = 1 / (1 + np.exp(-x))
    return -w * (r * y * np.log(s) + (1 - y) * np.log(1 - s))


def reduce_np(x, reduction):
    return x if reduction == "none" else (x.sum() if reduction == "sum" else x.mean())


def check(f, arrays, device, orders=(1, 2)):
    xs = [T(a, device, requires_grad=True) for a in arrays]
    for order in orders:
        assert mg.gradcheck(f, xs, order=order)


def targets_with_ignored(rng, shape, C, ignore=-100):
    t = rng.integers(0, C, shape)
    t.flat[::3] = ignore                        # every third position ignored, the rest kept
    return t


# ----------------------------------------------------------------------------- cross_entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_cross_entropy_class_targets(device, rng, reduction, eps):
    z, t = rng.standard_normal((3, 2, 4)), rng.integers(0, 4, (3, 2))
    got = mg.cross_entropy(T(z, device), mg.tensor(t, device=device), reduction, label_smoothing=eps)
    np.testing.assert_allclose(got.numpy(), ce_ref(z, t, reduction, eps), rtol=1e-12)
    targets = mg.tensor(t, device=device)
    check(lambda a: mg.cross_entropy(a, targets, reduction, label_smoothing=eps), [z], device)


def test_cross_entropy_smoothing_by_hand(device):
    """p = (1/4, 3/4), target 0, ε = 0.5: 0.5·log 4 + 0.25·(log 4 + log 4/3)."""
    z = np.log([[1.0, 3.0]])
    got = mg.cross_entropy(T(z, device), [0], label_smoothing=0.5).item()
    assert got == pytest.approx(0.5 * np.log(4) + 0.25 * (np.log(4) + np.log(4 / 3)), rel=1e-14)
    # ε = 1: the target is ignored entirely, only the uniform part is left
    assert mg.cross_entropy(T(z, device), [0], label_smoothing=1.0).item() == pytest.approx(
        0.5 * (np.log(4) + np.log(4 / 3)), rel=1e-14)


def test_smoothing_equals_smoothed_one_hot_targets(device, rng):
    """Label smoothing on class indices = cross-entropy against (1-ε)·onehot + ε/C (PyTorch's docs)."""
    z, t, eps = rng.standard_normal((5, 3)), rng.integers(0, 3, 5), 0.2
    q = (1 - eps) * np.eye(3)[t] + eps / 3
    a = mg.cross_entropy(T(z, device), mg.tensor(t, device=device), label_smoothing=eps)
    b = mg.cross_entropy(T(z, device), T(q, device))
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_ignore_index(device, rng, reduction):
    z, t = rng.standard_normal((2, 3, 4)), targets_with_ignored(rng, (2, 3), 4)
    targets = mg.tensor(t, device=device)
    got = mg.cross_entropy(T(z, device), targets, reduction, ignore_index=-100)
    want = ce_ref(z, t, reduction, ignore=-100)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    if reduction == "mean":                     # the count is the kept positions (4 of 6), not all
        kept = t != -100
        np.testing.assert_allclose(got.numpy(), -log_softmax_np(z)[kept, t[kept]].sum() / 4, rtol=1e-12)
    if reduction == "none":
        assert np.all(got.numpy()[t == -100] == 0)
    check(lambda a: mg.cross_entropy(a, targets, reduction, ignore_index=-100), [z], device)


def test_ignore_index_a_real_class(device, rng):
    """ignore_index may name an ordinary class (PyTorch allows it): its positions drop out."""
    z, t = rng.standard_normal((6, 3)), np.array([0, 1, 2, 1, 0, 1])
    got = mg.cross_entropy(T(z, device), mg.tensor(t, device=device), ignore_index=1)
    np.testing.assert_allclose(got.numpy(), ce_ref(z, t, ignore=1), rtol=1e-12)
    np.testing.assert_allclose(got.numpy(), -log_softmax_np(z)[[0, 2, 4], [0, 2, 0]].mean(), rtol=1e-12)


def test_everything_ignored_gives_nan_like_pytorch(device):
    z = T(np.zeros((3, 2)), device, requires_grad=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isnan(mg.cross_entropy(z, [-100, -100, -100], ignore_index=-100).item())
        assert mg.cross_entropy(z, [-100, -100, -100], "sum", ignore_index=-100).item() == 0
        none = mg.cross_entropy(z, [-100, -100, -100], "none", ignore_index=-100)
    np.testing.assert_array_equal(none.numpy(), np.zeros(3))


def test_ignore_index_default_is_none(device):
    """Nothing is ignored unless asked: -100 is then an ordinary (here out-of-range) index."""
    z = T(np.zeros((2, 3)), device)
    assert mg.cross_entropy(z, [0, 2]).item() == pytest.approx(np.log(3))
    if device != "cuda":                       # CuPy wraps out-of-range indices instead of raising
        with pytest.raises(IndexError):
            mg.cross_entropy(z, [0, -100])
    assert mg.cross_entropy(z, [0, -100], ignore_index=-100).item() == pytest.approx(np.log(3))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.25])
def test_cross_entropy_class_weight(device, rng, reduction, eps):
    """Class weights with ignore_index and smoothing together, against PyTorch's source formula;
    the gradient also flows to the weight."""
    z, t, w = rng.standard_normal((7, 3)), targets_with_ignored(rng, 7, 3), rng.uniform(0.5, 2, 3)
    targets = mg.tensor(t, device=device)
    got = mg.cross_entropy(T(z, device), targets, reduction, label_smoothing=eps, ignore_index=-100,
                           weight=T(w, device))
    np.testing.assert_allclose(got.numpy(), ce_ref(z, t, reduction, eps, -100, w), rtol=1e-12)
    if reduction == "mean" and eps == 0:        # Σ w[t]·nll / Σ w[t] over the kept rows
        kept = t != -100
        nll = -log_softmax_np(z)[kept, t[kept]]
        np.testing.assert_allclose(got.numpy(), (w[t[kept]] * nll).sum() / w[t[kept]].sum(), rtol=1e-12)
    check(lambda a, b: mg.cross_entropy(a, targets, reduction, label_smoothing=eps, ignore_index=-100,
                                        weight=b), [z, w], device)


def test_weight_without_ignore_index(device, rng):
    z, t, w = rng.standard_normal((4, 3)), rng.integers(0, 3, 4), [1.0, 2.0, 0.5]
    got = mg.cross_entropy(T(z, device), mg.tensor(t, device=device), weight=w)   # a plain list
    np.testing.assert_allclose(got.numpy(), ce_ref(z, t, w=np.array(w)), rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("eps", [0.0, 0.4])
def test_cross_entropy_probability_targets(device, rng, reduction, eps):
    z = rng.standard_normal((2, 3, 4))
    y = np.exp(rng.standard_normal((2, 3, 4)))
    y /= y.sum(-1, keepdims=True)
    w = rng.uniform(0.5, 2, 4)
    got = mg.cross_entropy(T(z, device), T(y, device), reduction, label_smoothing=eps)
    np.testing.assert_allclose(got.numpy(), ce_prob_ref(z, y, reduction, eps), rtol=1e-12)
    got = mg.cross_entropy(T(z, device), T(y, device), reduction, label_smoothing=eps, weight=T(w, device))
    np.testing.assert_allclose(got.numpy(), ce_prob_ref(z, y, reduction, eps, w), rtol=1e-12)
    # gradients to logits and targets (and weight), first and second order
    check(lambda a, b: mg.cross_entropy(a, b, reduction, label_smoothing=eps), [z, y], device)
    check(lambda a, b, c: mg.cross_entropy(a, b, reduction, label_smoothing=eps, weight=c), [z, y, w],
          device, orders=(1,))


def test_probability_targets_closed_form_gradient(device, rng):
    """d/dz mean_i(-Σ_c y_ic log softmax(z_i)_c) = (softmax(z) - y) / N when rows of y sum to 1."""
    z, y = rng.standard_normal((5, 3)), rng.dirichlet(np.ones(3), 5)
    Z = T(z, device, True)
    mg.cross_entropy(Z, T(y, device)).backward()
    p = np.exp(log_softmax_np(z))
    np.testing.assert_allclose(Z.grad.numpy(), (p - y) / 5, rtol=1e-10, atol=1e-15)


def test_host_probability_targets_take_the_logits_dtype(device, rng):
    z = mg.tensor(rng.standard_normal((3, 4)).astype(np.float32), device=device)
    y = rng.dirichlet(np.ones(4), 3)                          # float64 host data: converted
    got = mg.cross_entropy(z, y)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), ce_prob_ref(z.numpy().astype(np.float64), y), rtol=1e-5)


def test_one_position_logits(device, rng):
    """Logits of shape (C,) with a 0-d target, as PyTorch allows."""
    z = rng.standard_normal(4)
    got = mg.cross_entropy(T(z, device), mg.tensor(np.int64(2), device=device), label_smoothing=0.1)
    np.testing.assert_allclose(got.numpy(), ce_ref(z[None], [2], eps=0.1), rtol=1e-12)


# ----------------------------------------------------------------------------- nll_loss
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(device, rng, reduction):
    x, t, w = rng.standard_normal((3, 2, 5)), targets_with_ignored(rng, (3, 2), 5), rng.uniform(0.5, 2, 5)
    targets = mg.tensor(t, device=device)
    kept = t != -100
    per = np.where(kept, -np.take_along_axis(x, np.where(kept, t, 0)[..., None], -1)[..., 0], 0.0)
    got = mg.nll_loss(T(x, device), targets, reduction, ignore_index=-100)
    want = per if reduction == "none" else (per.sum() if reduction == "sum" else per.sum() / kept.sum())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    wt = np.where(kept, w[np.where(kept, t, 0)], 0.0)
    got = mg.nll_loss(T(x, device), targets, reduction, ignore_index=-100, weight=T(w, device))
    want = wt * per if reduction == "none" else ((wt * per).sum() / (1 if reduction == "sum" else wt.sum()))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    check(lambda a, b: mg.nll_loss(a, targets, reduction, ignore_index=-100, weight=b), [x, w], device)
    plain = mg.tensor(np.where(kept, t, 1), device=device)
    check(lambda a: mg.nll_loss(a, plain, reduction), [x], device)


def test_cross_entropy_is_nll_of_log_softmax(device, rng):
    z, t = rng.standard_normal((4, 3)), mg.tensor(rng.integers(0, 3, 4), device=device)
    a = mg.cross_entropy(T(z, device), t, "none")
    b = mg.nll_loss(mg.log_softmax(T(z, device), -1), t, "none")
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ----------------------------------------------------------------------------- binary cross-entropy
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy(device, rng, reduction):
    p, y, w = rng.uniform(0.1, 0.9, (3, 4)), rng.uniform(0, 1, (3, 4)), rng.uniform(0.5, 2, 4)
    got = mg.binary_cross_entropy(T(p, device), T(y, device), reduction)
    np.testing.assert_allclose(got.numpy(), reduce_np(bce_ref(p, y), reduction), rtol=1e-12)
    got = mg.binary_cross_entropy(T(p, device), T(y, device), reduction, weight=T(w, device))
    np.testing.assert_allclose(got.numpy(), reduce_np(bce_ref(p, y, w), reduction), rtol=1e-12)
    check(lambda a, b: mg.binary_cross_entropy(a, b, reduction), [p, y], device)      # to p and y
    check(lambda a, b: mg.binary_cross_entropy(a, T(y, device), reduction, weight=b), [p, w], device,
          orders=(1,))


def test_binary_cross_entropy_clamps_like_pytorch(device):
    """log clamped at -100: p = 0 with y = 1 costs 100.  The gradient is PyTorch's
    (p - y) / max(p(1 - p), 1e-12): finite (±1e12) where the log would be infinite."""
    p = T([0.0, 0.0, 1.0, 1.0, 1e-50], device, requires_grad=True)
    y = T([1.0, 0.0, 0.0, 1.0, 1.0], device, requires_grad=True)
    loss = mg.binary_cross_entropy(p, y, "none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 0.0, 100.0, 0.0, 100.0])
    loss.sum().backward()
    np.testing.assert_allclose(p.grad.numpy(), [-1e12, 0.0, 1e12, 0.0, -1e12], rtol=1e-12)
    # d/dy = L(1-p) - L(p) with L = max(log, -100): finite too
    np.testing.assert_allclose(y.grad.numpy(), [100.0, 100.0, -100.0, -100.0, 100.0], rtol=1e-12)


def test_binary_cross_entropy_gradient_closed_form(device, rng):
    p, y = rng.uniform(0.05, 0.95, 6), rng.integers(0, 2, 6).astype(float)
    P = T(p, device, True)
    mg.binary_cross_entropy(P, y).backward()                     # host targets, converted
    np.testing.assert_allclose(P.grad.numpy(), (-y / p + (1 - y) / (1 - p)) / 6, rtol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_binary_cross_entropy_with_logits(device, rng, reduction):
    x, y = rng.uniform(-4, 4, (3, 4)), rng.uniform(0, 1, (3, 4))
    r, w = rng.uniform(0.5, 3, 4), rng.uniform(0.5, 2, (3, 1))
    got = mg.binary_cross_entropy_with_logits(T(x, device), T(y, device), reduction)
    np.testing.assert_allclose(got.numpy(), reduce_np(bce_logits_ref(x, y), reduction), rtol=1e-10)
    got = mg.binary_cross_entropy_with_logits(T(x, device), T(y, device), reduction, pos_weight=T(r, device),
                                              weight=T(w, device))
    np.testing.assert_allclose(got.numpy(), reduce_np(bce_logits_ref(x, y, r, w), reduction), rtol=1e-10)
    check(lambda a, b: mg.binary_cross_entropy_with_logits(a, b, reduction), [x, y], device)
    check(lambda a, b, c: mg.binary_cross_entropy_with_logits(a, b, reduction, pos_weight=c), [x, y, r], device)


def test_with_logits_equals_bce_of_sigmoid(device, rng):
    x, y = rng.uniform(-3, 3, 8), rng.uniform(0, 1, 8)
    a = mg.binary_cross_entropy_with_logits(T(x, device), T(y, device), "none")
    b = mg.binary_cross_entropy(mg.sigmoid(T(x, device)), T(y, device), "none")
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_with_logits_is_finite_far_out(device, dtype):
    """x = ±1000: the loss is |x| when the sign is wrong (times pos_weight for y = 1), 0 when right;
    the derivative (1-y) - (1+(r-1)y)(1-σ(x)) is 1, -r or 0, never NaN or inf."""
    x = mg.tensor(np.array([1000.0, -1000.0, 1000.0, -1000.0], dtype=dtype), device=device, requires_grad=True)
    y = mg.tensor(np.array([0.0, 1.0, 1.0, 0.0], dtype=dtype), device=device)
    loss = mg.binary_cross_entropy_with_logits(x, y, "none", pos_weight=2.0)
    np.testing.assert_array_equal(loss.numpy(), [1000.0, 2000.0, 0.0, 0.0])
    (g,) = mg.grad(loss.sum(), [x], create_graph=True)
    np.testing.assert_array_equal(g.numpy(), [1.0, -2.0, 0.0, 0.0])
    (h,) = mg.grad(g.sum(), [x])                                  # second derivative: σ'(x) ≈ 0 there
    assert np.all(np.isfinite(h.numpy())) and np.all(np.abs(h.numpy()) < 1e-30)


# ----------------------------------------------------------------------------- mse
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse(device, rng, reduction):
    p, y = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    got = mg.mse(T(p, device), T(y, device), reduction)
    np.testing.assert_allclose(got.numpy(), reduce_np((p - y) ** 2, reduction), rtol=1e-12)
    check(lambda a, b: mg.mse(a, b, reduction), [p, y], device)
    P = T(p, device, True)
    mg.mse(P, y).backward()                                       # host target, lifted
    np.testing.assert_allclose(P.grad.numpy(), 2 * (p - y) / p.size, rtol=1e-12)


# ----------------------------------------------------------------------------- errors
def test_errors_say_what_was_wrong_and_what_is_allowed(device):
    z, p = T(np.zeros((2, 3)), device), T(np.full((2, 3), 0.5), device)
    t = mg.tensor([0, 1], device=device)
    cases = [
        (lambda: mg.cross_entropy(z, t, "avg"), ValueError, r"reduction must be 'mean', 'sum' or 'none', got 'avg'"),
        (lambda: mg.cross_entropy(z, t, T([1.0, 2.0, 3.0], device)), ValueError, r"not weight as in PyTorch"),
        (lambda: mg.nll_loss(z, t, "avg"), ValueError, r"nll_loss: reduction must be"),
        (lambda: mg.binary_cross_entropy(p, p, "Mean"), ValueError, r"reduction must be"),
        (lambda: mg.binary_cross_entropy_with_logits(z, p, None), ValueError, r"reduction must be"),
        (lambda: mg.mse(z, z, "avg"), ValueError, r"mse: reduction must be"),
        (lambda: mg.cross_entropy(z, [0, 1, 2]), ValueError, r"needs integer targets of shape \(2,\), got \(3,\)"),
        (lambda: mg.cross_entropy(z, np.zeros((2, 4))), ValueError, r"probability targets must have the shape of the logits"),
        (lambda: mg.cross_entropy(z, np.array([True, False])), TypeError, r"integer class indices .* or floating probabilities"),
        (lambda: mg.cross_entropy(z, t, label_smoothing=1.5), ValueError, r"label_smoothing must be a number in \[0, 1\], got 1.5"),
        (lambda: mg.cross_entropy(z, t, label_smoothing=-0.1), ValueError, r"label_smoothing must be"),
        (lambda: mg.cross_entropy(z, t, label_smoothing=float("nan")), ValueError, r"label_smoothing must be"),
        (lambda: mg.cross_entropy(z, p, ignore_index=-100), ValueError, r"ignore_index applies to integer class targets only"),
        (lambda: mg.cross_entropy(z, t, ignore_index=1.5), TypeError, r"ignore_index must be an int or None"),
        (lambda: mg.cross_entropy(z, t, weight=[1.0, 2.0]), ValueError, r"one entry per class, shape \(3,\), got \(2,\)"),
        (lambda: mg.cross_entropy(z, p.astype(np.float32)), TypeError, r"dtype float32, the input float64"),
        (lambda: mg.cross_entropy(t, t), TypeError, r"logits must be a floating tensor"),
        (lambda: mg.cross_entropy(T(1.0, device), t), ValueError, r"need a class axis"),
        (lambda: mg.nll_loss(z, p), TypeError, r"nll_loss: targets must be integer class indices, got dtype float64"),
        (lambda: mg.binary_cross_entropy(p, np.ones(3)), ValueError, r"targets must have the input's shape \(2, 3\), got \(3,\)"),
        (lambda: mg.binary_cross_entropy_with_logits(z, p, pos_weight=np.ones(2)), ValueError,
         r"pos_weight of shape \(2,\) does not broadcast to the input's shape \(2, 3\)"),
        (lambda: mg.mse(z, np.zeros(3)), ValueError, r"mse: prediction of shape \(2, 3\) and target of shape \(3,\) differ"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()


def test_integer_labels_are_accepted_by_binary_losses(device):
    """0/1 labels as an integer tensor are constants: converted, as minigrad's promotion does."""
    x = T([0.3, -1.2], device)
    y = mg.tensor([1, 0], device=device)
    np.testing.assert_allclose(mg.binary_cross_entropy_with_logits(x, y, "none").numpy(),
                               bce_logits_ref(np.array([0.3, -1.2]), np.array([1.0, 0.0])), rtol=1e-12)


# ----------------------------------------------------------------------------- cost, tracing
def test_default_path_is_as_cheap_as_by_hand(device, rng):
    """Integer targets, "mean": log_softmax, reshape, one gather, negation, mean and nothing more.
    The traced program, forward and backward, equals the one of that composition written out."""
    def ours(z, t):
        loss = mg.cross_entropy(z, t)
        loss.backward()
        return loss

    def by_hand(z, t):
        n = t.size
        logp = mg.log_softmax(z, -1).reshape(n, z.shape[-1])
        loss = (-logp[z.backend.arange(n), t.data.reshape(n)]).mean()
        loss.backward()
        return loss

    def program(f, **options):
        z = T(rng.standard_normal((5, 4, 3)), device, requires_grad=True)     # fresh: no .grad yet
        t = mg.tensor(rng.integers(0, 3, (5, 4)), device=device)
        return mg.trace(f).code(z, t).split("\n", 1)[1]                      # without the def line

    cheap = program(ours)
    assert cheap == program(by_hand)
    assert "where" not in cheap and "!=" not in cheap
    masked = program(lambda z, t: mg.cross_entropy(z, t, ignore_index=-100))
    assert "where" in masked and "!=" in masked                  # the mask, only when asked for


def test_masked_losses_trace_and_replay(device, rng):
    """ignore_index, weights and smoothing read no value (the trace would refuse): a replay on new
    targets, with other positions ignored, equals the eager computation, gradients included."""
    def update(z, t, w):
        loss = mg.cross_entropy(z, t, label_smoothing=0.1, ignore_index=-100, weight=w)
        loss.backward()
        return loss

    step = mg.trace(update)
    w = T(rng.uniform(0.5, 2, 3), device)
    for _ in range(3):
        z, t = rng.standard_normal((6, 3)), mg.tensor(targets_with_ignored(rng, 6, 3), device=device)
        eager, traced = T(z, device, True), T(z, device, True)
        want, got = update(eager, t, w), step(traced, t, w)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        np.testing.assert_array_equal(traced.grad.numpy(), eager.grad.numpy())
    assert step.programs == 1


def test_names_are_exported():
    for name in mg.losses.__all__:
        assert getattr(mg, name) is getattr(mg.losses, name)


@pytest.mark.parametrize("targets, low, high", [([2, -1], -1, 2), ([3, 0], 0, 3), ([-100, 1], -100, 1)])
def test_class_targets_outside_the_classes_are_refused_in_one_line(targets, low, high):
    """A target of -1 silently picked the last class (NumPy's negative index; PyTorch refuses):
    every target must be a class number in [0, C), unless it is the ignore_index.  On the CPU
    only: elsewhere reading the targets' range would wait for the device in every update."""
    device = "cpu"
    logits = T([[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]], device, requires_grad=True)
    t = mg.tensor(np.array(targets), device=device)
    for loss in (lambda: mg.cross_entropy(logits, t), lambda: mg.nll_loss(mg.log_softmax(logits, -1), t),
                 lambda: mg.nn.CrossEntropyLoss()(logits, t)):
        with pytest.raises(IndexError, match=rf"must be in \[0, 3\).*got values from {low} to {high}") as e:
            loss()
        assert "\n" not in str(e.value)
    ignored = mg.cross_entropy(logits, mg.tensor(np.array([2, -100]), device=device), ignore_index=-100)
    assert ignored.item() == pytest.approx(math.log(math.exp(1) + math.exp(2) + math.exp(3)) - 3, rel=1e-12)
