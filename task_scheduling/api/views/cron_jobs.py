"""/tasks/scheduled/cron-jobs/: one-off jobs, templates of kind "date" that run once at `run_at`."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import mixins, status
from rest_framework.response import Response

from ...choices import ScheduleKind
from ...selectors.templates import template_queryset
from ...services import templates
from ..serializers import CronJobInputSerializer, PeriodicTaskSerializer
from .base import ScopedViewSet, with_calendar


def create_examples() -> list[OpenApiExample]:
    """A one-off job at a date far enough ahead to stay in the future (a past `run_at` is a 409)."""
    return [OpenApiExample("A one-off job", request_only=True, value={
        "name": "New year report", "task_type": "demo.echo", "parameters": {"message": "happy new year"},
        "run_at": "2099-01-01T09:00:00+01:00", "timezone": "Europe/Paris"})]


class CronJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """One-off jobs: periodic tasks of kind "date" that run once at `run_at`."""

    serializer_class = PeriodicTaskSerializer
    not_found_code = "CRON_JOB_NOT_FOUND"
    not_found_detail = "Cron job not found or access denied"
    schema_examples = {"create": create_examples}

    def get_queryset(self):
        return template_queryset(brand=self.request.brand).one_off()

    @extend_schema(request=CronJobInputSerializer, responses={201: PeriodicTaskSerializer})
    def create(self, request):
        data = CronJobInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = with_calendar(request, dict(data.validated_data))
        template = templates.template_create(brand=request.brand, created_by=request.user, kind=ScheduleKind.DATE,
                                             **fields)
        return Response(PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data,
                        status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        templates.template_delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)
