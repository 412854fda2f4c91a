"""The scheduler API v1's shapes: a scheduled task is a periodic task of kind cron (`cron_schedule` is its
`cron_expression`, `task_params` its `parameters`); an execution is one of its runs."""

from django.db.models import F
from rest_framework import serializers

from megahub.api.fields import BooleanField, CharField, IntegerField, JSONObjectField, ModelSerializer
from megahub.api.representation import CompiledRepresentation
from task_core.api.serializers import TaskTypeField, task_type_variants, variant_dimensions

from ...models import ScheduledRun, ScheduleTemplate
from ..serializers import CronExpressionField, run_error_message


class ScheduledTaskSerializer(CompiledRepresentation, ModelSerializer):
    """A scheduled task (a periodic task of kind cron), as the scheduler v1 API names its fields."""

    # Compiled once for every request (no field reads the request: megahub/api/representation.py).
    share_compiled = True
    # The columns its fields read (the list loads these only).
    columns = ("name", "task_type", "connection_id", "cron_expression", "description", "parameters", "is_active",
               "created_at", "updated_at")
    cron_schedule = CharField(source="cron_expression")
    task_params = serializers.JSONField(source="parameters")

    class Meta:
        model = ScheduleTemplate
        fields = ["id", "name", "task_type", "connection_id", "cron_schedule", "description", "task_params",
                  "is_active", "created_at", "updated_at"]
        read_only_fields = fields


class ScheduledTaskUpdateSerializer(serializers.Serializer):
    """PUT: every field optional (the reference's update body)."""

    name = CharField(max_length=200, required=False)
    cron_schedule = CronExpressionField(max_length=120, required=False)
    description = CharField(max_length=5000, required=False, allow_blank=True)
    task_params = JSONObjectField(required=False, help_text="Validated against the task type's schema.")
    is_active = BooleanField(required=False)

    def validate_task_params(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value

    def to_template_fields(self) -> dict:
        names = {"cron_schedule": "cron_expression", "task_params": "parameters"}
        return {names.get(k, k): v for k, v in self.validated_data.items()}


class ScheduledTaskCreateSerializer(ScheduledTaskUpdateSerializer):
    schema_variants = staticmethod(variant_dimensions(task_type_variants("task_type", "task_params", applies={})))

    name = CharField(max_length=200)
    task_type = TaskTypeField()
    connection_id = IntegerField(min_value=0, max_value=2147483647, required=False, allow_null=True)
    cron_schedule = CronExpressionField(max_length=120)


class RunSerializer(serializers.Serializer):
    message = CharField()
    execution_id = IntegerField(help_text="Id of the execution (GET executions/{id}).")


class QueuedSerializer(serializers.Serializer):
    message = CharField()
    task_id = IntegerField(help_text="The scheduled task's id.")


class ExecutionV1Serializer(CompiledRepresentation, ModelSerializer):
    """An execution of a scheduled task, as the scheduler v1 API shows it: the task's status, times, result
    and error, or the outcome of a run that created no task."""

    # Compiled once for every request (no field reads the request: megahub/api/representation.py), from a run
    # that carries what it shows of its task and template as annotations (`annotations`: no task or
    # template instance per row) and only the columns below of its own.
    share_compiled = True
    columns = ("periodic_task_id", "task_id", "outcome", "detail")
    annotations = {"task_task_type": F("task__task_type"), "task_status": F("task__status"),
                   "task_started_at": F("task__started_at"), "task_completed_at": F("task__completed_at"),
                   "task_result_data": F("task__result_data"), "task_error_message": F("task__error_message"),
                   "template_task_type": F("periodic_task__task_type"),
                   "template_connection_id": F("periodic_task__connection_id")}
    scheduled_task_id = IntegerField(source="periodic_task_id", allow_null=True)
    connection_id = IntegerField(source="template_connection_id", default=None, allow_null=True)
    task_type = serializers.SerializerMethodField()
    status = serializers.SerializerMethodField(help_text="The task's status, or the outcome when none was created.")
    started_at = serializers.DateTimeField(source="task_started_at", default=None, allow_null=True)
    completed_at = serializers.DateTimeField(source="task_completed_at", default=None, allow_null=True)
    result = serializers.JSONField(source="task_result_data", default=None, allow_null=True)
    error_message = serializers.SerializerMethodField()

    class Meta:
        model = ScheduledRun
        fields = ["id", "scheduled_task_id", "connection_id", "task_type", "status", "started_at", "completed_at",
                  "result", "error_message"]

    # The readings of the periodic-task executions (ExecutionSerializer: the task's, or the run's own).
    def get_task_type(self, obj) -> str:
        return obj.task_task_type if obj.task_id else (obj.template_task_type or "")

    def get_status(self, obj) -> str:
        return obj.task_status if obj.task_id else obj.outcome

    def get_error_message(self, obj) -> str | None:
        return run_error_message(obj, obj.task_error_message if obj.task_id else None) or None


class QueueStatusSerializer(serializers.Serializer):
    queue_length = IntegerField(help_text="Messages waiting in the broker, all queues.")
    timestamp = serializers.DateTimeField()


StatsTasksSerializer = type("StatsTasksSerializer", (serializers.Serializer,), {
    name: IntegerField() for name in ("total_tasks", "active_tasks", "inactive_tasks")})
StatsExecutionsSerializer = type("StatsExecutionsSerializer", (serializers.Serializer,), {
    name: IntegerField() for name in ("total_executions", "completed", "failed", "running")})


class StatsSerializer(serializers.Serializer):
    tasks = StatsTasksSerializer()
    executions_24h = StatsExecutionsSerializer()
    timestamp = serializers.DateTimeField()
