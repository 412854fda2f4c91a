"""Thin views of /tasks/scheduled/ and the scheduling part of /tasks/system/: validate input, call one
service or selector, serialize the output."""

from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.api.exceptions import ApplicationError
from megahub.api.scoping import BrandScopedMixin
from task_core.models import TaskStatus

from .. import selectors, services
from ..models import RunOutcome, ScheduleKind, ScheduleStatus
from ..timing import CronError, Timing, describe_cron, get_zone, normalize_cron
from .serializers import (
    CalendarInputSerializer,
    CalendarPreviewSerializer,
    CalendarSerializer,
    CronJobInputSerializer,
    ExecutionFilterSerializer,
    ExecutionPageSerializer,
    ExecutionSerializer,
    ExecutionStatsSerializer,
    OrphansCleanupSerializer,
    OrphansSerializer,
    PeriodicTaskDetailSerializer,
    PeriodicTaskInputSerializer,
    PeriodicTaskSerializer,
    RunNowSerializer,
    ScheduleCreateSerializer,
    ScheduleDetailSerializer,
    ScheduleSerializer,
    SummarySerializer,
    ValidateCronInputSerializer,
    ValidateCronResultSerializer,
)


def _choice(params, name: str, allowed) -> str:
    """A query parameter that must be one of `allowed` (400 naming it otherwise)."""
    value = params[name]
    if value not in allowed:
        raise ApplicationError(f"Invalid {name}.", error_code="VALIDATION_ERROR",
                               field_errors={name: [f"Use one of {', '.join(allowed)}."]})
    return value


def _resolve_calendar(request, data: dict) -> dict:
    """Turn the calendar id of an input into the brand's calendar (400 when it is not one of them)."""
    if "calendar" in data and data["calendar"] is not None:
        calendar = selectors.calendar_queryset(brand=request.brand).filter(pk=data["calendar"]).first()
        if calendar is None:
            raise ApplicationError("Unknown calendar.", error_code="VALIDATION_ERROR",
                                   field_errors={"calendar": ["No calendar with this id in this brand."]})
        data["calendar"] = calendar
    return data


class PeriodicTaskViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    """Periodic task templates of the brand, their schedules, runs and verbs."""

    serializer_class = PeriodicTaskSerializer
    not_found_code = "PERIODIC_TASK_NOT_FOUND"
    not_found_detail = "Periodic task not found or access denied"
    action_roles = {"validate_cron": "viewer"}
    extra_query_params = ("is_active", "kind", "task_type", "search")  # parsed in get_queryset

    def get_queryset(self):
        qs = selectors.periodic_task_queryset(brand=self.request.brand)
        if self.action != "list":
            return qs
        params = self.request.query_params
        if params.get("is_active"):
            qs = qs.filter(is_active=_choice(params, "is_active", ("true", "false")) == "true")
        if params.get("kind"):
            qs = qs.filter(kind=_choice(params, "kind", ScheduleKind.values))
        if params.get("task_type"):
            qs = qs.filter(task_type=params["task_type"])
        if params.get("search"):
            qs = qs.filter(Q(name__icontains=params["search"]) | Q(description__icontains=params["search"]))
        return qs

    @extend_schema(parameters=[
        OpenApiParameter("is_active", bool), OpenApiParameter("kind", str, enum=ScheduleKind.values),
        OpenApiParameter("task_type", str), OpenApiParameter("search", str)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("include", str, enum=["stats"],
                                                description="stats: add its execution statistics.")],
                   responses={200: PeriodicTaskDetailSerializer})
    def retrieve(self, request, pk=None):
        template = self.get_object()
        data = PeriodicTaskDetailSerializer(template).data
        include = request.query_params.get("include")
        if include:
            _choice(request.query_params, "include", ("stats",))
            data["stats"] = ExecutionStatsSerializer(selectors.executions_stats(
                template=template, runs=selectors.executions_queryset(template=template))).data
        return Response(data)

    @extend_schema(request=PeriodicTaskInputSerializer, responses={201: PeriodicTaskSerializer})
    def create(self, request):
        data = PeriodicTaskInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = _resolve_calendar(request, dict(data.validated_data))
        register = fields.pop("register", True)
        template = services.periodic_task_create(brand=request.brand, created_by=request.user, register=register,
                                                 **fields)
        return Response(PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=PeriodicTaskInputSerializer, responses={200: PeriodicTaskSerializer})
    def update(self, request, pk=None, partial=False):
        template = self.get_object()
        data = PeriodicTaskInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        fields = _resolve_calendar(request, dict(data.validated_data))
        fields.pop("register", None)
        services.periodic_task_update(template=template, actor=request.user, **fields)
        return Response(PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(request=PeriodicTaskInputSerializer, responses={200: PeriodicTaskSerializer})
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        """Unregister all of its schedules from Beat and delete it; its runs stay (link set null)."""
        services.periodic_task_delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: PeriodicTaskSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Pause the template and all its active schedules (409 if already paused)."""
        template = services.periodic_task_pause(template=self.get_object(), actor=request.user)
        return Response(PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(request=None, responses={200: PeriodicTaskSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume the template and its paused schedules; runs missed while paused are not fired."""
        template = services.periodic_task_resume(template=self.get_object(), actor=request.user)
        return Response(PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data)

    @extend_schema(request=None, responses={201: RunNowSerializer})
    @action(detail=True, methods=["post"], url_path="run-now")
    def run_now(self, request, pk=None):
        """Create and enqueue one run now; returns the new task's id and task_id and the execution id."""
        run = services.periodic_task_run_now(template=self.get_object(), actor=request.user)
        task = run.task
        return Response(RunNowSerializer({"id": task.pk, "task_id": task.task_id, "status": task.status,
                                          "execution_id": run.pk, "message": "Task started"}).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[ExecutionFilterSerializer], responses={200: ExecutionPageSerializer})
    @action(detail=True, methods=["get"])
    def executions(self, request, pk=None):
        """Its runs (newest due time first) with success rate, average duration, last and next run."""
        template = self.get_object()
        filters = ExecutionFilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        runs = selectors.executions_queryset(template=template)
        f = filters.validated_data
        if f.get("status"):
            wanted = [s.strip() for s in f["status"].split(",") if s.strip()]
            unknown = [s for s in wanted if s not in TaskStatus.values and s not in RunOutcome.values]
            if unknown:
                raise ApplicationError("Unknown status.", error_code="VALIDATION_ERROR", field_errors={
                    "status": [f"Unknown {unknown[0]!r}; use a task status or a run outcome."]})
            runs = runs.filter(Q(task__status__in=wanted) | Q(outcome__in=wanted))
        if f.get("due_at__gte"):
            runs = runs.filter(due_at__gte=f["due_at__gte"])
        if f.get("due_at__lte"):
            runs = runs.filter(due_at__lte=f["due_at__lte"])
        page = self.paginate_queryset(runs)
        response = self.get_paginated_response(ExecutionSerializer(page, many=True).data)
        response.data["stats"] = selectors.executions_stats(template=template, runs=runs)
        return response

    @extend_schema(methods=["get"], responses={200: ScheduleSerializer(many=True)})
    @extend_schema(methods=["post"], request=ScheduleCreateSerializer, responses={201: ScheduleDetailSerializer})
    @action(detail=True, methods=["get", "post"])
    def schedules(self, request, pk=None):
        """List its schedules, or register a new independent schedule with parameter overrides."""
        template = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.schedule_queryset(brand=request.brand)
                                          .filter(periodic_task=template))
            return self.get_paginated_response(ScheduleSerializer(page, many=True).data)
        data = ScheduleCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        schedule = services.schedule_create(template=template, actor=request.user, **data.validated_data)
        return Response(ScheduleDetailSerializer(schedule).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: ScheduleSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="ready-for-execution")
    def ready_for_execution(self, request):
        """Schedules due now (next run at or before now) that are not paused."""
        page = self.paginate_queryset(selectors.ready_for_execution(brand=request.brand))
        return self.get_paginated_response(ScheduleSerializer(page, many=True).data)

    @extend_schema(request=ValidateCronInputSerializer, responses={200: ValidateCronResultSerializer})
    @action(detail=False, methods=["post"], url_path="validate-cron")
    def validate_cron(self, request):
        """Is the expression valid (and if not, why); its description; the next runs in a timezone with a
        calendar applied; warnings for runs moved or collapsed by DST."""
        data = ValidateCronInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        d = _resolve_calendar(request, dict(data.validated_data))
        try:
            get_zone(d["timezone"])
        except ValueError as exc:
            raise ApplicationError(str(exc), error_code="VALIDATION_ERROR", field_errors={"timezone": [str(exc)]}) \
                from None
        result = {"valid": True, "error": "", "expression": d["expression"], "normalized": "", "description": "",
                  "timezone": d["timezone"], "next_runs": [], "effective_runs": [], "warnings": []}
        try:
            result["normalized"] = normalize_cron(d["expression"])
        except CronError as exc:
            result.update(valid=False, error=str(exc))
            return Response(ValidateCronResultSerializer(result).data)
        result["description"] = describe_cron(d["expression"])
        timing = Timing(kind="cron", cron=result["normalized"], tz=d["timezone"])
        after = d.get("after") or timezone.now()
        runs = selectors.cron_preview(timing=timing, count=d["count"], calendar=d.get("calendar"), after=after)
        result["next_runs"] = runs
        result["effective_runs"], complete = selectors.effective_runs(
            timing=timing, count=d["count"], calendar=d.get("calendar"), after=after)
        result["warnings"] = [w for run in runs for w in _dst_warnings(run)]
        if not complete:
            result["warnings"].append(f"Only {len(result['effective_runs'])} of the next {d['count']} runs happen "
                                      "within the fire times looked at: the calendar removes almost all of them.")
        return Response(ValidateCronResultSerializer(result).data)

    @extend_schema(responses={200: SummarySerializer})
    @action(detail=False, methods=["get"])
    def summary(self, request):
        """Schedules by status, the next fire, templates and the last 24 h of runs."""
        return Response(SummarySerializer(selectors.summary(brand=request.brand)).data)


def _dst_warnings(run: dict) -> list[str]:
    at = run["at"].isoformat()
    if len(run["wall_times"]) > 1:
        return [f"{at}: the wall times {', '.join(run['wall_times'])} fall into one run (DST gap: clocks jump "
                "forward); they run once, when the clocks jump."]
    if run["dst"] == "gap":
        return [f"{at}: the wall time falls in a DST gap; it runs when the clocks jump forward."]
    if run["dst"] == "repeat":
        return [f"{at}: the wall time occurs twice (DST ends); it runs once, at its first occurrence."]
    return []


class ScheduleViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Registered schedule instances: status, snapshot, recent events; pause, resume, delete."""

    serializer_class = ScheduleSerializer
    not_found_code = "SCHEDULE_NOT_FOUND"
    not_found_detail = "Schedule not found or access denied"
    extra_query_params = ("status", "periodic_task")  # parsed in get_queryset

    def get_queryset(self):
        qs = selectors.schedule_queryset(brand=self.request.brand)
        params = self.request.query_params
        if self.action != "list":
            return qs
        if params.get("status"):
            qs = qs.filter(status=_choice(params, "status", ScheduleStatus.values))
        if params.get("periodic_task"):
            raw = params["periodic_task"]
            if not raw.isdigit() or not selectors.periodic_task_queryset(brand=self.request.brand).filter(
                    pk=int(raw)).exists():
                raise ApplicationError("Unknown periodic task.", error_code="VALIDATION_ERROR", field_errors={
                    "periodic_task": [f"No periodic task with id {raw} in this brand."]})
            qs = qs.filter(periodic_task_id=int(raw))
        return qs

    def get_serializer_class(self):
        return ScheduleDetailSerializer if self.action == "retrieve" else ScheduleSerializer

    def get_serializer_context(self):
        context = super().get_serializer_context()
        raw = self.request.query_params.get("events") if self.action == "retrieve" else None
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= 100:
                raise ApplicationError("Invalid events.", error_code="VALIDATION_ERROR",
                                       field_errors={"events": ["An integer from 1 to 100."]})
            context["events"] = int(raw)
        return context

    @extend_schema(parameters=[OpenApiParameter("status", str, enum=ScheduleStatus.values),
                               OpenApiParameter("periodic_task", int)])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[OpenApiParameter("events", int, description="Recent events to include (1-100, "
                                                "default 20; the newest 100 are kept).")])
    def retrieve(self, request, *args, **kwargs):
        return super().retrieve(request, *args, **kwargs)

    def destroy(self, request, pk=None):
        """Unregister from Beat and delete; its runs keep their history."""
        services.schedule_delete(schedule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: ScheduleDetailSerializer})
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        schedule = services.schedule_pause(schedule=self.get_object(), actor=request.user)
        return Response(ScheduleDetailSerializer(schedule).data)

    @extend_schema(request=None, responses={200: ScheduleDetailSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        schedule = services.schedule_resume(schedule=self.get_object(), actor=request.user)
        return Response(ScheduleDetailSerializer(schedule).data)


class CronJobViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """One-off jobs: periodic tasks of kind "date" that run once at `run_at`."""

    serializer_class = PeriodicTaskSerializer
    not_found_code = "CRON_JOB_NOT_FOUND"
    not_found_detail = "Cron job not found or access denied"

    def get_queryset(self):
        return selectors.periodic_task_queryset(brand=self.request.brand).one_off()

    @extend_schema(request=CronJobInputSerializer, responses={201: PeriodicTaskSerializer})
    def create(self, request):
        data = CronJobInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = _resolve_calendar(request, dict(data.validated_data))
        template = services.periodic_task_create(brand=request.brand, created_by=request.user,
                                                 kind=ScheduleKind.DATE, **fields)
        return Response(PeriodicTaskSerializer(self.get_queryset().get(pk=template.pk)).data,
                        status=status.HTTP_201_CREATED)

    def destroy(self, request, pk=None):
        services.periodic_task_delete(template=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalendarViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Calendars: excluded dates and weekly blackout windows in a timezone."""

    serializer_class = CalendarSerializer
    not_found_code = "CALENDAR_NOT_FOUND"
    not_found_detail = "Calendar not found or access denied"

    def get_queryset(self):
        return selectors.calendar_queryset(brand=self.request.brand)

    @extend_schema(request=CalendarInputSerializer, responses={201: CalendarSerializer})
    def create(self, request):
        data = CalendarInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        calendar = services.calendar_create(brand=request.brand, **data.validated_data)
        return Response(CalendarSerializer(calendar).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CalendarInputSerializer, responses={200: CalendarSerializer})
    def update(self, request, pk=None, partial=False):
        calendar = self.get_object()
        data = CalendarInputSerializer(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        calendar = services.calendar_update(calendar=calendar, **data.validated_data)
        return Response(CalendarSerializer(calendar).data)

    @extend_schema(request=CalendarInputSerializer, responses={200: CalendarSerializer})
    def partial_update(self, request, pk=None):
        return self.update(request, pk, partial=True)

    def destroy(self, request, pk=None):
        services.calendar_delete(calendar=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[OpenApiParameter("count", int, description="Runs per template (1-100, default 10).")],
                   responses={200: CalendarPreviewSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def preview(self, request, pk=None):
        """The upcoming runs of the active templates using this calendar, and which of them it removes."""
        raw = request.query_params.get("count", "10")
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise ApplicationError("Invalid count.", error_code="VALIDATION_ERROR",
                                   field_errors={"count": ["An integer from 1 to 100."]})
        data = selectors.calendar_preview(calendar=self.get_object(), count=int(raw))
        return Response(CalendarPreviewSerializer(data, many=True).data)


class SchedulingSystemViewSet(BrandScopedMixin, viewsets.ViewSet):
    """Maintenance of the scheduler under /tasks/system/."""

    action_roles = {"cleanup_orphans": "admin"}

    @extend_schema(responses={200: OrphansSerializer})
    @action(detail=False, methods=["get"])
    def orphans(self, request):
        """Beat entries whose schedule or template is gone; schedules whose template is gone."""
        return Response(OrphansSerializer(selectors.orphans_find(brand=request.brand)).data)

    @extend_schema(request=None, responses={200: OrphansCleanupSerializer})
    @action(detail=False, methods=["post"], url_path="cleanup/orphans")
    def cleanup_orphans(self, request):
        """Remove the orphans listed by orphans/ and report what was removed (admin)."""
        return Response(OrphansCleanupSerializer(services.orphans_cleanup(brand=request.brand)).data)

