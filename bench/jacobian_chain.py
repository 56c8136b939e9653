"""Time rnn.JacobianChain at the size issue 3 names: T = 200, N = 100, B = 20 (smart tanh).

    python bench/jacobian_chain.py
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))
import minigrad as mg  # noqa: E402
import rnn  # noqa: E402


def main(T=200, N=100, B=20):
    rng = np.random.default_rng(0)
    cell = rnn.RNNCell(6, N, init="smart_tanh", seed=0)
    x = mg.tensor(np.eye(6)[rng.integers(0, 6, (T, B))])
    t0 = time.perf_counter()
    run = rnn.unroll(cell, x)
    loss = (run.hiddens[-1] ** 2).sum()
    chain = rnn.JacobianChain(cell, x, run, loss=loss)
    t1 = time.perf_counter()
    logs = chain.norms(0, log10=True)
    t2 = time.perf_counter()
    chain.singular_values(T)
    t3 = time.perf_counter()
    print(f"T={T} N={N} B={B}: per-step Jacobians ({chain.steps.shape}) and dE/dh_k norms {t1 - t0:.2f} s; "
          f"spectral norms of all {T * (T + 1) // 2} products (one sequence) {t2 - t1:.2f} s; "
          f"singular values of one step (all sequences) {t3 - t2:.2f} s")
    print(f"log10 ||dh_T/dh_k||, k = 0, 50, 100, 150, 199: {np.round(logs[T, [0, 50, 100, 150, 199]], 2)}")


if __name__ == "__main__":
    main()
