"""The training loop: clipping, fallback, Omega, logs, checkpoints, exact resume, bad input."""
import json

import numpy as np
import pytest

import minigrad as mg
import rnn
from tasks.train import RunError, RunFiles, TrainConfig, Trainer, prepare_run
from rnn import regularizer


def small(**kw):
    base = dict(task="temporal_order", length=10, hidden=8, eval_every=10, eval_size=200, eval_batch=100,
                max_updates=30, seed=3)
    base.update(kw)
    return TrainConfig(**base)


def grads_after(trainer, method):
    """The gradients one update would apply (before SGD), for the first minibatch."""
    trainer.config.method = method
    saved = {id(p): p.data.copy() for p in trainer.params}
    captured = {}
    step = trainer.opt.step

    def capture():
        for p in trainer.params:
            captured[p.name or id(p)] = p.grad.numpy().copy()
    trainer.opt.step = capture
    trainer.update()
    trainer.opt.step = step
    for p in trainer.params:
        p.data = saved[id(p)]
    return captured


def test_clipping_scales_to_mu(device):
    t = Trainer(small(device=device, clip=1e-3))
    raw = grads_after(t, "msgd")
    clipped = grads_after(t, "msgd-c")
    norm = np.sqrt(sum((g ** 2).sum() for g in raw.values()))
    assert norm > 1e-3
    for k in raw:
        np.testing.assert_allclose(clipped[k], raw[k] * 1e-3 / norm, rtol=1e-10)


def test_fallback_on_nan_shrinks_W_rec(device):
    t = Trainer(small(device=device, method="msgd-c"))
    t.cell.W_in.data = t.cell.W_in.data * np.nan        # a NaN gradient everywhere
    W_rec = t.cell.W_rec.numpy().copy()
    b = t.cell.b.numpy().copy()
    t.update()
    np.testing.assert_allclose(t.cell.W_rec.numpy(), W_rec - 0.01 * 0.02 * W_rec, rtol=1e-12)
    np.testing.assert_array_equal(t.cell.b.numpy(), b)            # every other gradient is 0


def test_fallback_of_a_gated_cell_skips_the_update(device):
    t = Trainer(small(device=device, method="msgd-cr", cell="gru", hidden=5))
    t.cell.W_z.data = t.cell.W_z.data * np.inf
    before = {p.name: p.numpy().copy() for p in t.params}
    with np.errstate(invalid="ignore", over="ignore"):     # inf * 0 on the way, as intended
        loss, norm, clipped, fallback, omega = t.update()
    assert fallback.item() and not clipped.item()
    for p in t.params:
        np.testing.assert_array_equal(p.numpy(), before[p.name])


def test_regularizer_adds_alpha_times_omega_gradient(device):
    t = Trainer(small(device=device, alpha=2.5, clip=1e6))
    plain = grads_after(t, "msgd-c")
    reg = grads_after(t, "msgd-cr")
    # recompute dOmega/dW_rec independently for the same minibatch
    batch = t._sampler(t.TRAIN, 0).batch(t.config.batch_size)
    out, runs = t.model.run(batch.inputs)
    loss = t.model.head.loss(out, batch.targets)
    _, deltas = regularizer.state_gradients(loss, runs[0], t.params)
    _, d_omega = regularizer.omega_closed_form(t.cell.W_rec, runs[0].hiddens[1:], deltas)
    np.testing.assert_allclose(reg["W_rec"] - plain["W_rec"], 2.5 * d_omega.numpy(), rtol=1e-8, atol=1e-15)
    np.testing.assert_allclose(reg["W_in"], plain["W_in"], rtol=1e-12)


def test_msgd_r_is_msgd_cr_without_clipping(device):
    """MSGD-R: the gradient MSGD-CR has before clipping (Omega's added to W_rec's), never
    clipped, whatever mu; and no fallback: a non-finite gradient reaches the weights."""
    t = Trainer(small(device=device, alpha=2.5, clip=1e6))            # mu so large nothing is clipped
    unclipped = grads_after(t, "msgd-cr")
    plain = grads_after(t, "msgd")
    for clip in (1e6, 1e-3):
        t.config.clip = clip
        reg = grads_after(t, "msgd-r")
        for name in unclipped:
            np.testing.assert_array_equal(reg[name], unclipped[name])
    assert not np.array_equal(reg["W_rec"], plain["W_rec"])           # Omega's gradient is there
    np.testing.assert_array_equal(reg["W_in"], plain["W_in"])
    t.config.method = "msgd-r"
    loss, norm, clipped, fallback, omega = t.update()
    assert clipped is None and fallback is None and norm.item() > 1e-3 and omega.item() >= 0
    t.cell.W_in.data = t.cell.W_in.data * np.nan                       # MSGD-C would fall back here
    with np.errstate(invalid="ignore", over="ignore"):
        t.update()
    assert np.isnan(t.cell.W_rec.numpy()).all()                         # no fallback: NaN reaches W_rec


def test_msgd_r_blowing_up_ends_diverged(tmp_path):
    """A run of MSGD-R whose gradients explode (huge learning rate) stops "diverged at update N"."""
    t = Trainer(small(task="addition", method="msgd-r", lr=10.0, alpha=1.0, eval_every=20, max_updates=300))
    st = t.train(out=tmp_path / "run", progress=False)
    assert st.outcome.startswith("diverged at update ") and st.outcome.endswith("not finite")
    assert t.exit_status == 1 and st.update < 300


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_gated_cells_take_the_generic_omega(cell, device):
    """`cell="lstm"/"gru"`: MSGD-CR adds alpha * dOmega/dp to every cell parameter's gradient,
    Omega the generic one (its own derivatives are checked in test_regularizer.py)."""
    t = Trainer(small(device=device, cell=cell, hidden=5, alpha=2.5, clip=1e6))
    assert isinstance(t.cell, rnn.CELLS[cell]) and not t.closed_form
    plain = grads_after(t, "msgd-c")
    reg = grads_after(t, "msgd-cr")
    batch = t._sampler(t.TRAIN, 0).batch(t.config.batch_size)
    out, runs = t.model.run(batch.inputs)
    _, deltas = regularizer.state_gradients(t.model.head.loss(out, batch.targets), runs[0], t.params)
    cell_params = t.cell.parameters()
    d_omega = mg.grad(regularizer.omega_generic(t.cell, batch.inputs, runs[0], deltas), cell_params,
                      allow_unused=True)
    for p, g in zip(cell_params, d_omega):
        expected = plain[p.name] + (0 if g is None else 2.5 * g.numpy())
        np.testing.assert_allclose(reg[p.name], expected, rtol=1e-8, atol=1e-14)
    assert any(g is not None and np.abs(g.numpy()).max() > 1e-6 for g in d_omega)
    np.testing.assert_allclose(reg["W_out"], plain["W_out"], rtol=1e-12)


@pytest.mark.parametrize("method", ["msgd", "msgd-c", "msgd-cr", "msgd-r"])
@pytest.mark.parametrize("setting", [dict(), dict(init="sigmoid", alpha_schedule="inverse_time"),
                                     dict(task="addition", max_length=14), dict(cell="lstm", hidden=5)])
def test_traced_updates_equal_eager_updates(method, setting, device):
    """The default (updates replayed by mg.trace) gives the same numbers, bit for bit, as eager
    updates: every method, Omega in closed form and generic (gated cell), lengths varying per
    minibatch."""
    trainers = [Trainer(small(device=device, method=method, trace=trace, **setting)) for trace in (False, True)]
    for _ in range(4):
        got = [t.update() for t in trainers]
        for a, b in zip(*got):
            if a is not None:
                np.testing.assert_array_equal(a.numpy(), b.numpy())
        for t in trainers:
            t.state.update += 1
    for p, q in zip(trainers[0].params, trainers[1].params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    assert trainers[1]._gradients.programs >= 1


def test_learns_temporal_order_at_T10():
    t = Trainer(small(length=10, hidden=20, method="msgd-cr", eval_every=250, max_updates=3000, lr=0.05))
    st = t.train(progress=False)
    assert st.done and st.last_error < 0.01, st.history


def test_logs_checkpoints_and_exact_resume(tmp_path, device):
    full = Trainer(small(device=device, max_updates=40))
    full.train(out=tmp_path / "full", progress=False)
    half = Trainer(small(device=device, max_updates=25))        # stops between evaluations
    half.train(out=tmp_path / "split", progress=False)
    resumed = prepare_run(tmp_path / "split", small(device=device, max_updates=40), resume=True)
    assert resumed.state.update == 25
    resumed.train(out=tmp_path / "split", progress=False)
    for a, b in zip(full.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    rows_full, rows_split = RunFiles(tmp_path / "full").rows(), RunFiles(tmp_path / "split").rows()
    strip = lambda rows: [{k: v for k, v in r.items() if k != "wall_time"} for r in rows]
    assert strip(rows_full) == strip(rows_split) and len(rows_full) == 4
    norms_full = np.fromfile(tmp_path / "full" / "grad_norms.f32", dtype=np.float32)
    norms_split = np.fromfile(tmp_path / "split" / "grad_norms.f32", dtype=np.float32)
    assert len(norms_full) == 40 and np.array_equal(norms_full, norms_split)
    assert (tmp_path / "full" / "grad_norms.png").stat().st_size > 1000
    snaps = sorted(p.name for p in (tmp_path / "full" / "snapshots").glob("*.npz"))
    assert snaps == ["checkpoint_00000010.npz", "checkpoint_00000020.npz", "checkpoint_00000040.npz"]
    row = rows_full[0]
    assert set(row) >= {"update", "loss", "error", "grad_norm", "clipped", "omega", "spectral_radius", "wall_time",
                        "grad_hist", "tanh_saturation", "gate_saturation", "gate_mean", "lyapunov"}
    assert sum(row["grad_hist"]["counts"]) == 10 * 20        # compared above: resumed runs log the same diagnostics
    assert 0 <= row["error"] <= 1 and row["spectral_radius"] > 0
    with np.load(tmp_path / "full" / "checkpoint.npz", allow_pickle=False) as z:
        assert "model.layers.0.W_rec" in z.files
    assert json.loads((tmp_path / "full" / "config.json").read_text())["hidden"] == 8


def test_best_checkpoint_survives_a_later_collapse(tmp_path):
    """Training can get worse again (a run that reached 0.2% wrong fell back to chance):
    best.npz keeps the evaluation with the fewest errors, whatever came after."""
    t = Trainer(small(max_updates=50, target_error=0.0))
    errors = iter([0.5, 0.1, 0.3, 0.05, 0.7])
    t.evaluate = lambda **kw: next(errors)
    t.train(out=tmp_path / "run", progress=False)
    best = Trainer.from_checkpoint(tmp_path / "run" / "best.npz")
    assert best.state.update == 40 and best.state.last_error == 0.05 and best.state.best_error == 0.05
    at_40 = Trainer(small(max_updates=40))                    # the same run, stopped at update 40
    at_40.evaluate = lambda **kw: 0.5
    at_40.train(progress=False)
    for a, b in zip(best.model.parameters(), at_40.model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(best.model.cell.W_rec.numpy(), t.model.cell.W_rec.numpy())


def test_stop_request_keeps_a_checkpoint(tmp_path):
    t = Trainer(small(max_updates=1000))
    original = t.update

    def update_then_interrupt():
        out = original()
        if t.state.update == 14:          # the 15th update: as if Ctrl-C arrived during it
            t.request_stop()
        return out
    t.update = update_then_interrupt
    st = t.train(out=tmp_path / "run", progress=False)
    assert st.update == 15 and st.outcome == "interrupted"
    again = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert again.state.update == 15 and len(RunFiles(tmp_path / "run").rows()) == 1
    assert again.state.outcome == "interrupted"


def test_existing_run_is_not_overwritten(tmp_path):
    Trainer(small(max_updates=10)).train(out=tmp_path / "r", progress=False)
    before = (tmp_path / "r" / "checkpoint.npz").read_bytes()
    with pytest.raises(RunError, match="already holds a run.*--resume.*--force"):
        prepare_run(tmp_path / "r", small())
    assert (tmp_path / "r" / "checkpoint.npz").read_bytes() == before
    assert prepare_run(tmp_path / "r", small(), force=True).state.update == 0


def test_foreign_or_broken_checkpoints(tmp_path):
    Trainer(small(max_updates=10)).train(out=tmp_path / "r", progress=False)
    with pytest.raises(RunError, match="another run.*hidden: checkpoint 8, asked 9"):
        prepare_run(tmp_path / "r", small(hidden=9), resume=True)
    data = (tmp_path / "r" / "checkpoint.npz").read_bytes()
    (tmp_path / "r" / "checkpoint.npz").write_bytes(data[: len(data) // 2])     # truncated
    with pytest.raises(mg.CheckpointError, match="not a readable minigrad checkpoint"):
        prepare_run(tmp_path / "r", small(), resume=True)
    with pytest.raises(RunError, match="holds no checkpoint"):
        prepare_run(tmp_path / "empty", small(), resume=True)


@pytest.mark.parametrize("field,value,message", [
    ("task", "xor", "unknown task 'xor'"), ("method", "adam", "unknown method 'adam'.*msgd-cr"),
    ("init", "he", "unknown init 'he'.*smart_tanh"), ("length", 1, "at least 10"),
    ("max_length", 5, "must exceed --length"), ("device", "tpu", "unknown device 'tpu'"),
    ("lr", 0.0, "--lr must be a positive number, got 0.0"), ("method", "sgd", "msgd-cr, msgd-r"),
    ("check_every", -1, "check_every must be 0"),
])
def test_bad_settings(field, value, message):
    with pytest.raises((RunError, ValueError, mg.BackendError), match=message):
        Trainer(small(**{field: value}))


def test_learning_rate_halves_when_the_error_rises():
    t = Trainer(small(halve_lr=True, lr=0.08, max_updates=40, target_error=0.0))
    errors = iter([0.5, 0.6, 0.4, 0.45])
    t.evaluate = lambda **kw: next(errors)
    t.train(progress=False)
    assert t.state.lr == 0.02                      # halved after 0.6 > 0.5 and after 0.45 > 0.4
    t2 = Trainer(small(lr=0.08, max_updates=20, target_error=0.0))
    errors2 = iter([0.5, 0.6])
    t2.evaluate = lambda **kw: next(errors2)
    t2.train(progress=False)
    assert t2.state.lr == 0.08                     # off by default (the synthetic tasks keep lr)


def test_checkpoint_moves_between_devices(tmp_path):
    """Saved from the strict (GPU-like) device, resumed on the CPU: same weights, same numbers."""
    a = Trainer(small(device="strict", max_updates=10))
    a.train(out=tmp_path / "r", progress=False)
    b = prepare_run(tmp_path / "r", small(device="cpu", max_updates=20), resume=True)
    assert b.model.cell.W_rec.device == "cpu"
    np.testing.assert_array_equal(b.model.cell.W_rec.numpy(), a.model.cell.W_rec.numpy())
    b.train(out=tmp_path / "r", progress=False)
    c = Trainer(small(device="cpu", max_updates=20))
    c.train(progress=False)
    np.testing.assert_allclose(b.model.cell.W_rec.numpy(), c.model.cell.W_rec.numpy(), rtol=1e-12)


@pytest.mark.parametrize("target,errors,stops_at", [
    (0.01, [0.5, 0.02, 0.0099, 0.0], 30),        # fewer than 1% wrong (= fewer than 100 of 10,000)
    (0.0, [0.5, 0.0099, 0.0001, 0.0], 40),       # 0 of 10,000
    (0.0, [0.5, 0.4, 0.3, 0.2], 40),             # or the maximum number of updates
])
def test_stopping_rules(target, errors, stops_at):
    t = Trainer(small(target_error=target, max_updates=40))
    feed = iter(errors)
    t.evaluate = lambda **kw: next(feed)
    st = t.train(progress=False)
    assert st.update == stops_at and st.done == (errors[stops_at // 10 - 1] < target or
                                                 (target == 0 and errors[stops_at // 10 - 1] == 0))
    assert st.outcome == ("success" if st.done else "budget") and t.exit_status == 0


@pytest.mark.parametrize("check_every,reads", [(50, {5, 10, 12}), (4, {4, 5, 8, 10, 12})])
@pytest.mark.parametrize("method,trace", [("msgd-cr", True), ("msgd-c", False), ("msgd-cr", False),
                                          ("msgd-r", True)])
def test_host_reads_only_when_an_evaluation_is_written(method, trace, check_every, reads, tmp_path, monkeypatch):
    """On the strict device an implicit host read raises; the explicit ones (``to_host``) are
    counted here by the update they happen at: only at evaluations (every 5 updates, with the
    log and checkpoint written), at success checks (every ``check_every`` updates) and when the
    run ends, never inside the updates in between."""
    t = Trainer(small(device="strict", method=method, trace=trace, eval_every=5, max_updates=12,
                      init="sigmoid", check_every=check_every))
    backend = mg.get_backend("strict")
    at = []
    to_host = backend.to_host
    monkeypatch.setattr(backend, "to_host", lambda a: at.append(t.state.update) or to_host(a))
    t.train(out=tmp_path / "run", progress=False)
    assert t.state.update == 12 and set(at) == reads


# --------------------------------------------------------------------------- issue 12: robust loop
def _strip(rows):
    """Log rows as the exact JSON text of every field but the wall time."""
    return [json.dumps({k: v for k, v in r.items() if k != "wall_time"}) for r in rows]


def _poison_at(trainer, update, *names):
    """Make the weights named non-finite right after update ``update`` (as a NaN that got past
    the fallback would); returns the list of updates run."""
    original, ran = trainer.update, []

    def update_then_poison():
        out = original()
        ran.append(trainer.state.update + 1)
        if trainer.state.update + 1 == update:
            for p in trainer.params:
                if p.name in names:
                    p.data[0] = p.data[0] * np.nan
        return out
    trainer.update = update_then_poison
    return ran


@pytest.mark.parametrize("at,kept", [(13, 10), (10, 0), (3, 0)])
def test_non_finite_weights_stop_the_run_and_keep_the_last_finite_checkpoint(at, kept, tmp_path):
    """Weights that stop being finite end the run within a few updates, naming the update that
    made them so and the parameters; checkpoint.npz keeps the last finite weights (those of the
    start if no evaluation came before), with the outcome in its state and in the log."""
    from tasks.train import FINITE_CHECK_EVERY
    t = Trainer(small(method="msgd-c", max_updates=100))
    ran = _poison_at(t, at, "W_rec", "b")
    st = t.train(out=tmp_path / "run", progress=False)
    message = f"diverged at update {at}: W_rec and b are not finite"
    assert st.outcome == message and st.update == at and not st.done
    assert len(ran) < at + FINITE_CHECK_EVERY
    saved = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert saved.state.update == kept and saved.state.outcome == message
    clean = Trainer(small(method="msgd-c", max_updates=max(kept, 1)))     # the same run, stopped at `kept`
    if kept:
        clean.train(progress=False)
    for a, b in zip(saved.params, clean.params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    rows = RunFiles(tmp_path / "run").rows()
    assert [r["update"] for r in rows] == list(range(10, at, 10)) + [at] and rows[-1]["outcome"] == message
    assert len(np.fromfile(tmp_path / "run" / "grad_norms.f32", dtype=np.float32)) == at
    if kept:
        best = Trainer.from_checkpoint(tmp_path / "run" / "best.npz")
        assert best.state.update == kept and np.isfinite(best.model.cell.W_rec.numpy()).all()
    assert t.train(out=tmp_path / "run", progress=False) is st and st.update == at    # nothing to continue
    with pytest.raises(RunError, match=f"diverged at update {at}.*--force"):
        prepare_run(tmp_path / "run", small(method="msgd-c", max_updates=100), resume=True)
    assert t.exit_status == 1


@pytest.mark.parametrize("trace", [True, False])
def test_msgd_with_a_huge_learning_rate_diverges_cleanly(trace, tmp_path):
    """`--method msgd --lr 10` on addition: the weights overflow to inf/NaN.  Once the spectral
    radius of NaN crashed the run; now it stops at the first update whose weights are not finite
    (found here by checking after every update)."""
    config = dict(task="addition", method="msgd", lr=10.0, eval_every=20, max_updates=300, trace=trace)
    t = Trainer(small(**config))
    st = t.train(out=tmp_path / "run", progress=False)
    ref = Trainer(small(**config))
    with np.errstate(over="ignore", invalid="ignore"):
        while all(np.isfinite(p.numpy()).all() for p in ref.params):
            ref.update()
            ref.state.update += 1
    names = [p.name for p in ref.params if not np.isfinite(p.numpy()).all()]
    assert st.outcome.startswith(f"diverged at update {ref.state.update}: ") and st.update == ref.state.update
    assert all(name in st.outcome for name in names) and st.outcome.endswith("not finite")
    saved = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert saved.state.outcome == st.outcome and saved.state.update == ref.state.update // 20 * 20
    assert all(np.isfinite(p.numpy()).all() for p in saved.params)


def test_finiteness_is_read_every_few_updates_not_every_update(tmp_path, monkeypatch):
    """The flags stay on the device and are read every FINITE_CHECK_EVERY updates (strict device:
    any other read would raise), so a GPU is not made to wait after every update."""
    from tasks.train import FINITE_CHECK_EVERY
    t = Trainer(small(device="strict", eval_every=1000, max_updates=2 * FINITE_CHECK_EVERY + 5))
    backend = mg.get_backend("strict")
    at = []
    to_host = backend.to_host
    monkeypatch.setattr(backend, "to_host", lambda a: at.append(t.state.update) or to_host(a))
    t.train(progress=False)
    assert set(at) == {FINITE_CHECK_EVERY, 2 * FINITE_CHECK_EVERY, 2 * FINITE_CHECK_EVERY + 5}


def test_resume_after_stops_at_any_update_writes_the_same_log(tmp_path):
    """Stopped (by ``stop``) after many different updates, between evaluations and at them,
    several times in one evaluation period, and resumed each time: the log is the uninterrupted
    run's, byte for byte on every field but the wall time; so are the norms and the weights."""
    config = lambda: small(hidden=20, max_updates=40)       # noqa: E731
    full = Trainer(config())
    full.train(out=tmp_path / "full", progress=False)
    out = tmp_path / "split"
    t = prepare_run(out, config())
    for stop_at in (1, 4, 9, 10, 11, 13, 17, 20, 23, 29, 31, 38, 39):
        st = t.train(out=out, progress=False, stop=lambda: t.state.update >= stop_at)
        assert st.update == stop_at and st.outcome == "interrupted" and t.exit_status == 130
        assert Trainer.from_checkpoint(out / "checkpoint.npz").state.outcome == "interrupted"
        t = prepare_run(out, config(), resume=True)
        assert t.state.update == stop_at and t.state.outcome == "interrupted"
    assert t.train(out=out, progress=False).outcome == "budget"
    assert _strip(RunFiles(out).rows()) == _strip(RunFiles(tmp_path / "full").rows())
    assert len(RunFiles(out).rows()) == 4
    assert (out / "grad_norms.f32").read_bytes() == (tmp_path / "full" / "grad_norms.f32").read_bytes()
    for a, b in zip(full.params, t.params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("signum", ["SIGTERM", "SIGINT"])
def test_a_signal_stops_at_the_end_of_the_update(signum, tmp_path):
    """SIGTERM is handled as Ctrl-C: the update under way is finished, the checkpoint written,
    the outcome is "interrupted"; the handlers in place before are back afterwards."""
    import os
    import signal
    sig = getattr(signal, signum)
    caught = []
    guard = lambda *_: caught.append(1)            # noqa: E731  (a stray signal must not end pytest)
    previous = signal.signal(sig, guard)
    try:
        t = Trainer(small(max_updates=1000))
        original = t.update

        def update_then_signal():
            out = original()
            if t.state.update == 16:              # the 17th update: the signal arrives during it
                os.kill(os.getpid(), sig)
            return out
        t.update = update_then_signal
        st = t.train(out=tmp_path / "run", progress=False)
        assert signal.getsignal(sig) is guard and not caught
    finally:
        signal.signal(sig, previous)
    assert st.update == 17 and st.outcome == "interrupted" and t.stop_signal == sig
    assert t.exit_status == 128 + sig                     # 143 for SIGTERM, 130 for SIGINT
    saved = Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.npz").state
    assert saved.update == 17 and saved.outcome == "interrupted"


def test_stop_callable_in_a_worker_thread(tmp_path):
    """Outside the main thread no signal handler is installed; ``stop`` ends the run as Ctrl-C."""
    import signal
    import threading
    before = signal.getsignal(signal.SIGTERM)
    t = Trainer(small(max_updates=1000))
    result = []
    worker = threading.Thread(target=lambda: result.append(
        t.train(out=tmp_path / "run", progress=False, stop=lambda: t.state.update >= 7)))
    worker.start()
    worker.join(60)
    assert result and result[0].update == 7 and result[0].outcome == "interrupted"
    assert signal.getsignal(signal.SIGTERM) is before
    assert Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.npz").state.update == 7


def test_resume_drops_a_torn_last_log_line(tmp_path, capsys):
    """A crash in the middle of writing a log row leaves a torn last line: --resume drops it,
    says so in one line, and the run goes on to the uninterrupted run's log."""
    Trainer(small(max_updates=25)).train(out=tmp_path / "r", progress=False)
    with open(tmp_path / "r" / "log.jsonl", "a") as f:
        f.write('{"update": 30, "loss": 0.69')
    t = prepare_run(tmp_path / "r", small(max_updates=40), resume=True)
    err = capsys.readouterr().err
    assert "torn last line" in err and err.count("\n") == 1
    t.train(out=tmp_path / "r", progress=False)
    full = Trainer(small(max_updates=40))
    full.train(out=tmp_path / "full", progress=False)
    assert _strip(RunFiles(tmp_path / "r").rows()) == _strip(RunFiles(tmp_path / "full").rows())
    lines = (tmp_path / "r" / "log.jsonl").read_text().split("\n")
    assert lines[-1] == "" and len(lines) == 5
    text = (tmp_path / "r" / "log.jsonl").read_text()         # a bad line before the last is an error
    (tmp_path / "r" / "log.jsonl").write_text("{oops\n" + text)
    with pytest.raises(ValueError, match="line 1 is not a JSON row"):
        prepare_run(tmp_path / "r", small(max_updates=50), resume=True)


def test_run_files_never_write_through_a_planted_symlink(tmp_path):
    """Temporary files get exclusive, unpredictable names: a symlink planted where the old
    temporary names were, or in place of checkpoint.npz, best.npz, a snapshot or config.json,
    leaves its target untouched (the link itself is replaced); a planted log is refused."""
    import os
    run, victims = tmp_path / "run", tmp_path / "victims"
    (run / "snapshots").mkdir(parents=True)
    victims.mkdir()
    planted = ["checkpoint.tmp.npz", "best.tmp.npz", "snapshots/checkpoint_00000010.tmp.npz",
               "checkpoint.npz", "best.npz", "snapshots/checkpoint_00000020.npz", "grad_norms.png"]
    for i, name in enumerate(planted):
        (victims / f"v{i}").write_bytes(b"precious")
        os.symlink(victims / f"v{i}", run / name)
    os.symlink(victims / "config-target", run / "config.json")     # dangling: must not be created
    Trainer(small(max_updates=20)).train(out=run, progress=False)
    for i, _ in enumerate(planted):
        assert (victims / f"v{i}").read_bytes() == b"precious"
    assert not (victims / "config-target").exists()
    for name in ("checkpoint.npz", "best.npz", "snapshots/checkpoint_00000020.npz", "config.json"):
        assert not (run / name).is_symlink()
    assert Trainer.from_checkpoint(run / "checkpoint.npz").state.update == 20
    assert json.loads((run / "config.json").read_text())["hidden"] == 8
    other = tmp_path / "other"
    other.mkdir()
    os.symlink(victims / "v0", other / "log.jsonl")
    with pytest.raises(ValueError, match="symbolic link"):
        Trainer(small(max_updates=10)).train(out=other, progress=False)
    assert (victims / "v0").read_bytes() == b"precious"


# --------------------------------------------------------------------------- issue 13: success checks
def test_a_passed_check_confirmed_by_a_full_evaluation_ends_the_run_there(tmp_path):
    """Every check_every updates a check on check_size fresh sequences (stream 3); a pass is
    confirmed (or not) by the full evaluation of that update (stream 1); confirmed, the run logs
    it and stops there.  The periodic evaluations stay."""
    t = Trainer(small(eval_every=100, max_updates=200, check_every=10, check_size=30))
    errors = {(3, 10): 0.5, (3, 20): 0.0, (1, 20): 0.02, (3, 30): 0.005, (1, 30): 0.009}
    calls = []

    def evaluate(length=None, size=None, key=(1, 0)):
        calls.append((key, size))
        return errors[key]
    t.evaluate = evaluate
    st = t.train(out=tmp_path / "run", progress=False)
    assert st.update == 30 and st.outcome == "success" and st.last_error == 0.009
    assert calls == [((3, 10), 30), ((3, 20), 30), ((1, 20), None), ((3, 30), 30), ((1, 30), None)]
    rows = RunFiles(tmp_path / "run").rows()
    assert [(r["update"], r["error"]) for r in rows] == [(30, 0.009)]     # an unconfirmed check leaves no row
    norms = np.fromfile(tmp_path / "run" / "grad_norms.f32", dtype=np.float32)
    assert len(norms) == 30 and np.isfinite(rows[0]["loss"])
    assert Trainer.from_checkpoint(tmp_path / "run" / "checkpoint.npz").state.outcome == "success"
    t0 = Trainer(small(eval_every=100, max_updates=200, check_every=0))       # 0: evaluations only
    calls.clear()
    t0.evaluate = lambda length=None, size=None, key=(1, 0): calls.append(key) or 0.0
    assert t0.train(progress=False).update == 100 and calls == [(1, 100)]


def test_checks_resolve_success_to_50_updates_and_resume_exactly(tmp_path):
    """A real run: with checks (the default, every 50 updates) it stops at the first check that a
    full evaluation confirms, at or before the update the evaluations alone would stop at; a
    run stopped before then and resumed stops at the same update with the same weights and log."""
    config = lambda **kw: small(length=10, hidden=20, method="msgd-cr", eval_every=500, eval_size=1000,  # noqa: E731
                                max_updates=3000, lr=0.05, **kw)
    checked = Trainer(config())
    st = checked.train(out=tmp_path / "full", progress=False)
    assert st.outcome == "success" and st.update % 50 == 0 and st.last_error < 0.01
    assert checked.evaluate(key=(Trainer.EVAL, st.update)) == st.last_error
    only = Trainer(config(check_every=0)).train(progress=False)
    assert only.outcome == "success" and only.update % 500 == 0 and only.update >= st.update
    out = tmp_path / "split"
    t = prepare_run(out, config())
    for stop_at in sorted({7, 50, st.update // 2 + 3, st.update - 1}):        # at, between and off checks
        assert t.train(out=out, progress=False, stop=lambda: t.state.update >= stop_at).update == stop_at
        t = prepare_run(out, config(), resume=True)
    assert t.train(out=out, progress=False).update == st.update and t.state.outcome == "success"
    assert _strip(RunFiles(out).rows()) == _strip(RunFiles(tmp_path / "full").rows())
    assert (out / "grad_norms.f32").read_bytes() == (tmp_path / "full" / "grad_norms.f32").read_bytes()
    for a, b in zip(checked.params, t.params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# The paper's per-task settings (PAPER.md, "Per-task settings" and the temporal order headline),
# written out by hand, independently of tasks.train.PRESETS.  None: the paper names no init.
PAPER_SETTINGS = {   # task: (hidden, init, lr, alpha, mu)
    "addition": (50, "basic_tanh", 0.01, 0.5, 1.0),
    "multiplication": (50, "basic_tanh", 0.01, 0.5, 1.0),
    "temporal_order_3bit": (100, None, 0.01, 2.0, 1.0),
    "permutation": (100, None, 0.001, 1.0, 6.0),
    "memorization": (100, None, 0.01, 1.0, 1.0),
    "memorization_extended": (100, None, 0.01, 1.0, 1.0),
    "temporal_order": (50, "smart_tanh", 0.01, 4.0, 1.0),
}


@pytest.mark.parametrize("task", sorted(PAPER_SETTINGS))
def test_for_task_gives_the_papers_settings(task):
    hidden, init, lr, alpha, clip = PAPER_SETTINGS[task]
    c = TrainConfig.for_task(task.replace("_", "-")).validate()
    assert (c.task, c.hidden, c.init, c.lr, c.alpha, c.clip) == (task, hidden, init or "smart_tanh", lr, alpha, clip)
    assert (c.method, c.length, c.max_updates) == ("msgd-cr", 20, 100_000)     # the rest: the defaults


def test_for_task_explicit_values_win_and_none_means_not_given():
    c = TrainConfig.for_task("addition", hidden=20, init="smart_tanh", lr=None, alpha=0.0, clip=None, seed=4)
    assert (c.hidden, c.init, c.lr, c.alpha, c.clip, c.seed) == (20, "smart_tanh", 0.01, 0.0, 1.0, 4)
    assert TrainConfig.for_task("memorization_5_3").hidden == 100            # memorization_K_P: memorization's
    assert TrainConfig(task="addition").hidden == 50 and TrainConfig(task="permutation").lr == 0.01   # plain: defaults
    with pytest.raises(ValueError, match="unknown task"):
        TrainConfig.for_task("sorting")


def test_alpha_schedules_per_epoch_and_delayed():
    t = Trainer(small(alpha=2.0, alpha_schedule="inverse_time", alpha_every=3, alpha_delay=2))
    # updates 1-2 delayed (0); then t = 1 for updates 3-5, t = 2 for 6-8, t = 3 for 9-11: 2 / t
    assert [t.alpha_at(u) for u in range(1, 12)] == [0, 0, 2, 2, 2, 1, 1, 1, 2 / 3, 2 / 3, 2 / 3]
    t = Trainer(small(alpha=1.0, alpha_schedule="inverse_linear", alpha_beta=10.0))
    assert [t.alpha_at(u) for u in (1, 10, 30)] == [1 / 1.1, 1 / 2, 1 / 4]
    assert Trainer(small(alpha=4.0)).alpha_at(12345) == 4.0
    for bad, match in ((dict(alpha_every=0), "--alpha-every must be at least 1, got 0"),
                       (dict(alpha_delay=-1), "--alpha-delay must be 0 or more, got -1")):
        with pytest.raises(RunError, match=match):
            small(**bad).validate()


def test_a_delayed_regularizer_trains_as_no_regularizer_until_it_starts():
    delayed = Trainer(small(method="msgd-cr", alpha=4.0, alpha_delay=6, max_updates=6, eval_every=6))
    without = Trainer(small(method="msgd-cr", alpha=0.0, max_updates=6, eval_every=6))
    delayed.train(progress=False), without.train(progress=False)
    for p, q in zip(delayed.params, without.params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    delayed.config.max_updates = without.config.max_updates = 7
    delayed.train(progress=False), without.train(progress=False)
    assert not np.array_equal(delayed.cell.W_rec.numpy(), without.cell.W_rec.numpy())


# ----------------------------------------------------------------------------- the final evaluation
@pytest.fixture
def no_plots(monkeypatch):
    """grad_norms.png changes no number and costs most of a tiny run's time: not drawn."""
    monkeypatch.setattr(RunFiles, "plot", lambda self, *a, **k: None)


def test_the_error_reported_at_the_budget_is_the_final_models(tmp_path, capsys, no_plots):
    """A budget that ends between evaluations (25 updates, an evaluation every 10) once reported
    update 20's error as the run's last: the final model is evaluated too (the test set of
    update 25, as an evaluation there would draw it), logged, printed and kept in the state;
    best_error and best.npz stay the periodic evaluations'."""
    out = tmp_path / "r"
    t = Trainer(small(max_updates=25, diagnostics=False))
    st = t.train(out=out, progress=False)
    rows = RunFiles(out).rows()
    assert [r["update"] for r in rows] == [10, 20, 25] and st.outcome == "budget"
    assert rows[-1]["final"] is True and "final" not in rows[0]
    final = Trainer.from_checkpoint(out / "checkpoint.npz").evaluate(key=(Trainer.EVAL, 25))    # the weights on disk
    assert st.last_error == rows[-1]["error"] == final
    assert st.best_error == min(r["error"] for r in rows[:2])
    with np.load(out / "best.npz") as b:
        assert json.loads(str(b["meta"]))["state"]["update"] in (10, 20)
    # the command line prints it
    from tasks.cli import main
    argv = ["train", "temporal-order", "--length", "10", "--hidden", "8", "--eval-every", "10", "--eval-size", "200",
            "--max-updates", "25", "--seed", "3", "--out", str(tmp_path / "c"), "--quiet", "--no-diagnostics"]
    capsys.readouterr()
    assert main(argv) == 0
    said = capsys.readouterr().out
    last = RunFiles(tmp_path / "c").rows()[-1]
    assert last["update"] == 25 and f"after 25 updates; last error {last['error'] * 100:.2f}%" in said


def test_a_final_evaluation_keeps_resumes_exact(tmp_path, no_plots):
    """Stopped at 23 and resumed to the budget of 25: the log (final row included), norms and
    weights of the uninterrupted run; resumed from 25 with a budget of 40: the final row of 25 is
    dropped and the run is the uninterrupted 40's (rows, state, weights)."""
    config = lambda n: small(max_updates=n, diagnostics=False)          # noqa: E731
    full = Trainer(config(25))
    full.train(out=tmp_path / "full", progress=False)
    t = prepare_run(tmp_path / "split", config(25))
    assert t.train(out=tmp_path / "split", progress=False, stop=lambda: t.state.update >= 23).outcome == "interrupted"
    assert [r["update"] for r in RunFiles(tmp_path / "split").rows()] == [10, 20]         # no final row when stopped
    t = prepare_run(tmp_path / "split", config(25), resume=True)
    assert t.train(out=tmp_path / "split", progress=False).outcome == "budget"
    assert _strip(RunFiles(tmp_path / "split").rows()) == _strip(RunFiles(tmp_path / "full").rows())
    assert (tmp_path / "split" / "grad_norms.f32").read_bytes() == (tmp_path / "full" / "grad_norms.f32").read_bytes()
    for a, b in zip(full.params, t.params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    longer = Trainer(config(40))
    longer.train(out=tmp_path / "longer", progress=False)
    t = prepare_run(tmp_path / "full", config(40), resume=True)
    assert t.state.last_error == RunFiles(tmp_path / "full").rows()[-1]["error"]          # update 20's again
    t.train(out=tmp_path / "full", progress=False)
    assert _strip(RunFiles(tmp_path / "full").rows()) == _strip(RunFiles(tmp_path / "longer").rows())
    assert t.state == longer.state
    for a, b in zip(longer.params, t.params):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# ----------------------------------------------------------------------------- train --resume and its flags
def test_resume_refuses_a_setting_given_anew_and_takes_the_allowed_ones(tmp_path, capsys, no_plots):
    """`train --resume --lr 0.5` once resumed at the run's 0.01 and exited 0 (so did --dtype,
    --alpha ...): a setting given on the command line that differs from the run's is refused in
    one line naming the flag, both values and the rule, the run folder untouched.  Given again
    with the run's own values, settings are accepted; --max-updates (not below the updates
    done), --no-trace and --no-diagnostics may change."""
    from tasks.cli import main
    out = tmp_path / "r"
    common = ["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "10", "--eval-size",
              "100", "--out", str(out), "--quiet"]
    assert main(common + ["--max-updates", "10"]) == 0
    before = {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()}
    for given, said in [(["--lr", "0.5"], "--lr 0.5 differs from the run's 0.01"),
                        (["--dtype", "float64"], "--dtype float64 differs from the run's float32"),
                        (["--alpha", "0"], "--alpha 0.0 differs from the run's 4.0"),
                        (["--eval-size", "150"], "--eval-size 150 differs from the run's 100"),
                        (["--init", "sigmoid"], "--init sigmoid differs from the run's smart-tanh"),
                        (["--halve-lr"], "--halve-lr True differs from the run's False"),
                        (["--target-error", "0"], "--target-error 0.0 differs from the run's 0.01")]:
        capsys.readouterr()
        assert main(common + ["--max-updates", "20", "--resume"] + given) == 2, given
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and f"minigrad: error: --resume: {said} in {out}" in err[0], err
        assert "a resumed run keeps its settings" in err[0] and "--max-updates" in err[0]
        assert {f.name: f.read_bytes() for f in out.iterdir() if f.is_file()} == before
    assert main(common + ["--max-updates", "20", "--resume", "--lr", "0.01", "--dtype", "float32",
                          "--init", "smart-tanh", "--no-trace", "--no-diagnostics"]) == 0
    assert Trainer.from_checkpoint(out / "checkpoint.npz").state.update == 20
    capsys.readouterr()
    assert main(common + ["--max-updates", "15", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"minigrad: error: --resume: --max-updates 15 is below the 20 updates the run in {out} has done: "
                   f"give 20 or more"]


def test_a_bare_resume_continues_the_run_with_its_own_settings(tmp_path, capsys, no_plots):
    """`train --resume --out X` with nothing else once took every untyped setting from the
    defaults: a --hidden 6 run was refused ("is from another run"), and a run's budget became
    the default 100,000.  The run's own settings are taken now; a typed one still has to match,
    and the task (typed every time) is still compared."""
    from tasks.cli import main
    out = tmp_path / "r"
    assert main(["train", "temporal-order", "--length", "10", "--hidden", "6", "--eval-every", "10",
                 "--eval-size", "100", "--max-updates", "10", "--lr", "0.02", "--out", str(out), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["train", "temporal-order", "--resume", "--max-updates", "20", "--out", str(out), "--quiet"]) == 0
    resumed = Trainer.from_checkpoint(out / "checkpoint.npz")
    assert resumed.state.update == 20
    assert (resumed.config.hidden, resumed.config.length, resumed.config.lr, resumed.config.eval_size) == (6, 10, 0.02, 100)
    rows = [json.loads(r) for r in (out / "log.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [10, 20]
    # a bare resume keeps the run's budget (20), not the default 100,000: nothing left to do
    assert main(["train", "temporal-order", "--resume", "--out", str(out), "--quiet"]) == 0
    assert Trainer.from_checkpoint(out / "checkpoint.npz").state.update == 20
    capsys.readouterr()
    assert main(["train", "addition", "--resume", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("minigrad: error:") and "addition" in err[0], err
