"""The execution pipeline: dispatch to the broker (web side) and run under a context (worker side).

Flow: row `pending` -> on commit, publish -> `queued` -> worker marks `running` -> the function runs
with a TaskContext -> `completed`, or `retrying` (Celery retry with exponential backoff) until retries
are spent, then `failed`. Delivery is at-least-once (acks late, reject on worker lost): a message for a
task that is already `running` means the worker that had it died, so the run is recorded as
interrupted and starts again; a message for a finished task is dropped.
"""

import json
import logging
import os
import traceback
import uuid
from collections.abc import Iterator

import psutil
from celery import Task, current_app
from celery.exceptions import Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, close_old_connections, connections, transaction
from django.utils import timezone

from megahub.api.exceptions import BrokerUnavailable

from . import signals
from .models import BaseTask, TaskStatus
from .state_machine import record_note, start_run, transition, transition_many

logger = logging.getLogger("megahub.pipeline")

# Seconds between the soft time limit (raised inside the task) and the hard one (the child is killed).
HARD_LIMIT_GRACE_SECONDS = 10
# Seconds before a delivery that could not reach the database is tried again.
DB_RETRY_SECONDS = 5


class TaskCancelled(Exception):
    """Raised inside a running task when an operator cancelled it (cooperative cancellation)."""


class RunStopped(Exception):
    """Raised inside a running task whose run ended on purpose and already recorded its status (e.g.
    interrupted and re-queued at a worker's shutdown, or no longer holding its task): nothing to record."""


class TaskContext:
    """What a task function receives: its task row, brand, progress and checkpoint reporting."""

    def __init__(self, task: BaseTask, worker: str, run_id: str = ""):
        self.task = task
        self.worker = worker
        self.run_id = run_id or uuid.uuid4().hex  # this execution (see signals: fencing)
        self._resume_state = None
        self._resume_loaded = False

    @property
    def brand(self):
        """The task's brand (loaded on first use: most tasks never need it)."""
        return self.task.brand

    @property
    def resume_state(self):
        """The state saved by the last checkpoint of an interrupted run, or None on a fresh run."""
        if not self._resume_loaded:
            for _receiver, state in signals.task_resume_state.send(sender=BaseTask, task=self.task,
                                                                      run_id=self.run_id):
                if state is not None:
                    self._resume_state = state
            self._resume_loaded = True
        return self._resume_state

    def progress(self, percentage: float, message: str = "") -> None:
        """Report progress; raises TaskCancelled if the task was cancelled meanwhile."""
        pct = max(0, min(100, int(percentage)))
        updated = BaseTask.objects.filter(pk=self.task.pk, status=TaskStatus.RUNNING).update(
            progress_percentage=pct, progress_message=message[:255]
        )
        if not updated:
            raise TaskCancelled(f"Task {self.task.task_id} is no longer running.")
        self.task.progress_percentage, self.task.progress_message = pct, message[:255]

    def checkpoint(self, step, state: dict, progress: float | None = None) -> None:
        """Save resumable state (kept by task_persistence) and report progress."""
        signals.task_checkpoint.send(sender=BaseTask, task=self.task, step=step, state=state, progress=progress,
                                     run_id=self.run_id)
        if progress is not None:
            self.progress(progress, f"checkpoint {step}")


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


def register_celery_task(name: str) -> None:
    """Register a Celery task of this name whose body is the pipeline's `execute`."""
    current_app.task(name=name, base=PipelineTask, bind=True)(execute)


def time_limits(timeout_seconds: int) -> tuple[int, int]:
    return timeout_seconds, timeout_seconds + HARD_LIMIT_GRACE_SECONDS


def publish(task: BaseTask, producer=None) -> None:
    """Send the task's message to the broker. Raises if the broker cannot be reached."""
    from .registry import PRIORITY_LEVELS

    soft, hard = time_limits(task.timeout_seconds)
    current_app.send_task(
        task.task_type, args=[str(task.task_id)], task_id=str(task.task_id), queue=task.queue,
        priority=PRIORITY_LEVELS[task.priority], soft_time_limit=soft, time_limit=hard, producer=producer,
    )


def dispatch(task: BaseTask, *, detail: str = "") -> bool:
    """Publish and mark queued. On a broker failure the task stays pending for the outbox sweep."""
    try:
        publish(task)
    except Exception as exc:  # any broker/network error: keep the task, the sweep retries it
        logger.warning("Broker unavailable, task %s stays %s: %s", task.task_id, task.status, exc)
        return False
    # The worker may already have marked it running; then this guarded update changes nothing.
    transition(task, TaskStatus.QUEUED, detail=detail or f"sent to queue {task.queue}")
    return True


# Messages per publish batch: one Redis round trip (a pipeline) for all of them. The first batch is
# small so that the workers get their first messages at once rather than after 500 are built.
PUBLISH_FIRST_BATCH = 50
PUBLISH_BATCH = 500


def _batches(tasks: list) -> Iterator[list]:
    start, size = 0, PUBLISH_FIRST_BATCH
    while start < len(tasks):
        yield tasks[start:start + size]
        start, size = start + size, PUBLISH_BATCH


def dispatch_many(tasks: list[BaseTask]) -> int:
    """Publish many pending tasks over one producer, then mark the sent ones queued in bulk.

    On Redis the messages of each batch go out in one pipeline (kombu's `Producer.batch`), which
    halved the publishing of 2,000 tasks (0.8 s to 0.4 s, docs/benchmarks.md). Transports without
    batches publish each message at once. A batch counts as sent only once its flush succeeded; when
    it fails, delivery of that batch is uncertain, so its tasks stay pending: the outbox sweep sends
    them again and the worker drops any duplicate.
    """
    sent: list[int] = []
    try:
        with current_app.producer_or_acquire() as producer:
            for batch in _batches(tasks):
                # max_size counts Redis commands; large enough that the batch is flushed once, on exit.
                with producer.batch(max_size=PUBLISH_BATCH * 2):
                    for task in batch:
                        publish(task, producer=producer)
                sent.extend(task.pk for task in batch)
    except Exception as exc:  # broker down part-way: the rest stay pending for the outbox sweep
        logger.warning("Broker unavailable after %s of %s tasks: %s", len(sent), len(tasks), exc)
    transition_many(sent, TaskStatus.PENDING, TaskStatus.QUEUED, detail="sent to the broker")
    return len(sent)


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
    from .registry import get_task_type

    request = celery_task.request
    hostname = request.hostname or ""
    task = start_run(task_uuid, worker=hostname) or _start(
        task_uuid, hostname, redelivered=bool((request.delivery_info or {}).get("redelivered")))
    if task is None:
        return None
    ctx = TaskContext(task, hostname)
    signals.task_started.send(sender=BaseTask, task=task, worker=hostname, run_id=ctx.run_id)

    ttype = get_task_type(task.task_type)
    try:
        result = _storable(ttype.func(ctx, **(task.context_data or {})))
    except (TaskCancelled, RunStopped):
        return None  # whoever stopped the run already recorded it
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
    transition(task, TaskStatus.FAILED, worker=hostname, detail=message, error_message=message, error_traceback=tb)
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


def dispatch_pending(limit: int = 1000) -> int:
    """Outbox sweep: publish tasks left pending (broker was down, or the process died after commit).

    The rows stay locked until they are marked queued, and a concurrent sweep skips locked rows, so two
    sweeps (several piled up while the workers were down) never publish the same task twice.
    """
    with transaction.atomic():
        tasks = list(BaseTask.objects.awaiting_dispatch(settings.OUTBOX_GRACE_SECONDS)
                     .select_for_update(skip_locked=True).order_by("created_at")[:limit])
        return dispatch_many(tasks) if tasks else 0


def recover_interrupted(task: BaseTask, reason: str, *, worker: str = "") -> bool:
    """Mark a task whose worker vanished as interrupted and send it again.

    With the broker down it goes back to `pending`, where the outbox sweep finds it: never lost.
    """
    fields = {"worker": worker} if worker else {}
    if not transition(task, TaskStatus.INTERRUPTED, detail=reason, **fields):
        return False
    if interruption_taken_over(task, worker):
        return True
    if not dispatch(task, detail="re-sent after interruption"):
        transition(task, TaskStatus.PENDING, detail="broker unavailable; kept for the outbox sweep")
    return True


def interruption_taken_over(task: BaseTask, worker: str) -> bool:
    """Ask the other apps (signals.task_interrupted) whether one of them takes charge of an interrupted
    task (holds it for an operator, or fails it); a failing receiver is logged and ignored."""
    taken = False
    for receiver, result in signals.task_interrupted.send_robust(sender=BaseTask, task=task, worker=worker):
        if isinstance(result, Exception):
            logger.error("task_interrupted receiver %r failed for task %s", receiver, task.pk, exc_info=result)
        elif result is True:
            taken = True
    return taken


def recover_worker_orphans(hostname: str) -> int:
    """A worker starting under a name that still has running tasks died without finishing them."""
    count = 0
    for task in BaseTask.objects.filter(status=TaskStatus.RUNNING, worker=hostname):
        count += recover_interrupted(task, f"worker {hostname} restarted while this task was running",
                                     worker=hostname)
    return count


MAX_INTERRUPTIONS = 3


def reap_stuck(now=None) -> dict:
    """Nothing stays running or queued forever.

    A run past its hard limit plus a grace was lost with its worker: it is sent again (failed after
    MAX_INTERRUPTIONS). A task queued for longer than QUEUED_STALE_SECONDS while its queue holds no
    message lost its message (a broker restarted without persistence): it is sent again. Both are safe
    against a message that was not lost after all: the worker drops a duplicate (see `_start`).
    """
    now = now or timezone.now()
    reaped = {"requeued": 0, "failed": 0, "resent": resend_lost_messages(now)}
    for task in BaseTask.objects.filter(status__in=[TaskStatus.RUNNING, TaskStatus.RETRYING],
                                        started_at__isnull=False).iterator():
        _, hard = time_limits(task.timeout_seconds)
        backoff = 0
        if task.status == TaskStatus.RETRYING:  # a retry waits out its countdown in the broker
            backoff = _retry_backoff(task)
        deadline = task.started_at + timezone.timedelta(seconds=hard + settings.STUCK_TASK_GRACE_SECONDS + backoff)
        if deadline > now:
            continue
        interruptions = task.events.filter(to_status=TaskStatus.INTERRUPTED).count()
        if interruptions >= MAX_INTERRUPTIONS:
            if transition(task, TaskStatus.FAILED, detail=f"lost {interruptions} times; giving up",
                          error_message=f"Worker lost {interruptions} times"):
                reaped["failed"] += 1
        elif recover_interrupted(task, f"no result {hard}s after start on {task.worker or '?'}; worker lost"):
            reaped["requeued"] += 1
    return reaped


def _retry_backoff(task: BaseTask) -> int:
    from .registry import UnknownTaskType, get_task_type

    try:
        return get_task_type(task.task_type).backoff_seconds(task.retry_count)
    except UnknownTaskType:
        return 300


def resend_lost_messages(now=None) -> int:
    """Publish again the tasks queued for too long in a queue that holds no message at all."""
    from .broker import queue_lengths

    cutoff = (now or timezone.now()) - timezone.timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    stale = list(BaseTask.objects.filter(status=TaskStatus.QUEUED, queued_at__lt=cutoff).order_by("queued_at")[:1000])
    if not stale:
        return 0
    try:
        lengths = queue_lengths(sorted({t.queue for t in stale}))
    except BrokerUnavailable:
        return 0  # nothing can be sent now; the next pass looks again
    resent = 0
    for task in stale:
        if lengths.get(task.queue):
            continue  # messages are waiting there: this one may be among them
        try:
            publish(task)
        except Exception as exc:  # noqa: BLE001 - broker gone meanwhile; the next pass retries
            logger.warning("Could not re-send task %s: %s", task.task_id, exc)
            break
        record_note(task, f"queued since {task.queued_at:%Y-%m-%d %H:%M:%S} UTC but its queue {task.queue} is "
                          "empty: the message was lost; sent again")
        resent += 1
    return resent


def on_task_postrun(**kwargs):
    """The worker keeps its database connection across tasks (CELERY_DB_REUSE_MAX); after a database
    error (server restarted, network cut) drop it if it is broken, so the next task reconnects."""
    for conn in connections.all(initialized_only=True):
        if conn.errors_occurred:
            conn.close_if_unusable_or_obsolete()


def on_worker_ready(sender=None, **kwargs):
    hostname = getattr(sender, "hostname", "") or ""
    close_old_connections()
    try:
        recovered = recover_worker_orphans(hostname)
    except Exception:  # never keep a worker from starting
        logger.exception("Orphan recovery failed for %s", hostname)
        return
    if recovered:
        logger.warning("Re-sent %s task(s) that %s was running when it died", recovered, hostname)
