"""One full training update of an LSTM: minigrad (rnn.LSTMCell) against a hand-written NumPy
LSTM forward and BPTT, in one run.

Workload: hidden 128, input 6 (one-hot), batch 32, T = 100, softmax cross-entropy at the last
step (4 classes), SGD step; float64 and float32.  Target: at most 1.3x the hand-written time.
``minigrad`` runs the update eagerly, ``minigrad-trace`` runs the same function through
``mg.trace``.

    python bench/lstm_update.py [--repeats 9] [--json out.json]
"""
from __future__ import annotations

import argparse

from common import report, softmax_xent, time_interleaved, write_json  # noqa: E402  (first: BLAS threads)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
import rnn  # noqa: E402

H, N_IN, B, N_OUT, LR = 128, 6, 32, 4, 0.01


def make_data(T, seed=0):
    rng = np.random.default_rng(seed)
    x = np.eye(N_IN)[rng.integers(0, N_IN, (T, B))]
    return x, rng.integers(0, N_OUT, B)


def make_params(seed=0):
    cell = rnn.LSTMCell(N_IN, H, seed=seed)
    rng = np.random.default_rng(seed + 1)
    return {"W_x": cell.W_x.numpy(), "W_h": cell.W_h.numpy(), "b": cell.b.numpy(),
            "W_out": rng.normal(0, 0.1, (H, N_OUT)), "c": np.zeros(N_OUT)}


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


class NumpyLSTM:
    def __init__(self, params, dtype):
        self.p = {k: v.astype(dtype) for k, v in params.items()}

    def update(self, x, y):
        p = self.p
        Wx, Wh, b, W_out, c_out = p["W_x"], p["W_h"], p["b"], p["W_out"], p["c"]
        T = x.shape[0]
        h = np.zeros((B, H), dtype=Wh.dtype)
        c = np.zeros_like(h)
        cache = []
        for t in range(T):
            z = x[t] @ Wx + h @ Wh + b
            i, f, o, g = sigmoid(z[:, :H]), sigmoid(z[:, H:2 * H]), sigmoid(z[:, 2 * H:3 * H]), np.tanh(z[:, 3 * H:])
            c_prev, h_prev = c, h
            c = f * c + i * g
            tc = np.tanh(c)
            h = o * tc
            cache.append((h_prev, c_prev, i, f, o, g, tc))
        _, dlogits = softmax_xent(h @ W_out + c_out, y)
        grads = {"W_out": h.T @ dlogits, "c": dlogits.sum(0), "W_x": np.zeros_like(Wx),
                 "W_h": np.zeros_like(Wh), "b": np.zeros_like(b)}
        dh = dlogits @ W_out.T
        dc = np.zeros_like(dh)
        for t in range(T - 1, -1, -1):
            h_prev, c_prev, i, f, o, g, tc = cache[t]
            do = dh * tc
            dc = dc + dh * o * (1 - tc * tc)
            di, df, dg = dc * g, dc * c_prev, dc * i
            dz = np.concatenate([di * i * (1 - i), df * f * (1 - f), do * o * (1 - o), dg * (1 - g * g)], axis=1)
            grads["W_x"] += x[t].T @ dz
            grads["W_h"] += h_prev.T @ dz
            grads["b"] += dz.sum(0)
            dh = dz @ Wh.T
            dc = dc * f
        for k in p:
            p[k] -= LR * grads[k]


class EngineLSTM:
    def __init__(self, params, dtype):
        self.cell = rnn.LSTMCell(N_IN, H, dtype=dtype)
        for k in ("W_x", "W_h", "b"):
            getattr(self.cell, k).data = params[k].astype(dtype)
        self.W_out = mg.nn.Parameter(params["W_out"].astype(dtype))
        self.c = mg.nn.Parameter(params["c"].astype(dtype))
        self.opt = mg.SGD(self.cell.parameters() + [self.W_out, self.c], lr=LR)

    def update(self, x, y):
        run = rnn.unroll(self.cell, x)
        loss = mg.cross_entropy(rnn.hidden_of(run.final) @ self.W_out + self.c, y)
        loss.backward()
        self.opt.step()
        self.opt.zero_grad()
        return loss


class TracedLSTM(EngineLSTM):
    """The same update function, unchanged, through ``mg.trace`` (traced once, then replayed)."""

    def __init__(self, params, dtype):
        super().__init__(params, dtype)
        self.traced = mg.trace(lambda params, x, y: EngineLSTM.update(self, x, y))

    def update(self, x, y):
        return self.traced(self.opt.params, x, y)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--inner", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    x, y = make_data(100)
    results = {}
    print(f"LSTM update: hidden {H}, input {N_IN}, batch {B}, T 100")
    for dtype in (np.float64, np.float32):
        runs = {"numpy": (NumpyLSTM(make_params(), dtype).update, (x.astype(dtype), y)),
                "minigrad": (EngineLSTM(make_params(), dtype).update, (mg.tensor(x.astype(dtype)), mg.tensor(y))),
                "minigrad-trace": (TracedLSTM(make_params(), dtype).update, (mg.tensor(x.astype(dtype)), mg.tensor(y)))}
        best, med = time_interleaved(runs, args.repeats, args.inner)
        results[np.dtype(dtype).name] = report(np.dtype(dtype).name, best, med, args.repeats)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
