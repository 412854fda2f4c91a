"""The outbox sweep and the lost-message resend, against the real broker (no worker consumes the queue)."""

import threading
from datetime import timedelta

import pytest
from celery import current_app
from django.db import connection
from django.utils import timezone

from task_core import pipeline, services
from task_core.models import BaseTask
from task_core.registry import _REGISTRY, task_type

QUEUE = "megahub_test_outbox"


@pytest.fixture
def outbox_type():
    name = "tests.outbox"
    task_type(name, queue=QUEUE, label="Outbox probe")(lambda ctx: None)
    _purge()
    yield name
    _REGISTRY.pop(name, None)
    _purge()


def _purge():
    with current_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)


def _waiting() -> int:
    from task_core.broker import queue_lengths

    return queue_lengths([QUEUE])[QUEUE]


def _pending(brand, name, n):
    """n tasks left pending, as after a broker outage (created in bulk, never dispatched)."""
    tasks = [services.task_build(brand=brand, task_type=name) for _ in range(n)]
    BaseTask.objects.bulk_create(tasks)
    BaseTask.objects.filter(brand=brand).update(created_at=timezone.now() - timedelta(minutes=1))
    return tasks


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="row locks (SKIP LOCKED) are PostgreSQL's")
def test_two_sweeps_at_once_publish_each_pending_task_once(brand, outbox_type):
    _pending(brand, outbox_type, 40)
    results, barrier = [], threading.Barrier(2)

    def sweep():
        barrier.wait()
        try:
            results.append(pipeline.dispatch_pending())
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sum(results) == 40, results
    assert _waiting() == 40  # one message per task, not two
    assert BaseTask.objects.filter(brand=brand, status="queued").count() == 40


@pytest.mark.django_db
def test_a_bulk_dispatch_of_several_batches_sends_each_task_once_and_marks_it_queued(brand, outbox_type,
                                                                                      monkeypatch):
    monkeypatch.setattr(pipeline, "PUBLISH_FIRST_BATCH", 2)
    monkeypatch.setattr(pipeline, "PUBLISH_BATCH", 4)  # 11 tasks: batches of 2, 4, 4 and 1
    tasks = _pending(brand, outbox_type, 11)
    assert pipeline.dispatch_many(tasks) == 11
    assert _waiting() == 11
    with current_app.connection_for_write() as conn:  # the messages are those of the 11 tasks, once each
        channel = conn.default_channel
        ids = [channel.basic_get(QUEUE, no_ack=True).headers["id"] for _ in range(11)]
    assert sorted(ids) == sorted(str(t.task_id) for t in tasks)
    assert BaseTask.objects.filter(brand=brand, status="queued").count() == 11
    assert BaseTask.objects.filter(brand=brand, events__to_status="queued").count() == 11


@pytest.mark.django_db
def test_a_queued_task_whose_message_was_lost_is_sent_again_once(brand, operator, outbox_type,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        task, _ = services.task_create(brand=brand, created_by=operator, task_type=outbox_type)
    task.refresh_from_db()
    assert task.status == "queued" and _waiting() == 1
    later = timezone.now() + timedelta(seconds=pipeline.settings.QUEUED_STALE_SECONDS + 1)

    assert pipeline.resend_lost_messages(later) == 0  # its message is still waiting: nothing to do
    _purge()  # the broker lost it (e.g. Redis restarted without persistence)
    assert pipeline.resend_lost_messages(timezone.now()) == 0  # not stale yet
    assert pipeline.resend_lost_messages(later) == 1
    assert _waiting() == 1
    assert pipeline.resend_lost_messages(later) == 0  # the new message waits: not sent a third time
    note = task.events.order_by("-id").first()
    assert "message was lost; sent again" in note.detail


def test_results_are_stored_as_json_with_dates_and_decimals_as_text():
    import datetime
    import decimal
    import uuid

    day, uid = datetime.date(2026, 1, 2), uuid.UUID(int=1)
    assert pipeline._storable({"day": day, "amount": decimal.Decimal("1.50"), "id": uid}) == {
        "day": "2026-01-02", "amount": "1.50", "id": str(uid)}
    assert pipeline._storable(7) == 7 and pipeline._storable("done") == "done"
    assert pipeline._storable(("a", 1)) == {"value": ["a", 1]}
    with pytest.raises(TypeError, match="cannot be stored as JSON"):
        pipeline._storable({"handle": object()})
