"""Pagination that does not degrade with the size of a list or the depth of a page.

- `StandardPagination` (every list's default): page numbers (`page`, `page_size`; a value that is not a whole
  number in range is a 400 naming it, never a silent default; at most 100 rows a page) with a bounded count.
  A first page that holds the whole list is counted by its rows (no statement).
  `count` is exact up to API_COUNT_EXACT_LIMIT rows, above that the database planner's estimate, and
  `count_is_exact` says which. Pages reach API_PAGE_MAX_ROWS rows deep at most (an OFFSET reads every
  row it skips): `page` is at most API_PAGE_MAX_ROWS (a 400 beyond, as its schema says), and a page deeper
  than that for its `page_size` is a 404 PAGE_TOO_DEEP naming `page` (a limit on the product of two
  parameters, which no schema of either can state; a page past the end is a 404 too).
- `CursorListPagination` adds DRF's cursor pagination (`cursor`): pages of equal cost at any depth. The
  first page (no `page`, no `cursor`) carries the bounded count and a `next` cursor link; following
  `next` and `previous` links walks by cursor (no count: it would cost a count per page); `page=N`
  keeps page numbers for existing clients.

A list opts in to cursors with `pagination_class = CursorListPagination`, on two conditions: each
ordering it offers starts with a field that is never null (filter the nulls out, as /tasks/ does for
`completed_at`) and near-unique (ties are skipped by an offset within the tie), and an index serves
each ordering with each filter in it.

Two options of a paginator class (/tasks/ sets both, `task_core.api.views.TaskPagination`; monitoring's metrics
list the first):
- `estimate_first`: the planner's estimate is read first and the rows are counted (up to the limit) only when it
  expects at most API_COUNT_EXACT_LIMIT of them. Counting 1,001 rows of a filter that the list's index
  does not hold reads a row of the table for each candidate (tens of thousands for a combination of
  filters); the estimate reads none.
- `deferred_join`: a page by number selects the ids of its rows first (the OFFSET skips index entries,
  not joined rows), then their rows with the joins of the representation.
Two a view may set on its paginator, per request, before paginating (scheduling's executions do):
- `counted`: the list's rows already counted up to API_COUNT_EXACT_LIMIT + 1 by a statement the view runs
  anyway; the count is then no statement of its own (the estimate only above the limit).
- `count_queryset`: a queryset of the same rows that is cheaper to count than the list's.
And one of `CursorListPagination` (scheduling's executions set it):
- `deferred_join_cursor`: a cursor page selects its rows' ordering columns and ids first (a statement an
  index can answer alone when the list's filters are in it), then their rows with the joins: one statement
  more, but a filter answered from an index is not joined to every candidate before the sort.
"""

import json

from django.conf import settings
from django.db import connections
from rest_framework.exceptions import NotFound
from rest_framework.pagination import BasePagination, CursorPagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from .exceptions import ApplicationError, validation_error


class PageTooDeep(ApplicationError):
    status_code = 404
    error_code = "PAGE_TOO_DEEP"


def bounded_int(raw: str, name: str, minimum: int, maximum: int | None = None) -> int:
    """`raw` as an int within [minimum, maximum], or a 400 VALIDATION_ERROR naming the parameter."""
    upper = f" and at most {maximum}" if maximum is not None else ""
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = None
    if value is None or value < minimum or (maximum is not None and value > maximum):
        message = f"A whole number of at least {minimum}{upper}."
        raise validation_error(f"Invalid {name}.", field_errors={name: [message]})
    return value


def estimated_count(queryset) -> int | None:
    """The planner's estimate of the rows of `queryset` (PostgreSQL: EXPLAIN, nothing is run); None
    elsewhere."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    # Without the joins select_related adds (they never change the number of rows): less to plan.
    sql, params = queryset.order_by().select_related(None).query.get_compiler(using=queryset.db).as_sql()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
        plan = cursor.fetchone()[0]
    plan = json.loads(plan) if isinstance(plan, str) else plan
    return int(plan[0]["Plan"]["Plan Rows"])


def bounded_count(queryset, limit: int | None = None, *, estimate_first: bool = False,
                  counted: int | None = None) -> tuple[int, bool]:
    """(count, exact): exact when the queryset has at most `limit` rows (API_COUNT_EXACT_LIMIT), which
    reads at most limit + 1 rows; otherwise the planner's estimate, never below limit + 1.
    `estimate_first`: the estimate is read first, and the rows are counted only when it is at most `limit`
    (see the module). `counted`: the rows were already counted up to limit + 1 (by a statement of the
    caller's that reads them anyway): no count statement, the estimate only above the limit."""
    limit = settings.API_COUNT_EXACT_LIMIT if limit is None else limit
    if queryset.query.is_sliced:  # already bounded by the list's own `limit`: its exact count is cheap
        return queryset.count(), True
    estimate = estimated_count(queryset) if estimate_first and counted is None else None
    if estimate is not None and estimate > limit:
        return estimate, False
    if counted is None:
        counted = queryset.order_by()[: limit + 1].count()
    if counted <= limit:
        return counted, True
    if estimate is None:
        estimate = estimated_count(queryset)
    return max(estimate or 0, limit + 1), False


def deferred_join_page(queryset, start: int, stop: int):
    """Rows [start:stop] of `queryset`, the OFFSET applied to a selection of ids without the joins of
    select_related (PostgreSQL: one statement, `id IN (SELECT id ... OFFSET LIMIT)`)."""
    ids = queryset.select_related(None).values("pk")[start:stop]
    return queryset.filter(pk__in=ids)


class StandardPagination(BasePagination):
    """Page numbers with a bounded count (see the module)."""

    page_size = 50
    max_page_size = 100  # a page of 500 rows costs several times a list's 30 ms budget in serialization alone
    estimate_first = False  # see the module
    deferred_join = False
    # The list's rows counted up to API_COUNT_EXACT_LIMIT + 1 by the view before it paginates (a statement it
    # runs anyway, e.g. scheduling's execution statistics): the count then costs no statement of its own
    # (bounded_count's `counted`). Set on the view's paginator, per request.
    counted: int | None = None
    # Or a queryset of the same number of rows that is cheaper to count than the list's (set by the view, per
    # request): scheduling's `limit`, counted as the slice of the newest N rather than as the list's filter.
    count_queryset = None
    page_query_param = "page"
    page_size_query_param = "page_size"
    deep_page_hint = "narrow the filters"

    def get_page_size(self, request) -> int:
        """`page_size` as given (1..max_page_size), else a 400 naming it: never a silent default."""
        raw = request.query_params.get(self.page_size_query_param)
        return self.page_size if raw is None else bounded_int(raw, self.page_size_query_param, 1, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request, self.size = request, self.get_page_size(request)
        self.number = bounded_int(request.query_params.get(self.page_query_param, "1"), self.page_query_param, 1,
                                  settings.API_PAGE_MAX_ROWS)
        offset = (self.number - 1) * self.size
        if offset + self.size > settings.API_PAGE_MAX_ROWS:
            message = f"Page numbers reach {settings.API_PAGE_MAX_ROWS} rows deep; {self.deep_page_hint}."
            raise PageTooDeep(message, field_errors={self.page_query_param: [message]})
        stop = offset + self.size + 1  # one more: is there a next page?
        if self.deferred_join and offset and connections[queryset.db].vendor == "postgresql":
            rows = list(deferred_join_page(queryset, offset, stop))
        else:
            rows = list(queryset[offset:stop])
        self.has_next, rows = len(rows) > self.size, rows[: self.size]
        if self.number > 1 and not rows:
            raise NotFound("Invalid page.")
        self.count, self.count_is_exact = self.first_page_count(queryset, rows, self.number == 1 and not self.has_next)
        return rows

    def first_page_count(self, queryset, rows: list, whole_list: bool) -> tuple[int, bool]:
        """(count, exact) of the list whose first page is `rows`; `whole_list`: they are all its rows."""
        if whole_list:  # every row is on this page: its length is the exact count, no statement
            return len(rows), True
        return bounded_count(queryset if self.count_queryset is None else self.count_queryset,
                             estimate_first=self.estimate_first, counted=self.counted)

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
                    (f"Rows of the list: exact when the first page holds them all or the database expects at most "
                     f"{settings.API_COUNT_EXACT_LIMIT}, else the database's estimate" if self.estimate_first else
                     f"Rows of the list: exact up to {settings.API_COUNT_EXACT_LIMIT}, else an estimate")
                    + "; null on a page reached by cursor.")},
                "count_is_exact": {"type": "boolean", "nullable": True,
                                   "description": "false when `count` is the database's estimate."},
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": self.page_query_param, "required": False, "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": settings.API_PAGE_MAX_ROWS},
             "description": f"Page number; pages reach {settings.API_PAGE_MAX_ROWS} rows deep (page × page_size): "
                            "a deeper page is a 404 PAGE_TOO_DEEP."},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size, "default": self.page_size},
             "description": f"Rows per page (default {self.page_size}, at most {self.max_page_size})."},
        ]


class _Cursor(CursorPagination):
    """DRF's cursor pagination, ordered as the list's FilterSet ordered the queryset."""

    page_size_query_param = "page_size"

    def get_ordering(self, request, queryset, view):
        return tuple(queryset.query.order_by) or tuple(queryset.model._meta.ordering)


def deferred_join_cursor_page(cursor: _Cursor, queryset, request, view) -> list:
    """The cursor page of `queryset`, its rows chosen by a statement that reads only the ordering columns
    (no select_related joins, no other column: an index can answer it alone), then read whole by id."""
    ordering = cursor.get_ordering(request, queryset, view)
    slim = queryset.select_related(None).only(*{o.lstrip("-") for o in ordering if o.lstrip("-") != "pk"})
    page = cursor.paginate_queryset(slim, request, view)
    rows = {row.pk: row for row in queryset.filter(pk__in=[row.pk for row in page])} if page else {}
    return [rows[row.pk] for row in page if row.pk in rows]


class CursorListPagination(StandardPagination):
    """Cursor pagination by default, page numbers on request (see the module)."""

    cursor_query_param = "cursor"
    # A cursor page's rows chosen by their ordering columns first, then read whole by id (PostgreSQL):
    # for a list whose filters are answered from an index that holds those columns, where the page's
    # statement with its joins would read every candidate row before sorting them.
    deferred_join_cursor = False
    deep_page_hint = "follow the `next` links (cursor) instead"

    def paginate_queryset(self, queryset, request, view=None):
        if self.page_query_param in request.query_params:
            self.cursor = None
            return super().paginate_queryset(queryset, request, view)
        self.cursor = _Cursor()
        self.cursor.page_size, self.cursor.max_page_size = self.get_page_size(request), self.max_page_size
        self.cursor.page_size_query_param = None  # read above, strictly
        if self.deferred_join_cursor and connections[queryset.db].vendor == "postgresql":
            rows = deferred_join_cursor_page(self.cursor, queryset, request, view)
        else:
            rows = self.cursor.paginate_queryset(queryset, request, view)
        self.count = self.count_is_exact = None
        if self.cursor_query_param not in request.query_params:
            self.count, self.count_is_exact = self.first_page_count(queryset, rows, not self.cursor.has_next)
        return rows

    def get_next_link(self):
        return self.cursor.get_next_link() if self.cursor else super().get_next_link()

    def get_previous_link(self):
        return self.cursor.get_previous_link() if self.cursor else super().get_previous_link()

    def get_schema_operation_parameters(self, view):
        return [*super().get_schema_operation_parameters(view), {
            "name": self.cursor_query_param, "required": False, "in": "query", "schema": {"type": "string"},
            "description": "Opaque position from a `next` or `previous` link; the back office's way to page."}]
