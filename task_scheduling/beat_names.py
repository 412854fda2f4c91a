"""The names on the wire between our schedules and Beat: each schedule's django-celery-beat row is named
`megahub-schedule-<schedule id>` and fires FIRE_TASK; our Beat sends batches of due times to
FIRE_DUE_TASK. The one formatter and the one parser of row names are here."""

FIRE_TASK = "task_scheduling.fire"
# The batch firing task keeps its first name on the wire ("dispatch"): Beats and workers of different
# versions must agree on it while a deploy rolls out.
FIRE_DUE_TASK = "task_scheduling.dispatch"
BEAT_PREFIX = "megahub-schedule-"


def beat_name(schedule_id: int) -> str:
    """The name of a schedule's Beat row."""
    return f"{BEAT_PREFIX}{schedule_id}"


def schedule_id_of(name: str) -> int | None:
    """The schedule id a Beat row name carries, or None when it is not one of our names."""
    suffix = name[len(BEAT_PREFIX):] if name.startswith(BEAT_PREFIX) else ""
    return int(suffix) if suffix.isascii() and suffix.isdigit() else None
