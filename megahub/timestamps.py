"""The API's one timestamp format: UTC with microseconds and a `Z`, e.g. 2026-12-03T10:00:00.123456Z.

DRF's DateTimeField writes it (REST_FRAMEWORK DATETIME_FORMAT), our JSON renderer writes it for any other
datetime in a response, and our own code calls `utc_iso`. A local time (a schedule's next run in its own
timezone) keeps its offset instead: `task_scheduling.timing.local_iso`.
"""

from datetime import UTC, datetime
from zoneinfo import available_timezones

UTC_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_iso(value: datetime | None) -> str | None:
    """An aware datetime as UTC in the API's format; None stays None."""
    return None if value is None else value.astimezone(UTC).strftime(UTC_FORMAT)


_TIMEZONES: set[str] | None = None


def timezone_names() -> set[str]:
    """The IANA time zone names the server accepts (the system's tz database, and UTC); the schema's enum of
    every timezone field (megahub.api.fields.TimezoneField)."""
    global _TIMEZONES
    if _TIMEZONES is None:
        _TIMEZONES = available_timezones() | {"UTC"}
    return _TIMEZONES
