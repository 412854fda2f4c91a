from task_core.models import BaseTask

from ..live import wait_for
from ..task_core.pipeline.test_live import queue, submit, workers  # noqa: F401 - shared fixtures and helper


def wait_finished(task, timeout: float = 60) -> BaseTask:
    """The task once finished and measured (its metrics are written just after its outcome)."""
    return wait_for(lambda: BaseTask.objects.filter(pk=task.pk, status__in=["completed", "failed", "cancelled"],
                                                    metrics__isnull=False).select_related("metrics").first(),
                    timeout=timeout, message=f"task {task.pk} to finish with metrics")
