"""What a task function receives: its task row, brand, progress and checkpoint reporting."""

import uuid

from .. import signals
from ..choices import TaskStatus
from ..models import BaseTask


class TaskCancelled(Exception):
    """Raised inside a running task when an operator cancelled it (cooperative cancellation)."""


class RunStopped(Exception):
    """Raised inside a running task whose run ended on purpose and already recorded its status (e.g.
    interrupted and re-queued at a worker's shutdown, or no longer holding its task): nothing to record."""


class TaskContext:
    """What a task function receives: its task row, brand, progress and checkpoint reporting."""

    def __init__(self, task: BaseTask, worker: str, run_id: str = ""):
        self.task = task
        self.worker = worker
        self.run_id = run_id or uuid.uuid4().hex  # this execution (see signals: fencing)
        self._resume_state = None
        self._resume_loaded = False
        self.metrics: dict[str, float] = {}  # reported with metric(); read by task_finished receivers

    @property
    def brand(self):
        """The task's brand (loaded on first use: most tasks never need it)."""
        return self.task.brand

    @property
    def resume_state(self):
        """The state saved by the last checkpoint of an interrupted run, or None on a fresh run."""
        if not self._resume_loaded:
            for _receiver, state in signals.task_resume_state.send(sender=BaseTask, task=self.task,
                                                                      run_id=self.run_id):
                if state is not None:
                    self._resume_state = state
            self._resume_loaded = True
        return self._resume_state

    def progress(self, percentage: float, message: str = "") -> None:
        """Report progress; raises TaskCancelled if the task was cancelled meanwhile."""
        pct = max(0, min(100, int(percentage)))
        updated = BaseTask.objects.filter(pk=self.task.pk, status=TaskStatus.RUNNING).update(
            progress_percentage=pct, progress_message=message[:255]
        )
        if not updated:
            raise TaskCancelled(f"Task {self.task.task_id} is no longer running.")
        self.task.progress_percentage, self.task.progress_message = pct, message[:255]

    def metric(self, name: str, value: float) -> None:
        """Report a custom numeric metric of this run (the last value of a name wins)."""
        if not isinstance(name, str) or not name or len(name) > 64:
            raise ValueError("A metric name is a string of 1 to 64 characters.")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError(f"Metric {name!r} must be a number, not {type(value).__name__}.")
        self.metrics[name] = value

    def checkpoint(self, step, state: dict, progress: float | None = None) -> None:
        """Save resumable state (kept by task_persistence) and report progress."""
        signals.task_checkpoint.send(sender=BaseTask, task=self.task, step=step, state=state, progress=progress,
                                     run_id=self.run_id)
        if progress is not None:
            self.progress(progress, f"checkpoint {step}")
