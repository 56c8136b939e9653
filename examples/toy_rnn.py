"""The main job until the paper's tasks land: train a tanh RNN, written with minigrad's public
API, on a toy long-range task, and watch gradient clipping at work.

Task ("remember the first symbol"): each sequence of length T starts with one of 4 symbols
(one-hot), followed by T-1 random distractors from 4 other symbols; the class to output at the
last step is the first symbol.  Nothing but the recurrent state carries it across T steps, so
gradients must flow back through T tanh steps (the paper's setting, in miniature).

By default it trains twice, at T = 20 and T = 80, from the same seed: the short task is learned,
the long one stays at chance because the gradient from the last step vanishes on its way back
to the first (the paper's section 2).

    python examples/toy_rnn.py [--lengths 20 80] [--updates 2000] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from tqdm import tqdm

import minigrad as mg
from minigrad.nn import Module, Parameter

N_SYMBOLS, N_CLASSES = 8, 4


class TanhRNN(Module):
    """h_t = tanh(h_{t-1} W_rec + u_t W_in + b);  y = h_T W_out + c  (the paper's notation)."""

    def __init__(self, n_in, hidden, n_out, rng: mg.Generator):
        self.W_in = Parameter(rng.normal((n_in, hidden), std=0.1), name="W_in")
        self.W_rec = Parameter(rng.normal((hidden, hidden), std=1.0 / np.sqrt(hidden)), name="W_rec")
        self.b = Parameter(mg.zeros(hidden, device=rng.device), name="b")
        self.W_out = Parameter(rng.normal((hidden, n_out), std=0.1), name="W_out")
        self.c = Parameter(mg.zeros(n_out, device=rng.device), name="c")

    def forward(self, u):                      # u: (T, B, n_in)
        h = mg.zeros((u.shape[1], self.W_rec.shape[0]), device=u.device, dtype=u.dtype)
        for t in range(u.shape[0]):
            h = (h @ self.W_rec + u[t] @ self.W_in + self.b).tanh()
        return h @ self.W_out + self.c


def batch(rng: np.random.Generator, length: int, size: int, device):
    first = rng.integers(0, N_CLASSES, size)
    symbols = rng.integers(N_CLASSES, N_SYMBOLS, (length, size))
    symbols[0] = first
    u = np.eye(N_SYMBOLS)[symbols]              # (T, B, N_SYMBOLS)
    return mg.tensor(u, device=device), mg.tensor(first, device=device)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[20, 80])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--updates", type=int, default=2000)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    for length in args.lengths:
        if length < 2:
            ap.error(f"--lengths must all be at least 2, got {length}")
    rows = [(length, *train(length, args)) for length in args.lengths]
    print(f"\ntanh RNN, hidden {args.hidden}, {args.updates} updates of SGD (lr {args.lr}, clip {args.clip}):")
    print(f"{'T':>5} {'accuracy':>9} {'|dE/dh_1| / |dE/dh_T|':>22} {'seconds':>8}")
    for length, accuracy, ratio, seconds in rows:
        print(f"{length:>5} {accuracy:>9.1%} {ratio:>22.2e} {seconds:>8.1f}")
    print(f"(chance is {1 / N_CLASSES:.0%}; the middle column is how much of the error signal at the last "
          "step reaches the first)")
    return rows


def train(length, args):
    data_rng = np.random.default_rng(args.seed)
    model = TanhRNN(N_SYMBOLS, args.hidden, N_CLASSES, mg.Generator(args.seed, device=args.device))
    opt = mg.SGD(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    bar = tqdm(range(1, args.updates + 1), desc=f"T={length}", unit="upd", mininterval=0.5)
    for step in bar:
        u, y = batch(data_rng, length, 20, args.device)
        loss = mg.cross_entropy(model(u), y)
        opt.zero_grad()
        loss.backward()
        norm = mg.clip_grad_norm(model.parameters(), args.clip)
        opt.step()
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", grad_norm=f"{norm.item():.2f}")
    seconds = time.perf_counter() - start
    with mg.no_grad():
        u, y = batch(data_rng, length, 2000, args.device)
        accuracy = float((model(u).numpy().argmax(-1) == y.numpy()).mean())
    # How much of dE/dh_T survives back to h_1: the vanishing-gradient ratio of the trained model.
    u, y = batch(data_rng, length, 20, args.device)
    states = []
    h = mg.zeros((20, args.hidden), device=u.device, dtype=u.dtype)
    for t in range(length):
        h = (h @ model.W_rec + u[t] @ model.W_in + model.b).tanh()
        states.append(h)
    loss = mg.cross_entropy(h @ model.W_out + model.c, y)
    first, last = mg.grad(loss, [states[0], states[-1]])
    ratio = float(np.linalg.norm(first.numpy()) / np.linalg.norm(last.numpy()))
    return accuracy, ratio, seconds


if __name__ == "__main__":
    main()
