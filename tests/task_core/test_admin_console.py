"""The staff console as a person meets it: the landing page, MEGAHUB's name, a refusal that is the admin's
own HTML page, the task page (progress, readable JSON, times, retry and cancel buttons, plain events with
linked task ids) and brand isolation of filters, users and autocompletes."""

import logging
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from task_core.choices import BrandRole, TaskStatus
from task_core.models import BaseTask, Brand, BrandMembership
from task_core.services import task_create, task_retry
from task_core.state_machine import transition

pytestmark = pytest.mark.django_db
TASKS = "/admin/task_core/basetask/"
SECOND = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def staff(brand, username, role):
    user = get_user_model().objects.create_user(username=username, password="x-pass-123", is_staff=True)
    BrandMembership.objects.create(user=user, brand=brand, role=role)
    return user


@pytest.fixture
def op(brand):
    return staff(brand, "staff-op", BrandRole.OPERATOR)


@pytest.fixture
def failed_task(brand, op):
    task, _ = task_create(brand=brand, created_by=op, task_type="demo.echo", context_data={"message": "mine"})
    assert transition(task, TaskStatus.RUNNING)
    BaseTask.objects.filter(pk=task.pk).update(progress_percentage=40, progress_message="step 4 of 10")
    assert transition(task, TaskStatus.FAILED, error_message="boom")
    task.refresh_from_db()
    return task


def test_the_root_is_a_landing_page_with_the_ways_in(client):
    page = client.get("/")
    assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
    for link in ('href="/api/docs/"', 'href="/admin/"', 'href="/healthz"'):
        assert link in page.text


def test_the_console_says_megahub_and_names_tasks_tasks(client, superuser):
    client.force_login(superuser)
    page = client.get("/admin/")
    assert "<title>Tasks, schedules and brands | MEGAHUB</title>" in page.text
    assert "MEGAHUB staff console" in page.text
    assert f'<a href="{TASKS}">Tasks</a>' in page.text and "Base tasks" not in page.text


def test_a_refusal_inside_the_admin_is_its_html_page_and_logs_no_traceback(client, op, caplog):
    client.force_login(op)
    with caplog.at_level(logging.WARNING, logger="django.request"):
        page = client.get("/admin/django_celery_beat/periodictask/")
    assert page.status_code == 403 and page["Content-Type"].startswith("text/html")
    assert "Permission denied" in page.text and "MEGAHUB staff console" in page.text
    assert '"error_code"' not in page.text
    forbidden = [r for r in caplog.records if r.name == "django.request" and r.status_code == 403]
    assert forbidden and all(r.exc_info is None for r in forbidden)
    user_page = client.get(f"/admin/auth/user/{op.pk}/change/")
    assert user_page.status_code == 403 and "Permission denied" in user_page.text


def test_the_api_keeps_its_json_403(api, op, other_brand):
    response = api(op, other_brand).get("/tasks/")
    assert response.status_code == 403 and response.json()["error_code"] == "PERMISSION_DENIED"


def test_the_task_page_shows_progress_json_times_and_the_buttons(client, op, failed_task):
    client.force_login(op)
    page = client.get(f"{TASKS}{failed_task.pk}/change/")
    assert page.status_code == 200
    assert 'role="progressbar" aria-valuenow="40"' in page.text and "40% · step 4 of 10" in page.text
    assert '<pre class="megahub-json">{\n  &quot;message&quot;: &quot;mine&quot;\n}</pre>' in page.text
    assert re.search(rf'<div class="readonly">{SECOND}</div>', page.text)  # created, to the second
    assert "Queue wait:" in page.text and "Duration:" in page.text
    assert re.search(r'<button type="submit" name="retry" id="task-retry"\s*>', page.text)  # enabled
    assert re.search(r'name="cancel" id="task-cancel"\s*disabled', page.text)  # a failed task cannot be
    # The events read as a table: no "<pk>: - -> pending" caption per row.
    assert f"{failed_task.pk}: - -&gt; pending" not in page.text and "created (api)" in page.text
    # The submitter is text for staff who may not open user pages (the link would be refused).
    assert "staff-op" in page.text and "/admin/auth/user/" not in page.text


def test_the_retry_button_creates_the_retry_and_shows_it(client, op, failed_task):
    client.force_login(op)
    assert client.get(f"{TASKS}{failed_task.pk}/retry/").status_code == 405
    page = client.post(f"{TASKS}{failed_task.pk}/retry/", follow=True)
    retry = BaseTask.objects.get(retry_of=failed_task)
    assert page.redirect_chain[-1][0] == f"{TASKS}{retry.pk}/change/"
    assert "Retried: 1 done." in page.text and retry.created_by == op
    # Its original's history links the new task id.
    original = client.get(f"{TASKS}{failed_task.pk}/change/")
    assert f'href="/admin/task_core/basetask/by-task-id/{retry.task_id}/"' in original.text
    assert client.get(f"{TASKS}by-task-id/{retry.task_id}/").url == f"{TASKS}{retry.pk}/change/"


def test_the_cancel_button_cancels_and_a_viewer_gets_disabled_buttons(client, brand, op, failed_task):
    task, _ = task_create(brand=brand, task_type="demo.echo")
    viewer = staff(brand, "staff-viewer", BrandRole.VIEWER)
    client.force_login(viewer)
    page = client.get(f"{TASKS}{task.pk}/change/")
    assert re.search(r'name="cancel" id="task-cancel"\s*disabled title="Needs the operator role', page.text)
    client.post(f"{TASKS}{task.pk}/cancel/")
    task.refresh_from_db()
    assert task.status != TaskStatus.CANCELLED
    client.force_login(op)
    page = client.post(f"{TASKS}{task.pk}/cancel/", follow=True)
    task.refresh_from_db()
    assert task.status == TaskStatus.CANCELLED and "Cancelled: 1 done." in page.text
    page = client.post(f"{TASKS}{task.pk}/cancel/", follow=True)  # again: refused, said so, nothing written
    assert "Cancelled, not done" in page.text and task.events.filter(to_status=TaskStatus.CANCELLED).count() == 1


def test_another_brands_task_is_not_reachable_by_its_id_or_buttons(client, op, other_brand):
    theirs, _ = task_create(brand=other_brand, task_type="demo.echo")
    client.force_login(op)
    assert client.get(f"{TASKS}by-task-id/{theirs.task_id}/").status_code == 404
    assert client.post(f"{TASKS}{theirs.pk}/cancel/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status != TaskStatus.CANCELLED


def test_the_changelist_shows_compact_times_and_durations(client, superuser, failed_task):
    client.force_login(superuser)
    page = client.get(TASKS)
    assert re.search(r'<td class="field-created_short">\d{4}-\d\d-\d\d<br>\d\d:\d\d:\d\d UTC</td>', page.text)
    assert '<td class="field-took">' in page.text and 'id="changelist-filter"' in page.text
    assert '<nav class="toplinks">' in page.text  # the date hierarchy is kept


def test_staff_see_only_their_brands_users_in_lists_and_autocompletes(client, brand, other_brand, op):
    staff(other_brand, "acme-staff", BrandRole.OPERATOR)
    op.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(op)
    users = client.get("/admin/auth/user/")
    assert "staff-op" in users.text and "acme-staff" not in users.text
    found = client.get("/admin/autocomplete/", {"app_label": "task_core", "model_name": "brandmembership",
                                                "field_name": "user", "term": "staff"}).json()
    assert [r["text"] for r in found["results"]] == ["staff-op"]


def test_brand_filter_lists_only_the_staff_members_brands(client, brand, other_brand, op):
    beta = Brand.objects.create(name="Beta", slug="beta")
    BrandMembership.objects.create(user=op, brand=beta, role=BrandRole.VIEWER)
    Brand.objects.create(name="Zeta", slug="zeta")
    client.force_login(op)
    page = client.get(TASKS)
    assert f"brand__id__exact={brand.pk}" in page.text and f"brand__id__exact={beta.pk}" in page.text
    assert "Acme" not in page.text and "Zeta" not in page.text


def test_retry_of_a_retry_links_back(client, superuser, failed_task):
    retry = task_retry(task=failed_task)
    client.force_login(superuser)
    page = client.get(f"{TASKS}{retry.pk}/change/")
    assert f'href="{TASKS}{failed_task.pk}/change/"' in page.text  # retry of: its original
