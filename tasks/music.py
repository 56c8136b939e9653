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
  outside the piano's range are dropped (none in the chorales).  Only the voices are read
  (parts named Soprano, Alto, Tenor, Bass: :func:`voices`): some of the chorales are cantata
  movements that carry their trumpets, horns, timpani, strings and continuo as parts too, and
  the steps before the first and after the last sung note (an instrumental introduction or
  coda) are left out.
* **duplicates dropped**: music21's list has 371 entries in Riemenschneider's numbering but 350
  distinct files (20 appear twice or three times: Bach set some chorales twice), and two files
  are the same music (bwv62.6 and bwv274, the same roll; bwv69.6 and bwv69.6-a); a chorale whose
  name or piano roll repeats an earlier one (corpus order) is left out, so that no piece is
  counted twice or sits in two splits: 348 chorales at the default step.
* **split**: by the chorale's corpus name, deterministically and independently of which
  other chorales are loaded: the first 8 bytes of SHA-256(name) as an integer, mod 100:
  below 60 train, below 80 valid, else test (about 60 / 20 / 20 %).
* **cache**: parsing a score takes about 0.3 s, so the rolls are saved once as an ``.npz``
  (``jsb_chorales_v2_stepS_<which>.npz``) under ``~/.cache/minigrad`` (``$MINIGRAD_CACHE`` or
  ``--cache-dir`` elsewhere) and read from there afterwards; a cache file that cannot be read,
  or whose step, names or shapes do not match, is parsed again and replaced.

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
import math
import os
from pathlib import Path

import numpy as np

from .natural import (NaturalConfig, add_common_arguments, check_before_loading, config_from_args, results_table,
                      run_methods)
from .train import RunError

KEYS = 88
LOWEST_MIDI = 21                      # A0, the piano's lowest key
SPLITS = ("train", "valid", "test")
PAD = 16                              # minibatches are padded to a multiple of this many steps
MIN_STEP = 1 / 64                     # the finest quantization step (a 256th note), in quarter notes
FORMAT = 2                            # of the cached rolls: 2 = the voices only, silent ends trimmed


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
    """Where loaders keep their files: ``path``, else ``$MINIGRAD_CACHE``, else ~/.cache/minigrad
    (refused, before any work, if it is a file)."""
    folder = Path(path or os.environ.get("MINIGRAD_CACHE") or Path.home() / ".cache" / "minigrad")
    if folder.exists() and not folder.is_dir():
        raise RunError(f"the cache folder {folder} is a file: pass --cache-dir a folder "
                       "(or set $MINIGRAD_CACHE to one)")
    return folder


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


VOICES = ("soprano", "alto", "tenor", "bass")


def voices(score) -> list:
    """The sung parts of a chorale: those whose name starts with Soprano, Alto, Tenor or Bass
    ("Soprano 1", "Bass Continuo" included).  Some of music21's chorales are cantata or oratorio
    movements with instruments too (trumpets, timpani, horns in written pitch, violins,
    continuo: 12 parts in bwv248.42-4); JSB-like data are the voices only.  A score with no part
    so named keeps all its parts."""
    parts = list(getattr(score, "parts", ()))
    sung = [p for p in parts
            if str(p.partName or p.id or "").strip().lower().split(" ")[0].rstrip(".0123456789") in VOICES]
    return sung or parts or [score]


def piano_roll(score, step: float = 1.0) -> np.ndarray:
    """A music21 score's voices (:func:`voices`) as a binary (steps, 88) uint8 matrix sampled
    every ``step`` quarter notes, from the first step where a voice sounds to the last (an
    instrumental introduction or coda, where every voice rests, is left out)."""
    if not (step > 0 and math.isfinite(step)):
        raise ValueError(f"step must be a positive number of quarter notes, got {step}")
    flats = [part.flatten() for part in voices(score)]
    end = max(float(flat.highestTime) for flat in flats)
    steps = max(int(np.ceil(end / step - 1e-9)), 1)
    roll = np.zeros((steps, KEYS), np.uint8)
    times = np.arange(steps) * step
    for flat in flats:
        for element in flat.notes:
            onset = float(element.offset)
            length = float(element.quarterLength)
            sounding = (times >= onset - 1e-9) & (times < onset + length - 1e-9)
            for pitch in element.pitches:
                if LOWEST_MIDI <= pitch.midi < LOWEST_MIDI + KEYS:
                    roll[sounding, key_index(pitch.midi)] = 1
    played = np.flatnonzero(roll.any(axis=1))
    return roll[played[0]:played[-1] + 1] if len(played) else roll[:1]


def _check_step(step) -> None:
    if not (step > 0 and math.isfinite(step)):
        raise RunError(f"--step must be a positive number of quarter notes, got {step}")
    if step < MIN_STEP:
        raise RunError(f"--step must be at least {MIN_STEP:g} quarter notes (a 256th note), got {step:g}")


def load_chorales(step: float = 1.0, names=None, limit: int | None = None, cache=None,
                  progress: bool = True) -> dict:
    """{split: [(name, roll), ...]} for the chorales ``names`` (default: music21's chorales, the
    first ``limit``), read from the cache or parsed once and cached."""
    _check_step(step)
    if limit is not None and limit < 3:
        raise RunError(f"--chorales must be at least 3 (one per split at best), got {limit}")
    if names is None:
        names = chorale_names()
        if limit is not None and limit > len(names):
            raise RunError(f"--chorales {limit}: music21 ships {len(names)} chorales (at most {len(names)})")
        names = names if limit is None else names[:limit]
        which = "all" if limit is None else f"first{limit}"
    else:
        names = list(names)
        which = hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]
    folder = cache_dir(cache)
    path = folder / f"jsb_chorales_v{FORMAT}_step{float(step)!r}_{which}.npz"
    rolls = _read_cache(path, names, step)
    if rolls is not None:
        return _by_split(names, rolls)
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
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(tmp, rolls=np.concatenate(rolls), lengths=np.array([len(r) for r in rolls]),
                            names=np.array(names), step=np.float64(step))
        os.replace(tmp, path)
    except OSError as e:
        raise RunError(f"cannot write the cache in {folder} ({e.strerror or e}): pass --cache-dir a "
                       "writable folder") from None
    return _by_split(names, rolls)


def _read_cache(path, names, step):
    """The rolls cached in ``path`` if it holds exactly ``names`` at ``step`` with consistent
    shapes; None if it is missing, damaged or of other data (then the scores are parsed again)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            got = [str(n) for n in z["names"]]
            rolls, lengths = z["rolls"], z["lengths"]
            ok = (got == names and float(z["step"]) == float(step) and rolls.dtype == np.uint8
                  and rolls.ndim == 2 and rolls.shape[1] == KEYS and lengths.shape == (len(names),)
                  and lengths.min(initial=1) >= 1 and int(lengths.sum()) == len(rolls)
                  and int(rolls.max(initial=0)) <= 1)
            if not ok:
                return None
            bounds = np.concatenate([[0], np.cumsum(lengths)])
            return [rolls[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
    except Exception:                             # a damaged cache file: parse again and replace it
        return None


def _by_split(names, rolls) -> dict:
    """{split: [(name, roll), ...]}, leaving out a chorale whose name or roll repeats an earlier
    one (music21 lists some chorales twice, and two of its files hold the same music)."""
    out = {s: [] for s in SPLITS}
    seen_names, seen_rolls = set(), set()
    for name, roll in zip(names, rolls):
        digest = hashlib.sha256(np.ascontiguousarray(roll).tobytes() + str(roll.shape).encode()).digest()
        if name in seen_names or digest in seen_rolls:
            continue
        seen_names.add(name)
        seen_rolls.add(digest)
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
        for s in SPLITS:
            if not self.splits[s]:
                raise RunError(f"the {s} split holds no chorale of 2 steps or more (a next step to predict): "
                               "use a smaller --step or more chorales")
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
# gradients are small); a validation check every 44 updates, 2,200 updates (chosen when the 221
# train chorales, repeats included, made 11 updates an epoch; the 207 distinct ones make 10: a
# check every 4.4 epochs, 220 epochs).
DEFAULTS = NaturalConfig(task="music", hidden=150, leaky=0.5, std=0.1, lr=2.0, clip=8.0, alpha=0.5,
                         alpha_schedule="inverse_time", batch_size=20, eval_every=44, max_updates=2200)

DESCRIPTION = """\
Polyphonic music as in the paper's Table 1: a sigmoid RNN with leaky units predicts the next
step of a piano roll (88 keys, binary cross-entropy per key), on a JSB-chorales-like data set
built from the voices of the Bach chorales that music21 ships (348 distinct of its 371 entries;
parsed once, cached as an .npz; split 60/20/20 by a hash of each chorale's name).  Trains each of --methods (msgd, msgd-c, msgd-cr) in turn,
each in OUT/METHOD, evaluating the validation NLL per step every --eval-every updates (halving
the learning rate when it goes up; alpha_0 / t per epoch for msgd-cr), and prints train / valid
/ test NLL per step of the best validation checkpoint beside the paper's music rows."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, DEFAULTS)
    p.add_argument("--leaky", type=float, default=DEFAULTS.leaky,
                   help=f"fraction of leaky units, leak ~ U[0.02, 0.2] (default {DEFAULTS.leaky})")
    p.add_argument("--step", type=float, default=1.0, help="quantization step in quarter notes (default 1)")
    p.add_argument("--chorales", type=int, default=None,
                   help="use the first N of music21's 371 chorales only, repeats then dropped (default all)")
    p.add_argument("--cache-dir", default=None, help="where the parsed rolls are cached "
                   "(default $MINIGRAD_CACHE or ~/.cache/minigrad)")


def cmd_music(args) -> int:
    if args.max_updates is not None and args.max_updates < 1:
        raise RunError(f"--max-updates must be a positive integer, got {args.max_updates}")
    _check_step(args.step)
    if args.chorales is not None and args.chorales < 3:
        raise RunError(f"--chorales must be at least 3 (one per split at best), got {args.chorales}")
    out = Path(args.out or f"runs/music-h{args.hidden}-s{args.seed}")
    check_before_loading(args, DEFAULTS, "music", out)     # before minutes of parsing
    splits = load_chorales(args.step, limit=args.chorales, cache=args.cache_dir, progress=not args.quiet)
    sizes = {s: len(v) for s, v in splits.items()}
    what = (f"Bach chorales (music21), step {args.step:g} quarter, "
            f"{'all' if args.chorales is None else f'first {args.chorales}'}, {sum(sizes.values())} distinct: "
            + " / ".join(f"{sizes[s]} {s}" for s in SPLITS))
    data = MusicData(splits, what)
    per_epoch = data.updates_per_epoch(args.batch_size if args.batch_size > 0 else 1)
    configs = config_from_args(args, DEFAULTS, task="music", data=what, alpha_every=per_epoch)
    print(what)
    status, results = run_methods(configs, data, out, args.resume, args.force, args.quiet)
    if results:
        print(results_table(results, ["Piano-midi.de", "Nottingham", "MuseData"], "nats per step"))
        print(f"run folders under {out}")
    return status
