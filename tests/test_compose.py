"""docker-compose.yml cannot run here (no Docker engine), so it is checked by parsing it against the code."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS_SRC = (ROOT / "megahub" / "settings.py").read_text()
SERVICES = COMPOSE["services"]


def test_compose_runs_the_production_shape():
    assert {"postgres", "redis", "migrate", "web", "worker", "beat"} <= set(SERVICES)
    assert "gunicorn megahub.wsgi" in " ".join(SERVICES["web"]["command"])
    assert SERVICES["worker"]["command"][:4] == ["celery", "-A", "megahub", "worker"]
    assert "-E" in SERVICES["worker"]["command"]  # task events, for Flower
    assert SERVICES["beat"]["command"][:4] == ["celery", "-A", "megahub", "beat"]


def test_web_worker_and_beat_start_after_the_migration_and_restart_on_failure():
    assert SERVICES["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert SERVICES["migrate"]["restart"] == "no"
    for name in ("web", "worker", "beat"):
        assert SERVICES[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        assert SERVICES[name]["restart"] == "unless-stopped", name
        assert "migrate" not in " ".join(SERVICES[name]["command"]), f"{name} must not race the migrate service"


def test_cache_never_shares_the_broker_database():
    """Clearing a Django cache is FLUSHDB: on the broker's database it would drop queued messages."""
    env = SERVICES["web"]["environment"]
    assert env["CACHE_URL"].startswith("redis://redis:6379/")
    assert env["CACHE_URL"] != env["CELERY_BROKER_URL"]


def test_image_build_context_leaves_out_local_state():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for local in (".git", ".venv", "var"):
        assert local in ignored, local


def test_app_services_share_one_image_and_the_settings_variables():
    app_services = [SERVICES[name] for name in ("web", "worker", "beat")]
    assert len({s["image"] for s in app_services}) == 1
    assert all(s["build"] == "." for s in app_services)
    for service in app_services:
        env = service["environment"]
        for name in env:
            assert f'"{name}"' in SETTINGS_SRC, f"{name} is set by compose but not read by settings.py"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://redis:6379")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"


def test_compose_has_no_default_secrets():
    """Without SECRET_KEY and JWT_SIGNING_KEY set, `docker compose up` stops with an error."""
    env = SERVICES["web"]["environment"]
    for name in ("SECRET_KEY", "JWT_SIGNING_KEY"):
        assert env[name] == f"${{{name}:?set {name}}}", env[name]


def test_compose_database_credentials_match_the_postgres_service():
    pg = SERVICES["postgres"]["environment"]
    url = SERVICES["web"]["environment"]["DATABASE_URL"]
    assert url == f"postgres://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}@postgres:5432/{pg['POSTGRES_DB']}"


def test_services_have_health_checks_and_web_checks_a_real_route():
    for name in ("postgres", "redis", "web", "worker", "beat"):
        assert "healthcheck" in SERVICES[name], name
    probe = " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "/healthz" in probe
    assert SERVICES["beat"]["healthcheck"]["test"][1:4] == ["python", "manage.py", "beat_health"]


def test_healthz_route_used_by_compose_answers(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_dockerfile_builds_the_image_compose_uses():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11" in dockerfile
    assert "requirements.lock" in dockerfile
    assert "gunicorn" in dockerfile
