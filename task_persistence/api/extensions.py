"""What task_persistence adds to core's /tasks/ API (registered from AppConfig.ready())."""

from rest_framework import serializers

from task_core.api.serializers import register_task_create_field, register_task_field
from task_core.filters import register_task_filter

from ..models import ResumePolicy
from .filters import IsResumableTaskFilter
from .serializers import TaskPersistentJobSerializer


def register_task_extensions() -> None:
    register_task_filter("is_resumable", IsResumableTaskFilter(
        help_text="true: tasks that can be resumed now (interrupted, or failed with a checkpoint)."))
    register_task_field("persistent_job", TaskPersistentJobSerializer(read_only=True, allow_null=True),
                        select_related=("persistent_job", "persistent_job__last_checkpoint"),
                        only=("persistent_job__id", "persistent_job__current_step", "persistent_job__total_steps",
                              "persistent_job__resume_count", "persistent_job__resume_policy",
                              "persistent_job__last_checkpoint", "persistent_job__last_checkpoint__created_at"))
    register_task_create_field("resume_policy", serializers.ChoiceField(
        choices=ResumePolicy.choices, required=False,
        help_text="Resumable task types only: auto or manual resume after an interruption (default: the type's)."),
        applies_to=lambda task_type: task_type.resumable)
