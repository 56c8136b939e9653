"""One full training update of a tanh RNN, minigrad against its floors, in one run.

Workload (the paper's small model): hidden 50, input 6 (one-hot), batch 20, T = 100, softmax
cross-entropy at the last step, 4 classes; an update is forward over T steps, the loss, BPTT,
global-norm clipping at 1, and an SGD step.

* ``numpy``  : hand-written forward and BPTT doing the same per-step array operations
               (the floor for any NumPy-based engine),
* ``minigrad``: the same model written with the engine's public API, run eagerly,
* ``minigrad-trace``: that same update function through ``mg.trace`` (traced once, replayed),
* ``torch``  : PyTorch eager on the CPU, the cell written from primitives (when importable).

Each repeat times ``inner`` updates of every implementation in turn (interleaved, so that a
noisy machine hits all of them alike); ratios to the NumPy floor are reported for the best
repeat (noise only ever adds time) and for the median.  Peak memory of one update is measured with
tracemalloc for T = 100, 200, 400, 800 (NumPy's allocations are traced).

    python bench/rnn_update.py [--repeats 15] [--json out.json]
"""
from __future__ import annotations

import argparse
import os
import platform
import tracemalloc

from common import report, softmax_xent, time_interleaved, write_json  # noqa: E402  (first: BLAS threads)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402

H, N_IN, B, N_OUT, MU, LR = 50, 6, 20, 4, 1.0, 0.01


def make_data(T, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((T, B, N_IN))
    x[np.arange(T)[:, None], np.arange(B)[None, :], rng.integers(0, N_IN, (T, B))] = 1.0
    y = rng.integers(0, N_OUT, B)
    return x, y


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W_in": rng.normal(0, 0.1, (N_IN, H)), "W_rec": rng.normal(0, 0.1, (H, H)),
            "b": np.zeros(H), "W_out": rng.normal(0, 0.1, (H, N_OUT)), "c": np.zeros(N_OUT)}


# ----------------------------------------------------------------------------- hand-written
class NumpyRNN:
    def __init__(self, params, dtype):
        self.p = {k: v.astype(dtype) for k, v in params.items()}

    def update(self, x, y):
        p = self.p
        W_in, W_rec, b, W_out, c = p["W_in"], p["W_rec"], p["b"], p["W_out"], p["c"]
        T = x.shape[0]
        hs = [np.zeros((B, H), dtype=W_rec.dtype)]
        for t in range(T):
            hs.append(np.tanh(x[t] @ W_in + hs[-1] @ W_rec + b))
        loss, d_logits = softmax_xent(hs[-1] @ W_out + c, y)
        g = {"W_out": hs[-1].T @ d_logits, "c": d_logits.sum(0),
             "W_in": np.zeros_like(W_in), "W_rec": np.zeros_like(W_rec), "b": np.zeros_like(b)}
        dh = d_logits @ W_out.T
        for t in range(T - 1, -1, -1):
            da = dh * (1 - hs[t + 1] * hs[t + 1])
            g["W_rec"] += hs[t].T @ da
            g["W_in"] += x[t].T @ da
            g["b"] += da.sum(0)
            dh = da @ W_rec.T
        norm = np.sqrt(sum(np.sum(v * v) for v in g.values()))
        if norm > MU:
            for v in g.values():
                v *= MU / norm
        for k in p:
            p[k] -= LR * g[k]
        return loss


# ----------------------------------------------------------------------------- minigrad
class EngineRNN:
    def __init__(self, params, dtype):
        self.p = {k: mg.nn.Parameter(v.astype(dtype), name=k) for k, v in params.items()}
        self.opt = mg.SGD(self.p.values(), lr=LR)

    def update(self, x, y):
        p = self.p
        h = mg.zeros((B, H), dtype=p["W_rec"].dtype)
        for t in range(x.shape[0]):
            h = (x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"]).tanh()
        loss = mg.cross_entropy(h @ p["W_out"] + p["c"], y)
        loss.backward()
        mg.clip_grad_norm(p.values(), MU)
        self.opt.step()
        self.opt.zero_grad()
        return loss


class TracedRNN(EngineRNN):
    """The same update, its code unchanged, run through ``mg.trace``: traced on the first call,
    then replayed as straight-line array code (bit-identical results, tested)."""

    def __init__(self, params, dtype):
        super().__init__(params, dtype)
        self.traced = mg.trace(lambda p, x, y: EngineRNN.update(self, x, y))

    def update(self, x, y):
        return self.traced(self.p, x, y)


# ----------------------------------------------------------------------------- torch
class TorchRNN:
    def __init__(self, params, dtype):
        import torch
        self.torch = torch
        tdtype = {np.float64: torch.float64, np.float32: torch.float32}[dtype]
        self.p = {k: torch.tensor(v, dtype=tdtype, requires_grad=True) for k, v in params.items()}

    def update(self, x, y):
        torch, p = self.torch, self.p
        h = torch.zeros((B, H), dtype=p["W_rec"].dtype)
        for t in range(x.shape[0]):
            h = torch.tanh(x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"])
        loss = torch.nn.functional.cross_entropy(h @ p["W_out"] + p["c"], y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(p.values(), MU)
        with torch.no_grad():
            for v in p.values():
                v -= LR * v.grad
                v.grad = None
        return loss


def inputs_for(name, x, y, dtype):
    if name.startswith("minigrad"):
        return mg.tensor(x.astype(dtype)), mg.tensor(y)
    if name == "torch":
        import torch
        return torch.tensor(x.astype(dtype)), torch.tensor(y)
    return x.astype(dtype), y


def peak_memory(cls, T, dtype):
    x, y = make_data(T)
    m = cls(make_params(), dtype)
    xs, ys = inputs_for("minigrad" if issubclass(cls, EngineRNN) else "numpy", x, y, dtype)
    m.update(xs, ys)
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    m.update(xs, ys)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--inner", type=int, default=5)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--json")
    args = ap.parse_args()

    results = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "numpy": np.__version__, "python": platform.python_version()}
    try:
        import torch
        torch.set_num_threads(1)
        results["torch"] = torch.__version__
        have_torch = True
    except ImportError:
        have_torch = False
    x, y = make_data(args.T)
    print(f"tanh RNN update: hidden {H}, input {N_IN}, batch {B}, T {args.T}   ({results['machine']})")
    for dtype in (np.float64, np.float32):
        impls = {"numpy": NumpyRNN(make_params(), dtype), "minigrad": EngineRNN(make_params(), dtype),
                 "minigrad-trace": TracedRNN(make_params(), dtype)}
        if have_torch:
            impls["torch"] = TorchRNN(make_params(), dtype)
        runs = {n: (m.update, inputs_for(n, x, y, dtype)) for n, m in impls.items()}
        best, med = time_interleaved(runs, args.repeats, args.inner)
        results[np.dtype(dtype).name] = report(np.dtype(dtype).name, best, med, args.repeats)
    mem = {}
    print("  peak memory of one update (float64), KiB:")
    for T in (100, 200, 400, 800):
        e, t, n = (peak_memory(cls, T, np.float64) for cls in (EngineRNN, TracedRNN, NumpyRNN))
        mem[T] = {"minigrad_kib": e / 1024, "minigrad_trace_kib": t / 1024, "numpy_kib": n / 1024,
                  "ratio": e / n, "ratio_trace": t / n}
        print(f"    T={T:4d}: minigrad {e / 1024:9.1f}   traced {t / 1024:9.1f}   numpy {n / 1024:9.1f}   "
              f"ratios {e / n:.2f} and {t / n:.2f}")
    Ts = sorted(mem)
    slopes = {k: np.polyfit(Ts, [mem[T][f"{k}_kib"] for T in Ts], 1)[0] for k in ("minigrad", "minigrad_trace", "numpy")}
    fit = np.polyfit(Ts, [mem[T]["minigrad_kib"] for T in Ts], 1)
    resid = max(abs(np.polyval(fit, T) - mem[T]["minigrad_kib"]) / mem[T]["minigrad_kib"] for T in Ts)
    results["memory"] = {"by_T": mem, "per_step_kib": slopes,
                         "per_step_ratio": slopes["minigrad"] / slopes["numpy"],
                         "per_step_ratio_trace": slopes["minigrad_trace"] / slopes["numpy"],
                         "max_rel_residual_of_linear_fit": resid}
    print(f"  per-step memory: minigrad {slopes['minigrad']:.2f} KiB, traced {slopes['minigrad_trace']:.2f} KiB, "
          f"numpy {slopes['numpy']:.2f} KiB: ratios {slopes['minigrad'] / slopes['numpy']:.2f} and "
          f"{slopes['minigrad_trace'] / slopes['numpy']:.2f}; linear fit residual at most {resid * 100:.1f}%")
    write_json(args.json, results)


if __name__ == "__main__":
    main()
