"""Where a long `minigrad sweep` stands, read from its folder alone (any code version can read
it): per grid point the cells finished, their successes and updates to success, the cells still
to run, the measured training rate per length, and a projection of the time left.

    python bench/sweep_status.py /work/runs/figure7 [--workers 1]

Rates: a finished cell's result.json gives its updates and the wall time of its task (a pack's
cells share one task, so their updates are added).  A length with no finished cell takes the rate
of its running cells: the updates their logs gained since the run last (re)started, over the
``wall_time`` those rows advanced (one pack's cells run together, so their updates add up).  A
length with neither is projected from the nearest measured one, the time of an update taken as
proportional to the length; with nothing measured at all the time left is "unknown", never 0.  The
projection is an upper bound: every unfinished cell is counted for its whole remaining budget,
though a successful one stops sooner.

Plans: a grid point (init or cell, method, length) counts only cells of one setting -- every
field of the cell's configuration that is not the grid's (budget, evaluation and check sizes,
dtype, hidden, lr, clip, alpha, device, ...) and the code version, what the sweep's cell key
holds.  Cells of other settings in the same folder (a sweep run again with another budget, say)
are rows of their own, marked with a letter that a legend explains, never added to the count.
With ``--plan`` only the cells of the plan's settings count: those named by the flags
(``--max-updates`` always, ``--eval-size``, ``--dtype``, ... when given); the rest are named and
left out.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path


GRID = ("init", "method", "length", "seed")
SETTING_FLAGS = {"max_updates": int, "eval_every": int, "eval_size": int, "check_every": int, "check_size": int,
                 "target_error": float, "hidden": int, "lr": float, "clip": float, "alpha": float, "dtype": str,
                 "batch_size": int, "device": str, "task": str}


def setting(cell) -> str:
    """What a cell's outcome depends on besides its grid point: its whole configuration but the
    grid's fields, and the code version (JSON, so that settings compare exactly)."""
    rest = {k: v for k, v in cell["config"].items() if k not in GRID}
    return json.dumps({**rest, "code": cell.get("code")}, sort_keys=True)


def label(cell) -> str:
    cfg = cell["config"]
    return cfg["init"] if cfg.get("cell", "rnn") == "rnn" else cfg["cell"]


def setting_names(settings) -> dict:
    """{setting: "A", ...} and one line per setting naming the fields in which they differ."""
    names = {s: chr(ord("A") + i) if i < 26 else f"S{i}" for i, s in enumerate(sorted(settings))}
    parsed = {s: json.loads(s) for s in settings}
    fields = sorted({k for d in parsed.values() for k in d}
                    - {k for k in next(iter(parsed.values()))
                       if all(k in d and d[k] == next(iter(parsed.values()))[k] for d in parsed.values())})
    lines = [f"  {names[s]}: " + ", ".join(f"{k} {parsed[s].get(k, '(not recorded)')}" for k in fields)
             for s in sorted(settings, key=names.get)]
    return names, lines


def fmt_time(seconds: float) -> str:
    """A time left: seconds or minutes under an hour (a sweep of minutes is not "0.0 h")."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def read_cells(out: Path) -> list:
    cells = []
    for folder in sorted((out / "cells").glob("*")):
        try:
            ident = json.loads((folder / "cell.json").read_text())
        except (OSError, ValueError):
            continue
        cell = {"name": ident["name"], "config": ident["config"], "code": ident.get("code"), "folder": folder,
                "result": None, "update": 0, "segment": None}
        try:
            cell["result"] = json.loads((folder / "result.json").read_text())
        except (OSError, ValueError):
            rows = read_log(folder / "log.jsonl")
            if rows:
                cell["update"] = rows[-1][0]
                cell["segment"] = last_segment(rows)
        cells.append(cell)
    return cells


def read_log(path: Path) -> list:
    """(update, wall_time) of each readable row of a run's log.jsonl (a torn last line is skipped)."""
    rows = []
    try:
        text = path.read_text()
    except OSError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
            rows.append((int(row["update"]), float(row.get("wall_time", "nan"))))
        except (ValueError, KeyError, TypeError):
            continue
    return rows


def last_segment(rows) -> tuple | None:
    """(updates gained, seconds) since the run last (re)started: a resumed run's wall_time starts
    again near 0, so the segment is the trailing run of rows whose wall_time increases."""
    end = len(rows) - 1
    start = end
    while start > 0 and rows[start - 1][1] < rows[start][1]:
        start -= 1
    updates, seconds = rows[end][0] - rows[start][0], rows[end][1] - rows[start][1]
    return (updates, seconds) if updates > 0 and seconds > 0 else None


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


def running_rates(cells) -> dict:
    """Model-updates per second by length from the running cells' logs: the cells of one grid
    point (one pack, or cells alone one after the other) add their updates over the longest
    of their segments' times."""
    points = defaultdict(list)
    for c in cells:
        if not c["result"] and c["segment"]:
            cfg = c["config"]
            points[(cfg["length"], cfg["init"], cfg["method"])].append(c["segment"])
    per_length = defaultdict(lambda: [0, 0.0])
    for (length, *_), segments in points.items():
        per_length[length][0] += sum(u for u, _ in segments)
        per_length[length][1] += max(s for _, s in segments)
    return {length: n / s for length, (n, s) in per_length.items() if s > 0}


def projected_rate(length, measured: dict, running: dict | None = None) -> tuple:
    """(model-updates per second at ``length``, how it was found); (None, why) when nothing was
    measured at any length."""
    if length in measured:
        return measured[length], "measured"
    running = running or {}
    if length in running:
        return running[length], "measured on running cells since they last started"
    known = {**running, **measured}
    if not known:
        return None, "no finished or running cell to measure"
    nearest = min(known, key=lambda m: abs(m - length))
    return known[nearest] * nearest / length, f"from T = {nearest}"


def blas_setups(cells) -> dict:
    """{BLAS as a short label: finished cells} from the result files' "blas" (threadpoolctl's view
    of the libraries a cell trained with); results written before it was recorded count as
    "not recorded".  float32 outcomes depend on the BLAS library, its kernel and thread count."""
    setups = defaultdict(int)
    for c in cells:
        r = c["result"]
        if not r:
            continue
        blas = r.get("blas")
        label = "not recorded"
        if isinstance(blas, list) and blas:
            label = "; ".join(" ".join(str(lib.get(k)) for k in ("internal_api", "version", "architecture")
                                       if lib.get(k)) + f", {lib.get('num_threads')} thread(s)"
                              for lib in blas if isinstance(lib, dict))
        setups[label] += 1
    return dict(setups)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path)
    p.add_argument("--workers", type=int, default=1, help="worker processes the sweep runs on")
    p.add_argument("--plan", nargs=4, metavar=("INITS", "METHODS", "LENGTHS", "SEEDS"),
                   help="the whole grid (comma-separated lists, inits as in TrainConfig: smart_tanh), so "
                        "that cells not started yet count too, each for --max-updates; only cells of the "
                        "plan's settings count (--max-updates, and the setting flags given)")
    p.add_argument("--max-updates", type=int, default=200_000,
                   help="the plan's budget (with --plan: cells of another budget are not counted; default 200,000)")
    for field, kind in SETTING_FLAGS.items():
        if field != "max_updates":
            p.add_argument("--" + field.replace("_", "-"), type=kind, default=None,
                           help=f"with --plan: count only cells of this {field}")
    args = p.parse_args(argv)
    cells = read_cells(args.out)
    if not cells:
        print(f"{args.out}: no cells", file=sys.stderr)
        return 1
    if args.plan:
        wanted = {f: getattr(args, f) for f in SETTING_FLAGS if getattr(args, f) is not None}
        other = [c for c in cells if any(c["config"].get(f) != v for f, v in wanted.items())]
        cells = [c for c in cells if not any(c["config"].get(f) != v for f, v in wanted.items())]
        if other:
            kinds = defaultdict(int)
            for c in other:
                kinds[", ".join(f"{f} {c['config'].get(f)}" for f, v in wanted.items() if c["config"].get(f) != v)] += 1
            many = len(other) != 1
            print(f"{len(other)} cell{'s' if many else ''} in {args.out} {'belong' if many else 'belongs'} to other "
                  f"settings than the plan's ("
                  + ", ".join(f"{f} {v}" for f, v in wanted.items()) + "): not counted ("
                  + "; ".join(f"{k}: {n}" for k, n in sorted(kinds.items())) + ")\n")
    measured = rates(cells)
    running = running_rates(cells)
    settings = {setting(c) for c in cells}
    names, legend = setting_names(settings) if len(settings) > 1 else ({s: "" for s in settings}, [])
    points = defaultdict(list)
    for c in cells:
        cfg = c["config"]
        points[(label(c), cfg["method"], cfg["length"], names[setting(c)])].append(c)
    if legend:
        print(f"{len(settings)} settings in these cells (each counted apart; the column 'set' says which):")
        print("\n".join(legend))
        if args.plan:
            print("  (choose one with the setting flags: --eval-size, --dtype, ...; see --help)")
        print()
    mark = "set " if legend else ""
    print(f"{'init':<11} {'method':<8} {'T':>4} {mark}{'done':>5} {'success':>8}  updates to success / outcome")
    left = 0.0
    for (init, method, length, name), group in sorted(points.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1],
                                                                                       kv[0][3])):
        done = [c for c in group if c["result"]]
        wins = [c for c in done if c["result"]["outcome"] == "success"]
        detail = ", ".join(f"{c['result']['updates']:,}" if c["result"]["outcome"] == "success"
                           else c["result"]["outcome"].split(":")[0] for c in sorted(done, key=lambda c: c["config"]["seed"]))
        col = f"{name:<3} " if legend else ""
        print(f"{init:<11} {method:<8} {length:>4} {col}{len(done):>2}/{len(group):<2} {len(wins):>4}/{len(done):<3}  "
              f"{detail}")
        remaining = sum(c["config"]["max_updates"] - c["update"] for c in group if not c["result"])
        rate, _ = projected_rate(length, measured, running)
        if remaining:
            left = left + remaining / rate if rate else float("nan")
    mixed = defaultdict(set)
    for init, method, length, name in points:
        mixed[(init, method, length)].add(name)
    mixed = {k: v for k, v in mixed.items() if len(v) > 1}
    if mixed:
        print(f"\n{len(mixed)} grid point(s) hold cells of several settings, counted apart, never together: "
              + "; ".join(f"{i} {m} T = {t} ({', '.join(sorted(v))})" for (i, m, t), v in sorted(mixed.items())))
    print("\nmeasured model-updates per second (finished tasks, whole wall time: training, evaluations, checks):")
    lengths = {c["config"]["length"] for c in cells}
    if args.plan:
        lengths |= {int(t) for t in args.plan[2].split(",")}
    for length in sorted(lengths):
        rate, how = projected_rate(length, measured, running)
        print(f"  T = {length}: " + (f"{rate:,.0f} ({how})" if rate else how))
    setups = blas_setups(cells)
    if setups:
        print("BLAS of the finished cells" + (" (mixed: float32 outcomes may differ by BLAS)" if len(setups) > 1 else "")
              + ": " + "; ".join(f"{label}: {n}" for label, n in sorted(setups.items())))
    unfinished = sum(not c["result"] for c in cells)
    if args.plan:
        inits, methods, lengths, seeds = (x.split(",") for x in args.plan)
        have = {(c["config"]["init"], c["config"]["method"], c["config"]["length"], c["config"]["seed"]) for c in cells}
        missing = [(i, m, int(t), int(s)) for i in inits for m in methods for t in lengths for s in seeds
                   if (i, m, int(t), int(s)) not in have]
        for _, _, length, _ in missing:
            rate, _ = projected_rate(length, measured, running)
            left = left + args.max_updates / rate if rate else float("nan")
        print(f"{len(missing)} cells of the plan not started yet (counted for {args.max_updates:,} updates each)")
        unfinished += len(missing)
        cells = cells + [None] * len(missing)
    done = f"\n{len(cells) - unfinished} of {len(cells)} cells finished; "
    if not unfinished:
        print(done + "nothing left to run")
    elif left != left:                                  # NaN: some length has no rate at all
        print(done + "time left unknown: no cell has finished or run long enough to measure a rate")
    else:
        print(done + f"at most {fmt_time(left / args.workers)} left on {args.workers} worker(s), every "
              "unfinished cell counted for its whole budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
