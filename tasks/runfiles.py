"""A run folder on disk: the log, the checkpoints, the gradient-norm record, written so that an
interrupted write never loses what was there before, and no file is ever written through a
symbolic link planted in the folder."""
from __future__ import annotations

import io
import json
import math
import numbers
import os
import signal
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, fields, replace
from pathlib import Path

import numpy as np

import minigrad as mg


# The signals a run stops on cleanly (finish the update, checkpoint, exit 128 + the signal).
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM") if hasattr(signal, name))

_UMASK = os.umask(0o022)
os.umask(_UMASK)
_MODE = 0o666 & ~_UMASK                     # what open() would have given a new file


def atomic_write(path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once: readers see the old file or the new one, never a
    torn one.  The temporary file is created exclusively (``O_EXCL``) with an unpredictable
    name in the same folder, so a planted file or symlink there is never written through."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:                    # name the file being written, not the temporary one
        raise OSError(e.errno, e.strerror, str(path)) from None
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, _MODE)            # mkstemp's 0600 would hide the run from its readers
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if isinstance(e, OSError) and e.errno is not None:      # a full disk, a file-size limit...
            raise OSError(e.errno, e.strerror, str(path)) from None
        raise


def npz_bytes(arrays: dict) -> bytes:
    """The ``.npz`` file :func:`minigrad.save` writes for ``arrays`` (plain arrays, no pickle), as
    bytes, for :func:`atomic_write`."""
    arrays = {k: (v.numpy() if isinstance(v, mg.Tensor) else np.asarray(v)) for k, v in arrays.items()}
    for k, v in arrays.items():
        if v.dtype == object:
            raise TypeError(f"save: entry {k!r} is not a numeric array")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _append(path, data: bytes, sync: bool = False) -> None:
    """Append ``data`` to ``path`` (never through a symbolic link) as a whole or not at all: a
    write cut short (a full disk, a file-size limit) is undone, the file cut back to its length
    before, so that a reader never meets half a row; the error names ``path``.  A last line left
    torn by an earlier crash (no final newline) is dropped first: appended to, it would become a
    broken line in the middle of the log."""
    fd = _open_fd(path, os.O_RDWR | os.O_APPEND | os.O_CREAT)
    try:
        size = os.fstat(fd).st_size
        if data.endswith(b"\n") and size and os.pread(fd, 1, size - 1) != b"\n":
            size = _last_line_end(fd, size)
            os.ftruncate(fd, size)
            print(f"minigrad: note: {path}: dropped a torn last line (a write cut short by a crash)", file=sys.stderr)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if sync:
                os.fsync(fd)
        except OSError as e:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass
            raise OSError(e.errno, e.strerror, str(path)) from None
    finally:
        os.close(fd)


def _last_line_end(fd, size: int, block: int = 1 << 16) -> int:
    """The length of the file ``fd`` (``size`` bytes) up to and with its last newline (0 if none)."""
    end = size
    while end > 0:
        start = max(0, end - block)
        at = os.pread(fd, end - start, start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def _open_fd(path, flags):
    """``path`` opened with ``flags``, never through a symbolic link (``O_NOFOLLOW``)."""
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as e:
        if os.path.islink(path):
            raise ValueError(f"{path} is a symbolic link: refusing to write through it") from e
        raise OSError(e.errno, e.strerror, str(path)) from None


def _open_append(path):
    """``path`` opened for appending in binary, never through a symbolic link (``O_NOFOLLOW``)."""
    return os.fdopen(_open_fd(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT), "ab")


class RunFiles:
    """A run folder: ``config.json``, ``log.jsonl`` (one row per evaluation; a run that diverged
    ends with a row ``{"update", "outcome", "wall_time"}`` instead), ``checkpoint.npz`` (the
    latest; its state's ``outcome`` says how the run ended), ``best.npz`` (the checkpoint of the
    evaluation with the fewest errors so far: training can get worse again), ``grad_norms.f32``
    (the gradient norm of every update), ``grad_norms.png``, and ``snapshots/`` (the checkpoint
    after 1, 2, 4, 8... evaluation periods).  Files are replaced atomically (:func:`atomic_write`),
    so an interrupted write never loses the previous one; the two files that grow (the log and
    the norms) are appended to, never through a symbolic link."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "log.jsonl"
        self.checkpoint_path = self.folder / "checkpoint.npz"
        self._latest = None                     # the bytes of the checkpoint just written

    def log(self, row: dict):
        """Append ``row`` to log.jsonl as one line, whole or not at all (:func:`_append`)."""
        _append(self.log_path, (json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n").encode(), sync=True)

    def checkpoint(self, trainer):
        """checkpoint.npz of ``trainer``; config.json (written once) also names the BLAS the
        run started with (:func:`blas_info`: float32 trajectories depend on it)."""
        first = not (self.folder / "config.json").exists()
        self.write_checkpoint(trainer.state_arrays(), asdict(trainer.config), {"blas": blas_info()} if first else None)

    def write_checkpoint(self, arrays: dict, config: dict, extra: dict | None = None):
        """Replace checkpoint.npz by ``arrays`` (refusing non-finite weights: the checkpoint on
        disk stays the last finite one), and write config.json (``config``, then ``extra``) if the
        folder has none."""
        bad = [k for k, v in arrays.items() if np.asarray(v).dtype.kind in "fc" and not np.isfinite(v).all()]
        if bad:
            raise ValueError(f"refusing to write non-finite weights ({', '.join(bad)}) over {self.checkpoint_path}")
        self._latest = npz_bytes(arrays)
        atomic_write(self.checkpoint_path, self._latest)
        config_path = self.folder / "config.json"
        if not config_path.exists() or config_path.is_symlink():
            atomic_write(config_path, json.dumps({**config, **(extra or {})}, indent=1).encode())

    def record_outcome(self, outcome: str, arrays=None):
        """Set ``outcome`` in checkpoint.npz's run state, its weights untouched; with no
        checkpoint yet, ``arrays()`` (a function) gives the one to write."""
        if self.checkpoint_path.exists():
            arrays = mg.load(self.checkpoint_path)
        elif arrays is None:
            return
        else:
            arrays = arrays()
        meta = json.loads(str(arrays["meta"]))
        meta["state"]["outcome"] = outcome
        arrays["meta"] = np.array(json.dumps(meta))
        self.write_checkpoint(arrays, meta["config"])

    def snapshot(self, trainer):
        """Keep a copy of the checkpoint at updates 1, 2, 4, 8... evaluation periods, so that
        a run can be looked at at several points of its training (``minigrad jacobian``)."""
        periods = trainer.state.update // trainer.config.eval_every
        if periods >= 1 and periods & (periods - 1) == 0:
            (self.folder / "snapshots").mkdir(exist_ok=True)
            self.keep_copy(f"snapshots/checkpoint_{trainer.state.update:08d}.npz")

    def keep_copy(self, name: str):
        """Copy the checkpoint just written to ``name`` in the run folder (atomically): the
        weights are read off the device once per evaluation, not once per file."""
        data = self._latest if self._latest is not None else self.checkpoint_path.read_bytes()
        atomic_write(self.folder / name, data)

    def restore_copy(self, name: str, update: int) -> bool:
        """Before a resume: a run killed between writing checkpoint.npz and copying it to
        ``name`` (best.npz, a snapshot) left ``name`` missing or older than it should be.  If
        ``name`` should hold the checkpoint of ``update`` and does not, while checkpoint.npz is of
        ``update``, copy it now (True); otherwise leave it."""
        target = self.folder / name
        if checkpoint_update(target) == update or checkpoint_update(self.checkpoint_path) != update:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(target, self.checkpoint_path.read_bytes())
        return True

    def append_norms(self, norms):
        """Append this period's gradient norms (one float32 per update; device scalars or a host
        array) to grad_norms.f32."""
        if len(norms):
            with np.errstate(over="ignore"):          # a norm beyond float32 is recorded as inf
                values = (norms if isinstance(norms, np.ndarray) else mg.stack(norms).numpy()).astype(np.float32)
            _append(self.folder / "grad_norms.f32", values.tobytes())

    def truncate_norms(self, updates: int):
        path = self.folder / "grad_norms.f32"
        if path.is_symlink():
            raise ValueError(f"{path} is a symbolic link: refusing to write through it")
        if path.exists() and path.stat().st_size > 4 * updates:
            with open(path, "r+b") as f:
                f.truncate(4 * updates)

    def plot(self, force: bool = False, every_seconds: float = 30.0):
        """Redraw grad_norms.png (at most every ``every_seconds`` unless ``force``)."""
        now = time.monotonic()
        if not force and now - getattr(self, "_plotted", -1e9) < every_seconds:
            return
        self._plotted = now
        if not (self.folder / "grad_norms.f32").exists():
            return
        import matplotlib.pyplot as plt

        from viz import plots
        fig = plots.from_run(self.folder)
        try:
            png = io.BytesIO()
            fig.savefig(png, dpi=110, format="png")
        finally:
            plt.close(fig)
        atomic_write(self.folder / "grad_norms.png", png.getvalue())

    def read_log(self) -> tuple[list, list, str | None]:
        """``(rows, lines, torn)``: the log's rows, their lines as written, and the last line if
        it is not a JSON row (a write cut short by a crash), else None.  Any other line that is
        not JSON is an error."""
        if not self.log_path.exists():
            return [], [], None
        lines = [line for line in self.log_path.read_bytes().decode("utf-8", "replace").split("\n") if line.strip()]
        rows, torn = [], None
        for i, line in enumerate(lines):
            try:
                rows.append(json.loads(line))
            except ValueError as e:
                if i == len(lines) - 1:
                    torn = line
                    lines = lines[:-1]
                else:
                    raise ValueError(f"{self.log_path}: line {i + 1} is not a JSON row ({e})") from None
        return rows, lines, torn

    def rows(self) -> list:
        """The log's rows (a torn last line, the mark of a crash mid-write, left out)."""
        return self.read_log()[0]

    def rewrite_log(self, lines):
        atomic_write(self.log_path, "".join(line + "\n" for line in lines).encode())

    def trim_log(self, update: int):
        """Before a resume from the checkpoint of ``update``: drop the log rows written after it
        (and a torn last line, said on stderr), so the resumed run writes them again."""
        rows, lines, torn = self.read_log()
        if torn is not None:                                          # a crash cut the last write short
            print(f"minigrad: note: {self.log_path}: dropped a torn last line ({torn[:40]!r}...)", file=sys.stderr)
        kept = [line for row, line in zip(rows, lines) if row["update"] <= update]
        if torn is not None or len(kept) < len(lines):
            self.rewrite_log(kept)


def checkpoint_update(path) -> int | None:
    """The update a checkpoint (an .npz whose "meta" holds its run state) was written at; None if
    there is no such file or it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            return int(json.loads(str(arrays["meta"]))["state"]["update"])
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return None


# --------------------------------------------------------------------------- what a command is given
class RunError(ValueError):
    """A run cannot start or resume as asked (bad setting, existing folder, foreign checkpoint)."""


BLAS_FIELDS = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")


def blas_info() -> list:
    """The BLAS and OpenMP libraries this process has loaded, as ``threadpoolctl`` sees them
    (internal_api, version, CPU kernel ``architecture``, ``num_threads`` now, ...).  A float32 run's trajectory depends on them: the library, its kernel
    and its thread count order the sums of a matrix product differently, and training is
    chaotic (the same sweep pack measured 1,950/1,600/750 updates to success with one OpenBLAS
    thread, 2,150/1,650/500 with two)."""
    from threadpoolctl import threadpool_info
    return [{k: lib[k] for k in BLAS_FIELDS if k in lib} for lib in threadpool_info()]


def count(value) -> bool:
    """A whole number of 1 or more (sizes, budgets, periods)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def natural(value) -> bool:
    """A whole number of 0 or more (seeds, delays, limits where 0 means none)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 0


def seed_value(value) -> bool:
    """A seed NumPy's generators take: a whole number from 0 to 2^63 - 1."""
    return natural(value) and value < 2 ** 63


def positive(value) -> bool:
    """A finite number above 0 (rates, thresholds, scales)."""
    return isinstance(value, numbers.Real) and value > 0 and math.isfinite(value)


def require(config, names, ok, allowed: str) -> None:
    """Refuse, in one line, the first setting among ``names`` (fields of ``config``) whose value
    ``ok`` does not accept: ``--batch-size must be at least 1, got 0``."""
    for name in names:
        value = getattr(config, name)
        if not ok(value):               # a string "4" from an edited file is said as '4'
            said = value if isinstance(value, numbers.Number) else repr(value)
            raise RunError(f"--{name.replace('_', '-')} must be {allowed}, got {said}")


def check_checkpoint(path) -> Path:
    """A checkpoint argument names an existing file (else one line saying what to give)."""
    p = Path(path)
    if p.is_dir():
        hint = f" such as {p / 'checkpoint.npz'}" if (p / "checkpoint.npz").exists() else ""
        raise RunError(f"{path} is a folder: give a checkpoint file{hint}")
    if not p.exists():
        raise RunError(f"{path}: no such checkpoint (a run folder's checkpoint.npz or best.npz, "
                       "written by minigrad train)")
    if not p.is_file():                 # a FIFO or a device would be read forever
        raise RunError(f"{path} is not a regular file: give a checkpoint file (a run folder's checkpoint.npz "
                       "or best.npz, written by minigrad train)")
    return p


def check_out_folder(path, flag: str = "--out", label=None) -> Path:
    """``path`` is, or can be made as, a folder this process can write in."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunError(f"{label} cannot be made: {path} is a file, not a folder" if label
                       else f"{flag} {path} is a file, not a folder")
    if path.is_symlink() and not path.exists():     # else "File exists" when it is made
        raise RunError(f"{label or flag + ' ' + str(path)} cannot be made: {path} is a symbolic link to "
                       f"{os.readlink(path)}, which does not exist")
    label = label or f"{flag} {path}"
    parent = path
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise RunError(f"{label} cannot be made: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        try:
            read_only = bool(os.statvfs(parent).f_flag & os.ST_RDONLY)
        except (AttributeError, OSError):
            read_only = False
        raise RunError(f"{label} cannot be written: {parent} is on a read-only filesystem" if read_only else
                       f"{label} cannot be written: no permission to write in {parent}")
    return path


def check_out_file(path, flag: str = "--out", example: str = "graph.svg") -> Path:
    """``path`` names a file that can be written (its folder is made if need be); ``example`` is
    the file name suggested inside it when it is a folder."""
    path = Path(path)
    if path.is_dir():
        raise RunError(f"{flag} {path} is a folder: give a file name, such as {path / example}")
    if path.exists() and not os.access(path, os.W_OK):
        raise RunError(f"{flag} {path} cannot be written: no permission")
    check_out_folder(path.parent, label=f"{flag} {path}")
    return path


def read_run_checkpoint(path, kind: str, config_cls, state_cls, command: str, config=None):
    """``(arrays, config, state)`` of a checkpoint written by ``command``, whose "meta" array holds
    its ``kind``, config and state as JSON.  Given ``config``, a checkpoint of another run is
    refused (only the settings in ``config_cls.CHANGEABLE`` may differ; they are taken from
    ``config``)."""
    arrays = mg.load(path)
    try:
        meta = json.loads(str(arrays["meta"]))
        assert meta["kind"] == kind
        saved, state = config_cls(**meta["config"]), state_cls(**meta["state"])
    except (KeyError, ValueError, TypeError, AssertionError):
        raise RunError(f"{path} is not a checkpoint of {command}") from None
    if config is not None:
        diff = [f"{f.name}: checkpoint {getattr(saved, f.name)!r}, asked {getattr(config, f.name)!r}"
                for f in fields(saved) if f.name not in config_cls.CHANGEABLE
                and getattr(saved, f.name) != getattr(config, f.name)]
        if diff:
            raise RunError(f"{path} is from another run: " + "; ".join(diff))
        saved = replace(saved, **{name: getattr(config, name) for name in config_cls.CHANGEABLE})
    return arrays, saved, state


def part(arrays: dict, prefix: str) -> dict:
    """The arrays saved under ``prefix.``, without it (a module's or optimizer's state dict)."""
    return {k[len(prefix) + 1:]: v for k, v in arrays.items() if k.startswith(prefix + ".")}


def refuse_resume_with_force(out, resume: bool, force: bool) -> None:
    """--resume continues the runs in ``out``, --force deletes them: both at once is refused."""
    if resume and force:
        raise RunError("--resume and --force contradict each other: --resume continues the runs in "
                       f"{out}, --force deletes them and starts over; pass one of them")


def refuse_another_commands_run(out, kind: str, command: str) -> None:
    """Refuse, in one line, to start a run of ``kind`` (a key of natural.CHECKPOINT_MAKERS) in a
    folder that holds another command's run: --force would delete that run (and leave its other
    files beside the new one's), --resume cannot continue it."""
    from .natural import CHECKPOINT_MAKERS, checkpoint_maker
    path = Path(out) / "checkpoint.npz"
    if not path.is_file():
        return
    try:
        made = checkpoint_maker(path)
    except mg.CheckpointError:                  # damaged: the command's own reading says so
        return
    if made is not None and made != kind:
        raise RunError(f"{out} holds a run of {CHECKPOINT_MAKERS[made]}: {command} cannot continue it, and "
                       "--force would delete it; give another --out")


def open_run(out, resume: bool, force: bool, made=("checkpoint.npz", "log.jsonl", "config.json")) -> Path | None:
    """Where a training command starts, in ``out``: with ``resume``, the checkpoint to continue
    from (it must exist); else None, after refusing a folder that already holds a run unless
    ``force``, which deletes the files a run makes (``made``) and any leftover temporary file."""
    out = check_out_folder(out)
    checkpoint = out / "checkpoint.npz"
    refuse_resume_with_force(out, resume, force)
    if resume:
        if not checkpoint.exists():
            raise RunError(f"--resume: {out} holds no checkpoint.npz to resume from")
        return checkpoint
    if checkpoint.exists() or (out / "log.jsonl").exists():
        if not force:
            raise RunError(f"{out} already holds a run: pass --resume to continue it or --force to start over")
        for name in made:
            (out / name).unlink(missing_ok=True)
        for old in out.glob(".*.tmp"):                  # atomic_write's, left by a killed run
            old.unlink()
    return None


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v


def require_finite(model, path, advice: str) -> None:
    """Refuse, in one line, to inspect or draw a model whose weights hold NaN or inf (a run that
    diverged, or an edited file): "<path>: the model's weights are not finite (W_rec: 1 NaN);
    a run that diverged cannot be inspected: <advice>".  A one-layer model's parameters are
    named without their "layers.0." prefix."""
    one_layer = len(getattr(model, "layers", ())) <= 1
    bad = []
    for name, p in model.named_parameters():
        w = np.asarray(p.numpy())
        nan, inf = int(np.isnan(w).sum()), int(np.isinf(w).sum())
        if nan or inf:
            what = ", ".join(f"{n} {k}" for n, k in ((nan, "NaN"), (inf, "inf")) if n)
            bad.append(f"{name.removeprefix('layers.0.') if one_layer else name}: {what}")
    if bad:
        raise RunError(f"{path}: the model's weights are not finite ({'; '.join(bad)}); a run that diverged "
                       f"cannot be inspected: {advice}")
