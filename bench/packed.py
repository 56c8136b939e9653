"""Many models in one program (issue 13, item 1): updates per second per model, S runs packed
into one computation (tasks.packed.PackedTrainer) against the same S runs trained one after the
other (tasks.train.Trainer, traced), in the same process, interleaved.

An update here is what training repeats: the minibatch of every run generated from its own
seed, the traced forward and backward pass, Omega (MSGD-CR), per-run clipping, the SGD step.
Evaluations are left out (they are the same forward passes either way, and run every 500
updates).  Temporal order, the paper's settings (50 tanh units, smart tanh, batch 20).

    python bench/packed.py --lengths 20 100 --sizes 1 5 10 20 --json bench/packed.json
    python bench/packed.py --device cuda --dtypes float32 --sizes 1 10 100 --json packed_cuda.json   # issue 17

Prints, per (length, dtype, method, S): ms per update of the pack, of S separate runs, and the
throughput ratio (separate time / packed time: how many times more updates per second per model).
``--clock cpu`` times with this process's CPU time instead of the wall clock: on a machine
shared with other work it is inflated far less (a process waiting for a core is not counted).
``--program-only`` times the pack's traced program alone instead of its whole update: the ratio
is then the ceiling of packing this program (data and the Python around it for free).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import common  # noqa: E402,F401  (one BLAS thread for every implementation)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402

from tasks.packed import PackedTrainer  # noqa: E402
from tasks.train import Trainer, TrainConfig, keep_freed_memory  # noqa: E402


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def timed(fn, updates, clock=time.perf_counter, sync=lambda: None):
    """Seconds per call of ``fn``; ``sync`` waits for the device's queued work (a GPU runs
    asynchronously: without it the clock would stop before the work is done)."""
    sync()
    start = clock()
    for _ in range(updates):
        fn()
    sync()
    return (clock() - start) / updates


def measure(length, dtype, method, S, updates, repeats, clock="wall", program_only=False, device="cpu"):
    configs = [TrainConfig.for_task("temporal_order", length=length, method=method, seed=s, dtype=dtype,
                                    device=device) for s in range(S)]
    pack = PackedTrainer(configs)
    everyone = list(range(S))
    alone = [Trainer(c) for c in configs]
    c = pack.config
    batch = pack._batch(pack._train_rngs(everyone), c.batch_size)
    alpha = mg.tensor([0.5] * S, dtype=pack.params[0].dtype, device=device) if method == "msgd-cr" else None
    sync = mg.get_backend(device).synchronize

    def packed_update():
        if program_only:                        # the traced program alone: no data, no SGD step
            pack._gradients(pack.model, batch.inputs, batch.targets, alpha, None, c.method, c.clip)
            return
        pack.update(everyone)
        for m in pack.members:                  # as the training loop counts them
            m.state.update += 1

    def separate_updates():
        for t in alone:
            t.update()
            t.state.update += 1
    packed_update(), separate_updates()         # trace both
    packed, separate = [], []
    for r in range(repeats):                    # interleaved, alternating which goes first
        pair = [(packed, packed_update), (separate, separate_updates)]
        for times, fn in (pair if r % 2 == 0 else pair[::-1]):
            times.append(timed(fn, updates, CLOCKS[clock], sync))
    return {"length": length, "dtype": dtype, "method": method, "S": S, "device": device, "updates": updates,
            "repeats": repeats,
            "clock": clock, "program_only": program_only,
            "packed_ms": [1e3 * t for t in packed], "separate_ms": [1e3 * t for t in separate],
            "best_ratio": min(separate) / min(packed), "median_ratio": float(np.median(separate) / np.median(packed))}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=int, nargs="+", default=[20, 100])
    p.add_argument("--sizes", type=int, nargs="+", default=[1, 5, 10, 20])
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    p.add_argument("--methods", nargs="+", default=["msgd-c", "msgd-cr"])
    p.add_argument("--updates", type=int, default=10, help="updates per timing")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--clock", choices=sorted(CLOCKS), default="wall",
                   help="wall: elapsed time; cpu: this process's CPU time (time.process_time), which other "
                        "processes on a shared machine inflate far less (one BLAS thread: the work done)")
    p.add_argument("--program-only", action="store_true",
                   help="time the pack's traced program alone (forward, BPTT, Omega, clipping: no data, no "
                        "SGD step, no Python around it): separate time / this is the most packing can give")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda (a GPU, through CuPy) or strict")
    p.add_argument("--json")
    args = p.parse_args(argv)
    rows = []
    print(f"{'T':>4} {'dtype':>8} {'method':>8} {'S':>3} {'packed ms':>10} {'separate ms':>12} {'ratio best':>11} {'median':>7}")
    for length in args.lengths:
        for dtype in args.dtypes:
            for method in args.methods:
                for S in args.sizes:
                    r = measure(length, dtype, method, S, args.updates, args.repeats, args.clock, args.program_only,
                                args.device)
                    rows.append(r)
                    print(f"{length:>4} {dtype:>8} {method:>8} {S:>3} {min(r['packed_ms']):>10.2f} "
                          f"{min(r['separate_ms']):>12.2f} {r['best_ratio']:>11.2f} {r['median_ratio']:>7.2f}", flush=True)
    if args.json:
        meta = {"command": "python bench/packed.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                "date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.machine(), "cores": os.cpu_count(),
                "python": platform.python_version(), "numpy": np.__version__,
                "freed_memory_kept": keep_freed_memory()}
        Path(args.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
