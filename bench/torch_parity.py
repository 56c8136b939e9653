"""Session 8's new ops against PyTorch: values, dtypes, shapes and first gradients (646 checks),
then the Hessians of the smooth ones (24) and jacobian's nesting (4 cases).

Not part of the test suite (CI has no torch): run it in a venv that has torch 2.13.0 (a CPU
wheel lies on this project's machines) and numpy, with minigrad on the path, not installed:

    python3 -m venv /tmp/torchvenv && /tmp/torchvenv/bin/pip install -q numpy 'torch==2.13.0'
    PYTHONPATH=. /tmp/torchvenv/bin/python bench/torch_parity.py

Session 8 (commit of this file): "646 checks, 0 differences", "24 Hessians compared, 0
differences", "jacobian: structure and values as torch.autograd.functional.jacobian in 4 cases".
"""
import numpy as np, torch, warnings  # noqa: E401
import minigrad as mg
warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
fails = []; checks = [0]

def tdt(dt): return {np.float64: torch.float64, np.float32: torch.float32}[dt]

def check(name, m, t, rtol=None, grads=None):
    checks[0] += 1
    mn = m.numpy() if isinstance(m, mg.Tensor) else np.asarray(m)
    tn = t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)
    if mn.shape != tn.shape:
        fails.append(f"{name}: shape {mn.shape} vs torch {tn.shape}"); return
    if str(mn.dtype) != str(tn.dtype).replace("bool", "bool"):
        fails.append(f"{name}: dtype {mn.dtype} vs torch {tn.dtype}"); return
    if mn.dtype.kind == "f":
        r = rtol or (1e-6 if mn.dtype == np.float32 else 1e-13)
        if not np.allclose(mn, tn, rtol=r, atol=r, equal_nan=True):
            fails.append(f"{name}: values differ max {np.nanmax(np.abs(mn - tn))}\n {mn}\n {tn}")
    elif not np.array_equal(mn, tn):
        fails.append(f"{name}: values {mn} vs torch {tn}")

def both(a, dt, grad=True):
    a = np.asarray(a, dtype=dt)
    return mg.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)

def unary(name, mf, tf, dom=lambda a: a, shapes=((3, 4), (), (5,))):
    for dt in (np.float64, np.float32):
        for sh in shapes:
            a = dom(rng.standard_normal(sh)).astype(dt)
            m, t = both(a, dt)
            mo, to = mf(m), tf(t)
            check(f"{name} {dt.__name__} {sh}", mo, to)
            g = rng.standard_normal(np.shape(a)).astype(dt)
            mo.backward(mg.tensor(g)); to.backward(torch.tensor(g))
            check(f"{name} grad {dt.__name__} {sh}", m.grad, t.grad, rtol=1e-5 if dt == np.float32 else 1e-12)
    # ints -> default float
    ai = np.array([1, 2, 3])
    try:
        tt = tf(torch.tensor(ai))     # torch's default float is float32, minigrad's (CPU) float64:
        tt = tf(torch.tensor(ai).double()) if tt.is_floating_point() else tt   # compare in float64
    except Exception as e:
        try:
            mf(mg.tensor(ai)); fails.append(f"{name} int: torch refuses ({e}), minigrad does not")
        except TypeError:
            pass
        return
    check(f"{name} int input", mf(mg.tensor(ai)), tt)

inside = lambda a: np.tanh(a) * 0.95
pos = lambda a: np.abs(a) + 0.1
for name, dom in [("tan", lambda a: a * 0.5), ("sinh", None), ("cosh", None), ("asin", inside), ("acos", inside),
                  ("atan", None), ("log2", pos), ("log10", pos), ("exp2", None), ("trunc", lambda a: a * 3), ("frac", lambda a: a * 3)]:
    unary(name, getattr(mg, name), getattr(torch, name), dom or (lambda a: a))
    unary(name + " method", lambda x, n=name: getattr(x, n)(), lambda x, n=name: getattr(x, n)(), dom or (lambda a: a), shapes=((2, 3),))

# domain edges
for name in ("asin", "acos"):
    m, t = both([1.0, -1.0, 0.5, 2.0, -3.0], np.float64)
    mo, to = getattr(mg, name)(m), getattr(torch, name)(t)
    check(name + " edges", mo, to); mo.sum().backward(); to.sum().backward()
    check(name + " edge grads", m.grad, t.grad)
for name in ("log2", "log10"):
    m, t = both([0.0, -1.0, 8.0, 1000.0], np.float64)
    mo, to = getattr(mg, name)(m), getattr(torch, name)(t)
    check(name + " edges", mo, to); mo.sum().backward(); to.sum().backward()
    check(name + " edge grads", m.grad, t.grad)
m, t = both([1e3, -1e3, 0.0, 1024.0], np.float64); check("exp2 edges", mg.exp2(m), torch.exp2(t))
m, t = both([np.nan, np.inf, -np.inf, -0.5, 2.5], np.float64); check("trunc edges", mg.trunc(m), torch.trunc(t)); check("frac edges", mg.frac(m), torch.frac(t))
check("trunc int", mg.trunc(mg.tensor([3, -2])), torch.trunc(torch.tensor([3, -2])))

# atan2, fmod: broadcasting, 0-d, signs, edges
for dt in (np.float64, np.float32):
    for sa, sb in [((3, 4), (4,)), ((), (3,)), ((2, 1), (1, 5)), ((), ())]:
        for name, scale in (("atan2", 1.0), ("fmod", 3.0)):
            a, b = rng.standard_normal(sa) * scale, rng.standard_normal(sb) + np.sign(rng.standard_normal(sb)) * 0.5
            (ma, ta), (mb, tb) = both(a, dt), both(b, dt)
            mo, to = getattr(mg, name)(ma, mb), getattr(torch, name)(ta, tb)
            check(f"{name} {dt.__name__} {sa} {sb}", mo, to)
            mo.sum().backward(); to.sum().backward()
            check(f"{name} grad a {dt.__name__} {sa} {sb}", ma.grad, ta.grad, rtol=1e-5 if dt == np.float32 else 1e-12)
            check(f"{name} grad b {dt.__name__} {sa} {sb}", mb.grad, tb.grad, rtol=1e-5 if dt == np.float32 else 1e-12)
(ma, ta), (mb, tb) = both([0.0, 0.0, -0.0, 1.0, 0.0], np.float64), both([0.0, -0.0, 0.0, 0.0, 1.0], np.float64)
mo, to = mg.atan2(ma, mb), torch.atan2(ta, tb); check("atan2 origin", mo, to); mo.sum().backward(); to.sum().backward()
check("atan2 origin grad a", ma.grad, ta.grad); check("atan2 origin grad b", mb.grad, tb.grad)
check("atan2 ints", mg.atan2(mg.tensor([1, -1]), mg.tensor([2, 2])), torch.atan2(torch.tensor([1., -1], dtype=torch.float64), torch.tensor([2., 2], dtype=torch.float64)))
check("atan2 method", mg.tensor([1., 2.]).atan2(mg.tensor([3., -1.])), torch.tensor([1., 2.], dtype=torch.float64).atan2(torch.tensor([3., -1.], dtype=torch.float64)))
(ma, ta), (mb, tb) = both([5.5, -5.5, 5.5, -5.5, 3.0, 1.0], np.float64), both([2., 2., -2., -2., 0.0, np.inf], np.float64)
mo, to = mg.fmod(ma, mb), torch.fmod(ta, tb); check("fmod signs", mo, to)
mo.sum().backward(); to.sum().backward(); check("fmod signs grad a", ma.grad, ta.grad); check("fmod signs grad b", mb.grad, tb.grad)
check("fmod int", mg.fmod(mg.tensor([5, -5, 7]), mg.tensor([3, 3, -2])), torch.fmod(torch.tensor([5, -5, 7]), torch.tensor([3, 3, -2])))
check("fmod scalar", mg.fmod(mg.tensor([5.5, -5.5]), 2), torch.fmod(torch.tensor([5.5, -5.5], dtype=torch.float64), 2))
check("fmod int by float", mg.fmod(mg.tensor([5, -5]), 2.5), torch.fmod(torch.tensor([5., -5], dtype=torch.float64), 2.5))
assert torch.fmod(torch.tensor([5, -5]), 2.5).dtype == torch.float32   # torch: its default float

# softplus (existing): beta, threshold
for beta, thr in ((1.0, 20.0), (2.0, 5.0), (0.5, 1.0)):
    m, t = both(rng.standard_normal(7) * 8, np.float64)
    mo, to = mg.softplus(m, beta, thr), torch.nn.functional.softplus(t, beta, thr)
    check(f"softplus {beta} {thr}", mo, to); mo.sum().backward(); to.sum().backward(); check(f"softplus grad {beta} {thr}", m.grad, t.grad)

# cumprod
for v in ([2., 0., 3., 4.], [2., 0., 3., 0., 5.], [0., 0., 1.], [1.5, -2., 0.5, 3.]):
    m, t = both(v, np.float64); g = np.arange(1., len(v) + 1)
    mo, to = mg.cumprod(m, 0), torch.cumprod(t, 0); check(f"cumprod {v}", mo, to)
    mo.backward(mg.tensor(g)); to.backward(torch.tensor(g)); check(f"cumprod grad {v}", m.grad, t.grad)
for dt in (np.float64, np.float32):
    for sh, d in (((3, 4, 5), -1), ((3, 4, 5), 1), ((3, 4, 5), -3), ((), 0), ((6,), 0)):
        a = rng.standard_normal(sh).astype(dt)
        if len(sh): a[..., 0] = 0
        m, t = both(a, dt)
        mo, to = m.cumprod(d), t.cumprod(d); check(f"cumprod {dt.__name__} {sh} {d}", mo, to)
        g = rng.standard_normal(sh).astype(dt)
        mo.backward(mg.tensor(g)); to.backward(torch.tensor(g)); check(f"cumprod grad {dt.__name__} {sh} {d}", m.grad, t.grad, rtol=1e-5 if dt == np.float32 else 1e-12)
for dt in ("int32", "bool", "int64"):
    a = np.array([1, 2, 3, 0, 2]).astype(dt)
    check(f"cumprod {dt}", mg.cumprod(mg.tensor(a), 0), torch.cumprod(torch.tensor(a), 0))

# diag, trace, diff
for dt in (np.float64, np.float32):
    for sh, k in (((4,), 0), ((4,), 2), ((4,), -1), ((3, 5), 0), ((3, 5), 2), ((3, 5), -2), ((5, 3), 1), ((3, 5), 7)):
        m, t = both(rng.standard_normal(sh), dt)
        mo, to = mg.diag(m, k), torch.diag(t, k); check(f"diag {dt.__name__} {sh} {k}", mo, to)
        g = rng.standard_normal(to.shape).astype(dt)
        mo.backward(mg.tensor(g)); to.backward(torch.tensor(g)); check(f"diag grad {sh} {k}", m.grad, t.grad)
    for sh in ((3, 5), (4, 4), (5, 2)):
        m, t = both(rng.standard_normal(sh), dt)
        mo, to = m.trace(), t.trace(); check(f"trace {sh}", mo, to, rtol=1e-5 if dt == np.float32 else 1e-13)
        mo.backward(); to.backward(); check(f"trace grad {sh}", m.grad, t.grad)
    check("trace int", mg.trace(mg.tensor([[1, 2], [3, 4]], dtype="int32")), torch.trace(torch.tensor([[1, 2], [3, 4]], dtype=torch.int32)))
    for sh, n, d in (((6,), 1, -1), ((6,), 3, 0), ((3, 5), 2, -1), ((3, 5), 1, 0), ((3, 5), 1, -2), ((4,), 0, 0), ((3,), 5, 0)):
        m, t = both(rng.standard_normal(sh), dt)
        mo, to = mg.diff(m, n, d), torch.diff(t, n, d); check(f"diff {sh} n={n} dim={d}", mo, to, rtol=1e-5 if dt == np.float32 else 1e-13)
        if to.numel():
            g = rng.standard_normal(to.shape).astype(dt)
            mo.backward(mg.tensor(g)); to.backward(torch.tensor(g)); check(f"diff grad {sh} {n} {d}", m.grad, t.grad, rtol=1e-5 if dt == np.float32 else 1e-12)
    (m, t), (mp, tp), (ma, ta) = both(rng.standard_normal((2, 3)), dt), both(rng.standard_normal((2, 1)), dt), both(rng.standard_normal((2, 2)), dt)
    mo, to = m.diff(2, -1, prepend=mp, append=ma), t.diff(2, -1, prepend=tp, append=ta); check("diff prepend append", mo, to)
    mo.sum().backward(); to.sum().backward(); check("diff pp grad x", m.grad, t.grad); check("diff pp grad prepend", mp.grad, tp.grad); check("diff pp grad append", ma.grad, ta.grad)
check("diff bool", mg.diff(mg.tensor([True, False, False, True])), torch.diff(torch.tensor([True, False, False, True])))
check("diff int", mg.diff(mg.tensor([1, 4, 9, 16], dtype="int32"), 2), torch.diff(torch.tensor([1, 4, 9, 16], dtype=torch.int32), 2))

# mv, addmm, index_select, lerp, nan_to_num
for dt in (np.float64, np.float32):
    r = 1e-5 if dt == np.float32 else 1e-12
    (mA, tA), (mv_, tv) = both(rng.standard_normal((3, 4)), dt), both(rng.standard_normal(4), dt)
    mo, to = mA.mv(mv_), tA.mv(tv); check("mv", mo, to, r); mo.sum().backward(); to.sum().backward()
    check("mv grad A", mA.grad, tA.grad, r); check("mv grad v", mv_.grad, tv.grad, r)
    for ish, beta, alpha in (((3, 2), 1, 1), ((2,), 0.5, 2.0), ((), -1.0, 0.25), ((3, 1), 0, 3.0)):
        (mi, ti), (m1, t1), (m2, t2) = both(rng.standard_normal(ish), dt), both(rng.standard_normal((3, 4)), dt), both(rng.standard_normal((4, 2)), dt)
        mo, to = mg.addmm(mi, m1, m2, beta=beta, alpha=alpha), torch.addmm(ti, t1, t2, beta=beta, alpha=alpha)
        check(f"addmm {ish} {beta} {alpha}", mo, to, r); g = rng.standard_normal((3, 2)).astype(dt)
        mo.backward(mg.tensor(g)); to.backward(torch.tensor(g))
        check(f"addmm grad input {ish} {beta}", mi.grad if mi.grad is not None else mg.zeros_like(mi), ti.grad if ti.grad is not None else torch.zeros_like(ti), r)
        check(f"addmm grad m1", m1.grad, t1.grad, r); check("addmm grad m2", m2.grad, t2.grad, r)
    mo = mi.addmm(m1, m2, beta=2.0, alpha=0.5); to = ti.addmm(t1, t2, beta=2.0, alpha=0.5); check("addmm method", mo, to, r)
    check("addmm beta0 nan", mg.addmm(mg.tensor(np.full(2, np.nan, dt)), m1.detach(), m2.detach(), beta=0), torch.addmm(torch.tensor(np.full(2, np.nan, dt)), t1.detach(), t2.detach(), beta=0), r)
    for sh, d, idx in (((4, 5), 0, [3, 0, 3]), ((4, 5), -1, [4]), ((2, 3, 4), 1, [2, 2, 0, 1]), ((4, 5), 1, 2), ((5,), 0, [])):
        m, t = both(rng.standard_normal(sh), dt)
        mo, to = m.index_select(d, mg.tensor(idx, dtype="int64")), t.index_select(d, torch.tensor(idx, dtype=torch.int64))
        check(f"index_select {sh} {d} {idx}", mo, to)
        g = rng.standard_normal(to.shape).astype(dt); mo.backward(mg.tensor(g)); to.backward(torch.tensor(g))
        check(f"index_select grad {sh} {d} {idx}", m.grad, t.grad, r)
    for ssh, esh, w in (((3,), (3,), 0.3), ((2, 3), (3,), 0.8), ((), (4,), -0.5), ((3,), (3,), 1.0)):
        (ms, ts), (me, te) = both(rng.standard_normal(ssh), dt), both(rng.standard_normal(esh), dt)
        mo, to = ms.lerp(me, w), ts.lerp(te, w); check(f"lerp scalar {ssh} {esh} {w}", mo, to, r)
        mo.sum().backward(); to.sum().backward(); check("lerp grad start", ms.grad, ts.grad, r); check("lerp grad end", me.grad, te.grad, r)
    for ssh, esh, wsh in (((3,), (3,), (3,)), ((2, 3), (3,), (2, 1)), ((), (), ())):
        (ms, ts), (me, te) = both(rng.standard_normal(ssh), dt), both(rng.standard_normal(esh), dt)
        w = rng.uniform(-0.5, 1.5, wsh)
        (mw, tw) = both(w, dt)
        mo, to = mg.lerp(ms, me, mw), torch.lerp(ts, te, tw); check(f"lerp tensor {ssh} {esh} {wsh}", mo, to, r)
        g = rng.standard_normal(to.shape).astype(dt); mo.backward(mg.tensor(g)); to.backward(torch.tensor(g))
        check("lerp t grad start", ms.grad, ts.grad, r); check("lerp t grad end", me.grad, te.grad, r); check("lerp t grad weight", mw.grad, tw.grad, r)
    a = np.array([np.nan, np.inf, -np.inf, 1.5, -0.0], dt)
    for kw in ({}, {"nan": 1.0}, {"posinf": 2.0, "neginf": -3.0}, {"nan": -1.0, "posinf": 1e10}):
        m, t = both(a, dt); mo, to = m.nan_to_num(**kw), t.nan_to_num(**kw); check(f"nan_to_num {dt.__name__} {kw}", mo, to)
        mo.sum().backward(); to.sum().backward(); check(f"nan_to_num grad {kw}", m.grad, t.grad)
check("nan_to_num int", mg.nan_to_num(mg.tensor([1, 2])), torch.nan_to_num(torch.tensor([1, 2])))
check("lerp exact end", mg.lerp(mg.tensor([0.1]), mg.tensor([0.7]), 1.0), torch.lerp(torch.tensor([0.1], dtype=torch.float64), torch.tensor([0.7], dtype=torch.float64), 1.0), rtol=0)

# logic and closeness
A = np.array([[0, 1, 2], [-1, 0, 3]]); B = np.array([1, 0, 2])
for dtA, dtB in (("int64", "int64"), ("float64", "float64"), ("bool", "bool"), ("float32", "int64")):
    for name in ("logical_and", "logical_or", "logical_xor"):
        check(f"{name} {dtA} {dtB}", getattr(mg, name)(mg.tensor(A.astype(dtA)), mg.tensor(B.astype(dtB))),
              getattr(torch, name)(torch.tensor(A.astype(dtA)), torch.tensor(B.astype(dtB))))
        check(f"{name} method", getattr(mg.tensor(A.astype(dtA)), name)(mg.tensor(B.astype(dtB))),
              getattr(torch.tensor(A.astype(dtA)), name)(torch.tensor(B.astype(dtB))))
    check(f"logical_not {dtA}", mg.logical_not(mg.tensor(A.astype(dtA))), torch.logical_not(torch.tensor(A.astype(dtA))))
x = np.array([1.0, 1.0 + 1e-9, np.nan, np.inf, 1.0, 0.0]); y = np.array([1.0, 1.0, np.nan, np.inf, 1.1, 1e-9])
for dt in (np.float64, np.float32):
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 0.0, "rtol": 0.0}):
        check(f"isclose {dt.__name__} {kw}", mg.isclose(mg.tensor(x.astype(dt)), mg.tensor(y.astype(dt)), **kw),
              torch.isclose(torch.tensor(x.astype(dt)), torch.tensor(y.astype(dt)), **kw))
        assert mg.tensor(x[:2].astype(dt)).allclose(mg.tensor(y[:2].astype(dt)), **kw) == torch.allclose(torch.tensor(x[:2].astype(dt)), torch.tensor(y[:2].astype(dt)), **kw)
        assert mg.allclose(mg.tensor(x.astype(dt)), mg.tensor(y.astype(dt)), **kw) == torch.allclose(torch.tensor(x.astype(dt)), torch.tensor(y.astype(dt)), **kw)
check("isclose broadcast", mg.isclose(mg.tensor(np.ones((2, 3))), mg.tensor(np.ones(3))), torch.isclose(torch.ones(2, 3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)))
check("isclose int", mg.isclose(mg.tensor([1, 2]), mg.tensor([1, 3])), torch.isclose(torch.tensor([1, 2]), torch.tensor([1, 3])))
for a, b in (([1, 2], [1.0, 2.0]), ([1, 2], [1, 3]), ([1, 2], [1, 2, 3]), ([[1, 2]], [1, 2]), ([np.nan], [np.nan])):
    assert mg.equal(mg.tensor(a), mg.tensor(b)) == torch.equal(torch.tensor(a), torch.tensor(b)), (a, b)
    assert mg.tensor(a).equal(mg.tensor(b)) == torch.tensor(a).equal(torch.tensor(b))
    checks[0] += 2

# dtype conversions and protocol
t64 = np.array([1.7, -2.5, 0.0, 3.0])
for meth in ("int", "bool", "half", "float", "double", "long"):
    check(f".{meth}()", getattr(mg.tensor(t64), meth)(), getattr(torch.tensor(t64), meth)())
assert list(range(mg.tensor(3))) == list(range(torch.tensor(3))) and [5, 6, 7][mg.tensor(1)] == 6
assert [5, 6, 7][mg.tensor(-1, dtype="int32")] == [5, 6, 7][torch.tensor(-1, dtype=torch.int32)]
assert [0, 1, 2, 3][mg.tensor(1):] == [1, 2, 3]
for other in (np.array([1], "int32"), np.array([1.0], "float32"), np.array([True])):
    check(f"type_as {other.dtype}", mg.tensor(t64).type_as(mg.tensor(other)), torch.tensor(t64).type_as(torch.tensor(other)))
for dt in ("float32", "int64", "bool"):
    m, t = mg.tensor(np.ones(2, dt)), torch.tensor(np.ones(2, dt))
    check(f"new_zeros {dt}", m.new_zeros(2, 3), t.new_zeros(2, 3)); check(f"new_ones {dt}", m.new_ones((3,)), t.new_ones((3,)))
    check(f"new_full {dt}", m.new_full((2,), 3), t.new_full((2,), 3)); check(f"new_full float {dt}", m.new_full((2,), 1.0), t.new_full((2,), 1.0))
    check(f"new_tensor {dt}", m.new_tensor([1, 0]), t.new_tensor([1, 0])); check(f"new_tensor dtype {dt}", m.new_tensor([1, 2], dtype="int32"), t.new_tensor([1, 2], dtype=torch.int32))
    check(f"new_zeros dtype {dt}", m.new_zeros((2,), dtype="float64"), t.new_zeros((2,), dtype=torch.float64))
    check(f"full_like {dt}", mg.full_like(m, 2.5), torch.full_like(t, 2.5))
    check(f"zeros_like dtype {dt}", mg.zeros_like(m, dtype="float32"), torch.zeros_like(t, dtype=torch.float32))
m = mg.tensor([1.0]); assert m.contiguous() is m
for a in (np.array([1, 2], np.int16), np.array([1.0, 2.0], np.float32), np.array([[True]]), np.array(3.5)):
    check(f"from_numpy {a.dtype}", mg.from_numpy(a), torch.from_numpy(a)); check(f"as_tensor {a.dtype}", mg.as_tensor(a), torch.as_tensor(a))
    check(f"as_tensor {a.dtype} dtype", mg.as_tensor(a, dtype="float64"), torch.as_tensor(a, dtype=torch.float64))
for data in ([1, 2], [1.0, 2.0], [True], 3):
    mt, tt = mg.as_tensor(data), torch.as_tensor(data)
    # torch's Python floats are float32 (its default dtype); minigrad's default float on the CPU is float64
    if tt.dtype == torch.float32: tt = tt.double()
    check(f"as_tensor {data!r}", mt, tt)

# functional conventions
x_np, v_np = rng.standard_normal(3), rng.standard_normal(3)
f = lambda z: (z.tanh() ** 3).sum() + (z * z).prod()
out_m, hv_m = mg.hvp(f, mg.tensor(x_np), mg.tensor(v_np))
out_t, hv_t = torch.autograd.functional.hvp(f, torch.tensor(x_np), torch.tensor(v_np))
check("hvp out", out_m, out_t); check("hvp hv", hv_m, hv_t, 1e-12)
g2 = lambda a, b: (a * b.sin()).sum() + (a ** 3).sum()
(o_m, h_m) = mg.hvp(g2, (mg.tensor(x_np), mg.tensor(v_np)), (mg.tensor(v_np), mg.tensor(x_np)))
(o_t, h_t) = torch.autograd.functional.hvp(g2, (torch.tensor(x_np), torch.tensor(v_np)), (torch.tensor(v_np), torch.tensor(x_np)))
check("hvp tuple out", o_m, o_t); check("hvp tuple 0", h_m[0], h_t[0], 1e-12); check("hvp tuple 1", h_m[1], h_t[1], 1e-12)
H_m, H_t = mg.hessian(f, mg.tensor(x_np)), torch.autograd.functional.hessian(f, torch.tensor(x_np))
check("hessian", H_m, H_t, 1e-12)
X = rng.standard_normal((2, 3)); check("hessian 2-D", mg.hessian(f, mg.tensor(X)), torch.autograd.functional.hessian(f, torch.tensor(X)), 1e-12)
Hm, Ht = mg.hessian(g2, (mg.tensor(x_np), mg.tensor(v_np))), torch.autograd.functional.hessian(g2, (torch.tensor(x_np), torch.tensor(v_np)))
for i in range(2):
    for j in range(2):
        check(f"hessian tuple {i}{j}", Hm[i][j], Ht[i][j], 1e-12)
check("hessian linear", mg.hessian(lambda z: (3 * z).sum(), mg.tensor(x_np)), torch.autograd.functional.hessian(lambda z: (3 * z).sum(), torch.tensor(x_np)))
fj = lambda z: z.tanh() * z.sum()
o_m, j_m = mg.jvp(fj, mg.tensor(X), mg.tensor(X * 2)); o_t, j_t = torch.autograd.functional.jvp(fj, torch.tensor(X), torch.tensor(X * 2))
check("jvp out", o_m, o_t); check("jvp", j_m, j_t, 1e-12)
o_t2, j_t2 = torch.func.jvp(fj, (torch.tensor(X),), (torch.tensor(X * 2),)); check("jvp vs torch.func", j_m, j_t2, 1e-12)
fj2 = lambda a, b: (a @ b, a.sum() * 2)
A_, B_ = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)); VA, VB = rng.standard_normal((2, 3)), rng.standard_normal((3, 4))
o_m, j_m = mg.jvp(fj2, (mg.tensor(A_), mg.tensor(B_)), (mg.tensor(VA), mg.tensor(VB)))
o_t, j_t = torch.autograd.functional.jvp(fj2, (torch.tensor(A_), torch.tensor(B_)), (torch.tensor(VA), torch.tensor(VB)))
for k in range(2):
    check(f"jvp tuple out {k}", o_m[k], o_t[k]); check(f"jvp tuple {k}", j_m[k], j_t[k], 1e-12)
o_m, j_m = mg.jvp(lambda z: z * 3, mg.tensor(2.0)); o_t, j_t = torch.autograd.functional.jvp(lambda z: z * 3, torch.tensor(2.0, dtype=torch.float64))
check("jvp v=None", j_m, j_t)
o_m, vf = mg.vjp(fj, mg.tensor(X)); o_t, vf_t = torch.func.vjp(fj, torch.tensor(X))
check("vjp (torch.func) out", o_m, o_t); check("vjp (torch.func)", vf(mg.tensor(X))[0], vf_t(torch.tensor(X))[0], 1e-12)

# hooks
x = mg.tensor([1., 2.], requires_grad=True); y = x * 2; y.register_hook(lambda g: g * 10)
gm = mg.grad((y * y).sum(), [y])
xt = torch.tensor([1., 2.], dtype=torch.float64, requires_grad=True); yt = xt * 2; yt.register_hook(lambda g: g * 10)
check("hook grad() capture", gm[0], torch.autograd.grad((yt * yt).sum(), [yt])[0])
x = mg.tensor([1., 2.], requires_grad=True); y2 = x * 3; y2.register_hook(lambda g: g * 10); y2.retain_grad(); (y2 * y2).sum().backward()
xt = torch.tensor([1., 2.], dtype=torch.float64, requires_grad=True); yt2 = xt * 3; yt2.register_hook(lambda g: g * 10); yt2.retain_grad(); (yt2 * yt2).sum().backward()
check("hook retain", y2.grad, yt2.grad); check("hook leaf after", x.grad, xt.grad)
seen_m, seen_t = [], []
x = mg.tensor([1., 2.], requires_grad=True); x.register_hook(lambda g: g * 10); x.register_hook(lambda g: seen_m.append(g.numpy())); (x * x).sum().backward()
xt = torch.tensor([1., 2.], dtype=torch.float64, requires_grad=True); xt.register_hook(lambda g: g * 10); xt.register_hook(lambda g: seen_t.append(g.numpy().copy())); (xt * xt).sum().backward()
check("leaf hooks chain", x.grad, xt.grad); check("leaf hook 2 sees", seen_m[0], seen_t[0])
x = mg.tensor([1., 2.], requires_grad=True); h = x.register_hook(lambda g: g * 10); h.remove(); (x * x).sum().backward()
xt = torch.tensor([1., 2.], dtype=torch.float64, requires_grad=True); ht = xt.register_hook(lambda g: g * 10); ht.remove(); (xt * xt).sum().backward()
check("hook removed", x.grad, xt.grad)
# y used twice: hook sees the sum once
x = mg.tensor([1., 2.], requires_grad=True); y = x * 1; calls = []; y.register_hook(lambda g: calls.append(1)); (y * y + y).sum().backward(); assert len(calls) == 1

# set_grad_enabled
with mg.set_grad_enabled(False):
    assert not mg.is_grad_enabled()
assert mg.is_grad_enabled()
mg.set_grad_enabled(False); assert not mg.is_grad_enabled(); mg.set_grad_enabled(True); assert mg.is_grad_enabled()
with mg.no_grad():
    with mg.set_grad_enabled(True):
        assert (mg.tensor([1.], requires_grad=True) * 2).requires_grad
    assert not mg.is_grad_enabled()

# random *_like
for dt in ("float32", "float64"):
    m = mg.tensor(np.ones((2, 3), dt)); t = torch.tensor(np.ones((2, 3), dt))
    for name in ("rand_like", "randn_like"):
        a, b = getattr(mg, name)(m), getattr(torch, name)(t)
        assert a.shape == tuple(b.shape) and str(a.dtype) == str(b.dtype).split(".")[1], (name, a.dtype, b.dtype)
        checks[0] += 1
print(f"{checks[0]} checks, {len(fails)} differences")
for f_ in fails:
    print(" -", f_)
# conversions end the graph as in torch
xm, xt = mg.tensor([1.5], requires_grad=True), torch.tensor([1.5], dtype=torch.float64, requires_grad=True)
for meth in ("int", "long", "bool", "half", "float"):
    assert getattr(xm, meth)().requires_grad == getattr(xt, meth)().requires_grad, meth
print("conversion requires_grad: as torch")

# ---------------------------------------------------------------- Hessians
"""Second derivatives of the new ops against torch 2.13 (Hessians of a scalar built from each)."""
import numpy as np, torch, warnings
import minigrad as mg
warnings.simplefilter("ignore")
rng = np.random.default_rng(1)
fails, n = [], 0
def H(name, fm, ft, *arrays):
    global n; n += 1
    hm = mg.hessian(fm, tuple(mg.tensor(a) for a in arrays))
    ht = torch.autograd.functional.hessian(ft, tuple(torch.tensor(a) for a in arrays))
    for i in range(len(arrays)):
        for j in range(len(arrays)):
            if not np.allclose(hm[i][j].numpy(), ht[i][j].numpy(), rtol=1e-10, atol=1e-12):
                fails.append(f"{name} H[{i}][{j}]: {np.abs(hm[i][j].numpy() - ht[i][j].numpy()).max()}")
x = rng.standard_normal(4) * 0.5
w = rng.standard_normal(4)
for name in ("tan", "sinh", "cosh", "asin", "acos", "atan", "exp2"):
    H(name, lambda a, b, k=name: (getattr(mg, k)(a) * b).sum(), lambda a, b, k=name: (getattr(torch, k)(a) * b).sum(), x, w)
for name in ("log2", "log10"):
    H(name, lambda a, b, k=name: (getattr(mg, k)(a) * b).sum(), lambda a, b, k=name: (getattr(torch, k)(a) * b).sum(), np.abs(x) + 0.2, w)
H("atan2", lambda a, b: (mg.atan2(a, b) ** 2).sum(), lambda a, b: (torch.atan2(a, b) ** 2).sum(), x, w)
H("fmod", lambda a, b: (mg.fmod(a, b) ** 2).sum(), lambda a, b: (torch.fmod(a, b) ** 2).sum(), x * 5, w + 2)
H("frac", lambda a, b: (mg.frac(a) ** 2 * b).sum(), lambda a, b: (torch.frac(a) ** 2 * b).sum(), x * 5, w)
H("lerp", lambda s, e, wt: (mg.lerp(s, e, wt) ** 2).sum(), lambda s, e, wt: (torch.lerp(s, e, wt) ** 2).sum(), x, w, rng.uniform(-0.5, 1.5, 4))
for v in ([2., 0., 3., 4.], [2., 0., 3., 0., 5.], [1.5, -2., 0.5, 3.]):
    g = np.arange(1., len(v) + 1)
    H(f"cumprod {v}", lambda a, b: (mg.cumprod(a, 0) * b).sum(), lambda a, b: (torch.cumprod(a, 0) * b).sum(), np.array(v), g)
M = rng.standard_normal((3, 4))
H("diag", lambda a: (mg.diag(a, 1) ** 2).sum() + (mg.diag(mg.diag(a, -1)) ** 3).sum(), lambda a: (torch.diag(a, 1) ** 2).sum() + (torch.diag(torch.diag(a, -1)) ** 3).sum(), M)
H("trace", lambda a: mg.trace(a @ a.T) ** 2, lambda a: torch.trace(a @ a.T) ** 2, M)
H("diff", lambda a: (mg.diff(a, 2, 0) ** 3).sum(), lambda a: (torch.diff(a, 2, 0) ** 3).sum(), M)
H("index_select", lambda a: (mg.index_select(a, 1, mg.tensor([0, 3, 0])) ** 3).sum(), lambda a: (torch.index_select(a, 1, torch.tensor([0, 3, 0])) ** 3).sum(), M)
H("addmm", lambda i, a, b: (mg.addmm(i, a, b, beta=0.5, alpha=2.0) ** 2).sum(), lambda i, a, b: (torch.addmm(i, a, b, beta=0.5, alpha=2.0) ** 2).sum(), rng.standard_normal(2), rng.standard_normal((3, 2)), rng.standard_normal((2, 2)))
H("mv", lambda a, b: (mg.mv(a, b) ** 3).sum(), lambda a, b: (torch.mv(a, b) ** 3).sum(), M, w)
H("nan_to_num", lambda a: (mg.nan_to_num(a) ** 3).sum(), lambda a: (torch.nan_to_num(a) ** 3).sum(), x)
H("softplus", lambda a: (mg.softplus(a, 2.0, 1.0) ** 2).sum(), lambda a: (torch.nn.functional.softplus(a, 2.0, 1.0) ** 2).sum(), x * 3)
print(f"{n} Hessians compared, {len(fails)} differences"); print("\n".join(fails))

# ---------------------------------------------------------------- jacobian
import numpy as np, torch, minigrad as mg
from torch.autograd.functional import jacobian
rng = np.random.default_rng(3); A, B = rng.standard_normal((2, 3)), rng.standard_normal(3)
def struct(x):
    return tuple(struct(y) for y in x) if isinstance(x, tuple) else tuple(x.shape)
cases = [(lambda a: a.tanh(), (A,), False), (lambda a, b: a * b, (A, B), True), (lambda a: (a.sum(), a * 2), (A,), False),
         (lambda a, b: (a * b, b.sum()), (A, B), True)]
for f, xs, tup in cases:
    m = mg.jacobian(f, tuple(mg.tensor(x) for x in xs) if tup else mg.tensor(xs[0]))
    t = jacobian(f, tuple(torch.tensor(x) for x in xs) if tup else torch.tensor(xs[0]))
    assert struct(m) == struct(t), (struct(m), struct(t))
    flat = lambda x: [y for z in x for y in flat(z)] if isinstance(x, tuple) else [x]
    for a, b in zip(flat(m), flat(t)):
        assert np.allclose(a.numpy(), b.numpy(), rtol=1e-13)
print("jacobian: structure and values as torch.autograd.functional.jacobian in", len(cases), "cases")
