from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from megahub.api.filters import refuse_unknown_query_params
from megahub.api.scoping import BrandScopedMixin
from task_core.api.serializers import TaskDetailSerializer

from .. import selectors, services
from .filters import CheckpointFilter, PersistentJobFilter
from .serializers import CheckpointSerializer, PersistentJobSerializer, ResumeInputSerializer


class PersistentJobViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                           viewsets.GenericViewSet):
    """Persistent jobs of the brand: list, detail, the resumable ones, their checkpoints, resume."""

    serializer_class = PersistentJobSerializer
    filterset_class = PersistentJobFilter
    lookup_value_regex = "[0-9]+"
    not_found_code = "PERSISTENT_JOB_NOT_FOUND"
    not_found_detail = "Persistent job not found or access denied"
    action_roles = {"resume": "operator"}

    def get_queryset(self):
        if self.action == "resumable":
            return selectors.resumable_jobs(brand=self.request.brand)
        return selectors.job_queryset(brand=self.request.brand)

    def get_object(self):
        job = selectors.job_queryset(brand=self.request.brand).filter(pk=self.kwargs["pk"]).first()
        if job is None:
            raise NotFound()
        return job

    @extend_schema(responses={200: PersistentJobSerializer(many=True)})
    @action(detail=False, methods=["get"])
    def resumable(self, request):
        """Jobs an operator can resume now: interrupted, or failed with a checkpoint."""
        return self.list(request)

    @extend_schema(request=ResumeInputSerializer, responses={200: TaskDetailSerializer, 201: TaskDetailSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        """Resume from the last checkpoint (or the one named). An interrupted job resumes as the same task
        (200); a failed one as a new task, origin resume (201). 409 when running, queued or finished."""
        data = ResumeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        task, created = services.job_resume(job=self.get_object(), actor=request.user,
                                            checkpoint_id=data.validated_data.get("checkpoint"))
        return Response(TaskDetailSerializer(task).data,
                        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(responses={200: CheckpointSerializer(many=True)}, filters=False)
    @action(detail=True, methods=["get"], filter_backends=[])
    def checkpoints(self, request, pk=None):
        """The job's checkpoints kept, newest first."""
        refuse_unknown_query_params(request, self)
        page = self.paginate_queryset(selectors.job_checkpoints(job=self.get_object()))
        return self.get_paginated_response(CheckpointSerializer(page, many=True).data)


class CheckpointViewSet(BrandScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Checkpoints of the brand's jobs (filters: job, task)."""

    serializer_class = CheckpointSerializer
    filterset_class = CheckpointFilter
    lookup_value_regex = "[0-9]+"
    not_found_code = "CHECKPOINT_NOT_FOUND"
    not_found_detail = "Checkpoint not found or access denied"

    def get_queryset(self):
        return selectors.checkpoint_queryset(brand=self.request.brand)
