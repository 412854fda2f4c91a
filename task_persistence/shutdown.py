"""Tells a running job that its worker began a warm shutdown, so it stops at its next item boundary.

Celery runs `worker_shutting_down` in the worker's main process only, and a prefork pool child is sent no
signal on a warm shutdown (the main process just stops consuming and waits for the children's tasks).
So the main process passes the news on: it sends SIGUSR2 to each pool child, whose handler (installed at
`worker_process_init`) sets a flag; a job reads the flag at each item boundary, which costs nothing. With
the solo or threads pool the tasks run in the main process, which sets its own flag. A cold shutdown
kills the children: core's lost-run detection then finds the runs interrupted.
"""

import os
import signal
from contextlib import suppress

import psutil

NOTIFY_SIGNAL = signal.SIGUSR2
_requested = False


def requested() -> bool:
    """True once this process's worker began a warm shutdown."""
    return _requested


def _set_requested(*_args) -> None:
    global _requested
    _requested = True


def on_worker_process_init(**kwargs) -> None:
    """In each pool child: a warm-shutdown notice from the main process sets the flag."""
    signal.signal(NOTIFY_SIGNAL, _set_requested)


def on_worker_shutting_down(sender=None, how=None, **kwargs) -> None:
    """In the worker's main process, from Celery's signal handler."""
    if how != "Warm":
        return
    _set_requested()
    for child in psutil.Process().children():
        with suppress(OSError):  # exited meanwhile
            os.kill(child.pid, NOTIFY_SIGNAL)
