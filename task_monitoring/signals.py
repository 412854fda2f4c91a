"""Receivers of task_core's signals and of Celery's, connected from TaskMonitoringConfig.ready().

Worker side, `task_started` starts a capture in the pool process. When the state machine writes the run's
outcome it asks `outcome_write` (registered through task_core.outcome_writes) for the metrics writes,
which end the capture and commit with the outcome in its one statement. `task_finished` then only forgets
the capture, or, when the outcome was written without them (SQLite, inside a transaction, after a
failure), records the figures itself. An outcome reached elsewhere (an API cancel, the hard time limit in
the worker's main process, the reaper) finds no capture in its process and records the wall time from the
task's timestamps.
"""

from . import capture, recording

# The name of monitoring's outcome write (task_core.outcome_writes; task_finished's `written`).
OUTCOME_WRITE = "task_monitoring"

# Runs being measured in this process, by Celery task id (one at a time in a prefork pool process), and
# the figures of those whose capture ended (the outcome is being written).
_running: dict[str, tuple[capture.RunCapture, object]] = {}
_ended: dict[str, tuple[capture.RunFigures, dict | None]] = {}


class _After:
    """A task as it will be once the outcome's `fields` are written (what build_outcome reads)."""

    __slots__ = ("_task", "_fields")

    def __init__(self, task, fields: dict):
        self._task, self._fields = task, fields

    def __getattr__(self, name):
        fields = self._fields
        return fields[name] if name in fields else getattr(self._task, name)


def _end_capture(task_id: str) -> tuple[capture.RunFigures | None, dict | None]:
    """The figures of this process's run of the task (ended on the first call), or (None, None)."""
    ended = _ended.get(task_id)
    if ended is None:
        started = _running.pop(task_id, None)
        if started is None:
            return None, None
        run, ctx = started
        ended = _ended[task_id] = (capture.end(run), getattr(ctx, "metrics", None))
    return ended


def on_task_started(sender, task, ctx=None, **kwargs):
    _running[str(task.task_id)] = (capture.begin(), ctx)


def outcome_write(task, status: str, fields: dict):
    """task_core.outcome_writes builder: the metrics writes of the outcome `fields` of `task`."""
    figures, custom = _end_capture(str(task.task_id))
    return recording.outcome_write(_After(task, fields), status, figures, custom)


def on_task_finished(sender, task, status, written=frozenset(), **kwargs):
    task_id = str(task.task_id)
    figures, custom = _end_capture(task_id)
    _ended.pop(task_id, None)
    if OUTCOME_WRITE in written:
        return  # committed with the outcome
    # A failure here is logged by the state machine (send_robust) and never undoes the outcome.
    recording.record_outcome(task, status, figures, custom)


def on_celery_task_postrun(task_id=None, **kwargs):
    """A run that ended without an outcome of its own (cancelled meanwhile) leaves no capture behind."""
    if task_id is not None:
        _running.pop(task_id, None)
        _ended.pop(task_id, None)
