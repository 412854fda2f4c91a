"""A job's status is its task's, whichever path changes it (database triggers: task_core.status_copies).

Each test drives a real path of core or of persistence and reads both rows back from the database. The same
tests run on SQLite (the embedded default: no DATABASE_URL), whose triggers are its own.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from task_core import orm_writes, state_machine
from task_core import services as core_services
from task_core.choices import TaskStatus as S
from task_core.models import BaseTask
from task_core.pipeline import recovery
from task_core.pipeline.context import RunStopped
from task_persistence import services
from task_persistence.models import PersistentJob
from task_persistence.status_sync import JOB_STATUS

pytestmark = pytest.mark.django_db(transaction=True)

RUN = "r" * 32


def make_task(brand, user, task_type="demo.iterate", policy=None) -> BaseTask:
    # A queue no worker reads: the tests drive the run themselves.
    task, _ = core_services.task_create(
        brand=brand, created_by=user, task_type=task_type, queue="q-nobody",
        context_data={"items": 5} if task_type == "demo.iterate" else {},
        extra={"resume_policy": policy} if policy else None)
    return task


def statuses(task) -> tuple[str, str]:
    """(the task's status, its job's), as stored."""
    return (BaseTask.objects.values_list("status", flat=True).get(pk=task.pk),
            PersistentJob.objects.values_list("status", flat=True).get(task_id=task.pk))


def assert_job_is(task, status) -> None:
    assert statuses(task) == (status, status)


def test_a_job_follows_its_task_through_a_run_to_completion(brand, operator):
    task = make_task(brand, operator)
    assert_job_is(task, S.QUEUED)  # created (one statement on PostgreSQL) and sent
    started = state_machine.start_run(task.task_id, worker="w1@host")  # the worker's one-statement start
    if started is None:  # SQLite: the general path
        assert state_machine.transition(task, S.RUNNING, worker="w1@host")
    assert_job_is(task, S.RUNNING)
    services.job_claim(task=task, run_id=RUN, worker="w1@host")
    services.checkpoint_write(task=task, run_id=RUN, step=1, state={"cursor": 0})
    assert_job_is(task, S.RUNNING)
    task.refresh_from_db()
    assert state_machine.transition(task, S.COMPLETED, result_data={"ok": True})
    assert_job_is(task, S.COMPLETED)


def test_a_job_follows_its_task_through_retries_to_failure(brand, operator):
    task = make_task(brand, operator)
    for status in (S.RUNNING, S.RETRYING, S.RUNNING, S.FAILED):
        assert state_machine.transition(task, status, worker="w1@host")
        assert_job_is(task, status)
    assert not state_machine.transition(task, S.RUNNING)  # refused: nothing written, on either row
    assert_job_is(task, S.FAILED)


def test_a_cancelled_task_cancels_its_job(brand, operator):
    task = make_task(brand, operator)
    core_services.task_cancel(task=task, actor=operator)
    assert_job_is(task, S.CANCELLED)


def test_a_warm_shutdown_interrupts_the_job_and_a_resume_queues_it_again(brand, operator):
    task = make_task(brand, operator, policy="manual")
    assert state_machine.transition(task, S.RUNNING, worker="w1@host")
    services.job_claim(task=task, run_id=RUN, worker="w1@host")
    sequence = services.checkpoint_write(task=task, run_id=RUN, step=2, state={"cursor": 1})
    with pytest.raises(RunStopped):
        services.job_stop_for_shutdown(task=task, worker="w1@host", sequence=sequence)
    assert_job_is(task, S.INTERRUPTED)  # manual: it waits for an operator
    job = PersistentJob.objects.select_related("last_checkpoint").get(task=task)
    resumed, created = services.job_resume(job=job, actor=operator)
    assert (resumed.pk, created) == (task.pk, False)
    assert_job_is(task, S.QUEUED)


def test_the_reaper_interrupts_a_lost_run_and_the_job_follows(brand, operator, settings):
    settings.STUCK_TASK_GRACE_SECONDS = 0
    held = make_task(brand, operator, policy="manual")
    auto = make_task(brand, operator)
    for task in (held, auto):
        assert state_machine.transition(task, S.RUNNING, worker="gone@host")
    BaseTask.objects.filter(pk__in=[held.pk, auto.pk]).update(started_at=timezone.now() - timedelta(days=1))
    assert recovery.reap_stuck()["requeued"] == 2
    assert_job_is(held, S.INTERRUPTED)  # held for an operator
    assert_job_is(auto, S.QUEUED)  # interrupted, then sent again at once


def test_a_failed_job_resumed_as_a_new_task_gets_the_new_tasks_status(brand, operator):
    task = make_task(brand, operator)
    assert state_machine.transition(task, S.RUNNING, worker="w1@host")
    services.job_claim(task=task, run_id=RUN, worker="w1@host")
    services.checkpoint_write(task=task, run_id=RUN, step=3, state={"cursor": 2})
    assert state_machine.transition(task, S.FAILED, error_message="boom")
    job = PersistentJob.objects.select_related("last_checkpoint").get(task=task)
    new_task, created = services.job_resume(job=job, actor=operator)
    assert created
    assert_job_is(task, S.FAILED)
    assert_job_is(new_task, S.QUEUED)


def test_bulk_writes_move_every_job_with_its_task(brand, operator):
    tasks = core_services.task_create_many(brand=brand, created_by=operator, specs=[
        {"task_type": "demo.iterate", "context_data": {"items": 3}, "queue": "q-nobody"} for _ in range(3)])
    for task in tasks:  # created pending, then queued by one bulk transition (publishing.dispatch_many)
        assert_job_is(task, S.QUEUED)
    pks = [t.pk for t in tasks]
    assert sorted(state_machine.transition_many(pks[:2], S.QUEUED, S.CANCELLED, detail="bulk")) == sorted(pks[:2])
    assert [statuses(t) for t in tasks] == [(S.CANCELLED, S.CANCELLED)] * 2 + [(S.QUEUED, S.QUEUED)]


def test_the_orm_writer_and_a_plain_update_move_the_job_too(brand, operator):
    """On PostgreSQL the state machine writes in SQL (pg_writes); the ORM writer (SQLite's path) and any
    other UPDATE of the status are followed the same way."""
    first, second = make_task(brand, operator), make_task(brand, operator)
    assert orm_writes.update_task(first.pk, S.QUEUED, {"status": S.RUNNING, "worker": "w1@host"}, None)
    assert orm_writes.update_many([first.pk, second.pk], S.RUNNING, {"status": S.INTERRUPTED}, detail="x")
    assert_job_is(first, S.INTERRUPTED)
    assert_job_is(second, S.QUEUED)  # not in the from-status: left alone
    BaseTask.objects.filter(pk=second.pk).update(status=S.PENDING)
    assert_job_is(second, S.PENDING)
    BaseTask.objects.filter(pk=second.pk).update(progress_percentage=5)  # not a status change
    assert_job_is(second, S.PENDING)


def test_a_job_inserted_with_another_status_takes_its_tasks(brand, operator):
    task = make_task(brand, operator, task_type="demo.echo")  # no job: not a resumable type
    job = PersistentJob.objects.create(task=task, brand=brand, status=S.COMPLETED)
    assert_job_is(task, S.QUEUED)
    assert job.pk and PersistentJob.objects.get(pk=job.pk).status == S.QUEUED


@pytest.mark.django_db(transaction=False)
def test_triggers_lost_with_a_rebuilt_table_are_put_back_after_migrate(brand, operator):
    """SQLite rebuilds a table to alter it, dropping its triggers: the post_migrate check reinstalls them
    and corrects the jobs changed meanwhile (here simulated on either database, inside the test's
    transaction)."""
    assert JOB_STATUS.installed(connection)
    assert not JOB_STATUS.ensure_installed(connection)
    task = make_task(brand, operator)  # pending: inside the test's transaction, it is sent on a commit
    JOB_STATUS.uninstall(connection)
    BaseTask.objects.filter(pk=task.pk).update(status=S.RUNNING)
    assert statuses(task) == (S.RUNNING, S.PENDING)
    assert JOB_STATUS.ensure_installed(connection)
    assert JOB_STATUS.installed(connection)
    assert_job_is(task, S.RUNNING)
    BaseTask.objects.filter(pk=task.pk).update(status=S.INTERRUPTED)
    assert_job_is(task, S.INTERRUPTED)
