from django.apps import AppConfig


class TaskPersistenceConfig(AppConfig):
    name = "task_persistence"
