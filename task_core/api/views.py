from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from megahub.api.exceptions import ApplicationError, error_body, validation_error
from megahub.api.filters import refuse_unknown_query_params
from megahub.api.pagination import CursorListPagination
from megahub.api.scoping import BrandScopedMixin
from megahub.read_cache import cached_read

from .. import selectors, services
from ..choices import BrandRole
from ..filters import TaskFilter
from ..registry import all_task_types
from .serializers import (
    TASK_CREATE_EXTRA_FIELDS,
    EnumsSerializer,
    HealthSerializer,
    HealthUnavailableSerializer,
    QueueStatsSerializer,
    SystemStatusSerializer,
    TaskCreateSerializer,
    TaskDetailSerializer,
    TaskEventSerializer,
    TaskSerializer,
    TaskTypeInfoSerializer,
)

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
    description="A replay with the same key returns the task the first call created (200).",
)


IDEMPOTENCY_KEY_MAX_LENGTH = 255  # BaseTask.idempotency_key


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key", "").strip()
    if len(key) > IDEMPOTENCY_KEY_MAX_LENGTH or not key.isprintable():
        msg = f"At most {IDEMPOTENCY_KEY_MAX_LENGTH} printable characters."
        raise validation_error(f"Invalid Idempotency-Key header: {msg}", field_errors={"Idempotency-Key": [msg]})
    return key or None


# The French reference's first step (`POST /tasks/`), as written there.
SEO_EXAMPLE = {"task_type": "seo_keyword_analysis", "priority": "normal", "description": "Analyser 500 mots-clés",
               "context_data": {"keyword_ids": [1, 2, 3, 4, 5], "analysis_depth": "full"}}


def create_examples() -> list[OpenApiExample]:
    """Request examples of `POST /tasks/`: the reference's SEO analysis, then one per registered type with the
    parameters its schema gives defaults or examples for. Each is checked by its type's schema: the SEO
    example failing it fails the schema's generation; another type's is left out."""
    examples = []
    for ttype in all_task_types():
        if ttype.name == SEO_EXAMPLE["task_type"]:
            body = SEO_EXAMPLE
            ttype.validate(body["context_data"])
        else:
            props = ttype.schema.get("properties", {})
            params = {name: prop.get("examples", [prop.get("default")])[0] for name, prop in props.items()
                      if "default" in prop or "examples" in prop}
            body = {"task_type": ttype.name, "context_data": params}
            try:
                ttype.validate(params)
            except ApplicationError:
                continue
        examples.append(OpenApiExample(ttype.label or ttype.name, value=body, request_only=True,
                                       summary=ttype.description or ttype.label))
    examples.sort(key=lambda e: e.value["task_type"] != SEO_EXAMPLE["task_type"])
    return examples


class TaskPagination(CursorListPagination):
    """The count read from the planner's estimate first, pages by number through their ids
    (megahub/api/pagination.py; docs/architecture.md, "Reads at scale")."""

    estimate_first = True
    deferred_join = True


class TaskViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Tasks of the request's brand: list, create, detail, retry, cancel, events, queue stats."""

    serializer_class = TaskSerializer
    filterset_class = TaskFilter
    pagination_class = TaskPagination
    lookup_value_regex = "[0-9]+|[0-9a-fA-F-]{36}"
    not_found_code = "TASK_NOT_FOUND"
    not_found_detail = "Task not found or access denied"
    action_roles = {"create": BrandRole.OPERATOR, "retry": BrandRole.OPERATOR, "cancel": BrandRole.OPERATOR}
    schema_examples = {"create": create_examples}

    def get_queryset(self):
        if self.action == "list":
            return selectors.task_list_queryset(brand=self.request.brand)
        return selectors.task_queryset(brand=self.request.brand)

    def get_serializer_class(self):
        return TaskDetailSerializer if self.action == "retrieve" else TaskSerializer

    def get_object(self):
        task = selectors.task_get(brand=self.request.brand, lookup=str(self.kwargs["pk"]))
        if task is None:
            raise NotFound()
        self.check_object_permissions(self.request, task)
        return task

    @extend_schema(request=TaskCreateSerializer, responses={201: TaskDetailSerializer, 200: TaskDetailSerializer},
                   parameters=[IDEMPOTENCY_HEADER])
    def create(self, request):
        """Create a task of a registered type; it is queued once the request commits."""
        data = TaskCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        extra = {name: fields.pop(name) for name in TASK_CREATE_EXTRA_FIELDS if name in fields}
        task, created = services.task_create(
            brand=request.brand, created_by=request.user,
            idempotency_key=_idempotency_key(request), extra=extra, **fields,
        )
        headers = {} if created else {"Idempotent-Replayed": "true"}
        return Response(TaskDetailSerializer(task).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK, headers=headers)

    @extend_schema(request=None, responses={201: TaskDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request, pk=None):
        """Run a failed or cancelled task again as a new task (origin "retry"); 409 otherwise."""
        new_task = services.task_retry(task=self.get_object(), actor=request.user)
        return Response(TaskDetailSerializer(new_task).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: TaskDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel a pending, queued or running task (a running one is terminated); 409 when finished."""
        task = services.task_cancel(task=self.get_object(), actor=request.user)
        return Response(TaskDetailSerializer(task).data)

    @extend_schema(responses={200: TaskEventSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        """The task's history: every transition, who or which worker caused it, and when."""
        task = self.get_object()
        refuse_unknown_query_params(request, self)  # a list: only the page parameters
        page = self.paginate_queryset(selectors.task_events(task=task))
        return self.get_paginated_response(TaskEventSerializer(page, many=True).data)

    @extend_schema(responses={200: QueueStatsSerializer}, filters=False)
    @action(detail=False, methods=["get"], url_path="queue-stats", filter_backends=[])
    def queue_stats(self, request):
        """Messages waiting per broker queue, this brand's tasks by status, live workers. 503 if the
        broker cannot be reached."""
        return Response(QueueStatsSerializer(selectors.queue_stats(brand=request.brand)).data)


class SystemViewSet(BrandScopedMixin, viewsets.ViewSet):
    """System endpoints under /tasks/system/."""

    @extend_schema(responses={200: SystemStatusSerializer})
    @action(detail=False, methods=["get"])
    def status(self, request):
        """Versions, workers (a cached read: megahub/read_cache.py) and this brand's tasks by status (live,
        from the counters the transitions keep)."""
        info = cached_read("system-info", brand_id=request.brand.pk, compute=selectors.system_info)
        return Response(SystemStatusSerializer(selectors.system_status(brand=request.brand, info=info)).data)

    @extend_schema(responses={200: HealthSerializer, 503: HealthUnavailableSerializer})
    @action(detail=False, methods=["get"])
    def health(self, request):
        """Database, broker and workers; 503 when the database or the broker is down."""
        health = selectors.system_health()
        if health["status"] != "unavailable":
            return Response(HealthSerializer(health).data)
        down = [name for name, c in health["components"].items() if name != "workers" and c["status"] == "down"]
        body = {**health, **error_body(f"Unavailable: {', '.join(down)} down.", "SERVICE_UNAVAILABLE")}
        return Response(HealthUnavailableSerializer(body).data, status=status.HTTP_503_SERVICE_UNAVAILABLE)

    @extend_schema(responses={200: EnumsSerializer})
    @action(detail=False, methods=["get"])
    def enums(self, request):
        """The enumerations of every app (a cached read)."""
        return Response(cached_read("system-enums", brand_id=request.brand.pk,
                                    compute=lambda: EnumsSerializer(selectors.enums()).data))

    @extend_schema(responses={200: TaskTypeInfoSerializer(many=True)})
    @action(detail=False, methods=["get"], url_path="task-info")
    def task_info(self, request):
        """Every registered task type with its JSON Schema, defaults and UI hints (a cached read)."""
        def compute():
            return TaskTypeInfoSerializer([t.describe() for t in all_task_types()], many=True).data

        return Response(cached_read("system-task-info", brand_id=request.brand.pk, compute=compute))
