"""Writes of task_scheduling: templates, schedules and calendars (the dispatcher and run outcomes are in
dispatch.py).

Every write that changes what Beat must fire goes through beat_sync in the same transaction, so the
django-celery-beat rows never drift from our Schedules.
"""

import logging
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from megahub.api.exceptions import ApplicationError, InvalidTransition
from task_core.models import TaskOrigin
from task_core.registry import get_task_type
from task_core.services import task_build, task_create

from . import beat_sync
from .models import (
    EventType,
    PeriodicTask,
    RunOutcome,
    Schedule,
    ScheduledRun,
    ScheduleEvent,
    ScheduleKind,
    ScheduleStatus,
    TaskCalendar,
)
from .timing import CronError, Timing, get_zone, normalize_cron, parse_date, parse_hhmm

logger = logging.getLogger("megahub.scheduling")

TEMPLATE_FIELDS = {
    "name", "description", "task_type", "parameters", "kind", "cron_expression", "interval_seconds", "run_at",
    "timezone", "calendar", "priority", "max_retries", "timeout_seconds", "queue", "overlap_policy",
    "missed_run_policy", "auto_pause_after", "is_active",
}
TIMING_FIELDS = {"kind", "cron_expression", "interval_seconds", "run_at", "timezone"}


def _invalid(field: str, message: str) -> ApplicationError:
    return ApplicationError(message, error_code="VALIDATION_ERROR", field_errors={field: [message]})


def _renamed(exc: ApplicationError, field: str) -> ApplicationError:
    """Core names task parameters `context_data`; here they are `parameters` or `parameter_overrides`."""
    exc.field_errors = {(field + k[len("context_data"):] if k.startswith("context_data") else k): v
                        for k, v in exc.field_errors.items()}
    return exc


def events_kept() -> int:
    return getattr(settings, "SCHEDULING_EVENTS_KEPT", 100)


# --- validation ------------------------------------------------------------------------------------

def validate_timing(*, kind: str, cron_expression: str = "", interval_seconds=None, run_at=None,
                    tz: str = "UTC", require_future: bool = True) -> str:
    """Raise a 400 naming the field when the timing is invalid; return the normalized cron (or "")."""
    try:
        get_zone(tz)
    except ValueError as exc:
        raise _invalid("timezone", str(exc)) from None
    if kind == ScheduleKind.CRON:
        try:
            return normalize_cron(cron_expression)
        except CronError as exc:
            raise _invalid("cron_expression", str(exc)) from None
    if kind == ScheduleKind.INTERVAL:
        if not interval_seconds or interval_seconds < 1:
            raise _invalid("interval_seconds", "An interval schedule needs interval_seconds >= 1.")
    elif kind == ScheduleKind.DATE:
        if run_at is None:
            raise _invalid("run_at", "A one-off job needs run_at.")
        if timezone.is_naive(run_at):
            raise _invalid("run_at", "run_at needs a UTC offset, e.g. 2030-01-01T09:00:00+01:00.")
        if require_future and run_at <= timezone.now():
            raise _invalid("run_at", "run_at is in the past.")
    return ""


def periodic_task_validate(*, template: PeriodicTask, require_future: bool = True) -> None:
    """All the checks a template must pass before it is saved (API, admin form and services share them).
    Normalizes `template.parameters` (schema defaults applied). Raises a 400 naming the field."""
    if PeriodicTask.objects.filter(brand_id=template.brand_id, name=template.name).exclude(pk=template.pk).exists():
        raise _invalid("name", "A periodic task with this name already exists in this brand.")
    try:
        template.parameters = get_task_type(template.task_type).validate(template.parameters or {})
    except ApplicationError as exc:
        raise _renamed(exc, "parameters") from None
    if template.calendar_id and template.calendar.brand_id != template.brand_id:
        raise _invalid("calendar", "No calendar with this id in this brand.")
    validate_timing(kind=template.kind, cron_expression=template.cron_expression,
                    interval_seconds=template.interval_seconds, run_at=template.run_at, tz=template.timezone,
                    require_future=require_future)
    # Build a task once to apply the core's checks (size, timeout range, priority) at definition time.
    try:
        task_build(brand=template.brand, **task_spec(template, {}))
    except ApplicationError as exc:
        raise _renamed(exc, "parameters") from None


def schedule_validate_overrides(*, template: PeriodicTask, overrides) -> dict:
    """Overrides must be an object and, merged over the template's parameters, satisfy the schema."""
    if not isinstance(overrides, dict):
        raise _invalid("parameter_overrides", "Must be a JSON object.")
    try:
        task_build(brand=template.brand, **task_spec(template, overrides))
    except ApplicationError as exc:
        raise _renamed(exc, "parameter_overrides") from None
    return overrides


def task_spec(template: PeriodicTask, overrides: dict) -> dict:
    """The keyword arguments of task_core's task_build/task_create for one run of the template."""
    spec = {"task_type": template.task_type, "context_data": {**(template.parameters or {}), **(overrides or {})},
            "priority": template.priority, "description": f"scheduled: {template.name}"[:5000]}
    for name in ("max_retries", "timeout_seconds"):
        if getattr(template, name) is not None:
            spec[name] = getattr(template, name)
    if template.queue:
        spec["queue"] = template.queue
    return spec


def validate_calendar(*, tz: str, excluded_dates, blackout_windows) -> tuple[list, list]:
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
        if not isinstance(w, dict) or "start" not in w or "end" not in w:
            errors[f"blackout_windows.{i}"] = ['Each window needs "start" and "end" (HH:MM) and optional "days".']
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
        raise ApplicationError("Invalid calendar.", error_code="VALIDATION_ERROR", field_errors=errors)
    return sorted(set(dates)), windows


def calendar_validate(*, calendar: TaskCalendar) -> None:
    """Normalize the calendar's dates and windows in place, or raise a 400 naming the field."""
    calendar.excluded_dates, calendar.blackout_windows = validate_calendar(
        tz=calendar.timezone, excluded_dates=calendar.excluded_dates, blackout_windows=calendar.blackout_windows)
    if TaskCalendar.objects.filter(brand_id=calendar.brand_id, name=calendar.name).exclude(pk=calendar.pk).exists():
        raise _invalid("name", "A calendar with this name already exists in this brand.")


# --- calendars -------------------------------------------------------------------------------------

@transaction.atomic
def calendar_create(*, brand, name: str, timezone: str = "UTC", excluded_dates=None, blackout_windows=None,
                    description: str = "") -> TaskCalendar:
    calendar = TaskCalendar(brand=brand, name=name, timezone=timezone, excluded_dates=excluded_dates or [],
                            blackout_windows=blackout_windows or [], description=description)
    calendar_validate(calendar=calendar)
    calendar.save()
    return calendar


@transaction.atomic
def calendar_update(*, calendar: TaskCalendar, **fields) -> TaskCalendar:
    for key, value in fields.items():
        setattr(calendar, key, value)
    calendar_validate(calendar=calendar)
    calendar.save()
    return calendar


@transaction.atomic
def calendar_delete(*, calendar: TaskCalendar) -> None:
    """Templates that used it keep running without exclusions (calendar set null)."""
    calendar.delete()


# --- events ----------------------------------------------------------------------------------------

def event(schedule, event_type, *, actor=None, from_status="", to_status="", detail="", due_at=None,
          task_id=None) -> ScheduleEvent:
    return ScheduleEvent(schedule=schedule, event_type=event_type, actor=actor, from_status=from_status,
                         to_status=to_status, detail=detail[:2000], due_at=due_at, task_id=task_id)


def events_add(events: list[ScheduleEvent]) -> None:
    """Insert lifecycle events and keep only the newest SCHEDULING_EVENTS_KEPT of each schedule touched.
    Every event of the app is written through here, so the cap holds on every path."""
    if not events:
        return
    ScheduleEvent.objects.bulk_create(events, batch_size=1000)
    events_trim(schedule_ids={e.schedule_id for e in events})


def events_trim(*, schedule_ids) -> int:
    """Keep the newest N events per schedule (N = SCHEDULING_EVENTS_KEPT).

    On PostgreSQL one statement: per schedule, an index scan of (schedule, -id) skips the newest N and
    deletes the rest, so the cost is ~N index entries per schedule whatever the history length.
    """
    ids = sorted(schedule_ids)
    keep = events_kept()
    deleted = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start:start + 1000]
        if connection.vendor == "postgresql":
            table = ScheduleEvent._meta.db_table
            with connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM {table} WHERE id IN (SELECT e.id FROM unnest(%s::bigint[]) AS s(id) "
                    f"CROSS JOIN LATERAL (SELECT id FROM {table} WHERE schedule_id = s.id "
                    f"ORDER BY id DESC OFFSET %s) AS e)", [chunk, keep])
                deleted += cursor.rowcount
        else:
            nth = (ScheduleEvent.objects.filter(schedule_id=OuterRef("schedule_id")).order_by("-id")
                   .values("id")[keep - 1:keep])
            deleted += ScheduleEvent.objects.filter(schedule_id__in=chunk, id__lt=Subquery(nth)).delete()[0]
    return deleted


# --- templates -------------------------------------------------------------------------------------

@transaction.atomic
def periodic_task_create(*, brand, created_by=None, register: bool = True, **fields) -> PeriodicTask:
    """Create a template; unless register=False, an active cron/interval/date template also gets its first
    schedule registered in Beat right away."""
    unknown = set(fields) - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"Unknown template fields: {sorted(unknown)}")
    template = PeriodicTask(brand=brand, created_by=created_by, **fields)
    periodic_task_validate(template=template)
    template.save()
    if register and template.is_active and template.kind != ScheduleKind.MANUAL:
        schedule_create(template=template, actor=created_by)
    return template


@transaction.atomic
def periodic_task_update(*, template: PeriodicTask, actor=None, **fields) -> PeriodicTask:
    """Edit a template. Its schedules follow: Beat rows are rewritten when the timing changes, and
    deactivating/activating the template pauses/resumes them. An active, non-manual template always ends
    with a live schedule when it is activated, turned from manual into timed, or given a new timing
    (e.g. a new date for a one-off that already ran)."""
    unknown = set(fields) - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"Unknown template fields: {sorted(unknown)}")
    was_active, was_kind = template.is_active, template.kind
    changed = sorted(k for k, v in fields.items() if getattr(template, k) != v)
    timing_changed = bool(TIMING_FIELDS.intersection(changed))
    for key, value in fields.items():
        setattr(template, key, value)
    periodic_task_validate(template=template, require_future=timing_changed)
    live = list(template.schedules.exclude(status=ScheduleStatus.INACTIVE)
                .only("pk", "brand_id", "periodic_task_id", "status", "anchor_at", "next_run_at"))
    if template.kind == ScheduleKind.MANUAL and live:
        raise _invalid("kind", "Delete this template's schedules before making it manual-only.")
    template.save()
    for s in live:
        s.periodic_task = template
    now = timezone.now()
    if timing_changed and live:
        beat_sync.beat_entries_retime(schedules=live, template=template, after=now)
        cache: dict[Timing, datetime | None] = {}
        for s in live:
            s.next_run_at = _next_run(template, s, now, cache) if s.status == ScheduleStatus.ACTIVE else None
        _save_next_runs(live)
    edited = [k for k in changed if k != "is_active"]
    if edited:  # (de)activation alone is recorded below as each schedule's status change
        events_add([event(s, EventType.UPDATED, actor=actor, detail=f"template edited: {', '.join(edited)}")
                    for s in live])
    if was_active and not template.is_active:
        _schedules_set_status(schedules=[s for s in live if s.status == ScheduleStatus.ACTIVE],
                              to_status=ScheduleStatus.PAUSED, actor=actor, detail="template deactivated")
    elif template.is_active and not was_active:
        _schedules_set_status(schedules=[s for s in live if s.status == ScheduleStatus.PAUSED],
                              to_status=ScheduleStatus.ACTIVE, actor=actor, detail="template activated")
    became_timed = was_kind == ScheduleKind.MANUAL and template.kind != ScheduleKind.MANUAL
    if not live and (became_timed or timing_changed or (template.is_active and not was_active)):
        _register_if_runnable(template=template, actor=actor, now=now)
    return template


def _register_if_runnable(*, template: PeriodicTask, actor, now: datetime) -> Schedule | None:
    """Give an active template without a live schedule its schedule, unless there is nothing left to run
    (manual, or a one-off whose date has passed)."""
    if not template.is_active or template.kind == ScheduleKind.MANUAL:
        return None
    if template.kind == ScheduleKind.DATE and template.run_at <= now:
        return None
    return schedule_create(template=template, actor=actor)


@transaction.atomic
def periodic_task_delete(*, template: PeriodicTask) -> dict:
    """Unregister all of its schedules and delete it; its runs stay, their links set null."""
    removed = schedules_delete_of_template(template=template)
    template.delete()
    return removed


def schedules_delete_of_template(*, template: PeriodicTask) -> dict:
    """Unregister and delete the schedules of a template that is being deleted."""
    schedule_ids = list(template.schedules.values_list("pk", flat=True))
    removed = _schedules_delete(schedule_ids=schedule_ids, why="its periodic task was deleted") if schedule_ids else 0
    return {"schedules_removed": len(schedule_ids), "beat_entries_removed": removed}


@transaction.atomic
def periodic_task_pause(*, template: PeriodicTask, actor=None) -> PeriodicTask:
    if not template.is_active:
        raise InvalidTransition("This periodic task is already paused.")
    return periodic_task_update(template=template, actor=actor, is_active=False)


@transaction.atomic
def periodic_task_resume(*, template: PeriodicTask, actor=None) -> PeriodicTask:
    if template.is_active:
        raise InvalidTransition("This periodic task is not paused.")
    return periodic_task_update(template=template, actor=actor, is_active=True)


@transaction.atomic
def periodic_task_run_now(*, template: PeriodicTask, actor=None) -> ScheduledRun:
    """Create and enqueue one run immediately (origin "schedule"), outside any due time and overlap rule.
    Returns the run (its `task` is the new BaseTask)."""
    if not template.is_active:
        raise InvalidTransition("This periodic task is paused; resume it before running it.")
    try:
        task, _ = task_create(brand=template.brand, created_by=actor, origin=TaskOrigin.SCHEDULE,
                              **task_spec(template, {}))
    except ApplicationError as exc:
        raise _renamed(exc, "parameters") from None
    return ScheduledRun.objects.create(brand=template.brand, periodic_task=template, task=task,
                                       due_at=timezone.now(), outcome=RunOutcome.MANUAL,
                                       detail=f"run now by {getattr(actor, 'username', None) or 'system'}")


# --- schedules -------------------------------------------------------------------------------------

def _next_run(template: PeriodicTask, schedule: Schedule, after: datetime, cache: dict | None = None):
    timing = template.timing(anchor=schedule.anchor_at)
    if cache is None:
        return timing.next_after(after)
    if timing not in cache:
        cache[timing] = timing.next_after(after)
    return cache[timing]


def _save_next_runs(schedules: list[Schedule]) -> None:
    """Write next_run_at: one UPDATE per distinct value (the schedules of a cron template share it), or a
    bulk update when they are many (interval schedules, each with its own anchor)."""
    by_value: dict = defaultdict(list)
    for s in schedules:
        by_value[s.next_run_at].append(s.pk)
    if len(by_value) > 20:
        Schedule.objects.bulk_update(schedules, ["next_run_at"], batch_size=1000)
        return
    for value, ids in by_value.items():
        for start in range(0, len(ids), 1000):
            Schedule.objects.filter(pk__in=ids[start:start + 1000]).update(next_run_at=value)


@transaction.atomic
def schedule_create(*, template: PeriodicTask, parameter_overrides: dict | None = None, label: str = "",
                    actor=None) -> Schedule:
    """Register a new, independent instance of the template in Beat."""
    if template.kind == ScheduleKind.MANUAL:
        raise InvalidTransition("A manual-only periodic task has no schedules; use run-now.")
    if not template.is_active:
        raise InvalidTransition("This periodic task is paused; resume it before adding schedules.")
    overrides = schedule_validate_overrides(template=template, overrides=parameter_overrides or {})
    if template.kind == ScheduleKind.DATE and template.run_at <= timezone.now():
        raise _invalid("run_at", "The one-off date of this periodic task is in the past.")
    now = timezone.now()
    schedule = Schedule.objects.create(
        brand=template.brand, periodic_task=template, label=label, status=ScheduleStatus.ACTIVE,
        parameter_overrides=overrides, snapshot=template.config(), anchor_at=now, created_by=actor)
    schedule.next_run_at = _next_run(template, schedule, now)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=schedule.next_run_at)
    beat_sync.beat_entry_upsert(schedule=schedule, template=template, after=now)
    events_add([event(schedule, EventType.REGISTERED, actor=actor, to_status=ScheduleStatus.ACTIVE,
                      detail=f"registered in Beat as {schedule.beat_name}")])
    return schedule


@transaction.atomic
def schedule_update(*, schedule: Schedule, actor=None, **fields) -> Schedule:
    """Edit a schedule's label or parameter overrides (validated against the template's task type)."""
    unknown = set(fields) - {"label", "parameter_overrides"}
    if unknown:
        raise ValueError(f"Unknown schedule fields: {sorted(unknown)}")
    if "parameter_overrides" in fields and schedule.periodic_task is not None:
        schedule_validate_overrides(template=schedule.periodic_task, overrides=fields["parameter_overrides"])
    for key, value in fields.items():
        setattr(schedule, key, value)
    schedule.save(update_fields=[*fields, "updated_at"])
    events_add([event(schedule, EventType.UPDATED, actor=actor, detail=f"edited: {', '.join(sorted(fields))}")])
    return schedule


def _schedules_set_status(*, schedules: list[Schedule], to_status: str, actor=None, detail: str = "",
                          event_type: str = EventType.STATUS_CHANGED) -> int:
    """Bulk status change: lock the rows (in id order, as the dispatcher does), one UPDATE for them, one
    for their Beat entries, one insert of events."""
    if not schedules:
        return 0
    now = timezone.now()
    ids = sorted(s.pk for s in schedules)
    list(Schedule.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))
    before = {s.pk: s.status for s in schedules}
    values = {"status": to_status, "updated_at": now}
    if to_status != ScheduleStatus.ACTIVE:
        values["next_run_at"] = None
    Schedule.objects.filter(pk__in=ids).update(**values)
    for s in schedules:
        s.status = to_status
    if to_status == ScheduleStatus.ACTIVE:
        cache: dict = {}
        for s in schedules:
            s.next_run_at = _next_run(s.periodic_task, s, now, cache) if s.periodic_task else None
        _save_next_runs(schedules)
    beat_sync.beat_entries_set_enabled(schedule_ids=ids, enabled=to_status == ScheduleStatus.ACTIVE)
    events_add([event(s, event_type, actor=actor, from_status=before[s.pk], to_status=to_status, detail=detail)
                for s in schedules])
    return len(ids)


@transaction.atomic
def schedule_pause(*, schedule: Schedule, actor=None, detail: str = "paused") -> Schedule:
    if schedule.status != ScheduleStatus.ACTIVE:
        raise InvalidTransition(f"Only an active schedule can be paused; this one is {schedule.status}.")
    _schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.PAUSED, actor=actor, detail=detail)
    schedule.refresh_from_db()
    return schedule


def _resume_refusal(schedule: Schedule) -> str | None:
    """Why this schedule cannot be resumed, or None."""
    if schedule.status not in (ScheduleStatus.PAUSED, ScheduleStatus.ERROR):
        return f"Only a paused or failed schedule can be resumed; this one is {schedule.status}."
    template = schedule.periodic_task
    if template is None:
        return "The template of this schedule is gone; delete the schedule."
    if not template.is_active:
        return "Its periodic task is paused; resume the periodic task."
    if template.kind == ScheduleKind.DATE and template.run_at <= timezone.now():
        return "The one-off date has passed; nothing left to resume."
    return None


@transaction.atomic
def schedule_resume(*, schedule: Schedule, actor=None) -> Schedule:
    refusal = _resume_refusal(schedule)
    if refusal:
        raise InvalidTransition(refusal)
    Schedule.objects.filter(pk=schedule.pk).update(consecutive_failures=0, error_message="")
    _schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.ACTIVE, actor=actor, detail="resumed")
    schedule.refresh_from_db()
    return schedule


def _schedules_delete(*, schedule_ids: list[int], why: str) -> int:
    """Remove the Beat rows, close the runs still waiting as "deferred", delete the schedules."""
    removed = beat_sync.beat_entries_delete(schedule_ids=schedule_ids)
    for start in range(0, len(schedule_ids), 1000):
        chunk = schedule_ids[start:start + 1000]
        ScheduledRun.objects.filter(schedule_id__in=chunk).deferred().update(
            outcome=RunOutcome.SKIPPED_OVERLAP, detail=f"deferred run dropped: {why}"[:255])
    with beat_sync.beat_rows_already_removed():
        Schedule.objects.filter(pk__in=schedule_ids).delete()
    return removed


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Unregister from Beat and delete; its runs keep their tasks, their schedule link set null."""
    _schedules_delete(schedule_ids=[schedule.pk], why="its schedule was deleted")


@transaction.atomic
def schedules_pause_many(*, schedules, actor=None) -> int:
    return _schedules_set_status(schedules=[s for s in schedules if s.status == ScheduleStatus.ACTIVE],
                                 to_status=ScheduleStatus.PAUSED, actor=actor, detail="paused (bulk)")


@transaction.atomic
def schedules_resume_many(*, schedules, actor=None) -> int:
    ok = [s for s in schedules if _resume_refusal(s) is None]
    if ok:
        Schedule.objects.filter(pk__in=[s.pk for s in ok]).update(consecutive_failures=0, error_message="")
    return _schedules_set_status(schedules=ok, to_status=ScheduleStatus.ACTIVE, actor=actor, detail="resumed (bulk)")


@transaction.atomic
def schedule_create_many(*, template: PeriodicTask, count: int, parameter_overrides: dict | None = None,
                         actor=None) -> list[Schedule]:
    """Register `count` schedules of one template with bulk inserts (imports, load tests)."""
    if template.kind == ScheduleKind.MANUAL or not template.is_active:
        raise InvalidTransition("Only an active, non-manual periodic task can have schedules.")
    overrides = schedule_validate_overrides(template=template, overrides=parameter_overrides or {})
    now = timezone.now()
    snapshot = template.config()
    first = template.timing(anchor=now).next_after(now)
    schedules = Schedule.objects.bulk_create(
        [Schedule(brand=template.brand, periodic_task=template, status=ScheduleStatus.ACTIVE,
                  parameter_overrides=overrides, snapshot=snapshot, anchor_at=now,
                  next_run_at=first, created_by=actor) for _ in range(count)], batch_size=1000)
    if not all(s.pk for s in schedules):  # backends without RETURNING on bulk insert
        schedules = list(Schedule.objects.filter(periodic_task=template, created_at__gte=now).order_by("pk"))
    beat_sync.beat_entries_create_many(schedules=schedules, template=template, after=now)
    events_add([event(s, EventType.REGISTERED, actor=actor, to_status=ScheduleStatus.ACTIVE,
                      detail="registered in Beat (bulk)") for s in schedules])
    return schedules


# --- orphans ---------------------------------------------------------------------------------------

@transaction.atomic
def orphans_cleanup(*, brand) -> dict:
    from .selectors import orphans_find

    found = orphans_find(brand=brand)
    schedule_ids = [s["id"] for s in found["schedules"]]
    removed_entries = beat_sync.beat_entries_delete(names=[e["name"] for e in found["beat_entries"]])
    removed_entries += _schedules_delete(schedule_ids=schedule_ids, why="its periodic task is gone")
    return {"beat_entries_removed": removed_entries, "schedules_removed": len(schedule_ids),
            "beat_entries": found["beat_entries"], "schedules": found["schedules"]}
