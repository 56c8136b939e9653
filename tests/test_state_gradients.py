"""dE/ds_k, the state gradient of an unrolled network, against independent recomputations.

dE/ds_k is the total derivative of the loss with respect to the state s_k as handed to step
k + 1 (s = h; (h, c) for an LSTM):

    dE/ds_k = dE/ds_{k+1} ∂s_{k+1}/∂s_k + ∂E/∂s_k        (∂E/∂s_k: the head reading h_k)

Checked three ways that do not use the hand-off nodes of ``rnn.unroll``: a fresh leaf state put
in place of s_k and steps k+1..T run from it; the backward recursion with the one-step
Jacobians of JacobianChain; central differences.  The gradient at the c_k node inside step k
(what state_gradients gave before) is shown to differ, so these tests can fail.
"""
import numpy as np
import pytest

import minigrad as mg
import rnn
import viz
from rnn import regularizer as R
from conftest import T

N_IN, N, N_OUT, B, STEPS = 3, 4, 3, 2, 5
HEAD_KINDS = ["last_softmax", "every_softmax", "last_linear"]


def setup(kind, head_kind, device, steps=STEPS, hidden=N, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "rnn":
        cell = rnn.RNNCell(N_IN, hidden, init="basic_tanh", seed=seed, device=device)
        cell.W_rec.data = cell.W_rec.data * 4
    else:
        cell = rnn.CELLS[kind](N_IN, hidden, seed=seed, device=device)
    head = rnn.Head(head_kind, hidden, N_OUT, W_out=rng.standard_normal((hidden, N_OUT)), device=device)
    x = T(rng.standard_normal((steps, B, N_IN)), device)
    if head_kind == "last_linear":
        y = T(rng.standard_normal((B, N_OUT)), device)
    else:
        shape = (steps, B) if head_kind == "every_softmax" else (B,)
        y = mg.tensor(rng.integers(0, N_OUT, shape), device=device)
    run = rnn.unroll(cell, x)
    loss = head.loss(head(run.hiddens[1:]), y)
    return cell, head, x, y, run, loss


def components(state):
    return list(state) if isinstance(state, tuple) else [state]


def flat(state):
    """A state (or a state gradient) as one (B, S) host array."""
    return np.concatenate([c.numpy() for c in components(state)], axis=1)


def loss_from(cell, head, x, y, run, k, state):
    """E as a function of a state put in place of s_k: steps k+1..T run from it (same inputs),
    the head reads h_k from it where it reads h_k; h_1..h_{k-1} are constants."""
    before = [h.detach() for h in run.hiddens[1:k]]
    later = rnn.unroll(cell, x[k:], state).hiddens[1:] if k < x.shape[0] else []
    return head.loss(head(before + [rnn.hidden_of(state)] + later), y)


def leaf_gradients(cell, head, x, y, run):
    """dE/ds_k for k = 1..T, each the gradient of loss_from at a fresh leaf s = s_k: (B, S) arrays."""
    out = []
    for k in range(1, len(run) + 1):
        leaves = [c.detach().requires_grad_() for c in components(run.states[k])]
        state = tuple(leaves) if isinstance(run.states[k], tuple) else leaves[0]
        got = mg.grad(loss_from(cell, head, x, y, run, k, state), leaves, allow_unused=True)
        out.append(np.concatenate([np.zeros(c.shape) if g is None else g.numpy() for g, c in zip(got, leaves)],
                                  axis=1))
    return out


def direct_terms(head, y, run):
    """∂E/∂s_k: the head's own read of h_k (zeros for an LSTM's c), (B, S) arrays."""
    hs = [h.detach().requires_grad_() for h in run.hiddens[1:]]
    got = mg.grad(head.loss(head(hs), y), hs, allow_unused=True)
    S = flat(run.states[1]).shape[1]
    return [np.concatenate([np.zeros((B, N)) if g is None else g.numpy(), np.zeros((B, S - N))], axis=1)
            for g in got]


def old_lstm_gradients(cell, head, x, y):
    """What state_gradients gave for an LSTM before the hand-off: the gradients at the h_k and
    c_k nodes that step k computes (c_k is also read by h_k inside the step), and the gates o_k."""
    state, states = cell.initial_state(B), []
    for t in range(x.shape[0]):
        state = cell(x[t], state)
        states.append(state)
    loss = head.loss(head([s[0] for s in states]), y)
    flat_nodes = [c for s in states for c in s]
    got = mg.grad(loss, flat_nodes, allow_unused=True)
    got = [np.zeros(c.shape) if g is None else g.numpy() for g, c in zip(got, flat_nodes)]
    return [np.concatenate(got[i:i + 2], axis=1) for i in range(0, len(got), 2)], states


@pytest.mark.parametrize("head_kind", HEAD_KINDS)
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_state_gradients_equal_the_gradient_at_a_fresh_state(kind, head_kind, device):
    cell, head, x, y, run, loss = setup(kind, head_kind, device)
    _, deltas = R.state_gradients(loss, run, cell.parameters())
    expected = leaf_gradients(cell, head, x, y, run)
    assert len(deltas) == STEPS
    for k in range(STEPS):
        assert isinstance(deltas[k], tuple) == (kind == "lstm")
        np.testing.assert_allclose(flat(deltas[k]), expected[k], rtol=1e-10, atol=1e-14)
    assert all(np.abs(e).max() > 1e-6 for e in expected[:-1])        # every step receives an error


@pytest.mark.parametrize("head_kind", ["last_softmax", "every_softmax"])
@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_chain_deltas_follow_the_backward_recursion(kind, head_kind, device):
    """dE/ds_k = dE/ds_{k+1} J_{k+1} + ∂E/∂s_k, with J from the cell evaluated on fresh states."""
    cell, head, x, y, run, loss = setup(kind, head_kind, device)
    chain = rnn.JacobianChain(cell, x, run, loss=loss)
    J, direct = chain.steps.numpy(), direct_terms(head, y, run)
    expected = [None] * STEPS
    expected[-1] = direct[-1]
    for k in range(STEPS - 1, 0, -1):                      # expected[k - 1] is dE/ds_k
        expected[k - 1] = np.einsum("bj,bjk->bk", expected[k], J[k]) + direct[k - 1]
    for k in range(STEPS):
        np.testing.assert_allclose(chain.deltas[k].numpy(), expected[k], rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(chain.grad_norms[k], np.linalg.norm(expected[k], axis=1), rtol=1e-10)
    if head_kind == "every_softmax":
        assert all(np.abs(d).max() > 0 for d in direct)   # the direct term is really exercised


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_state_gradients_against_central_differences(kind):
    cell, head, x, y, run, loss = setup(kind, "every_softmax", "cpu")
    _, deltas = R.state_gradients(loss, run)
    eps = 1e-6
    for k in range(1, STEPS + 1):
        s0 = flat(run.states[k])

        def E(s):
            state = (T(s[:, :N], "cpu"), T(s[:, N:], "cpu")) if kind == "lstm" else T(s, "cpu")
            with mg.no_grad():
                return loss_from(cell, head, x, y, run, k, state).item()

        fd = np.zeros_like(s0)
        for idx in np.ndindex(*s0.shape):
            e = np.zeros_like(s0)
            e[idx] = eps
            fd[idx] = (E(s0 + e) - E(s0 - e)) / (2 * eps)
        np.testing.assert_allclose(flat(deltas[k - 1]), fd, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("head_kind", ["last_softmax", "every_softmax"])
def test_the_c_node_gradient_is_not_the_state_gradient(head_kind, device):
    """The gradient at the c_k node of step k adds the path c_k -> h_k inside that step:
    old_c = dE/dc_k + dE/dh_k ⊙ o_k ⊙ (1 - tanh² c_k).  The checks above reject it."""
    cell, head, x, y, run, loss = setup("lstm", head_kind, device)
    _, deltas = R.state_gradients(loss, run)
    old, states = old_lstm_gradients(cell, head, x, y)
    expected = leaf_gradients(cell, head, x, y, run)
    Wx, Wh, b = cell.W_x.numpy(), cell.W_h.numpy(), cell.b.numpy()
    for k in range(1, STEPS + 1):
        new = flat(deltas[k - 1])
        np.testing.assert_allclose(old[k - 1][:, :N], new[:, :N], rtol=1e-10, atol=1e-14)   # dE/dh_k agrees
        h_prev = run.states[k - 1][0].numpy()
        o = 1 / (1 + np.exp(-(x[k - 1].numpy() @ Wx + h_prev @ Wh + b)[:, 2 * N:3 * N]))
        c = states[k - 1][1].numpy()
        np.testing.assert_allclose(old[k - 1][:, N:], new[:, N:] + new[:, :N] * o * (1 - np.tanh(c) ** 2),
                                   rtol=1e-10, atol=1e-14)
        assert not np.allclose(old[k - 1], expected[k - 1], rtol=1e-3, atol=0)
    old_c, new_c = np.stack([o[:, N:] for o in old]), np.stack([flat(d)[:, N:] for d in deltas])
    assert np.linalg.norm(old_c - new_c) > 0.05 * np.linalg.norm(new_c)


def numpy_omega(deltas, J, eps=1e-20):
    """Ω = mean over valid (k, b) of (||δ_k J_k||² / ||δ_k||² - 1)², from (B, S) arrays δ_k and
    the one-step Jacobians J (T, B, S, S)."""
    rs = []
    for k, d in enumerate(deltas):
        pushed = np.einsum("bj,bjk->bk", d, J[k])
        d2 = (d * d).sum(1)
        rs += [p / q for p, q in zip((pushed * pushed).sum(1), d2) if q >= eps]
    return np.mean((np.array(rs) - 1) ** 2)


@pytest.mark.parametrize("head_kind", ["last_softmax", "every_softmax"])
def test_lstm_omega_from_independent_state_gradients(head_kind, device):
    cell, head, x, y, run, loss = setup("lstm", head_kind, device, steps=8, hidden=5)
    _, deltas = R.state_gradients(loss, run, cell.parameters())
    omega = R.omega_generic(cell, x, run, deltas).item()
    J = rnn.JacobianChain(cell, x, run).steps.numpy()
    independent = leaf_gradients(cell, head, x, y, run)
    old, _ = old_lstm_gradients(cell, head, x, y)
    np.testing.assert_allclose(omega, numpy_omega(independent, J), rtol=1e-10)
    assert abs(numpy_omega(old, J) - omega) > 0.01 * omega       # the old deltas give another Ω


def test_hand_off_changes_no_value_and_no_parameter_gradient(device):
    """The identity hand-off leaves the states, the loss and the parameters' gradients as they were."""
    cell, head, x, y, run, loss = setup("lstm", "every_softmax", device)
    old_states = []
    state = cell.initial_state(B)
    for t in range(STEPS):
        state = cell(x[t], state)
        old_states.append(state)
    old_loss = head.loss(head([s[0] for s in old_states]), y)
    params = cell.parameters() + head.parameters()
    for a, b in zip(mg.grad(loss, params), mg.grad(old_loss, params)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-13, atol=1e-16)
    assert loss.item() == old_loss.item()
    for s, o in zip(run.states[1:], old_states):
        np.testing.assert_array_equal(flat(s), flat(o))


def test_hand_off_nodes_on_the_tape_and_in_the_drawing():
    """An LSTM's h and c leave each step through an identity node marked with the step and the
    component; single-tensor states (RNN, GRU) are handed on as they are."""
    for kind, handoffs in (("lstm", 2), ("gru", 0), ("rnn", 0)):
        cell = rnn.CELLS[kind](N_IN, N, seed=0)
        with mg.Tape() as tape:
            run = rnn.unroll(cell, T(np.ones((3, B, N_IN)), "cpu"))
            (rnn.hidden_of(run.final) ** 2).sum().backward()
        marked = [e for e in tape if e.marks and "handoff" in e.marks]
        assert len(marked) == 3 * handoffs and tape.ops().count("identity") == 3 * handoffs
        if kind == "lstm":
            assert [(e.op, e.step, e.marks["handoff"]) for e in marked[:2]] == [("identity", 0, "h"), ("identity", 0, "c")]
            dot = viz.draw(tape).source
            assert "c → t = 1" in dot and "h → t = 3" in dot and dot.count("shape=cds") == 6
            assert "identity" not in dot
            collapsed = viz.draw(tape, collapse=True, legend=False).source
            assert collapsed.count("step0 -> step1") == 1 and collapsed.count("step1 -> step2") == 1
