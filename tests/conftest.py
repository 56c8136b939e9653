"""Shared fixtures: every engine test runs on each device that exists here.

* "cpu"    NumPy,
* "strict" NumPy behind a wrapper that refuses implicit host conversion (as CuPy does), so
           GPU-safety is proven on machines without a GPU,
* "cuda"   CuPy on a real GPU, skipped (visibly, with the reason) where there is none.
"""
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import minigrad as mg

settings.register_profile("ci", max_examples=15, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=200, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

_CUDA_REASON = None
try:
    mg.get_backend("cuda")
except Exception as e:  # no CuPy, or no GPU
    _CUDA_REASON = "no CUDA device here (" + str(e).split(":")[0].split(",")[0] + ")"

DEVICES = ["cpu", "strict",
           pytest.param("cuda", marks=pytest.mark.skipif(_CUDA_REASON is not None, reason=_CUDA_REASON or ""))]


@pytest.fixture(params=DEVICES, scope="session")
def device(request):
    return request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def T(array, device, requires_grad=False, dtype=np.float64):
    """A tensor from host data on ``device``."""
    return mg.tensor(np.asarray(array, dtype=dtype), device=device, requires_grad=requires_grad)


def pytest_collection_modifyitems(items):
    """tests/test_cupy_api.py runs last: it checks every array call the whole run made on the
    strict device against CuPy's API, so the more that ran before it, the more it proves."""
    items.sort(key=lambda item: item.path.name == "test_cupy_api.py")


# ------------------------------------------------------------------ the CuPy check across processes
# With pytest-xdist the test files run in several processes, and tests/test_cupy_api.py sees only
# the strict-device calls of its own.  So each worker writes its calls to a folder the controller
# made, and the controller checks their union against CuPy's API once all have finished.
_CALLS_DIR = "MINIGRAD_STRICT_CALLS_DIR"


def pytest_configure(config):
    if not os.environ.get("PYTEST_XDIST_WORKER") and getattr(config.option, "numprocesses", None):
        os.environ[_CALLS_DIR] = tempfile.mkdtemp(prefix="minigrad-strict-calls-")   # workers inherit it


def strict_calls_problems(folder) -> tuple[int, list]:
    """(number of distinct calls, the ones CuPy would not take) over every worker's file in ``folder``."""
    calls = set()
    for path in sorted(Path(folder).glob("*.json")):
        calls |= {(name, None if keywords is None else tuple(keywords)) for name, keywords in json.loads(path.read_text())}
    if not calls:                                      # no test used the strict device
        return 0, []
    from test_cupy_api import not_in_cupy
    return len(calls), not_in_cupy(calls)


def pytest_sessionfinish(session, exitstatus):
    folder = os.environ.get(_CALLS_DIR)
    if not folder:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker:
        from minigrad import strict
        # the pid too: a pytest run started by a test inherits the worker's name and folder
        (Path(folder) / f"{worker}-{os.getpid()}.json").write_text(json.dumps(sorted(strict.CALLS, key=repr)))
        return
    n, problems = strict_calls_problems(folder)
    session.config._minigrad_cupy_check = (n, problems)
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    """One line per reason for the skipped tests, "N skipped: <reason>", instead of one line per
    test (pyproject's addopts ask pytest for failures and errors only, "-rfE").  pytest's own
    summary line ("N passed, M skipped in ...") still comes last."""
    counts = collections.Counter()
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        counts[reason.removeprefix("Skipped: ")] += 1
    if counts:
        terminalreporter.write_sep("-", "skipped, by reason")
        for reason, n in counts.most_common():
            terminalreporter.write_line(f"{n} skipped: {reason}")
    check = getattr(terminalreporter.config, "_minigrad_cupy_check", None)
    if check is not None:                              # the suite ran in several processes
        n, problems = check
        terminalreporter.write_sep("-", "strict-device calls of all processes against CuPy's API")
        terminalreporter.write_line(f"{n} distinct calls checked; {len(problems)} not in CuPy")
        for line in problems:
            terminalreporter.write_line("FAILED (CuPy API): " + line, red=True)


@pytest.fixture(autouse=True)
def _close_figures():
    """Close the figures a test left open (viz's plots return theirs to the caller), so that a
    worker running many tests does not hold dozens (matplotlib warns past 20)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")
