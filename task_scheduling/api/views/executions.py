"""/tasks/scheduled/executions/: every scheduled run of the brand, one run, recent and failed runs, and
their statistics."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.response import Response

from megahub.api.pagination import CursorListPagination

from ...filters import (
    BrandExecutionFilter,
    ExecutionStatsOptions,
    FailedExecutionsOptions,
    RecentExecutionsOptions,
)
from ...selectors.executions import (
    brand_executions,
    executions_stats,
    failed_executions,
    newest_ids,
    newest_runs,
    recent_executions,
)
from ...selectors.templates import template_executions_lookup
from ..serializers import ExecutionSerializer, ExecutionStatsSerializer
from .base import ScopedViewSet


class ExecutionPagination(CursorListPagination):
    """With a `status` filter or a `limit`, a cursor page's runs are chosen by their due time and id first,
    then read with their task and template: a status filter answered from an index of runs (each run holds its
    task's status, querysets.run_task_status_in), or the newest N by id, then sorts ids, not
    joined rows (megahub/api/pagination.py). Without them the list's index gives the page in its order, and
    one statement reads it with its joins (the ids first would be a statement more for nothing).
    Under a `status` or `task_type` filter the first page's count reads the planner's estimate first
    (`estimate_first`): counting 1,001 runs of several statuses (an OR of indexes) read every entry of each,
    e.g. 34,000 for `failed,skipped_overlap` at 1M runs (7 ms), and 1,001 runs of a task type join each
    candidate run to its task."""

    deferred_join_cursor = True
    sorted_by_filters = ("status", "limit")
    estimated_filters = ("status", "task_type")

    def paginate_queryset(self, queryset, request, view=None):
        self.deferred_join_cursor = any(name in request.query_params for name in self.sorted_by_filters)
        self.estimate_first = any(name in request.query_params for name in self.estimated_filters)
        return super().paginate_queryset(queryset, request, view)


class ExecutionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Runs of the brand's periodic tasks (fired by a schedule or run now), newest first, by cursor (page
    numbers on request). The id is the `execution_id` run-now answers with."""

    serializer_class = ExecutionSerializer
    pagination_class = ExecutionPagination
    not_found_code = "EXECUTION_NOT_FOUND"
    not_found_detail = "Execution not found or access denied"
    lookup_value_regex = "[0-9]+"
    filtersets = {"list": BrandExecutionFilter, "recent": RecentExecutionsOptions,
                  "failed": FailedExecutionsOptions, "stats": ExecutionStatsOptions}

    def get_queryset(self):
        return brand_executions(brand=self.request.brand)

    def filter_queryset(self, queryset):
        """The list's filters, then `limit` (the newest N; counted as the slice of their ids, not as the
        filter on them that the pages are cut from)."""
        queryset = super().filter_queryset(queryset)
        limit = self.request.query_params.get("limit") if self.action == "list" else None
        if not limit:
            return queryset
        self.paginator.count_queryset = newest_ids(queryset, int(limit))
        return newest_runs(queryset, int(limit))

    def _page(self, runs):
        return self.get_paginated_response(ExecutionSerializer(self.paginate_queryset(runs), many=True).data)

    @extend_schema(filters=True, responses={200: ExecutionSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def recent(self, request):
        """Runs due in the last `hours` (default 24)."""
        options = self.query_options(self.get_queryset())
        return self._page(recent_executions(brand=request.brand, hours=options.get("hours") or 24))

    @extend_schema(filters=True, responses={200: ExecutionSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def failed(self, request):
        """Runs of the last `days` (default 7) whose task failed or that could not create their task."""
        options = self.query_options(self.get_queryset())
        return self._page(failed_executions(brand=request.brand, days=options.get("days") or 7))

    @extend_schema(filters=True, responses={200: ExecutionStatsSerializer})
    @action(detail=False, methods=["get"])
    def stats(self, request):
        """Statistics of all the brand's runs, or of one periodic task's (`?periodic_task=`)."""
        runs = self.filter_queryset(self.get_queryset())  # a periodic_task of another brand is a 400
        template_id = request.query_params.get("periodic_task")
        template = (template_executions_lookup(brand=request.brand).filter(pk=int(template_id)).first()
                    if template_id else None)
        return Response(ExecutionStatsSerializer(executions_stats(runs=runs, template=template)).data)
