"""Minimal Celery apps for the "plain Celery" variants of bench_pipeline.py.

Same Django settings, database and broker as the project (so the django_celery_results tables exist, and
acks late, prefetch 1, task events, result_extended and the queue layout are the project's), but their
own no-op tasks and no task_core pipeline. The worker is `celery -A bench.plain_app worker`;
`BENCH_PLAIN_VARIANT` picks the result backend:

- `shipped`: django-celery-results as shipped: CELERY_DB_REUSE_MAX unset, so Celery's Django fixup closes
  the DB connection before and after every task (a new PostgreSQL connection per task);
- `tuned`:   django-celery-results with CELERY_DB_REUSE_MAX (the project's setting, 1000 by default);
- `floor`:   no result backend at all; the task INCRs a Redis counter so the benchmark knows it ran.

and `BENCH_PLAIN_PARTS` the Celery parts:

- `stock` (default): Celery's own worker consumer and kombu's own Redis transport, as anyone running
  Celery has them: plain Celery;
- `megahub`: MEGAHUB's Redis transport (megahub/kombu_redis.py) and event-batching worker consumer
  (megahub/worker_consumer.py), so that ours against it is close to the cost of task_core's recording
  (our own app also reads its settings from a copy, megahub/celery.py; this one does not).

Task events are on, as for our workers (Flower sees both alike); `BENCH_PLAIN_EVENTS=0` turns them off,
Celery's default.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")

from celery import Celery  # noqa: E402

COUNTER_KEY = "bench:pipeline:floor_done"
PARTS = ("stock", "megahub")

_redis = None


def noop():
    """Stores its result (SUCCESS) through the configured backend: django-celery-results."""
    return None


def noop_count():
    """Stores nothing; counts itself in Redis (one INCR) so completion can be observed."""
    global _redis
    if _redis is None:  # one client per pool process, created after the fork
        import redis

        _redis = redis.Redis.from_url(os.environ["REDIS_URL"])
    _redis.incr(COUNTER_KEY)


def make_app(variant: str = "tuned", parts: str = "stock") -> Celery:
    if parts not in PARTS:
        raise ValueError(f"BENCH_PLAIN_PARTS must be one of {PARTS}, not {parts!r}")
    app = Celery(f"bench_plain_{parts}")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    if parts == "stock":
        app.conf.update(worker_consumer="celery.worker.consumer:Consumer", broker_transport=None)
    if os.environ.get("BENCH_PLAIN_EVENTS", "1") == "0":  # Celery's default: no task events (no Flower)
        app.conf.update(worker_send_task_events=False)
    if variant == "shipped":
        # Celery's fixup reads CELERY_DB_REUSE_MAX; unset is the out-of-the-box behaviour.
        app.conf.update(CELERY_DB_REUSE_MAX=None)
    if variant == "floor":
        app.conf.update(result_backend=None, task_ignore_result=True)
    app.task(name="bench.noop")(noop)
    app.task(name="bench.noop_count", ignore_result=True)(noop_count)
    return app


app = make_app(os.environ.get("BENCH_PLAIN_VARIANT", "tuned"), os.environ.get("BENCH_PLAIN_PARTS", "stock"))
