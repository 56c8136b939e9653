"""The chain of Jacobians of an unrolled network: why gradients vanish or explode, in numbers.

For states s_0, s_1, ..., s_T (s = h, or (h, c) flattened for an LSTM) the one-step Jacobian
``J_i = ∂s_i/∂s_{i-1}`` is an S x S matrix per sequence of the batch, and

    ∂s_t/∂s_k = J_t J_{t-1} ... J_{k+1}              (the identity when t = k)

Backpropagation multiplies the error by this product: ``dE/ds_k = dE/ds_t ∂s_t/∂s_k``.  If its
norm shrinks geometrically in t - k, the gradient vanishes; if it grows, it explodes.  For the
vanilla cell ``h_i = φ(h_{i-1} W_rec + ...)`` the Jacobian has the closed form
``J_i = diag(φ'(a_i)) W_recᵀ``; here it is computed for any cell through the engine's VJPs:
evaluating the cell on S copies of each state and pulling back the S basis vectors gives all
S rows in one backward pass (the rows of a batch are independent, so copies can share it).
"""
from __future__ import annotations

import numpy as np

import minigrad as mg

from .init import spectral_radius
from .regularizer import state_gradients
from .sequence import Unrolled, weight_versions


def _flat(state):
    return mg.concat(list(state), axis=-1) if isinstance(state, tuple) else state


def _unflat(flat, template):
    if not isinstance(template, tuple):
        return flat
    sizes = [c.shape[-1] for c in template]
    return tuple(mg.split(flat, sizes, axis=-1))


class JacobianChain:
    """Per-step Jacobians of a recorded run, their products, norms and spectra.

    ``JacobianChain(cell, inputs, run, loss=None)``; ``run`` is :func:`rnn.unroll`'s result
    on ``inputs`` (T, B, n_in).  With a ``loss`` built from that run, ``deltas[k - 1]`` is
    dE/ds_k (flattened, (B, S)) and ``grad_norms[k - 1]`` its norm, read from the tape by
    :func:`rnn.state_gradients`: the total derivative with respect to the state handed to step
    k + 1, so that ``dE/ds_k = dE/ds_{k+1} J_{k+1} + ∂E/∂s_k`` (∂E/∂s_k the head's direct
    read of h_k); for an LSTM not the gradient at the c_k node inside step k, which adds the
    path c_k -> h_k of that same step.  ``steps`` is a (T, B, S, S) tensor on the run's device:
    ``steps[i - 1, b]`` is J_i for sequence b.  Steps are numbered as states: J_i maps s_{i-1}
    to s_i, i = 1..T.

    The Jacobians are those of ``cell`` at the run's states, so ``cell`` must be the one that
    recorded the run, with the weights it had then: a run of :func:`rnn.unroll` remembers both,
    and another cell, or the same one after an in-place change of its weights (an optimizer
    step), is refused.  A run made by hand (``Unrolled(states)``) records no cell: there the
    caller answers for the match.
    """

    def __init__(self, cell, inputs, run: Unrolled, loss=None, max_rows: int = 200_000):
        _check_run(inputs, run)
        _check_cell(cell, run)
        if not _is_int(max_rows) or max_rows < 1:
            raise ValueError(f"max_rows must be a whole number >= 1, got {max_rows!r}")
        self.cell, self.run = cell, run
        T, B = len(run), inputs.shape[1]
        template = run.states[0]
        S = _flat(template).shape[-1]
        self.T, self.B, self.S = T, B, S
        eye = mg.eye(S, dtype=_flat(template).dtype, device=inputs.device)
        chunk = max(1, max_rows // (S * B))
        blocks = []
        for start in range(0, T, chunk):
            c = min(chunk, T - start)
            with mg.no_grad():
                prev = mg.stack([_flat(s).detach() for s in run.states[start:start + c]])       # (c, B, S)
                prev = mg.broadcast_to(prev, (S, c, B, S)).reshape(S * c * B, S)
                x = mg.broadcast_to(inputs[start:start + c], (S,) + (c, B, inputs.shape[2]))
                x = x.reshape(S * c * B, inputs.shape[2])
                seed = mg.broadcast_to(eye.reshape(S, 1, 1, S), (S, c, B, S)).reshape(S * c * B, S)
            prev.requires_grad_()
            out = _flat(self.cell(x, _unflat(prev, template)))
            (g,) = mg.grad(out, [prev], grad_outputs=[seed])
            blocks.append(g.reshape(S, c, B, S).permute(1, 2, 0, 3))          # (c, B, row j, col k)
        self.steps = mg.concat(blocks, axis=0) if len(blocks) > 1 else blocks[0]
        self.grad_norms = None
        if loss is not None:
            _, deltas = state_gradients(loss, run)
            self.deltas = [_flat(d) for d in deltas]
            self.grad_norms = np.stack([np.sqrt((d * d).sum(-1).numpy()) for d in self.deltas])   # (T, B)

    # ----------------------------------------------------------------- matrices
    def jacobian(self, i: int):
        """J_i = ∂s_i/∂s_{i-1}, shape (B, S, S), for i in 1..T."""
        if not _is_int(i) or not 1 <= i <= self.T:
            raise IndexError(f"step {i!r} out of range: one-step Jacobians are numbered 1..{self.T}")
        return self.steps[i - 1]

    def product(self, t: int, k: int):
        """∂s_t/∂s_k = J_t ... J_{k+1}, shape (B, S, S); the identity when t == k."""
        self._check_span(t, k)
        P = mg.broadcast_to(mg.eye(self.S, dtype=self.steps.dtype, device=self.steps.device), (self.B, self.S, self.S))
        for i in range(k + 1, t + 1):
            P = self.steps[i - 1] @ P
        return P

    # ----------------------------------------------------------------- spectra
    def singular_values(self, i: int) -> np.ndarray:
        """Singular values of J_i, (B, S), largest first (computed on the run's device)."""
        J = self.jacobian(i)
        return mg.tensor(J.backend.linalg.svd(J.data, compute_uv=False), device=J.device).numpy()

    def eigenvalues(self, i: int) -> np.ndarray:
        """Eigenvalues of J_i, (B, S) complex (on the host: CuPy before 14 has no general eigensolver)."""
        return np.linalg.eigvals(self.jacobian(i).numpy())

    def spectral_radius_W_rec(self) -> float:
        """The spectral radius of the cell's W_rec (vanilla cells)."""
        if not hasattr(self.cell, "W_rec"):
            raise AttributeError(f"{type(self.cell).__name__} has no W_rec")
        return spectral_radius(self.cell.W_rec.numpy())

    def _check_span(self, t, k):
        if not (_is_int(t) and _is_int(k)) or not 0 <= k <= t <= self.T:
            raise IndexError(f"need whole numbers 0 <= k <= t <= {self.T}, got t={t!r}, k={k!r}")

    def _check_batch(self, batch):
        if not _is_int(batch) or not -self.B <= batch < self.B:
            raise IndexError(f"batch must be a sequence index in 0..{self.B - 1} (or -{self.B}..-1), got {batch!r}")

    def norm(self, t: int, k: int, log10: bool = False) -> np.ndarray:
        """Spectral norm ||∂s_t/∂s_k||₂ for every sequence, (B,), float64 (exact: one SVD each).

        The product is formed on the host in float64, rescaled after every step (a scale times
        a matrix of largest entry 1), so that a float32 run's norms do not underflow to 0 where
        float64 holds them (1e-95 after 40 sigmoid steps), and with ``log10`` the base-10
        logarithms, finite even below float64's range.  (:meth:`product` itself is in the run's
        dtype and underflows with it.)"""
        self._check_span(t, k)
        J = self.steps.numpy().astype(np.float64)                 # (T, B, S, S)
        P = np.broadcast_to(np.eye(self.S), (self.B, self.S, self.S)).copy()
        log_scale = np.zeros(self.B)
        for i in range(k + 1, t + 1):
            P = J[i - 1] @ P
            peak = np.abs(P).max(axis=(1, 2))
            peak = np.where(peak > 0, peak, 1.0)
            P /= peak[:, None, None]
            log_scale += np.log10(peak)
        with np.errstate(divide="ignore"):
            out = log_scale + np.log10(np.linalg.svd(P, compute_uv=False)[:, 0])
        return out if log10 else 10.0 ** out

    def norms(self, batch: int = 0, method: str = "power", log10: bool = False, tol: float = 1e-10,
              max_iter: int = 32) -> np.ndarray:
        """Spectral norms ||∂s_t/∂s_k||₂ of sequence ``batch`` for every 0 <= k <= t <= T.

        A (T+1, T+1) array indexed [t, k], NaN above the diagonal (k > t); with ``log10`` the
        base-10 logarithms, which stay finite where the norms themselves underflow (a sigmoid
        network's products fall below 1e-300 within a hundred steps).  The products are built
        for all k at once, ``P_{t,k} = J_t P_{t-1,k}``, each kept as a scale times a matrix of
        largest entry 1.  ``method="svd"`` takes one SVD per pair (exact, slow: T²/2 of them);
        ``"power"`` (default) runs a power iteration on PᵀP, warm-started from the previous t
        (whose top singular vector is nearly the same), until the residual of the Rayleigh
        quotient θ = |P v|² is below ``tol`` θ: then θ is within a relative ``tol`` of an
        eigenvalue of PᵀP, so σ = √θ within about ``tol``/2 (a few iterations per t).  A matrix
        whose top two singular values are close converges slowly; those still unsettled after
        ``max_iter`` iterations get an exact SVD instead of a wrong estimate (an SVD of an S x S
        matrix costs about as much as 30 iterations, hence the default).  Computed in
        float64 whatever the run's dtype.
        """
        if method not in ("power", "svd"):
            raise ValueError(f"method must be 'power' or 'svd', got {method!r}")
        self._check_batch(batch)
        if not tol >= 0:
            raise ValueError(f"tol must be >= 0, got {tol}")
        if not _is_int(max_iter) or max_iter < 1:
            raise ValueError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
        J = self.steps[:, batch].numpy().astype(np.float64)  # (T, S, S) on the host, float64
        T, S = self.T, self.S
        out = np.full((T + 1, T + 1), np.nan)
        np.fill_diagonal(out, 0.0)
        rng = np.random.default_rng(0)
        P, log_scale = np.empty((0, S, S)), np.empty(0)
        V = np.empty((0, S, 1))
        for t in range(1, T + 1):
            P = np.concatenate([J[t - 1] @ P, J[t - 1][None]])          # P[k] ∝ ∂s_t/∂s_k
            log_scale = np.append(log_scale, 0.0)
            peak = np.abs(P).max(axis=(1, 2))
            peak = np.where(peak > 0, peak, 1.0)
            P /= peak[:, None, None]
            log_scale += np.log10(peak)
            if method == "svd":
                sigma = np.linalg.svd(P, compute_uv=False)[:, 0]
            else:
                start = rng.standard_normal((1, S, 1))
                V = np.concatenate([V, start / np.linalg.norm(start)])
                sigma, V = _power_norms(P, V, tol, max_iter)
            with np.errstate(divide="ignore"):
                out[t, :t] = log_scale + np.log10(sigma)
        return out if log10 else 10.0 ** out


def _power_norms(P: np.ndarray, v: np.ndarray, tol: float, max_iter: int, check_every: int = 8):
    """Largest singular value of each matrix in a stack by power iteration on A = PᵀP, from the
    unit vectors ``v`` (n, S, 1); returns the values and the final vectors.

    The estimate is the Rayleigh quotient θ = vᵀAv = |Pv|²; a matrix has settled when the
    residual |Av - θv| is at most ``tol`` θ (then an eigenvalue of the symmetric A lies within
    ``tol`` θ of θ).  A change of the estimate between iterations is no such test: with close
    top singular values it is tiny long before the estimate is right.  Matrices still unsettled
    after ``max_iter`` iterations get their value from an SVD."""
    sigma = np.zeros(P.shape[0])
    v = v.copy()
    active = np.arange(P.shape[0])
    done_iters = 0
    while active.size and done_iters < max_iter:
        sub, w_v = P[active], v[active]
        for _ in range(min(check_every, max_iter - done_iters)):
            Pv = sub @ w_v
            w = np.swapaxes(sub, 1, 2) @ Pv                  # A v
            theta = (Pv * Pv).sum(axis=(1, 2))              # vᵀAv, v of unit norm
            residual = np.linalg.norm(w - theta[:, None, None] * w_v, axis=(1, 2))
            lam = np.linalg.norm(w, axis=1)[:, 0]
            w_v = w / np.where(lam > 0, lam, 1.0)[:, None, None]
            done_iters += 1
        sigma[active], v[active] = np.sqrt(theta), w_v
        settled = residual <= tol * theta
        active = active[~settled]
    if active.size:
        sigma[active] = np.linalg.svd(P[active], compute_uv=False)[:, 0]
    return sigma, v


def _is_int(i) -> bool:
    return isinstance(i, (int, np.integer)) and not isinstance(i, (bool, np.bool_))


def _check_cell(cell, run):
    """One-line errors for a cell that did not record ``run`` (:func:`rnn.unroll` notes it), or
    whose weights changed in place since (their ``version``), e.g. by an optimizer step."""
    if run.cell is None:
        return
    if cell is not run.cell:
        raise ValueError(f"the run was recorded by another cell (a {type(run.cell).__name__}), not this "
                         f"{type(cell).__name__}: pass the cell given to rnn.unroll, or unroll again with this one")
    if run.weights is None:
        return
    now = weight_versions(cell)
    if len(now) != len(run.weights) or any(t is not u for (t, _), (u, _) in zip(now, run.weights)):
        raise ValueError("the cell's weights changed since the run was recorded (replaced by other "
                         "tensors): unroll again")
    changed = [t.name or f"weight {i}" for i, ((t, v), (_, w)) in enumerate(zip(now, run.weights)) if v != w]
    if changed:
        raise ValueError(f"the cell's weights changed since the run was recorded ({', '.join(changed)} changed "
                         "in place, e.g. by an optimizer step): unroll again")


def _check_run(inputs, run):
    """One-line errors for a run that does not belong to ``inputs`` (by their shapes; a run need
    not come from :func:`rnn.unroll` itself: rnn.dynamics evaluates at given states)."""
    if not isinstance(run, Unrolled):
        raise TypeError(f"run must be rnn.unroll's result (an Unrolled), got {type(run).__name__}")
    if not isinstance(inputs, mg.Tensor):
        raise TypeError(f"inputs must be the Tensor (T, B, n_in) the run was computed on, got {type(inputs).__name__}")
    if len(run) < 1:
        raise ValueError("the run has no steps: there is no Jacobian to take (need T >= 1)")
    h = _flat(run.states[1])
    if inputs.ndim != 3 or h.ndim != 2:
        raise ValueError(f"JacobianChain takes one model: inputs (T, B, n_in) and states (B, S), got inputs "
                         f"{inputs.shape} and states {h.shape} (packed models: inspect one at a time)")
    if inputs.shape[0] != len(run) or inputs.shape[1] != h.shape[0]:
        raise ValueError(f"inputs {inputs.shape} do not match the run ({len(run)} steps, batch {h.shape[0]}): "
                         "pass the inputs the run was computed on")
