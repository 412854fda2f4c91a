"""Keeps django-celery-beat rows in step with our Schedules: one row per registered schedule, enabled
exactly while the schedule is active. Beat reads only these rows (see beat.py).

Bulk writes skip django-celery-beat's signals, so every bulk path ends with
`PeriodicTasks.update_changed()`, which makes Beat reload.
"""

import json
import threading
from contextlib import contextmanager
from datetime import datetime

from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTasks
from django_celery_beat.models import PeriodicTask as BeatEntry

from megahub.iterables import chunked
from megahub.read_cache import invalidate

from .beat_names import FIRE_TASK, beat_name
from .choices import ScheduleKind, ScheduleStatus
from .models import Schedule, ScheduleTemplate
from .timing import Timing, normalize_cron


def _shared_row(model, **lookup):
    """The oldest row with these values, created when none exists. django-celery-beat has no unique
    constraint on them and creates duplicates itself (its admin, concurrent saves), so `get_or_create`
    would raise MultipleObjectsReturned."""
    return model.objects.filter(**lookup).order_by("pk").first() or model.objects.create(**lookup)


def _schedule_fields(template: ScheduleTemplate) -> dict:
    """The interval/crontab/clocked of a template, as shared django-celery-beat rows."""
    fields = {"interval": None, "crontab": None, "clocked": None, "solar": None, "one_off": False}
    if template.kind == ScheduleKind.CRON:
        minute, hour, dom, month, dow = normalize_cron(template.cron_expression).split(" ")
        fields["crontab"] = _shared_row(CrontabSchedule, minute=minute, hour=hour, day_of_month=dom,
                                        month_of_year=month, day_of_week=dow, timezone=template.timezone)
    elif template.kind == ScheduleKind.INTERVAL:
        fields["interval"] = _shared_row(IntervalSchedule, every=template.interval_seconds,
                                         period=IntervalSchedule.SECONDS)
    elif template.kind == ScheduleKind.DATE:
        fields["clocked"] = _shared_row(ClockedSchedule, clocked_time=template.run_at)
        fields["one_off"] = True
    return fields


def beat_entry_values(schedule: Schedule, template: ScheduleTemplate, schedule_fields: dict) -> dict:
    return {
        "task": FIRE_TASK,
        "kwargs": json.dumps({"schedule_id": schedule.pk, "brand_id": schedule.brand_id}),
        "enabled": schedule.status == ScheduleStatus.ACTIVE,
        "start_time": schedule.anchor_at,
        "priority": 0,  # firing messages overtake ordinary work
        "description": f"{template.name} (brand {schedule.brand_id}, schedule {schedule.pk})",
        **schedule_fields,
    }


def beat_entry_upsert(*, schedule: Schedule, template: ScheduleTemplate, after: datetime | None = None) -> BeatEntry:
    """Create or update the row of one schedule. `after`: Beat computes the next fire after this instant
    (resume and registration pass now, so nothing that fell due before is fired)."""
    values = beat_entry_values(schedule, template, _schedule_fields(template))
    entry = BeatEntry.objects.filter(name=beat_name(schedule.pk)).first() or BeatEntry(name=beat_name(schedule.pk))
    for key, value in values.items():
        setattr(entry, key, value)
    if after is not None:
        entry.last_run_at = after
    entry.save()  # its own signal marks the schedule changed for Beat
    if schedule.beat_name != entry.name:
        schedule.beat_name = entry.name
        Schedule.objects.filter(pk=schedule.pk).update(beat_name=entry.name)
    return entry


def beat_entries_create_many(*, schedules: list[Schedule], template: ScheduleTemplate, fields: dict | None = None,
                             after: datetime | None = None) -> None:
    """Bulk registration (many schedules of one template)."""
    fields = fields or _schedule_fields(template)
    after = after or timezone.now()
    rows = [BeatEntry(name=beat_name(s.pk), last_run_at=after, **beat_entry_values(s, template, fields))
            for s in schedules]
    BeatEntry.objects.bulk_create(rows, batch_size=1000)
    for chunk in chunked(schedules):
        for s in chunk:
            s.beat_name = beat_name(s.pk)
        Schedule.objects.bulk_update(chunk, ["beat_name"])
    PeriodicTasks.update_changed()


def beat_entries_retime(*, schedules: list[Schedule], template: ScheduleTemplate, after: datetime) -> int:
    """The template's timing changed: point all its schedules' rows at the new crontab/interval/clocked in
    one UPDATE per 1000 rows (they share it), recreate any row that went missing, and make Beat reload.
    Beat computes the next fire after `after`, so nothing of the old timing fires late."""
    fields = _schedule_fields(template)
    values = {**fields, "last_run_at": after, "date_changed": timezone.now(),
              "task": FIRE_TASK}
    updated = 0
    missing: list[Schedule] = []
    for chunk in chunked(schedules):
        names = [beat_name(s.pk) for s in chunk]
        present = set(BeatEntry.objects.filter(name__in=names).values_list("name", flat=True))
        updated += BeatEntry.objects.filter(name__in=present).update(**values)
        missing += [s for s in chunk if beat_name(s.pk) not in present]
    if missing:
        beat_entries_create_many(schedules=missing, template=template, fields=fields, after=after)
    PeriodicTasks.update_changed()
    return updated + len(missing)


def beat_entries_set_enabled(*, schedule_ids: list[int], enabled: bool) -> int:
    """Enable (resume) or disable (pause) the rows of many schedules in one update."""
    names = [beat_name(pk) for pk in schedule_ids]
    values = {"enabled": enabled, "date_changed": timezone.now()}
    # Beat computes the next fire after last_run_at: on resume that is now, so runs that fell due
    # while paused are not fired.
    values["last_run_at"] = timezone.now() if enabled else None
    count = 0
    for chunk in chunked(names):
        count += BeatEntry.objects.filter(name__in=chunk).update(**values)
    PeriodicTasks.update_changed()
    return count


def beat_entries_delete(*, schedule_ids: list[int] | None = None, names: list[str] | None = None) -> int:
    """Delete rows in bulk. A raw delete: nothing references these rows, and django-celery-beat's
    per-row delete signal would bump the change marker once per row (4 queries each); one bump at the
    end does the same for Beat."""
    names = list(names or []) + [beat_name(pk) for pk in schedule_ids or []]
    count = 0
    for chunk in chunked(names):
        count += BeatEntry.objects.filter(name__in=chunk)._raw_delete(BeatEntry.objects.db)
    if count:
        PeriodicTasks.update_changed()
    return count


def beat_entries_mark_run(*, schedule_ids: list[int], due_at: datetime) -> None:
    """Record the due time a schedule fired at on its row (no signal: Beat needs no reload for this;
    a restarted Beat computes the next fire after it). Never moves backwards: firings of two due
    times may be processed out of order."""
    names = [beat_name(pk) for pk in schedule_ids]
    newer = Q(last_run_at__isnull=True) | Q(last_run_at__lt=due_at)
    for chunk in chunked(names):
        BeatEntry.objects.filter(newer, name__in=chunk).update(last_run_at=due_at)


# --- schedules deleted outside the services (brand cascade, queryset.delete(), the admin) ----------

_handled = threading.local()


@contextmanager
def beat_rows_already_removed():
    """Services that delete schedules remove their Beat rows in bulk first; inside this block the
    post_delete receiver does not look for them again (one query per schedule saved)."""
    _handled.active = getattr(_handled, "active", 0) + 1
    try:
        yield
    finally:
        _handled.active -= 1


def on_schedule_deleted(sender, instance: Schedule, **kwargs) -> None:
    """post_delete of Schedule: a schedule deleted by any other path takes its Beat row with it."""
    if getattr(_handled, "active", 0):
        return
    invalidate([instance.brand_id])
    beat_entries_delete(names=[instance.beat_name or beat_name(instance.pk)])


def timing_of_entry(entry: dict) -> Timing | None:
    """The Timing of a django-celery-beat row read with `.values()` (see beat.ENTRY_FIELDS; the crontab's
    timezone as text, `crontab_tz`)."""
    if entry.get("crontab__minute") is not None:
        cron = " ".join(str(entry[f"crontab__{f}"]) for f in
                        ("minute", "hour", "day_of_month", "month_of_year", "day_of_week"))
        return Timing(kind="cron", cron=cron, tz=str(entry.get("crontab_tz") or "UTC"))
    if entry.get("interval__every"):
        seconds = {"days": 86400, "hours": 3600, "minutes": 60, "seconds": 1, "microseconds": 1e-6}
        every = int(entry["interval__every"] * seconds.get(entry["interval__period"], 1))
        return Timing(kind="interval", every=max(every, 1), anchor=entry.get("start_time"))
    if entry.get("clocked__clocked_time") is not None:
        return Timing(kind="date", run_at=entry["clocked__clocked_time"])
    return None
