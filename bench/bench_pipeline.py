"""End-to-end throughput of the task pipeline against plain Celery, on the same Redis and PostgreSQL.

Every variant: a fresh `celery worker -P prefork -c 2` on the queue `bench_pipeline` (boot excluded), a
warm-up batch, then N no-op tasks timed from the first enqueue until the last one is recorded done
(completion polled every 0.1 s). Variants:

- ours-one   task_create() one by one, type demo.echo: BaseTask row, TaskEvents, pending -> queued ->
             running -> completed. Done = all rows `completed`. HEADLINE (one create = one message,
             like `delay()` in a loop, and what POST /tasks/ does).
- ours-bulk  task_create_many() of all N at once (bulk insert, one producer, bulk `queued`).
- dcr-shipped  plain Celery + django-celery-results (result_extended, acks late, prefetch 1),
             CELERY_DB_REUSE_MAX unset: Django fixup closes the connection around every task.
- dcr-tuned  the same with CELERY_DB_REUSE_MAX=1000. Done = all TaskResult rows SUCCESS.
- floor      plain Celery, no result backend; the task INCRs a Redis counter. Done = counter = N.

Then an in-process profile: SQL statements and time per task on each side of our pipeline, and per
stored result in django-celery-results.

Env: BENCH_N (default 2000), BENCH_ROUNDS (default 2; the median rate is reported), BENCH_CONCURRENCY (2),
BENCH_PROFILE=0 to skip the profile.
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Worker, delete_brand_tasks, django_setup, machine, wait_until  # noqa: E402

N = int(os.environ.get("BENCH_N", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", "2"))
WARMUP = 50
QUEUE = "bench_pipeline"
POLL = 0.1
TIMEOUT = max(120.0, N / 10)
ALL_VARIANTS = ["ours-one", "ours-bulk", "dcr-shipped", "dcr-tuned", "floor"]
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
            def enqueue(n):
                for _ in range(n):
                    self.plain.noop.apply_async(queue=QUEUE)
            done = self.dcr_done
        else:
            self.redis.set(self.plain.COUNTER_KEY, 0)
            self.purge_queue()
            def enqueue(n):
                for _ in range(n):
                    self.plain.noop_count.apply_async(queue=QUEUE)
            done = self.floor_done

        own = worker is None
        if own:
            name = f"bench-{variant}-{uuid.uuid4().hex[:6]}"
            if variant.startswith("ours"):
                worker = Worker("megahub", name, QUEUE, CONCURRENCY)
            else:
                plain_variant = {"dcr-shipped": "shipped", "dcr-tuned": "tuned"}.get(variant, "floor")
                worker = Worker("bench.plain_app", name, QUEUE, CONCURRENCY, env={"BENCH_PLAIN_VARIANT": plain_variant})
            worker.start(self.ours_app if variant.startswith("ours") else self.plain.app)
        try:
            enqueue(WARMUP)
            wait_until(lambda: done(WARMUP), 60, POLL, f"{variant} warm-up")
            t0 = time.monotonic()
            enqueue(N)
            t_enq = time.monotonic() - t0
            _, t_end = wait_until(lambda: done(WARMUP + N), TIMEOUT, POLL, f"{variant} N={N}")
        finally:
            if own:
                worker.stop()
        seconds = t_end - t0
        return {"seconds": seconds, "enqueue_seconds": t_enq, "rate": N / seconds}


# --- in-process profile ---------------------------------------------------------------------------
class SqlTimer:
    """execute_wrapper that counts statements and sums their wall time."""

    def __init__(self):
        self.count, self.seconds, self.kinds = 0, 0.0, {}

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.count += 1
            kind = sql.lstrip().split(" ", 1)[0].upper()
            self.kinds[kind] = self.kinds.get(kind, 0) + 1


def measure(fn, n: int):
    from django.db import connection

    timer = SqlTimer()
    start = time.perf_counter()
    with connection.execute_wrapper(timer):
        for i in range(n):
            fn(i)
    total = time.perf_counter() - start
    return {"ms_per_task": 1000 * total / n, "sql_ms_per_task": 1000 * timer.seconds / n,
            "queries_per_task": timer.count / n, "kinds": {k: round(v / n, 2) for k, v in sorted(timer.kinds.items())}}


def profile(bench: Bench, n: int = 300) -> dict:
    """Per-task SQL and time of each side of our pipeline, and of a django-celery-results store."""
    import logging

    from celery.app.task import Context
    from django.db import connection

    from task_core import services
    from task_core.models import BaseTask

    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)  # eager apply() logs every task
    bench.ours_app.set_current()
    bench.reset_ours()
    out = {}
    out["ours enqueue: task_create (1 task)"] = measure(
        lambda i: services.task_create(brand=bench.brand, task_type="demo.echo", context_data={"message": "bench"},
                                       queue=QUEUE), n)
    bench.reset_ours()
    tasks_holder = {}

    def bulk(_i):
        tasks_holder["t"] = services.task_create_many(brand=bench.brand, specs=[
            {"task_type": "demo.echo", "context_data": {"message": "bench"}, "queue": QUEUE} for _ in range(n)])

    m = measure(bulk, 1)
    out[f"ours enqueue: task_create_many ({n} tasks), per task"] = {
        k: (v / n if isinstance(v, float) else {kk: round(vv / n, 3) for kk, vv in v.items()}) for k, v in m.items()}
    bench.purge_queue()
    ids = [str(t.task_id) for t in BaseTask.objects.filter(brand=bench.brand).order_by("pk")]
    celery_task = bench.ours_app.tasks["demo.echo"]
    out["ours worker: execute (SELECT, running, echo, completed)"] = measure(
        lambda i: celery_task.apply(args=[ids[i]], task_id=ids[i], hostname="profile@bench"), n)

    backend = bench.plain.app.backend

    def store(_i):
        tid = str(uuid.uuid4())
        req = Context(id=tid, task="bench.noop", args=[], kwargs={}, hostname="profile@bench", retries=0,
                      delivery_info={"exchange": "", "routing_key": QUEUE, "priority": 0, "redelivered": False})
        backend.mark_as_done(tid, None, request=req)

    out["dcr-tuned: store one result (result_extended)"] = measure(store, n)

    def store_reconnect(i):
        connection.close()  # what the Django fixup does around every task when CELERY_DB_REUSE_MAX is unset
        store(i)

    out["dcr-shipped: reconnect + store one result"] = measure(store_reconnect, n)
    bench.reset_ours()
    from django_celery_results.models import TaskResult

    TaskResult.objects.filter(task_name="bench.noop").delete()

    # cProfile of the worker-side execute, top functions by own time.
    import cProfile
    import io
    import pstats

    bench.ours_enqueue(n, bulk=True)
    bench.purge_queue()
    ids = [str(t.task_id) for t in BaseTask.objects.filter(brand=bench.brand).order_by("pk")]
    prof = cProfile.Profile()
    prof.enable()
    for tid in ids:
        celery_task.apply(args=[tid], task_id=tid, hostname="profile@bench")
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(12)
    bench.reset_ours()
    return {"table": out, "cprofile": buf.getvalue()}


def main():
    bench = Bench()
    print(f"bench_pipeline: N={N} no-op tasks per variant, {ROUNDS} round(s), worker -P prefork -c {CONCURRENCY}, "
          f"queue {QUEUE}; machine: {machine()}")
    print(f"  database {os.environ['DATABASE_URL']}, broker {os.environ['REDIS_URL']}")
    rates: dict[str, list[float]] = {v: [] for v in VARIANTS}
    enq: dict[str, list[float]] = {v: [] for v in VARIANTS}
    for rnd in range(ROUNDS):
        # Our two variants share one warmed worker; each plain variant gets its own (its env differs).
        ours_worker = Worker("megahub", f"bench-ours-{uuid.uuid4().hex[:6]}", QUEUE, CONCURRENCY)
        ours_worker.start(bench.ours_app)
        try:
            order = ["ours-one", "ours-bulk"] if rnd % 2 == 0 else ["ours-bulk", "ours-one"]
            for variant in (v for v in order if v in VARIANTS):
                r = bench.run(variant, ours_worker)
                rates[variant].append(r["rate"]), enq[variant].append(r["enqueue_seconds"])
                print(f"  round {rnd + 1} {variant:<12} {r['seconds']:7.2f} s  {r['rate']:8.1f} tasks/s"
                      f"  (enqueue {r['enqueue_seconds']:.2f} s, load {os.getloadavg()[0]:.1f})", flush=True)
        finally:
            ours_worker.stop()
        for variant in (v for v in VARIANTS if not v.startswith("ours")):
            r = bench.run(variant)
            rates[variant].append(r["rate"]), enq[variant].append(r["enqueue_seconds"])
            print(f"  round {rnd + 1} {variant:<12} {r['seconds']:7.2f} s  {r['rate']:8.1f} tasks/s"
                  f"  (enqueue {r['enqueue_seconds']:.2f} s, load {os.getloadavg()[0]:.1f})", flush=True)

    med = {v: statistics.median(rs) for v, rs in rates.items()}
    print()
    print(f"Median over {ROUNDS} round(s), N={N}, {os.cpu_count()} cores, worker -c {CONCURRENCY} prefork:")
    print(f"  {'variant':<12} {'tasks/s':>9} {'enqueue s':>10}   ours-one / it   ours-bulk / it")
    for v in VARIANTS:
        print(f"  {v:<12} {med[v]:9.1f} {statistics.median(enq[v]):10.2f}   {med['ours-one'] / med[v]:12.2f}x"
              f"   {med['ours-bulk'] / med[v]:13.2f}x")
    ratio = med["ours-one"] / med["dcr-tuned"]
    print(f"HEADLINE ours (task_create one by one) / dcr-tuned = {ratio:.2f}x "
          f"(target >= 1.00x: {'MET' if ratio >= 1.0 else 'NOT MET'}); "
          f"bulk / dcr-tuned = {med['ours-bulk'] / med['dcr-tuned']:.2f}x")

    if os.environ.get("BENCH_PROFILE", "1") != "0":
        print()
        print("In-process profile (one process, no broker consumer; SQL wall time measured around each statement):")
        prof = profile(bench)
        print(f"  {'step':<58} {'ms/task':>8} {'SQL ms':>7} {'queries':>8}  statements")
        for name, m in prof["table"].items():
            kinds = " ".join(f"{k}:{v:g}" for k, v in m["kinds"].items())
            print(f"  {name:<58} {m['ms_per_task']:8.3f} {m['sql_ms_per_task']:7.3f} "
                  f"{m['queries_per_task']:8.2f}  {kinds}")
        if os.environ.get("BENCH_CPROFILE") == "1":
            print(prof["cprofile"])


if __name__ == "__main__":
    main()
