"""The trace compiler's passes (minigrad/passes.py): faster programs, the same numbers.

Every program is run three ways: eagerly, traced with the passes off (``optimize=False``: the
recorded calls, bit-identical to eager) and traced with them on (the default).  The passes are
exact except that hoisting makes one large matrix product where there were many small ones,
which a BLAS may round differently (passes.py's docstring); so optimized results are compared
within TOL (a few units in the last place of a long computation) and, where no product is
hoisted, bit for bit.  Other tests check that each pass fires where it should and stays away
where it would read or share an array that something writes.
"""
import re

import numpy as np
import pytest

import minigrad as mg
import rnn
from minigrad import passes
from tasks.train import Trainer, TrainConfig

TOL = {np.float64: dict(rtol=1e-10, atol=1e-13), np.float32: dict(rtol=1e-4, atol=1e-6)}


def close(a, b, dtype=np.float64):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), **TOL[np.dtype(dtype).type])


def products(code):
    """Matrix products in a program's source."""
    return len(re.findall(r"xp\.matmul\(|xp\.dot\(| @ ", code))


def copy_params(params):
    return {k: mg.nn.Parameter(v.numpy().copy(), name=k) for k, v in params.items()}


# --------------------------------------------------------------------------- the paper's RNN
def rnn_params(rng, dtype, H=7, n_in=3, n_out=2):
    shapes = {"W_in": (n_in, H), "W_rec": (H, H), "b": (H,), "W_out": (H, n_out), "c": (n_out,)}
    return {k: mg.nn.Parameter(rng.normal(0, 0.5, s).astype(dtype), name=k) for k, s in shapes.items()}


def rnn_update(p, x, y, lr=0.1):
    """Forward, cross-entropy, backward, clipping, SGD: the update of bench/rnn_update.py."""
    h = mg.zeros((x.shape[1], p["W_rec"].shape[0]), dtype=p["W_rec"].dtype)
    for t in range(x.shape[0]):
        h = (x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"]).tanh()
    loss = mg.cross_entropy(h @ p["W_out"] + p["c"], y)
    loss.backward()
    norm = mg.clip_grad_norm(p.values(), 1.0)
    for q in p.values():
        q.data -= lr * q.grad.data
    return loss, norm, {k: q.grad for k, q in p.items()}        # the gradients, clipped


def rnn_update_with_grads(p, x, y):
    """rnn_update, its gradients returned as tensors (a traced function cannot copy to host)."""
    h = mg.zeros((x.shape[1], p["W_rec"].shape[0]), dtype=p["W_rec"].dtype)
    for t in range(x.shape[0]):
        h = (x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"]).tanh()
    loss = mg.cross_entropy(h @ p["W_out"] + p["c"], y)
    grads = mg.grad(loss, list(p.values()))
    for q, g in zip(p.values(), grads):
        q.data -= 0.1 * g.data
    return loss, grads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("T", [1, 2, 5, 40])
def test_rnn_update_optimized_equals_plain_and_eager(rng, dtype, T):
    """Loss, every gradient and the updated weights, for three updates on new data: T = 40
    takes the engine's chunked weight gradients (16 steps a chunk) through every pass."""
    eager = rnn_params(rng, dtype)
    plain, fast = copy_params(eager), copy_params(eager)
    step_plain = mg.trace(rnn_update_with_grads, optimize=False)
    step_fast = mg.trace(rnn_update_with_grads)
    for _ in range(3):
        x = mg.tensor(rng.normal(size=(T, 4, 3)).astype(dtype))
        y = mg.tensor(rng.integers(0, 2, 4))
        want = rnn_update_with_grads(eager, x, y)
        got_plain, got_fast = step_plain(plain, x, y), step_fast(fast, x, y)
        assert got_plain[0].numpy() == want[0].numpy()             # passes off: bit-identical
        close(got_fast[0].numpy(), want[0].numpy(), dtype)
        for g, gp, gf in zip(want[1], got_plain[1], got_fast[1]):
            np.testing.assert_array_equal(gp.numpy(), g.numpy())
            close(gf.numpy(), g.numpy(), dtype)
        for k in eager:
            np.testing.assert_array_equal(plain[k].numpy(), eager[k].numpy())
            close(fast[k].numpy(), eager[k].numpy(), dtype)
    assert step_fast.programs == 1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rnn_update_with_backward_and_clipping(rng, dtype):
    """The benchmark's form: backward() sets .grad, clipping and SGD in place."""
    eager = rnn_params(rng, dtype)
    fast = copy_params(eager)
    step = mg.trace(rnn_update)
    for _ in range(3):
        x = mg.tensor(rng.normal(size=(20, 4, 3)).astype(dtype))
        y = mg.tensor(rng.integers(0, 2, 4))
        loss, norm, grads = rnn_update(eager, x, y)
        f_loss, f_norm, f_grads = step(fast, x, y)
        close(f_loss.numpy(), loss.numpy(), dtype)
        close(f_norm.numpy(), norm.numpy(), dtype)
        for k in eager:
            close(f_grads[k].numpy(), grads[k].numpy(), dtype)
            close(fast[k].numpy(), eager[k].numpy(), dtype)
            eager[k].grad = fast[k].grad = None


def test_the_passes_fire_on_the_rnn_update(rng):
    """Hoisting leaves one input product instead of T, the shared W.T and concatenations are
    made once, the stacked step gradients are written in place; the recurrence's products
    (their left operand depends on the step before) stay in the loop, one per step each way."""
    p = rnn_params(rng, np.float64)
    x, y = mg.tensor(rng.normal(size=(40, 4, 3))), mg.tensor(rng.integers(0, 2, 4))
    step = lambda p, x, y: rnn_update(p, x, y)[:2]
    plain = mg.trace(step, optimize=False).code(copy_params(p), x, y)
    fast = mg.trace(step).code(copy_params(p), x, y)
    # x W_in and h W_rec at 40 steps, dh W_rec.T at 39, the head's two, and the weight
    # gradients of W_rec and W_in in 3 chunks (16 + 16 + 8 steps) plus W_out's
    assert products(plain) == 40 + 40 + 39 + 2 + 2 * 3 + 1
    assert products(fast) == 3 + 40 + 39 + 2 + 2 * 3 + 1
    for block in ("r5[0:16].reshape((64, 3)), r0).reshape((16, 4, 7))",    # hoisted, 16 steps a block
                  "r5[16:32].reshape((64, 3)), r0).reshape((16, 4, 7))",
                  "r5[32:40].reshape((32, 3)), r0).reshape((8, 4, 7))"):
        assert fast.count("xp.matmul(" + block) == 1
    assert plain.count("r1.T") == 39 and fast.count("r1.T") == 1
    # per chunk: the step gradients stacked 3 times (for b, W_rec, W_in), the states and inputs
    # once each; optimized, the step gradients are stacked in place, the states too except in
    # the chunk holding the initial state (a constant, not an elementwise result), the inputs
    # are one slice of x each
    assert plain.count("xp.concatenate") == 5 * 3 and fast.count("xp.concatenate") == 1
    assert fast.count("r5[39:23:-1].reshape((64, 3,)).copy()") == 1
    assert "out=" in fast and "out=" not in plain
    assert "minigrad.passes" in fast.splitlines()[1] and "minigrad.passes" not in plain


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells(rng, cell, dtype):
    model = rnn.SequenceModel(3, 6, 2, cell=cell, seed=1, dtype=np.dtype(dtype).name)
    twin = rnn.SequenceModel(3, 6, 2, cell=cell, seed=1, dtype=np.dtype(dtype).name)
    opt, opt_twin = mg.SGD(model.parameters(), lr=0.1), mg.SGD(twin.parameters(), lr=0.1)

    def update(model, opt, x, y):
        loss = model.loss(x, y)
        loss.backward()
        mg.clip_grad_norm(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        return loss

    step = mg.trace(lambda m, x, y: update(m, opt_twin, x, y))
    for T in (1, 2, 12, 12):
        x = mg.tensor(rng.normal(size=(T, 5, 3)).astype(dtype))
        y = mg.tensor(rng.integers(0, 2, 5))
        close(step(twin, x, y).numpy(), update(model, opt, x, y).numpy(), dtype)
        for a, b in zip(twin.parameters(), model.parameters()):
            close(a.numpy(), b.numpy(), dtype)
    assert step.programs == 3


@pytest.mark.parametrize("method", ["msgd-cr", "msgd-r"])
@pytest.mark.parametrize("cell", ["rnn", "lstm"])
def test_updates_with_omega_traced_equal_eager(method, cell):
    """tasks.train's updates (Omega in closed form for the RNN, generic for the LSTM): traced
    (passes on, the default) against eager."""
    config = lambda trace: TrainConfig(task="temporal_order", length=12, hidden=8, cell=cell, method=method,
                                       max_updates=5, eval_every=5, check_every=0, seed=4, trace=trace)
    trainers = [Trainer(config(trace)) for trace in (False, True)]
    for _ in range(4):
        got = [t.update() for t in trainers]
        for a, b in zip(*got):
            if a is not None:
                close(b.numpy(), a.numpy())
        for t in trainers:
            t.state.update += 1
    for p, q in zip(trainers[0].model.parameters(), trainers[1].model.parameters()):
        close(q.numpy(), p.numpy())
    assert trainers[1]._gradients.programs == 1


# --------------------------------------------------------------------------- other programs
def test_mlp_update_bit_identical(rng):
    """No product to hoist: every pass is exact, so optimized = eager bit for bit."""
    def mlp_update(p, x, y):
        h = (x @ p["W1"] + p["b1"]).tanh()
        h = (h @ p["W2"] + p["b2"]).relu()
        loss = mg.cross_entropy(h @ p["W3"], y)
        loss.backward()
        for q in p.values():
            q.data -= 0.05 * q.grad.data
            q.grad = None
        return loss

    shapes = {"W1": (5, 8), "b1": (8,), "W2": (8, 8), "b2": (8,), "W3": (8, 3)}
    eager = {k: mg.nn.Parameter(rng.normal(0, 0.5, s), name=k) for k, s in shapes.items()}
    fast = copy_params(eager)
    step = mg.trace(mlp_update)
    for _ in range(3):
        x, y = mg.tensor(rng.normal(size=(6, 5))), mg.tensor(rng.integers(0, 3, 6))
        assert step(fast, x, y).numpy() == mlp_update(eager, x, y).numpy()
        for k in eager:
            np.testing.assert_array_equal(fast[k].numpy(), eager[k].numpy())
    assert "xp.dot(" in step.code(fast, x, y)


def test_products_are_not_hoisted_past_a_write_into_their_operand(rng):
    """x[k] @ W for every k, but each product is added into x[k + 1] before the next one reads
    it: one product of the whole x made before the loop would read x before it is written."""
    def chain(x, W):
        outs = []
        for k in range(x.shape[0]):
            h = x[k] @ W
            if k + 1 < x.shape[0]:
                x.data[k + 1] += h.data
            outs.append(h)
        return mg.stack(outs)

    x0, W = rng.normal(size=(6, 4, 3)), mg.tensor(rng.normal(size=(3, 3)))
    want = chain(mg.tensor(x0.copy()), W).numpy()
    step = mg.trace(chain)
    for _ in range(2):
        x = mg.tensor(x0.copy())
        np.testing.assert_array_equal(step(x, W).numpy(), want)
    code = step.code(mg.tensor(x0.copy()), W)
    assert "reshape((24, 3))" not in code and products(code) == 6


def test_products_are_hoisted_from_an_array_the_program_made(rng):
    """z = x * 2 is made inside the program, before the products: it may be hoisted (z does
    not depend on the products); with a write into z between them it may not."""
    def f(x, W, write):
        z = x * 2.0
        outs = []
        for k in range(z.shape[0]):
            outs.append((z[k] @ W).tanh())
            if write and k == 2:
                z.data[4] *= 3.0
        return mg.stack(outs)

    x, W = mg.tensor(rng.normal(size=(6, 4, 3))), mg.tensor(rng.normal(size=(3, 5)))
    for write in (False, True):
        step = mg.trace(f)
        got = step(x, W, write).numpy()
        got = step(x, W, write).numpy()                    # a replay
        close(got, f(x, W, write).numpy())
        code = step.code(x, W, write)
        # without the write all six products come from the hoisted one; with it, the three
        # made before the write do, the three after it are made as they were
        if not write:
            assert "xp.matmul(r2.reshape((24, 3)), r1).reshape((6, 4, 5))" in code and products(code) == 1
        else:
            assert "xp.matmul(r2[0:3].reshape((12, 3)), r1).reshape((3, 4, 5))" in code
            assert products(code) == 1 + 3


def test_a_recurrence_is_not_hoisted(rng):
    """h_{k+1} = (h_k @ W) stacked: each product's operand depends on the one before."""
    def f(h, W):
        hs = [h]
        for _ in range(5):
            hs.append((hs[-1] @ W).tanh())
        return mg.stack(hs)

    h, W = mg.tensor(rng.normal(size=(4, 3))), mg.tensor(rng.normal(size=(3, 3)) * 0.5)
    step = mg.trace(f)
    np.testing.assert_array_equal(step(h, W).numpy(), f(h, W).numpy())
    assert products(step.code(h, W)) == 5


def test_equal_calls_whose_results_are_written_stay_two(rng):
    """a = x * 2 and b = x * 2 are one call only while nothing writes into either."""
    def f(x):
        a, b = x * 2.0, x * 2.0
        a.data += 1.0
        return a, b

    def g(x):
        return x * 2.0 + x * 2.0, (x * 2.0).sum()

    x = mg.tensor(rng.normal(size=(3, 4)))
    step_f, step_g = mg.trace(f), mg.trace(g)
    for _ in range(2):
        for got, want in zip(step_f(x), f(x)):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
        for got, want in zip(step_g(x), g(x)):
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert step_f.code(x).count("r0 * c0") == 2
    assert step_g.code(x).count("r0 * c0") == 1


def test_stacking_in_place_stays_away_from_written_parts(rng):
    """concatenate([a, b]) of elementwise results: written in place into one array, unless a
    part is written afterwards (the stack would see the write)."""
    def f(x, write):
        a, b = x.tanh(), x.exp()
        s = mg.cat([a, b])
        if write:
            a.data *= 2.0
        return s * 1.0, a * 1.0

    x = mg.tensor(rng.normal(size=(3, 4)))
    for write in (False, True):
        step = mg.trace(f)
        for _ in range(2):
            for got, want in zip(step(x, write), f(x, write)):
                np.testing.assert_array_equal(got.numpy(), want.numpy())
        code = step.code(x, write)
        assert ("xp.concatenate" in code) == write and ("out=" in code) == (not write)


def test_constants_are_folded_but_not_returned_or_written(rng):
    """Lines that read no input are computed once; a returned array is never such a constant
    (the caller may write into it), nor one the program writes into."""
    def f(x):
        ones = mg.ones(4) * 3.0                       # no input: folded
        out = mg.zeros(4)                             # returned: not folded
        buf = mg.zeros(4)
        buf.data += x.data                            # written: not folded
        return x * ones + buf, out

    step = mg.trace(f)
    x = mg.tensor(rng.normal(size=4))
    for _ in range(3):
        a, out = step(x)
        np.testing.assert_array_equal(a.numpy(), x.numpy() * 3.0 + x.numpy())
        assert out.numpy().tolist() == [0.0] * 4
        out.data += 5.0                               # the caller writes into a result
    code = step.code(x)
    assert code.count("xp.full((4,), 0") == 2 and "xp.ones" not in code and "xp.full((4,), 1" not in code


def test_optimize_false_and_a_chosen_list_of_passes(rng):
    p = rnn_params(rng, np.float64)
    x, y = mg.tensor(rng.normal(size=(8, 4, 3))), mg.tensor(rng.integers(0, 2, 4))
    step = lambda p, x, y: rnn_update(p, x, y)[:2]
    only_hoist = mg.trace(step, optimize=[passes.hoist_products]).code(copy_params(p), x, y)
    plain = mg.trace(step, optimize=False).code(copy_params(p), x, y)
    assert products(only_hoist) == products(plain) - 7 and "xp.dot(" not in only_hoist
    assert "xp.dot(" in mg.trace(step).code(copy_params(p), x, y)


def test_consecutive_slices_are_stacked_as_one_copy(rng):
    """cat([x[1], x[2], x[3]]) -> x[1:4].reshape(...).copy(): a copy, as the concatenation was,
    so a later write into x does not show in it; counting down and other orders too."""
    def f(x, order):
        s = mg.cat([x[k] for k in order])
        x.data[2] += 100.0
        return s * 1.0

    x0 = rng.normal(size=(5, 2, 3))
    for order, stacked in [((1, 2, 3), "r0[1:4].reshape((6, 3,)).copy()"),
                           ((4, 3, 2, 1, 0), "r0[4::-1].reshape((10, 3,)).copy()"),
                           ((3, 2, 1), "r0[3:0:-1].reshape((6, 3,)).copy()"),
                           ((0, 2, 1), None)]:
        step = mg.trace(f)
        for _ in range(2):
            want = f(mg.tensor(x0.copy()), order).numpy()
            np.testing.assert_array_equal(step(mg.tensor(x0.copy()), order).numpy(), want)
        code = step.code(mg.tensor(x0.copy()), order)
        assert (stacked in code) if stacked else ("xp.concatenate" in code)


def test_hoisted_products_come_in_blocks_of_consecutive_slices(rng):
    """Products of x[k] in the order 0, 1, 2, 5, 4, 3 (T = 6, block size 4): a block is a run
    of consecutive k's, at most 4 long, so x[0:3] and x[3:6], each made where its first product
    was."""
    def f(x, W):
        return mg.stack([(x[k] @ W).tanh() for k in (0, 1, 2, 5, 4, 3)])

    x, W = mg.tensor(rng.normal(size=(6, 2, 3))), mg.tensor(rng.normal(size=(3, 4)))
    step = mg.trace(f, optimize=[lambda lines, facts, keep: passes.hoist_products(lines, facts, keep, block_size=4)])
    np.testing.assert_array_equal(step(x, W).numpy(), f(x, W).numpy())
    np.testing.assert_array_equal(step(x, W).numpy(), f(x, W).numpy())
    code = step.code(x, W)
    assert "xp.matmul(r0[0:3].reshape((6, 3)), r1).reshape((3, 2, 4))" in code
    assert "xp.matmul(r0[3:6].reshape((6, 3)), r1).reshape((3, 2, 4))" in code
    assert products(code) == 2
