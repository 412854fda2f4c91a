"""Auth endpoints: token, refresh with rotation and blacklist, me, login throttling."""

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle

from task_core.choices import BrandRole
from task_core.models import BrandMembership

pytestmark = pytest.mark.django_db


def assert_error_shape(body, code):
    assert set(body) == {"detail", "error_code", "field_errors"}, body
    assert body["error_code"] == code, body
    assert isinstance(body["detail"], str) and body["detail"]


def login(client, username, password):
    return client.post("/auth/token/", {"username": username, "password": password}, format="json")


def test_login_with_good_credentials_returns_a_working_token_pair(operator):
    client = APIClient()
    resp = login(client, "martin", "martin-pass-123")
    assert resp.status_code == 200, resp.json()
    tokens = resp.json()
    assert tokens["access"] and tokens["refresh"]

    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    me = client.get("/auth/me/")
    assert me.status_code == 200
    assert me.json()["username"] == "martin"


@pytest.mark.parametrize("username,password", [("martin", "wrong-password"), ("nobody", "martin-pass-123")])
def test_login_with_bad_credentials_is_401_in_the_error_shape(operator, username, password):
    resp = login(APIClient(), username, password)
    assert resp.status_code == 401
    assert_error_shape(resp.json(), "AUTHENTICATION_FAILED")
    assert "access" not in resp.json()


def test_login_with_missing_fields_is_400_naming_them(db):
    resp = APIClient().post("/auth/token/", {"username": "x"}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert_error_shape(body, "VALIDATION_ERROR")
    assert "password" in body["field_errors"]


def test_refresh_rotates_and_blacklists_the_old_refresh_token(operator):
    client = APIClient()
    first = login(client, "martin", "martin-pass-123").json()

    resp = client.post("/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert resp.status_code == 200, resp.json()
    second = resp.json()
    assert second["access"] and second["refresh"]
    assert second["refresh"] != first["refresh"]

    # The new access token works.
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {second['access']}")
    assert client.get("/auth/me/").status_code == 200

    # The old refresh token was blacklisted by the rotation.
    client.credentials()
    replay = client.post("/auth/token/refresh/", {"refresh": first["refresh"]}, format="json")
    assert replay.status_code == 401
    assert_error_shape(replay.json(), "TOKEN_INVALID")

    # The rotated one still works once.
    again = client.post("/auth/token/refresh/", {"refresh": second["refresh"]}, format="json")
    assert again.status_code == 200


def test_refresh_with_garbage_is_401_in_the_error_shape(db):
    resp = APIClient().post("/auth/token/refresh/", {"refresh": "not-a-token"}, format="json")
    assert resp.status_code == 401
    assert_error_shape(resp.json(), "TOKEN_INVALID")


def test_an_access_token_is_not_accepted_as_refresh_token(operator):
    tokens = login(APIClient(), "martin", "martin-pass-123").json()
    resp = APIClient().post("/auth/token/refresh/", {"refresh": tokens["access"]}, format="json")
    assert resp.status_code == 401
    assert_error_shape(resp.json(), "TOKEN_INVALID")


def test_me_lists_brands_with_the_role_in_each(api, operator, brand, other_brand):
    BrandMembership.objects.create(user=operator, brand=other_brand, role=BrandRole.VIEWER)
    resp = api(operator).get("/auth/me/")
    assert resp.status_code == 200
    body = resp.json()
    assert body["username"] == "martin"
    assert body["is_superuser"] is False
    roles = {b["id"]: (b["name"], b["role"]) for b in body["brands"]}
    assert roles == {brand.pk: ("Humari", "operator"), other_brand.pk: ("Acme", "viewer")}


def test_me_of_a_user_without_brands_lists_none(api, django_user_model):
    loner = django_user_model.objects.create_user(username="loner", password="loner-pass-123")
    resp = api(loner).get("/auth/me/")
    assert resp.status_code == 200
    assert resp.json()["brands"] == []


def test_me_of_a_superuser_lists_every_brand_as_admin(api, superuser, brand, other_brand):
    body = api(superuser).get("/auth/me/").json()
    assert body["is_superuser"] is True
    assert {(b["id"], b["role"]) for b in body["brands"]} == {(brand.pk, "admin"), (other_brand.pk, "admin")}


def test_me_hides_inactive_brands(api, operator, brand):
    brand.is_active = False
    brand.save()
    assert api(operator).get("/auth/me/").json()["brands"] == []


@pytest.mark.parametrize("header", [None, "Bearer nope", "Token abc"])
def test_me_without_a_valid_token_is_401(db, header):
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    resp = client.get("/auth/me/")
    assert resp.status_code == 401
    assert resp.json()["error_code"] in {"NOT_AUTHENTICATED", "TOKEN_INVALID", "AUTHENTICATION_FAILED"}
    assert_error_shape(resp.json(), resp.json()["error_code"])


@pytest.fixture
def login_rate_3_per_minute(monkeypatch):
    """DRF reads the rates once, into a class attribute: patch that, not only the setting."""
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"login": "3/minute"})


def test_login_is_throttled_with_429_in_the_error_shape(operator, login_rate_3_per_minute):
    client = APIClient()
    codes = [login(client, "martin", "wrong-password").status_code for _ in range(3)]
    assert codes == [401, 401, 401]

    resp = login(client, "martin", "martin-pass-123")  # even the right password is refused now
    assert resp.status_code == 429
    assert_error_shape(resp.json(), "THROTTLED")
    assert int(resp["Retry-After"]) > 0
    assert "access" not in resp.json()


def test_a_made_up_x_forwarded_for_per_request_does_not_bypass_the_login_throttle(operator, login_rate_3_per_minute):
    """With no trusted proxy the throttle keys on the client's address, not on a header it can invent."""
    client = APIClient()
    codes = [client.post("/auth/token/", {"username": "martin", "password": "wrong-password"}, format="json",
                         HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]
    assert codes == [401, 401, 401, 429, 429]


def test_behind_one_trusted_proxy_each_client_address_has_its_own_budget(operator, login_rate_3_per_minute,
                                                                          monkeypatch):
    from rest_framework.settings import api_settings

    monkeypatch.setattr(api_settings, "NUM_PROXIES", 1)  # as TRUSTED_PROXY_COUNT=1 sets it
    client = APIClient()

    def attempt(address):
        return client.post("/auth/token/", {"username": "martin", "password": "wrong"}, format="json",
                           HTTP_X_FORWARDED_FOR=address).status_code

    assert [attempt("198.51.100.7") for _ in range(4)] == [401, 401, 401, 429]
    assert attempt("198.51.100.8") == 401
