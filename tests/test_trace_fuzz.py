"""An outside check of ``mg.trace``: random programs and attacks on each pass's stated guards.

Every program is run three ways on the same fresh inputs, several calls in a row with new values
(the first call traces, the later ones replay): eagerly, traced with ``optimize=False`` and
traced with the passes on.  The reference is always the eager run, so nothing expected here
comes from the trace compiler.  What is promised (minigrad/trace.py, minigrad/passes.py):

* ``optimize=False``: the same calls in the same order, so bit-identical to eager;
* the passes: the same values, except that a hoisted product may round differently, a few units
  in the last place; compared here within ``TOL`` (float64);

and for both, the inputs left behind (in-place writes) and the ``.grad`` of every argument as
eager leaves them, and no two results sharing memory that eager gives separately (a write into
one would show in the other).

The targeted tests each attack one stated guard: hoist_products with a write into ``x`` or ``W``
between the products, share_common_calls with an in-place change between two equal calls,
fold_constants with a result the caller changes after the call, stack_slices and
stack_in_place with writes into the stacked parts, and replays whose inputs differ from the
traced ones in what the key does not hold (memory layout, values that decide a shape).
"""
import numpy as np
import pytest
from hypothesis import given, strategies as st

import minigrad as mg

TOL = dict(rtol=1e-10, atol=1e-12)         # float64: a few ulps of a short computation


# --------------------------------------------------------------------------- running three ways
def _fresh(arrays, grads):
    """Tensors for one call: ``arrays`` copied (a call may write into them), ``grads[i]`` True
    for a parameter (requires grad).  An array given as ``("F", a)`` is passed in Fortran order
    (the same shape, other strides: a reshape of it is a copy, not a view)."""
    out = []
    for a, g in zip(arrays, grads):
        if type(a) is tuple:
            t = mg.from_numpy(np.asfortranarray(np.array(a[1], copy=True)))
            out.append(t.requires_grad_(True) if g else t)
        else:
            out.append(mg.tensor(np.array(a, copy=True), requires_grad=g))
    return out


def _host(t):
    return None if t is None else np.array(t.numpy(), copy=True)


def _leaves(obj, out):
    if isinstance(obj, mg.Tensor):
        out.append(obj)
    elif isinstance(obj, (tuple, list)):
        for o in obj:
            _leaves(o, out)
    return out


def _call(fn, arrays, grads):
    """One call: (results, gradients of the arguments, the arguments afterwards, the result
    tensors themselves and the gradient tensors, for aliasing checks)."""
    ts = _fresh(arrays, grads)
    results = _leaves(fn(*ts), [])
    return ([_host(r) for r in results], [_host(t.grad) for t in ts], [_host(t) for t in ts],
            results, [t.grad for t in ts])


def _sharing(tensors):
    """Which pairs of the (non-None) tensors share memory."""
    data = [None if t is None else t.data for t in tensors]
    return {(i, j) for i in range(len(data)) for j in range(i + 1, len(data))
            if data[i] is not None and data[j] is not None and np.shares_memory(data[i], data[j])}


def _same(got, want, exact, what):
    assert len(got) == len(want), what
    for k, (g, w) in enumerate(zip(got, want)):
        if w is None or g is None:
            assert g is None and w is None, f"{what} {k}: {g} vs {w}"
            continue
        assert g.shape == w.shape and g.dtype == w.dtype, f"{what} {k}: {g.shape} {g.dtype} vs {w.shape} {w.dtype}"
        if exact:
            np.testing.assert_array_equal(g, w, err_msg=f"{what} {k} (bit-identical promised)")
        else:
            np.testing.assert_allclose(g, w, **TOL, err_msg=f"{what} {k}")


def check_three_ways(fn, calls, grads, **trace_options):
    """``fn`` eager, traced plainly and traced optimized, on each argument list of ``calls``."""
    plain = mg.trace(fn, optimize=False, **trace_options)
    fast = mg.trace(fn, **trace_options)
    for n, arrays in enumerate(calls):
        want = _call(fn, arrays, grads)
        for traced, exact in ((plain, True), (fast, False)):
            got = _call(traced, arrays, grads)
            label = f"call {n} ({'plain' if exact else 'optimized'})"
            _same(got[0], want[0], exact, label + ": result")
            _same(got[1], want[1], exact, label + ": .grad of argument")
            _same(got[2], want[2], exact, label + ": argument afterwards")
            assert _sharing(got[3] + got[4]) == _sharing(want[3] + want[4]), \
                label + ": results/gradients share memory where eager's do not"
    return plain, fast


# --------------------------------------------------------------------------- random programs
ACTIVATIONS = ("tanh", "sigmoid", "relu", "none")
TAIL = ("tanh", "square", "exp", "swap", "flatten", "slice", "index0", "sum0", "softmax", "cat_self",
        "stack_self", "max", "center", "logsumexp", "mul_W")
LOSSES = ("sum", "mse", "lse", "cross_entropy")


def _act(h, kind):
    return {"tanh": mg.tanh, "sigmoid": mg.sigmoid, "relu": mg.relu, "none": lambda v: v}[kind](h)


def _tail(Z, op, W):
    if op == "tanh":
        return Z.tanh()
    if op == "square":
        return Z * Z
    if op == "exp":
        return (Z * 0.25).exp()
    if op == "swap":
        return mg.swapaxes(Z, 0, -1) if Z.ndim >= 2 else Z
    if op == "flatten":
        return Z.reshape(-1)
    if op == "slice":
        return Z[1:] if Z.shape[0] > 1 else Z
    if op == "index0":
        return Z[0] if Z.ndim >= 2 else Z
    if op == "sum0":
        return Z.sum(0) if Z.ndim >= 2 else Z
    if op == "softmax":
        return mg.softmax(Z, -1)
    if op == "cat_self":
        return mg.concat([Z, Z * 2.0], 0)
    if op == "stack_self":
        return mg.stack([Z.tanh(), (Z * 0.5).exp(), Z * Z], 0)
    if op == "max":
        return mg.amax(Z, axis=-1) if Z.ndim >= 2 else Z
    if op == "center":
        return Z - Z.mean(-1, keepdims=True)
    if op == "logsumexp":
        return mg.logsumexp(Z, -1) if Z.ndim >= 2 else Z
    if op == "mul_W":                     # the shared weight again, on a derived value
        return Z @ W.T if Z.shape[-1] == W.shape[1] else Z
    raise AssertionError(op)


def make_program(spec):
    """A recurrent forward pass over slices ``x[t] @ W`` (the weight shared by every step), a
    random tail of array calls, a loss, backward, an SGD step, then forward-only products with
    the updated weight and a write into ``x``: every pass has something to rewrite."""
    act, tail, loss_kind, twice, backwards, stack_how, after = spec

    def program(x, W, U, b, y):
        T, B = x.shape[0], x.shape[1]
        h = mg.zeros((B, W.shape[1]))
        hs = []
        order = range(T - 1, -1, -1) if backwards else range(T)
        for t in order:
            pre = x[t] @ W + h @ U + b
            if twice:                                   # the same product twice: shared
                pre = pre + 0.5 * (x[t] @ W)
            h = _act(pre, act)
            hs.append(h)
        Z = mg.stack(hs, 0) if stack_how == "stack" else mg.concat(hs, 0)
        for op in tail:
            Z = _tail(Z, op, W)
        if loss_kind == "sum":
            loss = Z.sum()
        elif loss_kind == "mse":
            loss = mg.mse_loss(Z, mg.zeros(Z.shape) + 0.5)
        elif loss_kind == "lse":
            loss = mg.logsumexp(Z.reshape(-1), 0)
        else:
            logits = hs[-1] @ W.T                      # (B, n)
            loss = mg.cross_entropy(logits, y)
        loss.backward()
        with mg.no_grad():
            for p in (W, U, b):
                p.data -= 0.1 * p.grad.data
            extra = []
            if after:
                extra.append(x[0] @ W)                  # the updated W
                x[0] = x[0] * 2.0                       # a write into x between products
                extra.append(x[0] @ W)
                extra.append(x[T - 1] @ W)
        return (loss, Z.detach(), *extra)
    return program


def _program_inputs(rng, T, B, n, m):
    return [rng.normal(size=(T, B, n)), rng.normal(0, 0.5, (n, m)), rng.normal(0, 0.5, (m, m)),
            rng.normal(0, 0.1, m), rng.integers(0, n, B)]


@given(act=st.sampled_from(ACTIVATIONS), tail=st.lists(st.sampled_from(TAIL), max_size=4),
       loss=st.sampled_from(LOSSES), twice=st.booleans(), backwards=st.booleans(),
       stack_how=st.sampled_from(("stack", "concat")), after=st.booleans(),
       T=st.integers(1, 5), B=st.integers(1, 3), n=st.integers(1, 3), m=st.integers(1, 3),
       seed=st.integers(0, 2**16))
def test_random_programs_traced_equal_eager(act, tail, loss, twice, backwards, stack_how, after,
                                            T, B, n, m, seed):
    rng = np.random.default_rng(seed)
    program = make_program((act, tuple(tail), loss, twice, backwards, stack_how, after))
    calls = [_program_inputs(rng, T, B, n, m) for _ in range(3)]
    calls.append(_program_inputs(rng, T + 1, B, n, m))            # another length: traced again
    calls.append(_program_inputs(rng, T, B, n, m))                # back to the first: replayed
    grads = [False, True, True, True, False]
    calls = [[a.astype(np.int64) if i == 4 else a for i, a in enumerate(c)] for c in calls]
    plain, fast = check_three_ways(program, calls, grads)
    assert plain.programs == fast.programs == 2


# --------------------------------------------------------------------------- random writes, no graph
EVENTS = st.one_of(
    st.tuples(st.just("prod"), st.integers(0, 7)),                  # out: x[k] @ W
    st.tuples(st.just("write_x"), st.integers(0, 7)),               # x[k] += 1
    st.tuples(st.just("scale_x"), st.just(0)),                      # x *= 0.5 (x.mul_)
    st.tuples(st.just("write_W"), st.just(0)),                      # W += 0.25 (W.add_)
    st.tuples(st.just("WT"), st.just(0)),                           # out: W.T summed
    st.tuples(st.just("exp_x"), st.just(0)),                        # out: exp(x) summed
    st.tuples(st.just("cat_slices"), st.integers(0, 7)),            # out: concat of x[k], x[k+1]
    st.tuples(st.just("stack_ew"), st.integers(0, 7)),              # out: concat of elementwise results
    st.tuples(st.just("stack_ew_write"), st.integers(0, 7)),        # the same, a part written after
    st.tuples(st.just("flat"), st.just(0)),                         # out: x.reshape(-1) (view or copy)
    st.tuples(st.just("flat_write"), st.integers(0, 7)),            # x.reshape(-1)[k] += 1
)


def make_effects_program(events):
    def program(x, W):
        T = x.shape[0]
        out = []
        with mg.no_grad():
            for kind, k in events:
                k %= T
                if kind == "prod":
                    out.append(x[k] @ W)
                elif kind == "write_x":
                    x[k] += 1.0
                elif kind == "scale_x":
                    x.mul_(0.5)
                elif kind == "write_W":
                    W.add_(0.25)
                elif kind == "WT":
                    out.append(W.T.sum(0))
                elif kind == "exp_x":
                    out.append(x.exp().sum(0))
                elif kind == "flat":
                    out.append(x.reshape(-1) + 0.0)
                elif kind == "flat_write":               # into x when the reshape is a view of it
                    x.reshape(-1)[k:k + 1].add_(1.0)
                elif kind == "cat_slices":
                    out.append(mg.concat([x[k], x[(k + 1) % T]], 0))
                else:
                    a, c = x[k].tanh(), (x[k] * 0.5).exp()
                    s = mg.concat([a, c], 0)
                    if kind == "stack_ew_write":
                        a.add_(1.0)                             # after the stack: s must not see it
                    out.append(s + 0.0)
                    out.append(a + 0.0)
        return tuple(out) if out else (x.sum(),)
    return program


@given(events=st.lists(EVENTS, min_size=1, max_size=12), T=st.integers(2, 6), B=st.integers(1, 3),
       n=st.integers(2, 3), m=st.integers(2, 3), seed=st.integers(0, 2**16))
def test_random_writes_between_calls_traced_equal_eager(events, T, B, n, m, seed):
    rng = np.random.default_rng(seed)
    calls = [[rng.normal(size=(T, B, n)), rng.normal(size=(n, m))] for _ in range(4)]
    calls[1][0] = ("F", calls[1][0])              # x in another memory layout, same shape
    calls[3][0] = ("F", calls[3][0])
    check_three_ways(make_effects_program(events), calls, [False, False])


# --------------------------------------------------------------------------- hoist_products
def test_hoist_products_sees_a_write_into_x_between_the_products():
    def f(x, W):
        with mg.no_grad():
            out = [x[t] @ W for t in range(2)]
            x[3] = x[3] * 10.0                         # after two products, before the rest
            out += [x[t] @ W for t in range(2, 6)]
        return tuple(out)
    rng = np.random.default_rng(0)
    plain, fast = check_three_ways(f, [[rng.normal(size=(6, 2, 3)), rng.normal(size=(3, 4))] for _ in range(3)],
                                   [False, False])
    x, W = mg.tensor(rng.normal(size=(6, 2, 3))), mg.tensor(rng.normal(size=(3, 4)))
    assert "reshape((12, 3))" not in fast.code(x, W)   # no block across the write


def test_hoist_products_sees_a_write_into_W_through_a_view():
    def f(x, W):
        with mg.no_grad():
            out = [x[0] @ W, x[1] @ W]
            W.T[0] += 1.0                              # W written through its transpose
            out += [x[t] @ W for t in range(2, 4)]
        return tuple(out)
    rng = np.random.default_rng(1)
    check_three_ways(f, [[rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 2))] for _ in range(3)], [False, False])


def test_hoist_products_with_x_a_view_of_another_argument():
    """x and W passed as views of one array: a write into W is a write into x."""
    base = np.random.default_rng(2).normal(size=(3 * 2 * 3 + 9,))

    def f(x, W):
        with mg.no_grad():
            out = [x[0] @ W]
            W.mul_(2.0)
            out += [x[1] @ W, x[2] @ W]
        return tuple(out)

    def call(fn, arr):
        a = arr.copy()
        x, W = mg.from_numpy(a[:18].reshape(3, 2, 3)), mg.from_numpy(a[18:].reshape(3, 3))
        return [r.numpy().copy() for r in fn(x, W)] + [a]
    plain, fast = mg.trace(f, optimize=False), mg.trace(f)
    for _ in range(3):
        want = call(f, base)
        for traced in (plain, fast):
            for g, w in zip(call(traced, base), want):
                np.testing.assert_allclose(g, w, **TOL)


# --------------------------------------------------------------------------- share_common_calls
def test_share_common_calls_sees_an_in_place_change_between_two_equal_calls():
    def f(x):
        with mg.no_grad():
            a = x.exp()
            x.add_(1.0)
            b = x.exp()                                # the same call on changed values
        return a, b
    rng = np.random.default_rng(3)
    check_three_ways(f, [[rng.normal(size=(3, 2))] for _ in range(3)], [False])


def test_share_common_calls_with_a_view_call_on_a_layout_the_trace_did_not_see():
    """``x.reshape(-1)`` is a view of a contiguous x but a copy of a transposed one; the key holds
    shapes, not strides, so a trace on one layout is replayed on the other.  Two equal reshapes
    with a write into x between them are "the same view" only when they are views."""
    def f(x):
        with mg.no_grad():
            a = x.reshape(-1) + 0.0
            x.add_(1.0)
            b = x.reshape(-1) + 0.0
        return a, b

    def call(fn, arr):
        x = mg.from_numpy(arr)
        return [r.numpy().copy() for r in fn(x)]
    rng = np.random.default_rng(4)
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        traced(mg.from_numpy(rng.normal(size=(3, 3))))              # traced on a contiguous x
        base = rng.normal(size=(3, 3))
        want = call(f, base.copy().T)                                # eager, a transposed x
        got = call(traced, base.copy().T)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_share_common_calls_and_nonzero_across_a_write():
    """``mg.nonzero`` returns fresh index arrays (a tuple call): a write between two of them
    must give other indices."""
    def f(x):
        with mg.no_grad():
            a = mg.nonzero(x, as_tuple=True)[0] + 0
            x.fill_(1.0)
            b = mg.nonzero(x, as_tuple=True)[0] + 0
        return a, b
    x0 = np.array([0.0, 2.0, 0.0, 3.0])
    want = [r.numpy() for r in f(mg.tensor(x0))]
    assert want[0].tolist() == [1, 3] and want[1].tolist() == [0, 1, 2, 3]
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        try:
            got = [r.numpy() for r in traced(mg.tensor(x0))]
        except mg.TraceError:
            continue                                     # refusing is fine; a wrong answer is not
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


# --------------------------------------------------------------------------- shapes that depend on values
def test_a_boolean_mask_whose_count_changes_is_not_replayed_with_the_old_count():
    """``x[x > 0].mean()``: how many elements the mask picks depends on the values, so the shape
    the trace saw is no promise for a replay (the old program divided by the traced count).
    Nothing is written before the mask: a replay gives eager's mean, gradient too."""
    def f(x):
        loss = x[x > 0].mean()
        loss.backward()
        return loss
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        for values in ([1.0, -1.0, 3.0, -2.0], [1.0, 2.0, 3.0, -4.0], [5.0, -1.0, -1.0, -1.0],
                       [2.0, -1.0, 4.0, -1.0]):
            positive = [v > 0 for v in values]
            want = np.mean([v for v in values if v > 0])
            x = mg.tensor(values, requires_grad=True)
            assert traced(x).item() == pytest.approx(want, rel=1e-12), (optimize, values)
            np.testing.assert_allclose(x.grad.numpy(), np.array(positive) / sum(positive), rtol=1e-12)


def test_a_boolean_mask_after_a_write_into_an_argument_refuses_a_changed_count():
    """The same after an in-place write into the argument: tracing again would write twice, so
    a replay whose mask picks another count refuses (one line), never divides by the old one."""
    def f(x):
        with mg.no_grad():
            x.mul_(2.0)
        return x[x > 0].mean()
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        for values in ([1.0, -1.0, 3.0], [1.0, 2.0, 3.0]):
            want = np.mean([2 * v for v in values if v > 0])
            try:
                got = traced(mg.tensor(values)).item()
            except mg.TraceError as e:
                assert "shape" in str(e) and "\n" not in str(e)
                continue
            assert got == pytest.approx(want, rel=1e-12), (optimize, values)


# --------------------------------------------------------------------------- fold_constants
def test_a_result_made_from_nothing_is_fresh_at_every_call():
    """Results that read no input (zeros, a constant from host data) must not be one array
    shared by every replay: the caller may change a result in place."""
    def f(x):
        return x.sum(), mg.zeros(3), mg.tensor([1.0, 2.0, 3.0]), mg.ones(2) * 4.0
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        for _ in range(3):
            _, z, c, q = traced(mg.tensor([1.0, 2.0]))
            assert z.numpy().tolist() == [0.0, 0.0, 0.0]
            assert c.numpy().tolist() == [1.0, 2.0, 3.0]
            assert q.numpy().tolist() == [4.0, 4.0]
            with mg.no_grad():
                z.add_(7.0)
                c.add_(7.0)
                q.add_(7.0)


def test_fold_constants_does_not_fold_an_array_written_later():
    def f(x):
        with mg.no_grad():
            z = mg.zeros(x.shape)
            y = z * 2.0 + 1.0                           # reads z before the write
            z.add_(x)                                   # z written with the input
            w = z * 2.0 + 1.0                           # the same call, other values
        return y, w
    rng = np.random.default_rng(5)
    check_three_ways(f, [[rng.normal(size=(2, 3))] for _ in range(3)], [False])


# --------------------------------------------------------------------------- stacking
def test_stack_in_place_results_do_not_share_memory_with_their_stack():
    """The parts of a stack written into the stacked array (``out=``) must not leave two results
    sharing memory: a caller's write into one would change the other."""
    def f(x):
        a, b = x.tanh(), (x * 2.0).exp()
        return a, b, mg.concat([a, b], 0)
    rng = np.random.default_rng(6)
    check_three_ways(f, [[rng.normal(size=(2, 3))] for _ in range(3)], [False])


def test_stack_slices_reads_x_where_the_concatenation_is():
    def f(x):
        with mg.no_grad():
            parts = [x[0], x[1], x[2]]
            x[1] = x[1] + 5.0                         # between taking the slices and stacking them
            s = mg.concat(parts, 0)
            x[2] = x[2] - 5.0                         # after
        return s + 0.0, x.sum(0)
    rng = np.random.default_rng(7)
    check_three_ways(f, [[rng.normal(size=(4, 2, 3))] for _ in range(3)], [False])


def test_stack_in_place_with_a_part_that_is_written_after_the_stack():
    def f(x):
        with mg.no_grad():
            a, b = x.tanh(), x.exp()
            s = mg.concat([a, b], 0)
            b.mul_(0.0)
        return s + 0.0, b + 0.0
    rng = np.random.default_rng(8)
    check_three_ways(f, [[rng.normal(size=(2, 3))] for _ in range(3)], [False])


# --------------------------------------------------------------------------- what selects a program
def test_a_numpy_scalar_argument_minus_zero_is_not_replayed_as_plus_zero():
    """-0.0 and 0.0 are told apart for Python floats (tests/test_trace_rule5.py); a NumPy
    float argument is the same value to a replay."""
    def f(x, s):
        return 1.0 / (x * s)
    traced = mg.trace(f)
    x = mg.tensor([1.0])
    with np.errstate(divide="ignore"):
        assert f(x, np.float64(-0.0)).numpy()[0] == -np.inf          # eager
        assert traced(x, np.float64(0.0)).numpy()[0] == np.inf
        assert traced(x, np.float64(-0.0)).numpy()[0] == -np.inf


def test_products_by_dot_on_strided_operands_is_exact():
    """passes.py: every pass but hoisting "changes no bit"; dot and matmul must agree on
    operands that are not contiguous too (a slice with a step)."""
    rng = np.random.default_rng(9)

    def f(a, W):
        return (a[:, ::2] @ W,)
    calls = [[rng.normal(size=(40, 60)), rng.normal(size=(30, 50))] for _ in range(2)]
    plain = mg.trace(f, optimize=False)
    fast = mg.trace(f)
    for arrays in calls:
        want = _call(f, arrays, [False, False])[0]
        np.testing.assert_array_equal(_call(plain, arrays, [False, False])[0][0], want[0])
        np.testing.assert_array_equal(_call(fast, arrays, [False, False])[0][0], want[0])


# --------------------------------------------------------------------------- state carried between calls
def test_gradients_accumulate_over_replays_as_eager():
    """No zero_grad between calls: each backward adds into ``.grad`` (in place, eagerly)."""
    rng = np.random.default_rng(10)
    x0, W0 = rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 3))

    def f(x, W):
        h = mg.zeros((2, 3))
        for t in range(x.shape[0]):
            h = (x[t] @ W + h @ W).tanh()
        loss = (h * h).sum()
        loss.backward()
        return loss
    runs = {}
    for label, fn in (("eager", f), ("plain", mg.trace(f, optimize=False)), ("fast", mg.trace(f))):
        W = mg.tensor(W0.copy(), requires_grad=True)
        grads = []
        for k in range(4):
            fn(mg.tensor(x0 * (k + 1)), W)
            grads.append(W.grad.numpy().copy())
        runs[label] = grads
    for k in range(4):
        np.testing.assert_array_equal(runs["plain"][k], runs["eager"][k])
        np.testing.assert_allclose(runs["fast"][k], runs["eager"][k], **TOL)


def test_a_replay_under_no_grad_does_what_eager_does():
    """Traced with gradients on, called again under ``mg.no_grad()``: eagerly the backward has no
    graph to walk; a replay must not set ``.grad`` as if it had."""
    def f(x, W):
        loss = (x @ W).sum()
        loss.backward()
        return loss
    x = mg.tensor(np.ones((2, 2)))
    traced = mg.trace(f)
    traced(x, mg.tensor(np.ones((2, 2)), requires_grad=True))
    W = mg.tensor(np.ones((2, 2)), requires_grad=True)
    with mg.no_grad():
        try:
            f(x, W)
            eager_raised = False
        except Exception:
            eager_raised = True
        eager_grad = W.grad
        W.grad = None
        try:
            traced(x, W)
            traced_raised = False
        except Exception:
            traced_raised = True
    assert traced_raised == eager_raised and (W.grad is None) == (eager_grad is None)


def test_a_tensor_made_from_host_data_and_written_through_a_view_is_fresh_at_every_call():
    """``mg.tensor([...])`` inside the function is a new array at every eager call; written into
    through a view (under no_grad), a replay must not carry the last call's write over (giving
    1 + s1 + s2 + ...): it gives eager's values, or refuses."""
    def f(x):
        c = mg.tensor([1.0, 2.0])
        with mg.no_grad():
            c[0:1].add_(x.sum())
        return c * 1.0
    for s in (1.0, 2.0):
        assert f(mg.tensor([s])).numpy().tolist() == [1.0 + s, 2.0]                # eager
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        for s in (1.0, 2.0, 3.0):
            try:
                got = traced(mg.tensor([s])).numpy().tolist()
            except mg.TraceError as e:
                assert "host data" in str(e)
                break
            assert got == [1.0 + s, 2.0], optimize


def test_two_equal_calls_returned_are_two_arrays():
    """share_common_calls: ``x.exp().T`` returned twice is two separate arrays eagerly; a
    caller's write into one must not show in the other."""
    def f(x):
        return x.exp().T, x.exp().T, x.exp()
    rng = np.random.default_rng(11)
    check_three_ways(f, [[rng.normal(size=(2, 3))] for _ in range(2)], [False])


def test_hoist_products_with_an_argument_of_another_layout_than_the_traced_one():
    """Traced on a transposed ``x`` (its reshape a copy: a write into it touches nothing the
    products read), replayed on a contiguous one (the reshape a view of x: the write is a write
    into x between the products).  Eager is the reference."""
    def f(x, W):
        with mg.no_grad():
            v = x.reshape(-1)
            out = [x[0] @ W]
            v.add_(1.0)
            out += [x[1] @ W, x[2] @ W]
        return tuple(out)
    rng = np.random.default_rng(12)
    for optimize in (False, True):
        traced = mg.trace(f, optimize=optimize)
        traced(mg.from_numpy(rng.normal(size=(2, 2, 3)).T), mg.tensor(rng.normal(size=(2, 2))))   # (3, 2, 2)
        x0, W0 = rng.normal(size=(3, 2, 2)), rng.normal(size=(2, 2))
        want = [r.numpy() for r in f(mg.from_numpy(x0.copy()), mg.tensor(W0))]
        got = [r.numpy() for r in traced(mg.from_numpy(x0.copy()), mg.tensor(W0))]
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **TOL)


class _Scaled(mg.nn.Module):
    def __init__(self, scale):
        self.W = mg.nn.Parameter(np.ones(2))
        self.scale = scale

    def forward(self, x):
        return (x * self.W * self.scale).sum()


def test_a_module_numpy_float_attribute_changed_between_calls_is_seen():
    """Rule 5: a Module's float attribute selects the program; ``np.float64`` is a float too
    (a subclass of Python's), e.g. a scale computed with NumPy."""
    m, x = _Scaled(np.float64(2.0)), mg.tensor([1.0, 1.0])
    traced = mg.trace(lambda m, x: m(x))
    assert traced(m, x).item() == 4.0
    m.scale = np.float64(5.0)
    assert m(x).item() == 10.0                                       # eager
    assert traced(m, x).item() == 10.0
