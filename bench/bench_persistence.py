"""Persistent jobs: what a checkpoint costs.

1. Checkpoint writes per second from one process (the fenced one-statement write of
   task_persistence.services.checkpoint_write), a small state like the iterable runner's.
2. A 2,000-item `demo.iterate` with no sleep on a real worker (concurrency 1), checkpointing every item
   against never (checkpoint_every=0), timed from the task's started_at to its completed_at. Each item
   does its own durable write (demo.iterate counts its executions in the database), as real per-item
   work writes its result.

Targets (issue 14): >= 1,000 checkpoints/s on PostgreSQL; checkpointing every item <= 2x no checkpoints.
Env: BENCH_CHECKPOINTS (default 3000), BENCH_ITEMS (2000), BENCH_ROUNDS (3; medians are reported).
"""

import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import Worker, delete_brand_tasks, django_setup, machine, wait_until  # noqa: E402

CHECKPOINTS = int(os.environ.get("BENCH_CHECKPOINTS", 3000))
ITEMS = int(os.environ.get("BENCH_ITEMS", 2000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
QUEUE = f"bench-persistence-{uuid.uuid4().hex[:6]}"


def checkpoint_rate(brand) -> float:
    from task_core.services import task_create
    from task_persistence import services

    task, _ = task_create(brand=brand, task_type="demo.iterate", queue="bench-nobody", context_data={"items": 1})
    run_id = uuid.uuid4().hex
    services.job_claim(task=task, run_id=run_id, worker="bench")
    start = time.perf_counter()
    for step in range(1, CHECKPOINTS + 1):
        services.checkpoint_write(task=task, run_id=run_id, step=step,
                                  state={"cursor": step - 1, "done": step, "acc": {}}, worker="bench")
    return CHECKPOINTS / (time.perf_counter() - start)


def iterate_seconds(brand, checkpoint_every: int) -> float:
    from task_core.models import BaseTask
    from task_core.services import task_create

    task, _ = task_create(brand=brand, task_type="demo.iterate", queue=QUEUE,
                          context_data={"items": ITEMS, "seconds_per_item": 0, "checkpoint_every": checkpoint_every})
    done, _ = wait_until(lambda: BaseTask.objects.filter(pk=task.pk, status__in=["completed", "failed"]).first(),
                      timeout=600, interval=0.05, what=f"demo.iterate of {ITEMS} items")
    if done.status != "completed" or done.result_data["items_done"] != ITEMS:
        raise RuntimeError(f"demo.iterate did not complete: {done.status} {done.error_message}")
    return (done.completed_at - done.started_at).total_seconds()


def main() -> int:
    django_setup()
    from django.db import connection

    from megahub.celery import app
    from task_core.models import Brand

    print(f"bench_persistence: {machine()}; database {connection.vendor}", flush=True)
    brand, _ = Brand.objects.get_or_create(slug="bench-persistence", defaults={"name": "Bench persistence"})
    delete_brand_tasks(brand)
    rates = [checkpoint_rate(brand) for _ in range(ROUNDS)]
    print(f"checkpoint writes, one process: {', '.join(f'{r:.0f}' for r in rates)} /s; "
          f"median {statistics.median(rates):.0f}/s (target >= 1000)", flush=True)

    worker = Worker("megahub", "persistence", QUEUE, 1).start(app)
    try:
        iterate_seconds(brand, 0)  # warm-up: the pool process's first task loads everything
        runs = {"every item": [], "none": []}
        for _ in range(ROUNDS):
            runs["none"].append(iterate_seconds(brand, 0))
            runs["every item"].append(iterate_seconds(brand, 1))
    finally:
        worker.stop()
    med = {name: statistics.median(values) for name, values in runs.items()}
    for name, values in runs.items():
        print(f"demo.iterate {ITEMS} items, checkpoint {name:<10}: {', '.join(f'{v:.2f}' for v in values)} s; "
              f"median {med[name]:.2f} s ({ITEMS / med[name]:.0f} items/s)", flush=True)
    print(f"checkpoint every item costs {med['every item'] / med['none']:.2f}x no checkpoints (target <= 2x)")
    delete_brand_tasks(brand)
    return 0


if __name__ == "__main__":
    sys.exit(main())
