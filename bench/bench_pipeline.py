"""End-to-end throughput of the task pipeline against plain Celery, on the same Redis and PostgreSQL.

Every variant: a fresh `celery worker -P prefork -c 2` on the queue `bench_pipeline` (boot excluded), a
warm-up batch, VACUUM + CHECKPOINT (`settle`), then N no-op tasks timed from the first enqueue until the
last one is recorded done (completion polled every 0.1 s). Variants:

- ours-one   task_create() one by one, type demo.echo: BaseTask row, TaskEvents, pending -> queued ->
             running -> completed. Done = all rows `completed`. Like `delay()` in a loop, and what
             POST /tasks/ does.
- ours-bulk  task_create_many() of all N at once (bulk insert, one producer, bulk `queued`): what the
             scheduling dispatcher and fan-outs use.
- dcr-shipped  plain Celery + django-celery-results (result_extended, acks late, prefetch 1, task
             events on as for ours), CELERY_DB_REUSE_MAX unset: Django fixup closes the connection around
             every task. Plain: Celery's own worker consumer and kombu's own Redis transport.
- dcr-tuned  the same with CELERY_DB_REUSE_MAX=1000. Done = all TaskResult rows SUCCESS.
- dcr-tuned-mh  dcr-tuned on MEGAHUB's Redis transport and event-batching worker consumer, so ours
             against it is close to what task_core's recording costs (no target).
- floor      plain Celery, no result backend; the task INCRs a Redis counter. Done = counter = N.

Each of ours-one and ours-bulk is compared with dcr-tuned (target >= 1.0x) and with dcr-tuned-mh. Every
timed run also prints the CPU it cost per task, by process group (the producer, the worker's processes,
PostgreSQL, Redis, other), from /proc before and after. Then the worker side alone (`drain`: the queue
filled before the worker starts) of ours, dcr-tuned and dcr-tuned-mh, and an in-process profile of each
side (enqueue, worker) of ours and of plain Celery + django-celery-results: wall time, CPU of the
process, CPU of its PostgreSQL backend, SQL statements per task.

Env: BENCH_N (default 2000), BENCH_ROUNDS (default 2; the median rate is reported), BENCH_CONCURRENCY (2),
BENCH_VARIANTS (comma list, default all), BENCH_DRAIN=0 to skip the worker-side measurement, BENCH_PROFILE=0
to skip the profile, BENCH_PLAIN_EVENTS=0 to run the plain workers without task events (Celery's default),
BENCH_OURS_EVENTS=0 to run ours without them too (bench/settings_no_events.py; not how MEGAHUB runs).
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import (  # noqa: E402
    CPU_GROUPS,
    Worker,
    cpu_snapshot,
    cpu_used,
    delete_brand_tasks,
    django_setup,
    machine,
    process_cpu_seconds,
    wait_until,
)

N = int(os.environ.get("BENCH_N", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
WARMUP = 50
QUEUE = "bench_pipeline"
POLL = 0.1
TIMEOUT = max(120.0, N / 10)
ALL_VARIANTS = ["ours-one", "ours-bulk", "dcr-shipped", "dcr-tuned", "dcr-tuned-mh", "floor"]
# Plain variant -> (BENCH_PLAIN_VARIANT, BENCH_PLAIN_PARTS) of bench/plain_app.py.
PLAIN = {"dcr-shipped": ("shipped", "stock"), "dcr-tuned": ("tuned", "stock"), "dcr-tuned-mh": ("tuned", "megahub"),
         "floor": ("floor", "stock")}
# Task events (-E) on the plain workers as on ours; BENCH_PLAIN_EVENTS=0: off, Celery's default.
PLAIN_EVENTS = os.environ.get("BENCH_PLAIN_EVENTS", "1") != "0"
# BENCH_OURS_EVENTS=0: our workers without task events too (not how MEGAHUB runs: Flower needs them), so
# that both sides can be compared with events off.
OURS_EVENTS = os.environ.get("BENCH_OURS_EVENTS", "1") != "0"
# BENCH_VARIANTS=ours-one,dcr-tuned runs a subset (the headline needs both of those).
VARIANTS = [v for v in os.environ.get("BENCH_VARIANTS", ",".join(ALL_VARIANTS)).split(",") if v in ALL_VARIANTS]


class Bench:
    def __init__(self):
        django_setup()
        import redis

        from bench import plain_app
        from megahub.celery import app as ours_app
        from task_core.models import Brand

        self.ours_app, self.plain = ours_app, plain_app
        # Producers of the plain variants, one app per set of parts (the publishing side differs too).
        self.plain_apps = {parts: plain_app.make_app("tuned", parts) for parts in plain_app.PARTS}
        self.redis = redis.Redis.from_url(os.environ["REDIS_URL"])
        self.brand, _ = Brand.objects.get_or_create(slug="bench-pipeline", defaults={"name": "Bench pipeline"})

    # --- helpers ---------------------------------------------------------------------------------
    def purge_queue(self):
        self.redis.delete(QUEUE, *(f"{QUEUE}:{p}" for p in range(1, 10)))

    def reset_ours(self):
        """Delete the benchmark brand's tasks (and their events) so every run starts alike."""
        delete_brand_tasks(self.brand)
        self.purge_queue()

    def ours_done(self, target: int):
        from django.db.models import Count

        from task_core.models import BaseTask, TaskStatus

        counts = dict(BaseTask.objects.filter(brand=self.brand, status__in=[TaskStatus.COMPLETED, TaskStatus.FAILED])
                      .values("status").annotate(n=Count("pk")).values_list("status", "n"))
        if counts.get(TaskStatus.FAILED):
            raise RuntimeError(f"{counts[TaskStatus.FAILED]} benchmark task(s) failed")
        return counts.get(TaskStatus.COMPLETED, 0) >= target

    def ours_enqueue(self, n: int, bulk: bool):
        from task_core import services

        if bulk:
            services.task_create_many(brand=self.brand, specs=[
                {"task_type": "demo.echo", "context_data": {"message": "bench"}, "queue": QUEUE} for _ in range(n)])
        else:
            for _ in range(n):
                services.task_create(brand=self.brand, task_type="demo.echo", context_data={"message": "bench"},
                                     queue=QUEUE)

    def dcr_done(self, target: int) -> bool:
        from django_celery_results.models import TaskResult

        return TaskResult.objects.filter(task_name="bench.noop", status="SUCCESS").count() >= target

    def floor_done(self, target: int) -> bool:
        return int(self.redis.get(self.plain.COUNTER_KEY) or 0) >= target

    # --- one timed run ---------------------------------------------------------------------------
    def run(self, variant: str, worker: Worker | None = None) -> dict:
        """Warm up, then time N tasks. Returns {seconds, enqueue_seconds, rate}."""
        if variant.startswith("ours"):
            bulk = variant == "ours-bulk"
            self.ours_app.set_current()
            self.reset_ours()
            def enqueue(n):
                return self.ours_enqueue(n, bulk)
            done = self.ours_done
        elif variant.startswith("dcr"):
            from django_celery_results.models import TaskResult

            TaskResult.objects.filter(task_name="bench.noop").delete()
            self.purge_queue()
            noop = self.plain_apps[PLAIN[variant][1]].tasks["bench.noop"]
            def enqueue(n):
                for _ in range(n):
                    noop.apply_async(queue=QUEUE)
            done = self.dcr_done
        else:
            self.redis.set(self.plain.COUNTER_KEY, 0)
            self.purge_queue()
            noop_count = self.plain_apps["stock"].tasks["bench.noop_count"]
            def enqueue(n):
                for _ in range(n):
                    noop_count.apply_async(queue=QUEUE)
            done = self.floor_done

        own = worker is None
        if own:
            name = f"bench-{variant}-{uuid.uuid4().hex[:6]}"
            worker = ours_worker(name) if variant.startswith("ours") else plain_worker(variant, name)
            worker.start(self.ours_app if variant.startswith("ours") else self.plain_apps[PLAIN[variant][1]])
        try:
            enqueue(WARMUP)
            wait_until(lambda: done(WARMUP), 60, POLL, f"{variant} warm-up")
            settle()
            pgids = (worker.proc.pid,)
            cpu0 = cpu_snapshot(pgids)
            t0 = time.monotonic()
            enqueue(N)
            t_enq = time.monotonic() - t0
            _, t_end = wait_until(lambda: done(WARMUP + N), TIMEOUT, POLL, f"{variant} N={N}")
            cpu1 = cpu_snapshot(pgids)
        finally:
            if own:
                worker.stop()
        seconds = t_end - t0
        cpu_ms = {group: 1000 * seconds_used / N for group, seconds_used in cpu_used(cpu0, cpu1).items()}
        return {"seconds": seconds, "enqueue_seconds": t_enq, "rate": N / seconds, "cpu_ms": cpu_ms}


def ours_worker(name: str) -> Worker:
    return Worker("megahub", name, QUEUE, CONCURRENCY, events=OURS_EVENTS,
                  env=None if OURS_EVENTS else {"DJANGO_SETTINGS_MODULE": "bench.settings_no_events"})


def plain_worker(variant: str, name: str) -> Worker:
    backend, parts = PLAIN[variant]
    return Worker("bench.plain_app", name, QUEUE, CONCURRENCY, events=PLAIN_EVENTS,
                  env={"BENCH_PLAIN_VARIANT": backend, "BENCH_PLAIN_PARTS": parts})


def settle() -> None:
    """Start every timed run from the same database state: the rows the previous variant deleted are
    vacuumed (no autovacuum in the middle of the next run) and a checkpoint is taken (every run then pays
    the same full-page writes for the pages it touches first)."""
    from django.db import connection
    from django_celery_results.models import TaskResult

    from task_core.models import BaseTask, TaskEvent

    tables = ", ".join(m._meta.db_table for m in (BaseTask, TaskEvent, TaskResult))
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM (ANALYZE) {tables}")
        cursor.execute("CHECKPOINT")


def drain(bench: Bench, variant: str) -> float:
    """The worker side alone: N tasks wait in the queue before the worker starts (ours submitted in
    bulk, the plain variants by apply_async). The rate runs from the first recorded outcome to the last, from the
    rows' own timestamps (ours `completed_at`, django-celery-results `date_done`), so neither the
    submission nor the worker's boot is in it."""
    from django.db.models import Max, Min
    from django_celery_results.models import TaskResult

    from task_core.models import BaseTask

    name = f"drain-{variant}-{uuid.uuid4().hex[:6]}"
    if variant == "ours":
        bench.ours_app.set_current()
        bench.reset_ours()
        bench.ours_enqueue(N, bulk=True)
        worker, app, done = ours_worker(name), bench.ours_app, bench.ours_done
        def span():
            return BaseTask.objects.filter(brand=bench.brand).aggregate(a=Min("completed_at"), z=Max("completed_at"))
    else:
        TaskResult.objects.filter(task_name="bench.noop").delete()
        bench.purge_queue()
        app = bench.plain_apps[PLAIN[variant][1]]
        for _ in range(N):
            app.tasks["bench.noop"].apply_async(queue=QUEUE)
        worker, done = plain_worker(variant, name), bench.dcr_done
        def span():
            return TaskResult.objects.filter(task_name="bench.noop").aggregate(a=Min("date_done"), z=Max("date_done"))
    settle()
    worker.start(app)
    try:
        wait_until(lambda: done(N), TIMEOUT, POLL, f"drain {variant}")
    finally:
        worker.stop()
    edges = span()
    return (N - 1) / (edges["z"] - edges["a"]).total_seconds()


# --- in-process profile ---------------------------------------------------------------------------
def measure(fn, n: int) -> dict:
    """Per call: wall time, CPU of this process, CPU of its PostgreSQL backend, SQL statements sent
    (counted by an execute wrapper; BEGIN and COMMIT are not statements of ours and not counted).

    The two CPU figures together are what one task costs the cores the worker and the database share.
    Both move less than wall time when the machine is loaded, but they do move (up to 2x, measured).
    """
    from django.db import connection

    statements = 0

    def count(execute, sql, params, many, context):
        nonlocal statements
        statements += 1
        return execute(sql, params, many, context)

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    pg0, cpu0, wall0 = process_cpu_seconds(backend), time.process_time(), time.perf_counter()
    with connection.execute_wrapper(count):
        for i in range(n):
            fn(i)
    wall, cpu, pg1 = time.perf_counter() - wall0, time.process_time() - cpu0, process_cpu_seconds(backend)
    pg = None if pg0 is None or pg1 is None else pg1 - pg0
    return {"wall_ms": 1000 * wall / n, "cpu_ms": 1000 * cpu / n, "pg_cpu_ms": None if pg is None else 1000 * pg / n,
            "queries": statements / n}


def profile(bench: Bench, n: int = 500) -> dict:
    """Both sides of a task in one process (no broker consumer): ours against django-celery-results."""
    import logging

    from celery.app.task import Context

    from task_core import services
    from task_core.models import BaseTask

    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # eager apply() logs every task
    bench.ours_app.set_current()
    bench.reset_ours()
    out = {}

    def create(_i):
        services.task_create(brand=bench.brand, task_type="demo.echo", context_data={"message": "bench"}, queue=QUEUE)

    create(0)
    out["ours, enqueue: task_create (row queued + events, publish)"] = measure(create, n)
    for parts, label in (("stock", "dcr"), ("megahub", "dcr-mh")):
        noop = bench.plain_apps[parts].tasks["bench.noop"]
        out[f"{label}, enqueue: apply_async (publish)"] = measure(
            lambda _i, noop=noop: noop.apply_async(queue=QUEUE), n)
    bench.purge_queue()
    ids = [str(t) for t in
           BaseTask.objects.filter(brand=bench.brand, status="queued").values_list("task_id", flat=True)]
    celery_task = bench.ours_app.tasks["demo.echo"]
    out["ours, worker: execute (start + event, echo, completed + event)"] = measure(
        lambda i: celery_task.apply(args=[ids[i]], task_id=ids[i], hostname="profile@bench"), n)
    backend = bench.plain_apps["stock"].backend

    def store(_i):
        tid = str(uuid.uuid4())
        req = Context(id=tid, task="bench.noop", args=[], kwargs={}, hostname="profile@bench", retries=0,
                      delivery_info={"exchange": "", "routing_key": QUEUE, "priority": 0, "redelivered": False})
        backend.mark_as_done(tid, None, request=req)

    store(0)
    out["dcr, worker: store the result (result_extended)"] = measure(store, n)
    bench.reset_ours()
    from django_celery_results.models import TaskResult

    TaskResult.objects.filter(task_name="bench.noop").delete()
    return out


def main():
    bench = Bench()
    print(f"bench_pipeline: N={N} no-op tasks per variant, {ROUNDS} round(s), worker -P prefork -c {CONCURRENCY}, "
          f"queue {QUEUE}; machine: {machine()}")
    print(f"  database {os.environ['DATABASE_URL']}, broker {os.environ['REDIS_URL']}")
    runs: dict[str, list[dict]] = {v: [] for v in VARIANTS}

    def record(rnd: int, variant: str, r: dict) -> None:
        runs[variant].append(r)
        cpu = ", ".join(f"{group} {ms:.2f}" for group, ms in r["cpu_ms"].items())
        print(f"  round {rnd + 1} {variant:<12} {r['seconds']:7.2f} s  {r['rate']:8.1f} tasks/s"
              f"  (enqueue {r['enqueue_seconds']:.2f} s, load {os.getloadavg()[0]:.1f}; CPU ms/task: {cpu})",
              flush=True)

    for rnd in range(ROUNDS):
        # Our two variants share one warmed worker; each plain variant gets its own (its env differs).
        shared = ours_worker(f"bench-ours-{uuid.uuid4().hex[:6]}")
        shared.start(bench.ours_app)
        try:
            order = ["ours-one", "ours-bulk"] if rnd % 2 == 0 else ["ours-bulk", "ours-one"]
            for variant in (v for v in order if v in VARIANTS):
                record(rnd, variant, bench.run(variant, shared))
        finally:
            shared.stop()
        for variant in (v for v in VARIANTS if not v.startswith("ours")):
            record(rnd, variant, bench.run(variant))

    rates = {v: [r["rate"] for r in rs] for v, rs in runs.items()}
    med = {v: statistics.median(rs) for v, rs in rates.items() if rs}
    print()
    print(f"Median over {ROUNDS} round(s), N={N}, {os.cpu_count()} cores, worker -c {CONCURRENCY} prefork:")
    print(f"  {'variant':<12} {'tasks/s':>9} {'enqueue s':>10}   CPU ms per task: "
          + " ".join(f"{g:>8}" for g in [*CPU_GROUPS, "total"]))
    for v in med:
        cpu = {g: statistics.median(r["cpu_ms"][g] for r in runs[v]) for g in CPU_GROUPS}
        print(f"  {v:<12} {med[v]:9.1f} {statistics.median(r['enqueue_seconds'] for r in runs[v]):10.2f}   "
              f"{'':16}" + " ".join(f"{cpu[g]:8.2f}" for g in CPU_GROUPS) + f" {sum(cpu.values()):8.2f}")
    for ours, how in (("ours-one", "task_create one by one"), ("ours-bulk", "task_create_many")):
        if ours in med and "dcr-tuned" in med:
            ratio = med[ours] / med["dcr-tuned"]
            # The target is judged with task events on both sides (docs/benchmarks.md).
            label = "target" if OURS_EVENTS and PLAIN_EVENTS else "not the target's set-up of events on both sides;"
            print(f"RATIO {ours} ({how}{'' if OURS_EVENTS else ', no task events'}) / dcr-tuned "
                  f"(plain Celery{'' if PLAIN_EVENTS else ', no task events'}) = "
                  f"{ratio:.2f}x ({label}"
                  f" >= 1.00x: {'MET' if ratio >= 1.0 else 'NOT MET'})")
        if ours in med and "dcr-tuned-mh" in med:
            print(f"      {ours} / dcr-tuned-mh (on MEGAHUB's transport and consumer) = "
                  f"{med[ours] / med['dcr-tuned-mh']:.2f}x")
    if "ours-one" in med:
        for other in ("dcr-shipped", "floor"):
            if other in med:
                print(f"      ours-one / {other} = {med['ours-one'] / med[other]:.2f}x")

    if os.environ.get("BENCH_DRAIN", "1") != "0":
        print()
        print(f"Worker side alone: {N} tasks waiting before the worker starts, first to last recorded outcome "
              f"(tasks/s; {ROUNDS} round(s), alternating)")
        # The two tuned plain variants among BENCH_VARIANTS; dcr-tuned (the target) when neither is.
        others = [v for v in ("dcr-tuned", "dcr-tuned-mh") if v in VARIANTS] or ["dcr-tuned"]
        drains: dict[str, list[float]] = {v: [] for v in ["ours", *others]}
        for rnd in range(ROUNDS):
            order = list(drains) if rnd % 2 == 0 else list(reversed(drains))
            for variant in order:
                drains[variant].append(drain(bench, variant))
                print(f"  round {rnd + 1} {variant:<12} {drains[variant][-1]:8.1f} tasks/s", flush=True)
        ours_d = statistics.median(drains["ours"])
        for other in others:
            other_d = statistics.median(drains[other])
            print(f"DRAIN ours {ours_d:.1f} / {other} {other_d:.1f} tasks/s = {ours_d / other_d:.2f}x")

    if os.environ.get("BENCH_PROFILE", "1") != "0":
        print()
        print("Per task, in one process (no broker consumer): wall time, CPU of this process, CPU of its "
              "PostgreSQL backend, SQL statements sent (not counting BEGIN/COMMIT)")
        print(f"  {'step':<66} {'wall ms':>8} {'cpu ms':>7} {'pg cpu':>7} {'queries':>8}")
        for name, m in profile(bench).items():
            pg = "n/a" if m["pg_cpu_ms"] is None else f"{m['pg_cpu_ms']:.2f}"
            print(f"  {name:<66} {m['wall_ms']:8.2f} {m['cpu_ms']:7.2f} {pg:>7} {m['queries']:8.1f}")


if __name__ == "__main__":
    main()
