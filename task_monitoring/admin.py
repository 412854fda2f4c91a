"""Admin of task_monitoring: metrics on the task page, workers, alert rules, alerts (acknowledge/resolve)."""

from django.contrib import admin

from task_core.admin import BrandScopedAdmin, HistoryInline, run_admin_action
from task_core.models import BaseTask

from . import services
from .models import Alert, AlertDelivery, AlertRule, TaskMetrics, Worker


class TaskMetricsInline(HistoryInline):
    model = TaskMetrics
    fields = ["execution_time_ms", "queue_wait_ms", "cpu_time_ms", "memory_usage_mb", "memory_is_run_peak",
              "cost_usd", "custom", "flags", "runs", "source"]
    readonly_fields = fields
    verbose_name_plural = "metrics"


def attach_metrics_inline() -> None:
    """Show the metrics on the task page (core's admin does not know this app)."""
    task_admin = admin.site.get_model_admin(BaseTask)
    if TaskMetricsInline not in task_admin.inlines:
        task_admin.inlines = [*task_admin.inlines, TaskMetricsInline]


@admin.register(Worker)
class WorkerAdmin(admin.ModelAdmin):
    list_display = ["hostname", "status", "last_heartbeat", "concurrency", "active", "processed", "failed", "pid"]
    list_filter = ["status"]
    search_fields = ["hostname"]
    readonly_fields = [f.name for f in Worker._meta.fields]


@admin.register(AlertRule)
class AlertRuleAdmin(BrandScopedAdmin):
    list_display = ["name", "brand", "metric", "comparator", "threshold", "window_seconds", "severity", "enabled"]
    list_filter = ["enabled", "metric", "severity", "brand"]
    search_fields = ["name", "task_type", "queue"]
    readonly_fields = ["secret", "last_evaluated_at", "last_value", "created_by"]


class DeliveryInline(HistoryInline):
    model = AlertDelivery
    fields = ["channel", "target", "event", "status", "attempts", "response_code", "error", "created_at", "sent_at"]
    readonly_fields = fields


@admin.register(Alert)
class AlertAdmin(BrandScopedAdmin):
    list_display = ["rule", "scope", "state", "severity", "value", "threshold", "started_at", "fired_at",
                    "acknowledged_by", "resolved_at"]
    list_filter = ["state", "severity", "brand"]
    readonly_fields = [f.name for f in Alert._meta.fields]
    inlines = [DeliveryInline]
    actions = ["acknowledge", "resolve"]

    @admin.action(description="Acknowledge the selected alerts")
    def acknowledge(self, request, queryset):
        run_admin_action(self, request, queryset, "Acknowledge",
                         lambda alert: services.alert_acknowledge(alert=alert, user=request.user, note="admin"))

    @admin.action(description="Resolve the selected alerts")
    def resolve(self, request, queryset):
        run_admin_action(self, request, queryset, "Resolve",
                         lambda alert: services.alert_resolve(alert=alert, user=request.user))
