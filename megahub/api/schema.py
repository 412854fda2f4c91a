"""OpenAPI generation: the error shape on every operation, the brand header as a security scheme (Swagger UI's
"Authorize" remembers it with the JWT), tags by app and a one-line summary per operation. Query parameters
state what the server enforces: each filter's bounds and pattern (`StrictFilterExtension`), and no empty
value (`postprocess`)."""

import copy

from django.core import validators
from django_filters import OrderingFilter
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from .scoping import BrandAccess


class BrandJWTScheme(SimpleJWTScheme):
    """The API's authentication (megahub/api/authentication.py) is simplejwt's JWT: the same `jwtAuth`
    bearer scheme (drf-spectacular's extension matches simplejwt's class only, not its subclasses)."""

    target_class = "megahub.api.authentication.BrandJWTAuthentication"


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    error_code = serializers.CharField(help_text="Stable machine-readable code, e.g. TASK_NOT_FOUND.")
    field_errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Messages per input field (dotted path for nested fields).",
    )


# The brand header as an apiKey scheme: required with the JWT on every brand-scoped operation (a missing one is
# 400 BRAND_REQUIRED, a brand the caller is not a member of 403), and entered once in Swagger UI.
BRAND_SECURITY_SCHEME = "brandId"
BRAND_SECURITY_DEFINITION = {
    "type": "apiKey", "in": "header", "name": "X-Brand-ID",
    "description": "The id of the brand this call acts on (an integer); the caller must be a member of it.",
}

# Tags by URL prefix, the first match wins: operations are grouped by the app that serves them.
TAGS_BY_PREFIX = [
    ("/auth/", "auth"),
    ("/tasks/system/", "system"),
    ("/tasks/monitoring/", "monitoring"),
    ("/tasks/persistent-jobs/", "persistence"),
    ("/tasks/scheduled/", "scheduling"),
    ("/api/v1/scheduler/", "scheduler v1"),
    ("/tasks/", "tasks"),
]
TAG_DESCRIPTIONS = {
    "auth": "JWT login, refresh and the current user.",
    "tasks": "Create, list, retry and cancel tasks; their events and queue statistics.",
    "system": "Status, health, enums, task types, dashboard and cleanup.",
    "monitoring": "Task metrics, dashboards, workers, alert rules and alerts.",
    "persistence": "Resumable jobs, their checkpoints and resumes.",
    "scheduling": "Periodic task templates, schedules, cron validation and calendars.",
    "scheduler v1": "The Russian reference's scheduler API (its own field names and status codes).",
}

# Summaries of the standard actions; other actions use the first line of their docstring.
ACTION_SUMMARIES = {
    "list": "List {plural}", "create": "Create {singular}", "retrieve": "Get {singular}",
    "update": "Replace {singular}", "partial_update": "Update {singular}", "destroy": "Delete {singular}",
}

ERROR_DESCRIPTIONS = {
    "400": "Invalid input (VALIDATION_ERROR with field_errors, BRAND_REQUIRED, ...)",
    "401": "Missing or invalid token",
    "403": "Not a member of the brand, or the role is insufficient",
    "404": "Not found in this brand",
    "405": "Method not allowed",
    "409": "Not allowed in the object's current state (INVALID_TRANSITION)",
    "429": "Throttled",
    "500": "Internal error",
    "503": "A required service is unavailable (DATABASE_UNAVAILABLE, BROKER_UNAVAILABLE)",
}


# Serializers' `schema_variants`, by the key their component carries until `postprocess` applies them.
SCHEMA_VARIANTS: dict = {}
VARIANTS_KEY = "x-megahub-variants"

VALIDATOR_KEYWORDS = [(validators.MinValueValidator, "minimum"), (validators.MaxValueValidator, "maximum"),
                      (validators.MinLengthValidator, "minLength"), (validators.MaxLengthValidator, "maxLength")]


class StrictFilterExtension(DjangoFilterExtension):
    """drf-spectacular's django-filter parameters, plus what each filter enforces: the bounds of its form
    field's validators, a filter's own `openapi_schema` (megahub.api.filters.ChoiceListFilter), and one value
    for an ordering that takes one field (`single_field = True`)."""

    target_class = "megahub.api.filters.StrictFilterBackend"
    priority = 1

    def resolve_filter_field(self, auto_schema, model, filterset_class, field_name, filter_field):
        parameters = super().resolve_filter_field(auto_schema, model, filterset_class, field_name, filter_field)
        for parameter in parameters:
            schema = parameter["schema"]
            if isinstance(filter_field, OrderingFilter) and getattr(filter_field, "single_field", False):
                schema = parameter["schema"] = {"type": "string", "enum": schema["items"]["enum"]}
                parameter.pop("explode", None)
                parameter.pop("style", None)
            schema.update(getattr(filter_field, "openapi_schema", {}))
            # A copy: building the form field on the shared base filter would make every FilterSet copy it.
            for validator in copy.deepcopy(filter_field).field.validators:
                for cls, keyword in VALIDATOR_KEYWORDS:
                    if isinstance(validator, cls) and schema.get("type") in ("integer", "number", "string"):
                        schema.setdefault(keyword, validator.limit_value)
        return parameters


def tag_for_path(path: str) -> str:
    return next((tag for prefix, tag in TAGS_BY_PREFIX if path.startswith(prefix)), "tasks")


class MegahubAutoSchema(AutoSchema):
    def _is_brand_scoped(self) -> bool:
        return any(isinstance(p, BrandAccess) for p in self.view.get_permissions())

    def _map_basic_serializer(self, serializer, direction):
        """A read-only field declared `required=False` (shown only on request) is not required in the response."""
        component = super()._map_basic_serializer(serializer, direction)
        optional = {field.field_name for field in serializer.fields.values()
                    if field.read_only and field._kwargs.get("required") is False}
        if optional and "required" in component:
            component["required"] = [name for name in component["required"] if name not in optional]
            if not component["required"]:
                del component["required"]
        # A body whose fields depend on one another (a task type and its parameters) is one of several
        # shapes: the serializer's `schema_variants(component)` gives them, applied by `postprocess` (after the
        # enums are made components, so that each variant's one value stays in it).
        # A PATCH body (partial) has its own: `partial_schema_variants`, where the choices may be left out.
        variants = getattr(serializer, "partial_schema_variants" if serializer.partial else "schema_variants", None)
        if direction == "request" and variants:
            key = f"{type(serializer).__module__}.{type(serializer).__qualname__}.{serializer.partial}"
            SCHEMA_VARIANTS[key] = variants
            component[VARIANTS_KEY] = key
        # A serializer needing one of several fields (its validate() checks) says so: `required_any_of`.
        if direction == "request" and getattr(serializer, "required_any_of", None) and not serializer.partial:
            component["anyOf"] = [{"required": [name]} for name in serializer.required_any_of]
        return component

    def _get_request_for_media_type(self, serializer, direction="request"):
        """A body that needs one of several fields (`required_any_of`) is required, as one with a required
        field is."""
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if getattr(serializer, "required_any_of", None) and not getattr(serializer, "partial", False):
            required = True
        return schema, required

    def get_examples(self):
        """A view's `schema_examples` (action name -> callable): examples built when the schema is, from data
        only known then (the task registry)."""
        build = getattr(self.view, "schema_examples", {}).get(getattr(self.view, "action", None))
        return [*super().get_examples(), *(build() if build else [])]

    def get_tags(self):
        return [tag_for_path(self.path)]

    def get_auth(self):
        auths = super().get_auth()
        if self._is_brand_scoped():
            self.registry.register_on_missing(ResolvedComponent(
                name=BRAND_SECURITY_SCHEME, type=ResolvedComponent.SECURITY_SCHEMA, object=BRAND_SECURITY_SCHEME,
                schema=BRAND_SECURITY_DEFINITION))
            auths = [{**requirement, BRAND_SECURITY_SCHEME: []} for requirement in auths if requirement]
        return auths

    def get_summary(self):
        summary = super().get_summary()
        if summary:
            return summary
        action = getattr(self.view, "action", None)
        if action in ACTION_SUMMARIES:
            return ACTION_SUMMARIES[action].format(**self._resource_names())
        handler = getattr(self.view, action or self.method.lower(), None)
        return first_sentence(getattr(handler, "__doc__", None)) or first_sentence(self.view.__class__.__doc__)

    def _resource_names(self) -> dict:
        """The resource's name from its URL (`/tasks/monitoring/alert-rules/{id}/` -> alert rule)."""
        plural = [part for part in self.path.strip("/").split("/") if not part.startswith("{")][-1].replace("-", " ")
        singular = plural[:-1] if plural.endswith("s") and not plural.endswith("ss") else plural
        article = "an" if singular[0] in "aeiou" else "a"
        return {"plural": plural, "singular": f"{article} {singular}"}

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        error_schema = self._get_response_for_code(ErrorSerializer, "400")
        codes = ["400", "401", "404", "405", "429", "500", "503"]  # 503: any call needs the database
        if self._is_brand_scoped():
            codes += ["403", "409"]
        for code in codes:
            if code not in responses:
                body = dict(error_schema)
                body["description"] = ERROR_DESCRIPTIONS[code]
                responses[code] = body
        return responses


def first_sentence(doc: str | None, longest: int = 100) -> str | None:
    """The first sentence of a docstring's first paragraph, without its full stop; a long one up to its first
    clause break (";", " (", ": ", ", ")."""
    sentence = " ".join((doc or "").strip().split("\n\n")[0].split()).split(". ")[0].rstrip(".")
    for mark in ("; ", " (", ": ", ", "):
        if len(sentence) <= longest:
            break
        head = sentence.split(mark)[0]
        if 20 <= len(head) < len(sentence):
            sentence = head
    return sentence or None


# Creations whose object is also served under another collection (a cron job is a periodic task; a schedule
# is created under its template): their links reach that collection's operations too.
ALSO_SERVED_UNDER = {
    ("post", "/tasks/scheduled/cron-jobs/"): ["/tasks/scheduled/periodic-tasks/"],
    ("post", "/tasks/scheduled/periodic-tasks/{id}/schedules/"): ["/tasks/scheduled/schedules/"],
}
SUCCESS_CODES = ("201", "200")


def add_links(paths: dict, components: dict | None = None) -> None:
    """OpenAPI links from an object to its operations: a collection's create (POST `P`, 201) links to every
    operation of `P{id}/` by the created `id`, a collection's page (GET `P`) by the `id` of its first item,
    and each operation of `P{id}/` to the others by the same id. A client (or schemathesis's stateful phase)
    goes from a created or listed object to its detail, actions, and deletion."""
    components = components or {}

    def operations_of(collection: str) -> list[tuple[str, dict]]:
        detail = f"{collection}{{id}}/"
        return [(op["operationId"], op) for path, item in paths.items() if path.startswith(detail)
                for method, op in item.items()]

    def link(op: dict, targets: list[tuple[str, dict]], expression: str) -> None:
        code = next((c for c in SUCCESS_CODES if c in op["responses"]), None)
        if code is None:
            return
        links = op["responses"][code].setdefault("links", {})
        # The object the link starts from, in the response: its references go with it (BODY_REFERENCES).
        prefix = "$response.body#/results/0/" if expression.endswith("/results/0/id") else "$response.body#/"
        returned = response_properties(op["responses"][code], components, page=prefix.endswith("/0/"))
        for operation_id, target in targets:
            definition = {"operationId": operation_id, "parameters": {"id": expression}}
            body = request_properties(target, components) if target["operationId"].endswith(UPDATES) else set()
            carried = {name: prefix + name for name in BODY_REFERENCES if name in body and name in returned}
            if carried:
                definition["requestBody"] = carried
            links.setdefault(operation_id, definition)

    for path, item in paths.items():
        for method, op in item.items():
            if method == "delete":
                continue
            if method == "post" and operations_of(path):
                link(op, operations_of(path), "$response.body#/id")
            if method == "get" and operations_of(path) and is_page(op, components):
                link(op, operations_of(path), "$response.body#/results/0/id")
            if "/{id}/" in path:
                link(op, operations_of(path.split("{id}/")[0]), "$request.path.id")
            for collection in ALSO_SERVED_UNDER.get((method, path), ()):
                link(op, operations_of(collection), "$response.body#/id")


# References to other objects that an update's body names: a link to an update carries the object's own
# value, so a client following it (schemathesis's stateful phase) keeps a calendar that exists rather than
# naming an unknown one (a 404 naming the field).
BODY_REFERENCES = ("calendar",)
UPDATES = ("_update", "_partial_update")


def properties(schema: dict, components: dict) -> set[str]:
    """The property names of an object schema, through references and combinations."""
    schema = components.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
    names = set(schema.get("properties", {}))
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            names |= properties(part, components)
    return names


def request_properties(op: dict, components: dict) -> set[str]:
    return properties(op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {}),
                      components)


def response_properties(response: dict, components: dict, page: bool = False) -> set[str]:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if page:
        schema = components.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
        schema = schema.get("properties", {}).get("results", {}).get("items", {})
    return properties(schema, components)


def is_page(op: dict, components: dict) -> bool:
    """Whether the operation answers a page of objects with ids (`results`)."""
    schema = op["responses"].get("200", {}).get("content", {}).get("application/json", {}).get("schema", {})
    schema = components.get(schema.get("$ref", "").rsplit("/", 1)[-1], schema)
    items = schema.get("properties", {}).get("results", {}).get("items", {})
    items = components.get(items.get("$ref", "").rsplit("/", 1)[-1], items)
    return "id" in items.get("properties", {})


def postprocess(result, generator, request, public):
    """The tags in the order of TAGS_BY_PREFIX, with their descriptions; no query parameter takes an empty
    value (megahub.api.filters.refuse_empty_query_params); bodies of several shapes are a `oneOf` of them."""
    components = result.get("components", {}).get("schemas", {})
    add_links(result["paths"], components)
    for name, component in list(components.items()):
        if VARIANTS_KEY in component:
            variants = SCHEMA_VARIANTS[component.pop(VARIANTS_KEY)]
            components[name] = variants(component, components)
    result["components"]["schemas"] = dict(sorted(components.items()))
    for item in result["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                if parameter["in"] != "query":
                    continue
                if schema.get("type") == "string" and "enum" not in schema:
                    schema["minLength"] = max(schema.get("minLength", 0), 1)
                elif schema.get("type") == "array":
                    schema["minItems"] = max(schema.get("minItems", 0), 1)
    used = {tag for item in result["paths"].values() for op in item.values() for tag in op.get("tags", ())}
    ordered = [tag for _, tag in TAGS_BY_PREFIX if tag in used] + sorted(used - set(TAG_DESCRIPTIONS))
    result["tags"] = [{"name": tag, "description": TAG_DESCRIPTIONS.get(tag, "")} for tag in ordered]
    return result
