"""A run's task_state is its task's status, whichever path changes it (database triggers: task_scheduling.
status_sync over task_core.status_copies): what the executions lists' `status` filter reads.

The same tests run on SQLite (the embedded default), whose triggers are its own.
"""

from datetime import timedelta

import pytest
from django.db import connection

from task_core import state_machine
from task_core.choices import TaskStatus as S
from task_core.models import BaseTask
from task_scheduling.firing import schedules_fire
from task_scheduling.models import ScheduledRun
from task_scheduling.status_sync import RUN_STATUS

from .helpers import due_now

pytestmark = pytest.mark.django_db


def states(runs) -> list[tuple[str, str]]:
    """(the run's task_state, its task's status) of each run, as stored."""
    return list(ScheduledRun.objects.filter(pk__in=[r.pk for r in runs]).order_by("due_at")
                .values_list("task_state", "task__status"))


def fired(make_template, n=3) -> list[ScheduledRun]:
    schedule = make_template(interval_seconds=10, overlap_policy="allow").schedules.get()
    first = due_now(schedule)
    schedules_fire(items=[(schedule.pk, first + timedelta(seconds=10 * i)) for i in range(n)])
    return list(ScheduledRun.objects.filter(schedule=schedule).select_related("task").order_by("due_at"))


def test_fired_runs_follow_their_tasks_through_single_and_bulk_transitions(make_template):
    runs = fired(make_template)
    assert [r.task_state for r in runs] == [r.task.status for r in runs]  # linked by the firing's bulk write
    assert {r.task_state for r in runs} == {S.PENDING}  # sent when the test's transaction commits: never
    tasks = [r.task for r in runs]
    assert state_machine.transition(tasks[0], S.RUNNING, worker="w1@host")
    assert sorted(state_machine.transition_many([t.pk for t in tasks[1:]], S.PENDING, S.CANCELLED,
                                                detail="bulk")) == sorted(t.pk for t in tasks[1:])
    assert states(runs) == [(S.RUNNING, S.RUNNING), (S.CANCELLED, S.CANCELLED), (S.CANCELLED, S.CANCELLED)]
    assert state_machine.transition(tasks[0], S.INTERRUPTED)
    BaseTask.objects.filter(pk=tasks[0].pk).update(status=S.QUEUED)  # any UPDATE of the status
    assert states(runs)[0] == (S.QUEUED, S.QUEUED)


def test_a_run_written_with_another_state_takes_its_tasks_status(make_template):
    first, second, _ = fired(make_template)
    assert state_machine.transition(second.task, S.RUNNING, worker="w1@host")
    ScheduledRun.objects.filter(pk=second.pk).update(task=None)  # unlinked: it keeps the last status
    ScheduledRun.objects.filter(pk=first.pk).update(task=second.task, task_state=S.COMPLETED)
    assert dict(ScheduledRun.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "task_state")) == {
        first.pk: S.RUNNING, second.pk: S.RUNNING}  # the task's status, not what the write said


def test_a_run_keeps_its_tasks_last_status_once_the_task_is_deleted(make_template):
    run = fired(make_template, n=1)[0]
    assert state_machine.transition(run.task, S.RUNNING, worker="w1@host")
    assert state_machine.transition(run.task, S.FAILED, error_message="boom")
    BaseTask.objects.filter(pk=run.task_id).delete()  # as retention deletes an old task
    run.refresh_from_db()
    assert (run.task_id, run.task_state) == (None, S.FAILED)


def test_triggers_lost_with_a_rebuilt_table_are_put_back_after_migrate(make_template):
    """SQLite rebuilds a table to alter it, dropping its triggers: the post_migrate check reinstalls them
    and corrects the runs changed meanwhile (simulated here on either database)."""
    assert RUN_STATUS.installed(connection) and not RUN_STATUS.ensure_installed(connection)
    run = fired(make_template, n=1)[0]
    RUN_STATUS.uninstall(connection)
    BaseTask.objects.filter(pk=run.task_id).update(status=S.RUNNING)
    assert states([run]) == [(S.PENDING, S.RUNNING)]
    assert RUN_STATUS.ensure_installed(connection) and RUN_STATUS.installed(connection)
    assert states([run]) == [(S.RUNNING, S.RUNNING)]
    BaseTask.objects.filter(pk=run.task_id).update(status=S.INTERRUPTED)
    assert states([run]) == [(S.INTERRUPTED, S.INTERRUPTED)]


def test_triggers_of_an_earlier_definition_are_replaced_after_migrate():
    """A database that installed an earlier version of the triggers gets this code's (PostgreSQL keeps them
    across migrates; SQLite installs them afresh after each)."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite drops and reinstalls the triggers at every migrate")
    with connection.cursor() as cursor:
        cursor.execute("CREATE OR REPLACE TRIGGER task_scheduling_run_status AFTER UPDATE OF status "
                       "ON task_core_basetask FOR EACH ROW EXECUTE FUNCTION task_scheduling_run_status()")
        assert not RUN_STATUS.ensure_installed(connection)  # all there: replaced, not re-copied
        cursor.execute("SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgname = 'task_scheduling_run_status'")
        assert "'schedule'" in cursor.fetchone()[0]
