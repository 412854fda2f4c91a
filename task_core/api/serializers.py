import copy
from collections.abc import Callable

from django.conf import settings
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers

from megahub.api.fields import CharField, IntegerField, JSONObjectField, ModelSerializer
from megahub.api.representation import CompiledRepresentation

from ..choices import TaskPriority
from ..enums import registered_enums
from ..models import BaseTask, TaskEvent
from ..querysets import TASK_RELATION_COLUMNS, TASK_RELATIONS
from ..registry import all_task_types


class TaskTypeField(CharField):
    """The name of a registered task type; its schema is the enum of the registered types (the service
    refuses another with a 400 UNKNOWN_TASK_TYPE)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 120)
        kwargs.setdefault("help_text", "A type listed by /tasks/system/task-info/.")
        super().__init__(**kwargs)


class TaskTypeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = TaskTypeField

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "string", "enum": sorted(t.name for t in all_task_types())}


def parameters_component(name: str) -> str:
    """The component name of a task type's parameter schema: demo.echo -> DemoEchoParameters."""
    return "".join(part.capitalize() for part in name.replace(".", "_").split("_")) + "Parameters"


def task_type_variants(type_field: str, parameters_field: str, applies: dict | None = None, *,
                       left_out: bool = False):
    """The request schema of a body naming a task type and its parameters: one branch per registered type
    (`oneOf`), its name the only value of `type_field`, its parameters the type's schema (a component,
    `<Type>Parameters`, shared by every body that names the type), required when the type requires a
    parameter. The other fields stay in the body's schema, once. `applies`: field name -> which types take
    it (a field only the branches of those types have). `left_out`: a PATCH body, where the type may be left
    out (one more branch: no `type_field`, its parameters checked against the stored type by the server).
    A serializer's `schema_variants` dimension (megahub.api.schema)."""

    def variants(component: dict, components: dict) -> list[dict]:
        properties = component["properties"]
        properties.pop(type_field, None)
        any_parameters = properties.pop(parameters_field, {"type": "object"})
        component["required"] = [name for name in component.get("required", []) if name != type_field]
        if not component["required"]:
            del component["required"]
        applying = applies if applies is not None else TASK_CREATE_FIELD_APPLIES
        own = {name: properties.pop(name) for name in applying if name in properties}
        out = []
        for ttype in all_task_types():
            name = parameters_component(ttype.name)
            components.setdefault(name, {**copy.deepcopy(ttype.schema), "description": f"Parameters of {ttype.name}."})
            branch = {"properties": {type_field: {"type": "string", "enum": [ttype.name]},
                                     parameters_field: {"$ref": f"#/components/schemas/{name}"}},
                      "required": [type_field]}
            branch["properties"].update({field: copy.deepcopy(schema) for field, schema in own.items()
                                         if applying[field](ttype)})
            if ttype.schema.get("required") and not left_out:  # a PATCH may keep the stored parameters
                branch["required"].append(parameters_field)
            out.append(branch)
        if left_out:
            out.append({"properties": {type_field: {"not": {}}, parameters_field: any_parameters}})
        return out

    return variants


def variant_dimensions(*dimensions):
    """`schema_variants` of independent choices (the task type; the kind): each a `oneOf` of its branches,
    together an `allOf` of them; the body's other fields stay in its schema, once."""
    def apply(component: dict, components: dict) -> dict:
        branches = [dimension(component, components) for dimension in dimensions]
        if len(branches) == 1:
            return {**component, "oneOf": branches[0]}
        return {**component, "allOf": [{"oneOf": b} for b in branches]}
    return apply


def timeout_seconds_field(**kwargs) -> IntegerField:
    """A task's timeout: 1 to MAX_TASK_TIMEOUT_SECONDS (what services.task_build accepts)."""
    return IntegerField(min_value=1, max_value=settings.MAX_TASK_TIMEOUT_SECONDS, **kwargs)


class BrandRefSerializer(serializers.Serializer):
    id = IntegerField()
    name = CharField()


class UserRefSerializer(serializers.Serializer):
    id = IntegerField()
    username = CharField()


class TaskSerializer(CompiledRepresentation, ModelSerializer):
    """A task as the reference example shows it. Other apps add fields with `register_task_field`. Its
    representation is compiled once for all requests (megahub/api/representation.py): a page of tasks
    costs no DRF machinery per field and row, nor the building of the serializer's fields."""

    share_compiled = True  # no field reads the request (register_task_field's contract)

    brand = BrandRefSerializer(read_only=True)
    created_by = UserRefSerializer(read_only=True, allow_null=True)
    duration_ms = IntegerField(read_only=True, allow_null=True)
    retry_of = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = BaseTask
        fields = [
            "id", "task_id", "task_type", "status", "priority", "progress_percentage", "progress_message",
            "brand", "created_by", "description", "origin", "queue", "worker", "retry_count", "max_retries",
            "timeout_seconds", "retry_of", "created_at", "queued_at", "started_at", "completed_at",
            "duration_ms", "context_data", "result_data", "error_message",
        ]
        read_only_fields = fields


class TaskDetailSerializer(TaskSerializer):
    class Meta(TaskSerializer.Meta):
        fields = [*TaskSerializer.Meta.fields, "error_traceback"]
        read_only_fields = fields


def register_task_field(name: str, field: serializers.Field, *, select_related: tuple[str, ...] = (),
                        only: tuple[str, ...] = ()) -> None:
    """Add a read-only field to the task representation (called by other apps from AppConfig.ready()).
    The field must not read the serializer's context (the request): the task representation is compiled
    once for every request (megahub/api/representation.py, `share_compiled`).

    `select_related`: relations the field reads (e.g. a reverse one-to-one), joined into every task
    query so a page of tasks costs the same number of queries whatever its size.
    `only`: the columns of those relations the field reads (`metrics__cost_usd`; a foreign key it
    traverses, `persistent_job__last_checkpoint`, included): the list loads only these (a relation
    without any is loaded whole).
    """
    TASK_RELATIONS.extend(r for r in select_related if r not in TASK_RELATIONS)
    TASK_RELATION_COLUMNS.extend(c for c in only if c not in TASK_RELATION_COLUMNS)
    for cls in (TaskSerializer, TaskDetailSerializer):
        cls._declared_fields[name] = field
        if name not in cls.Meta.fields:
            cls.Meta.fields = [*cls.Meta.fields, name]
            cls.Meta.read_only_fields = cls.Meta.fields


# Create fields of other apps that only some task types take (register_task_create_field's `applies_to`).
TASK_CREATE_FIELD_APPLIES: dict[str, Callable] = {}


class TaskCreateSerializer(serializers.Serializer):
    schema_variants = staticmethod(variant_dimensions(task_type_variants("task_type", "context_data")))

    task_type = TaskTypeField()
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    description = CharField(max_length=5000, required=False, allow_blank=True, default="")
    context_data = JSONObjectField(required=False, default=dict,
                                         help_text="Parameters, validated against the type's schema (64 KiB max).")
    max_retries = IntegerField(min_value=0, max_value=20, required=False)
    timeout_seconds = timeout_seconds_field(required=False)


# Names of the create fields other apps added (register_task_create_field): the view hands their values
# to services.task_create as `extra`, never as BaseTask columns.
TASK_CREATE_EXTRA_FIELDS: list[str] = []


def register_task_create_field(name: str, field: serializers.Field, *, applies_to: Callable | None = None) -> None:
    """Accept an optional field in the POST /tasks/ body, validated by `field` (called by other apps from
    AppConfig.ready()); its value reaches the `tasks_created` receivers in `extra`. `applies_to(task_type)`:
    the types that take it (the schema leaves it out of the others')."""
    TaskCreateSerializer._declared_fields[name] = field
    if applies_to is not None:
        TASK_CREATE_FIELD_APPLIES[name] = applies_to
    if name not in TASK_CREATE_EXTRA_FIELDS:
        TASK_CREATE_EXTRA_FIELDS.append(name)


class TaskEventSerializer(CompiledRepresentation, ModelSerializer):
    share_compiled = True
    actor = UserRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = TaskEvent
        fields = ["id", "from_status", "to_status", "actor", "worker", "detail", "created_at"]


class QueueStatsSerializer(serializers.Serializer):
    queues = serializers.DictField(child=IntegerField(), help_text="Messages waiting per queue.")
    counts_by_status = serializers.DictField(child=IntegerField(),
                                             help_text="This brand's tasks by status.")
    workers_online = serializers.ListField(child=CharField())


class SystemStatusSerializer(serializers.Serializer):
    version = CharField()
    database = CharField()
    broker = CharField()
    task_types = IntegerField()
    workers_online = serializers.ListField(child=CharField())
    counts_by_status = serializers.DictField(child=IntegerField())
    outbox_pending = IntegerField(help_text="Tasks of this brand waiting for the broker.")


class HealthSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["ok", "degraded", "unavailable"])
    components = serializers.DictField(child=serializers.DictField())


class HealthUnavailableSerializer(HealthSerializer):
    """A 503 health answer: the components, plus the API's error shape like every other error."""

    detail = CharField()
    error_code = CharField()
    field_errors = serializers.DictField(child=serializers.ListField(child=CharField()))


class TaskTypeInfoSerializer(serializers.Serializer):
    name = CharField()
    label = CharField()
    description = CharField()
    parameters_schema = serializers.DictField(help_text="JSON Schema (2020-12) of context_data.")
    ui = serializers.DictField(help_text="Rendering hints per parameter.")
    defaults = serializers.DictField()


class EnumsSerializer(serializers.Serializer):
    """Core's enumerations, then one object per app group registered with task_core.enums.register_enums."""

    statuses = serializers.ListField(child=serializers.DictField())
    priorities = serializers.ListField(child=serializers.DictField())
    origins = serializers.ListField(child=serializers.DictField())
    roles = serializers.ListField(child=serializers.DictField())
    transitions = serializers.DictField(child=serializers.ListField(child=CharField()))

    def get_fields(self):
        fields = super().get_fields()
        for group in registered_enums():
            fields[group] = serializers.DictField(child=serializers.JSONField(), help_text=(
                f"The {group} app's enumerations: lists of {{value, label}}, or a transition table."))
        return fields
