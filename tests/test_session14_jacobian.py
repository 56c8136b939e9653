"""rnn.JacobianChain takes only the cell that recorded the run, with the weights it had then.

The Jacobians are the cell's, evaluated at the run's states: another cell of the same shape, or
the same cell after an in-place change of its weights, would give the Jacobians of another map
(mixed, with a loss, with dE/ds_k of the recorded one).  Expected values: the vanilla cell's
closed form J_i = diag(φ'(a_i)) W_recᵀ and central differences in float64, both on the host.
"""
import numpy as np
import pytest

import minigrad as mg
import rnn
from minigrad.nn import Parameter


def _inputs(T=6, B=3, n=4, seed=0):
    return mg.tensor(np.random.default_rng(seed).standard_normal((T, B, n)), dtype=np.float64)


def _closed_form(cell, x, run):
    """diag(1 - tanh²(a_i)) W_recᵀ per step and sequence, from the cell's current weights, (T, B, N, N)."""
    W_in, W_rec, b = cell.W_in.numpy(), cell.W_rec.numpy(), cell.b.numpy()
    out = []
    for i in range(1, len(run) + 1):
        h_prev = run.states[i - 1].numpy()
        a = h_prev @ W_rec + x.numpy()[i - 1] @ W_in + b
        d = 1 - np.tanh(a) ** 2                                         # (B, N)
        out.append(d[:, :, None] * W_rec.T[None])
    return np.stack(out)


def _rnn(seed):
    return rnn.RNNCell(4, 5, "tanh", init="basic_tanh", seed=seed, dtype=np.float64)


def test_unroll_records_its_cell():
    cell, x = _rnn(0), _inputs()
    run = rnn.unroll(cell, x)
    assert run.cell is cell
    chain = rnn.JacobianChain(cell, x, run)
    np.testing.assert_allclose(chain.steps.numpy(), _closed_form(cell, x, run), rtol=1e-12, atol=1e-14)


def test_another_cell_of_the_same_shape_is_refused():
    mine, other, x = _rnn(0), _rnn(1), _inputs()
    run = rnn.unroll(mine, x)
    # the other cell's Jacobians at these states are another map's: they differ from the run's
    assert not np.allclose(_closed_form(other, x, run), _closed_form(mine, x, run))
    with pytest.raises(ValueError, match="recorded by another cell"):
        rnn.JacobianChain(other, x, run)


def test_another_layer_of_a_deep_model_is_refused():
    model = rnn.SequenceModel(5, 5, 2, layers=2, init="basic_tanh", dtype=np.float64, seed=3)
    x = mg.tensor(np.random.default_rng(1).standard_normal((5, 2, 5)))
    _, (first, second) = model.run(x)
    inner = mg.stack(first.hiddens[1:])                     # the second layer's inputs
    chain = rnn.JacobianChain(model.layers[1], inner, second)
    np.testing.assert_allclose(chain.steps.numpy(), _closed_form(model.layers[1], inner, second),
                               rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="recorded by another cell"):
        rnn.JacobianChain(model.cell, inner, second)        # the first layer: same shapes, another map


def _sgd_step(cell, run):
    (rnn.hidden_of(run.final) ** 2).sum().backward()
    mg.SGD(cell.parameters(), lr=0.5).step()


@pytest.mark.parametrize("change", ["optimizer step", "data assignment", "setitem", "new parameter"])
def test_weights_changed_since_the_run_are_refused(change):
    cell, x = _rnn(0), _inputs()
    run = rnn.unroll(cell, x)
    before = _closed_form(cell, x, run)
    if change == "optimizer step":
        _sgd_step(cell, run)
    elif change == "data assignment":
        cell.W_rec.data = cell.W_rec.data * 1.5
    elif change == "setitem":
        with mg.no_grad():
            cell.W_rec[0, 0] = 3.0
    else:
        cell.W_rec = Parameter(cell.W_rec.numpy() * 1.5, name="W_rec")
    assert not np.allclose(_closed_form(cell, x, run), before)       # now another map
    with pytest.raises(ValueError, match="weights changed since the run was recorded .*: unroll again"):
        rnn.JacobianChain(cell, x, run)
    run = rnn.unroll(cell, x)                                          # unrolled again: accepted
    np.testing.assert_allclose(rnn.JacobianChain(cell, x, run).steps.numpy(), _closed_form(cell, x, run),
                               rtol=1e-12, atol=1e-14)


def test_weights_changed_with_a_loss_are_refused_before_backward():
    cell, x = _rnn(0), _inputs()
    run = rnn.unroll(cell, x)
    loss = (rnn.hidden_of(run.final) ** 2).sum()
    cell.b.data = cell.b.data + 0.1
    with pytest.raises(ValueError, match="weights changed"):
        rnn.JacobianChain(cell, x, run, loss=loss)


def _lstm_jacobians_fd(cell, x, run, eps=1e-6):
    """∂s_i/∂s_{i-1} of the LSTM at the run's states by central differences, (T, B, 2N, 2N)."""
    N = cell.hidden
    out = []
    for i in range(1, len(run) + 1):
        h, c = (t.numpy() for t in run.states[i - 1])
        s = np.concatenate([h, c], axis=1)
        B, S = s.shape
        J = np.empty((B, S, S))
        for k in range(S):
            cols = []
            for sign in (1, -1):
                p = s.copy()
                p[:, k] += sign * eps
                with mg.no_grad():
                    h2, c2 = cell(x[i - 1], (mg.tensor(p[:, :N]), mg.tensor(p[:, N:])))
                cols.append(np.concatenate([h2.numpy(), c2.numpy()], axis=1))
            J[:, :, k] = (cols[0] - cols[1]) / (2 * eps)
        out.append(J)
    return np.stack(out)


def test_lstm_runs_are_checked_too():
    cell = rnn.LSTMCell(4, 3, seed=0, dtype=np.float64)
    other = rnn.LSTMCell(4, 3, seed=1, dtype=np.float64)
    x = _inputs(T=4, B=2)
    run = rnn.unroll(cell, x)
    assert isinstance(run.final, tuple) and run.cell is cell
    chain = rnn.JacobianChain(cell, x, run)
    np.testing.assert_allclose(chain.steps.numpy(), _lstm_jacobians_fd(cell, x, run), rtol=1e-6, atol=1e-8)
    with pytest.raises(ValueError, match="recorded by another cell"):
        rnn.JacobianChain(other, x, run)
    _sgd_step(cell, run)
    with pytest.raises(ValueError, match="weights changed"):
        rnn.JacobianChain(cell, x, run)


def test_a_run_made_by_hand_records_no_cell_and_takes_any():
    """rnn.dynamics builds Unrolled(states) itself: the caller answers for the cell, as before."""
    mine, other, x = _rnn(0), _rnn(1), _inputs()
    states = [s.detach() for s in rnn.unroll(mine, x).states]
    run = rnn.Unrolled(states)
    assert run.cell is None and run.weights is None
    chain = rnn.JacobianChain(other, x, run)
    np.testing.assert_allclose(chain.steps.numpy(), _closed_form(other, x, run), rtol=1e-12, atol=1e-14)
    J = rnn.dynamics.state_jacobians(other, states[2].numpy())     # Unrolled([s, s]) inside
    np.testing.assert_allclose(J, _closed_form(other, mg.zeros((1, 3, 4), dtype=np.float64),
                                               rnn.Unrolled([states[2], states[2]]))[0], rtol=1e-12, atol=1e-14)


def test_packed_runs_record_the_packed_cell():
    models = [rnn.SequenceModel(4, 5, 2, seed=s, dtype=np.float64) for s in range(3)]
    packed = rnn.stack_models(models)
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3, 2, 4)))
    run = rnn.unroll(packed.cell, x)
    assert run.cell is packed.cell and run.final.shape == (3, 2, 5)
    with pytest.raises(ValueError, match="packed models: inspect one at a time"):
        rnn.JacobianChain(packed.cell, x, run)


def test_weights_changed_by_a_traced_replay_are_refused_too():
    """The project trains with traced updates: a replay writes the weights in place without the
    Tensor methods, so the trace replays the version counts the traced call made; a run recorded
    before a replayed step is then refused as one before an eager step is (the review found the
    replay slipped through)."""
    cell = rnn.RNNCell(3, 4, seed=0)
    x = mg.tensor(np.random.default_rng(0).standard_normal((5, 2, 3)))
    params = list(cell.parameters())

    @mg.trace
    def step(params, x):
        run = rnn.unroll(cell, x)
        loss = (run.final * run.final).sum()
        loss.backward()
        with mg.no_grad():
            for p in params:
                p.data -= 0.01 * p.grad.data
                p.grad = None
        return loss

    step(params, x)                                   # traced
    run = rnn.unroll(cell, x)
    rnn.JacobianChain(cell, x, run)                   # current: accepted
    step(params, x)                                   # replayed
    assert step.programs == 1
    with pytest.raises(ValueError, match="weights changed since the run was recorded"):
        rnn.JacobianChain(cell, x, run)
