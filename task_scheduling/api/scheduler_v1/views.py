"""/api/v1/scheduler/: scheduled tasks (periodic tasks of kind cron), run and queue, executions, queue
status and statistics, as the Russian reference names them. Every read and write goes through
task_scheduling's selectors and services."""

from contextlib import contextmanager

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.api.exceptions import ApplicationError
from megahub.api.scoping import BrandScopedMixin
from task_core.selectors import broker_queue_lengths

from ...choices import ScheduleKind
from ...filters import SchedulerExecutionFilter, SchedulerTaskFilter
from ...models import ScheduleTemplate
from ...selectors.executions import brand_executions
from ...selectors.summary import summary
from ...selectors.templates import template_queryset
from ...services import templates
from ..views.base import ScopedViewSet
from .serializers import (
    ExecutionV1Serializer,
    QueuedSerializer,
    QueueStatusSerializer,
    RunSerializer,
    ScheduledTaskCreateSerializer,
    ScheduledTaskSerializer,
    ScheduledTaskUpdateSerializer,
    StatsSerializer,
)

TAG = "scheduler v1"


V1_NAMES = {"cron_expression": "cron_schedule", "parameters": "task_params"}


@contextmanager
def v1_field_names():
    """Errors of our services name the fields as the v1 body does (`parameters.x` is `task_params.x`)."""
    try:
        yield
    except ApplicationError as exc:
        exc.field_errors = {_v1_name(key): value for key, value in exc.field_errors.items()}
        raise


def _v1_name(key: str) -> str:
    head, dot, rest = key.partition(".")
    return V1_NAMES.get(head, head) + dot + rest


class TaskInactive(ApplicationError):
    default_detail = "The task is inactive."
    error_code = "TASK_INACTIVE"


class V1ViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """What the v1 resources share: lists are plain arrays, ids are numbers."""

    pagination_class = None
    lookup_value_regex = "[0-9]+"


@extend_schema(tags=[TAG])
class SchedulerTaskViewSet(V1ViewSet):
    """Scheduled tasks: the brand's periodic tasks (created here of kind cron)."""

    serializer_class = ScheduledTaskSerializer
    not_found_code = "TASK_NOT_FOUND"
    not_found_detail = "Task not found"
    filtersets = {"list": SchedulerTaskFilter}

    def get_queryset(self):
        if self.action == "list":  # the columns v1 shows, without the schedule counts a template's page has
            return ScheduleTemplate.objects.for_brand(self.request.brand).only(
                *ScheduledTaskSerializer.columns).order_by("id")
        return template_queryset(brand=self.request.brand).order_by("id")

    def _shown(self, template, code=status.HTTP_200_OK):
        return Response(ScheduledTaskSerializer(template).data, status=code)

    @extend_schema(request=ScheduledTaskCreateSerializer, responses={201: ScheduledTaskSerializer})
    def create(self, request):
        data = ScheduledTaskCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with v1_field_names():
            template = templates.template_create(brand=request.brand, created_by=request.user,
                                                 kind=ScheduleKind.CRON, **data.to_template_fields())
        return self._shown(template, status.HTTP_201_CREATED)

    @extend_schema(request=ScheduledTaskUpdateSerializer, responses={200: ScheduledTaskSerializer})
    def update(self, request, pk=None):
        template = self.get_object()
        data = ScheduledTaskUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = data.to_template_fields()
        if "cron_expression" in fields:
            fields["kind"] = ScheduleKind.CRON
        with v1_field_names():
            # every field optional, as a PATCH: what only the stored definition refuses is a 409
            template = templates.template_patch(template=template, actor=request.user, **fields)
        return self._shown(template)

    def destroy(self, request, pk=None):
        templates.template_delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _run_now(self, request):
        template = self.get_object()
        if not template.is_active:
            raise TaskInactive()
        return template, templates.template_run_now(template=template, actor=request.user)

    @extend_schema(request=None, responses={200: RunSerializer})
    @action(detail=True, methods=["post"])
    def run(self, request, pk=None):
        """Run the task now: 200 with the execution's id; 400 TASK_INACTIVE when it is inactive."""
        _, run = self._run_now(request)
        return Response(RunSerializer({"message": "Задача запущена", "execution_id": run.pk}).data)

    @extend_schema(request=None, responses={200: QueuedSerializer})
    @action(detail=True, methods=["post"])
    def queue(self, request, pk=None):
        """Put the task in the queue for immediate execution (the same run as `run`)."""
        template, _ = self._run_now(request)
        return Response(QueuedSerializer({"message": f"Задача {template.pk} добавлена в очередь",
                                          "task_id": template.pk}).data)


@extend_schema(tags=[TAG])
class SchedulerExecutionViewSet(V1ViewSet):
    """Executions: every run of the brand's periodic tasks, newest first (100 unless `limit` says)."""

    serializer_class = ExecutionV1Serializer
    not_found_code = "EXECUTION_NOT_FOUND"
    not_found_detail = "Execution not found"
    filtersets = {"list": SchedulerExecutionFilter}

    def get_queryset(self):
        return brand_executions(brand=self.request.brand, shown=ExecutionV1Serializer)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        if self.action != "list":
            return queryset
        return queryset[: int(self.request.query_params.get("limit") or 100)]


@extend_schema(tags=[TAG])
class SchedulerSystemViewSet(BrandScopedMixin, viewsets.ViewSet):
    """Queue status and scheduler statistics."""

    @extend_schema(responses={200: QueueStatusSerializer})
    @action(detail=False, methods=["get"], url_path="queue/status")
    def queue_status(self, request):
        """Messages waiting in the broker; 503 BROKER_UNAVAILABLE when Redis cannot be reached."""
        length = sum(broker_queue_lengths().values())
        return Response(QueueStatusSerializer({"queue_length": length, "timestamp": timezone.now()}).data)

    @extend_schema(responses={200: StatsSerializer})
    @action(detail=False, methods=["get"])
    def stats(self, request):
        """Scheduled tasks by activity and the executions due in the last 24 h."""
        s = summary(brand=request.brand)
        runs = s["runs_24h"]
        return Response(StatsSerializer({
            "tasks": {"total_tasks": s["periodic_tasks"]["total"], "active_tasks": s["periodic_tasks"]["active"],
                      "inactive_tasks": s["periodic_tasks"]["inactive"]},
            "executions_24h": {"total_executions": runs["total"], "completed": runs["completed"],
                               "failed": runs["failed"], "running": runs["running"]},
            "timestamp": s["timestamp"],
        }).data)
