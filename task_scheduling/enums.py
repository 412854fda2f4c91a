"""The scheduling group of /tasks/system/enums/, registered into core from TaskSchedulingConfig.ready()."""

from task_core.enums import register_enums

from .choices import EventType, MissedRunPolicy, OverlapPolicy, RunOutcome, ScheduleKind, ScheduleStatus
from .state_machine import TRANSITIONS


def register() -> None:
    register_enums("scheduling", {
        "schedule_statuses": ScheduleStatus,
        "schedule_transitions": {src: sorted(dst) for src, dst in TRANSITIONS.items()},
        "kinds": ScheduleKind,
        "overlap_policies": OverlapPolicy,
        "missed_run_policies": MissedRunPolicy,
        "run_outcomes": RunOutcome,
        "event_types": EventType,
    })
