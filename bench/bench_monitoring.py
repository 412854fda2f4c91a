"""task_monitoring at scale: what capture costs per task, and the dashboards and metric lists at 1,000,000
tasks of one brand.

1. Capture, in this process (the work a pool process does around each run, minus the run):
   - the probes alone (`capture.begin()` + `capture.end()`: reset the memory peak, read CPU and wall
     clocks, read VmHWM), over BENCH_MON_PROBES runs;
   - the whole receiver path (`task_started` + `task_finished` receivers: probes, cost and flags, the one
     recording statement with the metrics row and three rollups) over BENCH_MON_RECORDS finished tasks,
     as CPU of this process and of its PostgreSQL backend, per task.
   MEGAHUB has no switch that turns capture off, so this is measured directly rather than as a difference
   between two worker runs.
2. Reads on bench_reads' database (`megahub_bench_reads`, BENCH_READS_ROWS tasks in each of two brands,
   generated there by bench_reads' SQL), to which this script adds, in SQL and once, a TaskMetrics row
   per finished task and the minute (last 48 h), hour (60 days) and day rollups computed from them. The
   API runs under gunicorn (2 workers); each endpoint gets bench_reads' sequential requests and is
   printed with p50 / p95, its target, and its SQL query count.

Env: BENCH_MON_PROBES (default 20000), BENCH_MON_RECORDS (default 2000), and bench_reads' BENCH_READS_ROWS,
BENCH_READS_REQUESTS.
"""

import http.client
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import machine, process_cpu_seconds, set_env_defaults  # noqa: E402
from bench.bench_reads import (  # noqa: E402
    BRANDS,
    GENERATE_SQL,
    REQUESTS,
    ROWS,
    WARMUP,
    measure,
    prepare,
    print_plans,
    reads_database_url,
    start_gunicorn,
)

PROBES = int(os.environ.get("BENCH_MON_PROBES", "20000"))
RECORDS = int(os.environ.get("BENCH_MON_RECORDS", "2000"))
CAPTURE_BRAND = "bench-monitoring-capture"

# (label, path, p95 target in ms)
ENDPOINTS = [
    ("metrics dashboard 1h", "/tasks/monitoring/metrics/dashboard/?period=1h", 200),
    ("metrics dashboard 24h", "/tasks/monitoring/metrics/dashboard/?period=24h", 200),
    ("metrics dashboard 7d", "/tasks/monitoring/metrics/dashboard/?period=7d", 200),
    ("metrics dashboard 30d", "/tasks/monitoring/metrics/dashboard/?period=30d", 200),
    ("metrics dashboard 30d, one type", "/tasks/monitoring/metrics/dashboard/?period=30d&task_type=demo.fail", 200),
    ("system dashboard", "/tasks/system/dashboard/", 200),
    ("tasks: failed, newest first", "/tasks/?status=failed&ordering=-created_at", 30),
    ("tasks: type + priority, by completion", "/tasks/?task_type=demo.echo&priority=high&ordering=-completed_at", 30),
    ("tasks: has_metrics, execution_time>=4000", "/tasks/?has_metrics=true&execution_time__gte=4000"
                                                  "&ordering=-created_at", 30),
    ("metrics: first page", "/tasks/monitoring/metrics/", 50),
    ("metrics: one type, slowest first", "/tasks/monitoring/metrics/?task_type=demo.fail&ordering=-execution_time_ms",
     50),
    ("metrics: search=high_memory", "/tasks/monitoring/metrics/?search=high_memory", 50),
    ("metrics: execution_time>=4000", "/tasks/monitoring/metrics/?execution_time__gte=4000", 50),
]

# One TaskMetrics row per finished task of a brand (bench_reads' tasks ran 2 s to 7 s after being created,
# waited 1 s); about 1 % of them flagged high_memory.
METRICS_SQL = """
INSERT INTO task_monitoring_taskmetrics (
    task_id, brand_id, task_type, status, finished_at, execution_time_ms, queue_wait_ms, cpu_time_ms,
    memory_usage_mb, memory_is_run_peak, cost_usd, custom, flags, runs, source)
SELECT t.id, t.brand_id, t.task_type, t.status, t.completed_at, m.wall,
       (extract(epoch FROM t.started_at - t.queued_at) * 1000)::int, m.wall * 9 / 10, m.mem, true,
       round(m.wall * 0.12 / 3600000.0, 6), '{}'::jsonb,
       CASE WHEN m.mem >= 512 THEN 'high_memory' ELSE '' END, 1, 'worker'
FROM task_core_basetask t
CROSS JOIN LATERAL (SELECT (extract(epoch FROM t.completed_at - t.started_at) * 1000)::int AS wall,
                           CASE WHEN t.id %% 97 = 0 THEN 900.0 ELSE 30 + t.id %% 200 END AS mem) m
WHERE t.brand_id = %(brand_id)s AND t.completed_at IS NOT NULL AND t.started_at IS NOT NULL
"""


def rollup_sql() -> str:
    """The rollups of a brand computed from its metrics rows, as the worker would have added them up."""
    from task_monitoring.models import HISTOGRAM_BOUNDS_MS, HISTOGRAM_BUCKETS

    bounds = "ARRAY[" + ",".join(map(str, HISTOGRAM_BOUNDS_MS)) + "]::int[]"
    # bisect_left(bounds, ms) of recording.histogram_index = the number of bounds < ms
    hist = [f"count(*) FILTER (WHERE width_bucket(m.execution_time_ms - 1, {bounds}) = {i})"
            for i in range(HISTOGRAM_BUCKETS)]
    hist += [f"count(*) FILTER (WHERE width_bucket(m.queue_wait_ms - 1, {bounds}) = {i})"
             for i in range(HISTOGRAM_BUCKETS)]
    cols = [f"d{i}" for i in range(HISTOGRAM_BUCKETS)] + [f"w{i}" for i in range(HISTOGRAM_BUCKETS)]
    return f"""
INSERT INTO task_monitoring_metricsrollup (
    brand_id, task_type, queue, granularity, bucket, completed, failed, cancelled, retried, measured,
    execution_ms_sum, execution_ms_max, waited, queue_wait_ms_sum, cpu_ms_sum, memory_mb_sum, memory_mb_max,
    cost_usd_sum, {", ".join(cols)})
SELECT m.brand_id, m.task_type, t.queue, g.code, date_trunc(g.unit, m.finished_at),
       count(*) FILTER (WHERE m.status = 'completed'), count(*) FILTER (WHERE m.status = 'failed'),
       count(*) FILTER (WHERE m.status = 'cancelled'), 0, count(*),
       sum(m.execution_time_ms), max(m.execution_time_ms), count(*), sum(m.queue_wait_ms), sum(m.cpu_time_ms),
       sum(m.memory_usage_mb), max(m.memory_usage_mb), sum(m.cost_usd), {", ".join(hist)}
FROM task_monitoring_taskmetrics m
JOIN task_core_basetask t ON t.id = m.task_id
CROSS JOIN (VALUES ('m', 'minute', now() - interval '48 hours'), ('h', 'hour', now() - interval '60 days'),
                   ('d', 'day', '-infinity'::timestamptz)) AS g(code, unit, since)
WHERE m.brand_id = %(brand_id)s AND m.finished_at >= g.since
GROUP BY m.brand_id, m.task_type, t.queue, g.code, date_trunc(g.unit, m.finished_at)
"""


def prepare_metrics(brands) -> None:
    """Metrics and rollups of every finished task of the brands, generated when their count is off."""
    from django.db import connection

    from task_core.models import BaseTask
    from task_monitoring.models import TaskMetrics

    changed = False
    for brand in brands:
        finished = BaseTask.objects.filter(brand=brand, completed_at__isnull=False, started_at__isnull=False).count()
        if TaskMetrics.objects.filter(brand=brand).count() == finished:
            continue
        start = time.monotonic()
        with connection.cursor() as cur:
            cur.execute("DELETE FROM task_monitoring_metricsrollup WHERE brand_id = %s", [brand.pk])
            cur.execute("DELETE FROM task_monitoring_taskmetrics WHERE brand_id = %s", [brand.pk])
            cur.execute(METRICS_SQL, {"brand_id": brand.pk})
            cur.execute(rollup_sql(), {"brand_id": brand.pk})
        print(f"generated {finished:,} metrics rows and their rollups for {brand.slug} in "
              f"{time.monotonic() - start:.1f} s", flush=True)
        changed = True
    if changed:
        with connection.cursor() as cur:
            cur.execute("VACUUM ANALYZE task_monitoring_taskmetrics")
            cur.execute("VACUUM ANALYZE task_monitoring_metricsrollup")


def bench_capture() -> None:
    from django.db import connection
    from django.utils import timezone

    from bench._common import delete_brand_tasks
    from task_core.models import BaseTask, Brand
    from task_monitoring import capture, signals
    from task_monitoring.models import MetricsRollup

    print(f"\nCapture, in this process ({machine()}):", flush=True)
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    for _ in range(PROBES):
        capture.end(capture.begin())
    cpu, wall = time.process_time_ns() - cpu, time.perf_counter_ns() - wall
    print(f"  probes (begin + end), {PROBES:,} runs: {cpu / PROBES / 1000:.1f} us CPU, "
          f"{wall / PROBES / 1000:.1f} us wall per task", flush=True)

    brand, _ = Brand.objects.get_or_create(slug=CAPTURE_BRAND, defaults={"name": CAPTURE_BRAND})
    delete_brand_tasks(brand)
    MetricsRollup.objects.filter(brand=brand).delete()
    with connection.cursor() as cur:
        cur.execute(GENERATE_SQL, {"brand": brand.slug, "brand_id": brand.pk, "rows": RECORDS})
        cur.execute("SELECT pg_backend_pid()")
        backend = cur.fetchone()[0]
    tasks = list(BaseTask.objects.filter(brand=brand, status__in=["completed", "failed", "cancelled"]))
    now = timezone.now()
    for task in tasks:
        task.completed_at = now  # finishing now: the rollup rows of this minute, hour and day, as on a worker
    pg_cpu, cpu, wall = process_cpu_seconds(backend), time.process_time_ns(), time.perf_counter_ns()
    for task in tasks:
        signals.on_task_started(sender=None, task=task)
        signals.on_task_finished(sender=None, task=task, status=task.status)
    cpu, wall = time.process_time_ns() - cpu, time.perf_counter_ns() - wall
    pg_used = process_cpu_seconds(backend)
    pg_text = "n/a (remote database)" if pg_cpu is None or pg_used is None else \
        f"{(pg_used - pg_cpu) * 1e6 / len(tasks):.0f} us"
    print(f"  receivers + recording statement, {len(tasks):,} finished tasks: {cpu / len(tasks) / 1000:.0f} us CPU "
          f"of the pool-side process, PostgreSQL backend {pg_text} CPU, {wall / len(tasks) / 1000:.0f} us wall "
          f"per task (1 statement per task)", flush=True)
    delete_brand_tasks(brand)
    MetricsRollup.objects.filter(brand=brand).delete()


def bench_reads_at_scale(user, brand) -> None:
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from tests.live import free_port

    logging.getLogger("django.request").setLevel(logging.ERROR)
    headers = {"Authorization": f"Bearer {RefreshToken.for_user(user).access_token}", "X-Brand-ID": str(brand.pk)}
    client = Client(HTTP_AUTHORIZATION=headers["Authorization"], HTTP_X_BRAND_ID=headers["X-Brand-ID"])
    port = free_port()
    server = start_gunicorn(port, os.environ["DATABASE_URL"])
    print(f"\nReads: {ROWS:,} tasks in each of 2 brands with metrics and rollups; gunicorn -w 2 on loopback; "
          f"{REQUESTS} sequential requests per endpoint after {WARMUP} warm-ups", flush=True)
    rows, missed = [], []
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for label, path, target in ENDPOINTS:
            row = (label, path, *measure(conn, client, headers, path))
            rows.append(row)
            verdict = "ok" if row[4] <= target else "OVER"
            if row[2] >= 400 or row[4] > target:
                missed.append(row)
            print(f"  {label:<42} {row[2]:>3} p50 {row[3]:7.1f} ms  p95 {row[4]:7.1f} ms  "
                  f"(target {target:>3} ms: {verdict})  queries {row[5]:>2}  {row[7]}", flush=True)
    finally:
        server.terminate()
        server.wait(20)
    if missed:
        print("\nOver their target, with the plan of their slowest statement:")
        print_plans(missed)


def main():
    set_env_defaults()
    url = reads_database_url()
    user, brand = prepare(url)  # bench_reads' tasks (sets DATABASE_URL and sets Django up)
    from task_core.models import Brand

    prepare_metrics(list(Brand.objects.filter(slug__in=BRANDS)))
    bench_capture()
    bench_reads_at_scale(user, brand)


if __name__ == "__main__":
    main()
