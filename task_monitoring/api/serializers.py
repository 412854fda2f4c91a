from rest_framework import serializers

from ..models import Alert, AlertDelivery, AlertRule, TaskMetrics, Worker


class TaskMetricsSummarySerializer(serializers.ModelSerializer):
    """The `metrics` object of a task (null before it ran)."""

    class Meta:
        model = TaskMetrics
        fields = ["execution_time_ms", "queue_wait_ms", "cpu_time_ms", "memory_usage_mb", "cost_usd"]
        read_only_fields = fields


class MetricsField(serializers.Field):
    """The task's metrics, or null: reads the joined reverse one-to-one without another query."""

    def __init__(self, **kwargs):
        super().__init__(source="*", read_only=True, allow_null=True, **kwargs)

    def to_representation(self, task):
        try:
            metrics = task.metrics
        except TaskMetrics.DoesNotExist:
            return None
        return TaskMetricsSummarySerializer(metrics).data


def register_task_fields() -> None:
    from drf_spectacular.utils import extend_schema_field

    from task_core.api.serializers import register_task_field

    field_class = extend_schema_field(TaskMetricsSummarySerializer(allow_null=True))(MetricsField)
    register_task_field("metrics", field_class(help_text="Measured by the worker; null before the task ran."),
                        select_related=("metrics",))


class TaskMetricsSerializer(serializers.ModelSerializer):
    task_id = serializers.UUIDField(source="task.task_id", read_only=True)
    id = serializers.IntegerField(source="task_id", read_only=True)
    description = serializers.CharField(source="task.description", read_only=True)
    flags = serializers.ListField(source="flag_list", child=serializers.CharField(), read_only=True)

    class Meta:
        model = TaskMetrics
        fields = ["id", "task_id", "task_type", "status", "description", "finished_at", "execution_time_ms",
                  "queue_wait_ms", "cpu_time_ms", "memory_usage_mb", "memory_is_run_peak", "cost_usd", "custom",
                  "flags", "runs", "source"]
        read_only_fields = fields


class WorkerSerializer(serializers.ModelSerializer):
    online = serializers.BooleanField(read_only=True)

    class Meta:
        model = Worker
        fields = ["id", "hostname", "pid", "queues", "concurrency", "active", "processed", "failed", "online",
                  "status", "started_at", "last_heartbeat", "software"]
        read_only_fields = fields


class AlertRuleSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertRule
        fields = ["id", "name", "metric", "task_type", "queue", "comparator", "threshold", "window_seconds",
                  "for_seconds", "min_samples", "severity", "cooldown_seconds", "webhook_urls", "emails", "secret",
                  "enabled", "created_at", "updated_at", "last_evaluated_at", "last_value"]
        read_only_fields = ["id", "secret", "created_at", "updated_at", "last_evaluated_at", "last_value"]
        extra_kwargs = {"webhook_urls": {"help_text": "HTTPS/HTTP URLs; each gets a signed JSON POST."}}

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


class AlertSerializer(serializers.ModelSerializer):
    rule_name = serializers.CharField(source="rule.name", read_only=True)
    metric = serializers.CharField(source="rule.metric", read_only=True)
    acknowledged_by = serializers.CharField(source="acknowledged_by.username", read_only=True, allow_null=True)

    class Meta:
        model = Alert
        fields = ["id", "rule", "rule_name", "metric", "scope", "state", "severity", "value", "threshold", "message",
                  "started_at", "fired_at", "acknowledged_at", "acknowledged_by", "acknowledge_note", "resolved_at",
                  "last_notified_at"]
        read_only_fields = fields


class AcknowledgeSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class AlertDeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertDelivery
        fields = ["id", "channel", "target", "event", "status", "attempts", "response_code", "error", "created_at",
                  "sent_at"]


class CleanupRequestSerializer(serializers.Serializer):
    older_than_days = serializers.IntegerField(min_value=1, max_value=36500, required=False)
    dry_run = serializers.BooleanField(required=False, default=False)
