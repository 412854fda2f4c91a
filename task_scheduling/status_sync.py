"""A run's `task_state` equals its task's status: core's database triggers keep the copy
(task_core.status_copies). A run whose task is deleted keeps the last status it had.

Migration 0008 installs them on PostgreSQL; on SQLite they are installed after every `migrate` (apps.py
connects `on_pre_migrate` and `on_post_migrate`).
"""

from task_core.status_copies import StatusCopy

RUN_STATUS = StatusCopy(name="task_scheduling_run", table="task_scheduling_scheduledrun", column="task_state",
                        migration=("task_scheduling", "0008_run_task_status"))
