"""Cached reads (megahub/read_cache.py): latency of a hit and of a miss, and of the same read with the
cache off, for every cached endpoint.

In-process `django.test.Client` (real URL conf, DRF, simplejwt token, `X-Brand-ID`) on PostgreSQL, with
Django's cache on Redis. A brand with BENCH_CACHE_TASKS finished tasks and BENCH_CACHE_TEMPLATES periodic
tasks (kind interval, registered in Beat; deleted at the end). A miss is forced by renewing the brand's
generation before the request (`invalidate`, as a write does); a hit repeats the request.
`system/status` pings the workers (up to 1 s when none answers): run it with a worker, or read its miss
figure as that wait.

Env: BENCH_CACHE_REQUESTS (default 100), BENCH_CACHE_TASKS (20000), BENCH_CACHE_TEMPLATES (50).
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import delete_brand_tasks, django_setup, machine, percentile  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_CACHE_REQUESTS", "100"))
TASKS = int(os.environ.get("BENCH_CACHE_TASKS", "20000"))
TEMPLATES = int(os.environ.get("BENCH_CACHE_TEMPLATES", "50"))
PATHS = ["/tasks/system/status/", "/tasks/system/task-info/", "/tasks/system/enums/",
         "/tasks/scheduled/periodic-tasks/", "/tasks/scheduled/periodic-tasks/summary/"]


def main():
    django_setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client
    from rest_framework_simplejwt.tokens import RefreshToken

    from megahub.read_cache import invalidate
    from task_core.models import BaseTask, Brand, BrandMembership
    from task_scheduling.models import ScheduleTemplate
    from task_scheduling.services.templates import template_create, template_delete

    user, _ = get_user_model().objects.get_or_create(username="bench-cache")
    brand, _ = Brand.objects.get_or_create(slug="bench-cache", defaults={"name": "Bench cache"})
    BrandMembership.objects.update_or_create(user=user, brand=brand, defaults={"role": "admin"})
    delete_brand_tasks(brand)
    for template in ScheduleTemplate.objects.filter(brand=brand):
        template_delete(template=template)
    statuses = ["completed"] * 8 + ["failed", "cancelled"]
    BaseTask.objects.bulk_create([BaseTask(brand=brand, task_type="demo.echo", status=statuses[i % 10])
                                  for i in range(TASKS)], batch_size=5000)
    for i in range(TEMPLATES):
        template_create(brand=brand, name=f"bench-{i:03d}", task_type="demo.echo", kind="interval",
                        interval_seconds=3600 + i, queue="bench_cache")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {RefreshToken.for_user(user).access_token}",
                    HTTP_X_BRAND_ID=str(brand.pk))

    def timed(path, before=None, n=REQUESTS):
        out = []
        for _ in range(n):
            if before:
                before()
            start = time.perf_counter()
            resp = client.get(path)
            out.append((time.perf_counter() - start) * 1000)
            if resp.status_code != 200:
                raise RuntimeError(f"{path} answered {resp.status_code}: {resp.content[:300]!r}")
        return out

    def fmt(values):
        return (f"p50 {percentile(values, 50):8.2f}  p95 {percentile(values, 95):8.2f}  "
                f"mean {statistics.mean(values):8.2f}")

    print(f"bench_cache: {REQUESTS} requests per figure, {TASKS} tasks, {TEMPLATES} periodic tasks; "
          f"cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}; machine: {machine()}")
    try:
        for path in PATHS:
            n = 10 if path.endswith("status/") else REQUESTS  # each miss may wait for the worker ping
            timed(path, n=5)  # warm-up
            miss = timed(path, before=lambda: invalidate([brand.pk]), n=n)
            hit = timed(path, n=REQUESTS)
            settings.READ_CACHE_SECONDS = 0
            off = timed(path, n=n)
            settings.READ_CACHE_SECONDS = int(os.environ.get("READ_CACHE_SECONDS", "30"))
            print(f"{path}")
            print(f"  miss ({n:>3}) ms: {fmt(miss)}")
            print(f"  hit  ({REQUESTS:>3}) ms: {fmt(hit)}")
            print(f"  off  ({n:>3}) ms: {fmt(off)}")
    finally:
        for template in ScheduleTemplate.objects.filter(brand=brand):
            template_delete(template=template)
        delete_brand_tasks(brand)


if __name__ == "__main__":
    main()
