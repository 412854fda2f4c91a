"""/tasks/scheduled/calendars/."""

import pytest

from task_scheduling.models import ScheduleTemplate

from .helpers import C, assert_error, create

pytestmark = pytest.mark.django_db


def test_calendars_crud_and_preview(operator_api, api, outsider, other_brand):
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
    assert ScheduleTemplate.objects.get().calendar is None
