"""Workers from their own heartbeats: online while running, offline once stopped."""

import pytest

from task_monitoring.models import Worker

from ..live import wait_for
from .conftest import submit, wait_finished

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def test_worker_goes_online_then_offline_when_it_stops(operator_api, brand, operator, queue):
    from ..live import LiveWorker, child_env

    worker = LiveWorker(concurrency=2, queues=queue, env=child_env(MONITORING_HEARTBEAT_SECONDS="0.5")).start()
    try:
        row = wait_for(lambda: Worker.objects.filter(hostname=worker.hostname, concurrency=2).first(),
                       message="the worker's heartbeat")
        assert row.queues == [queue] and row.pid == worker.proc.pid
        wait_finished(submit(brand, operator, "demo.echo", queue))
        wait_for(lambda: Worker.objects.filter(hostname=worker.hostname, processed__gte=1).exists(),
                 message="processed count")
        listed = {w["hostname"]: w for w in operator_api.get("/tasks/monitoring/workers/").json()}
        assert listed[worker.hostname]["online"] is True
        overview = operator_api.get("/tasks/monitoring/workers/overview/").json()
        assert overview["online"] >= 1 and overview["total_slots"] >= 2
        assert any(q["name"] == queue and worker.hostname in q["consumers"] for q in overview["queues"])
    finally:
        worker.stop()
    row = Worker.objects.get(hostname=worker.hostname)
    assert row.status == "offline"
    listed = {w["hostname"]: w for w in operator_api.get("/tasks/monitoring/workers/").json()}
    assert listed[worker.hostname]["online"] is False
    assert operator_api.get("/tasks/monitoring/workers/overview/").json()["offline"] >= 1
