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
    the imports (NumPy, matplotlib: half a second) exits with status 130 and one line.  A Ctrl-C
    that lands inside a C extension's own import (NumPy importing ``datetime``) comes out as an
    ImportError that no longer carries the KeyboardInterrupt; the handler below notes the Ctrl-C,
    so that ImportError is said as the interruption it was."""
    import signal
    interrupted = []

    def on_ctrl_c(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        from .cli import main
    except (KeyboardInterrupt, ImportError):
        if not interrupted:
            raise
        print("minigrad: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
    return main()
