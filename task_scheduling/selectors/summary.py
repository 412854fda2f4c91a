"""The scheduling summary of a brand: schedules by status, the next fire, templates, the last 24 h."""

from datetime import timedelta

from django.db.models import Count, Q
from django.utils import timezone

from task_core.choices import TaskStatus

from ..choices import RunOutcome, ScheduleStatus
from ..models import Schedule, ScheduledRun, ScheduleTemplate


def schedules_by_status(*, brand) -> dict[str, int]:
    """The brand's schedules (every brand's with brand=None) counted by status, zeros included."""
    by_status = dict.fromkeys(ScheduleStatus.values, 0)
    schedules = Schedule.objects.all() if brand is None else Schedule.objects.for_brand(brand)
    for row in schedules.values("status").annotate(n=Count("pk")).order_by():
        by_status[row["status"]] = row["n"]
    return by_status


def schedule_counts(*, brand) -> dict[str, int]:
    """The section task_scheduling adds to the system dashboard: schedules by status and their total."""
    by_status = schedules_by_status(brand=brand)
    return {**by_status, "total": sum(by_status.values())}


def summary_schedules(*, brand) -> dict:
    """The part of the summary that only scheduling writes change (a cached read of the API)."""
    by_status = schedules_by_status(brand=brand)
    nxt = (Schedule.objects.for_brand(brand).active().filter(next_run_at__isnull=False)
           .select_related("periodic_task").order_by("next_run_at").first())
    templates = ScheduleTemplate.objects.for_brand(brand).aggregate(
        total=Count("pk"), active=Count("pk", filter=Q(is_active=True)))
    return {
        "schedules_by_status": by_status,
        "schedules_total": sum(by_status.values()),
        "periodic_tasks": {"total": templates["total"], "active": templates["active"],
                           "inactive": templates["total"] - templates["active"]},
        "next_fire": None if nxt is None else {
            "schedule_id": nxt.pk, "periodic_task_id": nxt.periodic_task_id,
            "name": nxt.periodic_task.name if nxt.periodic_task else "", "at": nxt.next_run_at},
    }


def runs_last_24h(*, brand, now) -> dict:
    """The runs due in the last 24 h by outcome and by their task's status now (read live: a task's every
    transition changes it)."""
    runs = ScheduledRun.objects.for_brand(brand).filter(due_at__gte=now - timedelta(hours=24))
    outcomes = dict(runs.values_list("outcome").annotate(n=Count("pk")))
    by_task = dict(runs.filter(task__isnull=False).values_list("task__status").annotate(n=Count("pk")))
    # Every key is always there (zeros included), so a dashboard never checks for a missing one.
    return {"total": sum(by_task.values()),
            **{status: by_task.get(status, 0) for status in TaskStatus.values},
            "not_run": sum(n for o, n in outcomes.items() if o not in (RunOutcome.FIRED, RunOutcome.MANUAL)),
            "outcomes": {o: outcomes.get(o, 0) for o in RunOutcome.values}}


def summary(*, brand, schedules: dict | None = None) -> dict:
    """Schedules by status, templates, the next fire (`schedules`: summary_schedules(), possibly cached),
    and the last 24 h of runs."""
    now = timezone.now()
    return {**(schedules if schedules is not None else summary_schedules(brand=brand)),
            "runs_24h": runs_last_24h(brand=brand, now=now), "timestamp": now}
