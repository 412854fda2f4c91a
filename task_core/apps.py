from django.apps import AppConfig


class TaskCoreConfig(AppConfig):
    name = "task_core"
    verbose_name = "Tasks"

    def ready(self):
        # Task types declare themselves with @task_type in each app's task_types module.
        from django.utils.module_loading import autodiscover_modules

        import megahub.checks  # noqa: F401 - registers the deploy checks

        autodiscover_modules("task_types")

        from celery.signals import task_postrun, worker_ready

        from .pipeline import on_task_postrun, on_worker_ready

        worker_ready.connect(on_worker_ready, dispatch_uid="megahub.recover_worker_orphans")
        task_postrun.connect(on_task_postrun, dispatch_uid="megahub.drop_broken_db_connections")
