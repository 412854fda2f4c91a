"""Benchmark: 10,000 schedules due in the same minute, ours vs stock django-celery-beat, same database.

    .venv/bin/python bench/bench_scheduling.py            (make bench runs it through bench/run_all.py)

Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/megahub_bench_sched, created and migrated
if missing), REDIS_URL (default redis://127.0.0.1:6379/7), BENCH_SCHEDULES (default 10000).

1. ours: 10,000 active cron schedules of one template, all due at minute M. Beat is `celery -A megahub beat`
   with task_scheduling.beat.Scheduler, one worker runs the dispatcher. Measured: seconds from M until all
   10,000 BaseTasks exist and are enqueued (status queued: published to the broker), and Beat's CPU per
   idle tick with the 10,000 loaded.
2. stock: the same number of plain django-celery-beat crontab rows due at minute M2, Beat run with
   django_celery_beat.schedulers:DatabaseScheduler. Measured: seconds from M2 until all messages are in
   Redis, and its idle CPU.
"""

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/megahub_bench_sched")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]
os.environ.setdefault("MEGAHUB_VAR_DIR", str(ROOT / "var" / "bench-sched"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")
N = int(os.environ.get("BENCH_SCHEDULES", "10000"))
CELERY = str(Path(sys.executable).parent / "celery")
SINK_QUEUE = "bench_sink"
STOCK_QUEUE = "bench_stock"
LOOP = 1  # Beat's --max-interval: an idle Beat ticks at least once per LOOP seconds


def ensure_database() -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    if not cfg["ENGINE"].endswith("postgresql"):
        return
    conninfo = {"host": cfg["HOST"] or "127.0.0.1", "port": cfg["PORT"] or 5432, "user": cfg["USER"],
                    "password": cfg["PASSWORD"] or None, "dbname": "postgres", "autocommit": True}
    with psycopg.connect(**conninfo) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [cfg["NAME"]]).fetchone():
            conn.execute(f'create database "{cfg["NAME"]}"')


def setup_django() -> None:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def spawn(args: list[str], name: str) -> tuple[subprocess.Popen, Path]:
    log_dir = Path(os.environ["MEGAHUB_VAR_DIR"]) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name}.log"
    env = dict(os.environ, LOG_LEVEL="INFO", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "wb"),  # noqa: SIM115
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"timed out after {timeout}s waiting for {what}")


def target_minute(lead_seconds: float) -> datetime:
    """The next minute boundary at least `lead_seconds` away, never :00 (stock Beat filters crontab rows
    by the current hour, so a target on the next hour would be invisible to it)."""
    t = (datetime.now(UTC) + timedelta(seconds=lead_seconds)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if t.minute == 0:
        t += timedelta(minutes=1)
    return t


def idle_cpu(proc: subprocess.Popen, seconds: float) -> tuple[float, float]:
    """(CPU seconds used by the Beat process over the window, window) while nothing is due."""
    import psutil

    p = psutil.Process(proc.pid)
    before = p.cpu_times()
    time.sleep(seconds)
    after = p.cpu_times()
    return (after.user - before.user) + (after.system - before.system), seconds


def redis_queue_len(client, queue: str) -> int:
    return sum(client.llen(k) for k in client.keys(f"{queue}*") if client.type(k) == b"list")


def clean(redis_client) -> None:
    from django_celery_beat.models import CrontabSchedule, PeriodicTasks
    from django_celery_beat.models import PeriodicTask as BeatEntry

    from task_core.models import BaseTask, Brand
    from task_scheduling.models import PeriodicTask, Schedule, ScheduledRun

    ScheduledRun.objects.all().delete()
    Schedule.objects.all().delete()
    PeriodicTask.objects.all().delete()
    BeatEntry.objects.exclude(name__startswith="megahub.")._raw_delete(BeatEntry.objects.db)
    CrontabSchedule.objects.filter(periodictask__isnull=True).delete()
    BaseTask.objects.filter(brand__slug="bench-sched").delete()
    Brand.objects.filter(slug="bench-sched").delete()
    PeriodicTasks.update_changed()
    redis_client.flushdb()


def bench_ours(redis_client) -> dict:
    from task_core.models import BaseTask, Brand, TaskStatus
    from task_scheduling import services

    brand = Brand.objects.create(name="bench-sched", slug="bench-sched")
    due = target_minute(lead_seconds=45)
    t0 = time.monotonic()
    template = services.periodic_task_create(
        brand=brand, name="bench", task_type="demo.echo", parameters={"message": "bench"}, kind="cron",
        cron_expression=f"{due.minute} {due.hour} * * *", timezone="UTC", queue=SINK_QUEUE, register=False)
    services.schedule_create_many(template=template, count=N)
    setup_s = time.monotonic() - t0

    worker, wlog = spawn([CELERY, "-A", "megahub", "worker", "-Q", "default", "-c", "2", "-l", "INFO",
                          "-n", "bench-sched@%h", "--without-gossip", "--without-mingle"], "bench-sched-worker")
    beat, blog = spawn([CELERY, "-A", "megahub", "beat", "-l", "INFO", "--max-interval", str(int(LOOP)),
                        "-S", "task_scheduling.beat:Scheduler", "-s", str(Path(os.environ["MEGAHUB_VAR_DIR"]) /
                                                                          "beat-ours")], "bench-sched-beat")
    try:
        wait_until(lambda: f"{N} active schedules loaded" in blog.read_text(errors="replace"), 60, "Beat to load")
        wait_until(lambda: "ready." in wlog.read_text(errors="replace"), 60, "worker ready")
        window = min(10.0, (due - datetime.now(UTC)).total_seconds() - 3)
        cpu, secs = idle_cpu(beat, window)
        wait_until(lambda: datetime.now(UTC) >= due, 120, "the due minute", 0.01)
        queued = BaseTask.objects.filter(brand=brand, origin="schedule").exclude(status=TaskStatus.PENDING)
        wait_until(lambda: queued.count() >= N, 180, f"{N} queued tasks", 0.05)
        elapsed = (datetime.now(UTC) - due).total_seconds()
        in_broker = redis_queue_len(redis_client, SINK_QUEUE)
    finally:
        stop(beat)
        stop(worker)
    return {"setup_s": setup_s, "dispatch_s": elapsed, "in_broker": in_broker, "idle_cpu_s": cpu, "window": secs}


def bench_stock(redis_client) -> dict:
    import json

    from django_celery_beat.models import CrontabSchedule, PeriodicTasks
    from django_celery_beat.models import PeriodicTask as BeatEntry

    due = target_minute(lead_seconds=45)
    crontab, _ = CrontabSchedule.objects.get_or_create(minute=str(due.minute), hour=str(due.hour), day_of_month="*",
                                                       month_of_year="*", day_of_week="*", timezone="UTC")
    BeatEntry.objects.bulk_create(
        [BeatEntry(name=f"stock-{i}", task="bench.noop", crontab=crontab, queue=STOCK_QUEUE,
                   kwargs=json.dumps({"i": i})) for i in range(N)], batch_size=1000)
    PeriodicTasks.update_changed()
    beat, blog = spawn([CELERY, "-A", "megahub", "beat", "-l", "INFO", "-S",
                        "django_celery_beat.schedulers:DatabaseScheduler", "-s",
                        str(Path(os.environ["MEGAHUB_VAR_DIR"]) / "beat-stock")], "bench-stock-beat")
    try:
        wait_until(lambda: "beat: Starting" in blog.read_text(errors="replace"), 60, "stock Beat to start")
        time.sleep(3)
        window = min(10.0, (due - datetime.now(UTC)).total_seconds() - 3)
        cpu, secs = idle_cpu(beat, window)
        wait_until(lambda: datetime.now(UTC) >= due, 120, "the due minute", 0.01)
        limit = float(os.environ.get("BENCH_STOCK_TIMEOUT", "240"))
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < limit:
            sent = redis_queue_len(redis_client, STOCK_QUEUE)
            if sent >= N:
                break
            time.sleep(0.2)
        elapsed = (datetime.now(UTC) - due).total_seconds()
    finally:
        stop(beat)
    return {"dispatch_s": elapsed, "sent": sent, "finished": sent >= N, "idle_cpu_s": cpu, "window": secs}


def main() -> None:
    ensure_database()
    setup_django()
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    print(f"bench_scheduling: {N} schedules, database={settings.DATABASES['default']['NAME']} "
          f"broker={os.environ['REDIS_URL']}")
    clean(client)
    ours = bench_ours(client)
    print(f"  ours : setup (bulk register {N}) {ours['setup_s']:.1f}s")
    print(f"  ours : all {N} BaseTasks created and enqueued {ours['dispatch_s']:.2f}s after the due minute "
          f"({ours['in_broker']} messages in the broker)")
    print(f"  ours : Beat idle CPU {ours['idle_cpu_s'] * 1000:.0f} ms over {ours['window']:.1f}s "
          f"=> <= {ours['idle_cpu_s'] * 1000 * LOOP / ours['window']:.1f} ms per idle tick ({LOOP:.0f}s loop)")
    stock = bench_stock(client)
    status = "all sent" if stock["finished"] else f"only {stock['sent']} sent (gave up)"
    print(f"  stock: DatabaseScheduler {status} {stock['dispatch_s']:.2f}s after the due minute")
    if not stock["finished"] and stock["sent"]:
        rate = stock["sent"] / stock["dispatch_s"]
        print(f"  stock: {rate:.1f} messages/s => about {N / rate:.0f}s for all {N} at that rate")
    print(f"  stock: Beat idle CPU {stock['idle_cpu_s'] * 1000:.0f} ms over {stock['window']:.1f}s")
    ratio = stock["dispatch_s"] / ours["dispatch_s"] if ours["dispatch_s"] > 0 else float("inf")
    bound = "" if stock["finished"] else " (at least; stock never finished)"
    print(f"  => ours is {ratio:.1f}x faster{bound}; target: <= 30 s and >= 5x "
          f"-> {'MET' if ours['dispatch_s'] <= 30 and ratio >= 5 else 'NOT MET'}")
    clean(client)


if __name__ == "__main__":
    main()
