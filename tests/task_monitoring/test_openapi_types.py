"""The dashboards' responses are typed in the OpenAPI schema (not free-form objects)."""

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return Client().get("/api/schema/", {"format": "json"}).json()


def response_schema(schema, path, method="get"):
    ref = schema["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def resolve(schema, prop):
    ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref")
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]] if ref else prop


@pytest.mark.parametrize(("path", "method", "keys"), [
    ("/tasks/monitoring/metrics/dashboard/", "get",
     {"counts_by_status", "success_rate", "throughput", "by_task_type", "cost_by_day", "top_failures", "queues"}),
    ("/tasks/monitoring/workers/overview/", "get", {"online", "offline", "total_slots", "busy_slots", "queues"}),
    ("/tasks/system/dashboard/", "get", {"tasks_by_status", "success_rate_24h", "workers_online", "alerts_firing",
                                          "schedules"}),
    ("/tasks/monitoring/alert-rules/{id}/test/", "post", {"rule", "results"}),
    ("/tasks/system/cleanup/executions/", "post", {"tasks", "events", "metrics", "dry_run"}),
])
def test_dashboard_responses_are_typed(schema, path, method, keys):
    body = response_schema(schema, path, method)
    assert body["type"] == "object" and keys <= set(body["properties"])


def test_nested_figures_are_typed_too(schema):
    dashboard = response_schema(schema, "/tasks/monitoring/metrics/dashboard/")
    point = resolve(schema, dashboard["properties"]["throughput"]["items"])
    assert point["properties"]["bucket"] == {"type": "string", "format": "date-time",
                                             "description": point["properties"]["bucket"]["description"]}
    by_type = resolve(schema, dashboard["properties"]["by_task_type"]["items"])
    assert set(resolve(schema, by_type["properties"]["execution_time_ms"])["properties"]) == {
        "avg", "p50", "p95", "p99", "max"}
    system = response_schema(schema, "/tasks/system/dashboard/")
    schedules = resolve(schema, system["properties"]["schedules"])
    assert set(schedules["properties"]) == {"active", "paused", "inactive", "error", "total"}
