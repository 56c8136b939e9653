"""Polyphonic music (the paper's Table 1, music rows) on the Bach chorales that music21 ships,
and ``minigrad music``.

The data set is built like the JSB Chorales of Boulanger-Lewandowski et al. (2012), from the
scores in music21's corpus (``music21.corpus.chorales.Iterator``: the 371 chorales in
Riemenschneider's numbering; nothing is downloaded):

* **piano roll**: a chorale becomes a binary matrix (steps, 88), one column per piano key,
  key index = MIDI number - 21 (A0 = 0, middle C = MIDI 60 = 39, C8 = 87).  The score is
  sampled every ``step`` quarter notes (default 1: a quarter note, as JSB): row s holds the
  keys sounding at time ``s * step`` (a note sounds from its onset, inclusive, to its onset
  plus duration, exclusive; a tied note is a run of notes, so it sounds throughout).  Notes
  outside the piano's range are dropped (none in the chorales).
* **split**: by the chorale's corpus name, deterministically and independently of which
  other chorales are loaded: the first 8 bytes of SHA-256(name) as an integer, mod 100:
  below 60 train, below 80 valid, else test (about 60 / 20 / 20 %).
* **cache**: parsing a score takes about 0.3 s, so the rolls are saved once as an ``.npz``
  (``jsb_chorales_stepS_<which>.npz``) under ``~/.cache/minigrad`` (``$MINIGRAD_CACHE`` or
  ``--cache-dir`` elsewhere) and read from there afterwards.

Task: predict the keys of step t + 1 from those of steps 0..t (input x_t = roll[t], target
roll[t + 1]); the cost is the negative log-likelihood per step (nats), the binary cross-entropy
summed over the 88 keys (:func:`tasks.natural.piano_roll_nll`).  A minibatch is 20 chorales
drawn without replacement (a new order every epoch, seeded), padded to a multiple of 16 steps
(the padded steps cost nothing and have no error signal, so Omega skips them); an evaluation
covers every step of every chorale of a split.  Settings (PAPER.md, "Natural tasks", scaled to
a 2-core CPU): a sigmoid RNN with leaky units (half of them, leak ~ U[0.02, 0.2]), mu = 8 with
the cost averaged over the sequence, alpha_t = alpha_0 / t per epoch, the learning rate halved
when the validation error goes up.
"""
from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path

import numpy as np

from .natural import NaturalConfig, add_common_arguments, config_from_args, results_table, run_methods
from .train import RunError

KEYS = 88
LOWEST_MIDI = 21                      # A0, the piano's lowest key
SPLITS = ("train", "valid", "test")
PAD = 16                              # minibatches are padded to a multiple of this many steps


def key_index(midi: int) -> int:
    """The piano key of a MIDI note number: 0 for A0 (MIDI 21) ... 87 for C8 (MIDI 108)."""
    key = int(midi) - LOWEST_MIDI
    if not 0 <= key < KEYS:
        raise ValueError(f"MIDI note {midi} is outside the piano's 88 keys (MIDI 21..108)")
    return key


def split_of(name: str) -> str:
    """train / valid / test for a chorale's corpus name (60 / 20 / 20 %, by SHA-256 of the name)."""
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 100
    return "train" if h < 60 else "valid" if h < 80 else "test"


def cache_dir(path=None) -> Path:
    """Where loaders keep their files: ``path``, else ``$MINIGRAD_CACHE``, else ~/.cache/minigrad."""
    return Path(path or os.environ.get("MINIGRAD_CACHE") or Path.home() / ".cache" / "minigrad")


def _corpus():
    """music21's corpus module, or a one-line error saying how to get it."""
    try:
        from music21 import corpus
    except ImportError:
        raise RunError("the music task reads the Bach chorales that the music21 package ships: "
                       "install it (pip install music21)") from None
    return corpus


def chorale_names(limit: int | None = None) -> list[str]:
    """The corpus names of music21's Bach chorales (Riemenschneider order), the first ``limit``."""
    corpus = _corpus()
    names = list(corpus.chorales.Iterator(returnType="filename"))
    return names if limit is None else names[:limit]


def piano_roll(score, step: float = 1.0) -> np.ndarray:
    """A music21 score as a binary (steps, 88) uint8 matrix sampled every ``step`` quarter notes."""
    if not step > 0:
        raise ValueError(f"step must be a positive number of quarter notes, got {step}")
    flat = score.flatten()
    end = float(flat.highestTime)
    steps = max(int(np.ceil(end / step - 1e-9)), 1)
    roll = np.zeros((steps, KEYS), np.uint8)
    times = np.arange(steps) * step
    for element in flat.notes:
        onset = float(element.offset)
        length = float(element.quarterLength)
        sounding = (times >= onset - 1e-9) & (times < onset + length - 1e-9)
        for pitch in element.pitches:
            if LOWEST_MIDI <= pitch.midi < LOWEST_MIDI + KEYS:
                roll[sounding, key_index(pitch.midi)] = 1
    return roll


def load_chorales(step: float = 1.0, names=None, limit: int | None = None, cache=None,
                  progress: bool = True) -> dict:
    """{split: [(name, roll), ...]} for the chorales ``names`` (default: music21's chorales, the
    first ``limit``), read from the cache or parsed once and cached."""
    if not step > 0:
        raise RunError(f"--step must be a positive number of quarter notes, got {step}")
    if limit is not None and limit < 3:
        raise RunError(f"--chorales must be at least 3 (one per split at best), got {limit}")
    if names is None:
        names = chorale_names(limit)
        which = "all" if limit is None else f"first{limit}"
    else:
        names = list(names)
        which = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    folder = cache_dir(cache)
    path = folder / f"jsb_chorales_step{step:g}_{which}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                got = [str(n) for n in z["names"]]
                if got == names:
                    bounds = np.concatenate([[0], np.cumsum(z["lengths"])])
                    rolls = [z["rolls"][a:b] for a, b in zip(bounds[:-1], bounds[1:])]
                    return _by_split(names, rolls)
        except Exception:                         # a damaged cache file: parse again and replace it
            pass
    corpus = _corpus()
    rolls, iterator = [], names
    if progress:
        from tqdm import tqdm
        iterator = tqdm(names, unit="chorale", desc="parsing the Bach chorales (once; cached)")
    for name in iterator:
        try:
            score = corpus.parse(name)
        except Exception as e:                    # music21 raises its own exception types
            raise RunError(f"music21 could not read the chorale {name!r}: {e}") from None
        rolls.append(piano_roll(score, step))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, rolls=np.concatenate(rolls), lengths=np.array([len(r) for r in rolls]),
                        names=np.array(names))
    os.replace(tmp, path)
    return _by_split(names, rolls)


def _by_split(names, rolls) -> dict:
    out = {s: [] for s in SPLITS}
    for name, roll in zip(names, rolls):
        out[split_of(name)].append((name, roll))
    return out


def pad_batch(rolls, multiple: int = PAD):
    """Inputs (L, B, 88) and targets (L, B, 88) of the rolls (prediction of the next step),
    padded to a length L that is a multiple of ``multiple``: inputs 0, targets -1 there."""
    L = max(len(r) - 1 for r in rolls)
    L = -(-L // multiple) * multiple
    inputs = np.zeros((L, len(rolls), KEYS), np.float64)
    targets = np.full((L, len(rolls), KEYS), -1.0)
    for b, r in enumerate(rolls):
        n = len(r) - 1
        inputs[:n, b] = r[:-1]
        targets[:n, b] = r[1:]
    return inputs, targets


class MusicData:
    """The chorales as :class:`tasks.natural.NaturalTrainer` reads them."""

    n_in = n_out = KEYS
    cost = "piano_roll"
    carry = False
    unit = "nats per step (NLL)"

    def __init__(self, splits: dict, description: str = ""):
        for s in SPLITS:
            if not splits.get(s):
                raise RunError(f"the {s} split holds no chorale: load more chorales")
        self.splits = {s: [roll for _, roll in splits[s] if len(roll) >= 2] for s in SPLITS}
        self.description = description

    def updates_per_epoch(self, batch: int) -> int:
        return max(len(self.splits["train"]) // batch, 1)

    def batch(self, update: int, batch: int, seed: int):
        """The minibatch of ``update``: chorales of a seeded order of the epoch (no reset needed)."""
        train = self.splits["train"]
        per = self.updates_per_epoch(batch)
        epoch, i = divmod(update, per)
        order = np.random.default_rng([seed, 7, epoch]).permutation(len(train))
        if batch > len(train):                                   # tiny data: draw with repetition
            order = np.resize(order, batch * per)
        inputs, targets = pad_batch([train[j] for j in order[i * batch:(i + 1) * batch]])
        return inputs, targets, True

    def metric(self, cost: float) -> float:
        return float(cost)

    def evaluate(self, model, split: str, limit: int = 0) -> float:
        """NLL per step over every step of every chorale of ``split`` (nats)."""
        import minigrad as mg
        rolls = self.splits[split]
        total = count = 0.0
        dtype, device = model.h0.dtype, model.h0.device
        with mg.no_grad():
            for start in range(0, len(rolls), 64):
                inputs, targets = pad_batch(rolls[start:start + 64])
                x = mg.tensor(inputs, dtype=dtype, device=device)
                y = mg.tensor(targets, dtype=dtype, device=device)
                state = mg.zeros((x.shape[1], model.hidden), dtype=dtype, device=device)
                logits = model(x, state)
                mask = (y[..., :1] >= 0).astype(dtype)
                per = mg.binary_cross_entropy_with_logits(logits, mg.maximum(y, 0), reduction="none")
                total += (per * mask).sum().item()
                count += mask.sum().item()
        return total / count


# ----------------------------------------------------------------------------- command line
# Scaled to a 2-core CPU (about 10 minutes a method): 150 units instead of 300-400; lr 2 (the
# fastest of 0.1, 0.5, 1, 2 over the first 264 updates of MSGD; the cost is a mean per step, so
# gradients are small); a validation check every 4 epochs (44 updates); 200 epochs (2,200 updates).
DEFAULTS = NaturalConfig(task="music", hidden=150, leaky=0.5, std=0.1, lr=2.0, clip=8.0, alpha=0.5,
                         alpha_schedule="inverse_time", batch_size=20, eval_every=44, max_updates=2200)

DESCRIPTION = """\
Polyphonic music as in the paper's Table 1: a sigmoid RNN with leaky units predicts the next
step of a piano roll (88 keys, binary cross-entropy per key), on a JSB-chorales-like data set
built from the Bach chorales that music21 ships (parsed once, cached as an .npz; split 60/20/20
by a hash of each chorale's name).  Trains each of --methods (msgd, msgd-c, msgd-cr) in turn,
each in OUT/METHOD, evaluating the validation NLL per step every --eval-every updates (halving
the learning rate when it goes up; alpha_0 / t per epoch for msgd-cr), and prints train / valid
/ test NLL per step of the best validation checkpoint beside the paper's music rows."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, DEFAULTS)
    p.add_argument("--leaky", type=float, default=DEFAULTS.leaky,
                   help=f"fraction of leaky units, leak ~ U[0.02, 0.2] (default {DEFAULTS.leaky})")
    p.add_argument("--step", type=float, default=1.0, help="quantization step in quarter notes (default 1)")
    p.add_argument("--chorales", type=int, default=None, help="use the first N chorales only (default all 371)")
    p.add_argument("--cache-dir", default=None, help="where the parsed rolls are cached "
                   "(default $MINIGRAD_CACHE or ~/.cache/minigrad)")


def cmd_music(args) -> int:
    if args.max_updates is not None and args.max_updates < 1:
        raise RunError(f"--max-updates must be a positive integer, got {args.max_updates}")
    splits = load_chorales(args.step, limit=args.chorales, cache=args.cache_dir, progress=not args.quiet)
    sizes = {s: len(v) for s, v in splits.items()}
    what = (f"Bach chorales (music21), step {args.step:g} quarter, "
            f"{'all' if args.chorales is None else f'first {args.chorales}'}: "
            + " / ".join(f"{sizes[s]} {s}" for s in SPLITS))
    data = MusicData(splits, what)
    per_epoch = data.updates_per_epoch(args.batch_size if args.batch_size > 0 else 1)
    configs = config_from_args(args, DEFAULTS, task="music", data=what, alpha_every=per_epoch)
    out = Path(args.out or f"runs/music-h{args.hidden}-s{args.seed}")
    print(what)
    status, results = run_methods(configs, data, out, args.resume, args.force, args.quiet)
    if results:
        print(results_table(results, ["Piano-midi.de", "Nottingham", "MuseData"], "nats per step"))
        print(f"run folders under {out}")
    return status
