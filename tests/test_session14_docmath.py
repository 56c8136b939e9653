"""Session 14: every primitive's derivative against central differences, and the edge values
its docstring states.

* ``test_primitive_gradcheck``: first and second derivatives of each primitive (and of the
  compositions whose docstrings give a derivative) against central differences in float64
  (``mg.gradcheck``), at random points away from kinks, with non-square and broadcast shapes.
* ``test_primitive_jvp``: ``mg.jvp`` (the double-VJP trick: it differentiates each VJP with
  respect to its cotangent) against a central difference along a random direction.
* ``test_every_primitive_is_checked`` / ``test_every_primitive_documents_its_derivative``:
  the tables above cover every ``Primitive`` in minigrad, and each one's docstring gives
  its derivative (``x̄ = ...``).
* The rest pin the edge values that session 14 corrected in docstrings (closed forms).
"""
import importlib
import math
import pkgutil
import zlib

import numpy as np
import pytest

import minigrad as mg
from minigrad import elementwise as el
from minigrad import linalg as la
from minigrad import losses as ls
from minigrad import manipulation as mp
from minigrad import ops
from minigrad import reductions as rd
from minigrad.autograd import Primitive, broadcast_to, sum_to


def T(a):
    return mg.Tensor(np.asarray(a, dtype=np.float64))


# Domains: random points where the function is smooth (no kinks, inside its domain).
def U(lo=-2.0, hi=2.0):
    return lambda rng, shape: rng.uniform(lo, hi, shape)


ANY, POS, UNIT = U(), U(0.3, 2.5), U(-0.9, 0.9)
S, COL, ROW = (3, 4), (3, 1), (4,)
INDEX = np.array([[0, 2, 2], [1, 1, 0], [3, 0, 1]])
MASK4 = np.array([True, False, False, True])

UNARY = {
    "sqrt": (el.sqrt, POS), "log1p": (el.log1p, POS), "expm1": (el.expm1, ANY), "log2": (el.log2, POS),
    "log10": (el.log10, POS), "exp2": (el.exp2, ANY), "sin": (el.sin, ANY), "cos": (el.cos, ANY),
    "tan": (el.tan, UNIT), "asin": (el.asin, UNIT), "acos": (el.acos, UNIT), "atan": (el.atan, ANY),
    "asinh": (el.asinh, ANY), "acosh": (el.acosh, U(1.2, 3)), "atanh": (el.atanh, UNIT), "sinh": (el.sinh, ANY),
    "cosh": (el.cosh, ANY), "rsqrt": (el.rsqrt, POS), "softplus": (el.softplus, ANY),
    "softplus_beta": (lambda x: el.softplus(x, 2.0, 3.0), ANY), "log_sigmoid": (el.log_sigmoid, ANY),
    "silu": (el.silu, ANY), "leaky_relu": (lambda x: el.leaky_relu(x, 0.2), ANY),
    "elu": (lambda x: el.elu(x, 1.5), ANY), "gelu": (el.gelu, ANY), "gelu_tanh": (lambda x: el.gelu(x, "tanh"), ANY),
    "erf": (el.erf, ANY), "erfc": (el.erfc, ANY), "erfinv": (el.erfinv, UNIT), "floor": (el.floor, ANY),
    "ceil": (el.ceil, ANY), "round": (el.round, ANY), "round_decimals": (lambda x: el.round(x, 2), ANY),
    "sign": (el.sign, ANY), "trunc": (el.trunc, ANY), "nan_to_num": (el.nan_to_num, ANY),
    "hardswish": (el.hardswish, U(-4, 4)), "sinc": (el.sinc, ANY), "sinc_series": (el.sinc, U(-0.09, 0.09)),
    "logit": (el.logit, U(0.1, 0.9)), "logit_eps": (lambda x: el.logit(x, 0.2), U(0.05, 0.95)),
    "neg": (ops.neg, ANY), "identity": (ops.identity, ANY), "exp": (ops.exp, ANY), "log": (ops.log, POS),
    "tanh": (ops.tanh, ANY), "sigmoid": (ops.sigmoid, ANY), "relu": (ops.relu, ANY), "abs": (ops.abs, ANY),
    "clip": (lambda x: ops.clip(x, -1, 1), ANY), "power_3": (lambda x: x ** 3, ANY),
    "power_half": (lambda x: x ** 0.5, POS), "power_0": (lambda x: x ** 0, ANY),
    "power_neg": (lambda x: x ** -1.5, POS),
    "sqrt0": (rd._sqrt, POS), "astype": (lambda x: ops.astype(x, dtype=np.float64), ANY),
    "hardtanh": (el.hardtanh, ANY), "relu6": (el.relu6, U(-2, 8)), "hardsigmoid": (el.hardsigmoid, U(-4, 4)),
    "mish": (el.mish, ANY), "selu": (el.selu, ANY), "celu": (lambda x: el.celu(x, 0.7), ANY),
    "tanhshrink": (el.tanhshrink, ANY), "hardshrink": (el.hardshrink, ANY), "softshrink": (el.softshrink, ANY),
    "threshold": (lambda x: el.threshold(x, 0.1, 3.0), ANY), "softsign": (el.softsign, ANY),
    "frac": (el.frac, ANY), "square": (el.square, ANY), "reciprocal": (el.reciprocal, POS),
    "clamped_log": (ls._clamped_log_op, POS),
}
BINARY = {
    "add": (ops.add, ANY, ANY), "sub": (ops.sub, ANY, ANY), "mul": (ops.mul, ANY, ANY), "div": (ops.div, ANY, POS),
    "pow": (ops.pow, POS, ANY), "atan2": (el.atan2, ANY, ANY), "logaddexp": (el.logaddexp, ANY, ANY),
    "fmax": (el.fmax, ANY, ANY), "fmin": (el.fmin, ANY, ANY), "maximum": (ops.maximum, ANY, ANY),
    "minimum": (ops.minimum, ANY, ANY), "remainder": (el.remainder, ANY, POS),
    "floor_divide": (el.floor_divide, ANY, POS), "fmod": (el.fmod, ANY, POS), "copysign": (el.copysign, ANY, ANY),
    "hypot": (el.hypot, ANY, ANY), "xlogy": (el.xlogy, ANY, POS),
    "div_trunc": (lambda a, b: el.divide(a, b, rounding_mode="trunc"), ANY, POS),
    "lerp_small_weight": (lambda a, b: el.lerp(a, b, 0.3), ANY, ANY),
    "lerp_large_weight": (lambda a, b: el.lerp(a, b, 0.7), ANY, ANY),
    "binary_cross_entropy": (ls._bce, U(0.05, 0.95), U(0, 1)),
    "where": (lambda a, b: ops.where(MASK4, a, b), ANY, ANY),
    "tanh_vjp": (ops.tanh_vjp, ANY, UNIT), "sigmoid_vjp": (ops.sigmoid_vjp, ANY, ANY),
}
OTHER = {          # name: (f, [(domain, shape) per input])
    "lerp_tensor_weight": (el.lerp, [(ANY, S)] * 3), "prelu": (el.prelu, [(ANY, (2, 3, 4)), (ANY, (3,))]),
    "glu": (lambda x: el.glu(x, 0), [(ANY, (4, 3))]), "softmin": (lambda x: el.softmin(x, 0), [(ANY, S)]),
    "sum": (lambda x: ops.sum(x, 1), [(ANY, (3, 4, 2))]),
    "sum_keepdims": (lambda x: ops.sum(x, (0, 2), keepdims=True), [(ANY, (3, 4, 2))]),
    "amax": (lambda x: ops.amax(x, 1), [(ANY, (3, 4, 2))]),
    "amin_keepdims": (lambda x: ops.amin(x, (0, 2), keepdims=True), [(ANY, (3, 4, 2))]),
    "max_dim": (lambda x: ops.max(x, 1).values, [(ANY, S)]),
    "logsumexp": (lambda x: ops.logsumexp(x, 1), [(ANY, (3, 4, 2))]),
    "logsumexp_keepdims": (lambda x: ops.logsumexp(x, (0, 2), keepdims=True), [(ANY, (3, 4, 2))]),
    "softmax": (lambda x: ops.softmax(x, 1), [(ANY, (3, 4, 2))]),
    "log_softmax": (lambda x: ops.log_softmax(x, 0), [(ANY, S)]),
    "matmul": (ops.matmul, [(ANY, (3, 4)), (ANY, (4, 2))]),
    "matmul_batched": (ops.matmul, [(ANY, (2, 3, 4)), (ANY, (2, 4, 5))]),
    "matmul_b_broadcast": (ops.matmul, [(ANY, (2, 3, 4)), (ANY, (4, 5))]),
    "matmul_a_broadcast": (ops.matmul, [(ANY, (3, 4)), (ANY, (2, 4, 5))]),
    "matmul_both_broadcast": (ops.matmul, [(ANY, (2, 1, 3, 4)), (ANY, (1, 2, 4, 5))]),
    "matmul_vector": (ops.matmul, [(ANY, (4,)), (ANY, (4, 3))]),
    "permute": (lambda x: ops.permute(x, 2, 0, 1), [(ANY, (2, 3, 4))]),
    "reshape": (lambda x: ops.reshape(x, (4, 3)), [(ANY, S)]),
    "squeeze": (lambda x: ops.squeeze(x, 1), [(ANY, (3, 1, 4))]),
    "expand_dims": (lambda x: ops.expand_dims(x, 1), [(ANY, S)]),
    "getitem_repeats": (lambda x: x[[0, 2, 0], 1:], [(ANY, S)]),
    "getitem_basic": (lambda x: x[1:, ::2], [(ANY, S)]),
    "scatter_add": (lambda g: ops.scatter_add(g, index=(np.array([0, 2, 0]),), shape=(3, 4)), [(ANY, S)]),
    "concat": (lambda a, b: ops.concat([a, b], 1), [(ANY, (3, 2)), (ANY, S)]),
    "stack": (lambda a, b: ops.stack([a, b], 1), [(ANY, S), (ANY, S)]),
    "sum_to": (lambda g: sum_to(g, (3, 1)), [(ANY, S)]),
    "broadcast_to": (lambda x: broadcast_to(x, (2, 3, 4)), [(ANY, (3, 1))]),
    "to_device": (lambda x: mg.to(mg.to(x, "strict") ** 3, "cpu"), [(ANY, S)]),
    "prod": (lambda x: rd.prod(x, 1), [(ANY, S)]),
    "prod_zeros": (lambda x: rd.prod(x * T([[1., 0, 1, 1], [0, 1, 0, 1], [1, 1, 1, 1]]), 1), [(ANY, S)]),
    "prod_axes": (lambda x: rd.prod(x, (0, 2), keepdims=True), [(ANY, (2, 3, 2))]),
    "prod_others": (rd._others, [(ANY, S)]),
    "cumsum": (lambda x: rd.cumsum(x, 1), [(ANY, S)]),
    "reverse_cumsum": (lambda x: rd._reverse_cumsum(x, axis=0), [(ANY, S)]),
    "logcumsumexp": (lambda x: rd.logcumsumexp(x, 1), [(ANY, S)]),
    "logcumsumexp_reverse": (lambda x: rd._logcumsumexp(x, axis=0, reverse=True), [(ANY, S)]),
    "exp_weighted_cumsum": (lambda v, a, b: rd._exp_weighted_cumsum(v, a, b, axis=1, reverse=False),
                            [(ANY, S), (U(-1, 1), S), (U(-1, 1), S)]),
    "exp_weighted_cumsum_reverse": (lambda v, a, b: rd._exp_weighted_cumsum(v, a, b, axis=0, reverse=True),
                                    [(ANY, S), (U(-1, 1), S), (U(-1, 1), S)]),
    "cumprod": (lambda x: rd.cumprod(x, 1), [(ANY, S)]),
    "cumprod_zeros": (lambda x: rd.cumprod(x * T([1., 0, 1, 0]), 1), [(ANY, S)]),
    **{f"vector_norm_{p}": (lambda x, p=p: rd.vector_norm(x, p, 1), [(ANY, S)])
       for p in (2, 1, math.inf, -math.inf, 0, 3, 1.5, 0.5)},
    "var": (lambda x: rd.var(x, 1), [(ANY, S)]), "std": (lambda x: rd.std(x, 0, correction=0), [(ANY, S)]),
    "gather": (lambda x: mp.gather(x, 1, mg.Tensor(INDEX)), [(ANY, S)]),
    "scatter_add_along": (lambda g: mp._scatter_add_along(g, index=INDEX, axis=1, shape=S), [(ANY, (3, 3))]),
    "masked_fill": (lambda x: mp.masked_fill(x, MASK4, 5.0), [(ANY, S)]),
    "roll": (lambda x: mp.roll(x, (1, -2), (0, 1)), [(ANY, S)]), "roll_flat": (lambda x: mp.roll(x, 5), [(ANY, S)]),
    "flip": (lambda x: mp.flip(x, 1), [(ANY, S)]), "pad": (lambda x: mp.pad(x, (1, 2, 0, 1), 3.0), [(ANY, S)]),
    "crop": (lambda x: mp._crop(x, width=((1, 0), (1, 2))), [(ANY, S)]),
    "tril": (lambda x: mp.tril(x, 1), [(ANY, S)]), "triu": (lambda x: mp.triu(x, -1), [(ANY, (2, 3, 4))]),
    "diagonal": (lambda x: mp.diagonal(x, 1), [(ANY, (2, 3, 4))]),
    "diagonal_below": (lambda x: mp.diagonal(x, -1), [(ANY, S)]),
    "diag_place": (lambda v: mp._diag_place(v, k=1, shape=S), [(ANY, (3,))]),
    "diagonal_copy": (lambda x: mp.diag(x, -1), [(ANY, (4, 3))]),
    "tile": (lambda x: mp.tile(x, (2, 1, 3)), [(ANY, S)]),
    "repeat_interleave": (lambda x: mp.repeat_interleave(x, 2, 1), [(ANY, S)]),
    "median": (mp.median, [(ANY, S)]),
    "scatter": (lambda x, s: mp.scatter(x, 1, mg.Tensor(np.array([[0, 2], [1, 1], [3, 3]])), s),
                [(ANY, S), (ANY, (3, 2))]),
    "einsum_matmul": (lambda a, b: la.einsum("ij,jk->ik", a, b), [(ANY, (3, 4)), (ANY, (4, 2))]),
    "einsum_letter_alone": (lambda a, b: la.einsum("ij,j->j", a, b), [(ANY, (3, 4)), (ANY, (4,))]),
    "einsum_diagonal": (lambda a: la.einsum("ii->i", a), [(ANY, (3, 3))]),
    "einsum_three": (lambda a, b, c: la.einsum("bi,bij,j->b", a, b, c), [(ANY, (2, 3)), (ANY, (2, 3, 4)), (ANY, (4,))]),
    "addmm": (lambda i, a, b: la.addmm(i, a, b, beta=0.5, alpha=2.0), [(ANY, (4,)), (ANY, (3, 2)), (ANY, (2, 4))]),
    "kl_div": (lambda a, b: mg.kl_div(a, b, "sum"), [(ANY, (2, 3)), (U(0.1, 1), (2, 3))]),
    "kl_div_log_target": (lambda a, b: mg.kl_div(a, b, "sum", log_target=True), [(ANY, (2, 3)), (ANY, (2, 3))]),
}

CASES = {}
for name, (f, dom) in UNARY.items():
    CASES[name] = (f, [(dom, S)])
for name, (f, da, db) in BINARY.items():
    CASES[name] = (f, [(da, S), (db, S)])
    CASES[name + "_broadcast"] = (f, [(da, COL), (db, ROW)])
CASES.update(OTHER)


def _inputs(name):
    f, specs = CASES[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    return f, [dom(rng, shape) for dom, shape in specs], rng


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("name", sorted(CASES))
def test_primitive_gradcheck(name, order):
    f, arrays, _ = _inputs(name)
    assert mg.gradcheck(f, [T(a) for a in arrays], order=order)


@pytest.mark.parametrize("name", sorted(CASES))
def test_primitive_jvp(name):
    f, arrays, rng = _inputs(name)
    vs = [rng.standard_normal(np.shape(a)) for a in arrays]
    _, jv = mg.jvp(f, tuple(T(a) for a in arrays), tuple(T(v) for v in vs))
    h = 1e-6
    plus = f(*[T(a + h * v) for a, v in zip(arrays, vs)]).numpy()
    minus = f(*[T(a - h * v) for a, v in zip(arrays, vs)]).numpy()
    np.testing.assert_allclose(jv.numpy(), (plus - minus) / (2 * h), rtol=1e-5, atol=1e-6)


def _all_primitives():
    found = {}
    for info in pkgutil.iter_modules(mg.__path__):
        module = importlib.import_module("minigrad." + info.name)
        for value in vars(module).values():
            if isinstance(value, Primitive):
                found[value.name] = value
    return found


def test_every_primitive_is_checked(monkeypatch):
    """Run every case once while recording which primitives were called: a new primitive
    needs a case in the tables above (its derivative checked numerically)."""
    used = set()
    original = Primitive.__call__

    def recording(self, *args, **kwargs):
        used.add(self.name)
        return original(self, *args, **kwargs)
    monkeypatch.setattr(Primitive, "__call__", recording)
    for cls in (ops._Where, ops._AsType):                 # subclasses with their own __call__
        def own_recording(self, *args, _own=cls.__call__, **kwargs):
            used.add(self.name)
            return _own(self, *args, **kwargs)
        monkeypatch.setattr(cls, "__call__", own_recording)
    record = ops.record                                   # to() records to_device itself
    monkeypatch.setattr(ops, "record", lambda op, *a: (used.add(op.name), record(op, *a))[1])
    for name in CASES:
        f, arrays, _ = _inputs(name)
        xs = [mg.Tensor(a, requires_grad=True) for a in arrays]
        mg.grad(f(*xs).sum(), xs, allow_unused=True)
    missing = sorted(set(_all_primitives()) - used)
    assert not missing, f"primitives without a derivative check in {__name__}: {missing}"


def test_every_primitive_documents_its_derivative():
    """The convention of ops.py: each primitive's docstring gives its VJP (x̄ = ..., ḡ ...)."""
    bare = sorted(name for name, p in _all_primitives().items()
                  if "̄" not in (p.forward.__doc__ or "") and "ḡ" not in (p.forward.__doc__ or ""))
    assert not bare, f"primitives whose docstring gives no derivative: {bare}"


# =========================================================================== edge values the docstrings state
def _grads(f, *values):
    xs = [mg.Tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    out = f(*xs)
    return out.numpy(), [g.numpy() for g in mg.grad(out.sum(), xs)]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_atan2_range_includes_minus_pi_at_negative_zero():
    """[-π, π]: on the cut b < 0 the sign of a, a signed zero too, picks the side."""
    out = el.atan2(T([-0.0, 0.0, -1.0, 1.0]), T([-1.0, -1.0, -1.0, -1.0])).numpy()
    np.testing.assert_array_equal(out[:2], [-math.pi, math.pi])
    np.testing.assert_allclose(out[2:], [-0.75 * math.pi, 0.75 * math.pi], rtol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_atanh_derivative_at_and_beyond_one():
    """x̄ = 1 / (1 - x²): +∞ at both ±1, and finite (negative) beyond, where out is NaN."""
    out, (g,) = _grads(el.atanh, [1.0, -1.0, 2.0, -3.0])
    assert out[0] == math.inf and out[1] == -math.inf and np.isnan(out[2:]).all()
    np.testing.assert_array_equal(g[:2], [math.inf, math.inf])
    np.testing.assert_allclose(g[2:], [-1 / 3, -1 / 8], rtol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_acosh_derivative_below_one():
    """x̄ = 1 / √(x² - 1): +∞ at ±1, NaN between, finite below -1 (out is NaN below 1)."""
    out, (g,) = _grads(el.acosh, [1.0, -1.0, 0.5, -2.0])
    assert out[0] == 0 and np.isnan(out[1:]).all()
    assert g[0] == math.inf and g[1] == math.inf and np.isnan(g[2])
    np.testing.assert_allclose(g[3], 1 / math.sqrt(3), rtol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_pow_exponent_derivative_at_zero_base():
    """b̄ = out log a is taken as 0 at a = 0 for b > 0 (0 · ∞) and at a = b = 0 (1 · (-∞))."""
    _, (ga, gb) = _grads(ops.pow, [0.0, 0.0, 0.0], [0.0, 2.0, 0.5])
    np.testing.assert_array_equal(gb, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(ga, [0.0, 0.0, math.inf])     # b a^(b-1): 0 at b = 0, 2·0, ∞ for b < 1


def test_hardswish_kinks_match_the_composition():
    """0 at -3, 1 at 3 (PyTorch's); x · hardsigmoid(x) gives the same, clip's derivative being 0
    at its bounds; in between both are x/3 + ½."""
    x = [-3.0, 3.0, -1.5, 0.0, 2.0]
    _, (g,) = _grads(el.hardswish, x)
    _, (c,) = _grads(lambda t: t * el.hardsigmoid(t), x)
    np.testing.assert_allclose(g, [0.0, 1.0, 0.0, 0.5, 2 / 3 + 0.5], rtol=1e-15)
    np.testing.assert_allclose(c, g, rtol=1e-15)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_kl_div_target_gradient_at_zero_target():
    """target̄ = log t + 1 - input where t > 0; NaN at t = 0 (xlogy's t / t)."""
    _, (gi, gt) = _grads(lambda i, t: mg.kl_div(i, t, "sum"), [-1.0, -2.0], [0.0, 0.5])
    np.testing.assert_allclose(gi, [-0.0, -0.5])
    assert np.isnan(gt[0])
    np.testing.assert_allclose(gt[1], math.log(0.5) + 1 + 2, rtol=1e-14)


def test_bce_target_gradient_is_clamped():
    """ȳ = L(1 - p) - L(p), L = max(log, -100): ±100 at p = 0 or 1."""
    _, (_, gy) = _grads(lambda p, y: mg.binary_cross_entropy(p, y, reduction="sum"), [0.0, 1.0, 0.25], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(gy, [100.0, -100.0, math.log(0.75) - math.log(0.25)], rtol=1e-14)


def test_matmul_sums_the_broadcast_operand():
    """ā = ḡ bᵀ summed over the batch axes a was broadcast along (and b̄ likewise)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4, 5))
    _, (ga, gb) = _grads(ops.matmul, a, b)
    np.testing.assert_allclose(ga, (np.ones((3, 5)) @ b.transpose(0, 2, 1)).sum(0), rtol=1e-13)
    np.testing.assert_allclose(gb, np.broadcast_to(a.T @ np.ones((3, 5)), (2, 4, 5)), rtol=1e-13)
