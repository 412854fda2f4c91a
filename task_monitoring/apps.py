from django.apps import AppConfig


class TaskMonitoringConfig(AppConfig):
    name = "task_monitoring"
