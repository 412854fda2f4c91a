"""The query budget of a list: the SQL statements one request runs, per page size (or per `limit`)."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def queries_per_size(client, url: str, params: dict | None = None, *, sizes=(2, 5), size_param="page_size",
                     rows=lambda body: body["results"]) -> dict[int, int]:
    """{size: statements run} for one GET of `url` per size; each answer must hold `size` rows, so that a
    query per row would show."""
    counts = {}
    for size in sizes:
        with CaptureQueriesContext(connection) as ctx:
            resp = client.get(url, {**(params or {}), size_param: size})
        assert resp.status_code == 200, resp.json()
        assert len(rows(resp.json())) == size, (url, params, size)
        counts[size] = len(ctx.captured_queries)
    return counts
