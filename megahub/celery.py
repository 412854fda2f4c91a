"""The one Celery app of the project (worker: `celery -A megahub worker`, beat: `celery -A megahub beat`)."""

import os
from collections.abc import Mapping
from functools import cached_property

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")


class CelerySettings(Mapping):
    """The project's `CELERY_*` Django settings as a plain dict, read once, on Celery's first lookup.

    `config_from_object("django.conf:settings")` makes every lookup of a Celery setting try each of its
    names on Django's lazy settings object, where a missing name raises AttributeError: a fifth of the
    CPU of publishing a message (profiled; docs/benchmarks.md). Settings are fixed at startup, so a copy
    answers the same. A change at run time goes through `app.conf.update()`, as Celery documents.
    """

    @cached_property
    def _values(self) -> dict:
        from django.conf import settings

        return {name: getattr(settings, name) for name in dir(settings) if name.startswith("CELERY_")}

    def __getitem__(self, key):
        return self._values[key]

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)


app = Celery("megahub")
app.config_from_object(CelerySettings(), namespace="CELERY")
app.autodiscover_tasks()
