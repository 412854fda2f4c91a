"""Capture by a real worker: wall, CPU, the run's own memory peak, cost and custom metrics."""

from decimal import Decimal

import pytest
from django.db.models import Sum

from task_monitoring.models import MetricsRollup, TaskMetrics

from ..live import wait_for
from .conftest import submit, wait_finished

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_cpu_time_close_to_wall_time_with_cost_and_custom_metric(brand, operator, workers, queue):
    workers(queues=queue)
    task = wait_finished(submit(brand, operator, "demo.cpu", queue, context_data={"seconds": 1.0}))
    assert task.status == "completed", task.error_message
    m = task.metrics
    assert m.source == "worker"
    # demo.cpu burns 1 s of its own CPU: counted whatever else the machine runs (the wall time may be more).
    assert 1000 <= m.cpu_time_ms <= m.execution_time_ms + 50
    assert m.queue_wait_ms is not None and m.queue_wait_ms >= 0
    assert m.custom["loops"] > 0
    # 0.10 USD per CPU hour + 0.01 USD per wall hour (demo.cpu's declared rates).
    expected = (Decimal(m.cpu_time_ms) * Decimal("0.10") + Decimal(m.execution_time_ms) * Decimal("0.01")) / 3_600_000
    assert m.cost_usd == expected.quantize(Decimal("0.000001"))
    day = MetricsRollup.objects.get(brand=brand, task_type="demo.cpu", granularity="d")
    assert (day.completed, day.measured, day.execution_ms_sum) == (1, 1, m.execution_time_ms)
    # A run that waits rather than computes: its wall time, not its CPU time.
    idle = wait_finished(submit(brand, operator, "demo.sleep", queue, context_data={"seconds": 1, "steps": 1}))
    assert idle.metrics.execution_time_ms >= 1000 and idle.metrics.cpu_time_ms < 500


def test_memory_peak_is_per_run_not_the_process_high_water_mark(brand, operator, workers, queue):
    workers(queues=queue)  # concurrency 1: both tasks run in the same pool process
    big = wait_finished(submit(brand, operator, "demo.memory", queue, context_data={"megabytes": 200}))
    small = wait_finished(submit(brand, operator, "demo.memory", queue, context_data={"megabytes": 0}))
    assert big.status == small.status == "completed"
    assert big.metrics.memory_is_run_peak and small.metrics.memory_is_run_peak
    assert big.metrics.memory_usage_mb >= 180, big.metrics.memory_usage_mb
    assert small.metrics.memory_usage_mb < big.metrics.memory_usage_mb - 150, small.metrics.memory_usage_mb


def test_failed_run_is_measured_and_counted(brand, operator, workers, queue):
    workers(queues=queue)
    task = wait_finished(submit(brand, operator, "demo.fail", queue, max_retries=1))
    assert task.status == "failed"
    # On PostgreSQL the metrics commit with the outcome; elsewhere they are written right after it.
    metrics = wait_for(lambda: TaskMetrics.objects.filter(pk=task.pk, runs=2).first(), timeout=10,
                       message="the metrics of both runs")
    assert metrics.status == "failed"
    # The two runs may fall in two minutes (the retry waits a second): add up the minute buckets.
    minutes = MetricsRollup.objects.filter(brand=brand, task_type="demo.fail", granularity="m")
    assert minutes.aggregate(r=Sum("retried"), f=Sum("failed"), c=Sum("completed")) == {"r": 1, "f": 1, "c": 0}


def test_run_killed_by_the_hard_time_limit_still_gets_its_wall_time(brand, operator, workers, queue):
    workers(queues=queue)
    task = wait_finished(submit(brand, operator, "demo.hang", queue, timeout_seconds=1,
                                context_data={"seconds": 30}), timeout=40)
    assert task.status == "failed" and "hard time limit" in task.error_message
    m = wait_for(lambda: TaskMetrics.objects.filter(pk=task.pk).first(), message="metrics of the killed run")
    assert m.source == "timestamps" and m.cpu_time_ms is None
    assert m.execution_time_ms >= 10_000  # soft limit 1 s + 10 s grace before the kill
