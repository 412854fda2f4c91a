import json
import re

import pytest
from django.contrib.auth import get_user_model

from task_core.models import BrandMembership
from task_monitoring.models import Alert, AlertRule

from .factories import finished_task

pytestmark = pytest.mark.django_db


def test_task_page_shows_metrics_and_alert_actions_work(client, superuser, brand):
    client.force_login(superuser)
    task = finished_task(brand, wall_ms=1234)
    page = client.get(f"/admin/task_core/basetask/{task.pk}/change/")
    assert page.status_code == 200 and b"1234" in page.content
    rule = AlertRule.objects.create(brand=brand, name="r", metric="task_failed", threshold=0)
    alert = Alert.objects.create(rule=rule, brand=brand, severity="info", value=1, threshold=0, state="firing")
    client.post("/admin/task_monitoring/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.state == "acknowledged" and alert.acknowledged_by == superuser
    client.post("/admin/task_monitoring/alert/", {"action": "resolve", "_selected_action": [alert.pk]})
    alert.refresh_from_db()
    assert alert.state == "resolved"
    for path in ("worker", "alertrule", "alert"):
        assert client.get(f"/admin/task_monitoring/{path}/").status_code == 200


DASHBOARD = "/admin/task_monitoring/dashboard/"


@pytest.fixture
def staff_viewer(brand):
    user = get_user_model().objects.create_user(username="staffview", password="x-pass-123", is_staff=True)
    BrandMembership.objects.create(user=user, brand=brand, role="viewer")
    return user


def embedded(page) -> dict:
    return json.loads(re.search(rb'<script id="dashboard-data" type="application/json">(.*?)</script>',
                                page.content, re.S).group(1))


def test_dashboard_is_linked_from_the_admin_index_and_embeds_the_apis_figures(client, superuser, brand, other_brand,
                                                                                operator_api):
    finished_task(brand, wall_ms=40)
    finished_task(brand, "demo.fail", wall_ms=700, status="failed", error="boom")
    finished_task(other_brand, wall_ms=10)
    client.force_login(superuser)
    assert DASHBOARD.encode() in client.get("/admin/").content
    page = client.get(DASHBOARD, {"brand": brand.pk, "period": "24h"})
    assert page.status_code == 200
    assert b"chart.umd.min.js" in page.content and b"cdn" not in page.content.lower()
    data = embedded(page)
    api = operator_api.get("/tasks/monitoring/metrics/dashboard/?period=24h").json()
    assert data["counts_by_status"] == api["counts_by_status"] == {"completed": 1, "failed": 1, "cancelled": 0,
                                                                   "retried": 0}
    assert data["by_task_type"] == api["by_task_type"] and data["success_rate"] == 0.5
    assert [t["task_type"] for t in data["by_task_type"]] == ["demo.echo", "demo.fail"]
    # a superuser chooses among every brand
    assert embedded(client.get(DASHBOARD, {"brand": other_brand.pk}))["counts_by_status"]["completed"] == 1


def test_dashboard_shows_staff_only_their_brands(client, staff_viewer, brand, other_brand):
    finished_task(other_brand, wall_ms=10)
    client.force_login(staff_viewer)
    assert DASHBOARD.encode() in client.get("/admin/").content
    page = client.get(DASHBOARD)
    assert page.status_code == 200 and embedded(page)["counts_by_status"]["completed"] == 0  # their brand
    options = re.findall(rb'<option value="(\d+)"', page.content)
    assert options == [str(brand.pk).encode()]
    refused = client.get(DASHBOARD, {"brand": other_brand.pk})
    assert refused.status_code == 200 and b"dashboard-data" not in refused.content
    assert b"Select a valid choice" in refused.content


def test_dashboard_is_closed_to_staff_without_a_brand(client, db):
    user = get_user_model().objects.create_user(username="nobody", password="x-pass-123", is_staff=True)
    client.force_login(user)
    assert client.get(DASHBOARD).status_code == 403
    assert DASHBOARD.encode() not in client.get("/admin/").content
