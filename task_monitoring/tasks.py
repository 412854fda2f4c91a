"""Celery tasks of task_monitoring (Beat entries in CELERY_BEAT_SCHEDULE, and notification delivery).
Thin: each calls one service."""

import urllib.error

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import evaluation, notifications, services
from .models import AlertDelivery


@shared_task(name="megahub.monitoring.evaluate_alerts", ignore_result=True)
def evaluate_alerts():
    return evaluation.evaluate_all()


@shared_task(name="megahub.monitoring.cleanup_executions", ignore_result=True)
def cleanup_executions():
    return services.executions_cleanup_all()


@shared_task(name=notifications.DELIVER_TASK, bind=True, ignore_result=True, max_retries=None)
def deliver_notification(self, delivery_pk: int):
    """Send one logged delivery; retried with exponential backoff up to ALERT_WEBHOOK_MAX_ATTEMPTS."""
    delivery = AlertDelivery.objects.select_related("alert__rule").filter(pk=delivery_pk).first()
    if delivery is None or delivery.status in ("sent", "refused"):
        return
    attempts = delivery.attempts + 1
    try:
        code = notifications.send(delivery)
    except notifications.DeliveryRefused as exc:
        AlertDelivery.objects.filter(pk=delivery.pk).update(status="refused", attempts=attempts, error=str(exc)[:2000])
        return
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        code = getattr(exc, "code", None)
        failed = attempts >= settings.ALERT_WEBHOOK_MAX_ATTEMPTS
        AlertDelivery.objects.filter(pk=delivery.pk).update(
            status="failed" if failed else "pending", attempts=attempts, response_code=code, error=str(exc)[:2000])
        if not failed:
            raise self.retry(countdown=min(2 ** attempts, 300), exc=exc) from exc
        return
    AlertDelivery.objects.filter(pk=delivery.pk).update(status="sent", attempts=attempts, response_code=code,
                                                        error="", sent_at=timezone.now())
