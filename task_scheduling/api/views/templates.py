"""/tasks/scheduled/periodic-tasks/: schedule templates, their schedules, runs and verbs."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.read_cache import cached_read

from ...choices import ScheduleKind
from ...filters import ExecutionFilter, TemplateDetailOptions, TemplateFilter
from ...selectors.cron import cron_validate
from ...selectors.executions import executions_queryset, executions_stats, executions_stats_counted, with_template
from ...selectors.schedules import ready_for_execution, schedule_queryset
from ...selectors.summary import summary, summary_schedules
from ...selectors.templates import template_executions_lookup, template_queryset
from ...services import schedules, templates
from ...validators import template_replace_validate
from ..serializers import (
    ExecutionPageSerializer,
    ExecutionSerializer,
    ExecutionStatsSerializer,
    PeriodicTaskDetailSerializer,
    PeriodicTaskInputSerializer,
    PeriodicTaskReplaceSerializer,
    PeriodicTaskSerializer,
    RunNowSerializer,
    ScheduleCreateSerializer,
    ScheduleDetailSerializer,
    ScheduleSerializer,
    SummarySerializer,
    ValidateCronInputSerializer,
    ValidateCronResultSerializer,
)
from .base import ScopedViewSet, with_calendar
from .executions import ExecutionPagination


class PeriodicTaskViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Periodic task templates of the brand, their schedules, runs and verbs."""

    serializer_class = PeriodicTaskSerializer
    not_found_code = "PERIODIC_TASK_NOT_FOUND"
    not_found_detail = "Periodic task not found or access denied"
    action_roles = {"validate_cron": "viewer"}
    filtersets = {"list": TemplateFilter, "retrieve": TemplateDetailOptions, "executions": ExecutionFilter}

    def get_queryset(self):
        if self.action == "executions":  # what its runs and statistics read of the template, in one statement
            return template_executions_lookup(brand=self.request.brand)
        return template_queryset(brand=self.request.brand)

    def list(self, request):
        """The brand's periodic tasks (a cached read, one per query: megahub/read_cache.py)."""
        def compute():
            return super(PeriodicTaskViewSet, self).list(request).data

        return Response(cached_read("periodic-tasks", brand_id=request.brand.pk, compute=compute,
                                    variant=request.build_absolute_uri()))

    def _shown(self, template) -> dict:
        return PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data

    @extend_schema(filters=True, responses={200: PeriodicTaskDetailSerializer})
    def retrieve(self, request, pk=None):
        template = self.get_object()
        options = self.query_options(self.get_queryset())
        data = PeriodicTaskDetailSerializer(template).data
        if options.get("include") == "stats":
            data["stats"] = ExecutionStatsSerializer(executions_stats(
                runs=executions_queryset(template=template), template=template)).data
        return Response(data)

    @extend_schema(request=PeriodicTaskInputSerializer, responses={201: PeriodicTaskSerializer})
    def create(self, request):
        data = PeriodicTaskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = with_calendar(request, dict(data.validated_data))
        register = fields.pop("register", True)
        template = templates.template_create(brand=request.brand, created_by=request.user, register=register,
                                             **fields)
        return Response(self._shown(template), status=status.HTTP_201_CREATED)

    @extend_schema(request=PeriodicTaskReplaceSerializer, responses={200: PeriodicTaskSerializer})
    def update(self, request, pk=None, partial=False):
        template = self.get_object()
        data = (PeriodicTaskInputSerializer if partial else PeriodicTaskReplaceSerializer)(data=request.data,
                                                                                          partial=partial)
        data.is_valid(raise_exception=True)
        fields = with_calendar(request, dict(data.validated_data))
        if not partial:
            # PUT replaces the definition, read as a create reads it: no parameters are the type's defaults, no
            # kind is cron (its schema's branches)
            fields.setdefault("parameters", {})
            fields.setdefault("kind", ScheduleKind.CRON)
            template_replace_validate(fields)
        fields.pop("register", None)
        if partial:
            templates.template_patch(template=template, actor=request.user, **fields)
        else:
            templates.template_update(template=template, actor=request.user, **fields)
        return Response(self._shown(template))

    @extend_schema(request=PeriodicTaskInputSerializer, responses={200: PeriodicTaskSerializer})
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        """Unregister all of its schedules from Beat and delete it; its runs stay (link set null)."""
        templates.template_delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: PeriodicTaskSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause the template and all its active schedules (409 if already paused)."""
        template = templates.template_pause(template=self.get_object(), actor=request.user)
        return Response(self._shown(template))

    @extend_schema(request=None, responses={200: PeriodicTaskSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume the template and its paused schedules; runs missed while paused are not fired."""
        template = templates.template_resume(template=self.get_object(), actor=request.user)
        return Response(self._shown(template))

    @extend_schema(request=None, responses={201: RunNowSerializer})
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request, pk=None):
        """Create and enqueue one run now; returns the new task's id and task_id and the execution id."""
        run = templates.template_run_now(template=self.get_object(), actor=request.user)
        task = run.task
        return Response(RunNowSerializer({"id": task.pk, "task_id": task.task_id, "status": task.status,
                                          "execution_id": run.pk, "message": "Task started"}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(filters=True, responses={200: ExecutionPageSerializer})
    @action(detail=True, methods=["get"], pagination_class=ExecutionPagination)
    def executions(self, request, pk=None):
        """Its runs (newest due time first; by cursor, page numbers on request) with success rate, average
        duration, last and next run."""
        template = self.get_object()
        runs = self.filter_queryset(executions_queryset(template=template))
        # the statistics' statement also counts the runs for the first page (up to the exact count's limit)
        count_up_to = None if "cursor" in request.query_params else settings.API_COUNT_EXACT_LIMIT
        stats, self.paginator.counted = executions_stats_counted(runs=runs, template=template,
                                                                 count_up_to=count_up_to)
        page = with_template(self.paginate_queryset(runs), template)
        response = self.get_paginated_response(ExecutionSerializer(page, many=True).data)
        response.data["stats"] = stats
        return response

    @extend_schema(methods=["get"], responses={200: ScheduleSerializer(many=True)})
    @extend_schema(methods=["post"], request=ScheduleCreateSerializer,
                   responses={201: ScheduleDetailSerializer})
    @action(detail=True, methods=["get", "post"])
    def schedules(self, request, pk=None):
        """List its schedules, or register a new independent schedule with parameter overrides."""
        template = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(schedule_queryset(brand=request.brand).filter(periodic_task=template))
            return self.get_paginated_response(ScheduleSerializer(page, many=True).data)
        data = ScheduleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = schedules.schedule_create(template=template, actor=request.user, **data.validated_data)
        return Response(ScheduleDetailSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ScheduleSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="ready-for-execution")
    def ready_for_execution(self, request):
        """Schedules due now (next run at or before now) that are not paused."""
        page = self.paginate_queryset(ready_for_execution(brand=request.brand))
        return self.get_paginated_response(ScheduleSerializer(page, many=True).data)

    @extend_schema(request=ValidateCronInputSerializer, responses={200: ValidateCronResultSerializer})
    @action(detail=False, methods=["post"], url_path="validate-cron")
    def validate_cron(self, request):
        """Is the expression valid (and if not, why); its description; the next runs in a timezone with a
        calendar applied; warnings for runs moved or collapsed by DST."""
        data = ValidateCronInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = with_calendar(request, dict(data.validated_data))
        result = cron_validate(expression=d["expression"], tz=d["timezone"], count=d["count"],
                               calendar=d.get("calendar"), after=d.get("after"))
        return Response(ValidateCronResultSerializer(result).data)

    @extend_schema(responses={200: SummarySerializer})
    @action(detail=False, methods=["get"])
    def summary(self, request):
        """Schedules by status, the next fire and templates (a cached read), and the last 24 h of runs (live:
        their tasks' statuses change with every transition)."""
        schedules = cached_read("scheduling-summary", brand_id=request.brand.pk,
                                compute=lambda: summary_schedules(brand=request.brand))
        return Response(SummarySerializer(summary(brand=request.brand, schedules=schedules)).data)
