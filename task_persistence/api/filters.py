"""FilterSets of the persistence endpoints, and the `is_resumable` filter it adds to /tasks/."""

import django_filters
from django.db.models import Q

from megahub.api.filters import BooleanFilter, BrandObjectFilter, FilterSet
from task_core.choices import TaskStatus
from task_core.models import BaseTask

from ..models import Checkpoint, PersistentJob


def resumable_tasks(prefix: str = "") -> Q:
    """Interrupted, or failed with a checkpoint (`prefix`: the path from the queried model to the task)."""
    return (Q(**{f"{prefix}status": TaskStatus.INTERRUPTED}) & Q(**{f"{prefix}persistent_job__isnull": False})
            | Q(**{f"{prefix}status": TaskStatus.FAILED,
                   f"{prefix}persistent_job__last_checkpoint__isnull": False}))


class PersistentJobFilter(FilterSet):
    # The job's own copy of its task's status (status_sync): its (brand, status, -created_at, -id) index.
    # distinct=False: django-filter's DISTINCT would sort every match.
    status = django_filters.MultipleChoiceFilter(choices=TaskStatus.choices, distinct=False,
                                                 help_text="The task's status (repeat for several).")
    task_type = django_filters.CharFilter(field_name="task__task_type")
    resumable = BooleanFilter(method="filter_resumable",
                                             help_text="true: interrupted, or failed with a checkpoint.")

    class Meta:
        model = PersistentJob
        fields = []

    def filter_resumable(self, queryset, name, value):
        if value is None:
            return queryset
        # the job's own columns (PersistentJobQuerySet.resumable): true is its partial index
        return queryset.resumable() if value else queryset.not_resumable()


class CheckpointFilter(FilterSet):
    job = BrandObjectFilter(field_name="job_id", objects=lambda brand: PersistentJob.objects.filter(brand=brand),
                            noun="persistent job", help_text="Id of one of the brand's persistent jobs.")
    task = BrandObjectFilter(field_name="job__task_id", objects=lambda brand: BaseTask.objects.filter(brand=brand),
                             noun="task", help_text="Id of the job's task (one of the brand's tasks).")

    class Meta:
        model = Checkpoint
        fields = []


class IsResumableTaskFilter(BooleanFilter):
    """/tasks/?is_resumable=true: tasks an operator can resume now (interrupted, or failed with a checkpoint)."""

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(resumable_tasks()) if value else qs.exclude(resumable_tasks())
