"""An adversarial review of the ops added for the peer engines' tests (tests/test_engine_peer2.py):
the defects it found, each with a test that failed before its fix, and the edges where a silent
wrong value would hide (ties, NaN, -0.0, empty and 0-d tensors, repeated indices).

Expected values come from definitions written here (loops over NumPy arrays, ``math.erf``,
central differences), never from the code under test.  PyTorch 2.13's numbers were compared
outside the suite; where minigrad differs on purpose, the test says so.
"""
import math

import numpy as np
import pytest

import minigrad as mg
from conftest import T


def one_line_error(kind, call, match):
    with pytest.raises(kind, match=match) as e:
        call()
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- scatter
def last_write_reference(x, dim, index, src):
    """out = x, then every entry of index writes src there, in index order (the last stays)."""
    out = x.copy()
    for pos in np.ndindex(*index.shape):
        target = list(pos)
        target[dim] = index[pos]
        out[tuple(target)] = src[pos]
    return out


def test_scatter_gradient_with_repeated_indices_is_the_derivative_of_the_last_write(device):
    """Defect (silent wrong gradient): a src entry overwritten by a later write along dim does
    not reach the output, so its derivative is 0; the first version gave it ḡ gathered at its
    index (PyTorch's rule, which PyTorch itself only vouches for with unique indices: its own
    gradcheck fails on repeats).  Central differences decide."""
    index = np.array([[1, 1, 0, 1], [2, 0, 2, 2]])                 # row 0: 1 written 3x; row 1: 2 written 3x
    x0, src0 = np.arange(8.0).reshape(2, 4) / 3, np.arange(1.0, 9.0).reshape(2, 4) / 5
    idx = T(index, device, dtype=np.int64)
    assert mg.gradcheck(lambda a, b: mg.scatter(a, 1, idx, b) ** 2, [T(x0, device, True), T(src0, device, True)])
    S = T(src0, device, True)
    g = np.arange(1.0, 9.0).reshape(2, 4)
    mg.scatter(T(x0, device), 1, idx, S).backward(T(g, device))
    # winners: row 0 -> entries 2 (target 0) and 3 (target 1); row 1 -> entries 1 (target 0), 3 (target 2)
    expected = np.array([[0.0, 0.0, g[0, 0], g[0, 1]], [0.0, g[1, 0], 0.0, g[1, 2]]])
    np.testing.assert_array_equal(S.grad.numpy(), expected)


def test_scatter_repeats_along_dim0_and_3d_match_the_loop(device):
    r = np.random.default_rng(11)
    for shape, dim in [((3, 4), 0), ((2, 5, 3), 1), ((2, 3, 4), -1)]:
        x = r.normal(size=shape)
        index = r.integers(0, shape[dim], (6,) + shape[1:] if dim == 0 else shape[:dim % len(shape)] + (6,)
                           + shape[dim % len(shape) + 1:])
        src = r.normal(size=index.shape)
        out = mg.scatter(T(x, device), dim, T(index, device, dtype=np.int64), T(src, device))
        np.testing.assert_array_equal(out.numpy(), last_write_reference(x, dim % len(shape), index, src))
        assert mg.gradcheck(lambda a, b: mg.scatter(a, dim, T(index, device, dtype=np.int64), b) * 1.5,
                            [T(x, device, True), T(src, device, True)])


# --------------------------------------------------------------------------- add / sub with alpha
def test_add_with_a_float_alpha_on_integers_is_refused_as_pytorch_does(device):
    """Defect (silently different): torch.add(int, int, alpha=2.5) refuses ("For integral input
    tensors, argument alpha must not be a floating point number"); minigrad gave a float result."""
    a = T(np.array([1, 2]), device, dtype=np.int64)
    for call in (lambda: mg.add(a, a, alpha=2.5), lambda: a.add(a, alpha=0.5), lambda: mg.sub(a, a, alpha=1.5),
                 lambda: a.sub(a, alpha=2.0)):
        one_line_error(TypeError, call, "integer tensors take an integer alpha")
    np.testing.assert_array_equal(mg.add(a, a, alpha=3).numpy(), [4, 8])           # an int alpha is fine
    np.testing.assert_array_equal(mg.sub(a, 1, alpha=2).numpy(), [-1, 0])
    f = T(np.array([1.0, 2.0]), device)
    np.testing.assert_array_equal(mg.add(f, a, alpha=0.5).numpy(), [1.5, 3.0])    # float result: fine


def test_add_is_an_ordinary_function_and_the_tape_still_says_add(device):
    """mg.add is a plain function now (for alpha=): the recorded op is still the primitive."""
    x, y = T(np.array([1.0, 2.0]), device, True), T(np.array([3.0, 4.0]), device, True)
    with mg.Tape() as tape:
        out = mg.add(x, y)
    assert tape.ops() == ["add"]
    out = mg.sub(x, y, alpha=2)
    out.sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [-2.0, -2.0])
    np.testing.assert_array_equal(x.sub(y, alpha=2).numpy(), [-5.0, -6.0])               # the methods too
    np.testing.assert_array_equal(x.add(y, alpha=-0.5).numpy(), [-0.5, 0.0])
    np.testing.assert_array_equal(mg.add(2.0, y).numpy(), [5.0, 6.0])


# --------------------------------------------------------------------------- cummax / cummin edges
@pytest.mark.parametrize("name, pick", [("cummax", max), ("cummin", min)])
def test_cum_extremes_signed_zeros_infinities_and_empty(name, pick, device):
    x = np.array([-0.0, 0.0, -0.0, -math.inf, math.inf, math.inf])
    v, i = getattr(mg, name)(T(x, device), 0)
    # ties take the later index, so the value is the later zero, with its sign
    expected_i = [0, 1, 2, 2 if name == "cummax" else 3, 4 if name == "cummax" else 3, 5 if name == "cummax" else 3]
    np.testing.assert_array_equal(i.numpy(), expected_i)
    np.testing.assert_array_equal(np.signbit(v.numpy()), np.signbit(x[expected_i]))
    assert i.dtype == np.int64
    for shape, dim in [((0,), 0), ((0, 3), 1), ((2, 0), 0)]:
        v, i = getattr(mg, name)(T(np.zeros(shape), device), dim)
        assert v.shape == shape and i.shape == shape and i.dtype == np.int64
    # non-contiguous input (a transpose of a slice)
    r = np.random.default_rng(3).integers(0, 3, (5, 4)).astype(float)
    v, i = getattr(mg, name)(T(r, device)[::2].T, 1)
    ref = r[::2].T
    for row in range(ref.shape[0]):
        for k in range(ref.shape[1]):
            best = pick(ref[row, :k + 1])
            assert i.numpy()[row, k] == max(j for j in range(k + 1) if ref[row, j] == best)


# --------------------------------------------------------------------------- logcumsumexp
def test_logcumsumexp_negative_dim_float32_and_a_gradcheck_along_dim0(device):
    r = np.random.default_rng(4)
    x = r.normal(size=(3, 4)) * 5
    ref = np.log(np.cumsum(np.exp(x), axis=0))
    np.testing.assert_allclose(mg.logcumsumexp(T(x, device), -2).numpy(), ref, rtol=1e-13)
    out32 = mg.logcumsumexp(T(x, device, dtype=np.float32), 1)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32.numpy(), np.log(np.cumsum(np.exp(x), axis=1)), rtol=2e-6)
    assert mg.gradcheck(lambda a: mg.logcumsumexp(a, 0), [T(x, device, True)])
    # closed form: x̄_j = Σ_{i≥j} ḡ_i softmax weight, along dim 0, with ḡ of both signs
    g = r.normal(size=x.shape)
    X = T(x, device, True)
    mg.logcumsumexp(X, 0).backward(T(g, device))
    expected = np.array([[sum(g[i, c] * math.exp(x[j, c] - ref[i, c]) for i in range(j, 3)) for c in range(4)]
                         for j in range(3)])
    np.testing.assert_allclose(X.grad.numpy(), expected, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- erfinv
def test_erfinv_subnormals_signed_zero_and_the_float32_result(device):
    x = np.array([5e-324, -5e-324, 1e-310, -0.0, 0.0, 1e-300])
    out = mg.erfinv(T(x, device)).numpy()
    # erfinv(x) = √π/2 x + O(x³): exact to the last place for |x| this small
    np.testing.assert_allclose(out, x * (math.sqrt(math.pi) / 2), rtol=4e-16, atol=0)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(x))
    near = np.array([1 - 2.0 ** -53, -(1 - 2.0 ** -53), 1 - 1e-10, 0.999999])
    y = mg.erfinv(T(near, device)).numpy()
    np.testing.assert_allclose([math.erfc(abs(v)) for v in y], 1 - np.abs(near), rtol=1e-13)
    v32 = np.array([0.5, -0.25, 0.99], np.float32)
    f32 = mg.erfinv(T(v32, device, dtype=np.float32))
    assert f32.dtype == np.float32
    # the float64 result rounded; the float64 one checked through math.erf
    f64 = mg.erfinv(T(v32, device)).numpy()
    np.testing.assert_allclose([math.erf(v) for v in f64], v32.astype(np.float64), rtol=1e-15)
    np.testing.assert_array_equal(f32.numpy(), f64.astype(np.float32))


# --------------------------------------------------------------------------- dropout, Module.train / eval
def test_dropout_mask_is_the_same_on_replay_and_different_after(device):
    mg.manual_seed(21)
    a = mg.dropout(T(np.ones(400), device), 0.25).numpy()
    b = mg.dropout(T(np.ones(400), device), 0.25).numpy()
    mg.manual_seed(21)
    c = mg.dropout(T(np.ones(400), device), 0.25).numpy()
    np.testing.assert_array_equal(a, c)
    assert not np.array_equal(a, b)                                     # the stream moves on
    assert set(np.unique(a)) == {0.0, 1 / 0.75}                         # kept ones scaled by 1/(1 - p)


def test_module_train_eval_reaches_rnn_models():
    from rnn.sequence import SequenceModel
    model = SequenceModel(3, 4, 2, head="last_softmax", seed=0)
    subs = [v for v in vars(model).values() if isinstance(v, mg.nn.Module)]
    assert subs and model.eval() is model
    assert not model.training and all(not m.training for m in subs)
    names = [n for n, _ in model.named_parameters()]
    model.train()
    assert model.training and all(m.training for m in subs)
    assert [n for n, _ in model.named_parameters()] == names and "training" not in model.state_dict()


def test_dropout_and_rrelu_inside_a_trace_raise_trace_error_as_every_random_draw():
    """Defect (misleading): mg.trace's rule 3 says breaking it raises mg.TraceError, as
    mg.rand_like does inside a trace; dropout and rrelu(training=True) raised a bare RuntimeError."""
    x = mg.tensor(np.ones((2, 3)))
    for f in (lambda t: mg.dropout(t, 0.5), lambda t: mg.rrelu(t, training=True), lambda t: mg.nn.Dropout(0.2)(t),
              lambda t: mg.rand_like(t) * t):
        one_line_error(mg.TraceError, lambda: mg.trace(f)(x), "random numbers inside a traced function")
    evaluation = mg.nn.Dropout(0.2).eval()                 # evaluation mode draws nothing: traced as the identity
    np.testing.assert_array_equal(mg.trace(lambda t: evaluation(t) * 2)(x).numpy(), np.full((2, 3), 2.0))


def test_a_generator_made_before_the_trace_refuses_to_draw_inside_it():
    """Defect (misleading, order-dependent): once the default generator existed (any earlier
    mg.rand), mg.rand_like inside a trace failed as "a tensor that did not come in through the
    traced function's arguments"; a generator passed in by closure did the same.  Both now say
    what is wrong, whatever ran before."""
    x = mg.tensor(np.ones((2, 3)))
    mg.manual_seed(0)
    mg.rand(2)                                              # the default generator exists now
    own = mg.Generator(1)
    for f in (lambda t: mg.rand_like(t) * t, lambda t: mg.randn(2, 3) * t, lambda t: own.randn(2, 3) * t,
              lambda t: own.integers(0, 3, (2, 3)) * t, lambda t: mg.randint(0, 3, (2, 3)) * t):
        one_line_error(mg.TraceError, lambda: mg.trace(f)(x), "random numbers inside a traced function")
    a = own.randn(2)                                        # outside a trace the generators still draw
    assert a.shape == (2,) and np.isfinite(a.numpy()).all()


# --------------------------------------------------------------------------- index range checks and mg.trace
@pytest.mark.parametrize("name", ["gather", "scatter", "scatter_add"])
def test_a_traced_program_checks_an_index_argument_on_every_replay(name, device):
    """Defect (silent wrong result): the range check was left out while tracing, so a replay
    with an index tensor argument holding -1 counted it from the end (NumPy's rule) where the
    eager call refuses.  The program now calls the backend's check on each replay."""
    x = T(np.arange(12.0).reshape(3, 4), device)
    f = {"gather": lambda x, i: mg.gather(x, 1, i), "scatter": lambda x, i: mg.scatter(x, 1, i, x),
         "scatter_add": lambda x, i: mg.scatter_add(x, 1, i, x)}[name]
    step = mg.trace(f)
    good = T(np.array([[0, 1], [1, 2], [3, 3]]), device, dtype=np.int64)
    for _ in range(2):                                          # the trace, then a replay
        np.testing.assert_array_equal(step(x, good).numpy(), f(x, good).numpy())
    for bad in ([[-1, 1], [1, 2], [3, 3]], [[0, 1], [1, 4], [3, 3]]):
        bad = T(np.array(bad), device, dtype=np.int64)
        one_line_error(IndexError, lambda: f(x, bad), r"index values must be in \[0, 4\)")       # eager
        one_line_error(IndexError, lambda: step(x, bad), r"index values must be in \[0, 4\)")    # replayed
    constant = mg.trace(lambda x: mg.gather(x, 1, np.array([[4], [0], [1]])))                    # checked once, at the trace
    one_line_error(IndexError, lambda: constant(x), "got values from 0 to 4")


def test_einsum_says_when_a_repeated_letter_names_two_sizes_in_one_operand():
    one_line_error(ValueError, lambda: mg.einsum("ii->i", mg.tensor(np.ones((3, 4)))),
                   r"repeated within 'ii' \(a diagonal\), which needs equal sizes")
    with pytest.raises(ValueError) as e:                        # two operands: no such remark
        mg.einsum("ij,jk", mg.tensor(np.ones((2, 3))), mg.tensor(np.ones((4, 5))))
    assert "repeated" not in str(e.value)
