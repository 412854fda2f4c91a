"""Firing: what Beat's messages do with due times (what a schedule records when a run ends is in
outcomes.py).

`schedules_fire` turns due (schedule, due time) pairs into runs, in one transaction that holds the
locks of the schedules concerned (taken in id order, so concurrent firings never deadlock):
calendar, then overlap, then missed-run policy, then an exactly-once claim per (schedule, due time) and
the BaseTasks of the claims won. A second Beat, a restarted one, a redelivered or re-sent message all
send the same pairs: the unique claim row lets one caller win each due time, the others create nothing.
"""

import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Case, DateTimeField, F, Q, Value, When
from django.utils import timezone

from megahub.api.exceptions import ApplicationError
from megahub.iterables import chunked
from megahub.read_cache import invalidate
from task_core.choices import TaskOrigin
from task_core.services import task_create, task_create_many

from . import beat_sync
from .choices import EventType, MissedRunPolicy, OverlapPolicy, RunOutcome, ScheduleKind, ScheduleStatus
from .models import Schedule, ScheduledRun, ScheduleTemplate
from .run_specs import task_spec
from .services.events import event, events_add
from .state_machine import schedules_set_status
from .timing import Timing, count_between, on_grid

logger = logging.getLogger("megahub.scheduling")

_EVENT_OF = {
    RunOutcome.FIRED: EventType.FIRED, RunOutcome.DEFERRED: EventType.DEFERRED,
    RunOutcome.SKIPPED_OVERLAP: EventType.SKIPPED_OVERLAP, RunOutcome.SKIPPED_CALENDAR: EventType.SKIPPED_CALENDAR,
    RunOutcome.MISSED: EventType.MISSED, RunOutcome.ERROR: EventType.FAILED,
}
# Errors that belong to one item (its data), not to the database: that item is recorded as `error`, the
# rest of the batch goes on. Anything else (connection lost, deadlock...) rolls the batch back and the
# firing task retries it; the claims make the retry idempotent.
ITEM_ERRORS = (ApplicationError, IntegrityError, DataError, ValueError, TypeError)
COLLAPSED_COUNT_CAP = 20


@dataclass
class Item:
    """One due time of one schedule as Beat sends it. `sent_at`: when Beat found it due (lateness is
    measured from there, not from when a worker got to the message). `since`: set when Beat collapsed
    earlier due times into this one (it was down, or a tick came late): the last due time it knew of."""

    schedule_id: int
    due_at: datetime
    sent_at: datetime | None = None
    since: datetime | None = None


@dataclass
class _Plan:
    schedule: Schedule
    template: ScheduleTemplate
    timing: Timing
    outcome: str
    detail: str = ""
    since: datetime | None = None


def _zero(**extra) -> dict:
    return {"fired": 0, "skipped": 0, "duplicates": 0, "ignored": 0, **extra}


def schedules_fire(*, items, now: datetime | None = None) -> dict:
    """items: Item or (schedule_id, due_at[, sent_at[, since]]) tuples. Returns counts: fired (tasks
    created), skipped (claims won without a task: calendar, overlap, missed, error), duplicates (claims
    another caller already holds) and ignored (schedule not active, template inactive, or a due time that
    is not on the schedule's grid)."""
    now = now or timezone.now()
    wanted: dict[tuple[int, datetime], Item] = {}
    for raw in items:
        item = raw if isinstance(raw, Item) else Item(int(raw[0]), *raw[1:])
        key = (item.schedule_id, item.due_at)
        seen = wanted.get(key)
        if seen is None or (item.sent_at and (seen.sent_at is None or item.sent_at < seen.sent_at)):
            wanted[key] = item
    if not wanted:
        return _zero()
    with transaction.atomic():
        return _fire_locked(wanted, now)


def _fire_locked(wanted: dict, now: datetime) -> dict:
    ids = sorted({sid for sid, _ in wanted})
    schedules = {s.pk: s for s in Schedule.objects.select_for_update(of=("self",))
                 .filter(pk__in=ids, status=ScheduleStatus.ACTIVE)
                 .select_related("brand", "periodic_task", "periodic_task__calendar").order_by("pk")}
    live = list(schedules)
    invalidate({s.brand_id for s in schedules.values()})
    # Read under the locks: a concurrent firing of the same schedule has committed (or not started).
    busy = set(ScheduledRun.objects.filter(schedule_id__in=live).blocking_overlap()
               .values_list("schedule_id", flat=True))
    deferred = set(ScheduledRun.objects.filter(schedule_id__in=live).deferred().values_list("schedule_id", flat=True))
    stale = deferred - busy  # the run it waited for ended (or was interrupted) without releasing it
    if stale:
        ScheduledRun.objects.filter(schedule_id__in=stale).deferred().update(
            outcome=RunOutcome.SKIPPED_OVERLAP, detail="deferred run superseded by a later due time")
        deferred -= stale
    plans = _plan(wanted, schedules, busy, deferred, now)
    ignored = len(wanted) - len(plans)
    if not plans:
        return _zero(ignored=ignored)

    token = uuid.uuid4()
    ScheduledRun.objects.bulk_create(
        [ScheduledRun(brand_id=p.schedule.brand_id, schedule_id=sid, periodic_task_id=p.template.pk, due_at=due,
                      outcome=p.outcome, detail=p.detail[:255], claim_token=token)
         for (sid, due), p in plans.items()], ignore_conflicts=True, batch_size=1000)
    won = list(ScheduledRun.objects.filter(claim_token=token).only("pk", "schedule_id", "due_at", "brand_id"))
    fired_runs = [r for r in won if plans[(r.schedule_id, r.due_at)].outcome == RunOutcome.FIRED]
    _create_tasks(fired_runs, plans)
    _record(won, plans, now)
    fired = sum(1 for r in fired_runs if r.task_id)
    return {"fired": fired, "skipped": len(won) - fired, "duplicates": len(plans) - len(won), "ignored": ignored}


def _plan(wanted: dict, schedules: dict, busy: set, deferred: set, now: datetime) -> dict:
    """Calendar, then overlap, then missed-run policy for each pair, in due-time order."""
    grace = settings.SCHEDULING_MISSED_GRACE_SECONDS
    timings: dict[tuple, Timing] = {}
    grid: dict[tuple, bool] = {}
    rules: dict[int, object] = {}
    excluded: dict[tuple, str | None] = {}
    plans: dict[tuple[int, datetime], _Plan] = {}
    for (sid, due), item in sorted(wanted.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s = schedules.get(sid)
        t = s.periodic_task if s else None
        if t is None or not t.is_active:
            continue
        tkey = (t.pk, s.anchor_at if t.kind == ScheduleKind.INTERVAL else None)
        timing = timings.get(tkey) or timings.setdefault(tkey, t.timing(anchor=s.anchor_at))
        if (timing, due) not in grid:
            grid[(timing, due)] = on_grid(timing, due)
        if not grid[(timing, due)]:
            logger.warning("Schedule %s: %s is not one of its due times; ignored", sid, due.isoformat())
            continue
        plan = _Plan(schedule=s, template=t, timing=timing, outcome=RunOutcome.FIRED, since=item.since)
        if t.calendar_id:
            if t.calendar_id not in rules:
                rules[t.calendar_id] = t.calendar.rules()
            if (t.calendar_id, due) not in excluded:
                excluded[(t.calendar_id, due)] = rules[t.calendar_id].exclusion(due)
            why = excluded[(t.calendar_id, due)]
            if why:
                plan.outcome, plan.detail = RunOutcome.SKIPPED_CALENDAR, f"calendar {t.calendar.name}: {why}"
        if plan.outcome == RunOutcome.FIRED and sid in busy and t.overlap_policy != OverlapPolicy.ALLOW:
            if t.overlap_policy == OverlapPolicy.QUEUE and sid not in deferred:
                plan.outcome, plan.detail = RunOutcome.DEFERRED, "previous run unfinished; runs when it ends"
                deferred.add(sid)
            else:
                plan.outcome, plan.detail = RunOutcome.SKIPPED_OVERLAP, "previous run still unfinished"
        late = ((item.sent_at or now) - due).total_seconds()
        if plan.outcome == RunOutcome.FIRED and late > grace:
            if t.missed_run_policy == MissedRunPolicy.SKIP:
                plan.outcome = RunOutcome.MISSED
                plan.detail = f"Beat found it due {int(late)}s late (it was not running); skipped"
            else:
                plan.detail = f"missed while Beat was not running; run once ({int(late)}s late)"
        if plan.outcome == RunOutcome.FIRED:
            busy.add(sid)
        plans[(sid, due)] = plan
    return plans


def _create_tasks(runs: list[ScheduledRun], plans: dict) -> None:
    """The BaseTasks of the fired claims, in bulk per brand. If a bulk insert fails on one item's data,
    the brand's items are created one by one and only the bad ones are recorded as `error`."""
    by_brand: dict[int, list[ScheduledRun]] = defaultdict(list)
    for r in runs:
        by_brand[r.brand_id].append(r)
    errors: list[ScheduledRun] = []
    for group in by_brand.values():
        first = plans[(group[0].schedule_id, group[0].due_at)]
        specs = [task_spec(plans[(r.schedule_id, r.due_at)].template,
                           plans[(r.schedule_id, r.due_at)].schedule.parameter_overrides) for r in group]
        try:
            with transaction.atomic():
                tasks = task_create_many(brand=first.schedule.brand, origin=TaskOrigin.SCHEDULE, specs=specs)
        except ITEM_ERRORS as exc:
            logger.warning("Bulk creation of %s scheduled runs failed (%s); creating them one by one",
                           len(group), exc)
            tasks = [_create_one(first.schedule.brand, spec, plans[(r.schedule_id, r.due_at)])
                     for r, spec in zip(group, specs, strict=True)]
        for r, task in zip(group, tasks, strict=True):
            r.task = task
            if task is None:
                plan = plans[(r.schedule_id, r.due_at)]
                r.outcome, r.detail = plan.outcome, plan.detail[:255]
                errors.append(r)
    _link_tasks([r for r in runs if r.task is not None])
    if errors:
        ScheduledRun.objects.bulk_update(errors, ["outcome", "detail"], batch_size=1000)


def _link_tasks(runs: list[ScheduledRun]) -> None:
    """Set each run's task (its task_state follows: status_sync): on PostgreSQL one UPDATE from two arrays
    (Django's bulk_update builds a CASE of one branch per row, several times slower at 1000 rows)."""
    if connection.vendor != "postgresql":
        ScheduledRun.objects.bulk_update(runs, ["task"], batch_size=1000)
        return
    table = ScheduledRun._meta.db_table
    with connection.cursor() as cursor:
        for chunk in chunked(runs):
            cursor.execute(f"UPDATE {table} AS r SET task_id = v.task_id "
                           f"FROM unnest(%s::bigint[], %s::bigint[]) AS v(id, task_id) WHERE r.id = v.id",
                           [[r.pk for r in chunk], [r.task_id for r in chunk]])


def _create_one(brand, spec: dict, plan: _Plan):
    try:
        with transaction.atomic():
            task, _ = task_create(brand=brand, origin=TaskOrigin.SCHEDULE, **spec)
        return task
    except ITEM_ERRORS as exc:
        message = exc.detail if isinstance(exc, ApplicationError) else str(exc)
        fields = getattr(exc, "field_errors", None)
        plan.outcome = RunOutcome.ERROR
        plan.detail = f"could not create the task: {message}{f' {fields}' if fields else ''}"
        return None


def _record(won: list[ScheduledRun], plans: dict, now: datetime) -> None:
    """Counters, next/last run, Beat's last_run_at, events and one-off completion for the claims won."""
    groups: dict[tuple, list[int]] = defaultdict(list)
    events, one_offs, errors = [], [], []
    next_cache: dict[tuple, datetime | None] = {}
    collapsed: dict[int, int] = {}
    for r in won:
        p = plans[(r.schedule_id, r.due_at)]
        s = p.schedule
        key = (p.timing, r.due_at)
        if key not in next_cache:
            next_cache[key] = p.timing.next_after(max(r.due_at, now))
        fired = p.outcome == RunOutcome.FIRED
        groups[(r.due_at, next_cache[key], fired)].append(s.pk)
        task = r.task if fired else None
        events.append(event(s, _EVENT_OF[p.outcome], due_at=r.due_at, task_id=task.task_id if task else None,
                            detail=p.detail or (f"created task {task.pk}" if task else "")))
        if p.since is not None:
            n = count_between(p.timing, p.since, r.due_at, cap=COLLAPSED_COUNT_CAP)
            if n:
                collapsed[s.pk] = n
                more = "or more " if n >= COLLAPSED_COUNT_CAP else ""
                events.append(event(s, EventType.MISSED, due_at=r.due_at, detail=(
                    f"{n} {more}earlier due time(s) after {p.since.isoformat()} were not fired (Beat was not "
                    f"running or fell behind); they are collapsed into the due time {r.due_at.isoformat()}")))
        if p.template.kind == ScheduleKind.DATE:
            one_offs.append(s)
        elif p.outcome == RunOutcome.ERROR:
            errors.append((s, p.detail))
    for (due, nxt, fired), ids in groups.items():
        newer = Q(last_run_at__isnull=True) | Q(last_run_at__lt=due)
        counter = {"run_count": F("run_count") + 1} if fired else {"skip_count": F("skip_count") + 1}
        Schedule.objects.filter(pk__in=ids).update(
            last_run_at=Case(When(newer, then=Value(due)), default=F("last_run_at")),
            next_run_at=Case(When(newer, then=Value(nxt, output_field=DateTimeField())),
                             default=F("next_run_at")), **counter)
        beat_sync.beat_entries_mark_run(schedule_ids=ids, due_at=due)
    for sid, n in collapsed.items():
        Schedule.objects.filter(pk=sid).update(skip_count=F("skip_count") + n)
    events_add(events)
    if one_offs:
        schedules_set_status(schedules=one_offs, to_status=ScheduleStatus.INACTIVE, detail="one-off job done")
    for s, detail in errors:
        Schedule.objects.filter(pk=s.pk).update(error_message=detail[:2000])
    if errors:
        schedules_set_status(schedules=[s for s, _ in errors], to_status=ScheduleStatus.ERROR,
                              detail="the run could not be created; fix the template and resume")


def schedule_fire(*, schedule_id: int, now: datetime | None = None) -> dict:
    """Fire from a plain django-celery-beat message (stock DatabaseScheduler): the due time is the latest
    scheduled time at or before now, computed the same way our Beat does, so both agree. (Lateness is
    measured from when the worker got the message: the stock message carries no send time.)"""
    now = now or timezone.now()
    s = Schedule.objects.select_related("periodic_task").filter(pk=schedule_id).first()
    if s is None or s.periodic_task is None:
        return _zero(ignored=1)
    due = s.periodic_task.timing(anchor=s.anchor_at).latest_at_or_before(now)
    if due is None:
        return _zero(ignored=1)
    return schedules_fire(items=[Item(schedule_id, due, now)], now=now)
