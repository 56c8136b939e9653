"""tasks.compare (``minigrad compare``): dE/ds_k of five models against central differences and a
closed form, the Jacobian-chain norms, the JSON and the figure, bad input."""
import json

import numpy as np
import pytest

import minigrad as mg
import rnn
from tasks import cli, compare
from tasks.compare import (AttentionModel, CellModel, CompareConfig, MemoryModel, batch_of, chain_norms,
                           state_gradient_norms, state_gradients)

@pytest.fixture
def command(monkeypatch):
    """``minigrad compare ARGS`` through tasks.cli.main (with the wiring the lead adds to
    tasks/cli.py, if it is not there yet)."""
    if "compare" not in cli.build_parser()._subparsers._group_actions[0].choices:
        build = cli.build_parser

        def with_compare():
            parser = build()
            sub = parser._subparsers._group_actions[0]
            p = sub.add_parser("compare", description=compare.DESCRIPTION)
            compare.add_arguments(p)
            p.set_defaults(run=compare.cmd_compare)
            return parser
        monkeypatch.setattr(cli, "build_parser", with_compare)
    return lambda *argv: cli.main(["compare", *argv])


def small(kind, device="cpu", hidden=3):
    if kind == "ntm":
        return MemoryModel(hidden, seed=1, slots=4, width=3, device=device)
    if kind == "seq2seq":
        return AttentionModel(hidden, seed=1, device=device)
    return CellModel(kind, hidden, seed=1, device=device)


def fresh(length=10, size=2, device="cpu"):
    return batch_of(CompareConfig(length=length, device=device), compare.PROBE, 0, size)


def loss_with(model, x, y, offsets) -> float:
    with mg.no_grad():
        return float(model.probe(x, y, offsets=offsets).loss.item())


@pytest.mark.parametrize("kind", compare.MODELS)
def test_state_gradients_match_central_differences(kind, device):
    """dE/ds_k (the gradient at a perturbation d_k added to s_k) against central differences of
    the loss in float64 along random directions u of d_k, at k = 1, T/2, T (and for the NTM
    along directions of the memory's perturbation D_k): <dE/dd_k, u> = (E(εu) - E(-εu)) / 2ε.
    Then the per-sequence norms: B ||dE/ds_k[b]||."""
    model, (x, y) = small(kind, device, hidden=2), fresh(device=device)
    states, memory, probe = state_gradients(model, x, y)
    T, B = x.shape[0], x.shape[1]
    rng = np.random.default_rng(5)
    template = probe.deltas[0]
    shapes = [t.shape for t in template] if isinstance(template, tuple) else [template.shape]
    eps = 1e-6
    checks = [("state", k, shapes, states[k - 1]) for k in (1, T // 2, T)]
    if kind == "ntm":
        checks.append(("memory", 3, [probe.memory_deltas[0].shape], memory[2]))
    for where, k, parts, gradient in checks:
        for _ in range(2):
            u = [rng.standard_normal(shape) for shape in parts]
            pack = (lambda sign: tuple(sign * eps * v for v in u)) if len(u) > 1 else (lambda sign: sign * eps * u[0])
            plus, minus = (loss_with(model, x, y, {(where, k): pack(sign)}) for sign in (1, -1))
            numeric = (plus - minus) / (2 * eps)
            analytic = float((gradient * np.concatenate([v.reshape(B, -1) for v in u], axis=1)).sum())
            np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-10)
    norms, memory_norms, _ = state_gradient_norms(model, x, y)
    np.testing.assert_allclose(norms, B * np.linalg.norm(np.stack(states), axis=2), rtol=1e-12)
    if kind == "ntm":
        assert np.all(memory_norms[-1] == 0) and np.all(memory_norms[:-1] > 0)   # the last write is read by nothing


def test_probes_are_the_models_own_forward_pass():
    """With zero perturbations each probe computes the model's own loss: the measurement is of
    the real models (rnn.SequenceModel, rnn.Seq2Seq, rnn.NTM), not of copies."""
    x, y = fresh(length=12, size=3)
    for kind in compare.MODELS:
        model = small(kind, hidden=4)
        np.testing.assert_allclose(model.probe(x, y).loss.item(), model.loss(x, y).item(), rtol=1e-13)


def test_linear_rnn_closed_form():
    """h_t = h_{t-1} W + x_t U: dE_b/dh_k = (p_b - onehot(y_b)) W_outᵀ (Wᵀ)^(T-k), and the chain
    ds_T/ds_k = (Wᵀ)^(T-k), whose spectral norm is that of W^(T-k)."""
    x, y = fresh(length=15, size=3)
    model = CellModel("rnn", 5, seed=0)
    model.model = rnn.SequenceModel(6, 5, 4, cell="rnn", init="orthogonal", activation="linear", seed=3)
    W = model.model.cell.W_rec.numpy() * 0.9
    model.model.cell.W_rec.data = mg.tensor(W).data
    W_out, c = model.model.head.W_out.numpy(), model.model.head.c.numpy()
    U, b = model.model.cell.W_in.numpy(), model.model.cell.b.numpy()
    h = np.zeros((3, 5))
    for t in range(15):
        h = h @ W + x.numpy()[t] @ U + b
    logits = h @ W_out + c
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    delta = (p - np.eye(4)[y.numpy()]) @ W_out.T                        # dE_b/dh_T, (B, N)
    grads, _, probe = state_gradient_norms(model, x, y)
    for k in range(1, 16):
        expected = np.linalg.norm(delta @ np.linalg.matrix_power(W.T, 15 - k), axis=1)
        np.testing.assert_allclose(grads[k - 1], expected, rtol=1e-10)
        chain = chain_norms(probe)[k - 1]
        np.testing.assert_allclose(chain, np.linalg.norm(np.linalg.matrix_power(W, 15 - k), 2), rtol=1e-8)


def test_attention_and_memory_carry_the_gradient_the_recurrence_loses():
    """The figure's claim on untrained models, length 40: at k = 1 the total dE/ds_k of seq2seq is
    many times what is left through the encoder's recurrence alone, and the NTM's memory
    gradient there exceeds its controller's gradient through the recurrence alone."""
    x, y = fresh(length=40, size=4)
    model = small("seq2seq", hidden=16)
    total = state_gradient_norms(model, x, y)[0].mean(1)
    alone = state_gradient_norms(model, x, y, recurrence_only=True)[0].mean(1)
    assert total[0] > 100 * alone[0]
    np.testing.assert_allclose(total[-1], alone[-1], rtol=0.5)      # near the end both paths are short
    ntm = small("ntm", hidden=8)
    _, memory, _ = state_gradient_norms(ntm, x, y)
    alone = state_gradient_norms(ntm, x, y, recurrence_only=True)[0].mean(1)
    assert memory.mean(1)[0] > alone[0]


def test_command_writes_json_and_figure(command, tmp_path, capsys):
    out = tmp_path / "cmp"
    assert command("--out", str(out), "--models", "rnn", "seq2seq", "ntm", "--length", "10", "--updates", "1",
                   "--hidden", "3", "--probe-size", "2", "--eval-size", "8", "--quiet") == 0
    result = json.loads((out / "compare.json").read_text())
    assert list(result["models"]) == ["rnn", "seq2seq", "ntm"] and result["k"] == list(range(1, 11))
    for kind, r in result["models"].items():
        for when in ("before", "after"):
            for key in ("grad", "jacobian"):
                assert len(r[when][key]) == 10 and all(v > 0 for v in r[when][key])
            assert r[when]["jacobian"][-1] == 1.0
        assert ("grad_recurrence" in r["after"]) == (kind in ("seq2seq", "ntm"))
        assert ("memory_grad" in r["after"]) == (kind == "ntm")
        assert len(r["train_loss"]) == 1 and 0 <= r["accuracy_after"] <= 1
        assert r["before"] != r["after"]                            # trained: the numbers moved
    assert (out / "gradient_paths.png").read_bytes()[:4] == b"\x89PNG"
    text = capsys.readouterr().out
    assert "attention seq2seq" in text and "NTM" in text


@pytest.mark.parametrize("argv, message", [
    (["--models", "rnn", "transformer"], "--models transformer: choose from rnn, lstm, gru, seq2seq, ntm"),
    (["--models", "rnn", "rnn"], "lists a model twice"),
    (["--length", "5"], "--length must be at least 10"),
    (["--updates", "-1"], "--updates must be 0"),
    (["--lr", "0"], "--lr must be a positive number"),
    (["--hidden", "0"], "--hidden must be at least 1"),
    (["--dtype", "float16"], "choose float32 or float64"),
    (["--device", "tpu"], "tpu"),
])
def test_bad_input_is_one_line(command, argv, message, tmp_path, capsys):
    assert command("--out", str(tmp_path / "x"), "--quiet", *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("minigrad: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "x" / "compare.json").exists()


def test_out_that_is_a_file(command, tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert command("--out", str(tmp_path / "f"), "--updates", "0", "--quiet") == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_figure_from_json_and_empty(tmp_path):
    from viz.gradient_paths import gradient_paths
    k = list(range(1, 11))
    curve = {"grad": [0.1] * 10, "jacobian": [0.5] * 9 + [1.0]}
    result = {"k": k, "config": {"updates": 5},
              "models": {"ntm": {"label": "NTM", "before": {**curve, "grad": [1e-30] * 10, "grad_recurrence": [0.02] * 10}, "accuracy_after": 0.5,
                                 "after": {**curve, "memory_grad": [0.2] * 9 + [0.0], "grad_recurrence": [0.01] * 10}}}}
    (tmp_path / "r.json").write_text(json.dumps(result))
    fig = gradient_paths(tmp_path / "r.json", path=tmp_path / "g.png")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert len(labels) == 6 and any("memory" in label for label in labels)
    assert fig.axes[0].get_ylim()[0] == pytest.approx(1e-16)     # 1e-30 is below the axis's floor
    assert "NTM" in fig.axes[0].get_title()
    assert (tmp_path / "g.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="no models"):
        gradient_paths({"k": k, "models": {}})


# ----------------------------------------------------------------- independent references
def _softmax_ce(logits, y):
    """Per-sequence cross-entropy, (B,), in plain NumPy."""
    z = logits - logits.max(1, keepdims=True)
    return np.log(np.exp(z).sum(1)) - z[np.arange(len(y)), y]


def test_tanh_rnn_state_gradients_and_chain_against_plain_numpy():
    """The tanh RNN written again in plain NumPy, h_t = tanh(h_{t-1} W_rec + x_t W_in + b), the
    loss E_b = CE(h_T W_out + c, y_b) of each sequence: ||dE_b/ds_k|| by central differences of
    E_b w.r.t. an additive perturbation of h_k (every coordinate), for every k; and the chain
    ds_T/ds_k = J_T ... J_{k+1}, J_i = diag(1 - h_i²) W_recᵀ, its spectral norm by NumPy.  The
    J_i differ from step to step, so a product taken in the wrong order fails."""
    x, y = fresh(length=10, size=2)
    model = CellModel("rnn", 3, seed=1)
    cell, head = model.model.cell, model.model.head
    W_in, W_rec, b = cell.W_in.numpy(), cell.W_rec.numpy() * 2.5, cell.b.numpy()     # far from linear
    cell.W_rec.data = mg.tensor(W_rec).data
    W_out, c = head.W_out.numpy(), head.c.numpy()
    X, Y = x.numpy(), y.numpy()
    T, B, N = X.shape[0], X.shape[1], 3

    def losses(k=None, delta=None):
        h, hs = np.zeros((B, N)), []
        for t in range(T):
            h = np.tanh(h @ W_rec + X[t] @ W_in + b)
            if t + 1 == k:
                h = h + delta
            hs.append(h)
        return _softmax_ce(h @ W_out + c, Y), hs

    eps = 1e-6
    expected = np.empty((T, B))
    for k in range(1, T + 1):
        g = np.empty((B, N))
        for j in range(N):
            d = np.zeros((B, N))
            d[:, j] = eps
            g[:, j] = (losses(k, d)[0] - losses(k, -d)[0]) / (2 * eps)     # sequences are independent
        expected[k - 1] = np.linalg.norm(g, axis=1)
    norms, _, probe = state_gradient_norms(model, x, y)
    np.testing.assert_allclose(norms, expected, rtol=1e-6)
    hs = losses()[1]
    J = [(1 - hs[i - 1] ** 2)[:, :, None] * W_rec.T[None] for i in range(1, T + 1)]   # J[i - 1] = J_i, (B, N, N)
    chain = chain_norms(probe)
    for k in range(1, T + 1):
        P = np.broadcast_to(np.eye(N), (B, N, N))
        for i in range(k + 1, T + 1):
            P = J[i - 1] @ P                                                 # J_T ... J_{k+1}
        np.testing.assert_allclose(chain[k - 1], [np.linalg.norm(P[s], 2) for s in range(B)], rtol=1e-9)
    assert not np.allclose(chain[:-1] / chain[1:], chain[-2] / chain[-1])     # the steps really differ


def _numeric_step_jacobians(cell, inputs, states):
    """J_i = ds_i/ds_{i-1} (B, S, S), i = 1..T, by central differences of the cell itself (every
    coordinate of the flattened state: h, or h then c), in float64 NumPy."""
    def flat(s):
        return np.concatenate([p.numpy() for p in s], axis=1) if isinstance(s, tuple) else s.numpy()

    def unflat(a, like):
        if isinstance(like, tuple):
            sizes = np.cumsum([p.shape[1] for p in like])[:-1]
            return tuple(mg.tensor(part) for part in np.split(a, sizes, axis=1))
        return mg.tensor(a)

    eps, out = 1e-6, []
    with mg.no_grad():
        for i in range(1, len(states)):
            prev, x = flat(states[i - 1]), inputs[i - 1]
            B, S = prev.shape
            J = np.empty((B, S, S))
            for j in range(S):
                d = np.zeros((B, S))
                d[:, j] = eps
                up = flat(cell(x, unflat(prev + d, states[i - 1])))
                down = flat(cell(x, unflat(prev - d, states[i - 1])))
                J[:, :, j] = (up - down) / (2 * eps)
            out.append(J)
    return out


@pytest.mark.parametrize("kind", ["lstm", "gru", "seq2seq", "ntm"])
def test_chain_norms_are_spectral_norms_of_the_numpy_product(kind):
    """||ds_T/ds_k||₂ against NumPy: one-step Jacobians by central differences of the model's
    own recurrence (the LSTM's (h, c); seq2seq's encoder cell; the NTM's controller with its
    read vectors as they were), multiplied J_T ... J_{k+1} and np.linalg.norm(P, 2)."""
    model, (x, y) = small(kind, hidden=3), fresh(length=10, size=2)
    probe = model.probe(x, y)
    J = _numeric_step_jacobians(probe.cell, probe.cell_inputs, probe.states)
    chain, T = chain_norms(probe), x.shape[0]
    for k in range(1, T + 1):
        P = np.broadcast_to(np.eye(J[0].shape[1]), J[0].shape)
        for i in range(k + 1, T + 1):
            P = J[i - 1] @ P
        np.testing.assert_allclose(chain[k - 1], [np.linalg.norm(p, 2) for p in P], rtol=1e-6)


def test_seq2seq_recurrence_only_is_the_gradient_with_the_attention_frozen():
    """Independent of the probe's detach: E(ε) with the encoder run again from s_k + εu, the
    decoder's s_0 made from that run's last state, but the attention reading the annotations
    of the unperturbed run (constants).  Its central difference is <dE/ds_k through the
    recurrence, u>; with the attention reading the perturbed run too, it is the total."""
    model, (x, y) = small("seq2seq", hidden=3), fresh(length=10, size=2)
    source, bos, targets = AttentionModel.tokens(x, y)
    encoder, decoder = model.model.encoder, model.model.decoder
    mask = model.model.source_mask(source)

    def encode(k=None, delta=None):
        with mg.no_grad():
            embedded, state, states = encoder.embedding(source), encoder.forward_cell.initial_state(2), []
            for j in range(source.shape[0]):
                state = encoder.forward_cell(embedded[j], state)
                if j + 1 == k:
                    state = state + mg.tensor(delta)
                states.append(state)
        return states

    frozen = mg.stack(encode())

    def loss(k, delta, attention_follows):
        states = encode(k, delta)
        with mg.no_grad():
            memory = decoder.attention.memory(mg.stack(states) if attention_follows else frozen, mask)
            logits, _, _ = decoder.step(bos[0], decoder.initial_state(states[-1]), memory)
            return float(mg.cross_entropy(logits, targets[0]).item())

    recurrence = state_gradients(model, x, y, recurrence_only=True)[0]
    total = state_gradients(model, x, y)[0]
    rng, eps = np.random.default_rng(3), 1e-6
    for k in (1, 5, 10):
        u = rng.standard_normal((2, 3))
        for follows, gradient in ((False, recurrence), (True, total)):
            numeric = (loss(k, eps * u, follows) - loss(k, -eps * u, follows)) / (2 * eps)
            np.testing.assert_allclose((gradient[k - 1] * u).sum(), numeric, rtol=1e-5, atol=1e-11)
    assert np.linalg.norm(total[0]) > 3 * np.linalg.norm(recurrence[0])     # the cut removed something


def test_ntm_recurrence_only_is_the_gradient_with_the_reads_frozen():
    """Independent of the probe: the NTM's controller run alone from (h_k, c_k) + εu, fed the read
    vectors r_t of the unperturbed model's own forward pass (rnn.NTM.forward's record) as
    constants, the last logits [h_T; r_T] W_out + c with r_T constant.  Its central difference
    is <dE/ds_k through the recurrence, u> (the heads, the memory and the reads cut)."""
    model, (x, y) = small("ntm", hidden=3), fresh(length=10, size=2)
    m = model.model
    with mg.no_grad():
        _, record = m(x)
        reads = [m.initial_state(2).read] + list(record.reads)        # reads[t]: what step t + 1 reads

    def loss(k, delta):
        with mg.no_grad():
            state = m.controller.initial_state(2)
            for t in range(x.shape[0]):
                state = m.controller(mg.concat([x[t], reads[t]], axis=-1), state)
                if t + 1 == k:
                    state = tuple(s + mg.tensor(d) for s, d in zip(state, delta))
            logits = mg.concat([state[0], reads[-1]], axis=-1) @ m.W_out + m.c
            return float(mg.cross_entropy(logits, y).item())

    recurrence = state_gradients(model, x, y, recurrence_only=True)[0]
    total = state_gradients(model, x, y)[0]
    rng, eps = np.random.default_rng(4), 1e-6
    for k in (1, 5, 10):
        u = rng.standard_normal((2, 6))
        numeric = (loss(k, (eps * u[:, :3], eps * u[:, 3:])) - loss(k, (-eps * u[:, :3], -eps * u[:, 3:]))) / (2 * eps)
        np.testing.assert_allclose((recurrence[k - 1] * u).sum(), numeric, rtol=1e-5, atol=1e-11)
    assert not np.allclose(total[0], recurrence[0], rtol=0.1)              # the memory path carries something


def test_negative_seed_is_one_line(command, tmp_path, capsys):
    assert command("--out", str(tmp_path / "x"), "--quiet", "--seed", "-1") == 2
    err = capsys.readouterr().err
    assert "--seed must be an integer from 0" in err and "-1" in err and err.count("\n") == 1


def test_out_under_a_file_is_refused_before_the_run(command, tmp_path, capsys):
    (tmp_path / "f").write_text("")
    assert command("--out", str(tmp_path / "f" / "sub"), "--updates", "0", "--quiet") == 2
    err = capsys.readouterr().err
    assert "cannot be made" in err and "is a file, not a folder" in err and err.count("\n") == 1


def test_figure_axis_fits_the_curves_drawn():
    """The untrained Jacobian chain is in the JSON but not drawn: it must not stretch the axis."""
    from viz.gradient_paths import gradient_paths
    curve = {"grad": [1e-2] * 10, "jacobian": [0.5] * 9 + [1.0]}
    result = {"k": list(range(1, 11)), "config": {"updates": 1},
              "models": {"gru": {"label": "GRU", "before": {**curve, "jacobian": [1e-12] * 9 + [1.0]},
                                 "after": curve, "accuracy_after": 0.25}}}
    low, high = gradient_paths(result).axes[0].get_ylim()
    assert low == pytest.approx(1e-2 / 3) and high == pytest.approx(3.0)
