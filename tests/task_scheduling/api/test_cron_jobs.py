"""/tasks/scheduled/cron-jobs/."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_scheduling.models import Schedule

from .helpers import assert_error, create

pytestmark = pytest.mark.django_db


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
                                   format="json"), 409, "RUN_AT_PASSED", "run_at")  # valid, but passed
    assert operator_api.delete(f"/tasks/scheduled/cron-jobs/{resp.json()['id']}/").status_code == 204
