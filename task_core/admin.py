"""Staff admin for brands, memberships and tasks.

Superusers see everything. Other staff see only the rows of brands they are members of, may look at tasks
and use the retry/cancel actions where their role in the task's brand is operator or above.
"""

from django.contrib import admin, messages
from django.utils.html import format_html

from megahub.api.exceptions import ApplicationError

from . import services
from .choices import ROLE_RANK, BrandRole
from .models import BaseTask, Brand, BrandMembership, TaskEvent


def member_brand_ids(user, min_role: str = BrandRole.VIEWER) -> set[int]:
    if not (user.is_active and user.is_staff):
        return set()
    return {m.brand_id for m in BrandMembership.objects.for_user(user)
            if ROLE_RANK[m.role] >= ROLE_RANK[min_role]}


def operator_split(request, objects) -> tuple[list, list[str]]:
    """(objects the user may act on, messages for the others): operator role in the object's brand."""
    if request.user.is_superuser:
        return list(objects), []
    allowed = member_brand_ids(request.user, BrandRole.OPERATOR)
    ok = [o for o in objects if o.brand_id in allowed]
    return ok, [f"{o}: needs the operator role in its brand" for o in objects if o.brand_id not in allowed]


def run_admin_action(modeladmin, request, objects, label: str, func) -> None:
    """Run `func(obj)` on each object whose brand the user operates; report what was done and what was
    not, and why."""
    ok, refused = operator_split(request, objects)
    done = 0
    for obj in ok:
        try:
            func(obj)
            done += 1
        except ApplicationError as exc:
            refused.append(f"{obj}: {exc.detail}")
    if done:
        modeladmin.message_user(request, f"{label}: {done} done.", messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, f"{label}, not done: " + "; ".join(refused), messages.WARNING)


class BrandScopedAdmin(admin.ModelAdmin):
    """Limits non-superuser staff to their brands' rows. `brand_path` names the brand lookup."""

    brand_path = "brand"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.brand_path}__in": member_brand_ids(request.user)})

    def has_module_permission(self, request):
        return request.user.is_superuser or bool(member_brand_ids(request.user))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class BrandScopedInline(admin.TabularInline):
    """Rows shown on a parent page that BrandScopedAdmin already limited to the user's brands: whoever may
    see the parent sees them (Django's default asks for model permissions that brand staff do not have).
    Only superusers change them."""

    extra = 0

    def has_view_permission(self, request, obj=None):
        return request.user.is_superuser or bool(member_brand_ids(request.user))

    def has_add_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


class HistoryInline(BrandScopedInline):
    """An append-only history (events): read-only for everyone."""

    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class MembershipInline(BrandScopedInline):
    model = BrandMembership
    autocomplete_fields = ["user"]


@admin.register(Brand)
class BrandAdmin(BrandScopedAdmin):
    brand_path = "pk"
    list_display = ["name", "slug", "timezone", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(BrandMembership)
class BrandMembershipAdmin(BrandScopedAdmin):
    list_display = ["user", "brand", "role", "created_at"]
    list_filter = ["role", ("brand", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["user__username", "brand__name"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "brand"]


class TaskEventInline(HistoryInline):
    model = TaskEvent
    fields = ["created_at", "from_status", "to_status", "actor", "worker", "detail"]
    readonly_fields = fields
    ordering = ["id"]


@admin.register(BaseTask)
class BaseTaskAdmin(BrandScopedAdmin):
    list_display = ["id", "task_type", "status_badge", "progress_bar", "priority", "brand", "created_by",
                    "origin", "created_at", "completed_at"]
    # Related-only: staff who are not superusers must not see the names of other brands in the filter.
    list_filter = ["status", ("brand", admin.RelatedOnlyFieldListFilter), "priority", "origin", "task_type"]
    search_fields = ["task_id", "task_type", "description", "error_message"]
    list_select_related = ["brand", "created_by"]
    date_hierarchy = "created_at"
    inlines = [TaskEventInline]
    actions = ["retry_tasks", "cancel_tasks"]
    readonly_fields = [f.name for f in BaseTask._meta.fields]
    fieldsets = [
        (None, {"fields": ["task_id", "task_type", "status", "priority", "brand", "created_by", "origin",
                           "description", "retry_of"]}),
        ("Progress", {"fields": ["progress_percentage", "progress_message", "worker", "queue"]}),
        ("Data", {"fields": ["context_data", "result_data"]}),
        ("Errors and retries", {"fields": ["error_message", "error_traceback", "retry_count", "max_retries",
                                           "timeout_seconds"]}),
        ("Times", {"fields": ["created_at", "queued_at", "started_at", "completed_at", "idempotency_key"]}),
    ]

    def has_add_permission(self, request):
        return False  # tasks are submitted through the API, schedules or these actions

    def has_change_permission(self, request, obj=None):
        return False  # status changes only through the state machine (actions below)

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colours = {"completed": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "retrying": "#ef6c00",
                   "cancelled": "#616161", "interrupted": "#6a1b9a"}
        return format_html('<b style="color:{}">{}</b>', colours.get(obj.status, "#333"), obj.status)

    @admin.display(description="progress", ordering="progress_percentage")
    def progress_bar(self, obj):
        return format_html(
            '<div style="width:100px;background:#eee;border-radius:3px" title="{}">'
            '<div style="width:{}px;background:#4caf50;height:10px;border-radius:3px"></div></div>',
            obj.progress_message or f"{obj.progress_percentage}%", obj.progress_percentage,
        )

    @admin.action(description="Retry selected failed/cancelled tasks")
    def retry_tasks(self, request, queryset):
        run_admin_action(self, request, queryset.select_related("brand"), "Retried",
                         lambda task: services.task_retry(task=task, actor=request.user))

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request, queryset):
        run_admin_action(self, request, queryset.select_related("brand"), "Cancelled",
                         lambda task: services.task_cancel(task=task, actor=request.user))
