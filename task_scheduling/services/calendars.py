"""Writes of calendars (excluded dates and weekly blackout windows)."""

from django.db import transaction

from megahub.read_cache import invalidate

from ..models import TaskCalendar
from ..validators import calendar_validate


@transaction.atomic
def calendar_create(*, brand, name: str, timezone: str = "UTC", excluded_dates=None, blackout_windows=None,
                    description: str = "") -> TaskCalendar:
    calendar = TaskCalendar(brand=brand, name=name, timezone=timezone, excluded_dates=excluded_dates or [],
                            blackout_windows=blackout_windows or [], description=description)
    calendar_validate(calendar=calendar)
    calendar.save()
    return calendar


@transaction.atomic
def calendar_update(*, calendar: TaskCalendar, **fields) -> TaskCalendar:
    for key, value in fields.items():
        setattr(calendar, key, value)
    calendar_validate(calendar=calendar)
    calendar.save()
    return calendar


@transaction.atomic
def calendar_delete(*, calendar: TaskCalendar) -> None:
    """Templates that used it keep running without exclusions (calendar set null)."""
    calendar.delete()
    invalidate([calendar.brand_id])
