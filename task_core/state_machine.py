"""The one state machine of BaseTask. Every status change in the project goes through `transition`.

A transition is a guarded UPDATE (`WHERE status = <the status we saw>`), so a late or duplicate message
can never move a task backwards, and it writes a TaskEvent in the same breath.
"""

from django.db import transaction
from django.utils import timezone

from .models import BaseTask, TaskEvent
from .models import TaskStatus as S

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
        # One transaction: the row stays locked until its event is written, so a transition made
        # meanwhile by another process (web vs worker) waits and its event always sorts after this one.
        with transaction.atomic():
            updated = BaseTask.objects.filter(pk=task.pk, status=current).update(status=to_status, **fields)
            if updated and record_event:
                TaskEvent.objects.create(task=task, from_status=current, to_status=to_status,
                                         actor=actor, worker=fields.get("worker", task.worker),
                                         detail=detail[:5000])
        if updated:
            task.status = to_status
            for name, value in fields.items():
                setattr(task, name, value)
            return True
        # Someone else moved it: look again once.
        task.status = BaseTask.objects.filter(pk=task.pk).values_list("status", flat=True).first() or current
    return False


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
