"""The large workload of issue 6, on the CPU: a tanh RNN with hidden 1024, input 128, batch 256,
T = 50, squared error at every step (output 128), float32.  One update (forward, every-step loss,
BPTT, SGD) against the time of its matrix products alone (3x the forward's products: forward,
and two per product in backward), done with NumPy in the same run.  Target: at least 85% of
that throughput.  Also: updates per second on temporal order T = 100 (the paper's model, 50
units) with MSGD-C and MSGD-CR, and the projected wall time of the paper's 5M-update budget.

    python bench/large_update.py [--repeats 3] [--json out.json]
"""
import argparse
import json
import time

import common  # noqa: F401  (first: it sets one BLAS thread before NumPy loads)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import rnn  # noqa: E402
from tasks.train import Trainer, TrainConfig  # noqa: E402

H, N_IN, N_OUT, B, T = 1024, 128, 128, 256, 50


def engine_update(cell, head_W, head_c, x, y, opt):
    run = rnn.unroll(cell, x)
    outputs = mg.stack([h @ head_W + head_c for h in run.hiddens[1:]])
    loss = mg.mse(outputs, y)
    loss.backward()
    opt.step()
    opt.zero_grad()


def matmuls_only(x, h, W_in, W_rec, W_out, g_h, g_o):
    """The update's matrix products, nothing else: forward (3 per step) and backward (6)."""
    for t in range(T):
        x[t] @ W_in
        h @ W_rec
        h @ W_out
    for t in range(T):
        g_o @ W_out.T, h.T @ g_o                 # output layer: to h and to W_out
        g_h @ W_rec.T, h.T @ g_h                 # recurrence: to h_{t-1} and to W_rec
        x[t].T @ g_h                             # to W_in (the input's gradient is not needed)
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    dtype = np.float32
    cell = rnn.RNNCell(N_IN, H, init="orthogonal", dtype=dtype)
    head_W = mg.nn.Parameter(rng.normal(0, 0.02, (H, N_OUT)).astype(dtype))
    head_c = mg.nn.Parameter(np.zeros(N_OUT, dtype))
    opt = mg.SGD(cell.parameters() + [head_W, head_c], lr=1e-3)
    x = mg.tensor(rng.standard_normal((T, B, N_IN)).astype(dtype))
    y = mg.tensor(rng.standard_normal((T, B, N_OUT)).astype(dtype))
    xa, h = x.numpy(), rng.standard_normal((B, H)).astype(dtype)
    W_in, W_rec, W_out = cell.W_in.numpy(), cell.W_rec.numpy(), head_W.numpy()
    g_h, g_o = rng.standard_normal((B, H)).astype(dtype), rng.standard_normal((B, N_OUT)).astype(dtype)
    flops = 3 * 2 * T * B * (N_IN * H + H * H + H * N_OUT)
    engine_update(cell, head_W, head_c, x, y, opt)
    times = {"minigrad": [], "matmuls": []}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        engine_update(cell, head_W, head_c, x, y, opt)
        times["minigrad"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        matmuls_only(xa, h, W_in, W_rec, W_out, g_h, g_o)
        times["matmuls"].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in times.items()}
    share = best["matmuls"] / best["minigrad"]
    result = {"large_cpu_float32": {"minigrad_s": best["minigrad"], "matmuls_s": best["matmuls"],
                                    "gflops_minigrad": flops / best["minigrad"] / 1e9,
                                    "gflops_matmuls": flops / best["matmuls"] / 1e9, "share_of_matmul_throughput": share}}
    print(f"large tanh RNN (H {H}, in {N_IN}, out {N_OUT}, B {B}, T {T}, float32, CPU, best of {args.repeats}): "
          f"minigrad {best['minigrad']:.2f} s/update ({flops / best['minigrad'] / 1e9:.1f} GFLOP/s); matrix products "
          f"alone {best['matmuls']:.2f} s ({flops / best['matmuls'] / 1e9:.1f} GFLOP/s): {share:.0%} of their throughput")

    for method in ("msgd-c", "msgd-cr"):
        trainer = Trainer(TrainConfig(task="temporal_order", length=100, method=method, init="smart_tanh",
                                      hidden=50, seed=0))
        trainer.update()
        n, t0 = 40, time.perf_counter()
        for _ in range(n):
            trainer.update()
            trainer.state.update += 1
        rate = n / (time.perf_counter() - t0)
        days = 5e6 / rate / 86400
        result[f"temporal_order_T100_{method}"] = {"updates_per_s": rate, "days_for_5M": days}
        print(f"temporal order T=100, 50 units, {method}: {rate:.0f} updates/s on the CPU; the paper's 5M updates "
              f"would take {days:.1f} days")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
