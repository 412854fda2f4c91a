"""What an outcome records, whichever way it is written: with the outcome in one statement (PostgreSQL,
outside a transaction: task_core.outcome_writes), in a statement of its own (inside a transaction, or after
the combined statement failed), or through the ORM (SQLite). The rows must be the same."""

import logging
from contextlib import nullcontext
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from task_core import outcome_writes, services, state_machine
from task_core.models import BaseTask, TaskEvent
from task_monitoring import signals
from task_monitoring.models import MetricsRollup, TaskMetrics, Worker

pytestmark = pytest.mark.django_db(transaction=True)

ROLLUP_FIGURES = ("completed", "failed", "cancelled", "retried", "measured", "waited", "execution_ms_sum",
                  "queue_wait_ms_sum", "execution_ms_max", "d4", "w1")


def new_task(brand) -> BaseTask:
    """A pending task (not published: no worker runs it here)."""
    return state_machine.create(services.task_build(brand=brand, task_type="demo.echo"))


def run_to(brand, status, *, in_transaction=False, worker="w@test"):
    """A task through queued and running (200 ms of wall time, 20 ms of queue wait) to `status`."""
    ended = timezone.now()
    task = new_task(brand)
    assert state_machine.transition(task, "queued", queued_at=ended - timedelta(milliseconds=220))
    assert state_machine.transition(task, "running", started_at=ended - timedelta(milliseconds=200), worker=worker)
    with transaction.atomic() if in_transaction else nullcontext():
        assert state_machine.transition(task, status, completed_at=ended, error_message="")
    return task


def recorded(brand):
    """The metrics rows and the day rollup of the brand, without ids and times."""
    metrics = sorted(TaskMetrics.objects.filter(task__brand=brand).values_list(
        "status", "execution_time_ms", "queue_wait_ms", "source", "runs"))
    day = MetricsRollup.objects.filter(brand=brand, granularity="d").values(*ROLLUP_FIGURES).get()
    return metrics, day


@pytest.mark.parametrize("in_transaction", [False, True], ids=["with the outcome", "own statement"])
def test_every_outcome_gets_its_metrics_row_and_rollups(brand, in_transaction):
    Worker.objects.create(hostname="w@test")
    for status in ("completed", "completed", "failed", "cancelled"):
        run_to(brand, status, in_transaction=in_transaction)
    metrics, day = recorded(brand)
    assert metrics == [("cancelled", 200, 20, "timestamps", 1), ("completed", 200, 20, "timestamps", 1),
                       ("completed", 200, 20, "timestamps", 1), ("failed", 200, 20, "timestamps", 1)]
    # 200 ms in histogram bucket 4 (100, 250], 20 ms of wait in bucket 1 (10, 25].
    assert day == {"completed": 2, "failed": 1, "cancelled": 1, "retried": 0, "measured": 4, "waited": 4,
                   "execution_ms_sum": 800, "queue_wait_ms_sum": 80, "execution_ms_max": 200, "d4": 4, "w1": 4}
    assert Worker.objects.get(hostname="w@test").failed == 1


@pytest.mark.skipif(connection.vendor != "postgresql", reason="one statement: PostgreSQL's data-modifying CTEs")
def test_on_postgresql_the_metrics_commit_with_the_outcome_in_its_one_statement(brand, settings):
    settings.PG_PREPARED_STATEMENTS = False  # each statement's own text
    task = new_task(brand)
    assert state_machine.transition(task, "queued")
    assert state_machine.transition(task, "running", worker="w@test")
    statements = []

    def capture(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(capture):
        assert state_machine.transition(task, "completed")
    assert len(statements) == 1 and "monitoring_r AS (INSERT INTO" in statements[0]
    assert TaskMetrics.objects.get(pk=task.pk).status == "completed"
    assert MetricsRollup.objects.get(brand=brand, granularity="m").completed == 1


def test_a_transition_that_lost_the_race_records_nothing_of_its_own(brand):
    """The worker's `completed` finds the row cancelled meanwhile: only the cancel is counted."""
    task = new_task(brand)
    assert state_machine.transition(task, "queued")
    assert state_machine.transition(task, "running", worker="w@test")
    other = BaseTask.objects.get(pk=task.pk)
    assert state_machine.transition(other, "cancelled")
    assert not state_machine.transition(task, "completed")  # task still says running
    assert TaskMetrics.objects.get(pk=task.pk).status == "cancelled"
    day = MetricsRollup.objects.get(brand=brand, granularity="d")
    assert (day.cancelled, day.completed) == (1, 0)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="outcome writes: PostgreSQL only")
def test_a_failing_outcome_write_never_costs_the_outcome_and_the_others_record_it_alone(brand, caplog):
    # An app whose CTE cannot be written (an event without its required columns).
    broken = f"broken AS (INSERT INTO {TaskEvent._meta.db_table} (task_id) SELECT id FROM u)"
    outcome_writes.register_outcome_write("broken", lambda *args: outcome_writes.OutcomeWrite(broken, []))
    try:
        with caplog.at_level(logging.ERROR, logger="megahub.tasks"):
            task = run_to(brand, "completed")
    finally:
        outcome_writes.unregister_outcome_write("broken")
    assert BaseTask.objects.get(pk=task.pk).status == "completed"
    assert TaskEvent.objects.filter(task=task, to_status="completed").count() == 1
    assert "outcome writes ['task_monitoring', 'broken'] failed" in caplog.text
    assert TaskMetrics.objects.get(pk=task.pk).status == "completed"  # recorded from task_finished instead
    assert MetricsRollup.objects.get(brand=brand, granularity="d").completed == 1


def test_a_builder_that_raises_is_left_out_and_its_app_records_from_task_finished(brand, caplog):
    def failing(task, status, fields):
        raise RuntimeError("builder bug")

    outcome_writes.register_outcome_write(signals.OUTCOME_WRITE, failing)
    try:
        with caplog.at_level(logging.ERROR, logger="megahub.tasks"):
            task = run_to(brand, "completed")
    finally:
        outcome_writes.register_outcome_write(signals.OUTCOME_WRITE, signals.outcome_write)
    assert BaseTask.objects.get(pk=task.pk).status == "completed"
    assert TaskMetrics.objects.get(pk=task.pk).status == "completed"
    if connection.vendor == "postgresql":
        assert "outcome write 'task_monitoring' failed to build" in caplog.text
