"""The dispatcher on the real database: exactly-once claims, calendar, overlap, missed runs, auto-pause,
one-off completion and the event cap."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.models import BaseTask, TaskStatus
from task_core.state_machine import transition
from task_scheduling import services
from task_scheduling.models import Schedule, ScheduledRun, ScheduleEvent

pytestmark = pytest.mark.django_db


def due_now(schedule):
    """A due time on the schedule's grid, a few seconds ago."""
    return schedule.periodic_task.timing(anchor=schedule.anchor_at).latest_at_or_before(timezone.now())


def finish(task, status):
    transition(task, TaskStatus.RUNNING)
    transition(task, status)
    services.schedule_record_outcome(task=task, status=status)


def test_same_due_time_twice_gives_one_task(make_template):
    schedule = make_template(interval_seconds=60).schedules.get()
    schedule.anchor_at -= timedelta(seconds=61)
    Schedule.objects.filter(pk=schedule.pk).update(anchor_at=schedule.anchor_at)
    due = due_now(schedule)
    first = services.schedule_dispatch(items=[(schedule.pk, due)])
    second = services.schedule_dispatch(items=[(schedule.pk, due), (schedule.pk, due)])
    assert first["fired"] == 1 and second == {"fired": 0, "skipped": 0, "duplicates": 1}
    run = ScheduledRun.objects.get()
    assert run.task.origin == "schedule" and run.task.context_data == {"message": "hi"}
    schedule.refresh_from_db()
    assert schedule.run_count == 1 and schedule.last_run_at == due
    assert BeatEntry.objects.get(name=schedule.beat_name).last_run_at == due


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_claim_each_due_time_once(make_template):
    schedules = [make_template(interval_seconds=60, name=f"c{i}").schedules.get() for i in range(20)]
    items = [(s.pk, due_now(s)) for s in schedules]
    results, barrier = [], threading.Barrier(2)

    def run():
        barrier.wait()
        try:
            results.append(services.schedule_dispatch(items=items))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(r["fired"] for r in results) == [0, 20] or sum(r["fired"] for r in results) == 20
    assert BaseTask.objects.count() == 20 == ScheduledRun.objects.count()


def test_overrides_are_merged_into_the_parameters(make_template):
    template = make_template()
    extra = services.schedule_create(template=template, parameter_overrides={"message": "override"})
    services.schedule_dispatch(items=[(extra.pk, due_now(extra))])
    assert ScheduledRun.objects.get(schedule=extra).task.context_data == {"message": "override"}


def test_calendar_exclusion_is_skipped_and_recorded(make_template, brand):
    today = timezone.now().date()
    cal = services.calendar_create(brand=brand, name="off", excluded_dates=[
        (today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)])
    schedule = make_template(calendar=cal).schedules.get()
    services.schedule_dispatch(items=[(schedule.pk, due_now(schedule))])
    run = ScheduledRun.objects.get()
    assert run.outcome == "skipped_calendar" and run.task is None and not BaseTask.objects.exists()
    assert ScheduleEvent.objects.filter(schedule=schedule, event_type="skipped_calendar").exists()
    schedule.refresh_from_db()
    assert schedule.skip_count == 1 and schedule.run_count == 0


@pytest.mark.parametrize("policy,outcomes", [
    ("skip", ["fired", "skipped_overlap"]), ("allow", ["fired", "fired"]), ("queue", ["fired", "deferred"])])
def test_overlap_policies(make_template, policy, outcomes):
    schedule = make_template(interval_seconds=10, overlap_policy=policy).schedules.get()
    first = due_now(schedule)
    services.schedule_dispatch(items=[(schedule.pk, first)])
    services.schedule_dispatch(items=[(schedule.pk, first + timedelta(seconds=10))])
    assert list(ScheduledRun.objects.order_by("due_at").values_list("outcome", flat=True)) == outcomes
    if policy == "queue":
        # A third fire while one is deferred is skipped; when the run ends, the deferred run starts.
        services.schedule_dispatch(items=[(schedule.pk, first + timedelta(seconds=20))])
        assert ScheduledRun.objects.filter(outcome="skipped_overlap").count() == 1
        finish(ScheduledRun.objects.get(due_at=first).task, TaskStatus.COMPLETED)
        released = ScheduledRun.objects.get(due_at=first + timedelta(seconds=10))
        assert released.outcome == "fired" and released.task is not None


@pytest.mark.parametrize("policy,outcome", [("skip", "missed"), ("run_once", "fired")])
def test_missed_run_policy(make_template, policy, outcome):
    schedule = make_template(interval_seconds=60, missed_run_policy=policy).schedules.get()
    old = due_now(schedule) - timedelta(minutes=10)
    services.schedule_dispatch(items=[(schedule.pk, old)])
    assert ScheduledRun.objects.get().outcome == outcome
    assert BaseTask.objects.count() == (1 if outcome == "fired" else 0)


def test_auto_pause_after_consecutive_failures(make_template):
    schedule = make_template(interval_seconds=10, overlap_policy="allow", auto_pause_after=2).schedules.get()
    first = due_now(schedule)
    services.schedule_dispatch(items=[(schedule.pk, first), (schedule.pk, first + timedelta(seconds=10))])
    t1, t2 = [r.task for r in ScheduledRun.objects.order_by("due_at")]
    finish(t1, TaskStatus.FAILED)
    schedule.refresh_from_db()
    assert schedule.status == "active" and schedule.consecutive_failures == 1
    finish(t2, TaskStatus.FAILED)
    schedule.refresh_from_db()
    assert schedule.status == "paused" and schedule.failure_count == 2
    assert ScheduleEvent.objects.filter(schedule=schedule, event_type="auto_paused").exists()
    assert not BeatEntry.objects.get(name=schedule.beat_name).enabled


def test_success_resets_the_failure_streak(make_template):
    schedule = make_template(interval_seconds=10, overlap_policy="allow", auto_pause_after=2).schedules.get()
    first = due_now(schedule)
    services.schedule_dispatch(items=[(schedule.pk, first + timedelta(seconds=10 * i)) for i in range(3)])
    t1, t2, t3 = [r.task for r in ScheduledRun.objects.order_by("due_at")]
    finish(t1, TaskStatus.FAILED)
    finish(t2, TaskStatus.COMPLETED)
    finish(t3, TaskStatus.FAILED)
    schedule.refresh_from_db()
    assert schedule.status == "active" and schedule.consecutive_failures == 1 and schedule.success_count == 1


def test_one_off_becomes_inactive_after_firing(make_template):
    template = make_template(kind="date", run_at=timezone.now() + timedelta(seconds=30), interval_seconds=None)
    schedule = template.schedules.get()
    services.schedule_dispatch(items=[(schedule.pk, template.run_at)], now=template.run_at)
    schedule.refresh_from_db()
    assert schedule.status == "inactive" and ScheduledRun.objects.get().outcome == "fired"
    assert not BeatEntry.objects.get(name=schedule.beat_name).enabled


def test_paused_schedule_does_not_fire(make_template):
    schedule = make_template().schedules.get()
    services.schedule_pause(schedule=schedule)
    assert services.schedule_dispatch(items=[(schedule.pk, due_now(schedule))])["fired"] == 0
    assert not ScheduledRun.objects.exists()


def test_events_are_capped_to_the_newest(make_template, settings):
    settings.SCHEDULING_EVENTS_KEPT = 5
    schedule = make_template(interval_seconds=10, overlap_policy="allow").schedules.get()
    first = due_now(schedule)
    for i in range(8):
        services.schedule_dispatch(items=[(schedule.pk, first + timedelta(seconds=10 * i))])
    events = list(ScheduleEvent.objects.filter(schedule=schedule).order_by("id"))
    assert len(events) == 5 and all(e.event_type == "fired" for e in events)
    assert events[-1].due_at == first + timedelta(seconds=70)


def test_stock_fire_task_path_uses_the_same_due_time(make_template):
    schedule = make_template(interval_seconds=60).schedules.get()
    services.schedule_fire(schedule_id=schedule.pk)
    services.schedule_fire(schedule_id=schedule.pk)
    assert ScheduledRun.objects.get().due_at == due_now(schedule)
    assert services.schedule_dispatch(items=[(schedule.pk, due_now(schedule))])["duplicates"] == 1
