"""Writes of a run's outcome: its TaskMetrics row, the rollups of its minute, hour and day, and the
failure count of its worker.

On PostgreSQL these are data-modifying CTEs. An outcome written by core's state machine outside a
transaction carries them in its own statement (`outcome_write`, registered through
task_core.outcome_writes): they commit with the outcome, no round trip of their own. Otherwise (inside a
caller's transaction, or after that combined statement failed) `record_outcome` runs them as a statement
of their own whose commit does not wait for the disk. Elsewhere the same rows are written through the
ORM in one transaction.
"""

from bisect import bisect_left
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache

from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from task_core.choices import TaskStatus
from task_core.models import BaseTask
from task_core.outcome_writes import OutcomeWrite
from task_core.pg_writes import run_prepared

from . import costs
from .capture import RunFigures
from .models import HISTOGRAM_BOUNDS_MS, HISTOGRAM_BUCKETS, Granularity, MetricsRollup, TaskMetrics, Worker

# The rollup column an outcome counts in.
OUTCOME_COLUMN = {TaskStatus.COMPLETED: "completed", TaskStatus.FAILED: "failed",
                  TaskStatus.CANCELLED: "cancelled", TaskStatus.RETRYING: "retried"}
_COUNTS = ("completed", "failed", "cancelled", "retried", "measured", "waited")
_SUMS = ("execution_ms_sum", "queue_wait_ms_sum", "cpu_ms_sum", "memory_mb_sum", "cost_usd_sum")
_MAXES = ("execution_ms_max", "memory_mb_max")
_HIST = tuple(f"d{i}" for i in range(HISTOGRAM_BUCKETS)) + tuple(f"w{i}" for i in range(HISTOGRAM_BUCKETS))
_ADDED = _COUNTS + _SUMS + _HIST
_METRIC_FIELDS = ("brand_id", "task_type", "status", "finished_at", "execution_time_ms", "queue_wait_ms",
                  "cpu_time_ms", "memory_usage_mb", "memory_is_run_peak", "cost_usd", "custom", "flags", "source")


def bucket_starts(at: datetime) -> dict[str, datetime]:
    minute = at.replace(second=0, microsecond=0)
    return {Granularity.MINUTE: minute, Granularity.HOUR: minute.replace(minute=0),
            Granularity.DAY: minute.replace(hour=0, minute=0)}


def histogram_index(ms: int) -> int:
    """The bucket of a duration: the first whose upper bound is >= it (the last: above every bound)."""
    return bisect_left(HISTOGRAM_BOUNDS_MS, ms)


@dataclass(slots=True)
class Outcome:
    metrics: dict | None  # TaskMetrics columns, or None when the task never ran
    column: str  # the rollup count it adds one to (OUTCOME_COLUMN)
    wall: int | None
    wait: int | None
    cpu: int | None
    memory: float | None
    cost: Decimal | None

    def sums(self) -> tuple:
        """The values of _SUMS it adds to each bucket."""
        measured = self.wall is not None
        return (self.wall or 0, self.wait or 0, (self.cpu or 0) if measured else 0,
                (self.memory or 0.0) if measured else 0, self.cost or Decimal(0))

    def histogram_indexes(self) -> tuple[int, int]:
        """The duration and queue-wait histogram buckets it counts in (-1: none)."""
        return (-1 if self.wall is None else histogram_index(self.wall),
                -1 if self.wait is None else histogram_index(self.wait))

    @property
    def rollup(self) -> dict:
        """Every column it adds to each bucket (_ADDED)."""
        rollup = dict.fromkeys(_ADDED, 0)
        rollup.update(zip(_SUMS, self.sums(), strict=True))
        rollup[self.column] = 1
        d, w = self.histogram_indexes()
        if d >= 0:
            rollup["measured"], rollup[f"d{d}"] = 1, 1
        if w >= 0:
            rollup["waited"], rollup[f"w{w}"] = 1, 1
        return rollup

    @property
    def maxes(self) -> dict:
        return {"execution_ms_max": self.wall or 0, "memory_mb_max": self.memory or 0.0}


def build_outcome(task: BaseTask, status: str, figures: RunFigures | None, custom: dict | None,
                  now: datetime | None = None) -> Outcome:
    finished = task.completed_at if status != TaskStatus.RETRYING and task.completed_at else (now or timezone.now())
    if figures is not None:
        wall, cpu, memory, is_peak, source = (figures.execution_time_ms, figures.cpu_time_ms,
                                              figures.memory_usage_mb, figures.memory_is_run_peak, "worker")
    elif task.started_at is not None:  # killed by the hard limit, reaped, cancelled: its wall time only
        wall = max(0, int((finished - task.started_at).total_seconds() * 1000))
        cpu, memory, is_peak, source = None, None, True, "timestamps"
    else:
        wall = cpu = memory = None
        is_peak, source = True, ""
    wait = None
    if task.started_at is not None and task.queued_at is not None:
        wait = max(0, int((task.started_at - task.queued_at).total_seconds() * 1000))
    cost = costs.run_cost(task_type=task.task_type, queue=task.queue, cpu_ms=cpu, wall_ms=wall)
    metrics = None
    if wall is not None:
        metrics = {"brand_id": task.brand_id, "task_type": task.task_type, "status": status, "finished_at": finished,
                   "execution_time_ms": wall, "queue_wait_ms": wait, "cpu_time_ms": cpu, "memory_usage_mb": memory,
                   "memory_is_run_peak": is_peak, "cost_usd": cost, "custom": custom or {},
                   "flags": costs.flags(task_type=task.task_type, memory_mb=memory, wall_ms=wall, cost=cost),
                   "source": source}
    return Outcome(metrics, OUTCOME_COLUMN[status], wall, wait, cpu, memory, cost)


def record_outcome(task: BaseTask, status: str, figures: RunFigures | None = None, custom: dict | None = None,
                   now: datetime | None = None) -> None:
    """Write what the end of one run of `task` (into `status`) adds to the monitoring tables."""
    outcome, buckets, worker_failed = _prepare(task, status, figures, custom, now)
    if connection.vendor == "postgresql":
        sql, params = _pg_write(task, outcome, buckets, worker_failed, standalone=True)
        with connection.cursor() as cursor:  # prepared once per connection: planning it costs more than running it
            run_prepared(cursor, sql, params)
    else:
        _record_orm(task, outcome, buckets, worker_failed)


def outcome_write(task, status: str, figures: RunFigures | None = None, custom: dict | None = None) -> OutcomeWrite:
    """The same writes as CTEs of core's outcome statement (task_core.outcome_writes), for `task` as it
    will be once the outcome is written. They read the updated row from core's `u`, so nothing is written
    when the outcome is not."""
    outcome, buckets, worker_failed = _prepare(task, status, figures, custom, None)
    return OutcomeWrite(*_pg_write(task, outcome, buckets, worker_failed, standalone=False))


def _prepare(task, status, figures, custom, now) -> tuple[Outcome, dict, str]:
    outcome = build_outcome(task, status, figures, custom, now)
    finished = outcome.metrics["finished_at"] if outcome.metrics else (now or timezone.now())
    worker_failed = task.worker if status == TaskStatus.FAILED and task.worker else ""
    return outcome, bucket_starts(finished), worker_failed


# Makes the statement's commit asynchronous: `synchronous_commit` is read at commit time and `true`
# limits the change to this statement's transaction (the same device as task_core.pg_writes).
_NO_WAIT = "nowait AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true))"


def _typed(model, column: str) -> str:
    field = next(f for f in model._meta.concrete_fields if f.column == column)
    return f"%s::{field.db_type(connection)}"


# What the rollup statement is sent of an outcome (the rest is derived in SQL, see _pg_sql).
_OUTCOME_COUNTS = tuple(OUTCOME_COLUMN.values())
_TRUNC = {Granularity.MINUTE: "minute", Granularity.HOUR: "hour", Granularity.DAY: "day"}
assert (*_OUTCOME_COUNTS, "measured", "waited") == _COUNTS  # the order of the rollup's columns


@cache
def _pg_sql(with_metrics: bool, with_worker: bool, standalone: bool) -> str:
    """The metrics row, the failed count of the worker and the three rollup buckets as data-modifying
    CTEs: a statement of its own whose commit does not wait for the disk (`standalone`), or CTEs for
    core's outcome statement, each reading its `u` (the updated task; none when the row had moved).

    Parameters cost client CPU (each is quoted into the text; psycopg parses a text of more than 50 anew
    each time), so the rollup gets an outcome's values once, as what `build_outcome` computes, and SQL
    derives the rest the same way: the outcome's count column (by name), each histogram as the index of
    its one bucket (-1: none; `measured`/`waited` = there is one), the maxima of one outcome = its sums,
    the three buckets = the finishing time truncated in UTC. About 25 parameters, not 170."""
    src = "nowait" if standalone else "u"  # the one-row relation every write reads
    r = MetricsRollup._meta.db_table
    key = ("brand_id", "task_type", "queue", "granularity", "bucket")
    cols = key + _ADDED + _MAXES
    sets = [f"{c} = {r}.{c} + EXCLUDED.{c}" for c in _ADDED]
    sets += [f"{c} = GREATEST({r}.{c}, EXCLUDED.{c})" for c in _MAXES]
    ctes = [_NO_WAIT] if standalone else []
    if with_metrics:
        m = TaskMetrics._meta.db_table
        mcols = ("task_id",) + _METRIC_FIELDS
        msets = ", ".join(f"{c} = EXCLUDED.{c}" for c in _METRIC_FIELDS)
        ctes.append(f"monitoring_m AS (INSERT INTO {m} ({', '.join(mcols)}, runs) "
                    f"SELECT {', '.join(_typed(TaskMetrics, c) for c in mcols)}, 1 "
                    f"FROM {src} ON CONFLICT (task_id) DO UPDATE SET {msets}, runs = {m}.runs + 1)")
    if with_worker:
        ctes.append(f"monitoring_w AS (UPDATE {Worker._meta.db_table} SET failed = failed + 1 "
                    f"FROM {src} WHERE hostname = {_typed(Worker, 'hostname')})")
    scalars = ", ".join(f"{_typed(MetricsRollup, c)} AS {c}" for c in ("brand_id", "task_type", "queue") + _SUMS)
    ctes.append(f"monitoring_v AS (SELECT {scalars}, %s::text AS oc, %s::integer AS di, %s::integer AS wi, "
                f"%s::timestamptz AS finished)")
    counts = [f"CASE WHEN v.oc = '{c}' THEN 1 ELSE 0 END" for c in _OUTCOME_COUNTS]
    counts += [f"CASE WHEN v.{kind}i >= 0 THEN 1 ELSE 0 END" for kind in ("d", "w")]  # measured, waited
    hist = [f"CASE WHEN v.{kind}i = {i} THEN 1 ELSE 0 END" for kind in ("d", "w") for i in range(HISTOGRAM_BUCKETS)]
    select = ["v.brand_id", "v.task_type", "v.queue", "b.granularity", "b.bucket", *counts,
              *(f"v.{c}" for c in _SUMS), *hist, "v.execution_ms_sum", "v.memory_mb_sum"]
    buckets = ", ".join(f"('{g}', date_trunc('{unit}', v.finished, 'UTC'))" for g, unit in _TRUNC.items())
    rollups = (f"INSERT INTO {r} ({', '.join(cols)}) SELECT {', '.join(select)} FROM monitoring_v AS v "
               f"CROSS JOIN LATERAL (VALUES {buckets}) AS b(granularity, bucket) CROSS JOIN {src} "
               f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(sets)}")
    if standalone:
        return f"WITH {', '.join(ctes)} {rollups}"
    return ", ".join([*ctes, f"monitoring_r AS ({rollups})"])


def _pg_write(task, outcome: Outcome, buckets: dict, worker_failed: str, *, standalone: bool) -> tuple[str, list]:
    """The SQL (`_pg_sql`) and its parameters."""
    params: list = []
    if outcome.metrics is not None:
        custom_field = TaskMetrics._meta.get_field("custom")
        for name in ("task_id",) + _METRIC_FIELDS:
            value = task.pk if name == "task_id" else outcome.metrics[name]
            params.append(custom_field.get_db_prep_save(value, connection) if name == "custom" else value)
    if worker_failed:
        params.append(worker_failed)
    params += [task.brand_id, task.task_type, task.queue, *outcome.sums(), outcome.column,
               *outcome.histogram_indexes(), buckets[Granularity.MINUTE]]
    return _pg_sql(outcome.metrics is not None, bool(worker_failed), standalone), params


def _record_orm(task, outcome: Outcome, buckets: dict, worker_failed: str) -> None:
    rollup, maxes = outcome.rollup, outcome.maxes
    with transaction.atomic():
        if outcome.metrics is not None:
            metrics, created = TaskMetrics.objects.get_or_create(task_id=task.pk, defaults=outcome.metrics)
            if not created:
                TaskMetrics.objects.filter(pk=task.pk).update(runs=F("runs") + 1, **outcome.metrics)
        if worker_failed:
            Worker.objects.filter(hostname=worker_failed).update(failed=F("failed") + 1)
        for granularity, start in buckets.items():
            key = {"brand_id": task.brand_id, "task_type": task.task_type, "queue": task.queue,
                   "granularity": granularity, "bucket": start}
            MetricsRollup.objects.get_or_create(**key)
            MetricsRollup.objects.filter(**key).update(
                **{c: F(c) + rollup[c] for c in _ADDED},
                **{c: Greatest(F(c), maxes[c]) for c in _MAXES})
