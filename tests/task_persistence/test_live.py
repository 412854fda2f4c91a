"""Persistent jobs end to end: real worker processes killed, shut down warmly and restarted, the real
broker and database. Each test's worker has a private queue so the session worker never takes its tasks."""

import os
import random
import signal
import time

import pytest

from task_core import services as core_services
from task_core.models import BaseTask
from task_persistence.models import PersistentJob

from ..live import wait_for

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def iterate(brand, user, queue, items, seconds_per_item=0.1, **extra) -> BaseTask:
    task, _ = core_services.task_create(brand=brand, created_by=user, task_type="demo.iterate", queue=queue,
                                        context_data={"items": items, "seconds_per_item": seconds_per_item},
                                        **extra)
    return task


def job_of(task) -> PersistentJob:
    return PersistentJob.objects.select_related("task", "last_checkpoint").get(task_id=task.pk)


def wait_step(task, step, timeout=30) -> PersistentJob:
    return wait_for(lambda: PersistentJob.objects.filter(task_id=task.pk, current_step__gte=step,
                                                         task__status="running").first(),
                    timeout=timeout, message=f"job of task {task.pk} running past step {step}")


def wait_status(task, *statuses, timeout=60) -> BaseTask:
    return wait_for(lambda: BaseTask.objects.filter(pk=task.pk, status__in=statuses).first(), timeout=timeout,
                    message=f"task {task.pk} to become {'/'.join(statuses)}")


def details(task) -> list[str]:
    return list(BaseTask.objects.get(pk=task.pk).events.values_list("detail", flat=True))


def kill_pool_process(task) -> int:
    pid = BaseTask.objects.get(pk=task.pk).worker_pid
    os.kill(pid, signal.SIGKILL)
    return pid


def test_iterate_survives_three_kills_of_its_pool_process_redoing_at_most_one_item_each(
        workers, queue, brand, operator):
    workers(queues=queue)
    task = iterate(brand, operator, queue, items=40, seconds_per_item=0.1)
    rng = random.Random()
    step = 0
    for kills in range(1, 4):
        step = wait_step(task, step + rng.randint(3, 7)).current_step
        time.sleep(rng.uniform(0, 0.1))  # anywhere inside an item, or between an item and its checkpoint
        kill_pool_process(task)
        wait_for(lambda n=kills: PersistentJob.objects.filter(task_id=task.pk, resume_count=n).exists(),
                 timeout=30, message="the lost run detected and resumed")

    task = wait_status(task, "completed", "failed")
    assert task.status == "completed", task.error_message
    assert task.result_data["items_done"] == 40
    redone = task.result_data["item_executions"] - 40
    assert 0 <= redone <= 3, task.result_data
    history = details(task)
    assert sum("worker lost" in d for d in history) == 3, history
    assert sum(d.startswith("resumed from checkpoint #") for d in history) == 3, history
    job = job_of(task)
    assert job.resume_count == 3 and job.current_step == 40 and job.total_steps == 40


def test_warm_shutdown_stops_at_an_item_boundary_and_a_new_worker_finishes_with_nothing_redone(
        workers, queue, brand, operator):
    first = workers(queues=queue)
    task = iterate(brand, operator, queue, items=30, seconds_per_item=0.1)
    wait_step(task, 5)
    first.stop()  # SIGTERM: Celery's warm shutdown
    assert first.proc.returncode is not None

    task = BaseTask.objects.get(pk=task.pk)
    assert task.status == "queued", details(task)
    stop = task.events.get(to_status="interrupted")
    assert "shutting down" in stop.detail and "checkpoint #" in stop.detail, stop.detail
    assert task.retry_count == 0
    stopped_at = job_of(task).current_step
    assert 5 <= stopped_at < 30

    workers(queues=queue)
    task = wait_status(task, "completed", "failed")
    assert task.status == "completed", task.error_message
    assert task.result_data == {"items_done": 30, "item_executions": 30}
    assert "resumed from checkpoint" in " ".join(details(task))
    assert job_of(task).resume_count == 1


def test_manual_policy_waits_for_an_operator_who_resumes_from_an_earlier_checkpoint(
        workers, queue, brand, operator, operator_api):
    workers(queues=queue)
    task = iterate(brand, operator, queue, items=20, seconds_per_item=0.1, extra={"resume_policy": "manual"})
    job = job_of(task)
    assert job.resume_policy == "manual"
    job = wait_step(task, 6)

    running = operator_api.post(f"/tasks/persistent-jobs/persistent-jobs/{job.pk}/resume/")
    assert running.status_code == 409, running.json()
    assert running.json()["error_code"] == "INVALID_TRANSITION"

    kill_pool_process(task)
    wait_for(lambda: any("waiting for an operator" in d for d in details(task)), message="the job held")
    time.sleep(1.0)  # it stays put: nothing resumes it by itself
    assert BaseTask.objects.get(pk=task.pk).status == "interrupted"
    listed = operator_api.get("/tasks/persistent-jobs/persistent-jobs/resumable/").json()
    assert [j["id"] for j in listed["results"]] == [job.pk]

    checkpoints = operator_api.get(f"/tasks/persistent-jobs/persistent-jobs/{job.pk}/checkpoints/").json()["results"]
    earlier = next(c for c in checkpoints if c["sequence"] == 2)
    resp = operator_api.post(f"/tasks/persistent-jobs/persistent-jobs/{job.pk}/resume/",
                             {"checkpoint": earlier["id"]}, format="json")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["id"] == task.pk

    task = wait_status(task, "completed", "failed")
    assert task.status == "completed", task.error_message
    assert task.result_data["items_done"] == 20
    # Everything after checkpoint #2 ran again: at least the items up to the kill.
    assert task.result_data["item_executions"] >= 20 + (6 - earlier["step"])
    assert f"resumed from checkpoint #2 (step {earlier['step']})" in details(task)
    assert operator_api.post(f"/tasks/persistent-jobs/persistent-jobs/{job.pk}/resume/").status_code == 409


def test_past_its_resume_limit_a_job_fails_with_that_reason(workers, queue, brand, operator, operator_api):
    workers(queues=queue)
    task = iterate(brand, operator, queue, items=60, seconds_per_item=0.1)
    PersistentJob.objects.filter(task_id=task.pk).update(max_resumes=1)
    wait_step(task, 3)
    kill_pool_process(task)
    step = wait_for(lambda: PersistentJob.objects.filter(task_id=task.pk, resume_count=1).first(),
                    message="first resume").current_step
    wait_step(task, step + 3)
    kill_pool_process(task)

    task = wait_status(task, "failed", "completed")
    assert task.status == "failed"
    assert task.error_message.startswith("Resume limit reached"), task.error_message
    job = job_of(task)
    resp = operator_api.post(f"/tasks/persistent-jobs/persistent-jobs/{job.pk}/resume/")
    assert resp.status_code == 409 and resp.json()["error_code"] == "RESUME_LIMIT_REACHED", resp.json()
