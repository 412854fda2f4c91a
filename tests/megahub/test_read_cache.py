"""Cached reads (megahub/read_cache.py): served from the cache, renewed by every write that changes them
(API, worker, Beat's firing), per brand and per query, and computed when the cache is down."""

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from task_core.models import BaseTask
from task_scheduling.firing import schedules_fire
from task_scheduling.models import Schedule
from tests.live import free_port, wait_for

P = "/tasks/scheduled/periodic-tasks/"


@pytest.fixture(autouse=True)
def _cached_reads_on(settings):
    """On the embedded default they are off (a per-process cache); in this process memory serves too."""
    settings.READ_CACHE_SECONDS = 30
READS = ["/tasks/system/status/", "/tasks/system/task-info/", "/tasks/system/enums/", P, f"{P}summary/"]


def queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(path)
    assert resp.status_code == 200, resp.json()
    return resp.json(), len(ctx.captured_queries)


def template(client, name="nightly", **extra):
    body = {"name": name, "task_type": "demo.echo", "parameters": {"message": "x"}, "kind": "interval",
            "interval_seconds": 3600, "queue": "read-cache-tests-parked", **extra}
    resp = client.post(P, body, format="json")
    assert resp.status_code == 201, resp.json()
    return resp.json()


@pytest.mark.django_db
@pytest.mark.parametrize("path, live", [
    ("/tasks/system/status/", 1),  # the brand's counts by status, from the counters
    (P, 0),
    (f"{P}summary/", 2),  # the last 24 h of runs: by outcome and by their task's status
])
def test_a_second_read_is_served_from_the_cache(operator_api, path, live):
    """What task transitions change is read live (they pay no cache renewal); the rest comes from the cache."""
    template(operator_api)
    first, computed = queries(operator_api, path)
    second, served = queries(operator_api, path)
    first.pop("timestamp", None), second.pop("timestamp", None)
    assert second == first
    assert served <= 2 + live  # the user and the brand membership (authentication), and the live part
    if path != "/tasks/system/status/":  # the status's cached part is the workers' ping, not a query
        assert served < computed


@pytest.mark.django_db
@pytest.mark.redis  # reads the entries in Redis
@pytest.mark.parametrize("path, name", [("/tasks/system/task-info/", "system-task-info"),
                                        ("/tasks/system/enums/", "system-enums")])
def test_registry_reads_are_stored_per_brand(operator_api, api, outsider, other_brand, brand, path, name):
    """These compute without the database: what shows they are cached is their entry, one per brand."""
    client = cache._cache.get_client()
    assert operator_api.get(path).json() == api(outsider, other_brand).get(path).json()
    stored = sorted(key.decode().split(f"megahub:read:{name}:")[1].split(":")[0]
                    for key in client.scan_iter(f"*megahub:read:{name}:*"))
    assert stored == sorted([str(brand.pk), str(other_brand.pk)])


@pytest.mark.django_db
def test_api_writes_renew_the_reads_they_change(operator_api):
    status = operator_api.get("/tasks/system/status/").json()
    created = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {}}, format="json")
    assert created.status_code == 201
    after = operator_api.get("/tasks/system/status/").json()
    assert sum(after["counts_by_status"].values()) == sum(status["counts_by_status"].values()) + 1

    assert operator_api.get(P).json()["count"] == 0
    assert operator_api.get(f"{P}summary/").json()["periodic_tasks"]["total"] == 0
    t = template(operator_api)
    assert [r["name"] for r in operator_api.get(P).json()["results"]] == ["nightly"]
    assert operator_api.get(f"{P}summary/").json()["schedules_by_status"]["active"] == 1
    operator_api.post(f"{P}{t['id']}/pause/")
    assert operator_api.get(P).json()["results"][0]["is_active"] is False
    assert operator_api.get(f"{P}summary/").json()["schedules_by_status"]["paused"] == 1
    operator_api.post(f"{P}{t['id']}/resume/")
    operator_api.post(f"{P}{t['id']}/run-now/")
    assert operator_api.get(f"{P}summary/").json()["runs_24h"]["outcomes"]["manual"] == 1
    operator_api.delete(f"{P}{t['id']}/")
    assert operator_api.get(P).json()["count"] == 0


@pytest.mark.django_db
def test_each_query_and_each_brand_has_its_own_answer(operator_api, api, outsider, other_brand):
    template(operator_api, name="alpha")
    template(operator_api, name="beta", is_active=False)
    assert [r["name"] for r in operator_api.get(P, {"is_active": "true"}).json()["results"]] == ["alpha"]
    assert [r["name"] for r in operator_api.get(P, {"is_active": "false"}).json()["results"]] == ["beta"]
    assert [r["name"] for r in operator_api.get(P, {"ordering": "-name"}).json()["results"]] == ["beta", "alpha"]
    assert operator_api.get(P, {"bogus": 1}).status_code == 400  # refused, cached or not
    assert api(outsider, other_brand).get(P).json()["count"] == 0


@pytest.mark.django_db
def test_beats_firing_renews_the_summary(operator_api):
    t = template(operator_api)
    schedule = Schedule.objects.get(periodic_task_id=t["id"])
    assert operator_api.get(f"{P}summary/").json()["runs_24h"]["outcomes"]["fired"] == 0
    due = schedule.next_run_at
    Schedule.objects.filter(pk=schedule.pk).update(anchor_at=due - (due - schedule.anchor_at) * 2)
    schedule.refresh_from_db()
    due = schedule.periodic_task.timing(anchor=schedule.anchor_at).latest_at_or_before(due)
    assert schedules_fire(items=[(schedule.pk, due)])["fired"] == 1  # what Beat's dispatcher task runs
    assert operator_api.get(f"{P}summary/").json()["runs_24h"]["outcomes"]["fired"] == 1


@pytest.mark.django_db
@pytest.mark.redis  # a Redis cache on a closed port
def test_an_unreachable_cache_gives_uncached_answers_never_an_error(operator_api, settings):
    template(operator_api)
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    for path in READS:
        assert operator_api.get(path).status_code == 200, path
    created = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {}}, format="json")
    assert created.status_code == 201
    assert operator_api.get("/tasks/system/status/").json()["counts_by_status"]["pending"] == 1
    assert template(operator_api, name="second")["name"] == "second"
    assert operator_api.get(P).json()["count"] == 2


@pytest.mark.live
@pytest.mark.redis  # the worker's renewal reaches this process through a shared cache
@pytest.mark.django_db(transaction=True)
def test_a_task_finished_by_a_live_worker_shows_in_the_status_right_after(live_worker, operator_api):
    before = operator_api.get("/tasks/system/status/").json()["counts_by_status"]
    created = operator_api.post("/tasks/", {"task_type": "demo.sleep", "context_data": {"seconds": 0.5}},
                                format="json")
    assert created.status_code == 201

    def finished():
        status = operator_api.get("/tasks/system/status/").json()["counts_by_status"]  # keeps the cache warm
        return BaseTask.objects.filter(pk=created.json()["id"], status="completed").exists() and status

    wait_for(finished, message="the worker to complete the task")
    after = operator_api.get("/tasks/system/status/").json()["counts_by_status"]
    assert after["completed"] == before["completed"] + 1
    assert after["running"] == after["queued"] == after["pending"] == 0
