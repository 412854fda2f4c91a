"""Pure time arithmetic of schedules: cron validation, next/previous fire times, DST, calendars.

No database, no Celery: Beat, the dispatcher, the API and the tests all call these, so every process
computes the same due times (which is what makes the exactly-once claim work).

DST rule (documented in docs/scheduling.md):
- cron expressions are evaluated on the wall clock of the template's timezone;
- a wall time that does not exist (spring-forward gap) runs at the first valid instant after the gap,
  i.e. the moment the clocks jump; several cron times inside one gap collapse into that one run;
- a wall time that occurs twice (fall-back repeat) runs once, at its first occurrence (fold=0);
- interval schedules are absolute (UTC): every N seconds from their anchor, whatever the clocks do.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from megahub.timestamps import timezone_names, utc_iso

ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELD_RE = re.compile(r"^[0-9A-Za-z*/,\-?LW#]+$")


def _cron_pattern() -> str:
    """A pattern of cron expressions `normalize_cron` accepts, for the OpenAPI schema: per field `*`, `*/step`
    or a list of values, days of the month up to 28 (so that every expression matches some date), or an
    alias. A sufficient form, not the only one: ranges and names are accepted too."""
    def field(value: str, step: str) -> str:
        return rf"(\*(/{step})?|{value}(,{value})*)"

    fields = [field(r"([1-5]?[0-9])", r"([1-9]|[1-5][0-9])"), field(r"(1?[0-9]|2[0-3])", r"([1-9]|1[0-9]|2[0-3])"),
              field(r"([1-9]|1[0-9]|2[0-8])", r"([1-9]|1[0-9]|2[0-7])"), field(r"([1-9]|1[0-2])", r"([1-9]|1[01])"),
              field(r"[0-6]", r"[1-6]")]
    aliases = "|".join(sorted(name.lstrip("@") for name in ALIASES))
    return f"^({' '.join(fields)}|@({aliases}))$"


CRON_PATTERN = _cron_pattern()


class CronError(ValueError):
    """The expression is not a valid 5-field cron expression; the message says why."""


@lru_cache(maxsize=4096)
def normalize_cron(expression: str) -> str:
    """Return the 5-field form of `expression` (aliases expanded) or raise CronError with the reason.
    Cached: a template's timing is rebuilt for each of its schedules, and croniter's parse is not cheap."""
    expr = " ".join((expression or "").split())
    if not expr:
        raise CronError("The cron expression is empty.")
    if expr.startswith("@"):
        if expr.lower() not in ALIASES:
            raise CronError(f"Unknown alias {expr!r}; use one of {', '.join(sorted(ALIASES))}.")
        return ALIASES[expr.lower()]
    fields = expr.split(" ")
    if len(fields) != 5:
        raise CronError(f"Expected 5 fields (minute hour day-of-month month day-of-week); got {len(fields)}.")
    for name, value in zip(("minute", "hour", "day of month", "month", "day of week"), fields, strict=True):
        if not _FIELD_RE.match(value):
            raise CronError(f"Invalid {name} field {value!r}.")
    try:
        it = croniter(expr, datetime(2000, 1, 1))
    except Exception as exc:  # croniter raises several types; the message is the reason
        raise CronError(f"Invalid cron expression: {exc}") from None
    try:
        it.get_next(datetime)
    except CroniterBadDateError:
        raise CronError("The expression never matches a date (e.g. 30 February).") from None
    return expr


def describe_cron(expression: str) -> str:
    """A human description, e.g. "At 02:00 AM"."""
    from cron_descriptor import Options, get_description

    opts = Options()
    opts.use_24hour_time_format = True
    try:
        return get_description(normalize_cron(expression), opts)
    except Exception:  # noqa: BLE001 - the description is a nicety, never an error
        return normalize_cron(expression)


def get_zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or ValueError."""
    if not name or name not in timezone_names():
        raise ValueError(f"Unknown timezone {name!r}; use an IANA name such as Europe/Paris.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"Unknown timezone {name!r}.") from exc


# --- wall clock <-> UTC -----------------------------------------------------------------------------

def wall_kind(naive: datetime, tz: ZoneInfo) -> str | None:
    """"gap" if the wall time does not exist in tz, "repeat" if it exists twice, else None."""
    a0 = naive.replace(tzinfo=tz, fold=0)
    a1 = naive.replace(tzinfo=tz, fold=1)
    if a0.utcoffset() == a1.utcoffset():
        return None
    back = a0.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    return "gap" if back != naive else "repeat"


def wall_to_utc(naive: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant a wall time runs at, under the DST rule above."""
    kind = wall_kind(naive, tz)
    if kind != "gap":
        return naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    # In a gap: fold=1 reads the wall time with the offset after the jump, which lands before the
    # jump; the jump itself lies within the gap's length after that. Bisect to the second.
    lo = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    hi = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    after = hi.astimezone(tz).utcoffset()
    while (hi - lo) > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == after:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def _local_naive(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


# --- schedule specs ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Timing:
    """What Beat needs to compute fire times: kind plus its parameters (all hashable, for caching)."""

    kind: str  # cron | interval | date | manual
    cron: str = ""  # normalized 5-field expression
    tz: str = "UTC"
    every: int = 0  # seconds, interval only
    anchor: datetime | None = None  # interval only: fires at anchor + k*every
    run_at: datetime | None = None  # date only

    def next_after(self, after: datetime) -> datetime | None:
        """The first fire time strictly after `after` (aware), or None if there is none."""
        return next_fire(self, after)

    def latest_at_or_before(self, moment: datetime) -> datetime | None:
        return prev_fire(self, moment)


# croniter's "nothing matches", and Python's datetime running out past year 9999.
_NO_MORE_DATES = (CroniterBadDateError, ValueError, OverflowError)


def next_fire(t: Timing, after: datetime) -> datetime | None:
    after = after.astimezone(UTC)
    if t.kind == "cron":
        tz = ZoneInfo(t.tz)
        it = croniter(t.cron, _local_naive(after, tz))
        try:
            for _ in range(2000):  # a repeat/gap skips at most a few; the bound guards impossible specs
                candidate = wall_to_utc(it.get_next(datetime), tz)
                if candidate > after:
                    return candidate
        except _NO_MORE_DATES:  # no date matches any more (or none before year 9999)
            return None
        return None
    if t.kind == "interval":
        anchor = (t.anchor or after).astimezone(UTC)
        if after < anchor:
            return anchor
        steps = int((after - anchor).total_seconds() // t.every) + 1
        return anchor + timedelta(seconds=steps * t.every)
    if t.kind == "date":
        return t.run_at.astimezone(UTC) if t.run_at and t.run_at > after else None
    return None


def prev_fire(t: Timing, moment: datetime) -> datetime | None:
    """The latest fire time at or before `moment`, or None."""
    moment = moment.astimezone(UTC)
    if t.kind == "cron":
        tz = ZoneInfo(t.tz)
        local = moment.astimezone(tz)
        start = local.replace(tzinfo=None)
        if local.fold:
            # In the second pass of a repeated hour, the first pass's later wall times (which is when
            # they run) lie before `moment` too: start from the end of the repeat.
            start += local.replace(fold=0).utcoffset() - local.utcoffset()
        it = croniter(t.cron, start + timedelta(seconds=1))
        try:
            for _ in range(2000):
                candidate = wall_to_utc(it.get_prev(datetime), tz)
                if candidate <= moment:
                    return candidate
        except _NO_MORE_DATES:
            return None
        return None
    if t.kind == "interval":
        anchor = (t.anchor or moment).astimezone(UTC)
        if moment < anchor:
            return None
        steps = int((moment - anchor).total_seconds() // t.every)
        return anchor + timedelta(seconds=steps * t.every)
    if t.kind == "date":
        return t.run_at.astimezone(UTC) if t.run_at and t.run_at <= moment else None
    return None


def on_grid(t: Timing, due: datetime) -> bool:
    """Is `due` one of the schedule's fire times? (The dispatcher refuses any other instant.)"""
    return prev_fire(t, due) == due.astimezone(UTC)


def count_between(t: Timing, start: datetime, end: datetime, cap: int = 20) -> int:
    """How many fire times lie strictly between `start` and `end`, counting at most `cap`."""
    if t.kind == "interval" and t.every:
        first = next_fire(t, start)
        if first is None or first >= end:
            return 0
        return min(cap, math.ceil((end - first).total_seconds() / t.every))
    n, cursor = 0, start
    while n < cap:
        cursor = next_fire(t, cursor)
        if cursor is None or cursor >= end:
            break
        n += 1
    return n


def wall_times_at(t: Timing, instant: datetime, after: datetime) -> list[datetime]:
    """The cron wall-clock times (naive, in t.tz) after `after` that run at `instant`: more than one
    when several times of a DST gap (and possibly the first time after it) collapse into one run."""
    if t.kind != "cron":
        return []
    tz = ZoneInfo(t.tz)
    it = croniter(t.cron, _local_naive(after, tz))
    out: list[datetime] = []
    try:
        for _ in range(2000):
            wall = it.get_next(datetime)
            at = wall_to_utc(wall, tz)
            if at > instant:
                break
            if at == instant:
                out.append(wall)
    except _NO_MORE_DATES:
        pass
    return out


def upcoming(t: Timing, *, after: datetime, count: int) -> list[datetime]:
    out: list[datetime] = []
    cursor = after
    while len(out) < count:
        nxt = next_fire(t, cursor)
        if nxt is None:
            break
        out.append(nxt)
        cursor = nxt
    return out


def dst_note(t: Timing, instant: datetime) -> str | None:
    """For a cron fire time: "gap" if its wall time was skipped by DST, "repeat" if it occurs twice."""
    if t.kind != "cron":
        return None
    tz = ZoneInfo(t.tz)
    local = _local_naive(instant, tz)
    if local.second == 0 and local.microsecond == 0 and croniter.match(t.cron, local):
        return wall_kind(local, tz)
    return "gap"  # the fire was moved to the end of a gap


# --- calendars ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CalendarRules:
    """Excluded dates and weekly blackout windows, read in the calendar's own timezone.

    windows: [{"days": [0..6] (Monday=0), "start": "HH:MM", "end": "HH:MM"}]; end <= start crosses
    midnight (the window continues on the next day until `end`), so end == start is 24 hours.
    """

    tz: str
    excluded_dates: tuple[str, ...] = ()
    windows: tuple[tuple[tuple[int, ...], str, str], ...] = ()

    @classmethod
    def from_values(cls, tz: str, excluded_dates, windows) -> CalendarRules:
        return cls(tz=tz, excluded_dates=tuple(excluded_dates or ()),
                   windows=tuple((tuple(w.get("days") or range(7)), w["start"], w["end"]) for w in windows or ()))

    def exclusion(self, instant: datetime) -> str | None:
        """Why `instant` is excluded, or None when it may run."""
        local = instant.astimezone(ZoneInfo(self.tz))
        if local.date().isoformat() in self.excluded_dates:
            return f"{local.date().isoformat()} is an excluded date"
        now_t = local.time().replace(tzinfo=None)
        weekday = local.weekday()
        for days, start, end in self.windows:
            s, e = parse_hhmm(start), parse_hhmm(end)
            if s < e:
                if weekday in days and s <= now_t < e:
                    return f"inside the blackout window {start}-{end}"
            else:  # crosses midnight
                if (weekday in days and now_t >= s) or ((weekday - 1) % 7 in days and now_t < e):
                    return f"inside the blackout window {start}-{end}"
        return None


HHMM_RE = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
DATE_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_hhmm(value: str) -> time:
    """HH:MM, two digits each (as the calendar's schema says; its `$` also matches before a final newline)."""
    match = HHMM_RE.fullmatch(value.removesuffix("\n")) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"Invalid time {value!r}; use HH:MM.")
    return time(int(match[1]), int(match[2]))


def parse_date(value: str) -> date:
    """YYYY-MM-DD (not the other ISO 8601 forms date.fromisoformat takes)."""
    try:
        if not DATE_RE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError(f"Invalid date {value!r}; use YYYY-MM-DD.") from None


def local_iso(value: datetime | None, tz_name: str) -> str | None:
    """A UTC instant shown in a template's own timezone (ISO 8601 with its offset); None stays None."""
    if value is None:
        return None
    try:
        return value.astimezone(ZoneInfo(tz_name)).isoformat()
    except Exception:  # noqa: BLE001 - an unknown zone never breaks a listing
        return utc_iso(value)
