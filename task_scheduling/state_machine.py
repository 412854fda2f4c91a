"""The one state machine of Schedule. Every status change of a schedule goes through `schedules_set_status`.

```
active ──► paused ──► active
  │ ├────► error  ──► active
  │ └────► inactive (a one-off that fired: final)
```
The write is guarded like task_core's: the rows are locked in id order (as firing locks them, so the two
never deadlock), their status is read under the lock, and the UPDATE names the status it read. A
schedule whose status does not allow the move is left as it is and reported as not moved.
"""

from collections import defaultdict

from django.db import transaction
from django.utils import timezone

from . import beat_sync
from .choices import EventType
from .choices import ScheduleStatus as S
from .models import Schedule
from .services.events import event, events_add
from .services.next_runs import next_run, next_runs_save

TRANSITIONS: dict[str, frozenset[str]] = {
    S.ACTIVE: frozenset({S.PAUSED, S.ERROR, S.INACTIVE}),
    S.PAUSED: frozenset({S.ACTIVE}),
    S.ERROR: frozenset({S.ACTIVE}),
    S.INACTIVE: frozenset(),
}


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


@transaction.atomic(savepoint=False)
def schedules_set_status(*, schedules: list[Schedule], to_status: str, actor=None, detail: str = "",
                         event_type: str = EventType.STATUS_CHANGED) -> list[Schedule]:
    """Move the schedules the table allows to `to_status`: one locking read, one guarded UPDATE per status
    read, their Beat rows enabled or disabled in one update, one insert of events. Returns the schedules
    moved (updated in memory: status, and next_run_at on entering or leaving active)."""
    if not schedules:
        return []
    now = timezone.now()
    by_pk = {s.pk: s for s in schedules}
    seen = dict(Schedule.objects.select_for_update().filter(pk__in=sorted(by_pk)).order_by("pk")
                .values_list("pk", "status"))
    from_status: dict[str, list[int]] = defaultdict(list)
    for pk, status in seen.items():
        if can_transition(status, to_status):
            from_status[status].append(pk)
    values = {"status": to_status, "updated_at": now}
    if to_status != S.ACTIVE:
        values["next_run_at"] = None
    moved: list[Schedule] = []
    for status, ids in from_status.items():
        Schedule.objects.filter(pk__in=ids, status=status).update(**values)
        moved += [by_pk[pk] for pk in ids]
    if not moved:
        return []
    moved.sort(key=lambda s: s.pk)
    for s in moved:
        s.status = to_status
        if to_status != S.ACTIVE:
            s.next_run_at = None
    if to_status == S.ACTIVE:
        cache: dict = {}
        for s in moved:
            s.next_run_at = next_run(s.periodic_task, s, now, cache) if s.periodic_task else None
        next_runs_save(moved)
    beat_sync.beat_entries_set_enabled(schedule_ids=[s.pk for s in moved], enabled=to_status == S.ACTIVE)
    events_add([event(s, event_type, actor=actor, from_status=seen[s.pk], to_status=to_status, detail=detail)
                for s in moved])
    return moved
