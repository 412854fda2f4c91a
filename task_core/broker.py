"""What the API reads from the broker: reachability, queue lengths, live workers."""

import json
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


# Messages resend_lost_messages reads at most to tell which tasks have theirs (a bigger backlog: it waits).
MESSAGE_SCAN_LIMIT = 10_000


def message_task_ids(queues: list[str], limit: int = MESSAGE_SCAN_LIMIT) -> set[str] | None:
    """The task ids of the messages waiting in `queues` or delivered and not acknowledged yet (a worker
    holds them), on Redis. None when the transport cannot list them or more than `limit` would have to be
    read. Raises BrokerUnavailable.

    The queues are read before the unacknowledged messages, so a message taken meanwhile is seen in one
    of them, except in the instant between a worker's pop and its record of the message: a task then looks
    lost and is sent again, which the worker drops as a duplicate.
    """
    try:
        with _connection() as conn:
            channel = conn.default_channel
            if not hasattr(channel, "unacked_key") or not hasattr(channel, "_q_for_pri"):
                return None
            client = channel.client
            keys = [channel._q_for_pri(q, pri) for q in queues for pri in channel.priority_steps]
            with client.pipeline() as pipe:
                for key in keys:
                    pipe.llen(key)
                pipe.hlen(channel.unacked_key)
                if sum(pipe.execute()) > limit:
                    return None
            with client.pipeline() as pipe:
                for key in keys:
                    pipe.lrange(key, 0, -1)
                payloads = [p for batch in pipe.execute() for p in batch]
            held = client.hvals(channel.unacked_key)
    except Exception as exc:  # noqa: BLE001
        raise BrokerUnavailable(f"The message broker cannot be reached: {str(exc)[:200]}") from exc
    ids = set()
    for raw in payloads:
        with suppress(ValueError, TypeError, AttributeError):
            ids.add(json.loads(raw)["headers"]["id"])
    for raw in held:  # [message, exchange, routing key]
        with suppress(ValueError, TypeError, AttributeError, IndexError, KeyError):
            ids.add(json.loads(raw)[0]["headers"]["id"])
    return ids


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
