"""The state machine's writes through the ORM: the path on databases other than PostgreSQL (SQLite).

The same functions, arguments and rows as `pg_writes`, in several statements inside one transaction
(tests/task_core/test_writes.py runs both on the same database and compares the rows they leave).
Only `task_core.state_machine` calls these. `durable` is accepted for the same signature: every commit
here waits for the disk as the database is configured to.
"""

from collections import Counter

from django.db import transaction

from .models import BaseTask, TaskEvent, TaskStatusDelta


def insert_task(task: BaseTask, event: dict, *then: dict, at_creation: tuple[str, ...] = ()) -> int:
    """INSERT the task, its first event and the events `then` of the transitions it was created through
    (`task.status` is the last one's); returns the new primary key. `at_creation`: timestamp fields (e.g.
    queued_at) set to the creation time (created_at), on `task` too."""
    with transaction.atomic():
        task.save(force_insert=True)
        if at_creation:  # created_at is only known once saved (auto_now_add)
            for name in at_creation:
                setattr(task, name, task.created_at)
            BaseTask.objects.filter(pk=task.pk).update(**dict.fromkeys(at_creation, task.created_at))
        TaskEvent.objects.bulk_create([TaskEvent(task=task, **ev) for ev in (event, *then)])
        TaskStatusDelta.objects.create(brand_id=task.brand_id, to_status=task.status)
    return task.pk


def insert_many(tasks: list[BaseTask], event: dict) -> None:
    """Insert new tasks and one first event each (`event` without its task); sets each pk."""
    BaseTask.objects.bulk_create(tasks, batch_size=1000)
    TaskStatusDelta.objects.bulk_create([TaskStatusDelta(brand_id=brand_id, to_status=event["to_status"], n=n)
                                         for brand_id, n in Counter(t.brand_id for t in tasks).items()])
    if not all(t.pk for t in tasks):  # backends without RETURNING on bulk insert
        by_id = dict(BaseTask.objects.filter(task_id__in=[t.task_id for t in tasks]).values_list("task_id", "pk"))
        for t in tasks:
            t.pk = t.id = by_id[t.task_id]
    TaskEvent.objects.bulk_create([TaskEvent(task=t, **event) for t in tasks], batch_size=1000)


def update_task(pk: int, current: str, values: dict, event: dict | None, *, durable: bool = True) -> bool:
    """The guarded UPDATE (`WHERE status = current`) and its event; True if the row was in `current`."""
    with transaction.atomic():
        updated = BaseTask.objects.filter(pk=pk, status=current).update(**values)
        if updated and event is not None:
            TaskEvent.objects.create(task_id=pk, **event)
        if updated:
            TaskStatusDelta.objects.create(brand_id=BaseTask.objects.values_list("brand_id", flat=True).get(pk=pk),
                                           from_status=current, to_status=values["status"])
    return bool(updated)


def update_many(pks: list[int], current: str, values: dict, *, detail: str, durable: bool = True) -> list[int]:
    """The bulk guarded UPDATE: the tasks of `pks` still in `current` are locked in id order, updated and
    given one event each; returns their ids. `values` must include `status`."""
    with transaction.atomic():
        rows = list(BaseTask.objects.select_for_update().filter(pk__in=pks, status=current)
                    .order_by("pk").values_list("pk", "brand_id"))
        if not rows:
            return []
        moved = [pk for pk, _brand in rows]
        BaseTask.objects.filter(pk__in=moved).update(**values)
        TaskStatusDelta.objects.bulk_create([
            TaskStatusDelta(brand_id=brand_id, from_status=current, to_status=values["status"], n=n)
            for brand_id, n in Counter(brand for _pk, brand in rows).items()])
        TaskEvent.objects.bulk_create([TaskEvent(task_id=pk, from_status=current, to_status=values["status"],
                                                 detail=detail) for pk in moved])
    return moved
