"""The worker's consumer: Celery's, with its task events sent in batches.

Celery buffers task events (received, started, succeeded...) but publishes the buffer at every turn of
the worker's event loop, so with one task at a time each event is its own Redis PUBLISH: a round trip
made by the worker's single main process, which bounds how many tasks a worker can run (profiled in
docs/benchmarks.md). This consumer publishes them at most every
WORKER_EVENTS_FLUSH_SECONDS, or as soon as Celery's buffer holds 24. Flower and other event consumers
see each event at most that much later; the task's own record (BaseTask, TaskEvent) is written by the
task, not from these events. Selected by `CELERY_WORKER_CONSUMER` in settings.
"""

import logging
import threading
import time

from celery.worker.consumer import Consumer as CeleryConsumer
from django.conf import settings

logger = logging.getLogger("megahub.worker")


class Consumer(CeleryConsumer):
    _events_flush_at = 0.0  # monotonic time the scheduled flush is due; 0 when none is scheduled

    def on_send_event_buffered(self):
        delay = settings.WORKER_EVENTS_FLUSH_SECONDS
        # The hub's timer is not thread-safe; a pool that sends events from its own threads
        # (`-P threads`) keeps Celery's thread-safe call_soon.
        if not self.hub or delay <= 0 or threading.current_thread() is not threading.main_thread():
            return super().on_send_event_buffered()
        now = time.monotonic()
        # Should the timer entry ever be lost (a reconnect cancels the entries a failed loop registered
        # while starting), a flush long overdue is scheduled again rather than awaited forever. A flush
        # that is merely late then runs twice, which does no harm.
        if self._events_flush_at and now < self._events_flush_at + 10 * delay + 1:
            return
        self._events_flush_at = now + delay
        self.hub.call_later(delay, self._flush_scheduled_events)

    def _flush_scheduled_events(self):
        self._events_flush_at = 0.0
        self._flush_events()

    def _flush_before_stopping(self):
        """What is still buffered goes out before the worker stops (Celery would drop it)."""
        try:
            self._flush_events()
        except Exception as exc:  # noqa: BLE001 - the broker may be what is stopping us
            logger.warning("Could not send the last task events: %s", exc)

    def stop(self):
        self._flush_before_stopping()
        super().stop()

    def shutdown(self):
        self._flush_before_stopping()
        super().shutdown()
