"""/tasks/scheduled/executions/: every scheduled run of the brand, one run, recent, failed, stats; and the
periodic-task list's ordering."""

from datetime import timedelta

import pytest
from django.utils import timezone

from task_core.models import BaseTask
from task_scheduling.models import ScheduledRun, ScheduleTemplate

from .helpers import P, assert_error, create

pytestmark = pytest.mark.django_db
E = "/tasks/scheduled/executions/"


def _run(brand, template, *, hours_ago, status=None, seconds=1, outcome="fired", task_type="demo.echo", **task):
    now = timezone.now()
    t = None
    if status is not None:
        t = BaseTask.objects.create(brand=brand, task_type=task_type, status=status, origin="schedule",
                                    started_at=now, completed_at=now + timedelta(seconds=seconds), **task)
    return ScheduledRun.objects.create(brand=brand, periodic_task=template, task=t, outcome=outcome,
                                       due_at=now - timedelta(hours=hours_ago))


@pytest.fixture
def runs(operator_api, brand, other_brand):
    a = ScheduleTemplate.objects.get(pk=create(operator_api).json()["id"])
    b = ScheduleTemplate.objects.get(pk=create(operator_api, name="seo", task_type="seo_keyword_analysis",
                                               parameters={"keyword_ids": [1]}).json()["id"])
    foreign = ScheduleTemplate.objects.create(brand=other_brand, name="x", task_type="demo.echo")
    return {
        "ok1": _run(brand, a, hours_ago=1, status="completed", seconds=1),
        "ok2": _run(brand, a, hours_ago=2, status="completed", seconds=3),
        "bad": _run(brand, a, hours_ago=30, status="failed", error_message="boom",
                    error_traceback="Traceback (most recent call last):\n  ...\nRuntimeError: boom"),
        "skip": _run(brand, a, hours_ago=3, outcome="skipped_overlap"),
        "seo": _run(brand, b, hours_ago=0.5, status="completed", seconds=10, task_type="seo_keyword_analysis"),
        "old": _run(brand, b, hours_ago=24 * 10, status="failed", task_type="seo_keyword_analysis"),
        "foreign": _run(other_brand, foreign, hours_ago=1, status="completed"),
        "a": a, "b": b, "foreign_template": foreign,
    }


def ids(resp):
    assert resp.status_code == 200, resp.json()
    return [r["id"] for r in resp.json()["results"]]


def test_every_run_of_the_brand_newest_first_and_filters(operator_api, runs):
    r = runs
    assert ids(operator_api.get(E)) == [r[k].pk for k in ("seo", "ok1", "ok2", "skip", "bad", "old")]
    assert ids(operator_api.get(E, {"task_type": "seo_keyword_analysis"})) == [r["seo"].pk, r["old"].pk]
    assert ids(operator_api.get(E, {"status": "failed"})) == [r["bad"].pk, r["old"].pk]
    assert ids(operator_api.get(E, {"periodic_task": r["b"].pk})) == [r["seo"].pk, r["old"].pk]
    since = (timezone.now() - timedelta(hours=2.5)).isoformat()
    until = (timezone.now() - timedelta(minutes=45)).isoformat()
    assert ids(operator_api.get(E, {"since": since, "until": until})) == [r["ok1"].pk, r["ok2"].pk]
    assert ids(operator_api.get(E, {"limit": 2})) == [r["seo"].pk, r["ok1"].pk]
    assert_error(operator_api.get(E, {"periodic_task": r["foreign_template"].pk}), 400, "VALIDATION_ERROR",
                 "periodic_task")
    assert_error(operator_api.get(E, {"limit": 0}), 400, "VALIDATION_ERROR", "limit")
    assert_error(operator_api.get(E, {"connection": 1}), 400, "VALIDATION_ERROR", "connection")


def test_one_run_carries_its_error_and_the_run_now_id_fetches_it(operator_api, runs):
    bad = operator_api.get(f"{E}{runs['bad'].pk}/").json()
    assert bad["status"] == "failed" and bad["is_success"] is False
    assert bad["error_message"] == "boom" and bad["error_traceback"].endswith("RuntimeError: boom")
    assert_error(operator_api.get(f"{E}{runs['foreign'].pk}/"), 404, "EXECUTION_NOT_FOUND")

    run_now = operator_api.post(f"{P}{runs['a'].pk}/run-now/").json()
    fetched = operator_api.get(f"{E}{run_now['execution_id']}/")
    assert fetched.status_code == 200 and fetched.json()["task_id"] == run_now["task_id"]
    assert fetched.json()["outcome"] == "manual"


def test_recent_and_failed_windows(operator_api, runs):
    r = runs
    assert ids(operator_api.get(f"{E}recent/")) == [r[k].pk for k in ("seo", "ok1", "ok2", "skip")]
    assert ids(operator_api.get(f"{E}recent/?hours=1")) == [r["seo"].pk]
    assert ids(operator_api.get(f"{E}failed/")) == [r["bad"].pk]
    assert ids(operator_api.get(f"{E}failed/?days=30")) == [r["bad"].pk, r["old"].pk]
    assert_error(operator_api.get(f"{E}failed/?day=3"), 400, "VALIDATION_ERROR", "day")
    assert_error(operator_api.get(f"{E}recent/?hours=0"), 400, "VALIDATION_ERROR", "hours")


def test_stats_global_and_of_one_periodic_task(operator_api, runs):
    stats = operator_api.get(f"{E}stats/").json()
    assert stats["total_runs"] == 6
    assert stats["by_status"]["completed"] == 3 and stats["by_status"]["failed"] == 2
    assert stats["by_status"]["skipped_overlap"] == 1 and stats["by_status"]["running"] == 0
    assert stats["success_rate"] == pytest.approx(3 / 5)
    assert stats["average_duration_seconds"] == pytest.approx(14 / 3, abs=1e-3)
    assert stats["p95_duration_seconds"] == 10.0 and stats["next_run_at"] is None
    one = operator_api.get(f"{E}stats/", {"periodic_task": runs["a"].pk}).json()
    assert (one["total_runs"], one["successful_runs"], one["failed_runs"]) == (4, 2, 1)
    assert one["p95_duration_ms"] == 3000 and one["next_run_at"] is not None
    assert_error(operator_api.get(f"{E}stats/", {"periodic_task": runs["foreign_template"].pk}), 400,
                 "VALIDATION_ERROR", "periodic_task")


def test_periodic_task_list_ordering(operator_api):
    for name, cron in [("b", "0 3 * * *"), ("a", "0 5 * * *"), ("c", "0 1 * * *")]:
        create(operator_api, name=name, cron_expression=cron, timezone="UTC")

    def names(ordering):
        return [t["name"] for t in operator_api.get(P, {"ordering": ordering}).json()["results"]]

    assert names("name") == ["a", "b", "c"] and names("-name") == ["c", "b", "a"]
    assert names("created_at") == ["b", "a", "c"]
    now = timezone.now()
    by_next = sorted(["a", "b", "c"], key=lambda n: (now.replace(hour={"a": 5, "b": 3, "c": 1}[n], minute=0,
                                                                   second=0, microsecond=0) - now) % timedelta(days=1))
    assert names("next_run_at") == by_next
    assert_error(operator_api.get(P, {"ordering": "task_type"}), 400, "VALIDATION_ERROR", "ordering")
