import pytest
from django.contrib.auth import get_user_model

from task_core.choices import BrandRole, TaskStatus
from task_core.models import BaseTask, Brand, BrandMembership
from task_core.services import task_create
from task_core.state_machine import transition


@pytest.fixture
def staff_operator(brand):
    user = get_user_model().objects.create_user(username="staffop", password="x-pass-123", is_staff=True)
    BrandMembership.objects.create(user=user, brand=brand, role=BrandRole.OPERATOR)
    return user


@pytest.fixture
def staff_viewer(brand):
    user = get_user_model().objects.create_user(username="staffview", password="x-pass-123", is_staff=True)
    BrandMembership.objects.create(user=user, brand=brand, role=BrandRole.VIEWER)
    return user


@pytest.fixture
def tasks(brand, other_brand):
    mine, _ = task_create(brand=brand, task_type="demo.echo", context_data={"message": "mine"})
    theirs, _ = task_create(brand=other_brand, task_type="demo.echo", context_data={"message": "theirs"})
    return mine, theirs


def _failed(task):
    for status in (TaskStatus.RUNNING, TaskStatus.FAILED):
        assert transition(task, status)
    return task


@pytest.mark.django_db
def test_anonymous_admin_login_page_renders(client):
    assert client.get("/admin/login/").status_code == 200


@pytest.mark.django_db
def test_staff_sees_only_their_brands_tasks(client, staff_operator, tasks):
    mine, theirs = tasks
    client.force_login(staff_operator)
    page = client.get("/admin/task_core/basetask/")
    assert page.status_code == 200
    assert f"/admin/task_core/basetask/{mine.pk}/change/" in page.text
    assert f"/admin/task_core/basetask/{theirs.pk}/change/" not in page.text
    assert client.get(f"/admin/task_core/basetask/{mine.pk}/change/").status_code == 200
    # Another brand's task is not reachable by URL either.
    assert client.get(f"/admin/task_core/basetask/{theirs.pk}/change/").status_code == 302


@pytest.mark.django_db
@pytest.mark.parametrize("changelist", ["/admin/task_core/basetask/", "/admin/task_core/brandmembership/"])
def test_brand_filter_names_only_the_staff_members_brands(client, staff_operator, tasks, changelist, other_brand):
    beta = Brand.objects.create(name="Beta", slug="beta")  # a second brand of theirs: the filter shows
    BrandMembership.objects.create(user=staff_operator, brand=beta, role=BrandRole.VIEWER)
    task_create(brand=beta, task_type="demo.echo")
    BrandMembership.objects.create(user=get_user_model().objects.create_user(username="acme-op"),
                                   brand=other_brand, role=BrandRole.OPERATOR)
    client.force_login(staff_operator)
    page = client.get(changelist)
    assert page.status_code == 200
    assert f"brand__id__exact={tasks[0].brand_id}" in page.text and f"brand__id__exact={beta.pk}" in page.text
    assert f"brand__id__exact={other_brand.pk}" not in page.text and "Acme" not in page.text


@pytest.mark.django_db
def test_task_change_page_shows_progress_and_events(client, superuser, tasks):
    mine, _ = tasks
    client.force_login(superuser)
    page = client.get(f"/admin/task_core/basetask/{mine.pk}/change/")
    assert "created (api)" in page.text  # the events inline
    listing = client.get("/admin/task_core/basetask/?status__exact=pending")
    assert 'title="0%"' in listing.text  # progress bar


@pytest.mark.django_db
def test_brand_staff_see_the_events_of_their_tasks_read_only(client, staff_viewer, tasks):
    """Brand staff hold no Django model permissions: the history inline follows the brand scope instead."""
    mine, _ = tasks
    client.force_login(staff_viewer)
    page = client.get(f"/admin/task_core/basetask/{mine.pk}/change/")
    assert page.status_code == 200
    assert "created (api)" in page.text
    assert "events-TOTAL_FORMS" in page.text and 'name="events-0-detail"' not in page.text


@pytest.mark.django_db
def test_retry_action_creates_a_new_task_for_an_operator(client, staff_operator, tasks):
    mine, _ = tasks
    _failed(mine)
    client.force_login(staff_operator)
    client.post("/admin/task_core/basetask/", {"action": "retry_tasks", "_selected_action": [mine.pk]})
    retry = BaseTask.objects.get(retry_of=mine)
    assert retry.origin == "retry" and retry.created_by == staff_operator


@pytest.mark.django_db
def test_cancel_action_refused_for_a_viewer_and_illegal_states(client, staff_viewer, superuser, tasks):
    mine, _ = tasks
    client.force_login(staff_viewer)
    client.post("/admin/task_core/basetask/", {"action": "cancel_tasks", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.status != TaskStatus.CANCELLED

    client.force_login(superuser)
    client.post("/admin/task_core/basetask/", {"action": "cancel_tasks", "_selected_action": [mine.pk]})
    mine.refresh_from_db()
    assert mine.status == TaskStatus.CANCELLED
    # Cancelling again is an illegal transition: reported, nothing changes, no error page.
    resp = client.post("/admin/task_core/basetask/", {"action": "cancel_tasks", "_selected_action": [mine.pk]},
                       follow=True)
    assert resp.status_code == 200 and "Cancelled, not done" in resp.text
    assert mine.events.filter(to_status=TaskStatus.CANCELLED).count() == 1


@pytest.mark.django_db
def test_staff_brand_admin_lists_only_own_brands(client, staff_operator, brand, other_brand):
    client.force_login(staff_operator)
    page = client.get("/admin/task_core/brand/")
    assert brand.name in page.text and other_brand.name not in page.text


@pytest.mark.django_db
def test_a_brand_gets_the_default_time_zone_and_an_unknown_one_is_a_form_error(client, superuser, settings):
    settings.BRAND_DEFAULT_TIMEZONE = "Europe/Paris"
    assert Brand.objects.create(name="Nord", slug="nord").timezone == "Europe/Paris"

    client.force_login(superuser)
    resp = client.post("/admin/task_core/brand/add/", {"name": "Sud", "slug": "sud", "timezone": "Mars/Olympus",
                                                      "is_active": "on", "memberships-TOTAL_FORMS": "0",
                                                      "memberships-INITIAL_FORMS": "0"})
    assert resp.status_code == 200 and "Unknown time zone" in resp.text
    assert not Brand.objects.filter(slug="sud").exists()
