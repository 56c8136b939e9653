"""``minigrad sweep``: many training runs over a grid of settings, and the success-rate table
behind the paper's Figure 7."""
from __future__ import annotations

import time
from pathlib import Path

from .train import INIT_CHOICES, METHODS, RunError, TrainConfig, prepare_run

DESCRIPTION = ("Train one run per (init or cell, method, length, seed) in parallel worker "
               "processes and print the success-rate table behind the paper's "
               "Figure 7; per-run results go to OUT/sweep.csv, and each run keeps its "
               "own folder (a sweep started again skips the runs that finished).")


def add_arguments(p):
    p.add_argument("--task", default="temporal-order")
    p.add_argument("--lengths", type=int, nargs="+", default=[20, 50, 100])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--inits", nargs="+", default=["sigmoid", "basic-tanh", "smart-tanh"])
    p.add_argument("--cells", nargs="+", default=["rnn"], choices=["rnn", "lstm", "gru"],
                   help="rnn: one row per --inits; lstm, gru: one row each (their own init)")
    p.add_argument("--hidden", type=int, default=50)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--alpha", type=float, default=4.0)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-size", type=int, default=10_000)
    p.add_argument("--target-error", type=float, default=0.01)
    p.add_argument("--max-updates", type=int, default=50_000)
    p.add_argument("--workers", type=int, default=2, help="parallel worker processes (default 2)")
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--quiet", action="store_true")


def _sweep_job(job):
    """One training run of a sweep (in a worker process); its result is also saved beside it."""
    import json as _json
    folder = Path(job["folder"])
    done = folder / "result.json"
    if done.exists():                                        # finished in an earlier sweep
        return _json.loads(done.read_text())
    config = TrainConfig(**job["config"])
    start = time.perf_counter()
    trainer = prepare_run(folder, config, force=True)
    state = trainer.train(out=folder, progress=False)
    result = {**{k: job["config"][k] for k in ("task", "cell", "length", "init", "method", "seed")},
              "success": bool(state.done), "updates": state.update, "last_error": state.last_error,
              "seconds": round(time.perf_counter() - start, 2)}
    done.write_text(_json.dumps(result))
    return result


def cmd_sweep(args):
    import csv
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm
    for init in args.inits:
        if init not in INIT_CHOICES:
            raise RunError(f"unknown init {init!r}: choose one of {', '.join(INIT_CHOICES)}")
    # The rows of the table: the tanh RNN once per init, each gated cell once (its own init).
    rows = [("rnn", init) for init in args.inits if "rnn" in args.cells]
    rows += [(cell, "smart-tanh") for cell in args.cells if cell != "rnn"]
    out = Path(args.out)
    jobs = []
    for cell, init in rows:
        for method in args.methods:
            for length in args.lengths:
                for seed in args.seeds:
                    config = TrainConfig(task=args.task, length=length, method=method, init=init.replace("-", "_"),
                                         cell=cell, hidden=args.hidden, lr=args.lr, clip=args.clip, alpha=args.alpha,
                                         eval_every=args.eval_every, eval_size=args.eval_size,
                                         max_updates=args.max_updates, target_error=args.target_error,
                                         seed=seed, device=args.device).validate()
                    name = f"{init if cell == 'rnn' else cell}-{method}-T{length}-s{seed}"
                    jobs.append({"folder": str(out / name), "config": config.__dict__})
    results = []
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for result in tqdm(pool.map(_sweep_job, jobs), total=len(jobs), unit="run", disable=args.quiet):
            results.append(result)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print(f"\nSuccess rate ({args.task}, {len(args.seeds)} seeds, at most {args.max_updates:,} updates each; "
          f"success: < {args.target_error:.0%} of {args.eval_size:,} fresh sequences wrong)")
    print(f"{'init/cell':<11} {'method':<8} " + " ".join(f"{'T=' + str(t):>7}" for t in args.lengths))
    for cell, init in rows:
        for method in args.methods:
            counts = []
            for length in args.lengths:
                runs = [r for r in results if r["cell"] == cell and r["init"] == init.replace("-", "_")
                        and r["method"] == method and r["length"] == length]
                counts.append(f"{sum(r['success'] for r in runs)}/{len(runs)}")
            print(f"{init if cell == 'rnn' else cell:<11} {method:<8} " + " ".join(f"{c:>7}" for c in counts))
    print(f"per-run results: {out / 'sweep.csv'}")
    return 0
