"""``minigrad sweep``: many training runs ("cells") over a grid of settings, run on Dask
distributed, and the success-rate table behind the paper's Figure 7.

A cell is one (init or cell type, method, length, seed) of the grid.  Its identity is its whole
configuration -- every TrainConfig field, the device and dtype it resolves to, and a hash of the
training code (``code_version``) -- hashed into a key; it lives in ``OUT/cells/<name>-<key[:12]>/``
(the run folder: checkpoint.npz, log.jsonl, ...; ``cell.json``: its identity; ``result.json``:
its outcome, written atomically, with the key and the config).  A result is reused only when its
key matches exactly, so a sweep with other settings gets new cells and never shows old ones.

Outcomes: "success", "budget" (max updates without success), "diverged at update N".  A cell
that is stopped (Ctrl-C, SIGTERM, a worker killed or lost) is not an outcome: it resumes from
its checkpoint when it runs again.  Nor is an error ("error: <one line>": the training raised, a
full disk, a worker that died every time): it is reported (sweep.csv, ``counted`` False), never
stored nor counted in the table, and the cell runs again next time.  A result.json is trusted only
when its config and code hash to its key and its outcome agrees with its other fields.  See
docs/sweep.md.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import uuid
from dataclasses import asdict
from functools import lru_cache
from pathlib import Path

from .runfiles import atomic_write, blas_info, check_out_folder
from .train import ALL_METHODS, INIT_CHOICES, METHODS, RunError, RunState, TrainConfig, diverged, prepare_run

DESCRIPTION = ("Train one run (a cell) per (init or cell, method, length, seed) on Dask distributed "
               "-- a local cluster with one worker process per core, or an existing cluster "
               "(--scheduler) -- and print the success-rate table behind the paper's Figure 7. "
               "Each cell is stored under OUT/cells/ by a hash of its whole configuration and of "
               "the training code: a sweep run again reuses exactly the cells whose settings "
               "match, and resumes the interrupted ones from their checkpoints.  OUT/sweep.csv and "
               "OUT/figure7.png are refreshed as cells finish.  Ctrl-C stops the sweep, "
               "checkpointing the running cells.  See docs/sweep.md.")

KEY_FORMAT = 1
ROOT = Path(__file__).resolve().parent.parent
CODE_SOURCES = ("tasks/train.py", "tasks/packed.py", "tasks/synthetic.py", "rnn", "minigrad")   # what a result depends on
STOP_POLL_S = 0.2           # a cell looks at its stop flag at most this often
REPORT_S = 1.0              # and reports its update count to the client this often
STOP_GRACE_S = 60.0
RATE_WINDOW_S = 60.0        # updates per second: over the last minute         # how long Ctrl-C waits for the running cells to checkpoint
LOG = "minigrad sweep"


def add_arguments(p):
    p.add_argument("--task", default="temporal-order", help="(default temporal-order)")
    p.add_argument("--lengths", type=int, nargs="+", default=[20, 50, 100], help="(default 20 50 100)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4], help="(default 0 1 2 3 4)")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=ALL_METHODS,
                   help=f"(default {' '.join(METHODS)})")
    p.add_argument("--inits", nargs="+", default=None,
                   help="default: sigmoid basic-tanh smart-tanh on temporal order (Figure 7), else the "
                        "task's preset init")
    p.add_argument("--cells", nargs="+", default=["rnn"], choices=["rnn", "lstm", "gru"],
                   help="rnn: one row per --inits; lstm, gru: one row each (their own init)")
    p.add_argument("--hidden", type=int, default=None, help="default: the task's preset (train --help)")
    p.add_argument("--lr", type=float, default=None, help="default: the task's preset")
    p.add_argument("--clip", type=float, default=None, help="default: the task's preset")
    p.add_argument("--alpha", type=float, default=None, help="default: the task's preset")
    p.add_argument("--batch-size", type=int, default=20, help="sequences per update (default 20, the paper's)")
    p.add_argument("--eval-every", type=int, default=500, help="(default 500)")
    p.add_argument("--eval-size", type=int, default=10_000, help="(default 10,000)")
    p.add_argument("--target-error", type=float, default=0.01, help="(default 0.01)")
    p.add_argument("--max-updates", type=int, default=50_000, help="budget of each cell (default 50,000)")
    p.add_argument("--device", default=None)
    p.add_argument("--dtype", default=None, help="float32 or float64 (default: the task's preset, float32 as "
                   "the paper trained)")
    p.add_argument("--out", default="runs/sweep")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes of the local Dask cluster (default: one per core)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="run on an existing Dask cluster (e.g. tcp://host:8786) instead of a local "
                        "one; OUT must be on a filesystem that every worker shares")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="SECONDS",
                   help="how long to try to reach --scheduler (default 10)")
    p.add_argument("--pack", type=int, default=None, metavar="S",
                   help="train up to S seeds of one grid point as one computation (tasks.packed: each "
                        "cell is still its own run, with its own folder and result); default: all the "
                        "seeds of a point; 1: every cell alone (a pack of one: a cell's numbers are the "
                        "same bit for bit whatever its pack, see docs/sweep.md).  Settings that cannot "
                        "pack (the arithmetic tasks' jitter, Omega on gated cells) run alone whatever "
                        "this says")
    p.add_argument("--dry-run", action="store_true",
                   help="print the grid, how many cells it has and how many are done, and an "
                        "estimate of the time it needs; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress line")


# ----------------------------------------------------------------------------- one sweep per OUT
LOCK_FILE = "sweep.lock"
HEARTBEAT_S = 10.0          # a running sweep rewrites its lock this often
STALE_AFTER_S = 120.0       # a lock of another host whose heartbeat is older is taken over


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True             # someone else's process: alive
    return True


def _when(t) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(t)))
    except (TypeError, ValueError, OverflowError):
        return "an unknown time"


class OutLock:
    """``OUT/sweep.lock``: one sweep at a time per OUT.  Two sweeps into one folder would each
    train every cell they share -- two writers of one run folder: duplicated log rows, a
    gradient-norm file longer than its updates.  The lock names the host, the pid, the start
    and a heartbeat (rewritten every HEARTBEAT_S by a thread while the sweep runs).  An unreadable
    lock is stale too: a lock appears whole (a hard link to a file written first).

    A lock is stale, and taken over with a note, when its process is gone: on this host, its pid
    is not alive; on another host (a shared filesystem: a pid there cannot be looked at from
    here), its heartbeat is older than STALE_AFTER_S by this machine's clock (so the hosts'
    clocks must agree within that margin).  Otherwise the sweep is refused in one line.  Taken
    atomically: linked in only where no lock is, and a stale lock is renamed away first, which
    only one of two sweeps taking it over at once can do."""

    def __init__(self, out: Path):
        self.path = Path(out) / LOCK_FILE
        self.token = uuid.uuid4().hex
        self.note = None
        self._stop = threading.Event()
        self._thread = None

    def _content(self, started) -> bytes:
        return json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "started": started,
                           "heartbeat": time.time(), "token": self.token}).encode()

    @staticmethod
    def holder(out: Path):
        """(lock content, why it is stale or None) of the lock in ``out``; (None, None) without one."""
        try:
            lock = json.loads((Path(out) / LOCK_FILE).read_text())
            if not isinstance(lock, dict):
                raise ValueError
        except FileNotFoundError:
            return None, None
        except (OSError, ValueError):
            return {}, "unreadable"
        if lock.get("host") == socket.gethostname():
            if not _pid_alive(lock.get("pid")):
                return lock, f"its process (pid {lock.get('pid')}) is gone"
            return lock, None
        try:
            age = time.time() - float(lock.get("heartbeat"))
        except (TypeError, ValueError):
            return lock, "it has no heartbeat"
        if age > STALE_AFTER_S:
            return lock, f"its heartbeat is {age:.0f} s old (over {STALE_AFTER_S:.0f} s)"
        return lock, None

    def acquire(self):
        started = time.time()
        for _ in range(5):
            tmp = self.path.with_name(f".{LOCK_FILE}.{self.token[:8]}.tmp")
            tmp.write_bytes(self._content(started))
            try:                                 # a hard link appears whole, and only if no lock is there
                try:
                    os.link(tmp, self.path)
                except FileExistsError:
                    raise
                except OSError:                  # a filesystem without hard links: created exclusively
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                    with os.fdopen(fd, "wb") as f:
                        f.write(self._content(started))
            except FileExistsError:
                lock, stale = self.holder(self.path.parent)
                if lock is None:
                    continue                                   # released meanwhile
                if stale is None:
                    raise RunError(in_use_message(self.path.parent, lock))
                aside = self.path.with_name(f"{LOCK_FILE}.stale-{self.token[:8]}")
                try:                                           # only one taker can rename it
                    os.rename(self.path, aside)
                except FileNotFoundError:
                    continue
                try:
                    moved = json.loads(aside.read_text())
                except (OSError, ValueError):
                    moved = {}
                if lock and moved != lock:                     # another taker's fresh lock: put it back
                    try:
                        os.link(aside, self.path)
                    except OSError:
                        pass
                    aside.unlink(missing_ok=True)
                    continue
                aside.unlink(missing_ok=True)
                tmp.unlink(missing_ok=True)
                self.note = (f"took over the lock of a sweep that ended without releasing it (host "
                             f"{lock.get('host', '?')}, pid {lock.get('pid', '?')}, since "
                             f"{_when(lock.get('started'))}: {stale}); its cells resume from their checkpoints")
                continue
            finally:
                tmp.unlink(missing_ok=True)
            break
        else:
            raise RunError(f"could not take the lock {self.path}: another sweep keeps taking it; try again")
        self._thread = threading.Thread(target=self._beat, args=(started,), daemon=True, name="sweep-lock")
        self._thread.start()
        return self

    def _beat(self, started):
        while not self._stop.wait(HEARTBEAT_S):
            if self._ours():
                try:
                    atomic_write(self.path, self._content(started))
                except OSError:
                    pass

    def _ours(self) -> bool:
        try:
            return json.loads(self.path.read_text()).get("token") == self.token
        except (OSError, ValueError, AttributeError):
            return False

    def release(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._ours():
            try:
                self.path.unlink(missing_ok=True)
            except OSError:         # OUT went read-only, ...: the lock is stale once this process ends,
                pass                # and the error to report is the one that ended the sweep

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def in_use_message(out, lock) -> str:
    return (f"{out} is in use by a sweep running on {lock.get('host', '?')}, pid {lock.get('pid', '?')} since "
            f"{_when(lock.get('started'))}; wait for it or use another --out (two sweeps into one folder "
            f"would both train the cells they share; if no sweep runs there, remove {Path(out) / LOCK_FILE})")


# ----------------------------------------------------------------------------- cell identity
@lru_cache(maxsize=None)
def code_version() -> str:
    """A hash of the source of the training loop, the tasks, the models and the engine: a result
    is reused only by the code that produced it."""
    h = hashlib.sha256()
    for source in CODE_SOURCES:
        path = ROOT / source
        for f in (sorted(path.rglob("*.py")) if path.is_dir() else [path]):
            h.update(f.relative_to(ROOT).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def resolved_dtype(config: dict) -> str:
    """The dtype a cell trains in: its config's, else its device's default (float64 on the CPU)."""
    import numpy as np

    import minigrad as mg
    return config["dtype"] or np.dtype(mg.get_backend(config["device"]).default_float).name


def cell_key(config: dict, code: str) -> str:
    """The identity of a cell: its whole (validated) configuration, the dtype it resolves to,
    and the code version, hashed."""
    ident = {"format": KEY_FORMAT, "config": config, "code": code, "dtype": resolved_dtype(config)}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


def _label(cell: str, init: str) -> str:
    return init if cell == "rnn" else cell


FIGURE7_INITS = ["sigmoid", "basic-tanh", "smart-tanh"]


def resolve_presets(args):
    """Fill the settings not given (None) from the task's preset (TrainConfig.for_task), in
    ``args`` itself, so that the cells, the dry run and the table all show the values used."""
    base = TrainConfig.for_task(args.task, hidden=args.hidden, lr=args.lr, clip=args.clip, alpha=args.alpha,
                                dtype=args.dtype)
    args.hidden, args.lr, args.clip, args.alpha, args.dtype = base.hidden, base.lr, base.clip, base.alpha, base.dtype
    if args.inits is None:
        args.inits = FIGURE7_INITS if base.task == "temporal_order" else [base.init.replace("_", "-")]
    return args


def plan_cells(args, code: str | None = None):
    """The rows of the table and every cell of the grid, in table order."""
    import minigrad as mg
    resolve_presets(args)
    for init in args.inits:
        if init not in INIT_CHOICES:
            raise RunError(f"unknown init {init!r}: choose one of {', '.join(INIT_CHOICES)}")
    device = mg.get_backend(args.device).device        # resolved here: the key names the device
    code = code or code_version()
    rows = [("rnn", init) for init in args.inits if "rnn" in args.cells]
    rows += [(cell, "smart-tanh") for cell in args.cells if cell != "rnn"]
    cells_dir = Path(args.out).resolve() / "cells"          # absolute: workers may run elsewhere
    cells = []
    for cell, init in rows:
        for method in args.methods:
            for length in args.lengths:
                for seed in args.seeds:
                    config = TrainConfig(task=args.task, length=length, method=method, init=init.replace("-", "_"),
                                         cell=cell, hidden=args.hidden, lr=args.lr, clip=args.clip, alpha=args.alpha,
                                         batch_size=args.batch_size, eval_every=args.eval_every, eval_size=args.eval_size,
                                         max_updates=args.max_updates, target_error=args.target_error,
                                         seed=seed, device=device, dtype=args.dtype).validate()
                    config = asdict(config)
                    key = cell_key(config, code)
                    name = f"{_label(cell, init)}-{method}-T{length}-s{seed}"
                    cells.append({"key": key, "name": name, "label": _label(cell, init), "method": method,
                                  "length": length, "seed": seed, "config": config, "code": code,
                                  "folder": str(cells_dir / f"{name}-{key[:12]}")})
    return rows, cells


def read_result(folder, key):
    """(result, problem): the stored outcome of the cell in ``folder`` if it is there, readable
    and of this very key; otherwise None and, for a file that is there but unusable, one line."""
    path = Path(folder) / "result.json"
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None, None
    except OSError as e:
        return None, f"{path} cannot be read ({e.strerror}): the cell runs again from its checkpoint"
    try:
        result = json.loads(text)
        if not isinstance(result, dict) or not isinstance(result.get("outcome"), str):
            raise ValueError("no outcome")
    except ValueError:
        return None, f"{path} is unreadable (torn or damaged): the cell runs again from its checkpoint"
    if result.get("key") != key:
        return None, f"{path} belongs to another configuration: the cell runs again from its checkpoint"
    if result["outcome"].startswith("error"):                  # stored by an earlier version of the sweep
        return None, (f"{path} holds an error of an earlier sweep ({result['outcome'][:100]}), not a result: the "
                      f"cell runs again from its checkpoint")
    damage = _result_damage(result, key)
    if damage:
        return None, f"{path} is damaged ({damage}): the cell runs again from its checkpoint"
    return result, None


def _result_damage(result: dict, key: str) -> str | None:
    """What makes a result.json of ``key`` untrustworthy (a hand edit, a damaged disk), or None:
    its config and code must hash to its key; its outcome must be one a run ends with (an error
    never is a result) and agree with its success flag, its update count and its errors."""
    config, code = result.get("config"), result.get("code")
    try:
        if not isinstance(config, dict) or cell_key(config, code) != key:
            return "its config and code do not hash to its key"
    except Exception:
        return "its config and code do not hash to its key"
    outcome, updates, budget = result["outcome"], result.get("updates"), config.get("max_updates")
    if not (outcome in ("success", "budget") or outcome.startswith("diverged at update ")):
        return f"outcome {outcome[:60]!r} is not a result"
    if result.get("success") is not (outcome == "success"):
        return f"success {result.get('success')!r} contradicts outcome {outcome!r}"
    if not (isinstance(updates, int) and not isinstance(updates, bool) and isinstance(budget, int)
            and 0 <= updates <= budget):
        return f"updates {updates!r} is not a count within the budget of {budget!r}"
    if outcome == "budget" and updates != budget:
        return f"outcome budget at update {updates}, not at the budget of {budget}"
    if outcome.startswith("diverged at update "):
        named = outcome[len("diverged at update "):].split(":", 1)[0]
        if not (named.isdigit() and int(named) == updates):
            return f"outcome {outcome[:60]!r} at update {updates}, not at the update it names"
    last = result.get("last_error")
    if outcome == "success" and not (isinstance(last, (int, float)) and not isinstance(last, bool)
                                     and 0 <= last <= config.get("target_error", 0)):
        return f"outcome success with a last error of {last!r} (target {config.get('target_error')})"
    return None


def other_plans(out, cells) -> str | None:
    """One line on the cells in ``out`` of this plan's grid points (same init or cell, method,
    length, seed) but of other settings -- another budget, evaluation size, dtype, code version
    ...: a sweep never reuses or extends them (its cells start from update 0), and keeps them.
    None when there are none."""
    mine = {c["name"]: c for c in cells}
    keys = {c["key"] for c in cells}
    finished = unfinished = 0
    diffs = {}
    for ident_path in sorted((Path(out) / "cells").glob("*/cell.json")):
        try:
            ident = json.loads(ident_path.read_text())
            name, key, config = ident["name"], ident["key"], ident["config"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if name not in mine or key in keys or not isinstance(config, dict):
            continue
        plan = mine[name]
        if (ident_path.parent / "result.json").exists():
            finished += 1
        else:
            unfinished += 1
        theirs, ours = [], []
        for field in sorted(set(config) | set(plan["config"])):
            if config.get(field) != plan["config"].get(field):
                theirs.append(f"{field} {config.get(field)}")
                ours.append(f"{field} {plan['config'].get(field)}")
        if ident.get("code") != plan["code"]:
            theirs.append(f"code version {ident.get('code')}")
            ours.append(f"code version {plan['code']}")
        diff = (", ".join(theirs) + "; this plan: " + ", ".join(ours)) if theirs else "another key format"
        diffs[diff] = diffs.get(diff, 0) + 1
    if not finished + unfinished:
        return None
    what = f"{finished} finished" + (f" and {unfinished} unfinished" if unfinished else "") if finished else \
        f"{unfinished} unfinished"
    kinds = " | ".join(f"{d}" + (f" ({n} cell{'s' if n > 1 else ''})" if len(diffs) > 1 else "")
                       for d, n in list(diffs.items())[:3])
    if len(diffs) > 3:
        kinds += f"; and {len(diffs) - 3} more settings"
    cells_word = "cell" if finished + unfinished == 1 else "cells"
    belong = "belongs" if finished + unfinished == 1 else "belong"
    return (f"{what} {cells_word} in {out} {belong} to another plan ({kinds}): not reused, kept; this plan's cells "
            f"train from update 0")


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or "(no message)"
    return f"{type(e).__name__}: {text}"[:300]


# ----------------------------------------------------------------------------- in a worker
_STOPPED: set = set()            # sweep ids whose client asked its cells to stop (per worker process)


def _request_stop(sweep_id):
    """Run on every worker (``client.run``) when a sweep is interrupted."""
    _STOPPED.add(sweep_id)
    return True


def dask_setup(worker):
    """Dask preload (local cluster): a worker process ignores Ctrl-C -- the terminal sends it to
    the whole process group -- and its cells stop when the client tells them to."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:           # not the main thread
        pass
    import importlib             # the pack trainer is imported now, with the rest of the training
    importlib.import_module(".packed", __package__)     # code: the version below is of the code
    code_version()               # just imported, not of a later edit


class _Stopper:
    """``Trainer.train(stop=...)``: True once the client asked this sweep to stop, or once the
    task is no longer wanted (cancelled, its client gone).  Cheap: looks at most every
    STOP_POLL_S, and reports the cell's update count to the client every REPORT_S."""

    def __init__(self, spec, trainer):
        self.sweep, self.key, self.trainer = spec.get("sweep"), spec["key"], trainer
        self.topic = spec.get("topic")
        self.worker = self.task = None
        try:
            from distributed import get_worker
            from distributed.worker import thread_state
            self.worker, self.task = get_worker(), getattr(thread_state, "key", None)
        except (ImportError, ValueError):
            pass
        self.next_check = self.next_report = 0.0
        self.stopped = False

    def __call__(self) -> bool:
        if self.stopped:
            return True
        now = time.monotonic()
        if now < self.next_check:
            return False
        self.next_check = now + STOP_POLL_S
        if self.sweep in _STOPPED:
            self.stopped = True
        elif self.worker is not None and self.task is not None:
            ts = self.worker.state.tasks.get(self.task)
            if ts is None or ts.state in ("cancelled", "released", "forgotten"):
                self.stopped = True
            elif self.topic and now >= self.next_report:
                self.next_report = now + REPORT_S
                try:
                    self.worker.log_event(self.topic, {"key": self.key, "update": int(self.trainer.state.update)})
                except Exception:
                    pass
        return self.stopped


def _stop_profiler():
    """Stop the Dask worker's sampling profiler (if this runs in a worker and it is on): it holds
    the frames of the running cell for a moment, every 10 ms, and so keeps alive arrays that
    mg.trace checks are gone (a false "the traced function kept N array(s)" TraceError)."""
    try:
        from distributed import get_worker
        worker = get_worker()
    except (ImportError, ValueError):
        return
    callbacks = [pc for name, pc in worker.periodic_callbacks.items() if name.startswith("profile")]
    if not any(pc.is_running() for pc in callbacks):
        return
    stopped = threading.Event()

    def stop():
        for pc in callbacks:
            pc.stop()
        stopped.set()
    worker.loop.add_callback(stop)
    stopped.wait(5)


def _open_run(folder, config, saved):
    """(trainer, update resumed from, note) for a cell's run folder: resumed from its checkpoint
    when it has one (``saved``: its state, or None), else new; a checkpoint that cannot be used
    is noted and the run starts again from update 0."""
    import minigrad as mg
    if saved is not None or (folder / "checkpoint.npz").exists():
        try:
            trainer = prepare_run(folder, config, resume=True)
            return trainer, trainer.state.update, None
        except (mg.CheckpointError, RunError, OSError, ValueError, KeyError) as e:
            note = f"checkpoint unusable ({_one_line(e)}): started again from update 0"
            return prepare_run(folder, config, force=True), 0, note
    return prepare_run(folder, config, force=True), 0, None


def _outcome(state, config) -> str:
    outcome = getattr(state, "outcome", None)
    if outcome and outcome != "interrupted":
        return outcome
    if state.done:
        return "success"
    if state.update >= config.max_updates:
        return "budget"
    return "interrupted"


def _diverged_state(saved):
    """The state of a run that diverged, from its checkpoint: the checkpoint holds the last
    finite weights, saved at an evaluation before the update that diverged, with the outcome set
    afterwards ("diverged at update N: ..."); the run ended at update N, as its result said."""
    import re
    from dataclasses import replace
    m = re.match(r"diverged at update (\d+)", saved.outcome)
    return replace(saved, update=int(m.group(1))) if m else saved


def run_cell(spec) -> dict:
    """Train one cell (in a Dask worker thread), resuming its checkpoint if it has one.  A
    finished cell's result goes to ``result.json`` (atomically) and is returned with
    ``final: True``; a stopped cell returns ``outcome: "interrupted"``, checkpointed."""
    folder = Path(spec["folder"])
    ident = {"key": spec["key"], "name": spec["name"]}
    if code_version() != spec["code"]:
        return {**ident, "final": False, "outcome": f"error: the worker on {socket.gethostname()} runs other "
                f"code than the client (code version {code_version()}, client {spec['code']})"}
    done, _ = read_result(folder, spec["key"])
    if done is not None:                                   # finished already (a task run again)
        return {**done, "final": True}
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write(folder / "cell.json", json.dumps({**ident, "code": spec["code"], "config": spec["config"]},
                                                  indent=1).encode())
    _stop_profiler()
    start = time.perf_counter()
    trainer, resumed_from, note, st = None, 0, None, None
    try:
        config = TrainConfig(**spec["config"])
        saved = _checkpoint_state(folder)
        if saved is not None and diverged(saved.outcome):       # its result file was lost: the
            st, outcome = _diverged_state(saved), saved.outcome  # checkpoint says how it ended
        else:
            trainer, resumed_from, note = _open_run(folder, config, saved)
            atomic_write(folder / "running.json", json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "resumed_from": resumed_from,
                 "started": time.time()}).encode())
            st = trainer.train(out=folder, progress=False, stop=_Stopper(spec, trainer))
            outcome = _outcome(st, config)
    except Exception as e:                                 # a crash is an outcome, not the end
        outcome = "error: " + _one_line(e)
        st = trainer.state if trainer is not None else st
    return _finish(spec, outcome, st, round(time.perf_counter() - start, 2), resumed_from, note)


def blas_label(blas) -> str:
    """One line for ``blas_info()``'s list (the CSV's column): "openblas 0.3.31 Haswell x1"."""
    if not blas:
        return ""
    return "; ".join(" ".join(str(x) for x in (lib.get("internal_api"), lib.get("version"), lib.get("architecture"))
                              if x) + f" x{lib.get('num_threads')}" for lib in blas)


def _finish(spec, outcome, st, seconds, resumed_from, note, **extra) -> dict:
    """A cell's result from how its run ended.  A training outcome (success, budget, diverged)
    is written to its result.json (atomically) and reported final.  An interrupted cell is
    reported, not stored: it resumes next time.  So is an error: the cell's training raised
    (a full disk, a lost file, out of memory, a bug), which says nothing about how the model
    trains -- counted as a failure it would lower the success rate, and stored it would stay so
    for good; it runs again next time, from its checkpoint (the message is in sweep.csv and the
    table's notes)."""
    folder = Path(spec["folder"])
    ident = {"key": spec["key"], "name": spec["name"]}
    updates = st.update if st is not None else 0
    (folder / "running.json").unlink(missing_ok=True)
    if outcome == "interrupted":
        return {**ident, "final": False, "outcome": "interrupted", "updates": updates, "resumed_from": resumed_from}
    result = {**ident, "outcome": outcome, "success": outcome == "success", "updates": updates,
              "last_error": st.last_error if st else None, "best_error": st.best_error if st else None,
              "seconds": seconds, "resumed_from": resumed_from, "note": note, **extra, "blas": blas_info(),
              "code": spec["code"],
              "config": spec["config"]}
    if outcome.startswith("error"):
        return {**result, "final": False}
    atomic_write(folder / "result.json", json.dumps(result, indent=1).encode())
    return {**result, "final": True}


def grid_point(cell) -> str:
    """A cell's grid point: its whole config but the seed (the cells a pack may hold)."""
    return json.dumps({k: v for k, v in cell["config"].items() if k != "seed"}, sort_keys=True)


def make_packs(cells, size=None) -> list:
    """The cells grouped into packs: cells of one grid point (all but the seed alike) and of a
    setting that packs (:func:`tasks.packed.packable`), in chunks of at most ``size`` (None: no
    limit); a cell that cannot pack is a pack of its own.  Order is kept."""
    from .packed import packable
    groups, order = {}, []
    for cell in cells:
        alone = size == 1 or packable(TrainConfig(**cell["config"])) is not None
        point = ("alone", cell["key"]) if alone else grid_point(cell)
        if point not in groups:
            groups[point] = []
            order.append(point)
        groups[point].append(cell)
    packs = []
    for point in order:
        group = groups[point]
        step = size or len(group)
        packs += [group[i:i + step] for i in range(0, len(group), step)]
    return packs


class _PackStopper(_Stopper):
    """:class:`_Stopper` for a pack: reports every cell's update count."""

    def __init__(self, specs, trainer):
        super().__init__(specs[0], trainer)
        self.keys = [spec["key"] for spec in specs]

    def __call__(self) -> bool:
        report = self.topic and time.monotonic() >= self.next_report and not self.stopped
        stopped = super().__call__()
        if report and self.worker is not None:
            for key, m in zip(self.keys[1:], self.trainer.members[1:]):
                try:
                    self.worker.log_event(self.topic, {"key": key, "update": int(m.state.update)})
                except Exception:
                    pass
        return stopped


class _FirstMember:
    """What :class:`_Stopper` reads of a trainer (``state``), for a pack: its first run's."""

    def __init__(self, pack):
        self.pack = pack
        self.members = pack.members

    @property
    def state(self):
        return self.members[0].state


def run_pack(specs) -> dict:
    """Train the cells of ``specs`` (a pack, see :func:`make_packs`) in a Dask worker thread, with
    one BLAS thread: as one computation (tasks.packed) whenever their setting packs, a pack of one
    included, each resumed from its checkpoint if it has one and finished into its own
    result.json; a cell whose setting cannot pack alone through :func:`run_cell`.
    Returns ``{"pack": [one result per spec, as run_cell returns them]}``.

    A packed run's numbers are the same whatever the pack holds (the batched products and the
    per-model reductions compute each model's alone), while :class:`tasks.train.Trainer` sums the
    weight gradients in another order: in float32, with training chaotic, the last bits grow
    into another update of success, or another outcome.  So a cell that packs always trains
    packed -- alone (``--pack 1``), with its grid point's seeds, or resumed without them -- and
    ends where it would have ended uninterrupted, bit for bit (on one machine and BLAS)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1):   # a worker trains one pack per core; float32 numbers depend on it
        return _run_pack(specs)


def _run_pack(specs) -> dict:
    from .packed import PackedTrainer, packable
    if len(specs) == 1 and packable(TrainConfig(**specs[0]["config"])) is not None:
        return {"pack": [run_cell(specs[0])]}
    if code_version() != specs[0]["code"]:
        return {"pack": [run_cell(spec) for spec in specs]}        # each says which code differs
    results = [None] * len(specs)
    todo = []                     # (index, trainer, resumed_from, note)
    for i, spec in enumerate(specs):
        folder = Path(spec["folder"])
        ident = {"key": spec["key"], "name": spec["name"]}
        done, _ = read_result(folder, spec["key"])
        if done is not None:
            results[i] = {**done, "final": True}
            continue
        saved = _checkpoint_state(folder)
        if saved is not None and diverged(saved.outcome):       # its result file was lost
            results[i] = run_cell(spec)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(folder / "cell.json", json.dumps({**ident, "code": spec["code"], "config": spec["config"]},
                                                      indent=1).encode())
        try:
            todo.append((i, *_open_run(folder, TrainConfig(**spec["config"]), saved)))
        except Exception as e:                             # this cell's outcome; the others go on
            results[i] = _finish(spec, "error: " + _one_line(e), None, 0, 0, None)
    if not todo:
        return {"pack": results}
    _stop_profiler()
    start = time.perf_counter()
    index = [i for i, *_ in todo]
    states = None
    try:
        pack = PackedTrainer([TrainConfig(**specs[i]["config"]) for i in index],
                             members=[t for _, t, *_ in todo])
        for i, _, resumed_from, _ in todo:
            atomic_write(Path(specs[i]["folder"]) / "running.json", json.dumps(
                {"pid": os.getpid(), "host": socket.gethostname(), "resumed_from": resumed_from,
                 "started": time.time(), "packed_with": len(todo)}).encode())
        states = pack.train(outs=[specs[i]["folder"] for i in index], progress=False,
                            stop=_PackStopper([specs[i] for i in index], _FirstMember(pack)))
        outcomes = [_outcome(st, pack.members[k].config) for k, st in enumerate(states)]
    except Exception as e:                                 # a crash is every cell's outcome
        outcomes = ["error: " + _one_line(e)] * len(todo)
        states = [t.state for _, t, *_ in todo]
    seconds = round(time.perf_counter() - start, 2)
    for (i, _, resumed_from, note), st, outcome in zip(todo, states, outcomes):
        results[i] = _finish(specs[i], outcome, st, seconds, resumed_from, note, packed_with=len(todo))
    return {"pack": results}


# ----------------------------------------------------------------------------- outputs
CSV_FIELDS = ("name", "task", "cell", "init", "method", "length", "seed", "outcome", "counted", "success", "updates",
              "last_error", "best_error", "seconds", "resumed_from", "hidden", "lr", "clip", "alpha", "batch_size",
              "eval_every", "eval_size", "target_error", "max_updates", "device", "dtype", "blas", "key", "folder")


def _counted(r) -> bool:
    """Whether a result counts in the table: a stored outcome of training (success, budget,
    diverged), not an error or a cell that could not finish in this sweep (not stored)."""
    return r is not None and bool(r.get("final", True))


def write_csv(out: Path, cells, results):
    """One row per cell of this sweep that has a result or a problem: ``counted`` False (and
    ``success`` left empty, so that a mean over the column skips it) for a problem of this
    sweep that is not a result (an error, a worker that died): the cell runs again next time."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for c in cells:
        r = results.get(c["key"])
        if r is not None:
            counted = _counted(r)
            writer.writerow({**c["config"], **r, "counted": counted, "success": bool(r.get("success")) if counted else "",
                             "dtype": resolved_dtype(c["config"]), "blas": blas_label(r.get("blas")),
                             "folder": c["folder"]})
    atomic_write(out / "sweep.csv", buf.getvalue().encode())


def _rates(rows, methods, lengths, cells, results):
    """{(label, method): [(length, successes, finished), ...]}"""
    table = {}
    for cell, init in rows:
        for method in methods:
            line = []
            for length in lengths:
                mine = [results[c["key"]] for c in cells if c["label"] == _label(cell, init) and c["method"] == method
                        and c["length"] == length and _counted(results.get(c["key"]))]
                line.append((length, sum(bool(r.get("success")) for r in mine), len(mine)))
            table[(_label(cell, init), method)] = line
    return table


def draw_figure(out: Path, args, rows, cells, results):
    """Figure 7: success rate against length, one line per init/cell x method."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"msgd": ":", "msgd-c": "--", "msgd-cr": "-", "msgd-r": "-."}
    for (label, method), line in _rates(rows, args.methods, args.lengths, cells, results).items():
        xs = [t for t, _, n in line if n]
        ys = [s / n for _, s, n in line if n]
        if xs:
            ax.plot(xs, ys, styles.get(method, "-"), marker="o", label=f"{label} {method.upper()}")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("success rate")
    ax.set_ylim(-0.05, 1.05)
    ax.set_xticks(args.lengths)
    done = sum(_counted(results.get(c["key"])) for c in cells)
    ax.set_title(f"{args.task}: success rate ({done}/{len(cells)} cells)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write(out / "figure7.png", buf.getvalue())


def print_table(args, rows, cells, results):
    criterion = (f"no fresh sequence of {args.eval_size:,} wrong" if args.target_error == 0 else
                 f"< {args.target_error * 100:g}% of {args.eval_size:,} fresh sequences wrong")
    print(f"\nSuccess rate ({args.task}, {len(args.seeds)} seeds, at most {args.max_updates:,} updates each; "
          f"success: {criterion})")
    print(f"{'init/cell':<11} {'method':<8} " + " ".join(f"{'T=' + str(t):>7}" for t in args.lengths))
    for (label, method), line in _rates(rows, args.methods, args.lengths, cells, results).items():
        print(f"{label:<11} {method:<8} " + " ".join(f"{f'{s}/{n}':>7}" for _, s, n in line))
    odd = [(c, results[c["key"]]) for c in cells if c["key"] in results
           and results[c["key"]]["outcome"] not in ("success", "budget")]
    for c, r in odd[:20]:
        print(f"  {c['name']}: {r['outcome']}" + ("" if r.get("final", True) else " (not counted, not stored: "
                                                  "it runs again next time)"))
    if len(odd) > 20:
        print(f"  ... and {len(odd) - 20} more (see sweep.csv)")
    missing = len(cells) - sum(_counted(results.get(c["key"])) for c in cells)
    if missing:
        print(f"{missing} cell(s) without a result: the table counts finished cells only")
    return missing


# ----------------------------------------------------------------------------- dry run
DASK_START_S = 6.0       # start and stop a local cluster, and its workers' first imports: about this
DASK_WORKER_S = 5.0      # plus this per worker (a sweep's wall time less its packs' on a shared 2-core
                         # machine: 10 s with 1 worker, 16 s with 2; see docs/sweep.md)
TIMING_UPDATES = 5       # a timed real pack runs this many updates, then twice as many


def _update_timing(config: dict) -> tuple:
    """(seconds per update, seconds per evaluation, checks' share per update) of one run alone:
    a few updates, each first run once to trace its program (the arithmetic tasks' jitter gives
    each update a length of its own: timing an update that traces would count the tracing), then
    timed; an evaluation of the whole evaluation set; a check."""
    from .train import Trainer
    trainer = Trainer(TrainConfig(**{**config, "seed": 0}))
    n = 3
    for u in range(n):                          # warm-up: trace the lengths of updates 0..n-1
        trainer.state.update = u
        trainer.update()
    start = time.perf_counter()
    for u in range(n):                          # the same updates, replayed
        trainer.state.update = u
        trainer.update()
    per_update = (time.perf_counter() - start) / n
    size = min(config["eval_batch"], config["eval_size"])
    start = time.perf_counter()
    trainer.evaluate(size=size)
    per_eval = (time.perf_counter() - start) * config["eval_size"] / size
    per_check = 0.0
    if config["check_every"]:
        start = time.perf_counter()
        trainer.evaluate(size=config["check_size"], key=(trainer.CHECK, 0))
        per_check = (time.perf_counter() - start) / config["check_every"]
    return per_update, per_eval, per_check


def _seconds_per_update(config: dict) -> float:
    """An update and its shares of an evaluation and of the checks (compute only: no set-up,
    no writes; :func:`estimate_seconds` adds those)."""
    per_update, per_eval, per_check = _update_timing(config)
    return per_update + per_eval / config["eval_every"] + per_check


def _time_pack(pack, updates: int, every: int, scratch: Path) -> float:
    """Seconds of one real run of ``pack`` through :func:`run_pack` -- what a worker does: the
    set-up and tracing, the updates, the evaluations with their diagnostics, the checkpoint,
    best, snapshot and log writes, the grad_norms.png redraw, result.json -- in ``scratch``, for
    ``updates`` updates with an evaluation every ``every``."""
    folder = scratch / f"{updates}-{every}-{uuid.uuid4().hex[:8]}"
    specs = []
    for c in pack:
        config = {**c["config"], "max_updates": updates, "eval_every": every}
        specs.append({**c, "config": config, "key": cell_key(config, c["code"]), "folder": str(folder / c["name"])})
    start = time.perf_counter()
    results = run_pack(specs)["pack"]
    seconds = time.perf_counter() - start
    for spec, r in zip(specs, results):
        if str(r.get("outcome", "")).startswith("error"):
            raise RunError(f"sweep --dry-run: timing {spec['name']} for {updates} updates failed ({r['outcome']}); "
                           f"`minigrad train` with its settings shows why")
    return seconds


def estimate_seconds(todo, pack_size, scratch: Path, signals=None, with_longest=False) -> tuple:
    """(worker-seconds the cells of ``todo`` need, what was timed), and with ``with_longest``
    the seconds of the longest pack (no number of workers finishes sooner): every pack for its
    cells' whole remaining budgets.  A pack costs its set-up (tracing, first writes), its updates, and
    an evaluation with its writes every eval_every updates.  Measured here: the updates, checks
    and evaluations of each (cell, method, length) kind (:func:`_update_timing`), and, per
    length, one real pack end to end (:func:`_time_pack`) run for k and 2k updates with an
    evaluation every k: the difference is k updates and one evaluation with its writes, the rest
    of the first run its set-up (the very first run twice: its first time also imports what a
    worker imports once).  A length within 1.5x of one timed so takes its set-up and evaluation
    scaled by the ratio of the lengths.  None when stopped."""
    kinds, per_length, scaled = {}, {}, {}
    k = TIMING_UPDATES
    for pack in make_packs(todo, pack_size):
        if signals is not None and signals.count:
            return None
        cfg = pack[0]["config"]
        kind = (cfg["cell"], cfg["init"] == "sigmoid", cfg["method"], cfg["length"])
        if kind not in kinds:
            kinds[kind] = _update_timing(cfg)
        near = [t for t in per_length if max(t, cfg["length"]) <= 1.5 * min(t, cfg["length"])]
        if near:                                # a length timed close by: scaled (both trace the sequence)
            if cfg["length"] not in per_length:
                scaled[cfg["length"]] = min(near, key=lambda t: abs(t - cfg["length"]))
        else:
            u = kinds[kind][0] + kinds[kind][2]
            one = _time_pack(pack, k, k, scratch)
            if not per_length:                  # the first run imports what a run needs (matplotlib, ...):
                one = min(one, _time_pack(pack, k, k, scratch))     # a worker does that once, not per pack
            two = _time_pack(pack, 2 * k, k, scratch)
            per_eval = max(two - one - k * u * len(pack), kinds[kind][1] * len(pack))     # eval + writes
            setup = max(one - k * u * len(pack) - per_eval, 0.0)
            per_length[cfg["length"]] = (setup, per_eval / len(pack))
    for length, timed in scaled.items():
        per_length[length] = tuple(x * length / timed for x in per_length[timed])
    total = longest = 0.0
    for pack in make_packs(todo, pack_size):
        cfg = pack[0]["config"]
        per_update, _, per_check = kinds[(cfg["cell"], cfg["init"] == "sigmoid", cfg["method"], cfg["length"])]
        setup, per_eval = per_length[cfg["length"]]
        seconds = setup
        for c in pack:
            left = max(0, c["config"]["max_updates"] - _checkpoint_update(c))
            seconds += left * (per_update + per_check) + -(-left // c["config"]["eval_every"]) * per_eval
        total += seconds
        longest = max(longest, seconds)
    what = (f"{len(kinds)} (cell, method, length) kinds and {len(per_length) - len(scaled)} real pack(s) "
            f"end to end" + (f" ({len(scaled)} length(s) scaled from one within 1.5x)" if scaled else ""))
    return (total, what, longest) if with_longest else (total, what)


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def dry_run(args, rows, cells, done, workers: int, where: str, signals=None):
    print(f"task {args.task}; rows: {', '.join(_label(c, i) for c, i in rows)}; methods: {', '.join(args.methods)}; "
          f"lengths: {', '.join(map(str, args.lengths))}; seeds: {', '.join(map(str, args.seeds))}")
    print(f"hidden {args.hidden}, lr {args.lr}, clip {args.clip}, alpha {args.alpha}, batch size {args.batch_size}, "
          f"eval every {args.eval_every} "
          f"on {args.eval_size:,} sequences, target error {args.target_error}, at most {args.max_updates:,} updates, "
          f"device {cells[0]['config']['device']}; code version {code_version()}")
    todo = [c for c in cells if c["key"] not in done]
    print(f"{len(cells)} cell{'s' if len(cells) != 1 else ''}, {len(cells) - len(todo)} already done, {len(todo)} to run, "
          f"in {args.out}/cells")
    other = other_plans(args.out, cells)
    if other:
        print(f"note: {other}")
    lock, stale = OutLock.holder(args.out)
    if lock is not None:
        print(f"note: {in_use_message(args.out, lock)}" if stale is None else
              f"note: {args.out} holds the lock of a sweep that ended without releasing it ({stale}): "
              f"a sweep takes it over")
    if not todo:
        return 0
    import tempfile
    with tempfile.TemporaryDirectory(prefix="minigrad-sweep-timing-") as scratch:
        timed = estimate_seconds(todo, args.pack, Path(scratch), signals, with_longest=True)
    if timed is None:
        print(f"{LOG}: stopped by {_signal_name(signals)} while timing", file=sys.stderr)
        return _signal_status(signals)
    total, what, longest = timed
    packs = len(make_packs(todo, args.pack))
    parallel = workers
    start, start_up = 0.0, ""
    if not args.scheduler:
        parallel = max(1, min(workers, _core_count()))       # workers beyond the cores share them
        busy = (f" ({workers} workers share {parallel} cores)" if parallel < workers else "")
        parallel = min(parallel, packs)                        # the sweep starts no more workers than packs
        start = DASK_START_S + DASK_WORKER_S * parallel
        start_up = f", about {start:.0f} s to start and stop the local cluster"
    else:
        busy = ""
    # the packs share the workers, but one pack runs on one: never sooner than the longest
    # (a plan of one pack on 2 workers was estimated at half its time)
    wall = max(total / max(1, min(parallel, packs)), longest) + start
    if workers == 1:
        where = where.replace("processes", "process").replace("threads", "thread")
    print(f"estimate: about {_fmt_seconds(wall)} on {workers} {where}{busy} if every cell runs its "
          f"whole budget of {args.max_updates:,} updates (a cell that succeeds stops sooner) and each worker has a "
          f"core to itself (other load slows it); timed here: {what}{start_up}")
    return 0


# ----------------------------------------------------------------------------- the client
class _Signals:
    """Ctrl-C and SIGTERM in the client: a flag, never an exception (so no traceback)."""

    def __init__(self):
        self.count = 0
        self.signum = None
        self.previous = {}

    def __enter__(self):
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self.previous[s] = signal.signal(s, self.handle)
            except ValueError:           # not the main thread (called from a library)
                pass
        return self

    def handle(self, signum, frame):
        self.count += 1
        self.signum = self.signum or signum

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def _core_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def scheduler_address(address: str) -> tuple:
    """(scheme, host, port) of a --scheduler address ("tcp://host:8786", or "host:8786": tcp),
    or a one-line RunError saying what the form is."""
    scheme, sep, rest = address.partition("://")
    if not sep:
        scheme, rest = "tcp", address
    host, colon, port = rest.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    ok = scheme in SCHEDULER_SCHEMES and colon and host and port.isdigit() and 0 < int(port) < 65536 and "/" not in rest
    if not ok:
        raise RunError(f"--scheduler {address!r} is not a Dask scheduler address: give SCHEME://HOST:PORT "
                       f"(SCHEME one of {', '.join(SCHEDULER_SCHEMES)}; e.g. tcp://10.0.0.5:8786, what `dask scheduler` "
                       f"prints) or HOST:PORT")
    return scheme, host, int(port)


def _reachable(address: str, timeout: float):
    """Refuse, in one line and within ``timeout``, a --scheduler whose host cannot be reached (a
    Dask client that cannot connect waits 20 s more when it is collected, with a traceback)."""
    scheme, host, port = scheduler_address(address)
    if scheme not in ("tcp", "tls", "ws", "wss"):
        return
    try:
        socket.create_connection((host, port), timeout=max(timeout, 0.1)).close()
    except OSError as e:
        why = e.strerror or type(e).__name__
        if isinstance(e, socket.timeout):
            why = f"no answer within {timeout:g} s (--connect-timeout)"
        raise RunError(f"could not connect to a Dask scheduler at {address} ({why}); start one with `dask "
                       f"scheduler` and workers with `dask worker <its address>` (see docs/sweep.md), or leave "
                       f"out --scheduler to use a local cluster") from None


def _discard(client):
    """Put away a Client whose constructor failed, quietly and at once: collected as it is, it
    would try to close its connection for 20 s, then print a TimeoutError traceback."""
    try:
        client.status = "closed"
        runner = getattr(client, "_loop_runner", None)
        if runner is not None:
            runner.stop()
    except Exception:
        pass


def _connect(args, packs=None):
    """(client, cluster): a LocalCluster of worker processes -- no more than ``packs``, the tasks
    there are to run (``--workers 1000`` for 3 cells started 1,000 processes of about 120 MB
    each) -- or the cluster at --scheduler."""
    from distributed import Client, LocalCluster
    for name in ("distributed", "distributed.client", "distributed.nanny", "distributed.scheduler",
                 "distributed.worker", "distributed.core", "distributed.comm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if args.scheduler:
        _reachable(args.scheduler, args.connect_timeout)
        client = Client.__new__(Client)      # kept: a client that failed to connect is closed here
        try:
            client.__init__(args.scheduler, timeout=args.connect_timeout, set_as_default=False)
        except Exception as e:
            _discard(client)
            why = _one_line(e) if isinstance(e, (OSError, TimeoutError)) else \
                f"something answered there, but not as a Dask scheduler: {_one_line(e)[:120]}"
            raise RunError(f"could not connect to a Dask scheduler at {args.scheduler} ({why}); start "
                           f"one with `dask scheduler` and workers with `dask worker <its address>` (see docs/sweep.md), "
                           f"or leave out --scheduler to use a local cluster") from None
        return client, None
    workers = args.workers or _core_count()
    if packs:
        workers = min(workers, packs)
    # Worker processes are in the terminal's process group: Ctrl-C reaches them too.  Blocked
    # while they are spawned (the mask is inherited, and by the cluster's event-loop thread,
    # which spawns the replacements of killed workers) and ignored by the preload: only the
    # client decides how a sweep stops.  A Ctrl-C meanwhile waits, and arrives after.
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        import dask
        with dask.config.set({"distributed.worker.profile.enabled": False}):      # see _stop_profiler
            # the dashboard on any free port: 8787 may be another sweep's (a warning, otherwise)
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.CRITICAL, preload=["tasks.sweep"])
        client = Client(cluster, set_as_default=False)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
    return client, cluster


class _Progress:
    def __init__(self, quiet: bool, total: int, done: int):
        self.quiet, self.total, self.done0 = quiet, total, done
        self.tty = sys.stderr.isatty()
        self.shown = False
        self.last_plain = 0.0
        self.start = time.monotonic()

    def show(self, done, running, queued, rate, left, force=False, failed=0):
        if self.quiet:
            return
        line = f"{LOG}: {done}/{self.total} cells done, {running} running, {queued} queued"
        if failed:
            line += f", {failed} failed to run (not counted)"
        if rate:
            line += f", {rate:,.0f} updates/s"
        if left is not None:                # a rate, not a bound: packs still to set up, other load...
            line += f", about {_fmt_seconds(left)} left"
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
            sys.stderr.flush()
            self.shown = True
        elif force or time.monotonic() - self.last_plain > 30:
            self.last_plain = time.monotonic()
            print(line, file=sys.stderr, flush=True)

    def clear(self):
        if self.shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()
            self.shown = False

    def note(self, text):
        self.clear()
        print(f"{LOG}: {text}", file=sys.stderr, flush=True)


def cmd_sweep(args):
    with _Signals() as signals:
        return _sweep(args, signals)


def _sweep(args, signals):
    if args.workers is not None and args.workers < 1:
        raise RunError(f"--workers must be at least 1, got {args.workers}")
    if args.connect_timeout is not None and not 0 < args.connect_timeout < 1e6:     # inf: an OverflowError
        raise RunError(f"--connect-timeout must be a positive number of seconds (below 1,000,000), got "
                       f"{args.connect_timeout}")
    if args.scheduler is not None:
        if args.workers is not None:
            raise RunError("--workers sizes the local cluster, and --scheduler runs on an existing one (its "
                           "workers are started with it): give one of them")
        scheduler_address(args.scheduler)
    check_out_folder(args.out)                  # a file there: refused before anything is planned
    if args.pack is not None and args.pack < 1:
        raise RunError(f"--pack must be at least 1 (1: every cell alone), got {args.pack}")
    if any(seed < 0 for seed in args.seeds):
        raise RunError(f"--seeds must be 0 or more, got {min(args.seeds)}")
    if not 0 <= args.target_error < 1:
        raise RunError(f"--target-error is a fraction of sequences, from 0 to 1 (0.01 is 1%), got {args.target_error}")
    resolve_presets(args)
    if not args.alpha >= 0:
        raise RunError(f"--alpha must be 0 or more, got {args.alpha}")
    for name in ("lengths", "seeds", "methods", "inits", "cells"):       # a value given twice: one cell
        setattr(args, name, list(dict.fromkeys(getattr(args, name))))
    out = Path(args.out)
    rows, cells = plan_cells(args)
    results = {}
    for c in cells:
        result, problem = read_result(c["folder"], c["key"])
        if result is not None:
            results[c["key"]] = result
        elif problem:
            print(f"{LOG}: {problem}", file=sys.stderr)
    todo = [c for c in cells if c["key"] not in results]
    stale = other_plans(out, cells)
    if stale and not args.dry_run:
        print(f"{LOG}: {stale}", file=sys.stderr)
    check_sweep_memory(todo, args.pack, None if args.dry_run else args.scheduler or (args.workers or _core_count()))
    if args.dry_run:
        if args.scheduler:
            client, _ = _connect(args)
            try:
                workers = max(1, sum(client.nthreads().values()))
            finally:
                client.close()
            return dry_run(args, rows, cells, results, workers, f"worker threads at {args.scheduler}", signals)
        return dry_run(args, rows, cells, results, args.workers or _core_count(), "local worker processes", signals)
    out.mkdir(parents=True, exist_ok=True)
    with OutLock(out) as lock:
        if lock.note:
            print(f"{LOG}: {lock.note}", file=sys.stderr)
        status = _run_locked(args, out, rows, cells, todo, results, signals)
    if status:
        return status
    missing = print_table(args, rows, cells, results)
    print(f"per-cell results: {out / 'sweep.csv'}; figure: {out / 'figure7.png'}")
    return _final_status(missing)


def _final_status(missing: int) -> int:
    """0 when every cell has a result; 1 (and one line) when some ended in an error instead."""
    if not missing:
        return 0
    print(f"{LOG}: {missing} cell(s) ended in an error instead of a result (listed above, not counted); "
          "run the same command again to retry them", file=sys.stderr)
    return 1


def _run_locked(args, out, rows, cells, todo, results, signals) -> int:
    status = 0
    if signals.count:
        print(f"{LOG}: stopped by {_signal_name(signals)} before any cell ran", file=sys.stderr)
        return _signal_status(signals)
    if todo:
        try:
            status = _run_cells(args, out, rows, cells, todo, results, signals)
        except BaseException:                       # the scheduler lost, ...: what finished is kept
            try:
                write_csv(out, cells, results)
            except Exception:
                pass
            raise
    write_csv(out, cells, results)
    _try_draw(out, args, rows, cells, results, None)
    return status


def check_sweep_memory(cells, pack_size, workers):
    """Refuse, in one line and before anything is allocated, a plan whose memory (``minigrad
    train``'s estimate, :func:`tasks.cli.memory_estimate`) exceeds what this machine has: any
    cell alone (a dry run times each kind of cell here); with ``workers`` (an int: a local
    cluster), also a pack (its cells' sum) and the packs that run at once on the workers.
    ``workers`` a --scheduler address: the workers' machines are not this one (only a cell alone
    is checked, for the dry run's timing); None: a dry run."""
    from .cli import _size, available_memory, check_memory, memory_estimate, peak_memory
    seen = {}
    for c in cells:
        point = grid_point(c)
        if point in seen:
            continue
        config = TrainConfig(**c["config"])
        parts = memory_estimate(config)
        seen[point] = peak_memory(parts)
        if not isinstance(workers, str):
            check_memory(f"sweep cell {c['name']} (--hidden {config.hidden} --length {config.length})", parts,
                         config.device)
    if not isinstance(workers, int) or not cells:
        return
    have = available_memory(cells[0]["config"]["device"])
    if have is None:
        return
    packs = sorted(((sum(seen[grid_point(c)] for c in pack), pack) for pack in make_packs(cells, pack_size)),
                   key=lambda x: x[0])
    need, pack = packs[-1]
    if need > have:
        raise RunError(f"sweep: a pack of {len(pack)} cells ({pack[0]['name']} ...) needs about {_size(need)} of "
                       f"memory but this machine has {_size(have)} available: pack fewer seeds (--pack), or lower "
                       f"--hidden or the lengths")
    at_once = packs[-min(workers, len(packs)):]
    total = sum(n for n, _ in at_once)
    if total > have:
        raise RunError(f"sweep: {len(at_once)} packs running at once on {workers} workers need about {_size(total)} "
                       f"of memory but this machine has {_size(have)} available: lower --workers or --pack, or "
                       f"--hidden or the lengths")


def _try_draw(out, args, rows, cells, results, progress):
    try:
        draw_figure(out, args, rows, cells, results)
    except Exception as e:                          # a picture never stops a sweep
        (progress.note if progress else lambda t: print(f"{LOG}: {t}", file=sys.stderr))(
            f"could not draw figure7.png ({_one_line(e)})")


def _run_cells(args, out, rows, cells, todo, results, signals) -> int:
    """Run ``todo`` on Dask; fills ``results``.  Returns 0, or 130/143 when interrupted."""
    sweep_id = uuid.uuid4().hex
    topic = f"minigrad-sweep-{sweep_id}"
    client, cluster = _connect(args, len(make_packs(todo, args.pack)))
    progress = _Progress(args.quiet, len(cells), len(cells) - len(todo))
    live = {}                        # key -> latest update reported by the running cell
    base = {}                        # key -> update it started from in this sweep

    def on_event(event):
        msg = event[1]
        if isinstance(msg, dict) and "key" in msg:
            live[msg["key"]] = msg["update"]
    try:
        client.subscribe_topic(topic, on_event)
        queued = make_packs(todo, args.pack)       # each task trains one pack of cells
        running = {}                 # future -> pack (a list of cells)
        requeued = {}                # key -> times its task was lost
        workers_seen = set()
        history = []                 # (time, updates done in this sweep): the recent rate
        finished_updates = 0
        last_draw = 0.0
        max_updates = {c["key"]: c["config"]["max_updates"] for c in todo}
        attempts = {}                # key -> tasks submitted for it in this sweep
        waiting_said = False
        while (queued or running) and not signals.count:
            changed = False
            for fut in [f for f in running if f.done()]:
                if signals.count:
                    break                                   # _stop reports the running packs
                pack = running.pop(fut)
                again = []
                for cell, r in zip(pack, _pack_results(fut, pack)):
                    if r.get("outcome") == "interrupted" or r.get("lost"):
                        requeued[cell["key"]] = requeued.get(cell["key"], 0) + 1
                        if requeued[cell["key"]] <= 3:     # stopped without us asking: run it again
                            again.append(cell)
                            continue
                        r = {**r, "outcome": f"error: stopped {requeued[cell['key']]} times without finishing "
                                             f"({r.get('outcome')})", "final": False}
                    results[cell["key"]] = _clean(r, cell)
                    finished_updates += max(0, int(r.get("updates") or 0) - base.get(cell["key"], 0))
                    live.pop(cell["key"], None)
                    changed = True
                if again:
                    queued.insert(0, again)
            if client.status in ("closing", "closed", "failed"):       # it gave up reconnecting
                raise RunError(_scheduler_lost(args, cells, results))
            try:
                nthreads = client.nthreads()
            except Exception:
                nthreads = {}
            gone = workers_seen - set(nthreads)
            if gone and running:
                progress.note(f"{len(gone)} worker(s) lost ({', '.join(sorted(gone))}): their cells resume "
                              f"from their checkpoints")
            workers_seen = set(nthreads)
            capacity = sum(nthreads.values())
            while queued and len(running) < capacity and not signals.count:
                pack = queued.pop(0)
                cell = pack[0]
                attempts[cell["key"]] = attempts.get(cell["key"], 0) + 1
                specs = [{**c, "sweep": sweep_id, "topic": topic} for c in pack]
                size = f"x{len(pack)}-" if len(pack) > 1 else ""
                fut = client.submit(run_pack, specs, pure=False,
                                    key=f"cell-{cell['name']}-{size}{cell['key'][:12]}-{sweep_id[:8]}-{attempts[cell['key']]}")
                running[fut] = pack
                for c in pack:
                    if c["key"] not in base:
                        base[c["key"]] = _checkpoint_update(c)
            if changed:
                write_csv(out, cells, results)
                if time.monotonic() - last_draw > 10 or not (queued or running):
                    _try_draw(out, args, rows, cells, results, progress)
                    last_draw = time.monotonic()
            running_cells = [c for pack in running.values() for c in pack]
            queued_cells = [c for pack in queued for c in pack]
            done_updates = finished_updates + sum(max(0, live.get(c["key"], base[c["key"]]) - base[c["key"]])
                                                  for c in running_cells)
            now = time.monotonic()
            if done_updates or history:                 # from the first update reported
                history.append((now, done_updates))
            while len(history) > 2 and now - history[1][0] > RATE_WINDOW_S:
                history.pop(0)
            rate = None
            if history and now - history[0][0] > 2 and done_updates > history[0][1]:
                rate = (done_updates - history[0][1]) / (now - history[0][0])
            remaining = sum(max(0, max_updates[c["key"]] - live.get(c["key"], base[c["key"]])) for c in running_cells)
            remaining += sum(max_updates[c["key"]] - _checkpoint_update(c, cached=True) for c in queued_cells)
            left = remaining / rate if rate else None
            counted = sum(_counted(results.get(c["key"])) for c in cells)
            progress.show(counted, len(running_cells), len(queued_cells), rate, left, force=changed,
                          failed=sum(c["key"] in results for c in cells) - counted)
            if running:
                _wait(client, running, 0.5, "FIRST_COMPLETED")
            elif queued:                   # no worker (yet): a cluster whose jobs are pending
                if client.status == "connecting":
                    if waiting_said != "connecting":
                        progress.note(f"lost the connection to the scheduler: trying to reconnect "
                                      f"(for {_reconnect_window(args)})")
                        waiting_said = "connecting"
                elif not waiting_said:
                    progress.note("no worker at the scheduler yet: waiting for one (Ctrl-C to stop)")
                    waiting_said = True
                time.sleep(0.5)
        if signals.count:
            return _stop(client, sweep_id, running, queued, results, cells, signals, progress)
        progress.clear()
        return 0
    finally:
        progress.clear()
        try:
            client.unsubscribe_topic(topic)
        except Exception:
            pass
        _close(client, cluster)


def _scheduler_lost(args, cells, results) -> str:
    """One line for a sweep whose Dask client lost its scheduler for good (it tries to reconnect
    for --connect-timeout seconds): it used to wait for workers forever."""
    done = sum(_counted(results.get(c["key"])) for c in cells)
    return (f"lost the Dask scheduler at {args.scheduler or 'the local cluster'} (no reconnection within "
            f"{_reconnect_window(args)}): {done}/{len(cells)} cells done, their results "
            f"kept in {Path(args.out) / 'sweep.csv'}; the others resume from their last checkpoints when the same "
            f"command runs again with a scheduler there")


def _reconnect_window(args) -> str:
    """How long the client tries to reconnect: --connect-timeout for --scheduler; the local
    cluster's client is made without it (Dask's ``distributed.comm.timeouts.connect``)."""
    if args.scheduler:
        return f"{args.connect_timeout:g} s, --connect-timeout"
    import dask
    return f"{dask.config.get('distributed.comm.timeouts.connect')}, Dask's connect timeout"


_CKPT_CACHE: dict = {}


def _checkpoint_state(folder):
    """The RunState saved in ``folder``'s checkpoint.npz, or None (none there, or unreadable)."""
    path = Path(folder) / "checkpoint.npz"
    if not path.exists():
        return None
    try:
        import numpy as np
        with np.load(path) as arrays:
            return RunState(**json.loads(str(arrays["meta"]))["state"])
    except Exception:
        return None


def _checkpoint_update(cell, cached=False) -> int:
    """The update a cell's checkpoint is at (0 without one): where it resumes."""
    if cached and cell["key"] in _CKPT_CACHE:
        return _CKPT_CACHE[cell["key"]]
    state = _checkpoint_state(cell["folder"])
    _CKPT_CACHE[cell["key"]] = update = state.update if state is not None else 0
    return update


def _wait(client, futures, timeout, return_when):
    """Wait for ``futures`` (at most ``timeout`` seconds; a timeout is no error)."""
    from distributed import wait
    try:
        with client.as_current():
            wait(list(futures), timeout=timeout, return_when=return_when)
    except Exception:                  # TimeoutError: nothing finished meanwhile
        time.sleep(0.05) if not any(f.done() for f in futures) else None


def _future_result(fut) -> dict:
    from distributed.scheduler import KilledWorker
    try:
        r = fut.result()
        if isinstance(r, dict):
            return r
        return {"outcome": f"error: the cell returned {type(r).__name__}", "final": False}
    except KilledWorker as e:
        return {"outcome": f"error: its worker died every time it ran it ({_one_line(e)})", "final": False}
    except Exception as e:                     # cancelled (client or scheduler lost), ...
        return {"outcome": f"lost ({_one_line(e)})", "lost": True, "final": False}


def _pack_results(fut, pack) -> list:
    """One result per cell of ``pack`` from its finished task (a failed task: the same for all)."""
    r = _future_result(fut)
    per = r.get("pack")
    if isinstance(per, list) and len(per) == len(pack) and all(isinstance(x, dict) for x in per):
        return per
    if per is not None:
        r = {"outcome": "error: the pack returned no result per cell", "final": False}
    return [r] * len(pack)


def _clean(r: dict, cell) -> dict:
    """A result for the table and the CSV; ``final`` False: an outcome of this sweep only (the
    cell's result.json was not written, and the table does not count it)."""
    r = {k: v for k, v in r.items() if k not in ("lost", "config", "code")}
    r.setdefault("final", False)
    r.setdefault("key", cell["key"])
    r.setdefault("name", cell["name"])
    r.setdefault("success", r.get("outcome") == "success")
    return r


def _stop(client, sweep_id, running, queued, results, cells, signals, progress) -> int:
    """Ctrl-C / SIGTERM: ask every running cell to stop (they checkpoint), wait for them (a
    second Ctrl-C stops waiting), and say so in one line."""
    first = signals.count
    try:
        client.run(_request_stop, sweep_id)
    except Exception:
        pass
    deadline = time.monotonic() + STOP_GRACE_S
    while running and signals.count == first and time.monotonic() < deadline:
        _wait(client, running, 0.25, "ALL_COMPLETED")
        if all(f.done() for f in running):
            break
    checkpointed = cut = 0
    for fut, pack in running.items():
        if not fut.done():
            cut += len(pack)
            continue
        for cell, r in zip(pack, _pack_results(fut, pack)):
            if r.get("final") or str(r.get("outcome", "")).startswith("error"):
                results[cell["key"]] = _clean(r, cell)            # an error: in the CSV, not counted
            elif r.get("outcome") == "interrupted":
                checkpointed += 1
            else:
                cut += 1
    done = sum(_counted(results.get(c["key"])) for c in cells)
    progress.clear()
    name = _signal_name(signals)
    line = (f"{LOG}: stopped by {name}: {checkpointed} running cell(s) checkpointed, {done}/{len(cells)} done, "
            f"{sum(len(p) for p in queued)} not started")
    if cut:
        line += f", {cut} not checkpointed (they resume from their last checkpoint)"
    print(line + "; run the same command again to continue", file=sys.stderr, flush=True)
    return _signal_status(signals)


def _signal_name(signals) -> str:
    return "SIGTERM" if signals.signum == signal.SIGTERM else "Ctrl-C"


def _signal_status(signals) -> int:
    return 143 if signals.signum == signal.SIGTERM else 130


def _close(client, cluster):
    for thing in (client, cluster):
        if thing is None:
            continue
        try:
            thing.close()
        except Exception:
            pass
