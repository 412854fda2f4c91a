"""Brand scope and roles on every /tasks/ endpoint: authentication, X-Brand-ID, membership, isolation."""


import pytest

from task_core import services
from task_core.models import BaseTask, TaskEvent
from task_core.state_machine import transition

pytestmark = pytest.mark.django_db

ECHO = {"task_type": "demo.echo", "context_data": {"message": "hi"}}

# (method, path template); {id} is filled with a task of the caller's brand.
ENDPOINTS = [
    ("get", "/tasks/"),
    ("post", "/tasks/"),
    ("get", "/tasks/{id}/"),
    ("post", "/tasks/{id}/retry/"),
    ("post", "/tasks/{id}/cancel/"),
    ("get", "/tasks/{id}/events/"),
    ("get", "/tasks/queue-stats/"),
    ("get", "/tasks/system/status/"),
    ("get", "/tasks/system/health/"),
    ("get", "/tasks/system/enums/"),
    ("get", "/tasks/system/task-info/"),
]
ENDPOINT_IDS = [f"{m.upper()} {p}" for m, p in ENDPOINTS]


def make_task(brand, *path, user=None, **options):
    """A task created through the service and walked through `path` with the state machine."""
    task, _ = services.task_create(brand=brand, created_by=user, **{**ECHO, **options})
    for status in path:
        assert transition(task, status), f"{task.status} -> {status}"
    return task


def call(client, method, path, task=None):
    url = path.format(id=task.pk if task else 0)
    return getattr(client, method)(url, ECHO if method == "post" and path == "/tasks/" else None, format="json")


def assert_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    body = resp.json()
    assert set(body) == {"detail", "error_code", "field_errors"}, body
    assert body["error_code"] == code, body
    return body


@pytest.fixture
def task(brand, operator):
    return make_task(brand, user=operator)


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_without_a_token_every_endpoint_is_401(api, brand, task, method, path):
    resp = call(api(None, brand), method, path, task)
    assert_error(resp, 401, "NOT_AUTHENTICATED")


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_with_a_bad_token_every_endpoint_is_401(api, brand, task, method, path):
    client = api(None, brand)
    client.credentials(HTTP_AUTHORIZATION="Bearer not.a.jwt")
    resp = call(client, method, path, task)
    assert_error(resp, 401, "TOKEN_INVALID")


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_without_x_brand_id_every_endpoint_is_400_brand_required(api, operator, task, method, path):
    resp = call(api(operator), method, path, task)
    assert_error(resp, 400, "BRAND_REQUIRED")


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=ENDPOINT_IDS)
@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "²", "١"])
def test_a_non_numeric_x_brand_id_is_400(api, operator, task, method, path, value):
    resp = call(api(operator, value), method, path, task)
    assert_error(resp, 400, "BRAND_INVALID")


@pytest.mark.parametrize("method,path", ENDPOINTS, ids=ENDPOINT_IDS)
def test_a_brand_the_user_is_not_member_of_is_403(api, operator, other_brand, task, method, path):
    resp = call(api(operator, other_brand), method, path, task)
    assert_error(resp, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize("brand_id", ["999999", "99999999999999999999"])
def test_an_unknown_brand_id_is_403_not_404(api, operator, task, brand_id):
    assert_error(api(operator, brand_id).get("/tasks/"), 403, "PERMISSION_DENIED")


def test_an_inactive_brand_is_refused_even_to_its_members(api, operator, brand):
    brand.is_active = False
    brand.save()
    assert_error(api(operator, brand).get("/tasks/"), 403, "PERMISSION_DENIED")


def test_an_inactive_brand_is_refused_to_a_superuser_too(api, superuser, brand):
    brand.is_active = False
    brand.save()
    assert_error(api(superuser, brand).get("/tasks/"), 403, "PERMISSION_DENIED")


def test_a_token_of_a_user_made_inactive_or_deleted_is_401(api, operator, brand):
    client = api(operator, brand)
    assert client.get("/tasks/").status_code == 200
    operator.is_active = False
    operator.save()
    assert_error(client.get("/tasks/"), 401, "AUTHENTICATION_FAILED")
    operator.delete()
    assert_error(client.get("/tasks/"), 401, "AUTHENTICATION_FAILED")


def test_the_user_and_their_role_in_the_brand_are_read_in_one_statement(api, operator, brand):
    """What every brand-scoped call pays before its own work: a call refused at validation reads nothing
    else."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = api(operator, brand)
    with CaptureQueriesContext(connection) as queries:
        assert_error(client.get("/tasks/?bogus=1"), 400, "VALIDATION_ERROR")
    assert len(queries) == 1, [q["sql"] for q in queries]


# --- isolation: another brand's objects are 404 and never leak -------------------------------------

OBJECT_ENDPOINTS = [
    ("get", "/tasks/{id}/"),
    ("post", "/tasks/{id}/retry/"),
    ("post", "/tasks/{id}/cancel/"),
    ("get", "/tasks/{id}/events/"),
]


@pytest.mark.parametrize("method,path", OBJECT_ENDPOINTS, ids=[f"{m.upper()} {p}" for m, p in OBJECT_ENDPOINTS])
@pytest.mark.parametrize("key", ["pk", "task_id"])
@pytest.mark.parametrize("their_status", [(), ("failed",)], ids=["pending", "failed"])
def test_another_brands_task_is_404_task_not_found_and_untouched(
    api, operator, brand, other_brand, outsider, method, path, key, their_status
):
    theirs = make_task(other_brand, *their_status, user=outsider, context_data={"message": "acme secret"})
    events_before = TaskEvent.objects.filter(task=theirs).count()

    resp = getattr(api(operator, brand), method)(path.replace("{id}", str(getattr(theirs, key))))

    body = assert_error(resp, 404, "TASK_NOT_FOUND")
    assert body["detail"] == "Task not found or access denied"
    assert "acme secret" not in resp.content.decode()
    assert str(theirs.task_id) not in resp.content.decode()
    theirs.refresh_from_db()
    assert theirs.status == (their_status[-1] if their_status else "pending")
    assert TaskEvent.objects.filter(task=theirs).count() == events_before
    assert BaseTask.objects.count() == 1  # no retry was created


@pytest.mark.parametrize("lookup", ["999999", "5f0c8a52-6c1e-4d3b-9a8e-2f4b1d7e9c10"])
def test_an_unknown_task_id_is_404_task_not_found(operator_api, lookup):
    assert_error(operator_api.get(f"/tasks/{lookup}/"), 404, "TASK_NOT_FOUND")


def test_own_task_is_found_by_pk_and_by_uuid(operator_api, task):
    for lookup in (task.pk, task.task_id):
        resp = operator_api.get(f"/tasks/{lookup}/")
        assert resp.status_code == 200
        assert resp.json()["id"] == task.pk


def test_list_never_shows_another_brands_tasks(api, operator, brand, other_brand, outsider):
    mine = {make_task(brand, user=operator).pk for _ in range(3)}
    make_task(other_brand, user=outsider)
    make_task(other_brand, "failed", user=outsider)

    body = api(operator, brand).get("/tasks/", {"page_size": 100}).json()
    assert body["count"] == 3
    assert {t["id"] for t in body["results"]} == mine
    assert {t["brand"]["id"] for t in body["results"]} == {brand.pk}

    # Filters cannot widen the scope either.
    body = api(operator, brand).get("/tasks/", {"status": "failed"}).json()
    assert body["count"] == 0


def test_queue_stats_counts_only_the_requesting_brand(api, operator, brand, other_brand, outsider):
    make_task(brand, "failed", user=operator)
    for _ in range(3):
        make_task(other_brand, "failed", user=outsider)
    counts = api(operator, brand).get("/tasks/queue-stats/").json()["counts_by_status"]
    assert counts["failed"] == 1


# --- roles ---------------------------------------------------------------------------------------

@pytest.fixture
def member(request):
    fixture = {"admin": "brand_admin"}.get(request.param, request.param)
    return request.getfixturevalue(fixture)


@pytest.mark.parametrize("member", ["viewer", "operator", "admin", "superuser"], indirect=True)
def test_every_member_can_read(api, brand, member, task):
    client = api(member, brand)
    assert client.get("/tasks/").status_code == 200
    assert client.get(f"/tasks/{task.pk}/").status_code == 200
    assert client.get(f"/tasks/{task.pk}/events/").status_code == 200
    assert client.get("/tasks/system/enums/").status_code == 200
    for path in ("/tasks/queue-stats/", "/tasks/system/status/", "/tasks/system/task-info/"):
        assert client.get(path).status_code == 200, path
    health = client.get("/tasks/system/health/")  # 503 only when a component is down, never a refusal
    assert health.status_code in (200, 503) and "database" in health.json()["components"]


def test_viewer_cannot_create_retry_or_cancel(api, brand, viewer, operator):
    client = api(viewer, brand)
    failed = make_task(brand, "failed", user=operator)
    queued = make_task(brand, "queued", user=operator)

    body = assert_error(client.post("/tasks/", ECHO, format="json"), 403, "PERMISSION_DENIED")
    assert "operator" in body["detail"]
    assert_error(client.post(f"/tasks/{failed.pk}/retry/"), 403, "PERMISSION_DENIED")
    assert_error(client.post(f"/tasks/{queued.pk}/cancel/"), 403, "PERMISSION_DENIED")

    assert BaseTask.objects.count() == 2
    queued.refresh_from_db()
    assert queued.status == "queued"


@pytest.mark.parametrize("member", ["operator", "admin", "superuser"], indirect=True)
def test_operator_admin_and_superuser_can_create_retry_and_cancel(api, brand, member, operator):
    client = api(member, brand)
    failed = make_task(brand, "failed", user=operator)
    queued = make_task(brand, "queued", user=operator)

    created = client.post("/tasks/", ECHO, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["created_by"]["username"] == member.username
    assert client.post(f"/tasks/{failed.pk}/retry/").status_code == 201
    assert client.post(f"/tasks/{queued.pk}/cancel/").status_code == 200


def test_superuser_acts_on_any_brand(api, superuser, other_brand, outsider):
    theirs = make_task(other_brand, "queued", user=outsider)
    client = api(superuser, other_brand)
    assert client.get(f"/tasks/{theirs.pk}/").status_code == 200
    assert client.post(f"/tasks/{theirs.pk}/cancel/").status_code == 200
    assert client.post("/tasks/", ECHO, format="json").json()["brand"]["id"] == other_brand.pk


def test_a_role_in_one_brand_does_not_carry_to_another(api, brand, other_brand, viewer, outsider):
    """vera views Humari; being operator of Acme does not let her create in Humari."""
    from task_core.models import BrandMembership

    BrandMembership.objects.create(user=viewer, brand=other_brand, role="operator")
    assert api(viewer, other_brand).post("/tasks/", ECHO, format="json").status_code == 201
    assert_error(api(viewer, brand).post("/tasks/", ECHO, format="json"), 403, "PERMISSION_DENIED")
