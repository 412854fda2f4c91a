"""/metrics: token-protected, parsed with prometheus_client's own parser."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .factories import finished_task

pytestmark = pytest.mark.django_db


def test_metrics_is_404_without_a_token_configured(client, settings):
    settings.PROMETHEUS_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404


def test_metrics_needs_the_bearer_token(client, settings):
    settings.PROMETHEUS_METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_metrics_parse_and_match_the_runs(client, settings, brand, other_brand):
    settings.PROMETHEUS_METRICS_TOKEN = "s3cret"
    finished_task(brand, wall_ms=40)
    finished_task(other_brand, wall_ms=3000)
    finished_task(brand, "demo.fail", wall_ms=10, status="failed")
    resp = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret")
    assert resp.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(resp.content.decode())}
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families.values() for s in f.samples}
    assert samples[("megahub_tasks_total", (("status", "completed"), ("task_type", "demo.echo")))] == 2
    assert samples[("megahub_tasks_total", (("status", "failed"), ("task_type", "demo.fail")))] == 1
    assert samples[("megahub_task_duration_seconds_bucket", (("le", "0.05"), ("task_type", "demo.echo")))] == 1
    assert samples[("megahub_task_duration_seconds_bucket", (("le", "+Inf"), ("task_type", "demo.echo")))] == 2
    assert samples[("megahub_task_duration_seconds_sum", (("task_type", "demo.echo"),))] == pytest.approx(3.04)
    assert "megahub_workers_online" in families and "megahub_queue_length" in families
    settings.PROMETHEUS_BRAND_LABEL = True
    body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()
    assert f'brand="{brand.pk}"' in body and f'brand="{other_brand.pk}"' in body


def test_schedules_by_status_are_a_gauge(client, settings, brand, other_brand, operator):
    """task_scheduling's dashboard section is exposed too (core's dashboard hook; monitoring imports no app)."""
    from task_scheduling.models import Schedule
    from task_scheduling.services import templates

    settings.PROMETHEUS_METRICS_TOKEN = "s3cret"
    for owner, name in ((brand, "a"), (brand, "b"), (other_brand, "c")):
        templates.template_create(brand=owner, created_by=operator, name=name, task_type="demo.echo",
                                  parameters={"message": "hi"}, kind="interval", interval_seconds=3600)
    Schedule.objects.filter(periodic_task__name="b").update(status="paused")

    def samples():
        body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").content.decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(body) for s in f.samples if s.name == "megahub_schedules"}

    assert samples()[("megahub_schedules", (("status", "active"),))] == 2
    assert samples()[("megahub_schedules", (("status", "paused"),))] == 1
    settings.PROMETHEUS_BRAND_LABEL = True
    assert samples()[("megahub_schedules", (("brand", str(brand.pk)), ("status", "active")))] == 1
    assert samples()[("megahub_schedules", (("brand", str(other_brand.pk)), ("status", "active")))] == 1
