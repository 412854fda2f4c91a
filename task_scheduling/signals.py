"""Receivers of task_core's signals, connected from TaskSchedulingConfig.ready()."""

import logging

logger = logging.getLogger("megahub.scheduling")


def on_task_finished(sender, task, status, worker="", **kwargs):
    from task_core.models import TaskOrigin

    from .services import schedule_record_outcome

    if task.origin != TaskOrigin.SCHEDULE:  # only schedule runs have a ScheduledRun: skip the query
        return

    try:
        schedule_record_outcome(task=task, status=status)
    except Exception:  # never break the worker's bookkeeping of the task itself
        logger.exception("Could not record the outcome of task %s on its schedule", task.pk)
