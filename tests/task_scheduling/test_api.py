"""API tests: every endpoint of /tasks/scheduled/ and the scheduling part of /tasks/system/."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.models import BaseTask
from task_scheduling.models import PeriodicTask, Schedule, ScheduledRun

P = "/tasks/scheduled/periodic-tasks/"
pytestmark = pytest.mark.django_db


def assert_error(resp, status, code, field=None):
    body = resp.json()
    assert resp.status_code == status, body
    assert set(body) == {"detail", "error_code", "field_errors"}
    assert body["error_code"] == code
    if field:
        assert field in body["field_errors"], body


def create(api, **extra):
    body = {"name": "nightly", "task_type": "demo.echo", "parameters": {"message": "x"}, "kind": "cron",
            "cron_expression": "0 2 * * *", "timezone": "Europe/Paris", **extra}
    return api.post(P, body, format="json")


def test_create_registers_one_beat_entry_and_shows_next_run_in_its_timezone(operator_api):
    resp = create(operator_api)
    assert resp.status_code == 201, resp.json()
    data = resp.json()
    assert data["schedules_active"] == 1
    assert data["next_run_at"].endswith(("+01:00", "+02:00"))
    assert "02:00" in data["next_run_at"]
    assert data["cron_description"]
    schedule = Schedule.objects.get(periodic_task_id=data["id"])
    entry = BeatEntry.objects.get(name=schedule.beat_name)
    assert entry.enabled and entry.crontab.hour == "2" and str(entry.crontab.timezone) == "Europe/Paris"


@pytest.mark.parametrize("extra,field", [
    ({"cron_expression": "61 * * * *"}, "cron_expression"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"parameters": {"message": 5}}, "parameters.message"),
    ({"task_type": "nope"}, "task_type"),
    ({"kind": "interval", "interval_seconds": None}, "interval_seconds"),
    ({"kind": "date", "run_at": "2001-01-01T00:00:00Z"}, "run_at"),
    ({"priority": "urgent"}, "priority"),
    ({"calendar": 999999}, "calendar"),
])
def test_create_validation_errors(operator_api, extra, field):
    resp = create(operator_api, **extra)
    assert_error(resp, 400, resp.json()["error_code"], field)
    assert resp.json()["error_code"] in {"VALIDATION_ERROR", "UNKNOWN_TASK_TYPE"}
    assert not PeriodicTask.objects.exists()


def test_duplicate_name_is_400(operator_api):
    assert create(operator_api).status_code == 201
    assert_error(create(operator_api), 400, "VALIDATION_ERROR", "name")


def test_roles_and_brand_scoping(api, viewer_api, operator_api, outsider, other_brand):
    assert_error(create(viewer_api), 403, "PERMISSION_DENIED")
    pk = create(operator_api).json()["id"]
    assert viewer_api.get(f"{P}{pk}/").status_code == 200
    other = api(outsider, other_brand)
    assert_error(other.get(f"{P}{pk}/"), 404, "PERIODIC_TASK_NOT_FOUND")
    assert_error(other.post(f"{P}{pk}/pause/"), 404, "PERIODIC_TASK_NOT_FOUND")
    assert other.get(P).json()["count"] == 0
    assert_error(api().get(P), 401, "NOT_AUTHENTICATED")


def test_update_timing_rewrites_the_beat_entry(operator_api):
    pk = create(operator_api).json()["id"]
    resp = operator_api.patch(f"{P}{pk}/", {"cron_expression": "@hourly"}, format="json")
    assert resp.status_code == 200, resp.json()
    entry = BeatEntry.objects.get(name=Schedule.objects.get(periodic_task_id=pk).beat_name)
    assert (entry.crontab.minute, entry.crontab.hour) == ("0", "*")
    assert_error(operator_api.patch(f"{P}{pk}/", {"cron_expression": "bad"}, format="json"), 400,
                 "VALIDATION_ERROR", "cron_expression")


def test_pause_resume_template_and_409(operator_api):
    pk = create(operator_api).json()["id"]
    entry_name = Schedule.objects.get(periodic_task_id=pk).beat_name
    resp = operator_api.post(f"{P}{pk}/pause/")
    assert resp.status_code == 200 and resp.json()["is_active"] is False
    assert not BeatEntry.objects.get(name=entry_name).enabled
    assert Schedule.objects.get(periodic_task_id=pk).status == "paused"
    assert_error(operator_api.post(f"{P}{pk}/pause/"), 409, "INVALID_TRANSITION")
    assert_error(operator_api.post(f"{P}{pk}/run-now/"), 409, "INVALID_TRANSITION")
    resp = operator_api.post(f"{P}{pk}/resume/")
    assert resp.status_code == 200 and resp.json()["is_active"] is True
    assert BeatEntry.objects.get(name=entry_name).enabled
    assert_error(operator_api.post(f"{P}{pk}/resume/"), 409, "INVALID_TRANSITION")


def test_run_now_returns_the_new_task_and_it_shows_in_executions_and_task_filters(operator_api):
    pk = create(operator_api).json()["id"]
    resp = operator_api.post(f"{P}{pk}/run-now/")
    assert resp.status_code == 201, resp.json()
    task = BaseTask.objects.get(pk=resp.json()["id"])
    assert str(task.task_id) == resp.json()["task_id"] and task.origin == "schedule"
    assert task.context_data == {"message": "x"}
    operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {}}, format="json")
    execs = operator_api.get(f"{P}{pk}/executions/").json()
    assert execs["count"] == 1 and execs["results"][0]["task"]["id"] == task.pk
    assert execs["stats"]["next_run_at"] is not None
    periodic = operator_api.get("/tasks/?is_periodic=true").json()
    assert [t["id"] for t in periodic["results"]] == [task.pk]
    assert task.pk not in [t["id"] for t in operator_api.get("/tasks/?is_periodic=false").json()["results"]]
    assert [t["id"] for t in operator_api.get(f"/tasks/?periodic_task={pk}").json()["results"]] == [task.pk]


def test_executions_stats_and_filters(operator_api, brand):
    pk = create(operator_api).json()["id"]
    template = PeriodicTask.objects.get(pk=pk)
    now = timezone.now()
    for i, status in enumerate(["completed", "completed", "failed"]):
        t = BaseTask.objects.create(brand=brand, task_type="demo.echo", status=status, origin="schedule",
                                    started_at=now, completed_at=now + timedelta(seconds=2 * (i + 1)))
        ScheduledRun.objects.create(brand=brand, periodic_task=template, task=t, due_at=now - timedelta(hours=i),
                                    outcome="fired")
    ScheduledRun.objects.create(brand=brand, periodic_task=template, due_at=now - timedelta(hours=5),
                                outcome="skipped_overlap")
    data = operator_api.get(f"{P}{pk}/executions/").json()
    assert data["count"] == 4
    assert data["stats"]["success_rate"] == pytest.approx(2 / 3, abs=1e-3)
    assert data["stats"]["average_duration_ms"] == 3000
    assert operator_api.get(f"{P}{pk}/executions/?status=failed").json()["count"] == 1
    assert operator_api.get(f"{P}{pk}/executions/?status=skipped_overlap").json()["count"] == 1
    since = (now - timedelta(minutes=90)).isoformat()
    assert operator_api.get(f"{P}{pk}/executions/", {"due_at__gte": since}).json()["count"] == 2
    assert_error(operator_api.get(f"{P}{pk}/executions/?status=bogus"), 400, "VALIDATION_ERROR", "status")


def test_schedules_instances_with_overrides_pause_resume_delete(operator_api):
    pk = create(operator_api).json()["id"]
    resp = operator_api.post(f"{P}{pk}/schedules/", {"parameter_overrides": {"message": "other"}, "label": "b"},
                             format="json")
    assert resp.status_code == 201, resp.json()
    sid = resp.json()["id"]
    assert resp.json()["snapshot"]["cron_expression"] == "0 2 * * *"
    assert resp.json()["recent_events"][0]["event_type"] == "registered"
    assert operator_api.get(f"{P}{pk}/schedules/").json()["count"] == 2
    assert_error(operator_api.post(f"{P}{pk}/schedules/", {"parameter_overrides": {"message": 1}}, format="json"),
                 400, "VALIDATION_ERROR", "parameter_overrides.message")
    S = "/tasks/scheduled/schedules/"
    assert operator_api.post(f"{S}{sid}/pause/").json()["status"] == "paused"
    assert_error(operator_api.post(f"{S}{sid}/pause/"), 409, "INVALID_TRANSITION")
    detail = operator_api.post(f"{S}{sid}/resume/").json()
    assert detail["status"] == "active"
    assert [e["event_type"] for e in detail["recent_events"]][:3] == ["status_changed", "status_changed",
                                                                      "registered"]
    assert operator_api.get(f"{S}?status=active").json()["count"] == 2
    assert_error(operator_api.get(f"{S}?status=nope"), 400, "VALIDATION_ERROR", "status")
    name = Schedule.objects.get(pk=sid).beat_name
    assert operator_api.delete(f"{S}{sid}/").status_code == 204
    assert not BeatEntry.objects.filter(name=name).exists()
    assert_error(operator_api.get(f"{S}{sid}/"), 404, "SCHEDULE_NOT_FOUND")


def test_delete_template_unregisters_schedules_and_keeps_runs(operator_api):
    pk = create(operator_api).json()["id"]
    operator_api.post(f"{P}{pk}/schedules/", {}, format="json")
    task_id = operator_api.post(f"{P}{pk}/run-now/").json()["id"]
    names = list(Schedule.objects.filter(periodic_task_id=pk).values_list("beat_name", flat=True))
    assert len(names) == 2
    assert operator_api.delete(f"{P}{pk}/").status_code == 204
    assert not BeatEntry.objects.filter(name__in=names).exists()
    assert not Schedule.objects.exists()
    run = ScheduledRun.objects.get(task_id=task_id)
    assert run.periodic_task_id is None and BaseTask.objects.filter(pk=task_id).exists()


def test_manual_template_has_no_schedule_but_runs_now(operator_api):
    resp = create(operator_api, kind="manual", cron_expression="")
    assert resp.status_code == 201 and resp.json()["schedules_total"] == 0
    pk = resp.json()["id"]
    assert operator_api.post(f"{P}{pk}/run-now/").status_code == 201
    assert_error(operator_api.post(f"{P}{pk}/schedules/", {}, format="json"), 409, "INVALID_TRANSITION")


def test_ready_for_execution_lists_due_active_schedules(operator_api):
    pk = create(operator_api).json()["id"]
    assert operator_api.get(f"{P}ready-for-execution/").json()["count"] == 0
    Schedule.objects.filter(periodic_task_id=pk).update(next_run_at=timezone.now() - timedelta(seconds=5))
    assert operator_api.get(f"{P}ready-for-execution/").json()["count"] == 1
    operator_api.post(f"{P}{pk}/pause/")
    assert operator_api.get(f"{P}ready-for-execution/").json()["count"] == 0


def test_validate_cron(viewer_api, operator_api):
    resp = viewer_api.post(f"{P}validate-cron/", {"expression": "30 2 * * *", "timezone": "Europe/Paris",
                                                  "count": 3, "after": "2025-03-28T12:00:00Z"}, format="json")
    data = resp.json()
    assert resp.status_code == 200 and data["valid"] and data["description"]
    assert [r["at_utc"] for r in data["next_runs"]] == ["2025-03-29T01:30:00Z", "2025-03-30T01:00:00Z",
                                                        "2025-03-31T00:30:00Z"]
    assert data["next_runs"][1]["dst"] == "gap" and len(data["warnings"]) == 1
    bad = viewer_api.post(f"{P}validate-cron/", {"expression": "* * *"}, format="json").json()
    assert bad["valid"] is False and "5 fields" in bad["error"]
    assert_error(viewer_api.post(f"{P}validate-cron/", {"expression": "* * * * *", "timezone": "X/Y"},
                                 format="json"), 400, "VALIDATION_ERROR", "timezone")
    cal = operator_api.post("/tasks/scheduled/calendars/", {"name": "xmas", "excluded_dates": ["2025-12-25"]},
                            format="json").json()
    data = viewer_api.post(f"{P}validate-cron/", {"expression": "@daily", "count": 3, "calendar": cal["id"],
                                                  "after": "2025-12-24T12:00:00Z"}, format="json").json()
    assert [r["excluded"] for r in data["next_runs"]] == [True, False, False]


def test_summary(operator_api):
    pk = create(operator_api).json()["id"]
    create(operator_api, name="second")
    operator_api.post(f"{P}{pk}/pause/")
    data = operator_api.get(f"{P}summary/").json()
    assert data["schedules_by_status"]["active"] == 1 and data["schedules_by_status"]["paused"] == 1
    assert data["periodic_tasks"] == {"total": 2, "active": 1, "inactive": 1}
    assert data["next_fire"]["name"] == "second"


def test_cron_jobs_one_off(operator_api):
    at = (timezone.now() + timedelta(hours=2)).isoformat()
    resp = operator_api.post("/tasks/scheduled/cron-jobs/", {"name": "once", "task_type": "demo.echo",
                                                             "run_at": at}, format="json")
    assert resp.status_code == 201, resp.json()
    entry = BeatEntry.objects.get(name=Schedule.objects.get(periodic_task_id=resp.json()["id"]).beat_name)
    assert entry.one_off and entry.clocked is not None
    create(operator_api)
    listing = operator_api.get("/tasks/scheduled/cron-jobs/").json()
    assert [j["name"] for j in listing["results"]] == ["once"]
    assert_error(operator_api.post("/tasks/scheduled/cron-jobs/", {"name": "late", "task_type": "demo.echo",
                                                                   "run_at": "2000-01-01T00:00:00Z"},
                                   format="json"), 400, "VALIDATION_ERROR", "run_at")
    assert operator_api.delete(f"/tasks/scheduled/cron-jobs/{resp.json()['id']}/").status_code == 204


def test_calendars_crud_and_preview(operator_api, api, outsider, other_brand):
    C = "/tasks/scheduled/calendars/"
    assert_error(operator_api.post(C, {"name": "c", "excluded_dates": ["2025-13-01"]}, format="json"), 400,
                 "VALIDATION_ERROR", "excluded_dates.0")
    assert_error(operator_api.post(C, {"name": "c", "blackout_windows": [{"start": "25:00", "end": "01:00"}]},
                                   format="json"), 400, "VALIDATION_ERROR", "blackout_windows.0")
    cal = operator_api.post(C, {"name": "weekends", "timezone": "Europe/Paris",
                                "blackout_windows": [{"days": [5, 6], "start": "00:00", "end": "23:59"}]},
                            format="json").json()
    create(operator_api, cron_expression="0 12 * * *", calendar=cal["id"])
    preview = operator_api.get(f"{C}{cal['id']}/preview/?count=14").json()
    assert preview[0]["removed"] == 4 and len(preview[0]["runs"]) == 14
    assert operator_api.patch(f"{C}{cal['id']}/", {"excluded_dates": ["2030-01-01"]},
                              format="json").json()["excluded_dates"] == ["2030-01-01"]
    assert_error(api(outsider, other_brand).get(f"{C}{cal['id']}/"), 404, "CALENDAR_NOT_FOUND")
    assert operator_api.delete(f"{C}{cal['id']}/").status_code == 204
    assert PeriodicTask.objects.get().calendar is None


def test_orphans_listed_and_cleaned(operator_api, admin_api, brand):
    pk = create(operator_api).json()["id"]
    orm = create(operator_api, name="orm").json()["id"]
    raw = create(operator_api, name="raw").json()["id"]
    schedule = Schedule.objects.get(periodic_task_id=pk)
    # Deleted behind the services' back: a queryset delete of the template leaves its schedule orphaned.
    PeriodicTask.objects.filter(pk=pk).delete()
    # A schedule deleted through the ORM takes its Beat row with it (post_delete): no orphan.
    by_orm = Schedule.objects.get(periodic_task_id=orm)
    Schedule.objects.filter(pk=by_orm.pk).delete()
    assert not BeatEntry.objects.filter(name=by_orm.beat_name).exists()
    PeriodicTask.objects.filter(pk=orm).delete()
    # Raw SQL bypasses everything: its Beat row is left behind.
    by_sql = Schedule.objects.get(periodic_task_id=raw)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM task_scheduling_scheduleevent WHERE schedule_id = %s", [by_sql.pk])
        cursor.execute("DELETE FROM task_scheduling_schedule WHERE id = %s", [by_sql.pk])
    PeriodicTask.objects.filter(pk=raw).delete()
    found = operator_api.get("/tasks/system/orphans/").json()
    assert {e["reason"] for e in found["beat_entries"]} == {"template is gone", "schedule is gone"}
    assert [s["id"] for s in found["schedules"]] == [schedule.pk]
    assert_error(operator_api.post("/tasks/system/cleanup/orphans/"), 403, "PERMISSION_DENIED")
    done = admin_api.post("/tasks/system/cleanup/orphans/").json()
    assert done["beat_entries_removed"] == 2 and done["schedules_removed"] == 1
    assert admin_api.get("/tasks/system/orphans/").json() == {"beat_entries": [], "schedules": []}
    assert not BeatEntry.objects.filter(task="task_scheduling.fire").exists()


def test_openapi_schema_generates(operator_api, api, superuser):
    resp = api(superuser).get("/api/schema/?format=json")
    assert resp.status_code == 200
    paths = resp.json()["paths"]
    for p in ["/tasks/scheduled/periodic-tasks/{id}/run-now/", "/tasks/scheduled/periodic-tasks/validate-cron/",
              "/tasks/scheduled/schedules/{id}/pause/", "/tasks/system/cleanup/orphans/"]:
        assert p in paths
