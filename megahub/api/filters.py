"""Strict query parameters: a list refuses a parameter it does not know, with a 400 naming it.

Silently ignoring an unknown filter returns the whole list to a client that believes it filtered (a
misspelt `stauts=failed`, a filter of an app that is not installed). `StrictFilterBackend` is the
project's DEFAULT_FILTER_BACKENDS, so every list of every app gets the check. A list knows:
- the filters of its FilterSet (`filterset_class`, including filters other apps registered on it);
- its paginator's parameters (`page`, `page_size`) and DRF's `format`;
- what the view declares in `extra_query_params`, for parameters it reads itself.
A detail route (a viewset action with detail=True) is not checked here: its own parameters are the
view's business; a list served by such an action calls `refuse_unknown_query_params` itself.

The filters here accept exactly what the OpenAPI schema says (megahub/api/schema.py documents each
filter's bounds): `BooleanFilter` takes `true` or `false` only, `IntegerFilter` whole numbers only,
`BrandObjectFilter` the id of one of the brand's objects (another id is a 404 naming the parameter). An
empty query parameter (`?status=`) is a 400 on any brand-scoped call (`refuse_empty_query_params`).
"""

import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django_filters import utils
from django_filters.filters import QuerySetRequestMixin
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema_field
from rest_framework.settings import api_settings

from .exceptions import related_not_found, validation_error

MAX_ID = 2**63 - 1  # a bigint: a larger id names nothing


class FilterSet(django_filters.FilterSet):
    """django-filter's FilterSet, its form class built once: django-filter builds it, and every filter's form
    field (labels, widgets, choices), on every request. Rebuilt when the filters change (another app
    registered one); a FilterSet with a filter whose form field depends on the request (a model choice of
    the request's brand) keeps building it per request. Every FilterSet of the project derives from it."""

    # {FilterSet class: (its filters' identity, form class)}
    _form_classes: dict = {}

    def get_form_class(self):
        cls = type(self)
        key = tuple((name, id(f)) for name, f in cls.base_filters.items())
        cached = FilterSet._form_classes.get(cls)
        if cached is not None and cached[0] == key:
            return cached[1]
        form_class = super().get_form_class()
        if not any(isinstance(f, QuerySetRequestMixin) for f in self.filters.values()):
            FilterSet._form_classes[cls] = (key, form_class)
        return form_class


class StrictBooleanField(forms.Field):
    """`true` or `false` (JSON's spelling, as the schema's boolean is written in a query), nothing else."""

    def to_python(self, value):
        if value in (None, ""):
            return None
        if value in ("true", "false"):
            return value == "true"
        raise ValidationError("Use true or false.", code="invalid")


class BooleanFilter(django_filters.BooleanFilter):
    """A boolean query parameter: `true` or `false`; anything else is a 400 (django-filter's own would read
    an unknown value as "not given" and return the whole list)."""

    field_class = StrictBooleanField


class IntegerFilter(django_filters.NumberFilter):
    """A whole number (django-filter's NumberFilter takes decimals, 0.5 included), up to a bigint."""

    field_class = forms.IntegerField

    def get_max_validator(self):
        return None if "max_value" in self.extra else MaxValueValidator(MAX_ID)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class BrandObjectFilter(django_filters.Filter):
    """The id of one of the brand's objects (`objects(brand)` lists them); filters `field_name` by it. An id
    that is not one of them, unknown or another brand's, is a 404 naming the parameter, never an empty 200
    that would read as "it has none"."""

    field_class = forms.IntegerField

    def __init__(self, *, objects: Callable, noun: str, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
        self.objects, self.noun = objects, noun

    def filter(self, qs, value):
        if value is None:
            return qs
        brand = getattr(getattr(self.parent, "request", None), "brand", None)
        if brand is not None and not self.objects(brand).filter(pk=value).exists():
            name = next((n for n, f in self.parent.filters.items() if f is self), self.field_name)
            raise related_not_found(f"No {self.noun} with id {value} in this brand.", name)
        return qs.filter(**{self.field_name: value})

PAGINATION_PARAMETERS = ("page_query_param", "page_size_query_param", "limit_query_param",
                         "offset_query_param", "cursor_query_param")


def _filter_parameters(filterset_class) -> Iterable[str]:
    """The query parameters of a FilterSet: one per filter, or one per suffix of a multi-part widget
    (a range's `_min` / `_max`)."""
    for name, filter_ in filterset_class.base_filters.items():
        # The widget class, not the filter's form field: building that on the shared base filter would make
        # every FilterSet instance deep-copy it.
        widget = filter_.extra.get("widget") or filter_.field_class.widget
        suffixes = getattr(widget, "suffixes", None)
        yield from ([f"{name}_{s}" if s else name for s in suffixes] if suffixes else [name])


def known_query_parameters(view, filterset_class=None) -> set[str]:
    known = {api_settings.URL_FORMAT_OVERRIDE}
    paginator = getattr(view, "paginator", None)
    if paginator is not None:
        known.update(getattr(paginator, attr, None) for attr in PAGINATION_PARAMETERS)
    if filterset_class is not None:
        known.update(_filter_parameters(filterset_class))
    known.update(getattr(view, "extra_query_params", ()))
    known.discard(None)
    return known


def _multi_valued(filterset_class) -> set[str]:
    """The filters that take a parameter given several times (`?status=a&status=b`)."""
    if filterset_class is None:
        return set()
    return {name for name, filter_ in filterset_class.base_filters.items()
            if getattr(filter_.extra.get("widget") or filter_.field_class.widget, "allow_multiple_selected", False)}


def refuse_unknown_query_params(request, view, filterset_class=None) -> None:
    """Raise a 400 VALIDATION_ERROR naming each query parameter the list does not know, and each one given
    several times that takes one value (which of them would count is nobody's guess)."""
    known = known_query_parameters(view, filterset_class)
    unknown = sorted(name for name in request.query_params if name not in known)
    if unknown:
        accepted = f"Unknown query parameter; this list accepts: {', '.join(sorted(known))}."
        raise validation_error(f"Unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.",
                               field_errors={name: [accepted] for name in unknown})
    multi = _multi_valued(filterset_class)
    repeated = sorted(name for name, values in request.query_params.lists() if len(values) > 1 and name not in multi)
    if repeated:
        raise validation_error(f"Given more than once: {', '.join(repeated)}.",
                               field_errors={name: ["This parameter takes one value."] for name in repeated})


def choice_list_pattern(values: Iterable[str]) -> str:
    """The pattern of a comma-separated list of `values` (`failed, cancelled`: spaces around an item are
    allowed), as the schema states it."""
    item = " *(" + "|".join(re.escape(v) for v in sorted(values, key=lambda v: (-len(v), v))) + ") *"
    return f"^{item}(,{item})*$"


def parse_choice_list(value: str, values: Iterable[str], name: str) -> list[str]:
    """The items of a comma-separated list of `values`, or a 400 naming the parameter (an empty item or an
    unknown value: what `choice_list_pattern` does not match)."""
    values = list(values)
    if re.search(choice_list_pattern(values), value) is None:
        unknown = next((p for p in value.split(",") if p.strip(" ") not in values), value)
        raise validation_error(f"Unknown {unknown!r}; give one or more of {', '.join(values)}, comma-separated.",
                               name)
    return [item.strip(" ") for item in value.rstrip("\n").split(",")]


class ChoiceListFilter(django_filters.CharFilter):
    """A comma-separated list of `values` (`?status=failed,cancelled`), filtered by the FilterSet's method
    named `apply` (queryset, name, list of values). Its schema is a string with the pattern of such a list."""

    def __init__(self, *, values: Callable[[], Iterable[str]], apply: str, **kwargs):
        super().__init__(**kwargs)
        self.values, self.apply = values, apply

    @property
    def openapi_schema(self) -> dict:
        return {"type": "string", "pattern": choice_list_pattern(self.values())}

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        name = next((n for n, f in self.parent.filters.items() if f is self), self.field_name)
        return getattr(self.parent, self.apply)(qs, name, parse_choice_list(value, self.values(), name))


def refuse_empty_query_params(request) -> None:
    """A 400 naming each query parameter given without a value (`?status=`): leave it out instead. A filter
    would ignore it and a query serializer would take its default, both reading as a value the caller did not
    choose; the schema says so (minLength 1)."""
    empty = sorted({name for name, values in request.query_params.lists() if any(v == "" for v in values)})
    if empty:
        message = "Give a value or leave the parameter out."
        raise validation_error(f"Empty query parameter{'s' if len(empty) > 1 else ''}: {', '.join(empty)}.",
                               field_errors={name: [message] for name in empty})


def utc_datetimes(cleaned_data: dict) -> None:
    """Date-times of the query in UTC: PostgreSQL refuses an offset beyond ±15:59 that ISO 8601 allows."""
    for name, value in cleaned_data.items():
        if isinstance(value, datetime) and value.tzinfo is not None:
            try:
                cleaned_data[name] = value.astimezone(UTC)
            except OverflowError:
                raise validation_error("Date-time out of range.", name) from None


class StrictFilterBackend(DjangoFilterBackend):
    """django-filter's backend, refusing the query parameters a list does not know (see the module)."""

    def filter_queryset(self, request, queryset, view):
        if not getattr(view, "detail", False):
            refuse_unknown_query_params(request, view, self.get_filterset_class(view, queryset))
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        utc_datetimes(filterset.form.cleaned_data)
        return filterset.qs
