"""FilterSets of task_monitoring, and the filters it contributes to core's /tasks/ list."""

import django_filters
from django.conf import settings
from django.db.models import Q

from megahub.api.filters import BooleanFilter, BrandObjectFilter, FilterSet, IntegerFilter
from task_core.choices import TaskStatus
from task_core.filters import (
    InRangeIsoDateTimeFilter,
    SearchFilter,
    description_contains,
    register_task_filter,
    search_text,
    task_types_containing,
)
from task_core.models import BaseTask

from .costs import FLAGS
from .models import Alert, AlertRule, AlertState, TaskMetrics

# `search` looks for its text in the descriptions of this many tasks at most (the newest that hold it).
DESCRIPTION_MATCHES = 1000


def register_task_filters() -> None:
    register_task_filter("has_metrics", BooleanFilter(
        field_name="metrics", lookup_expr="isnull", exclude=True,
        help_text="true: only tasks that ran and were measured."))
    register_task_filter("execution_time__gte", IntegerFilter(
        field_name="metrics__execution_time_ms", lookup_expr="gte", help_text="Execution time >= this (ms)."))
    register_task_filter("execution_time__lte", IntegerFilter(
        field_name="metrics__execution_time_ms", lookup_expr="lte", help_text="Execution time <= this (ms)."))
    register_task_filter("memory_usage_mb__gte", django_filters.NumberFilter(
        field_name="metrics__memory_usage_mb", lookup_expr="gte", help_text="Peak memory >= this (MB)."))
    register_task_filter("cost_usd__gte", django_filters.NumberFilter(
        field_name="metrics__cost_usd", lookup_expr="gte", help_text="Cost >= this (USD)."))


class TaskMetricsFilter(FilterSet):
    task_type = django_filters.CharFilter(field_name="task_type")
    status = django_filters.MultipleChoiceFilter(field_name="status", choices=TaskStatus.choices, distinct=False)
    finished_at__gte = InRangeIsoDateTimeFilter(field_name="finished_at", lookup_expr="gte")
    finished_at__lte = InRangeIsoDateTimeFilter(field_name="finished_at", lookup_expr="lte")
    execution_time__gte = IntegerFilter(field_name="execution_time_ms", lookup_expr="gte")
    execution_time__lte = IntegerFilter(field_name="execution_time_ms", lookup_expr="lte")
    memory_usage_mb__gte = django_filters.NumberFilter(field_name="memory_usage_mb", lookup_expr="gte")
    cost_usd__gte = django_filters.NumberFilter(field_name="cost_usd", lookup_expr="gte")
    flag = django_filters.ChoiceFilter(method="filter_flag", choices=[(f, f) for f in FLAGS])
    search = SearchFilter(
        method="filter_search",
        help_text=f"At least {settings.TASK_SEARCH_MIN_LENGTH} characters: part of a flag's name, of a registered "
                  f"task type's name, or text in the task's description (among the newest {DESCRIPTION_MATCHES} "
                  "tasks whose description holds it).")
    ordering = django_filters.OrderingFilter(
        fields=("finished_at", "execution_time_ms"),
        help_text="finished_at (default: newest first) or execution_time_ms, `-` for descending. Other columns "
                  "are not offered: no index would serve them at scale.")

    class Meta:
        model = TaskMetrics
        fields = []

    def filter_flag(self, queryset, name, value):
        return queryset.filter(flagged(value))

    def filter_search(self, queryset, name, value):
        """Each part through an index: flags (the partial index of flagged rows), task types (checked along
        the order's index: a type is never rare), descriptions (the tasks' trigram index, bounded)."""
        value = search_text(value, name)
        if not value:
            return queryset
        brand = getattr(self.request, "brand", None)
        described = BaseTask.objects.filter(description_contains(value), **({"brand": brand} if brand else {}))
        condition = Q(task_id__in=list(described.order_by("-created_at").values_list("pk", flat=True)
                                       [:DESCRIPTION_MATCHES]))
        types = task_types_containing(value)
        if types:
            condition |= Q(task_type__in=types)
        flags = [f for f in FLAGS if value.lower() in f]
        if flags:
            condition |= flagged(*flags)
        return queryset.filter(condition)


def flagged(*flags: str) -> Q:
    """Metrics rows carrying one of `flags`; `flags <> ''` lets the partial index of flagged rows serve it."""
    any_flag = Q()
    for flag in flags:
        any_flag |= Q(flags__contains=flag)
    return ~Q(flags="") & any_flag


class AlertFilter(FilterSet):
    state = django_filters.ChoiceFilter(
        method="filter_state", choices=[*AlertState.choices, ("all", "All")], empty_label=None,
        help_text="One state, or `all`; default: firing and acknowledged.")
    severity = django_filters.CharFilter(field_name="severity")
    rule = BrandObjectFilter(field_name="rule_id", objects=lambda brand: AlertRule.objects.filter(brand=brand),
                             noun="alert rule", help_text="Id of one of the brand's alert rules.")

    class Meta:
        model = Alert
        fields = []

    def filter_queryset(self, queryset):
        if not self.form.cleaned_data.get("state"):
            queryset = queryset.filter(state__in=[AlertState.FIRING, AlertState.ACKNOWLEDGED])
        return super().filter_queryset(queryset)

    def filter_state(self, queryset, name, value):
        return queryset if value == "all" else queryset.filter(state=value)
