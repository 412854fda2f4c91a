"""The scheduling part of /tasks/system/: orphans and their cleanup."""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule
from django_celery_beat.models import PeriodicTask as BeatEntry
from django_celery_results.models import TaskResult

from task_scheduling.models import Schedule, ScheduleTemplate

from .helpers import assert_error, create

pytestmark = pytest.mark.django_db


def test_orphans_listed_and_cleaned(operator_api, admin_api, brand):
    pk = create(operator_api).json()["id"]
    orm = create(operator_api, name="orm").json()["id"]
    raw = create(operator_api, name="raw").json()["id"]
    # A queryset delete of a template unregisters its schedules too (pre_delete): no orphan.
    by_qs = create(operator_api, name="queryset").json()["id"]
    by_qs_schedule = Schedule.objects.get(periodic_task_id=by_qs)
    ScheduleTemplate.objects.filter(pk=by_qs).delete()
    assert not Schedule.objects.filter(pk=by_qs_schedule.pk).exists()
    assert not BeatEntry.objects.filter(name=by_qs_schedule.beat_name).exists()
    schedule = Schedule.objects.get(periodic_task_id=pk)
    # Unlinked behind the services' back (a bulk update), then deleted: its schedule is orphaned.
    Schedule.objects.filter(pk=schedule.pk).update(periodic_task=None)
    ScheduleTemplate.objects.filter(pk=pk).delete()
    # A schedule deleted through the ORM takes its Beat row with it (post_delete): no orphan.
    by_orm = Schedule.objects.get(periodic_task_id=orm)
    Schedule.objects.filter(pk=by_orm.pk).delete()
    assert not BeatEntry.objects.filter(name=by_orm.beat_name).exists()
    ScheduleTemplate.objects.filter(pk=orm).delete()
    # Raw SQL bypasses everything: its Beat row is left behind.
    by_sql = Schedule.objects.get(periodic_task_id=raw)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM task_scheduling_scheduleevent WHERE schedule_id = %s", [by_sql.pk])
        cursor.execute("DELETE FROM task_scheduling_schedule WHERE id = %s", [by_sql.pk])
    ScheduleTemplate.objects.filter(pk=raw).delete()
    found = operator_api.get("/tasks/system/orphans/").json()
    assert {e["reason"] for e in found["beat_entries"]} == {"template is gone", "schedule is gone"}
    assert [s["id"] for s in found["schedules"]] == [schedule.pk]
    assert_error(operator_api.post("/tasks/system/cleanup/orphans/"), 403, "PERMISSION_DENIED")
    done = admin_api.post("/tasks/system/cleanup/orphans/").json()
    assert done["beat_entries_removed"] == 2 and done["schedules_removed"] == 1
    assert admin_api.get("/tasks/system/orphans/").json() == {"beat_entries": [], "schedules": []}
    assert not BeatEntry.objects.filter(task="task_scheduling.fire").exists()


def test_system_enums_serve_the_scheduling_group_registered_from_its_app_config(api, viewer, brand):
    body = api(viewer, brand).get("/tasks/system/enums/").json()
    group = body["scheduling"]
    values = {key: [c["value"] for c in group[key]] for key in (
        "schedule_statuses", "kinds", "overlap_policies", "missed_run_policies", "run_outcomes", "event_types")}
    assert values["schedule_statuses"] == ["active", "paused", "inactive", "error"]
    assert values["kinds"] == ["cron", "interval", "date", "manual"]
    assert values["overlap_policies"] == ["skip", "queue", "allow"]
    assert values["missed_run_policies"] == ["skip", "run_once"]
    assert "skipped_calendar" in values["run_outcomes"] and "auto_paused" in values["event_types"]
    assert group["schedule_transitions"]["paused"] == ["active"]
    assert body["statuses"][0] == {"value": "pending", "label": "Pending"}  # core's own stay at the top level


def test_the_enums_schema_documents_the_scheduling_group(api, viewer):
    schema = api(viewer).get("/api/schema/?format=json").json()
    assert "scheduling" in schema["components"]["schemas"]["Enums"]["properties"]


def test_cleanup_legacy_reports_by_default_then_removes_only_leftovers(operator_api, admin_api, brand, other_brand):
    live = create(admin_api, name="live").json()
    live_row = Schedule.objects.get(periodic_task_id=live["id"]).beat_name
    every = IntervalSchedule.objects.create(every=60, period="seconds")

    def row(name, brand_id, task="task_scheduling.fire"):
        BeatEntry.objects.create(name=name, task=task, interval=every, kwargs=json.dumps({"brand_id": brand_id}))

    row("megahub-schedule-999999", brand.pk)
    row("scheduling:humari:nightly", brand.pk)
    row("megahub-schedule-999998", other_brand.pk)
    BeatEntry.objects.create(name="celery.backend_cleanup", task="celery.backend_cleanup", interval=every)
    old = TaskResult.objects.create(task_id="old-result", status="SUCCESS")
    TaskResult.objects.filter(pk=old.pk).update(date_done=timezone.now() - timedelta(days=3))
    TaskResult.objects.create(task_id="fresh-result", status="SUCCESS")
    path = "/tasks/system/cleanup/legacy/"

    assert_error(operator_api.post(path), 403, "PERMISSION_DENIED")
    report = admin_api.post(path).json()
    assert report["dry_run"] is True and report["beat_entries_removed"] == report["celery_results_removed"] == 0
    assert {e["name"]: e["reason"].split(":")[0] for e in report["beat_entries"]} == {
        "megahub-schedule-999999": "no schedule claims it", "scheduling:humari:nightly": "earlier format"}
    assert report["celery_results_expired"] == 1 and report["celery_results_expire_after_seconds"] == 86400
    assert BeatEntry.objects.filter(name="megahub-schedule-999999").exists()

    done = admin_api.post(path, {"dry_run": False}, format="json").json()
    assert (done["beat_entries_removed"], done["celery_results_removed"]) == (2, 1)
    names = set(BeatEntry.objects.values_list("name", flat=True))
    assert {live_row, "megahub-schedule-999998", "celery.backend_cleanup"} <= names
    assert not names & {"megahub-schedule-999999", "scheduling:humari:nightly"}
    assert list(TaskResult.objects.values_list("task_id", flat=True)) == ["fresh-result"]
    assert admin_api.post(path).json()["beat_entries"] == []
