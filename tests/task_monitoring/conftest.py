import uuid

import pytest

from task_core import services
from task_core.models import BaseTask

from ..live import LiveWorker, wait_for


@pytest.fixture
def workers():
    """workers(**LiveWorker kwargs) starts a worker of this test (concurrency 1); all stop at teardown."""
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


def wait_finished(task, timeout: float = 60) -> BaseTask:
    """The task once finished and measured (its metrics are written just after its outcome)."""
    return wait_for(lambda: BaseTask.objects.filter(pk=task.pk, status__in=["completed", "failed", "cancelled"],
                                                    metrics__isnull=False).select_related("metrics").first(),
                    timeout=timeout, message=f"task {task.pk} to finish with metrics")
