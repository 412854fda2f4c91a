"""The enumerations of task_scheduling, apart from the models so querysets and validators import them
without a cycle."""

from django.db import models


class ScheduleKind(models.TextChoices):
    CRON = "cron", "Cron expression"
    INTERVAL = "interval", "Every N seconds"
    DATE = "date", "Once, at a date"
    MANUAL = "manual", "Manual only"


class OverlapPolicy(models.TextChoices):
    SKIP = "skip", "Skip while a run is unfinished"
    QUEUE = "queue", "Run once after the unfinished run ends"
    ALLOW = "allow", "Allow concurrent runs"


class MissedRunPolicy(models.TextChoices):
    SKIP = "skip", "Skip runs missed while Beat was down"
    RUN_ONCE = "run_once", "Run once for all missed runs"


class ScheduleStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    INACTIVE = "inactive", "Inactive"
    ERROR = "error", "Error"


class RunOutcome(models.TextChoices):
    FIRED = "fired", "Fired"
    MANUAL = "manual", "Run now"
    DEFERRED = "deferred", "Deferred until the unfinished run ends (overlap: queue)"
    SKIPPED_OVERLAP = "skipped_overlap", "Skipped: previous run unfinished"
    SKIPPED_CALENDAR = "skipped_calendar", "Skipped: calendar exclusion"
    MISSED = "missed", "Missed while Beat was down"
    ERROR = "error", "Could not create the task"


# The outcomes of a fire that created a task; every other outcome is a run without one (TASKLESS_OUTCOME).
OUTCOMES_WITH_TASK = (RunOutcome.FIRED, RunOutcome.MANUAL)



class EventType(models.TextChoices):
    REGISTERED = "registered", "Registered"
    STATUS_CHANGED = "status_changed", "Status changed"
    FIRED = "fired", "Fired"
    RUN_NOW = "run_now", "Run now"
    DEFERRED = "deferred", "Deferred"
    SKIPPED_OVERLAP = "skipped_overlap", "Skipped (overlap)"
    SKIPPED_CALENDAR = "skipped_calendar", "Skipped (calendar)"
    MISSED = "missed", "Missed"
    FAILED = "failed", "Run failed"
    CANCELLED = "cancelled", "Run cancelled"
    AUTO_PAUSED = "auto_paused", "Auto-paused"
    UPDATED = "updated", "Template updated"
