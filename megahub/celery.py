"""The one Celery app of the project (worker: `celery -A megahub worker`, beat: `celery -A megahub beat`)."""

import os
from collections.abc import Mapping
from functools import cached_property

from celery import Celery
from celery.app.defaults import DEFAULTS
from django.conf import settings

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")


class CelerySettings(Mapping):
    """The project's `CELERY_*` Django settings as a plain dict, read once, on Celery's first lookup.

    `config_from_object("django.conf:settings", namespace="CELERY")` makes every lookup of a Celery
    setting try each of its names on Django's lazy settings object, where a missing name raises
    AttributeError: a sizeable share of the CPU of publishing a message (docs/benchmarks.md). Settings
    are fixed at startup, so a copy answers the same; a change at run time goes through
    `app.conf.update()`, as Celery documents. The keys are Celery's own names (CELERY_TASK_ACKS_LATE ->
    task_acks_late), which is what the namespace maps them to, so Celery takes none of them for the
    pre-4.0 names it warns about. A CELERY_ name that is not a Celery setting keeps its name:
    CELERY_DB_REUSE_MAX is read under that name by Celery's Django fixup.
    """

    @cached_property
    def _values(self) -> dict:
        values = {}
        for name in dir(settings):
            if name.startswith("CELERY_"):
                key = name.removeprefix("CELERY_").lower()
                values[key if key in DEFAULTS else name] = getattr(settings, name)
        return values

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)


app = Celery("megahub")
app.config_from_object(CelerySettings())
app.autodiscover_tasks()
