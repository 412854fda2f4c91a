"""Leftovers of earlier formats that nothing uses: Beat rows of a brand that no schedule claims (by its
`beat_name`) or whose name is not in the current scheme, and Celery result rows past their expiry."""

import json
from datetime import timedelta

from celery import current_app
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry
from django_celery_results.models import TaskResult

from ..beat_names import BEAT_PREFIX, FIRE_DUE_TASK, FIRE_TASK, schedule_id_of
from ..models import Schedule


def _brand_of(kwargs: str):
    try:
        data = json.loads(kwargs or "{}")
    except ValueError:
        return None
    return data.get("brand_id") if isinstance(data, dict) else None


def legacy_beat_entries(*, brand) -> list[dict]:
    """Rows that fire one of our tasks (or carry our name prefix) for this brand and that no schedule
    claims. A row a schedule claims is live, whatever its name, and is never listed."""
    claimed = set(Schedule.objects.filter(brand=brand).exclude(beat_name=None).values_list("beat_name", flat=True))
    ours = BeatEntry.objects.filter(Q(task__in=[FIRE_TASK, FIRE_DUE_TASK]) | Q(name__startswith=BEAT_PREFIX))
    found = []
    for name, task, kwargs, enabled in ours.values_list("name", "task", "kwargs", "enabled").order_by("name"):
        if name in claimed or _brand_of(kwargs) != brand.pk:
            continue  # live, or not this brand's (a row without a brand is not ours to judge)
        if schedule_id_of(name) is None or task != FIRE_TASK:
            reason = f"earlier format: name {name!r}, task {task!r}"
        else:
            reason = "no schedule claims it"
        found.append({"name": name, "task": task, "enabled": enabled, "reason": reason})
    return found


def expired_celery_results():
    """django-celery-results rows older than Celery's result_expires (ours store none: their results
    live on BaseTask)."""
    expires = current_app.conf.result_expires
    seconds = expires.total_seconds() if isinstance(expires, timedelta) else float(expires or 0)
    if seconds <= 0:
        return TaskResult.objects.none(), seconds
    return TaskResult.objects.filter(date_done__lt=timezone.now() - timedelta(seconds=seconds)), seconds
