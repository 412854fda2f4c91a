"""Strict query parameters (megahub.api.filters): every list refuses a parameter it does not know, with a
400 naming it, instead of silently returning the whole list."""

import pytest

from task_core.filters import TaskFilter

pytestmark = pytest.mark.django_db


def assert_unknown(resp, *names):
    assert resp.status_code == 400, resp.content
    body = resp.json()
    assert body["error_code"] == "VALIDATION_ERROR"
    assert set(body["field_errors"]) == set(names)
    for name in names:
        assert name in body["detail"]
    return body


def test_the_task_list_refuses_a_parameter_it_does_not_know(operator_api):
    body = assert_unknown(operator_api.get("/tasks/", {"stauts": "failed"}), "stauts")
    # The message lists what the list accepts, the filters other apps registered included.
    accepted = body["field_errors"]["stauts"][0]
    for name in ("status", "priority", "created_at__gte", "ordering", "page", "page_size", "is_periodic"):
        assert name in accepted


def test_each_unknown_parameter_is_named(operator_api):
    assert_unknown(operator_api.get("/tasks/", {"has_metric": "true", "status": "failed", "zzz": "1"}),
                   "has_metric", "zzz")


def test_every_known_parameter_of_the_task_list_is_accepted(operator_api):
    params = {"status": "active", "priority": "high", "task_type": "demo.echo", "search": "xyz",
              "created_at__gte": "2026-01-01T00:00:00Z", "created_at__lte": "2026-01-02T00:00:00Z",
              "ordering": "-created_at", "is_periodic": "false", "has_metrics": "true", "is_resumable": "false",
              "page": "1", "page_size": "10", "format": "json"}
    assert set(params) - {"page", "page_size", "format"} <= set(TaskFilter.base_filters)
    resp = operator_api.get("/tasks/", params)
    assert resp.status_code == 200, resp.json()
    assert resp.json()["results"] == []


def test_the_task_events_list_takes_only_the_page_parameters(operator_api, brand, operator):
    from task_core import services

    task, _ = services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    assert operator_api.get(f"/tasks/{task.pk}/events/", {"page_size": "1"}).status_code == 200
    assert_unknown(operator_api.get(f"/tasks/{task.pk}/events/", {"to_status": "queued"}), "to_status")


def test_a_detail_route_is_not_checked_as_a_list(operator_api, brand, operator):
    from task_core import services

    task, _ = services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    assert operator_api.get(f"/tasks/{task.pk}/", {"anything": "1"}).status_code == 200


def test_another_brands_task_stays_a_404_whatever_its_parameters(operator_api, other_brand, outsider):
    from task_core import services

    task, _ = services.task_create(brand=other_brand, created_by=outsider, task_type="demo.echo")
    assert operator_api.get(f"/tasks/{task.pk}/events/", {"nope": "1"}).status_code == 404


def test_a_scheduling_list_refuses_unknown_parameters_and_keeps_its_own(operator_api, make_template):
    make_template(name="nightly")
    url = "/tasks/scheduled/periodic-tasks/"
    ok = operator_api.get(url, {"is_active": "true", "kind": "interval", "search": "night", "page_size": "5"})
    assert ok.status_code == 200, ok.json()
    assert [t["name"] for t in ok.json()["results"]] == ["nightly"]
    assert_unknown(operator_api.get(url, {"name": "nightly"}), "name")


def test_a_list_without_filters_accepts_only_the_page_parameters(operator_api):
    url = "/tasks/scheduled/calendars/"
    assert operator_api.get(url, {"page": "1"}).status_code == 200
    assert_unknown(operator_api.get(url, {"timezone": "UTC"}), "timezone")
