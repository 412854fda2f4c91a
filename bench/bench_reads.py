"""Reads at scale: every list, filter, ordering, search and summary endpoint at N tasks per brand.

Rows are generated in SQL (two brands holding N tasks each, spread over 90 days, realistic status and type
mixes, a rare "needle" word in some descriptions) with the other apps' rows of those tasks (metrics and
rollups, scheduled runs, persistent jobs and checkpoints, alerts: see SCHEDULING_SQL), in their own
database (`megahub_bench_reads` on the server of DATABASE_URL) so the write benchmarks do not run on a
million rows. The data is generated once
and reused while its size matches. The API runs under gunicorn (2 workers) on loopback; one client sends
20 sequential requests per endpoint after 2 warm-ups and the script prints p50 / p95, the status code,
the SQL query count (one in-process request with CaptureQueriesContext) and, for the slowest endpoints,
the EXPLAIN ANALYZE plan of their slowest statement.

Env: BENCH_READS_ROWS (tasks per brand, default 1,000,000), BENCH_READS_REQUESTS (default 20),
BENCH_READS_EXPLAIN (how many of the slowest endpoints get a plan, default 3), BENCH_READS_DATABASE (the
database's name, default megahub_bench_reads), BENCH_READS_ONLY (comma-separated parts of endpoint labels:
measure only those).
"""

import base64
import http.client
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import LOG_DIR, ROOT, machine, percentile, set_env_defaults, speed_probe  # noqa: E402

ROWS = int(os.environ.get("BENCH_READS_ROWS", "1000000"))
REQUESTS = int(os.environ.get("BENCH_READS_REQUESTS", "20"))
EXPLAIN = int(os.environ.get("BENCH_READS_EXPLAIN", "3"))
WARMUP = 2
BRANDS = ("bench-reads-a", "bench-reads-b")

# (label, path). `{since}` is 7 days ago; `{task}` one task of the measured brand.
ENDPOINTS = [
    ("tasks: first page", "/tasks/"),
    ("tasks: status=failed, newest first", "/tasks/?status=failed&ordering=-created_at"),
    ("tasks: type + priority", "/tasks/?task_type=demo.echo&priority=high"),
    ("tasks: search (rare word)", "/tasks/?search=needle"),
    ("tasks: search (task type)", "/tasks/?search=seo_keyword"),
    ("tasks: search (task id prefix)", "/tasks/?search={task_prefix}"),
    ("tasks: ordering=-completed_at", "/tasks/?ordering=-completed_at"),
    ("tasks: ordering=created_at", "/tasks/?ordering=created_at"),
    ("tasks: is_periodic=true", "/tasks/?is_periodic=true"),
    ("tasks: is_periodic=false, failed", "/tasks/?is_periodic=false&status=failed"),
    ("tasks: failed, by completion", "/tasks/?status=failed&ordering=-completed_at"),
    ("tasks: type, by completion", "/tasks/?task_type=demo.fail&ordering=-completed_at"),
    ("tasks: status=interrupted (1%)", "/tasks/?status=interrupted"),
    ("tasks: type + status + priority", "/tasks/?task_type=demo.sleep&status=failed&priority=critical"),
    ("tasks: ordering=-started_at", "/tasks/?ordering=-started_at"),
    ("tasks: ordering=priority", "/tasks/?ordering=-priority"),
    ("tasks: ordering=status", "/tasks/?ordering=status"),
    ("tasks: ordering=task_type", "/tasks/?ordering=task_type"),
    ("tasks: ordering=progress", "/tasks/?ordering=-progress_percentage"),
    ("tasks: page=2000", "/tasks/?page=2000"),
    ("tasks: page=200 (10,000 rows deep)", "/tasks/?page=200"),
    ("tasks: cursor 100,000 rows deep", "/tasks/?cursor={deep_cursor}"),
    ("tasks: page=2 by page number", "/tasks/?page=2"),
    ("tasks: last 7 days, finished", "/tasks/?created_at__gte={since}&status=completed,failed"),
    ("tasks: status=active", "/tasks/?status=active"),
    ("tasks: page_size=100", "/tasks/?page_size=100"),
    ("task detail", "/tasks/{task}/"),
    ("task events", "/tasks/{task}/events/"),
    ("queue stats", "/tasks/queue-stats/"),
    ("system status", "/tasks/system/status/"),
    ("system dashboard", "/tasks/system/dashboard/"),
    ("system health", "/tasks/system/health/"),
    ("system orphans", "/tasks/system/orphans/"),
    ("system task info", "/tasks/system/task-info/"),
    ("scheduling: periodic tasks", "/tasks/scheduled/periodic-tasks/"),
    ("scheduling: periodic tasks, search", "/tasks/scheduled/periodic-tasks/?search=nightly"),
    ("scheduling: periodic tasks by next run", "/tasks/scheduled/periodic-tasks/?ordering=next_run_at"),
    ("scheduling: summary", "/tasks/scheduled/periodic-tasks/summary/"),
    ("scheduling: schedules", "/tasks/scheduled/schedules/"),
    ("scheduling: schedules, active", "/tasks/scheduled/schedules/?status=active"),
    ("scheduling: executions", "/tasks/scheduled/executions/"),
    ("scheduling: executions, page=2", "/tasks/scheduled/executions/?page=2"),
    ("scheduling: executions, cursor deep", "/tasks/scheduled/executions/?cursor={run_cursor}"),
    ("scheduling: executions, failed", "/tasks/scheduled/executions/?status=failed"),
    ("scheduling: executions, interrupted", "/tasks/scheduled/executions/?status=interrupted"),
    ("scheduling: executions, skipped", "/tasks/scheduled/executions/?status=skipped_overlap"),
    ("scheduling: executions, missed", "/tasks/scheduled/executions/?status=missed"),
    ("scheduling: executions, cancelled", "/tasks/scheduled/executions/?status=cancelled"),
    ("scheduling: executions, pending", "/tasks/scheduled/executions/?status=pending"),
    ("scheduling: executions, failed or skipped", "/tasks/scheduled/executions/?status=failed,skipped_overlap"),
    ("scheduling: executions, task type", "/tasks/scheduled/executions/?task_type=demo.fail"),
    ("scheduling: executions, one template", "/tasks/scheduled/executions/?periodic_task={template}"),
    ("scheduling: executions, last 7 days", "/tasks/scheduled/executions/?since={since}"),
    ("scheduling: executions, limit=1000", "/tasks/scheduled/executions/?limit=1000"),
    ("scheduling: executions recent", "/tasks/scheduled/executions/recent/"),
    ("scheduling: executions failed (7 d)", "/tasks/scheduled/executions/failed/"),
    ("scheduling: executions stats", "/tasks/scheduled/executions/stats/"),
    ("scheduling: template executions (hot)", "/tasks/scheduled/periodic-tasks/{hot_template}/executions/"),
    ("scheduling: template executions", "/tasks/scheduled/periodic-tasks/{template}/executions/"),
    ("scheduling: template executions, failed",
     "/tasks/scheduled/periodic-tasks/{hot_template}/executions/?status=failed"),
    ("scheduling: template executions, skipped",
     "/tasks/scheduled/periodic-tasks/{hot_template}/executions/?status=skipped_overlap"),
    ("scheduler v1: executions", "/api/v1/scheduler/executions"),
    ("scheduler v1: executions, failed", "/api/v1/scheduler/executions?status_filter=failed"),
    ("scheduler v1: executions, limit=200", "/api/v1/scheduler/executions?limit=200"),
    ("scheduler v1: tasks", "/api/v1/scheduler/tasks"),
    ("scheduler v1: queue status", "/api/v1/scheduler/queue/status"),
    ("scheduler v1: stats", "/api/v1/scheduler/stats"),
    ("scheduling: calendars", "/tasks/scheduled/calendars/"),
    ("scheduling: one-off jobs", "/tasks/scheduled/cron-jobs/"),
    ("scheduling: ready for execution", "/tasks/scheduled/periodic-tasks/ready-for-execution/"),
    ("monitoring: metrics", "/tasks/monitoring/metrics/"),
    ("monitoring: metrics, one type, slowest",
     "/tasks/monitoring/metrics/?task_type=demo.fail&ordering=-execution_time_ms"),
    ("monitoring: metrics, fastest", "/tasks/monitoring/metrics/?ordering=execution_time_ms"),
    ("monitoring: metrics, oldest", "/tasks/monitoring/metrics/?ordering=finished_at"),
    ("monitoring: metrics, by memory", "/tasks/monitoring/metrics/?ordering=-memory_usage_mb"),
    ("monitoring: metrics, by cost", "/tasks/monitoring/metrics/?ordering=-cost_usd"),
    ("monitoring: metrics, by queue wait", "/tasks/monitoring/metrics/?ordering=-queue_wait_ms"),
    ("monitoring: metrics, search=high_memory", "/tasks/monitoring/metrics/?search=high_memory"),
    ("monitoring: metrics, search=needle", "/tasks/monitoring/metrics/?search=needle"),
    ("monitoring: metrics, flag=high_memory", "/tasks/monitoring/metrics/?flag=high_memory"),
    ("monitoring: metrics, execution_time>=4000", "/tasks/monitoring/metrics/?execution_time__gte=4000"),
    ("monitoring: metrics, memory>=500", "/tasks/monitoring/metrics/?memory_usage_mb__gte=500"),
    ("monitoring: metrics, cost>=0.0002", "/tasks/monitoring/metrics/?cost_usd__gte=0.0002"),
    ("monitoring: metrics, cost>=0.1 (none)", "/tasks/monitoring/metrics/?cost_usd__gte=0.1"),
    ("monitoring: metrics, status=cancelled", "/tasks/monitoring/metrics/?status=cancelled"),
    ("monitoring: metrics, last 7 days", "/tasks/monitoring/metrics/?finished_at__gte={since}"),
    ("monitoring: dashboard 24h", "/tasks/monitoring/metrics/dashboard/?period=24h"),
    ("monitoring: alerts (open)", "/tasks/monitoring/alerts/"),
    ("monitoring: alerts, all", "/tasks/monitoring/alerts/?state=all"),
    ("monitoring: alerts, resolved critical", "/tasks/monitoring/alerts/?state=resolved&severity=critical"),
    ("monitoring: alert rules", "/tasks/monitoring/alert-rules/"),
    ("monitoring: workers", "/tasks/monitoring/workers/"),
    ("monitoring: workers overview", "/tasks/monitoring/workers/overview/"),
    ("persistence: jobs", "/tasks/persistent-jobs/persistent-jobs/"),
    ("persistence: jobs, interrupted", "/tasks/persistent-jobs/persistent-jobs/?status=interrupted"),
    ("persistence: jobs, resumable", "/tasks/persistent-jobs/persistent-jobs/?resumable=true"),
    ("persistence: jobs, not resumable", "/tasks/persistent-jobs/persistent-jobs/?resumable=false"),
    ("persistence: resumable", "/tasks/persistent-jobs/persistent-jobs/resumable/"),
    ("persistence: job checkpoints", "/tasks/persistent-jobs/persistent-jobs/{job}/checkpoints/"),
    ("persistence: checkpoints", "/tasks/persistent-jobs/checkpoints/"),
    ("persistence: checkpoints of a job", "/tasks/persistent-jobs/checkpoints/?job={job}"),
    ("persistence: checkpoints of a task", "/tasks/persistent-jobs/checkpoints/?task={job_task}"),
]


def reads_database_url() -> str:
    import dj_database_url

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    if not cfg["ENGINE"].endswith("postgresql"):
        raise SystemExit("bench_reads needs PostgreSQL (DATABASE_URL)")
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else "")
    name = os.environ.get("BENCH_READS_DATABASE", "megahub_bench_reads")
    return f"postgres://{auth}@{cfg.get('HOST') or '127.0.0.1'}:{cfg.get('PORT') or 5432}/{name}"


GENERATE_SQL = """
INSERT INTO task_core_basetask (
    task_id, task_type, status, priority, brand_id, description, context_data, result_data,
    progress_percentage, progress_message, error_message, error_traceback, retry_count, max_retries,
    timeout_seconds, queue, worker, origin, created_at, queued_at, started_at, completed_at)
SELECT md5(%(brand)s || '-' || i)::uuid,
       (ARRAY['demo.echo','demo.sleep','demo.fail','seo_keyword_analysis','demo.progress'])[1 + i %% 5],
       s.status,
       (ARRAY['normal','normal','normal','low','high','critical'])[1 + (i / 7) %% 6],
       %(brand_id)s,
       'task ' || i || CASE WHEN i %% 50000 = 17 THEN ' needle' ELSE ' routine work' END,
       '{}'::jsonb,
       CASE WHEN s.status = 'completed' THEN '{"ok": true}'::jsonb END,
       CASE WHEN s.status = 'completed' THEN 100 WHEN s.status = 'running' THEN 40 ELSE 0 END,
       '', CASE WHEN s.status = 'failed' THEN 'ValueError: boom' ELSE '' END, '', 0, 0, 300, 'default',
       CASE WHEN s.status IN ('pending','queued') THEN '' ELSE 'w1@bench' END,
       (ARRAY['api','api','schedule','retry','admin'])[1 + i %% 5],
       t.created, t.created + interval '1 second',
       CASE WHEN s.status IN ('pending','queued') THEN NULL ELSE t.created + interval '2 seconds' END,
       CASE WHEN s.status IN ('completed','failed','cancelled')
            THEN t.created + interval '2 seconds' + (i %% 5000) * interval '1 millisecond' END
FROM generate_series(1, %(rows)s) AS i
CROSS JOIN LATERAL (SELECT now() - (%(rows)s - i) * (interval '90 days' / %(rows)s) AS created) t
CROSS JOIN LATERAL (SELECT CASE
    WHEN i %% 100 < 84 THEN 'completed' WHEN i %% 100 < 92 THEN 'failed' WHEN i %% 100 < 94 THEN 'cancelled'
    WHEN i %% 100 < 96 THEN 'queued' WHEN i %% 100 < 97 THEN 'running' WHEN i %% 100 < 98 THEN 'pending'
    WHEN i %% 100 < 99 THEN 'retrying' ELSE 'interrupted' END AS status) s
"""


# The other apps' rows of a brand, generated once per brand (when their count is off):
# - scheduling: TEMPLATES templates with one schedule each; half of all runs belong to the first one (a
#   template firing every minute), the rest spread over the others. ROWS runs in all: one per task of
#   origin `schedule` (the tasks' 90 days), and before them the runs of the 15 months before, whose tasks
#   retention deleted (task NULL), 3 % of them skipped for overlap and 1 % missed.
# - persistence: a PersistentJob per task of type demo.progress (a fifth of the tasks) with 3 checkpoints.
# - monitoring: 20 alert rules and ALERTS alerts per brand over the 90 days, the newest 40 still open.
TEMPLATES = 200
ALERTS = 20000

SCHEDULING_SQL = """
INSERT INTO task_scheduling_scheduletemplate (
    brand_id, name, description, task_type, parameters, kind, cron_expression, timezone, priority, queue,
    overlap_policy, missed_run_policy, auto_pause_after, is_active, created_at, updated_at)
SELECT %(brand_id)s, 'bench template ' || n, CASE WHEN n %% 10 = 0 THEN 'nightly export' ELSE '' END,
       (ARRAY['demo.echo','demo.sleep','demo.fail','seo_keyword_analysis','demo.progress'])[1 + n %% 5], '{}',
       'cron', CASE WHEN n = 1 THEN '* * * * *' ELSE '*/15 * * * *' END, 'UTC', 'normal', '', 'skip', 'skip', 0,
       n %% 20 <> 0, now() - interval '500 days', now()
FROM generate_series(1, %(templates)s) AS n;
INSERT INTO task_scheduling_schedule (
    brand_id, periodic_task_id, label, status, parameter_overrides, snapshot, next_run_at, last_run_at,
    run_count, success_count, failure_count, skip_count, consecutive_failures, error_message, created_at,
    updated_at)
SELECT brand_id, id, '', CASE WHEN is_active THEN 'active' ELSE 'paused' END, '{}', '{}',
       CASE WHEN is_active THEN now() + (id %% 900) * interval '1 second' END, now(), 0, 0, 0, 0, 0, '',
       created_at, now()
FROM task_scheduling_scheduletemplate WHERE brand_id = %(brand_id)s;
CREATE TEMP TABLE bench_schedules ON COMMIT DROP AS
SELECT row_number() OVER (ORDER BY s.id) - 1 AS k, s.id AS schedule_id, s.periodic_task_id
FROM task_scheduling_schedule s WHERE s.brand_id = %(brand_id)s;
INSERT INTO task_scheduling_scheduledrun (
    brand_id, schedule_id, periodic_task_id, task_id, due_at, outcome, detail, claim_token, created_at,
    task_state)
SELECT %(brand_id)s, s.schedule_id, s.periodic_task_id, r.task_id, r.due_at, r.outcome, '',
       md5(%(brand_id)s || '-run-' || r.n)::uuid, r.due_at, r.task_state
FROM (
    SELECT t.id AS n, t.id AS task_id, date_trunc('second', t.created_at) AS due_at,
           CASE WHEN t.id %% 50 = 0 THEN 'manual' ELSE 'fired' END AS outcome,
           t.status AS task_state
    FROM task_core_basetask t WHERE t.brand_id = %(brand_id)s AND t.origin = 'schedule'
    UNION ALL
    SELECT -i, NULL, date_trunc('second', o.oldest) - i * interval '39 seconds',
           CASE WHEN i %% 100 < 3 THEN 'skipped_overlap' WHEN i %% 100 = 3 THEN 'missed' ELSE 'fired' END, ''
    FROM (SELECT min(created_at) AS oldest, count(*) FILTER (WHERE origin = 'schedule') AS linked
          FROM task_core_basetask WHERE brand_id = %(brand_id)s) o
    CROSS JOIN LATERAL generate_series(1, %(runs)s - o.linked) AS i
) r
JOIN bench_schedules s ON s.k = CASE WHEN abs(r.n) %% 2 = 0 THEN 0 ELSE 1 + abs(r.n) %% (%(templates)s - 1) END;
"""

PERSISTENCE_SQL = """
INSERT INTO task_persistence_persistentjob (
    task_id, brand_id, status, resume_policy, max_resumes, resume_count, current_step, total_steps,
    checkpoint_count, run_id, worker, heartbeat_at, created_at)
SELECT t.id, t.brand_id, t.status, CASE WHEN t.id %% 4 = 0 THEN 'manual' ELSE 'auto' END, 10, 0, 300, 300, 3,
       '', t.worker, coalesce(t.completed_at, t.started_at), t.created_at
FROM task_core_basetask t WHERE t.brand_id = %(brand_id)s AND t.task_type = 'demo.progress';
INSERT INTO task_persistence_checkpoint (job_id, sequence, step, state, progress, worker, created_at)
SELECT j.id, c.n, c.n * 100, jsonb_build_object('cursor', c.n * 100), c.n * 33.3, j.worker,
       j.created_at + c.n * interval '1 second'
FROM task_persistence_persistentjob j CROSS JOIN generate_series(1, 3) AS c(n)
WHERE j.brand_id = %(brand_id)s;
UPDATE task_persistence_persistentjob j SET last_checkpoint_id = c.id
FROM task_persistence_checkpoint c WHERE c.job_id = j.id AND c.sequence = 3 AND j.brand_id = %(brand_id)s;
"""

ALERTS_SQL = """
INSERT INTO task_monitoring_alertrule (
    brand_id, name, metric, task_type, queue, comparator, threshold, window_seconds, for_seconds, min_samples,
    severity, cooldown_seconds, webhook_urls, emails, secret, enabled, created_at, updated_at)
SELECT %(brand_id)s, 'bench rule ' || n, (ARRAY['failure_rate','duration_p95_ms','task_failed','cost_usd'])[1 + n %% 4],
       '', '', 'gt', 1, 300, 0, 1, (ARRAY['info','warning','critical'])[1 + n %% 3], 300, '[]', '[]', '', true,
       now() - interval '100 days', now()
FROM generate_series(1, 20) AS n;
INSERT INTO task_monitoring_alert (
    rule_id, brand_id, scope, state, severity, value, threshold, message, started_at, fired_at,
    acknowledged_at, acknowledge_note, resolved_at)
SELECT r.id, %(brand_id)s, 'scope ' || i,
       CASE WHEN i <= %(alerts)s - 40 THEN 'resolved' WHEN i %% 2 = 0 THEN 'firing' ELSE 'acknowledged' END,
       r.severity, 2, 1, 'over threshold', a.started, a.started + interval '1 minute',
       CASE WHEN i %% 2 = 1 THEN a.started + interval '5 minutes' END, '',
       CASE WHEN i <= %(alerts)s - 40 THEN a.started + interval '30 minutes' END
FROM generate_series(1, %(alerts)s) AS i
CROSS JOIN LATERAL (SELECT now() - (%(alerts)s - i) * (interval '90 days' / %(alerts)s) AS started) a
JOIN (SELECT id, severity, row_number() OVER (ORDER BY id) - 1 AS k FROM task_monitoring_alertrule
      WHERE brand_id = %(brand_id)s) r ON r.k = i %% 20;
"""

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
    from task_core.models import BaseTask
    from task_monitoring.models import TaskMetrics

    for brand in brands:
        finished = BaseTask.objects.filter(brand=brand, completed_at__isnull=False, started_at__isnull=False).count()
        regenerate(brand, "metrics rows and their rollups", finished, TaskMetrics.objects.filter(brand=brand),
                   [METRICS_SQL, rollup_sql()], tables=["task_monitoring_metricsrollup", "task_monitoring_taskmetrics"])


# What deletes a brand's rows of each generated table (in an order the foreign keys accept).
DELETE_SQL = {
    "task_persistence_checkpoint": (
        "UPDATE task_persistence_persistentjob SET last_checkpoint_id = NULL WHERE brand_id = %(brand_id)s;\n"
        "DELETE FROM task_persistence_checkpoint WHERE job_id IN "
        "(SELECT id FROM task_persistence_persistentjob WHERE brand_id = %(brand_id)s)"),
}


def run_statements(cur, brand, tables: list[str], statements: list[str], **params) -> None:
    """Delete the brand's rows of `tables`, then run `statements` (each may hold several, separated by `;`
    and a newline)."""
    deletes = [DELETE_SQL.get(t, f"DELETE FROM {t} WHERE brand_id = %(brand_id)s") for t in tables]
    for statement in (part for sql in [*deletes, *statements] for part in sql.split(";\n") if part.strip()):
        cur.execute(statement, {"brand_id": brand.pk, **params})


def regenerate(brand, what: str, expected: int, counted, statements: list[str], tables: list[str], **params) -> None:
    """Unless `counted` already holds `expected` rows: `run_statements` in one transaction."""
    from django.db import connection, transaction

    if counted.count() == expected:
        return
    start = time.monotonic()
    with transaction.atomic(), connection.cursor() as cur:
        run_statements(cur, brand, tables, statements, **params)
    print(f"generated {counted.count():,} {what} for {brand.slug} in {time.monotonic() - start:.1f} s", flush=True)


def prepare_other_apps(brands) -> None:
    """The rows of the scheduling, persistence and monitoring lists (see SCHEDULING_SQL)."""
    from task_core.models import BaseTask
    from task_monitoring.models import Alert
    from task_persistence.models import PersistentJob
    from task_scheduling.models import ScheduledRun

    for brand in brands:
        regenerate(brand, "scheduled runs", ROWS, ScheduledRun.objects.filter(brand=brand), [SCHEDULING_SQL],
                   SCHEDULING_TABLES, templates=TEMPLATES, runs=ROWS)
        regenerate(brand, "persistent jobs (3 checkpoints each)",
                   BaseTask.objects.filter(brand=brand, task_type="demo.progress").count(),
                   PersistentJob.objects.filter(brand=brand), [PERSISTENCE_SQL], PERSISTENCE_TABLES)
        regenerate(brand, "alerts", ALERTS, Alert.objects.filter(brand=brand), [ALERTS_SQL], ALERT_TABLES,
                   alerts=ALERTS)


SCHEDULING_TABLES = ["task_scheduling_scheduledrun", "task_scheduling_schedule", "task_scheduling_scheduletemplate"]
PERSISTENCE_TABLES = ["task_persistence_checkpoint", "task_persistence_persistentjob"]
ALERT_TABLES = ["task_monitoring_alert", "task_monitoring_alertrule"]


def prepare(url: str):
    """Create, migrate and fill the database when needed; return (user, brand) of the measured brand."""
    from bench.run_all import ensure_database

    ensure_database(url)
    env = dict(os.environ, DATABASE_URL=url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    os.environ["DATABASE_URL"] = url
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from task_core import status_counts
    from task_core.models import BaseTask, Brand, BrandMembership

    user, _ = get_user_model().objects.get_or_create(username="bench-reads")
    brands = []
    for slug in BRANDS:
        brand, _ = Brand.objects.get_or_create(slug=slug, defaults={"name": slug})
        BrandMembership.objects.update_or_create(user=user, brand=brand, defaults={"role": "admin"})
        brands.append(brand)
    for brand in brands:
        have = BaseTask.objects.filter(brand=brand).count()
        if have == ROWS:
            continue
        start = time.monotonic()
        with connection.cursor() as cur:
            cur.execute("DELETE FROM task_core_taskevent WHERE task_id IN "
                        "(SELECT id FROM task_core_basetask WHERE brand_id = %s)", [brand.pk])
            # the other apps' rows of these tasks (generated from them, again below)
            run_statements(cur, brand, [*SCHEDULING_TABLES, *PERSISTENCE_TABLES, "task_monitoring_metricsrollup",
                                        "task_monitoring_taskmetrics"], [])
            cur.execute("DELETE FROM task_core_basetask WHERE brand_id = %s", [brand.pk])
            cur.execute(GENERATE_SQL, {"brand": brand.slug, "brand_id": brand.pk, "rows": ROWS})
        print(f"generated {ROWS:,} tasks for {brand.slug} in {time.monotonic() - start:.1f} s", flush=True)
    prepare_metrics(brands)
    prepare_other_apps(brands)
    status_counts.rebuild()  # the rows were written in SQL, not through the state machine
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE")
    return user, brands[0]


def start_gunicorn(port: int, url: str) -> subprocess.Popen:
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / "reads-gunicorn.log", "wb")  # noqa: SIM115 - lives as long as the server
    env = dict(os.environ, DATABASE_URL=url, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "megahub.wsgi", "-w", "2",
                             "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("gunicorn did not start")


def measure(conn: http.client.HTTPConnection, client, headers: dict, path: str) -> tuple:
    """(status, p50 ms, p95 ms, query count, [(seconds, sql)], note) of REQUESTS sequential GETs of `path`
    on the server after WARMUP ones; the queries are those of one in-process request (`client`)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times, status = [], None
    for n in range(WARMUP + REQUESTS):
        start = time.perf_counter()
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        elapsed = (time.perf_counter() - start) * 1000
        status = resp.status
        if n >= WARMUP:
            times.append(elapsed)
    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    queries = [(float(q["time"]), q["sql"]) for q in ctx.captured_queries]
    note = ""
    if status >= 400:
        try:
            note = json.loads(body).get("error_code", "")
        except ValueError:
            note = body[:60].decode(errors="replace")
    return status, percentile(times, 50), percentile(times, 95), len(queries), queries, note


def cursor(position) -> str:
    """A `cursor` parameter as DRF's CursorPagination encodes it, at `position` (no offset, forward)."""
    return quote(base64.b64encode(urlencode({"p": str(position)}).encode()).decode())


def main():
    set_env_defaults()
    url = reads_database_url()
    user, brand = prepare(url)

    from django.db.models import Count
    from django.test import Client
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from task_core.models import BaseTask
    from task_persistence.models import PersistentJob
    from task_scheduling.models import ScheduledRun

    logging.getLogger("django.request").setLevel(logging.ERROR)  # endpoints not built yet answer 404
    token = str(RefreshToken.for_user(user).access_token)
    headers = {"Authorization": f"Bearer {token}", "X-Brand-ID": str(brand.pk)}
    since = (timezone.now() - timezone.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    task, task_uuid = BaseTask.objects.filter(brand=brand, status="completed").order_by("-id").values_list(
        "id", "task_id")[0]
    # Cursors as DRF encodes them (position: the created_at or due_at of the row 100,000 deep, newest first).
    deep = BaseTask.objects.filter(brand=brand).order_by("-created_at").values_list("created_at", flat=True)[100_000]
    runs = ScheduledRun.objects.filter(brand=brand)
    run_deep = runs.order_by("-due_at").values_list("due_at", flat=True)[min(100_000, runs.count() - 1)]
    hot_template, template = (runs.values("periodic_task").annotate(n=Count("*")).order_by("-n")
                              .values_list("periodic_task", flat=True)[:2])
    job, job_task = PersistentJob.objects.filter(brand=brand).order_by("-id").values_list("id", "task_id")[0]
    values = {"since": since, "task": task, "task_prefix": str(task_uuid)[:8], "deep_cursor": cursor(deep),
              "run_cursor": cursor(run_deep), "hot_template": hot_template, "template": template, "job": job,
              "job_task": job_task}
    only = [part for part in os.environ.get("BENCH_READS_ONLY", "").split(",") if part]
    paths = [(label, path.format(**values)) for label, path in ENDPOINTS
             if not only or any(part in label for part in only)]

    from tests.live import free_port

    port = free_port()
    server = start_gunicorn(port, url)
    client = Client(HTTP_AUTHORIZATION=headers["Authorization"], HTTP_X_BRAND_ID=headers["X-Brand-ID"])
    rows = []
    print(f"bench_reads: {ROWS:,} tasks in each of 2 brands; gunicorn -w 2 on loopback; {REQUESTS} sequential "
          f"requests per endpoint after {WARMUP} warm-ups; machine: {machine()}; {speed_probe()}", flush=True)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for label, path in paths:
            rows.append((label, path, *measure(conn, client, headers, path)))
            print(f"  {label:<42} {rows[-1][2]:>3} p50 {rows[-1][3]:8.1f} ms  p95 {rows[-1][4]:8.1f} ms  "
                  f"queries {rows[-1][5]:>2}  {rows[-1][7]}", flush=True)
    finally:
        server.terminate()
        server.wait(20)

    print(f"after the requests: {speed_probe()}", flush=True)
    errors = [label for label, _path, status, *_ in rows if status >= 500]
    if errors:
        raise SystemExit(f"server errors on: {', '.join(errors)} (see {LOG_DIR / 'reads-gunicorn.log'})")
    print("\nSlowest (p95), with the plan of their slowest statement:")
    print_plans(sorted([r for r in rows if r[2] < 400], key=lambda r: -r[4])[:EXPLAIN])


def print_plans(rows) -> None:
    """The EXPLAIN ANALYZE plan of the slowest statement of each row (as `measure` rows, label and path first)."""
    from django.db import connection

    for label, path, _status, _p50, p95, _n, queries, _note in rows:
        sql = max(queries, key=lambda q: q[0])[1] if queries else ""
        print(f"\n--- {label}: {path} (p95 {p95:.1f} ms)\n{sql[:600]}")
        if sql.lstrip().upper().startswith("SELECT"):
            with connection.cursor() as cur:
                cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
                print("\n".join(r[0] for r in cur.fetchall()))


if __name__ == "__main__":
    main()
