"""Check derivatives against central finite differences, in float64.

For ``f`` with inputs ``x_1..x_n`` and a random cotangent ``u`` (non-uniform, so that errors in
individual output elements cannot cancel), the scalar ``phi(x) = <u, f(x)>`` has gradient
``vjp(u)``, which is what backward computes.  Central differences give the same numbers
independently: ``(phi(x + h e) - phi(x - h e)) / 2h`` with error O(h²).

* small inputs (``size <= full_below``): every element is perturbed (the full gradient),
* larger ones: ``directions`` random directions ``v`` compare ``<grad phi, v>`` to the
  directional difference (two evaluations each, whatever the size).

``order=2`` checks second derivatives the same way: ``psi(x) = sum_i <w_i, d phi/d x_i>``,
with the inner gradients built by ``create_graph=True``, is checked as ``phi`` was.
"""
from __future__ import annotations

import numpy as np

from .functional import grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Analytic and numerical derivatives disagree."""


def gradcheck(f, inputs, order: int = 1, eps: float = 1e-6, atol: float = 1e-6, rtol: float = 1e-5,
              full_below: int = 50, directions: int = 3, seed: int = 0) -> bool:
    """True if the derivatives of ``f(*inputs)`` of the given ``order`` (1 or 2) match central
    differences; raises :class:`GradcheckError` describing the worst mismatch otherwise."""
    if order not in (1, 2):
        raise ValueError(f"gradcheck: order must be 1 or 2, got {order}")
    inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    rng = np.random.default_rng(seed)
    hosts = [x.numpy().astype(np.float64) for x in inputs]
    device = inputs[0].device

    def as_inputs(arrays):
        return [Tensor(a, device=device, requires_grad=True) for a in arrays]

    out0 = f(*as_inputs(hosts))
    u = Tensor(rng.standard_normal(out0.shape) + 0.5, device=device)

    def phi(xs):
        out = f(*xs)
        return (out * u).sum()

    ws = [Tensor(rng.standard_normal(h.shape) + 0.5, device=device) for h in hosts]

    def psi(xs):
        """sum_i <w_i, d phi / d x_i>: its gradient holds the second derivatives."""
        gs = grad(phi(xs), xs, create_graph=True, allow_unused=True)
        total = None
        for g, w in zip(gs, ws):
            if g is not None:
                term = (g * w).sum()
                total = term if total is None else total + term
        return (xs[0] * 0).sum() if total is None else total     # phi constant: psi is 0

    scalar = phi if order == 1 else psi
    xs = as_inputs(hosts)
    s = scalar(xs)
    if not s.requires_grad:
        analytic = [np.zeros_like(h) for h in hosts]
    else:
        analytic = [np.zeros_like(h) if g is None else g.numpy()
                    for g, h in zip(grad(s, xs, allow_unused=True), hosts)]

    def value(arrays) -> float:
        return scalar(as_inputs(arrays)).item()

    for i, h in enumerate(hosts):
        if h.size <= full_below:
            numeric = np.zeros_like(h)
            for k in range(h.size):
                plus, minus = [a.copy() for a in hosts], [a.copy() for a in hosts]
                plus[i].flat[k] += eps
                minus[i].flat[k] -= eps
                numeric.flat[k] = (value(plus) - value(minus)) / (2 * eps)
            _compare(numeric, analytic[i], atol, rtol, f"order {order}, input {i} {h.shape}, full gradient")
        else:
            for d in range(directions):
                v = rng.standard_normal(h.shape)
                plus, minus = list(hosts), list(hosts)
                plus[i], minus[i] = h + eps * v, h - eps * v
                numeric = (value(plus) - value(minus)) / (2 * eps)
                _compare(np.array(numeric), np.array(np.sum(analytic[i] * v)), atol * np.sqrt(h.size), rtol,
                         f"order {order}, input {i} {h.shape}, random direction {d}")
    return True


def _compare(numeric, analytic, atol, rtol, where):
    err = np.abs(numeric - analytic)
    bound = atol + rtol * np.abs(numeric)
    if not np.all(err <= bound) or not np.all(np.isfinite(analytic)):
        k = int(np.argmax(err - bound))
        raise GradcheckError(
            f"gradcheck failed ({where}): analytic {np.ravel(analytic)[k]:.10g} vs numerical "
            f"{np.ravel(numeric)[k]:.10g} at flat index {k} (|error| {np.ravel(err)[k]:.3g} > {np.ravel(bound)[k]:.3g})")
