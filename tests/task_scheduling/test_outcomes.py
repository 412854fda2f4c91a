"""What a schedule records when a run ends (task_core's task_finished, whatever path finished it):
counts, auto-pause after consecutive failures, the release or drop of a run held back by overlap "queue"."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.choices import TaskStatus
from task_core.models import BaseTask
from task_core.pipeline import recovery
from task_core.state_machine import transition
from task_scheduling.firing import schedules_fire
from task_scheduling.models import ScheduledRun, ScheduleEvent
from task_scheduling.services import schedules

from .helpers import due_now, finish

pytestmark = pytest.mark.django_db


def test_deferred_run_is_dropped_when_the_schedule_was_paused_meanwhile(make_template):
    schedule = make_template(interval_seconds=10, overlap_policy="queue").schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first), (schedule.pk, first + timedelta(seconds=10))])
    schedules.schedule_pause(schedule=schedule)
    finish(ScheduledRun.objects.get(due_at=first).task, TaskStatus.COMPLETED)
    held = ScheduledRun.objects.get(due_at=first + timedelta(seconds=10))
    assert held.outcome == "skipped_overlap" and held.task is None and "paused" in held.detail
    assert BaseTask.objects.count() == 1


def test_deferred_run_starts_when_the_unfinished_run_is_cancelled(make_template):
    """task_core sends task_finished for a cancel through its service too: the deferred run is released."""
    from task_core.services import task_cancel

    schedule = make_template(interval_seconds=10, overlap_policy="queue").schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first), (schedule.pk, first + timedelta(seconds=10))])
    fired, held = ScheduledRun.objects.get(due_at=first), ScheduledRun.objects.get(due_at=first + timedelta(seconds=10))
    # the fire linked a task to one run only, which holds its status
    assert (fired.task_state, held.task_state) == (fired.task.status, "")
    task_cancel(task=fired.task)
    fired.refresh_from_db()
    held.refresh_from_db()
    assert fired.task_state == "cancelled"  # the executions lists' status=cancelled reads it
    assert held.outcome == "fired" and held.task is not None and held.task_state == held.task.status
    assert ScheduleEvent.objects.filter(schedule=schedule, event_type="cancelled").exists()


def test_auto_pause_after_consecutive_failures(make_template):
    schedule = make_template(interval_seconds=10, overlap_policy="allow", auto_pause_after=2).schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first), (schedule.pk, first + timedelta(seconds=10))])
    t1, t2 = [r.task for r in ScheduledRun.objects.order_by("due_at")]
    finish(t1, TaskStatus.FAILED)
    schedule.refresh_from_db()
    assert schedule.status == "active" and schedule.consecutive_failures == 1
    finish(t2, TaskStatus.FAILED)
    schedule.refresh_from_db()
    assert schedule.status == "paused" and schedule.failure_count == 2
    assert ScheduleEvent.objects.filter(schedule=schedule, event_type="auto_paused").exists()
    assert not BeatEntry.objects.get(name=schedule.beat_name).enabled


def test_a_run_the_reaper_gives_up_on_counts_toward_auto_pause(make_template, settings):
    """A run lost with its worker and given up by task_core's reaper is a failed run for the schedule."""
    settings.STUCK_TASK_GRACE_SECONDS = 0
    schedule = make_template(interval_seconds=10, auto_pause_after=1).schedules.get()
    schedules_fire(items=[(schedule.pk, due_now(schedule))])
    task = ScheduledRun.objects.get().task
    transition(task, TaskStatus.RUNNING, worker="gone@host")
    long_ago = timezone.now() - timedelta(days=2)
    BaseTask.objects.filter(pk=task.pk).update(started_at=long_ago, retry_count=task.max_retries)
    for _ in range(recovery.MAX_INTERRUPTIONS + 2):  # re-sent a few times, then given up
        recovery.reap_stuck(now=timezone.now())
        BaseTask.objects.filter(pk=task.pk, status__in=["queued", "pending", "interrupted"]).update(
            status="running", started_at=long_ago)
    task.refresh_from_db()
    assert task.status == "failed"
    schedule.refresh_from_db()
    assert schedule.failure_count == 1 and schedule.status == "paused"


def test_success_resets_the_failure_streak(make_template):
    schedule = make_template(interval_seconds=10, overlap_policy="allow", auto_pause_after=2).schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first + timedelta(seconds=10 * i)) for i in range(3)])
    t1, t2, t3 = [r.task for r in ScheduledRun.objects.order_by("due_at")]
    finish(t1, TaskStatus.FAILED)
    finish(t2, TaskStatus.COMPLETED)
    finish(t3, TaskStatus.FAILED)
    schedule.refresh_from_db()
    assert schedule.status == "active" and schedule.consecutive_failures == 1 and schedule.success_count == 1
