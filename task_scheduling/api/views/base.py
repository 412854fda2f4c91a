"""What the scheduling viewsets share: one FilterSet per action, lookups that the action's query
parameters never filter, and calendar ids of request bodies resolved in the brand."""

from django_filters.utils import translate_validation
from rest_framework import viewsets
from rest_framework.generics import get_object_or_404

from megahub.api.filters import refuse_unknown_query_params
from megahub.api.scoping import BrandScopedMixin

from ...selectors.calendars import calendar_of_brand


class ScopedViewSet(BrandScopedMixin, viewsets.GenericViewSet):
    """`filtersets` maps an action to the FilterSet of its query parameters: the list's filters, the
    sub-list of a detail action (filtered with `filter_queryset`), or a detail route's options (read with
    `query_options`)."""

    filtersets: dict = {}

    @property
    def filterset_class(self):
        return self.filtersets.get(self.action)

    def get_object(self):
        """The brand's object named in the path; the action's query parameters belong to its sub-list or
        options, never to this lookup."""
        obj = get_object_or_404(self.get_queryset(), pk=self.kwargs[self.lookup_url_kwarg or self.lookup_field])
        self.check_object_permissions(self.request, obj)
        return obj

    def query_options(self, queryset) -> dict:
        """The validated query options of this action (400 naming a bad or unknown one)."""
        refuse_unknown_query_params(self.request, self, self.filterset_class)
        filterset = self.filterset_class(self.request.query_params, queryset=queryset, request=self.request)
        if not filterset.is_valid():
            raise translate_validation(filterset.errors)
        return filterset.form.cleaned_data


def with_calendar(request, data: dict) -> dict:
    """Turn the calendar id of an input into the brand's calendar (400 naming it when it is not one)."""
    if data.get("calendar") is not None:
        data["calendar"] = calendar_of_brand(brand=request.brand, calendar_id=data["calendar"])
    return data
