"""The last PyTorch ops and habits a peer engine's op tests reached for: ``cummax`` / ``cummin``,
``logcumsumexp``, ``erfinv``, dropout (``mg.dropout``, ``nn.Dropout``, ``Module.train`` /
``eval``), ``rrelu(training=True)``, ``scatter``, einsum with a repeated letter (diagonals,
traces), and four defects: ``addmm(beta=0)``'s input gradient, grad-mode decorators on
generator functions, and indices out of range in gather / scatter / index ops.

Values are checked against references written here (loops over NumPy arrays, ``math.erf``,
``np.einsum``, published constants); first derivatives against central differences in float64
(``mg.gradcheck``) and against closed forms written in the test; second derivatives with
``gradcheck(order=2)`` for the smooth ones.  PyTorch 2.13's numbers were compared outside the
suite (values, indices, dtypes, shapes, gradients); the conventions measured there (ties and NaN
in cummax, addmm's zeros) are asserted here from their definitions; scatter's src gradient is
PyTorch's where the indices are unique (with repeats, 0 for an overwritten entry: the derivative).
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


def ones_like(out, device):
    return T(np.ones(out.shape), device)


# --------------------------------------------------------------------------- cummax, cummin
def running_reference(x, largest):
    """PyTorch's rule written as a loop: a later value takes over when it is >= (<=) the
    current one, or when it is NaN; once a NaN is the current one, only a later NaN takes over."""
    values, indices = np.empty_like(x), np.empty(x.shape, np.int64)
    best, at = x[0], 0
    for k, v in enumerate(x):
        if k == 0 or np.isnan(v) or (not np.isnan(best) and (v >= best if largest else v <= best)):
            best, at = v, k
        values[k], indices[k] = best, at
    return values, indices


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_values_indices_ties_and_nan(name, device):
    largest = name == "cummax"
    x = np.array([1.0, 3.0, 3.0, 2.0, np.nan, 5.0, np.nan, 0.0, -1.0, 3.0, 3.0])
    v, i = getattr(mg, name)(T(x, device), 0)                                   # unpacks as a pair
    ref_v, ref_i = running_reference(x, largest)
    np.testing.assert_array_equal(v.numpy(), ref_v)
    np.testing.assert_array_equal(i.numpy(), ref_i)
    assert i.dtype == np.int64
    y = np.array([2.0, 1.0, 1.0, 4.0, 4.0, 0.0])                                # ties: the last index
    out = getattr(T(y, device), name)(-1)
    expected = [0, 0, 0, 3, 4, 4] if largest else [0, 1, 2, 2, 2, 5]
    assert out.indices.numpy().tolist() == expected
    assert out.values.numpy().tolist() == y[expected].tolist()
    r = np.random.default_rng(0).integers(-3, 4, (3, 4, 5)).astype(np.float64)   # many ties
    for dim in (0, 1, 2, -1, -3):
        got = getattr(mg, name)(T(r, device), dim)
        moved = np.moveaxis(r, dim, -1)
        refs = [running_reference(row, largest) for row in moved.reshape(-1, moved.shape[-1])]
        ref_v = np.moveaxis(np.array([a for a, _ in refs]).reshape(moved.shape), -1, dim)
        ref_i = np.moveaxis(np.array([b for _, b in refs]).reshape(moved.shape), -1, dim)
        np.testing.assert_array_equal(got.values.numpy(), ref_v)
        np.testing.assert_array_equal(got.indices.numpy(), ref_i)
    ints = getattr(mg, name)(T([1, 3, 0, 3], device, dtype=np.int64), 0)
    assert ints.values.dtype == np.int64 and ints.indices.numpy().tolist() == ([0, 1, 1, 3] if largest else [0, 0, 2, 2])
    s = getattr(mg, name)(T(2.5, device), 0)
    assert s.values.shape == () and s.values.item() == 2.5 and s.indices.item() == 0
    assert getattr(mg, name)(T(np.zeros((2, 0)), device), 1).values.shape == (2, 0)
    f32 = getattr(mg, name)(T(r, device, dtype=np.float32), 1).values
    assert f32.dtype == np.float32 and f32.shape == r.shape


@pytest.mark.parametrize("name", ["cummax", "cummin"])
def test_cummax_cummin_gradient_is_an_index_add_at_the_winners(name, device):
    x = np.array([[1.0, 3.0, 3.0, 2.0, 5.0], [4.0, 0.0, -1.0, 6.0, 6.0]])
    g = np.arange(1.0, 11.0).reshape(2, 5) ** 2
    X = T(x, device, True)
    out = getattr(mg, name)(X, 1)
    out.values.backward(T(g, device))
    expected = np.zeros_like(x)
    for row in range(2):
        for k, j in enumerate(out.indices.numpy()[row]):
            expected[row, j] += g[row, k]                                       # x̄_j = Σ_{k: i_k = j} ḡ_k
    np.testing.assert_array_equal(X.grad.numpy(), expected)
    distinct = np.random.default_rng(1).permutation(20).reshape(4, 5) * 0.37       # no ties: smooth there
    for order in (1, 2):
        assert mg.gradcheck(lambda t: getattr(t, name)(0).values ** 2, [T(distinct, device, True)], order=order)


# --------------------------------------------------------------------------- logcumsumexp
def test_logcumsumexp_values_stable_at_extremes(device):
    x = np.random.default_rng(2).normal(size=(3, 4)) * 3
    for dim in (0, 1, -1, -2):
        np.testing.assert_allclose(mg.logcumsumexp(T(x, device), dim).numpy(),
                                   np.log(np.cumsum(np.exp(x), axis=dim)), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(T(x, device).logcumsumexp(dim).numpy(),
                                   np.log(np.cumsum(np.exp(x), axis=dim)), rtol=1e-14, atol=1e-14)
    inf = math.inf
    big = mg.logcumsumexp(T([0.0, 1000.0, -inf, 0.0, 1000.0], device), 0).numpy()
    np.testing.assert_allclose(big, [0.0, 1000.0, 1000.0, 1000.0, 1000.0 + math.log(2)], rtol=1e-15)
    small = mg.logcumsumexp(T([-1000.0, -1000.0, -inf], device), 0).numpy()
    np.testing.assert_allclose(small, [-1000.0, -1000.0 + math.log(2), -1000.0 + math.log(2)], rtol=1e-15)
    with np.errstate(invalid="ignore"):
        special = mg.logcumsumexp(T([-inf, -inf, 1.0, inf, 2.0, np.nan, 3.0], device), 0).numpy()
    assert special[:2].tolist() == [-inf, -inf] and special[2] == 1.0
    assert special[3:5].tolist() == [inf, inf] and np.isnan(special[5:]).all()
    assert mg.logcumsumexp(T(2.0, device), 0).item() == 2.0
    f32 = mg.logcumsumexp(T(x, device, dtype=np.float32), 1)
    assert f32.dtype == np.float32 and f32.shape == (3, 4)
    assert mg.logcumsumexp(T(np.zeros((2, 0)), device), 1).shape == (2, 0)


def test_logcumsumexp_gradient_closed_form_and_second_order(device):
    x = np.array([[0.3, -1.2, 2.0, 0.7], [5.0, -3.0, 1.0, 1.0]])
    g = np.array([[1.0, -2.0, 0.5, 3.0], [-1.0, 0.25, 2.0, -0.5]])
    X = T(x, device, True)
    mg.logcumsumexp(X, 1).backward(T(g, device))
    out = np.log(np.cumsum(np.exp(x), axis=1))
    expected = np.array([[sum(g[r, i] * math.exp(x[r, j] - out[r, i]) for i in range(j, 4)) for j in range(4)]
                         for r in range(2)])                                # x̄_j = Σ_{i≥j} ḡ_i e^(x_j - out_i)
    np.testing.assert_allclose(X.grad.numpy(), expected, rtol=1e-13)
    for order in (1, 2):
        assert mg.gradcheck(lambda t: mg.logcumsumexp(t, 0), [T(x * 3, device, True)], order=order)
        assert mg.gradcheck(lambda t: mg.logcumsumexp(t, -1), [T(x, device, True)], order=order)
    Y = T([-math.inf, 0.0, 700.0], device, True)                            # no NaN, no overflow
    mg.logcumsumexp(Y, 0).backward(T([1.0, 1.0, 1.0], device))
    np.testing.assert_allclose(Y.grad.numpy(), [0.0, 1.0 + math.exp(-700.0), 1.0], rtol=1e-15)


# --------------------------------------------------------------------------- erfinv
def test_erfinv_inverts_erf_and_its_edges(device):
    x = np.concatenate([np.linspace(-0.999, 0.999, 41), 1 - np.logspace(-15, -1, 8), [-1 + 1e-12, 1e-300]])
    y = mg.erfinv(T(x, device)).numpy()
    back = np.array([math.erf(v) for v in y])
    np.testing.assert_allclose(back, x, rtol=4.5e-16, atol=0)               # two roundings (erfinv, then erf)
    tail = np.array([math.erfc(v) for v in y[41:48]])                       # 1 - x itself, to 1e-13 relative
    np.testing.assert_allclose(tail, 1 - x[41:48], rtol=1e-13)
    assert abs(mg.erfinv(T(0.5, device)).item() - 0.4769362762044699) < 1e-16   # A&S table value
    assert T([0.5], device).erfinv().numpy()[0] == mg.erfinv(T([0.5], device)).numpy()[0]
    edges = mg.erfinv(T([1.0, -1.0, 1.5, -2.0, np.nan, -0.0], device)).numpy()
    assert edges[0] == math.inf and edges[1] == -math.inf and np.isnan(edges[2:5]).all()
    assert edges[5] == 0.0 and math.copysign(1.0, edges[5]) == -1.0
    f32 = mg.erfinv(T([0.3, -0.99], device, dtype=np.float32))
    assert f32.dtype == np.float32
    np.testing.assert_allclose([math.erf(v) for v in f32.numpy().astype(np.float64)], [0.3, -0.99], rtol=3e-7)
    assert mg.erfinv(T([0, 1], device, dtype=np.int64)).dtype == np.float64


def test_erfinv_derivative_closed_form_and_second_order(device):
    x = np.array([-0.95, -0.4, 0.0, 0.2, 0.8, 0.99])
    X = T(x, device, True)
    mg.erfinv(X).backward(T(np.ones(6), device))
    y = mg.erfinv(T(x, device)).numpy()
    np.testing.assert_allclose(X.grad.numpy(), 1 / (2 / math.sqrt(math.pi) * np.exp(-y * y)), rtol=1e-13)
    for order in (1, 2):
        assert mg.gradcheck(mg.erfinv, [T(x[1:-1], device, True)], order=order)


# --------------------------------------------------------------------------- dropout, train / eval
def test_dropout_statistics_and_determinism(device):
    n, p = 20000, 0.3
    mg.manual_seed(11)
    out = mg.dropout(T(np.ones(n), device), p).numpy()
    kept = (out != 0).mean()
    assert abs(kept - (1 - p)) < 4 * math.sqrt(p * (1 - p) / n)            # binomial: 4 standard deviations
    assert set(np.unique(out)) == {0.0, 1 / (1 - p)}                        # inverted: kept values scaled
    assert abs(out.mean() - 1.0) < 4 * math.sqrt(p / (1 - p) / n)           # the mean is preserved
    mg.manual_seed(11)
    np.testing.assert_array_equal(mg.dropout(T(np.ones(n), device), p).numpy(), out)   # same seed, same mask
    assert not np.array_equal(mg.dropout(T(np.ones(n), device), p).numpy(), out)
    a = mg.dropout(T(np.ones(50), device), 0.5, generator=mg.Generator(5, device=device)).numpy()
    b = mg.dropout(T(np.ones(50), device), 0.5, generator=mg.Generator(5, device=device)).numpy()
    np.testing.assert_array_equal(a, b)
    x = T(np.arange(1.0, 5.0), device)
    assert mg.dropout(x, 0.4, training=False) is x and mg.dropout(x, 0.0) is x
    assert mg.dropout(x, 1.0).numpy().tolist() == [0.0] * 4
    assert mg.dropout(T(np.ones(4), device, dtype=np.float32), 0.5).dtype == np.float32
    for bad in (-0.1, 1.5):
        one_line_error(ValueError, lambda: mg.dropout(x, bad), r"0 <= p <= 1")
    one_line_error(TypeError, lambda: mg.dropout(T([1, 2], device, dtype=np.int64), 0.5), "floating")


def test_dropout_gradient_is_the_scaled_mask(device):
    x = np.random.default_rng(3).uniform(0.5, 2.0, (6, 7))
    X = T(x, device, True)
    mg.manual_seed(4)
    out = mg.dropout(X, 0.25)
    out.backward(T(np.full((6, 7), 2.0), device))
    mask = out.numpy() / x                                                 # 0 or 1/(1 - p)
    assert set(np.round(np.unique(mask), 12)) == {0.0, round(1 / 0.75, 12)}
    np.testing.assert_allclose(X.grad.numpy(), 2.0 * mask, rtol=1e-15)

    def fixed_mask(t):
        mg.manual_seed(4)                                                  # the same mask at every evaluation
        return mg.dropout(t, 0.25) ** 2
    assert mg.gradcheck(fixed_mask, [T(x, device, True)])
    Z = T(x, device, True)
    mg.dropout(Z, 1.0).sum().backward()
    assert np.all(Z.grad.numpy() == 0)


class Net(mg.nn.Module):
    def __init__(self):
        self.inner = mg.nn.Dropout(0.5)
        self.layers = [mg.nn.Dropout(0.2), mg.nn.Linear(2, 2)]

    def forward(self, x):
        return self.layers[1](self.layers[0](self.inner(x)))


def test_module_train_eval_and_the_dropout_module(device):
    net = Net()
    assert net.training and net.inner.training and net.layers[0].training
    assert net.eval() is net
    assert not net.training and not net.inner.training and not net.layers[0].training and not net.layers[1].training
    x = T(np.ones((3, 2)), device)
    assert net.inner(x) is x                                                # evaluation mode: the identity
    assert net.train() is net and net.inner.training and net.layers[1].training
    assert net.train(False) is net and not net.layers[0].training
    drop = mg.nn.Dropout(0.5, generator=mg.Generator(0, device=device))
    assert drop.training and (drop(T(np.ones(400), device)).numpy() == 0).any()
    one_line_error(ValueError, lambda: mg.nn.Dropout(2.0), r"0 <= p <= 1")
    one_line_error(TypeError, lambda: net.train("yes"), "True or False")
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Dropout", "Dropout", "Linear"]


def test_rrelu_training_draws_slopes_in_the_range(device):
    x = np.concatenate([-np.linspace(0.5, 2.0, 400), [0.0, 1.0, 3.0]])
    X = T(x, device, True)
    mg.manual_seed(2)
    out = mg.rrelu(X, 0.1, 0.3, training=True)
    slopes = out.numpy()[:400] / x[:400]
    assert slopes.min() >= 0.1 and slopes.max() <= 0.3 and slopes.std() > 0.04     # U[0.1, 0.3]: sd 0.058
    assert out.numpy()[401:].tolist() == [1.0, 3.0]
    out.backward(T(np.ones(len(x)), device))
    np.testing.assert_allclose(X.grad.numpy()[:400], slopes, rtol=1e-13)
    assert X.grad.numpy()[401:].tolist() == [1.0, 1.0]
    mg.manual_seed(2)
    np.testing.assert_array_equal(mg.rrelu(T(x, device), 0.1, 0.3, training=True).numpy(), out.numpy())
    np.testing.assert_allclose(mg.rrelu(T([-2.0], device), 0.1, 0.3).numpy(), [-0.4])   # evaluation: the mean slope


# --------------------------------------------------------------------------- scatter
def scatter_reference(x, dim, index, src):
    out = x.copy()
    for pos in np.ndindex(*index.shape):                                    # in index order: the last write stays
        target = list(pos)
        target[dim] = index[pos]
        out[tuple(target)] = src[pos]
    return out


def test_scatter_values_last_write_and_gradients(device):
    r = np.random.default_rng(5)
    index = r.integers(0, 3, (3, 4, 5))                                    # repeats along every dim
    for dim in (0, 1, 2, -1):
        x, src = r.normal(size=(4, 5, 6)), r.normal(size=(3, 4, 5))
        d = dim % 3
        X, S = T(x, device, True), T(src, device, True)
        out = X.scatter(dim, T(index, device, dtype=np.int64), S)
        np.testing.assert_array_equal(out.numpy(), scatter_reference(x, d, index, src))
        g = r.normal(size=out.shape)
        out.backward(T(g, device))
        written = scatter_reference(np.zeros_like(x), d, index, np.ones(index.shape)) == 1
        np.testing.assert_array_equal(X.grad.numpy(), np.where(written, 0.0, g))      # zeros where written
        stays = scatter_reference(np.zeros(x.shape, np.int64), d, index, np.arange(1, index.size + 1).reshape(index.shape))
        won = np.arange(1, index.size + 1).reshape(index.shape) == np.take_along_axis(
            stays[:3, :4, :5] if d != 0 else stays[:, :4, :5], index, d)     # the entry whose write stayed
        np.testing.assert_array_equal(S.grad.numpy(), np.where(won, np.take_along_axis(
            g[:3, :4, :5] if d != 0 else g[:, :4, :5], index, d), 0.0))   # ḡ gathered at index; 0 if overwritten
    x = r.normal(size=(4, 5, 6))
    np.testing.assert_array_equal(mg.scatter(T(x, device), 1, T(index, device, dtype=np.int64), 3.0).numpy(),
                                  scatter_reference(x, 1, index, np.full(index.shape, 3.0)))
    np.testing.assert_array_equal(T(x, device).scatter(1, T(index, device, dtype=np.int64), value=-2.0).numpy(),
                                  scatter_reference(x, 1, index, np.full(index.shape, -2.0)))
    unique = np.array([[2, 0, 1], [0, 1, 2]])
    assert mg.gradcheck(lambda a, b: mg.scatter(a, 1, T(unique, device, dtype=np.int64), b) ** 2,
                        [T(r.normal(size=(2, 4)), device, True), T(r.normal(size=(2, 3)), device, True)])
    one_line_error(ValueError, lambda: mg.scatter(T(x, device), 1, T(index, device, dtype=np.int64), 1.0, reduce="add"),
                   "scatter_add")


# --------------------------------------------------------------------------- einsum diagonals
@pytest.mark.parametrize("spec, shapes", [("ii->i", [(4, 4)]), ("ii", [(4, 4)]), ("iij->j", [(3, 3, 5)]),
                                          ("bii->bi", [(2, 3, 3)]), ("ii,i->i", [(4, 4), (4,)]),
                                          ("...ii->...", [(2, 3, 3)]), ("iji->ij", [(3, 2, 3)])])
def test_einsum_with_a_repeated_letter(spec, shapes, device):
    r = np.random.default_rng(6)
    xs = [r.normal(size=s) for s in shapes]
    out = mg.einsum(spec, *[T(v, device) for v in xs])
    np.testing.assert_allclose(out.numpy(), np.einsum(spec, *xs), rtol=1e-14, atol=1e-14)
    assert mg.gradcheck(lambda *ts: mg.einsum(spec, *ts), [T(v, device, True) for v in xs])


def test_einsum_diagonal_gradient_writes_into_the_diagonal(device):
    A = T(np.arange(9.0).reshape(3, 3), device, True)
    mg.einsum("ii->i", A).backward(T([1.0, 2.0, 3.0], device))
    np.testing.assert_array_equal(A.grad.numpy(), np.diag([1.0, 2.0, 3.0]))
    B = T(np.ones((2, 2)), device, True)
    mg.einsum("ii", B).backward()                                           # the trace
    np.testing.assert_array_equal(B.grad.numpy(), np.eye(2))
    one_line_error(ValueError, lambda: mg.einsum("ii->i", T(np.ones((2, 3)), device)), "letter 'i' has size")


# --------------------------------------------------------------------------- defects
def test_addmm_with_beta_zero_gives_input_zeros_and_ignores_nan(device):
    inp = T([[np.nan, np.inf], [1.0, -np.inf]], device, True)
    a, b = T([[1.0, 2.0], [3.0, 4.0]], device, True), T(np.eye(2), device)
    out = mg.addmm(inp, a, b, beta=0)
    np.testing.assert_array_equal(out.numpy(), [[1.0, 2.0], [3.0, 4.0]])
    out.sum().backward()
    assert inp.grad is not None and np.all(inp.grad.numpy() == 0)
    np.testing.assert_array_equal(a.grad.numpy(), np.ones((2, 2)))
    row = T([5.0, 6.0], device, True)                                      # broadcast input
    mg.addmm(row, a, b, beta=0, alpha=2).sum().backward()
    assert row.grad.numpy().tolist() == [0.0, 0.0]


@pytest.mark.parametrize("decorate, inside", [(lambda: mg.no_grad(), False), (lambda: mg.no_grad, False),
                                              (lambda: mg.enable_grad(), True), (lambda: mg.set_grad_enabled(False), False)])
def test_grad_mode_decorators_apply_during_each_step_of_a_generator(decorate, inside):
    @decorate()
    def steps():
        seen = [mg.is_grad_enabled()]
        received = yield seen[-1]
        seen.append(mg.is_grad_enabled())
        yield (received, mg.is_grad_enabled())
        return seen

    outside = not inside
    with mg.set_grad_enabled(outside):
        gen = steps()
        assert mg.is_grad_enabled() is outside
        assert next(gen) is inside
        assert mg.is_grad_enabled() is outside                             # restored between steps
        assert gen.send("hello") == ("hello", inside)
        assert mg.is_grad_enabled() is outside
        with pytest.raises(StopIteration) as stop:
            next(gen)
        assert stop.value.value == [inside, inside]
        assert mg.is_grad_enabled() is outside
    assert mg.is_grad_enabled()


def test_grad_mode_decorated_generator_passes_exceptions_and_close():
    log = []

    @mg.no_grad()
    def steps():
        try:
            yield 1
        except KeyError:
            log.append(("caught", mg.is_grad_enabled()))
            yield 2
        finally:
            log.append(("closed", mg.is_grad_enabled()))

    gen = steps()
    next(gen)
    assert gen.throw(KeyError("k")) == 2
    gen.close()
    assert log == [("caught", False), ("closed", False)] and mg.is_grad_enabled()


def test_indices_out_of_range_are_refused_as_pytorch_does(device):
    x = T(np.zeros((3, 4)), device)
    for bad in ([[-1, 0, 0, 0]], [[3, 0, 0, 0]]):
        idx = T(bad, device, dtype=np.int64)
        one_line_error(IndexError, lambda: mg.gather(x, 0, idx), r"gather: index values must be in \[0, 3\)")
        one_line_error(IndexError, lambda: x.scatter(0, idx, 1.0), r"scatter: index values must be in \[0, 3\)")
        one_line_error(IndexError, lambda: x.scatter_add(0, idx, T(np.ones((1, 4)), device)),
                       r"scatter_add: index values must be in \[0, 3\)")
        one_line_error(IndexError, lambda: x.index_select(0, idx.reshape(-1)), r"index_select: .*\[0, 3\)")
        one_line_error(IndexError, lambda: x.index_add(0, idx.reshape(-1), T(np.ones((4, 4)), device)),
                       r"index_add: .*\[0, 3\)")
    ok = T([[2, 0, 1, 2]], device, dtype=np.int64)
    assert mg.gather(x, 0, ok).shape == (1, 4) and x.scatter_add(0, ok, T(np.ones((1, 4)), device)).sum().item() == 4.0


def test_add_and_sub_take_alpha_as_torch(device):
    x, y = T([1.0, 2.0], device, True), T([10.0, 20.0], device, True)
    assert mg.add(x, y, alpha=2).numpy().tolist() == [21.0, 42.0]
    assert mg.sub(x, y, alpha=0.5).numpy().tolist() == [-4.0, -8.0]
    assert mg.add(x, 3).numpy().tolist() == [4.0, 5.0] and mg.add(3, x).numpy().tolist() == [4.0, 5.0]
    mg.sub(x, y, alpha=3).sum().backward()
    assert x.grad.numpy().tolist() == [1.0, 1.0] and y.grad.numpy().tolist() == [-3.0, -3.0]


def test_gather_scatter_take_a_0d_tensor_as_one_element(device):
    x, src = T(1.5, device, True), T(4.0, device, True)
    zero = T(0, device, dtype=np.int64)
    assert mg.gather(x, 0, zero).item() == 1.5 and mg.gather(x, 0, zero).shape == ()
    out = x.scatter(-1, zero, src)
    assert out.shape == () and out.item() == 4.0
    out.backward()
    assert x.grad.item() == 0.0 and src.grad.item() == 1.0                 # x overwritten; src̄ = ḡ
    assert x.scatter_add(0, zero, src).item() == 5.5 and x.scatter(0, zero, 2.0).item() == 2.0
    one_line_error(IndexError, lambda: mg.gather(x, 0, T(1, device, dtype=np.int64)), r"\[0, 1\)")
