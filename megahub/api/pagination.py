"""Pagination that does not degrade with the size of a list or the depth of a page.

- `StandardPagination` (every list's default): page numbers (`page`, `page_size`) with a bounded count.
  `count` is exact up to API_COUNT_EXACT_LIMIT rows, above that the database planner's estimate, and
  `count_is_exact` says which. Pages reach API_PAGE_MAX_ROWS rows deep at most (an OFFSET reads every
  row it skips); a deeper page is a 400 on `page`.
- `CursorListPagination` adds DRF's cursor pagination (`cursor`): pages of equal cost at any depth. The
  first page (no `page`, no `cursor`) carries the bounded count and a `next` cursor link; following
  `next` and `previous` links walks by cursor (no count: it would cost a count per page); `page=N`
  keeps page numbers for existing clients.

A list opts in to cursors with `pagination_class = CursorListPagination`, on two conditions: each
ordering it offers starts with a field that is never null (filter the nulls out, as /tasks/ does for
`completed_at`) and near-unique (ties are skipped by an offset within the tie), and an index serves
each ordering with each filter in it.
"""

import json

from django.conf import settings
from django.db import connections
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from .exceptions import validation_error


def estimated_count(queryset) -> int | None:
    """The planner's estimate of the rows of `queryset` (PostgreSQL: EXPLAIN, nothing is run); None
    elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    sql, params = queryset.order_by().query.get_compiler(using=queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset, limit: int | None = None) -> tuple[int, bool]:
    """(count, exact): exact when the queryset has at most `limit` rows (API_COUNT_EXACT_LIMIT), which
    reads at most limit + 1 rows; otherwise the planner's estimate, never below limit + 1."""
    limit = settings.API_COUNT_EXACT_LIMIT if limit is None else limit
    if queryset.query.is_sliced:  # already bounded by the list's own `limit`: its exact count is cheap
        return queryset.count(), True
    counted = queryset.order_by()[: limit + 1].count()
    if counted <= limit:
        return counted, True
    return max(estimated_count(queryset) or 0, limit + 1), False


class StandardPagination(BasePagination):
    """Page numbers with a bounded count (see the module)."""

    page_size = 50
    max_page_size = 500
    page_query_param = "page"
    page_size_query_param = "page_size"
    deep_page_hint = "narrow the filters"

    def get_page_size(self, request) -> int:
        try:
            size = int(request.query_params.get(self.page_size_query_param, self.page_size))
        except ValueError:
            return self.page_size
        return min(size, self.max_page_size) if size > 0 else self.page_size

    def paginate_queryset(self, queryset, request, view=None):
        self.request, self.size = request, self.get_page_size(request)
        raw = request.query_params.get(self.page_query_param, "1")
        try:
            self.number = int(raw)
        except ValueError:
            self.number = 0
        if self.number < 1:
            raise NotFound("Invalid page.")
        offset = (self.number - 1) * self.size
        if offset + self.size > settings.API_PAGE_MAX_ROWS:
            raise validation_error(
                f"Page numbers reach {settings.API_PAGE_MAX_ROWS} rows deep; {self.deep_page_hint}.",
                self.page_query_param)
        rows = list(queryset[offset: offset + self.size + 1])  # one more: is there a next page?
        self.has_next, rows = len(rows) > self.size, rows[: self.size]
        if self.number > 1 and not rows:
            raise NotFound("Invalid page.")
        self.count, self.count_is_exact = bounded_count(queryset)
        return rows

    def _page_link(self, number: int) -> str:
        url = self.request.build_absolute_uri()
        return remove_query_param(url, self.page_query_param) if number == 1 else replace_query_param(
            url, self.page_query_param, number)

    def get_next_link(self):
        return self._page_link(self.number + 1) if self.has_next else None

    def get_previous_link(self):
        return self._page_link(self.number - 1) if self.number > 1 else None

    def get_paginated_response(self, data):
        return Response({"count": self.count, "count_is_exact": self.count_is_exact,
                         "next": self.get_next_link(), "previous": self.get_previous_link(), "results": data})

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["count", "count_is_exact", "next", "previous", "results"],
            "properties": {
                "count": {"type": "integer", "nullable": True, "description": (
                    f"Rows of the list: exact up to {settings.API_COUNT_EXACT_LIMIT}, else an estimate; null on "
                    "a page reached by cursor.")},
                "count_is_exact": {"type": "boolean", "nullable": True,
                                   "description": "false when `count` is the database's estimate."},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.page_query_param, "required": False, "in": "query", "schema": {"type": "integer"},
             "description": f"Page number; pages reach {settings.API_PAGE_MAX_ROWS} rows deep."},
            {"name": self.page_size_query_param, "required": False, "in": "query", "schema": {"type": "integer"},
             "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size})."},
        ]


class _Cursor(CursorPagination):
    """DRF's cursor pagination, ordered as the list's FilterSet ordered the queryset."""

    page_size_query_param = "page_size"

    def get_ordering(self, request, queryset, view):
        return tuple(queryset.query.order_by) or tuple(queryset.model._meta.ordering)


class CursorListPagination(StandardPagination):
    """Cursor pagination by default, page numbers on request (see the module)."""

    cursor_query_param = "cursor"
    deep_page_hint = "follow the `next` links (cursor) instead"

    def paginate_queryset(self, queryset, request, view=None):
        if self.page_query_param in request.query_params:
            self.cursor = None
            return super().paginate_queryset(queryset, request, view)
        self.cursor = _Cursor()
        self.cursor.page_size, self.cursor.max_page_size = self.page_size, self.max_page_size
        rows = self.cursor.paginate_queryset(queryset, request, view)
        self.count = self.count_is_exact = None
        if self.cursor_query_param not in request.query_params:
            self.count, self.count_is_exact = bounded_count(queryset)
        return rows

    def get_next_link(self):
        return self.cursor.get_next_link() if self.cursor else super().get_next_link()

    def get_previous_link(self):
        return self.cursor.get_previous_link() if self.cursor else super().get_previous_link()

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), {
            "name": self.cursor_query_param, "required": False, "in": "query", "schema": {"type": "string"},
            "description": "Opaque position from a `next` or `previous` link; the back office's way to page."}]
