"""/tasks/scheduled/schedules/: registered schedule instances: status, snapshot, recent events; pause,
resume, delete."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from ...filters import ScheduleDetailOptions, ScheduleFilter
from ...selectors.schedules import schedule_queryset
from ...services import schedules
from ..serializers import ScheduleDetailSerializer, ScheduleSerializer
from .base import ScopedViewSet


class ScheduleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Registered schedule instances: status, snapshot, recent events; pause, resume, delete."""

    serializer_class = ScheduleSerializer
    not_found_code = "SCHEDULE_NOT_FOUND"
    not_found_detail = "Schedule not found or access denied"
    filtersets = {"list": ScheduleFilter, "retrieve": ScheduleDetailOptions}

    def get_queryset(self):
        return schedule_queryset(brand=self.request.brand)

    def get_serializer_class(self):
        return ScheduleDetailSerializer if self.action == "retrieve" else ScheduleSerializer

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if self.action == "retrieve":
            events = self.query_options(self.get_queryset()).get("events")
            if events is not None:
                context["events"] = events
        return context

    @extend_schema(filters=True)
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def destroy(self, request, pk=None):
        """Unregister from Beat and delete; its runs keep their history."""
        schedules.schedule_delete(schedule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ScheduleDetailSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause this schedule (409 if it is not active)."""
        schedule = schedules.schedule_pause(schedule=self.get_object(), actor=request.user)
        return Response(ScheduleDetailSerializer(schedule).data)

    @extend_schema(request=None, responses={200: ScheduleDetailSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume this paused schedule; runs missed while paused are not fired."""
        schedule = schedules.schedule_resume(schedule=self.get_object(), actor=request.user)
        return Response(ScheduleDetailSerializer(schedule).data)
