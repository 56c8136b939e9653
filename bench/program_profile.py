"""Where the time of a traced update goes: every line of the program ``mg.trace`` made, timed.

    python bench/program_profile.py --length 20 --size 10 --dtype float32 --method msgd-c

Builds the paper's temporal-order runs (50 tanh units, smart tanh, batch 20) as
``bench/packed.py`` does, S of them packed into one program (``tasks.packed.PackedTrainer``)
and one alone (``tasks.train.Trainer``), traces each update's program once, then runs a copy of
its source with a clock around every line.  Prints the time per call kind (matrix products,
tanh, sums, other elementwise calls, concatenations, the rest) per update and per model, and
the bound they put on packing: S separate programs cost S x (one program); the pack's
products and tanh alone cost what they cost, so no packing of this program can beat
``S x (one program) / (the pack's products + tanh)``.  Times are the best of --repeats
rounds of --updates programs (noise only adds time); the clock is the wall clock of this
process, so run it on an idle core.
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402,F401  (one BLAS thread)

import minigrad as mg  # noqa: E402

from tasks.packed import PackedTrainer  # noqa: E402
from tasks.runfiles import RunError  # noqa: E402
from tasks.train import Trainer, TrainConfig, keep_freed_memory  # noqa: E402

KINDS = ("products", "tanh", "sums", "elementwise", "concatenate", "other")


def kind(line: str) -> str:
    """The kind of one program line (``r12 = xp.tanh(r11)``)."""
    if re.match(r"\s*\w+ [-+*/]= ", line):           # r170 += r298: in place
        return "elementwise"
    call = line.split("=", 1)[1] if "=" in line else line
    if re.search(r"xp\.(matmul|dot)\(|@", call):
        return "products"
    if "xp.tanh(" in call:
        return "tanh"
    if re.search(r"xp\.sum\(|\.sum\(", call):
        return "sums"
    if "xp.concatenate(" in call or "xp.stack(" in call:
        return "concatenate"
    if re.search(r"xp\.(exp|log|where|maximum|minimum|sqrt|multiply|add|subtract)\(|[-+*/] ", call):
        return "elementwise"
    return "other"


def timed_copy(program):
    """The program's function rebuilt from its source with a clock around each statement:
    returns (function, {line number: seconds}, lines)."""
    lines = program.source.splitlines()
    out = []
    for i, line in enumerate(lines):
        s = line.strip()
        if i == 0 or not s or s.startswith(("#", "return", "del ")) or s.endswith(":") or line.startswith(" " * 8):
            out.append(line)
            continue
        out.append(f"    _t0 = _clock(); {s}; _spent[{i}] += _clock() - _t0")
    namespace = dict(program.fn.__globals__)
    namespace["_clock"], namespace["_spent"] = time.perf_counter, defaultdict(float)
    exec(compile("\n".join(out), "<timed program>", "exec"), namespace)
    return namespace[program.fn.__name__], namespace["_spent"], lines


def profile(traced, call, updates, repeats):
    """{kind: seconds per program}, seconds per program untimed, number of lines."""
    for _ in range(3):                              # traced here: the first call, where the parameters
        call()                                      # have no .grad yet, gets a program of its own
    program = list(traced._programs.values())[-1]   # the one used last (least recently used first)
    plain = program.fn
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(updates):
            call()
        best = min(best, (time.perf_counter() - start) / updates)
    fn, spent, lines = timed_copy(program)
    program.fn = fn
    rounds = []
    try:
        for _ in range(repeats):
            spent.clear()
            for _ in range(updates):
                call()
            per = defaultdict(float)
            for i, seconds in spent.items():
                per[kind(lines[i].strip())] += seconds / updates
            rounds.append(per)
    finally:
        program.fn = plain
    total = min(rounds, key=lambda r: sum(r.values()))
    return total, best, len(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--length", type=int, default=20)
    p.add_argument("--size", type=int, default=10, help="S, the runs packed")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--method", default="msgd-c")
    p.add_argument("--updates", type=int, default=20)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    if args.size < 1 or args.length < 2 or args.updates < 1 or args.repeats < 1:
        p.error("--size and --updates and --repeats must be at least 1, --length at least 2")
    keep_freed_memory()
    S = args.size
    configs = [TrainConfig.for_task("temporal_order", length=args.length, method=args.method, seed=s, dtype=args.dtype)
               for s in range(S)]
    try:
        pack = PackedTrainer(configs)
    except RunError as e:                               # e.g. a length the task cannot make
        p.error(str(e))
    c = pack.config
    batch = pack._batch(pack._train_rngs(list(range(S))), c.batch_size)
    regularized = args.method in ("msgd-cr", "msgd-r")
    alpha = mg.tensor([0.5] * S, dtype=pack.params[0].dtype) if regularized else None
    packed, packed_plain, n_packed = profile(
        pack._gradients, lambda: pack._gradients(pack.model, batch.inputs, batch.targets, alpha, None, c.method, c.clip),
        args.updates, args.repeats)
    one = Trainer(configs[0])
    b1 = one._sampler(one.TRAIN, 0).batch(c.batch_size)
    a1 = mg.tensor(0.5, dtype=one.params[0].dtype) if regularized else None
    alone, alone_plain, n_alone = profile(
        one._gradients, lambda: one._gradients(one.model, b1.inputs, b1.targets, a1, c.method, c.clip),
        args.updates, args.repeats)
    print(f"temporal order T = {args.length}, {args.dtype}, {args.method}: the traced gradient program "
          f"(forward, BPTT, Omega, clipping), best of {args.repeats} x {args.updates}")
    print(f"{'kind':<12} {'pack of ' + str(S) + ' (us)':>16} {'per model':>10} {'one alone (us)':>15}")
    for k in KINDS:
        print(f"{k:<12} {1e6 * packed[k]:>16.1f} {1e6 * packed[k] / S:>10.1f} {1e6 * alone[k]:>15.1f}")
    print(f"{'all lines':<12} {1e6 * sum(packed.values()):>16.1f} {1e6 * sum(packed.values()) / S:>10.1f} "
          f"{1e6 * sum(alone.values()):>15.1f}")
    print(f"{'untimed':<12} {1e6 * packed_plain:>16.1f} {1e6 * packed_plain / S:>10.1f} {1e6 * alone_plain:>15.1f}")
    print(f"program lines: {n_packed} packed, {n_alone} alone")
    floor = packed["products"] + packed["tanh"]
    print(f"packing gain of this program: {S * alone_plain / packed_plain:.2f}x measured; at most "
          f"{S * alone_plain / floor:.2f}x if everything but the products and tanh cost nothing")


if __name__ == "__main__":
    main()
