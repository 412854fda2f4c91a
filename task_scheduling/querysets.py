"""Query intent of task_scheduling as named queryset methods."""

from django.db import models
from django.utils import timezone

from task_core.choices import TaskStatus

from .choices import RunOutcome, ScheduleKind, ScheduleStatus

# Task statuses during which a run blocks its schedule's overlap policy: every unfinished status but
# `interrupted` (nothing of such a run executes, and a run waiting for someone to resume it must not block
# the schedule forever; see docs/scheduling.md).
OVERLAP_BLOCKING_STATUSES = tuple(s for s in TaskStatus.unfinished() if s != TaskStatus.INTERRUPTED)


class ScheduleTemplateQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def active(self):
        return self.filter(is_active=True)

    def one_off(self):
        return self.filter(kind=ScheduleKind.DATE)


class ScheduleQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def active(self):
        return self.filter(status=ScheduleStatus.ACTIVE)

    def due(self, now=None):
        """Active schedules whose next run is now or past (and not paused)."""
        return self.active().filter(next_run_at__lte=now or timezone.now())

    def orphaned(self):
        """Schedules whose template is gone (deleted outside the services)."""
        return self.filter(periodic_task__isnull=True)


class ScheduledRunQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def blocking_overlap(self):
        """Runs whose task still occupies the schedule for its overlap policy (OVERLAP_BLOCKING_STATUSES).
        Unlike BaseTask's `unfinished()`, an `interrupted` run does not count."""
        return self.filter(task__status__in=OVERLAP_BLOCKING_STATUSES)

    def deferred(self):
        """Runs the "queue" overlap policy is holding back (no task yet)."""
        return self.filter(outcome=RunOutcome.DEFERRED, task__isnull=True)



class ScheduleEventQuerySet(models.QuerySet):
    def newest(self):
        return self.order_by("-created_at", "-id")
