from django.apps import AppConfig


class TaskSchedulingConfig(AppConfig):
    name = "task_scheduling"
    verbose_name = "Task scheduling"

    def ready(self):
        import django_filters

        from task_core import signals as core_signals
        from task_core.filters import register_task_filter

        from . import signals

        core_signals.task_finished.connect(signals.on_task_finished, dispatch_uid="task_scheduling.finished")
        register_task_filter("is_periodic", django_filters.BooleanFilter(
            field_name="scheduled_run", lookup_expr="isnull", exclude=True,
            help_text="true: only runs created by a schedule or run-now of a periodic task."))
        register_task_filter("periodic_task", django_filters.NumberFilter(
            field_name="scheduled_run__periodic_task", help_text="Only runs of this periodic task (id)."))
