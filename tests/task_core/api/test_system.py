"""queue-stats, system status/health/enums/task-info, with the real broker up and with it unreachable."""

import socket
from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone
from jsonschema import Draft202012Validator
from kombu import pools as kombu_pools

from task_core import services
from task_core.broker import queue_lengths
from task_core.models import BaseTask
from task_core.pipeline.publishing import dispatch_pending
from task_core.registry import _REGISTRY, task_type
from task_core.state_machine import TRANSITIONS, transition

pytestmark = pytest.mark.django_db

PROBE_QUEUE = "megahub_test_probe"  # no worker consumes it, so messages sent there stay countable


def assert_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:500])
    body = resp.json()
    assert {"detail", "error_code", "field_errors"} <= set(body), body
    assert body["error_code"] == code, body
    return body


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the with-block ends


def _reset_broker_pools(app):
    """Drop pooled connections so the next call connects to whatever the configuration now says."""
    kombu_pools.reset()  # closes and forgets kombu's global connection and producer pools
    app._pool = None
    amqp = app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


@pytest.fixture
def broker_down():
    """Point the Celery app at a closed port for reads and writes, and restore it afterwards.

    The read/write URLs are set rather than broker_url, because a CELERY_BROKER_URL in the environment
    takes precedence over broker_url in Celery's configuration.
    """
    app = current_app._get_current_object()
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    saved = {key: app.conf.get(key) for key in ("broker_read_url", "broker_write_url")}
    app.conf.update(broker_read_url=dead, broker_write_url=dead)
    _reset_broker_pools(app)
    try:
        yield dead
    finally:
        app.conf.update(saved)
        _reset_broker_pools(app)


@pytest.fixture
def probe_type():
    """A task type routed to a queue no worker consumes, unregistered afterwards."""
    name = "tests.probe"
    task_type(name, queue=PROBE_QUEUE, label="Probe")(lambda ctx: None)
    yield name
    _REGISTRY.pop(name, None)
    with current_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(PROBE_QUEUE)


# --- queue-stats -----------------------------------------------------------------------------------

def test_queue_stats_reports_queue_lengths_and_status_counts(
    operator_api, brand, operator, probe_type, django_capture_on_commit_callbacks
):
    before = operator_api.get("/tasks/queue-stats/")
    assert before.status_code == 200, before.json()
    assert before.json()["queues"][PROBE_QUEUE] == 0
    assert "default" in before.json()["queues"]

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            assert operator_api.post("/tasks/", {"task_type": probe_type}, format="json").status_code == 201
    failed, _ = services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    transition(failed, "failed")

    body = operator_api.get("/tasks/queue-stats/").json()
    assert body["queues"][PROBE_QUEUE] == 3
    assert body["counts_by_status"]["queued"] == 3
    assert body["counts_by_status"]["failed"] == 1
    assert set(body["counts_by_status"]) == {"pending", "queued", "running", "retrying", "completed", "failed",
                                             "cancelled", "interrupted"}
    assert isinstance(body["workers_online"], list)


@pytest.mark.redis  # the broker that goes down is Redis (the embedded folder broker has no server)
def test_queue_stats_is_503_broker_unavailable_when_the_broker_is_down(operator_api, broker_down):
    body = assert_error(operator_api.get("/tasks/queue-stats/"), 503, "BROKER_UNAVAILABLE")
    assert set(body) == {"detail", "error_code", "field_errors"}


@pytest.mark.redis  # the broker that goes down is Redis (the embedded folder broker has no server)
def test_queue_stats_recovers_when_the_broker_is_back(operator_api, broker_down):
    assert operator_api.get("/tasks/queue-stats/").status_code == 503
    app = current_app._get_current_object()
    app.conf.update(broker_read_url=None, broker_write_url=None)
    _reset_broker_pools(app)
    assert operator_api.get("/tasks/queue-stats/").status_code == 200


@pytest.mark.redis  # the broker that goes down is Redis (the embedded folder broker has no server)
def test_a_task_submitted_while_the_broker_is_down_is_kept_pending(
    operator_api, broker_down, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resp = operator_api.post("/tasks/", {"task_type": "demo.echo"}, format="json")
    assert resp.status_code == 201, resp.json()
    task = BaseTask.objects.get(pk=resp.json()["id"])
    assert task.status == "pending"  # kept for the outbox sweep, not lost and not marked queued
    status = operator_api.get("/tasks/system/status/").json()
    assert status["outbox_pending"] == 1


@pytest.mark.redis  # the broker that goes down is Redis (the embedded folder broker has no server)
def test_a_bulk_submission_while_the_broker_is_down_stays_pending_until_the_sweep_sends_it(
    brand, broker_down, probe_type, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        tasks = services.task_create_many(brand=brand, specs=[{"task_type": probe_type}] * 5)
    assert BaseTask.objects.filter(pk__in=[t.pk for t in tasks], status="pending").count() == 5
    assert not BaseTask.objects.filter(pk__in=[t.pk for t in tasks], events__to_status="queued").exists()

    app = current_app._get_current_object()
    app.conf.update(broker_read_url=None, broker_write_url=None)  # the broker is back
    _reset_broker_pools(app)
    BaseTask.objects.filter(pk__in=[t.pk for t in tasks]).update(created_at=timezone.now() - timedelta(minutes=1))
    assert dispatch_pending() == 5
    assert BaseTask.objects.filter(pk__in=[t.pk for t in tasks], status="queued").count() == 5
    assert queue_lengths([PROBE_QUEUE])[PROBE_QUEUE] == 5


# --- health and status -----------------------------------------------------------------------------

def test_health_is_200_with_components_when_database_and_broker_are_up(operator_api):
    resp = operator_api.get("/tasks/system/health/")
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    assert body["status"] in {"ok", "degraded"}  # degraded: no worker answers, work is still accepted
    assert body["components"]["database"]["status"] == "up"
    assert body["components"]["broker"]["status"] == "up"
    assert body["components"]["workers"]["status"] in {"up", "down"}


@pytest.mark.redis  # the broker that goes down is Redis (the embedded folder broker has no server)
def test_health_is_503_when_the_broker_is_down(operator_api, broker_down):
    resp = operator_api.get("/tasks/system/health/")
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable"
    assert body["components"]["broker"]["status"] == "down"
    assert body["components"]["database"]["status"] == "up"
    assert body["error_code"] == "SERVICE_UNAVAILABLE" and "broker" in body["detail"]
    assert body["field_errors"] == {}


def test_system_status(operator_api, brand, operator):
    services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    resp = operator_api.get("/tasks/system/status/")
    assert resp.status_code == 200
    body = resp.json()
    assert body["task_types"] >= 4
    assert body["database"] in {"postgresql", "sqlite"}
    assert body["counts_by_status"]["pending"] == 1
    assert body["outbox_pending"] == 1


# --- enums and task-info ---------------------------------------------------------------------------

def test_enums_list_statuses_priorities_origins_roles_and_transitions(api, viewer, brand):
    body = api(viewer, brand).get("/tasks/system/enums/").json()
    values = {key: [c["value"] for c in body[key]] for key in ("statuses", "priorities", "origins", "roles")}
    assert values["statuses"] == ["pending", "queued", "running", "retrying", "completed", "failed", "cancelled",
                                  "interrupted"]
    assert values["priorities"] == ["low", "normal", "high", "critical"]
    assert set(values["origins"]) == {"api", "admin", "schedule", "retry", "resume", "system"}
    assert values["roles"] == ["viewer", "operator", "admin"]
    assert all(c["label"] for c in body["statuses"])
    assert body["transitions"] == {src: sorted(dst) for src, dst in TRANSITIONS.items()}
    assert body["transitions"]["completed"] == []


SHIPPED = {"seo_keyword_analysis", "demo.sleep", "demo.echo", "demo.fail", "demo.hang"}


def test_task_info_describes_every_registered_type(api, viewer, brand):
    resp = api(viewer, brand).get("/tasks/system/task-info/")
    assert resp.status_code == 200
    types = {t["name"]: t for t in resp.json()}
    assert set(types) >= SHIPPED
    assert set(types) == set(_REGISTRY)
    for info in types.values():
        Draft202012Validator.check_schema(info["parameters_schema"])
        assert info["parameters_schema"]["type"] == "object"
        assert info["label"]
        assert isinstance(info["ui"], dict)
        assert set(info["defaults"]) >= {"queue", "priority", "max_retries", "retry_backoff_seconds",
                                         "retry_backoff_max_seconds", "timeout_seconds", "cost_per_hour_usd",
                                         "resumable"}


def test_task_info_of_the_seo_analysis_matches_its_declaration(api, viewer, brand):
    seo = next(t for t in api(viewer, brand).get("/tasks/system/task-info/").json()
               if t["name"] == "seo_keyword_analysis")
    schema = seo["parameters_schema"]
    assert schema["required"] == ["keyword_ids"]
    assert schema["properties"]["analysis_depth"]["default"] == "quick"
    assert schema["properties"]["analysis_depth"]["enum"] == ["quick", "full"]
    assert seo["ui"]["keyword_ids"]["widget"] == "id-list"
    assert seo["defaults"]["max_retries"] == 3
    assert seo["defaults"]["timeout_seconds"] == 1800
    assert seo["defaults"]["cost_per_hour_usd"] == 0.12
    fail = next(t for t in api(viewer, brand).get("/tasks/system/task-info/").json() if t["name"] == "demo.fail")
    assert fail["defaults"]["max_retries"] == 2
