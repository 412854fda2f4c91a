"""Leftovers: Beat rows of a brand whose schedule or template is gone, schedules whose template is gone."""

import json

from django_celery_beat.models import PeriodicTask as BeatEntry

from ..beat_names import FIRE_TASK, schedule_id_of
from ..models import Schedule


def orphans_find(*, brand) -> dict:
    """Beat entries of this brand whose schedule (or its template) is gone; schedules without template."""
    schedules = dict(Schedule.objects.filter(brand=brand).values_list("pk", "periodic_task_id"))
    entries = []
    for name, kwargs, enabled in BeatEntry.objects.filter(task=FIRE_TASK).values_list("name", "kwargs", "enabled"):
        try:
            data = json.loads(kwargs or "{}")
        except ValueError:
            data = None
        if not isinstance(data, dict) or data.get("brand_id") != brand.pk:
            continue  # a row edited by hand into something that is not ours to judge
        sid = data.get("schedule_id")
        if not isinstance(sid, int):
            sid = schedule_id_of(name)
        if sid not in schedules:
            entries.append({"name": name, "schedule_id": sid, "enabled": enabled, "reason": "schedule is gone"})
        elif schedules[sid] is None:
            entries.append({"name": name, "schedule_id": sid, "enabled": enabled, "reason": "template is gone"})
    orphan_schedules = [{"id": s.pk, "status": s.status, "beat_name": s.beat_name or "",
                         "reason": "template is gone"}
                        for s in Schedule.objects.filter(brand=brand).orphaned()]
    return {"beat_entries": entries, "schedules": orphan_schedules}
