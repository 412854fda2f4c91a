"""Next due times of schedules, computed once per distinct timing and written in bulk."""

from collections import defaultdict
from datetime import datetime

from megahub.iterables import chunked
from megahub.read_cache import invalidate

from ..models import Schedule, ScheduleTemplate


def next_run(template: ScheduleTemplate, schedule: Schedule, after: datetime, cache: dict | None = None):
    """The schedule's first due time after `after`; `cache` shares it among schedules of one timing."""
    timing = template.timing(anchor=schedule.anchor_at)
    if cache is None:
        return timing.next_after(after)
    if timing not in cache:
        cache[timing] = timing.next_after(after)
    return cache[timing]


def next_runs_save(schedules: list[Schedule]) -> None:
    """Write next_run_at: one UPDATE per distinct value (the schedules of a cron template share it), or a
    bulk update when they are many (interval schedules, each with its own anchor)."""
    invalidate({s.brand_id for s in schedules})
    by_value: dict = defaultdict(list)
    for s in schedules:
        by_value[s.next_run_at].append(s.pk)
    if len(by_value) > 20:
        Schedule.objects.bulk_update(schedules, ["next_run_at"], batch_size=1000)
        return
    for value, ids in by_value.items():
        for chunk in chunked(ids):
            Schedule.objects.filter(pk__in=chunk).update(next_run_at=value)
