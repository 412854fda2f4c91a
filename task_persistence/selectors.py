"""Reads of task_persistence. Every API read takes the brand."""

from .models import Checkpoint, PersistentJob


def job_queryset(*, brand):
    return PersistentJob.objects.for_brand(brand).with_relations()


def resumable_jobs(*, brand):
    return job_queryset(brand=brand).resumable()


def checkpoint_queryset(*, brand):
    return Checkpoint.objects.for_brand(brand).select_related("job")


def job_checkpoints(*, job):
    return job.checkpoints.select_related("job")


def resume_state(*, task):
    """The state of the checkpoint the task's next run continues from, or None."""
    return (PersistentJob.objects.filter(task_id=task.pk, last_checkpoint__isnull=False)
            .values_list("last_checkpoint__state", flat=True).first())
