"""Templates (ScheduleTemplate), their registered instances (Schedule) in Beat, lifecycle history,
calendars, and the claim row (ScheduledRun) that links each due time of a schedule to at most one BaseTask.

The enumerations live in choices.py (imported here, so `task_scheduling.models.ScheduleStatus` still
names them)."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from megahub.timestamps import utc_iso
from task_core.choices import TaskPriority, TaskStatus
from task_core.models import BaseTask, Brand

from .choices import (
    EventType,
    MissedRunPolicy,
    OverlapPolicy,
    RunOutcome,
    ScheduleKind,
    ScheduleStatus,
)
from .querysets import (
    TASKLESS_OUTCOME,
    ScheduledRunQuerySet,
    ScheduleEventQuerySet,
    ScheduleQuerySet,
    ScheduleTemplateQuerySet,
)
from .timing import CalendarRules, Timing, normalize_cron


class TaskCalendar(models.Model):
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="task_calendars", verbose_name="brand",
                              help_text="The brand that owns the calendar.")
    name = models.CharField("name", max_length=120, help_text="Unique within the brand.")
    description = models.TextField("description", blank=True, default="", help_text="Free text for operators.")
    timezone = models.CharField("timezone", max_length=64, default="UTC",
                                help_text="IANA timezone the dates and windows are read in.")
    excluded_dates = models.JSONField("excluded dates", default=list, blank=True,
                                      help_text='Dates on which nothing runs, e.g. ["2025-12-25"].')
    blackout_windows = models.JSONField(
        "blackout windows", default=list, blank=True,
        help_text='Weekly windows: [{"days": [0..6] (Monday=0), "start": "HH:MM", "end": "HH:MM"}]; '
                  "end <= start crosses midnight.",
    )
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["brand", "name"], name="unique_calendar_name_per_brand")]

    def __str__(self):
        return self.name

    def rules(self):
        return CalendarRules.from_values(self.timezone, self.excluded_dates, self.blackout_windows)


class ScheduleTemplate(models.Model):
    """The template ("config"): what to run and when. Its registered instances are Schedules. (The API
    calls it a periodic task: /tasks/scheduled/periodic-tasks/.)"""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="schedule_templates", verbose_name="brand",
                              help_text="The brand that owns the template.")
    name = models.CharField("name", max_length=200, help_text="Unique within the brand.")
    description = models.TextField("description", blank=True, default="", help_text="Free text for operators.")
    task_type = models.CharField("task type", max_length=120, help_text="A registered task type.")
    parameters = models.JSONField("parameters", default=dict, blank=True,
                                  help_text="Parameters, validated against the task type's schema.")
    kind = models.CharField("kind", max_length=16, choices=ScheduleKind.choices, default=ScheduleKind.CRON,
                            help_text="cron, interval, one-off date, or manual only.")
    cron_expression = models.CharField("cron expression", max_length=120, blank=True, default="",
                                       help_text="5 fields or an alias such as @daily (kind cron).")
    interval_seconds = models.PositiveIntegerField("interval (s)", null=True, blank=True,
                                                   help_text="Seconds between runs (kind interval).")
    run_at = models.DateTimeField("run at", null=True, blank=True, help_text="When a one-off runs (kind date).")
    timezone = models.CharField("timezone", max_length=64, default="UTC",
                                help_text="IANA timezone the cron expression is read in.")
    calendar = models.ForeignKey(TaskCalendar, on_delete=models.SET_NULL, null=True, blank=True,
                                 related_name="schedule_templates", verbose_name="calendar",
                                 help_text="Exclusions: fires inside them are skipped and recorded.")
    priority = models.CharField("priority", max_length=16, choices=TaskPriority.choices, default=TaskPriority.NORMAL,
                                help_text="Priority of the tasks it creates.")
    max_retries = models.PositiveIntegerField("max retries", null=True, blank=True,
                                              help_text="Retries of each run; empty: the task type's default.")
    timeout_seconds = models.PositiveIntegerField("timeout (s)", null=True, blank=True,
                                                  help_text="Timeout of each run; empty: the task type's default.")
    queue = models.CharField("queue", max_length=64, blank=True, default="",
                             help_text="Broker queue of the runs; empty: the task type's default.")
    overlap_policy = models.CharField("overlap policy", max_length=16, choices=OverlapPolicy.choices,
                                      default=OverlapPolicy.SKIP,
                                      help_text="What a fire does while a run of the same schedule is unfinished.")
    missed_run_policy = models.CharField("missed-run policy", max_length=16, choices=MissedRunPolicy.choices,
                                         default=MissedRunPolicy.SKIP,
                                         help_text="What happens to runs that fell due while Beat was down.")
    auto_pause_after = models.PositiveSmallIntegerField(
        "auto-pause after", default=0, help_text="Pause a schedule after this many consecutive failed runs; 0 = off.")
    is_active = models.BooleanField("active", default=True, help_text="Inactive templates fire nothing.")
    connection_id = models.PositiveIntegerField(
        "connection id", null=True, blank=True, db_index=True,
        help_text="The client's own connection id (the scheduler API v1 keeps and filters by it); not ours to read.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name="created by", help_text="Who created it.")
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)

    objects = ScheduleTemplateQuerySet.as_manager()

    class Meta:
        verbose_name = "schedule template"
        ordering = ["name", "id"]
        constraints = [models.UniqueConstraint(fields=["brand", "name"], name="unique_periodic_task_name_per_brand")]

    def __str__(self):
        return self.name

    def timing(self, anchor=None):
        if self.kind == ScheduleKind.CRON:
            return Timing(kind="cron", cron=normalize_cron(self.cron_expression), tz=self.timezone)
        if self.kind == ScheduleKind.INTERVAL:
            return Timing(kind="interval", every=self.interval_seconds, anchor=anchor, tz=self.timezone)
        if self.kind == ScheduleKind.DATE:
            return Timing(kind="date", run_at=self.run_at, tz=self.timezone)
        return Timing(kind="manual", tz=self.timezone)

    def config(self) -> dict:
        """The configuration a schedule snapshots at registration."""
        return {
            "name": self.name, "task_type": self.task_type, "parameters": self.parameters, "kind": self.kind,
            "cron_expression": self.cron_expression, "interval_seconds": self.interval_seconds,
            "run_at": utc_iso(self.run_at), "timezone": self.timezone,
            "calendar_id": self.calendar_id, "priority": self.priority, "max_retries": self.max_retries,
            "timeout_seconds": self.timeout_seconds, "queue": self.queue, "overlap_policy": self.overlap_policy,
            "missed_run_policy": self.missed_run_policy, "auto_pause_after": self.auto_pause_after,
        }


class Schedule(models.Model):
    """A registered instance of a template in Beat: one django-celery-beat row while it exists."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="schedules", verbose_name="brand",
                              help_text="The brand that owns the schedule.")
    periodic_task = models.ForeignKey(
        ScheduleTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="schedules",
        verbose_name="template", help_text="The template; empty when it was deleted outside the API (an orphan).")
    label = models.CharField("label", max_length=200, blank=True, default="", help_text="Optional name.")
    status = models.CharField("status", max_length=16, choices=ScheduleStatus.choices, default=ScheduleStatus.ACTIVE,
                              help_text="active fires; paused keeps config and history; inactive is done.")
    parameter_overrides = models.JSONField("parameter overrides", default=dict, blank=True,
                                           help_text="Merged over the template's parameters at each run.")
    snapshot = models.JSONField("snapshot", default=dict, blank=True,
                                help_text="The template's configuration when this schedule was registered.")
    beat_name = models.CharField("beat entry", max_length=200, unique=True, null=True, blank=True,
                                 help_text="Name of its django-celery-beat PeriodicTask row.")
    anchor_at = models.DateTimeField("anchor", null=True, blank=True,
                                     help_text="Interval schedules fire at anchor + k × interval.")
    next_run_at = models.DateTimeField("next run", null=True, blank=True, db_index=True,
                                       help_text="Next due time (UTC); empty when paused or done.")
    last_run_at = models.DateTimeField("last run", null=True, blank=True, help_text="Last due time that fired.")
    run_count = models.PositiveIntegerField("runs", default=0, help_text="Fires that created a task.")
    success_count = models.PositiveIntegerField("successes", default=0, help_text="Runs that completed.")
    failure_count = models.PositiveIntegerField("failures", default=0, help_text="Runs that failed.")
    skip_count = models.PositiveIntegerField("skips", default=0, help_text="Fires skipped (overlap, calendar, missed).")
    consecutive_failures = models.PositiveIntegerField("consecutive failures", default=0,
                                                       help_text="Failed runs in a row; drives auto-pause.")
    error_message = models.TextField("error", blank=True, default="", help_text="Why it is in error, if it is.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", verbose_name="created by", help_text="Who registered it.")
    created_at = models.DateTimeField("created at", auto_now_add=True)
    updated_at = models.DateTimeField("updated at", auto_now=True)

    objects = ScheduleQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["brand", "status"], name="schedule_brand_status")]

    def __str__(self):
        return f"schedule {self.pk} of {self.periodic_task or '(deleted template)'} ({self.status})"


class ScheduleEvent(models.Model):
    """Lifecycle history of a schedule, trimmed to the newest SCHEDULING_EVENTS_KEPT per schedule."""

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="events", verbose_name="schedule",
                                 help_text="The schedule this happened to.")
    event_type = models.CharField("event", max_length=32, choices=EventType.choices, help_text="What happened.")
    from_status = models.CharField("from", max_length=16, blank=True, default="", help_text="Status before.")
    to_status = models.CharField("to", max_length=16, blank=True, default="", help_text="Status after.")
    due_at = models.DateTimeField("due at", null=True, blank=True, help_text="The due time concerned, if any.")
    task_id = models.UUIDField("task id", null=True, blank=True, help_text="The task created, if any.")
    detail = models.TextField("detail", blank=True, default="", help_text="Human-readable detail.")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+", verbose_name="actor", help_text="User who caused it, if any.")
    created_at = models.DateTimeField("at", auto_now_add=True)

    objects = ScheduleEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["schedule", "-id"], name="schedevent_schedule_id")]

    def __str__(self):
        return f"{self.schedule_id}: {self.event_type}"


class ScheduledRun(models.Model):
    """One due time of one schedule: the claim that makes a fire happen at most once, and the link from
    the BaseTask it created back to its schedule and template (SET NULL: history outlives both)."""

    # No single-column index on the foreign keys: the composite indexes below start with each of them.
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="scheduled_runs", verbose_name="brand",
                              db_index=False, help_text="The brand of the run.")
    schedule = models.ForeignKey(Schedule, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs",
                                 verbose_name="schedule", db_index=False,
                                 help_text="The schedule that fired (empty once deleted).")
    periodic_task = models.ForeignKey(ScheduleTemplate, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="runs", verbose_name="template", db_index=False,
                                      help_text="The template (empty once deleted).")
    task = models.OneToOneField(BaseTask, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="scheduled_run", verbose_name="task",
                                help_text="The task this run created, if any.")
    due_at = models.DateTimeField("due at", help_text="The due time (UTC) this run is for.")
    outcome = models.CharField("outcome", max_length=20, choices=RunOutcome.choices, help_text="What the fire did.")
    detail = models.CharField("detail", max_length=255, blank=True, default="", help_text="Why it was skipped.")
    task_state = models.CharField(
        "task state", max_length=20, blank=True, default="", choices=TaskStatus.choices,
        help_text="Its task's status, copied by database triggers whenever it changes (status_sync); empty "
                  "for a run that never had a task. What the executions lists filter on.")
    claim_token = models.UUIDField("claim token", default=uuid.uuid4, db_index=True,
                                   help_text="Which firing inserted this claim (to read back the ones it won).")
    created_at = models.DateTimeField("created at", auto_now_add=True)

    objects = ScheduledRunQuerySet.as_manager()

    class Meta:
        ordering = ["-due_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="unique_run_per_schedule_due")]
        # The lists' order (newest due time first) per brand and per template: docs/architecture.md, "Reads
        # at scale".
        indexes = [
            models.Index(fields=["brand", "-due_at", "-id"], name="schedrun_brand_due"),
            models.Index(fields=["periodic_task", "-due_at", "-id"], name="schedrun_template_due_id"),
            models.Index(fields=["schedule", "outcome"], name="schedrun_schedule_outcome"),
            # The status filters: a task status by the run's copy of it (task_state), an outcome that
            # created no task by the few runs that have one.
            models.Index(fields=["brand", "task_state", "-due_at", "-id"], name="schedrun_brand_state",
                         condition=Q(task__isnull=False)),
            models.Index(fields=["periodic_task", "task_state", "-due_at", "-id"],
                         name="schedrun_template_state", condition=Q(task__isnull=False)),
            models.Index(fields=["brand", "outcome", "-due_at", "-id"], name="schedrun_brand_taskless",
                         condition=TASKLESS_OUTCOME),
            models.Index(fields=["periodic_task", "outcome", "-due_at", "-id"], name="schedrun_template_taskless",
                         condition=TASKLESS_OUTCOME),
        ]

    def __str__(self):
        return f"{self.schedule_id}@{self.due_at:%Y-%m-%d %H:%M:%S}: {self.outcome}"
