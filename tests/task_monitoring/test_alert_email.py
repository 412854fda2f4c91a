"""The e-mail channel of an alert rule, through Django's locmem e-mail backend: the evaluation opens and
resolves the alert, each delivery runs the real Celery delivery task (eagerly, in this process)."""

import pytest
from django.core import mail

from megahub.celery import app
from task_monitoring import evaluation
from task_monitoring.models import Alert, AlertDelivery, AlertRule

from .factories import finished_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def eager_celery():
    """Celery tasks sent with .delay() run in this process (so their mail lands in this outbox)."""
    app.conf.update(task_always_eager=True, task_eager_propagates=True)
    yield
    app.conf.update(task_always_eager=False, task_eager_propagates=False)


def evaluate(capture):
    with capture(execute=True):  # notifications leave once the evaluation commits
        evaluation.evaluate_all()


def test_firing_and_resolved_alerts_are_mailed(brand, settings, eager_celery, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    rule = AlertRule.objects.create(brand=brand, name="Failures of demo.fail", metric="task_failed",
                                    comparator="gte", threshold=1, severity="critical",
                                    emails=["ops@example.com", "oncall@example.com"])
    finished_task(brand, "demo.fail", wall_ms=5, status="failed", error="boom")
    evaluate(django_capture_on_commit_callbacks)

    assert Alert.objects.get(rule=rule).state == "firing"
    assert sorted(m.to[0] for m in mail.outbox) == ["oncall@example.com", "ops@example.com"]
    message = mail.outbox[0]
    assert message.subject == "[MEGAHUB critical] firing: Failures of demo.fail"
    assert "Failed tasks (count) = 1" in message.body and message.from_email == settings.DEFAULT_FROM_EMAIL
    assert set(AlertDelivery.objects.values_list("channel", "event", "status")) == {("email", "firing", "sent")}

    evaluate(django_capture_on_commit_callbacks)  # still firing, inside the cooldown: no repeat
    assert len(mail.outbox) == 2

    rule.threshold = 5  # the condition clears
    rule.save()
    evaluate(django_capture_on_commit_callbacks)
    assert Alert.objects.get(rule=rule).state == "resolved"
    resolved = mail.outbox[2:]
    assert sorted(m.to[0] for m in resolved) == ["oncall@example.com", "ops@example.com"]
    assert all(m.subject == "[MEGAHUB critical] resolved: Failures of demo.fail" for m in resolved)
    assert AlertDelivery.objects.filter(event="resolved", status="sent").count() == 2


def test_a_rule_without_addresses_mails_nobody(brand, settings, eager_celery, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    AlertRule.objects.create(brand=brand, name="quiet", metric="task_failed", comparator="gte", threshold=1)
    finished_task(brand, "demo.fail", wall_ms=5, status="failed")
    evaluate(django_capture_on_commit_callbacks)
    assert Alert.objects.get().state == "firing" and mail.outbox == []
