"""Staff admin for brands, memberships, users and tasks: the MEGAHUB staff console.

Superusers see everything. Other staff see only the rows of brands they are members of (lists, "By brand"
filters, the choices of related fields, autocompletes), may look at tasks and retry or cancel them (actions,
or the buttons of a task's page) where their role in the task's brand is operator or above.
"""

import re

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from megahub.api.exceptions import ApplicationError

from . import services
from .choices import ROLE_RANK, BrandRole, TaskStatus
from .display import duration, json_block, linkify_task_ids, when
from .models import BaseTask, Brand, BrandMembership, TaskEvent
from .state_machine import can_transition

admin.site.site_header = "MEGAHUB staff console"
admin.site.site_title = "MEGAHUB"
admin.site.index_title = "Tasks, schedules and brands"
admin.site.site_url = "/"


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


def run_admin_action(modeladmin, request, objects, label: str, func) -> list:
    """Run `func(obj)` on each object whose brand the user operates; report what was done and what was
    not, and why. Returns what `func` returned for the objects it was done to."""
    ok, refused = operator_split(request, objects)
    results = []
    for obj in ok:
        try:
            results.append(func(obj))
        except ApplicationError as exc:
            refused.append(f"{obj}: {exc.detail}")
    if results:
        modeladmin.message_user(request, f"{label}: {len(results)} done.", messages.SUCCESS)
    if refused:
        modeladmin.message_user(request, f"{label}, not done: " + "; ".join(refused), messages.WARNING)
    return results


class BrandFilter(admin.RelatedFieldListFilter):
    """"By brand": only the brands the staff member belongs to (every brand for superusers)."""

    def field_choices(self, field, request, model_admin):
        brands = Brand.objects.order_by("name")
        if not request.user.is_superuser:
            brands = brands.filter(pk__in=member_brand_ids(request.user))
        return [(b.pk, str(b)) for b in brands]


def scoped_choices(request, model):
    """The rows of `model` a related field may offer this staff member: their brands, their brands'
    users, rows of their brands; None for superusers (no limit) and models without a brand."""
    if request.user.is_superuser:
        return None
    brand_ids = member_brand_ids(request.user)
    if model is Brand:
        return Brand.objects.filter(pk__in=brand_ids)
    if model is get_user_model():
        return model.objects.filter(brand_memberships__brand__in=brand_ids).distinct()
    if any(f.name == "brand" for f in model._meta.get_fields()):
        return model._default_manager.filter(brand__in=brand_ids)
    return None


def _time_shown(field: str, label: str):
    """A read-only field showing the time `field` to the second."""
    return admin.display(description=label)(lambda self, obj: when(getattr(obj, field)))


class BrandScopedAdmin(admin.ModelAdmin):
    """Limits non-superuser staff to their brands' rows. `brand_path` names the brand lookup."""

    brand_path = "brand"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self.brand_path}__in": member_brand_ids(request.user)})

    def get_list_filter(self, request):
        return [(f, BrandFilter) if f == "brand" else f for f in super().get_list_filter(request)]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        queryset = scoped_choices(request, db_field.related_model)
        if queryset is not None:
            kwargs["queryset"] = queryset
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

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
    """An append-only history (events): read-only for everyone, shown as a plain table (no per-row
    captions)."""

    can_delete = False
    template = "admin/edit_inline/history.html"

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        has_actor = any(f.name == "actor" for f in self.model._meta.get_fields())
        return queryset.select_related("actor") if has_actor else queryset

    @admin.display(description="actor")
    def actor_name(self, obj):
        """Who did it, as text: a link to a user page would be refused to most staff."""
        return str(obj.actor) if obj.actor_id else "-"

    at = _time_shown("created_at", "at")

    @admin.display(description="detail")
    def detail_links(self, obj):
        return linkify_task_ids(obj.detail)

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
    list_filter = ["role", "brand"]
    search_fields = ["user__username", "brand__name"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "brand"]


class ScopedUserAdmin(UserAdmin):
    """Users: staff who are not superusers (and were given the permission to see users) see only the
    members of their brands, in lists and in autocompletes."""

    def get_queryset(self, request):
        queryset, scoped = super().get_queryset(request), scoped_choices(request, self.model)
        return queryset if scoped is None else queryset.filter(pk__in=scoped.values("pk"))


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)
admin.site.register(User, ScopedUserAdmin)


class TaskEventInline(HistoryInline):
    model = TaskEvent
    fields = ["at", "from_status", "to_status", "actor_name", "worker", "detail_links"]
    readonly_fields = fields
    ordering = ["id"]


STATUS_COLOURS = {"completed": "#2e7d32", "failed": "#c62828", "running": "#1565c0", "retrying": "#ef6c00",
                  "cancelled": "#616161", "interrupted": "#6a1b9a"}


@admin.register(BaseTask)
class BaseTaskAdmin(BrandScopedAdmin):
    list_display = ["id", "type_name", "status_progress", "priority", "brand", "origin", "created_short", "took"]
    list_display_links = ["id", "type_name"]
    list_filter = ["status", "brand", "priority", "origin", "task_type"]
    search_fields = ["task_id", "task_type", "description", "error_message"]
    list_select_related = ["brand"]
    date_hierarchy = "created_at"
    inlines = [TaskEventInline]
    actions = ["retry_tasks", "cancel_tasks"]
    change_form_template = "admin/task_core/basetask/change_form.html"
    readonly_fields = ["task_id", "task_type", "status_badge", "priority", "brand", "created_by", "created_by_name",
                       "origin", "description", "retry_of", "progress_bar", "worker", "queue", "created", "queued",
                       "started", "completed", "took", "queue_wait", "parameters", "result", "error_message",
                       "traceback", "retry_count", "max_retries", "timeout_seconds", "idempotency_key"]
    fieldsets = [
        (None, {"fields": ["task_id", "task_type", ("status_badge", "priority", "origin"), "brand",
                           "created_by", "description", "retry_of"]}),
        ("Progress", {"fields": ["progress_bar", ("worker", "queue")]}),
        ("Times", {"fields": [("created", "queued"), ("started", "completed"), ("took", "queue_wait")]}),
        ("Parameters and result", {"fields": ["parameters", "result"]}),
        ("Errors and retries", {"fields": ["error_message", "traceback", ("retry_count", "max_retries"),
                                           "timeout_seconds", "idempotency_key"]}),
    ]

    class Media:
        css = {"all": ["task_core/admin.css"]}
        js = ["task_core/admin.js"]

    def has_add_permission(self, request):
        return False  # tasks are submitted through the API, schedules or these actions

    def has_change_permission(self, request, obj=None):
        return False  # status changes only through the state machine (actions and buttons below)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("by-task-id/<uuid:task_id>/", view(self.by_task_id), name="task_core_basetask_by_task_id"),
            path("<path:object_id>/retry/", view(self.retry_view), name="task_core_basetask_retry"),
            path("<path:object_id>/cancel/", view(self.cancel_view), name="task_core_basetask_cancel"),
            *super().get_urls(),
        ]

    # --- list columns and page fields ---------------------------------------------------------------
    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        return format_html('<b class="megahub-status" style="color:{}">{}</b>',
                           STATUS_COLOURS.get(obj.status, "#333"), obj.status)

    @admin.display(description="task type", ordering="task_type")
    def type_name(self, obj):
        """Breaks at its dots and underscores, so a long type name does not widen the list."""
        parts = re.split(r"(?<=[._])", obj.task_type)
        return format_html_join(mark_safe("<wbr>"), "{}", ((p,) for p in parts))  # noqa: S308 - a constant

    @admin.display(description="created", ordering="created_at")
    def created_short(self, obj):
        """Date over time, to the second: narrow enough for a laptop screen."""
        day, clock = when(obj.created_at).split(" ", 1)
        return format_html("{}<br>{}", day, clock)

    @admin.display(description="status", ordering="status")
    def status_progress(self, obj):
        return format_html("{}{}", self.status_badge(obj), self._bar(obj, compact=True))

    @admin.display(description="progress")
    def progress_bar(self, obj):
        return self._bar(obj, compact=False)

    def _bar(self, obj, *, compact: bool):
        label = f"{obj.progress_percentage}%" + (f" · {obj.progress_message}" if obj.progress_message else "")
        return format_html(
            '<div class="megahub-progress{}" title="{}" role="progressbar" aria-valuenow="{}" aria-valuemin="0" '
            'aria-valuemax="100"><div class="megahub-progress-fill" style="width:{}%"></div></div>{}',
            " compact" if compact else "", label, obj.progress_percentage, obj.progress_percentage,
            "" if compact else format_html('<span class="megahub-progress-label">{}</span>', label))

    @admin.display(description="created by")
    def created_by_name(self, obj):
        return str(obj.created_by) if obj.created_by else "-"

    def get_fieldsets(self, request, obj=None):
        """The submitter is a link to their user page only for staff who may open it."""
        user_admin = self.admin_site.get_model_admin(User) if self.admin_site.is_registered(User) else None
        if user_admin is not None and user_admin.has_view_permission(request):
            return self.fieldsets
        return [(name, {**opts, "fields": ["created_by_name" if f == "created_by" else f for f in opts["fields"]]})
                for name, opts in self.fieldsets]

    created = _time_shown("created_at", "created")
    queued = _time_shown("queued_at", "queued")
    started = _time_shown("started_at", "started")
    completed = _time_shown("completed_at", "finished")

    @admin.display(description="duration")
    def took(self, obj):
        if obj.started_at and obj.completed_at:
            return duration(obj.completed_at - obj.started_at)
        return "-"

    @admin.display(description="queue wait")
    def queue_wait(self, obj):
        """From submission to the start of its (last) run."""
        return duration(obj.started_at - obj.created_at) if obj.started_at else "-"

    @admin.display(description="parameters")
    def parameters(self, obj):
        return json_block(obj.context_data)

    @admin.display(description="result")
    def result(self, obj):
        return json_block(obj.result_data)

    @admin.display(description="error traceback")
    def traceback(self, obj):
        return format_html('<pre class="megahub-json">{}</pre>', obj.error_traceback) if obj.error_traceback else "-"

    # --- the page's buttons ---------------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:
            allowed, _refused = operator_split(request, [obj])
            reason = "" if allowed else "Needs the operator role in this task's brand."
            extra["task_buttons"] = [
                {"name": "retry", "label": "Retry as a new task", "enabled": obj.status in services.RETRYABLE,
                 "url": reverse("admin:task_core_basetask_retry", args=[obj.pk]),
                 "confirm": f"Retry task {obj.pk} as a new task?", "reason": reason
                 or "Only failed or cancelled tasks can be retried."},
                {"name": "cancel", "label": "Cancel task", "enabled": can_transition(obj.status,
                                                                                     TaskStatus.CANCELLED),
                 "url": reverse("admin:task_core_basetask_cancel", args=[obj.pk]),
                 "confirm": f"Cancel task {obj.pk}? A running task is terminated.", "reason": reason
                 or f"A {obj.status} task cannot be cancelled."},
            ]
            for button in extra["task_buttons"]:
                button["enabled"] = button["enabled"] and bool(allowed)
        return super().change_view(request, object_id, form_url, extra)

    def _button(self, request, object_id, label, func):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        task = get_object_or_404(self.get_queryset(request), pk=object_id)
        done = run_admin_action(self, request, [task], label, func)
        target = done[0] if done else task
        return HttpResponseRedirect(reverse("admin:task_core_basetask_change", args=[target.pk]))

    def retry_view(self, request, object_id):
        """Retry, then show the new task."""
        return self._button(request, object_id, "Retried",
                            lambda task: services.task_retry(task=task, actor=request.user))

    def cancel_view(self, request, object_id):
        return self._button(request, object_id, "Cancelled",
                            lambda task: services.task_cancel(task=task, actor=request.user))

    def by_task_id(self, request, task_id):
        task = get_object_or_404(self.get_queryset(request), task_id=task_id)
        return HttpResponseRedirect(reverse("admin:task_core_basetask_change", args=[task.pk]))

    # --- bulk actions ---------------------------------------------------------------------------------
    @admin.action(description="Retry selected failed/cancelled tasks")
    def retry_tasks(self, request, queryset):
        run_admin_action(self, request, queryset.select_related("brand"), "Retried",
                         lambda task: services.task_retry(task=task, actor=request.user))

    @admin.action(description="Cancel selected tasks")
    def cancel_tasks(self, request, queryset):
        run_admin_action(self, request, queryset.select_related("brand"), "Cancelled",
                         lambda task: services.task_cancel(task=task, actor=request.user))
