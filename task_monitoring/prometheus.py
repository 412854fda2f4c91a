"""`/metrics` in Prometheus' text format, built from the rollups and current state at each scrape
(a custom collector: nothing is kept in process memory, so every web process answers the same).

Served only when PROMETHEUS_METRICS_TOKEN is set (else 404) and asked with
`Authorization: Bearer <token>` (else 401). The brand is a label only with PROMETHEUS_BRAND_LABEL=1.
"""

import hmac
from collections import defaultdict

from django.conf import settings
from django.db.models import Count, Sum
from django.http import Http404, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CollectorRegistry, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from task_core.choices import TaskStatus
from task_core.dashboard import dashboard_sections
from task_core.models import BaseTask, Brand

from .models import HISTOGRAM_BOUNDS_MS, HISTOGRAM_BUCKETS, Alert, AlertState, Granularity, MetricsRollup, Worker
from .selectors import queue_lengths_or_none

_D = [f"d{i}" for i in range(HISTOGRAM_BUCKETS)]


class MegahubCollector:
    def collect(self):
        by_brand = settings.PROMETHEUS_BRAND_LABEL
        keys = ["task_type", *(["brand_id"] if by_brand else [])]
        labels = ["task_type", *(["brand"] if by_brand else [])]
        rows = (MetricsRollup.objects.filter(granularity=Granularity.DAY).values(*keys)
                .annotate(completed=Sum("completed"), failed=Sum("failed"), cancelled=Sum("cancelled"),
                          retried=Sum("retried"), measured=Sum("measured"), ms=Sum("execution_ms_sum"),
                          cost=Sum("cost_usd_sum"), **{c: Sum(c) for c in _D}).order_by(*keys))
        tasks = CounterMetricFamily("megahub_tasks", "Runs that ended, by task type and outcome.",
                                    labels=[*labels, "status"])
        duration = HistogramMetricFamily("megahub_task_duration_seconds", "Execution time of runs.", labels=labels)
        cost = CounterMetricFamily("megahub_task_cost_usd", "Cost of runs (USD).", labels=labels)
        for row in rows:
            values = [row["task_type"], *([str(row["brand_id"])] if by_brand else [])]
            for status in ("completed", "failed", "cancelled", "retried"):
                tasks.add_metric([*values, status], row[status] or 0)
            cumulative, buckets = 0, []
            for i, bound in enumerate([*HISTOGRAM_BOUNDS_MS, None]):
                cumulative += row[f"d{i}"] or 0
                buckets.append(("+Inf" if bound is None else str(bound / 1000), cumulative))
            duration.add_metric(values, buckets, (row["ms"] or 0) / 1000)
            cost.add_metric(values, float(row["cost"] or 0))
        yield from (tasks, duration, cost)

        active = GaugeMetricFamily("megahub_tasks_active", "Tasks not finished, by status.", labels=["status"])
        counts = defaultdict(int, {r["status"]: r["n"] for r in BaseTask.objects.filter(
            status__in=TaskStatus.unfinished()).values("status").annotate(n=Count("pk")).order_by()})
        for status in TaskStatus.unfinished():
            active.add_metric([status], counts[status])
        yield active

        queues = GaugeMetricFamily("megahub_queue_length", "Messages waiting per queue.", labels=["queue"])
        for name, length in (queue_lengths_or_none() or {}).items():
            queues.add_metric([name], length)
        yield queues
        yield GaugeMetricFamily("megahub_workers_online", "Workers with a recent heartbeat.",
                                value=Worker.objects.online().count())
        yield GaugeMetricFamily("megahub_alerts_firing", "Alerts firing.",
                                value=Alert.objects.filter(state=AlertState.FIRING).count())
        yield from self.sections(by_brand)

    @staticmethod
    def sections(by_brand: bool):
        """The dashboard sections other apps registered as gauges (task_core.dashboard), e.g. schedules."""
        brands = list(Brand.objects.order_by("pk")) if by_brand else [None]
        for section in dashboard_sections():
            if not section.gauge_help:
                continue
            gauge = GaugeMetricFamily(f"megahub_{section.name}", section.gauge_help,
                                      labels=["status", *(["brand"] if by_brand else [])])
            for brand in brands:
                for label, count in section.read(brand=brand).items():
                    if label != "total":
                        gauge.add_metric([label, *([str(brand.pk)] if by_brand else [])], count)
            yield gauge


def metrics_view(request):
    token = settings.PROMETHEUS_METRICS_TOKEN
    if not token:
        raise Http404("Prometheus metrics are not enabled.")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("Unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MegahubCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
