"""Tests that kill the mutants the rest of the engine suite let survive.

A mutation-testing run (one small change at a time to each primitive's forward and VJP in
minigrad/: a VJP scaled by 1.001 or negated, a term of a sum dropped, ``keepdims``/``axis``
changed, a forward perturbed by one part in 10⁷, a constant or default changed, a comparison
made strict or loose) found the changes below that no engine test noticed.  Each test here
fails with its mutant and passes without it.  Expected values come from closed forms or NumPy
computed by hand, never from minigrad; derivatives are also checked against central
differences in float64 (``mg.gradcheck``).
"""
import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from conftest import T
from minigrad.nn import Parameter


# ----------------------------------------------------------------------- logsumexp, keepdims=False
def test_logsumexp_squeezes_only_the_reduced_axis(device):
    """ops._logsumexp, forward: ``xp.squeeze(out, axis=axis)`` with ``axis=None`` would drop every
    size-1 axis, not only the reduced one: shape (1, 3) over axis 1 must give (1,), not ()."""
    x = np.array([[0.5, -1.0, 2.0]])
    out = mg.logsumexp(T(x, device), axis=1)
    assert out.shape == (1,)
    np.testing.assert_allclose(out.numpy(), [math.log(math.exp(0.5) + math.exp(-1.0) + math.exp(2.0))], rtol=1e-14)
    x3 = np.arange(6.0).reshape(1, 3, 2) / 4
    out3 = mg.logsumexp(T(x3, device), axis=(0, 2))            # shape (3,), middle axis kept
    assert out3.shape == (3,)
    np.testing.assert_allclose(out3.numpy(), np.log(np.exp(x3).sum(axis=(0, 2))), rtol=1e-14)


# ----------------------------------------------------------------------- in-place change detection
def test_a_change_made_before_the_forward_is_not_reported(device):
    """autograd.Node.check_versions: an input changed in place *before* the node kept it has a
    stamp equal to the node's ``changes``; only a later stamp (``>``, not ``>=``) means the saved
    value is stale.  Another change anywhere afterwards makes backward look at the stamps."""
    a = T([1.0, 2.0], device, requires_grad=True)
    x = T([3.0, 4.0], device)
    x.data = x.data + 1.0                      # changed in place: x is [4, 5] from now on
    y = a * x                                  # mul keeps x, after its change
    other = T([0.0], device)
    other.data = other.data + 1.0              # an unrelated change: CHANGES moves on
    y.sum().backward()                         # d/da Σ a x = x
    np.testing.assert_array_equal(a.grad.numpy(), [4.0, 5.0])
    x.data = x.data * 2                        # and a change after the forward is still caught
    y = a * x
    x.data = x.data + 0.0
    with pytest.raises(RuntimeError, match="changed in place"):
        y.sum().backward()


def test_a_saved_output_is_not_reported_changed_in_a_fresh_process():
    """autograd.Node.check_versions on a saved output: a fresh output's stamp is 0, and in a new
    process the count of changes is 0 too when the first node is made; only a later stamp
    (``>``, not ``>=``) means the output was changed.  Needs a process of its own."""
    script = ("import minigrad as mg\n"
              "a = mg.tensor([0.0, 1.0], requires_grad=True)\n"
              "y = mg.exp(a)\n"                       # exp keeps its output (d/da eᵃ = eᵃ)
              "b = mg.tensor([1.0])\n"
              "b.data = b.data + 1.0\n"               # an unrelated change after the forward
              "y.sum().backward()\n"
              "print(repr(a.grad.numpy().tolist()))\n")
    root = Path(mg.__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root,
                          env={**os.environ, "PYTHONPATH": str(root)}, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert eval(done.stdout.strip()) == [1.0, math.e]


# ----------------------------------------------------------------------- binary cross-entropy at the clamp
def test_binary_cross_entropy_mixed_second_derivative_at_the_clamp(device):
    """losses._clamped_log_op's VJP: d/dp max(log p, -100) is 1/p where log p > -100 and 0 where
    the clamp holds (p = 0), with 1, not p, as the divisor there (so its own derivative is not
    0 · ∞ = NaN).  Seen through the mixed derivative of binary cross-entropy:

        ∂ℓ/∂y = L(1 - p) - L(p),   ∂²ℓ/∂p∂y = -L'(1 - p) - L'(p)
              = -1/(1 - p) - 1/p  inside (0, 1),   -1 at p = 0 and at p = 1 (one side clamped).
    """
    p_host = np.array([0.0, 0.25, 0.5, 1.0])
    p = T(p_host, device, requires_grad=True)
    y = T([0.5, 0.5, 0.5, 0.5], device, requires_grad=True)
    loss = mg.binary_cross_entropy(p, y, reduction="sum")
    (gy,) = mg.grad(loss, [y], create_graph=True)
    np.testing.assert_allclose(gy.numpy(), [0.0 - -100.0, math.log(0.75) - math.log(0.25), 0.0, -100.0 - 0.0],
                               rtol=1e-14)
    (gpy,) = mg.grad(gy.sum(), [p])
    expected = [-1.0, -1 / 0.75 - 1 / 0.25, -4.0, -1.0]
    np.testing.assert_allclose(gpy.numpy(), expected, rtol=1e-12)


def test_binary_cross_entropy_third_derivative_at_the_clamp_is_finite(device):
    """losses._clamped_log_op's VJP divides by 1 where the clamp holds (``where(out > -100, p,
    1.0)``): dividing by p = 0 there would be discarded in value but give 0 · ∞ = NaN one
    derivative later.  ∂³ℓ/∂p²∂y = 1/p² - 1/(1 - p)² inside (0, 1); at p = 0 the clamped L(p)
    contributes nothing (-1), at p = 1 the clamped L(1 - p) does not (+1)."""
    p = T([0.0, 0.25, 0.5, 1.0], device, requires_grad=True)
    y = T([0.5, 0.5, 0.5, 0.5], device, requires_grad=True)
    (gy,) = mg.grad(mg.binary_cross_entropy(p, y, reduction="sum"), [y], create_graph=True)
    (gpy,) = mg.grad(gy.sum(), [p], create_graph=True)
    (gppy,) = mg.grad(gpy.sum(), [p])
    np.testing.assert_allclose(gppy.numpy(), [-1.0, 16 - 1 / 0.75 ** 2, 0.0, 1.0], rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------- boundaries of argument checks
@pytest.mark.parametrize("reduce", ["sum", "mean", "max", "logsumexp"])
def test_axis_equal_to_ndim_is_refused(device, reduce):
    """ops._axes: an axis must satisfy -ndim <= axis < ndim.  Accepting axis == ndim would wrap it
    around (ndim % ndim = 0) and silently reduce over axis 0."""
    x = T(np.arange(6.0).reshape(2, 3), device)
    with pytest.raises(ValueError, match="axis 2 is out of range for a tensor with 2 dimensions"):
        getattr(mg, reduce)(x, axis=2)
    np.testing.assert_allclose(mg.sum(x, axis=-2).numpy(), [3.0, 5.0, 7.0])
    v = T([1.0, 2.0], device)                                  # 1-D: axis 1 is out of range too
    with pytest.raises(ValueError, match="axis 1 is out of range for a tensor with 1 dimensions"):
        getattr(mg, reduce)(v, axis=1)


def test_pad_may_cut_a_whole_dimension_away(device):
    """manipulation.pad: negative padding may remove exactly all n elements (``b + a > n`` is
    refused, ``b + a == n`` is not), as narrowing to length 0 is allowed."""
    x = T([1.0, 2.0, 3.0], device, requires_grad=True)
    out = mg.pad(x, (-3, 2), value=7.0)                  # all 3 cut, then 2 added
    np.testing.assert_array_equal(out.numpy(), [7.0, 7.0])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
    assert mg.pad(x, (-1, -2)).shape == (0,)
    with pytest.raises(ValueError, match="removes more than the 3 elements"):
        mg.pad(x, (-2, -2))


def test_zero_repetitions_give_empty_results(device):
    """tile with a rep of 0 and repeat_interleave with repeats=0 are allowed (``>= 0``), as in
    NumPy and PyTorch: an empty axis, and a gradient of zeros."""
    x = T([[1.0, 2.0], [3.0, 4.0]], device, requires_grad=True)
    t = mg.tile(x, (0, 2))
    assert t.shape == np.tile(np.ones((2, 2)), (0, 2)).shape == (0, 4)
    r = mg.repeat_interleave(x, 0, dim=1)
    assert r.shape == (2, 0)
    (t.sum() + r.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 2)))


def test_topk_takes_k_from_0_to_n(device):
    """topk accepts 0 <= k <= n, both ends included."""
    x = T([3.0, 1.0, 2.0], device, requires_grad=True)
    assert mg.topk(x, 0).values.shape == (0,)
    v, i = mg.topk(x, 3)
    np.testing.assert_array_equal(v.numpy(), [3.0, 2.0, 1.0])
    np.testing.assert_array_equal(i.numpy(), [0, 2, 1])
    (v * T([1.0, 10.0, 100.0], device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 100.0, 10.0])
    with pytest.raises(ValueError, match=r"k must be an int in \[0, 3\]"):
        mg.topk(x, 4)


# ----------------------------------------------------------------------- checkpoint limits, at the limit
def test_checkpoint_names_of_1_to_256_characters(tmp_path):
    """nn.save and nn.load take keys of 1 to 256 characters, both ends included; an empty key
    (an .npz member named ".npy", which np.savez can write) is refused by load."""
    path = tmp_path / "long.npz"
    mg.save({"k" * 256: np.arange(3.0)}, path)
    np.testing.assert_array_equal(mg.load(path)["k" * 256], [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="1 to 256 printable"):
        mg.save({"k" * 257: np.arange(3.0)}, tmp_path / "longer.npz")
    with pytest.raises(TypeError, match="1 to 256 printable"):
        mg.save({"": np.arange(3.0)}, tmp_path / "empty.npz")
    empty = tmp_path / "empty_key.npz"
    np.savez(empty, **{"": np.arange(3.0)})
    with pytest.raises(mg.CheckpointError, match="not named <key>.npy"):
        mg.load(empty)


def test_checkpoint_limits_are_inclusive(tmp_path, monkeypatch):
    """nn.MAX_ARRAYS, MAX_CHECKPOINT_BYTES and MAX_TEXT_CHARS are the largest values accepted
    (``>`` refuses, not ``>=``).  The sizes come from the zip directory (zipfile), not minigrad."""
    path = tmp_path / "three.npz"
    mg.save({"a": np.zeros(2), "b": np.ones(3), "meta": np.array("12345678")}, path)
    with zipfile.ZipFile(path) as z:
        total = sum(i.file_size for i in z.infolist())
    monkeypatch.setattr(mg.nn, "MAX_ARRAYS", 3)
    monkeypatch.setattr(mg.nn, "MAX_CHECKPOINT_BYTES", total)
    monkeypatch.setattr(mg.nn, "MAX_TEXT_CHARS", 8)
    state = mg.load(path)                                        # every limit met exactly
    assert str(state["meta"]) == "12345678" and state["b"].tolist() == [1.0, 1.0, 1.0]
    for name, value, message in (("MAX_ARRAYS", 2, "more than MAX_ARRAYS"),
                                 ("MAX_CHECKPOINT_BYTES", total - 1, "more than MAX_CHECKPOINT_BYTES"),
                                 ("MAX_TEXT_CHARS", 7, "more than MAX_TEXT_CHARS")):
        with monkeypatch.context() as m:
            m.setattr(mg.nn, name, value)
            with pytest.raises(mg.CheckpointError, match=message):
                mg.load(path)
    mg.save({"meta": np.array("12345678")}, tmp_path / "text.npz")   # save takes 8 characters too
    with pytest.raises(TypeError, match="MAX_TEXT_CHARS"):
        mg.save({"meta": np.array("123456789")}, tmp_path / "text9.npz")


def test_checkpoint_member_of_exactly_one_mebibyte_may_inflate_freely(tmp_path):
    """nn._check_npz: a deflated member may inflate more than MAX_RATIO times if it is at most
    1 MiB (``file_size > max(2**20, ...)`` refuses, equality does not).  A float64 array with a
    128-byte .npy header and 2**20 - 128 bytes of zeros is exactly 2**20 bytes inflated."""
    path = tmp_path / "zeros.npz"
    np.savez_compressed(path, z=np.zeros((2 ** 20 - 128) // 8))
    with zipfile.ZipFile(path) as z:
        (info,) = z.infolist()
    assert info.file_size == 2 ** 20 and info.file_size > 100 * info.compress_size   # the case meant
    assert mg.load(path)["z"].shape == ((2 ** 20 - 128) // 8,)


def test_checkpoint_with_an_empty_array(tmp_path):
    """nn._check_npz: shapes with a 0 are fine (only negative sizes are refused)."""
    path = tmp_path / "empty.npz"
    mg.save({"e": np.zeros((0, 3)), "w": np.ones((2, 0))}, path)
    state = mg.load(path)
    assert state["e"].shape == (0, 3) and state["w"].shape == (2, 0)


# ----------------------------------------------------------------------- ties share the gradient
@pytest.mark.parametrize("name", ["minimum", "maximum"])
def test_ties_share_the_gradient_half_each(device, name):
    """ops.minimum / ops.maximum VJPs: 1 to the operand selected, 0.5 each on a tie, 0 to the
    other (``_share(b < a, a == b)``: a strict comparison, or a tie would give 1 + ... to b)."""
    a = T([1.0, 2.0, 5.0], device, requires_grad=True)
    b = T([1.0, 3.0, 4.0], device, requires_grad=True)
    w = T([1.0, 10.0, 100.0], device)
    (getattr(mg, name)(a, b) * w).sum().backward()
    first = [0.5, 10.0, 0.0] if name == "minimum" else [0.5, 0.0, 100.0]
    np.testing.assert_array_equal(a.grad.numpy(), first)
    np.testing.assert_array_equal(b.grad.numpy(), np.array([1.0, 10.0, 100.0]) - first)


def test_permute_refuses_an_axis_equal_to_ndim(device):
    """ops.permute: each axis in -ndim..ndim-1.  Axis ndim would wrap to 0 (ndim % ndim) and
    (2, 1) would pass for an ordering of a 2-D tensor's axes."""
    x = T(np.arange(6.0).reshape(2, 3), device)
    with pytest.raises(ValueError, match=r"permute: \(2, 1\) is not an ordering of the 2 axes"):
        mg.permute(x, 2, 1)
    np.testing.assert_array_equal(mg.permute(x, -1, 0).numpy(), np.arange(6.0).reshape(2, 3).T)
    np.testing.assert_array_equal(mg.permute(T([1.0, 2.0], device), -1).numpy(), [1.0, 2.0])   # 1-D, axis -1


# ----------------------------------------------------------------------- softplus above its threshold
def test_softplus_default_threshold_is_20(device):
    """elementwise.softplus: with the default threshold 20 (PyTorch's), βx > 20 returns x itself
    and its derivative is exactly 1; at βx = 20 the smooth form is used:
    log(1 + e²⁰) = 20 + log1p(e⁻²⁰) and σ(20) = 1/(1 + e⁻²⁰)."""
    x = T([20.0, 20.1, 25.0], device, requires_grad=True)
    out = mg.softplus(x)
    assert out.numpy()[1] == 20.1 and out.numpy()[2] == 25.0
    np.testing.assert_allclose(out.numpy()[0], 20.0 + math.log1p(math.exp(-20.0)), rtol=1e-15)
    out.sum().backward()
    assert x.grad.numpy()[1] == 1.0 and x.grad.numpy()[2] == 1.0
    np.testing.assert_allclose(x.grad.numpy()[0], 1 / (1 + math.exp(-20.0)), rtol=1e-15)
    assert x.grad.numpy()[0] < 1.0
    y = T([10.05], device, requires_grad=True)                 # β = 2: βx = 20.1 > 20
    out = mg.softplus(y, beta=2.0)
    assert out.numpy()[0] == 10.05
    out.sum().backward()
    assert y.grad.numpy()[0] == 1.0


# ----------------------------------------------------------------------- optimizer and clipping boundaries
def test_sgd_momentum_must_be_below_one():
    """optim.SGD: momentum in [0, 1); 1 (a velocity that never decays) is refused, 0 accepted."""
    with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\), got 1"):
        mg.SGD([Parameter([1.0])], lr=0.1, momentum=1)
    p = Parameter([1.0])
    opt = mg.SGD([p], lr=0.5, momentum=0)
    p.grad = mg.tensor([2.0])
    opt.step()
    assert p.numpy().tolist() == [0.0]                        # 1 - 0.5 · 2


def test_clip_grad_norm_max_norm_must_be_positive():
    """optim.clip_grad_norm: max_norm > 0; 0 would set every gradient to 0 and is refused."""
    a = Parameter([3.0, 4.0])
    a.grad = mg.tensor([3.0, 4.0])
    with pytest.raises(ValueError, match="max_norm must be positive, got 0"):
        mg.clip_grad_norm([a], 0.0)
    assert a.grad.numpy().tolist() == [3.0, 4.0]


def test_clip_scale_at_exactly_max_norm_is_not_a_clip(device):
    """optim.clip_scale: ``clipped`` is True only where the norm exceeds max_norm (``>``); at
    equality the scale is 1 either way, but the training loop counts ``clipped`` (tasks/train.py)."""
    norms = {5.0: (1.0, False), 10.0: (0.5, True), 2.5: (1.0, False)}
    for n, (scale, clipped) in norms.items():
        norm = T(n, device)
        s, c = (norm.backend.to_host(v) for v in mg.optim.clip_scale(norm, 5.0))
        assert float(s) == scale and bool(c) is clipped, n
    a = Parameter([3.0, 4.0], device=device)                  # ||g|| = 5 = max_norm: unchanged
    a.grad = T([3.0, 4.0], device)
    assert mg.clip_grad_norm([a], 5.0).item() == 5.0
    assert a.grad.numpy().tolist() == [3.0, 4.0]


# ----------------------------------------------------------------------- erf to the last few ulps
def test_erf_matches_the_c_library_to_4_ulps(device):
    """elementwise._erf: Cody's coefficients and range boundaries are checked by comparing with
    math.erf (the C library's erf, an independent implementation) on a dense grid over all
    three ranges (|x| ≤ 0.46875, ≤ 4, > 4) and at the boundaries.  Near |x| = 4..6, erf is 1 -
    erfc with erfc ~ 1e-8..1e-17, so a coefficient of the large-|x| form that is off by 1% moves
    erf by many ulps; a tolerance of ulps (not a relative 1e-12) is needed to see it."""
    x = np.concatenate([np.linspace(-6.5, 6.5, 2601), [0.46875, -0.46875, 4.0, -4.0, 1e-300, 26.5, 27.0]])
    got = mg.erf(T(x, device)).numpy()
    ref = np.array([math.erf(v) for v in x])
    ulps = np.abs(got - ref) / np.spacing(np.abs(ref))
    assert ulps.max() <= 4, (x[np.argmax(ulps)], ulps.max())


# ----------------------------------------------------------------------- argument ranges of losses and layers
def test_label_smoothing_range_ends_at_one(device):
    """losses.cross_entropy: label_smoothing in [0, 1], 1 included (a uniform target), 1.005 refused.
    With smoothing 1 the target is 1/C for every class: ℓ = -(1/C) Σ_c log p_c."""
    logits = T([[0.0, math.log(3.0)]], device)                 # p = (1/4, 3/4)
    loss = mg.cross_entropy(logits, [1], label_smoothing=1.0)
    np.testing.assert_allclose(loss.item(), -(math.log(0.25) + math.log(0.75)) / 2, rtol=1e-14)
    with pytest.raises(ValueError, match=r"label_smoothing must be a number in \[0, 1\], got 1.005"):
        mg.cross_entropy(logits, [1], label_smoothing=1.005)


def test_linear_init_bound_is_one_over_sqrt_fan_in():
    """nn.Linear: weight and bias uniform in [-1/√in_features, 1/√in_features] (PyTorch's default); with 4000 draws the
    largest |W| comes within 1% of the bound and none exceeds it."""
    layer = mg.nn.Linear(4, 1000)
    w, b = np.abs(layer.weight.numpy()), np.abs(layer.bias.numpy())
    assert w.max() <= 0.5 and b.max() <= 0.5                   # 1/√4
    assert w.max() > 0.495 and b.max() > 0.45


# ----------------------------------------------------------------------- views share the version counter
@pytest.mark.parametrize("view", ["squeeze", "broadcast_to"])
def test_a_change_through_a_view_is_caught(device, view):
    """squeeze and broadcast_to are views (``view=True``): their output shares its input's memory
    and version counter, so changing the input in place after a node kept the view is caught.
    Without the shared counter the change would go unnoticed and the gradient be silently wrong."""
    x = T([[1.0, 2.0]], device)
    v = mg.squeeze(x, 0) if view == "squeeze" else mg.broadcast_to(x, (3, 2))
    a = T(np.ones(v.shape), device, requires_grad=True)
    y = a * v                                   # mul keeps v for the gradient of a
    x.add_(T([[10.0, 10.0]], device))           # changes v's memory too
    with pytest.raises(RuntimeError, match="changed in place"):
        y.sum().backward()


def test_a_change_to_the_input_of_a_non_view_is_harmless(device):
    """exp and add make new arrays (``view=False``, the default of ``primitive`` and ``Primitive``):
    changing their input afterwards does not touch their output, so a node that kept the output
    must not report it changed.  d/da Σ a (eˣ + (x + 1)) = eˣ + x + 1 at the old x."""
    x = T([0.0, 1.0], device)
    a = T([1.0, 1.0], device, requires_grad=True)
    e, s = mg.exp(x), x + 1.0
    y = a * e + a * s
    x.add_(T([5.0, 5.0], device))
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [1.0 + 0.0 + 1.0, math.e + 1.0 + 1.0], rtol=1e-15)


# ----------------------------------------------------------------------- defaults of the functional API
def test_grad_by_default_builds_no_graph_and_frees_it(device):
    """functional.grad: ``create_graph=False`` by default, so the result has no graph, and the
    graph is freed (``retain_graph`` defaults to ``create_graph``): a second pass is refused."""
    x = T([1.0, 2.0], device, requires_grad=True)
    y = (x * x * x).sum()
    (g,) = mg.grad(y, [x])
    np.testing.assert_array_equal(g.numpy(), [3.0, 12.0])    # 3x²
    assert not g.requires_grad
    with pytest.raises(mg.GraphReleasedError):
        mg.grad(y, [x])


def test_vjp_fn_by_default_builds_no_graph(device):
    """functional.vjp: ``vjp_fn(g)`` has ``create_graph=False`` by default (as torch.func.vjp)."""
    x = T([1.0, 2.0], device)
    out, vjp_fn = mg.vjp(lambda t: t * t, x)
    (g,) = vjp_fn(T([1.0, 1.0], device))
    np.testing.assert_array_equal(g.numpy(), [2.0, 4.0])
    assert not g.requires_grad
    (g2,) = vjp_fn(T([1.0, 1.0], device), create_graph=True)
    assert g2.requires_grad


def test_sort_and_topk_defaults(device):
    """manipulation.sort sorts ascending by default and topk takes the largest (PyTorch's
    defaults); the gradient goes back to where each value came from."""
    x = T([3.0, 1.0, 2.0], device, requires_grad=True)
    v, i = mg.sort(x)
    np.testing.assert_array_equal(v.numpy(), [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(i.numpy(), [1, 2, 0])
    (v * T([1.0, 10.0, 100.0], device)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [100.0, 1.0, 10.0])
    np.testing.assert_array_equal(mg.topk(x, 2).values.numpy(), [3.0, 2.0])
    np.testing.assert_array_equal(mg.sort(x, descending=True).values.numpy(), [3.0, 2.0, 1.0])


# ----------------------------------------------------------------------- deferred weight gradients (accumulate.Product)
def test_stacked_weight_used_at_several_steps(device):
    """accumulate: a stacked weight W (S, n, m) used at several steps (packed models) gets its
    terms x_tᵀ c_t deferred and summed as one product of stacks concatenated along their rows
    (axis -2).  W̄[s] = Σ_t x_t[s]ᵀ c_t[s], computed here with NumPy's einsum."""
    r = np.random.default_rng(7)
    xs = [r.standard_normal((2, 4, 3)) for _ in range(3)]
    cs = [r.standard_normal((2, 4, 5)) for _ in range(3)]
    W = T(r.standard_normal((2, 3, 5)), device, requires_grad=True)
    loss = None
    for x, c in zip(xs, cs):
        term = ((T(x, device) @ W) * T(c, device)).sum()
        loss = term if loss is None else loss + term
    loss.backward()
    expected = sum(np.einsum("sbn,sbm->snm", x, c) for x, c in zip(xs, cs))
    np.testing.assert_allclose(W.grad.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_weight_broadcast_over_the_batch_axis_of_a_matmul(device):
    """a (S, B, n) @ b (1, n, m): b is broadcast over S, so b̄ = Σ_s a[s]ᵀ ḡ[s], of b's shape
    (1, n, m), as in NumPy's broadcasting and PyTorch."""
    r = np.random.default_rng(8)
    a_host, c_host = r.standard_normal((2, 4, 3)), r.standard_normal((2, 4, 5))
    b = T(r.standard_normal((1, 3, 5)), device, requires_grad=True)
    ((T(a_host, device) @ b) * T(c_host, device)).sum().backward()
    assert b.grad.shape == (1, 3, 5)
    np.testing.assert_allclose(b.grad.numpy(), np.einsum("sbn,sbm->nm", a_host, c_host)[None], rtol=1e-12)


def test_module_repr_lists_parameters_and_closes():
    """nn.Module.__repr__: the class name, one line per parameter (name, shape, dtype, device), ")"."""
    assert repr(mg.nn.Linear(2, 3)) == "Linear(\n  weight: (3, 2) float64 on cpu\n  bias: (3,) float64 on cpu\n)"


@pytest.mark.parametrize("spelling, denominator", [({"unbiased": True}, 2), ({"unbiased": False}, 3),
                                                   ({"ddof": 0}, 3), ({"ddof": 2}, 1), ({}, 2)])
def test_var_corrections_by_hand(device, spelling, denominator):
    """reductions.var: x = (1, 2, 4), μ = 7/3, Σ(x - μ)² = 14/3, divided by N - correction
    (unbiased=True: 1, unbiased=False: 0, ddof as given, default 1); x̄ = 2(x - μ)/(N - c)."""
    x = T([1.0, 2.0, 4.0], device, requires_grad=True)
    v = mg.var(x, **spelling)
    np.testing.assert_allclose(v.item(), 14 / 3 / denominator, rtol=1e-15)
    v.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.array([-4 / 3, -1 / 3, 5 / 3]) * 2 / denominator, rtol=1e-14)


def test_var_refuses_two_spellings_of_the_correction(device):
    """reductions._correction: one of correction=, unbiased=, ddof= (any two are refused)."""
    x = T([1.0, 2.0, 4.0], device)
    for kwargs in ({"unbiased": True, "ddof": 1}, {"correction": 0, "ddof": 0}, {"correction": 2, "unbiased": False}):
        with pytest.raises(TypeError, match="give one of correction=, unbiased=, ddof="):
            mg.var(x, **kwargs)


# ------------------------------------------------------------- defaults and edge shapes of reductions and losses
def test_vector_norm_default_is_the_2_norm(device):
    """reductions.vector_norm: ord=2 by default; ‖(3, 4)‖ = 5 and its gradient x/‖x‖."""
    x = T([3.0, 4.0], device, requires_grad=True)
    n = mg.vector_norm(x)
    assert n.item() == 5.0
    n.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.6, 0.8], rtol=1e-15)


def test_nll_loss_of_one_unbatched_sample(device):
    """losses.nll_loss takes log-probabilities of shape (C,) with a 0-d target (PyTorch's
    unbatched form): ℓ = -log p_t."""
    logp = T(np.log([0.2, 0.5, 0.3]), device, requires_grad=True)
    loss = mg.nll_loss(logp, mg.tensor(np.int64(1), device=device))
    np.testing.assert_allclose(loss.item(), -math.log(0.5), rtol=1e-15)
    loss.backward()
    np.testing.assert_array_equal(logp.grad.numpy(), [0.0, -1.0, 0.0])


def test_cross_entropy_ignore_index_with_a_single_class(device):
    """losses._class_losses: ignored targets are replaced by a valid class (0) before indexing;
    with one class, class 0 is the only valid one.  log_softmax of one class is 0: ℓ = 0."""
    logits = T([[1.5], [-2.0]], device, requires_grad=True)
    loss = mg.cross_entropy(logits, [0, -100], ignore_index=-100, reduction="sum")
    assert loss.item() == 0.0
    loss.backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [[0.0], [0.0]])


# ----------------------------------------------------------------------- dtype promotion (ops.result_dtype)
def test_promotion_of_mixed_kinds(device):
    """ops.result_dtype, PyTorch's rules: bool < integer (signed or unsigned) < floating.
    A float tensor with an integer tensor keeps the float dtype (float32 + int64 is float32, where
    NumPy would give float64); uint8 with float64 is float64 (not a float/float mismatch); a bool
    tensor with a Python bool stays bool (NumPy's bool + is a logical or), with 1 becomes int64."""
    f32 = T([1.5], device, dtype=np.float32)
    i64 = mg.tensor(np.array([2], dtype=np.int64), device=device)
    for out in (f32 + i64, i64 + f32):
        assert out.dtype == np.float32 and out.numpy().tolist() == [3.5]
    u8 = mg.tensor(np.array([1, 2], dtype=np.uint8), device=device)
    out = u8 + T([0.5, 0.25], device)
    assert out.dtype == np.float64 and out.numpy().tolist() == [1.5, 2.25]
    flags = mg.tensor(np.array([True, False]), device=device)
    out = flags + True
    assert out.dtype == np.bool_ and out.numpy().tolist() == [True, True]
    out = flags + 1
    assert out.dtype == np.int64 and out.numpy().tolist() == [2, 1]


# ------------------------------------------------------------- defaults and one-element lists of shape functions
def test_log_softmax_and_split_default_axes(device):
    """ops.log_softmax works over the last axis by default (axis=-1) and ops.split along the first
    (axis 0), as in PyTorch and NumPy.  Row-wise log-softmax by hand: x - log Σ_row eˣ."""
    host = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, -1.0]])
    x = T(host, device)
    expected = host - np.log(np.exp(host).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(mg.log_softmax(x).numpy(), expected, rtol=1e-14)
    top, bottom = mg.split(x, [1, 1])                          # sizes as a list: one meaning in every spelling
    assert top.numpy().tolist() == [[0.0, 1.0, 2.0]] and bottom.numpy().tolist() == [[1.0, 1.0, -1.0]]


def test_concat_and_stack_of_a_single_tensor(device):
    """ops.concat / ops.stack of a one-element list: a copy, and a new axis of size 1."""
    x = T([[1.0, 2.0]], device, requires_grad=True)
    c = mg.concat([x], axis=-1)
    s = mg.stack([x], axis=-1)
    assert c.shape == (1, 2) and s.shape == (1, 2, 1)
    (c * T([[1.0, 2.0]], device)).sum().backward()
    (s * 10.0).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[11.0, 12.0]])


def test_einsum_refuses_two_arrows(device):
    """linalg._parse: at most one '->'."""
    x = T([1.0, 2.0], device)
    with pytest.raises(ValueError, match="einsum: more than one '->'"):
        mg.einsum("i->i->i", x)


def test_tril_triu_default_diagonal_is_the_main_one(device):
    """manipulation.tril / triu: diagonal=0 by default (NumPy's and PyTorch's); the gradient is
    the same mask applied to the cotangent."""
    host = np.arange(1.0, 10.0).reshape(3, 3)
    for name in ("tril", "triu"):
        x = T(host, device, requires_grad=True)
        out = getattr(mg, name)(x)
        np.testing.assert_array_equal(out.numpy(), getattr(np, name)(host))
        out.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), getattr(np, name)(np.ones((3, 3))))


def test_roll_flattened_with_a_one_element_tuple(device):
    """manipulation.roll with dims=None takes one shift, also as a 1-tuple; two are refused."""
    x = T([1.0, 2.0, 3.0, 4.0], device)
    np.testing.assert_array_equal(mg.roll(x, (1,)).numpy(), [4.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="without dims, give one shift"):
        mg.roll(x, (1, 2))


def test_one_hot_num_classes_checks(device):
    """manipulation.one_hot: num_classes = -1 infers max + 1 (also from a single index); below -1
    is refused; empty indices cannot infer it."""
    np.testing.assert_array_equal(mg.one_hot(mg.tensor(np.array([2]), device=device)).numpy(), [[0, 0, 1]])
    with pytest.raises(ValueError, match="num_classes must be a non-negative int or -1, got -2"):
        mg.one_hot(mg.tensor(np.array([1]), device=device), -2)
    with pytest.raises(ValueError, match="cannot infer num_classes from empty indices"):
        mg.one_hot(mg.tensor(np.zeros(0, dtype=np.int64), device=device))


def test_pad_refuses_more_pairs_than_dimensions(device):
    """manipulation.pad: at most one (before, after) pair per dimension."""
    x = T([[1.0, 2.0]], device)
    assert mg.pad(x, (1, 1, 1, 1)).shape == (3, 4)
    with pytest.raises(ValueError, match=r"pad: give an even number \(at most 2 x 2 dimensions\)"):
        mg.pad(x, (1, 1, 1, 1, 1, 1))


def test_take_along_axis_reports_indices_that_do_not_broadcast(device):
    """manipulation.take_along_axis: the axes other than ``axis`` must broadcast; the check
    names both shapes (one line, not NumPy's message)."""
    x = T(np.zeros((2, 3, 4)), device)
    idx = mg.tensor(np.zeros((1, 5, 4), dtype=np.int64), device=device)
    with pytest.raises(ValueError, match=r"take_along_axis: indices of shape \(1, 5, 4\) do not broadcast"):
        mg.take_along_axis(x, idx, 0)
