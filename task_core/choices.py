"""The enumerations of task_core: brand roles, task statuses, priorities and origins.

A module of their own, importing nothing of ours, so that models, querysets, the registry and the API
plumbing (megahub.api.scoping) all read them without an import cycle.
"""

from django.db import models


class BrandRole(models.TextChoices):
    """A member's role in a brand, weakest first: each role may do what the ones before it may."""

    VIEWER = "viewer", "Viewer"
    OPERATOR = "operator", "Operator"
    ADMIN = "admin", "Admin"


# 1 for viewer, 2 for operator, 3 for admin: the order of BrandRole.
ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(BrandRole.values, start=1)}


class TaskStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Retrying"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    INTERRUPTED = "interrupted", "Interrupted"

    @classmethod
    def finished(cls):
        return [cls.COMPLETED, cls.FAILED, cls.CANCELLED]

    @classmethod
    def unfinished(cls):
        return [s for s in cls.values if s not in cls.finished()]


class TaskPriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


# The broker priority level of each priority. Redis pops priority 0 first (kombu's priority_steps are
# scanned in ascending order).
PRIORITY_LEVELS: dict[str, int] = {TaskPriority.CRITICAL: 0, TaskPriority.HIGH: 3, TaskPriority.NORMAL: 6,
                                   TaskPriority.LOW: 9}


class TaskOrigin(models.TextChoices):
    API = "api", "API"
    ADMIN = "admin", "Admin"
    SCHEDULE = "schedule", "Schedule"
    RETRY = "retry", "Retry"
    RESUME = "resume", "Resume"
    SYSTEM = "system", "System"
