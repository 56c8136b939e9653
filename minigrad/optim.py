"""Optimizers and gradient clipping.

Both work on the arrays in place and stay on the device: no value comes back to the host, so a
GPU training loop is never stalled by them.
"""
from __future__ import annotations

from .tensor import Tensor


class SGD:
    """Stochastic gradient descent, optionally with (heavy-ball) momentum.

    ``v ← momentum · v + g`` then ``p ← p - lr · v``; with ``momentum=0`` simply
    ``p ← p - lr · g``, the paper's MSGD.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0):
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD got an empty parameter list")
        if lr <= 0:
            raise ValueError(f"SGD: lr must be positive, got {lr}")
        if not 0 <= momentum < 1:
            raise ValueError(f"SGD: momentum must be in [0, 1), got {momentum}")
        self.lr, self.momentum = lr, momentum
        self.velocity = [None] * len(self.params)

    def step(self) -> None:
        for i, p in enumerate(self.params):
            if p.grad is None:
                continue
            g = p.grad.data
            if self.momentum:
                v = self.velocity[i]
                self.velocity[i] = v = g.copy() if v is None else self.momentum * v + g
                g = v
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
            self.velocity[i] = None if v is None else p.backend.asarray(v, dtype=p.data.dtype)


def grad_norm(params) -> Tensor:
    """The global L2 norm ``sqrt(sum over params of ||grad||²)``, a 0-d tensor on the device."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        raise ValueError("grad_norm: no parameter has a gradient (call backward() first)")
    xp = grads[0].backend
    total = None
    for g in grads:
        s = xp.sum(g.data * g.data)
        total = s if total is None else total + s
    return Tensor._wrap(xp.sqrt(total), xp)


def clip_scale(norm: Tensor, max_norm: float):
    """``(scale, clipped)`` as device arrays: ``max_norm / norm`` where a finite norm exceeds
    ``max_norm`` (then ``clipped`` is True), else 1.  No value leaves the device."""
    xp, n = norm.backend, norm.data
    clipped = xp.isfinite(n) & (n > max_norm)
    return xp.where(clipped, max_norm / xp.where(clipped, n, 1), 1).astype(n.dtype), clipped


def clip_grad_norm(params, max_norm: float) -> Tensor:
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    If ``||g|| > max_norm`` every gradient is multiplied by ``max_norm / ||g||`` (the paper's
    clipping, Algorithm 1).  Returns the norm *before* clipping as a 0-d tensor, left on the
    device.  A NaN or infinite norm is not an error here: the gradients are left untouched and
    the returned norm reports it; what to do then is the caller's choice (the paper replaces
    the update, see the training loop).
    """
    if not max_norm > 0:
        raise ValueError(f"clip_grad_norm: max_norm must be positive, got {max_norm}")
    params = [p for p in params if p.grad is not None]
    norm = grad_norm(params)
    xp = norm.backend
    scale, _ = clip_scale(norm, max_norm)
    for p in params:
        if p.grad.requires_grad:               # a differentiable gradient: keep it in the graph
            p.grad = p.grad * Tensor._wrap(scale, xp)
        else:
            p.grad.data *= scale
    return norm
