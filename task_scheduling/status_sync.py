"""A run's `task_state` equals its task's status: core's database triggers keep the copy
(task_core.status_copies). A run whose task is deleted keeps the last status it had.

Migration 0008 installs them on PostgreSQL; on SQLite they are installed after every `migrate` (apps.py
connects `on_pre_migrate` and `on_post_migrate`).
"""

from task_core.status_copies import StatusCopy

# Only a task of origin `schedule` has a run (the firing, run-now and a deferred run's release create them
# so): the status trigger skips every other task without a probe. PostgreSQL then refuses to change the type of
# `task_core_basetask.origin` while the trigger names it (task_core.status_copies).
RUN_STATUS = StatusCopy(name="task_scheduling_run", table="task_scheduling_scheduledrun", column="task_state",
                        migration=("task_scheduling", "0008_run_task_status"), only_tasks="NEW.origin = 'schedule'")
