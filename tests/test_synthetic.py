"""Every encoding rule of PAPER.md's synthetic tasks, checked on generated data."""
import numpy as np
import pytest

import minigrad as mg
from tasks import Sampler, get_task


def gen(name, length, size=500, device="cpu", seed=0, **kw):
    b = Sampler(name, length, device=device, seed=seed, **kw).batch(size)
    return b.inputs.numpy(), b.targets.numpy(), b.length


def symbols_of(x):
    assert np.all(x.sum(-1) == 1), "one-hot: exactly one channel per step"
    return x.argmax(-1)                                     # (l, B)


@pytest.mark.parametrize("length", [20, 57, 200])
def test_temporal_order(length, device):
    x, y, l = gen("temporal_order", length, device=device)
    s = symbols_of(x)
    assert x.shape == (length, 500, 6) and y.shape == (500,)
    tenth = int(0.1 * length)
    for b in range(500):
        marks = np.flatnonzero(s[:, b] < 2)
        assert len(marks) == 2
        assert tenth <= marks[0] < 2 * tenth
        assert int(0.5 * length) <= marks[1] < int(0.5 * length) + tenth
        v0, v1 = s[marks, b]
        assert y[b] == v0 + 2 * v1
        assert set(np.delete(s[:, b], marks)) <= {2, 3, 4, 5}
    assert set(y) == {0, 1, 2, 3}


def test_temporal_order_3bit(device):
    x, y, l = gen("temporal_order_3bit", 100, device=device)
    s = symbols_of(x)
    for b in range(500):
        marks = np.flatnonzero(s[:, b] < 2)
        assert len(marks) == 3
        assert 10 <= marks[0] < 20 and 30 <= marks[1] < 40 and 60 <= marks[2] < 70
        v = s[marks, b]
        assert y[b] == v[0] + 2 * v[1] + 4 * v[2]
    assert set(y) == set(range(8))


@pytest.mark.parametrize("name", ["addition", "multiplication"])
def test_arithmetic(name, device):
    sampler = Sampler(name, 50, device=device, seed=1)
    lengths = set()
    for _ in range(30):
        b = sampler.batch(200)
        x, y, l = b.inputs.numpy(), b.targets.numpy(), b.length
        lengths.add(l)
        assert 50 <= l < 55 and x.shape == (l, 200, 2) and y.shape == (200, 1)
        values, markers = x[..., 0], x[..., 1]
        assert np.all((values >= 0) & (values < 1))
        tenth = int(0.1 * l)
        for bi in range(200):
            p = np.flatnonzero(markers[:, bi])
            assert len(p) == 2 and 0 <= p[0] < tenth and tenth <= p[1] < tenth + int(0.4 * l)
            a, c = values[p, bi]
            expected = (a + c) / 2 if name == "addition" else a * c
            assert np.isclose(y[bi, 0], expected)
    assert len(lengths) > 1                       # the length jitters from minibatch to minibatch


def test_permutation(device):
    x, y, l = gen("permutation", 30, size=200, device=device)
    s = symbols_of(x)
    assert x.shape == (30, 200, 100)
    assert np.all(s[0] == y) and set(y) == {0, 1}
    assert s[1:].min() >= 2 and s[1:].max() <= 99


@pytest.mark.parametrize("name,K,P", [("memorization", 2, 5), ("memorization_extended", 5, 10)])
def test_memorization(name, K, P, device):
    T = 50
    x, y, l = gen(name, T, size=100, device=device)
    s = symbols_of(x)
    assert x.shape == (T + 2 * P, 100, K + 2) and y.shape == (T + 2 * P, 100)
    assert s[:P].max() < K                                  # the pattern
    assert np.all(s[P:T + P] == K) and np.all(s[T + P] == K + 1) and np.all(s[T + P + 1:] == K)
    assert np.all(y[:T + P] == K)                           # "nothing" until step T + P - 1
    np.testing.assert_array_equal(y[T + P:], s[:P])         # then the pattern, in order


def test_variable_length_per_minibatch(device):
    sampler = Sampler("temporal_order", 50, max_length=200, device=device, seed=3)
    lengths = [sampler.batch(4).length for _ in range(200)]
    assert min(lengths) >= 50 and max(lengths) < 200 and len(set(lengths)) > 50


def test_seeded_and_on_the_device(device):
    a = gen("temporal_order", 30, size=20, device=device, seed=5)
    b = gen("temporal_order", 30, size=20, device=device, seed=5)
    c = gen("temporal_order", 30, size=20, device=device, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    batch = Sampler("addition", 20, device=device).batch(3)
    assert batch.inputs.device == batch.targets.device == mg.tensor([0.0], device=device).device


def test_float32_inputs(device):
    b = Sampler("temporal_order", 20, device=device, dtype=np.float32).batch(3)
    assert b.inputs.dtype == np.float32 and b.targets.dtype == np.int64


def test_success_criteria(device):
    order = get_task("temporal_order")
    logits = mg.tensor([[5.0, 0, 0, 0], [0, 5.0, 0, 0]], device=device)
    assert order.wrong(logits, mg.tensor([0, 2], device=device)).numpy().tolist() == [False, True]
    add = get_task("addition")
    pred = mg.tensor([[0.5], [0.5]], device=device)
    assert add.wrong(pred, mg.tensor([[0.69], [0.71]], device=device)).numpy().tolist() == [False, True]
    mem = get_task("memorization")
    out = np.zeros((3, 2, 3))
    out[:, :, 2] = 1                                        # says "nothing" everywhere
    tgt = np.array([[2, 2], [2, 2], [2, 0]])                # sequence 1 wanted a 0 at the end
    assert mem.wrong(mg.tensor(out, device=device), mg.tensor(tgt, device=device)).numpy().tolist() == [False, True]


def test_bad_input():
    with pytest.raises(ValueError, match="unknown task 'xor'.*temporal_order"):
        get_task("xor")
    with pytest.raises(ValueError, match="at least 10"):
        Sampler("temporal_order", 5)
    with pytest.raises(ValueError, match=r"must exceed the min length.*\[min, max\)"):
        Sampler("temporal_order", 50, max_length=50)
    assert get_task("temporal-order").name == "temporal_order"


def test_arithmetic_length_jitter_everywhere_the_authors_code_applies_it():
    """PAPER.md: l = T + U{0..floor(0.1 T)-1} for every minibatch of addition and multiplication,
    in fixed- and variable-length training and in testing alike; other tasks keep their length."""
    fixed = Sampler("addition", 100, seed=0)
    variable = Sampler("multiplication", 50, 60, seed=1)
    test = Sampler("addition", 50, seed=2)
    got_fixed = {fixed.batch(2).inputs.shape[0] for _ in range(60)}
    got_variable = {variable.batch(2).inputs.shape[0] for _ in range(200)}
    got_test = {test.batch(2, 200).inputs.shape[0] for _ in range(80)}
    assert got_fixed <= set(range(100, 110)) and len(got_fixed) > 5
    assert got_variable <= set(range(50, 65)) and max(got_variable) > 59       # 59 + up to 5
    assert got_test <= set(range(200, 220)) and len(got_test) > 10 and min(got_test) == 200
    order = Sampler("temporal_order", 50, seed=3)
    assert {order.batch(2, 120).inputs.shape[0] for _ in range(10)} == {120}


# ----------------------------------------------------------------------------- the same data, faster
# What NumPy draws for a seed is the reference here: NumPy's own calls, written out.
from tasks import synthetic  # noqa: E402

# sha256 of the batches below as generated by commit e9d0dca (before the pack's data path):
# every run must keep seeing the same data for the same (task, seed, update).
DATA_DIGEST = "8d7b925d9ca1cc06aa03c2a939a83aec363955c1f3ed62db8a277cfb6d4f773c"


def test_the_data_of_every_seed_and_update_is_what_it_was():
    import hashlib
    h = hashlib.sha256()
    for task, T in [("temporal_order", 20), ("temporal_order", 100), ("temporal_order_3bit", 60), ("permutation", 30),
                    ("memorization", 10), ("addition", 50)]:
        for seed in (0, 7):
            for u in (0, 1, 999):
                for dtype in ("float64", "float32"):
                    b = Sampler(task, T, seed=(seed, 0, u), dtype=dtype).batch(20)
                    h.update(b.inputs.numpy().tobytes())
                    h.update(b.targets.numpy().tobytes())
    assert h.hexdigest() == DATA_DIGEST


def separate_calls(rng, size, length, bits):
    """Temporal order's draws as separate NumPy calls: distractors, then position and value per bit."""
    span = max(int(0.1 * length), 1)
    out = [rng.integers(2, 6, (length, size)).ravel()]
    for _ in range(bits):
        out += [rng.integers(0, span, size), rng.integers(0, 2, size)]
    return np.concatenate(out)


@pytest.mark.parametrize("bits", [2, 3])
def test_one_call_with_bounds_per_element_draws_what_separate_calls_draw(bits):
    task = synthetic.TemporalOrder(bits)
    for length in (10, 15, 19, 20, 50, 57, 100, 201):
        for size in (1, 3, 20):
            for seed in range(5):
                a, b = np.random.default_rng(seed), np.random.default_rng(seed)
                np.testing.assert_array_equal(synthetic._draw_all(a, task._bounds(size, length)),
                                              separate_calls(b, size, length, bits))
                assert a.bit_generator.state == b.bit_generator.state


def test_seed_sequence_words_are_numpys():
    rng = np.random.default_rng(0)
    for k in (1, 3, 4, 6):
        entropy = rng.integers(0, 2**32, (40, k), dtype=np.uint64)
        entropy[:3] = rng.integers(0, 4, (3, k))
        for n in (1, 8):
            expected = [np.random.SeedSequence([int(v) for v in row]).generate_state(n) for row in entropy]
            np.testing.assert_array_equal(synthetic.seed_sequence_words(entropy, n), expected)
    with pytest.raises(ValueError, match="below 2\\*\\*32"):
        synthetic.seed_sequence_words([[2**32]], 1)


def test_pcg64_states_are_where_default_rng_starts():
    keys = [(s, stream, u) for s in (0, 1, 2**32 - 1) for stream in (0, 1, 3) for u in (0, 1, 64, 199999)]
    for key, state in zip(keys, synthetic.pcg64_states(keys)):
        assert state == np.random.default_rng(synthetic.seed_value(key)).bit_generator.state, key


def stream_state(rng):
    """What a generator will draw next: PCG64's state and the 32-bit word it keeps, if any."""
    rng = getattr(rng, "_g", rng)                               # the strict device's wrapper
    if not hasattr(rng, "bit_generator"):
        return None
    st = rng.bit_generator.state
    return st["state"], st.get("has_uint32"), st.get("uinteger") if st.get("has_uint32") else None


STACKED = [("temporal_order", 20), ("temporal_order", 15), ("temporal_order", 100), ("temporal_order_3bit", 30),
           ("permutation", 12), ("memorization", 5), ("addition", 20)]


@pytest.mark.parametrize("name,length", STACKED)
@pytest.mark.parametrize("size", [20, 3])
def test_stacked_batches_are_each_runs_batches_stacked(name, length, size, device):
    """Runs 0, 2, 3 draw (run 1 does not: zeros); three batches in a row from the same
    generators, as an evaluation draws them, each equal bit for bit to the run's own batch
    (``Task.batch`` from a generator of the same seed: what its Sampler draws at that length)."""
    task = get_task(name)
    backend = mg.get_backend(device)
    keys = {0: (0, 1, 5), 2: (7, 1, 5), 3: (7, 3, 0)}
    rngs = [backend.rng(synthetic.seed_value(keys[s])) if s in keys else None for s in range(4)]
    refs = {s: backend.rng(synthetic.seed_value(keys[s])) for s in keys}
    every = task.head == "every_softmax"
    for _ in range(3):
        got = task.stacked_batch(size, length, rngs, device=device, dtype="float32")
        x, y = got.inputs.numpy(), got.targets.numpy()
        for s in range(4):
            xs, ys = x[:, s], (y[:, s] if every else y[s])
            if s not in keys:
                assert not xs.any() and not ys.any()
                continue
            ref = task.batch(size, length, refs[s], device=device, dtype="float32")
            assert xs.dtype == ref.inputs.numpy().dtype and ys.dtype == ref.targets.numpy().dtype
            np.testing.assert_array_equal(xs, ref.inputs.numpy())
            np.testing.assert_array_equal(ys, ref.targets.numpy())
            assert stream_state(rngs[s]) == stream_state(refs[s])       # the generators go on alike


def test_a_rejected_word_is_drawn_by_numpy_itself(monkeypatch):
    """Lemire's method rejects a word with probability 6 / 2**32 at T = 100: made certain here
    (every word rejected), the run is rewound and drawn by NumPy, and its stream goes on as
    NumPy's would."""
    task = get_task("temporal_order")
    takes, n, scale, threshold = task._lemire(20, 100)
    monkeypatch.setitem(task._lemire_cache, (20, 100), (takes, n, scale, np.full_like(threshold, 2**32)))
    rngs = [np.random.default_rng(11), np.random.default_rng(12)]
    refs = [np.random.default_rng(11), np.random.default_rng(12)]
    for _ in range(2):
        x = task.stacked_batch(20, 100, rngs).inputs.numpy()
        for s in range(2):
            np.testing.assert_array_equal(x[:, s], task.batch(20, 100, refs[s]).inputs.numpy())
