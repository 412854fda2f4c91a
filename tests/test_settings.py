"""Settings derived from the environment."""

import pytest
from django.conf import settings

from megahub.settings import _next_redis_db


@pytest.mark.parametrize(("broker", "cache"), [
    ("redis://127.0.0.1:6379/10", "redis://127.0.0.1:6379/11"),
    ("redis://:secret@redis:6379/0", "redis://:secret@redis:6379/1"),
    ("redis://redis:6379", "redis://redis:6379/1"),
    ("redis://redis:6379/15", "redis://redis:6379/0"),
])
def test_cache_defaults_to_the_next_redis_database(broker, cache):
    assert _next_redis_db(broker) == cache


def test_this_run_keeps_cache_and_broker_apart():
    cache = settings.CACHES["default"]
    if settings.BROKER_KIND.startswith("redis"):
        assert cache["BACKEND"].endswith("RedisCache") and cache["LOCATION"] != settings.CELERY_BROKER_URL
    else:
        assert cache["BACKEND"].endswith("LocMemCache")
