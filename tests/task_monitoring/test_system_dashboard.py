"""The front page (/tasks/system/dashboard/) with the sections other apps register into core's hook."""

import pytest

from task_scheduling.services import schedules, templates

pytestmark = pytest.mark.django_db

PARKED = "monitoring-tests-parked"  # no worker consumes it


def template(brand, name):
    return templates.template_create(brand=brand, name=name, task_type="demo.echo", parameters={"message": "hi"},
                                     kind="interval", interval_seconds=3600, queue=PARKED)


def test_system_dashboard_counts_the_brands_schedules_by_status(operator_api, brand, other_brand):
    first, second, third = (template(brand, f"t{i}") for i in range(3))
    template(other_brand, "theirs")
    schedules.schedule_pause(schedule=second.schedules.get())
    schedules.schedule_pause(schedule=third.schedules.get())
    body = operator_api.get("/tasks/system/dashboard/").json()
    assert body["schedules"] == {"active": 1, "paused": 2, "inactive": 0, "error": 0, "total": 3}
    schedules.schedule_resume(schedule=third.schedules.get())
    body = operator_api.get("/tasks/system/dashboard/").json()
    assert body["schedules"]["active"] == 2 and body["schedules"]["paused"] == 1


def test_system_dashboard_of_a_brand_without_schedules(operator_api):
    body = operator_api.get("/tasks/system/dashboard/").json()
    assert body["schedules"] == {"active": 0, "paused": 0, "inactive": 0, "error": 0, "total": 0}
