"""Many models in one program (issue 13, item 1): stacked models compute what the models compute
alone, and a packed training run follows each run's separate trajectory -- same data, same
evaluations, same outcome and update count, same log -- with weights equal up to rounding.

The tolerance: the forward pass is bit-identical (checked); weight gradients and gradient norms
are summed in another order (a few ulp), so weights after a few hundred updates agree to a
relative 1e-9 in float64 (measured: 5e-15 after 300 updates) and 1e-3 in float32.
"""
import json

import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import regularizer
from tasks.packed import STREAM_CHUNK, PackedTrainer, check_pack, packable
from tasks.sweep import make_packs
from tasks.train import ALL_METHODS, RunError, TrainConfig, Trainer, prepare_run

RTOL = {"float64": 1e-9, "float32": 1e-3}


def config(**kw):
    base = dict(task="temporal_order", length=12, hidden=10, eval_every=40, eval_size=300, eval_batch=150,
                check_every=20, check_size=100, max_updates=120, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def separate(cfg, out=None):
    t = Trainer(cfg)
    st = t.train(out=out, progress=False)
    return t, st


def rel(a, b):
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-30))


def assert_same_run(alone, st_alone, pack, s, dtype="float64"):
    st = pack.members[s].state
    assert (st.outcome, st.update) == (st_alone.outcome, st_alone.update)
    assert st.history == st_alone.history
    assert (st.clipped, st.fallbacks) == (st_alone.clipped, st_alone.fallbacks)
    pack._sync([s])
    for (name, a), b in zip(alone.model.named_parameters(), pack.members[s].model.parameters()):
        assert rel(a.numpy(), b.numpy()) < RTOL[dtype], name


# ----------------------------------------------------------------------------- stacked models
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("head,n_out", [("last_softmax", 4), ("every_softmax", 3), ("last_linear", 1)])
def test_stacked_models_compute_what_each_model_computes(cell, head, n_out, rng):
    models = [rnn.SequenceModel(5, 7, n_out, cell=cell, head=head, init="basic_tanh", seed=s) for s in range(3)]
    packed = rnn.stack_models(models)
    assert rnn.model_count(packed) == 3
    assert packed.layers[0].parameters()[0].shape[0] == 3
    x = rng.standard_normal((6, 3, 4, 5))
    out = packed(mg.tensor(x)).numpy()
    for s, m in enumerate(models):
        alone = m(mg.tensor(x[:, s])).numpy()
        mine = out[:, s] if head == "every_softmax" else out[s]
        np.testing.assert_array_equal(mine, alone)        # the same products, model by model


def test_stacked_gradients_are_each_models_gradients(rng):
    models = [rnn.SequenceModel(5, 7, 4, init="smart_tanh", seed=s) for s in range(3)]
    packed = rnn.stack_models(models)
    x, y = rng.standard_normal((8, 3, 4, 5)), rng.integers(0, 4, (3, 4))
    losses = mg.cross_entropy(packed(mg.tensor(x)), mg.tensor(y), reduction="none").mean(-1)
    losses.sum().backward()
    for s, m in enumerate(models):
        m.loss(mg.tensor(x[:, s]), mg.tensor(y[s])).backward()
        for (name, p), q in zip(m.named_parameters(), packed.parameters()):
            np.testing.assert_allclose(q.grad.numpy()[s].reshape(p.shape), p.grad.numpy(), rtol=1e-12, atol=1e-15,
                                       err_msg=name)


def test_stack_models_refuses_models_of_different_architectures():
    a = rnn.SequenceModel(5, 7, 4, init="smart_tanh")
    with pytest.raises(ValueError, match=r"differ in .hidden. \(7 and 8\)"):
        rnn.stack_models([a, rnn.SequenceModel(5, 8, 4, init="smart_tanh")])
    with pytest.raises(ValueError, match="activation"):
        rnn.stack_models([a, rnn.SequenceModel(5, 7, 4, init="sigmoid")])


def test_unstack_into_gives_each_model_its_slice():
    models = [rnn.SequenceModel(5, 7, 4, init="smart_tanh", seed=s) for s in range(2)]
    packed = rnn.stack_models(models)
    for p in packed.parameters():
        p.data = p.data + np.arange(2).reshape((2,) + (1,) * (p.ndim - 1))
    fresh = [rnn.SequenceModel(5, 7, 4, init="smart_tanh", seed=s) for s in range(2)]
    rnn.unstack_into(packed, fresh)
    for s in range(2):
        for a, b in zip(models[s].parameters(), fresh[s].parameters()):
            np.testing.assert_array_equal(b.numpy(), a.numpy() + s)


def test_omega_of_packed_models_is_each_models_omega(rng):
    models = [rnn.SequenceModel(5, 7, 4, init="smart_tanh", seed=s) for s in range(3)]
    packed = rnn.stack_models(models)
    x, y = rng.standard_normal((9, 3, 4, 5)), rng.integers(0, 4, (3, 4))
    out, runs = packed.run(mg.tensor(x))
    loss = mg.cross_entropy(out, mg.tensor(y), reduction="none").mean(-1).sum()
    _, deltas = regularizer.state_gradients(loss, runs[0], packed.parameters())
    omega, grad = regularizer.omega_closed_form(packed.cell.W_rec, runs[0].hiddens[1:], deltas)
    assert omega.shape == (3,) and grad.shape == (3, 7, 7)
    for s, m in enumerate(models):
        o, r = m.run(mg.tensor(x[:, s]))
        _, d = regularizer.state_gradients(m.head.loss(o, mg.tensor(y[s])), r[0], m.parameters())
        o1, g1 = regularizer.omega_closed_form(m.cell.W_rec, r[0].hiddens[1:], d)
        np.testing.assert_allclose(omega.numpy()[s], o1.numpy(), rtol=1e-12)
        np.testing.assert_allclose(grad.numpy()[s], g1.numpy(), rtol=1e-10, atol=1e-16)


# ----------------------------------------------------------------------------- trajectories
@pytest.mark.parametrize("method", ALL_METHODS)
def test_each_packed_run_follows_its_separate_run(method, device, tmp_path):
    configs = [config(method=method, seed=s, device=device) for s in range(3)]
    pack = PackedTrainer(configs)
    pack.train(outs=[tmp_path / f"p{s}" for s in range(3)], progress=False)
    for s, c in enumerate(configs):
        alone, st = separate(c, tmp_path / f"a{s}")
        assert_same_run(alone, st, pack, s)
        rows = [json.loads(line) for line in (tmp_path / f"p{s}" / "log.jsonl").read_text().splitlines()]
        ref = [json.loads(line) for line in (tmp_path / f"a{s}" / "log.jsonl").read_text().splitlines()]
        assert [r["update"] for r in rows] == [r["update"] for r in ref]
        assert [r["error"] for r in rows] == [r["error"] for r in ref]
        np.testing.assert_allclose([r["loss"] for r in rows], [r["loss"] for r in ref], rtol=1e-9)
        norms = np.fromfile(tmp_path / f"p{s}" / "grad_norms.f32", dtype=np.float32)
        ref_norms = np.fromfile(tmp_path / f"a{s}" / "grad_norms.f32", dtype=np.float32)
        assert norms.shape == ref_norms.shape == (st.update,)
        np.testing.assert_allclose(norms, ref_norms, rtol=1e-5)


def test_each_packed_run_draws_its_separate_runs_data(device):
    """The minibatch of update u of run s is bit for bit what run s alone draws at update u,
    whichever runs step (a run behind, as after an uneven resume, lags for a while), across
    the chunks of updates whose generators are seeded ahead; runs that do not step get zeros."""
    configs = [config(seed=s, device=device) for s in (0, 4, 9)]
    pack = PackedTrainer(configs)
    for i in range(STREAM_CHUNK + 10):
        stepping = [0, 2] if i % 7 == 3 else [0, 1, 2]
        batch = pack._batch(pack._train_rngs(stepping), pack.config.batch_size)
        x, y = batch.inputs.numpy(), batch.targets.numpy()
        for s, m in enumerate(pack.members):
            if s not in stepping:
                assert not x[:, s].any() and not y[s].any()
                continue
            alone = m._sampler(Trainer.TRAIN, m.state.update).batch(configs[s].batch_size)   # what Trainer.update draws
            np.testing.assert_array_equal(x[:, s], alone.inputs.numpy())
            np.testing.assert_array_equal(y[s], alone.targets.numpy())
            m.state.update += 1


def test_runs_that_succeed_at_different_updates_each_stop_there():
    # the paper's MSGD-CR at T = 20 (preset: 50 units, lr 0.01, alpha 4): seeds 1 and 2 succeed
    # at different checks, seed 3 not within the budget
    configs = [TrainConfig.for_task("temporal_order", length=20, method="msgd-cr", seed=s, max_updates=900,
                                    eval_every=300, eval_size=500, eval_batch=250, check_every=50, check_size=200,
                                    dtype="float64")
               for s in (1, 2, 3)]
    pack = PackedTrainer(configs)
    states = pack.train(progress=False)
    updates = set()
    for s, c in enumerate(configs):
        alone, st = separate(c)
        assert_same_run(alone, st, pack, s)
        updates.add(st.update)
    assert len(updates) > 1, "the test needs runs that end at different updates"
    assert all(st.outcome in ("success", "budget") for st in states)


def test_float32_pack_follows_float32_runs():
    configs = [config(method="msgd-cr", seed=s, dtype="float32") for s in range(2)]
    pack = PackedTrainer(configs)
    pack.train(progress=False)
    assert pack.params[0].dtype == np.float32
    for s, c in enumerate(configs):
        alone, st = separate(c)
        assert_same_run(alone, st, pack, s, "float32")


def test_inits_and_alphas_may_differ_within_a_pack():
    configs = [config(method="msgd-cr", init="smart_tanh", alpha=4.0), config(method="msgd-cr", init="basic_tanh", alpha=0.5),
               config(method="msgd-cr", init="smart_tanh", alpha=1.0, seed=1),
               config(method="msgd-cr", seed=2, alpha_schedule="inverse_time", alpha_every=7, alpha_delay=30)]
    pack = PackedTrainer(configs)
    pack.train(progress=False)
    for s, c in enumerate(configs):
        alone, st = separate(c)
        assert_same_run(alone, st, pack, s)


def test_a_run_that_diverges_stops_and_the_others_go_on(device, tmp_path):
    configs = [config(method="msgd", seed=s, max_updates=60, device=device) for s in range(3)]

    def blow_up(trainer_params, s=None):
        for p in trainer_params:
            if p.name == "W_in":                 # a NaN weight: everything it touches is NaN
                host = p.numpy().copy()
                host[(0, 0) if s is None else (s, 0, 0)] = np.nan
                p.data = p.backend.asarray(host)
    pack = PackedTrainer(configs)
    blow_up(pack.params, 1)
    states = pack.train(outs=[tmp_path / f"p{s}" for s in range(3)], progress=False)
    alone = Trainer(configs[1])
    blow_up(alone.params)
    st = alone.train(progress=False)
    assert states[1].outcome == st.outcome and st.outcome.startswith("diverged at update 1:")
    assert "W_in" in st.outcome and "W_rec" in st.outcome
    assert pack.exit_status == 1
    saved = json.loads(str(mg.load(tmp_path / "p1" / "checkpoint.npz")["meta"]))["state"]
    assert saved["outcome"] == st.outcome
    for s in (0, 2):                                    # untouched by their neighbour's NaN
        alone, st = separate(configs[s])
        assert_same_run(alone, st, pack, s)
    assert all(np.isfinite(p.numpy()).all() for p in pack.params)   # the diverged run was zeroed


# ----------------------------------------------------------------------------- folders, resume
def test_interrupted_pack_resumes_to_the_uninterrupted_result(device, tmp_path):
    configs = [config(method="msgd-cr", seed=s, device=device) for s in range(3)]
    outs = [tmp_path / f"r{s}" for s in range(3)]
    first = PackedTrainer.for_folders(outs, configs)
    states = first.train(outs=outs, progress=False, stop=lambda: first.members[0].state.update >= 50)
    assert [st.outcome for st in states] == ["interrupted"] * 3
    assert first.exit_status == 130
    again = PackedTrainer.for_folders(outs, configs, resume=True)
    assert [m.state.update for m in again.members] == [50] * 3
    again.train(outs=outs, progress=False)
    whole = [tmp_path / f"w{s}" for s in range(3)]
    ref = PackedTrainer.for_folders(whole, configs)
    ref.train(outs=whole, progress=False)
    for s in range(3):
        a = [{k: v for k, v in json.loads(line).items() if k != "wall_time"} for line in (outs[s] / "log.jsonl").read_text().splitlines()]
        b = [{k: v for k, v in json.loads(line).items() if k != "wall_time"} for line in (whole[s] / "log.jsonl").read_text().splitlines()]
        assert a == b
        for p, q in zip(again.params, ref.params):
            np.testing.assert_array_equal(p.numpy()[s], q.numpy()[s])
        assert (outs[s] / "grad_norms.f32").read_bytes() == (whole[s] / "grad_norms.f32").read_bytes()


def test_a_packed_runs_folder_resumes_alone_as_a_separate_run(tmp_path):
    configs = [config(method="msgd-c", seed=s) for s in range(2)]
    outs = [tmp_path / f"r{s}" for s in range(2)]
    pack = PackedTrainer.for_folders(outs, configs)
    pack.train(outs=outs, progress=False, stop=lambda: pack.members[0].state.update >= 40)
    alone = prepare_run(outs[1], configs[1], resume=True)
    assert alone.state.update == 40
    st = alone.train(out=outs[1], progress=False)
    ref, ref_st = separate(configs[1])
    assert (st.outcome, st.update, st.history) == (ref_st.outcome, ref_st.update, ref_st.history)


def test_runs_resumed_at_different_updates_catch_up(tmp_path):
    configs = [config(method="msgd-c", seed=s) for s in range(2)]
    outs = [tmp_path / f"r{s}" for s in range(2)]
    lagging = prepare_run(outs[0], configs[0])
    lagging.train(out=outs[0], progress=False, stop=lambda: lagging.state.update >= 40)
    ahead = prepare_run(outs[1], configs[1])
    ahead.train(out=outs[1], progress=False, stop=lambda: ahead.state.update >= 80)
    pack = PackedTrainer.for_folders(outs, configs, resume=True)
    assert [m.state.update for m in pack.members] == [40, 80]
    pack.train(outs=outs, progress=False)
    for s in range(2):
        alone, st = separate(configs[s])
        assert_same_run(alone, st, pack, s)


# ----------------------------------------------------------------------------- what packs
def test_only_settings_that_pack_are_packed():
    assert packable(config()) is None
    assert "variable-length" in packable(config(max_length=20))
    assert "jitters" in packable(config(task="addition", length=20))
    assert "halving" in packable(config(halve_lr=True))
    assert "gated" in packable(config(cell="lstm", method="msgd-cr"))
    assert packable(config(cell="lstm", method="msgd-c")) is None
    with pytest.raises(RunError, match=r"may differ only in seed, init, alpha.*; these differ in length: 12 and 13"):
        check_pack([config(), config(length=13, seed=1)])
    with pytest.raises(RunError, match="share their activation"):
        check_pack([config(), config(init="sigmoid", seed=1)])
    with pytest.raises(RunError, match="same run"):
        check_pack([config(), config()])
    with pytest.raises(RunError, match="cannot pack"):
        check_pack([config(max_length=20), config(max_length=20, seed=1)])


def test_gated_cells_pack_without_omega():
    configs = [config(cell="lstm", method="msgd-c", seed=s, max_updates=40) for s in range(2)]
    pack = PackedTrainer(configs)
    pack.train(progress=False)
    for s, c in enumerate(configs):
        alone, st = separate(c)
        assert_same_run(alone, st, pack, s)


def test_the_sweep_packs_the_seeds_of_a_grid_point():
    def cell(seed, length=20, task="temporal_order", key=None):
        c = TrainConfig(task=task, length=length, seed=seed)
        from dataclasses import asdict
        return {"key": key or f"{task}{length}{seed}", "config": asdict(c)}
    cells = [cell(s) for s in range(5)] + [cell(s, 50) for s in range(2)] + [cell(s, 20, "addition") for s in range(2)]
    packs = make_packs(cells)
    assert [[c["key"] for c in p] for p in packs] == [
        [f"temporal_order20{s}" for s in range(5)], ["temporal_order500", "temporal_order501"],
        ["addition200"], ["addition201"]]
    assert [len(p) for p in make_packs(cells, 2)] == [2, 2, 1, 2, 1, 1]
    assert all(len(p) == 1 for p in make_packs(cells, 1))


def test_sigint_stops_a_pack_with_checkpoints_and_the_resumed_pack_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    """A real SIGINT (Ctrl-C) in the middle of update 15: every run finishes that update, is
    checkpointed "interrupted" (exit status 130); resumed, each ends as the uninterrupted pack."""
    import os
    import signal

    from tasks.runfiles import RunFiles
    monkeypatch.setattr(RunFiles, "plot", lambda self, force=False: None)      # pictures: not the point here
    configs = [config(method="msgd-cr", seed=s, max_updates=30, eval_every=20, eval_size=100, check_every=0,
                      trace=False, diagnostics=False) for s in range(2)]
    outs = [tmp_path / f"r{s}" for s in range(2)]
    first = PackedTrainer.for_folders(outs, configs)

    def ctrl_c():
        if first.members[0].state.update == 15:
            os.kill(os.getpid(), signal.SIGINT)
        return False
    states = first.train(outs=outs, progress=False, stop=ctrl_c)
    assert [(st.outcome, st.update) for st in states] == [("interrupted", 15)] * 2 and first.exit_status == 130
    again = PackedTrainer.for_folders(outs, configs, resume=True)
    again.train(outs=outs, progress=False)
    ref = PackedTrainer(configs)
    ref.train(progress=False)
    for s in range(2):
        assert again.members[s].state.history == ref.members[s].state.history
        for p, q in zip(again.params, ref.params):
            np.testing.assert_array_equal(p.numpy()[s], q.numpy()[s])


def test_a_pack_evaluates_its_runs_final_models_at_the_budget_as_runs_alone(tmp_path, monkeypatch):
    """A budget between evaluations (25 updates, an evaluation every 10): each packed run's final
    model is evaluated, logged and kept as last_error, as a run alone does -- and as that run's
    own final weights score (not update 20's evaluation)."""
    from tasks.runfiles import RunFiles
    monkeypatch.setattr(RunFiles, "plot", lambda self, *a, **k: None)
    cfgs = [config(seed=s, hidden=6, eval_every=10, eval_size=100, eval_batch=100, check_every=0, max_updates=25,
                   diagnostics=False) for s in (0, 1)]
    outs = [tmp_path / f"p{s}" for s in (0, 1)]
    pack = PackedTrainer(cfgs)
    states = pack.train(outs=outs, progress=False)
    for s, (cfg, st) in enumerate(zip(cfgs, states)):
        alone, st_alone = separate(cfg, tmp_path / f"a{s}")
        rows = RunFiles(outs[s]).rows()
        assert [r["update"] for r in rows] == [10, 20, 25] and rows[-1]["final"] is True
        assert st.outcome == st_alone.outcome == "budget" and st.history == st_alone.history
        assert st.last_error == rows[-1]["error"] == st_alone.last_error
        final = Trainer.from_checkpoint(outs[s] / "checkpoint.npz").evaluate(key=(Trainer.EVAL, 25))
        assert st.last_error == final
        assert st.best_error == min(r["error"] for r in rows[:2])
