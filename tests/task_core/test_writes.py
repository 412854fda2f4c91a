"""The state machine's two writers leave the same rows: `pg_writes` (one statement per write, the path on
PostgreSQL) and `orm_writes` (the ORM, the path elsewhere), driven by the same calls on the same database.

state_machine picks the writer by database vendor, so on PostgreSQL the ORM path is reached by calling its
writer directly, as state_machine would on SQLite. The timestamps a transition stamps are passed in, as
state_machine does, so the rows compare exactly; only the events' own creation times may differ.
"""

from datetime import UTC, datetime

import pytest
from django.db import connection

from task_core import orm_writes, pg_writes
from task_core.choices import TaskStatus as S
from task_core.models import BaseTask, TaskEvent

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_writes runs on PostgreSQL only"),
]

AT = datetime(2026, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)
# What the writers write; the key, the public id and the creation time differ from task to task.
COMPARED = [f.attname for f in BaseTask._meta.concrete_fields if f.attname not in ("id", "task_id", "created_at")]


def event(from_status, to_status, *, actor=None, worker="", detail=""):
    return {"from_status": from_status, "to_status": to_status, "actor": actor, "worker": worker, "detail": detail}


def lifecycle(writes, brand, user) -> tuple[list[int], list]:
    """A task's life (retry included) and a bulk submission, through one writer: (task pks, results)."""
    task = BaseTask(brand=brand, task_type="demo.echo", created_by=user, description="a task é\u00e9 ✓",
                    context_data={"message": "hi", "nested": {"n": [1, 2.5, None, True]}}, max_retries=2,
                    timeout_seconds=30, queue="default", priority="high", origin="api")
    pk = writes.insert_task(task, event("", S.PENDING, actor=user, detail="created (api)"))
    results = [
        writes.update_task(pk, S.PENDING, {"status": S.QUEUED, "queued_at": AT},
                           event(S.PENDING, S.QUEUED, detail="sent to queue default"), durable=False),
        writes.update_task(pk, S.QUEUED, {"status": S.RUNNING, "worker": "w1@host", "worker_pid": 4242,
                                          "started_at": AT},
                           event(S.QUEUED, S.RUNNING, worker="w1@host", detail="started"), durable=False),
        # A late message that saw `queued`: refused, nothing written.
        writes.update_task(pk, S.QUEUED, {"status": S.FAILED, "error_message": "late"},
                           event(S.QUEUED, S.FAILED, detail="late")),
        writes.update_task(pk, S.RUNNING, {"status": S.RETRYING, "worker": "w1@host", "retry_count": 1,
                                           "error_message": "ValueError: boom", "error_traceback": "Traceback…"},
                           event(S.RUNNING, S.RETRYING, worker="w1@host", detail="attempt 1/2 in 2s")),
        # A transition recorded without its event.
        writes.update_task(pk, S.RETRYING, {"status": S.RUNNING, "worker": "w2@host", "started_at": AT}, None),
        writes.update_task(pk, S.RUNNING, {"status": S.COMPLETED, "worker": "w2@host", "completed_at": AT,
                                           "result_data": {"ok": True, "items": [1, "a", None]},
                                           "progress_percentage": 100, "error_message": ""},
                           event(S.RUNNING, S.COMPLETED, actor=user, worker="w2@host", detail="completed")),
    ]
    bulk = [BaseTask(brand=brand, task_type="demo.echo", context_data={"i": i}, origin="system") for i in range(3)]
    writes.insert_many(bulk, event("", S.PENDING, actor=user, detail="created (system)"))
    pks = [pk, *(t.pk for t in bulk)]
    # The finished task is in the list too: the guard leaves it alone.
    moved = writes.update_many([*pks[1:], pk], S.PENDING, {"status": S.QUEUED, "queued_at": AT},
                               detail="sent to the broker")
    results.append([pks.index(p) for p in moved])
    return pks, results


def rows(pks) -> list[dict]:
    by_pk = {t.pk: t for t in BaseTask.objects.filter(pk__in=pks)}
    return [{name: getattr(by_pk[pk], name) for name in COMPARED} for pk in pks]


def events(pks) -> list[list[tuple]]:
    out = []
    for pk in pks:
        evs = list(TaskEvent.objects.filter(task_id=pk).order_by("id"))
        assert all(e.created_at is not None for e in evs)
        out.append([(e.from_status, e.to_status, e.actor_id, e.worker, e.detail) for e in evs])
    return out


def test_pg_writes_and_the_orm_path_leave_the_same_rows(brand, operator):
    pg_pks, pg_results = lifecycle(pg_writes, brand, operator)
    orm_pks, orm_results = lifecycle(orm_writes, brand, operator)

    assert pg_results == orm_results == [True, True, False, True, True, True, [1, 2, 3]]
    assert rows(pg_pks) == rows(orm_pks)
    assert events(pg_pks) == events(orm_pks)
    # And what was written is the life it described, not merely the same on both sides.
    first = rows(pg_pks)[0]
    assert (first["status"], first["worker"], first["worker_pid"], first["retry_count"]) == (S.COMPLETED, "w2@host",
                                                                                           4242, 1)
    assert first["result_data"] == {"ok": True, "items": [1, "a", None]} and first["completed_at"] == AT
    assert [e[:2] for e in events(pg_pks)[0]] == [("", S.PENDING), (S.PENDING, S.QUEUED), (S.QUEUED, S.RUNNING),
                                                  (S.RUNNING, S.RETRYING), (S.RUNNING, S.COMPLETED)]
    assert [e[:2] for e in events(pg_pks)[1]] == [("", S.PENDING), (S.PENDING, S.QUEUED)]


def test_both_writers_create_a_task_through_its_first_transitions_alike(brand, operator):
    """A creation already queued (task_create outside a transaction): the row, both events, one delta."""
    from task_core.status_counts import status_counts

    pks = []
    for writes in (pg_writes, orm_writes):
        task = BaseTask(brand=brand, task_type="demo.echo", created_by=operator, context_data={"n": 1},
                        status=S.QUEUED, queue="default", origin="api")
        pk = writes.insert_task(task, event("", S.PENDING, actor=operator, detail="created (api)"),
                                event(S.PENDING, S.QUEUED, detail="sent to queue default"), at_creation=("queued_at",))
        assert task.queued_at == task.created_at is not None
        stored = BaseTask.objects.get(pk=pk)
        assert (stored.status, stored.queued_at) == (S.QUEUED, stored.created_at)
        pks.append(pk)
    pg_row, orm_row = ({k: v for k, v in row.items() if k != "queued_at"} for row in rows(pks))  # its own time
    assert pg_row == orm_row
    assert events(pks[:1]) == events(pks[1:]) == [[("", S.PENDING, operator.pk, "", "created (api)"),
                                                   (S.PENDING, S.QUEUED, None, "", "sent to queue default")]]
    counts = status_counts(brand=brand)
    assert counts[S.QUEUED] == 2 and counts[S.PENDING] == 0
