"""/tasks/scheduled/executions/: every scheduled run of the brand, one run, recent, failed, stats; and the
periodic-task list's ordering."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from task_core.choices import TaskStatus
from task_core.models import BaseTask
from task_core.state_machine import transition
from task_scheduling.models import ScheduledRun, ScheduleTemplate
from tests.lists import cursor_walk, queries_per_size

from ..helpers import finish, run_of
from .helpers import P, assert_error, create

pytestmark = pytest.mark.django_db
E = "/tasks/scheduled/executions/"


def _run(brand, template, *, hours_ago, status=None, seconds=1, outcome="fired", task_type="demo.echo", **task):
    now = timezone.now()
    t = None
    if status is not None:
        t = BaseTask.objects.create(brand=brand, task_type=task_type, status=status, origin="schedule",
                                    started_at=now, completed_at=now + timedelta(seconds=seconds), **task)
    return run_of(brand=brand, periodic_task=template, task=t, outcome=outcome,
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
    assert_error(operator_api.get(E, {"periodic_task": r["foreign_template"].pk}), 404, "NOT_FOUND",
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


def test_status_filters_follow_the_task_through_its_life(operator_api):
    """A run is found by its task's status, which database triggers copy onto the run (its task_state) with
    every change; once retention deleted the task, by its outcome only, which is then also what it shows."""
    template = ScheduleTemplate.objects.get(pk=create(operator_api).json()["id"])
    first, second = (operator_api.post(f"{P}{template.pk}/run-now/").json() for _ in range(2))
    a, b = (BaseTask.objects.get(pk=run["id"]) for run in (first, second))
    a_run, b_run = first["execution_id"], second["execution_id"]

    def found(status, url=E):
        return ids(operator_api.get(url, {"status": status}))

    assert a.status == b.status and found(a.status) == [b_run, a_run] and found("completed") == []
    transition(a, TaskStatus.RUNNING)
    assert found("running") == [a_run] and found(b.status) == [b_run]
    transition(a, TaskStatus.FAILED, error_message="boom")
    assert found("failed") == [a_run] and found("running") == [] and found(f"failed,{b.status}") == [b_run, a_run]
    assert found("failed", f"{P}{template.pk}/executions/") == [a_run]
    assert ids(operator_api.get(f"{E}failed/")) == [a_run]
    finish(b, TaskStatus.COMPLETED)
    assert found("completed") == [b_run] and found("completed,failed") == [b_run, a_run]
    assert found("completed", f"{P}{template.pk}/executions/") == [b_run]

    b.delete()  # as retention deletes an old task: the run stays, without it
    assert found("completed") == [] and found("manual") == [b_run, a_run]
    assert operator_api.get(f"{E}{b_run}/").json()["status"] == "manual"


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
    assert_error(operator_api.get(f"{E}stats/", {"periodic_task": runs["foreign_template"].pk}), 404,
                 "NOT_FOUND", "periodic_task")


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


# --- cursor pagination ---------------------------------------------------------------------------

@pytest.fixture
def tied_runs(operator_api, brand):
    """Seven runs of one template, three of them due at the same instant (schedules firing together)."""
    template = ScheduleTemplate.objects.get(pk=create(operator_api).json()["id"])
    runs = [_run(brand, template, hours_ago=h, status="completed") for h in (1, 2, 2.1, 2.2, 3, 4, 5)]
    ScheduledRun.objects.filter(pk__in=[r.pk for r in runs[1:4]]).update(due_at=runs[1].due_at)
    newest_first = list(ScheduledRun.objects.order_by("-due_at", "-id").values_list("pk", flat=True))
    assert len({r.due_at for r in ScheduledRun.objects.all()}) == 5 and len(newest_first) == 7
    return template, newest_first


def test_executions_walk_by_cursor_once_each_ties_included(operator_api, tied_runs):
    template, newest_first = tied_runs
    seen, first = cursor_walk(operator_api, E, {"page_size": 2})
    assert seen == newest_first
    assert first["count"] == 7 and first["count_is_exact"] is True and first["previous"] is None
    third = operator_api.get(operator_api.get(first["next"]).json()["next"]).json()
    assert ids(operator_api.get(third["previous"])) == newest_first[2:4]  # (DRF: exact outside a tie)
    # the template's own list walks the same way and still carries its statistics on every page
    seen, first = cursor_walk(operator_api, f"{P}{template.pk}/executions/", {"page_size": 3})
    assert seen == newest_first and first["stats"]["total_runs"] == 7
    assert operator_api.get(first["next"]).json()["stats"]["total_runs"] == 7


def test_executions_page_numbers_are_kept(operator_api, tied_runs):
    template, newest_first = tied_runs
    for url in (E, f"{P}{template.pk}/executions/"):
        pages = [operator_api.get(url, {"page": n, "page_size": 3}).json() for n in (1, 2, 3)]
        assert [r["id"] for page in pages for r in page["results"]] == newest_first
        assert pages[0]["count"] == 7 and "page=2" in pages[0]["next"] and pages[2]["next"] is None


def test_limit_keeps_the_newest_runs_by_cursor_and_by_page(operator_api, tied_runs):
    _, newest_first = tied_runs
    for limit in (1, 3, 4, 7, 50):  # 3 and 4 cut inside and right after the tie
        seen, first = cursor_walk(operator_api, E, {"limit": limit, "page_size": 2})
        assert seen == newest_first[:limit] and first["count"] == min(limit, 7)
        page2 = operator_api.get(E, {"limit": limit, "page_size": 2, "page": 1}).json()
        assert [r["id"] for r in page2["results"]] == newest_first[:min(limit, 2)]
    assert ids(operator_api.get(E, {"limit": 3, "status": "completed", "page_size": 50})) == newest_first[:3]


def test_a_bad_executions_cursor_is_404(operator_api, tied_runs):
    resp = operator_api.get(E, {"cursor": "not-a-cursor"})
    assert resp.status_code == 404 and set(resp.json()) == {"detail", "error_code", "field_errors"}


def test_stats_read_the_newest_runs_only(operator_api, tied_runs, monkeypatch):
    from task_scheduling.selectors import executions

    template, newest_first = tied_runs
    ScheduledRun.objects.filter(pk=newest_first[-1]).update(outcome="skipped_overlap", task=None)
    assert operator_api.get(f"{E}stats/").json()["total_runs"] == 7
    monkeypatch.setattr(executions, "STATS_RUNS", 6)  # the oldest (skipped) run is past the bound
    stats = operator_api.get(f"{E}stats/").json()
    assert stats["total_runs"] == 6 and stats["by_status"]["completed"] == 6
    assert "skipped_overlap" not in stats["by_status"]
    assert operator_api.get(f"{P}{template.pk}/executions/").json()["stats"]["total_runs"] == 6


# --- query budget: constant whatever the page size ----------------------------------------------

@pytest.mark.parametrize("params", [{}, {"page": 1}, {"limit": 6}, {"status": "completed,skipped_overlap"},
                                    {"task_type": "demo.echo"}])
def test_executions_query_count_does_not_grow_with_the_page(operator_api, tied_runs, params):
    template, _ = tied_runs
    for url in (E, f"{E}recent/?hours=24", f"{P}{template.pk}/executions/"):
        if url != E and params:
            continue
        counts = queries_per_size(operator_api, url, params)
        assert counts[2] == counts[5], (url, params, counts)


def test_template_executions_count_their_first_page_in_the_statistics_statement(operator_api, tied_runs, settings):
    """A template's runs: the user and brand, the template with its next run, the statistics (whose statement
    also counts the first page), the page: 4 statements, on a first page, a cursor page (not counted) and a
    page by number; with a status filter, 5 (the page's ids first). Above the exact count's limit the count
    is the planner's estimate (one EXPLAIN more), never a count of its own. Elsewhere than on PostgreSQL the
    statistics are the ORM's two statements and a first page is counted by a statement of its own."""
    template, newest_first = tied_runs
    url = f"{P}{template.pk}/executions/"
    pg = connection.vendor == "postgresql"
    stats = 0 if pg else 1  # the statements the ORM's statistics take more

    def get(*args):
        with CaptureQueriesContext(connection) as ctx:
            body = operator_api.get(*args).json()
        return body, len(ctx.captured_queries)

    first, statements = get(url, {"page_size": 2})
    assert statements == 4 + stats + (not pg) and (first["count"], first["count_is_exact"]) == (7, True)
    following, statements = get(first["next"])
    assert statements == 4 + stats and following["count"] is None and following["stats"]["total_runs"] == 7
    by_number, statements = get(url, {"page": 2, "page_size": 2})
    assert statements == 4 + stats + (not pg) and by_number["count"] == 7
    assert [r["id"] for r in following["results"]] == [r["id"] for r in by_number["results"]] == newest_first[2:4]
    settings.API_COUNT_EXACT_LIMIT = 7  # exactly at the limit: still exact
    assert get(url, {"page_size": 2})[0]["count_is_exact"] is True
    settings.API_COUNT_EXACT_LIMIT = 6
    above, statements = get(url, {"page_size": 2})
    # on PostgreSQL the planner's estimate (an EXPLAIN), elsewhere a count up to the limit
    assert statements == 5 + stats and above["count_is_exact"] is False and above["count"] >= 7
    settings.API_COUNT_EXACT_LIMIT = 1000
    for params in ({"status": "completed,skipped_overlap"}, {"status": "pending,completed"}, {"page": 1},
                   {"due_at__gte": (timezone.now() - timedelta(days=1)).isoformat()}):
        counts = queries_per_size(operator_api, url, params)
        assert counts[2] == counts[5], (params, counts)
        if pg:
            assert counts[2] == (5 if "status" in params else 4), (params, counts)


def test_other_scheduling_lists_query_count_does_not_grow(operator_api, tied_runs):
    template, _ = tied_runs
    for i in range(5):
        create(operator_api, name=f"t{i}", timezone="UTC")
    counts = queries_per_size(operator_api, P, {"ordering": "next_run_at"})
    assert counts[2] == counts[5], counts
    for _ in range(5):
        assert operator_api.post(f"{P}{template.pk}/schedules/", {}, format="json").status_code == 201
    counts = queries_per_size(operator_api, "/tasks/scheduled/schedules/")
    assert counts[2] == counts[5], counts
    counts = queries_per_size(operator_api, "/api/v1/scheduler/executions", size_param="limit", rows=lambda b: b)
    assert counts[2] == counts[5], counts
    counts = queries_per_size(operator_api, "/api/v1/scheduler/executions", {"status_filter": "completed"},
                              size_param="limit", rows=lambda b: b)
    assert counts[2] == counts[5], counts


def test_an_execution_is_represented_as_drf_would(operator_api, runs):
    """The compiled representation (megahub/api/representation.py) answers DRF's own, key for key, for runs
    with a task (finished, failed with its error) and without one (skipped)."""
    from rest_framework import serializers

    from task_scheduling.api.serializers import ExecutionSerializer
    from task_scheduling.selectors.executions import brand_executions

    rows = list(brand_executions(brand=runs["a"].brand))
    assert {r.outcome for r in rows} >= {"fired", "skipped_overlap"}
    compiled = ExecutionSerializer(rows, many=True).data
    assert [dict(r) for r in compiled] == [serializers.Serializer.to_representation(ExecutionSerializer(), r)
                                           for r in rows]
