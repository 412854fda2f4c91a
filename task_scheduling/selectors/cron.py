"""Cron previews and validation: the next fire times of a timing in its timezone, DST notes, and which
of them a calendar removes."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from ..timing import CronError, Timing, describe_cron, dst_note, normalize_cron, upcoming, wall_times_at
from ..validators import timezone_validate


def cron_preview(*, timing: Timing, count: int, calendar=None, after=None) -> list[dict]:
    """The next `count` fire times, each with its local time, DST note, the wall-clock times it stands
    for (several when a DST gap collapses them) and its calendar exclusion."""
    after = after or timezone.now()
    rules = calendar.rules() if calendar is not None else None
    tz = ZoneInfo(timing.tz)
    out = []
    previous = after
    for at in upcoming(timing, after=after, count=count):
        excluded = rules.exclusion(at) if rules else None
        walls = wall_times_at(timing, at, previous)
        out.append({"at": at.astimezone(tz), "at_utc": at, "dst": dst_note(timing, at),
                    "wall_times": [w.strftime("%H:%M") for w in walls],
                    "excluded": bool(excluded), "excluded_reason": excluded or ""})
        previous = at
    return out


def effective_runs(*, timing: Timing, count: int, calendar, after=None, scan: int = 5000) -> tuple[list, bool]:
    """The next `count` runs that will actually happen once the calendar removes its exclusions, looking
    at most `scan` fire times ahead. Returns (runs, complete)."""
    after = after or timezone.now()
    rules = calendar.rules() if calendar is not None else None
    tz = ZoneInfo(timing.tz)
    out, cursor = [], after
    for _ in range(scan):
        at = timing.next_after(cursor)
        if at is None:
            return out, False
        cursor = at
        if rules is None or not rules.exclusion(at):
            out.append({"at": at.astimezone(tz), "at_utc": at})
            if len(out) == count:
                return out, True
    return out, False


def dst_warnings(run: dict) -> list[str]:
    """What DST does to one run of `cron_preview`, in words (none when nothing)."""
    at = run["at"].isoformat()
    if len(run["wall_times"]) > 1:
        return [f"{at}: the wall times {', '.join(run['wall_times'])} fall into one run (DST gap: clocks jump "
                "forward); they run once, when the clocks jump."]
    if run["dst"] == "gap":
        return [f"{at}: the wall time falls in a DST gap; it runs when the clocks jump forward."]
    if run["dst"] == "repeat":
        return [f"{at}: the wall time occurs twice (DST ends); it runs once, at its first occurrence."]
    return []


def cron_validate(*, expression: str, tz: str, count: int, calendar=None, after: datetime | None = None) -> dict:
    """Is the expression valid (and if not, why); its description; the next runs in `tz` with the
    calendar applied; warnings for runs moved or collapsed by DST. An unknown timezone is a 400."""
    timezone_validate(tz)
    result = {"valid": True, "error": "", "expression": expression, "normalized": "", "description": "",
              "timezone": tz, "next_runs": [], "effective_runs": [], "warnings": []}
    try:
        result["normalized"] = normalize_cron(expression)
    except CronError as exc:
        result.update(valid=False, error=str(exc))
        return result
    result["description"] = describe_cron(expression)
    timing = Timing(kind="cron", cron=result["normalized"], tz=tz)
    after = after or timezone.now()
    runs = cron_preview(timing=timing, count=count, calendar=calendar, after=after)
    result["next_runs"] = runs
    result["effective_runs"], complete = effective_runs(timing=timing, count=count, calendar=calendar, after=after)
    result["warnings"] = [w for run in runs for w in dst_warnings(run)]
    if not complete:
        result["warnings"].append(f"Only {len(result['effective_runs'])} of the next {count} runs happen "
                                  "within the fire times looked at: the calendar removes almost all of them.")
    return result
