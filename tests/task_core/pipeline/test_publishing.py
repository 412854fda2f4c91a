"""Publishing: the outbox sweep and bulk dispatch, against the real broker (no worker consumes the queue)."""

import threading

import pytest
from celery import current_app
from django.db import connection

from task_core.models import BaseTask
from task_core.pipeline import publishing

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
