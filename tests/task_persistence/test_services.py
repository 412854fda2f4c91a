"""Jobs created with their tasks, fenced checkpoints, the size limit and pruning, on the real database."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from task_core import services as core_services
from task_core.models import BaseTask
from task_core.pipeline.context import RunStopped, TaskContext
from task_persistence import selectors, services
from task_persistence.models import Checkpoint, PersistentJob

pytestmark = pytest.mark.django_db(transaction=True)


def make_task(brand, user, task_type="demo.iterate", **extra) -> BaseTask:
    # A queue no worker reads: these tests drive the run themselves.
    task, _ = core_services.task_create(brand=brand, created_by=user, task_type=task_type, queue="q-nobody",
                                        context_data={"items": 5} if task_type == "demo.iterate" else {}, **extra)
    return task


def test_a_job_is_created_with_each_task_of_a_resumable_type_only(brand, operator):
    task = make_task(brand, operator)
    job = PersistentJob.objects.get(task=task)
    assert (job.brand_id, job.resume_policy, job.max_resumes, job.resume_count) == (brand.pk, "auto", 10, 0)
    assert not PersistentJob.objects.filter(task=make_task(brand, operator, "demo.echo")).exists()


def test_bulk_creation_creates_the_jobs_in_the_same_transaction(brand, operator):
    tasks = core_services.task_create_many(brand=brand, created_by=operator, specs=[
        {"task_type": "demo.iterate", "context_data": {"items": 3}, "queue": "q-nobody"},
        {"task_type": "demo.echo", "queue": "q-nobody"},
        {"task_type": "seo_bulk_keyword_refresh", "context_data": {"keyword_ids": [1, 2]}, "queue": "q-nobody"},
    ])
    assert sorted(PersistentJob.objects.values_list("task_id", flat=True)) == [tasks[0].pk, tasks[2].pk]


def test_resume_policy_for_a_type_that_is_not_resumable_refuses_the_creation(brand, operator):
    with pytest.raises(Exception) as exc:
        make_task(brand, operator, "demo.echo", extra={"resume_policy": "manual"})
    assert exc.value.status_code == 400 and "resume_policy" in exc.value.field_errors
    assert not BaseTask.objects.exists()


def test_a_zombie_run_checkpoint_is_refused_and_never_overwrites_newer_progress(brand, operator):
    task = make_task(brand, operator)
    old = TaskContext(task, "w1@host", run_id="a" * 32)
    services.job_claim(task=task, run_id=old.run_id, worker="w1@host")
    old.checkpoint(1, {"cursor": 0})
    # The message was redelivered to another worker, whose run now holds the job.
    new = TaskContext(task, "w2@host", run_id="b" * 32)
    services.job_claim(task=task, run_id=new.run_id, worker="w2@host")
    new.checkpoint(3, {"cursor": 2})

    with pytest.raises(services.CheckpointRefused) as exc:
        old.checkpoint(2, {"cursor": 1})
    assert isinstance(exc.value, RunStopped)  # the pipeline stops the zombie quietly
    job = PersistentJob.objects.select_related("last_checkpoint").get(task=task)
    assert (job.current_step, job.checkpoint_count, job.last_checkpoint.state) == (3, 2, {"cursor": 2})
    assert list(Checkpoint.objects.filter(job=job).values_list("step", flat=True)) == [3, 1]
    assert selectors.resume_state(task=task) == {"cursor": 2}


def test_a_checkpoint_over_the_size_limit_is_a_400_naming_the_limit(brand, operator, settings):
    settings.PERSISTENCE_CHECKPOINT_MAX_BYTES = 1000
    task = make_task(brand, operator)
    ctx = TaskContext(task, "w1@host")
    services.job_claim(task=task, run_id=ctx.run_id, worker="w1@host")
    with pytest.raises(services.CheckpointTooLarge) as exc:
        ctx.checkpoint(1, {"blob": "x" * 1000})
    assert exc.value.status_code == 400 and exc.value.error_code == "CHECKPOINT_TOO_LARGE"
    assert "1011 bytes; the limit is 1000 bytes" in str(exc.value.detail)
    assert not Checkpoint.objects.exists()


def test_the_first_and_the_newest_n_checkpoints_are_kept(brand, operator, settings):
    settings.PERSISTENCE_CHECKPOINTS_KEPT = 3
    task = make_task(brand, operator)
    ctx = TaskContext(task, "w1@host")
    services.job_claim(task=task, run_id=ctx.run_id, worker="w1@host")
    with CaptureQueriesContext(connection) as queries:
        for step in range(1, 9):
            ctx.checkpoint(step, {"cursor": step})
    if connection.vendor == "postgresql":
        # One statement per checkpoint (fenced update, insert and pruning), prepared once per connection.
        executed = [q["sql"] for q in queries.captured_queries if not q["sql"].startswith("PREPARE")]
        assert len(executed) == 8 and len(queries) <= 9
    assert sorted(Checkpoint.objects.values_list("sequence", flat=True)) == [1, 6, 7, 8]


def test_the_reaper_leaves_a_resumable_job_to_its_own_resume_limit(brand, operator, settings):
    """Core gives up on a plain task lost 3 times; a resumable job is resumed until its max_resumes."""
    from datetime import timedelta

    from django.utils import timezone

    from task_core.pipeline import recovery
    from task_core.state_machine import transition

    settings.STUCK_TASK_GRACE_SECONDS = 0
    task = make_task(brand, operator)
    long_ago = timezone.now() - timedelta(days=1)
    for lost in range(1, recovery.MAX_INTERRUPTIONS + 3):
        task.refresh_from_db()
        assert transition(task, "running", worker=f"gone-{lost}@host")
        BaseTask.objects.filter(pk=task.pk).update(started_at=long_ago)
        recovery.reap_stuck()
        task.refresh_from_db()
        assert task.status in ("queued", "pending"), f"given up after {lost} losses: {task.error_message}"
    assert PersistentJob.objects.get(task=task).resume_count == recovery.MAX_INTERRUPTIONS + 2
