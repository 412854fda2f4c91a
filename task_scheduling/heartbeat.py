"""Beat's liveness: every tick that reached the database touches a file, and `manage.py beat_health`
(the compose health check of the beat service) reads its age.

A file and not a row: the check must run inside Beat's own container without a database round trip of
Beat's, and a tick that cannot reach the database must make the file go stale, so the check fails then.
"""

import os
import time
from pathlib import Path

from django.conf import settings


def _path() -> Path:
    return Path(settings.SCHEDULING_BEAT_HEARTBEAT)


def beat_alive() -> None:
    """Record that a tick just completed (create the file, or move its modification time to now)."""
    path = _path()
    try:
        os.utime(path)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def seconds_since_last_tick() -> float | None:
    """Age of the last completed tick, or None when Beat never completed one with this file."""
    try:
        return max(time.time() - _path().stat().st_mtime, 0.0)
    except FileNotFoundError:
        return None
