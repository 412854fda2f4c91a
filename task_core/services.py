"""Writes of task_core: submit, retry, cancel. Views and other apps call these, never the ORM directly."""

import json
import logging
from contextlib import nullcontext

from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction

from megahub.api.exceptions import Conflict, InvalidTransition, validation_error

from . import signals, state_machine
from .choices import TaskOrigin, TaskPriority, TaskStatus
from .models import BaseTask
from .pipeline.publishing import dispatch, dispatch_many, send_queued
from .registry import get_task_type
from .state_machine import record_note, transition

logger = logging.getLogger("megahub.tasks")

RETRYABLE = {TaskStatus.FAILED, TaskStatus.CANCELLED}


def _check_size(params: dict) -> None:
    size = len(json.dumps(params, separators=(",", ":")).encode())
    limit = settings.TASK_CONTEXT_MAX_BYTES
    if size > limit:
        msg = f"context_data is {size} bytes; the limit is {limit} bytes ({limit // 1024} KiB)."
        raise validation_error(msg, "context_data")


def task_build(*, brand, task_type: str, context_data: dict | None = None, priority: str | None = None,
               description: str = "", max_retries: int | None = None, timeout_seconds: int | None = None,
               queue: str | None = None, origin: str = TaskOrigin.API, created_by=None,
               idempotency_key: str | None = None, retry_of: BaseTask | None = None) -> BaseTask:
    """Validate against the registry and return an unsaved BaseTask with the type's defaults applied."""
    ttype = get_task_type(task_type)
    params = ttype.validate(context_data if context_data is not None else {})
    _check_size(params)
    if priority is not None and priority not in TaskPriority.values:
        raise validation_error(f"Unknown priority {priority!r}.",
                               field_errors={"priority": [f"Must be one of {', '.join(TaskPriority.values)}."]})
    timeout = timeout_seconds if timeout_seconds is not None else ttype.timeout_seconds
    if not 1 <= timeout <= settings.MAX_TASK_TIMEOUT_SECONDS:
        raise validation_error("Invalid timeout.", field_errors={
            "timeout_seconds": [f"Must be between 1 and {settings.MAX_TASK_TIMEOUT_SECONDS}."]})
    return BaseTask(
        brand=brand, task_type=task_type, context_data=params, priority=priority or ttype.priority,
        description=description, max_retries=ttype.max_retries if max_retries is None else max_retries,
        timeout_seconds=timeout, queue=queue or ttype.queue, origin=origin, created_by=created_by,
        idempotency_key=idempotency_key or None, retry_of=retry_of,
    )


def task_create(*, brand, created_by=None, task_type: str, context_data: dict | None = None,
                idempotency_key: str | None = None, extra: dict | None = None, **options) -> tuple[BaseTask, bool]:
    """Create a task and enqueue it when the transaction commits. Returns (task, created).

    Called outside a transaction (the API), the row is written already `queued`, with its events
    (created, sent to queue), in one statement, and its message is sent as soon as that commits: should
    the broker refuse it, the task goes back to `pending` for the outbox sweep (publishing.send_queued).
    Inside a caller's transaction, whose commit may come much later, the task stays `pending` until its
    message is sent on commit (publishing.dispatch).

    With an idempotency key, a replay returns the task the first call created (created=False); the
    same key with different parameters is a 409. `extra`: the app-contributed create fields, handed to
    the `tasks_created` receivers (which may refuse them with a 400).
    """
    task = task_build(brand=brand, created_by=created_by, task_type=task_type, context_data=context_data,
                      idempotency_key=idempotency_key, **options)
    if idempotency_key:
        existing = BaseTask.objects.filter(brand=brand, idempotency_key=idempotency_key).first()
        if existing is not None:
            return _replay(existing, task), False
    # The receivers run in the creating transaction. One is opened only where a receiver may write (app
    # fields given, or a resumable type): a plain create stays the one autocommitted statement it is.
    joined = extra or get_task_type(task_type).resumable
    at_once = not transaction.get_connection().in_atomic_block
    try:
        with transaction.atomic() if joined else nullcontext():
            state_machine.create(task, actor=created_by, detail=f"created ({task.origin})",
                                 then=TaskStatus.QUEUED if at_once else None,
                                 then_detail=f"sent to queue {task.queue}")
            signals.tasks_created.send(sender=BaseTask, tasks=[task], created_by=created_by, extra=extra or {})
    except IntegrityError:
        existing = BaseTask.objects.filter(brand=brand, idempotency_key=idempotency_key).first()
        if idempotency_key and existing is not None:  # a concurrent first call won the race
            return _replay(existing, task), False
        raise
    # At once outside a transaction; inside one, when it commits (the worker must find the row).
    transaction.on_commit(lambda: send_queued(task) if at_once else dispatch(task))
    return task, True


def _replay(existing: BaseTask, attempted: BaseTask) -> BaseTask:
    if existing.task_type != attempted.task_type or existing.context_data != attempted.context_data:
        raise Conflict("This Idempotency-Key was already used with different parameters.",
                       error_code="IDEMPOTENCY_KEY_REUSED")
    return existing


def task_create_many(*, brand, specs: list[dict], created_by=None, origin: str = TaskOrigin.SYSTEM,
                     extra: dict | None = None) -> list[BaseTask]:
    """Create many tasks in one transaction, all or none (bulk writes); they are enqueued on commit."""
    tasks = [task_build(brand=brand, created_by=created_by, origin=origin, **spec) for spec in specs]
    with transaction.atomic():
        state_machine.create_many(tasks, actor=created_by, detail=f"created ({origin})")
        signals.tasks_created.send(sender=BaseTask, tasks=tasks, created_by=created_by, extra=extra or {})
        transaction.on_commit(lambda: dispatch_many(tasks))
    return tasks


def task_retry(*, task: BaseTask, actor=None) -> BaseTask:
    """Run a failed or cancelled task again, as a new task that points back at this one."""
    if task.status not in RETRYABLE:
        raise InvalidTransition(f"Only failed or cancelled tasks can be retried; this one is {task.status}.")
    with transaction.atomic():
        new_task, _ = task_create(
            brand=task.brand, created_by=actor, task_type=task.task_type, context_data=task.context_data,
            priority=task.priority, description=task.description, max_retries=task.max_retries,
            timeout_seconds=task.timeout_seconds, queue=task.queue, origin=TaskOrigin.RETRY, retry_of=task,
        )
        record_note(task, f"retried as task {new_task.pk} ({new_task.task_id})", actor=actor)
    return new_task


def task_cancel(*, task: BaseTask, actor=None) -> BaseTask:
    """Cancel: a queued task never starts; a running one is terminated on its worker."""
    if not transition(task, TaskStatus.CANCELLED, actor=actor,
                      detail=f"cancelled by {getattr(actor, 'username', None) or 'system'}"):
        raise InvalidTransition(f"A {task.status} task cannot be cancelled.")
    # terminate=True whatever the status we read: it may have started meanwhile, and for a task that
    # is not running the revoke only keeps a worker from starting it.
    try:
        current_app.control.revoke(str(task.task_id), terminate=True, signal="SIGTERM")
    except Exception as exc:  # noqa: BLE001 - the DB state already stops the task at its next step
        logger.warning("Could not broadcast revoke for %s: %s", task.task_id, exc)
    return task
