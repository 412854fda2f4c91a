"""Reads of calendars: the brand's calendars and the preview of what a calendar removes."""

from megahub.api.exceptions import related_not_found

from ..choices import ScheduleKind, ScheduleStatus
from ..models import TaskCalendar
from .cron import cron_preview


def calendar_queryset(*, brand):
    return TaskCalendar.objects.filter(brand=brand)


def calendar_of_brand(*, brand, calendar_id: int, field: str = "calendar") -> TaskCalendar:
    """The brand's calendar with this id, named in a request body: a 404 naming the field otherwise."""
    calendar = calendar_queryset(brand=brand).filter(pk=calendar_id).first()
    if calendar is None:
        raise related_not_found("No calendar with this id in this brand.", field)
    return calendar


def calendar_preview(*, calendar, count: int = 10) -> list[dict]:
    """For each active template using the calendar: its next runs and which the calendar removes."""
    out = []
    for template in calendar.schedule_templates.filter(is_active=True).exclude(kind=ScheduleKind.MANUAL):
        anchor = (template.schedules.filter(status=ScheduleStatus.ACTIVE).order_by("pk")
                  .values_list("anchor_at", flat=True).first())
        runs = cron_preview(timing=template.timing(anchor=anchor), count=count, calendar=calendar)
        out.append({"periodic_task_id": template.pk, "name": template.name, "runs": runs,
                    "removed": sum(r["excluded"] for r in runs)})
    return out
