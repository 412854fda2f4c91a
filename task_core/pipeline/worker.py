"""The worker side: the Celery task class of every task type and what one delivery of a message does."""

import json
import logging
import os
import traceback

import psutil
from celery import Task, current_app
from celery.exceptions import Retry, SoftTimeLimitExceeded, Terminated, TimeLimitExceeded
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connections

from .. import signals
from ..choices import TaskStatus
from ..models import BaseTask
from ..registry import all_task_types, get_task_type
from ..state_machine import start_run, transition
from .context import RunStopped, TaskCancelled, TaskContext
from .recovery import interruption_taken_over

logger = logging.getLogger("megahub.pipeline")

# Seconds before a delivery that could not reach the database is tried again.
DB_RETRY_SECONDS = 5


class TaskFailed(Exception):
    """Raised to Celery once a run was recorded `failed`, so Celery's events say FAILURE too."""


class PipelineTask(Task):
    """Celery base class of every registered task type: the message carries only the task id."""

    acks_late = True
    reject_on_worker_lost = True
    ignore_result = True  # the result lives on BaseTask; no second row in the result backend
    max_retries = None  # our retry policy decides (see execute)
    typing = False

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        # Reached in the worker's main process when the hard time limit killed the child.
        if isinstance(exc, TimeLimitExceeded):
            task = BaseTask.objects.filter(task_id=task_id).first()
            if task is not None:
                # No request context in the main process: keep the worker the run recorded.
                transition(task, TaskStatus.FAILED,
                           detail="hard time limit exceeded; the worker process was killed",
                           error_message=f"Timed out: hard time limit of {exc.args[0] if exc.args else '?'}s "
                                         "exceeded", error_traceback="")


def register_celery_tasks() -> None:
    """Make every registered task type a Celery task of the same name whose body is `execute` (called
    from TaskCoreConfig.ready(), once every app's task_types module declared its types)."""
    for ttype in all_task_types():
        current_app.task(name=ttype.name, base=PipelineTask, bind=True)(execute)


def execute(celery_task: PipelineTask, task_uuid: str):
    """Worker side of one delivery of a task message."""
    try:
        return _execute(celery_task, task_uuid)
    except (OperationalError, InterfaceError) as exc:
        # The database cannot record the run: keep the message and try again, rather than ack it and
        # leave the row queued or running with nobody working on it.
        logger.warning("Database unavailable for task %s, retrying in %ss: %s", task_uuid, DB_RETRY_SECONDS, exc)
        for conn in connections.all(initialized_only=True):
            conn.close_if_unusable_or_obsolete()
        raise celery_task.retry(countdown=DB_RETRY_SECONDS, exc=exc) from exc


def _execute(celery_task: PipelineTask, task_uuid: str):
    request = celery_task.request
    hostname = request.hostname or ""
    task = start_run(task_uuid, worker=hostname) or _start(
        task_uuid, hostname, redelivered=bool((request.delivery_info or {}).get("redelivered")))
    if task is None:
        return None
    ttype = get_task_type(task.task_type)
    ctx = TaskContext(task, hostname)
    signals.task_started.send(sender=BaseTask, task=task, worker=hostname, ctx=ctx)
    try:
        result = _storable(ttype.func(ctx, **(task.context_data or {})))
    except TaskCancelled:
        # The cancel already recorded it. Celery's own view (events, Flower): revoked, not succeeded.
        raise Terminated("cancelled") from None
    except RunStopped:
        return None  # the run ended on purpose and recorded its own status (e.g. interrupted, re-queued)
    except Retry:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of the task function is recorded
        return _handle_failure(celery_task, task, ttype, exc, hostname)
    transition(task, TaskStatus.COMPLETED, worker=hostname, detail="completed",
               result_data=result, progress_percentage=100, error_message="")
    return None


def _start(task_uuid: str, hostname: str, *, redelivered: bool = False) -> BaseTask | None:
    """The general path to `running` (any database, any status); None when the message is dropped."""
    task = BaseTask.objects.filter(task_id=task_uuid).first()
    if task is None:
        logger.warning("Message for unknown task %s dropped", task_uuid)
        return None
    if task.status in TaskStatus.finished():
        logger.info("Task %s already %s; duplicate delivery dropped", task_uuid, task.status)
        if task.status == TaskStatus.CANCELLED:  # Celery's view: revoked (the revoke may have missed us)
            raise Terminated("cancelled")
        return None
    if task.status in (TaskStatus.PENDING, TaskStatus.INTERRUPTED):
        # The message is here, so it was queued: the dispatcher marks queued only after publishing and
        # this worker was faster. Record it so every history reads ... -> queued -> running.
        transition(task, TaskStatus.QUEUED, detail=f"sent to queue {task.queue}")
    elif task.status == TaskStatus.RUNNING:
        if not _run_was_lost(task, hostname, redelivered):
            # A second message for a run that is alive (e.g. the outbox sweep raced a slow dispatcher):
            # running it too would run the task twice at once.
            logger.warning("Task %s is running on %s; duplicate message dropped", task_uuid, task.worker)
            return None
        lost = task.worker or "unknown worker"
        transition(task, TaskStatus.INTERRUPTED, worker=hostname,
                   detail=f"run on {lost} was interrupted (worker lost); message redelivered")
        if interruption_taken_over(task, hostname):
            return None
    if not transition(task, TaskStatus.RUNNING, worker=hostname, worker_pid=os.getpid(), detail="started"):
        logger.info("Task %s cannot start from %s; dropped", task_uuid, task.status)
        return None
    return task


def _run_was_lost(task: BaseTask, hostname: str, redelivered: bool) -> bool:
    """A message arrived for a task recorded as running: was that run lost, or is this a duplicate?

    On the worker that ran it we can look: the run is lost if its pool process is gone (SIGKILL,
    out of memory) or is this very process, free again. Elsewhere we trust the broker: Redis flags a
    message it hands out again after its holder died (visibility timeout, reject on worker lost).
    """
    if task.worker == hostname and task.worker_pid:
        return task.worker_pid == os.getpid() or not psutil.pid_exists(task.worker_pid)
    return redelivered


def _handle_failure(celery_task, task, ttype, exc, hostname):
    timed_out = isinstance(exc, SoftTimeLimitExceeded)
    message = (f"Timed out after {task.timeout_seconds}s" if timed_out
               else f"{type(exc).__name__}: {exc}")[:5000]
    tb = traceback.format_exc()
    if task.retry_count < task.max_retries:
        attempt = task.retry_count + 1
        countdown = ttype.backoff_seconds(attempt)
        if transition(task, TaskStatus.RETRYING, worker=hostname,
                      detail=f"attempt {attempt}/{task.max_retries} in {countdown}s after: {message}",
                      retry_count=attempt, error_message=message, error_traceback=tb):
            raise celery_task.retry(countdown=countdown, exc=exc)
        return None
    if transition(task, TaskStatus.FAILED, worker=hostname, detail=message, error_message=message,
                  error_traceback=tb):
        # Celery's own view agrees (task-failed event, FAILURE in Flower); only failures pay for it.
        raise TaskFailed(message) from exc
    return None


def _storable(value):
    """The task's return value as stored JSON: dates, decimals and UUIDs become strings; a scalar or
    other value is wrapped. Raises TypeError for what JSON cannot hold, which fails the run clearly."""
    if value is not None and not isinstance(value, dict | list | str | int | float | bool):
        value = {"value": value}
    try:
        return json.loads(json.dumps(value, cls=DjangoJSONEncoder))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"The task's result cannot be stored as JSON: {exc}") from None


def on_task_postrun(**kwargs):
    """The worker keeps its database connection across tasks (CELERY_DB_REUSE_MAX); after a database
    error (server restarted, network cut) drop it if it is broken, so the next task reconnects."""
    for conn in connections.all(initialized_only=True):
        if conn.errors_occurred:
            conn.close_if_unusable_or_obsolete()
