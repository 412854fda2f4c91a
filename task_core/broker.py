"""What the API reads from the broker: reachability, queue lengths, live workers."""

from celery import current_app
from django.conf import settings

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


def workers_online(timeout: float = 1.0) -> list[str]:
    """Hostnames of workers answering a ping; [] when none answer or the broker is down."""
    try:
        replies = current_app.control.ping(timeout=timeout) or []
    except Exception:  # noqa: BLE001
        return []
    return sorted(name for reply in replies for name in reply)
