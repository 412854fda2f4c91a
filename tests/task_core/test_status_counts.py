"""Status counts from the deltas every transition appends (task_core.status_counts): they equal a real
COUNT of the tasks, through every writer, after compaction, and after a burst of concurrent transitions."""

import random
import threading

import pytest
from django.db import connection, connections
from django.db.models import Count

from task_core import services, state_machine, status_counts
from task_core.choices import TaskStatus as S
from task_core.models import BaseTask, TaskStatusDelta
from task_core.state_machine import transition

pytestmark = pytest.mark.django_db


def real_counts(brand) -> dict[str, int]:
    counts = dict.fromkeys(S.values, 0)
    counts.update(dict(BaseTask.objects.filter(brand=brand).values_list("status").annotate(n=Count("id"))))
    return counts


def test_counts_follow_creation_transitions_and_bulk_writes_per_brand(brand, other_brand):
    one, _ = services.task_create(brand=brand, task_type="demo.echo", context_data={})
    services.task_create_many(brand=brand, specs=[{"task_type": "demo.echo"}] * 3)
    services.task_create(brand=other_brand, task_type="demo.echo", context_data={})
    assert transition(one, S.RUNNING) and transition(one, S.FAILED)
    pending = list(BaseTask.objects.filter(brand=brand, status=S.PENDING).values_list("pk", flat=True))
    assert len(state_machine.transition_many(pending, S.PENDING, S.CANCELLED)) == 3
    assert not transition(one, S.RUNNING)  # refused: counts nothing
    for b in (brand, other_brand):
        assert status_counts.status_counts(brand=b) == real_counts(b)
    assert status_counts.status_counts(brand=brand)[S.CANCELLED] == 3
    status_counts.compact()
    assert not TaskStatusDelta.objects.exists()
    for b in (brand, other_brand):
        assert status_counts.status_counts(brand=b) == real_counts(b)


def test_rebuild_recounts_rows_written_outside_the_state_machine(brand):
    task, _ = services.task_create(brand=brand, task_type="demo.echo", context_data={})
    BaseTask.objects.filter(pk=task.pk).update(status=S.COMPLETED)  # bypasses the counts
    assert status_counts.status_counts(brand=brand)[S.COMPLETED] == 0
    status_counts.rebuild()
    assert status_counts.status_counts(brand=brand) == real_counts(brand)


def test_system_status_and_queue_stats_read_the_counts(operator_api, brand):
    services.task_create(brand=brand, task_type="demo.echo", context_data={})
    status = operator_api.get("/tasks/system/status/").json()
    assert status["counts_by_status"] == real_counts(brand)
    assert status["outbox_pending"] == real_counts(brand)[S.PENDING]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_counts_equal_a_real_count_after_a_burst_of_concurrent_transitions(brand, other_brand):
    """Four threads race over the same tasks (each transition from the status it saw; the guarded UPDATE
    lets one of two racing writers win) while a fifth compacts; the counts equal a real COUNT."""
    tasks = [state_machine.create(services.task_build(brand=b, task_type="demo.echo"))
             for b in (brand, other_brand) for _ in range(30)]
    pks = [t.pk for t in tasks]
    paths = [S.QUEUED, S.RUNNING, S.RETRYING, S.RUNNING, S.INTERRUPTED, S.QUEUED, S.RUNNING,
             S.COMPLETED, S.FAILED, S.CANCELLED]
    errors, stop = [], threading.Event()

    def racer(seed):
        rng = random.Random(seed)
        try:
            for _ in range(150):
                task = BaseTask.objects.get(pk=rng.choice(pks))
                transition(task, rng.choice([s for s in paths if state_machine.can_transition(task.status, s)]
                                            or [S.CANCELLED]))
            state_machine.transition_many(pks, S.PENDING, S.QUEUED)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    def compactor():
        try:
            while not stop.is_set():
                status_counts.compact()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=racer, args=(seed,)) for seed in range(4)]
    compacting = threading.Thread(target=compactor)
    compacting.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    compacting.join()
    assert not errors, errors
    for b in (brand, other_brand):
        assert status_counts.status_counts(brand=b) == real_counts(b)
    assert sum(real_counts(brand).values()) == 30
    status_counts.compact()
    for b in (brand, other_brand):
        assert status_counts.status_counts(brand=b) == real_counts(b)
