"""Enumerations of task_monitoring that querysets and models both use (no import cycle)."""

from django.db import models


class AlertState(models.TextChoices):
    PENDING = "pending", "Pending"
    FIRING = "firing", "Firing"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"

    @classmethod
    def open(cls):
        return [cls.PENDING, cls.FIRING, cls.ACKNOWLEDGED]
