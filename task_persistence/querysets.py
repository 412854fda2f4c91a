from django.db import models
from django.db.models import Q

from task_core.choices import TaskStatus

# A job that can be resumed now: interrupted, or failed with a checkpoint to continue from. The job's own
# columns (its status is its task's, kept by triggers): also the condition of its partial index.
RESUMABLE = Q(status=TaskStatus.INTERRUPTED) | Q(status=TaskStatus.FAILED, last_checkpoint__isnull=False)


class PersistentJobQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def with_relations(self):
        return self.select_related("task", "last_checkpoint")

    def resumable(self):
        """Interrupted, or failed with a checkpoint to continue from."""
        return self.filter(RESUMABLE)

    def not_resumable(self):
        return self.exclude(RESUMABLE)


class CheckpointQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(job__brand=brand)
