"""Template and schedule services on the real database: registration follows activation, Beat rows follow
every change (bulk and cascade included), and the event cap holds on every path."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from megahub.api.exceptions import ApplicationError
from task_core.models import Brand
from task_scheduling.firing import schedules_fire
from task_scheduling.models import Schedule, ScheduleEvent
from task_scheduling.services import schedules, templates

pytestmark = pytest.mark.django_db


def live_schedules(template):
    return list(template.schedules.exclude(status="inactive"))


def assert_fires(template):
    """Exactly one active schedule, with an enabled Beat row and a next run."""
    (schedule,) = live_schedules(template)
    assert schedule.status == "active" and schedule.next_run_at is not None
    assert BeatEntry.objects.get(name=schedule.beat_name).enabled


def test_a_template_created_inactive_gets_its_schedule_when_resumed(make_template):
    template = make_template(is_active=False)
    assert live_schedules(template) == []
    templates.template_resume(template=template)
    assert_fires(template)


def test_register_false_then_activated_registers(make_template):
    template = make_template(register=False)
    assert live_schedules(template) == []
    templates.template_pause(template=template)
    templates.template_resume(template=template)
    assert_fires(template)


def test_manual_turned_into_cron_registers(make_template):
    template = make_template(kind="manual", interval_seconds=None)
    assert live_schedules(template) == []
    templates.template_update(template=template, kind="cron", cron_expression="*/5 * * * *")
    assert_fires(template)


def test_a_fired_one_off_given_a_new_date_runs_again(make_template):
    template = make_template(kind="date", run_at=timezone.now() + timedelta(seconds=30), interval_seconds=None)
    first = template.schedules.get()
    schedules_fire(items=[(first.pk, template.run_at)], now=template.run_at)
    first.refresh_from_db()
    assert first.status == "inactive"
    templates.template_update(template=template, run_at=timezone.now() + timedelta(hours=1))
    assert_fires(template)
    (again,) = live_schedules(template)
    assert again.next_run_at == template.run_at


def test_manual_with_live_schedules_is_refused(make_template):
    template = make_template()
    with pytest.raises(ApplicationError) as err:
        templates.template_update(template=template, kind="manual")
    assert "kind" in err.value.field_errors


def test_timing_edit_of_many_schedules_is_bulk(make_template, django_assert_max_num_queries):
    template = make_template(kind="cron", cron_expression="0 3 * * *", interval_seconds=None)
    schedules.schedule_create_many(template=template, count=60)
    # A handful of statements whatever the number of schedules (one UPDATE per 1000 Beat rows).
    with django_assert_max_num_queries(30):
        templates.template_update(template=template, cron_expression="15 4 * * *", timezone="Asia/Tokyo")
    entries = BeatEntry.objects.filter(name__in=[s.beat_name for s in template.schedules.all()])
    assert entries.count() == 61
    assert {(e.crontab.minute, e.crontab.hour, str(e.crontab.timezone)) for e in entries} == {("15", "4", "Asia/Tokyo")}
    nxt = {s.next_run_at for s in template.schedules.all()}
    assert len(nxt) == 1 and nxt.pop().astimezone(timezone.get_fixed_timezone(540)).strftime("%H:%M") == "04:15"


def test_a_missing_beat_row_is_recreated_on_a_timing_edit(make_template):
    template = make_template()
    schedule = template.schedules.get()
    BeatEntry.objects.filter(name=schedule.beat_name).delete()
    templates.template_update(template=template, interval_seconds=120)
    assert BeatEntry.objects.get(name=schedule.beat_name).interval.every == 120


def test_brand_deletion_takes_the_beat_rows_with_it(make_template, other_brand):
    doomed = Brand.objects.create(name="Doomed", slug="doomed")
    template = make_template(brand=doomed)
    kept = make_template(brand=other_brand)
    name = template.schedules.get().beat_name
    doomed.delete()
    assert not BeatEntry.objects.filter(name=name).exists()
    assert BeatEntry.objects.filter(name=kept.schedules.get().beat_name).exists()


def test_a_queryset_delete_of_schedules_removes_their_beat_rows(make_template):
    template = make_template()
    schedules.schedule_create_many(template=template, count=3)
    names = list(template.schedules.values_list("beat_name", flat=True))
    Schedule.objects.filter(periodic_task=template).delete()
    assert not BeatEntry.objects.filter(name__in=names).exists()


def test_event_cap_holds_for_status_changes_and_edits(make_template, settings):
    settings.SCHEDULING_EVENTS_KEPT = 4
    template = make_template()
    schedule = template.schedules.get()
    for _ in range(3):
        schedules.schedule_pause(schedule=schedule)
        schedules.schedule_resume(schedule=schedule)
    events = ScheduleEvent.objects.filter(schedule=schedule)
    assert events.count() == 4 and not events.filter(event_type="registered").exists()
    for i in range(3):
        templates.template_update(template=template, description=f"edit {i}")
    assert list(events.order_by("id").values_list("event_type", flat=True)) == [
        "status_changed", "updated", "updated", "updated"]


def test_bulk_resume_skips_what_cannot_resume(make_template):
    template = make_template()
    extra = schedules.schedule_create(template=template)
    both = list(template.schedules.select_related("periodic_task"))
    assert schedules.schedules_pause_many(schedules=both) == 2
    templates.template_pause(template=template)
    assert schedules.schedules_resume_many(schedules=list(template.schedules.select_related("periodic_task"))) == 0
    templates.template_resume(template=template)
    extra.refresh_from_db()
    assert extra.status == "active" and BeatEntry.objects.get(name=extra.beat_name).enabled


def test_duplicate_crontab_rows_made_outside_us_do_not_break_registration(make_template):
    """django-celery-beat has no unique constraint on its crontab rows (its admin can add a twin): the
    template still registers, on the oldest of them."""
    from django_celery_beat.models import CrontabSchedule

    twins = [CrontabSchedule.objects.create(minute="7", hour="3", day_of_month="*", month_of_year="*",
                                            day_of_week="*", timezone="Europe/Paris") for _ in range(2)]
    template = make_template(kind="cron", cron_expression="7 3 * * *", timezone="Europe/Paris",
                             interval_seconds=None)
    assert_fires(template)
    (schedule,) = live_schedules(template)
    assert BeatEntry.objects.get(name=schedule.beat_name).crontab_id == twins[0].pk
