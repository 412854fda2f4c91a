"""What the API reads from the broker: reachability, queue lengths, live workers."""

from contextlib import suppress

from celery import current_app
from django.conf import settings
from django.core.cache import cache

from megahub.api.exceptions import BrokerUnavailable


def _connection():
    conn = current_app.connection_for_read()
    conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=2)
    return conn


def broker_check() -> dict:
    try:
        with _connection() as conn:
            conn.default_channel  # noqa: B018 - opening a channel proves the broker answers
        return {"status": "up", "transport": settings.BROKER_KIND}
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        return {"status": "down", "transport": settings.BROKER_KIND, "error": str(exc)[:300]}


def queue_lengths(queues: list[str]) -> dict[str, int]:
    """Messages waiting per queue (all priority levels). Raises BrokerUnavailable."""
    try:
        with _connection() as conn:
            channel = conn.default_channel
            return {name: int(channel._size(name)) for name in queues}
    except Exception as exc:  # noqa: BLE001
        raise BrokerUnavailable(f"The message broker cannot be reached: {str(exc)[:200]}") from exc


WORKERS_ONLINE_CACHE_KEY = "megahub:workers_online"


def workers_online(timeout: float = 1.0) -> list[str]:
    """Hostnames of workers answering a ping; [] when none answer or the broker is down.

    A ping waits its whole timeout for replies, so the answer is kept WORKERS_ONLINE_CACHE_SECONDS in the
    cache: status pages do not each wait for it. A cache that cannot be reached means a ping every time.
    """
    try:
        cached = cache.get(WORKERS_ONLINE_CACHE_KEY)
    except Exception:  # noqa: BLE001 - the cache is an optimisation
        cached = None
    if cached is not None:
        return cached
    try:
        replies = current_app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001
        return []
    online = sorted(name for reply in replies for name in reply)
    if settings.WORKERS_ONLINE_CACHE_SECONDS:
        with suppress(Exception):
            cache.set(WORKERS_ONLINE_CACHE_KEY, online, settings.WORKERS_ONLINE_CACHE_SECONDS)
    return online
