"""The task registry: one decorator declares a task type, its parameter schema, UI hints and defaults.

    @task_type("demo.sleep", schema={...}, ui={...}, timeout_seconds=60, max_retries=2)
    def sleep(ctx, seconds):
        ...

Each type is also a Celery task of the same name (registered by TaskCoreConfig.ready() once every app's
task_types module is loaded), so Flower and `celery inspect` show it by name.
The schema is JSON Schema (draft 2020-12) for `context_data`; it validates parameters on create and is
exported by `GET /tasks/system/task-info/` so the back office renders forms from it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from megahub.api.exceptions import ApplicationError, validation_error

from .choices import PRIORITY_LEVELS


class UnknownTaskType(ApplicationError):
    error_code = "UNKNOWN_TASK_TYPE"


@dataclass(frozen=True)
class TaskType:
    name: str
    func: Callable
    label: str
    description: str
    schema: dict
    ui: dict
    queue: str = "default"
    priority: str = "normal"
    max_retries: int = 0
    retry_backoff: int = 2
    retry_backoff_max: int = 300
    timeout_seconds: int = 300
    cost_per_hour_usd: float = 0.0  # per wall-clock hour of a run
    cost_per_cpu_hour_usd: float = 0.0  # per hour of CPU time of a run
    resumable: bool = False
    validator: Any = field(default=None, compare=False, repr=False)

    def backoff_seconds(self, retry_number: int) -> int:
        """Exponential backoff: base, 2×base, 4×base ... capped."""
        return min(self.retry_backoff * (2 ** max(retry_number - 1, 0)), self.retry_backoff_max)

    def validate(self, params: Any) -> dict:
        """Return the parameters with schema defaults applied, or raise a 400 naming each parameter."""
        if not isinstance(params, dict):
            raise validation_error("context_data must be a JSON object.",
                                   field_errors={"context_data": ["Must be a JSON object."]})
        errors = storable_json_errors(params)
        if errors:  # checked first: the schema validator would recurse into a too deep value
            raise validation_error(f"Invalid parameters for task type {self.name}.", field_errors=errors)
        for err in self.validator.iter_errors(params):
            path = [str(p) for p in err.absolute_path]
            if err.validator == "required":
                # One error per missing parameter: name it, under the object that lacks it.
                missing = next((name for name in err.validator_value
                                if name not in err.instance and err.message.startswith(repr(name))), None)
                if missing is not None:
                    path.append(missing)
            key = ".".join(["context_data", *path])
            errors.setdefault(key, []).append(err.message)
        if errors:
            raise validation_error(f"Invalid parameters for task type {self.name}.", field_errors=errors)
        cleaned = dict(params)
        for name, prop in self.schema.get("properties", {}).items():
            if name not in cleaned and "default" in prop:
                cleaned[name] = prop["default"]
        return cleaned

    def describe(self) -> dict:
        return {
            "name": self.name,
            "label": self.label,
            "description": self.description,
            "parameters_schema": self.schema,
            "ui": self.ui,
            "defaults": {
                "queue": self.queue,
                "priority": self.priority,
                "max_retries": self.max_retries,
                "retry_backoff_seconds": self.retry_backoff,
                "retry_backoff_max_seconds": self.retry_backoff_max,
                "timeout_seconds": self.timeout_seconds,
                "cost_per_hour_usd": self.cost_per_hour_usd,
                "cost_per_cpu_hour_usd": self.cost_per_cpu_hour_usd,
                "resumable": self.resumable,
            },
        }


# Parameters are stored as JSON (jsonb on PostgreSQL) and sent through the broker: refuse what either
# cannot hold, as a 400 rather than a database error.
MAX_PARAMETER_DEPTH = 32


def _unstorable_string(value: str) -> str | None:
    if "\x00" in value:
        return "Null characters are not allowed."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Invalid Unicode (lone surrogate)."
    return None


def storable_json_errors(value: Any, path: str = "context_data", depth: int = 0) -> dict[str, list[str]]:
    """Errors per dotted path for strings and keys that cannot be stored, and for too deep nesting."""
    if depth > MAX_PARAMETER_DEPTH:
        return {path: [f"Nested more than {MAX_PARAMETER_DEPTH} levels deep."]}
    errors: dict[str, list[str]] = {}
    if isinstance(value, str):
        problem = _unstorable_string(value)
        if problem:
            errors[path] = [problem]
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable_string(str(key))
            if problem:
                errors.setdefault(path, []).append(f"Parameter name: {problem}")
                continue
            errors.update(storable_json_errors(item, f"{path}.{key}", depth + 1))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            errors.update(storable_json_errors(item, f"{path}.{index}", depth + 1))
    return errors


_REGISTRY: dict[str, TaskType] = {}


def task_type(name: str, *, schema: dict | None = None, ui: dict | None = None, label: str = "",
              description: str = "", queue: str = "default", priority: str = "normal", max_retries: int = 0,
              retry_backoff: int = 2, retry_backoff_max: int = 300, timeout_seconds: int = 300,
              cost_per_hour_usd: float = 0.0, cost_per_cpu_hour_usd: float = 0.0, resumable: bool = False):
    """Declare a task type. The function receives the TaskContext and the parameters as keywords."""
    schema = schema or {"type": "object", "properties": {}, "additionalProperties": False}
    schema.setdefault("type", "object")
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:  # a programming error: fail at import, not at the first request
        raise ValueError(f"Invalid parameter schema for task type {name}: {exc.message}") from exc
    if priority not in PRIORITY_LEVELS:
        raise ValueError(f"Unknown priority {priority!r} for task type {name}")

    def decorator(func):
        ttype = TaskType(
            name=name, func=func, label=label or name, description=description or (func.__doc__ or "").strip(),
            schema=schema, ui=ui or {}, queue=queue, priority=priority, max_retries=max_retries,
            retry_backoff=retry_backoff, retry_backoff_max=retry_backoff_max, timeout_seconds=timeout_seconds,
            cost_per_hour_usd=cost_per_hour_usd, cost_per_cpu_hour_usd=cost_per_cpu_hour_usd,
            resumable=resumable, validator=Draft202012Validator(schema),
        )
        _REGISTRY[name] = ttype
        return func

    return decorator


def get_task_type(name: str) -> TaskType:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownTaskType(
            f"Unknown task type {name!r}.", field_errors={"task_type": [f"Unknown task type {name!r}."]}
        ) from None


def all_task_types() -> list[TaskType]:
    return sorted(_REGISTRY.values(), key=lambda t: t.name)
