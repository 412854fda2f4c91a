"""Reads of task_monitoring. Every figure over a period comes from the rollups, never a scan of tasks."""

from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, Max, Sum
from django.utils import timezone
from rest_framework.exceptions import ValidationError

from megahub.api.exceptions import BrokerUnavailable
from task_core.broker import queue_lengths
from task_core.choices import TaskStatus
from task_core.dashboard import read_dashboard_sections
from task_core.models import BaseTask
from task_core.registry import all_task_types
from task_core.status_counts import status_counts

from .filters import TaskMetricsFilter
from .histograms import percentile
from .models import HISTOGRAM_BUCKETS, Alert, AlertState, Granularity, MetricsRollup, TaskMetrics, Worker
from .recording import bucket_starts

# period -> (its length, the bucket width its time series uses)
PERIODS = {"1h": (timedelta(hours=1), Granularity.MINUTE), "24h": (timedelta(hours=24), Granularity.HOUR),
           "7d": (timedelta(days=7), Granularity.HOUR), "30d": (timedelta(days=30), Granularity.DAY)}
_D = [f"d{i}" for i in range(HISTOGRAM_BUCKETS)]
_W = [f"w{i}" for i in range(HISTOGRAM_BUCKETS)]
_TOTALS = ["completed", "failed", "cancelled", "retried", "measured", "execution_ms_sum", "waited",
           "queue_wait_ms_sum", "cpu_ms_sum", "memory_mb_sum", "cost_usd_sum", *_D, *_W]


def metrics_list(*, brand, filters, request=None):
    qs = TaskMetrics.objects.for_brand(brand).select_related("task").order_by("-finished_at", "-task_id")
    filterset = TaskMetricsFilter(filters, queryset=qs, request=request)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


def rollups(*, brand, granularity: str, since, task_type: str = "", queue: str = ""):
    """Rollup rows of a brand from the bucket holding `since` on (aligned to the bucket width)."""
    qs = MetricsRollup.objects.filter(brand=brand, granularity=granularity,
                                      bucket__gte=bucket_starts(since)[granularity])
    if task_type:
        qs = qs.filter(task_type=task_type)
    if queue:
        qs = qs.filter(queue=queue)
    return qs


def summarize(totals: dict, execution_max=None) -> dict:
    """Rates, means and percentiles of summed rollup columns."""
    totals = {k: v or 0 for k, v in totals.items()}
    finished = totals["completed"] + totals["failed"]
    d, w = [totals[c] or 0 for c in _D], [totals[c] or 0 for c in _W]
    measured, waited = totals["measured"] or 0, totals["waited"] or 0
    return {
        "completed": totals["completed"] or 0, "failed": totals["failed"] or 0,
        "cancelled": totals["cancelled"] or 0, "retried": totals["retried"] or 0,
        "success_rate": round(totals["completed"] / finished, 4) if finished else None,
        "execution_time_ms": {"avg": round(totals["execution_ms_sum"] / measured, 1) if measured else None,
                              "p50": percentile(d, 0.5, execution_max), "p95": percentile(d, 0.95, execution_max),
                              "p99": percentile(d, 0.99, execution_max), "max": execution_max},
        "queue_wait_ms": {"avg": round(totals["queue_wait_ms_sum"] / waited, 1) if waited else None,
                          "p50": percentile(w, 0.5), "p95": percentile(w, 0.95), "p99": percentile(w, 0.99)},
        "cpu_time_ms": totals["cpu_ms_sum"] or 0,
        "memory_mb_avg": round(totals["memory_mb_sum"] / measured, 1) if measured else None,
        "cost_usd": totals["cost_usd_sum"] or Decimal(0),
    }


def _sums():
    return {c: Sum(c) for c in _TOTALS}


def dashboard(*, brand, period: str, task_type: str = "") -> dict:
    if period not in PERIODS:
        raise ValidationError({"period": [f"Use one of {', '.join(PERIODS)}."]})
    length, width = PERIODS[period]
    now = timezone.now()
    since = now - length
    base = rollups(brand=brand, granularity=width, since=since, task_type=task_type)
    by_type = []
    overall = dict.fromkeys(_TOTALS, 0)
    overall_max = 0
    for row in base.values("task_type").annotate(**_sums(), execution_ms_max=Max("execution_ms_max"),
                                                 memory_mb_max=Max("memory_mb_max")).order_by("task_type"):
        for c in _TOTALS:
            overall[c] += row[c] or 0
        overall_max = max(overall_max, row["execution_ms_max"] or 0)
        by_type.append({"task_type": row["task_type"], **summarize(row, row["execution_ms_max"]),
                        "memory_mb_max": row["memory_mb_max"]})
    series = [{"bucket": row["bucket"], "completed": row["completed"], "failed": row["failed"],
               "cancelled": row["cancelled"], "cost_usd": row["cost_usd_sum"]}
              for row in base.values("bucket").annotate(completed=Sum("completed"), failed=Sum("failed"),
                                                        cancelled=Sum("cancelled"), cost_usd_sum=Sum("cost_usd_sum"))
              .order_by("bucket")]
    days = rollups(brand=brand, granularity=Granularity.DAY, since=since, task_type=task_type)
    cost_by_day = [{"day": row["bucket"].date(), "cost_usd": row["cost"]}
                   for row in days.values("bucket").annotate(cost=Sum("cost_usd_sum")).order_by("bucket")]
    return {
        "period": period, "since": since, "until": now, "bucket": width.label.lower(), "task_type": task_type or None,
        "counts_by_status": {s: overall.get(s, 0) for s in ("completed", "failed", "cancelled")}
        | {"retried": overall["retried"]},
        "active_by_status": active_counts(brand=brand, task_type=task_type),
        **{k: v for k, v in summarize(overall, overall_max or None).items()
           if k in ("success_rate", "execution_time_ms", "queue_wait_ms", "cost_usd")},
        "throughput": series,
        "by_task_type": by_type,
        "cost_by_day": cost_by_day,
        "top_failures": top_failures(brand=brand, by_type=by_type),
        "queues": queue_lengths_or_none(),
    }


def active_counts(*, brand, task_type: str = "") -> dict[str, int]:
    """Tasks not finished, by status: the brand's from core's counters (no scan); one type's counted on
    the (brand, task_type, created_at) index."""
    if not task_type:
        counts = status_counts(brand=brand)
        return {status: counts[status] for status in TaskStatus.unfinished()}
    qs = BaseTask.objects.for_brand(brand).filter(status__in=TaskStatus.unfinished(), task_type=task_type)
    counts = dict.fromkeys(TaskStatus.unfinished(), 0)
    counts.update({row["status"]: row["n"] for row in qs.values("status").annotate(n=Count("*")).order_by()})
    return counts


def top_failures(*, brand, by_type: list[dict], limit: int = 5) -> list[dict]:
    failing = sorted((t for t in by_type if t["failed"]), key=lambda t: -t["failed"])[:limit]
    out = []
    for entry in failing:
        last = (TaskMetrics.objects.for_brand(brand).filter(task_type=entry["task_type"], status=TaskStatus.FAILED)
                .select_related("task").order_by("-finished_at").first())
        out.append({"task_type": entry["task_type"], "failed": entry["failed"],
                    "failure_rate": round(entry["failed"] / ((entry["completed"] + entry["failed"]) or 1), 4),
                    "last_error": last.task.error_message[:500] if last else "",
                    "last_failed_at": last.finished_at if last else None})
    return out


def known_queues() -> list[str]:
    return sorted({"default", *(t.queue for t in all_task_types())})


def queue_lengths_or_none() -> dict[str, int] | None:
    """Messages waiting per known queue now; None when the broker cannot be reached."""
    try:
        return queue_lengths(known_queues())
    except BrokerUnavailable:
        return None


def workers_list():
    return Worker.objects.order_by("hostname")


def with_liveness(workers) -> list[Worker]:
    online = set(Worker.objects.online().values_list("pk", flat=True))
    workers = list(workers)
    for w in workers:
        w.online = w.pk in online
    return workers


def workers_overview() -> dict:
    workers = with_liveness(Worker.objects.all())
    online = [w for w in workers if w.online]
    lengths = queue_lengths_or_none()
    consumers: dict[str, list[str]] = {}
    for w in online:
        for q in w.queues:
            consumers.setdefault(q, []).append(w.hostname)
    queues = sorted(set(consumers) | set(lengths or {}))
    return {"online": len(online), "offline": len(workers) - len(online),
            "total_slots": sum(w.concurrency for w in online), "busy_slots": sum(w.active for w in online),
            "queues": [{"name": q, "length": (lengths or {}).get(q), "consumers": sorted(consumers.get(q, []))}
                       for q in queues],
            "broker": "up" if lengths is not None else "down"}


def system_dashboard(*, brand) -> dict:
    """The front page in one call, with the sections other apps registered (task_core.dashboard)."""
    day = summarize(rollups(brand=brand, granularity=Granularity.HOUR,
                            since=timezone.now() - timedelta(hours=24)).aggregate(**_sums()))
    overview = workers_overview()
    return {
        "tasks_by_status": active_counts(brand=brand) | {
            "completed_24h": day["completed"], "failed_24h": day["failed"], "cancelled_24h": day["cancelled"]},
        "success_rate_24h": day["success_rate"],
        "throughput_24h": day["completed"] + day["failed"],
        "cost_usd_24h": day["cost_usd"],
        "workers_online": overview["online"], "workers_offline": overview["offline"],
        "busy_slots": overview["busy_slots"], "total_slots": overview["total_slots"],
        "alerts_firing": Alert.objects.for_brand(brand).filter(state=AlertState.FIRING).count(),
        "alerts_acknowledged": Alert.objects.for_brand(brand).filter(state=AlertState.ACKNOWLEDGED).count(),
        "queues": overview["queues"],
        **read_dashboard_sections(brand=brand),
    }
