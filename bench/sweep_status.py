"""Where a long `minigrad sweep` stands, read from its folder alone (any code version can read
it): per grid point the cells finished, their successes and updates to success, the cells still
to run, the measured training rate per length, and a projection of the time left.

    python bench/sweep_status.py /work/runs/figure7 [--workers 1]

Rates: a finished cell's result.json gives its updates and the wall time of its task (a pack's
cells share one task, so their updates are added); lengths with no finished cell are projected
from the nearest measured one, the time of an update taken as proportional to the length.  The
projection is an upper bound: every unfinished cell is counted for its whole remaining budget,
though a successful one stops sooner.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


def read_cells(out: Path) -> list:
    cells = []
    for folder in sorted((out / "cells").glob("*")):
        try:
            ident = json.loads((folder / "cell.json").read_text())
        except (OSError, ValueError):
            continue
        cell = {"name": ident["name"], "config": ident["config"], "folder": folder, "result": None, "update": 0}
        try:
            cell["result"] = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError):
            log = folder / "log.jsonl"
            if log.exists():
                lines = [line for line in log.read_text().splitlines() if line.strip()]
                if lines:
                    try:
                        cell["update"] = int(json.loads(lines[-1])["update"])
                    except (ValueError, KeyError):
                        pass
        cells.append(cell)
    return cells


def rates(cells) -> dict:
    """Model-updates per second by length, from finished tasks (a pack counted once)."""
    tasks = {}
    for c in cells:
        r = c["result"]
        if not r or not r.get("seconds"):
            continue
        key = (c["config"]["length"], r["seconds"], c["config"]["init"], c["config"]["method"])
        updates = r["updates"] - (r.get("resumed_from") or 0)
        tasks.setdefault(key, []).append(updates)
    per_length = defaultdict(lambda: [0, 0.0])
    for (length, seconds, *_), updates in tasks.items():
        per_length[length][0] += sum(updates)
        per_length[length][1] += seconds
    return {length: n / s for length, (n, s) in per_length.items() if s > 0}


def projected_rate(length, measured: dict) -> tuple:
    if length in measured:
        return measured[length], "measured"
    if not measured:
        return None, "no finished cell yet"
    nearest = min(measured, key=lambda m: abs(m - length))
    return measured[nearest] * nearest / length, f"from T = {nearest}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--workers", type=int, default=1, help="worker processes the sweep runs on")
    p.add_argument("--plan", nargs=4, metavar=("INITS", "METHODS", "LENGTHS", "SEEDS"),
                   help="the whole grid (comma-separated lists, inits as in TrainConfig: smart_tanh), so "
                        "that cells not started yet count too, each for --max-updates")
    p.add_argument("--max-updates", type=int, default=200_000)
    args = p.parse_args(argv)
    cells = read_cells(args.out)
    if not cells:
        print(f"{args.out}: no cells", file=sys.stderr)
        return 1
    measured = rates(cells)
    points = defaultdict(list)
    for c in cells:
        cfg = c["config"]
        points[(cfg["init"], cfg["method"], cfg["length"])].append(c)
    print(f"{'init':<11} {'method':<8} {'T':>4} {'done':>5} {'success':>8}  updates to success / outcome")
    left = 0.0
    for (init, method, length), group in sorted(points.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1])):
        done = [c for c in group if c["result"]]
        wins = [c for c in done if c["result"]["outcome"] == "success"]
        detail = ", ".join(f"{c['result']['updates']:,}" if c["result"]["outcome"] == "success"
                           else c["result"]["outcome"].split(":")[0] for c in sorted(done, key=lambda c: c["config"]["seed"]))
        print(f"{init:<11} {method:<8} {length:>4} {len(done):>2}/{len(group):<2} {len(wins):>4}/{len(done):<3}  {detail}")
        remaining = sum(c["config"]["max_updates"] - c["update"] for c in group if not c["result"])
        rate, _ = projected_rate(length, measured)
        if remaining and rate:
            left += remaining / rate
    print("\nmeasured model-updates per second (finished tasks, whole wall time: training, evaluations, checks):")
    for length in sorted({c["config"]["length"] for c in cells}):
        rate, how = projected_rate(length, measured)
        print(f"  T = {length}: " + (f"{rate:,.0f} ({how})" if rate else how))
    unfinished = sum(not c["result"] for c in cells)
    if args.plan:
        inits, methods, lengths, seeds = (x.split(",") for x in args.plan)
        have = {(c["config"]["init"], c["config"]["method"], c["config"]["length"], c["config"]["seed"]) for c in cells}
        missing = [(i, m, int(t), int(s)) for i in inits for m in methods for t in lengths for s in seeds
                   if (i, m, int(t), int(s)) not in have]
        for _, _, length, _ in missing:
            rate, _ = projected_rate(length, measured)
            left += args.max_updates / rate if rate else 0.0
        print(f"{len(missing)} cells of the plan not started yet (counted for {args.max_updates:,} updates each)")
        unfinished += len(missing)
        cells = cells + [None] * len(missing)
    print(f"\n{len(cells) - unfinished} of {len(cells)} cells finished; at most {left / 3600 / args.workers:.1f} h "
          f"left on {args.workers} worker(s), every unfinished cell counted for its whole budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
