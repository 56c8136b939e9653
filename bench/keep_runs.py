"""Carry long runs from one session's machine to the next (each session starts on a fresh
machine: only the repository survives).

    python bench/keep_runs.py save /work/runs bench/runs       # at the end of a session, then commit
                                                               # (rewrites the ledger in RESULTS.md too)
    python bench/keep_runs.py restore bench/runs /work/runs    # at the start of the next one

Kept for every run folder under the source (a sweep cell or a `minigrad train` folder): what a
resume and the result tables need -- cell.json, config.json, result.json, log.jsonl,
checkpoint.npz, best.npz --, the scripts and logs at the top, and text files anywhere (what
`minigrad evaluate` printed, kept beside its run).  Left behind: grad_norms.f32 /
.png (800 kB per 200,000 updates; a resumed run appends to a fresh one, so its record then starts
at the update it resumed from), snapshots/ and running.json.  `restore` never overwrites a newer
file.
"""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

KEEP = {"cell.json", "config.json", "result.json", "log.jsonl", "checkpoint.npz", "best.npz"}
TOP = {".sh", ".log", ".csv", ".png"}
ANYWHERE = {".txt"}


def copy(src: Path, dst: Path, only_newer: bool) -> int:
    n = 0
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        wanted = path.name in KEEP or path.suffix in ANYWHERE or (len(rel.parts) == 1 and path.suffix in TOP)
        if not path.is_file() or not wanted or "snapshots" in rel.parts:
            continue
        target = dst / rel
        if only_newer and target.exists() and target.stat().st_mtime >= path.stat().st_mtime:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
        n += 1
    return n


def main(argv) -> int:
    if len(argv) != 3 or argv[0] not in ("save", "restore"):
        print("usage: python bench/keep_runs.py save|restore SOURCE DESTINATION", file=sys.stderr)
        return 2
    what, src, dst = argv[0], Path(argv[1]), Path(argv[2])
    if not src.is_dir():
        print(f"keep_runs: {src} is not a folder", file=sys.stderr)
        return 2
    if what == "save" and dst.exists():
        shutil.rmtree(dst)                  # a cell that has gone from the source goes here too
    n = copy(src, dst, only_newer=what == "restore")
    print(f"keep_runs: {what}: {n} files from {src} to {dst}")
    if what == "save" and dst.resolve() == (Path(__file__).resolve().parent / "runs"):
        try:                                # the ledger in RESULTS.md follows the saved runs
            import ledger
        except ImportError as e:            # a Python without the project's packages
            print(f"keep_runs: the ledger was not rewritten ({e}): run `.venv/bin/python bench/ledger.py`",
                  file=sys.stderr)
            return 1
        return ledger.main(["--figure", str(Path(__file__).resolve().parents[1] / "docs" / "img" / "figure7_ledger.png")])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
