"""A task type on a queue of its own that no worker consumes, for the publishing and recovery tests."""

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from task_core import services
from task_core.broker import queue_lengths
from task_core.models import BaseTask
from task_core.registry import _REGISTRY, task_type

QUEUE = "megahub_test_outbox"


@pytest.fixture
def outbox_type():
    name = "tests.outbox"
    task_type(name, queue=QUEUE, label="Outbox probe")(lambda ctx: None)
    purge()
    yield name
    _REGISTRY.pop(name, None)
    purge()


def purge():
    with current_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)


def waiting() -> int:
    return queue_lengths([QUEUE])[QUEUE]


def make_pending(brand, name, n):
    """n tasks left pending, as after a broker outage (created in bulk, never dispatched)."""
    tasks = [services.task_build(brand=brand, task_type=name) for _ in range(n)]
    BaseTask.objects.bulk_create(tasks)
    BaseTask.objects.filter(brand=brand).update(created_at=timezone.now() - timedelta(minutes=1))
    return tasks
