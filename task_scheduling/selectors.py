"""Reads of task_scheduling: scoped querysets, execution statistics, summary, previews, orphans."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

from django.db.models import Avg, Count, F, Min, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.models import TaskStatus

from .beat_sync import BEAT_PREFIX, FIRE_TASK
from .models import PeriodicTask, RunOutcome, Schedule, ScheduledRun, ScheduleEvent, ScheduleStatus, TaskCalendar
from .timing import Timing, dst_note, upcoming, wall_times_at


def periodic_task_queryset(*, brand):
    return (PeriodicTask.objects.for_brand(brand).select_related("calendar", "created_by")
            .annotate(schedules_total=Count("schedules", distinct=True),
                      schedules_active=Count("schedules", filter=Q(schedules__status=ScheduleStatus.ACTIVE),
                                             distinct=True),
                      next_run=Min("schedules__next_run_at", filter=Q(schedules__status=ScheduleStatus.ACTIVE)))
            .order_by("name", "id"))


def schedule_queryset(*, brand):
    return Schedule.objects.for_brand(brand).select_related("periodic_task")


def calendar_queryset(*, brand):
    return TaskCalendar.objects.filter(brand=brand)


def schedule_events(*, schedule, limit: int = 100):
    return list(ScheduleEvent.objects.filter(schedule=schedule).select_related("actor").newest()[:limit])


def next_run_of_template(*, template) -> object:
    return (template.schedules.filter(status=ScheduleStatus.ACTIVE, next_run_at__isnull=False)
            .order_by("next_run_at").values_list("next_run_at", flat=True).first())


def executions_queryset(*, template):
    return ScheduledRun.objects.filter(periodic_task=template).select_related("task", "periodic_task")


def executions_stats(*, template, runs) -> dict:
    """Success rate and average duration over the (filtered) runs, plus last and next run."""
    finished = runs.filter(task__status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED])
    agg = finished.aggregate(total=Count("pk"), ok=Count("pk", filter=Q(task__status=TaskStatus.COMPLETED)),
                             avg=Avg(F("task__completed_at") - F("task__started_at"),
                                     filter=Q(task__status=TaskStatus.COMPLETED)))
    avg = agg["avg"]
    if avg is not None and not isinstance(avg, timedelta):  # SQLite returns microseconds
        avg = timedelta(microseconds=float(avg))
    last = runs.filter(task__isnull=False).order_by("-due_at").values_list("due_at", flat=True).first()
    return {
        "total_runs": runs.count(),
        "finished_runs": agg["total"],
        "successful_runs": agg["ok"],
        "failed_runs": agg["total"] - agg["ok"],
        "success_rate": round(agg["ok"] / agg["total"], 4) if agg["total"] else None,
        "average_duration_ms": int(avg.total_seconds() * 1000) if avg is not None else None,
        "average_duration_seconds": round(avg.total_seconds(), 3) if avg is not None else None,
        "last_run_at": last,
        "next_run_at": next_run_of_template(template=template),
    }


def ready_for_execution(*, brand, now=None):
    return schedule_queryset(brand=brand).due(now).filter(periodic_task__is_active=True).order_by("next_run_at")


def summary(*, brand) -> dict:
    now = timezone.now()
    by_status = dict.fromkeys(ScheduleStatus.values, 0)
    for row in Schedule.objects.for_brand(brand).values("status").annotate(n=Count("pk")):
        by_status[row["status"]] = row["n"]
    nxt = (Schedule.objects.for_brand(brand).active().filter(next_run_at__isnull=False)
           .select_related("periodic_task").order_by("next_run_at").first())
    templates = PeriodicTask.objects.for_brand(brand).aggregate(
        total=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    runs = ScheduledRun.objects.for_brand(brand).filter(due_at__gte=now - timedelta(hours=24))
    outcomes = dict(runs.values_list("outcome").annotate(n=Count("pk")))
    by_task = dict(runs.filter(task__isnull=False).values_list("task__status").annotate(n=Count("pk")))
    return {
        "schedules_by_status": by_status,
        "schedules_total": sum(by_status.values()),
        "periodic_tasks": {"total": templates["total"], "active": templates["active"],
                           "inactive": templates["total"] - templates["active"]},
        "next_fire": None if nxt is None else {
            "schedule_id": nxt.pk, "periodic_task_id": nxt.periodic_task_id,
            "name": nxt.periodic_task.name if nxt.periodic_task else "", "at": nxt.next_run_at},
        # Every key is always there (zeros included), so a dashboard never checks for a missing one.
        "runs_24h": {"total": sum(by_task.values()),
                     **{status: by_task.get(status, 0) for status in TaskStatus.values},
                     "not_run": sum(n for o, n in outcomes.items() if o not in (RunOutcome.FIRED, RunOutcome.MANUAL)),
                     "outcomes": {o: outcomes.get(o, 0) for o in RunOutcome.values}},
        "timestamp": now,
    }


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


def calendar_preview(*, calendar, count: int = 10) -> list[dict]:
    """For each active template using the calendar: its next runs and which the calendar removes."""
    out = []
    for template in calendar.periodic_tasks.filter(is_active=True).exclude(kind="manual"):
        anchor = (template.schedules.filter(status=ScheduleStatus.ACTIVE).order_by("pk")
                  .values_list("anchor_at", flat=True).first())
        runs = cron_preview(timing=template.timing(anchor=anchor), count=count, calendar=calendar)
        out.append({"periodic_task_id": template.pk, "name": template.name, "runs": runs,
                    "removed": sum(r["excluded"] for r in runs)})
    return out


def orphans_find(*, brand) -> dict:
    """Beat entries of this brand whose schedule (or its template) is gone; schedules without template."""
    schedules = dict(Schedule.objects.filter(brand=brand).values_list("pk", "periodic_task_id"))
    entries = []
    for name, kwargs, enabled in BeatEntry.objects.filter(task=FIRE_TASK).values_list("name", "kwargs", "enabled"):
        try:
            data = json.loads(kwargs or "{}")
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("brand_id") != brand.pk:
            continue  # a row edited by hand into something that is not ours to judge
        sid = data.get("schedule_id")
        if not isinstance(sid, int):
            suffix = name[len(BEAT_PREFIX):] if name.startswith(BEAT_PREFIX) else ""
            sid = int(suffix) if suffix.isascii() and suffix.isdigit() else None
        if sid not in schedules:
            entries.append({"name": name, "schedule_id": sid, "enabled": enabled, "reason": "schedule is gone"})
        elif schedules[sid] is None:
            entries.append({"name": name, "schedule_id": sid, "enabled": enabled, "reason": "template is gone"})
    orphan_schedules = [{"id": s.pk, "status": s.status, "beat_name": s.beat_name or "",
                         "reason": "template is gone"}
                        for s in Schedule.objects.filter(brand=brand).orphaned()]
    return {"beat_entries": entries, "schedules": orphan_schedules}
