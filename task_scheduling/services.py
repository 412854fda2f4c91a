"""Writes of task_scheduling: templates, schedules, calendars, the dispatcher and run outcomes.

Every write that changes what Beat must fire goes through beat_sync in the same transaction, so the
django-celery-beat rows never drift from our Schedules.
"""

import logging
import uuid
from collections import defaultdict
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import F, OuterRef, Subquery
from django.utils import timezone

from megahub.api.exceptions import ApplicationError, InvalidTransition
from task_core.models import TaskOrigin, TaskStatus
from task_core.registry import get_task_type
from task_core.services import task_build, task_create, task_create_many

from . import beat_sync
from .models import (
    EventType,
    MissedRunPolicy,
    OverlapPolicy,
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


def _validate_template(template: PeriodicTask, *, require_future: bool = True) -> None:
    params = get_task_type(template.task_type).validate(template.parameters or {})
    template.parameters = params
    if template.calendar_id and template.calendar.brand_id != template.brand_id:
        raise _invalid("calendar", "Unknown calendar.")
    validate_timing(kind=template.kind, cron_expression=template.cron_expression,
                    interval_seconds=template.interval_seconds, run_at=template.run_at, tz=template.timezone,
                    require_future=require_future)
    # Build a task once to apply the core's checks (size, timeout range, priority) at definition time.
    task_build(brand=template.brand, **_task_spec(template, {}))


def _task_spec(template: PeriodicTask, overrides: dict) -> dict:
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
            if not isinstance(days, list) or not all(isinstance(d, int) and 0 <= d <= 6 for d in days):
                raise ValueError("days must be a list of weekdays 0..6 (Monday=0).")
            if start == end:
                raise ValueError("start and end must differ.")
            windows.append({"days": sorted(set(days)), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")})
        except ValueError as exc:
            errors[f"blackout_windows.{i}"] = [str(exc)]
    if errors:
        raise ApplicationError("Invalid calendar.", error_code="VALIDATION_ERROR", field_errors=errors)
    return dates, windows


# --- calendars -------------------------------------------------------------------------------------

@transaction.atomic
def calendar_create(*, brand, name: str, timezone: str = "UTC", excluded_dates=None, blackout_windows=None,
                    description: str = "") -> TaskCalendar:
    dates, windows = validate_calendar(tz=timezone, excluded_dates=excluded_dates, blackout_windows=blackout_windows)
    if TaskCalendar.objects.filter(brand=brand, name=name).exists():
        raise _invalid("name", "A calendar with this name already exists in this brand.")
    return TaskCalendar.objects.create(brand=brand, name=name, timezone=timezone, excluded_dates=dates,
                                       blackout_windows=windows, description=description)


@transaction.atomic
def calendar_update(*, calendar: TaskCalendar, **fields) -> TaskCalendar:
    for key, value in fields.items():
        setattr(calendar, key, value)
    calendar.excluded_dates, calendar.blackout_windows = validate_calendar(
        tz=calendar.timezone, excluded_dates=calendar.excluded_dates, blackout_windows=calendar.blackout_windows)
    if TaskCalendar.objects.filter(brand=calendar.brand, name=calendar.name).exclude(pk=calendar.pk).exists():
        raise _invalid("name", "A calendar with this name already exists in this brand.")
    calendar.save()
    return calendar


@transaction.atomic
def calendar_delete(*, calendar: TaskCalendar) -> None:
    """Templates that used it keep running without exclusions (calendar set null)."""
    calendar.delete()


# --- templates -------------------------------------------------------------------------------------

@transaction.atomic
def periodic_task_create(*, brand, created_by=None, register: bool = True, **fields) -> PeriodicTask:
    """Create a template; unless register=False, a cron/interval/date template also gets its first
    schedule registered in Beat right away."""
    unknown = set(fields) - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"Unknown template fields: {sorted(unknown)}")
    template = PeriodicTask(brand=brand, created_by=created_by, **fields)
    if PeriodicTask.objects.filter(brand=brand, name=template.name).exists():
        raise _invalid("name", "A periodic task with this name already exists in this brand.")
    _validate_template(template)
    template.save()
    if register and template.is_active and template.kind != ScheduleKind.MANUAL:
        schedule_create(template=template, actor=created_by)
    return template


@transaction.atomic
def periodic_task_update(*, template: PeriodicTask, actor=None, **fields) -> PeriodicTask:
    """Edit a template. Its schedules follow: Beat rows are rewritten when the timing changes, and
    activating/deactivating the template resumes/pauses them."""
    unknown = set(fields) - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"Unknown template fields: {sorted(unknown)}")
    was_active = template.is_active
    timing_changed = any(k in TIMING_FIELDS and getattr(template, k) != v for k, v in fields.items())
    for key, value in fields.items():
        setattr(template, key, value)
    if PeriodicTask.objects.filter(brand=template.brand, name=template.name).exclude(pk=template.pk).exists():
        raise _invalid("name", "A periodic task with this name already exists in this brand.")
    _validate_template(template, require_future=timing_changed)
    if template.kind == ScheduleKind.MANUAL and template.schedules.exists():
        raise _invalid("kind", "Delete this template's schedules before making it manual-only.")
    template.save()
    schedules = list(template.schedules.exclude(status=ScheduleStatus.INACTIVE))
    if timing_changed:
        now = timezone.now()
        for s in schedules:
            beat_sync.beat_entry_upsert(schedule=s, template=template, after=now)
            s.next_run_at = _next_run(template, s, now) if s.status == ScheduleStatus.ACTIVE else None
        Schedule.objects.bulk_update(schedules, ["next_run_at"], batch_size=1000)
    ScheduleEvent.objects.bulk_create([
        ScheduleEvent(schedule=s, event_type=EventType.UPDATED, actor=actor,
                      detail="template edited" + (" (timing changed)" if timing_changed else "")) for s in schedules])
    if was_active and not template.is_active:
        _schedules_set_status(schedules=[s for s in schedules if s.status == ScheduleStatus.ACTIVE],
                              to_status=ScheduleStatus.PAUSED, actor=actor, detail="template deactivated")
    elif template.is_active and not was_active:
        _schedules_set_status(schedules=[s for s in schedules if s.status == ScheduleStatus.PAUSED],
                              to_status=ScheduleStatus.ACTIVE, actor=actor, detail="template activated")
    return template


@transaction.atomic
def periodic_task_delete(*, template: PeriodicTask) -> dict:
    """Unregister all of its schedules and delete it; its runs stay, their links set null."""
    schedule_ids = list(template.schedules.values_list("pk", flat=True))
    removed = beat_sync.beat_entries_delete(schedule_ids=schedule_ids)
    Schedule.objects.filter(pk__in=schedule_ids).delete()
    template.delete()
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
def periodic_task_run_now(*, template: PeriodicTask, actor=None):
    """Create and enqueue one run immediately (origin "schedule"), outside any due time and overlap rule."""
    if not template.is_active:
        raise InvalidTransition("This periodic task is paused; resume it before running it.")
    task, _ = task_create(brand=template.brand, created_by=actor, origin=TaskOrigin.SCHEDULE,
                          **_task_spec(template, {}))
    ScheduledRun.objects.create(brand=template.brand, periodic_task=template, task=task, due_at=timezone.now(),
                                outcome=RunOutcome.MANUAL, detail=f"run now by {getattr(actor, 'username', 'system')}")
    return task


# --- schedules -------------------------------------------------------------------------------------

def _next_run(template: PeriodicTask, schedule: Schedule, after: datetime) -> datetime | None:
    return template.timing(anchor=schedule.anchor_at).next_after(after)


def _event(schedule, event_type, *, actor=None, from_status="", to_status="", detail="", due_at=None, task_id=None):
    return ScheduleEvent(schedule=schedule, event_type=event_type, actor=actor, from_status=from_status,
                         to_status=to_status, detail=detail[:2000], due_at=due_at, task_id=task_id)


@transaction.atomic
def schedule_create(*, template: PeriodicTask, parameter_overrides: dict | None = None, label: str = "",
                    actor=None) -> Schedule:
    """Register a new, independent instance of the template in Beat."""
    if template.kind == ScheduleKind.MANUAL:
        raise InvalidTransition("A manual-only periodic task has no schedules; use run-now.")
    if not template.is_active:
        raise InvalidTransition("This periodic task is paused; resume it before adding schedules.")
    overrides = parameter_overrides or {}
    if not isinstance(overrides, dict):
        raise _invalid("parameter_overrides", "Must be a JSON object.")
    try:
        get_task_type(template.task_type).validate({**template.parameters, **overrides})
    except ApplicationError as exc:
        exc.field_errors = {k.replace("context_data", "parameter_overrides", 1): v
                            for k, v in exc.field_errors.items()}
        raise
    if template.kind == ScheduleKind.DATE and template.run_at <= timezone.now():
        raise _invalid("run_at", "The one-off date of this periodic task is in the past.")
    now = timezone.now()
    schedule = Schedule.objects.create(
        brand=template.brand, periodic_task=template, label=label, status=ScheduleStatus.ACTIVE,
        parameter_overrides=overrides, snapshot=template.config(), anchor_at=now, created_by=actor)
    schedule.next_run_at = _next_run(template, schedule, now)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=schedule.next_run_at)
    beat_sync.beat_entry_upsert(schedule=schedule, template=template, after=now)
    _event(schedule, EventType.REGISTERED, actor=actor, to_status=ScheduleStatus.ACTIVE,
           detail=f"registered in Beat as {schedule.beat_name}").save()
    return schedule


def _schedules_set_status(*, schedules: list[Schedule], to_status: str, actor=None, detail: str = "",
                          event_type: str = EventType.STATUS_CHANGED) -> int:
    """Bulk status change: one UPDATE for the rows, one for their Beat entries, one insert of events."""
    if not schedules:
        return 0
    now = timezone.now()
    ids = [s.pk for s in schedules]
    before = {s.pk: s.status for s in schedules}
    values = {"status": to_status, "updated_at": now}
    if to_status != ScheduleStatus.ACTIVE:
        values["next_run_at"] = None
    Schedule.objects.filter(pk__in=ids).update(**values)
    for s in schedules:
        s.status = to_status
    if to_status == ScheduleStatus.ACTIVE:
        for s in schedules:
            s.next_run_at = _next_run(s.periodic_task, s, now) if s.periodic_task else None
        Schedule.objects.bulk_update(schedules, ["next_run_at"], batch_size=1000)
    beat_sync.beat_entries_set_enabled(schedule_ids=ids, enabled=to_status == ScheduleStatus.ACTIVE)
    ScheduleEvent.objects.bulk_create(
        [_event(s, event_type, actor=actor, from_status=before[s.pk], to_status=to_status, detail=detail)
         for s in schedules], batch_size=1000)
    return len(ids)


@transaction.atomic
def schedule_pause(*, schedule: Schedule, actor=None, detail: str = "paused") -> Schedule:
    if schedule.status != ScheduleStatus.ACTIVE:
        raise InvalidTransition(f"Only an active schedule can be paused; this one is {schedule.status}.")
    _schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.PAUSED, actor=actor, detail=detail)
    schedule.refresh_from_db()
    return schedule


@transaction.atomic
def schedule_resume(*, schedule: Schedule, actor=None) -> Schedule:
    if schedule.status not in (ScheduleStatus.PAUSED, ScheduleStatus.ERROR):
        raise InvalidTransition(f"Only a paused or failed schedule can be resumed; this one is {schedule.status}.")
    template = schedule.periodic_task
    if template is None:
        raise InvalidTransition("The template of this schedule is gone; delete the schedule.")
    if not template.is_active:
        raise InvalidTransition("Its periodic task is paused; resume the periodic task.")
    if template.kind == ScheduleKind.DATE and template.run_at <= timezone.now():
        raise InvalidTransition("The one-off date has passed; nothing left to resume.")
    Schedule.objects.filter(pk=schedule.pk).update(consecutive_failures=0, error_message="")
    _schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.ACTIVE, actor=actor, detail="resumed")
    schedule.refresh_from_db()
    return schedule


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Unregister from Beat and delete; its runs keep their tasks, their schedule link set null."""
    beat_sync.beat_entries_delete(schedule_ids=[schedule.pk])
    schedule.delete()


@transaction.atomic
def schedules_pause_many(*, schedules, actor=None) -> int:
    return _schedules_set_status(schedules=[s for s in schedules if s.status == ScheduleStatus.ACTIVE],
                                 to_status=ScheduleStatus.PAUSED, actor=actor, detail="paused (bulk)")


@transaction.atomic
def schedules_resume_many(*, schedules, actor=None) -> int:
    ok = [s for s in schedules if s.status in (ScheduleStatus.PAUSED, ScheduleStatus.ERROR)
          and s.periodic_task is not None and s.periodic_task.is_active]
    return _schedules_set_status(schedules=ok, to_status=ScheduleStatus.ACTIVE, actor=actor, detail="resumed (bulk)")


def events_trim(*, schedule_ids) -> int:
    """Keep the newest N events per schedule (N = SCHEDULING_EVENTS_KEPT)."""
    keep = events_kept()
    nth = (ScheduleEvent.objects.filter(schedule_id=OuterRef("schedule_id")).order_by("-id")
           .values("id")[keep - 1:keep])
    deleted, _ = ScheduleEvent.objects.filter(schedule_id__in=list(schedule_ids), id__lt=Subquery(nth)).delete()
    return deleted


# --- the dispatcher --------------------------------------------------------------------------------

_EVENT_OF = {
    RunOutcome.FIRED: EventType.FIRED, RunOutcome.DEFERRED: EventType.DEFERRED,
    RunOutcome.SKIPPED_OVERLAP: EventType.SKIPPED_OVERLAP, RunOutcome.SKIPPED_CALENDAR: EventType.SKIPPED_CALENDAR,
    RunOutcome.MISSED: EventType.MISSED, RunOutcome.ERROR: EventType.FAILED,
}


def schedule_dispatch(*, items: list[tuple[int, datetime]], now: datetime | None = None) -> dict:
    """Turn due (schedule, due time) pairs into runs: calendar, then overlap, then missed-run policy,
    then an exactly-once claim per (schedule, due time) and the BaseTasks of the claims won.

    Safe to call twice with the same items (a second Beat, a restart, a redelivered message): the
    unique claim row lets one caller win each due time; the loser creates nothing.
    """
    now = now or timezone.now()
    grace = getattr(settings, "SCHEDULING_MISSED_GRACE_SECONDS", 60)
    wanted = sorted({(int(sid), due) for sid, due in items}, key=lambda x: (x[1], x[0]))
    ids = {sid for sid, _ in wanted}
    schedules = {s.pk: s for s in Schedule.objects.filter(pk__in=ids, status=ScheduleStatus.ACTIVE)
                 .select_related("periodic_task", "periodic_task__calendar")}
    busy = set(ScheduledRun.objects.filter(schedule_id__in=list(schedules)).unfinished()
               .values_list("schedule_id", flat=True))
    deferred = set(ScheduledRun.objects.filter(schedule_id__in=list(busy), outcome=RunOutcome.DEFERRED)
                   .values_list("schedule_id", flat=True))
    rules: dict[int, object] = {}
    plans: dict[tuple[int, datetime], dict] = {}
    for sid, due in wanted:
        s = schedules.get(sid)
        t = s.periodic_task if s else None
        if t is None or not t.is_active:
            continue
        outcome, detail, spec = RunOutcome.FIRED, "", None
        if t.calendar_id:
            if t.calendar_id not in rules:
                rules[t.calendar_id] = t.calendar.rules()
            why = rules[t.calendar_id].exclusion(due)
            if why:
                outcome, detail = RunOutcome.SKIPPED_CALENDAR, f"calendar {t.calendar.name}: {why}"
        if outcome == RunOutcome.FIRED and sid in busy and t.overlap_policy != OverlapPolicy.ALLOW:
            if t.overlap_policy == OverlapPolicy.QUEUE and sid not in deferred:
                outcome, detail = RunOutcome.DEFERRED, "previous run unfinished; runs when it ends"
                deferred.add(sid)
            else:
                outcome, detail = RunOutcome.SKIPPED_OVERLAP, "previous run still unfinished"
        late = (now - due).total_seconds()
        if outcome == RunOutcome.FIRED and late > grace and t.missed_run_policy == MissedRunPolicy.SKIP:
            outcome, detail = RunOutcome.MISSED, f"due {int(late)}s ago (Beat was not running); skipped"
        if outcome == RunOutcome.FIRED:
            spec = _task_spec(t, s.parameter_overrides)
            try:
                task_build(brand=s.brand, origin=TaskOrigin.SCHEDULE, **spec)
            except ApplicationError as exc:
                outcome, detail, spec = RunOutcome.ERROR, f"{exc.detail}: {exc.field_errors}"[:255], None
            else:
                busy.add(sid)
                if late > grace:
                    detail = f"missed while Beat was down; run once ({int(late)}s late)"
        plans[(sid, due)] = {"schedule": s, "outcome": outcome, "detail": detail[:255], "spec": spec}
    if not plans:
        return {"fired": 0, "skipped": 0, "duplicates": len(wanted)}

    token = uuid.uuid4()
    with transaction.atomic():
        ScheduledRun.objects.bulk_create(
            [ScheduledRun(brand_id=p["schedule"].brand_id, schedule_id=sid,
                          periodic_task_id=p["schedule"].periodic_task_id, due_at=due, outcome=p["outcome"],
                          detail=p["detail"], claim_token=token)
             for (sid, due), p in plans.items()], ignore_conflicts=True, batch_size=1000)
        won = list(ScheduledRun.objects.filter(claim_token=token).only("pk", "schedule_id", "due_at", "brand_id"))
        fired_runs = [r for r in won if plans[(r.schedule_id, r.due_at)]["outcome"] == RunOutcome.FIRED]
        by_brand: dict[int, list[ScheduledRun]] = defaultdict(list)
        for r in fired_runs:
            by_brand[r.brand_id].append(r)
        task_of: dict[int, object] = {}
        for runs in by_brand.values():
            brand = plans[(runs[0].schedule_id, runs[0].due_at)]["schedule"].brand
            tasks = task_create_many(brand=brand, origin=TaskOrigin.SCHEDULE,
                                     specs=[plans[(r.schedule_id, r.due_at)]["spec"] for r in runs])
            for r, task in zip(runs, tasks, strict=True):
                r.task = task
                task_of[r.pk] = task
        ScheduledRun.objects.bulk_update(fired_runs, ["task"], batch_size=1000)
        _record_dispatch(won, plans, task_of)
    fired = len(fired_runs)
    return {"fired": fired, "skipped": len(won) - fired, "duplicates": len(wanted) - len(won)}


def _record_dispatch(won, plans, task_of) -> None:
    """Counters, next/last run, Beat's last_run_at, events and one-off completion for the claims won."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    events, one_offs, errors = [], [], []
    timing_cache: dict[tuple, datetime | None] = {}
    for r in won:
        p = plans[(r.schedule_id, r.due_at)]
        s, outcome = p["schedule"], p["outcome"]
        template = s.periodic_task
        timing: Timing = template.timing(anchor=s.anchor_at)
        key = (timing, r.due_at)
        if key not in timing_cache:
            timing_cache[key] = timing.next_after(max(r.due_at, timezone.now()))
        fired = outcome == RunOutcome.FIRED
        groups[(r.due_at, timing_cache[key], fired)].append(s.pk)
        task = task_of.get(r.pk)
        events.append(_event(s, _EVENT_OF[outcome], due_at=r.due_at, task_id=task.task_id if task else None,
                             detail=p["detail"] or (f"created task {task.pk}" if task else "")))
        if template.kind == ScheduleKind.DATE:
            one_offs.append(s)
        elif outcome == RunOutcome.ERROR:
            errors.append(s)
    for (due, nxt, fired), ids in groups.items():
        counter = {"run_count": F("run_count") + 1} if fired else {"skip_count": F("skip_count") + 1}
        Schedule.objects.filter(pk__in=ids).update(last_run_at=due, next_run_at=nxt, **counter)
        beat_sync.beat_entries_mark_run(schedule_ids=ids, due_at=due)
    ScheduleEvent.objects.bulk_create(events, batch_size=1000)
    if one_offs:
        _schedules_set_status(schedules=one_offs, to_status=ScheduleStatus.INACTIVE, detail="one-off job done")
    if errors:
        Schedule.objects.filter(pk__in=[s.pk for s in errors]).update(error_message="its parameters no longer "
                                                                      "validate against the task type's schema")
        _schedules_set_status(schedules=errors, to_status=ScheduleStatus.ERROR,
                              detail="the run could not be created; fix the template and resume")
    events_trim(schedule_ids={r.schedule_id for r in won})


def schedule_fire(*, schedule_id: int, now: datetime | None = None) -> dict:
    """Fire from a plain django-celery-beat message (stock DatabaseScheduler): the due time is the latest
    scheduled time at or before now, computed the same way our Beat does, so both agree."""
    now = now or timezone.now()
    s = Schedule.objects.select_related("periodic_task").filter(pk=schedule_id).first()
    if s is None or s.periodic_task is None:
        return {"fired": 0, "skipped": 0, "duplicates": 0}
    due = s.periodic_task.timing(anchor=s.anchor_at).latest_at_or_before(now)
    if due is None:
        return {"fired": 0, "skipped": 0, "duplicates": 0}
    return schedule_dispatch(items=[(schedule_id, due)], now=now)


# --- outcomes (worker side, from task_core.signals.task_finished) ---------------------------------

def schedule_record_outcome(*, task, status: str) -> None:
    """Count a finished run on its schedule, auto-pause after N consecutive failures, and release a run
    deferred by the "queue" overlap policy."""
    if status not in TaskStatus.finished():
        return
    run = ScheduledRun.objects.filter(task_id=task.pk).only("pk", "schedule_id").first()
    if run is None or run.schedule_id is None:
        return
    with transaction.atomic():
        schedule = (Schedule.objects.select_for_update(of=("self",)).select_related("periodic_task")
                    .filter(pk=run.schedule_id).first())
        if schedule is None:
            return
        if status == TaskStatus.COMPLETED:
            Schedule.objects.filter(pk=schedule.pk).update(success_count=F("success_count") + 1,
                                                           consecutive_failures=0)
        elif status == TaskStatus.FAILED:
            schedule.consecutive_failures += 1
            Schedule.objects.filter(pk=schedule.pk).update(failure_count=F("failure_count") + 1,
                                                           consecutive_failures=schedule.consecutive_failures)
            _event(schedule, EventType.FAILED, task_id=task.task_id,
                   detail=(task.error_message or "failed")[:500]).save()
            limit = schedule.periodic_task.auto_pause_after if schedule.periodic_task else 0
            if limit and schedule.consecutive_failures >= limit and schedule.status == ScheduleStatus.ACTIVE:
                _schedules_set_status(
                    schedules=[schedule], to_status=ScheduleStatus.PAUSED, event_type=EventType.AUTO_PAUSED,
                    detail=f"auto-paused after {schedule.consecutive_failures} consecutive failed runs")
        events_trim(schedule_ids=[schedule.pk])
    schedule_release_deferred(schedule_id=run.schedule_id)


@transaction.atomic
def schedule_release_deferred(*, schedule_id: int):
    """Start the run the "queue" overlap policy held back, once nothing of the schedule is unfinished."""
    if ScheduledRun.objects.filter(schedule_id=schedule_id).unfinished().exists():
        return None
    run = (ScheduledRun.objects.select_for_update(skip_locked=True, of=("self",))
           .filter(schedule_id=schedule_id, outcome=RunOutcome.DEFERRED, task__isnull=True)
           .select_related("schedule__periodic_task", "schedule__brand").order_by("due_at").first())
    if run is None or run.schedule.periodic_task is None:
        return None
    s = run.schedule
    spec = _task_spec(s.periodic_task, s.parameter_overrides)
    task, _ = task_create(brand=s.brand, origin=TaskOrigin.SCHEDULE, **spec)
    ScheduledRun.objects.filter(pk=run.pk).update(task=task, outcome=RunOutcome.FIRED,
                                                  detail="deferred run started after the previous one ended")
    Schedule.objects.filter(pk=s.pk).update(run_count=F("run_count") + 1)
    _event(s, EventType.FIRED, due_at=run.due_at, task_id=task.task_id, detail="deferred run started").save()
    return task


# --- orphans ---------------------------------------------------------------------------------------

@transaction.atomic
def orphans_cleanup(*, brand) -> dict:
    from .selectors import orphans_find

    found = orphans_find(brand=brand)
    entry_names = [e["name"] for e in found["beat_entries"]]
    schedule_ids = [s["id"] for s in found["schedules"]]
    entry_names += [beat_sync.beat_name(pk) for pk in schedule_ids]
    removed_entries = beat_sync.beat_entries_delete(names=list(set(entry_names)))
    Schedule.objects.filter(pk__in=schedule_ids, brand=brand).delete()
    return {"beat_entries_removed": removed_entries, "schedules_removed": len(schedule_ids),
            "beat_entries": found["beat_entries"], "schedules": found["schedules"]}


@transaction.atomic
def schedule_create_many(*, template: PeriodicTask, count: int, parameter_overrides: dict | None = None,
                         actor=None) -> list[Schedule]:
    """Register `count` schedules of one template with bulk inserts (imports, load tests)."""
    if template.kind == ScheduleKind.MANUAL or not template.is_active:
        raise InvalidTransition("Only an active, non-manual periodic task can have schedules.")
    get_task_type(template.task_type).validate({**template.parameters, **(parameter_overrides or {})})
    now = timezone.now()
    snapshot = template.config()
    first = template.timing(anchor=now).next_after(now)
    schedules = Schedule.objects.bulk_create(
        [Schedule(brand=template.brand, periodic_task=template, status=ScheduleStatus.ACTIVE,
                  parameter_overrides=parameter_overrides or {}, snapshot=snapshot, anchor_at=now,
                  next_run_at=first, created_by=actor) for _ in range(count)], batch_size=1000)
    if not all(s.pk for s in schedules):  # backends without RETURNING on bulk insert
        schedules = list(Schedule.objects.filter(periodic_task=template, created_at__gte=now).order_by("pk"))
    beat_sync.beat_entries_create_many(schedules=schedules, template=template)
    ScheduleEvent.objects.bulk_create([_event(s, EventType.REGISTERED, actor=actor, to_status=ScheduleStatus.ACTIVE,
                                              detail="registered in Beat (bulk)") for s in schedules], batch_size=1000)
    return schedules
