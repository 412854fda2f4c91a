"""Reads at scale: every list, filter, ordering, search and summary endpoint at N tasks per brand.

Rows are generated in SQL (two brands holding N tasks each, spread over 90 days, realistic status and type
mixes, a rare "needle" word in some descriptions), in their own database (`megahub_bench_reads` on the
server of DATABASE_URL) so the write benchmarks do not run on a million rows. The data is generated once
and reused while its size matches. The API runs under gunicorn (2 workers) on loopback; one client sends
20 sequential requests per endpoint after 2 warm-ups and the script prints p50 / p95, the status code,
the SQL query count (one in-process request with CaptureQueriesContext) and, for the slowest endpoints,
the EXPLAIN ANALYZE plan of their slowest statement.

Env: BENCH_READS_ROWS (tasks per brand, default 1,000,000), BENCH_READS_REQUESTS (default 20),
BENCH_READS_EXPLAIN (how many of the slowest endpoints get a plan, default 3), BENCH_READS_DATABASE (the
database's name, default megahub_bench_reads).
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

from bench._common import LOG_DIR, ROOT, machine, percentile, set_env_defaults  # noqa: E402

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
    ("tasks: page_size=500", "/tasks/?page_size=500"),
    ("task detail", "/tasks/{task}/"),
    ("task events", "/tasks/{task}/events/"),
    ("queue stats", "/tasks/queue-stats/"),
    ("system status", "/tasks/system/status/"),
    ("system dashboard", "/tasks/system/dashboard/"),
    ("scheduling: periodic tasks", "/tasks/scheduled/periodic-tasks/"),
    ("scheduling: summary", "/tasks/scheduled/periodic-tasks/summary/"),
    ("scheduling: executions", "/tasks/scheduled/executions/"),
    ("monitoring: metrics", "/tasks/monitoring/metrics/"),
    ("monitoring: dashboard 24h", "/tasks/monitoring/metrics/dashboard/?period=24h"),
    ("persistence: jobs", "/tasks/persistent-jobs/persistent-jobs/"),
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
            # bench_monitoring's metrics and rollups of these tasks (generated from them)
            cur.execute("DELETE FROM task_monitoring_taskmetrics WHERE brand_id = %s", [brand.pk])
            cur.execute("DELETE FROM task_monitoring_metricsrollup WHERE brand_id = %s", [brand.pk])
            cur.execute("DELETE FROM task_core_basetask WHERE brand_id = %s", [brand.pk])
            cur.execute(GENERATE_SQL, {"brand": brand.slug, "brand_id": brand.pk, "rows": ROWS})
        print(f"generated {ROWS:,} tasks for {brand.slug} in {time.monotonic() - start:.1f} s", flush=True)
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


def main():
    set_env_defaults()
    url = reads_database_url()
    user, brand = prepare(url)

    from django.test import Client
    from django.utils import timezone
    from rest_framework_simplejwt.tokens import RefreshToken

    from task_core.models import BaseTask

    logging.getLogger("django.request").setLevel(logging.ERROR)  # endpoints not built yet answer 404
    token = str(RefreshToken.for_user(user).access_token)
    headers = {"Authorization": f"Bearer {token}", "X-Brand-ID": str(brand.pk)}
    since = (timezone.now() - timezone.timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%SZ")
    task, task_uuid = BaseTask.objects.filter(brand=brand, status="completed").order_by("-id").values_list(
        "id", "task_id")[0]
    # A cursor as DRF encodes it (position: the created_at of the row 100,000 deep, newest first).
    deep = BaseTask.objects.filter(brand=brand).order_by("-created_at").values_list("created_at", flat=True)[100_000]
    deep_cursor = base64.b64encode(urlencode({"p": str(deep)}).encode()).decode()
    paths = [(label, path.format(since=since, task=task, task_prefix=str(task_uuid)[:8],
                                 deep_cursor=quote(deep_cursor)))
             for label, path in ENDPOINTS]

    from tests.live import free_port

    port = free_port()
    server = start_gunicorn(port, url)
    client = Client(HTTP_AUTHORIZATION=headers["Authorization"], HTTP_X_BRAND_ID=headers["X-Brand-ID"])
    rows = []
    print(f"bench_reads: {ROWS:,} tasks in each of 2 brands; gunicorn -w 2 on loopback; {REQUESTS} sequential "
          f"requests per endpoint after {WARMUP} warm-ups; machine: {machine()}", flush=True)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for label, path in paths:
            rows.append((label, path, *measure(conn, client, headers, path)))
            print(f"  {label:<38} {rows[-1][2]:>3} p50 {rows[-1][3]:8.1f} ms  p95 {rows[-1][4]:8.1f} ms  "
                  f"queries {rows[-1][5]:>2}  {rows[-1][7]}", flush=True)
    finally:
        server.terminate()
        server.wait(20)

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
