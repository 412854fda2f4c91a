"""/tasks/scheduled/schedules/ and a template's schedules/."""

import pytest
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_scheduling.models import Schedule

from .helpers import P, S, assert_error, create

pytestmark = pytest.mark.django_db


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
                 409, "DEFINITION_CONFLICT", "parameter_overrides.message")
    assert operator_api.post(f"{S}{sid}/pause/").json()["status"] == "paused"
    assert_error(operator_api.post(f"{S}{sid}/pause/"), 409, "INVALID_TRANSITION")
    detail = operator_api.post(f"{S}{sid}/resume/").json()
    assert detail["status"] == "active"
    assert [e["event_type"] for e in detail["recent_events"]][:3] == ["status_changed", "status_changed",
                                                                      "registered"]
    assert operator_api.get(f"{S}?status=active").json()["count"] == 2
    name = Schedule.objects.get(pk=sid).beat_name
    assert operator_api.delete(f"{S}{sid}/").status_code == 204
    assert not BeatEntry.objects.filter(name=name).exists()
    assert_error(operator_api.get(f"{S}{sid}/"), 404, "SCHEDULE_NOT_FOUND")


def test_schedule_detail_shows_as_many_recent_events_as_asked(operator_api, objects):
    s = objects["schedule"]
    operator_api.post(f"{S}{s}/pause/")
    operator_api.post(f"{S}{s}/resume/")
    assert len(operator_api.get(f"{S}{s}/").json()["recent_events"]) == 3
    events = operator_api.get(f"{S}{s}/?events=1").json()["recent_events"]
    assert [(e["event_type"], e["to_status"]) for e in events] == [("status_changed", "active")]
