"""The one Celery app of the project (worker: `celery -A megahub worker`, beat: `celery -A megahub beat`)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")

app = Celery("megahub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
