"""An outside review of the paper's protocol (issue 13 item 3, issue 4), with references written
here from ../shared/PAPER.md and the authors' generators and RNN.py (pascanur/trainingRNNs), not
from the code under test:

* the tasks' data at every length where a floor changes (10..41), the arithmetic tasks' jitter
  at the lengths where floor(0.1 T) changes, memorization and permutation built as the authors'
  memorization.py / permutation.py build them, the supplement's second-marker range;
* the three heads' losses as RNN.py writes them;
* dE/dh_k from explicit Jacobian matrices (the chain of diag(phi') W_rec^T), Omega from them,
  and its W_rec gradient by central differences with dE/dh_k and h_k held fixed;
* one update of every method, alone and packed (the sweeps' path), against that reference,
  with a loss gradient by central differences (no BPTT code shared with the project);
* clipping by the global norm (not per parameter), the threshold, the fallback's boundary;
* the presets against PAPER.md's table, each value overridable; the initializations; the
  alpha schedules; and the one-line refusals of settings that would make wrong data silently.
"""
from dataclasses import replace

import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import regularizer as R
from tasks.packed import PackedTrainer
from tasks.synthetic import Memorization, Sampler, TemporalOrder, get_task
from tasks.train import TrainConfig, Trainer, preset


def symbols(x):
    x = np.asarray(x)
    assert ((x == 0) | (x == 1)).all() and (x.sum(-1) == 1).all(), "not one-hot"
    return x.argmax(-1)


def floor_of(a, l):
    """The authors' ``int(l * a)`` (a float product, then truncation)."""
    return int(l * a)


# ----------------------------------------------------------------------------- data
def check_temporal_order(s, y, starts, span, bits):
    """Each range holds exactly one marker (A=0 or B=1), nothing else is a marker, every position
    of each range occurs, distractors are c..f, and the class is sum v_i 2^i."""
    marked = s < 2
    allowed = np.zeros(s.shape[0], bool)
    for st in starts:
        allowed[st:st + span] = True
    assert not (marked & ~allowed[:, None]).any()
    want = np.zeros(s.shape[1], int)
    for i, st in enumerate(starts):
        m = marked[st:st + span]
        assert (m.sum(0) == 1).all()
        pos = st + m.argmax(0)
        assert set(pos.tolist()) == set(range(st, st + span))
        want += s[pos, np.arange(s.shape[1])] * 2 ** i
    np.testing.assert_array_equal(y, want)
    assert set(np.unique(s[~marked]).tolist()) == {2, 3, 4, 5}


@pytest.mark.parametrize("bits", [2, 3])
def test_temporal_order_at_every_length_where_a_floor_changes(bits):
    name = "temporal_order" if bits == 2 else "temporal_order_3bit"
    for l in range(10, 42):
        b = Sampler(name, l, seed=(l, 0, 0)).batch(300)
        s, y = symbols(b.inputs.numpy()), b.targets.numpy()
        assert s.shape == (l, 300)
        starts = ([floor_of(.1, l), floor_of(.5, l)] if bits == 2
                  else [floor_of(.1, l), floor_of(.3, l), floor_of(.6, l)])
        check_temporal_order(s, y, starts, floor_of(.1, l), bits)


def test_the_supplements_second_marker_range_is_a_parameter_and_packs_alike():
    """second=0.4: the supplement's [0.4 l, 0.5 l); the stacked (pack) path draws the same."""
    task = TemporalOrder(2, second=0.4)
    for l in (10, 33, 100):
        b = task.batch(400, l, np.random.default_rng(l))
        check_temporal_order(symbols(b.inputs.numpy()), b.targets.numpy(), [l // 10, floor_of(.4, l)], l // 10, 2)
        rngs = [np.random.default_rng(l), None, np.random.default_rng(l)]
        st = task.stacked_batch(400, l, rngs)
        np.testing.assert_array_equal(st.inputs.numpy()[:, 0], b.inputs.numpy())
        np.testing.assert_array_equal(st.targets.numpy()[2], b.targets.numpy())
        assert not st.inputs.numpy()[:, 1].any()


@pytest.mark.parametrize("second", [0.1, 0.19, 0.95, -0.5, 2, "0.5", None, True])
def test_a_second_marker_range_that_would_overlap_or_overrun_is_refused(second):
    """Below 0.2 the second range overlapped the first: one marker overwrote the other while the
    class still counted both (silently wrong labels); above 0.9 an IndexError traceback."""
    with pytest.raises(ValueError, match="second must be a number from 0.2 to 0.9"):
        TemporalOrder(2, second=second)


@pytest.mark.parametrize("second", [0.2, 0.4, 0.5, 0.9])
def test_every_allowed_second_keeps_the_ranges_apart_and_inside(second):
    task = TemporalOrder(2, second=second)
    for l in (10, 11, 19, 20, 99, 257):
        b = task.batch(200, l, np.random.default_rng(0))
        s = symbols(b.inputs.numpy())
        assert ((s < 2).sum(0) == 2).all()


@pytest.mark.parametrize("op", ["addition", "multiplication"])
def test_arithmetic_where_floor_changes(op):
    """Authors' addition.py / multiplication.py: l = T + randint(int(0.1 T)) per minibatch;
    p0 = randint(int(0.1 l)), p1 = int(0.1 l) + randint(int(0.4 l)); values U[0, 1) at every
    step, a marker channel that is 1 at p0 and p1 only; target (x_p0 + x_p1) / 2 or x_p0 x_p1.
    (The authors' marker is channel 0, ours channel 1: a relabelling of the inputs, with an
    i.i.d. W_in the same distribution of runs.)"""
    for T in (10, 19, 20, 29, 30, 41):
        smp = Sampler(op, T, seed=(T, 0, 0))
        seen = set()
        for _ in range(60):
            b = smp.batch(20)
            x, y = b.inputs.numpy(), b.targets.numpy()[:, 0]
            l = x.shape[0]
            seen.add(l)
            vals, marks = x[..., 0], x[..., 1]
            assert set(np.unique(marks).tolist()) == {0.0, 1.0} and (marks.sum(0) == 2).all()
            assert ((vals >= 0) & (vals < 1)).all()
            p0, p1 = np.sort(np.nonzero(marks.T)[1].reshape(-1, 2), 1).T
            assert (p0 < floor_of(.1, l)).all()
            assert ((p1 >= floor_of(.1, l)) & (p1 < floor_of(.1, l) + floor_of(.4, l))).all()
            a, c = vals[p0, np.arange(20)], vals[p1, np.arange(20)]
            np.testing.assert_allclose(y, (a + c) / 2 if op == "addition" else a * c, rtol=1e-15)
        assert seen == set(range(T, T + max(floor_of(.1, T), 1)))
        # a test at nominal T jitters each sequence the same way
        tb = Sampler(op, T, seed=1).test_batch(400, T)
        lengths = {L for _, _, L in tb.groups} if tb.groups else {tb.inputs.shape[0]}
        assert lengths == set(range(T, T + max(floor_of(.1, T), 1)))


def test_permutation_as_the_authors_build_it():
    """permutation.py: randvals in 2..99 of length l + 1, v at row 0 and row l; input rows
    0..l-1, target row l: v at step 0, v the answer."""
    b = Sampler("permutation", 25, seed=5).batch(3000)
    s, y = symbols(b.inputs.numpy()), b.targets.numpy()
    assert s.shape == (25, 3000) and set(y.tolist()) == {0, 1}
    np.testing.assert_array_equal(s[0], y)
    counts = np.bincount(s[1:].ravel(), minlength=100)
    assert counts[:2].sum() == 0 and counts[2:].min() > 0.75 * counts[2:].mean()


@pytest.mark.parametrize("K,P", [(2, 5), (5, 10), (3, 2)])
def test_memorization_as_the_authors_build_it(K, P):
    """memorization.py: input (T + 2P, B, K + 2): the pattern's one-hot at steps 0..P-1, the
    channel K + 0 ("blank", index -2) at steps P.., replaced by K + 1 ("go", index -1) at T + P;
    targets (K + 1 classes): class K at steps 0..T+P-1, the pattern at the last P."""
    T, B = 7, 500
    b = get_task(f"memorization-{K}-{P}").batch(B, T, np.random.default_rng(K))
    x, y = b.inputs.numpy(), b.targets.numpy()
    pattern = x[:P, :, :K].argmax(-1)
    ref_in = np.zeros((T + 2 * P, B, K + 2))
    ref_in[P:, :, -2] = 1
    ref_in[T + P, :, -2] = 0
    ref_in[T + P, :, -1] = 1
    ref_in[:P] = np.eye(K + 2)[pattern]
    ref_t = np.zeros((T + 2 * P, B, K + 1))
    ref_t[:-P, :, -1] = 1
    ref_t[-P:] = np.eye(K + 2)[pattern][..., :-1]
    np.testing.assert_array_equal(x, ref_in)
    np.testing.assert_array_equal(y, ref_t.argmax(-1))


@pytest.mark.parametrize("bad", [(2, 0), (1, 5), (2.0, 5), (2, "5")])
def test_a_memorization_without_a_pattern_is_refused(bad):
    with pytest.raises(ValueError, match="K >= 2"):
        Memorization(*bad)


def test_sampler_and_batch_refuse_lengths_and_sizes_that_are_not_integers():
    for call in (lambda: Sampler("temporal_order", 20.5), lambda: Sampler("temporal_order", 20, 30.0),
                 lambda: Sampler("temporal_order", 20).batch(2.0), lambda: get_task(None)):
        with pytest.raises(ValueError, match="integer|string"):
            call()
    assert Sampler("temporal_order", np.int64(20)).batch(np.int64(2)).inputs.shape == (20, 2, 6)


# ----------------------------------------------------------------------------- heads
def rnn_py_losses(logits_last, logits_all, y_last, y_all, pred, targ):
    """RNN.py: lastSoftmax -(t log y).mean(0).sum(); softmax the same over (l*B) rows;
    lastLinear ((t - y)^2).mean(0).sum()."""
    def xent(z, t):
        z = z - z.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        onehot = np.eye(z.shape[-1])[t]
        return -(onehot * logp).reshape(-1, z.shape[-1]).mean(0).sum()
    return xent(logits_last, y_last), xent(logits_all, y_all), ((targ - pred) ** 2).mean(0).sum()


def test_the_three_heads_are_rnn_pys_costs():
    rng = np.random.default_rng(0)
    zl, za = rng.normal(size=(7, 4)) * 3, rng.normal(size=(5, 7, 3)) * 3
    yl, ya = rng.integers(0, 4, 7), rng.integers(0, 3, (5, 7))
    p, t = rng.normal(size=(7, 1)), rng.random((7, 1))
    want = rnn_py_losses(zl, za, yl, ya, p, t)
    for kind, out, tgt, w in (("last_softmax", zl, yl, want[0]), ("every_softmax", za, ya, want[1]),
                              ("last_linear", p, t, want[2])):
        head = rnn.Head(kind, 3, out.shape[-1])
        assert head.loss(mg.tensor(out), mg.tensor(tgt)).item() == pytest.approx(w, rel=1e-13), kind


# ----------------------------------------------------------------------------- the reference update
def forward(P, x, act):
    phi = np.tanh if act == "tanh" else (lambda a: 1 / (1 + np.exp(-a)))
    h = [np.zeros((x.shape[1], P["W_rec"].shape[0]))]
    for t in range(x.shape[0]):
        h.append(phi(h[-1] @ P["W_rec"] + x[t] @ P["W_in"] + P["b"]))
    return np.stack(h)


def loss_of(P, x, y, head, act):
    H = forward(P, x, act)
    if head == "last_linear":
        return (((y - (H[-1] @ P["W_out"] + P["c"])) ** 2).sum(1)).mean()
    z = H[1:] @ P["W_out"] + P["c"]
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    if head == "last_softmax":
        return -logp[-1][np.arange(x.shape[1]), y].mean()
    return -np.take_along_axis(logp, y[..., None], -1).mean()


def central(f, P, key, eps=1e-6):
    g = np.zeros_like(P[key])
    for idx in np.ndindex(*g.shape):
        Q = {k: v.copy() for k, v in P.items()}
        Q[key][idx] += eps
        up = f(Q)
        Q[key][idx] -= 2 * eps
        g[idx] = (up - f(Q)) / (2 * eps)
    return g


def deltas_from_jacobians(P, x, y, head, act):
    """dE/dh_k (k = 1..T) = sum_{t >= k} dE+/dh_t (dh_t/dh_k), the chain of explicit one-step
    Jacobians diag(phi'(a_i)) W_rec^T; the direct terms dE+/dh_t = dE/dz_t W_out^T, dE/dz the
    softmax's (p - onehot) / n or the squared error's 2 (z - y) / B.
    Returns (H, deltas (T, B, N), phi'(a) (T, B, N))."""
    H = forward(P, x, act)
    T, B, N = x.shape[0], x.shape[1], H.shape[-1]
    dphi = 1 - H[1:] ** 2 if act == "tanh" else H[1:] * (1 - H[1:])
    direct = np.zeros((T, B, N))
    for t in (range(T) if head == "every_softmax" else [T - 1]):     # the head's direct read of h_t
        z = H[t + 1] @ P["W_out"] + P["c"]
        if head == "last_linear":
            dz = 2 * (z - y) / B                                      # d/dz of mean_b sum (y - z)^2
        else:
            p = np.exp(z - z.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            every = head == "every_softmax"
            dz = (p - np.eye(z.shape[1])[y[t] if every else y]) / (B * (T if every else 1))
        direct[t] = dz @ P["W_out"].T
    deltas = np.zeros((T, B, N))
    for b in range(B):
        for k in range(T):
            for t in range(k, T):
                J = np.eye(N)
                for i in range(k + 1, t + 1):
                    J = np.diag(dphi[i, b]) @ P["W_rec"].T @ J
                deltas[k, b] += direct[t, b] @ J
    return H, deltas, dphi


def omega_of(W, deltas, dphi):
    """PAPER.md: r_k = ||(delta_k phi'_k) W^T||^2 / ||delta_k||^2, mean over valid pairs of (r - 1)^2."""
    D, G = deltas.reshape(-1, W.shape[0]), (deltas * dphi).reshape(-1, W.shape[0])
    d2 = (D ** 2).sum(1)
    ok = d2 >= 1e-20
    r = ((G @ W.T) ** 2).sum(1)[ok] / d2[ok]
    return ((r - 1) ** 2).mean()


def reference_update(P, x, y, head, act, method, lr, mu, alpha):
    g = {k: central(lambda Q: loss_of(Q, x, y, head, act), P, k) for k in P}
    omega = None
    if method in ("msgd-cr", "msgd-r"):
        _, deltas, dphi = deltas_from_jacobians(P, x, y, head, act)
        omega = omega_of(P["W_rec"], deltas, dphi)
        d_omega = central(lambda Q: omega_of(Q["W"], deltas, dphi), {"W": P["W_rec"].copy()}, "W")
        g["W_rec"] = g["W_rec"] + alpha * d_omega
    norm = np.sqrt(sum((v ** 2).sum() for v in g.values()))
    if method in ("msgd-c", "msgd-cr"):
        if not np.isfinite(norm) or norm > 1e10:
            g = {k: 0.02 * P["W_rec"] if k == "W_rec" else 0 * v for k, v in g.items()}
        elif norm > mu:
            g = {k: v * (mu / norm) for k, v in g.items()}
    return {k: P[k] - lr * g[k] for k in P}, norm, omega


@pytest.mark.parametrize("act", ["tanh", "sigmoid"])
@pytest.mark.parametrize("head", ["last_softmax", "every_softmax", "last_linear"])
def test_omega_from_explicit_jacobians(head, act, device):
    """state_gradients' dE/dh_k equal the chain of explicit Jacobians; Omega's value and its W_rec
    gradient (dE/dh_k and h_k held fixed, central differences) equal both implementations'."""
    rng = np.random.default_rng(3)
    n_in, N, n_out, T, B = 3, 4, 3, 6, 3
    init = "basic_tanh" if act == "tanh" else "sigmoid"
    m = rnn.SequenceModel(n_in, N, 1 if head == "last_linear" else n_out, head=head, init=init, seed=2, device=device)
    m.cell.W_rec.data = m.cell.W_rec.data * (12 if act == "tanh" else 60)      # r far from 1
    m.cell.W_in.data = m.cell.W_in.data * 10
    P = {n.split(".")[-1]: p.numpy() for n, p in m.named_parameters()}
    x = rng.normal(size=(T, B, n_in))
    if head == "last_linear":
        y = rng.random((B, 1))
    else:
        y = rng.integers(0, n_out, (T, B) if head == "every_softmax" else B)
    H, deltas, dphi = deltas_from_jacobians(P, x, y, head, act)
    outputs, runs = m.run(mg.tensor(x, device=device))
    loss = m.head.loss(outputs, mg.tensor(y, device=device))
    _, got = R.state_gradients(loss, runs[0], m.parameters())
    np.testing.assert_allclose(np.stack([d.numpy() for d in got]), deltas, rtol=1e-6, atol=1e-10)
    want = omega_of(P["W_rec"], deltas, dphi)
    want_grad = central(lambda Q: omega_of(Q["W"], deltas, dphi), {"W": P["W_rec"].copy()}, "W")
    assert want > 0.05                                                          # not a trivial case
    omega, grad = R.omega_closed_form(m.cell.W_rec, runs[0].hiddens[1:], got, act)
    assert omega.item() == pytest.approx(want, rel=1e-6)
    np.testing.assert_allclose(grad.numpy(), want_grad, rtol=1e-5, atol=1e-9 * np.abs(want_grad).max())
    generic = R.omega_generic(m.cell, mg.tensor(x, device=device), runs[0], got)
    assert generic.item() == pytest.approx(want, rel=1e-6)
    g_w, g_in, g_b = mg.grad(generic, [m.cell.W_rec, m.cell.W_in, m.cell.b], allow_unused=True)
    np.testing.assert_allclose(g_w.numpy(), want_grad, rtol=1e-5, atol=1e-9 * np.abs(want_grad).max())
    for g in (g_in, g_b):                       # the immediate derivative: W_in and b only through h_k
        assert g is None or not np.abs(g.numpy()).max() > 0


def test_omega_leaves_out_exactly_the_pairs_below_1e_20():
    rng = np.random.default_rng(1)
    N = 3
    W = rng.normal(size=(N, N))
    h = np.tanh(rng.normal(size=(4, 2, N)))
    d = rng.normal(size=(4, 2, N))
    d[1, 0] = 0.99e-10 / np.sqrt(N)             # ||d||^2 = 0.98e-20: left out
    d[2, 1] = 1.01e-10 / np.sqrt(N)             # ||d||^2 = 1.02e-20: kept (r of order 1)
    dphi = 1 - h ** 2
    omega, _ = R.omega_closed_form(mg.tensor(W), mg.tensor(h), mg.tensor(d), "tanh")
    assert omega.item() == pytest.approx(omega_of(W, d, dphi), rel=1e-12)
    D, G = d.reshape(-1, N), (d * dphi).reshape(-1, N)
    r = ((G @ W.T) ** 2).sum(1) / (D ** 2).sum(1)
    every_pair, without_kept = ((r - 1) ** 2).mean(), np.delete((r - 1) ** 2, [2, 5]).mean()
    assert omega.item() != pytest.approx(every_pair, rel=1e-3)      # the 0.98e-20 pair counted
    assert omega.item() != pytest.approx(without_kept, rel=1e-3)    # the 1.02e-20 pair left out


UPDATE_CASES = [("temporal_order", "sigmoid", 11), ("memorization", "smart_tanh", 3), ("addition", "basic_tanh", 10)]


@pytest.mark.parametrize("method", ["msgd", "msgd-c", "msgd-cr", "msgd-r"])
@pytest.mark.parametrize("task,init,length", UPDATE_CASES)
def test_one_update_alone_and_packed_against_the_reference(task, init, length, method):
    """float64, mu small enough that the C methods clip; the pack (the sweeps' path) trains two
    seeds whose updates must each be the reference's."""
    cfg = TrainConfig.for_task(task, length=length, hidden=4, init=init, method=method, clip=0.2, alpha=2.5, lr=0.3,
                               batch_size=3, seed=3, trace=False, diagnostics=False, dtype="float64")

    def reference_for(trainer):
        P = {n.split(".")[-1]: p.numpy().copy() for n, p in trainer.model.named_parameters()}
        b = Sampler(trainer.task, cfg.length, seed=(trainer.config.seed, 0, 0)).batch(cfg.batch_size)
        return reference_update(P, b.inputs.numpy(), b.targets.numpy(), trainer.task.head, trainer.cell.activation,
                                method, cfg.lr, cfg.clip, cfg.alpha)
    t = Trainer(cfg)
    want, norm, omega = reference_for(t)
    _, got_norm, clipped, fell_back, got_omega = t.update()
    assert got_norm.item() == pytest.approx(norm, rel=1e-6)
    assert (omega is None) == (got_omega is None)
    if omega is not None:
        assert got_omega.item() == pytest.approx(omega, rel=1e-6)
    if method in ("msgd-c", "msgd-cr"):
        assert norm > cfg.clip and clipped.item() and not fell_back.item()
    for n, p in t.model.named_parameters():
        np.testing.assert_allclose(p.numpy(), want[n.split(".")[-1]], rtol=1e-6, atol=1e-9, err_msg=n)
    if task == "addition":                      # jitters its length per run: never packed
        return
    pack = PackedTrainer([replace(cfg, seed=s) for s in (3, 4)])
    wants = [reference_for(m)[0] for m in pack.members]
    pack.update([0, 1])
    stacked = {n.split(".")[-1]: p.numpy() for n, p in pack.model.named_parameters()}
    for i, w in enumerate(wants):
        for k, v in w.items():
            np.testing.assert_allclose(stacked[k][i].reshape(v.shape), v, rtol=1e-6, atol=1e-9, err_msg=f"run {i} {k}")


# ----------------------------------------------------------------------------- clipping
def trainer_with_grads(grads, method="msgd-c", clip=1.0):
    t = Trainer(TrainConfig(length=10, hidden=2, method=method, clip=clip, trace=False, diagnostics=False,
                            dtype="float64"))
    for p in t.params:
        p.grad = mg.tensor(np.broadcast_to(grads[p.name], p.shape).astype(float).copy())
    return t


def test_clipping_is_by_the_global_norm_not_per_parameter():
    """Every parameter's gradient norm below mu = 1, the global norm above: all are scaled by
    mu / ||g||; and a global norm of exactly mu is left alone (clipped when above)."""
    grads = {"W_in": 0.15, "W_rec": 0.3, "b": 0.4, "W_out": 0.15, "c": 0.4}
    t = trainer_with_grads(grads)
    each = {p.name: np.linalg.norm(p.grad.numpy()) for p in t.params}
    total = np.sqrt(sum(v ** 2 for v in each.values()))
    assert max(each.values()) < 1 < total
    before = {p.name: p.grad.numpy().copy() for p in t.params}
    clipped, bad = t._clip(mg.grad_norm(t.params), 1.0)
    assert clipped.item() and not bad.item()
    for p in t.params:
        np.testing.assert_allclose(p.grad.numpy(), before[p.name] / total, rtol=1e-14)
    t = trainer_with_grads(grads, clip=total)
    clipped, _ = t._clip(mg.grad_norm(t.params), total)
    assert not clipped.item()
    for p in t.params:
        np.testing.assert_array_equal(p.grad.numpy(), before[p.name])


@pytest.mark.parametrize("poison,fallback", [(np.nan, True), (np.inf, True), (1e10, False), (2e10, True)])
def test_the_fallback_boundary(poison, fallback):
    """NaN, Inf or a norm above 1e10 (strictly): W_rec's gradient 0.02 W_rec, the others 0."""
    grads = {"W_in": 0.0, "W_rec": 0.0, "b": 0.0, "W_out": 0.0, "c": 0.0}
    t = trainer_with_grads(grads)
    c = np.zeros(t.model.head.c.shape)
    c[1] = poison                               # the global norm is |poison|
    t.model.head.c.grad = mg.tensor(c)
    W = t.cell.W_rec.numpy().copy()
    _, bad = t._clip(mg.grad_norm(t.params), 1.0)
    assert bool(bad.item()) == fallback
    if fallback:
        np.testing.assert_array_equal(t.cell.W_rec.grad.numpy(), 0.02 * W)
        for p in t.params:
            if p is not t.cell.W_rec:
                assert not p.grad.numpy().any()
    else:
        np.testing.assert_allclose(t.model.head.c.grad.numpy(), c / poison, rtol=1e-15)      # clipped to mu = 1


# ----------------------------------------------------------------------------- settings
PAPER_TABLE = {      # PAPER.md "Per-task settings" and the headline T = 20 run
    "temporal_order": dict(hidden=50, init="smart_tanh", lr=0.01, alpha=4.0, clip=1.0),
    "temporal_order_3bit": dict(hidden=100, lr=0.01, alpha=2.0, clip=1.0),
    "addition": dict(hidden=50, init="basic_tanh", lr=0.01, alpha=0.5, clip=1.0),
    "multiplication": dict(hidden=50, init="basic_tanh", lr=0.01, alpha=0.5, clip=1.0),
    "permutation": dict(hidden=100, lr=0.001, alpha=1.0, clip=6.0),
    "memorization": dict(hidden=100, lr=0.01, alpha=1.0, clip=1.0),
    "memorization_extended": dict(hidden=100, lr=0.01, alpha=1.0, clip=1.0),
}


@pytest.mark.parametrize("task", sorted(PAPER_TABLE))
def test_presets_are_papers_and_every_value_is_overridable(task):
    from tasks.cli import _config, build_parser
    c = TrainConfig.for_task(task).validate()
    for k, v in PAPER_TABLE[task].items():
        assert getattr(c, k) == v, k
    assert (c.batch_size, c.dtype, c.halve_lr, c.alpha_schedule) == (20, "float32", False, "constant")
    assert preset(task.replace("_", "-")) == preset(task)
    other = dict(hidden=7, init="sigmoid", lr=0.5, alpha=0.0, clip=3.5, batch_size=3)
    c = TrainConfig.for_task(task, **other)
    assert {k: getattr(c, k) for k in other} == other
    flags = ["train", task.replace("_", "-"), "--hidden", "7", "--init", "sigmoid", "--lr", "0.5", "--alpha", "0",
             "--clip", "3.5", "--batch-size", "3"]
    c = _config(build_parser().parse_args(flags))
    assert {k: getattr(c, k) for k in other} == other


def test_custom_memorization_takes_memorizations_preset():
    assert preset("memorization-3-4") == preset("memorization")


# ----------------------------------------------------------------------------- initializations
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_smart_tanh_sparsity_and_radius(dtype):
    """15 nonzeros in every row, at random columns (every column used; rows differ), spectral
    radius 0.95 in the dtype trained; the other weights N(0, 0.01); tanh units."""
    m = rnn.SequenceModel(6, 100, 4, init="smart_tanh", seed=4, dtype=dtype)
    W = m.cell.W_rec.numpy().astype(np.float64)
    nz = W != 0
    assert (nz.sum(1) == 15).all() and nz.any(0).all() and len({tuple(r) for r in nz}) == 100
    assert np.abs(np.linalg.eigvals(W)).max() == pytest.approx(0.95, rel=1e-6 if dtype == "float32" else 1e-12)
    for w in (m.cell.W_in.numpy(), m.head.W_out.numpy()):
        assert abs(w.std() / 0.01 - 1) < 0.15
    assert m.cell.activation == "tanh" and not m.cell.b.numpy().any() and not m.head.c.numpy().any()


def test_small_hidden_smart_tanh_keeps_every_entry():
    """The authors zero spng[15:] of each row: with N <= 15 nothing is zeroed."""
    w = rnn.init.recurrent_weights("smart_tanh", 3, 10, seed=1)["W_rec"]
    assert (w != 0).all() and np.abs(np.linalg.eigvals(w)).max() == pytest.approx(0.95, rel=1e-12)


# ----------------------------------------------------------------------------- alpha schedules
def test_alpha_schedules():
    assert [R.inverse_time(0.5)(t) for t in (1, 2, 4)] == [0.5, 0.25, 0.125]            # 1 / (2t)
    assert R.inverse_linear(2.0, 2800)(2800) == pytest.approx(1.0)
    assert R.constant(4.0)(10 ** 6) == 4.0
    t = Trainer(TrainConfig(length=10, hidden=2, alpha=3.0, alpha_schedule="inverse_time", alpha_every=10,
                            alpha_delay=5, trace=False, diagnostics=False))
    assert [t.alpha_at(u) for u in (1, 5, 6, 15, 16, 26)] == [0.0, 0.0, 3.0, 3.0, 1.5, 1.0]
    with pytest.raises(ValueError):
        R.inverse_time(1.0)(0)
