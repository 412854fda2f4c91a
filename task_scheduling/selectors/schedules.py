"""Reads of schedules and their lifecycle events."""

from ..models import Schedule, ScheduleEvent


def schedule_queryset(*, brand):
    return Schedule.objects.for_brand(brand).select_related("periodic_task")


def schedule_events(*, schedule, limit: int = 100) -> list[ScheduleEvent]:
    """The newest `limit` events of the schedule."""
    return list(ScheduleEvent.objects.filter(schedule=schedule).select_related("actor").newest()[:limit])


def ready_for_execution(*, brand, now=None):
    """The brand's active schedules due now, of active templates, soonest first."""
    return schedule_queryset(brand=brand).due(now).filter(periodic_task__is_active=True).order_by("next_run_at")
