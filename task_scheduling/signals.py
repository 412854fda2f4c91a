"""Receivers of task_core's signals and of our own models' deletion, connected from
TaskSchedulingConfig.ready()."""

import logging

from task_core.choices import TaskOrigin

from .outcomes import schedule_record_outcome
from .services.schedules import schedules_delete_of_template

logger = logging.getLogger("megahub.scheduling")


def on_task_finished(sender, task, status, worker="", **kwargs):
    """task_core sends task_finished for every transition into completed, failed or cancelled, whatever
    the path (worker, API or admin cancel, the reaper giving up, a hard time limit)."""
    if task.origin != TaskOrigin.SCHEDULE:  # only schedule runs have a ScheduledRun: skip the query
        return
    try:
        schedule_record_outcome(task=task, status=status)
    except Exception:  # never break the caller's bookkeeping of the task itself
        logger.exception("Could not record the outcome of task %s on its schedule", task.pk)


def on_template_deleting(sender, instance, **kwargs):
    """pre_delete of ScheduleTemplate: a template deleted by any path (a queryset delete, the brand's
    cascade, not only `template_delete`) unregisters its schedules, so Beat never keeps firing them."""
    schedules_delete_of_template(template=instance)
