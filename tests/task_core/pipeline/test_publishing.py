"""Publishing: sending a created task, the outbox sweep and bulk dispatch, against the real broker (no worker
consumes the queue)."""

import threading

import pytest
from celery import current_app
from django.db import connection, transaction

from task_core import services
from task_core.models import BaseTask
from task_core.pipeline import publishing

from ...live import free_port, use_broker
from .probe import QUEUE, make_pending, waiting


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) are PostgreSQL's")
def test_two_sweeps_at_once_publish_each_pending_task_once(brand, outbox_type):
    make_pending(brand, outbox_type, 40)
    results, barrier = [], threading.Barrier(2)

    def sweep():
        barrier.wait()
        try:
            results.append(publishing.dispatch_pending())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(results) == 40, results
    assert waiting() == 40  # one message per task, not two
    assert BaseTask.objects.filter(brand=brand, status="queued").count() == 40


@pytest.mark.django_db
def test_a_bulk_dispatch_of_several_batches_sends_each_task_once_and_marks_it_queued(brand, outbox_type,
                                                                                      monkeypatch):
    monkeypatch.setattr(publishing, "PUBLISH_FIRST_BATCH", 2)
    monkeypatch.setattr(publishing, "PUBLISH_BATCH", 4)  # 11 tasks: batches of 2, 4, 4 and 1
    tasks = make_pending(brand, outbox_type, 11)
    assert publishing.dispatch_many(tasks) == 11
    assert waiting() == 11
    with current_app.connection_for_write() as conn:  # the messages are those of the 11 tasks, once each
        channel = conn.default_channel
        ids = [channel.basic_get(QUEUE, no_ack=True).headers["id"] for _ in range(11)]
    assert sorted(ids) == sorted(str(t.task_id) for t in tasks)
    assert BaseTask.objects.filter(brand=brand, status="queued").count() == 11
    assert BaseTask.objects.filter(brand=brand, events__to_status="queued").count() == 11


def _statements_of(fn):
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        result = fn()
    return result, statements


@pytest.mark.django_db(transaction=True)
def test_a_task_created_outside_a_transaction_is_written_queued_in_one_statement_then_sent(brand, operator,
                                                                                            outbox_type):
    (task, created), statements = _statements_of(
        lambda: services.task_create(brand=brand, created_by=operator, task_type=outbox_type))
    assert created and task.status == "queued"
    if connection.vendor == "postgresql":
        assert len([s for s in statements if not s.startswith("PREPARE")]) == 1, statements
    assert waiting() == 1
    task.refresh_from_db()
    assert task.status == "queued" and task.queued_at is not None and task.queued_at >= task.created_at
    assert [(e.from_status, e.to_status, e.actor_id) for e in task.events.all()] == [
        ("", "pending", operator.pk), ("pending", "queued", None)]
    assert "created (api)" in task.events.first().detail and QUEUE in task.events.last().detail
    with current_app.connection_for_write() as conn:
        assert conn.default_channel.basic_get(QUEUE, no_ack=True).headers["id"] == str(task.task_id)


@pytest.mark.redis  # the broker that goes down is Redis (the embedded folder broker has no server)
@pytest.mark.django_db(transaction=True)
def test_a_task_whose_message_the_broker_refuses_goes_back_to_pending_and_the_sweep_sends_it(
        brand, operator, outbox_type, settings):
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        task, created = services.task_create(brand=brand, created_by=operator, task_type=outbox_type)
    assert created and task.status == "pending"
    task.refresh_from_db()
    assert task.status == "pending" and task.queued_at is None
    assert [(e.from_status, e.to_status) for e in task.events.all()] == [
        ("", "pending"), ("pending", "queued"), ("queued", "pending")]
    assert "broker unavailable" in task.events.last().detail
    assert waiting() == 0

    settings.OUTBOX_GRACE_SECONDS = 0  # the broker is back
    assert publishing.dispatch_pending() == 1
    task.refresh_from_db()
    assert task.status == "queued" and waiting() == 1


@pytest.mark.django_db
def test_a_task_created_inside_a_transaction_stays_pending_until_it_commits(brand, outbox_type,
                                                                           django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        task, _ = services.task_create(brand=brand, task_type=outbox_type)
        assert task.status == "pending" and waiting() == 0
    assert len(callbacks) == 1
    task.refresh_from_db()
    assert task.status == "queued" and waiting() == 1
    assert [e.to_status for e in task.events.all()] == ["pending", "queued"]
