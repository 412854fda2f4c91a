"""What-if: the project's Celery app with `state_machine.transition` made atomic (one commit per
transition instead of two: the guarded UPDATE and its TaskEvent INSERT in one transaction).

Only for measuring a suggested change to task_core (owned elsewhere) without editing it: the worker runs
`celery -A bench.what_if_app worker`, and bench_pipeline.py calls `patch()` in its own process for the
enqueue side. Nothing here is imported by the project.
"""

import functools
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "megahub.settings")

from megahub.celery import app  # noqa: E402,F401 - the worker's app

_originals: dict = {}


def patch() -> None:
    """Wrap transition() in transaction.atomic() wherever task_core imported it."""
    if _originals:
        return
    from django.db import transaction

    from task_core import pipeline, services, state_machine

    original = state_machine.transition

    @functools.wraps(original)
    def atomic_transition(*args, **kwargs):
        with transaction.atomic():
            return original(*args, **kwargs)

    for module in (state_machine, pipeline, services):
        _originals[module] = module.transition
        module.transition = atomic_transition


def unpatch() -> None:
    for module, original in _originals.items():
        module.transition = original
    _originals.clear()


def _on_worker_init(**kwargs):
    patch()  # in the main process, before the pool forks


from celery.signals import worker_init  # noqa: E402

worker_init.connect(_on_worker_init, weak=False)
