"""Receivers of task_core's signals, connected from TaskSchedulingConfig.ready()."""

import logging

logger = logging.getLogger("megahub.scheduling")


def on_task_finished(sender, task, status, worker="", **kwargs):
    from .services import schedule_record_outcome

    try:
        schedule_record_outcome(task=task, status=status)
    except Exception:  # never break the worker's bookkeeping of the task itself
        logger.exception("Could not record the outcome of task %s on its schedule", task.pk)
