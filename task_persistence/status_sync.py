"""A job's `status` equals its task's: core's database triggers keep the copy (task_core.status_copies).

Migration 0002 adds the column and installs them on PostgreSQL; on SQLite they are installed after every
`migrate` (apps.py connects `on_pre_migrate` and `on_post_migrate`).
"""

from task_core.status_copies import StatusCopy

JOB_STATUS = StatusCopy(name="task_persistence_job", table="task_persistence_persistentjob", column="status",
                        migration=("task_persistence", "0002_persistentjob_status"))
