"""Celery tasks of task_scheduling: the thin dispatcher Beat fires. Each calls one service."""

from celery import shared_task
from django.utils.dateparse import parse_datetime

from . import services


@shared_task(name="task_scheduling.dispatch", ignore_result=True, acks_late=True)
def dispatch(items):
    """items: [[schedule_id, due_at ISO 8601], ...] sent by task_scheduling.beat.Scheduler."""
    return services.schedule_dispatch(items=[(int(sid), parse_datetime(due)) for sid, due in items])


@shared_task(name="task_scheduling.fire", ignore_result=True, acks_late=True)
def fire(schedule_id, brand_id=None):
    """One schedule's message when the stock DatabaseScheduler runs Beat instead of ours."""
    return services.schedule_fire(schedule_id=int(schedule_id))
