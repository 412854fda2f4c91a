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
    # Runs past year 9999 do not exist: a bounded `after` is a 400 naming it, never a server error.
    assert_error(viewer_api.post(f"{P}validate-cron/", {"expression": "0 0 29 2 *", "after": "9999-01-01T00:00:00Z"},
                                 format="json"), 400, "VALIDATION_ERROR", "after")
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
    # No weekday at all would read as "every day": refused, not guessed.
    assert_error(operator_api.post(C, {"name": "c", "blackout_windows": [{"days": [], "start": "01:00",
                                                                          "end": "02:00"}]},
                                   format="json"), 400, "VALIDATION_ERROR", "blackout_windows.0")
    assert operator_api.get(C).json()["count"] == 0
    cal = operator_api.post(C, {"name": "weekends", "timezone": "Europe/Paris",
                                "blackout_windows": [{"days": [5, 6], "start": "00:00", "end": "23:59"}]},
                            format="json").json()
    assert [c["name"] for c in operator_api.get(C).json()["results"]] == ["weekends"]
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
    # A queryset delete of a template unregisters its schedules too (pre_delete): no orphan.
    by_qs = create(operator_api, name="queryset").json()["id"]
    by_qs_schedule = Schedule.objects.get(periodic_task_id=by_qs)
    PeriodicTask.objects.filter(pk=by_qs).delete()
    assert not Schedule.objects.filter(pk=by_qs_schedule.pk).exists()
    assert not BeatEntry.objects.filter(name=by_qs_schedule.beat_name).exists()
    schedule = Schedule.objects.get(periodic_task_id=pk)
    # Unlinked behind the services' back (a bulk update), then deleted: its schedule is orphaned.
    Schedule.objects.filter(pk=schedule.pk).update(periodic_task=None)
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


# --- every path, every role, every error ----------------------------------------------------------

S = "/tasks/scheduled/schedules/"
C = "/tasks/scheduled/calendars/"
J = "/tasks/scheduled/cron-jobs/"


@pytest.fixture
def objects(operator_api):
    """One of each object of the brand, by id."""
    pk = create(operator_api).json()["id"]
    cal = operator_api.post(C, {"name": "cal"}, format="json").json()["id"]
    run_at = (timezone.now() + timedelta(hours=1)).isoformat()
    job = operator_api.post(J, {"name": "job", "task_type": "demo.echo", "run_at": run_at}, format="json").json()["id"]
    return {"template": pk, "schedule": Schedule.objects.get(periodic_task_id=pk).pk, "calendar": cal, "job": job}


def path_calls(o):
    t, s, c, j = o["template"], o["schedule"], o["calendar"], o["job"]
    body = {"name": "x", "task_type": "demo.echo", "kind": "manual"}
    return [
        ("get", f"{P}{t}/", None), ("put", f"{P}{t}/", body), ("patch", f"{P}{t}/", {"description": "d"}),
        ("post", f"{P}{t}/pause/", None), ("post", f"{P}{t}/resume/", None), ("post", f"{P}{t}/run-now/", None),
        ("get", f"{P}{t}/executions/", None), ("get", f"{P}{t}/schedules/", None),
        ("post", f"{P}{t}/schedules/", {}), ("get", f"{S}{s}/", None), ("post", f"{S}{s}/pause/", None),
        ("post", f"{S}{s}/resume/", None), ("get", f"{J}{j}/", None), ("get", f"{C}{c}/", None),
        ("put", f"{C}{c}/", {"name": "y"}), ("patch", f"{C}{c}/", {"name": "y"}), ("get", f"{C}{c}/preview/", None),
        ("delete", f"{S}{s}/", None), ("delete", f"{J}{j}/", None), ("delete", f"{C}{c}/", None),
        ("delete", f"{P}{t}/", None),
    ]


CODES = {P: "PERIODIC_TASK_NOT_FOUND", S: "SCHEDULE_NOT_FOUND", C: "CALENDAR_NOT_FOUND", J: "CRON_JOB_NOT_FOUND"}


def test_another_brands_objects_are_404_on_every_path(objects, api, outsider, other_brand):
    other = api(outsider, other_brand)
    for method, path, body in path_calls(objects):
        resp = getattr(other, method)(path, body, format="json")
        assert_error(resp, 404, CODES[next(p for p in CODES if path.startswith(p))])
    assert PeriodicTask.objects.filter(pk=objects["template"], is_active=True).exists()
    assert Schedule.objects.filter(pk=objects["schedule"], status="active").exists()


def test_a_viewer_may_read_but_every_write_is_403(objects, viewer_api):
    for method, path, body in path_calls(objects):
        resp = getattr(viewer_api, method)(path, body, format="json")
        if method == "get":
            assert resp.status_code == 200, (path, resp.json())
        else:
            assert_error(resp, 403, "PERMISSION_DENIED")
    for path, body in [(P, {"name": "v", "task_type": "demo.echo", "kind": "manual"}), (C, {"name": "v"}),
                       (J, {"name": "v", "task_type": "demo.echo", "run_at": "2099-01-01T00:00:00Z"})]:
        assert_error(viewer_api.post(path, body, format="json"), 403, "PERMISSION_DENIED")
    assert_error(viewer_api.post("/tasks/system/cleanup/orphans/"), 403, "PERMISSION_DENIED")
    assert PeriodicTask.objects.count() == 2 and Schedule.objects.filter(status="active").count() == 2


@pytest.mark.parametrize("method,path", [
    ("put", S + "{s}/"), ("patch", S + "{s}/"), ("post", S + "{s}/"), ("put", J + "{j}/"), ("patch", J + "{j}/"),
    ("get", P + "validate-cron/"), ("post", P + "summary/"), ("delete", P + "ready-for-execution/"),
    ("put", "/tasks/system/orphans/"), ("get", "/tasks/system/cleanup/orphans/"),
])
def test_unsupported_methods_are_405(objects, admin_api, method, path):
    resp = getattr(admin_api, method)(path.format(s=objects["schedule"], j=objects["job"]), {}, format="json")
    assert_error(resp, 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize("path", [
    P + "?is_active=maybe", P + "?kind=weekly", P + "{t}/?include=everything", P + "{t}/executions/?status=bogus",
    P + "{t}/executions/?due_at__gte=yesterday", S + "?status=sleeping", S + "?periodic_task=abc",
    S + "?periodic_task=999999", C + "{c}/preview/?count=abc", C + "{c}/preview/?count=1000",
    "/tasks/?periodic_task=999999", "/tasks/?periodic_task=abc", S + "{s}/?events=0", S + "{s}/?events=x",
])
def test_bad_query_parameters_are_400_naming_them(objects, operator_api, path):
    resp = operator_api.get(path.format(t=objects["template"], c=objects["calendar"], s=objects["schedule"]))
    name = path.split("?", 1)[1].split("=", 1)[0]
    assert_error(resp, 400, "VALIDATION_ERROR", name)


def test_ids_of_another_brand_in_a_body_or_filter_are_400_naming_the_field(operator_api, api, outsider, other_brand):
    """The rule: an id in the path that is not the brand's is a 404; an id in a body or a query filter is
    a 400 naming the field (the same answer as for an id that does not exist)."""
    other = api(outsider, other_brand)
    their_cal = other.post(C, {"name": "theirs"}, format="json").json()["id"]
    their_template = create(other).json()["id"]
    assert_error(create(operator_api, calendar=their_cal), 400, "VALIDATION_ERROR", "calendar")
    assert_error(operator_api.post(f"{P}validate-cron/", {"expression": "@daily", "calendar": their_cal},
                                   format="json"), 400, "VALIDATION_ERROR", "calendar")
    assert_error(operator_api.get(f"/tasks/?periodic_task={their_template}"), 400, "VALIDATION_ERROR",
                 "periodic_task")
    assert_error(operator_api.get(f"{S}?periodic_task={their_template}"), 400, "VALIDATION_ERROR", "periodic_task")
    mine = create(operator_api).json()["id"]
    assert operator_api.get(f"/tasks/?periodic_task={mine}").status_code == 200


def test_conflicts_are_409(operator_api, objects):
    t, s = objects["template"], objects["schedule"]
    assert_error(operator_api.post(f"{S}{s}/resume/"), 409, "INVALID_TRANSITION")  # already active
    assert operator_api.post(f"{P}{t}/pause/").status_code == 200
    assert_error(operator_api.post(f"{P}{t}/schedules/", {}, format="json"), 409, "INVALID_TRANSITION")
    assert_error(operator_api.post(f"{S}{s}/resume/"), 409, "INVALID_TRANSITION")  # its template is paused
    assert_error(operator_api.post(f"{S}{s}/pause/"), 409, "INVALID_TRANSITION")  # already paused
    assert_error(operator_api.post(f"{P}{t}/run-now/"), 409, "INVALID_TRANSITION")


def test_list_filters(operator_api):
    create(operator_api, name="alpha", description="invoices")
    create(operator_api, name="beta", kind="interval", interval_seconds=60, cron_expression="")
    gamma = create(operator_api, name="gamma", task_type="demo.sleep", parameters={"seconds": 1}).json()["id"]
    operator_api.post(f"{P}{gamma}/pause/")

    def names(query):
        return [r["name"] for r in operator_api.get(f"{P}?{query}").json()["results"]]

    assert names("is_active=false") == ["gamma"]
    assert names("is_active=true") == ["alpha", "beta"]
    assert names("kind=interval") == ["beta"]
    assert names("task_type=demo.sleep") == ["gamma"]
    assert names("search=invoice") == ["alpha"]


def test_put_replaces_the_definition(operator_api):
    pk = create(operator_api).json()["id"]
    body = {"name": "renamed", "task_type": "demo.echo", "parameters": {"message": "new"}, "kind": "interval",
            "interval_seconds": 300, "timezone": "UTC", "overlap_policy": "queue"}
    data = operator_api.put(f"{P}{pk}/", body, format="json").json()
    assert (data["name"], data["kind"], data["interval_seconds"], data["overlap_policy"]) == (
        "renamed", "interval", 300, "queue")
    entry = BeatEntry.objects.get(name=Schedule.objects.get(periodic_task_id=pk).beat_name)
    assert entry.interval.every == 300 and entry.crontab is None
    assert_error(operator_api.put(f"{P}{pk}/", {"name": "x"}, format="json"), 400, "VALIDATION_ERROR", "task_type")


def test_executions_items_carry_the_run_and_its_task(operator_api, brand):
    pk = create(operator_api).json()["id"]
    template = PeriodicTask.objects.get(pk=pk)
    now = timezone.now()
    done = BaseTask.objects.create(brand=brand, task_type="demo.echo", status="completed", origin="schedule",
                                   started_at=now, completed_at=now + timedelta(seconds=1.5),
                                   result_data={"echo": "x"})
    ScheduledRun.objects.create(brand=brand, periodic_task=template, task=done, due_at=now, outcome="fired")
    ScheduledRun.objects.create(brand=brand, periodic_task=template, due_at=now - timedelta(hours=1),
                                outcome="skipped_calendar", detail="calendar c: 2025-12-25 is an excluded date")
    fired, skipped = operator_api.get(f"{P}{pk}/executions/").json()["results"]
    assert (fired["task_type"], fired["status"], fired["is_success"], fired["duration_seconds"],
            fired["result_data"], fired["task_id"]) == ("demo.echo", "completed", True, 1.5, {"echo": "x"},
                                                        str(done.task_id))
    assert (skipped["status"], skipped["is_success"], skipped["task_id"], skipped["task_type"]) == (
        "skipped_calendar", None, None, "demo.echo")
    detail = operator_api.get(f"{P}{pk}/?include=stats").json()
    assert detail["stats"]["total_runs"] == 2 and detail["stats"]["success_rate"] == 1.0
    assert "stats" not in operator_api.get(f"{P}{pk}/").json()


def test_run_now_returns_the_execution(operator_api):
    pk = create(operator_api).json()["id"]
    data = operator_api.post(f"{P}{pk}/run-now/").json()
    assert set(data) == {"id", "task_id", "status", "execution_id", "message"}
    (run,) = operator_api.get(f"{P}{pk}/executions/").json()["results"]
    assert run["id"] == data["execution_id"] and run["task_id"] == data["task_id"] and run["outcome"] == "manual"


def test_summary_runs_24h_has_every_key(operator_api):
    runs = operator_api.get(f"{P}summary/").json()["runs_24h"]
    assert {"total", "completed", "failed", "running", "pending", "queued", "retrying", "cancelled",
            "interrupted", "not_run", "outcomes"} == set(runs)
    assert runs["total"] == 0 and runs["outcomes"]["fired"] == 0
    pk = create(operator_api).json()["id"]
    operator_api.post(f"{P}{pk}/run-now/")
    runs = operator_api.get(f"{P}summary/").json()["runs_24h"]
    assert runs["total"] == 1 and runs["outcomes"]["manual"] == 1 and runs["completed"] + runs["queued"] + \
        runs["pending"] + runs["running"] == 1


def test_validate_cron_lists_the_runs_that_will_happen_and_warns_about_collapsed_times(viewer_api, operator_api):
    cal = operator_api.post(C, {"name": "weekends", "blackout_windows": [
        {"days": [5, 6], "start": "00:00", "end": "23:59"}]}, format="json").json()["id"]
    data = viewer_api.post(f"{P}validate-cron/", {"expression": "0 9 * * *", "calendar": cal, "count": 5,
                                                  "after": "2025-06-05T12:00:00Z"}, format="json").json()
    # Thu 5 June 2025 after noon: Fri 6, Sat 7 (removed), Sun 8 (removed), Mon 9, Tue 10 ...
    assert [r["excluded"] for r in data["next_runs"]] == [False, True, True, False, False]
    assert [r["at_utc"][:10] for r in data["effective_runs"]] == [
        "2025-06-06", "2025-06-09", "2025-06-10", "2025-06-11", "2025-06-12"]
    gap = viewer_api.post(f"{P}validate-cron/", {"expression": "0,30 2,3 * * *", "timezone": "Europe/Paris",
                                                 "count": 2, "after": "2025-03-29T23:00:00Z"}, format="json").json()
    assert gap["next_runs"][0]["wall_times"] == ["02:00", "02:30", "03:00"]
    assert "02:00, 02:30, 03:00" in gap["warnings"][0]
    never = viewer_api.post(f"{P}validate-cron/", {"expression": "0 0 30 2 *"}, format="json").json()
    assert never["valid"] is False and "never matches" in never["error"]


def test_schedule_detail_shows_as_many_recent_events_as_asked(operator_api, objects):
    s = objects["schedule"]
    operator_api.post(f"{S}{s}/pause/")
    operator_api.post(f"{S}{s}/resume/")
    assert len(operator_api.get(f"{S}{s}/").json()["recent_events"]) == 3
    events = operator_api.get(f"{S}{s}/?events=1").json()["recent_events"]
    assert [(e["event_type"], e["to_status"]) for e in events] == [("status_changed", "active")]
