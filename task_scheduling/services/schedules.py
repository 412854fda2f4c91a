"""Writes of schedules (registered instances of a template in Beat): register, edit, pause, resume,
delete, one by one or in bulk. Every write that changes what Beat must fire goes through beat_sync in the
same transaction, so the django-celery-beat rows never drift from our Schedules."""

from django.db import transaction
from django.utils import timezone

from megahub.api.exceptions import ApplicationError, Conflict, InvalidTransition
from megahub.iterables import chunked
from megahub.read_cache import invalidate

from .. import beat_sync
from ..choices import EventType, RunOutcome, ScheduleKind, ScheduleStatus
from ..models import Schedule, ScheduledRun, ScheduleTemplate
from ..state_machine import schedules_set_status
from ..validators import overrides_validate
from .events import event, events_add
from .next_runs import next_run


@transaction.atomic
def schedule_create(*, template: ScheduleTemplate, parameter_overrides: dict | None = None, label: str = "",
                    actor=None) -> Schedule:
    """Register a new, independent instance of the template in Beat. Overrides the template's task type
    refuses are a 409 DEFINITION_CONFLICT naming them."""
    if template.kind == ScheduleKind.MANUAL:
        raise InvalidTransition("A manual-only periodic task has no schedules; use run-now.")
    if not template.is_active:
        raise InvalidTransition("This periodic task is paused; resume it before adding schedules.")
    try:
        overrides = overrides_validate(template=template, overrides=parameter_overrides or {})
    except ApplicationError as exc:
        if exc.status_code != 400:
            raise
        # Any JSON object is valid overrides; the template's task type refusing these is a conflict with the
        # stored definition (a 409), as a PATCH's parameters are (templates.template_patch).
        raise Conflict(exc.detail, error_code="DEFINITION_CONFLICT", field_errors=exc.field_errors) from None
    if template.kind == ScheduleKind.DATE and template.run_at <= timezone.now():
        message = "The one-off date of this periodic task is in the past."
        raise InvalidTransition(message, field_errors={"run_at": [message]})
    now = timezone.now()
    schedule = Schedule.objects.create(
        brand=template.brand, periodic_task=template, label=label, status=ScheduleStatus.ACTIVE,
        parameter_overrides=overrides, snapshot=template.config(), anchor_at=now, created_by=actor)
    schedule.next_run_at = next_run(template, schedule, now)
    Schedule.objects.filter(pk=schedule.pk).update(next_run_at=schedule.next_run_at)
    beat_sync.beat_entry_upsert(schedule=schedule, template=template, after=now)
    events_add([event(schedule, EventType.REGISTERED, actor=actor, to_status=ScheduleStatus.ACTIVE,
                      detail=f"registered in Beat as {schedule.beat_name}")])
    return schedule


@transaction.atomic
def schedule_create_many(*, template: ScheduleTemplate, count: int, parameter_overrides: dict | None = None,
                         actor=None) -> list[Schedule]:
    """Register `count` schedules of one template with bulk inserts (imports, load tests)."""
    if template.kind == ScheduleKind.MANUAL or not template.is_active:
        raise InvalidTransition("Only an active, non-manual periodic task can have schedules.")
    overrides = overrides_validate(template=template, overrides=parameter_overrides or {})
    now = timezone.now()
    snapshot = template.config()
    first = template.timing(anchor=now).next_after(now)
    schedules = Schedule.objects.bulk_create(
        [Schedule(brand=template.brand, periodic_task=template, status=ScheduleStatus.ACTIVE,
                  parameter_overrides=overrides, snapshot=snapshot, anchor_at=now,
                  next_run_at=first, created_by=actor) for _ in range(count)], batch_size=1000)
    if not all(s.pk for s in schedules):  # backends without RETURNING on bulk insert
        schedules = list(Schedule.objects.filter(periodic_task=template, created_at__gte=now).order_by("pk"))
    beat_sync.beat_entries_create_many(schedules=schedules, template=template, after=now)
    events_add([event(s, EventType.REGISTERED, actor=actor, to_status=ScheduleStatus.ACTIVE,
                      detail="registered in Beat (bulk)") for s in schedules])
    return schedules


@transaction.atomic
def schedule_update(*, schedule: Schedule, actor=None, **fields) -> Schedule:
    """Edit a schedule's label or parameter overrides (validated against the template's task type)."""
    unknown = set(fields) - {"label", "parameter_overrides"}
    if unknown:
        raise ValueError(f"Unknown schedule fields: {sorted(unknown)}")
    if "parameter_overrides" in fields and schedule.periodic_task is not None:
        overrides_validate(template=schedule.periodic_task, overrides=fields["parameter_overrides"])
    for key, value in fields.items():
        setattr(schedule, key, value)
    schedule.save(update_fields=[*fields, "updated_at"])
    events_add([event(schedule, EventType.UPDATED, actor=actor, detail=f"edited: {', '.join(sorted(fields))}")])
    return schedule


@transaction.atomic
def schedule_pause(*, schedule: Schedule, actor=None, detail: str = "paused") -> Schedule:
    if schedule.status != ScheduleStatus.ACTIVE or not schedules_set_status(
            schedules=[schedule], to_status=ScheduleStatus.PAUSED, actor=actor, detail=detail):
        schedule.refresh_from_db(fields=["status"])
        raise InvalidTransition(f"Only an active schedule can be paused; this one is {schedule.status}.")
    schedule.refresh_from_db()
    return schedule


def resume_refusal(schedule: Schedule) -> str | None:
    """Why this schedule cannot be resumed, or None."""
    if schedule.status not in (ScheduleStatus.PAUSED, ScheduleStatus.ERROR):
        return f"Only a paused or failed schedule can be resumed; this one is {schedule.status}."
    template = schedule.periodic_task
    if template is None:
        return "The template of this schedule is gone; delete the schedule."
    if not template.is_active:
        return "Its periodic task is paused; resume the periodic task."
    if template.kind == ScheduleKind.DATE and template.run_at <= timezone.now():
        return "The one-off date has passed; nothing left to resume."
    return None


@transaction.atomic
def schedule_resume(*, schedule: Schedule, actor=None) -> Schedule:
    refusal = resume_refusal(schedule)
    if refusal:
        raise InvalidTransition(refusal)
    Schedule.objects.filter(pk=schedule.pk).update(consecutive_failures=0, error_message="")
    if not schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.ACTIVE, actor=actor,
                                detail="resumed"):
        schedule.refresh_from_db(fields=["status"])
        raise InvalidTransition(resume_refusal(schedule) or "This schedule changed meanwhile; try again.")
    schedule.refresh_from_db()
    return schedule


@transaction.atomic
def schedules_pause_many(*, schedules, actor=None) -> int:
    return len(schedules_set_status(schedules=[s for s in schedules if s.status == ScheduleStatus.ACTIVE],
                                    to_status=ScheduleStatus.PAUSED, actor=actor, detail="paused (bulk)"))


@transaction.atomic
def schedules_resume_many(*, schedules, actor=None) -> int:
    ok = [s for s in schedules if resume_refusal(s) is None]
    if ok:
        Schedule.objects.filter(pk__in=[s.pk for s in ok]).update(consecutive_failures=0, error_message="")
    return len(schedules_set_status(schedules=ok, to_status=ScheduleStatus.ACTIVE, actor=actor,
                                    detail="resumed (bulk)"))


def schedules_delete(*, schedule_ids: list[int], why: str) -> int:
    """Remove the Beat rows, close the runs still waiting as "deferred", delete the schedules. Returns
    the number of Beat rows removed."""
    removed = beat_sync.beat_entries_delete(schedule_ids=schedule_ids)
    for chunk in chunked(schedule_ids):
        ScheduledRun.objects.filter(schedule_id__in=chunk).deferred().update(
            outcome=RunOutcome.SKIPPED_OVERLAP, detail=f"deferred run dropped: {why}"[:255])
    with beat_sync.beat_rows_already_removed():
        Schedule.objects.filter(pk__in=schedule_ids).delete()
    return removed


@transaction.atomic
def schedule_delete(*, schedule: Schedule) -> None:
    """Unregister from Beat and delete; its runs keep their tasks, their schedule link set null."""
    schedules_delete(schedule_ids=[schedule.pk], why="its schedule was deleted")
    invalidate([schedule.brand_id])


def schedules_delete_of_template(*, template: ScheduleTemplate) -> dict:
    """Unregister and delete the schedules of a template that is being deleted."""
    schedule_ids = list(template.schedules.values_list("pk", flat=True))
    invalidate([template.brand_id])
    removed = schedules_delete(schedule_ids=schedule_ids, why="its periodic task was deleted") if schedule_ids else 0
    return {"schedules_removed": len(schedule_ids), "beat_entries_removed": removed}
