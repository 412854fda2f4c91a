"""Removal of leftovers: Beat rows whose schedule or template is gone, schedules whose template is gone."""

from django.db import transaction

from megahub.read_cache import invalidate

from .. import beat_sync
from ..selectors.orphans import orphans_find
from .schedules import schedules_delete


@transaction.atomic
def orphans_cleanup(*, brand) -> dict:
    """Remove what `orphans_find` lists for the brand and report it."""
    found = orphans_find(brand=brand)
    invalidate([brand.pk])
    schedule_ids = [s["id"] for s in found["schedules"]]
    removed_entries = beat_sync.beat_entries_delete(names=[e["name"] for e in found["beat_entries"]])
    removed_entries += schedules_delete(schedule_ids=schedule_ids, why="its periodic task is gone")
    return {"beat_entries_removed": removed_entries, "schedules_removed": len(schedule_ids),
            "beat_entries": found["beat_entries"], "schedules": found["schedules"]}
