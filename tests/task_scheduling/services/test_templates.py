"""Template services on the real database: registration follows activation and timing edits, Beat rows
follow every change in bulk."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import PeriodicTask as BeatEntry

from megahub.api.exceptions import ApplicationError
from task_scheduling.firing import schedules_fire
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
