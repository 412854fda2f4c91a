"""Our Beat scheduler class on the real database and the real Redis broker, without the `celery beat`
process around it: loading rows, catching up after downtime, restarts and re-sending lost batches.

Its dispatcher messages go to a private queue (the `fire_options` a deployment could set too); the
test reads them back from Redis and runs the real dispatcher task on them, as a worker would.
"""

import base64
import json
import uuid
from datetime import timedelta

import pytest
import redis
from celery import current_app
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, IntervalSchedule
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.models import BaseTask
from task_scheduling import tasks
from task_scheduling.beat import Scheduler
from task_scheduling.beat_names import FIRE_TASK
from task_scheduling.models import ScheduledRun, ScheduleEvent
from task_scheduling.services import schedules, templates

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def beat():
    """beat() -> a fresh Scheduler (a Beat process starting), sending to a private queue."""
    queue = f"test-beat-{uuid.uuid4().hex[:8]}"

    def start():
        sched = Scheduler(app=current_app, lazy=True)
        sched.fire_options = {"queue": queue}
        return sched

    start.queue = queue
    yield start
    redis.Redis.from_url(settings.CELERY_BROKER_URL).delete(queue)


def sent_items(queue) -> list[list]:
    """Take the dispatcher messages out of the queue; their items, as a worker would receive them."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    items = []
    while (raw := client.rpop(queue)) is not None:
        body = json.loads(base64.b64decode(json.loads(raw)["body"]))
        items.extend(body[0][0])
    return items


def registered_ago(template, seconds):
    schedule = template.schedules.get()
    schedule.anchor_at -= timedelta(seconds=seconds)
    type(schedule).objects.filter(pk=schedule.pk).update(anchor_at=schedule.anchor_at)
    BeatEntry.objects.filter(name=schedule.beat_name).update(last_run_at=schedule.anchor_at,
                                                             start_time=schedule.anchor_at)
    return schedule


def test_unreadable_rows_are_skipped_not_fatal(beat, make_template):
    good = make_template(interval_seconds=60).schedules.get()
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    BeatEntry.objects.create(name="megahub-schedule-abc", task=FIRE_TASK, interval=every)
    bad_cron = CrontabSchedule.objects.create(minute="61")
    BeatEntry.objects.create(name="megahub-schedule-999991", task=FIRE_TASK, crontab=bad_cron)
    bad_zone = CrontabSchedule.objects.create(minute="5")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE django_celery_beat_crontabschedule SET timezone = 'Mars/Olympus' WHERE id = %s",
                       [bad_zone.pk])
    BeatEntry.objects.create(name="megahub-schedule-999992", task=FIRE_TASK, crontab=bad_zone)
    sched = beat()
    assert sched.load_ours() == 1 and sched.ours_skipped == 3
    assert [entry[1] for entry in sched._ours] == [good.pk]


def test_catch_up_after_downtime_applies_the_missed_run_policy_and_records_what_collapsed(beat, make_template):
    skip = registered_ago(make_template(interval_seconds=1800, missed_run_policy="skip"), 7000)
    once = registered_ago(make_template(interval_seconds=1800, missed_run_policy="run_once"), 7000)
    sched = beat()
    sched._tick_ours()
    items = sent_items(beat.queue)
    # Down since the anchor (~117 min ago): the due times at +30 and +60 min collapse into the one at +90.
    assert sorted((sid, due) for sid, due, _, _ in items) == sorted(
        (s.pk, (s.anchor_at + timedelta(minutes=90)).isoformat()) for s in (skip, once))
    tasks.fire_due(items)
    assert ScheduledRun.objects.get(schedule=skip).outcome == "missed"
    assert ScheduledRun.objects.get(schedule=once).outcome == "fired"
    for schedule in (skip, once):
        collapsed = ScheduleEvent.objects.filter(schedule=schedule, event_type="missed").latest("id")
        assert collapsed.detail.startswith("2 earlier due time(s)")


def test_a_restarted_beat_does_not_fire_a_handled_due_time_again(beat, make_template):
    template = make_template(interval_seconds=60)
    registered_ago(template, 61)
    first = beat()
    first._tick_ours()
    tasks.fire_due(sent_items(beat.queue))
    assert BaseTask.objects.count() == 1
    restarted = beat()
    restarted._tick_ours()
    assert sent_items(beat.queue) == []
    assert restarted._ours[0][0] > ScheduledRun.objects.get().due_at


def test_a_beat_restarted_before_its_batch_was_handled_sends_it_again_and_one_run_results(beat, make_template):
    template = make_template(interval_seconds=60)
    registered_ago(template, 61)
    beat()._tick_ours()
    beat()._tick_ours()  # restarted: the first batch is still in the queue
    items = sent_items(beat.queue)
    assert len(items) == 2 and items[0][:2] == items[1][:2]
    result = tasks.fire_due(items)
    assert result["fired"] == 1 and BaseTask.objects.count() == 1


def test_a_lost_batch_is_sent_again_with_its_original_send_time(beat, make_template, settings):
    template = make_template(interval_seconds=60, missed_run_policy="skip")
    registered_ago(template, 61)
    sched = beat()
    sched._tick_ours()
    (lost,) = sent_items(beat.queue)  # taken by a worker that was then SIGKILLed: gone
    settings.SCHEDULING_CONFIRM_SECONDS = 0  # instead of waiting a minute
    sched._pending_checked = -1e9
    sched._confirm()
    (again,) = sent_items(beat.queue)
    assert again == lost  # same due time, same sent_at: not mistaken for a missed run
    tasks.fire_due([again])
    sched._pending_checked = -1e9
    sched._confirm()
    assert sched._pending == {} and sent_items(beat.queue) == []
    assert ScheduledRun.objects.get().outcome == "fired"


def test_pausing_takes_the_schedule_out_of_the_next_tick(beat, make_template):
    template = make_template(interval_seconds=60)
    schedule = registered_ago(template, 61)
    sched = beat()
    sched.load_ours()
    schedules.schedule_pause(schedule=schedule)
    sched._tick_ours()
    assert sent_items(beat.queue) == [] and sched._ours == []
    schedules.schedule_resume(schedule=schedule)
    sched._tick_ours()
    assert [entry[1] for entry in sched._ours] == [schedule.pk]
    assert sched._ours[0][0] > timezone.now()  # resume never fires what fell due while paused


def logged_tick(sched, caplog) -> str:
    """One tick of our schedules; what Beat logged during it."""
    caplog.clear()
    with caplog.at_level("INFO", logger="megahub.scheduling.beat"):
        sched._tick_ours()
    return caplog.text


def test_a_change_is_read_from_the_changed_rows_only_and_a_deletion_reloads_all(beat, make_template, caplog):
    fast, slow = make_template(interval_seconds=3600), make_template(interval_seconds=3600)
    fast_s, slow_s = fast.schedules.get(), slow.schedules.get()
    # A row Beat cannot read is skipped, and must not make every refresh look like a deletion.
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    BeatEntry.objects.create(name="megahub-schedule-not-a-number", task=FIRE_TASK, interval=every)
    sched = beat()
    sched._tick_ours()
    templates.template_update(template=fast, interval_seconds=60)
    log = logged_tick(sched, caplog)
    # Rows changed within the last minute are read again (clock skew, long transactions): both, here.
    assert "2 active schedules refreshed" in log and "loaded" not in log

    def next_fires():
        return {sid: at for at, sid, version, _, _ in sched._ours if sched._version.get(sid) == version}

    soon = next_fires()
    assert (soon[fast_s.pk] - timezone.now()).total_seconds() <= 60
    assert (soon[slow_s.pk] - timezone.now()).total_seconds() > 3000
    schedules.schedule_delete(schedule=slow_s)
    assert "1 active schedules loaded" in logged_tick(sched, caplog) and list(next_fires()) == [fast_s.pk]


def test_the_system_entries_reach_beat_with_their_expiry_and_top_priority():
    """The outbox sweep, the reaper and the token flush: a run that waited past its next one is dropped,
    and a backlog of queued work does not hold them back (priority 0 is popped first)."""
    sched = Scheduler(app=current_app, lazy=True)
    sched.setup_schedule()
    entries = sched.all_as_schedule()
    for name, seconds in (("megahub.dispatch_pending", 9), ("megahub.reap_stuck_tasks", 55),
                          ("megahub.flush_expired_tokens", 3600)):
        options = entries[name].options
        assert options["priority"] == 0, (name, options)
        assert options["expires"] == seconds, (name, options)
