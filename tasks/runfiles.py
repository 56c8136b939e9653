"""A run folder on disk: the log, the checkpoints, the gradient-norm record, written so that an
interrupted write never loses what was there before."""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

import minigrad as mg


def atomic_write(path, data: bytes) -> None:
    """Replace ``path`` by ``data`` all at once: readers see the old file or the new one, never a
    torn one.  The temporary file is created exclusively (``O_EXCL``) with an unpredictable
    name in the same folder, so a planted file or symlink there is never written through."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class RunFiles:
    """A run folder: ``config.json``, ``log.jsonl`` (one row per evaluation), ``checkpoint.npz``
    (the latest), ``best.npz`` (the checkpoint of the evaluation with the fewest errors so far:
    training can get worse again), ``grad_norms.f32`` (the gradient norm of every update),
    ``grad_norms.png``, and ``snapshots/`` (the checkpoint after 1, 2, 4, 8... evaluation periods).
    Files are replaced atomically, so an interrupted write never loses the previous one."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "log.jsonl"
        self.checkpoint_path = self.folder / "checkpoint.npz"

    def log(self, row: dict):
        with open(self.log_path, "a") as f:
            f.write(json.dumps({k: _jsonable(v) for k, v in row.items()}) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def checkpoint(self, trainer):
        tmp = self.checkpoint_path.with_suffix(".tmp.npz")
        mg.save(trainer.state_arrays(), tmp)
        os.replace(tmp, self.checkpoint_path)
        config = self.folder / "config.json"
        if not config.exists():
            config.write_text(json.dumps(asdict(trainer.config), indent=1))

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
        path = self.folder / name
        tmp = path.with_suffix(".tmp.npz")
        shutil.copyfile(self.checkpoint_path, tmp)
        os.replace(tmp, path)

    def append_norms(self, norms):
        """Append this period's gradient norms (one float32 per update) to grad_norms.f32."""
        if norms:
            values = mg.stack(norms).numpy().astype(np.float32)
            with open(self.folder / "grad_norms.f32", "ab") as f:
                values.tofile(f)

    def truncate_norms(self, updates: int):
        path = self.folder / "grad_norms.f32"
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
        plt.close(plots.from_run(self.folder, self.folder / "grad_norms.png"))

    def rows(self) -> list:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


def _jsonable(v):
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v
