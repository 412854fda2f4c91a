"""MEGAHUB's settings with task events off: only for bench_pipeline's BENCH_OURS_EVENTS=0, which compares
both sides with events off. MEGAHUB itself always runs its workers with events on (Flower needs them)."""

from megahub.settings import *  # noqa: F403

CELERY_WORKER_SEND_TASK_EVENTS = False
