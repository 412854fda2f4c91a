"""API figures: `POST /tasks/` latency and the SQL query count of every core and system endpoint.

In-process: Django's test client (`django.test.Client`) calling the real URL conf, middleware, DRF
authentication with a real JWT (simplejwt access token) and `X-Brand-ID`, against PostgreSQL, with the
on-commit publish going to the real Redis broker. No network hop and no WSGI server: the figures are the
Django + DRF + ORM + broker cost of a request, not a load test.

To keep the broker clean, the `demo.echo` type is given the queue `bench_api` in this process only
(the registry entry is replaced in memory) and that queue is deleted at the end.

Env: BENCH_API_REQUESTS (default 300).
"""

import dataclasses
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import delete_brand_tasks, django_setup, machine, percentile  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "300"))
WARMUP = 20
QUEUE = "bench_api"


def main():
    django_setup()
    import logging

    import redis
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework_simplejwt.tokens import RefreshToken

    from task_core import registry
    from task_core.models import BaseTask, Brand, BrandMembership

    logging.getLogger("django.request").setLevel(logging.ERROR)  # the 404 probes below are expected
    registry._REGISTRY["demo.echo"] = dataclasses.replace(registry.get_task_type("demo.echo"), queue=QUEUE)
    r = redis.Redis.from_url(os.environ["REDIS_URL"])

    user, _ = get_user_model().objects.get_or_create(username="bench-api", defaults={"email": "bench@example.com"})
    brand, _ = Brand.objects.get_or_create(slug="bench-api", defaults={"name": "Bench API"})
    BrandMembership.objects.update_or_create(user=user, brand=brand, defaults={"role": "admin"})
    delete_brand_tasks(brand)
    token = str(RefreshToken.for_user(user).access_token)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_X_BRAND_ID=str(brand.pk))
    body = {"task_type": "demo.echo", "context_data": {"message": "bench"}, "priority": "normal"}

    def post_task():
        resp = client.post("/tasks/", body, content_type="application/json")
        if resp.status_code != 201:
            raise RuntimeError(f"POST /tasks/ answered {resp.status_code}: {resp.content[:300]!r}")
        return resp

    print(f"bench_api: in-process django.test.Client, real JWT; machine: {machine()}")
    try:
        for _ in range(WARMUP):
            post_task()
        latencies = []
        for _ in range(REQUESTS):
            start = time.perf_counter()
            post_task()
            latencies.append((time.perf_counter() - start) * 1000)
        print(f"POST /tasks/ (demo.echo, on-commit publish to Redis) over {REQUESTS} requests after {WARMUP} warm-up:")
        print(f"  p50 {percentile(latencies, 50):.2f} ms   p95 {percentile(latencies, 95):.2f} ms   "
              f"mean {statistics.mean(latencies):.2f} ms   max {max(latencies):.2f} ms   "
              f"=> {1000 / statistics.mean(latencies):.0f} requests/s in one thread")

        # --- SQL queries per endpoint ----------------------------------------------------------------
        task = BaseTask.objects.filter(brand=brand).order_by("-pk").first()
        to_cancel = post_task().json()
        to_cancel_id = to_cancel["id"]
        rows = []

        def count(label, method, path, data=None):
            with CaptureQueriesContext(connection) as ctx:
                if method == "GET":
                    resp = client.get(path)
                else:
                    resp = client.post(path, data or {}, content_type="application/json")
            rows.append((label, method, path, resp.status_code, len(ctx.captured_queries)))
            return resp

        tid = task.pk
        password = f"bench-{time.time_ns()}"
        user.set_password(password)
        user.save(update_fields=["password"])
        login = count("auth token (login)", "POST", "/auth/token/", {"username": user.username, "password": password})
        count("auth token refresh", "POST", "/auth/token/refresh/", {"refresh": login.json().get("refresh", "")})
        count("auth me", "GET", "/auth/me/")
        count("task list (page of 50)", "GET", "/tasks/")
        count("task list (page of 5)", "GET", "/tasks/?page_size=5")
        count("task list filtered", "GET", "/tasks/?status=queued&priority=normal&ordering=-created_at")
        count("task create", "POST", "/tasks/", body)
        client.defaults["HTTP_IDEMPOTENCY_KEY"] = f"bench-{time.time_ns()}"
        count("task create + Idempotency-Key", "POST", "/tasks/", body)
        count("task create, replay of key", "POST", "/tasks/", body)
        del client.defaults["HTTP_IDEMPOTENCY_KEY"]
        count("task detail", "GET", f"/tasks/{tid}/")
        count("task events", "GET", f"/tasks/{tid}/events/")
        count("task cancel", "POST", f"/tasks/{to_cancel_id}/cancel/")
        count("task retry", "POST", f"/tasks/{to_cancel_id}/retry/")
        count("queue stats", "GET", "/tasks/queue-stats/")
        for name in ("status", "health", "enums", "task-info", "dashboard", "orphans"):
            count(f"system {name}", "GET", f"/tasks/system/{name}/")
        for name in ("cleanup/orphans", "cleanup/executions"):
            resp = count(f"system {name}", "POST", f"/tasks/system/{name}/")
            if resp.status_code == 405:  # maybe a GET preview
                rows.pop()
                count(f"system {name}", "GET", f"/tasks/system/{name}/")
        count("not found (other id)", "GET", "/tasks/999999999/")

        print()
        print("SQL queries per request (django.test.Client, CaptureQueriesContext):")
        print(f"  {'endpoint':<32} {'method':<6} {'path':<58} {'status':>6} {'queries':>7}")
        for label, method, path, code, queries in rows:
            note = "  (not implemented yet)" if code == 404 and "system" in label else ""
            print(f"  {label:<32} {method:<6} {path:<58} {code:>6} {queries:>7}{note}")
    finally:
        r.delete(QUEUE, *(f"{QUEUE}:{p}" for p in range(1, 10)))
        delete_brand_tasks(brand)


if __name__ == "__main__":
    main()
