"""The monitoring API and the cross-app task fields and filters, on a known data set."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from task_monitoring.models import TaskMetrics

from .factories import finished_task

pytestmark = pytest.mark.django_db


def test_task_shows_metrics_and_null_before_it_ran(operator_api, brand, operator):
    from task_core import services

    done = finished_task(brand, wall_ms=2500, wait_ms=40)
    waiting, _ = services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    body = operator_api.get(f"/tasks/{done.pk}/").json()
    assert body["metrics"]["execution_time_ms"] == 2500
    assert body["metrics"]["queue_wait_ms"] == 40
    assert set(body["metrics"]) == {"execution_time_ms", "queue_wait_ms", "cpu_time_ms", "memory_usage_mb",
                                    "cost_usd"}
    assert operator_api.get(f"/tasks/{waiting.pk}/").json()["metrics"] is None


def test_cross_app_filters_on_tasks(operator_api, brand, operator):
    from task_core import services

    slow = finished_task(brand, wall_ms=3000)
    fast = finished_task(brand, wall_ms=500)
    services.task_create(brand=brand, created_by=operator, task_type="demo.echo")

    def ids(query):
        resp = operator_api.get(f"/tasks/?{query}")
        assert resp.status_code == 200, resp.content
        return {row["id"] for row in resp.json()["results"]}

    assert ids("has_metrics=true") == {slow.pk, fast.pk}
    assert len(ids("has_metrics=false")) == 1
    assert ids("has_metrics=true&execution_time__gte=2000") == {slow.pk}
    assert ids("execution_time__lte=1000") == {fast.pk}
    TaskMetrics.objects.filter(pk=slow.pk).update(memory_usage_mb=700, cost_usd=Decimal("2.5"))
    assert ids("memory_usage_mb__gte=600") == {slow.pk}
    assert ids("cost_usd__gte=1") == {slow.pk}


def test_task_list_query_count_does_not_grow_with_the_page(operator_api, brand, django_assert_num_queries):
    for i in range(12):
        finished_task(brand, wall_ms=100 + i)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = []
    for size in (2, 5):  # both with a next page: a first page holding the whole list is counted by its rows
        with CaptureQueriesContext(connection) as ctx:
            resp = operator_api.get(f"/tasks/?page_size={size}&has_metrics=true&ordering=-created_at")
        assert len(resp.json()["results"]) == size
        assert all(row["metrics"] for row in resp.json()["results"])
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts


def test_metrics_list_flags_search_and_brand_scope(operator_api, brand, other_brand, settings):
    settings.MONITORING_SLOW_MS = 2000
    slow = finished_task(brand, "demo.sleep", wall_ms=2500, description="nightly import")
    finished_task(brand, wall_ms=100)
    finished_task(other_brand, "demo.sleep", wall_ms=9000)
    TaskMetrics.objects.filter(pk=slow.pk).update(flags="high_memory slow")
    rows = operator_api.get("/tasks/monitoring/metrics/").json()["results"]
    assert len(rows) == 2
    found = operator_api.get("/tasks/monitoring/metrics/?search=high_memory").json()["results"]
    assert [r["id"] for r in found] == [slow.pk] and found[0]["flags"] == ["high_memory", "slow"]
    assert [r["id"] for r in operator_api.get("/tasks/monitoring/metrics/?search=nightly").json()["results"]] == [
        slow.pk]
    assert [r["id"] for r in operator_api.get("/tasks/monitoring/metrics/?execution_time__gte=2000")
            .json()["results"]] == [slow.pk]


def test_slow_flag_from_the_global_threshold(brand, settings):
    settings.MONITORING_SLOW_MS = 1000
    task = finished_task(brand, wall_ms=1500)
    assert TaskMetrics.objects.get(pk=task.pk).flags == "slow"


def test_dashboard_figures_match_hand_computed_ones(operator_api, brand):
    for wall in (100, 200, 3000):
        finished_task(brand, wall_ms=wall, wait_ms=20)
    finished_task(brand, "demo.fail", wall_ms=50, status="failed", error="DemoFailure: boom")
    body = operator_api.get("/tasks/monitoring/metrics/dashboard/?period=24h").json()
    assert body["counts_by_status"]["completed"] == 3 and body["counts_by_status"]["failed"] == 1
    assert body["success_rate"] == 0.75
    echo = next(t for t in body["by_task_type"] if t["task_type"] == "demo.echo")
    assert echo["execution_time_ms"]["p50"] == 175.0  # 100 in (50,100], 200 in (100,250]: rank 1.5
    assert echo["execution_time_ms"]["p95"] == 2925.0  # in (2500,5000], capped at the max seen, 3000
    assert echo["execution_time_ms"]["avg"] == 1100.0
    assert body["top_failures"][0]["task_type"] == "demo.fail"
    assert body["top_failures"][0]["last_error"] == "DemoFailure: boom"
    assert sum(p["completed"] for p in body["throughput"]) == 3
    only_fail = operator_api.get("/tasks/monitoring/metrics/dashboard/?period=1h&task_type=demo.fail").json()
    assert only_fail["success_rate"] == 0.0 and [t["task_type"] for t in only_fail["by_task_type"]] == ["demo.fail"]
    old = finished_task(brand, wall_ms=100, ended=timezone.now() - timedelta(days=3))
    assert old.pk
    assert operator_api.get("/tasks/monitoring/metrics/dashboard/?period=24h").json()["counts_by_status"][
        "completed"] == 3
    assert operator_api.get("/tasks/monitoring/metrics/dashboard/?period=7d").json()["counts_by_status"][
        "completed"] == 4


def test_dashboard_rejects_an_unknown_period(operator_api):
    resp = operator_api.get("/tasks/monitoring/metrics/dashboard/?period=2y")
    assert resp.status_code == 400 and "period" in resp.json()["field_errors"]


def test_dashboard_query_count_is_independent_of_the_number_of_tasks(operator_api, brand):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    finished_task(brand, wall_ms=10)
    with CaptureQueriesContext(connection) as small:
        operator_api.get("/tasks/monitoring/metrics/dashboard/?period=24h")
    for _ in range(20):
        finished_task(brand, wall_ms=10)
    with CaptureQueriesContext(connection) as large:
        operator_api.get("/tasks/monitoring/metrics/dashboard/?period=24h")
    assert len(small.captured_queries) == len(large.captured_queries)


def test_system_dashboard_in_one_call(operator_api, brand):
    finished_task(brand, wall_ms=10)
    finished_task(brand, "demo.fail", wall_ms=10, status="failed")
    body = operator_api.get("/tasks/system/dashboard/").json()
    assert body["success_rate_24h"] == 0.5 and body["throughput_24h"] == 2
    assert body["tasks_by_status"]["completed_24h"] == 1 and "workers_online" in body
    assert body["alerts_firing"] == 0


def test_retention_cleanup_keeps_rollups(api, brand, brand_admin, operator_api):
    from task_core.models import BaseTask
    from task_monitoring.models import MetricsRollup

    old = finished_task(brand, wall_ms=10, ended=timezone.now() - timedelta(days=100))
    recent = finished_task(brand, wall_ms=10)
    admin_api = api(brand_admin, brand)
    assert operator_api.post("/tasks/system/cleanup/executions/", {}, format="json").status_code == 403
    dry = admin_api.post("/tasks/system/cleanup/executions/", {"dry_run": True}, format="json").json()
    assert (dry["tasks"], dry["metrics"], dry["events"]) == (1, 1, 4)
    assert BaseTask.objects.filter(pk=old.pk).exists()
    done = admin_api.post("/tasks/system/cleanup/executions/", {"older_than_days": 90}, format="json").json()
    assert done["tasks"] == 1 and not BaseTask.objects.filter(pk=old.pk).exists()
    assert BaseTask.objects.filter(pk=recent.pk).exists()
    assert MetricsRollup.objects.filter(brand=brand, granularity="d").count() == 2


@pytest.mark.parametrize("path", ["/tasks/monitoring/metrics/", "/tasks/monitoring/workers/",
                                  "/tasks/monitoring/alerts/", "/tasks/monitoring/alert-rules/"])
def test_monitoring_lists_refuse_unknown_query_parameters(operator_api, path):
    resp = operator_api.get(f"{path}?stauts=failed")
    assert resp.status_code == 400 and list(resp.json()["field_errors"]) == ["stauts"]


# --- query budget of the monitoring lists: constant whatever the page size ------------------------

@pytest.mark.parametrize("params", [{}, {"ordering": "-execution_time_ms"}, {"search": "high_memory"},
                                    {"flag": "slow"}, {"status": "completed", "task_type": "demo.echo"}])
def test_metrics_list_query_count_does_not_grow_with_the_page(operator_api, brand, params):
    from tests.lists import queries_per_size

    for i in range(6):
        finished_task(brand, wall_ms=100 + i, description=f"import {i}")
    TaskMetrics.objects.update(flags="high_memory slow")
    counts = queries_per_size(operator_api, "/tasks/monitoring/metrics/", params)
    assert counts[2] == counts[5], counts


def test_alert_and_worker_lists_query_count_does_not_grow(operator_api, brand, operator):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from task_monitoring.models import Alert, AlertRule, Worker
    from tests.lists import queries_per_size

    for i in range(6):
        rule = AlertRule.objects.create(brand=brand, name=f"r{i}", metric="task_failed", threshold=0)
        Alert.objects.create(rule=rule, brand=brand, severity="info", value=1, threshold=0,
                             state="acknowledged", acknowledged_by=operator)
    for params in ({}, {"state": "all", "severity": "info"}):
        counts = queries_per_size(operator_api, "/tasks/monitoring/alerts/", params)
        assert counts[2] == counts[5], counts
    counts = queries_per_size(operator_api, "/tasks/monitoring/alert-rules/")
    assert counts[2] == counts[5], counts

    def worker_list_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert len(operator_api.get("/tasks/monitoring/workers/").json()) == Worker.objects.count()
        return len(ctx.captured_queries)

    Worker.objects.create(hostname="w0@h", queues=["default"], status="online", last_heartbeat=timezone.now())
    one = worker_list_queries()
    for i in range(1, 6):
        Worker.objects.create(hostname=f"w{i}@h", queues=["default"], status="online", last_heartbeat=timezone.now())
    assert worker_list_queries() == one


def test_metrics_search_parts_and_orderings_no_index_serves(operator_api, brand, other_brand):
    echo = finished_task(brand, wall_ms=100, description="weekly needle report")
    heavy = finished_task(brand, "demo.sleep", wall_ms=200)
    finished_task(other_brand, wall_ms=100, description="weekly needle report")
    TaskMetrics.objects.filter(pk=heavy.pk).update(flags="high_memory")

    def ids(**params):
        resp = operator_api.get("/tasks/monitoring/metrics/", params)
        assert resp.status_code == 200, resp.json()
        return [r["id"] for r in resp.json()["results"]]

    assert ids(search="needle") == [echo.pk]  # the task's description, this brand's only
    assert ids(search="MEMORY") == [heavy.pk]  # part of a flag's name
    assert ids(flag="high_memory") == [heavy.pk]
    assert ids(search="demo.sl") == [heavy.pk]  # part of a registered type's name
    assert ids(search="nothing-like-it") == []
    assert ids(ordering="execution_time_ms") == [echo.pk, heavy.pk]
    for refused in ({"search": "ab"}, {"ordering": "-memory_usage_mb"}, {"ordering": "cost_usd"}):
        resp = operator_api.get("/tasks/monitoring/metrics/", refused)
        assert resp.status_code == 400 and set(refused) <= set(resp.json()["field_errors"]), resp.json()
