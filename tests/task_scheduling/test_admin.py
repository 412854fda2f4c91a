"""The scheduling admin: role-checked actions, forms validated by the services, saves that keep Beat in
step, and django-celery-beat's admin unable to change the rows of our schedules."""

import json

import pytest
from django.contrib.auth import get_user_model
from django_celery_beat.models import IntervalSchedule
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.choices import BrandRole
from task_core.models import BaseTask, BrandMembership
from task_scheduling.models import Schedule, ScheduleEvent, ScheduleTemplate, TaskCalendar

pytestmark = pytest.mark.django_db
A = "/admin/task_scheduling/"


def staff(brand, username, role):
    user = get_user_model().objects.create_user(username=username, password="x-pass-123", is_staff=True)
    BrandMembership.objects.create(user=user, brand=brand, role=role)
    return user


def template_form(brand, **extra):
    data = {"brand": brand.pk, "name": "nightly", "description": "", "task_type": "demo.echo",
            "parameters": json.dumps({"message": "hi"}), "kind": "cron", "cron_expression": "0 2 * * *",
            "interval_seconds": "", "run_at_0": "", "run_at_1": "", "timezone": "Europe/Paris", "calendar": "",
            "priority": "normal", "max_retries": "", "timeout_seconds": "", "queue": "", "overlap_policy": "skip",
            "missed_run_policy": "skip", "auto_pause_after": "0", "is_active": "on"}
    data.update(extra)
    return data


def test_template_actions_need_the_operator_role(client, brand, make_template):
    template = make_template()
    entry = template.schedules.get().beat_name
    client.force_login(staff(brand, "viewer-staff", BrandRole.VIEWER))
    page = client.post(f"{A}scheduletemplate/", {"action": "pause", "_selected_action": [template.pk]}, follow=True)
    assert "needs the operator role" in page.text
    template.refresh_from_db()
    assert template.is_active and BeatEntry.objects.get(name=entry).enabled
    client.force_login(staff(brand, "operator-staff", BrandRole.OPERATOR))
    client.post(f"{A}scheduletemplate/", {"action": "pause", "_selected_action": [template.pk]})
    template.refresh_from_db()
    assert not template.is_active and not BeatEntry.objects.get(name=entry).enabled
    client.post(f"{A}scheduletemplate/", {"action": "run_now", "_selected_action": [template.pk]})
    assert not BaseTask.objects.exists()  # paused: run now is refused (and said so), not half-done


def test_schedule_actions_need_the_operator_role(client, brand, make_template):
    schedule = make_template().schedules.get()
    client.force_login(staff(brand, "viewer-staff", BrandRole.VIEWER))
    client.post(f"{A}schedule/", {"action": "pause", "_selected_action": [schedule.pk]})
    client.post(f"{A}schedule/", {"action": "run_now", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.status == "active" and not BaseTask.objects.exists()
    client.force_login(staff(brand, "operator-staff", BrandRole.OPERATOR))
    client.post(f"{A}schedule/", {"action": "pause", "_selected_action": [schedule.pk]})
    client.post(f"{A}schedule/", {"action": "run_now", "_selected_action": [schedule.pk]})
    schedule.refresh_from_db()
    assert schedule.status == "paused" and not BeatEntry.objects.get(name=schedule.beat_name).enabled
    assert BaseTask.objects.count() == 1  # run now of its (still active) template


def test_the_add_form_refuses_a_bad_cron_and_saves_a_good_one_through_the_services(client, superuser, brand):
    client.force_login(superuser)
    page = client.post(f"{A}scheduletemplate/add/", template_form(brand, cron_expression="61 * * * *"))
    assert page.status_code == 200 and "Invalid cron expression" in page.text
    assert not ScheduleTemplate.objects.exists()
    page = client.post(f"{A}scheduletemplate/add/", template_form(brand), follow=True)
    template = ScheduleTemplate.objects.get()
    schedule = template.schedules.get()
    assert BeatEntry.objects.get(name=schedule.beat_name).crontab.hour == "2"
    assert template.created_by == superuser and "was added successfully" in page.text


def test_the_change_form_refuses_bad_parameters_and_timing_edits_follow_to_beat(client, superuser, brand,
                                                                                make_template):
    template = make_template(name="nightly", kind="cron", cron_expression="0 2 * * *", interval_seconds=None,
                             timezone="Europe/Paris")
    client.force_login(superuser)
    url = f"{A}scheduletemplate/{template.pk}/change/"
    page = client.post(url, template_form(brand, parameters=json.dumps({"message": 5})))
    assert page.status_code == 200 and "parameters.message" in page.text
    template.refresh_from_db()
    assert template.parameters == {"message": "hi"}
    client.post(url, template_form(brand, cron_expression="30 4 * * *"))
    entry = BeatEntry.objects.get(name=template.schedules.get().beat_name)
    assert (entry.crontab.minute, entry.crontab.hour) == ("30", "4")
    assert ScheduleEvent.objects.filter(schedule__periodic_task=template, event_type="updated").exists()


def test_the_calendar_form_is_validated_and_normalized(client, superuser, brand):
    client.force_login(superuser)
    base = {"brand": brand.pk, "name": "holidays", "description": "", "timezone": "Europe/Paris",
            "blackout_windows": "[]"}
    page = client.post(f"{A}taskcalendar/add/", {**base, "excluded_dates": json.dumps(["2025-02-30"])})
    assert page.status_code == 200 and "Invalid date" in page.text and not TaskCalendar.objects.exists()
    client.post(f"{A}taskcalendar/add/", {**base, "excluded_dates": json.dumps(["2025-12-25", "2025-01-01",
                                                                               "2025-12-25"])})
    assert TaskCalendar.objects.get().excluded_dates == ["2025-01-01", "2025-12-25"]


def test_the_schedule_form_validates_overrides_and_records_the_edit(client, superuser, make_template):
    schedule = make_template().schedules.get()
    client.force_login(superuser)
    url = f"{A}schedule/{schedule.pk}/change/"
    page = client.post(url, {"label": "x", "parameter_overrides": json.dumps({"message": 1}),
                             "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"})
    assert page.status_code == 200 and "parameter_overrides.message" in page.text
    client.post(url, {"label": "eu", "parameter_overrides": json.dumps({"message": "bonjour"}),
                      "events-TOTAL_FORMS": "0", "events-INITIAL_FORMS": "0"})
    schedule.refresh_from_db()
    assert schedule.label == "eu" and schedule.parameter_overrides == {"message": "bonjour"}
    assert ScheduleEvent.objects.filter(schedule=schedule, event_type="updated").exists()


def test_deleting_a_schedule_in_the_admin_unregisters_it(client, superuser, make_template):
    schedule = make_template().schedules.get()
    client.force_login(superuser)
    client.post(f"{A}schedule/{schedule.pk}/delete/", {"post": "yes"})
    assert not Schedule.objects.exists() and not BeatEntry.objects.filter(name=schedule.beat_name).exists()


def test_django_celery_beat_admin_cannot_change_our_rows(client, superuser, make_template):
    ours = BeatEntry.objects.get(name=make_template().schedules.get().beat_name)
    every = IntervalSchedule.objects.create(every=30, period="seconds")
    theirs = BeatEntry.objects.create(name="system.cleanup", task="megahub.flush_expired_tokens", interval=every)
    client.force_login(superuser)
    beat = "/admin/django_celery_beat/periodictask/"
    assert client.post(f"{beat}{ours.pk}/change/", {"name": ours.name, "enabled": ""}).status_code == 403
    assert client.post(f"{beat}{ours.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(beat, {"action": "disable_tasks", "_selected_action": [ours.pk, theirs.pk]})
    client.post(beat, {"action": "delete_selected", "_selected_action": [ours.pk], "post": "yes"})
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.enabled and not theirs.enabled
    interval = f"/admin/django_celery_beat/intervalschedule/{ours.interval_id}/change/"
    assert client.post(interval, {"every": 5, "period": "seconds"}).status_code == 403
