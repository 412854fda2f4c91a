"""Lifecycle events of schedules: every event of the app is written through `events_add`, so the cap of
SCHEDULING_EVENTS_KEPT per schedule holds on every path."""

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef, Subquery

from megahub.iterables import chunked
from megahub.read_cache import invalidate

from ..models import ScheduleEvent


def event(schedule, event_type, *, actor=None, from_status="", to_status="", detail="", due_at=None,
          task_id=None) -> ScheduleEvent:
    """An unsaved event (written by `events_add`)."""
    return ScheduleEvent(schedule=schedule, event_type=event_type, actor=actor, from_status=from_status,
                         to_status=to_status, detail=detail[:2000], due_at=due_at, task_id=task_id)


def events_add(events: list[ScheduleEvent]) -> None:
    """Insert lifecycle events and keep only the newest SCHEDULING_EVENTS_KEPT of each schedule touched."""
    if not events:
        return
    ScheduleEvent.objects.bulk_create(events, batch_size=1000)
    invalidate({e.schedule.brand_id for e in events})  # every scheduling change writes an event
    events_trim(schedule_ids={e.schedule_id for e in events})


def events_trim(*, schedule_ids) -> int:
    """Keep the newest N events per schedule (N = SCHEDULING_EVENTS_KEPT).

    On PostgreSQL one statement: per schedule, an index scan of (schedule, -id) skips the newest N and
    deletes the rest, so the cost is ~N index entries per schedule whatever the history length.
    """
    keep = settings.SCHEDULING_EVENTS_KEPT
    deleted = 0
    for chunk in chunked(sorted(schedule_ids)):
        if connection.vendor == "postgresql":
            table = ScheduleEvent._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT e.id FROM unnest(%s::bigint[]) AS s(id) "
                    f"CROSS JOIN LATERAL (SELECT id FROM {table} WHERE schedule_id = s.id "
                    f"ORDER BY id DESC OFFSET %s) AS e)", [list(chunk), keep])
                deleted += cursor.rowcount
        else:
            nth = (ScheduleEvent.objects.filter(schedule_id=OuterRef("schedule_id")).order_by("-id")
                   .values("id")[keep - 1:keep])
            deleted += ScheduleEvent.objects.filter(schedule_id__in=chunk, id__lt=Subquery(nth)).delete()[0]
    return deleted
