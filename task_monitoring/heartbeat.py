"""Worker heartbeats of our own: the worker's main process upserts its Worker row every
MONITORING_HEARTBEAT_SECONDS (queues, concurrency, active and processed tasks) from a daemon thread, and
marks it offline when it shuts down. A worker killed without a goodbye stops beating; readers and the
alert evaluation count it offline once it has been silent for MONITORING_WORKER_OFFLINE_SECONDS.
"""

import logging
import os
import threading

import celery
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from .models import Worker, WorkerStatus

logger = logging.getLogger("megahub.monitoring")

_beat: "Heartbeat | None" = None


class Heartbeat(threading.Thread):
    def __init__(self, consumer):
        super().__init__(name="megahub-heartbeat", daemon=True)
        self.consumer = consumer
        self.hostname = consumer.hostname
        self.stopping = threading.Event()
        self.started_at = timezone.now()

    def snapshot(self) -> dict:
        from celery.worker import state

        consumer = self.consumer
        queues = sorted(q.name for q in getattr(consumer.task_consumer, "queues", []) or [])
        pool = getattr(consumer, "pool", None)
        concurrency = getattr(pool, "num_processes", None) or getattr(consumer.controller, "concurrency", 0) or 0
        return {"pid": os.getpid(), "queues": queues, "concurrency": concurrency,
                "active": len(state.active_requests), "processed": state.all_total_count[0],
                "status": WorkerStatus.ONLINE, "last_heartbeat": timezone.now(),
                "software": f"celery {celery.__version__}"}

    def beat(self, first: bool = False) -> None:
        values = self.snapshot()
        if first:  # a restart under the same name starts its counts again
            values.update(started_at=self.started_at, failed=0)
        Worker.objects.update_or_create(hostname=self.hostname, defaults=values)

    def run(self):
        first = True
        while not self.stopping.is_set():
            try:
                self.beat(first)
                first = False
            except Exception:  # noqa: BLE001 - the database may be away; beat again later
                logger.warning("Heartbeat of %s could not be written", self.hostname, exc_info=True)
                close_old_connections()
            self.stopping.wait(settings.MONITORING_HEARTBEAT_SECONDS)
        connection.close()


def on_worker_ready(sender=None, **kwargs):
    global _beat
    if sender is None or _beat is not None:
        return
    _beat = Heartbeat(sender)
    _beat.start()


def on_worker_shutdown(sender=None, **kwargs):
    global _beat
    beat, _beat = _beat, None
    if beat is None:
        return
    beat.stopping.set()
    beat.join(timeout=5)
    try:
        Worker.objects.filter(hostname=beat.hostname).update(status=WorkerStatus.OFFLINE, active=0,
                                                             last_heartbeat=timezone.now())
    except Exception:  # noqa: BLE001 - shutting down: the silence marks it offline anyway
        logger.warning("Could not mark %s offline", beat.hostname, exc_info=True)
    finally:
        connection.close()
