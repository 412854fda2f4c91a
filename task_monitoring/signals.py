"""Receivers of task_core's signals and of Celery's, connected from TaskMonitoringConfig.ready().

Worker side, `task_started` starts a capture in the pool process and `task_finished` (sent by the state
machine with the run's outcome) ends it and records the figures. An outcome reached elsewhere (an API
cancel, the hard time limit in the worker's main process, the reaper) finds no capture in its process
and records the wall time from the task's timestamps.
"""

from . import capture, recording

# Runs being measured in this process, by Celery task id (one at a time in a prefork pool process).
_running: dict[str, tuple[capture.RunCapture, object]] = {}


def on_task_started(sender, task, ctx=None, **kwargs):
    _running[str(task.task_id)] = (capture.begin(), ctx)


def on_task_finished(sender, task, status, **kwargs):
    started = _running.pop(str(task.task_id), None)
    figures, custom = None, None
    if started is not None:
        run, ctx = started
        figures = capture.end(run)
        custom = getattr(ctx, "metrics", None)
    # A failure here is logged by the state machine (send_robust) and never undoes the outcome.
    recording.record_outcome(task, status, figures, custom)


def on_celery_task_postrun(task_id=None, **kwargs):
    """A run that ended without an outcome of its own (cancelled meanwhile) leaves no capture behind."""
    if task_id is not None:
        _running.pop(task_id, None)
