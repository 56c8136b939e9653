"""Training diagnostics (tasks/diagnostics.py, viz/diagnostics.py): the histogram of
log10 ||dE/ds_k|| against central differences and a closed form, tanh and gate saturation
against NumPy recomputations, the Lyapunov exponent of a linear cell, the log rows of a run,
the pictures and the command's one-line errors."""
import argparse
import json
import math

import numpy as np
import pytest

import minigrad as mg
import rnn
from tasks import diagnostics as D
from tasks.runfiles import RunFiles
from tasks.train import RunError, TrainConfig, Trainer


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def tiny(**kw):
    base = dict(task="temporal_order", length=10, hidden=6, eval_every=10, eval_size=100, eval_batch=100,
                max_updates=20, check_every=0, seed=4)
    base.update(kw)
    return TrainConfig(**base)


def model_with(cell, n_in, hidden, n_out, device, head="last_softmax", activation=None, init="basic_tanh",
               seed=0, **arrays):
    """A one-layer SequenceModel in float64 whose named cell arrays are replaced by ``arrays``."""
    model = rnn.SequenceModel(n_in, hidden, n_out, cell=cell, head=head, init=init, activation=activation,
                              seed=seed, dtype="float64", device=device)
    state = {k: v.copy() for k, v in model.state_dict().items()}
    for name, value in arrays.items():
        state[f"layers.0.{name}"] = np.asarray(value, dtype=float)
    model.load_state_dict(state)
    return model


def tensor(a, device, dtype="float64"):
    return mg.tensor(np.asarray(a), dtype=dtype, device=device)


# ----------------------------------------------------------------------------- the histogram
def test_histogram_bins_by_hand():
    # lo -24, width 0.5: counts[0] below 1e-24, counts[1 + i] for log10 in [-24 + i/2, -24 + (i+1)/2), counts[-1] >= 1e4
    norms = [0.0, 1e-30, 0.9e-24, 1e-24, 2e-24, 1.0, 3.0, 3.2, 10 ** 3.99, 1e4, np.inf, np.nan, 5e-3]
    h = D.histogram(norms)
    assert h["lo"] == -24.0 and h["width"] == 0.5 and len(h["counts"]) == 58
    expected = np.zeros(58, dtype=int)
    expected[0] = 3                 # 0, 1e-30, 0.9e-24
    expected[1] = 2                 # 1e-24 (the edge itself), 2e-24 (log10 = -23.7)
    expected[49] = 2                # 1 (log10 0 = -24 + 48 * 0.5), 3 (0.477)
    expected[50] = 1                # 3.2 (0.505)
    expected[56] = 1                # 10**3.99: the last bin [3.5, 4)
    expected[57] = 3                # 1e4, inf, nan
    expected[44] = 1                # 5e-3: log10 -2.30 in [-2.5, -2)
    assert h["counts"] == expected.tolist()
    with pytest.raises(ValueError, match="multiple of width"):
        D.histogram(norms, lo=0, hi=1.2, width=0.5)


def _bins_by_search(norms, lo, width, n):
    """Independent binning: the number of bin edges at or below log10(norm)."""
    edges = lo + width * np.arange(n - 1)                   # lo, lo + w, ..., hi
    counts = np.zeros(n, dtype=int)
    for x in np.ravel(norms):
        if not np.isfinite(x) or x <= 0:
            counts[0 if x == 0 else -1] += 1
            continue
        counts[np.searchsorted(edges, np.log10(x), side="right")] += 1
    return counts.tolist()


def _norms_by_central_differences(model, x, y, eps=1e-5):
    """||dE/ds_k|| (T, B) by perturbing each component of each state s_k of one sequence and
    running the rest of the sequence and the head again (float64)."""
    cell, head = model.cell, model.head
    with mg.no_grad():
        _, (run,) = model.run(x)
        T, B = len(run), x.shape[1]
        norms = np.zeros((T, B))

        def loss_from(k, state):
            after = rnn.unroll(cell, x[k:], state).hiddens[1:] if k < T else []
            hiddens = run.hiddens[1:k] + [rnn.hidden_of(state)] + after
            return head.loss(head(hiddens), y).item()
        for k in range(1, T + 1):
            parts = list(run.states[k]) if isinstance(run.states[k], tuple) else [run.states[k]]
            host = [p.numpy() for p in parts]
            for b in range(B):
                total = 0.0
                for i, comp in enumerate(host):
                    for j in range(comp.shape[1]):
                        values = []
                        for sign in (1, -1):
                            moved = [c.copy() for c in host]
                            moved[i][b, j] += sign * eps
                            state = [tensor(c, x.device) for c in moved]
                            values.append(loss_from(k, tuple(state) if len(state) > 1 else state[0]))
                        total += ((values[0] - values[1]) / (2 * eps)) ** 2
                norms[k - 1, b] = math.sqrt(total)
    return norms


@pytest.mark.parametrize("cell,head", [("rnn", "last_softmax"), ("lstm", "every_softmax"), ("gru", "last_softmax")])
def test_histogram_counts_the_norms_of_central_differences(cell, head, device):
    rng = np.random.default_rng(5)
    T, B, n_in, N, n_out = 5, 3, 2, 3, 4
    model = rnn.SequenceModel(n_in, N, n_out, cell=cell, head=head, init="basic_tanh", seed=2, dtype="float64",
                              device=device)
    model.load_state_dict({k: 6 * v for k, v in model.state_dict().items()})    # gradients well above rounding
    x = tensor(rng.standard_normal((T, B, n_in)), device)
    y = mg.tensor(rng.integers(0, n_out, (T, B) if head == "every_softmax" else (B,)), device=device)
    expected = _norms_by_central_differences(model, x, y)
    norms, _ = D.state_gradient_norms(model, x, y)
    np.testing.assert_allclose(norms, expected, rtol=1e-6, atol=1e-11)
    assert expected.min() > 1e-5
    assert all(p.grad is None for p in model.parameters())          # the diagnostics leave .grad alone
    row = D.compute(model, x, y, lyapunov=False)
    h = row["grad_hist"]
    assert sum(h["counts"]) == T * B
    assert h["counts"] == _bins_by_search(expected, h["lo"], h["width"], len(h["counts"]))


def test_no_recurrence_leaves_only_the_last_state_with_a_gradient(device):
    """W_rec = 0 and a last-step head: dE/dh_k = 0 for k < T (the underflow bin), and
    dE/dh_T = (softmax(y) - onehot(target)) W_outᵀ / B in closed form."""
    rng = np.random.default_rng(6)
    T, B, n_in, N, n_out = 6, 4, 2, 3, 3
    W_in, b = rng.standard_normal((n_in, N)), rng.standard_normal(N)
    model = model_with("rnn", n_in, N, n_out, device, W_rec=np.zeros((N, N)), W_in=W_in, b=b)
    xs = rng.standard_normal((T, B, n_in))
    targets = rng.integers(0, n_out, B)
    row = D.compute(model, tensor(xs, device), mg.tensor(targets, device=device), lyapunov=False)
    h_T = np.tanh(xs[-1] @ W_in + b)
    W_out, c = model.head.W_out.numpy(), model.head.c.numpy()
    out = h_T @ W_out + c
    p = np.exp(out - out.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(B), targets] -= 1
    last = np.linalg.norm(p @ W_out.T / B, axis=1)
    counts = np.array(row["grad_hist"]["counts"])
    assert counts[0] == (T - 1) * B
    assert counts.tolist() == _bins_by_search(np.concatenate([np.zeros((T - 1) * B), last]), -24.0, 0.5, 58)
    # tanh saturation in closed form: h_k = tanh(x_k W_in + b) exactly
    assert row["tanh_saturation"] == pytest.approx(np.mean(1 - np.abs(np.tanh(xs @ W_in + b))), rel=1e-12)
    assert row["gate_saturation"] is None and row["gate_mean"] is None


# ----------------------------------------------------------------------------- saturation
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu"])
def test_saturation_of_known_preactivations(activation, device):
    """With W_rec = 0 the pre-activations are a_k = x_k W_in + b whatever the leak; the units
    are tanh(a) (tanh cell) or 2 σ(a) - 1 (sigmoid cell), leaky or not."""
    rng = np.random.default_rng(7)
    T, B, n_in, N = 4, 5, 3, 4
    W_in, b = 2 * rng.standard_normal((n_in, N)), rng.standard_normal(N)
    xs = rng.standard_normal((T, B, n_in))
    a = xs @ W_in + b
    expected = {"tanh": np.mean(1 - np.abs(np.tanh(a))), "sigmoid": np.mean(1 - np.abs(2 * sigmoid(a) - 1)),
                "relu": None}[activation]
    for leak in (None, 0.3):
        cell = rnn.RNNCell(n_in, N, activation, init={"W_in": W_in, "W_rec": np.zeros((N, N)), "b": b}, leak=leak,
                           dtype="float64", device=device)
        x = tensor(xs, device)
        units, gates = D.activations(cell, x, rnn.unroll(cell, x))
        assert gates == {}
        if expected is None:
            assert units is None
        else:
            assert D._margin(units) == pytest.approx(expected, rel=1e-12)


def _numpy_gated(kind, arrays, xs):
    """Gate values and tanh units of an LSTM or GRU run forward in NumPy from its arrays."""
    T, B, _ = xs.shape
    N = arrays["W_h"].shape[0] if kind == "lstm" else arrays["U_z"].shape[0]
    h, c = np.zeros((B, N)), np.zeros((B, N))
    gates, units = {}, []
    for t in range(T):
        x = xs[t]
        if kind == "lstm":
            z = x @ arrays["W_x"] + h @ arrays["W_h"] + arrays["b"]
            i, f, o, g = (z[:, k * N:(k + 1) * N] for k in range(4))
            step = {"i": sigmoid(i), "f": sigmoid(f), "o": sigmoid(o)}
            c = step["f"] * c + step["i"] * np.tanh(g)
            h = step["o"] * np.tanh(c)
            units.append(np.tanh(c))
        else:
            z = sigmoid(x @ arrays["W_z"] + h @ arrays["U_z"] + arrays["b_z"])
            r = sigmoid(x @ arrays["W_r"] + h @ arrays["U_r"] + arrays["b_r"])
            n = np.tanh(x @ arrays["W_n"] + (r * h) @ arrays["U_n"] + arrays["b_n"])
            h = (1 - z) * n + z * h
            step = {"z": z, "r": r}
            units.append(n)
        for k, v in step.items():
            gates.setdefault(k, []).append(v)
    return {k: np.stack(v) for k, v in gates.items()}, np.stack(units)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_gate_saturation_against_numpy(kind, device):
    rng = np.random.default_rng(8)
    T, B, n_in, N, n_out = 6, 3, 3, 4, 2
    model = rnn.SequenceModel(n_in, N, n_out, cell=kind, seed=3, dtype="float64", device=device)
    state = model.state_dict()
    arrays = {k[len("layers.0."):]: 2.5 * v for k, v in state.items() if k.startswith("layers.0.")}   # some saturation
    model.load_state_dict({**state, **{f"layers.0.{k}": v for k, v in arrays.items()}})
    xs = rng.standard_normal((T, B, n_in))
    row = D.compute(model, tensor(xs, device), mg.tensor(rng.integers(0, n_out, B), device=device), lyapunov=False)
    gates, units = _numpy_gated(kind, arrays, xs)
    assert set(row["gate_saturation"]) == set(row["gate_mean"]) == set(gates) == ({"i", "f", "o"} if kind == "lstm"
                                                                                  else {"z", "r"})
    for k, g in gates.items():
        assert row["gate_saturation"][k] == pytest.approx(np.mean(1 - np.abs(2 * g - 1)), rel=1e-12)
        assert row["gate_mean"][k] == pytest.approx(np.mean(g), rel=1e-12)
    assert row["tanh_saturation"] == pytest.approx(np.mean(1 - np.abs(units)), rel=1e-12)
    assert 0.05 < min(row["gate_saturation"].values()) and max(row["gate_saturation"].values()) < 0.95


# ----------------------------------------------------------------------------- Lyapunov
def test_lyapunov_of_a_linear_cell_is_the_log_of_its_contraction(device):
    """A linear cell h_k = h_{k-1} W_rec + x_k W_in with W_rec = 0.5 Q (Q orthogonal): every
    one-step Jacobian has all singular values 0.5, so λ_1 = log 0.5; with W_rec = 0 the
    Jacobians vanish (λ_1 = -inf), logged as None."""
    rng = np.random.default_rng(9)
    N = 4
    Q, _ = np.linalg.qr(rng.standard_normal((N, N)))
    x = tensor(rng.standard_normal((12, 5, 2)), device)
    y = mg.tensor(rng.integers(0, 2, 5), device=device)
    model = model_with("rnn", 2, N, 2, device, activation="linear", W_rec=0.5 * Q)
    assert D.compute(model, x, y)["lyapunov"] == pytest.approx(math.log(0.5), rel=1e-10)
    dead = model_with("rnn", 2, N, 2, device, W_rec=np.zeros((N, N)))
    assert D.compute(dead, x, y)["lyapunov"] is None


# ----------------------------------------------------------------------------- in training
@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny run with diagnostics and the same run without them."""
    base = tmp_path_factory.mktemp("diag")
    trainers = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RunFiles, "plot", lambda self, force=False: None)         # grad_norms.png: not tested here
        for on in (True, False):
            t = Trainer(tiny(diagnostics=on))
            t.train(out=base / str(on), progress=False)
            trainers[on] = t
    return base, trainers


def test_training_logs_the_diagnostics_without_changing_the_run(runs):
    base, trainers = runs
    with_rows, without_rows = (RunFiles(base / str(on)).rows() for on in (True, False))
    assert len(with_rows) == len(without_rows) == 2
    for r in with_rows:
        assert set(D.KEYS) <= set(r)
        assert sum(r["grad_hist"]["counts"]) == 10 * 20            # T x batch_size (k, sequence) pairs
        assert 0 < r["tanh_saturation"] < 1 and r["gate_mean"] is None and r["lyapunov"] < 0
    for r in without_rows:
        assert not set(D.KEYS) & set(r)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in D.KEYS + ("wall_time",)} for r in rows]  # noqa: E731
    assert strip(with_rows) == strip(without_rows)
    for p, q in zip(trainers[True].params, trainers[False].params):
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    # the last row describes the weights of its evaluation (the checkpoint's)
    saved = Trainer.from_checkpoint(base / "True" / "checkpoint.npz")
    again = json.loads(json.dumps(saved.diagnostics()))
    assert again == {k: with_rows[-1][k] for k in D.KEYS}


def test_a_resumed_run_takes_the_diagnostics_setting_asked(runs, tmp_path, monkeypatch):
    import shutil

    from tasks.train import prepare_run
    monkeypatch.setattr(RunFiles, "plot", lambda self, force=False: None)
    base, _ = runs
    shutil.copytree(base / "True", tmp_path / "r")
    t = prepare_run(tmp_path / "r", tiny(max_updates=30, diagnostics=False), resume=True)
    t.train(out=tmp_path / "r", progress=False)
    rows = RunFiles(tmp_path / "r").rows()
    assert [r["update"] for r in rows] == [10, 20, 30] and ["grad_hist" in r for r in rows] == [True, True, False]


def test_packed_runs_log_the_diagnostics_of_runs_alone(tmp_path, monkeypatch):
    from tasks.packed import PackedTrainer
    monkeypatch.setattr(RunFiles, "plot", lambda self, force=False: None)
    configs = [tiny(seed=s, method="msgd-c") for s in (1, 2)]
    PackedTrainer.for_folders([tmp_path / f"p{s}" for s in (1, 2)], configs).train(
        [tmp_path / f"p{s}" for s in (1, 2)], progress=False)
    for s, c in zip((1, 2), configs):
        Trainer(c).train(out=tmp_path / f"a{s}", progress=False)
        packed, alone = RunFiles(tmp_path / f"p{s}").rows(), RunFiles(tmp_path / f"a{s}").rows()
        assert len(packed) == len(alone) == 2
        for p, a in zip(packed, alone):
            assert p["grad_hist"]["counts"] == a["grad_hist"]["counts"]
            for k in ("tanh_saturation", "lyapunov"):
                assert p[k] == pytest.approx(a[k], rel=1e-9)


# ----------------------------------------------------------------------------- the command
def _run(*argv):
    """The command as tasks/cli.py wires it (``set_defaults(run=...)``, dispatched by ``args.run``)."""
    p = argparse.ArgumentParser()
    D.add_arguments(p)
    p.set_defaults(run=D.cmd_diagnostics)
    args = p.parse_args(list(argv))
    return args.run(args)


def test_command_draws_the_three_pictures(runs, capsys):
    base, _ = runs
    assert _run(str(base / "True")) == 0
    out = base / "True" / "diagnostics"                                      # the default --out
    for name in ("grad_hist.png", "saturation.png", "lyapunov.png"):
        assert (out / name).stat().st_size > 5000
    assert "grad_hist.png" in capsys.readouterr().out


def test_pictures_of_a_gated_run(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    from viz import diagnostics as pictures
    monkeypatch.setattr(RunFiles, "plot", lambda self, force=False: None)
    t = Trainer(tiny(cell="lstm", hidden=4, max_updates=10, eval_every=5))
    t.train(out=tmp_path / "r", progress=False)
    rows = D.read_rows(tmp_path / "r")
    fig = pictures.saturation(rows)
    labels = [line.get_label() for ax in fig.axes for line in ax.lines]
    assert {"gate i", "gate f", "gate o"} <= set(labels) and any(label.startswith("tanh") for label in labels)
    plt.close(fig)
    fractions, edges = pictures.histogram_matrix(rows)
    assert fractions.shape == (58, 2) and np.allclose(fractions.sum(0), 1) and edges[1] == -24.0
    bad = [dict(rows[0]), dict(rows[1], grad_hist={**rows[1]["grad_hist"], "lo": -30.0})]
    with pytest.raises(ValueError, match="update 10: histogram bins differ"):
        pictures.histogram_matrix(bad)


def test_bad_input_gets_one_line(runs, tmp_path, capsys):
    from tasks.cli import _fail
    base, _ = runs
    (tmp_path / "empty").mkdir()
    cases = [
        ([str(tmp_path / "nowhere")], "no such run folder"),
        ([str(base / "True" / "log.jsonl")], "is a file: give a run folder, such as"),
        ([str(tmp_path / "empty")], "holds no log.jsonl"),
        ([str(base / "False")], "no evaluation row holds diagnostics.*--no-diagnostics"),
        ([str(base / "True"), "--out", str(base / "True" / "log.jsonl")], "--out .* is a file, not a folder"),
    ]
    for argv, message in cases:
        with pytest.raises(RunError, match=message) as e:
            _run(*argv)
        assert _fail(e.value) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("minigrad: error: ")


def test_state_gradient_norms_against_numpy_bptt(device):
    """A NumPy-only BPTT of a tanh RNN with a last-step softmax head (mean cross-entropy):
    δ_T = (softmax(o) - onehot) W_outᵀ / B, δ_k = (δ_{k+1} ⊙ (1 - h_{k+1}²)) W_recᵀ."""
    rng = np.random.default_rng(1)
    T, B, n_in, N, n_out = 7, 3, 2, 4, 3
    W = rng.standard_normal((N, N)) * 1.5 / np.sqrt(N)
    model = model_with("rnn", n_in, N, n_out, device, W_rec=W)
    state = model.state_dict()
    W_in, b = state["layers.0.W_in"], state["layers.0.b"]
    W_out, c = model.head.W_out.numpy(), model.head.c.numpy()
    xs, y = rng.standard_normal((T, B, n_in)), rng.integers(0, n_out, B)
    hs = [np.zeros((B, N))]
    for t in range(T):
        hs.append(np.tanh(hs[-1] @ W + xs[t] @ W_in + b))
    o = hs[-1] @ W_out + c
    p = np.exp(o - o.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    p[np.arange(B), y] -= 1
    delta = p @ W_out.T / B
    expected = [np.linalg.norm(delta, axis=1)]
    for k in range(T - 1, 0, -1):
        delta = (delta * (1 - hs[k + 1] ** 2)) @ W.T
        expected.append(np.linalg.norm(delta, axis=1))
    norms, _ = D.state_gradient_norms(model, tensor(xs, device), mg.tensor(y, device=device))
    np.testing.assert_allclose(norms, np.array(expected[::-1]), rtol=1e-12, atol=1e-300)
