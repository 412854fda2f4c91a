"""Firing on the real database: exactly-once claims, calendar, overlap, missed runs, one-off completion,
per-item isolation and the event cap."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.choices import TaskStatus
from task_core.models import BaseTask
from task_core.state_machine import transition
from task_scheduling.firing import Item, schedule_fire, schedules_fire
from task_scheduling.models import ScheduledRun, ScheduleEvent, ScheduleTemplate
from task_scheduling.services import calendars, schedules

from .helpers import due_now, finish, outcomes, registered_ago

pytestmark = pytest.mark.django_db


def test_same_due_time_twice_gives_one_task(make_template):
    schedule = registered_ago(make_template(interval_seconds=60).schedules.get(), 61)
    due = due_now(schedule)
    first = schedules_fire(items=[(schedule.pk, due)])
    second = schedules_fire(items=[(schedule.pk, due), (schedule.pk, due)])
    assert first["fired"] == 1 and second == {"fired": 0, "skipped": 0, "duplicates": 1, "ignored": 0}
    run = ScheduledRun.objects.get()
    assert run.task.origin == "schedule" and run.task.context_data == {"message": "hi"}
    schedule.refresh_from_db()
    assert schedule.run_count == 1 and schedule.last_run_at == due
    assert BeatEntry.objects.get(name=schedule.beat_name).last_run_at == due


def test_out_of_order_dispatches_never_move_last_run_backwards(make_template):
    schedule = registered_ago(make_template(interval_seconds=10, overlap_policy="allow").schedules.get(), 30)
    later = due_now(schedule)
    schedules_fire(items=[(schedule.pk, later)])
    schedules_fire(items=[(schedule.pk, later - timedelta(seconds=10))])
    schedule.refresh_from_db()
    assert schedule.run_count == 2 and schedule.last_run_at == later
    assert BeatEntry.objects.get(name=schedule.beat_name).last_run_at == later


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_claim_each_due_time_once(make_template):
    schedules = [make_template(interval_seconds=60, name=f"c{i}").schedules.get() for i in range(20)]
    items = [(s.pk, due_now(s)) for s in schedules]
    results = _in_threads([lambda: schedules_fire(items=items)] * 2)
    assert sum(r["fired"] for r in results) == 20 and sum(r["duplicates"] for r in results) == 20
    assert BaseTask.objects.count() == 20 == ScheduledRun.objects.count()


def _in_threads(funcs):
    results, barrier = [], threading.Barrier(len(funcs))

    def run(func):
        barrier.wait()
        try:
            results.append(func())
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(f,)) for f in funcs]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(results) == len(funcs), "a dispatcher thread failed"
    return results


@pytest.mark.django_db(transaction=True)
def test_overlap_skip_holds_for_concurrent_dispatches_of_two_due_times(make_template):
    """Two dispatches of different due times of the same schedule at once: one runs, the other sees it
    (the schedule rows are locked and the overlap rule is decided under the lock)."""
    schedules = [registered_ago(make_template(interval_seconds=10, name=f"o{i}").schedules.get(), 30)
                 for i in range(5)]
    first = [(s.pk, due_now(s) - timedelta(seconds=10)) for s in schedules]
    second = [(s.pk, due_now(s)) for s in schedules]
    _in_threads([lambda: schedules_fire(items=first), lambda: schedules_fire(items=second)])
    for s in schedules:
        assert sorted(outcomes(s)) == ["fired", "skipped_overlap"], outcomes(s)
    assert BaseTask.objects.count() == 5


def test_overrides_are_merged_into_the_parameters(make_template):
    template = make_template()
    extra = schedules.schedule_create(template=template, parameter_overrides={"message": "override"})
    schedules_fire(items=[(extra.pk, due_now(extra))])
    assert ScheduledRun.objects.get(schedule=extra).task.context_data == {"message": "override"}


def test_calendar_exclusion_is_skipped_and_recorded(make_template, brand):
    today = timezone.now().date()
    cal = calendars.calendar_create(brand=brand, name="off", excluded_dates=[
        (today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)])
    schedule = make_template(calendar=cal).schedules.get()
    schedules_fire(items=[(schedule.pk, due_now(schedule))])
    run = ScheduledRun.objects.get()
    assert run.outcome == "skipped_calendar" and run.task is None and not BaseTask.objects.exists()
    assert ScheduleEvent.objects.filter(schedule=schedule, event_type="skipped_calendar").exists()
    schedule.refresh_from_db()
    assert schedule.skip_count == 1 and schedule.run_count == 0


@pytest.mark.parametrize("policy,expected", [
    ("skip", ["fired", "skipped_overlap"]), ("allow", ["fired", "fired"]), ("queue", ["fired", "deferred"])])
def test_overlap_policies(make_template, policy, expected):
    schedule = make_template(interval_seconds=10, overlap_policy=policy).schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first)])
    schedules_fire(items=[(schedule.pk, first + timedelta(seconds=10))])
    assert outcomes() == expected
    if policy == "queue":
        # A third fire while one is deferred is skipped; when the run ends, the deferred run starts.
        schedules_fire(items=[(schedule.pk, first + timedelta(seconds=20))])
        assert ScheduledRun.objects.filter(outcome="skipped_overlap").count() == 1
        finish(ScheduledRun.objects.get(due_at=first).task, TaskStatus.COMPLETED)
        released = ScheduledRun.objects.get(due_at=first + timedelta(seconds=10))
        assert released.outcome == "fired" and released.task is not None
        schedule.refresh_from_db()
        assert schedule.run_count == 2


def test_a_deferred_run_left_behind_is_superseded_by_the_next_due_time(make_template):
    """The unfinished run was interrupted (nothing of it runs; it may wait for a manual resume): it no
    longer blocks the schedule, and the run it held back gives way to the next due time."""
    schedule = make_template(interval_seconds=10, overlap_policy="queue").schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first), (schedule.pk, first + timedelta(seconds=10))])
    task = ScheduledRun.objects.get(due_at=first).task
    transition(task, TaskStatus.RUNNING)
    transition(task, TaskStatus.INTERRUPTED)
    schedules_fire(items=[(schedule.pk, first + timedelta(seconds=20))])
    assert outcomes() == ["fired", "skipped_overlap", "fired"]
    assert "superseded" in ScheduledRun.objects.get(due_at=first + timedelta(seconds=10)).detail


def test_missed_run_policy(make_template):
    for policy, expected in (("skip", "missed"), ("run_once", "fired")):
        schedule = registered_ago(make_template(interval_seconds=60, missed_run_policy=policy).schedules.get(), 900)
        old = schedule.anchor_at + timedelta(minutes=5)  # 10 minutes ago
        assert schedules_fire(items=[Item(schedule.pk, old, timezone.now())])["ignored"] == 0
        assert outcomes(schedule) == [expected]
    assert BaseTask.objects.count() == 1


def test_an_on_time_fire_that_waited_in_a_busy_queue_is_not_missed(make_template):
    """Lateness is measured from when Beat found the schedule due (sent_at), not from when a worker got to
    the message."""
    schedule = registered_ago(make_template(interval_seconds=60, missed_run_policy="skip").schedules.get(), 900)
    due = schedule.anchor_at + timedelta(minutes=5)
    result = schedules_fire(items=[Item(schedule.pk, due, due + timedelta(seconds=1))], now=timezone.now())
    assert result["fired"] == 1 and outcomes(schedule) == ["fired"]


def test_collapsed_due_times_are_recorded_as_missed(make_template):
    schedule = registered_ago(make_template(interval_seconds=60).schedules.get(), 600)
    due = due_now(schedule)
    schedules_fire(items=[Item(schedule.pk, due, timezone.now(), schedule.anchor_at)])
    event = ScheduleEvent.objects.get(schedule=schedule, event_type="missed")
    assert event.detail.startswith("9 earlier due time(s)")
    schedule.refresh_from_db()
    assert schedule.run_count == 1 and schedule.skip_count == 9


def test_a_due_time_off_the_schedule_grid_is_refused(make_template):
    schedule = make_template(interval_seconds=60).schedules.get()
    result = schedules_fire(items=[(schedule.pk, due_now(schedule) + timedelta(seconds=7))])
    assert result == {"fired": 0, "skipped": 0, "duplicates": 0, "ignored": 1}
    assert not ScheduledRun.objects.exists() and not BaseTask.objects.exists()


def test_one_bad_item_does_not_sink_the_batch(make_template, other_brand, operator):
    good = make_template(name="good").schedules.get()
    other = make_template(name="other", brand=other_brand).schedules.get()
    bad = make_template(name="bad").schedules.get()
    # Parameters edited behind the services' back no longer validate against the task type's schema.
    ScheduleTemplate.objects.filter(pk=bad.periodic_task_id).update(parameters={"message": 42})
    result = schedules_fire(items=[(s.pk, due_now(s)) for s in (good, other, bad)])
    assert result["fired"] == 2 and result["skipped"] == 1
    assert outcomes(good) == ["fired"] and outcomes(other) == ["fired"] and outcomes(bad) == ["error"]
    bad.refresh_from_db()
    assert bad.status == "error" and "message" in bad.error_message
    assert not BeatEntry.objects.get(name=bad.beat_name).enabled
    assert ScheduleEvent.objects.filter(schedule=bad, event_type="failed").exists()


def test_one_off_becomes_inactive_after_firing(make_template):
    template = make_template(kind="date", run_at=timezone.now() + timedelta(seconds=30), interval_seconds=None)
    schedule = template.schedules.get()
    schedules_fire(items=[(schedule.pk, template.run_at)], now=template.run_at)
    schedule.refresh_from_db()
    assert schedule.status == "inactive" and outcomes() == ["fired"]
    assert not BeatEntry.objects.get(name=schedule.beat_name).enabled


def test_paused_schedule_does_not_fire(make_template):
    schedule = make_template().schedules.get()
    schedules.schedule_pause(schedule=schedule)
    assert schedules_fire(items=[(schedule.pk, due_now(schedule))])["fired"] == 0
    assert not ScheduledRun.objects.exists()


def test_events_are_capped_to_the_newest(make_template, settings):
    settings.SCHEDULING_EVENTS_KEPT = 5
    schedule = make_template(interval_seconds=10, overlap_policy="allow").schedules.get()
    first = due_now(schedule)
    for i in range(8):
        schedules_fire(items=[(schedule.pk, first + timedelta(seconds=10 * i))])
    events = list(ScheduleEvent.objects.filter(schedule=schedule).order_by("id"))
    assert len(events) == 5 and all(e.event_type == "fired" for e in events)
    assert events[-1].due_at == first + timedelta(seconds=70)


def test_stock_fire_task_path_uses_the_same_due_time(make_template):
    schedule = make_template(interval_seconds=60).schedules.get()
    schedule_fire(schedule_id=schedule.pk)
    schedule_fire(schedule_id=schedule.pk)
    assert ScheduledRun.objects.get().due_at == due_now(schedule)
    assert schedules_fire(items=[(schedule.pk, due_now(schedule))])["duplicates"] == 1


def test_deleting_a_schedule_closes_its_deferred_run(make_template):
    schedule = make_template(interval_seconds=10, overlap_policy="queue").schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first), (schedule.pk, first + timedelta(seconds=10))])
    schedules.schedule_delete(schedule=schedule)
    held = ScheduledRun.objects.get(due_at=first + timedelta(seconds=10))
    assert held.outcome == "skipped_overlap" and held.schedule is None and "deleted" in held.detail
