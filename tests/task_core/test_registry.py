"""The task registry: declaration checks, parameter validation messages, defaults, backoff."""

import dataclasses

import pytest
from celery import current_app

from megahub.api.exceptions import ApplicationError
from task_core.pipeline.worker import PipelineTask
from task_core.registry import _REGISTRY, UnknownTaskType, all_task_types, get_task_type, task_type


@pytest.fixture
def declare():
    """Declare test-only task types through the real decorator; they are unregistered afterwards."""
    names = []

    def make(name, **options):
        names.append(name)
        task_type(name, **options)(lambda ctx, **params: params)
        return get_task_type(name)

    yield make
    for name in names:
        _REGISTRY.pop(name, None)


def errors_of(ttype, params) -> dict:
    with pytest.raises(ApplicationError) as info:
        ttype.validate(params)
    assert info.value.error_code == "VALIDATION_ERROR"
    assert info.value.status_code == 400
    return info.value.field_errors


# --- declaration ---------------------------------------------------------------------------------

def test_the_shipped_types_are_registered_and_sorted():
    names = [t.name for t in all_task_types()]
    assert {"seo_keyword_analysis", "demo.sleep", "demo.echo", "demo.fail"} <= set(names)
    assert names == sorted(names)


def test_every_declared_type_is_also_a_celery_task_of_the_same_name():
    """TaskCoreConfig.ready() makes each type the apps' task_types modules declared a Celery task that
    runs the pipeline, so Flower and `celery inspect` show it by name."""
    for ttype in all_task_types():
        assert isinstance(current_app.tasks[ttype.name], PipelineTask), ttype.name


def test_declaration_defaults(declare):
    ttype = declare("tests.registry.plain")
    assert ttype.schema == {"type": "object", "properties": {}, "additionalProperties": False}
    assert (ttype.queue, ttype.priority, ttype.max_retries, ttype.timeout_seconds, ttype.resumable) == (
        "default", "normal", 0, 300, False)
    assert ttype.label == "tests.registry.plain"
    assert ttype.validate({}) == {}


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"x": {"type": "nonsense"}}},
    {"type": "object", "required": "x"},
    {"type": "object", "properties": {"x": {"minimum": "zero"}}},
])
def test_an_invalid_schema_is_rejected_at_declaration(schema):
    with pytest.raises(ValueError, match="Invalid parameter schema for task type tests.registry.bad"):
        task_type("tests.registry.bad", schema=schema)
    assert "tests.registry.bad" not in _REGISTRY


def test_an_unknown_priority_is_rejected_at_declaration():
    with pytest.raises(ValueError, match="priority"):
        task_type("tests.registry.bad", priority="urgent")
    assert "tests.registry.bad" not in _REGISTRY


def test_an_unknown_type_is_a_400_naming_task_type():
    with pytest.raises(UnknownTaskType) as info:
        get_task_type("nope")
    assert info.value.status_code == 400
    assert info.value.error_code == "UNKNOWN_TASK_TYPE"
    assert "nope" in info.value.field_errors["task_type"][0]


# --- validation ----------------------------------------------------------------------------------

def test_schema_defaults_are_applied_without_touching_the_input():
    seo = get_task_type("seo_keyword_analysis")
    params = {"keyword_ids": [1]}
    assert seo.validate(params) == {"keyword_ids": [1], "analysis_depth": "quick"}
    assert params == {"keyword_ids": [1]}
    assert seo.validate({"keyword_ids": [1], "analysis_depth": "full"})["analysis_depth"] == "full"


def test_validation_messages_name_each_parameter():
    seo = get_task_type("seo_keyword_analysis")
    assert errors_of(seo, {}) == {"context_data.keyword_ids": ["'keyword_ids' is a required property"]}
    errors = errors_of(seo, {"keyword_ids": [1, "two", -3], "analysis_depth": "deep"})
    assert set(errors) == {"context_data.keyword_ids.1", "context_data.keyword_ids.2", "context_data.analysis_depth"}
    assert "is not of type 'integer'" in errors["context_data.keyword_ids.1"][0]
    assert "minimum" in errors["context_data.keyword_ids.2"][0]
    assert "is not one of ['quick', 'full']" in errors["context_data.analysis_depth"][0]


def test_unexpected_parameters_are_named_in_the_message():
    errors = errors_of(get_task_type("demo.fail"), {"colour": "red"})
    assert list(errors) == ["context_data"]
    assert "'colour'" in errors["context_data"][0]


@pytest.mark.parametrize("params", [[], "x", 1, None])
def test_parameters_must_be_an_object(params):
    assert errors_of(get_task_type("demo.echo"), params) == {"context_data": ["Must be a JSON object."]}


def test_nested_errors_carry_the_full_path(declare):
    ttype = declare("tests.registry.nested", schema={
        "type": "object",
        "properties": {
            "target": {"type": "object", "properties": {"url": {"type": "string"}, "retries": {"type": "integer"}},
                       "required": ["url"], "additionalProperties": False},
        },
        "required": ["target"],
    })
    assert errors_of(ttype, {}) == {"context_data.target": ["'target' is a required property"]}
    errors = errors_of(ttype, {"target": {"retries": "x"}})
    assert set(errors) == {"context_data.target.url", "context_data.target.retries"}
    errors = errors_of(ttype, {"target": {"url": "u", "extra": 1}})
    assert list(errors) == ["context_data.target"]
    assert ttype.validate({"target": {"url": "u"}}) == {"target": {"url": "u"}}


def test_a_required_property_with_a_quote_in_its_name_is_named_correctly(declare):
    ttype = declare("tests.registry.quote", schema={"type": "object", "required": ["it's"]})
    assert list(errors_of(ttype, {})) == ["context_data.it's"]


# --- backoff -------------------------------------------------------------------------------------

def test_backoff_is_exponential_and_capped():
    seo = get_task_type("seo_keyword_analysis")  # retry_backoff=5, cap 300
    assert [seo.backoff_seconds(n) for n in range(1, 9)] == [5, 10, 20, 40, 80, 160, 300, 300]
    assert seo.backoff_seconds(0) == 5
    assert seo.backoff_seconds(1000) == 300

    tight = dataclasses.replace(seo, retry_backoff=1, retry_backoff_max=6)
    assert [tight.backoff_seconds(n) for n in range(1, 6)] == [1, 2, 4, 6, 6]


def test_describe_exports_schema_ui_and_defaults():
    info = get_task_type("demo.sleep").describe()
    assert info["name"] == "demo.sleep" and info["label"] == "Sleep"
    assert info["parameters_schema"]["properties"]["seconds"]["default"] == 5
    assert info["ui"] == {"seconds": {"widget": "number", "suffix": "s"}}
    assert info["defaults"]["timeout_seconds"] == 600
    assert info["defaults"]["retry_backoff_seconds"] == 2


@pytest.mark.parametrize("params,field", [
    ({"message": "a\x00b"}, "context_data.message"),
    ({"nested": {"list": ["ok", "\ud800"]}}, "context_data.nested.list.1"),
    ({"bad\x00key": 1}, "context_data"),
])
def test_values_the_database_cannot_store_are_refused(params, field):
    errors = errors_of(get_task_type("demo.echo"), params)
    assert field in errors, errors


def test_nesting_is_limited_before_the_schema_validator_recurses():
    deep: list = []
    for _ in range(2000):
        deep = [deep]
    errors = errors_of(get_task_type("demo.echo"), {"x": deep})
    assert list(errors) == ["context_data.x" + ".0" * 32]
    assert get_task_type("demo.echo").validate({"x": [[[[1]]]]})["x"] == [[[[1]]]]
