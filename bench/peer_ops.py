"""Peer engines' op tests run against minigrad (adapter; not part of the suite: needs torch).

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install -q numpy 'torch==2.13.0'
    PYTHONPATH=. /tmp/torchvenv/bin/python bench/peer_ops.py [-v] [-k substr]

Session 8: tinygrad's cases 2247 ok / 19 FAIL / 100 ERROR.  Session 9 (cummax, cummin,
logcumsumexp, erfinv, dropout, scatter, einsum diagonals, mg.add/sub(alpha=) added; torch.stack /
torch.cat in a case written for both libraries read as mg's): tinygrad's cases 2323 ok / 19 FAIL /
18 ERROR (16 more where torch refuses: nothing to compare); micrograd 8 / 0 / 0, minitorch 98 / 0 / 4
(avg_pool2d, max_pool2d: not in minigrad), DeZero 40 / 0 / 0.  Session 10 (minigrad.conv: conv1d, conv2d,
max/avg_pool1d/2d; tinygrad's conv and pooling cases added, 350 of them): tinygrad's cases 2673 ok / 19 FAIL /
18 ERROR (16 torch-refuses), minitorch 102 / 0 / 0, micrograd and DeZero as before.  What fails, all deliberate:
* float64 default: integer data with a Python float gives float64 (torch: float32), and float
  tensors made from lists (pos_weight=, weight=, prelu's weight) are float64, which minigrad
  does not mix with float32 silently (maximum_minimum, div_rounding_mode, div_int_mod, pow,
  losses, prelu);
* clip's gradient at its bounds is 0 (torch 2.13: 1; 2.14: 0); hardsigmoid's float64 gradient
  is 1/6 exactly (torch 2.13 rounds it to float32: 0.1666666716);
* classes-last cross_entropy / nll_loss (and nll_loss(x, t, weight) positionally: minigrad's
  third argument is reduction); sum(dtype=torch.float64) (a torch dtype); circular pad with a
  negative amount (refused: torch 2.13 gives wrong values).

The cases are those of tinygrad's test/test_ops.py (helper_test_op(shapes, torch_fxn,
tinygrad_fxn)), micrograd's test/test_engine.py, and a handful of minitorch / DeZero gradient
tests, rewritten for minigrad: `mg_fxn` is the minigrad spelling a PyTorch user would write
(tinygrad-only names translated; methods PyTorch has are called as methods).  Every case runs in
float32 with tinygrad's tolerances and again in float64 with tight ones (1e-9), comparing forward
shape, dtype and values and the gradient of `out.sum()` w.r.t. every input.
"""
import math, sys, traceback, warnings  # noqa: E401
import numpy as np
import torch
import torch.nn.functional as TF
import minigrad as mg

warnings.simplefilter("ignore")
VERBOSE = "-v" in sys.argv
ONLY = sys.argv[sys.argv.index("-k") + 1] if "-k" in sys.argv else None
RESULTS = []          # (test, case, dtype, status, message)
CURRENT = ["?"]
N = [0]


def _to_np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return t.numpy()


def _compare(what, m, t, atol, rtol):
    m, t = np.asarray(m), np.asarray(t)
    if m.shape != t.shape:
        return f"{what}: shape {m.shape} vs torch {t.shape}"
    if m.dtype != t.dtype:
        return f"{what}: dtype {m.dtype} vs torch {t.dtype}"
    if np.issubdtype(m.dtype, np.floating):
        try:
            np.testing.assert_allclose(m, t, atol=atol, rtol=rtol)
        except AssertionError as e:
            return f"{what}: values differ: " + " ".join(str(e).split("\n")[3:6])
    elif not np.array_equal(m, t):
        return f"{what}: values {m.ravel()[:6]} vs torch {t.ravel()[:6]}"
    return None


def helper_test_op(shps, torch_fxn, mg_fxn=None, atol=1e-6, rtol=1e-3, grad_atol=1e-4, grad_rtol=1e-3,
                   forward_only=False, vals=None, low=-2, high=2, dtypes=("float32", "float64")):
    mg_fxn = mg_fxn or torch_fxn
    for dt in dtypes:
        if shps is None and dt == "float64" and vals is not None and not any(
                np.asarray(v).dtype.kind == "f" for v in vals if not isinstance(v, (int, float))):
            continue                                 # integer/bool inputs: one run is enough
        N[0] += 1
        case = f"#{N[0]} {shps if shps is not None else 'vals'}"
        if shps is None:
            data = [np.asarray(v) for v in vals]
            data = [d.astype(dt) if d.dtype.kind == "f" else d for d in data]
        else:
            np.random.seed(0)
            data = [np.random.uniform(low=low, high=high, size=s).astype(dt) for s in shps]
        data = [d.astype(np.int32) if d.dtype == np.int64 else d for d in data]
        grad = not forward_only
        ts = [torch.tensor(d, requires_grad=grad and d.dtype.kind == "f") for d in data]
        ms = [mg.tensor(d.copy(), requires_grad=grad and d.dtype.kind == "f") for d in data]
        f64 = dt == "float64"
        a, r, ga, gr = (1e-9, 1e-9, 1e-9, 1e-9) if f64 else (atol, rtol, grad_atol, grad_rtol)
        try:
            out = torch_fxn(*ts)
        except Exception as e:                       # torch refuses: nothing to compare
            RESULTS.append((CURRENT[0], case, dt, "torch-refuses", f"{type(e).__name__}: {e}"[:150]))
            continue
        try:
            ret = mg_fxn(*ms)
        except Exception as e:
            RESULTS.append((CURRENT[0], case, dt, "ERROR", f"{type(e).__name__}: {str(e)[:200]}"))
            if VERBOSE:
                traceback.print_exc()
            continue
        msg = _compare("forward", _to_np(ret), _to_np(out), a, r)
        if msg is None and grad and ts and out.requires_grad:
            try:
                tg = torch.autograd.grad(torch_fxn(*ts).sum(), [t for t in ts if t.requires_grad], allow_unused=True)
            except Exception as e:
                RESULTS.append((CURRENT[0], case, dt, "torch-refuses", f"backward: {type(e).__name__}: {e}"[:150]))
                continue
            try:
                res = mg_fxn(*ms)
                res.sum().backward()
                mgrads = [m.grad for m in ms if m.requires_grad]
                for i, (mgd, tgd, m) in enumerate(zip(mgrads, tg, [m for m in ms if m.requires_grad])):
                    tgn = np.zeros(m.shape, dt) if tgd is None else _to_np(tgd)
                    mgn = np.zeros(m.shape, dt) if mgd is None else _to_np(mgd)
                    msg = msg or _compare(f"grad {i}", mgn, tgn, ga, gr)
            except Exception as e:
                msg = f"backward ERROR {type(e).__name__}: {str(e)[:200]}"
        RESULTS.append((CURRENT[0], case, dt, "FAIL" if msg else "ok", msg or ""))


TESTS = []


def _torch_calls_as_minigrad(f):
    """``f`` with ``torch.stack`` / ``torch.cat`` read as ``mg.stack`` / ``mg.cat`` (a case written
    once for both libraries)."""
    import types
    if not {"stack", "cat"} & set(f.__code__.co_names):
        return f
    spelled = {"torch": types.SimpleNamespace(stack=mg.stack, cat=mg.cat)}
    return types.FunctionType(f.__code__, {**f.__globals__, **spelled}, f.__name__, f.__defaults__, f.__closure__)


def test(fn):
    TESTS.append(fn)
    return fn


H = helper_test_op
# =========================================================================== tinygrad test_ops.py
@test
def test_sum_twice():
    for ax in [(0, 1), (0, 2), (1, 2)]:
        H([(4, 4, 4)], lambda x, ax=ax: x.sum(ax).sum())

@test
def test_where():
    H([(100,)], lambda x: torch.where(x > 0.5, 4, 2).type(torch.int32), lambda x: mg.where(x > 0.5, 4, 2).int(), forward_only=True)
    for shps in [[(8,), (1,), (1,)], [(10, 10), (10,), (10,)], [(100,)] * 3, [(10, 10)] * 3]:
        H(shps, lambda x, a, b: torch.where(x > 0.5, a, b), lambda x, a, b: mg.where(x > 0.5, a, b))

@test
def test_cmp():
    for f in [lambda x, y: x == y, lambda x, y: x > y, lambda x, y: x >= y, lambda x, y: x < y, lambda x, y: x <= y, lambda x, y: x != y]:
        H(None, f, vals=[[0., 1, 2], [2., 1, 0]], forward_only=True)
        H(None, f, vals=[[0, 1, 2], [2, 1, 0]], forward_only=True)
        H(None, f, vals=[[True, True, False], [False, True, False]], forward_only=True)
        for shps in [[(3, 4, 5), (3, 4, 5)], [(3, 4, 5), (5,)], [(5,), (3, 4, 5)]]:
            H(shps, f, forward_only=True)
        H(None, lambda x, y, f=f: f(x, 2), vals=[[0., 1, 2], [2., 1, 0]], forward_only=True)
        H(None, lambda x, y, f=f: f(2, y), vals=[[0., 1, 2], [2., 1, 0]], forward_only=True)
        sp = [0.0, 1.0, -1.0, math.inf, -math.inf, math.nan]
        for s0 in sp:
            for s1 in sp:
                H(None, f, vals=[[s0], [s1]], forward_only=True, dtypes=("float32",))

@test
def test_cmp_backwards():
    H([(4,)], lambda t: t * (t != 0)); H([(4,)], lambda t: t * (t < 0))

@test
def test_rounding():
    v = [[1.499, 1.5, 1.501, 1.0, 2.1, 0.0, -5.0, -2.499, -2.5, -2.501, 2.5, -1.5]]
    for f in (lambda x: x.trunc(), lambda x: x.floor(), lambda x: x.ceil(), lambda x: x.round()):
        H([(45, 35)], f); H(None, f, vals=v); H([()], f)

@test
def test_isinf_isnan_isfinite():
    v = [[float('-inf'), 0., float('inf'), float('nan'), 1.1]]
    H(None, torch.isinf, lambda x: x.isinf(), vals=v, forward_only=True)
    H(None, torch.isnan, lambda x: x.isnan(), vals=v, forward_only=True)
    H(None, torch.isfinite, lambda x: x.isfinite(), vals=v, forward_only=True)
    H(None, torch.isposinf, lambda x: mg.isposinf(x), vals=v, forward_only=True)
    H(None, torch.isneginf, lambda x: mg.isneginf(x), vals=v, forward_only=True)

@test
def test_lerp():
    H([(45, 35), (45, 35), (45, 35)], lambda x, y, z: x.lerp(y, z))
    H(None, lambda x, y, z: x.lerp(y, z), vals=[[1., 2., 3.], [4., 5., 6.], 0.5])

@test
def test_tril_triu():
    for f in ("tril", "triu"):
        for sh, k in [((3, 3), 0), ((3, 3), 1), ((3, 3), 2), ((3, 3), -1), ((3, 3), -2), ((4, 5), 4), ((4, 5), 5), ((4, 5), 6),
                      ((4, 5), -4), ((4, 5), -5), ((4, 5), -6), ((5, 3, 3), 0), ((5, 0, 3), 0), ((5, 3, 3), 1)]:
            H([sh], lambda x, f=f, k=k: getattr(x, f)(k))
        H(None, lambda x, f=f: getattr(x, f)(), vals=[[[True] * 3] * 3], forward_only=True)

@test
def test_maximum_minimum():
    for tf, mf in [(torch.maximum, mg.maximum), (torch.minimum, mg.minimum)]:
        H([(45, 65), (45, 65)], tf, mf); H([(), ()], tf, mf)
        H(None, tf, mf, vals=[[1., 0., 3., -4.], 3.])
        H(None, tf, mf, vals=[[1., 0., 3., -4.], [-1., -2., 3., 0.]])
        H(None, tf, mf, vals=[[1., 0., 3., -4.], [1., -2., 3., 0.]])      # ties
        H(None, tf, mf, vals=[[-1234, 0, 1234, 2**31 - 1, -2**31], [2**31 - 1]], forward_only=True)
        H(None, tf, mf, vals=[[True, False, False], [True, True, False]], forward_only=True)
        H(None, lambda x: tf(x, torch.tensor(1.2)), lambda x: mf(x, mg.tensor(1.2)), vals=[[1, 2, 3]], forward_only=True)

@test
def test_relu_maximum_exact():
    H(None, lambda x: x.relu(), vals=[[-1., 0, 1]])
    H(None, lambda x: torch.maximum(x, torch.zeros_like(x)), lambda x: mg.maximum(x, mg.zeros_like(x)), vals=[[-1., 0, 1]])

@test
def test_arith():
    H([(45, 68), (45, 68)], lambda x, y: x + y); H([(), ()], lambda x, y: x + y)
    H([(45, 65), (45, 65), (45, 65)], lambda x, y, z: x + y + z)
    H([(45, 65), (45, 1)], lambda x, y: x + y); H([(45, 65), ()], lambda x, y: x + y); H([(45, 65), (65,)], lambda x, y: x + y)
    H([(45, 65), (45, 65)], lambda x, y: x - y); H([(45, 65)], lambda x: x - 2); H([(45, 65)], lambda x: 2 - x)
    H([(45, 65)], lambda x: -x); H([()], lambda x: x.neg())
    H([(64, 64), (64, 64)], lambda x, y: x * y); H([(45, 65)], lambda x: x * 2); H([(45, 65)], lambda x: 255 * x)
    H([(45, 65), (45, 65)], lambda x, y: x / y); H([(), ()], lambda x, y: x / y)
    for f in [lambda x: x / 255, lambda x: 1 / x, lambda x: 2 / x, lambda x: x * math.inf, lambda x: x * math.nan,
              lambda x: x / math.inf, lambda x: math.inf / x, lambda x: math.nan / x]:
        H([(45, 65)], f)
    H([(45, 65), (45, 65)], lambda x, y: x.add(y)); H([(45, 65), (45, 65)], lambda x, y: x.mul(y))
    H([(45, 65), (45, 65)], lambda x, y: x.sub(y)); H([(45, 65), (45, 65)], lambda x, y: x.div(y))
    H([(45, 65), (45, 65)], lambda x, y: torch.add(x, y, alpha=2), lambda x, y: mg.add(x, y, alpha=2))
    H([(45, 65), (45, 65)], lambda x, y: x.add(y, alpha=2))

@test
def test_logical_not():
    H(None, torch.logical_not, mg.logical_not, vals=[[True, False, True]], forward_only=True)
    H(None, torch.logical_not, mg.logical_not, vals=[[1., 2., 0., 0.5]], forward_only=True)

@test
def test_div_rounding_mode():
    for den in [-3, -1, 2, 5, -2.0, 3.0]:
        for num in ([5, 6, 7, 0, -5, -6, -7], [5.0, 6, 7, 0, -5, -6, -7]):
            for rm in (None, "trunc", "floor"):
                H(None, lambda x, y, rm=rm: x.div(y, rounding_mode=rm), vals=[num, [den]], forward_only=True)

@test
def test_div_int_mod():
    H(None, lambda x, y: x / y, vals=[[5, 6, 7], [1, 2, 3]], forward_only=True)
    H(None, lambda x, y: x // y, vals=[[5, 6, 7], [1, 2, 3]], forward_only=True)
    H(None, lambda x: x // 2, vals=[[3, 4, 5]], forward_only=True)
    a, b = [-4, 7, 5, 4, -7, 8, -9], [2, -3, 8, -2, 3, 5, -5]
    for fa in (True, False):
        for fb in (True, False):
            va, vb = [float(i) for i in a] if fa else a, [float(i) for i in b] if fb else b
            for f in [lambda x, y: x % y, lambda x, y: x.remainder(y), lambda x, y: x.fmod(y)]:
                H(None, f, vals=[va, vb], forward_only=True)
            for f in [lambda x: x % 2, lambda x: x % 3.5, lambda x: 100 % x, lambda x: 100.5 % x]:
                H(None, f, vals=[va], forward_only=True)

@test
def test_pow():
    H([(45, 65), (45, 65)], lambda x, y: x ** y); H([(45, 65), (45, 65)], lambda x, y: x.pow(y))
    for e in [0, 1, 2, 3, -2, 0.0, 1.0, -1.0, 8.0, 5.5, -5.5, 2.0]:
        H([(45, 65)], lambda x, e=e: x ** e)
    H([(45, 65)], lambda x: x ** 3, low=-30, high=-27)
    H([(45, 65)], lambda x: x ** 0.2, low=-30, high=-27); H([(45, 65)], lambda x: x ** 1.2, low=-30, high=-27)
    for b in [1.0, 5.5, -5.5, 8.0, 2.0]:
        H([(45, 65)], lambda x, b=b: b ** x)
    H(None, lambda x: 0 ** x, vals=[[-2., -1, 0, 1, 2, 3]]); H(None, lambda x: 0.7 ** x, vals=[[-2., -1, 0, 1, 2, 3]])
    H(None, lambda x: (-2) ** x, vals=[[-2., -1, 0, 1, 2, 3]])
    H(None, lambda x: 0.7 ** x, vals=[[-2, -1, 0, 1, 2, 3]], forward_only=True)
    H(None, lambda x, y: x ** y, vals=[[0.0], [0.0]]); H(None, lambda x, y: x ** y, vals=[[0.0], [0.3]])
    H(None, lambda x, y: x ** y, vals=[[0.0], [-0.3]])
    for e in [0.3, 0.0, -0.3]:
        H(None, lambda x, e=e: x ** e, vals=[[0.0]])
    H(None, lambda x: x ** -1.0, vals=[[-1.0, 0.0, 1.0]])
    H([(1,)], lambda x: x * 0 ** 1.1, vals=None) if False else None
    H(None, lambda x: x ** 1.1, vals=[[0.0]])
    for e in [0, 1, 2, 7, 29]:
        H(None, lambda x, e=e: x ** e, vals=[[-2, 0, 2]], forward_only=True)
    for x0 in [-math.inf, 0., 1., math.inf]:
        for c in [-1, 0, 0.3, 1, 2]:
            H(None, lambda x, c=c: x ** c, vals=[[x0]])

@test
def test_unary_math():
    for f in [lambda x: x.sqrt(), lambda x: x.rsqrt(), lambda x: x.sin(), lambda x: x.cos(), lambda x: x.tan(),
              lambda x: x.exp(), lambda x: x.log(), lambda x: x.log2(), lambda x: x.exp2(), lambda x: x.abs(),
              lambda x: x.sign(), lambda x: x.sigmoid(), lambda x: x.tanh(), lambda x: x.relu(), lambda x: x.erf(),
              lambda x: x.sinh(), lambda x: x.cosh(), lambda x: x.atan(), lambda x: x.square(), lambda x: x.reciprocal(),
              lambda x: x.log1p(), lambda x: x.expm1(), lambda x: x.log10(), lambda x: (x + x) * x]:
        H([(45, 65)], f); H([()], f)
    for f in [lambda x: x.sqrt(), lambda x: x.rsqrt(), lambda x: x.abs(), lambda x: x.sign(), lambda x: x.relu()]:
        H(None, f, vals=[[-1., 0, 1]])
    for f in [lambda x: x.sin(), lambda x: x.cos(), lambda x: x.tan(), lambda x: x.log(), lambda x: x.exp(),
              lambda x: x.log2(), lambda x: x.exp2()]:
        H(None, f, vals=[[math.nan, math.inf, -math.inf, 0.0]])
    H([(45, 65)], lambda x: x.tan(), low=-1.5, high=1.5)
    for f in [lambda x: x.asin(), lambda x: x.acos()]:
        H([(45, 65)], f, low=-1, high=1)
    for lo, hi in [(-300, -297), (300, 303)]:
        for f in [lambda x: x.atan(), lambda x: x.tanh(), lambda x: x.sigmoid(), lambda x: x.erf()]:
            H([(45, 65)], f, low=lo, high=hi)
        H([(45, 65)], lambda x: x.sinh(), low=lo, high=hi, forward_only=True)
        H([(45, 65)], lambda x: x.cosh(), low=lo, high=hi, forward_only=True)

@test
def test_inverse_hyperbolic():
    for f in [lambda x: x.asinh(), lambda x: x.acosh(), lambda x: x.atanh()]:
        H([(45, 65)], f); H([(45, 65)], f, low=300, high=303)

@test
def test_copysign():
    H([(45, 65), (45, 65)], torch.copysign, mg.copysign); H([(45, 1), (1, 65)], torch.copysign, mg.copysign)
    for i in [-1., 0., 1.]:
        for j in [-1., 0., 1.]:
            H(None, torch.copysign, mg.copysign, vals=[[i], [j]])

@test
def test_logaddexp():
    H([(45, 65), (45, 65)], torch.logaddexp, mg.logaddexp)
    H(None, torch.logaddexp, mg.logaddexp, vals=[[-1.], [-1.0, 2, 3]])
    H(None, torch.logaddexp, mg.logaddexp, vals=[[-100.0, -200, -300], [-1.0, 2, 3]])
    H(None, torch.logaddexp, mg.logaddexp, vals=[[1.0, 2000, 30000], [-1.0, 2, 3]])

@test
def test_activations():
    cases = [("leaky_relu", TF.leaky_relu, lambda x: mg.leaky_relu(x, 0.01)),
             ("selu", TF.selu, lambda x: mg.selu(x)), ("silu", TF.silu, lambda x: mg.silu(x)),
             ("softsign", TF.softsign, lambda x: mg.softsign(x)), ("logsigmoid", TF.logsigmoid, lambda x: mg.logsigmoid(x)),
             ("log_sigmoid", TF.logsigmoid, lambda x: mg.log_sigmoid(x)),
             ("hardsigmoid", TF.hardsigmoid, lambda x: mg.hardsigmoid(x)), ("softplus", TF.softplus, lambda x: mg.softplus(x)),
             ("softplus3", lambda t: TF.softplus(t, beta=3), lambda t: mg.softplus(t, beta=3)),
             ("softplus1/3", lambda t: TF.softplus(t, beta=1 / 3), lambda t: mg.softplus(t, beta=1 / 3)),
             ("gelu_tanh", lambda x: TF.gelu(x, approximate="tanh"), lambda x: mg.gelu(x, approximate="tanh")),
             ("gelu", TF.gelu, lambda x: mg.gelu(x)),
             ("quick_gelu", lambda x: x * torch.sigmoid(1.702 * x), lambda x: x * mg.sigmoid(1.702 * x)),
             ("elu", TF.elu, lambda x: mg.elu(x)), ("elu0.1", lambda x: TF.elu(x, alpha=0.1), lambda x: mg.elu(x, alpha=0.1)),
             ("relu6", TF.relu6, lambda x: mg.relu6(x)), ("hardswish", TF.hardswish, lambda x: mg.hardswish(x)),
             ("mish", TF.mish, lambda x: mg.mish(x)), ("tanhshrink", TF.tanhshrink, lambda x: mg.tanhshrink(x)),
             ("hardshrink", TF.hardshrink, lambda x: mg.hardshrink(x)), ("softshrink", TF.softshrink, lambda x: mg.softshrink(x)),
             ("hardtanh", TF.hardtanh, lambda x: mg.hardtanh(x)),
             ("silu method", TF.silu, lambda x: x.silu() if hasattr(x, "silu") else mg.silu(x)),
             ] + [(f"celu{v}", lambda x, v=v: TF.celu(x, v), lambda x, v=v: mg.celu(x, v)) for v in range(1, 5)] \
               + [(f"hardtanh{v}", lambda x, v=v: TF.hardtanh(x, -v, v), lambda x, v=v: mg.hardtanh(x, -v, v)) for v in (0.5, 10, 25)]
    for name, tf, mf in cases:
        CURRENT[0] = "test_activations:" + name
        H([(45, 65)], tf, mf); H([()], tf, mf)
        H(None, tf, mf, vals=[[-1., 0., 1., -3., 3., 6., -6.]])
    for name, tf, mf in [("sigmoid", torch.sigmoid, mg.sigmoid), ("softplus", TF.softplus, mg.softplus),
                         ("gelu_tanh", lambda x: TF.gelu(x, approximate="tanh"), lambda x: mg.gelu(x, approximate="tanh")),
                         ("logsigmoid", TF.logsigmoid, lambda x: mg.log_sigmoid(x)), ("silu", TF.silu, mg.silu),
                         ("elu", TF.elu, mg.elu), ("gelu", TF.gelu, mg.gelu)]:
        CURRENT[0] = "test_activations_extreme:" + name
        H([(45, 65)], tf, mf, low=300, high=400); H([(45, 65)], tf, mf, low=-400, high=-300)

@test
def test_cumulative():
    for tf, mf in [(torch.cumsum, lambda x, d: x.cumsum(d)), (torch.cumprod, lambda x, d: x.cumprod(d)),
                   (lambda x, d: torch.cummax(x, d).values, lambda x, d: mg.cummax(x, d)[0]),
                   (lambda x, d: torch.cummin(x, d).values, lambda x, d: mg.cummin(x, d)[0]),
                   (torch.logcumsumexp, lambda x, d: x.logcumsumexp(d))]:
        for sh, d in [((10,), 0), ((), 0), ((20, 30), 0), ((20, 30), 1), ((6, 6, 6), 2), ((6, 6, 6), -1),
                      ((2, 0, 4), 1), ((0, 3), 0), ((2, 3, 0), 2)]:
            H([sh], lambda x, tf=tf, d=d: tf(x, d), lambda x, mf=mf, d=d: mf(x, d))
    H(None, lambda x: torch.logcumsumexp(x, 0), lambda x: x.logcumsumexp(0), vals=[[0.0, 100.0]])
    H(None, lambda x: torch.cumprod(x, 0), lambda x: x.cumprod(0), vals=[[1.0, 0.0, 3.0, 0.0, 2.0]])

@test
def test_arg_sort_topk():
    for f in [lambda x: x.argmax(), lambda x: x.argmax(0, False), lambda x: x.argmax(1, True), lambda x: x.argmin(),
              lambda x: x.argmin(1, False), lambda x: x.argmin(dim=1, keepdim=True)]:
        H([(10, 20)], f, forward_only=True)
    H(None, lambda x: x.argmax(), vals=[[2, 2]], forward_only=True); H(None, lambda x: x.argmin(), vals=[[3, 2, 2]], forward_only=True)
    for sh in [(0,), (0, 5), (1,), (1, 5)]:
        H([sh], lambda x: x.sort(0).values, forward_only=True); H([sh], lambda x: x.sort(0).indices, forward_only=True)
    for d in [-1, 0, 1]:
        for desc in [True, False]:
            H([(8, 8, 6)], lambda x, d=d, desc=desc: x.sort(d, desc).values)
            H([(8, 8, 6)], lambda x, d=d, desc=desc: x.sort(d, desc).indices, forward_only=True)
            H([(8, 8, 6)], lambda x, d=d, desc=desc: torch.argsort(x, dim=d, descending=desc, stable=True),
              lambda x, d=d, desc=desc: x.argsort(d, desc), forward_only=True)
    H(None, lambda x: x.sort(stable=True, descending=True).indices, lambda x: x.sort(descending=True, stable=True).indices,
      vals=[[0, 1] * 9], forward_only=True)
    H([(8,)], lambda x: x.topk(3).values); H([(8,)], lambda x: x.topk(3).indices, forward_only=True)
    for d in [0, 1, -1]:
        for lg in [True, False]:
            H([(5, 5, 4)], lambda x, d=d, lg=lg: x.topk(4, d, lg, True).values)

@test
def test_einsum():
    for spec, shps in [('->', [()]), ('ij->ji', [(10, 10)]), ('ji', [(10, 10)]), ('jki', [(4, 6, 8)]), ('ij,jk', [(4, 6), (6, 8)]),
                       ('ijk->', [(4, 6, 8)]), ('ij->j', [(5, 5)]), ('ik,k->i', [(3, 4), (4,)]), ('jk,ki->ji', [(3, 4), (4, 5)]),
                       ('i,i->i', [(5,), (5,)]), ('i,j->ij', [(5,), (5,)]), ('ijk,ikl->jil', [(2, 4, 5), (2, 5, 7)]),
                       ('jik,ikl->jil', [(4, 2, 5), (2, 5, 7)]), ('pqrs,tuqvr->pstuv', [(3, 5, 8, 10), (11, 7, 5, 13, 8)]),
                       ('ik,jkl,il->ij', [(2, 3), (5, 3, 7), (2, 7)]), ('...id, ...jd -> ...ij', [(3, 8, 9), (3, 8, 9)]),
                       ('...id, ...jd', [(3, 8, 9), (3, 8, 9)]), ('i...j,ji...->...', [(2, 3, 4, 5), (5, 2, 4)]),
                       ('i,i', [(5,), (5,)]), ('ii->i', [(4, 4)]), ('ii->', [(4, 4)]), ('...ii->...i', [(3, 5, 5)]), ('...ii->...', [(3, 5, 5)])]:
        H(shps, lambda *a, s=spec: torch.einsum(s, *a), lambda *a, s=spec: mg.einsum(s, *a), atol=1e-5)

@test
def test_matmul():
    for shps in [[(65,), (65,)], [(65,), (65, 45)], [(45, 65), (65,)], [(8, 45, 65), (65,)], [(65,), (8, 65, 45)],
                 [(45, 65), (65, 100)], [(8, 45, 65), (8, 65, 100)], [(4,), (4, 4)], [(3,), (1, 3, 3, 5)], [(4, 3), (1, 3, 3, 5)],
                 [(9, 9), (9, 9)], [(8, 8), (8, 0)], [(0, 8), (8, 8)], [(8, 0), (0, 8)], [(0,), (0,)], [(0,), (0, 8)],
                 [(10, 45, 65), (65, 45)], [(3, 3, 45, 65), (3, 3, 65, 45)], [(1, 128), (128, 128)]]:
        H(shps, lambda x, y: x.matmul(y), atol=1e-5); H(shps, lambda x, y: x @ y, atol=1e-5)
    H([(45, 65), (65, 100)], lambda x, y: x.mm(y), atol=1e-5); H([(65,), (65,)], lambda x, y: x.dot(y))
    H([(8, 45, 65), (8, 65, 100)], lambda x, y: x.bmm(y), atol=1e-5)
    H([(1, 128), (128, 128), (128, 128)], lambda x, y, z: (x @ y).relu() @ z, atol=1e-5)
    H([(9, 9), (9, 9)], lambda x, y: TF.pad(x, (0, 7, 0, 7)).matmul(TF.pad(y, (0, 7, 0, 7))),
      lambda x, y: mg.pad(x, (0, 7, 0, 7)).matmul(mg.pad(y, (0, 7, 0, 7))))

@test
def test_reductions():
    H(None, lambda x: x.sum(), vals=[[1., 1.]]); H([(16384,)], lambda x: x.sum()); H([(3, 4, 5)], lambda x: x.relu().sum().relu())
    for f in [lambda x: x.sum(axis=(0, 2)), lambda x: x.sum(axis=3), lambda x: x.sum(axis=(1, 3)), lambda x: x.sum(axis=1, keepdim=True),
              lambda x: x.sum(dim=1, keepdim=True), lambda x: x.sum(-1), lambda x: x.mean(), lambda x: x.mean(axis=(1, 2)),
              lambda x: x.mean(dim=1, keepdim=True), lambda x: x.prod(dim=3), lambda x: x.prod(1, keepdim=True), lambda x: x.prod(),
              lambda x: x.amax(dim=(1, 2)), lambda x: x.amin(1, keepdim=True), lambda x: x.max(), lambda x: x.min(),
              lambda x: x.max(1)[0], lambda x: x.max(dim=1, keepdim=True).values, lambda x: x.min(1).values,
              lambda x: x.logsumexp(2), lambda x: x.logsumexp(dim=(1, 2)), lambda x: x.logsumexp(1, keepdim=True),
              lambda x: x.std(), lambda x: x.var(), lambda x: x.norm(), lambda x: x.norm(dim=1), lambda x: x.norm(p=1, dim=-1),
              lambda x: x.abs().sum(dim=-2).sqrt(), lambda x: x.nansum() if isinstance(x, torch.Tensor) else x.nansum(),
              lambda x: x.count_nonzero(dim=1)]:
        H([(3, 4, 5, 6)], f, atol=1e-5, rtol=1e-3, grad_atol=1e-4)
    for f in [lambda x: x.sum(), lambda x: x.sum(0), lambda x: x.sum(-1), lambda x: x.sum(()), lambda x: x.mean(), lambda x: x.prod(),
              lambda x: x.prod(0), lambda x: x.max(), lambda x: x.logsumexp(0), lambda x: x.amax()]:
        H([()], f)
    H([(4, 0)], lambda x: x.sum(axis=(0,))); H([(4, 0)], lambda x: x.sum(axis=(1,))); H([(1, 0, 3, 0, 5)], lambda x: x.mean(axis=(1, 3)))
    H([(45, 3)], lambda x: x.sum(dtype=torch.float64), lambda x: x.sum(dtype="float64") if False else mg.sum(x).double())
    H([(45, 3)], lambda x: x.sum(dtype=torch.float64))
    H([(45, 3)], lambda x: x.max().mul(0.5)); H(None, lambda x: x.max().mul(0.5), vals=[[[1.0, 1.0, 0.0, 1.0]]])
    H(None, lambda x: x.min().mul(0.5), vals=[[[1.0, 0.0, 0.0, 1.0]]])
    H(None, lambda x: x.amax(dim=1), vals=[[[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]]])
    H(None, lambda x: x.max(dim=1).values, vals=[[[1.0, 1.0, 0.0], [2.0, 2.0, 2.0]]])
    H(None, lambda x: x.max(), vals=[[0, -2**31]], forward_only=True); H(None, lambda x: x.max(), vals=[[False, True]], forward_only=True)
    H(None, lambda x: x.min(), vals=[[True, False]], forward_only=True)
    H(None, lambda x: x.prod(), vals=[[1.0, 0.0, 3.0]]); H(None, lambda x: x.prod(), vals=[[0.0, 0.0, 3.0]])
    for f in [lambda x: x.any(), lambda x: x.all(), lambda x: x.any(dim=(1, 2)), lambda x: x.all(dim=1)]:
        H([(3, 4, 5, 6)], f, forward_only=True)
    H([(1, 0, 3, 0, 5)], lambda x: x.any(dim=(1, 3)), forward_only=True)

@test
def test_var_std():
    for fn in ("var", "std"):
        for f in [lambda x, fn=fn: getattr(x, fn)(), lambda x, fn=fn: getattr(x, fn)(correction=0),
                  lambda x, fn=fn: getattr(x, fn)(correction=5), lambda x, fn=fn: getattr(x, fn)(0),
                  lambda x, fn=fn: getattr(x, fn)([1, 2]), lambda x, fn=fn: getattr(x, fn)(2, correction=0),
                  lambda x, fn=fn: getattr(x, fn)(keepdim=True), lambda x, fn=fn: getattr(x, fn)(0, keepdim=True, correction=0),
                  lambda x, fn=fn: getattr(x, fn)(0, unbiased=False)]:
            H([(15, 25, 35)], f, atol=1e-5)
        for f in [lambda x, fn=fn: getattr(x, fn)(dim=(0, 3)), lambda x, fn=fn: getattr(x, fn)(dim=(0, 4)),
                  lambda x, fn=fn: getattr(x, fn)(dim=(0, 4), correction=0), lambda x, fn=fn: getattr(x, fn)(dim=(0, 3), correction=0)]:
            H([(1, 2, 3, 1, 5)], f)
        H([(1,)], lambda x, fn=fn: getattr(x, fn)(dim=(0,), correction=0), forward_only=fn == "std")
    H([(15, 25, 35)], lambda x: torch.stack(torch.std_mean(x)), lambda x: mg.stack(mg.std_mean(x)))
    H([(15, 25, 35)], lambda x: torch.stack(torch.var_mean(x, 1)), lambda x: mg.stack(mg.var_mean(x, 1)))

@test
def test_softmax_family():
    for sh, d in [((45, 65), 1), ((45,), 0), ((), 0), ((), -1), ((10, 10, 10), 0), ((10, 10, 10), 1), ((10, 10, 10), 2)]:
        H([sh], lambda x, d=d: x.softmax(d), atol=1e-7, grad_atol=2e-7)
        H([sh], lambda x, d=d: x.log_softmax(d), atol=1e-7, grad_atol=1e-7)
        H([sh], lambda x, d=d: TF.softmax(x, dim=d), lambda x, d=d: mg.softmax(x, d), atol=1e-7, grad_atol=2e-7)
        H([sh], lambda x, d=d: TF.log_softmax(x, dim=d), lambda x, d=d: mg.log_softmax(x, d), atol=1e-7, grad_atol=1e-7)
    H([(45, 65)], lambda x: torch.nn.Softmax(dim=1)(x), lambda x: mg.softmax(x, dim=1), atol=1e-7, grad_atol=2e-7)
    H([(45, 65)], lambda x: TF.softmin(x, dim=1), lambda x: mg.softmin(x, dim=1), atol=1e-7, grad_atol=2e-7)
    H([(45, 65)], lambda x: x.softmax(0).argmax(), forward_only=True)
    H(None, lambda x: x.softmax(-1), vals=[[0.0, -math.inf, 1.0]])
    H(None, lambda x: x.log_softmax(-1), vals=[[1000.0, 0.0, -1000.0]])

@test
def test_slicing():
    for sh, f in [((3,), lambda x: x[1:3]), ((3,), lambda x: x[-2:2]), ((), lambda x: x[None]), ((3,), lambda x: x[0]),
                  ((3,), lambda x: x[-3]), ((10, 10), lambda x: x[1]), ((3, 3, 3), lambda x: x[1, 1, 1]),
                  ((3, 3, 3), lambda x: x[1:2, 1:2, 0:-1]), ((3, 3, 3), lambda x: x[1:2, None, 1:2]),
                  ((3, 3, 3), lambda x: x[None, None, 1, None, 2, 0:2]), ((3, 3, 3), lambda x: x[-6:4]),
                  ((3, 3, 3), lambda x: x[1:50, 1:2, -1]), ((7, 5, 10), lambda x: x[::2, ::3, ::4]),
                  ((7, 5, 10), lambda x: x[1:5:2, None, None, 3, None, ::4]), ((3, 3, 3), lambda x: x[5:10]),
                  ((3, 3, 3), lambda x: x[-2:-5]), ((10, 10), lambda x: x[1:1]), ((3, 3, 3, 3), lambda x: x[..., 0]),
                  ((3, 3, 3, 3), lambda x: x[0, ..., 0]), ((3, 3, 3, 3), lambda x: x[None, 0:3, ..., 0, None]),
                  ((4, 4), lambda x: x[:, 1:2][1:2]), ((4, 4), lambda x: x[1:3][1:2]), ((3, 3, 3), lambda x: x[:, [0], :]),
                  ((5, 6), lambda x: x[[1, 1, 2]]), ((2, 3), lambda x: x[[[0, 1, -1], [-1, -2, 0]], [2, 1, -1]]),
                  ((2, 3), lambda x: x[[1], [[0, 0, 0], [0, 0, 0]]]), ((2, 5, 6, 5, 3, 4), lambda x: x[1, :, 3:11:2, [0, 2], 0:2]),
                  ((2, 5, 6, 5, 3, 4), lambda x: x[(1, 0, -1), [1, 2, 0], ...]), ((2, 5, 6, 5, 3, 4), lambda x: x[:, [1, 2], None, [0, 3]]),
                  ((5, 4), lambda x: x[x[:, 0] > 0]), ((5, 4), lambda x: x[torch.tensor([True, False, True, True, False]) if isinstance(x, torch.Tensor) else mg.tensor([True, False, True, True, False])])]:
        H([sh], f)
    H([(3, 3, 3)], lambda x: x[:, torch.zeros(1, dtype=torch.int32), :], lambda x: x[:, mg.zeros(1, dtype="int32"), :])
    H(None, lambda x: x[torch.tensor([0, 1, 2])], lambda x: x[mg.tensor([0, 1, 2])], vals=[[math.inf, -math.inf, math.nan]])

@test
def test_pad():
    for p, v in [((1, 2, 3, 4), 0), ((-1, 2, -3, 4), 0), ((1, 2, 3, 4), 5), ((-1, 2, -3, 4), 5), ((1, 2, 3, 4), math.inf), ((0, 0, 3, 4), 1)]:
        H([(3, 3, 3, 3)], lambda x, p=p, v=v: TF.pad(x, p, value=v), lambda x, p=p, v=v: mg.pad(x, p, value=v))
    H([(3, 3, 3, 3)], lambda x: TF.pad(x, (1, 2, 3, 4)), lambda x: mg.pad(x, (1, 2, 3, 4)))
    for mode, p in [("reflect", (0, 2, 3, 2)), ("replicate", (0, 2, 3, 2)), ("circular", (0, 2, 3, 2)), ("reflect", (1, 2))]:
        H([(1, 1, 5, 5)], lambda x, p=p, mode=mode: TF.pad(x, p, mode=mode), lambda x, p=p, mode=mode: mg.pad(x, p, mode=mode))
    H([(1, 2)], lambda x: TF.pad(x, (0, 2, 1, 1)).reshape((4, 3)), lambda x: mg.pad(x, (0, 2, 1, 1)).reshape((4, 3)))
    H([(4, 4)], lambda x: TF.pad(x, (3, 4, 1, 2), value=3.456)[:, 4], lambda x: mg.pad(x, (3, 4, 1, 2), value=3.456)[:, 4])
    H([(64, 64), (60, 60)], lambda x, w: x + TF.pad(w, (2, 2, 2, 2)), lambda x, w: x + mg.pad(w, (2, 2, 2, 2)))
    for mode in ("reflect", "replicate", "circular"):
        for sh, p in [((5, 5, 5), (0, 2)), ((1, 5, 5), (1, 2, 3, 4)), ((3, 3, 3, 3), (-1, 2, 2, -1)), ((1, 5, 5), (3, -3, 0, -3)),
                      ((1, 1, 5, 5, 5), (1, 2, 3, 4, 1, 2)), ((2, 7), (6, 6)), ((2, 7), (4, 7))]:
            H([sh], lambda x, p=p, mode=mode: TF.pad(x, p, mode=mode), lambda x, p=p, mode=mode: mg.pad(x, p, mode=mode))

@test
def test_shape_ops():
    for sh, f in [((3, 3), lambda x: x.T), ((3, 3, 3), lambda x: x.transpose(1, 2)), ((3, 3, 3), lambda x: x.transpose(0, 2)),
                  ((1, 2, 3, 4), lambda x: x.permute((3, 0, 2, 1))), ((3, 4, 5, 6), lambda x: x.permute((-2, -1, 1, 0))),
                  ((3, 4, 5, 6), lambda x: x.permute(3, 2, 1, 0)), ((), lambda x: x.permute(())),
                  ((4, 3, 6, 6), lambda x: x.reshape((12, 6, 6))), ((4, 3, 6, 6), lambda x: x.reshape((-1, 1, 6, 6))),
                  ((4, 3, 6, 6), lambda x: x.reshape(-1, 3, 6, 6)), ((), lambda x: x.reshape(())), ((1,), lambda x: x.reshape(())),
                  ((), lambda x: x.reshape((1, 1, 1))), ((6,), lambda x: x.view(2, 3)), ((6, 1), lambda x: x.view([2, 3])),
                  ((3, 2), lambda x: x.view(6)), ((3, 2), lambda x: x.view(-1)),
                  ((4, 3, 6, 6), lambda x: x.flip((0, 1, 3))), ((4, 3, 6, 6), lambda x: x.flip((0, 1, 3)).flip(0)),
                  ((4, 3, 6, 6), lambda x: x.flip((-1,))), ((), lambda x: x.flip(())), ((4, 3, 6, 6), lambda x: x.flip(())),
                  ((1, 3, 6, 6), lambda x: x.squeeze(0)), ((4, 3, 6, 6), lambda x: x.squeeze(3)), ((4, 3, 6, 1), lambda x: x.squeeze(-1)),
                  ((1, 3, 6, 6), lambda x: x.squeeze()), ((2, 3, 1), lambda x: x.squeeze()), ((), lambda x: x.squeeze(-1)),
                  ((), lambda x: x.squeeze(0)), ((), lambda x: x.squeeze()), ((1, 3, 1), lambda x: x.squeeze((0, 2))),
                  ((4, 3, 6, 6), lambda x: x.unsqueeze(0)), ((4, 3, 6, 6), lambda x: x.unsqueeze(4)), ((4, 3, 6, 6), lambda x: x.unsqueeze(-1)),
                  ((4, 3, 6, 6), lambda x: x.unsqueeze(-3)), ((), lambda x: x.unsqueeze(0)),
                  ((4, 3, 6, 6), lambda x: x.flatten(start_dim=1)), ((4, 3, 6, 6), lambda x: x.flatten(end_dim=1)),
                  ((4, 3, 6, 6), lambda x: x.flatten(start_dim=1, end_dim=2)), ((), lambda x: x.flatten()), ((1,), lambda x: x.flatten()),
                  ((4, 3, 6, 6), lambda x: x.unflatten(0, (2, 2))), ((4, 3, 6, 6), lambda x: x.unflatten(-1, (3, 2, 1))),
                  ((5,), lambda x: x.diag()), ((5, 5), lambda x: x.diagonal()), ((5, 5), lambda x: x.diag(1)),
                  ((2, 4), lambda x: x.roll(1)), ((2, 4), lambda x: x.roll(1, 0)), ((2, 4), lambda x: x.roll(-1, -1)),
                  ((2, 4), lambda x: x.roll(5, 0)), ((2, 4, 6), lambda x: x.roll(shifts=(2, -3), dims=(0, 2))),
                  ((2, 4), lambda x: x.roll((1,))), ((2, 4, 6), lambda x: x.roll(shifts=(1, 2, -1), dims=(0, 1, 2))),
                  ((4, 3, 1, 6), lambda x: x.expand((4, 3, 2, 6))), ((1, 1, 1, 1), lambda x: x.expand((4, 3, 2, 6))),
                  ((4, 3, 1, 6), lambda x: x.expand((6, 1, 4, 3, 2, 6))), ((4, 3, 1, 6), lambda x: x.expand(4, 3, 0, 6)),
                  ((), lambda x: x.expand((4, 3, 2, 6))), ((), lambda x: x.expand([])), ((4, 3, 1, 6), lambda x: x.expand(-1, -1, 2, -1)),
                  ((3, 1), lambda x: x.expand_as(torch.ones(3, 4)) if isinstance(x, torch.Tensor) else x.expand_as(mg.ones(3, 4))),
                  ((8,), lambda x: x.unfold(0, 2, 1)), ((8,), lambda x: x.unfold(0, 7, 3)), ((3, 3, 3), lambda x: x.unfold(2, 2, 8)),
                  ((3, 3), lambda x: x.repeat_interleave(6)), ((3, 3), lambda x: x.repeat_interleave(2, 1)),
                  ((3, 3), lambda x: x.repeat_interleave(2, -2)), ((3, 3), lambda x: x.repeat(3, 3, 4)),
                  ((4, 6, 3), lambda x: x.repeat(2, 4, 3, 4)), ((), lambda x: x.repeat(2, 4, 3)), ((4, 6, 3), lambda x: x.repeat(2, 0, 4)),
                  ((3, 4), lambda x: x.movedim(0, 1)), ((3, 4, 5), lambda x: x.moveaxis(-1, 0)), ((3, 4, 5), lambda x: x.swapaxes(0, 2)),
                  ((3, 4, 5), lambda x: x.narrow(1, 1, 2)), ((3, 4, 5), lambda x: x.mT), ((3, 4), lambda x: x.t()),
                  ((3, 4), lambda x: x.detach()), ((2, 3), lambda x: x.clone()), ((2, 3), lambda x: x.contiguous()),
                  ((2, 3), lambda x: x.type_as(x)), ((6, 4), lambda x: torch.stack(x.chunk(3, 0))), ((6, 4), lambda x: torch.cat(x.split(2, 1), 0))]:
        H([sh], f, _torch_calls_as_minigrad(f))
    H([(6, 4)], lambda x: torch.stack(x.chunk(3, 0)), lambda x: mg.stack(x.chunk(3, 0)))
    H([(6, 4)], lambda x: torch.cat(x.split(2, 1), 0), lambda x: mg.cat(x.split(2, 1), 0))
    H([(6, 4)], lambda x: torch.stack(x.unbind(1), 0), lambda x: mg.stack(x.unbind(1), 0))
    H([(6, 4)], lambda x: torch.cat(x.tensor_split(3, 0), 1), lambda x: mg.cat(x.tensor_split(3, 0), 1))

@test
def test_cat_stack():
    for d in range(-2, 3):
        H([(5, 6, 3)] * 3, lambda x, y, z, d=d: torch.cat((x, y, z), d), lambda x, y, z, d=d: mg.cat((x, y, z), d))
        H([(5, 6, 3)] * 3, lambda x, y, z, d=d: torch.cat((x, y, z), dim=d), lambda x, y, z, d=d: mg.cat((x, y, z), dim=d))
    H([(45, 0, 9), (45, 1, 9), (45, 2, 9)], lambda x, y, z: torch.cat((x, y, z), 1), lambda x, y, z: mg.cat((x, y, z), 1))
    for d in range(-1, 4):
        H([(5, 6, 3)] * 3, lambda x, y, z, d=d: torch.stack((x, y, z), d), lambda x, y, z, d=d: mg.stack((x, y, z), d))
        H([(5, 6, 3)] * 3, lambda x, y, z, d=d: torch.stack((x, y, z), dim=d), lambda x, y, z, d=d: mg.stack((x, y, z), dim=d))
    H([(4,)], lambda x: torch.stack([x] * 3)[0, :], lambda x: mg.stack([x] * 3)[0, :])
    H(None, lambda x, y: torch.stack((x, y)).max(axis=0)[0], lambda x, y: mg.stack((x, y)).max(axis=0), vals=[[1.], [2.]])
    H(None, lambda x, y: torch.stack((x, y)).max(0)[0], lambda x, y: mg.stack((x, y)).max(0)[0], vals=[[1.], [1.]])
    H([(3, 4), (3, 4)], lambda x, y: torch.hstack((x, y)), lambda x, y: mg.hstack((x, y)))
    H([(3, 4), (3, 4)], lambda x, y: torch.vstack((x, y)), lambda x, y: mg.vstack((x, y)))
    H([(3,), (3,)], lambda x, y: torch.column_stack((x, y)), lambda x, y: mg.column_stack((x, y)))
    H([(3, 4), (3, 4)], lambda x, y: torch.dstack((x, y)), lambda x, y: mg.dstack((x, y)))

@test
def test_clip():
    for lo, hi in [(-2.3, 1.2), (0, 0), (10, 100), (0, 0.1), (-0.3, -0.2), (3, 0), (None, 0), (0, None)]:
        H([(45, 65)], lambda x, lo=lo, hi=hi: x.clip(lo, hi))
        H([(45, 65)], lambda x, lo=lo, hi=hi: x.clamp(min=lo, max=hi))
    H(None, lambda x: x.clip(-2.5, 1.5), vals=[[-3.0, -2.5, 0, 1.5, 2]])
    H([(45, 65)], lambda x: x.clamp_min(0.5) if isinstance(x, torch.Tensor) else x.clamp_min(0.5))
    H([(45, 65)], lambda x: x.clamp_max(0.5))
    H([(45, 65), (45, 65), (45, 65)], lambda x, lo, hi: x.clamp(lo, hi))

@test
def test_gather_scatter():
    np.random.seed(1)
    b = np.random.randint(0, 3, size=(3, 4, 5))
    for sh, d in [((4, 5, 6), 0), ((4, 5, 6), 1), ((4, 5, 6), 2), ((3, 4, 5), 0), ((4, 5, 6), -1), ((4, 5, 6), -2), ((4, 5, 6), -3)]:
        H([sh], lambda x, d=d: x.gather(dim=d, index=torch.tensor(b)), lambda x, d=d: x.gather(dim=d, index=mg.tensor(b)))
        H([sh], lambda x, d=d: x.gather(d, torch.tensor(b)), lambda x, d=d: x.gather(d, mg.tensor(b)))
        H([sh], lambda x, d=d: torch.gather(x, d, torch.tensor(b)), lambda x, d=d: mg.gather(x, d, mg.tensor(b)))
    H(None, lambda x: x.gather(dim=0, index=torch.tensor([2, 1, 0, 1, 2])), lambda x: x.gather(dim=0, index=mg.tensor([2, 1, 0, 1, 2])), vals=[[-math.inf, 2., 3.]])
    for d in (0, 1, -1):
        H([(4, 5, 6), (4, 5, 6)], lambda x, s, d=d: x.scatter(d, torch.tensor(b), s), lambda x, s, d=d: x.scatter(d, mg.tensor(b), s))
        H([(4, 5, 6), (3, 4, 5)], lambda x, s, d=d: x.scatter_add(d, torch.tensor(b), s), lambda x, s, d=d: x.scatter_add(d, mg.tensor(b), s))
        H([(4, 5, 6), (4, 5, 6)], lambda x, s, d=d: x.scatter_add(d, torch.tensor(b), s), lambda x, s, d=d: x.scatter_add(d, mg.tensor(b), s),
          forward_only=True)
    H([(4, 5, 6)], lambda x: x.scatter(1, torch.tensor(b), 3.0), lambda x: x.scatter(1, mg.tensor(b), 3.0), forward_only=True)
    H([(10, 4)], lambda x: x.index_select(0, torch.tensor([1, 3, 3])), lambda x: x.index_select(0, mg.tensor([1, 3, 3])))
    H([(5, 3), (2, 3)], lambda x, s: x.index_add(0, torch.tensor([1, 1]), s), lambda x, s: x.index_add(0, mg.tensor([1, 1]), s))
    H([(4, 3)], lambda x: torch.take_along_dim(x, torch.tensor([[0, 2, 1]]), 0), lambda x: mg.take_along_axis(x, mg.tensor([[0, 2, 1]]), 0))

@test
def test_masked():
    H([(32, 10)], lambda x: x.masked_fill((x > 0.1).detach(), -math.inf))
    H([(32, 10)], lambda x: x.masked_fill((x < 0.1).detach(), -math.inf))
    H([(32, 10)], lambda x: x.masked_fill(x > 0.1, 2.0))
    H([(32, 10)], lambda x: x.masked_select(x > 0.5))
    H([(4, 3), (4, 3)], lambda x, y: torch.where(x > 0, x, y), lambda x, y: mg.where(x > 0, x, y))
    H([(4, 3)], lambda x: torch.where(x > 0, x, 0.0), lambda x: mg.where(x > 0, x, 0.0))
    H([(4, 3)], lambda x: x.where(x > 0, 0.0))

@test
def test_one_hot():
    for data, n in [([1, 2, 4], 6), ([1, 2, 4], -1), ([[[1, 2, 3], [0, 3, 5]], [[1, 2, 3], [0, 3, 5]]], 8)]:
        H([], lambda: TF.one_hot(torch.tensor(data), n), lambda: mg.one_hot(mg.tensor(data), n), forward_only=True)

@test
def test_cast():
    H([(3, 3)], lambda x: x.float()); H(None, lambda x: x.float(), vals=[[0, 1, 2, 3]], forward_only=True)
    H(None, lambda x: x.float(), vals=[[True, False]], forward_only=True)
    H([(3, 3)], lambda x: x.int(), forward_only=True); H([(3, 3)], lambda x: x.bool(), forward_only=True)
    H([(3, 3)], lambda x: x.long(), forward_only=True); H([(3, 3)], lambda x: x.double())
    H([(3, 3)], lambda x: x.to(torch.float64), lambda x: x.to("float64") if False else x.astype("float64"))
    H([(3, 3)], lambda x: x.type(torch.int32), lambda x: x.astype("int32"), forward_only=True)

@test
def test_losses():
    np.random.seed(2)
    y01 = lambda y: y.clip(0, 1)
    for r in ("mean", "sum", "none"):
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.binary_cross_entropy(x.sigmoid(), y.clip(0, 1), reduction=r),
          lambda x, y, r=r: mg.binary_cross_entropy(x.sigmoid(), y.clip(0, 1), reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.binary_cross_entropy_with_logits(x, y.clip(0, 1), reduction=r),
          lambda x, y, r=r: mg.binary_cross_entropy_with_logits(x, y.clip(0, 1), reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.cross_entropy(x, y, reduction=r), lambda x, y, r=r: mg.cross_entropy(x, y, reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.mse_loss(x, y, reduction=r), lambda x, y, r=r: mg.mse_loss(x, y, reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.l1_loss(x, y, reduction=r), lambda x, y, r=r: mg.l1_loss(x, y, reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.smooth_l1_loss(x, y, reduction=r), lambda x, y, r=r: mg.smooth_l1_loss(x, y, reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.huber_loss(x, y, reduction=r), lambda x, y, r=r: mg.huber_loss(x, y, reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.kl_div(x.log_softmax(1), y.softmax(1), reduction=r),
          lambda x, y, r=r: mg.kl_div(x.log_softmax(1), y.softmax(1), reduction=r))
        H([(32, 10), (32, 10)], lambda x, y, r=r: TF.soft_margin_loss(x, y.sign(), reduction=r), lambda x, y, r=r: mg.soft_margin_loss(x, y.sign(), reduction=r))
    H([(32, 10), (32, 10)], lambda x, y: TF.mse_loss(x, y), lambda x, y: mg.mse(x, y))
    pw = [0.25, 0.5, 0.75, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    H([(32, 10), (32, 10)], lambda x, y: TF.binary_cross_entropy_with_logits(x, y.clip(0, 1), pos_weight=torch.tensor(pw)),
      lambda x, y: mg.binary_cross_entropy_with_logits(x, y.clip(0, 1), pos_weight=mg.tensor(pw)), dtypes=("float32",))
    H([(32,), (32,)], lambda x, y: TF.cross_entropy(x, y), lambda x, y: mg.cross_entropy(x, y))
    H([(32, 4, 4, 4), (32, 4, 4, 4)], lambda x, y: TF.cross_entropy(x, y), lambda x, y: mg.cross_entropy(x, y))
    for ls in (0., 0.3, 0.7, 1.):
        H([(32, 10), (32, 10)], lambda x, y, ls=ls: TF.cross_entropy(x, y, label_smoothing=ls), lambda x, y, ls=ls: mg.cross_entropy(x, y, label_smoothing=ls))
        cl = np.random.randint(0, 10, (32,)).tolist()
        H([(32, 10)], lambda x, cl=cl, ls=ls: TF.cross_entropy(x, torch.tensor(cl), label_smoothing=ls),
          lambda x, cl=cl, ls=ls: mg.cross_entropy(x, mg.tensor(cl), label_smoothing=ls))
    cl = np.random.randint(0, 10, (12,)).tolist()
    H([(12, 10)], lambda x: torch.nn.CrossEntropyLoss(reduction="mean", ignore_index=cl[0], label_smoothing=0.3)(x, torch.tensor(cl)),
      lambda x: mg.cross_entropy(x, mg.tensor(cl), reduction="mean", ignore_index=cl[0], label_smoothing=0.3))
    cl3 = np.random.randint(0, 10, (3, 12)).tolist()
    H([(3, 12, 10)], lambda x: TF.cross_entropy(x.permute(0, 2, 1), torch.tensor(cl3)), lambda x: mg.cross_entropy(x.permute(0, 2, 1), mg.tensor(cl3)))
    for i in (-1, 0, 3):
        c = [0, 1, 2, 3] * 3
        H([(12, 10)], lambda x, i=i, c=c: TF.cross_entropy(x, torch.tensor(c), ignore_index=i), lambda x, i=i, c=c: mg.cross_entropy(x, mg.tensor(c), ignore_index=i))
    tg = np.random.randint(0, 10, (32,)).tolist(); w = np.random.normal(0, 1, (10,)).astype(np.float32).tolist()
    for r in ("mean", "sum", "none"):
        H([(32, 10)], lambda x, r=r: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(tg), reduction=r), lambda x, r=r: mg.nll_loss(mg.log_softmax(x, 1), mg.tensor(tg), reduction=r))
        H([(32, 10)], lambda x, r=r: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(tg), torch.tensor(w), reduction=r),
          lambda x, r=r: mg.nll_loss(mg.log_softmax(x, 1), mg.tensor(tg), mg.tensor(w), reduction=r), dtypes=("float32",))
        H([(32, 10)], lambda x, r=r: TF.cross_entropy(x, torch.tensor(tg), torch.tensor(w), reduction=r),
          lambda x, r=r: mg.cross_entropy(x, mg.tensor(tg), weight=mg.tensor(w), reduction=r), dtypes=("float32",))
    tg3 = np.random.randint(0, 10, (8, 3, 3, 3)).tolist()
    H([(8, 10, 3, 3, 3)], lambda x: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor(tg3)), lambda x: mg.nll_loss(mg.log_softmax(x, 1), mg.tensor(tg3)))
    H(None, lambda x: TF.nll_loss(TF.log_softmax(x, 1), torch.tensor([0, 1, 2]), ignore_index=1),
      lambda x: mg.nll_loss(mg.log_softmax(x, 1), mg.tensor([0, 1, 2]), ignore_index=1), vals=[[[2.0, 0.5, -1.0], [1.5, 2.5, -0.5], [0.0, -2.0, 1.0]]])

@test
def test_similarity_distance():
    H([(8, 5), (8, 5)], lambda x, y: TF.cosine_similarity(x, y), lambda x, y: mg.cosine_similarity(x, y))
    H([(8, 5), (1, 5)], lambda x, y: TF.cosine_similarity(x, y, dim=1), lambda x, y: mg.cosine_similarity(x, y, dim=1))
    H([(8, 5), (8, 5)], lambda x, y: TF.pairwise_distance(x, y), lambda x, y: mg.pairwise_distance(x, y))
    H([(8, 5), (6, 5)], lambda x, y: torch.cdist(x, y), lambda x, y: mg.cdist(x, y))
    H([(8, 5)], lambda x: TF.normalize(x), lambda x: mg.normalize(x))
    H([(8, 5)], lambda x: TF.normalize(x, p=1, dim=0), lambda x: mg.normalize(x, p=1, dim=0))
    H([(8, 5), (5,), (5,)], lambda x, w, b: TF.layer_norm(x, (5,), w, b), lambda x, w, b: mg.layer_norm(x, (5,), w, b), atol=1e-5)
    H([(8, 5), (5, 5), (5,)], lambda x, w, b: TF.linear(x, w, b), lambda x, w, b: mg.linear(x, w, b))
    H([(3, 4), (5, 4)], lambda x, y: torch.inner(x, y), lambda x, y: mg.inner(x, y))
    H([(3, 4), (4, 5)], lambda x, y: torch.tensordot(x, y, dims=1), lambda x, y: mg.tensordot(x, y, dims=1))
    H([(3, 3), (3, 3)], lambda x, y: torch.linalg.cross(x, y), lambda x, y: mg.cross(x, y, dim=-1))
    H([(4, 5), (4, 3), (3, 5)], lambda a, b, c: torch.addmm(a, b, c, beta=0.5, alpha=2), lambda a, b, c: mg.addmm(a, b, c, beta=0.5, alpha=2))
    H([(4, 3), (3,)], lambda a, v: torch.mv(a, v), lambda a, v: mg.mv(a, v))
    H([(4,), (3,)], lambda a, v: torch.outer(a, v), lambda a, v: mg.outer(a, v))
    H([(3, 3)], lambda x: torch.trace(x), lambda x: mg.trace(x))
    H([(8,)], lambda x: torch.diff(x), lambda x: mg.diff(x))
    H([(3, 4), (3, 4)], torch.atan2, mg.atan2)
    H([(3, 4), (3, 4)], torch.hypot, lambda x, y: mg.hypot(x, y))
    H([(3, 4)], lambda x: torch.sinc(x), lambda x: mg.sinc(x))
    H([(3, 4)], lambda x: torch.xlogy(x.abs(), x.abs() + 1), lambda x: mg.xlogy(x.abs(), x.abs() + 1))
    H([(3, 4)], lambda x: torch.special.logit(x.sigmoid()), lambda x: mg.logit(x.sigmoid()))
    H([(3, 4)], lambda x: torch.deg2rad(x), lambda x: mg.deg2rad(x))
    H([(3, 4)], lambda x: torch.erfc(x), lambda x: mg.erfc(x)); H([(3, 4)], lambda x: x.erfc(), low=-6, high=12)
    H([(3, 4, 5), (4, 5, 2)], lambda x, y: torch.tensordot(x, y, dims=2), lambda x, y: mg.tensordot(x, y, dims=2))
    H([(3, 4, 5), (5, 2, 4)], lambda x, y: torch.tensordot(x, y, dims=([1, 2], [2, 0])), lambda x, y: mg.tensordot(x, y, dims=([1, 2], [2, 0])))
    H([(4, 3), (1, 3)], lambda x, y: torch.linalg.cross(x, y), lambda x, y: mg.cross(x, y, dim=-1))
    H([(3, 5), (3, 5)], lambda x, y: torch.linalg.cross(x, y, dim=0), lambda x, y: mg.cross(x, y, dim=0))
    H([(5, 6)], lambda x: torch.stack(x.tensor_split(4, 1), 0).sum(0) if False else torch.cat(x.tensor_split([1, 4, 9], 1), 1),
      lambda x: mg.cat(x.tensor_split([1, 4, 9], 1), 1))
    H([(7, 6)], lambda x: torch.cat([t.sum(0, keepdim=True) for t in x.tensor_split(3, 0)], 0),
      lambda x: mg.cat([t.sum(0, keepdim=True) for t in x.tensor_split(3, 0)], 0))
    H([(3, 4)], lambda x: torch.erfinv(x.tanh()), lambda x: mg.erfinv(x.tanh()))
    H([(3, 4)], lambda x: torch.float_power(x.abs(), 2.5), lambda x: mg.float_power(x.abs(), 2.5), dtypes=("float64",))
    H([(3, 4)], lambda x: torch.log_softmax(x, 1), lambda x: mg.log_softmax(x, 1))
    H([(3, 4)], lambda x: TF.dropout(x, 0.0), lambda x: mg.dropout(x, 0.0))
    H([(3, 4)], lambda x: TF.glu(x, -1), lambda x: mg.glu(x, -1))
    H([(3, 4)], lambda x: TF.prelu(x, torch.tensor([0.25])), lambda x: mg.prelu(x, mg.tensor([0.25])), dtypes=("float32",))
    H([(3, 4)], lambda x: TF.rrelu(x, training=False), lambda x: mg.rrelu(x, training=False))
    H([(3, 4)], lambda x: TF.threshold(x, 0.1, 20.0), lambda x: mg.threshold(x, 0.1, 20.0))

# tinygrad's conv and pooling cases (test_ops.py, conv_transpose / conv3d / max_unpool / interpolate left out: not
# in minigrad).  tinygrad's own padding forms that torch's conv2d refuses ((l, r, t, b), negative) are written as a
# PyTorch user writes them: F.pad, or a slice, before the convolution.
@test
def test_conv2d_tinygrad():
    C = 8
    H([(1, C, 5, 5), (C, C, 1, 1), (C,)], lambda x, w, b: TF.conv2d(TF.conv2d(x, w, b).relu(), w, b),
      lambda x, w, b: mg.conv2d(mg.conv2d(x, w, b).relu(), w, b))                                    # test_biased_conv2d
    for shps, kw in [([(1, 4, 9, 9), (4, 4, 3, 3)], {}), ([(1, 16, 9, 9), (16, 16, 3, 3)], dict(atol=1e-5)),
                     ([(1, 4, 9, 9), (4, 4, 1, 1)], {}), ([(1, 16, 32, 32), (16, 16, 1, 1)], {}), ([(2, 4, 9, 9), (4, 4, 3, 3)], {})]:
        H(shps, lambda x, w: TF.conv2d(x, w), lambda x, w: mg.conv2d(x, w), grad_rtol=1e-5, **kw)   # simple, m4, 1x1, batched
    H([(1, 4, 9, 9), (4, 4, 3, 3), (4,)], lambda x, w, b: TF.conv2d(x, w, b), lambda x, w, b: mg.conv2d(x, w, b), grad_rtol=1e-5)
    H([(1, 32, 9, 9), (32, 32, 3, 3), (32, 32, 3, 3)], lambda x, w1, w2: TF.conv2d(TF.conv2d(x, w1).relu(), w2),
      lambda x, w1, w2: mg.conv2d(mg.conv2d(x, w1).relu(), w2))                                       # test_nested_conv2d
    H([(2, 9, 9, 10), (3, 3, 10, 20)], lambda x, w: TF.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1)),
      lambda x, w: mg.conv2d(x.permute(0, 3, 1, 2), w.permute(3, 2, 0, 1)), atol=1e-5, grad_rtol=1e-5)   # nhwc
    for bs, cin, cout in [(1, 3, 6), (4, 3, 2), (1, 1, 6), (4, 1, 6)]:                                 # _test_conv2d
        for h in [2, 3]:
            for w_ in [1, 3, 5]:
                for g in [1, 3] if cin == 3 and cout == 6 and h == 3 and w_ == 3 else [1]:
                    H([(bs, cin, 5, 7), (cout, cin // g, h, w_)], lambda x, w, g=g: TF.conv2d(x, w, groups=g),
                      lambda x, w, g=g: mg.conv2d(x, w, groups=g), grad_rtol=1e-5)
    H([(4, 16, 64, 64), (6, 16, 5, 2)], lambda x, w: TF.conv2d(x, w), lambda x, w: mg.conv2d(x, w),
      atol=1e-4, grad_atol=3e-4, grad_rtol=1e-4)                                                      # large input
    for shps, g in [([(1, 4, 1, 1), (2, 2, 1, 1)], 2), ([(1, 4, 1, 1), (4, 2, 1, 1)], 2), ([(1, 32, 32, 32), (32, 1, 1, 1)], 32),
                    ([(4, 15, 5, 5), (35, 3, 3, 3)], 5), ([(2, 3, 11, 28), (3, 1, 3, 3)], 3)]:        # grouped, depthwise, fancy
        H(shps, lambda x, w, g=g: TF.conv2d(x, w, groups=g), lambda x, w, g=g: mg.conv2d(x, w, groups=g), grad_rtol=1e-5)
    H([(2, 1, 5, 1), (1, 1, 3, 1)], lambda x, w: TF.conv2d(x, w, stride=2), lambda x, w: mg.conv2d(x, w, stride=2))
    for s in [2, (2, 1)]:
        H([(4, 3, 11, 28), (4, 3, 3, 3)], lambda x, w, s=s: TF.conv2d(x, w, stride=s), lambda x, w, s=s: mg.conv2d(x, w, stride=s))
    H([(1, 1, 10, 10), (1, 1, 3, 3)], lambda x, w: TF.conv2d(x[:, :, 1:-1, 1:-1], w), lambda x, w: mg.conv2d(x[:, :, 1:-1, 1:-1], w))
    H([(1, 1, 10, 10), (1, 1, 3, 3)], lambda x, w: TF.conv2d(x[:, :, 1:, 1:], w), lambda x, w: mg.conv2d(x[:, :, 1:, 1:], w))
    H(None, lambda x, w: TF.conv2d(TF.pad(x, (1, 1, 1, 1)), w), lambda x, w: mg.conv2d(mg.pad(x, (1, 1, 1, 1)), w),
      vals=[[[[[2., 3.]]]], [[[[1.]]]]])
    for p in [(0, 1, 0, 1), (2, 1, 2, 1), (2, 0, 2, 1)]:
        for n in [3, 4]:
            H([(1, 1, n, n), (1, 1, 2, 2)], lambda x, w, p=p: TF.conv2d(TF.pad(x, p), w), lambda x, w, p=p: mg.conv2d(mg.pad(x, p), w))
    for shps, p in [([(4, 3, 11, 28), (4, 3, 3, 3)], (2, 1)), ([(4, 3, 11, 28), (4, 3, 3, 3)], (2, 2)),
                    ([(4, 3, 11, 28), (4, 3, 1, 1)], 2), ([(1, 3, 11, 28), (4, 3, 3, 3)], 1)]:
        H(shps, lambda x, w, p=p: TF.conv2d(x, w, padding=p), lambda x, w, p=p: mg.conv2d(x, w, padding=p))
    for d in [2, (2, 1)]:
        H([(4, 3, 11, 28), (4, 3, 3, 3)], lambda x, w, d=d: TF.conv2d(x, w, dilation=d), lambda x, w, d=d: mg.conv2d(x, w, dilation=d))

@test
def test_conv1d_tinygrad():
    for bs in [1, 8]:
        for cin in [1, 3]:
            for h in [1, 2, 5]:
                for g in [1, 3] if cin == 3 and h == 5 else [1]:
                    H([(bs, cin, 11), (6, cin // g, h)], lambda x, w, g=g: TF.conv1d(x, w, groups=g),
                      lambda x, w, g=g: mg.conv1d(x, w, groups=g), grad_rtol=1e-5)
    H([(6, 2, 11), (6, 2, 5)], lambda x, w: TF.conv1d(TF.pad(x, (1, 1)), w), lambda x, w: mg.conv1d(mg.pad(x, (1, 1)), w))
    H([(2, 1, 5), (1, 1, 3)], lambda x, w: TF.conv1d(x, w, stride=2), lambda x, w: mg.conv1d(x, w, stride=2))
    for p in [(0, 1), (2, 1), (2, 0)]:
        for n in [3, 4]:
            H([(1, 1, n), (1, 1, 2)], lambda x, w, p=p: TF.conv1d(TF.pad(x, p), w), lambda x, w, p=p: mg.conv1d(mg.pad(x, p), w))

@test
def test_max_pool2d_tinygrad():
    H([(1, 1, 2, 3)], lambda x: TF.max_pool2d(x, kernel_size=(2, 2)), lambda x: mg.max_pool2d(x, kernel_size=(2, 2)))
    for k in [(2, 2), (3, 3), 2, 3, (3, 2), (5, 5), (5, 1)]:
        H([(32, 2, 11, 28)], lambda x, k=k: TF.max_pool2d(x, kernel_size=k), lambda x, k=k: mg.max_pool2d(x, kernel_size=k))
    for k in [(2, 2), (3, 3), 2, 3, (3, 2)]:
        for p in [1, (1, 0), (0, 1)]:
            H([(4, 2, 11, 28)], lambda x, k=k, p=p: TF.max_pool2d(x, kernel_size=k, padding=p),
              lambda x, k=k, p=p: mg.max_pool2d(x, kernel_size=k, padding=p))
    for p in [(0, 1, 0, 1), (2, 1, 2, 1), (2, 0, 2, 1)]:
        H([(4, 2, 111, 28)], lambda x, p=p: TF.max_pool2d(TF.pad(x, p, value=float("-inf")), kernel_size=(5, 5)),
          lambda x, p=p: mg.max_pool2d(mg.pad(x, p, value=float("-inf")), kernel_size=(5, 5)))
    H([(4, 2, 11, 28)], lambda x: TF.max_pool2d(x.int(), kernel_size=(2, 2), padding=1),
      lambda x: mg.max_pool2d(x.int(), kernel_size=(2, 2), padding=1), forward_only=True)
    for s in [(2, 3), (3, 2), 2, 3]:
        H([(4, 2, 11, 28)], lambda x, s=s: TF.max_pool2d(x, kernel_size=(2, 2), stride=s),
          lambda x, s=s: mg.max_pool2d(x, kernel_size=(2, 2), stride=s))
    for s, d in zip([(2, 3), (3, 2), 2, 3, 4], [(3, 2), (2, 3), 2, 3, 6]):
        H([(4, 2, 11, 28)], lambda x, s=s, d=d: TF.max_pool2d(x, kernel_size=(2, 2), stride=s, dilation=d),
          lambda x, s=s, d=d: mg.max_pool2d(x, kernel_size=(2, 2), stride=s, dilation=d))
    H([(3, 2, 17, 14)], lambda x: TF.max_pool2d(x, kernel_size=(5, 5), stride=1), lambda x: mg.max_pool2d(x, kernel_size=(5, 5), stride=1))
    for s in [(2, 3), (3, 2), 2, 3]:
        H([(3, 2, 17, 14)], lambda x, s=s: TF.max_pool2d(x, kernel_size=(5, 5), stride=s),
          lambda x, s=s: mg.max_pool2d(x, kernel_size=(5, 5), stride=s))
    for d in [(2, 3), (3, 2), 2, 3]:
        H([(3, 2, 17, 14)], lambda x, d=d: TF.max_pool2d(x, kernel_size=(5, 5), dilation=d),
          lambda x, d=d: mg.max_pool2d(x, kernel_size=(5, 5), dilation=d))
    for k in [(3, 3), 3, (3, 2), 4]:
        H([(1, 1, 6, 6)], lambda x, k=k: TF.max_pool2d(x, kernel_size=k, padding=1, stride=3, ceil_mode=True),
          lambda x, k=k: mg.max_pool2d(x, kernel_size=k, padding=1, stride=3, ceil_mode=True))
    H([(1, 1, 5, 5)], lambda x: TF.max_pool2d(x, kernel_size=(3, 3), stride=3, padding=1, ceil_mode=True),
      lambda x: mg.max_pool2d(x, kernel_size=(3, 3), stride=3, padding=1, ceil_mode=True))
    for shps, kw, vals in [([(2, 3, 6, 6)], dict(kernel_size=(2, 2)), None), ([(1, 1, 10, 10)], dict(kernel_size=(3, 2), dilation=(2, 3)), None),
                           ([(1, 1, 5, 5)], dict(kernel_size=(3, 3), padding=1), None),
                           ([(1, 1, 7, 7)], dict(kernel_size=(2, 2), stride=(2, 2), ceil_mode=True), None),
                           ([(1, 1, 12, 13)], dict(kernel_size=(12, 13)), None),
                           (None, dict(kernel_size=(3, 3), stride=1), [[[[[1.] * 6] * 6]]]),
                           (None, dict(kernel_size=(2, 2), stride=1), [[[[[1., 2.] * 3] * 6]]])]:   # return_indices
        H(shps, lambda x, kw=kw: TF.max_pool2d(x, return_indices=True, **kw)[1].type(torch.int32),
          lambda x, kw=kw: mg.max_pool2d(x, return_indices=True, **kw)[1].int(), vals=vals, forward_only=True)

@test
def test_avg_pool2d_tinygrad():
    for k in [(2, 2), (3, 3), (3, 2), (5, 5), (5, 1)]:
        H([(32, 2, 11, 28)], lambda x, k=k: TF.avg_pool2d(x, kernel_size=k), lambda x, k=k: mg.avg_pool2d(x, kernel_size=k), rtol=1e-5)
    H([(1, 1, 8, 8)], lambda x: TF.avg_pool2d(x, kernel_size=(1, 2), padding=(0, 1), stride=(5, 1)),
      lambda x: mg.avg_pool2d(x, kernel_size=(1, 2), padding=(0, 1), stride=(5, 1)), rtol=1e-5)
    for k in [(2, 2), (3, 3), 2, 3, (3, 2)]:
        for p in [1, (1, 0), (0, 1)]:
            H([(32, 2, 11, 28)], lambda x, k=k, p=p: TF.avg_pool2d(x, kernel_size=k, padding=p),
              lambda x, k=k, p=p: mg.avg_pool2d(x, kernel_size=k, padding=p), rtol=1e-5)
        H([(32, 2, 11, 28)], lambda x, k=k: TF.avg_pool2d(x, kernel_size=k, padding=1, count_include_pad=False),
          lambda x, k=k: mg.avg_pool2d(x, kernel_size=k, padding=1, count_include_pad=False), rtol=1e-5)
    H([(32, 2, 11, 28)], lambda x: TF.avg_pool2d(x, kernel_size=(5, 5), padding=1), lambda x: mg.avg_pool2d(x, kernel_size=(5, 5), padding=1), rtol=1e-5)
    for cip in (True, False):
        for k in [(3, 3), 3, (3, 2), 4]:
            H([(1, 1, 6, 6)], lambda x, k=k, cip=cip: TF.avg_pool2d(x, kernel_size=k, padding=1, stride=3, ceil_mode=True, count_include_pad=cip),
              lambda x, k=k, cip=cip: mg.avg_pool2d(x, kernel_size=k, padding=1, stride=3, ceil_mode=True, count_include_pad=cip), rtol=1e-5)
        H([(1, 1, 5, 5)], lambda x, cip=cip: TF.avg_pool2d(x, kernel_size=(3, 3), stride=3, padding=1, ceil_mode=True, count_include_pad=cip),
          lambda x, cip=cip: mg.avg_pool2d(x, kernel_size=(3, 3), stride=3, padding=1, ceil_mode=True, count_include_pad=cip))
    H([(32, 2, 11, 28)], lambda x: TF.avg_pool2d(x, kernel_size=(11, 28)), lambda x: mg.avg_pool2d(x, kernel_size=(11, 28)), rtol=1e-5)


# =========================================================================== micrograd test/test_engine.py
def _micro_sanity(lib, x0):
    x = lib.tensor([x0], dtype=torch.float64 if lib is torch else "float64", requires_grad=True)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.sum().backward()
    return y, x.grad


def _micro_more(lib):
    kw = dict(dtype=torch.float64 if lib is torch else "float64", requires_grad=True)
    a, b = lib.tensor([-4.0], **kw), lib.tensor([2.0], **kw)
    c = a + b
    d = a * b + b ** 3
    c += c + 1
    c += 1 + c + (-a)
    d += d * 2 + (b + a).relu()
    d += 3 * d + (b - a).relu()
    e = c - d
    f = e ** 2
    g = f / 2.0
    g += 10.0 / f
    g.sum().backward()
    return g, a.grad, b.grad


def _check_equal(name, m, t, tol):
    N[0] += 1
    m, t = [np.asarray(_to_np(v)) for v in m], [np.asarray(_to_np(v)) for v in t]
    bad = [f"{i}: {a} vs torch {b}" for i, (a, b) in enumerate(zip(m, t)) if a.shape != b.shape or np.abs(a - b).max() > tol]
    RESULTS.append((CURRENT[0], name, "float64", "FAIL" if bad else "ok", "; ".join(bad)))


@test
def micrograd_test_sanity_check():
    _check_equal("sanity", _micro_sanity(mg, -4.0), _micro_sanity(torch, -4.0), 0.0)   # micrograd asserts ==

@test
def micrograd_test_more_ops():
    # micrograd's `c += ...` rebinds c; torch's is in place on a non-leaf: same values and gradients
    try:
        m = _micro_more(mg)
    except Exception as e:
        N[0] += 1
        RESULTS.append((CURRENT[0], "more_ops", "float64", "ERROR", f"{type(e).__name__}: {e}"[:200])); return
    _check_equal("more_ops", m, _micro_more(torch), 1e-6)

@test
def micrograd_test_unary_tensor_fns():
    for f in ("tanh", "exp"):
        for x in [-1., .123, 2.]:
            H(None, lambda t, f=f: getattr(t, f)(), vals=[[x]], dtypes=("float64",))


# =========================================================================== minitorch / DeZero
@test
def minitorch_math_and_grads():
    # minitorch's MathTestVariable one_arg / two_arg / red_arg functions, gradients by central differences there
    one = [lambda a: a + 2, lambda a: a * 2, lambda a: -a, lambda a: a - 2, lambda a: a.sigmoid(), lambda a: a.relu(),
           lambda a: (a + 2.4).log() if False else (a.abs() + 2.4).log(), lambda a: a.exp(), lambda a: 1 / (a.abs() + 3.5),
           lambda a: a ** 2, lambda a: a / 5, lambda a: (a > 0.5) * a if False else a * (a > 0.5)]
    for f in one:
        H([(2, 3, 4)], f)
    two = [lambda a, b: a + b, lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a / (b.abs() + 5.5),
           lambda a, b: (a < b) * a if False else a * (a < b), lambda a, b: a * (a == b), lambda a, b: a * (a != b)]
    for f in two:
        H([(2, 3, 4), (2, 3, 4)], f); H([(3, 4), (2, 3, 4)], f); H([(2, 3, 4), (4,)], f)
    for f in [lambda a: a.sum(), lambda a: a.mean(), lambda a: a.sum(0), lambda a: a.mean(2), lambda a: a.sum(1, keepdim=True)]:
        H([(2, 3, 4)], f)
    for perm in [(0, 1, 2), (2, 0, 1), (1, 2, 0)]:
        H([(2, 3, 4)], lambda a, p=perm: a.permute(*p))
    H([(2, 3, 4)], lambda a: a.contiguous().view(24))
    H([(1,), (1, 2)], lambda a, b: (a * b))                             # test_grad_size
    for d in (3, 1, 2):
        H([(1, 1, 4, 4)], lambda t, d=d: t.softmax(d)); H([(1, 1, 4, 4)], lambda t, d=d: t.log_softmax(d))
    H([(1, 1, 4, 4)], lambda t: TF.avg_pool2d(t, (2, 2)), lambda t: mg.avg_pool2d(t, (2, 2)))
    H([(1, 1, 4, 4)], lambda t: TF.max_pool2d(t, (2, 2)), lambda t: mg.max_pool2d(t, (2, 2)))

@test
def dezero_tests():
    x = [[-1., 0, 1, 2], [2, 0, 1, -1]]
    H(None, lambda x: TF.cross_entropy(x, torch.tensor([3, 0])), lambda x: mg.cross_entropy(x, mg.tensor([3, 0])), vals=[x])
    np.random.seed(3)
    for n in (10, 100):
        t = np.random.randint(0, 10, (n,))
        H([(n, 10)], lambda x, t=t: TF.cross_entropy(x, torch.tensor(t)), lambda x, t=t: mg.cross_entropy(x, mg.tensor(t)))
    x12 = np.arange(12.0).reshape(2, 2, 3)
    for f in [lambda v: v[0], lambda v: v[0, 0, 0:2:1], lambda v: v[..., 2], lambda v: v[1], lambda v: v[1:3]]:
        H(None, f, vals=[x12 if f is not None else None])
    H([(10, 1)], lambda x: x + torch.ones(1, 3, dtype=x.dtype), lambda x: x + mg.ones(1, 3, dtype=x.dtype))   # test_broadcast
    H([(2, 3)], lambda x: x.sum(0)); H([(2, 3)], lambda x: x.sum(1, keepdim=True))                            # test_sum
    H([(2, 3)], lambda x: x.T); H([(2, 3), (3, 4)], lambda a, b: a @ b)                                         # transpose, matmul
    H([(2, 3)], lambda x: x.max(1)[0]); H([(2, 3)], lambda x: x.max())                                        # test_max
    H([(2, 3)], lambda x: x.sigmoid()); H([(2, 3)], lambda x: x.relu()); H([(2, 3)], lambda x: x.softmax(1))
    H([(100, 10), (5, 10), (5,)], lambda x, W, b: TF.linear(x, W, b), lambda x, W, b: x @ W.T + b)          # test_linear
    H([(10, 3), (10, 3)], lambda a, b: TF.mse_loss(a, b), lambda a, b: mg.mse(a, b))                          # test_loss


# =========================================================================== run
if __name__ == "__main__":
    for fn in TESTS:
        if ONLY and ONLY not in fn.__name__:
            continue
        CURRENT[0] = fn.__name__
        try:
            fn()
        except Exception as e:
            N[0] += 1
            RESULTS.append((fn.__name__, "(setup)", "-", "ERROR", f"{type(e).__name__}: {str(e)[:200]}"))
    from collections import Counter, OrderedDict
    by = OrderedDict()
    for t, c, dt, st, msg in RESULTS:
        by.setdefault(t.split(":")[0], Counter())[st] += 1
    print(f"{'test':45s} {'ok':>5s} {'FAIL':>5s} {'ERROR':>5s} {'torch-ref':>9s}")
    for t, c in by.items():
        print(f"{t:45s} {c['ok']:5d} {c['FAIL']:5d} {c['ERROR']:5d} {c['torch-refuses']:9d}")
    tot = Counter(st for *_, st, _ in RESULTS)
    print("TOTAL", dict(tot))
    print("\n--- failures and errors (deduplicated by message) ---")
    seen = set()
    for t, c, dt, st, msg in RESULTS:
        if st in ("FAIL", "ERROR"):
            key = (t, msg[:60])
            if key in seen:
                continue
            seen.add(key)
            print(f"[{st}] {t} {c} {dt}: {msg}")
