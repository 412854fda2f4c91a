"""Admin of schedule templates: what to run (a registered task type, its parameters edited through a form
built from the type's schema), when (with the cron's description and the next and last runs in the
template's own time zone), how, and under which policies. Every validation error is shown at once."""

from django import forms
from django.contrib import admin
from django.db.models import Max, Min, Q
from django.utils.html import format_html

from megahub.api.exceptions import ApplicationError, validation_error
from task_core.admin import run_admin_action
from task_core.display import when_relative

from ..choices import ScheduleKind, ScheduleStatus
from ..models import ScheduleTemplate
from ..selectors.templates import next_run_of_template
from ..services import templates
from ..timing import describe_cron
from ..validators import template_validate
from .base import ServiceSavedAdmin, form_errors
from .widgets import ParametersWidget, task_type_choices


class ScheduleTemplateForm(forms.ModelForm):
    task_type = forms.ChoiceField(label="task type", choices=task_type_choices,
                                  help_text="A registered task type (the parameters form follows its schema).")

    class Meta:
        model = ScheduleTemplate
        fields = ["brand", *sorted(templates.TEMPLATE_FIELDS)]
        widgets = {"parameters": ParametersWidget()}

    def clean(self):
        """The services' checks run on every field that parsed, so all errors show at once."""
        cleaned = super().clean()
        brand = cleaned.get("brand") or (self.instance.brand if self.instance.brand_id else None)
        if brand is None:
            return cleaned
        probe = ScheduleTemplate(pk=self.instance.pk, created_by_id=self.instance.created_by_id, brand=brand)
        defaults = {f.name: f.get_default() for f in ScheduleTemplate._meta.fields}
        for name in self.Meta.fields[1:]:
            setattr(probe, name, cleaned[name] if name in cleaned else defaults.get(name))
        timing_changed = not self.instance.pk or bool(templates.TIMING_FIELDS & set(self.changed_data))
        try:
            template_validate(template=probe, require_future=timing_changed)
        except ApplicationError as exc:
            form_errors(self, exc)
        else:
            cleaned["parameters"] = probe.parameters
        if self.instance.pk and cleaned.get("kind") == ScheduleKind.MANUAL and self.instance.schedules.exclude(
                status=ScheduleStatus.INACTIVE).exists():
            form_errors(self, validation_error("Delete this template's schedules before making it manual-only.",
                                               field_errors={"kind": ["Delete its schedules before making it "
                                                                      "manual-only."]}))
        return cleaned


def timing_text(template: ScheduleTemplate) -> str:
    """`0 2 * * * — At 02:00`, `every 300 s`, `once at ...`, `manual only`."""
    if template.kind == ScheduleKind.CRON:
        return f"{template.cron_expression} — {describe_cron(template.cron_expression)}"
    if template.kind == ScheduleKind.INTERVAL:
        return f"every {template.interval_seconds} s"
    if template.kind == ScheduleKind.DATE:
        return f"once, {when_relative(template.run_at, template.timezone)}"
    return "manual only (run now)"


@admin.register(ScheduleTemplate)
class ScheduleTemplateAdmin(ServiceSavedAdmin):
    form = ScheduleTemplateForm
    list_display = ["name", "brand", "task_type", "timing", "timezone", "is_active", "next_run_local"]
    list_filter = ["brand", "kind", "is_active", "overlap_policy"]
    search_fields = ["name", "task_type"]
    readonly_fields = ["cron_description", "next_run_local", "last_run_local", "created_by", "created_at",
                       "updated_at"]
    fieldsets = [
        ("What", {"fields": ["brand", "name", "description", "task_type", "parameters"]}),
        ("When", {"fields": ["kind", ("cron_expression", "cron_description"), "interval_seconds", "run_at",
                             "timezone", "calendar", "next_run_local", "last_run_local"]}),
        ("How", {"fields": ["priority", ("max_retries", "timeout_seconds"), "queue"]}),
        ("Policies", {"fields": ["overlap_policy", "missed_run_policy", "auto_pause_after", "is_active"]}),
        ("Record", {"classes": ["collapse"], "fields": ["connection_id", "created_by", "created_at", "updated_at"]}),
    ]
    actions = ["pause", "resume", "run_now"]

    class Media:
        css = {"all": ["task_core/admin.css"]}

    def get_fieldsets(self, request, obj=None):
        if obj is None:  # nothing has run yet, nobody created it yet
            return [(name, {**opts, "fields": [f for f in opts["fields"] if f not in (
                "next_run_local", "last_run_local")]}) for name, opts in self.fieldsets[:-1]]
        return self.fieldsets

    def get_queryset(self, request):
        active = Q(schedules__status=ScheduleStatus.ACTIVE)
        return super().get_queryset(request).select_related("brand").annotate(
            next_run=Min("schedules__next_run_at", filter=active), last_run=Max("schedules__last_run_at"))

    @admin.display(description="when")
    def timing(self, obj):
        return timing_text(obj)

    @admin.display(description="reads")
    def cron_description(self, obj):
        return describe_cron(obj.cron_expression) if obj.kind == ScheduleKind.CRON and obj.cron_expression else "-"

    @admin.display(description="next run (template time zone)")
    def next_run_local(self, obj):
        value = obj.next_run if hasattr(obj, "next_run") else next_run_of_template(template=obj)
        return format_html('<span class="megahub-when">{}</span>', when_relative(value, obj.timezone))

    @admin.display(description="last run (template time zone)")
    def last_run_local(self, obj):
        return when_relative(getattr(obj, "last_run", None), obj.timezone)

    def save_with_service(self, request, obj, form, change):
        if change:
            fields = {f: form.cleaned_data[f] for f in form.changed_data if f in templates.TEMPLATE_FIELDS}
            templates.template_update(template=ScheduleTemplate.objects.get(pk=obj.pk), actor=request.user,
                                      **fields)
        else:
            data = {f: form.cleaned_data[f] for f in templates.TEMPLATE_FIELDS if f in form.cleaned_data}
            obj.pk = templates.template_create(brand=form.cleaned_data["brand"], created_by=request.user,
                                               **data).pk

    def delete_model(self, request, obj):
        templates.template_delete(template=obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            templates.template_delete(template=obj)

    @admin.action(description="Pause (operator)")
    def pause(self, request, queryset):
        run_admin_action(self, request, queryset, "Pause",
                         lambda t: templates.template_pause(template=t, actor=request.user))

    @admin.action(description="Resume (operator)")
    def resume(self, request, queryset):
        run_admin_action(self, request, queryset, "Resume",
                         lambda t: templates.template_resume(template=t, actor=request.user))

    @admin.action(description="Run now (operator)")
    def run_now(self, request, queryset):
        run_admin_action(self, request, queryset, "Run now",
                         lambda t: templates.template_run_now(template=t, actor=request.user))
