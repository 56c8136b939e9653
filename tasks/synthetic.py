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
give the same sequences.  A pack of runs (:mod:`tasks.packed`) draws each run's batch from
that run's own generator, with the per-run work (seeding, Lemire's bounded draws, the one-hot
code) done for all runs at once: :meth:`Task.stacked_batch`, bit-identical to the runs'
batches stacked (tests/test_synthetic.py pins the data of every task to that of commit e9d0dca).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

import minigrad as mg

_M32, _M128 = 0xFFFFFFFF, (1 << 128) - 1
# Cached draw bounds per (batch size, length), at most this many: a training run meets one
# size at up to 170 lengths; the test batches of varying lengths (Sampler.test_batch) meet a
# new size at every length each time, ~2,250 pairs and 36 MiB after 400 tests at 50-200.
BOUNDS_CACHE_LIMIT = 512


@dataclass
class Batch:
    inputs: mg.Tensor          # (l, B, channels)
    targets: mg.Tensor         # (B,) classes, (l, B) classes, or (B, 1) values
    length: int                # the nominal length (memorization: the gap T); a padded test batch: its steps
    # A test batch of sequences of several lengths (Sampler.test_batch): ((start, stop, length), ...),
    # sequences start..stop-1 being ``length`` steps long, zero-padded after their end to ``self.length``.
    groups: tuple | None = None


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
        if not (_is_int(size) and _is_int(length)):
            raise ValueError(f"{self.name}: batch size and length must be integers, got {size!r} and {length!r}")
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

    def symbols(self, xp, rng, size, length):
        """(symbols (length, size) ints, targets) for tasks whose inputs are one-hot symbols
        (:meth:`generate` is their one-hot code); None for the others."""
        return None

    def stacked_batch(self, size: int, length: int, rngs, device=None, dtype=None) -> Batch:
        """The batches of several runs along a new model axis: ``rngs[s]`` draws run s's batch
        (None: zeros, a run that does not step), inputs (l, S, size, channels) and targets
        (S, size), (l, S, size) for an every-step head, or (S, size, 1).  Bit for bit what
        stacking ``self.batch(size, length, rngs[s], ...)`` gives, with the one-hot code and
        the transfers made once for all runs (tests/test_synthetic.py checks it)."""
        if length < self.min_length:
            raise ValueError(f"{self.name}: length must be at least {self.min_length}, got {length}")
        backend = mg.get_backend(device)
        xp = backend.xp
        dtype = np.dtype(dtype) if dtype is not None else backend.default_float
        every = self.head == "every_softmax"
        live = [s for s, r in enumerate(rngs) if r is not None]
        if not live:
            raise ValueError("stacked_batch: no run draws a batch")
        S = len(rngs)
        if xp is np and hasattr(self, "stacked_symbols") and all(
                isinstance(r, np.random.Generator) and isinstance(r.bit_generator, np.random.PCG64)
                for r in rngs if r is not None):
            symbols, y = self.stacked_symbols(rngs, size, length)
            x = _one_hot(xp, symbols, self.n_in, dtype)
            if len(live) < S:
                x[:, [s for s in range(S) if rngs[s] is None]] = 0
            return Batch(mg.tensor(x, device=backend.device), mg.tensor(y, device=backend.device), length)
        drawn = {s: self.symbols(backend, rngs[s], size, length) for s in live}
        if drawn[live[0]] is None:                 # not one-hot: each run's arrays, stacked
            made = {s: self.generate(backend, rngs[s], size, length, dtype) for s in live}
            x0, y0 = made[live[0]]
            x = xp.zeros((x0.shape[0], S) + x0.shape[1:], dtype=dtype)
            y = xp.zeros((S,) + y0.shape, dtype=dtype if self.head == "last_linear" else np.int64)
            for s, (xs, ys) in made.items():
                x[:, s] = xs
                y[s] = ys
        else:
            sym0, y0 = drawn[live[0]]
            steps = sym0.shape[0]
            symbols = xp.zeros((steps, S, size), dtype=sym0.dtype)
            y = xp.zeros((steps, S, size) if every else (S, size), dtype=np.int64)
            for s, (sym, ys) in drawn.items():
                symbols[:, s] = sym
                if every:
                    y[:, s] = ys
                else:
                    y[s] = ys
            x = _one_hot(xp, symbols, self.n_in, dtype)
            if len(live) < S:
                x[:, [s for s in range(S) if rngs[s] is None]] = 0
        return Batch(mg.tensor(x, device=backend.device), mg.tensor(y, device=backend.device), x.shape[0])

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

    def lengths(self, T: int) -> range:
        """Every length :meth:`default_length` can give at nominal length T."""
        return range(T, T + 1)

    @property
    def chance(self) -> float:
        """The fraction of sequences wrong at chance: the error rate, by :meth:`wrong`, of the
        best prediction made without looking at the input (PAPER.md: 75% for the 4 classes of
        temporal order, whose NLL is then ln 4)."""
        raise NotImplementedError


def _is_int(v) -> bool:
    """Whether ``v`` is an integer (Python's or NumPy's), not a bool."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _positions(xp, rng, size, start, span):
    """For each sequence, start + U{0..span-1}."""
    return start + rng.integers(0, max(span, 1), size)


def _draw_all(rng, bounds):
    """``rng.integers(low, high)`` with per-element bounds: the draws of several
    ``rng.integers(lo_i, hi_i, n_i)`` calls made in one.  NumPy's Generator draws every bounded
    integer below 2**32 from the bit generator's own 32-bit stream (Lemire's method, one or more
    32-bit words per value, nothing kept between calls but that stream), whether the bounds are
    scalars or arrays, so the values and the generator's state afterwards are the same
    (tests/test_synthetic.py checks it for every length and batch used)."""
    low, high = bounds
    return rng.integers(low, high)


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

    # ``second`` may place the second marker's range [floor(second l), floor(second l) + floor(0.1 l))
    # anywhere from just after the first marker's range [floor(0.1 l), 2 floor(0.1 l)) to the end:
    # below 0.2 the two ranges overlap (a marker written over the other, the class still counting
    # both), above 0.9 the range runs past the last step (checked for every length 10..5000).
    SECOND_RANGE = (0.2, 0.9)

    def __init__(self, bits: int = 2, second: float = 0.5):
        if bits not in (2, 3):
            raise ValueError(f"temporal order has 2 or 3 bits, got {bits}")
        lo, hi = self.SECOND_RANGE
        if isinstance(second, bool) or not isinstance(second, (int, float, np.integer, np.floating)) \
                or not lo <= second <= hi:
            raise ValueError(f"temporal order: second must be a number from {lo} to {hi} (the second marker's range "
                             f"starts at floor(second * l); 0.5 is the authors' code, 0.4 the supplement's text), "
                             f"got {second!r}")
        self.bits, self.second = bits, float(second)
        self.name = "temporal_order" if bits == 2 else "temporal_order_3bit"
        self.n_out = 2 ** bits

    @property
    def chance(self) -> float:
        """1 - 1/4 = 75% wrong (2 bits), 1 - 1/8 = 87.5% (3 bits): the classes are equally likely.
        (50% wrong is not chance: it means one of the two symbols has been learned.)"""
        return 1 - 1 / self.n_out

    def starts(self, length):
        if self.bits == 2:
            return [int(0.1 * length), int(self.second * length)]
        return [int(0.1 * length), int(0.3 * length), int(0.6 * length)]

    def generate(self, xp, rng, size, length, dtype):
        symbols, target = self.symbols(xp, rng, size, length)
        return _one_hot(xp, symbols, 6, dtype), target

    def symbols(self, xp, rng, size, length):
        """(symbols (length, size), targets (size,)): the draws that :meth:`generate` encodes.
        The distractors first (``integers(2, 6, (l, B))``), then per marker its position and
        value; with NumPy's generator the same draws are made by one call with per-element
        bounds (:func:`_draw_all`), which consumes the stream identically."""
        span = int(0.1 * length)
        starts = self.starts(length)
        batch = xp.arange(size)
        if xp is np or getattr(xp, "xp", None) is np:
            draws = _draw_all(rng, self._bounds(size, length))
            symbols = draws[: length * size].reshape(length, size)
            marks = draws[length * size:].reshape(len(starts), 2, size)
        else:
            symbols = rng.integers(2, 6, (length, size))
            marks = None
        target = xp.zeros(size, dtype=np.int64)
        for bit, start in enumerate(starts):
            if marks is None:
                pos = _positions(xp, rng, size, start, span)
                value = rng.integers(0, 2, size)
            else:
                pos, value = start + marks[bit, 0], marks[bit, 1]
            symbols[pos, batch] = value
            target = target + value * (2 ** bit)
        return symbols, target

    def stacked_symbols(self, rngs, size, length):
        """:meth:`symbols` of several runs at once, for NumPy Generators of PCG64 (None: a run
        that draws nothing, zeros): symbols (length, S, size) and targets (S, size).

        Each run's 32-bit words come from one ``random_raw`` call (a 64-bit output is two
        words, low half first, as NumPy's ``next_uint32`` hands them out), and Lemire's
        method turns them into the bounded integers for all runs in a few array calls:
        ``value = low + (word * n >> 32)``, a draw of range 1 taking no word.  Lemire rejects
        a word when ``(word * n) mod 2**32 < (2**32 - n) mod n`` (for n = 10, six words in
        2**32); a run that meets one is rewound and drawn by NumPy itself
        (:func:`_draw_all`).  Each generator is left where NumPy would leave it."""
        S = len(rngs)
        live = [s for s, r in enumerate(rngs) if r is not None]
        low, high = self._bounds(size, length)
        takes, n_words, scale, threshold = self._lemire(size, length)
        states = [rngs[s].bit_generator.state for s in live]
        kept = [st["has_uint32"] for st in states]        # a word NumPy kept from the last call
        words = np.empty((len(live), n_words), np.uint64)
        raws = []
        for i, s in enumerate(live):
            k = kept[i]
            n_raw = (n_words - k + 1) // 2
            raw = rngs[s].bit_generator.random_raw(n_raw)
            row = np.empty(2 * n_raw + k, np.uint64)
            row[:k] = states[i]["uinteger"]
            row[k::2] = raw & np.uint64(_M32)
            row[k + 1::2] = raw >> np.uint64(32)
            words[i] = row[:n_words]
            raws.append(raw)
        m = words * scale
        draws = np.empty((len(live), len(low)), np.int64)
        draws[:] = low
        draws[:, takes] += (m >> np.uint64(32)).astype(np.int64)
        rejected = ((m & np.uint64(_M32)) < threshold).any(axis=1)
        for i, s in enumerate(live):
            bits = rngs[s].bit_generator
            left = (n_words - kept[i]) % 2                # NumPy keeps the last output's high half
            if rejected[i]:
                bits.state = states[i]                    # back to where it started
                draws[i] = _draw_all(rngs[s], (low, high))
            elif left or kept[i]:
                state = bits.state
                state["has_uint32"] = left
                state["uinteger"] = int(raws[i][-1] >> np.uint64(32)) if len(raws[i]) else state["uinteger"]
                bits.state = state
        cut = length * size
        symbols = np.zeros((length, S, size), np.int64)
        symbols[:, live] = draws[:, :cut].reshape(len(live), length, size).transpose(1, 0, 2)
        marks = draws[:, cut:].reshape(len(live), -1, 2, size)
        target = np.zeros((S, size), np.int64)
        runs, batch = np.array(live)[:, None], np.arange(size)[None, :]
        for bit, start in enumerate(self.starts(length)):
            value = marks[:, bit, 1]
            symbols[start + marks[:, bit, 0], runs, batch] = value
            target[live] = target[live] + value * (2 ** bit)
        return symbols, target

    def _lemire(self, size, length):
        """Which draws of :meth:`_bounds` take a 32-bit word (range above 1), how many, their
        ranges (uint64) and Lemire's rejection thresholds."""
        key = (size, length)
        cache = self.__dict__.setdefault("_lemire_cache", {})
        if key not in cache:
            low, high = self._bounds(size, length)
            n = (high - low).astype(np.uint64)
            takes = n > 1
            scale = n[takes]
            cache[key] = (takes, int(takes.sum()), scale, (np.uint64(2**32) - scale) % scale)
        return cache[key]

    def _bounds(self, size, length):
        """The (low, high) arrays of :meth:`symbols`' draws, in the order they are drawn."""
        key = (size, length)
        cache = self.__dict__.setdefault("_bounds_cache", {})
        if key not in cache:
            if len(cache) >= BOUNDS_CACHE_LIMIT:     # a test batch meets ~150 (size, length) pairs
                cache.clear()
            span = max(int(0.1 * length), 1)
            n = len(self.starts(length))
            high = np.concatenate([np.full(length * size, 6)] + [np.repeat([span, 2], size)] * n)
            low = np.zeros_like(high)
            low[: length * size] = 2
            cache[key] = (low, high)
        return cache[key]


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

    def lengths(self, T):
        return range(T, T + max(int(0.1 * T), 1))

    @property
    def chance(self) -> float:
        """The best constant prediction c is wrong when ``|t - c| >= 0.2``.  Addition: t, the mean of
        two U[0, 1), is triangular on [0, 1] about 1/2; c = 1/2 is wrong when ``a + b < 0.6`` or
        ``a + b > 1.4``, probability ``2 * 0.6**2 / 2 = 0.36``.  Multiplication: t = ab has the
        decreasing density ``-ln t`` on (0, 1], so the best window is [0, 0.4) (c = 0.2), right
        with probability ``F(0.4) = 0.4 - 0.4 ln 0.4``: wrong ``0.6 + 0.4 ln 0.4 = 0.2335``."""
        if self.name == "addition":
            return 0.36
        return 0.6 + 0.4 * float(np.log(0.4))

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
    chance = 0.5          # v is 0 or 1, equally likely: a blind guess of either is right half the time
                          # (not 99%: the other 98 classes never are the answer)

    def generate(self, xp, rng, size, length, dtype):
        symbols, v = self.symbols(xp, rng, size, length)
        return _one_hot(xp, symbols, 100, dtype), v

    def symbols(self, xp, rng, size, length):
        symbols = rng.integers(2, 100, (length, size))
        v = rng.integers(0, 2, size)
        symbols[0] = v
        return symbols, v


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
        if not (_is_int(symbols) and _is_int(positions) and symbols >= 2 and positions >= 1):
            raise ValueError(f"memorization needs integers K >= 2 (symbols) and P >= 1 (positions), "
                             f"got K={symbols!r}, P={positions!r}")
        symbols, positions = int(symbols), int(positions)
        self.K, self.P = symbols, positions
        self.name = self.NAMES.get((symbols, positions), f"memorization_{symbols}_{positions}")
        self.n_in, self.n_out = symbols + 2, symbols + 1

    @property
    def chance(self) -> float:
        """The "nothing" steps are right without looking; the P pattern steps are all right for a
        blind guess with probability K^-P: wrong 1 - K^-P (96.875% for K = 2, P = 5)."""
        return 1 - float(self.K) ** -self.P

    def generate(self, xp, rng, size, length, dtype):
        symbols, targets = self.symbols(xp, rng, size, length)
        return _one_hot(xp, symbols, self.K + 2, dtype), targets

    def symbols(self, xp, rng, size, length):
        K, P, T = self.K, self.P, length
        pattern = rng.integers(0, K, (P, size))
        symbols = xp.full((T + 2 * P, size), K)
        symbols[:P] = pattern
        symbols[T + P] = K + 1
        targets = xp.full((T + 2 * P, size), K)
        targets[T + P:] = pattern
        return symbols, targets


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
    if not isinstance(name, str):
        raise ValueError(f"a task is named by a string (e.g. 'temporal-order'), got {name!r}")
    key = name.replace("-", "_")
    custom = re.fullmatch(r"memorization_(\d+)_(\d+)", key)
    if custom and int(custom[1]) >= 2 and int(custom[2]) >= 1:
        return Memorization(int(custom[1]), int(custom[2]))
    if key not in TASKS:
        raise ValueError(f"unknown task {name!r}: choose one of {', '.join(t.replace('_', '-') for t in TASKS)} "
                         "or memorization-K-P (a pattern of P positions, each one of K symbols, K >= 2); "
                         "underscores work as dashes "
                         "(temporal_order)")
    return TASKS[key]()


def seed_value(seed) -> int:
    """A Sampler's seed as one int: an int as it is; a tuple of ints (e.g. run seed, stream,
    update) through NumPy's SeedSequence, its first 32-bit word."""
    if isinstance(seed, (tuple, list)):
        return int(np.random.SeedSequence(list(seed)).generate_state(1)[0])
    return seed


# NumPy's SeedSequence and PCG64 seeding, for many seeds at once: the generators of a pack's
# runs (one per run and update) start from states computed here in a few array calls instead
# of two SeedSequences and a Generator made per run and update.  The constants and steps are
# NumPy's (numpy/random/bit_generator.pyx, pcg64.h); :func:`pcg64_states` checks itself
# against NumPy once and reports None (use default_rng) if NumPy ever seeds otherwise.
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R, _POOL = 0xCA01F9DD, 0x4973F715, 4
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341


def seed_sequence_words(entropy, n_words: int) -> np.ndarray:
    """``SeedSequence(list(row)).generate_state(n_words)`` for every row of ``entropy`` (an
    (N, k) array of integers in [0, 2**32), each one 32-bit word of entropy), as an (N, n_words)
    uint32 array: the pool of 4 words mixed by the hash of NumPy's SeedSequence, then drawn."""
    e = np.asarray(entropy, dtype=np.uint64)
    if e.ndim != 2 or (e.size and int(e.max()) > _M32):
        raise ValueError("seed_sequence_words: entropy must be an (N, k) array of integers below 2**32")
    e = e.astype(np.uint32)
    u32 = np.uint32
    const = [_INIT_A]

    def hashmix(v):
        v = v ^ u32(const[0])
        const[0] = (const[0] * _MULT_A) & _M32
        v = v * u32(const[0])
        return v ^ (v >> u32(16))

    def mix(x, y):
        r = u32(_MIX_L) * x - u32(_MIX_R) * y
        return r ^ (r >> u32(16))

    with np.errstate(over="ignore"):
        zero = np.zeros(len(e), np.uint32)
        pool = [hashmix(e[:, i] if i < e.shape[1] else zero) for i in range(_POOL)]
        for src in range(_POOL):
            for dst in range(_POOL):
                if src != dst:
                    pool[dst] = mix(pool[dst], hashmix(pool[src]))
        for src in range(_POOL, e.shape[1]):
            for dst in range(_POOL):
                pool[dst] = mix(pool[dst], hashmix(e[:, src]))
        out = np.empty((len(e), n_words), np.uint32)
        const_b = _INIT_B
        for i in range(n_words):
            v = pool[i % _POOL] ^ u32(const_b)
            const_b = (const_b * _MULT_B) & _M32
            v = v * u32(const_b)
            out[:, i] = v ^ (v >> u32(16))
    return out


def _pcg64_state(words) -> dict:
    """PCG64's state seeded from SeedSequence words (8 uint32: initstate, then the stream):
    ``state = 0; inc = 2 seq + 1; step; state += initstate; step``."""
    w = [int(x) for x in words]
    v = [w[i] | (w[i + 1] << 32) for i in range(0, 8, 2)]
    inc = ((((v[2] << 64) | v[3]) << 1) | 1) & _M128
    state = (inc + ((v[0] << 64) | v[1])) & _M128          # the first step from 0 gives inc
    state = (state * _PCG_MULT + inc) & _M128
    return {"bit_generator": "PCG64", "state": {"state": state, "inc": inc}, "has_uint32": 0, "uinteger": 0}


_PCG64_AGREES = None


def pcg64_states(keys):
    """The bit-generator state of ``np.random.default_rng(seed_value(key))`` for every key (a
    tuple of integers in [0, 2**32)), computed for all keys at once; None where NumPy seeds
    otherwise than this code knows (checked once against NumPy itself)."""
    global _PCG64_AGREES
    if _PCG64_AGREES is None:
        probe = [(3, 0, 17), (0, 1, 0), (2**32 - 1, 3, 123456)]
        ref = [np.random.default_rng(seed_value(k)).bit_generator.state for k in probe]
        _PCG64_AGREES = bool(np.random.default_rng(0).bit_generator.state["bit_generator"] == "PCG64")
        if _PCG64_AGREES:
            _PCG64_AGREES = [_pcg64_state(w) for w in
                             seed_sequence_words(seed_sequence_words(probe, 1), 8)] == ref
    if not _PCG64_AGREES:
        return None
    words = seed_sequence_words(seed_sequence_words(keys, 1), 8)
    return [_pcg64_state(w) for w in words]


class Sampler:
    """Minibatches of a task: one nominal length per minibatch, ``U[min_length, max_length)`` when
    a maximum is given, else ``min_length`` (or the ``length`` a caller asks for, as a test at a
    given length does); then the task's ``default_length`` of it, which for the arithmetic tasks
    adds the jitter ``U{0..floor(0.1 T)-1}`` to every minibatch, in fixed- and variable-length
    training, as the authors' code does (PAPER.md, protocol details).  A test batch
    (:meth:`test_batch`) draws the nominal length and the jitter per sequence instead.
    Seeded (an int, or a tuple of ints); generated on ``device``.

    A training minibatch's length comes from :attr:`host_rng`, seeded as ``rng`` is, so on the
    CPU its first 32-bit words are also the data's first: with a range of lengths, the symbol at
    step 0 of sequence 0 of temporal order (always a distractor) follows the length (c for 50-87,
    d for 87-125, ... at 50-200), and the arithmetic tasks' first value of sequence 0 follows the
    jitter (correlation 0.99 at 50-200; that value is a marked one when its p0 is 0).  No target
    depends on it and no test set has it (their lengths come from a generator of their own);
    it is kept because it is the recorded runs' data (tests/test_synthetic.py pins it)."""

    def __init__(self, task, min_length: int, max_length: int | None = None, device=None, seed=0, dtype=None):
        self.task = get_task(task) if isinstance(task, str) else task
        if not _is_int(min_length) or not (max_length is None or _is_int(max_length)):
            raise ValueError(f"{self.task.name}: lengths must be integers, got {min_length!r}"
                             + ("" if max_length is None else f" and {max_length!r}"))
        if min_length < self.task.min_length:
            raise ValueError(f"{self.task.name}: length must be at least {self.task.min_length}, got {min_length}")
        if max_length is not None and max_length <= min_length:
            raise ValueError(f"max length ({max_length}) must exceed the min length ({min_length}): the range is [min, max)")
        self.min_length, self.max_length = min_length, max_length
        self.backend = mg.get_backend(device)
        self.device, self.dtype = self.backend.device, dtype
        self.seed = seed_value(seed)
        self.rng = self.backend.rng(self.seed)
        self._host_rng = None

    @property
    def host_rng(self):
        """The host generator that decides lengths, seeded like ``rng``; made at its first use
        (a fixed-length sampler of a task without jitter never draws from it)."""
        if self._host_rng is None:
            self._host_rng = np.random.default_rng(self.seed)
        return self._host_rng

    def next_length(self, nominal: int | None = None) -> int:
        if nominal is None:
            nominal = (self.min_length if self.max_length is None
                       else int(self.host_rng.integers(self.min_length, self.max_length)))
        return self.task.default_length(nominal, self.host_rng)

    def batch(self, size: int, length: int | None = None) -> Batch:
        return self.task.batch(size, self.next_length(length), self.rng, self.device, self.dtype)

    def varies(self, length: int | None = None) -> bool:
        """Whether sequences drawn at nominal ``length`` (default: the sampler's range) can have
        different lengths: a range of nominal lengths, or the arithmetic tasks' jitter."""
        if length is None and self.max_length is not None:
            return True
        return len(self.task.lengths(self.min_length if length is None else length)) > 1

    def test_lengths(self, size: int, length: int | None = None) -> np.ndarray:
        """The lengths of ``size`` test sequences, in increasing order: each its own nominal
        length (``length``, or ``U[min_length, max_length)``) and its own jitter, from a
        generator of their own (seeded ``[seed, 1]``): the sequences are drawn from ``rng``, and
        lengths drawn from ``host_rng``, seeded as ``rng`` is, would be the same words as the
        first symbols (as a training minibatch's one length is: kept, it is the recorded runs' data)."""
        host = np.random.default_rng([self.seed, 1])
        nominal = (np.full(size, length) if length is not None
                   else host.integers(self.min_length, self.max_length, size) if self.max_length is not None
                   else np.full(size, self.min_length))
        return np.sort(np.array([self.task.default_length(int(T), host) for T in nominal]))

    def test_batch(self, size: int, length: int | None = None, lengths=None) -> Batch:
        """``size`` test sequences.  Where one length is possible, :meth:`batch`.  Else each
        sequence has its own length (``lengths``, increasing, e.g. a slice of
        :meth:`test_lengths` drawn for a whole test; by default drawn here), the sequences of
        each length are generated together, in increasing length, and zero-padded after their
        end to the longest (``Batch.groups`` says where each length is).  So a test of 10,000
        sequences at lengths 50-200 meets every length about 66 times; one length per minibatch,
        as in training (and the authors' test), meets only 10 of the 151 (the padding changes no
        state before a sequence's end: the cells are causal).  A test cut from lengths drawn for
        all of it (:meth:`Trainer.evaluate`) has neighbouring lengths in each batch, padded by a
        few steps only."""
        if not self.varies(length):
            return self.batch(size, length)
        drawn = self.test_lengths(size, length) if lengths is None else np.asarray(lengths)
        if len(drawn) != size:
            raise ValueError(f"test_batch: {len(drawn)} lengths for {size} sequences")
        distinct, counts = np.unique(drawn, return_counts=True)
        parts = [self.task.batch(int(n), int(L), self.rng, self.device, self.dtype)
                 for L, n in zip(distinct, counts)]
        xp, first = self.backend.xp, parts[0]
        longest = max(part.inputs.shape[0] for part in parts)      # memorization: the gap T + 2P
        every = self.task.head == "every_softmax"
        x = xp.zeros((longest, size) + first.inputs.shape[2:], dtype=first.inputs.data.dtype)
        y = xp.zeros((longest, size) if every else (size,) + first.targets.shape[1:], dtype=first.targets.data.dtype)
        groups, start = [], 0
        for part in parts:
            L, stop = part.inputs.shape[0], start + part.inputs.shape[1]
            x[:L, start:stop] = part.inputs.data
            if every:
                y[:L, start:stop] = part.targets.data
            else:
                y[start:stop] = part.targets.data
            groups.append((start, stop, L))
            start = stop
        return Batch(mg.Tensor(x, device=self.device), mg.Tensor(y, device=self.device), longest, tuple(groups))
