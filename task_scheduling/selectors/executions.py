"""Reads of executions (the runs of templates: ScheduledRun and the task each created) and their
statistics."""

import math
from datetime import timedelta

from django.db import connections
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Max, Q
from django.utils import timezone

from task_core.choices import TaskStatus
from task_core.models import BaseTask

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
    """The template's runs with their tasks. Their template is `template`: not joined to each row (set it on
    the rows read, `with_template`)."""
    return (ScheduledRun.objects.filter(periodic_task=template).select_related("task")
            .only(*RUN_FIELDS, *(f for f in SHOWN_RELATED if f.startswith("task__"))))


def with_template(runs: list, template) -> list:
    """`runs` (of executions_queryset) with their template known, without a statement."""
    for run in runs:
        run.periodic_task = template
    return runs


def brand_executions(*, brand, shown=None):
    """Every run of the brand's schedules (run-now included), newest due time first. `shown`: a
    representation that reads its run's own `columns` and its task's and template's as `annotations` (a
    mapping of expressions), instead of the task and template joined as instances."""
    runs = ScheduledRun.objects.for_brand(brand).order_by("-due_at", "-id")
    if shown is not None:
        return runs.only(*shown.columns).annotate(**shown.annotations)
    return _with_shown_relations(runs)


def newest_ids(runs, limit: int):
    """The ids of the `limit` newest of `runs` (due time, then id): a slice, read from the list's index alone
    (what counts them, `newest_ids(...).count()`, reads no run row)."""
    return runs.order_by("-due_at", "-id").values("pk")[:limit]


def newest_runs(runs, limit: int):
    """The `limit` newest of `runs` (due time, then id) as a filter, not a slice: a page can still be cut
    from it by cursor, and what is counted or aggregated over it reads `limit` rows at most."""
    return runs.filter(pk__in=newest_ids(runs, limit))


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


def _stats_orm(runs) -> tuple[dict, object, object, object]:
    """(counts by status or outcome, average and p95 duration, last run) of `runs` through the ORM: one
    aggregate of filtered counts, then the p95 (any database; PostgreSQL uses `_stats_sql`)."""
    duration = ExpressionWrapper(F("task__completed_at") - F("task__started_at"), output_field=DurationField())
    timed = Q(task__status=TaskStatus.COMPLETED, task__started_at__isnull=False, task__completed_at__isnull=False)
    counts = {f"s_{s}": Count("pk", filter=Q(task__status=s)) for s in TaskStatus.values}
    counts |= {f"o_{o}": Count("pk", filter=Q(task__isnull=True, outcome=o)) for o in RunOutcome.values}
    agg = runs.aggregate(avg=Avg(duration, filter=timed), timed=Count("pk", filter=timed),
                         last=Max("due_at", filter=Q(task__isnull=False)), **counts)
    by_status = {s: agg[f"s_{s}"] for s in TaskStatus.values} | {o: agg[f"o_{o}"] for o in RunOutcome.values}
    p95 = None
    if agg["timed"]:
        rank = math.ceil(0.95 * agg["timed"]) - 1
        p95 = runs.filter(timed).annotate(duration=duration).order_by("duration").values_list(
            "duration", flat=True)[rank]
    return by_status, agg["avg"], p95, agg["last"]


def _sql(queryset) -> tuple[str, tuple]:
    return queryset.query.get_compiler(using=queryset.db).as_sql()


def _stats_sql(runs, limit: int, count_up_to: int | None) -> tuple[dict, object, object, object, int | None]:
    """What `_stats_orm` reads, of the newest `limit` of `runs`, in one statement (PostgreSQL): those runs
    (their index, in its order) joined to their tasks, grouped by task status (or outcome of a run without
    a task), the p95 as `percentile_disc` (nearest rank). With `count_up_to`, the same statement also
    counts `runs` up to `count_up_to` + 1 (an index range; the first page's bounded count)."""
    window_sql, window_params = _sql(runs.order_by("-due_at", "-id").values_list("task_id", "outcome", "due_at")
                                     [:limit])
    quote = connections[runs.db].ops.quote_name
    timed = "t.status = %s AND t.started_at IS NOT NULL AND t.completed_at IS NOT NULL"
    duration = "t.completed_at - t.started_at"
    counted, counted_params = "NULL", ()
    if count_up_to is not None:
        inner, counted_params = _sql(runs.order_by().values("pk")[:count_up_to + 1])
        counted = f"(SELECT COUNT(*) FROM ({inner}) c)"
    sql = (f"SELECT t.status, CASE WHEN r.task_id IS NULL THEN r.outcome END, COUNT(*), "
           f"AVG({duration}) FILTER (WHERE {timed}), "
           f"PERCENTILE_DISC(0.95) WITHIN GROUP (ORDER BY {duration}) FILTER (WHERE {timed}), "
           f"MAX(r.due_at) FILTER (WHERE r.task_id IS NOT NULL), {counted} "
           f"FROM ({window_sql}) r (task_id, outcome, due_at) "
           f"LEFT JOIN {quote(BaseTask._meta.db_table)} t ON t.id = r.task_id GROUP BY 1, 2")
    with connections[runs.db].cursor() as cursor:
        cursor.execute(sql, (TaskStatus.COMPLETED, TaskStatus.COMPLETED, *counted_params, *window_params))
        rows = cursor.fetchall()
    by_status = dict.fromkeys([*TaskStatus.values, *RunOutcome.values], 0)
    avg = p95 = last = None
    for status, outcome, n, group_avg, group_p95, group_last, _ in rows:
        by_status[status if status is not None else outcome] += n
        if group_avg is not None:  # the completed runs' group: the only one with timed runs
            avg, p95 = group_avg, group_p95
        if group_last is not None and (last is None or group_last > last):
            last = group_last
    # no run at all (no group): none to count either
    return by_status, avg, p95, last, (rows[0][6] if rows else 0) if count_up_to is not None else None


def executions_stats(*, runs, template=None) -> dict:
    """Over the newest STATS_RUNS of the (filtered) runs: total, runs by status (the task's status, or the
    outcome when no task was created), success rate, average and p95 (nearest rank) duration of the
    completed ones; last run, and the template's next run when one is given (its `next_run` annotation
    when it has one: template_queryset, template_executions_lookup). One statement on PostgreSQL, whatever
    the history (two elsewhere), and the next run when the template does not carry it."""
    return executions_stats_counted(runs=runs, template=template)[0]


def executions_stats_counted(*, runs, template=None, count_up_to: int | None = None) -> tuple[dict, int | None]:
    """`executions_stats`, and (PostgreSQL, with `count_up_to`) the number of `runs` counted up to
    `count_up_to` + 1 in the same statement (None otherwise): what a first page's bounded count needs
    (megahub.api.pagination.bounded_count's `counted`)."""
    counted = None
    if connections[runs.db].vendor == "postgresql":
        by_status, avg, p95, last, counted = _stats_sql(runs, STATS_RUNS, count_up_to)
    else:
        by_status, avg, p95, last = _stats_orm(newest_runs(runs, STATS_RUNS))
    by_status = {s: by_status[s] for s in TaskStatus.values} | {
        o: by_status[o] for o in RunOutcome.values if by_status[o]}
    avg, p95 = _as_timedelta(avg), _as_timedelta(p95)
    ok, failed = by_status[TaskStatus.COMPLETED], by_status[TaskStatus.FAILED]
    if template is None:
        next_run = None
    elif hasattr(template, "next_run"):
        next_run = template.next_run
    else:
        next_run = next_run_of_template(template=template)
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
        "last_run_at": last,
        "next_run_at": next_run,
    }, counted
