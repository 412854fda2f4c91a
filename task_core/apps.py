from celery.signals import task_postrun, worker_ready
from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules

import megahub.checks  # noqa: F401 - registers the deploy checks


class TaskCoreConfig(AppConfig):
    name = "task_core"
    verbose_name = "Tasks"

    def ready(self):
        # Imported once the app registry is ready: the pipeline imports the models.
        from .pipeline.recovery import on_worker_ready
        from .pipeline.worker import on_task_postrun, register_celery_tasks

        # Task types declare themselves with @task_type in each app's task_types module; each becomes a
        # Celery task of its name.
        autodiscover_modules("task_types")
        register_celery_tasks()

        worker_ready.connect(on_worker_ready, dispatch_uid="megahub.recover_worker_orphans")
        task_postrun.connect(on_task_postrun, dispatch_uid="megahub.drop_broken_db_connections")
