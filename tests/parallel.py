"""pytest plugin (`-p tests.parallel`, pyproject.toml): keeps pytest-xdist's test processes apart.

`make test` runs the suite in 2 processes. pytest-django gives each its own test database; this gives each
its own Redis databases (broker and cache) and its own var folder (SQLite file, folder broker, beat
heartbeat, logs). It runs at import, before Django reads its settings, and writes the environment, so the
worker and beat processes a test starts inherit the same values.
"""

import os
from pathlib import Path

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, ... (xdist sets it before loading plugins)


def _shift_redis_db(url: str, by: int) -> str:
    """The same Redis server, database number + `by` (each process uses two: broker and cache)."""
    base, _, db = url.rstrip("/").rpartition("/")
    if not url.startswith(("redis://", "rediss://")) or not (db.isdigit() and "://" in base):
        return url
    return f"{base}/{(int(db) + by) % 16}"  # a default Redis has databases 0..15


if _WORKER.startswith("gw") and os.environ.get("MEGAHUB_PARALLEL_WORKER") != _WORKER:
    _n = int(_WORKER[2:])
    for _name in ("REDIS_URL", "CELERY_BROKER_URL", "CACHE_URL"):
        if os.environ.get(_name):
            os.environ[_name] = _shift_redis_db(os.environ[_name], 2 * _n)
    _var = Path(os.environ.get("MEGAHUB_VAR_DIR") or Path(__file__).resolve().parent.parent / "var" / "test")
    os.environ["MEGAHUB_VAR_DIR"] = str(_var / _WORKER)
    os.environ["MEGAHUB_PARALLEL_WORKER"] = _WORKER  # applied once: child processes inherit the result
