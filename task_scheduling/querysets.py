"""Query intent of task_scheduling as named queryset methods."""

from django.db import models
from django.utils import timezone

# Task statuses during which a run counts as unfinished for the overlap policy.
OVERLAP_BUSY = ("pending", "queued", "running", "retrying")


class PeriodicTaskQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def active(self):
        return self.filter(is_active=True)

    def one_off(self):
        return self.filter(kind="date")


class ScheduleQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def active(self):
        return self.filter(status="active")

    def due(self, now=None):
        """Active schedules whose next run is now or past (and not paused)."""
        return self.active().filter(next_run_at__lte=now or timezone.now())

    def orphaned(self):
        """Schedules whose template is gone (deleted outside the services)."""
        return self.filter(periodic_task__isnull=True)


class ScheduledRunQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def unfinished(self):
        """Runs whose task still occupies the schedule for its overlap policy: pending, queued, running or
        retrying. `interrupted` does not count: nothing of it executes, and a run waiting for someone to
        resume it must not block the schedule forever (see docs/scheduling.md)."""
        return self.filter(task__status__in=OVERLAP_BUSY)

    def deferred(self):
        """Runs the "queue" overlap policy is holding back (no task yet)."""
        return self.filter(outcome="deferred", task__isnull=True)

    def with_task(self):
        return self.select_related("task", "schedule")


class ScheduleEventQuerySet(models.QuerySet):
    def newest(self):
        return self.order_by("-created_at", "-id")
