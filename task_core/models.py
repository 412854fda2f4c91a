import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from .choices import BrandRole, TaskOrigin, TaskPriority, TaskStatus
from .querysets import BaseTaskQuerySet, BrandMembershipQuerySet


def default_brand_timezone() -> str:
    return settings.BRAND_DEFAULT_TIMEZONE


def validate_timezone_name(value: str) -> None:
    """An IANA time zone name, e.g. Europe/Paris."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Paris.") from None


class Brand(models.Model):
    name = models.CharField("name", max_length=120, unique=True, help_text="Display name of the brand.")
    slug = models.SlugField("slug", max_length=120, unique=True, help_text="URL-safe identifier.")
    timezone = models.CharField(
        "timezone", max_length=64, default=default_brand_timezone, validators=[validate_timezone_name],
        help_text="IANA time zone of the brand: the default of its schedules (BRAND_DEFAULT_TIMEZONE if unset).")
    is_active = models.BooleanField("active", default=True, help_text="Inactive brands cannot be used.")
    created_at = models.DateTimeField("created at", auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class BrandMembership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_memberships",
        verbose_name="user", help_text="The member.",
    )
    brand = models.ForeignKey(
        Brand, on_delete=models.CASCADE, related_name="memberships", verbose_name="brand",
        help_text="The brand the user belongs to.",
    )
    role = models.CharField(
        "role", max_length=16, choices=BrandRole.choices, default=BrandRole.VIEWER,
        help_text="viewer reads; operator also creates, retries, cancels; admin everything.",
    )
    created_at = models.DateTimeField("created at", auto_now_add=True)

    objects = BrandMembershipQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "brand"], name="unique_membership")]

    def __str__(self):
        return f"{self.user} @ {self.brand} ({self.role})"


class BaseTask(models.Model):
    task_id = models.UUIDField(
        "task id", default=uuid.uuid4, unique=True, editable=False,
        help_text="Public id of the task; also the Celery task id.",
    )
    task_type = models.CharField("task type", max_length=120, help_text="A registered task type.")
    status = models.CharField(
        "status", max_length=16, choices=TaskStatus.choices, default=TaskStatus.PENDING,
        help_text="Changed only through the state machine (task_core.state_machine).",
    )
    priority = models.CharField(
        "priority", max_length=16, choices=TaskPriority.choices, default=TaskPriority.NORMAL,
        help_text="Mapped to a broker priority level: critical work overtakes low work.",
    )
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="tasks", verbose_name="brand",
                              db_index=False,  # the (brand, ...) indexes below serve it
                              help_text="The brand that owns the task.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name="created by", help_text="Who submitted it (empty for system and schedule runs).",
    )
    description = models.TextField("description", blank=True, default="", help_text="Free text for operators.")
    context_data = models.JSONField("parameters", default=dict, blank=True,
                                    help_text="Parameters, validated against the task type's schema.")
    result_data = models.JSONField("result", null=True, blank=True, help_text="What the task returned.")
    progress_percentage = models.PositiveSmallIntegerField("progress %", default=0)
    progress_message = models.CharField("progress message", max_length=255, blank=True, default="")
    error_message = models.TextField("error message", blank=True, default="")
    error_traceback = models.TextField("error traceback", blank=True, default="")
    retry_count = models.PositiveIntegerField("retry count", default=0, help_text="Automatic retries so far.")
    max_retries = models.PositiveIntegerField("max retries", default=0, help_text="Automatic retries allowed.")
    timeout_seconds = models.PositiveIntegerField("timeout (s)", default=300,
                                                  help_text="Soft time limit; the hard limit is a little later.")
    queue = models.CharField("queue", max_length=64, default="default", help_text="Broker queue it is sent to.")
    worker = models.CharField("worker", max_length=255, blank=True, default="", help_text="Worker that ran it last.")
    worker_pid = models.PositiveIntegerField(
        "worker pid", null=True, blank=True,
        help_text="Process that ran it last: tells a redelivered message after a lost run from a duplicate.")
    origin = models.CharField("origin", max_length=16, choices=TaskOrigin.choices, default=TaskOrigin.API,
                              help_text="What created the task.")
    retry_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="retries", db_index=False,
        verbose_name="retry of", help_text="The failed or cancelled task this one retries.",
    )
    idempotency_key = models.CharField(
        "idempotency key", max_length=255, null=True, blank=True,
        help_text="From the Idempotency-Key header: a replay returns the task the first call created.",
    )
    created_at = models.DateTimeField("created at", auto_now_add=True)
    queued_at = models.DateTimeField("queued at", null=True, blank=True)
    started_at = models.DateTimeField("started at", null=True, blank=True)
    completed_at = models.DateTimeField("completed at", null=True, blank=True)

    objects = BaseTaskQuerySet.as_manager()

    class Meta:
        verbose_name = "task"
        verbose_name_plural = "tasks"
        ordering = ["-created_at", "-id"]
        indexes = [
            # Every index costs each status change (a status update is never HOT): keep only those
            # the API, the outbox sweep and the reaper need.
            # Each list of the API is served by one of these in its order (newest first), so a page reads
            # a page of rows (docs/architecture.md, "Reads at scale"). `-id` completes the order (ties of
            # created_at) and lets a page by number skip its OFFSET in the index alone (index-only scan).
            models.Index(fields=["brand", "status", "-created_at", "-id"], name="task_brand_status_created"),
            models.Index(fields=["brand", "-created_at", "-id"], name="task_brand_created"),
            models.Index(fields=["brand", "task_type", "-created_at", "-id"], name="task_brand_type_created"),
            # Only finished tasks have a completion time: one entry per task, written when it finishes.
            models.Index(fields=["brand", "-completed_at"], name="task_brand_completed",
                         condition=models.Q(completed_at__isnull=False)),
            models.Index(fields=["status", "created_at"], name="task_unfinished",
                         condition=models.Q(status__in=TaskStatus.unfinished())),
            models.Index(fields=["retry_of"], name="task_retry_of", condition=models.Q(retry_of__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "idempotency_key"], condition=models.Q(idempotency_key__isnull=False),
                name="unique_idempotency_key_per_brand",
            )
        ]

    def __str__(self):
        return f"{self.task_type} {self.task_id} ({self.status})"

    @property
    def duration_ms(self) -> int | None:
        if self.started_at and self.completed_at:
            return int((self.completed_at - self.started_at).total_seconds() * 1000)
        return None


class TaskEvent(models.Model):
    """Append-only history of a task: each status transition, and notes such as an interruption."""

    task = models.ForeignKey(BaseTask, on_delete=models.CASCADE, related_name="events", verbose_name="task",
                             db_index=False)  # served by (task, id)
    from_status = models.CharField("from", max_length=16, blank=True, default="")
    to_status = models.CharField("to", max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name="actor", help_text="User who caused it; empty for workers and the system.", db_index=False,
    )
    worker = models.CharField("worker", max_length=255, blank=True, default="")
    detail = models.TextField("detail", blank=True, default="")
    created_at = models.DateTimeField("at", auto_now_add=True)

    class Meta:
        # Transitions of one task serialize on its row lock and take their event id while holding it, so
        # the id is the true order; created_at is read from the writer's clock before it got the lock.
        ordering = ["id"]
        indexes = [
            models.Index(fields=["task", "id"], name="taskevent_task_id"),
            models.Index(fields=["actor"], name="taskevent_actor", condition=models.Q(actor__isnull=False)),
        ]

    def __str__(self):
        return f"{self.task_id}: {self.from_status or '-'} -> {self.to_status}"


class TaskStatusCount(models.Model):
    """A brand's tasks in one status, as of the last compaction of the TaskStatusDelta rows
    (task_core.status_counts). Read together with the deltas not compacted yet."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+", verbose_name="brand",
                              db_index=False, help_text="The brand counted.")  # served by the unique constraint
    status = models.CharField("status", max_length=16, choices=TaskStatus.choices)
    count = models.BigIntegerField("count", default=0, help_text="Tasks of the brand in this status.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["brand", "status"], name="unique_status_count")]

    def __str__(self):
        return f"{self.brand_id} {self.status}: {self.count}"


class TaskStatusDelta(models.Model):
    """Append-only: `n` tasks of a brand moved from one status to another, written by each transition in
    its own statement (task_core.pg_writes / orm_writes) and folded into TaskStatusCount periodically.
    Appending never waits on another transition, where one counter row per brand and status would
    serialize them all."""

    id = models.BigAutoField(primary_key=True)
    # No foreign key constraint: its check would cost every transition a lookup of the brand.
    brand = models.ForeignKey(Brand, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                              related_name="+", verbose_name="brand", help_text="The brand of the tasks.")
    from_status = models.CharField("from", max_length=16, blank=True, default="",
                                   help_text="Empty for a creation.")
    to_status = models.CharField("to", max_length=16)
    n = models.IntegerField("tasks", default=1)

    def __str__(self):
        return f"{self.brand_id}: {self.n} {self.from_status or '-'} -> {self.to_status}"
