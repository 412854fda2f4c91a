"""PersistentJob (1:1 with a task of a resumable type) and its Checkpoints.

A job's status is its task's (interrupted, failed, ...), changed by core's state machine. The job holds a
copy of it, `status`, kept equal by database triggers (status_sync): every path that changes a task's
status, bulk ones and raw SQL included, changes the job's in the same statement, and core knows nothing
of it. The cost is one index probe per status change of any task. The copy is what the job lists filter
on (status, resumable) along their own indexes, where a join to the tasks walked every job of the brand
(docs/architecture.md, "Reads at scale"). What the job adds is where the work stands (step, last
checkpoint), how it may resume (policy, limit, count) and which run holds it (`run_id`, for fencing).
"""

from django.db import models

from task_core.choices import TaskStatus
from task_core.models import BaseTask, Brand

from .querysets import RESUMABLE, CheckpointQuerySet, PersistentJobQuerySet


class ResumePolicy(models.TextChoices):
    AUTO = "auto", "Automatic"
    MANUAL = "manual", "Manual (an operator resumes it)"


class PersistentJob(models.Model):
    task = models.OneToOneField(BaseTask, on_delete=models.CASCADE, related_name="persistent_job",
                                verbose_name="task", help_text="The task whose work this job tracks.")
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="+", verbose_name="brand",
                              db_index=False, help_text="The task's brand (copied for brand scoping).")
    status = models.CharField(
        "status", max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING, editable=False,
        help_text="The task's status, copied by database triggers whenever it changes (status_sync).")
    resume_policy = models.CharField(
        "resume policy", max_length=8, choices=ResumePolicy.choices, default=ResumePolicy.AUTO,
        help_text="auto: resumes by itself after an interruption; manual: waits for an operator.")
    max_resumes = models.PositiveIntegerField("resume limit", default=10,
                                              help_text="Resumes allowed, automatic and manual together.")
    resume_count = models.PositiveIntegerField("resumes", default=0,
                                               help_text="Resumes so far (counted along a chain of resumes).")
    current_step = models.BigIntegerField("current step", default=0, help_text="Step of the last checkpoint.")
    total_steps = models.BigIntegerField("total steps", null=True, blank=True, help_text="Steps in all, if known.")
    checkpoint_count = models.PositiveIntegerField("checkpoints written", default=0,
                                                   help_text="Sequence number of the newest checkpoint.")
    last_checkpoint = models.ForeignKey(
        "Checkpoint", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name="last checkpoint", help_text="The checkpoint the next run continues from.")
    run_id = models.CharField("holding run", max_length=32, blank=True, default="",
                              help_text="The run that holds the job: checkpoints of any other run are refused.")
    worker = models.CharField("worker", max_length=255, blank=True, default="", help_text="Worker of that run.")
    heartbeat_at = models.DateTimeField("heartbeat", null=True, blank=True,
                                        help_text="When the holding run last reported (start or checkpoint).")
    resumed_from = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="resumed_as",
        verbose_name="resumed from", help_text="The failed job this one continues (a resume as a new task).")
    created_at = models.DateTimeField("created at", auto_now_add=True)

    objects = PersistentJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["brand", "-created_at"], name="pjob_brand_created"),
            # the list's order within one status; and the resumable jobs (querysets.RESUMABLE) alone
            models.Index(fields=["brand", "status", "-created_at", "-id"], name="pjob_brand_status_created"),
            models.Index(fields=["brand", "-created_at", "-id"], name="pjob_brand_resumable",
                         condition=RESUMABLE),
        ]

    def __str__(self):
        return f"job {self.pk} of task {self.task_id}"


class Checkpoint(models.Model):
    job = models.ForeignKey(PersistentJob, on_delete=models.CASCADE, related_name="checkpoints",
                            verbose_name="job", db_index=False)  # served by (job, sequence)
    sequence = models.PositiveIntegerField("number", help_text="1, 2, 3 ... per job.")
    step = models.BigIntegerField("step", help_text="Where the work stood; a resumed run starts after it.")
    state = models.JSONField("state", default=dict, blank=True, help_text="What the task saved (size-limited).")
    progress = models.FloatField("progress %", null=True, blank=True)
    worker = models.CharField("worker", max_length=255, blank=True, default="")
    created_at = models.DateTimeField("created at")

    objects = CheckpointQuerySet.as_manager()

    class Meta:
        ordering = ["-job_id", "-sequence"]
        constraints = [models.UniqueConstraint(fields=["job", "sequence"], name="checkpoint_job_sequence")]

    def __str__(self):
        return f"checkpoint #{self.sequence} of job {self.job_id} (step {self.step})"


class DemoItemCounter(models.Model):
    """How many times demo.iterate ran an item, redone ones included: written by the item itself, so it
    survives a crash that the checkpoint did not see (`executions - items_done` is the work redone)."""

    task = models.OneToOneField(BaseTask, on_delete=models.CASCADE, primary_key=True, related_name="+")
    executions = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"task {self.task_id}: {self.executions} item executions"
