"""Staff admin for persistent jobs: their checkpoints inline and a resume action (operators of the
job's brand, through task_core.admin's `run_admin_action`, as for tasks)."""

from django.contrib import admin

from task_core.admin import BrandScopedAdmin, HistoryInline, run_admin_action

from . import services
from .models import Checkpoint, PersistentJob


class CheckpointInline(HistoryInline):
    model = Checkpoint
    fields = ["sequence", "step", "progress", "worker", "created_at", "state"]
    readonly_fields = fields
    ordering = ["-sequence"]


@admin.register(PersistentJob)
class PersistentJobAdmin(BrandScopedAdmin):
    list_display = ["id", "task", "status", "resume_policy", "resume_count", "max_resumes", "current_step",
                    "total_steps", "checkpoint_count", "worker", "heartbeat_at"]
    list_filter = ["resume_policy", "status", ("brand", admin.RelatedOnlyFieldListFilter), "task__task_type"]
    search_fields = ["task__task_id", "task__task_type"]
    list_select_related = ["task", "brand"]
    readonly_fields = [f.name for f in PersistentJob._meta.fields]
    inlines = [CheckpointInline]
    actions = ["resume_jobs"]

    def has_add_permission(self, request):
        return False  # created with their tasks

    def has_change_permission(self, request, obj=None):
        return False  # resumed through the action below

    @admin.action(description="Resume selected jobs from their last checkpoint")
    def resume_jobs(self, request, queryset):
        run_admin_action(self, request, queryset.select_related("brand", "last_checkpoint"), "Resumed",
                         lambda job: services.job_resume(job=job, actor=request.user))
