"""Every query parameter of task_scheduling as a django-filter FilterSet: the lists of /tasks/scheduled/,
the options of its detail routes, and the filters this app contributes to core's /tasks/ list
(registered from AppConfig.ready())."""

import django_filters
from django import forms
from django.db.models import Q
from drf_spectacular.utils import extend_schema_field

from megahub.api.filters import BooleanFilter, BrandObjectFilter, ChoiceListFilter, FilterSet, IntegerFilter
from task_core.choices import TaskOrigin, TaskStatus
from task_core.filters import InRangeIsoDateTimeFilter, register_task_filter

from .choices import RunOutcome, ScheduleKind, ScheduleStatus
from .models import Schedule, ScheduleTemplate, TaskCalendar
from .querysets import run_outcome_in, run_task_status_in


class TemplateIdFilter(BrandObjectFilter):
    """`periodic_task`: only rows of this template (field_name: the path to its id). An id that is not one
    of the brand's templates (unknown, or another brand's) is a 404 naming the parameter, as an id in a
    request body is; never an empty 200 that would read as "it has no runs"."""

    def __init__(self, **kwargs):
        super().__init__(objects=lambda brand: ScheduleTemplate.objects.filter(brand=brand), noun="periodic task",
                         **kwargs)


TEMPLATE_ID_HELP = "Id of one of the brand's periodic tasks."


class IntegerOption(django_filters.Filter):
    """An integer query option; it filters nothing, the view reads it."""

    field_class = forms.IntegerField

    def filter(self, qs, value):
        return qs


def integer_option(*, minimum: int, maximum: int, description: str) -> IntegerOption:
    """An IntegerOption within bounds, documented with them."""
    schema = {"type": "integer", "minimum": minimum, "maximum": maximum, "description": description}
    option_class = extend_schema_field(schema)(type("BoundedIntegerOption", (IntegerOption,), {}))
    return option_class(min_value=minimum, max_value=maximum, help_text=description)


class ChoiceOption(django_filters.ChoiceFilter):
    """A choice query option; it filters nothing, the view reads it."""

    def filter(self, qs, value):
        return qs


class TemplateFilter(FilterSet):
    """GET /tasks/scheduled/periodic-tasks/."""

    is_active = BooleanFilter()
    kind = django_filters.ChoiceFilter(choices=ScheduleKind.choices)
    task_type = django_filters.CharFilter()
    connection_id = IntegerFilter(min_value=0, max_value=2147483647)
    search = django_filters.CharFilter(method="filter_search", help_text="Text in the name or description.")
    ordering = django_filters.OrderingFilter(
        fields=("name", "created_at", ("next_run", "next_run_at"), "id"),
        help_text="name, created_at or next_run_at (the earliest next run of its active schedules), "
                  "`-` for descending; default name.")

    class Meta:
        model = ScheduleTemplate
        fields = []

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(description__icontains=value))


class TemplateDetailOptions(FilterSet):
    """GET /tasks/scheduled/periodic-tasks/{id}/."""

    include = ChoiceOption(choices=[("stats", "stats")], help_text="stats: add its execution statistics.")

    class Meta:
        model = ScheduleTemplate
        fields = []


class ScheduleFilter(FilterSet):
    """GET /tasks/scheduled/schedules/."""

    status = django_filters.ChoiceFilter(choices=ScheduleStatus.choices)
    periodic_task = TemplateIdFilter(field_name="periodic_task_id", help_text=TEMPLATE_ID_HELP)

    class Meta:
        model = Schedule
        fields = []


class ScheduleDetailOptions(FilterSet):
    """GET /tasks/scheduled/schedules/{id}/."""

    events = integer_option(minimum=1, maximum=100, description="Recent events to include (1-100, default 20; "
                            "the newest 100 are kept).")

    class Meta:
        model = Schedule
        fields = []


class ExecutionFilter(FilterSet):
    """GET /tasks/scheduled/periodic-tasks/{id}/executions/ (runs of ScheduledRun; no Meta.model, because
    the route's view is the templates' and the OpenAPI generator checks the FilterSet against it)."""

    status = ChoiceListFilter(values=lambda: [*TaskStatus.values, *RunOutcome.values], apply="filter_status",
                              help_text="Task statuses or run outcomes, comma-separated.")
    due_at__gte = InRangeIsoDateTimeFilter(field_name="due_at", lookup_expr="gte")
    due_at__lte = InRangeIsoDateTimeFilter(field_name="due_at", lookup_expr="lte")

    def filter_status(self, queryset, name, wanted):
        # Task statuses and outcomes never share a name: one condition per kind asked for, each on the run's
        # own columns and indexes (querysets.run_task_status_in, run_outcome_in).
        condition = Q()
        if statuses := [s for s in wanted if s in TaskStatus.values]:
            condition |= run_task_status_in(statuses)
        if outcomes := [s for s in wanted if s in RunOutcome.values]:
            condition |= run_outcome_in(outcomes)
        return queryset.filter(condition)


class BrandExecutionFilter(ExecutionFilter):
    """GET /tasks/scheduled/executions/: every run of the brand."""

    task_type = django_filters.CharFilter(method="filter_task_type", help_text="The task type of the run.")
    periodic_task = TemplateIdFilter(field_name="periodic_task_id", help_text=TEMPLATE_ID_HELP)
    since = InRangeIsoDateTimeFilter(field_name="due_at", lookup_expr="gte", help_text="Due at or after.")
    until = InRangeIsoDateTimeFilter(field_name="due_at", lookup_expr="lte", help_text="Due at or before.")
    limit = integer_option(minimum=1, maximum=1000, description="At most this many runs (the newest), 1-1000.")

    def filter_task_type(self, queryset, name, value):
        return queryset.filter(Q(task__task_type=value) | Q(task__isnull=True, periodic_task__task_type=value))


class ExecutionStatsOptions(FilterSet):
    """GET /tasks/scheduled/executions/stats/: all the brand's runs, or one template's."""

    periodic_task = TemplateIdFilter(field_name="periodic_task_id", help_text=TEMPLATE_ID_HELP)


class RecentExecutionsOptions(FilterSet):
    """GET /tasks/scheduled/executions/recent/."""

    hours = integer_option(minimum=1, maximum=24 * 90, description="Runs due in the last N hours (default 24).")


class FailedExecutionsOptions(FilterSet):
    """GET /tasks/scheduled/executions/failed/."""

    days = integer_option(minimum=1, maximum=366, description="Failed runs due in the last N days (default 7).")


class SchedulerTaskFilter(FilterSet):
    """GET /api/v1/scheduler/tasks (the Russian reference's names)."""

    is_active = BooleanFilter(help_text="true|false.")
    connection_id = IntegerFilter(min_value=0, max_value=2147483647)

    class Meta:
        model = ScheduleTemplate
        fields = []


# The longest /api/v1/scheduler/executions answer: building a row costs about 0.15 ms, so that 200 rows keep
# to the lists' 30 ms (1,000, the earlier bound, took 180 ms at p95).
SCHEDULER_V1_LIMIT_MAX = 200


class SchedulerExecutionFilter(FilterSet):
    """GET /api/v1/scheduler/executions (the Russian reference's names; `limit` defaults to 100)."""

    connection_id = IntegerFilter(field_name="periodic_task__connection_id", min_value=0,
                                                max_value=2147483647)
    task_type = django_filters.CharFilter(method="filter_task_type")
    status_filter = ChoiceListFilter(values=lambda: [*TaskStatus.values, *RunOutcome.values], apply="filter_status",
                                     help_text="Task statuses or run outcomes, comma-separated.")
    limit = integer_option(minimum=1, maximum=SCHEDULER_V1_LIMIT_MAX,
                           description=f"At most this many executions, newest first (default 100, at most "
                                       f"{SCHEDULER_V1_LIMIT_MAX}: the answer is one array, built row by row; "
                                       "for more, page /tasks/scheduled/executions/ by cursor).")

    filter_task_type = BrandExecutionFilter.filter_task_type
    filter_status = ExecutionFilter.filter_status


class CalendarPreviewOptions(FilterSet):
    """GET /tasks/scheduled/calendars/{id}/preview/."""

    count = integer_option(minimum=1, maximum=100, description="Runs per template (1-100, default 10).")

    class Meta:
        model = TaskCalendar
        fields = []


class IsPeriodicFilter(BooleanFilter):
    """/tasks/?is_periodic=: whether the task was created by a schedule or a periodic task's run-now, i.e.
    its origin is `schedule` (only those create a ScheduledRun; signals.on_task_finished relies on it too).
    A column of the row the list's index walk reads anyway: it was an
    EXISTS on the runs, a semi-join whose planning alone cost more than the rest of the page's statement
    (docs/architecture.md, "Reads at scale")."""

    def filter(self, qs, value):
        if value is None:
            return qs
        scheduled = Q(origin=TaskOrigin.SCHEDULE)
        return qs.filter(scheduled if value else ~scheduled)


def register_task_filters() -> None:
    """The filters of core's /tasks/ list that read scheduling data."""
    register_task_filter("is_periodic", IsPeriodicFilter(
        help_text="true: only runs created by a schedule or run-now of a periodic task."))
    register_task_filter("periodic_task", TemplateIdFilter(
        field_name="scheduled_run__periodic_task_id",
        help_text="Only runs of this periodic task (id of one of the brand's periodic tasks; another id is a 404)."))
