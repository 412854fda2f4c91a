"""kombu's Redis transport, with one client object per channel for its synchronous commands.

kombu builds a new `redis.Redis` for every publish (and every event a worker sends), which copies its
~170 response callbacks each time: a sizeable share of a publish's CPU (docs/benchmarks.md).
The client is only a thread-safe handle on the channel's connection pool, so one per pool does the same.
Selected by `CELERY_BROKER_TRANSPORT` in settings when the broker URL is `redis://`.
"""

from kombu.transport import redis


class Channel(redis.Channel):
    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._sync_client
        if client is None or client.connection_pool is not self.pool:  # a new pool after a reconnect
            client = self._sync_client = super()._create_client()
        return client


class Transport(redis.Transport):
    Channel = Channel
