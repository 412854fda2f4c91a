"""POST /tasks/: representation, registry defaults, validation errors, idempotency."""

import pytest

from task_core.models import BaseTask, TaskEvent

pytestmark = pytest.mark.django_db

SEO = {"task_type": "seo_keyword_analysis", "context_data": {"keyword_ids": [1, 2, 3]}}


def assert_error(resp, status, code):
    assert resp.status_code == status, (resp.status_code, resp.content[:500])
    body = resp.json()
    assert set(body) == {"detail", "error_code", "field_errors"}, body
    assert body["error_code"] == code, body
    return body


def test_create_answers_201_with_the_reference_representation(operator_api, operator, brand):
    resp = operator_api.post("/tasks/", SEO, format="json")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    reference = {"id", "task_id", "task_type", "status", "priority", "progress_percentage", "brand", "created_by",
                 "created_at", "completed_at", "context_data", "result_data"}
    assert reference <= set(body), reference - set(body)
    assert body["task_type"] == "seo_keyword_analysis"
    assert body["status"] in {"pending", "queued"}
    assert body["priority"] == "normal"
    assert body["progress_percentage"] == 0
    assert body["brand"] == {"id": brand.pk, "name": "Humari"}
    assert body["created_by"] == {"id": operator.pk, "username": "martin"}
    assert body["completed_at"] is None and body["result_data"] is None
    assert body["origin"] == "api"

    task = BaseTask.objects.get(pk=body["id"])
    assert str(task.task_id) == body["task_id"]
    assert task.brand == brand and task.created_by == operator
    assert task.status in {"pending", "queued"}
    created = TaskEvent.objects.get(task=task)
    assert created.to_status == "pending" and created.actor == operator
    assert "created" in created.detail


def test_registry_defaults_are_applied(operator_api):
    body = operator_api.post("/tasks/", SEO, format="json").json()
    assert body["context_data"] == {"keyword_ids": [1, 2, 3], "analysis_depth": "quick"}
    assert body["max_retries"] == 3
    assert body["timeout_seconds"] == 1800
    assert body["queue"] == "default"

    body = operator_api.post("/tasks/", {"task_type": "demo.sleep"}, format="json").json()
    assert body["context_data"] == {"seconds": 5, "steps": 10}
    assert body["max_retries"] == 0 and body["timeout_seconds"] == 600


def test_explicit_options_override_the_defaults(operator_api):
    resp = operator_api.post("/tasks/", {**SEO, "priority": "critical", "max_retries": 0, "timeout_seconds": 30,
                                         "description": "urgent",
                                         "context_data": {"keyword_ids": [4], "analysis_depth": "full"}},
                             format="json")
    assert resp.status_code == 201, resp.json()
    task = BaseTask.objects.get(pk=resp.json()["id"])
    assert (task.priority, task.max_retries, task.timeout_seconds, task.description) == ("critical", 0, 30, "urgent")
    assert task.context_data == {"keyword_ids": [4], "analysis_depth": "full"}


def test_create_on_commit_sends_the_task_to_the_broker_and_marks_it_queued(
    operator_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        resp = operator_api.post("/tasks/", SEO, format="json")
    assert resp.status_code == 201
    task = BaseTask.objects.get(pk=resp.json()["id"])
    assert task.status == "queued"
    assert task.queued_at is not None
    assert list(task.events.values_list("to_status", flat=True)) == ["pending", "queued"]


def test_unknown_task_type_is_400_naming_task_type(operator_api):
    body = assert_error(operator_api.post("/tasks/", {"task_type": "nope.nope"}, format="json"),
                        400, "UNKNOWN_TASK_TYPE")
    assert "nope.nope" in body["field_errors"]["task_type"][0]
    assert BaseTask.objects.count() == 0


def test_missing_task_type_is_400(operator_api):
    body = assert_error(operator_api.post("/tasks/", {"context_data": {}}, format="json"), 400, "VALIDATION_ERROR")
    assert "task_type" in body["field_errors"]


@pytest.mark.parametrize("context_data,field", [
    ({}, "context_data.keyword_ids"),                                    # required
    ({"keyword_ids": []}, "context_data.keyword_ids"),                   # minItems
    ({"keyword_ids": "1,2"}, "context_data.keyword_ids"),                # type
    ({"keyword_ids": [1, "x"]}, "context_data.keyword_ids.1"),           # item type
    ({"keyword_ids": [0]}, "context_data.keyword_ids.0"),                # item minimum
    ({"keyword_ids": [1], "analysis_depth": "deep"}, "context_data.analysis_depth"),  # enum
    ({"keyword_ids": [1], "colour": "red"}, "context_data"),             # additionalProperties
])
def test_schema_violations_are_400_naming_the_parameter(operator_api, context_data, field):
    resp = operator_api.post("/tasks/", {"task_type": "seo_keyword_analysis", "context_data": context_data},
                             format="json")
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert field in body["field_errors"], body["field_errors"]
    assert all(isinstance(m, str) and m for m in body["field_errors"][field])
    assert BaseTask.objects.count() == 0


@pytest.mark.parametrize("context_data", [[1, 2], "text", 3])
def test_context_data_must_be_an_object(operator_api, context_data):
    resp = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": context_data}, format="json")
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert "context_data" in body["field_errors"]


@pytest.mark.parametrize("priority", ["urgent", "", 5])
def test_bad_priority_is_400_naming_priority(operator_api, priority):
    body = assert_error(operator_api.post("/tasks/", {**SEO, "priority": priority}, format="json"),
                        400, "VALIDATION_ERROR")
    assert "priority" in body["field_errors"]


@pytest.mark.parametrize("field,value", [("max_retries", -1), ("max_retries", 21), ("timeout_seconds", 0),
                                         ("timeout_seconds", 10**9)])
def test_out_of_range_options_are_400_naming_them(operator_api, field, value):
    body = assert_error(operator_api.post("/tasks/", {**SEO, field: value}, format="json"), 400, "VALIDATION_ERROR")
    assert field in body["field_errors"]


def test_context_data_over_64_kib_is_400(operator_api):
    big = {"message": "x" * 9000, **{f"k{i}": "y" * 1000 for i in range(60)}}  # demo.echo allows extra keys
    resp = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": big}, format="json")
    body = assert_error(resp, 400, "VALIDATION_ERROR")
    assert "64 KiB" in body["field_errors"]["context_data"][0]
    assert BaseTask.objects.count() == 0


def test_context_data_just_under_the_limit_is_accepted(operator_api):
    resp = operator_api.post("/tasks/", {"task_type": "demo.echo", "context_data": {"blob": "x" * 60000}},
                             format="json")
    assert resp.status_code == 201


def test_a_body_over_the_upload_limit_is_413_in_the_error_shape(operator_api):
    resp = operator_api.post("/tasks/", '{"task_type": "demo.echo", "context_data": {"b": "' + "x" * 1_100_000 + '"}}',
                             content_type="application/json")
    assert_error(resp, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("payload", ['{"task_type": "demo.echo",', "not json", "[1, 2"])
def test_malformed_json_is_400_malformed_request(operator_api, payload):
    resp = operator_api.post("/tasks/", payload, content_type="application/json")
    assert_error(resp, 400, "MALFORMED_REQUEST")


def test_a_json_array_body_is_400_not_500(operator_api):
    resp = operator_api.post("/tasks/", "[1, 2]", content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["error_code"] in {"VALIDATION_ERROR", "MALFORMED_REQUEST"}


def test_a_non_json_content_type_is_415(operator_api):
    resp = operator_api.post("/tasks/", "task_type=demo.echo", content_type="application/x-www-form-urlencoded")
    assert_error(resp, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_idempotency_key_replay_returns_the_first_task(operator_api):
    first = operator_api.post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert first.status_code == 201
    assert "Idempotent-Replayed" not in first

    replay = operator_api.post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY="order-42")
    assert replay.status_code == 200
    assert replay["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["task_id"] == first.json()["task_id"]
    assert BaseTask.objects.count() == 1
    assert TaskEvent.objects.count() == 1


def test_idempotency_key_with_different_parameters_is_409(operator_api):
    operator_api.post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY="order-43")
    other = {**SEO, "context_data": {"keyword_ids": [9]}}
    body = assert_error(operator_api.post("/tasks/", other, format="json", HTTP_IDEMPOTENCY_KEY="order-43"),
                        409, "IDEMPOTENCY_KEY_REUSED")
    assert "Idempotency-Key" in body["detail"]
    assert BaseTask.objects.count() == 1


def test_idempotency_keys_are_per_brand(api, operator, brand, other_brand):
    from task_core.models import BrandMembership

    BrandMembership.objects.create(user=operator, brand=other_brand, role="operator")
    a = api(operator, brand).post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    b = api(operator, other_brand).post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert (a.status_code, b.status_code) == (201, 201)
    assert a.json()["id"] != b.json()["id"]


def test_without_idempotency_key_two_posts_make_two_tasks(operator_api):
    ids = {operator_api.post("/tasks/", SEO, format="json").json()["id"] for _ in range(2)}
    assert len(ids) == 2


# --- input the database or the broker could not store: 400, never 500 -------------------------------

@pytest.mark.parametrize("raw_context,field", [
    ('{"message": "a\\u0000b"}', "context_data.message"),              # NUL: PostgreSQL text/jsonb refuse it
    ('{"a\\u0000": "b"}', "context_data"),                             # ... in a parameter name too
    ('{"message": "\\ud800"}', "context_data.message"),                # a lone surrogate is not UTF-8
    ('{"x": ' + "[" * 40 + "]" * 40 + "}", "context_data.x" + ".0" * 32),  # absurd nesting
])
def test_unstorable_parameters_are_400_naming_them(operator_api, raw_context, field):
    body = '{"task_type": "demo.echo", "context_data": ' + raw_context + "}"
    resp = operator_api.post("/tasks/", body, content_type="application/json")
    errors = assert_error(resp, 400, "VALIDATION_ERROR")["field_errors"]
    assert field in errors, errors
    assert BaseTask.objects.count() == 0


def test_a_body_nested_beyond_the_parsers_limit_is_400_malformed(operator_api):
    body = '{"task_type": "demo.echo", "context_data": {"x": ' + "[" * 5000 + "]" * 5000 + "}}"
    assert_error(operator_api.post("/tasks/", body, content_type="application/json"), 400, "MALFORMED_REQUEST")


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_an_infinite_number_is_400(operator_api, number):
    body = '{"task_type": "demo.echo", "context_data": {"x": ' + number + "}}"
    errors = assert_error(operator_api.post("/tasks/", body, content_type="application/json"),
                          400, "VALIDATION_ERROR")["field_errors"]
    assert "context_data" in errors


@pytest.mark.parametrize("key", ["k" * 256, "a\tb"])
def test_an_unusable_idempotency_key_is_400(operator_api, key):
    body = assert_error(operator_api.post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY=key),
                        400, "VALIDATION_ERROR")
    assert "Idempotency-Key" in body["field_errors"]
    assert BaseTask.objects.count() == 0


def test_the_longest_idempotency_key_works(operator_api):
    key = "k" * 255
    first = operator_api.post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY=key)
    again = operator_api.post("/tasks/", SEO, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (first.status_code, again.status_code) == (201, 200)
