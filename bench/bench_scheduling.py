"""Benchmark: N schedules due in the same minute, ours vs stock django-celery-beat, same database, same run.

    .venv/bin/python bench/bench_scheduling.py            (make bench runs it through bench/run_all.py)

Env: DATABASE_URL (default postgres://postgres@127.0.0.1:5432/megahub_bench_sched; created and migrated if
missing; its name must contain "bench"), REDIS_URL (default redis://127.0.0.1:6379/7; not DB 0, and its
`default` queue must be empty when the run starts), BENCH_SCHEDULES (default 10000), BENCH_LEAD_SECONDS
(default 40: how far ahead of "now" the due minute is picked once everything is loaded),
BENCH_STOCK_TIMEOUT (default 240 s).

1. ours: N active cron schedules of one template (its runs go to a queue nobody consumes, so every message
   stays countable in Redis). `celery -A megahub beat` with task_scheduling.beat.Scheduler and one worker
   for the dispatcher. Once Beat has loaded them, the due minute M is picked and the template's cron set to
   it (a bulk edit: Beat reloads). Measured: Beat's idle CPU per tick with N loaded (CPU of the Beat process
   over a window / Beat's own "Waking up" log lines in that window), the full reload time Beat logs, and the
   seconds from M until all N BaseTasks exist and are enqueued (status queued); then all N messages must be
   in the broker, no more, no less.
2. Our rows are deleted (stock Beat would otherwise load them too), then stock: N plain django-celery-beat
   crontab rows, Beat run with django_celery_beat.schedulers:DatabaseScheduler; the due minute M2 is picked
   once it runs and their crontab set to it. Measured the same way: idle CPU per tick, and the seconds from
   M2 until all N messages are in Redis.

Safety: it refuses to run on a database whose name lacks "bench", on Redis DB 0, or on a Redis DB whose
`default` queue holds messages (someone's work); it deletes only its own rows (brand "bench-sched", Beat
rows named "bench-stock-*") and only the Redis keys of its queues, never a whole database.
"""

import os
import re
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
LEAD = float(os.environ.get("BENCH_LEAD_SECONDS", "40"))
CELERY = str(Path(sys.executable).parent / "celery")
BRAND_SLUG = "bench-sched"
SINK_QUEUE = "bench_sink"
STOCK_QUEUE = "bench_stock"
STOCK_PREFIX = "bench-stock-"
LOOP = 1  # Beat's --max-interval: an idle Beat ticks at least once per LOOP seconds
TICK_LINE = "beat: Waking up"


def guard() -> None:
    import dj_database_url
    import redis

    name = dj_database_url.parse(os.environ["DATABASE_URL"])["NAME"] or ""
    if "bench" not in Path(name).name:
        raise SystemExit(f"refusing to run: database {name!r} is not a benchmark database (its name lacks 'bench')")
    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    if client.connection_pool.connection_kwargs.get("db", 0) == 0:
        raise SystemExit("refusing to run on Redis DB 0: point REDIS_URL at a DB of its own, e.g. /7")
    if queue_len(client, "default"):
        raise SystemExit(f"refusing to run: the 'default' queue of {os.environ['REDIS_URL']} holds messages")


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


class Proc:
    """A celery process with its log; `mark()`/`since()` read what it logged after a point."""

    def __init__(self, args: list[str], name: str, log_level: str = "INFO"):
        log_dir = Path(os.environ["MEGAHUB_VAR_DIR"]) / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log = log_dir / f"{name}.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1", LOG_LEVEL=log_level)
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(self.log, "wb"),  # noqa: SIM115
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def mark(self) -> int:
        return self.log.stat().st_size

    def since(self, mark: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(mark)
            return f.read().decode(errors="replace")

    def stop(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def beat_process(scheduler: str, name: str) -> Proc:
    schedule_file = str(Path(os.environ["MEGAHUB_VAR_DIR"]) / f"{name}-schedule")
    # DEBUG: Beat logs one "Waking up" line per tick, which is how ticks are counted.
    return Proc([CELERY, "-A", "megahub", "beat", "-l", "DEBUG", "--max-interval", str(LOOP), "-S", scheduler,
                 "-s", schedule_file, "--pidfile="], name, log_level="DEBUG")


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
    by the hours around the current one, so a target in the next hour could be invisible to it)."""
    t = (datetime.now(UTC) + timedelta(seconds=lead_seconds)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    if t.minute == 0:
        t += timedelta(minutes=1)
    return t


def idle_ticks(beat: Proc, until: datetime) -> tuple[float, int, float]:
    """(Beat CPU seconds, ticks, window seconds) from now until 3 s before `until`, nothing being due."""
    import psutil

    window = (until - datetime.now(UTC)).total_seconds() - 3
    if window < 3:
        raise SystemExit(f"only {window:.1f}s left before the due minute to measure idle ticks; "
                         "raise BENCH_LEAD_SECONDS")
    p = psutil.Process(beat.proc.pid)
    mark, before = beat.mark(), p.cpu_times()
    time.sleep(window)
    after = p.cpu_times()
    ticks = beat.since(mark).count(TICK_LINE)
    return (after.user - before.user) + (after.system - before.system), ticks, window


def queue_len(client, queue: str) -> int:
    """Messages in a queue: Redis keeps one list per priority level (`queue`, `queue:1` ... `queue:9`)."""
    return sum(client.llen(k) for k in [queue.encode(), *client.keys(f"{queue}:*")] if client.type(k) == b"list")


def delete_queues(client, *queues: str) -> None:
    for queue in queues:
        keys = [queue.encode(), *client.keys(f"{queue}:*")]
        client.delete(*keys)


def clean(client) -> None:
    """Only what this benchmark created."""
    from django_celery_beat.models import CrontabSchedule, PeriodicTasks
    from django_celery_beat.models import PeriodicTask as BeatEntry

    from task_core.models import BaseTask, Brand
    from task_scheduling.models import ScheduleTemplate
    from task_scheduling.services import templates

    for template in ScheduleTemplate.objects.filter(brand__slug=BRAND_SLUG):
        templates.template_delete(template=template)
    BeatEntry.objects.filter(name__startswith=STOCK_PREFIX)._raw_delete(BeatEntry.objects.db)
    CrontabSchedule.objects.filter(periodictask__isnull=True, minute="59", hour="23", day_of_month="31",
                                   month_of_year="12").delete()
    BaseTask.objects.filter(brand__slug=BRAND_SLUG).delete()
    Brand.objects.filter(slug=BRAND_SLUG).delete()
    PeriodicTasks.update_changed()
    delete_queues(client, SINK_QUEUE, STOCK_QUEUE, "default")  # "default" was empty when we started


def loaded_lines(beat: Proc) -> list[tuple[int, str, float]]:
    """(schedules, "loaded" or "refreshed (...)", seconds) of each read of its rows Beat logged."""
    return [(int(n), how, float(s)) for n, how, s in re.findall(
        r"Scheduling: (\d+) active schedules (loaded|refreshed[^)]*\)) in ([\d.]+)s", beat.text())]


def bench_ours(client) -> dict:
    from task_core.models import BaseTask, Brand, TaskStatus
    from task_scheduling.services import schedules, templates

    brand = Brand.objects.create(name="bench-sched", slug=BRAND_SLUG)
    t0 = time.monotonic()
    # Registered on a placeholder time first: the due minute is picked only once all is loaded.
    template = templates.template_create(
        brand=brand, name="bench", task_type="demo.echo", parameters={"message": "bench"}, kind="cron",
        cron_expression="59 23 31 12 *", timezone="UTC", queue=SINK_QUEUE, register=False)
    schedules.schedule_create_many(template=template, count=N)
    setup_s = time.monotonic() - t0

    worker = Proc([CELERY, "-A", "megahub", "worker", "-Q", "default", "-c", "2", "-l", "INFO",
                   "-n", "bench-sched@%h", "--without-gossip", "--without-mingle"], "bench-sched-worker")
    beat = beat_process("task_scheduling.beat:Scheduler", "bench-sched-beat")
    try:
        wait_until(lambda: any(n == N for n, _, _ in loaded_lines(beat)), 120, "Beat to load")
        wait_until(lambda: "ready." in worker.text(), 60, "worker ready")
        loads = len(loaded_lines(beat))
        due = target_minute(LEAD)
        t1 = time.monotonic()
        templates.template_update(template=template, cron_expression=f"{due.minute} {due.hour} * * *")
        retime_s = time.monotonic() - t1
        wait_until(lambda: len(loaded_lines(beat)) > loads, 60, "Beat to reload after the edit")
        full_s = max(s for _, how, s in loaded_lines(beat) if how == "loaded")
        _, how, reload_s = loaded_lines(beat)[-1]
        cpu, ticks, window = idle_ticks(beat, due)
        wait_until(lambda: datetime.now(UTC) >= due, 120, "the due minute", 0.01)
        queued = BaseTask.objects.filter(brand=brand, origin="schedule").exclude(status=TaskStatus.PENDING)
        wait_until(lambda: queued.count() >= N, 180, f"{N} queued tasks", 0.05)
        elapsed = (datetime.now(UTC) - due).total_seconds()
        time.sleep(2)  # anything extra (a duplicate) would arrive now
        in_broker = queue_len(client, SINK_QUEUE)
        created = BaseTask.objects.filter(brand=brand).count()
    finally:
        beat.stop()
        worker.stop()
    return {"setup_s": setup_s, "retime_s": retime_s, "full_s": full_s, "reload": f"{how} in {reload_s:.3f}s",
            "dispatch_s": elapsed,
            "in_broker": in_broker, "created": created, "idle_cpu_s": cpu, "ticks": ticks, "window": window}


def bench_stock(client) -> dict:
    import json

    from django_celery_beat.models import CrontabSchedule, PeriodicTasks
    from django_celery_beat.models import PeriodicTask as BeatEntry

    crontab = CrontabSchedule.objects.create(minute="59", hour="23", day_of_month="31", month_of_year="12",
                                             day_of_week="*", timezone="UTC")
    BeatEntry.objects.bulk_create(
        [BeatEntry(name=f"{STOCK_PREFIX}{i}", task="bench.noop", crontab=crontab, queue=STOCK_QUEUE,
                   kwargs=json.dumps({"i": i})) for i in range(N)], batch_size=1000)
    PeriodicTasks.update_changed()
    beat = beat_process("django_celery_beat.schedulers:DatabaseScheduler", "bench-stock-beat")
    try:
        wait_until(lambda: TICK_LINE in beat.text(), 120, "stock Beat to start ticking")
        due = target_minute(LEAD)
        mark = beat.mark()
        CrontabSchedule.objects.filter(pk=crontab.pk).update(minute=str(due.minute), hour=str(due.hour),
                                                             day_of_month="*", month_of_year="*")
        PeriodicTasks.update_changed()
        wait_until(lambda: "Schedule changed" in beat.since(mark), 60, "stock Beat to reload")
        cpu, ticks, window = idle_ticks(beat, due)
        wait_until(lambda: datetime.now(UTC) >= due, 120, "the due minute", 0.01)
        limit = float(os.environ.get("BENCH_STOCK_TIMEOUT", "240"))
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < limit:
            sent = queue_len(client, STOCK_QUEUE)
            if sent >= N:
                break
            time.sleep(0.2)
        elapsed = (datetime.now(UTC) - due).total_seconds()
    finally:
        beat.stop()
        BeatEntry.objects.filter(crontab=crontab)._raw_delete(BeatEntry.objects.db)
        crontab.delete()
    return {"dispatch_s": elapsed, "sent": sent, "finished": sent >= N, "idle_cpu_s": cpu, "ticks": ticks,
            "window": window}


def per_tick(result: dict) -> str:
    if not result["ticks"]:
        return f"{result['idle_cpu_s'] * 1000:.0f} ms over {result['window']:.1f}s (no tick logged)"
    return (f"{result['idle_cpu_s'] * 1000 / result['ticks']:.2f} ms CPU per idle tick "
            f"({result['ticks']} ticks in {result['window']:.1f}s)")


def main() -> None:
    guard()
    ensure_database()
    setup_django()
    import redis
    from django.conf import settings

    sys.path.insert(0, str(ROOT / "bench"))
    from _common import machine

    client = redis.Redis.from_url(os.environ["REDIS_URL"])
    print(f"bench_scheduling: {N} schedules, database={settings.DATABASES['default']['NAME']} "
          f"broker={os.environ['REDIS_URL']}, {machine()}")
    clean(client)
    try:
        ok = run(client)
    finally:
        clean(client)  # also after a failure: the next run's guard finds an empty `default` queue
    if not ok:
        raise SystemExit(1)


def run(client) -> bool:
    ours = bench_ours(client)
    print(f"  ours : setup (bulk register {N}) {ours['setup_s']:.1f}s; cron edit of all {N} "
          f"{ours['retime_s']:.2f}s; Beat: full load {ours['full_s']:.3f}s, after the edit {ours['reload']}")
    print(f"  ours : Beat {per_tick(ours)}")
    print(f"  ours : all {N} BaseTasks created and enqueued {ours['dispatch_s']:.2f}s after the due minute "
          f"({ours['created']} tasks, {ours['in_broker']} messages in the broker)")
    ok_broker = ours["in_broker"] == N == ours["created"]
    if not ok_broker:
        print(f"  ours : ERROR expected exactly {N} tasks and {N} messages in the broker")
    clean(client)  # stock Beat must not load our rows
    stock = bench_stock(client)
    status = "all sent" if stock["finished"] else f"only {stock['sent']} sent (gave up)"
    print(f"  stock: Beat {per_tick(stock)}")
    print(f"  stock: DatabaseScheduler {status} {stock['dispatch_s']:.2f}s after the due minute")
    if not stock["finished"] and stock["sent"]:
        rate = stock["sent"] / stock["dispatch_s"]
        print(f"  stock: {rate:.1f} messages/s => about {N / rate:.0f}s for all {N} at that rate")
    ratio = stock["dispatch_s"] / ours["dispatch_s"] if ours["dispatch_s"] > 0 else float("inf")
    bound = "" if stock["finished"] else " (at least; stock never finished)"
    met = ok_broker and ours["dispatch_s"] <= 30 and ratio >= 5
    print(f"  => ours is {ratio:.1f}x faster{bound}; target: all within 30 s and >= 5x "
          f"-> {'MET' if met else 'NOT MET'}")
    return ok_broker


if __name__ == "__main__":
    main()
