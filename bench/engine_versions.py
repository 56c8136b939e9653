"""Two commits of the engine side by side: is the new one slower on the paper's updates?

Runs ``bench/rnn_update.py`` (the paper's tanh RNN, hidden 50, batch 20, T = 100) and
``bench/lstm_update.py`` (LSTM, hidden 50, T = 100) of each commit in turn, alternating which
goes first, ``rounds`` times: each run times minigrad eager, minigrad traced and the hand-written
NumPy floor interleaved, so every figure comes with a floor measured in the same process.  The
old commit is checked out into a temporary git worktree (the benchmark scripts of each commit
time that commit's engine).

    python bench/engine_versions.py --old 3959be8 [--rounds 5] [--json bench/engine_versions.json]

Reported per commit, workload, dtype and implementation: the median over rounds of the best
time of each run, and its ratio to the NumPy floor of the same run; then new / old.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = {"rnn": ["rnn_update.py", "--repeats", "5", "--inner", "5"],
             "lstm": ["lstm_update.py", "--repeats", "5", "--inner", "2"]}


def run(tree: str, workload: str) -> dict:
    script, *args = WORKLOADS[workload]
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
        subprocess.run([sys.executable, os.path.join(tree, "bench", script), *args, "--json", out.name],
                       check=True, cwd=tree, env=env, stdout=subprocess.DEVNULL)
        return json.load(open(out.name))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="the commit to compare with (e.g. a hash or HEAD~5)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json")
    args = ap.parse_args()
    old_hash = subprocess.check_output(["git", "rev-parse", "--short", args.old], cwd=ROOT, text=True).strip()
    new_hash = subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True).strip()
    dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "minigrad"], cwd=ROOT).returncode != 0
    with tempfile.TemporaryDirectory() as tmp:
        old_tree = os.path.join(tmp, "old")
        subprocess.run(["git", "worktree", "add", "--detach", old_tree, args.old], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            trees = {"old": old_tree, "new": ROOT}
            raw = {w: {"old": [], "new": []} for w in WORKLOADS}
            for r in range(args.rounds):
                order = ["old", "new"] if r % 2 == 0 else ["new", "old"]
                for w in WORKLOADS:
                    for label in order:
                        raw[w][label].append(run(trees[label], w))
                print(f"round {r + 1}/{args.rounds} done", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", old_tree], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    summary = {"old": old_hash, "new": new_hash + (" + uncommitted changes" if dirty else ""),
               "rounds": args.rounds, "results": {}}
    print(f"old {summary['old']}, new {summary['new']}; median over {args.rounds} rounds of each run's best")
    for w, by in raw.items():
        for dtype in ("float64", "float32"):
            for impl in ("minigrad", "minigrad-trace"):
                row = {}
                for label in ("old", "new"):
                    ms = statistics.median(run_[dtype][impl]["best_ms"] for run_ in by[label])
                    floor = statistics.median(run_[dtype][impl]["x_numpy"] for run_ in by[label])
                    row[label] = {"ms": ms, "x_numpy": floor}
                row["new_over_old"] = row["new"]["ms"] / row["old"]["ms"]
                summary["results"][f"{w} {dtype} {impl}"] = row
                print(f"  {w:4s} {dtype} {impl:15s} old {row['old']['ms']:7.2f} ms ({row['old']['x_numpy']:.2f}x numpy)"
                      f"   new {row['new']['ms']:7.2f} ms ({row['new']['x_numpy']:.2f}x numpy)"
                      f"   new/old {row['new_over_old']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
