"""The OpenAPI schema: generates without warnings, documents errors and the brand header; docs work offline."""

import io
import re

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/Error"
METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        resp = Client().get("/api/schema/", {"format": "json"}, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert resp.status_code == 200, resp.content[:300]
    return resp.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield path, method, op


def test_schema_generates_and_validates_without_warnings(tmp_path):
    out, err = io.StringIO(), io.StringIO()
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target), stdout=out, stderr=err)
    assert "Warning" not in err.getvalue(), err.getvalue()
    assert "Error" not in err.getvalue().replace("Errors:   0", ""), err.getvalue()
    assert target.read_text().startswith("openapi: 3")


def test_the_canonical_core_paths_are_documented(schema):
    paths = set(schema["paths"])
    for p in ["/auth/token/", "/auth/token/refresh/", "/auth/me/", "/tasks/", "/tasks/{id}/", "/tasks/{id}/retry/",
              "/tasks/{id}/cancel/", "/tasks/{id}/events/", "/tasks/queue-stats/", "/tasks/system/status/",
              "/tasks/system/health/", "/tasks/system/enums/", "/tasks/system/task-info/"]:
        assert p in paths, p


def test_every_operation_documents_the_error_responses(schema):
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"detail", "error_code", "field_errors"}
    missing = []
    for path, method, op in operations(schema):
        for code in ("400", "401", "404", "500", "503"):
            response = op["responses"].get(code)
            ref = (response or {}).get("content", {}).get("application/json", {}).get("schema", {}).get("$ref")
            if ref == ERROR_REF:
                continue
            # A body of its own (health's 503 adds the components) must still carry the error shape.
            props = schema["components"]["schemas"].get((ref or "").rsplit("/", 1)[-1], {}).get("properties", {})
            if not {"detail", "error_code", "field_errors"} <= set(props):
                missing.append(f"{method.upper()} {path} {code}")
    assert not missing, missing


def test_brand_scoped_operations_require_the_jwt_and_the_brand_header_and_document_their_extra_errors(schema):
    """X-Brand-ID is a security scheme beside the JWT, so Swagger UI's "Authorize" takes it once for every call."""
    schemes = schema["components"]["securitySchemes"]
    assert schemes["brandId"] == {"type": "apiKey", "in": "header", "name": "X-Brand-ID",
                                  "description": schemes["brandId"]["description"]}
    tasks_ops = [(p, m, op) for p, m, op in operations(schema) if p.startswith("/tasks/")]
    assert len(tasks_ops) >= 11
    for path, method, op in tasks_ops:
        assert op["security"] == [{"jwtAuth": [], "brandId": []}], f"{method.upper()} {path}"
        assert "X-Brand-ID" not in {p["name"] for p in op.get("parameters", [])}, f"{method.upper()} {path}"
        assert {"403", "503"} <= set(op["responses"]), f"{method.upper()} {path}"
    auth_ops = [op for p, m, op in operations(schema) if p.startswith("/auth/")]
    assert auth_ops
    for op in auth_ops:
        assert all("brandId" not in requirement for requirement in op.get("security", []))


def test_task_list_documents_its_filters_and_create_its_idempotency_key(schema):
    list_params = {p["name"] for p in schema["paths"]["/tasks/"]["get"]["parameters"]}
    assert {"status", "priority", "task_type", "search", "created_at__gte", "created_at__lte", "ordering", "page",
            "page_size"} <= list_params
    create = schema["paths"]["/tasks/"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in create["parameters"]}
    assert {"200", "201"} <= set(create["responses"])


def test_security_is_bearer_jwt(schema):
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())


@pytest.mark.parametrize("url,external_allowed", [
    ("/api/docs/", None),
    ("/api/redoc/", "https://fonts."),  # Redoc's stock template links web fonts; it renders without them
])
def test_docs_pages_use_local_assets_that_are_served(url, external_allowed):
    client = Client()
    resp = client.get(url)
    assert resp.status_code == 200
    assert resp["Content-Type"].startswith("text/html")
    html = resp.content.decode()
    external = [u for u in re.findall(r'(?:src|href)="(https?://[^"]+)"', html)
                if not (external_allowed and u.startswith(external_allowed))]
    assert not external, f"docs page loads assets from a CDN: {external}"
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', html)
    assert any("drf_spectacular_sidecar" in a for a in assets), assets
    assert "/api/schema/" in html
    for asset in {a for a in assets if a.endswith(".js")}:
        served = client.get(asset)
        assert served.status_code == 200, asset
        body = b"".join(served.streaming_content) if served.streaming else served.content
        assert len(body) > 1000, asset


def test_operations_are_grouped_by_app_each_with_a_one_line_summary(schema):
    expected = {"/auth/": "auth", "/tasks/system/": "system", "/tasks/monitoring/": "monitoring",
                "/tasks/persistent-jobs/": "persistence", "/tasks/scheduled/": "scheduling"}
    for path, method, op in operations(schema):
        tag = next((t for prefix, t in expected.items() if path.startswith(prefix)), None)
        if tag is None and path.startswith("/tasks/"):
            tag = "tasks"
        if tag is not None:
            assert op["tags"] == [tag], f"{method.upper()} {path}"
        summary = op.get("summary", "")
        assert summary and "\n" not in summary and len(summary) <= 160, f"{method.upper()} {path}: {summary!r}"
    assert {"auth", "tasks", "system", "monitoring", "persistence", "scheduling"} <= {t["name"] for t in schema["tags"]}
    assert schema["paths"]["/tasks/"]["get"]["summary"] == "List tasks"
    assert schema["paths"]["/tasks/monitoring/alert-rules/"]["post"]["summary"] == "Create an alert rule"


def test_the_task_create_example_is_the_french_reference_seo_analysis(schema):
    examples = schema["paths"]["/tasks/"]["post"]["requestBody"]["content"]["application/json"]["examples"]
    first = next(iter(examples.values()))["value"]
    assert first == {"task_type": "seo_keyword_analysis", "priority": "normal", "description": "Analyser 500 mots-clés",
                     "context_data": {"keyword_ids": [1, 2, 3, 4, 5], "analysis_depth": "full"}}
    # The others come from the registry's schemas, never "string".
    assert all(e["value"]["task_type"] != "string" and isinstance(e["value"]["context_data"], dict)
               for e in examples.values())
    assert len(examples) > 1


def test_swagger_ui_remembers_what_authorize_was_given():
    html = Client().get("/api/docs/").content.decode()
    assert "persistAuthorization" in html
