"""The one state machine of BaseTask. Every status change in the project goes through this module.

A transition is a guarded UPDATE (`WHERE status = <the status we saw>`), so a late or duplicate message
can never move a task backwards, and it writes a TaskEvent atomically with it. On PostgreSQL the UPDATE
and the event INSERT are one statement (a data-modifying CTE): one round trip and one commit per
transition, which is most of what a no-op task costs the worker (see docs/benchmarks.md).
"""

import logging
import os
from contextlib import nullcontext

from django.db import connection, transaction
from django.utils import timezone

from . import signals
from .models import BaseTask, TaskEvent
from .models import TaskStatus as S

logger = logging.getLogger("megahub.tasks")

TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.QUEUED, S.RUNNING, S.CANCELLED, S.FAILED}),
    # running straight from pending: the worker may start before the web marks the task queued.
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED, S.FAILED, S.INTERRUPTED, S.PENDING}),
    S.RUNNING: frozenset({S.COMPLETED, S.FAILED, S.RETRYING, S.CANCELLED, S.INTERRUPTED}),
    S.RETRYING: frozenset({S.RUNNING, S.CANCELLED, S.FAILED, S.INTERRUPTED}),
    S.INTERRUPTED: frozenset({S.PENDING, S.QUEUED, S.RUNNING, S.CANCELLED, S.FAILED}),
    # Finished is final: a retry is a new task (origin "retry") that points back at this one, so each
    # attempt keeps its own id, history and metrics, and a revoked Celery id is never reused.
    S.FAILED: frozenset(),
    S.CANCELLED: frozenset(),
    S.COMPLETED: frozenset(),
}

# Timestamp set on entering a status.
_STAMPS = {S.QUEUED: "queued_at", S.RUNNING: "started_at", S.COMPLETED: "completed_at",
           S.FAILED: "completed_at", S.CANCELLED: "completed_at"}


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def transition(task: BaseTask, to_status: str, *, actor=None, detail: str = "", record_event: bool = True,
               **fields) -> bool:
    """Move `task` to `to_status` if the machine allows it from its current status.

    `fields` are other BaseTask columns written in the same UPDATE (e.g. worker, result_data).
    Returns False, writing nothing, when the transition is illegal or the row moved meanwhile to a
    status from which it is illegal. On success `task` is updated in memory too.
    """
    stamp = _STAMPS.get(to_status)
    if stamp and stamp not in fields:
        fields[stamp] = timezone.now()
    for _attempt in range(2):
        current = task.status
        if not can_transition(current, to_status):
            return False
        event = None
        if record_event:
            event = {"from_status": current, "to_status": to_status, "actor": actor,
                     "worker": fields.get("worker", task.worker), "detail": detail[:5000]}
        if _write(task.pk, current, to_status, fields, event):
            task.status = to_status
            for name, value in fields.items():
                setattr(task, name, value)
            if to_status in FINISHING:
                send_finished(task)
            return True
        # Someone else moved it: look again once.
        task.status = BaseTask.objects.filter(pk=task.pk).values_list("status", flat=True).first() or current
    return False


# Entering one of these tells the other apps a run ended (task_finished), whichever path moved it:
# the worker, a cancel from the API or admin, the reaper, the hard time limit.
FINISHING = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.RETRYING})


def send_finished(task: BaseTask) -> None:
    """Tell the other apps; a failing receiver is logged and never undoes or blocks the transition."""
    for receiver, result in signals.task_finished.send_robust(sender=BaseTask, task=task, status=task.status,
                                                              worker=task.worker):
        if isinstance(result, Exception):
            logger.error("task_finished receiver %r failed for task %s", receiver, task.pk, exc_info=result)


def create(task: BaseTask, *, actor=None, detail: str = "") -> BaseTask:
    """Insert a new task in its initial status together with its first event (one statement on PostgreSQL).

    Inside a caller's transaction it runs in a savepoint, so an IntegrityError (a duplicate idempotency
    key) leaves that transaction usable.
    """
    event = {"from_status": "", "to_status": task.status, "actor": actor, "worker": "", "detail": detail}
    if connection.vendor != "postgresql":
        with transaction.atomic():
            task.save(force_insert=True)
            TaskEvent.objects.create(task=task, **event)
        return task
    fields = [f for f in BaseTask._meta.concrete_fields if f is not BaseTask._meta.pk]
    params = [f.get_db_prep_save(f.pre_save(task, add=True), connection) for f in fields]
    cols = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    sql = (f"WITH t AS (INSERT INTO {_TASK} ({cols}) VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id) "
           f"INSERT INTO {_EVENT} ({_EVENT_COLS}) SELECT t.id, {_EVENT_VALUES} FROM t RETURNING task_id")
    with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
        cursor.execute(sql, params + _event_params(event))
        task.pk = cursor.fetchone()[0]
    task._state.adding, task._state.db = False, connection.alias
    return task


def _write(pk: int, current: str, to_status: str, fields: dict, event: dict | None) -> bool:
    """The guarded UPDATE of one row and its event, atomically. True if the row was in `current`.

    The row stays locked until its event is written, so a transition made meanwhile by another process
    (web vs worker) waits and its event always sorts after this one.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        # Inside a caller's transaction the ORM path costs no extra commit; SQLite has no DML in CTEs.
        with transaction.atomic():
            updated = BaseTask.objects.filter(pk=pk, status=current).update(status=to_status, **fields)
            if updated and event is not None:
                TaskEvent.objects.create(task_id=pk, **event)
        return bool(updated)
    sets, params = _assignments({"status": to_status, **fields})
    sql = f"UPDATE {_TASK} SET {sets} WHERE id = %s AND status = %s RETURNING id"
    params += [pk, current]
    if event is not None:
        sql = f"WITH u AS ({sql}) INSERT INTO {_EVENT} ({_EVENT_COLS}) SELECT u.id, {_EVENT_VALUES} FROM u"
        params += _event_params(event)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount > 0


_TASK = BaseTask._meta.db_table
_EVENT = TaskEvent._meta.db_table
_EVENT_FIELDS = ("from_status", "to_status", "actor", "worker", "detail", "created_at")
_EVENT_COLS = ", ".join(["task_id", *(TaskEvent._meta.get_field(f).column for f in _EVENT_FIELDS)])
_EVENT_VALUES = ", ".join(["%s"] * len(_EVENT_FIELDS))


def _assignments(values: dict) -> tuple[str, list]:
    """`col = %s, ...` and the database values of BaseTask fields, converted as the ORM would."""
    sets, params = [], []
    for name, value in values.items():
        field = BaseTask._meta.get_field(name)
        sets.append(f"{connection.ops.quote_name(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    return ", ".join(sets), params


def _event_params(event: dict) -> list:
    actor = event.get("actor")
    return [event["from_status"], event["to_status"], getattr(actor, "pk", actor), event.get("worker", ""),
            event.get("detail", "")[:5000], timezone.now()]


# The statuses a delivered message may start a run from in one step (the common case). Others
# (running: redelivery after a lost worker; interrupted; finished) take the general path.
START_FROM = (S.PENDING, S.QUEUED, S.RETRYING)


def start_run(task_uuid, *, worker: str, queued_detail: str = "sent to queue") -> BaseTask | None:
    """Worker side: load the task of a message and mark it running, in one statement on PostgreSQL.

    A task still `pending` (the worker was faster than the dispatcher's `queued` mark) is recorded as
    pending -> queued -> running so every history reads the same. Returns None, changing nothing, when
    the task is in any other status or on another database; the caller then takes the general path.
    """
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return None
    now = timezone.now()
    cols = ", ".join(f"t.{connection.ops.quote_name(f.column)}" for f in BaseTask._meta.concrete_fields)
    placeholders = ", ".join(["%s"] * len(START_FROM))
    event_cols = ", ".join(TaskEvent._meta.get_field(f).column for f in _EVENT_FIELDS)
    sql = f"""
        WITH cur AS (
            SELECT id, status FROM {_TASK} WHERE task_id = %s AND status IN ({placeholders}) FOR UPDATE
        ), u AS (
            UPDATE {_TASK} t SET status = %s, worker = %s, worker_pid = %s,
                -- Clocks of two processes (or vCPUs) can disagree by a little: never let a stamp
                -- precede the one before it in the lifecycle.
                started_at = GREATEST(%s, t.queued_at, t.created_at),
                queued_at = COALESCE(t.queued_at, GREATEST(%s, t.created_at))
            FROM cur WHERE t.id = cur.id
            RETURNING {cols}, cur.status AS previous_status
        ), ev AS (
            INSERT INTO {_EVENT} (task_id, {event_cols})
            SELECT u.id, x.from_status, x.to_status, NULL, %s, x.detail, %s
            FROM u CROSS JOIN LATERAL (VALUES
                (1, %s, %s, %s || ' ' || u.queue),
                (2, CASE WHEN u.previous_status = %s THEN %s ELSE u.previous_status END, %s, 'started')
            ) AS x(n, from_status, to_status, detail)
            WHERE x.n = 2 OR u.previous_status = %s
            ORDER BY x.n
        )
        SELECT * FROM u"""
    params = [str(task_uuid), *START_FROM, S.RUNNING, worker, os.getpid(), now, now, worker, now,
              S.PENDING, S.QUEUED, queued_detail, S.PENDING, S.QUEUED, S.RUNNING, S.PENDING]
    rows = list(BaseTask.objects.raw(sql, params))
    return rows[0] if rows else None


assert all(can_transition(s, S.RUNNING) for s in START_FROM) and can_transition(S.PENDING, S.QUEUED)


def record_note(task: BaseTask, detail: str, *, actor=None) -> TaskEvent:
    """An event that is not a transition (for example: the task was retried as another task)."""
    return TaskEvent.objects.create(task=task, from_status=task.status, to_status=task.status,
                                    worker=task.worker, actor=actor, detail=detail[:5000])


def transition_many(pks: list[int], from_status: str, to_status: str, *, detail: str = "",
                    chunk: int = 1000, **fields) -> list[int]:
    """The bulk form of `transition` for tasks known to be in `from_status`; returns the pks moved."""
    if not can_transition(from_status, to_status):
        return []
    stamp = _STAMPS.get(to_status)
    if stamp and stamp not in fields:
        fields[stamp] = timezone.now()
    moved: list[int] = []
    for start in range(0, len(pks), chunk):
        with transaction.atomic():
            batch = list(BaseTask.objects.select_for_update().filter(pk__in=pks[start:start + chunk],
                                                                     status=from_status)
                         .order_by("pk").values_list("pk", flat=True))
            if not batch:
                continue
            BaseTask.objects.filter(pk__in=batch).update(status=to_status, **fields)
            TaskEvent.objects.bulk_create([TaskEvent(task_id=pk, from_status=from_status, to_status=to_status,
                                                     detail=detail[:5000]) for pk in batch])
            moved.extend(batch)
    return moved
