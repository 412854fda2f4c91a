"""One timestamp format across the API: UTC with microseconds and `Z`; local times (a schedule in its own
timezone) keep their offset, and validate-cron gives each run in the requested timezone beside UTC."""

import re
from datetime import UTC, datetime

import pytest

from megahub.timestamps import utc_iso

pytestmark = pytest.mark.django_db

UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
ANY_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def stamps(value, path=""):
    """Every (path, string) of a JSON document that looks like a date-time."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from stamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from stamps(item, f"{path}.{index}")
    elif isinstance(value, str) and ANY_STAMP.match(value):
        yield path, value


def test_utc_iso_always_writes_microseconds_and_z():
    assert utc_iso(datetime(2026, 12, 3, 10, 0, tzinfo=UTC)) == "2026-12-03T10:00:00.000000Z"
    assert utc_iso(None) is None


def test_tasks_events_and_the_system_dashboard_write_utc_timestamps(operator_api):
    created = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {"message": "hi"}},
                                format="json")
    assert created.status_code == 201, created.content
    task_id = created.json()["id"]
    bodies = [created.json(), operator_api.get(f"/tasks/{task_id}/").json(), operator_api.get("/tasks/").json(),
              operator_api.get(f"/tasks/{task_id}/events/").json(),
              operator_api.get("/tasks/monitoring/metrics/dashboard/").json()]
    found = [(path, value) for body in bodies for path, value in stamps(body)]
    assert any(path.endswith("created_at") for path, _ in found)
    wrong = [(path, value) for path, value in found if not UTC_STAMP.match(value)]
    assert not wrong, wrong


def test_validate_cron_gives_local_times_in_the_requested_timezone_beside_utc(operator_api):
    resp = operator_api.post("/tasks/scheduled/periodic-tasks/validate-cron/", {
        "cron_expression": "0 9 * * 1-5", "timezone": "Europe/Paris", "count": 3,
        "after": "2026-12-03T00:00:00Z"}, format="json")
    assert resp.status_code == 200, resp.content
    runs = resp.json()["next_runs"]
    # 9:00 in Paris in winter is 8:00 UTC: the local time with its offset, the UTC instant with Z.
    assert [r["at"] for r in runs] == ["2026-12-03T09:00:00+01:00", "2026-12-04T09:00:00+01:00",
                                       "2026-12-07T09:00:00+01:00"]
    assert [r["at_utc"] for r in runs] == ["2026-12-03T08:00:00.000000Z", "2026-12-04T08:00:00.000000Z",
                                           "2026-12-07T08:00:00.000000Z"]
    assert resp.json()["effective_runs"][0] == {"at": "2026-12-03T09:00:00+01:00",
                                                "at_utc": "2026-12-03T08:00:00.000000Z"}
