"""Celery tasks of task_scheduling: the thin firing tasks Beat sends. Each calls one service."""

from celery import shared_task
from django.db import DatabaseError, InterfaceError
from django.utils.dateparse import parse_datetime

from . import firing
from .beat_names import FIRE_DUE_TASK, FIRE_TASK


def _when(value):
    return parse_datetime(value) if value else None


# A database error rolls the whole batch back (nothing of it is committed), so retrying is safe: claims
# already won by someone else are refused, the others are won now.
@shared_task(name=FIRE_DUE_TASK, ignore_result=True, acks_late=True,
             autoretry_for=(DatabaseError, InterfaceError), retry_backoff=1, retry_backoff_max=30,
             retry_jitter=True, max_retries=8)
def fire_due(items):
    """items: [[schedule_id, due_at, sent_at?, since?], ...] (ISO 8601) sent by task_scheduling.beat.Scheduler."""
    return firing.schedules_fire(items=[
        firing.Item(int(raw[0]), parse_datetime(raw[1]), *(_when(v) for v in raw[2:4])) for raw in items])


@shared_task(name=FIRE_TASK, ignore_result=True, acks_late=True,
             autoretry_for=(DatabaseError, InterfaceError), retry_backoff=1, retry_backoff_max=30, max_retries=8)
def fire(schedule_id, brand_id=None):
    """One schedule's message when the stock DatabaseScheduler runs Beat instead of ours."""
    return firing.schedule_fire(schedule_id=int(schedule_id))
