"""What list tests share: the query budget of a list per page size (or `limit`), and a cursor walk."""

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


def cursor_walk(client, url: str, params: dict | None = None) -> tuple[list, dict]:
    """Every page of a cursor walk from the first page: (ids, the first page's body)."""
    first = client.get(url, params or {}).json()
    seen, body = [row["id"] for row in first["results"]], first
    while body["next"]:
        assert "cursor=" in body["next"] and "page=" not in body["next"]
        body = client.get(body["next"]).json()
        assert body["count"] is None  # a page reached by cursor is not counted
        seen += [row["id"] for row in body["results"]]
    return seen, first
