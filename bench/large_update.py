"""The large workload of issue 6 and the paper's budget, on the CPU and (``--device cuda``) a GPU.

Large: a tanh RNN with hidden 1024, input 128, batch 256, T = 50, squared error at every step
(output 128), float32; one update = forward, every-step loss, BPTT, SGD.

* CPU (always): minigrad eager and traced (``mg.trace``) against the time of the update's matrix
  products alone (3x the forward's products: forward, and two per product in backward), done
  with NumPy in the same run.  Target: at least 85% of that throughput.  PyTorch eager on the CPU
  (cell from primitives) as a further reference when importable.
* GPU (``--device cuda``): the same update with CuPy, eager and traced, against PyTorch on the
  same GPU with the cell written from primitives, and against the CPU time of this run.
  Targets: at least 10x faster than the CPU, within 1.5x of PyTorch.
* Both: updates per second on temporal order T = 100 (the paper's model, 50 units, MSGD-C and
  MSGD-CR, through the Trainer), eager and traced, and the projected wall time of the paper's
  5M-update budget.

    python bench/large_update.py [--repeats 3] [--device cuda] [--json out.json]
"""
import argparse
import platform
import time

from common import time_interleaved, write_json  # first: it sets one BLAS thread before NumPy loads

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import rnn  # noqa: E402
from tasks.train import Trainer, TrainConfig  # noqa: E402

H, N_IN, N_OUT, B, T, LR = 1024, 128, 128, 256, 50, 1e-3


# ----------------------------------------------------------------------------- minigrad
class EngineLarge:
    def __init__(self, data, device):
        self.backend = mg.get_backend(device)
        self.cell = rnn.RNNCell(N_IN, H, init="orthogonal", dtype=np.float32, device=device)
        self.cell.W_in.data = self.backend.asarray(data["W_in"])
        self.cell.W_rec.data = self.backend.asarray(data["W_rec"])
        self.W = mg.nn.Parameter(data["W_out"], device=device)
        self.c = mg.nn.Parameter(np.zeros(N_OUT, np.float32), device=device)
        self.opt = mg.SGD(self.cell.parameters() + [self.W, self.c], lr=LR)
        self.x, self.y = mg.tensor(data["x"], device=device), mg.tensor(data["y"], device=device)
        self.traced = mg.trace(lambda params, x, y: self.update(x, y))

    def update(self, x, y):
        run = rnn.unroll(self.cell, x)
        loss = mg.mse(mg.stack([h @ self.W + self.c for h in run.hiddens[1:]]), y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss

    def eager(self):
        self.update(self.x, self.y)
        self.backend.synchronize()

    def replay(self):
        self.traced(self.opt.params, self.x, self.y)
        self.backend.synchronize()


# ----------------------------------------------------------------------------- references
def matmuls_only(d):
    """The update's matrix products, nothing else: forward (3 per step) and backward (6)."""
    x, W_in, W_rec, W_out = d["x"], d["W_in"], d["W_rec"], d["W_out"]
    h, g_h, g_o = d["h"], d["g_h"], d["g_o"]
    for t in range(T):
        x[t] @ W_in, h @ W_rec, h @ W_out
    for t in range(T):
        g_o @ W_out.T, h.T @ g_o                 # output layer: to h and to W_out
        g_h @ W_rec.T, h.T @ g_h                 # recurrence: to h_{t-1} and to W_rec
        x[t].T @ g_h                             # to W_in (the input's gradient is not needed)


def torch_update_fn(data, device):
    """PyTorch eager with the cell from primitives (None when PyTorch is not importable)."""
    try:
        import torch
    except ImportError:
        return None
    dev = "cuda" if device.startswith("cuda") else "cpu"
    torch.set_num_threads(1)
    p = {k: torch.tensor(data[k], device=dev, requires_grad=True) for k in ("W_in", "W_rec", "W_out")}
    p["b"] = torch.zeros(H, device=dev, requires_grad=True)
    p["c"] = torch.zeros(N_OUT, device=dev, requires_grad=True)
    x, y = torch.tensor(data["x"], device=dev), torch.tensor(data["y"], device=dev)

    def update():
        h = torch.zeros((B, H), device=dev)
        outs = []
        for t in range(T):
            h = torch.tanh(x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"])
            outs.append(h @ p["W_out"] + p["c"])
        loss = ((torch.stack(outs) - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            for v in p.values():
                v -= LR * v.grad
                v.grad = None
        if dev == "cuda":
            torch.cuda.synchronize()
    return update


def device_name(backend) -> str:
    try:                                          # CuPy: the GPU's own name
        name = backend.xp.cuda.runtime.getDeviceProperties(backend.index)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:                             # another device: its minigrad name
        return backend.device


def best_of(fns: dict, repeats: int) -> dict:
    """Best time of each argument-less function, repeats interleaved (``common.time_interleaved``)."""
    return time_interleaved({k: (f, ()) for k, f in fns.items()}, repeats, inner=1)[0]


def updates_per_second(device, method, trace, n=40, repeats=3):
    trainer = Trainer(TrainConfig(task="temporal_order", length=100, method=method, init="smart_tanh",
                                  hidden=50, seed=0, device=device, trace=trace))
    backend = mg.get_backend(device)
    trainer.update()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(n):
            trainer.update()
            trainer.state.update += 1
        backend.synchronize()
        best = min(best, (time.perf_counter() - t0) / n)
    return 1 / best


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu (default) or cuda: the GPU rows")
    ap.add_argument("--json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    f32 = np.float32
    data = {"W_in": rng.normal(0, 1 / np.sqrt(N_IN), (N_IN, H)).astype(f32),
            "W_rec": np.linalg.qr(rng.standard_normal((H, H)))[0].astype(f32),
            "W_out": rng.normal(0, 0.02, (H, N_OUT)).astype(f32),
            "x": rng.standard_normal((T, B, N_IN)).astype(f32), "y": rng.standard_normal((T, B, N_OUT)).astype(f32),
            "h": rng.standard_normal((B, H)).astype(f32), "g_h": rng.standard_normal((B, H)).astype(f32),
            "g_o": rng.standard_normal((B, N_OUT)).astype(f32)}
    flops = 3 * 2 * T * B * (N_IN * H + H * H + H * N_OUT)
    result = {"machine": f"{platform.processor() or platform.machine()}", "numpy": np.__version__}
    gflops = lambda s: flops / s / 1e9  # noqa: E731

    cpu = EngineLarge(data, "cpu")
    fns = {"minigrad": cpu.eager, "minigrad-trace": cpu.replay, "matmuls": lambda: matmuls_only(data)}
    torch_cpu = torch_update_fn(data, "cpu")
    if torch_cpu is not None:
        fns["torch"] = torch_cpu
    best = best_of(fns, args.repeats)
    result["large_cpu_float32"] = {k: {"s": v, "gflops": gflops(v), "share_of_matmul_throughput": best["matmuls"] / v}
                                   for k, v in best.items()}
    print(f"large tanh RNN (H {H}, in {N_IN}, out {N_OUT}, B {B}, T {T}, float32), CPU, one BLAS thread, "
          f"best of {args.repeats}:")
    for k, v in best.items():
        print(f"  {k:15s} {v:6.2f} s/update  {gflops(v):6.1f} GFLOP/s  {best['matmuls'] / v:5.0%} of the products' throughput")

    if args.device != "cpu":
        backend = mg.get_backend(args.device)
        gpu = EngineLarge(data, args.device)
        fns = {"minigrad": gpu.eager, "minigrad-trace": gpu.replay}
        torch_gpu = torch_update_fn(data, args.device)
        if torch_gpu is not None:
            fns["torch"] = torch_gpu
        gbest = best_of(fns, max(args.repeats, 5))
        name = device_name(backend)
        result["gpu_name"] = name
        result["large_gpu_float32"] = {k: {"s": v, "gflops": gflops(v), "x_faster_than_cpu_minigrad": best["minigrad"] / v,
                                           "x_torch": v / gbest["torch"] if "torch" in gbest else None}
                                       for k, v in gbest.items()}
        print(f"the same on {name} ({args.device}), best of {max(args.repeats, 5)}:")
        for k, v in gbest.items():
            vs_torch = f"  {v / gbest['torch']:.2f}x PyTorch's time" if "torch" in gbest else ""
            print(f"  {k:15s} {v * 1e3:8.1f} ms/update  {gflops(v):7.1f} GFLOP/s  "
                  f"{best['minigrad'] / v:6.1f}x faster than minigrad on the CPU{vs_torch}")

    devices = ["cpu"] + ([args.device] if args.device != "cpu" else [])
    for device in devices:
        for method in ("msgd-c", "msgd-cr"):
            for trace in (False, True):
                rate = updates_per_second(device, method, trace)
                hours = 5e6 / rate / 3600
                key = f"temporal_order_T100_{device}_{method}_{'trace' if trace else 'eager'}"
                result[key] = {"updates_per_s": rate, "hours_for_5M": hours}
                print(f"temporal order T=100, 50 units, {method:7s} on {device} {'traced' if trace else 'eager '}: "
                      f"{rate:5.0f} updates/s; the paper's 5M updates would take {hours:5.1f} h")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
