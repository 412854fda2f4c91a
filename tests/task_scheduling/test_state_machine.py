"""The schedule state machine: every (from, to) pair of the table, and the guard against a stale read."""

import pytest
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_scheduling.choices import ScheduleStatus
from task_scheduling.models import Schedule, ScheduleEvent
from task_scheduling.services import schedules
from task_scheduling.state_machine import TRANSITIONS, schedules_set_status

pytestmark = pytest.mark.django_db

PAIRS = [(a, b) for a in ScheduleStatus.values for b in ScheduleStatus.values]


def in_status(schedule, status):
    Schedule.objects.filter(pk=schedule.pk).update(status=status)
    schedule.status = status
    return schedule


@pytest.mark.parametrize("from_status,to_status", PAIRS)
def test_every_pair_moves_exactly_when_the_table_allows_it(make_template, from_status, to_status):
    schedule = in_status(make_template().schedules.get(), from_status)
    events_before = ScheduleEvent.objects.filter(schedule=schedule).count()
    moved = schedules_set_status(schedules=[schedule], to_status=to_status, detail="test")
    allowed = to_status in TRANSITIONS[from_status]
    row = Schedule.objects.get(pk=schedule.pk)
    assert (moved == [schedule]) is allowed
    assert row.status == (to_status if allowed else from_status)
    events = ScheduleEvent.objects.filter(schedule=schedule).order_by("-id")
    assert events.count() == events_before + allowed
    if allowed:
        assert (events[0].from_status, events[0].to_status, events[0].detail) == (from_status, to_status, "test")
        assert BeatEntry.objects.get(name=row.beat_name).enabled is (to_status == ScheduleStatus.ACTIVE)
        assert (row.next_run_at is not None) is (to_status == ScheduleStatus.ACTIVE)


def test_the_status_read_under_the_lock_decides_not_the_one_in_memory(make_template):
    """A caller holding an old copy (it still says active) cannot pause a schedule that became inactive."""
    schedule = make_template().schedules.get()
    Schedule.objects.filter(pk=schedule.pk).update(status=ScheduleStatus.INACTIVE)
    assert schedule.status == ScheduleStatus.ACTIVE
    assert schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.PAUSED) == []
    assert Schedule.objects.get(pk=schedule.pk).status == ScheduleStatus.INACTIVE
    assert not ScheduleEvent.objects.filter(schedule=schedule, event_type="status_changed").exists()


def test_a_bulk_move_changes_only_the_rows_it_may_and_reports_them(make_template):
    template = make_template()
    extra = schedules.schedule_create(template=template)
    first = template.schedules.exclude(pk=extra.pk).get()
    in_status(extra, ScheduleStatus.INACTIVE)
    moved = schedules_set_status(schedules=[first, extra], to_status=ScheduleStatus.PAUSED)
    assert [s.pk for s in moved] == [first.pk]
    assert dict(Schedule.objects.values_list("pk", "status")) == {first.pk: "paused", extra.pk: "inactive"}
