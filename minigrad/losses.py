"""Loss functions: cross-entropy, negative log-likelihood, binary cross-entropy, squared error.

They follow PyTorch's ``torch.nn.functional`` definitions (formulas, reductions, label
smoothing, class weights), with two differences, both said again where they apply:

* **Classes are on the last axis.**  ``logits`` has shape ``(..., C)`` and integer targets
  ``(...)``: the layout minigrad's models produce (time, batch, classes).  PyTorch puts the
  classes on axis 1 (``(N, C, d1, ...)``); to port such code, move that axis to the end first
  (``mg.permute`` / ``x.swapaxes(1, -1)``).
* **ignore_index defaults to None**, not -100: see :func:`cross_entropy`.

Most losses here are compositions, differentiated through the primitives they call
(log_softmax, getitem, sum...), so they have second derivatives for free.  One is a primitive
of its own, ``binary_cross_entropy``'s elementwise term, because PyTorch gives its gradient by
a formula that is not the derivative of the clamped value (see :func:`_bce`).

Nothing here reads a value back to the host (no ``.item()``, no ``if`` on an array): positions
to ignore are masked with array operations, so every loss runs on a GPU without a
synchronization, and inside ``mg.trace``.  The other side of that coin: values are not
checked.  A class index >= C raises IndexError on NumPy but, with CuPy, silently wraps around; a
negative one from -C to -1 counts from the end silently on both (PyTorch refuses it: use
``ignore_index`` for padding targets); probabilities outside [0, 1] given to
``binary_cross_entropy`` give NaN.

    loss = mg.cross_entropy(logits, targets)                        # (..., C) and (...)
    loss = mg.cross_entropy(logits, targets, label_smoothing=0.1)
    loss = mg.cross_entropy(logits, padded_targets, ignore_index=-100)
    loss = mg.binary_cross_entropy_with_logits(scores, labels, pos_weight=3.0)
"""
from __future__ import annotations

import numbers

import numpy as np

from . import ops
from .elementwise import log_sigmoid, rsqrt, xlogy
from .reductions import vector_norm
from .ops import _lift, const, log_softmax, primitive
from .tensor import Tensor, _is_float

__all__ = ["cross_entropy", "nll_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits", "mse",
           "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "cosine_similarity", "normalize",
           "pairwise_distance", "cdist", "kl_div", "layer_norm"]

_REDUCTIONS = ("mean", "sum", "none")


# =========================================================================== checks shared by all
def _check_reduction(name: str, reduction) -> None:
    if isinstance(reduction, str) and reduction in _REDUCTIONS:
        return
    hint = ""
    if not isinstance(reduction, str):          # torch's third positional argument is weight
        hint = " (the third argument is reduction here, not weight as in PyTorch: pass weight=)"
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}{hint}")


def _check_input(name: str, what: str, x) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")
    if not _is_float(x.dtype):
        raise TypeError(f"{name}: {what} must be a floating tensor, got dtype {x.dtype}")


def _float_like(name: str, what: str, value, like: Tensor) -> Tensor:
    """``value`` as a floating tensor of ``like``'s dtype and device.

    Host data (numbers, lists, NumPy arrays) and integer or bool tensors are converted (they
    are constants).  A floating tensor must have ``like``'s dtype already: minigrad does not
    convert float32 and float64 into each other silently (a gradient may flow to it)."""
    if not isinstance(value, Tensor):
        return _lift(value, like)
    if value.backend is not like.backend:
        raise ValueError(f"{name}: {what} is on {value.device!r}, the input on {like.device!r}")
    if _is_float(value.dtype):
        if value.dtype != like.dtype:
            raise TypeError(f"{name}: {what} has dtype {value.dtype}, the input {like.dtype}; "
                            "convert one with .astype() (minigrad does not upcast silently)")
        return value
    return const(value.data, like)


def _reduce(losses: Tensor, reduction: str, shape, denominator=None) -> Tensor:
    """Per-position ``losses`` as asked: reshaped to ``shape`` ("none"), summed, or averaged:
    over the positions, or divided by ``denominator`` (a tensor) when one is given."""
    if reduction == "none":
        return ops.reshape(losses, shape)
    if reduction == "sum":
        return ops.sum(losses)
    if denominator is None:
        return ops.mean(losses)
    return ops.sum(losses) / denominator


# =========================================================================== classes
def _class_targets(name: str, x: Tensor, targets) -> Tensor:
    """Integer class targets of shape ``x.shape[:-1]`` on ``x``'s device."""
    t = targets if isinstance(targets, Tensor) else Tensor(targets, device=x.device)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be integer class indices, got dtype {t.dtype}")
    if t.backend is not x.backend:
        raise ValueError(f"{name}: targets are on {t.device!r}, the input on {x.device!r}")
    if t.shape != x.shape[:-1]:
        raise ValueError(f"{name}: an input of shape {x.shape} (classes last) needs integer targets "
                         f"of shape {x.shape[:-1]}, got {t.shape}")
    return t


def _class_weight(name: str, weight, x: Tensor):
    if weight is None:
        return None
    w = _float_like(name, "weight", weight, x)
    if w.shape != (x.shape[-1],):
        raise ValueError(f"{name}: weight must have one entry per class, shape ({x.shape[-1]},), "
                         f"got {w.shape}")
    return w


def _check_ignore_index(name: str, ignore_index) -> None:
    if ignore_index is not None and (not isinstance(ignore_index, numbers.Integral)
                                     or isinstance(ignore_index, bool)):
        raise TypeError(f"{name}: ignore_index must be an int or None, got {ignore_index!r}")


def _class_losses(logp: Tensor, t: Tensor, ignore_index, weight, smoothing: float):
    """The per-position losses of log-probabilities ``logp`` (..., C) at integer targets ``t``
    (...), flattened to (n,), and the denominator of "mean" (None: the number of positions n).

        ℓᵢ = (1 - ε) · wₜ · (-log pᵢₜ) + ε/C · Σ_c w_c · (-log pᵢ_c)      t = tᵢ, ε = smoothing

    times 0 where tᵢ = ignore_index; "mean" divides Σᵢ ℓᵢ by Σᵢ wₜᵢ over the kept positions.
    Without weight, ignore_index and smoothing this is a reshape, the row numbers
    ``arange(n)``, one gather ``logp[rows, t]`` and a negation: the training loop's path, which
    must stay that cheap (``tests/test_losses.py`` compares its traced program to that list).
    Targets outside [0, C) are refused in one line where the targets are host (NumPy) arrays,
    whose range costs nothing to read (NumPy would take -1 as the last class, silently); on a
    GPU that would be a wait for the device in every update, and the check is not made (nor
    in a program ``mg.trace`` replays, whose arrays are its own).
    """
    n, classes = t.size, logp.shape[-1]
    flat = ops.reshape(logp, (n, classes))
    rows = logp.backend.arange(n)
    index = t.data.reshape(n)
    keep = None
    if ignore_index is not None:
        keep = index != ignore_index                          # a bool array, on the device
        index = logp.backend.where(keep, index, 0)            # any valid class: zeroed below
    if isinstance(index, np.ndarray) and index.size and (index.min() < 0 or index.max() >= classes):
        # -1 would pick the last class: refused (check_index_range writes the message)
        logp.backend.check_index_range(index, classes, "target (class numbers; ignore_index for padding)", t.ndim)
    losses = -flat[rows, index]                               # -log pᵢₜ
    scale = None                                              # wₜᵢ · [i kept]
    if weight is not None:
        scale = weight[index]
    if keep is not None:
        keep = const(keep, logp)
        scale = keep if scale is None else scale * keep
    if scale is not None:
        losses = losses * scale
    if smoothing:
        spread = -ops.sum(flat if weight is None else flat * weight, -1)     # Σ_c w_c (-log pᵢ_c)
        if keep is not None:
            spread = spread * keep
        losses = losses * (1 - smoothing) + spread * (smoothing / classes)
    return losses, (None if scale is None else ops.sum(scale))


def cross_entropy(logits: Tensor, target, reduction: str = "mean", *, label_smoothing: float = 0.0,
                  ignore_index: int | None = None, weight=None) -> Tensor:
    """Softmax cross-entropy of ``logits`` (..., C), **classes on the last axis**.

    PyTorch's ``F.cross_entropy`` with classes last instead of on axis 1.  With
    p = softmax(logits) over the last axis, ε = ``label_smoothing``, w = ``weight`` (all 1
    when None), for each position i:

    * **integer targets** tᵢ, shape (...):
      ℓᵢ = (1 - ε) wₜ (-log pᵢₜ) + ε/C Σ_c w_c (-log pᵢ_c)     (t = tᵢ; plain: -log pᵢₜ)
      and "mean" = Σᵢ ℓᵢ / Σᵢ wₜᵢ, the sum over positions not ignored (without weight: their
      number).
    * **probability targets** yᵢ (floating, the shape of ``logits``; rows usually sum to 1,
      which is not checked):
      ℓᵢ = -Σ_c w_c qᵢ_c log pᵢ_c with q = (1 - ε) y + ε/C, and "mean" = Σᵢ ℓᵢ / (number of
      positions), weights or not (PyTorch's rule).  Gradients flow to the targets too.

    ``reduction``: "mean", "sum" or "none" (the losses, shape (...)).  ``label_smoothing`` ε in
    [0, 1] mixes the targets with the uniform distribution over the C classes.

    ``ignore_index`` (integer targets only): positions whose target equals it contribute 0 and
    are left out of the mean's count; if every position is ignored, "mean" is 0/0 = NaN, as
    in PyTorch (whose gradient is then 0; here it is NaN as well).  **Its default is None, not
    PyTorch's -100**: ignoring costs array work on every call (a comparison, a ``where``, a
    mask, its sum), and whether any target equals -100 cannot be known without reading values
    back from the device.  So the mask is built only when asked for: pass
    ``ignore_index=-100`` (or any class) for PyTorch's behaviour.  The default path, integer
    targets with no weight, smoothing or ignore_index, is a log_softmax, a reshape, one gather
    ``logp[rows, targets]``, a negation and the mean, as cheap as cross-entropy gets.

    ``weight``: one rescaling factor per class, shape (C,) (a constant, or a tensor that may
    require grad).

    Its gradient with respect to the logits (plain case) is (p - onehot(t)) / n for "mean":
    not written out here; it comes from log_softmax's and getitem's VJPs.
    """
    name = "cross_entropy"
    _check_reduction(name, reduction)
    _check_input(name, "logits", logits)
    if logits.ndim == 0:
        raise ValueError(f"{name}: logits need a class axis, shape (..., C); got a 0-d tensor")
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real) \
            or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{name}: label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    _check_ignore_index(name, ignore_index)
    if not isinstance(target, Tensor):
        target = Tensor(target, device=logits.device)
        if _is_float(target.dtype):                          # host probabilities: logits' dtype
            target = const(target.data, logits)
    if _is_float(target.dtype):
        return _cross_entropy_probabilities(logits, target, reduction, float(label_smoothing),
                                            ignore_index, weight)
    if target.dtype.kind not in "iu":
        raise TypeError(f"{name}: targets must be integer class indices of shape {logits.shape[:-1]} "
                        f"or floating probabilities of shape {logits.shape}, got dtype {target.dtype}")
    t = _class_targets(name, logits, target)
    losses, denominator = _class_losses(log_softmax(logits, -1), t, ignore_index,
                                        _class_weight(name, weight, logits), float(label_smoothing))
    return _reduce(losses, reduction, t.shape, denominator)


def _cross_entropy_probabilities(logits, targets, reduction, smoothing, ignore_index, weight):
    name = "cross_entropy"
    if ignore_index is not None:
        raise ValueError(f"{name}: ignore_index applies to integer class targets only, "
                         f"not to probability targets (dtype {targets.dtype})")
    if targets.shape != logits.shape:
        raise ValueError(f"{name}: probability targets must have the shape of the logits, "
                         f"{logits.shape}, got {targets.shape}")
    q = _float_like(name, "targets", targets, logits)
    classes = logits.shape[-1]
    if smoothing:
        q = q * (1 - smoothing) + smoothing / classes
    w = _class_weight(name, weight, logits)
    terms = log_softmax(logits, -1) * q                       # qᵢ_c log pᵢ_c
    if w is not None:
        terms = terms * w
    if reduction == "none":
        return -ops.sum(terms, -1)
    total = -ops.sum(terms)
    return total if reduction == "sum" else total / (logits.size // classes)


def nll_loss(log_probs: Tensor, target, reduction: str = "mean", *, ignore_index: int | None = None,
             weight=None) -> Tensor:
    """Negative log-likelihood of log-probabilities ``log_probs`` (..., C), classes last.

    ℓᵢ = -wₜ log_probs[i, t] (t = tᵢ, integer targets of shape (...); w = ``weight``, shape (C,),
    all 1 when None).  "mean" = Σᵢ ℓᵢ / Σᵢ wₜᵢ over the positions not ignored.
    ``cross_entropy(z, t)`` is ``nll_loss(log_softmax(z), t)``.  ``ignore_index`` defaults to
    None (nothing ignored, no mask computed), not PyTorch's -100: see :func:`cross_entropy`.
    """
    name = "nll_loss"
    _check_reduction(name, reduction)
    _check_input(name, "log_probs", log_probs)
    if log_probs.ndim == 0:
        raise ValueError(f"{name}: log_probs need a class axis, shape (..., C); got a 0-d tensor")
    _check_ignore_index(name, ignore_index)
    t = _class_targets(name, log_probs, target)
    losses, denominator = _class_losses(log_probs, t, ignore_index,
                                        _class_weight(name, weight, log_probs), 0.0)
    return _reduce(losses, reduction, t.shape, denominator)


# =========================================================================== two classes
_LOG_FLOOR = -100.0          # PyTorch clamps log p and log(1 - p) at -100 in binary_cross_entropy
_EPS = 1e-12                 # and keeps p(1 - p) at least this in its gradient


def _clamped_log(xp, p):
    """max(log p, -100), without NumPy's warning for log 0 = -inf."""
    with np.errstate(divide="ignore"):
        return xp.maximum(xp.log(p), _LOG_FLOOR)


@primitive(name="binary_cross_entropy")
def _bce(xp, p, y):
    """out = -(y L(p) + (1 - y) L(1 - p)),   L(·) = max(log ·, -100)   (PyTorch's clamp)

    p̄ = ḡ (p - y) / max(p (1 - p), 1e-12)
    ȳ = ḡ (L(1 - p) - L(p))        (the derivative of out: ±100 at p = 0 or 1, where PyTorch's
                                    ȳ, with unclamped logs, is ±∞)

    Away from the clamp, p̄ is the derivative, -y/p + (1 - y)/(1 - p) over one denominator.
    At p = 0 or 1 exactly (where the clamped value is flat) it is PyTorch's formula still, so
    a confident wrong answer keeps a large, finite gradient instead of none.
    """
    return -(y * _clamped_log(xp, p) + (1 - y) * _clamped_log(xp, 1 - p))


@primitive(name="clamped_log", save="inputs,out")
def _clamped_log_op(xp, p):
    """out = max(log p, -100)      p̄ = ḡ / p where log p > -100, else 0

    (ȳ of binary cross-entropy, written with it, can be differentiated again.)"""
    return _clamped_log(xp, p)
_clamped_log_op.defvjp(lambda g, out, p: ops.where(out.data > _LOG_FLOOR,
                                                   g / ops.where(out.data > _LOG_FLOOR, p, 1.0), 0.0))
_bce.defvjp(lambda g, out, p, y: g * (p - y) / ops.maximum(p * (1 - p), _EPS),
            lambda g, out, p, y: g * (_clamped_log_op(1 - p) - _clamped_log_op(p)))


def _binary_targets(name: str, targets, x: Tensor) -> Tensor:
    y = _float_like(name, "targets", targets, x)
    if y.shape != x.shape:
        raise ValueError(f"{name}: targets must have the input's shape {x.shape}, got {y.shape}")
    return y


def _broadcast_factor(name: str, what: str, value, x: Tensor) -> Tensor:
    f = _float_like(name, what, value, x)
    try:
        fits = np.broadcast_shapes(f.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: {what} of shape {f.shape} does not broadcast to the input's "
                         f"shape {x.shape}")
    return f


def binary_cross_entropy(probs: Tensor, target, reduction: str = "mean", *, weight=None) -> Tensor:
    """Binary cross-entropy of probabilities ``probs`` in [0, 1] (PyTorch's ``F.binary_cross_entropy``).

    ℓ = -w (y max(log p, -100) + (1 - y) max(log(1 - p), -100)) elementwise, targets y of the
    same shape (0/1 labels or probabilities; integer or bool targets are converted), ``weight``
    w broadcastable to it.  The clamp at -100 is PyTorch's: p = 0 with y = 1 costs 100, not ∞.
    The gradient is PyTorch's too: ḡ w (p - y) / max(p(1 - p), 1e-12) (see ``_bce``).
    "mean" averages over all elements.  Prefer :func:`binary_cross_entropy_with_logits` on
    scores: sigmoid followed by log loses precision where p is near 0 or 1.  Values outside
    [0, 1] are not checked (a host read): they give NaN.
    """
    name = "binary_cross_entropy"
    _check_reduction(name, reduction)
    _check_input(name, "probs", probs)
    losses = _bce(probs, _binary_targets(name, target, probs))
    if weight is not None:
        losses = losses * _broadcast_factor(name, "weight", weight, probs)
    return _reduce(losses, reduction, probs.shape)


def binary_cross_entropy_with_logits(logits: Tensor, target, reduction: str = "mean", *,
                                     pos_weight=None, weight=None) -> Tensor:
    """Binary cross-entropy of scores x, with p = σ(x) (PyTorch's ``F.binary_cross_entropy_with_logits``).

    ℓ = -w (r y log σ(x) + (1 - y) log(1 - σ(x))),   r = ``pos_weight`` (1 when None)

    computed without overflow for any x: log(1 - σ(x)) = log σ(x) - x, so

    ℓ = w ((1 - y) x - (1 + (r - 1) y) log σ(x)),   log σ(x) = min(x, 0) - log(1 + e^-|x|)

    (for r = 1 this is max(x, 0) - x y + log(1 + e^-|x|)).  Its derivative,
    w ((1 - y) - (1 + (r - 1) y)(1 - σ(x))), is finite everywhere: at x = ±1000 too.
    ``pos_weight`` r multiplies the loss of the positive targets (broadcast along the last
    axis: one per class, shape (C,)); ``weight`` w rescales each element (broadcastable).
    "mean" averages over all elements.
    """
    name = "binary_cross_entropy_with_logits"
    _check_reduction(name, reduction)
    _check_input(name, "logits", logits)
    y = _binary_targets(name, target, logits)
    log_p = log_sigmoid(logits)                               # stable log σ(x)
    if pos_weight is None:
        losses = (1 - y) * logits - log_p
    else:
        r = _broadcast_factor(name, "pos_weight", pos_weight, logits)
        losses = (1 - y) * logits - (1 + (r - 1) * y) * log_p
    if weight is not None:
        losses = losses * _broadcast_factor(name, "weight", weight, logits)
    return _reduce(losses, reduction, logits.shape)


# =========================================================================== regression
def mse(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """Squared error (prediction - target)², averaged ("mean"), summed ("sum") or not ("none").

    The shapes must be equal: broadcasting a (B,) target against a (B, 1) prediction would give
    a (B, B) loss without an error, which is almost always a bug; it is refused.
    """
    _check_reduction("mse", reduction)
    target = target if isinstance(target, Tensor) else _lift(target, prediction)
    if target.shape != prediction.shape:
        raise ValueError(f"mse: prediction of shape {prediction.shape} and target of shape "
                         f"{target.shape} differ (broadcasting here is almost always a bug)")
    d = prediction - target
    sq = d * d
    return _reduce(sq, reduction, sq.shape)


mse_loss = mse     # PyTorch's name (F.mse_loss)


def _difference(name: str, prediction: Tensor, target) -> Tensor:
    target = target if isinstance(target, Tensor) else _lift(target, prediction)
    if target.shape != prediction.shape:
        raise ValueError(f"{name}: prediction of shape {prediction.shape} and target of shape "
                         f"{target.shape} differ (broadcasting here is almost always a bug)")
    return prediction - target


def l1_loss(prediction: Tensor, target, reduction: str = "mean") -> Tensor:
    """|prediction - target| (``F.l1_loss``); the derivative sign(d) is 0 where d = 0, as in PyTorch."""
    _check_reduction("l1_loss", reduction)
    d = ops.abs(_difference("l1_loss", prediction, target))
    return _reduce(d, reduction, d.shape)


def _beta(name: str, what: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
        raise ValueError(f"{name}: {what} must be a number >= 0, got {value!r}")
    return float(value)


def smooth_l1_loss(prediction: Tensor, target, reduction: str = "mean", beta=1.0) -> Tensor:
    """ℓ = ½ d² / β where |d| < β, else |d| - ½ β   (d = prediction - target; ``F.smooth_l1_loss``)

    ℓ' = d / β inside, sign(d) outside (continuous at |d| = β); β = 0 is the L1 loss."""
    name = "smooth_l1_loss"
    _check_reduction(name, reduction)
    beta = _beta(name, "beta", beta)
    d = _difference(name, prediction, target)
    if beta == 0:
        return _reduce(ops.abs(d), reduction, d.shape)
    a = ops.abs(d)
    losses = ops.where(a.data < beta, d * d * (0.5 / beta), a - 0.5 * beta)
    return _reduce(losses, reduction, d.shape)


def huber_loss(prediction: Tensor, target, reduction: str = "mean", delta=1.0) -> Tensor:
    """ℓ = ½ d² where |d| ≤ δ, else δ (|d| - ½ δ)   (``F.huber_loss``; δ · smooth_l1 with β = δ)

    ℓ' = d inside, δ sign(d) outside."""
    name = "huber_loss"
    _check_reduction(name, reduction)
    delta = _beta(name, "delta", delta)
    if delta == 0:
        raise ValueError(f"{name}: delta must be > 0")
    d = _difference(name, prediction, target)
    a = ops.abs(d)
    losses = ops.where(a.data <= delta, d * d * 0.5, (a - 0.5 * delta) * delta)
    return _reduce(losses, reduction, d.shape)


# =========================================================================== similarity and distance
def normalize(x: Tensor, p=2.0, dim: int = 1, eps=1e-12) -> Tensor:
    """x / max(‖x‖_p, eps) along ``dim`` (``F.normalize``: PyTorch's dim=1 default)
    x̄ = (ḡ - u (u·ḡ)) / ‖x‖ for p = 2 and ‖x‖ > eps (u = x / ‖x‖: ḡ's part along x is removed);
    ḡ / eps where the norm is clamped (a zero vector included, as in PyTorch)."""
    return x / ops.clip(vector_norm(x, p, axis=dim, keepdims=True), float(eps), None)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps=1e-8) -> Tensor:
    """Σ x1 x2 / (max(‖x1‖, eps) max(‖x2‖, eps)) along ``dim``, the operands broadcast
    (``F.cosine_similarity``, computed as PyTorch 2 does: each operand divided by its clamped
    norm, then the product summed).  The gradient is this composition's: where a norm is below
    eps the clamp is constant, so nothing flows through that norm (PyTorch clamps without
    recording it and differs there, for vectors shorter than eps only)."""
    x1, x2 = ops._operands("cosine_similarity", x1, x2)
    shape = np.broadcast_shapes(x1.shape, x2.shape)
    x1, x2 = ops.broadcast_to(x1, shape), ops.broadcast_to(x2, shape)
    eps = float(eps)
    n1 = ops.clip(vector_norm(x1, 2, axis=dim, keepdims=True), eps, None)
    n2 = ops.clip(vector_norm(x2, 2, axis=dim, keepdims=True), eps, None)
    return ops.sum((x1 / n1) * (x2 / n2), dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p=2.0, eps=1e-6, keepdim: bool = False) -> Tensor:
    """‖x1 - x2 + eps‖_p along the last axis (``F.pairwise_distance``, PyTorch's eps included)."""
    x1, x2 = ops._operands("pairwise_distance", x1, x2)
    return vector_norm(x1 - x2 + float(eps), p, axis=-1, keepdims=keepdim)


def cdist(x1: Tensor, x2: Tensor, p=2.0) -> Tensor:
    """‖x1ᵢ - x2ⱼ‖_p for every row pair: (..., P, M) and (..., R, M) give (..., P, R)
    (``torch.cdist``, computed directly from the differences: exact where PyTorch's matrix-product
    route for p = 2 and more than 25 rows leaves ~1e-8 on equal rows).  The gradient at equal
    points is 0 (p ≥ 1, as PyTorch); for p = ∞ ties share ḡ equally (:func:`vector_norm`'s rule;
    torch.cdist gives each tied element all of ḡ)."""
    return vector_norm(ops.expand_dims(x1, -2) - ops.expand_dims(x2, -3), p, axis=-1)


def kl_div(input: Tensor, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Σ target (log target - input) (``F.kl_div``: ``input`` holds log-probabilities; the terms
    with target = 0 are 0)      input̄ = -ḡ target,  target̄ = ḡ (log target + 1 - input)
    (NaN at target = 0, not the formula's -∞: t log t is xlogy(t, t), whose t̄ holds t / t = 0/0;
    PyTorch gives NaN there too).  log_target: ℓ = eᵗ (t - input),  input̄ = -ḡ eᵗ,
    t̄ = ḡ eᵗ (t + 1 - input).  ``reduction``: "mean" (over all elements, PyTorch's default),
    "batchmean" (the sum / the first dimension: the KL divergence per sample), "sum", "none"."""
    name = "kl_div"
    if reduction not in ("mean", "batchmean", "sum", "none"):
        raise ValueError(f"{name}: reduction must be 'mean', 'batchmean', 'sum' or 'none', got {reduction!r}")
    target = target if isinstance(target, Tensor) else _lift(target, input)
    if log_target:
        losses = ops.exp(target) * (target - input)
    else:
        losses = xlogy(target, target) - target * input
    if reduction == "batchmean":
        return ops.sum(losses) / (input.shape[0] if input.ndim else 1)
    return _reduce(losses, reduction, losses.shape)


def layer_norm(x: Tensor, normalized_shape, weight=None, bias=None, eps=1e-5) -> Tensor:
    """(x - mean) / √(var + eps) over the last ``len(normalized_shape)`` axes (biased var), then
    · weight + bias (``F.layer_norm``).  With x̂ the normalized x, N the number of elements
    normalized together and ĝ = ḡ · weight:   x̄ = (ĝ - mean(ĝ) - x̂ mean(ĝ x̂)) / √(var + eps),
    weight̄ = Σ ḡ x̂,  bias̄ = Σ ḡ (over the leading axes); a composition, which gives exactly this."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or tuple(x.shape[x.ndim - len(shape):]) != shape:
        raise ValueError(f"layer_norm: normalized_shape {shape} is not the end of the input's shape {x.shape}")
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    mean = ops.mean(x, axes, True)
    centred = x - mean
    var = ops.mean(centred * centred, axes, True)
    out = centred * rsqrt(var + float(eps))            # as PyTorch: times 1/√(var + eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias
