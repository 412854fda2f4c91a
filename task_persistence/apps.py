from django.apps import AppConfig


class TaskPersistenceConfig(AppConfig):
    name = "task_persistence"
    verbose_name = "Task persistence"

    def ready(self):
        from celery.signals import worker_process_init, worker_shutting_down

        from task_core import signals as core

        from . import shutdown, signals
        from .api.extensions import register_task_extensions
        from .status_sync import JOB_STATUS

        core.tasks_created.connect(signals.on_tasks_created, dispatch_uid="task_persistence.created")
        core.task_started.connect(signals.on_task_started, dispatch_uid="task_persistence.started")
        core.task_checkpoint.connect(signals.on_task_checkpoint, dispatch_uid="task_persistence.checkpoint")
        core.task_resume_state.connect(signals.on_task_resume_state, dispatch_uid="task_persistence.resume_state")
        core.task_interrupted.connect(signals.on_task_interrupted, dispatch_uid="task_persistence.interrupted")
        worker_process_init.connect(shutdown.on_worker_process_init, dispatch_uid="task_persistence.child_init")
        worker_shutting_down.connect(shutdown.on_worker_shutting_down, dispatch_uid="task_persistence.shutdown")
        JOB_STATUS.connect(self)
        register_task_extensions()
