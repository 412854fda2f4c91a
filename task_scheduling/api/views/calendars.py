"""/tasks/scheduled/calendars/: excluded dates and weekly blackout windows in a timezone."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from ...filters import CalendarPreviewOptions
from ...selectors.calendars import calendar_preview, calendar_queryset
from ...services import calendars
from ..serializers import CalendarInputSerializer, CalendarPreviewSerializer, CalendarSerializer
from .base import ScopedViewSet


class CalendarViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Calendars: excluded dates and weekly blackout windows in a timezone."""

    serializer_class = CalendarSerializer
    not_found_code = "CALENDAR_NOT_FOUND"
    not_found_detail = "Calendar not found or access denied"
    filtersets = {"preview": CalendarPreviewOptions}

    def get_queryset(self):
        return calendar_queryset(brand=self.request.brand)

    @extend_schema(request=CalendarInputSerializer, responses={201: CalendarSerializer})
    def create(self, request):
        data = CalendarInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        calendar = calendars.calendar_create(brand=request.brand, **data.validated_data)
        return Response(CalendarSerializer(calendar).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CalendarInputSerializer, responses={200: CalendarSerializer})
    def update(self, request, pk=None, partial=False):
        calendar = self.get_object()
        data = CalendarInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        calendar = calendars.calendar_update(calendar=calendar, **data.validated_data)
        return Response(CalendarSerializer(calendar).data)

    @extend_schema(request=CalendarInputSerializer, responses={200: CalendarSerializer})
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        calendars.calendar_delete(calendar=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(filters=True, responses={200: CalendarPreviewSerializer(many=True)})
    @action(detail=True, methods=["get"], pagination_class=None)
    def preview(self, request, pk=None):
        """The upcoming runs of the active templates using this calendar, and which of them it removes."""
        calendar = self.get_object()
        count = self.query_options(self.get_queryset()).get("count") or 10
        return Response(CalendarPreviewSerializer(calendar_preview(calendar=calendar, count=count), many=True).data)
