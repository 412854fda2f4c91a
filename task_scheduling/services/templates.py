"""Writes of schedule templates: create, edit (its schedules follow), pause, resume, run now, delete."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from megahub.api.exceptions import ApplicationError, Conflict, InvalidTransition
from megahub.read_cache import invalidate
from task_core.choices import TaskOrigin
from task_core.registry import UnknownTaskType, get_task_type
from task_core.services import task_create

from .. import beat_sync
from ..choices import EventType, RunOutcome, ScheduleKind, ScheduleStatus
from ..models import Schedule, ScheduledRun, ScheduleTemplate
from ..run_specs import renamed, task_spec
from ..state_machine import schedules_set_status
from ..timing import Timing
from ..validators import template_patch_validate, template_validate
from .events import event, events_add
from .next_runs import next_run, next_runs_save
from .schedules import schedule_create, schedules_delete_of_template

TEMPLATE_FIELDS = {
    "name", "description", "task_type", "parameters", "kind", "cron_expression", "interval_seconds", "run_at",
    "timezone", "calendar", "priority", "max_retries", "timeout_seconds", "queue", "overlap_policy",
    "missed_run_policy", "auto_pause_after", "is_active", "connection_id",
}
TIMING_FIELDS = {"kind", "cron_expression", "interval_seconds", "run_at", "timezone"}


def _refuse_unknown(fields: dict) -> None:
    unknown = set(fields) - TEMPLATE_FIELDS
    if unknown:
        raise ValueError(f"Unknown template fields: {sorted(unknown)}")


def default_name(*, brand, task_type: str, kind: str, cron_expression: str = "") -> str:
    """A readable name for a template created without one, unique in the brand: the task type's label and
    the cron expression ("Daily SEO report (0 9 * * 1-5)"), numbered from 2 when taken."""
    try:
        label = get_task_type(task_type).label
    except UnknownTaskType:
        label = task_type
    base = f"{label} ({cron_expression})" if kind == ScheduleKind.CRON and cron_expression else label
    base = base[:190]
    taken = set(ScheduleTemplate.objects.filter(brand=brand, name__startswith=base).values_list("name", flat=True))
    return next(name for name in (base, *(f"{base} #{n}" for n in range(2, len(taken) + 3))) if name not in taken)


@transaction.atomic
def template_create(*, brand, created_by=None, register: bool = True, **fields) -> ScheduleTemplate:
    """Create a template; unless register=False, an active cron/interval/date template also gets its first
    schedule registered in Beat right away. Without a name it gets `default_name`; without a timezone,
    the brand's."""
    _refuse_unknown(fields)
    fields.setdefault("timezone", brand.timezone)
    if not fields.get("name"):
        fields["name"] = default_name(brand=brand, task_type=fields.get("task_type", ""),
                                      kind=fields.get("kind", ScheduleKind.CRON),
                                      cron_expression=fields.get("cron_expression", ""))
    template = ScheduleTemplate(brand=brand, created_by=created_by, **fields)
    template_validate(template=template)
    template.save()
    invalidate([brand.pk])
    if register and template.is_active and template.kind != ScheduleKind.MANUAL:
        schedule_create(template=template, actor=created_by)
    return template


@transaction.atomic
def template_update(*, template: ScheduleTemplate, actor=None, **fields) -> ScheduleTemplate:
    """Edit a template. Its schedules follow: Beat rows are rewritten when the timing changes, and
    deactivating/activating the template pauses/resumes them. An active, non-manual template always ends
    with a live schedule when it is activated, turned from manual into timed, or given a new timing
    (e.g. a new date for a one-off that already ran)."""
    _refuse_unknown(fields)
    was_active, was_kind = template.is_active, template.kind
    changed = sorted(k for k, v in fields.items() if getattr(template, k) != v)
    timing_changed = bool(TIMING_FIELDS.intersection(changed))
    for key, value in fields.items():
        setattr(template, key, value)
    template_validate(template=template, require_future=timing_changed)
    live = list(template.schedules.exclude(status=ScheduleStatus.INACTIVE)
                .only("pk", "brand_id", "periodic_task_id", "status", "anchor_at", "next_run_at"))
    if template.kind == ScheduleKind.MANUAL and live:
        message = "Delete this template's schedules before making it manual-only."
        raise InvalidTransition(message, field_errors={"kind": [message]})
    template.save()
    invalidate([template.brand_id])
    for s in live:
        s.periodic_task = template
    now = timezone.now()
    if timing_changed and live:
        beat_sync.beat_entries_retime(schedules=live, template=template, after=now)
        cache: dict[Timing, datetime | None] = {}
        for s in live:
            s.next_run_at = next_run(template, s, now, cache) if s.status == ScheduleStatus.ACTIVE else None
        next_runs_save(live)
    edited = [k for k in changed if k != "is_active"]
    if edited:  # (de)activation alone is recorded below as each schedule's status change
        events_add([event(s, EventType.UPDATED, actor=actor, detail=f"template edited: {', '.join(edited)}")
                    for s in live])
    if was_active and not template.is_active:
        schedules_set_status(schedules=[s for s in live if s.status == ScheduleStatus.ACTIVE],
                             to_status=ScheduleStatus.PAUSED, actor=actor, detail="template deactivated")
    elif template.is_active and not was_active:
        schedules_set_status(schedules=[s for s in live if s.status == ScheduleStatus.PAUSED],
                             to_status=ScheduleStatus.ACTIVE, actor=actor, detail="template activated")
    became_timed = was_kind == ScheduleKind.MANUAL and template.kind != ScheduleKind.MANUAL
    if not live and (became_timed or timing_changed or (template.is_active and not was_active)):
        _register_if_runnable(template=template, actor=actor, now=now)
    return template


@transaction.atomic
def template_patch(*, template: ScheduleTemplate, actor=None, **fields) -> ScheduleTemplate:
    """Edit some fields of a template (PATCH). The fields given are first checked together (a 400, as the
    PATCH schema says: a kind with the timing field given beside it, a task type with the parameters given
    beside it). What they make with the stored fields is checked next: a definition that is invalid only
    because of what is stored (a cron expression cleared on a cron template, parameters the stored task
    type refuses, a kind whose timing field is not stored) is a 409 DEFINITION_CONFLICT naming the fields:
    the request is valid, the template's current state refuses it."""
    template_patch_validate(fields)
    try:
        return template_update(template=template, actor=actor, **fields)
    except ApplicationError as exc:
        if exc.status_code != 400:
            raise
        raise Conflict(f"With the stored definition, this edit makes an invalid periodic task: {exc.detail}",
                       error_code="DEFINITION_CONFLICT", field_errors=exc.field_errors) from None


def _register_if_runnable(*, template: ScheduleTemplate, actor, now: datetime) -> Schedule | None:
    """Give an active template without a live schedule its schedule, unless there is nothing left to run
    (manual, or a one-off whose date has passed)."""
    if not template.is_active or template.kind == ScheduleKind.MANUAL:
        return None
    if template.kind == ScheduleKind.DATE and template.run_at <= now:
        return None
    return schedule_create(template=template, actor=actor)


@transaction.atomic
def template_delete(*, template: ScheduleTemplate) -> dict:
    """Unregister all of its schedules and delete it; its runs stay, their links set null."""
    removed = schedules_delete_of_template(template=template)
    template.delete()
    invalidate([template.brand_id])
    return removed


@transaction.atomic
def template_pause(*, template: ScheduleTemplate, actor=None) -> ScheduleTemplate:
    if not template.is_active:
        raise InvalidTransition("This periodic task is already paused.")
    return template_update(template=template, actor=actor, is_active=False)


@transaction.atomic
def template_resume(*, template: ScheduleTemplate, actor=None) -> ScheduleTemplate:
    if template.is_active:
        raise InvalidTransition("This periodic task is not paused.")
    return template_update(template=template, actor=actor, is_active=True)


@transaction.atomic
def template_run_now(*, template: ScheduleTemplate, actor=None) -> ScheduledRun:
    """Create and enqueue one run immediately (origin "schedule"), outside any due time and overlap rule.
    Returns the run (its `task` is the new BaseTask)."""
    if not template.is_active:
        raise InvalidTransition("This periodic task is paused; resume it before running it.")
    # One transaction: the task is sent on commit, so its end (task_finished) always finds its run.
    with transaction.atomic():
        try:
            task, _ = task_create(brand=template.brand, created_by=actor, origin=TaskOrigin.SCHEDULE,
                                  **task_spec(template, {}))
        except ApplicationError as exc:
            raise renamed(exc, "parameters") from None
        run = ScheduledRun.objects.create(brand=template.brand, periodic_task=template, task=task,
                                          due_at=timezone.now(),
                                          outcome=RunOutcome.MANUAL,
                                          detail=f"run now by {getattr(actor, 'username', None) or 'system'}")
    invalidate([template.brand_id])
    return run
