"""Retry, cancel and events on tasks put in their states through the state machine."""

import pytest

from task_core import services
from task_core.models import BaseTask, TaskEvent
from task_core.state_machine import transition

from ..test_state_machine import PATHS  # how to reach each status from pending

pytestmark = pytest.mark.django_db



def make_task(brand, status, user=None, **options):
    spec = {"task_type": "demo.echo", "context_data": {"message": "hi"}, **options}
    task, _ = services.task_create(brand=brand, created_by=user, **spec)
    for step in PATHS[status]:
        assert transition(task, step, worker="w1@test" if step == "running" else task.worker)
    return task


def snapshot(task):
    task.refresh_from_db()
    return (task.status, task.completed_at, task.events.count(), BaseTask.objects.count())


def assert_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:500])
    body = resp.json()
    assert set(body) == {"detail", "error_code", "field_errors"}, body
    assert body["error_code"] == code, body
    return body


@pytest.mark.parametrize("status", ["pending", "queued", "running", "retrying", "interrupted", "completed"])
def test_retry_of_an_unfinished_or_completed_task_is_409_and_changes_nothing(operator_api, brand, operator, status):
    task = make_task(brand, status, user=operator)
    before = snapshot(task)
    body = assert_error(operator_api.post(f"/tasks/{task.pk}/retry/"), 409, "INVALID_TRANSITION")
    assert status in body["detail"]
    assert snapshot(task) == before


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_retry_of_a_failed_or_cancelled_task_creates_a_new_task(operator_api, brand, operator, viewer, status):
    original = make_task(brand, status, user=viewer, priority="high", max_retries=1, timeout_seconds=42,
                         description="nightly", context_data={"message": "again"})
    resp = operator_api.post(f"/tasks/{original.task_id}/retry/")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["id"] != original.pk
    assert body["origin"] == "retry"
    assert body["retry_of"] == original.pk
    assert body["status"] in {"pending", "queued"}
    assert body["created_by"]["username"] == "martin"
    assert body["context_data"] == {"message": "again"}
    assert (body["priority"], body["max_retries"], body["timeout_seconds"]) == ("high", 1, 42)

    new = BaseTask.objects.get(pk=body["id"])
    assert new.retry_of_id == original.pk and new.brand == brand
    original.refresh_from_db()
    assert original.status == status  # the old attempt keeps its outcome
    note = original.events.order_by("-id").first()
    assert note.actor == operator
    assert str(new.pk) in note.detail and "retried" in note.detail
    assert list(new.events.values_list("to_status", flat=True)) == ["pending"]


def test_a_retry_can_itself_be_retried(operator_api, brand, operator):
    first = make_task(brand, "failed", user=operator)
    second = BaseTask.objects.get(pk=operator_api.post(f"/tasks/{first.pk}/retry/").json()["id"])
    for step in PATHS["failed"]:
        transition(second, step)
    third = operator_api.post(f"/tasks/{second.pk}/retry/").json()
    assert third["retry_of"] == second.pk


@pytest.mark.parametrize("status", ["pending", "queued"])
def test_cancel_of_a_waiting_task_cancels_it_with_the_actor_recorded(operator_api, brand, operator, status):
    task = make_task(brand, status, user=operator)
    resp = operator_api.post(f"/tasks/{task.pk}/cancel/")
    assert resp.status_code == 200, resp.json()
    assert resp.json()["status"] == "cancelled"
    assert resp.json()["completed_at"] is not None

    task.refresh_from_db()
    assert task.status == "cancelled"
    event = task.events.order_by("-id").first()
    assert (event.from_status, event.to_status, event.actor) == (status, "cancelled", operator)
    assert "martin" in event.detail


def test_cancel_of_a_running_task_cancels_it(operator_api, brand, operator):
    task = make_task(brand, "running", user=operator)
    resp = operator_api.post(f"/tasks/{task.pk}/cancel/")
    assert resp.status_code == 200
    task.refresh_from_db()
    assert task.status == "cancelled"


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_cancel_of_a_finished_task_is_409_and_changes_nothing(operator_api, brand, operator, status):
    task = make_task(brand, status, user=operator)
    before = snapshot(task)
    body = assert_error(operator_api.post(f"/tasks/{task.pk}/cancel/"), 409, "INVALID_TRANSITION")
    assert status in body["detail"]
    assert snapshot(task) == before


def test_cancelling_twice_is_409_the_second_time(operator_api, brand, operator):
    task = make_task(brand, "queued", user=operator)
    assert operator_api.post(f"/tasks/{task.pk}/cancel/").status_code == 200
    assert_error(operator_api.post(f"/tasks/{task.pk}/cancel/"), 409, "INVALID_TRANSITION")
    assert task.events.filter(to_status="cancelled").count() == 1


def test_events_list_every_transition_in_order(operator_api, brand, operator):
    task = make_task(brand, "completed", user=operator)
    resp = operator_api.get(f"/tasks/{task.pk}/events/")
    assert resp.status_code == 200
    body = resp.json()
    assert body["count"] == 4
    steps = [(e["from_status"], e["to_status"]) for e in body["results"]]
    assert steps == [("", "pending"), ("pending", "queued"), ("queued", "running"), ("running", "completed")]
    assert body["results"][0]["actor"] == {"id": operator.pk, "username": "martin"}
    assert body["results"][2]["worker"] == "w1@test"
    assert set(body["results"][0]) >= {"id", "from_status", "to_status", "actor", "worker", "detail", "created_at"}


def test_events_are_paginated(operator_api, brand, operator):
    task = make_task(brand, "completed", user=operator)
    page1 = operator_api.get(f"/tasks/{task.pk}/events/", {"page_size": 3}).json()
    page2 = operator_api.get(f"/tasks/{task.pk}/events/", {"page_size": 3, "page": 2}).json()
    assert page1["count"] == page2["count"] == 4
    assert [e["to_status"] for e in page1["results"]] == ["pending", "queued", "running"]
    assert [e["to_status"] for e in page2["results"]] == ["completed"]
    assert page1["next"] and page2["next"] is None


def test_events_of_one_task_do_not_include_another_tasks(operator_api, brand, operator):
    a = make_task(brand, "queued", user=operator)
    make_task(brand, "completed", user=operator)
    body = operator_api.get(f"/tasks/{a.pk}/events/").json()
    assert body["count"] == 2
    assert TaskEvent.objects.count() == 6


@pytest.mark.parametrize("url", ["/tasks/", "/tasks/{id}/events/"])
def test_an_out_of_range_page_is_404_not_found_not_a_missing_task(operator_api, brand, operator, url):
    task = make_task(brand, "pending", user=operator)
    body = assert_error(operator_api.get(url.format(id=task.pk), {"page": 99}), 404, "NOT_FOUND")
    assert "page" in body["detail"].lower()
