"""Echo State Network: a fixed random reservoir and a trained linear readout (Jaeger 2001).

Reservoir update, as in reservoirpy (row vectors, leak rate ``lr``):

    x_t = (1 - lr) x_{t-1} + lr tanh(u_t W_in + x_{t-1} W + b)

``W`` is sparse (``connectivity``; drawn again while the draw is nilpotent, which a small or
very sparse reservoir often is, as its spectral radius 0 cannot be rescaled) and rescaled to the
requested spectral radius; ``W_in`` and ``b`` are uniform in [-1, 1] times ``input_scaling`` and
``bias_scaling``.  The reservoir is
fixed but part of the model's state: ``W``, ``W_in`` and ``b`` are Parameters with
``requires_grad`` off (never trained, but saved, loaded and moved by ``to()`` with the readout),
and ``state_dict()`` also holds the leak rate ``lr``, so that a saved ESN predicts the same
whatever seed the ESN it is loaded into was made with.  Only the readout
``y_t = [1, x_t] W_out`` is trained: in closed form by ridge regression (``fit``), solved on the
reservoir's device, or by gradient through the engine (``fit_gradient``).

The echo-state property: with spectral radius below 1 (more precisely, a contracting
reservoir) the state forgets where it started, so two runs from different initial states on
the same input converge; with a large spectral radius they need not.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.nn import CheckpointError, Module, Parameter

from .init import scale_to_spectral_radius


def _sparse_reservoir(units: int, connectivity: float, rng, tries: int = 1000) -> np.ndarray:
    """A (units, units) matrix with N(0, 1) entries kept with probability ``connectivity``, drawn
    again (from the same generator) while it is nilpotent: a sparse random matrix whose nonzeros
    form no cycle (likely for a few units or a low connectivity: 5 units at the default 0.1)
    has spectral radius 0 and cannot be rescaled to any other.  A first draw that is not
    nilpotent is kept as it is (the same reservoir for a seed as without redrawing)."""
    for _ in range(tries):
        W = rng.standard_normal((units, units)) * (rng.random((units, units)) < connectivity)
        if not W.any():
            W[rng.integers(units), rng.integers(units)] = 1.0
        if np.max(np.abs(np.linalg.eigvals(W))) > 1e-8 * np.max(np.abs(W)):
            return W
    raise ValueError(f"connectivity {connectivity} is too low for {units} units: every draw of the reservoir "
                     "was nilpotent (spectral radius 0); raise connectivity")


class ESN(Module):
    def __init__(self, n_in: int, units: int = 100, spectral_radius: float = 0.9, lr: float = 1.0,
                 input_scaling: float = 1.0, connectivity: float = 0.1, bias_scaling: float = 0.0,
                 ridge: float = 1e-6, seed=0, dtype=None, device=None):
        for name, value in (("n_in", n_in), ("units", units)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not 0 < lr <= 1:
            raise ValueError(f"leak rate lr must be in (0, 1], got {lr}")
        if not 0 < connectivity <= 1:
            raise ValueError(f"connectivity must be in (0, 1], got {connectivity}")
        if not ridge >= 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        if not (spectral_radius >= 0 and np.isfinite(spectral_radius)):
            raise ValueError(f"spectral_radius must be a finite number >= 0, got {spectral_radius}")
        for name, value in (("input_scaling", input_scaling), ("bias_scaling", bias_scaling)):
            if not np.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value}")
        rng = np.random.default_rng(seed)
        W = _sparse_reservoir(units, connectivity, rng)
        W = scale_to_spectral_radius(W, spectral_radius)
        dtype = dtype or mg.get_backend(device).default_float
        self.n_in, self.units, self.lr, self.ridge = n_in, units, lr, ridge

        def fixed(array, name):                # saved and moved with the model, never trained
            return Parameter(array, dtype=dtype, device=device, requires_grad=False, name=name)

        self.W = fixed(W, "W")
        self.W_in = fixed(rng.uniform(-1, 1, (n_in, units)) * input_scaling, "W_in")
        self.b = fixed(rng.uniform(-1, 1, units) * bias_scaling, "b")
        self.W_out = None                      # (1 + units, n_out) once fitted

    def _sequence(self, inputs):
        if not isinstance(inputs, mg.Tensor):
            inputs = mg.tensor(np.asarray(inputs), dtype=self.W.dtype, device=self.W.device)
        if inputs.ndim == 2:
            inputs = inputs.reshape(inputs.shape[0], 1, inputs.shape[1])
        if inputs.ndim != 3 or inputs.shape[2] != self.n_in:
            raise ValueError(f"inputs must have shape (T, {self.n_in}) or (T, B, {self.n_in}), got {inputs.shape}")
        return inputs

    def _state(self, state, batch):
        """The start state: zeros, or ``state`` (an array or tensor of shape (B, units))."""
        if state is None:
            return mg.zeros((batch, self.units), dtype=self.W.dtype, device=self.W.device)
        if not isinstance(state, mg.Tensor):
            state = mg.tensor(np.asarray(state, dtype=float), dtype=self.W.dtype, device=self.W.device)
        if tuple(state.shape) != (batch, self.units):
            raise ValueError(f"state must have shape ({batch}, {self.units}) (batch, units), got {tuple(state.shape)}")
        return state.detach()

    def run(self, inputs, state=None):
        """Reservoir states for ``inputs`` (T, B, n_in) or (T, n_in), from ``state`` (B, units)
        (zeros by default): a (T, B, units) tensor, x_1 ... x_T."""
        u = self._sequence(inputs)
        with mg.no_grad():
            x = self._state(state, u.shape[1])
            states = []
            for t in range(u.shape[0]):
                x = x + self.lr * ((u[t] @ self.W_in + x @ self.W + self.b).tanh() - x)
                states.append(x)
        return mg.stack(states)

    @staticmethod
    def _check_washout(washout, T):
        if isinstance(washout, bool) or not isinstance(washout, (int, np.integer)) or not 0 <= washout < T:
            raise ValueError(f"washout must be an integer in 0..{T - 1} (steps left out of the {T} of the "
                             f"inputs), got {washout!r}")

    @staticmethod
    def _design(states, washout):
        X = states[washout:].reshape(-1, states.shape[-1])
        return mg.concat([mg.ones((X.shape[0], 1), dtype=X.dtype, device=X.device), X], axis=1)

    def fit(self, inputs, targets, washout: int = 0):
        """Ridge-regression readout: W_out = (XᵀX + ridge I)⁻¹ XᵀY over the states after
        ``washout`` steps (X has a leading column of ones for the bias), solved on the device."""
        states = self.run(inputs)
        self._check_washout(washout, states.shape[0])
        X = self._design(states, washout)
        Y = self._targets(targets, states.shape[:2])[washout:].reshape(X.shape[0], -1)
        with mg.no_grad():
            A = X.T @ X + self.ridge * mg.eye(X.shape[1], dtype=X.dtype, device=X.device)
            rhs = X.T @ Y
            xp = A.backend
            try:
                solution = xp.linalg.solve(A.data, rhs.data)
            except Exception as e:                 # numpy's or cupy's LinAlgError
                if "singular" not in str(e).lower():
                    raise
                raise ValueError(f"the ridge system is singular (ridge {self.ridge:g}, {X.shape[0]} samples for "
                                 f"{X.shape[1]} readout weights per output): use ridge > 0") from None
            self.W_out = Parameter(mg.Tensor(solution, device=X.device), name="W_out")
        return self

    def _targets(self, targets, lead):
        """Targets as (T, B, n_out): given as (T, B, n_out), (T, B), (T, n_out) (B = 1) or (T,)."""
        Y = targets if isinstance(targets, mg.Tensor) else mg.tensor(np.asarray(targets), dtype=self.W.dtype, device=self.W.device)
        T, B = lead
        if Y.ndim == 0 or Y.shape[0] != T or Y.size % (T * B):
            raise ValueError(f"targets must have one row per input step, shape ({T}, {B}, n_out), ({T}, {B})"
                             f"{f' or ({T}, n_out)' if B == 1 else ''}, got {tuple(Y.shape)}")
        if Y.shape[:len(lead)] != tuple(lead):
            Y = Y.reshape(tuple(lead) + (-1,))
        return Y

    def readout(self, states):
        if self.W_out is None:
            raise RuntimeError("the readout is not trained yet: call fit() or fit_gradient() first")
        T, B = states.shape[:2]
        return (self._design(states, 0) @ self.W_out).reshape(T, B, -1)

    def predict(self, inputs):
        """Readout outputs (T, B, n_out) for ``inputs``."""
        return self.readout(self.run(inputs))

    # ----------------------------------------------------------------- saving
    def state_dict(self) -> dict:
        """The reservoir (``W``, ``W_in``, ``b``), the readout ``W_out`` once fitted, and the
        leak rate ``lr`` (a 0-d array): everything a prediction depends on."""
        state = super().state_dict()
        state["lr"] = np.asarray(self.lr, dtype=np.float64)
        return state

    def load_state_dict(self, state: dict, strict: bool = True):
        """Load a reservoir and readout saved by :meth:`state_dict` (into an ESN of the same
        ``n_in`` and ``units``, made with any seed; an unfitted ESN takes the readout's shape
        from the file).  Nothing changes unless everything fits."""
        state = dict(state)
        lr = state.pop("lr", None)
        if lr is not None:
            lr = np.asarray(lr)
            if lr.shape != () or not 0 < float(lr) <= 1:
                raise CheckpointError(f"ESN state dict: lr must be one number in (0, 1], got {lr!r}")
        elif strict:
            missing = [name for name, _ in self.named_parameters() if name not in state] + ["lr"]
            raise CheckpointError(f"state dict does not match ESN: missing {missing} (an ESN's state holds the "
                                  "reservoir W, W_in, b, the leak rate lr and, once fitted, the readout W_out)")
        placeholder = self.W_out is None and "W_out" in state
        if placeholder:                        # not fitted yet: a readout of the file's shape
            self.W_out = Parameter(mg.zeros(np.shape(state["W_out"]), dtype=self.W.dtype, device=self.W.device),
                                   name="W_out")
        try:
            result = super().load_state_dict(state, strict)
        except Exception:
            if placeholder:
                self.W_out = None
            raise
        if lr is not None:
            self.lr = float(lr)
        return result

    def fit_gradient(self, inputs, targets, washout: int = 0, steps: int = 500, lr: float = 0.1):
        """Train the readout by gradient descent on the mean squared error (through the engine)."""
        states = self.run(inputs)
        self._check_washout(washout, states.shape[0])
        X = self._design(states, washout)
        Y = self._targets(targets, states.shape[:2])[washout:].reshape(X.shape[0], -1)
        self.W_out = Parameter(mg.zeros((X.shape[1], Y.shape[1]), dtype=X.dtype, device=X.device), name="W_out")
        opt = mg.SGD([self.W_out], lr=lr, momentum=0.9)
        for _ in range(steps):
            opt.zero_grad()
            mg.mse(X @ self.W_out, Y).backward()
            opt.step()
        return self


# ----------------------------------------------------------------------------- data to test with
def mackey_glass(n: int, tau: int = 17, beta: float = 0.2, gamma: float = 0.1, power: int = 10,
                 dt: float = 0.1, subsample: int = 10, seed=0) -> np.ndarray:
    """A Mackey-Glass series, dx/dt = f(x(t), x(t-tau)) = beta x(t-tau) / (1 + x(t-tau)^power) - gamma x(t),
    from the constant history x = 1.2 + 0.1 N(0, 1) on [-tau, 0] (``seed``), integrated with
    classical Runge-Kutta steps of ``dt`` (tau/dt rounded to whole steps), the first 1000 steps
    left out (the transient) and then sampled every ``subsample`` steps: n values.

    One RK4 step from x_i with the delayed values d_0 = x_{i-lag}, d_1 = x_{i-lag+1} on the grid
    and d_½ = (d_0 + d_1)/2 between them (linear interpolation):

        k1 = f(x_i, d_0),  k2 = f(x_i + dt/2 k1, d_½),  k3 = f(x_i + dt/2 k2, d_½),  k4 = f(x_i + dt k3, d_1)
        x_{i+1} = x_i + dt/6 (k1 + 2 k2 + 2 k3 + k4)

    At dt = 0.1 the first 400 samples are within 1e-3 of a 20 times finer integration (Euler
    steps of the same dt were 5e-2 off within 200); the series is chaotic, so
    over longer spans any two integrations drift apart -- but stay on the same attractor.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (how many samples), got {n!r}")
    if not (dt > 0 and np.isfinite(dt)) or isinstance(subsample, bool) or not isinstance(subsample, (int, np.integer)) \
            or subsample < 1:
        raise ValueError(f"dt must be a positive number and subsample a positive integer, got dt={dt!r}, "
                         f"subsample={subsample!r}")
    lag = int(round(tau / dt))
    if lag < 1:
        raise ValueError(f"tau must be at least one step dt (tau / dt rounds to {lag} steps), got tau={tau!r}, dt={dt!r}")
    rng = np.random.default_rng(seed)

    def f(x, delayed):
        return beta * delayed / (1 + delayed ** power) - gamma * x

    total = n * subsample + lag + 1000
    x = np.empty(total)
    x[:lag + 1] = 1.2 + 0.1 * rng.standard_normal()
    for i in range(lag, total - 1):
        d0, d1 = x[i - lag], x[i - lag + 1]
        dm = 0.5 * (d0 + d1)
        k1 = f(x[i], d0)
        k2 = f(x[i] + 0.5 * dt * k1, dm)
        k3 = f(x[i] + 0.5 * dt * k2, dm)
        k4 = f(x[i] + dt * k3, d1)
        x[i + 1] = x[i] + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x[lag + 1000::subsample][:n]


def nrmse(prediction, target) -> float:
    """Root mean squared error divided by the target's (population) standard deviation: 1 is
    as good as predicting the target's mean.  Undefined for a constant target (refused)."""
    p, y = np.asarray(prediction).ravel(), np.asarray(target).ravel()
    if p.shape != y.shape or y.size == 0:
        raise ValueError(f"nrmse: prediction and target must hold the same number of values (at least one), "
                         f"got {p.size} and {y.size}")
    spread = np.std(y)
    if not spread > 0:
        raise ValueError("nrmse: the target is constant (standard deviation 0), so the normalised error is "
                         "undefined: use the RMSE instead")
    return float(np.sqrt(np.mean((p - y) ** 2)) / spread)
