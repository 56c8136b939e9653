"""Pieces the benchmarks share: one BLAS thread, interleaved timing, the softmax loss by hand."""
import os

# One BLAS thread: on a small shared machine a second thread makes GEMM times erratic, and every
# implementation compared uses the same BLAS, so the ratios compare like with like.  (Set before
# NumPy is imported by the benchmark.)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))


def softmax_xent(logits, y):
    """Mean softmax cross-entropy of integer targets and its gradient wrt the logits, by hand."""
    B = logits.shape[0]
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(B), y].mean()
    d_logits = np.exp(logp)
    d_logits[np.arange(B), y] -= 1
    d_logits /= B
    return loss, d_logits


def time_interleaved(impls: dict, repeats: int, inner: int):
    """{name: (update, args)} -> (best, median) seconds per update.  Each repeat times ``inner``
    updates of every implementation in turn, so a noisy machine hits all of them alike."""
    for update, args in impls.values():
        update(*args)                              # warm up
    times = {n: [] for n in impls}
    for _ in range(repeats):
        for n, (update, args) in impls.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                update(*args)
            times[n].append((time.perf_counter() - t0) / inner)
    return {n: min(v) for n, v in times.items()}, {n: statistics.median(v) for n, v in times.items()}


def report(name: str, best: dict, median: dict, repeats: int, reference: str = "numpy") -> dict:
    """Print and return the times as ratios to ``reference`` (best repeat: noise only adds)."""
    print(f"  {name} (best of {repeats}): " + "   ".join(
        f"{k} {v * 1e3:.2f} ms ({v / best[reference]:.2f}x)" for k, v in best.items()))
    print(f"  {name} (median):     " + "   ".join(
        f"{k} {v * 1e3:.2f} ms ({v / median[reference]:.2f}x)" for k, v in median.items()))
    return {k: {"best_ms": v * 1e3, "x_numpy": v / best[reference], "median_ms": median[k] * 1e3,
                "median_x_numpy": median[k] / median[reference]} for k, v in best.items()}


def write_json(path, results: dict) -> None:
    """The raw figures of a run, when ``--json PATH`` asked for them."""
    if path:
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
