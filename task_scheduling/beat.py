"""Our Beat scheduler: django-celery-beat's DatabaseScheduler for the system entries, plus a batched
path for the schedules of this app.

Why a subclass: the stock scheduler sends one message per due entry, saves each entry, and compares the
whole schedule on every tick, which stalls with thousands of entries (django-celery-beat #650, #675,
#786). Here the rows of our schedules (task `task_scheduling.fire`) are kept out of the parent's schedule
and held in one heap ordered by due time. A tick pops every due schedule and sends one firing message
per batch of up to SCHEDULING_DISPATCH_BATCH `[schedule id, due time, sent at, since]` items. When
django-celery-beat's change marker moves, only the rows changed since the last read (their
`date_changed`) are read again; everything is reloaded when a row disappears and every 5 minutes. An idle
tick adds a heap peek to the parent's tick (the change marker it reads is reused).

Due times are deterministic (cron: the scheduled wall-clock minute in the template's timezone; interval:
anchor + k × interval), so two Beats, or a restarted one, send the same pairs and the firing's
unique claim keeps one run per pair.

Nothing is lost silently:
- a row Beat cannot read (bad name, unknown timezone, an expression croniter rejects) is skipped and
  logged, never fatal;
- due times Beat could not fire on time (it was down, or a tick came late) collapse into the latest one,
  and the item says since when, so the firing records how many were collapsed;
- a batch the broker refused is kept and sent again next tick;
- a batch whose message vanished (say, with a SIGKILLed worker: Redis would hand it back only after its
  visibility timeout, hours later) is sent again: after SCHEDULING_CONFIRM_SECONDS Beat looks for the
  claim row of each (schedule, due time) it sent and re-sends those without one whose schedule is still
  active (with their original `sent at`, so they are not taken for missed runs). Re-sending is safe:
  the claims refuse duplicates.
"""

import heapq
import logging
import time
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections
from django.db.models import CharField
from django.db.models.functions import Cast
from django_celery_beat.models import PeriodicTask as BeatEntry
from django_celery_beat.models import PeriodicTasks
from django_celery_beat.schedulers import DatabaseScheduler

from megahub.iterables import chunked

from .beat_names import BEAT_PREFIX, FIRE_DUE_TASK, FIRE_TASK, schedule_id_of
from .beat_sync import timing_of_entry
from .choices import ScheduleStatus
from .heartbeat import beat_alive
from .models import Schedule, ScheduledRun

logger = logging.getLogger("megahub.scheduling.beat")

ENTRY_FIELDS = (
    "name", "last_run_at", "start_time", "crontab__minute", "crontab__hour", "crontab__day_of_month",
    "crontab__month_of_year", "crontab__day_of_week", "crontab_tz", "interval__every", "interval__period",
    "clocked__clocked_time",
)
FULL_RELOAD_SECONDS = 300
# Re-read the rows changed this long before the newest change seen (clock skew, long transactions).
CHANGE_OVERLAP_SECONDS = 60
CONFIRM_CHECK_SECONDS = 10  # how often Beat looks for sent batches nobody handled
CONFIRM_MAX_RESENDS = 10


def utcnow() -> datetime:
    return datetime.now(UTC)


class UnnamedRow(ValueError):
    """A `task_scheduling.fire` row whose name names no schedule."""


class Scheduler(DatabaseScheduler):
    #: extra options of the firing messages (send_task keywords), e.g. {"queue": "..."}
    fire_options: dict = {}

    def __init__(self, *args, **kwargs):
        self._ours: list[tuple] = []  # heap of (due, schedule id, version, timing, since)
        self._version: dict[int, int] = {}  # schedule id -> version of its valid heap entry
        self._enabled: set[int] = set()  # ids of the enabled rows known to this process
        self._unnamed: set[str] = set()  # enabled rows whose name names no schedule (skipped)
        self._watermark: datetime | None = None  # newest date_changed seen
        self._ours_ts = None
        self._ours_loaded_at = -FULL_RELOAD_SECONDS
        self._fired: dict[int, datetime] = {}  # schedule id -> last due sent by this process
        self._unsent: list[tuple] = []  # (sid, due, sent_at, since) the broker refused
        self._pending: dict[tuple[int, datetime], list] = {}  # (sid, due) -> [sent_at, since, sent_mono, resends]
        self._pending_checked = 0.0
        self._next_cache: dict = {}
        self.ours_loaded = 0
        self.ours_skipped = 0
        super().__init__(*args, **kwargs)

    # The parent never sees our rows: it keeps only the system entries.
    def enabled_models_qs(self):
        return super().enabled_models_qs().exclude(task=FIRE_TASK)

    def tick(self, *args, **kwargs):
        parent_sleep = super().tick(*args, **kwargs)
        try:
            # The parent read the change marker during its tick: no second query for it.
            ours_sleep = self._tick_ours(change_marker=self._last_timestamp)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("Scheduling tick failed, retrying: %s", exc)
            close_old_connections()
            ours_sleep = 1.0
        else:
            beat_alive()  # only a tick that reached the database counts (manage.py beat_health)
        return min(parent_sleep, ours_sleep)

    # --- our schedules ---------------------------------------------------------------------------

    def _refresh_if_changed(self, now: datetime, change_marker: datetime | None = None) -> None:
        """Reload when django-celery-beat's change marker moved: only the rows changed since the last look
        (their date_changed), unless a row went away (then, and every FULL_RELOAD_SECONDS, everything)."""
        ts = change_marker or PeriodicTasks.last_change()
        changed = ts is not None and ts != self._ours_ts
        self._ours_ts = ts
        if time.monotonic() - self._ours_loaded_at > FULL_RELOAD_SECONDS:
            self.load_ours(now)
        elif changed:
            self.load_ours(now, full=False)

    def _next(self, timing, after: datetime):
        key = (timing, after)
        value = self._next_cache.get(key)
        if value is None:
            if len(self._next_cache) > 50000:
                self._next_cache.clear()
            value = self._next_cache[key] = timing.next_after(after) or False
        return value or None

    def _first_due(self, timing, after: datetime, now: datetime) -> tuple[datetime | None, datetime | None]:
        """(first due time after `after`, since): when that is already past (Beat was down, or the tick
        came late), one fire for the latest due time instead, and `since` = `after`, so the firing
        records what was collapsed and applies the missed-run policy from its age."""
        first = self._next(timing, after)
        if first is not None and first <= now:
            latest = timing.latest_at_or_before(now) or first
            return latest, (after if latest > first else None)
        return first, None

    def load_ours(self, now: datetime | None = None, full: bool = True) -> int:
        """Read our Beat rows: all enabled ones (full), or those changed since the last read. Returns the
        number of schedules with a next fire."""
        started = time.monotonic()
        now = now or utcnow()
        rows = BeatEntry.objects.filter(task=FIRE_TASK)
        if full:
            rows = rows.filter(enabled=True)
            self._ours, self._version, self._enabled, self._unnamed = [], {}, set(), set()
            self._ours_loaded_at = started
        else:
            rows = rows.filter(date_changed__gte=self._watermark - timedelta(seconds=CHANGE_OVERLAP_SECONDS))
        # The timezone is read as text: django-timezone-field raises on an unknown zone while reading, which
        # would end the whole load; as text, only that row fails (below).
        rows = rows.annotate(crontab_tz=Cast("crontab__timezone", CharField())).values(
            *ENTRY_FIELDS, "enabled", "date_changed")
        timings: dict[tuple, object] = {}
        added: list[tuple] = []
        seen = skipped = 0
        watermark = now if full else self._watermark
        for row in rows.iterator(chunk_size=2000):
            seen += 1
            watermark = max(watermark, row["date_changed"] or watermark)
            self._unnamed.discard(row["name"])
            try:
                entry = self._entry_of(row, timings, now)
            except Exception as exc:  # noqa: BLE001 - one bad row never stops Beat
                if isinstance(exc, UnnamedRow) and row["enabled"]:
                    self._unnamed.add(row["name"])  # counted, or every refresh would look like a deletion
                skipped += 1
                logger.error("Scheduling: Beat row %r skipped: %s: %s", row.get("name"), type(exc).__name__, exc)
                continue
            if entry is not None:
                added.append(entry)
        self._watermark = watermark
        if full:
            heapq.heapify(added)
            self._ours = added
        else:
            known = len(self._enabled) + len(self._unnamed)
            if BeatEntry.objects.filter(task=FIRE_TASK, enabled=True).count() != known:
                return self.load_ours(now)  # rows were deleted: start over
            for entry in added:
                heapq.heappush(self._ours, entry)
            if len(self._ours) > 2 * len(self._version) + 1000:  # drop the superseded entries
                self._ours = [e for e in self._ours if self._version.get(e[1]) == e[2]]
                heapq.heapify(self._ours)
        active = sum(1 for e in self._ours if self._version.get(e[1]) == e[2]) if not full else len(added)
        self.ours_loaded, self.ours_skipped = active, skipped
        what = "loaded" if full else f"refreshed ({seen} changed rows read)"
        logger.info("Scheduling: %s active schedules %s in %.3fs%s", active, what, time.monotonic() - started,
                    f" ({skipped} unreadable rows skipped)" if skipped else "")
        return active

    def _entry_of(self, row: dict, timings: dict, now: datetime):
        """The heap entry of a row, or None (disabled, or nothing left to fire). Supersedes the schedule's
        previous entry, if any."""
        sid = schedule_id_of(row["name"])
        if sid is None:
            raise UnnamedRow(f"not a schedule row name (expected {BEAT_PREFIX}<id>)")
        version = self._version[sid] = self._version.get(sid, 0) + 1
        if not row["enabled"]:
            self._enabled.discard(sid)
            return None
        self._enabled.add(sid)
        key = tuple(row[f] for f in ENTRY_FIELDS[2:])
        timing = timings.get(key)
        if timing is None:
            timing = timings[key] = timing_of_entry(row)
            if timing is not None:
                timing.next_after(now)  # validates the expression and the timezone once per timing
        if timing is None:
            return None
        last = row["last_run_at"] or now
        after = max(last, self._fired.get(sid, last))
        first, since = self._first_due(timing, after, now)
        return None if first is None else (first, sid, version, timing, since)

    def _tick_ours(self, change_marker: datetime | None = None) -> float:
        close_old_connections()
        now = utcnow()
        self._refresh_if_changed(now, change_marker)
        due: list[tuple] = self._unsent
        self._unsent = []
        heap = self._ours
        while heap and heap[0][0] <= now:
            at, sid, version, timing, since = heapq.heappop(heap)
            if self._version.get(sid) != version:
                continue  # superseded by a change of its row
            due.append((sid, at, now, since))
            self._fired[sid] = at
            nxt, nxt_since = self._next(timing, at), None
            if nxt is not None and nxt <= now:  # this tick came late: collapse what it overran
                nxt, nxt_since = self._first_due(timing, at, now)
                if nxt is not None and nxt <= at:
                    nxt, nxt_since = self._next(timing, now), None
            if nxt is not None:
                heapq.heappush(heap, (nxt, sid, version, timing, nxt_since))
        if due:
            self._send(due)
        self._confirm()
        if self._unsent:
            return 1.0
        while heap and self._version.get(heap[0][1]) != heap[0][2]:
            heapq.heappop(heap)
        wait = self.max_interval if not heap else (heap[0][0] - utcnow()).total_seconds()
        if self._pending:
            wait = min(wait, CONFIRM_CHECK_SECONDS)
        return max(0.0, min(self.max_interval, wait))

    def _send(self, due: list[tuple], resend: bool = False) -> None:
        size = settings.SCHEDULING_DISPATCH_BATCH
        sent = 0
        try:
            with self.app.producer_or_acquire() as producer:
                for chunk in chunked(due, size):
                    self.app.send_task(FIRE_DUE_TASK, args=[[_wire(item) for item in chunk]],
                                       producer=producer, **{"priority": 0, **self.fire_options})
                    sent += len(chunk)
        except Exception as exc:  # broker down: keep the rest and try again next tick
            logger.warning("Could not send %s due schedules, retrying: %s", len(due) - sent, exc)
            if not resend:
                self._unsent = due[sent:]
        mono = time.monotonic()
        for sid, at, sent_at, since in due[:sent]:
            state = self._pending.get((sid, at))
            if state is None:
                self._pending[(sid, at)] = [sent_at, since, mono, 0]
            else:
                state[2], state[3] = mono, state[3] + 1
        if sent:
            # A few items are listed (schedule@due), so an operator can follow one schedule's fires.
            listed = "" if sent > 20 else ": " + " ".join(f"{sid}@{at.isoformat()}" for sid, at, _, _ in due[:sent])
            logger.info("Scheduling: %s %s due schedules in %s message(s)%s", "re-sent" if resend else "sent",
                        sent, -(-sent // size), listed)

    def _confirm(self) -> None:
        """Re-send the items whose firing left no claim after SCHEDULING_CONFIRM_SECONDS."""
        mono = time.monotonic()
        if not self._pending or mono - self._pending_checked < CONFIRM_CHECK_SECONDS:
            return
        self._pending_checked = mono
        wait = settings.SCHEDULING_CONFIRM_SECONDS
        old = sorted(key for key, state in self._pending.items() if mono - state[2] >= wait)
        again = []
        for chunk in chunked(old):
            ids = {sid for sid, _ in chunk}
            claimed = set(ScheduledRun.objects.filter(schedule_id__in=ids, due_at__in={at for _, at in chunk})
                          .values_list("schedule_id", "due_at"))
            active = set(Schedule.objects.filter(pk__in=ids, status=ScheduleStatus.ACTIVE)
                         .values_list("pk", flat=True))
            for sid, at in chunk:
                state = self._pending[(sid, at)]
                if (sid, at) in claimed or sid not in active:
                    del self._pending[(sid, at)]  # handled, or nothing to fire any more
                elif state[3] >= CONFIRM_MAX_RESENDS:
                    del self._pending[(sid, at)]
                    logger.error("Scheduling: schedule %s due %s was sent %s times and never handled; giving up",
                                 sid, at.isoformat(), state[3] + 1)
                else:
                    again.append((sid, at, state[0], state[1]))
        if again:
            logger.warning("Scheduling: %s due schedules sent %ss ago left no trace; sending them again",
                           len(again), wait)
            self._send(again, resend=True)


def _wire(item: tuple) -> list:
    sid, at, sent_at, since = item
    return [sid, at.isoformat(), sent_at.isoformat(), since.isoformat() if since else None]
