"""Reads of executions (the runs of a template) and their statistics."""

from datetime import timedelta

from django.db.models import Avg, Count, F, Q

from task_core.choices import TaskStatus

from ..models import ScheduledRun
from .templates import next_run_of_template


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
