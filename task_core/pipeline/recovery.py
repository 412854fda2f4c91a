"""Recovery: nothing submitted stays running, queued or lost forever.

The reaper re-sends runs lost with their worker and messages lost with the broker; a worker that starts
under the name of one that died re-sends what that one was running. Each is safe against a message
that was not lost after all: the worker drops a duplicate (see worker._start).
"""

import logging

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from megahub.api.exceptions import BrokerUnavailable

from .. import signals
from ..broker import message_task_ids, queue_lengths
from ..choices import TaskStatus
from ..models import BaseTask
from ..registry import UnknownTaskType, get_task_type
from ..state_machine import record_note, transition
from .publishing import dispatch, publish, time_limits

logger = logging.getLogger("megahub.pipeline")

MAX_INTERRUPTIONS = 3


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


def reap_stuck(now=None) -> dict:
    """Nothing stays running or queued forever.

    A run past its hard limit plus a grace was lost with its worker: it is sent again (failed after
    MAX_INTERRUPTIONS; a resumable type's runs are judged by its own resume limit, through the
    task_interrupted receivers). A task queued for longer than QUEUED_STALE_SECONDS while its queue holds no
    message lost its message (a broker restarted without persistence): it is sent again.
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
        if interruptions >= MAX_INTERRUPTIONS and not _resumable(task):  # a resumable job has its own limit
            if transition(task, TaskStatus.FAILED, detail=f"lost {interruptions} times; giving up",
                          error_message=f"Worker lost {interruptions} times"):
                reaped["failed"] += 1
        elif recover_interrupted(task, f"no result {hard}s after start on {task.worker or '?'}; worker lost"):
            reaped["requeued"] += 1
    return reaped


def _resumable(task: BaseTask) -> bool:
    try:
        return get_task_type(task.task_type).resumable
    except UnknownTaskType:
        return False


def _retry_backoff(task: BaseTask) -> int:
    try:
        return get_task_type(task.task_type).backoff_seconds(task.retry_count)
    except UnknownTaskType:
        return 300


def resend_lost_messages(now=None) -> int:
    """Publish again the tasks queued for too long whose message the broker does not hold: their queue
    holds no message at all (the broker lost them, e.g. Redis restarted without persistence), or, on
    Redis, none of the messages it holds or its workers have taken is theirs (the process that created
    the task died between its commit and the send: services.task_create). A queue holding more messages
    than broker.MESSAGE_SCAN_LIMIT is looked at again when it has fewer."""
    cutoff = (now or timezone.now()) - timezone.timedelta(seconds=settings.QUEUED_STALE_SECONDS)
    stale = list(BaseTask.objects.filter(status=TaskStatus.QUEUED, queued_at__lt=cutoff).order_by("queued_at")[:1000])
    if not stale:
        return 0
    try:
        lengths = queue_lengths(sorted({t.queue for t in stale}))
        busy = sorted(name for name, n in lengths.items() if n)
        present = message_task_ids(busy) if busy else set()
    except BrokerUnavailable:
        return 0  # nothing can be sent now; the next pass looks again
    resent = 0
    for task in stale:
        if lengths.get(task.queue) and (present is None or str(task.task_id) in present):
            continue  # messages are waiting there: this one may be among them
        try:
            publish(task)
        except Exception as exc:  # noqa: BLE001 - broker gone meanwhile; the next pass retries
            logger.warning("Could not re-send task %s: %s", task.task_id, exc)
            break
        record_note(task, f"queued since {task.queued_at:%Y-%m-%d %H:%M:%S} UTC but the broker holds no message "
                          f"of it (queue {task.queue}): the message was lost; sent again")
        resent += 1
    return resent


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
