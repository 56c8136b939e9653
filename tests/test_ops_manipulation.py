"""manipulation.py and linalg.py: values against NumPy references written here, gradients
against closed forms (the cotangent moved back by hand) and against central differences of
first and second order.

Inputs are 3-D with unequal sides (2, 3, 4), so that a VJP using the wrong axis fails, and
negative dims are used throughout.  Every gradcheck differentiates ``tanh(op(x))``, not
``op(x)``: these ops are linear, so without a nonlinearity their second derivative would be 0
whatever the adjoint primitives did."""
import numpy as np
import pytest

import minigrad as mg
from conftest import T

SHAPE = (2, 3, 4)


@pytest.fixture
def x_np(rng):
    return rng.uniform(-1.5, 1.5, SHAPE)


def check(f, arrays, device):
    """First and second derivatives of tanh(f(...)) against central differences."""
    xs = [T(a, device, requires_grad=True) for a in arrays]
    for order in (1, 2):
        assert mg.gradcheck(lambda *t: mg.tanh(f(*t)), xs, order=order)


def vjp(f, arrays, u, device):
    """The gradients of <u, f(x...)>: the VJP of f applied to the cotangent u, as NumPy."""
    xs = [T(a, device, requires_grad=True) for a in arrays]
    grads = mg.grad((f(*xs) * T(u, device)).sum(), xs)
    return [g.numpy() for g in grads]


def idx(array, device):
    return mg.tensor(np.asarray(array, dtype=np.int64), device=device)


# =========================================================================== take_along_axis / gather
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_take_along_axis_values_and_gradients(axis, device, rng, x_np):
    n = SHAPE[axis]
    shape = list(SHAPE)
    shape[axis] = 5                               # more picks than elements: repeats certain
    i = rng.integers(-n, n, shape)                # negative indices count from the end
    t = idx(i, device)
    out = mg.take_along_axis(T(x_np, device), t, axis)
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(x_np, i, axis))
    u = rng.standard_normal(shape)
    expected = np.zeros(SHAPE)                    # the cotangent added back, repeats summed
    for pos in np.ndindex(*shape):
        src = list(pos)
        src[axis] = i[pos]
        expected[tuple(src)] += u[pos]
    (g,) = vjp(lambda x: mg.take_along_axis(x, t, dim=axis), [x_np], u, device)
    np.testing.assert_allclose(g, expected, atol=1e-12)
    if axis in (-2, 2):
        check(lambda x: mg.take_along_axis(x, t, axis), [x_np], device)


def test_take_along_axis_broadcasts_and_flattens(device, rng, x_np):
    i = rng.integers(0, 3, (1, 2, 4))             # broadcast over axis 0
    out = mg.take_along_axis(T(x_np, device), idx(i, device), -2)
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(x_np, i, -2))
    check(lambda x: mg.take_along_axis(x, idx(i, device), -2), [x_np], device)
    flat = rng.integers(0, 24, (7,))
    out = mg.take_along_axis(T(x_np, device), idx(flat, device), None)
    np.testing.assert_array_equal(out.numpy(), np.take_along_axis(x_np, flat, None))
    with pytest.raises(ValueError, match="dimensions"):
        mg.take_along_axis(T(x_np, device), idx(flat, device), 0)
    with pytest.raises(TypeError, match="integers"):
        mg.take_along_axis(T(x_np, device), T(np.zeros((2, 3, 1)), device), 1)


def test_gather_is_pytorchs(device, rng, x_np):
    """out[i][j][k] = x[i][j][index[i][j][k]] for dim=-1; index may be smaller than x on the
    other dims (PyTorch allows that, NumPy's take_along_axis does not)."""
    index = rng.integers(0, 4, (2, 2, 6))
    out = mg.gather(T(x_np, device), -1, idx(index, device))
    expected = np.empty(index.shape)
    for a, b, c in np.ndindex(*index.shape):
        expected[a, b, c] = x_np[a, b, index[a, b, c]]
    np.testing.assert_array_equal(out.numpy(), expected)
    check(lambda x: mg.gather(x, -1, idx(index, device)), [x_np], device)
    index1 = rng.integers(0, 3, (2, 3, 4))
    np.testing.assert_array_equal(mg.gather(T(x_np, device), 1, idx(index1, device)).numpy(),
                                  np.take_along_axis(x_np, index1, 1))
    with pytest.raises(ValueError, match="larger than x"):
        mg.gather(T(x_np, device), 0, idx(np.zeros((2, 4, 4)), device))


def test_gather_repeated_indices_add_up(device):
    x = T([1.0, 2.0, 3.0], device, True)
    y = mg.gather(x, 0, idx([0, 0, 2, 0], device))
    np.testing.assert_array_equal(y.numpy(), [1.0, 1.0, 3.0, 1.0])
    (g,) = mg.grad((y * T([1.0, 10.0, 100.0, 1000.0], device)).sum(), [x])
    np.testing.assert_array_equal(g.numpy(), [1011.0, 0.0, 100.0])
    # second order through the adjoint: d/dx of sum(gather(x)²) = scatter(2 gather(x)), whose
    # derivative again is 2 * (number of picks) on the diagonal
    x2 = T([1.0, 2.0, 3.0], device, True)
    (g1,) = mg.grad((mg.gather(x2, 0, idx([0, 0, 2, 0], device)) ** 2).sum(), [x2], create_graph=True)
    np.testing.assert_allclose(g1.numpy(), [6.0, 0.0, 6.0])
    (g2,) = mg.grad(g1.sum(), [x2])
    np.testing.assert_allclose(g2.numpy(), [6.0, 0.0, 2.0])


# =========================================================================== masked_fill, one_hot
def test_masked_fill(device, rng, x_np):
    mask = rng.random((3, 1)) < 0.5
    mask[0, 0], mask[1, 0] = True, False
    out = mg.masked_fill(T(x_np, device), mg.tensor(mask, device=device), -7.0)
    np.testing.assert_array_equal(out.numpy(), np.where(mask, -7.0, x_np))
    u = rng.standard_normal(SHAPE)
    (g,) = vjp(lambda x: mg.masked_fill(x, mg.tensor(mask, device=device), 0.5), [x_np], u, device)
    np.testing.assert_array_equal(g, np.where(mask, 0.0, u))
    check(lambda x: mg.masked_fill(x, mg.tensor(mask, device=device), 0.5), [x_np], device)
    # a 0-d tensor value receives the cotangent of the filled places
    gx, gv = vjp(lambda x, v: mg.masked_fill(x, mg.tensor(mask, device=device), v),
                 [x_np, np.array(2.0)], u, device)
    np.testing.assert_array_equal(gx, np.where(mask, 0.0, u))
    np.testing.assert_allclose(gv, np.sum(np.where(np.broadcast_to(mask, SHAPE), u, 0.0)))
    with pytest.raises(TypeError, match="boolean"):
        mg.masked_fill(T(x_np, device), idx(mask, device), 0.0)
    with pytest.raises(ValueError, match="does not broadcast"):
        mg.masked_fill(T(x_np, device), mg.tensor(np.ones((3, 3), bool), device=device), 0.0)


def test_one_hot(device):
    i = np.array([[0, 2], [3, 2], [1, 0]])
    out = mg.one_hot(idx(i, device))
    assert out.dtype == np.int64 and out.shape == (3, 2, 4) and not out.requires_grad
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[i])
    np.testing.assert_array_equal(mg.one_hot(idx(i, device), num_classes=6).numpy(), np.eye(6)[i])
    np.testing.assert_array_equal(mg.one_hot(idx(i, device), 3).numpy()[1, 0], [0, 0, 0])  # 3: no class
    with pytest.raises(ValueError, match="non-negative"):
        mg.one_hot(idx([0, -1], device))


# =========================================================================== roll, flip
def test_roll(device, rng, x_np):
    cases = [(1, -1), (-2, 1), ((1, -3), (-1, -3)), ((2, 1), (1, 1))]
    for shifts, dims in cases:
        expected = np.roll(x_np, shifts, dims)
        np.testing.assert_array_equal(mg.roll(T(x_np, device), shifts, dims).numpy(), expected)
    np.testing.assert_array_equal(mg.roll(T(x_np, device), 5).numpy(), np.roll(x_np, 5))   # flattened
    u = rng.standard_normal(SHAPE)
    (g,) = vjp(lambda x: mg.roll(x, (1, -3), (-1, -3)), [x_np], u, device)
    np.testing.assert_array_equal(g, np.roll(u, (-1, 3), (-1, -3)))
    check(lambda x: mg.roll(x, (1, 2), (-1, -2)), [x_np], device)
    check(lambda x: mg.roll(x, -7), [x_np], device)
    with pytest.raises(ValueError, match="one shift per dim"):
        mg.roll(T(x_np, device), (1, 2), 0)


def test_flip(device, rng, x_np):
    for dims in [0, -1, (-2, 0), (0, 1, 2), None]:
        expected = np.flip(x_np, dims)
        np.testing.assert_array_equal(mg.flip(T(x_np, device), dims).numpy(), expected)
    u = rng.standard_normal(SHAPE)
    (g,) = vjp(lambda x: mg.flip(x, (-1, -3)), [x_np], u, device)
    np.testing.assert_array_equal(g, u[::-1, :, ::-1])
    check(lambda x: mg.flip(x, (-1, -2)), [x_np], device)


# =========================================================================== pad
@pytest.mark.parametrize("pad,width", [
    ((1, 2), ((0, 0), (0, 0), (1, 2))),
    ((1, 0, 0, 3), ((0, 0), (0, 3), (1, 0))),
    ((0, 1, 2, 0, 1, 1), ((1, 1), (2, 0), (0, 1))),
])
def test_pad_uses_pytorchs_order(pad, width, device, rng, x_np):
    out = mg.pad(T(x_np, device), pad, value=-1.5)
    np.testing.assert_array_equal(out.numpy(), np.pad(x_np, width, constant_values=-1.5))
    u = rng.standard_normal(out.shape)
    (g,) = vjp(lambda x: mg.pad(x, pad), [x_np], u, device)
    np.testing.assert_array_equal(g, u[tuple(slice(b, b + n) for (b, _), n in zip(width, SHAPE))])
    check(lambda x: mg.pad(x, pad), [x_np], device)


def test_pad_negative_crops(device, x_np):
    out = mg.pad(T(x_np, device), (-1, 2, 1, -1))
    np.testing.assert_array_equal(out.numpy(), np.pad(x_np[:, :-1, 1:], ((0, 0), (1, 0), (0, 2))))
    check(lambda x: mg.pad(x, (-1, 2, 1, -1)), [x_np], device)
    with pytest.raises(ValueError, match="removes more"):
        mg.pad(T(x_np, device), (-3, -2))
    with pytest.raises(ValueError, match="even number"):
        mg.pad(T(x_np, device), (1, 2, 3))


# =========================================================================== tril, triu
@pytest.mark.parametrize("k", [-1, 0, 2])
def test_tril_triu(k, device, rng, x_np):
    np.testing.assert_array_equal(mg.tril(T(x_np, device), k).numpy(), np.tril(x_np, k))
    np.testing.assert_array_equal(mg.triu(T(x_np, device), diagonal=k).numpy(), np.triu(x_np, k))
    u = rng.standard_normal(SHAPE)
    (g,) = vjp(lambda x: mg.tril(x, k), [x_np], u, device)
    np.testing.assert_array_equal(g, np.tril(u, k))
    (g,) = vjp(lambda x: mg.triu(x, k), [x_np], u, device)
    np.testing.assert_array_equal(g, np.triu(u, k))
    if k == 0:
        check(lambda x: mg.tril(x, -1) + mg.triu(x, 1) * 2.0, [x_np], device)
    with pytest.raises(ValueError, match="matri"):
        mg.tril(T(x_np[0, 0], device))


# =========================================================================== tile, repeat_interleave
@pytest.mark.parametrize("reps", [2, (2, 1), (2, 1, 3), (2, 1, 1, 2)])
def test_tile(reps, device, rng, x_np):
    out = mg.tile(T(x_np, device), reps)
    expected = np.tile(x_np, reps)
    np.testing.assert_array_equal(out.numpy(), expected)
    u = rng.standard_normal(expected.shape)
    (g,) = vjp(lambda x: mg.tile(x, reps), [x_np], u, device)
    full = (reps,) if isinstance(reps, int) else reps
    full = (1,) * (3 - len(full)) + full           # one rep per axis of the output
    shape = (1,) * (len(full) - 3) + SHAPE           # x with the output's number of axes
    expected = np.zeros(shape)                       # the sum of the copies' cotangents
    for block in np.ndindex(*full):
        expected += u[tuple(slice(b * n, (b + 1) * n) for b, n in zip(block, shape))]
    np.testing.assert_allclose(g, expected.reshape(SHAPE))
    if reps == (2, 1, 3):
        check(lambda x: mg.tile(x, reps), [x_np], device)


@pytest.mark.parametrize("dim", [-1, -2, 0, None])
def test_repeat_interleave(dim, device, rng, x_np):
    out = mg.repeat_interleave(T(x_np, device), 3, dim)
    expected = np.repeat(x_np, 3, axis=dim)
    np.testing.assert_array_equal(out.numpy(), expected)
    u = rng.standard_normal(expected.shape)
    (g,) = vjp(lambda x: mg.repeat_interleave(x, 3, dim=dim), [x_np], u, device)
    manual = np.zeros(x_np.size if dim is None else SHAPE)
    n = x_np.size if dim is None else SHAPE[dim]
    for i in range(n):                           # each element got copies 3i, 3i+1, 3i+2
        src = np.take(u, [3 * i, 3 * i + 1, 3 * i + 2], axis=0 if dim is None else dim)
        if dim is None:
            manual[i] = src.sum()
        else:
            np.put_along_axis(manual, np.full(np.take(manual, [0], axis=dim).shape, i),
                              src.sum(axis=dim, keepdims=True), dim)
    np.testing.assert_allclose(g, manual.reshape(SHAPE), atol=1e-12)
    if dim in (-2, None):
        check(lambda x: mg.repeat_interleave(x, 2, dim), [x_np], device)


# =========================================================================== sort, topk
@pytest.mark.parametrize("dim", [-1, -2, 0])
@pytest.mark.parametrize("descending", [False, True])
def test_sort(dim, descending, device, rng, x_np):
    values, indices = mg.sort(T(x_np, device), dim=dim, descending=descending)
    order = np.argsort(-x_np if descending else x_np, axis=dim, kind="stable")
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x_np, order, dim))
    np.testing.assert_array_equal(values.numpy(),
                                  np.flip(np.sort(x_np, dim), dim) if descending else np.sort(x_np, dim))
    u = rng.standard_normal(SHAPE)                 # the gradient: u put back where values came from
    (g,) = vjp(lambda x: mg.sort(x, dim, descending).values, [x_np], u, device)
    expected = np.zeros(SHAPE)
    np.put_along_axis(expected, order, u, dim)
    np.testing.assert_array_equal(g, expected)
    if dim == -2:
        check(lambda x: mg.sort(x, dim, descending)[0], [x_np], device)


def test_sort_is_stable_both_ways(device):
    x = T([[3.0, 1.0, 3.0, 2.0, 1.0]], device)
    np.testing.assert_array_equal(mg.sort(x).indices.numpy(), [[1, 4, 3, 0, 2]])
    np.testing.assert_array_equal(mg.sort(x, descending=True).indices.numpy(), [[0, 2, 3, 1, 4]])
    many = np.random.default_rng(0).integers(0, 3, (2, 200)).astype(float)     # ties everywhere
    for descending in (False, True):
        np.testing.assert_array_equal(mg.sort(T(many, device), descending=descending).indices.numpy(),
                                      np.argsort(-many if descending else many, axis=-1, kind="stable"))
    ints = mg.tensor(np.array([2, -5, 2, 7]), device=device)
    np.testing.assert_array_equal(mg.sort(ints, descending=True).values.numpy(), [7, 2, 2, -5])


@pytest.mark.parametrize("largest", [True, False])
def test_topk(largest, device, rng, x_np):
    values, indices = mg.topk(T(x_np, device), 2, dim=-2, largest=largest)
    order = np.argsort(-x_np if largest else x_np, axis=-2, kind="stable")[:, :2, :]
    np.testing.assert_array_equal(indices.numpy(), order)
    np.testing.assert_array_equal(values.numpy(), np.take_along_axis(x_np, order, -2))
    assert indices.dtype == np.int64
    u = rng.standard_normal(values.shape)
    (g,) = vjp(lambda x: mg.topk(x, 2, -2, largest).values, [x_np], u, device)
    expected = np.zeros(SHAPE)
    np.put_along_axis(expected, order, u, -2)
    np.testing.assert_array_equal(g, expected)
    assert np.count_nonzero(g) == 2 * 2 * 4
    check(lambda x: mg.topk(x, 3, -1, largest).values, [x_np], device)
    with pytest.raises(ValueError, match="k must be"):
        mg.topk(T(x_np, device), 4, dim=1)


# =========================================================================== einsum, outer
EINSUM = [
    ("ij,jk->ik", [(3, 4), (4, 2)]),
    ("ij,jk", [(3, 4), (4, 2)]),                         # implicit output
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),            # batch letter
    ("bij,bkj->kib", [(2, 3, 4), (2, 5, 4)]),            # permuted output
    ("ijk,k->", [(2, 3, 4), (4,)]),                      # full contraction
    ("ij,j->j", [(3, 4), (4,)]),                         # i summed within operand 0 alone
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),          # three operands
    ("i,j", [(3,), (4,)]),                               # outer product, implicit
    ("ijk->kj", [(2, 3, 4)]),                            # one operand
]


@pytest.mark.parametrize("spec,shapes", EINSUM, ids=[s for s, _ in EINSUM])
def test_einsum(spec, shapes, device, rng):
    arrays = [rng.uniform(-1, 1, s) for s in shapes]
    out = mg.einsum(spec, *(T(a, device) for a in arrays))
    np.testing.assert_allclose(out.numpy(), np.einsum(spec, *arrays), rtol=1e-12, atol=1e-12)
    check(lambda *xs: mg.einsum(spec, *xs), arrays, device)


def test_einsum_gradients_are_matmuls(device, rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    u = rng.standard_normal((3, 2))
    ga, gb = vjp(lambda a, b: mg.einsum("ij,jk->ik", a, b), [a, b], u, device)
    np.testing.assert_allclose(ga, u @ b.T)
    np.testing.assert_allclose(gb, a.T @ u)
    v, c = rng.standard_normal(4), rng.standard_normal(4)
    ga, gc = vjp(lambda a, c: mg.einsum("ij,j->j", a, c), [a, c], v, device)
    np.testing.assert_allclose(ga, np.broadcast_to(v * c, (3, 4)))      # the same for every i
    np.testing.assert_allclose(gc, v * a.sum(axis=0))


def test_einsum_refusals(device):
    a, b = T(np.ones((2, 3)), device), T(np.ones((3, 3)), device)
    with pytest.raises(ValueError, match="has no '...' to put them"):      # '...' is supported, NumPy's rules
        mg.einsum("...j,jk->k", a, b)
    with pytest.raises(ValueError, match="letter 'i' has size 2 in one operand and 3"):   # a diagonal of a non-square
        mg.einsum("ii->i", a)
    with pytest.raises(ValueError, match="letter 'j' has size 3 in one operand and 2"):
        mg.einsum("ij,jk->ik", a, a)
    with pytest.raises(ValueError, match="2 operands, 1 given"):
        mg.einsum("ij,jk->ik", a)
    with pytest.raises(TypeError, match="dtype mismatch"):
        mg.einsum("ij,jk->ik", a, b.astype(np.float32))


def test_outer(device, rng):
    a, b = rng.standard_normal(3), rng.standard_normal(4)
    np.testing.assert_allclose(mg.outer(T(a, device), T(b, device)).numpy(), np.outer(a, b))
    u = rng.standard_normal((3, 4))
    ga, gb = vjp(mg.outer, [a, b], u, device)
    np.testing.assert_allclose(ga, u @ b)
    np.testing.assert_allclose(gb, a @ u)
    check(mg.outer, [a, b], device)
    with pytest.raises(ValueError, match="1-D"):
        mg.outer(T(np.ones((2, 2)), device), T(b, device))


# --------------------------------------------------------------------------- diagonal is a view, diag a copy
def test_writes_through_diagonal_change_the_tensor_as_in_pytorch(device):
    """``x.diagonal(k)`` is a view, as torch.diagonal's: ``w.diagonal().add_(1)`` (adding the
    identity in place) changed nothing before, silently (diagonal returned a copy).  Expected
    values written here element by element."""
    x = T(np.arange(12.0).reshape(3, 4), device)
    x.diagonal().fill_(-1)
    x.diagonal(1).add_(100)
    x.diagonal(-1).mul_(-1)
    want = np.arange(12.0).reshape(3, 4)
    for i in range(3):
        want[i, i] = -1
        want[i, i + 1] += 100
    want[1, 0], want[2, 1] = -4, -9
    np.testing.assert_array_equal(x.numpy(), want)
    s = T(np.arange(24.0).reshape(2, 3, 4), device)       # other dims: s[i, j, i] for i < 2
    s.diagonal(0, 0, 2).fill_(7)
    want = np.arange(24.0).reshape(2, 3, 4)
    want[0, :, 0] = want[1, :, 1] = 7
    np.testing.assert_array_equal(s.numpy(), want)
    assert x.diagonal(4).shape == (0,) and x.diagonal(-3).shape == (0,)
    d = mg.diag(x)                                          # torch.diag of a matrix: a copy
    d.fill_(123)
    assert not (x.numpy() == 123).any()


def test_a_write_through_a_diagonal_is_seen_by_backward(device):
    """The view shares its base's version: a value kept for a gradient and then changed
    through its diagonal makes backward refuse, as a write through a slice does."""
    a = T(np.arange(9.0).reshape(3, 3) / 10, device, requires_grad=True)
    b = a * 1
    c = b * b                                               # keeps b for its gradient
    with mg.no_grad():
        b.diagonal().fill_(0)
    with pytest.raises(RuntimeError, match="was changed in place after the forward pass kept it"):
        c.sum().backward()
    with pytest.raises(RuntimeError, match="requires grad"):
        a.diagonal().fill_(0)                               # a leaf being trained: refused, as torch does


def test_pytorch_dtype_methods_return_the_tensor_itself_when_nothing_changes(device):
    """``x.double()`` of a float64 tensor is x itself in PyTorch (a write through it changes x);
    it was a copy here.  Another dtype is a new tensor, as in PyTorch."""
    x = T(np.arange(3.0), device)
    assert x.double() is x and x.to(mg.float64) is x and x.float() is not x
    x.double().mul_(-1)
    np.testing.assert_array_equal(x.numpy(), [0.0, -1.0, -2.0])
    f = x.float()
    assert f.float() is f and f.half() is not f
    i = mg.tensor(np.arange(3), device=device)
    assert i.long() is i and i.int() is not i and i.bool().dtype == np.bool_
    f.mul_(5)                                               # a copy of another dtype: x unchanged
    np.testing.assert_array_equal(x.numpy(), [0.0, -1.0, -2.0])


def test_an_index_or_mask_changed_after_the_forward_pass_does_not_move_the_gradient(device):
    """gather, masked_fill, take_along_axis and scatter kept the caller's own index/mask array
    for backward: changing it in place before backward moved the gradient silently (PyTorch
    refuses then).  The graph now keeps its own copy: the gradient is the forward pass's."""
    w = T([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    i = mg.tensor(np.array([0, 1]), device=device)
    y = w.gather(0, i)
    i.add_(2)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [1, 1, 0, 0])
    v = T([1.0, 2.0, 3.0, 4.0], device, requires_grad=True)
    m = mg.tensor(np.array([True, True, False, False]), device=device)
    z = v.masked_fill(m, 0.0)
    m.copy_(mg.tensor(np.array([False, False, True, True]), device=device))
    z.sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), [0, 0, 1, 1])
    src = T([10.0, 20.0], device, requires_grad=True)
    j = mg.tensor(np.array([3, 0]), device=device)
    out = mg.scatter(mg.zeros(4, device=device, dtype=np.float64), 0, j, src)
    j.fill_(1)
    (out * T([1.0, 2.0, 3.0, 4.0], device)).sum().backward()   # src[0] went to 3, src[1] to 0
    np.testing.assert_array_equal(src.grad.numpy(), [4, 1])
