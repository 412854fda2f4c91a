from django.db import models
from django.db.models import Q

from task_core.choices import TaskStatus


class PersistentJobQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(brand=brand)

    def with_relations(self):
        return self.select_related("task", "last_checkpoint")

    def resumable(self):
        """Interrupted, or failed with a checkpoint to continue from."""
        return self.filter(Q(task__status=TaskStatus.INTERRUPTED)
                           | Q(task__status=TaskStatus.FAILED, last_checkpoint__isnull=False))

    def not_resumable(self):
        return self.exclude(pk__in=self.resumable().values("pk"))


class CheckpointQuerySet(models.QuerySet):
    def for_brand(self, brand):
        return self.filter(job__brand=brand)
