"""The one state machine of BaseTask. Every status change in the project goes through this module.

A transition is a guarded UPDATE (`WHERE status = <the status we saw>`), so a late or duplicate message
can never move a task backwards, and it writes a TaskEvent atomically with it. On PostgreSQL the UPDATE
and the event INSERT are one statement (a data-modifying CTE): one round trip and one commit per
transition (pg_writes), which is most of what a no-op task costs the worker (see docs/benchmarks.md);
elsewhere the ORM writes the same rows (orm_writes).
"""

import logging
import os
from contextlib import nullcontext, suppress

from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from megahub.iterables import chunked

from . import orm_writes, outcome_writes, pg_writes, signals
from .choices import TaskStatus as S
from .models import BaseTask, TaskEvent

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
        extra = _outcome_writes(task, to_status, fields)
        done, written = _write(task.pk, current, to_status, fields, event, extra)
        if done:
            task.status = to_status
            for name, value in fields.items():
                setattr(task, name, value)
            if to_status in FINISHING:
                send_finished(task, written)
            return True
        # Someone else moved it: look again once, at the whole row, so that `task` stays one consistent
        # snapshot (a status re-read alone would pair "running" with this object's stale worker and times).
        _reload(task)
    return False


# Every column but the key and the relations (which a transition never changes).
_SNAPSHOT_FIELDS = [f.name for f in BaseTask._meta.concrete_fields if not f.is_relation and not f.primary_key]


def _reload(task: BaseTask) -> None:
    with suppress(BaseTask.DoesNotExist):
        task.refresh_from_db(fields=_SNAPSHOT_FIELDS)


# Entering one of these tells the other apps a run ended (task_finished), whichever path moved it:
# the worker, a cancel from the API or admin, the reaper, the hard time limit.
FINISHING = frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.RETRYING})


def send_finished(task: BaseTask, written: frozenset[str] = frozenset()) -> None:
    """Tell the other apps; a failing receiver is logged and never undoes or blocks the transition.
    `written`: the apps whose outcome writes were committed with it (task_core.outcome_writes)."""
    for receiver, result in signals.task_finished.send_robust(sender=BaseTask, task=task, status=task.status,
                                                              worker=task.worker, written=written):
        if isinstance(result, Exception):
            logger.error("task_finished receiver %r failed for task %s", receiver, task.pk, exc_info=result)


def create(task: BaseTask, *, actor=None, detail: str = "", then: str | None = None,
           then_detail: str = "") -> BaseTask:
    """Insert a new task in its initial status together with its first event (one statement on PostgreSQL).

    `then`: a status the task moves to at once from its initial one (e.g. queued, when its message is
    sent after the commit: task_core.services.task_create), written in the same statement as the
    transition it is, with its own event (`then_detail`, no actor) and its timestamp (the creation time).
    A failed insert leaves `task` as it was.

    Inside a caller's transaction it runs in a savepoint, so an IntegrityError (a duplicate idempotency
    key) leaves that transaction usable.
    """
    initial = task.status
    events = [{"from_status": "", "to_status": initial, "actor": actor, "worker": "", "detail": detail}]
    saved, stamps = {}, ()
    if then is not None:
        if not can_transition(initial, then):
            raise ValueError(f"a task cannot be created through {initial} -> {then}")
        stamps = (_STAMPS[then],) if then in _STAMPS else ()
        saved = {"status": initial, **{name: getattr(task, name) for name in stamps}}
        task.status = then
        events.append({"from_status": initial, "to_status": then, "actor": None, "worker": "",
                       "detail": then_detail[:5000]})
    try:
        if connection.vendor != "postgresql":
            orm_writes.insert_task(task, *events, at_creation=stamps)
        else:
            with transaction.atomic() if connection.in_atomic_block else nullcontext():
                task.pk = pg_writes.insert_task(task, *events, at_creation=stamps)
            task._state.adding, task._state.db = False, connection.alias
    except BaseException:
        for name, value in saved.items():
            setattr(task, name, value)
        raise
    return task


def create_many(tasks: list[BaseTask], *, actor=None, detail: str = "") -> list[BaseTask]:
    """Insert new tasks in their initial status, each with its first event, all or none.

    On PostgreSQL by COPY (pg_writes.insert_many), elsewhere by bulk INSERTs. Sets each task's pk.
    """
    if not tasks:
        return tasks
    event = {"from_status": "", "to_status": tasks[0].status, "actor": actor, "worker": "", "detail": detail}
    if any(t.status != event["to_status"] for t in tasks):
        raise ValueError("create_many writes tasks of one initial status")
    with transaction.atomic(savepoint=False):
        _writes().insert_many(tasks, event)
    return tasks


# Entering these is recorded without waiting for the disk (an asynchronous commit, on PostgreSQL): a
# database crash may lose the last such writes, never a creation or an outcome, and the pipeline
# recovers either loss. A lost `queued` leaves the task pending: the outbox sweep sends it again and the
# worker drops the duplicate. A lost `running` leaves the worker unable to record the outcome: the
# delivery is retried (pipeline.worker.execute) and runs again, as at-least-once delivery allows. A later
# durable commit (the outcome) makes every earlier one durable too: the log is written in order.
NO_WAIT = frozenset({S.QUEUED, S.RUNNING})


def _durable(to_status: str) -> bool:
    """Whether entering `to_status` must wait for the disk. Inside a caller's transaction the no-wait
    setting would cover all of the caller's writes, so those stay durable."""
    return to_status not in NO_WAIT or connection.in_atomic_block


def _outcome_writes(task: BaseTask, to_status: str, fields: dict) -> list:
    """The other apps' writes to commit with an outcome (task_core.outcome_writes): on PostgreSQL, outside
    a caller's transaction (there a failing write would abort the caller's transaction too)."""
    if to_status not in FINISHING or connection.vendor != "postgresql" or connection.in_atomic_block:
        return []
    return outcome_writes.collect(task, to_status, {"status": to_status, **fields})


def _write(pk: int, current: str, to_status: str, fields: dict, event: dict | None,
           extra: list = ()) -> tuple[bool, frozenset[str]]:
    """The guarded UPDATE of one row and its event, atomically, with the apps' outcome writes `extra`
    ((name, OutcomeWrite) pairs). Returns whether the row was in `current`, and the names of the writes
    committed with it.

    The row stays locked until its event is written, so a transition made meanwhile by another process
    (web vs worker) waits and its event always sorts after this one.
    """
    values, durable = {"status": to_status, **fields}, _durable(to_status)
    if not extra:
        return _writes().update_task(pk, current, values, event, durable=durable), frozenset()
    try:
        done = pg_writes.update_task(pk, current, values, event, durable=durable, extra=tuple(w for _, w in extra))
    except DatabaseError:
        # Autocommit: the failed statement wrote nothing. An app's write must never cost the outcome:
        # write it alone; the apps then record it from task_finished (whose `written` does not name them).
        logger.exception("outcome writes %s failed for task %s; the outcome is written without them",
                         [name for name, _ in extra], pk)
        return pg_writes.update_task(pk, current, values, event, durable=durable), frozenset()
    return done, frozenset(name for name, _ in extra)


def _writes():
    """The writer of this database: one statement per write on PostgreSQL, the ORM elsewhere (SQLite has
    no data-modifying CTEs)."""
    return pg_writes if connection.vendor == "postgresql" else orm_writes


# The statuses a delivered message may start a run from in one step (the common case). Others
# (running: redelivery after a lost worker; interrupted; finished) take the general path.
START_FROM = (S.PENDING, S.QUEUED, S.RETRYING)


def start_run(task_uuid, *, worker: str, queued_detail: str = "sent to queue") -> BaseTask | None:
    """Worker side: load the task of a message and mark it running, in one statement on PostgreSQL.

    A task still `pending` (the worker was faster than the dispatcher's `queued` mark) is recorded as
    pending -> queued -> running so every history reads the same. Returns None, changing nothing, when
    the task is in any other status or on another database; the caller then takes the general path.
    """
    if connection.vendor != "postgresql":
        return None
    task = pg_writes.start_run(task_uuid, from_statuses=START_FROM, pending=S.PENDING, queued=S.QUEUED,
                               running=S.RUNNING, worker=worker, pid=os.getpid(), queued_detail=queued_detail,
                               durable=connection.in_atomic_block)
    if task is not None:
        return task


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
    writes, durable, moved = _writes(), _durable(to_status), []
    for batch in chunked(pks, chunk):  # on PostgreSQL one statement per chunk: lock, update, events
        moved += writes.update_many(batch, from_status, {"status": to_status, **fields}, detail=detail[:5000],
                                    durable=durable)
    return moved
