from django.apps import AppConfig


class TaskMonitoringConfig(AppConfig):
    name = "task_monitoring"
    verbose_name = "Task monitoring"

    def ready(self):
        from celery.signals import task_postrun, worker_ready, worker_shutdown

        from task_core import signals as core_signals
        from task_core.outcome_writes import register_outcome_write

        from . import filters, heartbeat, signals, tasks  # noqa: F401 - tasks: registers the Celery tasks
        from .admin import attach_metrics_inline
        from .api.serializers import register_task_fields

        core_signals.task_started.connect(signals.on_task_started, dispatch_uid="task_monitoring.started")
        core_signals.task_finished.connect(signals.on_task_finished, dispatch_uid="task_monitoring.finished")
        register_outcome_write(signals.OUTCOME_WRITE, signals.outcome_write)  # metrics commit with the outcome
        task_postrun.connect(signals.on_celery_task_postrun, dispatch_uid="task_monitoring.postrun")
        worker_ready.connect(heartbeat.on_worker_ready, dispatch_uid="task_monitoring.heartbeat_start")
        worker_shutdown.connect(heartbeat.on_worker_shutdown, dispatch_uid="task_monitoring.heartbeat_stop")
        filters.register_task_filters()
        register_task_fields()
        attach_metrics_inline()
