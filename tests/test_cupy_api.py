"""Every array call the code makes exists in CuPy, with the keywords it is given.

No GPU is needed: the strict device notes each NumPy function, array method and generator
method it is asked for (``minigrad.strict.CALLS``), and ``tests/data/cupy_api.json`` is CuPy's
own list of names and keyword parameters, read off the installed package by
``tests/data/make_cupy_api.py``.  Together with the strict device's refusal of host
conversions, this is what can be proven about running on a GPU without one; the ``cuda`` runs
of the suite do the rest where a GPU is lent.
"""
import json
import pathlib

import numpy as np
import pytest

import minigrad as mg
import rnn
from minigrad import strict
from minigrad.strict import StrictArray
from tasks.cli import main

API = json.loads((pathlib.Path(__file__).parent / "data" / "cupy_api.json").read_text())


def not_in_cupy(calls):
    """The calls of ``calls`` (``(name, keywords)``) that CuPy would not take, with the reason."""
    problems = []
    for name, keywords in sorted(calls, key=lambda c: (c[0], c[1] or ())):
        kind, _, short = name.partition(".")
        if kind in ("ndarray", "Generator"):
            table, key, where = API[kind], short, f"cupy.{'random.' if kind == 'Generator' else ''}{kind}"
        else:
            table, key, where = API["functions"], name, "cupy"
        if key not in table:
            problems.append(f"{name}: {where} has no {key!r}")
            continue
        accepted = table[key]
        if keywords and isinstance(accepted, list):
            unknown = sorted(set(keywords) - set(accepted))
            if unknown:
                problems.append(f"{name}: CuPy's takes no keyword {', '.join(unknown)} (it takes {accepted})")
    return problems


def test_the_list_is_cupys_own():
    assert API["cupy_version"].split(".")[0] >= "13"
    assert {"tanh", "matmul", "linalg.solve", "linalg.svd", "random.default_rng"} <= API["functions"].keys()
    assert "linalg.vector_norm" not in API["functions"]                    # NumPy 2 has it
    assert API["functions"]["clip"] == ["a", "a_min", "a_max", "out"]     # NumPy 2 also takes min=, max=


def test_the_check_finds_calls_cupy_lacks():
    """The check can fail: calls NumPy takes and CuPy does not are reported."""
    xp = mg.get_backend("strict").xp
    before = set(strict.CALLS)
    strict.CALLS.clear()
    try:
        a = mg.get_backend("strict").asarray(np.eye(3))
        xp.linalg.vector_norm(a)
        xp.clip(a, min=0.0, max=1.0)
        a.sum(where=np.True_)
        xp.tanh(a)
        problems = not_in_cupy(strict.CALLS)
    finally:                                  # these wrong calls were made on purpose
        strict.CALLS.clear()
        strict.CALLS.update(before)
    assert any("linalg.vector_norm: cupy has no 'linalg.vector_norm'" in p for p in problems)
    assert any(p.startswith("clip: CuPy's takes no keyword max, min") for p in problems)
    assert any(p.startswith("ndarray.sum: CuPy's takes no keyword where") for p in problems)
    assert len(problems) == 3


def test_strict_arrays_offer_nothing_cupy_arrays_lack():
    """What StrictArray defines for itself (properties, operators) CuPy's ndarray has too, so
    code cannot lean on it (``a @= b`` is in place on NumPy, a new array on CuPy)."""
    machinery = {"__module__", "__doc__", "__slots__", "__init__", "__getattr__", "__hash__", "__repr__",
                 "__array__", "__array_ufunc__", "__array_function__", "__annotations__",
                 "__index__"}        # refused here; CuPy has none, so `range(a)` fails there as well
    own = [n for n in vars(StrictArray) if not n.startswith("_") or (n.startswith("__") and n not in machinery)]
    cupy_names = set(API["ndarray"]) | set(API["ndarray_dunders"])
    assert "__matmul__" in own and "mT" in own
    assert sorted(set(own) - cupy_names - {"_a"}) == []


def test_everything_the_project_does_on_a_device_is_in_cupy(tmp_path):
    """Train (traced and eager, clipping, Omega, varying lengths, the NaN fallback's check),
    evaluate, plot Jacobian chains, draw gated cells' graphs, LSTM/GRU models, the ESN's ridge solve,
    second-order derivatives: on the strict device, then check every call against CuPy's list.
    (Calls made by earlier tests of this session on the strict device are checked too.)"""
    out = tmp_path / "run"
    common = ["--hidden", "6", "--eval-every", "5", "--eval-size", "40", "--max-updates", "10",
              "--quiet", "--device", "strict"]
    assert main(["train", "temporal-order", "--length", "10", "--out", str(out)] + common) == 0
    assert main(["train", "addition", "--length", "10", "--max-length", "12", "--method", "msgd-c",
                 "--no-trace", "--out", str(tmp_path / "add")] + common) == 0
    assert main(["evaluate", str(out / "checkpoint.npz"), "--lengths", "10", "--size", "40",
                 "--device", "strict"]) == 0
    assert main(["jacobian", str(out / "checkpoint.npz"), "--length", "10", "--batch", "4",
                 "--out", str(tmp_path / "jac"), "--device", "strict"]) == 0
    for cell in ("lstm", "gru"):
        assert main(["graph", "--cell", cell, "--steps", "3", "--out", str(tmp_path / f"{cell}.dot"),
                     "--device", "strict"]) == 0

    device = "strict"
    for cell in ("lstm", "gru"):
        model = rnn.SequenceModel(3, 4, 2, cell=cell, device=device)
        x = mg.tensor(np.random.default_rng(0).normal(size=(5, 2, 3)), device=device)
        loss = model(x).sum()
        loss.backward()
    esn = rnn.ESN(1, units=20, seed=0, device=device)
    s = rnn.esn.mackey_glass(300)
    esn.fit(s[:-1, None], s[1:, None], washout=20)
    w = mg.tensor(np.ones(3), device=device, requires_grad=True)
    mg.hvp(lambda v: (v.tanh() ** 3).sum(), w, mg.ones(3, device=device))

    used = {name for name, _ in strict.CALLS}
    assert {"tanh", "matmul", "linalg.solve", "Generator.integers", "sqrt", "isfinite"} <= used
    assert not_in_cupy(strict.CALLS) == []


def test_calls_of_all_processes_are_checked_together(tmp_path):
    """With the suite spread over processes (pytest-xdist), conftest.py checks the union of every
    worker's strict-device calls at the end; the union is read right and a bad call fails it."""
    from conftest import strict_calls_problems
    (tmp_path / "gw0.json").write_text(json.dumps([["tanh", []], ["ndarray.sum", None]]))
    (tmp_path / "gw1.json").write_text(json.dumps([["tanh", []], ["clip", ["max", "min"]]]))
    n, problems = strict_calls_problems(tmp_path)
    assert n == 3 and len(problems) == 1 and problems[0].startswith("clip: CuPy's takes no keyword max, min")



def test_the_peer_ops_calls_are_in_cupy():
    """cummax / cummin, logcumsumexp (to second order), erfinv, dropout, rrelu's training mode,
    scatter, einsum diagonals and the index range checks, run on the strict device: every array
    call they make is one CuPy has (whatever ran before in this process)."""
    before = set(strict.CALLS)
    strict.CALLS.clear()
    try:
        device = "strict"
        x = mg.tensor(np.random.default_rng(0).normal(size=(3, 4)), device=device, requires_grad=True)
        v, i = mg.cummax(x, 1)
        loss = v.sum() + mg.cummin(x, 0).values.sum() + mg.erfinv(x.tanh() * 0.5).sum()
        loss = loss + mg.dropout(x, 0.3).sum() + mg.rrelu(x, training=True).sum()
        idx = mg.tensor([[0, 2, 1, 0]], device=device)
        loss = loss + x.scatter(0, idx, x[:1] * 2).sum() + mg.gather(x, 0, idx).sum() + mg.einsum("ii->i", x[:, :3]).sum()
        loss.backward()
        mg.hvp(lambda t: mg.logcumsumexp(t, 1).exp().sum(), x.detach(), mg.ones(3, 4, device=device))
        used = {name for name, _ in strict.CALLS}
        problems = not_in_cupy(strict.CALLS)
    finally:
        strict.CALLS.update(before)
    assert {"logaddexp", "moveaxis", "argsort", "copysign"} <= used
    assert problems == []


def test_the_conv_pool_and_nn_module_calls_are_in_cupy():
    """conv1d/conv2d (groups, dilation, 'same'), max pooling (NaN rule, return_indices, integer
    input), average pooling (count_include_pad, ceil_mode) and the nn modules (Conv2d with
    reflect padding, Embedding with padding_idx, LayerNorm, the losses), forward and backward
    on the strict device: every array call they make is one CuPy has."""
    from minigrad import conv, nn
    before = set(strict.CALLS)
    strict.CALLS.clear()
    try:
        device = "strict"
        rng = np.random.default_rng(0)
        x = mg.tensor(rng.normal(size=(2, 4, 6, 6)), device=device, requires_grad=True)
        w = mg.tensor(rng.normal(size=(4, 2, 3, 2)), device=device, requires_grad=True)
        loss = conv.conv2d(x, w, None, 1, "same", (2, 1), 2).sum() + conv.conv1d(x[:, :, 0], w[:, :, :, 0], padding=1, groups=2).sum()
        v, i = conv.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)
        loss = loss + v.sum() + conv.avg_pool2d(x, 3, 2, 1, True, False).sum() + conv.max_pool1d(x[:, :, 0], 2).sum()
        loss = loss + conv.avg_pool1d(x[:, :, 0], 3, 2, 1, True).sum()
        conv.max_pool2d(mg.tensor(np.arange(16).reshape(1, 1, 4, 4), device=device), 2)
        model = nn.Sequential(nn.Conv2d(4, 3, 3, padding=1, padding_mode="reflect", device=device), nn.GELU(),
                              nn.MaxPool2d(2), nn.Flatten(), nn.LayerNorm(27, device=device), nn.LogSoftmax(1))
        target = mg.tensor([1, 2], device=device)
        loss = loss + nn.NLLLoss()(model(x), target) + nn.CrossEntropyLoss(label_smoothing=0.1)(model(x), target)
        emb = nn.Embedding(5, 3, padding_idx=0, device=device)
        loss = loss + emb(mg.tensor([[0, 4], [4, 2]], device=device)).sum()
        loss.backward()
        used = {name for name, _ in strict.CALLS}
        problems = not_in_cupy(strict.CALLS)
    finally:
        strict.CALLS.update(before)
    assert {"take_along_axis", "isnan", "matmul"} <= used
    assert problems == []
