"""Reads of schedule templates."""

from django.db.models import Count, Min, OuterRef, Q, Subquery

from ..choices import ScheduleStatus
from ..models import Schedule, ScheduleTemplate


def template_queryset(*, brand):
    """The brand's templates with their schedule counts and next run."""
    return (ScheduleTemplate.objects.for_brand(brand).select_related("calendar", "created_by")
            .annotate(schedules_total=Count("schedules", distinct=True),
                      schedules_active=Count("schedules", filter=Q(schedules__status=ScheduleStatus.ACTIVE),
                                             distinct=True),
                      next_run=Min("schedules__next_run_at", filter=Q(schedules__status=ScheduleStatus.ACTIVE)))
            .order_by("name", "id"))


def template_executions_lookup(*, brand):
    """The brand's templates as their executions list reads them, in one statement: what an execution shows
    of its template (task type, connection id) and the next run of its statistics (`next_run`, as
    template_queryset annotates it), without the schedule counts, calendar and author of a template's
    representation."""
    next_run = _next_runs(Schedule.objects.filter(periodic_task=OuterRef("pk")))[:1]
    return (ScheduleTemplate.objects.for_brand(brand).only("id", "brand_id", "task_type", "connection_id")
            .annotate(next_run=Subquery(next_run)))


def _next_runs(schedules):
    """The next runs of the active ones of `schedules`, earliest first."""
    return (schedules.filter(status=ScheduleStatus.ACTIVE, next_run_at__isnull=False)
            .order_by("next_run_at").values("next_run_at"))


def next_run_of_template(*, template) -> object:
    """The earliest next run of the template's active schedules (None when none)."""
    return _next_runs(template.schedules.all()).values_list("next_run_at", flat=True).first()
