"""The validators: each check names the field it refuses; calendars report every error at once and are
normalized."""

import pytest

from megahub.api.exceptions import ApplicationError
from task_scheduling.validators import calendar_rules_validate, timing_validate


@pytest.mark.parametrize("kwargs,field", [
    ({"kind": "cron", "cron_expression": "61 * * * *"}, "cron_expression"),
    ({"kind": "cron", "cron_expression": "@daily", "tz": "Nowhere/City"}, "timezone"),
    ({"kind": "interval", "interval_seconds": 0}, "interval_seconds"),
    ({"kind": "date", "run_at": None}, "run_at"),
])
def test_timing_names_the_field_it_refuses(kwargs, field):
    with pytest.raises(ApplicationError) as err:
        timing_validate(**kwargs)
    assert err.value.status_code == 400 and list(err.value.field_errors) == [field]


def test_timing_returns_the_normalized_cron():
    assert timing_validate(kind="cron", cron_expression="@hourly") == "0 * * * *"


def test_calendar_rules_report_every_error_at_once_and_normalize_the_rest():
    with pytest.raises(ApplicationError) as err:
        calendar_rules_validate(tz="X/Y", excluded_dates=["2025-02-30"], blackout_windows=[{"start": "9"}])
    assert set(err.value.field_errors) == {"timezone", "excluded_dates.0", "blackout_windows.0"}
    dates, windows = calendar_rules_validate(tz="UTC", excluded_dates=["2025-12-26", "2025-12-25", "2025-12-25"],
                                             blackout_windows=[{"days": [6, 5, 5], "start": "09:00", "end": "17:00"}])
    assert dates == ["2025-12-25", "2025-12-26"]
    assert windows == [{"days": [5, 6], "start": "09:00", "end": "17:00"}]
    # HH:MM as the schema's pattern says: an hour of one digit is refused, not guessed.
    with pytest.raises(ApplicationError) as err:
        calendar_rules_validate(tz="UTC", excluded_dates=[], blackout_windows=[{"start": "9:00", "end": "17:00"}])
    assert set(err.value.field_errors) == {"blackout_windows.0"}
