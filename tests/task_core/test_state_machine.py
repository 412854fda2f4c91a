"""The task state machine: every legal and illegal transition, guarded updates, events and timestamps."""

from datetime import UTC

import pytest
from django.db import connection

from task_core.choices import TaskStatus
from task_core.models import BaseTask, TaskEvent
from task_core.state_machine import TRANSITIONS, can_transition, transition, transition_many

pytestmark = pytest.mark.django_db

STATUSES = list(TaskStatus.values)
# A legal walk from pending to each status.
PATHS = {
    "pending": (),
    "queued": ("queued",),
    "running": ("queued", "running"),
    "retrying": ("queued", "running", "retrying"),
    "interrupted": ("queued", "running", "interrupted"),
    "completed": ("queued", "running", "completed"),
    "failed": ("queued", "running", "failed"),
    "cancelled": ("queued", "cancelled"),
}
STAMPS = {"queued": "queued_at", "running": "started_at", "completed": "completed_at", "failed": "completed_at",
          "cancelled": "completed_at"}


def task_in(brand, status):
    task = BaseTask.objects.create(brand=brand, task_type="demo.echo")
    for step in PATHS[status]:
        assert transition(task, step)
    return BaseTask.objects.get(pk=task.pk)


def test_the_table_covers_every_status_and_finished_ones_are_final():
    assert set(TRANSITIONS) == set(STATUSES)
    for status in TaskStatus.finished():
        assert TRANSITIONS[status] == frozenset()
    for src, targets in TRANSITIONS.items():
        assert src not in targets, f"{src} -> {src} would record a no-op"
        assert targets <= set(STATUSES)


@pytest.mark.parametrize("src,dst", [(s, d) for s in STATUSES for d in STATUSES if d in TRANSITIONS[s]])
def test_a_legal_transition_is_written_with_its_event_and_timestamp(brand, src, dst):
    task = task_in(brand, src)
    events = task.events.count()

    assert can_transition(src, dst)
    assert transition(task, dst, detail="because", worker="w9@test") is True
    assert task.status == dst  # in memory too

    row = BaseTask.objects.get(pk=task.pk)
    assert row.status == dst and row.worker == "w9@test"
    if dst in STAMPS:
        assert getattr(row, STAMPS[dst]) is not None
    event = row.events.order_by("-id").first()
    assert row.events.count() == events + 1
    assert (event.from_status, event.to_status, event.detail, event.worker) == (src, dst, "because", "w9@test")


@pytest.mark.parametrize("src,dst", [(s, d) for s in STATUSES for d in STATUSES if d not in TRANSITIONS[s]])
def test_an_illegal_transition_is_refused_and_writes_nothing(brand, src, dst):
    task = task_in(brand, src)
    before = BaseTask.objects.filter(pk=task.pk).values().get()
    events = task.events.count()

    assert not can_transition(src, dst)
    assert transition(task, dst, result_data={"sneaky": True}) is False
    assert task.status == src
    assert BaseTask.objects.filter(pk=task.pk).values().get() == before
    assert task.events.count() == events


def test_extra_fields_are_written_in_the_same_update(brand):
    task = task_in(brand, "running")
    assert transition(task, "completed", result_data={"n": 3}, progress_percentage=100)
    row = BaseTask.objects.get(pk=task.pk)
    assert (row.result_data, row.progress_percentage) == ({"n": 3}, 100)


def test_a_given_timestamp_is_kept(brand):
    from datetime import datetime

    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    task = task_in(brand, "pending")
    assert transition(task, "queued", queued_at=at)
    assert BaseTask.objects.get(pk=task.pk).queued_at == at


def test_record_event_false_writes_no_event(brand):
    task = task_in(brand, "pending")
    assert transition(task, "queued", record_event=False)
    assert BaseTask.objects.get(pk=task.pk).status == "queued"
    assert not task.events.exists()


def test_a_stale_copy_does_not_move_a_task_that_finished_meanwhile(brand):
    """The worker's copy says running; an operator cancelled the task meanwhile: completing must not win."""
    stale = task_in(brand, "running")
    fresh = BaseTask.objects.get(pk=stale.pk)
    assert transition(fresh, "cancelled")

    assert transition(stale, "completed", result_data={"late": True}) is False
    row = BaseTask.objects.get(pk=stale.pk)
    assert row.status == "cancelled" and row.result_data is None
    assert not row.events.filter(to_status="completed").exists()
    assert stale.status == "cancelled"  # the copy learnt the truth


def test_a_refused_transition_leaves_the_copy_one_consistent_snapshot_of_the_row(brand):
    """POST /tasks/ marks its copy queued after publishing; when a fast worker already started (or finished)
    the task, the copy must show that run whole: status with its worker, times and progress."""
    stale = task_in(brand, "pending")
    fresh = BaseTask.objects.get(pk=stale.pk)
    assert transition(fresh, "queued") and transition(fresh, "running", worker="w1@host", worker_pid=42)
    assert transition(fresh, "completed", progress_percentage=100, result_data={"ok": True})

    assert transition(stale, "queued") is False
    assert (stale.status, stale.worker, stale.progress_percentage, stale.result_data) == (
        "completed", "w1@host", 100, {"ok": True})
    assert stale.started_at == fresh.started_at and stale.completed_at == fresh.completed_at


def test_a_stale_copy_moves_when_the_new_status_also_allows_it(brand):
    """Web still sees pending, the worker already marked it queued: running is legal from both."""
    stale = task_in(brand, "pending")
    assert transition(BaseTask.objects.get(pk=stale.pk), "queued")

    assert transition(stale, "running") is True
    event = BaseTask.objects.get(pk=stale.pk).events.order_by("-id").first()
    assert (event.from_status, event.to_status) == ("queued", "running")  # recorded from the real status


def test_two_cancels_of_the_same_task_record_one(brand):
    a = task_in(brand, "queued")
    b = BaseTask.objects.get(pk=a.pk)
    assert transition(a, "cancelled") is True
    assert transition(b, "cancelled") is False
    assert TaskEvent.objects.filter(task_id=a.pk, to_status="cancelled").count() == 1


def test_transition_many_moves_only_tasks_still_in_the_expected_status(brand):
    waiting = [task_in(brand, "pending") for _ in range(3)]
    moved_on = task_in(brand, "cancelled")
    pks = [t.pk for t in waiting] + [moved_on.pk]

    moved = transition_many(pks, "pending", "queued", detail="bulk", chunk=2)

    assert sorted(moved) == sorted(t.pk for t in waiting)
    assert set(BaseTask.objects.filter(pk__in=pks).values_list("status", flat=True)) == {"queued", "cancelled"}
    assert all(t is not None for t in BaseTask.objects.filter(status="queued").values_list("queued_at", flat=True))
    assert TaskEvent.objects.filter(to_status="queued", detail="bulk").count() == 3
    assert not TaskEvent.objects.filter(task_id=moved_on.pk, detail="bulk").exists()
    for task in waiting:  # one event each, from the status it was locked in
        assert [(e.from_status, e.to_status, e.detail) for e in TaskEvent.objects.filter(task_id=task.pk)] == [
            ("pending", "queued", "bulk")]


def test_transition_many_refuses_an_illegal_pair(brand):
    task = task_in(brand, "completed")
    assert transition_many([task.pk], "completed", "running") == []
    assert BaseTask.objects.get(pk=task.pk).status == "completed"


def test_a_failing_task_finished_receiver_is_logged_and_never_undoes_the_transition(brand, caplog):
    from task_core import signals

    calls = []

    def broken(sender, task, status, **kwargs):
        calls.append(status)
        raise RuntimeError("receiver bug")

    signals.task_finished.connect(broken, dispatch_uid="test-broken")
    try:
        task = task_in(brand, "running")
        assert transition(task, "completed")
    finally:
        signals.task_finished.disconnect(dispatch_uid="test-broken")
    assert calls == ["completed"]
    assert BaseTask.objects.get(pk=task.pk).status == "completed"
    assert any("receiver" in r.getMessage() and r.exc_info for r in caplog.records)


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "retrying"])
def test_every_finishing_transition_tells_the_other_apps_once(brand, status):
    from task_core import signals

    seen = []
    signals.task_finished.connect(lambda sender, task, status, **kw: seen.append((task.pk, status)),
                                  dispatch_uid="test-seen", weak=False)
    try:
        task = task_in(brand, "running")
        assert transition(task, status)
        assert not transition(task, status)  # a repeat is refused and says nothing
    finally:
        signals.task_finished.disconnect(dispatch_uid="test-seen")
    assert seen == [(task.pk, status)]


def test_create_writes_the_row_and_its_first_event_together(brand, operator):
    from task_core.state_machine import create

    task = create(BaseTask(brand=brand, task_type="demo.echo", context_data={"a": 1}), actor=operator,
                  detail="created (api)")
    stored = BaseTask.objects.get(pk=task.pk)
    assert stored.task_id == task.task_id and stored.context_data == {"a": 1} and stored.status == "pending"
    assert [(e.from_status, e.to_status, e.actor_id, e.detail) for e in stored.events.all()] == [
        ("", "pending", operator.pk, "created (api)")]


# Every column a creation writes, but those that differ between two tasks by nature.
COMPARED = [f.attname for f in BaseTask._meta.concrete_fields
            if f.attname not in ("id", "task_id", "created_at", "idempotency_key")]


def _twins(brand, operator, n):
    """n unsaved tasks with every kind of column set (JSON, foreign keys, nullable, text)."""
    first = BaseTask.objects.create(brand=brand, task_type="demo.echo")
    return [BaseTask(brand=brand, task_type="demo.echo", created_by=operator, retry_of=first, priority="high",
                     context_data={"message": "héllo", "nested": {"list": [1, 2.5, None, True]}},
                     description="line 1\nline\t2 \\ end", max_retries=4, timeout_seconds=99, queue="q1",
                     idempotency_key=f"key-{i}", origin="schedule") for i in range(n)]


def test_create_many_writes_the_same_rows_and_events_as_the_orm(brand, operator):
    """The bulk path (COPY on PostgreSQL) stores each column exactly as Django's ORM does."""
    from django.utils import timezone

    from task_core.state_machine import create_many

    full = _twins(brand, operator, 2)
    bare = [BaseTask(brand=brand, task_type="demo.echo", created_by=None, context_data={}, result_data=None)
            for _ in range(2)]
    before = timezone.now()
    pairs = [(full[0], full[1]), (bare[0], bare[1])]
    for orm_twin, _ in pairs:  # the reference: Model.save() and the ORM's own INSERT
        orm_twin.save(force_insert=True)
        TaskEvent.objects.create(task=orm_twin, from_status="", to_status="pending", actor=operator,
                                 detail="created (schedule)")
    copied = [twin for _, twin in pairs]
    assert create_many(copied, actor=operator, detail="created (schedule)") == copied
    assert all(t.pk for t in copied)

    def columns(task):
        return {name: getattr(task, name) for name in COMPARED}

    for orm_twin, twin in pairs:
        expected, got = BaseTask.objects.get(pk=orm_twin.pk), BaseTask.objects.get(pk=twin.pk)
        assert columns(got) == columns(expected) and got.task_id == twin.task_id
        assert got.idempotency_key == twin.idempotency_key and got.created_at >= before
        assert [(e.from_status, e.to_status, e.actor_id, e.worker, e.detail) for e in got.events.all()] == [
            ("", "pending", operator.pk, "", "created (schedule)")]
    # None in a JSON column is SQL NULL, not JSON null, as with the ORM.
    assert BaseTask.objects.filter(pk__in=[t.pk for t in copied], result_data__isnull=True).count() == 2
    # The instances are saved ones: the ORM updates them rather than inserting them again.
    copied[0].description = "edited"
    copied[0].save(update_fields=["description"])
    assert BaseTask.objects.get(pk=copied[0].pk).description == "edited"


def test_create_many_writes_all_or_none(brand, operator):
    from django.db import IntegrityError, transaction

    from task_core.state_machine import create_many

    duplicate = _twins(brand, operator, 3)
    duplicate[2].idempotency_key = duplicate[0].idempotency_key
    with pytest.raises(IntegrityError), transaction.atomic():
        create_many(duplicate)
    assert BaseTask.objects.count() == 1  # only the `retry_of` task of _twins
    assert len(create_many(_twins(brand, operator, 2))) == 2  # the connection is usable afterwards


@pytest.mark.django_db(transaction=True)
def test_create_many_outside_a_transaction_commits_all_or_nothing(brand, operator):
    """Called with no transaction open, create_many opens its own; a failure rolls all of it back."""
    from django.contrib.auth.models import User
    from django.db import IntegrityError

    from task_core.state_machine import create_many

    duplicate = _twins(brand, operator, 3)
    duplicate[2].idempotency_key = duplicate[0].idempotency_key
    with pytest.raises(IntegrityError):
        create_many(duplicate)
    unsaved = _twins(brand, operator, 2)
    unsaved[1].created_by = User(username="never-saved")
    with pytest.raises(ValueError, match="unsaved related object"):  # as bulk_create refuses it
        create_many(unsaved)
    assert BaseTask.objects.count() == 2 and not TaskEvent.objects.exists()  # the two `retry_of` tasks
    assert len(create_many(_twins(brand, operator, 2))) == 2
    assert TaskEvent.objects.count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite does not enforce a column's length")
def test_a_value_the_database_refuses_in_a_bulk_creation_is_a_data_error_and_writes_nothing(brand, operator):
    from django.db import DataError, transaction

    from task_core.state_machine import create_many

    too_long = _twins(brand, operator, 3)
    too_long[2].queue = "q" * 65
    with pytest.raises(DataError), transaction.atomic():
        create_many(too_long)
    assert BaseTask.objects.count() == 1 and not TaskEvent.objects.exists()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="asynchronous commit is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_outcomes_wait_for_the_disk_and_only_the_recoverable_marks_do_not(brand, settings):
    """queued and running may be lost in a database crash (the outbox sweep and the retried delivery
    recover them); a creation and an outcome never: their commit waits for the write-ahead log."""
    from django.db import transaction

    from task_core import services, state_machine

    settings.PG_PREPARED_STATEMENTS = False  # each statement's own text, not EXECUTE of a prepared one

    statements = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    def no_wait_of(step):
        statements.clear()
        assert step()
        sql = statements[0]  # the write itself; task_finished receivers (metrics) may write after it
        return "synchronous_commit" in sql

    task = services.task_build(brand=brand, task_type="demo.echo")
    bulk = [state_machine.create(services.task_build(brand=brand, task_type="demo.echo")).pk for _ in range(4)]
    with connection.execute_wrapper(capture):
        assert no_wait_of(lambda: state_machine.create(task)) is False
        assert no_wait_of(lambda: transition(task, TaskStatus.QUEUED)) is True
        assert no_wait_of(lambda: transition(task, TaskStatus.RUNNING)) is True
        assert no_wait_of(lambda: transition(task, TaskStatus.COMPLETED)) is False
        assert no_wait_of(lambda: state_machine.transition_many(bulk[:2], "pending", "queued")) is True
        other = services.task_build(brand=brand, task_type="demo.echo")
        with transaction.atomic():  # the setting would cover the caller's other writes too
            state_machine.create(other)
            assert no_wait_of(lambda: transition(other, TaskStatus.QUEUED)) is False
            assert no_wait_of(lambda: state_machine.transition_many(bulk[2:], "pending", "queued")) is False


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("prepare", [True, False])
def test_writes_work_after_a_rollback_and_a_reconnect_whether_statements_are_prepared_or_not(
        brand, settings, prepare):
    """PREPARE outlives a rollback but not the connection; behind PgBouncer the setting turns it off."""
    from django.db import transaction

    from task_core import services, state_machine

    settings.PG_PREPARED_STATEMENTS = prepare
    connection.close()  # a fresh connection: nothing prepared on it yet

    def created_and_queued():
        task = state_machine.create(services.task_build(brand=brand, task_type="demo.echo"))
        assert transition(task, TaskStatus.QUEUED)
        return BaseTask.objects.get(pk=task.pk)

    with pytest.raises(RuntimeError), transaction.atomic():
        created_and_queued()  # the first use of each statement on this connection, rolled back
        raise RuntimeError
    assert not BaseTask.objects.filter(brand=brand).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'megahub_%%'")
        assert (cursor.fetchone()[0] >= 2) is prepare
    assert created_and_queued().status == "queued"

    connection.close()
    task = created_and_queued()
    assert task.status == "queued" and [e.to_status for e in task.events.all()] == ["pending", "queued"]
