"""Recurrent networks as dynamical systems (the paper's section 2.2 and Figure 3).

**The one-unit model** of the paper (after Doya 1993), ``x_t = w σ(x_{t-1}) + b``, σ the
logistic sigmoid.  Its fixed points solve ``g(x) = w σ(x) + b - x = 0``; x* is stable when the
multiplier ``|w σ'(x*)| < 1``.  g' = w σ'(x) - 1 vanishes where ``σ(x)(1 - σ(x)) = 1/w``, i.e.
(for w > 4 only) at

    x_c± = log(s± / (1 - s±)),     s± = (1 ± sqrt(1 - 4/w)) / 2,

so g is monotone between these points and every fixed point is found by bisection on a bracket
(x* lies in [b, b + w] for w > 0, as σ ∈ (0, 1)).  At x_c a stable and an unstable fixed point
meet and vanish (saddle-node bifurcation), at ``b = x_c - w σ(x_c)``: for w = 5, b = -2.656 and
-2.344; between these two values the map is bistable (two stable points, an unstable one
between them), outside it has one fixed point.  In the
(b, w) plane the fold curve is, with x the fixed point where it happens,

    w = 1/σ'(x) = 2 + 2 cosh x,       b = x - w σ(x) = x - 1 - eˣ

(a cusp at x = 0: w = 4, b = -2); for fixed b <= -2 the two folds in w are at
``x = b + 1 - W_k(-e^{b+1})`` (Lambert W, branches 0 and -1), solved here by bisection.  For
w > 0 the map is increasing, so the basin boundary of the two attractors is the unstable fixed
point itself: from x_0 above it the state goes up, from below it goes down.  The error cliff of
the paper's Figure 6 (``viz.plots.error_cliff``: b = -2.5, x_0 = 0.5, w from 4.3 to 5.6) is where
that boundary sweeps across x_0, at ``w = (x_0 - b)/σ(x_0)`` = 4.819, just after the saddle-node
that creates it (w = 4.782): the state ends in another basin and the loss jumps.

**Fixed points of an RNN** (Sussillo and Barak 2013): minimize ``q(h) = ½ |F(h) - h|²`` over h,
F(h) the cell's update at a constant input, by gradient descent (Adam) with the engine's
gradients from many starting states, then Newton steps ``h ← h - (J - I)⁻¹ (F(h) - h)`` with
the engine's Jacobian, damped (Levenberg-Marquardt) and kept only where they lower q.  Zeros
of q are fixed points, small nonzero minima slow points; the eigenvalues of J = ∂F/∂h there
say which directions attract (|λ| < 1) and which repel.

**Lyapunov exponents.**  For states s_0, s_1, ..., s_T and one-step Jacobians
``J_i = ∂s_i/∂s_{i-1}`` (:class:`rnn.JacobianChain`), an infinitesimal perturbation grows as
``δs_t = J_t ... J_1 δs_0``.  The Lyapunov exponents are the rates

    λ_j = lim_{T→∞} (1/T) log σ_j(J_T ... J_1)              (natural log, per step)

computed stably by reorthonormalization (Benettin et al. 1980): with Q_0 (S x k, orthonormal)

    J_i Q_{i-1} = Q_i R_i   (QR),        λ_j ≈ (1/T) Σ_i log |R_i[j, j]|

(Q_0 a random orthonormal start: with Q_0 = I a diagonal Jacobian would never turn e_1
towards its fastest direction).  ``log |R_i[j, j]|`` is the local (one-step) growth of the j-th
direction; means over windows are the finite-time exponents.  λ_1 < 0: perturbations (and
back-propagated errors) vanish along the trajectory, on average by exp(λ_1) per step; λ_1 > 0:
they explode -- the gradient norm of the paper's analysis, measured on the trajectory instead
of bounded.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

import minigrad as mg

from .jacobian import JacobianChain
from .sequence import unroll

__all__ = ["sigmoid", "one_unit_map", "one_unit_multiplier", "one_unit_fixed_points", "one_unit_stable",
           "one_unit_saddle_nodes", "one_unit_folds_in_w", "one_unit_fold_curve", "one_unit_basin_boundary_w",
           "one_unit_attractor", "FixedPoints", "find_fixed_points", "state_jacobians",
           "LyapunovRun", "lyapunov_run", "lyapunov_spectrum", "largest_lyapunov_exponent",
           "perturbation_exponent"]


# ============================================================================ the one-unit model
def sigmoid(x):
    """σ(x) = 1 / (1 + e^-x), without overflow (NumPy, scalar or array)."""
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    out = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    return out if out.ndim else float(out)


def one_unit_map(x, w, b):
    """One step of the paper's one-unit RNN: ``w σ(x) + b``."""
    return w * sigmoid(x) + b


def one_unit_multiplier(x, w):
    """d/dx (w σ(x) + b) = w σ(x)(1 - σ(x)): the fixed point x is stable when |.| < 1."""
    s = sigmoid(x)
    return w * s * (1.0 - s)


def one_unit_stable(x, w):
    """Whether the fixed point x of ``w σ(x) + b`` is stable: |w σ'(x)| < 1."""
    return np.abs(one_unit_multiplier(x, w)) < 1.0


def _critical_points(w: float) -> list:
    """Where g'(x) = w σ'(x) - 1 = 0: none for w <= 4, x_c- < x_c+ (symmetric about 0) for w > 4."""
    if w <= 4.0:
        return []
    r = np.sqrt(1.0 - 4.0 / w)
    return [float(np.log((1 - r) / (1 + r))), float(np.log((1 + r) / (1 - r)))]


def _bisect(f, lo: float, hi: float, flo: float) -> float:
    """A root of f in [lo, hi] given a sign change (f(lo) = flo), to the last bit."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        fm = f(mid)
        if fm == 0.0:
            return mid
        if (fm < 0) == (flo < 0):
            lo, flo = mid, fm
        else:
            hi = mid
    return 0.5 * (lo + hi)


def one_unit_fixed_points(w: float, b: float) -> np.ndarray:
    """All fixed points of ``x -> w σ(x) + b``, increasing (one, or up to three for w > 4).

    g(x) = w σ(x) + b - x is monotone between its critical points (module docstring), so each
    monotone piece of [b, b + w] (or [b + w, b] for w < 0) holds at most one root, found by
    bisection; a tangency (g = 0 to rounding at a critical point: the saddle-node itself, e.g.
    b from :func:`one_unit_saddle_nodes`) is one root, the critical point.
    """
    w, b = float(w), float(b)

    def g(x):                                          # scalar math: this runs in a bisection loop
        s = 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))
        return w * s + b - x

    lo, hi = (b, b + w) if w >= 0 else (b + w, b)
    if w == 0:
        return np.array([b])
    edges = [lo] + [c for c in _critical_points(w) if lo < c < hi] + [hi]
    roots = []
    for a, z in zip(edges[:-1], edges[1:]):
        ga, gz = g(a), g(z)
        if ga == 0.0:
            root = a
        elif gz == 0.0:
            root = z
        elif (ga < 0) != (gz < 0):
            root = _bisect(g, a, z, ga)
        else:
            continue
        if not roots or abs(root - roots[-1]) > 1e-12 * max(1.0, abs(root)):
            roots.append(root)
    # At a saddle-node g touches 0 at a critical point c: rounding makes g(c) a hair above or
    # below 0, which splits the double root into two roots ~1e-8 apart or loses it.  Where g(c)
    # is zero to rounding, c is the (one) root there.
    for c in edges[1:-1]:
        if abs(g(c)) <= 16 * np.finfo(float).eps * (abs(w) + abs(b) + abs(c)):
            near = 1e-6 * max(1.0, abs(c))
            roots = sorted([r for r in roots if abs(r - c) > near] + [c])
    return np.array(roots)


def one_unit_saddle_nodes(w: float) -> np.ndarray:
    """The saddle-node bifurcations of ``w σ(x) + b`` over b at fixed w: rows ``(b, x)``, b
    increasing; empty for w <= 4.  Closed form: x = x_c± (critical points of g), b = x - w σ(x).
    Between the two b the map has three fixed points (two stable), outside it one."""
    rows = [(x - w * sigmoid(x), x) for x in _critical_points(w)]
    return np.array(sorted(rows)).reshape(-1, 2)


def one_unit_fold_curve(x):
    """The fold (saddle-node) curve in the (b, w) plane, parametrized by the fixed point x where
    the fold happens: ``w = 2 + 2 cosh x``, ``b = x - 1 - eˣ``.  Returns ``(b, w)``."""
    x = np.asarray(x, dtype=float)
    return x - 1.0 - np.exp(x), 2.0 + 2.0 * np.cosh(x)


def one_unit_folds_in_w(b: float) -> np.ndarray:
    """The saddle-node bifurcations over w at fixed b: rows ``(w, x)``, w increasing; empty for
    b > -2 (the cusp).  x solves ``x - 1 - eˣ = b`` (x = b + 1 - W(-e^{b+1})), one root on each
    side of 0, by bisection; w = 2 + 2 cosh x."""
    b = float(b)
    if b > -2.0:
        return np.empty((0, 2))

    def h(x):
        return x - 1.0 - np.exp(x) - b

    xs = []
    if b == -2.0:
        xs = [0.0]
    else:
        lo = b - 1.0                                   # h(b - 1) = -2 - e^{b-1} < 0 <= h(0) = -2 - b
        xs.append(_bisect(h, lo, 0.0, h(lo)))
        hi = 1.0
        while h(hi) > 0:                               # h decreases to -inf for x > 0
            hi *= 2.0
        xs.append(_bisect(h, 0.0, hi, h(0.0)))
    rows = [(2.0 + 2.0 * np.cosh(x), x) for x in xs]
    return np.array(sorted(rows)).reshape(-1, 2)


def one_unit_basin_boundary_w(x0: float, b: float) -> float:
    """The w at which the unstable fixed point passes through x0 (``x0 = w σ(x0) + b``), i.e.
    where the start x0 changes basin: the error cliff of the paper's Figure 6.

    x0 is a fixed point only at ``w = (x0 - b)/σ(x0)``; it is the basin boundary there only if
    it is unstable, ``w σ'(x0) = (x0 - b)(1 - σ(x0)) > 1`` (which needs w > 4).  Otherwise (the
    fixed point through x0 is stable, or w <= 0) no basin boundary ever crosses x0 at this b:
    NaN.  The state's end can then still jump, but only at a saddle-node
    (:func:`one_unit_folds_in_w`), where the attractor x0 runs to appears or vanishes.
    """
    x0, b = float(x0), float(b)
    s = sigmoid(x0)
    if s == 0.0:                                       # σ(x0) underflows (x0 < -745): w would be infinite
        return float("nan")
    w = (x0 - b) / s
    if not (w > 0 and math.isfinite(w) and (x0 - b) * (1.0 - s) > 1.0):
        return float("nan")
    return float(w)


def one_unit_attractor(x0, w, b, steps: int = 2000):
    """Where the map takes each start x0 after ``steps`` iterations (NumPy, vectorized over
    arrays of x0, w and b that broadcast): the basins of attraction, by brute force."""
    x = np.broadcast_to(np.asarray(x0, dtype=float), np.broadcast(x0, w, b).shape).copy()
    for _ in range(steps):
        x = w * sigmoid(x) + b
    return x


def _first_param(cell):
    for p in cell.parameters():
        return p
    raise ValueError(f"{type(cell).__name__} has no parameters to take a dtype and device from")


def _as_inputs(cell, inputs):
    """``inputs`` as a (T, B, n_in) tensor on the cell's device and in its dtype."""
    p = _first_param(cell)
    if isinstance(inputs, mg.Tensor):
        x = inputs.detach().to(p.device)                 # the cell's device and dtype, as for arrays
        x = x if x.dtype == p.dtype else x.astype(p.dtype)
    else:
        x = mg.tensor(np.asarray(inputs, dtype=float), dtype=p.dtype, device=p.device)
    if x.ndim != 3 or x.shape[-1] != cell.n_in:
        raise ValueError(f"inputs must have shape (T, B, {cell.n_in}) (time first), got {tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError("inputs must have at least one time step")
    return x


def _as_state(cell, h0, batch):
    """The start state: zeros, or ``h0`` -- an array or tensor (B, S) of flat states (for an
    LSTM (h, c) side by side, S = 2N), or a state as the cell takes it (an LSTM's tuple) --
    detached, on the cell's device and in its dtype."""
    template = cell.initial_state(batch)
    if h0 is None:
        return template
    p = _first_param(cell)
    parts = h0 if isinstance(h0, tuple) else (h0,)
    host = [h.numpy() if isinstance(h, mg.Tensor) else np.asarray(h, dtype=float) for h in parts]
    flat = _flat_host(template)
    try:
        given = np.concatenate(host, axis=-1) if len(host) > 1 else host[0]
    except ValueError:
        given = None
    if given is None or given.shape != flat.shape:
        shapes = " and ".join(str(np.shape(h)) for h in host)
        raise ValueError(f"h0 must be a ({batch}, {flat.shape[-1]}) array of states (one per sequence of the "
                         f"batch{', h and c side by side' if isinstance(template, tuple) else ''}), got {shapes}")
    return _to_state(np.asarray(given, dtype=float), template, p)


def _flat_host(state) -> np.ndarray:
    parts = state if isinstance(state, tuple) else (state,)
    return np.concatenate([c.numpy() for c in parts], axis=-1)


# ============================================================================ fixed points of an RNN
def _template(cell):
    return cell.initial_state(1)


def _to_state(flat, template, p):
    """A flat (B, S) host array as a state shaped like ``template`` (a tuple for an LSTM)."""
    if not isinstance(template, tuple):
        return mg.tensor(flat, dtype=p.dtype, device=p.device)
    sizes = np.cumsum([c.shape[-1] for c in template])[:-1]
    return tuple(mg.tensor(a, dtype=p.dtype, device=p.device) for a in np.split(flat, sizes, axis=-1))


def _constant_input(cell, x, batch):
    """The constant input of the autonomous map, repeated (batch, n_in): zeros, or ``x`` (n_in,)."""
    p = _first_param(cell)
    x = np.zeros(cell.n_in) if x is None else (x.numpy() if isinstance(x, mg.Tensor) else np.asarray(x, dtype=float))
    if x.shape != (cell.n_in,):
        raise ValueError(f"the constant input must have shape ({cell.n_in},), got {x.shape}")
    return mg.tensor(np.broadcast_to(x, (batch, cell.n_in)).copy(), dtype=p.dtype, device=p.device)


def state_jacobians(cell, states, x=None) -> np.ndarray:
    """J = ∂F/∂s at each of the flat states (K, S) under the constant input ``x`` (zeros by
    default): (K, S, S), ``J[k, i, j] = ∂F(s_k)_i / ∂s_j``, from :class:`rnn.JacobianChain`."""
    states = np.atleast_2d(np.asarray(states, dtype=float))
    p, template = _first_param(cell), _template(cell)
    s = _to_state(states, template, p)
    xs = _constant_input(cell, x, len(states))[None]                # (1, K, n_in)
    from .sequence import Unrolled
    chain = JacobianChain(cell, xs, Unrolled([s, s]))
    return chain.steps[0].numpy().astype(np.float64)


@dataclass
class FixedPoints:
    """What :func:`find_fixed_points` found.

    ``points`` (K, S): the distinct points (flat states) where the searches ended, sorted by
    q = ½|F(h) - h|² (below ``tol``: fixed points, see ``fixed``; above: slow points or searches
    that did not converge); ``q`` (K,); ``counts`` (K,) how many starts ended there;
    ``jacobians`` (K, S, S) and ``eigenvalues`` (K, S) complex, largest modulus first;
    ``finals``/``final_q``: every start's end point and its q, before merging.
    """

    points: np.ndarray
    q: np.ndarray
    counts: np.ndarray
    jacobians: np.ndarray
    eigenvalues: np.ndarray
    finals: np.ndarray
    final_q: np.ndarray
    tol: float

    @property
    def spectral_radius(self) -> np.ndarray:
        """(K,) max |eigenvalue| of J at each point."""
        return np.abs(self.eigenvalues).max(axis=1) if len(self.points) else np.empty(0)

    @property
    def stable(self) -> np.ndarray:
        """(K,) whether each point attracts: every |eigenvalue| < 1."""
        return self.spectral_radius < 1.0

    @property
    def fixed(self) -> np.ndarray:
        """(K,) whether each point is a fixed point (q below ``tol``), not only a slow point."""
        return self.q < self.tol


def _q_and_grad(cell, h, xin, template, p):
    """q = ½|F(h) - h|² per row (B,) and its gradient (B, S), by the engine."""
    ht = mg.tensor(h, dtype=p.dtype, device=p.device, requires_grad=True)
    parts = _to_state_tensor(ht, template)
    r = _flat_tensor(cell(xin, parts)) - ht
    q = 0.5 * (r * r).sum(-1)
    (g,) = mg.grad(q.sum(), [ht])
    return q.numpy().astype(np.float64), g.numpy().astype(np.float64), r.detach().numpy().astype(np.float64)


def _to_state_tensor(flat, template):
    if not isinstance(template, tuple):
        return flat
    return tuple(mg.split(flat, [c.shape[-1] for c in template], axis=-1))


def _flat_tensor(state):
    return mg.concat(list(state), axis=-1) if isinstance(state, tuple) else state


def _polish(cell, h, q, r, x, xin, template, p, iterations: int, tol: float):
    """Levenberg-Marquardt on r(h) = F(h) - h, row by row: with A = J - I,

        δ = -(AᵀA + μ I)⁻¹ Aᵀ r,

    a step kept only where it lowers q (then μ /= 10, towards Newton's δ = -A⁻¹ r and its
    quadratic convergence), else μ *= 10 (towards a short gradient step).  Plain Newton steps
    overshoot where J has an eigenvalue near 1 (a slow direction, common in trained networks:
    the fixed point lies far along a shallow valley of q) and fail where A is singular (a line
    of fixed points); the damping handles both."""
    S = h.shape[1]
    eye = np.eye(S)
    mu = np.full(len(h), 1e-8)
    misses = np.zeros(len(h), dtype=int)          # steps refused in a row
    for _ in range(iterations):
        # a row is done at q = 0, at μ's ceiling, or below tol after 3 refusals (rounding)
        active = (q > 0) & (mu < 1e12) & ~((q < tol) & (misses >= 3))
        if not active.any():
            break
        A = state_jacobians(cell, h[active], x) - eye
        At = np.swapaxes(A, 1, 2)
        H = At @ A + mu[active, None, None] * eye
        try:
            delta = -np.linalg.solve(H, At @ r[active][..., None])[..., 0]
        except np.linalg.LinAlgError:            # singular to rounding despite μ: least squares
            delta = -(np.linalg.pinv(H) @ (At @ r[active][..., None]))[..., 0]
        trial = h.copy()
        trial[active] += np.nan_to_num(delta)
        q_new, _, r_new = _q_and_grad(cell, trial, xin, template, p)
        better = active & (q_new < q)
        h = np.where(better[:, None], trial, h)
        q = np.where(better, q_new, q)
        r = np.where(better[:, None], r_new, r)
        mu = np.where(better, np.maximum(mu / 10, 1e-15), np.where(active, mu * 10, mu))
        misses = np.where(better, 0, misses + active)
    return h, q


def find_fixed_points(cell, starts, x=None, steps: int = 2000, lr: float = 0.01, tol: float = 1e-12,
                      newton: int = 50, merge: float = 1e-4, progress=None) -> FixedPoints:
    """Fixed and slow points of ``h -> cell(x, h)`` (constant input ``x``, zeros by default),
    by minimizing q(h) = ½|F(h) - h|² from each row of ``starts`` (n, S) (module docstring).

    ``steps`` Adam steps of size ``lr`` on all starts at once (the engine's gradient of q), then
    up to ``newton`` damped Newton (Levenberg-Marquardt) steps with the engine's Jacobian, each
    kept for a start only where it lowers q (:func:`_polish`); end points
    closer than ``merge`` (relative to their norm) are one point.  Returns :class:`FixedPoints`;
    ``progress`` (a callable taking a number of Adam steps just done) is called every 100 steps
    and after the last.
    """
    p, template = _first_param(cell), _template(cell)
    h = np.array(starts.numpy() if isinstance(starts, mg.Tensor) else starts, dtype=float)
    S = _flat_host(template).shape[-1]
    if h.ndim != 2 or h.shape[1] != S or len(h) < 1:
        raise ValueError(f"starts must be an (n, {S}) array of states, got shape {h.shape}")
    xin = _constant_input(cell, x, len(h))
    m, v = np.zeros_like(h), np.zeros_like(h)
    beta1, beta2, eps = 0.9, 0.999, 1e-12
    for t in range(1, steps + 1):
        q, g, _ = _q_and_grad(cell, h, xin, template, p)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        step = lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
        h = h - np.where((q > 1e-3 * tol)[:, None], step, 0.0)      # converged rows stay put
        if progress is not None and (t % 100 == 0 or t == steps):
            progress(100 if t % 100 == 0 else t % 100)
    q, _, r = _q_and_grad(cell, h, xin, template, p)
    h, q = _polish(cell, h, q, r, x, xin, template, p, newton, tol)
    # merge end points, best first
    order = np.argsort(q)
    points, qs, counts = [], [], []
    for i in order:
        for k, c in enumerate(points):
            if np.linalg.norm(h[i] - c) <= merge * max(1.0, np.linalg.norm(c)):
                counts[k] += 1
                break
        else:
            points.append(h[i])
            qs.append(q[i])
            counts.append(1)
    points = np.array(points)
    J = state_jacobians(cell, points, x)
    eig = np.linalg.eigvals(J)
    eig = np.take_along_axis(eig, np.argsort(-np.abs(eig), axis=1), axis=1)
    return FixedPoints(points=points, q=np.array(qs), counts=np.array(counts), jacobians=J, eigenvalues=eig,
                       finals=h, final_q=q, tol=tol)


@dataclass
class LyapunovRun:
    """What :func:`lyapunov_run` measured.

    ``local``: (T, B, k) one-step growth ``log |R_i[j, j]|`` of the j-th Gram-Schmidt direction
    at step i (natural log), all T steps, the discarded ones included; ``discard``: how many
    leading steps the exponents leave out (the transient, while Q aligns with the dominant
    directions); ``final_state``: the state after the last step (to continue a run).
    """

    local: np.ndarray
    discard: int
    final_state: object = None

    @property
    def per_sequence(self) -> np.ndarray:
        """(B, k) exponents of each sequence of the batch, largest first."""
        return self.local[self.discard:].mean(axis=0)

    @property
    def exponents(self) -> np.ndarray:
        """(k,) the exponents, averaged over the sequences of the batch."""
        return self.per_sequence.mean(axis=0)

    def finite_time(self, window: int) -> np.ndarray:
        """Finite-time exponents: means of ``local`` over consecutive windows of ``window``
        steps after the discarded ones, (n_windows, B, k)."""
        used = self.local[self.discard:]
        if not 1 <= window <= len(used):
            raise ValueError(f"window must be in 1..{len(used)} (steps after the discarded ones), got {window}")
        n = len(used) // window
        return used[:n * window].reshape(n, window, *used.shape[1:]).mean(axis=1)


def _tangent_start(S: int, k: int, seed) -> np.ndarray:
    """The first k columns of a random orthogonal S x S matrix (QR of a Gaussian one): the start
    Q_0 of the tangent directions.  Not the identity: a map that keeps coordinate subspaces
    (a diagonal or block-diagonal Jacobian, e.g. an identity W_rec) never turns e_1 towards its
    fastest-growing direction, and the "largest" exponent would be e_1's own rate.  Taking the
    first k columns of one S x S draw, the k leading directions are the same for every k."""
    Q, R = np.linalg.qr(np.random.default_rng(seed).standard_normal((S, S)))
    return (Q * np.sign(np.diagonal(R)))[:, :k]


def lyapunov_run(cell, inputs, h0=None, k=None, discard: int = 0, chunk: int | None = None,
                 seed=0) -> LyapunovRun:
    """Run ``cell`` over ``inputs`` (T, B, n_in) from ``h0`` (zeros by default) and carry k
    orthonormal tangent directions along with QR at every step (see the module docstring),
    starting from k random orthonormal directions (``seed``; :func:`_tangent_start`).

    ``k`` (default: all S state dimensions, S = 2N for an LSTM) is how many exponents;
    ``discard`` leading steps are left out of the means.  The Jacobians come from
    :class:`rnn.JacobianChain` (the engine's VJPs, any cell), ``chunk`` steps at a time so that
    memory stays bounded for long runs (default: about 4 million Jacobian entries, 32 MB, per
    chunk); the QR is done in float64 on the host.
    """
    x = _as_inputs(cell, inputs)
    T, B = x.shape[0], x.shape[1]
    if not 0 <= discard < T:
        raise ValueError(f"discard must be in 0..{T - 1} (the run has {T} steps), got {discard}")
    state = _as_state(cell, h0, B)
    S = _flat_host(state).shape[-1]
    k = S if k is None else int(k)
    if not 1 <= k <= S:
        raise ValueError(f"k must be in 1..{S} (the state has {S} dimensions), got {k}")
    if chunk is None:
        chunk = max(1, 4_000_000 // (B * S * S))
    Q = np.broadcast_to(_tangent_start(S, k, seed), (B, S, k)).copy()
    local = np.empty((T, B, k))
    for start in range(0, T, chunk):
        xs = x[start:start + chunk]
        with mg.no_grad():
            run = unroll(cell, xs, state)
        steps = JacobianChain(cell, xs, run).steps.numpy().astype(np.float64)     # (c, B, S, S)
        for i in range(steps.shape[0]):
            Q, R = np.linalg.qr(steps[i] @ Q)
            d = np.abs(np.diagonal(R, axis1=-2, axis2=-1))
            with np.errstate(divide="ignore"):
                local[start + i] = np.log(d)
        state = run.final
    return LyapunovRun(local=local, discard=discard, final_state=state)


def lyapunov_spectrum(cell, inputs, h0=None, k=None, discard: int = 0, seed=0) -> np.ndarray:
    """The k largest Lyapunov exponents (natural log per step, largest first) of ``cell``
    driven by ``inputs`` (a (T, B, n_in) tensor or array) from ``h0`` (zeros by default), by QR
    over the Jacobian chain, leaving out the first ``discard`` steps; ``seed`` draws the random
    orthonormal start of the tangent directions.

    Each sequence of the batch is its own trajectory; the result is the **mean over the batch**
    of the per-sequence exponents (``lyapunov_run(...).per_sequence`` has them one by one).
    A (k,) NumPy array; ``-inf`` where a Jacobian is exactly singular along a direction.
    "Largest first" is the QR method's order: over a finite run, two exponents of a rotating
    (complex) pair can come out swapped by a little (6e-4 in a tanh network of session 14's
    audit); they converge to the same value as T grows.
    """
    return lyapunov_run(cell, inputs, h0=h0, k=k, discard=discard, seed=seed).exponents


def largest_lyapunov_exponent(cell, inputs, h0=None, discard: int = 0, seed=0) -> float:
    """λ_1, the largest Lyapunov exponent (natural log per step) of ``cell`` driven by
    ``inputs`` (T, B, n_in), **mean over the batch** of the per-sequence values: QR with one
    direction, i.e. a tangent vector renormalized every step.  ``exp(λ_1)`` is the factor by
    which the largest perturbation -- and the back-propagated error -- grows per step."""
    return float(lyapunov_spectrum(cell, inputs, h0=h0, k=1, discard=discard, seed=seed)[0])


def perturbation_exponent(cell, inputs, h0=None, discard: int = 0, eps: float | None = None, seed=0) -> float:
    """λ_1 by direct simulation, without any Jacobian (the check of :func:`largest_lyapunov_exponent`).

    Two trajectories, s and s' = s + eps·u (u a random unit vector), run side by side through
    the cell itself; after every step the distance d_i = |s'_i - s_i| is measured and s'_i put
    back at distance eps along s'_i - s_i (Benettin's renormalization), and

        λ_1 ≈ (1 / (T - discard)) Σ_{i > discard} log (d_i / eps)

    mean over the batch.  eps must be far above the rounding of the state and far below the
    scale on which the map is nonlinear: by default 1e-7 in float64, sqrt(machine epsilon) =
    3.5e-4 in float32 (1e-7 would be below a float32 state's rounding: the two trajectories
    would coincide and log 0 = -inf); float64 gives the closer check.
    """
    x = _as_inputs(cell, inputs)
    T, B = x.shape[0], x.shape[1]
    if not 0 <= discard < T:
        raise ValueError(f"discard must be in 0..{T - 1} (the run has {T} steps), got {discard}")
    state = _as_state(cell, h0, B)
    template = state
    S = _flat_host(state).shape[-1]
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((B, S))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    p = _first_param(cell)
    if eps is None:
        eps = max(1e-7, float(np.sqrt(np.finfo(np.dtype(p.dtype)).eps)))
    if not eps > 0:
        raise ValueError(f"eps must be a positive distance, got {eps}")

    def to_state(flat):
        return _to_state(flat, template, p)

    other = to_state(_flat_host(state) + eps * u)
    logs = np.empty((T, B))
    with mg.no_grad():
        for t in range(T):
            state, other = cell(x[t], state), cell(x[t], other)
            a, b = _flat_host(state), _flat_host(other)
            diff = b - a
            d = np.linalg.norm(diff, axis=-1)
            with np.errstate(divide="ignore"):
                logs[t] = np.log(d / eps)
            d = np.where(d > 0, d, 1.0)
            other = to_state(a + eps * diff / d[:, None])
    return float(logs[discard:].mean())
