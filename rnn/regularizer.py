"""The vanishing-gradient regularizer Omega (Pascanu, Mikolov, Bengio 2013, section 3.3).

It asks every step of backpropagation through time to preserve the norm of the error signal.
With ``δ_k = dE/ds_k`` the total BPTT derivative with respect to the state s_k at step k (a row
per sequence; s = h for the vanilla cell, (h, c) for an LSTM), defined by the recursion

    δ_k = δ_{k+1} ∂s_{k+1}/∂s_k + ∂E/∂s_k        (∂E/∂s_k: the direct term, the head reading h_k)

(:func:`state_gradients` gives it), the ratio and the regularizer are

    r_k = || δ_k ∂s_k/∂s_{k-1} ||² / || δ_k ||²,        Ω = mean over valid (k, sequence) of (r_k - 1)²

where a pair is valid when ``||δ_k||² >= 1e-20``.  Only the explicit W_rec in the one-step
Jacobian is differentiated (``δ_k`` and ``h_k`` are constants): the "immediate" derivative.  The
paper's eq. 9 writes plain norms and a sum; its gradient, the supplement and the authors' code
use squared norms and a mean, which is what is implemented here (PAPER.md says to follow it).

Two implementations that must agree on the vanilla cell:

* :func:`omega_closed_form`, vanilla cells only: with ``G = δ ⊙ φ'(h)`` and ``A = G W_recᵀ``
  (the error pushed one step back), ``dΩ/dW_rec = Aᵀ (s ⊙ G)``, ``s = 4 (r - 1) / (N_valid ||δ||²)``
  per valid pair: two matrix products;
* :func:`omega_generic`, any cell: the one-step VJP ``δ_k ∂s_k/∂s_{k-1}`` is recorded with
  ``mg.grad(..., create_graph=True, immediate=True)`` and Ω is differentiated by the engine.
"""
from __future__ import annotations

import minigrad as mg

from .sequence import Unrolled

EPS = 1e-20


def activation_derivative(h, activation: str):
    """φ'(a) written with the output h = φ(a) (so h can be held constant)."""
    if activation == "tanh":
        return 1 - h * h
    if activation == "sigmoid":
        return h * (1 - h)
    if activation == "relu":
        return (h > 0).astype(h.dtype)
    if activation == "linear":
        return mg.ones_like(h)
    raise ValueError(f"no closed form for activation {activation!r}: use omega_generic")


def _mean_over_valid(r, d2, eps):
    """(Ω, mask, N_valid) from per-pair ratios r and squared norms d2 (shape: (*models, pairs)):
    the mean over the last axis, one Ω per model."""
    mask = (d2 >= eps).astype(r.dtype)
    n_valid = mg.maximum(mask.sum(-1), 1.0)
    return (mask * (r - 1) ** 2).sum(-1) / n_valid, mask, n_valid


def omega_closed_form(W_rec, hiddens, deltas, activation: str = "tanh", eps: float = EPS):
    """Ω and dΩ/dW_rec for a vanilla cell ``h_k = φ(h_{k-1} W_rec + ...)``.

    ``hiddens``: (T, B, N) tensor (or list) of h_1..h_T; ``deltas``: the same for dE/dh_k.
    Returns two constant tensors on the device (no host round-trip): ``(omega, grad_W_rec)``.

    Packed models (:func:`rnn.stack_models`): with ``W_rec`` of shape (S, N, N) and hiddens and
    deltas (T, S, B, N), each model gets its own Ω over its own pairs: ``omega`` has shape
    (S,) and ``grad_W_rec`` (S, N, N), model s's the same as a run of model s alone.
    """
    with mg.no_grad():
        h = mg.stack(hiddens) if isinstance(hiddens, (list, tuple)) else hiddens
        d = mg.stack(deltas) if isinstance(deltas, (list, tuple)) else deltas
        models = W_rec.shape[:-2]                      # () for one model, (S,) for S packed
        if h.shape != d.shape or h.ndim != 3 + len(models):
            want = "(T, B, N)" if not models else "(T, S, B, N)"
            raise ValueError(f"hiddens and deltas must both be {want}, got {h.shape} and {d.shape}")
        if models:                                     # pairs of each model together: (S, T, B, N)
            h, d = h.swapaxes(0, 1), d.swapaxes(0, 1)
        n = h.shape[-1]
        G = (d * activation_derivative(h, activation)).reshape(*models, -1, n)   # pairs x N
        A = G @ W_rec.detach().mT                                            # δ ∂h_k/∂h_{k-1}
        d2 = (d * d).sum(-1).reshape(*models, -1)
        safe = mg.where(d2 >= eps, d2, mg.ones_like(d2))
        r = (A * A).sum(-1) / safe
        omega, mask, n_valid = _mean_over_valid(r, d2, eps)
        s = 4 * mask * (r - 1) / (n_valid.reshape(*models, 1) * safe)
        grad = A.mT @ (s.reshape(*models, -1, 1) * G)
    return omega, grad


def _components(state):
    return list(state) if isinstance(state, tuple) else [state]


def omega_generic(cell, inputs, run: Unrolled, deltas, eps: float = EPS):
    """Ω for any cell, as a tensor differentiable with respect to the cell's parameters.

    ``run`` is the unrolled forward pass (its states s_0..s_T), ``deltas`` the gradients
    δ_k = dE/ds_k for k = 1..T as :func:`state_gradients` gives them (for an LSTM, pairs for
    (h, c): the full state), i.e. δ_k = δ_{k+1} ∂s_{k+1}/∂s_k + ∂E/∂s_k.  With the one-step
    VJP ``a_k = δ_k ∂s_k/∂s_{k-1}`` over every component of the state,
    ``r_k = ||a_k||² / ||δ_k||²`` and Ω = mean over valid pairs of (r_k - 1)².  All steps are
    evaluated at once: the cell is applied to the stacked previous states (held constant).
    """
    T = len(run)
    if len(deltas) != T:
        raise ValueError(f"need one delta per step: {T} steps, {len(deltas)} deltas")
    with mg.no_grad():
        prev = [mg.stack([c.detach() for c in comp]) for comp in zip(*(_components(s) for s in run.states[:-1]))]
        ds = [mg.stack(list(comp)) for comp in zip(*(_components(d) for d in deltas))]
    B = inputs.shape[1]
    prev = [p.reshape(T * B, -1).requires_grad_() for p in prev]
    ds = [d.reshape(T * B, -1) for d in ds]
    x = inputs[:T].reshape(T * B, -1)
    state = tuple(prev) if len(prev) > 1 else prev[0]
    out = _components(cell(x, state))
    pushed = mg.grad(out, prev, grad_outputs=ds, create_graph=True, immediate=True, allow_unused=True)
    a2 = sum((a * a).sum(-1) for a in pushed if a is not None)
    with mg.no_grad():
        d2 = sum((d * d).sum(-1) for d in ds)
    safe = mg.where(d2 >= eps, d2, mg.ones_like(d2))
    omega, _, _ = _mean_over_valid(a2 / safe, d2, eps)
    return omega


def state_gradients(loss, run: Unrolled, params=()):
    r"""One backward pass giving ``(grads of params, [dE/ds_k for k = 1..T])``.

    dE/ds_k is the total derivative of the loss with respect to the state s_k as it is handed
    to step k + 1, all later steps depending on it:

        dE/ds_k = dE/ds_{k+1} ∂s_{k+1}/∂s_k + ∂E/∂s_k,      dE/ds_T = ∂E/∂s_T

    where ∂E/∂s_k is the direct term, the output head reading h_k (every step for an
    every-step head, only h_T for a last-step one; zero for c).  These are the gradients at
    ``run.states[1:]``, which :func:`rnn.unroll` makes the hand-off nodes.  For an LSTM this is
    not the gradient at the tensor c_k that step k computes: step k reads c_k again to form
    ``h_k = o ⊙ tanh(c_k)``, so that node's gradient is dE/dc_k + dE/dh_k ∂h_k/∂c_k: the
    path c_k -> h_k inside step k added to the state derivative, as if h_k were not a
    component of the state in its own right (bench/RESULTS.md measures the difference).

    The state gradients have the structure of the states (pairs (dE/dh_k, dE/dc_k) for an
    LSTM); a state component the loss does not depend on gets zeros.
    """
    flat = [c for s in run.states[1:] for c in _components(s)]
    params = list(params)
    got = mg.grad(loss, params + flat, allow_unused=True)
    got = [g if g is not None else mg.zeros_like(x) for g, x in zip(got, params + flat)]
    param_grads, state_grads = got[:len(params)], got[len(params):]
    per = len(_components(run.states[1]))
    deltas = [tuple(state_grads[i:i + per]) if per > 1 else state_grads[i] for i in range(0, len(state_grads), per)]
    return param_grads, deltas


# ----------------------------------------------------------------------------- schedules of alpha
def constant(alpha: float):
    """alpha_t = alpha."""
    return lambda t: alpha


def inverse_time(alpha0: float):
    """alpha_t = alpha0 / t (t = 1, 2, ...: epochs or updates); alpha0 = 0.5 gives 1 / (2t)."""
    def schedule(t):
        if t < 1:
            raise ValueError(f"inverse_time schedule starts at t = 1, got {t}")
        return alpha0 / t
    return schedule


def inverse_linear(alpha0: float, beta: float):
    """alpha_t = alpha0 / (1 + t / beta) (the paper's character-level schedule, beta = 2800)."""
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    return lambda t: alpha0 / (1 + t / beta)
