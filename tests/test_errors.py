"""Every error answers in the one shape {"detail", "error_code", "field_errors"}: 404, 405, 500 included."""

import pytest
from django.test import Client
from django.urls import path
from rest_framework.views import APIView

import megahub.urls
from megahub.api.scoping import BrandScopedMixin

pytestmark = pytest.mark.django_db


class ExplodingApiView(BrandScopedMixin, APIView):
    """A test-only DRF view with a bug in it."""

    def get(self, request):
        raise RuntimeError("secret internals: connection string postgres://user:pw@db")


def exploding_django_view(request):
    raise ZeroDivisionError("secret internals")


# This module is the urlconf of the 500 tests: the real routes and handlers, plus the two views above.
urlpatterns = [
    path("boom/api/", ExplodingApiView.as_view()),
    path("boom/django/", exploding_django_view),
    *megahub.urls.urlpatterns,
]
handler400 = megahub.urls.handler400
handler403 = megahub.urls.handler403
handler404 = megahub.urls.handler404
handler500 = megahub.urls.handler500


def assert_error_shape(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:300])
    assert resp["Content-Type"].startswith("application/json")
    body = resp.json()
    assert set(body) == {"detail", "error_code", "field_errors"}, body
    assert body["error_code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["field_errors"] == {} or isinstance(body["field_errors"], dict)
    return body


@pytest.mark.parametrize("url", ["/nope/", "/tasks/not-an-id/", "/tasks/system/nope/", "/api/nope"])
def test_unknown_paths_are_404_json_in_the_error_shape(url, operator_api):
    assert_error_shape(operator_api.get(url), 404, "NOT_FOUND")


def test_an_unknown_path_is_404_json_even_without_a_token():
    assert_error_shape(Client().get("/nope/"), 404, "NOT_FOUND")


@pytest.mark.parametrize("method,url", [
    ("delete", "/tasks/{id}/"),
    ("put", "/tasks/{id}/"),
    ("patch", "/tasks/{id}/"),
    ("get", "/tasks/{id}/retry/"),
    ("get", "/tasks/{id}/cancel/"),
    ("post", "/tasks/{id}/events/"),
    ("delete", "/tasks/"),
    ("post", "/tasks/system/enums/"),
    ("get", "/auth/token/"),
])
def test_wrong_methods_are_405_in_the_error_shape(operator_api, brand, operator, method, url):
    from task_core import services

    task, _ = services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    resp = getattr(operator_api, method)(url.format(id=task.pk))
    body = assert_error_shape(resp, 405, "METHOD_NOT_ALLOWED")
    assert method.upper() in body["detail"]
    task.refresh_from_db()
    assert task.status == "pending"


@pytest.mark.urls(__name__)
def test_an_unexpected_exception_in_an_api_view_is_500_internal_error(operator_api, caplog):
    resp = operator_api.get("/boom/api/")
    body = assert_error_shape(resp, 500, "INTERNAL_ERROR")
    assert "secret" not in resp.content.decode()
    assert body["detail"] == "Internal server error."
    assert any("ExplodingApiView" in r.getMessage() and r.exc_info for r in caplog.records), "not logged"


@pytest.mark.urls(__name__)
def test_the_api_view_still_checks_auth_before_it_can_fail(api, brand):
    assert_error_shape(api(None, brand).get("/boom/api/"), 401, "NOT_AUTHENTICATED")


@pytest.mark.urls(__name__)
def test_an_unexpected_exception_outside_drf_is_500_json():
    resp = Client(raise_request_exception=False).get("/boom/django/")
    assert_error_shape(resp, 500, "INTERNAL_ERROR")
    assert "secret" not in resp.content.decode()


def test_unauthenticated_api_errors_carry_www_authenticate(api, brand):
    resp = api(None, brand).get("/tasks/")
    assert_error_shape(resp, 401, "NOT_AUTHENTICATED")
    assert resp["WWW-Authenticate"].startswith("Bearer")


def test_an_error_echoing_unencodable_input_still_answers_in_the_shape(operator_api):
    """DRF repeats a bad choice in its message; a lone surrogate there must not turn a 400 into a 500."""
    resp = operator_api.post("/tasks/", '{"task_type": "demo.echo", "priority": "\\ud800"}',
                             content_type="application/json")
    body = assert_error_shape(resp, 400, "VALIDATION_ERROR")
    assert "is not a valid choice" in body["field_errors"]["priority"][0]


@pytest.mark.parametrize("url", ["/auth/token/", "/auth/token/refresh/", "/tasks/",
                                 "/tasks/scheduled/periodic-tasks/", "/tasks/scheduled/calendars/",
                                 "/tasks/scheduled/periodic-tasks/validate-cron/"])
def test_a_body_nested_too_deeply_is_400_on_every_json_endpoint(operator_api, url):
    """Python's json module gives up past the recursion limit; that is bad input, not a server error."""
    body = '{"name": ' + "[" * 5000 + "]" * 5000 + "}"
    assert_error_shape(operator_api.post(url, body, content_type="application/json"), 400, "MALFORMED_REQUEST")


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_a_method_the_endpoint_lacks_is_405_before_any_role_or_brand_check(api, brand, viewer, operator, role):
    user = {"viewer": viewer, "operator": operator}[role]
    from task_core import services

    task, _ = services.task_create(brand=brand, created_by=operator, task_type="demo.echo")
    assert_error_shape(api(user, brand).delete(f"/tasks/{task.pk}/"), 405, "METHOD_NOT_ALLOWED")
    assert_error_shape(api(user, None).put("/tasks/"), 405, "METHOD_NOT_ALLOWED")  # no X-Brand-ID either
    assert_error_shape(api(None, brand).delete(f"/tasks/{task.pk}/"), 401, "NOT_AUTHENTICATED")


@pytest.fixture
def database_down():
    """Make the next database connection of this process fail for real (closed port, or a SQLite path
    that cannot be opened), then restore it."""
    from django.db import connection

    from tests.live import free_port

    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-dir/megahub.sqlite3"
    else:
        connection.settings_dict["PORT"] = free_port()
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.update(saved)


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_is_503_database_unavailable_not_500(operator_api, database_down, caplog):
    body = assert_error_shape(operator_api.get("/tasks/"), 503, "DATABASE_UNAVAILABLE")
    assert "database" in body["detail"].lower()
    assert "5432" not in str(body) and "nonexistent" not in str(body)  # no connection details leak
