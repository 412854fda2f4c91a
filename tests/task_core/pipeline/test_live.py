"""The execution pipeline end to end, with real Celery worker processes, the real broker and database.

Tests that need a worker of their own (killed, restarted, concurrency 1) give it a private queue so the
session worker never takes their tasks.
"""

import os
import re
import signal
import threading
import uuid
from datetime import timedelta

import psutil
import pytest
from celery import current_app
from django.conf import settings as dj_settings
from django.utils import timezone
from kombu import Connection

from task_core import services
from task_core.models import BaseTask
from task_core.pipeline.publishing import dispatch, dispatch_pending, publish, time_limits
from task_core.pipeline.recovery import reap_stuck

from ...live import LiveRedis, LiveWorker, child_env, use_broker, wait_for

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def workers():
    """workers(**LiveWorker kwargs) starts a worker of this test; all are killed at teardown."""
    started: list[LiveWorker] = []

    def start(**kwargs):
        kwargs.setdefault("concurrency", 1)
        worker = LiveWorker(**kwargs).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def queue():
    return f"q-{uuid.uuid4().hex[:8]}"


def submit(brand, user, task_type, queue, **options) -> BaseTask:
    task, _ = services.task_create(brand=brand, created_by=user, task_type=task_type, queue=queue, **options)
    return task


def reload(task) -> BaseTask:
    return BaseTask.objects.get(pk=task.pk)


def wait_status(pk, *statuses, timeout: float = 30) -> BaseTask:
    return wait_for(lambda: BaseTask.objects.filter(pk=pk, status__in=statuses).first(), timeout=timeout,
                    message=f"task {pk} to become {'/'.join(statuses)} "
                            f"(is {BaseTask.objects.filter(pk=pk).values_list('status', flat=True).first()})")


def wait_running_with_progress(pk, timeout: float = 30) -> BaseTask:
    return wait_for(lambda: BaseTask.objects.filter(pk=pk, status="running", progress_percentage__gt=0).first(),
                    timeout=timeout, message=f"task {pk} running with some progress")


def statuses(task) -> list[str]:
    return list(task.events.values_list("to_status", flat=True))


def history(task) -> list[str]:
    """Readable event list for assertion messages."""
    return [f"{e.from_status or '-'}->{e.to_status} [{e.worker}] {e.detail[:60]} @{e.created_at:%H:%M:%S.%f}"
            for e in task.events.all()]


def contains_in_order(seq: list[str], sub: list[str]) -> bool:
    """`sub` appears in `seq` as consecutive items."""
    return any(seq[i:i + len(sub)] == sub for i in range(len(seq) - len(sub) + 1))


# 1 ------------------------------------------------------------------------------------------------
def test_seo_analysis_completes_with_results_and_full_history(live_worker, operator_api):
    resp = operator_api.post("/tasks/", {"task_type": "seo_keyword_analysis",
                                         "context_data": {"keyword_ids": list(range(1, 61)), "analysis_depth": "full"}},
                             format="json")
    assert resp.status_code == 201, resp.json()
    pk = resp.json()["id"]
    wait_status(pk, "completed", "failed")

    body = operator_api.get(f"/tasks/{pk}/").json()
    assert body["status"] == "completed", body
    # ids 11, 22, 33, 44, 55 give an insight in a full analysis
    assert body["result_data"] == {"keywords_processed": 60, "insights_generated": 5, "analysis_depth": "full"}
    assert body["progress_percentage"] == 100
    assert body["worker"] == live_worker.hostname
    assert body["error_message"] == ""
    assert body["created_at"] <= body["queued_at"] <= body["started_at"] <= body["completed_at"], (
        body, history(BaseTask.objects.get(pk=pk)))

    events = operator_api.get(f"/tasks/{pk}/events/").json()["results"]
    assert [(e["from_status"], e["to_status"]) for e in events] == [
        ("", "pending"), ("pending", "queued"), ("queued", "running"), ("running", "completed")]
    assert events[2]["worker"] == live_worker.hostname


def test_history_reads_queued_even_when_the_worker_is_faster_than_the_dispatcher(workers, queue, brand, operator):
    workers(queues=queue)
    # A task published but not yet marked queued (the web is between publish and its UPDATE).
    task = services.task_build(brand=brand, created_by=operator, task_type="demo.echo", queue=queue,
                               context_data={"message": "fast"})
    task.save()
    publish(task)

    task = wait_status(task.pk, "completed", "failed")
    assert task.status == "completed"
    assert statuses(task) == ["queued", "running", "completed"]
    assert task.queued_at is not None and task.queued_at <= task.started_at
    assert dispatch(task) is True and reload(task).status == "completed"  # the late dispatcher: no-op


# 2 ------------------------------------------------------------------------------------------------
def test_failing_task_is_retried_with_growing_backoff_then_failed(live_worker, operator_api):
    resp = operator_api.post("/tasks/", {"task_type": "demo.fail", "context_data": {"message": "boom"}}, format="json")
    assert resp.status_code == 201, resp.json()
    pk = resp.json()["id"]
    task = wait_status(pk, "failed", "completed", timeout=40)

    body = operator_api.get(f"/tasks/{pk}/").json()
    assert body["status"] == "failed"
    assert body["max_retries"] == 2 and body["retry_count"] == 2
    assert body["error_message"] == "DemoFailure: boom"
    assert "Traceback" in body["error_traceback"] and "raise DemoFailure(message)" in body["error_traceback"]
    assert body["completed_at"] is not None

    assert statuses(task) == ["pending", "queued", "running", "retrying", "running", "retrying", "running",
                              "failed"], history(task)
    events = list(task.events.all())
    retries = [(i, e) for i, e in enumerate(events) if e.to_status == "retrying"]
    countdowns = [int(re.search(r" in (\d+)s after", e.detail).group(1)) for _, e in retries]
    assert countdowns == [1, 2], [e.detail for _, e in retries]
    for (i, event), countdown in zip(retries, countdowns, strict=True):
        # The retry message carries an ETA: the next attempt never starts before its countdown ran out.
        next_start = events[i + 1]
        assert next_start.to_status == "running"
        assert next_start.created_at - event.created_at >= timedelta(seconds=countdown * 0.9)


# 3 ------------------------------------------------------------------------------------------------
def test_task_over_its_timeout_fails_with_timed_out(live_worker, operator_api):
    resp = operator_api.post("/tasks/", {"task_type": "demo.sleep", "context_data": {"seconds": 20, "steps": 40},
                                         "timeout_seconds": 1}, format="json")
    assert resp.status_code == 201, resp.json()
    pk = resp.json()["id"]
    task = wait_status(pk, "failed", "completed", timeout=30)

    assert task.status == "failed"
    assert task.error_message.startswith("Timed out"), task.error_message
    assert "SoftTimeLimitExceeded" in task.error_traceback
    assert task.result_data is None
    assert task.progress_percentage < 100
    assert statuses(task) == ["pending", "queued", "running", "failed"], history(task)


def test_task_that_ignores_its_soft_limit_is_killed_at_the_hard_limit_and_failed(workers, queue, brand, operator):
    worker = workers(queues=queue, concurrency=1)
    task = submit(brand, operator, "demo.hang", queue, context_data={"seconds": 60}, timeout_seconds=1)
    soft, hard = time_limits(1)
    task = wait_status(task.pk, "failed", "completed", timeout=hard + 20)

    assert task.status == "failed", history(task)
    assert "hard time limit" in task.error_message, task.error_message
    assert task.progress_message == "ignored the soft time limit"  # it was still running after the soft limit
    assert task.completed_at - task.started_at >= timedelta(seconds=hard - 1)
    assert statuses(task) == ["pending", "queued", "running", "failed"], history(task)
    # The killed pool process was replaced: the worker takes the next task.
    after = submit(brand, operator, "demo.echo", queue)
    assert wait_status(after.pk, "completed", "failed").status == "completed"
    assert after.pk and worker.proc.poll() is None


# 4 ------------------------------------------------------------------------------------------------
def test_cancel_of_a_running_task_terminates_it_and_frees_the_worker(workers, queue, brand, operator, operator_api):
    worker = workers(queues=queue, concurrency=1)
    task = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 120, "steps": 240})
    wait_running_with_progress(task.pk)
    [child] = worker.child_pids()

    resp = operator_api.post(f"/tasks/{task.pk}/cancel/")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["status"] == "cancelled"

    # The single pool slot is free again: the next task runs to the end.
    nxt = submit(brand, operator, "demo.echo", queue, context_data={"message": "after cancel"})
    nxt = wait_status(nxt.pk, "completed", "failed", timeout=20)
    assert nxt.status == "completed" and nxt.result_data == {"echo": {"message": "after cancel"}}

    if dj_settings.BROKER_KIND.startswith("redis"):
        # revoke(terminate=True) really killed the child that ran the cancelled task. (The embedded folder
        # broker does not deliver the broadcast in time: there the run stops at its next progress step.)
        assert child not in worker.child_pids()
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE

    task = reload(task)
    assert task.status == "cancelled"
    assert task.progress_percentage < 100
    assert "completed" not in statuses(task)
    cancel_event = task.events.get(to_status="cancelled")
    assert cancel_event.from_status == "running" and cancel_event.actor_id == operator.pk


def test_cancel_of_a_queued_task_means_it_never_runs(workers, queue, brand, operator, operator_api):
    worker = workers(queues=queue, concurrency=1)
    busy = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 1.5, "steps": 3})
    waiting = submit(brand, operator, "demo.echo", queue, context_data={"message": "never"})
    wait_status(busy.pk, "running")
    assert reload(waiting).status == "queued"

    assert operator_api.post(f"/tasks/{waiting.pk}/cancel/").json()["status"] == "cancelled"
    wait_status(busy.pk, "completed", timeout=20)
    marker = submit(brand, operator, "demo.echo", queue, context_data={"message": "later"})
    wait_status(marker.pk, "completed", timeout=20)

    waiting = reload(waiting)
    assert waiting.status == "cancelled" and waiting.started_at is None and waiting.result_data is None
    assert "running" not in statuses(waiting)
    assert worker.proc.poll() is None


# 5 ------------------------------------------------------------------------------------------------
def test_pool_child_killed_mid_task_is_redelivered_and_completes(workers, queue, brand, operator):
    worker = workers(queues=queue, concurrency=1)
    task = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 3, "steps": 6})
    wait_running_with_progress(task.pk)
    [child] = worker.child_pids()

    os.kill(child, signal.SIGKILL)

    task = wait_status(task.pk, "completed", "failed", timeout=40)
    assert task.status == "completed", statuses(task)
    assert task.result_data == {"slept_seconds": 3}
    history = statuses(task)
    assert contains_in_order(history, ["running", "interrupted", "running", "completed"]), history
    interrupted = task.events.get(to_status="interrupted")
    assert "interrupted" in interrupted.detail and interrupted.worker == worker.hostname


@pytest.mark.parametrize("layout", ["same worker", "another worker"])
def test_a_duplicate_message_for_a_running_task_is_dropped_not_run_twice(workers, queue, brand, operator, layout):
    """E.g. the outbox sweep raced a slow dispatcher: the running task must not start a second time."""
    if layout == "same worker":
        holder = other = workers(queues=queue, concurrency=2)
    else:
        holder, other = workers(queues=queue), workers(queues=queue)
    task = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 3, "steps": 6})
    task = wait_running_with_progress(task.pk)
    running_on = next(w for w in {holder, other} if w.hostname == task.worker)

    publish(task)  # a second message for the same task
    wait_for(lambda: "duplicate message dropped" in "".join(w.log() for w in {holder, other}), timeout=20,
             message="the duplicate to be dropped")

    task = wait_status(task.pk, "completed", "failed", timeout=30)
    assert task.status == "completed" and task.worker == running_on.hostname
    assert statuses(task) == ["pending", "queued", "running", "completed"], history(task)


# 6 ------------------------------------------------------------------------------------------------
def test_worker_killed_and_restarted_under_its_name_finishes_its_orphans(workers, queue, brand, operator):
    name = f"restart-{uuid.uuid4().hex[:6]}"
    first = workers(name=name, queues=queue)
    task = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 2, "steps": 4})
    wait_running_with_progress(task.pk)

    first.kill()  # SIGKILL main process and pool child: nobody will report on this run
    assert reload(task).status == "running"

    second = workers(name=name, queues=queue)
    assert second.hostname == first.hostname
    task = wait_status(task.pk, "completed", "failed", timeout=40)
    assert task.status == "completed", statuses(task)
    history = statuses(task)
    assert contains_in_order(history, ["running", "interrupted", "queued", "running", "completed"]), history
    assert "restarted" in task.events.get(to_status="interrupted").detail


# 7 ------------------------------------------------------------------------------------------------
@pytest.mark.redis
def test_work_survives_a_broker_outage(workers, operator_api, settings):
    """Submitted while the broker is down: kept pending, dispatched by the outbox sweep when it is back.

    A running task whose worker died during the outage is not lost either: the reaper cannot re-send it,
    so it waits as pending for the same sweep.
    """
    broker = LiveRedis().start()
    try:
        with use_broker(broker.url):
            env = child_env(CELERY_BROKER_URL=broker.url)
            doomed = workers(queues="default", env=env)
            resp = operator_api.post("/tasks/", {"task_type": "demo.sleep", "context_data": {"seconds": 1, "steps": 4}},
                                     format="json")
            lost = resp.json()["id"]
            wait_running_with_progress(lost)
            doomed.kill()
            broker.stop()

            resp = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {"message": "kept"}},
                                     format="json")
            assert resp.status_code == 201, resp.json()
            assert resp.json()["status"] == "pending"
            kept = resp.json()["id"]

            stats = operator_api.get("/tasks/queue-stats/")
            assert stats.status_code == 503
            assert stats.json()["error_code"] == "BROKER_UNAVAILABLE" and stats.json()["detail"]

            settings.OUTBOX_GRACE_SECONDS = 0
            assert dispatch_pending() == 0  # a sweep while the broker is down sends nothing, loses nothing
            hard = time_limits(BaseTask.objects.get(pk=lost).timeout_seconds)[1]
            later = timezone.now() + timedelta(seconds=hard + settings.STUCK_TASK_GRACE_SECONDS + 1)
            assert reap_stuck(now=later) == {"requeued": 1, "failed": 0, "resent": 0}
            assert BaseTask.objects.get(pk=kept).status == "pending"
            assert BaseTask.objects.get(pk=lost).status == "pending"

            broker.start()  # same port, empty: as after a Redis restart without persistence
            workers(queues="default", env=env)
            wait_for(lambda: dispatch_pending() >= 2
                     or not BaseTask.objects.filter(pk__in=[kept, lost], status="pending").exists(),
                     timeout=30, interval=1, message="the outbox sweep to dispatch the kept tasks")
            kept = wait_status(kept, "completed", "failed", timeout=40)
            assert kept.status == "completed" and kept.result_data == {"echo": {"message": "kept"}}
            # Written queued, its message refused, back to pending; then sent by the sweep.
            assert statuses(kept)[:5] == ["pending", "queued", "pending", "queued", "running"], history(kept)
            assert "broker unavailable" in kept.events.filter(to_status="pending").last().detail
            lost = wait_status(lost, "completed", "failed", timeout=40)
            assert lost.status == "completed", statuses(lost)
            assert contains_in_order(statuses(lost), ["running", "interrupted", "pending", "queued", "running",
                                                      "completed"]), history(lost)
            assert operator_api.get("/tasks/queue-stats/").status_code == 200
    finally:
        broker.kill()
    # This process talks to the test broker again.
    with current_app.connection_for_write() as conn:
        expected = Connection(dj_settings.CELERY_BROKER_URL)
        assert (conn.hostname, conn.port, conn.virtual_host) == (expected.hostname, expected.port,
                                                                  expected.virtual_host)
        conn.ensure_connection(max_retries=1)


# 8 ------------------------------------------------------------------------------------------------
@pytest.mark.redis
def test_critical_task_overtakes_waiting_low_priority_tasks(workers, queue, brand, operator):
    workers(queues=queue, concurrency=1)
    busy = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 1.5, "steps": 3})
    wait_status(busy.pk, "running")
    lows = [submit(brand, operator, "demo.echo", queue, priority="low", context_data={"n": i}) for i in range(3)]
    critical = submit(brand, operator, "demo.echo", queue, priority="critical", context_data={"n": "critical"})

    for task in [busy, *lows, critical]:
        wait_status(task.pk, "completed", timeout=30)
    critical = reload(critical)
    lows = [reload(t) for t in lows]
    assert all(critical.started_at < low.started_at for low in lows), (
        critical.started_at, [low.started_at for low in lows])
    # Among equals, first in first out.
    assert [t.pk for t in sorted(lows, key=lambda t: t.started_at)] == [t.pk for t in lows]


# 9 ------------------------------------------------------------------------------------------------
def test_reaper_resends_a_running_task_whose_worker_is_gone(workers, queue, brand, operator, settings):
    lost = workers(queues=queue)
    task = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 2, "steps": 4})
    wait_running_with_progress(task.pk)
    lost.kill()

    assert reap_stuck() == {"requeued": 0, "failed": 0, "resent": 0}  # within its limits: left alone
    assert reload(task).status == "running"

    hard = time_limits(task.timeout_seconds)[1]
    later = timezone.now() + timedelta(seconds=hard + settings.STUCK_TASK_GRACE_SECONDS + 1)
    assert reap_stuck(now=later) == {"requeued": 1, "failed": 0, "resent": 0}
    assert reload(task).status == "queued"

    workers(queues=queue)  # another worker, another name
    task = wait_status(task.pk, "completed", "failed", timeout=40)
    assert task.status == "completed", statuses(task)
    assert contains_in_order(statuses(task), ["running", "interrupted", "queued", "running", "completed"])
    assert "worker lost" in task.events.get(to_status="interrupted").detail


# 10 -----------------------------------------------------------------------------------------------
def test_worker_publishes_task_events_for_flower(live_worker, operator_api):
    seen: dict[str, set[str]] = {}
    ready = threading.Event()

    class Receiver(current_app.events.Receiver):
        def on_consume_ready(self, *args, **kwargs):
            ready.set()
            return super().on_consume_ready(*args, **kwargs)

    def on_event(event):
        if event.get("uuid"):
            seen.setdefault(event["uuid"], set()).add(event["type"])

    with current_app.connection_for_read() as conn:
        receiver = Receiver(conn, handlers={"*": on_event}, app=current_app)
        thread = threading.Thread(target=lambda: receiver.capture(limit=None, timeout=30, wakeup=False), daemon=True)
        thread.start()
        try:
            assert ready.wait(10), "event receiver did not start"
            resp = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {"message": "flower"}},
                                     format="json")
            task_id = resp.json()["task_id"]
            wanted = {"task-received", "task-started", "task-succeeded"}
            wait_for(lambda: wanted <= seen.get(task_id, set()), timeout=20,
                     message=f"task events of {task_id} (seen: {seen.get(task_id)})")
        finally:
            receiver.should_stop = True
            thread.join(5)
    assert BaseTask.objects.get(task_id=task_id).status == "completed"


@pytest.mark.redis  # the filesystem broker has no event loop, so its worker buffers nothing
def test_the_worker_sends_its_task_events_in_batches(live_worker, brand):
    """megahub.worker_consumer: every task event still arrives, but several travel in one message rather
    than one broker round trip each (Celery alone publishes at every turn of the worker's loop)."""
    import base64
    import json

    import redis

    client = redis.Redis.from_url(dj_settings.CELERY_BROKER_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.psubscribe("*celeryev*")
    try:
        pubsub.get_message(timeout=1)
        tasks = services.task_create_many(brand=brand, specs=[{"task_type": "demo.echo"}] * 12)
        ids = {str(t.task_id) for t in tasks}
        messages, events = 0, []
        wanted = 3 * len(ids)  # received, started, succeeded

        def ours(payload):
            body = payload["body"]
            if payload["properties"].get("body_encoding") == "base64":
                body = base64.b64decode(body)
            batch = json.loads(body)
            return [e for e in (batch if isinstance(batch, list) else [batch]) if e.get("uuid") in ids]

        def collect():
            nonlocal messages
            message = pubsub.get_message(timeout=0.5)
            if message and message["type"] == "pmessage" and (found := ours(json.loads(message["data"]))):
                messages += 1
                events.extend(found)
            return len(events) >= wanted

        wait_for(collect, timeout=30, interval=0, message=f"the task events of 12 tasks (seen {len(events)})")
    finally:
        pubsub.close()
    assert {(e["uuid"], e["type"]) for e in events} == {
        (i, t) for i in ids for t in ("task-received", "task-started", "task-succeeded")}
    # Celery's own flushing sent 36 events in 32 messages here; a loaded machine spreads 12 tasks over
    # more flush intervals, hence the margin.
    assert messages <= len(events) / 2, f"{len(events)} events in {messages} messages"
    wait_for(lambda: BaseTask.objects.filter(pk__in=[t.pk for t in tasks], status="completed").count() == 12,
             timeout=30, message="the 12 tasks to complete")


def test_health_and_queue_stats_name_the_live_worker(live_worker, operator_api):
    health = operator_api.get("/tasks/system/health/")
    assert health.status_code == 200, health.json()
    assert health.json()["status"] == "ok"
    assert live_worker.hostname in health.json()["components"]["workers"]["online"]
    stats = operator_api.get("/tasks/queue-stats/").json()
    assert live_worker.hostname in stats["workers_online"]
