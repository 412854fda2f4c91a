"""Receivers of task_core's signals and of our own models' deletion, connected from
TaskSchedulingConfig.ready()."""

import logging

logger = logging.getLogger("megahub.scheduling")


def on_task_finished(sender, task, status, worker="", **kwargs):
    """task_core sends task_finished for every transition into completed, failed or cancelled, whatever
    the path (worker, API or admin cancel, the reaper giving up, a hard time limit)."""
    from task_core.models import TaskOrigin

    from .dispatch import schedule_record_outcome

    if task.origin != TaskOrigin.SCHEDULE:  # only schedule runs have a ScheduledRun: skip the query
        return

    try:
        schedule_record_outcome(task=task, status=status)
    except Exception:  # never break the caller's bookkeeping of the task itself
        logger.exception("Could not record the outcome of task %s on its schedule", task.pk)
