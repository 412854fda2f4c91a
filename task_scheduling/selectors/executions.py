"""Reads of executions (the runs of templates: ScheduledRun and the task each created) and their
statistics."""

import math
from datetime import timedelta

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q
from django.utils import timezone

from task_core.choices import TaskStatus

from ..choices import RunOutcome
from ..models import ScheduledRun
from ..querysets import run_outcome_in, run_task_status_in
from .templates import next_run_of_template

# Statistics read the newest runs only, so that their cost does not grow with the history kept.
STATS_RUNS = 1000


# What an execution shows of its task and template (api serializers): the other columns (parameters,
# context, progress, the template's definition) are not read, so not loaded for each row.
SHOWN_RELATED = ("task__task_id", "task__task_type", "task__status", "task__started_at", "task__completed_at",
                 "task__result_data", "task__error_message", "task__error_traceback",
                 "periodic_task__task_type", "periodic_task__connection_id")
RUN_FIELDS = ("brand_id", "schedule_id", "periodic_task_id", "task_id", "due_at", "outcome", "detail", "task_state",
              "created_at")


def _with_shown_relations(runs):
    return runs.select_related("task", "periodic_task").only(*RUN_FIELDS, *SHOWN_RELATED)


def executions_queryset(*, template):
    return _with_shown_relations(ScheduledRun.objects.filter(periodic_task=template))


def brand_executions(*, brand):
    """Every run of the brand's schedules (run-now included), newest due time first."""
    return _with_shown_relations(ScheduledRun.objects.for_brand(brand)).order_by("-due_at", "-id")


def newest_runs(runs, limit: int):
    """The `limit` newest of `runs` (due time, then id) as a filter, not a slice: a page can still be cut
    from it by cursor, and what is counted or aggregated over it reads `limit` rows at most."""
    return runs.filter(pk__in=runs.order_by("-due_at", "-id").values("pk")[:limit])


def execution_get(*, brand, execution_id: int) -> ScheduledRun | None:
    return brand_executions(brand=brand).filter(pk=execution_id).first()


def recent_executions(*, brand, hours: int):
    return brand_executions(brand=brand).filter(due_at__gte=timezone.now() - timedelta(hours=hours))


def failed_executions(*, brand, days: int):
    """Runs of the last `days` whose task failed, or that could not create their task (outcome error)."""
    return brand_executions(brand=brand).filter(
        run_task_status_in([TaskStatus.FAILED]) | run_outcome_in([RunOutcome.ERROR]),
        due_at__gte=timezone.now() - timedelta(days=days))


def _as_timedelta(value) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    return timedelta(microseconds=float(value))  # SQLite returns microseconds


def _ms(value: timedelta | None) -> int | None:
    return int(value.total_seconds() * 1000) if value is not None else None


def _seconds(value: timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def executions_stats(*, runs, template=None) -> dict:
    """Over the newest STATS_RUNS of the (filtered) runs: total, runs by status (the task's status, or the
    outcome when no task was created), success rate, average and p95 (nearest rank) duration of the
    completed ones; last run, and the template's next run when one is given. Two statements whatever the
    history (one aggregate, then the p95), and the next run."""
    runs = newest_runs(runs, STATS_RUNS)
    duration = ExpressionWrapper(F("task__completed_at") - F("task__started_at"), output_field=DurationField())
    timed = Q(task__status=TaskStatus.COMPLETED, task__started_at__isnull=False, task__completed_at__isnull=False)
    counts = {f"s_{s}": Count("pk", filter=Q(task__status=s)) for s in TaskStatus.values}
    counts |= {f"o_{o}": Count("pk", filter=Q(task__isnull=True, outcome=o)) for o in RunOutcome.values}
    agg = runs.aggregate(avg=Avg(duration, filter=timed), timed=Count("pk", filter=timed),
                         last=Max("due_at", filter=Q(task__isnull=False)), **counts)
    by_status = {s: agg[f"s_{s}"] for s in TaskStatus.values}
    by_status |= {o: agg[f"o_{o}"] for o in RunOutcome.values if agg[f"o_{o}"]}
    avg, p95 = _as_timedelta(agg["avg"]), None
    if agg["timed"]:
        rank = math.ceil(0.95 * agg["timed"]) - 1
        p95 = _as_timedelta(runs.filter(timed).annotate(duration=duration).order_by("duration")
                            .values_list("duration", flat=True)[rank])
    ok, failed = by_status[TaskStatus.COMPLETED], by_status[TaskStatus.FAILED]
    return {
        "total_runs": sum(by_status.values()),
        "by_status": by_status,
        "finished_runs": ok + failed,
        "successful_runs": ok,
        "failed_runs": failed,
        "success_rate": round(ok / (ok + failed), 4) if ok + failed else None,
        "average_duration_ms": _ms(avg),
        "average_duration_seconds": _seconds(avg),
        "p95_duration_ms": _ms(p95),
        "p95_duration_seconds": _seconds(p95),
        "last_run_at": agg["last"],
        "next_run_at": next_run_of_template(template=template) if template is not None else None,
    }
