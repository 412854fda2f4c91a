"""A minimal Celery app for the "plain Celery" variants of bench_pipeline.py.

Same Django settings, database and broker as the project (so the django_celery_results tables exist and
acks late, prefetch 1, task events, result_extended, the Redis transport and the worker consumer that
batches task events are the project's), but its own no-op tasks and no task_core pipeline. The worker is
`celery -A bench.plain_app worker`; `BENCH_PLAIN_VARIANT` picks:

- `shipped`: django-celery-results as shipped: CELERY_DB_REUSE_MAX unset, so Celery's Django fixup closes
  the DB connection before and after every task (a new PostgreSQL connection per task);
- `tuned`:   django-celery-results with CELERY_DB_REUSE_MAX (the project's setting, 1000 by default);
- `floor`:   no result backend at all; the task INCRs a Redis counter so the benchmark knows it ran.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")

from celery import Celery  # noqa: E402

VARIANT = os.environ.get("BENCH_PLAIN_VARIANT", "tuned")
COUNTER_KEY = "bench:pipeline:floor_done"

app = Celery("bench_plain")
app.config_from_object("django.conf:settings", namespace="CELERY")
if VARIANT == "shipped":
    # Celery's fixup reads CELERY_DB_REUSE_MAX; unset is the out-of-the-box behaviour.
    app.conf.update(CELERY_DB_REUSE_MAX=None)
if VARIANT == "floor":
    app.conf.update(result_backend=None, task_ignore_result=True)

_redis = None


@app.task(name="bench.noop")
def noop():
    """Stores its result (SUCCESS) through the configured backend: django-celery-results."""
    return None


@app.task(name="bench.noop_count", ignore_result=True)
def noop_count():
    """Stores nothing; counts itself in Redis (one INCR) so completion can be observed."""
    global _redis
    if _redis is None:  # one client per pool process, created after the fork
        import redis

        _redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    _redis.incr(COUNTER_KEY)
