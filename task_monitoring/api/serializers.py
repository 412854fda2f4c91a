import copy

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from megahub.api.fields import BooleanField, CharField, FloatField, IntegerField, ModelSerializer
from megahub.api.representation import CompiledRepresentation
from task_core.api.serializers import register_task_field
from task_core.choices import TaskStatus
from task_core.dashboard import dashboard_sections

from ..models import Alert, AlertDelivery, AlertRule, TaskMetrics, Worker
from ..selectors import PERIODS


class TaskMetricsSummarySerializer(CompiledRepresentation, ModelSerializer):
    """The `metrics` object of a task (null before it ran)."""

    share_compiled = True

    class Meta:
        model = TaskMetrics
        fields = ["execution_time_ms", "queue_wait_ms", "cpu_time_ms", "memory_usage_mb", "cost_usd"]
        read_only_fields = fields


class MetricsField(serializers.Field):
    """The task's metrics, or null: reads the joined reverse one-to-one without another query."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, allow_null=True, **kwargs)
        self.summary = TaskMetricsSummarySerializer()  # one per list, not one per row

    def to_representation(self, task):
        try:
            metrics = task.metrics
        except TaskMetrics.DoesNotExist:
            return None
        return self.summary.to_representation(metrics)


def register_task_fields() -> None:
    field_class = extend_schema_field(TaskMetricsSummarySerializer(allow_null=True))(MetricsField)
    register_task_field("metrics", field_class(help_text="Measured by the worker; null before the task ran."),
                        select_related=("metrics",),
                        only=tuple(f"metrics__{name}" for name in TaskMetricsSummarySerializer.Meta.fields))


class TaskMetricsSerializer(CompiledRepresentation, ModelSerializer):
    share_compiled = True  # no field reads the request

    task_id = serializers.UUIDField(source="task.task_id", read_only=True)
    id = IntegerField(source="task_id", read_only=True)
    description = CharField(source="task.description", read_only=True)
    flags = serializers.ListField(source="flag_list", child=CharField(), read_only=True)

    class Meta:
        model = TaskMetrics
        fields = ["id", "task_id", "task_type", "status", "description", "finished_at", "execution_time_ms",
                  "queue_wait_ms", "cpu_time_ms", "memory_usage_mb", "memory_is_run_peak", "cost_usd", "custom",
                  "flags", "runs", "source"]
        read_only_fields = fields


class WorkerSerializer(ModelSerializer):
    online = BooleanField(read_only=True)

    class Meta:
        model = Worker
        fields = ["id", "hostname", "pid", "queues", "concurrency", "active", "processed", "failed", "online",
                  "status", "started_at", "last_heartbeat", "software"]
        read_only_fields = fields


class AlertRuleSerializer(ModelSerializer):
    webhook_urls = serializers.ListField(child=serializers.RegexField(r"^https?://", max_length=500), required=False,
                                         help_text="HTTPS/HTTP URLs; each gets a signed JSON POST.")
    emails = serializers.ListField(child=serializers.EmailField(), required=False)

    class Meta:
        model = AlertRule
        fields = ["id", "name", "metric", "task_type", "queue", "comparator", "threshold", "window_seconds",
                  "for_seconds", "min_samples", "severity", "cooldown_seconds", "webhook_urls", "emails", "secret",
                  "enabled", "created_at", "updated_at", "last_evaluated_at", "last_value"]
        read_only_fields = ["id", "secret", "created_at", "updated_at", "last_evaluated_at", "last_value"]

    def validate_webhook_urls(self, value):
        if not isinstance(value, list) or not all(isinstance(u, str) and u.startswith(("http://", "https://"))
                                                  and len(u) <= 500 for u in value):
            raise serializers.ValidationError("A list of http(s) URLs (500 characters at most).")
        return value

    def validate_emails(self, value):
        field = serializers.EmailField()
        if not isinstance(value, list):
            raise serializers.ValidationError("A list of e-mail addresses.")
        return [field.run_validation(v) for v in value]


class AlertSerializer(CompiledRepresentation, ModelSerializer):
    share_compiled = True  # no field reads the request

    rule_name = CharField(source="rule.name", read_only=True)
    metric = CharField(source="rule.metric", read_only=True)
    acknowledged_by = CharField(source="acknowledged_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "rule", "rule_name", "metric", "scope", "state", "severity", "value", "threshold", "message",
                  "started_at", "fired_at", "acknowledged_at", "acknowledged_by", "acknowledge_note", "resolved_at",
                  "last_notified_at"]
        read_only_fields = fields


class AcknowledgeSerializer(serializers.Serializer):
    note = CharField(max_length=2000, required=False, allow_blank=True, default="")


class AlertDeliverySerializer(ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["id", "channel", "target", "event", "status", "attempts", "response_code", "error", "created_at",
                  "sent_at"]


class CleanupRequestSerializer(serializers.Serializer):
    older_than_days = IntegerField(min_value=1, max_value=36500, required=False)
    dry_run = BooleanField(required=False, default=False)


# --- responses of the dashboards (they shape and document what the selectors return) ----------------

def _usd(**kwargs):
    return serializers.DecimalField(max_digits=18, decimal_places=6, coerce_to_string=False, **kwargs)


def _ms(help_text: str):
    return FloatField(allow_null=True, help_text=help_text)


class DurationStatsSerializer(serializers.Serializer):
    avg = _ms("Mean (ms); null without runs.")
    p50 = _ms("Median (ms), interpolated in the histogram bucket holding it.")
    p95 = _ms("95th percentile (ms).")
    p99 = _ms("99th percentile (ms).")


class ExecutionTimeStatsSerializer(DurationStatsSerializer):
    max = _ms("Longest run (ms).")


class OutcomeCountsSerializer(serializers.Serializer):
    completed = IntegerField()
    failed = IntegerField()
    cancelled = IntegerField()
    retried = IntegerField(help_text="Runs that failed and were retried.")


# One count per unfinished status (zeros included).
ActiveCountsSerializer = type("ActiveCountsSerializer", (serializers.Serializer,), {
    status: IntegerField(help_text=f"Tasks now {status}.") for status in TaskStatus.unfinished()})


class ThroughputPointSerializer(serializers.Serializer):
    bucket = serializers.DateTimeField(help_text="Start of the bucket (minute, hour or day by period).")
    completed = IntegerField()
    failed = IntegerField()
    cancelled = IntegerField()
    cost_usd = _usd()


class TaskTypeStatsSerializer(OutcomeCountsSerializer):
    task_type = CharField()
    success_rate = FloatField(allow_null=True, help_text="completed / (completed + failed).")
    execution_time_ms = ExecutionTimeStatsSerializer()
    queue_wait_ms = DurationStatsSerializer()
    cpu_time_ms = IntegerField(help_text="CPU time of the runs, summed.")
    memory_mb_avg = FloatField(allow_null=True)
    memory_mb_max = FloatField(allow_null=True)
    cost_usd = _usd()


class DayCostSerializer(serializers.Serializer):
    day = serializers.DateField()
    cost_usd = _usd()


class TopFailureSerializer(serializers.Serializer):
    task_type = CharField()
    failed = IntegerField()
    failure_rate = FloatField()
    last_error = CharField(allow_blank=True, help_text="Message of its latest failure (500 chars).")
    last_failed_at = serializers.DateTimeField(allow_null=True)


def _queue_lengths(**kwargs):
    return serializers.DictField(child=IntegerField(), allow_null=True, **kwargs)


class MetricsDashboardSerializer(serializers.Serializer):
    period = serializers.ChoiceField(choices=list(PERIODS))
    since = serializers.DateTimeField(help_text="Start of the period (the series starts at its bucket).")
    until = serializers.DateTimeField()
    bucket = serializers.ChoiceField(choices=["minute", "hour", "day"], help_text="Width of a throughput point.")
    task_type = CharField(allow_null=True)
    counts_by_status = OutcomeCountsSerializer(help_text="Runs that ended in the period.")
    active_by_status = ActiveCountsSerializer(help_text="Unfinished tasks now.")
    success_rate = FloatField(allow_null=True)
    execution_time_ms = ExecutionTimeStatsSerializer()
    queue_wait_ms = DurationStatsSerializer()
    cost_usd = _usd()
    throughput = ThroughputPointSerializer(many=True)
    by_task_type = TaskTypeStatsSerializer(many=True)
    cost_by_day = DayCostSerializer(many=True)
    top_failures = TopFailureSerializer(many=True)
    queues = _queue_lengths(help_text="Messages waiting per queue now; null when the broker is unreachable.")


class QueueStateSerializer(serializers.Serializer):
    name = CharField()
    length = IntegerField(allow_null=True, help_text="Messages waiting; null: broker unreachable.")
    consumers = serializers.ListField(child=CharField(), help_text="Online workers consuming it.")


class WorkersOverviewSerializer(serializers.Serializer):
    online = IntegerField()
    offline = IntegerField()
    total_slots = IntegerField(help_text="Pool slots of the online workers.")
    busy_slots = IntegerField(help_text="Tasks running on them at their last heartbeat.")
    queues = QueueStateSerializer(many=True)
    broker = serializers.ChoiceField(choices=["up", "down"])


SystemTaskCountsSerializer = type("SystemTaskCountsSerializer", (ActiveCountsSerializer,), {
    f"{status}_24h": IntegerField(help_text=f"Runs {status} in the last 24 h.")
    for status in ("completed", "failed", "cancelled")})


class SystemDashboardSerializer(serializers.Serializer):
    """The front page; apps add sections with task_core.dashboard.register_dashboard_section."""

    tasks_by_status = SystemTaskCountsSerializer()
    success_rate_24h = FloatField(allow_null=True)
    throughput_24h = IntegerField(help_text="Runs completed or failed in the last 24 h.")
    cost_usd_24h = _usd()
    workers_online = IntegerField()
    workers_offline = IntegerField()
    busy_slots = IntegerField()
    total_slots = IntegerField()
    alerts_firing = IntegerField()
    alerts_acknowledged = IntegerField()
    queues = QueueStateSerializer(many=True)

    def get_fields(self):
        fields = super().get_fields()
        for section in dashboard_sections():
            fields[section.name] = (copy.deepcopy(section.serializer) if section.serializer is not None
                                    else serializers.JSONField())
        return fields


class RuleResultSerializer(serializers.Serializer):
    scope = CharField(allow_blank=True)
    value = FloatField(allow_null=True)
    samples = IntegerField()
    breaching = BooleanField()


class RuleTestSerializer(serializers.Serializer):
    rule = IntegerField()
    metric = CharField(required=False)
    comparator = CharField(required=False)
    threshold = FloatField(required=False)
    error = CharField(required=False, help_text="Set when the metric could not be read (broker down).")
    results = RuleResultSerializer(many=True)


class CleanupResultSerializer(serializers.Serializer):
    older_than_days = IntegerField()
    dry_run = BooleanField()
    tasks = IntegerField()
    events = IntegerField()
    metrics = IntegerField()
