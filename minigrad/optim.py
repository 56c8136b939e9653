"""Optimizers and gradient clipping.

Both work on the arrays in place and stay on the device: no value comes back to the host, so a
GPU training loop is never stalled by them.  What they check (that each gradient has the
shape, dtype and device of its parameter) is metadata, known without looking at the values.
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from .autograd import DeviceMismatchError
from .tensor import Tensor, check_fits


class SGD:
    """Stochastic gradient descent, optionally with (heavy-ball) momentum: ``torch.optim.SGD``.

    ``v ← momentum · v + g`` then ``p ← p - lr · v``; with ``momentum=0`` simply
    ``p ← p - lr · g``, the paper's MSGD.  PyTorch's other options, in its order of
    application (λ = ``weight_decay``, τ = ``dampening``, μ = ``momentum``):

        g ← -g if ``maximize``                       (ascent: before the decay, so that
        g ← g + λ p                                   the decay still pulls p towards 0)
        v ← g on the first step, else μ v + (1 - τ) g
        g ← g + μ v if ``nesterov`` else v           (with μ > 0)
        p ← p - lr · g

    ``nesterov=True`` needs μ > 0 and τ = 0, as in PyTorch.

    ``params`` are leaf tensors (``model.parameters()``), each once.  A leaf that does not
    require grad (a frozen parameter) is accepted, as in PyTorch: it gets no gradient, so
    ``step()`` leaves it alone.  A non-leaf is refused: it is recomputed from others, so an
    update to it would be lost.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *, maximize: bool = False):
        self.params = _parameters("SGD", params)
        if not self.params:
            raise ValueError("SGD got an empty parameter list")
        for i, p in enumerate(self.params):
            if not p.is_leaf:
                raise ValueError(f"SGD: can't optimize {_label(i, p)}: it is not a leaf but the result of "
                                 f"{p.node.op.name}; optimize the leaf tensors it is computed from")
        self.lr = lr
        if not 0 <= _number("SGD", "momentum", momentum) < 1:
            raise ValueError(f"SGD: momentum must be a number in [0, 1), got {momentum}")
        self.momentum = momentum
        if not 0 <= _number("SGD", "dampening", dampening) <= 1:
            raise ValueError(f"SGD: dampening must be a number in [0, 1], got {dampening}")
        if not 0 <= _number("SGD", "weight_decay", weight_decay) < math.inf:
            raise ValueError(f"SGD: weight_decay must be a non-negative number, got {weight_decay}")
        if nesterov and (momentum == 0 or dampening != 0):
            raise ValueError("SGD: nesterov=True needs momentum > 0 and dampening = 0")
        self.dampening, self.weight_decay = dampening, weight_decay
        self.nesterov, self.maximize = bool(nesterov), bool(maximize)
        self.velocity = [None] * len(self.params)

    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value) -> None:                    # checked on every change (schedules too)
        if not (_number("SGD", "lr", value) > 0 and math.isfinite(value)):
            raise ValueError(f"SGD: lr must be positive and finite, got {value}")
        self._lr = value

    def step(self) -> None:
        """Update every parameter that has a gradient; all gradients are checked first, so a
        bad one changes nothing."""
        grads = [None if p.grad is None else _check_grad("SGD.step", i, p).data
                 for i, p in enumerate(self.params)]
        for i, (p, g) in enumerate(zip(self.params, grads)):
            if g is None:
                continue
            if self.maximize:
                g = -g
            if self.weight_decay:
                g = g + self.weight_decay * p.data
            if self.momentum:
                v = self.velocity[i]
                v = g.copy() if v is None else self.momentum * v + (1 - self.dampening) * g
                self.velocity[i] = v
                g = g + self.momentum * v if self.nesterov else v
            p.data -= self.lr * g

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def state_dict(self) -> dict:
        """Momentum buffers as host arrays (for checkpoints)."""
        return {f"velocity.{i}": p.backend.to_host(v)
                for i, (p, v) in enumerate(zip(self.params, self.velocity)) if v is not None}

    def load_state_dict(self, state: dict) -> None:
        for i, p in enumerate(self.params):
            v = state.get(f"velocity.{i}")
            if v is not None and np.shape(v) != p.shape:
                raise ValueError(f"SGD.load_state_dict: velocity.{i} has shape {np.shape(v)} but "
                                 f"{_label(i, p)} has {p.shape}")
        for i, p in enumerate(self.params):
            v = state.get(f"velocity.{i}")
            self.velocity[i] = None if v is None else p.backend.asarray(v, dtype=p.data.dtype)


def grad_norm(params, norm_type: float = 2.0) -> Tensor:
    """The global norm of all gradients taken as one vector, a 0-d tensor on the device:
    ``sqrt(Σ_params ||grad||²)`` by default; ``norm_type`` p: ``(Σ |g|ᵖ)^(1/p)``, ``inf``:
    ``max |g|`` (PyTorch's ``norm_type``)."""
    return _grad_norm("grad_norm", _parameters("grad_norm", params), norm_type)


def _grad_norm(who: str, params: list, norm_type: float = 2.0) -> Tensor:
    p = _number(who, "norm_type", norm_type)
    if not p > 0:
        raise ValueError(f"{who}: norm_type must be positive (2 is the usual norm, inf the largest "
                         f"|g|), got {norm_type}")
    grads = [_check_grad(who, i, q) for i, q in enumerate(params) if q.grad is not None]
    if not grads:
        raise ValueError(f"{who}: no parameter has a gradient (call backward() first)")
    devices = list(dict.fromkeys(g.device for g in grads))
    if len(devices) > 1:
        raise DeviceMismatchError(f"{who}: the gradients are on several devices ({', '.join(map(repr, devices))}); "
                                  f"move the model to one with .to(device)")
    xp = grads[0].backend
    if p == float("inf"):                         # max |g| over every element (0 for no elements)
        parts = [xp.max(xp.abs(g.data)) for g in grads if g.data.size]
        return Tensor._wrap(xp.max(xp.stack(parts)) if parts else xp.zeros((), dtype=grads[0].data.dtype), xp)
    total = None
    for g in grads:
        s = xp.sum(g.data * g.data) if p == 2 else xp.sum(xp.abs(g.data) ** p)
        total = s if total is None else total + s
    return Tensor._wrap(xp.sqrt(total) if p == 2 else total ** (1 / p), xp)


def clip_scale(norm: Tensor, max_norm: float):
    """``(scale, clipped)`` as device arrays: ``max_norm / norm`` where a finite norm exceeds
    ``max_norm`` (then ``clipped`` is True), else 1.  No value leaves the device."""
    xp, n = norm.backend, norm.data
    clipped = xp.isfinite(n) & (n > max_norm)
    return xp.where(clipped, max_norm / xp.where(clipped, n, 1), 1).astype(n.dtype), clipped


def clip_grad_norm(params, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    If ``||g|| > max_norm`` every gradient is multiplied by ``max_norm / ||g||`` (the paper's
    clipping, Algorithm 1; PyTorch divides by ``||g|| + 1e-6``, a relative difference of about
    1e-6 / ||g||).  ``norm_type`` chooses the norm as in :func:`grad_norm` (2 by default, as the
    paper).  Returns the norm *before* clipping as a 0-d tensor, left on the device.  A NaN or
    infinite norm is not an error here: the gradients are left untouched and the returned norm
    reports it; what to do then is the caller's choice (the paper replaces the update, see the
    training loop).
    """
    if not _number("clip_grad_norm", "max_norm", max_norm) > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm}")
    params = _parameters("clip_grad_norm", params)
    norm = _grad_norm("clip_grad_norm", params, norm_type)
    xp = norm.backend
    scale, _ = clip_scale(norm, max_norm)
    for p in params:
        if p.grad is None:
            continue
        if p.grad.requires_grad:               # a differentiable gradient: keep it in the graph
            p.grad = p.grad * Tensor._wrap(scale, xp)
        else:
            p.grad.data *= scale
    return norm


# --------------------------------------------------------------------------- argument checks
def _number(who: str, name: str, value):
    """``value`` if it is a real number (Python or NumPy scalar, not a bool), else TypeError."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{who}: {name} must be a number, got {type(value).__name__}")
    return value


def _parameters(who: str, params) -> list:
    """``params`` as a list of Tensors, each once, or a clear error."""
    if isinstance(params, Tensor):
        raise TypeError(f"{who}: params must be an iterable of Tensors such as model.parameters(), "
                        f"got a single Tensor: put it in a list")
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{who}: params must be an iterable of Tensors such as model.parameters(), "
                        f"got {type(params).__name__}") from None
    seen = set()
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{who}: parameter {i} is not a Tensor (got {type(p).__name__})")
        if id(p) in seen:
            raise ValueError(f"{who}: {_label(i, p)} is in the list twice (it would count twice)")
        seen.add(id(p))
    return params


def _label(i: int, p: Tensor) -> str:
    return f"parameter {i}" + (f" ({p.name!r})" if p.name else "")


def _check_grad(who: str, i: int, p: Tensor) -> Tensor:
    """``p.grad`` if it fits ``p`` exactly (same shape, dtype and device), else a clear error.
    Nothing is broadcast or converted: a gradient that does not fit is a bug upstream."""
    g, what = p.grad, f"{who}: the gradient of {_label(i, p)}"
    if not isinstance(g, Tensor):
        raise TypeError(f"{what} is not a Tensor (got {type(g).__name__})")
    check_fits(g, p, what, "the parameter")
    return g
