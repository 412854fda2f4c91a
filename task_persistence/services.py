"""Writes of task_persistence: jobs created with their tasks, runs claiming them, fenced checkpoints,
what an interruption leads to, and resumes by an operator."""

import json

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from rest_framework import status

from megahub.api.exceptions import ApplicationError, Conflict, InvalidTransition, related_not_found, validation_error
from task_core.choices import TaskOrigin, TaskStatus
from task_core.models import BaseTask
from task_core.pg_writes import run_prepared
from task_core.pipeline.context import RunStopped
from task_core.pipeline.publishing import dispatch
from task_core.pipeline.recovery import recover_interrupted
from task_core.registry import UnknownTaskType, get_task_type, storable_json_errors
from task_core.services import task_create
from task_core.state_machine import record_note, transition

from .models import Checkpoint, PersistentJob, ResumePolicy
from .options import job_options


class CheckpointTooLarge(ApplicationError):
    status_code = status.HTTP_400_BAD_REQUEST
    error_code = "CHECKPOINT_TOO_LARGE"


class CheckpointRefused(RunStopped):
    """The run writing a checkpoint no longer holds its job (a zombie after a redelivery): refused, and
    the run stops without recording anything."""


def is_resumable(task_type: str) -> bool:
    try:
        return get_task_type(task_type).resumable
    except UnknownTaskType:
        return False


def jobs_create(*, tasks: list[BaseTask], resume_policy: str | None = None) -> list[PersistentJob]:
    """A PersistentJob for each new task of a resumable type (inside the creating transaction).
    `resume_policy` overrides the types' default; it is a 400 for a type that is not resumable."""
    resumable = [t for t in tasks if is_resumable(t.task_type)]
    if resume_policy is not None and len(resumable) < len(tasks):
        raise validation_error("resume_policy applies only to resumable task types.", "resume_policy")
    jobs = []
    for task in resumable:
        options = job_options(task.task_type)
        # the status is the task's (the insert trigger reads it again from the row: status_sync)
        jobs.append(PersistentJob(task=task, brand_id=task.brand_id, status=task.status,
                                  max_resumes=options.max_resumes,
                                  resume_policy=resume_policy or options.resume_policy))
    return PersistentJob.objects.bulk_create(jobs, batch_size=1000)


def job_claim(*, task: BaseTask, run_id: str, worker: str) -> PersistentJob:
    """A run starts: it now holds the job (older runs' checkpoints are refused from here on). A run that
    continues from a checkpoint says so in the task's history."""
    job = PersistentJob.objects.select_related("last_checkpoint").filter(task_id=task.pk).first()
    if job is None:  # a task created before its type was resumable, or by a path that sent no signal
        job = jobs_create(tasks=[task])[0]
    PersistentJob.objects.filter(pk=job.pk).update(run_id=run_id, worker=worker, heartbeat_at=timezone.now())
    checkpoint = job.last_checkpoint
    if checkpoint is not None:
        record_note(task, f"resumed from checkpoint #{checkpoint.sequence} (step {checkpoint.step})")
    return job


def job_set_total(*, task: BaseTask, total: int) -> None:
    PersistentJob.objects.filter(task_id=task.pk).exclude(total_steps=total).update(total_steps=total)


def _encoded_state(state) -> str:
    errors = storable_json_errors(state, "state")
    if errors:
        raise validation_error("The checkpoint state cannot be stored.", field_errors=errors)
    try:
        encoded = json.dumps(state, cls=DjangoJSONEncoder, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise validation_error(f"The checkpoint state is not JSON: {exc}", "state") from None
    size, limit = len(encoded.encode()), settings.PERSISTENCE_CHECKPOINT_MAX_BYTES
    if size > limit:
        msg = f"The checkpoint state is {size} bytes; the limit is {limit} bytes (PERSISTENCE_CHECKPOINT_MAX_BYTES)."
        raise CheckpointTooLarge(msg, field_errors={"state": [msg]})
    return encoded


# One statement on PostgreSQL: the fenced job update (`run_id = <this run>`), the checkpoint insert and
# the pruning of the one that leaves the kept window (sequences are 1, 2, 3 ... per job, so exactly one
# does: one index probe, where a range would walk the dead index entries of every earlier deletion).
# Its commit does not wait for the disk: a checkpoint lost in a database crash only means that the items
# since the one before run again, which at-least-once allows.
# Positional, typed placeholders: the statement is prepared once per connection (run_prepared).
_CHECKPOINT_SQL = """
WITH nowait AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
j AS (
  UPDATE task_persistence_persistentjob SET checkpoint_count = checkpoint_count + 1,
    last_checkpoint_id = nextval(pg_get_serial_sequence('task_persistence_checkpoint', 'id')),
    current_step = %s::bigint, heartbeat_at = %s::timestamptz, worker = %s::varchar
  FROM nowait WHERE task_id = %s::bigint AND run_id = %s::varchar
  RETURNING id, checkpoint_count, last_checkpoint_id),
ins AS (
  INSERT INTO task_persistence_checkpoint (id, job_id, sequence, step, state, progress, worker, created_at)
  SELECT last_checkpoint_id, id, checkpoint_count, %s::bigint, %s::jsonb, %s::double precision, %s::varchar,
         %s::timestamptz
  FROM j RETURNING sequence),
pruned AS (
  DELETE FROM task_persistence_checkpoint c USING j
  WHERE c.job_id = j.id AND c.sequence > 1 AND c.sequence = j.checkpoint_count - %s::integer)
SELECT sequence FROM ins
"""


def checkpoint_write(*, task: BaseTask, run_id: str, step: int, state, progress: float | None = None,
                     worker: str = "") -> int:
    """Save a checkpoint of the run `run_id`; returns its sequence number. Raises CheckpointTooLarge
    (400) past the size limit, CheckpointRefused when the run no longer holds the job."""
    encoded = _encoded_state(state)
    now, kept = timezone.now(), max(1, settings.PERSISTENCE_CHECKPOINTS_KEPT)
    progress = None if progress is None else float(progress)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            run_prepared(cursor, _CHECKPOINT_SQL, [step, now, worker[:255], task.pk, run_id,
                                                   step, encoded, progress, worker[:255], now, kept])
            row = cursor.fetchone()
        sequence = row[0] if row else None
    else:
        sequence = _checkpoint_write_orm(task, run_id, step, json.loads(encoded), progress, worker[:255], now, kept)
    if sequence is None:
        raise CheckpointRefused(f"Checkpoint of task {task.pk} refused: this run ({run_id}) no longer holds the job.")
    return sequence


def _checkpoint_write_orm(task, run_id, step, state, progress, worker, now, kept) -> int | None:
    with transaction.atomic():
        job = PersistentJob.objects.select_for_update().filter(task_id=task.pk, run_id=run_id).first()
        if job is None:
            return None
        sequence = job.checkpoint_count + 1
        checkpoint = Checkpoint.objects.create(job=job, sequence=sequence, step=step, state=state, progress=progress,
                                               worker=worker, created_at=now)
        PersistentJob.objects.filter(pk=job.pk).update(checkpoint_count=sequence, last_checkpoint=checkpoint,
                                                        current_step=step, heartbeat_at=now, worker=worker)
        Checkpoint.objects.filter(job=job, sequence__gt=1, sequence=sequence - kept).delete()
    return sequence


def job_stop_for_shutdown(*, task: BaseTask, worker: str, sequence: int) -> None:
    """A warm shutdown reached a job right after its checkpoint: mark it interrupted and let the
    interruption rules (job_after_interruption) re-queue it, hold it or fail it. Then the run stops."""
    recover_interrupted(
        task, f"worker {worker} is shutting down: stopped after checkpoint #{sequence}", worker=worker)
    raise RunStopped("worker shutting down")


def job_after_interruption(*, task: BaseTask) -> bool | None:
    """Core marked the task interrupted: True when the job stays put (manual policy: waits for an
    operator; past its resume limit: failed with that reason), False to resume it at once (counted)."""
    job = PersistentJob.objects.filter(task_id=task.pk).first()
    if job is None:
        return None
    if job.resume_count >= job.max_resumes:
        PersistentJob.objects.filter(pk=job.pk).update(run_id="")
        reason = f"Resume limit reached: interrupted again after {job.resume_count} resumes (limit {job.max_resumes})."
        transition(task, TaskStatus.FAILED, detail=reason, error_message=reason, error_traceback="")
        return True
    if job.resume_policy != ResumePolicy.AUTO:
        PersistentJob.objects.filter(pk=job.pk).update(run_id="")
        record_note(task, "waiting for an operator to resume it (resume policy: manual)")
        return True
    PersistentJob.objects.filter(pk=job.pk).update(resume_count=F("resume_count") + 1, run_id="")
    return False


RESUMABLE_STATUSES = (TaskStatus.INTERRUPTED, TaskStatus.FAILED)


def job_resume(*, job: PersistentJob, actor=None, checkpoint_id: int | None = None) -> tuple[BaseTask, bool]:
    """An operator resumes a job, from its last checkpoint or an earlier one. An interrupted job resumes
    as the same task; a failed one as a new task (origin resume) that continues from the checkpoint.
    Returns (the task that will run, whether it is new)."""
    task = BaseTask.objects.select_related("brand").get(pk=job.task_id)
    checkpoint = job.last_checkpoint
    if checkpoint_id is not None:
        checkpoint = job.checkpoints.filter(pk=checkpoint_id).first()
        if checkpoint is None:
            raise related_not_found(f"Job {job.pk} has no checkpoint {checkpoint_id}.", "checkpoint")
    if task.status not in RESUMABLE_STATUSES:
        raise InvalidTransition(f"A {task.status} job cannot be resumed; only an interrupted or failed one can.")
    if job.resume_count >= job.max_resumes:
        raise Conflict(f"Resume limit reached: {job.resume_count} resumes of {job.max_resumes} allowed.",
                       error_code="RESUME_LIMIT_REACHED")
    who = getattr(actor, "username", None) or "system"
    where = f"from checkpoint #{checkpoint.sequence} (step {checkpoint.step})" if checkpoint else "from the start"
    if task.status == TaskStatus.INTERRUPTED:
        with transaction.atomic():
            moved = PersistentJob.objects.filter(pk=job.pk, resume_count=job.resume_count).update(
                resume_count=F("resume_count") + 1, last_checkpoint=checkpoint, run_id="")
            if not moved:
                raise Conflict("The job was resumed meanwhile.", error_code="CONFLICT")
            record_note(task, f"resume requested by {who}, {where}", actor=actor)
            transaction.on_commit(lambda: dispatch(task, detail=f"resumed by {who}"))
        return task, False
    with transaction.atomic():
        new_task, _ = task_create(
            brand=task.brand, created_by=actor, task_type=task.task_type, context_data=task.context_data,
            priority=task.priority, description=task.description, max_retries=task.max_retries,
            timeout_seconds=task.timeout_seconds, queue=task.queue, origin=TaskOrigin.RESUME, retry_of=task,
            extra={"resume_policy": job.resume_policy})
        new_job = PersistentJob.objects.get(task=new_task)
        copy = None
        if checkpoint is not None:
            copy = Checkpoint.objects.create(job=new_job, sequence=1, step=checkpoint.step, state=checkpoint.state,
                                             progress=checkpoint.progress, worker=checkpoint.worker,
                                             created_at=timezone.now())
        PersistentJob.objects.filter(pk=new_job.pk).update(
            resumed_from=job, resume_count=job.resume_count + 1, max_resumes=job.max_resumes,
            last_checkpoint=copy, checkpoint_count=1 if copy else 0, current_step=copy.step if copy else 0,
            total_steps=job.total_steps)
        record_note(task, f"resumed as task {new_task.pk} by {who}, {where}", actor=actor)
    return new_task, True
