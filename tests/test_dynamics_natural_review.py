"""Independent review of the dynamical-systems view (rnn/dynamics.py, tasks/dynamics.py), the
Echo State Network (rnn/esn.py) and the natural tasks (tasks/music.py, tasks/charlm.py,
tasks/natural.py): closed forms and NumPy references written from the definitions, and the
defects this review found (each test below the "defects" line failed on the code before it)."""
import argparse
import math

import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import dynamics as dyn
from tasks.train import RunError


def _cell(W, activation, n_in=1, device=None):
    W = np.atleast_2d(np.asarray(W, dtype=float))
    N = W.shape[0]
    return rnn.RNNCell(n_in, N, activation, init={"W_in": np.zeros((n_in, N)), "W_rec": W, "b": np.zeros(N)},
                       dtype="float64", device=device)


def _tanh_fixed_point(w: float) -> float:
    """The positive fixed point of h -> tanh(w h) (w > 1), by bisection on tanh(w h) - h."""
    lo, hi = 1e-9, 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.tanh(w * mid) > mid else (lo, mid)
    return 0.5 * (lo + hi)


# ----------------------------------------------------------------------------- Lyapunov exponents
def test_linear_map_exponents_are_log_abs_eigenvalues_with_multiplicity(device):
    """h -> h W: the exponents are log |eigenvalues of W|, a complex pair counted twice; a
    non-normal W (one step stretches by its singular value 10, not its eigenvalues) too."""
    rng = np.random.default_rng(1)
    W = rng.standard_normal((5, 5)) / math.sqrt(5)
    want = np.sort(np.log(np.abs(np.linalg.eigvals(W))))[::-1]
    got = dyn.lyapunov_spectrum(_cell(W, "linear", device=device), np.zeros((2000, 1, 1)),
                                h0=rng.standard_normal((1, 5)), discard=100)
    np.testing.assert_allclose(got, want, atol=5e-4)
    upper = np.array([[0.5, 10.0], [0.0, 0.25]])
    got = dyn.lyapunov_spectrum(_cell(upper, "linear", device=device), np.zeros((400, 1, 1)), h0=np.ones((1, 2)),
                                discard=50)
    np.testing.assert_allclose(got, np.log([0.5, 0.25]), atol=1e-6)


@pytest.mark.parametrize("w", [0.5, 2.0, 3.0])
def test_one_unit_tanh_exponent_at_its_fixed_point(w, device):
    """h -> tanh(w h) started on its stable fixed point h*: λ = log |w (1 - h*²)| (h* = 0 for
    w < 1), by QR and by the perturbation simulation."""
    h = _tanh_fixed_point(w) if w > 1 else 0.0
    want = math.log(abs(w * (1 - h * h)))
    cell = _cell([[w]], "tanh", device=device)
    x = np.zeros((300, 1, 1))
    assert dyn.largest_lyapunov_exponent(cell, x, h0=[[h]]) == pytest.approx(want, abs=1e-9)
    assert dyn.perturbation_exponent(cell, x, h0=[[h]]) == pytest.approx(want, abs=1e-6)


def test_two_dimensional_tanh_system_and_the_sum_rule():
    """diag(2, 0.5) tanh map at its fixed point (h*, 0): exponents log 0.5 and log 2(1 - h*²);
    a driven 6-unit tanh RNN: the exponents sum to the mean log |det J| along the trajectory,
    and the spectrum matches a NumPy QR iteration written here."""
    h = _tanh_fixed_point(2.0)
    got = dyn.lyapunov_spectrum(_cell(np.diag([2.0, 0.5]), "tanh"), np.zeros((600, 1, 1)), h0=[[h, 0.0]], discard=100)
    np.testing.assert_allclose(got, [math.log(0.5), math.log(2 * (1 - h * h))], atol=1e-6)
    rng = np.random.default_rng(2)
    N, T = 6, 400
    W, W_in = rng.standard_normal((N, N)) * 1.5 / math.sqrt(N), rng.standard_normal((2, N))
    cell = rnn.RNNCell(2, N, "tanh", init={"W_in": W_in, "W_rec": W, "b": np.zeros(N)}, dtype="float64")
    u = rng.standard_normal((T, 3, 2))
    got = dyn.lyapunov_run(cell, u, discard=100)
    hs, logdet, acc = np.zeros((3, N)), [], np.zeros((3, N))
    Q = np.broadcast_to(np.linalg.qr(rng.standard_normal((N, N)))[0], (3, N, N)).copy()
    for t in range(T):
        hs = np.tanh(hs @ W + u[t] @ W_in)
        J = (1 - hs ** 2)[:, :, None] * W.T[None]                     # column form diag(φ') W_recᵀ
        logdet.append(np.log(np.abs(np.linalg.det(J))))
        Q, R = np.linalg.qr(J @ Q)
        if t >= 100:
            acc += np.log(np.abs(np.diagonal(R, axis1=1, axis2=2)))
    assert got.per_sequence.sum(axis=1) == pytest.approx(np.mean(logdet[100:], axis=0), abs=1e-9)
    np.testing.assert_allclose(got.exponents, (acc / (T - 100)).mean(0), atol=2e-3)


def test_fixed_points_of_tanh_w_h_and_their_stability(device):
    """tanh(2h) has three fixed points: 0 (unstable, J = 2) and ±h* (stable, J = 2(1 - h*²))."""
    found = dyn.find_fixed_points(_cell([[2.0]], "tanh", device=device), np.linspace(-2, 2, 21)[:, None], steps=300)
    fixed = np.flatnonzero(found.fixed)
    order = fixed[np.argsort(found.points[fixed, 0])]
    h = _tanh_fixed_point(2.0)
    np.testing.assert_allclose(found.points[order, 0], [-h, 0.0, h], atol=1e-10)
    np.testing.assert_allclose(found.eigenvalues[order, 0].real, [2 * (1 - h * h), 2.0, 2 * (1 - h * h)], atol=1e-9)
    assert list(found.stable[order]) == [True, False, True]


def test_one_unit_sigmoid_numbers_against_brute_force():
    """w = 5: saddle-nodes where the number of fixed points of w σ(x) + b - x changes over b, and
    at b = -2.5 over w; the error cliff at w = (x0 - b)/σ(x0)."""
    sig = lambda x: 1 / (1 + np.exp(-x))                                              # noqa: E731
    x = np.linspace(-15, 15, 20001) + 1e-4 * math.pi              # off the round numbers: no root on the grid

    def count(w, b):
        g = w * sig(x) + b - x
        return int((np.sign(g[1:]) != np.sign(g[:-1])).sum())

    bs = np.linspace(-2.8, -2.2, 601)
    n = np.array([count(5.0, b) for b in bs])
    changes = bs[1:][n[1:] != n[:-1]]
    np.testing.assert_allclose(dyn.one_unit_saddle_nodes(5.0)[:, 0], changes, atol=1.5e-3)
    ws = np.linspace(4.6, 5.8, 1201)
    n = np.array([count(w, -2.5) for w in ws])
    changes = ws[1:][n[1:] != n[:-1]]
    np.testing.assert_allclose(dyn.one_unit_folds_in_w(-2.5)[:, 0], changes, atol=1.5e-3)
    assert dyn.one_unit_basin_boundary_w(0.5, -2.5) == pytest.approx(3.0 / sig(0.5), rel=1e-14)


# ----------------------------------------------------------------------------- the ESN
def test_esn_reservoir_leak_and_ridge_readout_against_numpy(device):
    """Spectral radius as asked; x_t = (1 - a) x_{t-1} + a tanh(u_t W_in + x_{t-1} W + b); the
    readout is the closed-form ridge solution over the steps after the washout."""
    for rho in (0.5, 1.3):
        esn = rnn.ESN(2, units=50, spectral_radius=rho, connectivity=0.05, seed=3, device=device)
        assert np.max(np.abs(np.linalg.eigvals(esn.W.numpy()))) == pytest.approx(rho, rel=1e-6)
    esn = rnn.ESN(2, units=20, spectral_radius=0.9, lr=0.3, bias_scaling=0.5, ridge=0.1, seed=1,
                  dtype="float64", device=device)
    W, W_in, b = esn.W.numpy(), esn.W_in.numpy(), esn.b.numpy()
    rng = np.random.default_rng(0)
    u, y = rng.standard_normal((30, 3, 2)), rng.standard_normal((30, 3, 2))
    x, states = np.zeros((3, 20)), []
    for t in range(30):
        x = 0.7 * x + 0.3 * np.tanh(u[t] @ W_in + x @ W + b)
        states.append(x)
    states = np.array(states)
    np.testing.assert_allclose(esn.run(u).numpy(), states, atol=1e-13)
    esn.fit(u, y, washout=5)
    X = np.hstack([np.ones((75, 1)), states[5:].reshape(-1, 20)])
    want = np.linalg.solve(X.T @ X + 0.1 * np.eye(21), X.T @ y[5:].reshape(-1, 2))
    np.testing.assert_allclose(esn.W_out.numpy(), want, atol=1e-10)
    np.testing.assert_allclose(esn.predict(u).numpy(), (np.concatenate([np.ones((30, 3, 1)), states], -1) @ want),
                               atol=1e-10)


# ----------------------------------------------------------------------------- defects found
@pytest.mark.parametrize("units,connectivity,seed", [(5, 0.1, 0), (50, 0.01, 0), (50, 0.01, 2)])
def test_small_or_sparse_esn_is_made_not_refused_as_nilpotent(units, connectivity, seed):
    """ESN(1, units=5) with the default connectivity failed (seed 0): its sparse draw was
    nilpotent, "cannot rescale a matrix whose spectral radius is 0"."""
    esn = rnn.ESN(1, units=units, connectivity=connectivity, spectral_radius=0.9, seed=seed)
    assert np.max(np.abs(np.linalg.eigvals(esn.W.numpy()))) == pytest.approx(0.9, rel=1e-6)


def test_esn_keeps_the_reservoir_of_a_seed_that_worked():
    """The redraw happens only for a nilpotent draw: ESN(2, 100 units, seed 1) is the matrix
    the first draw gives (rng: N(0,1) entries, then the mask), as before."""
    rng = np.random.default_rng(1)
    W = rng.standard_normal((100, 100)) * (rng.random((100, 100)) < 0.1)
    W *= 0.9 / np.max(np.abs(np.linalg.eigvals(W)))
    W_in = rng.uniform(-1, 1, (2, 100))
    esn = rnn.ESN(2, units=100, seed=1, dtype="float64")
    np.testing.assert_allclose(esn.W.numpy(), W, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(esn.W_in.numpy(), W_in)


@pytest.mark.parametrize("washout,message", [(-3, "washout must be an integer in 0..29"),
                                             (30, "washout must be an integer in 0..29"),
                                             (2.5, "washout must be an integer")])
def test_esn_washout_outside_the_run_is_refused(washout, message):
    """A negative washout silently fitted the last |washout| steps only; washout >= T failed in
    a reshape."""
    esn = rnn.ESN(1, units=10, seed=0)
    u = np.random.default_rng(0).standard_normal((30, 1))
    for fit in (esn.fit, esn.fit_gradient):
        with pytest.raises(ValueError, match=message):
            fit(u, u, washout=washout)


def test_esn_bad_arguments_say_what_is_wrong():
    u = np.zeros((30, 1))
    esn = rnn.ESN(1, units=10, seed=0)
    with pytest.raises(ValueError, match=r"one row per input step.*got \(20, 1\)"):
        esn.fit(u, np.zeros((20, 1)))
    with pytest.raises(ValueError, match=r"state must have shape \(1, 10\)"):
        esn.run(u, state=np.zeros((1, 9)))
    np.testing.assert_allclose(esn.run(u, state=np.ones((1, 10))).numpy(),
                               esn.run(u, state=mg.ones((1, 10), dtype=esn.W.dtype)).numpy())
    for kwargs, message in (({"units": 0}, "units must be a positive integer"),
                            ({"spectral_radius": float("nan")}, "spectral_radius must be a finite number"),
                            ({"input_scaling": float("inf")}, "input_scaling must be a finite number")):
        with pytest.raises(ValueError, match=message):
            rnn.ESN(1, **kwargs)
    esn = rnn.ESN(1, units=10, ridge=0.0, seed=0)
    with pytest.raises(ValueError, match="singular.*use ridge > 0"):
        esn.fit(np.zeros((5, 1)), np.zeros((5, 1)))


def test_basin_boundary_where_sigma_of_x0_underflows():
    """x0 = -800: σ(x0) = 0 in float64, and the closed form divided by it (ZeroDivisionError,
    a traceback from `minigrad dynamics --cliff-x0=-800`)."""
    assert math.isnan(dyn.one_unit_basin_boundary_w(-800.0, -2.5))


def _command(argv):
    from tasks import dynamics as td
    p = argparse.ArgumentParser()
    td.add_arguments(p)
    return td.cmd_dynamics(p.parse_args(argv))


@pytest.mark.parametrize("argv,message", [
    (["--what", "bifurcation", "--cliff-x0=-800"], r"--cliff-x0 must be within ±20"),
    (["--what", "bifurcation", "--cliff-b=-1e300"], r"--cliff-b must be within ±20"),
    (["--what", "bifurcation", "--w", "1e300"], r"--w must be within ±1e\+06"),
    (["--what", "lyapunov", "--max-radius", "inf"], "--max-radius must be at most 1000"),
])
def test_dynamics_extreme_numbers_are_one_line_errors(argv, message, tmp_path, monkeypatch):
    """--cliff-x0=-800 ended in a ZeroDivisionError traceback, --w 1e300 printed saddle-nodes at
    b = -inf, inf, and --max-radius inf drew NaN curves without a word."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RunError, match=message) as e:
        _command(argv)
    assert "\n" not in str(e.value) and not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- the natural tasks
def _sigmoid(a):
    return 1 / (1 + np.exp(-a))


def test_piano_roll_nll_is_bernoulli_nll_summed_over_keys_mean_over_steps(device):
    """NLL per step = -Σ_k [z log p + (1 - z) log(1 - p)] (natural log), averaged over the
    steps that are not padding, with p = σ(logit): written out with NumPy."""
    from tasks import natural
    rng = np.random.default_rng(4)
    logits, z = rng.standard_normal((7, 3, 88)) * 3, rng.integers(0, 2, (7, 3, 88)).astype(float)
    z[5:, 1] = -1                                                    # padding: not counted
    p = _sigmoid(logits)
    per_step = -(np.where(z > 0, np.log(p), np.log(1 - p))).sum(-1)   # (7, 3)
    real = z[..., 0] >= 0
    want = per_step[real].mean()
    got = natural.piano_roll_nll(mg.tensor(logits, device=device), mg.tensor(z, device=device)).item()
    assert got == pytest.approx(want, rel=1e-12)


def _char_model(seed=0):
    from tasks.natural import NaturalModel
    return NaturalModel(70, 5, 70, "chars_summed", 2, bias=False, std=0.5, seed=seed, dtype="float64")


def _bits_ahead(model, codes, count, ahead):
    """Bits per character of predicting character t + ahead from characters 0..t of each of
    ``count`` streams, each read from a zero state (NumPy)."""
    W_in, W, W_out = model.cell.W_in.numpy(), model.cell.W_rec.numpy(), model.head.W_out.numpy()
    n, nats, chars = len(codes) // count, 0.0, 0
    for s in range(count):
        seq, h = codes[s * n:(s + 1) * n], np.zeros(5)
        for t in range(len(seq) - ahead):
            h = _sigmoid(h @ W + W_in[seq[t]])
            y = h @ W_out
            nats += np.log(np.exp(y - y.max()).sum()) + y.max() - y[seq[t + ahead]]
            chars += 1
    return nats / chars / math.log(2)


@pytest.mark.parametrize("ahead", [1, 5])
def test_char_data_ahead_against_numpy(ahead):
    """Table 1's second PTB row predicts the 5th character ahead; --ahead K gives it: batches
    whose targets are the inputs K steps later, segments that continue one another, and bits
    per character over every predicted character (no off-by-one: K = 1 is the next one)."""
    from tasks import charlm
    rng = np.random.default_rng(1)
    text = charlm.encode("".join(rng.choice(list("abc de.\n"), 1500)))
    data = charlm.CharData({"train": text, "valid": text, "test": text}, segment=7, ahead=ahead)
    streams = charlm.streams(text, 3)
    per = data.updates_per_epoch(3)
    assert per == (500 - ahead) // 7
    for i in (0, 1, per - 1):
        x, y, reset = data.batch(i, 3, seed=0)
        np.testing.assert_array_equal(x.argmax(-1), streams[:, 7 * i:7 * i + 7].T)
        np.testing.assert_array_equal(y, streams[:, 7 * i + ahead:7 * i + 7 + ahead].T)
        assert reset == (i == 0)
    model = _char_model()
    for limit in (0, 500):
        codes = text[:limit or len(text)]
        count = min(charlm.EVAL_STREAMS, len(codes) // (7 + ahead))
        assert data.evaluate(model, "valid", limit) == pytest.approx(_bits_ahead(model, codes, count, ahead),
                                                                     rel=1e-12)


def test_charlm_ahead_5_prints_the_paper_s_5th_character_row(tmp_path, monkeypatch, capsys):
    from tasks import charlm, natural
    monkeypatch.setattr(natural.NaturalTrainer, "plot", lambda *a, **k: None)     # matplotlib: seconds
    rng = np.random.default_rng(0)
    text = charlm.encode("".join(rng.choice(list("abc de.\n"), 3000)))
    monkeypatch.setattr(charlm, "load_corpus", lambda cache=None: {"train": text, "valid": text[:600],
                                                                   "test": text[600:1200]})
    p = argparse.ArgumentParser()
    charlm.add_arguments(p)
    argv = ["--ahead", "5", "--methods", "msgd", "msgd-c", "--hidden", "4", "--batch-size", "2", "--segment", "20",
            "--max-updates", "1", "--eval-every", "1", "--no-trace", "--quiet", "--out", str(tmp_path / "o")]
    assert charlm.cmd_charlm(p.parse_args(argv)) == 0
    out = capsys.readouterr().out
    assert "PTB 5th char ahead" in out and "3.76 / 3.89" in out and "predicting the character 5 ahead" in out
    assert [line.split()[4] for line in out.splitlines() if line.startswith("msgd ")] == ["-"]
    with pytest.raises(RunError, match="--ahead must be a positive integer"):
        charlm.cmd_charlm(p.parse_args(argv[:0] + ["--ahead", "0", "--out", str(tmp_path / "p")]))


def test_music_step_below_a_256th_note_is_refused_before_parsing(tmp_path, monkeypatch):
    """--step 1e-9 parsed the chorales and then asked for a 5 TiB piano roll."""
    from tasks import music
    monkeypatch.setattr(music, "_corpus", lambda: pytest.fail("parsed before refusing the step"))
    p = argparse.ArgumentParser()
    music.add_arguments(p)
    with pytest.raises(RunError, match=r"--step must be at least 0.015625 quarter notes") as e:
        music.cmd_music(p.parse_args(["--step", "1e-9", "--chorales", "3", "--out", str(tmp_path / "o")]))
    assert "\n" not in str(e.value)
    with pytest.raises(RunError, match="--step must be at least"):
        music.load_chorales(1e-9, names=["bach/bwv66.6"], cache=tmp_path / "cache", progress=False)


def test_piano_roll_of_a_written_score_quantized_chords_ties_and_range():
    """A score built here, sampled every 0.5 quarter: a note sounds on [onset, onset + length),
    a chord is multi-hot, a tied note sounds throughout, a rest is silent, C8 (MIDI 108) is key 87,
    C#8 (off the piano) is dropped, and a part that is not a voice (a violin) is left out."""
    pytest.importorskip("music21")
    from music21 import chord, note, stream, tie

    from tasks import music
    score, voice, violin = stream.Score(), stream.Part(), stream.Part()
    voice.partName, violin.partName = "Soprano", "Violin 1"
    tied = [note.Note("A4", quarterLength=1.0), note.Note("A4", quarterLength=0.5)]
    tied[0].tie, tied[1].tie = tie.Tie("start"), tie.Tie("stop")
    for element in [note.Note("C4", quarterLength=1.0), chord.Chord(["E4", "G4"], quarterLength=0.5),
                    note.Rest(quarterLength=0.5), *tied, note.Note("C8", quarterLength=0.5),
                    note.Note("C#8", quarterLength=0.5)]:
        voice.append(element)
    violin.append(note.Note("B2", quarterLength=5.0))
    score.insert(0, voice)
    score.insert(0, violin)
    midi = [[60], [60], [64, 67], [], [69], [69], [69], [108]]          # C#8 at 4.0: off the piano
    want = np.zeros((len(midi), 88), np.uint8)
    for t, notes in enumerate(midi):
        want[t, [m - 21 for m in notes]] = 1
    np.testing.assert_array_equal(music.piano_roll(score, 0.5), want)
