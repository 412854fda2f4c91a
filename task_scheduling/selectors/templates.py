"""Reads of schedule templates."""

from django.db.models import Count, Min, Q

from ..choices import ScheduleStatus
from ..models import ScheduleTemplate


def template_queryset(*, brand):
    """The brand's templates with their schedule counts and next run."""
    return (ScheduleTemplate.objects.for_brand(brand).select_related("calendar", "created_by")
            .annotate(schedules_total=Count("schedules", distinct=True),
                      schedules_active=Count("schedules", filter=Q(schedules__status=ScheduleStatus.ACTIVE),
                                             distinct=True),
                      next_run=Min("schedules__next_run_at", filter=Q(schedules__status=ScheduleStatus.ACTIVE)))
            .order_by("name", "id"))


def next_run_of_template(*, template) -> object:
    """The earliest next run of the template's active schedules (None when none)."""
    return (template.schedules.filter(status=ScheduleStatus.ACTIVE, next_run_at__isnull=False)
            .order_by("next_run_at").values_list("next_run_at", flat=True).first())
