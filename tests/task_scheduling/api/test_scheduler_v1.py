"""/api/v1/scheduler/: the Russian reference's scheduler API, its names and status codes, over our services;
/api/scheduler/ answers 308 to it."""

from datetime import timedelta

import pytest

from task_scheduling.models import ScheduledRun, ScheduleTemplate
from tests.live import free_port, use_broker

from ..helpers import finish
from .helpers import assert_error

pytestmark = pytest.mark.django_db
V1 = "/api/v1/scheduler"
FIELDS = {"id", "name", "task_type", "connection_id", "cron_schedule", "description", "task_params", "is_active",
          "created_at", "updated_at"}
BODY = {"name": "Daily Security Check", "task_type": "demo.echo", "connection_id": 1, "cron_schedule": "0 2 * * *",
        "task_params": {"message": "security"}}


def create(client, **extra):
    resp = client.post(f"{V1}/tasks", {**BODY, **extra}, format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


def test_create_get_list_update_delete_with_its_field_names(operator_api):
    created = create(operator_api)
    assert set(created) == FIELDS
    assert (created["cron_schedule"], created["task_params"], created["connection_id"], created["is_active"]) == (
        "0 2 * * *", {"message": "security"}, 1, True)
    assert ScheduleTemplate.objects.get(pk=created["id"]).schedules.count() == 1  # registered in Beat
    other = create(operator_api, name="Other", connection_id=2, is_active=False)

    assert operator_api.get(f"{V1}/tasks/{created['id']}").json() == created
    listed = operator_api.get(f"{V1}/tasks").json()
    assert isinstance(listed, list) and [t["id"] for t in listed] == [created["id"], other["id"]]
    assert [t["id"] for t in operator_api.get(f"{V1}/tasks?is_active=true").json()] == [created["id"]]
    assert [t["id"] for t in operator_api.get(f"{V1}/tasks?is_active=false").json()] == [other["id"]]
    assert [t["id"] for t in operator_api.get(f"{V1}/tasks", {"connection_id": 2}).json()] == [other["id"]]
    assert [t["name"] for t in operator_api.get("/tasks/scheduled/periodic-tasks/",
                                                {"connection_id": 1}).json()["results"]] == ["Daily Security Check"]

    updated = operator_api.put(f"{V1}/tasks/{created['id']}", {"cron_schedule": "30 3 * * *", "is_active": False},
                               format="json")
    assert updated.status_code == 200
    assert (updated.json()["cron_schedule"], updated.json()["is_active"], updated.json()["name"]) == (
        "30 3 * * *", False, "Daily Security Check")
    assert operator_api.delete(f"{V1}/tasks/{created['id']}").status_code == 204
    assert_error(operator_api.get(f"{V1}/tasks/{created['id']}"), 404, "TASK_NOT_FOUND")


@pytest.mark.parametrize("body, field", [
    ({"cron_schedule": "61 * * * *"}, "cron_schedule"),
    ({"task_type": "log_analysis"}, "task_type"),
    ({"task_params": {"message": 5}}, "task_params.message"),
    ({"name": None}, "name"),
])
def test_invalid_bodies_are_400(operator_api, body, field):
    resp = operator_api.post(f"{V1}/tasks", {**BODY, **body}, format="json")
    assert resp.status_code == 400, resp.json()
    assert set(resp.json()) == {"detail", "error_code", "field_errors"}
    assert field in resp.json()["field_errors"], resp.json()


def test_run_returns_its_execution_and_inactive_is_400(operator_api):
    task = create(operator_api)
    run = operator_api.post(f"{V1}/tasks/{task['id']}/run")
    assert run.status_code == 200 and run.json()["message"] == "Задача запущена"
    execution = operator_api.get(f"{V1}/executions/{run.json()['execution_id']}").json()
    assert set(execution) == {"id", "scheduled_task_id", "connection_id", "task_type", "status", "started_at",
                              "completed_at", "result", "error_message"}
    assert (execution["scheduled_task_id"], execution["connection_id"], execution["task_type"]) == (
        task["id"], 1, "demo.echo")
    assert execution["status"] in {"pending", "queued"} and execution["error_message"] is None

    queued = operator_api.post(f"{V1}/tasks/{task['id']}/queue")
    assert queued.status_code == 200
    assert queued.json() == {"message": f"Задача {task['id']} добавлена в очередь", "task_id": task["id"]}
    assert ScheduledRun.objects.filter(periodic_task_id=task["id"]).count() == 2

    operator_api.put(f"{V1}/tasks/{task['id']}", {"is_active": False}, format="json")
    assert_error(operator_api.post(f"{V1}/tasks/{task['id']}/run"), 400, "TASK_INACTIVE")
    assert_error(operator_api.post(f"{V1}/tasks/999999/run"), 404, "TASK_NOT_FOUND")


def test_executions_filters_and_limit(operator_api, brand):
    a = create(operator_api)
    b = create(operator_api, name="seo", connection_id=7, task_type="seo_keyword_analysis",
               task_params={"keyword_ids": [1]})
    for template in (a, a, b):
        operator_api.post(f"{V1}/tasks/{template['id']}/run")
    failed = ScheduledRun.objects.filter(periodic_task_id=a["id"]).order_by("id").first().task
    finish(failed, "failed", error_message="boom")

    def ids(**params):
        resp = operator_api.get(f"{V1}/executions", params)
        assert resp.status_code == 200, resp.json()
        return [e["scheduled_task_id"] for e in resp.json()]

    assert ids() == [b["id"], a["id"], a["id"]]
    assert ids(connection_id=7) == [b["id"]] and ids(task_type="demo.echo") == [a["id"], a["id"]]
    assert ids(status_filter="failed") == [a["id"]] and ids(limit=1) == [b["id"]]
    (row,) = operator_api.get(f"{V1}/executions", {"status_filter": "failed"}).json()
    assert row["error_message"] == "boom"
    assert_error(operator_api.get(f"{V1}/executions", {"status_filter": "nope"}), 400, "VALIDATION_ERROR",
                 "status_filter")
    assert_error(operator_api.get(f"{V1}/executions/999999"), 404, "EXECUTION_NOT_FOUND")


def test_executions_limit_is_capped(operator_api):
    """`limit` reaches SCHEDULER_V1_LIMIT_MAX (200) rows: one more is a 400 naming it, in the error shape."""
    assert operator_api.get(f"{V1}/executions", {"limit": 200}).status_code == 200
    assert_error(operator_api.get(f"{V1}/executions", {"limit": 201}), 400, "VALIDATION_ERROR", "limit")
    assert_error(operator_api.get(f"{V1}/executions", {"limit": 0}), 400, "VALIDATION_ERROR", "limit")


def test_stats_in_its_exact_shape(operator_api):
    a = create(operator_api)
    create(operator_api, name="off", is_active=False)
    operator_api.post(f"{V1}/tasks/{a['id']}/run")
    stats = operator_api.get(f"{V1}/stats").json()
    assert set(stats) == {"tasks", "executions_24h", "timestamp"}
    assert stats["tasks"] == {"total_tasks": 2, "active_tasks": 1, "inactive_tasks": 1}
    assert set(stats["executions_24h"]) == {"total_executions", "completed", "failed", "running"}
    assert stats["executions_24h"]["total_executions"] == 1


@pytest.mark.redis
def test_queue_status_and_503_when_redis_is_down(operator_api):
    status = operator_api.get(f"{V1}/queue/status")
    assert status.status_code == 200 and set(status.json()) == {"queue_length", "timestamp"}
    assert isinstance(status.json()["queue_length"], int)
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        assert_error(operator_api.get(f"{V1}/queue/status"), 503, "BROKER_UNAVAILABLE")


def test_same_jwt_and_brand_auth(api, operator, brand, outsider, other_brand):
    task = create(api(operator, brand))
    assert api().get(f"{V1}/tasks").status_code == 401
    assert_error(api(operator).get(f"{V1}/tasks"), 400, "BRAND_REQUIRED")
    assert_error(api(outsider, other_brand).get(f"{V1}/tasks/{task['id']}"), 404, "TASK_NOT_FOUND")


@pytest.mark.parametrize("method", ["post", "put"])
def test_the_legacy_path_answers_308_and_a_client_following_it_keeps_method_and_body(operator_api, method):
    first = create(operator_api) if method == "put" else None
    path = f"/api/scheduler/tasks/{first['id']}" if first else "/api/scheduler/tasks"
    body = {"name": "Via legacy", "cron_schedule": "0 4 * * *"} if first else {**BODY, "name": "Via legacy"}
    moved = getattr(operator_api, method)(f"{path}?x=1", body, format="json")
    assert moved.status_code == 308 and moved["Location"] == path.replace("/api/", "/api/v1/", 1) + "?x=1"
    followed = getattr(operator_api, method)(path, body, format="json", follow=True)
    assert followed.redirect_chain == [(path.replace("/api/", "/api/v1/", 1), 308)]
    assert followed.status_code == (200 if first else 201)
    assert followed.json()["name"] == "Via legacy"
    assert operator_api.get("/api/scheduler").status_code == 308


def test_openapi_lists_it_under_its_own_tag(operator_api):
    schema = operator_api.get("/api/schema/?format=json").json()
    ops = [op for path, item in schema["paths"].items() if path.startswith("/api/v1/scheduler/")
           for op in item.values() if isinstance(op, dict)]
    assert len(ops) >= 11 and all(op["tags"] == ["scheduler v1"] for op in ops)


def test_v1_rows_are_represented_as_drf_would(operator_api, brand):
    """The compiled representations (megahub/api/representation.py) answer DRF's own, key for key, for
    executions read with only the columns they show and their task's and template's as annotations (a
    finished run, a failed one, runs without a task, one whose template is gone), the same as the periodic
    task executions show them; and for scheduled tasks."""
    from rest_framework import serializers

    from task_scheduling.api.scheduler_v1.serializers import ExecutionV1Serializer, ScheduledTaskSerializer
    from task_scheduling.models import ScheduleTemplate
    from task_scheduling.selectors.executions import brand_executions

    a = create(operator_api)
    create(operator_api, name="seo", connection_id=7, task_type="seo_keyword_analysis",
           task_params={"keyword_ids": [1]})
    for _ in range(2):
        operator_api.post(f"{V1}/tasks/{a['id']}/run")
    first, second = ScheduledRun.objects.filter(periodic_task_id=a["id"]).order_by("id")
    finish(first.task, "failed", error_message="boom")
    finish(second.task, "completed", result_data={"ok": True})
    ScheduledRun.objects.create(brand=brand, periodic_task_id=a["id"], due_at=first.due_at - timedelta(seconds=1),
                                outcome="error", detail="parameters no longer valid")
    ScheduledRun.objects.create(brand=brand, periodic_task=None, due_at=first.due_at - timedelta(seconds=2),
                                outcome="skipped_overlap")  # its template deleted
    rows = list(brand_executions(brand=brand, shown=ExecutionV1Serializer))
    assert {r.outcome for r in rows} == {"manual", "error", "skipped_overlap"}
    compiled = ExecutionV1Serializer(rows, many=True).data
    assert [dict(r) for r in compiled] == [serializers.Serializer.to_representation(ExecutionV1Serializer(), r)
                                           for r in rows]
    v1 = operator_api.get(f"{V1}/executions").json()
    assert [e["error_message"] for e in v1] == [None, "boom", "parameters no longer valid", None]
    # the same readings as the periodic-task executions' (whose rows join the task and template instances)
    full = operator_api.get("/tasks/scheduled/executions/").json()["results"]
    connection = dict(ScheduleTemplate.objects.values_list("pk", "connection_id"))
    assert v1 == [{"id": e["id"], "scheduled_task_id": e["periodic_task"],
                   "connection_id": connection.get(e["periodic_task"]), "task_type": e["task_type"],
                   "status": e["status"], "started_at": e["started_at"], "completed_at": e["completed_at"],
                   "result": e["result_data"], "error_message": e["error_message"] or None} for e in full]
    assert v1[0]["result"] == {"ok": True} and v1[0]["status"] == "completed" and v1[3]["task_type"] == ""
    templates = list(ScheduleTemplate.objects.filter(brand=brand))
    assert [dict(r) for r in ScheduledTaskSerializer(templates, many=True).data] == [
        serializers.Serializer.to_representation(ScheduledTaskSerializer(), t) for t in templates]


def test_v1_tasks_and_executions_stats_statements_do_not_grow(operator_api):
    """/api/v1/scheduler/tasks is one statement after the user's (the columns v1 shows, whatever the number of
    tasks); the executions' statistics one (the newest runs grouped in one statement), two more for one
    template's (the filter's check of the id, then the template with its next run)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def statements(url):
        with CaptureQueriesContext(connection) as ctx:
            assert operator_api.get(url).status_code == 200
        return len(ctx.captured_queries)

    for n in range(5):
        task = create(operator_api, name=f"t{n}")
        operator_api.post(f"{V1}/tasks/{task['id']}/run")
        if n in (1, 4):
            assert statements(f"{V1}/tasks") == 2 and len(operator_api.get(f"{V1}/tasks").json()) == n + 1
            assert statements("/tasks/scheduled/executions/stats/") == 2
            assert statements(f"/tasks/scheduled/executions/stats/?periodic_task={task['id']}") == 4
