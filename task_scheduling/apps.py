from django.apps import AppConfig


class TaskSchedulingConfig(AppConfig):
    name = "task_scheduling"
    verbose_name = "Task scheduling"

    def ready(self):
        from django.db.models.signals import post_delete, pre_delete

        from task_core import signals as core_signals
        from task_core.dashboard import register_dashboard_section

        from . import beat_sync, demo, enums, filters, signals, tasks  # noqa: F401 - tasks: registers the Celery tasks
        from .api.serializers import ScheduleCountsSerializer
        from .models import Schedule, ScheduleTemplate
        from .selectors.summary import schedule_counts
        from .status_sync import RUN_STATUS

        core_signals.task_finished.connect(signals.on_task_finished, dispatch_uid="task_scheduling.finished")
        core_signals.demo_seeded.connect(demo.on_demo_seeded, dispatch_uid="task_scheduling.demo_seeded")
        post_delete.connect(beat_sync.on_schedule_deleted, sender=Schedule,
                            dispatch_uid="task_scheduling.schedule_deleted")
        pre_delete.connect(signals.on_template_deleting, sender=ScheduleTemplate,
                           dispatch_uid="task_scheduling.template_deleting")
        RUN_STATUS.connect(self)
        filters.register_task_filters()
        enums.register()
        register_dashboard_section("schedules", schedule_counts, serializer=ScheduleCountsSerializer(),
                                   gauge_help="Schedules by status.")
