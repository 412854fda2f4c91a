"""/tasks/scheduled/periodic-tasks/: templates, their verbs, executions, schedules, validate-cron, summary."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.models import BaseTask
from task_scheduling.models import Schedule, ScheduledRun, ScheduleTemplate

from ..helpers import run_of
from .helpers import C, P, assert_error, create

pytestmark = pytest.mark.django_db


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
    ({"priority": "urgent"}, "priority"),
])
def test_create_validation_errors(operator_api, extra, field):
    resp = create(operator_api, **extra)
    assert_error(resp, 400, resp.json()["error_code"], field)
    assert resp.json()["error_code"] in {"VALIDATION_ERROR", "UNKNOWN_TASK_TYPE"}
    assert not ScheduleTemplate.objects.exists()


def test_a_run_at_that_has_passed_is_a_409(operator_api):
    assert_error(create(operator_api, kind="date", run_at="2001-01-01T00:00:00Z"), 409, "RUN_AT_PASSED", "run_at")
    assert not ScheduleTemplate.objects.exists()


def test_an_unknown_calendar_is_a_404_naming_it(operator_api):
    resp = create(operator_api, calendar=999999)
    assert_error(resp, 404, "NOT_FOUND", "calendar")
    assert not ScheduleTemplate.objects.exists()


def test_duplicate_name_is_a_409_once_the_definition_is_valid(operator_api):
    assert create(operator_api).status_code == 201
    assert_error(create(operator_api), 409, "NAME_TAKEN", "name")
    assert_error(create(operator_api, cron_expression="bad"), 400, "VALIDATION_ERROR", "cron_expression")


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


def test_update_timing_rewrites_the_beat_entry(operator_api):
    pk = create(operator_api).json()["id"]
    resp = operator_api.patch(f"{P}{pk}/", {"cron_expression": "@hourly"}, format="json")
    assert resp.status_code == 200, resp.json()
    entry = BeatEntry.objects.get(name=Schedule.objects.get(periodic_task_id=pk).beat_name)
    assert (entry.crontab.minute, entry.crontab.hour) == ("0", "*")
    # kind and expression given together: invalid on its own, a 400; an expression alone is read with the stored
    # kind (cron): a 409, the template unchanged
    assert_error(operator_api.patch(f"{P}{pk}/", {"kind": "cron", "cron_expression": ""}, format="json"), 400,
                 "VALIDATION_ERROR", "cron_expression")
    assert_error(operator_api.patch(f"{P}{pk}/", {"cron_expression": "bad"}, format="json"), 409,
                 "DEFINITION_CONFLICT", "cron_expression")
    assert_error(operator_api.patch(f"{P}{pk}/", {"kind": "interval"}, format="json"), 409,
                 "DEFINITION_CONFLICT", "interval_seconds")
    assert_error(operator_api.patch(f"{P}{pk}/", {"task_type": "demo.sleep"}, format="json"), 409,
                 "DEFINITION_CONFLICT", "parameters")
    assert_error(operator_api.patch(f"{P}{pk}/", {"task_type": "demo.echo", "parameters": {"message": 1}},
                                    format="json"), 400, "VALIDATION_ERROR", "parameters.message")
    assert operator_api.get(f"{P}{pk}/").json()["cron_expression"] == "@hourly"


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
    assert set(resp.json()) == {"id", "task_id", "status", "execution_id", "message"}
    task = BaseTask.objects.get(pk=resp.json()["id"])
    assert str(task.task_id) == resp.json()["task_id"] and task.origin == "schedule"
    assert task.context_data == {"message": "x"}
    operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {}}, format="json")
    execs = operator_api.get(f"{P}{pk}/executions/").json()
    assert execs["count"] == 1 and execs["results"][0]["task"]["id"] == task.pk
    (run,) = execs["results"]
    assert run["id"] == resp.json()["execution_id"] and run["task_id"] == resp.json()["task_id"]
    assert run["outcome"] == "manual"
    assert execs["stats"]["next_run_at"] is not None
    periodic = operator_api.get("/tasks/?is_periodic=true").json()
    assert [t["id"] for t in periodic["results"]] == [task.pk]
    assert task.pk not in [t["id"] for t in operator_api.get("/tasks/?is_periodic=false").json()["results"]]
    assert [t["id"] for t in operator_api.get(f"/tasks/?periodic_task={pk}").json()["results"]] == [task.pk]


def test_executions_stats_and_filters(operator_api, brand):
    pk = create(operator_api).json()["id"]
    template = ScheduleTemplate.objects.get(pk=pk)
    now = timezone.now()
    for i, status in enumerate(["completed", "completed", "failed"]):
        t = BaseTask.objects.create(brand=brand, task_type="demo.echo", status=status, origin="schedule",
                                    started_at=now, completed_at=now + timedelta(seconds=2 * (i + 1)))
        run_of(brand=brand, periodic_task=template, task=t, due_at=now - timedelta(hours=i), outcome="fired")
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


def test_executions_items_carry_the_run_and_its_task(operator_api, brand):
    pk = create(operator_api).json()["id"]
    template = ScheduleTemplate.objects.get(pk=pk)
    now = timezone.now()
    done = BaseTask.objects.create(brand=brand, task_type="demo.echo", status="completed", origin="schedule",
                                   started_at=now, completed_at=now + timedelta(seconds=1.5),
                                   result_data={"echo": "x"})
    run_of(brand=brand, periodic_task=template, task=done, due_at=now, outcome="fired")
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
    misspelt = operator_api.get(f"{P}{pk}/?includes=stats")  # a detail's options are strict too
    assert misspelt.status_code == 400 and list(misspelt.json()["field_errors"]) == ["includes"]


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
    assert [r["at_utc"] for r in data["next_runs"]] == ["2025-03-29T01:30:00.000000Z", "2025-03-30T01:00:00.000000Z",
                                                        "2025-03-31T00:30:00.000000Z"]
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


def test_summary(operator_api):
    pk = create(operator_api).json()["id"]
    create(operator_api, name="second")
    operator_api.post(f"{P}{pk}/pause/")
    data = operator_api.get(f"{P}summary/").json()
    assert data["schedules_by_status"]["active"] == 1 and data["schedules_by_status"]["paused"] == 1
    assert data["periodic_tasks"] == {"total": 2, "active": 1, "inactive": 1}
    assert data["next_fire"]["name"] == "second"


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


def test_put_replaces_the_definition_so_left_out_parameters_are_the_types_defaults(operator_api):
    template = create(operator_api, task_type="demo.sleep", parameters={"seconds": 1}, register=False).json()["id"]
    resp = operator_api.put(f"{P}{template}/", {"name": "memory", "task_type": "demo.memory", "kind": "manual"},
                            format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["parameters"] == {"megabytes": 100}
    assert_error(operator_api.put(f"{P}{template}/", {"task_type": "demo.memory"}, format="json"), 400,
                 "VALIDATION_ERROR", "name")


def test_validate_cron_refuses_a_year_outside_its_documented_range(operator_api):
    resp = operator_api.post(f"{P}validate-cron/", {"expression": "@daily", "after": "0964-07-27T06:18:47Z"},
                             format="json")
    assert_error(resp, 400, "VALIDATION_ERROR", "after")
