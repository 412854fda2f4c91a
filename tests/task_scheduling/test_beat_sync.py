"""beat_sync keeps the django-celery-beat rows in step with our schedules: one row per schedule, its
timing, enabled exactly while active, never moved backwards, and a timing read back the way Beat reads it."""

from datetime import timedelta

import pytest
from django.db.models import CharField
from django.db.models.functions import Cast
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry
from django_celery_beat.models import PeriodicTasks

from task_scheduling import beat_sync
from task_scheduling.beat import ENTRY_FIELDS
from task_scheduling.beat_names import FIRE_TASK, beat_name
from task_scheduling.models import Schedule
from task_scheduling.services import schedules

pytestmark = pytest.mark.django_db


def test_registration_writes_one_row_with_the_templates_timing(make_template):
    schedule = make_template(kind="cron", cron_expression="30 6 * * 1-5", interval_seconds=None,
                             timezone="Europe/Paris").schedules.get()
    entry = BeatEntry.objects.get(name=beat_name(schedule.pk))
    assert schedule.beat_name == entry.name and entry.task == FIRE_TASK and entry.enabled
    assert (entry.crontab.minute, entry.crontab.hour, entry.crontab.day_of_week) == ("30", "6", "1-5")
    assert str(entry.crontab.timezone) == "Europe/Paris"


def test_the_timing_read_back_from_a_row_is_the_templates(make_template):
    template = make_template(kind="cron", cron_expression="30 6 * * 1-5", interval_seconds=None,
                             timezone="Europe/Paris")
    schedule = template.schedules.get()
    row = BeatEntry.objects.filter(name=schedule.beat_name).annotate(
        crontab_tz=Cast("crontab__timezone", CharField())).values(*ENTRY_FIELDS).get()  # as Beat reads it
    after = timezone.now()
    assert beat_sync.timing_of_entry(row).next_after(after) == template.timing().next_after(after)


def test_enabling_follows_pause_and_resume_and_marks_the_change(make_template):
    schedule = make_template().schedules.get()
    marker = PeriodicTasks.last_change()
    assert beat_sync.beat_entries_set_enabled(schedule_ids=[schedule.pk], enabled=False) == 1
    entry = BeatEntry.objects.get(name=schedule.beat_name)
    assert not entry.enabled and entry.last_run_at is None
    assert PeriodicTasks.last_change() != marker
    beat_sync.beat_entries_set_enabled(schedule_ids=[schedule.pk], enabled=True)
    entry.refresh_from_db()
    # Resumed: Beat computes the next fire after now, so nothing that fell due while paused fires.
    assert entry.enabled and timezone.now() - entry.last_run_at < timedelta(seconds=60)


def test_mark_run_never_moves_backwards(make_template):
    schedule = make_template().schedules.get()
    later = timezone.now() + timedelta(hours=1)
    beat_sync.beat_entries_mark_run(schedule_ids=[schedule.pk], due_at=later)
    beat_sync.beat_entries_mark_run(schedule_ids=[schedule.pk], due_at=later - timedelta(minutes=5))
    assert BeatEntry.objects.get(name=schedule.beat_name).last_run_at == later


def test_retime_points_every_row_at_the_new_timing_and_recreates_a_missing_one(make_template):
    template = make_template(interval_seconds=60)
    extra = schedules.schedule_create(template=template)
    live = list(template.schedules.all())
    BeatEntry.objects.filter(name=extra.beat_name).delete()
    template.interval_seconds = 300
    assert beat_sync.beat_entries_retime(schedules=live, template=template, after=timezone.now()) == 2
    rows = BeatEntry.objects.filter(name__in=[s.beat_name for s in live])
    assert sorted(r.interval.every for r in rows) == [300, 300]


def test_bulk_delete_removes_the_rows_and_counts_them(make_template):
    template = make_template()
    schedules.schedule_create(template=template)
    ids = list(template.schedules.values_list("pk", flat=True))
    assert beat_sync.beat_entries_delete(schedule_ids=ids) == 2
    assert not BeatEntry.objects.filter(name__in=[beat_name(pk) for pk in ids]).exists()
    assert Schedule.objects.filter(pk__in=ids).count() == 2  # the schedules themselves are the services' job
