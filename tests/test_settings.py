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


def test_the_celery_app_runs_on_the_projects_celery_settings():
    """The app reads a copy of the CELERY_* settings (megahub.celery.CelerySettings): every one of them
    reaches Celery under its own name, Celery's defaults fill in the rest, and nothing is taken for a
    deprecated pre-4.0 setting name (the worker would log a warning for each at start)."""
    from celery.app.defaults import DEFAULTS

    from megahub.celery import app

    ours = {name: getattr(settings, name) for name in dir(settings) if name.startswith("CELERY_")}
    assert ours["CELERY_TASK_ACKS_LATE"] is True and ours["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    checked = 0
    for name, value in ours.items():
        key = name.removeprefix("CELERY_").lower()
        if key in DEFAULTS:
            assert app.conf[key] == value, name
            checked += 1
    assert checked == len(ours) - 1  # all but CELERY_DB_REUSE_MAX, which is not a Celery setting...
    assert app.conf.get("CELERY_DB_REUSE_MAX") == settings.CELERY_DB_REUSE_MAX  # ...read so by its fixup
    assert app.conf.task_default_rate_limit == DEFAULTS["task_default_rate_limit"]  # not set by us: Celery's
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
    assert not app.conf.maybe_warn_deprecated_settings()
