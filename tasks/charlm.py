"""Character-level language modelling (the paper's Table 1, Penn Treebank rows) on a corpus
every machine has without a download, and ``minigrad charlm``.

**The corpus: the docstrings of the Python standard library.**  Penn Treebank cannot be fetched
here, and what Python itself installs is present wherever minigrad runs: the ``.py`` files of
the standard library (``sysconfig.get_paths()["stdlib"]``) hold about 0.9 million characters of
English prose in their docstrings (the top-level modules; Python 3.11), close to PTB's kind of
text (sentences, punctuation, some numbers) and far from source code.  The text depends on the
Python version (stated with every result).  Only the top-level modules are read, in sorted
order; each docstring (``ast.get_docstring``, module, class and function ones, in source order)
becomes one line:

* lowercased, accents removed (NFKD, non-ASCII dropped), every run of whitespace one space;
* kept: the 69 characters of :data:`ALPHABET` (space, a-z, 0-9 and ASCII punctuation) plus the
  newline that ends each docstring; anything else is dropped.  Vocabulary: 70 characters
  (PTB's character set has 50).

**Split**, by module, deterministically: SHA-256 of the file name mod 100, below 90 train,
below 95 valid, else test; each split is its modules' text in sorted order.  The encoded splits
are cached as an ``.npz`` (``~/.cache/minigrad``, ``$MINIGRAD_CACHE`` or ``--cache-dir``).

**Training** (PAPER.md, "Natural tasks", scaled): a sigmoid RNN without biases, weights
N(0, 0.1); the training text cut into B = 20 parallel streams read 200 characters at a time,
the hidden state carried from one segment to the next (truncated BPTT over 200 steps; zeroed
at the start of each pass); the cost summed over the 200 steps, mu = 45;
alpha_t = alpha_0 / (1 + t / 2800) per update.  Evaluation: bits per character on held-out
text read the same way (64 streams, state carried throughout): the cross-entropy in nats of
every predicted character, averaged, / ln 2.

**Ahead** (``--ahead K``, Table 1's "5th character ahead" row with K = 5): the input at step t
is character t, the target character t + K (K = 1: the next character); the state is carried
as for K = 1, and a stream's first K characters are never targets.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import math
import os
import string
import sysconfig
import unicodedata
from pathlib import Path

import numpy as np

from .music import cache_dir
from .natural import (LN2, NaturalConfig, add_common_arguments, check_before_loading, config_from_args, results_table,
                      run_methods)
from .train import RunError

ALPHABET = " " + string.ascii_lowercase + string.digits + string.punctuation
NEWLINE = "\n"
VOCAB = NEWLINE + ALPHABET                    # code 0 is the newline
SPLITS = ("train", "valid", "test")
EVAL_STREAMS = 64
PAPER_ROWS = {1: "PTB next char", 5: "PTB 5th char ahead"}     # Table 1's rows, by --ahead
_CODE = {ch: i for i, ch in enumerate(VOCAB)}


def normalize(text: str) -> str:
    """Lowercase ASCII, whitespace runs as one space, only :data:`ALPHABET` kept (no newline)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    text = " ".join(text.split())
    return "".join(ch for ch in text if ch in ALPHABET)


def docstrings(source: str) -> list[str]:
    """The docstrings of a module's source (module, classes, functions), in source order."""
    tree = ast.parse(source)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            if doc:
                found.append((getattr(node, "lineno", 0), doc))
    return [doc for _, doc in sorted(found, key=lambda pair: pair[0])]


def module_text(source: str) -> str:
    """One normalized line per docstring."""
    lines = [normalize(doc) for doc in docstrings(source)]
    return "".join(line + NEWLINE for line in lines if line)


def stdlib_files() -> list[Path]:
    """The top-level modules of the standard library, sorted by name."""
    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


def split_of(name: str) -> str:
    """train / valid / test for a module's file name (90 / 5 / 5 %, by SHA-256 of the name)."""
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 100
    return "train" if h < 90 else "valid" if h < 95 else "test"


def encode(text: str) -> np.ndarray:
    """Characters of :data:`VOCAB` as uint8 codes (anything else is an error)."""
    try:
        return np.array([_CODE[ch] for ch in text], np.uint8)
    except KeyError as e:
        raise ValueError(f"character {e.args[0]!r} is not in the vocabulary") from None


def decode(codes) -> str:
    return "".join(VOCAB[int(c)] for c in codes)


def build_corpus(files) -> dict:
    """{split: text} of the given ``.py`` files (unreadable or unparsable ones skipped)."""
    parts = {s: [] for s in SPLITS}
    for path in sorted(Path(f) for f in files):
        try:
            text = module_text(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        parts[split_of(path.name)].append(text)
    return {s: "".join(parts[s]) for s in SPLITS}


def load_corpus(files=None, cache=None) -> dict:
    """{split: uint8 codes} of the standard library's docstrings (or of ``files``), cached."""
    files = stdlib_files() if files is None else [Path(f) for f in files]
    if not files:
        raise RunError("no Python files to read docstrings from")
    key = hashlib.sha256("\n".join(f"{f.name}:{f.stat().st_size}" for f in sorted(files)).encode()).hexdigest()[:12]
    path = cache_dir(cache) / f"stdlib_docstrings_{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as z:
                cached = {s: z[s] for s in SPLITS}
            if all(c.dtype == np.uint8 and c.ndim == 1 and int(c.max(initial=0)) < len(VOCAB)
                   for c in cached.values()):
                return cached
        except Exception:                         # a damaged cache file: read the files again
            pass
    corpus = {s: encode(t) for s, t in build_corpus(files).items()}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(tmp, **corpus)
        os.replace(tmp, path)
    except OSError as e:
        raise RunError(f"cannot write the cache in {path.parent} ({e.strerror or e}): pass --cache-dir a "
                       "writable folder") from None
    return corpus


def one_hot(codes: np.ndarray, vocab: int = len(VOCAB)) -> np.ndarray:
    out = np.zeros(codes.shape + (vocab,), np.float64)
    np.put_along_axis(out, codes[..., None].astype(np.int64), 1.0, axis=-1)
    return out


def streams(codes: np.ndarray, count: int) -> np.ndarray:
    """The text as ``count`` contiguous streams of equal length, (count, n // count)."""
    n = len(codes) // count
    if n < 2:
        raise RunError(f"{len(codes)} characters cannot make {count} streams of 2 or more")
    return codes[:count * n].reshape(count, n)


class CharData:
    """The corpus as :class:`tasks.natural.NaturalTrainer` reads it."""

    n_in = n_out = len(VOCAB)
    cost = "chars_summed"
    carry = True
    unit = "bits per character"

    def __init__(self, corpus: dict, segment: int = 200, description: str = "", ahead: int = 1):
        if isinstance(ahead, bool) or not isinstance(ahead, (int, np.integer)) or ahead < 1:
            raise RunError(f"--ahead must be a positive integer (1: the next character), got {ahead!r}")
        for s in SPLITS:
            if len(corpus.get(s, ())) < ahead + 1:
                raise RunError(f"the {s} split holds no text" if len(corpus.get(s, ())) < 2 else
                               f"the {s} split ({len(corpus[s])} characters) is too short to predict "
                               f"{ahead} characters ahead")
        self.corpus, self.segment, self.description, self.ahead = corpus, segment, description, ahead
        self._streams = None

    def updates_per_epoch(self, batch: int) -> int:
        n = len(self.corpus["train"]) // batch
        return max((n - self.ahead) // self.segment, 1)

    def batch(self, update: int, batch: int, seed: int):
        """Segment ``update mod per-epoch`` of the B streams: one-hot inputs (S, B, V) of
        characters i*S ... (i+1)*S - 1, integer targets (S, B) the characters ``ahead`` steps
        later; ``reset`` at the first segment of a pass."""
        if self._streams is None or self._streams.shape[0] != batch:
            self._streams = streams(self.corpus["train"], batch)
            if self._streams.shape[1] < self.segment + self.ahead:
                raise RunError(f"the training text ({len(self.corpus['train'])} characters) is too short for "
                               f"{batch} streams of {self.segment}-character segments"
                               + (f" and targets {self.ahead} ahead" if self.ahead > 1 else ""))
        i = update % self.updates_per_epoch(batch)
        a, S = self.ahead, self.segment
        inputs = self._streams[:, i * S:(i + 1) * S].T                              # (S, B)
        targets = self._streams[:, i * S + a:(i + 1) * S + a].T
        return one_hot(inputs), targets.astype(np.int64), i == 0

    def metric(self, cost: float) -> float:
        """The summed cost of a segment (nats) as bits per character."""
        return float(cost) / self.segment / LN2

    def evaluate(self, model, split: str, limit: int = 0) -> float:
        """Bits per character on ``split`` (its first ``limit`` characters if ``limit``), read as
        64 streams of segments with the state carried: every character of a stream from the
        ``ahead``-th on is predicted once, from the characters up to ``ahead`` steps before it."""
        import minigrad as mg
        codes = self.corpus[split]
        if limit:
            codes = codes[:limit]
        a, S = self.ahead, self.segment
        count = max(1, min(EVAL_STREAMS, len(codes) // (S + a)))
        text = streams(codes, count)
        n = text.shape[1]
        if n <= a:
            raise RunError(f"{len(codes)} characters of {split} are too few to predict {a} characters ahead")
        dtype, device = model.h0.dtype, model.h0.device
        state = mg.zeros((count, model.hidden), dtype=dtype, device=device)
        total, chars = 0.0, 0
        with mg.no_grad():
            for start in range(0, n - a, S):
                stop = min(start + S, n - a)
                x = mg.tensor(one_hot(text[:, start:stop].T), dtype=dtype, device=device)
                y = mg.tensor(text[:, start + a:stop + a].T.astype(np.int64), device=device)
                logits, runs = model.run(x, state)
                state = runs[0].final
                total += mg.cross_entropy(logits, y, reduction="sum").item()
                chars += y.size
        return total / chars / LN2


# ----------------------------------------------------------------------------- command line
# Scaled to a 2-core CPU (about 10 minutes a method): 128 units instead of 500; lr 0.03 (of 0.01,
# 0.03, 0.1 over 120 updates at 200 units: 0.1 made plain MSGD blow up to 35 bits per character);
# 3,000 updates of 20 x 200 characters (12 million characters, about 17 passes over the
# training text).
DEFAULTS = NaturalConfig(task="charlm", hidden=128, leaky=0.0, std=0.1, bias=False, lr=0.03, clip=45.0,
                         alpha=0.5, alpha_schedule="inverse_linear", alpha_beta=2800.0, batch_size=20,
                         segment=200, eval_every=100, eval_limit=50_000, max_updates=3000)

DESCRIPTION = f"""\
Character-level language modelling as in the paper's Table 1 (Penn Treebank rows), on the text
of the Python standard library's docstrings (present wherever Python is; lowercased, {len(VOCAB)}
characters; split 90/5/5 by module).  A sigmoid RNN without biases reads 20 parallel streams
200 characters at a time, its hidden state carried across segments; the cost is summed over
the segment and clipped at mu = 45.  --ahead 5 predicts the 5th character ahead instead of the
next one (the paper's second PTB row).  Trains each of --methods (msgd, msgd-c, msgd-cr) in turn,
each in OUT/METHOD, and prints bits per character (train / valid / test of the best validation
checkpoint) beside the paper's PTB row."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common_arguments(p, DEFAULTS)
    p.add_argument("--segment", type=int, default=DEFAULTS.segment,
                   help=f"characters per truncated-BPTT segment (default {DEFAULTS.segment})")
    p.add_argument("--ahead", type=int, default=DEFAULTS.ahead,
                   help="predict the character this many steps ahead: 1 the next one, 5 the paper's "
                   f"\"5th character in the future\" row (default {DEFAULTS.ahead})")
    p.add_argument("--alpha-beta", type=float, default=DEFAULTS.alpha_beta,
                   help=f"alpha_t = alpha / (1 + t / beta) per update (default {DEFAULTS.alpha_beta:g})")
    p.add_argument("--eval-limit", type=int, default=DEFAULTS.eval_limit,
                   help="characters of the validation text read at each periodic evaluation, and of the "
                   f"training text for the final train figure (0: all; default {DEFAULTS.eval_limit})")
    p.add_argument("--max-chars", type=int, default=None,
                   help="use only the first N characters of each split (default all)")
    p.add_argument("--cache-dir", default=None, help="where the encoded corpus is cached "
                   "(default $MINIGRAD_CACHE or ~/.cache/minigrad)")


def cmd_charlm(args) -> int:
    if args.max_chars is not None and args.max_chars < 2:
        raise RunError(f"--max-chars must be at least 2, got {args.max_chars}")
    if args.segment < 1:
        raise RunError(f"--segment must be a positive integer, got {args.segment}")
    if args.ahead < 1:
        raise RunError(f"--ahead must be a positive integer (1: the next character), got {args.ahead}")
    if 0 < args.eval_limit <= args.ahead:        # no character would have its target among them
        raise RunError(f"--eval-limit must be 0 (all the text) or more than --ahead ({args.ahead}) characters, "
                       f"got {args.eval_limit}")
    ahead = f"-ahead{args.ahead}" if args.ahead > 1 else ""
    out = Path(args.out or f"runs/charlm-h{args.hidden}-s{args.seed}{ahead}")
    check_before_loading(args, DEFAULTS, "charlm", out)    # before the corpus is read
    corpus = load_corpus(cache=args.cache_dir)
    if args.max_chars:
        corpus = {s: c[:args.max_chars] for s, c in corpus.items()}
    import platform
    what = (f"Python {platform.python_version()} standard-library docstrings, {len(VOCAB)} characters: "
            + " / ".join(f"{len(corpus[s]):,} {s}" for s in SPLITS))
    if args.ahead > 1:
        what += f"; predicting the character {args.ahead} ahead"
    data = CharData(corpus, args.segment, what, ahead=args.ahead)
    configs = config_from_args(args, DEFAULTS, task="charlm", data=what)
    print(what)
    status, results = run_methods(configs, data, out, args.resume, args.force, args.quiet)
    if results:
        row = PAPER_ROWS.get(args.ahead)
        print(results_table(results, [row] if row else [], "bits per character"))
        print(f"uniform model: {math.log2(len(VOCAB)):.3f} bits per character; run folders under {out}")
    return status
