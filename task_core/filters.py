"""The /tasks/ FilterSet. Other apps add their cross-app filters with `register_task_filter` from their
AppConfig.ready(), so core never imports them."""

from datetime import UTC

import django_filters
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Q, Value, When

from megahub.api.exceptions import validation_error

from .choices import TaskPriority, TaskStatus
from .models import BaseTask

STATUS_ALIASES = {"active": TaskStatus.unfinished(), "finished": TaskStatus.finished()}


class InRangeIsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 date-time that also exists in UTC: 9999-12-31T23:59-01:00 does not (the database
    layer would raise OverflowError converting it: a 500 instead of a 400)."""

    def to_python(self, value):
        parsed = super().to_python(value)
        if parsed is not None and parsed.tzinfo is not None:
            try:
                parsed.astimezone(UTC)
            except OverflowError:
                raise ValidationError("This date/time is out of range.", code="invalid") from None
        return parsed


class InRangeIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = InRangeIsoDateTimeField


class TaskFilter(django_filters.FilterSet):
    status = django_filters.CharFilter(
        method="filter_status",
        help_text="One or more statuses, comma-separated; `active` = unfinished, `finished` = done.",
    )
    priority = django_filters.MultipleChoiceFilter(choices=TaskPriority.choices)
    task_type = django_filters.CharFilter(field_name="task_type")
    search = django_filters.CharFilter(method="filter_search",
                                       help_text="Text in the task type, description or task id.")
    created_at__gte = InRangeIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at__lte = InRangeIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    ordering = django_filters.OrderingFilter(
        fields=("created_at", "completed_at", "started_at", ("priority_rank", "priority"), "status", "task_type",
                "progress_percentage", "id"),
        help_text="Comma-separated fields, `-` for descending; `priority` sorts low < normal < high < critical.",
    )

    class Meta:
        model = BaseTask
        fields = []

    def filter_queryset(self, queryset):
        # Priorities sort by rank, not alphabetically (critical, high, low, normal).
        rank = Case(*(When(priority=p, then=Value(i)) for i, p in enumerate(TaskPriority.values)),
                    output_field=IntegerField())
        return super().filter_queryset(queryset.annotate(priority_rank=rank))

    def filter_status(self, queryset, name, value):
        wanted: set[str] = set()
        for part in (p.strip() for p in value.split(",") if p.strip()):
            if part in STATUS_ALIASES:
                wanted.update(STATUS_ALIASES[part])
            elif part in TaskStatus.values:
                wanted.add(part)
            else:
                allowed = ", ".join([*TaskStatus.values, *STATUS_ALIASES])
                raise validation_error(f"Unknown status {part!r}; use one of {allowed}.", "status")
        return queryset.filter(status__in=wanted) if wanted else queryset  # "status=," filters nothing

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(task_type__icontains=value) | Q(description__icontains=value) | Q(task_id__icontains=value)
        )


def register_task_filter(name: str, filter_instance: django_filters.Filter) -> None:
    """Add a filter to /tasks/ (called by other apps from AppConfig.ready())."""
    TaskFilter.base_filters[name] = filter_instance
