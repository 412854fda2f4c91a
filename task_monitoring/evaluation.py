"""Alert rule evaluation from the rollups (and, for queue lengths, workers and stuck tasks, the current
state), run by a Beat entry every MONITORING_EVALUATE_SECONDS."""

import logging
import operator
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Max, Sum
from django.utils import timezone

from megahub.api.exceptions import BrokerUnavailable
from task_core.broker import queue_lengths
from task_core.choices import TaskStatus
from task_core.models import BaseTask

from . import alert_states, notifications
from .histograms import percentile
from .models import HISTOGRAM_BUCKETS, Alert, AlertMetric, AlertRule, AlertState, Granularity, Worker
from .selectors import known_queues, rollups

logger = logging.getLogger("megahub.monitoring")

COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def measure(rule: AlertRule, now=None) -> list[tuple[str, float | None, int]]:
    """(scope, value, samples) of the rule's metric over its window; value None: nothing to compare."""
    now = now or timezone.now()
    since = now - timedelta(seconds=rule.window_seconds)
    metric = rule.metric
    if metric == AlertMetric.QUEUE_LENGTH:
        lengths = queue_lengths([rule.queue] if rule.queue else known_queues())
        return [("", float(sum(lengths.values())), 1)]
    if metric == AlertMetric.STUCK_TASKS:
        qs = BaseTask.objects.for_brand(rule.brand).filter(status=TaskStatus.RUNNING, started_at__lt=since)
        if rule.task_type:
            qs = qs.filter(task_type=rule.task_type)
        if rule.queue:
            qs = qs.filter(queue=rule.queue)
        return [("", float(qs.count()), 1)]
    if metric == AlertMetric.WORKER_OFFLINE:
        gone = Worker.objects.filter(last_heartbeat__gte=since).exclude(pk__in=Worker.objects.online().values("pk"))
        if rule.queue:
            gone = [w for w in gone if rule.queue in w.queues]
        return [(w.hostname, 1.0, 1) for w in gone]
    rows = rollups(brand=rule.brand, granularity=Granularity.MINUTE, since=since, task_type=rule.task_type,
                   queue=rule.queue)
    hist = "d" if metric == AlertMetric.DURATION_P95_MS else "w"
    t = rows.aggregate(completed=Sum("completed"), failed=Sum("failed"), measured=Sum("measured"),
                       waited=Sum("waited"), cost=Sum("cost_usd_sum"), memory=Max("memory_mb_max"),
                       exec_max=Max("execution_ms_max"),
                       **{f"{hist}{i}": Sum(f"{hist}{i}") for i in range(HISTOGRAM_BUCKETS)})
    t = {k: v or 0 for k, v in t.items()}
    finished = t["completed"] + t["failed"]
    counts = [t[f"{hist}{i}"] for i in range(HISTOGRAM_BUCKETS)]
    if metric == AlertMetric.FAILURE_RATE:
        return [("", t["failed"] / finished if finished else None, finished)]
    if metric == AlertMetric.DURATION_P95_MS:
        return [("", percentile(counts, 0.95, t["exec_max"] or None), t["measured"])]
    if metric == AlertMetric.QUEUE_WAIT_P95_MS:
        return [("", percentile(counts, 0.95), t["waited"])]
    if metric == AlertMetric.TASK_FAILED:
        return [("", float(t["failed"]), t["failed"] + t["completed"])]
    if metric == AlertMetric.COST_USD:
        return [("", float(t["cost"]), t["measured"])]
    return [("", float(t["memory"]) if t["measured"] else None, t["measured"])]  # MEMORY_PEAK_MB


def breaches(rule: AlertRule, value: float | None, samples: int) -> bool:
    if value is None or samples < rule.min_samples:
        return False
    return COMPARE[rule.comparator](value, rule.threshold)


def evaluate_rule_value(rule: AlertRule) -> dict:
    """What the rule sees now, for `alert-rules/{id}/test/` (no alert changes, no notification)."""
    try:
        scopes = measure(rule)
    except BrokerUnavailable as exc:
        return {"rule": rule.pk, "error": str(exc), "results": []}
    return {"rule": rule.pk, "metric": rule.metric, "comparator": rule.comparator, "threshold": rule.threshold,
            "results": [{"scope": s, "value": v, "samples": n, "breaching": breaches(rule, v, n)}
                        for s, v, n in scopes]}


def evaluate_all(now=None) -> dict:
    """Evaluate every enabled rule; returns counts of what changed."""
    now = now or timezone.now()
    Worker.objects.silent().update(status="offline")  # died without a goodbye
    changed = {"rules": 0, "opened": 0, "fired": 0, "resolved": 0, "repeated": 0}
    for rule in AlertRule.objects.filter(enabled=True).select_related("brand"):
        try:
            evaluate_rule(rule, now, changed)
        except BrokerUnavailable:
            logger.warning("Rule %s needs the broker, which is unavailable; skipped", rule.pk)
        changed["rules"] += 1
    return changed


def evaluate_rule(rule: AlertRule, now, changed: dict) -> None:
    scopes = measure(rule, now)
    open_alerts = {a.scope: a for a in Alert.objects.filter(rule=rule).open()}
    seen = set()
    for scope, value, samples in scopes:
        seen.add(scope)
        alert = open_alerts.get(scope)
        if breaches(rule, value, samples):
            _breaching(rule, alert, scope, value, now, changed)
        elif alert is not None:
            _clear(alert, changed)
    for scope, alert in open_alerts.items():
        if scope not in seen:
            _clear(alert, changed)
    last = scopes[0][1] if scopes else None
    AlertRule.objects.filter(pk=rule.pk).update(last_evaluated_at=now, last_value=last)


def _breaching(rule, alert, scope, value, now, changed) -> None:
    if alert is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(rule=rule, brand=rule.brand, scope=scope, severity=rule.severity,
                                             value=value, threshold=rule.threshold, message=describe(rule, value))
        except IntegrityError:  # a concurrent evaluation opened it
            return
        changed["opened"] += 1
    else:
        Alert.objects.filter(pk=alert.pk).update(value=value, message=describe(rule, value))
        alert.value = value
    held = max(0.0, (now - alert.started_at).total_seconds())  # a new alert starts (just) after `now`
    if alert.state == AlertState.PENDING and held >= rule.for_seconds:
        if alert_states.transition(alert, AlertState.FIRING, last_notified_at=now):
            changed["fired"] += 1
            notifications.notify(alert, "firing")
    elif (alert.state == AlertState.FIRING and alert.last_notified_at
          and (now - alert.last_notified_at).total_seconds() >= rule.cooldown_seconds):
        Alert.objects.filter(pk=alert.pk).update(last_notified_at=now)
        changed["repeated"] += 1
        notifications.notify(alert, "repeat")


def _clear(alert: Alert, changed: dict) -> None:
    was = alert.state
    if alert_states.transition(alert, AlertState.RESOLVED):
        changed["resolved"] += 1
        if was != AlertState.PENDING:  # nobody was told about a pending one
            notifications.notify(alert, "resolved")


def describe(rule: AlertRule, value) -> str:
    scope = " ".join(filter(None, [rule.task_type and f"type {rule.task_type}", rule.queue and f"queue {rule.queue}"]))
    shown = "n/a" if value is None else f"{value:.4g}"
    return (f"{rule.name}: {rule.get_metric_display()} = {shown} ({rule.get_comparator_display()} "
            f"{rule.threshold:g} over {rule.window_seconds}s{', ' + scope if scope else ''})")
