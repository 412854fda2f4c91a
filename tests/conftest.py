import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from task_core.choices import BrandRole
from task_core.models import Brand, BrandMembership

from .live import LiveWorker


def pytest_report_header(config):
    return f"megahub: database={settings.DB_VENDOR} broker={settings.BROKER_KIND}"


def pytest_collection_modifyitems(config, items):
    """Tests marked `redis` need the Redis broker; on the embedded default they are reported skipped."""
    if settings.BROKER_KIND.startswith("redis"):
        return
    skip = pytest.mark.skip(reason="needs REDIS_URL (Redis broker); run by .ci/run")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _clean_broker():
    """Start from an empty test broker so messages of an earlier run never execute here."""
    if settings.BROKER_KIND.startswith("redis"):
        import redis

        redis.Redis.from_url(settings.CELERY_BROKER_URL).flushdb()
    elif settings.BROKER_KIND == "filesystem":
        for sub in ("queue", "control"):
            for f in (settings.BROKER_DIR / sub).glob("*"):
                f.unlink(missing_ok=True)


@pytest.fixture(autouse=True)
def _clear_cache():
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def brand(db):
    return Brand.objects.create(name="Humari", slug="humari")


@pytest.fixture
def other_brand(db):
    return Brand.objects.create(name="Acme", slug="acme")


def _member(username, brand, role):
    user = get_user_model().objects.create_user(username=username, password=f"{username}-pass-123")
    if brand is not None:
        BrandMembership.objects.create(user=user, brand=brand, role=role)
    return user


@pytest.fixture
def viewer(brand):
    return _member("vera", brand, BrandRole.VIEWER)


@pytest.fixture
def operator(brand):
    return _member("martin", brand, BrandRole.OPERATOR)


@pytest.fixture
def brand_admin(brand):
    return _member("alice", brand, BrandRole.ADMIN)


@pytest.fixture
def outsider(other_brand):
    """An operator of the other brand only."""
    return _member("oscar", other_brand, BrandRole.OPERATOR)


@pytest.fixture
def superuser(db):
    return get_user_model().objects.create_superuser(username="root", password="root-pass-123")


@pytest.fixture
def api():
    """api(user, brand) -> an APIClient with a real JWT and the X-Brand-ID header."""

    def make(user=None, brand=None):
        client = APIClient()
        if user is not None:
            token = RefreshToken.for_user(user).access_token
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        if brand is not None:
            client.defaults["HTTP_X_BRAND_ID"] = str(brand.pk if hasattr(brand, "pk") else brand)
        return client

    return make


@pytest.fixture
def operator_api(api, operator, brand):
    return api(operator, brand)


@pytest.fixture(scope="session")
def live_worker(django_db_setup, django_db_blocker):
    """One real Celery worker process for the session, on the test database and broker.

    Tests using it need @pytest.mark.django_db(transaction=True) so the worker sees their rows.
    """
    worker = LiveWorker(name="session-worker").start()
    yield worker
    worker.stop()
