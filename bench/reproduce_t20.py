"""The supplement's T = 20 comparison: temporal order, smart tanh, 50 units, lr 0.01, mu 1,
alpha 4; updates to success (fewer than 1% of 10,000 fresh sequences wrong) for MSGD, MSGD-C and
MSGD-CR over several seeds.  Paper (medians of 5 seeds): 21k, 11k, 2k.

    python bench/reproduce_t20.py [--seeds 0 1 2 3 4] [--max-updates 60000] [--json out.json]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
from tasks.train import METHODS, Trainer, TrainConfig  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--max-updates", type=int, default=60_000)
    ap.add_argument("--methods", nargs="+", default=list(METHODS))
    ap.add_argument("--json")
    args = ap.parse_args()
    results = {m: [] for m in args.methods}
    for method in args.methods:
        for seed in args.seeds:
            config = TrainConfig(task="temporal_order", length=20, method=method, init="smart_tanh", hidden=50,
                                 lr=0.01, clip=1.0, alpha=4.0, eval_every=500, max_updates=args.max_updates,
                                 seed=seed)
            start = time.perf_counter()
            state = Trainer(config).train(progress=False)
            row = {"seed": seed, "updates": state.update if state.done else None,
                   "last_error": state.last_error, "seconds": time.perf_counter() - start}
            results[method].append(row)
            print(method, row, flush=True)
            if args.json:
                with open(args.json, "w") as f:
                    json.dump(results, f, indent=1)
    for method, rows in results.items():
        done = [r["updates"] for r in rows if r["updates"] is not None]
        capped = [args.max_updates + 1 if r["updates"] is None else r["updates"] for r in rows]
        print(f"{method}: succeeded {len(done)}/{len(rows)}; median updates "
              f"{statistics.median(capped):,.0f}{' (a failure counts as > max)' if len(done) < len(rows) else ''}; "
              f"wall time {sum(r['seconds'] for r in rows):.0f} s")


if __name__ == "__main__":
    main()
