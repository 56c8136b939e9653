"""The paper's pathological synthetic tasks, generated on the fly, vectorized, on any device.

Encodings follow PAPER.md ("follow the code's executed encoding"); indices are 0-based and
``l`` is the length of the current minibatch.  Every generator returns time-major inputs
``(l, B, channels)`` and targets shaped for the task's head:

| task                  | channels | head           | target                              |
|-----------------------|----------|----------------|-------------------------------------|
| temporal_order        | 6        | last_softmax   | v0 + 2 v1 (4 classes)               |
| temporal_order_3bit   | 6        | last_softmax   | v0 + 2 v1 + 4 v2 (8 classes)        |
| addition              | 2        | last_linear    | (x_p0 + x_p1) / 2                   |
| multiplication        | 2        | last_linear    | x_p0 * x_p1                         |
| permutation           | 100      | last_softmax   | the symbol v in {0, 1} at step 0    |
| memorization(K, P)    | K + 2    | every_softmax  | K ("nothing"), then the pattern     |

Randomness comes from a seeded generator of the device's backend: the same seed and device
give the same sequences.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

import minigrad as mg


@dataclass
class Batch:
    inputs: mg.Tensor          # (l, B, channels)
    targets: mg.Tensor         # (B,) classes, (l, B) classes, or (B, 1) values
    length: int


class Task:
    """One synthetic task: its layout, a batch generator and the paper's success criterion."""

    name: str
    n_in: int
    n_out: int
    head: str                  # "last_softmax", "every_softmax" or "last_linear"
    min_length = 2

    def generate(self, xp, rng, size: int, length: int, dtype):
        """(inputs, targets) as arrays of ``xp`` for ``size`` sequences of ``length`` steps
        (inputs in ``dtype``)."""
        raise NotImplementedError

    def batch(self, size: int, length: int, rng, device=None, dtype=None) -> Batch:
        if length < self.min_length:
            raise ValueError(f"{self.name}: length must be at least {self.min_length}, got {length}")
        if size < 1:
            raise ValueError(f"{self.name}: batch size must be positive, got {size}")
        backend = mg.get_backend(device)
        dtype = np.dtype(dtype) if dtype is not None else backend.default_float
        x, y = self.generate(backend, rng, size, length, dtype)
        x = mg.tensor(x.astype(dtype, copy=False), device=backend.device)
        y = mg.tensor(y.astype(dtype) if self.head == "last_linear" else y.astype(np.int64), device=backend.device)
        return Batch(x, y, length)

    def wrong(self, outputs, targets):
        """Per-sequence boolean tensor: True where the sequence is wrong by the paper's criterion
        (argmax for classification, every step for memorization, squared error >= 0.04 for
        regression).  Stays on the device."""
        if self.head == "last_linear":
            return ((outputs - targets) ** 2).sum(-1) >= 0.04
        predicted = outputs.data.argmax(-1)
        miss = mg.Tensor(predicted != targets.data, device=outputs.device)
        if self.head == "every_softmax":
            miss = mg.Tensor(miss.data.any(0), device=outputs.device)
        return miss

    def default_length(self, T: int, rng) -> int:
        """The length of one minibatch when training at nominal length T (fixed by default)."""
        return T


def _positions(xp, rng, size, start, span):
    """For each sequence, start + U{0..span-1}."""
    return start + rng.integers(0, max(span, 1), size)


def _one_hot(xp, symbols, channels, dtype):
    """(l, B) integer symbols -> (l, B, channels) one-hot floats (zeros, then one write each)."""
    out = xp.zeros(symbols.shape + (channels,), dtype=dtype)
    flat = out.reshape(-1, channels)
    flat[xp.arange(flat.shape[0]), symbols.reshape(-1)] = 1
    return out


class TemporalOrder(Task):
    """Two (or three) symbols, each A or B, at random places among distractors c, d, e, f;
    classify the order: AA, BA, AB, BB (v0 + 2 v1; 3-bit: + 4 v2).

    Channels: 0 = A, 1 = B, 2..5 = distractors.  Markers of the 2-symbol version: the first at
    ``floor(0.1 l) + U{0..floor(0.1 l)-1}``, the second at ``floor(0.5 l) + U{0..floor(0.1 l)-1}``
    (the authors' code; the supplement's text says [0.4 T, 0.5 T]: ``second`` is a parameter).
    The 3-bit version puts them in [0.1l, 0.2l), [0.3l, 0.4l), [0.6l, 0.7l).
    """

    n_in, head = 6, "last_softmax"
    min_length = 10

    def __init__(self, bits: int = 2, second: float = 0.5):
        if bits not in (2, 3):
            raise ValueError(f"temporal order has 2 or 3 bits, got {bits}")
        self.bits, self.second = bits, second
        self.name = "temporal_order" if bits == 2 else "temporal_order_3bit"
        self.n_out = 2 ** bits

    def starts(self, length):
        if self.bits == 2:
            return [int(0.1 * length), int(self.second * length)]
        return [int(0.1 * length), int(0.3 * length), int(0.6 * length)]

    def generate(self, xp, rng, size, length, dtype):
        symbols = rng.integers(2, 6, (length, size))
        span = int(0.1 * length)
        target = xp.zeros(size, dtype=np.int64)
        batch = xp.arange(size)
        for bit, start in enumerate(self.starts(length)):
            pos = _positions(xp, rng, size, start, span)
            value = rng.integers(0, 2, size)
            symbols[pos, batch] = value
            target = target + value * (2 ** bit)
        return _one_hot(xp, symbols, 6, dtype), target


class Arithmetic(Task):
    """Addition or multiplication of two marked values.

    Channel 0: a value U[0, 1) at every step; channel 1: the marker, 1 at two steps.  The first
    marker is in [0, floor(0.1 l)), the second in [floor(0.1 l), floor(0.1 l) + floor(0.4 l)).
    The minibatch length jitters: ``l = T + U{0..floor(0.1 T)-1}``.  Target: their mean
    (addition) or product (multiplication), read at the last step.
    """

    n_in, n_out, head = 2, 1, "last_linear"
    min_length = 10

    def __init__(self, op: str):
        if op not in ("addition", "multiplication"):
            raise ValueError(f"arithmetic op must be 'addition' or 'multiplication', got {op!r}")
        self.name = op

    def default_length(self, T, rng):
        return T + int(rng.integers(0, max(int(0.1 * T), 1)))

    def generate(self, xp, rng, size, length, dtype):
        values = rng.random((length, size))
        tenth = int(0.1 * length)
        batch = xp.arange(size)
        p0 = _positions(xp, rng, size, 0, tenth)
        p1 = _positions(xp, rng, size, tenth, int(0.4 * length))
        markers = xp.zeros((length, size))
        markers[p0, batch] = 1.0
        markers[p1, batch] = 1.0
        a, b = values[p0, batch], values[p1, batch]
        target = (a + b) / 2 if self.name == "addition" else a * b
        return xp.stack([values, markers], axis=-1), target.reshape(size, 1)


class Permutation(Task):
    """Random permutation: step 0 holds v in {0, 1}, steps 1..l-1 are uniform over {2..99}
    (one-hot of 100); predict v at the last step (a 100-way softmax)."""

    name, n_in, n_out, head = "permutation", 100, 100, "last_softmax"

    def generate(self, xp, rng, size, length, dtype):
        symbols = rng.integers(2, 100, (length, size))
        v = rng.integers(0, 2, size)
        symbols[0] = v
        return _one_hot(xp, symbols, 100, dtype), v


class Memorization(Task):
    """Noiseless memorization of P symbols out of K (one-hot of K + 2).

    Length ``l = T + 2P``.  Steps 0..P-1 carry the pattern (uniform over K^P); afterwards the
    "blank" channel K, except the "go" channel K + 1 at step T + P.  Targets: class K
    ("nothing") up to step T + P - 1, then the pattern in order over the last P steps.  A
    sequence is wrong if any step is wrong.  Here ``length`` means T (the gap), as in the paper.
    """

    head = "every_softmax"
    min_length = 1
    NAMES = {(2, 5): "memorization", (5, 10): "memorization_extended"}     # the names in TASKS

    def __init__(self, symbols: int = 2, positions: int = 5):
        self.K, self.P = symbols, positions
        self.name = self.NAMES.get((symbols, positions), f"memorization_{symbols}_{positions}")
        self.n_in, self.n_out = symbols + 2, symbols + 1

    def generate(self, xp, rng, size, length, dtype):
        K, P, T = self.K, self.P, length
        pattern = rng.integers(0, K, (P, size))
        symbols = xp.full((T + 2 * P, size), K)
        symbols[:P] = pattern
        symbols[T + P] = K + 1
        targets = xp.full((T + 2 * P, size), K)
        targets[T + P:] = pattern
        return _one_hot(xp, symbols, K + 2, dtype), targets


TASKS = {
    "temporal_order": lambda: TemporalOrder(2),
    "temporal_order_3bit": lambda: TemporalOrder(3),
    "addition": lambda: Arithmetic("addition"),
    "multiplication": lambda: Arithmetic("multiplication"),
    "permutation": Permutation,
    "memorization": lambda: Memorization(2, 5),
    "memorization_extended": lambda: Memorization(5, 10),
}


def get_task(name: str) -> Task:
    """A task by name (dashes or underscores); ``memorization_K_P`` is memorization of P
    symbols out of K.  ``get_task(t.name)`` gives ``t`` back for every task."""
    key = name.replace("-", "_")
    custom = re.fullmatch(r"memorization_(\d+)_(\d+)", key)
    if custom and int(custom[1]) >= 2 and int(custom[2]) >= 1:
        return Memorization(int(custom[1]), int(custom[2]))
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[key]()


class Sampler:
    """Minibatches of a task: one nominal length per minibatch, ``U[min_length, max_length)`` when
    a maximum is given, else ``min_length`` (or the ``length`` a caller asks for, as a test at a
    given length does); then the task's ``default_length`` of it, which for the arithmetic tasks
    adds the jitter ``U{0..floor(0.1 T)-1}`` to every minibatch, in fixed- and variable-length
    training and in testing alike, as the authors' code does (PAPER.md, protocol details).
    Seeded (an int, or a tuple of ints); generated on ``device``."""

    def __init__(self, task, min_length: int, max_length: int | None = None, device=None, seed=0, dtype=None):
        self.task = get_task(task) if isinstance(task, str) else task
        if min_length < self.task.min_length:
            raise ValueError(f"{self.task.name}: length must be at least {self.task.min_length}, got {min_length}")
        if max_length is not None and max_length <= min_length:
            raise ValueError(f"max length ({max_length}) must exceed the min length ({min_length}): the range is [min, max)")
        self.min_length, self.max_length = min_length, max_length
        self.backend = mg.get_backend(device)
        self.device, self.dtype = self.backend.device, dtype
        if isinstance(seed, (tuple, list)):           # e.g. (run seed, stream, update)
            seed = int(np.random.SeedSequence(list(seed)).generate_state(1)[0])
        self.rng = self.backend.rng(seed)
        self.host_rng = np.random.default_rng(seed)       # lengths are decided on the host

    def next_length(self, nominal: int | None = None) -> int:
        if nominal is None:
            nominal = (self.min_length if self.max_length is None
                       else int(self.host_rng.integers(self.min_length, self.max_length)))
        return self.task.default_length(nominal, self.host_rng)

    def batch(self, size: int, length: int | None = None) -> Batch:
        return self.task.batch(size, self.next_length(length), self.rng, self.device, self.dtype)
