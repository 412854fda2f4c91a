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


def test_deploy_check_refuses_the_development_secrets(settings):
    from django.core.management import call_command
    from django.core.management.base import SystemCheckError

    with pytest.raises(SystemCheckError, match="SECRET_KEY is the development default"):
        call_command("check", "--deploy", "--fail-level", "ERROR")
    settings.SECRET_KEY = "a-real-secret-" * 4
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": "another-real-secret-" * 3}
    from megahub.checks import development_secrets

    assert development_secrets(None) == []
