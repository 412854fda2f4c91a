"""Tasks that went through the real state machine with chosen timings (no worker): the monitoring
receivers record them as they would a run that ended outside a pool process."""

from datetime import timedelta

from django.utils import timezone

from task_core import services, state_machine
from task_core.models import BaseTask


def finished_task(brand, task_type="demo.echo", *, wall_ms=100, wait_ms=10, status="completed", user=None,
                  ended=None, description="", error="", queue=None, context_data=None) -> BaseTask:
    ended = ended or timezone.now()
    started = ended - timedelta(milliseconds=wall_ms)
    queued = started - timedelta(milliseconds=wait_ms)
    options = {"queue": queue} if queue else {}
    task, _ = services.task_create(brand=brand, created_by=user, task_type=task_type, description=description,
                                   context_data=context_data, **options)
    assert state_machine.transition(task, "queued", queued_at=queued)
    assert state_machine.transition(task, "running", started_at=started, worker="w@test")
    assert state_machine.transition(task, status, completed_at=ended, error_message=error)
    return task
