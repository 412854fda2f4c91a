"""The scheduling admin as a person meets it: the template form (order, registry choices, schema-driven
parameters, every error at once, times and the cron's description), brand filters, linked task ids,
django-celery-beat's rows labelled as ours, and the demo schedule `make run` seeds."""

import io
import json
import re

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask as BeatEntry

from task_core.choices import BrandRole
from task_core.models import Brand, BrandMembership
from task_core.services import task_create
from task_scheduling.models import ScheduleEvent, ScheduleTemplate
from task_scheduling.services.calendars import calendar_create

from .test_admin import A, staff, template_form

pytestmark = pytest.mark.django_db


def test_the_template_form_reads_what_when_how_policies_with_registry_types_and_their_schemas(client, superuser):
    client.force_login(superuser)
    page = client.get(f"{A}scheduletemplate/add/").text
    headings = re.findall(r'class="fieldset-heading">([^<]+)<', page)
    assert headings == ["What", "When", "How", "Policies"]
    assert '<option value="seo_keyword_analysis">SEO keyword analysis (seo_keyword_analysis)</option>' in page
    schemas = json.loads(re.search(r'<script id="id_parameters-schemas" type="application/json">(.*?)</script>',
                                   page, re.S).group(1))
    assert schemas["seo_keyword_analysis"]["parameters_schema"]["required"] == ["keyword_ids"]
    assert "task_scheduling/parameters_form.js" in page


def test_the_template_form_shows_every_error_at_once(client, superuser, brand):
    client.force_login(superuser)
    page = client.post(f"{A}scheduletemplate/add/", template_form(
        brand, task_type="seo_keyword_analysis", cron_expression="61 * * * *", timeout_seconds="999999",
        parameters=json.dumps({"keyword_ids": ["x"], "analysis_depth": "deep"}), auto_pause_after="-1"))
    assert page.status_code == 200 and not ScheduleTemplate.objects.exists()
    for message in ("Invalid cron expression", "parameters.keyword_ids.0:", "parameters.analysis_depth:",
                    "Ensure this value is greater than or equal to 0."):  # the last: auto_pause_after
        assert message in page.text, message


def test_the_template_page_shows_the_crons_description_and_runs_in_its_time_zone(client, superuser,
                                                                                make_template):
    template = make_template(kind="cron", cron_expression="*/5 * * * *", interval_seconds=None,
                             timezone="Asia/Tokyo")
    client.force_login(superuser)
    page = client.get(f"{A}scheduletemplate/{template.pk}/change/").text
    assert "Every 5 minutes" in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:00 JST \(in \d+\xa0minutes?\)", page), "next run in Tokyo time"
    listing = client.get(f"{A}scheduletemplate/").text
    assert "*/5 * * * * — Every 5 minutes" in listing


@pytest.mark.parametrize("changelist", ["scheduletemplate", "schedule", "taskcalendar"])
def test_by_brand_filters_list_only_the_operators_brands(client, brand, other_brand, make_template, changelist):
    op = staff(brand, "op-staff", BrandRole.OPERATOR)
    beta = Brand.objects.create(name="Beta", slug="beta")
    BrandMembership.objects.create(user=op, brand=beta, role=BrandRole.VIEWER)
    for b in (brand, beta, other_brand):
        make_template(brand=b)
        calendar_create(brand=b, name=f"cal-{b.slug}", timezone="UTC", excluded_dates=[], blackout_windows=[])
    client.force_login(op)
    page = client.get(f"{A}{changelist}/").text
    assert f"brand__id__exact={brand.pk}" in page and f"brand__id__exact={beta.pk}" in page
    assert f"brand__id__exact={other_brand.pk}" not in page and "Acme" not in page


def test_schedule_events_link_their_task(client, superuser, brand, make_template):
    schedule = make_template().schedules.get()
    task, _ = task_create(brand=brand, task_type="demo.echo")
    ScheduleEvent.objects.create(schedule=schedule, event_type="fired", task_id=task.task_id, detail="fired")
    client.force_login(superuser)
    page = client.get(f"{A}schedule/{schedule.pk}/change/").text
    assert f'href="/admin/task_core/basetask/by-task-id/{task.task_id}/"' in page


def test_django_celery_beats_rows_of_our_schedules_say_so(client, superuser, make_template):
    schedule = make_template().schedules.get()
    entry = BeatEntry.objects.get(name=schedule.beat_name)
    client.force_login(superuser)
    listing = client.get("/admin/django_celery_beat/periodictask/").text
    assert f"managed by MEGAHUB schedule #{schedule.pk}" in listing
    assert f'href="{A}schedule/{schedule.pk}/change/"' in listing
    page = client.get(f"/admin/django_celery_beat/periodictask/{entry.pk}/change/").text
    assert f"managed by MEGAHUB schedule #{schedule.pk}" in page and "Change it through its schedule" in page


def test_seed_demo_seeds_a_schedule_beat_fires_and_gives_passwords_back():
    out = io.StringIO()
    call_command("seed_demo", stdout=out)
    template = ScheduleTemplate.objects.get(brand__slug="humari")
    assert template.cron_expression == "*/5 * * * *" and template.is_active
    assert BeatEntry.objects.get(name=template.schedules.get().beat_name).enabled
    assert f"template id {template.pk}" in out.getvalue()
    call_command("seed_demo", stdout=io.StringIO())
    assert ScheduleTemplate.objects.count() == 1  # idempotent

    again = io.StringIO()
    call_command("seed_demo", "--reset-passwords", stdout=again)
    passwords = dict(re.findall(r"^\s+(admin|operator|viewer)\s+(\S+)", again.getvalue(), re.MULTILINE))
    assert set(passwords) == {"admin", "operator", "viewer"}
    assert all(authenticate(username=u, password=p) for u, p in passwords.items())
    assert get_user_model().objects.count() == 3
