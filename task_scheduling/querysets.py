"""Query intent of task_scheduling as named queryset methods."""

from django.db import models
from django.utils import timezone

from task_core.choices import TaskStatus

from .choices import OUTCOMES_WITH_TASK, RunOutcome, ScheduleKind, ScheduleStatus

# Task statuses during which a run blocks its schedule's overlap policy: every unfinished status but
# `interrupted` (nothing of such a run executes, and a run waiting for someone to resume it must not block
# the schedule forever; see docs/scheduling.md).
OVERLAP_BLOCKING_STATUSES = tuple(s for s in TaskStatus.unfinished() if s != TaskStatus.INTERRUPTED)

# Runs whose fire created no task (skipped, missed, deferred, error): the predicate of their partial indexes,
# which a filter on such an outcome repeats word for word so that PostgreSQL uses them.
TASKLESS_OUTCOME = ~models.Q(outcome__in=OUTCOMES_WITH_TASK)


def _one_of(field: str, values) -> dict:
    """`field = v` for one value (so PostgreSQL reads an index range in its order), `field IN (...)` else."""
    values = list(values)
    return {field: values[0]} if len(values) == 1 else {f"{field}__in": values}


def run_task_status_in(statuses) -> models.Q:
    """Runs whose task is in one of `statuses`: read on the run's copy of its task's status (task_state,
    status_sync), a range of the (brand or template, task_state, -due_at, -id) index of runs with a task,
    in the lists' order."""
    return models.Q(task__isnull=False, **_one_of("task_state", statuses))


def run_outcome_in(outcomes) -> models.Q:
    """Runs whose fire had one of `outcomes`; outcomes that create no task (skipped, missed, deferred, error)
    through the partial indexes of such runs."""
    condition = models.Q(**_one_of("outcome", outcomes))
    return condition if any(o in OUTCOMES_WITH_TASK for o in outcomes) else condition & TASKLESS_OUTCOME


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
        Unlike BaseTask's `unfinished()`, an `interrupted` run does not count. Read on the run's copy of its
        task's status (task_state, status_sync): no join to the tasks."""
        return self.filter(task__isnull=False, task_state__in=OVERLAP_BLOCKING_STATUSES)

    def deferred(self):
        """Runs the "queue" overlap policy is holding back (no task yet)."""
        return self.filter(outcome=RunOutcome.DEFERRED, task__isnull=True)



class ScheduleEventQuerySet(models.QuerySet):
    def newest(self):
        return self.order_by("-created_at", "-id")
