"""Alert rules and the alert state machine without processes: evaluation from the rollups, SSRF refusal."""

import pytest

from task_monitoring import alert_states, evaluation, notifications
from task_monitoring.models import Alert, AlertRule

from .factories import finished_task

pytestmark = pytest.mark.django_db


def test_transition_table_is_guarded(brand):
    rule = AlertRule.objects.create(brand=brand, name="r", metric="task_failed", threshold=0)
    alert = Alert.objects.create(rule=rule, brand=brand, severity="info", value=1, threshold=0)
    assert not alert_states.transition(alert, "acknowledged")  # pending cannot be acknowledged
    assert alert_states.transition(alert, "firing") and alert.fired_at
    assert alert_states.transition(alert, "acknowledged")
    assert alert_states.transition(alert, "resolved")
    assert not alert_states.transition(alert, "firing")  # resolved is final


def test_rule_pending_then_firing_then_resolved_with_one_open_alert(brand):
    rule = AlertRule.objects.create(brand=brand, name="failures", metric="task_failed", comparator="gte",
                                    threshold=1, for_seconds=0)
    finished_task(brand, "demo.fail", wall_ms=5, status="failed")
    evaluation.evaluate_all()
    evaluation.evaluate_all()
    alerts = list(Alert.objects.filter(rule=rule))
    assert len(alerts) == 1 and alerts[0].state == "firing" and alerts[0].value == 1
    rule.threshold = 5
    rule.save()
    evaluation.evaluate_all()
    assert Alert.objects.get(rule=rule).state == "resolved"


def test_min_samples_holds_a_rate_back(brand):
    rule = AlertRule.objects.create(brand=brand, name="rate", metric="failure_rate", threshold=0.1, min_samples=3)
    finished_task(brand, "demo.fail", wall_ms=5, status="failed")
    assert evaluation.evaluate_rule_value(rule)["results"][0]["breaching"] is False


def test_test_endpoint_evaluates_without_opening_alerts(operator_api, brand):
    rule = AlertRule.objects.create(brand=brand, name="r", metric="task_failed", comparator="gte", threshold=1)
    finished_task(brand, "demo.fail", wall_ms=5, status="failed")
    body = operator_api.post(f"/tasks/monitoring/alert-rules/{rule.pk}/test/").json()
    assert body["results"][0] == {"scope": "", "value": 1.0, "samples": 1, "breaching": True}
    assert not Alert.objects.exists()


def test_viewer_reads_rules_but_cannot_write(api, viewer, brand, other_brand):
    client = api(viewer, brand)
    assert client.get("/tasks/monitoring/alert-rules/").status_code == 200
    resp = client.post("/tasks/monitoring/alert-rules/", {"name": "x", "metric": "task_failed", "threshold": 1},
                       format="json")
    assert resp.status_code == 403
    other = AlertRule.objects.create(brand=other_brand, name="theirs", metric="task_failed", threshold=0)
    assert client.get(f"/tasks/monitoring/alert-rules/{other.pk}/").status_code == 404


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/x", "http://10.1.2.3/x", "http://[::1]/x",
                                 "http://169.254.169.254/latest"])
def test_private_webhook_targets_are_refused(url, settings):
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(notifications.DeliveryRefused):
        notifications.check_public(url)
    settings.ALERT_WEBHOOK_ALLOW_PRIVATE = True
    notifications.check_public(url)
