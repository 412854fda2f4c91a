"""Strict query parameters: a list refuses a parameter it does not know, with a 400 naming it.

Silently ignoring an unknown filter returns the whole list to a client that believes it filtered (a
misspelt `stauts=failed`, a filter of an app that is not installed). `StrictFilterBackend` is the
project's DEFAULT_FILTER_BACKENDS, so every list of every app gets the check. A list knows:
- the filters of its FilterSet (`filterset_class`, including filters other apps registered on it);
- its paginator's parameters (`page`, `page_size`) and DRF's `format`;
- what the view declares in `extra_query_params`, for parameters it reads itself.
A detail route (a viewset action with detail=True) is not checked here: its own parameters are the
view's business; a list served by such an action calls `refuse_unknown_query_params` itself.
"""

from collections.abc import Iterable
from datetime import UTC, datetime

from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.settings import api_settings

from .exceptions import validation_error

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
