"""What a run and its schedule record when the run's task ends (from task_core.signals.task_finished,
whatever path finished the task), and the release of a run the "queue" overlap policy held back."""

from django.db import transaction
from django.db.models import F

from megahub.api.exceptions import ApplicationError
from megahub.read_cache import invalidate
from task_core.choices import TaskOrigin, TaskStatus
from task_core.services import task_create

from .choices import EventType, RunOutcome, ScheduleStatus
from .models import Schedule, ScheduledRun
from .run_specs import task_spec
from .services.events import event, events_add
from .state_machine import schedules_set_status


def schedule_record_outcome(*, task, status: str) -> None:
    """Record a finished run (completed, failed or cancelled: by the worker, the API, the admin or the
    reaper; the run's task_state already follows it: status_sync) in its schedule's counts, auto-pause
    after N consecutive failures, and release a run deferred by the "queue" overlap policy."""
    if status not in TaskStatus.finished():
        return
    with transaction.atomic():  # the schedule's counts, events and status change commit together
        schedule_id = ScheduledRun.objects.filter(task_id=task.pk).values_list("schedule_id", flat=True).first()
        if schedule_id is None:
            return
        schedule = (Schedule.objects.select_for_update(of=("self",)).select_related("periodic_task")
                    .filter(pk=schedule_id).first())
        if schedule is None:
            return
        invalidate([schedule.brand_id])
        events = []
        if status == TaskStatus.COMPLETED:
            Schedule.objects.filter(pk=schedule.pk).update(success_count=F("success_count") + 1,
                                                           consecutive_failures=0)
        elif status == TaskStatus.CANCELLED:
            events.append(event(schedule, EventType.CANCELLED, task_id=task.task_id, detail="run cancelled"))
        elif status == TaskStatus.FAILED:
            schedule.consecutive_failures += 1
            Schedule.objects.filter(pk=schedule.pk).update(failure_count=F("failure_count") + 1,
                                                           consecutive_failures=schedule.consecutive_failures)
            events.append(event(schedule, EventType.FAILED, task_id=task.task_id,
                                detail=(task.error_message or "failed")[:500]))
        events_add(events)
        limit = schedule.periodic_task.auto_pause_after if schedule.periodic_task else 0
        if (status == TaskStatus.FAILED and limit and schedule.consecutive_failures >= limit
                and schedule.status == ScheduleStatus.ACTIVE):
            schedules_set_status(
                schedules=[schedule], to_status=ScheduleStatus.PAUSED, event_type=EventType.AUTO_PAUSED,
                detail=f"auto-paused after {schedule.consecutive_failures} consecutive failed runs")
    schedule_release_deferred(schedule_id=schedule.pk)


@transaction.atomic
def schedule_release_deferred(*, schedule_id: int):
    """Start the run the "queue" overlap policy held back, once nothing of the schedule is unfinished.
    A schedule that was paused, stopped or lost its template meanwhile drops it instead (resume never
    fires what fell due while paused). Returns the task started, if any."""
    schedule = (Schedule.objects.select_for_update(of=("self",)).select_related("periodic_task", "brand")
                .filter(pk=schedule_id).first())
    if schedule is None or ScheduledRun.objects.filter(schedule_id=schedule_id).blocking_overlap().exists():
        return None
    run = ScheduledRun.objects.filter(schedule_id=schedule_id).deferred().order_by("due_at").first()
    if run is None:
        return None
    template = schedule.periodic_task
    if schedule.status != ScheduleStatus.ACTIVE or template is None or not template.is_active:
        ScheduledRun.objects.filter(pk=run.pk).update(
            outcome=RunOutcome.SKIPPED_OVERLAP, detail=f"deferred run dropped: the schedule is {schedule.status}")
        events_add([event(schedule, EventType.SKIPPED_OVERLAP, due_at=run.due_at,
                          detail=f"deferred run dropped: the schedule is {schedule.status}")])
        return None
    try:
        task, _ = task_create(brand=schedule.brand, origin=TaskOrigin.SCHEDULE,
                              **task_spec(template, schedule.parameter_overrides))
    except ApplicationError as exc:
        detail = f"could not create the task: {exc.detail}"
        ScheduledRun.objects.filter(pk=run.pk).update(outcome=RunOutcome.ERROR, detail=detail[:255])
        Schedule.objects.filter(pk=schedule.pk).update(error_message=detail)
        schedules_set_status(schedules=[schedule], to_status=ScheduleStatus.ERROR, detail=detail)
        return None
    ScheduledRun.objects.filter(pk=run.pk).update(task=task, outcome=RunOutcome.FIRED,
                                                  detail="deferred run started after the previous one ended")
    Schedule.objects.filter(pk=schedule.pk).update(run_count=F("run_count") + 1)
    events_add([event(schedule, EventType.FIRED, due_at=run.due_at, task_id=task.task_id,
                      detail="deferred run started")])
    return task
