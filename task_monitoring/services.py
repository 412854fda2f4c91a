"""Writes of task_monitoring: alert rules, operator actions on alerts, retention."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from megahub.api.exceptions import InvalidTransition
from megahub.iterables import chunked
from task_core.choices import TaskStatus
from task_core.models import BaseTask, Brand, TaskEvent

from . import alert_states, notifications
from .models import Alert, AlertRule, AlertState, Granularity, MetricsRollup, TaskMetrics


def alert_rule_create(*, brand, user, data: dict) -> AlertRule:
    return AlertRule.objects.create(brand=brand, created_by=user, **data)


def alert_rule_update(*, rule: AlertRule, data: dict) -> AlertRule:
    for name, value in data.items():
        setattr(rule, name, value)
    rule.save()
    return rule


def alert_acknowledge(*, alert: Alert, user, note: str = "") -> Alert:
    if not alert_states.transition(alert, AlertState.ACKNOWLEDGED, acknowledged_by=user, acknowledge_note=note):
        raise InvalidTransition(f"A {alert.state} alert cannot be acknowledged.")
    return alert


@transaction.atomic
def alert_resolve(*, alert: Alert, user) -> Alert:
    was = alert.state
    if not alert_states.transition(alert, AlertState.RESOLVED, resolved_by=user):
        raise InvalidTransition(f"A {alert.state} alert cannot be resolved.")
    if was != AlertState.PENDING:
        notifications.notify(alert, "resolved")
    return alert


def executions_cleanup(*, brand: Brand, older_than_days: int | None = None, dry_run: bool = False) -> dict:
    """Delete the brand's finished tasks older than the cutoff with their events and metrics (rollups
    stay, so dashboards and Prometheus counters keep their history). Returns what was (or would be) deleted."""
    days = older_than_days or settings.MONITORING_RETENTION_DAYS
    cutoff = timezone.now() - timedelta(days=days)
    old = BaseTask.objects.for_brand(brand).filter(status__in=TaskStatus.finished(), completed_at__lt=cutoff)
    counts = {"older_than_days": days, "dry_run": dry_run, "tasks": 0, "events": 0, "metrics": 0}
    for pks in chunked(list(old.values_list("pk", flat=True))):
        counts["tasks"] += len(pks)
        counts["events"] += TaskEvent.objects.filter(task_id__in=pks).count()
        counts["metrics"] += TaskMetrics.objects.filter(task_id__in=pks).count()
        if not dry_run:
            with transaction.atomic():
                BaseTask.objects.filter(pk__in=pks).delete()
    return counts


def executions_cleanup_all() -> dict:
    """The daily Beat entry: every brand, MONITORING_RETENTION_DAYS; old minute/hour rollups too."""
    now = timezone.now()
    total = {"tasks": 0, "events": 0, "metrics": 0}
    for brand in Brand.objects.all():
        result = executions_cleanup(brand=brand)
        for key in total:
            total[key] += result[key]
    MetricsRollup.objects.filter(granularity=Granularity.MINUTE,
                                 bucket__lt=now - timedelta(hours=settings.MONITORING_MINUTE_ROLLUP_HOURS)).delete()
    MetricsRollup.objects.filter(granularity=Granularity.HOUR,
                                 bucket__lt=now - timedelta(days=settings.MONITORING_HOUR_ROLLUP_DAYS)).delete()
    return total
