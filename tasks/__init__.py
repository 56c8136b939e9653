"""The paper's experiments: synthetic tasks (``synthetic``); training and the command line follow.

The names of ``synthetic`` (``get_task``, ``Sampler``, ...) are imported on first use, so that
importing this package costs nothing: the ``minigrad`` command (:func:`console`) imports the
rest inside its own Ctrl-C handling, and a Ctrl-C while NumPy is still loading ends in one line.
"""
import sys

_SYNTHETIC = ("TASKS", "Batch", "Sampler", "Task", "get_task")


def __getattr__(name):
    if name in _SYNTHETIC:
        from . import synthetic
        return getattr(synthetic, name)
    raise AttributeError(f"module 'tasks' has no attribute {name!r}")


def console() -> int:
    """The ``minigrad`` command: :func:`tasks.cli.main`, imported here so that a Ctrl-C during
    the imports (NumPy, matplotlib: half a second) exits with status 130 and one line."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        print("minigrad: interrupted", file=sys.stderr)
        return 130
    return main()
