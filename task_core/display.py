"""How the staff pages show values: times to the second, durations, JSON, and links to tasks by task id.

Shared by every app's admin, so a time or a task id reads the same on every page."""

import json
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince, timeuntil

_UUID = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")


def when(value: datetime | None, tz_name: str | None = None) -> str:
    """`2025-03-30 02:30:05 CEST`: to the second, in `tz_name` (else the project's time zone)."""
    if value is None:
        return "-"
    try:
        zone = ZoneInfo(tz_name) if tz_name else timezone.get_current_timezone()
    except (ValueError, KeyError):
        zone = timezone.get_current_timezone()
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")


def when_relative(value: datetime | None, tz_name: str | None = None) -> str:
    """`2025-03-30 03:00:00 CEST (in 2 hours, 5 minutes)`, or `(... ago)`."""
    if value is None:
        return "-"
    now = timezone.now()
    relative = f"in {timeuntil(value, now)}" if value > now else f"{timesince(value, now)} ago"
    return f"{when(value, tz_name)} ({relative})"


def duration(delta: timedelta | None) -> str:
    """`850 ms`, `12.4 s`, `3 min 05 s`, `2 h 03 min`; `-` when unknown."""
    if delta is None:
        return "-"
    seconds = max(delta.total_seconds(), 0.0)
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def json_block(value) -> str:
    """Indented JSON in a <pre>, as a person reads it."""
    if value is None:
        return "-"
    text = json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)
    return format_html('<pre class="megahub-json">{}</pre>', text)


def task_url(task_id) -> str:
    """The admin page of the task with this public task id (a redirect that finds its row)."""
    return reverse("admin:task_core_basetask_by_task_id", args=[str(task_id)])


def task_link(task_id) -> str:
    if not task_id:
        return "-"
    return format_html('<a href="{}" class="megahub-task-link">{}</a>', task_url(task_id), task_id)


def linkify_task_ids(text: str) -> str:
    """`text` with every task id (a UUID) in it linked to the task's page."""
    parts = _UUID.split(text or "")
    ids = _UUID.findall(text or "")
    if not ids:
        return text or ""
    pieces = [(parts[0], "")] + [(task_link(i), p) for i, p in zip(ids, parts[1:], strict=True)]
    return format_html_join("", "{}{}", pieces)
