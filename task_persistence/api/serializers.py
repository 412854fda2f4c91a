from rest_framework import serializers

from megahub.api.fields import CharField, IntegerField, ModelSerializer
from megahub.api.representation import CompiledRepresentation
from task_core.choices import TaskStatus

from ..models import Checkpoint, PersistentJob


class CheckpointRefSerializer(ModelSerializer):
    class Meta:
        model = Checkpoint
        fields = ["id", "sequence", "step", "created_at"]


class JobTaskSerializer(serializers.Serializer):
    id = IntegerField()
    task_id = serializers.UUIDField()
    task_type = CharField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)


class PersistentJobSerializer(CompiledRepresentation, ModelSerializer):
    share_compiled = True  # no field reads the request

    task = JobTaskSerializer(read_only=True)
    task_type = CharField(source="task.task_type", read_only=True)
    status = serializers.ChoiceField(choices=TaskStatus.choices, read_only=True,
                                     help_text="The job's task's status.")
    resumable = serializers.SerializerMethodField(help_text="Interrupted, or failed with a checkpoint.")
    last_checkpoint = CheckpointRefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = PersistentJob
        fields = ["id", "task", "task_type", "status", "resumable", "resume_policy", "max_resumes", "resume_count",
                  "current_step", "total_steps", "checkpoint_count", "last_checkpoint", "worker", "heartbeat_at",
                  "resumed_from", "created_at"]
        read_only_fields = fields

    def get_resumable(self, job) -> bool:
        return job.status == TaskStatus.INTERRUPTED or (
            job.status == TaskStatus.FAILED and job.last_checkpoint_id is not None)


class CheckpointSerializer(ModelSerializer):
    task = IntegerField(source="job.task_id", read_only=True, help_text="Id of the job's task.")

    class Meta:
        model = Checkpoint
        fields = ["id", "job", "task", "sequence", "step", "state", "progress", "worker", "created_at"]
        read_only_fields = fields


class ResumeInputSerializer(serializers.Serializer):
    checkpoint = IntegerField(required=False, min_value=1,
                                          help_text="Id of one of the job's checkpoints; default: its last one.")


class TaskPersistentJobSerializer(serializers.Serializer):
    """The `persistent_job` of a task in core's task representation (null for other types)."""

    id = IntegerField()
    current_step = IntegerField()
    total_steps = IntegerField(allow_null=True)
    resume_count = IntegerField()
    resume_policy = CharField()
    last_checkpoint_at = serializers.DateTimeField(source="last_checkpoint.created_at", allow_null=True,
                                                   default=None)
