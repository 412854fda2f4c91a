"""Sending task messages to the broker: one task, many in batches, and the outbox sweep of the tasks
left `pending` (broker down, or the process died after its commit)."""

import logging
from collections.abc import Iterator

from celery import current_app
from django.conf import settings
from django.db import transaction

from ..choices import PRIORITY_LEVELS, TaskStatus
from ..models import BaseTask
from ..state_machine import transition, transition_many

logger = logging.getLogger("megahub.pipeline")

# Seconds between the soft time limit (raised inside the task) and the hard one (the child is killed).
HARD_LIMIT_GRACE_SECONDS = 10


def time_limits(timeout_seconds: int) -> tuple[int, int]:
    return timeout_seconds, timeout_seconds + HARD_LIMIT_GRACE_SECONDS


def publish(task: BaseTask, producer=None) -> None:
    """Send the task's message to the broker. Raises if the broker cannot be reached."""
    soft, hard = time_limits(task.timeout_seconds)
    task_id = str(task.task_id)
    current_app.send_task(
        task.task_type, args=[task_id], task_id=task_id, queue=task.queue,
        priority=PRIORITY_LEVELS[task.priority], soft_time_limit=soft, time_limit=hard, producer=producer,
        # What Celery would compute (saferepr of the arguments), without its generic repr machinery.
        argsrepr=f"['{task_id}']", kwargsrepr="{}",
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


def send_queued(task: BaseTask) -> bool:
    """Publish the message of a task created already `queued` (task_core.services.task_create: the row,
    its events and the queued mark are one write, committed before the message is sent, so the worker
    always finds the row).

    When the broker cannot be reached the task goes back to `pending`, where the outbox sweep finds it.
    Lost between the commit and the send (the process died; or the database was gone too when going back
    to pending), it stays queued without a message: the reaper sends it again (recovery.resend_lost_messages).
    """
    try:
        publish(task)
    except Exception as exc:  # any broker/network error: keep the task, the sweep retries it
        logger.warning("Broker unavailable, task %s goes back to pending: %s", task.task_id, exc)
        # Guarded: a worker that got the message after all (e.g. a timeout after the send) moved it on.
        transition(task, TaskStatus.PENDING, queued_at=None,
                   detail="not sent: broker unavailable; kept for the outbox sweep")
        return False
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

    On Redis the messages of each batch go out in one pipeline (kombu's `Producer.batch`; measured in
    docs/benchmarks.md). Transports without batches publish each message at once. A batch counts as
    sent only once its flush succeeded; when it fails, delivery of that batch is uncertain, so its
    tasks stay pending: the outbox sweep sends them again and the worker drops any duplicate.
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


def dispatch_pending(limit: int = 1000) -> int:
    """Outbox sweep: publish tasks left pending (broker was down, or the process died after commit).

    The rows stay locked until they are marked queued, and a concurrent sweep skips locked rows, so two
    sweeps (several piled up while the workers were down) never publish the same task twice.
    """
    with transaction.atomic():
        tasks = list(BaseTask.objects.awaiting_dispatch(settings.OUTBOX_GRACE_SECONDS)
                     .select_for_update(skip_locked=True).order_by("created_at")[:limit])
        return dispatch_many(tasks) if tasks else 0
