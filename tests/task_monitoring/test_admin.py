import pytest

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
