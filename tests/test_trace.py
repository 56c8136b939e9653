"""mg.trace: a traced-then-replayed function computes exactly what the function computes.

References are independent of the tracer: the same function run eagerly (bit-identical, since
a replay makes the same array calls), central finite differences, and hand-derived closed
forms.  Every rule of the tracer is broken once on purpose and must raise TraceError.
"""
import sys

import numpy as np
import pytest

import minigrad as mg
from conftest import T


def rnn_params(device, rng, dtype=np.float64, H=5, n_in=3, n_out=2):
    shapes = {"W_in": (n_in, H), "W_rec": (H, H), "b": (H,), "W_out": (H, n_out), "c": (n_out,)}
    return {k: mg.nn.Parameter(rng.normal(0, 0.5, s).astype(dtype), device=device, name=k)
            for k, s in shapes.items()}


def rnn_update(p, x, y, lr=0.1):
    """forward over T steps, cross-entropy, backward, clipping, SGD: one training update."""
    h = mg.zeros((x.shape[1], p["W_rec"].shape[0]), dtype=p["W_rec"].dtype, device=x.device)
    for t in range(x.shape[0]):
        h = (x[t] @ p["W_in"] + h @ p["W_rec"] + p["b"]).tanh()
    loss = mg.cross_entropy(h @ p["W_out"] + p["c"], y)
    loss.backward()
    norm = mg.clip_grad_norm(p.values(), 1.0)
    for q in p.values():
        q.data -= lr * q.grad.data
        q.grad = None
    return {"loss": loss, "norm": norm}


def batch(device, rng, T_=6, B=4, n_in=3, dtype=np.float64):
    return T(rng.normal(size=(T_, B, n_in)), device, dtype=dtype), mg.tensor(rng.integers(0, 2, B), device=device)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_replay_is_bit_identical_to_eager_updates(device, rng, dtype):
    eager = rnn_params(device, rng, dtype)
    traced = {k: mg.nn.Parameter(v.numpy().copy(), device=device, name=k) for k, v in eager.items()}
    step = mg.trace(rnn_update)
    for i in range(4):                                  # trace, then three replays on new data
        x, y = batch(device, rng, dtype=dtype)
        want, got = rnn_update(eager, x, y), step(traced, x, y)
        assert got["loss"].numpy() == want["loss"].numpy()
        assert got["norm"].numpy() == want["norm"].numpy()
        for k in eager:
            np.testing.assert_array_equal(traced[k].numpy(), eager[k].numpy())
            assert traced[k].grad is None
    assert step.programs == 1
    assert got["loss"].device == mg.get_backend(device).device and not got["loss"].requires_grad


def test_replayed_gradients_match_finite_differences_and_closed_form(device, rng):
    """Gradients of sum(tanh(x W)) returned by a replay on new data: FD and the closed form."""
    @mg.trace
    def loss_and_grads(W, x):
        loss = (x @ W).tanh().sum()
        return loss, mg.grad(loss, [W])[0]

    W = T(rng.normal(size=(3, 2)), device, requires_grad=True)
    loss_and_grads(W, T(rng.normal(size=(4, 3)), device))          # the trace
    x = rng.normal(size=(4, 3))
    loss, g = loss_and_grads(W, T(x, device))                       # a replay
    Wn = W.numpy()
    closed = x.T @ (1 - np.tanh(x @ Wn) ** 2)
    np.testing.assert_allclose(g.numpy(), closed, rtol=1e-12)
    fd, eps = np.zeros_like(Wn), 1e-6
    for i in np.ndindex(*Wn.shape):
        d = np.zeros_like(Wn)
        d[i] = eps
        fd[i] = (np.tanh(x @ (Wn + d)).sum() - np.tanh(x @ (Wn - d)).sum()) / (2 * eps)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-7, atol=1e-9)
    assert loss.numpy() == pytest.approx(np.tanh(x @ Wn).sum(), rel=1e-14)


def test_backward_inside_sets_grad_on_replay_and_accumulates(device, rng):
    """.grad set by backward() inside is an effect a replay reproduces, also when accumulating."""
    @mg.trace
    def f(W, x):
        ((x @ W) ** 2).sum().backward()

    W = T(rng.normal(size=(3, 2)), device, requires_grad=True)
    x = rng.normal(size=(5, 3))
    expect = 2 * x.T @ (x @ W.numpy())                   # d/dW sum((xW)^2)
    for _ in range(2):                                   # trace and replay, .grad None before
        W.grad = None
        f(W, T(x, device))
        np.testing.assert_allclose(W.grad.numpy(), expect, rtol=1e-12)
    f(W, T(x, device))                                   # .grad present: a new trace, accumulating
    f(W, T(x, device))                                   # ... and its replay
    np.testing.assert_allclose(W.grad.numpy(), 3 * expect, rtol=1e-12)
    assert f.programs == 2


def test_new_shapes_trace_again_and_old_programs_are_evicted(rng):
    f = mg.trace(lambda p, x, y: rnn_update(p, x, y), max_programs=2)
    p = rnn_params("cpu", rng)
    for T_ in (3, 4, 3, 5, 3):
        f(p, *batch("cpu", rng, T_=T_))
    assert f.programs == 2
    code = f.code(p, *batch("cpu", rng, T_=5))
    assert code.count("xp.tanh(") == 5                   # one per time step, nothing re-traced
    assert f.programs == 2


def test_non_tensor_arguments_are_part_of_the_key(rng):
    f = mg.trace(lambda x, k: x * k)
    x = mg.tensor(np.arange(3.0))
    assert f(x, 2.0).numpy().tolist() == [0.0, 2.0, 4.0]
    assert f(x, 3.0).numpy().tolist() == [0.0, 3.0, 6.0]
    assert f.programs == 2


def test_the_program_is_readable_and_drops_unused_work(rng):
    @mg.trace(optimize=False)                            # the calls as recorded (passes: test_trace_passes.py)
    def f(W, x):
        (x * 3.0).exp()                                  # its result is never used: not in the program
        return (x @ W).tanh()

    code = f.code(T(rng.normal(size=(3, 2)), "cpu"), T(rng.normal(size=(4, 3)), "cpu"))
    assert "xp.exp" not in code and "3.0" not in code
    lines = [ln.strip() for ln in code.splitlines()]
    assert lines[0] == "def f(r0, r1):"
    assert "r2 = xp.matmul(r1, r0)" in lines and "r3 = xp.tanh(r2)" in lines
    assert lines[-1] == "return (r3,)"


def test_a_traced_function_called_inside_a_trace_is_inlined(rng):
    inner = mg.trace(lambda x: x.tanh())
    outer = mg.trace(lambda x: inner(x) * 2.0)
    x = T(rng.normal(size=4), "cpu")
    np.testing.assert_array_equal(outer(x).numpy(), 2.0 * np.tanh(x.numpy()))
    assert inner.programs == 0 and outer.programs == 1


def test_outputs_keep_their_structure(rng):
    f = mg.trace(lambda x: {"a": (x + 1.0, None), "b": [x * 2.0], "n": 7})
    out = f(T(np.ones(2), "cpu"))
    out = f(T(np.ones(2), "cpu"))
    assert out["n"] == 7 and out["a"][1] is None
    assert out["a"][0].numpy().tolist() == [2.0, 2.0] and out["b"][0].numpy().tolist() == [2.0, 2.0]


def test_modules_as_arguments(rng):
    from rnn import SequenceModel
    model = SequenceModel(3, 4, 2, head="last_softmax", seed=0)
    copy = SequenceModel(3, 4, 2, head="last_softmax", seed=0)
    step = mg.trace(lambda m, x, y: m.loss(x, y))
    for _ in range(2):
        x, y = batch("cpu", rng)
        want = copy.loss(x, y)
        assert step(model, x, y).numpy() == want.numpy()


# --------------------------------------------------------------------------- the rules
def test_closure_tensor_is_refused(rng):
    W = T(rng.normal(size=(3, 2)), "cpu", requires_grad=True)
    f = mg.trace(lambda x: x @ W)
    with pytest.raises(mg.TraceError, match="did not come in through the traced function's arguments"):
        f(T(np.ones((1, 3)), "cpu"))


@pytest.mark.parametrize("peek", [lambda y: y.item(), lambda y: float(y), lambda y: bool(y > 0),
                                  lambda y: print(y), lambda y: y.numpy()])
def test_looking_at_values_is_refused(device, peek):
    def f(x):
        y = x.sum()
        peek(y)
        return y
    with pytest.raises(mg.TraceError, match="cannot look at values"):
        mg.trace(f)(T(np.ones(3), device))


def test_random_numbers_inside_are_refused():
    f = mg.trace(lambda x: x + mg.Generator(0, device=x.device).normal(x.shape))
    with pytest.raises(mg.TraceError, match="random numbers"):
        f(T(np.ones(3), "cpu"))


def test_state_kept_outside_is_refused(rng):
    W = T(rng.normal(size=(3, 3)), "cpu", requires_grad=True)
    opt = mg.SGD([W], lr=0.1, momentum=0.9)              # momentum buffers: kept by the optimizer

    def step(W, x):
        (x @ W).sum().backward()
        opt.step()
        opt.zero_grad()
    with pytest.raises(mg.TraceError, match="kept 1 array"):
        mg.trace(step)(W, T(np.ones((2, 3)), "cpu"))


def test_frames_held_by_a_profiler_are_not_keeping(rng):
    """A sampling profiler (Dask's) holds stack frames that have finished, and with them their
    locals: those arrays cannot be used again, so the trace goes on, and replays are right."""
    samples = []

    def f(x):
        y = x * 2.0
        samples.append(sys._getframe())                # what a stack sampler does
        return (y + 1.0).sum()
    g = mg.trace(f)
    for value in (1.0, 3.0):
        x = T(np.full(3, value), "cpu")
        assert g(x).item() == pytest.approx(3 * (2 * value + 1))
    assert samples and g.programs == 1


def test_kept_in_a_frame_and_a_box_is_refused():
    box, samples = [], []

    def f(x):
        y = x * 2.0
        box.append(y)
        samples.append(sys._getframe())
        return y.sum()
    with pytest.raises(mg.TraceError, match="kept 1 array"):
        mg.trace(f)(T(np.ones(2), "cpu"))


def test_leaked_array_refuses_later_use(rng):
    box = {}

    def f(x):
        box["y"] = y = x * 2.0
        return y
    with pytest.raises(mg.TraceError, match="kept 1 array"):
        mg.trace(f)(T(np.ones(2), "cpu"))
    with pytest.raises(mg.TraceError, match="used after the function returned"):
        box["y"] + 1.0


def test_replacing_data_of_an_argument_is_refused():
    def f(x):
        x.data = x.data * 2.0
    with pytest.raises(mg.TraceError, match="replaced .data"):
        mg.trace(f)(T(np.ones(2), "cpu"))


def test_writing_into_a_constant_is_refused():
    def f(x):
        c = mg.tensor(np.zeros(2))                      # host data: a constant of the trace
        c.data += x.data
        return c
    with pytest.raises(mg.TraceError, match="not part of the trace"):
        mg.trace(f)(T(np.ones(2), "cpu"))


def test_bad_arguments_are_refused(rng):
    x = T(np.ones(2), "cpu", requires_grad=True)
    with pytest.raises(mg.TraceError, match="must be leaves"):
        mg.trace(lambda a: a)(x * 2.0)
    with pytest.raises(mg.TraceError, match="hashable"):
        mg.trace(lambda a, opts: a)(x, {1, 2})
    with pytest.raises(mg.TraceError, match="one device"):
        mg.trace(lambda a, b: a)(x, T(np.ones(2), "strict"))


def test_a_failed_trace_leaves_the_arguments_as_they_were(rng):
    W = T(rng.normal(size=(2, 2)), "cpu", requires_grad=True)
    before = W.data

    def f(W):
        (W * W).sum().backward()
        raise ValueError("user error")
    with pytest.raises(ValueError, match="user error"):
        mg.trace(f)(W)
    assert W.data is before and W.grad is None and W.backend is mg.get_backend("cpu")
    assert (W * 1.0).numpy().shape == (2, 2)            # still a working tensor


# --------------------------------------------------------------------------- every primitive
def _first_and_second_order(f, n_args):
    """value, gradient and a Hessian-vector product of sum(f(...) * w): every VJP, and the
    VJPs of the VJPs (create_graph), go through the tracer."""
    def g(*xs_and_w):
        xs, w = xs_and_w[:n_args], xs_and_w[n_args]
        out = (f(*xs) * w).sum()
        grads = mg.grad(out, xs, create_graph=True)
        total = sum((gi * gi).sum() for gi in grads)
        second = mg.grad(total, xs, allow_unused=True) if total.requires_grad else None
        return out, grads, second
    return g


def _same(a, b):
    if isinstance(a, mg.Tensor):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, (tuple, list)):
        for u, v in zip(a, b):
            _same(u, v)
    else:
        assert a is None and b is None


def _cases():
    from test_primitives import BINARY, UNARY
    cases = {f"unary-{k}": (f, [(2, 3)], kind) for k, (f, kind) in UNARY.items()}
    cases.update({f"binary-{k}": (f, [(2, 3), (3,)], kind) for k, (f, kind) in BINARY.items()})
    cases.update({
        "sum-axis": (lambda x: x.sum(axis=0), [(3, 4)], "any"),
        "max": (lambda x: x.max(axis=1), [(3, 4)], "any"),
        "logsumexp": (lambda x: x.logsumexp(axis=-1), [(3, 4)], "any"),
        "softmax": (lambda x: x.softmax(), [(3, 4)], "any"),
        "getitem": (lambda x: x[1:, ::2] * x[0, 1], [(3, 4)], "any"),
        "fancy-index": (lambda x: x[np.array([0, 2, 0])], [(3, 4)], "any"),
        "concat-stack-split": (lambda a, b: mg.stack(mg.split(mg.concat([a, b], axis=1), 2, axis=1)), [(2, 3), (2, 3)], "any"),
        "matmul-transpose": (lambda a, b: (a @ b).T.reshape(-1), [(2, 3), (3, 4)], "any"),
        "cross-entropy": (lambda x: mg.cross_entropy(x, mg.tensor(np.array([0, 2, 1]), device=x.device)), [(3, 4)], "any"),
        "mse": (lambda a, b: mg.mse(a, b), [(3, 4), (3, 4)], "any"),
    })
    return cases


@pytest.mark.parametrize("name", sorted(_cases()))
def test_every_primitive_replays_exactly_to_second_order(name, device):
    from test_primitives import values
    f, shapes, kind = _cases()[name]
    g = _first_and_second_order(f, len(shapes))
    traced = mg.trace(g)
    for seed in (1, 2, 3):                               # the trace, then replays on new values
        xs = [T(values(seed * 10 + i, s, kind), device, requires_grad=True) for i, s in enumerate(shapes)]
        w = T(values(seed, f(*xs).shape), device)
        _same(traced(*xs, w), g(*xs, w))
    assert traced.programs == 1


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_cells_train_identically_traced(cell, device, rng):
    """A few SGD updates of a stacked model with each cell: traced updates equal eager ones."""
    from rnn import SequenceModel

    def update(model, x, y):
        loss = model.loss(x, y)
        loss.backward()
        norm = mg.clip_grad_norm(model.parameters(), 1.0)
        for p in model.parameters():
            p.data -= 0.1 * p.grad.data
        model.zero_grad()
        return loss, norm

    eager = SequenceModel(3, 4, 2, cell=cell, layers=2, seed=0, device=device)
    traced = SequenceModel(3, 4, 2, cell=cell, layers=2, seed=0, device=device)
    step = mg.trace(update)
    for _ in range(3):
        x, y = batch(device, rng, T_=5)
        _same(step(traced, x, y), update(eager, x, y))
    for a, b in zip(traced.parameters(), eager.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())



# --------------------------------------------------------------------------- user text is never code
def _injection(marker):
    """Text that, pasted into the program's source, is a statement creating ``marker``."""
    return f"x\n    open({str(marker)!r}, 'w').close()\n    #"


ODD_NAMES = ["injection", "q'uo\"te\\s", "cr\rlf\r\n    raise ValueError('injected')",
             "sep\u2028\x85\x0c", "nul\x00", "\x01" "0\x02 = 1"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_tensor_names_never_become_code(name, tmp_path):
    marker = tmp_path / "pwned"
    name = _injection(marker) if name == "injection" else name
    x, y = mg.tensor(np.arange(3.0), name=name), mg.tensor(np.ones(3), name="y")
    step = mg.trace(lambda xs: (xs[0] * 2.0 + xs[1]).tanh())      # in a list: their own names
    for _ in range(3):                                   # the trace, then replays
        np.testing.assert_array_equal(step([x, y]).numpy(), np.tanh(np.arange(3.0) * 2 + 1))
    assert not marker.exists()
    code = step.code([x, y])
    assert f"    #   r0: {name!r} (3,) float64\n    #   r1: y (3,) float64\n    r2 = " in code, code


def test_parameter_names_never_become_code(tmp_path):
    marker = tmp_path / "pwned"
    model = mg.nn.Module()
    setattr(model, _injection(marker), mg.nn.Parameter(np.ones(3)))
    model.d = {"k\n    raise ValueError('injected')": mg.nn.Parameter(np.full(3, 2.0))}
    step = mg.trace(lambda m, x: sum((x * p for p in m.parameters()), mg.zeros(3)))
    x = T(np.arange(3.0), "cpu")
    for _ in range(3):
        np.testing.assert_array_equal(step(model, x).numpy(), 3.0 * np.arange(3.0))
    assert not marker.exists()
    code = step.code(model, x)
    assert f"#   r0: {_injection(marker)!r} (3,) float64\n" in code
    assert "#   r1: \"d.k\\n    raise ValueError('injected')\" (3,) float64\n" in code


def test_keyword_argument_names_are_shown_escaped(tmp_path):
    marker = tmp_path / "pwned"
    key = _injection(marker)

    @mg.trace
    def f(**kw):
        return kw[key] * 2.0 + kw["plain"]

    a, b = T(np.arange(3.0), "cpu"), T(np.ones(3), "cpu")
    for _ in range(3):
        np.testing.assert_array_equal(f(**{key: a, "plain": b}).numpy(), np.arange(3.0) * 2 + 1)
    assert not marker.exists()
    code = f.code(**{key: a, "plain": b})
    assert f"#   r0: {key!r} (3,) float64" in code and "#   r1: plain (3,) float64" in code


@pytest.mark.parametrize("name", ["xp", "slice", "abs", "c0", "backend", "__builtins__", "ﬁx",
                                  "class", "a b\n    raise ValueError", 42])
def test_odd_function_names_cannot_break_the_program(name):
    """The def's name must not hide what the program reads (xp, slice, abs, constant c0...),
    must be the name Python binds ('ﬁx' is bound as 'fix') and must be a name at all."""
    class Update:                                        # a callable whose __name__ is anything
        __name__ = name

        def __call__(self, x, k):
            y = abs(x.data[k.data:] * np.float64(3.0))  # slice(r1, None, None), abs(), c0
            return x.backend.xp.tanh(y)

    step = mg.trace(Update())
    x, k = T(np.linspace(-1, 1, 5), "cpu"), mg.tensor(np.int64(1))
    for _ in range(3):
        np.testing.assert_array_equal(step(x, k), np.tanh(np.abs(x.numpy()[1:] * 3.0)))
    code = step.code(x, k)
    assert code.startswith("def traced(r0, r1):") and "slice(r1, None, None)" in code and "c0" in code


def test_a_plain_function_name_is_kept():
    def update_weights(x):
        return x * 2.0
    assert mg.trace(update_weights).code(T(np.ones(2), "cpu")).startswith("def update_weights(r0):")


class _Bound:
    """A slice bound (``__index__``) whose repr is code."""
    marker = None

    def __index__(self):
        return 1

    def __repr__(self):
        return f"1]\n    open({str(self.marker)!r}, 'w').close()\n    _ = r0[1"


@pytest.mark.parametrize("bound", ["object", "numpy"])
def test_index_values_that_are_not_ints_go_through_the_environment(bound, tmp_path):
    """Slice bounds are written as code only when they are plain ints: objects with
    ``__index__`` (whose repr is anything) and NumPy integers (repr ``np.int64(1)``) are constants."""
    _Bound.marker = tmp_path / "pwned"
    one = _Bound() if bound == "object" else np.int64(1)
    step = mg.trace(lambda x: x[one:] * 1.0 + x[1:] + x[-4:np.int64(5):one])
    x = T(np.arange(5.0), "cpu")
    for _ in range(3):
        np.testing.assert_array_equal(step(x).numpy(), 3 * np.arange(1.0, 5.0))
    assert not _Bound.marker.exists()
    assert "r0[1:]" in step.code(x) and "r0[-4:c" in step.code(x)


def test_strings_go_through_the_environment():
    step = mg.trace(lambda x: x.data.astype("float32"))
    x = T(np.arange(3.0), "cpu")
    for _ in range(2):
        out = step(x)
        assert out.dtype == np.float32 and out.tolist() == [0.0, 1.0, 2.0]
    assert "float32" not in step.code(x)


def test_keywords_that_are_not_names_are_refused():
    step = mg.trace(lambda x: x.backend.xp.sum(x.data, **{"axis=0) or print('injected'": 0}))
    with pytest.raises(mg.TraceError, match="cannot be written in a program"):
        step(T(np.ones(3), "cpu"))
