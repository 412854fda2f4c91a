"""A back-office UI on another origin: CORS preflight and responses (django-cors-headers)."""

import pytest

ORIGIN = "https://backoffice.example.com"


@pytest.fixture
def allowed_origin(settings):
    settings.CORS_ALLOWED_ORIGINS = [ORIGIN]


def preflight(client, origin, headers="authorization, x-brand-id, idempotency-key, content-type"):
    return client.options("/tasks/", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
                          HTTP_ACCESS_CONTROL_REQUEST_HEADERS=headers)


@pytest.mark.django_db
def test_preflight_from_an_allowed_origin_allows_the_api_headers(client, allowed_origin):
    resp = preflight(client, ORIGIN)
    assert resp.status_code == 200
    assert resp["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip() for h in resp["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "x-brand-id", "idempotency-key"} <= allowed
    assert "POST" in resp["Access-Control-Allow-Methods"]


@pytest.mark.django_db
def test_other_origins_get_no_cors_headers(client, allowed_origin):
    resp = preflight(client, "https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in resp


@pytest.mark.django_db
def test_no_origin_is_allowed_by_default(client):
    resp = preflight(client, ORIGIN)
    assert "Access-Control-Allow-Origin" not in resp


@pytest.mark.django_db
def test_an_actual_request_from_an_allowed_origin_is_readable_by_the_page(operator_api, allowed_origin):
    resp = operator_api.get("/tasks/", HTTP_ORIGIN=ORIGIN)
    assert resp.status_code == 200 and resp["Access-Control-Allow-Origin"] == ORIGIN
