"""Celery's own view of our outcomes (what Flower and every Celery-events tool shows) agrees with ours:
a task that ends failed is FAILURE, a retried one RETRY, a cancelled one REVOKED."""

import json
import threading
import urllib.request

import pytest
from celery import current_app
from flower.events import EventsState

from task_core import services

from ..live import CELERY, LiveProcess, child_env, free_port, wait_for
from .conftest import submit, wait_finished

pytestmark = [pytest.mark.live, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def flower_state():
    """Flower's event state fed by a real event receiver on the test broker."""
    state = EventsState()
    conn = current_app.connection()
    receiver = current_app.events.Receiver(conn, handlers={"*": state.event})
    thread = threading.Thread(target=receiver.capture, kwargs={"limit": None, "timeout": None, "wakeup": False},
                              daemon=True)
    thread.start()
    yield state
    receiver.should_stop = True
    thread.join(5)
    conn.release()


def celery_state(state, task) -> str | None:
    found = state.tasks.get(str(task.task_id))
    return found.state if found else None


def test_flower_sees_success_failure_retry_and_revoked(brand, operator, workers, queue, flower_state):
    workers(queues=queue)
    ok = wait_finished(submit(brand, operator, "demo.echo", queue))
    wait_for(lambda: celery_state(flower_state, ok) == "SUCCESS", message="SUCCESS in Flower's state")

    failed = wait_finished(submit(brand, operator, "demo.fail", queue, max_retries=1))
    assert failed.status == "failed"
    wait_for(lambda: celery_state(flower_state, failed) == "FAILURE",
             message=f"FAILURE in Flower's state (is {celery_state(flower_state, failed)})")

    # The retry itself is a task-retried event (RETRY until the retried message is received again).
    assert flower_state.tasks[str(failed.task_id)].retried is not None

    retrying = submit(brand, operator, "demo.fail", queue, max_retries=5, timeout_seconds=5)
    wait_for(lambda: (t := flower_state.tasks.get(str(retrying.task_id))) and t.retried,
             message="task-retried in Flower's state")
    services.task_cancel(task=retrying, actor=operator)  # waiting out its backoff: never runs again
    wait_for(lambda: celery_state(flower_state, retrying) == "REVOKED",
             message=f"REVOKED in Flower's state (is {celery_state(flower_state, retrying)})")

    running = submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 20, "steps": 40})
    wait_for(lambda: celery_state(flower_state, running) == "STARTED", message="STARTED in Flower's state")
    services.task_cancel(task=running, actor=operator)
    wait_for(lambda: celery_state(flower_state, running) == "REVOKED",
             message=f"REVOKED in Flower's state (is {celery_state(flower_state, running)})")


def test_celery_flower_command_serves_our_workers_tasks(brand, operator, workers, queue):
    """`celery -A megahub flower`, as the README says, starts and shows a failed task as FAILURE."""
    port = free_port()
    flower = LiveProcess([CELERY, "-A", "megahub", "flower", f"--port={port}", "--address=127.0.0.1"],
                         f"flower-{port}", child_env(FLOWER_UNAUTHENTICATED_API="true")).start()
    try:
        def get(path):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                    return resp.read().decode()
            except OSError:
                return None

        wait_for(lambda: get("/healthcheck") == "OK", timeout=30, message=f"flower up:\n{flower.log()[-2000:]}")
        workers(queues=queue)
        failed = wait_finished(submit(brand, operator, "demo.fail", queue, max_retries=0))
        tasks = wait_for(lambda: (body := get("/api/tasks")) and str(failed.task_id) in body and json.loads(body),
                         timeout=30, message="the task in Flower's API")
        wait_for(lambda: json.loads(get("/api/tasks"))[str(failed.task_id)]["state"] == "FAILURE",
                 timeout=15, message=f"FAILURE in Flower ({tasks.get(str(failed.task_id))})")
    finally:
        flower.stop()
