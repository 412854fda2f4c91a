"""FilterSets of task_monitoring, and the filters it contributes to core's /tasks/ list."""

import django_filters
from django.db.models import Q

from task_core.choices import TaskStatus
from task_core.filters import InRangeIsoDateTimeFilter, register_task_filter

from .models import Alert, AlertState, TaskMetrics


def register_task_filters() -> None:
    register_task_filter("has_metrics", django_filters.BooleanFilter(
        field_name="metrics", lookup_expr="isnull", exclude=True,
        help_text="true: only tasks that ran and were measured."))
    register_task_filter("execution_time__gte", django_filters.NumberFilter(
        field_name="metrics__execution_time_ms", lookup_expr="gte", help_text="Execution time >= this (ms)."))
    register_task_filter("execution_time__lte", django_filters.NumberFilter(
        field_name="metrics__execution_time_ms", lookup_expr="lte", help_text="Execution time <= this (ms)."))
    register_task_filter("memory_usage_mb__gte", django_filters.NumberFilter(
        field_name="metrics__memory_usage_mb", lookup_expr="gte", help_text="Peak memory >= this (MB)."))
    register_task_filter("cost_usd__gte", django_filters.NumberFilter(
        field_name="metrics__cost_usd", lookup_expr="gte", help_text="Cost >= this (USD)."))


class TaskMetricsFilter(django_filters.FilterSet):
    task_type = django_filters.CharFilter(field_name="task_type")
    status = django_filters.MultipleChoiceFilter(field_name="status", choices=TaskStatus.choices)
    finished_at__gte = InRangeIsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_at__lte = InRangeIsoDateTimeFilter(field_name="finished_at", lookup_expr="lte")
    execution_time__gte = django_filters.NumberFilter(field_name="execution_time_ms", lookup_expr="gte")
    execution_time__lte = django_filters.NumberFilter(field_name="execution_time_ms", lookup_expr="lte")
    memory_usage_mb__gte = django_filters.NumberFilter(field_name="memory_usage_mb", lookup_expr="gte")
    cost_usd__gte = django_filters.NumberFilter(field_name="cost_usd", lookup_expr="gte")
    flag = django_filters.ChoiceFilter(method="filter_flag", choices=[(f, f) for f in ("high_memory", "slow",
                                                                                       "expensive")])
    search = django_filters.CharFilter(method="filter_search",
                                       help_text="Text in the task type, the task's description or the flags.")
    ordering = django_filters.OrderingFilter(fields=("finished_at", "execution_time_ms", "queue_wait_ms",
                                                     "cpu_time_ms", "memory_usage_mb", "cost_usd"))

    class Meta:
        model = TaskMetrics
        fields = []

    def filter_flag(self, queryset, name, value):
        return queryset.filter(flags__contains=value)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(task_type__icontains=value) | Q(flags__icontains=value)
                               | Q(task__description__icontains=value))


class AlertFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(
        method="filter_state", choices=[*AlertState.choices, ("all", "All")], empty_label=None,
        help_text="One state, or `all`; default: firing and acknowledged.")
    severity = django_filters.CharFilter(field_name="severity")
    rule = django_filters.NumberFilter(field_name="rule_id")

    class Meta:
        model = Alert
        fields = []

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("state"):
            queryset = queryset.filter(state__in=[AlertState.FIRING, AlertState.ACKNOWLEDGED])
        return super().filter_queryset(queryset)

    def filter_state(self, queryset, name, value):
        return queryset if value == "all" else queryset.filter(state=value)
