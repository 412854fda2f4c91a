"""Staff admin of task_scheduling, one module per model (calendars, templates, schedules), and the guard
that keeps django-celery-beat's own admin off the rows of our schedules (beat_guard). Importing the modules
registers their admins."""

from . import beat_guard, calendars, schedules, templates  # noqa: F401 - registration
