"""Every check of task_scheduling's input, one function per check, shared by the API, the admin forms
and the services. Each raises a 400 VALIDATION_ERROR naming the field, or returns the normalized value."""

from django.utils import timezone

from megahub.api.exceptions import ApplicationError, Conflict, name_taken, related_not_found, validation_error
from task_core.registry import get_task_type
from task_core.services import task_build

from .choices import ScheduleKind
from .models import ScheduleTemplate, TaskCalendar
from .run_specs import renamed, task_spec
from .timing import CronError, get_zone, normalize_cron, parse_date, parse_hhmm


def timezone_validate(tz: str, field: str = "timezone") -> str:
    """An IANA timezone name."""
    try:
        get_zone(tz)
    except ValueError as exc:
        raise validation_error(str(exc), field) from None
    return tz


def timing_validate(*, kind: str, cron_expression: str = "", interval_seconds=None, run_at=None,
                    tz: str = "UTC", require_future: bool = True) -> str:
    """The timing fields of a template; returns the normalized cron (or "")."""
    timezone_validate(tz)
    if kind == ScheduleKind.CRON:
        try:
            return normalize_cron(cron_expression)
        except CronError as exc:
            raise validation_error(str(exc), "cron_expression") from None
    if kind == ScheduleKind.INTERVAL:
        if not interval_seconds or interval_seconds < 1:
            raise validation_error("An interval schedule needs interval_seconds >= 1.", "interval_seconds")
    elif kind == ScheduleKind.DATE:
        if run_at is None:
            raise validation_error("A one-off job needs run_at.", "run_at")
        if timezone.is_naive(run_at):
            raise validation_error("run_at needs a UTC offset, e.g. 2030-01-01T09:00:00+01:00.", "run_at")
        if require_future and run_at <= timezone.now():
            # A valid date-time that has passed: a conflict with the clock, which no schema can state (409).
            raise Conflict("run_at is in the past.", error_code="RUN_AT_PASSED",
                           field_errors={"run_at": ["run_at is in the past."]})
    return ""


# The timing field each kind needs (a manual template needs none).
KIND_TIMING_FIELD = {ScheduleKind.CRON: "cron_expression", ScheduleKind.INTERVAL: "interval_seconds",
                     ScheduleKind.DATE: "run_at"}


def template_patch_validate(fields: dict) -> None:
    """The fields of a PATCH checked together, whatever is stored: a kind with its timing field when both
    are given (a cron expression with kind cron, a non-null interval or date), a task type with the
    parameters given beside it; the task type and timezone themselves. Each raises a 400 naming the field."""
    if "timezone" in fields:
        timezone_validate(fields["timezone"])
    needed = KIND_TIMING_FIELD.get(fields.get("kind"))
    if needed in fields:
        timing_validate(kind=fields["kind"], **{needed: fields[needed]}, require_future=False)
    if "task_type" in fields:
        task_type = get_task_type(fields["task_type"])  # an unknown one: 400 UNKNOWN_TASK_TYPE
        if "parameters" in fields:
            try:
                task_type.validate(fields["parameters"] or {})
            except ApplicationError as exc:
                raise renamed(exc, "parameters") from None


def template_replace_validate(fields: dict) -> None:
    """A PUT's timing, read as a create reads it: the kind's timing field must be in the body (its schema's
    branches require it), whatever is stored. A 400 naming the field."""
    needed = KIND_TIMING_FIELD.get(fields["kind"])
    if needed:
        timing_validate(kind=fields["kind"], **{needed: fields.get(needed) or KIND_EMPTY[needed]}, require_future=False)


KIND_EMPTY = {"cron_expression": "", "interval_seconds": None, "run_at": None}


def template_validate(*, template: ScheduleTemplate, require_future: bool = True) -> None:
    """All the checks a template must pass before it is saved, every error at once (the first one's
    detail and code, the field errors of all). Normalizes `template.parameters` (schema defaults applied)."""
    first: ApplicationError | None = None

    def check(func) -> None:
        nonlocal first
        try:
            func()
        except ApplicationError as exc:
            if first is None:
                first, first.field_errors = exc, dict(exc.field_errors or {})
            else:
                for key, messages in (exc.field_errors or {}).items():
                    first.field_errors.setdefault(key, []).extend(messages)

    def unique_name():
        if ScheduleTemplate.objects.filter(brand_id=template.brand_id, name=template.name).exclude(
                pk=template.pk).exists():
            raise name_taken("A periodic task with this name already exists in this brand.")

    def parameters():
        try:
            template.parameters = get_task_type(template.task_type).validate(template.parameters or {})
        except ApplicationError as exc:
            raise renamed(exc, "parameters") from None

    def timing():
        timing_validate(kind=template.kind, cron_expression=template.cron_expression,
                        interval_seconds=template.interval_seconds, run_at=template.run_at, tz=template.timezone,
                        require_future=require_future)

    def core_checks():
        # Build a task once to apply the core's checks (size, timeout range, priority) at definition time.
        try:
            task_build(brand=template.brand, **task_spec(template, {}))
        except ApplicationError as exc:
            raise renamed(exc, "parameters") from None

    if template.calendar_id and template.calendar.brand_id != template.brand_id:
        # Another brand's calendar is a 404 on its own (not merged into the 400 of the other checks).
        raise related_not_found("No calendar with this id in this brand.", "calendar")
    for func in (parameters, timing):
        check(func)
    if not any(k == "parameters" or k.startswith(("parameters.", "task_type"))
               for k in (first.field_errors if first else {})):
        check(core_checks)  # they repeat the parameters' errors: only once those passed
    if first is not None:
        raise first
    unique_name()  # a 409 once the definition is valid


def overrides_validate(*, template: ScheduleTemplate, overrides) -> dict:
    """A schedule's parameter overrides: an object that, merged over the template's parameters,
    satisfies the task type's schema."""
    if not isinstance(overrides, dict):
        raise validation_error("Must be a JSON object.", "parameter_overrides")
    try:
        task_build(brand=template.brand, **task_spec(template, overrides))
    except ApplicationError as exc:
        raise renamed(exc, "parameter_overrides") from None
    return overrides


def calendar_rules_validate(*, tz: str, excluded_dates, blackout_windows) -> tuple[list, list]:
    """A calendar's timezone, dates and windows, every error at once; returns (dates, windows)
    normalized: sorted unique ISO dates, windows with sorted days and HH:MM times."""
    errors: dict[str, list[str]] = {}
    try:
        get_zone(tz)
    except ValueError as exc:
        errors["timezone"] = [str(exc)]
    if not isinstance(excluded_dates or [], list):
        errors["excluded_dates"] = ['A list of dates, e.g. ["2025-12-25"].']
        excluded_dates = []
    if not isinstance(blackout_windows or [], list):
        errors["blackout_windows"] = ['A list of windows, e.g. [{"days": [5, 6], "start": "00:00", "end": "00:00"}] '
                                      "(all of Saturday and Sunday)."]
        blackout_windows = []
    dates = []
    for i, value in enumerate(excluded_dates or []):
        try:
            dates.append(parse_date(value).isoformat())
        except ValueError as exc:
            errors[f"excluded_dates.{i}"] = [str(exc)]
    windows = []
    for i, w in enumerate(blackout_windows or []):
        if not isinstance(w, dict) or "start" not in w or "end" not in w or set(w) - {"start", "end", "days"}:
            errors[f"blackout_windows.{i}"] = ['Each window needs "start" and "end" (HH:MM) and optional "days", '
                                               "nothing else."]
            continue
        try:
            start, end = parse_hhmm(w["start"]), parse_hhmm(w["end"])
            days = w.get("days", list(range(7)))
            if not isinstance(days, list) or not days or not all(type(d) is int and 0 <= d <= 6 for d in days):
                raise ValueError("days must be a non-empty list of weekdays 0..6 (Monday=0); "
                                 "leave it out for every day.")
            # end <= start crosses midnight; end == start is the 24 hours from start.
            windows.append({"days": sorted(set(days)), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
        except ValueError as exc:
            errors[f"blackout_windows.{i}"] = [str(exc)]
    if errors:
        raise validation_error("Invalid calendar.", field_errors=errors)
    return sorted(set(dates)), windows


def calendar_validate(*, calendar: TaskCalendar) -> None:
    """A whole calendar before it is saved: its rules (normalized in place) and its unique name."""
    calendar.excluded_dates, calendar.blackout_windows = calendar_rules_validate(
        tz=calendar.timezone, excluded_dates=calendar.excluded_dates, blackout_windows=calendar.blackout_windows)
    if TaskCalendar.objects.filter(brand_id=calendar.brand_id, name=calendar.name).exclude(pk=calendar.pk).exists():
        raise name_taken("A calendar with this name already exists in this brand.")
