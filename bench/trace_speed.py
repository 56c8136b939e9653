"""One paper-small update: the trace compiler's passes against a hoisted NumPy BPTT and jax.jit.

Workload (``bench/rnn_update.py``'s, the paper's small model): tanh RNN, hidden 50, input 6
(one-hot), batch 20, T = 100, softmax cross-entropy at the last step, 4 classes; forward, BPTT,
global-norm clipping at 1, SGD.  Four implementations of that one update, on one core:

* ``numpy-hoisted``: hand-written NumPy that hoists the input products (one ``X @ W_in`` for all
  steps) and the weight gradients (one ``Hᵀ G`` product each for W_rec and W_in) out of the time
  loop: the reference every ratio is taken against;
* ``trace-plain``: the update written with minigrad's API through ``mg.trace(fn, optimize=False)``
  (the recorded calls replayed as they were made);
* ``trace-passes``: the same through ``mg.trace(fn)`` (the trace compiler's passes on);
* ``trace-passes-module``: the same, the parameters held by an ``mg.nn.Module`` passed to the
  traced function, as ``minigrad train`` does (each call also reads the module's plain attributes);
* ``trace-without-<pass>``: the passes on but one (what each pass buys, given the others);
* ``jax-jit``: ``jax.jit`` of the same update written with jax.numpy and ``jax.grad``, its time
  loop unrolled in Python inside the jitted function or run by ``jax.lax.scan`` (both are timed;
  the faster is the one compared).  Skipped, with a note, when JAX is not importable.

One core means: one BLAS thread (``common.py``), XLA's CPU backend told to use one thread, and
the process pinned to one CPU with ``os.sched_setaffinity``.  Each repeat times ``inner`` updates
of every implementation in turn (interleaved); the tables give the best repeat and the median.
Before timing, the hoisted NumPy gradients are checked against minigrad's (float64, 1e-10).

    python bench/trace_speed.py [--repeats 21] [--inner 5] [--T 100] [--json bench/trace_speed.json]
"""
from __future__ import annotations

import os

os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import datetime  # noqa: E402
import platform  # noqa: E402

from common import softmax_xent, time_interleaved, write_json  # noqa: E402  (first: BLAS threads)

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from minigrad import passes  # noqa: E402

H, N_IN, B, N_OUT, MU, LR = 50, 6, 20, 4, 1.0, 0.01
NAMES = ("W_in", "W_rec", "b", "W_out", "c")


def make_data(T, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((T, B, N_IN))
    x[np.arange(T)[:, None], np.arange(B)[None, :], rng.integers(0, N_IN, (T, B))] = 1.0
    return x, rng.integers(0, N_OUT, B)


def make_params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W_in": rng.normal(0, 0.1, (N_IN, H)), "W_rec": rng.normal(0, 0.1, (H, H)),
            "b": np.zeros(H), "W_out": rng.normal(0, 0.1, (H, N_OUT)), "c": np.zeros(N_OUT)}


# ----------------------------------------------------------------------------- (i) NumPy, hoisted
def numpy_gradients(p, x, y):
    """Loss and gradients of paper-small by hand, the products that do not depend on the
    recurrence taken out of the time loop: ``X @ W_in`` for all steps at once before it, and the
    weight gradients as one product over all steps after it."""
    W_in, W_rec, b, W_out, c = (p[k] for k in NAMES)
    T = x.shape[0]
    X = x.reshape(T * B, N_IN)
    inputs = (X @ W_in).reshape(T, B, H)                 # hoisted: x_t W_in for every t
    hs = np.zeros((T + 1, B, H), dtype=W_rec.dtype)      # hs[t + 1] is the state after step t
    for t in range(T):
        np.tanh(inputs[t] + hs[t] @ W_rec + b, out=hs[t + 1])
    loss, d_logits = softmax_xent(hs[T] @ W_out + c, y)
    da = np.empty((T, B, H), dtype=W_rec.dtype)          # dE/d(pre-activation) of every step
    dh = d_logits @ W_out.T
    W_rec_T = W_rec.T
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        np.multiply(dh, 1 - h * h, out=da[t])
        dh = da[t] @ W_rec_T
    D = da.reshape(T * B, H)
    grads = {"W_in": X.T @ D, "W_rec": hs[:T].reshape(T * B, H).T @ D, "b": D.sum(0),
             "W_out": hs[T].T @ d_logits, "c": d_logits.sum(0)}
    return loss, grads


class NumpyHoisted:
    def __init__(self, params, dtype):
        self.p = {k: v.astype(dtype) for k, v in params.items()}

    def update(self, x, y):
        loss, g = numpy_gradients(self.p, x, y)
        norm = np.sqrt(sum(np.sum(v * v) for v in g.values()))
        if norm > MU:
            for v in g.values():
                v *= MU / norm
        for k, v in self.p.items():
            v -= LR * g[k]
        return loss


# ----------------------------------------------------------------------------- (ii, iii) minigrad
def engine_loss(p, x, y):
    h = mg.zeros((B, H), dtype=p["W_rec"].dtype)
    for t in range(x.shape[0]):
        h = (x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"]).tanh()
    return mg.cross_entropy(h @ p["W_out"] + p["c"], y)


def engine_update(p, opt, x, y):
    loss = engine_loss(p, x, y)
    loss.backward()
    mg.clip_grad_norm(p.values(), MU)
    opt.step()
    opt.zero_grad()
    return loss


class Traced:
    def __init__(self, params, dtype, optimize):
        self.p = {k: mg.nn.Parameter(v.astype(dtype), name=k) for k, v in params.items()}
        opt = mg.SGD(self.p.values(), lr=LR)
        self.step = mg.trace(lambda p, x, y: engine_update(p, opt, x, y), optimize=optimize)

    def update(self, x, y):
        return self.step(self.p, x, y)


class PaperSmall(mg.nn.Module):
    """The same parameters held by a Module, as ``minigrad train``'s models are, with plain
    attributes as a model has: a traced call then also reads those (rule 5 of minigrad/trace.py)."""

    def __init__(self, params, dtype):
        for k, v in params.items():
            setattr(self, k, mg.nn.Parameter(v.astype(dtype), name=k))
        self.hidden, self.n_in, self.n_out, self.nonlinearity = H, N_IN, N_OUT, "tanh"


class TracedModule:
    def __init__(self, params, dtype):
        self.m = PaperSmall(params, dtype)
        opt = mg.SGD(self.m.parameters(), lr=LR)
        self.step = mg.trace(lambda m, x, y: engine_update({k: getattr(m, k) for k in NAMES}, opt, x, y))

    def update(self, x, y):
        return self.step(self.m, x, y)


def check_gradients(T=100):
    """The hand-written gradients against minigrad's (eager), float64, to 1e-10."""
    x, y = make_data(T)
    params = make_params(1)
    params["b"] = np.random.default_rng(2).normal(0, 0.1, H)
    loss, g = numpy_gradients(params, x, y)
    p = {k: mg.nn.Parameter(v.copy(), name=k) for k, v in params.items()}
    eloss = engine_loss(p, mg.tensor(x), mg.tensor(y))
    eloss.backward()
    assert abs(float(eloss.item()) - loss) <= 1e-10 * abs(loss)
    for k in NAMES:
        np.testing.assert_allclose(g[k], p[k].grad.numpy(), rtol=1e-10, atol=1e-10 * np.abs(g[k]).max())
    return max(float(np.abs(g[k] - p[k].grad.numpy()).max() / np.abs(g[k]).max()) for k in NAMES)


# ----------------------------------------------------------------------------- (iv) jax.jit
def jax_updates(jax, jnp):
    """jitted updates of paper-small: {"unrolled": ..., "scan": ...}, each params, x, y ->
    (loss, new params)."""
    def cell(p, h, xt):
        return jnp.tanh(xt @ p["W_in"] + h @ p["W_rec"] + p["b"])

    def head(p, h, y):
        logits = h @ p["W_out"] + p["c"]
        logp = jax.nn.log_softmax(logits, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def loss_unrolled(p, x, y):
        h = jnp.zeros((x.shape[1], H), dtype=p["W_rec"].dtype)
        for t in range(x.shape[0]):                       # unrolled at trace time
            h = cell(p, h, x[t])
        return head(p, h, y)

    def loss_scan(p, x, y):
        h0 = jnp.zeros((x.shape[1], H), dtype=p["W_rec"].dtype)
        h, _ = jax.lax.scan(lambda h, xt: (cell(p, h, xt), None), h0, x)
        return head(p, h, y)

    def make(loss_fn):
        def update(p, x, y):
            loss, g = jax.value_and_grad(loss_fn)(p, x, y)
            norm = jnp.sqrt(sum(jnp.sum(v * v) for v in g.values()))
            scale = jnp.where(norm > MU, MU / norm, 1.0).astype(p["W_rec"].dtype)
            return loss, {k: p[k] - LR * (g[k] * scale) for k in p}
        return jax.jit(update)
    return {"unrolled": make(loss_unrolled), "scan": make(loss_scan)}


class JaxUpdate:
    def __init__(self, params, dtype, fn, jnp):
        self.p = {k: jnp.asarray(v.astype(dtype)) for k, v in params.items()}
        self.fn = fn

    def update(self, x, y):
        loss, self.p = self.fn(self.p, x, y)
        loss.block_until_ready()
        return loss


# ----------------------------------------------------------------------------- the run
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=21)
    ap.add_argument("--inner", type=int, default=5)
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--cpu", type=int, default=None, help="the CPU to pin to (default: the last allowed)")
    ap.add_argument("--json")
    args = ap.parse_args()

    cpu = args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    try:
        import jax
        jax.config.update("jax_enable_x64", True)         # float64 arrays stay float64
        import jax.numpy as jnp
        jax_version = jax.__version__
    except ImportError:
        jax = jnp = jax_version = None
        print("NOTE: jax is not importable: the jax.jit column is missing (pip install jax jaxlib)")

    results = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
               "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, pinned to CPU {cpu}",
               "python": platform.python_version(), "numpy": np.__version__, "jax": jax_version,
               "T": args.T, "repeats": args.repeats, "inner": args.inner}
    results["gradient_check_max_rel_diff"] = check_gradients()
    print(f"hand-written gradients = minigrad's (max relative difference "
          f"{results['gradient_check_max_rel_diff']:.1e})")
    x, y = make_data(args.T)
    print(f"paper-small update: tanh RNN, hidden {H}, input {N_IN}, batch {B}, T {args.T}; "
          f"one core ({results['machine']})")
    for dtype in (np.float64, np.float32):
        impls = {"numpy-hoisted": NumpyHoisted(make_params(), dtype),
                 "trace-plain": Traced(make_params(), dtype, optimize=False),
                 "trace-passes": Traced(make_params(), dtype, optimize=True),
                 "trace-passes-module": TracedModule(make_params(), dtype)}
        xd, yd = x.astype(dtype), y
        runs = {"numpy-hoisted": (impls["numpy-hoisted"].update, (xd, yd))}
        for pass_ in passes.PASSES:
            others = [q for q in passes.PASSES if q is not pass_]
            impls[f"trace-without-{pass_.__name__}"] = Traced(make_params(), dtype, optimize=others)
        for n in impls:
            if n != "numpy-hoisted":
                runs[n] = (impls[n].update, (mg.tensor(xd), mg.tensor(yd)))
        if jax is not None:
            for kind, fn in jax_updates(jax, jnp).items():
                runs[f"jax-jit-{kind}"] = (JaxUpdate(make_params(), dtype, fn, jnp).update,
                                           (jnp.asarray(xd), jnp.asarray(yd)))
        best, med = time_interleaved(runs, args.repeats, args.inner)
        ref_b, ref_m = best["numpy-hoisted"], med["numpy-hoisted"]
        table = {k: {"best_ms": best[k] * 1e3, "best_x": best[k] / ref_b,
                     "median_ms": med[k] * 1e3, "median_x": med[k] / ref_m} for k in runs}
        name = np.dtype(dtype).name
        print(f"  {name}, ms per update and ratio to numpy-hoisted, best / median of {args.repeats}:")
        for k, v in table.items():
            print(f"    {k:45s} {v['best_ms']:6.3f} ({v['best_x']:.3f}x)   {v['median_ms']:6.3f} ({v['median_x']:.3f}x)")
        entry = {"times": table}
        if jax is not None:
            faster = min(("unrolled", "scan"), key=lambda k: best[f"jax-jit-{k}"])
            j = f"jax-jit-{faster}"
            entry["jax_faster_form"] = faster
            entry["passes_over_jax_best"] = best["trace-passes"] / best[j]
            entry["passes_over_jax_median"] = med["trace-passes"] / med[j]
            entry["module_over_jax_best"] = best["trace-passes-module"] / best[j]
            entry["module_over_jax_median"] = med["trace-passes-module"] / med[j]
            entry["target_met"] = bool(best["trace-passes"] <= best[j] and med["trace-passes"] <= med[j])
            print(f"  {name}: trace-passes / jax.jit ({faster}) = {entry['passes_over_jax_best']:.3f} best, "
                  f"{entry['passes_over_jax_median']:.3f} median: target (<= 1) "
                  f"{'met' if entry['target_met'] else 'NOT met'}; the parameters in a Module: "
                  f"{entry['module_over_jax_best']:.3f} best, {entry['module_over_jax_median']:.3f} median")
        results[name] = entry
    write_json(args.json, results)


if __name__ == "__main__":
    main()
