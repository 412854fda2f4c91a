"""Admin of task_monitoring: metrics on the task page, workers, alert rules, alerts (acknowledge/resolve),
and the dashboard page (charts of the rollups, brand-scoped)."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from rest_framework.renderers import JSONRenderer

from task_core.admin import BrandScopedAdmin, HistoryInline, member_brand_ids, run_admin_action
from task_core.models import BaseTask, Brand

from . import selectors, services
from .api.serializers import MetricsDashboardSerializer
from .models import Alert, AlertDelivery, AlertRule, Dashboard, TaskMetrics, Worker


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


class DashboardForm(forms.Form):
    """What the dashboard shows: a brand the user may see, a period, optionally one task type."""

    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), empty_label=None)
    period = forms.ChoiceField(choices=[(p, p) for p in selectors.PERIODS], initial="24h")
    task_type = forms.CharField(required=False, max_length=120)

    def __init__(self, data, *, user):
        brands = Brand.objects.order_by("name", "pk")
        if not user.is_superuser:
            brands = brands.filter(pk__in=member_brand_ids(user))
        first = brands.first()
        super().__init__({"period": "24h", "brand": first and first.pk, **data.dict()})
        self.fields["brand"].queryset = brands


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """One page of charts (throughput, success rate, p50/p95 by type, cost) from the same selector as
    `/tasks/monitoring/metrics/dashboard/`. Superusers choose any brand, other staff one of theirs."""

    def has_module_permission(self, request):
        return request.user.is_active and (request.user.is_superuser or bool(member_brand_ids(request.user)))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = DashboardForm(request.GET, user=request.user)
        data = None
        if form.is_valid():
            dashboard = selectors.dashboard(brand=form.cleaned_data["brand"], period=form.cleaned_data["period"],
                                            task_type=form.cleaned_data["task_type"])
            # Exactly the API's JSON (numbers stay numbers), embedded for the charts.
            data = json.loads(JSONRenderer().render(MetricsDashboardSerializer(dashboard).data))
        context = {**self.admin_site.each_context(request), "title": "Monitoring dashboard", "opts": self.opts,
                   "form": form, "dashboard": data, **(extra_context or {})}
        return TemplateResponse(request, "admin/task_monitoring/dashboard.html", context)
