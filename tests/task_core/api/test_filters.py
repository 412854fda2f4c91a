"""List filters, ordering, pagination of /tasks/, and the SQL query budget of list and detail."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from task_core import services
from task_core.models import BaseTask
from task_core.state_machine import transition
from tests.lists import cursor_walk

pytestmark = pytest.mark.django_db

PATHS = {"pending": (), "queued": ("queued",), "running": ("queued", "running"),
         "completed": ("queued", "running", "completed"), "failed": ("queued", "running", "failed"),
         "cancelled": ("cancelled",)}


def make_task(brand, status="pending", *, user=None, task_type="demo.echo", context_data=None, **options):
    task, _ = services.task_create(brand=brand, created_by=user, task_type=task_type,
                                   context_data=context_data if context_data is not None else {}, **options)
    for step in PATHS[status]:
        assert transition(task, step)
    return task


def ids(resp):
    assert resp.status_code == 200, resp.json()
    return [t["id"] for t in resp.json()["results"]]


def assert_field_error(resp, field):
    assert resp.status_code == 400, resp.json()
    body = resp.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert field in body["field_errors"], body
    return body


@pytest.fixture
def tasks(brand, operator):
    """One task per status, in creation order."""
    return {status: make_task(brand, status, user=operator) for status in PATHS}


def test_status_filter_single_and_comma_list(operator_api, tasks):
    assert ids(operator_api.get("/tasks/", {"status": "failed"})) == [tasks["failed"].pk]
    got = ids(operator_api.get("/tasks/", {"status": "completed, failed"}))
    assert sorted(got) == sorted([tasks["completed"].pk, tasks["failed"].pk])


def test_status_aliases_active_and_finished(operator_api, tasks):
    active = set(ids(operator_api.get("/tasks/", {"status": "active"})))
    assert active == {tasks[s].pk for s in ("pending", "queued", "running")}
    finished = set(ids(operator_api.get("/tasks/", {"status": "finished"})))
    assert finished == {tasks[s].pk for s in ("completed", "failed", "cancelled")}
    both = set(ids(operator_api.get("/tasks/", {"status": "active,cancelled"})))
    assert both == active | {tasks["cancelled"].pk}


def test_an_empty_status_or_an_empty_item_is_refused(operator_api, tasks):
    """What the schema's pattern of the list refuses, the server refuses: no empty value, no empty item."""
    for value in ("", " , ", "failed,", "failed,,completed"):
        assert_field_error(operator_api.get("/tasks/", {"status": value}), "status")


def test_unknown_status_is_400(operator_api, tasks):
    body = assert_field_error(operator_api.get("/tasks/", {"status": "done"}), "status")
    assert "done" in body["field_errors"]["status"][0]


def test_priority_filter_one_or_several(operator_api, brand, operator):
    low = make_task(brand, user=operator, priority="low")
    high = make_task(brand, user=operator, priority="high")
    make_task(brand, user=operator, priority="normal")
    assert ids(operator_api.get("/tasks/", {"priority": "low"})) == [low.pk]
    assert sorted(ids(operator_api.get("/tasks/?priority=low&priority=high"))) == sorted([low.pk, high.pk])
    assert_field_error(operator_api.get("/tasks/", {"priority": "urgent"}), "priority")


def test_task_type_filter(operator_api, brand, operator):
    seo = make_task(brand, user=operator, task_type="seo_keyword_analysis", context_data={"keyword_ids": [1]})
    make_task(brand, user=operator, task_type="demo.echo")
    assert ids(operator_api.get("/tasks/", {"task_type": "seo_keyword_analysis"})) == [seo.pk]
    assert ids(operator_api.get("/tasks/", {"task_type": "demo.nothing"})) == []


def test_search_in_description_type_and_task_id(operator_api, brand, operator):
    nightly = make_task(brand, user=operator, description="Nightly Humari refresh")
    seo = make_task(brand, user=operator, task_type="seo_keyword_analysis", context_data={"keyword_ids": [1]})
    plain = make_task(brand, user=operator)
    assert ids(operator_api.get("/tasks/", {"search": "nightly"})) == [nightly.pk]
    assert ids(operator_api.get("/tasks/", {"search": "keyword"})) == [seo.pk]
    assert ids(operator_api.get("/tasks/", {"search": str(plain.task_id)})) == [plain.pk]
    assert len(ids(operator_api.get("/tasks/", {"search": "  "}))) == 3


def test_created_at_range(operator_api, brand, operator):
    now = timezone.now()
    old, mid, new = (make_task(brand, user=operator) for _ in range(3))
    for task, days in ((old, 10), (mid, 5), (new, 0)):
        BaseTask.objects.filter(pk=task.pk).update(created_at=now - timedelta(days=days))

    since = (now - timedelta(days=6)).isoformat()
    until = (now - timedelta(days=4)).isoformat()
    assert sorted(ids(operator_api.get("/tasks/", {"created_at__gte": since}))) == sorted([mid.pk, new.pk])
    assert sorted(ids(operator_api.get("/tasks/", {"created_at__lte": until}))) == sorted([old.pk, mid.pk])
    assert ids(operator_api.get("/tasks/", {"created_at__gte": since, "created_at__lte": until})) == [mid.pk]
    assert_field_error(operator_api.get("/tasks/", {"created_at__gte": "yesterday"}), "created_at__gte")


def test_default_order_is_newest_first_and_ordering_is_honoured(operator_api, brand, operator):
    first, second, third = (make_task(brand, user=operator, priority=p) for p in ("low", "critical", "normal"))
    assert ids(operator_api.get("/tasks/")) == [third.pk, second.pk, first.pk]
    assert ids(operator_api.get("/tasks/", {"ordering": "created_at"})) == [first.pk, second.pk, third.pk]
    assert_field_error(operator_api.get("/tasks/", {"ordering": "error_traceback"}), "ordering")


@pytest.mark.parametrize("ordering", ["-priority", "status", "task_type", "-progress_percentage", "started_at",
                                      "-id", "created_at,completed_at"])
def test_orderings_no_index_serves_are_refused(operator_api, ordering):
    assert_field_error(operator_api.get("/tasks/", {"ordering": ordering}), "ordering")


def test_ordering_by_completion_lists_finished_tasks_most_recent_first(operator_api, tasks):
    now = timezone.now()
    for status, minutes in (("completed", 1), ("failed", 3), ("cancelled", 2)):
        BaseTask.objects.filter(pk=tasks[status].pk).update(completed_at=now - timedelta(minutes=minutes))
    expected = [tasks[s].pk for s in ("completed", "cancelled", "failed")]
    assert ids(operator_api.get("/tasks/", {"ordering": "-completed_at"})) == expected
    assert ids(operator_api.get("/tasks/", {"ordering": "completed_at"})) == expected[::-1]


def test_search_needs_three_characters(operator_api, tasks):
    assert_field_error(operator_api.get("/tasks/", {"search": "ab"}), "search")


def test_search_matches_the_start_of_a_task_id(operator_api, tasks):
    task = tasks["failed"]
    prefix = str(task.task_id)[:8]
    assert task.pk in ids(operator_api.get("/tasks/", {"search": prefix}))
    assert ids(operator_api.get("/tasks/", {"search": str(task.task_id).upper()})) == [task.pk]


def test_filters_combine(operator_api, brand, operator):
    target = make_task(brand, "failed", user=operator, priority="high", description="target")
    make_task(brand, "failed", user=operator, priority="low")
    make_task(brand, "pending", user=operator, priority="high")
    assert ids(operator_api.get("/tasks/", {"status": "failed", "priority": "high"})) == [target.pk]


def test_pagination_with_page_size(operator_api, brand, operator):
    made = [make_task(brand, user=operator).pk for _ in range(5)]
    page1 = operator_api.get("/tasks/", {"page_size": 2, "page": 1}).json()
    assert page1["count"] == 5 and page1["count_is_exact"] is True and len(page1["results"]) == 2
    assert page1["previous"] is None and "page=2" in page1["next"]
    page3 = operator_api.get("/tasks/", {"page_size": 2, "page": 3}).json()
    assert len(page3["results"]) == 1 and page3["next"] is None
    pages = [operator_api.get("/tasks/", {"page_size": 2, "page": p}).json()["results"] for p in (1, 2, 3)]
    seen = [t["id"] for page in pages for t in page]
    assert sorted(seen) == sorted(made)
    assert operator_api.get("/tasks/", {"page_size": 2, "page": 4}).status_code == 404


def test_cursor_pagination_is_the_default_and_walks_every_task_once(operator_api, brand, operator):
    made = [make_task(brand, user=operator).pk for _ in range(5)]
    seen, first = cursor_walk(operator_api, "/tasks/", {"page_size": 2})
    assert first["count"] == 5 and first["count_is_exact"] is True and first["previous"] is None
    assert seen == made[::-1]
    assert cursor_walk(operator_api, "/tasks/", {"page_size": 2, "ordering": "created_at"})[0] == made
    second = operator_api.get(first["next"]).json()
    assert [t["id"] for t in operator_api.get(second["previous"]).json()["results"]] == made[::-1][:2]


def test_cursor_walk_by_completion_with_ties(operator_api, brand, operator):
    done = [make_task(brand, "completed", user=operator).pk for _ in range(5)]
    at = timezone.now()
    BaseTask.objects.filter(pk__in=done).update(completed_at=at)  # all tied
    make_task(brand, user=operator)  # unfinished: not listed by completion
    seen, first = cursor_walk(operator_api, "/tasks/",
                              {"page_size": 2, "ordering": "-completed_at", "status": "finished"})
    assert sorted(seen) == sorted(done) and len(seen) == 5 and first["count"] == 5


def test_a_bad_cursor_is_404(operator_api, tasks):
    resp = operator_api.get("/tasks/", {"cursor": "not-a-cursor"})
    assert resp.status_code == 404 and resp.json()["error_code"]


def test_count_is_exact_up_to_the_limit_then_an_estimate(operator_api, brand, operator, settings):
    settings.API_COUNT_EXACT_LIMIT = 3
    for _ in range(3):
        make_task(brand, user=operator)
    body = operator_api.get("/tasks/", {"page_size": 2}).json()
    assert body["count"] == 3 and body["count_is_exact"] is True
    make_task(brand, user=operator)
    body = operator_api.get("/tasks/", {"page": 1, "page_size": 2}).json()
    assert body["count_is_exact"] is False and body["count"] >= 4


def test_a_list_its_first_page_holds_is_counted_exactly_without_a_count(operator_api, brand, operator, settings):
    settings.API_COUNT_EXACT_LIMIT = 3
    made = [make_task(brand, user=operator).pk for _ in range(5)]
    for params in ({}, {"page": 1}):
        with CaptureQueriesContext(connection) as ctx:
            body = operator_api.get("/tasks/", params).json()
        assert body["count"] == 5 and body["count_is_exact"] is True and sorted(ids_of(body)) == sorted(made)
        assert not [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]


def test_the_planner_estimate_is_read_first_and_rows_are_not_counted_when_it_is_over_the_limit(
        operator_api, brand, operator, settings):
    settings.API_COUNT_EXACT_LIMIT = 3
    for _ in range(8):
        make_task(brand, user=operator)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE task_core_basetask")  # the planner now expects the brand's 8 rows
    with CaptureQueriesContext(connection) as ctx:
        body = operator_api.get("/tasks/", {"page_size": 2}).json()
    counted = [q for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    if connection.vendor == "postgresql":
        assert body["count_is_exact"] is False and body["count"] >= 4 and not counted
    else:  # no planner estimate: the rows are counted up to the limit
        assert body["count_is_exact"] is False and body["count"] == 4 and counted


def ids_of(body):
    return [t["id"] for t in body["results"]]


def test_pages_by_number_are_slices_of_the_whole_list(operator_api, brand, operator):
    made = [make_task(brand, "failed" if i % 3 else "completed", user=operator).pk for i in range(9)]
    failed = [pk for i, pk in enumerate(made) if i % 3]
    for ordering, expected in (("-created_at", failed[::-1]), ("created_at", failed)):
        pages = [ids(operator_api.get("/tasks/", {"status": "failed", "ordering": ordering, "page": n,
                                                  "page_size": 2})) for n in (1, 2, 3)]
        assert [pk for page in pages for pk in page] == expected and [len(p) for p in pages] == [2, 2, 2]


def test_page_numbers_are_bounded_in_depth(operator_api, tasks, settings):
    settings.API_PAGE_MAX_ROWS = 100
    assert operator_api.get("/tasks/", {"page": 2, "page_size": 50}).status_code == 404  # past the end: 6 tasks
    resp = operator_api.get("/tasks/", {"page": 3, "page_size": 50})  # 150 rows deep
    body = resp.json()
    assert resp.status_code == 404 and body["error_code"] == "PAGE_TOO_DEEP" and "page" in body["field_errors"]
    assert "cursor" in body["detail"]
    assert_field_error(operator_api.get("/tasks/", {"page": 101, "page_size": 1}), "page")  # beyond any page size


def test_page_size_and_page_outside_their_range_are_refused_not_replaced(operator_api, brand, operator):
    make_task(brand, user=operator)
    for params, name in [({"page_size": 100000}, "page_size"), ({"page_size": 0}, "page_size"),
                         ({"page_size": "ten"}, "page_size"), ({"page": 0}, "page"), ({"page": "last"}, "page")]:
        assert_field_error(operator_api.get("/tasks/", params), name)
    resp = operator_api.get("/tasks/", {"page_size": 100})
    assert resp.status_code == 200 and resp.json()["count"] == 1
    body = assert_field_error(operator_api.get("/tasks/", {"page_size": 101}), "page_size")
    assert "at most 100" in body["field_errors"]["page_size"][0]


def test_a_single_valued_parameter_given_twice_is_refused(operator_api):
    body = assert_field_error(operator_api.get("/tasks/?page_size=10&page_size=20"), "page_size")
    assert "more than once" in body["detail"]
    assert_field_error(operator_api.get("/tasks/?status=failed&status=completed"), "status")
    assert operator_api.get("/tasks/?status=failed,completed").status_code == 200  # its one value: a list


# --- query budget -------------------------------------------------------------------------------

def _count_queries(client, url, **params):
    with CaptureQueriesContext(connection) as ctx:
        resp = client.get(url, params)
    assert resp.status_code == 200, resp.json()
    return len(ctx.captured_queries)


def test_list_query_count_does_not_grow_with_the_number_of_tasks(
    api, brand, operator, viewer, django_assert_max_num_queries
):
    client = api(viewer, brand)
    make_task(brand, "completed", user=operator)
    few = _count_queries(client, "/tasks/")
    for i in range(15):
        make_task(brand, "completed" if i % 2 else "failed", user=viewer if i % 3 else operator,
                  description=f"task {i}")
    many = _count_queries(client, "/tasks/")
    assert many == few, f"{few} queries for 1 task, {many} for 16: an N+1 in the task representation"
    with django_assert_max_num_queries(6):
        assert len(client.get("/tasks/", {"status": "finished"}).json()["results"]) == 16


@pytest.mark.parametrize("params", [{}, {"page": 2}, {"ordering": "-completed_at"}, {"search": "task"}])
def test_list_query_count_does_not_grow_with_the_page_size(api, brand, operator, viewer, params):
    client = api(viewer, brand)
    for i in range(12):
        make_task(brand, "completed", user=operator if i % 2 else viewer, description=f"task {i}")
    counts = {size: _count_queries(client, "/tasks/", page_size=size, **params) for size in (2, 5)}
    assert counts[2] == counts[5], counts


def test_the_list_reads_only_the_columns_it_shows(operator_api, brand, operator):
    task = make_task(brand, "completed", user=operator)
    BaseTask.objects.filter(pk=task.pk).update(error_traceback="Traceback (most recent call last): ...")
    with CaptureQueriesContext(connection) as ctx:
        row = operator_api.get("/tasks/").json()["results"][0]
    listed = next(q["sql"] for q in ctx.captured_queries if "task_core_basetask" in q["sql"] and "LIMIT" in q["sql"])
    assert "error_traceback" not in listed and '"auth_user"."password"' not in listed
    assert "error_traceback" not in row and row["created_by"] == {"id": operator.pk, "username": operator.username}
    assert operator_api.get(f"/tasks/{task.pk}/").json()["error_traceback"].startswith("Traceback")


def test_detail_and_events_query_budget(operator_api, brand, operator, django_assert_max_num_queries):
    task = make_task(brand, "completed", user=operator)
    # user, membership, task (+ headroom for fields other apps add with select_related)
    with django_assert_max_num_queries(5):
        assert operator_api.get(f"/tasks/{task.pk}/").status_code == 200
    with django_assert_max_num_queries(5):
        assert operator_api.get(f"/tasks/{task.task_id}/").status_code == 200
    with django_assert_max_num_queries(6):
        assert operator_api.get(f"/tasks/{task.pk}/events/").json()["count"] == 4


def test_another_app_can_add_a_field_to_the_task_representation(operator_api, brand, operator, monkeypatch):
    """The hook task_monitoring uses for `metrics` (core never imports it): list and detail both show it."""
    from rest_framework import serializers

    from task_core.api.serializers import TaskDetailSerializer, TaskSerializer, register_task_field

    for cls in (TaskSerializer, TaskDetailSerializer):
        monkeypatch.setattr(cls, "_declared_fields", dict(cls._declared_fields))
        monkeypatch.setattr(cls.Meta, "fields", list(cls.Meta.fields))
        monkeypatch.setattr(cls.Meta, "read_only_fields", list(cls.Meta.read_only_fields))
    register_task_field("type_upper", serializers.SerializerMethodField())
    monkeypatch.setattr(TaskSerializer, "get_type_upper", lambda self, task: task.task_type.upper(), raising=False)
    task = make_task(brand, user=operator)
    assert operator_api.get("/tasks/").json()["results"][0]["type_upper"] == "DEMO.ECHO"
    assert operator_api.get(f"/tasks/{task.pk}/").json()["type_upper"] == "DEMO.ECHO"


@pytest.mark.parametrize("query", ["created_at__gte=9999-12-31T23:59:59-01:00",
                                   "created_at__lte=0001-01-01T00:00:00%2B05:00"])
def test_a_date_time_that_does_not_exist_in_utc_is_400(operator_api, query):
    """Valid ISO 8601, but past the calendar once converted to UTC: a 400 naming it, not a server error."""
    resp = operator_api.get(f"/tasks/?{query}")
    assert resp.status_code == 400, resp.content[:300]
    assert resp.json()["error_code"] == "VALIDATION_ERROR"
    assert list(resp.json()["field_errors"]) == [query.split("=")[0]]
