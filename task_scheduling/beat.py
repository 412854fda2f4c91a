"""Our Beat scheduler: django-celery-beat's DatabaseScheduler for the system entries, plus a batched
path for the schedules of this app.

Why a subclass: the stock scheduler sends one message per due entry, saves each entry, and compares the
whole schedule on every tick, which stalls with thousands of entries (django-celery-beat #650, #675,
#786). Here the rows of our schedules (task `task_scheduling.fire`) are kept out of the parent's schedule
and held in one heap ordered by due time. A tick pops every due schedule and sends one dispatcher message
per batch of up to SCHEDULING_DISPATCH_BATCH (schedule id, due time) pairs. The heap is rebuilt only
when django-celery-beat's change marker moves, so an idle tick is two tiny queries and a heap peek.

Due times are deterministic (cron: the scheduled wall-clock minute in the template's timezone; interval:
anchor + k × interval), so two Beats, or a restarted one, send the same pairs and the dispatcher's
unique claim keeps one run per pair.
"""

import heapq
import logging
import time
from datetime import UTC, datetime

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django_celery_beat.models import PeriodicTask as BeatEntry
from django_celery_beat.models import PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from .beat_sync import BEAT_PREFIX, FIRE_TASK, timing_of_entry

logger = logging.getLogger("megahub.scheduling.beat")

DISPATCH_TASK = "task_scheduling.dispatch"
ENTRY_FIELDS = (
    "name", "last_run_at", "start_time", "crontab__minute", "crontab__hour", "crontab__day_of_month",
    "crontab__month_of_year", "crontab__day_of_week", "crontab__timezone", "interval__every", "interval__period",
    "clocked__clocked_time",
)
FULL_RELOAD_SECONDS = 300


def utcnow() -> datetime:
    return datetime.now(UTC)


class Scheduler(DatabaseScheduler):
    def __init__(self, *args, **kwargs):
        self._ours: list[tuple[datetime, int, object]] = []
        self._ours_ts = None
        self._ours_loaded_at = 0.0
        self._fired: dict[int, datetime] = {}  # schedule id -> last due sent by this process
        self._unsent: list[tuple[int, datetime]] = []
        self._next_cache: dict = {}
        self.ours_loaded = 0
        super().__init__(*args, **kwargs)

    # The parent never sees our rows: it keeps only the system entries.
    def enabled_models_qs(self):
        return super().enabled_models_qs().exclude(task=FIRE_TASK)

    def tick(self, *args, **kwargs):
        parent_sleep = super().tick(*args, **kwargs)
        try:
            ours_sleep = self._tick_ours()
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("Scheduling tick failed, retrying: %s", exc)
            close_old_connections()
            ours_sleep = 1.0
        return min(parent_sleep, ours_sleep)

    # --- our schedules ---------------------------------------------------------------------------

    def _changed(self) -> bool:
        ts = PeriodicTasks.last_change()
        changed = self._ours_ts is None or (ts is not None and ts != self._ours_ts)
        self._ours_ts = ts
        if time.monotonic() - self._ours_loaded_at > FULL_RELOAD_SECONDS:
            return True
        return changed

    def _next(self, timing, after: datetime):
        key = (timing, after)
        value = self._next_cache.get(key)
        if value is None:
            if len(self._next_cache) > 50000:
                self._next_cache.clear()
            value = self._next_cache[key] = timing.next_after(after) or False
        return value or None

    def _first_due(self, timing, after: datetime, now: datetime):
        first = self._next(timing, after)
        if first is not None and first <= now:
            # Overdue (Beat was down, or just restarted): one fire for the latest due time; the
            # dispatcher applies the missed-run policy from its age.
            first = timing.latest_at_or_before(now) or first
        return first

    def load_ours(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        rows = BeatEntry.objects.filter(task=FIRE_TASK, enabled=True).values(*ENTRY_FIELDS)
        heap = []
        timings: dict[tuple, object] = {}
        for row in rows.iterator(chunk_size=2000):
            name = row["name"]
            if not name.startswith(BEAT_PREFIX):
                continue
            sid = int(name[len(BEAT_PREFIX):])
            key = tuple(row[f] for f in ENTRY_FIELDS[2:])
            timing = timings.get(key)
            if timing is None:
                timing = timings[key] = timing_of_entry(row)
            if timing is None:
                continue
            after = max(row["last_run_at"] or now, self._fired.get(sid, row["last_run_at"] or now))
            first = self._first_due(timing, after, now)
            if first is not None:
                heap.append((first, sid, timing))
        heapq.heapify(heap)
        self._ours = heap
        self._ours_loaded_at = time.monotonic()
        self.ours_loaded = len(heap)
        logger.info("Scheduling: %s active schedules loaded", len(heap))
        return len(heap)

    def _tick_ours(self) -> float:
        close_old_connections()
        now = utcnow()
        if self._changed():
            self.load_ours(now)
        due: list[tuple[int, datetime]] = self._unsent
        self._unsent = []
        heap = self._ours
        while heap and heap[0][0] <= now:
            at, sid, timing = heapq.heappop(heap)
            due.append((sid, at))
            self._fired[sid] = at
            nxt = self._next(timing, at)
            if nxt is not None and nxt <= now:
                nxt = self._first_due(timing, at, now)
                if nxt is not None and nxt <= at:
                    nxt = self._next(timing, now)
            if nxt is not None:
                heapq.heappush(heap, (nxt, sid, timing))
        if due:
            self._send(due)
        if self._unsent:
            return 1.0
        if not heap:
            return self.max_interval
        return max(0.0, min(self.max_interval, (heap[0][0] - utcnow()).total_seconds()))

    def _send(self, due: list[tuple[int, datetime]]) -> None:
        size = getattr(settings, "SCHEDULING_DISPATCH_BATCH", 1000)
        sent = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for start in range(0, len(due), size):
                    chunk = due[start:start + size]
                    self.app.send_task(DISPATCH_TASK, args=[[[sid, at.isoformat()] for sid, at in chunk]],
                                       priority=0, producer=producer)
                    sent += len(chunk)
        except Exception as exc:  # broker down: keep the rest and try again next tick
            logger.warning("Could not send %s due schedules, retrying: %s", len(due) - sent, exc)
            self._unsent = due[sent:]
        if sent:
            logger.info("Scheduling: sent %s due schedules in %s message(s)", sent, -(-sent // size))
