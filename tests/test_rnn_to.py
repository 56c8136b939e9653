"""``Module.to`` on every module of rnn/: after ``.to(np.float32)`` or ``.to(device)`` the whole
model (weights, and constants such as leak factors or an ESN's reservoir) is in the new dtype or
on the new device, and a forward pass runs there and computes what the float64 CPU model did.

The reference is the same model, untouched, in float64 on the CPU; the float32 results agree with
it to float32 accuracy, the moved float64 results exactly (strict is NumPy behind a wrapper)."""
import numpy as np
import pytest

import minigrad as mg
import rnn
from rnn import dynamics as dyn
from rnn.esn import mackey_glass

X = np.random.default_rng(0).standard_normal((4, 2, 3))          # (T, B, n_in)
SOURCE = np.array([[3, 4], [5, 2], [2, 0]])                      # (S, B), 0 = padding
TARGET_IN = np.array([[1, 1], [4, 3]])


def _x(dtype, device, array=X):
    return mg.tensor(array, dtype=dtype, device=device)


def _tokens(array, device):
    return mg.tensor(array, dtype=np.int64, device=device)


def _cell_run(make):
    def forward(m, dtype, device):
        run = rnn.unroll(m, _x(dtype, device))
        return [s for s in (run.final if isinstance(run.final, tuple) else (run.final,))]
    return make, forward


def _esn():
    s = mackey_glass(120)
    return rnn.ESN(1, units=12, lr=0.5, seed=0).fit(s[:-1, None], s[1:, None], washout=10)


def _packed():
    return rnn.stack_models([rnn.RNNCell(3, 5, "tanh", leak=leak, seed=s) for s, leak in ((0, 0.3), (1, 0.7))])


MODULES = {
    "RNNCell": _cell_run(lambda: rnn.RNNCell(3, 5, init="smart_tanh", seed=1)),
    "RNNCell(leak=0.5)": _cell_run(lambda: rnn.RNNCell(3, 5, init="smart_tanh", leak=0.5, seed=1)),
    "RNNCell(leak vector)": _cell_run(lambda: rnn.RNNCell(3, 5, "tanh", leak=[0.1, 0.2, 0.5, 1, 1], seed=1)),
    "LeakyRNNCell": _cell_run(lambda: rnn.LeakyRNNCell(3, 5, seed=1)),
    "LSTMCell": _cell_run(lambda: rnn.LSTMCell(3, 5, seed=1)),
    "GRUCell": _cell_run(lambda: rnn.GRUCell(3, 5, seed=1)),
    "SequenceModel(rnn, 2 layers)": (lambda: rnn.SequenceModel(3, 5, 2, layers=2, head="every_softmax", seed=1),
                                     lambda m, dtype, device: [m(_x(dtype, device))]),
    "SequenceModel(lstm)": (lambda: rnn.SequenceModel(3, 5, 2, cell="lstm", head="last_linear", seed=1),
                            lambda m, dtype, device: [m(_x(dtype, device))]),
    "SequenceModel(gru)": (lambda: rnn.SequenceModel(3, 5, 2, cell="gru", seed=1),
                           lambda m, dtype, device: [m(_x(dtype, device))]),
    "ESN": (_esn, lambda m, dtype, device: [m.predict(mackey_glass(120)[:30, None]),
                                            m.run(_x(dtype, device, X[..., :1]))]),
    "Embedding": (lambda: rnn.Embedding(6, 4, seed=1), lambda m, dtype, device: [m(_tokens(SOURCE, device))]),
    "Encoder(lstm, bidirectional)": (
        lambda: rnn.Encoder(6, 4, 5, cell="lstm", bidirectional=True, seed=1),
        lambda m, dtype, device: [m(_tokens(SOURCE, device), _tokens(SOURCE, device) != 0).annotations]),
    "Seq2Seq(gru, bidirectional)": (
        lambda: rnn.Seq2Seq(6, 5, embed=4, hidden=5, attention=4, bidirectional=True, seed=1),
        lambda m, dtype, device: [*m(_tokens(SOURCE, device), _tokens(TARGET_IN, device)),
                                  m.greedy(_tokens(SOURCE, device), 3)[1]]),
    "NTM(lstm)": (lambda: rnn.NTM(3, 2, memory_slots=4, memory_width=3, hidden=5, seed=1),
                  lambda m, dtype, device: [m(_x(dtype, device))[0]]),
    "NTM(feedforward)": (lambda: rnn.NTM(3, 2, memory_slots=4, memory_width=3, hidden=5, controller="feedforward",
                                         seed=1),
                         lambda m, dtype, device: [m(_x(dtype, device))[0]]),
    "stack_models(leaky RNNCells)": (
        _packed, lambda m, dtype, device: [rnn.unroll(m, _x(dtype, device, np.stack([X, 2 * X], axis=1))).final]),
    "dynamics of a leaky cell": (
        lambda: rnn.RNNCell(3, 5, init="smart_tanh", leak=0.5, seed=1),
        lambda m, dtype, device: [dyn.state_jacobians(m, np.full((1, 5), 0.1)), dyn.lyapunov_spectrum(m, X)]),
}


def _host(t):
    return t.numpy() if isinstance(t, mg.Tensor) else np.asarray(t)


def _check(name, dtype, device, exact):
    make, forward = MODULES[name]
    expected = [_host(t) for t in forward(make(), np.float64, "cpu")]
    model = make()
    moved = model.to(device, dtype)
    assert moved is model
    for pname, p in model.named_parameters():
        assert (p.dtype, p.device) == (dtype, device), f"{name}.{pname} is {p.dtype} on {p.device}"
    got = forward(model, dtype, device)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        if isinstance(g, mg.Tensor):                  # (dynamics hands back host arrays)
            assert g.device == device, f"{name}: an output is on {g.device}"
            assert g.dtype == dtype, f"{name}: an output is {g.dtype}"
        if exact:
            np.testing.assert_array_equal(_host(g), e)
        else:
            np.testing.assert_allclose(_host(g), e, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("name", list(MODULES))
def test_to_float32_then_forward(name):
    _check(name, np.dtype(np.float32), "cpu", exact=False)


@pytest.mark.parametrize("name", list(MODULES))
def test_to_device_then_forward(name, device):
    _check(name, np.dtype(np.float64), device, exact=device != "cuda")


def test_leak_factors_are_saved_but_not_trained():
    cell = rnn.RNNCell(3, 4, "tanh", leak=[0.1, 0.2, 0.3, 0.4], seed=0)
    assert not cell.leak.requires_grad
    other = rnn.RNNCell(3, 4, "tanh", leak=1.0, seed=0)
    other.load_state_dict(cell.state_dict())
    np.testing.assert_array_equal(other.leak.numpy(), [0.1, 0.2, 0.3, 0.4])
    packed = _packed()
    assert packed.leak.shape == (2, 1, 5) and not packed.leak.requires_grad
    np.testing.assert_array_equal(packed.leak.numpy()[:, 0, 0], [0.3, 0.7])
