"""Helpers of the firing and outcome tests."""

from datetime import timedelta

from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.choices import TaskStatus
from task_core.state_machine import transition
from task_scheduling.models import Schedule, ScheduledRun


def registered_ago(schedule, seconds):
    """Pretend the schedule was registered `seconds` ago (anchor and Beat row move back together)."""
    schedule.anchor_at -= timedelta(seconds=seconds)
    Schedule.objects.filter(pk=schedule.pk).update(anchor_at=schedule.anchor_at)
    BeatEntry.objects.filter(name=schedule.beat_name).update(last_run_at=schedule.anchor_at,
                                                             start_time=schedule.anchor_at)
    return schedule


def due_now(schedule):
    """A due time on the schedule's grid, at most one interval ago."""
    return schedule.periodic_task.timing(anchor=schedule.anchor_at).latest_at_or_before(timezone.now())


def finish(task, status, **fields):
    """Run and end a task through core's state machine: it sends task_finished, which the schedule hears."""
    transition(task, TaskStatus.RUNNING)
    transition(task, status, **fields)


def outcomes(schedule=None):
    runs = ScheduledRun.objects.filter(schedule=schedule) if schedule else ScheduledRun.objects.all()
    return list(runs.order_by("due_at").values_list("outcome", flat=True))


def run_of(task=None, **fields) -> ScheduledRun:
    """A run of `task` (or of none), linked as a fire links it (the run takes its task's status:
    status_sync)."""
    run = ScheduledRun.objects.create(task=task, **fields)
    run.refresh_from_db()
    return run
