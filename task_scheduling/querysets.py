"""Query intent of task_scheduling as named queryset methods."""

from django.db import models
from django.utils import timezone


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
        from task_core.models import TaskStatus

        return self.filter(task__status__in=TaskStatus.unfinished())

    def with_task(self):
        return self.select_related("task", "schedule")


class ScheduleEventQuerySet(models.QuerySet):
    def newest(self):
        return self.order_by("-created_at", "-id")
