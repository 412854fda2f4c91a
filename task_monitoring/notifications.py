"""Alert notifications: a signed webhook POST and an e-mail per target, each logged as an AlertDelivery
and sent by a Celery task (retried with backoff), so the evaluation never waits on a network.

Signature: `X-Megahub-Signature: sha256=<hex HMAC-SHA256 of the raw body, keyed with the rule's secret>`.
A webhook URL whose host resolves to a loopback, private, link-local or reserved address is refused
(server-side request forgery) unless ALERT_WEBHOOK_ALLOW_PRIVATE=1.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from celery import current_app
from django.conf import settings
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .models import Alert, AlertDelivery

DELIVER_TASK = "megahub.monitoring.deliver_notification"

SIGNATURE_HEADER = "X-Megahub-Signature"


class DeliveryRefused(Exception):
    """The target may not be contacted (a private address); never retried."""


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def payload(alert: Alert, event: str) -> dict:
    rule = alert.rule
    return {"event": event, "alert": {"id": alert.pk, "state": alert.state, "scope": alert.scope,
                                      "severity": alert.severity, "value": alert.value, "threshold": alert.threshold,
                                      "message": alert.message, "started_at": alert.started_at,
                                      "fired_at": alert.fired_at, "resolved_at": alert.resolved_at},
            "rule": {"id": rule.pk, "name": rule.name, "metric": rule.metric, "task_type": rule.task_type,
                     "queue": rule.queue},
            "brand": {"id": alert.brand_id}, "sent_at": timezone.now()}


def notify(alert: Alert, event: str) -> list[AlertDelivery]:
    """Log one delivery per channel target and send each from a Celery task (on MONITORING_NOTIFY_QUEUE)
    once this commits. The task is found by name: tasks.py imports this module."""
    deliver, queue = current_app.tasks[DELIVER_TASK], settings.MONITORING_NOTIFY_QUEUE
    rule = alert.rule
    deliveries = [AlertDelivery(alert=alert, channel="webhook", target=url, event=event) for url in rule.webhook_urls]
    deliveries += [AlertDelivery(alert=alert, channel="email", target=addr, event=event) for addr in rule.emails]
    AlertDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        transaction.on_commit(lambda pk=delivery.pk: deliver.apply_async(args=[pk], queue=queue))
    return deliveries


def check_public(url: str) -> None:
    """Raise DeliveryRefused unless every address the URL's host resolves to is public."""
    if settings.ALERT_WEBHOOK_ALLOW_PRIVATE:
        return
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryRefused(f"Not an http(s) URL: {url}")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except socket.gaierror as exc:
        raise DeliveryRefused(f"Host {parts.hostname} does not resolve: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            raise DeliveryRefused(f"{parts.hostname} resolves to the non-public address {address} "
                                  "(ALERT_WEBHOOK_ALLOW_PRIVATE=1 allows it)")


def send(delivery: AlertDelivery) -> int | None:
    """Send one delivery; returns the HTTP status of a webhook. Raises on a failure worth retrying."""
    alert = delivery.alert
    body = json.dumps(payload(alert, delivery.event), cls=DjangoJSONEncoder).encode()
    if delivery.channel == "email":
        send_mail(f"[MEGAHUB {alert.severity}] {delivery.event}: {alert.rule.name}", alert.message + "\n\n"
                  + body.decode(), settings.DEFAULT_FROM_EMAIL, [delivery.target])
        return None
    check_public(delivery.target)
    request = urllib.request.Request(delivery.target, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "megahub-alerts/1",
        SIGNATURE_HEADER: sign(alert.rule.secret, body)})
    with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS) as response:  # noqa: S310
        return response.status
