"""Input serializers (validate requests) and output serializers (shape responses), kept apart."""

from datetime import UTC

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from megahub.api.fields import (
    BooleanField,
    CharField,
    FloatField,
    IntegerField,
    JSONObjectField,
    LocalDateTimeField,
    ModelSerializer,
    TimezoneField,
)
from megahub.api.representation import CompiledRepresentation
from task_core.api.serializers import TaskTypeField, task_type_variants, timeout_seconds_field, variant_dimensions
from task_core.choices import TaskPriority, TaskStatus

from ..choices import MissedRunPolicy, OverlapPolicy, RunOutcome, ScheduleKind, ScheduleStatus
from ..models import Schedule, ScheduledRun, ScheduleEvent, ScheduleTemplate, TaskCalendar
from ..selectors.executions import STATS_RUNS
from ..selectors.schedules import schedule_events
from ..selectors.templates import next_run_of_template
from ..timing import CRON_PATTERN, describe_cron, local_iso

# --- output ----------------------------------------------------------------------------------------

HHMM = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$", "example": "22:00"}
BLACKOUT_WINDOW = {
    "type": "object", "required": ["start", "end"], "additionalProperties": False,
    "properties": {"start": HHMM, "end": HHMM, "days": {
        "type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0, "maximum": 6},
        "description": "Weekdays, Monday=0; every day when left out."}},
}


@extend_schema_field({"type": "string", "format": "date"})
class DateTextField(CharField):
    """A date as YYYY-MM-DD (validators.calendar_rules_validate checks it)."""


@extend_schema_field(BLACKOUT_WINDOW)
class BlackoutWindowField(serializers.DictField):
    """A weekly window (validators.calendar_rules_validate checks it)."""


class CalendarSerializer(ModelSerializer):
    class Meta:
        model = TaskCalendar
        fields = ["id", "name", "description", "timezone", "excluded_dates", "blackout_windows",
                  "created_at", "updated_at"]


class PeriodicTaskSerializer(ModelSerializer):
    cron_description = serializers.SerializerMethodField(help_text="Human description of the cron expression.")
    next_run_at = serializers.SerializerMethodField(help_text="Next run of its active schedules, in its timezone.")
    schedules_total = IntegerField(read_only=True, default=0)
    schedules_active = IntegerField(read_only=True, default=0)
    calendar = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = ScheduleTemplate
        fields = ["id", "name", "description", "task_type", "parameters", "kind", "cron_expression",
                  "cron_description", "interval_seconds", "run_at", "timezone", "calendar", "priority",
                  "max_retries", "timeout_seconds", "queue", "overlap_policy", "missed_run_policy",
                  "auto_pause_after", "is_active", "connection_id", "schedules_total", "schedules_active",
                  "next_run_at", "created_at", "updated_at"]
        read_only_fields = fields

    def get_cron_description(self, obj) -> str:
        return describe_cron(obj.cron_expression) if obj.kind == ScheduleKind.CRON else ""

    def get_next_run_at(self, obj) -> str | None:
        value = getattr(obj, "next_run", None)
        if value is None and not hasattr(obj, "next_run"):
            value = next_run_of_template(template=obj)
        return local_iso(value, obj.timezone)


class ScheduleEventSerializer(ModelSerializer):
    actor = CharField(source="actor.username", default=None, read_only=True)

    class Meta:
        model = ScheduleEvent
        fields = ["id", "event_type", "from_status", "to_status", "due_at", "task_id", "detail", "actor",
                  "created_at"]


class ScheduleSerializer(ModelSerializer):
    periodic_task_name = CharField(source="periodic_task.name", default="", read_only=True)
    timezone = CharField(source="periodic_task.timezone", default="UTC", read_only=True)
    next_run_at = serializers.SerializerMethodField(help_text="Next due time in the template's timezone.")
    last_run_at = serializers.SerializerMethodField(help_text="Last due time that fired, in the template's timezone.")

    class Meta:
        model = Schedule
        fields = ["id", "periodic_task", "periodic_task_name", "label", "status", "parameter_overrides",
                  "beat_name", "timezone", "next_run_at", "last_run_at", "run_count", "success_count",
                  "failure_count", "skip_count", "consecutive_failures", "error_message", "created_at",
                  "updated_at"]
        read_only_fields = fields

    def _tz(self, obj):
        return obj.periodic_task.timezone if obj.periodic_task else "UTC"

    def get_next_run_at(self, obj) -> str | None:
        return local_iso(obj.next_run_at, self._tz(obj))

    def get_last_run_at(self, obj) -> str | None:
        return local_iso(obj.last_run_at, self._tz(obj))


class ScheduleDetailSerializer(ScheduleSerializer):
    recent_events = serializers.SerializerMethodField()

    class Meta(ScheduleSerializer.Meta):
        fields = [*ScheduleSerializer.Meta.fields, "snapshot", "recent_events"]
        read_only_fields = fields

    def get_recent_events(self, obj) -> list[dict]:
        return ScheduleEventSerializer(schedule_events(schedule=obj, limit=self.context.get("events", 20)),
                                       many=True).data


class RunTaskSerializer(serializers.Serializer):
    id = IntegerField()
    task_id = serializers.UUIDField()
    status = CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    duration_ms = IntegerField(allow_null=True)
    error_message = CharField()


def _duration(task):
    if task is None or task.started_at is None or task.completed_at is None:
        return None
    return (task.completed_at - task.started_at).total_seconds()


class ExecutionSerializer(CompiledRepresentation, ModelSerializer):
    """One run of a periodic task: the due time and what the fire did, and (flattened, as the reference
    specs show an execution) the task it created. Its representation is compiled once for every request
    (megahub/api/representation.py): no field reads the request."""

    share_compiled = True

    task = RunTaskSerializer(read_only=True, allow_null=True)
    status = serializers.SerializerMethodField(help_text="The task's status, or the outcome when none was created.")
    task_type = serializers.SerializerMethodField()
    task_id = serializers.SerializerMethodField(help_text="The created task's public id (also its Celery id).")
    started_at = serializers.DateTimeField(source="task.started_at", default=None, read_only=True, allow_null=True)
    completed_at = serializers.DateTimeField(source="task.completed_at", default=None, read_only=True,
                                             allow_null=True)
    duration_seconds = serializers.SerializerMethodField()
    is_success = serializers.SerializerMethodField(help_text="true completed, false failed or cancelled, "
                                                   "null while running or when no task was created.")
    result_data = serializers.JSONField(source="task.result_data", default=None, read_only=True)
    error_message = serializers.SerializerMethodField()
    error_traceback = CharField(source="task.error_traceback", default="", read_only=True,
                                            help_text="The failed task's traceback.")

    class Meta:
        model = ScheduledRun
        fields = ["id", "schedule", "periodic_task", "due_at", "outcome", "detail", "status", "task_type",
                  "task_id", "started_at", "completed_at", "duration_seconds", "is_success", "result_data",
                  "error_message", "error_traceback", "task", "created_at"]

    def get_status(self, obj) -> str:
        return obj.task.status if obj.task_id and obj.task else obj.outcome

    def get_task_type(self, obj) -> str:
        if obj.task_id and obj.task:
            return obj.task.task_type
        return obj.periodic_task.task_type if obj.periodic_task_id and obj.periodic_task else ""

    def get_task_id(self, obj) -> str | None:
        return str(obj.task.task_id) if obj.task_id and obj.task else None

    def get_duration_seconds(self, obj) -> float | None:
        value = _duration(obj.task if obj.task_id else None)
        return round(value, 3) if value is not None else None

    def get_is_success(self, obj) -> bool | None:
        if not obj.task_id or obj.task is None or obj.task.status not in TaskStatus.finished():
            return None
        return obj.task.status == TaskStatus.COMPLETED

    def get_error_message(self, obj) -> str:
        return run_error_message(obj, obj.task.error_message if obj.task_id and obj.task else None)


def run_error_message(run, task_error: str | None) -> str:
    """A run's error: its task's (`task_error`, None when it has no task), or the detail of a fire that
    failed before creating one."""
    if task_error is not None:
        return task_error
    return run.detail if run.outcome == RunOutcome.ERROR else ""


class ExecutionStatsSerializer(serializers.Serializer):
    total_runs = IntegerField(help_text=f"Runs counted: the newest {STATS_RUNS} at most (every figure "
                                                    "here is over these).")
    by_status = serializers.DictField(child=IntegerField(), help_text=(
        "Runs per task status (every status, zeros included), and per outcome for runs that created no task."))
    finished_runs = IntegerField()
    successful_runs = IntegerField()
    failed_runs = IntegerField()
    success_rate = FloatField(allow_null=True, help_text="completed / (completed + failed), 0..1.")
    average_duration_ms = IntegerField(allow_null=True)
    average_duration_seconds = FloatField(allow_null=True)
    p95_duration_ms = IntegerField(allow_null=True, help_text="95th percentile (nearest rank) of "
                                               "the completed runs' durations.")
    p95_duration_seconds = FloatField(allow_null=True)
    last_run_at = serializers.DateTimeField(allow_null=True)
    next_run_at = serializers.DateTimeField(allow_null=True, help_text="The template's next run (stats of one "
                                            "template only).")


class ExecutionPageSerializer(serializers.Serializer):
    count = IntegerField(allow_null=True, help_text="Null on a page reached by cursor.")
    count_is_exact = BooleanField(allow_null=True, help_text="false when `count` is an estimate.")
    next = CharField(allow_null=True)
    previous = CharField(allow_null=True)
    stats = ExecutionStatsSerializer()
    results = ExecutionSerializer(many=True)


class PeriodicTaskDetailSerializer(PeriodicTaskSerializer):
    stats = ExecutionStatsSerializer(read_only=True, required=False,
                                     help_text="Execution statistics, with ?include=stats.")

    class Meta(PeriodicTaskSerializer.Meta):
        fields = [*PeriodicTaskSerializer.Meta.fields, "stats"]
        read_only_fields = fields


class RunNowSerializer(serializers.Serializer):
    id = IntegerField(help_text="The new task's database id.")
    task_id = serializers.UUIDField(help_text="The new task's public id (also its Celery id).")
    status = CharField()
    execution_id = IntegerField(help_text="The run (execution) recorded for it, in executions/.")
    message = CharField()


class RunTimeSerializer(serializers.Serializer):
    at = LocalDateTimeField(help_text="Local time in the requested timezone, with its offset.")
    at_utc = serializers.DateTimeField(help_text="The same instant in UTC.")


class CronRunSerializer(RunTimeSerializer):
    dst = CharField(allow_null=True, help_text='"gap" or "repeat" when DST affects this run.')
    wall_times = serializers.ListField(child=CharField(), help_text=(
        "The wall-clock times (HH:MM) of the expression this run stands for: more than one when a DST gap "
        "collapses several into one run."))
    excluded = BooleanField(help_text="Removed by the calendar.")
    excluded_reason = CharField()


class ValidateCronResultSerializer(serializers.Serializer):
    valid = BooleanField()
    error = CharField(allow_blank=True)
    expression = CharField()
    normalized = CharField(allow_blank=True)
    description = CharField(allow_blank=True)
    timezone = CharField()
    next_runs = CronRunSerializer(many=True, help_text="The next fire times, each marked if the calendar removes it.")
    effective_runs = RunTimeSerializer(many=True, help_text="The next `count` runs that will actually happen "
                                       "(calendar applied).")
    warnings = serializers.ListField(child=CharField())


# Runs due in the last 24 h: `total` (tasks created), one count per task status (zeros included),
# `not_run` (calendar, overlap, missed, error) and one count per outcome.
Runs24hSerializer = type("Runs24hSerializer", (serializers.Serializer,), {
    "total": IntegerField(help_text="Runs that created a task."),
    **{status: IntegerField(help_text=f"Of those, tasks now {status}.") for status in TaskStatus.values},
    "not_run": IntegerField(help_text="Due times that created no task (calendar, overlap, missed, error)."),
    "outcomes": serializers.DictField(child=IntegerField(), help_text="Runs per outcome."),
})


class SummarySerializer(serializers.Serializer):
    schedules_by_status = serializers.DictField(child=IntegerField())
    schedules_total = IntegerField()
    periodic_tasks = serializers.DictField(child=IntegerField())
    next_fire = serializers.DictField(allow_null=True)
    runs_24h = Runs24hSerializer()
    timestamp = serializers.DateTimeField()


# The brand's schedules by status, the section task_scheduling adds to /tasks/system/dashboard/.
ScheduleCountsSerializer = type("ScheduleCountsSerializer", (serializers.Serializer,), {
    **{status: IntegerField(help_text=f"Schedules now {status}.") for status in ScheduleStatus.values},
    "total": IntegerField(help_text="Every schedule of the brand."),
})


class CalendarPreviewSerializer(serializers.Serializer):
    periodic_task_id = IntegerField()
    name = CharField()
    removed = IntegerField(help_text="How many of the listed runs the calendar removes.")
    runs = CronRunSerializer(many=True)


class OrphansSerializer(serializers.Serializer):
    beat_entries = serializers.ListField(child=serializers.DictField())
    schedules = serializers.ListField(child=serializers.DictField())


class OrphansCleanupSerializer(OrphansSerializer):
    beat_entries_removed = IntegerField()
    schedules_removed = IntegerField()


class LegacyBeatEntrySerializer(serializers.Serializer):
    name = CharField()
    task = CharField()
    enabled = BooleanField()
    reason = CharField()


class LegacyCleanupSerializer(serializers.Serializer):
    dry_run = BooleanField(help_text="true: nothing was removed, this is what would be.")
    beat_entries = LegacyBeatEntrySerializer(many=True)
    celery_results_expired = IntegerField(help_text="Celery result rows past their expiry.")
    celery_results_expire_after_seconds = IntegerField()
    beat_entries_removed = IntegerField()
    celery_results_removed = IntegerField()


# --- input -----------------------------------------------------------------------------------------

CRON_EXPRESSION_SCHEMA = {"type": "string", "pattern": CRON_PATTERN, "description": (
    "5-field cron expression (minute hour day-of-month month day-of-week) or an alias (@daily). The pattern is a "
    "sufficient form: ranges (1-5) and names (mon) are accepted too.")}


# A date-time in the years 1971-2998 with a UTC offset, as a pattern: a sufficient form (days up to the 28th,
# offsets up to 13:59), so that every string it matches is one the server accepts; other valid date-times
# within the years are accepted too. A client generating values draws them from the pattern.
BOUNDED_DATETIME_PATTERN = (
    "^(197[1-9]|19[89][0-9]|2[0-8][0-9]{2}|29[0-8][0-9]|299[0-8])-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
    "T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])$")


@extend_schema_field({"type": "string", "format": "date-time", "pattern": BOUNDED_DATETIME_PATTERN})
class BoundedDateTimeField(serializers.DateTimeField):
    """A date-time in the years 1970-2999 in UTC (a 400 outside), its schema the sufficient form
    BOUNDED_DATETIME_PATTERN: a date the API writes back as it reads it (RFC 3339, four-digit years)."""

    def to_internal_value(self, value):
        result = super().to_internal_value(value)
        if not 1970 <= result.year <= 2999 or not 1970 <= result.astimezone(UTC).year <= 2999:
            raise serializers.ValidationError("Must be between the years 1970 and 2999.")
        return result


@extend_schema_field(CRON_EXPRESSION_SCHEMA)
class CronExpressionField(CharField):
    """A cron expression (validators.timing_validate checks it); its schema is CRON_PATTERN."""


TIMING_FIELDS = ("kind", "cron_expression", "interval_seconds", "run_at")
# The field each kind needs (cron is the kind when left out of a create; manual needs none).
KIND_NEEDS = {ScheduleKind.CRON: "cron_expression", ScheduleKind.INTERVAL: "interval_seconds",
              ScheduleKind.DATE: "run_at", ScheduleKind.MANUAL: None}


def kind_variants(*, left_out: bool = False):
    """The shapes of a template body by `kind`, one branch each (`oneOf`): a cron expression (matching
    CRON_PATTERN), an interval or a date, each required by its kind and not null (cron when the kind is left
    out). `left_out`: a PATCH body, where the kind may be left out (the stored one stays: one more branch, the
    timing fields checked against the stored kind by the server) and a kind given needs its field only when
    that is given too. A serializer's `schema_variants` dimension."""

    def variants(component: dict, components: dict) -> list[dict]:
        fields = {name: component["properties"].pop(name) for name in TIMING_FIELDS}
        out = []
        for kind, needed in KIND_NEEDS.items():
            properties = {name: schema for name, schema in fields.items() if name != "kind"}
            properties["kind"] = {"type": "string", "enum": [kind]}
            required = ["kind"] if kind != ScheduleKind.CRON or left_out else []
            if needed:
                properties[needed] = {k: v for k, v in fields[needed].items() if k != "nullable"}
                if not left_out:
                    required.append(needed)
            if kind == ScheduleKind.CRON:
                properties["cron_expression"] = dict(CRON_EXPRESSION_SCHEMA)
            out.append({"properties": properties, "required": required} if required else {"properties": properties})
        if left_out:
            out.append({"properties": {**{name: schema for name, schema in fields.items() if name != "kind"},
                                       "kind": {"not": {}}}})
        return out

    return variants


class PeriodicTaskInputSerializer(serializers.Serializer):
    schema_variants = staticmethod(variant_dimensions(task_type_variants("task_type", "parameters"), kind_variants()))
    # PATCH: the task type and the kind may be left out (the stored ones stay)
    partial_schema_variants = staticmethod(variant_dimensions(
        task_type_variants("task_type", "parameters", left_out=True), kind_variants(left_out=True)))

    name = CharField(max_length=200, required=False, help_text=(
        "Unique in the brand. On create, when left out: the task type's label and the cron expression, "
        "numbered when taken. Required by PUT."))
    description = CharField(max_length=5000, required=False, allow_blank=True)
    task_type = TaskTypeField()
    parameters = JSONObjectField(required=False, help_text="Validated against the task type's schema.")
    kind = serializers.ChoiceField(choices=ScheduleKind.choices, required=False)
    cron_expression = CharField(max_length=120, required=False, allow_blank=True)
    interval_seconds = IntegerField(min_value=1, max_value=366 * 86400, required=False, allow_null=True)
    run_at = BoundedDateTimeField(required=False, allow_null=True)
    timezone = TimezoneField(required=False, help_text="IANA timezone; default: the brand's.")
    calendar = IntegerField(required=False, allow_null=True, help_text="Id of a calendar of the brand.")
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    max_retries = IntegerField(min_value=0, max_value=20, required=False, allow_null=True)
    timeout_seconds = timeout_seconds_field(required=False, allow_null=True)
    queue = CharField(max_length=64, required=False, allow_blank=True)
    overlap_policy = serializers.ChoiceField(choices=OverlapPolicy.choices, required=False)
    missed_run_policy = serializers.ChoiceField(choices=MissedRunPolicy.choices, required=False)
    auto_pause_after = IntegerField(min_value=0, max_value=1000, required=False)
    is_active = BooleanField(required=False)
    connection_id = IntegerField(min_value=0, max_value=2147483647, required=False, allow_null=True,
                                             help_text="A client's own connection id, kept and filterable.")
    register = BooleanField(required=False, default=True, write_only=True,
                                        help_text="Create: also register its first schedule in Beat (default).")

    def validate_parameters(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("Must be a JSON object.")
        return value


class PeriodicTaskReplaceSerializer(PeriodicTaskInputSerializer):
    """PUT replaces the definition: its name is required."""

    name = CharField(max_length=200, help_text="Unique in the brand.")


class CronJobInputSerializer(serializers.Serializer):
    schema_variants = staticmethod(variant_dimensions(task_type_variants("task_type", "parameters", applies={})))

    name = CharField(max_length=200)
    description = CharField(max_length=5000, required=False, allow_blank=True)
    task_type = TaskTypeField()
    parameters = JSONObjectField(required=False)
    run_at = BoundedDateTimeField(help_text="When it runs, with a UTC offset (years 1971-2998).")
    timezone = TimezoneField(required=False)
    calendar = IntegerField(required=False, allow_null=True)
    priority = serializers.ChoiceField(choices=TaskPriority.choices, required=False)
    max_retries = IntegerField(min_value=0, max_value=20, required=False, allow_null=True)
    timeout_seconds = timeout_seconds_field(required=False, allow_null=True)
    missed_run_policy = serializers.ChoiceField(choices=MissedRunPolicy.choices, required=False)


class ScheduleCreateSerializer(serializers.Serializer):
    parameter_overrides = JSONObjectField(required=False, default=dict,
                                                help_text="Merged over the template's parameters at each run.")
    label = CharField(max_length=200, required=False, allow_blank=True, default="")


class AfterField(BoundedDateTimeField):
    """A date-time whose year (in UTC too) is within what validate_after accepts, as its schema says."""


class ValidateCronInputSerializer(serializers.Serializer):
    required_any_of = ("cron_expression", "expression")  # the schema: one of them (validate() checks)

    cron_expression = CharField(max_length=120, allow_blank=True, required=False,
                                            help_text="The expression, named as in the create body.")
    expression = CharField(max_length=120, allow_blank=True, required=False,
                                       help_text="Alias of cron_expression.")
    timezone = TimezoneField(required=False, default="UTC")
    count = IntegerField(min_value=1, max_value=100, required=False, default=5)
    calendar = IntegerField(required=False, allow_null=True, help_text="Apply this calendar (id).")
    after = AfterField(required=False, help_text="List runs after this instant (default now), years 1971-2998.")

    def validate_after(self, value):
        if not 1970 <= value.year <= 2999:
            raise serializers.ValidationError("Must be between the years 1970 and 2999.")
        return value

    def validate(self, attrs):
        if "cron_expression" in attrs:
            attrs["expression"] = attrs.pop("cron_expression")
        elif "expression" not in attrs:
            raise serializers.ValidationError({"cron_expression": ["This field is required."]})
        return attrs


class LegacyCleanupInputSerializer(serializers.Serializer):
    dry_run = BooleanField(required=False, default=True, help_text="Only report (default true).")


class CalendarInputSerializer(serializers.Serializer):
    name = CharField(max_length=120)
    description = CharField(max_length=5000, required=False, allow_blank=True)
    timezone = TimezoneField(required=False)
    excluded_dates = serializers.ListField(child=DateTextField(max_length=10), required=False, max_length=3660)
    blackout_windows = serializers.ListField(child=BlackoutWindowField(), required=False, max_length=100)
