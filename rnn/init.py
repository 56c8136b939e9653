"""Weight initializations, seeded, as host NumPy arrays (parameters move to their device after).

The paper's three schemes (PAPER.md, "Initializations"; the second argument of N is the
standard deviation):

| name        | W_in      | W_rec                                                    | W_out     | units   |
|-------------|-----------|----------------------------------------------------------|-----------|---------|
| sigmoid     | N(0, .01) | N(0, .01)                                                | N(0, .01) | sigmoid |
| basic_tanh  | N(0, .1)  | N(0, .1)                                                 | N(0, .1)  | tanh    |
| smart_tanh  | N(0, .01) | N(0, .01), 15 nonzeros per row, spectral radius 0.95     | N(0, .01) | tanh    |

Biases start at 0.  "15 nonzeros per row" is the authors' code (``W_hh[dx][spng[15:]] = 0``
with ``h·W_hh``, the convention here too, ``h_{t-1} @ W_rec``): a row holds a unit's *outgoing*
weights, so every unit sends to 15 others, where the paper's text speaks of 15 incoming ones; the
code that produced the paper's numbers is followed.  Also: ``identity`` (IRNN: ReLU units, W_rec = I), ``orthogonal`` and the
usual ``uniform(-1/sqrt(N), 1/sqrt(N))`` default.
"""
from __future__ import annotations

import numpy as np

PAPER_INITS = ("sigmoid", "basic_tanh", "smart_tanh")
INITS = PAPER_INITS + ("identity", "orthogonal", "uniform")
ACTIVATION_OF = {"sigmoid": "sigmoid", "basic_tanh": "tanh", "smart_tanh": "tanh",
                 "identity": "relu", "orthogonal": "tanh", "uniform": "tanh"}


def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def normal(shape, std: float, seed=0) -> np.ndarray:
    return _rng(seed).normal(0.0, std, shape)


def uniform_default(shape, fan: int, seed=0) -> np.ndarray:
    """U(-1/sqrt(fan), 1/sqrt(fan)), the common default for recurrent layers."""
    bound = 1.0 / np.sqrt(fan)
    return _rng(seed).uniform(-bound, bound, shape)


def spectral_radius(W) -> float:
    """The largest |eigenvalue| of a square matrix."""
    W = np.asarray(W)
    if W.ndim != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"spectral radius needs a square matrix, got shape {W.shape}")
    return float(np.max(np.abs(np.linalg.eigvals(W))))


def scale_to_spectral_radius(W, rho: float) -> np.ndarray:
    """``W`` rescaled so that its spectral radius is ``rho``."""
    if rho < 0:
        raise ValueError(f"spectral radius must be >= 0, got {rho}")
    r = spectral_radius(W)
    if r == 0:
        raise ValueError("cannot rescale a matrix whose spectral radius is 0 (nilpotent or zero)")
    return np.asarray(W) * (rho / r)


def sparse_rows(W, nonzeros: int, seed=0) -> np.ndarray:
    """Keep ``nonzeros`` randomly chosen entries in each row of ``W``, zero the rest."""
    W = np.array(W, dtype=float)
    rng = _rng(seed)
    n_rows, n_cols = W.shape
    if not 0 < nonzeros <= n_cols:
        raise ValueError(f"nonzeros per row must be in 1..{n_cols}, got {nonzeros}")
    keep = np.zeros_like(W, dtype=bool)
    for i in range(n_rows):
        keep[i, rng.choice(n_cols, nonzeros, replace=False)] = True
    return np.where(keep, W, 0.0)


def orthogonal(n: int, gain: float = 1.0, seed=0) -> np.ndarray:
    """A random orthogonal matrix (QR of a Gaussian one, signs fixed so it is uniform)."""
    q, r = np.linalg.qr(_rng(seed).standard_normal((n, n)))
    return gain * q * np.sign(np.diag(r))


def identity(n: int, scale: float = 1.0) -> np.ndarray:
    return scale * np.eye(n)


def recurrent_weights(name: str, n_in: int, hidden: int, n_out: int | None = None, seed=0) -> dict:
    """The parameters of ``h_t = phi(h_{t-1} W_rec + u_t W_in + b)``, ``y = h W_out + c``
    initialized by the scheme ``name``: a dict of arrays (W_out and c only if ``n_out``)."""
    if name not in INITS:
        raise ValueError(f"unknown initialization {name!r}: choose one of {', '.join(INITS)}")
    rng = _rng(seed)
    std = {"sigmoid": 0.01, "basic_tanh": 0.1, "smart_tanh": 0.01}.get(name)
    if std is not None:
        W_in = normal((n_in, hidden), std, rng)
        W_rec = normal((hidden, hidden), std, rng)
        if name == "smart_tanh":
            W_rec = scale_to_spectral_radius(sparse_rows(W_rec, min(15, hidden), rng), 0.95)
        W_out = normal((hidden, n_out), std, rng) if n_out else None
    else:
        W_in = uniform_default((n_in, hidden), hidden, rng)
        W_rec = {"identity": lambda: identity(hidden), "orthogonal": lambda: orthogonal(hidden, seed=rng),
                 "uniform": lambda: uniform_default((hidden, hidden), hidden, rng)}[name]()
        W_out = uniform_default((hidden, n_out), hidden, rng) if n_out else None
    out = {"W_in": W_in, "W_rec": W_rec, "b": np.zeros(hidden)}
    if n_out:
        out.update(W_out=W_out, c=np.zeros(n_out))
    return out
