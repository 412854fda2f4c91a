"""The /tasks/ FilterSet. Other apps add their cross-app filters with `register_task_filter` from their
AppConfig.ready(), so core never imports them."""

import uuid
from datetime import UTC

import django_filters
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q

from megahub.api.exceptions import validation_error
from megahub.api.filters import ChoiceListFilter, FilterSet

from .choices import TaskPriority, TaskStatus
from .models import BaseTask
from .registry import all_task_types

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


class SearchFilter(django_filters.CharFilter):
    """A `search` text: at least TASK_SEARCH_MIN_LENGTH characters once stripped (`search_text`); the schema's
    pattern says the same (a non-space character, at least MIN - 2 more, a non-space character)."""

    @property
    def openapi_schema(self) -> dict:
        return {"pattern": rf"\S[\s\S]{{{settings.TASK_SEARCH_MIN_LENGTH - 2},}}\S"}


class TaskOrderingFilter(django_filters.OrderingFilter):
    """One ordering field; ordering by `completed_at` lists finished tasks only (the others have no
    completion time, and an index of finished tasks serves it)."""

    single_field = True  # the schema: one value, not a list

    def filter(self, qs, value):
        if value and len(value) > 1:
            raise validation_error("Order by one field.", self.field_name)
        if value and value[0].lstrip("-") == "completed_at":
            qs = qs.filter(completed_at__isnull=False)
        return super().filter(qs, value)


class TaskFilter(FilterSet):
    """Every filter and ordering here is served by an index of BaseTask in the list's order (newest
    first, or by completion), so a page reads about a page of rows at any size of the brand's list. What
    no index worth its cost to every status change would serve is not offered (ordering by priority,
    status, type, progress or start time; search shorter than 3 characters): docs/architecture.md."""

    status = ChoiceListFilter(
        values=lambda: [*TaskStatus.values, *STATUS_ALIASES], apply="filter_status",
        help_text="One or more statuses, comma-separated; `active` = unfinished, `finished` = done.",
    )
    # distinct=False: django-filter's default DISTINCT (for joins) would sort the whole list.
    priority = django_filters.MultipleChoiceFilter(choices=TaskPriority.choices, distinct=False)
    task_type = django_filters.CharFilter(field_name="task_type")
    search = SearchFilter(
        method="filter_search",
        help_text=f"At least {settings.TASK_SEARCH_MIN_LENGTH} characters: text in the description, part of a "
                  "registered task type's name, or the start of a task id (at least 4 hexadecimal digits).")
    created_at__gte = InRangeIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_at__lte = InRangeIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")
    ordering = TaskOrderingFilter(
        fields=("created_at", "completed_at"),
        help_text="One field, `-` for descending (default `-created_at`); `completed_at` lists finished tasks "
                  "only. Ordering by other fields is not offered: no index would serve it at scale.",
    )

    class Meta:
        model = BaseTask
        fields = []

    def filter_status(self, queryset, name, values):
        wanted: set[str] = set()
        for part in values:
            wanted.update(STATUS_ALIASES.get(part, [part]))
        return queryset.filter(status__in=wanted)

    def filter_search(self, queryset, name, value):
        value = search_text(value, name)
        return queryset.filter(search_condition(value)) if value else queryset


def search_text(value: str, name: str = "search") -> str:
    """The text of a `search` parameter, stripped; a 400 on `name` when it is shorter than
    TASK_SEARCH_MIN_LENGTH (a trigram index needs three characters), blank included."""
    value = value.strip()
    if len(value) < settings.TASK_SEARCH_MIN_LENGTH:
        raise validation_error(f"Search for at least {settings.TASK_SEARCH_MIN_LENGTH} characters.", name)
    return value


def description_contains(value: str) -> Q:
    """Tasks whose description contains `value`: the trigram index of non-empty descriptions (PostgreSQL)."""
    return ~Q(description="") & Q(description__icontains=value)


def task_types_containing(value: str) -> list[str]:
    """The registered task types whose name contains `value` (case-insensitive)."""
    return [t.name for t in all_task_types() if value.lower() in t.name.lower()]


def search_condition(value: str) -> Q:
    """What `search` matches, each part served by an index: the description (trigram index, PostgreSQL),
    the registered task types whose name contains it ((brand, task_type)), a task id starting with it
    (the unique index of task_id, as a range)."""
    condition = description_contains(value)
    types = task_types_containing(value)
    if types:
        condition |= Q(task_type__in=types)
    digits = value.replace("-", "").lower()
    if len(digits) >= 4 and len(digits) <= 32 and all(c in "0123456789abcdef" for c in digits):
        condition |= Q(task_id__gte=uuid.UUID(digits.ljust(32, "0")), task_id__lte=uuid.UUID(digits.ljust(32, "f")))
    return condition


def register_task_filter(name: str, filter_instance: django_filters.Filter) -> None:
    """Add a filter to /tasks/ (called by other apps from AppConfig.ready())."""
    TaskFilter.base_filters[name] = filter_instance
